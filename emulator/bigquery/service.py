"""BigQuery v2 REST layer of the emulator: routing, request checks, resource JSON, paging.

Owns ``BigQueryService`` (the object the emulator core loads): the URL routes
(served with and without the ``/bigquery/v2`` prefix, as the official clients use
both), datasets / tables / tabledata / jobs methods with BigQuery's field names,
error texts and limits, and the encoding of result pages (rows are serialized
straight to JSON text per schema, pages capped at 10 MB, opaque page tokens).

Query execution lives in jobs.py, storage in storage.py, SQL in sql/.
"""

import base64
import binascii
import json
import os
import threading
import time
from json.encoder import encode_basestring_ascii as _json_str

from emulator.core import clock
from emulator.core.errors import ApiError
from emulator.core.server import RawJSON

from . import schema as S
from . import types as T
from .jobs import JobManager
from .sql.errors import SqlError
from .storage import RowError, Store

MAX_REQUEST_BYTES = 10485760
MAX_ROWS_PER_INSERT = 50000
MAX_PAGE_BYTES = 10 * 1000 * 1000
DEFAULT_TIMEOUT_MS = 10000
MAX_TIMEOUT_MS = 200000
TABLEDATA_DEFAULT_ROWS = 100000
# injectable per-row insertAll refusals (label value → reason) and their texts
ROW_FAULT_REASONS = {'timeout': 'timeout', 'backenderror': 'backendError'}
ROW_FAULT_MESSAGES = {'timeout': 'The operation timed out.',
                      'backendError': 'Backend error. Please try again.'}
# fields of jobs.query's QueryRequest that are not in the job's configuration.query
# (JobConfigurationQuery): the job's location is in its jobReference
QUERY_REQUEST_ONLY = ('location',)


def _err(code, status, message, reason):
    return ApiError(code, status, message, reason=reason)


def _not_found(message):
    return _err(404, 'NOT_FOUND', message, 'notFound')


def _invalid(message, reason='invalid'):
    return _err(400, 'INVALID_ARGUMENT', message, reason)


def _bool(v, default=False):
    if v is None:
        return default
    if isinstance(v, bool):
        return v
    return str(v).lower() in ('true', '1')


def _int_param(v, name, default=None, minimum=0):
    if v is None or v == '':
        return default
    try:
        n = int(v)
    except (TypeError, ValueError):
        raise _invalid('Invalid value for %s: %s' % (name, v)) from None
    if n < minimum:
        raise _invalid('Invalid value for %s: %s' % (name, v))
    return n


