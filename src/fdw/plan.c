/*-------------------------------------------------------------------------
 *
 * plan.c
 *	  bqstream_fdw's planner callbacks: the paths of a foreign table, of a
 *	  join of two, and of the aggregate, distinct, sort and limit stages
 *	  above one that BigQuery can compute, and the remote query of the
 *	  chosen one.
 *
 * What goes to BigQuery:
 *
 * - the projection: only the columns the query needs, since BigQuery
 *   bills by column;
 * - the WHERE clauses deparse.c proves BigQuery reads the same way, with
 *   their values as typed parameters computed at execution start;
 * - ORDER BY on such expressions;
 * - when the whole WHERE clause goes: GROUP BY, HAVING and the aggregates
 *   deparse.c pushes (FILTER clauses and float ones among them), and
 *   SELECT DISTINCT as a GROUP BY of its columns.  A select item BigQuery
 *   cannot compute is computed here from the grouping keys and aggregates
 *   it returns; one that needs a column outside the grouping keys keeps
 *   the grouping here;
 * - the ORDER BY of a grouped query, by select list position, and LIMIT/
 *   OFFSET (top-N) when nothing evaluated here could change which rows
 *   they keep;
 * - an INNER or LEFT join of two foreign tables of the same server, user
 *   mapping and location whose WHERE clauses and join clauses all go
 *   (bqGetForeignJoinPaths); what is above the join is computed here.
 *
 * The rest is evaluated locally.  Every item of a grouped or limited
 * remote select list is named (c1, c2, ...): BigQuery refuses two result
 * columns of the same name.  With bqstream.enable_pushdown off, only the
 * projection goes.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "gcp/gcp_json.h"

#include "access/table.h"
#include "catalog/pg_type.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/planmain.h"
#include "optimizer/restrictinfo.h"
#include "optimizer/tlist.h"
#include "parser/parsetree.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/selfuncs.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "fdw/fdw.h"

/* ---------------------------------------------------------------------
 * planner
 * ---------------------------------------------------------------------
 */

/* how long a table's row count is trusted for planning */
#define ROW_COUNT_TTL_S		300

typedef struct RowCount
{
	Oid			relid;			/* the hash key */
	double		rows;
	double		row_bytes;		/* average logical bytes per stored row, or -1 */
	bool		is_table;		/* a table, which the Storage Read API reads */
	TimestampTz fetched_at;
} RowCount;

/* per foreign table, in CacheMemoryContext; NULL until first used */
static HTAB *row_counts = NULL;

/*
 * A foreign table or server changed (ALTER ... OPTIONS may name another
 * BigQuery table): every count is asked for again.  Rare enough not to be
 * worth telling one table's entry from another's.
 */
static void
forget_row_counts(Datum arg, int cacheid, uint32 hashvalue)
{
	HASH_SEQ_STATUS scan;
	RowCount   *rc;

	hash_seq_init(&scan, row_counts);
	while ((rc = hash_seq_search(&scan)) != NULL)
		rc->fetched_at = 0;
}

static RowCount *
row_count_entry(Oid relid)
{
	bool		found;
	RowCount   *rc;

	if (row_counts == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(RowCount);
		row_counts = hash_create("bqstream_fdw row counts", 64, &ctl, HASH_ELEM | HASH_BLOBS);
		CacheRegisterSyscacheCallback(FOREIGNTABLEREL, forget_row_counts, (Datum) 0);
		CacheRegisterSyscacheCallback(FOREIGNSERVEROID, forget_row_counts, (Datum) 0);
	}
	rc = hash_search(row_counts, &relid, HASH_ENTER, &found);
	if (!found)
		rc->fetched_at = 0;
	return rc;
}

/* ANALYZE asks BigQuery again */
void
bq_forget_row_count(Oid relid)
{
	row_count_entry(relid)->fetched_at = 0;
}

/*
 * Rows of the BigQuery table, from its metadata (numRows plus what is
 * still in the streaming buffer), cached for a few minutes; -1 when the
 * metadata has no count.  *row_bytes (if asked for) gets the average size
 * of a row, or -1.  A table that cannot be reached fails here, at
 * planning, as it would at execution.
 */
double
bq_remote_row_count(Oid relid, Oid userid, double *row_bytes)
{
	TimestampTz now = GetCurrentTimestamp();
	RowCount   *rc = row_count_entry(relid);
	double		rows = -1;
	double		bytes = -1;
	bool		is_table = false;

	if (rc->fetched_at != 0 && now - rc->fetched_at < ROW_COUNT_TTL_S * USECS_PER_SEC)
	{
		if (row_bytes)
			*row_bytes = rc->row_bytes;
		return rc->rows;
	}

	if (gcp_option_value(GetForeignTable(relid)->options, "query") == NULL)
	{
		ForeignTable *ft = GetForeignTable(relid);
		GcpServer  *srv = bq_server_of(relid, userid, 0);
		BqTableRef *ref = bq_table_ref(ft, srv);
		json_t	   *table = gcp_call(srv, GCP_BIGQUERY, "GET",
									 gcp_url(srv, GCP_BIGQUERY, "projects/%s/datasets/%s/tables/%s",
											 gcp_url_escape(srv->project_id), ref->dataset,
											 gcp_url_escape(ref->table)),
									 NULL, psprintf("read the metadata of table \"%s.%s\"",
													ref->dataset, ref->table),
									 NULL, NULL);
		const char *n = json_string_value(json_object_get(table, "numRows"));
		const char *buffered = json_string_value(json_object_get(json_object_get(table, "streamingBuffer"),
																 "estimatedRows"));

		const char *stored_bytes = json_string_value(json_object_get(table, "numBytes"));
		const char *type = json_string_value(json_object_get(table, "type"));

		if (n)
			rows = strtod(n, NULL) + (buffered ? strtod(buffered, NULL) : 0);
		/* numBytes leaves out the streaming buffer, as numRows does */
		if (n && stored_bytes && strtod(n, NULL) > 0)
			bytes = strtod(stored_bytes, NULL) / strtod(n, NULL);
		/* not a view, logical or materialized, nor an external table */
		is_table = type != NULL && strcmp(type, "TABLE") == 0;
	}

	/* looked up again: the request may have run invalidations */
	rc = row_count_entry(relid);
	rc->rows = rows;
	rc->row_bytes = bytes;
	rc->is_table = is_table;
	rc->fetched_at = now;
	if (row_bytes)
		*row_bytes = bytes;
	return rows;
}

