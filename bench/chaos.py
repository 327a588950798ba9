#!/usr/bin/python3
"""Chaos run of a streaming pipeline, with an exact audit and memory soak.

A persistent emulator (Pub/Sub + BigQuery, --data-dir, so it survives being
killed) and a throwaway PostgreSQL 15 with bqstream preloaded; setup_demo()
and a pipeline with 2..4 workers on the demo subscription.  Orders are
streamed at a steady rate by publish_orders() calls of a fixed size, each
with its own seed, while seeded random chaos happens:

  kill_worker       SIGKILL of a pipeline worker (PostgreSQL reinitializes)
  restart_emulator  SIGKILL or SIGTERM of the emulator, started again on the
                    same ports and data dir after a short outage
  faults            a burst of 429/503 (and other 5xx), added latency and
                    dropped connections through /emulator/faults
  restart_postgres  pg_ctl -m immediate restart
  clock_jump        (exactly_once) the emulator's clock moved 11 minutes on
                    (POST /emulator/clock): every lease and insertId window
                    runs out at once, so whatever was in flight is delivered
                    again more than 10 minutes after it was first pulled

The pipeline writes with --write-mode (default exactly_once, as new
pipelines do; insert_all and default_stream can be audited the same way, but
only exactly_once promises no duplicate through a clock jump, so the jumps
happen only in that mode).  Faults hit the Storage Write API too (the
bigquerystorage service) when a Storage Write API mode runs.

After each PostgreSQL-level event the launcher must bring the workers back
by itself.  Phases: chaos (all four kinds), soak (emulator chaos only, so
the PostgreSQL processes live long enough for the memory verdict; an FDW
backend scans raw_orders in a loop meanwhile), drain, a calm tail (an exact
check of the shared-memory counters), then the audit:

  * ground truth: an extra subscription "chaos-audit" on the orders topic
    receives every message Pub/Sub accepted; the driver pulls it all along
    (message ID, payload) and classifies each payload as valid or malformed;
  * BigQuery raw_orders (REST: COUNT(*), COUNT(DISTINCT order_id), and every
    order_id with tabledata.list) must hold each valid message exactly once
    (rows = valid messages, so duplicates = rows - valid messages = 0 and no
    order_id missing or unknown);
  * bqstream.dead_letters must hold exactly the malformed message IDs;
  * the publish chunks: ids of chunks that completed without a failure must
    be in BigQuery; every BigQuery id must be one a chunk could have
    produced (sample_orders(n, seed) + check_order, so a chunk interrupted
    by a crash counts as "possibly published");
  * counters: inequalities over the stretch since the last PostgreSQL
    restart (a restart resets shared memory), exact equalities in the tail;
  * no process of PostgreSQL terminated by a signal we did not send.

RSS (VmRSS and RssAnon from /proc/PID/status) of the launcher, each worker
and the FDW backend is sampled every second per process lifetime; the
verdict ("flat"/"growing") compares the medians of the first and last
quarter of RssAnon after a warm-up.  Exit status 1 on any loss, duplicate,
unexpected crash, worker that does not come back, or drain timeout.

Usage: bench/chaos.py --short            (CI: about 3.5 minutes in all)
       bench/chaos.py --duration 3600    (an hour; see bench/CHAOS.md)
Options: --seed N (replay a schedule), --rate R, --write-mode M, --keep (keep the temp dir).
Requires `make install` first; run as root (PostgreSQL runs as postgres).
"""

import argparse
import base64
import collections
import datetime
import http.client
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

from benchlib import Bench, PGBIN, ROOT, as_pg

PROJECT = "bench-project"     # benchlib's create_server()
DATASET = "shop"
PIPELINE = "chaos"
AUDIT_SUB = "chaos-audit"
DEMO_SUB = "orders-pipeline"
ARCHIVE_SUB = "orders-dead-letter-archive"   # setup_demo(): Pub/Sub's own dead-letter topic
MIN_WORKERS, MAX_WORKERS = 2, 4
KINDS = ("kill_worker", "restart_emulator", "faults", "restart_postgres")
CLOCK_JUMP_S = 660  # past Pub/Sub's 10-minute maximum ack deadline and the insertId window
MIN_LIFE = 80       # seconds of a process lifetime (before the soak ended) for a memory verdict

T0 = time.monotonic()


def log(msg):
    print("[%7.1fs] %s" % (time.monotonic() - T0, msg), flush=True)


# ---------------------------------------------------------------------------
# HTTP to the emulator
# ---------------------------------------------------------------------------

TRANSIENT = (408, 429, 500, 502, 503, 504)


