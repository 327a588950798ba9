"""An attacker's HTTP listener for the security tests: it answers every
request as a token endpoint, a metadata server or an API would, and writes
each request it received (method, path, headers, body) as one JSON line to
a log, so a test can assert that nothing reached it.

    python3 capture_server.py PORT_FILE LOG_FILE [--no-metadata-flavor]

With --no-metadata-flavor its answers lack the header Metadata-Flavor: Google,
as those of a server that is not a metadata server (a proxy, a host found by a
search domain) would.

It listens on 127.0.0.1 on a free port, written to PORT_FILE once it is
ready, and runs until it is killed.
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Capture(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: the JSON log is the record
        pass

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with open(self.server.log_file, "a", encoding="utf-8") as log:
            log.write(json.dumps({
                "method": self.command,
                "path": self.path,
                "headers": dict(self.headers.items()),
                "body": body.decode("utf-8", "replace"),
            }) + "\n")
        if "token" in self.path:
            answer = {"access_token": "captured-host-token", "expires_in": 3600,
                      "token_type": "Bearer"}
        else:
            answer = {"name": "projects/p/topics/captured"}
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if self.server.metadata_flavor:
            self.send_header("Metadata-Flavor", "Google")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any


def main():
    port_file, log_file = sys.argv[1], sys.argv[2]
    server = ThreadingHTTPServer(("127.0.0.1", 0), Capture)
    server.log_file = log_file
    server.metadata_flavor = "--no-metadata-flavor" not in sys.argv[3:]
    open(log_file, "a").close()
    with open(port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    import os
    os.rename(port_file + ".tmp", port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
