"""Plumbing of the BigQuery reference suite: Google's tools, an emulator
behind a recording proxy, the `bq` CLI, and the check of recorded traffic
against the discovery document.

Google's tools come from the Google Cloud CLI's Debian package
(google-cloud-cli): the SDK root is $BQSTREAM_GCLOUD_SDK_ROOT or
/usr/lib/google-cloud-sdk; `bq` runs with the SDK's bundled Python. Without
them `require_google_tools()` raises NotRun, which the suite reports as a
failure saying plainly that it did not run (never as a skip or a pass).
"""

import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import urllib.request

from test.emulator.helpers import EmulatorProcess

from .discovery import DISCOVERY_RELPATH, Discovery, check_rows, sdk_root  # noqa: F401
from .recorder import RecordingProxy

BQ_PY = "platform/bq/bq.py"
BQ_PYTHON = "platform/bundledpythonunix/bin/python3"
PROJECT = "ref-project"
BQ_TIMEOUT = 120


class NotRun(Exception):
    """Google's tools are missing: the suite did NOT run."""


def google_tools():
    """(bundled python, bq.py, discovery document) of the installed SDK."""
    root = sdk_root()
    paths = (os.path.join(root, BQ_PYTHON), os.path.join(root, BQ_PY),
             os.path.join(root, DISCOVERY_RELPATH))
    return paths


def require_google_tools():
    missing = [p for p in google_tools() if not os.path.exists(p)]
    if missing:
        raise NotRun("the BigQuery reference suite did NOT run: Google's tools are missing (%s); "
                     "install the Debian package google-cloud-cli from Google's apt repository "
                     "(scripts/install-deps.sh does where it is configured)" % ", ".join(missing))
    return google_tools()


_discovery = None
_discovery_lock = threading.Lock()


def discovery():
    global _discovery
    with _discovery_lock:
        if _discovery is None:
            require_google_tools()
            _discovery = Discovery()
        return _discovery


def check_exchanges(exchanges):
    """Problems of recorded exchanges against the discovery document, as
    strings "<client> <method id> <METHOD path>: <problem>", and the set of
    method ids seen. Control calls (/emulator/…) are not API traffic."""
    d = discovery()
    problems, seen = [], set()
    for ex in exchanges:
        if ex["path"].startswith("/emulator/"):
            continue
        m, probs = d.check_exchange(ex)
        if m is not None:
            seen.add(m.id)
        for p in probs:
            problems.append("%s %s %s %s: %s" % (client_of(ex), m.id if m else "?", ex["method"],
                                                 ex["path"] + ("?" + ex["query"] if ex["query"] else ""),
                                                 p))
    return problems, seen


def client_of(ex):
    ua = ex.get("user_agent") or ""
    if ua.startswith("bqstream/"):
        return "bqstream"
    if "reference-suite" in ua:
        return "suite"
    if "bq/" in ua or "google-api-python-client" in ua or "BigQuery" in ua or "bq" in ua:
        return "bq-cli"
    return "suite"


class Stack:
    """An emulator (in its own temp dir, free ports) with a recording proxy
    in front of its BigQuery port. The Storage APIs (gRPC, service
    bigquerystorage) run beside it unrecorded: the discovery document
    describes the REST API only."""

    def __init__(self, services=("bigquery", "bigquerystorage"), extra_args=()):
        self.emulator = EmulatorProcess(services=services, extra_args=list(extra_args),
                                        data_dir=None)
        try:
            # BQSTREAM_BQREF_TRAFFIC=FILE: every exchange also appended there (JSON lines)
            self.proxy = RecordingProxy("127.0.0.1", self.emulator.ports["bigquery"],
                                        log_path=os.environ.get("BQSTREAM_BQREF_TRAFFIC")).start()
        except BaseException:
            self.emulator.stop()
            raise

    @property
    def bigquery_url(self):
        """The proxy: what clients under test are pointed at."""
        return self.proxy.url

    @property
    def storage_url(self):
        """The Storage APIs' h2c endpoint (bigquery_storage_endpoint), or None."""
        port = self.emulator.ports.get("bigquerystorage")
        return "http://127.0.0.1:%d" % port if port else None

    @property
    def direct_url(self):
        return "http://127.0.0.1:%d" % self.emulator.ports["bigquery"]

    def call(self, method, path, body=None, direct=False, timeout=60):
        """One JSON request (through the proxy unless direct): (status, parsed body)."""
        url = (self.direct_url if direct else self.bigquery_url) + path
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json",
                                              "User-Agent": "bqstream-reference-suite"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                raw = r.read()
                return r.status, (json.loads(raw) if raw else None)
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw)
            except ValueError:
                return e.code, raw.decode("utf-8", "replace")

    def faults(self, config):
        return self.call("POST", "/emulator/faults", config, direct=True)

    def stop(self):
        try:
            self.proxy.stop()
        finally:
            self.emulator.stop()


