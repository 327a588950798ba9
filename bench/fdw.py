#!/usr/bin/python3
"""Benchmark of bqstream_fdw: BigQuery (the local emulator) read through a
foreign table. It prints figures; it is not a test and asserts nothing about
speed.

Setup: the BigQuery emulator alone (in memory) and a throwaway PostgreSQL 15
with the installed extension; `shop.raw_orders` is created with
bqstream.create_raw_orders_table() (order_id, user_id, product_id STRING,
amount FLOAT64, event_time TIMESTAMP; DAY partitions on event_time,
clustered by product_id) and loaded with N rows straight through the
emulator's tabledata.insertAll from this script (batches of 20,000 rows, no
insertIds), event times uniformly random over D days from 2026-11-01,
products drawn from a Zipf law (exponent 1.1) over 10,000 products as
publish_orders() does, log-normal amounts. The foreign table
comes from IMPORT FOREIGN SCHEMA, with use_query_cache 'false' so that no
run is answered from BigQuery's result cache.

1. Full scan: `SELECT count(s) FROM (SELECT * FROM raw_orders OFFSET 0) s`.
   The OFFSET 0 subquery keeps the aggregate local and the whole-row
   reference needs every column, so all N rows and all five columns come
   over and are converted to Datums; nothing else is done with them. Once
   per fetch_size (the default, 10,000, and larger ones as a table option).
2. An aggregate, `SELECT product_id, count(*), sum(amount) FROM raw_orders
   GROUP BY product_id`, as written (the FDW may push it to BigQuery) and
   over `(SELECT * FROM raw_orders OFFSET 0) s` (always local: every row
   comes over). bqstream keeps aggregates of floating-point columns local
   (amount is FLOAT64), so "2b" does the same with count(*) alone, which
   is pushed.
3. A one-hour window, `WHERE event_time >= X AND event_time < X + 1 hour`,
   pushed (BigQuery reads only that day's partition) and behind the OFFSET 0
   subquery (not pushed: every partition is read and filtered here).

For each: wall time inside the session (clock_timestamp), the backend's CPU
(its own /proc/self/stat, read through pg_read_file before and after, in the
same session), the emulator's CPU (/proc/PID/stat), and from the emulator's
counters the rows returned by its jobs, the response bytes (JSON as
serialized, and as sent: gzip'd when the client asks, as bqstream does by
default), the API requests (jobs.query + getQueryResults) and
totalBytesProcessed, all for the measured statement alone (a warm-up
statement first loads the library and caches the table's metadata). The
Remote SQL of each query (EXPLAIN VERBOSE) is printed, so what was pushed is
visible, and each pair of forms is checked to give the same answer.

Usage: bench/fdw.py [--rows N] [--days D] [--fetch-sizes 10000,50000] [--quick]
       [--compression auto|on|off] [--runs R]
  --quick  50,000 rows, for a smoke run of a few seconds.
Run as root (PostgreSQL runs as the postgres OS user); requires `make install`
first.
"""

import argparse
import bisect
import http.client
import json
import os
import queue
import random
import subprocess
import tempfile
import threading
import time
import uuid

from benchlib import SELF_STAT, Bench, as_pg, cpu_seconds, proc_cpu

DATASET = "shop"
PROJECT = "bench-project"
START_EPOCH = 1793491200          # 2026-11-01 00:00:00 UTC, a Sunday; fixed so runs compare
N_PRODUCTS = 10000
N_USERS = 1000000
LOAD_BATCH = 20000                # rows per insertAll (~3 MB; the limit is 10 MB)


class Emulator:
    """A keep-alive connection to the BigQuery emulator."""

    def __init__(self, port):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)

    def call(self, method, path, body=None):
        headers = {"Content-Type": "application/json"} if body is not None else {}
        self.conn.request(method, path, body=body, headers=headers)
        resp = self.conn.getresponse()
        data = resp.read()
        if resp.status >= 300:
            raise SystemExit("emulator: %s %s -> %d %s" % (method, path, resp.status, data[:500]))
        return json.loads(data) if data else {}

    def counters(self):
        return self.call("GET", "/emulator/counters")


def zipf_cdf(n, s=1.1):
    total, cdf = 0.0, []
    for k in range(1, n + 1):
        total += 1.0 / k ** s
        cdf.append(total)
    return [c / total for c in cdf]


