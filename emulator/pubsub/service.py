"""Pub/Sub v1 REST service: routing, request bodies, resource validation.

Maps `/v1/projects/{p}/topics...` and `/v1/projects/{p}/subscriptions...` to
the broker. This module owns everything about the wire format of requests:
field names (lowerCamelCase, plus the snake_case names proto3 JSON parsers also
accept), unknown-field rejection ("Invalid JSON payload received. Unknown name
..."), types, ranges and defaults, and the error texts real Pub/Sub answers
with. Query parameters other than pageSize/pageToken ($alt, alt, prettyPrint,
fields, key...) are ignored.
"""

import base64
import binascii
import json
import re

from ..core.errors import ApiError, bad_request_field, unimplemented
from ..core.server import RawJSON
from ..core.wire import format_duration, parse_duration, parse_int
from . import messages, names
from .broker import Broker

DEFAULT_ACK_DEADLINE = 10
# Pub/Sub and Google's emulator hold a pull that finds nothing for about 90 s
# (Google's emulator: 89 s) before answering {}: a client that gives up
# sooner must be seen doing so here too.
DEFAULT_PULL_WAIT_MS = 90000
MAX_ACK_DEADLINE = 600
DEFAULT_RETENTION = 604800          # 7 days
MIN_RETENTION, MAX_RETENTION = 600, 2678400   # 10 minutes .. 31 days
DEFAULT_TTL = "2678400s"
MIN_TTL = 86400
DEFAULT_MAX_ATTEMPTS = 5
MIN_ATTEMPTS, MAX_ATTEMPTS = 5, 100
DEFAULT_MIN_BACKOFF, DEFAULT_MAX_BACKOFF = 10.0, 600.0
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 100, 1000

_RESOURCE = re.compile(r"^/v1/projects/([^/]+)/(topics|subscriptions)/([^/:]+)(?::([A-Za-z]+))?$")
_LIST = re.compile(r"^/v1/projects/([^/]+)/(topics|subscriptions)$")
_TOPIC_SUBS = re.compile(r"^/v1/projects/([^/]+)/topics/([^/:]+)/subscriptions$")
ACK_ID_RE = re.compile(r"^[0-9a-f]{48}-[0-9]+$")
_valid_ack_id = ACK_ID_RE.match

# Message fields of google.pubsub.v1.Topic / Subscription (camel -> snake).
TOPIC_FIELDS = {
    "name": "name", "labels": "labels", "messageStoragePolicy": "message_storage_policy",
    "kmsKeyName": "kms_key_name", "schemaSettings": "schema_settings", "satisfiesPzs": "satisfies_pzs",
    "messageRetentionDuration": "message_retention_duration", "state": "state",
    "ingestionDataSourceSettings": "ingestion_data_source_settings",
    "messageTransforms": "message_transforms", "tags": "tags",
}
SUBSCRIPTION_FIELDS = {
    "name": "name", "topic": "topic", "pushConfig": "push_config", "bigqueryConfig": "bigquery_config",
    "cloudStorageConfig": "cloud_storage_config", "bigtableConfig": "bigtable_config",
    "ackDeadlineSeconds": "ack_deadline_seconds", "retainAckedMessages": "retain_acked_messages",
    "messageRetentionDuration": "message_retention_duration", "labels": "labels",
    "enableMessageOrdering": "enable_message_ordering", "expirationPolicy": "expiration_policy",
    "filter": "filter", "deadLetterPolicy": "dead_letter_policy", "retryPolicy": "retry_policy",
    "detached": "detached", "enableExactlyOnceDelivery": "enable_exactly_once_delivery",
    "topicMessageRetentionDuration": "topic_message_retention_duration", "state": "state",
    "analyticsHubSubscriptionInfo": "analytics_hub_subscription_info",
    "messageTransforms": "message_transforms", "tags": "tags",
}
SUB_MUTABLE = ("ackDeadlineSeconds", "pushConfig", "labels", "expirationPolicy", "retainAckedMessages",
               "messageRetentionDuration", "retryPolicy", "deadLetterPolicy", "enableExactlyOnceDelivery")
SUB_IMMUTABLE = ("name", "topic", "enableMessageOrdering", "filter")


def _invalid(msg):
    return ApiError(400, "INVALID_ARGUMENT", msg)


