"""The emulator's clock (core/clock.py, /emulator/clock): moved forward, it
lets Pub/Sub leases run out, redelivers their messages and ends insertId
windows without waiting; it never goes back."""

import time

from test.emulator.helpers import PubSubTestCase


class ClockTests(PubSubTestCase):
    services = ("pubsub", "bigquery")

    def test_lease_runs_out_when_the_clock_moves(self):
        tid = self.new_topic()
        sid = self.new_sub(tid, ackDeadlineSeconds=600)
        ids = self.publish(tid, "order-1")
        first = self.pull(sid)
        self.assertEqual([m["message"]["messageId"] for m in first], ids)
        self.assertEqual(self.pull(sid), [])                 # leased for 10 minutes
        status, body = self.call("POST", "/emulator/clock", {"advance_s": 660})
        self.assertEqual(status, 200, body)
        self.assertGreaterEqual(body["offset_s"], 660)
        deadline = time.monotonic() + 5
        again = []
        while not again and time.monotonic() < deadline:
            again = self.pull(sid)
            time.sleep(0.1)
        self.assertEqual([m["message"]["messageId"] for m in again], ids)
        self.assertNotEqual(again[0]["ackId"], first[0]["ackId"])
        # one clock for the process: the BigQuery port shows the same offset
        status, body = self.call("GET", "/emulator/clock", service="bigquery")
        self.assertGreaterEqual(body["offset_s"], 660)

    def test_clock_refuses_to_go_back(self):
        for bad in ({"advance_s": -5}, {"advance_s": "1"}, {}, {"advance_s": True}):
            with self.subTest(body=bad):
                status, body = self.call("POST", "/emulator/clock", bad)
                self.assertEqual(status, 400, body)
                self.assertEqual(body["error"]["status"], "INVALID_ARGUMENT")
