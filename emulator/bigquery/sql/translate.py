"""Analyser and SQLite emitter for GoogleSQL queries (AST from parser.py -> SQLite SQL).

Owns name resolution (tables by `p.d.t` / d.t / default dataset, columns, aliases),
BigQuery typing of every expression (so result schemas are right: COUNT -> INT64,
'/' -> FLOAT64, SUM(NUMERIC) -> NUMERIC …), implicit coercions (literal strings to
dates and timestamps, INT64 -> NUMERIC/FLOAT64), the aggregate-query rules (every
column grouped or aggregated), GROUP BY/ORDER BY by ordinal or alias, BigQuery's
NULL ordering, query parameters (bound, never spliced into SQL text), and the facts
the job layer needs: which base-table columns are read and which partitions survive
a filter on the partitioning column (for totalBytesProcessed), whether the query is
deterministic (query cache), and which tables it depends on.

Emitted SQL refers to base tables as "t<id>" with columns "c<i>" and names its
result columns "_c<i>"; values are in the internal representation of types.py.
"""

import re

from . import nodes as N
from .errors import SqlError, SqlNotFound, unsupported
from .. import types as T

_MICROS = {'MICROSECOND': 1, 'MILLISECOND': 1000, 'SECOND': 1000000, 'MINUTE': 60000000,
           'HOUR': 3600000000, 'DAY': 86400000000}
_DATE_PARTS = ('DAY', 'WEEK', 'ISOWEEK', 'MONTH', 'QUARTER', 'YEAR', 'ISOYEAR')
_WEEKDAYS = ('SUNDAY', 'MONDAY', 'TUESDAY', 'WEDNESDAY', 'THURSDAY', 'FRIDAY', 'SATURDAY')

AGGREGATES = {'COUNT', 'COUNTIF', 'SUM', 'AVG', 'MIN', 'MAX', 'ANY_VALUE', 'LOGICAL_AND',
              'LOGICAL_OR', 'APPROX_COUNT_DISTINCT'}
UNSUPPORTED_AGGREGATES = {'STRING_AGG', 'ARRAY_AGG', 'ARRAY_CONCAT_AGG', 'BIT_AND', 'BIT_OR',
                          'BIT_XOR', 'STDDEV', 'STDDEV_POP', 'STDDEV_SAMP', 'VARIANCE',
                          'VAR_POP', 'VAR_SAMP', 'CORR', 'COVAR_POP', 'COVAR_SAMP',
                          'APPROX_QUANTILES', 'APPROX_TOP_COUNT', 'APPROX_TOP_SUM', 'GROUPING',
                          'AVG_DISTINCT'}
# aggregates BigQuery allows in an incremental materialized view (within this subset)
MV_AGGREGATES = {'ANY_VALUE', 'APPROX_COUNT_DISTINCT', 'AVG', 'COUNT', 'COUNTIF',
                 'LOGICAL_AND', 'LOGICAL_OR', 'MAX', 'MIN', 'SUM'}
NONDETERMINISTIC = {'CURRENT_TIMESTAMP', 'CURRENT_DATE', 'CURRENT_DATETIME', 'CURRENT_TIME'}

_COMPARABLE = {'INT64', 'FLOAT64', 'NUMERIC', 'BIGNUMERIC', 'BOOL', 'STRING', 'BYTES',
               'TIMESTAMP', 'DATE', 'DATETIME', 'TIME'}
_NUMERIC_RANK = {'INT64': 0, 'NUMERIC': 1, 'BIGNUMERIC': 2, 'FLOAT64': 3}

_PLACEHOLDER = re.compile(r'\{(\d+)\}')


class E:
    """A translated expression: SQLite SQL text + its bound values + BigQuery type."""
    __slots__ = ('sql', 'params', 'type', 'key', 'agg', 'nan', 'const', 'lit')

    def __init__(self, sql, params, type_, key, agg=False, nan=False, const=False, lit=None):
        self.sql = sql
        self.params = params
        self.type = type_
        self.key = key          # structural identity (for GROUP BY matching)
        self.agg = agg          # contains an aggregate
        self.nan = nan          # a FLOAT64 that may hold the text 'NaN'
        self.const = const      # no column reference: can be evaluated once
        self.lit = lit          # the Literal node when this is a plain literal


def build(template, parts, type_, key, nan=False, agg=None, const=None):
    """Fill {i} in template with parts[i].sql, collecting params in textual order."""
    params = []
    pieces = _PLACEHOLDER.split(template)
    out = []
    for i, piece in enumerate(pieces):
        if i % 2:
            p = parts[int(piece)]
            out.append(p.sql)
            params.extend(p.params)
        else:
            out.append(piece)
    if agg is None:
        agg = any(p.agg for p in parts)
    if const is None:
        const = all(p.const for p in parts)
    return E(''.join(out), params, type_, key, agg=agg, nan=nan, const=const)


def lit(value, type_, key=None):
    """A bound literal value."""
    if value is None:
        return E('NULL', [], type_, ('lit', type_, None), const=True)
    return E('?', [value], type_, key or ('lit', type_, _hashable(value)), const=True,
             nan=(type_ == 'FLOAT64' and isinstance(value, str)))


def _hashable(v):
    return v if not isinstance(v, list) else tuple(v)


class Scan:
    """One read of a base table: which columns, and which partitions (for bytes processed)."""

    def __init__(self, table):
        self.table = table
        self.cols = set()
        self.part_lo = None   # inclusive 'YYYY-MM-DD' bounds on partitions read, or None
        self.part_hi = None
        self.part_none = False  # the filter proves no partition can match
        self.pruned = False
        self.fraction = 1.0     # TABLESAMPLE SYSTEM reads (and bills) only part of it


class Column:
    __slots__ = ('name', 'type', 'sql', 'scan', 'index', 'nan')

    def __init__(self, name, type_, sql, scan=None, index=None, nan=False):
        self.name = name
        self.type = type_
        self.sql = sql
        self.scan = scan
        self.index = index
        self.nan = nan


class Source:
    def __init__(self, alias, sql, columns, scan=None, table=None):
        self.alias = alias
        self.sql = sql
        self.columns = columns
        self.scan = scan
        self.table = table
        self.by_name = {}
        for c in columns:
            self.by_name.setdefault(c.name.lower(), []).append(c)


class Compiled:
    """Result of compiling a query: SQL, params, output columns and the facts about it."""

    def __init__(self, sql, params, columns):
        self.sql = sql
        self.params = params
        self.columns = columns  # list of (name, type, nan)


class _NeedsAgg(Exception):
    """Internal: an aggregate appeared where only a pre-aggregation value is allowed."""


class QueryContext:
    """Everything a compilation needs from outside, and what it learns for the job."""

    def __init__(self, catalog, project, default_dataset=None, named=None, positional=None,
                 now_us=0, param_mode=None):
        self.catalog = catalog
        self.project = project
        self.default_dataset = default_dataset  # (project, dataset) or None
        self.named = named or {}                # lower name -> (type, value)
        self.positional = positional or []      # [(type, value)]
        self.param_mode = param_mode
        self.now_us = now_us
        self.scans = []
        self.deterministic = True
        self.tables = {}        # key -> table meta of every table/view read (cache validity)
        self.locations = set()
        self.view_stack = []
        self.sqlite_alias_n = 0
        self.statement_kind = 'SELECT'

    def new_alias(self):
        self.sqlite_alias_n += 1
        return 's%d' % self.sqlite_alias_n

    def resolve_table_path(self, parts, pos):
        """Path parts -> (project, dataset, table)."""
        if len(parts) == 3:
            return parts[0], parts[1], parts[2]
        if len(parts) == 2:
            return self.project, parts[0], parts[1]
        if len(parts) == 1:
            if self.default_dataset is None:
                raise SqlError('Table "%s" must be qualified with a dataset (e.g. dataset.table).'
                               % parts[0], pos)
            return self.default_dataset[0], self.default_dataset[1], parts[0]
        raise SqlError('Invalid table name: `%s`' % '.'.join(parts), pos)


# ====================================================================== queries

def compile_query(node, ctx):
    """Compile a Select (possibly wrapped) to a Compiled."""
    if not isinstance(node, N.Select):
        raise unsupported('This kind of query', node.pos)
    return _SelectCompiler(node, ctx).compile()


class _Scope:
    def __init__(self, sources, mode, clause, group_keys=None, aliases=None):
        self.sources = sources
        self.mode = mode          # 'plain' (no aggregation), 'pre' (inside/under GROUP BY), 'post'
        self.clause = clause      # for error texts
        self.group_keys = group_keys or {}
        self.aliases = aliases or {}   # lower alias -> E (HAVING / ORDER BY)

    def with_mode(self, mode, clause=None):
        return _Scope(self.sources, mode, clause or self.clause, self.group_keys, self.aliases)


