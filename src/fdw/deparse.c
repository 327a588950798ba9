/*-------------------------------------------------------------------------
 *
 * deparse.c
 *	  Which expressions bqstream_fdw sends to BigQuery, and their GoogleSQL
 *	  text: WHERE clauses, ORDER BY keys, and for an aggregate query its
 *	  select list, GROUP BY and HAVING.
 *
 * An expression is pushed only when BigQuery is sure to give it the same
 * meaning as PostgreSQL:
 *
 * - comparisons of integer, numeric, boolean, date, timestamp, float8 and
 *   text operands.  Text: ordering only under a collation that sorts by code
 *   point (C, POSIX, or libc's C.UTF-8 in a UTF8 database, the default on
 *   Debian), equality only under a deterministic one.  float8: with IS_NAN
 *   terms, since PostgreSQL holds NaN equal to NaN and above every number
 *   where BigQuery compares NaN false with everything;
 * - IN lists and = ANY / <> ALL (array), with PostgreSQL's NULL rules (of
 *   float8 only a constant array without NaN);
 * - LIKE with a constant pattern whose escapes BigQuery reads the same way;
 *   ILIKE, lower() and upper() only under a C ctype, where PostgreSQL maps
 *   ASCII letters alone (sent as TRANSLATE: BigQuery's LOWER and UPPER map
 *   all of Unicode, in ways no libc or ICU collation matches exactly);
 * - length, substr/substring (start and count rewritten to PostgreSQL's
 *   rules), ||, concat (NULLs as ''), btrim/ltrim/rtrim, replace,
 *   starts_with of text; COALESCE, CASE (both forms, a simple CASE as a
 *   searched one so that its = is PostgreSQL's), NULLIF, with results of a
 *   type BigQuery gives back unchanged (not numeric, whose scale it drops);
 * - IS [NOT] NULL, AND, OR, NOT, boolean columns, bigint + - * and /
 *   (by a constant, as DIV);
 * - date and timestamp bounds past BigQuery's range (infinity, year 10000,
 *   BC), decided here when constant, clamped into the range at execution
 *   start when a parameter or stable expression;
 * - date_trunc(unit, timestamptz [, zone]) from microseconds to years, in
 *   UTC, in the session's time zone or a named one, as TIMESTAMP_TRUNC with
 *   the zone a parameter, where BigQuery truncates as PostgreSQL does: a
 *   tz database name (not a POSIX specification or an abbreviation), and
 *   by the day or more none whose local midnight ever repeats;
 * - timestamptz::date in the session's time zone, as DATE(ts, zone);
 * - extract(field FROM timestamptz) in the session's time zone, in a
 *   select list or GROUP BY: year, isoyear, quarter, month, week (ISO),
 *   day, doy, dow, isodow, hour, minute, as EXTRACT(... AT TIME ZONE zone);
 * - epochs, zone-independent integer arithmetic on UNIX_MICROS: Grafana's
 *   buckets floor(extract(epoch from ts) / N) * M (N whole seconds below
 *   2000000, rows rounded to the next bucket where PostgreSQL's numeric
 *   division does), to_timestamp of them, extract(epoch from ts)[* K]::
 *   bigint, and extract(epoch from ts) itself as a NUMERIC given back at
 *   scale 6; date_bin(stride, ts, origin) with a constant stride and
 *   origin, floored before the origin as PostgreSQL 15 does;
 *   rows at the ends of the range whose period or date BigQuery cannot
 *   hold compare as beyond it in WHERE, and are an error in a select list;
 * - count(*), count([DISTINCT] x), sum, avg, min and max, with FILTER
 *   (WHERE c) as COUNTIF(c) or an argument IF(c, x, NULL).  avg is sent
 *   as SUM and COUNT and divided here, so that the result has
 *   PostgreSQL's type and precision; a bigint sum is a BIGNUMERIC one.
 *   Float ones of a column spell out PostgreSQL's NaN, infinity and -0
 *   rules (deparse_float_aggregate), min and max among them (which of 0
 *   and -0 a group shows depends on the order of its rows, here as in
 *   PostgreSQL).
 * - ORDER BY keys; a float8 key with IS_NAN(key) before it, since BigQuery
 *   sorts NaN first and PostgreSQL last.
 *
 * Kept local: float8 arithmetic (PostgreSQL fails on overflow and underflow
 * where BigQuery gives Infinity or 0), float8 grouping keys and DISTINCT,
 * and float4 (BigQuery holds its column as FLOAT64, more precise than the
 * foreign table's real) but for its min and max.
 *
 * The time expressions (range bounds, zones, date_trunc, ::date, extract,
 * epoch buckets, date_bin) are deparse_time.c's; deparse.h is what the two
 * files share.
 *
 * Every value travels as a typed query parameter (@p1, @p2, ...), never as
 * text spliced into the query, so no string a user supplies can change the
 * remote SQL.  A parameter may be a constant, a query parameter ($1) or a
 * stable expression such as now() - interval '1 hour': it is computed once
 * at execution start, which is what lets BigQuery prune partitions.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fdw/deparse.h"
#include "fdw/fdw.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/stratnum.h"
#include "access/transam.h"
#include "common/shortest_dec.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "catalog/pg_aggregate.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_database.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_type.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/clauses.h"
#include "optimizer/optimizer.h"
#include "optimizer/tlist.h"
#include "parser/scansup.h"
#include "pgtime.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/pg_locale.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

/* GoogleSQL type of a value of a PostgreSQL type, or NULL when not pushed */
const char *
bq_param_type(Oid type)
{
	switch (type)
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
			return "INT64";
		case NUMERICOID:
			return "BIGNUMERIC";
		case BOOLOID:
			return "BOOL";
		case TEXTOID:
		case VARCHAROID:
			return "STRING";
		case DATEOID:
			return "DATE";
		case TIMESTAMPTZOID:
			return "TIMESTAMP";
		case FLOAT8OID:
			return "FLOAT64";
		default:
			return NULL;
	}
}

static bool
is_text(Oid type)
{
	return type == TEXTOID || type == VARCHAROID;
}

/* "C.UTF-8" as libc spells it, in any case, with or without the hyphen */
static bool
is_c_utf8_locale(const char *locale)
{
	return locale != NULL &&
		(pg_strcasecmp(locale, "C.UTF-8") == 0 || pg_strcasecmp(locale, "C.UTF8") == 0);
}

/*
 * Whether a collation orders text as BigQuery does, by code point: C and
 * POSIX, and in a UTF8 database libc's C.UTF-8 (glibc 2.35 and later, and
 * Debian's before it, collate it by code point, which for UTF-8 is byte
 * order), whether named by a collation or the database's default.
 */
static bool
is_code_point_collation(Oid collid)
{
	HeapTuple	tup;
	bool		result = false;
	bool		isnull;
	Datum		locale;

	if (!OidIsValid(collid))
		return false;
	if (lc_collate_is_c(collid))
		return true;
	if (GetDatabaseEncoding() != PG_UTF8)
		return false;
	if (collid == DEFAULT_COLLATION_OID)
	{
		tup = SearchSysCache1(DATABASEOID, ObjectIdGetDatum(MyDatabaseId));
		if (!HeapTupleIsValid(tup))
			return false;
		if (((Form_pg_database) GETSTRUCT(tup))->datlocprovider == COLLPROVIDER_LIBC)
		{
			locale = SysCacheGetAttr(DATABASEOID, tup, Anum_pg_database_datcollate, &isnull);
			result = !isnull && is_c_utf8_locale(TextDatumGetCString(locale));
		}
		ReleaseSysCache(tup);
		return result;
	}
	tup = SearchSysCache1(COLLOID, ObjectIdGetDatum(collid));
	if (!HeapTupleIsValid(tup))
		return false;
	if (((Form_pg_collation) GETSTRUCT(tup))->collprovider == COLLPROVIDER_LIBC)
	{
		locale = SysCacheGetAttr(COLLOID, tup, Anum_pg_collation_collcollate, &isnull);
		result = !isnull && is_c_utf8_locale(TextDatumGetCString(locale));
	}
	ReleaseSysCache(tup);
	return result;
}

