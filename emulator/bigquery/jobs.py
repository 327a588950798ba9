"""Query jobs: creation, asynchronous execution, results, cache, idempotency.

Owns the life of a BigQuery job: ``jobs.query`` and ``jobs.insert`` create one,
it runs (after the configured ``--bq-job-delay-ms`` or the per-request label
``emulator_delay_ms``, so clients must poll), its result rows are materialized
once and kept for paging, ``jobs.cancel`` stops it, ``requestId`` maps a retried
``jobs.query`` to the original job, and the query cache answers an identical
deterministic query over unchanged tables with ``cacheHit`` and 0 bytes.

A finished SELECT job has a destination table, as in BigQuery: the anonymous
table (dataset `_<hex>` of the project and location, table `anon<hex>`) that
jobs.get reports in configuration.query.destinationTable. Its rows are the job's
result rows; tables.get and the Storage Read API read them there
(``destination_job``), as Google's clients read large query results.

It also runs DDL statements (CREATE SCHEMA/TABLE/VIEW/MATERIALIZED VIEW, DROP …)
against storage, and computes totalBytesProcessed / totalBytesBilled (10 MiB
minimum per table read, rounded up to whole MiB per table, as BigQuery bills) and
enforces ``maximumBytesBilled`` against bytes *billed*.
"""

import collections
import hashlib
import json
import logging
import secrets
import threading
import time

from emulator.core.errors import ApiError

from . import schema as S
from . import types as T
from .sql import nodes as N
from .sql.errors import SqlError, SqlNotFound, unsupported
from .sql.parser import parse
from .sql.translate import Scan as T_Scan
from .sql.translate import QueryContext, compile_query, compile_dml, check_materialized_view

log = logging.getLogger('emulator.bigquery')

MIB = 1 << 20
MIN_BILLED_PER_TABLE = 10 * MIB
RESULT_ROW_BUDGET = 4_000_000     # rows kept in memory across finished jobs
MAX_JOBS = 20000
REQUEST_ID_TTL_S = 15 * 60


class Result:
    __slots__ = ('columns', 'rows', 'bytes_processed', 'bytes_billed', 'cache_hit',
                 'total_rows')

    def __init__(self, columns, rows, bytes_processed, bytes_billed, cache_hit):
        self.columns = columns      # [(name, type, nan)]
        self.rows = rows            # list of tuples (internal values) or None when evicted
        self.bytes_processed = bytes_processed
        self.bytes_billed = bytes_billed
        self.cache_hit = cache_hit
        self.total_rows = len(rows) if rows is not None else 0


class Job:
    def __init__(self, project, job_id, location, requested_location, config, labels,
                 dry_run, delay_ms):
        self.project = project
        self.job_id = job_id
        self.location = location
        self.requested_location = requested_location
        self.config = config          # configuration.query as given (plus defaults)
        self.labels = labels
        self.dry_run = dry_run
        self.delay_ms = delay_ms
        self.created_ms = _now_ms()
        self.start_ms = None
        self.end_ms = None
        self.state = 'PENDING'
        self.error = None             # (http_code, status, reason, message)
        self.result = None
        self.statement_type = None
        self.ddl = None               # (operation, kind, target ref dict)
        self.dml = None               # DmlOutcome of an UPDATE or DELETE
        self.destination = None       # SELECT: the anonymous result table's reference
        self.cancel_event = threading.Event()
        self.done = threading.Event()
        self.compiled = None
        self.etag = secrets.token_urlsafe(16)
        self.default_location = 'US'

    def ref(self):
        # BigQuery's jobReference always names the location (never null); a job
        # whose location could not be settled before it ran reports the default
        location = self.location or self.default_location
        r = {'projectId': self.project, 'location': location}
        if self.job_id is not None:
            r = {'projectId': self.project, 'jobId': self.job_id, 'location': location}
        return r

    def ref_text(self):
        return '%s:%s.%s' % (self.project, self.location or self.default_location, self.job_id)

    def fail(self, http_code, status, reason, message):
        self.error = (http_code, status, reason, message)

    def _location(self):
        # BigQuery points query errors at the request field that holds the SQL
        return 'query' if self.error[2] == 'invalidQuery' else None

    def api_error(self):
        code, status, reason, message = self.error
        return ApiError(code, status, message, reason=reason, location=self._location())

    def error_proto(self):
        code, status, reason, message = self.error
        e = {'reason': reason, 'message': message}
        if self._location():
            e['location'] = self._location()
        return e


