/*-------------------------------------------------------------------------
 *
 * deparse.c
 *	  Which WHERE clauses bqstream_fdw sends to BigQuery, and their GoogleSQL
 *	  text.
 *
 * A clause is pushed only when BigQuery is sure to give it the same
 * meaning: comparisons of integer, boolean, date, timestamp and text
 * columns (text ordering only under a C collation, equality only under a
 * deterministic one), IS [NOT] NULL, AND, OR and NOT.  Floating point is
 * kept local, since NaN compares differently.  Every value travels as a
 * typed query parameter (@p1, @p2, ...), never as text spliced into the
 * query, so no string a user supplies can change the remote SQL.  ORDER BY
 * goes along when every sort key is such a column and BigQuery orders it
 * the same way, NULLs placed explicitly.  A
 * parameter may be a constant, a query parameter ($1) or a stable
 * expression such as now() - interval '1 hour': it is computed once at
 * execution start, which is what lets BigQuery prune partitions.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/transam.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_type.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/clauses.h"
#include "optimizer/optimizer.h"
#include "utils/pg_locale.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "fdw/fdw.h"

typedef struct DeparseCtx
{
	RelOptInfo *baserel;
	Relation	rel;
	StringInfo	buf;			/* NULL: only checking */
	List	  **params;			/* the expressions behind @p1, @p2, ... */
} DeparseCtx;

/* GoogleSQL type of a parameter, or NULL when the type is not pushed */
const char *
bq_param_type(Oid type)
{
	switch (type)
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
			return "INT64";
		case BOOLOID:
			return "BOOL";
		case TEXTOID:
		case VARCHAROID:
			return "STRING";
		case DATEOID:
			return "DATE";
		case TIMESTAMPTZOID:
			return "TIMESTAMP";
		default:
			return NULL;
	}
}

static bool
is_column(DeparseCtx *ctx, Node *node)
{
	Var		   *var = (Var *) node;

	return IsA(node, Var) && var->varno == ctx->baserel->relid &&
		var->varlevelsup == 0 && var->varattno > 0;
}

/* a value computable once at execution start */
static bool
is_value(Node *node)
{
	/* aggregates and window functions have been replaced by Vars here */
	return !contain_var_clause(node) && !contain_volatile_functions(node) &&
		!contain_subplans(node) && !expression_returns_set(node) && bq_param_type(exprType(node)) != NULL;
}

static bool deparse(DeparseCtx *ctx, Node *node);

static void
append_column(DeparseCtx *ctx, Node *var)
{
	if (ctx->buf)
		bq_append_identifier(ctx->buf, bq_column_name(ctx->rel, ((Var *) var)->varattno));
}

static void
append_param(DeparseCtx *ctx, Node *value)
{
	*ctx->params = lappend(*ctx->params, value);
	appendStringInfo(ctx->buf, "@p%d", list_length(*ctx->params));
}

static bool
deparse_comparison(DeparseCtx *ctx, OpExpr *op)
{
	Node	   *left = linitial(op->args);
	Node	   *right = lsecond(op->args);
	HeapTuple	tup;
	char	   *opname;
	bool		column_left;
	Oid			coltype;
	static const char *const ops[] = {"=", "<>", "<", "<=", ">", ">="};
	bool		known = false;

	if (list_length(op->args) != 2)
		return false;
	/* strip binary-compatible relabelings, e.g. varchar to text */
	if (IsA(left, RelabelType))
		left = (Node *) ((RelabelType *) left)->arg;
	if (IsA(right, RelabelType))
		right = (Node *) ((RelabelType *) right)->arg;

	if (is_column(ctx, left) && is_value(right))
		column_left = true;
	else if (is_column(ctx, right) && is_value(left))
		column_left = false;
	else
		return false;

	coltype = exprType(column_left ? left : right);
	if (bq_param_type(coltype) == NULL)
		return false;

	tup = SearchSysCache1(OPEROID, ObjectIdGetDatum(op->opno));
	if (!HeapTupleIsValid(tup))
		return false;
	opname = pstrdup(NameStr(((Form_pg_operator) GETSTRUCT(tup))->oprname));
	ReleaseSysCache(tup);
	/* built-in operators only: a user's operator may mean anything */
	if (op->opno >= FirstNormalObjectId)
		return false;
	for (int i = 0; i < lengthof(ops); i++)
		known |= strcmp(opname, ops[i]) == 0;
	if (!known)
		return false;

	/* strings: BigQuery compares bytes, so only C ordering agrees */
	if (coltype == TEXTOID || coltype == VARCHAROID)
	{
		bool		equality = strcmp(opname, "=") == 0 || strcmp(opname, "<>") == 0;

		if (!OidIsValid(op->inputcollid))
			return false;
		if (equality ? !get_collation_isdeterministic(op->inputcollid)
			: !lc_collate_is_c(op->inputcollid))
			return false;
	}
	/* both sides of the same kind: integers with integers, and so on */
	if (strcmp(bq_param_type(coltype), bq_param_type(exprType(column_left ? right : left))) != 0)
		return false;

	if (ctx->buf)
	{
		appendStringInfoChar(ctx->buf, '(');
		if (column_left)
			append_column(ctx, left);
		else
			append_param(ctx, left);
		appendStringInfo(ctx->buf, " %s ", opname);
		if (column_left)
			append_param(ctx, right);
		else
			append_column(ctx, right);
		appendStringInfoChar(ctx->buf, ')');
	}
	return true;
}

