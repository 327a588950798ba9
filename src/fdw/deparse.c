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
 * Every value travels as a typed query parameter (@p1, @p2, ...), never as
 * text spliced into the query, so no string a user supplies can change the
 * remote SQL.  A parameter may be a constant, a query parameter ($1) or a
 * stable expression such as now() - interval '1 hour': it is computed once
 * at execution start, which is what lets BigQuery prune partitions.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

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

typedef struct DeparseCtx
{
	RelOptInfo *scanrel;		/* the foreign table's relation */
	Relation	rel;
	bool		upper;			/* aggregates allowed (select list, HAVING) */
	StringInfo	buf;			/* NULL: only checking */
	List	  **params;			/* BqParam of @p1, @p2, ... */
	Node	   *case_arg;		/* a simple CASE's operand, for CaseTestExpr */
	Node	   *filter;			/* a condition whose NULL reads as false */
} DeparseCtx;

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

static Node *
strip_relabel(Node *node)
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
static bool
is_value(Node *node)
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

static void
append_text(DeparseCtx *ctx, const char *s)
{
	if (ctx->buf)
		appendStringInfoString(ctx->buf, s);
}

static void
append_param(DeparseCtx *ctx, Node *value, BqParamKind kind)
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

static bool deparse_operand(DeparseCtx *ctx, Node *node);
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
	return strip_relabel((Node *) ((TargetEntry *) linitial(agg->args))->expr);
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
	arg = strip_relabel((Node *) ((TargetEntry *) linitial(agg->args))->expr);
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
		if (!deparse_operand(&check, arg))
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
	deparse_operand(&inner, (Node *) ((TargetEntry *) linitial(agg->args))->expr);
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
	append_text(ctx, "(");
	if (!deparse_operand(ctx, linitial(args)))
		return false;
	append_text(ctx, " ");
	append_text(ctx, op);
	append_text(ctx, " ");
	if (!deparse_operand(ctx, lsecond(args)))
		return false;
	append_text(ctx, ")");
	return true;
}

/* a bigint operand, or an integer constant that BigQuery reads as INT64 */
static bool
is_int8_operand(Node *node)
{
	Oid			type = exprType(strip_relabel(node));

	return type == INT8OID ||
		((type == INT4OID || type == INT2OID) && IsA(strip_relabel(node), Const));
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
		divisor = (Const *) strip_relabel(lsecond(op->args));
		if (!IsA(divisor, Const) || divisor->constisnull ||
			(divisor->consttype == INT8OID ? DatumGetInt64(divisor->constvalue) == 0
			 : divisor->consttype == INT4OID ? DatumGetInt32(divisor->constvalue) == 0
			 : DatumGetInt16(divisor->constvalue) == 0))
			return false;
		append_text(ctx, "DIV(");
		if (!deparse_operand(ctx, linitial(op->args)))
			return false;
		append_text(ctx, ", ");
		if (!deparse_operand(ctx, lsecond(op->args)))
			return false;
		append_text(ctx, ")");
		return true;
	}
	if (strcmp(name, "+") != 0 && strcmp(name, "-") != 0 && strcmp(name, "*") != 0)
		return false;
	return deparse_infix(ctx, op->args, name);
}

/* ---------------------------------------------------------------------
 * time: bounds outside BigQuery's range, time zones, date_trunc
 *
 * BigQuery's DATE and TIMESTAMP hold 0001-01-01 to 9999-12-31 (UTC);
 * PostgreSQL's go further, up to infinity.  A bound outside that range is
 * always true or always false for a non-NULL value, so it never travels
 * as a value: a constant one is decided here, and a parameter or stable
 * expression, known only at execution start, is sent clamped into the
 * range with the comparison chosen so that the clamped value gives the
 * same rows.
 * ---------------------------------------------------------------------
 */

static bool
is_time_type(Oid type)
{
	return type == DATEOID || type == TIMESTAMPTZOID;
}

/* the first and last value BigQuery holds, as a PostgreSQL datum */
static Datum
time_limit(Oid type, bool last)
{
	int64		day = last ? date2j(9999, 12, 31) - POSTGRES_EPOCH_JDATE
		: date2j(1, 1, 1) - POSTGRES_EPOCH_JDATE;

	if (type == DATEOID)
		return DateADTGetDatum((DateADT) day);
	return TimestampTzGetDatum(last ? (day + 1) * USECS_PER_DAY - 1 : day * USECS_PER_DAY);
}

/* -1 below BigQuery's range (-infinity included), 1 above it, 0 within */
static int
time_position(Oid type, Datum value)
{
	if (type == DATEOID)
	{
		DateADT		d = DatumGetDateADT(value);

		return d < DatumGetDateADT(time_limit(type, false)) ? -1
			: d > DatumGetDateADT(time_limit(type, true)) ? 1 : 0;
	}
	else
	{
		TimestampTz ts = DatumGetTimestampTz(value);

		return ts < DatumGetTimestampTz(time_limit(type, false)) ? -1
			: ts > DatumGetTimestampTz(time_limit(type, true)) ? 1 : 0;
	}
}

static Node *
time_const(Oid type, Datum value)
{
	return (Node *) makeConst(type, -1, InvalidOid, type == DATEOID ? sizeof(DateADT) : 8,
							  value, false, true);
}

/* value <op> limit, as an expression PostgreSQL evaluates */
static Node *
time_test(Node *value, const char *op, bool last)
{
	Oid			type = exprType(value);
	Oid			func;

	if (strcmp(op, "<") == 0)
		func = type == DATEOID ? F_DATE_LT : F_TIMESTAMPTZ_LT;
	else if (strcmp(op, "<=") == 0)
		func = type == DATEOID ? F_DATE_LE : F_TIMESTAMPTZ_LE;
	else if (strcmp(op, ">") == 0)
		func = type == DATEOID ? F_DATE_GT : F_TIMESTAMPTZ_GT;
	else
		func = type == DATEOID ? F_DATE_GE : F_TIMESTAMPTZ_GE;
	return (Node *) makeFuncExpr(func, BOOLOID,
								 list_make2(copyObject(value), time_const(type, time_limit(type, last))),
								 InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);
}

/* the value one step (a day, a microsecond) further, step = 1 or -1 */
static Node *
time_step(Node *value, int step)
{
	Oid			type = exprType(value);

	if (type == DATEOID)
		return (Node *) makeFuncExpr(step > 0 ? F_DATE_PLI : F_DATE_MII, DATEOID,
									 list_make2(copyObject(value),
												makeConst(INT4OID, -1, InvalidOid, 4,
														  Int32GetDatum(1), false, true)),
									 InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);
	else
	{
		Interval   *us = palloc0(sizeof(Interval));

		us->time = 1;
		return (Node *) makeFuncExpr(step > 0 ? F_TIMESTAMPTZ_PL_INTERVAL : F_TIMESTAMPTZ_MI_INTERVAL,
									 TIMESTAMPTZOID,
									 list_make2(copyObject(value),
												makeConst(INTERVALOID, -1, InvalidOid, sizeof(Interval),
														  PointerGetDatum(us), false, false)),
									 InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);
	}
}

/* CASE WHEN <when1> THEN <then1> [WHEN ...] ELSE <otherwise> END */
static Node *
make_case(Oid type, List *whens, List *thens, Node *otherwise)
{
	CaseExpr   *c = makeNode(CaseExpr);
	ListCell   *lw;
	ListCell   *lt;

	c->casetype = type;
	c->casecollid = type == TEXTOID ? DEFAULT_COLLATION_OID : InvalidOid;
	c->location = -1;
	forboth(lw, whens, lt, thens)
	{
		CaseWhen   *w = makeNode(CaseWhen);

		w->expr = (Expr *) lfirst(lw);
		w->result = (Expr *) lfirst(lt);
		w->location = -1;
		c->args = lappend(c->args, w);
	}
	c->defresult = (Expr *) otherwise;
	return (Node *) c;
}

static Node *
null_of(Oid type)
{
	int16		len;
	bool		byval;

	get_typlenbyval(type, &len, &byval);
	return (Node *) makeConst(type, -1, type == TEXTOID ? DEFAULT_COLLATION_OID : InvalidOid,
							  len, (Datum) 0, true, byval);
}

static const char *
commuted(const char *op)
{
	if (strcmp(op, "<") == 0)
		return ">";
	if (strcmp(op, "<=") == 0)
		return ">=";
	if (strcmp(op, ">") == 0)
		return "<";
	if (strcmp(op, ">=") == 0)
		return "<=";
	return op;
}