/* whether the foreign table reads a BigQuery table (not a view or query) */
bool
bq_remote_is_table(Oid relid, Oid userid)
{
	(void) bq_remote_row_count(relid, userid, NULL);
	return row_count_entry(relid)->is_table;
}

/*
 * What the planner knows of a relation BigQuery can compute: the foreign
 * table itself, or an aggregate, sort or limit stage above it.
 */
typedef struct BqRelInfo
{
	RelOptInfo *scanrel;		/* the foreign table's relation */
	Oid			relid;
	List	   *remote_conds;	/* its RestrictInfos BigQuery evaluates */
	List	   *local_conds;	/* and the others */

	/* upper relations */
	bool		pushdown_safe;	/* this stage can go to BigQuery */
	UpperRelationKind stage;
	RelOptInfo *inputrel;		/* the relation it is computed from */
	List	   *grouped_tlist;	/* aggregate query: the scan's columns */
	List	   *group_clauses;	/* aggregate query: GROUP BY or DISTINCT items */
	List	   *having;			/* aggregate query: HAVING clauses */
	List	   *local_having;	/* aggregate query: and those evaluated here */

	/* join of two foreign tables */
	RelOptInfo *outerrel;
	RelOptInfo *innerrel;
	JoinType	jointype;
	List	   *join_conds;		/* clauses of ON */
	List	   *join_filters;	/* clauses of WHERE, after the join */
} BqRelInfo;

/* a BigQuery job costs a round trip or two; rows then stream */
#define JOB_STARTUP_COST	1000.0
#define ROW_TRANSFER_COST	0.01

/*
 * A job that aggregates or limits in BigQuery is never slower than the one
 * reading the rows it works on.  Priced clearly lower, so that PostgreSQL's
 * fuzzy cost comparison does not keep a local plan for small tables.
 */
#define UPPER_STARTUP_COST	(JOB_STARTUP_COST * 0.9)
#define LIMIT_STARTUP_COST	(UPPER_STARTUP_COST * 0.98)

/*
 * bqGetForeignRelSize
 *		Split the restriction clauses into remote and local ones, and estimate rows and width.
 */
void
bqGetForeignRelSize(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid)
{
	BqRelInfo  *info = palloc0(sizeof(BqRelInfo));
	Relation	rel = table_open(foreigntableid, NoLock);
	ListCell   *lc;
	double		row_bytes;

	info->scanrel = baserel;
	info->relid = foreigntableid;
	info->pushdown_safe = bq_enable_pushdown;
	foreach(lc, baserel->baserestrictinfo)
	{
		RestrictInfo *ri = (RestrictInfo *) lfirst(lc);

		if (bq_enable_pushdown && bq_is_pushable(baserel, rel, ri->clause, false))
			info->remote_conds = lappend(info->remote_conds, ri);
		else
			info->local_conds = lappend(info->local_conds, ri);
	}
	baserel->fdw_private = info;

	baserel->tuples = bq_remote_row_count(foreigntableid, baserel->userid, &row_bytes);
	if (baserel->tuples < 0)
		baserel->tuples = 1000;	/* no metadata: a guess */

	/*
	 * Width: the table's average row size, shared out evenly among its
	 * columns, for the columns the query reads.
	 */
	if (row_bytes > 0)
	{
		Bitmapset  *attrs = NULL;
		int			ncolumns = 0;
		int			nread;

		pull_varattnos((Node *) baserel->reltarget->exprs, baserel->relid, &attrs);
		foreach(lc, info->local_conds)
			pull_varattnos((Node *) ((RestrictInfo *) lfirst(lc))->clause, baserel->relid, &attrs);
		for (int i = 0; i < RelationGetDescr(rel)->natts; i++)
			ncolumns += !TupleDescAttr(RelationGetDescr(rel), i)->attisdropped;
		nread = bms_is_member(0 - FirstLowInvalidHeapAttributeNumber, attrs)
			? ncolumns : bms_num_members(attrs);
		if (ncolumns > 0)
			baserel->reltarget->width = Max(1, (int) (row_bytes * nread / ncolumns));
	}
	table_close(rel, NoLock);
	baserel->rows = clamp_row_est(baserel->tuples *
								  clauselist_selectivity(root, baserel->baserestrictinfo,
														 0, JOIN_INNER, NULL));
}

/*
 * bqGetForeignPaths
 *		The scan path, and one sorted by BigQuery when the ORDER BY can be.
 */
void
bqGetForeignPaths(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid)
{
	Cost		total = JOB_STARTUP_COST + baserel->rows * ROW_TRANSFER_COST;
	Relation	rel;

	add_path(baserel, (Path *) create_foreignscan_path(root, baserel, NULL, baserel->rows,
													   JOB_STARTUP_COST, total, NIL,
													   baserel->lateral_relids, NULL, NIL));

	/*
	 * Sorted by BigQuery: the transfer a little dearer than unsorted, which
	 * stays cheaper than sorting locally.
	 */
	rel = table_open(foreigntableid, NoLock);
	if (bq_enable_pushdown &&
		bq_pathkeys_pushable(baserel, rel, root->query_pathkeys, NIL))
		add_path(baserel, (Path *) create_foreignscan_path(root, baserel, NULL, baserel->rows,
														   JOB_STARTUP_COST,
														   JOB_STARTUP_COST + (total - JOB_STARTUP_COST) * 1.05,
														   root->query_pathkeys,
														   baserel->lateral_relids, NULL, NIL));
	table_close(rel, NoLock);
}

/* ---------------------------------------------------------------------
 * upper relations: aggregates, ORDER BY over them, LIMIT
 * ---------------------------------------------------------------------
 */

