#!/usr/bin/python3
"""Leak check of the pipeline workers and of long FDW scans under valgrind.

A throwaway PostgreSQL 15 runs under valgrind's memcheck (every process it
forks is checked too), with bqstream preloaded, against a private emulator.
Two kinds of leak are looked for, because valgrind alone sees only one:

  * malloc-level (libcurl handles, jansson values, OpenSSL objects, our own
    malloc): memcheck's leak report of each process when it exits, plus any
    invalid read or write it saw on the way.  A leak counts against bqstream
    when one of its frames is in bqstream.so.
  * palloc-level (a context that grows with every batch or row, like the
    acknowledgement leak bench/CHAOS.md records): memcheck cannot see these,
    since the memory stays reachable from TopMemoryContext.  The "Grand total"
    of pg_log_backend_memory_contexts() is taken for each worker and the
    launcher after a warm-up stream and again after a stream several times
    longer, and for the FDW backend after its first scans and after many more.
    It must not grow.

Phases: a pipeline with 2 workers streams --warmup orders (2 % malformed, so
dead letters are stored too), the contexts are logged; --orders more, logged
again.  Then one backend scans raw_orders through bqstream_fdw (a full scan,
a pushed-down aggregate, ORDER BY ... LIMIT) --scans times, its contexts
logged after the first round and after the last.  A fast shutdown ends every
process (SIGTERM for the workers, the ordinary path), and memcheck writes
each one's leak report.

Exit status 1 when bqstream leaks (definitely or indirectly lost with a
bqstream.so frame), memcheck saw an invalid access in any process, or a
context total grew more than --growth-kb.

Usage: bench/memcheck.py [--orders N] [--warmup N] [--scans N] [--keep]
       (about 4 minutes with the defaults on 2 cores; requires `make install`
       and valgrind; run as root: PostgreSQL runs as the postgres user)
"""

import argparse
import glob
import os
import re
import subprocess
import sys
import time

from benchlib import Bench, PGBIN, as_pg

PIPELINE = "memcheck"
VALGRIND = ["valgrind", "--tool=memcheck", "--leak-check=full",
            "--show-leak-kinds=definite,indirect,possible", "--undef-value-errors=no",
            "--trace-children=yes", "--num-callers=40", "--error-limit=no"]
SCAN_QUERIES = [
    # OFFSET 0 keeps the scan itself from being replaced by a pushed-down aggregate
    "SELECT count(*), sum(length(order_id)), sum(amount), max(event_time) "
    "FROM (SELECT * FROM mc.raw_orders OFFSET 0) s",
    "SELECT product_id, count(*), sum(amount) FROM mc.raw_orders GROUP BY product_id ORDER BY 1",
    "SELECT order_id, amount FROM mc.raw_orders ORDER BY amount DESC, order_id LIMIT 50",
]


class ValgrindBench(Bench):
    """Bench whose postmaster (and so every process it forks) runs under memcheck."""

    def _start_postgres(self, pg_conf):
        self._initdb(pg_conf)
        self.vg_dir = os.path.join(self.tmp, "valgrind")
        os.mkdir(self.vg_dir)
        if os.geteuid() == 0:
            subprocess.run(["chown", "postgres", self.vg_dir], check=True)
        self.pglog = os.path.join(self.tmp, "pg.log")
        self.postmaster = subprocess.Popen(
            as_pg(VALGRIND + ["--log-file=%s/vg.%%p.log" % self.vg_dir,
                              PGBIN + "/postgres", "-D", self.pgdata]),
            stdout=subprocess.DEVNULL, stderr=open(self.pglog, "w"))
        for _ in range(600):
            if subprocess.run(as_pg([PGBIN + "/pg_isready", "-q", "-h", self.tmp, "-p", str(self.pgport)])
                              ).returncode == 0:
                return
            if self.postmaster.poll() is not None:
                raise RuntimeError("postgres under valgrind exited: see %s" % self.pglog)
            time.sleep(0.5)
        raise RuntimeError("postgres under valgrind did not start")

    def stop(self):
        subprocess.run(as_pg([PGBIN + "/pg_ctl", "-D", self.pgdata, "-m", "fast", "-t", "300", "-w", "stop"]),
                       stdout=subprocess.DEVNULL)
        self.postmaster.wait()


def log_offset(path):
    return os.path.getsize(path)


def grand_totals(path, offset, pids, timeout=120):
    """Wait for each pid's memory-context dump in the log after offset; {pid: bytes}."""
    found = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(path, errors="replace") as f:
            f.seek(offset)
            for line in f:
                m = re.search(r"\[(\d+)\] LOG:  Grand total: (\d+) bytes", line)
                if m and int(m.group(1)) in pids:
                    found[int(m.group(1))] = int(m.group(2))
        if set(found) >= set(pids):
            break
        time.sleep(0.5)
    return found


