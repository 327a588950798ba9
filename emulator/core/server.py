"""HTTP/1.1 front end: one threaded server per service port.

Owns everything between the socket and a service's handler:
- HTTP/1.1 keep-alive (libcurl and Node reuse connections), `Content-Length`
  and `Transfer-Encoding: chunked` request bodies, `Content-Encoding: gzip`
  request bodies, `Expect: 100-continue`, gzip responses (bodies of 1 KiB
  and more) when the client sends `Accept-Encoding: gzip` and a User-Agent
  containing "gzip", as Google's front ends require;
- routing through `service.route(method, path)` and the control endpoints
  under /emulator/ (health, counters, faults, state, clock; those of another
  service of the process under /emulator/<service>/), which cannot collide
  with Google API paths (those start with /v1, /v2, /bigquery, /projects...);
- fault injection before the handler runs, per-method request counters and
  per-status response counters;
- turning a handler's return value (dict, (status, dict), RawJSON) or an
  ApiError into the response.

A thread per connection (ThreadingHTTPServer) because handlers may block:
Pub/Sub pull long-polls, BigQuery queries honour timeoutMs.
"""

import gzip
import http
import json
import logging
import socket
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote

from . import clock
from .errors import ApiError
from .federation import STS_PATH
from .oauth import OAuthError

METADATA_TOKEN_PATH = "/computeMetadata/v1/instance/service-accounts/default/token"

log = logging.getLogger("emulator.http")

MAX_BODY = 64 << 20           # larger bodies are refused (413) before reading
GZIP_MIN_RESPONSE = 1024      # below this, compressing costs more than it saves


class RawJSON:
    """A handler result that is already serialized JSON (bytes or str), for
    hot paths that build the response text directly (Pub/Sub pull)."""
    __slots__ = ("data", "status")

    def __init__(self, data, status=200):
        self.data = data.encode() if isinstance(data, str) else data
        self.status = status


class Request:
    """What a handler sees: method, decoded path, query (last value wins),
    raw body bytes, headers (case-insensitive), and json()."""
    __slots__ = ("method", "path", "query", "body", "headers", "_json")

    def __init__(self, method, path, query, body, headers):
        self.method = method
        self.path = path
        self.query = query
        self.body = body
        self.headers = headers
        self._json = None

    def json(self):
        """The body parsed as a JSON object ({} when empty). Bad JSON gives the
        400 real Google front ends answer."""
        if self._json is None:
            if not self.body or not self.body.strip():
                self._json = {}
            else:
                try:
                    value = json.loads(self.body)
                except (ValueError, UnicodeDecodeError) as e:
                    raise ApiError(400, "INVALID_ARGUMENT",
                                   "Invalid JSON payload received. %s" % _json_error_text(e)) from None
                if not isinstance(value, dict):
                    raise ApiError(400, "INVALID_ARGUMENT",
                                   "Invalid JSON payload received. Unknown name \"\": Root element must be a message.")
                self._json = value
        return self._json


def _json_error_text(e):
    if isinstance(e, json.JSONDecodeError):
        return "%s at line %d column %d." % (e.msg, e.lineno, e.colno)
    return str(e)


