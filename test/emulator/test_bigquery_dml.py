"""BigQuery emulator: UPDATE and DELETE statements (DML jobs).

The rows a statement changes, numDmlAffectedRows and dmlStats in the
jobs.query answer and the job's statistics, statementType, the WHERE clause
BigQuery requires, assignment typing, typed parameters (IN UNNEST, CASE),
maximumBytesBilled, and the refusal of a statement that would change rows
still in the streaming buffer (rows streamed by insertAll; the table label
emulator_streaming_buffer_s sets how long they stay there).
"""

import unittest

try:
    from .bq_direct import DirectBigQuery, QueryFailed
except ImportError:  # run from inside test/emulator
    from bq_direct import DirectBigQuery, QueryFailed

FIELDS = [
    {'name': 'id', 'type': 'INTEGER', 'mode': 'REQUIRED'},
    {'name': 'name', 'type': 'STRING'},
    {'name': 'amount', 'type': 'FLOAT'},
    {'name': 'price', 'type': 'NUMERIC'},
    {'name': 'day', 'type': 'DATE'},
]


def rows_of(n):
    return [{'id': i, 'name': 'n%d' % i, 'amount': i * 1.5, 'price': '%d.25' % i,
             'day': '2024-05-%02d' % i} for i in range(1, n + 1)]


