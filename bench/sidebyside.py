#!/usr/bin/python3
"""Side-by-side benchmark: bqstream against Google's official Node clients
(@google-cloud/pubsub, @google-cloud/bigquery) on the same local emulator, in
one run, alternating the two sides.

One emulator (Pub/Sub + BigQuery, in memory, one Python process) and one
throwaway PostgreSQL 15 with bqstream preloaded serve every measurement.
Three phases, each repeated --reps times with the order of the two sides
alternating (bqstream first in odd repetitions, Node first in even ones):

1. Publish N orders. bqstream: `publish_orders(N, ...)` with its defaults,
   batches of 1,000 and 4 requests in flight. Node (bench/node/publish.js):
   topic.publishMessage() through topic.flowControlled(), batching
   maxMessages 1,000 and at most 4 batches outstanding. Both publish the
   same bytes: the payloads of `bqstream.sample_orders(N, seed, "at")`,
   written to a file the Node script reads, are exactly the messages
   publish_orders() sends for that seed and "at". The topic has no
   subscription, so the emulator stores nothing (the least work for it).
2. Stream a backlog of N orders into BigQuery. N orders are published once
   (not timed) to a topic with two subscriptions; then a bqstream pipeline
   with W workers drains one into `stream_bqstream`, and bench/node/consume.js
   with W concurrent pull loops drains the other into `stream_node`: pull
   1,000 -> validate -> insertAll in chunks of 500 with insertId = message
   ID -> acknowledge after the insert. Timed from start_pipeline() (resp. "go")
   until every message is acknowledged.
3. Query a table of R orders loaded beforehand (spread over D days; not
   timed): a full scan of raw_orders, a one-hour window, and orders and
   revenue per product per minute (written as a GROUP BY on raw_orders, and
   read from the orders_per_minute materialized view) through bqstream_fdw in
   psql vs the same GoogleSQL with @google-cloud/bigquery (bench/node/query.js:
   jobs.query, then getQueryResults page by page, pages of --page rows on
   both sides, every row converted to JavaScript values).

For each: wall time, orders or rows per second, CPU seconds of our process
(the PostgreSQL backend from its /proc/self/stat, or the pipeline workers'
/proc/PID/stat) and of the Node process (process.cpuUsage() around the
measured part), the emulator's CPU over the same interval (/proc), and the
Node/bqstream ratios. The emulator's ceiling comes from bench/emulator_pubsub.py
and bench/emulator_bigquery.py (a trivial stdlib client) run in the same
invocation (the publisher of the first against this run's emulator). One
table at the end, also written to bench/RESULTS.md with the machine's
description.

Usage: bench/sidebyside.py [--orders N] [--rows N] [--quick] [--reps R] [--workers W]
                           [--batch-size B] [--in-flight F] [--page P] [--days D]
                           [--seed S] [--phases publish,stream,query] [--no-ceiling]
                           [--no-write]
  --quick  20,000 orders and 50,000 rows: a smoke run of under a minute.
Run as root (PostgreSQL runs as the postgres OS user); requires `make install`
and `npm ci` in bench/node first. BQSTREAM_BUILT_FROM=TEXT (e.g. a commit)
adds where the installed bqstream.so was built from to the machine's
description, which otherwise shows the library's install time and the
checkout's HEAD.
"""

import argparse
import bisect
import datetime
import http.client
import json
import os
import platform
import queue
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

from benchlib import ROOT, SELF_STAT, Bench, as_pg, cpu_seconds, proc_cpu

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
NODE_DIR = os.path.join(BENCH_DIR, "node")
PROJECT = "bench-project"
DATASET = "shop"
START_EPOCH = 1793491200          # 2026-11-01 00:00:00 UTC: the query table's first day
N_PRODUCTS = 10000
N_USERS = 1000000
LOAD_BATCH = 20000                # rows per insertAll when loading the query table
MARK = "SELECT extract(epoch FROM clock_timestamp()), (%s)" % SELF_STAT
MIN_CPU = 0.05                    # below this (/proc counts 10 ms ticks) a CPU ratio means nothing


def log(msg):
    print(msg, flush=True)


# --------------------------------------------------------------------------- emulator

class Emulator:
    """Keep-alive connections to both services of the bench's emulator, its
    counters, and its CPU time from /proc."""

    def __init__(self, bench):
        self.pid = bench.emulator.pid
        self.ports = bench.ports
        self.conns = {s: http.client.HTTPConnection("127.0.0.1", p, timeout=600) for s, p in self.ports.items()}

    def call(self, service, method, path, body=None):
        data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
        headers = {"Content-Type": "application/json"} if data is not None else {}
        conn = self.conns[service]
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        if resp.status >= 300:
            raise SystemExit("emulator: %s %s -> %d %s" % (method, path, resp.status, raw[:500]))
        return json.loads(raw) if raw else {}

    def counters(self):
        return {s: self.call(s, "GET", "/emulator/counters") for s in self.conns}

    def start(self):
        c = self.counters()
        return {"counters": c, "cpu": proc_cpu(self.pid)}

    def end(self, start):
        cpu = proc_cpu(self.pid)
        c = self.counters()
        d = {"emulator_cpu": cpu - start["cpu"], "requests": {}, "response_bytes": 0, "response_bytes_sent": 0,
             "rows_returned": 0}
        for s, now in c.items():
            before = start["counters"][s]
            for k, v in now.get("requests", {}).items():
                n = v - before.get("requests", {}).get(k, 0)
                if n:
                    d["requests"][k] = d["requests"].get(k, 0) + n
            for k in ("response_bytes", "response_bytes_sent", "rows_returned"):
                d[k] += now.get(k, 0) - before.get(k, 0)
        return d

    def query(self, sql):
        """A one-page GoogleSQL query straight to the emulator (for checks)."""
        out = self.call("bigquery", "POST", "/bigquery/v2/projects/%s/queries" % PROJECT,
                        {"query": sql, "useLegacySql": False, "useQueryCache": False})
        return [[c["v"] for c in r["f"]] for r in out.get("rows", [])]