class BigQueryService:
    name = 'bigquery'

    @staticmethod
    def add_arguments(parser):
        g = parser.add_argument_group('BigQuery service')
        g.add_argument('--bq-project', default='test-project', metavar='ID',
                       help='project reported when a request names none (default test-project)')
        g.add_argument('--bq-location', default='US', metavar='LOC',
                       help='default location of datasets and jobs (default US)')
        g.add_argument('--bq-dedup-window-s', type=float, default=60.0, metavar='S',
                       help='insertAll insertId de-duplication window in seconds (default 60)')
        g.add_argument('--bq-job-delay-ms', type=int, default=0, metavar='MS',
                       help='make every query job take this long, so clients must poll '
                            '(default 0; per request: job label emulator_delay_ms)')
        g.add_argument('--bq-streaming-buffer-s', type=float, default=1800.0, metavar='S',
                       help='seconds inserted rows stay in the modelled streaming buffer, '
                            'excluded from numRows and not changeable by DML (default 1800, '
                            "BigQuery's 30 minutes; per table: label "
                            'emulator_streaming_buffer_s; 0 disables)')

    def __init__(self, args, data_dir, counters):
        self.args = args
        self.counters = counters
        self.default_project = getattr(args, 'bq_project', 'test-project')
        self.location = getattr(args, 'bq_location', 'US')
        path = os.path.join(data_dir, 'bigquery.sqlite3') if data_dir else None
        self.store = Store(path, dedup_window_s=getattr(args, 'bq_dedup_window_s', 60.0),
                           buffer_s=getattr(args, 'bq_streaming_buffer_s', 1800.0),
                           default_location=self.location)
        self.jobs = JobManager(self.store, counters, delay_ms=getattr(args, 'bq_job_delay_ms', 0),
                               default_location=self.location)
        self._encoders = {}
        self._enc_lock = threading.Lock()
        # rows refused so far per (table key, fault labels), see _row_faults()
        self._row_faults_done = {}
        if hasattr(counters, 'declare'):
            counters.declare('rows_inserted', 'rows_deduplicated', 'rows_rejected',
                             'rows_refused_by_fault', 'queries',
                             'bytes_processed', 'rows_returned')

    def close(self):
        self.store.close()

    def state_summary(self):
        s = self.store
        return {'datasets': len(s.datasets), 'tables': len(s.tables),
                'rows': sum(t.num_rows for t in s.tables.values()),
                'jobs': len(self.jobs.jobs)}

    # ------------------------------------------------------------------ routing
    def route(self, method, path):
        p = path
        if p.startswith('/bigquery/v2/'):
            p = p[len('/bigquery/v2'):]
        parts = [x for x in p.split('/') if x != ''] if p.startswith('/projects/') else None
        r = None
        if parts is not None:
            r = self._match(method, parts)
        if r is None:
            raise _not_found('Not found: the emulator has no BigQuery method %s %s'
                             % (method, path))
        handler, name, ids = r
        return (lambda req: handler(req, *ids)), name

    def _match(self, method, parts):
        n = len(parts)
        if n < 2 or parts[0] != 'projects':
            return None
        p = parts[1]
        if n == 3 and parts[2] == 'datasets':
            if method == 'POST':
                return self.datasets_insert, 'datasets.insert', (p,)
            if method == 'GET':
                return self.datasets_list, 'datasets.list', (p,)
        if n == 4 and parts[2] == 'datasets':
            d = parts[3]
            if method == 'GET':
                return self.datasets_get, 'datasets.get', (p, d)
            if method == 'DELETE':
                return self.datasets_delete, 'datasets.delete', (p, d)
            if method in ('PATCH', 'PUT'):
                return self.datasets_patch, 'datasets.patch', (p, d)
        if n == 5 and parts[2] == 'datasets' and parts[4] == 'tables':
            if method == 'POST':
                return self.tables_insert, 'tables.insert', (p, parts[3])
            if method == 'GET':
                return self.tables_list, 'tables.list', (p, parts[3])
        if n == 6 and parts[2] == 'datasets' and parts[4] == 'tables':
            if method == 'GET':
                return self.tables_get, 'tables.get', (p, parts[3], parts[5])
            if method == 'DELETE':
                return self.tables_delete, 'tables.delete', (p, parts[3], parts[5])
            if method in ('PATCH', 'PUT'):
                return self.tables_patch, 'tables.patch', (p, parts[3], parts[5])
        if n == 7 and parts[2] == 'datasets' and parts[4] == 'tables':
            if parts[6] == 'insertAll' and method == 'POST':
                return self.insert_all, 'insertAll', (p, parts[3], parts[5])
            if parts[6] == 'data' and method == 'GET':
                return self.tabledata_list, 'tabledata.list', (p, parts[3], parts[5])
        if n == 3 and parts[2] == 'queries' and method == 'POST':
            return self.jobs_query, 'query', (p,)
        if n == 4 and parts[2] == 'queries' and method == 'GET':
            return self.get_query_results, 'getQueryResults', (p, parts[3])
        if n == 3 and parts[2] == 'jobs':
            if method == 'POST':
                return self.jobs_insert, 'jobs.insert', (p,)
            if method == 'GET':
                return self.jobs_list, 'jobs.list', (p,)
        if n == 4 and parts[2] == 'jobs' and method == 'GET':
            return self.jobs_get, 'jobs.get', (p, parts[3])
        if n == 5 and parts[2] == 'jobs' and parts[4] == 'cancel' and method == 'POST':
            return self.jobs_cancel, 'jobs.cancel', (p, parts[3])
        if n == 5 and parts[2] == 'jobs' and parts[4] == 'delete' and method == 'DELETE':
            return self.jobs_delete, 'jobs.delete', (p, parts[3])
        return None

    # ------------------------------------------------------------------ helpers
    def _base(self, req):
        host = req.headers.get('Host') if req.headers is not None else None
        return 'http://%s/bigquery/v2' % (host or 'localhost')

    def _dataset(self, p, d):
        ds = self.store.get_dataset(p, d)
        if ds is None:
            raise _not_found('Not found: Dataset %s:%s' % (p, d))
        return ds

    def _table(self, p, d, t):
        self._dataset(p, d)
        tb = self.store.get_table(p, d, t)
        if tb is None:
            raise _not_found('Not found: Table %s:%s.%s' % (p, d, t))
        return tb

    def _dataset_resource(self, req, ds):
        r = {'kind': 'bigquery#dataset',
             'etag': _etag(ds.modified_ms),
             'id': ds.ref_text(),
             'selfLink': '%s/projects/%s/datasets/%s' % (self._base(req), ds.project,
                                                         ds.dataset_id),
             'datasetReference': {'datasetId': ds.dataset_id, 'projectId': ds.project},
             'access': [],
             'creationTime': str(ds.creation_ms),
             'lastModifiedTime': str(ds.modified_ms),
             'location': ds.location,
             'type': 'DEFAULT'}
        r.update(ds.extra)
        return r

    def _table_resource(self, req, t, full=True):
        """A Table resource (tables.get/insert/patch), or with full=False one item
        of tables.list, which has fewer fields (no etag, selfLink, schema…)."""
        r = {'kind': 'bigquery#table', 'id': t.ref_text()}
        if full:
            r['etag'] = _etag(t.modified_ms, t.version)
            r['selfLink'] = '%s/projects/%s/datasets/%s/tables/%s' % (
                self._base(req), t.project, t.dataset, t.table_id)
        r.update({'tableReference': {'projectId': t.project, 'datasetId': t.dataset,
                                     'tableId': t.table_id},
                  'type': t.type,
                  'creationTime': str(t.creation_ms)})
        if t.partition_field:
            tp = {'type': t.partition_type or 'DAY', 'field': t.partition_field}
            if t.partition_expiration_ms is not None:
                tp['expirationMs'] = str(t.partition_expiration_ms)
            r['timePartitioning'] = tp
        if t.clustering:
            r['clustering'] = {'fields': list(t.clustering)}
        if not full:
            if t.type == 'VIEW':
                r['view'] = {'useLegacySql': False}
            for k in ('labels', 'friendlyName', 'expirationTime'):
                if k in t.extra:
                    r[k] = t.extra[k]
            return r
        r['schema'] = {'fields': [f.resource() for f in t.fields]}
        if 'tableConstraints' in t.extra:
            r['tableConstraints'] = t.extra['tableConstraints']
        r['lastModifiedTime'] = str(t.modified_ms)
        r['location'] = t.location
        if t.partition_field:
            r['requirePartitionFilter'] = bool(t.require_partition_filter)
        if t.type == 'TABLE':
            rows, nbytes, oldest = self.store.streaming_buffer(t)
            r['numRows'] = str(t.num_rows - rows)
            r['numBytes'] = str(t.num_bytes - nbytes)
            r['numLongTermBytes'] = '0'
            if rows:
                r['streamingBuffer'] = {'estimatedRows': str(rows),
                                        'estimatedBytes': str(nbytes),
                                        'oldestEntryTime': str(oldest)}
        elif t.type == 'VIEW':
            r['view'] = {'query': t.view_query, 'useLegacySql': False}
            r['numRows'] = '0'
            r['numBytes'] = '0'
        else:
            mv = dict(t.mv or {})
            if not mv.get('allowNonIncrementalDefinition'):
                mv.pop('allowNonIncrementalDefinition', None)   # reported only when set
            r['materializedView'] = mv
            r['materializedViewStatus'] = {
                'refreshWatermark': _rfc3339_ms(int(mv.get('lastRefreshTime', t.creation_ms)))}
            r['numRows'] = str(self._mv_rows(t))
            r['numBytes'] = '0'
        r.update(t.extra)
        return r

    def _mv_rows(self, t):
        """Row count of a materialized view (computed on demand, as its data is)."""
        return self.jobs.count_rows(t)

    # ------------------------------------------------------------------ datasets
    def datasets_insert(self, req, p):
        body = req.json()
        ref = body.get('datasetReference') or {}
        d = ref.get('datasetId')
        if not d:
            raise _invalid('Required parameter is missing: datasetReference.datasetId')
        p = ref.get('projectId') or p
        try:
            S.check_dataset_id(d)
        except S.SchemaError as e:
            raise _invalid(e.message) from None
        location = body.get('location') or self.location
        extra = _int64_fields({k: body[k] for k in ('labels', 'description', 'friendlyName',
                                                    'defaultTableExpirationMs') if k in body})
        with self.store.lock:
            if self.store.get_dataset(p, d) is not None:
                raise _err(409, 'ALREADY_EXISTS', 'Already Exists: Dataset %s:%s' % (p, d),
                           'duplicate')
            ds = self.store.create_dataset(p, d, location, extra)
        return self._dataset_resource(req, ds)

    def datasets_get(self, req, p, d):
        return self._dataset_resource(req, self._dataset(p, d))

    def datasets_patch(self, req, p, d):
        body = req.json()
        with self.store.lock:
            ds = self._dataset(p, d)
            if body.get('location') and body['location'].lower() != ds.location.lower():
                raise _invalid('Cannot change dataset location')
            ds.extra.update(_int64_fields({k: body[k] for k in (
                'labels', 'description', 'friendlyName', 'defaultTableExpirationMs') if k in body}))
            ds.modified_ms = int(time.time() * 1000)
            self.store.conn.execute('UPDATE bq_datasets SET extra = ?, modified_ms = ? '
                                    'WHERE project = ? AND dataset = ?',
                                    (json.dumps(ds.extra), ds.modified_ms, p, d))
        return self._dataset_resource(req, ds)

    def datasets_list(self, req, p):
        items = sorted((ds for (proj, _), ds in self.store.datasets.items() if proj == p),
                       key=lambda ds: ds.dataset_id)
        page, token = _page(items, req.query, 50)
        out = {'kind': 'bigquery#datasetList', 'etag': _etag(len(items))}
        if page:
            out['datasets'] = [{'kind': 'bigquery#dataset', 'id': ds.ref_text(),
                                'datasetReference': {'datasetId': ds.dataset_id,
                                                     'projectId': ds.project},
                                'location': ds.location,
                                **({'labels': ds.extra['labels']} if 'labels' in ds.extra
                                   else {})}
                               for ds in page]
        if token:
            out['nextPageToken'] = token
        return out

    def datasets_delete(self, req, p, d):
        with self.store.lock:
            self._dataset(p, d)
            if self.store.dataset_tables(p, d) and not _bool(req.query.get('deleteContents')):
                raise _err(400, 'FAILED_PRECONDITION', 'Dataset %s:%s is still in use' % (p, d),
                           'resourceInUse')
            self.store.delete_dataset(p, d)
        return RawJSON(b'', 204)

    # ------------------------------------------------------------------ tables
    def tables_insert(self, req, p, d):
        body = req.json()
        ref = body.get('tableReference') or {}
        t = ref.get('tableId')
        if not t:
            raise _invalid('Required parameter is missing: tableReference.tableId')
        p = ref.get('projectId') or p
        d = ref.get('datasetId') or d
        try:
            meta = self._table_meta(p, d, body)
        except S.SchemaError as e:
            raise _invalid(e.message, e.reason) from None
        except SqlError as e:
            raise ApiError(e.http_code, e.status, e.message, reason=e.reason) from None
        with self.store.lock:
            ds = self._dataset(p, d)
            if self.store.get_table(p, d, t) is not None:
                raise _err(409, 'ALREADY_EXISTS', 'Already Exists: Table %s:%s.%s' % (p, d, t),
                           'duplicate')
            meta['location'] = ds.location
            tb = self.store.create_table(p, d, t, meta)
        return self._table_resource(req, tb)

    def _table_meta(self, p, d, body):
        S.check_table_id((body.get('tableReference') or {}).get('tableId'))
        extra = _int64_fields({k: body[k] for k in ('labels', 'description', 'friendlyName',
                                                    'expirationTime') if k in body})
        view = body.get('view')
        mv = body.get('materializedView')
        if view and mv:
            raise S.SchemaError('A table cannot be both a view and a materialized view')
        if view or mv:
            if view:
                if not isinstance(view, dict) or not view.get('query'):
                    raise S.SchemaError('Required parameter is missing: view.query')
                if view.get('useLegacySql') in (None, True, 'true'):
                    raise S.SchemaError('Legacy SQL views are not supported by the emulator: '
                                        'set view.useLegacySql to false (BigQuery defaults it to '
                                        'true)')
                text = view['query']
                opts = {}
            else:
                if not isinstance(mv, dict) or not mv.get('query'):
                    raise S.SchemaError('Required parameter is missing: materializedView.query')
                text = mv['query']
                opts = {'enable_refresh': _bool(mv.get('enableRefresh'), True),
                        'allow_non_incremental_definition':
                            _bool(mv.get('allowNonIncrementalDefinition'))}
                if mv.get('refreshIntervalMs') is not None:
                    opts['refresh_interval_minutes'] = int(mv['refreshIntervalMs']) / 60000.0
            with self.store.lock:
                self._dataset(p, d)
                meta, _ = self.jobs.view_meta(p, p, d, None, text, bool(mv), opts)
            if mv:
                if body.get('timePartitioning'):
                    pf, ptype, pexp = S.partitioning(meta['fields'], body['timePartitioning'])
                    meta.update(partition_field=pf, partition_type=ptype)
                if body.get('clustering'):
                    meta['clustering'] = S.clustering(meta['fields'], body['clustering'])
            meta['extra'].update(extra)
            return meta
        schema = body.get('schema') or {}
        fields = S.fields_from_resource(schema.get('fields') or [])
        if not fields:
            # BigQuery creates it and takes the schema from a later load or patch,
            # neither of which the emulator has: a clear 400, never a 500
            raise S.SchemaError('Tables without a schema are not supported by the emulator: '
                                'give schema.fields')
        pf, ptype, pexp = S.partitioning(fields, body.get('timePartitioning'))
        if body.get('rangePartitioning'):
            raise S.SchemaError('Integer range partitioning is not supported by the emulator')
        if body.get('externalDataConfiguration'):
            raise S.SchemaError('External tables are not supported by the emulator')
        meta = {'type': 'TABLE', 'fields': fields, 'extra': extra}
        if pf:
            meta.update(partition_field=pf, partition_type=ptype, partition_expiration_ms=pexp,
                        require_partition_filter=_bool(
                            body.get('requirePartitionFilter',
                                     (body.get('timePartitioning') or {}).get(
                                         'requirePartitionFilter'))))
        cl = S.clustering(fields, body.get('clustering'))
        if cl:
            meta['clustering'] = cl
        pk = _primary_key(fields, body.get('tableConstraints'))
        if pk:
            extra['tableConstraints'] = {'primaryKey': {'columns': pk}}
        return meta

    def tables_get(self, req, p, d, t):
        if self.store.get_dataset(p, d) is None:
            job = self.jobs.destination_job(p, d, t)
            if job is not None:
                return self._result_table_resource(req, job)
        tb = self._table(p, d, t)
        r = self._table_resource(req, tb)
        sel = req.query.get('selectedFields')
        if sel and 'schema' in r:
            # only those fields, as tabledata.list with the same selectedFields sends them
            # (Google's bq head zips one with the other)
            r['schema'] = {'fields': [r['schema']['fields'][i]
                                      for i in _selected_columns(tb, sel)]}
        return r

    def _result_table_resource(self, req, job):
        """tables.get of a query's anonymous result table (expiring 24 h after the job)."""
        r = job.result
        rows = r.rows if r.rows is not None else self.jobs.rerun(job)
        ref = job.destination
        return {'kind': 'bigquery#table', 'etag': _etag(job.end_ms, job.job_id),
                'id': '%s:%s.%s' % (ref['projectId'], ref['datasetId'], ref['tableId']),
                'selfLink': '%s/projects/%s/datasets/%s/tables/%s' % (
                    self._base(req), ref['projectId'], ref['datasetId'], ref['tableId']),
                'tableReference': dict(ref), 'type': 'TABLE',
                'schema': {'fields': _schema_fields(r.columns)},
                'numRows': str(len(rows)), 'numBytes': '0', 'numLongTermBytes': '0',
                'creationTime': str(job.end_ms), 'lastModifiedTime': str(job.end_ms),
                'expirationTime': str(job.end_ms + 24 * 3600 * 1000),
                'location': job.location or self.location}

    def tables_patch(self, req, p, d, t):
        """Metadata-only patch (description, labels, friendlyName, expirationTime)."""
        body = req.json()
        with self.store.lock:
            tb = self._table(p, d, t)
            schema = body.get('schema')
            if schema and schema.get('fields') is not None:
                new = S.fields_from_resource(schema['fields'])
                old = tb.meta()['fields']
                if new != old:
                    raise _invalid('Schema changes are not supported by the emulator')
            tb.extra.update(_int64_fields({k: body[k] for k in (
                'labels', 'description', 'friendlyName', 'expirationTime') if k in body}))
            if 'labels' in body:
                with self._enc_lock:
                    for key in [k for k in self._row_faults_done if k[0] == tb.key]:
                        del self._row_faults_done[key]
            tb.modified_ms = int(time.time() * 1000)
            self.store.conn.execute('UPDATE bq_tables SET meta = ? WHERE id = ?',
                                    (json.dumps(tb.meta()), tb.key))
        return self._table_resource(req, tb)

    def tables_list(self, req, p, d):
        self._dataset(p, d)
        items = self.store.dataset_tables(p, d)
        page, token = _page(items, req.query, 50)
        out = {'kind': 'bigquery#tableList', 'etag': _etag(len(items)),
               'totalItems': len(items)}
        if page:
            out['tables'] = [self._table_resource(req, t, full=False) for t in page]
        if token:
            out['nextPageToken'] = token
        return out

    def tables_delete(self, req, p, d, t):
        with self.store.lock:
            tb = self._table(p, d, t)
            self.store.delete_table(tb)
        return RawJSON(b'', 204)

    # ------------------------------------------------------------------ tabledata
    def insert_all(self, req, p, d, t):
        if len(req.body) > MAX_REQUEST_BYTES:
            raise _invalid('Request payload size exceeds the limit: %d bytes.'
                           % MAX_REQUEST_BYTES, 'badRequest')
        body = req.json()
        rows = body.get('rows')
        if not rows:
            raise _invalid('No rows present in the request.')
        if not isinstance(rows, list):
            raise _invalid('Invalid value for rows: must be a list')
        if len(rows) > MAX_ROWS_PER_INSERT:
            raise _invalid('too many rows present in the request, limit: %d row count: %d.'
                           % (MAX_ROWS_PER_INSERT, len(rows)))
        if body.get('templateSuffix'):
            raise _invalid('templateSuffix is not supported by the emulator')
        tb = self._table(p, d, t)
        if tb.type != 'TABLE':
            raise _invalid('Cannot insert into %s %s: streaming inserts need a table'
                           % (tb.type.lower().replace('_', ' '), tb.ref_text()))
        skip_invalid = _bool(body.get('skipInvalidRows'))
        ignore_unknown = _bool(body.get('ignoreUnknownValues'))
        v = self.store.validator(tb)
        good, parts, sizes, ids, errors = [], [], [], [], []
        good_index = []
        vrow = v.row
        for i, r in enumerate(rows):
            if not isinstance(r, dict):
                errors.append((i, RowError('', 'Row is not a JSON object.')))
                continue
            try:
                vals, part, sz = vrow(r.get('json'), ignore_unknown)
            except RowError as e:
                errors.append((i, e))
                continue
            good.append(vals)
            parts.append(part)
            sizes.append(sz)
            ids.append(r.get('insertId'))
            good_index.append(i)
        refused = self._row_faults(tb, good_index)
        if refused:
            keep = [k for k, i in enumerate(good_index) if i not in refused]
            good = [good[k] for k in keep]
            parts = [parts[k] for k in keep]
            sizes = [sizes[k] for k in keep]
            ids = [ids[k] for k in keep]
            good_index = [good_index[k] for k in keep]
            errors = sorted(errors + [(i, e) for i, e in refused.items()], key=lambda x: x[0])
        out = {'kind': 'bigquery#tableDataInsertAllResponse'}
        if errors and not skip_invalid:
            bad = {i: e for i, e in errors}
            out['insertErrors'] = [
                {'index': i, 'errors': [_row_error(bad[i])]} if i in bad else
                {'index': i, 'errors': [{'reason': 'stopped', 'location': '', 'debugInfo': '',
                                         'message': ''}]}
                for i in range(len(rows))]
            self.counters.incr('rows_rejected', len(rows))
            return out
        if errors:
            out['insertErrors'] = [{'index': i, 'errors': [_row_error(e)]} for i, e in errors]
            self.counters.incr('rows_rejected', len(errors) - len(refused))
        now_ms = int(clock.time() * 1000)   # the insertId window follows the emulator's clock
        with self.store.lock:
            seen = self.store.seen_insert_ids(tb, now_ms)
            cutoff = now_ms - int(self.store.dedup_window_s * 1000)
            keep_rows, keep_parts, keep_sizes, new_ids = [], [], [], []
            batch_ids = set()
            dups = 0
            for vals, part, sz, iid in zip(good, parts, sizes, ids):
                if iid is not None and iid != '':
                    iid = str(iid)
                    ts = seen.get(iid)
                    if (ts is not None and ts >= cutoff) or iid in batch_ids:
                        dups += 1
                        continue
                    batch_ids.add(iid)
                    new_ids.append(iid)
                keep_rows.append(vals)
                keep_parts.append(part)
                keep_sizes.append(sz)
            self.store.insert(tb, keep_rows, keep_parts, keep_sizes, new_ids, now_ms)
        self.counters.incr('rows_inserted', len(keep_rows))
        if dups:
            self.counters.incr('rows_deduplicated', dups)
        return out

    def _row_faults(self, tb, good_index):
        """Rows of a request refused by the table's injected row fault, as
        {request index: RowError}.

        BigQuery can refuse single rows of an insertAll that answers 200 with
        a reason that is no fault of the row (``timeout``, ``backendError``):
        such a row was not stored and may be sent again. The table labels
        ``emulator_row_fault`` (``timeout`` or ``backenderror``; label values
        are lowercase) and ``emulator_row_fault_rows`` (N) make the emulator
        refuse the next N valid rows inserted into the table that way, the
        first ones of each request; setting the labels again (tables.patch)
        starts a new count."""
        labels = tb.extra.get('labels') or {}
        kind = labels.get('emulator_row_fault')
        if not kind or not good_index:
            return {}
        reason = ROW_FAULT_REASONS.get(kind)
        try:
            total = int(labels.get('emulator_row_fault_rows', '0'))
        except ValueError:
            total = -1
        if reason is None or total < 0:
            raise _invalid('Labels emulator_row_fault must be one of %s and emulator_row_fault_rows '
                           'a non-negative integer' % ', '.join(sorted(ROW_FAULT_REASONS)))
        key = (tb.key, kind, total)
        with self._enc_lock:
            done = self._row_faults_done.get(key, 0)
            n = min(total - done, len(good_index))
            if n <= 0:
                return {}
            self._row_faults_done[key] = done + n
        self.counters.incr('rows_refused_by_fault', n)
        return {i: RowError('', ROW_FAULT_MESSAGES[reason], reason) for i in good_index[:n]}

    def tabledata_list(self, req, p, d, t):
        tb = self._table(p, d, t)
        if tb.type != 'TABLE':
            raise _invalid('Cannot list a table of type %s.' % tb.type)
        q = req.query
        max_results = _int_param(q.get('maxResults'), 'maxResults', TABLEDATA_DEFAULT_ROWS)
        start_index = _int_param(q.get('startIndex'), 'startIndex')
        token = q.get('pageToken')
        after = 0       # tokens name the last rowid served, so appends never shift pages
        if token:
            after = _decode_rowid_token(token)
            start_index = None
        int64_ts = _bool(q.get('formatOptions.useInt64Timestamp'))
        if q.get('formatOptions.timestampOutputFormat') in ('INT64',):
            int64_ts = True
        cols = _selected_columns(tb, q.get('selectedFields'))
        fetched = self.store.list_rows(tb, after, max_results, start_index)
        columns = [(tb.fields[i].name, tb.fields[i].type, False) for i in cols]
        enc = self._row_encoder(columns, int64_ts)
        idx = [i + 1 for i in cols]
        rows = [tuple(r[i] for i in idx) for r in fetched]
        texts = enc(rows)
        texts = _cap_page(texts)
        total = self.store.tables.get((p, d, t), tb).num_rows
        out = {'kind': 'bigquery#tableDataList', 'etag': _etag(tb.modified_ms, tb.version),
               'totalRows': str(total)}
        last = fetched[len(texts) - 1][0] if texts else after
        if len(texts) < len(fetched) or (fetched and len(fetched) == max_results and
                                         self._more_rows(tb, last)):
            out['pageToken'] = _encode_rowid_token(last)
        return RawJSON(_with_rows(out, texts))

    def _more_rows(self, tb, rowid):
        with self.store.lock:
            return self.store.conn.execute('SELECT 1 FROM "%s" WHERE rowid > ? LIMIT 1'
                                           % tb.sqlite_name, (rowid,)).fetchone() is not None

    # ------------------------------------------------------------------ jobs
    def jobs_query(self, req, p):
        body = req.json()
        if 'query' not in body:
            raise _invalid('Required parameter is missing: query')
        cfg = {k: body[k] for k in ('query', 'useLegacySql', 'parameterMode', 'queryParameters',
                                    'defaultDataset', 'useQueryCache', 'maximumBytesBilled',
                                    'location', 'createSession', 'connectionProperties')
               if k in body}
        if 'useLegacySql' not in cfg:
            cfg['useLegacySql'] = True   # BigQuery's default, which the emulator then refuses
        timeout = _timeout(body.get('timeoutMs'))
        labels = body.get('labels') or {}
        location = body.get('location')
        dry = _bool(body.get('dryRun'))
        job = self.jobs.submit(p, None, location, cfg, labels, dry, body.get('requestId'))
        if dry:
            return self._dry_run_response(job)
        job.done.wait(timeout)
        fmt = body.get('formatOptions') or {}
        int64_ts = _bool(fmt.get('useInt64Timestamp')) or \
            fmt.get('timestampOutputFormat') == 'INT64'
        return self._results_response(job, 'bigquery#queryResponse',
                                      _int_param(body.get('maxResults'), 'maxResults'),
                                      0, int64_ts, query_response=True)

    def _dry_run_response(self, job):
        if job.error:
            raise job.api_error()
        if job.dml is not None:
            return {'kind': 'bigquery#queryResponse',
                    'jobReference': {'projectId': job.project, 'location': job.location},
                    'totalBytesProcessed': str(job.dml.bytes_processed),
                    'jobComplete': True, 'cacheHit': False}
        r = job.result
        return {'kind': 'bigquery#queryResponse',
                'schema': {'fields': _schema_fields(r.columns)},
                'jobReference': {'projectId': job.project, 'location': job.location},
                'totalBytesProcessed': str(r.bytes_processed),
                'jobComplete': True, 'cacheHit': False}

    def get_query_results(self, req, p, job_id):
        q = req.query
        job = self.jobs.get(p, job_id, q.get('location'))
        timeout = _timeout(q.get('timeoutMs'))
        if not job.done.wait(timeout):
            return {'kind': 'bigquery#getQueryResultsResponse', 'etag': job.etag,
                    'jobReference': job.ref(), 'jobComplete': False}
        start = _int_param(q.get('startIndex'), 'startIndex', 0)
        token = q.get('pageToken')
        if token:
            start = _decode_page_token(token, job)
        int64_ts = _bool(q.get('formatOptions.useInt64Timestamp')) or \
            q.get('formatOptions.timestampOutputFormat') == 'INT64'
        return self._results_response(job, 'bigquery#getQueryResultsResponse',
                                      _int_param(q.get('maxResults'), 'maxResults'), start,
                                      int64_ts)

    def _results_response(self, job, kind, max_results, start, int64_ts, query_response=False):
        if not job.done.is_set():
            return {'kind': kind, 'jobReference': job.ref(), 'jobComplete': False}
        if job.error:
            raise job.api_error()
        out = {'kind': kind}
        if not query_response:      # QueryResponse has no etag, GetQueryResultsResponse has
            out['etag'] = job.etag
        out.update(jobReference=job.ref(), jobComplete=True)
        r = job.result
        if job.dml is not None:
            out.update(job.dml.fields(), cacheHit=False)
            if not query_response:
                out.pop('totalBytesBilled')
                out.pop('dmlStats')
            else:
                out.update(totalSlotMs='0', location=job.location, queryId=job.job_id,
                           creationTime=str(job.created_ms), startTime=str(job.start_ms),
                           endTime=str(job.end_ms))
            return out
        if r is None:   # DDL
            out.update({'totalBytesProcessed': '0', 'cacheHit': False})
            if query_response:
                out.update(totalBytesBilled='0', totalSlotMs='0', location=job.location,
                           creationTime=str(job.created_ms), startTime=str(job.start_ms),
                           endTime=str(job.end_ms))
            return out
        rows = r.rows
        if rows is None:   # evicted from memory: materialize again
            rows = self.jobs.rerun(job)
        total = len(rows)
        out['schema'] = {'fields': _schema_fields(r.columns)}
        out['totalRows'] = str(total)
        out['totalBytesProcessed'] = str(r.bytes_processed)
        out['cacheHit'] = r.cache_hit
        if query_response:
            out.update(totalBytesBilled=str(r.bytes_billed), totalSlotMs='0',
                       location=job.location, queryId=job.job_id,
                       creationTime=str(job.created_ms), startTime=str(job.start_ms),
                       endTime=str(job.end_ms))
        if start > total:
            start = total
        end = total if max_results is None else min(total, start + max_results)
        texts = self._row_encoder(r.columns, int64_ts)(rows[start:end])
        texts = _cap_page(texts)
        nxt = start + len(texts)
        if nxt < total:
            out['pageToken'] = _encode_page_token(job, nxt)
        return RawJSON(_with_rows(out, texts))

    def jobs_insert(self, req, p):
        body = req.json()
        conf = body.get('configuration') or {}
        ref = body.get('jobReference') or {}
        if 'query' not in conf:
            kinds = [k for k in ('load', 'extract', 'copy') if k in conf]
            raise _invalid('%s jobs are not supported by the emulator; only query jobs are'
                           % (kinds[0].title() if kinds else 'These'))
        qconf = dict(conf['query'])
        if not isinstance(qconf.get('query'), str):
            raise _invalid('Required parameter is missing: configuration.query.query')
        for unsupported_key in ('destinationTable', 'tableDefinitions', 'scriptOptions'):
            if qconf.get(unsupported_key):
                raise _invalid('configuration.query.%s is not supported by the emulator'
                               % unsupported_key)
        if 'useLegacySql' not in qconf:
            qconf['useLegacySql'] = True
        project = ref.get('projectId') or p
        job_id = ref.get('jobId')
        if job_id is not None and (not isinstance(job_id, str) or not job_id or
                                   len(job_id) > 1024 or
                                   not all(c.isalnum() or c in '_-' for c in job_id)):
            raise _invalid('Invalid job ID "%s". Job IDs must be alphanumeric (plus underscores '
                           'and dashes) and must be at most 1024 characters long.' % job_id)
        dry = _bool(conf.get('dryRun'))
        job = self.jobs.submit(project, job_id, ref.get('location'), qconf,
                               conf.get('labels') or {}, dry)
        return self._job_resource(req, job)

    def _job_resource(self, req, job, list_item=False):
        """A Job resource, or with list_item=True one item of jobs.list (which
        has state and errorResult at its top level, and no etag or selfLink)."""
        qconf = {k: v for k, v in job.config.items() if k not in QUERY_REQUEST_ONLY}
        if job.destination is not None and job.done.is_set() and not job.error:
            qconf['destinationTable'] = dict(job.destination)
        mbb = qconf.get('maximumBytesBilled')
        if isinstance(mbb, int) and not isinstance(mbb, bool):
            qconf['maximumBytesBilled'] = str(mbb)     # int64: a string in every answer
        if qconf.get('useLegacySql') is True:
            qconf['useLegacySql'] = True
        qconf.setdefault('priority', 'INTERACTIVE')
        conf = {'jobType': 'QUERY', 'query': qconf}
        if job.labels:
            conf['labels'] = job.labels
        if job.dry_run:
            conf['dryRun'] = True
        stats = {'creationTime': str(job.created_ms)}
        if job.start_ms:
            stats['startTime'] = str(job.start_ms)
        if job.end_ms and job.done.is_set():
            stats['endTime'] = str(job.end_ms)
        qstats = {}
        if job.done.is_set() and not job.error:
            r = job.result
            if r is not None:
                qstats.update(totalBytesProcessed=str(r.bytes_processed),
                              totalBytesBilled=str(r.bytes_billed), cacheHit=r.cache_hit,
                              schema={'fields': _schema_fields(r.columns)},
                              totalSlotMs='0', billingTier=1)
                if job.dry_run:
                    qstats['estimatedBytesProcessed'] = str(r.bytes_processed)
                    qstats['totalBytesProcessedAccuracy'] = 'PRECISE'
                stats['totalBytesProcessed'] = str(r.bytes_processed)
            elif job.dml is not None:
                qstats.update(job.dml.fields(), cacheHit=False, totalSlotMs='0', billingTier=1)
                stats['totalBytesProcessed'] = qstats['totalBytesProcessed']
            else:
                qstats.update(totalBytesProcessed='0', totalBytesBilled='0', cacheHit=False,
                              totalSlotMs='0')
                stats['totalBytesProcessed'] = '0'
            if job.ddl is not None:
                op, kind, target = job.ddl
                qstats['ddlOperationPerformed'] = op
                qstats['ddlTarget%s' % ('Dataset' if kind == 'dataset' else 'Table')] = target
        if job.statement_type:
            qstats['statementType'] = job.statement_type
        if qstats:
            stats['query'] = qstats
        status = {'state': job.state if not job.done.is_set() else 'DONE'}
        if job.done.is_set() and job.error:
            status['errorResult'] = job.error_proto()
            status['errors'] = [job.error_proto()]
        r = {'kind': 'bigquery#job', 'jobReference': job.ref(),
             'configuration': conf, 'statistics': stats, 'status': status,
             'user_email': 'emulator@bqstream.local', 'principal_subject': 'user:emulator'}
        if job.job_id:
            r['id'] = job.ref_text()
        if list_item:
            r['state'] = status['state']
            if 'errorResult' in status:
                r['errorResult'] = status['errorResult']
        else:
            r['etag'] = job.etag
            if job.job_id:
                r['selfLink'] = '%s/projects/%s/jobs/%s?location=%s' % (
                    self._base(req), job.project, job.job_id, job.ref()['location'])
        return r

    def jobs_get(self, req, p, job_id):
        job = self.jobs.get(p, job_id, req.query.get('location'))
        return self._job_resource(req, job)

    def jobs_cancel(self, req, p, job_id):
        job = self.jobs.get(p, job_id, req.query.get('location'))
        self.jobs.cancel(job)
        job.done.wait(1.0)
        return {'kind': 'bigquery#jobCancelResponse', 'job': self._job_resource(req, job)}

    def jobs_delete(self, req, p, job_id):
        job = self.jobs.get(p, job_id, req.query.get('location'))
        if not job.done.is_set():
            raise _invalid('Job %s is still running; cancel it first' % job.ref_text())
        self.jobs.forget(job)
        return RawJSON(b'', 204)

    def jobs_list(self, req, p):
        jobs = self.jobs.list(p)
        state = req.query.get('stateFilter')
        if state:
            wanted = {s.strip().upper() for s in state.split(',')}
            jobs = [j for j in jobs if ('DONE' if j.done.is_set() else j.state) in wanted]
        page, token = _page(jobs, req.query, 50)
        out = {'kind': 'bigquery#jobList', 'etag': _etag(len(jobs))}
        if page:
            out['jobs'] = [self._job_resource(req, j, list_item=True) for j in page]
        if token:
            out['nextPageToken'] = token
        return out

    # ------------------------------------------------------------------ row encoding
    def _row_encoder(self, columns, int64_ts):
        """Compile (once per result shape) a function: rows -> list of JSON row texts."""
        key = (tuple((t, nan) for _, t, nan in columns), int64_ts)
        fn = self._encoders.get(key)
        if fn is None:
            with self._enc_lock:
                fn = self._encoders.get(key)
                if fn is None:
                    fn = _compile_encoder(columns, int64_ts)
                    self._encoders[key] = fn
        return fn