Node *
bq_strip_relabel(Node *node)
{
	while (node && IsA(node, RelabelType))
		node = (Node *) ((RelabelType *) node)->arg;
	return node;
}

static bool
is_column(DeparseCtx *ctx, Node *node)
{
	Var		   *var = (Var *) node;

	return IsA(node, Var) &&
		(IS_SIMPLE_REL(ctx->scanrel) ? var->varno == ctx->scanrel->relid
		 : bms_is_member(var->varno, ctx->scanrel->relids)) &&
		var->varlevelsup == 0 && var->varattno > 0;
}

/* a column, as r<n>.`name` in a join of foreign tables (plan.c's aliases) */
static void
append_column(DeparseCtx *ctx, Var *var)
{
	if (IS_SIMPLE_REL(ctx->scanrel))
		bq_append_identifier(ctx->buf, bq_column_name(ctx->rel, var->varattno));
	else
	{
		Relation	rel = table_open(bq_join_member_relid(ctx->scanrel, var->varno), NoLock);

		appendStringInfo(ctx->buf, "r%d.", var->varno);
		bq_append_identifier(ctx->buf, bq_column_name(rel, var->varattno));
		table_close(rel, NoLock);
	}
}

/*
 * A numeric constant BIGNUMERIC holds exactly: at most 38 digits on either
 * side of the point, and a number (not NaN or infinity).
 */
static bool
fits_bignumeric(Const *c)
{
	char	   *text;
	char	   *point;
	char	   *digits;

	if (c->constisnull)
		return true;
	text = DatumGetCString(DirectFunctionCall1(numeric_out, c->constvalue));
	digits = text[0] == '-' ? text + 1 : text;
	if (!isdigit((unsigned char) digits[0]))
		return false;
	point = strchr(digits, '.');
	return (point ? point - digits : (long) strlen(digits)) <= 38 &&
		(point == NULL || strlen(point + 1) <= 38);
}

/* a value computable once at execution start, of a type BigQuery reads */
bool
bq_is_value(Node *node)
{
	Oid			type = exprType(node);

	if (bq_param_type(type) == NULL)
		return false;
	if (contain_var_clause(node) || contain_agg_clause(node) ||
		contain_window_function(node) || contain_volatile_functions(node) ||
		contain_subplans(node) || expression_returns_set(node))
		return false;
	/* numeric: only constants, whose range is known now */
	if (type == NUMERICOID)
		return IsA(node, Const) && fits_bignumeric((Const *) node);
	return true;
}

/* an array value whose elements are such values */
static bool
is_array_value(Node *node)
{
	Oid			elem = get_element_type(exprType(node));

	return OidIsValid(elem) && elem != NUMERICOID && elem != FLOAT8OID &&
		bq_param_type(elem) != NULL &&
		!contain_var_clause(node) && !contain_agg_clause(node) &&
		!contain_window_function(node) && !contain_volatile_functions(node) &&
		!contain_subplans(node) && !expression_returns_set(node);
}

void
bq_deparse_text(DeparseCtx *ctx, const char *s)
{
	if (ctx->buf)
		appendStringInfoString(ctx->buf, s);
}

void
bq_deparse_param(DeparseCtx *ctx, Node *value, BqParamKind kind)
{
	BqParam    *p;
	ListCell   *lc;

	if (ctx->buf == NULL)
		return;
	/*
	 * One parameter per value: an expression grouped by and selected must
	 * read the same in both places for BigQuery to match them.
	 */
	foreach(lc, *ctx->params)
	{
		p = (BqParam *) lfirst(lc);
		if (p->kind == kind && equal(p->expr, value))
		{
			appendStringInfo(ctx->buf, "@p%d", foreach_current_index(lc) + 1);
			return;
		}
	}
	p = palloc0(sizeof(BqParam));
	p->expr = (Expr *) value;
	p->kind = kind;
	*ctx->params = lappend(*ctx->params, p);
	appendStringInfo(ctx->buf, "@p%d", list_length(*ctx->params));
}

/* a built-in operator's name, or NULL for a user's one, which may mean anything */
static char *
builtin_operator(Oid opno)
{
	HeapTuple	tup;
	char	   *name;

	if (opno >= FirstNormalObjectId)
		return NULL;
	tup = SearchSysCache1(OPEROID, ObjectIdGetDatum(opno));
	if (!HeapTupleIsValid(tup))
		return NULL;
	name = pstrdup(NameStr(((Form_pg_operator) GETSTRUCT(tup))->oprname));
	ReleaseSysCache(tup);
	return name;
}

static bool deparse_cond(DeparseCtx *ctx, Node *node);
static bool deparse_comparison(DeparseCtx *ctx, OpExpr *op);

/* ---------------------------------------------------------------------
 * aggregates
 * ---------------------------------------------------------------------
 */

/* the scale of a numeric(p, s) typmod; -1 without one, or when negative */
static int
typmod_scale(int32 typmod)
{
	int32		scale;

	if (typmod < (int32) VARHDRSZ)
		return -1;
	/* an 11-bit signed field, as numeric.c stores it */
	scale = ((((typmod - VARHDRSZ) & 0x7ff) ^ 1024) - 1024);
	return scale >= 0 ? scale : -1;
}

static bool
is_float(Oid type)
{
	return type == FLOAT4OID || type == FLOAT8OID;
}

/* the float_aggregates option of the table, else of its server: 'remote' by default */
static bool
float_aggregates_pushed(Relation rel)
{
	char	   *v = bq_table_option(GetForeignTable(RelationGetRelid(rel)), "float_aggregates");

	return v == NULL || strcmp(v, "remote") == 0;
}

/* the argument of a one-argument aggregate */
static Node *
agg_arg(Aggref *agg)
{
	return bq_strip_relabel((Node *) ((TargetEntry *) linitial(agg->args))->expr);
}

typedef enum BqAggKind
{
	AGG_NONE,
	AGG_COUNT,
	AGG_SUM,
	AGG_AVG,
	AGG_MIN,
	AGG_MAX
} BqAggKind;

/*
 * The kind of a pushable aggregate, AGG_NONE when BigQuery could compute it
 * differently.
 */
