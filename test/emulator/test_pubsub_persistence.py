"""Pub/Sub state across restarts with --data-dir: kill -9 loses no published
message, acks are remembered, resources and deletions survive, compaction,
retention applied to replayed messages, torn journal tails."""

import base64
import json
import os
import time
import unittest

try:
    from .helpers import EmulatorProcess, PubSubTestCase
except ImportError:  # run from inside test/emulator
    from helpers import EmulatorProcess, PubSubTestCase


class PersistenceTests(PubSubTestCase):
    data_dir = True

    def restart(self, hard=True):
        self.emu.restart(hard=hard)

    def drain(self, sid):
        """Pull (without acking) everything currently available."""
        out = []
        while True:
            got = self.pull(sid)
            if not got:
                return out
            out.extend(got)

    def test_kill9_loses_no_published_message(self):
        tid = self.new_topic()
        sid = self.new_sub(tid)
        other = self.new_sub(tid)
        published = {}
        for batch in range(5):
            payloads = ["order-%d-%d" % (batch, i) for i in range(600)]
            for mid, p in zip(self.publish(tid, *payloads), payloads):
                published[mid] = p
        got = self.drain(sid)
        self.assertEqual(len(got), 3000)
        acked = {r["message"]["messageId"] for r in got[::3]}
        for i in range(0, 1000, 250):
            self.assertEqual(self.ack(sid, [r["ackId"] for r in got[::3][i:i + 250]]), (200, {}))
        # a few more published after the pulls, never pulled
        for mid, p in zip(self.publish(tid, "tail-1", "tail-2"), ["tail-1", "tail-2"]):
            published[mid] = p
        old_ids = set(published)

        self.restart(hard=True)

        back = self.drain(sid)
        back_ids = [r["message"]["messageId"] for r in back]
        self.assertEqual(len(back_ids), len(set(back_ids)))
        self.assertEqual(set(back_ids), set(published) - acked)
        for r in back:
            self.assertEqual(base64.b64decode(r["message"]["data"]).decode(), published[r["message"]["messageId"]])
        # the fan-out copy was never acked: all of it is there
        self.assertEqual({r["message"]["messageId"] for r in self.drain(other)}, set(published))
        # message IDs keep growing after the restart: no reuse
        [new_id] = self.publish(tid, "after restart")
        self.assertNotIn(new_id, old_ids)
        self.assertGreater(int(new_id), max(int(i) for i in old_ids))

    def test_resources_and_deletions_survive(self):
        tid, dlq, gone = self.new_topic(), self.new_topic("dlq"), self.new_topic("gone")
        sid = self.new_sub(tid, ackDeadlineSeconds=42, labels={"a": "b"},
                           deadLetterPolicy={"deadLetterTopic": "projects/p/topics/%s" % dlq})
        orphan = self.new_sub(gone)
        deleted = self.new_sub(tid)
        self.publish(gone, "orphaned")
        self.assertEqual(self.call("DELETE", self.topic_path(gone))[0], 200)
        self.assertEqual(self.call("DELETE", self.sub_path(deleted))[0], 200)
        self.assertEqual(self.call("PATCH", self.sub_path(sid), {"subscription": {"labels": {"c": "d"}},
                                                                 "updateMask": "labels"})[0], 200)
        before = self.call("GET", self.sub_path(sid))[1]

        self.restart(hard=True)

        self.assertEqual(self.call("GET", self.sub_path(sid)), (200, before))
        self.assertEqual(before["labels"], {"c": "d"})
        self.assertEqual(self.call("GET", self.topic_path(dlq))[0], 200)
        self.assertEqual(self.call("GET", self.topic_path(gone))[0], 404)
        self.assertEqual(self.call("GET", self.sub_path(deleted))[0], 404)
        self.assertEqual(self.call("GET", self.sub_path(orphan))[1]["topic"], "_deleted-topic_")
        self.assertEqual(self.texts(self.pull(orphan)), ["orphaned"])
        status, body = self.call("GET", self.topic_path(tid) + "/subscriptions")
        self.assertEqual(body["subscriptions"], ["projects/p/subscriptions/%s" % sid])

    def test_sigterm_exits_zero_and_keeps_state(self):
        tid = self.new_topic()
        sid = self.new_sub(tid)
        self.publish(tid, "kept")
        self.assertEqual(self.emu.terminate(), 0)
        self.assertFalse(os.path.exists(self.emu.ports_file))   # removed on a clean exit
        self.emu.start()
        self.assertEqual(self.texts(self.pull(sid)), ["kept"])


