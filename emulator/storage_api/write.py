"""The Storage Write API (google.cloud.bigquery.storage.v1.BigQueryWrite).

Owns write streams and their semantics, as Google documents them:
- COMMITTED streams: an appended row is in the table at once; PENDING: rows
  wait in the stream until FinalizeWriteStream and then
  BatchCommitWriteStreams (atomic over the streams listed; a stream not
  finalized, already committed or unknown fails the whole commit, reported
  in `stream_errors`); BUFFERED: rows wait until FlushRows up to an offset;
  `_default`: exists for every table, committed semantics, no offsets.
- Offsets: an append at the stream's end appends; below the end answers
  ALREADY_EXISTS, beyond it OUT_OF_RANGE, both in the AppendRowsResponse's
  `error` with the connection left open. A finalized stream refuses
  appends. The first request of a connection must carry the writer schema.
- Rows are decoded with that schema (rows.py) and checked by the BigQuery
  service's insertAll Validator; rows that do not fit are answered in
  `row_errors` and nothing of that request is appended.
- Uncommitted data of PENDING and BUFFERED streams expires 24 h after the
  stream was created (the emulator's clock, core/clock.py): the stream is
  then gone (NOT_FOUND).

Storage: rows go into the BigQuery service's table storage with its own
insert path (bigquery/storage.py Store.insert), in the same SQLite
transaction as the stream's new offset, so a client that lost an answer
finds the offset where its rows are. Streams and the rows waiting in them
are SQLite tables of the same database, so --data-dir persists them and a
restarted emulator keeps every stream's offset and state.
"""

import logging
import pickle
import re
import secrets

import grpc

from ..bigquery import types as T
from ..core import clock
from . import messages as M
from .rows import RowDecoder, RowValueError, SchemaError, validate_rows

log = logging.getLogger("emulator.storage.write")

SERVICE = "google.cloud.bigquery.storage.v1.BigQueryWrite"

COMMITTED = M.WriteStream.Type.Value("COMMITTED")
PENDING = M.WriteStream.Type.Value("PENDING")
BUFFERED = M.WriteStream.Type.Value("BUFFERED")
TYPE_NAMES = {COMMITTED: "COMMITTED", PENDING: "PENDING", BUFFERED: "BUFFERED"}

SE = M.StorageError.StorageErrorCode
FULL_VIEW = M.WriteStreamView.Value("FULL")

MAX_APPEND_BYTES = 10 * 1024 * 1024       # AppendRows request size limit
UNCOMMITTED_TTL_MS = 24 * 3600 * 1000     # life of data not committed/flushed
DEFAULT_STREAM = "_default"

_TABLE_RE = re.compile(r"^projects/([^/]+)/datasets/([^/]+)/tables/([^/]+)$")
_STREAM_RE = re.compile(r"^(projects/[^/]+/datasets/[^/]+/tables/[^/]+)/streams/([^/]+)$")

_BQ_TYPES = {"INT64": "INT64", "FLOAT64": "DOUBLE", "BOOL": "BOOL", "STRING": "STRING",
             "BYTES": "BYTES", "NUMERIC": "NUMERIC", "BIGNUMERIC": "BIGNUMERIC",
             "TIMESTAMP": "TIMESTAMP", "DATE": "DATE", "TIME": "TIME", "DATETIME": "DATETIME",
             "JSON": "JSON", "GEOGRAPHY": "GEOGRAPHY", "INTERVAL": "INTERVAL"}


class _Abort(Exception):
    """An error ending the call (a gRPC status), with an optional StorageError."""

    def __init__(self, code, message, storage_code=None, entity=""):
        super().__init__(message)
        self.code = code
        self.message = message
        self.storage_code = storage_code
        self.entity = entity


def _status(code, message, storage_code=None, entity=""):
    """A google.rpc.Status (code as the gRPC number) with a StorageError detail."""
    st = M.Status(code=code.value[0], message=message)
    if storage_code is not None:
        st.details.add().Pack(M.StorageError(code=storage_code, entity=entity, error_message=message))
    return st


def _abort(context, e):
    if e.storage_code is not None:
        st = _status(e.code, e.message, e.storage_code, e.entity)
        context.set_trailing_metadata((("grpc-status-details-bin", st.SerializeToString()),))
    context.abort(e.code, e.message)