def http_call(method, url, body=None, timeout=60):
    """(status, decoded JSON) of one request; OSError when nothing answered."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            return r.status, (json.loads(raw) if raw else {})
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, {"raw": raw[:200].decode(errors="replace")}
    except http.client.HTTPException as e:
        raise OSError("HTTP: %r" % e)


def http_retry(what, method, url, body=None, timeout=300):
    """The answer of a request retried through outages and injected faults."""
    deadline = time.monotonic() + timeout
    delay = 0.1
    while True:
        try:
            status, j = http_call(method, url, body)
            if status < 300:
                return j
            err = "HTTP %d %s" % (status, json.dumps(j)[:300])
            if status not in TRANSIENT:
                raise RuntimeError("%s: %s" % (what, err))
        except OSError as e:
            err = repr(e)
        if time.monotonic() > deadline:
            raise RuntimeError("%s: gave up after %d s: %s" % (what, timeout, err))
        time.sleep(delay)
        delay = min(delay * 2, 2.0)


class Emulator:
    """The emulator process: persistent, restartable on the same ports."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.data_dir = os.path.join(tmp, "emulator-data")
        self.ports_file = os.path.join(tmp, "ports.json")
        self.log_path = os.path.join(tmp, "emulator.log")
        self.ports = {"pubsub": 0, "bigquery": 0, "bigquerystorage": 0}
        self.proc = None
        self.starts = 0
        self.totals = collections.Counter()   # counters summed over the emulator's lifetimes
        # the clock moved forward so far: a restarted emulator starts at real
        # time, and is moved on again so that its clock never goes back
        self.clock_offset_s = 0.0

    COUNTERS = {"pubsub": ("messages_published", "messages_delivered", "messages_acked",
                           "messages_redelivered", "messages_expired", "messages_dead_lettered"),
                "bigquery": ("rows_inserted", "rows_deduplicated")}

    def collect_counters(self):
        """Add the running emulator's counters to the totals (they live in memory)."""
        for service, names in self.COUNTERS.items():
            try:
                status, c = http_call("GET", self.url(service, "/emulator/counters"), timeout=5)
            except OSError:
                continue
            if status == 200:
                for n in names:
                    self.totals[n] += c.get(n, 0)

    def start(self):
        for attempt in range(20):
            if os.path.exists(self.ports_file):
                os.unlink(self.ports_file)
            with open(self.log_path, "a") as logf:
                logf.write("---- chaos.py: start %d\n" % self.starts)
                logf.flush()
                self.proc = subprocess.Popen(
                    ["/usr/bin/python3", "-m", "emulator", "--services", "pubsub,bigquery,bigquerystorage",
                     "--pubsub-port", str(self.ports["pubsub"]),
                     "--bigquery-port", str(self.ports["bigquery"]),
                     "--bigquerystorage-port", str(self.ports["bigquerystorage"]),
                     "--data-dir", self.data_dir, "--ports-file", self.ports_file,
                     # empty pulls answered after 1 s rather than Google's 90 (the
                     # audit's pulls time out after 30 s; killed workers' held pulls
                     # would take messages until their ack deadline)
                     "--pubsub-pull-wait-ms", "1000"],
                    cwd=ROOT, stdout=subprocess.DEVNULL, stderr=logf)
            deadline = time.monotonic() + 120   # replays the journal first
            while time.monotonic() < deadline and self.proc.poll() is None:
                if os.path.exists(self.ports_file) and os.path.getsize(self.ports_file) > 0:
                    self.ports = json.load(open(self.ports_file))
                    self.starts += 1
                    if self.clock_offset_s > 0:
                        http_retry("clock", "POST", self.url("bigquery", "/emulator/clock"),
                                   {"advance_s": self.clock_offset_s}, timeout=60)
                    return
                time.sleep(0.05)
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            time.sleep(0.5)       # e.g. the port not free yet: try again
        raise RuntimeError("the emulator does not start; see %s" % self.log_path)

    def stop(self, sig=signal.SIGTERM):
        if self.proc is None:
            return
        self.collect_counters()
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def url(self, service, path):
        return "http://127.0.0.1:%d%s" % (self.ports[service], path)

    # -- Pub/Sub
    def sub_url(self, sub, verb=""):
        return self.url("pubsub", "/v1/projects/%s/subscriptions/%s%s" % (PROJECT, sub, verb))

    def sub_state(self):
        """{short subscription name: available + outstanding + backoff}"""
        st = http_retry("emulator state", "GET", self.url("pubsub", "/emulator/state"))
        return {name.rsplit("/", 1)[-1]: v["available"] + v["outstanding"] + v["backoff"]
                for name, v in st["subscriptions"].items()}

    def faults_url(self, service):
        # the gRPC service is controlled through an HTTP port
        if service == "bigquerystorage":
            return self.url("bigquery", "/emulator/bigquerystorage/faults")
        return self.url(service, "/emulator/faults")

    def set_faults(self, service, cfg):
        if cfg is None:
            http_retry("clear faults", "DELETE", self.faults_url(service), timeout=60)
        else:
            http_retry("set faults", "POST", self.faults_url(service), cfg, timeout=60)

    def advance_clock(self, seconds):
        http_retry("clock", "POST", self.url("bigquery", "/emulator/clock"), {"advance_s": seconds}, timeout=60)
        self.clock_offset_s += seconds

    # -- BigQuery
    def bq_query(self, sql):
        j = http_retry("BigQuery query", "POST",
                       self.url("bigquery", "/bigquery/v2/projects/%s/queries" % PROJECT),
                       {"query": sql, "useLegacySql": False, "useQueryCache": False, "timeoutMs": 120000})
        while not j.get("jobComplete", True):
            j = http_retry("BigQuery results", "GET", self.url(
                "bigquery", "/bigquery/v2/projects/%s/queries/%s?timeoutMs=60000"
                % (PROJECT, j["jobReference"]["jobId"])))
        return [[c["v"] for c in row["f"]] for row in j.get("rows", [])]

    def bq_counts(self):
        rows, distinct = self.bq_query("SELECT COUNT(*), COUNT(DISTINCT order_id) FROM %s.raw_orders"
                                       % DATASET)[0]
        return int(rows), int(distinct)

    def bq_order_ids(self):
        """Every order_id of raw_orders (with repetitions), by tabledata.list."""
        ids = []
        token = None
        while True:
            path = ("/bigquery/v2/projects/%s/datasets/%s/tables/raw_orders/data"
                    "?selectedFields=order_id&maxResults=50000" % (PROJECT, DATASET))
            if token:
                path += "&pageToken=" + urllib.request.quote(token)
            j = http_retry("tabledata.list", "GET", self.url("bigquery", path))
            ids.extend(r["f"][0]["v"] for r in j.get("rows", []))
            token = j.get("pageToken")
            if not token:
                return ids


# ---------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------