/* what "x <op> bound" is for any non-NULL x when bound is past the range's end (above) or start */
static bool
beyond_range_result(const char *op, bool above)
{
	if (strcmp(op, "<>") == 0)
		return true;
	if (strcmp(op, "=") == 0)
		return false;
	return (op[0] == '<') == above;
}

/* IF(x IS NULL, NULL, TRUE|FALSE): what a comparison of x with a bound past the range gives */
static bool
deparse_decided(DeparseCtx *ctx, Node *x, bool result)
{
	append_text(ctx, "IF(");
	if (!deparse_operand(ctx, x))
		return false;
	append_text(ctx, result ? " IS NULL, NULL, TRUE)" : " IS NULL, NULL, FALSE)");
	return true;
}

/*
 * x <op> value for a value known at execution start, in a WHERE or HAVING
 * condition under no NOT, where NULL filters a row out as false does: the
 * value clamped into the range, strict comparisons made inclusive one
 * step further, and NULL for a bound no value meets.
 */
static bool
deparse_clamped(DeparseCtx *ctx, Node *x, const char *op, Node *v)
{
	Oid			type = exprType(v);
	List	   *whens = NIL;
	List	   *thens = NIL;
	Node	   *inside = v;
	const char *sent_op = op;

	if (strcmp(op, "<") == 0 || strcmp(op, "<=") == 0)
	{
		whens = list_make2(time_test(v, op[1] ? "<" : "<=", false), time_test(v, ">", true));
		thens = list_make2(null_of(type), time_const(type, time_limit(type, true)));
		if (op[1] == '\0')
			inside = time_step(v, -1);
		sent_op = "<=";
	}
	else if (strcmp(op, ">") == 0 || strcmp(op, ">=") == 0)
	{
		whens = list_make2(time_test(v, op[1] ? ">" : ">=", true), time_test(v, "<", false));
		thens = list_make2(null_of(type), time_const(type, time_limit(type, false)));
		if (op[1] == '\0')
			inside = time_step(v, 1);
		sent_op = ">=";
	}
	else
	{
		whens = list_make2(time_test(v, "<", false), time_test(v, ">", true));
		thens = list_make2(null_of(type), null_of(type));
	}

	append_text(ctx, "(");
	if (!deparse_operand(ctx, x))
		return false;
	append_text(ctx, " ");
	append_text(ctx, sent_op);
	append_text(ctx, " ");
	append_param(ctx, make_case(type, whens, thens, inside), BQP_VALUE);
	append_text(ctx, ")");
	return true;
}

/*
 * x <op> value for a value known at execution start, with SQL's three
 * values kept (under NOT, or for <>):
 * IF(@k IS NULL, x <op> @v, IF(x IS NULL, NULL, @k)), @v the value when in
 * the range, @k the comparison's result when it is not.
 */
static bool
deparse_exact(DeparseCtx *ctx, Node *x, const char *op, Node *v)
{
	Oid			type = exprType(v);
	Node	   *below = time_test(v, "<", false);
	Node	   *above = time_test(v, ">", true);
	Node	   *in_range = make_case(type, list_make2(below, above),
									 list_make2(null_of(type), null_of(type)), v);
	Node	   *decided = make_case(BOOLOID, list_make2(above, below),
									list_make2(makeBoolConst(beyond_range_result(op, true), false),
											   makeBoolConst(beyond_range_result(op, false), false)),
									null_of(BOOLOID));

	append_text(ctx, "IF(");
	append_param(ctx, decided, BQP_VALUE);
	append_text(ctx, " IS NULL, (");
	if (!deparse_operand(ctx, x))
		return false;
	append_text(ctx, " ");
	append_text(ctx, op);
	append_text(ctx, " ");
	append_param(ctx, in_range, BQP_VALUE);
	append_text(ctx, "), IF(");
	if (!deparse_operand(ctx, x))
		return false;
	append_text(ctx, " IS NULL, NULL, ");
	append_param(ctx, decided, BQP_VALUE);
	append_text(ctx, "))");
	return true;
}

static int	deparse_trunc_comparison(DeparseCtx *ctx, Node *x, const char *op, Node *v);
static int	deparse_date_cast_comparison(DeparseCtx *ctx, Node *x, const char *op, Node *v);
static bool is_banded(Node *node);
static Node *epoch_extract_of(Node *node);

/*
 * A comparison of DATE or TIMESTAMP operands: false when it is not one of
 * an operand with a value (*handled then stays false), else whether it is
 * pushed.
 */
static bool
deparse_time_comparison(DeparseCtx *ctx, OpExpr *op, const char *name, bool *handled)
{
	Node	   *l = strip_relabel(linitial(op->args));
	Node	   *r = strip_relabel(lsecond(op->args));
	Node	   *x;
	Node	   *v;

	*handled = false;
	if (!is_time_type(exprType(l)))
		return false;
	if (is_value(l) && is_value(r))
	{
		/* decided by PostgreSQL at execution start, whatever the values */
		*handled = true;
		append_param(ctx, (Node *) op, BQP_VALUE);
		return true;
	}
	if (is_value(r))
	{
		x = l;
		v = r;
	}
	else if (is_value(l))
	{
		x = r;
		v = l;
		name = commuted(name);
	}
	else
	{
		/* a banded operand's rows at the range's ends are errors: kept local */
		*handled = is_banded(l) || is_banded(r);
		return false;
	}

	*handled = true;
	{
		int			trunc = deparse_trunc_comparison(ctx, x, name, v);

		if (trunc < 0)
			trunc = deparse_date_cast_comparison(ctx, x, name, v);
		if (trunc >= 0)
			return trunc == 1;
	}
	if (IsA(v, Const))
	{
		Const	   *c = (Const *) v;
		int			pos = c->constisnull ? 0 : time_position(c->consttype, c->constvalue);

		if (pos != 0)
			return deparse_decided(ctx, x, beyond_range_result(name, pos > 0));
		append_text(ctx, "(");
		if (!deparse_operand(ctx, x))
			return false;
		append_text(ctx, " ");
		append_text(ctx, name);
		append_text(ctx, " ");
		append_param(ctx, v, BQP_VALUE);
		append_text(ctx, ")");
		return true;
	}
	if ((Node *) op == ctx->filter && strcmp(name, "<>") != 0)
		return deparse_clamped(ctx, x, name, v);
	return deparse_exact(ctx, x, name, v);
}

/*
 * An array of dates or timestamps BigQuery can hold: a constant one whose
 * elements are all in its range (a parameter's are checked when sent).
 */
static bool
time_array_in_range(Node *array)
{
	Oid			elem = get_element_type(exprType(array));
	Const	   *c = (Const *) array;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int16		len;
	bool		byval;
	char		align;

	if (!is_time_type(elem) || !IsA(array, Const) || c->constisnull)
		return true;
	get_typlenbyvalalign(elem, &len, &byval, &align);
	deconstruct_array(DatumGetArrayTypeP(c->constvalue), elem, len, byval, align,
					  &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
		if (!nulls[i] && time_position(elem, elems[i]) != 0)
			return false;
	return true;
}

/* --- time zones ------------------------------------------------------ */

/*
 * Zones whose every local midnight exists once: none in a clock set back
 * (a fall-back transition repeating it).  There PostgreSQL picks the later
 * of the two instants and BigQuery the earlier one (absl's "pre"); a
 * midnight skipped by a clock set forward is read with the offset before
 * the shift by both.  Checked over tzdata's explicit transitions and then
 * its yearly rules, which repeat; remembered per zone.
 */
static bool
scan_midnights(const pg_tz *tz)
{
	pg_time_t	t = (pg_time_t) (date2j(1, 1, 1) - UNIX_EPOCH_JDATE) * SECS_PER_DAY;
	pg_time_t	end = (pg_time_t) (date2j(2200, 1, 1) - UNIX_EPOCH_JDATE) * SECS_PER_DAY;
	bool		ok = true;

	for (int n = 0; n < 100000 && t < end; n++)
	{
		long int	before;
		long int	after;
		int			before_dst;
		int			after_dst;
		pg_time_t	boundary;
		int			r = pg_next_dst_boundary(&t, &before, &before_dst, &boundary,
											 &after, &after_dst, tz);

		if (r < 0)
		{
			ok = false;
			break;
		}
		if (r == 0)
			break;
		if (before > after)
		{
			/* local times [boundary + after, boundary + before) repeat */
			pg_time_t	lo = boundary + after;
			pg_time_t	first_midnight = lo - (lo % SECS_PER_DAY + SECS_PER_DAY) % SECS_PER_DAY;

			if (first_midnight < lo)
				first_midnight += SECS_PER_DAY;
			if (first_midnight < boundary + before)
			{
				ok = false;
				break;
			}
		}
		t = boundary;
	}
	return ok;
}

static bool
midnights_unambiguous(pg_tz *tz)
{
	static pg_tz *known[32];
	static bool answer[32];
	static int	nknown = 0;
	bool		ok;

	for (int i = 0; i < nknown; i++)
		if (known[i] == tz)
			return answer[i];
	ok = scan_midnights(tz);
	if (nknown < lengthof(known))
	{
		known[nknown] = tz;
		answer[nknown++] = ok;
	}
	return ok;
}

/*
 * The tz database's zones with a repeated local midnight, as a text[]
 * constant: computed once per backend (a few hundred zones scanned).
 */
static Const *
zones_with_repeated_midnights(void)
{
	static Datum array = (Datum) 0;

	if (array == (Datum) 0)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
		pg_tzenum  *e = pg_tzenumerate_start();
		pg_tz	   *tz;
		List	   *names = NIL;
		Datum	   *elems;
		int			n = 0;
		ListCell   *lc;

		while ((tz = pg_tzenumerate_next(e)) != NULL)
			if (!scan_midnights(tz))
				names = lappend(names, pstrdup(pg_get_timezone_name(tz)));
		pg_tzenumerate_end(e);
		elems = palloc(sizeof(Datum) * Max(list_length(names), 1));
		foreach(lc, names)
			elems[n++] = CStringGetTextDatum((char *) lfirst(lc));
		array = PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
		MemoryContextSwitchTo(old);
	}
	return makeConst(TEXTARRAYOID, -1, DEFAULT_COLLATION_OID, -1,
					 datumCopy(array, false, -1), false, false);
}

