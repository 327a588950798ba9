"""Validate BigQuery REST traffic against Google's discovery document.

Python standard library only. The discovery document of BigQuery v2 that
Google's `bq` CLI ships (SDK/platform/bq/discovery_next/bigquery.json) holds
the schema of every request and response body; this module walks a JSON
value against one of those schemas and reports every difference:

- unknown fields (a property the schema does not list, where it has no
  additionalProperties),
- wrong JSON types: object, array, string, boolean, integer (int32/uint32 as
  a JSON number in range), number (a JSON number, or the strings "NaN",
  "Infinity", "-Infinity" that Google uses for doubles), and the string
  formats int64/uint64 (decimal text; in a response never a JSON number, in
  a request a JSON number is read too, and Google's own bq CLI sends them),
  byte (base64), google-datetime/date-time (RFC 3339), google-duration
  ("3.5s"),
- values outside an enum, where the document gives one,
- in requests: output-only (readOnly) fields, and missing fields that the
  document calls "Required." (its descriptions say so; it has no flag),
- in responses: JSON null anywhere but in a value of type "any" (Google
  leaves unset fields out; it never sends null for them),
- query-string parameters a method does not take, or of the wrong type,
- in query results (which carry their schema): cells that do not follow
  BigQuery's encoding (TableCell.v is "any" in the document).

A request body may carry null for a field (proto3's JSON mapping reads it as
"unset", and Google's Python client sends {"value": null} for a NULL query
parameter), so null is accepted in requests.

    disco = Discovery(path)
    m = disco.method_for("GET", "/bigquery/v2/projects/p/queries/j")
    problems = disco.validate(body, m.response, "response")
    python3 discovery.py [--discovery PATH] SCHEMA FILE.json   # a quick check
"""

import base64
import binascii
import json
import os
import re
import sys
import urllib.parse

SDK_ROOT_DEFAULT = "/usr/lib/google-cloud-sdk"
DISCOVERY_RELPATH = "platform/bq/discovery_next/bigquery.json"

INT32 = (-2 ** 31, 2 ** 31 - 1)
UINT32 = (0, 2 ** 32 - 1)
INT64_RE = re.compile(r"^-?[0-9]+$")
UINT64_RE = re.compile(r"^[0-9]+$")
RFC3339_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")
DURATION_RE = re.compile(r"^-?\d+(\.\d{1,9})?s$")
DOUBLE_WORDS = ("NaN", "Infinity", "-Infinity")
REQUIRED_RE = re.compile(r"^\s*\[?Required\]?[.:]?\s", re.I)

# The error envelope of every Google API (not in the discovery document):
# {"error":{"code":N,"message":"…","errors":[{"message","domain","reason",…}],"status":"…",
#  "details":[…]}}
ERROR_ENVELOPE = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "integer", "format": "int32"},
                "message": {"type": "string"},
                # the legacy per-error list: ErrorProto's fields plus domain
                "errors": {"type": "array", "items": {"type": "object", "properties": {
                    "message": {"type": "string"}, "domain": {"type": "string"},
                    "reason": {"type": "string"}, "location": {"type": "string"},
                    "locationType": {"type": "string"}, "debugInfo": {"type": "string"}}}},
                "status": {"type": "string"},
                "details": {"type": "array", "items": {"type": "any"}},
            },
        },
    },
}


def sdk_root():
    """The Google Cloud SDK's root: $BQSTREAM_GCLOUD_SDK_ROOT, else Debian's."""
    return os.environ.get("BQSTREAM_GCLOUD_SDK_ROOT") or SDK_ROOT_DEFAULT


def discovery_path():
    return os.path.join(sdk_root(), DISCOVERY_RELPATH)


class Method:
    """One REST method of the document: its id, HTTP verb, path pattern,
    request and response schema names and query parameters."""

    def __init__(self, mid, http_method, path, request, response, parameters):
        self.id = mid
        self.http_method = http_method
        self.path = path
        self.request = request
        self.response = response
        self.parameters = parameters
        # "projects/{+projectId}/jobs/{+jobId}/cancel" -> one segment per variable
        parts = re.split(r"\{\+?[A-Za-z0-9_.]+\}", path)
        self.regex = re.compile("^" + "[^/]+".join(re.escape(x) for x in parts) + "$")

    def __repr__(self):
        return "Method(%s)" % self.id


