"""Pub/Sub state: topics, subscriptions, message queues, leases, persistence.

Model
- A published message is an immutable tuple (messageId, rendered JSON text,
  publish time in ns). Publishing appends the same tuple to the `available`
  deque of every subscription attached to the topic at that moment (fan-out),
  so messages published before a subscription existed never reach it.
- Pulling pops from `available`, gives each delivery a fresh ackId and records
  a lease (ackId -> [message, deadline]) in `outstanding`. One heap entry per
  pull batch (not per message) tracks deadlines; a lease whose deadline moved
  (modifyAckDeadline) is simply skipped when a stale heap entry pops.
- An expired or nacked lease sends the message back to the front of
  `available` (or into `delayed` when the subscription has a retryPolicy),
  unless the dead-letter policy says it has had its deliveries: then it is
  published to the dead-letter topic and removed. An ack or modAck naming an
  ackId that is no longer outstanding is ignored: a stale ackId never touches
  a message redelivered under a newer ackId.

Locking: one broker lock guards everything; each subscription has a Condition
on that lock for long-polling pulls. Under the GIL finer locks buy no
parallelism, and one lock keeps the journal order identical to the order in
which state changed, which replay depends on.

Persistence (with a data dir): every state change that was acknowledged to a
client is journaled (core.journal) before the handler returns: topic and
subscription create/update/delete, each publish (one record per request, with
the rendered messages and the subscriptions it fanned out to) and each ack
(message IDs). Pulls and leases are not journaled: after a restart every
unacked message is simply available again, and delivery-attempt counts start
over (real Pub/Sub also documents that counts may reset).
"""

import heapq
import json
import logging
import secrets
import threading
import time
from collections import deque

from ..core import clock
from ..core.errors import ApiError, unavailable
from ..core.journal import Journal
from ..core.wire import rfc3339_ms_offset, rfc3339_ns
from . import messages, names

log = logging.getLogger("emulator.pubsub")

MAX_PULL = 1000
HOUSEKEEPING_S = 0.1
RETENTION_SWEEP_S = 5.0

_monotonic = clock.monotonic      # leases, redelivery: the emulator's clock
_heappush = heapq.heappush
_heappop = heapq.heappop


class Topic:
    __slots__ = ("name", "config", "subs")

    def __init__(self, name, config):
        self.name = name
        self.config = config   # stored optional fields (labels, messageRetentionDuration, ...)
        self.subs = []         # attached Subscription objects, in creation order

    def resource(self):
        r = {"name": self.name}
        r.update(self.config)
        return r


class Subscription:
    __slots__ = ("name", "topic_name", "config", "ack_deadline", "retention_ns", "dlq_topic",
                 "max_attempts", "retry", "eod", "available", "outstanding", "heap", "delayed",
                 "attempts", "redeliver", "cond", "deleted", "transient_left")

    def __init__(self, name, topic_name, config, lock):
        self.name = name
        self.topic_name = topic_name
        self.available = deque()
        self.outstanding = {}      # ackId -> [message, monotonic deadline]
        self.heap = []             # (deadline, seq, [ackIds]) lease expiry candidates
        self.delayed = []          # (ready time, seq, message): retryPolicy backoff
        self.attempts = {}         # messageId -> deliveries so far (DLQ/retry policy only)
        self.redeliver = set()     # messageIds requeued after expiry/nack (counter only)
        self.cond = threading.Condition(lock)
        self.deleted = False
        self.apply(config)

    def apply(self, config):
        self.config = config
        self.ack_deadline = config["ackDeadlineSeconds"]
        self.retention_ns = int(config["_retention_s"] * 1e9)
        dlp = config.get("deadLetterPolicy")
        self.dlq_topic = dlp["deadLetterTopic"] if dlp else None
        self.max_attempts = dlp["maxDeliveryAttempts"] if dlp else 0
        rp = config.get("_retry")
        self.retry = tuple(rp) if rp else None
        self.eod = bool(config.get("enableExactlyOnceDelivery"))
        # Fault injection (a label, so that it is set with the subscription):
        # the next N valid ack IDs acknowledged on an exactly-once
        # subscription fail with TRANSIENT_FAILURE_UNORDERED_ACK_ID and stay
        # leased, as Pub/Sub may answer; setting the labels again restarts.
        try:
            self.transient_left = max(0, int((config.get("labels") or {}).get(
                "emulator_transient_ack_failures", "0")))
        except ValueError:
            self.transient_left = 0

    @property
    def counts_attempts(self):
        return self.dlq_topic is not None or self.retry is not None

    def resource(self):
        r = {"name": self.name, "topic": self.topic_name}
        r.update((k, v) for k, v in self.config.items() if not k.startswith("_"))
        r["state"] = "ACTIVE"
        return r

    def next_event(self):
        """Monotonic time of the next lease expiry or backoff end, or None."""
        t = self.heap[0][0] if self.heap else None
        if self.delayed and (t is None or self.delayed[0][0] < t):
            t = self.delayed[0][0]
        return t