# --------------------------------------------------------------------------- psql

class Session:
    """One psql session driven statement by statement, so that the emulator's
    counters and CPU can be read between two statements."""

    def __init__(self, bench):
        self.err = tempfile.TemporaryFile(mode="w+")
        self.p = subprocess.Popen(as_pg(["psql", "-X", "-A", "-t", "-q", "-h", bench.tmp, "-p", str(bench.pgport),
                                         "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1"]),
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err,
                                  text=True, bufsize=1)

    def run(self, sql):
        self.p.stdin.write(sql + ";\n\\echo __end__\n")
        self.p.stdin.flush()
        out = []
        for line in self.p.stdout:
            if line == "__end__\n":
                return out
            out.append(line.rstrip("\n"))
        self.p.wait()
        self.err.seek(0)
        raise SystemExit("psql failed on: %s\n%s" % (sql, self.err.read()))

    def close(self):
        self.p.stdin.close()
        self.p.wait()
        self.err.close()


def measure_sql(bench, emu, sql, warmup):
    """Run sql in a fresh session after a warm-up statement; figures of that statement alone."""
    s = Session(bench)
    try:
        s.run(warmup)
        e = emu.start()
        t0, s0 = s.run(MARK)[0].split("|", 1)
        result = s.run(sql)
        t1, s1 = s.run(MARK)[0].split("|", 1)
        d = emu.end(e)
    finally:
        s.close()
    d.update(seconds=float(t1) - float(t0), cpu=cpu_seconds(s1) - cpu_seconds(s0), result=result)
    return d


# --------------------------------------------------------------------------- node

