/*-------------------------------------------------------------------------
 *
 * deparse_time.c
 *	  The time part of what bqstream_fdw sends to BigQuery: date and
 *	  timestamp bounds past BigQuery's range, time zones BigQuery reads as
 *	  PostgreSQL does, date_trunc, timestamptz::date, extract, Grafana's
 *	  epoch buckets and date_bin.  deparse.c's header says what is pushed
 *	  and why; this file is its walker's time expressions.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"
#include "fdw/deparse.h"
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
	bq_deparse_text(ctx, "IF(");
	if (!bq_deparse_operand(ctx, x))
		return false;
	bq_deparse_text(ctx, result ? " IS NULL, NULL, TRUE)" : " IS NULL, NULL, FALSE)");
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

	bq_deparse_text(ctx, "(");
	if (!bq_deparse_operand(ctx, x))
		return false;
	bq_deparse_text(ctx, " ");
	bq_deparse_text(ctx, sent_op);
	bq_deparse_text(ctx, " ");
	bq_deparse_param(ctx, make_case(type, whens, thens, inside), BQP_VALUE);
	bq_deparse_text(ctx, ")");
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

	bq_deparse_text(ctx, "IF(");
	bq_deparse_param(ctx, decided, BQP_VALUE);
	bq_deparse_text(ctx, " IS NULL, (");
	if (!bq_deparse_operand(ctx, x))
		return false;
	bq_deparse_text(ctx, " ");
	bq_deparse_text(ctx, op);
	bq_deparse_text(ctx, " ");
	bq_deparse_param(ctx, in_range, BQP_VALUE);
	bq_deparse_text(ctx, "), IF(");
	if (!bq_deparse_operand(ctx, x))
		return false;
	bq_deparse_text(ctx, " IS NULL, NULL, ");
	bq_deparse_param(ctx, decided, BQP_VALUE);
	bq_deparse_text(ctx, "))");
	return true;
}

static int	deparse_trunc_comparison(DeparseCtx *ctx, Node *x, const char *op, Node *v);
static int	deparse_date_cast_comparison(DeparseCtx *ctx, Node *x, const char *op, Node *v);
static bool is_banded(Node *node);

/*
 * A comparison of DATE or TIMESTAMP operands: false when it is not one of
 * an operand with a value (*handled then stays false), else whether it is
 * pushed.
 */
bool
bq_deparse_time_comparison(DeparseCtx *ctx, OpExpr *op, const char *name, bool *handled)
{
	Node	   *l = bq_strip_relabel(linitial(op->args));
	Node	   *r = bq_strip_relabel(lsecond(op->args));
	Node	   *x;
	Node	   *v;

	*handled = false;
	if (!is_time_type(exprType(l)))
		return false;
	if (bq_is_value(l) && bq_is_value(r))
	{
		/* decided by PostgreSQL at execution start, whatever the values */
		*handled = true;
		bq_deparse_param(ctx, (Node *) op, BQP_VALUE);
		return true;
	}
	if (bq_is_value(r))
	{
		x = l;
		v = r;
	}
	else if (bq_is_value(l))
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
		bq_deparse_text(ctx, "(");
		if (!bq_deparse_operand(ctx, x))
			return false;
		bq_deparse_text(ctx, " ");
		bq_deparse_text(ctx, name);
		bq_deparse_text(ctx, " ");
		bq_deparse_param(ctx, v, BQP_VALUE);
		bq_deparse_text(ctx, ")");
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
bool
bq_time_array_in_range(Node *array)
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
	bq_deparse_text(ctx, "TIMESTAMP_TRUNC(");
	if (!bq_deparse_operand(ctx, t->ts))
		return false;
	bq_deparse_text(ctx, ", ");
	bq_deparse_text(ctx, t->bq_unit);
	if (t->zone && t->session)
	{
		bq_deparse_text(ctx, ", IFNULL(");
		bq_deparse_param(ctx, t->zone, BQP_VALUE);
		bq_deparse_text(ctx, ", ERROR('bqstream_fdw: BigQuery cannot truncate in the session time zone set since this plan was made'))");
	}
	else if (t->zone)
	{
		bq_deparse_text(ctx, ", ");
		bq_deparse_param(ctx, t->zone, BQP_VALUE);
	}
	bq_deparse_text(ctx, ")");
	return true;
}

