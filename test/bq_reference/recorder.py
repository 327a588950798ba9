"""A recording HTTP proxy for the BigQuery reference suite.

Sits between a client (Google's `bq` CLI, bqstream's C client) and the
emulator: every request is forwarded unchanged, its answer is sent back
unchanged, and the exchange is kept (method, path, query string, user agent,
request body, status, response body; gzip'd bodies are recorded decoded) so
the suite can check both sides against Google's discovery document.

    proxy = RecordingProxy("127.0.0.1", emulator_port).start()
    ... point a client at proxy.url ...
    exchanges = proxy.take()          # and forget them
    proxy.stop()

HTTP/1.1 with keep-alive, Content-Length or chunked request bodies,
Expect: 100-continue (answered by BaseHTTPRequestHandler). One upstream
connection per client connection, so a long-polling request holds only its
own. A dropped upstream connection is passed on as a dropped connection.
Python standard library only.
"""

import gzip
import http.client
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te",
              "trailer", "upgrade", "expect", "content-length"}


def _text(body, encoding):
    if encoding and "gzip" in encoding.lower() and body:
        try:
            body = gzip.decompress(body)
        except OSError:
            pass
    return body.decode("utf-8", "replace")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    upstream = None

    def log_message(self, fmt, *args):
        pass

    def _read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _forward(self, body):
        srv = self.server
        for attempt in (1, 2):
            if self.upstream is None:
                self.upstream = http.client.HTTPConnection(srv.upstream_host, srv.upstream_port,
                                                           timeout=600)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            headers["Content-Length"] = str(len(body))
            try:
                self.upstream.request(self.command, self.path, body=body, headers=headers)
                resp = self.upstream.getresponse()
                data = resp.read()
                return resp, data
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.upstream.close()
                self.upstream = None
                # a kept-alive upstream connection closed between requests: once more
                if attempt == 2:
                    return None, None
        return None, None

    def _any(self):
        body = self._read_body()
        started = time.time()
        resp, data = self._forward(body)
        split = urllib.parse.urlsplit(self.path)
        rec = {"method": self.command, "path": split.path, "query": split.query,
               "user_agent": self.headers.get("User-Agent", ""),
               "content_type": self.headers.get("Content-Type", ""),
               "request_body": _text(body, self.headers.get("Content-Encoding")),
               "status": resp.status if resp is not None else None,
               "response_body": _text(data, resp.getheader("Content-Encoding"))
               if resp is not None else None,
               "started": started, "seconds": round(time.time() - started, 3)}
        self.server.proxy._add(rec)
        if resp is None:
            self.close_connection = True
            return
        try:
            self.send_response(resp.status, resp.reason)
            for k, v in resp.getheaders():
                if k.lower() not in HOP_BY_HOP:
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _any

    def finish(self):
        try:
            super().finish()
        finally:
            if self.upstream is not None:
                self.upstream.close()


class RecordingProxy:
    def __init__(self, upstream_host, upstream_port, log_path=None):
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self.log_path = log_path
        self._lock = threading.Lock()
        self._records = []
        self.server = None
        self.thread = None

    def start(self):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.upstream_host = self.upstream_host
        self.server.upstream_port = self.upstream_port
        self.server.proxy = self
        self.thread = threading.Thread(target=self.server.serve_forever, name="recording-proxy",
                                       daemon=True)
        self.thread.start()
        return self

    @property
    def port(self):
        return self.server.server_address[1]

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def _add(self, rec):
        with self._lock:
            self._records.append(rec)
            if self.log_path:
                with open(self.log_path, "a", encoding="utf-8") as f:
                    f.write(json.dumps(rec) + "\n")

    def records(self):
        with self._lock:
            return list(self._records)

    def take(self):
        with self._lock:
            out, self._records = self._records, []
            return out

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