def run_node(emu, script, args, env):
    """Run a bench/node script with the ready/go/done handshake; figures of the
    measured part (wall and CPU from the script, emulator from here)."""
    err = tempfile.TemporaryFile(mode="w+")
    p = subprocess.Popen(["node", os.path.join(NODE_DIR, script)] + args, cwd=NODE_DIR, env=env,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True, bufsize=1)

    def line():
        out = p.stdout.readline()
        if not out:
            p.wait()
            err.seek(0)
            raise SystemExit("node %s failed (exit %s):\n%s" % (script, p.returncode, err.read()[-3000:]))
        return json.loads(out)

    try:
        ready = line()
        assert ready.get("ready"), ready
        e = emu.start()
        p.stdin.write("go\n")
        p.stdin.flush()
        done = line()
        d = emu.end(e)
        p.wait(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        err.close()
    d.update(done)
    d["cpu"] = done["cpu_user_s"] + done["cpu_system_s"]
    return d


def node_env(bench):
    env = dict(os.environ)
    env["PUBSUB_EMULATOR_HOST"] = "127.0.0.1:%d" % bench.ports["pubsub"]
    env.pop("BIGQUERY_EMULATOR_HOST", None)
    env["METADATA_SERVER_DETECTION"] = "none"
    return env


# --------------------------------------------------------------------------- ceiling

def ceiling(n, emu):
    """The emulator's rates with a trivial stdlib client: publish with
    bench/emulator_pubsub.py's publisher process against this run's emulator,
    to a topic without subscription as the publish phase uses; pull+ack,
    insertAll and paged SELECT * with the two scripts as they are (each starts
    its own emulator, in memory as this run's)."""
    import emulator_pubsub
    out = {}
    topic_path = "/v1/projects/%s/topics/sbs-ceiling" % PROJECT
    emu.call("pubsub", "PUT", topic_path, b"")
    r = emulator_pubsub.run_phase("http://127.0.0.1:%d" % emu.ports["pubsub"], topic_path, None, n, 1000, 1,
                                  pull=False, publish=True, pid=emu.pid)
    out["publish"] = r["msgs_per_s"]
    r = subprocess.run(["/usr/bin/python3", os.path.join(BENCH_DIR, "emulator_pubsub.py"), "-n", str(n),
                        "--no-data-dir", "--json"], cwd=ROOT, capture_output=True, text=True)
    if r.returncode == 0:
        res = json.loads(r.stdout)["results"]
        out["pull_ack"] = res["pull+ack"]["msgs_per_s"]
    else:
        log("emulator_pubsub.py failed: %s" % r.stderr[-500:])
    r = subprocess.run(["/usr/bin/python3", os.path.join(BENCH_DIR, "emulator_bigquery.py"), "--rows", str(n),
                        "--memory", "--json"], cwd=ROOT, capture_output=True, text=True)
    if r.returncode == 0:
        res = json.loads(r.stdout)
        out["insert"] = res["insert_rows_per_s"]
        out["select"] = res["query_rows_per_s"]
    else:
        log("emulator_bigquery.py failed: %s" % r.stderr[-500:])
    if "pull_ack" in out and "insert" in out:
        # one emulator process serves both: per order, a pull+ack and a row of insertAll
        out["stream"] = round(1 / (1 / out["pull_ack"] + 1 / out["insert"]))
    return out


# --------------------------------------------------------------------------- loading the query table

def zipf_cdf(n, s=1.1):
    total, cdf = 0.0, []
    for k in range(1, n + 1):
        total += 1.0 / k ** s
        cdf.append(total)
    return [c / total for c in cdf]


def load_orders(emu, table, n, days, seed):
    """insertAll n orders (the generator's shapes: uuid order_id, u-NNNNNNN users,
    Zipf p-NNNNN products, log-normal amounts) with event times uniform over
    `days` days from START_EPOCH; no insertIds. Bodies are built here while a
    thread sends the previous one."""
    rng = random.Random(seed)
    cdf = zipf_cdf(N_PRODUCTS)
    day_text = [time.strftime("%Y-%m-%d", time.gmtime(START_EPOCH + d * 86400)) for d in range(days)]
    span_us = days * 86400 * 1000000
    path = "/bigquery/v2/projects/%s/datasets/%s/tables/%s/insertAll" % (PROJECT, DATASET, table)
    fmt = ('{"json":{"order_id":"%s","user_id":"u-%07d","product_id":"p-%05d","amount":%.2f,'
           '"event_time":"%sT%02d:%02d:%02d.%06dZ"}}')
    bodies = queue.Queue(maxsize=2)
    failure = []
    conn = http.client.HTTPConnection("127.0.0.1", emu.ports["bigquery"], timeout=600)

    def sender():
        try:
            while True:
                body = bodies.get()
                if body is None:
                    return
                conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                data = resp.read()
                if resp.status != 200 or b"insertErrors" in data:
                    raise RuntimeError("insertAll: %d %s" % (resp.status, data[:300]))
        except BaseException as e:
            failure.append(e)
            while bodies.get() is not None:
                pass

    th = threading.Thread(target=sender)
    th.start()
    done = 0
    while done < n and not failure:
        k = min(LOAD_BATCH, n - done)
        rows = []
        for _ in range(k):
            us = rng.randrange(span_us)
            sec, micro = divmod(us, 1000000)
            d, sec = divmod(sec, 86400)
            h, sec = divmod(sec, 3600)
            m, sec = divmod(sec, 60)
            rows.append(fmt % (uuid.UUID(int=rng.getrandbits(128), version=4), rng.randrange(1, N_USERS + 1),
                               bisect.bisect(cdf, rng.random()) + 1,
                               max(0.01, min(rng.lognormvariate(3.5, 0.9), 9999.99)), day_text[d], h, m, sec, micro))
        bodies.put(('{"rows":[' + ",".join(rows) + ']}').encode())
        done += k
    bodies.put(None)
    th.join()
    conn.close()
    if failure:
        raise SystemExit("loading %s failed: %s" % (table, failure[0]))


# --------------------------------------------------------------------------- phases

def order_of(rep):
    return ("bqstream", "node") if rep % 2 == 0 else ("node", "bqstream")


def phase_publish(bench, emu, args, payload_file, at, env):
    results = {"bqstream": [], "node": []}
    n = args.orders
    for rep in range(args.reps):
        for side in order_of(rep):
            if side == "bqstream":
                r = measure_sql(bench, emu,
                                "SELECT published, failed FROM bqstream.publish_orders(%d, 'bench', 'sbs-publish', "
                                "seed => %d, \"at\" => '%s', batch_size => %d, max_in_flight => %d, "
                                "progress_interval => 0)" % (n, args.seed, at, args.batch_size, args.in_flight),
                                warmup="SELECT bqstream.create_topic('bench', 'sbs-publish')")
                published, failed = map(int, r["result"][0].split("|"))
                if published != n or failed:
                    raise SystemExit("publish_orders: published %d, failed %d of %d" % (published, failed, n))
            else:
                r = run_node(emu, "publish.js",
                             ["--file", payload_file, "--project", PROJECT, "--topic", "sbs-publish",
                              "--batch", str(args.batch_size), "--in-flight", str(args.in_flight)], env)
                if r["published"] != n:
                    raise SystemExit("node publish: %d of %d" % (r["published"], n))
            if r["requests"].get("publish", 0) == 0:
                raise SystemExit("%s published nothing to the emulator" % side)
            results[side].append(r)
            log("  publish  rep %d %-8s %7.2f s %9.0f orders/s  CPU %6.2f s  emulator CPU %6.2f s  "
                "%d publish requests (%.0f orders each)"
                % (rep + 1, side, r["seconds"], n / r["seconds"], r["cpu"], r["emulator_cpu"],
                   r["requests"]["publish"], n / r["requests"]["publish"]))
    return results


def drain_bqstream(bench, emu, args, pipeline):
    n = args.orders
    s = Session(bench)
    try:
        s.run("SELECT 1")
        e = emu.start()
        t0 = time.monotonic()
        s.run("SELECT bqstream.start_pipeline('%s')" % pipeline)
        pids = set()
        deadline = t0 + 1800
        while True:
            row = s.run("SELECT coalesce(sum(acked), 0), coalesce(sum(inserted), 0), coalesce(sum(dead_lettered), 0), "
                        "coalesce(sum(redelivered), 0), string_agg(pid::text, ',') FROM bqstream.worker_stats "
                        "WHERE pipeline = '%s'" % pipeline)[0].split("|")
            acked, inserted, dead, redelivered = map(int, row[:4])
            pids.update(int(p) for p in row[4].split(",") if p)
            if acked >= n:
                break
            if time.monotonic() > deadline:
                raise SystemExit("pipeline %s: timed out with %d of %d acknowledged" % (pipeline, acked, n))
            time.sleep(0.025)
        t1 = time.monotonic()
        cpu = sum(proc_cpu(p) for p in pids)
        d = emu.end(e)
        s.run("SELECT bqstream.stop_pipeline('%s')" % pipeline)
    finally:
        s.close()
    d.update(seconds=t1 - t0, cpu=cpu, acked=acked, inserted=inserted, rejected=dead, redelivered=redelivered,
             workers=len(pids))
    return d


def phase_stream(bench, emu, args, at, env):
    results = {"bqstream": [], "node": []}
    n = args.orders
    for rep in range(args.reps):
        pipeline = "sbs_%d" % (rep + 1)
        bench.psql("SELECT bqstream.create_pipeline('%s', 'bench', 'sbs-bqstream', target_table => 'stream_bqstream', "
                   "workers => %d, max_workers => %d, batch_size => %d, start => false, write_mode => 'insert_all')"
                   % (pipeline, args.workers, args.workers, args.batch_size))
        if rep > 0:
            # a pull the emulator still holds for a consumer that has gone (a
            # stopped worker; up to --pubsub-pull-wait-ms, 1 s) would take
            # messages of the new backlog, to be redelivered only after the
            # 60 s ack deadline
            time.sleep(2)
        t0 = time.monotonic()
        out = bench.psql("SELECT published, failed FROM bqstream.publish_orders(%d, 'bench', 'sbs-orders', "
                         "seed => %d, \"at\" => '%s', progress_interval => 0)" % (n, args.seed + 1 + rep, at))
        if out[0] != "%d|0" % n:
            raise SystemExit("backlog publish: %s" % out)
        log("  stream   rep %d backlog of %d orders published to both subscriptions in %.1f s (not timed)"
            % (rep + 1, n, time.monotonic() - t0))
        for side in order_of(rep):
            if side == "bqstream":
                r = drain_bqstream(bench, emu, args, pipeline)
                if r["inserted"] + r["rejected"] < n:
                    raise SystemExit("pipeline %s stored %d and rejected %d of %d"
                                     % (pipeline, r["inserted"], r["rejected"], n))
            else:
                r = run_node(emu, "consume.js",
                             ["--project", PROJECT, "--subscription", "sbs-node", "--dataset", DATASET,
                              "--table", "stream_node", "--n", str(n), "--concurrency", str(args.workers),
                              "--batch", str(args.batch_size), "--chunk", "500",
                              "--bigquery-host", "127.0.0.1:%d" % bench.ports["bigquery"]], env)
                if r["inserted"] + r["rejected"] + r["refused_by_bigquery"] < n:
                    raise SystemExit("node consumer stored %d and rejected %d of %d"
                                     % (r["inserted"], r["rejected"], n))
            results[side].append(r)
            rq = r["requests"]
            log("  stream   rep %d %-8s %7.2f s %9.0f orders/s  CPU %6.2f s  emulator CPU %6.2f s  "
                "inserted %d, rejected %d; requests: %d pull, %d insertAll, %d acknowledge, %d modifyAckDeadline"
                % (rep + 1, side, r["seconds"], n / r["seconds"], r["cpu"], r["emulator_cpu"], r["inserted"],
                   r["rejected"], rq.get("pull", 0), rq.get("insertAll", 0), rq.get("acknowledge", 0),
                   rq.get("modifyAckDeadline", 0)))
        bench.psql("SELECT bqstream.drop_pipeline('%s')" % pipeline)
    # both tables must hold the same orders
    checks = {}
    for t in ("stream_bqstream", "stream_node"):
        checks[t] = emu.query("SELECT COUNT(*), COUNT(DISTINCT order_id), ROUND(SUM(amount), 2) FROM %s.%s"
                              % (DATASET, t))[0]
    log("  stream   check: stream_bqstream %s, stream_node %s (rows, distinct orders, revenue)"
        % ("/".join(checks["stream_bqstream"]), "/".join(checks["stream_node"])))
    if checks["stream_bqstream"] != checks["stream_node"] or int(checks["stream_node"][0]) != n * args.reps:
        raise SystemExit("the two stream tables differ: %s" % checks)
    return results


def remote_sql(bench, sql):
    lines = bench.psql("EXPLAIN (VERBOSE, COSTS OFF) " + sql)
    return [l.strip()[len("Remote SQL: "):] for l in lines if l.strip().startswith("Remote SQL: ")]


def query_cases(args):
    lo = START_EPOCH + (args.days // 2) * 86400 + 13 * 3600
    lo_text = time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime(lo))
    hi_text = time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime(lo + 3600))
    iso = lambda t: t.replace(" ", "T").replace("+00", "Z")
    return [
        ("query: full scan", "raw_orders, all rows and columns", "raw_orders",
         "SELECT count(s) FROM (SELECT * FROM raw_orders OFFSET 0) s",
         "SELECT * FROM %s.raw_orders" % DATASET, {}),
        ("query: one hour", "raw_orders WHERE event_time in [%s, +1 h)" % lo_text[:16], "raw_orders",
         "SELECT count(s) FROM (SELECT * FROM raw_orders WHERE event_time >= '%s' AND event_time < '%s' OFFSET 0) s"
         % (lo_text, hi_text),
         "SELECT * FROM %s.raw_orders WHERE event_time >= @lo AND event_time < @hi" % DATASET,
         {"lo": {"timestamp": iso(lo_text)}, "hi": {"timestamp": iso(hi_text)}}),
        ("query: per minute (GROUP BY)", "orders and revenue per product per minute, GROUP BY on raw_orders",
         "raw_orders",
         "SELECT count(a) FROM (SELECT product_id, date_trunc('minute', event_time, 'UTC') AS minute, "
         "count(*) AS orders, sum(amount) AS revenue FROM raw_orders GROUP BY 1, 2) a",
         "SELECT product_id, TIMESTAMP_TRUNC(event_time, MINUTE) AS minute, COUNT(*) AS orders, "
         "SUM(amount) AS revenue FROM %s.raw_orders GROUP BY 1, 2" % DATASET, {}),
        ("query: per minute (view)", "the same from the orders_per_minute materialized view", "orders_per_minute",
         "SELECT count(s) FROM (SELECT * FROM orders_per_minute OFFSET 0) s",
         "SELECT * FROM %s.orders_per_minute" % DATASET, {}),
    ]