class _SelectCompiler:
    def __init__(self, sel, ctx):
        self.sel = sel
        self.ctx = ctx

    # ---------------------------------------------------------------- FROM
    def source(self):
        f = self.sel.from_
        self.from_sql, self.from_params = None, []
        if f is None:
            return []
        if isinstance(f, N.JoinRef):
            return self.join_sources(f)
        srcs = self.from_item_source(f)
        self.from_sql, self.from_params = srcs[0].sql, srcs[0].params
        return srcs

    def join_sources(self, j):
        """The sources of a join, its FROM text and parameters in text order."""
        if isinstance(j.left, N.JoinRef):
            left = self.join_sources(j.left)
        else:
            left = self.from_item_source(j.left)
            self.from_sql, self.from_params = left[0].sql, list(left[0].params)
        right = self.from_item_source(j.right)
        sources = left + right
        aliases = [s.alias for s in sources if s.alias]
        for a in aliases:
            if aliases.count(a) > 1:
                raise SqlError('Duplicate table alias %s in the same FROM clause' % a, j.pos)
        on_e = self.as_bool(self.expr(j.on, _Scope(sources, 'plain', 'JOIN ON clause')),
                            j.on.pos, 'JOIN ON clause')
        self.from_sql = '%s %s JOIN %s ON %s' % (self.from_sql, j.kind, right[0].sql, on_e.sql)
        self.from_params = self.from_params + list(right[0].params) + list(on_e.params)
        return sources

    def from_item_source(self, f):
        if isinstance(f, N.TableRef):
            return [self.table_source(f)]
        if isinstance(f, N.SubqueryRef):
            sub = compile_query(f.query, self.ctx)
            alias = self.ctx.new_alias()
            cols = [Column(name, t, '%s."_c%d"' % (alias, i), nan=nan)
                    for i, (name, t, nan) in enumerate(sub.columns)]
            src = Source((f.alias or '').lower() or None, '(%s) AS %s' % (sub.sql, alias), cols)
            src.params = sub.params
            return [src]
        raise unsupported('This FROM item', f.pos)

    def table_source(self, ref):
        ctx = self.ctx
        project, dataset, table = ctx.resolve_table_path(ref.path, ref.pos)
        meta = ctx.catalog.lookup_table(project, dataset, table)
        ctx.locations.add(meta.location)
        ctx.tables[meta.key] = meta
        alias_name = (ref.alias or table).lower()
        if ref.sample is not None and meta.type != 'TABLE':
            raise SqlError('TABLESAMPLE is only allowed on tables', ref.pos)
        if meta.type in ('VIEW', 'MATERIALIZED_VIEW'):
            if meta.key in ctx.view_stack:
                raise SqlError('View %s references itself' % meta.ref_text(), ref.pos)
            from .parser import parse
            ctx.view_stack.append(meta.key)
            saved = ctx.default_dataset
            # names inside a view resolve against the view's own dataset and project
            saved_project = ctx.project
            ctx.default_dataset = None
            ctx.project = meta.project
            try:
                node = parse(meta.view_query)
                sub = compile_query(node, _ViewContext(ctx))
            except SqlError as e:
                if isinstance(e, SqlNotFound):
                    raise
                raise SqlError('Error in view %s: %s' % (meta.ref_text(), e.message)) from None
            finally:
                ctx.view_stack.pop()
                ctx.default_dataset = saved
                ctx.project = saved_project
            alias = ctx.new_alias()
            cols = [Column(name, t, '%s."_c%d"' % (alias, i), nan=nan)
                    for i, (name, t, nan) in enumerate(sub.columns)]
            src = Source(alias_name, '(%s) AS %s' % (sub.sql, alias), cols)
            src.params = sub.params
            return src
        scan = Scan(meta)
        ctx.scans.append(scan)
        alias = ctx.new_alias()
        cols = []
        for i, f in enumerate(meta.fields):
            cols.append(Column(f.name, f.type, '%s."c%d"' % (alias, i), scan, i,
                               nan=(f.type == 'FLOAT64')))
        table_sql = '"%s"' % meta.sqlite_name
        if ref.sample is not None:
            # a random subset of rows stands for BigQuery's random storage blocks
            scan.fraction = ref.sample / 100.0
            ctx.deterministic = False
            table_sql = '(SELECT * FROM "%s" WHERE (random() %% 1000000 + 1000000) %% 1000000 < %d)' % (
                meta.sqlite_name, int(round(ref.sample * 10000)))
        src = Source(alias_name, '%s AS %s' % (table_sql, alias), cols, scan, meta)
        src.params = []
        return src

    # ---------------------------------------------------------------- main
    def compile(self):
        sel = self.sel
        sources = self.source()
        self.sources = sources
        plain = _Scope(sources, 'plain', 'SELECT list')

        # expand the select list (stars) into (node or column, alias, pos)
        items = []
        for it in sel.items:
            if it.star is not None:
                items.extend(self.expand_star(it))
            else:
                items.append((it.expr, it.alias, it.pos))

        is_agg = bool(sel.group_by) or any(
            _has_aggregate(x[0]) for x in items if isinstance(x[0], N.Node)) or \
            (sel.having is not None) or any(_has_aggregate(o.expr) for o in sel.order_by)

        where_e = None
        if sel.where is not None:
            where_e = self.expr(sel.where, plain.with_mode('plain', 'WHERE clause'))
            where_e = self.as_bool(where_e, sel.where.pos, 'WHERE clause')

        # select-list aliases usable by GROUP BY
        alias_nodes = {}
        for node, alias, pos in items:
            if alias is not None and isinstance(node, N.Node):
                alias_nodes.setdefault(alias.lower(), node)

        group_es = []
        scope_post = None
        if is_agg:
            pre = plain.with_mode('pre', 'GROUP BY clause')
            keys = {}
            for g in sel.group_by:
                gnode = g
                if isinstance(g, N.Literal) and g.type == 'INT64':
                    n = g.value
                    if n < 1 or n > len(items):
                        raise SqlError('GROUP BY column number %d is out of range' % n, g.pos)
                    gnode = items[n - 1][0]
                elif isinstance(g, N.Path) and len(g.parts) == 1 and \
                        g.parts[0].lower() in alias_nodes:
                    # a SELECT-list alias wins over a FROM column of the same name
                    gnode = alias_nodes[g.parts[0].lower()]
                if isinstance(gnode, Column):
                    e = self.column_expr(gnode)
                else:
                    if _has_aggregate(gnode):
                        raise SqlError('GROUP BY clause contains an aggregate function', g.pos)
                    e = self.expr(gnode, pre)
                if T.is_array(e.type) or e.type == 'JSON':
                    raise SqlError('Grouping by expressions of type %s is not allowed'
                                   % _type_name(e.type), g.pos)
                keys[e.key] = e
                group_es.append(e)
            scope_post = _Scope(sources, 'post', 'SELECT list', keys)

        # the select list
        out = []       # (name, E)
        anon = 0
        item_scope = scope_post or plain
        for node, alias, pos in items:
            if isinstance(node, Column):
                if is_agg:
                    e = self.column_expr(node)
                    if e.key not in scope_post.group_keys:
                        raise SqlError('SELECT list expression references column %s which is '
                                       'neither grouped nor aggregated' % node.name, pos)
                else:
                    e = self.column_expr(node)
                name = alias or node.name
            else:
                e = self.expr(node, item_scope.with_mode(item_scope.mode, 'SELECT list'))
                if alias:
                    name = alias
                elif isinstance(node, N.Path):
                    name = self.path_name(node)
                else:
                    name = 'f%d_' % anon
                    anon += 1
            out.append((name, e, pos))
        seen = {}
        for name, e, pos in out:
            low = name.lower()
            if low in seen:
                raise SqlError('Duplicate column names in the result are not supported. Found '
                               'duplicate(s): %s' % name)
            seen[low] = True

        aliases = {name.lower(): e for name, e, _ in out}
        having_e = None
        if sel.having is not None:
            hscope = _Scope(sources, 'post', 'HAVING clause', scope_post.group_keys
                            if scope_post else {}, aliases)
            having_e = self.as_bool(self.expr(sel.having, hscope), sel.having.pos,
                                    'HAVING clause')

        # ORDER BY
        order_parts = []
        for o in sel.order_by:
            e = None
            node = o.expr
            if isinstance(node, N.Literal) and node.type == 'INT64':
                n = node.value
                if n < 1 or n > len(out):
                    raise SqlError('ORDER BY column number %d is out of range' % n, node.pos)
                e = out[n - 1][1]
            elif isinstance(node, N.Path) and len(node.parts) == 1 and \
                    node.parts[0].lower() in aliases:
                e = aliases[node.parts[0].lower()]
            else:
                if is_agg:
                    oscope = _Scope(sources, 'post', 'ORDER BY clause', scope_post.group_keys,
                                    aliases)
                else:
                    oscope = _Scope(sources, 'plain', 'ORDER BY clause', {}, aliases)
                e = self.expr(node, oscope)
                if sel.distinct and not any(e.key == oe.key for _, oe, _ in out):
                    raise SqlError('ORDER BY clause expression references a column which is not '
                                   'visible after SELECT DISTINCT', node.pos)
            if T.is_array(e.type) or e.type == 'JSON':
                raise SqlError('ORDER BY does not support expressions of type %s'
                               % _type_name(e.type), node.pos)
            order_parts.extend(self.order_sql(e, o.desc, o.nulls))

        limit_e = offset_e = None
        if sel.limit is not None:
            limit_e = self.limit_value(sel.limit, 'LIMIT')
        if sel.offset is not None:
            offset_e = self.limit_value(sel.offset, 'OFFSET')

        # ---- emit
        params = []
        sql = ['SELECT ']
        if sel.distinct:
            for name, e, pos in out:
                if T.is_array(e.type) or e.type == 'JSON':
                    raise SqlError('Column %s of type %s cannot be used in SELECT DISTINCT'
                                   % (name, _type_name(e.type)), pos)
            sql.append('DISTINCT ')
        cols_sql = []
        for i, (name, e, pos) in enumerate(out):
            cols_sql.append('%s AS "_c%d"' % (e.sql, i))
            params.extend(e.params)
        sql.append(', '.join(cols_sql))
        if sources:
            sql.append(' FROM ' + self.from_sql)
            params.extend(self.from_params)
        if where_e is not None:
            sql.append(' WHERE ' + where_e.sql)
            params.extend(where_e.params)
        if group_es:
            sql.append(' GROUP BY ' + ', '.join(e.sql for e in group_es))
            for e in group_es:
                params.extend(e.params)
        if having_e is not None:
            sql.append(' HAVING ' + having_e.sql)
            params.extend(having_e.params)
        if order_parts:
            sql.append(' ORDER BY ' + ', '.join(s for s, _ in order_parts))
            for _, ps in order_parts:
                params.extend(ps)
        if limit_e is not None or offset_e is not None:
            sql.append(' LIMIT ' + (limit_e.sql if limit_e is not None else '-1'))
            if limit_e is not None:
                params.extend(limit_e.params)
            if offset_e is not None:
                sql.append(' OFFSET ' + offset_e.sql)
                params.extend(offset_e.params)

        # partition pruning facts for bytes processed
        if sources and sources[0].scan is not None and sel.where is not None:
            _prune(sel.where, sources[0], self, plain)

        comp = Compiled(''.join(sql), params, [(n, e.type, e.nan) for n, e, _ in out])
        comp.is_aggregate = is_agg
        comp.out_exprs = out
        comp.sources = sources
        comp.group_count = len(group_es)
        return comp

    def limit_value(self, node, what):
        e = self.expr(node, _Scope([], 'plain', what))
        if e.type not in ('INT64', 'NULL'):
            raise SqlError('%s expects an integer literal or parameter' % what, node.pos)
        if not e.const:
            raise SqlError('%s expects an integer literal or parameter' % what, node.pos)
        v = self.ctx.catalog.eval_const(e.sql, e.params)
        if v is None or v < 0:
            raise SqlError('%s must not be %s' % (what, 'null' if v is None else 'negative'),
                           node.pos)
        return lit(v, 'INT64')

    def order_sql(self, e, desc, nulls):
        """ORDER BY terms for one key (BigQuery: NULLs first ASC, last DESC by default)."""
        d = ' DESC' if desc else ' ASC'
        parts = []
        if nulls is not None:
            parts.append(('(%s) IS NULL%s' % (e.sql, ' DESC' if nulls == 'FIRST' else ' ASC'),
                          list(e.params)))
        if e.type in ('NUMERIC', 'BIGNUMERIC'):
            parts.append(('bq_numkey(%s)%s' % (e.sql, d), list(e.params)))
        elif e.type == 'FLOAT64' and e.nan:
            # NaN sorts after NULL and before every number (ascending)
            parts.append(("(CASE WHEN (%s) IS NULL THEN 0 WHEN typeof(%s) = 'text' THEN 1 ELSE 2 "
                          "END)%s" % (e.sql, e.sql, d), list(e.params) * 2))
            parts.append(('(%s)%s' % (e.sql, d), list(e.params)))
        else:
            parts.append(('(%s)%s' % (e.sql, d), list(e.params)))
        return parts

    def expand_star(self, it):
        out = []
        if not self.sources:
            raise SqlError('SELECT * must have a FROM clause', it.pos)
        qual = [q.lower() for q in it.star]
        srcs = self.sources
        if qual:
            if len(qual) != 1:
                raise unsupported('This form of .*', it.pos)
            srcs = [s for s in self.sources if s.alias == qual[0]]
            if not srcs:
                raise SqlError('Unrecognized name: %s' % it.star[0], it.pos)
        excepted = {}
        for name, pos in it.except_:
            excepted[name.lower()] = pos
        found = set()
        for s in srcs:
            for c in s.columns:
                if c.name.lower() in excepted:
                    found.add(c.name.lower())
                    continue
                out.append((c, None, it.pos))
        for name, pos in it.except_:
            if name.lower() not in found:
                raise SqlError('Column %s in SELECT * EXCEPT list does not exist' % name, pos)
        if not out:
            raise SqlError('SELECT * expands to zero columns after applying EXCEPT', it.pos)
        return out

    def is_column_name(self, name):
        low = name.lower()
        return any(low in s.by_name for s in self.sources)

    def path_name(self, node):
        cols = self.lookup_path(node, self.sources)
        if cols is not None:
            return cols.name
        return node.parts[-1]

    # ---------------------------------------------------------------- expressions
    def column_expr(self, c):
        if c.scan is not None:
            c.scan.cols.add(c.index)
        return E(c.sql, [], c.type, ('col', c.sql), nan=c.nan)

    def lookup_path(self, node, sources):
        parts = node.parts
        if len(parts) == 1:
            low = parts[0].lower()
            hits = []
            for s in sources:
                hits.extend(s.by_name.get(low, []))
            if len(hits) == 1:
                return hits[0]
            if len(hits) > 1:
                raise SqlError('Column name %s is ambiguous' % parts[0], node.pos)
            return None
        if len(parts) == 2:
            low = parts[0].lower()
            for s in sources:
                if s.alias == low:
                    hits = s.by_name.get(parts[1].lower(), [])
                    if not hits:
                        raise SqlError('Name %s not found inside %s' % (parts[1], parts[0]),
                                       node.pos)
                    return hits[0]
        return None

    def expr(self, node, scope):
        """Translate an expression node in a scope (handles aggregate-query rules)."""
        if scope.mode == 'post':
            if isinstance(node, N.Call) and node.name in AGGREGATES:
                return self.aggregate(node, scope)
            if not isinstance(node, (N.Literal, N.Param)):
                try:
                    pre = self.expr(node, scope.with_mode('pre'))
                except _NeedsAgg:
                    pre = None
                if pre is not None:
                    if pre.key in scope.group_keys or pre.const:
                        return pre
                    if isinstance(node, N.Path):
                        if len(node.parts) == 1 and node.parts[0].lower() in scope.aliases:
                            return scope.aliases[node.parts[0].lower()]
                        col = self.lookup_path(node, scope.sources)
                        name = col.name if col else node.parts[-1]
                        raise SqlError('%s expression references column %s which is neither '
                                       'grouped nor aggregated' % (_clause_title(scope.clause),
                                                                   name), node.pos)
        return self.dispatch(node, scope)

    def dispatch(self, node, scope):
        m = getattr(self, 'x_' + type(node).__name__, None)
        if m is None:
            raise unsupported('Expression %s' % type(node).__name__, node.pos)
        return m(node, scope)

    def x_Literal(self, node, scope):
        if node.type == 'NULL':
            e = E('NULL', [], 'NULL', ('lit', 'NULL', None), const=True)
        elif node.type == 'FLOAT64':
            e = lit(T.float_internal(node.value), 'FLOAT64')
        else:
            e = lit(node.value, node.type)
        e.lit = node
        return e

    def x_Param(self, node, scope):
        ctx = self.ctx
        if ctx.view_stack or getattr(ctx, 'forbid_params', False):
            raise SqlError('Query parameters cannot be used in a view or materialized view '
                           'definition', node.pos)
        if node.name is not None:
            if ctx.param_mode == 'POSITIONAL':
                raise SqlError('Named query parameters cannot be used when parameterMode is '
                               'POSITIONAL', node.pos)
            p = ctx.named.get(node.name.lower())
            if p is None:
                raise SqlError('Query parameter \'%s\' not found' % node.name, node.pos)
        else:
            if ctx.param_mode == 'NAMED':
                raise SqlError('Positional parameters are not supported when parameterMode is '
                               'NAMED', node.pos)
            if node.index is None or node.index >= len(ctx.positional):
                raise SqlError('Query parameter number %d is not defined'
                               % ((node.index or 0) + 1), node.pos)
            p = ctx.positional[node.index]
        typ, value = p
        if T.is_array(typ):
            return E('?', [value], typ, ('param', node.name, node.index), const=True)
        e = lit(value, typ, key=('param', node.name, node.index))
        e.nan = typ == 'FLOAT64'
        return e

    def x_Path(self, node, scope):
        if scope.mode == 'post' or scope.aliases:
            if len(node.parts) == 1 and node.parts[0].lower() in scope.aliases and \
                    not self.is_column_name(node.parts[0]):
                return scope.aliases[node.parts[0].lower()]
        col = self.lookup_path(node, scope.sources)
        if col is None:
            parts = node.parts
            if len(parts) == 1:
                if any(s.alias == parts[0].lower() for s in scope.sources):
                    raise unsupported('Using a table alias as a value (STRUCT)', node.pos)
                raise SqlError('Unrecognized name: %s' % parts[0], node.pos)
            first = self.lookup_path(N.Path([parts[0]], pos=node.pos), scope.sources)
            if first is not None:
                raise SqlError('Cannot access field %s on a value with type %s'
                               % (parts[1], _type_name(first.type)), node.pos)
            raise SqlError('Unrecognized name: %s' % parts[0], node.pos)
        return self.column_expr(col)

    def x_Binary(self, node, scope):
        op = node.op
        if op in ('AND', 'OR'):
            a = self.as_bool(self.expr(node.left, scope), node.left.pos, 'operator ' + op)
            b = self.as_bool(self.expr(node.right, scope), node.right.pos, 'operator ' + op)
            return build('({0} %s {1})' % op, [a, b], 'BOOL', (op, a.key, b.key))
        a = self.expr(node.left, scope)
        b = self.expr(node.right, scope)
        if op in ('=', '!=', '<', '<=', '>', '>='):
            return self.comparison(op, a, b, node.pos)
        if op in ('+', '-'):
            if b.type == 'INTERVAL' or a.type == 'INTERVAL':
                raise unsupported('Arithmetic with INTERVAL values (use TIMESTAMP_ADD/DATE_ADD)',
                                  node.pos)
            return self.arith(op, a, b, node.pos)
        if op == '*':
            return self.arith(op, a, b, node.pos)
        if op == '/':
            t = self.numeric_super(a, b, op, node.pos)
            if t in ('NUMERIC', 'BIGNUMERIC'):
                a2, b2 = self.coerce(a, t, node.pos), self.coerce(b, t, node.pos)
                return build('bq_num_div({0}, {1}, %d, 0)' % (t == 'BIGNUMERIC'), [a2, b2], t,
                             ('/', a.key, b.key))
            return build('bq_div({0}, {1}, 0)', [a, b], 'FLOAT64', ('/', a.key, b.key))
        if op == '||':
            return self.concat([a, b], node.pos, '||')
        if op in ('&', '|', '^', '<<', '>>'):
            if a.type not in ('INT64', 'NULL') or b.type not in ('INT64', 'NULL'):
                raise self.no_signature('operator ' + op, [a, b], node.pos)
            if op == '^':
                return build('bq_xor({0}, {1})', [a, b], 'INT64', (op, a.key, b.key))
            return build('({0} %s {1})' % op, [a, b], 'INT64', (op, a.key, b.key))
        raise unsupported('Operator %s' % op, node.pos)

    def x_Unary(self, node, scope):
        e = self.expr(node.expr, scope)
        if node.op == 'NOT':
            e = self.as_bool(e, node.pos, 'operator NOT')
            return build('(NOT {0})', [e], 'BOOL', ('NOT', e.key))
        if node.op == '+':
            if e.type not in T.NUMERIC_TYPES and e.type != 'NULL':
                raise self.no_signature('operator +', [e], node.pos)
            return e
        if node.op == '~':
            if e.type not in ('INT64', 'NULL'):
                raise self.no_signature('operator ~', [e], node.pos)
            return build('(~{0})', [e], 'INT64', ('~', e.key))
        if e.type in ('NUMERIC', 'BIGNUMERIC'):
            return build('bq_num_neg({0})', [e], e.type, ('neg', e.key))
        if e.type == 'FLOAT64':
            return build('(-{0})', [self.numf(e)], 'FLOAT64', ('neg', e.key))
        if e.type in ('INT64', 'NULL'):
            return build("bq_int_arith(0, {0}, '-')", [e], 'INT64', ('neg', e.key))
        raise self.no_signature('operator -', [e], node.pos)

    def x_Between(self, node, scope):
        x = self.expr(node.expr, scope)
        lo = self.expr(node.low, scope)
        hi = self.expr(node.high, scope)
        t = self.supertype([x, lo, hi], node.pos, 'operator BETWEEN')
        self.check_comparable(t, [x, lo, hi], node.pos, 'BETWEEN')
        x, lo, hi = (self.cmp_operand(self.coerce(e, t, node.pos), t) for e in (x, lo, hi))
        tmpl = '({0} NOT BETWEEN {1} AND {2})' if node.negated else '({0} BETWEEN {1} AND {2})'
        return build(tmpl, [x, lo, hi], 'BOOL', ('between', node.negated, x.key, lo.key, hi.key))

    def x_InList(self, node, scope):
        x = self.expr(node.expr, scope)
        items = [self.expr(i, scope) for i in node.items]
        t = self.supertype([x] + items, node.pos, 'operator IN')
        self.check_comparable(t, [x] + items, node.pos, 'IN')
        if t == 'FLOAT64':
            return self.float_in(x, items, node.negated, node.pos)
        x = self.eq_operand(self.coerce(x, t, node.pos), t)
        items = [self.eq_operand(self.coerce(i, t, node.pos), t) for i in items]
        tmpl = '({0} %s (%s))' % ('NOT IN' if node.negated else 'IN',
                                  ', '.join('{%d}' % (i + 1) for i in range(len(items))))
        return build(tmpl, [x] + items, 'BOOL', ('in', node.negated, x.key,
                                                 tuple(i.key for i in items)))

    def x_InUnnest(self, node, scope):
        x = self.expr(node.expr, scope)
        arr_node = node.array
        if isinstance(arr_node, N.ArrayLit):
            return self.x_InList(N.InList(node.expr, arr_node.items, node.negated,
                                          pos=node.pos), scope)
        arr = self.expr(arr_node, scope)
        if not T.is_array(arr.type):
            raise SqlError('Values referenced in UNNEST must be arrays. UNNEST contains '
                           'expression of type %s' % _type_name(arr.type), arr_node.pos)
        et = T.array_elem(arr.type)
        if arr.const and isinstance(arr_node, N.Param):
            values = arr.params[0]
            items = []
            for v in values:
                e = lit(v, et)
                items.append(e)
            t = self.supertype([x] + items, node.pos, 'operator IN') if items else x.type
            self.check_comparable(t if t != 'NULL' else et, [x], node.pos, 'IN')
            if not items:
                # x IN UNNEST([]) is FALSE (and NOT IN is TRUE), even for a NULL x
                return lit(1 if node.negated else 0, 'BOOL')
            if t == 'FLOAT64':
                return self.float_in(x, items, node.negated, node.pos)
            x2 = self.eq_operand(self.coerce(x, t, node.pos), t)
            items = [self.eq_operand(self.coerce(i, t, node.pos), t) for i in items]
            tmpl = '({0} %s (%s))' % ('NOT IN' if node.negated else 'IN',
                                      ', '.join('{%d}' % (i + 1) for i in range(len(items))))
            return build(tmpl, [x2] + items, 'BOOL', ('in', node.negated, x.key, arr.key))
        t = self.supertype([x, E('', [], et, None)], node.pos, 'operator IN')
        if t != et:
            raise self.no_signature('operator IN UNNEST', [x, arr], node.pos)
        e = build('bq_array_has({0}, {1})', [arr, x], 'BOOL', ('inunnest', x.key, arr.key))
        if node.negated:
            e = build('(NOT {0})', [e], 'BOOL', ('NOT', e.key))
        return e

    def x_IsTest(self, node, scope):
        e = self.expr(node.expr, scope)
        if node.what == 'NULL':
            tmpl = '({0} IS NOT NULL)' if node.negated else '({0} IS NULL)'
            return build(tmpl, [e], 'BOOL', ('isnull', node.negated, e.key))
        e = self.as_bool(e, node.pos, 'IS ' + node.what)
        v = 1 if node.what == 'TRUE' else 0
        tmpl = '({0} IS NOT %d)' % v if node.negated else '({0} IS %d)' % v
        return build(tmpl, [e], 'BOOL', ('is', node.what, node.negated, e.key))

    def x_Like(self, node, scope):
        x = self.expr(node.expr, scope)
        p = self.expr(node.pattern, scope)
        t = self.supertype([x, p], node.pos, 'operator LIKE')
        if t not in ('STRING', 'BYTES', 'NULL'):
            raise self.no_signature('operator LIKE', [x, p], node.pos)
        tmpl = "({0} %s {1} ESCAPE '\\')" % ('NOT LIKE' if node.negated else 'LIKE')
        return build(tmpl, [x, p], 'BOOL', ('like', node.negated, x.key, p.key))

    def x_Case(self, node, scope):
        results = [self.expr(r, scope) for _, r in node.whens]
        if node.else_ is not None:
            results.append(self.expr(node.else_, scope))
        rt = self.supertype(results, node.pos, 'CASE')
        results = [self.coerce(r, rt, node.pos) for r in results]
        parts = []
        tmpl = ['(CASE']
        keys = ['case']
        if node.operand is not None:
            op = self.expr(node.operand, scope)
            conds = [self.expr(c, scope) for c, _ in node.whens]
            ct = self.supertype([op] + conds, node.pos, 'CASE')
            self.check_comparable(ct, [op] + conds, node.pos, 'CASE')
            op = self.eq_operand(self.coerce(op, ct, node.pos), ct)
            conds = [self.eq_operand(self.coerce(c, ct, node.pos), ct) for c in conds]
            parts.append(op)
            tmpl.append(' {0}')
            keys.append(op.key)
        else:
            conds = [self.as_bool(self.expr(c, scope), c.pos, 'CASE WHEN')
                     for c, _ in node.whens]
        for c, r in zip(conds, results):
            parts.append(c)
            tmpl.append(' WHEN {%d}' % (len(parts) - 1))
            parts.append(r)
            tmpl.append(' THEN {%d}' % (len(parts) - 1))
            keys.append((c.key, r.key))
        if node.else_ is not None:
            parts.append(results[-1])
            tmpl.append(' ELSE {%d}' % (len(parts) - 1))
            keys.append(('else', results[-1].key))
        tmpl.append(' END)')
        return build(''.join(tmpl), parts, rt if rt != 'NULL' else 'INT64', tuple(keys),
                     nan=any(r.nan for r in results))

    def x_Cast(self, node, scope):
        e = self.expr(node.expr, scope)
        dst = node.type
        return self.cast(e, dst, node.safe, node.pos)

    def cast(self, e, dst, safe, pos):
        src = e.type
        if src == 'NULL':
            return E('NULL', [], dst, ('lit', dst, None), const=True)
        if T.is_array(dst) or T.is_array(src):
            if src == dst:
                return e
            raise unsupported('CAST of ARRAY values', pos)
        if src == dst:
            return e
        if dst == 'JSON' or src == 'JSON':
            if dst == 'STRING' and src == 'JSON':
                raise SqlError('Invalid cast from JSON to STRING (use TO_JSON_STRING)', pos)
            raise SqlError('Invalid cast from %s to %s' % (src, dst), pos)
        allowed = _CASTS.get(src, ())
        if dst not in allowed:
            raise SqlError('Invalid cast from %s to %s' % (src, dst), pos)
        # literals are converted now, so a bad literal is an analysis error as in BigQuery
        if e.lit is not None and e.const and not safe:
            from .functions import _cast
            try:
                v = _cast(e.params[0] if e.params else None, src, dst)
            except T.ValueError_:
                if src == 'STRING':
                    raise SqlError('Could not cast literal %s to type %s'
                                   % (_sql_quote(e.params[0]), dst), pos) from None
                raise SqlError('Invalid cast from %s to %s' % (src, dst), pos) from None
            return lit(v, dst)
        if src == 'INT64' and dst == 'FLOAT64':
            return build('CAST({0} AS REAL)', [e], 'FLOAT64', ('cast', dst, e.key))
        if src == 'INT64' and dst == 'STRING':
            return build('CAST({0} AS TEXT)', [e], 'STRING', ('cast', dst, e.key))
        return build("bq_cast({0}, '%s', '%s', %d)" % (src, dst, 1 if safe else 0), [e], dst,
                     ('cast', dst, safe, e.key), nan=(dst == 'FLOAT64'))

    def x_Extract(self, node, scope):
        e = self.expr(node.expr, scope)
        part = node.part.name
        src = e.type
        if src == 'NULL':
            src = 'TIMESTAMP'
        if e.lit is not None and e.type == 'STRING':
            raise self.no_signature('EXTRACT', [e], node.pos)
        if src not in ('TIMESTAMP', 'DATE', 'DATETIME', 'TIME'):
            raise self.no_signature('EXTRACT', [e], node.pos)
        self.check_part(part, node.part.pos, _EXTRACT_PARTS[src])
        tz = self.tz_arg(node.tz, scope) if node.tz is not None else None
        if tz is not None and src != 'TIMESTAMP':
            raise SqlError('EXTRACT from %s does not support AT TIME ZONE' % src, node.pos)
        rt = {'DATE': 'DATE', 'TIME': 'TIME', 'DATETIME': 'DATETIME'}.get(part, 'INT64')
        if src == 'TIMESTAMP' and tz is None and part in ('HOUR', 'MINUTE', 'SECOND',
                                                          'MILLISECOND', 'MICROSECOND'):
            u, m = {'HOUR': (3600000000, 24), 'MINUTE': (60000000, 60), 'SECOND': (1000000, 60),
                    'MILLISECOND': (1000, 1000), 'MICROSECOND': (1, 1000000)}[part]
            span = u * m
            # floor-mod first: SQLite's % and / truncate toward zero for times before 1970
            return build('(((({0} %% %d) + %d) %% %d) / %d)' % (span, span, span, u), [e],
                         'INT64', ('extract', part, e.key))
        tzp = tz if tz is not None else lit(None, 'STRING')
        return build("bq_extract('%s', '%s', {0}, {1})" % (part, src), [e, tzp], rt,
                     ('extract', part, e.key, tzp.key))

    def x_ArrayLit(self, node, scope):
        items = [self.expr(i, scope) for i in node.items]
        et = node.elem_type
        if et is None:
            et = self.supertype(items, node.pos, 'ARRAY') if items else 'INT64'
            if et == 'NULL':
                et = 'INT64'
        if not all(i.const for i in items):
            raise unsupported('ARRAY literals with non-constant elements', node.pos)
        values = []
        for i in items:
            c = self.coerce(i, et, node.pos)
            values.append(self.ctx.catalog.eval_const(c.sql, c.params))
        return E('?', [T.array_to_storage(et, values)], T.array_of(et),
                 ('array', tuple(map(_hashable, values))), const=True)

    def x_Interval(self, node, scope):
        raise SqlError('INTERVAL is only supported as an argument of TIMESTAMP_ADD, '
                       'TIMESTAMP_SUB, DATE_ADD, DATE_SUB, DATETIME_ADD and DATETIME_SUB in the '
                       'emulator', node.pos)

    def x_Call(self, node, scope):
        name = node.name
        if name in UNSUPPORTED_AGGREGATES:
            raise unsupported('Aggregate function %s' % name, node.pos)
        if name in AGGREGATES:
            if scope.mode == 'pre':
                raise _NeedsAgg()
            where = scope.clause
            if scope.mode == 'plain' and where in ('WHERE clause',):
                raise SqlError('Aggregate function %s not allowed in WHERE clause' % name,
                               node.pos)
            if scope.mode == 'agg_arg':
                raise SqlError('Aggregations of aggregations are not allowed', node.pos)
            raise SqlError('Aggregate function %s not allowed in %s' % (name, where), node.pos)
        handler = _FUNCTIONS.get(name)
        if handler is None:
            raise SqlError('Function not found: %s' % name.lower(), node.pos) \
                if name not in _KNOWN_UNSUPPORTED else unsupported('Function %s' % name, node.pos)
        if node.distinct or node.star:
            raise SqlError('%s is not an aggregate function' % name, node.pos)
        return handler(self, node, scope)

    # ---------------------------------------------------------------- aggregates
    def aggregate(self, node, scope):
        name = node.name
        ctx = self.ctx
        arg_scope = scope.with_mode('agg_arg', 'aggregate function argument')
        if getattr(ctx, 'mv_check', False) and name not in MV_AGGREGATES:
            raise SqlError('Incremental materialized view query contains unsupported feature: '
                           'aggregate function %s' % name, node.pos)
        if name == 'COUNT' and node.star:
            return E('count(*)', [], 'INT64', ('count*',), agg=True)
        if len(node.args) != 1:
            raise SqlError('Number of arguments does not match for aggregate function %s'
                           % name, node.pos)
        a = self.agg_arg(node.args[0], arg_scope)
        d = 'DISTINCT ' if node.distinct else ''
        if node.distinct and getattr(ctx, 'mv_check', False):
            raise SqlError('Incremental materialized view query contains unsupported feature: '
                           '%s(DISTINCT ...); use APPROX_COUNT_DISTINCT' % name, node.pos)
        key = ('agg', name, node.distinct, a.key)
        if node.distinct and (T.is_array(a.type) or a.type == 'JSON'):
            raise SqlError('Aggregate functions with DISTINCT cannot be used with arguments of '
                           'type %s' % _type_name(a.type), node.pos)
        if name in ('COUNT', 'APPROX_COUNT_DISTINCT'):
            if name == 'APPROX_COUNT_DISTINCT':
                d = 'DISTINCT '
            return build('count(%s{0})' % d, [a], 'INT64', key, agg=True)
        if name == 'COUNTIF':
            a = self.as_bool(a, node.pos, 'COUNTIF')
            return build('count(%sCASE WHEN {0} THEN 1 END)' % d, [a], 'INT64', key, agg=True)
        if name in ('LOGICAL_AND', 'LOGICAL_OR'):
            a = self.as_bool(a, node.pos, name)
            return build('%s({0})' % ('min' if name == 'LOGICAL_AND' else 'max'), [a], 'BOOL',
                         key, agg=True)
        t = a.type
        if name in ('SUM', 'AVG'):
            if t == 'NULL':
                t = 'INT64'
            if t not in T.NUMERIC_TYPES:
                raise self.no_signature('aggregate function ' + name, [a], node.pos)
            if t in ('NUMERIC', 'BIGNUMERIC'):
                fn = ('bq_num_' if t == 'NUMERIC' else 'bq_bignum_') + name.lower()
                if d:
                    return build('%s(DISTINCT {0})' % fn, [a], t, key, agg=True)
                return build('%s({0})' % fn, [a], t, key, agg=True)
            if name == 'SUM':
                return build('sum(%s{0})' % d, [self.numf(a)], t, key, agg=True)
            return build('avg(%s{0})' % d, [self.numf(a)], 'FLOAT64', key, agg=True)
        if name in ('MIN', 'MAX'):
            if T.is_array(t) or t == 'JSON':
                raise self.no_signature('aggregate function ' + name, [a], node.pos)
            if t in ('NUMERIC', 'BIGNUMERIC'):
                return build('bq_num_%s({0})' % name.lower(), [a], t, key, agg=True)
            return build('%s({0})' % name.lower(), [self.numf(a)],
                         t if t != 'NULL' else 'INT64', key, agg=True)
        if name == 'ANY_VALUE':
            return build('min({0})', [a], t if t != 'NULL' else 'INT64', key, agg=True,
                         nan=a.nan)
        raise unsupported('Aggregate function %s' % name, node.pos)

    def agg_arg(self, node, scope):
        # an aggregate argument is evaluated per input row: columns are free, no nesting
        if _has_aggregate(node):
            raise SqlError('Aggregations of aggregations are not allowed', node.pos)
        return self.expr(node, _Scope(scope.sources, 'plain', 'aggregate function argument'))

    # ---------------------------------------------------------------- typing helpers
    def no_signature(self, what, args, pos):
        return SqlError('No matching signature for %s for argument types: %s'
                        % (what, ', '.join(_type_name(a.type) for a in args)), pos)

    def as_bool(self, e, pos, what):
        if e.type == 'NULL':
            return E('NULL', [], 'BOOL', e.key, const=True)
        if e.type != 'BOOL':
            if what in ('WHERE clause', 'HAVING clause', 'JOIN ON clause'):
                raise SqlError('%s should return type BOOL, but returns %s'
                               % (what, _type_name(e.type)), pos)
            raise SqlError('No matching signature for %s for argument types: %s'
                           % (what, _type_name(e.type)), pos)
        return e

    def numf(self, e):
        """FLOAT64 operand for arithmetic/comparison: the stored 'NaN' text behaves as NULL."""
        if e.type == 'FLOAT64' and e.nan:
            if e.sql == '?':
                v = e.params[0]
                if isinstance(v, str):
                    return E('NULL', [], 'FLOAT64', e.key, const=True)
                return e
            return build("(CASE WHEN typeof({0}) = 'text' THEN NULL ELSE {0} END)", [e],
                         'FLOAT64', e.key)
        return e

    def supertype(self, es, pos, what):
        types = [e.type for e in es if e.type != 'NULL']
        if not types:
            return 'NULL'
        non_lit = [e.type for e in es if e.type != 'NULL' and not (e.lit is not None and
                                                                   e.type == 'STRING')]
        first = non_lit[0] if non_lit else types[0]
        if all(t == first for t in types):
            return first
        if all(t in _NUMERIC_RANK for t in types):
            return max(types, key=lambda t: _NUMERIC_RANK[t])
        # string literals coerce to the date/time type of the other operands
        if first in ('DATE', 'TIMESTAMP', 'DATETIME', 'TIME') and all(
                e.type in (first, 'NULL') or (e.lit is not None and e.type == 'STRING')
                for e in es):
            return first
        raise SqlError('No matching signature for %s for argument types: %s'
                       % (what, ', '.join(_type_name(e.type) for e in es)), pos)

    def coerce(self, e, t, pos):
        if e.type == t or t == 'NULL':
            return e
        if e.type == 'NULL':
            if not e.const:
                # ERROR(): of whatever type its context needs
                return E(e.sql, e.params, t, e.key, e.agg)
            return E('NULL', [], t, e.key, const=True)
        if e.type == 'STRING' and e.lit is not None and t in ('DATE', 'TIMESTAMP', 'DATETIME',
                                                              'TIME'):
            s = e.params[0]
            try:
                v = {'DATE': T.parse_date_text, 'TIMESTAMP': T.parse_timestamp_text,
                     'DATETIME': T.parse_datetime_text, 'TIME': T.parse_time_text}[t](s)
            except T.ValueError_:
                raise SqlError('Could not cast literal %s to type %s' % (_sql_quote(s), t),
                               pos) from None
            return lit(v, t)
        if t == 'FLOAT64' and e.type == 'INT64':
            return E(e.sql, e.params, 'FLOAT64', e.key, e.agg, False, e.const, e.lit)
        if t == 'FLOAT64' and e.type in ('NUMERIC', 'BIGNUMERIC'):
            return build('CAST({0} AS REAL)', [e], 'FLOAT64', ('tofloat', e.key))
        if t in ('NUMERIC', 'BIGNUMERIC') and e.type in ('INT64', 'NUMERIC', 'BIGNUMERIC'):
            if e.type in ('NUMERIC', 'BIGNUMERIC'):
                return E(e.sql, e.params, t, e.key, e.agg, False, e.const, e.lit)
            if e.sql == '?' and e.const:
                return lit(str(e.params[0]), t)  # an int's canonical decimal text
            return build('bq_num_from({0}, %d)' % (t == 'BIGNUMERIC'), [e], t, ('tonum', e.key))
        raise SqlError('No matching signature: cannot coerce %s to %s'
                       % (_type_name(e.type), _type_name(t)), pos)

    def check_comparable(self, t, es, pos, what):
        if t == 'NULL':
            return
        if t not in _COMPARABLE:
            raise SqlError('%s is not defined for arguments of type %s'
                           % ('Equality' if what in ('=', '!=', 'IN', 'CASE') else 'Comparison',
                              _type_name(t)), pos)

    def cmp_operand(self, e, t):
        if t in ('NUMERIC', 'BIGNUMERIC'):
            if e.sql == '?' and e.const:
                return lit(T.numeric_key(e.params[0]), 'STRING', key=('numkey', e.key))
            if e.sql == 'NULL':
                return e
            return build('bq_numkey({0})', [e], t, ('numkey', e.key))
        return self.numf(e)

    def eq_operand(self, e, t):
        # canonical NUMERIC text makes equality a text comparison
        return self.numf(e)

    def comparison(self, op, a, b, pos):
        t = self.supertype([a, b], pos, 'operator ' + op)
        self.check_comparable(t, [a, b], pos, op)
        a2 = self.coerce(a, t, pos)
        b2 = self.coerce(b, t, pos)
        if t == 'FLOAT64' and (a2.nan or b2.nan):
            # IEEE: every comparison with a NaN is FALSE, but != which is TRUE (NULL stays NULL)
            return build('(CASE WHEN {0} IS NULL OR {1} IS NULL THEN NULL '
                         'WHEN bq_is_nan({0}) OR bq_is_nan({1}) THEN %d ELSE ({2} %s {3}) END)'
                         % (op == '!=', op),
                         [a2, b2, self.numf(a2), self.numf(b2)], 'BOOL', (op, a.key, b.key))
        if op in ('=', '!='):
            a2, b2 = self.eq_operand(a2, t), self.eq_operand(b2, t)
        else:
            a2, b2 = self.cmp_operand(a2, t), self.cmp_operand(b2, t)
        return build('({0} %s {1})' % op, [a2, b2], 'BOOL', (op, a.key, b.key))

    def float_in(self, x, items, negated, pos):
        """x [NOT] IN (items) on FLOAT64: x = i1 OR x = i2 ..., NaN equal to nothing."""
        e = None
        for i in items:
            eq = self.comparison('=', x, i, pos)
            e = eq if e is None else build('({0} OR {1})', [e, eq], 'BOOL', ('OR', e.key, eq.key))
        if negated:
            e = build('(NOT {0})', [e], 'BOOL', ('NOT', e.key))
        return e

    def numeric_super(self, a, b, op, pos):
        ta = a.type if a.type != 'NULL' else 'INT64'
        tb = b.type if b.type != 'NULL' else 'INT64'
        if ta not in _NUMERIC_RANK or tb not in _NUMERIC_RANK:
            raise self.no_signature('operator ' + op, [a, b], pos)
        return max((ta, tb), key=lambda t: _NUMERIC_RANK[t])

    def arith(self, op, a, b, pos):
        t = self.numeric_super(a, b, op, pos)
        key = (op, a.key, b.key)
        if t in ('NUMERIC', 'BIGNUMERIC'):
            a2, b2 = self.coerce(a, t, pos), self.coerce(b, t, pos)
            fn = {'+': 'bq_num_add', '-': 'bq_num_sub', '*': 'bq_num_mul'}[op]
            return build('%s({0}, {1}, %d)' % (fn, t == 'BIGNUMERIC'), [a2, b2], t, key)
        if t == 'FLOAT64':
            return build('({0} %s {1})' % op, [self.numf(a), self.numf(b)], 'FLOAT64', key)
        # checked: SQLite would silently turn an overflowing integer into a REAL
        return build("bq_int_arith({0}, {1}, '%s')" % op, [a, b], 'INT64', key)

    def concat(self, es, pos, what):
        t = self.supertype(es, pos, 'function CONCAT' if what == 'CONCAT' else 'operator ||')
        if t not in ('STRING', 'BYTES', 'NULL'):
            raise SqlError('No matching signature for %s for argument types: %s. Supported '
                           'signatures: CONCAT(STRING, [STRING, ...]); CONCAT(BYTES, '
                           '[BYTES, ...])' % ('function CONCAT' if what == 'CONCAT'
                                               else 'operator ||',
                                               ', '.join(_type_name(e.type) for e in es)), pos)
        if t == 'BYTES':
            tmpl = 'bq_concat_bytes(%s)' % ', '.join('{%d}' % i for i in range(len(es)))
        else:
            tmpl = '(%s)' % ' || '.join('{%d}' % i for i in range(len(es)))
        return build(tmpl, es, t if t != 'NULL' else 'STRING',
                     ('concat', tuple(e.key for e in es)))

    def check_part(self, part, pos, allowed):
        if part not in allowed:
            base = part.split('(')[0]
            if base in ('WEEK',) and 'WEEK' in allowed and part[5:-1] in _WEEKDAYS:
                return
            raise SqlError('A valid date part name is required but found %s' % part
                           if part not in _ALL_PARTS else
                           '%s is not a valid date part here' % part, pos)

    def tz_arg(self, node, scope):
        e = self.expr(node, scope)
        if e.type != 'STRING':
            raise SqlError('Time zone must be a STRING', node.pos)
        if e.const and e.sql == '?':
            tz = e.params[0]
            try:
                if tz.upper() != 'UTC' and tz[0] not in '+-':
                    T.zone_info(tz)
            except T.ValueError_:
                raise SqlError('Invalid time zone: %s' % tz, node.pos) from None
        return e

    def date_part_arg(self, node, allowed):
        """The unit argument of TIMESTAMP_TRUNC, DATE_DIFF…: DAY, WEEK(MONDAY) …"""
        if isinstance(node, N.Path) and len(node.parts) == 1:
            part = node.parts[0].upper()
        elif isinstance(node, N.Call) and node.name == 'WEEK' and len(node.args) == 1 and \
                isinstance(node.args[0], N.Path):
            part = 'WEEK(%s)' % node.args[0].parts[0].upper()
        else:
            raise SqlError('A valid date part name is required', node.pos)
        self.check_part(part, node.pos, allowed)
        return part