class Broker:
    def __init__(self, data_dir, args, counters):
        self.lock = threading.Lock()
        self.counters = counters
        self.topics = {}
        self.subs = {}
        self.pull_wait = max(0.0, args.pubsub_pull_wait_ms / 1000.0)
        self.closed = False
        self.live_bytes = 0        # rendered bytes of unacked messages, per subscription copy
        # ackIds: a random per-process prefix, so IDs handed out before a
        # restart can never match a lease made after it, plus a sequence.
        self._ack_prefix = secrets.token_hex(24) + "-"
        self._seq = 0
        # Message IDs: long decimal strings. Starting from the clock (ms * 1000)
        # keeps them increasing across restarts even without a data dir.
        self.next_id = int(time.time() * 1000) * 1000
        counters.declare("messages_published", "messages_delivered", "messages_acked",
                         "messages_redelivered", "messages_nacked", "messages_expired",
                         "messages_dead_lettered", "messages_dropped_retention", "pulls_empty")
        self.journal = None
        if data_dir is not None:
            self.journal = Journal.from_args(data_dir, args)
            t0 = time.monotonic()
            self._load()
            self.journal.compact(self._snapshot_records())
            log.info("loaded %d topics, %d subscriptions, %d unacked messages from %s in %.2fs",
                     len(self.topics), len(self.subs), sum(len(s.available) for s in self.subs.values()),
                     data_dir, time.monotonic() - t0)
        self._stop = threading.Event()
        self._hk = threading.Thread(target=self._housekeeping, name="pubsub-housekeeping", daemon=True)
        self._hk.start()

    # ------------------------------------------------------------------ helpers
    def _check_open(self):
        if self.closed:
            raise unavailable("The emulator is shutting down.")

    def _get_sub(self, name):
        sub = self.subs.get(name)
        if sub is None:
            raise names.not_found(names.leaf(name))
        return sub

    def _log(self, rec):
        if self.journal is not None:
            self.journal.append(rec)

    # ------------------------------------------------------------------ topics
    def create_topic(self, name, config):
        with self.lock:
            self._check_open()
            if name in self.topics:
                raise names.already_exists(names.leaf(name))
            self._log({"op": "topic", "name": name, "cfg": config})
            t = self.topics[name] = Topic(name, config)
            return t.resource()

    def get_topic(self, name):
        with self.lock:
            t = self.topics.get(name)
            if t is None:
                raise names.not_found(names.leaf(name))
            return t.resource()

    def update_topic(self, name, update):
        """`update(old_config) -> new_config` is applied under the lock."""
        with self.lock:
            self._check_open()
            t = self.topics.get(name)
            if t is None:
                raise names.not_found(names.leaf(name))
            config = update(dict(t.config))
            self._log({"op": "topic", "name": name, "cfg": config})
            t.config = config
            return t.resource()

    def delete_topic(self, name):
        with self.lock:
            self._check_open()
            if name not in self.topics:
                raise names.not_found(names.leaf(name))
            self._log({"op": "deltopic", "name": name})
            self._delete_topic(name)

    def _delete_topic(self, name):
        t = self.topics.pop(name)
        for s in t.subs:
            s.topic_name = names.DELETED_TOPIC   # messages already queued stay pullable
        t.subs = []

    def list_topics(self, project):
        prefix = "projects/%s/topics/" % project
        with self.lock:
            return [self.topics[n].resource() for n in sorted(self.topics) if n.startswith(prefix)]

    def list_topic_subscriptions(self, topic):
        with self.lock:
            t = self.topics.get(topic)
            if t is None:
                raise names.not_found(names.leaf(topic))
            return sorted(s.name for s in t.subs)

    # ------------------------------------------------------------------ subscriptions
    def create_subscription(self, name, topic, config):
        with self.lock:
            self._check_open()
            if name in self.subs:
                raise names.already_exists(names.leaf(name))
            t = self.topics.get(topic)
            if t is None:
                raise names.not_found(names.leaf(topic))
            self._check_dlq(config)
            self._log({"op": "sub", "name": name, "topic": topic, "cfg": config})
            s = self.subs[name] = Subscription(name, topic, config, self.lock)
            t.subs.append(s)
            return s.resource()

    def _check_dlq(self, config):
        dlp = config.get("deadLetterPolicy")
        if dlp and dlp["deadLetterTopic"] not in self.topics:
            raise names.not_found(names.leaf(dlp["deadLetterTopic"]))

    def get_subscription(self, name):
        with self.lock:
            return self._get_sub(name).resource()

    def update_subscription(self, name, update):
        """`update(old_config) -> new_config` is applied under the lock."""
        with self.lock:
            self._check_open()
            sub = self._get_sub(name)
            config = update(dict(sub.config))
            self._check_dlq(config)
            self._log({"op": "sub", "name": name, "topic": sub.topic_name, "cfg": config})
            sub.apply(config)
            if not sub.counts_attempts:
                sub.attempts.clear()
            return sub.resource()

    def delete_subscription(self, name):
        with self.lock:
            self._check_open()
            sub = self._get_sub(name)
            self._log({"op": "delsub", "name": name})
            self._delete_sub(sub)

    def _delete_sub(self, sub):
        del self.subs[sub.name]
        t = self.topics.get(sub.topic_name)
        if t is not None and sub in t.subs:
            t.subs.remove(sub)
        self.live_bytes -= sum(len(m[1]) for m in self._all_messages(sub))
        sub.deleted = True
        sub.cond.notify_all()

    def list_subscriptions(self, project):
        prefix = "projects/%s/subscriptions/" % project
        with self.lock:
            return [self.subs[n].resource() for n in sorted(self.subs) if n.startswith(prefix)]

    # ------------------------------------------------------------------ publish
    def publish(self, topic_name, prefixes, ordering_key):
        """Assign IDs, render, journal and fan out one validated request."""
        with self.lock:
            self._check_open()
            t = self.topics.get(topic_name)
            if t is None:
                raise names.not_found(names.leaf(topic_name))
            ns = clock.time_ns()
            base = self.next_id
            self.next_id = base + len(prefixes)
            ids = [str(i) for i in range(base, base + len(prefixes))]
            self._fanout(t, ids, [p + i for p, i in zip(prefixes, ids)],
                         messages.suffix(rfc3339_ns(ns), ordering_key), ns)
            self.counters.incr("messages_published", len(ids))
            return ids

    def _fanout(self, topic, ids, heads, suffix, ns):
        subs = topic.subs
        if not subs:
            return   # nobody will ever receive these: nothing to keep
        rendered = [h + suffix for h in heads]
        if self.journal is not None:
            self.journal.append_raw(
                ('{"op":"pub","ts":%d,"subs":%s,"m":[%s]}\n'
                 % (ns, json.dumps([s.name for s in subs]), ",".join(rendered))).encode())
        msgs = [(i, r, ns) for i, r in zip(ids, rendered)]
        self.live_bytes += sum(map(len, rendered)) * len(subs)
        for s in subs:
            s.available.extend(msgs)
            s.cond.notify_all()

    # ------------------------------------------------------------------ pull
    def pull(self, name, max_messages, return_immediately):
        """Returns the PullResponse JSON text, or None for an empty response."""
        wait_until = _monotonic() + self.pull_wait
        with self.lock:
            self._check_open()
            sub = self._get_sub(name)
            while True:
                now = _monotonic()
                if sub.heap or sub.delayed:
                    self._expire(sub, now)
                if sub.available:
                    break
                if return_immediately or now >= wait_until or self.closed:
                    self.counters.incr("pulls_empty")
                    return None
                timeout = wait_until - now
                nxt = sub.next_event()
                if nxt is not None:
                    timeout = min(timeout, max(nxt - now, 0.001))
                sub.cond.wait(timeout)
                if sub.deleted:
                    raise names.not_found(names.leaf(name))
                if self.closed:
                    raise unavailable("The emulator is shutting down.")
            return self._deliver(sub, min(max_messages, MAX_PULL), now)

    def _deliver(self, sub, n, now):
        avail = sub.available
        popleft = avail.popleft
        out = sub.outstanding
        prefix = self._ack_prefix
        seq = self._seq
        deadline = now + sub.ack_deadline
        cutoff = clock.time_ns() - sub.retention_ns
        parts = []
        aids = []
        expired = []
        counting = sub.counts_attempts
        report_attempt = sub.dlq_topic is not None
        attempts = sub.attempts
        redeliver = sub.redeliver
        redelivered = 0
        while avail and len(aids) < n:
            msg = popleft()
            if msg[2] < cutoff:
                expired.append(msg)
                continue
            seq += 1
            aid = prefix + str(seq)
            out[aid] = [msg, deadline]
            aids.append(aid)
            if counting:
                att = attempts.get(msg[0], 0) + 1
                attempts[msg[0]] = att
                if report_attempt:
                    parts.append('{"ackId":"%s","message":%s,"deliveryAttempt":%d}' % (aid, msg[1], att))
                else:
                    parts.append('{"ackId":"' + aid + '","message":' + msg[1] + "}")
            else:
                parts.append('{"ackId":"' + aid + '","message":' + msg[1] + "}")
            if redeliver and msg[0] in redeliver:
                redeliver.discard(msg[0])
                redelivered += 1
        self._seq = seq
        if expired:
            self._remove(sub, expired, "retention")
            self.counters.incr("messages_dropped_retention", len(expired))
        if not aids:
            self.counters.incr("pulls_empty")
            return None
        _heappush(sub.heap, (deadline, seq, aids))
        self.counters.incr("messages_delivered", len(aids))
        if redelivered:
            self.counters.incr("messages_redelivered", redelivered)
        return '{"receivedMessages":[' + ",".join(parts) + "]}"

    # ------------------------------------------------------------------ ack / modAck
    def _first_malformed(self, sub, ack_ids, valid):
        out = sub.outstanding
        for a in ack_ids:
            if a not in out and not valid(a):
                return a
        return None

    def acknowledge(self, name, ack_ids, valid):
        with self.lock:
            self._check_open()
            sub = self._get_sub(name)
            bad = self._first_malformed(sub, ack_ids, valid)
            if bad is not None:
                raise invalid_ack_id(bad)
            pop = sub.outstanding.pop
            done = []
            stale = []
            transient = []
            for a in ack_ids:
                if sub.eod and sub.transient_left > 0 and a in sub.outstanding:
                    sub.transient_left -= 1
                    transient.append(a)
                    continue
                lease = pop(a, None)
                if lease is not None:
                    done.append(lease[0])
                elif sub.eod:
                    stale.append(a)
            if done:
                self._remove(sub, done, None)
                self.counters.incr("messages_acked", len(done))
            if stale or transient:
                raise eod_failure(stale, transient)

    def modify_ack_deadline(self, name, ack_ids, seconds, valid):
        with self.lock:
            self._check_open()
            sub = self._get_sub(name)
            bad = self._first_malformed(sub, ack_ids, valid)
            if bad is not None:
                raise invalid_ack_id(bad)
            out = sub.outstanding
            now = _monotonic()
            stale = []
            if seconds == 0:
                nacked = []
                for a in ack_ids:
                    lease = out.pop(a, None)
                    if lease is not None:
                        nacked.append(lease[0])
                    elif sub.eod:
                        stale.append(a)
                if nacked:
                    self.counters.incr("messages_nacked", len(nacked))
                    self._requeue(sub, nacked, now)
            else:
                deadline = now + seconds
                moved = []
                for a in ack_ids:
                    lease = out.get(a)
                    if lease is not None:
                        lease[1] = deadline
                        moved.append(a)
                    elif sub.eod:
                        stale.append(a)
                if moved:
                    self._seq += 1
                    _heappush(sub.heap, (deadline, self._seq, moved))
            if stale:
                raise eod_failure(stale)

    # ------------------------------------------------------------------ redelivery
    def _expire(self, sub, now):
        heap = sub.heap
        expired = []
        if heap and heap[0][0] <= now:
            out = sub.outstanding
            while heap and heap[0][0] <= now:
                for a in _heappop(heap)[2]:
                    lease = out.get(a)
                    if lease is not None and lease[1] <= now:
                        del out[a]
                        expired.append(lease[0])
        delayed = sub.delayed
        if delayed and delayed[0][0] <= now:
            ready = []
            while delayed and delayed[0][0] <= now:
                ready.append(_heappop(delayed)[2])
            self._make_available(sub, ready)
        if expired:
            self.counters.incr("messages_expired", len(expired))
            self._requeue(sub, expired, now)

    def _requeue(self, sub, msgs, now):
        """Messages whose delivery failed (deadline expired or nack)."""
        if sub.dlq_topic is not None and sub.dlq_topic in self.topics:
            limit = sub.max_attempts
            attempts = sub.attempts
            dead = [m for m in msgs if attempts.get(m[0], 0) >= limit]
            if dead:
                msgs = [m for m in msgs if attempts.get(m[0], 0) < limit]
                self._dead_letter(sub, dead)
        if not msgs:
            return
        if sub.retry is not None:
            lo, hi = sub.retry
            attempts = sub.attempts
            for m in msgs:
                delay = min(hi, lo * (2 ** min(attempts.get(m[0], 1) - 1, 30)))
                if delay <= 0:
                    self._make_available(sub, [m])
                else:
                    self._seq += 1
                    _heappush(sub.delayed, (now + delay, self._seq, m))
            sub.cond.notify_all()   # waiters recompute their timeout
        else:
            self._make_available(sub, msgs)

    def _make_available(self, sub, msgs):
        # to the front: a redelivery should not wait behind the whole backlog
        sub.available.extendleft(reversed(msgs))
        sub.redeliver.update(m[0] for m in msgs)
        sub.cond.notify_all()

    def _dead_letter(self, sub, dead):
        """Publish messages that had their deliveries to the dead-letter topic
        (new message IDs, the source attributes plus the CloudPubSubDeadLetter*
        ones) and remove them from the source subscription."""
        t = self.topics[sub.dlq_topic]
        project = sub.name.split("/")[1]
        ns = clock.time_ns()
        ptime = rfc3339_ns(ns)
        by_key = {}   # one publish per ordering key, as a publish request has one key
        for m in dead:
            d = json.loads(m[1])
            by_key.setdefault(d.get("orderingKey", ""), []).append((m, d))
        for okey, items in by_key.items():
            base = self.next_id
            self.next_id = base + len(items)
            ids = [str(i) for i in range(base, base + len(items))]
            heads = []
            for mid, (m, d) in zip(ids, items):
                attrs = dict(d.get("attributes") or {})
                attrs["CloudPubSubDeadLetterSourceDeliveryCount"] = str(sub.attempts.get(m[0], 0))
                attrs["CloudPubSubDeadLetterSourceSubscription"] = names.leaf(sub.name)
                attrs["CloudPubSubDeadLetterSourceSubscriptionProject"] = project
                attrs["CloudPubSubDeadLetterSourceTopicPublishTime"] = rfc3339_ms_offset(m[2])
                head = '{"data":"%s",' % d["data"] if d.get("data") else "{"
                heads.append(head + '"attributes":' + json.dumps(attrs, separators=(",", ":"))
                             + ',"messageId":"' + mid)
            self._fanout(t, ids, heads, messages.suffix(ptime, okey), ns)
        self._remove(sub, dead, "dead-letter")
        self.counters.incr("messages_dead_lettered", len(dead))

    def _remove(self, sub, msgs, why):
        """Drop messages from a subscription for good (ack, retention, DLQ)."""
        mids = [m[0] for m in msgs]
        if self.journal is not None:
            rec = {"op": "ack", "sub": sub.name, "ids": mids}
            if why:
                rec["why"] = why
            self.journal.append(rec)
        self.live_bytes -= sum(len(m[1]) for m in msgs)
        if sub.attempts:
            pop = sub.attempts.pop
            for mid in mids:
                pop(mid, None)
        if sub.redeliver:
            sub.redeliver.difference_update(mids)

    # ------------------------------------------------------------------ housekeeping
    def _housekeeping(self):
        last_sweep = _monotonic()
        last_compact_check = last_sweep
        while not self._stop.wait(HOUSEKEEPING_S):
            try:
                with self.lock:
                    if self.closed:
                        return
                    now = _monotonic()
                    for sub in self.subs.values():
                        nxt = sub.next_event()
                        if nxt is not None and nxt <= now:
                            self._expire(sub, now)
                    if now - last_sweep >= RETENTION_SWEEP_S:
                        last_sweep = now
                        self._retention_sweep()
                    if self.journal is not None and now - last_compact_check >= 1.0:
                        last_compact_check = now
                        if self.journal.needs_compaction(self.live_bytes):
                            t0 = _monotonic()
                            self.journal.compact(self._snapshot_records())
                            log.info("journal compacted in %.2fs", _monotonic() - t0)
            except Exception:  # noqa: BLE001 - never let the thread die silently
                log.exception("pubsub housekeeping failed")

    def _retention_sweep(self):
        """Drop messages past the retention of subscriptions nobody pulls.
        Pulls drop them anyway as they reach the head of the queue; this only
        bounds memory and journal growth, so a cheap test is enough: scan only
        when the head, usually the oldest message, is past retention."""
        now_ns = clock.time_ns()
        for sub in self.subs.values():
            cutoff = now_ns - sub.retention_ns
            avail = sub.available
            if not avail or avail[0][2] >= cutoff:
                continue
            keep = [m for m in avail if m[2] >= cutoff]
            old = [m for m in avail if m[2] < cutoff]
            avail.clear()
            avail.extend(keep)
            self._remove(sub, old, "retention")
            self.counters.incr("messages_dropped_retention", len(old))

    # ------------------------------------------------------------------ persistence
    @staticmethod
    def _all_messages(sub):
        """Every unacked message of a subscription: outstanding, backing off, available."""
        out = [lease[0] for lease in sub.outstanding.values()]
        out.sort(key=lambda m: m[2])
        out.extend(d[2] for d in sorted(sub.delayed))
        out.extend(sub.available)
        return out

    def _snapshot_records(self):
        yield {"op": "ids", "next": self.next_id}
        for t in self.topics.values():
            yield {"op": "topic", "name": t.name, "cfg": t.config}
        for s in self.subs.values():
            yield {"op": "sub", "name": s.name, "topic": s.topic_name, "cfg": s.config}
        for s in self.subs.values():
            msgs = self._all_messages(s)
            sname = json.dumps(s.name)
            for i in range(0, len(msgs), 1000):
                yield '{"op":"msgs","sub":%s,"m":[%s]}' % (
                    sname, ",".join("[%d,%s]" % (m[2], m[1]) for m in msgs[i:i + 1000]))

    def _load(self):
        pending = {}     # subscription name -> {messageId: message}, insertion ordered
        cache = {}       # messageId -> message: one tuple shared by every subscription
        max_id = 0
        render = messages.render
        for rec in self.journal.replay():
            op = rec.get("op")
            if op == "pub":
                ns = rec["ts"]
                targets = [pending[s] for s in rec["subs"] if s in pending]
                for d in rec["m"]:
                    mid = d["messageId"]
                    msg = cache.get(mid) or (mid, render(d), ns)
                    cache[mid] = msg
                    for p in targets:
                        p[mid] = msg
                    max_id = max(max_id, int(mid))
            elif op == "msgs":
                p = pending.get(rec["sub"])
                for ns, d in rec["m"]:
                    mid = d["messageId"]
                    msg = cache.get(mid) or (mid, render(d), ns)
                    cache[mid] = msg
                    if p is not None:
                        p[mid] = msg
                    max_id = max(max_id, int(mid))
            elif op == "ack":
                p = pending.get(rec["sub"])
                if p is not None:
                    for mid in rec["ids"]:
                        p.pop(mid, None)
            elif op == "topic":
                t = self.topics.get(rec["name"])
                if t is None:
                    self.topics[rec["name"]] = Topic(rec["name"], rec["cfg"])
                else:
                    t.config = rec["cfg"]
            elif op == "deltopic":
                if rec["name"] in self.topics:
                    self._delete_topic(rec["name"])
            elif op == "sub":
                s = self.subs.get(rec["name"])
                if s is None:
                    s = self.subs[rec["name"]] = Subscription(rec["name"], rec["topic"], rec["cfg"], self.lock)
                    t = self.topics.get(rec["topic"])
                    if t is not None:
                        t.subs.append(s)
                    pending[s.name] = {}
                else:
                    s.apply(rec["cfg"])
            elif op == "delsub":
                s = self.subs.pop(rec["name"], None)
                if s is not None:
                    t = self.topics.get(s.topic_name)
                    if t is not None and s in t.subs:
                        t.subs.remove(s)
                pending.pop(rec["name"], None)
            elif op == "ids":
                max_id = max(max_id, int(rec["next"]) - 1)
            else:
                log.warning("pubsub: ignoring unknown journal record %r", op)
        for name, p in pending.items():
            s = self.subs[name]
            s.available.extend(p.values())
            self.live_bytes += sum(len(m[1]) for m in p.values())
        self.next_id = max(self.next_id, max_id + 1)

    # ------------------------------------------------------------------ admin
    def summary(self):
        with self.lock:
            return {
                "topics": len(self.topics),
                "subscriptions": {
                    s.name: {"topic": s.topic_name, "available": len(s.available),
                             "outstanding": len(s.outstanding), "backoff": len(s.delayed)}
                    for s in self.subs.values()},
                "journal_bytes": self.journal.size if self.journal else None,
            }

    def close(self):
        self._stop.set()
        with self.lock:
            if self.closed:
                return
            self.closed = True
            for s in self.subs.values():
                s.cond.notify_all()
            if self.journal is not None:
                self.journal.close()
        self._hk.join(timeout=2)


def invalid_ack_id(ack_id):
    return ApiError(400, "INVALID_ARGUMENT",
                    "You have passed an invalid ack ID to the service (ack_id=%s)." % ack_id)


def eod_failure(ack_ids, transient=()):
    """Exactly-once delivery: acks/modAcks of ackIds that are no longer valid
    fail with the ErrorInfo the client libraries inspect."""
    return ApiError(
        400, "INVALID_ARGUMENT",
        "Some acknowledgement ids in the request were invalid. This could be because the "
        "acknowledgement ids have expired or the acknowledgement ids were malformed.",
        details=[{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                  "reason": "EXACTLY_ONCE_ACKID_FAILURE",
                  "domain": "pubsub.googleapis.com",
                  "metadata": dict([(a, "PERMANENT_FAILURE_INVALID_ACK_ID") for a in ack_ids]
                                   + [(a, "TRANSIENT_FAILURE_UNORDERED_ACK_ID") for a in transient])}])