def phase_query(bench, emu, args, env):
    results = {}
    pushed = {}
    for name, what, table, fdw_sql, bq_sql, params in query_cases(args):
        pushed[name] = remote_sql(bench, fdw_sql)
        log("  %s: %s" % (name, what))
        for rs in pushed[name]:
            log("    FDW Remote SQL: %s" % rs)
        log("    Node GoogleSQL: %s" % bq_sql)
        res = {"bqstream": [], "node": []}
        for rep in range(args.reps):
            for side in order_of(rep):
                if side == "bqstream":
                    # the warm-up loads the library, opens the connection and caches the
                    # foreign table's metadata (tables.get), for the table this query reads
                    r = measure_sql(bench, emu, fdw_sql, warmup="EXPLAIN SELECT * FROM %s" % table)
                    r["rows"] = int(r["result"][0])
                else:
                    r = run_node(emu, "query.js",
                                 ["--project", PROJECT, "--sql", bq_sql, "--params", json.dumps(params),
                                  "--page", str(args.page),
                                  "--bigquery-host", "127.0.0.1:%d" % bench.ports["bigquery"]], env)
                res[side].append(r)
                log("    rep %d %-8s %7.2f s %9.0f rows/s  CPU %6.2f s  emulator CPU %6.2f s  %d rows; "
                    "%d rows and %.1f MB (%.1f MB on the wire) from BigQuery in %d requests"
                    % (rep + 1, side, r["seconds"], r["rows"] / r["seconds"], r["cpu"], r["emulator_cpu"], r["rows"],
                       r["rows_returned"], r["response_bytes"] / 1e6, r["response_bytes_sent"] / 1e6,
                       sum(r["requests"].values())))
        counts = {r["rows"] for side in res for r in res[side]}
        if len(counts) != 1:
            raise SystemExit("%s: the two sides returned different row counts: %s" % (name, sorted(counts)))
        results[name] = res
    return results, pushed


