#!/usr/bin/python3
"""End-to-end benchmark of a streaming pipeline: publish_orders() -> Pub/Sub
emulator -> pipeline workers -> BigQuery emulator.

1. Throughput: publish N orders as fast as possible into a subscription that
   a pipeline with W workers drains; time from the first publish until every
   order is in BigQuery (pipeline_stats.inserted), the workers' CPU per order
   (from /proc), and the emulator's CPU per order, to see which side limits.
2. A backlog: the same number of orders published while a second pipeline
   is stopped, then drained with full pulls, which shows the workers' own
   CPU per order apart from waiting on the emulator.
3. Latency at a steady rate: publish at R orders/s for S seconds into a
   fresh pipeline, then read the publish-to-BigQuery latency percentiles
   from pipeline_stats.

Usage: bench/pipeline.py [--orders N] [--workers W] [--rate R] [--seconds S]
Requires `make install` first.
"""

import argparse
import time

from benchlib import Bench, proc_cpu


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--orders", type=int, default=1000000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rate", type=int, default=10000)
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--compression", choices=("auto", "on", "off"), default="auto",
                    help="bqstream.http_compression (auto: gzip from https endpoints only, "
                         "so not from the emulator; on: gzip'd responses from it too)")
    args = ap.parse_args()

    bench = Bench(services="pubsub,bigquery",
                  pg_conf="shared_preload_libraries = 'bqstream'\nbqstream.launcher_naptime = 200\n"
                  + ("bqstream.http_compression = %s\n" % args.compression))
    try:
        bench.create_server()
        bench.psql("SELECT count(*) FROM bqstream.setup_demo('bench')",
                   "SELECT bqstream.create_pipeline('throughput', 'bench', 'orders-pipeline', "
                   "workers => %d, write_mode => 'insert_all')" % args.workers)
        while len(bench.worker_pids("throughput")) < args.workers:
            time.sleep(0.1)
        pids = bench.worker_pids("throughput")
        cpu0 = sum(proc_cpu(p) for p in pids)
        emu0 = proc_cpu(bench.emulator.pid)
        t0 = time.monotonic()
        bench.psql("SELECT published FROM bqstream.publish_orders(%d, 'bench', progress_interval => 0)"
                   % args.orders)
        t_published = time.monotonic()
        t_done = bench.wait_stored("throughput", args.orders, 1800)
        cpu = sum(proc_cpu(p) for p in pids) - cpu0
        emu = proc_cpu(bench.emulator.pid) - emu0
        print("throughput: %d orders, %d workers" % (args.orders, args.workers))
        print("  published in %.1f s, all in BigQuery after %.1f s: %.0f orders/s end to end"
              % (t_published - t0, t_done - t0, args.orders / (t_done - t0)))
        print("  worker CPU %.2f us/order, emulator CPU %.2f us/order (both services, one process)"
              % (cpu * 1e6 / args.orders, emu * 1e6 / args.orders))
        bench.psql("SELECT bqstream.stop_pipeline('throughput')")

        # a backlog drained with full pulls: the workers' own cost per order
        bench.psql("SELECT bqstream.create_subscription('bench', 'backlog', 'orders')",
                   "SELECT bqstream.create_pipeline('backlog', 'bench', 'backlog', workers => %d, "
                   "start => false, write_mode => 'insert_all')" % args.workers)
        bench.psql("SELECT published FROM bqstream.publish_orders(%d, 'bench', progress_interval => 0)"
                   % args.orders)
        emu0 = proc_cpu(bench.emulator.pid)
        bench.psql("SELECT bqstream.start_pipeline('backlog')")
        t0 = time.monotonic()
        while len(bench.worker_pids("backlog")) < args.workers:
            time.sleep(0.01)
        pids = bench.worker_pids("backlog")
        t_done = bench.wait_stored("backlog", args.orders, 1800)
        cpu = sum(proc_cpu(p) for p in pids)
        emu = proc_cpu(bench.emulator.pid) - emu0
        print("backlog of %d orders drained by %d workers in %.1f s: %.0f orders/s"
              % (args.orders, args.workers, t_done - t0, args.orders / (t_done - t0)))
        print("  worker CPU %.2f us/order (whole life of the workers), emulator CPU %.2f us/order"
              % (cpu * 1e6 / args.orders, emu * 1e6 / args.orders))
        bench.psql("SELECT bqstream.stop_pipeline('backlog')")

        bench.psql("SELECT bqstream.create_subscription('bench', 'latency', 'orders')",
                   "SELECT bqstream.create_pipeline('latency', 'bench', 'latency', workers => %d, write_mode => 'insert_all')"
                   % args.workers)
        while len(bench.worker_pids("latency")) < args.workers:
            time.sleep(0.1)
        n = args.rate * args.seconds
        bench.psql("SELECT published FROM bqstream.publish_orders(%d, 'bench', rate => %d, "
                   "progress_interval => 0)" % (n, args.rate))
        bench.wait_stored("latency", n, 600)
        p50, p95, p99 = bench.psql("SELECT latency_p50_ms, latency_p95_ms, latency_p99_ms "
                                   "FROM bqstream.pipeline_stats WHERE pipeline = 'latency'")[0].split("|")
        print("latency at %d orders/s for %d s: p50 <= %s ms, p95 <= %s ms, p99 <= %s ms"
              " (histogram buckets are powers of two)" % (args.rate, args.seconds, p50, p95, p99))
    finally:
        bench.close()


if __name__ == "__main__":
    main()
