"""Fault injection: errors, latency and dropped connections on API requests.

One `FaultInjector` per service port. It is configured at start from the
`--fault-*` flags and at run time through GET/POST/DELETE /emulator/faults with
a JSON object:

    {"error_rate": 0.2, "error_codes": [429, 503], "latency_ms": 50,
     "drop_rate": 0.05, "lost_rate": 0.01, "methods": ["publish"], "count": 3,
     "retry_after_s": 1, "reason": "rateLimitExceeded"}

- `methods` (optional) limits every fault to those API method names.
- `count` (optional) stops injecting errors and drops after that many; the
  latency stays until cleared. Handy for "fail exactly the next 2 calls".
- `retry_after_s` (optional) adds a Retry-After header to injected 429/503.
- `reason` (optional) says what an injected 403 stands for (see REASONS_403):
  a missing IAM permission by default, BigQuery's throttling
  (rateLimitExceeded, quotaExceeded) or a token without the API's OAuth scope
  (ACCESS_TOKEN_SCOPE_INSUFFICIENT).

Faults are decided BEFORE the service handler runs, so an injected error or
drop never changes emulator state: a client that retries a failed publish is
not creating a duplicate. A lost answer (`lost_rate`) is the other case real
services have: the handler runs and commits, then the connection is dropped
before the answer, so a client that retries does the work twice unless the
API de-duplicates it (insertId, jobs.query's requestId).
"""

import random
import threading

from .errors import ApiError

# Injectable codes: status name, message and the legacy `reason` BigQuery uses.
# 403 stands for a credential that lacks an IAM permission.
# 502 is answered with a non-JSON HTML body, as proxies and load balancers do.
FAULT_ERRORS = {
    403: ("PERMISSION_DENIED", "The caller does not have permission", "accessDenied"),
    409: ("ABORTED", "The operation was aborted.", "aborted"),
    429: ("RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota).", "rateLimitExceeded"),
    500: ("INTERNAL", "Internal error encountered.", "internalError"),
    502: (None, None, None),
    503: ("UNAVAILABLE", "The service is currently unavailable.", "backendError"),
    504: ("DEADLINE_EXCEEDED", "Deadline exceeded.", "backendError"),
}

# What an injected 403 stands for, chosen with `reason` (default accessDenied):
# reason -> (status, message, BigQuery's legacy errors[].reason and domain, the
# google.rpc.ErrorInfo reason in details or None). BigQuery answers throttling
# with 403 (rateLimitExceeded: a short-term rate; quotaExceeded: a quota such as
# bytes scanned per day); a token whose OAuth scopes do not cover the API gets
# 403 with an ErrorInfo ACCESS_TOKEN_SCOPE_INSUFFICIENT, whatever the IAM roles.
REASONS_403 = {
    "accessDenied": ("PERMISSION_DENIED", "The caller does not have permission",
                     "accessDenied", "global", None),
    "rateLimitExceeded": ("PERMISSION_DENIED",
                          "Exceeded rate limits: too many api requests per user per method for this "
                          "user_method. For more information, see "
                          "https://cloud.google.com/bigquery/docs/troubleshoot-quotas",
                          "rateLimitExceeded", "usageLimits", None),
    "quotaExceeded": ("PERMISSION_DENIED",
                      "Quota exceeded: Your project exceeded quota for free query bytes scanned. "
                      "For more information, see https://cloud.google.com/bigquery/docs/troubleshoot-quotas",
                      "quotaExceeded", "usageLimits", None),
    # a job failed for its rate: Google's clients run the job again
    "jobRateLimitExceeded": ("PERMISSION_DENIED",
                             "Exceeded rate limits: too many concurrent queries for this "
                             "project_and_region. For more information, see "
                             "https://cloud.google.com/bigquery/docs/troubleshoot-quotas",
                             "jobRateLimitExceeded", "usageLimits", None),
    "ACCESS_TOKEN_SCOPE_INSUFFICIENT": ("PERMISSION_DENIED", "Request had insufficient authentication scopes.",
                                        "forbidden", "global", "ACCESS_TOKEN_SCOPE_INSUFFICIENT"),
}

DEFAULTS = {
    "error_rate": 0.0,
    "error_codes": [503],
    "latency_ms": 0,
    "drop_rate": 0.0,
    "lost_rate": 0.0,
    "methods": None,
    "count": None,
    "retry_after_s": None,
    "reason": None,
}


def _bad(msg):
    return ApiError(400, "INVALID_ARGUMENT", "Invalid fault configuration: " + msg)