static BqAggKind
agg_kind(DeparseCtx *ctx, Aggref *agg)
{
	char	   *name;
	Node	   *arg;
	Oid			type;
	BqAggKind	kind;

	if (agg->aggfnoid >= FirstNormalObjectId || agg->aggkind != AGGKIND_NORMAL ||
		agg->aggsplit != AGGSPLIT_SIMPLE ||
		agg->aggorder != NIL || agg->aggvariadic || agg->agglevelsup != 0)
		return AGG_NONE;
	name = get_func_name(agg->aggfnoid);
	if (strcmp(name, "count") == 0)
		kind = AGG_COUNT;
	else if (strcmp(name, "sum") == 0)
		kind = AGG_SUM;
	else if (strcmp(name, "avg") == 0)
		kind = AGG_AVG;
	else if (strcmp(name, "min") == 0)
		kind = AGG_MIN;
	else if (strcmp(name, "max") == 0)
		kind = AGG_MAX;
	else
		return AGG_NONE;

	/* FILTER (WHERE c): a row condition BigQuery reads alike */
	if (agg->aggfilter != NULL)
	{
		DeparseCtx	check = *ctx;

		check.buf = NULL;
		check.upper = false;
		if (!deparse_cond(&check, (Node *) agg->aggfilter))
			return AGG_NONE;
	}
	if (agg->aggstar)
		return kind == AGG_COUNT ? kind : AGG_NONE;
	if (list_length(agg->args) != 1)
		return AGG_NONE;
	arg = bq_strip_relabel((Node *) ((TargetEntry *) linitial(agg->args))->expr);
	type = exprType(arg);
	if (agg->aggdistinct != NIL &&
		(kind != AGG_COUNT || bq_param_type(type) == NULL || is_float(type) ||
		 (is_text(type) && !get_collation_isdeterministic(agg->inputcollid))))
		return AGG_NONE;

	/*
	 * float8 sum and avg, float4 and float8 min and max of a column, with
	 * PostgreSQL's NaN, infinity, negative zero and overflow rules spelled
	 * out (bq_deparse_select_item): only as select items, and only where
	 * the float_aggregates option allows.  Not float4 sum and avg, which
	 * PostgreSQL rounds as it goes.
	 */
	if (is_float(type) && kind != AGG_COUNT)
	{
		if (!is_column(ctx, arg) || !float_aggregates_pushed(ctx->rel) ||
			(type == FLOAT4OID && (kind == AGG_SUM || kind == AGG_AVG)))
			return AGG_NONE;
		return kind;
	}

	/*
	 * numeric: BigQuery drops trailing zeros, which PostgreSQL keeps up to
	 * the inputs' scale; only a declared scale can put them back.
	 */
	if (type == NUMERICOID && kind != AGG_COUNT && typmod_scale(exprTypmod(arg)) < 0)
		return AGG_NONE;

	switch (kind)
	{
		case AGG_COUNT:
			break;
		case AGG_SUM:
		case AGG_AVG:
			/*
			 * Not floats: PostgreSQL keeps a lone -0 and fails on overflow,
			 * where BigQuery gives 0 and Infinity.
			 */
			if (type != INT2OID && type != INT4OID && type != INT8OID && type != NUMERICOID)
				return AGG_NONE;
			break;
		case AGG_MIN:
		case AGG_MAX:
			/* ordered as PostgreSQL orders it; not floats (NaN), not bool */
			if (bq_param_type(type) == NULL || type == BOOLOID || type == FLOAT8OID ||
				(is_text(type) && !is_code_point_collation(agg->inputcollid)))
				return AGG_NONE;
			break;
		default:
			return AGG_NONE;
	}

	/* the argument itself: a column or an expression of columns */
	{
		DeparseCtx	check = *ctx;

		check.buf = NULL;
		check.upper = false;
		if (!bq_deparse_operand(&check, arg))
			return AGG_NONE;
	}
	return kind;
}

/*
 * The argument of an aggregate; under FILTER (WHERE c) as IF(c, x, NULL),
 * which, like the FILTER, leaves out rows where c is false or NULL, and
 * does not evaluate x there.
 */
static void
append_agg_arg(DeparseCtx *ctx, Aggref *agg)
{
	DeparseCtx	inner = *ctx;

	inner.upper = false;
	if (agg->aggfilter != NULL)
	{
		appendStringInfoString(ctx->buf, "IF(");
		deparse_cond(&inner, (Node *) agg->aggfilter);
		appendStringInfoString(ctx->buf, ", ");
	}
	bq_deparse_operand(&inner, (Node *) ((TargetEntry *) linitial(agg->args))->expr);
	if (agg->aggfilter != NULL)
		appendStringInfoString(ctx->buf, ", NULL)");
}

/*
 * SUM of the argument; of bigint as BIGNUMERIC, since PostgreSQL's sum of
 * bigint is numeric and goes past 2^63 where INT64 would overflow.
 */
static void
append_sum(DeparseCtx *ctx, Aggref *agg)
{
	bool		widen = exprType((Node *) ((TargetEntry *) linitial(agg->args))->expr) == INT8OID;

	appendStringInfoString(ctx->buf, widen ? "SUM(CAST(" : "SUM(");
	append_agg_arg(ctx, agg);
	appendStringInfoString(ctx->buf, widen ? " AS BIGNUMERIC))" : ")");
}

/* an aggregate as an operand: everything but avg, which needs a division here */
static bool
deparse_aggregate(DeparseCtx *ctx, Aggref *agg)
{
	static const char *const names[] = {NULL, "COUNT", NULL, NULL, "MIN", "MAX"};
	BqAggKind	kind;

	if (!ctx->upper)
		return false;
	kind = agg_kind(ctx, agg);
	if (kind == AGG_NONE || kind == AGG_AVG ||
		(kind != AGG_COUNT && is_float(exprType(agg_arg(agg)))))
		return false;
	if (ctx->buf && kind == AGG_SUM)
		append_sum(ctx, agg);
	else if (ctx->buf && agg->aggstar && agg->aggfilter != NULL)
	{
		DeparseCtx	inner = *ctx;

		/* count(*) FILTER (WHERE c): the rows where c is true */
		inner.upper = false;
		appendStringInfoString(ctx->buf, "COUNTIF(");
		deparse_cond(&inner, (Node *) agg->aggfilter);
		appendStringInfoChar(ctx->buf, ')');
	}
	else if (ctx->buf)
	{
		appendStringInfo(ctx->buf, "%s(", names[kind]);
		if (agg->aggstar)
			appendStringInfoChar(ctx->buf, '*');
		else
		{
			if (agg->aggdistinct != NIL)
				appendStringInfoString(ctx->buf, "DISTINCT ");
			append_agg_arg(ctx, agg);
		}
		appendStringInfoChar(ctx->buf, ')');
	}
	return true;
}

/*
 * A float aggregate of a column as select items, "x" standing for the
 * column:
 *
 * - max: NaN when any input is NaN (PostgreSQL sorts NaN above every
 *   number), else MAX(x);
 * - min: the least input that is not NaN, NaN when all are;
 * - sum: the sum of the finite inputs, the counts of NaN, +Infinity and
 *   -Infinity inputs, and whether all inputs are -0 (PostgreSQL's sum
 *   keeps a lone -0); combined in the executor, which also raises
 *   float8pl's overflow error when finite inputs sum to an infinity;
 * - avg: the same sum, COUNT(x), and the largest finite magnitude, for
 *   float8_accum's overflow of its sum of squares.
 *
 * None of it leans on how BigQuery's own aggregates treat NaN.
 */
