"""Test helpers: run the emulator as a subprocess and talk to it.

`EmulatorProcess(services=('pubsub',), extra_args=[])` starts
`/usr/bin/python3 -m emulator` from the repository root on free ports, with a
temporary data directory (pass `data_dir=None` for in-memory state), waits
until it answers /emulator/health, and can `kill()` (SIGKILL), `terminate()`
(SIGTERM, returns the exit code) and `restart()` it on the same data dir (and,
when still free, the same ports). `.pubsub_url` / `.bigquery_url` give the base
URLs; `.call()` sends one JSON request. Safe to run as a non-root user and in
parallel with other instances: every path is a fresh temp dir and every port
is chosen by the kernel.

Use it as a context manager, or call `stop()` (tearDown/tearDownClass).
"""

import gzip
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
START_TIMEOUT = 20.0
GRPC_SERVICES = ("bigquerystorage",)


class EmulatorError(Exception):
    pass


class EmulatorProcess:
    def __init__(self, services=("pubsub",), extra_args=(), data_dir=True, log_level="info", start=True):
        self.services = tuple(services)
        self.extra_args = list(extra_args)
        self.log_level = log_level
        self.tmp = tempfile.mkdtemp(prefix="bqstream-emu-")
        if data_dir is True:
            self.data_dir = os.path.join(self.tmp, "data")
        else:
            self.data_dir = data_dir
        self.ports_file = os.path.join(self.tmp, "ports.json")
        self.log_path = os.path.join(self.tmp, "emulator.log")
        self.proc = None
        self.ports = {}
        if start:
            self.start()

    # ---------------------------------------------------------------- lifecycle
    def command(self, ports=None):
        cmd = [PYTHON, "-m", "emulator", "--services", ",".join(self.services), "--host", "127.0.0.1",
               "--ports-file", self.ports_file, "--log-level", self.log_level]
        for name in self.services:
            cmd += ["--%s-port" % name, str((ports or {}).get(name, 0))]
        if self.data_dir:
            cmd += ["--data-dir", self.data_dir]
        return cmd + self.extra_args

    def start(self, ports=None):
        if self.running:
            raise EmulatorError("already running")
        try:
            os.unlink(self.ports_file)
        except FileNotFoundError:
            pass
        env = dict(os.environ)
        env["PYTHONPATH"] = REPO_ROOT
        env.pop("PYTHONSTARTUP", None)
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(self.command(ports), cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT)
        finally:
            log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while not os.path.exists(self.ports_file):
            if self.proc.poll() is not None:
                raise EmulatorError("emulator exited with %s before listening:\n%s" % (self.proc.returncode, self.log()))
            if time.monotonic() > deadline:
                self.kill()
                raise EmulatorError("emulator did not start within %.0fs:\n%s" % (START_TIMEOUT, self.log()))
            time.sleep(0.02)
        with open(self.ports_file) as f:
            self.ports = json.load(f)
        for name in self.services:
            if name in GRPC_SERVICES:
                # no HTTP on a gRPC port: its control endpoints are on the others'
                http_port = next((n for n in self.services if n not in GRPC_SERVICES), None)
                if http_port is None:
                    continue
                status, body = self.call("GET", "/emulator/%s/health" % name, service=http_port)
            else:
                status, body = self.call("GET", "/emulator/health", service=name)
            if status != 200 or body != {"ok": True}:
                raise EmulatorError("health check of %s failed: %s %r" % (name, status, body))
        return self

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def kill(self):
        """SIGKILL: no chance to flush anything."""
        if self.running:
            self.proc.send_signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(timeout=10)
        return self.proc.returncode if self.proc else None

    def terminate(self, sig=signal.SIGTERM, timeout=15):
        """Send SIGTERM (or `sig`) and return the exit code."""
        if self.running:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            raise EmulatorError("emulator ignored signal %s for %ss" % (sig, timeout))

    def restart(self, hard=False, same_ports=True):
        """Stop (SIGKILL when hard, else SIGTERM) and start again on the same
        data dir; on the same ports when they are still free."""
        old = dict(self.ports)
        if self.running:
            self.kill() if hard else self.terminate()
        if same_ports and old:
            try:
                return self.start(ports=old)
            except EmulatorError:
                if self.running:
                    self.kill()
        return self.start()

    def stop(self):
        if self.proc is not None and self.running:
            try:
                self.terminate(timeout=5)
            except EmulatorError:
                pass
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    # ---------------------------------------------------------------- requests
    def url(self, service="pubsub"):
        return "http://127.0.0.1:%d" % self.ports[service]

    @property
    def pubsub_url(self):
        return self.url("pubsub")

    @property
    def bigquery_url(self):
        return self.url("bigquery")

    def connection(self, service="pubsub", timeout=30):
        return http.client.HTTPConnection("127.0.0.1", self.ports[service], timeout=timeout)

    def call(self, method, path, body=None, service="pubsub", headers=None, timeout=30, raw=False):
        """One request on a fresh connection. `body` may be a dict (sent as
        JSON), bytes or None. Returns (status, parsed JSON or text), or
        (status, headers, bytes) when raw=True."""
        return request(self.connection(service, timeout), method, path, body, headers, raw)


