"""Pub/Sub topics and subscriptions: create/get/list/patch/delete, resource
name rules, defaults, validation errors and their Google error bodies."""

import unittest

try:
    from .helpers import PubSubTestCase
except ImportError:  # run from inside test/emulator
    from helpers import PubSubTestCase


class TopicTests(PubSubTestCase):
    def test_create_get_delete(self):
        tid = self.unique("orders")
        status, body = self.call("PUT", self.topic_path(tid))
        self.assertEqual((status, body), (200, {"name": "projects/p/topics/%s" % tid}))
        self.assertEqual(self.call("GET", self.topic_path(tid)), (200, {"name": "projects/p/topics/%s" % tid}))
        self.assertEqual(self.call("DELETE", self.topic_path(tid)), (200, {}))
        self.assertApiError(self.call("GET", self.topic_path(tid)), 404, "NOT_FOUND",
                            "Resource not found (resource=%s)." % tid)
        self.assertApiError(self.call("DELETE", self.topic_path(tid)), 404, "NOT_FOUND")

    def test_create_twice_is_already_exists(self):
        tid = self.new_topic()
        self.assertApiError(self.call("PUT", self.topic_path(tid), {}), 409, "ALREADY_EXISTS",
                            "Resource already exists in the project (resource=%s)." % tid)

    def test_create_with_body_fields(self):
        tid = self.unique("lbl")
        status, body = self.call("PUT", self.topic_path(tid),
                                 {"labels": {"env": "test"}, "messageRetentionDuration": "3600s",
                                  "name": "ignored-because-the-path-wins"})
        self.assertEqual(status, 200, body)
        self.assertEqual(body, {"name": "projects/p/topics/%s" % tid, "labels": {"env": "test"},
                                "messageRetentionDuration": "3600s"})

    def test_invalid_ids(self):
        for tid in ("ab", "1abc", "goog-x", "GOOGx", "bad$char", "a" * 256):
            with self.subTest(tid=tid):
                self.assertApiError(
                    self.call("PUT", self.topic_path(tid)), 400, "INVALID_ARGUMENT",
                    "Invalid resource name given (name=projects/p/topics/%s). Refer to "
                    "https://cloud.google.com/pubsub/docs/pubsub-basics#resource_names for more information."
                    % tid)
        # every legal character class, percent-encoded on the wire
        for tid in ("abc", "a-b_c.d~e+f%g", "A" + "b" * 254):
            with self.subTest(tid=tid):
                from urllib.parse import quote
                status, body = self.call("PUT", "/v1/projects/p/topics/" + quote(tid, safe=""))
                self.assertEqual(status, 200, body)
                self.assertEqual(body["name"], "projects/p/topics/" + tid)

    def test_unknown_field_rejected(self):
        self.assertApiError(self.call("PUT", self.topic_path(self.unique()), {"labelz": {}}), 400,
                            "INVALID_ARGUMENT",
                            'Invalid JSON payload received. Unknown name "labelz": Cannot find field.')

    def test_bad_json(self):
        err = self.assertApiError(self.call("PUT", self.topic_path(self.unique()), b"{not json"), 400,
                                  "INVALID_ARGUMENT")
        self.assertTrue(err["message"].startswith("Invalid JSON payload received."), err)

    def test_retention_bounds(self):
        err = self.assertApiError(self.call("PUT", self.topic_path(self.unique()),
                                            {"messageRetentionDuration": "60s"}), 400, "INVALID_ARGUMENT")
        self.assertIn("message_retention_duration", err["message"])

    def test_list_paging_and_projects(self):
        project = self.unique("proj")
        tids = sorted(self.unique("lt") for _ in range(5))
        for tid in tids:
            self.assertEqual(self.call("PUT", "/v1/projects/%s/topics/%s" % (project, tid))[0], 200)
        # another project's topics are not listed
        self.assertEqual(self.call("PUT", "/v1/projects/%s-other/topics/x%s" % (project, tids[0]))[0], 200)
        seen, token, pages = [], "", 0
        while True:
            q = "?pageSize=2" + ("&pageToken=" + token if token else "") + "&prettyPrint=false&$alt=json"
            status, body = self.call("GET", "/v1/projects/%s/topics%s" % (project, q))
            self.assertEqual(status, 200, body)
            pages += 1
            seen += [t["name"].rsplit("/", 1)[1] for t in body["topics"]]
            token = body.get("nextPageToken", "")
            if not token:
                break
        self.assertEqual(seen, tids)
        self.assertEqual(pages, 3)
        self.assertEqual(self.call("GET", "/v1/projects/%s-empty/topics" % project), (200, {}))
        self.assertApiError(self.call("GET", "/v1/projects/p/topics?pageSize=-1"), 400, "INVALID_ARGUMENT")

    def test_update_topic_labels(self):
        tid = self.new_topic()
        status, body = self.call("PATCH", self.topic_path(tid),
                                 {"topic": {"labels": {"a": "b"}}, "updateMask": "labels"})
        self.assertEqual(status, 200, body)
        self.assertEqual(body["labels"], {"a": "b"})
        self.assertApiError(self.call("PATCH", self.topic_path(tid), {"topic": {}}), 400, "INVALID_ARGUMENT")

    def test_unknown_route_and_method(self):
        self.assertApiError(self.call("GET", "/v1/projects/p/nothing"), 404, "NOT_FOUND")
        self.assertApiError(self.call("POST", self.topic_path("abc") + ":frobnicate"), 501, "UNIMPLEMENTED")


