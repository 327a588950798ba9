"""In-process access to the BigQuery service for unit tests (no HTTP, no subprocess).

``DirectBigQuery`` builds a ``BigQueryService`` in memory and calls its handlers
through the same ``route()`` the HTTP core uses, returning (status, JSON body).
Helpers create the fixture tables the SQL tests query.
"""

import argparse
import json

from emulator.bigquery.service import BigQueryService
from emulator.core.counters import Counters
from emulator.core.errors import ApiError
from emulator.core.server import RawJSON, Request


class DirectBigQuery:
    def __init__(self, project='p', **overrides):
        args = dict(bq_project=project, bq_location='US', bq_dedup_window_s=60.0,
                    bq_job_delay_ms=0, bq_streaming_buffer_s=2.0)
        args.update(overrides)
        self.project = project
        self.counters = Counters()
        self.svc = BigQueryService(argparse.Namespace(**args), None, self.counters)

    def close(self):
        self.svc.close()

    def call(self, method, path, body=None, query=None):
        try:
            handler, _ = self.svc.route(method, path)
            raw = body if isinstance(body, bytes) else (
                json.dumps(body).encode() if body is not None else b'')
            result = handler(Request(method, path, {k: str(v) for k, v in (query or {}).items()},
                                     raw, {'Host': 'localhost'}))
        except ApiError as e:
            return e.http_code, e.body()
        if isinstance(result, RawJSON):
            return result.status, (json.loads(result.data) if result.data else None)
        if isinstance(result, tuple):
            return result
        return 200, result

    # ---------------------------------------------------------------- shorthands
    def create_dataset(self, dataset, location=None):
        body = {'datasetReference': {'projectId': self.project, 'datasetId': dataset}}
        if location:
            body['location'] = location
        return self.call('POST', '/bigquery/v2/projects/%s/datasets' % self.project, body)

    def create_table(self, dataset, table, fields, **extra):
        body = {'tableReference': {'projectId': self.project, 'datasetId': dataset,
                                   'tableId': table},
                'schema': {'fields': fields}}
        body.update(extra)
        return self.call('POST', '/bigquery/v2/projects/%s/datasets/%s/tables'
                         % (self.project, dataset), body)

    def insert(self, dataset, table, rows, **opts):
        body = {'rows': [r if 'json' in r else {'json': r} for r in rows]}
        body.update(opts)
        return self.call('POST', '/bigquery/v2/projects/%s/datasets/%s/tables/%s/insertAll'
                         % (self.project, dataset, table), body)

    def query(self, sql, **kw):
        body = {'query': sql, 'useLegacySql': False}
        body.update(kw)
        return self.call('POST', '/bigquery/v2/projects/%s/queries' % self.project, body)

    def rows(self, sql, **kw):
        """Run a query; return (rows as lists of cell values, schema types) or raise."""
        status, body = self.query(sql, **kw)
        if status != 200:
            raise QueryFailed(status, body)
        out = [[c['v'] for c in r['f']] for r in body.get('rows', [])]
        return out, [f['type'] for f in body.get('schema', {}).get('fields', [])]


class QueryFailed(Exception):
    def __init__(self, status, body):
        super().__init__('%s %s' % (status, json.dumps(body)))
        self.status = status
        self.body = body
        err = body.get('error', {})
        self.message = err.get('message')
        self.reason = (err.get('errors') or [{}])[0].get('reason')
