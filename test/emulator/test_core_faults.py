"""Fault injection: injected errors carry Google bodies and change no state,
latency, dropped connections, method filters, counts, clearing, CLI flags."""

import http.client
import time
import unittest

try:
    from .helpers import EmulatorProcess, PubSubTestCase
except ImportError:  # run from inside test/emulator
    from helpers import EmulatorProcess, PubSubTestCase


class FaultTests(PubSubTestCase):
    services = ("pubsub", "bigquery")

    def tearDown(self):
        self.call("DELETE", "/emulator/faults")

    def set_faults(self, **cfg):
        status, body = self.call("POST", "/emulator/faults", cfg)
        self.assertEqual(status, 200, body)
        return body

    def test_error_rate_one_for_one_method(self):
        tid = self.new_topic()
        sid = self.new_sub(tid)
        self.call("POST", "/emulator/counters/reset")
        self.set_faults(error_rate=1.0, error_codes=[503], methods=["publish"])
        status, headers, data = self.call("POST", self.topic_path(tid) + ":publish",
                                          {"messages": [{"data": "eA=="}]}, raw=True)
        self.assertEqual(status, 503)
        self.assertEqual(headers["X-Emulator-Fault"], "error")
        import json
        self.assertEqual(json.loads(data), {"error": {"code": 503, "message": "The service is currently unavailable.",
                                                      "status": "UNAVAILABLE"}})
        # other methods are unaffected, and the failed publish changed nothing
        self.assertEqual(self.pull(sid), [])
        status, c = self.call("GET", "/emulator/counters")
        self.assertEqual(c["messages_published"], 0)
        self.assertEqual(c["faults_injected"], 1)
        self.assertEqual(c["requests"]["publish"], 1)
        self.assertEqual(c["responses"]["503"], 1)
        # control endpoints are never faulted
        self.set_faults(error_rate=1.0)
        self.assertEqual(self.call("GET", "/emulator/health"), (200, {"ok": True}))
        self.assertEqual(self.call("DELETE", "/emulator/faults")[0], 200)
        self.publish(tid, "ok now")
        self.assertEqual(self.texts(self.pull(sid)), ["ok now"])

    def test_codes_and_bodies(self):
        tid = self.new_topic()
        expected = {429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED",
                    409: "ABORTED"}
        for code, status_name in expected.items():
            with self.subTest(code=code):
                self.set_faults(error_rate=1, error_codes=[code], retry_after_s=2)
                resp = self.call("GET", self.topic_path(tid))
                err = self.assertApiError(resp, code, status_name)
                self.assertNotIn("errors", err)      # Pub/Sub bodies carry no legacy reason
                status, headers, _ = self.call("GET", self.topic_path(tid), raw=True)
                if code in (429, 503):
                    self.assertEqual(headers["Retry-After"], "2")
                else:
                    self.assertIsNone(headers.get("Retry-After"))
        self.set_faults(error_rate=1, error_codes=[502])
        status, headers, data = self.call("GET", self.topic_path(tid), raw=True)
        self.assertEqual(status, 502)
        self.assertTrue(headers["Content-Type"].startswith("text/html"))
        self.assertIn(b"Bad Gateway", data)

    def test_count_then_stops(self):
        tid = self.new_topic()
        self.set_faults(error_rate=1, error_codes=[429], count=2)
        self.assertEqual(self.call("GET", self.topic_path(tid))[0], 429)
        self.assertEqual(self.call("GET", self.topic_path(tid))[0], 429)
        self.assertEqual(self.call("GET", self.topic_path(tid))[0], 200)
        self.assertEqual(self.call("GET", "/emulator/faults")[1]["count"], 0)

    def test_latency(self):
        tid = self.new_topic()
        self.set_faults(latency_ms=200, methods=["getTopic"])
        t0 = time.monotonic()
        self.assertEqual(self.call("GET", self.topic_path(tid))[0], 200)
        self.assertGreaterEqual(time.monotonic() - t0, 0.19)
        t0 = time.monotonic()
        self.assertEqual(self.call("GET", "/v1/projects/p/topics")[0], 200)    # listTopics: not delayed
        self.assertLess(time.monotonic() - t0, 0.15)

    def test_drop(self):
        tid = self.new_topic()
        sid = self.new_sub(tid)
        self.set_faults(drop_rate=1.0, methods=["publish"])
        conn = self.emu.connection()
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError)):
            conn.request("POST", self.topic_path(tid) + ":publish", body=b'{"messages":[{"data":"eA=="}]}')
            conn.getresponse()
        conn.close()
        self.assertEqual(self.call("GET", "/emulator/counters")[1]["faults_dropped"], 1)
        self.call("DELETE", "/emulator/faults")
        self.assertEqual(self.pull(sid), [])      # dropped before the handler ran

    def test_lost_answer(self):
        tid = self.new_topic()
        sid = self.new_sub(tid)
        self.set_faults(lost_rate=1.0, methods=["publish"], count=1)
        conn = self.emu.connection()
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError)):
            conn.request("POST", self.topic_path(tid) + ":publish", body=b'{"messages":[{"data":"eA=="}]}')
            conn.getresponse()
        conn.close()
        self.assertEqual(self.call("GET", "/emulator/counters")[1]["faults_lost"], 1)
        self.assertEqual(len(self.pull(sid)), 1)  # the handler ran: published, answer lost

    def test_get_clear_and_validation(self):
        cfg = self.set_faults(error_rate=0.5, error_codes=[429, 503], latency_ms=5, drop_rate=0.1, methods=["pull"])
        self.assertEqual(self.call("GET", "/emulator/faults")[1], cfg)
        self.assertEqual(cfg["error_codes"], [429, 503])
        status, cleared = self.call("DELETE", "/emulator/faults")
        self.assertEqual((status, cleared["error_rate"], cleared["drop_rate"], cleared["latency_ms"], cleared["methods"]),
                         (200, 0.0, 0.0, 0, None))
        for bad in ({"error_rate": 2}, {"error_codes": [418]}, {"latency_ms": -1}, {"methods": "x", "bogus": 1},
                    {"count": -1}, {"lost_rate": -0.5}):
            with self.subTest(bad=bad):
                self.assertApiError(self.call("POST", "/emulator/faults", bad), 400, "INVALID_ARGUMENT")

    def test_403_reasons(self):
        """A 403 stands for a missing IAM role by default; `reason` makes it BigQuery's
        throttling or a token without the API's OAuth scope, as Google answers them."""
        tid = self.new_topic()
        bq_path = "/bigquery/v2/projects/p/datasets"
        cases = {
            None: ("The caller does not have permission", "accessDenied", "global", None),
            "accessDenied": ("The caller does not have permission", "accessDenied", "global", None),
            "rateLimitExceeded": ("Exceeded rate limits", "rateLimitExceeded", "usageLimits", None),
            "quotaExceeded": ("Quota exceeded", "quotaExceeded", "usageLimits", None),
            "jobRateLimitExceeded": ("Exceeded rate limits: too many concurrent queries",
                                     "jobRateLimitExceeded", "usageLimits", None),
            "ACCESS_TOKEN_SCOPE_INSUFFICIENT": ("Request had insufficient authentication scopes.", "forbidden",
                                                "global", "ACCESS_TOKEN_SCOPE_INSUFFICIENT"),
        }
        for reason, (message, legacy, domain, info) in cases.items():
            with self.subTest(reason=reason):
                for service, path in (("bigquery", bq_path), ("pubsub", self.topic_path(tid))):
                    status, body = self.call("POST", "/emulator/faults",
                                             {"error_rate": 1, "error_codes": [403], "reason": reason},
                                             service=service)
                    self.assertEqual(status, 200, body)
                    err = self.assertApiError(self.call("GET", path, service=service), 403, "PERMISSION_DENIED")
                    self.assertTrue(err["message"].startswith(message), err)
                    if service == "bigquery":
                        self.assertEqual(err["errors"], [{"message": err["message"], "domain": domain,
                                                          "reason": legacy}])
                    else:
                        self.assertNotIn("errors", err)      # Pub/Sub bodies carry no legacy reason
                    if info is None:
                        self.assertNotIn("details", err)
                    else:
                        self.assertEqual(err["details"], [{
                            "@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": info,
                            "domain": "googleapis.com", "metadata": {"service": service + ".googleapis.com"}}])
                    self.call("DELETE", "/emulator/faults", service=service)
        for bad in ({"error_codes": [403], "reason": "nope"}, {"error_codes": [503], "reason": "rateLimitExceeded"},
                    {"error_codes": [403], "reason": 1}):
            with self.subTest(bad=bad):
                self.assertApiError(self.call("POST", "/emulator/faults", bad), 400, "INVALID_ARGUMENT")

    def test_rate_is_statistical(self):
        tid = self.new_topic()
        self.set_faults(error_rate=0.5, error_codes=[503])
        codes = [self.call("GET", self.topic_path(tid))[0] for _ in range(200)]
        self.assertTrue(40 < codes.count(503) < 160, codes.count(503))
        self.assertEqual(set(codes), {200, 503})


class FaultFlagTests(unittest.TestCase):
    def test_cli_flags_and_seed(self):
        args = ["--fault-error-rate", "0.3", "--fault-error-codes", "429,500", "--fault-methods", "getTopic",
                "--fault-seed", "7"]
        runs = []
        for _ in range(2):
            with EmulatorProcess(extra_args=args, data_dir=None) as emu:
                self.assertEqual(emu.call("PUT", "/v1/projects/p/topics/seeded")[0], 200)
                cfg = emu.call("GET", "/emulator/faults")[1]
                self.assertEqual((cfg["error_rate"], cfg["error_codes"], cfg["methods"]), (0.3, [429, 500], ["getTopic"]))
                runs.append([emu.call("GET", "/v1/projects/p/topics/seeded")[0] for _ in range(30)])
        self.assertEqual(runs[0], runs[1])          # same seed, same sequence
        self.assertTrue({429, 500} & set(runs[0]) and 200 in runs[0], runs[0])


if __name__ == "__main__":
    unittest.main()