def _compile_encoder(columns, int64_ts):
    """Generate a row serializer specialised to the column types (the page hot path)."""
    ns = {'_S': _json_str, '_jd': T.java_double, '_dumps': json.dumps}
    exprs = []
    for i, (_, typ, _) in enumerate(columns):
        v = 'v%d' % i
        if typ in ('STRING', 'DATE', 'JSON'):
            e = '_S(%s)' % v
        elif typ == 'INT64' or (typ == 'TIMESTAMP' and int64_ts):
            e = '\'"%%d"\' %% %s' % v
        elif typ == 'FLOAT64':
            e = '(\'"\' + _jd(%s) + \'"\' if %s.__class__ is not str else \'"NaN"\')' % (v, v)
        elif typ == 'TIMESTAMP':
            e = '\'"\' + _jd(%s / 1000000.0) + \'"\'' % v
        elif typ == 'BOOL':
            e = '(\'"true"\' if %s else \'"false"\')' % v
        elif typ == 'NULL':
            e = 'null'
            exprs.append('\'null\'')
            continue
        else:
            ns['_enc%d' % i] = T.cell_encoder(typ, int64_ts)
            if T.is_array(typ) or T.is_struct(typ):
                e = '_dumps(_enc%d(%s), separators=(",", ":"))' % (i, v)
            else:
                e = '_S(_enc%d(%s))' % (i, v)
        if T.is_array(typ):
            exprs.append("(%s if %s is not None else '[]')" % (e, v))
        else:
            exprs.append("(%s if %s is not None else 'null')" % (e, v))
    if not columns:
        src = 'def enc(rows):\n    return [\'{"f":[]}\' for _ in rows]\n'
    else:
        body = ' + \'},{"v":\' + '.join(exprs)
        names = ', '.join('v%d' % i for i in range(len(columns)))
        src = ('def enc(rows):\n'
               '    out = []\n'
               '    app = out.append\n'
               '    for (%s,) in rows:\n'
               '        app(\'{"f":[{"v":\' + %s + \'}]}\')\n'
               '    return out\n') % (names, body)
    exec(compile(src, '<bigquery row encoder>', 'exec'), ns)
    return ns['enc']