/* CASE WHEN ts < @lo THEN <below> WHEN ts >= @hi THEN @hi ELSE TIMESTAMP_TRUNC(...) END */
static bool
append_banded_trunc(DeparseCtx *ctx, TimeTrunc *t, const char *below)
{
	bq_deparse_text(ctx, "CASE WHEN ");
	if (!bq_deparse_operand(ctx, t->ts))
		return false;
	bq_deparse_text(ctx, " < ");
	bq_deparse_param(ctx, trunc_low_edge(t), BQP_VALUE);
	bq_deparse_text(ctx, " THEN ");
	bq_deparse_text(ctx, below);
	bq_deparse_text(ctx, " WHEN ");
	bq_deparse_operand(ctx, t->ts);
	bq_deparse_text(ctx, " >= ");
	bq_deparse_param(ctx, trunc_high_edge(t), BQP_VALUE);
	bq_deparse_text(ctx, " THEN ");
	bq_deparse_param(ctx, trunc_high_edge(t), BQP_VALUE);
	bq_deparse_text(ctx, " ELSE ");
	append_timestamp_trunc(ctx, t);
	bq_deparse_text(ctx, " END");
	return true;
}

/* date_trunc as an operand: a row whose period starts before the range is an error */
bool
bq_deparse_date_trunc(DeparseCtx *ctx, FuncExpr *f)
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
	bq_deparse_text(ctx, "IF(");
	if (!bq_deparse_operand(ctx, t.ts))
		return 0;
	bq_deparse_text(ctx, " < ");
	bq_deparse_param(ctx, trunc_low_edge(&t), BQP_VALUE);
	bq_deparse_text(ctx, beyond_range_result(op, true) ? ", TRUE, (" : ", FALSE, (");
	if (!append_banded_trunc(ctx, &t, "NULL"))
		return 0;
	bq_deparse_text(ctx, " ");
	bq_deparse_text(ctx, op);
	bq_deparse_text(ctx, " ");
	bq_deparse_param(ctx, v, BQP_VALUE);
	bq_deparse_text(ctx, "))");
	return 1;
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

	bq_deparse_text(ctx, "CASE WHEN ");
	if (!bq_deparse_operand(ctx, ts))
		return false;
	bq_deparse_text(ctx, " < ");
	bq_deparse_param(ctx, local_midnight_edge(first, false), BQP_VALUE);
	bq_deparse_text(ctx, " THEN ");
	bq_deparse_text(ctx, below);
	bq_deparse_text(ctx, " WHEN ");
	bq_deparse_operand(ctx, ts);
	bq_deparse_text(ctx, " > ");
	bq_deparse_param(ctx, local_midnight_edge(after_last, true), BQP_VALUE);
	bq_deparse_text(ctx, " THEN ");
	bq_deparse_text(ctx, above);
	bq_deparse_text(ctx, " ELSE DATE(");
	bq_deparse_operand(ctx, ts);
	bq_deparse_text(ctx, ", IFNULL(");
	bq_deparse_param(ctx, session_zone_param(DTK_HOUR), BQP_VALUE);
	bq_deparse_text(ctx, ", ERROR('bqstream_fdw: BigQuery cannot read dates in the session time zone set since this plan was made')))");
	if (op)
	{
		bq_deparse_text(ctx, " ");
		bq_deparse_text(ctx, op);
		bq_deparse_text(ctx, " ");
		bq_deparse_param(ctx, value, BQP_VALUE);
	}
	bq_deparse_text(ctx, " END");
	return true;
}

