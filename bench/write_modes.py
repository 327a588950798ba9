#!/usr/bin/python3
"""The three write modes of a pipeline side by side on one emulator:
insert_all (tabledata.insertAll), default_stream (the Storage Write API's
_default stream) and exactly_once (committed write streams, every append
recorded in PostgreSQL before it is sent).

For each mode a pipeline with W workers drains the same backlog: N orders
published once to a topic of their own, which has one subscription per mode,
so each pipeline gets the same messages.  The pipelines run one after the
other (so that they do not share the machine's CPU), in the order given, each
into its own raw_orders-shaped table.  Measured per mode: the time from the
start of the pipeline until every order is stored, the workers' CPU per
order over their whole life (from /proc), the emulator's CPU per order (all
its services: one process), the PostgreSQL WAL written per order (the
exactly_once mode's intents and ledger are WAL), and the rows in BigQuery
(every valid order exactly once, or the run is reported as failed).  Ratios
are against insert_all.

Usage: bench/write_modes.py [--orders N] [--workers W] [--batch-size B]
                            [--modes insert_all,default_stream,exactly_once]
Requires `make install` first; run as root (PostgreSQL runs as postgres).
"""

import argparse
import sys
import time

from benchlib import Bench, proc_cpu

TOPIC = "write-modes"


def bq_count(bench, table):
    rows = bench.psql("SELECT count(*), count(DISTINCT order_id) FROM wm.%s" % table)[0].split("|")
    return int(rows[0]), int(rows[1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--orders", type=int, default=200000)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=1000)
    ap.add_argument("--malformed", type=float, default=0.0)
    ap.add_argument("--modes", default="insert_all,default_stream,exactly_once")
    args = ap.parse_args()
    modes = args.modes.split(",")

    bench = Bench(services="pubsub,bigquery,bigquerystorage",
                  pg_conf="shared_preload_libraries = 'bqstream'\nbqstream.launcher_naptime = 200\n")
    results = {}
    failed = False
    try:
        bench.create_server()
        bench.psql("SELECT count(*) FROM bqstream.setup_demo('bench')",
                   "SELECT bqstream.create_topic('bench', '%s')" % TOPIC,
                   "CREATE SCHEMA wm")
        for mode in modes:
            bench.psql("SELECT bqstream.create_raw_orders_table('bench', 'orders_%s')" % mode,
                       "SELECT bqstream.create_subscription('bench', 'wm-%s', '%s', ack_deadline_seconds => 60)"
                       % (mode, TOPIC),
                       "SELECT bqstream.create_pipeline('wm_%s', 'bench', 'wm-%s', 'orders_%s', workers => %d, "
                       "max_workers => %d, batch_size => %d, write_mode => '%s', start => false)"
                       % (mode, mode, mode, args.workers, args.workers, args.batch_size, mode))
        bench.psql("IMPORT FOREIGN SCHEMA shop LIMIT TO (%s) FROM SERVER bench INTO wm"
                   % ", ".join("orders_%s" % m for m in modes))
        published, malformed = (int(x) for x in bench.psql(
            "SELECT published, malformed FROM bqstream.publish_orders(%d, 'bench', topic => '%s', "
            "malformed_fraction => %s, progress_interval => 0)" % (args.orders, TOPIC, args.malformed))[0]
            .split("|"))
        print("write modes: %d orders (%d malformed) published once, drained by %d worker(s) per mode, "
              "batch_size %d" % (published, malformed, args.workers, args.batch_size))
        sys.stdout.flush()

        for mode in modes:
            pipeline = "wm_%s" % mode
            wal0 = int(bench.psql("SELECT pg_current_wal_lsn() - '0/0'")[0])
            emu0 = proc_cpu(bench.emulator.pid)
            bench.psql("SELECT bqstream.start_pipeline('%s')" % pipeline)
            t0 = time.monotonic()
            while len(bench.worker_pids(pipeline)) < args.workers:
                time.sleep(0.01)
            pids = bench.worker_pids(pipeline)
            t_done = bench.wait_stored(pipeline, published, 1800)
            cpu = sum(proc_cpu(p) for p in pids)
            emu = proc_cpu(bench.emulator.pid) - emu0
            wal = int(bench.psql("SELECT pg_current_wal_lsn() - '0/0'")[0]) - wal0
            bench.psql("SELECT bqstream.stop_pipeline('%s')" % pipeline)
            rows, distinct = bq_count(bench, "orders_%s" % mode)
            exact = rows == published - malformed and distinct == rows
            failed = failed or not exact
            results[mode] = dict(seconds=t_done - t0, worker_us=cpu * 1e6 / published,
                                 emu_us=emu * 1e6 / published, wal_b=wal / published,
                                 rows=rows, distinct=distinct, exact=exact)
            r = results[mode]
            print("  %-15s %7.1f s  %8.0f orders/s  worker CPU %6.2f us/order  emulator CPU %6.2f us/order  "
                  "WAL %6.1f B/order  BigQuery %d rows, %d distinct%s"
                  % (mode, r["seconds"], published / r["seconds"], r["worker_us"], r["emu_us"], r["wal_b"],
                     rows, distinct, "" if exact else "  NOT EXACT"))
            sys.stdout.flush()

        base = results.get("insert_all")
        if base:
            print("ratios to insert_all (time, worker CPU, emulator CPU):")
            for mode in modes:
                r = results[mode]
                print("  %-15s time x%.2f  worker CPU x%.2f  emulator CPU x%.2f"
                      % (mode, r["seconds"] / base["seconds"], r["worker_us"] / base["worker_us"],
                         r["emu_us"] / base["emu_us"]))
    finally:
        bench.close()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