def _cap_page(texts):
    """Keep at most ~10 MB of rows in one page (at least one row)."""
    total = 0
    for i, s in enumerate(texts):
        total += len(s) + 1
        if total > MAX_PAGE_BYTES and i > 0:
            return texts[:i]
    return texts


def _with_rows(out, texts):
    head = json.dumps(out, separators=(',', ':'))
    if not texts:
        return head
    return head[:-1] + ',"rows":[' + ','.join(texts) + ']}'


def _schema_fields(columns):
    out = []
    for name, typ, _ in columns:
        if typ == 'NULL':
            typ = 'INT64'
        out.append(T.schema_field(name, typ))
    return out


def _selected_columns(tb, sel):
    """Indexes of the fields a selectedFields list names, in the table's schema
    order whatever the list's order (as BigQuery answers), each once; all
    fields without a list."""
    if not sel:
        return list(range(len(tb.fields)))
    by = {f.name.lower(): i for i, f in enumerate(tb.fields)}
    wanted = set()
    for name in sel.split(','):
        name = name.strip()
        if name.lower() not in by:
            raise _invalid('Invalid field selection %s' % name)
        wanted.add(by[name.lower()])
    return sorted(wanted)


def _row_error(e):
    return {'reason': e.reason, 'location': e.location, 'debugInfo': '', 'message': e.message}


