#!/usr/bin/python3
"""Benchmark of bqstream_fdw's two read paths: a full scan of raw_orders read
through the BigQuery Storage Read API (a read session, ReadRows streams, Avro
decoded in the backend) against the same scan through jobs.query and JSON
result pages, in one run on the same emulator. It prints figures; it is not a
test and asserts nothing about speed (only that both paths give the same
answer).

Setup: the emulator's bigquery and bigquerystorage services (in memory) and a
throwaway PostgreSQL 15 with the installed extension; `shop.raw_orders`
(order_id, user_id, product_id STRING, amount FLOAT64, event_time TIMESTAMP)
loaded with N rows by bench/fdw.py's loader (the same data for the same
seed). Two foreign tables over it, both with use_query_cache 'false':
raw_orders_json (read_api 'off') and raw_orders_read (read_api 'on',
read_streams S).

The statement is `SELECT count(s) FROM (SELECT * FROM T OFFSET 0) s`: every
row and all five columns are converted to Datums, nothing else is done with
them. For each path, in a fresh session after a warm-up statement:
- wall time of the statement (clock_timestamp in the session);
- the backend's CPU (/proc/self/stat through pg_read_file), so its rows per
  CPU second: what converting costs the backend, the emulator's work apart
  (it runs in another process and its CPU is shown separately);
- bytes on the wire, as payload: for JSON paging the response bodies the
  emulator sent (its response_bytes_sent counter, HTTP headers aside), for
  the Read API the Avro rows of the ReadRows messages (EXPLAIN ANALYZE's
  Read Bytes, of a separate identical scan; gRPC and HTTP/2 framing, a few
  bytes per 16 kB frame, aside);
- the emulator's CPU (/proc/PID/stat).
Then a checksum of the rows through each path must agree.

Usage: bench/read_api.py [--rows N] [--streams S] [--runs R] [--quick]
  --quick  100,000 rows, for a smoke run.
Run as root (PostgreSQL runs as the postgres OS user); requires `make install`
first.
"""

import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchlib import SELF_STAT, Bench, cpu_seconds, proc_cpu  # noqa: E402
from fdw import Emulator, Session, load, mb  # noqa: E402

COLUMNS = ("order_id text, user_id text, product_id text, amount float8, event_time timestamptz")
MARK = "SELECT extract(epoch FROM clock_timestamp()), (%s)" % SELF_STAT


def mark(s):
    """(epoch seconds, backend CPU seconds) of the session, now."""
    t, stat = s.run(MARK)[0].split("|", 1)
    return float(t), cpu_seconds(stat)


def measure(bench, emu, sql):
    s = Session(bench)
    try:
        s.run("SELECT count(*) FROM (SELECT order_id FROM raw_orders_json LIMIT 1) w")
        e0 = proc_cpu(emu.pid)
        c0 = emu.counters()
        t0, cpu0 = mark(s)
        result = s.run(sql)
        t1, cpu1 = mark(s)
        e1 = proc_cpu(emu.pid)
        c1 = emu.counters()
    finally:
        s.close()
    return {"seconds": t1 - t0, "backend_cpu": cpu1 - cpu0, "emulator_cpu": e1 - e0,
            "result": result,
            "json_bytes": c1.get("response_bytes_sent", 0) - c0.get("response_bytes_sent", 0)}


