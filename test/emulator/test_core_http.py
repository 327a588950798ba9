"""The emulator's HTTP front end: keep-alive, chunked and gzip bodies, gzip
responses, Expect: 100-continue, control endpoints, error shapes, ignored
query parameters."""

import gzip
import json
import socket
import unittest

try:
    from .helpers import PubSubTestCase, request
except ImportError:  # run from inside test/emulator
    from helpers import PubSubTestCase, request


class HttpTests(PubSubTestCase):
    def test_health(self):
        self.assertEqual(self.call("GET", "/emulator/health"), (200, {"ok": True}))

    def test_keep_alive_reuses_one_connection(self):
        conn = self.emu.connection()
        tid = self.unique("ka")
        self.assertEqual(request(conn, "PUT", self.topic_path(tid), close=False)[0], 200)
        sock = conn.sock
        self.assertIsNotNone(sock)
        for _ in range(20):
            status, _ = request(conn, "GET", self.topic_path(tid), close=False)
            self.assertEqual(status, 200)
            self.assertIs(conn.sock, sock)      # http.client would reconnect on close
        # an error response keeps the connection too
        self.assertEqual(request(conn, "GET", self.topic_path("missing-one"), close=False)[0], 404)
        self.assertIs(conn.sock, sock)
        conn.close()

    def test_raw_pipelined_requests_and_http10(self):
        port = self.emu.ports["pubsub"]
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            req = b"GET /emulator/health HTTP/1.1\r\nHost: x\r\n\r\n"
            s.sendall(req * 3)
            data = b""
            while data.count(b'{"ok":true}') < 3:
                chunk = s.recv(65536)
                self.assertTrue(chunk, data)
                data += chunk
            self.assertEqual(data.count(b"HTTP/1.1 200 OK"), 3)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"GET /emulator/health HTTP/1.0\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break      # HTTP/1.0 without keep-alive: server closes
                data += chunk
            self.assertIn(b"Connection: close", data)
            self.assertTrue(data.endswith(b'{"ok":true}'))

    def test_chunked_request_body(self):
        tid = self.unique("ch")
        port = self.emu.ports["pubsub"]
        body = json.dumps({"labels": {"k": "v"}}).encode()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            msg = b"PUT %s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" % self.topic_path(tid).encode()
            msg += b"".join(b"%x;ext=1\r\n%s\r\n" % (len(body[i:i + 5]), body[i:i + 5]) for i in range(0, len(body), 5))
            msg += b"0\r\nX-Trailer: y\r\n\r\n"
            s.sendall(msg + b"GET /emulator/health HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            while b'{"ok":true}' not in data:
                chunk = s.recv(65536)
                self.assertTrue(chunk, data)
                data += chunk
        self.assertIn(b'"labels":{"k":"v"}', data)

    def test_gzip_request_and_response(self):
        tid = self.new_topic()
        sid = self.new_sub(tid)
        body = gzip.compress(json.dumps({"messages": [{"data": "eHh4"}] * 200}).encode())
        status, resp = self.call("POST", self.topic_path(tid) + ":publish", body,
                                 headers={"Content-Encoding": "gzip"})
        self.assertEqual(status, 200, resp)
        self.call("POST", "/emulator/counters/reset")
        status, headers, data = self.call("POST", self.sub_path(sid) + ":pull", {"maxMessages": 500},
                                          headers={"Accept-Encoding": "gzip, deflate",
                                                   "User-Agent": "client/1.0 (gzip)"}, raw=True)
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Encoding"], "gzip")
        self.assertEqual(len(json.loads(gzip.decompress(data))["receivedMessages"]), 200)
        counters = self.call("GET", "/emulator/counters")[1]
        self.assertEqual(counters["responses_gzipped"], 1)
        self.assertLess(counters["response_bytes_sent"], counters["response_bytes"])
        # small bodies are not compressed
        status, headers, data = self.call("GET", "/emulator/health",
                                          headers={"Accept-Encoding": "gzip", "User-Agent": "x (gzip)"}, raw=True)
        self.assertIsNone(headers.get("Content-Encoding"))
        self.assertApiError(self.call("POST", self.topic_path(tid) + ":publish", b"not gzip",
                                      headers={"Content-Encoding": "gzip"}), 400, "INVALID_ARGUMENT")

    def test_gzip_only_when_the_user_agent_says_gzip(self):
        # as Google's front ends: Accept-Encoding alone gets plain bytes
        tid = self.new_topic()
        sid = self.new_sub(tid)
        self.call("POST", self.topic_path(tid) + ":publish", {"messages": [{"data": "eHh4"}] * 100})
        for ua, compressed in ((None, False), ("curl/8.0", False), ("bqstream/0.2.0 (gzip)", True)):
            with self.subTest(user_agent=ua):
                headers = {"Accept-Encoding": "gzip"}
                if ua is not None:
                    headers["User-Agent"] = ua
                status, h, data = self.call("POST", self.sub_path(sid) + ":pull",
                                            {"maxMessages": 100, "returnImmediately": True},
                                            headers=headers, raw=True)
                self.assertEqual(status, 200)
                self.assertEqual(h.get("Content-Encoding"), "gzip" if compressed else None)
                body = gzip.decompress(data) if compressed else data
                msgs = json.loads(body)["receivedMessages"]
                self.assertEqual(len(msgs), 100)
                self.call("POST", self.sub_path(sid) + ":modifyAckDeadline",
                          {"ackIds": [m["ackId"] for m in msgs], "ackDeadlineSeconds": 0})
        # a User-Agent that says gzip without Accept-Encoding gets plain bytes too
        status, h, data = self.call("POST", self.sub_path(sid) + ":pull",
                                    {"maxMessages": 100, "returnImmediately": True},
                                    headers={"User-Agent": "x (gzip)"}, raw=True)
        self.assertIsNone(h.get("Content-Encoding"))

    def test_expect_100_continue(self):
        tid = self.unique("exp")
        port = self.emu.ports["pubsub"]
        body = b"{}"
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"PUT %s HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n"
                      % self.topic_path(tid).encode())
            first = s.recv(65536)
            self.assertTrue(first.startswith(b"HTTP/1.1 100"), first)
            s.sendall(body)
            data = first
            while tid.encode() not in data:
                chunk = s.recv(65536)
                self.assertTrue(chunk)
                data += chunk
        self.assertIn(b"HTTP/1.1 200 OK", data)

    def test_query_parameters_ignored(self):
        tid = self.unique("q")
        status, body = self.call("PUT", self.topic_path(tid) + "?$alt=json%3Benum-encoding=int&prettyPrint=false&alt=json&key=abc")
        self.assertEqual(status, 200, body)
        self.assertEqual(self.call("GET", self.topic_path(tid) + "?prettyPrint=true")[1]["name"], "projects/p/topics/" + tid)

    def test_error_shape_and_content_type(self):
        status, headers, data = self.call("GET", self.topic_path("not-there"), raw=True)
        self.assertEqual(status, 404)
        self.assertEqual(headers["Content-Type"], "application/json; charset=UTF-8")
        self.assertEqual(json.loads(data), {"error": {"code": 404, "message": "Resource not found (resource=not-there).",
                                                      "status": "NOT_FOUND"}})
        self.assertApiError(self.call("GET", "/emulator/nothing"), 404, "NOT_FOUND")
        self.assertApiError(self.call("GET", "/"), 404, "NOT_FOUND")
        self.assertApiError(self.call("PUT", self.topic_path(self.unique()), b"[1,2]"), 400, "INVALID_ARGUMENT")

    def test_bad_content_length(self):
        port = self.emu.ports["pubsub"]
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"POST /emulator/counters/reset HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999999\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        self.assertTrue(data.startswith(b"HTTP/1.1 413"), data)

    def test_counters_reset(self):
        self.call("GET", self.topic_path("count-me"))
        status, c = self.call("GET", "/emulator/counters")
        self.assertGreaterEqual(c["requests"]["getTopic"], 1)
        self.assertGreaterEqual(c["responses"]["404"], 1)
        self.assertEqual(self.call("POST", "/emulator/counters/reset"), (200, {}))
        status, c = self.call("GET", "/emulator/counters")
        self.assertEqual(c["requests"], {})
        self.assertEqual(c["responses"], {})
        self.assertEqual(c["messages_published"], 0)   # declared counters stay, zeroed


if __name__ == "__main__":
    unittest.main()
