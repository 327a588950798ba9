"""Shared plumbing of the extension's benchmarks: a private emulator, a
throwaway PostgreSQL 15 with the installed extension, psql, and CPU time read
from /proc. Run as root (PostgreSQL then runs as the postgres OS user) or as
a user who can run initdb."""

import json
import os
import signal
import pwd
import shutil
import socket
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PGBIN = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip() \
    or "/usr/lib/postgresql/15/bin"
TICK = os.sysconf("SC_CLK_TCK")

# psql command that prints the backend's own /proc/self/stat line
SELF_STAT = "SELECT rtrim(pg_read_file('/proc/self/stat'), E'\\n')"


def as_pg(cmd):
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--"] + cmd
    return cmd


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stat_times(stat_line):
    """(utime, stime) of a /proc/PID/stat line, in seconds."""
    fields = stat_line[stat_line.rindex(")") + 2:].split()
    return int(fields[11]) / TICK, int(fields[12]) / TICK


def cpu_seconds(stat_line):
    """utime + stime of a /proc/PID/stat line, in seconds."""
    return sum(stat_times(stat_line))


def proc_cpu(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return cpu_seconds(f.read())
    except FileNotFoundError:
        return 0.0


def _exit_on_sigterm(signum, frame):
    raise SystemExit(128 + signum)


class Bench:
    """An emulator and a PostgreSQL instance in a temporary directory."""

    def __init__(self, services="pubsub", pg_conf=""):
        # a bench stopped with kill or timeout still stops its servers: SIGTERM
        # becomes SystemExit, which runs the callers' `finally: bench.close()`
        if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _exit_on_sigterm)
        self.tmp = tempfile.mkdtemp(prefix="bqstream-bench-")
        if os.geteuid() == 0:
            pg = pwd.getpwnam("postgres")
            os.chown(self.tmp, pg.pw_uid, pg.pw_gid)
        self.pgdata = os.path.join(self.tmp, "pgdata")
        self.pgport = free_port()
        self.emulator = None
        try:
            self._start_emulator(services)
            self._start_postgres(pg_conf)
        except BaseException:
            self.close()
            raise

    def _start_emulator(self, services):
        ports_file = os.path.join(self.tmp, "ports.json")
        # empty pulls answered after 1 s rather than Google's 90: a pull held for a
        # stopped worker would take the next run's messages until their ack deadline
        args = ["/usr/bin/python3", "-m", "emulator", "--services", services, "--ports-file", ports_file]
        if "pubsub" in services.split(","):
            args += ["--pubsub-pull-wait-ms", "1000"]
        for s in services.split(","):
            args += ["--%s-port" % s, "0"]
        self.emulator = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL,
                                         stderr=open(os.path.join(self.tmp, "emulator.log"), "w"))
        for _ in range(200):
            if os.path.exists(ports_file) and os.path.getsize(ports_file) > 0:
                break
            if self.emulator.poll() is not None:
                with open(os.path.join(self.tmp, "emulator.log")) as log:
                    raise SystemExit("the emulator exited with status %d:\n%s"
                                     % (self.emulator.returncode, log.read()))
            time.sleep(0.05)
        self.ports = json.load(open(ports_file))

    def _initdb(self, pg_conf):
        subprocess.run(as_pg([PGBIN + "/initdb", "-D", self.pgdata, "-A", "trust", "-U", "postgres"]),
                       check=True, stdout=subprocess.DEVNULL)
        with open(os.path.join(self.pgdata, "postgresql.conf"), "a") as f:
            f.write("listen_addresses = ''\nunix_socket_directories = '%s'\nport = %d\n%s\n"
                    % (self.tmp, self.pgport, pg_conf))

    def _start_postgres(self, pg_conf):
        self._initdb(pg_conf)
        subprocess.run(as_pg([PGBIN + "/pg_ctl", "-D", self.pgdata, "-l", os.path.join(self.tmp, "pg.log"),
                              "-w", "start"]), check=True, stdout=subprocess.DEVNULL)

    def psql(self, *commands):
        """Run the commands in one session; return the output lines."""
        cmd = ["psql", "-X", "-A", "-t", "-q", "-h", self.tmp, "-p", str(self.pgport), "-U", "postgres",
               "-d", "postgres", "-v", "ON_ERROR_STOP=1"]
        for c in commands:
            cmd += ["-c", c]
        out = subprocess.run(as_pg(cmd), check=True, capture_output=True, text=True)
        return out.stdout.strip().split("\n")

    def worker_pids(self, pipeline):
        """The pids of a pipeline's running workers."""
        return [int(p) for p in self.psql("SELECT pid FROM bqstream.worker_stats WHERE pipeline = '%s' "
                                          "AND pid IS NOT NULL ORDER BY pid" % pipeline) if p]

    def wait_stored(self, pipeline, n, timeout):
        """Wait until a pipeline's workers have stored (inserted or
        dead-lettered) n messages; the time then (time.monotonic())."""
        deadline = time.monotonic() + timeout
        done = 0
        while time.monotonic() < deadline:
            done = int(self.psql("SELECT coalesce(sum(inserted + dead_lettered), 0) FROM bqstream.worker_stats "
                                 "WHERE pipeline = '%s'" % pipeline)[0])
            if done >= n:
                return time.monotonic()
            time.sleep(0.05)
        raise SystemExit("pipeline %s: timed out with %d of %d stored" % (pipeline, done, n))

    def create_server(self):
        opts = ["project_id 'bench-project'", "dataset 'shop'"]
        if "pubsub" in self.ports:
            opts.append("pubsub_endpoint 'http://127.0.0.1:%d'" % self.ports["pubsub"])
        if "bigquery" in self.ports:
            opts.append("bigquery_endpoint 'http://127.0.0.1:%d'" % self.ports["bigquery"])
        if self.ports.get("bigquerystorage"):
            opts.append("bigquery_storage_endpoint 'http://127.0.0.1:%d'" % self.ports["bigquerystorage"])
        self.psql("CREATE EXTENSION bqstream",
                  "CREATE SERVER bench FOREIGN DATA WRAPPER bqstream_fdw OPTIONS (%s)" % ", ".join(opts),
                  "CREATE USER MAPPING FOR CURRENT_USER SERVER bench OPTIONS (auth 'none')")

    def close(self):
        if os.path.exists(os.path.join(self.pgdata, "postmaster.pid")):
            subprocess.run(as_pg([PGBIN + "/pg_ctl", "-D", self.pgdata, "-m", "immediate", "-w", "stop"]),
                           stdout=subprocess.DEVNULL)
        if self.emulator:
            self.emulator.terminate()
            self.emulator.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)
