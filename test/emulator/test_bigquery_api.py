"""BigQuery emulator over HTTP (a real emulator subprocess): every REST method,
error bodies, insertAll semantics and limits, de-duplication, the streaming
buffer, paging, polling, cancellation, idempotency, billing limits, DDL,
materialized views, and durability across kill -9."""

import time
import unittest

try:
    from .helpers import EmulatorTestCase, EmulatorProcess, request
except ImportError:  # run from inside test/emulator
    from helpers import EmulatorTestCase, EmulatorProcess, request

P = 'p'
BASE = '/bigquery/v2/projects/p'

ORDER_FIELDS = [
    {'name': 'order_id', 'type': 'STRING', 'mode': 'REQUIRED'},
    {'name': 'user_id', 'type': 'STRING'},
    {'name': 'amount', 'type': 'FLOAT64'},
    {'name': 'qty', 'type': 'INTEGER'},
    {'name': 'event_time', 'type': 'TIMESTAMP', 'mode': 'REQUIRED'},
]


def order(i, day=1, **over):
    r = {'order_id': 'o%05d' % i, 'user_id': 'u%d' % (i % 7), 'amount': i * 0.5, 'qty': i,
         'event_time': '2024-05-%02dT%02d:00:00.000000Z' % (day, i % 24)}
    r.update(over)
    return r


class BigQueryCase(EmulatorTestCase):
    services = ('bigquery',)
    extra_args = ('--bq-streaming-buffer-s', '0.3')

    def bq(self, method, path, body=None, **kw):
        if not path.startswith('/'):
            path = BASE + '/' + path
        return self.call(method, path, body, service='bigquery', **kw)

    def new_dataset(self, location=None):
        ds = self.unique('ds').replace('-', '_')
        body = {'datasetReference': {'projectId': P, 'datasetId': ds}}
        if location:
            body['location'] = location
        status, resp = self.bq('POST', 'datasets', body)
        self.assertEqual(status, 200, resp)
        return ds

    def new_table(self, ds, fields=ORDER_FIELDS, name='orders', **extra):
        body = {'tableReference': {'projectId': P, 'datasetId': ds, 'tableId': name},
                'schema': {'fields': fields}}
        body.update(extra)
        status, resp = self.bq('POST', 'datasets/%s/tables' % ds, body)
        self.assertEqual(status, 200, resp)
        return resp

    def insert(self, ds, rows, table='orders', **opts):
        body = {'rows': [r if 'json' in r else {'json': r} for r in rows]}
        body.update(opts)
        return self.bq('POST', 'datasets/%s/tables/%s/insertAll' % (ds, table), body)

    def query(self, sql, **kw):
        body = {'query': sql, 'useLegacySql': False}
        body.update(kw)
        return self.bq('POST', 'queries', body)

    def values(self, sql, **kw):
        status, body = self.query(sql, **kw)
        self.assertEqual(status, 200, body)
        self.assertTrue(body['jobComplete'])
        return [[c['v'] for c in r['f']] for r in body.get('rows', [])]

    def ddl(self, sql):
        status, body = self.query(sql)
        self.assertEqual(status, 200, body)
        return body