/*
 * The session's TimeZone at execution start when BigQuery can truncate in
 * it to the unit as PostgreSQL does, else NULL: a tz database name (an
 * Area/Location one, UTC or GMT; a POSIX specification never has that
 * shape), for days and above none with a repeated midnight.
 */
static Node *
session_zone_param(int dtk)
{
	Node	   *setting = (Node *) makeFuncExpr(F_CURRENT_SETTING_TEXT, TEXTOID,
												list_make1(makeConst(TEXTOID, -1, DEFAULT_COLLATION_OID, -1,
																	 CStringGetTextDatum("TimeZone"),
																	 false, false)),
												InvalidOid, DEFAULT_COLLATION_OID,
												COERCE_EXPLICIT_CALL);
	Node	   *pattern = (Node *) makeConst(TEXTOID, -1, DEFAULT_COLLATION_OID, -1,
											 CStringGetTextDatum("^([A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)+|UTC|GMT)$"),
											 false, false);
	Node	   *ok = (Node *) makeFuncExpr(F_TEXTREGEXEQ, BOOLOID, list_make2(setting, pattern),
										   InvalidOid, DEFAULT_COLLATION_OID, COERCE_EXPLICIT_CALL);

	if (dtk != DTK_MINUTE && dtk != DTK_HOUR)
	{
		ScalarArrayOpExpr *repeated = makeNode(ScalarArrayOpExpr);

		repeated->opno = TextEqualOperator;
		repeated->opfuncid = F_TEXTEQ;
		repeated->useOr = true;
		repeated->inputcollid = DEFAULT_COLLATION_OID;
		repeated->args = list_make2(copyObject(setting), zones_with_repeated_midnights());
		repeated->location = -1;
		ok = (Node *) makeBoolExpr(AND_EXPR,
								   list_make2(ok, makeBoolExpr(NOT_EXPR, list_make1(repeated), -1)),
								   -1);
	}
	return make_case(TEXTOID, list_make1(ok), list_make1(copyObject(setting)), null_of(TEXTOID));
}

/*
 * The tz database name BigQuery knows a zone by, or NULL: PostgreSQL's
 * canonical spelling, only for a zone read from the tz database (an
 * Area/Location name, or UTC or GMT).  POSIX-style specifications such as
 * 'UTC+3' are not sent: BigQuery reads "UTC+3" as three hours east, where
 * POSIX means west.
 */
static const char *
bigquery_zone_name(pg_tz *tz)
{
	const char *name = tz ? pg_get_timezone_name(tz) : NULL;

	if (name == NULL)
		return NULL;
	if (strcmp(name, "UTC") == 0 || strcmp(name, "GMT") == 0)
		return name;
	if (strchr(name, '/') == NULL || strpbrk(name, ",<>: ") != NULL ||
		!isalpha((unsigned char) name[0]))
		return NULL;
	return name;
}

static bool
is_utc_name(const char *name)
{
	return strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0 ||
		strcmp(name, "GMT") == 0 || strcmp(name, "Etc/GMT") == 0;
}

/*
 * The zone of a date_trunc's third argument, as PostgreSQL reads it: NULL
 * for an abbreviation other than UTC's (BigQuery knows none), an unknown
 * name, or one it cannot send faithfully.
 */
static pg_tz *
named_zone(const char *text, bool *utc)
{
	char	   *lower = downcase_truncate_identifier(text, strlen(text), false);
	int			offset;
	pg_tz	   *abbrev_tz = NULL;
	int			type = DecodeTimezoneAbbrev(0, lower, &offset, &abbrev_tz);
	pg_tz	   *tz;

	*utc = false;
	if (type == TZ && offset == 0 && (pg_strcasecmp(text, "UTC") == 0 ||
									  pg_strcasecmp(text, "GMT") == 0))
	{
		*utc = true;
		return NULL;
	}
	if (type != UNKNOWN_FIELD || strlen(text) >= TZ_STRLEN_MAX)
		return NULL;
	tz = pg_tzset(text);
	if (tz && bigquery_zone_name(tz) && is_utc_name(bigquery_zone_name(tz)))
		*utc = true;
	return tz;
}

/*
 * date_trunc(unit, timestamptz [, zone]) as TIMESTAMP_TRUNC.
 *
 * Both truncate seconds and below on the instant, whatever the zone;
 * minutes and hours by the offset in force at the instant; days and above
 * to a local midnight read back in the zone (hence the check of repeated
 * midnights).  PostgreSQL's week starts on Monday: BigQuery's ISOWEEK.
 * Decades, centuries and millennia are kept local.
 *
 * In the session's time zone, the zone is a parameter computed at
 * execution start, which a generic plan may meet under another TimeZone:
 * it is sent when BigQuery truncates in it as PostgreSQL does, else it is
 * NULL and BigQuery raises an error rather than answer otherwise.
 *
 * In a zone other than UTC, the periods at the ends of BigQuery's range
 * start outside it, or at a local date BigQuery cannot build (year 0 or
 * 10000): rows before the first period starting within the range ("lo")
 * truncate to an instant BigQuery cannot hold, rows from the last one
 * ("hi") truncate to hi.  Both edges are computed by PostgreSQL at
 * execution start, in the zone of execution.
 */
typedef struct TimeTrunc
{
	FuncExpr   *f;
	int			dtk;			/* DTK_DAY, ... */
	const char *bq_unit;
	Node	   *ts;
	Node	   *zone;			/* the zone's parameter; NULL: none needed */
	bool		session;		/* the zone is the session's */
} TimeTrunc;

