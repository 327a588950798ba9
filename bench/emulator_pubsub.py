#!/usr/bin/python3
"""Throughput benchmark of the emulator's Pub/Sub half (stdlib only).

Starts its own emulator (persistence on, in a temp dir) unless --url is given,
creates a topic and a subscription, then measures three phases with batches of
--batch messages whose payload is a ~150-byte JSON order (base64 on the wire):

  publish      N messages published, nothing pulled
  pull+ack     those N messages pulled and acknowledged
  combined     N more messages published while a second process pulls and
               acknowledges them; timed until the last one is acknowledged

Publisher and puller run in separate processes (multiprocessing) over
http.client keep-alive connections, so the client is not what limits the
figures. For each phase it prints messages/s and the CPU seconds the emulator
process used (from /proc/PID/stat, when the emulator is local).

Usage: /usr/bin/python3 bench/emulator_pubsub.py [-n 200000] [--batch 1000]
       [--publishers 1] [--no-data-dir] [--fsync] [--url http://127.0.0.1:8085]
       [--json]
"""

import argparse
import base64
import http.client
import json
import multiprocessing as mp
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from urllib.parse import urlsplit

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
ACK_ID = re.compile(rb'"ackId":"([^"]+)"')


def order_payload(i):
    """A ~150-byte JSON order, like the extension's generator publishes."""
    rnd = random.Random(i)
    doc = {"order_id": 10_000_000 + i, "customer_id": "C%06d" % rnd.randrange(10**6),
           "sku": "SKU-%05d" % rnd.randrange(10**5), "qty": rnd.randrange(1, 9),
           "price": "%d.%02d" % (rnd.randrange(1, 500), rnd.randrange(100)),
           "currency": "EUR", "channel": "web", "ts": "2025-01-01T12:%02d:%02d.%03dZ" % (i // 60000 % 60, i // 1000 % 60, i % 1000)}
    return json.dumps(doc, separators=(",", ":")).encode()


def publish_bodies(batch, variants=8):
    """A few distinct request bodies, reused round-robin (building JSON is the
    client's cost, not the emulator's)."""
    bodies = []
    for v in range(variants):
        msgs = [{"data": base64.b64encode(order_payload(v * batch + i)).decode()} for i in range(batch)]
        bodies.append(json.dumps({"messages": msgs}, separators=(",", ":")).encode())
    return bodies


class Client:
    def __init__(self, url):
        u = urlsplit(url)
        self.host, self.port = u.hostname, u.port
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)

    def post(self, path, body):
        for attempt in range(3):
            try:
                self.conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
                resp = self.conn.getresponse()
                data = resp.read()
                if resp.status != 200:
                    raise RuntimeError("%s -> %d %s" % (path, resp.status, data[:300]))
                return data
            except (ConnectionError, http.client.HTTPException):
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
                if attempt == 2:
                    raise

    def put(self, path, body=b""):
        self.conn.request("PUT", path, body=body, headers={"Content-Type": "application/json"})
        resp = self.conn.getresponse()
        data = resp.read()
        if resp.status not in (200, 409):
            raise RuntimeError("%s -> %d %s" % (path, resp.status, data[:300]))


def publisher(url, topic_path, batches, batch, start_evt, out_q):
    c = Client(url)
    bodies = publish_bodies(batch)
    start_evt.wait()
    t0 = time.perf_counter()
    n = 0
    for i in range(batches):
        data = c.post(topic_path + ":publish", bodies[i % len(bodies)])
        n += data.count(b",") + 1
    out_q.put(("pub", n, t0, time.perf_counter()))


def puller(url, sub_path, total, batch, start_evt, out_q):
    c = Client(url)
    pull_body = json.dumps({"maxMessages": batch, "returnImmediately": False}).encode()
    start_evt.wait()
    t0 = time.perf_counter()
    got = 0
    empty_streak = 0
    while got < total:
        data = c.post(sub_path + ":pull", pull_body)
        ids = ACK_ID.findall(data)
        if not ids:
            empty_streak += 1
            if empty_streak > 30:
                raise RuntimeError("no messages for 30 pulls; got %d of %d" % (got, total))
            continue
        empty_streak = 0
        c.post(sub_path + ":acknowledge", b'{"ackIds":["' + b'","'.join(ids) + b'"]}')
        got += len(ids)
    out_q.put(("pull", got, t0, time.perf_counter()))


def cpu_seconds(pid):
    if pid is None:
        return None
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_phase(url, topic_path, sub_path, n, batch, publishers, pull, publish, pid):
    ctx = mp.get_context("fork")
    start, q = ctx.Event(), ctx.Queue()
    procs = []
    batches = n // batch
    if publish:
        per = [batches // publishers + (1 if i < batches % publishers else 0) for i in range(publishers)]
        for b in per:
            procs.append(ctx.Process(target=publisher, args=(url, topic_path, b, batch, start, q)))
    if pull:
        procs.append(ctx.Process(target=puller, args=(url, sub_path, batches * batch, batch, start, q)))
    for p in procs:
        p.start()
    time.sleep(0.5)          # let the workers build their request bodies first
    cpu0 = cpu_seconds(pid)
    t0 = time.perf_counter()
    start.set()
    results = [q.get(timeout=600) for _ in procs]
    elapsed = max(r[3] for r in results) - t0
    cpu1 = cpu_seconds(pid)
    for p in procs:
        p.join()
        if p.exitcode:
            raise RuntimeError("worker failed with exit code %s" % p.exitcode)
    msgs = batches * batch
    return {"messages": msgs, "seconds": round(elapsed, 3), "msgs_per_s": round(msgs / elapsed),
            "emulator_cpu_s": None if cpu0 is None else round(cpu1 - cpu0, 2)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=200_000, help="messages per phase (default 200000)")
    ap.add_argument("--batch", type=int, default=1000, help="messages per publish/pull (default 1000)")
    ap.add_argument("--publishers", type=int, default=1, help="publisher processes (default 1)")
    ap.add_argument("--url", help="use a running emulator instead of starting one")
    ap.add_argument("--no-data-dir", action="store_true", help="run the emulator without persistence")
    ap.add_argument("--fsync", action="store_true", help="start the emulator with --fsync")
    ap.add_argument("--emulator-arg", action="append", default=[], help="extra emulator argument (repeatable)")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="bqstream-bench-")
    proc = None
    try:
        if args.url:
            url, pid = args.url.rstrip("/"), None
        else:
            # a puller that finds nothing gives up after 30 empty pulls: of 1 s, not Google's 90
            cmd = [PYTHON, "-m", "emulator", "--services", "pubsub", "--pubsub-port", "0",
                   "--ports-file", os.path.join(tmp, "ports.json"), "--pubsub-pull-wait-ms", "1000"]
            if not args.no_data_dir:
                cmd += ["--data-dir", os.path.join(tmp, "data")]
            if args.fsync:
                cmd.append("--fsync")
            cmd += args.emulator_arg
            proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=dict(os.environ, PYTHONPATH=REPO_ROOT),
                                    stdout=open(os.path.join(tmp, "emulator.log"), "wb"), stderr=subprocess.STDOUT)
            deadline = time.monotonic() + 20
            while not os.path.exists(os.path.join(tmp, "ports.json")):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("emulator did not start:\n" + open(os.path.join(tmp, "emulator.log")).read())
                time.sleep(0.05)
            port = json.load(open(os.path.join(tmp, "ports.json")))["pubsub"]
            url, pid = "http://127.0.0.1:%d" % port, proc.pid
        tag = "bench%d" % os.getpid()
        topic_path = "/v1/projects/bench/topics/%s" % tag
        sub_path = "/v1/projects/bench/subscriptions/%s" % tag
        c = Client(url)
        c.put(topic_path)
        c.put(sub_path, json.dumps({"topic": "projects/bench/topics/%s" % tag, "ackDeadlineSeconds": 600}).encode())

        common = (url, topic_path, sub_path, args.n, args.batch, args.publishers)
        results = {
            "publish": run_phase(*common, pull=False, publish=True, pid=pid),
            "pull+ack": run_phase(*common, pull=True, publish=False, pid=pid),
            "combined": run_phase(*common, pull=True, publish=True, pid=pid),
        }
        # the emulator's own count must match what the clients saw
        c.conn.request("GET", "/emulator/counters")
        counters = json.loads(c.conn.getresponse().read())
        expected = 2 * (args.n // args.batch) * args.batch
        if not args.url and (counters["messages_published"] != expected or counters["messages_acked"] != expected):
            raise SystemExit("counter mismatch: published %s, acked %s, expected %d"
                             % (counters["messages_published"], counters["messages_acked"], expected))
        payload_len = len(base64.b64encode(order_payload(0)))
        meta = {"n": args.n, "batch": args.batch, "publishers": args.publishers,
                "persistence": not args.no_data_dir and not args.url, "fsync": args.fsync,
                "payload_bytes": len(order_payload(0)), "base64_bytes": payload_len,
                "python": sys.version.split()[0], "cpus": os.cpu_count()}
        if args.json:
            print(json.dumps({"meta": meta, "results": results}, indent=2))
        else:
            print("Pub/Sub emulator benchmark: %(n)d messages per phase, batches of %(batch)d, payload "
                  "%(payload_bytes)d B JSON (%(base64_bytes)d B base64), persistence %(persistence)s, "
                  "fsync %(fsync)s, %(publishers)d publisher process(es), %(cpus)d CPUs" % meta)
            print("%-10s %10s %10s %14s %16s" % ("phase", "messages", "seconds", "msgs/s", "emulator CPU s"))
            for name, r in results.items():
                print("%-10s %10d %10.2f %14d %16s" % (name, r["messages"], r["seconds"], r["msgs_per_s"],
                                                     "-" if r["emulator_cpu_s"] is None else r["emulator_cpu_s"]))
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
