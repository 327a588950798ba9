#!/usr/bin/python3
"""Benchmark of bqstream.publish_orders(): orders per second and the CPU the
PostgreSQL backend spends per order (generate + serialize + base64 + HTTP).

Starts its own Pub/Sub emulator (in memory) and a throwaway PostgreSQL 15 with
the installed extension, publishes to a topic without subscriptions (Pub/Sub
then keeps nothing, so the emulator does the least work), and reads the
backend's CPU time from /proc/self/stat before and after each run. Also
measures the generator alone through bqstream.sample_orders().

Usage: bench/publish_orders.py [--orders N] [--runs R] [--batch-size B] [--in-flight F]
Run as root (it switches to the postgres user for PostgreSQL) or as a user who
can run initdb. Requires `make install` first.
"""

import argparse
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PGBIN = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip() \
    or "/usr/lib/postgresql/15/bin"
TICK = os.sysconf("SC_CLK_TCK")


def as_pg(cmd):
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--"] + cmd
    return cmd


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(stat_line):
    """utime + stime of a /proc/PID/stat line, in seconds."""
    fields = stat_line[stat_line.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def proc_cpu(pid):
    with open("/proc/%d/stat" % pid) as f:
        return cpu_seconds(f.read())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--orders", type=int, default=1000000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=1000)
    ap.add_argument("--in-flight", type=int, default=4)
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="bqstream-bench-")
    if os.geteuid() == 0:
        pg = pwd.getpwnam("postgres")
        os.chown(tmp, pg.pw_uid, pg.pw_gid)
    emulator = None
    pgdata = os.path.join(tmp, "pgdata")
    pgport = free_port()
    try:
        ports_file = os.path.join(tmp, "ports.json")
        emulator = subprocess.Popen(
            ["/usr/bin/python3", "-m", "emulator", "--services", "pubsub", "--pubsub-port", "0",
             "--ports-file", ports_file], cwd=ROOT,
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "emulator.log"), "w"))
        for _ in range(200):
            if os.path.exists(ports_file) and os.path.getsize(ports_file) > 0:
                break
            time.sleep(0.05)
        ps_port = json.load(open(ports_file))["pubsub"]

        subprocess.run(as_pg([PGBIN + "/initdb", "-D", pgdata, "-A", "trust", "-U", "postgres"]),
                       check=True, stdout=subprocess.DEVNULL)
        subprocess.run(as_pg([PGBIN + "/pg_ctl", "-D", pgdata, "-l", os.path.join(tmp, "pg.log"), "-w",
                              "-o", "-c listen_addresses='' -c unix_socket_directories='%s' -p %d"
                              % (tmp, pgport), "start"]), check=True, stdout=subprocess.DEVNULL)

        def psql(*commands):
            cmd = ["psql", "-X", "-A", "-t", "-q", "-h", tmp, "-p", str(pgport), "-U", "postgres",
                   "-d", "postgres", "-v", "ON_ERROR_STOP=1"]
            for c in commands:
                cmd += ["-c", c]
            out = subprocess.run(as_pg(cmd), check=True, capture_output=True, text=True)
            return out.stdout.strip().split("\n")

        psql("CREATE EXTENSION bqstream",
             "CREATE SERVER bench FOREIGN DATA WRAPPER bqstream_fdw OPTIONS (project_id 'bench-project', "
             "pubsub_endpoint 'http://127.0.0.1:%d')" % ps_port,
             "CREATE USER MAPPING FOR CURRENT_USER SERVER bench OPTIONS (auth 'none')",
             "SELECT bqstream.create_topic('bench', 'bench-orders')")

        stat = "SELECT rtrim(pg_read_file('/proc/self/stat'), E'\\n')"
        print("publish_orders(%d) to the emulator, batches of %d, %d requests in flight; %d runs"
              % (args.orders, args.batch_size, args.in_flight, args.runs))
        print("%-22s %12s %18s %20s" % ("run", "orders/s", "backend CPU us/order", "emulator CPU us/order"))
        for run in range(1, args.runs + 1):
            n = args.orders
            before = proc_cpu(emulator.pid)
            lines = psql(stat, "SELECT published, failed, seconds FROM bqstream.publish_orders(%d, 'bench', "
                         "'bench-orders', seed => %d, batch_size => %d, max_in_flight => %d, "
                         "progress_interval => 0)" % (n, run, args.batch_size, args.in_flight), stat)
            emu_cpu = proc_cpu(emulator.pid) - before
            published, failed, seconds = lines[1].split("|")
            if int(published) != n or int(failed) != 0:
                sys.exit("run %d: published %s, failed %s of %d" % (run, published, failed, n))
            backend_cpu = cpu_seconds(lines[2]) - cpu_seconds(lines[0])
            print("%-22s %12.0f %18.2f %20.2f" % ("publish #%d" % run, n / float(seconds),
                                                  backend_cpu * 1e6 / n, emu_cpu * 1e6 / n))

        for run in range(1, args.runs + 1):
            n = args.orders
            t0 = time.monotonic()
            lines = psql(stat, "SELECT count(*) FROM bqstream.sample_orders(%d, seed => %d)" % (n, run), stat)
            wall = time.monotonic() - t0
            backend_cpu = cpu_seconds(lines[2]) - cpu_seconds(lines[0])
            print("%-22s %12.0f %18.2f %20s" % ("generator only #%d" % run, n / wall,
                                                backend_cpu * 1e6 / n, "-"))
    finally:
        if os.path.exists(os.path.join(pgdata, "postmaster.pid")):
            subprocess.run(as_pg([PGBIN + "/pg_ctl", "-D", pgdata, "-m", "immediate", "-w", "stop"]),
                           stdout=subprocess.DEVNULL)
        if emulator:
            emulator.terminate()
            emulator.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