class Discovery:
    def __init__(self, path=None):
        self.path = path or discovery_path()
        with open(self.path, encoding="utf-8") as f:
            self.doc = json.load(f)
        self.schemas = self.doc["schemas"]
        self.revision = self.doc.get("revision")
        self.service_path = "/" + self.doc.get("servicePath", "").strip("/")
        self.global_parameters = dict(self.doc.get("parameters", {}))
        self.methods = []
        self.notes = []
        self._collect(self.doc.get("resources", {}))

    def _collect(self, resources):
        for res in resources.values():
            for m in res.get("methods", {}).values():
                self.methods.append(Method(m["id"], m["httpMethod"], m["path"],
                                           (m.get("request") or {}).get("$ref"),
                                           (m.get("response") or {}).get("$ref"),
                                           m.get("parameters", {})))
            self._collect(res.get("resources", {}))

    def method(self, mid):
        for m in self.methods:
            if m.id == mid or m.id == "bigquery." + mid:
                return m
        raise KeyError(mid)

    def method_for(self, http_method, path):
        """The method an HTTP request calls (path with or without /bigquery/v2)."""
        p = urllib.parse.urlsplit(path).path
        if p.startswith(self.service_path + "/"):
            p = p[len(self.service_path):]
        p = urllib.parse.unquote(p).lstrip("/")
        for m in self.methods:
            if m.http_method == http_method and m.regex.match(p):
                return m
        return None

    # ------------------------------------------------------------ bodies
    def validate(self, value, schema, direction="response", where="$"):
        """Problems of a JSON value against a schema (a name or a schema
        object), as a list of "path: what" strings; [] when it conforms."""
        problems = []
        if isinstance(schema, str):
            schema = {"$ref": schema}
        self._walk(value, schema, direction, where, problems)
        return problems

    def _resolve(self, schema):
        seen = 0
        while "$ref" in schema:
            ref = schema["$ref"]
            if ref not in self.schemas:
                raise KeyError("the discovery document has no schema %s" % ref)
            merged = dict(self.schemas[ref])
            # a property's own readOnly/description stays with it
            for k in ("readOnly", "description"):
                if k in schema and k != "$ref":
                    merged.setdefault(k, schema[k])
            schema = merged
            seen += 1
            if seen > 50:
                raise ValueError("$ref loop at %s" % ref)
        return schema

    def _walk(self, v, schema, direction, where, problems):
        s = self._resolve(schema)
        t = s.get("type")
        if t == "any" or t is None and not s.get("properties"):
            return
        if v is None:
            if direction == "response":
                problems.append("%s: null (Google leaves unset fields out)" % where)
            return
        if t == "object" or (t is None and s.get("properties")):
            if not isinstance(v, dict):
                problems.append("%s: %s where the document has an object" % (where, _jtype(v)))
                return
            props = s.get("properties", {})
            extra = s.get("additionalProperties")
            for k, item in v.items():
                sub = "%s.%s" % (where, k)
                if k in props:
                    p = props[k]
                    if direction in ("request", "patch") and p.get("readOnly"):
                        problems.append("%s: output-only field sent in a request" % sub)
                    self._walk(item, p, direction, sub, problems)
                elif isinstance(extra, dict):
                    self._walk(item, extra, direction, sub, problems)
                else:
                    problems.append("%s: unknown field (not in %s)" % (sub, s.get("id", "the schema")))
            if direction == "request":      # not "patch": a patch names only what changes
                for k, p in props.items():
                    if k not in v and not p.get("readOnly") and self._required(p):
                        problems.append("%s.%s: missing, the document says Required" % (where, k))
            return
        if t == "array":
            if not isinstance(v, list):
                problems.append("%s: %s where the document has an array" % (where, _jtype(v)))
                return
            for i, item in enumerate(v):
                self._walk(item, s.get("items", {"type": "any"}), direction, "%s[%d]" % (where, i),
                           problems)
            return
        if t == "boolean":
            if not isinstance(v, bool):
                problems.append("%s: %s where the document has a boolean" % (where, _jtype(v)))
            return
        if t == "integer":
            if isinstance(v, bool) or not isinstance(v, int):
                problems.append("%s: %s where the document has an integer (%s, a JSON number)"
                                % (where, _jtype(v), s.get("format", "int32")))
                return
            lo, hi = UINT32 if s.get("format") == "uint32" else INT32
            if not lo <= v <= hi:
                problems.append("%s: %d is outside %s" % (where, v, s.get("format", "int32")))
            return
        if t == "number":
            if isinstance(v, bool) or not (isinstance(v, (int, float)) or v in DOUBLE_WORDS):
                problems.append("%s: %s where the document has a number" % (where, _jtype(v)))
            return
        if t == "string":
            if not isinstance(v, str):
                fmt = s.get("format")
                if fmt in ("int64", "uint64") and isinstance(v, int) and not isinstance(v, bool):
                    if direction != "response":
                        # proto3's JSON mapping reads either, and Google's own bq CLI sends
                        # numbers (maximumBytesBilled, expirationMs): only answers must be
                        # text. Noted (check_exchange puts it in ex["notes"]), not a problem.
                        self.notes.append("%s: JSON number %d for an %s field (the document "
                                          "has a string; Google reads both)" % (where, v, fmt))
                        self._string_format(str(v), s, where, problems)
                        return
                    problems.append("%s: JSON number %d where the document has a string (%s): "
                                    "send \"%d\"" % (where, v, fmt, v))
                else:
                    problems.append("%s: %s where the document has a string%s"
                                    % (where, _jtype(v), " (%s)" % fmt if fmt else ""))
                return
            self._string_format(v, s, where, problems)
            if "enum" in s and v not in s["enum"]:
                problems.append("%s: %r is not one of the document's values %s"
                                % (where, v, ", ".join(s["enum"])))
            return
        problems.append("%s: the document's type %r is not known to the validator" % (where, t))

    @staticmethod
    def _required(p):
        return bool(REQUIRED_RE.match(p.get("description") or ""))

    @staticmethod
    def _string_format(v, s, where, problems):
        fmt = s.get("format")
        if fmt == "int64" and not INT64_RE.match(v):
            problems.append("%s: %r is not int64 text" % (where, v))
        elif fmt == "int64" and not -2 ** 63 <= int(v) < 2 ** 63:
            problems.append("%s: %s is outside int64" % (where, v))
        elif fmt == "uint64" and not (UINT64_RE.match(v) and int(v) < 2 ** 64):
            problems.append("%s: %r is not uint64 text" % (where, v))
        elif fmt in ("google-datetime", "date-time") and not RFC3339_RE.match(v):
            problems.append("%s: %r is not an RFC 3339 time" % (where, v))
        elif fmt == "google-duration" and not DURATION_RE.match(v):
            problems.append("%s: %r is not a duration like \"3.5s\"" % (where, v))
        elif fmt == "byte":
            try:
                t = v.replace("-", "+").replace("_", "/")
                base64.b64decode(t + "=" * (-len(t) % 4), validate=True)
            except (binascii.Error, ValueError):
                problems.append("%s: %r is not base64" % (where, v))

    # ------------------------------------------------------------ query strings
    def validate_query(self, method, query):
        """Problems of a request's query string (text after '?') for a method."""
        problems = []
        for name, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
            p = method.parameters.get(name) or self.global_parameters.get(name)
            if p is None or p.get("location", "query") != "query":
                problems.append("?%s: not a query parameter of %s" % (name, method.id))
                continue
            t, fmt = p.get("type"), p.get("format")
            if t == "boolean" and value not in ("true", "false"):
                problems.append("?%s=%s: not true or false" % (name, value))
            elif t == "integer" and not re.match(r"^-?\d+$", value):
                problems.append("?%s=%s: not an integer" % (name, value))
            elif t == "integer":
                lo, hi = UINT32 if fmt == "uint32" else INT32
                if not lo <= int(value) <= hi:
                    problems.append("?%s=%s: outside %s" % (name, value, fmt or "int32"))
            elif t == "string" and fmt in ("int64", "uint64") and not (
                    INT64_RE if fmt == "int64" else UINT64_RE).match(value):
                problems.append("?%s=%s: not %s text" % (name, value, fmt))
            if "enum" in p and value not in p["enum"]:
                problems.append("?%s=%s: not one of %s" % (name, value, ", ".join(p["enum"])))
        return problems

    # ------------------------------------------------------------ one exchange
    def check_exchange(self, ex):
        """Problems of one recorded exchange (a dict with method, path, query,
        status, request_body, response_body as text): its request body and
        query string against the method's request schema, and its response
        against the response schema (or Google's error envelope)."""
        m = self.method_for(ex["method"], ex["path"])
        if m is None:
            return None, ["%s %s: no method of the discovery document" % (ex["method"], ex["path"])]
        problems = ["?" + p[1:] if p.startswith("?") else p for p in
                    self.validate_query(m, ex.get("query") or "")]
        req = ex.get("request_body") or ""
        del self.notes[:]
        ctype = ex.get("content_type")
        if req.strip() and ctype is not None and not ctype.lower().startswith("application/json"):
            problems.append("request: a JSON body sent as Content-Type %r" % ctype)
        if m.request:
            try:
                problems += ["request " + p for p in
                             self.validate(json.loads(req), m.request,
                                           "patch" if m.http_method == "PATCH" else "request")]
                ex["notes"] = ["request " + n for n in self.notes]
            except ValueError as e:
                problems.append("request: not JSON (%s)" % e)
        elif req.strip():
            problems.append("request: a body where the method takes none: %r" % req[:80])
        status = ex.get("status")
        body = ex.get("response_body") or ""
        if status is None:
            return m, problems      # no answer (a dropped connection, a cancelled client)
        if status >= 400:
            try:
                doc = json.loads(body)
            except ValueError:
                return m, problems + ["response %d: not JSON: %r" % (status, body[:80])]
            problems += ["response " + p for p in self.validate(doc, ERROR_ENVELOPE, "response")]
            err = doc.get("error") if isinstance(doc, dict) else None
            if not isinstance(err, dict) or not {"code", "message"} <= set(err):
                problems.append("response %d: no error.code and error.message" % status)
            elif err.get("code") != status:
                problems.append("response %d: error.code is %r" % (status, err.get("code")))
            return m, problems
        if m.response is None:
            if body.strip():
                problems.append("response %d: a body where the method answers none: %r"
                                % (status, body[:80]))
            return m, problems
        try:
            doc = json.loads(body)
        except ValueError as e:
            return m, problems + ["response %d: not JSON (%s)" % (status, e)]
        problems += ["response " + p for p in self.validate(doc, m.response, "response")]
        if isinstance(doc, dict) and isinstance(doc.get("schema"), dict) and \
                isinstance(doc.get("rows"), list):
            problems += ["response " + p for p in check_rows(doc["schema"].get("fields") or [],
                                                             doc["rows"])]
        return m, problems