static bool
analyze_date_trunc(Node *node, TimeTrunc *t)
{
	static const struct
	{
		int			dtk;
		const char *bq;
	}			units[] = {
		{DTK_MICROSEC, "MICROSECOND"}, {DTK_MILLISEC, "MILLISECOND"}, {DTK_SECOND, "SECOND"},
		{DTK_MINUTE, "MINUTE"}, {DTK_HOUR, "HOUR"}, {DTK_DAY, "DAY"}, {DTK_WEEK, "ISOWEEK"},
		{DTK_MONTH, "MONTH"}, {DTK_QUARTER, "QUARTER"}, {DTK_YEAR, "YEAR"}};
	FuncExpr   *f = (FuncExpr *) node;
	Const	   *unit;
	bool		utc = false;
	pg_tz	   *tz;
	const char *zone;
	char	   *lower;

	memset(t, 0, sizeof(*t));
	if (!IsA(node, FuncExpr))
		return false;
	if (f->funcid == F_DATE_TRUNC_TEXT_TIMESTAMPTZ && list_length(f->args) == 2)
		t->session = true;
	else if (f->funcid != F_DATE_TRUNC_TEXT_TIMESTAMPTZ_TEXT || list_length(f->args) != 3)
		return false;
	unit = (Const *) linitial(f->args);
	if (!IsA(unit, Const) || unit->constisnull)
		return false;
	lower = TextDatumGetCString(unit->constvalue);
	lower = downcase_truncate_identifier(lower, strlen(lower), false);
	if (DecodeUnits(0, lower, &t->dtk) != UNITS)
		return false;
	for (int i = 0; i < lengthof(units); i++)
		if (units[i].dtk == t->dtk)
			t->bq_unit = units[i].bq;
	if (t->bq_unit == NULL)
		return false;
	t->f = f;
	t->ts = lsecond(f->args);

	/* seconds and below: the same instant in every zone */
	if (t->dtk == DTK_MICROSEC || t->dtk == DTK_MILLISEC || t->dtk == DTK_SECOND)
		return true;

	if (t->session)
		tz = session_timezone;
	else
	{
		Const	   *name = (Const *) lthird(f->args);

		if (!IsA(name, Const) || name->constisnull)
			return false;
		tz = named_zone(TextDatumGetCString(name->constvalue), &utc);
		if (utc)
			return true;
	}
	zone = bigquery_zone_name(tz);
	if (zone == NULL)
		return false;
	if (t->dtk != DTK_MINUTE && t->dtk != DTK_HOUR && !midnights_unambiguous(tz))
		return false;
	t->zone = t->session ? session_zone_param(t->dtk)
		: (Node *) makeConst(TEXTOID, -1, DEFAULT_COLLATION_OID, -1,
							 CStringGetTextDatum(zone), false, false);
	return true;
}

/* the same date_trunc of another timestamp */
static Node *
trunc_of(TimeTrunc *t, Node *ts)
{
	FuncExpr   *f = copyObject(t->f);

	lsecond(f->args) = ts;
	return (Node *) f;
}

/* hi: the start of the last period, whose rows all truncate to it */
static Node *
trunc_high_edge(TimeTrunc *t)
{
	return trunc_of(t, time_const(TIMESTAMPTZOID, time_limit(TIMESTAMPTZOID, true)));
}

/*
 * lo: the first period start within the range.  Past a period start, a
 * span longer than the period and shorter than two lands in the next one
 * (the zones keep a fixed offset in year 1).
 */
static Node *
trunc_low_edge(TimeTrunc *t)
{
	Node	   *min = time_const(TIMESTAMPTZOID, time_limit(TIMESTAMPTZOID, false));
	Node	   *first = trunc_of(t, min);
	Interval   *span = palloc0(sizeof(Interval));
	Node	   *starts_at_min;
	Node	   *next;

	switch (t->dtk)
	{
		case DTK_MINUTE:
			span->time = 90 * USECS_PER_SEC;
			break;
		case DTK_HOUR:
			span->time = 90 * USECS_PER_MINUTE;
			break;
		case DTK_DAY:
			span->time = 36 * USECS_PER_HOUR;
			break;
		case DTK_WEEK:
			span->time = 10 * USECS_PER_DAY;
			break;
		case DTK_MONTH:
			span->time = 45 * USECS_PER_DAY;
			break;
		case DTK_QUARTER:
			span->time = 135 * USECS_PER_DAY;
			break;
		default:
			span->time = 500 * USECS_PER_DAY;
			break;
	}
	starts_at_min = (Node *) makeFuncExpr(F_TIMESTAMPTZ_EQ, BOOLOID,
										  list_make2(copyObject(first), copyObject(min)),
										  InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);
	next = trunc_of(t, (Node *) makeFuncExpr(F_TIMESTAMPTZ_PL_INTERVAL, TIMESTAMPTZOID,
											 list_make2(first,
														makeConst(INTERVALOID, -1, InvalidOid,
																  sizeof(Interval),
																  PointerGetDatum(span), false, false)),
											 InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL));
	return make_case(TIMESTAMPTZOID, list_make1(starts_at_min), list_make1(min), next);
}

/* TIMESTAMP_TRUNC(ts, UNIT[, zone]) */
static bool
append_timestamp_trunc(DeparseCtx *ctx, TimeTrunc *t)
{
	append_text(ctx, "TIMESTAMP_TRUNC(");
	if (!deparse_operand(ctx, t->ts))
		return false;
	append_text(ctx, ", ");
	append_text(ctx, t->bq_unit);
	if (t->zone && t->session)
	{
		append_text(ctx, ", IFNULL(");
		append_param(ctx, t->zone, BQP_VALUE);
		append_text(ctx, ", ERROR('bqstream_fdw: BigQuery cannot truncate in the session time zone set since this plan was made'))");
	}
	else if (t->zone)
	{
		append_text(ctx, ", ");
		append_param(ctx, t->zone, BQP_VALUE);
	}
	append_text(ctx, ")");
	return true;
}

/* CASE WHEN ts < @lo THEN <below> WHEN ts >= @hi THEN @hi ELSE TIMESTAMP_TRUNC(...) END */
static bool
append_banded_trunc(DeparseCtx *ctx, TimeTrunc *t, const char *below)
{
	append_text(ctx, "CASE WHEN ");
	if (!deparse_operand(ctx, t->ts))
		return false;
	append_text(ctx, " < ");
	append_param(ctx, trunc_low_edge(t), BQP_VALUE);
	append_text(ctx, " THEN ");
	append_text(ctx, below);
	append_text(ctx, " WHEN ");
	deparse_operand(ctx, t->ts);
	append_text(ctx, " >= ");
	append_param(ctx, trunc_high_edge(t), BQP_VALUE);
	append_text(ctx, " THEN ");
	append_param(ctx, trunc_high_edge(t), BQP_VALUE);
	append_text(ctx, " ELSE ");
	append_timestamp_trunc(ctx, t);
	append_text(ctx, " END");
	return true;
}

/* date_trunc as an operand: a row whose period starts before the range is an error */
static bool
deparse_date_trunc(DeparseCtx *ctx, FuncExpr *f)
{
	TimeTrunc	t;

	if (!analyze_date_trunc((Node *) f, &t))
		return false;
	if (t.zone == NULL)
		return append_timestamp_trunc(ctx, &t);
	return append_banded_trunc(ctx, &t,
							   "ERROR('bqstream_fdw: a period starting before year 1 cannot be returned by BigQuery')");
}

/*
 * date_trunc(...) <op> a constant of the range, in a zone: a row whose
 * period starts before the range compares as a value below it.  NULL when
 * this is no such date_trunc; else whether it is pushed.
 */
static int
deparse_trunc_comparison(DeparseCtx *ctx, Node *x, const char *op, Node *v)
{
	TimeTrunc	t;
	Const	   *c = (Const *) v;

	if (!analyze_date_trunc(x, &t) || t.zone == NULL)
		return -1;
	if (!IsA(v, Const) || c->constisnull || time_position(c->consttype, c->constvalue) != 0)
		return 0;
	append_text(ctx, "IF(");
	if (!deparse_operand(ctx, t.ts))
		return 0;
	append_text(ctx, " < ");
	append_param(ctx, trunc_low_edge(&t), BQP_VALUE);
	append_text(ctx, beyond_range_result(op, true) ? ", TRUE, (" : ", FALSE, (");
	if (!append_banded_trunc(ctx, &t, "NULL"))
		return 0;
	append_text(ctx, " ");
	append_text(ctx, op);
	append_text(ctx, " ");
	append_param(ctx, v, BQP_VALUE);
	append_text(ctx, "))");
	return 1;
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
	Const	   *c = (Const *) strip_relabel(node);

	return IsA(c, Const) && c->consttype == FLOAT8OID && !c->constisnull &&
		!isnan(DatumGetFloat8(c->constvalue));
}

static bool
append_is_nan(DeparseCtx *ctx, Node *node)
{
	append_text(ctx, "IS_NAN(");
	if (!deparse_operand(ctx, node))
		return false;
	append_text(ctx, ")");
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
		append_text(ctx, op[0] == '<' ? "(NOT (" : "(");
		if (!deparse_operand(ctx, a))
			return false;
		append_text(ctx, " = ");
		if (!deparse_operand(ctx, b))
			return false;
		if (!a_number && !b_number)
		{
			append_text(ctx, " OR (");
			if (!append_is_nan(ctx, a))
				return false;
			append_text(ctx, " AND ");
			if (!append_is_nan(ctx, b))
				return false;
			append_text(ctx, ")");
		}
		append_text(ctx, op[0] == '<' ? "))" : ")");
		return true;
	}

	append_text(ctx, "(");
	if (!deparse_operand(ctx, a))
		return false;
	append_text(ctx, op[1] == '=' ? " <= " : " < ");
	if (!deparse_operand(ctx, b))
		return false;
	if (!b_number)
	{
		append_text(ctx, " OR ");
		if (!a_number)
			append_text(ctx, "(");
		if (!append_is_nan(ctx, b))
			return false;
		if (!a_number && op[1] == '=')
		{
			append_text(ctx, " AND ");
			if (!deparse_operand(ctx, a))
				return false;
			append_text(ctx, " IS NOT NULL)");
		}
		else if (!a_number)
		{
			append_text(ctx, " AND NOT ");
			if (!append_is_nan(ctx, a))
				return false;
			append_text(ctx, ")");
		}
	}
	append_text(ctx, ")");
	return true;
}