def insert_bodies(emu, path, bodies):
    """POST each insertAll body the iterator makes, from a second thread
    while the next one is built here, so the emulator is kept busy; returns
    (seconds, emulator CPU seconds)."""
    queued = queue.Queue(maxsize=2)
    failure = []

    def sender():
        try:
            while True:
                body = queued.get()
                if body is None:
                    return
                out = emu.call("POST", path, body)
                if out.get("insertErrors"):
                    raise RuntimeError("insertAll refused rows: %s" % json.dumps(out["insertErrors"][:3]))
        except BaseException as e:
            failure.append(e)
            while queued.get() is not None:     # let the producer finish
                pass

    cpu0 = proc_cpu(emu.pid)
    t0 = time.monotonic()
    th = threading.Thread(target=sender)
    th.start()
    for body in bodies:
        if failure:
            break
        queued.put(body)
    queued.put(None)
    th.join()
    if failure:
        raise SystemExit("loading failed: %s" % failure[0])
    return time.monotonic() - t0, proc_cpu(emu.pid) - cpu0


def load(emu, n, days, seed):
    """insertAll n orders spread over `days` days from START_EPOCH; returns
    (seconds, emulator CPU seconds)."""
    rng = random.Random(seed)
    cdf = zipf_cdf(N_PRODUCTS)
    day_text = [time.strftime("%Y-%m-%d", time.gmtime(START_EPOCH + d * 86400)) for d in range(days)]
    span_us = days * 86400 * 1000000
    path = "/bigquery/v2/projects/%s/datasets/%s/tables/raw_orders/insertAll" % (PROJECT, DATASET)
    fmt = ('{"json":{"order_id":"%s","user_id":"u-%07d","product_id":"p-%05d","amount":%.2f,'
           '"event_time":"%sT%02d:%02d:%02d.%06dZ"}}')

    def bodies():
        done = 0
        while done < n:
            k = min(LOAD_BATCH, n - done)
            rows = []
            for _ in range(k):
                us = rng.randrange(span_us)
                sec, micro = divmod(us, 1000000)
                d, sec = divmod(sec, 86400)
                h, sec = divmod(sec, 3600)
                m, sec = divmod(sec, 60)
                rows.append(fmt % (uuid.UUID(int=rng.getrandbits(128), version=4), rng.randrange(N_USERS),
                                   bisect.bisect(cdf, rng.random()) + 1,
                                   min(rng.lognormvariate(3.5, 0.9), 9999.99), day_text[d], h, m, sec, micro))
            yield ('{"rows":[' + ",".join(rows) + ']}').encode()
            done += k

    return insert_bodies(emu, path, bodies())


COUNTED = ("rows_returned", "response_bytes", "response_bytes_sent", "bytes_processed", "queries")


class Session:
    """One psql session driven statement by statement, so that the
    emulator's counters and CPU can be read between two statements."""

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


MARK = "SELECT extract(epoch FROM clock_timestamp()), (%s)" % SELF_STAT


def measure(bench, emu, sql, warmup="EXPLAIN SELECT * FROM raw_orders"):
    """Run sql in a fresh session after a warm-up statement (library loaded,
    connection open, table metadata cached); return a dict of figures that
    cover that statement alone."""
    s = Session(bench)
    try:
        s.run(warmup)
        c0 = emu.counters()
        e0 = proc_cpu(emu.pid)
        t0, s0 = s.run(MARK)[0].split("|", 1)
        result = s.run(sql)
        t1, s1 = s.run(MARK)[0].split("|", 1)
        e1 = proc_cpu(emu.pid)
        c1 = emu.counters()
    finally:
        s.close()
    r = {"seconds": float(t1) - float(t0), "backend_cpu": cpu_seconds(s1) - cpu_seconds(s0),
         "emulator_cpu": e1 - e0, "result": result}
    for k in COUNTED:
        r[k] = c1.get(k, 0) - c0.get(k, 0)
    req0 = c0.get("requests", {})
    r["requests"] = sum(v - req0.get(k, 0) for k, v in c1.get("requests", {}).items())
    return r


def remote_sql(bench, sql):
    lines = bench.psql("EXPLAIN (VERBOSE, COSTS OFF) " + sql)
    return [l.strip()[len("Remote SQL: "):] for l in lines if l.strip().startswith("Remote SQL: ")]