def _clause_title(clause):
    return {'SELECT list': 'SELECT list', 'HAVING clause': 'HAVING clause',
            'ORDER BY clause': 'ORDER BY clause'}.get(clause, clause)


def _type_name(t):
    if t == 'NULL':
        return 'INT64'
    return t


def _sql_quote(s):
    return '"%s"' % s.replace('\\', '\\\\').replace('"', '\\"')


def _has_aggregate(node):
    """Does the expression contain an aggregate call (not looking into subqueries)?"""
    if node is None or not isinstance(node, N.Node):
        return False
    if isinstance(node, N.Call) and node.name in AGGREGATES:
        return True
    for f in node.fields:
        v = getattr(node, f)
        if isinstance(v, N.Node):
            if isinstance(v, (N.Select,)):
                continue
            if _has_aggregate(v):
                return True
        elif isinstance(v, list):
            for x in v:
                if isinstance(x, tuple):
                    if any(_has_aggregate(y) for y in x):
                        return True
                elif _has_aggregate(x):
                    return True
    return False


class _ViewContext:
    """Delegates to the job's context while compiling a view body (params forbidden)."""

    def __init__(self, ctx):
        self.__dict__['_ctx'] = ctx

    def __getattr__(self, name):
        if name == 'forbid_params':
            return True
        return getattr(self._ctx, name)

    def __setattr__(self, name, value):
        setattr(self._ctx, name, value)


