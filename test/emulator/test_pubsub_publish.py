"""Pub/Sub publish: message IDs, rendering, base64 forms, and every limit
with the error text real Pub/Sub answers."""

import base64
import re
import unittest

try:
    from .helpers import PubSubTestCase
except ImportError:  # run from inside test/emulator
    from helpers import PubSubTestCase

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3}|\.\d{6}|\.\d{9})?Z$")


class PublishTests(PubSubTestCase):
    def setUp(self):
        self.tid = self.new_topic()
        self.sid = self.new_sub(self.tid)

    def publish_raw(self, messages, **kw):
        return self.call("POST", self.topic_path(self.tid) + ":publish", {"messages": messages}, **kw)

    def test_ids_in_order_unique_decimal(self):
        ids = self.publish(self.tid, *["m%d" % i for i in range(50)])
        ids2 = self.publish(self.tid, "again")
        self.assertEqual(len(set(ids + ids2)), 51)
        for mid in ids + ids2:
            self.assertRegex(mid, r"^\d{10,}$")
        self.assertEqual([int(i) for i in ids], sorted(int(i) for i in ids))
        got = self.pull(self.sid)
        self.assertEqual([r["message"]["messageId"] for r in got], ids + ids2)
        self.assertEqual(self.texts(got), ["m%d" % i for i in range(50)] + ["again"])

    def test_rendered_message(self):
        [mid] = self.publish(self.tid, "hello", attributes={"k": "v", "ü": "ß"}, ordering_key="key-1")
        [r] = self.pull(self.sid)
        m = r["message"]
        self.assertEqual(set(r), {"ackId", "message"})   # no deliveryAttempt without a DLQ policy
        self.assertEqual(m["data"], base64.b64encode(b"hello").decode())
        self.assertEqual(m["attributes"], {"k": "v", "ü": "ß"})
        self.assertEqual(m["messageId"], mid)
        self.assertEqual(m["orderingKey"], "key-1")
        self.assertRegex(m["publishTime"], RFC3339)
        self.assertNotEqual(r["ackId"], mid)

    def test_attributes_only_and_no_empty_fields(self):
        status, body = self.publish_raw([{"attributes": {"only": "attrs"}}])
        self.assertEqual(status, 200, body)
        [r] = self.pull(self.sid)
        self.assertEqual(set(r["message"]), {"attributes", "messageId", "publishTime"})
        status, body = self.publish_raw([{"data": "eA=="}])
        [r] = self.pull(self.sid)
        self.assertEqual(set(r["message"]), {"data", "messageId", "publishTime"})

    def test_base64_forms_accepted_and_normalized(self):
        raw = bytes(range(250, 256)) + b"\xfb\xff"   # encodes with + and / (- and _ URL-safe)
        std = base64.b64encode(raw).decode()
        forms = [std, std.rstrip("="), base64.urlsafe_b64encode(raw).decode(),
                 base64.urlsafe_b64encode(raw).decode().rstrip("=")]
        status, body = self.publish_raw([{"data": f} for f in forms])
        self.assertEqual(status, 200, body)
        got = self.pull(self.sid)
        self.assertEqual([r["message"]["data"] for r in got], [std] * 4)

    def test_snake_case_fields(self):
        status, body = self.publish_raw([{"data": "eA==", "ordering_key": "k"}])
        self.assertEqual(status, 200, body)
        [r] = self.pull(self.sid)
        self.assertEqual(r["message"]["orderingKey"], "k")

    def test_missing_topic(self):
        self.assertApiError(self.call("POST", self.topic_path("no-such-topic") + ":publish",
                                      {"messages": [{"data": "eA=="}]}),
                            404, "NOT_FOUND", "Resource not found (resource=no-such-topic).")

    def test_messages_before_subscription_not_delivered(self):
        tid = self.new_topic()
        self.publish(tid, "early")
        sid = self.new_sub(tid)
        self.publish(tid, "late")
        self.assertEqual(self.texts(self.pull(sid)), ["late"])

    def test_fan_out(self):
        tid = self.new_topic()
        subs = [self.new_sub(tid) for _ in range(3)]
        ids = self.publish(tid, "a", "b")
        got = {}
        for sid in subs:
            got[sid] = self.pull(sid)
            self.assertEqual([r["message"]["messageId"] for r in got[sid]], ids)
        # acking in one subscription, nacking in another: independent
        self.assertEqual(self.ack(subs[0], [r["ackId"] for r in got[subs[0]]]), (200, {}))
        self.assertEqual(self.modack(subs[1], [r["ackId"] for r in got[subs[1]]], 0), (200, {}))
        self.assertEqual(self.pull(subs[0]), [])
        self.assertEqual([r["message"]["messageId"] for r in self.pull(subs[1])], ids)
        self.assertEqual(self.pull(subs[2]), [])   # still outstanding there

    def test_limits(self):
        bad = "INVALID_ARGUMENT"
        self.assertApiError(self.publish_raw([{"data": "eA=="}] * 1001), 400, bad,
                            "The value for message_count is too large. You passed 1001 in the request, "
                            "but the maximum value is 1000.")
        self.assertApiError(self.publish_raw([]), 400, bad,
                            "The value for message_count is too small. You passed 0 in the request, "
                            "but the minimum value is 1.")
        self.assertApiError(self.publish_raw([{}]), 400, bad,
                            "One or more messages in the publish request is empty. Each message must contain "
                            "either non-empty data, or at least one attribute.")
        self.assertApiError(self.publish_raw([{"data": "", "attributes": {}}]), 400, bad)
        err = self.assertApiError(self.publish_raw([{"data": "eA=="}, {"data": "not base64!"}]), 400, bad)
        self.assertEqual(err["message"], "Invalid value at 'messages[1].data' (TYPE_BYTES), "
                                         "Base64 decoding failed for \"not base64!\"")
        self.assertEqual(err["details"][0]["@type"], "type.googleapis.com/google.rpc.BadRequest")
        self.assertApiError(self.publish_raw([{"data": "eA==", "attributes": {"k%d" % i: "v" for i in range(101)}}]),
                            400, bad)
        self.assertApiError(self.publish_raw([{"data": "eA==", "attributes": {"k" * 257: "v"}}]), 400, bad)
        self.assertApiError(self.publish_raw([{"data": "eA==", "attributes": {"k": "v" * 1025}}]), 400, bad,
                            "One of the attributes in the request has a value that is too long. The length is "
                            "1025 characters, but the maximum allowed is 1024. Refer to "
                            "https://cloud.google.com/pubsub/quotas for more information.")
        self.assertApiError(self.publish_raw([{"data": "eA==", "attributes": {"k": "é" * 513}}]), 400, bad)
        self.assertApiError(self.publish_raw([{"data": "eA==", "attributes": {"": "v"}}]), 400, bad)
        self.assertApiError(self.publish_raw([{"data": "eA==", "attributes": {"googthing": "v"}}]), 400, bad)
        self.assertApiError(self.publish_raw([{"data": "eA==", "attributes": {"k": 1}}]), 400, bad,
                            "Invalid value at 'messages[0].attributes[0].value' (TYPE_STRING), 1")
        self.assertApiError(self.publish_raw([{"data": "eA==", "orderingKey": "a"},
                                              {"data": "eA==", "orderingKey": "b"}]), 400, bad)
        self.assertApiError(self.publish_raw([{"data": "eA==", "orderingKey": "a"}, {"data": "eA=="}]), 400, bad)
        self.assertApiError(self.publish_raw([{"data": "eA==", "extra": 1}]), 400, bad,
                            "Invalid JSON payload received. Unknown name \"extra\" at 'messages[0]': "
                            "Cannot find field.")
        self.assertApiError(self.call("POST", self.topic_path(self.tid) + ":publish", {"msgs": []}), 400, bad)
        # at the limits: accepted
        ok = [{"data": "eA==", "attributes": {"k" * 256: "v" * 1024, **{"a%d" % i: "" for i in range(99)}}}]
        self.assertEqual(self.publish_raw(ok * 1000)[0], 200)
        self.assertEqual(self.pull(self.sid, 1000).__len__(), 1000)
        # nothing of the refused requests was published
        self.assertEqual(self.pull(self.sid), [])

    def test_request_size_limits(self):
        # JSON body over 10 MiB: the front end's text
        big = base64.b64encode(b"x" * 800_000).decode()
        self.assertApiError(self.publish_raw([{"data": big}] * 10), 400, "INVALID_ARGUMENT",
                            "Request payload size exceeds the limit: 10485760 bytes.")
        # encoded (protobuf) size over 10,000,000 while the JSON stays under
        # 10 MiB: attributes cost about the same in both encodings
        attrs = {"k%02d" % i: "v" * 1000 for i in range(100)}
        msgs = [{"attributes": attrs}] * 100
        err = self.assertApiError(self.publish_raw(msgs), 400, "INVALID_ARGUMENT")
        self.assertRegex(err["message"], r"^The value for request_size is too large\. You passed \d+ in the "
                                         r"request, but the maximum value is 10000000\.$")
        # 7.5 MB of data in one request is fine
        self.assertEqual(self.publish_raw([{"data": base64.b64encode(b"y" * 750_000).decode()}] * 10)[0], 200)
        self.assertEqual(len(self.pull(self.sid)), 10)

    def test_gzip_and_chunked_publish(self):
        import gzip
        import json
        body = json.dumps({"messages": [{"data": "Z3o="}]}).encode()
        status, resp = self.call("POST", self.topic_path(self.tid) + ":publish", gzip.compress(body),
                                 headers={"Content-Encoding": "gzip"})
        self.assertEqual(status, 200, resp)
        conn = self.emu.connection()
        conn.putrequest("POST", self.topic_path(self.tid) + ":publish")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.putheader("Content-Type", "application/json")
        conn.endheaders()
        for i in range(0, len(body), 7):
            piece = body[i:i + 7]
            conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
        conn.send(b"0\r\n\r\n")
        resp = conn.getresponse()
        self.assertEqual(resp.status, 200, resp.read())
        resp.read()
        conn.close()
        self.assertEqual(self.texts(self.pull(self.sid)), ["gz", "gz"])


if __name__ == "__main__":
    unittest.main()
