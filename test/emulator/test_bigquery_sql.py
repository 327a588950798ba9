"""BigQuery emulator: the GoogleSQL subset, called in process (no HTTP).

A table of query -> expected rows (and result types) over a small fixture,
string-literal escaping edge cases, NULL ordering, typing rules, runtime and
analysis errors, unsupported constructs (invalidQuery naming what is missing),
and encodings of every type.
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
    {'name': 'ts', 'type': 'TIMESTAMP'},
    {'name': 'day', 'type': 'DATE'},
    {'name': 'flag', 'type': 'BOOLEAN'},
    {'name': 'tags', 'type': 'STRING', 'mode': 'REPEATED'},
]

ROWS = [
    {'id': 1, 'name': 'alice', 'amount': 10.5, 'price': '0.1', 'ts': '2024-05-01T10:00:00Z',
     'day': '2024-05-01', 'flag': True, 'tags': ['a', 'b']},
    {'id': 2, 'name': 'Bob', 'amount': 20, 'price': '0.2', 'ts': '2024-05-01T23:59:59.999999Z',
     'day': '2024-05-01', 'flag': False, 'tags': []},
    {'id': 3, 'name': 'carol', 'amount': None, 'price': '0.3', 'ts': '2024-05-02 00:00:00',
     'day': '2024-05-02', 'flag': None},
    {'id': 4, 'name': None, 'amount': -1.25, 'price': '12345678901234567890.123456789',
     'ts': 1714680000.5, 'day': '2024-05-03', 'flag': True, 'tags': ['c']},
    {'id': 5, 'name': 'alice', 'amount': 3, 'price': None, 'ts': None, 'day': None,
     'flag': False},
]

T = 'd.t'

# (query, expected rows, expected result types or None)
CASES = [
    # projection, aliases, literals
    ('SELECT id, name FROM d.t WHERE id <= 2 ORDER BY id', [['1', 'alice'], ['2', 'Bob']],
     ['INTEGER', 'STRING']),
    ('SELECT t.id AS x FROM `p.d.t` AS t WHERE t.id = 3', [['3']], ['INTEGER']),
    ('SELECT id FROM `p`.`d`.`t` WHERE id = 3', [['3']], None),
    ('SELECT DISTINCT name FROM d.t WHERE name IS NOT NULL ORDER BY name',
     [['Bob'], ['alice'], ['carol']], None),
    # NULL ordering: NULLs first ascending, last descending, and explicit
    ('SELECT amount FROM d.t ORDER BY amount', [[None], ['-1.25'], ['3.0'], ['10.5'],
                                                 ['20.0']], ['FLOAT']),
    ('SELECT amount FROM d.t ORDER BY amount DESC', [['20.0'], ['10.5'], ['3.0'], ['-1.25'],
                                                      [None]], None),
    ('SELECT amount FROM d.t ORDER BY amount ASC NULLS LAST', [['-1.25'], ['3.0'], ['10.5'],
                                                                ['20.0'], [None]], None),
    ('SELECT amount FROM d.t ORDER BY amount DESC NULLS FIRST',
     [[None], ['20.0'], ['10.5'], ['3.0'], ['-1.25']], None),
    ('SELECT name FROM d.t ORDER BY name DESC LIMIT 2 OFFSET 1', [['alice'], ['alice']], None),
    # predicates
    ("SELECT id FROM d.t WHERE name LIKE 'a%' ORDER BY id", [['1'], ['5']], None),
    ("SELECT id FROM d.t WHERE name LIKE 'A%'", [], None),   # LIKE is case-sensitive
    ("SELECT id FROM d.t WHERE name NOT LIKE '%o%' ORDER BY id", [['1'], ['5']], None),
    ('SELECT id FROM d.t WHERE id IN (2, 4, 9) ORDER BY id', [['2'], ['4']], None),
    ('SELECT id FROM d.t WHERE id NOT IN (2, 4) ORDER BY id', [['1'], ['3'], ['5']], None),
    ('SELECT id FROM d.t WHERE id BETWEEN 2 AND 3 ORDER BY id', [['2'], ['3']], None),
    ('SELECT id FROM d.t WHERE amount IS NULL OR NOT flag ORDER BY id',
     [['2'], ['3'], ['5']], None),
    ('SELECT id FROM d.t WHERE flag IS TRUE ORDER BY id', [['1'], ['4']], None),
    ("SELECT id FROM d.t WHERE ts >= '2024-05-02' ORDER BY id", [['3'], ['4']], None),
    ("SELECT id FROM d.t WHERE ts < TIMESTAMP '2024-05-02 00:00:00+00' ORDER BY id",
     [['1'], ['2']], None),
    ("SELECT id FROM d.t WHERE day = DATE '2024-05-01' ORDER BY id", [['1'], ['2']], None),
    ("SELECT id FROM d.t WHERE price > 0.15 ORDER BY id", [['2'], ['3'], ['4']], None),
    ("SELECT id FROM d.t WHERE price > NUMERIC '10' ORDER BY id", [['4']], None),
    ("SELECT id FROM d.t WHERE 'b' IN UNNEST(tags)", [['1']], None),
    # arithmetic and typing
    ('SELECT 7 / 2, 7 - 2, 7 * 2.0, DIV(7, 2), MOD(-7, 2), -id FROM d.t WHERE id = 1',
     [['3.5', '5', '14.0', '3', '-1', '-1']],
     ['FLOAT', 'INTEGER', 'FLOAT', 'INTEGER', 'INTEGER', 'INTEGER']),
    ('SELECT price + 1, price * 2, price / 3 FROM d.t WHERE id = 1',
     [['1.1', '0.2', '0.033333333']], ['NUMERIC', 'NUMERIC', 'NUMERIC']),
    ("SELECT NUMERIC '0.1' + NUMERIC '0.2', 0.1 + 0.2", [['0.3', '0.30000000000000004']],
     ['NUMERIC', 'FLOAT']),
    # aggregates
    ('SELECT COUNT(*), COUNT(name), COUNT(DISTINCT name), SUM(id), AVG(id), MIN(name), '
     'MAX(ts), COUNTIF(flag), SUM(price), AVG(price), MIN(price), MAX(amount) FROM d.t',
     [['5', '4', '3', '15', '3.0', 'Bob', '1.7146800005E9', '2',
       '12345678901234567890.723456789', '3086419725308641972.680864197', '0.1', '20.0']],
     ['INTEGER', 'INTEGER', 'INTEGER', 'INTEGER', 'FLOAT', 'STRING', 'TIMESTAMP', 'INTEGER',
      'NUMERIC', 'NUMERIC', 'NUMERIC', 'FLOAT']),
    ('SELECT SUM(amount) FROM d.t', [['32.25']], ['FLOAT']),
    ('SELECT name, COUNT(*) AS n FROM d.t GROUP BY name ORDER BY n DESC, name',
     [['alice', '2'], [None, '1'], ['Bob', '1'], ['carol', '1']], None),
    ('SELECT name, COUNT(*) FROM d.t GROUP BY 1 HAVING COUNT(*) > 1', [['alice', '2']], None),
    ('SELECT LOWER(name) AS n, SUM(id) FROM d.t WHERE name IS NOT NULL GROUP BY n ORDER BY 2',
     [['bob', '2'], ['carol', '3'], ['alice', '6']], None),
    ('SELECT DATE(ts) AS d, COUNT(*) c FROM d.t GROUP BY d ORDER BY d',
     [[None, '1'], ['2024-05-01', '2'], ['2024-05-02', '2']], ['DATE', 'INTEGER']),
    ('SELECT COUNT(*) FROM d.t WHERE FALSE', [['0']], None),
    ('SELECT SUM(id) FROM d.t WHERE FALSE', [[None]], ['INTEGER']),
    ('SELECT x FROM (SELECT id * 10 AS x FROM d.t) WHERE x > 30 ORDER BY x DESC',
     [['50'], ['40']], None),
    # functions
    ("SELECT COALESCE(name, 'none'), IFNULL(amount, 0), UPPER(name), LENGTH(name), "
     "CONCAT(name, '!') FROM d.t WHERE id = 4", [['none', '-1.25', None, None, None]],
     ['STRING', 'FLOAT', 'STRING', 'INTEGER', 'STRING']),
    ("SELECT LOWER('ÄBC'), UPPER('straße'), LENGTH('héllo'), CONCAT('a', 'b', 'c')",
     [['äbc', 'STRASSE', '5', 'abc']], None),
    ('SELECT ROUND(2.5), ROUND(-2.5), ROUND(1.005, 2), ROUND(NUMERIC \'2.345\', 2), ROUND(7)',
     [['3.0', '-3.0', '1.0', '2.35', '7.0']], ['FLOAT', 'FLOAT', 'FLOAT', 'NUMERIC', 'FLOAT']),
    ("SELECT TIMESTAMP_TRUNC(TIMESTAMP '2024-05-17 13:14:15.5', DAY), "
     "TIMESTAMP_TRUNC(TIMESTAMP '2024-05-17 13:14:15', MONTH), "
     "DATE_TRUNC(DATE '2024-05-17', WEEK), DATE_TRUNC(DATE '2024-05-17', YEAR)",
     [['1.715904E9', '1.7145216E9', '2024-05-12', '2024-01-01']],
     ['TIMESTAMP', 'TIMESTAMP', 'DATE', 'DATE']),
    ("SELECT EXTRACT(YEAR FROM TIMESTAMP '2024-05-17 13:14:15'), "
     "EXTRACT(HOUR FROM TIMESTAMP '2024-05-17 13:14:15'), EXTRACT(DAYOFWEEK FROM DATE "
     "'2024-05-17'), EXTRACT(DATE FROM TIMESTAMP '2024-05-17 23:30:00-02')",
     [['2024', '13', '6', '2024-05-18']], ['INTEGER', 'INTEGER', 'INTEGER', 'DATE']),
    ("SELECT TIMESTAMP_ADD(TIMESTAMP '2024-01-01', INTERVAL 90 MINUTE), "
     "TIMESTAMP_SUB(TIMESTAMP '2024-01-01', INTERVAL 1 DAY), "
     "TIMESTAMP_DIFF(TIMESTAMP '2024-01-02', TIMESTAMP '2024-01-01', HOUR), "
     "DATE_ADD(DATE '2024-01-31', INTERVAL 1 MONTH), DATE_DIFF(DATE '2024-03-01', "
     "DATE '2024-02-01', DAY)",
     [['1.7040726E9', '1.7039808E9', '24', '2024-02-29', '29']], None),
    ("SELECT DATE(TIMESTAMP '2024-05-17 01:00:00+00', 'America/New_York'), "
     "DATE(2024, 2, 29), UNIX_SECONDS(TIMESTAMP '1969-12-31 23:59:59.5'), "
     "TIMESTAMP_SECONDS(86400)",
     [['2024-05-16', '2024-02-29', '-1', '86400.0']], None),
    ("SELECT CAST('12' AS INT64) + 1, CAST(1.5 AS STRING), CAST(2.5 AS INT64), "
     "SAFE_CAST('x' AS INT64), CAST('2024-05-17' AS DATE), CAST(TRUE AS STRING), "
     "CAST(123 AS NUMERIC), SAFE_CAST('1e400' AS NUMERIC)",
     [['13', '1.5', '3', None, '2024-05-17', 'true', '123', None]],
     ['INTEGER', 'STRING', 'INTEGER', 'INTEGER', 'DATE', 'STRING', 'NUMERIC', 'NUMERIC']),
    ("SELECT IF(id > 2, 'big', 'small'), CASE WHEN id = 1 THEN 'one' WHEN id = 2 THEN 'two' "
     "END, CASE id WHEN 3 THEN 3.5 ELSE 0 END FROM d.t ORDER BY id LIMIT 3",
     [['small', 'one', '0.0'], ['small', 'two', '0.0'], ['big', None, '3.5']],
     ['STRING', 'STRING', 'FLOAT']),
    ('SELECT CURRENT_TIMESTAMP() > TIMESTAMP \'2020-01-01\', CURRENT_DATE() > \'2020-01-01\'',
     [['true', 'true']], ['BOOLEAN', 'BOOLEAN']),
    # value encodings
    ("SELECT b'\\xff\\x00', TRUE, DATETIME '2024-05-17 13:14:15.250', TIME '01:02:03', "
     "JSON '{\"a\": [1, 2]}', CAST('inf' AS FLOAT64), CAST('-inf' AS FLOAT64), "
     "CAST('nan' AS FLOAT64), 1e-5, 123456789.0",
     [['/wA=', 'true', '2024-05-17T13:14:15.250000', '01:02:03', '{"a":[1,2]}', 'Infinity',
       '-Infinity', 'NaN', '1.0E-5', '1.23456789E8']],
     ['BYTES', 'BOOLEAN', 'DATETIME', 'TIME', 'JSON', 'FLOAT', 'FLOAT', 'FLOAT', 'FLOAT',
      'FLOAT']),
    ('SELECT tags FROM d.t WHERE id = 1', [[[{'v': 'a'}, {'v': 'b'}]]], ['STRING']),
    ('SELECT ARRAY_LENGTH(tags) FROM d.t ORDER BY id LIMIT 2', [['2'], ['0']], ['INTEGER']),
    # string literal escaping (§2.9)
    (r"SELECT 'it\'s', "
     r'"say \"hi\"", '
     r"'\x41\101\u00e9\U0001F600', "
     r"'tab\there', "
     r"r'raw\n\d', "
     r"'''multi" "\n" r"line''', "
     r'"""triple "quotes" ok""", '
     r"'con' 'cat', "
     r"'\\', "
     r"'back\`tick'",
     [["it's", 'say "hi"', 'AA\u00e9\U0001F600', 'tab\there', 'raw\\n\\d', 'multi\nline',
       'triple "quotes" ok', 'concat', '\\', 'back`tick']], None),
    # comments and case-insensitive keywords
    ('select /* c */ id -- trailing\nfrom d.t # hash comment\nwhere id = 2', [['2']], None),
    # parameters
    ('SELECT id FROM d.t WHERE name = @n AND ts < @t ORDER BY id', [['1']], None),
    # INNER and LEFT JOIN ... ON: NULL keys never match, unmatched rows of the
    # left side get NULLs, parameters in ON and WHERE keep their order
    ('SELECT a.id, b.id AS bid FROM d.t AS a JOIN d.t AS b ON a.name = b.name AND a.id < b.id',
     [['1', '5']], None),
    ('SELECT a.id, b.name AS bn FROM d.t a LEFT OUTER JOIN d.t b ON b.id = a.id + 1 '
     'AND b.name <> @n WHERE a.id < 5 ORDER BY a.id',
     [['1', 'Bob'], ['2', 'carol'], ['3', None], ['4', None]], None),
    ('SELECT a.name, COUNT(b.id) AS n FROM d.t a INNER JOIN d.t b ON a.flag = b.flag '
     'GROUP BY a.name ORDER BY 1', [[None, '2'], ['Bob', '2'], ['alice', '4']], None),
]

NAMED_PARAMS = [
    {'name': 'n', 'parameterType': {'type': 'STRING'}, 'parameterValue': {'value': 'alice'}},
    {'name': 't', 'parameterType': {'type': 'TIMESTAMP'},
     'parameterValue': {'value': '2024-05-02 00:00:00+00:00'}},
]

ERRORS = [
    # (query, reason, message fragment)
    ('SELECT nope FROM d.t', 'invalidQuery', 'Unrecognized name: nope at [1:8]'),
    ('SELECT t.nope FROM d.t', 'invalidQuery', 'Name nope not found inside t at [1:8]'),
    ('SELECT id FROM d.missing', 'notFound', 'Not found: Table p:d.missing was not found in '
                                             'location US'),
    ('SELECT id FROM nods.t', 'notFound', 'Not found: Dataset p:nods was not found in '
                                          'location US'),
    ('SELECT id FROM t', 'invalidQuery', 'must be qualified with a dataset'),
    ('SELECT id FROM d.t WHERE', 'invalidQuery', 'Syntax error: Unexpected end of script at '
                                                 '[1:25]'),
    ('SELECT id,\n  FROM d.t WHERE id = = 1', 'invalidQuery', 'Syntax error: Unexpected "=" '
                                                              'at [2:23]'),
    (r"SELECT 'bad \q escape'", 'invalidQuery', 'Illegal escape sequence: \\q at [1:13]'),
    ("SELECT 'unclosed", 'invalidQuery', 'Syntax error: Unclosed string literal at [1:8]'),
    ("SELECT 'no\nnewline'", 'invalidQuery', 'Unclosed string literal'),
    (r"SELECT r'odd\'", 'invalidQuery', 'Unclosed string literal'),
    (r"SELECT '\x4'", 'invalidQuery', 'Hex escape must be followed by 2 hex digits'),
    ('SELECT name, amount FROM d.t GROUP BY name', 'invalidQuery',
     'SELECT list expression references column amount which is neither grouped nor aggregated'),
    ('SELECT id FROM d.t WHERE COUNT(*) > 1', 'invalidQuery', 'Aggregate function COUNT not '
                                                            'allowed in WHERE clause'),
    ('SELECT SUM(COUNT(*)) FROM d.t', 'invalidQuery', 'Aggregations of aggregations are not '
                                                     'allowed'),
    ("SELECT id FROM d.t WHERE name = 1", 'invalidQuery', 'No matching signature for operator '
                                                         '= for argument types: STRING, INT64'),
    ("SELECT CAST('x' AS INT64)", 'invalidQuery', 'Could not cast literal "x" to type INT64'),
    ("SELECT CAST(name AS INT64) FROM d.t", 'invalidQuery', 'Bad int64 value: alice'),
    ('SELECT 1 / 0', 'invalidQuery', 'division by zero: 1 / 0'),
    ("SELECT id FROM d.t WHERE ts > 'yesterday'", 'invalidQuery',
     'Could not cast literal "yesterday" to type TIMESTAMP'),
    ('SELECT id, id FROM d.t', 'invalidQuery', 'Duplicate column names in the result are not '
                                               'supported. Found duplicate(s): id'),
    ('SELECT id FROM d.t WHERE id = @nope', 'invalidQuery', "Query parameter 'nope' not found"),
    ('SELECT NO_SUCH_FN(1)', 'invalidQuery', 'Function not found: no_such_fn'),
    # joins: names that two tables share must be qualified, and stay two columns
    ('SELECT id FROM d.t a JOIN d.t b ON a.id = b.id', 'invalidQuery',
     'Column name id is ambiguous'),
    ('SELECT a.id, b.id FROM d.t a JOIN d.t b ON a.id = b.id', 'invalidQuery',
     'Duplicate column names in the result are not supported. Found duplicate(s): id'),
    ('SELECT a.id FROM d.t a JOIN d.t b ON a.id', 'invalidQuery',
     'JOIN ON clause should return type BOOL, but returns INT64'),
    ('SELECT a.id FROM d.t a JOIN d.t b ON COUNT(*) > 1', 'invalidQuery',
     'Aggregate function COUNT not allowed in JOIN ON clause'),
    # outside the subset: named, never a wrong answer
    ('SELECT * FROM d.t a RIGHT JOIN d.t b ON a.id = b.id', 'invalidQuery',
     'This JOIN is not supported by the emulator'),
    ('SELECT * FROM d.t a, d.t b', 'invalidQuery', 'This JOIN is not supported by the emulator'),
    ('SELECT a.id FROM d.t a JOIN d.t b USING (id)', 'invalidQuery',
     'JOIN USING is not supported by the emulator'),
    ('WITH x AS (SELECT 1) SELECT * FROM x', 'invalidQuery', 'WITH clause is not supported'),
    ('SELECT 1 UNION ALL SELECT 2', 'invalidQuery', 'Set operation UNION is not supported'),
    ('SELECT ROW_NUMBER() OVER (ORDER BY id) FROM d.t', 'invalidQuery',
     'Analytic (window) function ROW_NUMBER is not supported'),
    ('SELECT STRING_AGG(name) FROM d.t', 'invalidQuery', 'Aggregate function STRING_AGG is not '
                                                        'supported'),
    ('SELECT REGEXP_CONTAINS(name, "a") FROM d.t', 'invalidQuery',
     'Function REGEXP_CONTAINS is not supported by the emulator'),
    ('SELECT (SELECT 1)', 'invalidQuery', 'Scalar subquery is not supported'),
    ('INSERT INTO d.t (id) VALUES (1)', 'invalidQuery', 'DML statement INSERT is not supported'),
    ('SELECT 1; SELECT 2', 'invalidQuery', 'A script with several statements is not supported'),
]


class SqlSubsetTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.bq = DirectBigQuery()
        assert cls.bq.create_dataset('d')[0] == 200
        status, body = cls.bq.create_table('d', 't', FIELDS,
                                           timePartitioning={'type': 'DAY', 'field': 'ts'})
        assert status == 200, body
        status, body = cls.bq.insert('d', 't', ROWS)
        assert status == 200 and 'insertErrors' not in body, body

    @classmethod
    def tearDownClass(cls):
        cls.bq.close()

    def test_query_table(self):
        for sql, want, types in CASES:
            with self.subTest(sql=sql):
                try:
                    got, got_types = self.bq.rows(sql, parameterMode='NAMED',
                                                  queryParameters=NAMED_PARAMS)
                except QueryFailed as e:
                    self.fail('%s failed: %s' % (sql, e.message))
                self.assertEqual(got, want)
                if types is not None:
                    self.assertEqual(got_types, types)

    def test_errors(self):
        for sql, reason, fragment in ERRORS:
            with self.subTest(sql=sql):
                with self.assertRaises(QueryFailed) as cm:
                    self.bq.rows(sql)
                e = cm.exception
                self.assertEqual(e.reason, reason, e.message)
                self.assertIn(fragment, e.message)
                err = e.body['error']
                self.assertEqual(err['errors'][0]['domain'], 'global')
                self.assertEqual(err['code'], 404 if reason == 'notFound' else 400)
                self.assertEqual(err['status'],
                                 'NOT_FOUND' if reason == 'notFound' else 'INVALID_ARGUMENT')

    def test_positional_and_array_parameters(self):
        got, _ = self.bq.rows(
            'SELECT id FROM d.t WHERE id > ? AND name IN UNNEST(?) ORDER BY id',
            parameterMode='POSITIONAL',
            queryParameters=[
                {'parameterType': {'type': 'INT64'}, 'parameterValue': {'value': '1'}},
                {'parameterType': {'type': 'ARRAY', 'arrayType': {'type': 'STRING'}},
                 'parameterValue': {'arrayValues': [{'value': 'alice'}, {'value': 'carol'}]}}])
        self.assertEqual(got, [['3'], ['5']])
        got, _ = self.bq.rows('SELECT id FROM d.t WHERE id IN UNNEST(@ids)', parameterMode='NAMED',
                              queryParameters=[{'name': 'ids', 'parameterType': {
                                  'type': 'ARRAY', 'arrayType': {'type': 'INT64'}},
                                  'parameterValue': {'arrayValues': []}}])
        self.assertEqual(got, [])
        # typed parameter values of every scalar type come back unchanged
        params = [('INT64', '-9223372036854775808', '-9223372036854775808'),
                  ('FLOAT64', '1.5', '1.5'), ('NUMERIC', '1.10', '1.1'),
                  ('BIGNUMERIC', '0.00000000000000000001', '0.00000000000000000001'),
                  ('BOOL', 'true', 'true'), ('STRING', "it's", "it's"),
                  ('BYTES', 'AAE=', 'AAE='), ('DATE', '2024-02-29', '2024-02-29'),
                  ('DATETIME', '2024-02-29T01:02:03', '2024-02-29T01:02:03'),
                  ('TIME', '23:59:59.5', '23:59:59.500000'),
                  ('TIMESTAMP', '2024-05-17T13:14:15.123456Z', '1715951655123456')]
        for typ, value, want in params:
            with self.subTest(type=typ):
                got, types = self.bq.rows('SELECT @v', parameterMode='NAMED', queryParameters=[
                    {'name': 'v', 'parameterType': {'type': typ},
                     'parameterValue': {'value': value}}],
                    formatOptions={'useInt64Timestamp': True})
                self.assertEqual(got, [[want]])
        got, _ = self.bq.rows('SELECT @v IS NULL', parameterMode='NAMED', queryParameters=[
            {'name': 'v', 'parameterType': {'type': 'STRING'}, 'parameterValue': {'value': None}}])
        self.assertEqual(got, [['true']])

    def test_timestamp_encodings(self):
        sql = "SELECT TIMESTAMP '2019-06-20 08:01:37.269367+00', TIMESTAMP '1969-12-31 23:59:59'"
        got, _ = self.bq.rows(sql)
        self.assertEqual(got, [['1.561017697269367E9', '-1.0']])
        got, _ = self.bq.rows(sql, formatOptions={'useInt64Timestamp': True})
        self.assertEqual(got, [['1561017697269367', '-1000000']])

    def test_numeric_is_exact(self):
        self.bq.create_table('d', 'money', [{'name': 'v', 'type': 'NUMERIC'},
                                            {'name': 'b', 'type': 'BIGNUMERIC'}])
        rows = [{'v': '0.1', 'b': '0.1'} for _ in range(10)] + \
            [{'v': '99999999999999999999999999998.999999999',
              'b': '1.00000000000000000000000000000000000001'}]
        status, body = self.bq.insert('d', 'money', rows)
        self.assertNotIn('insertErrors', body)
        got, types = self.bq.rows('SELECT SUM(v), SUM(b), MAX(v), MIN(b) FROM d.money')
        # the sum lands exactly on NUMERIC's maximum: no float rounding anywhere
        self.assertEqual(got, [['99999999999999999999999999999.999999999',
                                '2.00000000000000000000000000000000000001',
                                '99999999999999999999999999998.999999999', '0.1']])
        self.assertEqual(types, ['NUMERIC', 'BIGNUMERIC', 'NUMERIC', 'BIGNUMERIC'])
        got, _ = self.bq.rows("SELECT v FROM d.money WHERE v > NUMERIC '1' ORDER BY v DESC")
        self.assertEqual(got, [['99999999999999999999999999998.999999999']])
        self.bq.insert('d', 'money', [{'v': '1'}])
        with self.assertRaises(QueryFailed) as cm:
            self.bq.rows('SELECT SUM(v) FROM d.money')
        self.assertIn('overflow', cm.exception.message)

    def test_bytes_processed_counts_columns_and_partitions(self):
        def processed(sql, **kw):
            status, body = self.bq.query(sql, **kw)
            self.assertEqual(status, 200, body)
            return int(body['totalBytesProcessed'])
        all_cols = processed('SELECT * FROM d.t')
        one_col = processed('SELECT id FROM d.t')
        self.assertEqual(one_col, 5 * 8)            # INT64 is 8 bytes, 5 rows
        self.assertLess(one_col, all_cols)
        self.assertEqual(processed('SELECT COUNT(*) FROM d.t'), 0)
        # names: 'alice' 'Bob' 'carol' NULL 'alice' -> 2+5 + 2+3 + 2+5 + 0 + 2+5
        self.assertEqual(processed('SELECT name FROM d.t'), 26)
        full = processed('SELECT id, ts FROM d.t')
        day1 = processed("SELECT id, ts FROM d.t WHERE ts >= '2024-05-01' AND ts < '2024-05-02'")
        self.assertEqual(day1, 2 * 16)
        # rows 3 and 4 are in partition 2024-05-02, none in 2024-05-03; the filter column
        # is read too, so each kept row costs id (8) + ts (8)
        self.assertEqual(processed("SELECT id FROM d.t WHERE DATE(ts) = '2024-05-02'"), 32)
        self.assertEqual(processed("SELECT id FROM d.t WHERE DATE(ts) = '2024-05-03'"), 0)
        self.assertEqual(processed("SELECT id FROM d.t WHERE ts BETWEEN '2024-05-02' AND "
                                   "'2024-05-02 23:00:00'"), 32)
        self.assertEqual(processed("SELECT id FROM d.t WHERE ts = @t", parameterMode='NAMED',
                                   queryParameters=[NAMED_PARAMS[1]]), 32)
        # a non-prunable filter reads every partition
        self.assertEqual(processed("SELECT id, ts FROM d.t WHERE ts >= '2024-05-02' OR id = 1"),
                         full)

    def test_tablesample_system(self):
        status, body = self.bq.query('SELECT id FROM d.t TABLESAMPLE SYSTEM (100 PERCENT)')
        self.assertEqual(status, 200, body)
        self.assertEqual(len(body['rows']), 5)
        self.assertFalse(body['cacheHit'])
        status, body = self.bq.query('SELECT id FROM d.t TABLESAMPLE SYSTEM (0 PERCENT)')
        self.assertEqual((status, body.get('rows', [])), (200, []))
        self.assertEqual(body['totalBytesProcessed'], '0')     # billed by the part read
        status, body = self.bq.query('SELECT id FROM d.t TABLESAMPLE SYSTEM (50.5 PERCENT)')
        self.assertEqual(status, 200, body)
        self.assertEqual(body['totalBytesProcessed'], str(int(5 * 8 * 0.505)))
        for sql, fragment in (('SELECT id FROM d.t TABLESAMPLE SYSTEM (101 PERCENT)',
                               'between 0 and 100'),
                              ('SELECT id FROM d.t TABLESAMPLE BERNOULLI (5 PERCENT)',
                               'Expected keyword SYSTEM'),
                              ('SELECT id FROM d.t TABLESAMPLE SYSTEM (5 ROWS)',
                               'TABLESAMPLE SYSTEM (n ROWS) is not supported')):
            status, body = self.bq.query(sql)
            self.assertEqual(status, 400, sql)
            self.assertIn(fragment, body['error']['message'], sql)

    def test_query_cache(self):
        sql = 'SELECT name FROM d.t WHERE id < 3 ORDER BY id'
        s1, b1 = self.bq.query(sql)
        s2, b2 = self.bq.query(sql)
        self.assertFalse(b1['cacheHit'])
        self.assertTrue(b2['cacheHit'])
        self.assertEqual(b2['totalBytesProcessed'], '0')
        self.assertEqual(b1['rows'], b2['rows'])
        s3, b3 = self.bq.query(sql, useQueryCache=False)
        self.assertFalse(b3['cacheHit'])
        self.bq.create_table('d', 'c', [{'name': 'x', 'type': 'INT64'}])
        self.bq.insert('d', 'c', [{'x': 1}])
        _, c1 = self.bq.query('SELECT SUM(x) FROM d.c')
        self.bq.insert('d', 'c', [{'x': 2}])       # a base-table change invalidates
        _, c2 = self.bq.query('SELECT SUM(x) FROM d.c')
        self.assertFalse(c2['cacheHit'])
        self.assertEqual(c2['rows'][0]['f'][0]['v'], '3')

    def test_insert_fast_path_agrees_with_general_path(self):
        fields = [{'name': 'o', 'type': 'STRING', 'mode': 'REQUIRED'},
                  {'name': 'n', 'type': 'INT64'}, {'name': 'f', 'type': 'FLOAT64'},
                  {'name': 'b', 'type': 'BOOL'}, {'name': 'ts', 'type': 'TIMESTAMP'},
                  {'name': 'd', 'type': 'DATE'}, {'name': 'x', 'type': 'NUMERIC'}]
        self.bq.create_table('d', 'fast', fields, timePartitioning={'type': 'DAY',
                                                                    'field': 'ts'})
        store = self.bq.svc.store
        v = store.validator(store.get_table('p', 'd', 'fast'))
        self.assertIsNotNone(v.fast)
        samples = [
            {'o': 'a', 'n': 1, 'f': 1.5, 'b': True, 'ts': '2024-05-01T10:00:00.5Z',
             'd': '2024-05-01', 'x': '1.50'},
            {'o': 'é', 'n': None, 'f': 2, 'b': False, 'ts': None},
            {'o': 'b', 'n': '7', 'f': 'NaN', 'ts': 1714557600},
            {'o': 'c', 'f': float('inf'), 'ts': '1714557600.25'},
            {'o': 'd', 'N': 3}, {'o': 'e', 'extra': 1}, {'n': 1}, {'o': 1},
            {'o': 'f', 'n': 2 ** 63}, {'o': 'g', 'ts': 'bad'}, {'o': 'h', 'b': 'true'},
        ]
        fast = v.fast
        for obj in samples:
            with self.subTest(row=obj):
                results = []
                for use_fast in (True, False):
                    v.fast = fast if use_fast else None
                    try:
                        results.append(('ok', v.row(obj, False)))
                    except Exception as e:  # noqa: BLE001 - compare the errors too
                        results.append(('err', type(e).__name__, str(e)))
                self.assertEqual(results[0], results[1])
        v.fast = fast

    def test_evicted_results_are_materialized_again(self):
        from emulator.bigquery import jobs
        saved = jobs.RESULT_ROW_BUDGET
        jobs.RESULT_ROW_BUDGET = 3     # keep at most 3 result rows in memory
        try:
            _, first = self.bq.query('SELECT id FROM d.t ORDER BY id', maxResults=2,
                                     useQueryCache=False)
            self.bq.query('SELECT id FROM d.t', useQueryCache=False)  # evicts the first result
            status, page = self.bq.call('GET', '/projects/p/queries/%s'
                                        % first['jobReference']['jobId'],
                                        query={'pageToken': first['pageToken']})
            self.assertEqual(status, 200, page)
            self.assertEqual([r['f'][0]['v'] for r in page['rows']], ['3', '4', '5'])
        finally:
            jobs.RESULT_ROW_BUDGET = saved


if __name__ == '__main__':
    unittest.main()