class DmlTests(unittest.TestCase):
    def setUp(self):
        self.bq = DirectBigQuery(bq_streaming_buffer_s=0)
        self.bq.create_dataset('d')

    def tearDown(self):
        self.bq.close()

    def table(self, name, rows, buffer_s=None):
        extra = {}
        if buffer_s is not None:
            extra['labels'] = {'emulator_streaming_buffer_s': str(buffer_s)}
        status, body = self.bq.create_table('d', name, FIELDS, **extra)
        self.assertEqual(status, 200, body)
        if rows:
            status, body = self.bq.insert('d', name, rows)
            self.assertEqual(status, 200, body)
            self.assertNotIn('insertErrors', body)

    def dml(self, sql, **kw):
        status, body = self.bq.query(sql, **kw)
        if status != 200:
            raise QueryFailed(status, body)
        self.assertTrue(body['jobComplete'])
        return body

    def ids(self, table='t'):
        return [int(r[0]) for r in self.bq.rows('SELECT id FROM d.%s ORDER BY id' % table)[0]]

    def test_delete_and_statistics(self):
        self.table('t', rows_of(5))
        body = self.dml('DELETE FROM d.t WHERE id > 3')
        self.assertEqual(body['numDmlAffectedRows'], '2')
        self.assertEqual(body['dmlStats'], {'deletedRowCount': '2'})
        self.assertNotIn('rows', body)
        self.assertEqual(self.ids(), [1, 2, 3])
        job = self.bq.call('GET', '/bigquery/v2/projects/p/jobs/%s'
                           % body['jobReference']['jobId'])[1]
        q = job['statistics']['query']
        self.assertEqual(q['statementType'], 'DELETE')
        self.assertEqual(q['numDmlAffectedRows'], '2')
        self.assertEqual(q['dmlStats'], {'deletedRowCount': '2'})
        self.assertGreater(int(q['totalBytesProcessed']), 0)
        res = self.bq.call('GET', '/bigquery/v2/projects/p/queries/%s'
                           % body['jobReference']['jobId'])[1]
        self.assertEqual(res['numDmlAffectedRows'], '2')
        self.assertNotIn('dmlStats', res)      # not a GetQueryResultsResponse member
        # numRows follows
        t = self.bq.call('GET', '/bigquery/v2/projects/p/datasets/d/tables/t')[1]
        self.assertEqual(t['numRows'], '3')
        # nothing matched: zero rows, not an error
        self.assertEqual(self.dml('DELETE d.t AS x WHERE x.id = 42')['numDmlAffectedRows'], '0')

    def test_update_values_and_types(self):
        self.table('t', rows_of(4))
        body = self.dml("UPDATE `p.d.t` AS x SET name = CONCAT(name, '!'), amount = 2, "
                        "price = @p, day = '2025-01-02' WHERE x.id IN UNNEST(@ids)",
                        parameterMode='NAMED', queryParameters=[
                            {'name': 'p', 'parameterType': {'type': 'NUMERIC'},
                             'parameterValue': {'value': '7.5'}},
                            {'name': 'ids', 'parameterType': {'type': 'ARRAY',
                                                              'arrayType': {'type': 'INT64'}},
                             'parameterValue': {'arrayValues': [{'value': '2'},
                                                                {'value': '3'}]}}])
        self.assertEqual(body['numDmlAffectedRows'], '2')
        self.assertEqual(body['dmlStats'], {'updatedRowCount': '2'})
        got = self.bq.rows('SELECT id, name, amount, price, day FROM d.t ORDER BY id')[0]
        self.assertEqual(got, [['1', 'n1', '1.5', '1.25', '2024-05-01'],
                               ['2', 'n2!', '2.0', '7.5', '2025-01-02'],
                               ['3', 'n3!', '2.0', '7.5', '2025-01-02'],
                               ['4', 'n4', '6.0', '4.25', '2024-05-04']])
        # a value per row, as a batch of keyed changes sends them
        self.dml('UPDATE d.t SET name = CASE WHEN id = @k1 THEN @v1 WHEN id = @k2 THEN @v2 '
                 'ELSE name END WHERE id IN (@k1, @k2)', parameterMode='NAMED',
                 queryParameters=[
                     {'name': n, 'parameterType': {'type': t}, 'parameterValue': {'value': v}}
                     for n, t, v in (('k1', 'INT64', '1'), ('v1', 'STRING', "o'; DROP --"),
                                     ('k2', 'INT64', '4'), ('v2', 'STRING', None))])
        got = self.bq.rows('SELECT id, name FROM d.t ORDER BY id')[0]
        self.assertEqual(got, [['1', "o'; DROP --"], ['2', 'n2!'], ['3', 'n3!'], ['4', None]])
        job = self.bq.call('GET', '/bigquery/v2/projects/p/jobs/%s'
                           % body['jobReference']['jobId'])[1]
        self.assertEqual(job['statistics']['query']['statementType'], 'UPDATE')

    def test_errors(self):
        self.table('t', rows_of(2))
        cases = [
            ('DELETE FROM d.t', 'DELETE must have a WHERE clause at [1:1]'),
            ('UPDATE d.t SET name = NULL', 'UPDATE must have a WHERE clause at [1:1]'),
            ("UPDATE d.t SET id = 'x' WHERE true",
             'Value of type STRING cannot be assigned to id, which has type INT64 at [1:16]'),
            ('UPDATE d.t SET price = 1.5 WHERE true',
             'Value of type FLOAT64 cannot be assigned to price, which has type NUMERIC at [1:16]'),
            ('UPDATE d.t SET nope = 1 WHERE true', 'Unrecognized name: nope at [1:16]'),
            ('UPDATE d.t SET name = NULL, name = NULL WHERE true',
             'Update item name overlaps with update item name at [1:29]'),
            ('UPDATE d.t SET id = NULL WHERE id = 1', 'Cannot set REQUIRED field id to NULL'),
        ]
        for sql, message in cases:
            with self.subTest(sql=sql):
                with self.assertRaises(QueryFailed) as cm:
                    self.dml(sql)
                self.assertEqual(cm.exception.status, 400)
                self.assertEqual(cm.exception.reason, 'invalidQuery')
                self.assertEqual(cm.exception.message, message)
        self.assertEqual(self.ids(), [1, 2])      # nothing changed by a failed statement
        # WHERE true changes every row
        self.assertEqual(self.dml('UPDATE d.t SET amount = 0 WHERE true')['numDmlAffectedRows'],
                         '2')

    def test_maximum_bytes_billed(self):
        self.table('t', rows_of(3))
        with self.assertRaises(QueryFailed) as cm:
            self.dml('DELETE FROM d.t WHERE id = 1', maximumBytesBilled='1000')
        self.assertEqual(cm.exception.reason, 'bytesBilledLimitExceeded')
        self.assertEqual(self.ids(), [1, 2, 3])

    def test_streaming_buffer(self):
        # rows streamed while the table's buffer time was 0 have left it at once
        self.table('t', rows_of(3), buffer_s=0)
        status, body = self.bq.call('PATCH', '/bigquery/v2/projects/p/datasets/d/tables/t',
                                    {'labels': {'emulator_streaming_buffer_s': '3600'}})
        self.assertEqual(status, 200, body)
        status, body = self.bq.insert('d', 't', [{'id': 10, 'name': 'fresh'}])
        self.assertEqual(status, 200, body)
        t = self.bq.call('GET', '/bigquery/v2/projects/p/datasets/d/tables/t')[1]
        self.assertEqual(t['streamingBuffer']['estimatedRows'], '1')
        self.assertEqual(t['numRows'], '3')
        # rows out of the buffer change; a statement touching a buffered one fails whole
        self.assertEqual(self.dml('DELETE FROM d.t WHERE id = 1')['numDmlAffectedRows'], '1')
        for sql in ("UPDATE d.t SET name = 'x' WHERE id >= 2",
                    'DELETE FROM d.t WHERE id = 10'):
            with self.subTest(sql=sql):
                with self.assertRaises(QueryFailed) as cm:
                    self.dml(sql)
                self.assertEqual(cm.exception.status, 400)
                self.assertEqual(cm.exception.message,
                                 'UPDATE or DELETE statement over table p.d.t would affect rows '
                                 'in the streaming buffer, which is not supported')
        self.assertEqual(self.ids(), [2, 3, 10])
        self.assertEqual(self.bq.rows('SELECT name FROM d.t WHERE id = 2')[0], [['n2']])

    def test_primary_key(self):
        status, body = self.bq.create_table('d', 'k', FIELDS, tableConstraints={
            'primaryKey': {'columns': ['NAME', 'id']}})
        self.assertEqual(status, 200, body)
        self.assertEqual(body['tableConstraints'], {'primaryKey': {'columns': ['name', 'id']}})
        got = self.bq.call('GET', '/bigquery/v2/projects/p/datasets/d/tables/k')[1]
        self.assertEqual(got['tableConstraints'], {'primaryKey': {'columns': ['name', 'id']}})
        status, body = self.bq.create_table('d', 'k2', FIELDS, tableConstraints={
            'primaryKey': {'columns': ['nope']}})
        self.assertEqual(status, 400)
        self.assertIn('nope', body['error']['message'])

    def test_views_refused(self):
        self.table('t', rows_of(1))
        self.dml('CREATE VIEW d.v AS SELECT id FROM d.t')
        with self.assertRaises(QueryFailed) as cm:
            self.dml('DELETE FROM d.v WHERE true')
        self.assertIn('Cannot execute DML statements over views', cm.exception.message)


if __name__ == '__main__':
    unittest.main()