def _timeout(v):
    if v is None or v == '':
        return DEFAULT_TIMEOUT_MS / 1000.0
    try:
        ms = int(v)
    except (TypeError, ValueError):
        raise _invalid('Invalid value for timeoutMs: %s' % v) from None
    return max(0, min(ms, MAX_TIMEOUT_MS)) / 1000.0


def _encode_rowid_token(rowid):
    return base64.urlsafe_b64encode(('r%d' % rowid).encode()).decode().rstrip('=')


def _decode_rowid_token(token):
    try:
        raw = base64.urlsafe_b64decode(token.encode() + b'=' * (-len(token) % 4)).decode()
        if not raw.startswith('r'):
            raise ValueError(token)
        return int(raw[1:])
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise _invalid('Invalid page token: %s' % token) from None


def _encode_page_token(job, index):
    raw = ('%s:%d' % (job.job_id, index)).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip('=')


def _decode_page_token(token, job):
    try:
        raw = base64.urlsafe_b64decode(token.encode() + b'=' * (-len(token) % 4)).decode()
        jid, _, idx = raw.rpartition(':')
        if jid != job.job_id:
            raise ValueError
        return int(idx)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise _invalid('Invalid page token: %s' % token) from None


def _page(items, query, default_max):
    """Offset paging for list methods: returns (items of this page, nextPageToken or None)."""
    max_results = _int_param(query.get('maxResults'), 'maxResults', default_max, minimum=1)
    token = query.get('pageToken')
    start = 0
    if token:
        try:
            start = int(base64.urlsafe_b64decode(token.encode() + b'=' * (-len(token) % 4))
                        .decode().lstrip('o'))
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise _invalid('Invalid page token: %s' % token) from None
    page = items[start:start + max_results]
    nxt = start + max_results
    if nxt < len(items):
        return page, base64.urlsafe_b64encode(('o%d' % nxt).encode()).decode().rstrip('=')
    return page, None


