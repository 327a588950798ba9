"""The BigQuery Storage Read API (google.cloud.bigquery.storage.v1.BigQueryRead) over gRPC.

Owns read sessions and their streams, served from the BigQuery service's tables in the
same process:

* CreateReadSession: a session over one table ("projects/P/datasets/D/tables/T"), in
  Avro (ARROW is refused as unimplemented), with the selected columns and a row
  restriction (a GoogleSQL boolean expression, compiled by the emulator's own SQL
  engine as the WHERE of a query of the table). The table's rows are split into at
  most max_stream_count streams of contiguous rows (0 lets the server decide; an
  empty table gets no streams). The session is a snapshot: it reads the rows the
  table had when it was created, never those appended later (a stream is a rowid
  range bounded by the table's last rowid then). The session expires after 6 hours.
* ReadRows(read_stream, offset): the stream's rows from row `offset` (rows the
  restriction keeps, in table order) as AvroRows blocks of about 1 MB, each with its
  row count and progress; offset past the end is OUT_OF_RANGE. A reader whose stream
  broke resumes with the offset of the first row it did not get.
* SplitReadStream(name, fraction): two streams, the first `fraction` of the rows and
  the rest, back to back.
* The result of a query job: its destination table (the anonymous `_…` dataset's
  `anon…` table BigQuery reports in configuration.query.destinationTable) is read
  like a table, from the job's result rows.

Errors carry gRPC status codes with BigQuery's wording where known ("request failed:
…"). Faults: the port's CallGate (server.py) applies the injected faults of the
`bigquerystorage` service by method name (CreateReadSession, ReadRows,
SplitReadStream) before a call runs; a "lost" ReadRows answer breaks the stream after
its first block. The table labels ``emulator_read_breaks`` (N) and
``emulator_read_break_after`` (M, default 1) break the next N ReadRows calls on the
table with UNAVAILABLE after M responses, as a connection lost mid-stream would.
Session expiry follows the emulator's clock (core/clock.py), which tests can advance.
"""

import collections
import logging
import secrets
import threading
import time

import grpc

from emulator.core import clock
from emulator.bigquery.sql import nodes as N
from emulator.bigquery.sql.errors import SqlError
from emulator.bigquery.sql.parser import parse
from emulator.bigquery.sql.translate import QueryContext, compile_query
from emulator.bigquery import types as T

from . import avro
from . import read_messages as M

log = logging.getLogger('emulator.bigquerystorage.read')

SESSION_LIFETIME_S = 6 * 3600
MAX_STREAMS = 1000                  # BigQuery's limit on a session's streams
ROWS_PER_SERVER_STREAM = 100_000    # max_stream_count 0: one stream per this many rows
DEFAULT_MAX_STREAMS = 16
BLOCK_BYTES = 1 << 20               # aim of one ReadRowsResponse's rows (Google caps at 128 MB)
FIRST_BLOCK_ROWS = 1024
MAX_BLOCK_ROWS = 100_000
MAX_RESTRICTION_BYTES = 1 << 20
MAX_SESSIONS = 2000                 # the oldest sessions are forgotten past this
FORGET_AFTER_S = 24 * 3600          # an expired session is forgotten this long after
BLOCK_CACHE_BYTES = 256 << 20       # encoded blocks kept for repeated reads

class ReadError(Exception):
    """A call's failure: gRPC status code and message."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def _invalid(message):
    return ReadError(grpc.StatusCode.INVALID_ARGUMENT, message)


def _unimplemented(message):
    return ReadError(grpc.StatusCode.UNIMPLEMENTED, message)


class _Source:
    """What a session reads: a stored table (rows in SQLite) or a query job's result rows."""

    def __init__(self, table=None, job=None, ref=None):
        self.table = table
        self.job = job
        self.ref = ref                # (project, dataset, table) as named


class Session:
    def __init__(self, session_id, name, source, columns, location, skip, codec):
        self.id = session_id
        self.name = name
        self.source = source
        self.columns = columns        # [(name, internal type, mode)] of the rows sent
        self.schema = avro.schema_json(columns)
        # rows of a table come with their rowid first
        self.encoder = avro.row_encoder(columns, skip)
        self.location = location
        self.codec = codec            # response_compression_codec asked for
        self.created = clock.time()
        self.expires = self.created + SESSION_LIFETIME_S
        self.sql = None               # stored table: SELECT _rid, cols FROM (…) WHERE range
        self.params = None
        self.count_sql = None
        self.rows = None              # query result: the job's result rows (a snapshot)
        self.col_index = None         # query result: indexes of the selected columns
        self.restricted = False