/* float8 = ANY (constant array without NaN): BigQuery's IN then agrees */
static bool
is_float_array_without_nan(Node *node)
{
	Const	   *c = (Const *) strip_relabel(node);
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
			append_text(ctx, ", ");
		if (null_as_empty)
			append_text(ctx, "IFNULL(");
		if (!deparse_operand(ctx, lfirst(lc)))
			return false;
		if (null_as_empty)
			append_text(ctx, ", '')");
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

	append_text(ctx, "TRANSLATE(");
	if (!deparse_operand(ctx, arg))
		return false;
	append_text(ctx, ", ");
	append_text(ctx, to_lower ? upper_letters : lower_letters);
	append_text(ctx, ", ");
	append_text(ctx, to_lower ? lower_letters : upper_letters);
	append_text(ctx, ")");
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

	append_text(ctx, "SUBSTR(");
	if (!deparse_operand(ctx, s))
		return false;
	append_text(ctx, ", GREATEST(");
	if (!deparse_operand(ctx, m))
		return false;
	append_text(ctx, ", 1)");
	if (n != NULL)
	{
		append_text(ctx, ", IF(");
		if (!deparse_operand(ctx, n))
			return false;
		append_text(ctx, " < 0 AND ");
		if (!deparse_operand(ctx, s))
			return false;
		append_text(ctx, " IS NOT NULL AND ");
		if (!deparse_operand(ctx, m))
			return false;
		append_text(ctx, " IS NOT NULL, ERROR('negative substring length not allowed'), GREATEST(");
		if (!deparse_operand(ctx, n))
			return false;
		append_text(ctx, " + LEAST(");
		if (!deparse_operand(ctx, m))
			return false;
		append_text(ctx, ", 1) - 1, 0))");
	}
	append_text(ctx, ")");
	return true;
}

/*
 * strpos(s, sub): PostgreSQL finds '' at 1 in any string, which BigQuery's
 * documentation leaves unsaid, so that case is spelt out
 */
static bool
deparse_strpos(DeparseCtx *ctx, Node *s, Node *sub)
{
	append_text(ctx, "CASE WHEN ");
	if (!deparse_operand(ctx, s))
		return false;
	append_text(ctx, " IS NULL OR ");
	if (!deparse_operand(ctx, sub))
		return false;
	append_text(ctx, " IS NULL THEN NULL WHEN ");
	if (!deparse_operand(ctx, sub))
		return false;
	append_text(ctx, " = '' THEN 1 ELSE STRPOS(");
	if (!deparse_operand(ctx, s))
		return false;
	append_text(ctx, ", ");
	if (!deparse_operand(ctx, sub))
		return false;
	append_text(ctx, ") END");
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
		Oid			type = exprType(strip_relabel(lfirst(lc)));

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
				if (!is_text(exprType(strip_relabel(lfirst(lc)))))
					return false;
			append_text(ctx, "CONCAT(");
			if (!append_arguments(ctx, f->args, true))
				return false;
			append_text(ctx, ")");
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
	append_text(ctx, name);
	append_text(ctx, "(");
	if (!append_arguments(ctx, f->args, false))
		return false;
	/* PostgreSQL trims spaces only, BigQuery all Unicode white space */
	if (list_length(f->args) == 1 && strstr(name, "TRIM") != NULL)
		append_text(ctx, ", ' '");
	append_text(ctx, ")");
	return true;
}

/* text || text: NULL when either is, on both sides */
static bool
deparse_text_concat(DeparseCtx *ctx, OpExpr *op)
{
	char	   *name;

	if (list_length(op->args) != 2 || op->opresulttype != TEXTOID ||
		!is_text(exprType(strip_relabel(linitial(op->args)))) ||
		!is_text(exprType(strip_relabel(lsecond(op->args)))))
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
	append_text(ctx, "COALESCE(");
	if (!append_arguments(ctx, c->args, false))
		return false;
	append_text(ctx, ")");
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

	append_text(ctx, "CASE");
	foreach(lc, c->args)
	{
		CaseWhen   *w = (CaseWhen *) lfirst(lc);

		append_text(ctx, " WHEN ");
		if (!deparse_cond(ctx, (Node *) w->expr))
			return false;
		append_text(ctx, " THEN ");
		if (!deparse_operand(ctx, (Node *) w->result))
			return false;
	}
	if (c->defresult != NULL)
	{
		append_text(ctx, " ELSE ");
		if (!deparse_operand(ctx, (Node *) c->defresult))
			return false;
	}
	append_text(ctx, " END");
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
		if (!deparse_operand(&check, (Node *) c->arg))
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
	append_text(ctx, "IF(");
	if (!deparse_comparison(ctx, (OpExpr *) n))
		return false;
	append_text(ctx, ", NULL, ");
	if (!deparse_operand(ctx, linitial(n->args)))
		return false;
	append_text(ctx, ")");
	return true;
}

/*
 * CAST(timestamptz AS date): the local date in the session's time zone,
 * BigQuery's DATE(ts, zone).  Reading an instant's local date has one
 * answer in every tz database zone, so any such name is sent (the zone
 * parameter as for date_trunc by the hour).  Rows whose local date falls
 * before year 1 or after 9999 have none BigQuery can hold: they are
 * banded by edges PostgreSQL computes at execution start, clamped into
 * the range (no row lies beyond an edge outside it).
 */
static bool
analyze_date_cast(Node *node, Node **ts)
{
	FuncExpr   *f = (FuncExpr *) node;

	if (!IsA(node, FuncExpr) || f->funcid != F_DATE_TIMESTAMPTZ || list_length(f->args) != 1 ||
		bigquery_zone_name(session_timezone) == NULL)
		return false;
	*ts = linitial(f->args);
	return true;
}

/* timestamptz(date) of a date, clamped into BigQuery's TIMESTAMP range; "last": minus a microsecond */
static Node *
local_midnight_edge(DateADT day, bool last)
{
	Node	   *midnight = (Node *) makeFuncExpr(F_TIMESTAMPTZ_DATE, TIMESTAMPTZOID,
												 list_make1(time_const(DATEOID, DateADTGetDatum(day))),
												 InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);

	if (last)
		return make_case(TIMESTAMPTZOID, list_make1(time_test(midnight, ">", true)),
						 list_make1(time_const(TIMESTAMPTZOID, time_limit(TIMESTAMPTZOID, true))),
						 time_step(midnight, -1));
	return make_case(TIMESTAMPTZOID, list_make1(time_test(midnight, "<", false)),
					 list_make1(time_const(TIMESTAMPTZOID, time_limit(TIMESTAMPTZOID, false))),
					 midnight);
}

/*
 * CASE WHEN ts < @first THEN <below> WHEN ts > @last THEN <above>
 * ELSE DATE(ts, zone) [<op> @value] END
 */
static bool
append_banded_date(DeparseCtx *ctx, Node *ts, const char *below, const char *above,
				   const char *op, Node *value)
{
	DateADT		first = DatumGetDateADT(time_limit(DATEOID, false));
	DateADT		after_last = DatumGetDateADT(time_limit(DATEOID, true)) + 1;

	append_text(ctx, "CASE WHEN ");
	if (!deparse_operand(ctx, ts))
		return false;
	append_text(ctx, " < ");
	append_param(ctx, local_midnight_edge(first, false), BQP_VALUE);
	append_text(ctx, " THEN ");
	append_text(ctx, below);
	append_text(ctx, " WHEN ");
	deparse_operand(ctx, ts);
	append_text(ctx, " > ");
	append_param(ctx, local_midnight_edge(after_last, true), BQP_VALUE);
	append_text(ctx, " THEN ");
	append_text(ctx, above);
	append_text(ctx, " ELSE DATE(");
	deparse_operand(ctx, ts);
	append_text(ctx, ", IFNULL(");
	append_param(ctx, session_zone_param(DTK_HOUR), BQP_VALUE);
	append_text(ctx, ", ERROR('bqstream_fdw: BigQuery cannot read dates in the session time zone set since this plan was made')))");
	if (op)
	{
		append_text(ctx, " ");
		append_text(ctx, op);
		append_text(ctx, " ");
		append_param(ctx, value, BQP_VALUE);
	}
	append_text(ctx, " END");
	return true;
}