static BqRelInfo *
upper_info(RelOptInfo *output_rel, BqRelInfo *in, UpperRelationKind stage,
		   RelOptInfo *inputrel)
{
	BqRelInfo  *info = palloc0(sizeof(BqRelInfo));

	info->scanrel = in->scanrel;
	info->relid = in->relid;
	info->remote_conds = in->remote_conds;
	info->stage = stage;
	info->inputrel = inputrel;
	output_rel->fdw_private = info;
	return info;
}

/*
 * An expression into the remote select list, once; a grouping key as many
 * times as it is grouped by (GROUP BY cat, cat), so that each GROUP BY item
 * finds its own entry.
 */
static void
add_to_tlist(List **tlist, Expr *expr, Index sortgroupref)
{
	TargetEntry *tle = tlist_member(expr, *tlist);

	if (tle == NULL ||
		(sortgroupref > 0 && tle->ressortgroupref > 0 && tle->ressortgroupref != sortgroupref))
	{
		tle = makeTargetEntry(expr, list_length(*tlist) + 1, NULL, false);
		*tlist = lappend(*tlist, tle);
	}
	if (sortgroupref > 0 && tle->ressortgroupref == 0)
		tle->ressortgroupref = sortgroupref;
}

/* a column used outside every aggregate of the expression */
static bool
contain_var_outside_aggregates(Node *expr)
{
	ListCell   *lc;

	foreach(lc, pull_var_clause(expr, PVC_INCLUDE_AGGREGATES))
		if (IsA(lfirst(lc), Var))
			return true;
	return false;
}

/*
 * An expression of a grouped query computed here from what BigQuery
 * returns: its aggregates, added to the remote list, and the grouping keys
 * the expression is built on, which are in the list already.  False when
 * it needs an aggregate BigQuery does not compute, or a plain column,
 * which would be neither grouped nor aggregated for BigQuery.
 */
static bool
add_computed_here(List **tlist, Node *expr, List *grouping_vars, RelOptInfo *scanrel,
				  Relation rel)
{
	ListCell   *lc;

	foreach(lc, pull_var_clause(expr, PVC_INCLUDE_AGGREGATES))
	{
		Expr	   *part = (Expr *) lfirst(lc);

		if (IsA(part, Aggref))
		{
			if (!bq_is_pushable_aggregate(scanrel, rel, (Aggref *) part))
				return false;
			add_to_tlist(tlist, part, 0);
		}
		else if (!list_member(grouping_vars, part))
			return false;
	}
	return true;
}

/*
 * GROUP BY, aggregates and HAVING of a foreign table go to BigQuery when
 * all of them can, and the whole WHERE clause already does; so does
 * SELECT DISTINCT, as a GROUP BY of its columns ("stage" says which,
 * "group_clauses" are the GROUP BY or DISTINCT items).
 */
static void
add_grouping_path(PlannerInfo *root, RelOptInfo *input_rel, RelOptInfo *grouped_rel,
				  UpperRelationKind stage, PathTarget *target, List *group_clauses,
				  Node *having_qual)
{
	BqRelInfo  *in = (BqRelInfo *) input_rel->fdw_private;
	BqRelInfo  *info;
	Relation	rel;
	List	   *tlist = NIL;
	List	   *having = NIL;
	List	   *local_having = NIL;
	List	   *grouping_vars = NIL;
	bool		ok = true;
	ListCell   *lc;
	int			i = 0;
	double		rows;

	if (input_rel->reloptkind != RELOPT_BASEREL || in->local_conds != NIL)
		return;

	/* the columns the grouping keys are made of */
	foreach(lc, target->exprs)
	{
		Index		sgref = get_pathtarget_sortgroupref(target, foreach_current_index(lc));

		if (sgref && get_sortgroupref_clause_noerr(sgref, group_clauses))
			grouping_vars = list_concat(grouping_vars,
										pull_var_clause(lfirst(lc), PVC_RECURSE_PLACEHOLDERS));
	}

	rel = table_open(in->relid, NoLock);
	foreach(lc, target->exprs)
	{
		Expr	   *expr = (Expr *) lfirst(lc);
		Index		sgref = get_pathtarget_sortgroupref(target, i++);
		SortGroupClause *sgc = sgref ? get_sortgroupref_clause_noerr(sgref, group_clauses) : NULL;

		if (sgc != NULL)
		{
			/*
			 * a grouping key: a column or an expression of columns, grouped
			 * alike (not floats: PostgreSQL groups -0 with 0, NaN with NaN)
			 */
			Oid			type = exprType((Node *) expr);

			if (!bq_is_pushable_operand(in->scanrel, rel, expr, false) ||
				bq_param_type(type) == NULL || type == FLOAT4OID || type == FLOAT8OID ||
				sgc->eqop >= FirstNormalObjectId ||
				((type == TEXTOID || type == VARCHAROID) &&
				 !get_collation_isdeterministic(exprCollation((Node *) expr))))
			{
				ok = false;
				break;
			}
			add_to_tlist(&tlist, expr, sgref);
		}
		else if (stage == UPPERREL_DISTINCT)
		{
			/* every column of SELECT DISTINCT is a key */
			ok = false;
			break;
		}
		else if (IsA(expr, Aggref) ?
				 bq_is_pushable_aggregate(in->scanrel, rel, (Aggref *) expr) :
				 (bq_is_pushable_operand(in->scanrel, rel, expr, true) &&
				  !contain_var_outside_aggregates((Node *) expr)))
			add_to_tlist(&tlist, expr, 0);
		else if (!add_computed_here(&tlist, (Node *) expr, grouping_vars, in->scanrel, rel))
		{
			ok = false;
			break;
		}
	}

	/*
	 * HAVING: in BigQuery where it can be; else evaluated here, as a filter
	 * on the rows BigQuery returns, from their aggregates and keys.
	 */
	if (ok && having_qual)
	{
		foreach(lc, (List *) having_qual)
		{
			if (bq_is_pushable(in->scanrel, rel, lfirst(lc), true))
				having = lappend(having, lfirst(lc));
			else if (add_computed_here(&tlist, lfirst(lc), grouping_vars, in->scanrel, rel))
				local_having = lappend(local_having, lfirst(lc));
			else
			{
				ok = false;
				break;
			}
		}
	}
	table_close(rel, NoLock);
	if (!ok)
		return;

	info = upper_info(grouped_rel, in, stage, input_rel);
	info->pushdown_safe = true;
	info->grouped_tlist = tlist;
	info->group_clauses = group_clauses;
	info->having = having;
	info->local_having = local_having;

	if (group_clauses != NIL)
		rows = estimate_num_groups(root, get_sortgrouplist_exprs(group_clauses, tlist),
								   input_rel->rows, NULL, NULL);
	else
		rows = 1;
	rows = clamp_row_est(rows);
	add_path(grouped_rel, (Path *)
			 create_foreign_upper_path(root, grouped_rel, target, rows, UPPER_STARTUP_COST,
									   UPPER_STARTUP_COST + rows * ROW_TRANSFER_COST,
									   NIL, NULL, NIL));
}