def explain_bytes(bench, sql):
    """Bytes Processed of every foreign scan, from EXPLAIN (ANALYZE, VERBOSE, FORMAT JSON)."""
    plan = json.loads("\n".join(bench.psql("EXPLAIN (ANALYZE, VERBOSE, FORMAT JSON) " + sql)))
    found = []

    def walk(node):
        if isinstance(node, dict):
            if "Bytes Processed" in node:
                found.append(node["Bytes Processed"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(plan)
    return found


def mb(n):
    return "%.1f" % (n / 1e6)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1000000)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--fetch-sizes", default="10000,50000",
                    help="comma-separated fetch_size values for the full scan (1 to 100000)")
    ap.add_argument("--runs", type=int, default=1, help="repeat each measurement R times")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--quick", action="store_true", help="50,000 rows: a smoke run")
    ap.add_argument("--compression", choices=("auto", "on", "off"), default="auto",
                    help="bqstream.http_compression (auto: gzip from https endpoints only, "
                         "so not from the emulator; on: gzip'd responses from it too)")
    args = ap.parse_args()
    if args.quick:
        args.rows = 50000
    fetch_sizes = [int(x) for x in args.fetch_sizes.split(",") if x]

    bench = Bench(services="bigquery",
                  pg_conf="bqstream.http_compression = %s\n" % args.compression)
    try:
        bench.create_server()
        emu = Emulator(bench.ports["bigquery"])
        emu.pid = bench.emulator.pid
        lib = os.path.join(subprocess.run(["pg_config", "--pkglibdir"], capture_output=True,
                                          text=True).stdout.strip(), "bqstream.so")
        lib_mtime = os.path.getmtime(lib)
        print("%s; %s installed %s" % (bench.psql("SELECT bqstream.version()")[0], lib,
                                       time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(lib_mtime))))
        bench.psql("SELECT bqstream.create_dataset('bench')",
                   "SELECT bqstream.create_raw_orders_table('bench')")
        secs, cpu = load(emu, args.rows, args.days, args.seed)
        print("loaded %d rows over %d days into the emulator in %.1f s (%.0f rows/s, emulator CPU %.1f s)"
              % (args.rows, args.days, secs, args.rows / secs, cpu))
        bench.psql("IMPORT FOREIGN SCHEMA shop LIMIT TO (raw_orders) FROM SERVER bench INTO public",
                   "ALTER FOREIGN TABLE raw_orders OPTIONS (ADD use_query_cache 'false')")
        n = int(bench.psql("SELECT count(*) FROM (SELECT order_id FROM raw_orders OFFSET 0) s")[0])
        if n != args.rows:
            raise SystemExit("raw_orders holds %d rows, expected %d" % (n, args.rows))

        table = []   # (part, case, figures)

        # 1. full scan
        scan = "SELECT count(s) FROM (SELECT * FROM raw_orders OFFSET 0) s"
        print("\n1. full scan: %s" % scan)
        for rs in remote_sql(bench, scan):
            print("   Remote SQL: %s" % rs)
        fs_set = False
        for fs in fetch_sizes:
            bench.psql("ALTER FOREIGN TABLE raw_orders OPTIONS (%s fetch_size '%d')"
                       % ("SET" if fs_set else "ADD", fs))
            fs_set = True
            for _ in range(args.runs):
                r = measure(bench, emu, scan)
                if r["result"] != [str(args.rows)]:
                    raise SystemExit("full scan returned %s" % r["result"])
                table.append(("1 full scan", "fetch_size %d" % fs, r))
                print("   fetch_size %6d: %.2f s, %.0f rows/s, backend CPU %.2f s (%.2f us/row), "
                      "emulator CPU %.2f s, %d requests, %s MB JSON (%s MB sent)"
                      % (fs, r["seconds"], args.rows / r["seconds"], r["backend_cpu"],
                         r["backend_cpu"] * 1e6 / args.rows, r["emulator_cpu"], r["requests"],
                         mb(r["response_bytes"]), mb(r["response_bytes_sent"])))
        if fs_set:
            bench.psql("ALTER FOREIGN TABLE raw_orders OPTIONS (DROP fetch_size)")

        # 2. aggregates, as written and kept local
        for part, agg, check in (
                ("2 aggregate", "SELECT product_id, count(*), sum(amount) FROM %s GROUP BY product_id",
                 "SELECT count(*), sum(count), round(sum(sum)::numeric, 2) FROM (%s) a"),
                ("2b count only", "SELECT product_id, count(*) FROM %s GROUP BY product_id",
                 "SELECT count(*), sum(count) FROM (%s) a")):
            cases = [("as written", agg % "raw_orders"),
                     ("local (OFFSET 0)", agg % "(SELECT * FROM raw_orders OFFSET 0) s")]
            print("\n%s: %s" % (part, agg % "raw_orders"))
            results = []
            for name, q in cases:
                for rs in remote_sql(bench, q):
                    print("   %-17s Remote SQL: %s" % (name, rs))
                # one line of output: the groups and checksums, to compare both forms
                for _ in range(args.runs):
                    r = measure(bench, emu, check % q)
                    table.append((part, name, r))
                    results.append(r["result"])
                    print("   %-17s %.2f s, backend CPU %.2f s, emulator CPU %.2f s, %d rows and %s MB JSON "
                          "(%s MB sent) from BigQuery; groups|orders[|revenue] = %s"
                          % (name, r["seconds"], r["backend_cpu"], r["emulator_cpu"], r["rows_returned"],
                             mb(r["response_bytes"]), mb(r["response_bytes_sent"]), r["result"][0]))
            if len(set(map(tuple, results))) != 1:
                print("   WARNING: the two forms disagree: %s" % results)

        # 3. a one-hour window, pruned and not
        x = time.strftime("%Y-%m-%d %H:00:00+00", time.gmtime(START_EPOCH + (args.days // 2) * 86400 + 13 * 3600))
        win = ("SELECT count(*), round(sum(amount)::numeric, 2) FROM %s "
               "WHERE event_time >= '{x}' AND event_time < timestamptz '{x}' + interval '1 hour'").format(x=x)
        cases = [("pushed (pruned)", win % "raw_orders"),
                 ("local (OFFSET 0)", win % "(SELECT * FROM raw_orders OFFSET 0) s")]
        print("\n3. one hour: %s" % (win % "raw_orders"))
        results = []
        for name, q in cases:
            for rs in remote_sql(bench, q):
                print("   %-17s Remote SQL: %s" % (name, rs))
            print("   %-17s EXPLAIN ANALYZE Bytes Processed: %s" % (name, explain_bytes(bench, q)))
            for _ in range(args.runs):
                r = measure(bench, emu, q)
                table.append(("3 one hour", name, r))
                results.append(r["result"])
                print("   %-17s %.3f s, %s MB processed, %d rows from BigQuery; count|revenue = %s"
                      % (name, r["seconds"], mb(r["bytes_processed"]), r["rows_returned"], r["result"][0]))
        if len(set(map(tuple, results))) != 1:
            print("   WARNING: the two forms disagree: %s" % results)

        if os.path.getmtime(lib) != lib_mtime:
            print("\nWARNING: %s was reinstalled during the run; the figures may mix two builds" % lib)
        print("\n%d rows over %d days, emulator in memory, bqstream.http_compression %s"
              % (args.rows, args.days, args.compression))
        head = ("part", "case", "time s", "rows/s", "backend CPU s", "us/row", "emulator CPU s",
                "rows from BQ", "MB JSON", "MB sent", "requests", "MB processed")
        lines = [head]
        for part, case, r in table:
            rows_in = r["rows_returned"]
            many = rows_in == args.rows   # per-row figures only where every row came over
            lines.append((part, case, "%.3f" % r["seconds"],
                          "%.0f" % (rows_in / r["seconds"]) if many else "-",
                          "%.2f" % r["backend_cpu"],
                          "%.2f" % (r["backend_cpu"] * 1e6 / rows_in) if many else "-",
                          "%.2f" % r["emulator_cpu"], str(rows_in), mb(r["response_bytes"]),
                          mb(r["response_bytes_sent"]), str(r["requests"]), mb(r["bytes_processed"])))
        widths = [max(len(l[i]) for l in lines) for i in range(len(head))]
        for i, l in enumerate(lines):
            print("  ".join(c.ljust(w) if j < 2 else c.rjust(w) for j, (c, w) in enumerate(zip(l, widths))))
            if i == 0:
                print("  ".join("-" * w for w in widths))
        print("time: inside the session; rows/s and us/row (backend CPU per row) only where every row came over;\n"
              "rows from BQ: rows of the BigQuery results; MB JSON / MB sent: response bodies as serialized / on\n"
              "the wire (gzip); requests: jobs.query + getQueryResults; MB processed: BigQuery's totalBytesProcessed\n"
              "(MB = 10^6 bytes)")
    finally:
        bench.close()


if __name__ == "__main__":
    main()
