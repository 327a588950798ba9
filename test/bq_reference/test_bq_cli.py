"""Google's `bq` CLI against the BigQuery emulator.

Every command goes through a recording proxy, and each exchange it causes
is checked against Google's discovery document (see discovery.py) on top
of the command's own outcome, which is checked exactly: row counts, values,
bytes, job states and Google's error texts. bq wraps its messages at 80
columns, so texts are compared without whitespace (harness.squash).
"""

import json
import os
import tempfile
import unittest

from . import harness as H

PROJECT = H.PROJECT
STACK = None
BQ = None
SEEN = set()      # discovery method ids the CLI's traffic used
N_ROWS = 2500


def setUpModule():
    global STACK, BQ
    H.require_google_tools()
    STACK = H.Stack()
    BQ = H.BqCli(STACK.bigquery_url)


def tearDownModule():
    if BQ is not None:
        BQ.close()
    if STACK is not None:
        STACK.stop()


def order(i):
    return {"order_id": "o%04d" % i, "user_id": "u%d" % (i % 7), "product_id": "p%d" % (i % 5),
            "amount": i * 0.25, "qty": i,
            "event_time": "2024-05-%02dT12:%02d:00Z" % (i % 28 + 1, i % 60)}


class BqCase(unittest.TestCase):
    maxDiff = None

    def bq(self, *args, rc=0, global_flags=(), stdin=None):
        """Run bq; assert its exit status (None: any non-zero) and that every
        exchange it caused conforms to the discovery document. Returns
        (stdout, stderr, exchanges)."""
        STACK.proxy.take()
        code, out, err = BQ.run(*args, global_flags=global_flags, stdin=stdin)
        exchanges = STACK.proxy.take()
        problems, seen = H.check_exchanges(exchanges)
        SEEN.update(seen)
        self.assertEqual(problems, [], "bq %s: traffic differs from the discovery document"
                         % " ".join(args))
        self.assertNotIn("returned an invalid reply", out + err)
        self.assertNotIn("Traceback", err)
        if rc is None:
            self.assertNotEqual(code, 0, "bq %s succeeded: %s" % (" ".join(args), out))
        else:
            self.assertEqual(code, rc, "bq %s: %s %s" % (" ".join(args), out, err))
        return out, err, exchanges

    def bq_json(self, *args, **kw):
        out, _, _ = self.bq("--format=json", *args, **kw)
        return json.loads(out) if out.strip() else None

    def assertSays(self, text, expected):
        self.assertEqual(H.squash(text), H.squash(expected))

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="bqref-", dir=BQ.home)

    def rest(self, method, path, body=None):
        """A direct REST call through the proxy (setup the CLI has no short form for)."""
        status, resp = STACK.call(method, "/bigquery/v2/projects/%s/%s" % (PROJECT, path), body)
        self.assertLess(status, 300, resp)
        return resp


class DatasetTests(BqCase):
    def test_mk_show_ls_rm(self):
        out, _, _ = self.bq("mk", "--location=EU", "--description=reference suite", "ref_eu")
        self.assertSays(out, "Dataset 'ref-project:ref_eu' successfully created.")
        out, _, _ = self.bq("mk", "--location=EU", "ref_eu", rc=None)
        self.assertSays(out, "BigQuery error in mk operation: Dataset 'ref-project:ref_eu' already exists.")
        self.bq("mk", "ref_us")

        ds = self.bq_json("show", "ref_eu")
        self.assertEqual(ds["datasetReference"], {"projectId": PROJECT, "datasetId": "ref_eu"})
        self.assertEqual((ds["location"], ds["id"], ds["description"], ds["kind"]),
                         ("EU", "ref-project:ref_eu", "reference suite", "bigquery#dataset"))
        self.assertEqual(self.bq_json("show", "ref_us")["location"], "US")
        listed = {d["datasetReference"]["datasetId"]: d["location"] for d in self.bq_json("ls")}
        self.assertEqual({k: v for k, v in listed.items() if k.startswith("ref_")},
                         {"ref_eu": "EU", "ref_us": "US"})

        # a dataset holding a table goes only with -r
        self.rest("POST", "datasets/ref_eu/tables",
                  {"tableReference": {"projectId": PROJECT, "datasetId": "ref_eu", "tableId": "t"},
                   "schema": {"fields": [{"name": "a", "type": "STRING"}]}})
        out, _, _ = self.bq("rm", "-f", "ref_eu", rc=None)
        self.assertSays(out, "BigQuery error in rm operation: Dataset ref-project:ref_eu is still in use")
        self.bq("rm", "-r", "-f", "ref_eu")
        self.bq("rm", "-f", "ref_us")
        out, _, _ = self.bq("show", "ref_us", rc=2)
        self.assertSays(out, "BigQuery error in show operation: Not found: Dataset ref-project:ref_us")

    def test_ls_pages(self):
        names = ["page_%02d" % i for i in range(7)]
        for n in names:
            self.rest("POST", "datasets", {"datasetReference": {"projectId": PROJECT, "datasetId": n}})
        got, token, pages = [], None, 0
        while True:
            args = ["ls", "--max_results=3", "--print_last_token"] + (["-k", token] if token else [])
            page = self.bq_json(*args)
            pages += 1
            got += [d["datasetReference"]["datasetId"] for d in page["results"]]
            self.assertLessEqual(len(page["results"]), 3)
            token = page.get("token")
            if not token:
                break
        self.assertEqual([g for g in got if g.startswith("page_")], names)
        self.assertGreaterEqual(pages, 3)
        for n in names:
            self.rest("DELETE", "datasets/%s" % n)


