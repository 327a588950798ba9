"""BigQuery emulator: time zones as BigQuery (ZetaSQL on absl) applies them.

TIMESTAMP_TRUNC in a zone: minutes and hours by the offset in force at the
instant (no local time read back, so across a 30-minute DST shift the result
need not fall on a local hour), days and above to a local midnight read back
with absl's "pre" offset (the earlier instant when a midnight repeats, the
offset before the shift when it is skipped); a NULL zone gives NULL; hours
at the ends of the range. ERROR(): the message as the query's error, and
only when evaluated (IF, IFNULL, CASE choose lazily).
"""

import unittest

try:
    from .bq_direct import DirectBigQuery, QueryFailed
except ImportError:  # run from inside test/emulator
    from bq_direct import DirectBigQuery, QueryFailed


def ts(text):
    return "TIMESTAMP '%s'" % text


# (expression, expected value as BigQuery's JSON gives it, with useInt64Timestamp)
def micros(text):
    import datetime
    d = datetime.datetime.fromisoformat(text.replace('Z', '+00:00'))
    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    delta = d - epoch
    return str((delta.days * 86400 + delta.seconds) * 1000000 + delta.microseconds)


CASES = [
    # Lord Howe Island, 2026-04-05 02:00 +11 becomes 01:30 +10:30 (15:00 UTC)
    ("TIMESTAMP_TRUNC(%s, HOUR, 'Australia/Lord_Howe')" % ts('2026-04-04 14:50:00+00'),
     micros('2026-04-04T14:00:00Z')),
    ("TIMESTAMP_TRUNC(%s, HOUR, 'Australia/Lord_Howe')" % ts('2026-04-04 15:10:00+00'),
     micros('2026-04-04T14:30:00Z')),
    # Kathmandu's +05:45: minutes and hours in its own grid
    ("TIMESTAMP_TRUNC(%s, MINUTE, 'Asia/Kathmandu')" % ts('2026-04-04 15:10:30+00'),
     micros('2026-04-04T15:10:00Z')),
    ("TIMESTAMP_TRUNC(%s, HOUR, 'Asia/Kathmandu')" % ts('2026-04-04 15:10:30+00'),
     micros('2026-04-04T14:15:00Z')),
    # Havana falls back at 01:00 to 00:00: the day's midnight repeats, the earlier one
    ("TIMESTAMP_TRUNC(%s, DAY, 'America/Havana')" % ts('2025-11-02 12:00:00+00'),
     micros('2025-11-02T04:00:00Z')),
    # Sao Paulo sprang forward at midnight in 2018: read with the offset before (-3)
    ("TIMESTAMP_TRUNC(%s, DAY, 'America/Sao_Paulo')" % ts('2018-11-04 12:00:00+00'),
     micros('2018-11-04T03:00:00Z')),
    ("TIMESTAMP_TRUNC(%s, ISOWEEK, 'Pacific/Chatham')" % ts('2026-04-05 12:00:00+00'),
     micros('2026-04-05T11:15:00Z')),
    # seconds: the instant's, whatever the zone (New York's LMT is -4:56:02)
    ("TIMESTAMP_TRUNC(%s, SECOND, 'America/New_York')" % ts('1850-06-01 12:00:00.5+00'),
     micros('1850-06-01T12:00:00Z')),
    # an hour at the start of the range: local year 0, no civil date built
    ("TIMESTAMP_TRUNC(%s, HOUR, 'America/New_York')" % ts('0001-01-01 02:00:00+00'),
     micros('0001-01-01T01:56:02Z')),
    ("TIMESTAMP_TRUNC(%s, MINUTE, 'Asia/Kathmandu')" % ts('9999-12-31 23:59:59.999999+00'),
     micros('9999-12-31T23:59:00Z')),
    # a NULL zone is a NULL argument
    ("TIMESTAMP_TRUNC(%s, DAY, CAST(NULL AS STRING))" % ts('2026-01-01 00:00:00+00'), None),
    ("TIMESTAMP_TRUNC(%s, HOUR, IFNULL(@zone, ERROR('not evaluated')))"
     % ts('2026-04-04 15:10:00+00'), micros('2026-04-04T14:30:00Z')),
    # DATE(ts, zone): the local date; a NULL zone gives NULL
    ("DATE(%s, 'Pacific/Chatham')" % ts('2026-04-04 11:00:00+00'), '2026-04-05'),
    ("DATE(%s, 'America/St_Johns')" % ts('2026-01-01 03:29:59.999999+00'), '2025-12-31'),
    ("DATE(%s, CAST(NULL AS STRING))" % ts('2026-01-01 00:00:00+00'), None),
    # epoch arithmetic as bqstream_fdw sends Grafana's buckets: UNIX_MICROS before
    # 1970 negative, DIV and MOD truncating toward zero, NUMERIC division exact
    ("UNIX_MICROS(%s)" % ts('1016-09-10 00:00:00+00'), '-30083529600000000'),
    ("DIV(-7, 2)", '-3'),
    ("MOD(-7, 2)", '-1'),
    ("CAST(UNIX_MICROS(%s) AS NUMERIC) / 1000000" % ts('1969-12-31 23:59:59.999999+00'), '-0.000001'),
    ("CAST(UNIX_MICROS(%s) AS NUMERIC) / 1000000" % ts('2025-12-01 00:00:00.5+00'), '1764547200.5'),
    ("TIMESTAMP_SECONDS(DIV(-7, 2) * 300)", micros('1969-12-31T23:45:00Z')),
    # ERROR only when reached
    ("IF(TRUE, 1, ERROR('not evaluated'))", '1'),
    ("IFNULL('x', ERROR('not evaluated'))", 'x'),
    ("CASE WHEN 1 > 2 THEN ERROR('not evaluated') ELSE 'y' END", 'y'),
]

