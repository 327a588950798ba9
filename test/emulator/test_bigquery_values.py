"""BigQuery emulator: FLOAT64 comparisons with NaN, and the string functions
bqstream_fdw sends (TRANSLATE, SUBSTR, TRIM with characters, CONCAT, ERROR).

What is checked is GoogleSQL's documented behaviour: a comparison with NaN is
FALSE (and != TRUE), NULL stays NULL; NaN sorts after NULL and before -inf;
FLOAT64 query parameters read NaN and the infinities as CAST does; TRANSLATE
maps or drops characters and refuses a repeated source character; SUBSTR counts
a negative position from the end and refuses a negative length; CONCAT is NULL
when an argument is; ERROR fails the query only where it is evaluated.
"""

import unittest

try:
    from .bq_direct import DirectBigQuery, QueryFailed
except ImportError:  # run from inside test/emulator
    from bq_direct import DirectBigQuery, QueryFailed

FIELDS = [
    {'name': 'id', 'type': 'INTEGER', 'mode': 'REQUIRED'},
    {'name': 'x', 'type': 'FLOAT'},
    {'name': 's', 'type': 'STRING'},
]

ROWS = [
    {'id': 1, 'x': 'NaN', 's': 'Abc'},
    {'id': 2, 'x': 'Infinity', 's': 'ÉCOLE ß'},
    {'id': 3, 'x': '-Infinity', 's': '  pad  '},
    {'id': 4, 'x': None, 's': None},
    {'id': 5, 'x': -0.0, 's': ''},
    {'id': 6, 'x': 1.5, 's': 'İstanbul ΟΔΟΣ'},
]


def float_param(name, value):
    return {'name': name, 'parameterType': {'type': 'FLOAT64'},
            'parameterValue': {'value': value}}


class FloatSemanticsTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.bq = DirectBigQuery()
        assert cls.bq.create_dataset('v')[0] == 200
        status, body = cls.bq.create_table('v', 't', FIELDS)
        assert status == 200, body
        status, body = cls.bq.insert('v', 't', ROWS)
        assert status == 200 and 'insertErrors' not in body, body

    @classmethod
    def tearDownClass(cls):
        cls.bq.close()

    def ids(self, where, params=None):
        kw = {}
        if params is not None:
            kw = {'parameterMode': 'NAMED', 'queryParameters': params}
        got, _ = self.bq.rows('SELECT id FROM v.t WHERE %s ORDER BY id' % where, **kw)
        return [int(r[0]) for r in got]

    def test_nan_compares_false_and_not_null(self):
        # NOT tells FALSE from NULL: only row 4 (NULL) stays NULL
        self.assertEqual(self.ids('NOT (x = x)'), [1])
        self.assertEqual(self.ids('NOT (x < 2)'), [1, 2])
        self.assertEqual(self.ids('NOT (x >= -1e308)'), [1, 3])
        self.assertEqual(self.ids('x != x'), [1])
        self.assertEqual(self.ids('(x = x) IS NULL'), [4])
        self.assertEqual(self.ids("x = CAST('nan' AS FLOAT64)"), [])
        self.assertEqual(self.ids("x != CAST('nan' AS FLOAT64)"), [1, 2, 3, 5, 6])
        self.assertEqual(self.ids('IS_NAN(x)'), [1])
        self.assertEqual(self.ids('x = 0'), [5])

    def test_nan_in_lists(self):
        self.assertEqual(self.ids("x IN (1.5, CAST('nan' AS FLOAT64))"), [6])
        self.assertEqual(self.ids('x NOT IN (1.5, 0)'), [1, 2, 3])
        self.assertEqual(self.ids('x NOT IN (1.5, NULL)'), [])
        self.assertEqual(self.ids('x NOT IN UNNEST(@a)', [
            {'name': 'a', 'parameterType': {'type': 'ARRAY', 'arrayType': {'type': 'FLOAT64'}},
             'parameterValue': {'arrayValues': [{'value': '1.5'}, {'value': '-0'}]}}]),
            [1, 2, 3])

    def test_float_parameters(self):
        for text, want in (('NaN', []), ('Infinity', [2]), ('-Infinity', [3]), ('-0', [5]),
                           ('inf', [2]), ('1.5', [6])):
            with self.subTest(value=text):
                self.assertEqual(self.ids('x = @p', [float_param('p', text)]), want)
        self.assertEqual(self.ids('IS_NAN(@p) AND id = 1', [float_param('p', 'NaN')]), [1])
        self.assertEqual(self.ids('(x < @p) IS NULL', [float_param('p', None)]),
                         [1, 2, 3, 4, 5, 6])

    def test_nan_ordering(self):
        got, _ = self.bq.rows('SELECT id FROM v.t ORDER BY x, id')
        self.assertEqual([r[0] for r in got], ['4', '1', '3', '5', '6', '2'])
        got, _ = self.bq.rows('SELECT id FROM v.t ORDER BY IS_NAN(x) DESC NULLS FIRST, '
                              'x DESC NULLS FIRST')
        self.assertEqual([r[0] for r in got], ['4', '1', '2', '6', '5', '3'])


class StringFunctionTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.bq = DirectBigQuery()

    @classmethod
    def tearDownClass(cls):
        cls.bq.close()

    def value(self, expr):
        got, _ = self.bq.rows('SELECT %s' % expr)
        return got[0][0]

    def test_translate(self):
        self.assertEqual(self.value("TRANSLATE('AbC-É', 'ABC', 'abc')"), 'abc-É')
        self.assertEqual(self.value("TRANSLATE('abcabc', 'ab', 'x')"), 'xcxc')
        self.assertIsNone(self.value("TRANSLATE('abc', NULL, 'x')"))
        with self.assertRaises(QueryFailed) as cm:
            self.value("TRANSLATE('abc', 'aa', 'xy')")
        self.assertIn('Duplicate character', cm.exception.message)

    def test_lower_upper_unicode(self):
        self.assertEqual(self.value("LOWER('ÉCOLE ΟΔΟΣ')"), 'école οδος')
        self.assertEqual(self.value("UPPER('straße')"), 'STRASSE')

    def test_substr(self):
        self.assertEqual(self.value("SUBSTR('abcdef', 0, 2)"), 'ab')
        self.assertEqual(self.value("SUBSTR('abcdef', -2)"), 'ef')
        self.assertEqual(self.value("SUBSTR('abcdef', 10)"), '')
        self.assertEqual(self.value("SUBSTR('日本語', 2, 1)"), '本')
        self.assertIsNone(self.value("SUBSTR('abc', 1, NULL)"))
        self.assertIsNone(self.value("SUBSTR('abc', NULL)"))
        with self.assertRaises(QueryFailed) as cm:
            self.value("SUBSTR('abc', 1, -1)")
        self.assertIn('cannot be negative', cm.exception.message)

    def test_trim_concat_replace(self):
        self.assertEqual(self.value("TRIM('xx a xx', 'x')"), ' a ')
        self.assertEqual(self.value("LTRIM('  a  ', ' ')"), 'a  ')
        self.assertEqual(self.value("RTRIM('éaé', 'é')"), 'éa')
        self.assertIsNone(self.value("CONCAT('a', NULL, 'b')"))
        self.assertEqual(self.value("CONCAT('a', IFNULL(NULL, ''), 'b')"), 'ab')
        self.assertIsNone(self.value("'a' || NULL"))
        self.assertEqual(self.value("REPLACE('abab', '', 'x')"), 'abab')
        self.assertEqual(self.value("REPLACE('abab', 'b', 'xy')"), 'axyaxy')
        self.assertEqual(self.value("LENGTH('日本😀')"), '3')
        self.assertEqual(self.value("STARTS_WITH('école', 'éc')"), 'true')

    def test_error_only_where_reached(self):
        self.assertEqual(self.value("IF(1 < 0, ERROR('never'), 'ok')"), 'ok')
        self.assertEqual(self.value("SUBSTR('abc', 1, IF(FALSE, ERROR('x'), 2))"), 'ab')
        with self.assertRaises(QueryFailed) as cm:
            self.value("IF(1 > 0, ERROR('negative substring length not allowed'), 2)")
        self.assertIn('negative substring length not allowed', cm.exception.message)


if __name__ == '__main__':
    unittest.main()