class TableTests(BqCase):
    @classmethod
    def setUpClass(cls):
        status, resp = STACK.call("POST", "/bigquery/v2/projects/%s/datasets" % PROJECT,
                                  {"datasetReference": {"projectId": PROJECT, "datasetId": "tbl"},
                                   "location": "EU"})
        assert status == 200, resp

    def test_mk_show_insert_head_ls_rm(self):
        out, _, _ = self.bq("mk", "--table", "--description=orders",
                            "--time_partitioning_field=event_time", "--time_partitioning_type=DAY",
                            "--time_partitioning_expiration=864000",
                            "--clustering_fields=product_id,user_id", "tbl.orders",
                            "order_id:STRING,user_id:STRING,product_id:STRING,amount:FLOAT,"
                            "qty:INTEGER,event_time:TIMESTAMP")
        self.assertSays(out, "Table 'ref-project:tbl.orders' successfully created.")
        t = self.bq_json("show", "tbl.orders")
        self.assertEqual(t["schema"]["fields"], [
            {"name": "order_id", "type": "STRING", "mode": "NULLABLE"},
            {"name": "user_id", "type": "STRING", "mode": "NULLABLE"},
            {"name": "product_id", "type": "STRING", "mode": "NULLABLE"},
            {"name": "amount", "type": "FLOAT", "mode": "NULLABLE"},
            {"name": "qty", "type": "INTEGER", "mode": "NULLABLE"},
            {"name": "event_time", "type": "TIMESTAMP", "mode": "NULLABLE"}])
        self.assertEqual(t["timePartitioning"],
                         {"type": "DAY", "field": "event_time", "expirationMs": "864000000"})
        self.assertEqual(t["clustering"], {"fields": ["product_id", "user_id"]})
        self.assertEqual((t["type"], t["numRows"], t["location"], t["description"]),
                         ("TABLE", "0", "EU", "orders"))

        rows = self.write("rows.json", "".join(json.dumps(order(i)) + "\n" for i in range(5)))
        self.bq("insert", "tbl.orders", rows)
        got = self.bq_json("head", "-n", "3", "tbl.orders")
        self.assertEqual(got, [{"order_id": "o0000", "user_id": "u0", "product_id": "p0", "amount": "0.0",
                                "qty": "0", "event_time": "2024-05-01 12:00:00"},
                               {"order_id": "o0001", "user_id": "u1", "product_id": "p1", "amount": "0.25",
                                "qty": "1", "event_time": "2024-05-02 12:01:00"},
                               {"order_id": "o0002", "user_id": "u2", "product_id": "p2", "amount": "0.5",
                                "qty": "2", "event_time": "2024-05-03 12:02:00"}])
        got = self.bq_json("head", "-s", "3", "-n", "10", "tbl.orders")
        self.assertEqual([r["order_id"] for r in got], ["o0003", "o0004"])
        out, _, _ = self.bq("head", "-n", "1", "--selected_fields=qty,order_id", "tbl.orders")
        self.assertIn("| o0000    |   0 |", out)

        # one bad row stops the request: reported per row, nothing stored
        bad = self.write("bad.json", '{"order_id":"x","qty":"many"}\n{"order_id":"y","qty":7}\n')
        out, _, _ = self.bq("insert", "tbl.orders", bad, rc=1)
        self.assertSays(out, "record 0 errors: invalid: Cannot convert value to integer (bad value): many "
                             "record 1 errors: stopped:")
        self.bq("insert", "--skip_invalid_rows", "tbl.orders", bad, rc=1)
        self.assertEqual(len(self.bq_json("head", "-n", "100", "tbl.orders")), 6)

        # a schema file with modes; ls with --max_results; rm
        schema = self.write("schema.json", json.dumps([
            {"name": "id", "type": "STRING", "mode": "REQUIRED"},
            {"name": "tags", "type": "STRING", "mode": "REPEATED"},
            {"name": "price", "type": "NUMERIC"}]))
        self.bq("mk", "--table", "tbl.tagged", schema)
        self.assertEqual(self.bq_json("show", "--schema", "tbl.tagged"), [
            {"name": "id", "type": "STRING", "mode": "REQUIRED"},
            {"name": "tags", "type": "STRING", "mode": "REPEATED"},
            {"name": "price", "type": "NUMERIC", "mode": "NULLABLE"}])   # BigQuery fills mode in
        tagged = self.write("tagged.json", '{"id":"a","tags":["x","y"],"price":"1.10"}\n{"id":"b"}\n')
        self.bq("insert", "tbl.tagged", tagged)
        self.assertEqual(self.bq_json("head", "tbl.tagged"),
                         [{"id": "a", "tags": ["x", "y"], "price": "1.1"},
                          {"id": "b", "tags": [], "price": None}])
        self.bq("mk", "--view=SELECT id FROM tbl.tagged", "--nouse_legacy_sql", "tbl.ids")
        listed = self.bq_json("ls", "tbl")
        self.assertEqual([(t["tableReference"]["tableId"], t["type"]) for t in listed],
                         [("ids", "VIEW"), ("orders", "TABLE"), ("tagged", "TABLE")])
        self.assertEqual(len(self.bq_json("ls", "--max_results=2", "tbl")), 2)
        self.bq("rm", "-f", "-t", "tbl.tagged")
        out, _, _ = self.bq("show", "tbl.tagged", rc=2)
        self.assertSays(out, "BigQuery error in show operation: Not found: Table ref-project:tbl.tagged")
        out, _, _ = self.bq("head", "tbl.nosuch", rc=2)
        self.assertSays(out, "BigQuery error in head operation: Not found: Table ref-project:tbl.nosuch")