# --------------------------------------------------------------------------- report

def machine(bench):
    def first(path, key):
        try:
            with open(path) as f:
                for line in f:
                    if line.startswith(key):
                        return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return "?"

    def cmd(*c):
        try:
            return subprocess.run(c, capture_output=True, text=True).stdout.strip()
        except OSError:
            return "?"

    def pkg(name):
        try:
            with open(os.path.join(NODE_DIR, "node_modules", "@google-cloud", name, "package.json")) as f:
                return json.load(f)["version"]
        except OSError:
            return "?"

    mem_kb = int(first("/proc/meminfo", "MemTotal").split()[0])
    emu_version = "?"
    with open(os.path.join(ROOT, "emulator", "__init__.py")) as f:
        for line in f:
            if line.startswith("__version__"):
                emu_version = line.split("=")[1].strip().strip('"\'')
    lib = os.path.join(cmd("pg_config", "--pkglibdir"), "bqstream.so")
    head = cmd("git", "-C", ROOT, "rev-parse", "--short", "HEAD")
    dirty = cmd("git", "-C", ROOT, "status", "--porcelain", "--", "src", "sql")
    return [
        ("date", datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
        ("CPUs (nproc)", cmd("nproc")),
        ("CPU model", first("/proc/cpuinfo", "model name")),
        ("RAM", "%.1f GiB" % (mem_kb / 1048576)),
        ("kernel", platform.release()),
        ("PostgreSQL", bench.psql("SHOW server_version")[0]),
        ("bqstream", "%s; %s installed %s; the checkout's HEAD is %s%s" % (
            bench.psql("SELECT bqstream.version()")[0].split(" (")[0], lib,
            time.strftime("%Y-%m-%d %H:%M", time.localtime(os.path.getmtime(lib))), head,
            " (with uncommitted edits in src/ or sql/)" if dirty else "")
         + (" — built from %s" % os.environ["BQSTREAM_BUILT_FROM"] if os.environ.get("BQSTREAM_BUILT_FROM") else "")),
        ("Node", "%s, @google-cloud/pubsub %s, @google-cloud/bigquery %s"
         % (cmd("node", "--version"), pkg("pubsub"), pkg("bigquery"))),
        ("emulator", "bqstream emulator %s on %s (Pub/Sub + BigQuery in one process, in memory)"
         % (emu_version, cmd("/usr/bin/python3", "--version"))),
    ]


def med(values):
    return statistics.median(values) if values else float("nan")


def fmt_rate(x):
    return "%s" % format(round(x), ",") if x == x else "–"


def summary_rows(args, pub, stream, queries, ceil):
    """[(phase, items, unit, figures of bqstream, of node, ceiling)]"""
    rows = []

    def side(results, items_key=None, n=None):
        secs = med([r["seconds"] for r in results])
        items = n if n is not None else results[0][items_key]
        return {"s": secs, "rate": med([(n if n is not None else r[items_key]) / r["seconds"] for r in results]),
                "cpu": med([r["cpu"] for r in results]), "emu": med([r["emulator_cpu"] for r in results]),
                "items": items}

    if pub:
        rows.append(("publish", "orders", side(pub["bqstream"], n=args.orders), side(pub["node"], n=args.orders),
                     ceil.get("publish")))
    if stream:
        rows.append(("stream (backlog → BigQuery)", "orders", side(stream["bqstream"], n=args.orders),
                     side(stream["node"], n=args.orders), ceil.get("stream")))
    for name, res in (queries or {}).items():
        rows.append((name, "rows", side(res["bqstream"], "rows"), side(res["node"], "rows"),
                     ceil.get("select") if name == "query: full scan" else None))
    return rows


def render_table(rows):
    head = ["phase", "items", "bqstream s", "bqstream /s", "bqstream CPU s", "emulator CPU s",
            "Node s", "Node /s", "Node CPU s", "emulator CPU s", "time Node/bq", "CPU Node/bq",
            "emulator ceiling /s", "of ceiling bq / Node"]
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" if i == 0 else "---:" for i in range(len(head))) + "|"]
    for phase, unit, b, n, ceil in rows:
        out.append("| " + " | ".join([
            phase, "%s %s" % (format(b["items"], ","), unit),
            "%.2f" % b["s"], fmt_rate(b["rate"]), "%.2f" % b["cpu"], "%.2f" % b["emu"],
            "%.2f" % n["s"], fmt_rate(n["rate"]), "%.2f" % n["cpu"], "%.2f" % n["emu"],
            "%.2f" % (n["s"] / b["s"]), "%.2f" % (n["cpu"] / b["cpu"]) if b["cpu"] >= MIN_CPU else "–",
            fmt_rate(ceil) if ceil else "–",
            "%.0f%% / %.0f%%" % (100 * b["rate"] / ceil, 100 * n["rate"] / ceil) if ceil else "–"]) + " |")
    return "\n".join(out)


def raw_lines(args, pub, stream, queries):
    lines = []

    def add(phase, results, n_key=None, n=None):
        for side in ("bqstream", "node"):
            for i, r in enumerate(results[side]):
                items = n if n is not None else r[n_key]
                lines.append("%-30s %-8s rep %d: %8.3f s %10.0f /s  CPU %7.3f s  emulator CPU %7.3f s  "
                             "requests %s  response MB on the wire %.1f"
                             % (phase, side, i + 1, r["seconds"], items / r["seconds"], r["cpu"], r["emulator_cpu"],
                                json.dumps(r["requests"], sort_keys=True), r["response_bytes_sent"] / 1e6))

    if pub:
        add("publish", pub, n=args.orders)
    if stream:
        add("stream", stream, n=args.orders)
    for name, res in (queries or {}).items():
        add(name, res, n_key="rows")
    return lines


def write_results(path, args, mach, table, ceil, pushed, raw, cmdline):
    n, rws = args.orders, args.rows
    text = ["# Side-by-side: bqstream vs Google's Node clients on the local emulator", "",
            "Written by `%s` (this file is overwritten by each run; `--no-write` skips it)." % cmdline, "",
            "| machine | |", "|---|---|"]
    text += ["| %s | %s |" % kv for kv in mach]
    text += ["", "%s orders for publish and stream, %s rows in the queried table (%d days), %d repetitions per "
             "measurement alternating which side goes first; figures are medians over the repetitions. Times are wall "
             "seconds of the measured part; CPU is our process (publish and queries: the PostgreSQL backend, "
             "/proc/self/stat in the session; stream: the %d pipeline workers, /proc/PID/stat) vs the Node process "
             "(process.cpuUsage() around the measured part, all its threads); emulator CPU is the emulator process "
             "over the same interval. Ratios are Node / bqstream (above 1: Node took longer or used more CPU); "
             "no CPU ratio where bqstream used under 0.05 s (/proc counts 10 ms ticks). \"of ceiling\" is each "
             "side's rate as a share of what the emulator sustains with a trivial client (below)."
             % (format(n, ","), format(rws, ","), args.days, args.reps, args.workers), "",
             table, ""]
    text += ["Emulator ceiling, measured at the start of this invocation with a trivial Python stdlib client "
             "(%s messages or rows, batches of 1,000, insertAll by 500, pages of 10,000, emulator in memory): "
             % format(ceil.get("n", 0), ",")
             + ", ".join("%s %s/s" % (k, format(v, ",")) for k, v in ceil.items() if k != "n")
             + ". publish: bench/emulator_pubsub.py's publisher process against this run's emulator, to a topic "
               "without subscription like the publish phase; pull_ack: bench/emulator_pubsub.py's pull+ack phase; "
               "insert and select: bench/emulator_bigquery.py (insertAll, and SELECT * paged with only the head of "
               "each page parsed); stream = 1 / (1/pull_ack + 1/insert), since one emulator process does both for "
               "every order. A share above 100 % means the trivial client, not the emulator, bounded the ceiling "
               "measurement (the Python client reading 10,000-row pages is slower than bqstream's C client). The "
               "one-hour and per-minute queries have no ceiling figure.", ""]
    text += ["## How each side works, and what is not equal", "",
             "- **Publish.** bqstream: `publish_orders(N, seed, \"at\")` with batch_size %d and max_in_flight %d, "
             "generating the orders as it goes (the generation is in its CPU). Node (`bench/node/publish.js`): the "
             "same orders' bytes read from a file before the clock starts (so Node does not generate anything), "
             "`topic.flowControlled().publish()` (which calls `topic.publishMessage()`) with batching maxMessages %d, "
             "maxBytes 9 MiB (the client's ceiling; bqstream fills up to ~10 MB, but %d orders are ~270 kB either way) "
             "and maxMilliseconds 10, and publisher flow control maxOutstandingMessages %d = %d batches in flight. "
             "The topic has no subscription. Both sides use REST/JSON with base64 data (the emulator has no gRPC)."
             % (args.batch_size, args.in_flight, args.batch_size, args.batch_size, args.batch_size * args.in_flight,
                args.in_flight),
             "- **Stream.** The same backlog (published once by publish_orders to a topic with two subscriptions) is "
             "drained by a pipeline with %d workers (separate processes; each pulls %d with returnImmediately false, "
             "validates with the C scanner, insertAll in chunks of 500 with insertId = message ID and "
             "skipInvalidRows, commits dead letters if any, then acknowledges) and by `bench/node/consume.js` with %d "
             "concurrent loops in one Node process doing the same steps with `v1.SubscriberClient.pull` / "
             "`acknowledge`, `JSON.parse` plus a schema-driven validator mirroring src/worker/validate.c, and "
             "`table.insert(rows, {raw: true, skipInvalidRows: true})`. Streaming pull "
             "(`subscription.on('message')`) could not be used: it is a gRPC bidirectional stream, the emulator "
             "speaks REST only, and in the client's REST mode it fails at once (\"Cannot set properties of undefined "
             "(setting 'highWaterMark')\"); unary pull over REST is also what test/conformance uses. Differences: "
             "rejected messages are only counted by Node (bqstream writes them to a local table; the benchmark's "
             "orders have none); the pipeline's wall time includes starting its worker processes (fork, database "
             "connection, tables.get), Node's excludes process start-up and client construction; Node re-serializes "
             "each parsed row with JSON.stringify where bqstream splices the validated payload as it came; the "
             "worker's time is sampled by polling worker_stats every 25 ms."
             % (args.workers, args.batch_size, args.workers),
             "- **Queries.** bqstream_fdw through psql in a fresh session after a warm-up statement (the foreign "
             "tables come from IMPORT FOREIGN SCHEMA with use_query_cache 'false'); the statement wraps the query "
             "in `count()` so that every row is fetched and converted to Datums but psql prints one line. Node "
             "(`bench/node/query.js`): `bigquery.query()` (jobs.query, useQueryCache false, after a warm-up "
             "`SELECT 1`), then `job.getQueryResults()` page after page, pages of %d rows on both sides, rows "
             "converted by the client (numbers, BigQueryTimestamp) and kept in an array. Both request "
             "int64 timestamps; whether responses are gzip'd is each client's default (MB sent below). The "
             "per-minute GROUP BY has the same semantics on both sides, but bqstream_fdw keeps aggregates of FLOAT64 "
             "columns (here sum(amount)) in PostgreSQL by design, so it fetches every row of raw_orders and "
             "aggregates locally (HashAgg, default work_mem) while BigQuery aggregates for the Node client; the "
             "`(view)` row reads the orders_per_minute materialized view, where both fetch the same aggregated rows. "
             "What was sent to BigQuery:" % args.page]
    for name, rs in pushed.items():
        for r in rs:
            text.append("  - %s: `` %s ``" % (name, r))
    text += ["- **Compression.** Each side at its default: bqstream.http_compression = auto asks for gzip'd "
             "responses from https endpoints only, so not from this http:// emulator; the Node clients ask for gzip "
             "everywhere, so for them the emulator compresses (its CPU) and Node inflates (Node's CPU), and fewer "
             "bytes cross the loopback (\"response MB on the wire\" below).",
             "- **Noise.** Two shared cores run the emulator, PostgreSQL or Node, and the driver at once, next to "
             "other work on the machine (the load average above). Wall times of the same measurement varied by up "
             "to 1.5x between full runs on this machine (compare the repetitions below); the CPU seconds, and so "
             "the CPU ratios, are steadier.",
             "- Publishing with an unbounded `Promise.all(payloads.map((data) => topic.publishMessage({data})))` "
             "instead of the flow-controlled loop was no faster in a trial (100,000 orders in 1.48 s vs 1.4-1.7 s), "
             "so the in-flight limit is not what holds the Node publisher back: it spends the time in its own CPU.",
             "- A pull the emulator holds (up to 1 s when nothing is available) for a consumer that has gone still "
             "takes messages published afterwards, which then return only after the 60 s ack deadline (as with "
             "Pub/Sub itself). The Node consumer therefore waits for its last pulls before exiting, and the driver "
             "waits 2 s after stopping a pipeline before publishing the next backlog."]
    text += ["", "## Every measurement", "", "```"] + raw + ["```", ""]
    # bench/dashboard.py's section of the file is its own: kept as it was
    kept = ""
    if os.path.exists(path):
        with open(path) as f:
            old = f.read()
        marker = "<!-- bench/dashboard.py: begin"
        if marker in old:
            kept = "\n" + old[old.index(marker):]
    with open(path, "w") as f:
        f.write("\n".join(text) + kept)


# --------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--orders", type=int, default=1000000, help="orders to publish and to stream (default 1,000,000)")
    ap.add_argument("--rows", type=int, default=1000000, help="rows of the queried table (default 1,000,000)")
    ap.add_argument("--quick", action="store_true", help="20,000 orders and 50,000 rows: a smoke run")
    ap.add_argument("--reps", type=int, default=2, help="repetitions of each measurement, alternating (default 2)")
    ap.add_argument("--workers", type=int, default=2,
                    help="pipeline workers = concurrent pull loops of the Node consumer (default 2)")
    ap.add_argument("--batch-size", type=int, default=1000,
                    help="publish batch and pull size (default 1000, bqstream's)")
    ap.add_argument("--in-flight", type=int, default=4, help="publish requests in flight (default 4, bqstream's)")
    ap.add_argument("--page", type=int, default=10000, help="rows per result page on both sides (default 10000, "
                    "bqstream_fdw's fetch_size)")
    ap.add_argument("--days", type=int, default=7, help="days the queried table's event times spread over (default 7)")
    ap.add_argument("--seed", type=int, default=20261125)
    ap.add_argument("--phases", default="publish,stream,query", help="comma-separated subset to run")
    ap.add_argument("--no-ceiling", action="store_true", help="skip the emulator ceiling runs")
    ap.add_argument("--no-write", action="store_true", help="do not write bench/RESULTS.md")
    args = ap.parse_args()
    if args.quick:
        args.orders, args.rows = 20000, 50000
    phases = set(args.phases.split(","))
    if not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "@google-cloud", "pubsub")):
        raise SystemExit("bench/node/node_modules is missing: run `npm ci` in bench/node first")
    if shutil.which("node") is None:
        raise SystemExit("node is not installed")
    cmdline = " ".join(["bench/sidebyside.py"] + sys.argv[1:])

    lib = os.path.join(subprocess.run(["pg_config", "--pkglibdir"], capture_output=True, text=True).stdout.strip(),
                       "bqstream.so")
    lib_mtime = os.path.getmtime(lib)
    load0 = os.getloadavg()[0]
    bench = Bench(services="pubsub,bigquery",
                  pg_conf="shared_preload_libraries = 'bqstream'\nbqstream.launcher_naptime = 200\n")
    try:
        emu = Emulator(bench)
        env = node_env(bench)
        bench.create_server()
        mach = machine(bench)
        for k, v in mach:
            log("%-13s %s" % (k, v))
        ceil = {}
        if not args.no_ceiling:
            cn = min(max(args.orders, args.rows), 200000)
            log("emulator ceiling with a trivial client (%s messages/rows) ..." % format(cn, ","))
            ceil = ceiling(cn, emu)
            ceil["n"] = cn
            log("  " + ", ".join("%s %s/s" % (k, format(v, ",")) for k, v in ceil.items() if k != "n"))
        at = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S+00")
        bench.psql("SELECT bqstream.create_dataset('bench')",
                   "SELECT bqstream.create_topic('bench', 'sbs-publish')",
                   "SELECT bqstream.create_topic('bench', 'sbs-orders')",
                   "SELECT bqstream.create_subscription('bench', 'sbs-bqstream', 'sbs-orders')",
                   "SELECT bqstream.create_subscription('bench', 'sbs-node', 'sbs-orders')",
                   "SELECT bqstream.create_raw_orders_table('bench', 'stream_bqstream')",
                   "SELECT bqstream.create_raw_orders_table('bench', 'stream_node')",
                   "SELECT bqstream.create_raw_orders_table('bench')",
                   "SELECT bqstream.create_orders_per_minute_view('bench')")

        pub = stream = queries = None
        pushed = {}
        if "publish" in phases:
            payload_file = os.path.join(bench.tmp, "payloads.txt")
            with open(payload_file, "wb") as f:
                subprocess.run(as_pg(["psql", "-X", "-A", "-t", "-q", "-h", bench.tmp, "-p", str(bench.pgport),
                                      "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c",
                                      "SELECT o FROM bqstream.sample_orders(%d, seed => %d, \"at\" => '%s') o"
                                      % (args.orders, args.seed, at)]), check=True, stdout=f)
            with open(payload_file, "rb") as f:
                lines = f.read().split(b"\n")
            payloads = [l for l in lines if l]
            if len(payloads) != args.orders:
                raise SystemExit("sample_orders gave %d payloads, expected %d" % (len(payloads), args.orders))
            log("publish: %s orders (%s bytes of JSON, the payloads of sample_orders(seed => %d, at => '%s')), "
                "topic without subscription" % (format(args.orders, ","), format(sum(map(len, payloads)), ","),
                                                 args.seed, at))
            del lines, payloads
            pub = phase_publish(bench, emu, args, payload_file, at, env)
        if "stream" in phases:
            log("stream: backlogs of %s orders, %d pipeline workers vs %d Node pull loops"
                % (format(args.orders, ","), args.workers, args.workers))
            stream = phase_stream(bench, emu, args, at, env)
        if "query" in phases:
            t0 = time.monotonic()
            load_orders(emu, "raw_orders", args.rows, args.days, args.seed)
            bench.psql("IMPORT FOREIGN SCHEMA %s LIMIT TO (raw_orders, orders_per_minute) FROM SERVER bench INTO public"
                       % DATASET,
                       "ALTER FOREIGN TABLE raw_orders OPTIONS (ADD use_query_cache 'false')",
                       "ALTER FOREIGN TABLE orders_per_minute OPTIONS (ADD use_query_cache 'false')")
            if args.page != 10000:
                bench.psql("ALTER FOREIGN TABLE raw_orders OPTIONS (ADD fetch_size '%d')" % args.page,
                           "ALTER FOREIGN TABLE orders_per_minute OPTIONS (ADD fetch_size '%d')" % args.page)
            log("query: raw_orders loaded with %s rows over %d days in %.1f s (not timed)"
                % (format(args.rows, ","), args.days, time.monotonic() - t0))
            queries, pushed = phase_query(bench, emu, args, env)
    finally:
        bench.close()

    mach.append(("load average (1 min) at start / end", "%.2f / %.2f" % (load0, os.getloadavg()[0])))
    if os.path.getmtime(lib) != lib_mtime:
        # the server preloads the library: its backends and workers keep the
        # build mapped at start (same path, so PostgreSQL never loads it again)
        note = ("bqstream.so was reinstalled during the run (%s); the server had preloaded the build of %s "
                "and used it throughout" % (time.strftime("%H:%M", time.localtime(os.path.getmtime(lib))),
                                             time.strftime("%H:%M", time.localtime(lib_mtime))))
        log("note: " + note)
        mach.append(("note", note))
    rows = summary_rows(args, pub, stream, queries, ceil)
    table = render_table(rows)
    log("\n%s orders, %s rows, %d repetitions (medians); CPU: bqstream backend or pipeline workers vs the Node "
        "process; ratios Node/bqstream\n" % (format(args.orders, ","), format(args.rows, ","), args.reps))
    log(table)
    if not args.no_write:
        path = os.path.join(BENCH_DIR, "RESULTS.md")
        write_results(path, args, mach, table, ceil, pushed, raw_lines(args, pub, stream, queries), cmdline)
        log("\nwritten to %s" % path)


if __name__ == "__main__":
    main()