static bool
deparse(DeparseCtx *ctx, Node *node)
{
	if (node == NULL)
		return false;
	switch (nodeTag(node))
	{
		case T_Var:
			/* a boolean column as a condition of its own */
			if (!is_column(ctx, node) || exprType(node) != BOOLOID)
				return false;
			append_column(ctx, node);
			return true;
		case T_OpExpr:
			return deparse_comparison(ctx, (OpExpr *) node);
		case T_NullTest:
			{
				NullTest   *nt = (NullTest *) node;

				if (!is_column(ctx, (Node *) nt->arg) || nt->argisrow)
					return false;
				if (ctx->buf)
				{
					appendStringInfoChar(ctx->buf, '(');
					append_column(ctx, (Node *) nt->arg);
					appendStringInfoString(ctx->buf, nt->nulltesttype == IS_NULL
										   ? " IS NULL)" : " IS NOT NULL)");
				}
				return true;
			}
		case T_BoolExpr:
			{
				BoolExpr   *b = (BoolExpr *) node;
				ListCell   *lc;
				bool		first = true;

				if (ctx->buf == NULL)
				{
					foreach(lc, b->args)
						if (!deparse(ctx, lfirst(lc)))
							return false;
					return true;
				}
				appendStringInfoChar(ctx->buf, '(');
				if (b->boolop == NOT_EXPR)
					appendStringInfoString(ctx->buf, "NOT ");
				foreach(lc, b->args)
				{
					if (!first)
						appendStringInfoString(ctx->buf, b->boolop == AND_EXPR ? " AND " : " OR ");
					first = false;
					deparse(ctx, lfirst(lc));
				}
				appendStringInfoChar(ctx->buf, ')');
				return true;
			}
		default:
			return false;
	}
}

bool
bq_is_pushable(RelOptInfo *baserel, Relation rel, Expr *clause)
{
	List	   *params = NIL;
	DeparseCtx	ctx = {baserel, rel, NULL, &params};

	return deparse(&ctx, (Node *) clause);
}

void
bq_deparse_where(StringInfo buf, RelOptInfo *baserel, Relation rel, List *clauses,
				 List **params)
{
	DeparseCtx	ctx = {baserel, rel, buf, params};
	ListCell   *lc;

	foreach(lc, clauses)
	{
		appendStringInfoString(buf, lc == list_head(clauses) ? " WHERE " : " AND ");
		deparse(&ctx, lfirst(lc));
	}
}

/*
 * The BigQuery column a pathkey sorts by, when BigQuery sorts it the same
 * way: a plain column of a pushed type, the type's own btree ordering
 * (text only under C), NULLS FIRST or LAST spelled out.  NULL otherwise.
 */
static Var *
sortable_column(RelOptInfo *baserel, Relation rel, PathKey *pk)
{
	EquivalenceClass *ec = pk->pk_eclass;
	ListCell   *lc;
	List	   *params = NIL;
	DeparseCtx	ctx = {baserel, rel, NULL, &params};

	if (ec->ec_has_volatile)
		return NULL;
	foreach(lc, ec->ec_members)
	{
		EquivalenceMember *em = (EquivalenceMember *) lfirst(lc);
		Node	   *expr = (Node *) em->em_expr;
		Oid			type;

		if (IsA(expr, RelabelType))
			expr = (Node *) ((RelabelType *) expr)->arg;
		if (em->em_is_const || !is_column(&ctx, expr))
			continue;
		type = exprType(expr);
		if (bq_param_type(type) == NULL || pk->pk_opfamily >= FirstNormalObjectId ||
			!OidIsValid(get_opfamily_member(pk->pk_opfamily, type, type, pk->pk_strategy)))
			return NULL;
		if ((type == TEXTOID || type == VARCHAROID) && !lc_collate_is_c(ec->ec_collation))
			return NULL;
		return (Var *) expr;
	}
	return NULL;
}

bool
bq_pathkeys_pushable(RelOptInfo *baserel, Relation rel, List *pathkeys)
{
	ListCell   *lc;

	foreach(lc, pathkeys)
		if (sortable_column(baserel, rel, lfirst(lc)) == NULL)
			return false;
	return pathkeys != NIL;
}

void
bq_deparse_order_by(StringInfo buf, RelOptInfo *baserel, Relation rel, List *pathkeys)
{
	ListCell   *lc;

	foreach(lc, pathkeys)
	{
		PathKey    *pk = (PathKey *) lfirst(lc);
		Var		   *var = sortable_column(baserel, rel, pk);

		appendStringInfoString(buf, lc == list_head(pathkeys) ? " ORDER BY " : ", ");
		bq_append_identifier(buf, bq_column_name(rel, var->varattno));
		appendStringInfoString(buf, pk->pk_strategy == BTLessStrategyNumber ? " ASC" : " DESC");
		appendStringInfoString(buf, pk->pk_nulls_first ? " NULLS FIRST" : " NULLS LAST");
	}
}