class QueryTests(BqCase):
    @classmethod
    def setUpClass(cls):
        status, resp = STACK.call("POST", "/bigquery/v2/projects/%s/datasets" % PROJECT,
                                  {"datasetReference": {"projectId": PROJECT, "datasetId": "qry"},
                                   "location": "EU"})
        assert status == 200, resp
        status, resp = STACK.call("POST", "/bigquery/v2/projects/%s/datasets/qry/tables" % PROJECT, {
            "tableReference": {"projectId": PROJECT, "datasetId": "qry", "tableId": "orders"},
            "schema": {"fields": [{"name": "order_id", "type": "STRING", "mode": "REQUIRED"},
                                  {"name": "user_id", "type": "STRING"},
                                  {"name": "product_id", "type": "STRING"},
                                  {"name": "amount", "type": "FLOAT"},
                                  {"name": "qty", "type": "INTEGER"},
                                  {"name": "event_time", "type": "TIMESTAMP"}]},
            "timePartitioning": {"type": "DAY", "field": "event_time"}})
        assert status == 200, resp

    def test_0_insert_from_file(self):
        """Runs first (the others read these rows)."""
        path = self.write("orders.json", "".join(json.dumps(order(i)) + "\n" for i in range(N_ROWS)))
        out, _, _ = self.bq("insert", "qry.orders", path)
        self.assertEqual(out.strip(), "")
        self.assertEqual(self.bq_json("query", "--use_legacy_sql=false",
                                      "SELECT COUNT(*) AS n FROM qry.orders"), [{"n": str(N_ROWS)}])

    def test_aggregate(self):
        got = self.bq_json("query", "--use_legacy_sql=false",
                           "SELECT product_id, COUNT(*) AS n, SUM(qty) AS q, MAX(amount) AS m "
                           "FROM qry.orders GROUP BY product_id ORDER BY product_id")
        want = []
        for p in range(5):
            ids = [i for i in range(N_ROWS) if i % 5 == p]
            want.append({"product_id": "p%d" % p, "n": str(len(ids)), "q": str(sum(ids)),
                         "m": repr(max(ids) * 0.25)})
        self.assertEqual(got, want)

    def test_named_and_positional_parameters(self):
        got = self.bq_json("query", "--use_legacy_sql=false", "--parameter=user:STRING:u3",
                           "--parameter=min_qty:INT64:2480",
                           "--parameter=since:TIMESTAMP:2024-05-10 00:00:00 UTC",
                           "SELECT order_id, qty FROM qry.orders WHERE user_id = @user "
                           "AND qty >= @min_qty AND event_time >= @since ORDER BY qty")
        self.assertEqual(got, [{"order_id": "o%04d" % i, "qty": str(i)} for i in range(2480, N_ROWS)
                               if i % 7 == 3 and i % 28 + 1 >= 10])
        got = self.bq_json("query", "--use_legacy_sql=false", "--parameter=ids:ARRAY<STRING>:[\"o0001\",\"o0042\"]",
                           "SELECT order_id FROM qry.orders WHERE order_id IN UNNEST(@ids) ORDER BY 1")
        self.assertEqual(got, [{"order_id": "o0001"}, {"order_id": "o0042"}])
        got = self.bq_json("query", "--use_legacy_sql=false", "--parameter=:STRING:p4",
                           "--parameter=:FLOAT64:624.0",
                           "SELECT COUNT(*) AS n FROM qry.orders WHERE product_id = ? AND amount >= ?")
        self.assertEqual(got, [{"n": str(len([i for i in range(N_ROWS) if i % 5 == 4 and i * 0.25 >= 624]))}])

    def test_dry_run_and_bytes_billed(self):
        # GoogleSQL's logical sizes: STRING 2 + its UTF-8 bytes, FLOAT64 8
        expected = sum(2 + len("o%04d" % i) + 8 for i in range(N_ROWS))
        out, _, ex = self.bq("query", "--use_legacy_sql=false", "--dry_run",
                             "SELECT order_id, amount FROM qry.orders")
        self.assertSays(out, "Query successfully validated. Assuming the tables are not modified, "
                             "running this query will process %d bytes of data." % expected)
        out, _, _ = self.bq("query", "--use_legacy_sql=false", "--maximum_bytes_billed=1000",
                            "SELECT order_id, amount FROM qry.orders", rc=None)
        self.assertRegex(H.squash(out), r"^BigQueryerrorinqueryoperation:Errorprocessingjob'ref-project:"
                         r"[A-Za-z0-9_]+':Queryexceededlimitforbytesbilled:1000\.10485760orhigherrequired\.$")
        got = self.bq_json("query", "--use_legacy_sql=false", "--maximum_bytes_billed=10485760",
                           "SELECT COUNT(DISTINCT order_id) AS n FROM qry.orders")
        self.assertEqual(got, [{"n": str(N_ROWS)}])

    def test_result_pages(self):
        out, _, ex = self.bq("--format=json", "query", "--use_legacy_sql=false", "--max_rows=%d" % (N_ROWS + 10),
                             "SELECT order_id, qty FROM qry.orders ORDER BY qty DESC",
                             global_flags=["--max_rows_per_request=1000"])
        got = json.loads(out)
        self.assertEqual(len(got), N_ROWS)
        self.assertEqual(got[0], {"order_id": "o%04d" % (N_ROWS - 1), "qty": str(N_ROWS - 1)})
        self.assertEqual([int(r["qty"]) for r in got], list(range(N_ROWS - 1, -1, -1)))
        pages = [e for e in ex if e["method"] == "GET" and "/queries/" in e["path"]]
        # 2,500 rows in pages of 1,000: the first page and two more by pageToken
        self.assertEqual(sum("pageToken=" in e["query"] for e in pages), 2, [e["query"] for e in pages])

    def test_every_type(self):
        """A table of every column type the emulator has, made by DDL, filled
        by bq insert and read back by bq: each cell as Google's CLI decodes it."""
        out, _, _ = self.bq("query", "--use_legacy_sql=false",
                            "CREATE TABLE qry.every (s STRING, i INT64, f FLOAT64, n NUMERIC, bn BIGNUMERIC, "
                            "b BOOL, ts TIMESTAMP, dt DATETIME, d DATE, t TIME, bts BYTES, j JSON, "
                            "tags ARRAY<STRING>)")
        self.assertSays(out, "Created ref-project.qry.every")
        path = self.write("every.json", json.dumps(
            {"s": "a", "i": "9007199254740993", "f": 1.5, "n": "1.25", "bn": "3.5", "b": True,
             "ts": "2024-05-01T10:00:00Z", "dt": "2024-05-01T10:00:00.25", "d": "2024-05-01",
             "t": "10:00:00.5", "bts": "AAEC", "j": "{\"k\":[1,2]}", "tags": ["x", "y"]}) + '\n{"s":"nulls"}\n')
        self.bq("insert", "qry.every", path)
        got = self.bq_json("query", "--use_legacy_sql=false", "SELECT * FROM qry.every ORDER BY s")
        self.assertEqual(got, [
            {"s": "a", "i": "9007199254740993", "f": "1.5", "n": "1.25", "bn": "3.5", "b": "true",
             "ts": "2024-05-01 10:00:00", "dt": "2024-05-01T10:00:00.250000", "d": "2024-05-01",
             "t": "10:00:00.500000", "bts": "AAEC", "j": '{"k":[1,2]}', "tags": ["x", "y"]},
            {"s": "nulls", "i": None, "f": None, "n": None, "bn": None, "b": None, "ts": None, "dt": None,
             "d": None, "t": None, "bts": None, "j": None, "tags": []}])

    def test_errors(self):
        out, _, _ = self.bq("query", "--use_legacy_sql=false", "SELECT x FROM qry.nosuch", rc=None)
        self.assertRegex(H.squash(out), r"^BigQueryerrorinqueryoperation:Errorprocessingjob'ref-project:"
                         r"[A-Za-z0-9_]+':Notfound:Tableref-project:qry\.nosuchwasnotfoundinlocationEU$")
        out, _, _ = self.bq("query", "--use_legacy_sql=false", "--location=US", "SELECT x FROM qry.orders",
                            rc=None)
        self.assertRegex(H.squash(out), r"Notfound:Datasetref-project:qrywasnotfoundinlocationUS$")
        out, _, _ = self.bq("query", "--use_legacy_sql=false", "SELEC order_id FROM qry.orders", rc=None)
        self.assertRegex(H.squash(out), r"^Errorinquerystring:Errorprocessingjob'ref-project:[A-Za-z0-9_]+':"
                         r"Syntaxerror:Unexpectedidentifier\"SELEC\"at\[1:1\]$")
        out, _, _ = self.bq("query", "--use_legacy_sql=false", "SELECT nope FROM qry.orders", rc=None)
        self.assertRegex(H.squash(out), r"Unrecognizedname:nopeat\[1:8\]$")