def _unknown(name, at=None):
    where = " at '%s'" % at if at else ""
    return _invalid("Invalid JSON payload received. Unknown name \"%s\"%s: Cannot find field." % (name, where))


def _fields(body, known, at=None):
    """Return body with snake_case keys renamed to camelCase; reject unknown
    names like the real JSON front end does."""
    if not isinstance(body, dict):
        raise bad_request_field(at or "", "Invalid value at '%s', %s" % (at or "", json.dumps(body)[:100]))
    snake = {v: k for k, v in known.items()}
    out = {}
    for k, v in body.items():
        if k in known:
            out[k] = v
        elif k in snake:
            out[snake[k]] = v
        else:
            raise _unknown(k, at)
    return out


def _int(value, field, kind="TYPE_INT32"):
    try:
        return parse_int(value)
    except ValueError:
        raise bad_request_field(field, "Invalid value at '%s' (%s), %s" % (field, kind, json.dumps(value))) from None


def _bool(value, field):
    if isinstance(value, bool):
        return value
    raise bad_request_field(field, "Invalid value at '%s' (TYPE_BOOL), %s" % (field, json.dumps(value)))


def _str(value, field):
    if isinstance(value, str):
        return value
    raise bad_request_field(field, "Invalid value at '%s' (TYPE_STRING), %s" % (field, json.dumps(value)))


def _duration(value, field):
    try:
        return parse_duration(value)
    except ValueError:
        raise bad_request_field(field, "Invalid value at '%s' (type.googleapis.com/google.protobuf.Duration), "
                                       "Field '%s', Illegal duration format; duration must end with 's'"
                                % (field, field)) from None


def _labels(value, field="labels"):
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise bad_request_field(field, "Invalid value at '%s' (Map), %s" % (field, json.dumps(value)[:100]))
    return dict(value)


def _retention(value, field="message_retention_duration"):
    secs = _duration(value, field)
    if not MIN_RETENTION <= secs <= MAX_RETENTION:
        raise _invalid("Invalid message_retention_duration: must be between 10 minutes and 31 days, got %s."
                       % format_duration(secs))
    return secs


def _empty(value):
    return value in (None, "", {}, [], False, 0)