class ResourceTests(BigQueryCase):
    def test_datasets(self):
        ds = self.new_dataset(location='EU')
        for prefix in ('/bigquery/v2', ''):
            status, body = self.bq('GET', '%s/projects/p/datasets/%s' % (prefix, ds))
            self.assertEqual(status, 200, body)
            self.assertEqual(body['kind'], 'bigquery#dataset')
            self.assertEqual(body['id'], 'p:%s' % ds)
            self.assertEqual(body['datasetReference'], {'datasetId': ds, 'projectId': 'p'})
            self.assertEqual(body['location'], 'EU')
            self.assertRegex(body['creationTime'], r'^\d{13}$')
            self.assertIn('etag', body)
        err = self.assertApiError(self.bq('POST', 'datasets', {'datasetReference': {
            'projectId': P, 'datasetId': ds}}), 409, 'ALREADY_EXISTS',
            'Already Exists: Dataset p:%s' % ds)
        self.assertEqual(err['errors'][0], {'message': err['message'], 'domain': 'global',
                                            'reason': 'duplicate'})
        status, body = self.bq('GET', 'datasets')
        self.assertIn(ds, [d['datasetReference']['datasetId'] for d in body['datasets']])
        self.new_table(ds)
        err = self.assertApiError(self.bq('DELETE', 'datasets/%s' % ds), 400,
                                  'FAILED_PRECONDITION', 'Dataset p:%s is still in use' % ds)
        self.assertEqual(err['errors'][0]['reason'], 'resourceInUse')
        status, _ = self.bq('DELETE', 'datasets/%s?deleteContents=true' % ds)
        self.assertEqual(status, 204)
        err = self.assertApiError(self.bq('GET', 'datasets/%s' % ds), 404, 'NOT_FOUND',
                                  'Not found: Dataset p:%s' % ds)
        self.assertEqual(err['errors'][0]['reason'], 'notFound')

    def test_tables(self):
        ds = self.new_dataset()
        t = self.new_table(ds, timePartitioning={'type': 'DAY', 'field': 'event_time'},
                           clustering={'fields': ['user_id']}, description='orders')
        self.assertEqual(t['kind'], 'bigquery#table')
        self.assertEqual(t['id'], 'p:%s.orders' % ds)
        self.assertEqual(t['tableReference'], {'projectId': 'p', 'datasetId': ds,
                                               'tableId': 'orders'})
        self.assertEqual(t['type'], 'TABLE')
        self.assertEqual(t['timePartitioning'], {'type': 'DAY', 'field': 'event_time'})
        self.assertEqual(t['clustering'], {'fields': ['user_id']})
        self.assertEqual(t['numRows'], '0')
        self.assertEqual(t['location'], 'US')
        self.assertEqual(t['description'], 'orders')
        self.assertEqual([f['type'] for f in t['schema']['fields']],
                         ['STRING', 'STRING', 'FLOAT', 'INTEGER', 'TIMESTAMP'])
        self.assertTrue(t['selfLink'].endswith('/projects/p/datasets/%s/tables/orders' % ds))
        self.assertRegex(t['lastModifiedTime'], r'^\d{13}$')
        self.assertApiError(self.bq('POST', 'datasets/%s/tables' % ds, {
            'tableReference': {'projectId': P, 'datasetId': ds, 'tableId': 'orders'},
            'schema': {'fields': ORDER_FIELDS}}), 409, 'ALREADY_EXISTS',
            'Already Exists: Table p:%s.orders' % ds)
        status, body = self.bq('GET', '/projects/p/datasets/%s/tables' % ds)
        self.assertEqual([x['tableReference']['tableId'] for x in body['tables']], ['orders'])
        self.assertEqual(body['totalItems'], 1)
        err = self.assertApiError(self.bq('POST', 'datasets/%s/tables' % ds, {
            'tableReference': {'projectId': P, 'datasetId': ds, 'tableId': 'rec'},
            'schema': {'fields': [{'name': 'r', 'type': 'RECORD'}]}}), 400, 'INVALID_ARGUMENT')
        self.assertEqual('Field r is type RECORD but has no schema', err['message'])
        status, _ = self.bq('DELETE', 'datasets/%s/tables/orders' % ds)
        self.assertEqual(status, 204)
        self.assertApiError(self.bq('GET', 'datasets/%s/tables/orders' % ds), 404, 'NOT_FOUND',
                            'Not found: Table p:%s.orders' % ds)
        self.assertApiError(self.bq('GET', 'datasets/nope/tables/orders'), 404, 'NOT_FOUND',
                            'Not found: Dataset p:nope')

    def test_view_via_rest(self):
        ds = self.new_dataset()
        self.new_table(ds)
        self.insert(ds, [order(1), order(2)])
        body = {'tableReference': {'projectId': P, 'datasetId': ds, 'tableId': 'v'},
                'view': {'query': 'SELECT order_id FROM %s.orders' % ds}}
        err = self.assertApiError(self.bq('POST', 'datasets/%s/tables' % ds, body), 400,
                                  'INVALID_ARGUMENT')
        self.assertIn('Legacy SQL', err['message'])
        body['view']['useLegacySql'] = False
        status, t = self.bq('POST', 'datasets/%s/tables' % ds, body)
        self.assertEqual(status, 200, t)
        self.assertEqual(t['type'], 'VIEW')
        self.assertEqual(t['schema']['fields'], [{'name': 'order_id', 'type': 'STRING',
                                                  'mode': 'NULLABLE'}])
        self.assertEqual(self.values('SELECT COUNT(*) FROM %s.v' % ds), [['2']])
        self.assertApiError(self.bq('GET', 'datasets/%s/tables/v/data' % ds), 400,
                            'INVALID_ARGUMENT', 'Cannot list a table of type VIEW.')

    def test_unknown_path(self):
        err = self.assertApiError(self.bq('GET', '/bigquery/v2/projects/p/nothing'), 404,
                                  'NOT_FOUND')
        self.assertEqual(err['errors'][0]['reason'], 'notFound')