# ====================================================================== casts and parts

_CASTS = {
    'INT64': ('FLOAT64', 'NUMERIC', 'BIGNUMERIC', 'BOOL', 'STRING'),
    'FLOAT64': ('INT64', 'NUMERIC', 'BIGNUMERIC', 'STRING'),
    'NUMERIC': ('INT64', 'FLOAT64', 'BIGNUMERIC', 'STRING'),
    'BIGNUMERIC': ('INT64', 'FLOAT64', 'NUMERIC', 'STRING'),
    'BOOL': ('INT64', 'STRING'),
    'STRING': ('INT64', 'FLOAT64', 'NUMERIC', 'BIGNUMERIC', 'BOOL', 'BYTES', 'DATE', 'DATETIME',
               'TIME', 'TIMESTAMP'),
    'BYTES': ('STRING',),
    'DATE': ('STRING', 'DATETIME', 'TIMESTAMP'),
    'DATETIME': ('STRING', 'DATE', 'TIME', 'TIMESTAMP'),
    'TIME': ('STRING',),
    'TIMESTAMP': ('STRING', 'DATE', 'DATETIME', 'TIME'),
}

_TIME_PARTS = ('MICROSECOND', 'MILLISECOND', 'SECOND', 'MINUTE', 'HOUR')
_ALL_PARTS = set(_TIME_PARTS) | set(_DATE_PARTS) | {'DAYOFWEEK', 'DAYOFYEAR', 'DATE', 'TIME',
                                                      'DATETIME'} | \
    {'WEEK(%s)' % d for d in _WEEKDAYS}
