"""Datasets, tables, rows and their persistence, on one SQLite database.

Owns:
* the catalog (datasets and tables with their BigQuery resource fields) kept in
  SQLite tables ``bq_datasets`` / ``bq_tables`` and cached in memory;
* row storage: one SQLite table "t<id>" per BigQuery table, columns "c0".."cN" with
  no declared type so each value keeps the internal representation of types.py;
* per-partition, per-column logical byte counts (``bq_colstats``) maintained on
  insert, from which totalBytesProcessed of a query is computed without scanning;
* the insertId de-duplication memory (``bq_insert_ids``, persisted with the insert
  time so the window survives a restart);
* the streaming buffer model (in memory: recently inserted batches with their rowid
  ranges, for numRows and ``streamingBuffer`` in tables.get, and for DML, which cannot
  change rows still in it);
* DML's row changes (``apply_dml``);
* row validation for insertAll, compiled once per schema.

One connection behind one lock: SQLite serialises writers anyway, and measured
throughput is bounded by the Python work around it, not by SQLite. With a data dir
the file is in WAL mode with synchronous=NORMAL: every acknowledged write is
committed before the response, which survives kill -9 (not a power cut).
"""

import json
import os
import sqlite3
import threading
import time

from ..core import clock
from . import types as T
from .sql import functions as F
from .sql.errors import SqlError, SqlNotFound


class Field:
    __slots__ = ('name', 'type', 'mode', 'description')

    def __init__(self, name, type_, mode, description=None):
        self.name = name
        self.type = type_          # internal: INT64 … or ARRAY<T> for REPEATED
        self.mode = mode           # NULLABLE, REQUIRED, REPEATED
        self.description = description

    @property
    def base_type(self):
        return T.array_elem(self.type) if T.is_array(self.type) else self.type

    def resource(self):
        return T.schema_field(self.name, self.base_type, self.mode, self.description)


class Dataset:
    def __init__(self, project, dataset_id, location, creation_ms, modified_ms, extra):
        self.project = project
        self.dataset_id = dataset_id
        self.location = location
        self.creation_ms = creation_ms
        self.modified_ms = modified_ms
        self.extra = extra  # labels, description, friendlyName …

    def ref_text(self):
        return '%s:%s' % (self.project, self.dataset_id)


class Table:
    """A table, view or materialized view (all live in bq_tables)."""

    def __init__(self, key, project, dataset, table_id, meta):
        self.key = key
        self.project = project
        self.dataset = dataset
        self.table_id = table_id
        self.type = meta['type']
        self.fields = [Field(f['name'], f['type'], f['mode'], f.get('description'))
                       for f in meta.get('fields', [])]
        self.partition_field = meta.get('partition_field')
        self.partition_type = meta.get('partition_type')
        self.partition_expiration_ms = meta.get('partition_expiration_ms')
        self.require_partition_filter = meta.get('require_partition_filter', False)
        self.clustering = meta.get('clustering')
        self.view_query = meta.get('view_query')
        self.mv = meta.get('mv')
        self.location = meta['location']
        self.creation_ms = meta['creation_ms']
        self.modified_ms = meta['modified_ms']
        self.extra = meta.get('extra', {})
        self.num_rows = 0
        self.num_bytes = 0
        self.version = 0
        self.sqlite_name = 't%d' % key
        self.validator = None
        self.buffer = []  # streaming buffer: [(time_s, rows, bytes, first_rowid, last_rowid, leaves_s)]

    def meta(self):
        return {
            'type': self.type,
            'fields': [{'name': f.name, 'type': f.type, 'mode': f.mode,
                        **({'description': f.description} if f.description else {})}
                       for f in self.fields],
            'partition_field': self.partition_field, 'partition_type': self.partition_type,
            'partition_expiration_ms': self.partition_expiration_ms,
            'require_partition_filter': self.require_partition_filter,
            'clustering': self.clustering, 'view_query': self.view_query, 'mv': self.mv,
            'location': self.location, 'creation_ms': self.creation_ms,
            'modified_ms': self.modified_ms, 'extra': self.extra,
        }

    def ref_text(self):
        return '%s:%s.%s' % (self.project, self.dataset, self.table_id)

    def partition_index(self):
        if self.partition_field is None:
            return None
        for i, f in enumerate(self.fields):
            if f.name.lower() == self.partition_field.lower():
                return i
        return None