/* ORDER BY over a pushed aggregate; a plain scan's is a sorted scan path */
static void
add_ordered_path(PlannerInfo *root, RelOptInfo *input_rel, RelOptInfo *ordered_rel)
{
	BqRelInfo  *in = (BqRelInfo *) input_rel->fdw_private;
	BqRelInfo  *info = upper_info(ordered_rel, in, UPPERREL_ORDERED, input_rel);
	Relation	rel = table_open(in->relid, NoLock);
	List	   *candidates = NIL;
	ListCell   *lc;

	if (input_rel->reloptkind == RELOPT_BASEREL)
	{
		info->pushdown_safe = bq_pathkeys_pushable(in->scanrel, rel, root->sort_pathkeys, NIL);
		table_close(rel, NoLock);
		return;
	}
	foreach(lc, in->grouped_tlist)
		candidates = lappend(candidates, ((TargetEntry *) lfirst(lc))->expr);
	info->pushdown_safe = (in->stage == UPPERREL_GROUP_AGG || in->stage == UPPERREL_DISTINCT) &&
		bq_pathkeys_pushable(in->scanrel, rel, root->sort_pathkeys, candidates);
	table_close(rel, NoLock);
	if (!info->pushdown_safe)
		return;
	add_path(ordered_rel, (Path *)
			 create_foreign_upper_path(root, ordered_rel, root->upper_targets[UPPERREL_ORDERED],
									   input_rel->rows, UPPER_STARTUP_COST,
									   UPPER_STARTUP_COST + input_rel->rows * ROW_TRANSFER_COST * 1.05,
									   root->sort_pathkeys, NULL, NIL));
}

/* a LIMIT or OFFSET that is a plain non-negative constant, or absent */
static bool
is_constant_count(Node *node)
{
	Const	   *c = (Const *) node;

	return node == NULL ||
		(IsA(node, Const) && c->consttype == INT8OID &&
		 (c->constisnull || DatumGetInt64(c->constvalue) >= 0));
}

/*
 * LIMIT/OFFSET go to BigQuery when nothing computed here could change
 * which rows they keep: every WHERE clause pushed, no join, no set
 * returning function, the ORDER BY pushed with them.
 */
static void
add_final_path(PlannerInfo *root, RelOptInfo *input_rel, RelOptInfo *final_rel,
			   FinalPathExtraData *extra)
{
	Query	   *parse = root->parse;
	BqRelInfo  *in = (BqRelInfo *) input_rel->fdw_private;
	BqRelInfo  *info;
	RelOptInfo *queryrel = input_rel;
	List	   *pathkeys = NIL;
	double		rows;
	double		count = 0;

	if (!extra->limit_needed || parse->hasTargetSRFs || parse->rowMarks != NIL ||
		parse->limitOption != LIMIT_OPTION_COUNT ||
		!is_constant_count(parse->limitCount) || !is_constant_count(parse->limitOffset))
		return;
	if (input_rel->reloptkind == RELOPT_UPPER_REL && in->stage == UPPERREL_ORDERED)
	{
		queryrel = in->inputrel;
		pathkeys = root->sort_pathkeys;
	}
	if (queryrel->reloptkind == RELOPT_BASEREL)
	{
		if (((BqRelInfo *) queryrel->fdw_private)->local_conds != NIL)
			return;
	}
	else if ((((BqRelInfo *) queryrel->fdw_private)->stage != UPPERREL_GROUP_AGG &&
			  ((BqRelInfo *) queryrel->fdw_private)->stage != UPPERREL_DISTINCT) ||
			 ((BqRelInfo *) queryrel->fdw_private)->local_having != NIL)
		return;

	info = upper_info(final_rel, in, UPPERREL_FINAL, queryrel);
	info->pushdown_safe = true;

	if (parse->limitCount && !((Const *) parse->limitCount)->constisnull)
		count = DatumGetInt64(((Const *) parse->limitCount)->constvalue);
	rows = queryrel->rows;
	if (parse->limitCount && count < rows)
		rows = count;
	rows = clamp_row_est(rows);

	/*
	 * Fewer rows come back than a local Limit over the scan or the
	 * aggregate would read: priced below it by more than the planner's
	 * fuzz, so that a top-N over a handful of groups goes too.
	 */
	add_path(final_rel, (Path *)
			 create_foreign_upper_path(root, final_rel, root->upper_targets[UPPERREL_FINAL],
									   rows, LIMIT_STARTUP_COST,
									   LIMIT_STARTUP_COST + rows * ROW_TRANSFER_COST * 0.9,
									   pathkeys, NULL, NIL));
}

/*
 * bqGetForeignUpperPaths
 *		Aggregation, ORDER BY, DISTINCT and LIMIT done by BigQuery when they can be.
 */