class Stream:
    __slots__ = ("name", "tid", "type", "state", "row_count", "flushed", "create_ms",
                 "finalize_ms", "commit_ms")

    def __init__(self, name, tid, type_, state, row_count, flushed, create_ms, finalize_ms, commit_ms):
        self.name = name
        self.tid = tid
        self.type = type_
        self.state = state              # OPEN, FINALIZED or COMMITTED
        self.row_count = row_count      # the stream's end: the next offset
        self.flushed = flushed          # BUFFERED: rows [0, flushed) are in the table
        self.create_ms = create_ms
        self.finalize_ms = finalize_ms
        self.commit_ms = commit_ms


def _ts(msg, ms):
    msg.seconds, rem = divmod(int(ms), 1000)
    msg.nanos = rem * 1000000


class WriteApi:
    def __init__(self, storage_service):
        self.svc = storage_service
        self.counters = storage_service.counters
        self.counters.declare("write_streams_created", "appends", "rows_appended", "append_errors",
                              "streams_finalized", "streams_committed", "rows_committed",
                              "rows_flushed", "streams_expired")
        self.streams = {}
        self._bq = None

    # ------------------------------------------------------------------ state
    def attach(self, bigquery_service):
        self._bq = bigquery_service
        store = bigquery_service.store
        with store.lock:
            store.conn.executescript("""
                CREATE TABLE IF NOT EXISTS bq_write_streams (
                    name TEXT PRIMARY KEY, tid INTEGER NOT NULL, type INTEGER NOT NULL,
                    state TEXT NOT NULL, row_count INTEGER NOT NULL, flushed INTEGER NOT NULL,
                    create_ms INTEGER NOT NULL, finalize_ms INTEGER, commit_ms INTEGER);
                CREATE TABLE IF NOT EXISTS bq_stream_rows (
                    name TEXT NOT NULL, first_offset INTEGER NOT NULL, nrows INTEGER NOT NULL,
                    data BLOB NOT NULL, PRIMARY KEY (name, first_offset)) WITHOUT ROWID;
            """)
            for row in store.conn.execute(
                    "SELECT name, tid, type, state, row_count, flushed, create_ms, finalize_ms, "
                    "commit_ms FROM bq_write_streams"):
                self.streams[row[0]] = Stream(*row)

    @property
    def store(self):
        return self._bq.store

    def _save_sql(self, s):
        return ("INSERT OR REPLACE INTO bq_write_streams VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (s.name, s.tid, s.type, s.state, s.row_count, s.flushed, s.create_ms,
                 s.finalize_ms, s.commit_ms))

    def _exec(self, stmts):
        """Run statements in one transaction (the store's lock held by the caller)."""
        conn = self.store.conn
        conn.execute("BEGIN")
        try:
            for sql, params in stmts:
                conn.execute(sql, params)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _table(self, parent):
        m = _TABLE_RE.match(parent or "")
        if m is None:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT,
                         "Invalid table name: %r; expected projects/{project}/datasets/{dataset}/tables/{table}"
                         % (parent or ""))
        t = self.store.get_table(*m.groups())
        if t is None:
            raise _Abort(grpc.StatusCode.NOT_FOUND,
                         "Requested entity was not found. Entity: %s" % parent,
                         SE.Value("TABLE_NOT_FOUND"), parent)
        if t.type != "TABLE":
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT,
                         "Cannot write to %s %s: the Storage Write API writes to tables"
                         % (t.type.lower().replace("_", " "), parent))
        return t

    def _expire(self, s, now_ms):
        """Drop a PENDING or BUFFERED stream whose uncommitted data outlived its
        24 hours. True when it is gone. Store lock held."""
        if s.type == COMMITTED or s.state == "COMMITTED" or now_ms - s.create_ms < UNCOMMITTED_TTL_MS:
            return False
        self._exec([("DELETE FROM bq_write_streams WHERE name = ?", (s.name,)),
                     ("DELETE FROM bq_stream_rows WHERE name = ?", (s.name,))])
        self.streams.pop(s.name, None)
        self.counters.incr("streams_expired")
        log.info("write stream %s expired with its uncommitted rows", s.name)
        return True

    def _stream(self, name):
        """-> (Stream or None for _default, table). Store lock held."""
        m = _STREAM_RE.match(name or "")
        if m is None:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT,
                         "Invalid stream name: %r; expected "
                         "projects/{project}/datasets/{dataset}/tables/{table}/streams/{stream}" % (name or ""))
        table_name, sid = m.groups()
        if sid == DEFAULT_STREAM:
            return None, self._table(table_name)
        s = self.streams.get(name)
        if s is not None and self._expire(s, int(clock.time() * 1000)):
            s = None
        t = self.store.by_key.get(s.tid) if s is not None else None
        if s is None or t is None or getattr(t, "deleted", False):
            raise _Abort(grpc.StatusCode.NOT_FOUND,
                         "Requested entity was not found. Entity: %s" % name,
                         SE.Value("STREAM_NOT_FOUND"), name)
        return s, t

    # ------------------------------------------------------------------ resources
    def _resource(self, s, t, name, with_schema):
        ws = M.WriteStream(name=name, type=s.type if s else COMMITTED,
                           write_mode=M.WriteStream.WriteMode.Value("INSERT"), location=t.location)
        _ts(ws.create_time, s.create_ms if s else t.creation_ms)
        if s is not None and s.commit_ms is not None:
            _ts(ws.commit_time, s.commit_ms)
        if with_schema:
            _fill_schema(ws.table_schema, [(f.name, f.type, f.mode) for f in t.fields])
        return ws

    # ------------------------------------------------------------------ handlers
    def create_write_stream(self, request, context):
        self.svc.gate.enter(context, "CreateWriteStream")
        try:
            with self.store.lock:
                t = self._table(request.parent)
                typ = request.write_stream.type
                if typ not in TYPE_NAMES:
                    raise _Abort(grpc.StatusCode.INVALID_ARGUMENT,
                                 "Write stream type must be COMMITTED, PENDING or BUFFERED")
                name = "%s/streams/%s" % (request.parent, _stream_id())
                now_ms = int(clock.time() * 1000)
                s = Stream(name, t.key, typ, "OPEN", 0, 0, now_ms, None, None)
                self._exec([self._save_sql(s)])
                self.streams[name] = s
                self.counters.incr("write_streams_created")
                return self._resource(s, t, name, True)
        except _Abort as e:
            _abort(context, e)

    def get_write_stream(self, request, context):
        self.svc.gate.enter(context, "GetWriteStream")
        try:
            with self.store.lock:
                s, t = self._stream(request.name)
                return self._resource(s, t, request.name, request.view == FULL_VIEW)
        except _Abort as e:
            _abort(context, e)

    def finalize_write_stream(self, request, context):
        action = self.svc.gate.enter(context, "FinalizeWriteStream")
        try:
            with self.store.lock:
                s, t = self._stream(request.name)
                if s is None:
                    raise _Abort(grpc.StatusCode.INVALID_ARGUMENT,
                                 "Cannot finalize the default stream %s" % request.name,
                                 SE.Value("INVALID_STREAM_TYPE"), request.name)
                if s.state == "OPEN":
                    s.state = "FINALIZED"
                    s.finalize_ms = int(clock.time() * 1000)
                    self._exec([self._save_sql(s)])
                    self.counters.incr("streams_finalized")
                resp = M.FinalizeWriteStreamResponse(row_count=s.row_count)
        except _Abort as e:
            _abort(context, e)
        if action == "lost":
            self.svc.gate.lost(context)
        return resp

    def batch_commit_write_streams(self, request, context):
        action = self.svc.gate.enter(context, "BatchCommitWriteStreams")
        try:
            with self.store.lock:
                t = self._table(request.parent)
                if not request.write_streams:
                    raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "No write streams to commit.")
                resp = M.BatchCommitWriteStreamsResponse()
                todo = []
                for name in dict.fromkeys(request.write_streams):
                    err = self._commit_check(name, request.parent, t)
                    if err is not None:
                        resp.stream_errors.add(code=err[0], entity=name, error_message=err[1])
                    else:
                        todo.append(self.streams[name])
                if not resp.stream_errors:
                    now_ms = int(clock.time() * 1000)
                    self._commit(t, todo, now_ms)
                    _ts(resp.commit_time, now_ms)
        except _Abort as e:
            _abort(context, e)
        if action == "lost":
            self.svc.gate.lost(context)
        return resp

    def _commit_check(self, name, parent, t):
        if not name.startswith(parent + "/streams/"):
            return SE.Value("STREAM_NOT_FOUND"), "Stream %s is not a stream of table %s" % (name, parent)
        try:
            s, _ = self._stream(name)
        except _Abort as e:
            return e.storage_code or SE.Value("STREAM_NOT_FOUND"), e.message
        if s is None or s.type != PENDING:
            return SE.Value("INVALID_STREAM_TYPE"), "Stream %s is not a PENDING stream" % name
        if s.state == "COMMITTED":
            return SE.Value("STREAM_ALREADY_COMMITTED"), "Stream %s is already committed" % name
        if s.state != "FINALIZED":
            return SE.Value("INVALID_STREAM_STATE"), "Stream %s is not finalized" % name
        return None

    def _commit(self, t, streams, now_ms):
        rows, parts, sizes = [], [], []
        extra = []
        for s in streams:
            for (data,) in self.store.conn.execute(
                    "SELECT data FROM bq_stream_rows WHERE name = ? ORDER BY first_offset", (s.name,)):
                r, p, z = pickle.loads(data)
                rows += r
                parts += p
                sizes += z
            s.state = "COMMITTED"
            s.commit_ms = now_ms
            extra.append(self._save_sql(s))
            extra.append(("DELETE FROM bq_stream_rows WHERE name = ?", (s.name,)))
        try:
            self.store.insert(t, rows, parts, sizes, [], now_ms, extra_sql=extra,
                              streaming_buffer=False)
        except BaseException:
            for s in streams:
                s.state, s.commit_ms = "FINALIZED", None
            raise
        self.counters.incr("streams_committed", len(streams))
        self.counters.incr("rows_committed", len(rows))

    def flush_rows(self, request, context):
        action = self.svc.gate.enter(context, "FlushRows")
        try:
            with self.store.lock:
                s, t = self._stream(request.write_stream)
                if s is None or s.type != BUFFERED:
                    raise _Abort(grpc.StatusCode.INVALID_ARGUMENT,
                                 "FlushRows is for BUFFERED streams; %s is not one" % request.write_stream,
                                 SE.Value("INVALID_STREAM_TYPE"), request.write_stream)
                upto = request.offset.value if request.HasField("offset") else s.row_count - 1
                if upto < 0 or upto >= s.row_count:
                    raise _Abort(grpc.StatusCode.OUT_OF_RANGE,
                                 "Flush offset %d is beyond the stream's end (%d rows)" % (upto, s.row_count),
                                 SE.Value("OFFSET_OUT_OF_RANGE"), request.write_stream)
                if upto >= s.flushed:
                    self._flush(s, t, upto + 1)
                resp = M.FlushRowsResponse(offset=upto)
        except _Abort as e:
            _abort(context, e)
        if action == "lost":
            self.svc.gate.lost(context)
        return resp

    def _flush(self, s, t, end):
        rows, parts, sizes = [], [], []
        extra = []
        for first, nrows, data in self.store.conn.execute(
                "SELECT first_offset, nrows, data FROM bq_stream_rows WHERE name = ? AND first_offset < ? "
                "ORDER BY first_offset", (s.name, end)).fetchall():
            r, p, z = pickle.loads(data)
            lo = max(s.flushed - first, 0)
            hi = min(end - first, nrows)
            rows += r[lo:hi]
            parts += p[lo:hi]
            sizes += z[lo:hi]
            if first + nrows <= end:
                extra.append(("DELETE FROM bq_stream_rows WHERE name = ? AND first_offset = ?", (s.name, first)))
        old = s.flushed
        s.flushed = end
        extra.append(self._save_sql(s))
        try:
            self.store.insert(t, rows, parts, sizes, [], int(clock.time() * 1000), extra_sql=extra,
                              streaming_buffer=False)
        except BaseException:
            s.flushed = old
            raise
        self.counters.incr("rows_flushed", len(rows))

    # ------------------------------------------------------------------ AppendRows
    def append_rows(self, request_iterator, context):
        conn = _Connection()
        for req in request_iterator:
            action = self.svc.gate.enter(context, "AppendRows")
            try:
                resp = self._append(conn, req)
            except _Abort as e:
                _abort(context, e)
            except Exception:  # noqa: BLE001 - a bug must not look like a transport error
                log.exception("AppendRows on %s failed", conn.stream_name)
                context.abort(grpc.StatusCode.INTERNAL, "Internal error encountered.")
            if action == "lost":
                self.svc.gate.lost(context)
            yield resp

    def _append(self, conn, req):
        size = req.ByteSize()
        if size > MAX_APPEND_BYTES:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT,
                         "AppendRows request too large: %d limit %d" % (size, MAX_APPEND_BYTES))
        if req.write_stream:
            if conn.stream_name is not None and req.write_stream != conn.stream_name \
                    and not req.proto_rows.HasField("writer_schema"):
                raise _Abort(grpc.StatusCode.INVALID_ARGUMENT,
                             "A request for another stream (%s) on this connection needs its writer_schema"
                             % req.write_stream)
            conn.stream_name = req.write_stream
        elif conn.stream_name is None:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT,
                         "The first AppendRows request of a connection must name the write_stream")
        if not req.HasField("proto_rows"):
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "AppendRows request carries no proto_rows")
        name = conn.stream_name
        resp = M.AppendRowsResponse(write_stream=name)
        with self.store.lock:
            s, t = self._stream(name)
        data = req.proto_rows
        if data.HasField("writer_schema"):
            try:
                conn.decoder = RowDecoder(t, data.writer_schema.proto_descriptor)
                conn.table_key = t.key
            except SchemaError as e:
                conn.decoder = None
                return self._error(resp, grpc.StatusCode.INVALID_ARGUMENT, str(e),
                                   SE.Value("SCHEMA_MISMATCH_EXTRA_FIELDS")
                                   if "more fields" in str(e) else None, name)
        elif conn.decoder is None or conn.table_key != t.key:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT,
                         "Invalid proto schema: the first AppendRows request of a connection must carry "
                         "proto_rows.writer_schema")
        if s is None and req.HasField("offset"):
            return self._error(resp, grpc.StatusCode.INVALID_ARGUMENT,
                               "Offset is not supported on the default stream %s" % name, None, name)
        if s is not None and s.state != "OPEN":
            return self._error(resp, grpc.StatusCode.INVALID_ARGUMENT,
                               "Stream is finalized: %s" % name, SE.Value("STREAM_FINALIZED"), name)
        serialized = data.rows.serialized_rows
        if not serialized:
            return self._error(resp, grpc.StatusCode.INVALID_ARGUMENT,
                               "AppendRows request carries no rows", None, name)
        errors = []
        try:
            objs = conn.decoder.decode(serialized)
        except RowValueError as e:
            objs = None
            errors = [(e.index, e.message)]
        if objs is not None:
            (rows, parts, sizes), errors = validate_rows(self.store.validator(t), objs)
        if errors:
            for i, msg in errors:
                resp.row_errors.add(index=i, code=M.RowError.RowErrorCode.Value("FIELDS_ERROR"), message=msg)
            self.counters.incr("append_errors")
            return self._error(resp, grpc.StatusCode.INVALID_ARGUMENT,
                               "Errors found while processing rows. Please refer to the row_errors field "
                               "for details. The list may not be covering all of the errors.", None, name)
        now_ms = int(clock.time() * 1000)
        with self.store.lock:
            s, t = self._stream(name)       # again: it may have been finalized meanwhile
            if s is not None and s.state != "OPEN":
                return self._error(resp, grpc.StatusCode.INVALID_ARGUMENT,
                                   "Stream is finalized: %s" % name, SE.Value("STREAM_FINALIZED"), name)
            if s is None:
                self.store.insert(t, rows, parts, sizes, [], now_ms, streaming_buffer=False)
            else:
                end = s.row_count
                if req.HasField("offset"):
                    off = req.offset.value
                    if off < end:
                        return self._error(resp, grpc.StatusCode.ALREADY_EXISTS,
                                           "The offset is within stream, expected offset %d, received %d"
                                           % (end, off), SE.Value("OFFSET_ALREADY_EXISTS"), name)
                    if off > end:
                        return self._error(resp, grpc.StatusCode.OUT_OF_RANGE,
                                           "The offset is beyond stream, expected offset %d, received %d"
                                           % (end, off), SE.Value("OFFSET_OUT_OF_RANGE"), name)
                s.row_count = end + len(rows)
                try:
                    if s.type == COMMITTED:
                        self.store.insert(t, rows, parts, sizes, [], now_ms, extra_sql=[self._save_sql(s)],
                                          streaming_buffer=False)
                    else:
                        self._exec([("INSERT INTO bq_stream_rows VALUES (?, ?, ?, ?)",
                                     (name, end, len(rows), pickle.dumps((rows, parts, sizes), protocol=4))),
                                    self._save_sql(s)])
                except BaseException:
                    s.row_count = end
                    raise
                resp.append_result.offset.value = end
            if s is None:
                resp.append_result.SetInParent()
        self.counters.incr("appends")
        self.counters.incr("rows_appended", len(rows))
        return resp

    def _error(self, resp, code, message, storage_code, entity):
        resp.error.CopyFrom(_status(code, message, storage_code, entity))
        return resp