class CompactionTests(PubSubTestCase):
    data_dir = True
    extra_args = ("--journal-compact-mb", "0.2")

    def test_compaction_keeps_state(self):
        tid = self.new_topic()
        sid = self.new_sub(tid)
        jdir = os.path.join(self.emu.data_dir, "pubsub")
        first_gen = [f for f in os.listdir(jdir) if f.startswith("journal.")]
        kept = []
        for round_ in range(12):
            ids = self.publish(tid, *["x" * 200] * 500)
            got = self.pull(sid)
            self.assertEqual(len(got), 500)
            self.ack(sid, [r["ackId"] for r in got[1:]])   # keep one unacked per round
            kept.append(got[0]["message"]["messageId"])
            self.modack(sid, [got[0]["ackId"]], 600)
            self.assertEqual(len(ids), 500)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:     # the housekeeping thread compacts
            gens = [f for f in os.listdir(jdir) if f.startswith("journal.")]
            if gens != first_gen:
                break
            time.sleep(0.1)
        self.assertNotEqual(gens, first_gen, "journal was never compacted")
        self.assertLess(os.path.getsize(os.path.join(jdir, gens[0])), 2 << 20)
        self.emu.restart(hard=True)
        got = self.pull(sid)
        self.assertEqual(sorted(r["message"]["messageId"] for r in got), sorted(kept))


class ReplayEdgeTests(unittest.TestCase):
    """Data dirs written by hand: old messages past retention, torn tails."""

    def write_state(self, root, records, journal_tail=b""):
        d = os.path.join(root, "pubsub")
        os.makedirs(d)
        with open(os.path.join(d, "snapshot.jsonl"), "w") as f:
            f.write(json.dumps({"journal_gen": 3}) + "\n")
            for r in records:
                f.write(json.dumps(r) + "\n")
        with open(os.path.join(d, "journal.3.jsonl"), "wb") as f:
            f.write(journal_tail)

    def test_retention_and_torn_tail(self):
        emu = EmulatorProcess(start=False)
        self.addCleanup(emu.stop)
        now = time.time_ns()
        day = 86400 * 10**9
        sub_cfg = {"pushConfig": {}, "ackDeadlineSeconds": 10, "messageRetentionDuration": "604800s",
                   "expirationPolicy": {"ttl": "2678400s"}, "_retention_s": 604800.0, "_retry": None}

        def msg(mid, text, ts):
            return [ts, {"data": base64.b64encode(text.encode()).decode(), "messageId": str(mid),
                         "publishTime": "2020-01-01T00:00:00Z"}]
        self.write_state(emu.data_dir, [
            {"op": "topic", "name": "projects/p/topics/old", "cfg": {}},
            {"op": "sub", "name": "projects/p/subscriptions/old-sub", "topic": "projects/p/topics/old",
             "cfg": sub_cfg},
            {"op": "msgs", "sub": "projects/p/subscriptions/old-sub",
             "m": [msg(100, "eight days old", now - 8 * day), msg(101, "six days old", now - 6 * day)]},
        ], journal_tail=(json.dumps({"op": "ack", "sub": "projects/p/subscriptions/old-sub", "ids": ["999"]})
                         + "\n" + '{"op":"pub","ts":1,"subs"').encode())
        emu.start()
        status, body = emu.call("POST", "/v1/projects/p/subscriptions/old-sub:pull",
                                {"maxMessages": 10, "returnImmediately": True})
        self.assertEqual(status, 200, body)
        self.assertEqual([r["message"]["messageId"] for r in body["receivedMessages"]], ["101"])
        self.assertEqual(emu.call("GET", "/emulator/counters")[1]["messages_dropped_retention"], 1)
        self.assertIn("torn last record", emu.log())
        # new IDs continue after the replayed ones
        status, body = emu.call("POST", "/v1/projects/p/topics/old:publish", {"messages": [{"data": "eA=="}]})
        self.assertGreater(int(body["messageIds"][0]), 101)

    def test_corrupt_journal_refuses_to_start(self):
        emu = EmulatorProcess(start=False)
        self.addCleanup(emu.stop)
        self.write_state(emu.data_dir, [], journal_tail=b'{"op":"topic",garbage}\n{"op":"ids","next":5}\n')
        with self.assertRaises(Exception) as cm:
            emu.start()
        self.assertIn("cannot load pubsub state", str(cm.exception))
        self.assertIn("unreadable record", str(cm.exception))


if __name__ == "__main__":
    unittest.main()