class PubSubService:
    name = "pubsub"

    @staticmethod
    def add_arguments(parser):
        g = parser.add_argument_group("pubsub")
        g.add_argument("--pubsub-pull-wait-ms", type=float, default=DEFAULT_PULL_WAIT_MS, metavar="MS",
                       help="how long a pull with returnImmediately=false waits for messages before "
                            "answering {} (default %d, as Pub/Sub and Google's emulator hold it; "
                            "tests that want empty answers soon lower it)" % DEFAULT_PULL_WAIT_MS)
        g.add_argument("--pubsub-min-ack-deadline", type=int, default=DEFAULT_ACK_DEADLINE, metavar="S",
                       choices=range(1, DEFAULT_ACK_DEADLINE + 1),
                       help="EMULATOR-ONLY: smallest ackDeadlineSeconds a subscription may have "
                            "(real Pub/Sub: 10). Tests lower it to 1 to see expiry quickly.")

    def __init__(self, args, data_dir, counters):
        self.min_ack = args.pubsub_min_ack_deadline
        self.broker = Broker(data_dir, args, counters)
        self._verbs = {
            ("topics", None, "PUT"): (self.create_topic, "createTopic"),
            ("topics", None, "GET"): (self.get_topic, "getTopic"),
            ("topics", None, "PATCH"): (self.update_topic, "updateTopic"),
            ("topics", None, "DELETE"): (self.delete_topic, "deleteTopic"),
            ("topics", "publish", "POST"): (self.publish, "publish"),
            ("subscriptions", None, "PUT"): (self.create_subscription, "createSubscription"),
            ("subscriptions", None, "GET"): (self.get_subscription, "getSubscription"),
            ("subscriptions", None, "PATCH"): (self.update_subscription, "updateSubscription"),
            ("subscriptions", None, "DELETE"): (self.delete_subscription, "deleteSubscription"),
            ("subscriptions", "pull", "POST"): (self.pull, "pull"),
            ("subscriptions", "acknowledge", "POST"): (self.acknowledge, "acknowledge"),
            ("subscriptions", "modifyAckDeadline", "POST"): (self.modify_ack_deadline, "modifyAckDeadline"),
        }

    # ------------------------------------------------------------------ routing
    def route(self, http_method, path):
        m = _RESOURCE.match(path)
        if m:
            project, kind, rid, verb = m.groups()
            entry = self._verbs.get((kind, verb, http_method))
            if entry is not None:
                fn, method_name = entry
                return (lambda req: fn(req, project, rid)), method_name
            if verb is not None and not any(k[0] == kind and k[1] == verb for k in self._verbs):
                name = verb
                return (lambda req: self._unsupported(name)), name
        else:
            m = _LIST.match(path)
            if m and http_method == "GET":
                project, kind = m.groups()
                if kind == "topics":
                    return (lambda req: self.list_topics(req, project)), "listTopics"
                return (lambda req: self.list_subscriptions(req, project)), "listSubscriptions"
            m = _TOPIC_SUBS.match(path)
            if m and http_method == "GET":
                project, tid = m.groups()
                return (lambda req: self.list_topic_subscriptions(req, project, tid)), "listTopicSubscriptions"
        raise ApiError(404, "NOT_FOUND", "Method not found: %s %s" % (http_method, path))

    @staticmethod
    def _unsupported(verb):
        raise unimplemented("The method %s is not supported by this emulator." % verb)

    def close(self):
        self.broker.close()

    def state_summary(self):
        return self.broker.summary()

    # ------------------------------------------------------------------ topics
    def _topic_config(self, body, partial=False):
        body = _fields(body, TOPIC_FIELDS)
        cfg = {}
        for k, v in body.items():
            if k in ("name", "state", "satisfiesPzs"):
                continue   # the name comes from the path; the others are output only
            if k == "labels":
                if v:
                    cfg["labels"] = _labels(v)
            elif k == "messageRetentionDuration":
                if v:
                    cfg["messageRetentionDuration"] = format_duration(_retention(v))
            elif k == "messageStoragePolicy":
                if v:
                    if not isinstance(v, dict):
                        raise bad_request_field("message_storage_policy", "Invalid value at "
                                                "'message_storage_policy', %s" % json.dumps(v)[:100])
                    cfg["messageStoragePolicy"] = v
            elif k == "kmsKeyName":
                if v:
                    cfg["kmsKeyName"] = _str(v, "kms_key_name")
            elif not _empty(v):
                raise unimplemented("topic.%s is not supported by this emulator." % TOPIC_FIELDS[k])
        return cfg

    def create_topic(self, req, project, tid):
        name = names.check("topics", project, tid)
        return self.broker.create_topic(name, self._topic_config(req.json()))

    def get_topic(self, req, project, tid):
        return self.broker.get_topic(names.check("topics", project, tid))

    def update_topic(self, req, project, tid):
        name = names.check("topics", project, tid)
        body = _fields(req.json(), {"topic": "topic", "updateMask": "update_mask"})
        mask = self._mask(body.get("updateMask"), "UpdateTopicRequest")
        new = self._topic_config(body.get("topic") or {})
        allowed = {"labels", "messageRetentionDuration", "messageStoragePolicy", "kmsKeyName"}
        for path in mask:
            if path not in allowed:
                raise _invalid("Invalid update_mask provided in the UpdateTopicRequest: '%s' is not a "
                               "known or mutable Topic field." % path)

        def update(cfg):
            for path in mask:
                if path in new:
                    cfg[path] = new[path]
                else:
                    cfg.pop(path, None)   # masked but absent: cleared
            return cfg

        return self.broker.update_topic(name, update)

    def delete_topic(self, req, project, tid):
        self.broker.delete_topic(names.check("topics", project, tid))
        return {}

    def list_topics(self, req, project):
        items = self.broker.list_topics(project)
        page, token = self._page(req, items, lambda r: r["name"])
        out = {"topics": page} if page else {}
        if token:
            out["nextPageToken"] = token
        return out

    def list_topic_subscriptions(self, req, project, tid):
        items = self.broker.list_topic_subscriptions(names.check("topics", project, tid))
        page, token = self._page(req, items, lambda n: n)
        out = {"subscriptions": page} if page else {}
        if token:
            out["nextPageToken"] = token
        return out

    # ------------------------------------------------------------------ subscriptions
    def _sub_values(self, body, at=None):
        """Validate the fields present in a Subscription body; returns
        {camelName: stored value}. Absent fields are absent."""
        body = _fields(body, SUBSCRIPTION_FIELDS, at)
        vals = {}
        for k, v in body.items():
            f = SUBSCRIPTION_FIELDS[k]
            if k in ("name", "state", "topicMessageRetentionDuration", "detached"):
                continue
            if k == "topic":
                vals["topic"] = _str(v, f)
            elif k == "ackDeadlineSeconds":
                secs = _int(v, f)
                if secs == 0:
                    secs = DEFAULT_ACK_DEADLINE
                elif not self.min_ack <= secs <= MAX_ACK_DEADLINE:
                    raise _invalid("Invalid ack deadline given (ack_deadline=%d). The ack deadline must be "
                                   "between %d and %d seconds." % (secs, self.min_ack, MAX_ACK_DEADLINE))
                vals[k] = secs
            elif k == "messageRetentionDuration":
                vals[k] = _retention(v) if v else float(DEFAULT_RETENTION)
            elif k == "labels":
                vals[k] = _labels(v) if v else {}
            elif k in ("retainAckedMessages", "enableMessageOrdering", "enableExactlyOnceDelivery"):
                vals[k] = _bool(v, f) if v is not None else False
            elif k == "expirationPolicy":
                if v is None:
                    continue
                p = _fields(v, {"ttl": "ttl"}, f)
                if p.get("ttl"):
                    ttl = _duration(p["ttl"], "expiration_policy.ttl")
                    if ttl < MIN_TTL:
                        raise _invalid("Invalid expiration_policy.ttl: the minimum is 1 day, got %s."
                                       % format_duration(ttl))
                    vals[k] = {"ttl": format_duration(ttl)}
                else:
                    vals[k] = {}   # present without ttl: never expires
            elif k == "deadLetterPolicy":
                vals[k] = self._dead_letter_policy(v)
            elif k == "retryPolicy":
                vals[k] = self._retry_policy(v)
            elif k == "pushConfig":
                p = v or {}
                if not isinstance(p, dict):
                    raise bad_request_field(f, "Invalid value at 'push_config', %s" % json.dumps(p)[:100])
                if p.get("pushEndpoint") or p.get("push_endpoint"):
                    raise unimplemented("Push subscriptions are not supported by this emulator.")
            elif k == "filter":
                if _str(v or "", f):
                    raise unimplemented("Subscription filters are not supported by this emulator.")
            elif not _empty(v):
                raise unimplemented("subscription.%s is not supported by this emulator." % f)
        return vals

    @staticmethod
    def _dead_letter_policy(v):
        if not v:
            return None
        p = _fields(v, {"deadLetterTopic": "dead_letter_topic", "maxDeliveryAttempts": "max_delivery_attempts"},
                    "dead_letter_policy")
        topic = p.get("deadLetterTopic") or ""
        names.parse_topic(_str(topic, "dead_letter_policy.dead_letter_topic"))
        n = _int(p.get("maxDeliveryAttempts", 0), "dead_letter_policy.max_delivery_attempts")
        if n == 0:
            n = DEFAULT_MAX_ATTEMPTS
        elif not MIN_ATTEMPTS <= n <= MAX_ATTEMPTS:
            raise _invalid("Invalid max_delivery_attempts given (max_delivery_attempts=%d). The max delivery "
                           "attempts must be between %d and %d." % (n, MIN_ATTEMPTS, MAX_ATTEMPTS))
        return {"deadLetterTopic": topic, "maxDeliveryAttempts": n}

    @staticmethod
    def _retry_policy(v):
        if v is None:
            return None
        p = _fields(v, {"minimumBackoff": "minimum_backoff", "maximumBackoff": "maximum_backoff"}, "retry_policy")
        lo = _duration(p["minimumBackoff"], "retry_policy.minimum_backoff") if p.get("minimumBackoff") \
            else DEFAULT_MIN_BACKOFF
        hi = _duration(p["maximumBackoff"], "retry_policy.maximum_backoff") if p.get("maximumBackoff") \
            else DEFAULT_MAX_BACKOFF
        for what, secs in (("minimum_backoff", lo), ("maximum_backoff", hi)):
            if not 0 <= secs <= 600:
                raise _invalid("Invalid retry_policy.%s: must be between 0 and 600 seconds, got %s."
                               % (what, format_duration(secs)))
        if lo > hi:
            raise _invalid("Invalid retry_policy: minimum_backoff must not be greater than maximum_backoff.")
        return {"minimumBackoff": format_duration(lo), "maximumBackoff": format_duration(hi)}

    @staticmethod
    def _build_config(vals):
        """The stored subscription config, ordered like real responses; keys
        starting with "_" are internal and never rendered."""
        cfg = {"pushConfig": {}, "ackDeadlineSeconds": vals.get("ackDeadlineSeconds", DEFAULT_ACK_DEADLINE)}
        if vals.get("retainAckedMessages"):
            cfg["retainAckedMessages"] = True
        retention = vals.get("messageRetentionDuration", float(DEFAULT_RETENTION))
        cfg["messageRetentionDuration"] = format_duration(retention)
        if vals.get("labels"):
            cfg["labels"] = vals["labels"]
        if vals.get("enableMessageOrdering"):
            cfg["enableMessageOrdering"] = True
        cfg["expirationPolicy"] = vals.get("expirationPolicy", {"ttl": DEFAULT_TTL})
        if vals.get("deadLetterPolicy"):
            cfg["deadLetterPolicy"] = vals["deadLetterPolicy"]
        if vals.get("retryPolicy"):
            cfg["retryPolicy"] = vals["retryPolicy"]
        if vals.get("enableExactlyOnceDelivery"):
            cfg["enableExactlyOnceDelivery"] = True
        cfg["_retention_s"] = retention
        rp = vals.get("retryPolicy")
        cfg["_retry"] = [parse_duration(rp["minimumBackoff"]), parse_duration(rp["maximumBackoff"])] if rp else None
        return cfg

    @staticmethod
    def _values_of(cfg):
        vals = {k: v for k, v in cfg.items() if not k.startswith("_")}
        vals["messageRetentionDuration"] = cfg["_retention_s"]
        return vals

    def create_subscription(self, req, project, sid):
        name = names.check("subscriptions", project, sid)
        vals = self._sub_values(req.json())
        topic = vals.pop("topic", "")
        tproject, tid = names.parse_topic(topic)
        return self.broker.create_subscription(name, names.topic_name(tproject, tid), self._build_config(vals))

    def get_subscription(self, req, project, sid):
        return self.broker.get_subscription(names.check("subscriptions", project, sid))

    def update_subscription(self, req, project, sid):
        name = names.check("subscriptions", project, sid)
        body = _fields(req.json(), {"subscription": "subscription", "updateMask": "update_mask"})
        mask = self._mask(body.get("updateMask"), "UpdateSubscriptionRequest")
        for path in mask:
            if path in SUB_IMMUTABLE:
                raise _invalid("Invalid update_mask provided in the UpdateSubscriptionRequest: the '%s' field "
                               "in the Subscription is not mutable." % SUBSCRIPTION_FIELDS[path])
            if path not in SUB_MUTABLE:
                raise _invalid("Invalid update_mask provided in the UpdateSubscriptionRequest: '%s' is not a "
                               "known Subscription field." % path)
        new = self._sub_values(body.get("subscription") or {}, "subscription")

        def update(old):
            vals = self._values_of(old)
            for path in mask:
                if path in new and new[path] is not None:
                    vals[path] = new[path]
                else:
                    vals.pop(path, None)   # masked but absent: back to the default
            return self._build_config(vals)

        return self.broker.update_subscription(name, update)

    @staticmethod
    def _mask(mask, request_name):
        if not mask:
            raise _invalid("The update_mask in the %s must be set." % request_name)
        if isinstance(mask, dict):   # FieldMask as an object, which some encoders produce
            mask = ",".join(mask.get("paths") or [])
        if not isinstance(mask, str):
            raise bad_request_field("update_mask", "Invalid value at 'update_mask' "
                                                   "(type.googleapis.com/google.protobuf.FieldMask), %s"
                                    % json.dumps(mask)[:100])
        out = []
        for p in mask.split(","):
            p = p.strip()
            if p:
                # JSON FieldMasks use lowerCamel; accept proto snake_case too
                out.append(re.sub(r"_([a-z])", lambda m: m.group(1).upper(), p))
        return out

    def delete_subscription(self, req, project, sid):
        self.broker.delete_subscription(names.check("subscriptions", project, sid))
        return {}

    def list_subscriptions(self, req, project):
        items = self.broker.list_subscriptions(project)
        page, token = self._page(req, items, lambda r: r["name"])
        out = {"subscriptions": page} if page else {}
        if token:
            out["nextPageToken"] = token
        return out

    @staticmethod
    def _page(req, items, key):
        q = req.query
        size = _int(q.get("pageSize", "0") or "0", "page_size")
        if size < 0:
            raise _invalid("The value for page_size is too small. You passed %d in the request, but the "
                           "minimum value is 0." % size)
        size = min(size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        token = q.get("pageToken") or ""
        start = 0
        if token:
            try:
                after = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
            except (binascii.Error, UnicodeDecodeError, ValueError):
                raise _invalid("The page token is invalid (page_token=%s)." % token) from None
            while start < len(items) and key(items[start]) <= after:
                start += 1
        page = items[start:start + size]
        nxt = ""
        if start + size < len(items):
            nxt = base64.urlsafe_b64encode(key(page[-1]).encode()).decode().rstrip("=")
        return page, nxt

    # ------------------------------------------------------------------ messages
    def publish(self, req, project, tid):
        name = names.check("topics", project, tid)
        messages.check_payload_size(len(req.body))
        body = req.json()
        if not body.keys() <= {"messages", "topic"}:
            body = _fields(body, {"messages": "messages", "topic": "topic"})
        prefixes, okey, size = messages.prepare(body.get("messages", []))
        messages.check_request_size(name, size)
        ids = self.broker.publish(name, prefixes, okey)
        return RawJSON('{"messageIds":["' + '","'.join(ids) + '"]}')

    def pull(self, req, project, sid):
        name = names.check("subscriptions", project, sid)
        body = _fields(req.json(), {"maxMessages": "max_messages", "returnImmediately": "return_immediately",
                                    "subscription": "subscription"})
        n = _int(body.get("maxMessages", 0), "max_messages")
        if n <= 0:
            raise _invalid("You have passed an invalid argument to the service (argument=max_messages).")
        immediately = _bool(body.get("returnImmediately", False), "return_immediately")
        out = self.broker.pull(name, n, immediately)
        return RawJSON(out) if out is not None else {}

    @staticmethod
    def _ack_ids(body):
        ids = body.get("ackIds")
        if ids is None or ids == []:
            raise _invalid("You have not specified an ack ID in the request.")
        if not isinstance(ids, list):
            raise bad_request_field("ack_ids", "Invalid value at 'ack_ids' (TYPE_STRING), %s" % json.dumps(ids)[:100])
        for i, a in enumerate(ids):
            if type(a) is not str:
                raise bad_request_field("ack_ids[%d]" % i, "Invalid value at 'ack_ids[%d]' (TYPE_STRING), %s"
                                        % (i, json.dumps(a)[:100]))
        return ids

    def acknowledge(self, req, project, sid):
        name = names.check("subscriptions", project, sid)
        body = req.json()
        if not body.keys() <= {"ackIds", "subscription"}:
            body = _fields(body, {"ackIds": "ack_ids", "subscription": "subscription"})
        self.broker.acknowledge(name, self._ack_ids(body), _valid_ack_id)
        return {}

    def modify_ack_deadline(self, req, project, sid):
        name = names.check("subscriptions", project, sid)
        body = _fields(req.json(), {"ackIds": "ack_ids", "ackDeadlineSeconds": "ack_deadline_seconds",
                                    "subscription": "subscription"})
        secs = _int(body.get("ackDeadlineSeconds", 0), "ack_deadline_seconds")
        if not 0 <= secs <= MAX_ACK_DEADLINE:
            raise _invalid("Invalid ack deadline given (ack_deadline=%d). The ack deadline must be between "
                           "0 and %d seconds." % (secs, MAX_ACK_DEADLINE))
        self.broker.modify_ack_deadline(name, self._ack_ids(body), secs, _valid_ack_id)
        return {}
