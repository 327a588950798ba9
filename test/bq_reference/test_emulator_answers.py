"""Every kind of answer the BigQuery emulator gives, against the discovery
document: the methods the C client calls (and the others of the REST
surface) with the variants that change an answer's shape — every column
type, REPEATED cells, partitioning, clustering, the streaming buffer, views
and materialized views, insertErrors, pages, dry runs, DDL, jobs still
running, failed and cancelled jobs, and error bodies. Plain REST calls
through the recording proxy, so this part needs no `bq` process."""

import json
import unittest
import urllib.parse

from . import harness as H

P = H.PROJECT
BASE = "/bigquery/v2/projects/%s" % P
STACK = None


def setUpModule():
    global STACK
    H.require_google_tools()
    STACK = H.Stack(extra_args=["--bq-streaming-buffer-s", "30"])


def tearDownModule():
    if STACK is not None:
        STACK.stop()


TYPES = [{"name": "s", "type": "STRING", "mode": "REQUIRED"}, {"name": "i", "type": "INT64"},
         {"name": "f", "type": "FLOAT64"}, {"name": "n", "type": "NUMERIC"},
         {"name": "bn", "type": "BIGNUMERIC"}, {"name": "b", "type": "BOOL"},
         {"name": "ts", "type": "TIMESTAMP"}, {"name": "dt", "type": "DATETIME"},
         {"name": "d", "type": "DATE"}, {"name": "t", "type": "TIME"}, {"name": "by", "type": "BYTES"},
         {"name": "j", "type": "JSON"}, {"name": "tags", "type": "STRING", "mode": "REPEATED"},
         {"name": "nums", "type": "INTEGER", "mode": "REPEATED"}]
ROW = {"s": "a", "i": "9007199254740993", "f": 1.5, "n": "1.25", "bn": "3.5", "b": True,
       "ts": "2024-05-01T10:00:00.123456Z", "dt": "2024-05-01T10:00:00", "d": "2024-05-01",
       "t": "10:00:00.5", "by": "AAEC", "j": "{\"k\":[1,2]}", "tags": ["x", "y"], "nums": [1, 2]}