class _Connection:
    """What one AppendRows call remembers between its requests."""
    __slots__ = ("stream_name", "decoder", "table_key")

    def __init__(self):
        self.stream_name = None
        self.decoder = None
        self.table_key = None


def _stream_id():
    return secrets.token_hex(16)


def _fill_schema(schema, fields):
    """fields: [(name, internal type, mode)] -> TableSchema.fields."""
    for name, typ, mode in fields:
        f = schema.fields.add(name=name)
        repeated = mode == "REPEATED" or T.is_array(typ)
        base = T.array_elem(typ) if T.is_array(typ) else typ
        f.mode = M.TableFieldSchema.Mode.Value("REPEATED" if repeated else (mode or "NULLABLE"))
        if T.is_struct(base):
            f.type = M.TableFieldSchema.Type.Value("STRUCT")
            required = set(T.struct_required(base))
            _fill_schema(f, [(n, ft, "REQUIRED" if n in required else "NULLABLE")
                             for n, ft in T.struct_fields(base)])
        elif T.is_range(base):
            f.type = M.TableFieldSchema.Type.Value("RANGE")
            f.range_element_type.type = M.TableFieldSchema.Type.Value(T.range_elem(base))
        else:
            f.type = M.TableFieldSchema.Type.Value(_BQ_TYPES.get(base, "STRING"))


