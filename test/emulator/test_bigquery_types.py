"""BigQuery emulator: the composite and special types (RECORD/STRUCT with nested and
repeated fields, GEOGRAPHY, BIGNUMERIC, INTERVAL, RANGE<DATE|DATETIME|TIMESTAMP>)
created through tables.insert, accepted by insertAll, and returned by jobs.query,
getQueryResults and tabledata.list in BigQuery's cell encoding."""

import unittest

try:
    from .test_bigquery_api import BigQueryCase
except ImportError:  # run from inside test/emulator
    from test_bigquery_api import BigQueryCase

FIELDS = [
    {'name': 'id', 'type': 'INTEGER', 'mode': 'REQUIRED'},
    {'name': 'rec', 'type': 'RECORD', 'fields': [
        {'name': 'name', 'type': 'STRING'},
        {'name': 'qty', 'type': 'INTEGER', 'mode': 'REQUIRED'},
        {'name': 'tags', 'type': 'STRING', 'mode': 'REPEATED'},
        {'name': 'inner', 'type': 'STRUCT', 'fields': [
            {'name': 'b', 'type': 'BYTES'},
            {'name': 'ts', 'type': 'TIMESTAMP'}]}]},
    {'name': 'items', 'type': 'RECORD', 'mode': 'REPEATED', 'fields': [
        {'name': 'sku', 'type': 'STRING'},
        {'name': 'price', 'type': 'NUMERIC'}]},
    {'name': 'geo', 'type': 'GEOGRAPHY'},
    {'name': 'big', 'type': 'BIGNUMERIC'},
    {'name': 'iv', 'type': 'INTERVAL'},
    {'name': 'rd', 'type': 'RANGE', 'rangeElementType': {'type': 'DATE'}},
    {'name': 'rdt', 'type': 'RANGE', 'rangeElementType': {'type': 'DATETIME'}},
    {'name': 'rts', 'type': 'RANGE', 'rangeElementType': {'type': 'TIMESTAMP'}},
]

BIG = '578960446186580977117854925043439539266.34992332820282019728792003956564819967'