static bool
deparse_date_cast(DeparseCtx *ctx, FuncExpr *f)
{
	Node	   *ts;

	if (!analyze_date_cast((Node *) f, &ts))
		return false;
	return append_banded_date(ctx, ts,
							  "ERROR('bqstream_fdw: a date before year 1 cannot be returned by BigQuery')",
							  "ERROR('bqstream_fdw: a date after year 9999 cannot be returned by BigQuery')",
							  NULL, NULL);
}

/* ts::date <op> a constant date of the range; -1 when x is no such cast */
static int
deparse_date_cast_comparison(DeparseCtx *ctx, Node *x, const char *op, Node *v)
{
	Node	   *ts;
	Const	   *c = (Const *) v;

	if (!analyze_date_cast(x, &ts))
		return -1;
	if (!IsA(v, Const) || c->constisnull || time_position(c->consttype, c->constvalue) != 0)
		return 0;
	append_text(ctx, "(");
	if (!append_banded_date(ctx, ts, beyond_range_result(op, true) ? "TRUE" : "FALSE",
							beyond_range_result(op, false) ? "TRUE" : "FALSE", op, v))
		return 0;
	append_text(ctx, ")");
	return 1;
}

/* --- epoch buckets ---------------------------------------------------- */

/*
 * Grafana's time buckets ($__timeGroup: floor(extract(epoch from ts)/N)*N,
 * to_timestamp of that) and integer epochs (extract(epoch from ts)::bigint,
 * (extract(epoch from ts)*1000)::bigint).  The instant's microseconds since
 * 1970, UNIX_MICROS, are zone-independent, so these are integer arithmetic
 * on them, sent so as to give PostgreSQL's exact numeric answers.
 */

/* extract(epoch FROM ts) of a timestamptz: its timestamp, else NULL */
static Node *
epoch_extract_of(Node *node)
{
	FuncExpr   *f = (FuncExpr *) strip_relabel(node);
	Const	   *unit;
	char	   *lower;
	int			dtk;

	if (f == NULL || !IsA(f, FuncExpr) || f->funcid != F_EXTRACT_TEXT_TIMESTAMPTZ ||
		list_length(f->args) != 2)
		return NULL;
	unit = (Const *) linitial(f->args);
	if (!IsA(unit, Const) || unit->constisnull)
		return NULL;
	lower = TextDatumGetCString(unit->constvalue);
	lower = downcase_truncate_identifier(lower, strlen(lower), false);
	if (DecodeSpecial(0, lower, &dtk) != RESERV || dtk != DTK_EPOCH)
		return NULL;
	return lsecond(f->args);
}

/* a positive integer numeric constant up to "max", else 0 */
static int64
positive_integer_const(Node *node, int64 max)
{
	Const	   *c = (Const *) strip_relabel(node);
	char	   *digits;
	int64		v = 0;

	if (!IsA(c, Const) || c->constisnull)
		return 0;
	if (c->consttype == INT4OID)
		v = DatumGetInt32(c->constvalue);
	else if (c->consttype == INT8OID)
		v = DatumGetInt64(c->constvalue);
	else if (c->consttype == NUMERICOID)
	{
		/* digits alone: a scale of 0, as PostgreSQL's result then has */
		digits = DatumGetCString(DirectFunctionCall1(numeric_out, c->constvalue));
		if (strlen(digits) > 12 || strspn(digits, "0123456789") != strlen(digits))
			return 0;
		v = strtoi64(digits, NULL, 10);
	}
	return v > 0 && v <= max ? v : 0;
}

/* a binary OpExpr or FuncExpr calling "func": its two arguments */
static bool
call_of(Node *node, Oid func, Node **a, Node **b)
{
	List	   *args;

	node = strip_relabel(node);
	if (IsA(node, OpExpr) && ((OpExpr *) node)->opfuncid == func)
		args = ((OpExpr *) node)->args;
	else if (IsA(node, FuncExpr) && ((FuncExpr *) node)->funcid == func)
		args = ((FuncExpr *) node)->args;
	else
		return false;
	if (list_length(args) != 2)
		return false;
	*a = linitial(args);
	*b = lsecond(args);
	return true;
}

/* a one-argument FuncExpr of "func": its argument, else NULL */
static Node *
arg_of(Node *node, Oid func)
{
	FuncExpr   *f = (FuncExpr *) strip_relabel(node);

	if (f == NULL || !IsA(f, FuncExpr) || f->funcid != func || list_length(f->args) != 1)
		return NULL;
	return linitial(f->args);
}

/*
 * floor(extract(epoch FROM ts) / N), N a whole number of seconds: the
 * bucket's index.  PostgreSQL divides the numeric with the microseconds'
 * 6 decimals rounded to a scale it picks from the operands' leading
 * digits (select_div_scale), at least 8 here, and a quotient rounded up to
 * a whole number floors to it.  The exact quotient is k / (N * 10^6) for
 * an integer k, so that rounding is possible only when 10^8 <= N * 10^6 / 2,
 * and at scale 8 only, chosen when the epoch's first base-10000 digit
 * (seconds / 10^8) exceeds N, N < 10000; scale 12 or more for the others,
 * beyond any N below 2 * 10^6.  Such rows get the next index, as in
 * PostgreSQL.
 */
typedef struct EpochBucket
{
	Node	   *ts;
	int64		seconds;		/* N */
} EpochBucket;

static bool
analyze_epoch_bucket(Node *node, EpochBucket *b)
{
	Node	   *quotient = arg_of(node, F_FLOOR_NUMERIC);
	Node	   *epoch;
	Node	   *divisor;

	if (quotient == NULL || !call_of(quotient, F_NUMERIC_DIV, &epoch, &divisor))
		return false;
	b->ts = epoch_extract_of(epoch);
	b->seconds = positive_integer_const(divisor, INT64CONST(1999999));
	return b->ts != NULL && b->seconds > 0;
}

static bool
append_epoch_bucket(DeparseCtx *ctx, EpochBucket *b)
{
	int64		d = b->seconds * USECS_PER_SEC;
	StringInfoData s;

	initStringInfo(&s);
	/* the floor of micros / d: DIV truncates toward zero */
	append_text(ctx, "(DIV(UNIX_MICROS(");
	if (!deparse_operand(ctx, b->ts))
		return false;
	appendStringInfo(&s, "), " INT64_FORMAT ") - IF(MOD(UNIX_MICROS(", d);
	append_text(ctx, s.data);
	deparse_operand(ctx, b->ts);
	resetStringInfo(&s);
	appendStringInfo(&s, "), " INT64_FORMAT ") < 0, 1, 0)", d);
	append_text(ctx, s.data);
	if (b->seconds >= 200 && b->seconds < 10000)
	{
		/*
		 * scale 8: a gap to the next multiple of d of g microseconds rounds
		 * the quotient up when 2 * 10^8 * g < d, i.e. 200 * g < N, and on a
		 * tie (200 * g = N) when positive, away from zero
		 */
		append_text(ctx, " + IF(ABS(UNIX_MICROS(");
		deparse_operand(ctx, b->ts);
		resetStringInfo(&s);
		appendStringInfo(&s, ")) >= " INT64_FORMAT " AND MOD(MOD(UNIX_MICROS(",
						 (b->seconds + 1) * INT64CONST(100000000) * USECS_PER_SEC);
		append_text(ctx, s.data);
		deparse_operand(ctx, b->ts);
		resetStringInfo(&s);
		appendStringInfo(&s, "), " INT64_FORMAT ") + " INT64_FORMAT ", " INT64_FORMAT
						 ") * 200 >= " INT64_FORMAT " + IF(UNIX_MICROS(", d, d, d, 200 * d - b->seconds);
		append_text(ctx, s.data);
		deparse_operand(ctx, b->ts);
		append_text(ctx, ") > 0, 0, 1), 1, 0)");
	}
	append_text(ctx, ")");
	return true;
}

/*
 * floor(extract(epoch FROM ts) / N) * M, M a whole number: the bucket's
 * start in seconds, numeric of scale 0, given back by BigQuery as INT64
 */