_EXTRACT_PARTS = {
    'TIMESTAMP': _ALL_PARTS,
    'DATETIME': _ALL_PARTS - {'DATETIME'},
    'DATE': set(_DATE_PARTS) | {'DAYOFWEEK', 'DAYOFYEAR'} | {'WEEK(%s)' % d for d in _WEEKDAYS},
    'TIME': set(_TIME_PARTS),
}
_TRUNC_TS_PARTS = set(_TIME_PARTS) | set(_DATE_PARTS) | {'WEEK(%s)' % d for d in _WEEKDAYS}
_TRUNC_DATE_PARTS = set(_DATE_PARTS) | {'WEEK(%s)' % d for d in _WEEKDAYS}
_DIFF_DATE_PARTS = _TRUNC_DATE_PARTS


# ====================================================================== scalar functions

def _args(c, node, scope, lo, hi=None):
    n = len(node.args)
    hi = lo if hi is None else hi
    if n < lo or n > hi:
        raise SqlError('Number of arguments does not match for function %s' % node.name,
                       node.pos)
    return [c.expr(a, scope) for a in node.args]


def _f_coalesce(c, node, scope):
    es = _args(c, node, scope, 1, 999)
    t = c.supertype(es, node.pos, 'function ' + node.name)
    es = [c.coerce(e, t, node.pos) for e in es]
    if len(es) == 1:
        return es[0]
    fn = 'ifnull' if node.name == 'IFNULL' else 'coalesce'
    if node.name == 'IFNULL' and len(es) != 2:
        raise SqlError('Number of arguments does not match for function IFNULL', node.pos)
    return build('%s(%s)' % (fn, ', '.join('{%d}' % i for i in range(len(es)))), es,
                 t if t != 'NULL' else 'INT64', (fn, tuple(e.key for e in es)),
                 nan=any(e.nan for e in es))


def _f_nullif(c, node, scope):
    a, b = _args(c, node, scope, 2)
    t = c.supertype([a, b], node.pos, 'function NULLIF')
    c.check_comparable(t, [a, b], node.pos, '=')
    return build('nullif({0}, {1})', [c.coerce(a, t, node.pos), c.coerce(b, t, node.pos)],
                 t if t != 'NULL' else 'INT64', ('nullif', a.key, b.key))


def _f_if(c, node, scope):
    cond, a, b = _args(c, node, scope, 3)
    cond = c.as_bool(cond, node.pos, 'function IF')
    t = c.supertype([a, b], node.pos, 'function IF')
    a, b = c.coerce(a, t, node.pos), c.coerce(b, t, node.pos)
    return build('(CASE WHEN {0} THEN {1} ELSE {2} END)', [cond, a, b],
                 t if t != 'NULL' else 'INT64', ('if', cond.key, a.key, b.key),
                 nan=a.nan or b.nan)


def _string_or_bytes(c, node, e, what=None):
    if e.type not in ('STRING', 'BYTES', 'NULL'):
        raise c.no_signature('function ' + (what or node.name), [e], node.pos)
    return e.type if e.type != 'NULL' else 'STRING'


def _f_lower_upper(c, node, scope):
    (e,) = _args(c, node, scope, 1)
    t = _string_or_bytes(c, node, e)
    return build('bq_%s({0})' % node.name.lower(), [e], t, (node.name, e.key))


def _f_length(c, node, scope):
    (e,) = _args(c, node, scope, 1)
    t = _string_or_bytes(c, node, e)
    if node.name in ('CHAR_LENGTH', 'CHARACTER_LENGTH') and t != 'STRING':
        raise c.no_signature('function ' + node.name, [e], node.pos)
    return build('length({0})', [e], 'INT64', ('length', e.key))


def _f_byte_length(c, node, scope):
    (e,) = _args(c, node, scope, 1)
    _string_or_bytes(c, node, e)
    return build('length(CAST({0} AS BLOB))', [e], 'INT64', ('byte_length', e.key))


def _f_concat(c, node, scope):
    es = _args(c, node, scope, 1, 999)
    return c.concat(es, node.pos, 'CONCAT')


def _f_round(c, node, scope):
    es = _args(c, node, scope, 1, 2)
    x = es[0]
    places = es[1] if len(es) > 1 else lit(0, 'INT64')
    if places.type not in ('INT64', 'NULL'):
        raise c.no_signature('function ' + node.name, es, node.pos)
    t = x.type if x.type != 'NULL' else 'FLOAT64'
    if t not in T.NUMERIC_TYPES:
        raise c.no_signature('function ' + node.name, es, node.pos)
    mode = node.name.lower()
    if t in ('NUMERIC', 'BIGNUMERIC'):
        if mode == 'round':
            return build('bq_num_round({0}, {1}, %d)' % (t == 'BIGNUMERIC'), [x, places], t,
                         (mode, x.key, places.key))
        return build("bq_num_trunc({0}, {1}, %d, '%s')" % (t == 'BIGNUMERIC', mode),
                     [x, places], t, (mode, x.key, places.key))
    if mode == 'round':
        return build('bq_round({0}, {1})', [x, places], 'FLOAT64', (mode, x.key, places.key),
                     nan=True)
    return build("bq_ftrunc({0}, {1}, '%s')" % mode, [x, places], 'FLOAT64',
                 (mode, x.key, places.key), nan=True)


def _f_floor_ceil(c, node, scope):
    (x,) = _args(c, node, scope, 1)
    t = x.type if x.type != 'NULL' else 'FLOAT64'
    if t not in T.NUMERIC_TYPES:
        raise c.no_signature('function ' + node.name, [x], node.pos)
    mode = 'floor' if node.name == 'FLOOR' else 'ceil'
    zero = lit(0, 'INT64')
    if t in ('NUMERIC', 'BIGNUMERIC'):
        return build("bq_num_trunc({0}, {1}, %d, '%s')" % (t == 'BIGNUMERIC', mode),
                     [x, zero], t, (mode, x.key))
    return build("bq_ftrunc({0}, {1}, '%s')" % mode, [x, zero], 'FLOAT64', (mode, x.key),
                 nan=True)