class RowError(Exception):
    def __init__(self, location, message, reason='invalid'):
        super().__init__(message)
        self.location = location
        self.message = message
        self.reason = reason


_MISSING = object()
NULL_PARTITION = '__NULL__'
UNPARTITIONED = '__UNPARTITIONED__'


class Validator:
    """insertAll row checker for one schema: JSON object -> (values tuple, partition, sizes)."""

    def __init__(self, table):
        self.fields = []
        self.names = {}
        self.lower = {}
        for i, f in enumerate(table.fields):
            base = f.base_type
            size = T.size_function(base)
            self.fields.append((f.name, i, T.coercer(base), size, f.mode == 'REQUIRED',
                                f.mode == 'REPEATED', base))
            self.names[f.name] = i
            self.lower[f.name.lower()] = i
        self.n = len(self.fields)
        self.part_index = table.partition_index()
        self.part_is_ts = (self.part_index is not None and
                           table.fields[self.part_index].type == 'TIMESTAMP')
        self.day_cache = {}
        self.fast = self._compile_fast(table)

    def _compile_fast(self, table):
        """Generate a straight-line checker for the common case (exact field names, plain
        JSON types, nothing to report). It answers None whenever a row needs more thought,
        and row() then takes the general path, which also words the errors."""
        if any(f.mode == 'REPEATED' for f in table.fields):
            return None
        ns = {'M': _MISSING, 'NULLP': NULL_PARTITION, 'UNP': UNPARTITIONED,
              'days': self.day_cache, 'date_text': T.date_text}
        lines = ['def fast(obj):',
                 '    if obj.__class__ is not dict:',
                 '        return None',
                 '    get = obj.get',
                 '    n = 0',
                 '    try:']
        for i, f in enumerate(table.fields):
            t = f.base_type
            ns['name%d' % i] = f.name
            lines += ['        v = get(name%d, M)' % i,
                      '        if v is M or v is None:',
                      '            c%d = None' % i,
                      '            s%d = 0' % i]
            if f.mode == 'REQUIRED':
                lines.append('            return None')
            lines.append('            n += v is None')
            if t == 'STRING':
                lines += ['        elif v.__class__ is str:',
                          '            c%d = v' % i,
                          "            s%d = 2 + (len(v) if v.isascii() else len(v.encode()))"
                          % i]
            elif t == 'INT64':
                lines += ['        elif v.__class__ is int and %d <= v <= %d:'
                          % (T.INT64_MIN, T.INT64_MAX),
                          '            c%d = v' % i, '            s%d = 8' % i]
            elif t == 'FLOAT64':
                lines += ['        elif v.__class__ is float and v == v:',
                          '            c%d = v' % i, '            s%d = 8' % i,
                          '        elif v.__class__ is int:',
                          '            c%d = float(v)' % i, '            s%d = 8' % i]
            elif t == 'BOOL':
                lines += ['        elif v is True or v is False:',
                          '            c%d = 1 if v else 0' % i, '            s%d = 1' % i]
            else:
                # text forms only; epoch-seconds strings fail here and take the general path
                ns['co%d' % i] = T.parse_timestamp_text if t == 'TIMESTAMP' else T.coercer(t)
                size = T.size_function(t)
                if t == 'TIMESTAMP':
                    # microseconds already (the Storage Write API's int64 form)
                    ns['Micros'] = T.Micros
                    lines += ['        elif v.__class__ is Micros and %d <= v <= %d:' % (T.MIN_TS, T.MAX_TS),
                              '            c%d = int(v)' % i, '            s%d = 8' % i]
                lines += ['        elif v.__class__ is str:',
                          '            c%d = co%d(v)' % (i, i)]
                if isinstance(size, int):
                    lines.append('            s%d = %d' % (i, size))
                else:
                    ns['sz%d' % i] = size
                    lines.append('            s%d = sz%d(c%d)' % (i, i, i))
            lines += ['        else:', '            return None']
            lines.append('        n += v is not M and v is not None')
        lines += ['    except Exception:', '        return None',
                  '    if n != len(obj):', '        return None']
        pi = self.part_index
        if pi is None:
            lines.append('    part = UNP')
        elif self.part_is_ts:
            lines += ['    if c%d is None:' % pi, '        part = NULLP', '    else:',
                      '        day = c%d // 86400000000' % pi,
                      '        part = days.get(day)',
                      '        if part is None:',
                      '            part = days[day] = date_text(day)']
        else:
            lines.append('    part = NULLP if c%d is None else c%d' % (pi, pi))
        n = len(table.fields)
        lines.append('    return [%s], part, [%s]' % (
            ', '.join('c%d' % i for i in range(n)), ', '.join('s%d' % i for i in range(n))))
        exec(compile('\n'.join(lines) + '\n', '<insertAll validator>', 'exec'), ns)
        return ns['fast']

    def row(self, obj, ignore_unknown):
        """Validate one row; returns (values list, partition id, per-column sizes list)."""
        if self.fast is not None:
            r = self.fast(obj)
            if r is not None:
                return r
        if not isinstance(obj, dict):
            raise RowError('', 'Row is not a JSON object.')
        vals = [None] * self.n
        sizes = [0] * self.n
        matched = 0
        for name, i, coerce, size, required, repeated, base in self.fields:
            v = obj.get(name, _MISSING)
            if v is _MISSING:
                continue
            matched += 1
            self._set(vals, sizes, i, v, name, coerce, size, required, repeated, base)
        if matched < len(obj):
            for key, v in obj.items():
                if key in self.names:
                    continue
                i = self.lower.get(key.lower())
                if i is not None and vals[i] is None:
                    name, _, coerce, size, required, repeated, base = self.fields[i]
                    self._set(vals, sizes, i, v, name, coerce, size, required, repeated, base)
                    continue
                if not ignore_unknown:
                    raise RowError(key, 'no such field: %s.' % key)
        for name, i, coerce, size, required, repeated, base in self.fields:
            if required and vals[i] is None:
                raise RowError(name, 'Missing required field: %s.' % name)
            if repeated and vals[i] is None:
                vals[i] = '[]'  # a REPEATED field is never NULL, only empty
        pi = self.part_index
        if pi is None:
            part = UNPARTITIONED
        else:
            pv = vals[pi]
            if pv is None:
                part = NULL_PARTITION
            elif self.part_is_ts:
                day = pv // 86400000000
                part = self.day_cache.get(day)
                if part is None:
                    part = self.day_cache[day] = T.date_text(day)
            else:
                part = pv
        return vals, part, sizes

    @staticmethod
    def _set(vals, sizes, i, v, name, coerce, size, required, repeated, base):
        if v is None:
            if required:
                raise RowError(name, 'Missing required field: %s.' % name)
            if repeated:
                vals[i] = '[]'
            return
        if repeated:
            if not isinstance(v, list):
                raise RowError(name, 'Field %s is repeated; the value must be a JSON array.'
                               % name)
            out = []
            for x in v:
                if x is None:
                    raise RowError(name, 'Null value in array field: %s.' % name)
                try:
                    out.append(coerce(x))
                except T.FieldError as e:
                    raise RowError('%s.%s' % (name, e.location), e.message) from None
                except T.ValueError_:
                    raise RowError(name, T.insert_error_message(base, x)) from None
            vals[i] = T.array_to_storage(base, out)
            if isinstance(size, int):
                sizes[i] = size * len(out)
            else:
                sizes[i] = sum(size(x) for x in out)
            return
        if isinstance(v, list) or (isinstance(v, dict) and not (T.is_struct(base) or
                                                                 T.is_range(base))):
            raise RowError(name, 'This field: %s is not a record.' % name if isinstance(v, dict)
                           else 'Array specified for non-repeated field: %s.' % name)
        try:
            c = coerce(v)
        except T.FieldError as e:
            raise RowError('%s.%s' % (name, e.location), e.message) from None
        except T.ValueError_:
            raise RowError(name, T.insert_error_message(base, name if T.is_struct(base)
                                                        else v)) from None
        vals[i] = c
        sizes[i] = size if isinstance(size, int) else size(c)


