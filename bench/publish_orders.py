#!/usr/bin/python3
"""Benchmark of bqstream.publish_orders(): orders per second and the CPU the
PostgreSQL backend spends per order (generate + serialize + base64 + HTTP).

Starts its own Pub/Sub emulator (in memory) and a throwaway PostgreSQL 15 with
the installed extension, publishes to a topic without subscriptions (Pub/Sub
then keeps nothing, so the emulator does the least work), and reads the
backend's CPU time from /proc/self/stat before and after each run. Also
measures the generator alone through bqstream.sample_orders().

Usage: bench/publish_orders.py [--orders N] [--runs R] [--batch-size B] [--in-flight F]
Requires `make install` first.
"""

import argparse
import sys
import time

from benchlib import SELF_STAT, Bench, cpu_seconds, proc_cpu


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--orders", type=int, default=1000000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=1000)
    ap.add_argument("--in-flight", type=int, default=4)
    args = ap.parse_args()

    bench = Bench(services="pubsub")
    try:
        bench.create_server()
        bench.psql("SELECT bqstream.create_topic('bench', 'bench-orders')")

        print("publish_orders(%d) to the emulator, batches of %d, %d requests in flight; %d runs"
              % (args.orders, args.batch_size, args.in_flight, args.runs))
        print("%-22s %12s %18s %20s" % ("run", "orders/s", "backend CPU us/order", "emulator CPU us/order"))
        n = args.orders
        for run in range(1, args.runs + 1):
            before = proc_cpu(bench.emulator.pid)
            lines = bench.psql(SELF_STAT,
                               "SELECT published, failed, seconds FROM bqstream.publish_orders(%d, 'bench', "
                               "'bench-orders', seed => %d, batch_size => %d, max_in_flight => %d, "
                               "progress_interval => 0)" % (n, run, args.batch_size, args.in_flight),
                               SELF_STAT)
            emu_cpu = proc_cpu(bench.emulator.pid) - before
            published, failed, seconds = lines[1].split("|")
            if int(published) != n or int(failed) != 0:
                sys.exit("run %d: published %s, failed %s of %d" % (run, published, failed, n))
            backend_cpu = cpu_seconds(lines[2]) - cpu_seconds(lines[0])
            print("%-22s %12.0f %18.2f %20.2f" % ("publish #%d" % run, n / float(seconds),
                                                  backend_cpu * 1e6 / n, emu_cpu * 1e6 / n))

        for run in range(1, args.runs + 1):
            t0 = time.monotonic()
            lines = bench.psql(SELF_STAT, "SELECT count(*) FROM bqstream.sample_orders(%d, seed => %d)"
                               % (n, run), SELF_STAT)
            wall = time.monotonic() - t0
            backend_cpu = cpu_seconds(lines[2]) - cpu_seconds(lines[0])
            print("%-22s %12.0f %18.2f %20s" % ("generator only #%d" % run, n / wall,
                                                backend_cpu * 1e6 / n, "-"))
    finally:
        bench.close()


if __name__ == "__main__":
    main()