def _f_abs(c, node, scope):
    (x,) = _args(c, node, scope, 1)
    t = x.type if x.type != 'NULL' else 'INT64'
    if t not in T.NUMERIC_TYPES:
        raise c.no_signature('function ABS', [x], node.pos)
    if t in ('NUMERIC', 'BIGNUMERIC'):
        return build('bq_num_abs({0})', [x], t, ('abs', x.key))
    return build('abs({0})', [c.numf(x)], t, ('abs', x.key))


def _f_sign(c, node, scope):
    (x,) = _args(c, node, scope, 1)
    t = x.type if x.type != 'NULL' else 'INT64'
    if t not in T.NUMERIC_TYPES:
        raise c.no_signature('function SIGN', [x], node.pos)
    if t in ('NUMERIC', 'BIGNUMERIC'):
        x = c.cmp_operand(x, t)
        return build("(CASE WHEN {0} IS NULL THEN NULL WHEN substr({0}, 1, 1) = '0' THEN '-1' "
                     "WHEN ltrim(substr({0}, 2), '0') = '' THEN '0' ELSE '1' END)", [x], t,
                     ('sign', x.key))
    xf = c.numf(x)
    return build('(CASE WHEN {0} > 0 THEN 1 WHEN {0} < 0 THEN -1 WHEN {0} = 0 THEN 0 END)',
                 [xf], t, ('sign', x.key))


def _f_int_div(c, node, scope):
    a, b = _args(c, node, scope, 2)
    if a.type not in ('INT64', 'NULL') or b.type not in ('INT64', 'NULL'):
        raise unsupported('%s on non-INT64 arguments' % node.name, node.pos) \
            if a.type in T.NUMERIC_TYPES and b.type in T.NUMERIC_TYPES else \
            c.no_signature('function ' + node.name, [a, b], node.pos)
    return build("bq_int_div({0}, {1}, '%s')" % node.name, [a, b], 'INT64',
                 (node.name, a.key, b.key))


def _f_safe_divide(c, node, scope):
    a, b = _args(c, node, scope, 2)
    t = c.numeric_super(a, b, 'SAFE_DIVIDE', node.pos)
    if t in ('NUMERIC', 'BIGNUMERIC'):
        a2, b2 = c.coerce(a, t, node.pos), c.coerce(b, t, node.pos)
        return build('bq_num_div({0}, {1}, %d, 1)' % (t == 'BIGNUMERIC'), [a2, b2], t,
                     ('safe_divide', a.key, b.key))
    return build('bq_div({0}, {1}, 1)', [a, b], 'FLOAT64', ('safe_divide', a.key, b.key))


def _f_ieee_divide(c, node, scope):
    a, b = _args(c, node, scope, 2)
    if a.type not in ('INT64', 'FLOAT64', 'NULL') or b.type not in ('INT64', 'FLOAT64', 'NULL'):
        raise c.no_signature('function IEEE_DIVIDE', [a, b], node.pos)
    return build('bq_ieee_divide({0}, {1})', [a, b], 'FLOAT64', ('ieee', a.key, b.key),
                 nan=True)


def _f_math(c, node, scope):
    (x,) = _args(c, node, scope, 1)
    if x.type not in T.NUMERIC_TYPES and x.type != 'NULL':
        raise c.no_signature('function ' + node.name, [x], node.pos)
    if x.type in ('NUMERIC', 'BIGNUMERIC'):
        raise unsupported('%s on NUMERIC arguments' % node.name, node.pos)
    name = 'LN' if node.name == 'LOG' else node.name
    return build("bq_math('%s', {0})" % name, [x], 'FLOAT64', (name, x.key), nan=True)


def _f_pow(c, node, scope):
    a, b = _args(c, node, scope, 2)
    for e in (a, b):
        if e.type not in ('INT64', 'FLOAT64', 'NULL'):
            raise c.no_signature('function ' + node.name, [a, b], node.pos)
    return build('bq_pow({0}, {1})', [a, b], 'FLOAT64', ('pow', a.key, b.key), nan=True)


def _f_is_nan_inf(c, node, scope):
    (x,) = _args(c, node, scope, 1)
    if x.type not in ('FLOAT64', 'INT64', 'NULL'):
        raise c.no_signature('function ' + node.name, [x], node.pos)
    fn = 'bq_is_nan' if node.name == 'IS_NAN' else 'bq_is_inf'
    return build('%s({0})' % fn, [x], 'BOOL', (fn, x.key))


def _f_greatest(c, node, scope):
    es = _args(c, node, scope, 1, 999)
    t = c.supertype(es, node.pos, 'function ' + node.name)
    c.check_comparable(t, es, node.pos, node.name)
    if t in ('NUMERIC', 'BIGNUMERIC'):
        raise unsupported('%s on NUMERIC arguments' % node.name, node.pos)
    es = [c.numf(c.coerce(e, t, node.pos)) for e in es]
    if len(es) == 1:
        return es[0]
    fn = 'max' if node.name == 'GREATEST' else 'min'
    # SQLite's multi-argument max()/min() return NULL if any argument is NULL, as BigQuery does
    return build('%s(%s)' % (fn, ', '.join('{%d}' % i for i in range(len(es)))), es,
                 t if t != 'NULL' else 'INT64', (fn, tuple(e.key for e in es)))


def _f_trim(c, node, scope):
    es = _args(c, node, scope, 1, 2)
    t = _string_or_bytes(c, node, es[0])
    if len(es) == 2 and es[1].type not in (t, 'NULL'):
        raise c.no_signature('function ' + node.name, es, node.pos)
    chars = es[1] if len(es) == 2 else lit(None, t)
    mode = {'TRIM': 'B', 'LTRIM': 'L', 'RTRIM': 'R'}[node.name]
    return build("bq_trim({0}, {1}, '%s')" % mode, [es[0], chars], t,
                 (node.name, es[0].key, chars.key))


def _f_substr(c, node, scope):
    es = _args(c, node, scope, 2, 3)
    t = _string_or_bytes(c, node, es[0])
    for e in es[1:]:
        if e.type not in ('INT64', 'NULL'):
            raise c.no_signature('function ' + node.name, es, node.pos)
    if len(es) == 2:
        # no length: to the end (a NULL length makes the result NULL)
        return build("bq_substr({0}, {1}, NULL, 0)", es, t, ('substr', es[0].key, es[1].key))
    return build('bq_substr({0}, {1}, {2}, 1)', es, t,
                 ('substr', es[0].key, es[1].key, es[2].key))


def _f_left_right(c, node, scope):
    a, n = _args(c, node, scope, 2)
    t = _string_or_bytes(c, node, a)
    if n.type not in ('INT64', 'NULL'):
        raise c.no_signature('function ' + node.name, [a, n], node.pos)
    return build("bq_left_right({0}, {1}, '%s')" % node.name, [a, n], t, (node.name, a.key,
                                                                          n.key))


def _f_two_strings(c, node, scope):
    a, b = _args(c, node, scope, 2)
    t = c.supertype([a, b], node.pos, 'function ' + node.name)
    if t not in ('STRING', 'BYTES', 'NULL'):
        raise c.no_signature('function ' + node.name, [a, b], node.pos)
    if node.name == 'STRPOS':
        return build('instr({0}, {1})', [a, b], 'INT64', ('strpos', a.key, b.key))
    fn = 'bq_starts_with' if node.name == 'STARTS_WITH' else 'bq_ends_with'
    return build('%s({0}, {1})' % fn, [a, b], 'BOOL', (fn, a.key, b.key))


def _f_translate(c, node, scope):
    es = _args(c, node, scope, 3)
    t = c.supertype(es, node.pos, 'function TRANSLATE')
    if t not in ('STRING', 'BYTES', 'NULL'):
        raise c.no_signature('function TRANSLATE', es, node.pos)
    return build('bq_translate({0}, {1}, {2})', es, t if t != 'NULL' else 'STRING',
                 ('translate', tuple(e.key for e in es)))


def _f_error(c, node, scope):
    (msg,) = _args(c, node, scope, 1)
    if msg.type not in ('STRING', 'NULL'):
        raise c.no_signature('function ERROR', [msg], node.pos)
    # not constant: evaluated only where the query reaches it
    return build('bq_error({0})', [msg], 'NULL', ('error', msg.key), const=False)


def _f_replace(c, node, scope):
    es = _args(c, node, scope, 3)
    t = c.supertype(es, node.pos, 'function REPLACE')
    if t not in ('STRING', 'BYTES', 'NULL'):
        raise c.no_signature('function REPLACE', es, node.pos)
    return build('replace({0}, {1}, {2})', es, t if t != 'NULL' else 'STRING',
                 ('replace',) + tuple(e.key for e in es))


def _f_reverse(c, node, scope):
    (a,) = _args(c, node, scope, 1)
    t = _string_or_bytes(c, node, a)
    return build('bq_reverse({0})', [a], t, ('reverse', a.key))


def _now(c):
    c.ctx.deterministic = False
    if getattr(c.ctx, 'mv_check', False):
        raise SqlError('Incremental materialized view query contains unsupported feature: '
                       'non-deterministic function')
    return lit(c.ctx.now_us, 'TIMESTAMP', key=('now',))


def _f_current_timestamp(c, node, scope):
    _args(c, node, scope, 0)
    return _now(c)


def _f_current_other(c, node, scope):
    es = _args(c, node, scope, 0, 1)
    now = _now(c)
    what = node.name[len('CURRENT_'):]
    tz = c.tz_arg(node.args[0], scope) if es else lit(None, 'STRING')
    return build("bq_current_tz({0}, {1}, '%s')" % what, [now, tz], what,
                 ('current', what, tz.key))


def _f_date(c, node, scope):
    es = _args(c, node, scope, 1, 3)
    if len(es) == 3:
        for e in es:
            if e.type not in ('INT64', 'NULL'):
                raise c.no_signature('function DATE', es, node.pos)
        return build('bq_make_date({0}, {1}, {2})', es, 'DATE', ('make_date',) +
                     tuple(e.key for e in es))
    x = es[0]
    tz = c.tz_arg(node.args[1], scope) if len(es) == 2 else None
    if x.type == 'STRING' and x.lit is not None:
        x = c.coerce(x, 'TIMESTAMP' if tz is not None else 'DATE', node.pos)
    if x.type == 'DATE' and tz is None:
        return x
    if x.type == 'DATETIME' and tz is None:
        return build('substr({0}, 1, 10)', [x], 'DATE', ('date', x.key))
    if x.type == 'TIMESTAMP':
        if tz is None:
            # floor division (SQLite '/' truncates toward zero) then a civil date
            return build("date(({0} - ((({0} % 86400000000) + 86400000000) % 86400000000)) "
                         "/ 1000000, 'unixepoch')", [x], 'DATE', ('date', x.key))
        # a NULL time zone gives NULL, as any NULL argument does (not UTC)
        return build('(CASE WHEN {1} IS NULL THEN NULL ELSE bq_ts_to_date({0}, {1}) END)',
                     [x, tz], 'DATE', ('date', x.key, tz.key))
    if x.type == 'NULL':
        return lit(None, 'DATE')
    raise c.no_signature('function DATE', es, node.pos)


def _f_timestamp(c, node, scope):
    es = _args(c, node, scope, 1, 2)
    x = es[0]
    tz = c.tz_arg(node.args[1], scope) if len(es) == 2 else lit(None, 'STRING')
    if x.type == 'TIMESTAMP':
        if len(es) == 2:
            raise c.no_signature('function TIMESTAMP', es, node.pos)
        return x
    if x.type == 'NULL':
        return lit(None, 'TIMESTAMP')
    if x.type not in ('STRING', 'DATE', 'DATETIME'):
        raise c.no_signature('function TIMESTAMP', es, node.pos)
    if x.lit is not None and x.type == 'STRING' and tz.sql == 'NULL':
        return c.coerce(x, 'TIMESTAMP', node.pos)
    return build("bq_to_timestamp({0}, '%s', {1})" % x.type, [x, tz], 'TIMESTAMP',
                 ('timestamp', x.key, tz.key))


def _f_datetime(c, node, scope):
    es = _args(c, node, scope, 1, 2)
    x = es[0]
    if x.type == 'TIMESTAMP':
        tz = c.tz_arg(node.args[1], scope) if len(es) == 2 else lit(None, 'STRING')
        return build('bq_ts_to_datetime({0}, {1})', [x, tz], 'DATETIME',
                     ('datetime', x.key, tz.key))
    if len(es) == 2:
        raise unsupported('DATETIME(date, time)', node.pos)
    if x.type == 'DATE':
        return build("({0} || ' 00:00:00.000000')", [x], 'DATETIME', ('datetime', x.key))
    if x.type == 'STRING' and x.lit is not None:
        return c.coerce(x, 'DATETIME', node.pos)
    if x.type == 'DATETIME':
        return x
    raise c.no_signature('function DATETIME', es, node.pos)