class _BadHTTP(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


class ServicePort:
    """One service bound to one listening socket, with its counters and
    fault injector."""

    def __init__(self, service, host, port, counters, faults, auth=None):
        self.service = service
        self.auth = auth            # core.oauth.TokenAuthority in auth mode, else None
        self.counters = counters
        self.faults = faults
        self.name = service.name
        self.peers = {}             # other services' ports by name, for /emulator/<name>/...
        counters.declare("faults_injected", "faults_dropped", "faults_lost", "response_bytes", "response_bytes_sent",
                         "responses_gzipped")
        if auth is not None:
            counters.declare("sts_token_exchanges", "impersonations", "identity_tokens_served")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        server_cls = type("_Server_" + self.name, (_Server,), {"address_family": family})
        self.httpd = server_cls((host, port), _Handler)
        self.httpd.port_ctx = self
        self.port = self.httpd.server_address[1]

    def serve_forever(self):
        self.httpd.serve_forever(poll_interval=0.2)

    def shutdown(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False      # don't join idle keep-alive connections on exit
    allow_reuse_address = True
    request_queue_size = 128


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "bqstream-emulator"
    sys_version = ""
    disable_nagle_algorithm = True   # header+body go out in one write anyway
    timeout = 600                    # close idle keep-alive connections eventually

    def do_GET(self):
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    def log_message(self, fmt, *args):  # BaseHTTPRequestHandler's own chatter
        log.debug("%s %s", self.address_string(), fmt % args)

    # ---------------------------------------------------------------- request
    def _read_body(self):
        h = self.headers
        te = (h.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            body = self._read_chunked()
        else:
            cl = h.get("Content-Length")
            if cl is None:
                body = b""
            else:
                try:
                    n = int(cl)
                    if n < 0:
                        raise ValueError
                except ValueError:
                    raise _BadHTTP(400, "Bad Content-Length") from None
                if n > MAX_BODY:
                    raise _BadHTTP(413, "Request body larger than %d bytes" % MAX_BODY)
                body = self.rfile.read(n) if n else b""
                if len(body) != n:
                    raise _BadHTTP(400, "Truncated request body")
        ce = (h.get("Content-Encoding") or "identity").strip().lower()
        if ce in ("gzip", "x-gzip"):
            try:
                d = zlib.decompressobj(16 + zlib.MAX_WBITS)
                body = d.decompress(body, MAX_BODY + 1)
                if len(body) > MAX_BODY or d.unconsumed_tail:
                    raise _BadHTTP(413, "Decompressed request body larger than %d bytes" % MAX_BODY)
            except zlib.error:
                raise _BadHTTP(400, "Request body is not valid gzip") from None
        elif ce not in ("identity", ""):
            raise _BadHTTP(415, "Unsupported Content-Encoding: %s" % ce)
        return body

    def _read_chunked(self):
        parts = []
        total = 0
        while True:
            line = self.rfile.readline(65537)
            if not line:
                raise _BadHTTP(400, "Truncated chunked body")
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _BadHTTP(400, "Bad chunk size") from None
            if size == 0:
                # trailers end with an empty line
                while True:
                    t = self.rfile.readline(65537)
                    if t in (b"\r\n", b"\n", b""):
                        break
                return b"".join(parts)
            total += size
            if total > MAX_BODY:
                raise _BadHTTP(413, "Request body larger than %d bytes" % MAX_BODY)
            chunk = self.rfile.read(size)
            if len(chunk) != size:
                raise _BadHTTP(400, "Truncated chunked body")
            parts.append(chunk)
            self.rfile.readline(3)  # CRLF after the chunk

    # ---------------------------------------------------------------- dispatch
    def _dispatch(self):
        ctx = self.server.port_ctx
        t0 = time.monotonic()
        raw_path, _, qs = self.path.partition("?")
        if raw_path.startswith(("http://", "https://")):  # absolute-form request target
            raw_path = "/" + raw_path.split("/", 3)[3] if raw_path.count("/") >= 3 else "/"
        path = unquote(raw_path)
        try:
            body = self._read_body()
        except _BadHTTP as e:
            self.close_connection = True
            self._send_error(ApiError(e.code, "INVALID_ARGUMENT", e.message), ctx)
            return
        query = dict(parse_qsl(qs, keep_blank_values=True)) if qs else {}
        req = Request(self.command, path, query, body, self.headers)

        if path.startswith("/emulator/"):
            self._control(req, ctx)
            self._log(req, t0)
            return

        if ctx.auth is not None:
            if path == "/token" and self.command == "POST":
                self._token(req, ctx)
                self._log(req, t0)
                return
            if ctx.auth.federation is not None and ctx.auth.federation.handles(self.command, path):
                self._federation(req, ctx, ctx.auth.federation)
                self._log(req, t0)
                return
            if path == METADATA_TOKEN_PATH and self.command == "GET":
                self._metadata_token(ctx)
                self._log(req, t0)
                return
            try:
                ctx.auth.check(self.headers.get("Authorization"))
            except ApiError as e:
                self._send_error(e, ctx)
                self._log(req, t0)
                return

        try:
            handler, method_name = ctx.service.route(self.command, path)
        except ApiError as e:
            self._send_error(e, ctx)
            self._log(req, t0)
            return
        ctx.counters.incr_group("requests", method_name)

        latency, action = ctx.faults.decide(method_name)
        if latency:
            time.sleep(latency)
        if action == "drop":
            ctx.counters.incr("faults_dropped")
            self._drop()
            log.debug("%s %s -> dropped (fault injection)", self.command, self.path)
            return
        if action is not None and action != "lost":
            ctx.counters.incr("faults_injected")
            if action == 502:
                self._send(502, b"<html><head><title>502 Bad Gateway</title></head>"
                                b"<body><h1>502 Bad Gateway</h1></body></html>\n",
                           ctx, content_type="text/html; charset=UTF-8",
                           extra_headers={"X-Emulator-Fault": "error"})
            else:
                err = ctx.faults.error_for(action, ctx.service)
                err.headers["X-Emulator-Fault"] = "error"
                self._send_error(err, ctx)
            self._log(req, t0)
            return

        try:
            result = handler(req)
            if action == "lost":
                ctx.counters.incr("faults_lost")
                self._drop()
                log.debug("%s %s -> answer lost (fault injection)", self.command, self.path)
                return
        except ApiError as e:
            self._send_error(e, ctx)
        except Exception:
            log.exception("unhandled error in %s %s", self.command, self.path)
            self._send_error(ApiError(500, "INTERNAL", "Internal error encountered."), ctx)
        else:
            if isinstance(result, RawJSON):
                self._send(result.status, result.data, ctx)
            else:
                status = 200
                if isinstance(result, tuple):
                    status, result = result
                if result is None:
                    result = {}
                self._send(status, json.dumps(result, separators=(",", ":")).encode(), ctx)
        self._log(req, t0)

    def _log(self, req, t0):
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s %s %d bytes in, %.1f ms", self.server.port_ctx.name, req.method,
                      self.path, len(req.body), (time.monotonic() - t0) * 1000)

    def _token(self, req, ctx):
        """The OAuth2 token endpoint of auth mode (see core/oauth.py)."""
        host = self.headers.get("Host") or "%s:%d" % self.server.server_address[:2]
        try:
            out = ctx.auth.token_request(req.body, self.headers.get("Content-Type"),
                                         "http://%s/token" % host)
            code = 200
        except OAuthError as e:
            code, out = e.http_code, e.body
        self._send(code, json.dumps(out, separators=(",", ":")).encode(), ctx, count=False)

    def _federation(self, req, ctx, fed):
        """STS, IAM Credentials and the identity provider of auth mode (see
        core/federation.py), counted apart from the API requests."""
        if req.method == "GET":
            ctx.counters.incr("identity_tokens_served")
            code, content_type, body, headers = fed.identity(req.path, self.headers)
            self._send(code, body, ctx, content_type=content_type, extra_headers=headers, count=False)
            return
        if req.path == STS_PATH:
            ctx.counters.incr("sts_token_exchanges")
            try:
                out, code = fed.exchange(req.body, self.headers.get("Content-Type")), 200
            except OAuthError as e:
                code, out = e.http_code, e.body
            self._send(code, json.dumps(out, separators=(",", ":")).encode(), ctx, count=False)
            return
        ctx.counters.incr("impersonations")
        try:
            out = fed.generate_access_token(req.path, req.body, self.headers.get("Authorization"))
        except ApiError as e:
            self._send_error(e, ctx, count=False)
            return
        self._send(200, json.dumps(out, separators=(",", ":")).encode(), ctx, count=False)

    def _metadata_token(self, ctx):
        """The GCE metadata server's token path, so clients' metadata mode can be
        tested by pointing GCE_METADATA_HOST here. Like the real one it insists on
        the Metadata-Flavor header and echoes it."""
        flavor = {"Metadata-Flavor": "Google"}
        if self.headers.get("Metadata-Flavor") != "Google":
            self._send(403, b"Missing Metadata-Flavor:Google header.\n", ctx, count=False,
                       content_type="text/plain; charset=UTF-8", extra_headers=flavor)
            return
        self._send(200, json.dumps(ctx.auth.issue_token(), separators=(",", ":")).encode(), ctx,
                   count=False, extra_headers=flavor)

    # ---------------------------------------------------------------- control
    def _control(self, req, ctx):
        p, m = req.path.rstrip("/"), req.method
        # /emulator/<other service>/...: that service's counters, faults and
        # state (the gRPC service has no HTTP port of its own)
        parts = p.split("/", 3)
        if len(parts) >= 4 and parts[2] in ctx.peers:
            ctx = ctx.peers[parts[2]]
            p = "/emulator/" + parts[3]
        try:
            if p == "/emulator/clock" and m in ("GET", "POST"):
                out = clock.control(m, req.json() if m == "POST" else {})
            elif p == "/emulator/health" and m in ("GET", "HEAD"):
                out = {"ok": True}
            elif p == "/emulator/counters" and m == "GET":
                out = ctx.counters.snapshot()
            elif p == "/emulator/counters/reset" and m == "POST":
                ctx.counters.reset()
                out = {}
            elif p == "/emulator/faults" and m == "GET":
                out = ctx.faults.get()
            elif p == "/emulator/faults" and m in ("POST", "PUT"):
                out = ctx.faults.set(req.json())
            elif p == "/emulator/faults" and m == "DELETE":
                out = ctx.faults.clear()
            elif p == "/emulator/state" and m == "GET" and hasattr(ctx.service, "state_summary"):
                out = ctx.service.state_summary()
            else:
                raise ApiError(404, "NOT_FOUND", "Unknown emulator control endpoint %s %s" % (m, req.path))
        except ApiError as e:
            self._send_error(e, ctx, count=False)
            return
        self._send(200, json.dumps(out, separators=(",", ":")).encode(), ctx, count=False)

    # ---------------------------------------------------------------- response
    def _send_error(self, err, ctx, count=True):
        self._send(err.http_code, json.dumps(err.body(), separators=(",", ":")).encode(), ctx,
                   extra_headers=err.headers, count=count)

    def _send(self, code, body, ctx, content_type="application/json; charset=UTF-8",
              extra_headers=None, count=True):
        if count:
            ctx.counters.incr_group("responses", code)
        headers = ["HTTP/1.1 %d %s" % (code, _phrase(code))]
        if code in (204, 304):
            body = b""   # no body, and (RFC 9110) no Content-Length either
        else:
            headers.append("Content-Type: " + content_type)
            if count:
                ctx.counters.incr("response_bytes", len(body))
            if len(body) >= GZIP_MIN_RESPONSE and self._wants_gzip():
                body = gzip.compress(body, compresslevel=1)
                headers.append("Content-Encoding: gzip")
                headers.append("Vary: Accept-Encoding")
                if count:
                    ctx.counters.incr("responses_gzipped")
            headers.append("Content-Length: %d" % len(body))
            if count:
                ctx.counters.incr("response_bytes_sent", len(body))
        if extra_headers:
            headers.extend("%s: %s" % kv for kv in extra_headers.items())
        if self.close_connection:
            headers.append("Connection: close")
        head = ("\r\n".join(headers) + "\r\n\r\n").encode("latin-1")
        if self.command == "HEAD":
            body = b""
        try:
            self.wfile.write(head + body)
        except OSError:
            self.close_connection = True

    def _wants_gzip(self):
        """Google's front ends compress an answer only when the client asks with
        Accept-Encoding: gzip AND its User-Agent contains "gzip" (its own clients
        append "(gzip)"); Accept-Encoding alone gets plain bytes."""
        return ("gzip" in (self.headers.get("Accept-Encoding") or "").lower()
                and "gzip" in (self.headers.get("User-Agent") or "").lower())

    def _drop(self):
        """Close the connection without any response, as a crashed or
        overloaded proxy would; the client sees an empty reply / EOF."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _phrase(code):
    try:
        return http.HTTPStatus(code).phrase
    except ValueError:
        return "Client Closed Request" if code == 499 else "Status"