class SubscriptionTests(PubSubTestCase):
    def test_create_defaults(self):
        tid = self.new_topic()
        sid = self.unique("sub")
        status, body = self.call("PUT", self.sub_path(sid), {"topic": "projects/p/topics/%s" % tid})
        self.assertEqual(status, 200, body)
        self.assertEqual(body, {
            "name": "projects/p/subscriptions/%s" % sid,
            "topic": "projects/p/topics/%s" % tid,
            "pushConfig": {},
            "ackDeadlineSeconds": 10,
            "messageRetentionDuration": "604800s",
            "expirationPolicy": {"ttl": "2678400s"},
            "state": "ACTIVE",
        })
        self.assertEqual(self.call("GET", self.sub_path(sid)), (200, body))

    def test_create_full(self):
        tid, dlq = self.new_topic(), self.new_topic("dlq")
        sid = self.unique("sub")
        status, body = self.call("PUT", self.sub_path(sid), {
            "topic": "projects/p/topics/%s" % tid, "ackDeadlineSeconds": "30",
            "messageRetentionDuration": "86400s", "labels": {"team": "data"},
            "deadLetterPolicy": {"deadLetterTopic": "projects/p/topics/%s" % dlq},
            "retryPolicy": {"minimumBackoff": "1.5s"}, "enable_message_ordering": True,
            "enableExactlyOnceDelivery": False, "expirationPolicy": {}})
        self.assertEqual(status, 200, body)
        self.assertEqual(body["ackDeadlineSeconds"], 30)
        self.assertEqual(body["messageRetentionDuration"], "86400s")
        self.assertEqual(body["labels"], {"team": "data"})
        self.assertEqual(body["deadLetterPolicy"],
                         {"deadLetterTopic": "projects/p/topics/%s" % dlq, "maxDeliveryAttempts": 5})
        self.assertEqual(body["retryPolicy"], {"minimumBackoff": "1.500s", "maximumBackoff": "600s"})
        self.assertTrue(body["enableMessageOrdering"])
        self.assertNotIn("enableExactlyOnceDelivery", body)
        self.assertEqual(body["expirationPolicy"], {})

    def test_validation(self):
        tid = self.new_topic()
        topic = "projects/p/topics/%s" % tid
        cases = [
            ({"topic": topic, "ackDeadlineSeconds": 5},
             "Invalid ack deadline given (ack_deadline=5). The ack deadline must be between 10 and 600 seconds."),
            ({"topic": topic, "ackDeadlineSeconds": 601},
             "Invalid ack deadline given (ack_deadline=601). The ack deadline must be between 10 and 600 seconds."),
            ({"topic": topic, "messageRetentionDuration": "599s"}, None),
            ({"topic": topic, "messageRetentionDuration": "2678401s"}, None),
            ({"topic": topic, "messageRetentionDuration": "ten minutes"}, None),
            ({"topic": topic, "deadLetterPolicy": {"deadLetterTopic": topic, "maxDeliveryAttempts": 4}}, None),
            ({"topic": topic, "deadLetterPolicy": {"deadLetterTopic": topic, "maxDeliveryAttempts": 101}}, None),
            ({"topic": topic, "retryPolicy": {"minimumBackoff": "601s"}}, None),
            ({"topic": topic, "ackDeadlineSeconds": "ten"}, None),
            ({"topic": topic, "bogus": 1}, 'Invalid JSON payload received. Unknown name "bogus": Cannot find field.'),
            ({"topic": "orders"}, None),
            ({}, None),
        ]
        for body, message in cases:
            with self.subTest(body=body):
                self.assertApiError(self.call("PUT", self.sub_path(self.unique()), body), 400, "INVALID_ARGUMENT",
                                    message)

    def test_missing_topics(self):
        self.assertApiError(self.call("PUT", self.sub_path(self.unique()), {"topic": "projects/p/topics/nope-x"}),
                            404, "NOT_FOUND", "Resource not found (resource=nope-x).")
        tid = self.new_topic()
        self.assertApiError(self.call("PUT", self.sub_path(self.unique()), {
            "topic": "projects/p/topics/%s" % tid,
            "deadLetterPolicy": {"deadLetterTopic": "projects/p/topics/no-dlq"}}), 404, "NOT_FOUND")

    def test_already_exists_and_delete(self):
        tid = self.new_topic()
        sid = self.new_sub(tid)
        self.assertApiError(self.call("PUT", self.sub_path(sid), {"topic": "projects/p/topics/%s" % tid}),
                            409, "ALREADY_EXISTS", "Resource already exists in the project (resource=%s)." % sid)
        self.assertEqual(self.call("DELETE", self.sub_path(sid)), (200, {}))
        self.assertApiError(self.call("GET", self.sub_path(sid)), 404, "NOT_FOUND",
                            "Resource not found (resource=%s)." % sid)
        self.assertApiError(self.call("POST", self.sub_path(sid) + ":pull", {"maxMessages": 1}), 404, "NOT_FOUND")

    def test_unsupported_delivery_types(self):
        tid = self.new_topic()
        for extra in ({"pushConfig": {"pushEndpoint": "https://example.com/push"}},
                      {"filter": "attributes.x = \"1\""}, {"bigqueryConfig": {"table": "p.d.t"}}):
            with self.subTest(extra=extra):
                body = dict(extra, topic="projects/p/topics/%s" % tid)
                self.assertApiError(self.call("PUT", self.sub_path(self.unique()), body), 501, "UNIMPLEMENTED")

    def test_topic_delete_detaches(self):
        tid = self.new_topic()
        sid = self.new_sub(tid)
        self.publish(tid, "before delete")
        self.assertEqual(self.call("DELETE", self.topic_path(tid)), (200, {}))
        status, body = self.call("GET", self.sub_path(sid))
        self.assertEqual(body["topic"], "_deleted-topic_")
        # messages already queued stay pullable
        self.assertEqual(self.texts(self.pull(sid)), ["before delete"])
        # a new topic with the same name does not re-attach the old subscription
        self.assertEqual(self.call("PUT", self.topic_path(tid))[0], 200)
        self.publish(tid, "after recreate")
        self.assertEqual(self.pull(sid), [])
        self.assertEqual(self.call("GET", self.topic_path(tid) + "/subscriptions"), (200, {}))

    def test_list_subscriptions(self):
        project = self.unique("lp")
        self.assertEqual(self.call("PUT", "/v1/projects/%s/topics/top" % project)[0], 200)
        sids = sorted(self.unique("ls") for _ in range(3))
        for sid in sids:
            self.assertEqual(self.call("PUT", "/v1/projects/%s/subscriptions/%s" % (project, sid),
                                       {"topic": "projects/%s/topics/top" % project})[0], 200)
        status, body = self.call("GET", "/v1/projects/%s/subscriptions?pageSize=2" % project)
        self.assertEqual([s["name"] for s in body["subscriptions"]],
                         ["projects/%s/subscriptions/%s" % (project, s) for s in sids[:2]])
        status, body2 = self.call("GET", "/v1/projects/%s/subscriptions?pageSize=2&pageToken=%s"
                                  % (project, body["nextPageToken"]))
        self.assertEqual([s["name"] for s in body2["subscriptions"]], ["projects/%s/subscriptions/%s" % (project, sids[2])])
        self.assertNotIn("nextPageToken", body2)
        status, body = self.call("GET", "/v1/projects/%s/topics/top/subscriptions" % project)
        self.assertEqual(body, {"subscriptions": ["projects/%s/subscriptions/%s" % (project, s) for s in sids]})
        self.assertApiError(self.call("GET", "/v1/projects/%s/topics/nope/subscriptions" % project), 404, "NOT_FOUND")

    def test_patch(self):
        tid, dlq = self.new_topic(), self.new_topic("dlq")
        sid = self.new_sub(tid)
        status, body = self.call("PATCH", self.sub_path(sid), {
            "subscription": {"ackDeadlineSeconds": 60, "labels": {"x": "y"},
                             "deadLetterPolicy": {"deadLetterTopic": "projects/p/topics/%s" % dlq,
                                                  "maxDeliveryAttempts": 7}},
            "updateMask": "ackDeadlineSeconds,labels,dead_letter_policy"})
        self.assertEqual(status, 200, body)
        self.assertEqual(body["ackDeadlineSeconds"], 60)
        self.assertEqual(body["labels"], {"x": "y"})
        self.assertEqual(body["deadLetterPolicy"]["maxDeliveryAttempts"], 7)
        # masked but absent: back to the default / removed
        status, body = self.call("PATCH", self.sub_path(sid), {"subscription": {}, "updateMask": "ackDeadlineSeconds,deadLetterPolicy"})
        self.assertEqual(body["ackDeadlineSeconds"], 10)
        self.assertNotIn("deadLetterPolicy", body)
        self.assertApiError(self.call("PATCH", self.sub_path(sid), {"subscription": {"topic": "x"}, "updateMask": "topic"}),
                            400, "INVALID_ARGUMENT", "Invalid update_mask provided in the UpdateSubscriptionRequest: "
                            "the 'topic' field in the Subscription is not mutable.")
        self.assertApiError(self.call("PATCH", self.sub_path(sid), {"subscription": {}, "updateMask": "nope"}),
                            400, "INVALID_ARGUMENT")
        self.assertApiError(self.call("PATCH", self.sub_path(sid), {"subscription": {"ackDeadlineSeconds": 700},
                                                                    "updateMask": "ackDeadlineSeconds"}),
                            400, "INVALID_ARGUMENT")


if __name__ == "__main__":
    unittest.main()
