"""Pub/Sub delivery semantics: pull/acknowledge/modifyAckDeadline, fresh ackIds,
redelivery after the deadline and after a nack, deliveryAttempt, dead-letter
forwarding, retry backoff, exactly-once ack failures, long-poll pulls."""

import threading
import time
import unittest

try:
    from .helpers import PubSubTestCase
except ImportError:  # run from inside test/emulator
    from helpers import PubSubTestCase


class DeliveryTests(PubSubTestCase):
    # ackDeadlineSeconds=1 subscriptions (emulator-only minimum) keep expiry tests short
    extra_args = ("--pubsub-min-ack-deadline", "1", "--pubsub-pull-wait-ms", "400")

    def setUp(self):
        self.tid = self.new_topic()

    def ids(self, received):
        return [r["message"]["messageId"] for r in received]

    def test_ack_removes_and_ack_twice_is_fine(self):
        sid = self.new_sub(self.tid)
        ids = self.publish(self.tid, "a", "b", "c")
        got = self.pull(sid)
        self.assertEqual(self.ids(got), ids)
        self.assertEqual(len({r["ackId"] for r in got}), 3)
        self.assertEqual(self.ack(sid, [r["ackId"] for r in got[:2]]), (200, {}))
        self.assertEqual(self.ack(sid, [r["ackId"] for r in got[:2]]), (200, {}))   # twice: not an error
        self.assertEqual(self.modack(sid, [got[2]["ackId"]], 0), (200, {}))
        again = self.pull(sid)
        self.assertEqual(self.ids(again), [ids[2]])

    def test_nack_redelivers_with_fresh_ack_id_and_stale_ack_is_ignored(self):
        sid = self.new_sub(self.tid)
        [mid] = self.publish(self.tid, "x")
        [first] = self.pull(sid)
        self.assertEqual(self.modack(sid, [first["ackId"]], 0), (200, {}))
        [second] = self.pull(sid)
        self.assertEqual(second["message"]["messageId"], mid)
        self.assertNotEqual(second["ackId"], first["ackId"])
        self.assertNotEqual(second["ackId"], mid)
        # the first ackId is stale: acking it must not remove the redelivered message
        self.assertEqual(self.ack(sid, [first["ackId"]]), (200, {}))
        self.assertEqual(self.modack(sid, [second["ackId"]], 0), (200, {}))
        [third] = self.pull(sid)
        self.assertEqual(third["message"]["messageId"], mid)
        self.assertEqual(len({first["ackId"], second["ackId"], third["ackId"]}), 3)
        self.assertEqual(self.ack(sid, [third["ackId"]]), (200, {}))
        self.assertEqual(self.pull(sid), [])

    def test_redelivery_after_deadline_and_extension(self):
        sid = self.new_sub(self.tid, ackDeadlineSeconds=1)
        ids = self.publish(self.tid, "late", "extended")
        got = self.pull(sid)
        self.assertEqual(self.ids(got), ids)
        # extend the second one; the first expires after 1 s
        self.assertEqual(self.modack(sid, [got[1]["ackId"]], 4), (200, {}))
        self.assertEqual(self.pull(sid), [])          # nothing before the deadline
        t0 = time.monotonic()
        again = self.pull(sid, immediately=False)
        while not again and time.monotonic() - t0 < 3:
            again = self.pull(sid, immediately=False)
        self.assertEqual(self.ids(again), [ids[0]])
        self.assertNotEqual(again[0]["ackId"], got[0]["ackId"])
        # the stale ackId of the expired delivery is ignored, the fresh one works
        self.assertEqual(self.ack(sid, [got[0]["ackId"]]), (200, {}))
        self.assertEqual(self.ack(sid, [again[0]["ackId"]]), (200, {}))
        self.assertEqual(self.ack(sid, [got[1]["ackId"]]), (200, {}))
        time.sleep(1.2)
        self.assertEqual(self.pull(sid), [])

    def test_ack_validation(self):
        sid = self.new_sub(self.tid)
        self.publish(self.tid, "v")
        [r] = self.pull(sid)
        self.assertApiError(self.ack(sid, []), 400, "INVALID_ARGUMENT",
                            "You have not specified an ack ID in the request.")
        self.assertApiError(self.call("POST", self.sub_path(sid) + ":acknowledge", {}), 400, "INVALID_ARGUMENT",
                            "You have not specified an ack ID in the request.")
        self.assertApiError(self.ack(sid, [r["ackId"], "bogus"]), 400, "INVALID_ARGUMENT",
                            "You have passed an invalid ack ID to the service (ack_id=bogus).")
        # the request was refused as a whole: the valid ackId is still outstanding
        self.assertEqual(self.modack(sid, [r["ackId"]], 0), (200, {}))
        self.assertEqual(len(self.pull(sid)), 1)
        self.assertApiError(self.modack(sid, ["bogus"], 10), 400, "INVALID_ARGUMENT",
                            "You have passed an invalid ack ID to the service (ack_id=bogus).")
        self.assertApiError(self.modack(sid, [r["ackId"]], 601), 400, "INVALID_ARGUMENT",
                            "Invalid ack deadline given (ack_deadline=601). The ack deadline must be between "
                            "0 and 600 seconds.")
        self.assertApiError(self.modack(sid, [r["ackId"]], -1), 400, "INVALID_ARGUMENT")
        self.assertApiError(self.modack(sid, [], 10), 400, "INVALID_ARGUMENT",
                            "You have not specified an ack ID in the request.")
        self.assertApiError(self.ack(self.unique("nosub"), ["000000000000-1"]), 404, "NOT_FOUND")

    def test_pull_arguments(self):
        sid = self.new_sub(self.tid)
        for body in ({"maxMessages": 0}, {"maxMessages": -3}, {}):
            with self.subTest(body=body):
                self.assertApiError(self.call("POST", self.sub_path(sid) + ":pull", body), 400, "INVALID_ARGUMENT",
                                    "You have passed an invalid argument to the service (argument=max_messages).")
        self.assertApiError(self.call("POST", self.sub_path(sid) + ":pull", {"maxMessages": 1, "x": 1}),
                            400, "INVALID_ARGUMENT")
        self.publish(self.tid, *[str(i) for i in range(1000)])
        self.publish(self.tid, *[str(i) for i in range(500)])
        self.assertEqual(len(self.pull(sid, 5000)), 1000)     # at most 1000 per response
        self.assertEqual(len(self.pull(sid, 7)), 7)
        status, body = self.call("POST", self.sub_path(sid) + ":pull?$alt=json%3Benum-encoding=int&prettyPrint=false",
                                 {"max_messages": "1000", "return_immediately": True})
        self.assertEqual(status, 200)
        self.assertEqual(len(body["receivedMessages"]), 493)

    def test_empty_pull_shapes_and_long_poll(self):
        sid = self.new_sub(self.tid)
        t0 = time.monotonic()
        self.assertEqual(self.call("POST", self.sub_path(sid) + ":pull",
                                   {"maxMessages": 5, "returnImmediately": True}), (200, {}))
        self.assertLess(time.monotonic() - t0, 0.3)
        t0 = time.monotonic()
        self.assertEqual(self.call("POST", self.sub_path(sid) + ":pull", {"maxMessages": 5}), (200, {}))
        self.assertGreaterEqual(time.monotonic() - t0, 0.35)      # held for --pubsub-pull-wait-ms
        # a waiting pull returns as soon as something is published
        timer = threading.Timer(0.15, lambda: self.publish(self.tid, "wake"))
        timer.start()
        t0 = time.monotonic()
        got = self.pull(sid, immediately=False)
        timer.join()
        self.assertEqual(self.texts(got), ["wake"])
        self.assertLess(time.monotonic() - t0, 0.35)

    def test_pull_on_deleted_subscription_while_waiting(self):
        sid = self.new_sub(self.tid)
        timer = threading.Timer(0.1, lambda: self.call("DELETE", self.sub_path(sid)))
        timer.start()
        resp = self.call("POST", self.sub_path(sid) + ":pull", {"maxMessages": 1})
        timer.join()
        self.assertApiError(resp, 404, "NOT_FOUND")

    def test_delivery_attempt_only_with_dead_letter_policy(self):
        plain = self.new_sub(self.tid)
        dlq = self.new_topic("dlq")
        counted = self.new_sub(self.tid, deadLetterPolicy={"deadLetterTopic": "projects/p/topics/%s" % dlq})
        self.publish(self.tid, "m")
        [r] = self.pull(plain)
        self.assertNotIn("deliveryAttempt", r)
        [r] = self.pull(counted)
        self.assertEqual(r["deliveryAttempt"], 1)
        self.modack(counted, [r["ackId"]], 0)
        [r] = self.pull(counted)
        self.assertEqual(r["deliveryAttempt"], 2)

    def test_dead_letter_after_max_attempts(self):
        dlq = self.new_topic("dlq")
        dlq_sub = self.new_sub(dlq)
        sid = self.new_sub(self.tid, deadLetterPolicy={"deadLetterTopic": "projects/p/topics/%s" % dlq,
                                                       "maxDeliveryAttempts": 5})
        before = self.call("GET", "/emulator/counters")[1]["messages_dead_lettered"]
        [mid] = self.publish(self.tid, "poison", attributes={"origin": "test"})
        keep = self.publish(self.tid, "fine")
        attempts = []
        for _ in range(5):
            got = {r["message"]["messageId"]: r for r in self.pull(sid)}
            r = got[mid]
            attempts.append(r["deliveryAttempt"])
            self.assertEqual(self.modack(sid, [r["ackId"]], 0), (200, {}))
        self.assertEqual(attempts, [1, 2, 3, 4, 5])
        # after the 5th failed delivery it is on the dead-letter topic, not redelivered
        self.assertEqual(self.pull(sid), [])
        [d] = self.pull(dlq_sub)
        self.assertEqual(self.texts([d]), ["poison"])
        self.assertNotEqual(d["message"]["messageId"], mid)
        attrs = d["message"]["attributes"]
        self.assertEqual(attrs["origin"], "test")
        self.assertEqual(attrs["CloudPubSubDeadLetterSourceDeliveryCount"], "5")
        self.assertEqual(attrs["CloudPubSubDeadLetterSourceSubscription"], sid)
        self.assertEqual(attrs["CloudPubSubDeadLetterSourceSubscriptionProject"], "p")
        self.assertRegex(attrs["CloudPubSubDeadLetterSourceTopicPublishTime"],
                         r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$")
        self.assertNotIn("deliveryAttempt", d)   # the DLQ subscription has no policy of its own
        self.assertEqual(self.call("GET", "/emulator/counters")[1]["messages_dead_lettered"], before + 1)
        self.assertEqual(len(keep), 1)

    def test_expiry_counts_as_attempt(self):
        dlq = self.new_topic("dlq")
        sid = self.new_sub(self.tid, ackDeadlineSeconds=1,
                           deadLetterPolicy={"deadLetterTopic": "projects/p/topics/%s" % dlq})
        self.publish(self.tid, "slow")
        [r] = self.pull(sid)
        self.assertEqual(r["deliveryAttempt"], 1)
        got = self.pull_all(sid, 1, timeout=3)
        self.assertEqual([g["deliveryAttempt"] for g in got], [2])

    def test_retry_policy_backoff(self):
        sid = self.new_sub(self.tid, retryPolicy={"minimumBackoff": "1s", "maximumBackoff": "5s"})
        self.publish(self.tid, "backoff")
        [r] = self.pull(sid)
        self.modack(sid, [r["ackId"]], 0)
        self.assertEqual(self.pull(sid), [])        # not before minimumBackoff
        t0 = time.monotonic()
        got = self.pull_all(sid, 1, timeout=3)
        self.assertEqual(self.texts(got), ["backoff"])
        self.assertGreater(time.monotonic() - t0, 0.5)

    def test_exactly_once_stale_ack_fails(self):
        sid = self.new_sub(self.tid, enableExactlyOnceDelivery=True)
        self.publish(self.tid, "eod")
        [r] = self.pull(sid)
        self.assertEqual(self.ack(sid, [r["ackId"]]), (200, {}))
        err = self.assertApiError(self.ack(sid, [r["ackId"]]), 400, "INVALID_ARGUMENT")
        [info] = err["details"]
        self.assertEqual(info["@type"], "type.googleapis.com/google.rpc.ErrorInfo")
        self.assertEqual(info["reason"], "EXACTLY_ONCE_ACKID_FAILURE")
        self.assertEqual(info["metadata"], {r["ackId"]: "PERMANENT_FAILURE_INVALID_ACK_ID"})

    def test_exactly_once_partial_failure(self):
        # an acknowledge naming a valid and a stale ack ID acknowledges the valid one and
        # names only the stale one in the ErrorInfo, as Pub/Sub does; modAcks alike
        sid = self.new_sub(self.tid, enableExactlyOnceDelivery=True)
        self.publish(self.tid, "a", "b")
        got = self.pull_all(sid, 2, timeout=3)
        stale = got[0]["ackId"]
        self.assertEqual(self.ack(sid, [stale]), (200, {}))
        err = self.assertApiError(self.modack(sid, [got[1]["ackId"], stale], 30), 400, "INVALID_ARGUMENT")
        self.assertEqual(err["details"][0]["metadata"], {stale: "PERMANENT_FAILURE_INVALID_ACK_ID"})
        self.assertEqual(err["details"][0]["domain"], "pubsub.googleapis.com")
        err = self.assertApiError(self.ack(sid, [stale, got[1]["ackId"]]), 400, "INVALID_ARGUMENT")
        self.assertEqual(err["details"][0]["metadata"], {stale: "PERMANENT_FAILURE_INVALID_ACK_ID"})
        # "b" was acknowledged all the same: nothing comes back
        self.assertEqual(self.ack(sid, [got[1]["ackId"]])[0], 400)
        self.assertEqual(self.pull(sid), [])

    def test_exactly_once_transient_failure_injected(self):
        # the label makes the next 2 acknowledged ack IDs fail transiently and stay leased
        sid = self.new_sub(self.tid, enableExactlyOnceDelivery=True,
                           labels={"emulator_transient_ack_failures": "2"})
        self.publish(self.tid, "a", "b", "c")
        ids = [r["ackId"] for r in self.pull_all(sid, 3, timeout=3)]
        err = self.assertApiError(self.ack(sid, ids), 400, "INVALID_ARGUMENT")
        self.assertEqual(err["details"][0]["reason"], "EXACTLY_ONCE_ACKID_FAILURE")
        self.assertEqual(err["details"][0]["metadata"],
                         {ids[0]: "TRANSIENT_FAILURE_UNORDERED_ACK_ID",
                          ids[1]: "TRANSIENT_FAILURE_UNORDERED_ACK_ID"})
        # tried again, they are taken; the third was acknowledged the first time
        self.assertEqual(self.ack(sid, ids[:2]), (200, {}))
        err = self.assertApiError(self.ack(sid, ids[2:]), 400, "INVALID_ARGUMENT")
        self.assertEqual(err["details"][0]["metadata"], {ids[2]: "PERMANENT_FAILURE_INVALID_ACK_ID"})

    def test_counters(self):
        self.call("POST", "/emulator/counters/reset")
        sid = self.new_sub(self.tid)
        self.publish(self.tid, "1", "2", "3")
        got = self.pull(sid)
        self.modack(sid, [got[0]["ackId"]], 0)
        self.ack(sid, [r["ackId"] for r in got[1:]])
        again = self.pull(sid)
        self.ack(sid, [again[0]["ackId"]])
        status, c = self.call("GET", "/emulator/counters")
        self.assertEqual(status, 200)
        self.assertEqual(c["messages_published"], 3)
        self.assertEqual(c["messages_delivered"], 4)
        self.assertEqual(c["messages_acked"], 3)
        self.assertEqual(c["messages_redelivered"], 1)
        self.assertEqual(c["messages_nacked"], 1)
        self.assertEqual(c["requests"]["publish"], 1)
        self.assertEqual(c["requests"]["pull"], 2)
        self.assertEqual(c["requests"]["acknowledge"], 2)
        self.assertEqual(c["responses"]["200"], 7)
        status, state = self.call("GET", "/emulator/state")
        self.assertEqual(state["subscriptions"]["projects/p/subscriptions/%s" % sid],
                         {"topic": "projects/p/topics/%s" % self.tid, "available": 0, "outstanding": 0, "backoff": 0})


if __name__ == "__main__":
    unittest.main()