class JobManager:
    def __init__(self, store, counters, delay_ms=0, default_location='US'):
        self.store = store
        self.counters = counters
        self.delay_ms = delay_ms
        self.default_location = default_location
        self.lock = threading.Lock()
        self.jobs = collections.OrderedDict()    # (project, job_id) -> Job
        self.request_ids = {}                    # (project, request_id) -> (Job, time)
        self.cache = collections.OrderedDict()   # key -> (Result, versions)
        self.kept_rows = collections.OrderedDict()  # job key -> row count (result budget)
        self.kept_total = 0
        self.destinations = {}                   # (project, dataset, table) -> Job

    # ------------------------------------------------------------------ creation
    def new_job_id(self):
        return 'job_' + secrets.token_urlsafe(21)

    def submit(self, project, job_id, requested_location, config, labels, dry_run,
               request_id=None):
        """Create and start a query job and return it: finished when it runs inline (no delay),
        else running in its own thread (callers wait on ``job.done`` as long as they may)."""
        if request_id:
            with self.lock:
                self._expire_request_ids()
                hit = self.request_ids.get((project, request_id))
            if hit is not None:
                return hit[0]
        delay = self.delay_ms
        if labels and 'emulator_delay_ms' in labels:
            try:
                delay = int(labels['emulator_delay_ms'])
            except (TypeError, ValueError):
                raise ApiError(400, 'INVALID_ARGUMENT', 'Label emulator_delay_ms must be an '
                               'integer number of milliseconds', reason='invalid') from None
        location = requested_location or None
        job = Job(project, None if dry_run else (job_id or self.new_job_id()), location,
                  requested_location, config, labels, dry_run, delay)
        job.default_location = self.default_location
        if job.location is None and delay > 0 and not dry_run:
            job.location = self._settle_location(job)
        if not dry_run:
            with self.lock:
                key = (project, job.job_id)
                if key in self.jobs:
                    raise ApiError(409, 'ALREADY_EXISTS', 'Already Exists: Job %s:%s.%s'
                                   % (project, requested_location or self.default_location,
                                      job.job_id), reason='duplicate')
                self.jobs[key] = job
                while len(self.jobs) > MAX_JOBS:
                    old_key, old = self.jobs.popitem(last=False)
                    self._forget_rows(old_key)
                    self._forget_destination(old)
                if request_id:
                    self.request_ids[(project, request_id)] = (job, time.time())
        self.counters.incr('queries')
        if delay > 0 and not dry_run:
            threading.Thread(target=self._execute, args=(job,), name='bq-job',
                             daemon=True).start()
        else:
            self._execute(job)
        return job

    def _settle_location(self, job):
        """Where a query job without a requested location runs: BigQuery settles it
        when the job is inserted, from the tables the query names, so a job still
        running already reports it. None when the query names none (or fails:
        its error comes when it runs)."""
        try:
            node = parse(job.config.get('query') or '')
            if not isinstance(node, N.Select):
                return None
            ctx = self._context(job, job.config)
            with self.store.lock:
                compile_query(node, ctx)
            return next(iter(sorted(ctx.locations)), None)
        except Exception:  # noqa: BLE001 - the job reports its error when it runs
            return None

    def _expire_request_ids(self):
        cutoff = time.time() - REQUEST_ID_TTL_S
        stale = [k for k, (_, t) in self.request_ids.items() if t < cutoff]
        for k in stale:
            del self.request_ids[k]

    def get(self, project, job_id, location=None):
        with self.lock:
            job = self.jobs.get((project, job_id))
        if job is None or (location and job.location and
                           location.lower() != job.location.lower()):
            raise ApiError(404, 'NOT_FOUND', 'Not found: Job %s:%s.%s'
                           % (project, location or (job.location if job else None)
                              or self.default_location, job_id), reason='notFound')
        return job

    def list(self, project):
        with self.lock:
            return [j for (p, _), j in reversed(self.jobs.items()) if p == project]

    def cancel(self, job):
        job.cancel_event.set()

    # ------------------------------------------------------------------ execution
    def _execute(self, job):
        job.state = 'RUNNING'
        job.start_ms = _now_ms()
        try:
            if job.delay_ms > 0 and job.cancel_event.wait(job.delay_ms / 1000.0):
                job.fail(400, 'INVALID_ARGUMENT', 'stopped',
                         'Job execution was cancelled: User requested cancellation')
            else:
                self._run(job)
        except SqlError as e:
            job.fail(e.http_code, e.status, e.reason, e.message)
        except S.SchemaError as e:
            job.fail(400, 'INVALID_ARGUMENT', e.reason, e.message)
        except ApiError as e:
            job.fail(e.http_code, e.status, e.reason or 'invalid', e.message)
        except Exception as e:  # noqa: BLE001 - a job must always finish
            log.exception('query job %s failed unexpectedly', job.job_id)
            job.fail(500, 'INTERNAL', 'internalError', 'Internal error in the emulator: %s' % e)
        if job.location is None:
            job.location = self.default_location
        job.end_ms = _now_ms()
        job.state = 'DONE'
        job.done.set()

    def _run(self, job):
        cfg = job.config
        text = cfg.get('query')
        if not isinstance(text, str) or not text.strip():
            raise ApiError(400, 'INVALID_ARGUMENT', 'Required parameter is missing: query',
                           reason='invalid')
        legacy = cfg.get('useLegacySql')
        stripped = text.lstrip()
        if stripped[:12].lower() == '#standardsql':
            if legacy is True:
                raise SqlError('Query text specifies use_legacy_sql:false, while API options '
                               'specify:true')
            legacy = False
        elif stripped[:10].lower() == '#legacysql':
            legacy = True
        if legacy is None or legacy is True or legacy == 'true':
            raise SqlError('Legacy SQL is not supported by the emulator: set useLegacySql to '
                           'false (BigQuery defaults it to true) to run GoogleSQL')
        node = parse(text)
        if isinstance(node, N.Select):
            job.statement_type = 'SELECT'
            self._run_select(job, node, cfg)
        elif isinstance(node, (N.Update, N.Delete)):
            self._run_dml(job, node, cfg)
        else:
            self._run_ddl(job, node, cfg)

    def _context(self, job, cfg):
        dd = cfg.get('defaultDataset')
        default = None
        if isinstance(dd, dict) and dd.get('datasetId'):
            default = (dd.get('projectId') or job.project, dd['datasetId'])
        named, positional, mode = decode_parameters(cfg)
        catalog = _Catalog(self.store, job)
        return QueryContext(catalog, job.project, default, named, positional,
                            now_us=(job.start_ms or _now_ms()) * 1000, param_mode=mode)

    def _run_select(self, job, node, cfg):
        store = self.store
        ctx = self._context(job, cfg)
        with store.lock:
            comp = compile_query(node, ctx)
            if job.location is None:
                job.location = next(iter(sorted(ctx.locations)), None) or self.default_location
            for scan in ctx.scans:
                t = scan.table
                if t.require_partition_filter and not scan.pruned:
                    raise SqlError("Cannot query over table '%s.%s.%s' without a filter over "
                                   "column(s) '%s' that can be used for partition elimination"
                                   % (t.project, t.dataset, t.table_id, t.partition_field))
            per_table = {}
            for scan in ctx.scans:
                per_table[scan.table.key] = per_table.get(scan.table.key, 0) + \
                    store.scan_bytes(scan)
            processed = sum(per_table.values())
            billed = sum(max(MIN_BILLED_PER_TABLE, -(-b // MIB) * MIB)
                         for b in per_table.values() if b > 0)
            columns = comp.columns
            job.compiled = comp
            if job.dry_run:
                job.result = Result(columns, [], processed, 0, False)
                return
            use_cache = cfg.get('useQueryCache', True) not in (False, 'false')
            key = None
            if ctx.deterministic:
                key = (job.project, cfg.get('query'), json.dumps(cfg.get('queryParameters'),
                                                                 sort_keys=True),
                       json.dumps(cfg.get('defaultDataset'), sort_keys=True))
                versions = {k: t.version for k, t in ctx.tables.items()}
                if use_cache:
                    hit = self.cache.get(key)
                    if hit is not None and hit[1] == versions and all(
                            store.by_key.get(k) is ctx.tables[k] for k in versions) and \
                            hit[0].rows is not None:
                        self.cache.move_to_end(key)
                        r = hit[0]
                        job.result = Result(r.columns, r.rows, 0, 0, True)
                        self._keep(job)
                        self._set_destination(job)
                        return
            limit = cfg.get('maximumBytesBilled')
            if limit not in (None, ''):
                try:
                    limit = int(limit)
                except (TypeError, ValueError):
                    raise ApiError(400, 'INVALID_ARGUMENT', 'Invalid value for '
                                   'maximumBytesBilled: %s' % limit, reason='invalid') from None
                if billed > limit:
                    raise SqlError('Query exceeded limit for bytes billed: %d. %d or higher '
                                   'required.' % (limit, billed), reason='bytesBilledLimitExceeded')
            rows = store.execute(comp.sql, comp.params)
        self.counters.incr('bytes_processed', processed)
        self.counters.incr('rows_returned', len(rows))
        job.result = Result(columns, rows, processed, billed, False)
        self._keep(job)
        self._set_destination(job)
        if key is not None:
            with store.lock:   # the cache is read under the same lock, in the block above
                self.cache[key] = (job.result, versions)
                while len(self.cache) > 64:
                    self.cache.popitem(last=False)

    def count_rows(self, t):
        """COUNT(*) of a view or materialized view, run at once (no job delay, no job record)."""
        job = Job(t.project, None, None, None,
                  {'query': 'SELECT COUNT(*) FROM `%s.%s.%s`' % (t.project, t.dataset, t.table_id),
                   'useLegacySql': False, 'useQueryCache': False}, {}, False, 0)
        try:
            self._run(job)
        except (SqlError, ApiError, S.SchemaError):
            return 0
        return job.result.rows[0][0] if job.result and job.result.rows else 0

    def rerun(self, job):
        """Re-materialize the rows of a finished job whose result was evicted from memory."""
        with self.store.lock:
            rows = self.store.execute(job.compiled.sql, job.compiled.params)
        job.result.rows = rows
        job.result.total_rows = len(rows)
        self._keep(job)
        return rows

    def _keep(self, job):
        """Account the job's rows against the in-memory budget, evicting the oldest results."""
        if job.job_id is None:
            return   # internal one-off queries are not kept
        n = len(job.result.rows)
        with self.lock:
            key = (job.project, job.job_id)
            self.kept_rows[key] = n
            self.kept_total += n
            while self.kept_total > RESULT_ROW_BUDGET and len(self.kept_rows) > 1:
                old_key, cnt = self.kept_rows.popitem(last=False)
                self.kept_total -= cnt
                old = self.jobs.get(old_key)
                if old is not None and old.result is not None and old is not job:
                    old.result.rows = None

    def _set_destination(self, job):
        """Name the anonymous table that holds a SELECT job's results: BigQuery's hidden
        dataset of the project and location ('_' and 40 hex digits) and a table of the
        job ('anon' and 40 hex digits)."""
        if job.job_id is None:
            return
        location = (job.location or self.default_location).lower()
        dataset = '_' + hashlib.sha1(('%s\0%s' % (job.project, location)).encode()).hexdigest()
        table = 'anon' + hashlib.sha1(('%s\0%s' % (job.project, job.job_id)).encode()).hexdigest()
        job.destination = {'projectId': job.project, 'datasetId': dataset, 'tableId': table}
        with self.lock:
            self.destinations[(job.project, dataset, table)] = job

    def _forget_destination(self, job):
        d = job.destination
        if d is not None:
            self.destinations.pop((d['projectId'], d['datasetId'], d['tableId']), None)

    def destination_job(self, project, dataset, table):
        """The finished SELECT job whose anonymous result table this is, or None."""
        with self.lock:
            job = self.destinations.get((project, dataset, table))
        if job is None or not job.done.is_set() or job.error or job.result is None:
            return None
        return job

    def forget(self, job):
        """jobs.delete: the job and its result table are gone."""
        with self.lock:
            self.jobs.pop((job.project, job.job_id), None)
            self._forget_destination(job)

    def _forget_rows(self, key):
        n = self.kept_rows.pop(key, None)
        if n:
            self.kept_total -= n

    # ------------------------------------------------------------------ DML
    def _run_dml(self, job, node, cfg):
        """UPDATE or DELETE: the rows the WHERE clause selects are changed in one
        transaction, unless one of them is still in the streaming buffer, which
        BigQuery refuses for the whole statement (rows streamed with insertAll
        cannot be changed by DML for a while; rows written by DML can)."""
        store = self.store
        update = isinstance(node, N.Update)
        job.statement_type = 'UPDATE' if update else 'DELETE'
        ctx = self._context(job, cfg)
        with store.lock:
            comp = compile_dml(node, ctx)
            t = comp.table
            if job.location is None:
                job.location = t.location
            if t.require_partition_filter and not comp.scan.pruned:
                raise SqlError("Cannot query over table '%s.%s.%s' without a filter over "
                               "column(s) '%s' that can be used for partition elimination"
                               % (t.project, t.dataset, t.table_id, t.partition_field))
            # BigQuery bills the referenced columns plus every column of the changed table
            whole = T_Scan(t)
            whole.cols = set(range(len(t.fields)))
            processed = store.scan_bytes(comp.scan) + store.scan_bytes(whole)
            billed = max(MIN_BILLED_PER_TABLE, -(-processed // MIB) * MIB) if processed else 0
            if job.dry_run:
                job.dml = DmlOutcome(0, update, processed, 0)
                return
            _check_bytes_billed(cfg, billed)
            rows = store.execute(comp.sql, comp.params)
            buffered = store.buffered_rowids(t)
            if buffered and any(lo <= r[0] <= hi for r in rows for lo, hi in buffered):
                raise SqlError('UPDATE or DELETE statement over table %s.%s.%s would affect '
                               'rows in the streaming buffer, which is not supported'
                               % (t.project, t.dataset, t.table_id))
            for r in rows:
                for idx, v in zip(comp.set_columns, r[1:]):
                    if v is None and t.fields[idx].mode == 'REQUIRED':
                        raise SqlError('Cannot set REQUIRED field %s to NULL' % t.fields[idx].name)
            if update:
                store.apply_dml(t, [], [(r[0], r[1:]) for r in rows], comp.set_columns, _now_ms())
            else:
                store.apply_dml(t, [r[0] for r in rows], [], [], _now_ms())
        self.counters.incr('bytes_processed', processed)
        job.dml = DmlOutcome(len(rows), update, processed, billed)

    # ------------------------------------------------------------------ DDL
    def _run_ddl(self, job, node, cfg):
        store = self.store
        ctx = self._context(job, cfg)
        if isinstance(node, N.CreateSchema):
            job.statement_type = 'CREATE_SCHEMA'
            project, dataset = _schema_name(node.name, job.project, node.pos)
            S.check_dataset_id(dataset)
            opts = _literal_options(node.options, ctx)
            location = opts.pop('location', None) or job.requested_location or \
                self.default_location
            job.location = job.location or location
            extra = {}
            if 'description' in opts:
                extra['description'] = opts.pop('description')
            _reject_options(opts, node.pos, ('labels', 'default_table_expiration_days',
                                             'friendly_name'))
            with store.lock:
                if store.get_dataset(project, dataset) is not None:
                    if node.if_not_exists:
                        job.ddl = ('SKIP', 'dataset', {'projectId': project, 'datasetId': dataset})
                        return
                    raise SqlError('Already Exists: Dataset %s:%s' % (project, dataset),
                                   reason='duplicate', http_code=409, status='ALREADY_EXISTS')
                store.create_dataset(project, dataset, location, extra)
            job.ddl = ('CREATE', 'dataset', {'projectId': project, 'datasetId': dataset})
            return
        if isinstance(node, N.Drop):
            self._drop(job, node, ctx)
            return
        if isinstance(node, N.CreateTable):
            job.statement_type = 'CREATE_TABLE'
            if node.as_query is not None:
                raise unsupported('CREATE TABLE ... AS SELECT', node.pos)
            project, dataset, table_id = ctx.resolve_table_path(node.name, node.pos)
            S.check_table_id(table_id)
            fields = []
            for c in node.columns:
                if T.is_array(c.type):
                    if c.not_null:
                        raise SqlError('NOT NULL cannot be applied to ARRAY column %s' % c.name,
                                       c.pos)
                    fields.append(S.field(c.name, T.array_elem(c.type), 'REPEATED',
                                          _col_description(c, ctx)))
                else:
                    fields.append(S.field(c.name, c.type, 'REQUIRED' if c.not_null
                                          else 'NULLABLE', _col_description(c, ctx)))
            S.check_fields(fields)
            pfield = _partition_column(node.partition, fields)
            opts = _literal_options(node.options, ctx)
            meta = {'type': 'TABLE', 'fields': fields, 'extra': {}}
            if pfield is not None:
                meta['partition_field'] = pfield
                meta['partition_type'] = 'DAY'
                days = opts.pop('partition_expiration_days', None)
                if days is not None:
                    meta['partition_expiration_ms'] = int(float(days) * 86400000)
                rpf = opts.pop('require_partition_filter', None)
                meta['require_partition_filter'] = bool(rpf)
            if node.cluster:
                meta['clustering'] = S.clustering(fields, {'fields': node.cluster})
            if 'description' in opts:
                meta['extra']['description'] = opts.pop('description')
            _reject_options(opts, node.pos, ('labels', 'expiration_timestamp', 'friendly_name'))
            self._create_relation(job, ctx, node, project, dataset, table_id, meta, 'TABLE')
            return
        if isinstance(node, N.CreateView):
            mat = node.materialized
            job.statement_type = 'CREATE_MATERIALIZED_VIEW' if mat else 'CREATE_VIEW'
            project, dataset, table_id = ctx.resolve_table_path(node.name, node.pos)
            S.check_table_id(table_id)
            opts = _literal_options(node.options, ctx)
            meta, _ = self.view_meta(job.project, project, dataset, node.query, node.query_text,
                                     mat, opts, pos=node.pos)
            if node.partition is not None or node.cluster:
                if not mat:
                    raise SqlError('PARTITION BY and CLUSTER BY are not allowed for views',
                                   node.pos)
                if node.partition is not None:
                    pf = _partition_column(node.partition, meta['fields'])
                    meta['partition_field'] = pf
                    meta['partition_type'] = 'DAY'
                if node.cluster:
                    meta['clustering'] = S.clustering(meta['fields'], {'fields': node.cluster})
            self._create_relation(job, ctx, node, project, dataset, table_id, meta,
                                  'MATERIALIZED_VIEW' if mat else 'VIEW')
            return
        raise unsupported('This statement', node.pos)

    def view_meta(self, job_project, project, dataset, query_node, query_text, materialized,
                  opts, pos=None):
        """Validate a view / MV definition; returns (meta dict, compiled) for storage."""
        store = self.store
        if query_node is None:
            query_node = parse(query_text)
            if not isinstance(query_node, N.Select):
                raise SqlError('A view definition must be a query')
        allow_nonincremental = bool(opts.pop('allow_non_incremental_definition', False))
        enable_refresh = opts.pop('enable_refresh', True)
        refresh_minutes = opts.pop('refresh_interval_minutes', 30)
        opts.pop('max_staleness', None)
        description = opts.pop('description', None)
        _reject_options(opts, pos, ('labels', 'expiration_timestamp', 'friendly_name'))
        if materialized and not allow_nonincremental:
            check_materialized_view(query_node, None)
        fake_job = Job(project, '_view', None, None, {}, {}, True, 0)
        # names inside a view resolve against the view's project; no default dataset
        ctx = QueryContext(_Catalog(store, fake_job), project, None, {}, [],
                           now_us=_now_ms() * 1000)
        ctx.forbid_params = True
        if materialized and not allow_nonincremental:
            ctx.mv_check = True
        with store.lock:
            comp = compile_query(query_node, ctx)
        if materialized:
            bases = [t for t in ctx.tables.values()]
            if len(bases) != 1 or bases[0].type != 'TABLE':
                raise SqlError('Materialized view query must reference exactly one base table '
                               '(views and materialized views cannot be used)', pos)
        fields = []
        for name, typ, _ in comp.columns:
            if typ == 'NULL':
                typ = 'INT64'
            if T.is_array(typ):
                fields.append(S.field(name, T.array_elem(typ), 'REPEATED'))
            else:
                fields.append(S.field(name, typ, 'NULLABLE'))
        meta = {'type': 'MATERIALIZED_VIEW' if materialized else 'VIEW', 'fields': fields,
                'view_query': query_text, 'extra': {}}
        if description is not None:
            meta['extra']['description'] = description
        if materialized:
            now = _now_ms()
            meta['mv'] = {'query': query_text, 'enableRefresh': bool(enable_refresh),
                          'refreshIntervalMs': str(int(float(refresh_minutes) * 60000)),
                          'lastRefreshTime': str(now),
                          'allowNonIncrementalDefinition': allow_nonincremental}
        return meta, comp

    def _create_relation(self, job, ctx, node, project, dataset, table_id, meta, kind):
        store = self.store
        target = {'projectId': project, 'datasetId': dataset, 'tableId': table_id}
        with store.lock:
            ds = store.get_dataset(project, dataset)
            if ds is None:
                raise SqlNotFound('Not found: Dataset %s:%s' % (project, dataset))
            if job.location is None:
                job.location = ds.location
            meta['location'] = ds.location
            existing = store.get_table(project, dataset, table_id)
            op = 'CREATE'
            if existing is not None:
                if node.if_not_exists:
                    job.ddl = ('SKIP', 'table', target)
                    return
                if not node.or_replace:
                    raise SqlError('Already Exists: Table %s:%s.%s' % (project, dataset,
                                                                         table_id),
                                   reason='duplicate', http_code=409, status='ALREADY_EXISTS')
                if existing.type != kind:
                    raise SqlError('%s %s:%s.%s already exists and is a %s, not a %s'
                                   % (kind.replace('_', ' ').title(), project, dataset,
                                      table_id, existing.type.replace('_', ' ').lower(),
                                      kind.replace('_', ' ').lower()))
                store.delete_table(existing)
                op = 'REPLACE'
            store.create_table(project, dataset, table_id, meta)
        job.ddl = (op, 'table', target)

    def _drop(self, job, node, ctx):
        store = self.store
        kind = node.kind
        job.statement_type = 'DROP_' + kind.replace(' ', '_')
        if kind == 'SCHEMA':
            project, dataset = _schema_name(node.name, job.project, node.pos)
            target = {'projectId': project, 'datasetId': dataset}
            with store.lock:
                ds = store.get_dataset(project, dataset)
                if ds is None:
                    if node.if_exists:
                        job.ddl = ('SKIP', 'dataset', target)
                        return
                    raise SqlNotFound('Not found: Dataset %s:%s' % (project, dataset))
                job.location = job.location or ds.location
                if store.dataset_tables(project, dataset) and not node.cascade:
                    raise SqlError('Dataset %s:%s is still in use' % (project, dataset),
                                   reason='resourceInUse')
                store.delete_dataset(project, dataset)
            job.ddl = ('DROP', 'dataset', target)
            return
        project, dataset, table_id = ctx.resolve_table_path(node.name, node.pos)
        target = {'projectId': project, 'datasetId': dataset, 'tableId': table_id}
        want = {'TABLE': 'TABLE', 'VIEW': 'VIEW', 'MATERIALIZED VIEW': 'MATERIALIZED_VIEW'}[kind]
        with store.lock:
            ds = store.get_dataset(project, dataset)
            if ds is None:
                if node.if_exists:
                    job.ddl = ('SKIP', 'table', target)
                    return
                raise SqlNotFound('Not found: Dataset %s:%s' % (project, dataset))
            job.location = job.location or ds.location
            t = store.get_table(project, dataset, table_id)
            if t is None:
                if node.if_exists:
                    job.ddl = ('SKIP', 'table', target)
                    return
                raise SqlNotFound('Not found: %s %s:%s.%s' % (
                    'Table' if want == 'TABLE' else ('View' if want == 'VIEW'
                                                     else 'Materialized view'),
                    project, dataset, table_id))
            if t.type != want:
                raise SqlError('%s:%s.%s is a %s, not a %s; use DROP %s' % (
                    project, dataset, table_id, t.type.replace('_', ' ').lower(),
                    kind.lower(), t.type.replace('_', ' ')))
            store.delete_table(t)
        job.ddl = ('DROP', 'table', target)


class _Catalog:
    """What the translator sees of storage during one job (with BigQuery's not-found texts)."""

    def __init__(self, store, job):
        self.store = store
        self.job = job

    def lookup_table(self, project, dataset, table):
        store = self.store
        req = self.job.requested_location
        ds = store.get_dataset(project, dataset)
        where = req or 'US'
        if ds is None or (req and ds.location.lower() != req.lower()):
            raise SqlNotFound('Not found: Dataset %s:%s was not found in location %s'
                              % (project, dataset, where if ds is None or req else ds.location))
        t = store.get_table(project, dataset, table)
        if t is None:
            raise SqlNotFound('Not found: Table %s:%s.%s was not found in location %s'
                              % (project, dataset, table, req or ds.location))
        return t

    def eval_const(self, sql, params):
        return self.store.eval_const(sql, params)


class DmlOutcome:
    """What an UPDATE or DELETE job reports: numDmlAffectedRows and dmlStats."""
    __slots__ = ('affected', 'update', 'bytes_processed', 'bytes_billed')

    def __init__(self, affected, update, bytes_processed, bytes_billed):
        self.affected = affected
        self.update = update
        self.bytes_processed = bytes_processed
        self.bytes_billed = bytes_billed

    def fields(self):
        """The members a DML job's QueryResponse and statistics.query share."""
        return {'numDmlAffectedRows': str(self.affected),
                'dmlStats': {('updatedRowCount' if self.update else 'deletedRowCount'):
                             str(self.affected)},
                'totalBytesProcessed': str(self.bytes_processed),
                'totalBytesBilled': str(self.bytes_billed)}


def _check_bytes_billed(cfg, billed):
    """maximumBytesBilled, as for a query."""
    limit = cfg.get('maximumBytesBilled')
    if limit in (None, ''):
        return
    try:
        limit = int(limit)
    except (TypeError, ValueError):
        raise ApiError(400, 'INVALID_ARGUMENT', 'Invalid value for maximumBytesBilled: %s'
                       % limit, reason='invalid') from None
    if billed > limit:
        raise SqlError('Query exceeded limit for bytes billed: %d. %d or higher required.'
                       % (limit, billed), reason='bytesBilledLimitExceeded')


# ---------------------------------------------------------------------- parameters

def decode_parameters(cfg):
    """queryParameters -> (named {lower: (type, value)}, positional [(type, value)], mode)."""
    params = cfg.get('queryParameters') or []
    mode = cfg.get('parameterMode')
    if mode is not None:
        mode = str(mode).upper()
        if mode not in ('NAMED', 'POSITIONAL'):
            raise ApiError(400, 'INVALID_ARGUMENT', 'Invalid value for parameterMode: %s'
                           % cfg.get('parameterMode'), reason='invalid')
    if not isinstance(params, list):
        raise ApiError(400, 'INVALID_ARGUMENT', 'queryParameters must be a list',
                       reason='invalid')
    named = {}
    positional = []
    if params and mode is None:
        mode = 'NAMED' if params[0].get('name') else 'POSITIONAL'
    for p in params:
        if not isinstance(p, dict):
            raise ApiError(400, 'INVALID_ARGUMENT', 'Invalid query parameter',
                           reason='invalid')
        name = p.get('name')
        ptype = p.get('parameterType') or {}
        typ, value = _decode_param(name or '?', ptype, p.get('parameterValue'))
        if mode == 'NAMED':
            if not name:
                raise ApiError(400, 'INVALID_ARGUMENT', 'Named query parameters must have a '
                               'name when parameterMode is NAMED', reason='invalid')
            if name.lower() in named:
                raise ApiError(400, 'INVALID_ARGUMENT', 'Duplicate query parameter name: %s'
                               % name, reason='invalid')
            named[name.lower()] = (typ, value)
        else:
            if name:
                raise ApiError(400, 'INVALID_ARGUMENT', 'Positional query parameters cannot '
                               'have names', reason='invalid')
            positional.append((typ, value))
    return named, positional, mode


def _param_type(name, ptype):
    t = str(ptype.get('type') or '').upper()
    if t == 'ARRAY':
        inner = ptype.get('arrayType') or {}
        it = _param_type(name, inner)
        if T.is_array(it):
            raise ApiError(400, 'INVALID_ARGUMENT', 'Query parameter %s: arrays of arrays are '
                           'not allowed' % name, reason='invalid')
        return T.array_of(it)
    if t in ('STRUCT', 'RECORD', 'GEOGRAPHY', 'INTERVAL', 'RANGE'):
        raise ApiError(400, 'INVALID_ARGUMENT', 'Query parameter %s has type %s, which the '
                       'emulator does not support' % (name, t), reason='invalidQuery')
    base = T.SCHEMA_ALIASES.get(t)
    if base is None:
        raise ApiError(400, 'INVALID_ARGUMENT', 'Invalid query parameter type for %s: %s'
                       % (name, ptype.get('type')), reason='invalid')
    return base


def _decode_param(name, ptype, pvalue):
    typ = _param_type(name, ptype)
    pvalue = pvalue or {}
    if T.is_array(typ):
        et = T.array_elem(typ)
        vals = pvalue.get('arrayValues')
        if vals is None:
            return typ, []
        out = []
        for v in vals:
            x = (v or {}).get('value')
            out.append(None if x is None else _scalar_param(name, et, x))
        return typ, out
    x = pvalue.get('value')
    if x is None:
        return typ, None
    return typ, _scalar_param(name, typ, x)


def _scalar_param(name, typ, x):
    if typ != 'STRING' and not isinstance(x, str):
        x = json.dumps(x) if not isinstance(x, bool) else ('true' if x else 'false')
    try:
        if typ == 'STRING':
            if not isinstance(x, str):
                raise T.ValueError_('not a string')
            return x
        if typ == 'BOOL':
            s = x.strip().lower()
            if s not in ('true', 'false'):
                raise T.ValueError_('bad bool')
            return 1 if s == 'true' else 0
        if typ == 'JSON':
            return T.COERCE['JSON'](x)
        return T.coerce_param(typ, x)
    except T.ValueError_:
        raise ApiError(400, 'INVALID_ARGUMENT', 'Invalid value for query parameter %s of type '
                       '%s: %s' % (name, typ, x), reason='invalidQuery') from None


# ---------------------------------------------------------------------- DDL helpers

def _schema_name(parts, project, pos):
    if len(parts) == 1:
        return project, parts[0]
    if len(parts) == 2:
        return parts[0], parts[1]
    raise SqlError('Invalid schema name: %s' % '.'.join(parts), pos)


def _literal_options(opts, ctx):
    """OPTIONS(name = literal, …) -> {name: python value}."""
    out = {}
    for name, node in opts.items():
        if isinstance(node, N.Literal):
            v = node.value
            if node.type == 'BOOL':
                v = bool(v)
            out[name] = v
        elif isinstance(node, N.Unary) and node.op == '-' and isinstance(node.expr, N.Literal):
            out[name] = -node.expr.value
        elif isinstance(node, N.Interval):
            out[name] = 'INTERVAL'
        elif isinstance(node, N.ArrayLit):
            out[name] = [getattr(i, 'value', None) for i in node.items]
        else:
            raise SqlError('OPTIONS value for %s must be a literal' % name, node.pos)
    return out


def _reject_options(opts, pos, ignored):
    for name in ignored:
        opts.pop(name, None)
    if opts:
        raise unsupported('OPTIONS(%s)' % ', '.join(sorted(opts)), pos)


def _col_description(c, ctx):
    opts = _literal_options(c.options, ctx)
    d = opts.pop('description', None)
    _reject_options(opts, c.pos, ())
    return d


def _partition_column(expr, fields):
    """PARTITION BY expression -> the partitioning column name (DAY partitioning)."""
    if expr is None:
        return None
    by = {f['name'].lower(): f for f in fields}

    def col(node):
        if isinstance(node, N.Path) and len(node.parts) == 1:
            f = by.get(node.parts[0].lower())
            if f is None:
                raise SqlError('Unrecognized name: %s' % node.parts[0], node.pos)
            return f
        return None

    f = col(expr)
    if f is not None:
        if f['type'] != 'DATE':
            raise SqlError('PARTITION BY expression must be DATE(<timestamp_column>), '
                           'DATE(<datetime_column>), DATETIME_TRUNC(<datetime_column>, DAY/HOUR/'
                           'MONTH/YEAR), a DATE-type column, TIMESTAMP_TRUNC(<timestamp_column>, '
                           'DAY/HOUR/MONTH/YEAR), DATE_TRUNC(<date_column>, MONTH/YEAR), or '
                           '_PARTITIONDATE', expr.pos)
        return f['name']
    if isinstance(expr, N.Call):
        if expr.name == 'DATE' and len(expr.args) == 1:
            f = col(expr.args[0])
            if f is not None and f['type'] == 'TIMESTAMP':
                return f['name']
        if expr.name == 'TIMESTAMP_TRUNC' and len(expr.args) == 2 and \
                isinstance(expr.args[1], N.Path) and expr.args[1].parts[0].upper() == 'DAY':
            f = col(expr.args[0])
            if f is not None and f['type'] == 'TIMESTAMP':
                return f['name']
        if expr.name in ('TIMESTAMP_TRUNC', 'DATE_TRUNC', 'DATETIME_TRUNC', 'RANGE_BUCKET'):
            raise unsupported('PARTITION BY %s other than DAY on a TIMESTAMP or DATE column'
                              % expr.name, expr.pos)
    if isinstance(expr, N.Path) and expr.parts[0].upper() in ('_PARTITIONDATE',
                                                              '_PARTITIONTIME'):
        raise unsupported('Ingestion-time partitioning', expr.pos)
    raise SqlError('PARTITION BY expression must be DATE(<timestamp_column>), a DATE-type '
                   'column or TIMESTAMP_TRUNC(<timestamp_column>, DAY)', expr.pos)


def _now_ms():
    return int(time.time() * 1000)
