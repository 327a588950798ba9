"""bqstream's C client against the discovery document.

A PostgreSQL with bqstream preloaded talks to the emulator's BigQuery port
through the recording proxy while it runs the admin functions
(create_dataset, create_raw_orders_table, create_orders_per_minute_view,
setup_demo, drop_table, drop_dataset), a pipeline (publish_orders() into
Pub/Sub, workers streaming into raw_orders with insertAll), FDW scans
(IMPORT FOREIGN SCHEMA, pushed-down WHERE with typed parameters, aggregates,
pages, the query options, a job cancelled by statement_timeout, ANALYZE)
and FDW INSERTs. Every request bqstream sent is checked against the request
schema (and query parameters) of its method, every answer against the
response schema; the outcomes are checked exactly as well.

The steps share one PostgreSQL and run in the order of their names.
"""

import datetime
import json
import time
import unittest

from . import harness as H

P = H.PROJECT
STACK = None
PG = None
SEEN = set()
NOTES = set()     # (method id, note) of bqstream's requests: accepted by Google, not as documented

# int64 fields that bqstream would send as JSON numbers: Google reads them
# (proto3's JSON mapping; its own bq CLI does so for maximumBytesBilled), but
# the discovery document types them as strings, and so does bqstream.
KNOWN_NOTES = set()


def setUpModule():
    global STACK, PG
    H.require_google_tools()
    STACK = H.Stack(services=("pubsub", "bigquery", "bigquerystorage"))
    try:
        PG = H.Postgres()
    except BaseException:
        STACK.stop()
        raise
    PG.psql("""
        CREATE EXTENSION bqstream;
        CREATE SERVER ref FOREIGN DATA WRAPPER bqstream_fdw OPTIONS (
            project_id '{p}', dataset 'shop', pubsub_endpoint 'http://127.0.0.1:{ps}',
            bigquery_endpoint '{bq}');
        CREATE SERVER ref_eu FOREIGN DATA WRAPPER bqstream_fdw OPTIONS (
            project_id '{p}', dataset 'shop_eu', location 'EU', bigquery_endpoint '{bq}');
        CREATE USER MAPPING FOR CURRENT_USER SERVER ref OPTIONS (auth 'none');
        CREATE USER MAPPING FOR CURRENT_USER SERVER ref_eu OPTIONS (auth 'none');
    """.format(p=P, ps=STACK.emulator.ports["pubsub"], bq=STACK.bigquery_url))


def tearDownModule():
    if PG is not None:
        PG.stop()
    if STACK is not None:
        STACK.stop()


def direct(method, path, body=None):
    """The emulator itself, not through the proxy (the suite's own look)."""
    status, resp = STACK.call(method, "/bigquery/v2/projects/%s/%s" % (P, path), body, direct=True)
    assert status < 300, (status, resp)
    return resp


def direct_rows(sql):
    r = direct("POST", "queries", {"query": sql, "useLegacySql": False})
    return [[c["v"] for c in row["f"]] for row in r.get("rows", [])]