def validate(cfg):
    """Return a complete, validated config from a partial dict (missing keys
    take their defaults). Raises ApiError 400 on a bad value."""
    if not isinstance(cfg, dict):
        raise _bad("expected a JSON object")
    unknown = set(cfg) - set(DEFAULTS)
    if unknown:
        raise _bad("unknown key(s) %s" % ", ".join(sorted(unknown)))
    out = dict(DEFAULTS)
    out.update({k: v for k, v in cfg.items() if v is not None})
    for key in ("error_rate", "drop_rate", "lost_rate"):
        v = out[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
            raise _bad("%s must be a number between 0 and 1" % key)
        out[key] = float(v)
    v = out["latency_ms"]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
        raise _bad("latency_ms must be a non-negative number")
    codes = out["error_codes"]
    if isinstance(codes, int) and not isinstance(codes, bool):
        codes = [codes]
    if not isinstance(codes, list) or not codes or any(
            isinstance(c, bool) or not isinstance(c, int) or c not in FAULT_ERRORS for c in codes):
        raise _bad("error_codes must be a non-empty list drawn from %s" % sorted(FAULT_ERRORS))
    out["error_codes"] = list(codes)
    methods = out["methods"]
    if methods is not None:
        if isinstance(methods, str):
            methods = [m for m in methods.split(",") if m]
        if not isinstance(methods, list) or not all(isinstance(m, str) and m for m in methods):
            raise _bad("methods must be a list of API method names")
        out["methods"] = list(methods) or None
    count = out["count"]
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
        raise _bad("count must be a non-negative integer")
    ra = out["retry_after_s"]
    if ra is not None and (isinstance(ra, bool) or not isinstance(ra, (int, float)) or ra < 0):
        raise _bad("retry_after_s must be a non-negative number")
    reason = out["reason"]
    if reason is not None:
        if not isinstance(reason, str) or reason not in REASONS_403:
            raise _bad("reason must be one of %s" % ", ".join(sorted(REASONS_403)))
        if 403 not in out["error_codes"]:
            raise _bad("reason applies to injected 403 answers: add 403 to error_codes")
    return out


class FaultInjector:
    def __init__(self, seed=None, initial=None):
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._cfg = validate(initial or {})

    def get(self):
        with self._lock:
            return dict(self._cfg)

    def set(self, cfg):
        cfg = validate(cfg)
        with self._lock:
            self._cfg = cfg
        return dict(cfg)

    def clear(self):
        with self._lock:
            self._cfg = dict(DEFAULTS)
        return dict(DEFAULTS)

    def decide(self, method_name):
        """Return (latency_seconds, action) for one API request, where action
        is None, "drop", "lost" (answer dropped after the handler ran) or an
        HTTP code to inject."""
        with self._lock:
            c = self._cfg
            if c["methods"] is not None and method_name not in c["methods"]:
                return 0.0, None
            latency = c["latency_ms"] / 1000.0
            if c["count"] == 0:
                return latency, None
            action = None
            if c["drop_rate"] and self._rng.random() < c["drop_rate"]:
                action = "drop"
            elif c["lost_rate"] and self._rng.random() < c["lost_rate"]:
                action = "lost"
            elif c["error_rate"] and self._rng.random() < c["error_rate"]:
                action = self._rng.choice(c["error_codes"])
            if action is not None and c["count"] is not None:
                c["count"] -= 1
            return latency, action

    def error_for(self, code, service=None):
        """The ApiError answered for an injected `code`. A service may supply
        its own body by defining `fault_error(code)`; otherwise BigQuery gets
        the legacy `errors[].reason` (its clients retry on it) and other
        services the plain {code, message, status} body."""
        hook = getattr(service, "fault_error", None)
        if hook is not None:
            err = hook(code)
            if err is not None:
                return err
        cfg = self.get()
        status, message, reason = FAULT_ERRORS[code]
        name = getattr(service, "name", None)
        want_reason = name == "bigquery"
        if code == 403 and cfg["reason"] is not None:
            status, message, reason, domain, info = REASONS_403[cfg["reason"]]
            details = None
            if info is not None:
                details = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": info,
                            "domain": "googleapis.com",
                            "metadata": {"service": "%s.googleapis.com" % (name or "unknown")}}]
            return ApiError(code, status, message, reason=reason if want_reason else None,
                            domain=domain, details=details)
        err = ApiError(code, status, message, reason=reason if want_reason else None)
        ra = cfg["retry_after_s"]
        if ra is not None and code in (429, 503):
            err.headers["Retry-After"] = str(int(ra) if float(ra).is_integer() else ra)
        return err