class AnswerTests(unittest.TestCase):
    maxDiff = None

    def call(self, method, path, body=None, expect=None):
        status, resp = STACK.call(method, BASE + path, body)
        if expect is not None:
            self.assertEqual(status, expect, resp)
        return resp

    def assertConforms(self):
        problems, seen = H.check_exchanges(STACK.proxy.take())
        self.assertEqual(problems, [])
        return seen

    def setUp(self):
        STACK.proxy.take()

    def test_datasets(self):
        self.call("POST", "/datasets", {"datasetReference": {"projectId": P, "datasetId": "a1"},
                                        "location": "EU", "labels": {"env": "t"}, "description": "d",
                                        "friendlyName": "A", "defaultTableExpirationMs": "3600000"}, 200)
        self.call("POST", "/datasets", {"datasetReference": {"projectId": P, "datasetId": "a2"}}, 200)
        self.call("POST", "/datasets", {"datasetReference": {"projectId": P, "datasetId": "a2"}}, 409)
        self.call("POST", "/datasets", {"datasetReference": {"projectId": P, "datasetId": "bad-id"}}, 400)
        self.call("GET", "/datasets/a1", expect=200)
        self.call("GET", "/datasets/nosuch", expect=404)
        page = self.call("GET", "/datasets?maxResults=1", expect=200)
        self.call("GET", "/datasets?maxResults=1&pageToken=%s" % page["nextPageToken"], expect=200)
        self.call("GET", "/datasets?all=true", expect=200)
        self.call("PATCH", "/datasets/a1", {"description": "e"}, 200)
        self.call("POST", "/datasets/a2/tables", {"tableReference": {"projectId": P, "datasetId": "a2",
                                                                     "tableId": "t"},
                                                  "schema": {"fields": [{"name": "x", "type": "STRING"}]}}, 200)
        self.call("DELETE", "/datasets/a2", expect=400)
        self.call("DELETE", "/datasets/a2?deleteContents=true", expect=204)
        self.call("DELETE", "/datasets/a1", expect=204)
        self.call("DELETE", "/datasets/a1", expect=404)
        seen = self.assertConforms()
        self.assertTrue({"bigquery.datasets." + m for m in ("insert", "get", "list", "patch", "delete")} <= seen)

    def test_tables_rows_and_pages(self):
        self.call("POST", "/datasets", {"datasetReference": {"projectId": P, "datasetId": "b"}}, 200)
        ref = {"projectId": P, "datasetId": "b"}
        self.call("POST", "/datasets/b/tables", {
            "tableReference": dict(ref, tableId="every"), "schema": {"fields": TYPES},
            "timePartitioning": {"type": "DAY", "field": "ts", "expirationMs": "8640000000",
                                 "requirePartitionFilter": False},
            "clustering": {"fields": ["s", "i"]}, "description": "every type", "labels": {"k": "v"},
            "friendlyName": "All"}, 200)
        self.call("POST", "/datasets/b/tables", {"tableReference": dict(ref, tableId="every"),
                                                 "schema": {"fields": TYPES}}, 409)
        self.call("POST", "/datasets/b/tables", {"tableReference": dict(ref, tableId="bad"),
                                                 "schema": {"fields": [{"name": "x", "type": "NOPE"}]}}, 400)
        self.call("GET", "/datasets/b/tables/every", expect=200)       # no rows yet
        r = self.call("POST", "/datasets/b/tables/every/insertAll",
                      {"rows": [{"insertId": "r%d" % k, "json": dict(ROW, s="r%d" % k)} for k in range(5)]
                       + [{"json": {"s": "nulls"}}]}, 200)
        self.assertNotIn("insertErrors", r)
        r = self.call("POST", "/datasets/b/tables/every/insertAll",
                      {"rows": [{"json": {"s": "ok"}}, {"json": {"i": "x"}}, {"json": {"s": "z", "zz": 1}}]}, 200)
        self.assertEqual(len(r["insertErrors"]), 3)
        r = self.call("POST", "/datasets/b/tables/every/insertAll",
                      {"skipInvalidRows": True, "ignoreUnknownValues": True,
                       "rows": [{"json": {"s": "ok"}}, {"json": {"i": "x"}}]}, 200)
        self.assertEqual(len(r["insertErrors"]), 1)
        self.call("POST", "/datasets/b/tables/every/insertAll", {"rows": []}, 400)
        self.call("POST", "/datasets/b/tables/nosuch/insertAll", {"rows": [{"json": {}}]}, 404)
        t = self.call("GET", "/datasets/b/tables/every", expect=200)   # with a streaming buffer
        self.assertIn("streamingBuffer", t)
        self.call("GET", "/datasets/b/tables/every?selectedFields=s,tags", expect=200)
        page = self.call("GET", "/datasets/b/tables/every/data?maxResults=2", expect=200)
        self.call("GET", "/datasets/b/tables/every/data?maxResults=2&pageToken=%s" % page["pageToken"], expect=200)
        self.call("GET", "/datasets/b/tables/every/data?startIndex=1&selectedFields=tags,i"
                         "&formatOptions.useInt64Timestamp=true", expect=200)
        self.call("POST", "/datasets/b/tables", {"tableReference": dict(ref, tableId="v"),
                                                 "view": {"query": "SELECT s, tags FROM b.every",
                                                          "useLegacySql": False}}, 200)
        self.call("POST", "/datasets/b/tables", {
            "tableReference": dict(ref, tableId="mv"),
            "materializedView": {"query": "SELECT s, COUNT(*) AS n, SUM(f) AS f FROM `%s.b.every` GROUP BY s" % P,
                                 "enableRefresh": True, "refreshIntervalMs": "60000"}}, 200)
        self.call("GET", "/datasets/b/tables/v", expect=200)
        self.call("GET", "/datasets/b/tables/mv", expect=200)
        self.call("GET", "/datasets/b/tables/v/data", expect=400)
        page = self.call("GET", "/datasets/b/tables?maxResults=2", expect=200)
        self.call("GET", "/datasets/b/tables?maxResults=2&pageToken=%s" % page["nextPageToken"], expect=200)
        self.call("PATCH", "/datasets/b/tables/every", {"description": "patched", "labels": {"a": "b"}}, 200)
        self.call("DELETE", "/datasets/b/tables/v", expect=204)
        self.call("DELETE", "/datasets/b/tables/v", expect=404)
        self.call("GET", "/datasets/b/tables/v", expect=404)
        exchanges = STACK.proxy.records()
        seen = self.assertConforms()
        # tabledata.list's cells against the table's schema (with the same selectedFields)
        for e in exchanges:
            if e["method"] == "GET" and e["path"].endswith("/every/data") and e["status"] == 200:
                sel = [v for k, v in urllib.parse.parse_qsl(e["query"])
                       if k == "selectedFields"]
                status, t = STACK.call("GET", BASE + "/datasets/b/tables/every" +
                                       ("?selectedFields=" + sel[0] if sel else ""), direct=True)
                rows = json.loads(e["response_body"]).get("rows", [])
                self.assertEqual(H.check_rows(t["schema"]["fields"], rows), [], e["query"])
        self.assertTrue({"bigquery.tables.insert", "bigquery.tables.get", "bigquery.tables.list",
                         "bigquery.tables.patch", "bigquery.tables.delete", "bigquery.tabledata.insertAll",
                         "bigquery.tabledata.list"} <= seen)

    def test_query_result_table(self):
        # a finished query's anonymous destination table, as jobs.get names it: tables.get
        # and tabledata.list answer it in the shapes of any table's
        self.call("POST", "/datasets", {"datasetReference": {"projectId": P, "datasetId": "r"}}, 200)
        self.call("POST", "/datasets/r/tables", {"tableReference": {"projectId": P, "datasetId": "r",
                                                                    "tableId": "every"},
                                                 "schema": {"fields": TYPES}}, 200)
        self.call("POST", "/datasets/r/tables/every/insertAll",
                  {"rows": [{"json": dict(ROW, s="r%d" % k)} for k in range(12)]}, 200)
        r = self.call("POST", "/queries", {"query": "SELECT * FROM r.every ORDER BY s",
                                           "useLegacySql": False}, 200)
        job = self.call("GET", "/jobs/%s" % r["jobReference"]["jobId"], expect=200)
        dest = job["configuration"]["query"]["destinationTable"]
        path = "/datasets/%s/tables/%s" % (dest["datasetId"], dest["tableId"])
        t = self.call("GET", path, expect=200)
        self.assertEqual(t["numRows"], "12")
        page = self.call("GET", path + "/data?maxResults=5", expect=200)
        self.call("GET", path + "/data?maxResults=5&pageToken=%s" % page["pageToken"], expect=200)
        self.call("GET", path + "/data?selectedFields=s,tags&formatOptions.useInt64Timestamp=true",
                  expect=200)
        seen = self.assertConforms()
        self.assertTrue({"bigquery.jobs.get", "bigquery.tables.get", "bigquery.tabledata.list"} <= seen)

    def test_queries_and_jobs(self):
        self.call("POST", "/datasets", {"datasetReference": {"projectId": P, "datasetId": "c"},
                                        "location": "EU"}, 200)
        self.call("POST", "/datasets/c/tables", {"tableReference": {"projectId": P, "datasetId": "c",
                                                                    "tableId": "every"},
                                                 "schema": {"fields": TYPES}}, 200)
        self.call("POST", "/datasets/c/tables/every/insertAll",
                  {"rows": [{"json": dict(ROW, s="r%d" % k, i=str(k))} for k in range(30)]
                   + [{"json": {"s": "nulls"}}]}, 200)
        q = {"useLegacySql": False, "location": "EU"}
        r = self.call("POST", "/queries", dict(q, query="SELECT * FROM c.every ORDER BY s", maxResults=7,
                                               formatOptions={"useInt64Timestamp": True}, requestId="req-1",
                                               useQueryCache=False, maximumBytesBilled="104857600",
                                               timeoutMs=10000), 200)
        job = r["jobReference"]["jobId"]
        self.call("POST", "/queries", dict(q, query="SELECT * FROM c.every ORDER BY s", requestId="req-1"), 200)
        self.call("GET", "/queries/%s?location=EU&maxResults=7&pageToken=%s" % (job, r["pageToken"]), expect=200)
        self.call("GET", "/queries/%s?location=EU&startIndex=20&maxResults=100&timeoutMs=1000"
                         "&formatOptions.useInt64Timestamp=true" % job, expect=200)
        self.call("GET", "/queries/%s?location=US" % job, expect=404)
        self.call("POST", "/queries", dict(q, query="SELECT s, i, ts FROM c.every WHERE i IN UNNEST(@ids) "
                                                    "AND ts > @t AND s = @s",
                                           parameterMode="NAMED", queryParameters=[
                                               {"name": "ids", "parameterType": {"type": "ARRAY",
                                                                                 "arrayType": {"type": "INT64"}},
                                                "parameterValue": {"arrayValues": [{"value": "1"}, {"value": "2"}]}},
                                               {"name": "t", "parameterType": {"type": "TIMESTAMP"},
                                                "parameterValue": {"value": "2020-01-01 00:00:00+00"}},
                                               {"name": "s", "parameterType": {"type": "STRING"},
                                                "parameterValue": {"value": None}}]), 200)
        self.call("POST", "/queries", dict(q, query="SELECT COUNT(*) AS n, SUM(n) AS total, AVG(f) AS a, "
                                                    "ARRAY_LENGTH(tags) AS l FROM c.every GROUP BY l"), 200)
        self.call("POST", "/queries", dict(q, query="SELECT s FROM c.every WHERE i > ?", parameterMode="POSITIONAL",
                                           queryParameters=[{"parameterType": {"type": "INT64"},
                                                             "parameterValue": {"value": "25"}}]), 200)
        self.call("POST", "/queries", dict(q, query="SELECT s, tags FROM c.every", dryRun=True), 200)
        self.call("POST", "/queries", dict(q, query="SELECT s FROM c.every", maximumBytesBilled="1"), 400)
        self.call("POST", "/queries", dict(q, query="SELECT s FROM c.nosuch"), 404)
        self.call("POST", "/queries", dict(q, query="SELEC 1"), 400)
        self.call("POST", "/queries", {"query": "SELECT 1"}, 400)      # legacy SQL by default
        self.call("POST", "/queries", dict(q, query="CREATE TABLE c.ddl (a INT64, b ARRAY<STRING>) "
                                                    "OPTIONS(description='x')"), 200)
        self.call("POST", "/queries", dict(q, query="CREATE MATERIALIZED VIEW c.mv AS SELECT s, COUNT(*) AS n "
                                                    "FROM c.every GROUP BY s"), 200)
        self.call("POST", "/queries", dict(q, query="DROP TABLE c.ddl"), 200)
        # a job still running: jobComplete false, then polled, listed, cancelled
        r = self.call("POST", "/queries", dict(q, query="SELECT s FROM c.every", timeoutMs=10,
                                               labels={"emulator_delay_ms": "5000"}), 200)
        self.assertFalse(r["jobComplete"])
        slow = r["jobReference"]["jobId"]
        self.assertFalse(self.call("GET", "/queries/%s?location=EU&timeoutMs=10" % slow, expect=200)["jobComplete"])
        self.assertEqual(self.call("GET", "/jobs/%s?location=EU" % slow, expect=200)["status"]["state"], "RUNNING")
        self.call("GET", "/jobs?maxResults=3&projection=full&allUsers=true&stateFilter=running", expect=200)
        self.call("POST", "/jobs/%s/cancel?location=EU" % slow, expect=200)
        self.call("GET", "/jobs/%s?location=EU" % slow, expect=200)
        self.call("GET", "/queries/%s?location=EU" % slow, expect=400)
        # jobs.insert: done, dry run, failed, duplicate ID; list with pages; delete
        ins = {"configuration": {"query": {"query": "SELECT s, n FROM c.every", "useLegacySql": False,
                                           "useQueryCache": True, "maximumBytesBilled": "104857600",
                                           "defaultDataset": {"projectId": P, "datasetId": "c"}},
                                 "labels": {"team": "x"}},
               "jobReference": {"projectId": P, "jobId": "ref_insert_1", "location": "EU"}}
        self.call("POST", "/jobs", ins, 200)
        self.call("POST", "/jobs", ins, 409)
        self.call("POST", "/jobs", {"configuration": {"query": {"query": "SELECT 1", "useLegacySql": False},
                                                      "dryRun": True}}, 200)
        self.call("POST", "/jobs", {"configuration": {"query": {"query": "SELECT nope FROM c.every",
                                                                "useLegacySql": False}},
                                    "jobReference": {"projectId": P, "jobId": "ref_failed"}}, 200)
        self.call("GET", "/jobs/ref_failed", expect=200)
        self.call("GET", "/jobs/ref_insert_1?location=EU", expect=200)
        self.call("GET", "/queries/ref_insert_1?location=EU", expect=200)
        page = self.call("GET", "/jobs?maxResults=2", expect=200)
        self.call("GET", "/jobs?maxResults=2&pageToken=%s" % page["nextPageToken"], expect=200)
        self.call("POST", "/jobs", {"configuration": {"load": {
            "sourceUris": ["gs://bucket/x.csv"],
            "destinationTable": {"projectId": P, "datasetId": "c", "tableId": "loaded"}}}}, 400)
        self.call("DELETE", "/jobs/ref_insert_1/delete?location=EU", expect=204)
        self.call("GET", "/jobs/ref_insert_1?location=EU", expect=404)
        self.call("POST", "/jobs/no_such_job/cancel", expect=404)
        seen = self.assertConforms()
        self.assertTrue({"bigquery.jobs." + m for m in ("query", "getQueryResults", "insert", "get", "list",
                                                         "cancel", "delete")} <= seen)


if __name__ == "__main__":
    unittest.main()