def _f_ts_trunc(c, node, scope):
    if len(node.args) not in (2, 3):
        raise SqlError('Number of arguments does not match for function %s' % node.name,
                       node.pos)
    x = c.expr(node.args[0], scope)
    if x.type == 'STRING' and x.lit is not None:
        x = c.coerce(x, 'TIMESTAMP', node.pos)
    if x.type not in ('TIMESTAMP', 'NULL'):
        raise c.no_signature('function TIMESTAMP_TRUNC', [x], node.pos)
    part = c.date_part_arg(node.args[1], _TRUNC_TS_PARTS)
    tz = c.tz_arg(node.args[2], scope) if len(node.args) == 3 else None
    if tz is None and part in _MICROS:
        u = _MICROS[part]
        return build('({0} - ((({0} %% %d) + %d) %% %d))' % (u, u, u), [x], 'TIMESTAMP',
                     ('ts_trunc', part, x.key))
    if tz is None:
        return build("bq_ts_trunc({0}, '%s', NULL)" % part, [x], 'TIMESTAMP',
                     ('ts_trunc', part, x.key))
    # a NULL time zone gives NULL, as any NULL argument does (not UTC)
    return build("(CASE WHEN {1} IS NULL THEN NULL ELSE bq_ts_trunc({0}, '%s', {1}) END)" % part,
                 [x, tz], 'TIMESTAMP', ('ts_trunc', part, x.key, tz.key))


def _f_date_trunc(c, node, scope):
    if len(node.args) != 2:
        raise SqlError('Number of arguments does not match for function %s' % node.name,
                       node.pos)
    x = c.expr(node.args[0], scope)
    if node.name == 'DATE_TRUNC':
        if x.type == 'STRING' and x.lit is not None:
            x = c.coerce(x, 'DATE', node.pos)
        if x.type == 'TIMESTAMP':
            raise c.no_signature('function DATE_TRUNC', [x], node.pos)
        if x.type not in ('DATE', 'NULL'):
            raise c.no_signature('function DATE_TRUNC', [x], node.pos)
        part = c.date_part_arg(node.args[1], _TRUNC_DATE_PARTS)
        return build("bq_date_trunc({0}, '%s')" % part, [x], 'DATE', ('date_trunc', part, x.key))
    if x.type == 'STRING' and x.lit is not None:
        x = c.coerce(x, 'DATETIME', node.pos)
    if x.type not in ('DATETIME', 'NULL'):
        raise c.no_signature('function DATETIME_TRUNC', [x], node.pos)
    part = c.date_part_arg(node.args[1], _TRUNC_TS_PARTS)
    return build("bq_datetime_trunc({0}, '%s')" % part, [x], 'DATETIME',
                 ('datetime_trunc', part, x.key))


def _interval_arg(c, node, scope, allowed):
    if not isinstance(node, N.Interval):
        raise SqlError('Expected INTERVAL expression', node.pos)
    n = c.expr(node.expr, scope)
    if n.type not in ('INT64', 'NULL'):
        raise SqlError('INTERVAL value must be of type INT64', node.pos)
    unit = node.unit
    if unit not in allowed:
        raise SqlError('Unsupported date part %s in %s' % (unit, 'this function'), node.pos)
    return n, unit


def _f_ts_add(c, node, scope):
    if len(node.args) != 2:
        raise SqlError('Number of arguments does not match for function %s' % node.name,
                       node.pos)
    x = c.expr(node.args[0], scope)
    if x.type == 'STRING' and x.lit is not None:
        x = c.coerce(x, 'TIMESTAMP', node.pos)
    if x.type not in ('TIMESTAMP', 'NULL'):
        raise c.no_signature('function ' + node.name, [x], node.pos)
    n, unit = _interval_arg(c, node.args[1], scope, _MICROS)
    sign = '-' if node.name == 'TIMESTAMP_SUB' else ''
    return build("bq_ts_add({0}, %s{1}, '%s')" % (sign, unit), [x, n], 'TIMESTAMP',
                 (node.name, unit, x.key, n.key))


def _f_date_add(c, node, scope):
    if len(node.args) != 2:
        raise SqlError('Number of arguments does not match for function %s' % node.name,
                       node.pos)
    x = c.expr(node.args[0], scope)
    is_dt = node.name.startswith('DATETIME')
    t = 'DATETIME' if is_dt else 'DATE'
    if x.type == 'STRING' and x.lit is not None:
        x = c.coerce(x, t, node.pos)
    if x.type not in (t, 'NULL'):
        raise c.no_signature('function ' + node.name, [x], node.pos)
    allowed = ('DAY', 'WEEK', 'MONTH', 'QUARTER', 'YEAR') + (tuple(_MICROS) if is_dt else ())
    n, unit = _interval_arg(c, node.args[1], scope, allowed)
    sign = '-' if node.name.endswith('_SUB') else ''
    fn = 'bq_datetime_add' if is_dt else 'bq_date_add'
    return build("%s({0}, %s{1}, '%s')" % (fn, sign, unit), [x, n], t,
                 (node.name, unit, x.key, n.key))


def _f_diff(c, node, scope):
    if len(node.args) != 3:
        raise SqlError('Number of arguments does not match for function %s' % node.name,
                       node.pos)
    a = c.expr(node.args[0], scope)
    b = c.expr(node.args[1], scope)
    want = {'TIMESTAMP_DIFF': 'TIMESTAMP', 'DATE_DIFF': 'DATE',
            'DATETIME_DIFF': 'DATETIME'}[node.name]
    t = c.supertype([a, b], node.pos, 'function ' + node.name)
    if t not in (want, 'NULL'):
        raise c.no_signature('function ' + node.name, [a, b], node.pos)
    a, b = c.coerce(a, want, node.pos), c.coerce(b, want, node.pos)
    if want == 'TIMESTAMP':
        part = c.date_part_arg(node.args[2], _MICROS)
        return build("bq_ts_diff({0}, {1}, '%s')" % part, [a, b], 'INT64',
                     ('ts_diff', part, a.key, b.key))
    if want == 'DATETIME':
        part = c.date_part_arg(node.args[2], set(_MICROS) | _DIFF_DATE_PARTS)
        if part in _MICROS and part != 'DAY':
            return build("((bq_ts_diff(bq_cast({0}, 'DATETIME', 'TIMESTAMP', 0), "
                         "bq_cast({1}, 'DATETIME', 'TIMESTAMP', 0), '%s')))" % part, [a, b],
                         'INT64', ('dt_diff', part, a.key, b.key))
        return build("bq_date_diff({0}, {1}, '%s')" % part, [a, b], 'INT64',
                     ('dt_diff', part, a.key, b.key))
    part = c.date_part_arg(node.args[2], _DIFF_DATE_PARTS)
    return build("bq_date_diff({0}, {1}, '%s')" % part, [a, b], 'INT64',
                 ('date_diff', part, a.key, b.key))


def _f_unix(c, node, scope):
    (x,) = _args(c, node, scope, 1)
    if node.name == 'UNIX_DATE':
        x = c.coerce(x, 'DATE', node.pos) if x.type == 'STRING' and x.lit is not None else x
        if x.type not in ('DATE', 'NULL'):
            raise c.no_signature('function UNIX_DATE', [x], node.pos)
        return build("CAST(julianday({0}) - 2440587.5 AS INTEGER)", [x], 'INT64',
                     ('unix_date', x.key))
    if x.type == 'STRING' and x.lit is not None:
        x = c.coerce(x, 'TIMESTAMP', node.pos)
    if x.type not in ('TIMESTAMP', 'NULL'):
        raise c.no_signature('function ' + node.name, [x], node.pos)
    u = {'UNIX_SECONDS': 1000000, 'UNIX_MILLIS': 1000, 'UNIX_MICROS': 1}[node.name]
    if u == 1:
        return E(x.sql, x.params, 'INT64', ('unix', x.key), x.agg, False, x.const)
    # floor division, as BigQuery truncates toward the past
    return build('(({0} - ((({0} %% %d) + %d) %% %d)) / %d)' % (u, u, u, u), [x], 'INT64',
                 (node.name, x.key))


def _f_from_unix(c, node, scope):
    (x,) = _args(c, node, scope, 1)
    if x.type not in ('INT64', 'NULL'):
        raise c.no_signature('function ' + node.name, [x], node.pos)
    if node.name == 'DATE_FROM_UNIX_DATE':
        return build("date({0} * 86400, 'unixepoch')", [x], 'DATE', ('from_unix_date', x.key))
    u = {'TIMESTAMP_SECONDS': 1000000, 'TIMESTAMP_MILLIS': 1000, 'TIMESTAMP_MICROS': 1}[node.name]
    return build('({0} * %d)' % u, [x], 'TIMESTAMP', (node.name, x.key))


def _f_string(c, node, scope):
    es = _args(c, node, scope, 1, 2)
    x = es[0]
    if x.type == 'TIMESTAMP':
        tz = c.tz_arg(node.args[1], scope) if len(es) == 2 else lit(None, 'STRING')
        return build('bq_ts_string({0}, {1})', [x, tz], 'STRING', ('string', x.key, tz.key))
    if len(es) == 2 or x.type not in ('DATE', 'DATETIME', 'TIME'):
        raise c.no_signature('function STRING', es, node.pos)
    return c.cast(x, 'STRING', False, node.pos)


def _f_array_length(c, node, scope):
    (x,) = _args(c, node, scope, 1)
    if not T.is_array(x.type) and x.type != 'NULL':
        raise c.no_signature('function ARRAY_LENGTH', [x], node.pos)
    return build('json_array_length({0})', [x], 'INT64', ('array_length', x.key))


def _f_week(c, node, scope):
    raise SqlError('WEEK(<weekday>) is only valid as a date part argument', node.pos)


_FUNCTIONS = {
    'COALESCE': _f_coalesce, 'IFNULL': _f_coalesce, 'NULLIF': _f_nullif, 'IF': _f_if,
    'LOWER': _f_lower_upper, 'UPPER': _f_lower_upper, 'LENGTH': _f_length,
    'CHAR_LENGTH': _f_length, 'CHARACTER_LENGTH': _f_length, 'BYTE_LENGTH': _f_byte_length,
    'CONCAT': _f_concat, 'ROUND': _f_round, 'TRUNC': _f_round, 'FLOOR': _f_floor_ceil,
    'CEIL': _f_floor_ceil, 'CEILING': _f_floor_ceil, 'ABS': _f_abs, 'SIGN': _f_sign,
    'MOD': _f_int_div, 'DIV': _f_int_div, 'SAFE_DIVIDE': _f_safe_divide,
    'IEEE_DIVIDE': _f_ieee_divide, 'SQRT': _f_math, 'EXP': _f_math, 'LN': _f_math,
    'LOG10': _f_math, 'POW': _f_pow, 'POWER': _f_pow, 'IS_NAN': _f_is_nan_inf,
    'IS_INF': _f_is_nan_inf, 'GREATEST': _f_greatest, 'LEAST': _f_greatest,
    'TRIM': _f_trim, 'LTRIM': _f_trim, 'RTRIM': _f_trim, 'SUBSTR': _f_substr,
    'SUBSTRING': _f_substr, 'LEFT': _f_left_right, 'RIGHT': _f_left_right,
    'STRPOS': _f_two_strings, 'STARTS_WITH': _f_two_strings, 'ENDS_WITH': _f_two_strings,
    'REPLACE': _f_replace, 'REVERSE': _f_reverse, 'TRANSLATE': _f_translate,
    'ERROR': _f_error,
    'CURRENT_TIMESTAMP': _f_current_timestamp, 'CURRENT_DATE': _f_current_other,
    'CURRENT_DATETIME': _f_current_other, 'CURRENT_TIME': _f_current_other,
    'DATE': _f_date, 'TIMESTAMP': _f_timestamp, 'DATETIME': _f_datetime,
    'TIMESTAMP_TRUNC': _f_ts_trunc, 'DATE_TRUNC': _f_date_trunc,
    'DATETIME_TRUNC': _f_date_trunc, 'TIMESTAMP_ADD': _f_ts_add, 'TIMESTAMP_SUB': _f_ts_add,
    'DATE_ADD': _f_date_add, 'DATE_SUB': _f_date_add, 'DATETIME_ADD': _f_date_add,
    'DATETIME_SUB': _f_date_add, 'TIMESTAMP_DIFF': _f_diff, 'DATE_DIFF': _f_diff,
    'DATETIME_DIFF': _f_diff, 'UNIX_SECONDS': _f_unix, 'UNIX_MILLIS': _f_unix,
    'UNIX_MICROS': _f_unix, 'UNIX_DATE': _f_unix, 'TIMESTAMP_SECONDS': _f_from_unix,
    'TIMESTAMP_MILLIS': _f_from_unix, 'TIMESTAMP_MICROS': _f_from_unix,
    'DATE_FROM_UNIX_DATE': _f_from_unix, 'STRING': _f_string,
    'ARRAY_LENGTH': _f_array_length, 'WEEK': _f_week,
}