class TypeTests(BigQueryCase):
    def setUp(self):
        self.ds = self.new_dataset()
        self.table = self.new_table(self.ds, FIELDS, name='typed')

    def test_schema_round_trip(self):
        fields = self.table['schema']['fields']
        rec = fields[1]
        self.assertEqual(rec['type'], 'RECORD')
        self.assertEqual(rec['mode'], 'NULLABLE')
        self.assertEqual([f['name'] for f in rec['fields']], ['name', 'qty', 'tags', 'inner'])
        self.assertEqual(rec['fields'][1], {'name': 'qty', 'type': 'INTEGER',
                                            'mode': 'REQUIRED'})
        self.assertEqual(rec['fields'][2], {'name': 'tags', 'type': 'STRING',
                                            'mode': 'REPEATED'})
        self.assertEqual(rec['fields'][3]['type'], 'RECORD')
        self.assertEqual(rec['fields'][3]['fields'][1],
                         {'name': 'ts', 'type': 'TIMESTAMP', 'mode': 'NULLABLE'})
        self.assertEqual(fields[2]['mode'], 'REPEATED')
        self.assertEqual(fields[2]['type'], 'RECORD')
        self.assertEqual(fields[3]['type'], 'GEOGRAPHY')
        self.assertEqual(fields[5]['type'], 'INTERVAL')
        self.assertEqual(fields[6], {'name': 'rd', 'type': 'RANGE', 'mode': 'NULLABLE',
                                     'rangeElementType': {'type': 'DATE'}})
        status, body = self.bq('GET', 'datasets/%s/tables/typed' % self.ds)
        self.assertEqual(body['schema']['fields'], fields)

    def test_bad_schemas(self):
        for f, msg in [
                ({'name': 'r', 'type': 'RECORD'}, 'has no schema'),
                ({'name': 'r', 'type': 'RANGE'}, 'rangeElementType'),
                ({'name': 'r', 'type': 'RANGE', 'rangeElementType': {'type': 'INT64'}},
                 'RANGE element type'),
                ({'name': 'r', 'type': 'STRING', 'fields': [{'name': 'a', 'type': 'STRING'}]},
                 'only RECORD fields')]:
            body = {'tableReference': {'projectId': 'p', 'datasetId': self.ds,
                                       'tableId': 'bad'}, 'schema': {'fields': [f]}}
            status, resp = self.bq('POST', 'datasets/%s/tables' % self.ds, body)
            self.assertEqual(status, 400, resp)
            self.assertIn(msg, resp['error']['message'])

    def test_values(self):
        rows = [
            {'id': 1,
             'rec': {'name': 'a "quoted" \\ name', 'qty': 3, 'tags': ['x', 'y'],
                     'inner': {'b': 'AAEC', 'ts': '2020-01-02T03:04:05.123456Z'}},
             'items': [{'sku': 's1', 'price': '1.5'}, {'sku': None, 'price': '-0.000000001'}],
             'geo': 'point(1.0 2.5)', 'big': BIG, 'iv': '-1-2 -3 -4:5:6.789',
             'rd': {'start': '2020-01-01', 'end': None},
             'rdt': '[2020-01-01 10:00:00, 2020-01-02T00:00:00.5)',
             'rts': {'start': None, 'end': '2020-01-01T00:00:00Z'}},
            {'id': 2},
            {'id': 3, 'rec': {'inner': None, 'qty': 0}, 'items': [], 'big': '-' + BIG,
             'iv': 'P1Y2M3DT4H5M6.5S', 'rd': '[UNBOUNDED, UNBOUNDED)',
             'geo': 'LINESTRING (0 0, 10.25 -20)'},
        ]
        status, body = self.insert(self.ds, rows, table='typed')
        self.assertEqual(status, 200, body)
        self.assertNotIn('insertErrors', body)
        cols = 'id, rec, items, geo, big, iv, rd, rdt, rts'
        q = self.values('SELECT %s FROM `%s.typed` ORDER BY id' % (cols, self.ds),
                        formatOptions={'useInt64Timestamp': True})
        status, listed = self.bq('GET', 'datasets/%s/tables/typed/data' % self.ds)
        self.assertEqual(status, 200, listed)
        r1 = q[0]
        self.assertEqual(r1[1], {'f': [
            {'v': 'a "quoted" \\ name'}, {'v': '3'},
            {'v': [{'v': 'x'}, {'v': 'y'}]},
            {'v': {'f': [{'v': 'AAEC'}, {'v': '1577934245123456'}]}}]})
        self.assertEqual(r1[2], [{'v': {'f': [{'v': 's1'}, {'v': '1.5'}]}},
                                 {'v': {'f': [{'v': None}, {'v': '-0.000000001'}]}}])
        self.assertEqual(r1[3], 'POINT(1 2.5)')
        self.assertEqual(r1[4], BIG)
        self.assertEqual(r1[5], '-1-2 -3 -4:5:6.789')
        self.assertEqual(r1[6], '[2020-01-01, UNBOUNDED)')
        self.assertEqual(r1[7], '[2020-01-01T10:00:00, 2020-01-02T00:00:00.500000)')
        self.assertEqual(r1[8], '[UNBOUNDED, 1577836800000000)')
        self.assertEqual(q[1], ['2', None, [], None, None, None, None, None, None])
        self.assertEqual(q[2][1], {'f': [{'v': None}, {'v': '0'}, {'v': []}, {'v': None}]})
        self.assertEqual(q[2][2], [])
        self.assertEqual(q[2][3], 'LINESTRING(0 0, 10.25 -20)')
        self.assertEqual(q[2][4], '-' + BIG)
        self.assertEqual(q[2][5], '1-2 3 4:5:6.5')
        self.assertEqual(q[2][6], '[UNBOUNDED, UNBOUNDED)')
        # tabledata.list encodes the same way (timestamps as float seconds by default)
        by_id = {r['f'][0]['v']: [c['v'] for c in r['f']] for r in listed['rows']}
        self.assertEqual(by_id['1'][1]['f'][3]['v']['f'][1]['v'], '1.577934245123456E9')
        self.assertEqual(by_id['1'][2], r1[2])
        self.assertEqual(by_id['3'][5], '1-2 3 4:5:6.5')
        # the result schema carries the nested fields
        status, body = self.query('SELECT rec, rts FROM `%s.typed`' % self.ds)
        self.assertEqual(body['schema']['fields'][0]['fields'][3]['fields'][0],
                         {'name': 'b', 'type': 'BYTES', 'mode': 'NULLABLE'})
        self.assertEqual(body['schema']['fields'][1]['rangeElementType'], {'type': 'TIMESTAMP'})

    def test_refused_values(self):
        cases = [
            ({'rec': {'nope': 1}}, 'rec.nope', 'no such field: nope.'),
            ({'rec': {'qty': 'x'}}, 'rec.qty', 'Cannot convert value to integer'),
            ({'rec': {'qty': 1, 'inner': {'b': '!!'}}}, 'rec.inner.b', 'base64'),
            ({'rec': {'name': 'no qty'}}, 'rec.qty', 'Missing required field: qty.'),
            ({'rec': 'text'}, 'rec', 'This field: rec is not a record.'),
            ({'items': [{'price': 'x'}]}, 'items.price', 'Invalid NUMERIC value'),
            ({'geo': 'POINT(200 0)'}, 'geo', 'Invalid geography value'),
            ({'geo': 'POINT(1)'}, 'geo', 'Invalid geography value'),
            ({'big': BIG[:-1] + '8'}, 'big', 'Invalid BIGNUMERIC value'),
            ({'big': '1' + BIG}, 'big', 'Invalid BIGNUMERIC value'),
            ({'iv': '1 day'}, 'iv', 'Invalid INTERVAL value'),
            ({'iv': '10001-0 0 0:0:0'}, 'iv', 'Invalid INTERVAL value'),
            ({'rd': {'start': '2020-01-02', 'end': '2020-01-01'}}, 'rd', 'Invalid RANGE value'),
            ({'rd': {'start': '2020-01-01', 'end': '2020-01-01'}}, 'rd', 'Invalid RANGE value'),
            ({'rd': '(2020-01-01, 2020-02-01)'}, 'rd', 'Invalid RANGE value'),
        ]
        for row, location, msg in cases:
            row = dict(row, id=9)
            status, body = self.insert(self.ds, [row], table='typed')
            self.assertEqual(status, 200, body)
            errs = body.get('insertErrors')
            self.assertTrue(errs, row)
            err = errs[0]['errors'][0]
            self.assertEqual(err['location'], location, (row, err))
            self.assertIn(msg, err['message'], (row, err))

    def test_bignumeric_exact_in_queries(self):
        status, body = self.insert(self.ds, [{'id': 1, 'big': '0.00000000000000000000000000000000000001'},
                                             {'id': 2, 'big': '-12345678901234567890123456789.123456789012345678901234567890123456789'}],
                                   table='typed')
        self.assertNotIn('insertErrors', body)
        # a REPEATED field left out of a row is stored empty, never NULL
        self.assertEqual(self.values('SELECT COUNT(items), COUNT(rec) FROM `%s.typed`'
                                     % self.ds), [['2', '0']])
        q = self.values('SELECT big FROM `%s.typed` ORDER BY big' % self.ds)
        # BigQuery keeps 38 digits after the point: the 39th rounds half away from zero
        self.assertEqual(q, [['-12345678901234567890123456789.12345678901234567890123456789012345679'],
                             ['0.00000000000000000000000000000000000001']])


if __name__ == '__main__':
    unittest.main()