class JobTests(BqCase):
    def test_show_ls_cancel(self):
        self.bq("query", "--use_legacy_sql=false", "--job_id=ref_job_1", "SELECT 17 AS x")
        job = self.bq_json("show", "-j", "ref_job_1")
        self.assertEqual(job["jobReference"], {"projectId": PROJECT, "jobId": "ref_job_1", "location": "US"})
        self.assertEqual(job["status"], {"state": "DONE"})
        self.assertEqual(job["configuration"]["query"]["query"], "SELECT 17 AS x")
        self.assertEqual(job["statistics"]["query"]["schema"],
                         {"fields": [{"name": "x", "type": "INTEGER", "mode": "NULLABLE"}]})
        out, _, _ = self.bq("query", "--use_legacy_sql=false", "--job_id=ref_job_1", "SELECT 1", rc=None)
        self.assertIn(H.squash("Already Exists: Job ref-project:US.ref_job_1"), H.squash(out))

        # a job that runs 60 s (the emulator's delay label), cancelled while it runs
        out, _, _ = self.bq("query", "--use_legacy_sql=false", "--job_id=ref_slow",
                            "--label=emulator_delay_ms:60000", "SELECT 2 AS y",
                            global_flags=["--nosync"])
        self.assertSays(out, "Successfully started query ref-project:ref_slow")
        job = self.bq_json("show", "-j", "ref_slow")
        self.assertEqual((job["status"], job["jobReference"]["location"]), ({"state": "RUNNING"}, "US"))
        listed = self.bq_json("ls", "-j", "--max_results=2")
        self.assertEqual([(j["jobReference"]["jobId"], j["state"]) for j in listed],
                         [("ref_slow", "RUNNING"), ("ref_job_1", "DONE")])
        out, _, _ = self.bq("cancel", "ref_slow")
        self.assertIn(H.squash("Job has been cancelled successfully."), H.squash(out))
        job = self.bq_json("show", "-j", "ref_slow")
        self.assertEqual(job["status"]["state"], "DONE")
        self.assertEqual(job["status"]["errorResult"],
                         {"reason": "stopped", "message": "Job execution was cancelled: User requested cancellation"})
        out, _, _ = self.bq("show", "-j", "no_such_job", rc=2)
        self.assertSays(out, "BigQuery error in show operation: Not found: Job ref-project:US.no_such_job")


class ZCoverage(BqCase):
    def test_every_method_of_the_brief_was_checked(self):
        """The traffic checked above covered these methods of the discovery document."""
        want = {"bigquery." + m for m in (
            "datasets.insert", "datasets.get", "datasets.list", "datasets.delete", "tables.insert",
            "tables.get", "tables.list", "tables.delete", "tabledata.insertAll", "tabledata.list",
            "jobs.insert", "jobs.get", "jobs.list", "jobs.cancel", "jobs.getQueryResults")}
        self.assertEqual(want - SEEN, set())