bool
bq_deparse_date_cast(DeparseCtx *ctx, FuncExpr *f)
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
	bq_deparse_text(ctx, "(");
	if (!append_banded_date(ctx, ts, beyond_range_result(op, true) ? "TRUE" : "FALSE",
							beyond_range_result(op, false) ? "TRUE" : "FALSE", op, v))
		return 0;
	bq_deparse_text(ctx, ")");
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
Node *
bq_epoch_extract_of(Node *node)
{
	FuncExpr   *f = (FuncExpr *) bq_strip_relabel(node);
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
	Const	   *c = (Const *) bq_strip_relabel(node);
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

	node = bq_strip_relabel(node);
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
	FuncExpr   *f = (FuncExpr *) bq_strip_relabel(node);

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
	b->ts = bq_epoch_extract_of(epoch);
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
	bq_deparse_text(ctx, "(DIV(UNIX_MICROS(");
	if (!bq_deparse_operand(ctx, b->ts))
		return false;
	appendStringInfo(&s, "), " INT64_FORMAT ") - IF(MOD(UNIX_MICROS(", d);
	bq_deparse_text(ctx, s.data);
	bq_deparse_operand(ctx, b->ts);
	resetStringInfo(&s);
	appendStringInfo(&s, "), " INT64_FORMAT ") < 0, 1, 0)", d);
	bq_deparse_text(ctx, s.data);
	if (b->seconds >= 200 && b->seconds < 10000)
	{
		/*
		 * scale 8: a gap to the next multiple of d of g microseconds rounds
		 * the quotient up when 2 * 10^8 * g < d, i.e. 200 * g < N, and on a
		 * tie (200 * g = N) when positive, away from zero
		 */
		bq_deparse_text(ctx, " + IF(ABS(UNIX_MICROS(");
		bq_deparse_operand(ctx, b->ts);
		resetStringInfo(&s);
		appendStringInfo(&s, ")) >= " INT64_FORMAT " AND MOD(MOD(UNIX_MICROS(",
						 (b->seconds + 1) * INT64CONST(100000000) * USECS_PER_SEC);
		bq_deparse_text(ctx, s.data);
		bq_deparse_operand(ctx, b->ts);
		resetStringInfo(&s);
		appendStringInfo(&s, "), " INT64_FORMAT ") + " INT64_FORMAT ", " INT64_FORMAT
						 ") * 200 >= " INT64_FORMAT " + IF(UNIX_MICROS(", d, d, d, 200 * d - b->seconds);
		bq_deparse_text(ctx, s.data);
		bq_deparse_operand(ctx, b->ts);
		bq_deparse_text(ctx, ") > 0, 0, 1), 1, 0)");
	}
	bq_deparse_text(ctx, ")");
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
	*ts = bq_epoch_extract_of(epoch);
	*divisor = USECS_PER_SEC / factor;
	return *ts != NULL;
}