def check_rows(fields, rows, where="$.rows"):
    """Query-result cells against the answer's own schema (TableCell.v is "any"
    in the document; BigQuery's REST encoding is: one cell per field, a scalar
    as a string or null, REPEATED as an array of {"v": …}, RECORD as {"f": […]})."""
    problems = []
    for i, row in enumerate(rows):
        cells = row.get("f") if isinstance(row, dict) else None
        if not isinstance(cells, list) or len(cells) != len(fields):
            problems.append("%s[%d]: %s cells for %d schema fields"
                            % (where, i, len(cells) if isinstance(cells, list) else "no", len(fields)))
            continue
        for f, cell in zip(fields, cells):
            problems += _check_cell(f, cell.get("v") if isinstance(cell, dict) else cell,
                                    "%s[%d].%s" % (where, i, f.get("name")))
    return problems


def _check_cell(field, v, where):
    if field.get("mode") == "REPEATED":
        if not isinstance(v, list):
            return ["%s: %s for a REPEATED field (an array of {\"v\": …})" % (where, _jtype(v))]
        out = []
        for k, item in enumerate(v):
            if not isinstance(item, dict) or set(item) != {"v"}:
                out.append("%s[%d]: not {\"v\": …}" % (where, k))
            else:
                out += _check_cell(dict(field, mode="NULLABLE"), item["v"], "%s[%d]" % (where, k))
        return out
    if field.get("type") in ("RECORD", "STRUCT"):
        if v is None:
            return []
        if not isinstance(v, dict) or not isinstance(v.get("f"), list):
            return ["%s: %s for a RECORD field" % (where, _jtype(v))]
        return check_rows(field.get("fields") or [], [v], where)
    if v is not None and not isinstance(v, str):
        return ["%s: %s where BigQuery sends a string or null" % (where, _jtype(v))]
    if v is not None and field.get("type") in ("INTEGER", "INT64") and not INT64_RE.match(v):
        return ["%s: %r is not INT64 text" % (where, v)]
    if v is not None and field.get("type") in ("BOOLEAN", "BOOL") and v not in ("true", "false"):
        return ["%s: %r is not true or false" % (where, v)]
    return []


def _jtype(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean %s" % ("true" if v else "false")
    if isinstance(v, (int, float)):
        return "number %r" % v
    if isinstance(v, str):
        return "string %r" % (v if len(v) < 40 else v[:37] + "...")
    if isinstance(v, list):
        return "array"
    return "object"


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(description="Check a JSON file against a schema of BigQuery's "
                                             "discovery document.")
    ap.add_argument("--discovery", default=None)
    ap.add_argument("--request", action="store_true", help="check it as a request body")
    ap.add_argument("schema")
    ap.add_argument("file")
    a = ap.parse_args(argv)
    d = Discovery(a.discovery)
    with open(a.file) as f:
        problems = d.validate(json.load(f), a.schema, "request" if a.request else "response")
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