class InsertAllTests(BigQueryCase):
    def setUp(self):
        self.ds = self.new_dataset()
        self.new_table(self.ds, timePartitioning={'type': 'DAY', 'field': 'event_time'})

    def count(self):
        return int(self.values('SELECT COUNT(*) FROM %s.orders' % self.ds)[0][0])

    def test_one_bad_row_stops_the_request(self):
        rows = [order(1), order(2, qty='many'), order(3), {'order_id': 'x'}]
        status, body = self.insert(self.ds, rows)
        self.assertEqual(status, 200)
        errs = {e['index']: e['errors'] for e in body['insertErrors']}
        self.assertEqual(sorted(errs), [0, 1, 2, 3])
        self.assertEqual(errs[0], [{'reason': 'stopped', 'location': '', 'debugInfo': '',
                                    'message': ''}])
        self.assertEqual(errs[1][0]['reason'], 'invalid')
        self.assertEqual(errs[1][0]['location'], 'qty')
        self.assertEqual(errs[3][0]['message'], 'Missing required field: event_time.')
        self.assertEqual(self.count(), 0)

    def test_skip_invalid_rows(self):
        status, body = self.insert(self.ds, [order(1), order(2, amount=[1]), order(3)],
                                   skipInvalidRows=True)
        self.assertEqual([e['index'] for e in body['insertErrors']], [1])
        self.assertEqual(self.count(), 2)

    def test_unknown_fields(self):
        status, body = self.insert(self.ds, [order(1, coupon='X')])
        self.assertEqual(body['insertErrors'][0]['errors'][0],
                         {'reason': 'invalid', 'location': 'coupon', 'debugInfo': '',
                          'message': 'no such field: coupon.'})
        status, body = self.insert(self.ds, [order(1, coupon='X')], ignoreUnknownValues=True)
        self.assertNotIn('insertErrors', body)
        self.assertEqual(self.count(), 1)

    def test_coercions(self):
        rows = [order(1, qty='42', amount='1.25', event_time=1561017697.269367),
                order(2, qty=7.0, event_time='2024-05-01 12:00:00+02:00'),
                order(3, event_time='2024-05-01T10:00:00.123Z', amount=None)]
        status, body = self.insert(self.ds, rows)
        self.assertNotIn('insertErrors', body)
        got = self.values('SELECT order_id, qty, amount, event_time FROM %s.orders ORDER BY 1'
                          % self.ds, formatOptions={'useInt64Timestamp': True})
        self.assertEqual(got, [['o00001', '42', '1.25', '1561017697269367'],
                               ['o00002', '7', '1.0', '1714557600000000'],
                               ['o00003', '3', None, '1714557600123000']])
        # NaN and infinities survive storage and come back in BigQuery's spelling, and NaN
        # sorts after NULL and before every number
        self.insert(self.ds, [order(5, amount='NaN'), order(6, amount='-Infinity'),
                              order(7, amount='Infinity')])
        got = self.values("SELECT amount FROM %s.orders WHERE order_id >= 'o00003' ORDER BY amount"
                          % self.ds)
        self.assertEqual(got, [[None], ['NaN'], ['-Infinity'], ['Infinity']])
        status, body = self.insert(self.ds, [order(4, event_time='yesterday')])
        self.assertIn("Could not parse 'yesterday' as a timestamp",
                      body['insertErrors'][0]['errors'][0]['message'])

    def test_limits(self):
        self.assertApiError(self.insert(self.ds, []), 400, 'INVALID_ARGUMENT',
                            'No rows present in the request.')
        rows = [{'json': {}}] * 50001
        self.assertApiError(self.insert(self.ds, rows), 400, 'INVALID_ARGUMENT',
                            'too many rows present in the request, limit: 50000 row count: '
                            '50001.')
        big = [order(i, user_id='x' * 1000) for i in range(10500)]
        self.assertApiError(self.insert(self.ds, big), 400, 'INVALID_ARGUMENT',
                            'Request payload size exceeds the limit: 10485760 bytes.')
        self.assertEqual(self.count(), 0)

    def test_row_fault_refuses_chosen_rows(self):
        # labels make the next 3 valid rows come back with reason timeout, not stored
        status, body = self.bq('PATCH', 'datasets/%s/tables/orders' % self.ds,
                               {'labels': {'emulator_row_fault': 'timeout',
                                           'emulator_row_fault_rows': '3'}})
        self.assertEqual(status, 200, body)
        rows = [dict(insertId='id-%d' % i, json=order(i)) for i in range(4)]
        rows.insert(1, dict(insertId='bad', json=order(9, qty='many')))
        status, body = self.insert(self.ds, rows, skipInvalidRows=True)
        self.assertEqual(status, 200)
        errs = {e['index']: e['errors'][0] for e in body['insertErrors']}
        self.assertEqual(sorted(errs), [0, 1, 2, 3])
        self.assertEqual(errs[0], {'reason': 'timeout', 'location': '', 'debugInfo': '',
                                   'message': 'The operation timed out.'})
        self.assertEqual(errs[1]['reason'], 'invalid')
        self.assertEqual([errs[i]['reason'] for i in (2, 3)], ['timeout', 'timeout'])
        self.assertEqual(self.count(), 1)
        # the count is spent: the same rows again (same insertIds) are stored, once
        status, body = self.insert(self.ds, rows[:1] + rows[2:], skipInvalidRows=True)
        self.assertNotIn('insertErrors', body)
        self.assertEqual(self.count(), 4)
        # backendError, and a new count when the labels are set again
        self.bq('PATCH', 'datasets/%s/tables/orders' % self.ds,
                {'labels': {'emulator_row_fault': 'backenderror', 'emulator_row_fault_rows': '1'}})
        status, body = self.insert(self.ds, [order(20), order(21)], skipInvalidRows=True)
        self.assertEqual([(e['index'], e['errors'][0]['reason']) for e in body['insertErrors']],
                         [(0, 'backendError')])
        self.assertEqual(self.count(), 5)
        self.bq('PATCH', 'datasets/%s/tables/orders' % self.ds,
                {'labels': {'emulator_row_fault': 'sometimes'}})
        self.assertApiError(self.insert(self.ds, [order(22)]), 400, 'INVALID_ARGUMENT',
                            'Labels emulator_row_fault must be one of backenderror, timeout '
                            'and emulator_row_fault_rows a non-negative integer')

    def test_insert_id_dedup(self):
        rows = [dict(insertId='id-%d' % i, json=order(i)) for i in range(5)]
        self.insert(self.ds, rows)
        self.insert(self.ds, rows[:3] + [dict(insertId='id-9', json=order(9))] * 2)
        self.assertEqual(self.count(), 6)
        self.insert(self.ds, [order(20), order(20)])     # no insertId: no de-duplication
        self.assertEqual(self.count(), 8)
        status, body = self.call('GET', '/emulator/counters', service='bigquery')
        self.assertGreaterEqual(body['rows_deduplicated'], 4)

    def test_streaming_buffer_and_numrows(self):
        self.insert(self.ds, [order(i) for i in range(10)])
        status, t = self.bq('GET', 'datasets/%s/tables/orders' % self.ds)
        self.assertEqual(t['numRows'], '0')
        self.assertEqual(t['streamingBuffer']['estimatedRows'], '10')
        self.assertRegex(t['streamingBuffer']['oldestEntryTime'], r'^\d{13}$')
        self.assertEqual(self.count(), 10)   # buffered rows are queryable at once
        time.sleep(0.5)
        status, t = self.bq('GET', 'datasets/%s/tables/orders' % self.ds)
        self.assertEqual(t['numRows'], '10')
        self.assertNotIn('streamingBuffer', t)
        self.assertGreater(int(t['numBytes']), 0)

    def test_tabledata_list_paging(self):
        self.insert(self.ds, [order(i) for i in range(25)])
        path = 'datasets/%s/tables/orders/data' % self.ds
        got, token, pages = [], None, 0
        while True:
            q = '?maxResults=10' + ('&pageToken=%s' % token if token else '')
            status, body = self.bq('GET', path + q)
            self.assertEqual(status, 200, body)
            self.assertEqual(body['kind'], 'bigquery#tableDataList')
            self.assertEqual(body['totalRows'], '25')
            got.extend(r['f'][0]['v'] for r in body.get('rows', []))
            pages += 1
            token = body.get('pageToken')
            if not token:
                break
        self.assertEqual(pages, 3)
        self.assertEqual(got, ['o%05d' % i for i in range(25)])
        status, body = self.bq('GET', path + '?startIndex=20&maxResults=2&selectedFields=qty,'
                                             'event_time&formatOptions.useInt64Timestamp=true')
        self.assertEqual([[c['v'] for c in r['f']] for r in body['rows']],
                         [['20', '1714593600000000'], ['21', '1714597200000000']])
        status, body = self.bq('GET', path + '?startIndex=24&selectedFields=event_time')
        self.assertEqual(body['rows'], [{'f': [{'v': '1.7145216E9'}]}])