static BqCombine
deparse_float_aggregate(DeparseCtx *ctx, Aggref *agg, BqAggKind kind, const char *alias,
						int position)
{
	StringInfo	buf = ctx->buf;
	char	   *x;

	{
		StringInfoData arg;
		DeparseCtx	inner = *ctx;

		initStringInfo(&arg);
		inner.buf = &arg;
		append_agg_arg(&inner, agg);
		x = arg.data;
	}
	switch (kind)
	{
		case AGG_MAX:
			appendStringInfo(buf, "IF(COUNTIF(IS_NAN(%s)) > 0, CAST('NaN' AS FLOAT64), MAX(%s)) AS %s%d",
							 x, x, alias, position);
			return BQ_COMBINE_NONE;
		case AGG_MIN:
			appendStringInfo(buf, "COALESCE(MIN(IF(IS_NAN(%s), NULL, %s)), "
							 "IF(COUNTIF(IS_NAN(%s)) > 0, CAST('NaN' AS FLOAT64), NULL)) AS %s%d",
							 x, x, x, alias, position);
			return BQ_COMBINE_NONE;
		case AGG_SUM:
		case AGG_AVG:
			appendStringInfo(buf, "SUM(IF(IS_NAN(%s) OR IS_INF(%s), 0, %s)) AS %s%d, ",
							 x, x, x, alias, position++);
			if (kind == AGG_AVG)
				appendStringInfo(buf, "COUNT(%s) AS %s%d, ", x, alias, position++);
			appendStringInfo(buf, "COUNTIF(IS_NAN(%s)) AS %s%d, ", x, alias, position++);
			appendStringInfo(buf, "COUNTIF(IS_INF(%s) AND %s > 0) AS %s%d, ",
							 x, x, alias, position++);
			appendStringInfo(buf, "COUNTIF(IS_INF(%s) AND %s < 0) AS %s%d, ",
							 x, x, alias, position++);
			if (kind == AGG_SUM)
			{
				appendStringInfo(buf, "LOGICAL_AND(%s = 0 AND IEEE_DIVIDE(1, %s) < 0) AS %s%d",
								 x, x, alias, position);
				return BQ_COMBINE_FLOAT_SUM;
			}
			appendStringInfo(buf, "MAX(IF(IS_NAN(%s) OR IS_INF(%s), NULL, ABS(%s))) AS %s%d",
							 x, x, x, alias, position);
			return BQ_COMBINE_FLOAT_AVG;
		default:
			elog(ERROR, "unexpected float aggregate");
	}
	return BQ_COMBINE_NONE;
}

/* ---------------------------------------------------------------------
 * operands and conditions
 * ---------------------------------------------------------------------
 */

/* (left op right) */
static bool
deparse_infix(DeparseCtx *ctx, List *args, const char *op)
{
	bq_deparse_text(ctx, "(");
	if (!bq_deparse_operand(ctx, linitial(args)))
		return false;
	bq_deparse_text(ctx, " ");
	bq_deparse_text(ctx, op);
	bq_deparse_text(ctx, " ");
	if (!bq_deparse_operand(ctx, lsecond(args)))
		return false;
	bq_deparse_text(ctx, ")");
	return true;
}

/* a bigint operand, or an integer constant that BigQuery reads as INT64 */
static bool
is_int8_operand(Node *node)
{
	Oid			type = exprType(bq_strip_relabel(node));

	return type == INT8OID ||
		((type == INT4OID || type == INT2OID) && IsA(bq_strip_relabel(node), Const));
}

/*
 * bigint + - * and / (by a constant other than zero, as DIV, which also
 * truncates toward zero): both sides raise an error on overflow
 */
static bool
deparse_arithmetic(DeparseCtx *ctx, OpExpr *op)
{
	char	   *name;
	Const	   *divisor;

	if (list_length(op->args) != 2 || op->opresulttype != INT8OID ||
		!is_int8_operand(linitial(op->args)) || !is_int8_operand(lsecond(op->args)))
		return false;
	name = builtin_operator(op->opno);
	if (name == NULL)
		return false;
	if (strcmp(name, "/") == 0)
	{
		divisor = (Const *) bq_strip_relabel(lsecond(op->args));
		if (!IsA(divisor, Const) || divisor->constisnull ||
			(divisor->consttype == INT8OID ? DatumGetInt64(divisor->constvalue) == 0
			 : divisor->consttype == INT4OID ? DatumGetInt32(divisor->constvalue) == 0
			 : DatumGetInt16(divisor->constvalue) == 0))
			return false;
		bq_deparse_text(ctx, "DIV(");
		if (!bq_deparse_operand(ctx, linitial(op->args)))
			return false;
		bq_deparse_text(ctx, ", ");
		if (!bq_deparse_operand(ctx, lsecond(op->args)))
			return false;
		bq_deparse_text(ctx, ")");
		return true;
	}
	if (strcmp(name, "+") != 0 && strcmp(name, "-") != 0 && strcmp(name, "*") != 0)
		return false;
	return deparse_infix(ctx, op->args, name);
}

/* ---------------------------------------------------------------------
 * float8 values
 * ---------------------------------------------------------------------
 */

/*
 * A float8 parameter's value as BigQuery reads a FLOAT64 one: the shortest
 * text that reads back to the same double whatever extra_float_digits says,
 * and NaN, Infinity and -Infinity spelt as CAST(... AS FLOAT64) reads them.
 */
char *
bq_float8_param_text(double value)
{
	char	   *text = palloc(DOUBLE_SHORTEST_DECIMAL_LEN);

	double_to_shortest_decimal_buf(value, text);
	return text;
}

/* a float8 constant known now to be a number: IS_NAN of it is FALSE */
static bool
is_float_number(Node *node)
{
	Const	   *c = (Const *) bq_strip_relabel(node);

	return IsA(c, Const) && c->consttype == FLOAT8OID && !c->constisnull &&
		!isnan(DatumGetFloat8(c->constvalue));
}

static bool
append_is_nan(DeparseCtx *ctx, Node *node)
{
	bq_deparse_text(ctx, "IS_NAN(");
	if (!bq_deparse_operand(ctx, node))
		return false;
	bq_deparse_text(ctx, ")");
	return true;
}

/*
 * A float8 comparison with PostgreSQL's meaning, where NaN equals NaN and
 * is greater than every other number, for any value of either side (NULL
 * too: each added term is NULL or FALSE when the comparison is NULL).
 * BigQuery's own comparisons are FALSE whenever a side is NaN:
 *
 *	a = b	(a = b OR (IS_NAN(a) AND IS_NAN(b)))
 *	a <> b	(NOT (a = b OR (IS_NAN(a) AND IS_NAN(b))))
 *	a < b	(a < b OR (IS_NAN(b) AND NOT IS_NAN(a)))
 *	a <= b	(a <= b OR (IS_NAN(b) AND a IS NOT NULL))
 *
 * a > b and a >= b as b < a and b <= a.  A term about a constant known
 * not to be NaN is left out.
 */
static bool
deparse_float_comparison(DeparseCtx *ctx, const char *op, Node *a, Node *b)
{
	bool		a_number;
	bool		b_number;

	if (op[0] == '>')
	{
		Node	   *swap = a;

		a = b;
		b = swap;
		op = op[1] == '=' ? "<=" : "<";
	}
	a_number = is_float_number(a);
	b_number = is_float_number(b);

	if (strcmp(op, "=") == 0 || strcmp(op, "<>") == 0)
	{
		bq_deparse_text(ctx, op[0] == '<' ? "(NOT (" : "(");
		if (!bq_deparse_operand(ctx, a))
			return false;
		bq_deparse_text(ctx, " = ");
		if (!bq_deparse_operand(ctx, b))
			return false;
		if (!a_number && !b_number)
		{
			bq_deparse_text(ctx, " OR (");
			if (!append_is_nan(ctx, a))
				return false;
			bq_deparse_text(ctx, " AND ");
			if (!append_is_nan(ctx, b))
				return false;
			bq_deparse_text(ctx, ")");
		}
		bq_deparse_text(ctx, op[0] == '<' ? "))" : ")");
		return true;
	}

	bq_deparse_text(ctx, "(");
	if (!bq_deparse_operand(ctx, a))
		return false;
	bq_deparse_text(ctx, op[1] == '=' ? " <= " : " < ");
	if (!bq_deparse_operand(ctx, b))
		return false;
	if (!b_number)
	{
		bq_deparse_text(ctx, " OR ");
		if (!a_number)
			bq_deparse_text(ctx, "(");
		if (!append_is_nan(ctx, b))
			return false;
		if (!a_number && op[1] == '=')
		{
			bq_deparse_text(ctx, " AND ");
			if (!bq_deparse_operand(ctx, a))
				return false;
			bq_deparse_text(ctx, " IS NOT NULL)");
		}
		else if (!a_number)
		{
			bq_deparse_text(ctx, " AND NOT ");
			if (!append_is_nan(ctx, a))
				return false;
			bq_deparse_text(ctx, ")");
		}
	}
	bq_deparse_text(ctx, ")");
	return true;
}