def wait_stored(bench, target, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = int(bench.psql("SELECT coalesce(inserted + dead_lettered, 0) FROM bqstream.pipeline_stats "
                              "WHERE pipeline = '%s'" % PIPELINE)[0] or 0)
        if done >= target:
            return done
        time.sleep(1)
    raise RuntimeError("the pipeline stored %d of %d messages in %d s" % (done, target, timeout))


def worker_pids(bench):
    return [int(p) for p in bench.psql("SELECT pid FROM bqstream.worker_stats "
                                       "WHERE pipeline = '%s' AND pid IS NOT NULL ORDER BY pid" % PIPELINE)
            if p]


def publish(bench, n, seed):
    return int(bench.psql("SELECT published FROM bqstream.publish_orders(%d, 'bench', seed => %d, "
                          "malformed_fraction => 0.02, progress_interval => 0)" % (n, seed))[0])


def parse_valgrind(path):
    """(pid, {kind: bytes}, [loss records with a bqstream frame], [invalid accesses])"""
    text = open(path, errors="replace").read()
    pid = int(re.search(r"vg\.(\d+)\.log$", path).group(1))
    lost = {}
    for kind in ("definitely", "indirectly", "possibly"):
        m = re.search(r"%s lost: ([\d,]+) bytes" % kind, text)
        lost[kind] = int(m.group(1).replace(",", "")) if m else 0
    ours = []
    invalid = []
    # records are blank-line separated blocks after the "==PID== " prefix
    body = re.sub(r"^==\d+== ?", "", text, flags=re.M)
    for block in body.split("\n\n"):
        if re.search(r"are (definitely|indirectly) lost in loss record", block) and "bqstream.so" in block:
            ours.append(block.strip())
        elif re.match(r"\s*(Invalid (read|write|free)|Mismatched free|Source and destination overlap)", block):
            invalid.append(block.strip())
    return pid, lost, ours, invalid


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--warmup", type=int, default=10000, help="orders before the first context dump")
    ap.add_argument("--orders", type=int, default=100000, help="orders between the two dumps")
    ap.add_argument("--scans", type=int, default=10, help="rounds of FDW queries after the first")
    ap.add_argument("--growth-kb", type=int, default=64,
                    help="largest growth of a process's context total accepted (kB)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (valgrind logs)")
    args = ap.parse_args()

    failures = []
    t0 = time.monotonic()
    bench = None
    try:
        bench = ValgrindBench(services="pubsub,bigquery",
                              pg_conf="shared_preload_libraries = 'bqstream'\nbqstream.launcher_naptime = 500\n"
                              "log_line_prefix = '%m [%p] '\n")
        print("PostgreSQL under valgrind memcheck started in %.0f s (%s)" % (time.monotonic() - t0, bench.tmp))
        bench.create_server()
        bench.psql("SELECT count(*) FROM bqstream.setup_demo('bench')",
                   "SELECT bqstream.create_subscription('bench', 'orders-mc', 'orders', ack_deadline_seconds => 60)",
                   "SELECT bqstream.create_pipeline('%s', 'bench', 'orders-mc', workers => 2, write_mode => 'insert_all')" % PIPELINE,
                   "CREATE SCHEMA mc",
                   "IMPORT FOREIGN SCHEMA shop LIMIT TO (raw_orders) FROM SERVER bench INTO mc")
        deadline = time.monotonic() + 120
        while len(worker_pids(bench)) < 2:
            if time.monotonic() > deadline:
                raise RuntimeError("the workers did not start")
            time.sleep(0.5)
        workers = worker_pids(bench)
        launcher = [int(p) for p in bench.psql("SELECT pid FROM pg_stat_activity "
                                               "WHERE backend_type = 'bqstream launcher'") if p]

        # ---------------------------------------------------------- the stream
        t = time.monotonic()
        published = publish(bench, args.warmup, 1)
        wait_stored(bench, published, 600)
        off = log_offset(bench.pglog)
        watched = workers + launcher
        bench.psql(*["SELECT pg_log_backend_memory_contexts(%d)" % p for p in watched])
        before = grand_totals(bench.pglog, off, watched)
        warm_s = time.monotonic() - t

        t = time.monotonic()
        published += publish(bench, args.orders, 2)
        stored = wait_stored(bench, published, 1800)
        stream_s = time.monotonic() - t
        off = log_offset(bench.pglog)
        bench.psql(*["SELECT pg_log_backend_memory_contexts(%d)" % p for p in watched])
        after = grand_totals(bench.pglog, off, watched)
        if worker_pids(bench) != workers:
            failures.append("the workers changed during the stream (%s -> %s): no comparison"
                            % (workers, worker_pids(bench)))
        print("\nstream: %d orders warm-up (%.0f s), then %d more (%.0f s) under memcheck; %d stored"
              % (args.warmup, warm_s, args.orders, stream_s, stored))
        print("%-28s %14s %14s %10s" % ("process", "contexts warm", "contexts end", "growth"))
        for p in watched:
            name = "%s %d" % ("worker" if p in workers else "launcher", p)
            b, a = before.get(p), after.get(p)
            if b is None or a is None:
                failures.append("no memory-context dump of %s" % name)
                continue
            print("%-28s %12d B %12d B %+8.1f kB" % (name, b, a, (a - b) / 1024))
            if a - b > args.growth_kb * 1024:
                failures.append("%s: memory contexts grew %d kB over %d orders"
                                % (name, (a - b) // 1024, args.orders))

        # ---------------------------------------------------------- the FDW scans
        rows = int(bench.psql("SELECT count(*) FROM (SELECT * FROM mc.raw_orders OFFSET 0) s")[0])
        logq = "SELECT pg_log_backend_memory_contexts(pg_backend_pid())"
        off = log_offset(bench.pglog)
        t = time.monotonic()
        out = bench.psql("SELECT pg_backend_pid()", *SCAN_QUERIES, logq,
                         *(SCAN_QUERIES * args.scans), logq)
        scan_s = time.monotonic() - t
        fdw_pid = int(out[0])
        dumps = []
        deadline = time.monotonic() + 60
        while len(dumps) < 2 and time.monotonic() < deadline:
            with open(bench.pglog, errors="replace") as f:
                f.seek(off)
                dumps = [int(m.group(1)) for m in
                         re.finditer(r"\[%d\] LOG:  Grand total: (\d+) bytes" % fdw_pid, f.read())]
            time.sleep(0.5)
        print("\nFDW: %d rounds of %d queries over raw_orders (%d rows), %.0f s"
              % (args.scans + 1, len(SCAN_QUERIES), rows, scan_s))
        if len(dumps) < 2:
            failures.append("no memory-context dump of the FDW backend %d" % fdw_pid)
        else:
            print("%-28s %12d B %12d B %+8.1f kB" % ("FDW backend %d" % fdw_pid, dumps[0], dumps[1],
                                                     (dumps[1] - dumps[0]) / 1024))
            if dumps[1] - dumps[0] > args.growth_kb * 1024:
                failures.append("FDW backend: memory contexts grew %d kB over %d rounds"
                                % ((dumps[1] - dumps[0]) // 1024, args.scans))

        # ---------------------------------------------------------- memcheck's reports
        bench.stop()
        roles = {p: "worker" for p in workers}
        roles.update({p: "launcher" for p in launcher})
        roles[fdw_pid] = "FDW backend"
        print("\nmemcheck at exit: bytes lost (PostgreSQL's own start-up allocations in every process), "
              "invalid accesses")
        print("%-28s %12s %12s %12s %8s" % ("process", "definitely", "indirectly", "possibly", "invalid"))
        totals = {"definitely": 0, "indirectly": 0, "possibly": 0}
        nprocs = 0
        for path in sorted(glob.glob(os.path.join(bench.vg_dir, "vg.*.log"))):
            pid, lost, ours, invalid = parse_valgrind(path)
            nprocs += 1
            for k in totals:
                totals[k] += lost[k]
            if pid in roles:
                print("%-28s %12d %12d %12d %8d" % ("%s %d" % (roles[pid], pid), lost["definitely"],
                                                     lost["indirectly"], lost["possibly"], len(invalid)))
            for rec in ours:
                failures.append("pid %d (%s): bqstream leaks:\n%s" % (pid, roles.get(pid, "other"), rec))
            for rec in invalid:
                failures.append("pid %d (%s): invalid access:\n%s" % (pid, roles.get(pid, "other"), rec))
        print("%-28s %12d %12d %12d" % ("all %d processes" % nprocs, totals["definitely"],
                                          totals["indirectly"], totals["possibly"]))
    except BaseException:
        failures.append("the run failed: %s" % sys.exc_info()[1])
        raise
    finally:
        if bench is not None:
            if bench.postmaster.poll() is None:
                bench.stop()
            if args.keep:
                bench.emulator.terminate()
                print("kept %s" % bench.tmp)
            else:
                bench.close()
        print("\nmemcheck: %s" % ("PASS: no leak or invalid access of bqstream's, memory contexts flat"
                                  if not failures else "FAIL"))
        for f in failures:
            print("  - " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
