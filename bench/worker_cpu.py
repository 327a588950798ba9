#!/usr/bin/python3
"""CPU of one pipeline worker per order, apart from the emulator's.

bench/pipeline.py measures the workers while the emulator saturates both
cores, so its CPU figures move by 2x from run to run.  This one isolates the
worker: a backlog is published while the pipeline is stopped, then a single
worker (workers => 1, max_workers => 1) drains it with full pulls.  Its user
and system time come from /proc/PID/stat, and the worker's fixed start-up
cost (fork, database connection, tables.get) is taken out by also draining
a small backlog with a fresh worker:

    per order = (CPU(large) - CPU(small)) / (large - small)

--callgrind counts instructions instead (valgrind's callgrind, every
PostgreSQL process under it), the same difference of two drains: a figure
that does not depend on what else the machine does, for comparing builds.
callgrind sees only user space: the system time has to come from the
/proc run.

Usage: bench/worker_cpu.py [--orders N] [--small N] [--runs R] [--ack-deadline S]
                           [--callgrind [--profile FILE]]
       (as root; requires `make install`; ~1 minute with the defaults, ~3
       with --callgrind)
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import time

from benchlib import Bench, PGBIN, as_pg, stat_times

PG_CONF = "shared_preload_libraries = 'bqstream'\nbqstream.launcher_naptime = 100\n"


def times_of(pid):
    """(utime, stime) of a process in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        return stat_times(f.read())


class CallgrindBench(Bench):
    """The cluster runs under callgrind; each process writes its own profile."""

    def _start_postgres(self, pg_conf):
        self._initdb(pg_conf)
        self.cg_dir = os.path.join(self.tmp, "callgrind")
        os.mkdir(self.cg_dir)
        subprocess.run(["chown", "postgres", self.cg_dir], check=False)
        cmd = ["valgrind", "--tool=callgrind", "--trace-children=yes",
               "--callgrind-out-file=%s/callgrind.out.%%p" % self.cg_dir,
               PGBIN + "/postgres", "-D", self.pgdata]
        self.pglog = os.path.join(self.tmp, "pg.log")
        self.pg = subprocess.Popen(as_pg(cmd), stdout=subprocess.DEVNULL, stderr=open(self.pglog, "w"))
        for _ in range(600):
            try:
                self.psql("SELECT 1")
                return
            except subprocess.CalledProcessError:
                time.sleep(0.5)
        raise RuntimeError("postgres under callgrind did not start: see %s" % self.pglog)


def worker_pid(bench, pipeline, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = bench.worker_pids(pipeline)
        if pids:
            return pids[0]
        time.sleep(0.05)
    raise SystemExit("pipeline %s: no worker started" % pipeline)


def wait_exited(pid, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not os.path.exists("/proc/%d" % pid):
            return
        time.sleep(0.1)
    raise SystemExit("worker %d did not exit" % pid)


def drain(bench, name, n, timeout, ack_deadline):
    """Publish a backlog of n orders to a topic of its own, drain it with one
    new worker; its pid and (utime, stime) just before it is stopped."""
    bench.psql("SELECT bqstream.create_topic('bench', '%s')" % name,
               "SELECT bqstream.create_subscription('bench', '%s', '%s', %d)" % (name, name, ack_deadline),
               "SELECT bqstream.create_pipeline('%s', 'bench', '%s', workers => 1, max_workers => 1, "
               "start => false, write_mode => 'insert_all')" % (name, name))
    bench.psql("SELECT published FROM bqstream.publish_orders(%d, 'bench', topic => '%s', "
               "progress_interval => 0)" % (n, name))
    bench.psql("SELECT bqstream.start_pipeline('%s')" % name)
    pid = worker_pid(bench, name, timeout)
    bench.wait_stored(name, n, timeout)
    times = times_of(pid)
    bench.psql("SELECT bqstream.stop_pipeline('%s')" % name)
    wait_exited(pid, timeout)
    return pid, times


def callgrind_total(log, pid):
    """The instructions (Ir) callgrind collected in a process, from its
    closing lines in the server's log (the profile files leave out what
    libcurl's resolver threads did)."""
    with open(log) as f:
        for line in f:
            m = re.match(r"==%d== Collected : (\d+)" % pid, line)
            if m:
                return int(m.group(1))
    raise SystemExit("callgrind printed no total for process %d in %s" % (pid, log))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--orders", type=int, default=200000, help="the large backlog (default 200,000)")
    ap.add_argument("--small", type=int, default=10000, help="the small backlog (default 10,000)")
    ap.add_argument("--runs", type=int, default=3,
                    help="pairs of drains (default 3; --callgrind makes one pair, of at most 40,000 and 4,000 orders)")
    ap.add_argument("--ack-deadline", type=int, default=60,
                    help="of the subscriptions (default 60, as setup_demo's)")
    ap.add_argument("--callgrind", action="store_true", help="count instructions under callgrind")
    ap.add_argument("--profile", metavar="FILE",
                    help="with --callgrind: keep the large drain's profile for callgrind_annotate")
    args = ap.parse_args()
    if args.orders <= args.small:
        raise SystemExit("--orders must be larger than --small")

    if args.callgrind:
        orders, small = min(args.orders, 40000), min(args.small, 4000)
        bench = CallgrindBench(services="pubsub,bigquery", pg_conf=PG_CONF)
    else:
        orders, small = args.orders, args.small
        bench = Bench(services="pubsub,bigquery", pg_conf=PG_CONF)
    try:
        bench.create_server()
        bench.psql("SELECT count(*) FROM bqstream.setup_demo('bench')")
        if args.callgrind:
            pid_s, _ = drain(bench, "small", small, 600, args.ack_deadline)
            pid_l, _ = drain(bench, "large", orders, 1800, args.ack_deadline)
            ir_s = callgrind_total(bench.pglog, pid_s)
            ir_l = callgrind_total(bench.pglog, pid_l)
            print("callgrind: one worker drained %d orders in %.0f M instructions, %d orders in %.0f M"
                  % (small, ir_s / 1e6, orders, ir_l / 1e6))
            print("worker instructions per order: %.0f (user space only)" % ((ir_l - ir_s) / (orders - small)))
            if args.profile:
                shutil.copy(os.path.join(bench.cg_dir, "callgrind.out.%d" % pid_l), args.profile)
            return
        user, system = [], []
        for run in range(args.runs):
            _, (u_s, s_s) = drain(bench, "small%d" % run, small, 600, args.ack_deadline)
            _, (u_l, s_l) = drain(bench, "large%d" % run, orders, 1800, args.ack_deadline)
            user.append((u_l - u_s) * 1e6 / (orders - small))
            system.append((s_l - s_s) * 1e6 / (orders - small))
            print("run %d: %.2f us user + %.2f us system = %.2f us of worker CPU per order"
                  % (run + 1, user[-1], system[-1], user[-1] + system[-1]))
        total = [u + s for u, s in zip(user, system)]
        print("worker CPU per order over %d runs of %d - %d orders: median %.2f us "
              "(user %.2f, system %.2f), range %.2f-%.2f us"
              % (args.runs, orders, small, statistics.median(total), statistics.median(user),
                 statistics.median(system), min(total), max(total)))
    finally:
        bench.close()


if __name__ == "__main__":
    main()