INT64_METADATA = ('defaultTableExpirationMs', 'defaultPartitionExpirationMs', 'expirationTime')


def _int64_fields(extra):
    """int64 metadata fields as BigQuery echoes them: decimal strings (a client may
    send a JSON number, which proto3's JSON mapping accepts)."""
    for k in INT64_METADATA:
        if k in extra and extra[k] is not None:
            v = extra[k]
            if isinstance(v, bool) or not (isinstance(v, int) or
                                           (isinstance(v, str) and v.lstrip('-').isdigit())):
                raise _invalid('Invalid value for %s: %s' % (k, v))
            extra[k] = str(int(v))
    return extra


def _etag(*parts):
    return base64.b64encode(('%s' % '.'.join(str(p) for p in parts)).encode()).decode()[:24]


def _rfc3339_ms(ms):
    sec, frac = divmod(ms, 1000)
    return time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(sec)) + '.%03dZ' % frac


def _primary_key(fields, constraints):
    """tableConstraints.primaryKey.columns of a new table (BigQuery keeps the key, unenforced,
    and requires its columns to exist); foreign keys are refused rather than dropped."""
    if not constraints:
        return None
    if not isinstance(constraints, dict):
        raise S.SchemaError('Invalid value for tableConstraints')
    if constraints.get('foreignKeys'):
        raise S.SchemaError('Foreign keys in tableConstraints are not supported by the emulator')
    columns = (constraints.get('primaryKey') or {}).get('columns') or []
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise S.SchemaError('Invalid value for tableConstraints.primaryKey.columns')
    names = {f['name'].lower(): f['name'] for f in fields}
    for c in columns:
        if c.lower() not in names:
            raise S.SchemaError('Primary key column %s does not exist in the table schema' % c)
    if len({c.lower() for c in columns}) != len(columns):
        raise S.SchemaError('Duplicate column in the primary key')
    return [names[c.lower()] for c in columns]