void
bqGetForeignUpperPaths(PlannerInfo *root, UpperRelationKind stage, RelOptInfo *input_rel,
					   RelOptInfo *output_rel, void *extra)
{
	BqRelInfo  *in = (BqRelInfo *) input_rel->fdw_private;

	/* only above what BigQuery computes, and once per relation */
	if (in == NULL || !in->pushdown_safe || output_rel->fdw_private != NULL)
		return;
	switch (stage)
	{
		case UPPERREL_GROUP_AGG:
			if (root->parse->groupingSets == NIL &&
				((GroupPathExtraData *) extra)->patype == PARTITIONWISE_AGGREGATE_NONE)
				add_grouping_path(root, input_rel, output_rel, stage, output_rel->reltarget,
								  root->parse->groupClause,
								  ((GroupPathExtraData *) extra)->havingQual);
			break;
		case UPPERREL_DISTINCT:
			if (!root->parse->hasDistinctOn)
				add_grouping_path(root, input_rel, output_rel, stage,
								  root->upper_targets[UPPERREL_DISTINCT],
								  root->parse->distinctClause, NULL);
			break;
		case UPPERREL_ORDERED:
			add_ordered_path(root, input_rel, output_rel);
			break;
		case UPPERREL_FINAL:
			add_final_path(root, input_rel, output_rel, (FinalPathExtraData *) extra);
			break;
		default:
			break;
	}
}

/* the foreign table of a member of a join BigQuery computes */
Oid
bq_join_member_relid(RelOptInfo *joinrel, Index varno)
{
	BqRelInfo  *info = (BqRelInfo *) joinrel->fdw_private;

	if (info->outerrel->relid == varno)
		return ((BqRelInfo *) info->outerrel->fdw_private)->relid;
	Assert(info->innerrel->relid == varno);
	return ((BqRelInfo *) info->innerrel->fdw_private)->relid;
}

/* a table BigQuery can join: a plain one whose WHERE clause is all pushed */
static bool
joinable_member(RelOptInfo *rel)
{
	BqRelInfo  *info = (BqRelInfo *) rel->fdw_private;

	return rel->reloptkind == RELOPT_BASEREL && info != NULL && info->stage == 0 &&
		info->local_conds == NIL &&
		bq_table_option(GetForeignTable(info->relid), "query") == NULL;
}

