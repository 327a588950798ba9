"""The bigquerystorage service's Storage Read API, driven over real gRPC.

The BigQuery service runs in this process (rows go in through its REST handlers, as
insertAll and jobs.query clients send them) and the gRPC port of the
`bigquerystorage` service serves BigQueryRead on its tables. Client stubs use the
emulator's message classes; the Avro rows are decoded by an independent decoder
written here from the Avro specification, and one row is also compared with bytes
computed by hand. Checked: the schema of every type, every type's values, splitting
into streams, the snapshot, offsets, row restrictions, selected fields, errors,
SplitReadStream, query results through their destination table, fault injection
(injected statuses, a stream broken mid-way and resumed), block sizes, session expiry
through the emulator's clock.
"""

import argparse
import decimal
import json
import math
import struct
import threading
import unittest

import grpc

from emulator.core import clock
from emulator.core.counters import Counters
from emulator.core.faults import FaultInjector
from emulator.storage_api import read as R
from emulator.storage_api import read_messages as M
from emulator.storage_api import service as storage_service
from emulator.storage_api.server import GrpcPort
from test.emulator.bq_direct import DirectBigQuery
from test.emulator.helpers import EmulatorTestCase

decimal.getcontext().prec = 120
P = 'p'


# ---------------------------------------------------------------------- Avro decoding

class AvroReader:
    """Decodes Avro binary data against a parsed schema (the Avro 1.x specification)."""

    def __init__(self, data):
        self.data = data
        self.pos = 0

    def at_end(self):
        return self.pos >= len(self.data)

    def long(self):
        shift = acc = 0
        while True:
            b = self.data[self.pos]
            self.pos += 1
            acc |= (b & 0x7f) << shift
            shift += 7
            if b < 0x80:
                break
        return (acc >> 1) ^ -(acc & 1)

    def raw(self):
        n = self.long()
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def value(self, schema):
        if isinstance(schema, list):                  # union: branch index, then the value
            return self.value(schema[self.long()])
        if isinstance(schema, str):
            schema = {'type': schema}
        t = schema['type']
        if t == 'null':
            return None
        if t == 'boolean':
            self.pos += 1
            return self.data[self.pos - 1] == 1
        if t in ('int', 'long'):
            return self.long()
        if t == 'double':
            self.pos += 8
            return struct.unpack('<d', self.data[self.pos - 8:self.pos])[0]
        if t == 'bytes':
            b = self.raw()
            if schema.get('logicalType') == 'decimal':
                return decimal.Decimal(int.from_bytes(b, 'big', signed=True)).scaleb(
                    -schema['scale'])
            return b
        if t == 'string':
            return self.raw().decode('utf-8')
        if t == 'array':
            out = []
            while True:
                n = self.long()
                if n == 0:
                    return out
                if n < 0:                               # a block with its byte size
                    n = -n
                    self.long()
                out.extend(self.value(schema['items']) for _ in range(n))
        if t == 'record':
            return {f['name']: self.value(f['type']) for f in schema['fields']}
        raise AssertionError('unexpected Avro type %r' % t)


def decode_rows(schema_text, data, count):
    schema = json.loads(schema_text)
    r = AvroReader(data)
    rows = [r.value(schema) for _ in range(count)]
    assert r.at_end(), 'bytes left after %d rows' % count
    return rows


# ---------------------------------------------------------------------- harness

class ReadClient:
    def __init__(self, port):
        self.channel = grpc.insecure_channel('127.0.0.1:%d' % port)
        self._create = self.channel.unary_unary(
            M.CREATE_READ_SESSION, request_serializer=M.CreateReadSessionRequest.SerializeToString,
            response_deserializer=M.ReadSession.FromString)
        self._read = self.channel.unary_stream(
            M.READ_ROWS, request_serializer=M.ReadRowsRequest.SerializeToString,
            response_deserializer=M.ReadRowsResponse.FromString)
        self._split = self.channel.unary_unary(
            M.SPLIT_READ_STREAM, request_serializer=M.SplitReadStreamRequest.SerializeToString,
            response_deserializer=M.SplitReadStreamResponse.FromString)

    def session(self, table, max_streams=0, fields=(), restriction='', fmt=M.AVRO,
                parent='projects/' + P, preferred_min=0):
        req = M.CreateReadSessionRequest(parent=parent, max_stream_count=max_streams,
                                         preferred_min_stream_count=preferred_min)
        req.read_session.table = table if '/' in table else \
            'projects/%s/datasets/d/tables/%s' % (P, table)
        req.read_session.data_format = fmt
        req.read_session.read_options.selected_fields.extend(fields)
        if restriction:
            req.read_session.read_options.row_restriction = restriction
        return self._create(req, timeout=30)

    def responses(self, stream, offset=0):
        return list(self._read(M.ReadRowsRequest(read_stream=stream, offset=offset), timeout=30))

    def stream_rows(self, session, stream, offset=0):
        out = []
        for resp in self.responses(stream, offset):
            out.extend(decode_rows(session.avro_schema.schema,
                                   resp.avro_rows.serialized_binary_rows, resp.row_count))
        return out

    def all_rows(self, session):
        out = []
        for s in session.streams:
            out.extend(self.stream_rows(session, s.name))
        return out

    def split(self, name, fraction):
        return self._split(M.SplitReadStreamRequest(name=name, fraction=fraction), timeout=30)


class ReadApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.bq = DirectBigQuery(project=P)
        cls.bq.create_dataset('d')
        cls.counters = Counters()
        cls.storage = storage_service.BigQueryStorageService(argparse.Namespace(), None,
                                                             cls.counters)
        cls.storage.attach({'bigquery': cls.bq.svc})
        cls.faults = FaultInjector(seed=1)
        cls.port = GrpcPort(cls.storage, '127.0.0.1', 0, cls.counters, cls.faults)
        if 'emulator.storage_api.read' not in storage_service.APIS:
            R.register(cls.port.server, cls.storage).attach(cls.bq.svc)
        threading.Thread(target=cls.port.serve_forever, daemon=True).start()
        cls.client = ReadClient(cls.port.port)

    @classmethod
    def tearDownClass(cls):
        cls.client.channel.close()
        cls.port.shutdown()
        cls.bq.close()

    def tearDown(self):
        self.faults.clear()

    # ------------------------------------------------------------------ helpers
    def table(self, name, fields, rows=(), **extra):
        status, body = self.bq.create_table('d', name, fields, **extra)
        self.assertEqual(status, 200, body)
        for i in range(0, len(rows), 10000):
            status, body = self.bq.insert('d', name, rows[i:i + 10000])
            self.assertEqual(status, 200, body)
            self.assertNotIn('insertErrors', body)

    def numbers(self, name, n):
        self.table(name, [{'name': 'id', 'type': 'INTEGER', 'mode': 'REQUIRED'},
                          {'name': 's', 'type': 'STRING'}],
                   [{'id': i, 's': 'row %d' % i} for i in range(n)])

    def assertStatus(self, code, fn, *args, **kw):
        with self.assertRaises(grpc.RpcError) as cm:
            r = fn(*args, **kw)
            if hasattr(r, '__iter__') and not isinstance(r, (str, bytes)):
                list(r)
        self.assertEqual(cm.exception.code(), code, cm.exception.details())
        return cm.exception.details()

    # ------------------------------------------------------------------ schema and values
    ALL_FIELDS = [
        {'name': 'i', 'type': 'INTEGER', 'mode': 'REQUIRED'},
        {'name': 'f', 'type': 'FLOAT'},
        {'name': 'b', 'type': 'BOOLEAN'},
        {'name': 's', 'type': 'STRING'},
        {'name': 'y', 'type': 'BYTES'},
        {'name': 'n', 'type': 'NUMERIC'},
        {'name': 'bn', 'type': 'BIGNUMERIC'},
        {'name': 'ts', 'type': 'TIMESTAMP'},
        {'name': 'dt', 'type': 'DATE'},
        {'name': 'tm', 'type': 'TIME'},
        {'name': 'dtm', 'type': 'DATETIME'},
        {'name': 'g', 'type': 'GEOGRAPHY'},
        {'name': 'j', 'type': 'JSON'},
        {'name': 'arr', 'type': 'INTEGER', 'mode': 'REPEATED'},
        {'name': 'rec', 'type': 'RECORD', 'fields': [
            {'name': 'x', 'type': 'INTEGER', 'mode': 'REQUIRED'},
            {'name': 'tags', 'type': 'STRING', 'mode': 'REPEATED'},
            {'name': 'inner', 'type': 'RECORD', 'fields': [
                {'name': 'v', 'type': 'NUMERIC'}]}]},
    ]

    def test_schema_of_every_type(self):
        self.table('schema_types', self.ALL_FIELDS)
        s = self.client.session('schema_types')
        schema = json.loads(s.avro_schema.schema)
        self.assertEqual(schema['type'], 'record')
        self.assertEqual(schema['name'], '__root__')
        types = {f['name']: f['type'] for f in schema['fields']}
        self.assertEqual([f['name'] for f in schema['fields']],
                         [f['name'] for f in self.ALL_FIELDS])
        self.assertEqual(types['i'], 'long')                       # REQUIRED: no union
        self.assertEqual(types['f'], ['null', 'double'])
        self.assertEqual(types['b'], ['null', 'boolean'])
        self.assertEqual(types['s'], ['null', 'string'])
        self.assertEqual(types['y'], ['null', 'bytes'])
        self.assertEqual(types['n'], ['null', {'type': 'bytes', 'logicalType': 'decimal',
                                               'precision': 38, 'scale': 9}])
        self.assertEqual(types['bn'], ['null', {'type': 'bytes', 'logicalType': 'decimal',
                                                'precision': 77, 'scale': 38}])
        self.assertEqual(types['ts'], ['null', {'type': 'long',
                                                'logicalType': 'timestamp-micros'}])
        self.assertEqual(types['dt'], ['null', {'type': 'int', 'logicalType': 'date'}])
        self.assertEqual(types['tm'], ['null', {'type': 'long', 'logicalType': 'time-micros'}])
        self.assertEqual(types['dtm'], ['null', {'type': 'string', 'logicalType': 'datetime'}])
        self.assertEqual(types['g'], ['null', {'type': 'string', 'sqlType': 'GEOGRAPHY'}])
        self.assertEqual(types['j'], ['null', {'type': 'string', 'sqlType': 'JSON'}])
        self.assertEqual(types['arr'], {'type': 'array', 'items': 'long'})
        rec = types['rec'][1]
        self.assertEqual(types['rec'][0], 'null')
        self.assertEqual((rec['type'], rec['name']), ('record', 'rec'))
        inner = {f['name']: f['type'] for f in rec['fields']}
        self.assertEqual(inner['x'], 'long')
        self.assertEqual(inner['tags'], {'type': 'array', 'items': 'string'})
        self.assertEqual(inner['inner'][1]['fields'][0]['type'][1]['logicalType'], 'decimal')
        # nested record names are unique within the schema (Avro requires it)
        self.assertNotEqual(rec.get('namespace'), inner['inner'][1].get('namespace'))
        self.assertEqual(s.estimated_row_count, 0)
        self.assertEqual(len(s.streams), 0)                       # an empty table

    def test_every_type_decoded(self):
        row = {'i': -5, 'f': 1.5, 'b': True, 's': 'h\u00e9llo \u2713', 'y': 'AP9hYg==',
               'n': '-12.5', 'bn': '1.00000000000000000000000000000000000001',
               'ts': '2024-01-02T03:04:05.123456Z', 'dt': '2024-01-02', 'tm': '12:34:56.5',
               'dtm': '2024-01-02 03:04:05.25', 'g': 'POINT(1 2)', 'j': '{"a": [1, 2]}',
               'arr': [1, -2, 300000], 'rec': {'x': 7, 'tags': ['a', 'b'],
                                               'inner': {'v': '0.000000001'}}}
        nulls = {'i': 0, 'arr': [], 'rec': {'x': 1}}
        special = {'i': 1, 'f': 'NaN', 'rec': {'x': 2, 'inner': None}}
        inf = {'i': 2, 'f': '-Infinity', 'n': '99999999999999999999999999999.999999999'}
        self.table('all_types', self.ALL_FIELDS, [row, nulls, special, inf])
        s = self.client.session('all_types')
        got = self.client.all_rows(s)
        self.assertEqual(len(got), 4)
        a, b, c, d = got
        ts = ((19724 * 86400 + 3 * 3600 + 4 * 60 + 5) * 1000000) + 123456
        self.assertEqual(a, {
            'i': -5, 'f': 1.5, 'b': True, 's': 'h\u00e9llo \u2713', 'y': b'\x00\xffab',
            'n': decimal.Decimal('-12.5'),
            'bn': decimal.Decimal('1.00000000000000000000000000000000000001'),
            'ts': ts, 'dt': 19724, 'tm': (12 * 3600 + 34 * 60 + 56) * 1000000 + 500000,
            'dtm': '2024-01-02T03:04:05.250000', 'g': 'POINT(1 2)', 'j': '{"a":[1,2]}',
            'arr': [1, -2, 300000],
            'rec': {'x': 7, 'tags': ['a', 'b'], 'inner': {'v': decimal.Decimal('1E-9')}}})
        self.assertEqual(b, {'i': 0, 'f': None, 'b': None, 's': None, 'y': None, 'n': None,
                             'bn': None, 'ts': None, 'dt': None, 'tm': None, 'dtm': None,
                             'g': None, 'j': None, 'arr': [],
                             'rec': {'x': 1, 'tags': [], 'inner': None}})
        self.assertTrue(math.isnan(c['f']))
        self.assertEqual(c['rec'], {'x': 2, 'tags': [], 'inner': None})
        self.assertEqual(d['f'], -math.inf)
        self.assertEqual(d['n'], decimal.Decimal('99999999999999999999999999999.999999999'))

    def test_bytes_by_hand(self):
        # id 1 (REQUIRED long: zig-zag 2), s 'a' (union branch 1, length 1 -> 2, 'a'),
        # n NULL (union branch 0); then id -3 (zig-zag 5), s '' , n 1.28 (unscaled
        # 1280000000 = 0x4C4B4000, four bytes, length 4 -> 8)
        self.table('by_hand', [{'name': 'id', 'type': 'INTEGER', 'mode': 'REQUIRED'},
                               {'name': 's', 'type': 'STRING'},
                               {'name': 'n', 'type': 'NUMERIC'}],
                   [{'id': 1, 's': 'a'}, {'id': -3, 's': '', 'n': '1.28'}])
        s = self.client.session('by_hand')
        (resp,) = self.client.responses(s.streams[0].name)
        self.assertEqual(resp.avro_rows.serialized_binary_rows,
                         b'\x02\x02\x02a\x00' + b'\x05\x02\x00\x02\x08\x4c\x4b\x40\x00')
        self.assertEqual(resp.row_count, 2)
        self.assertEqual(resp.avro_rows.row_count, 2)
        self.assertEqual(resp.avro_schema.schema, s.avro_schema.schema)
        self.assertEqual(resp.stats.progress.at_response_start, 0.0)
        self.assertEqual(resp.stats.progress.at_response_end, 1.0)

    # ------------------------------------------------------------------ streams
    def test_streams_split_the_rows(self):
        self.numbers('split10', 10)
        s = self.client.session('split10', max_streams=3)
        self.assertEqual(len(s.streams), 3)
        self.assertEqual(s.estimated_row_count, 10)
        self.assertGreater(s.estimated_total_bytes_scanned, 0)
        per = [[r['id'] for r in self.client.stream_rows(s, st.name)] for st in s.streams]
        self.assertTrue(all(per), per)                             # no stream is empty
        self.assertEqual(sum(per, []), list(range(10)))            # in order, each once
        self.assertEqual(len(self.client.session('split10', max_streams=100).streams), 10)
        self.assertEqual(len(self.client.session('split10').streams), 1)   # server decides
        self.assertEqual(len(self.client.session('split10', preferred_min=4).streams), 4)
        self.assertEqual(s.data_format, M.AVRO)
        self.assertTrue(s.name.startswith('projects/%s/locations/us/sessions/' % P), s.name)
        self.assertTrue(all(st.name.startswith(s.name + '/streams/') for st in s.streams))
        life = s.expire_time.seconds - clock.time()
        self.assertTrue(6 * 3600 - 60 < life <= 6 * 3600, life)

    def test_snapshot_at_session_creation(self):
        self.numbers('snap', 5)
        s = self.client.session('snap', max_streams=2)
        status, body = self.bq.insert('d', 'snap', [{'id': 100 + i} for i in range(5)])
        self.assertEqual(status, 200, body)
        self.assertEqual([r['id'] for r in self.client.all_rows(s)], list(range(5)))
        later = self.client.session('snap')
        self.assertEqual(len(self.client.all_rows(later)), 10)

    def test_offsets(self):
        self.numbers('offs', 7)
        s = self.client.session('offs')
        name = s.streams[0].name
        for k in range(8):
            self.assertEqual([r['id'] for r in self.client.stream_rows(s, name, k)],
                             list(range(k, 7)))
        resp = self.client.responses(name, 3)[0]
        self.assertAlmostEqual(resp.stats.progress.at_response_start, 3 / 7.0)
        self.assertEqual(resp.stats.progress.at_response_end, 1.0)
        self.assertEqual(self.client.responses(name, 7), [])
        self.assertIn('offset 8', self.assertStatus(grpc.StatusCode.OUT_OF_RANGE,
                                                    self.client.responses, name, 8))
        self.assertStatus(grpc.StatusCode.INVALID_ARGUMENT, self.client.responses, name, -1)

    def test_split_read_stream(self):
        self.numbers('splitme', 10)
        s = self.client.session('splitme')
        name = s.streams[0].name
        out = self.client.split(name, 0.3)
        first = [r['id'] for r in self.client.stream_rows(s, out.primary_stream.name)]
        rest = [r['id'] for r in self.client.stream_rows(s, out.remainder_stream.name)]
        self.assertEqual(first, [0, 1, 2])
        self.assertEqual(rest, list(range(3, 10)))
        self.assertEqual(len(self.client.stream_rows(s, name)), 10)   # the original is whole
        one = self.client.session('splitme', restriction='id = 4')
        tiny = self.client.split(self.client.split(one.streams[0].name, 0.5)
                                 .primary_stream.name, 0.5)
        self.assertTrue(tiny.HasField('primary_stream'))
        self.assertStatus(grpc.StatusCode.INVALID_ARGUMENT, self.client.split, name, 1.5)
        self.numbers('splitone', 1)
        lone = self.client.session('splitone')
        none = self.client.split(lone.streams[0].name, 0.5)      # too small: no streams
        self.assertFalse(none.HasField('primary_stream'))
        self.assertFalse(none.HasField('remainder_stream'))

    def test_blocks_are_bounded(self):
        big = 'x' * 3000
        self.table('wide', [{'name': 'id', 'type': 'INTEGER'}, {'name': 's', 'type': 'STRING'}],
                   [{'id': i, 's': big} for i in range(2500)])
        s = self.client.session('wide')
        resps = self.client.responses(s.streams[0].name)
        self.assertGreater(len(resps), 3)
        self.assertTrue(all(len(r.avro_rows.serialized_binary_rows) < 4 << 20 for r in resps))
        self.assertEqual(sum(r.row_count for r in resps), 2500)
        ends = [r.stats.progress.at_response_end for r in resps]
        self.assertEqual(ends, sorted(ends))
        self.assertEqual(ends[-1], 1.0)
        self.assertTrue(resps[0].avro_schema.schema)
        self.assertFalse(resps[1].HasField('avro_schema'))       # the first response only

    def test_repeated_reads_see_changes(self):
        # blocks of a repeated read may come from the emulator's cache: a change to the
        # table (DML here, inserts alike) must show in the next session all the same
        self.table('changing', [{'name': 'id', 'type': 'INTEGER'}, {'name': 's', 'type': 'STRING'}],
                   [{'id': i, 's': 'old'} for i in range(5)],
                   labels={'emulator_streaming_buffer_s': '0'})
        first = self.client.session('changing')
        self.assertEqual([r['s'] for r in self.client.all_rows(first)], ['old'] * 5)
        self.assertEqual([r['s'] for r in self.client.all_rows(first)], ['old'] * 5)
        self.assertGreater(self.counters.get('read_blocks_cached'), 0)
        status, body = self.bq.query("UPDATE d.changing SET s = 'new' WHERE id = 2")
        self.assertEqual(status, 200, body)
        again = self.client.session('changing')
        self.assertEqual([r['s'] for r in self.client.all_rows(again)],
                         ['old', 'old', 'new', 'old', 'old'])
        status, body = self.bq.query('DELETE FROM d.changing WHERE id = 0')
        self.assertEqual(status, 200, body)
        gaps = self.client.session('changing', max_streams=2)    # rowids now have a gap
        self.assertEqual([r['id'] for r in self.client.all_rows(gaps)], [1, 2, 3, 4])
        self.assertEqual(gaps.estimated_row_count, 4)

    # ------------------------------------------------------------------ options
    def test_selected_fields(self):
        self.table('sel', [{'name': 'a', 'type': 'INTEGER'}, {'name': 'b', 'type': 'STRING'},
                           {'name': 'c', 'type': 'FLOAT'}], [{'a': 1, 'b': 'x', 'c': 2.5}])
        s = self.client.session('sel', fields=['c', 'A'])
        self.assertEqual([f['name'] for f in json.loads(s.avro_schema.schema)['fields']],
                         ['a', 'c'])                              # table order, its spelling
        self.assertEqual(self.client.all_rows(s), [{'a': 1, 'c': 2.5}])
        self.assertEqual(list(s.read_options.selected_fields), ['c', 'A'])
        msg = self.assertStatus(grpc.StatusCode.INVALID_ARGUMENT, self.client.session, 'sel',
                                fields=['a', 'nope'])
        self.assertIn('nope', msg)

    def test_row_restriction(self):
        self.table('restr', [{'name': 'id', 'type': 'INTEGER'}, {'name': 's', 'type': 'STRING'},
                             {'name': 'ts', 'type': 'TIMESTAMP'}],
                   [{'id': i, 's': 'even' if i % 2 == 0 else 'odd',
                     'ts': '2024-01-%02dT00:00:00Z' % (i + 1)} for i in range(20)])
        s = self.client.session('restr', max_streams=3,
                                restriction="s = 'even' AND id >= 4 OR id = 19")
        self.assertEqual(sorted(r['id'] for r in self.client.all_rows(s)),
                         [4, 6, 8, 10, 12, 14, 16, 18, 19])
        s = self.client.session('restr', restriction="ts < TIMESTAMP '2024-01-04' AND s LIKE 'e%'",
                                fields=['id'])
        self.assertEqual(self.client.all_rows(s), [{'id': 0}, {'id': 2}])
        self.assertEqual(s.read_options.row_restriction,
                         "ts < TIMESTAMP '2024-01-04' AND s LIKE 'e%'")
        # an offset counts the rows the restriction keeps
        s = self.client.session('restr', restriction='MOD(id, 5) = 0')
        self.assertEqual([r['id'] for r in self.client.stream_rows(s, s.streams[0].name, 2)],
                         [10, 15])
        self.assertStatus(grpc.StatusCode.OUT_OF_RANGE, self.client.responses,
                          s.streams[0].name, 5)
        msg = self.assertStatus(grpc.StatusCode.INVALID_ARGUMENT, self.client.session, 'restr',
                                restriction='nope > 1')
        self.assertEqual(msg, 'request failed: Query error: Unrecognized name: nope at [1:1]')
        msg = self.assertStatus(grpc.StatusCode.INVALID_ARGUMENT, self.client.session, 'restr',
                                restriction='id >')
        self.assertTrue(msg.startswith('request failed: Query error: Syntax error:'), msg)
        self.assertIn('[1:5]', msg)
        self.assertStatus(grpc.StatusCode.INVALID_ARGUMENT, self.client.session, 'restr',
                          restriction='id > 1 ORDER BY id')
        self.assertStatus(grpc.StatusCode.INVALID_ARGUMENT, self.client.session, 'restr',
                          restriction="s")                        # not a BOOL
        self.assertStatus(grpc.StatusCode.INVALID_ARGUMENT, self.client.session, 'restr',
                          restriction='COUNT(*) > 1')

    def test_partition_filter_required(self):
        self.table('parted', [{'name': 'id', 'type': 'INTEGER'},
                              {'name': 'ts', 'type': 'TIMESTAMP'}],
                   [{'id': 1, 'ts': '2024-01-01T00:00:00Z'}],
                   timePartitioning={'type': 'DAY', 'field': 'ts'},
                   requirePartitionFilter=True)
        msg = self.assertStatus(grpc.StatusCode.INVALID_ARGUMENT, self.client.session, 'parted')
        self.assertIn('without a filter over column(s) \'ts\'', msg)
        s = self.client.session('parted', restriction="ts >= TIMESTAMP '2024-01-01'")
        self.assertEqual(self.client.all_rows(s), [{'id': 1, 'ts': 1704067200000000}])

    # ------------------------------------------------------------------ errors
    def test_errors(self):
        self.numbers('errs', 3)
        c = self.client
        self.assertEqual(self.assertStatus(grpc.StatusCode.NOT_FOUND, c.session, 'nosuch'),
                         'Not found: Table %s:d.nosuch' % P)
        self.assertStatus(grpc.StatusCode.NOT_FOUND, c.session,
                          'projects/%s/datasets/nods/tables/t' % P)
        self.assertStatus(grpc.StatusCode.INVALID_ARGUMENT, c.session, 'projects/p/tables/t')
        self.assertStatus(grpc.StatusCode.INVALID_ARGUMENT, c.session, 'errs', parent='')
        self.assertStatus(grpc.StatusCode.INVALID_ARGUMENT, c.session, 'errs', parent='p')
        self.assertEqual(self.assertStatus(grpc.StatusCode.INVALID_ARGUMENT, c.session, 'errs',
                                           fmt=M.DATA_FORMAT_UNSPECIFIED),
                         'request failed: data format unspecified')
        self.assertStatus(grpc.StatusCode.UNIMPLEMENTED, c.session, 'errs', fmt=M.ARROW)
        self.assertStatus(grpc.StatusCode.INVALID_ARGUMENT, c.session, 'errs', max_streams=-1)
        status, body = self.bq.query('CREATE VIEW d.errs_view AS SELECT id FROM d.errs')
        self.assertEqual(status, 200, body)
        msg = self.assertStatus(grpc.StatusCode.INVALID_ARGUMENT, c.session, 'errs_view')
        self.assertIn('non-table entities cannot be read with the storage API', msg)
        status, body = self.bq.query('CREATE MATERIALIZED VIEW d.errs_mv AS '
                                     'SELECT id, COUNT(*) AS n FROM d.errs GROUP BY id')
        self.assertEqual(status, 200, body)
        self.assertStatus(grpc.StatusCode.INVALID_ARGUMENT, c.session, 'errs_mv')
        self.assertStatus(grpc.StatusCode.INVALID_ARGUMENT, c.session, 'errs',
                          restriction='x' * ((1 << 20) + 1))
        # streams
        s = c.session('errs')
        self.assertStatus(grpc.StatusCode.NOT_FOUND, c.responses, s.name + '/streams/nosuch')
        self.assertStatus(grpc.StatusCode.INVALID_ARGUMENT, c.responses, 'garbage')
        self.assertStatus(grpc.StatusCode.INVALID_ARGUMENT, c.responses, '')

    def test_dropped_table(self):
        self.numbers('dropme', 3)
        s = self.client.session('dropme')
        status, _ = self.bq.call('DELETE', '/bigquery/v2/projects/%s/datasets/d/tables/dropme' % P)
        self.assertEqual(status, 204)
        self.assertStatus(grpc.StatusCode.NOT_FOUND, self.client.responses, s.streams[0].name)

    # ------------------------------------------------------------------ query results
    def test_query_destination_table(self):
        self.numbers('qsrc', 50)
        status, body = self.bq.query('SELECT id * 2 AS twice, s FROM d.qsrc WHERE id < 20 '
                                     'ORDER BY id DESC')
        self.assertEqual(status, 200, body)
        job_id = body['jobReference']['jobId']
        status, job = self.bq.call('GET', '/bigquery/v2/projects/%s/jobs/%s' % (P, job_id))
        self.assertEqual(status, 200, job)
        dest = job['configuration']['query']['destinationTable']
        self.assertEqual(dest['projectId'], P)
        self.assertTrue(dest['datasetId'].startswith('_'), dest)
        self.assertTrue(dest['tableId'].startswith('anon'), dest)
        path = 'projects/%s/datasets/%s/tables/%s' % (P, dest['datasetId'], dest['tableId'])
        s = self.client.session(path, max_streams=3)
        self.assertEqual(len(s.streams), 3)
        rows = self.client.all_rows(s)
        self.assertEqual(rows, [{'twice': 2 * i, 's': 'row %d' % i} for i in range(19, -1, -1)])
        s = self.client.session(path, fields=['s'])
        self.assertEqual(self.client.stream_rows(s, s.streams[0].name, 18),
                         [{'s': 'row 1'}, {'s': 'row 0'}])
        # tables.get of the result table answers its schema, as BigQuery's does
        status, t = self.bq.call('GET', '/bigquery/v2/projects/%s/datasets/%s/tables/%s'
                                 % (P, dest['datasetId'], dest['tableId']))
        self.assertEqual(status, 200, t)
        self.assertEqual([f['name'] for f in t['schema']['fields']], ['twice', 's'])
        self.assertEqual(t['numRows'], '20')

    # ------------------------------------------------------------------ faults
    def test_injected_status(self):
        self.numbers('faulty', 3)
        s = self.client.session('faulty')
        self.faults.set({'error_rate': 1, 'error_codes': [503], 'methods': ['ReadRows'],
                         'count': 1})
        self.assertStatus(grpc.StatusCode.UNAVAILABLE, self.client.responses, s.streams[0].name)
        self.assertEqual(len(self.client.stream_rows(s, s.streams[0].name)), 3)
        self.faults.set({'error_rate': 1, 'error_codes': [429], 'methods': ['CreateReadSession'],
                         'count': 1})
        self.assertStatus(grpc.StatusCode.RESOURCE_EXHAUSTED, self.client.session, 'faulty')
        self.assertEqual(len(self.client.session('faulty').streams), 1)

    def test_stream_broken_midway_and_resumed(self):
        n = 5000
        self.numbers('breaking', n)
        status, body = self.bq.call(
            'PATCH', '/bigquery/v2/projects/%s/datasets/d/tables/breaking' % P,
            {'labels': {'emulator_read_breaks': '2', 'emulator_read_break_after': '1'}})
        self.assertEqual(status, 200, body)
        s = self.client.session('breaking')
        name = s.streams[0].name
        broken_before = self.counters.get('read_streams_broken')
        sent_before = self.counters.get('read_rows_sent')
        got = []
        breaks = 0
        while True:
            try:
                for resp in self.client._read(M.ReadRowsRequest(read_stream=name,
                                                                offset=len(got)), timeout=30):
                    got.extend(decode_rows(s.avro_schema.schema,
                                           resp.avro_rows.serialized_binary_rows,
                                           resp.row_count))
                break
            except grpc.RpcError as e:
                self.assertEqual(e.code(), grpc.StatusCode.UNAVAILABLE)
                breaks += 1
                self.assertLess(breaks, 5)
        self.assertEqual(breaks, 2)
        self.assertEqual([r['id'] for r in got], list(range(n)))   # each row once, in order
        self.assertEqual(self.counters.get('read_streams_broken') - broken_before, 2)
        # only what reached the reader counts as sent
        self.assertEqual(self.counters.get('read_rows_sent') - sent_before, n)

    def test_lost_answer_breaks_after_first_block(self):
        self.numbers('lossy', 3000)
        s = self.client.session('lossy')
        self.faults.set({'lost_rate': 1, 'methods': ['ReadRows'], 'count': 1})
        got = []
        with self.assertRaises(grpc.RpcError) as cm:
            for resp in self.client._read(M.ReadRowsRequest(read_stream=s.streams[0].name),
                                          timeout=30):
                got.append(resp.row_count)
        self.assertEqual(cm.exception.code(), grpc.StatusCode.UNAVAILABLE)
        self.assertEqual(len(got), 1)
        rest = self.client.stream_rows(s, s.streams[0].name, got[0])
        self.assertEqual(got[0] + len(rest), 3000)


