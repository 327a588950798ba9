#!/usr/bin/env python3
"""Write the seed corpus of every fuzz target into fuzz/corpus/<target>/.

Seeds are small realistic inputs: bodies the local emulator really answers
(captured live: the emulator is started on free ports for the purpose), the
shapes Google's services document, and hand-made edge cases.  Files named
regress-* are reproducers of bugs the fuzzers found: they are written here
too, so that a fixed bug stays fixed.

Usage (from anywhere):  python3 fuzz/make_corpus.py [--no-emulator]

Service-account keys for the sa_key target are throwaway RSA keys made with
the openssl command line when missing (corpus/sa_key/*.pem is kept so that
seeds stay stable); they protect nothing.
"""

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CORPUS = os.path.join(HERE, 'corpus')
TARGETS = ['jsonscan', 'pubsub_pull', 'validate', 'bq_page', 'error_body', 'sa_key', 'identifier']


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode('utf-8')
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)
    # every JSON text is also a seed of the scanner itself
    if target in ('pubsub_pull', 'validate', 'error_body') and not name.startswith('regress-'):
        os.makedirs(os.path.join(CORPUS, 'jsonscan'), exist_ok=True)
        body = data[2:] if target == 'error_body' else data
        with open(os.path.join(CORPUS, 'jsonscan', target + '-' + name), 'wb') as f:
            f.write(body)


def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


ORDER = {"order_id": "5f0c6d8e-2a47-4c1b-9a53-0d3e1f2b7c91", "user_id": "u00042",
         "product_id": "p0007", "amount": 23.5, "event_time": "2024-05-01T11:59:58.123456Z"}
ORDER_TEXT = json.dumps(ORDER, separators=(',', ':'))