class Stream:
    """A contiguous part of a session: rowids (lo, hi] of a table, or rows [lo, hi) of a
    query result."""

    def __init__(self, session, name, lo, hi, total=None):
        self.session = session
        self.name = name
        self.lo = lo
        self.hi = hi
        self.total = total            # rows the stream yields, once known


class _BlockCache:
    """Encoded blocks of recent reads, so that reading the same rows again (a benchmark's
    repeated scans, several readers of one table) costs neither SQL nor encoding. The key
    holds everything that decides a block's bytes, the table's version included (every
    insert and DML statement changes it); least recently used blocks go first."""

    def __init__(self, limit):
        self.limit = limit
        self.used = 0
        self.items = collections.OrderedDict()
        self.lock = threading.Lock()

    def get(self, key):
        with self.lock:
            hit = self.items.get(key)
            if hit is not None:
                self.items.move_to_end(key)
            return hit

    def put(self, key, value):
        size = len(value[0])
        if size > self.limit // 8:
            return
        with self.lock:
            if key in self.items:
                return
            self.items[key] = value
            self.used += size
            while self.used > self.limit:
                _, old = self.items.popitem(last=False)
                self.used -= len(old[0])


def _cache_key(*parts):
    """A hashable key, or None when a part cannot be one (a parameter holding a list)."""
    try:
        hash(parts)
    except TypeError:
        return None
    return parts


class _Catalog:
    """What the SQL compiler sees of storage: only the session's table."""

    def __init__(self, store, table):
        self.store = store
        self.table = table

    def lookup_table(self, project, dataset, table):
        return self.table

    def eval_const(self, sql, params):
        return self.store.eval_const(sql, params)