class BqCli:
    """Google's `bq` CLI pointed at an endpoint, with a scratch config."""

    def __init__(self, api_url, project=PROJECT):
        self.python, self.bq_py, self.discovery_file = require_google_tools()
        self.api_url = api_url
        self.project = project
        self.home = tempfile.mkdtemp(prefix="bqstream-bqcli-")
        os.makedirs(os.path.join(self.home, "gcloud"))
        # no ~/.bigqueryrc flags, no gcloud configuration, no credentials
        open(os.path.join(self.home, ".bigqueryrc"), "w").close()

    def run(self, *args, global_flags=(), stdin=None, timeout=BQ_TIMEOUT):
        """Run `bq GLOBAL_FLAGS ARGS`; (exit status, stdout, stderr)."""
        cmd = [self.python, self.bq_py, "--api=%s" % self.api_url, "--project_id=%s" % self.project,
               "--oauth_access_token=reference-suite", "--headless",
               "--bigqueryrc=%s" % os.path.join(self.home, ".bigqueryrc"),
               "--discovery_file=%s" % self.discovery_file] + list(global_flags) + list(args)
        env = {"PATH": "/usr/bin:/bin", "HOME": self.home, "LANG": "C.UTF-8",
               "CLOUDSDK_CONFIG": os.path.join(self.home, "gcloud"),
               "CLOUDSDK_CORE_DISABLE_PROMPTS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
        p = subprocess.run(cmd, input=stdin, capture_output=True, text=True, env=env,
                           cwd=self.home, timeout=timeout)
        return p.returncode, p.stdout, p.stderr

    def close(self):
        shutil.rmtree(self.home, ignore_errors=True)


def squash(text):
    """Text without whitespace: bq wraps its messages at 80 columns."""
    return re.sub(r"\s+", "", text)


class Postgres:
    """A throwaway PostgreSQL 15 (the one whose pg_config is first in PATH)
    with bqstream preloaded, in a temp dir; as root it runs as the postgres
    OS user (initdb refuses root). The extension must be installed (scripts/
    test.sh does it before the suites)."""

    def __init__(self, conf=""):
        self.bindir = subprocess.run(["pg_config", "--bindir"], capture_output=True,
                                     text=True).stdout.strip() or "/usr/lib/postgresql/15/bin"
        sharedir = subprocess.run(["pg_config", "--sharedir"], capture_output=True,
                                  text=True).stdout.strip()
        if not os.path.exists(os.path.join(sharedir, "extension", "bqstream.control")):
            raise NotRun("the BigQuery reference suite's C-client part did NOT run: the bqstream "
                         "extension is not installed in %s (scripts/test.sh installs it)" % sharedir)
        self.tmp = tempfile.mkdtemp(prefix="bqstream-bqref-pg-")
        self.root = os.geteuid() == 0
        if self.root:
            import pwd
            pg = pwd.getpwnam("postgres")
            os.chown(self.tmp, pg.pw_uid, pg.pw_gid)
        self.pgdata = os.path.join(self.tmp, "pgdata")
        self.log = os.path.join(self.tmp, "postgres.log")
        with socket_closing() as s:
            self.port = s
        self._run([self.bindir + "/initdb", "-D", self.pgdata, "-A", "trust", "-U", "postgres",
                   "--no-sync"])
        with open(os.path.join(self.pgdata, "postgresql.conf"), "a") as f:
            f.write("listen_addresses = ''\nunix_socket_directories = '%s'\nport = %d\n"
                    "shared_preload_libraries = 'bqstream'\nbqstream.launcher_naptime = 200\n"
                    "fsync = off\ntimezone = 'UTC'\n%s\n" % (self.tmp, self.port, conf))
        self._run([self.bindir + "/pg_ctl", "-D", self.pgdata, "-l", self.log, "-w", "start"])

    def _as_pg(self, cmd):
        return (["runuser", "-u", "postgres", "--"] + cmd) if self.root else cmd

    def _run(self, cmd):
        p = subprocess.run(self._as_pg(cmd), capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError("%s failed: %s %s" % (cmd[0], p.stdout, p.stderr))

    def psql(self, sql, check=True, timeout=300):
        """Run SQL in one session (-A -t); (exit status, stdout, stderr)."""
        cmd = [self.bindir + "/psql", "-X", "-A", "-t", "-q", "-h", self.tmp, "-p", str(self.port),
               "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1"]
        p = subprocess.run(self._as_pg(cmd), input=sql, capture_output=True, text=True,
                           timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError("psql failed (%d): %s\n%s" % (p.returncode, p.stderr, sql))
        return p.returncode, p.stdout.strip(), p.stderr.strip()

    def query(self, sql):
        return self.psql(sql)[1]

    def stop(self):
        if os.path.exists(os.path.join(self.pgdata, "postmaster.pid")):
            subprocess.run(self._as_pg([self.bindir + "/pg_ctl", "-D", self.pgdata, "-m",
                                        "immediate", "-w", "stop"]), capture_output=True)
        shutil.rmtree(self.tmp, ignore_errors=True)


class socket_closing:
    """A free TCP port number (the socket is closed on exit)."""

    def __enter__(self):
        import socket
        self.s = socket.socket()
        self.s.bind(("127.0.0.1", 0))
        return self.s.getsockname()[1]

    def __exit__(self, *exc):
        self.s.close()