class ReadProcessTest(EmulatorTestCase):
    """The Read API as `python3 -m emulator` serves it: on the bigquerystorage port of a
    real process, next to the Write API, expiring with the emulator's clock."""

    services = ('bigquery', 'bigquerystorage')

    def test_read_from_the_process_and_expiry(self):
        base = '/bigquery/v2/projects/%s' % P
        self.assertEqual(self.call('POST', base + '/datasets',
                                   {'datasetReference': {'projectId': P, 'datasetId': 'd'}},
                                   service='bigquery')[0], 200)
        self.assertEqual(self.call('POST', base + '/datasets/d/tables', {
            'tableReference': {'projectId': P, 'datasetId': 'd', 'tableId': 't'},
            'schema': {'fields': [{'name': 'id', 'type': 'INTEGER'}]}}, service='bigquery')[0], 200)
        self.assertEqual(self.call('POST', base + '/datasets/d/tables/t/insertAll',
                                   {'rows': [{'json': {'id': i}} for i in range(3)]},
                                   service='bigquery')[0], 200)
        client = ReadClient(self.emu.ports['bigquerystorage'])
        try:
            s = client.session('t')
            self.assertEqual([r['id'] for r in client.all_rows(s)], [0, 1, 2])
            status, counters = self.call('GET', '/emulator/bigquerystorage/counters',
                                         service='bigquery')
            self.assertEqual(status, 200, counters)
            self.assertEqual(counters['read_sessions'], 1)
            self.assertEqual(counters['read_rows_sent'], 3)
            self.assertEqual(counters['requests']['ReadRows'], 1)
            # six hours on, the session has expired
            status, _ = self.call('POST', '/emulator/clock', {'advance_s': 6 * 3600 + 1},
                                  service='bigquery')
            self.assertEqual(status, 200)
            with self.assertRaises(grpc.RpcError) as cm:
                client.responses(s.streams[0].name)
            self.assertEqual(cm.exception.code(), grpc.StatusCode.FAILED_PRECONDITION)
            self.assertIn('expired', cm.exception.details())
            client.session('t')         # a new session is fine, the old one stays expired
            with self.assertRaises(grpc.RpcError) as cm:
                client.responses(s.streams[0].name)
            self.assertEqual(cm.exception.code(), grpc.StatusCode.FAILED_PRECONDITION)
        finally:
            client.channel.close()


if __name__ == '__main__':
    unittest.main()