static bool
same_option(const char *a, const char *b)
{
	return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

/*
 * Two tables whose query options agree (location, the cost guard, the
 * cache, the timeout), so that the job of their join runs under each
 * table's own.
 */
static bool
same_query_options(Oid relid1, Oid relid2)
{
	GcpServer  *srv = bq_server_of(relid1, InvalidOid, GCP_LOOKUP_NO_CREDENTIAL);
	BqTableRef *r1 = bq_table_ref(GetForeignTable(relid1), srv);
	BqTableRef *r2 = bq_table_ref(GetForeignTable(relid2), srv);

	return same_option(r1->location, r2->location) &&
		same_option(r1->maximum_bytes_billed, r2->maximum_bytes_billed) &&
		r1->use_query_cache == r2->use_query_cache && r1->timeout_ms == r2->timeout_ms;
}

/*
 * A join of two foreign tables of the same server and user mapping (the
 * planner only asks then) and the same query options, INNER or LEFT, when
 * every join clause and both WHERE clauses go to BigQuery: one job instead
 * of two scans.  Not for UPDATE, DELETE or row locks (no local recheck),
 * and only plain columns come back: no whole row, no system column, no
 * value computed on an outer join's nullable side (a PlaceHolderVar, which
 * must turn NULL with it).
 */
void
bqGetForeignJoinPaths(PlannerInfo *root, RelOptInfo *joinrel, RelOptInfo *outerrel,
					  RelOptInfo *innerrel, JoinType jointype, JoinPathExtraData *extra)
{
	BqRelInfo  *info;
	BqRelInfo  *o;
	BqRelInfo  *i;
	ListCell   *lc;
	double		rows;

	if (joinrel->fdw_private != NULL)
		return;
	info = palloc0(sizeof(BqRelInfo));
	joinrel->fdw_private = info;	/* considered once, whatever the order */
	info->pushdown_safe = false;	/* nothing above a join goes yet */
	if (!bq_enable_pushdown || (jointype != JOIN_INNER && jointype != JOIN_LEFT) ||
		root->parse->commandType != CMD_SELECT || root->rowMarks != NIL ||
		!joinable_member(outerrel) || !joinable_member(innerrel) ||
		!bms_is_empty(joinrel->lateral_relids))
		return;
	/* plain columns only: no whole rows, no system columns */
	foreach(lc, pull_var_clause((Node *) joinrel->reltarget->exprs, PVC_INCLUDE_PLACEHOLDERS))
		if (!IsA(lfirst(lc), Var) || ((Var *) lfirst(lc))->varattno <= 0)
			return;
	o = (BqRelInfo *) outerrel->fdw_private;
	i = (BqRelInfo *) innerrel->fdw_private;
	if (!same_query_options(o->relid, i->relid))
		return;

	info->scanrel = joinrel;
	info->relid = o->relid;
	info->outerrel = outerrel;
	info->innerrel = innerrel;
	info->jointype = jointype;
	foreach(lc, extra->restrictlist)
	{
		RestrictInfo *ri = lfirst_node(RestrictInfo, lc);

		if (ri->pseudoconstant || !bq_is_pushable(joinrel, NULL, ri->clause, false))
			return;
		if (jointype == JOIN_INNER || !RINFO_IS_PUSHED_DOWN(ri, joinrel->relids))
			info->join_conds = lappend(info->join_conds, ri->clause);
		else
			info->join_filters = lappend(info->join_filters, ri->clause);
	}
	/* no cross join: BigQuery would bill it in full */
	if (info->join_conds == NIL)
		return;

	rows = clamp_row_est(joinrel->rows);
	add_path(joinrel, (Path *)
			 create_foreign_join_path(root, joinrel, NULL, rows, UPPER_STARTUP_COST,
									  UPPER_STARTUP_COST + rows * ROW_TRANSFER_COST,
									  NIL, NULL, NULL, NIL));
}

/* ---------------------------------------------------------------------
 * plans: the remote query
 * ---------------------------------------------------------------------
 */

/* SELECT list of a scan: the columns the query needs, as scan slot attnums */
void
bq_select_columns(BqRemoteQuery *q, Relation rel, Bitmapset *attrs)
{
	TupleDesc	desc = RelationGetDescr(rel);
	bool		whole_row = bms_is_member(0 - FirstLowInvalidHeapAttributeNumber, attrs);

	for (int i = 1; i <= desc->natts; i++)
	{
		if (TupleDescAttr(desc, i - 1)->attisdropped)
			continue;
		if (!whole_row && !bms_is_member(i - FirstLowInvalidHeapAttributeNumber, attrs))
			continue;
		if (q->retrieved != NIL)
			appendStringInfoString(&q->sql, ", ");
		bq_append_identifier(&q->sql, bq_column_name(rel, i));
		q->retrieved = lappend_int(q->retrieved, i);
		q->averages = lappend_int(q->averages, 0);
		q->scales = lappend_int(q->scales, -1);
	}
	if (q->retrieved == NIL)
		appendStringInfoString(&q->sql, "1");	/* row count only, as for count(*) */
}

void
bq_append_from(BqRemoteQuery *q, Oid relid)
{
	ForeignTable *ft = GetForeignTable(relid);
	GcpServer  *srv = bq_server_of(relid, InvalidOid, GCP_LOOKUP_NO_CREDENTIAL);
	BqTableRef *ref = bq_table_ref(ft, srv);

	appendStringInfoString(&q->sql, " FROM ");
	if (ref->query)
		/* on lines of its own, a trailing line comment hides nothing of ours */
		appendStringInfo(&q->sql, "(\n%s\n) AS q", ref->query);
	else
		bq_append_identifier(&q->sql, psprintf("%s.%s.%s", srv->project_id, ref->dataset, ref->table));
}

static ForeignScan *
make_plan(BqRemoteQuery *q, Oid relid, List *tlist, List *local, Index scanrelid,
		  List *scan_tlist, List *recheck, Plan *outer_plan, int read_streams,
		  List *read_fields, bool read_via_job)
{
	List	   *exprs = NIL;
	List	   *kinds = NIL;
	ListCell   *lc;

	foreach(lc, q->params)
	{
		exprs = lappend(exprs, ((BqParam *) lfirst(lc))->expr);
		kinds = lappend_int(kinds, ((BqParam *) lfirst(lc))->kind);
	}
	return make_foreignscan(tlist, local, scanrelid, exprs,
							list_concat(list_make5(makeString(q->sql.data), q->retrieved,
												   q->averages, q->scales,
												   makeInteger((int) relid)),
										list_make4(kinds, makeInteger(read_streams),
												   read_fields, makeInteger(read_via_job))),
							scan_tlist, recheck, outer_plan);
}

/*
 * Whether a scan of the foreign table reads through the Storage Read API,
 * and with how many streams at most (0: it reads the job's JSON pages).
 * The Read API reads a table (not a view, whose rows only a query
 * computes, nor a query option) with the columns asked for (some column:
 * without selected fields a session reads all), in no order.  A scan with
 * nothing of its query but the projection reads the table itself.  One
 * with a WHERE clause BigQuery evaluates or an ORDER BY (the session's
 * row_restriction takes no query parameters, and values are never
 * written into query text) runs its query as a job, with typed
 * parameters, and reads the job's result table, as Google's clients read
 * large results: in one stream when sorted, which keeps the order; unless
 * the result fits in the job's first page (scan.c).  Under read_api
 * 'auto' only when the planner expects more than BQ_READ_API_MIN_ROWS
 * rows and no LIMIT keeps fewer: below that, the job's first page costs
 * less than a session.  'auto' also needs the Storage endpoint to go with
 * the BigQuery one (both Google's, or neither): a server naming an
 * emulator's bigquery_endpoint without its bigquery_storage_endpoint keeps
 * reading as it did.
 */
/* whether an API root is at Google's endpoint */
static bool
is_google(const char *api_root, const char *endpoint)
{
	size_t		len = strlen(endpoint);

	return api_root && strncmp(api_root, endpoint, len) == 0 &&
		(api_root[len] == '\0' || api_root[len] == '/');
}

static int
read_api_streams(PlannerInfo *root, RelOptInfo *baserel, List *retrieved, bool sorted)
{
	BqRelInfo  *info = (BqRelInfo *) baserel->fdw_private;
	ForeignTable *ft = GetForeignTable(info->relid);
	GcpServer  *srv = bq_server_of(info->relid, InvalidOid, GCP_LOOKUP_NO_CREDENTIAL);
	BqTableRef *ref = bq_table_ref(ft, srv);
	Node	   *limit = root->parse->limitCount;

	if (ref->read_api == BQ_READ_API_OFF || ref->query != NULL || retrieved == NIL)
		return 0;
	if (ref->read_api == BQ_READ_API_AUTO)
	{
		if (baserel->rows <= BQ_READ_API_MIN_ROWS ||
			srv->api_root[GCP_BIGQUERY_STORAGE] == NULL)
			return 0;
		if (is_google(srv->api_root[GCP_BIGQUERY], "https://bigquery.googleapis.com") !=
			is_google(srv->api_root[GCP_BIGQUERY_STORAGE], "https://bigquerystorage.googleapis.com"))
			return 0;
		if (limit && IsA(limit, Const) && !((Const *) limit)->constisnull &&
			DatumGetInt64(((Const *) limit)->constvalue) <= BQ_READ_API_MIN_ROWS)
			return 0;
	}
	if (!bq_remote_is_table(info->relid, baserel->userid))
		return 0;
	return sorted ? 1 : ref->read_streams;
}

static ForeignScan *
plan_scan(PlannerInfo *root, RelOptInfo *baserel, ForeignPath *best_path, List *tlist,
		  List *scan_clauses, Plan *outer_plan)
{
	BqRelInfo  *info = (BqRelInfo *) baserel->fdw_private;
	Relation	rel = table_open(info->relid, NoLock);
	Bitmapset  *attrs = NULL;
	List	   *local = NIL;
	List	   *remote = NIL;
	BqRemoteQuery q = {0};
	ListCell   *lc;
	ForeignScan *plan;
	int			read_streams;
	List	   *read_fields = NIL;

	/* the columns the query needs: targets and local quals */
	pull_varattnos((Node *) baserel->reltarget->exprs, baserel->relid, &attrs);
	foreach(lc, info->local_conds)
		pull_varattnos((Node *) ((RestrictInfo *) lfirst(lc))->clause, baserel->relid, &attrs);

	initStringInfo(&q.sql);
	appendStringInfoString(&q.sql, "SELECT ");
	bq_select_columns(&q, rel, attrs);
	bq_append_from(&q, info->relid);

	/* the clauses BigQuery evaluates leave the local filter */
	foreach(lc, scan_clauses)
	{
		RestrictInfo *ri = lfirst_node(RestrictInfo, lc);

		if (ri->pseudoconstant)
			continue;
		if (list_member_ptr(info->remote_conds, ri))
			remote = lappend(remote, ri->clause);
		else
			local = lappend(local, ri->clause);
	}
	bq_deparse_where(&q.sql, "WHERE", baserel, rel, remote, false, &q.params);
	if (best_path->path.pathkeys != NIL)
		bq_deparse_order_by(&q.sql, baserel, rel, best_path->path.pathkeys, NIL, NIL, &q.params);

	read_streams = read_api_streams(root, baserel, q.retrieved, best_path->path.pathkeys != NIL);
	if (read_streams > 0)
		foreach(lc, q.retrieved)
			read_fields = lappend(read_fields, makeString(bq_column_name(rel, lfirst_int(lc))));
	table_close(rel, NoLock);

	/* filtered or sorted: the job runs, and its result table is read */
	plan = make_plan(&q, info->relid, tlist, local, baserel->relid, NIL, remote, outer_plan,
					 read_streams, read_fields,
					 read_streams > 0 && (remote != NIL || best_path->path.pathkeys != NIL));
	return plan;
}

/*
 * The name of an upper relation's select items, followed by their
 * position: "c", or a longer one when a column of the table could be read
 * as one of them in HAVING (BigQuery's column names ignore case).
 */
static const char *
select_alias(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	StringInfoData alias;

	initStringInfo(&alias);
	appendStringInfoChar(&alias, 'c');
	for (int i = 1; i <= desc->natts; i++)
	{
		const char *name;

		if (TupleDescAttr(desc, i - 1)->attisdropped)
			continue;
		name = bq_column_name(rel, i);
		if (pg_strncasecmp(name, alias.data, alias.len) == 0 && name[alias.len] != '\0' &&
			strspn(name + alias.len, "0123456789") == strlen(name + alias.len))
		{
			/* a longer name, and every column checked again */
			appendStringInfoChar(&alias, '_');
			i = 0;
		}
	}
	return alias.data;
}

/*
 * An upper relation: an aggregate query, or a scan's rows sorted and
 * limited.  The scan returns fdw_scan_tlist's columns, from BigQuery's
 * select list in the same order.
 */
static ForeignScan *
plan_upper(PlannerInfo *root, RelOptInfo *upperrel, ForeignPath *best_path, List *tlist,
		   Plan *outer_plan)
{
	BqRelInfo  *info = (BqRelInfo *) upperrel->fdw_private;
	Query	   *parse = root->parse;
	RelOptInfo *queryrel = info->stage == UPPERREL_GROUP_AGG ||
		info->stage == UPPERREL_DISTINCT ? upperrel : info->inputrel;
	BqRelInfo  *qinfo = (BqRelInfo *) queryrel->fdw_private;
	RelOptInfo *scanrel = info->scanrel;
	Relation	rel = table_open(info->relid, NoLock);
	bool		grouped = queryrel->reloptkind == RELOPT_UPPER_REL;
	List	   *scan_tlist;
	List	   *candidates = NIL;
	List	   *candidate_positions = NIL;
	const char *alias;
	BqRemoteQuery q = {0};
	ListCell   *lc;
	List	   *remote = NIL;
	int		   *positions;		/* of each scan column in BigQuery's select list */
	int			ncolumns = 0;

	if (grouped)
		scan_tlist = qinfo->grouped_tlist;
	else
		scan_tlist = add_to_flat_tlist(NIL, pull_var_clause((Node *) scanrel->reltarget->exprs,
															PVC_RECURSE_PLACEHOLDERS));

	initStringInfo(&q.sql);
	appendStringInfoString(&q.sql, "SELECT ");
	alias = select_alias(rel);
	positions = palloc0(sizeof(int) * (list_length(scan_tlist) + 1));
	foreach(lc, scan_tlist)
	{
		TargetEntry *tle = (TargetEntry *) lfirst(lc);
		BqCombine	combine;

		if (lc != list_head(scan_tlist))
			appendStringInfoString(&q.sql, ", ");
		positions[tle->resno] = ++ncolumns;
		combine = bq_deparse_select_item(&q.sql, scanrel, rel, tle->expr, &q.params,
										 alias, ncolumns);
		ncolumns += BQ_COMBINE_CELLS(combine) - 1;
		q.retrieved = lappend_int(q.retrieved, tle->resno);
		q.averages = lappend_int(q.averages, combine);
		q.scales = lappend_int(q.scales, bq_select_item_scale(tle->expr));
		candidates = lappend(candidates, tle->expr);
		candidate_positions = lappend_int(candidate_positions, positions[tle->resno]);
	}
	if (scan_tlist == NIL)
		appendStringInfoString(&q.sql, "1");
	bq_append_from(&q, info->relid);

	foreach(lc, info->remote_conds)
		remote = lappend(remote, ((RestrictInfo *) lfirst(lc))->clause);
	bq_deparse_where(&q.sql, "WHERE", scanrel, rel, remote, false, &q.params);
	if (grouped)
	{
		foreach(lc, qinfo->group_clauses)
		{
			SortGroupClause *sgc = (SortGroupClause *) lfirst(lc);
			TargetEntry *tle = get_sortgroupclause_tle(sgc, scan_tlist);

			/* by position: the key is in the select list, whatever its text */
			appendStringInfo(&q.sql, "%s%d",
							 lc == list_head(qinfo->group_clauses) ? " GROUP BY " : ", ",
							 positions[tle->resno]);
		}
		bq_deparse_where(&q.sql, "HAVING", scanrel, rel, qinfo->having, true, &q.params);
	}
	if (best_path->path.pathkeys != NIL)
		bq_deparse_order_by(&q.sql, scanrel, rel, best_path->path.pathkeys,
							grouped ? candidates : NIL, grouped ? candidate_positions : NIL,
							&q.params);
	if (info->stage == UPPERREL_FINAL)
	{
		Const	   *count = (Const *) parse->limitCount;
		Const	   *offset = (Const *) parse->limitOffset;

		/* constants checked at planning: integers, nothing a user can inject */
		if (count && !count->constisnull)
			appendStringInfo(&q.sql, " LIMIT " INT64_FORMAT, DatumGetInt64(count->constvalue));
		if (offset && !offset->constisnull && DatumGetInt64(offset->constvalue) > 0)
		{
			if (count == NULL || count->constisnull)
				appendStringInfo(&q.sql, " LIMIT " INT64_FORMAT, PG_INT64_MAX);
			appendStringInfo(&q.sql, " OFFSET " INT64_FORMAT, DatumGetInt64(offset->constvalue));
		}
	}
	table_close(rel, NoLock);

	return make_plan(&q, info->relid, tlist, grouped ? qinfo->local_having : NIL, 0,
					 scan_tlist, NIL, outer_plan, 0, NIL, false);
}

/* a foreign table in FROM, named r<varno> */
static void
append_join_member(BqRemoteQuery *q, RelOptInfo *member)
{
	Oid			relid = ((BqRelInfo *) member->fdw_private)->relid;
	GcpServer  *srv = bq_server_of(relid, InvalidOid, GCP_LOOKUP_NO_CREDENTIAL);
	BqTableRef *ref = bq_table_ref(GetForeignTable(relid), srv);

	bq_append_identifier(&q->sql, psprintf("%s.%s.%s", srv->project_id, ref->dataset, ref->table));
	appendStringInfo(&q->sql, " AS r%d", member->relid);
}

/*
 * A join of two foreign tables: the columns the query needs from both,
 * each table's WHERE clause (the inner one's in ON for a LEFT JOIN, so
 * that it filters before the join), the join clauses in ON, and the
 * clauses over the joined rows in WHERE.
 */
static ForeignScan *
plan_join(PlannerInfo *root, RelOptInfo *joinrel, ForeignPath *best_path, List *tlist,
		  Plan *outer_plan)
{
	BqRelInfo  *info = (BqRelInfo *) joinrel->fdw_private;
	BqRelInfo  *o = (BqRelInfo *) info->outerrel->fdw_private;
	BqRelInfo  *i = (BqRelInfo *) info->innerrel->fdw_private;
	List	   *scan_tlist;
	List	   *on = list_copy(info->join_conds);
	List	   *where = list_copy(info->join_filters);
	BqRemoteQuery q = {0};
	ListCell   *lc;
	int			position = 0;

	scan_tlist = add_to_flat_tlist(NIL, pull_var_clause((Node *) joinrel->reltarget->exprs,
														PVC_RECURSE_PLACEHOLDERS));
	initStringInfo(&q.sql);
	appendStringInfoString(&q.sql, "SELECT ");
	foreach(lc, scan_tlist)
	{
		TargetEntry *tle = (TargetEntry *) lfirst(lc);

		if (lc != list_head(scan_tlist))
			appendStringInfoString(&q.sql, ", ");
		/* qualified columns: no name here can be read as another */
		bq_deparse_select_item(&q.sql, joinrel, NULL, tle->expr, &q.params, "c", ++position);
		q.retrieved = lappend_int(q.retrieved, tle->resno);
		q.averages = lappend_int(q.averages, BQ_COMBINE_NONE);
		q.scales = lappend_int(q.scales, -1);
	}
	if (scan_tlist == NIL)
		appendStringInfoString(&q.sql, "1");
	appendStringInfoString(&q.sql, " FROM ");
	append_join_member(&q, info->outerrel);
	appendStringInfoString(&q.sql, info->jointype == JOIN_INNER ? " INNER JOIN " : " LEFT JOIN ");
	append_join_member(&q, info->innerrel);

	foreach(lc, o->remote_conds)
		where = lappend(where, ((RestrictInfo *) lfirst(lc))->clause);
	foreach(lc, i->remote_conds)
	{
		if (info->jointype == JOIN_INNER)
			where = lappend(where, ((RestrictInfo *) lfirst(lc))->clause);
		else
			on = lappend(on, ((RestrictInfo *) lfirst(lc))->clause);
	}
	bq_deparse_where(&q.sql, "ON", joinrel, NULL, on, false, &q.params);
	bq_deparse_where(&q.sql, "WHERE", joinrel, NULL, where, false, &q.params);

	return make_plan(&q, info->relid, tlist, NIL, 0, scan_tlist, NIL, outer_plan, 0, NIL,
					 false);
}

/*
 * bqGetForeignPlan
 *		The ForeignScan of the chosen path, with its remote query.
 */
ForeignScan *
bqGetForeignPlan(PlannerInfo *root, RelOptInfo *foreignrel, Oid foreigntableid,
				 ForeignPath *best_path, List *tlist, List *scan_clauses,
				 Plan *outer_plan)
{
	if (IS_SIMPLE_REL(foreignrel))
		return plan_scan(root, foreignrel, best_path, tlist, scan_clauses, outer_plan);
	Assert(scan_clauses == NIL);
	if (IS_JOIN_REL(foreignrel))
		return plan_join(root, foreignrel, best_path, tlist, outer_plan);
	return plan_upper(root, foreignrel, best_path, tlist, outer_plan);
}