class CClientCase(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        STACK.proxy.take()

    def assertConforms(self, min_requests=1):
        """Every exchange since setUp came from bqstream and matches the document."""
        exchanges = STACK.proxy.take()
        self.assertEqual({H.client_of(e) for e in exchanges} - {"bqstream"}, set())
        self.assertGreaterEqual(len(exchanges), min_requests)
        problems, seen = H.check_exchanges(exchanges)
        SEEN.update(seen)
        for e in exchanges:
            for n in e.get("notes", []):
                NOTES.add((H.discovery().method_for(e["method"], e["path"]).id, n.split(":")[0]))
        self.assertEqual(problems, [])
        return exchanges

    def sql(self, text):
        return PG.query(text)

    def sql_error(self, text):
        rc, out, err = PG.psql(text, check=False)
        self.assertNotEqual(rc, 0, out)
        return err


class Steps(CClientCase):
    def test_1_admin_functions(self):
        got = self.sql("SELECT object_type, object_name, created FROM bqstream.setup_demo('ref')")
        self.assertEqual(got.splitlines(), [
            "topic|orders|t", "topic|orders-dead-letter|t", "subscription|orders-dead-letter-archive|t",
            "subscription|orders-pipeline|t", "dataset|shop|t", "table|shop.raw_orders|t",
            "materialized view|shop.orders_per_minute|t"])
        # again: each BigQuery create answers 409, a NOTICE and false
        self.assertEqual(self.sql("SELECT bqstream.create_dataset('ref'), "
                                  "bqstream.create_raw_orders_table('ref'), "
                                  "bqstream.create_orders_per_minute_view('ref')"), "f|f|f")
        self.assertEqual(self.sql("SELECT bqstream.create_dataset('ref_eu'), "
                                  "bqstream.create_raw_orders_table('ref_eu'), "
                                  "bqstream.create_orders_per_minute_view('ref_eu', 'per_minute'), "
                                  "bqstream.create_raw_orders_table('ref', 'scratch')"), "t|t|t|t")
        ex = self.assertConforms(10)
        self.assertEqual({(e["method"], e["status"]) for e in ex}, {("POST", 200), ("POST", 409)})
        bodies = [json.loads(e["request_body"]) for e in ex if e["path"].endswith("/datasets")]
        self.assertEqual(bodies[0], {"datasetReference": {"projectId": P, "datasetId": "shop"}})
        self.assertEqual(direct("GET", "datasets/shop_eu")["location"], "EU")
        t = direct("GET", "datasets/shop/tables/raw_orders")
        self.assertEqual([(f["name"], f["type"], f["mode"]) for f in t["schema"]["fields"]], [
            ("order_id", "STRING", "REQUIRED"), ("user_id", "STRING", "REQUIRED"),
            ("product_id", "STRING", "REQUIRED"), ("amount", "FLOAT", "REQUIRED"),
            ("event_time", "TIMESTAMP", "REQUIRED")])
        self.assertEqual((t["timePartitioning"], t["clustering"]),
                         ({"type": "DAY", "field": "event_time"}, {"fields": ["product_id"]}))
        mv = direct("GET", "datasets/shop_eu/tables/per_minute")
        self.assertEqual((mv["type"], mv["materializedView"]["refreshIntervalMs"]),
                         ("MATERIALIZED_VIEW", "60000"))

    def test_2_pipeline_insert_all(self):
        published, malformed = self.sql(
            "SELECT published, malformed FROM bqstream.publish_orders(400, 'ref', malformed_fraction => 0.1, "
            "seed => 15, progress_interval => 0)").split("|")
        published, malformed = int(published), int(malformed)
        self.assertEqual(published, 400)
        self.sql("SELECT bqstream.create_pipeline('ref_pipe', 'ref', 'orders-pipeline', batch_size => 100, "
                 "write_mode => 'insert_all')")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            inserted, dead = map(int, self.sql("SELECT inserted, dead_lettered FROM bqstream.pipeline_stats "
                                               "WHERE pipeline = 'ref_pipe'").split("|"))
            if inserted + dead >= published:
                break
            time.sleep(0.2)
        self.sql("SELECT bqstream.drop_pipeline('ref_pipe')")
        self.assertEqual((inserted, dead), (published - malformed, malformed))
        self.assertEqual(direct_rows("SELECT COUNT(*) FROM shop.raw_orders"), [[str(inserted)]])
        ex = self.assertConforms(2)
        methods = {H.discovery().method_for(e["method"], e["path"]).id for e in ex}
        self.assertEqual(methods, {"bigquery.tables.get", "bigquery.tabledata.insertAll"})
        body = json.loads(next(e["request_body"] for e in ex if e["path"].endswith("/insertAll")))
        self.assertEqual(sorted(body["rows"][0]["json"]), ["amount", "event_time", "order_id", "product_id",
                                                           "user_id"])

    def test_3_fdw_scans(self):
        n = int(direct_rows("SELECT COUNT(*) FROM shop.raw_orders")[0][0])
        want = direct_rows("SELECT order_id FROM shop.raw_orders ORDER BY order_id")
        self.sql("CREATE SCHEMA ref_local; IMPORT FOREIGN SCHEMA shop FROM SERVER ref INTO ref_local")
        self.assertEqual(self.sql("SELECT count(*) FROM ref_local.raw_orders"), str(n))
        # typed parameters: text, timestamptz, an array (IN), a NULL; aggregates; LIMIT
        first = want[0][0]
        self.assertEqual(self.sql(
            "SELECT order_id FROM ref_local.raw_orders WHERE order_id = ANY (ARRAY['%s', 'none']) "
            "AND event_time > '2000-01-01 00:00:00+00' AND user_id IS NOT NULL" % first), first)
        self.assertEqual(self.sql("PREPARE q(text) AS SELECT count(*) FROM ref_local.raw_orders "
                                  "WHERE user_id = $1; EXECUTE q(NULL)"), "0")
        got = self.sql("SELECT product_id, count(*), round(sum(amount)::numeric, 2) FROM ref_local.raw_orders "
                       "GROUP BY product_id ORDER BY 2 DESC, 1 LIMIT 3")
        self.assertEqual(len(got.splitlines()), 3)
        # pages of 7 rows: getQueryResults with pageTokens
        self.sql("ALTER FOREIGN TABLE ref_local.raw_orders OPTIONS (ADD fetch_size '7')")
        got = self.sql("SELECT order_id FROM ref_local.raw_orders ORDER BY order_id COLLATE \"C\"")
        self.assertEqual(got.splitlines(), [r[0] for r in want])
        # the query options: cache off, a job timeout, a cost guard that refuses
        self.sql("ALTER FOREIGN TABLE ref_local.raw_orders OPTIONS (ADD use_query_cache 'false', "
                 "ADD timeout '30s', ADD maximum_bytes_billed '100000000')")
        self.assertEqual(self.sql("SELECT count(DISTINCT user_id) > 0 FROM ref_local.raw_orders"), "t")
        self.sql("ALTER FOREIGN TABLE ref_local.raw_orders OPTIONS (SET maximum_bytes_billed '1')")
        err = self.sql_error("SELECT order_id FROM ref_local.raw_orders")
        self.assertIn("Query exceeded limit for bytes billed: 1. 10485760 or higher required", err)
        self.sql("ALTER FOREIGN TABLE ref_local.raw_orders OPTIONS (DROP maximum_bytes_billed, DROP timeout, "
                 "DROP use_query_cache)")
        # the materialized view, EXPLAIN ANALYZE, ANALYZE
        self.assertEqual(self.sql("SELECT sum(order_count) FROM ref_local.orders_per_minute"), str(n))
        self.assertIn("BigQuery Job: job_", self.sql("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) "
                                               "SELECT order_id FROM ref_local.raw_orders LIMIT 1"))
        self.sql("ANALYZE ref_local.raw_orders")
        # a dataset in the EU through a server with a location; a missing table
        self.sql("CREATE FOREIGN TABLE eu_orders (order_id text) SERVER ref_eu OPTIONS (\"table\" 'raw_orders')")
        self.assertEqual(self.sql("SELECT count(*) FROM eu_orders"), "0")
        self.sql("CREATE FOREIGN TABLE gone (x text) SERVER ref OPTIONS (\"table\" 'no_such_table')")
        err = self.sql_error("SELECT x FROM gone")
        self.assertIn("ERROR:  Not found: Table %s:shop.no_such_table" % P, err)
        self.assertIn("DETAIL:  BigQuery answered HTTP 404 NOT_FOUND.", err)
        ex = self.assertConforms(10)
        methods = {H.discovery().method_for(e["method"], e["path"]).id for e in ex}
        self.assertTrue({"bigquery.tables.list", "bigquery.tables.get", "bigquery.jobs.query",
                         "bigquery.jobs.getQueryResults"} <= methods, methods)
        pages = [e for e in ex if e["method"] == "GET" and "pageToken=" in e["query"]]
        self.assertGreaterEqual(len(pages), n // 7 - 1)
        queries = [json.loads(e["request_body"]) for e in ex if e["path"].endswith("/queries")]
        self.assertTrue(any(q.get("location") == "EU" for q in queries))
        self.assertTrue(any("jobTimeoutMs" in q for q in queries))
        self.assertTrue(any(p["parameterType"]["type"] == "ARRAY"
                            for q in queries for p in q.get("queryParameters", [])))

    def test_4_fdw_cancel(self):
        """statement_timeout while a page is held back: bqstream cancels the job."""
        STACK.faults({"latency_ms": 3000, "methods": ["getQueryResults"], "count": 1})
        try:
            err = self.sql_error("SET statement_timeout = '1s'; "
                                 "SELECT order_id FROM ref_local.raw_orders ORDER BY order_id")
        finally:
            STACK.call("DELETE", "/emulator/faults", direct=True)
        self.assertIn("canceling statement due to statement timeout", err)
        time.sleep(2.5)     # the held-back page's answer reaches the proxy
        ex = self.assertConforms(2)
        self.assertIn("bigquery.jobs.cancel", {H.discovery().method_for(e["method"], e["path"]).id for e in ex})

    def test_5_fdw_insert(self):
        before = int(direct_rows("SELECT COUNT(*) FROM shop.raw_orders")[0][0])
        self.sql("INSERT INTO ref_local.raw_orders SELECT 'fdw-' || i, 'u-fdw', 'p-' || (i % 3), i * 1.5, "
                 "'2026-01-02 03:04:05.123456+00'::timestamptz + i * interval '1 minute' "
                 "FROM generate_series(1, 30) i")
        self.assertEqual(direct_rows("SELECT COUNT(*) FROM shop.raw_orders"), [[str(before + 30)]])
        at = datetime.datetime(2026, 1, 2, 3, 6, 5, 123456, tzinfo=datetime.timezone.utc)
        self.assertEqual(direct_rows("SELECT order_id, amount, UNIX_MICROS(event_time) FROM shop.raw_orders "
                                     "WHERE order_id = 'fdw-2'"),
                         [["fdw-2", "3.0", str(int(at.timestamp()) * 1000000 + 123456)]])
        # arrays go as JSON arrays
        direct("POST", "queries", {"useLegacySql": False,
                                   "query": "CREATE TABLE shop.tagged (id STRING NOT NULL, tags ARRAY<STRING>, "
                                            "n NUMERIC, ts TIMESTAMP)"})
        self.sql("IMPORT FOREIGN SCHEMA shop LIMIT TO (tagged) FROM SERVER ref INTO ref_local")
        self.sql("INSERT INTO ref_local.tagged VALUES ('a', ARRAY['x', 'y \"q\"'], 1.25, '2026-01-01 00:00:00+00'),"
                 " ('b', '{}', NULL, NULL)")
        self.assertEqual(direct_rows("SELECT id, ARRAY_LENGTH(tags), n FROM shop.tagged ORDER BY id"),
                         [["a", "2", "1.25"], ["b", "0", None]])
        # a row BigQuery refuses (REQUIRED field missing): reported by its number
        err = self.sql_error("INSERT INTO ref_local.tagged VALUES ('c', NULL, NULL, NULL), (NULL, NULL, NULL, NULL)")
        self.assertIn("BigQuery refused row 2", err)
        self.assertConforms(4)

    def test_6_drop(self):
        self.assertEqual(self.sql("SELECT bqstream.drop_table('ref', 'scratch'), "
                                  "bqstream.drop_table('ref', 'scratch'), "
                                  "bqstream.drop_dataset('ref_eu', cascade => true), "
                                  "bqstream.drop_dataset('ref_eu')"), "t|f|t|f")
        err = self.sql_error("SELECT bqstream.drop_dataset('ref')")
        self.assertIn("Dataset %s:shop is still in use" % P, err)
        ex = self.assertConforms(5)
        self.assertEqual(sorted((e["method"], e["status"]) for e in ex),
                         [("DELETE", 204), ("DELETE", 204), ("DELETE", 400), ("DELETE", 404), ("DELETE", 404)])

    def test_7_coverage(self):
        """bqstream called these methods, each checked above. It never calls
        datasets.get, tabledata.list, jobs.get or jobs.insert: the emulator's
        answers to those are checked with Google's bq CLI (test_bq_cli) and
        directly (test_emulator_answers)."""
        want = {"bigquery." + m for m in (
            "datasets.insert", "datasets.delete", "tables.insert", "tables.get", "tables.list",
            "tables.delete", "tabledata.insertAll", "jobs.query", "jobs.getQueryResults", "jobs.cancel")}
        self.assertEqual(want - SEEN, set())

    def test_8_int64_sent_as_numbers(self):
        """No int64 field goes as a JSON number (see KNOWN_NOTES)."""
        self.assertEqual(NOTES - KNOWN_NOTES, set())


if __name__ == "__main__":
    unittest.main()