def read_stats(bench, table):
    plan = json.loads("\n".join(bench.psql(
        "EXPLAIN (ANALYZE, VERBOSE, FORMAT JSON) SELECT * FROM %s" % table)))
    node = plan[0]["Plan"]
    return {k: node.get(k) for k in ("Read Path", "Read Streams", "Read Blocks", "Read Bytes")}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1000000)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--streams", type=int, default=4, help="read_streams of the Read API table")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.rows = 100000

    bench = Bench(services="bigquery,bigquerystorage")
    try:
        bench.create_server()
        bench.psql("ALTER SERVER bench OPTIONS (ADD bigquery_storage_endpoint 'http://127.0.0.1:%d')"
                   % bench.ports["bigquerystorage"])
        emu = Emulator(bench.ports["bigquery"])
        emu.pid = bench.emulator.pid
        lib = os.path.join(subprocess.run(["pg_config", "--pkglibdir"], capture_output=True,
                                          text=True).stdout.strip(), "bqstream.so")
        print("%s; %s installed %s" % (bench.psql("SELECT bqstream.version()")[0], lib,
                                       time.strftime("%Y-%m-%d %H:%M:%S",
                                                     time.localtime(os.path.getmtime(lib)))))
        bench.psql("SELECT bqstream.create_dataset('bench')",
                   "SELECT bqstream.create_raw_orders_table('bench')")
        secs, cpu = load(emu, args.rows, args.days, args.seed)
        print("loaded %d rows into the emulator in %.1f s (emulator CPU %.1f s)" % (args.rows, secs, cpu))
        bench.psql("CREATE FOREIGN TABLE raw_orders_json (%s) SERVER bench OPTIONS "
                   "(table 'raw_orders', use_query_cache 'false', read_api 'off')" % COLUMNS,
                   "CREATE FOREIGN TABLE raw_orders_read (%s) SERVER bench OPTIONS "
                   "(table 'raw_orders', use_query_cache 'false', read_api 'on', read_streams '%d')"
                   % (COLUMNS, args.streams))

        scan = "SELECT count(s) FROM (SELECT * FROM %s OFFSET 0) s"
        rows = {}
        for path, table in (("JSON paging", "raw_orders_json"), ("Storage Read API", "raw_orders_read")):
            plan = bench.psql("EXPLAIN (VERBOSE, COSTS OFF) " + scan % table)
            said = "Storage Read API" if any("Read Path: Storage Read API" in l for l in plan) else "JSON paging"
            if said != path:
                raise SystemExit("%s: EXPLAIN says %s" % (table, said))
            print("\n%s: %s" % (path, scan % table))
            for _ in range(args.runs):
                r = measure(bench, emu, scan % table)
                if r["result"] != [str(args.rows)]:
                    raise SystemExit("%s returned %s" % (table, r["result"]))
                rows.setdefault(path, []).append(r)
                print("   %.2f s wall (%.0f rows/s); backend CPU %.2f s = %.0f rows/s converted "
                      "(%.2f us/row); emulator CPU %.2f s%s"
                      % (r["seconds"], args.rows / r["seconds"], r["backend_cpu"],
                         args.rows / max(r["backend_cpu"], 1e-9), r["backend_cpu"] * 1e6 / args.rows,
                         r["emulator_cpu"],
                         "; %s MB of JSON sent" % mb(r["json_bytes"]) if r["json_bytes"] else ""))
        st = read_stats(bench, "raw_orders_read")
        avro_bytes = st["Read Bytes"] or 0
        print("\nRead API session: %s streams, %s blocks, %s MB of Avro rows"
              % (st["Read Streams"], st["Read Blocks"], mb(avro_bytes)))

        check = ("SELECT count(*), sum(hashtext(order_id || user_id || product_id || amount::text "
                 "|| event_time::text)::numeric) FROM %s")
        a = bench.psql(check % "raw_orders_json")
        b = bench.psql(check % "raw_orders_read")
        print("checksum of every row through each path: %s / %s: %s"
              % (a[0], b[0], "same" if a == b else "DIFFERENT"))
        if a != b:
            raise SystemExit(1)

        best = {p: min(rs, key=lambda r: r["backend_cpu"]) for p, rs in rows.items()}
        j, r = best["JSON paging"], best["Storage Read API"]
        print("\nsummary (%d rows, best of %d): backend rows per CPU second %.0f (JSON) vs %.0f (Read API), "
              "x%.1f; wall %.2f s vs %.2f s; payload on the wire %s MB of JSON vs %s MB of Avro, x%.2f"
              % (args.rows, args.runs, args.rows / j["backend_cpu"], args.rows / r["backend_cpu"],
                 j["backend_cpu"] / r["backend_cpu"], j["seconds"], r["seconds"],
                 mb(j["json_bytes"]), mb(avro_bytes), avro_bytes / max(j["json_bytes"], 1)))
    finally:
        bench.close()


if __name__ == "__main__":
    main()
