"""In-process unit tests of core pieces: the journal, proto3 JSON helpers,
ApiError bodies, fault decisions, counters."""

import os
import shutil
import tempfile
import unittest

from emulator.core.counters import Counters
from emulator.core.errors import ApiError
from emulator.core.faults import FaultInjector
from emulator.core.journal import Journal, JournalCorrupt
from emulator.core.wire import format_duration, parse_duration, parse_int, rfc3339_ns


class JournalTests(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="bqstream-journal-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def test_replay_compact_append(self):
        j = Journal(self.dir)
        self.assertEqual(list(j.replay()), [])
        j.compact([{"op": "a"}, '{"op":"b"}'])
        j.append({"op": "c"})
        j.append_many([{"op": "d"}, b'{"op":"e"}'])
        j.close()
        j2 = Journal(self.dir)
        self.assertEqual([r["op"] for r in j2.replay()], ["a", "b", "c", "d", "e"])
        self.assertEqual(j2.gen, 1)
        j2.compact([{"op": "z"}])
        j2.close()
        self.assertEqual(sorted(os.listdir(self.dir)), ["journal.2.jsonl", "snapshot.jsonl"])
        self.assertEqual([r["op"] for r in Journal(self.dir).replay()], ["z"])

    def test_torn_tail_ignored_corruption_raises(self):
        j = Journal(self.dir)
        list(j.replay())
        j.compact([])
        j.append({"op": "ok"})
        j.append_raw(b'{"op":"to')
        j.close()
        with self.assertLogs("emulator.journal", "WARNING") as logs:
            self.assertEqual([r["op"] for r in Journal(self.dir).replay()], ["ok"])
        self.assertIn("torn last record", logs.output[0])
        with open(os.path.join(self.dir, "journal.1.jsonl"), "ab") as f:
            f.write(b'xx}\n{"op":"after"}\n')   # the torn record is now followed by more
        with self.assertRaises(JournalCorrupt):
            list(Journal(self.dir).replay())

    def test_interrupted_compaction_leaves_old_state(self):
        j = Journal(self.dir)
        list(j.replay())
        j.compact([{"op": "kept"}])
        j.append({"op": "also"})
        j.close()
        with open(os.path.join(self.dir, "snapshot.jsonl.tmp"), "w") as f:
            f.write('{"journal_gen": 2}\n{"op":"half')
        j = Journal(self.dir)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "snapshot.jsonl.tmp")))
        self.assertEqual([r["op"] for r in j.replay()], ["kept", "also"])

    def test_needs_compaction(self):
        j = Journal(self.dir, compact_bytes=100)
        list(j.replay())
        j.compact([])
        j.append({"op": "x" * (2 << 20)})
        self.assertTrue(j.needs_compaction(live_bytes=10))
        self.assertFalse(j.needs_compaction(live_bytes=2 << 20))
        j.close()


class WireTests(unittest.TestCase):
    def test_rfc3339(self):
        self.assertEqual(rfc3339_ns(0), "1970-01-01T00:00:00Z")
        self.assertEqual(rfc3339_ns(1_500_000_000), "1970-01-01T00:00:01.500Z")
        self.assertEqual(rfc3339_ns(1_000_001_000), "1970-01-01T00:00:01.000001Z")
        self.assertEqual(rfc3339_ns(1_000_000_001), "1970-01-01T00:00:01.000000001Z")

    def test_durations(self):
        self.assertEqual(parse_duration("600s"), 600)
        self.assertEqual(parse_duration("3.5s"), 3.5)
        for bad in ("600", "1m", "", "s", None, 5):
            with self.subTest(bad=bad), self.assertRaises(ValueError):
                parse_duration(bad)
        self.assertEqual(format_duration(600), "600s")
        self.assertEqual(format_duration(3.5), "3.500s")
        self.assertEqual(format_duration(0.000001), "0.000001s")

    def test_parse_int(self):
        self.assertEqual(parse_int(5), 5)
        self.assertEqual(parse_int("42"), 42)
        self.assertEqual(parse_int(" -3 "), -3)
        self.assertEqual(parse_int(7.0), 7)
        for bad in (True, 1.5, "x", None, [1]):
            with self.subTest(bad=bad), self.assertRaises(ValueError):
                parse_int(bad)


class ErrorAndFaultTests(unittest.TestCase):
    def test_api_error_body(self):
        self.assertEqual(ApiError(404, "NOT_FOUND", "gone").body(),
                         {"error": {"code": 404, "message": "gone", "status": "NOT_FOUND"}})
        body = ApiError(400, "INVALID_ARGUMENT", "bad", reason="invalid", location="q",
                        details=[{"@type": "x"}]).body()
        self.assertEqual(body["error"]["errors"], [{"message": "bad", "domain": "global", "reason": "invalid",
                                                    "location": "q"}])
        self.assertEqual(body["error"]["details"], [{"@type": "x"}])
        self.assertEqual(body["error"]["status"], "INVALID_ARGUMENT")

    def test_fault_decisions(self):
        f = FaultInjector(seed=1, initial={"error_rate": 1.0, "error_codes": [429], "methods": ["publish"]})
        self.assertEqual(f.decide("pull"), (0.0, None))
        self.assertEqual(f.decide("publish"), (0.0, 429))
        f.set({"drop_rate": 1.0, "latency_ms": 20})
        self.assertEqual(f.decide("anything"), (0.02, "drop"))
        f.clear()
        self.assertEqual(f.decide("publish"), (0.0, None))

    def test_bigquery_faults_carry_reason(self):
        class Svc:
            name = "bigquery"
        body = FaultInjector().error_for(503, Svc()).body()
        self.assertEqual(body["error"]["errors"][0]["reason"], "backendError")

        class Hooked:
            name = "x"

            def fault_error(self, code):
                return ApiError(code, "UNAVAILABLE", "custom")
        self.assertEqual(FaultInjector().error_for(503, Hooked()).message, "custom")

    def test_counters(self):
        c = Counters()
        c.declare("a")
        c.incr("b", 3)
        c.incr_group("requests", "publish")
        self.assertEqual(c.snapshot(), {"requests": {"publish": 1}, "responses": {}, "a": 0, "b": 3})
        c.reset()
        self.assertEqual(c.snapshot(), {"requests": {}, "responses": {}, "a": 0, "b": 0})


if __name__ == "__main__":
    unittest.main()