static bool
analyze_epoch_bucket_start(Node *node, EpochBucket *b, int64 *factor)
{
	Node	   *bucket;
	Node	   *m;

	if (!call_of(node, F_NUMERIC_MUL, &bucket, &m))
		return false;
	*factor = positive_integer_const(m, INT64CONST(1999999));
	return *factor > 0 && analyze_epoch_bucket(bucket, b);
}

/*
 * (extract(epoch FROM ts) [* K])::bigint, K dividing 10^6 (1000 for
 * milliseconds): the microseconds divided by 10^6 / K, rounded half away
 * from zero as numeric_int8 rounds
 */
static bool
analyze_epoch_integer(Node *node, Node **ts, int64 *divisor)
{
	Node	   *arg = arg_of(node, F_INT8_NUMERIC);
	Node	   *epoch;
	Node	   *k;
	int64		factor = 1;

	if (arg == NULL)
		return false;
	if (call_of(arg, F_NUMERIC_MUL, &epoch, &k))
	{
		factor = positive_integer_const(k, USECS_PER_SEC);
		if (factor == 0 || USECS_PER_SEC % factor != 0)
			return false;
	}
	else
		epoch = arg;
	*ts = epoch_extract_of(epoch);
	*divisor = USECS_PER_SEC / factor;
	return *ts != NULL;
}

static bool
deparse_epoch(DeparseCtx *ctx, Node *node)
{
	EpochBucket b;
	int64		factor;
	Node	   *ts;
	int64		divisor;
	Node	   *seconds;
	char		text[64];

	if (analyze_epoch_bucket_start(node, &b, &factor))
	{
		append_text(ctx, "(");
		if (!append_epoch_bucket(ctx, &b))
			return false;
		snprintf(text, sizeof(text), " * " INT64_FORMAT ")", factor);
		append_text(ctx, text);
		return true;
	}

	/* to_timestamp(floor(extract(epoch FROM ts) / N) * M) */
	seconds = arg_of(node, F_TO_TIMESTAMP_FLOAT8);
	if (seconds && (seconds = arg_of(seconds, F_FLOAT8_NUMERIC)) != NULL &&
		analyze_epoch_bucket_start(seconds, &b, &factor))
	{
		append_text(ctx, "TIMESTAMP_SECONDS(");
		if (!append_epoch_bucket(ctx, &b))
			return false;
		snprintf(text, sizeof(text), " * " INT64_FORMAT ")", factor);
		append_text(ctx, text);
		return true;
	}

	if (analyze_epoch_bucket(node, &b))
		return append_epoch_bucket(ctx, &b);

	if (analyze_epoch_integer(node, &ts, &divisor))
	{
		append_text(ctx, "DIV(UNIX_MICROS(");
		if (!deparse_operand(ctx, ts))
			return false;
		snprintf(text, sizeof(text), ") + IF(UNIX_MICROS(");
		append_text(ctx, text);
		deparse_operand(ctx, ts);
		snprintf(text, sizeof(text), ") < 0, " INT64_FORMAT ", " INT64_FORMAT "), " INT64_FORMAT ")",
				 -(divisor / 2), divisor / 2, divisor);
		append_text(ctx, text);
		return true;
	}

	/* extract(epoch FROM ts) itself: numeric of scale 6, see bq_select_item_scale */
	ts = epoch_extract_of(node);
	if (ts)
	{
		append_text(ctx, "(CAST(UNIX_MICROS(");
		if (!deparse_operand(ctx, ts))
			return false;
		append_text(ctx, ") AS NUMERIC) / 1000000)");
		return true;
	}
	return false;
}

/*
 * date_bin(stride, ts, origin) of timestamptz: the start of ts's bin,
 * origin + floor((ts - origin) / stride) * stride in microseconds (also
 * for ts before origin, PostgreSQL 15's rounding), zone-independent.  A
 * constant stride without months (PostgreSQL refuses those), a constant
 * origin BigQuery holds.  A bin starting before year 1 is an error in
 * BigQuery (TIMESTAMP_MICROS out of range).
 */
static bool
deparse_date_bin(DeparseCtx *ctx, FuncExpr *f)
{
	Const	   *stride;
	Const	   *origin;
	Interval   *span;
	int64		usecs;
	Node	   *stride_param;

	if (f->funcid != F_DATE_BIN_INTERVAL_TIMESTAMPTZ_TIMESTAMPTZ || list_length(f->args) != 3)
		return false;
	stride = (Const *) strip_relabel(linitial(f->args));
	origin = (Const *) strip_relabel(lthird(f->args));
	if (!IsA(stride, Const) || stride->constisnull || !IsA(origin, Const) || origin->constisnull ||
		time_position(TIMESTAMPTZOID, origin->constvalue) != 0)
		return false;
	span = DatumGetIntervalP(stride->constvalue);
	if (span->month != 0 || span->day < 0 || span->day > 4000000 ||
		span->time < 0 || span->time > INT64CONST(100000000000000000))
		return false;
	usecs = span->day * USECS_PER_DAY + span->time;
	if (usecs <= 0)
		return false;
	stride_param = (Node *) makeConst(INT8OID, -1, InvalidOid, 8, Int64GetDatum(usecs), false, true);

	/* TIMESTAMP_MICROS(o + (DIV(d, s) - IF(MOD(d, s) < 0, 1, 0)) * s), d = ts - o */
	append_text(ctx, "TIMESTAMP_MICROS(UNIX_MICROS(");
	append_param(ctx, (Node *) origin, BQP_VALUE);
	append_text(ctx, ") + (DIV(UNIX_MICROS(");
	if (!deparse_operand(ctx, lsecond(f->args)))
		return false;
	append_text(ctx, ") - UNIX_MICROS(");
	append_param(ctx, (Node *) origin, BQP_VALUE);
	append_text(ctx, "), ");
	append_param(ctx, stride_param, BQP_VALUE);
	append_text(ctx, ") - IF(MOD(UNIX_MICROS(");
	deparse_operand(ctx, lsecond(f->args));
	append_text(ctx, ") - UNIX_MICROS(");
	append_param(ctx, (Node *) origin, BQP_VALUE);
	append_text(ctx, "), ");
	append_param(ctx, stride_param, BQP_VALUE);
	append_text(ctx, ") < 0, 1, 0)) * ");
	append_param(ctx, stride_param, BQP_VALUE);
	append_text(ctx, ")");
	return true;
}

/*
 * extract(field FROM ts) in the session's time zone, of a field read from
 * the local date and time with one answer in every tz database zone (as
 * for ts::date): year, isoyear, quarter, month, week (ISO), day, doy, dow,
 * isodow, hour, minute.  BigQuery's EXTRACT gives INT64, PostgreSQL a
 * numeric of scale 0, the same value.  Its DAYOFWEEK counts 1..7 from
 * Sunday where dow counts 0..6 and isodow 1..7 from Monday.  Seconds and
 * below carry fractions and stay local.  Rows whose local date falls
 * outside years 1 to 9999 are errors, as for ts::date in a select list;
 * in a condition such rows would have to be decided, so it stays local.
 */
static const char *
extract_field(Node *node, Node **ts)
{
	static const struct
	{
		int			dtk;
		const char *bq;
	}			fields[] = {
		{DTK_YEAR, "EXTRACT(YEAR FROM "}, {DTK_ISOYEAR, "EXTRACT(ISOYEAR FROM "},
		{DTK_QUARTER, "EXTRACT(QUARTER FROM "}, {DTK_MONTH, "EXTRACT(MONTH FROM "},
		{DTK_WEEK, "EXTRACT(ISOWEEK FROM "}, {DTK_DAY, "EXTRACT(DAY FROM "},
		{DTK_DOY, "EXTRACT(DAYOFYEAR FROM "}, {DTK_DOW, "(-1 + EXTRACT(DAYOFWEEK FROM "},
		{DTK_ISODOW, "(1 + MOD(5 + EXTRACT(DAYOFWEEK FROM "}, {DTK_HOUR, "EXTRACT(HOUR FROM "},
	{DTK_MINUTE, "EXTRACT(MINUTE FROM "}};
	FuncExpr   *f = (FuncExpr *) node;
	Const	   *unit;
	char	   *lower;
	int			dtk;
	int			type;

	if (!IsA(node, FuncExpr) || f->funcid != F_EXTRACT_TEXT_TIMESTAMPTZ ||
		list_length(f->args) != 2 || bigquery_zone_name(session_timezone) == NULL)
		return NULL;
	unit = (Const *) linitial(f->args);
	if (!IsA(unit, Const) || unit->constisnull)
		return NULL;
	lower = TextDatumGetCString(unit->constvalue);
	lower = downcase_truncate_identifier(lower, strlen(lower), false);
	/* looked up as PostgreSQL's extract does: dow, doy and isodow are "special" */
	type = DecodeUnits(0, lower, &dtk);
	if (type == UNKNOWN_FIELD)
		type = DecodeSpecial(0, lower, &dtk);
	if (type != UNITS)
		return NULL;
	*ts = lsecond(f->args);
	for (int i = 0; i < lengthof(fields); i++)
		if (fields[i].dtk == dtk)
			return fields[i].bq;
	return NULL;
}