class ReadApi:
    """BigQueryRead's three methods over the BigQuery service's storage and jobs."""

    def __init__(self, storage_service):
        self.svc = storage_service
        self.counters = counters = storage_service.counters
        self.bq = None
        self.store = None
        self.lock = threading.Lock()
        self.sessions = {}            # session id -> Session, oldest first
        self.streams = {}             # stream name -> Stream
        self._breaks_done = {}        # (table key, breaks, after) -> ReadRows calls broken
        self.cache = _BlockCache(BLOCK_CACHE_BYTES)
        counters.declare('read_sessions', 'read_streams_created', 'read_rows_sent',
                         'read_bytes_sent', 'read_responses', 'read_streams_broken',
                         'read_blocks_cached')

    def attach(self, bigquery_service):
        self.bq = bigquery_service
        self.store = bigquery_service.store

    def _incr(self, name, n=1):
        self.counters.incr(name, n)

    # ------------------------------------------------------------------ CreateReadSession
    def create_read_session(self, request, context):
        action = self.svc.gate.enter(context, 'CreateReadSession')
        try:
            session = self._create(request)
        except ReadError as e:
            context.abort(e.code, e.message)
        if action == 'lost':
            self.svc.gate.lost(context)
        return session

    def _create(self, request):
        parent = request.parent
        if not parent:
            raise _invalid('Missing required field: parent')
        if not parent.startswith('projects/') or '/' in parent[len('projects/'):] or \
                parent == 'projects/':
            raise _invalid('Invalid resource field value in the request.')
        rs = request.read_session
        if not request.HasField('read_session'):
            raise _invalid('Missing required field: read_session')
        if request.max_stream_count < 0:
            raise _invalid('max_stream_count must be non-negative')
        if request.preferred_min_stream_count < 0:
            raise _invalid('preferred_min_stream_count must be non-negative')
        if rs.data_format == M.DATA_FORMAT_UNSPECIFIED:
            raise _invalid('request failed: data format unspecified')
        if rs.data_format == M.ARROW:
            raise _unimplemented('The emulator sends only AVRO: the ARROW data format is not '
                                 'supported')
        if rs.data_format != M.AVRO:
            raise _invalid('request failed: unknown data format %d' % rs.data_format)
        if rs.HasField('table_modifiers') and rs.table_modifiers.HasField('snapshot_time'):
            raise _unimplemented('table_modifiers.snapshot_time (time travel) is not supported '
                                 'by the emulator')
        opts = rs.read_options
        if opts.HasField('sample_percentage'):
            raise _unimplemented('read_options.sample_percentage is not supported by the '
                                 'emulator')
        if opts.HasField('arrow_serialization_options'):
            raise _invalid('request failed: arrow_serialization_options given for the AVRO '
                           'data format')
        restriction = opts.row_restriction
        if len(restriction.encode('utf-8')) > MAX_RESTRICTION_BYTES:
            raise _invalid('read_session.read_options.row_restriction exceeded maximum allowed '
                           'length. Maximum bytes allowed: %d' % MAX_RESTRICTION_BYTES)

        project, dataset, table_id = _table_path(rs.table)
        source = self._resolve(project, dataset, table_id)
        session_id = _new_id()
        location = (source.table.location if source.table is not None
                    else source.job.location or self.bq.location).lower()
        name = 'projects/%s/locations/%s/sessions/%s' % (parent[len('projects/'):], location,
                                                        session_id)
        if source.table is not None:
            session, row_ids, total_bytes = self._table_session(
                session_id, name, source, list(opts.selected_fields), restriction, location,
                opts.response_compression_codec)
            streams = self._split(session, row_ids, request.max_stream_count,
                                  request.preferred_min_stream_count)
            estimated_rows = len(row_ids)
        else:
            if restriction.strip():
                raise _unimplemented('A row_restriction on the result table of a query is not '
                                     'supported by the emulator')
            session, total_bytes = self._result_session(session_id, name, source,
                                                        list(opts.selected_fields), location,
                                                        opts.response_compression_codec)
            streams = self._split_range(session, len(session.rows), request.max_stream_count,
                                        request.preferred_min_stream_count)
            estimated_rows = len(session.rows)
        with self.lock:
            self._expire()
            self.sessions[session_id] = session
            for s in streams:
                self.streams[s.name] = s
        self._incr('read_sessions')
        self._incr('read_streams_created', len(streams))

        out = M.ReadSession(name=name, data_format=M.AVRO, table=rs.table,
                            estimated_total_bytes_scanned=total_bytes,
                            estimated_total_physical_file_size=total_bytes,
                            estimated_row_count=estimated_rows, trace_id=rs.trace_id)
        out.expire_time.FromSeconds(int(session.expires))
        out.avro_schema.schema = session.schema
        out.read_options.CopyFrom(opts)
        for s in streams:
            out.streams.add(name=s.name)
        return out

    def _resolve(self, project, dataset, table_id):
        t = self.store.get_table(project, dataset, table_id)
        if t is None:
            job = self.bq.jobs.destination_job(project, dataset, table_id)
            if job is not None:
                return _Source(job=job, ref=(project, dataset, table_id))
            raise ReadError(grpc.StatusCode.NOT_FOUND, 'Not found: Table %s:%s.%s'
                            % (project, dataset, table_id))
        if t.type != 'TABLE':
            # BigQuery's Read API reads tables only: neither views nor materialized views
            raise _invalid('request failed: non-table entities cannot be read with the storage '
                           'API (%s:%s.%s is a %s)' % (project, dataset, table_id,
                                                       t.type.replace('_', ' ').lower()))
        return _Source(table=t, ref=(project, dataset, table_id))

    def _selected(self, fields, selected):
        """Indexes of the selected fields (table order, each once); all without a list."""
        if not selected:
            return list(range(len(fields)))
        by = {name.lower(): i for i, name in enumerate(fields)}
        wanted = set()
        missing = []
        for name in selected:
            if '.' in name and name.split('.', 1)[0].lower() in by:
                raise _unimplemented('Selecting a field inside a RECORD (%s) is not supported '
                                     'by the emulator; select the whole RECORD' % name)
            i = by.get(name.lower())
            if i is None:
                missing.append(name)
            else:
                wanted.add(i)
        if missing:
            raise _invalid('request failed: The following selected fields do not exist in the '
                           'table schema: %s' % ', '.join(missing))
        return sorted(wanted)

    def _table_session(self, session_id, name, source, selected, restriction, location, codec):
        t = source.table
        idx = self._selected([f.name for f in t.fields], selected)
        columns = [(t.fields[i].name, t.fields[i].type, t.fields[i].mode) for i in idx]
        try:
            session = Session(session_id, name, source, columns, location, 1, codec)
        except avro.AvroUnsupported as e:
            raise _unimplemented(str(e)) from None
        where = None
        if restriction.strip():
            where = _parse_restriction(restriction, t)
            session.restricted = True
        project, dataset, table_id = source.ref
        select = N.Select(False, [N.SelectItem(N.Path([t.fields[i].name], pos=(1, 1)), None,
                                               None, [], [], pos=(1, 1)) for i in idx]
                          or [N.SelectItem(N.Literal('BOOL', 1, pos=(1, 1)), None, None, [], [],
                                           pos=(1, 1))],
                          N.TableRef([project, dataset, table_id], None, None, pos=(1, 1)),
                          where, [], None, [], None, None, None, pos=(1, 1))
        ctx = QueryContext(_Catalog(self.store, t), project, now_us=int(clock.time() * 1e6))
        with self.store.lock:
            if getattr(t, 'deleted', False):
                raise ReadError(grpc.StatusCode.NOT_FOUND, 'Not found: Table %s:%s.%s'
                                % source.ref)
            try:
                comp = compile_query(select, ctx)
            except SqlError as e:
                raise _invalid('request failed: Query error: %s' % _restriction_message(e)) \
                    from None
            scan = ctx.scans[0]
            if t.require_partition_filter and not scan.pruned:
                raise _invalid("request failed: Query error: Cannot query over table '%s.%s.%s' "
                               "without a filter over column(s) '%s' that can be used for "
                               "partition elimination" % (project, dataset, table_id,
                                                           t.partition_field))
            # the snapshot: the rows the table has now. Without gaps (no row deleted) the
            # rowids are first..last and need not be listed.
            count, first, last = self.store.conn.execute(
                'SELECT count(*), min(rowid), max(rowid) FROM "%s"' % t.sqlite_name).fetchone()
            if count and last - first + 1 == count:
                row_ids = range(first, last + 1)
            else:
                row_ids = [r[0] for r in self.store.conn.execute(
                    'SELECT rowid FROM "%s" ORDER BY rowid' % t.sqlite_name)]
            total_bytes = self.store.scan_bytes(scan)
        alias = 's1'
        inner = 'SELECT %s.rowid AS _rid, %s' % (alias, comp.sql[len('SELECT '):])
        if not comp.sql.startswith('SELECT ') or ' FROM "%s" AS %s' % (t.sqlite_name, alias) \
                not in comp.sql:
            raise ReadError(grpc.StatusCode.INTERNAL, 'request failed: unexpected read plan')
        session.sql = ('SELECT * FROM (%s) WHERE _rid > ? AND _rid <= ? ORDER BY _rid LIMIT ?'
                       % inner)
        session.count_sql = 'SELECT count(*) FROM (%s) WHERE _rid > ? AND _rid <= ?' % inner
        session.params = list(comp.params)
        return session, row_ids, total_bytes

    def _result_session(self, session_id, name, source, selected, location, codec):
        job = source.job
        r = job.result
        rows = r.rows
        if rows is None:                     # evicted from memory: materialize again
            rows = self.bq.jobs.rerun(job)
        names = [c[0] for c in r.columns]
        idx = self._selected(names, selected)
        columns = [(r.columns[i][0], r.columns[i][1], 'NULLABLE') for i in idx]
        try:
            session = Session(session_id, name, source, columns, location, 0, codec)
        except avro.AvroUnsupported as e:
            raise _unimplemented(str(e)) from None
        session.rows = rows
        session.col_index = idx if idx != list(range(len(names))) else None
        # logical bytes of the selected columns, estimated from a sample of the rows
        sizes = [T.size_function('INT64' if c[1] == 'NULL' else c[1]) for c in r.columns]
        sample = rows[:1000]
        per_row = 0.0
        if sample:
            for i in idx:
                size = sizes[i]
                vals = [row[i] for row in sample if row[i] is not None]
                per_row += (size * len(vals) if isinstance(size, int)
                            else sum(size(v) for v in vals)) / float(len(sample))
        return session, int(per_row * len(rows))

    # ------------------------------------------------------------------ splitting
    def _stream_count(self, nrows, max_streams, preferred_min):
        if nrows == 0:
            return 0
        if max_streams == 0:
            n = min(DEFAULT_MAX_STREAMS, -(-nrows // ROWS_PER_SERVER_STREAM))
        else:
            n = max_streams
        if preferred_min:
            n = max(n, preferred_min) if max_streams == 0 else max(n, min(preferred_min,
                                                                          max_streams))
        return max(1, min(n, nrows, MAX_STREAMS))

    def _split(self, session, row_ids, max_streams, preferred_min):
        n = self._stream_count(len(row_ids), max_streams, preferred_min)
        streams = []
        lo = 0
        for k in range(n):
            end = (k + 1) * len(row_ids) // n
            hi = row_ids[end - 1]
            total = None if session.restricted else end - (k * len(row_ids) // n)
            streams.append(Stream(session, '%s/streams/%s' % (session.name, _new_id()),
                                  lo, hi, total))
            lo = hi
        return streams

    def _split_range(self, session, nrows, max_streams, preferred_min):
        n = self._stream_count(nrows, max_streams, preferred_min)
        streams = []
        for k in range(n):
            lo, hi = k * nrows // n, (k + 1) * nrows // n
            streams.append(Stream(session, '%s/streams/%s' % (session.name, _new_id()),
                                  lo, hi, hi - lo))
        return streams

    def _expire(self):
        """Forget sessions expired for a while (until then their streams answer that they
        expired) and the oldest past MAX_SESSIONS. Called with the lock held."""
        now = clock.time()
        while self.sessions:
            sid, s = next(iter(self.sessions.items()))
            if s.expires + FORGET_AFTER_S > now and len(self.sessions) < MAX_SESSIONS:
                break
            del self.sessions[sid]
            for name in [n for n, st in self.streams.items() if st.session is s]:
                del self.streams[name]

    def _stream(self, name):
        if not name:
            raise _invalid('Missing required field: read_stream')
        with self.lock:
            st = self.streams.get(name)
        if st is None:
            if not _is_stream_name(name):
                raise _invalid('Invalid resource field value in the request.')
            raise ReadError(grpc.StatusCode.NOT_FOUND, 'request failed: the read stream %s '
                            'does not exist (or its session expired)' % name)
        if st.session.expires <= clock.time():
            raise ReadError(grpc.StatusCode.FAILED_PRECONDITION,
                            'request failed: the read session of %s expired at %s'
                            % (name, time.strftime('%Y-%m-%dT%H:%M:%SZ',
                                                   time.gmtime(st.session.expires))))
        return st

    # ------------------------------------------------------------------ ReadRows
    def read_rows(self, request, context):
        action = self.svc.gate.enter(context, 'ReadRows')
        try:
            st = self._stream(request.read_stream)
            if request.offset < 0:
                raise _invalid('request failed: offset must be non-negative, got %d'
                               % request.offset)
            breaks = self._break_plan(st)
            if action == 'lost':         # the answer is lost after the first block
                breaks = 1
                self.counters.incr('faults_lost')
            blocks = (self._table_blocks(st, request.offset) if st.session.rows is None
                      else self._result_blocks(st, request.offset))
            sent = 0
            for response in blocks:
                if breaks is not None and sent >= breaks:
                    self._incr('read_streams_broken')
                    raise ReadError(grpc.StatusCode.UNAVAILABLE,
                                    'Connection closed by the server mid-stream (emulator '
                                    'fault injection)')
                sent += 1
                self._incr('read_responses')
                self._incr('read_rows_sent', response.row_count)
                self._incr('read_bytes_sent', len(response.avro_rows.serialized_binary_rows))
                yield response
        except ReadError as e:
            context.abort(e.code, e.message)

    def _break_plan(self, st):
        """Responses to send before breaking this call, from the table's fault labels; None
        when the call is not to be broken."""
        t = st.session.source.table
        if t is None:
            return None
        labels = t.extra.get('labels') or {}
        if 'emulator_read_breaks' not in labels:
            return None
        try:
            breaks = int(labels['emulator_read_breaks'])
            after = int(labels.get('emulator_read_break_after', '1'))
            if breaks < 0 or after < 0:
                raise ValueError
        except ValueError:
            raise _invalid('Labels emulator_read_breaks and emulator_read_break_after must be '
                           'non-negative integers') from None
        key = (t.key, breaks, after)
        with self.lock:
            done = self._breaks_done.get(key, 0)
            if done >= breaks:
                return None
            self._breaks_done[key] = done + 1
        return after

    def _response(self, st, data, nrows, before, total, first):
        resp = M.ReadRowsResponse(row_count=nrows)
        resp.avro_rows.serialized_binary_rows = data
        resp.avro_rows.row_count = nrows
        if total:
            resp.stats.progress.at_response_start = before / float(total)
            resp.stats.progress.at_response_end = (before + nrows) / float(total)
        resp.throttle_state.throttle_percent = 0
        if first:
            resp.avro_schema.schema = st.session.schema
        if st.session.codec:
            # rows go uncompressed, which the field's -1 says ("compression would not have
            # reduced the size"): a reader that asked for LZ4 must accept that
            resp.uncompressed_byte_size = -1
        return resp

    def _table_total(self, st):
        s = st.session
        if st.total is None:
            with self.store.lock:
                self._check_table(s)
                st.total = self.store.conn.execute(
                    s.count_sql, s.params + [st.lo, st.hi]).fetchone()[0]
        return st.total

    def _check_table(self, s):
        t = s.source.table
        if getattr(t, 'deleted', False):
            raise ReadError(grpc.StatusCode.NOT_FOUND, 'Not found: Table %s:%s.%s'
                            % s.source.ref)

    def _table_blocks(self, st, offset):
        s = st.session
        total = self._table_total(st)
        if offset > total:
            raise ReadError(grpc.StatusCode.OUT_OF_RANGE,
                            'request failed: offset %d is beyond the end of the stream (%d rows)'
                            % (offset, total))
        cursor = st.lo
        if offset:
            with self.store.lock:
                self._check_table(s)
                row = self.store.conn.execute(
                    'SELECT _rid FROM (%s) LIMIT 1 OFFSET ?' % s.sql,
                    s.params + [st.lo, st.hi, offset, offset - 1]).fetchone()
            cursor = row[0] if row is not None else st.hi
        done = offset
        nrows = FIRST_BLOCK_ROWS
        first = True
        encode = s.encoder
        t = s.source.table
        params = tuple(s.params)
        while done < total:
            key = _cache_key(t.key, t.version, s.sql, params, cursor, st.hi, nrows)
            hit = self.cache.get(key) if key is not None else None
            if hit is not None:
                self._check_table(s)
                data, got, cursor = hit
                self._incr('read_blocks_cached')
            else:
                with self.store.lock:
                    self._check_table(s)
                    key = _cache_key(t.key, t.version, s.sql, params, cursor, st.hi, nrows)
                    rows = self.store.conn.execute(s.sql, s.params + [cursor, st.hi,
                                                                      nrows]).fetchall()
                if not rows:
                    break
                cursor = rows[-1][0]
                data = encode(rows)
                got = len(rows)
                if key is not None:
                    self.cache.put(key, (data, got, cursor))
            yield self._response(st, data, got, done, total, first)
            first = False
            done += got
            nrows = _next_block_rows(nrows, got, len(data))

    def _result_blocks(self, st, offset):
        s = st.session
        total = st.hi - st.lo
        if offset > total:
            raise ReadError(grpc.StatusCode.OUT_OF_RANGE,
                            'request failed: offset %d is beyond the end of the stream (%d rows)'
                            % (offset, total))
        pos = st.lo + offset
        nrows = FIRST_BLOCK_ROWS
        first = True
        idx = s.col_index
        job = s.source.job
        while pos < st.hi:
            end = min(st.hi, pos + nrows)
            key = ('job', job.project, job.job_id, idx and tuple(idx), pos, end)
            hit = self.cache.get(key)
            if hit is not None:
                data, got, _ = hit
                self._incr('read_blocks_cached')
            else:
                chunk = s.rows[pos:end]
                if idx is not None:
                    chunk = [tuple(r[i] for i in idx) for r in chunk]
                data = s.encoder(chunk)
                got = len(chunk)
                self.cache.put(key, (data, got, None))
            yield self._response(st, data, got, pos - st.lo, total, first)
            first = False
            pos += got
            nrows = _next_block_rows(nrows, got, len(data))

    # ------------------------------------------------------------------ SplitReadStream
    def split_read_stream(self, request, context):
        self.svc.gate.enter(context, 'SplitReadStream')
        try:
            return self._split_stream(request)
        except ReadError as e:
            context.abort(e.code, e.message)

    def _split_stream(self, request):
        st = self._stream(request.name)
        fraction = request.fraction
        if fraction == 0:
            fraction = 0.5
        if not 0 < fraction < 1:
            raise _invalid('request failed: fraction must be between 0 and 1, got %s' % fraction)
        s = st.session
        out = M.SplitReadStreamResponse()
        if s.rows is not None:
            n = st.hi - st.lo
            cut = st.lo + int(n * fraction)
            if cut <= st.lo or cut >= st.hi:
                return out            # too small to split: no streams, as BigQuery answers
            primary = Stream(s, '%s/streams/%s' % (s.name, _new_id()), st.lo, cut, cut - st.lo)
            rest = Stream(s, '%s/streams/%s' % (s.name, _new_id()), cut, st.hi, st.hi - cut)
        else:
            with self.store.lock:
                self._check_table(s)
                ids = [r[0] for r in self.store.conn.execute(
                    'SELECT rowid FROM "%s" WHERE rowid > ? AND rowid <= ? ORDER BY rowid'
                    % s.source.table.sqlite_name, (st.lo, st.hi))]
            k = int(len(ids) * fraction)
            if k <= 0 or k >= len(ids):
                return out
            cut = ids[k - 1]
            primary = Stream(s, '%s/streams/%s' % (s.name, _new_id()), st.lo, cut,
                             None if s.restricted else k)
            rest = Stream(s, '%s/streams/%s' % (s.name, _new_id()), cut, st.hi,
                          None if s.restricted else len(ids) - k)
        with self.lock:
            self.streams[primary.name] = primary
            self.streams[rest.name] = rest
        out.primary_stream.name = primary.name
        out.remainder_stream.name = rest.name
        return out


# ---------------------------------------------------------------------- helpers

def _next_block_rows(asked, got, nbytes):
    """Rows to ask for next so that a block holds about BLOCK_BYTES."""
    if got < asked or got == 0:
        return asked
    per_row = max(1.0, nbytes / float(got))
    return max(1, min(MAX_BLOCK_ROWS, int(BLOCK_BYTES / per_row)))


def _new_id():
    return secrets.token_urlsafe(18).replace('-', 'A').replace('_', 'B')


def _table_path(path):
    parts = path.split('/')
    if len(parts) != 6 or parts[0] != 'projects' or parts[2] != 'datasets' or \
            parts[4] != 'tables' or not all(parts[1::2]):
        if not path:
            raise _invalid('Missing required field: read_session.table')
        raise _invalid('Invalid resource field value in the request.')
    return parts[1], parts[3], parts[5]


def _is_stream_name(name):
    parts = name.split('/')
    return (len(parts) == 8 and parts[0] == 'projects' and parts[2] == 'locations' and
            parts[4] == 'sessions' and parts[6] == 'streams' and all(parts[1::2]))


_RESTRICTION_PREFIX = 'SELECT * FROM t WHERE\n'


def _parse_restriction(text, table):
    """A row restriction -> the WHERE expression node (positions relative to the text)."""
    try:
        node = parse(_RESTRICTION_PREFIX + text)
    except SqlError as e:
        raise _invalid('request failed: Query error: %s' % _restriction_message(e)) from None
    if not isinstance(node, N.Select) or node.where is None or node.group_by or \
            node.having is not None or node.order_by or node.limit is not None or \
            node.offset is not None or not isinstance(node.from_, N.TableRef):
        raise _invalid('request failed: Query error: the row restriction must be a boolean '
                       'expression over the columns of %s' % table.table_id)
    return node.where


def _restriction_message(e):
    """The engine's message with positions made relative to the restriction text."""
    msg = e.message
    if e.pos is not None and e.pos[0] >= 2:
        msg = msg.replace(' at [%d:%d]' % e.pos, ' at [%d:%d]' % (e.pos[0] - 1, e.pos[1]))
    return msg


def register(server, storage_service):
    """Serve BigQueryRead on the service's grpc.Server; the BigQuery service's tables
    come with attach(). Returns the ReadApi."""
    svc = ReadApi(storage_service)
    handlers = {
        'CreateReadSession': grpc.unary_unary_rpc_method_handler(
            svc.create_read_session,
            request_deserializer=M.CreateReadSessionRequest.FromString,
            response_serializer=M.ReadSession.SerializeToString),
        'ReadRows': grpc.unary_stream_rpc_method_handler(
            svc.read_rows,
            request_deserializer=M.ReadRowsRequest.FromString,
            response_serializer=M.ReadRowsResponse.SerializeToString),
        'SplitReadStream': grpc.unary_unary_rpc_method_handler(
            svc.split_read_stream,
            request_deserializer=M.SplitReadStreamRequest.FromString,
            response_serializer=M.SplitReadStreamResponse.SerializeToString),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(M.SERVICE,
                                                                          handlers),))
    return svc