class Store:
    """The catalog and the rows; every method is called with ``self.lock`` held or takes it."""

    def __init__(self, path, dedup_window_s=60.0, buffer_s=1800.0, default_location='US'):
        self.lock = threading.RLock()
        self.path = path
        self.dedup_window_s = float(dedup_window_s)
        self.buffer_s = float(buffer_s)
        self.default_location = default_location
        if path is None:
            self.conn = sqlite3.connect(':memory:', check_same_thread=False,
                                        isolation_level=None)
        else:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self.conn.execute('PRAGMA journal_mode=WAL')
            self.conn.execute('PRAGMA synchronous=NORMAL')
        self.conn.execute('PRAGMA case_sensitive_like=ON')   # GoogleSQL LIKE is case-sensitive
        self.conn.execute('PRAGMA temp_store=MEMORY')
        self.conn.execute('PRAGMA cache_size=-65536')
        F.register(self.conn)
        self.conn.executescript('''
            CREATE TABLE IF NOT EXISTS bq_datasets (
                project TEXT NOT NULL, dataset TEXT NOT NULL, location TEXT NOT NULL,
                creation_ms INTEGER NOT NULL, modified_ms INTEGER NOT NULL, extra TEXT,
                PRIMARY KEY (project, dataset));
            CREATE TABLE IF NOT EXISTS bq_tables (
                id INTEGER PRIMARY KEY AUTOINCREMENT, project TEXT NOT NULL,
                dataset TEXT NOT NULL, table_id TEXT NOT NULL, meta TEXT NOT NULL,
                num_rows INTEGER NOT NULL DEFAULT 0, num_bytes INTEGER NOT NULL DEFAULT 0,
                UNIQUE (project, dataset, table_id));
            CREATE TABLE IF NOT EXISTS bq_colstats (
                tid INTEGER NOT NULL, part TEXT NOT NULL, col INTEGER NOT NULL,
                bytes INTEGER NOT NULL, PRIMARY KEY (tid, part, col)) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS bq_insert_ids (
                tid INTEGER NOT NULL, insert_id TEXT NOT NULL, ts_ms INTEGER NOT NULL,
                PRIMARY KEY (tid, insert_id)) WITHOUT ROWID;
        ''')
        self.datasets = {}
        self.tables = {}
        self.by_key = {}
        self.insert_ids = {}   # tid -> {insert_id: ts_ms}
        self.inserts_since_purge = 0
        self._load()

    def _load(self):
        for project, dataset, location, cms, mms, extra in self.conn.execute(
                'SELECT project, dataset, location, creation_ms, modified_ms, extra '
                'FROM bq_datasets'):
            self.datasets[(project, dataset)] = Dataset(project, dataset, location, cms, mms,
                                                        json.loads(extra or '{}'))
        for key, project, dataset, table_id, meta, nrows, nbytes in self.conn.execute(
                'SELECT id, project, dataset, table_id, meta, num_rows, num_bytes FROM bq_tables'):
            t = Table(key, project, dataset, table_id, json.loads(meta))
            t.num_rows = nrows
            t.num_bytes = nbytes
            self.tables[(project, dataset, table_id)] = t
            self.by_key[key] = t
        cutoff = int((clock.time() - self.dedup_window_s) * 1000)
        self.conn.execute('DELETE FROM bq_insert_ids WHERE ts_ms < ?', (cutoff,))
        for tid, iid, ts in self.conn.execute('SELECT tid, insert_id, ts_ms FROM bq_insert_ids'):
            self.insert_ids.setdefault(tid, {})[iid] = ts

    def close(self):
        with self.lock:
            try:
                if self.path is not None:
                    self.conn.execute('PRAGMA wal_checkpoint(TRUNCATE)')
            finally:
                self.conn.close()

    # ------------------------------------------------------------------ datasets
    def get_dataset(self, project, dataset_id):
        return self.datasets.get((project, dataset_id))

    def create_dataset(self, project, dataset_id, location, extra):
        now = _now_ms()
        with self.lock:
            d = Dataset(project, dataset_id, location, now, now, extra)
            self.conn.execute('INSERT INTO bq_datasets VALUES (?, ?, ?, ?, ?, ?)',
                              (project, dataset_id, location, now, now, json.dumps(extra)))
            self.datasets[(project, dataset_id)] = d
            return d

    def dataset_tables(self, project, dataset_id):
        return sorted((t for (p, d, _), t in self.tables.items()
                       if p == project and d == dataset_id), key=lambda t: t.table_id)

    def delete_dataset(self, project, dataset_id):
        with self.lock:
            self.conn.execute('BEGIN')
            try:
                for t in self.dataset_tables(project, dataset_id):
                    self._drop_table(t)
                self.conn.execute('DELETE FROM bq_datasets WHERE project = ? AND dataset = ?',
                                  (project, dataset_id))
                self.conn.execute('COMMIT')
            except BaseException:
                self.conn.execute('ROLLBACK')
                self._reload_tables()
                raise
            self.datasets.pop((project, dataset_id), None)

    def _reload_tables(self):
        self.tables.clear()
        self.by_key.clear()
        self.datasets.clear()
        self._load()

    # ------------------------------------------------------------------ tables
    def get_table(self, project, dataset_id, table_id):
        return self.tables.get((project, dataset_id, table_id))

    def create_table(self, project, dataset_id, table_id, meta):
        """meta: dict as Table.meta() (without times/location, which are filled here)."""
        now = _now_ms()
        with self.lock:
            meta = dict(meta)
            meta.setdefault('creation_ms', now)
            meta['modified_ms'] = now
            self.conn.execute('BEGIN')
            try:
                cur = self.conn.execute(
                    'INSERT INTO bq_tables (project, dataset, table_id, meta) VALUES (?, ?, ?, ?)',
                    (project, dataset_id, table_id, json.dumps(meta)))
                key = cur.lastrowid
                t = Table(key, project, dataset_id, table_id, meta)
                if t.type == 'TABLE':
                    cols = ', '.join('"c%d"' % i for i in range(len(t.fields)))
                    self.conn.execute('CREATE TABLE "%s" (%s)' % (t.sqlite_name, cols))
                self.conn.execute('COMMIT')
            except BaseException:
                self.conn.execute('ROLLBACK')
                raise
            self.tables[(project, dataset_id, table_id)] = t
            self.by_key[key] = t
            return t

    def delete_table(self, t):
        with self.lock:
            self.conn.execute('BEGIN')
            try:
                self._drop_table(t)
                self.conn.execute('COMMIT')
            except BaseException:
                self.conn.execute('ROLLBACK')
                raise
            self.tables.pop((t.project, t.dataset, t.table_id), None)
            self.by_key.pop(t.key, None)
            t.version += 1
            t.deleted = True

    def _drop_table(self, t):
        self.conn.execute('DROP TABLE IF EXISTS "%s"' % t.sqlite_name)
        self.conn.execute('DELETE FROM bq_tables WHERE id = ?', (t.key,))
        self.conn.execute('DELETE FROM bq_colstats WHERE tid = ?', (t.key,))
        self.conn.execute('DELETE FROM bq_insert_ids WHERE tid = ?', (t.key,))
        self.insert_ids.pop(t.key, None)

    def validator(self, t):
        if t.validator is None:
            t.validator = Validator(t)
        return t.validator

    # ------------------------------------------------------------------ rows
    def seen_insert_ids(self, t, now_ms):
        """The live insertId map of a table (entries older than the window are ignored)."""
        return self.insert_ids.get(t.key, {})

    def insert(self, t, rows, parts, sizes, insert_ids, now_ms, extra_sql=(), streaming_buffer=True):
        """Append validated rows (lists of internal values) in one transaction.

        parts[i] is row i's partition id, sizes[i] its per-column logical bytes,
        insert_ids the (id, time) pairs to remember for de-duplication.
        extra_sql: (sql, params) statements run in the same transaction, so a
        caller's own bookkeeping (a write stream's offset) commits with the rows.
        streaming_buffer: the rows enter the modelled streaming buffer (insertAll's
        rows do; the Storage Write API's do not: DML may change them at once).
        """
        n = len(t.fields)
        acc = {}
        total = 0
        for part, sz in zip(parts, sizes):
            a = acc.get(part)
            if a is None:
                a = acc[part] = [0] * n
            for i in range(n):
                s = sz[i]
                if s:
                    a[i] += s
                    total += s
        stats = []
        for part, a in acc.items():
            for i, b in enumerate(a):
                if b:
                    stats.append((t.key, part, i, b))
        conn = self.conn
        with self.lock:
            if getattr(t, 'deleted', False):
                raise SqlNotFound('Not found: Table %s' % t.ref_text())
            last_rowid = None
            conn.execute('BEGIN')
            try:
                if rows:
                    conn.executemany('INSERT INTO "%s" VALUES (%s)' % (
                        t.sqlite_name, ', '.join('?' * n)), rows)
                    # appended rows take the rowids above the largest: the batch's range
                    last_rowid = conn.execute('SELECT max(rowid) FROM "%s"'
                                              % t.sqlite_name).fetchone()[0]
                if stats:
                    conn.executemany(
                        'INSERT INTO bq_colstats VALUES (?, ?, ?, ?) ON CONFLICT (tid, part, col) '
                        'DO UPDATE SET bytes = bytes + excluded.bytes', stats)
                if insert_ids:
                    conn.executemany('INSERT OR REPLACE INTO bq_insert_ids VALUES (?, ?, ?)',
                                     [(t.key, iid, now_ms) for iid in insert_ids])
                for sql, params in extra_sql:
                    conn.execute(sql, params)
                conn.execute('UPDATE bq_tables SET num_rows = num_rows + ?, '
                             "num_bytes = num_bytes + ?, meta = json_set(meta, '$.modified_ms', ?) "
                             'WHERE id = ?', (len(rows), total,
                                              now_ms if rows else t.modified_ms, t.key))
                conn.execute('COMMIT')
            except BaseException:
                conn.execute('ROLLBACK')
                raise
            if insert_ids:
                m = self.insert_ids.setdefault(t.key, {})
                for iid in insert_ids:
                    m[iid] = now_ms
            t.num_rows += len(rows)
            t.num_bytes += total
            if rows:
                t.version += 1
                t.modified_ms = now_ms
            if rows and streaming_buffer:
                t.buffer.append((now_ms / 1000.0, len(rows), total,
                                 last_rowid - len(rows) + 1, last_rowid,
                                 now_ms / 1000.0 + self.buffer_seconds(t)))
            self.inserts_since_purge += 1
            if self.inserts_since_purge >= 200:
                self.purge_insert_ids(now_ms)

    def purge_insert_ids(self, now_ms):
        cutoff = now_ms - int(self.dedup_window_s * 1000)
        with self.lock:
            self.inserts_since_purge = 0
            self.conn.execute('DELETE FROM bq_insert_ids WHERE ts_ms < ?', (cutoff,))
            for tid, m in self.insert_ids.items():
                old = [k for k, ts in m.items() if ts < cutoff]
                for k in old:
                    del m[k]

    def buffer_seconds(self, t):
        """How long rows streamed into t stay in its streaming buffer: the table label
        ``emulator_streaming_buffer_s`` (seconds; label values are strings), else
        ``--bq-streaming-buffer-s``."""
        label = (t.extra.get('labels') or {}).get('emulator_streaming_buffer_s')
        if label is not None:
            try:
                return float(label)
            except ValueError:
                pass
        return self.buffer_s

    def streaming_buffer(self, t):
        """(rows, bytes, oldest_ms) still in the modelled streaming buffer."""
        if not t.buffer:
            return 0, 0, None
        now = clock.time()
        with self.lock:
            # each batch leaves when the buffer time of its insert has passed
            if any(b[5] <= now for b in t.buffer):
                t.buffer[:] = [b for b in t.buffer if b[5] > now]
            if not t.buffer:
                return 0, 0, None
            return (sum(b[1] for b in t.buffer), sum(b[2] for b in t.buffer),
                    int(t.buffer[0][0] * 1000))

    def buffered_rowids(self, t):
        """[(first, last)] rowid ranges of t's rows still in the streaming buffer."""
        self.streaming_buffer(t)      # drops the batches that have left it
        with self.lock:
            return [(b[3], b[4]) for b in t.buffer]

    def apply_dml(self, t, delete_rowids, updates, set_columns, now_ms):
        """Delete the rows of delete_rowids, or set the columns set_columns of each
        (rowid, values) of updates, in one transaction, and account the table's rows.

        The per-column byte counts are scaled down by the fraction of rows deleted
        (an estimate: the emulator does not keep each row's size)."""
        conn = self.conn
        with self.lock:
            if getattr(t, 'deleted', False):
                raise SqlNotFound('Not found: Table %s' % t.ref_text())
            conn.execute('BEGIN')
            try:
                if delete_rowids:
                    conn.executemany('DELETE FROM "%s" WHERE rowid = ?' % t.sqlite_name,
                                     [(r,) for r in delete_rowids])
                if updates:
                    assign = ', '.join('"c%d" = ?' % i for i in set_columns)
                    conn.executemany('UPDATE "%s" SET %s WHERE rowid = ?'
                                     % (t.sqlite_name, assign),
                                     [tuple(v) + (r,) for r, v in updates])
                num_rows = conn.execute('SELECT count(*) FROM "%s"'
                                        % t.sqlite_name).fetchone()[0]
                rows_before = num_rows + len(delete_rowids)
                num_bytes = t.num_bytes
                if delete_rowids and rows_before > 0:
                    keep = num_rows / float(rows_before)
                    conn.execute('UPDATE bq_colstats SET bytes = CAST(bytes * ? AS INTEGER) '
                                 'WHERE tid = ?', (keep, t.key))
                    num_bytes = int(num_bytes * keep)
                conn.execute('UPDATE bq_tables SET num_rows = ?, num_bytes = ?, '
                             "meta = json_set(meta, '$.modified_ms', ?) WHERE id = ?",
                             (num_rows, num_bytes, now_ms, t.key))
                conn.execute('COMMIT')
            except BaseException:
                conn.execute('ROLLBACK')
                raise
            t.num_rows = num_rows
            t.num_bytes = num_bytes
            t.version += 1
            t.modified_ms = now_ms

    def list_rows(self, t, after_rowid, limit, start_index=None):
        """tabledata.list: rows in insertion order -> [(rowid, values…)]."""
        with self.lock:
            if start_index is not None:
                return self.conn.execute(
                    'SELECT rowid, * FROM "%s" ORDER BY rowid LIMIT ? OFFSET ?' % t.sqlite_name,
                    (limit, start_index)).fetchall()
            return self.conn.execute(
                'SELECT rowid, * FROM "%s" WHERE rowid > ? ORDER BY rowid LIMIT ?'
                % t.sqlite_name, (after_rowid, limit)).fetchall()

    # ------------------------------------------------------------------ bytes
    def scan_bytes(self, scan):
        """Logical bytes a query scan reads: its columns, in the partitions it keeps."""
        t = scan.table
        if not scan.cols or scan.part_none:
            return 0
        cols = sorted(scan.cols)
        sql = 'SELECT coalesce(sum(bytes), 0) FROM bq_colstats WHERE tid = ? AND col IN (%s)' % (
            ', '.join('?' * len(cols)))
        params = [t.key] + cols
        if scan.pruned:
            # NULL/unpartitioned partitions never satisfy a comparison on the column
            sql += " AND part NOT IN ('__NULL__', '__UNPARTITIONED__')"
            if scan.part_lo is not None:
                sql += ' AND part >= ?'
                params.append(scan.part_lo)
            if scan.part_hi is not None:
                sql += ' AND part <= ?'
                params.append(scan.part_hi)
        with self.lock:
            return int(self.conn.execute(sql, params).fetchone()[0] * getattr(scan, 'fraction', 1.0))

    # ------------------------------------------------------------------ queries
    def eval_const(self, sql, params):
        with self.lock:
            try:
                return self.conn.execute('SELECT ' + sql, params).fetchone()[0]
            except sqlite3.Error as e:
                raise query_error(e) from None

    def execute(self, sql, params):
        with self.lock:
            try:
                return self.conn.execute(sql, params).fetchall()
            except sqlite3.Error as e:
                raise query_error(e) from None


def query_error(e):
    """A SQLite error during execution -> the BigQuery error it stands for."""
    msg = F.take_error()
    if msg:
        return SqlError(msg)
    text = str(e)
    if 'integer overflow' in text:
        return SqlError('int64 overflow')
    if 'interrupted' in text:
        return SqlError('Job execution was cancelled: User requested cancellation',
                        reason='stopped')
    return SqlError('Query execution failed in the emulator: %s' % text)


def _now_ms():
    return int(time.time() * 1000)