class ChaosBench(Bench):
    """benchlib's Bench with a persistent, restartable emulator."""

    def _start_emulator(self, services):
        self.emu = Emulator(self.tmp)
        self.emu.start()
        self.ports = self.emu.ports

    def psql_cmd(self, appname="chaos"):
        return ["psql", "-X", "-A", "-t", "-q", "-h", self.tmp, "-p", str(self.pgport), "-U", "postgres",
                "-d", "dbname=postgres application_name=%s" % appname, "-v", "ON_ERROR_STOP=1"]

    def try_psql(self, *commands, timeout=120, appname="chaos"):
        """(returncode, stdout lines, stderr) of the commands in one session."""
        cmd = self.psql_cmd(appname)
        for c in commands:
            cmd += ["-c", c]
        try:
            r = subprocess.run(as_pg(cmd), capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return 124, [], "timeout"
        return r.returncode, r.stdout.strip().split("\n") if r.stdout.strip() else [], r.stderr

    def psql_retry(self, *commands, timeout=180):
        """Output lines of the commands, retried while the server restarts."""
        deadline = time.monotonic() + timeout
        while True:
            rc, out, err = self.try_psql(*commands, timeout=timeout)
            if rc == 0:
                return out
            if time.monotonic() > deadline:
                raise RuntimeError("psql failed for %d s: %s: %s" % (timeout, commands, err.strip()))
            time.sleep(0.3)

    def pg_ctl(self, *args):
        return subprocess.run(as_pg([PGBIN + "/pg_ctl", "-D", self.pgdata, "-l",
                                     os.path.join(self.tmp, "pg.log")] + list(args)),
                              capture_output=True, text=True)

    def postmaster_pid(self):
        try:
            with open(os.path.join(self.pgdata, "postmaster.pid")) as f:
                return int(f.readline())
        except (OSError, ValueError):
            return None

    def close(self, keep=False):
        if os.path.exists(os.path.join(self.pgdata, "postmaster.pid")):
            self.pg_ctl("-m", "immediate", "-w", "stop")
        if getattr(self, "emu", None):
            self.emu.stop()
        if keep:
            log("kept %s (pg.log, emulator.log, emulator-data, pgdata)" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


STAT_COLS = ("received", "inserted", "acked", "dead_lettered", "late", "batches", "retries")


def worker_counters(bench):
    line = bench.psql_retry("SELECT %s FROM bqstream.worker_stats WHERE pipeline = '%s'"
                            % (", ".join("coalesce(sum(%s), 0)" % c for c in STAT_COLS), PIPELINE))[0]
    return dict(zip(STAT_COLS, map(int, line.split("|"))))


def running_workers(bench):
    rc, out, _ = bench.try_psql("SELECT pid FROM bqstream.worker_stats WHERE pipeline = '%s' "
                                "AND pid IS NOT NULL ORDER BY worker" % PIPELINE, timeout=20)
    return [int(p) for p in out if p] if rc == 0 else []


def dead_letter_counts(bench):
    rows, distinct = bench.psql_retry("SELECT count(*), count(DISTINCT message_id) FROM bqstream.dead_letters "
                                      "WHERE pipeline = '%s'" % PIPELINE)[0].split("|")
    return int(rows), int(distinct)


# ---------------------------------------------------------------------------
# the publisher: fixed-size publish_orders() calls, one seed each
# ---------------------------------------------------------------------------

class Publisher(threading.Thread):
    def __init__(self, bench, rate, chunk_seconds, malformed, late, seed_base):
        super().__init__(daemon=True)
        self.bench, self.rate, self.malformed, self.late = bench, rate, malformed, late
        self.n = max(1, int(rate * chunk_seconds))
        self.seed_base = seed_base
        self.next = 0
        self.chunks = []
        self.stop_event = threading.Event()

    def publish(self, n, rate=None):
        """One publish_orders() call; its chunk record."""
        seed = self.seed_base + self.next
        self.next += 1
        timeout_s = int(n / rate * 4 + 120) if rate else 300
        sql = ("SELECT published, failed, malformed, late FROM bqstream.publish_orders(%d, 'bench', "
               "%smalformed_fraction => %r, late_fraction => %r, seed => %d, progress_interval => 0)"
               % (n, "rate => %d, " % rate if rate else "", self.malformed, self.late, seed))
        chunk = {"seed": seed, "n": n, "start": time.monotonic() - T0}
        # a statement timeout still returns the counts; the subprocess timeout is a last resort
        rc, out, err = self.bench.try_psql("SET statement_timeout = '%ds'" % timeout_s, sql,
                                           timeout=timeout_s + 60, appname="chaos-publisher")
        chunk["end"] = time.monotonic() - T0
        if rc == 0:
            pub, failed, mal, late = map(int, out[0].split("|"))
            chunk.update(status="done", published=pub, failed=failed, malformed=mal, late=late)
        elif err.startswith("psql: error: connection to server"):
            chunk.update(status="not_started", error=err.strip()[-200:])   # never reached a backend
        else:
            chunk.update(status="interrupted", error=err.strip()[-200:])
        self.chunks.append(chunk)
        return chunk

    def run(self):
        while not self.stop_event.is_set():
            c = self.publish(self.n, self.rate)
            if c["status"] != "done":
                log("publish chunk seed %d %s: %s" % (c["seed"], c["status"],
                                                       c["error"].splitlines()[-1] if c["error"] else ""))
                time.sleep(0.5)
            elif c["failed"]:
                log("publish chunk seed %d: %d published, %d failed" % (c["seed"], c["published"], c["failed"]))


# ---------------------------------------------------------------------------
# the audit tap: every message Pub/Sub accepted, from a subscription of our own
# ---------------------------------------------------------------------------

ORDER_FIELDS = {"order_id", "user_id", "product_id", "amount", "event_time"}


def classify(payload):
    """The order_id of a valid order (the pipeline's rules), else None."""
    try:
        o = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(o, dict) or set(o) != ORDER_FIELDS:
        return None
    for k in ("order_id", "user_id", "product_id"):
        if not isinstance(o[k], str) or not 0 < len(o[k]) <= 128:
            return None
    a = o["amount"]
    if isinstance(a, bool) or not isinstance(a, (int, float)) or a < 0:
        return None
    try:
        t = datetime.datetime.fromisoformat(o["event_time"].replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        return None
    if t.tzinfo is None or t.timestamp() > time.time() + 3600:
        return None
    return o["order_id"]


class Tap(threading.Thread):
    """Pulls a subscription all along and keeps message ID -> order_id/None."""

    def __init__(self, emu, sub, keep_payloads=True):
        super().__init__(daemon=True)
        self.emu, self.sub, self.keep_payloads = emu, sub, keep_payloads
        self.valid = {}          # message ID -> order_id
        self.bad = {}            # message ID -> payload (for diagnosis)
        self.deliveries = 0
        self.errors = 0
        self.last_empty = 0.0
        self.stop_event = threading.Event()

    def run(self):
        while not self.stop_event.is_set():
            try:
                status, j = http_call("POST", self.emu.sub_url(self.sub, ":pull"),
                                      {"maxMessages": 1000, "returnImmediately": False}, timeout=30)
                if status != 200:
                    self.errors += 1
                    time.sleep(0.2)
                    continue
                msgs = j.get("receivedMessages", [])
                if not msgs:
                    self.last_empty = time.monotonic()
                    continue
                for rm in msgs:
                    m = rm["message"]
                    mid = m["messageId"]
                    payload = base64.b64decode(m.get("data", ""))
                    oid = classify(payload)
                    if oid is not None:
                        self.valid[mid] = oid
                    else:
                        self.bad[mid] = payload if self.keep_payloads else b""
                self.deliveries += len(msgs)
                # a lost ack only means the messages come again (keyed by message ID), later
                try:
                    http_retry("acknowledge", "POST", self.emu.sub_url(self.sub, ":acknowledge"),
                               {"ackIds": [rm["ackId"] for rm in msgs]}, timeout=20)
                except RuntimeError:
                    self.errors += 1
            except OSError:
                self.errors += 1
                time.sleep(0.3)


# ---------------------------------------------------------------------------
# memory: RSS of every bqstream process (and a few registered ones) per lifetime
# ---------------------------------------------------------------------------

def read_status(pid):
    """(VmRSS kB, RssAnon kB) of a process, or None."""
    vm = anon = None
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    vm = int(line.split()[1])
                elif line.startswith("RssAnon:"):
                    anon = int(line.split()[1])
    except (OSError, ValueError):
        return None
    return (vm, anon) if vm is not None else None


def proc_stat(pid):
    """(ppid, start time in ticks) of a process, or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
        fields = s[s.rindex(")") + 2:].split()
        return int(fields[1]), int(fields[19])
    except (OSError, ValueError, IndexError):
        return None


class MemorySampler(threading.Thread):
    def __init__(self, bench, interval=1.0):
        super().__init__(daemon=True)
        self.bench, self.interval = bench, interval
        self.procs = collections.OrderedDict()   # (pid, start) -> {"name", "samples": [(t, vm, anon)]}
        self.extra = {}                          # pid -> name, registered by hand
        self.lock = threading.Lock()
        self.stop_event = threading.Event()

    def register(self, pid, name):
        with self.lock:
            self.extra[pid] = name

    def unregister(self, pid):
        with self.lock:
            self.extra.pop(pid, None)

    def _sample(self, pid, name, start, now):
        st = read_status(pid)
        if st is None:
            return
        key = (pid, start)
        with self.lock:
            if key not in self.procs:
                self.procs[key] = {"name": name, "pid": pid, "samples": []}
            self.procs[key]["samples"].append((now, st[0], st[1]))

    def tick(self):
        now = time.monotonic() - T0
        pm = self.bench.postmaster_pid()
        if pm:
            for d in os.listdir("/proc"):
                if not d.isdigit():
                    continue
                pid = int(d)
                ps = proc_stat(pid)
                if not ps or ps[0] != pm:
                    continue
                try:
                    with open("/proc/%d/cmdline" % pid, "rb") as f:
                        title = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
                except OSError:
                    continue
                if not title.startswith("postgres: bqstream"):
                    continue
                name = re.sub(r"^postgres: ", "", title)
                name = re.sub(r"^bqstream pipeline %s " % PIPELINE, "", name)
                self._sample(pid, name, ps[1], now)
        with self.lock:
            extra = list(self.extra.items())
        for pid, name in extra:
            ps = proc_stat(pid)
            if ps:
                self._sample(pid, name, ps[1], now)

    def run(self):
        while not self.stop_event.wait(self.interval):
            self.tick()


def slope_kb_per_min(points):
    """Least-squares slope of [(t, kB)] in kB per minute."""
    n = len(points)
    mt = sum(p[0] for p in points) / n
    mv = sum(p[1] for p in points) / n
    var = sum((p[0] - mt) ** 2 for p in points)
    return 60 * sum((p[0] - mt) * (p[1] - mv) for p in points) / var if var else 0.0


def mem_verdict(samples, min_life, until=None):
    """('flat' | 'growing' | 'short', RssAnon growth in kB, kB/min) of one lifetime,
    judged on the samples taken before `until` (the end of the soak: the fast
    calm tail raises high-water marks, which is no leak)."""
    if until is not None:
        samples = [s for s in samples if s[0] <= until]
    if len(samples) < 2:
        return "short", None, None
    life = samples[-1][0] - samples[0][0]
    if life < min_life or len(samples) < min_life / 2:
        return "short", None, None
    warm = samples[0][0] + min(30.0, 0.2 * life)      # start-up allocations are not a leak
    judged = [(s[0], s[2]) for s in samples if s[0] >= warm]
    vals = [v for _, v in judged]
    q = max(1, len(vals) // 4)
    first, last = statistics.median(vals[:q]), statistics.median(vals[-q:])
    growth = last - first
    return ("growing" if growth > max(1024, 0.05 * first) else "flat"), growth, slope_kb_per_min(judged)


# ---------------------------------------------------------------------------
# the FDW soak: one backend scanning raw_orders again and again
# ---------------------------------------------------------------------------

FDW_QUERY = ("SELECT count(*), sum(length(order_id)), sum(amount), "
             "max(extract(epoch FROM event_time)) FROM fdwsoak.raw_orders")


class FdwSoak(threading.Thread):
    def __init__(self, bench, sampler):
        super().__init__(daemon=True)
        self.bench, self.sampler = bench, sampler
        self.scans = self.errors = self.rows = 0
        self.pid = None
        self.remote_sql = ""
        self.stop_event = threading.Event()
        self.last_error = ""

    def run(self):
        # planning reads the table's metadata: a fault burst may fail it, so try again
        while True:
            rc, plan, err = self.bench.try_psql("EXPLAIN (VERBOSE, COSTS OFF) " + FDW_QUERY)
            if rc == 0:
                break
            self.errors += 1
            self.last_error = "EXPLAIN failed: %s" % err.strip()
            if self.stop_event.wait(1.0):
                return
        self.remote_sql = next((l.strip() for l in plan if "Remote SQL" in l), "?")
        p = subprocess.Popen(as_pg(self.bench.psql_cmd("chaos-fdw-soak")[:-2]), stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)

        def ask(sql):
            p.stdin.write(sql + ";\n\\echo __done__\n")
            p.stdin.flush()
            lines = []
            while True:
                line = p.stdout.readline()
                if line == "" or line.strip() == "__done__":
                    return lines, line == ""
                lines.append(line.strip())

        try:
            lines, eof = ask("SELECT pg_backend_pid()")
            if eof or not lines:
                self.last_error = "the FDW soak session did not start: %s" % lines
                return
            self.pid = int(lines[0])
            self.sampler.register(self.pid, "fdw backend")
            while not self.stop_event.is_set():
                lines, eof = ask(FDW_QUERY)
                if eof:
                    self.last_error = "the FDW soak session ended"
                    return
                errs = [l for l in lines if "ERROR" in l]
                if errs:
                    self.errors += 1
                    self.last_error = errs[0]
                elif lines:
                    self.scans += 1
                    self.rows += int(lines[-1].split("|")[0])
                self.stop_event.wait(0.2)
        finally:
            try:
                p.stdin.write("\\q\n")
                p.stdin.flush()
            except OSError:
                pass
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
            if self.pid:
                # keep its samples, but stop sampling a pid that may be reused
                self.sampler.unregister(self.pid)


# ---------------------------------------------------------------------------
# chaos
# ---------------------------------------------------------------------------

def plan_schedule(rng, chaos_s, soak_s, gap, kinds=KINDS, storage=False):
    """[(offset s, kind, params)]: every kind once first (shuffled), then random."""
    events = []
    first = list(kinds)
    rng.shuffle(first)
    fault_services = [["pubsub"], ["bigquery"], ["pubsub", "bigquery"]]
    if storage:
        fault_services += [["bigquerystorage"], ["pubsub", "bigquerystorage"]]
    t = rng.uniform(*gap) * 0.5
    while t < chaos_s + soak_s:
        in_soak = t >= chaos_s
        if first and not in_soak:
            kind = first.pop(0)
        elif in_soak:
            kind = rng.choice(("restart_emulator", "faults", "faults"))
        else:
            kind = rng.choice(kinds)
        if kind == "kill_worker":
            params = {"worker": rng.randrange(MAX_WORKERS)}
        elif kind == "restart_emulator":
            params = {"signal": rng.choice(("KILL", "KILL", "TERM")), "down_s": round(rng.uniform(0.2, 4.0), 1)}
        elif kind == "faults":
            params = {"services": rng.choice(fault_services),
                      "error_rate": round(rng.uniform(0.1, 0.6), 2),
                      "error_codes": rng.choice(([429, 503], [429, 503], [500, 502, 503, 504, 429])),
                      "latency_ms": rng.choice((0, 0, 50, 300, 2000)),
                      "drop_rate": rng.choice((0, 0, 0.05)),
                      "retry_after_s": rng.choice((None, None, 1)),
                      "duration_s": round(rng.uniform(gap[0], gap[1] * 1.5), 1)}
        else:
            params = {}
        events.append((round(t, 1), kind, params))
        t += rng.uniform(*gap)
    return events


class Chaos:
    def __init__(self, bench, failures):
        self.bench, self.emu, self.failures = bench, bench.emu, failures
        self.killed = set()               # PIDs we SIGKILLed
        self.counts = collections.Counter()
        self.stretch = None               # (BigQuery rows, dead-letter rows) after the last reinit
        self.recoveries = []              # seconds until the workers were back
        self.fault_timers = []

    def after_reinit(self, what):
        """Wait for the server and the workers after a crash or restart."""
        t = time.monotonic()
        deadline = t + 120
        while time.monotonic() < deadline:
            rc, _, _ = self.bench.try_psql("SELECT 1", timeout=10)
            if rc == 0:
                break
            time.sleep(0.2)
        else:
            self.failures.append("%s: the server did not accept connections within 120 s" % what)
            return
        # shared memory was reset: counters start over; later rows only weaken the check
        self.stretch = (self.emu.bq_counts()[0], dead_letter_counts(self.bench)[0])
        while time.monotonic() < deadline:
            if len(running_workers(self.bench)) >= MIN_WORKERS:
                self.recoveries.append(time.monotonic() - t)
                log("  %s: server and %d workers back after %.1f s"
                    % (what, MIN_WORKERS, time.monotonic() - t))
                return
            time.sleep(0.2)
        self.failures.append("%s: the workers did not come back within 120 s (%s)"
                             % (what, running_workers(self.bench)))

    def run_event(self, kind, p):
        self.counts[kind] += 1
        if kind == "kill_worker":
            pids = running_workers(self.bench)
            if not pids:
                log("kill_worker: no worker running, skipped")
                self.counts[kind] -= 1
                return
            pid = pids[p["worker"] % len(pids)]
            log("kill_worker: SIGKILL worker pid %d (of %s)" % (pid, pids))
            self.killed.add(pid)
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.5)           # let the postmaster notice and reinitialize
            self.after_reinit("kill_worker")
        elif kind == "restart_postgres":
            log("restart_postgres: pg_ctl -m immediate restart")
            r = self.bench.pg_ctl("-m", "immediate", "-w", "-t", "120", "restart")
            if r.returncode != 0:
                self.failures.append("pg_ctl restart failed: %s" % r.stderr.strip())
            self.after_reinit("restart_postgres")
        elif kind == "restart_emulator":
            log("restart_emulator: SIG%s, %.1f s down" % (p["signal"], p["down_s"]))
            self.emu.stop(getattr(signal, "SIG" + p["signal"]))
            time.sleep(p["down_s"])
            t = time.monotonic()
            self.emu.start()
            log("  emulator back on %s after %.1f s of start-up" % (self.emu.ports, time.monotonic() - t))
        elif kind == "clock_jump":
            log("clock_jump: the emulator's clock %d s on" % CLOCK_JUMP_S)
            self.emu.advance_clock(CLOCK_JUMP_S)
        elif kind == "faults":
            cfg = {k: p[k] for k in ("error_rate", "error_codes", "latency_ms", "drop_rate")}
            if p["retry_after_s"]:
                cfg["retry_after_s"] = p["retry_after_s"]
            log("faults: %s on %s for %.1f s" % (json.dumps(cfg), "+".join(p["services"]), p["duration_s"]))
            for s in p["services"]:
                self.emu.set_faults(s, cfg)
            timer = threading.Timer(p["duration_s"], self.clear_faults, (p["services"],))
            timer.daemon = True
            timer.start()
            self.fault_timers.append(timer)

    def clear_faults(self, services=("pubsub", "bigquery", "bigquerystorage")):
        for s in services:
            try:
                self.emu.set_faults(s, None)
            except RuntimeError as e:
                log("could not clear faults on %s: %s" % (s, e))

    def clear_all(self):
        for t in self.fault_timers:
            t.cancel()
        self.clear_faults()


# ---------------------------------------------------------------------------
# audit
# ---------------------------------------------------------------------------

def expected_ids(bench, chunks, malformed, late):
    """{chunk seed: (valid order_ids, malformed count)} recomputed with sample_orders()."""
    out = {}
    if not chunks:
        return out
    values = ", ".join("(%d::bigint, %d)" % (c["seed"], c["n"]) for c in chunks)
    lines = bench.psql_retry(
        "SELECT c.seed, CASE WHEN k.reason IS NULL THEN p::json->>'order_id' END "
        "FROM (VALUES %s) c(seed, n), LATERAL bqstream.sample_orders(c.n, c.seed, %r, %r) p, "
        "LATERAL bqstream.check_order(p) k" % (values, malformed, late), timeout=1800)
    for line in lines:
        seed, oid = line.split("|", 1)
        ids, bad = out.setdefault(int(seed), (set(), [0]))
        if oid:
            ids.add(oid)
        else:
            bad[0] += 1
    return {s: (ids, bad[0]) for s, (ids, bad) in out.items()}


class Report:
    def __init__(self):
        self.rows = []
        self.failed = []

    def check(self, what, expected, observed, ok=None):
        if ok is None:
            ok = expected == observed
        self.rows.append((what, expected, observed, "ok" if ok else "FAIL"))
        if not ok:
            self.failed.append(what)

    def info(self, what, value):
        self.rows.append((what, "", value, ""))

    def print(self, title):
        print("\n" + title)
        w = max(len(r[0]) for r in self.rows)
        print("  %-*s %14s %14s  %s" % (w, "", "expected", "observed", ""))
        for what, exp, obs, ok in self.rows:
            print("  %-*s %14s %14s  %s" % (w, what, exp, obs, ok))


def wait_drained(emu, subs, timeout):
    """True once the subscriptions are empty (nothing available, leased or delayed) for 3 s."""
    deadline = time.monotonic() + timeout
    quiet = 0
    next_note = time.monotonic() + 10
    while time.monotonic() < deadline:
        st = emu.sub_state()
        if all(st.get(s, 0) == 0 for s in subs):
            quiet += 1
            if quiet >= 3:
                return True
        else:
            quiet = 0
        if time.monotonic() > next_note:
            log("  still to drain: %s" % {s: st.get(s) for s in subs})
            next_note += 10
        time.sleep(1)
    log("drain timed out: %s" % {s: emu.sub_state().get(s) for s in subs})
    return False


def scan_pg_log(path, killed):
    """(unexpected terminations, Counter of ERROR/WARNING messages) from the server log."""
    unexpected, messages = [], collections.Counter()
    for line in open(path, errors="replace"):
        m = re.search(r"\(PID (\d+)\) was terminated by signal (\d+)", line)
        if m:
            if not (int(m.group(1)) in killed and m.group(2) == "9"):
                unexpected.append(line.strip())
        elif "PANIC" in line:
            unexpected.append(line.strip())
        m = re.search(r"\b(ERROR|WARNING|FATAL):  (.*)", line)
        if m and "fdwsoak" not in line:
            messages["%s: %s" % (m.group(1), re.sub(r'"[^"]*"', '"…"', m.group(2))[:90])] += 1
    return unexpected, messages


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--short", action="store_true", help="CI: 90 s of chaos + 90 s of soak")
    ap.add_argument("--duration", type=int, default=None,
                    help="seconds of chaos + soak (60%%/40%%); default 180 with --short, else 1200")
    ap.add_argument("--seed", type=int, default=None, help="replays a run's schedule (default: random)")
    ap.add_argument("--rate", type=int, default=500, help="orders per second published (default 500)")
    ap.add_argument("--chunk-seconds", type=float, default=5.0, help="length of one publish_orders() call")
    ap.add_argument("--malformed", type=float, default=0.02)
    ap.add_argument("--late", type=float, default=0.05)
    ap.add_argument("--ack-deadline", type=int, default=60,
                    help="ack deadline of the pipeline's subscription (default 60 s, longer than the "
                    "demo's 10 s on purpose: the workers keep shorter leases of their own)")
    ap.add_argument("--demo-subscription", action="store_true",
                    help="use setup_demo()'s orders-pipeline (ack deadline 10 s) instead: see bench/CHAOS.md")
    ap.add_argument("--write-mode", choices=("exactly_once", "default_stream", "insert_all"),
                    default="exactly_once",
                    help="the pipeline's write mode (default exactly_once, with clock jumps)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--rss-csv", metavar="FILE", help="write every RSS sample (t, process, pid, VmRSS kB, RssAnon kB)")
    args = ap.parse_args()

    duration = args.duration or (180 if args.short else 1200)
    chaos_s = round(duration * 0.6) if duration > 180 else min(90, duration // 2)
    soak_s = duration - chaos_s
    gap = (6, 16) if duration <= 600 else (20, 90)     # the four kinds fit in the chaos phase
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 10 ** 6)
    rng = random.Random(seed)
    kinds = KINDS + (("clock_jump",) if args.write_mode == "exactly_once" else ())
    schedule = plan_schedule(rng, chaos_s, soak_s, gap, kinds, storage=args.write_mode != "insert_all")
    print("chaos.py --seed %d --write-mode %s: %d s of chaos, %d s of soak, %d orders/s, %.0f%% malformed, "
          "%.0f%% late" % (seed, args.write_mode, chaos_s, soak_s, args.rate, args.malformed * 100,
                           args.late * 100))
    for t, kind, params in schedule:
        print("  plan +%6.1fs %-17s %s" % (t, kind, json.dumps(params) if params else ""))
    sys.stdout.flush()

    failures = []
    ok = False
    bench = ChaosBench(services="pubsub,bigquery",
                       pg_conf="shared_preload_libraries = 'bqstream'\nbqstream.launcher_naptime = 200\n"
                       "max_worker_processes = 16\nrestart_after_crash = on\nlog_line_prefix = '%m [%p] '\n")
    emu = bench.emu
    sampler = tap = archive = publisher = fdw = None
    try:
        bench.create_server()
        bench.psql("SELECT count(*) FROM bqstream.setup_demo('bench')",
                   "SELECT bqstream.create_subscription('bench', '%s', 'orders', ack_deadline_seconds => 10)"
                   % AUDIT_SUB)
        sub, ack_deadline = DEMO_SUB, 10
        if not args.demo_subscription:
            # the demo's dead-letter policy, a shorter lease; the demo's subscription would only pile up
            sub, ack_deadline = "chaos-orders", args.ack_deadline
            bench.psql("SELECT bqstream.create_subscription('bench', '%s', 'orders', ack_deadline_seconds => %d, "
                       "dead_letter_topic => 'orders-dead-letter', max_delivery_attempts => 5)"
                       % (sub, ack_deadline),
                       "SELECT bqstream.drop_subscription('bench', '%s')" % DEMO_SUB)
        bench.psql("SELECT bqstream.create_pipeline('%s', 'bench', '%s', workers => %d, max_workers => %d, "
                   "write_mode => '%s')" % (PIPELINE, sub, MIN_WORKERS, MAX_WORKERS, args.write_mode),
                   "CREATE SCHEMA fdwsoak",
                   "IMPORT FOREIGN SCHEMA %s LIMIT TO (raw_orders) FROM SERVER bench INTO fdwsoak" % DATASET)
        deadline = time.monotonic() + 60
        while len(running_workers(bench)) < MIN_WORKERS:
            if time.monotonic() > deadline:
                raise RuntimeError("the workers did not start")
            time.sleep(0.2)
        log("setup done: emulator %s, PostgreSQL port %d, pipeline %s on %s (ack deadline %d s), %d..%d workers"
            % (emu.ports, bench.pgport, PIPELINE, sub, ack_deadline, MIN_WORKERS, MAX_WORKERS))

        sampler = MemorySampler(bench)
        sampler.start()
        tap = Tap(emu, AUDIT_SUB)
        tap.start()
        archive = Tap(emu, ARCHIVE_SUB)
        archive.start()
        chaos = Chaos(bench, failures)
        chaos.stretch = (0, 0)
        publisher = Publisher(bench, args.rate, args.chunk_seconds, args.malformed, args.late, seed * 100000)
        publisher.start()

        # ------------------------------------------------------------ chaos, then soak
        start = time.monotonic()
        log("chaos phase: %d s" % chaos_s)

        def elapsed():
            return time.monotonic() - start

        def wait_until(t):
            nonlocal fdw
            while True:
                if fdw is None and elapsed() >= chaos_s:
                    log("soak phase: %d s (emulator chaos only; FDW scans)" % soak_s)
                    fdw = FdwSoak(bench, sampler)
                    fdw.start()
                if elapsed() >= t:
                    return
                time.sleep(0.1)

        for t, kind, params in schedule:
            wait_until(t)
            if elapsed() >= chaos_s + soak_s:
                break
            if kind in ("kill_worker", "restart_postgres") and elapsed() >= chaos_s:
                log("%s planned at +%.1fs comes too late for the chaos phase: skipped" % (kind, t))
                continue
            chaos.run_event(kind, params)
        wait_until(chaos_s + soak_s)
        soak_end = time.monotonic() - T0
        fdw.stop_event.set()
        publisher.stop_event.set()
        log("stopping: waiting for the last publish chunk and the FDW soak")
        publisher.join()
        fdw.join(timeout=120)
        chaos.clear_all()
        for kind in kinds:
            if duration >= 60 and chaos.counts[kind] == 0:
                failures.append("no %s event happened" % kind)

        # ------------------------------------------------------------ drain
        log("draining (timeout %d s)" % (300 if args.short else 900))
        t = time.monotonic()
        if not wait_drained(emu, [sub, AUDIT_SUB], 300 if args.short else 900):
            failures.append("the pipeline did not drain: %s" % bench.psql_retry(
                "SELECT worker, pid, state, last_error FROM bqstream.worker_stats WHERE pipeline = '%s'"
                % PIPELINE))
        log("drained in %.1f s" % (time.monotonic() - t))
        stretch_end = worker_counters(bench)
        stretch_bq = emu.bq_counts()[0]
        stretch_dl = dead_letter_counts(bench)[0]

        # ------------------------------------------------------------ calm tail: exact counters
        tail_n = 5000 if args.short else 20000
        s0, b0, d0 = stretch_end, stretch_bq, stretch_dl
        tail = publisher.publish(tail_n)
        log("calm tail: %s" % {k: tail.get(k) for k in ("status", "published", "failed", "malformed", "late")})
        if not wait_drained(emu, [sub, AUDIT_SUB], 180):
            failures.append("the calm tail did not drain")
        s1 = worker_counters(bench)
        b1 = emu.bq_counts()[0]
        d1 = dead_letter_counts(bench)[0]
        tap.stop_event.set()
        archive.stop_event.set()
        tap.join(timeout=60)
        archive.join(timeout=60)
        sampler.stop_event.set()
        sampler.join(timeout=10)
        sampler.tick()

        # ------------------------------------------------------------ audit
        log("auditing")
        rows, distinct = emu.bq_counts()
        bq_ids = collections.Counter(emu.bq_order_ids())
        dl_ids = set(bench.psql_retry("SELECT DISTINCT message_id FROM bqstream.dead_letters "
                                      "WHERE pipeline = '%s'" % PIPELINE))
        dl_ids.discard("")
        dl_rows, _ = dead_letter_counts(bench)
        valid_msgs = tap.valid
        per_order = collections.Counter(valid_msgs.values())
        parked = set(archive.valid.values())
        chunks = [c for c in publisher.chunks if c["status"] in ("done", "interrupted")]
        exp = expected_ids(bench, chunks, args.malformed, args.late)
        definite, possible = set(), set()
        gen_mismatch = 0
        for c in chunks:
            ids, bad = exp.get(c["seed"], (set(), 0))
            possible |= ids
            if c["status"] == "done" and c["failed"] == 0:
                definite |= ids
                if c["malformed"] != bad or c["published"] != c["n"]:
                    gen_mismatch += 1

        missing = {o: n - bq_ids.get(o, 0) for o, n in per_order.items() if bq_ids.get(o, 0) < n}
        missing_parked = [o for o in missing if o in parked]
        lost = [o for o in missing if o not in parked]
        parked_rows = sum(missing[o] for o in missing_parked)
        malformed_not_dl = set(tap.bad) - dl_ids
        extra_rows = {o: n - per_order.get(o, 0) for o, n in bq_ids.items() if n > per_order.get(o, 0)}
        unknown = [o for o in bq_ids if o not in per_order]
        done = [c for c in publisher.chunks if c["status"] == "done"]
        interrupted = [c for c in publisher.chunks if c["status"] == "interrupted"]
        published_done = sum(c["published"] for c in done)
        slack = sum(c["failed"] for c in done) + sum(c["n"] for c in interrupted)
        accepted = len(valid_msgs) + len(tap.bad)
        pub_dups = sum(n - 1 for n in per_order.values() if n > 1)

        r = Report()
        r.info("publish_orders() calls: done / interrupted / not started",
               "%d / %d / %d" % (len(done), len(interrupted),
                                 sum(c["status"] == "not_started" for c in publisher.chunks)))
        r.info("orders reported published by completed calls", published_done)
        r.check("messages Pub/Sub accepted (audit subscription)",
                "%d..%d" % (published_done, published_done + slack), accepted,
                published_done <= accepted <= published_done + slack)
        r.info("  valid", len(valid_msgs))
        r.info("  malformed", len(tap.bad))
        r.info("  valid orders published twice by publisher retries", pub_dups)
        r.check("BigQuery rows = valid messages", len(valid_msgs) - parked_rows, rows)
        r.check("BigQuery distinct order_ids", len(per_order) - len([o for o in missing_parked if o not in bq_ids]),
                distinct)
        r.check("rows listed by tabledata.list", rows, sum(bq_ids.values()))
        r.check("valid orders lost (in no table)", 0, len(lost))
        r.check("duplicate rows (beyond publisher retries)", 0, sum(extra_rows.values()))
        r.check("order_ids in BigQuery never published", 0, len(unknown))
        r.info("valid orders parked in Pub/Sub's dead-letter topic", len(missing_parked))
        r.info("messages in Pub/Sub's dead-letter topic (all)", len(archive.valid) + len(archive.bad))
        r.check("dead letters: distinct message IDs", len(tap.bad), len(dl_ids),
                len(dl_ids) == len(tap.bad) or (not dl_ids - set(tap.bad)
                                                and len(malformed_not_dl) <= len(archive.bad)))
        r.check("malformed messages neither dead-lettered nor parked", "<= %d" % len(archive.bad),
                len(malformed_not_dl), len(malformed_not_dl) <= len(archive.bad))
        r.check("dead letters that are not malformed messages", 0, len(dl_ids - set(tap.bad)))
        r.check("dead-letter rows stored twice (a redelivery after a crash before the ack)", 0,
                dl_rows - len(dl_ids))
        r.check("definitely published valid ids (%d chunks) not in BigQuery" % sum(
            1 for c in chunks if c["status"] == "done" and c["failed"] == 0),
            0, len(definite - set(bq_ids) - parked))
        r.check("BigQuery ids no chunk could have produced", 0, len(set(bq_ids) - possible))
        r.check("chunks whose counts differ from sample_orders()", 0, gen_mismatch)
        # counters since the last restart of PostgreSQL (shared memory starts over there)
        sb, sd = chaos.stretch
        r.check("stretch since last restart: inserted >= new BigQuery rows", ">= %d" % (stretch_bq - sb),
                stretch_end["inserted"], stretch_end["inserted"] >= stretch_bq - sb)
        r.check("stretch: dead_lettered >= new dead-letter rows", ">= %d" % (stretch_dl - sd),
                stretch_end["dead_lettered"], stretch_end["dead_lettered"] >= stretch_dl - sd)
        r.check("stretch: acked <= inserted + dead_lettered",
                "<= %d" % (stretch_end["inserted"] + stretch_end["dead_lettered"]), stretch_end["acked"],
                stretch_end["acked"] <= stretch_end["inserted"] + stretch_end["dead_lettered"])
        r.check("stretch: acked <= received", "<= %d" % stretch_end["received"], stretch_end["acked"],
                stretch_end["acked"] <= stretch_end["received"])
        if tail["status"] == "done" and tail["failed"] == 0:
            tv = tail["published"] - tail["malformed"]
            d = {k: s1[k] - s0[k] for k in STAT_COLS}
            r.check("tail (%d orders, no chaos): received" % tail_n, tail["published"], d["received"])
            r.check("tail: acked", tail["published"], d["acked"])
            r.check("tail: inserted = new BigQuery rows", tv, d["inserted"], d["inserted"] == tv == b1 - b0)
            r.check("tail: dead_lettered = new dead letters", tail["malformed"], d["dead_lettered"],
                    d["dead_lettered"] == tail["malformed"] == d1 - d0)
            if emu.clock_offset_s > 0:
                # lateness is publish time (the emulator's clock, moved on) minus
                # event time (PostgreSQL's): after a clock jump every order is late
                r.info("tail: late (publish times %d s ahead after the clock jumps: not compared)"
                       % emu.clock_offset_s, "%d / %d" % (tail["late"], d["late"]))
            else:
                r.check("tail: late", tail["late"], d["late"])
        else:
            r.check("tail publish completed without failures", "done, 0 failed",
                    "%s, %s failed" % (tail["status"], tail.get("failed")), False)
        unexpected, log_messages = scan_pg_log(os.path.join(bench.tmp, "pg.log"), chaos.killed)
        emu.collect_counters()
        r.check("server processes terminated by a signal we did not send", 0, len(unexpected))
        r.info("chaos events: " + ", ".join("%s %d" % (k, chaos.counts[k]) for k in sorted(chaos.counts)), "")
        if chaos.recoveries:
            r.info("workers back after a crash/restart: max seconds", "%.1f" % max(chaos.recoveries))
        r.info("audit subscription: deliveries / pull errors", "%d / %d" % (tap.deliveries, tap.errors))
        r.info("emulator (summed over its lifetimes, approximate): rows de-duplicated by insertId",
               emu.totals["rows_deduplicated"])
        r.info("  messages redelivered / lease expired", "%d / %d" % (emu.totals["messages_redelivered"],
                                                                    emu.totals["messages_expired"]))
        r.print("AUDIT (seed %d)" % seed)
        if log_messages:
            print("\n  server log (ERROR/WARNING/FATAL, fdw soak excluded):")
            for msg, n in log_messages.most_common(12):
                print("  %6d  %s" % (n, msg))
        for what, items in (("lost", lost[:5]), ("parked", missing_parked[:5]),
                            ("duplicated", list(extra_rows.items())[:5]), ("unknown", unknown[:5]),
                            ("unexpected terminations", unexpected[:5])):
            if items:
                print("  %s, e.g.: %s" % (what, items))
        bad_not_dl = list(malformed_not_dl)[:3]
        if bad_not_dl:
            print("  malformed but not dead-lettered, e.g.: %s"
                  % [(m, tap.bad[m][:120]) for m in bad_not_dl])
        wrong_dl = list(dl_ids - set(tap.bad))[:3]
        if wrong_dl:
            print("  dead-lettered but valid, e.g.: %s" % bench.psql_retry(
                "SELECT message_id, reason, detail FROM bqstream.dead_letters WHERE message_id IN (%s)"
                % ", ".join("'%s'" % m for m in wrong_dl)))

        # ------------------------------------------------------------ memory
        print("\nMEMORY (RSS per process lifetime, MB; verdict from RssAnon after warm-up)")
        print("  %-22s %7s %13s %6s %20s %20s  %s" % ("process", "pid", "alive (s)", "samples",
                                                    "VmRSS first/last/max", "RssAnon first/last/max",
                                                    "verdict"))
        growing = []
        short = []

        def mb(kb):
            return "%.1f" % (kb / 1024.0)

        for (pid, _), pr in sampler.procs.items():
            s = pr["samples"]
            if not s:
                continue
            v, growth, slope = mem_verdict(s, MIN_LIFE, soak_end)
            if v == "short":
                short.append(s)
                continue
            print("  %-22s %7d %6.0f-%-6.0f %6d %20s %20s  %s%s" % (
                pr["name"], pid, s[0][0], s[-1][0], len(s),
                "/".join(mb(x) for x in (s[0][1], s[-1][1], max(x[1] for x in s))),
                "/".join(mb(x) for x in (s[0][2], s[-1][2], max(x[2] for x in s))),
                v, " (%+.0f kB, %+.0f kB/min)" % (growth, slope) if growth is not None else ""))
            if v == "growing":
                growing.append("%s pid %d" % (pr["name"], pid))
        if short:
            print("  %d shorter lifetimes (< %d s before the soak ended): max VmRSS %s MB, max RssAnon %s MB"
                  % (len(short), MIN_LIFE, mb(max(x[1] for s in short for x in s)),
                     mb(max(x[2] for s in short for x in s))))
        if fdw:
            print("  FDW soak: %d scans, %d rows, %d errors%s; %s" % (
                fdw.scans, fdw.rows, fdw.errors,
                " (last: %s)" % fdw.last_error if fdw.last_error else "", fdw.remote_sql))
        print("  memory verdict: %s" % ("growing: " + ", ".join(growing) if growing else "flat"))
        if args.rss_csv:
            with open(args.rss_csv, "w") as f:
                f.write("t,process,pid,vmrss_kb,rssanon_kb\n")
                for (pid, _), pr in sampler.procs.items():
                    for t, vm, anon in pr["samples"]:
                        f.write("%.1f,%s,%d,%d,%d\n" % (t, pr["name"], pid, vm, anon))

        failures += ["audit: " + f for f in r.failed]
        if fdw is not None and fdw.scans == 0:
            failures.append("the FDW soak did not complete a single scan: %s" % fdw.last_error)
        print()
        if failures:
            print("CHAOS RUN FAILED (seed %d):" % seed)
            for f in failures:
                print("  - " + f)
        else:
            print("CHAOS RUN PASSED (seed %d): nothing lost, nothing duplicated" % seed)
        argv = [a for a in sys.argv[1:] if not a.startswith("--seed")]
        if "--seed" in sys.argv:
            i = sys.argv.index("--seed")
            argv = sys.argv[1:i] + sys.argv[i + 2:]
        print("replay: bench/chaos.py %s" % " ".join(argv + ["--seed", str(seed)]))
        ok = not failures
    finally:
        for th in (publisher, fdw, tap, archive, sampler):
            if th is not None:
                th.stop_event.set()
        bench.close(keep=args.keep or not ok)
    log("done")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
