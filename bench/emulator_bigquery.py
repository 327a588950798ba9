#!/usr/bin/python3
"""Benchmark of the BigQuery half of the emulator: insertAll and paged query results.

Starts its own emulator (``/usr/bin/python3 -m emulator --services bigquery``) on a
free port with a temporary data dir (or ``--memory``), then with a stdlib client on
one keep-alive connection:

1. streams N orders through tabledata.insertAll in batches of 500 (rows like
   {order_id: uuid, user_id, product_id, amount, event_time RFC 3339}, each with an
   insertId, as the pipeline sends them);
2. runs ``SELECT * FROM raw_orders`` with maxResults=10000 and pages through every
   row with getQueryResults + pageToken.

Prints rows/s for each phase and the emulator's CPU seconds (from /proc/PID/stat),
so it is visible whether the emulator or the client is the bottleneck.

    /usr/bin/python3 bench/emulator_bigquery.py [--rows 200000] [--batch 500]
        [--page 10000] [--memory] [--full-parse] [--json]
"""

import argparse
import http.client
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON = '/usr/bin/python3' if os.path.exists('/usr/bin/python3') else sys.executable


def cpu_seconds(pid):
    """utime + stime of a process, in seconds."""
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    ticks = os.sysconf('SC_CLK_TCK')
    return (int(fields[11]) + int(fields[12])) / ticks


class Client:
    def __init__(self, port, full_parse=False):
        self.conn = http.client.HTTPConnection('127.0.0.1', port, timeout=120)
        self.full_parse = full_parse

    def page(self, method, path, body=None):
        """A result page -> (row count, pageToken, jobId).

        By default only the small head of the response (everything but "rows", which
        the emulator writes last) is parsed and rows are counted, so the figure is the
        emulator's serving rate rather than Python's json.loads speed; --full-parse
        decodes every page completely.
        """
        data = json.dumps(body).encode() if body is not None else None
        self.conn.request(method, '/bigquery/v2/projects/bench' + path, body=data,
                          headers={'Content-Type': 'application/json'})
        resp = self.conn.getresponse()
        raw = resp.read()
        if resp.status != 200:
            raise SystemExit('%s %s -> %d %s' % (method, path, resp.status, raw[:500]))
        if self.full_parse:
            out = json.loads(raw)
            return len(out.get('rows', [])), out.get('pageToken'), out['jobReference']['jobId']
        cut = raw.find(b',"rows":[')
        head = json.loads(raw[:cut] + b'}') if cut >= 0 else json.loads(raw)
        n = raw.count(b'{"f":[', cut) if cut >= 0 else 0
        return n, head.get('pageToken'), head['jobReference']['jobId']

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        self.conn.request(method, '/bigquery/v2/projects/bench' + path, body=data,
                          headers={'Content-Type': 'application/json'})
        resp = self.conn.getresponse()
        raw = resp.read()
        out = json.loads(raw) if raw else None
        if resp.status >= 300:
            raise SystemExit('%s %s -> %d %s' % (method, path, resp.status, raw[:500]))
        return out


def start_emulator(tmp, memory):
    ports_file = os.path.join(tmp, 'ports.json')
    cmd = [PYTHON, '-m', 'emulator', '--services', 'bigquery', '--bigquery-port', '0',
           '--ports-file', ports_file, '--log-level', 'warning']
    if not memory:
        cmd += ['--data-dir', os.path.join(tmp, 'data')]
    log = open(os.path.join(tmp, 'emulator.log'), 'wb')
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while not os.path.exists(ports_file):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit('emulator did not start:\n' + open(log.name).read())
        time.sleep(0.02)
    with open(ports_file) as f:
        return proc, json.load(f)['bigquery']


