"""The validator itself, against Google's discovery document: it must find
each kind of difference (or the suite's green means nothing) and accept
what Google sends."""

import unittest

from . import harness as H


def setUpModule():
    H.require_google_tools()


class ValidatorTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = H.discovery()

    def problems(self, value, schema, direction="response"):
        return self.d.validate(value, schema, direction)

    def test_document(self):
        self.assertEqual(self.d.doc["name"], "bigquery")
        self.assertEqual(self.d.doc["version"], "v2")
        for mid in ("datasets.insert", "datasets.get", "datasets.delete", "tables.insert", "tables.get",
                    "tables.list", "tables.delete", "tabledata.insertAll", "tabledata.list", "jobs.query",
                    "jobs.getQueryResults", "jobs.get", "jobs.cancel", "jobs.insert"):
            self.d.method(mid)

    def test_routes(self):
        m = self.d.method_for
        self.assertEqual(m("GET", "/bigquery/v2/projects/p/queries/job_1").id, "bigquery.jobs.getQueryResults")
        self.assertEqual(m("GET", "/projects/p/queries/job_1").id, "bigquery.jobs.getQueryResults")
        self.assertEqual(m("POST", "/bigquery/v2/projects/p/queries").id, "bigquery.jobs.query")
        self.assertEqual(m("POST", "/bigquery/v2/projects/p/jobs/j/cancel").id, "bigquery.jobs.cancel")
        self.assertEqual(m("POST", "/bigquery/v2/projects/p/datasets/d/tables/t/insertAll").id,
                         "bigquery.tabledata.insertAll")
        self.assertEqual(m("DELETE", "/bigquery/v2/projects/p/datasets/d").id, "bigquery.datasets.delete")
        self.assertIsNone(m("PUT", "/bigquery/v2/projects/p/queries"))

    def test_conforming_values(self):
        table = {"kind": "bigquery#table", "id": "p:d.t", "numRows": "12",
                 "tableReference": {"projectId": "p", "datasetId": "d", "tableId": "t"},
                 "schema": {"fields": [{"name": "a", "type": "STRING", "mode": "REPEATED"}]},
                 "timePartitioning": {"type": "DAY", "field": "ts", "expirationMs": "86400000"}}
        self.assertEqual(self.problems(table, "Table"), [])
        page = {"kind": "bigquery#getQueryResultsResponse", "jobComplete": True, "totalRows": "1",
                "rows": [{"f": [{"v": "1"}, {"v": None}, {"v": [{"v": "x"}]}]}],
                "jobReference": {"projectId": "p", "jobId": "j", "location": "EU"}}
        self.assertEqual(self.problems(page, "GetQueryResultsResponse"), [])
        # proto3 JSON: a request may carry null, and int64 as a number (bq sends them)
        req = {"query": "SELECT 1", "useLegacySql": False, "maximumBytesBilled": 1000,
               "queryParameters": [{"name": "x", "parameterType": {"type": "STRING"},
                                    "parameterValue": {"value": None}}]}
        self.assertEqual(self.problems(req, "QueryRequest", "request"), [])
        self.assertEqual(self.problems({"totalBytesProcessed": "NaN"}, "JobStatistics"),
                         ["$.totalBytesProcessed: 'NaN' is not int64 text"])

    def test_unknown_fields(self):
        self.assertEqual(self.problems({"kind": "bigquery#queryResponse", "etag": "x"}, "QueryResponse"),
                         ["$.etag: unknown field (not in QueryResponse)"])
        self.assertEqual(self.problems({"tables": [{"id": "p:d.t", "selfLink": "u"}]}, "TableList"),
                         ["$.tables[0].selfLink: unknown field (not in the schema)"])

    def test_wrong_types(self):
        self.assertEqual(self.problems({"numRows": 12}, "Table"),
                         ['$.numRows: JSON number 12 where the document has a string (uint64): send "12"'])
        self.assertEqual(self.problems({"numRows": "twelve"}, "Table"),
                         ["$.numRows: 'twelve' is not uint64 text"])
        self.assertEqual(self.problems({"jobComplete": "true"}, "QueryResponse"),
                         ["$.jobComplete: string 'true' where the document has a boolean"])
        self.assertEqual(self.problems({"rows": {}}, "QueryResponse"),
                         ["$.rows: object where the document has an array"])
        self.assertEqual(self.problems({"schema": []}, "QueryResponse"),
                         ["$.schema: array where the document has an object"])
        self.assertEqual(self.problems({"maxResults": "10", "query": "q"}, "QueryRequest", "request"),
                         ["$.maxResults: string '10' where the document has an integer (uint32, a JSON number)"])
        self.assertEqual(self.problems({"maxResults": -1, "query": "q"}, "QueryRequest", "request"),
                         ["$.maxResults: -1 is outside uint32"])
        self.assertEqual(self.problems({"jobReference": {"location": None}}, "QueryResponse"),
                         ["$.jobReference.location: null (Google leaves unset fields out)"])

    def test_enums_and_request_rules(self):
        self.assertEqual(self.problems({"query": "q", "jobCreationMode": "SOMETIMES"}, "QueryRequest", "request"),
                         ["$.jobCreationMode: 'SOMETIMES' is not one of the document's values "
                          "JOB_CREATION_MODE_UNSPECIFIED, JOB_CREATION_REQUIRED, JOB_CREATION_OPTIONAL"])
        self.assertEqual(self.problems({"useLegacySql": False}, "QueryRequest", "request"),
                         ["$.query: missing, the document says Required"])
        self.assertEqual(self.problems({"datasetReference": {"datasetId": "d"}, "creationTime": "1"},
                                       "Dataset", "request"),
                         ["$.creationTime: output-only field sent in a request"])
        m = self.d.method("jobs.getQueryResults")
        self.assertEqual(self.d.validate_query(m, "maxResults=10&timeoutMs=5&formatOptions.useInt64Timestamp=true"
                                                  "&location=EU&pageToken=x&alt=json"), [])
        self.assertEqual(self.d.validate_query(m, "maxRows=10&timeoutMs=soon&formatOptions.useInt64Timestamp=1"),
                         ["?maxRows: not a query parameter of bigquery.jobs.getQueryResults",
                          "?timeoutMs=soon: not an integer",
                          "?formatOptions.useInt64Timestamp=1: not true or false"])

    def test_exchanges(self):
        ok = {"method": "DELETE", "path": "/bigquery/v2/projects/p/datasets/d", "query": "deleteContents=true",
              "status": 204, "request_body": "", "response_body": ""}
        self.assertEqual(self.d.check_exchange(ok)[1], [])
        err = dict(ok, status=404, response_body='{"error":{"code":404,"message":"Not found: Dataset p:d",'
                                                 '"errors":[{"message":"Not found: Dataset p:d","domain":"global",'
                                                 '"reason":"notFound"}],"status":"NOT_FOUND"}}')
        self.assertEqual(self.d.check_exchange(err)[1], [])
        bad = dict(ok, status=404, response_body='{"error":{"code":400,"message":"x","why":1}}')
        self.assertEqual(self.d.check_exchange(bad)[1],
                         ["response $.error.why: unknown field (not in the schema)",
                          "response 404: error.code is 400"])
        body = dict(ok, status=200, response_body="{}")
        self.assertEqual(self.d.check_exchange(body)[1], ["response 200: a body where the method answers none: '{}'"])


if __name__ == "__main__":
    unittest.main()