static bool
deparse_extract_field(DeparseCtx *ctx, FuncExpr *f)
{
	Node	   *ts;
	const char *field = extract_field((Node *) f, &ts);
	DateADT		first = DatumGetDateADT(time_limit(DATEOID, false));
	DateADT		after_last = DatumGetDateADT(time_limit(DATEOID, true)) + 1;

	/*
	 * not in WHERE or HAVING, where PostgreSQL reads rows at the range's
	 * ends that BigQuery refuses
	 */
	if (field == NULL || ctx->filter != NULL)
		return false;
	append_text(ctx, "CASE WHEN ");
	if (!deparse_operand(ctx, ts))
		return false;
	append_text(ctx, " < ");
	append_param(ctx, local_midnight_edge(first, false), BQP_VALUE);
	append_text(ctx, " THEN ERROR('bqstream_fdw: a local time before year 1 cannot be read by BigQuery') WHEN ");
	deparse_operand(ctx, ts);
	append_text(ctx, " > ");
	append_param(ctx, local_midnight_edge(after_last, true), BQP_VALUE);
	append_text(ctx, " THEN ERROR('bqstream_fdw: a local time after year 9999 cannot be read by BigQuery') ELSE ");
	append_text(ctx, field);
	deparse_operand(ctx, ts);
	append_text(ctx, " AT TIME ZONE IFNULL(");
	append_param(ctx, session_zone_param(DTK_HOUR), BQP_VALUE);
	append_text(ctx, ", ERROR('bqstream_fdw: BigQuery cannot read local times in the session time zone set since this plan was made')))");
	if (field[0] == '(')
		append_text(ctx, field[1] == '1' ? ", 7))" : ")");
	append_text(ctx, " END");
	return true;
}

/* an operand whose rows at the range's ends BigQuery cannot compute */
static bool
is_banded(Node *node)
{
	TimeTrunc	t;
	Node	   *ts;

	node = strip_relabel(node);
	return (analyze_date_trunc(node, &t) && t.zone != NULL) || analyze_date_cast(node, &ts);
}

static bool
deparse_operand(DeparseCtx *ctx, Node *node)
{
	node = strip_relabel(node);
	if (node == NULL)
		return false;
	/* a simple CASE's operand, only known inside its CASE */
	if (IsA(node, CaseTestExpr))
		return ctx->case_arg != NULL && deparse_operand(ctx, ctx->case_arg);
	if (is_column(ctx, node))
	{
		if (ctx->buf)
			append_column(ctx, (Var *) node);
		return true;
	}
	if (is_value(node))
	{
		append_param(ctx, node, BQP_VALUE);
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
	if (deparse_epoch(ctx, node))
		return true;
	if (IsA(node, OpExpr))
		return deparse_arithmetic(ctx, (OpExpr *) node);
	if (IsA(node, FuncExpr))
		return deparse_date_trunc(ctx, (FuncExpr *) node) ||
			deparse_date_cast(ctx, (FuncExpr *) node) ||
			deparse_date_bin(ctx, (FuncExpr *) node) ||
			deparse_extract_field(ctx, (FuncExpr *) node);
	if (IsA(node, Aggref))
		return deparse_aggregate(ctx, (Aggref *) node);
	return false;
}

/* the operands' common GoogleSQL type, NULL when they do not compare alike */
static const char *
comparable_type(Node *left, Node *right)
{
	const char *l = bq_param_type(exprType(strip_relabel(left)));
	const char *r = bq_param_type(exprType(strip_relabel(right)));

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

	if (exprType(strip_relabel(linitial(op->args))) == FLOAT8OID)
		return deparse_float_comparison(ctx, name, linitial(op->args), lsecond(op->args));
	/* dates and timestamps: bounds past BigQuery's range */
	{
		bool		handled;
		bool		pushed = deparse_time_comparison(ctx, op, name, &handled);

		if (handled)
			return pushed;
	}

	/* strings: BigQuery compares bytes, so only C ordering agrees */
	if (is_text(exprType(strip_relabel(linitial(op->args)))))
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
	Const	   *c = (Const *) strip_relabel(node);
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
	if (!is_text(exprType(strip_relabel(linitial(op->args)))) ||
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
	append_text(ctx, "(");
	if (!deparse_ascii_case(ctx, linitial(op->args), true))
		return false;
	append_text(ctx, negated ? " NOT LIKE " : " LIKE ");
	if (!deparse_ascii_case(ctx, lsecond(op->args), true))
		return false;
	append_text(ctx, ")");
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
	x = strip_relabel(linitial(op->args));
	array = strip_relabel(lsecond(op->args));
	if ((!is_array_value(array) && !is_float_array_without_nan(array)) ||
		!time_array_in_range(array))
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

	append_text(ctx, op->useOr ? "(" : "(NOT (");
	if (!deparse_operand(ctx, x))
		return false;
	append_text(ctx, " IN UNNEST(");
	append_param(ctx, array, BQP_ARRAY);
	append_text(ctx, ")");
	if (may_hold_null)
	{
		append_text(ctx, " OR IF(");
		append_param(ctx, array, BQP_ARRAY_HAS_NULL);
		append_text(ctx, ", NULL, FALSE)");
	}
	append_text(ctx, op->useOr ? ")" : "))");
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
			return deparse_operand(ctx, node);
		case T_OpExpr:
			return deparse_comparison(ctx, (OpExpr *) node) ||
				deparse_like(ctx, (OpExpr *) node);
		case T_FuncExpr:
		case T_CaseExpr:
		case T_CoalesceExpr:
			/* starts_with(), a boolean CASE or COALESCE */
			return exprType(node) == BOOLOID && !is_value(node) &&
				deparse_operand(ctx, node);
		case T_ScalarArrayOpExpr:
			return deparse_array_op(ctx, (ScalarArrayOpExpr *) node);
		case T_NullTest:
			{
				NullTest   *nt = (NullTest *) node;

				if (nt->argisrow || is_value((Node *) nt->arg))
					return false;
				append_text(ctx, "(");
				if (!deparse_operand(ctx, (Node *) nt->arg))
					return false;
				append_text(ctx, nt->nulltesttype == IS_NULL ? " IS NULL)" : " IS NOT NULL)");
				return true;
			}
		case T_BoolExpr:
			{
				BoolExpr   *b = (BoolExpr *) node;
				ListCell   *lc;

				Node	   *filter = ctx->filter;
				bool		pushed = true;

				append_text(ctx, b->boolop == NOT_EXPR ? "(NOT " : "(");
				foreach(lc, b->args)
				{
					if (lc != list_head(b->args))
						append_text(ctx, b->boolop == AND_EXPR ? " AND " : " OR ");
					/* AND and OR pass on a row only if a term is true; NOT is not so */
					ctx->filter = filter == node && b->boolop != NOT_EXPR ? lfirst(lc) : NULL;
					pushed = deparse_cond(ctx, lfirst(lc));
					if (!pushed)
						break;
				}
				ctx->filter = filter;
				append_text(ctx, ")");
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
	return deparse_operand(&ctx, (Node *) expr);
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
	Node	   *node = strip_relabel((Node *) expr);
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
	deparse_operand(&ctx, node);
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
	Node	   *node = strip_relabel((Node *) expr);
	Aggref	   *agg = (Aggref *) node;
	Node	   *arg;

	/* extract(epoch FROM ts), sent as a NUMERIC division */
	if (epoch_extract_of(node) != NULL)
		return 6;
	if (!IsA(node, Aggref) || agg->aggstar || list_length(agg->args) != 1 ||
		strcmp(get_func_name(agg->aggfnoid), "count") == 0)
		return -1;
	arg = strip_relabel((Node *) ((TargetEntry *) linitial(agg->args))->expr);
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
		Expr	   *expr = (Expr *) strip_relabel((Node *) em->em_expr);
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
		if (!deparse_operand(ctx, (Node *) expr))
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
			deparse_operand(&ctx, (Node *) expr);
		appendStringInfo(buf, "%s%s", direction, nulls);
	}
}