# real GoogleSQL functions the emulator knows it lacks (clearer than "Function not found")
_KNOWN_UNSUPPORTED = {
    'FORMAT', 'FORMAT_TIMESTAMP', 'FORMAT_DATE', 'FORMAT_DATETIME', 'FORMAT_TIME',
    'PARSE_TIMESTAMP', 'PARSE_DATE', 'PARSE_DATETIME', 'PARSE_TIME', 'REGEXP_CONTAINS',
    'REGEXP_EXTRACT', 'REGEXP_REPLACE', 'REGEXP_EXTRACT_ALL', 'SPLIT', 'JSON_VALUE',
    'JSON_QUERY', 'JSON_EXTRACT', 'JSON_EXTRACT_SCALAR', 'TO_JSON_STRING', 'TO_JSON',
    'PARSE_JSON', 'GENERATE_UUID', 'RAND', 'GENERATE_ARRAY', 'GENERATE_DATE_ARRAY',
    'ARRAY_TO_STRING', 'ARRAY_CONCAT', 'ARRAY_REVERSE', 'FARM_FINGERPRINT', 'MD5', 'SHA1',
    'SHA256', 'SHA512', 'TO_BASE64', 'FROM_BASE64', 'TO_HEX', 'FROM_HEX', 'LPAD', 'RPAD',
    'REPEAT', 'INITCAP', 'SOUNDEX', 'NORMALIZE', 'LAST_DAY', 'EXTRACT',
    'ST_GEOGPOINT', 'SESSION_USER', 'LOG', 'NET.HOST', 'ASCII', 'CHR',
    'CODE_POINTS_TO_STRING',
    'TO_CODE_POINTS', 'SAFE_ADD', 'SAFE_SUBTRACT', 'SAFE_MULTIPLY', 'SAFE_NEGATE',
    'RANGE_BUCKET', 'BIT_COUNT', 'COSH', 'COS', 'SIN', 'TAN', 'ACOS', 'ASIN', 'ATAN', 'ATAN2',
}


# ====================================================================== partition pruning

def _prune(where, source, comp, scope):
    """Narrow the partitions a scan reads from constant filters on the partitioning column.

    Only top-level AND conjuncts of the forms  col OP const,  const OP col,
    DATE(col) OP const,  col BETWEEN c1 AND c2,  col IN (consts)  prune, as documented;
    anything else leaves every partition in.
    """
    table = source.table
    pf = table.partition_field
    if pf is None:
        return
    scan = source.scan
    pcol = None
    for col in source.columns:
        if col.name.lower() == pf.lower():
            pcol = col
    if pcol is None:
        return
    lo, hi = None, None   # day numbers, inclusive
    empty = False
    for conj in _conjuncts(where):
        r = _conjunct_range(conj, pcol, source, comp, scope)
        if r is None:
            continue
        clo, chi = r
        if clo is not None and (lo is None or clo > lo):
            lo = clo
        if chi is not None and (hi is None or chi < hi):
            hi = chi
        if r == (None, None):
            # a comparison on the column excludes the NULL partition only
            pass
        scan.pruned = True
    if not scan.pruned:
        return
    if lo is not None and hi is not None and lo > hi:
        empty = True
    scan.part_none = empty
    scan.part_lo = T.date_text(lo) if lo is not None else None
    scan.part_hi = T.date_text(hi) if hi is not None else None


def _conjuncts(node):
    if isinstance(node, N.Binary) and node.op == 'AND':
        return _conjuncts(node.left) + _conjuncts(node.right)
    return [node]


def _is_pcol(node, pcol, source, comp):
    """Is node the partition column (or DATE(col))? returns 'col', 'date' or None."""
    if isinstance(node, N.Path):
        try:
            c = comp.lookup_path(node, [source])
        except SqlError:
            return None
        return 'col' if c is pcol else None
    if isinstance(node, N.Call) and node.name == 'DATE' and len(node.args) == 1:
        if _is_pcol(node.args[0], pcol, source, comp) == 'col':
            return 'date'
    if isinstance(node, N.Call) and node.name == 'TIMESTAMP_TRUNC' and len(node.args) == 2 and \
            isinstance(node.args[1], N.Path) and node.args[1].parts[0].upper() == 'DAY':
        if _is_pcol(node.args[0], pcol, source, comp) == 'col':
            return 'trunc'
    return None


def _const_value(node, comp, scope, want):
    """Evaluate a constant expression to an internal value of type want, or None."""
    if _refs_columns(node):
        return None
    try:
        e = comp.expr(node, _Scope([], 'plain', 'WHERE clause'))
        e = comp.coerce(e, want, node.pos)
    except SqlError:
        return None
    if e.type != want:
        return None
    return ('v', comp.ctx.catalog.eval_const(e.sql, e.params))


def _refs_columns(node):
    if isinstance(node, N.Path):
        return True
    if isinstance(node, N.Node):
        for f in node.fields:
            v = getattr(node, f)
            if isinstance(v, N.Node) and _refs_columns(v):
                return True
            if isinstance(v, list):
                for x in v:
                    if isinstance(x, N.Node) and _refs_columns(x):
                        return True
                    if isinstance(x, tuple) and any(isinstance(y, N.Node) and _refs_columns(y)
                                                    for y in x):
                        return True
    return False


def _to_day(v, kind, ptype):
    """A bound value -> day number of the partition that holds it."""
    if kind == 'date' or ptype == 'DATE':
        return T.date_to_days(v)
    return v // T._DAY_US


def _conjunct_range(node, pcol, source, comp, scope):
    ptype = pcol.type
    if isinstance(node, N.Binary) and node.op in ('=', '<', '<=', '>', '>='):
        op = node.op
        kind = _is_pcol(node.left, pcol, source, comp)
        other = node.right
        if kind is None:
            kind = _is_pcol(node.right, pcol, source, comp)
            other = node.left
            op = {'<': '>', '<=': '>=', '>': '<', '>=': '<=', '=': '='}[op]
        if kind is None:
            return None
        want = 'DATE' if kind == 'date' else ptype
        cv = _const_value(other, comp, scope, want)
        if cv is None:
            return None
        v = cv[1]
        if v is None:
            return (1, 0)  # comparison with NULL matches nothing
        day = _to_day(v, kind, ptype)
        exact_start = (kind == 'date' or ptype == 'DATE' or v % T._DAY_US == 0)
        if op == '=':
            return (day, day)
        if op == '>=' or op == '>':
            if op == '>' and (kind == 'date' or ptype == 'DATE'):
                return (day + 1, None)
            return (day, None)
        if op == '<':
            return (None, day - 1 if exact_start else day)
        return (None, day)
    if isinstance(node, N.Between) and not node.negated:
        kind = _is_pcol(node.expr, pcol, source, comp)
        if kind is None:
            return None
        want = 'DATE' if kind == 'date' else ptype
        lo = _const_value(node.low, comp, scope, want)
        hi = _const_value(node.high, comp, scope, want)
        if lo is None or hi is None:
            return None
        if lo[1] is None or hi[1] is None:
            return (1, 0)
        return (_to_day(lo[1], kind, ptype), _to_day(hi[1], kind, ptype))
    if isinstance(node, N.InList) and not node.negated:
        kind = _is_pcol(node.expr, pcol, source, comp)
        if kind is None:
            return None
        want = 'DATE' if kind == 'date' else ptype
        days = []
        for item in node.items:
            cv = _const_value(item, comp, scope, want)
            if cv is None:
                return None
            if cv[1] is not None:
                days.append(_to_day(cv[1], kind, ptype))
        if not days:
            return (1, 0)
        return (min(days), max(days))
    return None


# ====================================================================== MV validation

def check_materialized_view(node, ctx):
    """Reject MV definitions BigQuery rejects (within the subset); returns the base TableRef."""
    if not isinstance(node, N.Select):
        raise SqlError('Materialized view query must be a SELECT')
    if node.from_ is None or not isinstance(node.from_, N.TableRef):
        raise SqlError('Incremental materialized view query contains unsupported feature: the '
                       'query must read exactly one base table', node.pos)
    for what, present in (('ORDER BY', bool(node.order_by)), ('LIMIT', node.limit is not None),
                          ('HAVING', node.having is not None),
                          ('SELECT DISTINCT', node.distinct)):
        if present:
            raise SqlError('Incremental materialized view query contains unsupported feature: '
                           '%s' % what, node.pos)
    has_agg = any(it.expr is not None and _has_aggregate(it.expr) for it in node.items)
    if has_agg and not node.group_by:
        raise SqlError('Incremental materialized view query contains unsupported feature: '
                       'aggregation without GROUP BY', node.pos)
    if node.group_by and not has_agg:
        raise SqlError('Incremental materialized view query contains unsupported feature: '
                       'GROUP BY without an aggregate function', node.pos)
    return node.from_


# ====================================================================== DML

# implicit coercions BigQuery applies when assigning a value to a column
_ASSIGNABLE = frozenset([('INT64', 'FLOAT64'), ('INT64', 'NUMERIC'), ('INT64', 'BIGNUMERIC'),
                         ('NUMERIC', 'BIGNUMERIC'), ('NUMERIC', 'FLOAT64'),
                         ('BIGNUMERIC', 'FLOAT64')])
_LITERAL_COERCIBLE = frozenset(['DATE', 'TIMESTAMP', 'DATETIME', 'TIME'])


class CompiledDml:
    """An UPDATE or DELETE as a query of the rows it changes.

    ``sql`` selects the SQLite rowid of each changed row, then (UPDATE) the
    new value of each assigned column, coerced to the column's type;
    ``set_columns`` are the indexes of those columns in the table."""

    def __init__(self, table, sql, params, set_columns, scan):
        self.table = table
        self.sql = sql
        self.params = params
        self.set_columns = set_columns
        self.scan = scan


def compile_dml(node, ctx):
    """Compile an Update or Delete (a single table, WHERE required by the parser)."""
    target = node.target
    project, dataset, table = ctx.resolve_table_path(target.path, target.pos)
    meta = ctx.catalog.lookup_table(project, dataset, table)
    if meta.type != 'TABLE':
        raise SqlError('Cannot execute DML statements over %s %s'
                       % ('views' if meta.type == 'VIEW' else 'materialized views',
                          '%s.%s.%s' % (project, dataset, table)), target.pos)
    qualifiers = {(target.alias or table).lower()}
    set_columns = []
    set_exprs = []
    if isinstance(node, N.Update):
        for parts, expr, pos in node.sets:
            if len(parts) == 2 and parts[0].lower() in qualifiers:
                parts = parts[1:]
            if len(parts) != 1:
                raise unsupported('Updating a field of a STRUCT', pos)
            idx = next((i for i, f in enumerate(meta.fields)
                        if f.name.lower() == parts[0].lower()), None)
            if idx is None:
                raise SqlError('Unrecognized name: %s' % parts[0], pos)
            if idx in set_columns:
                raise SqlError('Update item %s overlaps with update item %s'
                               % (meta.fields[idx].name, meta.fields[idx].name), pos)
            if _has_aggregate(expr):
                raise SqlError('Aggregate function not allowed in UPDATE', pos)
            set_columns.append(idx)
            set_exprs.append(expr)

    def select(values):
        items = [N.SelectItem(v, None, None, [], [], pos=node.pos) for v in values]
        if not items:
            items = [N.SelectItem(N.Literal('BOOL', 1, pos=node.pos), None, None, [], [],
                                  pos=node.pos)]
        return N.Select(False, items, N.TableRef(target.path, target.alias, None,
                                                 pos=target.pos),
                        node.where, [], None, [], None, None, None, pos=node.pos)

    def compile_once(values):
        first_alias = ctx.sqlite_alias_n + 1
        scans = len(ctx.scans)
        comp = compile_query(select(values), ctx)
        return comp, 's%d' % first_alias, ctx.scans[scans]

    # the first pass finds the assigned values' types, the second coerces them
    comp, alias, scan = compile_once(set_exprs)
    values = []
    for i, (idx, expr) in enumerate(zip(set_columns, set_exprs)):
        col = meta.fields[idx]
        have = comp.columns[i][1]
        if have in (col.type, 'NULL'):
            values.append(expr)
        elif (have, col.type) in _ASSIGNABLE or (
                have == 'STRING' and isinstance(expr, N.Literal) and
                col.type in _LITERAL_COERCIBLE):
            values.append(N.Cast(expr, col.type, False, None, pos=expr.pos))
        else:
            raise SqlError('Value of type %s cannot be assigned to %s, which has type %s'
                           % (_type_name(have), col.name, _type_name(col.type)),
                           node.sets[i][2])
    if values != set_exprs:
        del ctx.scans[-1]
        comp, alias, scan = compile_once(values)
    if not comp.sql.startswith('SELECT '):
        raise SqlError('Query execution failed in the emulator: unexpected DML plan')
    sql = 'SELECT %s.rowid, %s' % (alias, comp.sql[len('SELECT '):])
    return CompiledDml(meta, sql, comp.params, set_columns, scan)