bool
bq_deparse_epoch(DeparseCtx *ctx, Node *node)
{
	EpochBucket b;
	int64		factor;
	Node	   *ts;
	int64		divisor;
	Node	   *seconds;
	char		text[64];

	if (analyze_epoch_bucket_start(node, &b, &factor))
	{
		bq_deparse_text(ctx, "(");
		if (!append_epoch_bucket(ctx, &b))
			return false;
		snprintf(text, sizeof(text), " * " INT64_FORMAT ")", factor);
		bq_deparse_text(ctx, text);
		return true;
	}

	/* to_timestamp(floor(extract(epoch FROM ts) / N) * M) */
	seconds = arg_of(node, F_TO_TIMESTAMP_FLOAT8);
	if (seconds && (seconds = arg_of(seconds, F_FLOAT8_NUMERIC)) != NULL &&
		analyze_epoch_bucket_start(seconds, &b, &factor))
	{
		bq_deparse_text(ctx, "TIMESTAMP_SECONDS(");
		if (!append_epoch_bucket(ctx, &b))
			return false;
		snprintf(text, sizeof(text), " * " INT64_FORMAT ")", factor);
		bq_deparse_text(ctx, text);
		return true;
	}

	if (analyze_epoch_bucket(node, &b))
		return append_epoch_bucket(ctx, &b);

	if (analyze_epoch_integer(node, &ts, &divisor))
	{
		bq_deparse_text(ctx, "DIV(UNIX_MICROS(");
		if (!bq_deparse_operand(ctx, ts))
			return false;
		snprintf(text, sizeof(text), ") + IF(UNIX_MICROS(");
		bq_deparse_text(ctx, text);
		bq_deparse_operand(ctx, ts);
		snprintf(text, sizeof(text), ") < 0, " INT64_FORMAT ", " INT64_FORMAT "), " INT64_FORMAT ")",
				 -(divisor / 2), divisor / 2, divisor);
		bq_deparse_text(ctx, text);
		return true;
	}

	/* extract(epoch FROM ts) itself: numeric of scale 6, see bq_select_item_scale */
	ts = bq_epoch_extract_of(node);
	if (ts)
	{
		bq_deparse_text(ctx, "(CAST(UNIX_MICROS(");
		if (!bq_deparse_operand(ctx, ts))
			return false;
		bq_deparse_text(ctx, ") AS NUMERIC) / 1000000)");
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
bool
bq_deparse_date_bin(DeparseCtx *ctx, FuncExpr *f)
{
	Const	   *stride;
	Const	   *origin;
	Interval   *span;
	int64		usecs;
	Node	   *stride_param;

	if (f->funcid != F_DATE_BIN_INTERVAL_TIMESTAMPTZ_TIMESTAMPTZ || list_length(f->args) != 3)
		return false;
	stride = (Const *) bq_strip_relabel(linitial(f->args));
	origin = (Const *) bq_strip_relabel(lthird(f->args));
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
	bq_deparse_text(ctx, "TIMESTAMP_MICROS(UNIX_MICROS(");
	bq_deparse_param(ctx, (Node *) origin, BQP_VALUE);
	bq_deparse_text(ctx, ") + (DIV(UNIX_MICROS(");
	if (!bq_deparse_operand(ctx, lsecond(f->args)))
		return false;
	bq_deparse_text(ctx, ") - UNIX_MICROS(");
	bq_deparse_param(ctx, (Node *) origin, BQP_VALUE);
	bq_deparse_text(ctx, "), ");
	bq_deparse_param(ctx, stride_param, BQP_VALUE);
	bq_deparse_text(ctx, ") - IF(MOD(UNIX_MICROS(");
	bq_deparse_operand(ctx, lsecond(f->args));
	bq_deparse_text(ctx, ") - UNIX_MICROS(");
	bq_deparse_param(ctx, (Node *) origin, BQP_VALUE);
	bq_deparse_text(ctx, "), ");
	bq_deparse_param(ctx, stride_param, BQP_VALUE);
	bq_deparse_text(ctx, ") < 0, 1, 0)) * ");
	bq_deparse_param(ctx, stride_param, BQP_VALUE);
	bq_deparse_text(ctx, ")");
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

bool
bq_deparse_extract_field(DeparseCtx *ctx, FuncExpr *f)
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
	bq_deparse_text(ctx, "CASE WHEN ");
	if (!bq_deparse_operand(ctx, ts))
		return false;
	bq_deparse_text(ctx, " < ");
	bq_deparse_param(ctx, local_midnight_edge(first, false), BQP_VALUE);
	bq_deparse_text(ctx, " THEN ERROR('bqstream_fdw: a local time before year 1 cannot be read by BigQuery') WHEN ");
	bq_deparse_operand(ctx, ts);
	bq_deparse_text(ctx, " > ");
	bq_deparse_param(ctx, local_midnight_edge(after_last, true), BQP_VALUE);
	bq_deparse_text(ctx, " THEN ERROR('bqstream_fdw: a local time after year 9999 cannot be read by BigQuery') ELSE ");
	bq_deparse_text(ctx, field);
	bq_deparse_operand(ctx, ts);
	bq_deparse_text(ctx, " AT TIME ZONE IFNULL(");
	bq_deparse_param(ctx, session_zone_param(DTK_HOUR), BQP_VALUE);
	bq_deparse_text(ctx, ", ERROR('bqstream_fdw: BigQuery cannot read local times in the session time zone set since this plan was made')))");
	if (field[0] == '(')
		bq_deparse_text(ctx, field[1] == '1' ? ", 7))" : ")");
	bq_deparse_text(ctx, " END");
	return true;
}

/* an operand whose rows at the range's ends BigQuery cannot compute */
static bool
is_banded(Node *node)
{
	TimeTrunc	t;
	Node	   *ts;

	node = bq_strip_relabel(node);
	return (analyze_date_trunc(node, &t) && t.zone != NULL) || analyze_date_cast(node, &ts);
}