class QueryJobTests(BigQueryCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        self = cls('test_paging_with_tokens_and_start_index')  # an instance for the helpers
        cls.ds = self.new_dataset()
        self.new_table(cls.ds, timePartitioning={'type': 'DAY', 'field': 'event_time'})
        rows = [order(i, day=1 + i % 3) for i in range(300)]
        status, body = self.insert(cls.ds, rows)
        assert 'insertErrors' not in body, body

    def test_paging_with_tokens_and_start_index(self):
        sql = 'SELECT order_id FROM %s.orders ORDER BY order_id' % self.ds
        status, body = self.query(sql, maxResults=100)
        self.assertEqual(body['kind'], 'bigquery#queryResponse')
        self.assertEqual(body['totalRows'], '300')
        self.assertEqual(len(body['rows']), 100)
        job = body['jobReference']
        self.assertEqual(set(job), {'projectId', 'jobId', 'location'})
        got = [r['f'][0]['v'] for r in body['rows']]
        token = body['pageToken']
        while token:
            status, page = self.bq('GET', 'queries/%s?maxResults=120&pageToken=%s&location=US'
                                   % (job['jobId'], token))
            self.assertEqual(status, 200, page)
            self.assertEqual(page['kind'], 'bigquery#getQueryResultsResponse')
            got.extend(r['f'][0]['v'] for r in page['rows'])
            token = page.get('pageToken')
        self.assertEqual(got, ['o%05d' % i for i in range(300)])
        status, page = self.bq('GET', 'queries/%s?startIndex=298' % job['jobId'])
        self.assertEqual([r['f'][0]['v'] for r in page['rows']], ['o00298', 'o00299'])
        self.assertNotIn('pageToken', page)

    def test_polling_until_complete(self):
        status, body = self.query('SELECT COUNT(*) FROM %s.orders' % self.ds, timeoutMs=50,
                                  labels={'emulator_delay_ms': '600'})
        self.assertEqual(status, 200, body)
        self.assertFalse(body['jobComplete'])
        self.assertNotIn('rows', body)
        job_id = body['jobReference']['jobId']
        status, page = self.bq('GET', 'queries/%s?timeoutMs=0' % job_id)
        self.assertFalse(page['jobComplete'])
        status, page = self.bq('GET', 'jobs/%s' % job_id)
        self.assertEqual(page['status']['state'], 'RUNNING')
        status, page = self.bq('GET', 'queries/%s?timeoutMs=5000' % job_id)
        self.assertTrue(page['jobComplete'])
        self.assertEqual(page['rows'], [{'f': [{'v': '300'}]}])
        status, page = self.bq('GET', 'jobs/%s' % job_id)
        self.assertEqual(page['status'], {'state': 'DONE'})
        self.assertEqual(page['statistics']['query']['statementType'], 'SELECT')

    def test_jobs_insert_get_cancel(self):
        status, job = self.bq('POST', 'jobs', {
            'jobReference': {'projectId': P, 'jobId': self.unique('myjob')},
            'configuration': {'query': {'query': 'SELECT 1', 'useLegacySql': False},
                              'labels': {'emulator_delay_ms': '5000'}}})
        self.assertEqual(status, 200, job)
        self.assertEqual(job['kind'], 'bigquery#job')
        jid = job['jobReference']['jobId']
        self.assertEqual(job['status']['state'], 'RUNNING')
        self.assertApiError(self.bq('POST', 'jobs', {
            'jobReference': {'projectId': P, 'jobId': jid},
            'configuration': {'query': {'query': 'SELECT 1', 'useLegacySql': False}}}),
            409, 'ALREADY_EXISTS')
        status, resp = self.bq('POST', 'jobs/%s/cancel' % jid)
        self.assertEqual(resp['kind'], 'bigquery#jobCancelResponse')
        status, job = self.bq('GET', 'jobs/%s' % jid)
        self.assertEqual(job['status']['state'], 'DONE')
        self.assertEqual(job['status']['errorResult']['reason'], 'stopped')
        self.assertApiError(self.bq('GET', 'queries/%s' % jid), 400, 'INVALID_ARGUMENT')
        self.assertApiError(self.bq('GET', 'jobs/nope'), 404, 'NOT_FOUND',
                            'Not found: Job p:US.nope')
        status, jobs = self.bq('GET', 'jobs?maxResults=5')
        self.assertEqual(jobs['kind'], 'bigquery#jobList')
        self.assertLessEqual(len(jobs['jobs']), 5)

    def test_failed_job_reports_error_in_status(self):
        status, job = self.bq('POST', 'jobs', {'configuration': {'query': {
            'query': 'SELECT nope FROM %s.orders' % self.ds, 'useLegacySql': False}}})
        self.assertEqual(status, 200, job)
        jid = job['jobReference']['jobId']
        status, job = self.bq('GET', 'jobs/%s' % jid)
        self.assertEqual(job['status']['state'], 'DONE')
        self.assertEqual(job['status']['errorResult'],
                         {'reason': 'invalidQuery', 'location': 'query',
                          'message': 'Unrecognized name: nope at [1:8]'})
        err = self.assertApiError(self.bq('GET', 'queries/%s' % jid), 400, 'INVALID_ARGUMENT',
                                  'Unrecognized name: nope at [1:8]')
        self.assertEqual(err['errors'][0], {'message': 'Unrecognized name: nope at [1:8]',
                                            'domain': 'global', 'reason': 'invalidQuery',
                                            'location': 'query'})

    def test_request_id_idempotency(self):
        rid = 'f3a7c2e4-0000-4000-8000-%012d' % int(time.time() * 1000 % 1e12)
        _, a = self.query('SELECT 1', requestId=rid)
        _, b = self.query('SELECT 1', requestId=rid)
        self.assertEqual(a['jobReference'], b['jobReference'])
        _, c = self.query('SELECT 1', requestId=rid + 'x')
        self.assertNotEqual(a['jobReference']['jobId'], c['jobReference']['jobId'])

    def test_dry_run_and_legacy_sql(self):
        status, body = self.query('SELECT qty FROM %s.orders' % self.ds, dryRun=True)
        self.assertEqual(status, 200, body)
        self.assertEqual(body['totalBytesProcessed'], str(300 * 8))
        self.assertNotIn('rows', body)
        self.assertNotIn('jobId', body['jobReference'])
        err = self.assertApiError(self.bq('POST', 'queries', {'query': 'SELECT 1'}), 400,
                                  'INVALID_ARGUMENT')
        self.assertIn('Legacy SQL is not supported by the emulator', err['message'])
        self.assertEqual(err['errors'][0]['reason'], 'invalidQuery')
        self.assertEqual(self.values('#standardSQL\nSELECT 2', useLegacySql=None), [['2']])

    def test_location(self):
        err = self.assertApiError(self.query('SELECT 1 FROM %s.orders' % self.ds, location='EU'),
                                  404, 'NOT_FOUND')
        self.assertEqual(err['message'], 'Not found: Dataset p:%s was not found in location EU'
                         % self.ds)
        status, body = self.query('SELECT COUNT(*) FROM %s.orders' % self.ds, location='US')
        self.assertEqual(body['jobReference']['location'], 'US')
        self.assertApiError(self.bq('GET', 'queries/%s?location=EU'
                                    % body['jobReference']['jobId']), 404, 'NOT_FOUND')

    def test_maximum_bytes_billed(self):
        sql = 'SELECT * FROM %s.orders' % self.ds
        status, body = self.query(sql, useQueryCache=False)
        processed = int(body['totalBytesProcessed'])
        self.assertEqual(body['totalBytesBilled'], str(10 * 1024 * 1024))  # the 10 MB minimum
        err = self.assertApiError(self.query(sql, maximumBytesBilled=str(processed),
                                             useQueryCache=False), 400, 'INVALID_ARGUMENT',
                                  'Query exceeded limit for bytes billed: %d. 10485760 or '
                                  'higher required.' % processed)
        self.assertEqual(err['errors'][0]['reason'], 'bytesBilledLimitExceeded')
        status, body = self.query(sql, maximumBytesBilled='10485760', useQueryCache=False)
        self.assertEqual(status, 200, body)

    def test_partition_pruning_and_projection_in_bytes(self):
        def processed(sql, **kw):
            status, body = self.query(sql, useQueryCache=False, **kw)
            self.assertEqual(status, 200, body)
            return int(body['totalBytesProcessed'])
        full = processed('SELECT order_id, event_time FROM %s.orders' % self.ds)
        one_day = processed("SELECT order_id, event_time FROM %s.orders WHERE event_time >= "
                            "'2024-05-02' AND event_time < '2024-05-03'" % self.ds)
        self.assertAlmostEqual(one_day * 3, full, delta=full * 0.02)
        self.assertLess(processed('SELECT event_time FROM %s.orders' % self.ds), full)
        self.assertEqual(processed("SELECT order_id, event_time FROM %s.orders WHERE "
                                   "DATE(event_time) = @d" % self.ds, parameterMode='NAMED',
                                   queryParameters=[{'name': 'd', 'parameterType': {
                                       'type': 'DATE'}, 'parameterValue': {
                                       'value': '2024-05-02'}}]), one_day)

    def test_result_page_capped_at_10mb(self):
        ds = self.new_dataset()
        self.new_table(ds, fields=[{'name': 's', 'type': 'STRING'}], name='big')
        blob = 'x' * (6 * 1000 * 1000)
        for _ in range(2):
            status, body = self.insert(ds, [{'s': blob}], table='big')
            self.assertNotIn('insertErrors', body)
        status, body = self.query('SELECT s FROM %s.big' % ds)
        self.assertEqual(body['totalRows'], '2')
        self.assertEqual(len(body['rows']), 1)
        self.assertIn('pageToken', body)


class ConcurrencyTests(BigQueryCase):
    def test_parallel_inserts_and_queries(self):
        import threading
        ds = self.new_dataset()
        self.new_table(ds, timePartitioning={'type': 'DAY', 'field': 'event_time'})
        errors = []

        def writer(w):
            conn = self.emu.connection('bigquery')
            try:
                for b in range(10):
                    rows = [{'insertId': 'w%d-%d-%d' % (w, b, i),
                             'json': order(w * 1000 + b * 50 + i)} for i in range(50)]
                    status, body = request(conn, 'POST', BASE + '/datasets/%s/tables/orders/'
                                           'insertAll' % ds, {'rows': rows}, close=False)
                    if status != 200 or 'insertErrors' in body:
                        errors.append(body)
            finally:
                conn.close()

        def reader():
            conn = self.emu.connection('bigquery')
            try:
                for _ in range(10):
                    status, body = request(conn, 'POST', BASE + '/queries', {
                        'query': 'SELECT user_id, COUNT(*) FROM %s.orders GROUP BY 1' % ds,
                        'useLegacySql': False, 'useQueryCache': False}, close=False)
                    if status != 200:
                        errors.append(body)
            finally:
                conn.close()

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)] + \
            [threading.Thread(target=reader) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(errors, [])
        self.assertEqual(self.values('SELECT COUNT(*) FROM %s.orders' % ds), [['2000']])

    def test_metadata_patch(self):
        ds = self.new_dataset()
        self.new_table(ds)
        status, body = self.bq('PATCH', 'datasets/%s' % ds, {'description': 'shop'})
        self.assertEqual((status, body['description']), (200, 'shop'))
        status, body = self.bq('PATCH', 'datasets/%s/tables/orders' % ds,
                               {'labels': {'env': 'test'}})
        self.assertEqual((status, body['labels']), (200, {'env': 'test'}))


class DdlAndMaterializedViewTests(BigQueryCase):
    def test_ddl_and_materialized_view(self):
        ds = self.unique('ddl').replace('-', '_')
        body = self.ddl('CREATE SCHEMA IF NOT EXISTS %s' % ds)
        self.assertTrue(body['jobComplete'])
        self.assertNotIn('rows', body)
        self.ddl('CREATE SCHEMA IF NOT EXISTS %s' % ds)
        self.ddl('CREATE TABLE `p.%s.raw` (order_id STRING NOT NULL, user_id STRING, '
                 'amount FLOAT64, event_time TIMESTAMP NOT NULL, tags ARRAY<STRING>) '
                 'PARTITION BY DATE(event_time) CLUSTER BY user_id '
                 'OPTIONS (description = "raw orders")' % ds)
        status, t = self.bq('GET', 'datasets/%s/tables/raw' % ds)
        self.assertEqual(t['timePartitioning'], {'type': 'DAY', 'field': 'event_time'})
        self.assertEqual(t['clustering'], {'fields': ['user_id']})
        self.assertEqual(t['description'], 'raw orders')
        self.assertEqual([(f['name'], f['type'], f['mode']) for f in t['schema']['fields']],
                         [('order_id', 'STRING', 'REQUIRED'), ('user_id', 'STRING', 'NULLABLE'),
                          ('amount', 'FLOAT', 'NULLABLE'), ('event_time', 'TIMESTAMP',
                                                            'REQUIRED'),
                          ('tags', 'STRING', 'REPEATED')])
        body = self.ddl('CREATE TABLE IF NOT EXISTS %s.raw (x INT64)' % ds)
        status, job = self.bq('GET', 'jobs/%s' % body['jobReference']['jobId'])
        self.assertEqual(job['statistics']['query']['ddlOperationPerformed'], 'SKIP')
        self.assertEqual(job['statistics']['query']['statementType'], 'CREATE_TABLE')
        self.assertApiError(self.query('CREATE TABLE %s.raw (x INT64)' % ds), 409,
                            'ALREADY_EXISTS', 'Already Exists: Table p:%s.raw' % ds)

        self.insert(ds, [{'order_id': 'a', 'user_id': 'u1', 'amount': 10,
                          'event_time': '2024-05-01T00:00:00Z'},
                         {'order_id': 'b', 'user_id': 'u1', 'amount': 5,
                          'event_time': '2024-05-01T01:00:00Z'}], table='raw')
        body = self.ddl('CREATE MATERIALIZED VIEW %s.per_user AS SELECT user_id, COUNT(*) AS n, '
                        'SUM(amount) AS total FROM %s.raw GROUP BY user_id' % (ds, ds))
        status, job = self.bq('GET', 'jobs/%s' % body['jobReference']['jobId'])
        self.assertEqual(job['statistics']['query']['statementType'],
                         'CREATE_MATERIALIZED_VIEW')
        self.assertEqual(job['statistics']['query']['ddlOperationPerformed'], 'CREATE')
        status, mv = self.bq('GET', 'datasets/%s/tables/per_user' % ds)
        self.assertEqual(mv['type'], 'MATERIALIZED_VIEW')
        self.assertIn('SUM(amount)', mv['materializedView']['query'])
        self.assertTrue(mv['materializedView']['enableRefresh'])
        self.assertEqual(mv['materializedView']['refreshIntervalMs'], '1800000')
        self.assertRegex(mv['materializedView']['lastRefreshTime'], r'^\d{13}$')
        self.assertEqual([f['name'] for f in mv['schema']['fields']], ['user_id', 'n', 'total'])
        # rows streamed after the MV was created (still in the buffer) are visible through it
        self.insert(ds, [{'order_id': 'c', 'user_id': 'u2', 'amount': 1.5,
                          'event_time': '2024-05-02T00:00:00Z'},
                         {'order_id': 'd', 'user_id': 'u1', 'amount': 1,
                          'event_time': '2024-05-02T00:00:00Z'}], table='raw')
        self.assertEqual(self.values('SELECT user_id, n, total FROM %s.per_user ORDER BY user_id'
                                     % ds), [['u1', '3', '16.0'], ['u2', '1', '1.5']])
        status, mv = self.bq('GET', 'datasets/%s/tables/per_user' % ds)
        self.assertEqual(mv['numRows'], '2')
        status, body = self.query('SELECT n FROM %s.per_user' % ds, useQueryCache=False)
        # reading the MV costs the base-table columns its definition reads (user_id, amount)
        self.assertEqual(body['totalBytesProcessed'], str(4 * 4 + 4 * 8))
        for bad, why in [
                ('SELECT user_id, COUNT(DISTINCT order_id) FROM {0}.raw GROUP BY user_id',
                 'COUNT(DISTINCT'),
                ('SELECT user_id, SUM(amount) FROM {0}.raw GROUP BY user_id HAVING SUM(amount) '
                 '> 1', 'HAVING'),
                ('SELECT COUNT(*) FROM {0}.raw', 'aggregation without GROUP BY'),
                ('SELECT user_id, COUNT(*) FROM {0}.raw WHERE amount > @min GROUP BY user_id',
                 'Query parameters cannot be used'),
                ('SELECT user_id, MAX(total) FROM {0}.per_user GROUP BY user_id',
                 'exactly one base table')]:
            status, body = self.query('CREATE MATERIALIZED VIEW %s.bad AS %s'
                                      % (ds, bad.format(ds)))
            self.assertEqual(status, 400, body)
            self.assertIn(why, body['error']['message'])
        self.ddl('DROP MATERIALIZED VIEW %s.per_user' % ds)
        self.ddl('DROP TABLE IF EXISTS %s.per_user' % ds)
        self.assertApiError(self.query('DROP TABLE %s.per_user' % ds), 404, 'NOT_FOUND')
        self.ddl('DROP SCHEMA %s CASCADE' % ds)
        self.assertApiError(self.bq('GET', 'datasets/%s' % ds), 404, 'NOT_FOUND')


class JobDelayFlagAndDedupWindowTests(BigQueryCase):
    extra_args = ('--bq-job-delay-ms', '300', '--bq-dedup-window-s', '0.5')

    def test_delay_flag_makes_clients_poll(self):
        status, body = self.query('SELECT 1', timeoutMs=10)
        self.assertFalse(body['jobComplete'])
        status, page = self.bq('GET', 'queries/%s?timeoutMs=3000'
                               % body['jobReference']['jobId'])
        self.assertTrue(page['jobComplete'])
        self.assertEqual(page['rows'], [{'f': [{'v': '1'}]}])

    def test_duplicate_after_window_is_stored(self):
        ds = self.new_dataset()
        self.new_table(ds)
        row = {'insertId': 'same', 'json': order(1)}
        self.insert(ds, [row])
        self.insert(ds, [row])
        time.sleep(0.7)
        self.insert(ds, [row])
        self.assertEqual(self.values('SELECT COUNT(*) FROM %s.orders' % ds,
                                     timeoutMs=5000), [['2']])


class DurabilityTests(unittest.TestCase):
    def test_kill_9_loses_no_acknowledged_row(self):
        with EmulatorProcess(services=('bigquery',)) as emu:
            def bq(method, path, body=None):
                return emu.call(method, BASE + path, body, service='bigquery')
            bq('POST', '/datasets', {'datasetReference': {'projectId': P, 'datasetId': 'd'}})
            bq('POST', '/datasets/d/tables', {'tableReference': {'tableId': 'orders'},
                                              'schema': {'fields': ORDER_FIELDS}})
            conn = emu.connection('bigquery')
            acked = 0
            for b in range(20):
                rows = [{'insertId': 'r%d' % (b * 50 + i), 'json': order(b * 50 + i)}
                        for i in range(50)]
                status, body = request(conn, 'POST', BASE + '/datasets/d/tables/orders/insertAll',
                                       {'rows': rows}, close=False)
                self.assertEqual(status, 200)
                self.assertNotIn('insertErrors', body)
                acked += 50
            conn.close()
            emu.kill()
            emu.restart()
            status, body = bq('POST', '/queries', {'query': 'SELECT COUNT(*), COUNT(DISTINCT '
                                                            'order_id) FROM d.orders',
                                                   'useLegacySql': False})
            self.assertEqual(body['rows'][0]['f'], [{'v': str(acked)}, {'v': str(acked)}])
            # the de-duplication window survives the restart too
            bq('POST', '/datasets/d/tables/orders/insertAll',
               {'rows': [{'insertId': 'r0', 'json': order(0)}]})
            status, body = bq('POST', '/queries', {'query': 'SELECT COUNT(*) FROM d.orders',
                                                   'useLegacySql': False})
            self.assertEqual(body['rows'][0]['f'], [{'v': str(acked)}])
            status, t = bq('GET', '/datasets/d/tables/orders')
            self.assertEqual(t['type'], 'TABLE')


if __name__ == '__main__':
    unittest.main()