/* float8 = ANY (constant array without NaN): BigQuery's IN then agrees */
static bool
is_float_array_without_nan(Node *node)
{
	Const	   *c = (Const *) bq_strip_relabel(node);
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	if (!IsA(c, Const) || c->consttype != FLOAT8ARRAYOID)
		return false;
	if (c->constisnull)
		return true;
	deconstruct_array(DatumGetArrayTypeP(c->constvalue), FLOAT8OID, sizeof(float8),
					  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
		if (!nulls[i] && isnan(DatumGetFloat8(elems[i])))
			return false;
	return true;
}

/* ---------------------------------------------------------------------
 * text functions
 * ---------------------------------------------------------------------
 */

/* each argument, comma-separated, optionally each as IFNULL(arg, '') */
static bool
append_arguments(DeparseCtx *ctx, List *args, bool null_as_empty)
{
	ListCell   *lc;

	foreach(lc, args)
	{
		if (lc != list_head(args))
			bq_deparse_text(ctx, ", ");
		if (null_as_empty)
			bq_deparse_text(ctx, "IFNULL(");
		if (!bq_deparse_operand(ctx, lfirst(lc)))
			return false;
		if (null_as_empty)
			bq_deparse_text(ctx, ", '')");
	}
	return true;
}

/*
 * lower() or upper() under a C ctype, where PostgreSQL changes the ASCII
 * letters only: TRANSLATE does just that in BigQuery.
 */
static bool
deparse_ascii_case(DeparseCtx *ctx, Node *arg, bool to_lower)
{
	static const char upper_letters[] = "'ABCDEFGHIJKLMNOPQRSTUVWXYZ'";
	static const char lower_letters[] = "'abcdefghijklmnopqrstuvwxyz'";

	bq_deparse_text(ctx, "TRANSLATE(");
	if (!bq_deparse_operand(ctx, arg))
		return false;
	bq_deparse_text(ctx, ", ");
	bq_deparse_text(ctx, to_lower ? upper_letters : lower_letters);
	bq_deparse_text(ctx, ", ");
	bq_deparse_text(ctx, to_lower ? lower_letters : upper_letters);
	bq_deparse_text(ctx, ")");
	return true;
}

/*
 * substr(s, m [, n]) as SUBSTR with PostgreSQL's reading of m and n:
 * characters from max(m, 1) up to m + n - 1, none when that is before 1, an
 * error for a negative n (unless s or m is NULL: the function is strict);
 * BigQuery would count a negative m from the end.
 */
static bool
deparse_substr(DeparseCtx *ctx, List *args)
{
	Node	   *s = linitial(args);
	Node	   *m = lsecond(args);
	Node	   *n = list_length(args) == 3 ? lthird(args) : NULL;

	bq_deparse_text(ctx, "SUBSTR(");
	if (!bq_deparse_operand(ctx, s))
		return false;
	bq_deparse_text(ctx, ", GREATEST(");
	if (!bq_deparse_operand(ctx, m))
		return false;
	bq_deparse_text(ctx, ", 1)");
	if (n != NULL)
	{
		bq_deparse_text(ctx, ", IF(");
		if (!bq_deparse_operand(ctx, n))
			return false;
		bq_deparse_text(ctx, " < 0 AND ");
		if (!bq_deparse_operand(ctx, s))
			return false;
		bq_deparse_text(ctx, " IS NOT NULL AND ");
		if (!bq_deparse_operand(ctx, m))
			return false;
		bq_deparse_text(ctx, " IS NOT NULL, ERROR('negative substring length not allowed'), GREATEST(");
		if (!bq_deparse_operand(ctx, n))
			return false;
		bq_deparse_text(ctx, " + LEAST(");
		if (!bq_deparse_operand(ctx, m))
			return false;
		bq_deparse_text(ctx, ", 1) - 1, 0))");
	}
	bq_deparse_text(ctx, ")");
	return true;
}

/*
 * strpos(s, sub): PostgreSQL finds '' at 1 in any string, which BigQuery's
 * documentation leaves unsaid, so that case is spelt out
 */
static bool
deparse_strpos(DeparseCtx *ctx, Node *s, Node *sub)
{
	bq_deparse_text(ctx, "CASE WHEN ");
	if (!bq_deparse_operand(ctx, s))
		return false;
	bq_deparse_text(ctx, " IS NULL OR ");
	if (!bq_deparse_operand(ctx, sub))
		return false;
	bq_deparse_text(ctx, " IS NULL THEN NULL WHEN ");
	if (!bq_deparse_operand(ctx, sub))
		return false;
	bq_deparse_text(ctx, " = '' THEN 1 ELSE STRPOS(");
	if (!bq_deparse_operand(ctx, s))
		return false;
	bq_deparse_text(ctx, ", ");
	if (!bq_deparse_operand(ctx, sub))
		return false;
	bq_deparse_text(ctx, ") END");
	return true;
}

/* the built-in text functions BigQuery computes alike */
static bool
deparse_text_function(DeparseCtx *ctx, FuncExpr *f)
{
	const char *name;
	ListCell   *lc;

	if (f->funcvariadic || f->funcretset)
		return false;
	foreach(lc, f->args)
	{
		Oid			type = exprType(bq_strip_relabel(lfirst(lc)));

		if (!is_text(type) && type != INT4OID)
			return false;
	}
	switch (f->funcid)
	{
		case F_LOWER_TEXT:
		case F_UPPER_TEXT:
			if (!lc_ctype_is_c(f->inputcollid))
				return false;
			return deparse_ascii_case(ctx, linitial(f->args), f->funcid == F_LOWER_TEXT);
		case F_LENGTH_TEXT:
		case F_CHAR_LENGTH_TEXT:
		case F_CHARACTER_LENGTH_TEXT:
			name = "LENGTH";
			break;
		case F_SUBSTR_TEXT_INT4_INT4:
		case F_SUBSTR_TEXT_INT4:
		case F_SUBSTRING_TEXT_INT4_INT4:
		case F_SUBSTRING_TEXT_INT4:
			return deparse_substr(ctx, f->args);
		case F_CONCAT:
			/* every argument text: others would be printed by their output functions */
			foreach(lc, f->args)
				if (!is_text(exprType(bq_strip_relabel(lfirst(lc)))))
					return false;
			bq_deparse_text(ctx, "CONCAT(");
			if (!append_arguments(ctx, f->args, true))
				return false;
			bq_deparse_text(ctx, ")");
			return true;
		case F_BTRIM_TEXT:
		case F_BTRIM_TEXT_TEXT:
			name = "TRIM";
			break;
		case F_LTRIM_TEXT:
		case F_LTRIM_TEXT_TEXT:
			name = "LTRIM";
			break;
		case F_RTRIM_TEXT:
		case F_RTRIM_TEXT_TEXT:
			name = "RTRIM";
			break;
		case F_REPLACE:
			name = "REPLACE";
			break;
		case F_STARTS_WITH:
			if (!OidIsValid(f->inputcollid) || !get_collation_isdeterministic(f->inputcollid))
				return false;
			name = "STARTS_WITH";
			break;
		case F_STRPOS:
			if (!OidIsValid(f->inputcollid) || !get_collation_isdeterministic(f->inputcollid))
				return false;
			return deparse_strpos(ctx, linitial(f->args), lsecond(f->args));
		default:
			return false;
	}
	bq_deparse_text(ctx, name);
	bq_deparse_text(ctx, "(");
	if (!append_arguments(ctx, f->args, false))
		return false;
	/* PostgreSQL trims spaces only, BigQuery all Unicode white space */
	if (list_length(f->args) == 1 && strstr(name, "TRIM") != NULL)
		bq_deparse_text(ctx, ", ' '");
	bq_deparse_text(ctx, ")");
	return true;
}

/* text || text: NULL when either is, on both sides */
static bool
deparse_text_concat(DeparseCtx *ctx, OpExpr *op)
{
	char	   *name;

	if (list_length(op->args) != 2 || op->opresulttype != TEXTOID ||
		!is_text(exprType(bq_strip_relabel(linitial(op->args)))) ||
		!is_text(exprType(bq_strip_relabel(lsecond(op->args)))))
		return false;
	name = builtin_operator(op->opno);
	if (name == NULL || strcmp(name, "||") != 0)
		return false;
	return deparse_infix(ctx, op->args, "||");
}

/* ---------------------------------------------------------------------
 * conditional expressions
 * ---------------------------------------------------------------------
 */

/*
 * A type whose values BigQuery gives back as PostgreSQL shows them (not
 * numeric: BigQuery drops trailing zeros of its scale).
 */
static bool
is_conditional_result_type(Oid type)
{
	return type != NUMERICOID && bq_param_type(type) != NULL;
}

static bool
deparse_coalesce(DeparseCtx *ctx, CoalesceExpr *c)
{
	if (!is_conditional_result_type(c->coalescetype))
		return false;
	bq_deparse_text(ctx, "COALESCE(");
	if (!append_arguments(ctx, c->args, false))
		return false;
	bq_deparse_text(ctx, ")");
	return true;
}

/*
 * CASE, a simple one as a searched one: its WHEN tests are PostgreSQL's =
 * with CaseTestExpr for the operand, deparsed as any comparison is (NaN, a
 * collation), and the operand is a column or a value, cheap to repeat.
 */
static bool
deparse_case_branches(DeparseCtx *ctx, CaseExpr *c)
{
	ListCell   *lc;

	bq_deparse_text(ctx, "CASE");
	foreach(lc, c->args)
	{
		CaseWhen   *w = (CaseWhen *) lfirst(lc);

		bq_deparse_text(ctx, " WHEN ");
		if (!deparse_cond(ctx, (Node *) w->expr))
			return false;
		bq_deparse_text(ctx, " THEN ");
		if (!bq_deparse_operand(ctx, (Node *) w->result))
			return false;
	}
	if (c->defresult != NULL)
	{
		bq_deparse_text(ctx, " ELSE ");
		if (!bq_deparse_operand(ctx, (Node *) c->defresult))
			return false;
	}
	bq_deparse_text(ctx, " END");
	return true;
}

static bool
deparse_case(DeparseCtx *ctx, CaseExpr *c)
{
	Node	   *outer_arg = ctx->case_arg;
	bool		ok;

	if (!is_conditional_result_type(c->casetype))
		return false;
	if (c->arg != NULL)
	{
		DeparseCtx	check = *ctx;

		check.buf = NULL;
		if (!bq_deparse_operand(&check, (Node *) c->arg))
			return false;
		/* a searched CASE inside leaves the CaseTestExpr of an outer one */
		ctx->case_arg = (Node *) c->arg;
	}
	ok = deparse_case_branches(ctx, c);
	ctx->case_arg = outer_arg;
	return ok;
}

/* NULLIF(a, b) as IF(a = b, NULL, a), with PostgreSQL's = */
static bool
deparse_nullif(DeparseCtx *ctx, NullIfExpr *n)
{
	if (!is_conditional_result_type(n->opresulttype) || list_length(n->args) != 2)
		return false;
	bq_deparse_text(ctx, "IF(");
	if (!deparse_comparison(ctx, (OpExpr *) n))
		return false;
	bq_deparse_text(ctx, ", NULL, ");
	if (!bq_deparse_operand(ctx, linitial(n->args)))
		return false;
	bq_deparse_text(ctx, ")");
	return true;
}

bool
bq_deparse_operand(DeparseCtx *ctx, Node *node)
{
	node = bq_strip_relabel(node);
	if (node == NULL)
		return false;
	/* a simple CASE's operand, only known inside its CASE */
	if (IsA(node, CaseTestExpr))
		return ctx->case_arg != NULL && bq_deparse_operand(ctx, ctx->case_arg);
	if (is_column(ctx, node))
	{
		if (ctx->buf)
			append_column(ctx, (Var *) node);
		return true;
	}
	if (bq_is_value(node))
	{
		bq_deparse_param(ctx, node, BQP_VALUE);
		return true;
	}
	if (IsA(node, OpExpr) && deparse_text_concat(ctx, (OpExpr *) node))
		return true;
	if (IsA(node, FuncExpr) && deparse_text_function(ctx, (FuncExpr *) node))
		return true;
	if (IsA(node, CoalesceExpr))
		return deparse_coalesce(ctx, (CoalesceExpr *) node);
	if (IsA(node, CaseExpr))
		return deparse_case(ctx, (CaseExpr *) node);
	if (IsA(node, NullIfExpr))
		return deparse_nullif(ctx, (NullIfExpr *) node);
	if (bq_deparse_epoch(ctx, node))
		return true;
	if (IsA(node, OpExpr))
		return deparse_arithmetic(ctx, (OpExpr *) node);
	if (IsA(node, FuncExpr))
		return bq_deparse_date_trunc(ctx, (FuncExpr *) node) ||
			bq_deparse_date_cast(ctx, (FuncExpr *) node) ||
			bq_deparse_date_bin(ctx, (FuncExpr *) node) ||
			bq_deparse_extract_field(ctx, (FuncExpr *) node);
	if (IsA(node, Aggref))
		return deparse_aggregate(ctx, (Aggref *) node);
	return false;
}

/* the operands' common GoogleSQL type, NULL when they do not compare alike */
static const char *
comparable_type(Node *left, Node *right)
{
	const char *l = bq_param_type(exprType(bq_strip_relabel(left)));
	const char *r = bq_param_type(exprType(bq_strip_relabel(right)));

	return l && r && strcmp(l, r) == 0 ? l : NULL;
}

static bool
deparse_comparison(DeparseCtx *ctx, OpExpr *op)
{
	static const char *const ops[] = {"=", "<>", "<", "<=", ">", ">="};
	char	   *name;
	bool		known = false;

	if (list_length(op->args) != 2)
		return false;
	name = builtin_operator(op->opno);
	if (name == NULL)
		return false;
	for (int i = 0; i < lengthof(ops); i++)
		known |= strcmp(name, ops[i]) == 0;
	if (!known || comparable_type(linitial(op->args), lsecond(op->args)) == NULL)
		return false;

	if (exprType(bq_strip_relabel(linitial(op->args))) == FLOAT8OID)
		return deparse_float_comparison(ctx, name, linitial(op->args), lsecond(op->args));
	/* dates and timestamps: bounds past BigQuery's range */
	{
		bool		handled;
		bool		pushed = bq_deparse_time_comparison(ctx, op, name, &handled);

		if (handled)
			return pushed;
	}

	/* strings: BigQuery compares bytes, so only C ordering agrees */
	if (is_text(exprType(bq_strip_relabel(linitial(op->args)))))
	{
		bool		equality = strcmp(name, "=") == 0 || strcmp(name, "<>") == 0;

		if (!OidIsValid(op->inputcollid) ||
			(equality ? !get_collation_isdeterministic(op->inputcollid)
			 : !is_code_point_collation(op->inputcollid)))
			return false;
	}

	return deparse_infix(ctx, op->args, name);
}

/*
 * A LIKE pattern BigQuery reads as PostgreSQL does: a constant whose
 * backslashes only escape %, _ or a backslash.
 */
static bool
is_portable_like_pattern(Node *node)
{
	Const	   *c = (Const *) bq_strip_relabel(node);
	char	   *p;

	if (!IsA(c, Const) || !is_text(c->consttype))
		return false;
	if (c->constisnull)
		return true;
	for (p = TextDatumGetCString(c->constvalue); *p; p++)
		if (*p == '\\')
		{
			p++;
			if (*p != '%' && *p != '_' && *p != '\\')
				return false;
		}
	return true;
}

static bool
deparse_like(DeparseCtx *ctx, OpExpr *op)
{
	char	   *name = builtin_operator(op->opno);
	bool		negated;
	bool		ignore_case;

	if (name == NULL || list_length(op->args) != 2)
		return false;
	negated = name[0] == '!';
	if (strcmp(name + negated, "~~") == 0)
		ignore_case = false;
	else if (strcmp(name + negated, "~~*") == 0)
		ignore_case = true;
	else
		return false;
	if (!is_text(exprType(bq_strip_relabel(linitial(op->args)))) ||
		!is_portable_like_pattern(lsecond(op->args)) ||
		!OidIsValid(op->inputcollid) || !get_collation_isdeterministic(op->inputcollid))
		return false;
	if (!ignore_case)
		return deparse_infix(ctx, op->args, negated ? "NOT LIKE" : "LIKE");

	/*
	 * ILIKE lowers both sides as lower() does, which under a C ctype is the
	 * ASCII letters alone
	 */
	if (!lc_ctype_is_c(op->inputcollid))
		return false;
	bq_deparse_text(ctx, "(");
	if (!deparse_ascii_case(ctx, linitial(op->args), true))
		return false;
	bq_deparse_text(ctx, negated ? " NOT LIKE " : " LIKE ");
	if (!deparse_ascii_case(ctx, lsecond(op->args), true))
		return false;
	bq_deparse_text(ctx, ")");
	return true;
}

/* a constant array with a NULL element, or NULL itself */
static bool
const_array_has_null(Const *c)
{
	return c->constisnull || array_contains_nulls(DatumGetArrayTypeP(c->constvalue));
}

/*
 * x = ANY (array) and x <> ALL (array), IN and NOT IN lists among them.
 *
 * BigQuery arrays hold no NULLs, so the array goes without them, and a
 * second parameter says whether it had any: then a non-matching x gives
 * NULL, as in PostgreSQL, not false.
 */
static bool
deparse_array_op(DeparseCtx *ctx, ScalarArrayOpExpr *op)
{
	char	   *name = builtin_operator(op->opno);
	Node	   *x;
	Node	   *array;
	Oid			elem;
	bool		may_hold_null;

	if (name == NULL || list_length(op->args) != 2 ||
		strcmp(name, op->useOr ? "=" : "<>") != 0)
		return false;
	x = bq_strip_relabel(linitial(op->args));
	array = bq_strip_relabel(lsecond(op->args));
	if ((!is_array_value(array) && !is_float_array_without_nan(array)) ||
		!bq_time_array_in_range(array))
		return false;
	elem = get_element_type(exprType(array));
	if (bq_param_type(exprType(x)) == NULL ||
		strcmp(bq_param_type(exprType(x)), bq_param_type(elem)) != 0)
		return false;
	if (is_text(elem) &&
		(!OidIsValid(op->inputcollid) || !get_collation_isdeterministic(op->inputcollid)))
		return false;
	if (elem == FLOAT8OID && exprType(x) != FLOAT8OID)
		return false;
	may_hold_null = !IsA(array, Const) || const_array_has_null((Const *) array);

	bq_deparse_text(ctx, op->useOr ? "(" : "(NOT (");
	if (!bq_deparse_operand(ctx, x))
		return false;
	bq_deparse_text(ctx, " IN UNNEST(");
	bq_deparse_param(ctx, array, BQP_ARRAY);
	bq_deparse_text(ctx, ")");
	if (may_hold_null)
	{
		bq_deparse_text(ctx, " OR IF(");
		bq_deparse_param(ctx, array, BQP_ARRAY_HAS_NULL);
		bq_deparse_text(ctx, ", NULL, FALSE)");
	}
	bq_deparse_text(ctx, op->useOr ? ")" : "))");
	return true;
}

static bool
deparse_cond(DeparseCtx *ctx, Node *node)
{
	if (node == NULL)
		return false;
	switch (nodeTag(node))
	{
		case T_Var:
			/* a boolean column as a condition of its own */
			if (!is_column(ctx, node) || exprType(node) != BOOLOID)
				return false;
			return bq_deparse_operand(ctx, node);
		case T_OpExpr:
			return deparse_comparison(ctx, (OpExpr *) node) ||
				deparse_like(ctx, (OpExpr *) node);
		case T_FuncExpr:
		case T_CaseExpr:
		case T_CoalesceExpr:
			/* starts_with(), a boolean CASE or COALESCE */
			return exprType(node) == BOOLOID && !bq_is_value(node) &&
				bq_deparse_operand(ctx, node);
		case T_ScalarArrayOpExpr:
			return deparse_array_op(ctx, (ScalarArrayOpExpr *) node);
		case T_NullTest:
			{
				NullTest   *nt = (NullTest *) node;

				if (nt->argisrow || bq_is_value((Node *) nt->arg))
					return false;
				bq_deparse_text(ctx, "(");
				if (!bq_deparse_operand(ctx, (Node *) nt->arg))
					return false;
				bq_deparse_text(ctx, nt->nulltesttype == IS_NULL ? " IS NULL)" : " IS NOT NULL)");
				return true;
			}
		case T_BoolExpr:
			{
				BoolExpr   *b = (BoolExpr *) node;
				ListCell   *lc;

				Node	   *filter = ctx->filter;
				bool		pushed = true;

				bq_deparse_text(ctx, b->boolop == NOT_EXPR ? "(NOT " : "(");
				foreach(lc, b->args)
				{
					if (lc != list_head(b->args))
						bq_deparse_text(ctx, b->boolop == AND_EXPR ? " AND " : " OR ");
					/* AND and OR pass on a row only if a term is true; NOT is not so */
					ctx->filter = filter == node && b->boolop != NOT_EXPR ? lfirst(lc) : NULL;
					pushed = deparse_cond(ctx, lfirst(lc));
					if (!pushed)
						break;
				}
				ctx->filter = filter;
				bq_deparse_text(ctx, ")");
				return pushed;
			}
		default:
			return false;
	}
}

/* ---------------------------------------------------------------------
 * entry points
 * ---------------------------------------------------------------------
 */

bool
bq_is_pushable(RelOptInfo *scanrel, Relation rel, Expr *clause, bool upper)
{
	DeparseCtx	ctx = {scanrel, rel, upper, NULL, NULL, NULL, (Node *) clause};

	return deparse_cond(&ctx, (Node *) clause);
}

bool
bq_is_pushable_operand(RelOptInfo *scanrel, Relation rel, Expr *expr, bool upper)
{
	DeparseCtx	ctx = {scanrel, rel, upper, NULL, NULL};

	/*
	 * The planner groups by such operands and selects them: not float8,
	 * whose group of 0 and -0 shows either
	 */
	if (exprType((Node *) expr) == FLOAT8OID)
		return false;
	return bq_deparse_operand(&ctx, (Node *) expr);
}

bool
bq_is_pushable_aggregate(RelOptInfo *scanrel, Relation rel, Aggref *agg)
{
	DeparseCtx	ctx = {scanrel, rel, true, NULL, NULL};

	return agg_kind(&ctx, agg) != AGG_NONE;
}

void
bq_deparse_where(StringInfo buf, const char *keyword, RelOptInfo *scanrel, Relation rel,
				 List *clauses, bool upper, List **params)
{
	DeparseCtx	ctx = {scanrel, rel, upper, buf, params};
	ListCell   *lc;

	foreach(lc, clauses)
	{
		appendStringInfo(buf, " %s ", lc == list_head(clauses) ? keyword : "AND");
		ctx.filter = lfirst(lc);
		deparse_cond(&ctx, lfirst(lc));
	}
}

/*
 * One item of an upper relation's select list, named "alias" followed by
 * its position: BigQuery names an unaliased column reference after the
 * column and refuses a result with two columns of the same name, which a
 * grouped column also sorted under another collation would give (no name
 * with a NULL alias: an UPDATE's SET value).  Returns how its BigQuery
 * columns make the value (several for avg and floats, which need a name).
 */
BqCombine
bq_deparse_select_item(StringInfo buf, RelOptInfo *scanrel, Relation rel, Expr *expr,
					   List **params, const char *alias, int position)
{
	DeparseCtx	ctx = {scanrel, rel, true, buf, params};
	Node	   *node = bq_strip_relabel((Node *) expr);
	BqAggKind	kind = IsA(node, Aggref) ? agg_kind(&ctx, (Aggref *) node) : AGG_NONE;

	if (kind != AGG_NONE && kind != AGG_COUNT && is_float(exprType(agg_arg((Aggref *) node))))
		return deparse_float_aggregate(&ctx, (Aggref *) node, kind, alias, position);
	if (kind == AGG_AVG)
	{
		/* avg = SUM / COUNT, divided as PostgreSQL does */
		append_sum(&ctx, (Aggref *) node);
		appendStringInfo(buf, " AS %s%d, COUNT(", alias, position);
		append_agg_arg(&ctx, (Aggref *) node);
		appendStringInfo(buf, ") AS %s%d", alias, position + 1);
		return BQ_COMBINE_AVG;
	}
	bq_deparse_operand(&ctx, node);
	if (alias != NULL)
		appendStringInfo(buf, " AS %s%d", alias, position);
	return BQ_COMBINE_NONE;
}

/*
 * The scale PostgreSQL gives a select item that BigQuery computes without
 * it: sum, avg (its sum), min and max of numeric(p, s).  -1 for the rest.
 */
int
bq_select_item_scale(Expr *expr)
{
	Node	   *node = bq_strip_relabel((Node *) expr);
	Aggref	   *agg = (Aggref *) node;
	Node	   *arg;

	/* extract(epoch FROM ts), sent as a NUMERIC division */
	if (bq_epoch_extract_of(node) != NULL)
		return 6;
	if (!IsA(node, Aggref) || agg->aggstar || list_length(agg->args) != 1 ||
		strcmp(get_func_name(agg->aggfnoid), "count") == 0)
		return -1;
	arg = bq_strip_relabel((Node *) ((TargetEntry *) linitial(agg->args))->expr);
	return exprType(arg) == NUMERICOID ? typmod_scale(exprTypmod(arg)) : -1;
}

/*
 * The expression a pathkey sorts by, when BigQuery sorts it the same way:
 * a pushable operand of a pushed type found among "candidates" (the
 * columns of a scan, the select list of an aggregate query), the type's
 * own btree ordering (text only under C).  NULL otherwise.
 */
static Expr *
sort_expression(DeparseCtx *ctx, PathKey *pk, List *candidates)
{
	EquivalenceClass *ec = pk->pk_eclass;
	ListCell   *lc;

	if (ec->ec_has_volatile)
		return NULL;
	foreach(lc, ec->ec_members)
	{
		EquivalenceMember *em = (EquivalenceMember *) lfirst(lc);
		Expr	   *expr = (Expr *) bq_strip_relabel((Node *) em->em_expr);
		Oid			type;

		if (em->em_is_const)
			continue;
		if (candidates != NIL ? !list_member(candidates, expr) : !is_column(ctx, (Node *) expr))
			continue;
		type = exprType((Node *) expr);
		if (bq_param_type(type) == NULL || pk->pk_opfamily >= FirstNormalObjectId ||
			!OidIsValid(get_opfamily_member(pk->pk_opfamily, type, type, pk->pk_strategy)))
			return NULL;
		if (is_text(type) && !is_code_point_collation(ec->ec_collation))
			return NULL;
		if (!bq_deparse_operand(ctx, (Node *) expr))
			return NULL;
		return expr;
	}
	return NULL;
}

bool
bq_pathkeys_pushable(RelOptInfo *scanrel, Relation rel, List *pathkeys, List *candidates)
{
	DeparseCtx	ctx = {scanrel, rel, candidates != NIL, NULL, NULL};
	ListCell   *lc;

	foreach(lc, pathkeys)
		if (sort_expression(&ctx, lfirst(lc), candidates) == NULL)
			return false;
	return pathkeys != NIL;
}

/*
 * ORDER BY of the pathkeys.  With "positions" (each candidate's place in
 * the select list), by position, as GROUP BY is: the key is already
 * computed there, and a position cannot be mistaken for a column.
 */
void
bq_deparse_order_by(StringInfo buf, RelOptInfo *scanrel, Relation rel, List *pathkeys,
					List *candidates, List *positions, List **params)
{
	DeparseCtx	ctx = {scanrel, rel, candidates != NIL, buf, params};
	ListCell   *lc;

	foreach(lc, pathkeys)
	{
		PathKey    *pk = (PathKey *) lfirst(lc);

		DeparseCtx	check = ctx;
		const char *direction = pk->pk_strategy == BTLessStrategyNumber ? " ASC" : " DESC";
		const char *nulls = pk->pk_nulls_first ? " NULLS FIRST" : " NULLS LAST";
		Expr	   *expr;

		check.buf = NULL;
		expr = sort_expression(&check, pk, candidates);
		appendStringInfoString(buf, lc == list_head(pathkeys) ? " ORDER BY " : ", ");

		/* BigQuery sorts NaN below every number, PostgreSQL above */
		if (exprType((Node *) expr) == FLOAT8OID)
		{
			append_is_nan(&ctx, (Node *) expr);
			appendStringInfo(buf, "%s%s, ", direction, nulls);
		}
		if (positions != NIL)
		{
			/* the key by its place in the select list */
			int			i = 0;

			while (i < list_length(candidates) && !equal(list_nth(candidates, i), expr))
				i++;
			if (i == list_length(candidates))
				elog(ERROR, "sort key not found in the remote select list");
			appendStringInfo(buf, "%d", list_nth_int(positions, i));
		}
		else
			bq_deparse_operand(&ctx, (Node *) expr);
		appendStringInfo(buf, "%s%s", direction, nulls);
	}
}