def request(conn, method, path, body=None, headers=None, raw=False, close=True):
    """Send one request on an http.client connection (kept open when close=False)."""
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    try:
        conn.request(method, path, body=body, headers=h)
        resp = conn.getresponse()
        data = resp.read()
        if raw:
            return resp.status, resp.headers, data
        if resp.headers.get("Content-Encoding") == "gzip":
            data = gzip.decompress(data)
        text = data.decode("utf-8", "replace")
        try:
            return resp.status, json.loads(text) if text else None
        except ValueError:
            return resp.status, text
    finally:
        if close:
            conn.close()


# -------------------------------------------------------------------- test base
import itertools as _itertools  # noqa: E402
import unittest as _unittest  # noqa: E402

_unique = _itertools.count(1)


class EmulatorTestCase(_unittest.TestCase):
    """One emulator per test class (started in setUpClass). Subclasses set
    `services`, `extra_args`, `data_dir` (True: temp dir, None: in memory)."""

    services = ("pubsub",)
    extra_args = ()
    data_dir = None
    emu = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.emu = EmulatorProcess(services=cls.services, extra_args=list(cls.extra_args), data_dir=cls.data_dir)

    @classmethod
    def tearDownClass(cls):
        if cls.emu is not None:
            cls.emu.stop()
        super().tearDownClass()

    def call(self, method, path, body=None, **kw):
        return self.emu.call(method, path, body, **kw)

    @staticmethod
    def unique(prefix="res"):
        return "%s-%d-%d" % (prefix, os.getpid(), next(_unique))

    def assertApiError(self, resp, code, status, message=None):
        """resp is (http status, body); checks Google's error shape."""
        got_code, body = resp
        self.assertEqual(got_code, code, body)
        self.assertIsInstance(body, dict, body)
        err = body.get("error")
        self.assertIsInstance(err, dict, body)
        self.assertEqual(err.get("code"), code, body)
        self.assertEqual(err.get("status"), status, body)
        self.assertIsInstance(err.get("message"), str, body)
        if message is not None:
            self.assertEqual(err["message"], message)
        return err


class PubSubTestCase(EmulatorTestCase):
    """EmulatorTestCase plus short-hands for the Pub/Sub REST API (project "p")."""

    project = "p"

    def topic_path(self, tid):
        return "/v1/projects/%s/topics/%s" % (self.project, tid)

    def sub_path(self, sid):
        return "/v1/projects/%s/subscriptions/%s" % (self.project, sid)

    def new_topic(self, prefix="topic"):
        tid = self.unique(prefix)
        status, body = self.call("PUT", self.topic_path(tid))
        self.assertEqual(status, 200, body)
        return tid

    def new_sub(self, tid, prefix="sub", **fields):
        sid = self.unique(prefix)
        fields.setdefault("topic", "projects/%s/topics/%s" % (self.project, tid))
        status, body = self.call("PUT", self.sub_path(sid), fields)
        self.assertEqual(status, 200, body)
        return sid

    def publish(self, tid, *datas, attributes=None, ordering_key=None):
        """Publish text payloads; returns the message IDs."""
        import base64
        msgs = []
        for d in datas:
            m = {"data": base64.b64encode(d.encode() if isinstance(d, str) else d).decode()}
            if attributes:
                m["attributes"] = attributes
            if ordering_key:
                m["orderingKey"] = ordering_key
            msgs.append(m)
        status, body = self.call("POST", self.topic_path(tid) + ":publish", {"messages": msgs})
        self.assertEqual(status, 200, body)
        return body["messageIds"]

    def pull(self, sid, n=1000, immediately=True):
        status, body = self.call("POST", self.sub_path(sid) + ":pull",
                                 {"maxMessages": n, "returnImmediately": immediately})
        self.assertEqual(status, 200, body)
        return body.get("receivedMessages", [])

    def pull_all(self, sid, expect, timeout=10.0):
        """Pull until `expect` messages were received (or timeout)."""
        got = []
        deadline = time.monotonic() + timeout
        while len(got) < expect and time.monotonic() < deadline:
            got.extend(self.pull(sid, immediately=False))
        return got

    def ack(self, sid, ack_ids):
        return self.call("POST", self.sub_path(sid) + ":acknowledge", {"ackIds": list(ack_ids)})

    def modack(self, sid, ack_ids, seconds):
        return self.call("POST", self.sub_path(sid) + ":modifyAckDeadline",
                         {"ackIds": list(ack_ids), "ackDeadlineSeconds": seconds})

    @staticmethod
    def texts(received):
        import base64
        return [base64.b64decode(r["message"].get("data", "")).decode() for r in received]