# the generator's malformed kinds (src/generator/orders.c), and more
PAYLOADS = {
    'valid': ORDER_TEXT,
    'valid-offset': ORDER_TEXT.replace('Z"', '+02:00"'),
    'valid-space-t': ORDER_TEXT.replace('T11', ' 11'),
    'valid-nanos': ORDER_TEXT.replace('.123456Z', '.123456789Z'),
    'valid-nulls-first': '{"order_id":"o","user_id":"u","product_id":"p","amount":0,"event_time":"2024-05-01T11:00:00Z"}',
    'truncated': ORDER_TEXT[:len(ORDER_TEXT) // 2],
    'missing-field': ORDER_TEXT.replace(',"amount":23.5', ''),
    'amount-not-number': ORDER_TEXT.replace('23.5', '"a lot"'),
    'order-id-not-string': ORDER_TEXT.replace('"5f0c6d8e-2a47-4c1b-9a53-0d3e1f2b7c91"', '3735928559'),
    'negative-amount': ORDER_TEXT.replace('23.5', '-23.5'),
    'far-future': ORDER_TEXT.replace('2024-05-01', '2031-05-01'),
    'bad-timestamp': ORDER_TEXT.replace('"2024-05-01T11:59:58.123456Z"', '"yesterday at noon"'),
    'empty-object': '{}',
    'not-object': '["5f0c6d8e","u00042","p0007",23.5,"2024-05-01T11:59:58Z"]',
    'unknown-field': ORDER_TEXT[:-1] + ',"coupon":"SPRING"}',
    'escaped-key': ORDER_TEXT.replace('"user_id"', '"user\\u005fid"'),
    'twice': ORDER_TEXT[:-1] + ',"amount":1}',
    'nested': ORDER_TEXT.replace('"p0007"', '{"id":"p0007"}'),
    'huge-amount': ORDER_TEXT.replace('23.5', '1e400'),
    'long-id': ORDER_TEXT.replace('u00042', 'u' * 200),
    'unicode': ORDER_TEXT.replace('u00042', 'us\\u00e9r-\u00e9\U0001f600'),
    'leap-day': ORDER_TEXT.replace('2024-05-01', '2024-02-29'),
    'bad-leap-day': ORDER_TEXT.replace('2024-05-01', '2023-02-29'),
}


def pull_body(msgs):
    parts = []
    for i, (payload, extra) in enumerate(msgs):
        m = {"data": b64(payload), "messageId": str(1000 + i), "publishTime": "2024-05-01T12:00:00.5Z"}
        m.update(extra)
        parts.append({"ackId": "projects/fuzz/subscriptions/orders-sub:%d" % i, "message": m,
                      "deliveryAttempt": 1 + i % 3})
    return json.dumps({"receivedMessages": parts})


def static_seeds():
    # -- validate
    for name, p in PAYLOADS.items():
        put('validate', name, p)

    # -- pubsub_pull (Google's documented shape; the emulator's come below)
    put('pubsub_pull', 'empty', '{}')
    put('pubsub_pull', 'empty-list', '{"receivedMessages":[]}')
    put('pubsub_pull', 'orders', pull_body([(p, {}) for p in list(PAYLOADS.values())[:6]]))
    put('pubsub_pull', 'attributes', pull_body([(ORDER_TEXT, {"attributes": {"source": "web", "v": "2"},
                                                              "orderingKey": "u00042"})]))
    put('pubsub_pull', 'no-data', '{"receivedMessages":[{"ackId":"a1","message":{"messageId":"1",'
                                  '"publishTime":"2024-05-01T12:00:00Z"}}]}')
    put('pubsub_pull', 'bad-base64', '{"receivedMessages":[{"ackId":"a1","message":{"data":"not base64!",'
                                     '"messageId":"1"}}]}')
    put('pubsub_pull', 'escaped-ids', '{"receivedMessages":[{"ackId":"a\\"1\\\\\\u00e9","message":{"data":"%s",'
                                      '"messageId":"m\\n1"},"deliveryAttempt":5}]}' % b64(ORDER_TEXT))
    put('pubsub_pull', 'pretty', json.dumps(json.loads(pull_body([(ORDER_TEXT, {})])), indent=2))

    # -- bq_page: header line of column letters, then the jobs.query answer
    def page(letters, fields, rows, **kw):
        doc = {"kind": "bigquery#queryResponse",
               "schema": {"fields": fields},
               "jobReference": {"projectId": "fuzz-project", "jobId": "job_Ab3", "location": "US"},
               "totalRows": str(len(rows)), "rows": rows, "totalBytesProcessed": "1234",
               "jobComplete": True, "cacheHit": False}
        doc.update(kw)
        return letters + '\n' + json.dumps(doc)

    def f(name, t, mode='NULLABLE'):
        return {"name": name, "type": t, "mode": mode}

    def row(*cells):
        return {"f": [{"v": c} for c in cells]}

    put('bq_page', 'raw-orders', page('tttnz', [f('order_id', 'STRING', 'REQUIRED'), f('user_id', 'STRING'),
                                               f('product_id', 'STRING'), f('amount', 'FLOAT64'),
                                               f('event_time', 'TIMESTAMP')],
                                      [row('o1', 'u1', 'p1', '23.5', '1714564798123456'),
                                       row('o2', 'u\u00e9', 'p\\2', '1e3', '-62135596800000000'),
                                       row('o3', None, None, None, None)]))
    put('bq_page', 'types', page('ifbdyjs', [f('i', 'INT64'), f('f', 'FLOAT64'), f('b', 'BOOL'), f('d', 'DATE'),
                                              f('y', 'BYTES'), f('j', 'JSON'), f('s', 'DATETIME')],
                                 [row('-9223372036854775808', 'NaN', 'true', '2024-02-29', 'AAEC/w==',
                                      '{"a":[1,2]}', '2024-05-01T12:00:00.000001'),
                                  row('42', '-Infinity', 'false', '0001-01-01', '', 'null', '9999-12-31 23:59:59')]))
    put('bq_page', 'repeated', page('TIZ', [f('tags', 'STRING', 'REPEATED'), f('ids', 'INT64', 'REPEATED'),
                                             f('ts', 'TIMESTAMP', 'REPEATED')],
                                    [{"f": [{"v": [{"v": "a"}, {"v": "b"}]}, {"v": [{"v": "1"}]}, {"v": []}]},
                                     {"f": [{"v": []}, {"v": []}, {"v": [{"v": "0"}]}]}]))
    put('bq_page', 'aggregate', page('in', [f('f0_', 'INT64'), f('f1_', 'NUMERIC')],
                                     [row('3', '123456789012345678901234567890.123456789')]))
    put('bq_page', 'count-star', page('', [f('f0_', 'INT64')], [row('1'), row('1')]))
    put('bq_page', 'incomplete', 't\n{"kind":"bigquery#queryResponse","jobReference":{"projectId":"p",'
                                 '"jobId":"job_1","location":"EU"},"jobComplete":false}')
    put('bq_page', 'paged', page('t', [f('a', 'STRING')], [row('x')], pageToken='BFK2Q3MZ=='))
    put('bq_page', 'empty', page('t', [f('a', 'STRING')], []))

    # -- error_body: byte 0 status index, byte 1 service/level, then the body
    statuses = [400, 401, 403, 404, 409, 429, 500, 502, 503, 504, 0, 200, 301, 418, 499, 501]

    def err(status, body, flags=1):
        return bytes([statuses.index(status), flags]) + body.encode()

    put('error_body', 'google-400', err(400, json.dumps({"error": {"code": 400, "message": "Invalid resource name given (name=projects/p/topics/-bad).", "status": "INVALID_ARGUMENT"}})))
    put('error_body', 'bigquery-404', err(404, json.dumps({"error": {"code": 404, "message": "Not found: Table fuzz-project:bqstream.raw_orders", "errors": [{"message": "Not found: Table fuzz-project:bqstream.raw_orders", "domain": "global", "reason": "notFound"}], "status": "NOT_FOUND"}})))
    put('error_body', 'quota-403', err(403, json.dumps({"error": {"code": 403, "message": "Quota exceeded", "errors": [{"reason": "quotaExceeded", "domain": "usageLimits"}], "status": "PERMISSION_DENIED"}}), 0))
    put('error_body', 'details', err(429, json.dumps({"error": {"code": 429, "message": "Resource has been exhausted (e.g. check quota).", "status": "RESOURCE_EXHAUSTED", "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "RATE_LIMIT_EXCEEDED", "metadata": {"quota_limit": "x"}}]}})))
    put('error_body', 'oauth', err(401, json.dumps({"error": "invalid_grant", "error_description": "Invalid JWT Signature."})))
    put('error_body', 'html-502', err(502, '<!DOCTYPE html>\n<html lang=en><title>Error 502 (Server Error)!!1</title>\n<p>The server encountered a temporary error.</p>'))
    put('error_body', 'empty-503', err(503, ''))
    put('error_body', 'no-answer', err(0, '', 3))
    put('error_body', 'long-message', err(400, json.dumps({"error": {"code": 400, "message": "x\u00e9" * 400, "status": "INVALID_ARGUMENT"}})))
    put('error_body', 'log-level', err(500, json.dumps({"error": {"code": 500, "message": "Internal error. Please try again.", "status": "INTERNAL"}}), 2))

    # -- identifier
    for i, name in enumerate(['order_id', 'fuzz-project.bqstream.raw_orders', 'domain.com:proj.ds.t',
                              'f0_', 'SELECT', 'a`b', 'a\\b', 'a\nb', 'caf\u00e9', '']):
        put('identifier', 'name-%d' % i, name)


# query_check: "query" options, valid ones with every literal and comment
# form, and the attacks on the "( ... ) AS q" a query is sent in
QUERIES = {
    'select': 'SELECT product_id, amount FROM shop.raw_orders WHERE amount > 10 ORDER BY 2 LIMIT 5',
    'with': 'WITH t AS (SELECT 1 AS a) SELECT a FROM t',
    'parenthesized-union': '((SELECT 1 AS a) UNION ALL (SELECT 2))',
    'comments': '-- orders\nselect 1 /* ; ) */ AS a # ; )\r\n, 2 AS b -- ;\n',
    'literals': ("SELECT 'a;b', \"c)\", '''x''y;\n''', \"\"\"a\"\"b)\"\"\", r'\\d', R\"\\\"\", b'\\x00', "
                 "B\"\\\"\", rb'\\'', bR\"x\", Rb'''a''', Br\"\"\"\\\"\"\"\", `a;)`, `a\\`b`, 'it\\'s', "
                 "'\\\\', xr'\\''"),
    'crlf-escape': "SELECT 'a\\\r\nb', '''c\\\r\n'''",
    'unicode': 'SELECT \'\u00e9;\' AS `\u00e9`,\u00a0\u3000 1 # \u00e9\n',
    'attack-close-paren': 'SELECT 1 AS a) AS q; DROP TABLE shop.raw_orders; SELECT * FROM (SELECT 1',
    'attack-second-statement': 'SELECT 1 AS a; DROP TABLE shop.raw_orders',
    'attack-final-semicolon': 'SELECT 1 AS a ; -- end',
    'attack-cr-ends-comment': 'SELECT 1 -- x\r; DROP TABLE t\n',
    'attack-comments-do-not-nest': 'SELECT 1 /* /* */ ; DROP TABLE t */',
    'attack-raw-escape': "SELECT r'\\'; DROP TABLE t; --'",
    'attack-raw-backslashes': "SELECT r'\\\\'; DROP TABLE t; --'",
    'attack-triple': "SELECT '''a'' ''') ; --'''",
    'attack-open-backquote': 'SELECT `a) AS q; DROP TABLE t; --',
    'attack-line-comment-at-end': 'SELECT (1 -- ) AS q',
    'attack-script': 'BEGIN SELECT 1; END',
    'attack-execute': "EXECUTE IMMEDIATE 'DROP TABLE t'",
    'attack-newline-in-string': "SELECT 'a\n; DROP TABLE t; --'",
}


def query_check_seeds():
    for name, text in QUERIES.items():
        put('query_check', name, text)

def sa_key_seeds():
    d = os.path.join(CORPUS, 'sa_key')
    os.makedirs(d, exist_ok=True)
    if os.path.exists(os.path.join(d, 'key-json')):
        return  # made once: new random keys would only churn the seeds
    tmp = tempfile.mkdtemp(prefix='bqfuzz-keys-')
    keys = {}

    def genpkey(path, *opts):
        subprocess.run(['openssl', 'genpkey'] + list(opts) + ['-out', path], check=True,
                       stderr=subprocess.DEVNULL)
        return open(path).read()

    try:
        for bits in (1024, 2048):
            keys[bits] = genpkey(os.path.join(tmp, 'rsa%d.pem' % bits), '-algorithm', 'RSA',
                                 '-pkeyopt', 'rsa_keygen_bits:%d' % bits)
        keys['ec'] = genpkey(os.path.join(tmp, 'ec.pem'), '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256')
        enc = os.path.join(tmp, 'encrypted.pem')
        subprocess.run(['openssl', 'pkcs8', '-topk8', '-in', os.path.join(tmp, 'rsa1024.pem'), '-out', enc,
                        '-passout', 'pass:fuzz', '-v2', 'aes-128-cbc'], check=True, stderr=subprocess.DEVNULL)
        keys['enc'] = open(enc).read()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    def key(pem, **kw):
        k = {"type": "service_account", "project_id": "fuzz-project", "private_key_id": "3f1c0a9b8e7d6c5b4a39281706f5e4d3c2b1a098",
             "private_key": pem, "client_email": "loader@fuzz-project.iam.gserviceaccount.com",
             "client_id": "109876543210987654321", "auth_uri": "https://accounts.google.com/o/oauth2/auth",
             "token_uri": "https://oauth2.googleapis.com/token",
             "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
             "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/loader%40fuzz-project.iam.gserviceaccount.com",
             "universe_domain": "googleapis.com"}
        k.update(kw)
        return json.dumps({a: b for a, b in k.items() if b is not None}, indent=2)

    ok = '{"access_token":"ya29.c.b0Aaek-fuzz","expires_in":3599,"token_type":"Bearer"}'

    def seed(name, mode, status_index, text, answer=None):
        data = bytes([mode | (status_index << 2)]) + text.encode()
        if answer is not None:
            data += b'\0' + answer.encode()
        put('sa_key', name, data)

    seed('key-json', 0, 0, key(keys[1024]))
    seed('key-file-2048', 1, 0, key(keys[2048]), ok)
    seed('adc-key', 2, 0, key(keys[1024], token_uri=None), '{"access_token":"t","expires_in":"3600"}')
    seed('invalid-grant', 0, 4, key(keys[1024]), '{"error":"invalid_grant","error_description":"Invalid JWT Signature."}')
    seed('rpc-error', 1, 9, key(keys[1024]), '{"error":{"code":503,"message":"The service is currently unavailable.","status":"UNAVAILABLE"}}')
    seed('no-token', 0, 0, key(keys[1024]), '{"expires_in":3599}')
    seed('unreachable', 0, 11, key(keys[1024]), '')
    seed('ec-key', 0, 0, key(keys['ec']))
    seed('encrypted-key', 0, 0, key(keys['enc']))
    seed('not-pem', 0, 0, key('-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n'))
    seed('missing-email', 0, 0, key(keys[1024], client_email=None))
    seed('no-type', 0, 0, '{"private_key":"x"}')
    seed('other-type', 0, 0, '{"type":"external_account","audience":"//iam.googleapis.com/x"}')
    seed('authorized-user', 2, 0, json.dumps({"type": "authorized_user", "client_id": "764086051850-6qr4p6gpi6hn506pt8ejuq83di341hur.apps.googleusercontent.com",
                                               "client_secret": "d-FL95Q19q7MQmFpd7hHD0Ty", "refresh_token": "1//0fuzz-refresh-token-0123456789abcdef"}), ok)
    seed('authorized-user-inline', 0, 0, json.dumps({"type": "authorized_user", "client_id": "c", "client_secret": "s", "refresh_token": "r"}))
    seed('not-json', 1, 0, 'type=service_account')
    seed('array', 0, 0, '[1,2]')


def live_seeds():
    """Bodies the emulator really answers, captured over HTTP."""
    tmp = tempfile.mkdtemp(prefix='bqfuzz-emu-')
    ports = os.path.join(tmp, 'ports.json')
    proc = subprocess.Popen([sys.executable, '-m', 'emulator', '--services', 'pubsub,bigquery',
                             '--pubsub-port', '0', '--bigquery-port', '0',
                             '--ports-file', ports, '--log-level', 'warning'], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if os.path.exists(ports):
                break
            time.sleep(0.1)
        p = json.load(open(ports))
        ps = 'http://127.0.0.1:%d/v1/projects/fuzz-project' % p['pubsub']
        bq = 'http://127.0.0.1:%d/bigquery/v2/projects/fuzz-project' % p['bigquery']

        def call(method, url, body=None):
            data = json.dumps(body).encode() if body is not None else None
            req = urllib.request.Request(url, data=data, method=method,
                                         headers={'Content-Type': 'application/json'})
            try:
                with urllib.request.urlopen(req, timeout=30) as r:
                    return r.status, r.read()
            except urllib.error.HTTPError as e:
                return e.code, e.read()

        statuses = [400, 401, 403, 404, 409, 429, 500, 502, 503, 504, 0, 200, 301, 418, 499, 501]

        def error_seed(name, status, body):
            if status in statuses:
                put('error_body', 'emulator-' + name, bytes([statuses.index(status), 1]) + body)

        call('PUT', ps + '/topics/orders')
        call('PUT', ps + '/topics/orders-dlq')
        call('PUT', ps + '/subscriptions/orders-sub', {"topic": "projects/fuzz-project/topics/orders",
                                                       "ackDeadlineSeconds": 30})
        call('PUT', ps + '/subscriptions/orders-dl-sub', {
            "topic": "projects/fuzz-project/topics/orders", "ackDeadlineSeconds": 10,
            "deadLetterPolicy": {"deadLetterTopic": "projects/fuzz-project/topics/orders-dlq",
                                 "maxDeliveryAttempts": 5}})
        msgs = [{"data": b64(v)} for v in PAYLOADS.values()]
        msgs[0]["attributes"] = {"source": "web", "schema": "v1"}
        st, body = call('POST', ps + '/topics/orders:publish', {"messages": msgs})
        if st != 200:
            raise RuntimeError('publish: %d %s' % (st, body))
        st, body = call('POST', ps + '/subscriptions/orders-sub:pull', {"maxMessages": 4, "returnImmediately": True})
        put('pubsub_pull', 'emulator-pull', body)
        st, body = call('POST', ps + '/subscriptions/orders-sub:pull', {"maxMessages": 100, "returnImmediately": True})
        put('pubsub_pull', 'emulator-pull-rest', body)
        st, body = call('POST', ps + '/subscriptions/orders-sub:pull', {"maxMessages": 10, "returnImmediately": True})
        put('pubsub_pull', 'emulator-pull-none', body)
        # with a dead-letter policy: deliveryAttempt, counted up by a nack
        st, body = call('POST', ps + '/subscriptions/orders-dl-sub:pull', {"maxMessages": 3, "returnImmediately": True})
        put('pubsub_pull', 'emulator-pull-dead-letter-policy', body)
        ids = [m["ackId"] for m in json.loads(body).get("receivedMessages", [])]
        call('POST', ps + '/subscriptions/orders-dl-sub:modifyAckDeadline', {"ackIds": ids, "ackDeadlineSeconds": 0})
        st, body = call('POST', ps + '/subscriptions/orders-dl-sub:pull', {"maxMessages": 3, "returnImmediately": True})
        put('pubsub_pull', 'emulator-pull-redelivered', body)
        st, body = call('GET', ps + '/topics/missing')
        error_seed('pubsub-404', st, body)
        st, body = call('PUT', ps + '/topics/-bad-')
        error_seed('pubsub-400', st, body)
        st, body = call('PUT', ps + '/topics/orders')
        error_seed('pubsub-409', st, body)

        call('POST', bq + '/datasets', {"datasetReference": {"projectId": "fuzz-project", "datasetId": "bqstream"}})
        schema = [{"name": "order_id", "type": "STRING", "mode": "REQUIRED"},
                  {"name": "user_id", "type": "STRING", "mode": "REQUIRED"},
                  {"name": "product_id", "type": "STRING", "mode": "REQUIRED"},
                  {"name": "amount", "type": "FLOAT64", "mode": "REQUIRED"},
                  {"name": "event_time", "type": "TIMESTAMP", "mode": "REQUIRED"}]
        call('POST', bq + '/datasets/bqstream/tables', {"tableReference": {"projectId": "fuzz-project", "datasetId": "bqstream",
                                                                           "tableId": "raw_orders"},
                                                        "schema": {"fields": schema}})
        rows = [{"insertId": str(i), "json": dict(ORDER, order_id='o%d' % i, user_id='u\u00e9%d' % (i % 3),
                                                   amount=i * 1.25)} for i in range(5)]
        st, body = call('POST', bq + '/datasets/bqstream/tables/raw_orders/insertAll', {"rows": rows})
        queries = [
            ('tttnz', 'SELECT order_id, user_id, product_id, amount, event_time FROM `fuzz-project.bqstream.raw_orders` ORDER BY order_id', 2),
            ('tin', 'SELECT user_id, COUNT(*), SUM(amount) FROM `fuzz-project.bqstream.raw_orders` GROUP BY user_id ORDER BY user_id', None),
            ('', 'SELECT 1 FROM `fuzz-project.bqstream.raw_orders`', None),
        ]
        for i, (letters, q, max_results) in enumerate(queries):
            req = {"query": q, "useLegacySql": False, "formatOptions": {"useInt64Timestamp": True},
                   "location": "US", "timeoutMs": 10000}
            if max_results:
                req["maxResults"] = max_results
            st, body = call('POST', bq + '/queries', req)
            if st == 200:
                put('bq_page', 'emulator-query-%d' % i, letters.encode() + b'\n' + body)
                doc = json.loads(body)
                if doc.get('pageToken'):
                    ref = doc['jobReference']
                    st, body2 = call('GET', bq + '/queries/%s?location=%s&pageToken=%s&formatOptions.useInt64Timestamp=true'
                                     % (ref['jobId'], ref.get('location', 'US'), doc['pageToken']))
                    if st == 200:
                        put('bq_page', 'emulator-query-%d-page2' % i, letters.encode() + b'\n' + body2)
        st, body = call('POST', bq + '/queries', {"query": "SELEC 1", "useLegacySql": False})
        error_seed('bigquery-400', st, body)
        st, body = call('GET', bq + '/datasets/bqstream/tables/missing')
        error_seed('bigquery-404', st, body)
        st, body = call('GET', bq + '/datasets/bqstream/tables/raw_orders')
        if st == 200:
            put('jsonscan', 'emulator-table', body)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def regression_seeds():
    """Reproducers of the bugs found (see README.md, "Findings")."""
    # next_row(): a cell object without "v" leaves the cell's value unset
    put('bq_page', 'regress-cell-without-v-uaf',
        't\n{"jobReference":{"jobId":"j"},"jobComplete":true,"schema":{"fields":[{"name":"a","type":"STRING"}]},'
        '"rows":[{"f":[{"v":"abc"}]},{"f":[{}]}]}')
    put('bq_page', 'regress-cell-without-v-null',
        'y\n{"jobReference":{"jobId":"j"},"jobComplete":true,"schema":{"fields":[{"name":"a","type":"BYTES"}]},'
        '"rows":[{"f":[{"x":"AAEC"}]}]}')
    # bq_convert_cell(): TIMESTAMP micros overflow / out of range
    put('bq_page', 'regress-timestamp-overflow',
        'z\n{"jobReference":{"jobId":"j"},"jobComplete":true,"schema":{"fields":[{"name":"a","type":"TIMESTAMP"}]},'
        '"rows":[{"f":[{"v":"-9223372036854775808"}]}]}')
    put('bq_page', 'regress-timestamp-range',
        'z\n{"jobReference":{"jobId":"j"},"jobComplete":true,"schema":{"fields":[{"name":"a","type":"TIMESTAMP"}]},'
        '"rows":[{"f":[{"v":"-300000000000000000"}]}]}')
    put('bq_page', 'regress-timestamp-erange',
        'z\n{"jobReference":{"jobId":"j"},"jobComplete":true,"schema":{"fields":[{"name":"a","type":"TIMESTAMP"}]},'
        '"rows":[{"f":[{"v":"99999999999999999999"}]}]}')
    # parse_page(): a container where a scalar was expected is entered, not skipped
    put('bq_page', 'regress-page-unclosed-container',
        't\n{"jobReference":{"jobId":"j"},"schema":{"fields":[{"name":"a","type":"STRING"}]},'
        '"jobComplete":{,"jobComplete":true}')
    put('bq_page', 'regress-repeated-unclosed',
        'T\n{"jobReference":{"jobId":"j"},"jobComplete":true,"schema":{"fields":[{"name":"a","type":"STRING","mode":"REPEATED"}]},'
        '"rows":[{"f":[{"v":["x","v":[]}]}]]}')
    # parse_page(): a "rows" given twice: the first is skipped unchecked, and never read
    put('bq_page', 'regress-duplicate-rows',
        't\n{"jobReference":{"jobId":"j"},"jobComplete":true,"schema":{"fields":[{"name":"a","type":"STRING"}]},'
        '"rows":[{"f":[{"v" "x"}]}],"rows":[{"f":[{"v":"y"}]}]}')
    # pull(): the same, in the pull response
    put('pubsub_pull', 'regress-delivery-attempt-container',
        '{"receivedMessages":[{"ackId":"a","message":{"messageId":"m","data":""},"deliveryAttempt":[}]}')
    put('pubsub_pull', 'regress-message-container',
        '{"receivedMessages":[{"ackId":"a","message":[}]}')
    put('pubsub_pull', 'regress-ackid-container',
        '{"receivedMessages":[{"ackId":[{},"message":{"messageId":"m"}}]}')
    put('pubsub_pull', 'regress-data-container',
        '{"receivedMessages":[{"ackId":"a","message":{"messageId":"m","data":[{},"x":1}}]}')
    # validate_payload(): null first, then a value, of one column
    put('validate', 'regress-null-then-value',
        '{"order_id":null,"order_id":"o-1","user_id":"u-1","product_id":"p-1","amount":12.5,'
        '"event_time":"2024-05-01T12:00:00Z"}')
    # gcp_http_report(): Google's status is quoted without sanitizing
    put('error_body', 'regress-status-unsanitized',
        bytes([0, 1]) + b'{"error":{"code":400,"message":"bad","status":"INVALID_ARGUMENT\\n\\u001b[31mFORGED LOG LINE"}}')


def keyless_seeds():
    """External accounts and impersonated service accounts for sa_key: byte 0
    bits 0-1 how the credential arrives (3: credentials_json past the option
    validator), 2-5 the status, 6 a restricted role, 7 one that may read
    server files.  The private key of the key-json seed signs the source
    key's JWT; the harness writes the subject token file."""
    with open(os.path.join(CORPUS, 'sa_key', 'key-json'), 'rb') as f:
        pem = json.loads(f.read()[1:].decode())['private_key']
    sts = 'https://sts.googleapis.com/v1/token'
    iam = ('https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/'
           'loader@fuzz-project.iam.gserviceaccount.com:generateAccessToken')
    audience = '//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/p/providers/x'
    restricted, files = 0x40, 0x80

    def external(source, **kw):
        c = {"type": "external_account", "audience": audience,
             "subject_token_type": "urn:ietf:params:oauth:token-type:jwt", "token_url": sts,
             "credential_source": source}
        c.update(kw)
        return json.dumps(c)

    def impersonated(source, **kw):
        c = {"type": "impersonated_service_account", "service_account_impersonation_url": iam,
             "delegates": [], "source_credentials": source}
        c.update(kw)
        return json.dumps(c)

    user = {"type": "authorized_user", "client_id": "764086051850-fuzz.apps.googleusercontent.com",
            "client_secret": "d-FL95Q19q7MQmFpd7hHD0Ty-fuzz", "refresh_token": "1//0fuzz-refresh-token-0123456789abcdef"}
    key = {"type": "service_account", "private_key": pem, "private_key_id": "k1",
           "client_email": "source@fuzz-project.iam.gserviceaccount.com", "token_uri": "https://oauth2.googleapis.com/token"}
    azure = {"url": "https://login.googleapis.com/metadata/identity/oauth2/token?api-version=2018-02-01",
             "headers": {"Metadata": "True", "Authorization": "Bearer fuzz-header-secret-0123456789abcdef"},
             "format": {"type": "json", "subject_token_field_name": "access_token"}}
    both = ('{"access_token":"ya29.fuzz-sts","expires_in":3599,"token_type":"Bearer",'
            '"issued_token_type":"urn:ietf:params:oauth:token-type:access_token",'
            '"accessToken":"ya29.fuzz-impersonated","expireTime":"2099-01-01T00:00:00.123Z"}')

    def seed(name, mode, status_index, text, answer=None):
        data = bytes([mode | (status_index << 2)]) + text.encode()
        if answer is not None:
            data += b'\0' + answer.encode()
        put('sa_key', name, data)

    seed('external-file', 0, 0, external({"file": "/tmp/bqfuzz-subject-token"}))
    seed('external-url-json-impersonate', 0 | restricted, 0,
         external(azure, service_account_impersonation_url=iam,
                  service_account_impersonation={"token_lifetime_seconds": 1200}), both)
    seed('external-url-text-workforce', 1, 0,
         external({"url": "https://metadata.googleapis.com/computeMetadata/v1/instance/service-accounts/default/identity"},
                  audience='//iam.googleapis.com/locations/global/workforcePools/p/providers/x',
                  workforce_pool_user_project='123', client_id='cid', client_secret='fuzz-client-secret-0123456789'))
    seed('external-adc-impersonate', 2, 0,
         external({"file": "/tmp/bqfuzz-subject-token", "format": {"type": "text"}},
                  service_account_impersonation_url=iam), both)
    seed('external-sts-refused', 0, 4, external({"file": "/tmp/bqfuzz-subject-token"}),
         '{"error":"invalid_grant","error_description":"The subject token eyJhbGciOiJSUzI1NiJ9.fuzz-subject-token-5e1d3c7a9b is invalid."}')
    seed('external-validator-file', 3 | restricted, 0, external({"file": "/tmp/bqfuzz-subject-token"}))
    seed('external-validator-file-reader', 3 | restricted | files, 0, external({"file": "/tmp/bqfuzz-subject-token"}))
    seed('external-untrusted', 3 | restricted, 0, external(azure, token_url='http://127.0.0.1:1/v1/token'))
    seed('external-executable', 0, 0, external({"executable": {"command": "/bin/true", "timeout_millis": 5000}}))
    seed('external-aws', 0, 0, external({"environment_id": "aws1", "region_url": "http://169.254.169.254/region",
                                         "regional_cred_verification_url": "https://sts.{region}.amazonaws.com"}))
    seed('impersonated-user', 2, 0, impersonated(user), both)
    seed('impersonated-key', 3 | restricted, 0, impersonated(key, delegates=["hop@fuzz-project.iam.gserviceaccount.com"]), both)
    seed('impersonated-refused', 0, 6, impersonated(user),
         '{"error":{"code":403,"message":"Permission \'iam.serviceAccounts.getAccessToken\' denied on resource (or it may not exist).","status":"PERMISSION_DENIED"}}')
    seed('impersonated-bad-expiry', 0, 0, impersonated(key),
         '{"access_token":"ya29.src","accessToken":"ya29.imp","expireTime":"tomorrow"}')


def main():
    live = '--no-emulator' not in sys.argv[1:]
    for t in TARGETS:
        os.makedirs(os.path.join(CORPUS, t), exist_ok=True)
    static_seeds()
    query_check_seeds()
    sa_key_seeds()
    keyless_seeds()
    if live:
        live_seeds()
    regression_seeds()
    for t in TARGETS:
        print('%-12s %3d seeds' % (t, len(os.listdir(os.path.join(CORPUS, t)))))


if __name__ == '__main__':
    main()