def register(server, storage_service):
    api = WriteApi(storage_service)
    handlers = {
        "CreateWriteStream": grpc.unary_unary_rpc_method_handler(
            api.create_write_stream, request_deserializer=M.CreateWriteStreamRequest.FromString,
            response_serializer=M.WriteStream.SerializeToString),
        "AppendRows": grpc.stream_stream_rpc_method_handler(
            api.append_rows, request_deserializer=M.AppendRowsRequest.FromString,
            response_serializer=M.AppendRowsResponse.SerializeToString),
        "GetWriteStream": grpc.unary_unary_rpc_method_handler(
            api.get_write_stream, request_deserializer=M.GetWriteStreamRequest.FromString,
            response_serializer=M.WriteStream.SerializeToString),
        "FinalizeWriteStream": grpc.unary_unary_rpc_method_handler(
            api.finalize_write_stream, request_deserializer=M.FinalizeWriteStreamRequest.FromString,
            response_serializer=M.FinalizeWriteStreamResponse.SerializeToString),
        "BatchCommitWriteStreams": grpc.unary_unary_rpc_method_handler(
            api.batch_commit_write_streams,
            request_deserializer=M.BatchCommitWriteStreamsRequest.FromString,
            response_serializer=M.BatchCommitWriteStreamsResponse.SerializeToString),
        "FlushRows": grpc.unary_unary_rpc_method_handler(
            api.flush_rows, request_deserializer=M.FlushRowsRequest.FromString,
            response_serializer=M.FlushRowsResponse.SerializeToString),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    return api