ERRORS = [
    ("SELECT ERROR('boom')", 'boom'),
    ("SELECT IFNULL(CAST(NULL AS STRING), ERROR('the zone is gone'))", 'the zone is gone'),
    ("SELECT TIMESTAMP_TRUNC(%s, HOUR, 'America/New_York')" % ts('0001-01-01 00:30:00+00'),
     'overflow'),
    ("SELECT TIMESTAMP_TRUNC(%s, DAY, 'Nowhere/Atlantis')" % ts('2026-01-01 00:00:00+00'),
     'Invalid time zone: Nowhere/Atlantis'),
]


class TimeZoneTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.bq = DirectBigQuery()

    @classmethod
    def tearDownClass(cls):
        cls.bq.close()

    def test_values(self):
        params = [{'name': 'zone', 'parameterType': {'type': 'STRING'},
                   'parameterValue': {'value': 'Australia/Lord_Howe'}}]
        for expr, want in CASES:
            with self.subTest(expr=expr):
                try:
                    got, _ = self.bq.rows('SELECT ' + expr, parameterMode='NAMED',
                                          queryParameters=params,
                                          formatOptions={'useInt64Timestamp': True})
                except QueryFailed as e:
                    self.fail('%s failed: %s' % (expr, e.message))
                self.assertEqual(got, [[want]])

    def test_errors(self):
        for sql, fragment in ERRORS:
            with self.subTest(sql=sql):
                with self.assertRaises(QueryFailed) as cm:
                    self.bq.rows(sql)
                self.assertEqual(cm.exception.body['error']['code'], 400)
                self.assertIn(fragment, cm.exception.message)

    def test_error_per_row(self):
        """Rows a CASE sends to ERROR fail the query; rows that do not reach it do not."""
        self.assertEqual(self.bq.create_dataset('z')[0], 200)
        status, body = self.bq.create_table('z', 't', [{'name': 'id', 'type': 'INT64'}])
        self.assertEqual(status, 200, body)
        status, body = self.bq.insert('z', 't', [{'id': 1}, {'id': 2}])
        self.assertEqual(status, 200, body)
        sql = "SELECT CASE WHEN id > @n THEN ERROR('too big') ELSE id END FROM z.t ORDER BY 1"
        p = lambda n: [{'name': 'n', 'parameterType': {'type': 'INT64'},
                        'parameterValue': {'value': str(n)}}]
        got, _ = self.bq.rows(sql, parameterMode='NAMED', queryParameters=p(5))
        self.assertEqual(got, [['1'], ['2']])
        with self.assertRaises(QueryFailed) as cm:
            self.bq.rows(sql, parameterMode='NAMED', queryParameters=p(1))
        self.assertIn('too big', cm.exception.message)


if __name__ == '__main__':
    unittest.main()
