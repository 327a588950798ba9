"""BigQuery emulator answers shaped as Google's discovery document says.

Each test pins one difference that the reference suite (test/bq_reference:
Google's `bq` CLI and a validator walking every answer against the discovery
document of BigQuery v2) found and that was fixed in the emulator, so that it
cannot come back even where Google's tools are not installed.
"""

import unittest

try:
    from .test_bigquery_api import BigQueryCase, ORDER_FIELDS, P, order
except ImportError:  # run from inside test/emulator
    from test_bigquery_api import BigQueryCase, ORDER_FIELDS, P, order


class DiscoveryShapeTests(BigQueryCase):
    def test_tables_list_items_have_no_etag_or_self_link(self):
        """TableList.tables[] has no etag or selfLink (tables.get's Table has);
        a view's item says view.useLegacySql."""
        ds = self.new_dataset()
        self.new_table(ds, labels={'team': 'shop'})
        status, _ = self.bq('POST', 'datasets/%s/tables' % ds, {
            'tableReference': {'projectId': P, 'datasetId': ds, 'tableId': 'v'},
            'view': {'query': 'SELECT order_id FROM %s.orders' % ds, 'useLegacySql': False}})
        self.assertEqual(status, 200)
        status, body = self.bq('GET', 'datasets/%s/tables' % ds)
        self.assertEqual(status, 200, body)
        items = {t['tableReference']['tableId']: t for t in body['tables']}
        for t in items.values():
            self.assertNotIn('etag', t)
            self.assertNotIn('selfLink', t)
            self.assertNotIn('schema', t)
        self.assertEqual(items['orders']['labels'], {'team': 'shop'})
        self.assertEqual(items['v']['view'], {'useLegacySql': False})
        status, full = self.bq('GET', 'datasets/%s/tables/orders' % ds)
        self.assertIn('etag', full)
        self.assertIn('selfLink', full)

    def test_query_response_has_no_etag(self):
        """QueryResponse (jobs.query) has no etag; GetQueryResultsResponse has one."""
        status, body = self.query('SELECT 1 AS x')
        self.assertEqual(status, 200, body)
        self.assertNotIn('etag', body)
        status, page = self.bq('GET', 'queries/%s' % body['jobReference']['jobId'])
        self.assertEqual(status, 200, page)
        self.assertIn('etag', page)
        status, body = self.query('SELECT 1 AS x', labels={'emulator_delay_ms': '2000'},
                                  timeoutMs=10)
        self.assertEqual((status, body['jobComplete']), (200, False), body)
        self.assertNotIn('etag', body)

    def test_jobs_list_items_have_no_etag_or_self_link(self):
        self.query('SELECT 1 AS x')
        status, body = self.bq('GET', 'jobs?maxResults=1')
        self.assertEqual(status, 200, body)
        item = body['jobs'][0]
        self.assertNotIn('etag', item)
        self.assertNotIn('selfLink', item)
        self.assertEqual(item['state'], 'DONE')
        status, job = self.bq('GET', 'jobs/%s' % item['jobReference']['jobId'])
        self.assertIn('etag', job)
        self.assertIn('selfLink', job)

    def test_job_configuration_has_no_request_location(self):
        """jobs.query's location goes to jobReference.location, not into
        configuration.query (JobConfigurationQuery has no such field); int64
        fields of the configuration are strings even when sent as numbers."""
        ds = self.new_dataset(location='EU')
        self.new_table(ds)
        status, body = self.query('SELECT COUNT(*) FROM %s.orders' % ds, location='EU',
                                  maximumBytesBilled=104857600)
        self.assertEqual(status, 200, body)
        status, job = self.bq('GET', 'jobs/%s?location=EU' % body['jobReference']['jobId'])
        self.assertEqual(status, 200, job)
        self.assertNotIn('location', job['configuration']['query'])
        self.assertEqual(job['configuration']['query']['maximumBytesBilled'], '104857600')
        self.assertEqual(job['jobReference']['location'], 'EU')

    def test_running_job_reports_its_location(self):
        """A job inserted without a location reports the location of the tables
        its query names while it still runs (never "location": null)."""
        ds = self.new_dataset(location='EU')
        self.new_table(ds)
        status, job = self.bq('POST', 'jobs', {'configuration': {
            'query': {'query': 'SELECT COUNT(*) FROM %s.orders' % ds, 'useLegacySql': False},
            'labels': {'emulator_delay_ms': '3000'}}})
        self.assertEqual(status, 200, job)
        self.assertEqual(job['status']['state'], 'RUNNING')
        self.assertEqual(job['jobReference']['location'], 'EU')
        self.assertEqual(job['id'], '%s:EU.%s' % (P, job['jobReference']['jobId']))
        status, page = self.bq('GET', 'queries/%s?timeoutMs=10' % job['jobReference']['jobId'])
        self.assertEqual((page['jobComplete'], page['jobReference']['location']), (False, 'EU'))
        # a query naming no table runs in the default location, reported as such at once
        status, body = self.query('SELECT 1', labels={'emulator_delay_ms': '2000'}, timeoutMs=10)
        self.assertEqual(body['jobReference']['location'], 'US')
        status, job = self.bq('GET', 'jobs/%s' % body['jobReference']['jobId'])
        self.assertEqual(job['jobReference']['location'], 'US')
        self.assertTrue(job['selfLink'].endswith('?location=US'), job['selfLink'])

    def test_int64_metadata_is_text(self):
        """defaultTableExpirationMs and expirationTime are int64: strings in every
        answer, even when a client sent numbers (as Google's bq CLI does)."""
        ds = self.unique('ds').replace('-', '_')
        status, body = self.bq('POST', 'datasets', {
            'datasetReference': {'projectId': P, 'datasetId': ds},
            'defaultTableExpirationMs': 3600000})
        self.assertEqual((status, body['defaultTableExpirationMs']), (200, '3600000'), body)
        resp = self.new_table(ds, expirationTime=4102444800000)
        self.assertEqual(resp['expirationTime'], '4102444800000')
        status, body = self.bq('GET', 'datasets/%s/tables' % ds)
        self.assertEqual(body['tables'][0]['expirationTime'], '4102444800000')
        status, body = self.bq('PATCH', 'datasets/%s' % ds, {'defaultTableExpirationMs': 7200000})
        self.assertEqual((status, body['defaultTableExpirationMs']), (200, '7200000'), body)
        status, body = self.bq('PATCH', 'datasets/%s' % ds, {'defaultTableExpirationMs': 'soon'})
        self.assertEqual(status, 400, body)

    def test_selected_fields_in_schema_order(self):
        """tables.get takes selectedFields and answers only those fields;
        tabledata.list's cells follow the table's schema order whatever the
        order of selectedFields (bq head zips the two)."""
        ds = self.new_dataset()
        self.new_table(ds)
        self.insert(ds, [order(1)])
        status, t = self.bq('GET', 'datasets/%s/tables/orders?selectedFields=qty,order_id' % ds)
        self.assertEqual(status, 200, t)
        self.assertEqual([f['name'] for f in t['schema']['fields']], ['order_id', 'qty'])
        status, data = self.bq('GET', 'datasets/%s/tables/orders/data?selectedFields=qty,order_id'
                               % ds)
        self.assertEqual(status, 200, data)
        self.assertEqual(data['rows'], [{'f': [{'v': 'o00001'}, {'v': '1'}]}])
        status, t = self.bq('GET', 'datasets/%s/tables/orders' % ds)
        self.assertEqual(len(t['schema']['fields']), len(ORDER_FIELDS))

    def test_table_without_schema_is_a_clear_400(self):
        """BigQuery creates a table without a schema (a later load or patch gives
        it one, which the emulator has not): a 400 saying so, never a 500."""
        ds = self.new_dataset()
        status, body = self.bq('POST', 'datasets/%s/tables' % ds, {
            'tableReference': {'projectId': P, 'datasetId': ds, 'tableId': 't'}})
        self.assertEqual(status, 400, body)
        self.assertEqual(body['error']['message'],
                         'Tables without a schema are not supported by the emulator: give schema.fields')

    def test_syntax_error_quotes_identifiers(self):
        """As BigQuery words them (production texts): Unexpected identifier "SELEC"
        at [1:1]; Expected end of input but got keyword SELECT at [2:1]."""
        status, body = self.query('SELEC 1')
        self.assertEqual(status, 400, body)
        self.assertEqual(body['error']['message'], 'Syntax error: Unexpected identifier "SELEC" at [1:1]')
        status, body = self.query('SELECT 1 foo bar')
        self.assertEqual(body['error']['message'],
                         'Syntax error: Expected end of input but got identifier "bar" at [1:14]')
        status, body = self.query('SELECT 1\nSELECT 2')
        self.assertEqual(body['error']['message'],
                         'Syntax error: Expected end of input but got keyword SELECT at [2:1]')


if __name__ == '__main__':
    unittest.main()