def make_rows(n, seed=1):
    rnd = random.Random(seed)
    base = 1714521600  # 2024-05-01T00:00:00Z
    rows = []
    for i in range(n):
        ts = base + rnd.randrange(0, 7 * 86400)
        rows.append({'insertId': 'ins-%d' % i, 'json': {
            'order_id': str(uuid.UUID(int=rnd.getrandbits(128), version=4)),
            'user_id': 'user-%05d' % rnd.randrange(10000),
            'product_id': 'sku-%04d' % rnd.randrange(2000),
            'amount': round(rnd.uniform(1, 500), 2),
            'event_time': time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(ts)) +
            '.%06dZ' % rnd.randrange(1000000)}})
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--rows', type=int, default=200000)
    ap.add_argument('--batch', type=int, default=500)
    ap.add_argument('--page', type=int, default=10000)
    ap.add_argument('--memory', action='store_true', help='run the emulator without a data dir')
    ap.add_argument('--json', action='store_true', help='print one JSON object of results')
    ap.add_argument('--full-parse', action='store_true',
                    help='json.loads every result page in the client (measures the client too)')
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix='bqstream-bench-bq-')
    proc = None
    try:
        proc, port = start_emulator(tmp, args.memory)
        c = Client(port, args.full_parse)
        c.call('POST', '/datasets', {'datasetReference': {'projectId': 'bench',
                                                          'datasetId': 'shop'}})
        c.call('POST', '/datasets/shop/tables', {
            'tableReference': {'projectId': 'bench', 'datasetId': 'shop', 'tableId': 'raw_orders'},
            'schema': {'fields': [
                {'name': 'order_id', 'type': 'STRING', 'mode': 'REQUIRED'},
                {'name': 'user_id', 'type': 'STRING'},
                {'name': 'product_id', 'type': 'STRING'},
                {'name': 'amount', 'type': 'FLOAT64'},
                {'name': 'event_time', 'type': 'TIMESTAMP', 'mode': 'REQUIRED'}]},
            'timePartitioning': {'type': 'DAY', 'field': 'event_time'},
            'clustering': {'fields': ['user_id']}})
        rows = make_rows(args.rows)
        # serialize outside the timed loop: the client's JSON cost is not the emulator's
        bodies = [json.dumps({'rows': rows[i:i + args.batch]}).encode()
                  for i in range(0, len(rows), args.batch)]

        cpu0, t0 = cpu_seconds(proc.pid), time.perf_counter()
        for body in bodies:
            c.conn.request('POST', '/bigquery/v2/projects/bench/datasets/shop/tables/raw_orders/'
                           'insertAll', body=body, headers={'Content-Type': 'application/json'})
            resp = c.conn.getresponse()
            data = resp.read()
            if resp.status != 200 or b'insertErrors' in data:
                raise SystemExit('insertAll failed: %d %s' % (resp.status, data[:300]))
        t_ins = time.perf_counter() - t0
        cpu_ins = cpu_seconds(proc.pid) - cpu0

        cpu0, t0 = cpu_seconds(proc.pid), time.perf_counter()
        got, token, job = c.page('POST', '/queries', {
            'query': 'SELECT * FROM shop.raw_orders', 'useLegacySql': False,
            'maxResults': args.page, 'useQueryCache': False,
            'formatOptions': {'useInt64Timestamp': True}})
        pages = 1
        while token:
            n, token, _ = c.page('GET', '/queries/%s?maxResults=%d&pageToken=%s'
                                 '&formatOptions.useInt64Timestamp=true' % (job, args.page, token))
            got += n
            pages += 1
        t_q = time.perf_counter() - t0
        cpu_q = cpu_seconds(proc.pid) - cpu0
        if got != args.rows:
            raise SystemExit('query returned %d rows, expected %d' % (got, args.rows))

        res = {'rows': args.rows, 'batch': args.batch, 'page_rows': args.page,
               'storage': 'memory' if args.memory else 'data dir (sqlite WAL)',
               'insert_rows_per_s': round(args.rows / t_ins),
               'insert_seconds': round(t_ins, 3), 'insert_emulator_cpu_s': round(cpu_ins, 3),
               'query_rows_per_s': round(got / t_q), 'query_seconds': round(t_q, 3),
               'query_pages': pages, 'query_emulator_cpu_s': round(cpu_q, 3)}
        if args.json:
            print(json.dumps(res))
        else:
            print('BigQuery emulator benchmark (%s, %d rows)' % (res['storage'], args.rows))
            print('  insertAll, %d rows/request : %8d rows/s  (%.2f s wall, emulator CPU %.2f s)'
                  % (args.batch, res['insert_rows_per_s'], t_ins, cpu_ins))
            print('  SELECT * paged by %-6d   : %8d rows/s  (%.2f s wall, %d pages, emulator '
                  'CPU %.2f s)' % (args.page, res['query_rows_per_s'], t_q, pages, cpu_q))
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    main()
