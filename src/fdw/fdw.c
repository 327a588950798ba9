/*-------------------------------------------------------------------------
 *
 * fdw.c
 *	  bqstream_fdw's planner and executor callbacks: a foreign table is
 *	  read with jobs.query and its result pages, streamed into tuples.
 *
 * What this version pushes down: the projection (only the columns the
 * query needs are selected, since BigQuery bills by column) and the WHERE
 * clauses deparse.c proves BigQuery reads the same way, with their values
 * as typed parameters computed at execution start, and ORDER BY on such
 * columns.  The other clauses, LIMIT and aggregates are evaluated locally.
 *
 * Pages are converted row by row and released, so a scan holds one page
 * at a time (fetch_size rows), never the whole result.  A job
 * that has not finished within the request's timeout is polled until it
 * has, never taken for an empty result.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "gcp/gcp_json.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_foreign_table.h"
#include "commands/defrem.h"
#include "commands/explain.h"
#include "foreign/fdwapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/planmain.h"
#include "optimizer/restrictinfo.h"
#include "parser/parsetree.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "fdw/fdw.h"

PG_FUNCTION_INFO_V1(bqstream_fdw_handler);

/*
 * The first request returns soon, so that the job's ID is known and a
 * cancel can reach it; the polls then let the server hold them longer.
 */
#define FIRST_TIMEOUT_MS	1000
#define QUERY_TIMEOUT_MS	10000
#define CANCEL_DEADLINE_MS	2000

typedef struct BqScanState
{
	GcpServer  *srv;
	char	   *sql;
	List	   *retrieved_attrs;	/* attnums, in the order of the SELECT list */
	int			fetch_size;
	List	   *param_exprs;	/* ExprStates behind @p1, @p2, ... */
	List	   *param_types;

	/* the job */
	bool		started;
	bool		last_page;
	char	   *job_id;
	char	   *job_location;
	char	   *page_token;
	int64		bytes_processed;
	bool		cache_hit;
	int			pages;

	/* the page being read (owned by page_cxt) */
	json_t	   *rows;
	size_t		nrows;
	size_t		next_row;

	BqConverter *conv;			/* per retrieved column, set at the first page */
	StringInfoData scratch;
	MemoryContext page_cxt;
} BqScanState;

/* ---------------------------------------------------------------------
 * options
 * ---------------------------------------------------------------------
 */

BqTableRef *
bq_table_ref(ForeignTable *ft, const GcpServer *srv)
{
	BqTableRef *ref = palloc0(sizeof(BqTableRef));
	char	   *fetch = gcp_option_value(ft->options, "fetch_size");

	ref->dataset = gcp_option_value(ft->options, "dataset");
	if (ref->dataset == NULL)
		ref->dataset = srv->dataset;
	ref->table = gcp_option_value(ft->options, "table");
	if (ref->table == NULL)
		ref->table = get_rel_name(ft->relid);
	ref->fetch_size = fetch ? atoi(fetch) : BQ_DEFAULT_FETCH_SIZE;
	return ref;
}

char *
bq_column_name(Relation rel, AttrNumber attnum)
{
	List	   *options = GetForeignColumnOptions(RelationGetRelid(rel), attnum);
	char	   *name = gcp_option_value(options, "column_name");

	return name ? name : NameStr(TupleDescAttr(RelationGetDescr(rel), attnum - 1)->attname);
}

static GcpServer *
server_of(Oid relid)
{
	ForeignTable *ft = GetForeignTable(relid);

	return gcp_server_lookup(GetForeignServer(ft->serverid)->servername);
}

/* ---------------------------------------------------------------------
 * planner
 * ---------------------------------------------------------------------
 */

/* how long a table's row count is trusted for planning */
#define ROW_COUNT_TTL_S		300

typedef struct RowCount
{
	Oid			relid;
	double		rows;
	TimestampTz fetched_at;
} RowCount;

static List *row_counts = NIL;	/* of RowCount, in CacheMemoryContext */

/*
 * Rows of the BigQuery table, from its metadata (numRows plus what is
 * still in the streaming buffer), cached for a few minutes; -1 when the
 * metadata has no count.  A table that cannot be reached fails here, at
 * planning, as it would at execution.
 */
static double
remote_row_count(Oid relid)
{
	TimestampTz now = GetCurrentTimestamp();
	ListCell   *lc;
	RowCount   *rc = NULL;
	MemoryContext old;
	double		rows = -1;

	foreach(lc, row_counts)
	{
		RowCount   *c = (RowCount *) lfirst(lc);

		if (c->relid == relid)
			rc = c;
	}
	if (rc && now - rc->fetched_at < ROW_COUNT_TTL_S * USECS_PER_SEC)
		return rc->rows;

	{
		ForeignTable *ft = GetForeignTable(relid);
		GcpServer  *srv = server_of(relid);
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

		if (n)
			rows = strtod(n, NULL) + (buffered ? strtod(buffered, NULL) : 0);
	}

	old = MemoryContextSwitchTo(CacheMemoryContext);
	if (rc == NULL)
	{
		rc = palloc0(sizeof(RowCount));
		rc->relid = relid;
		row_counts = lappend(row_counts, rc);
	}
	MemoryContextSwitchTo(old);
	rc->rows = rows;
	rc->fetched_at = now;
	return rows;
}

typedef struct BqRelInfo
{
	List	   *remote_conds;	/* RestrictInfos BigQuery evaluates */
	List	   *local_conds;
} BqRelInfo;

static void
bqGetForeignRelSize(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid)
{
	BqRelInfo  *info = palloc0(sizeof(BqRelInfo));
	Relation	rel = table_open(foreigntableid, NoLock);
	ListCell   *lc;

	foreach(lc, baserel->baserestrictinfo)
	{
		RestrictInfo *ri = (RestrictInfo *) lfirst(lc);

		if (bq_is_pushable(baserel, rel, ri->clause))
			info->remote_conds = lappend(info->remote_conds, ri);
		else
			info->local_conds = lappend(info->local_conds, ri);
	}
	table_close(rel, NoLock);
	baserel->fdw_private = info;

	baserel->tuples = remote_row_count(foreigntableid);
	if (baserel->tuples < 0)
		baserel->tuples = 1000;	/* no metadata: a guess */
	baserel->rows = clamp_row_est(baserel->tuples *
								  clauselist_selectivity(root, baserel->baserestrictinfo,
														 0, JOIN_INNER, NULL));
}

static void
bqGetForeignPaths(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid)
{
	Cost		startup = 1000;	/* a BigQuery job costs a round trip or two */
	Cost		total = startup + baserel->rows * 0.01;

	Relation	rel;

	add_path(baserel, (Path *) create_foreignscan_path(root, baserel, NULL, baserel->rows,
													   startup, total, NIL, baserel->lateral_relids,
													   NULL, NIL));

	/*
	 * Sorted by BigQuery: the transfer a little dearer than unsorted, which
	 * stays cheaper than sorting locally.
	 */
	rel = table_open(foreigntableid, NoLock);
	if (bq_pathkeys_pushable(baserel, rel, root->query_pathkeys))
		add_path(baserel, (Path *) create_foreignscan_path(root, baserel, NULL, baserel->rows,
														   startup, startup + (total - startup) * 1.05,
														   root->query_pathkeys,
														   baserel->lateral_relids, NULL, NIL));
	table_close(rel, NoLock);
}

static ForeignScan *
bqGetForeignPlan(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid,
				 ForeignPath *best_path, List *tlist, List *scan_clauses,
				 Plan *outer_plan)
{
	RangeTblEntry *rte = planner_rt_fetch(baserel->relid, root);
	Relation	rel = table_open(rte->relid, NoLock);
	ForeignTable *ft = GetForeignTable(rte->relid);
	GcpServer  *srv = server_of(rte->relid);
	BqTableRef *ref = bq_table_ref(ft, srv);
	BqRelInfo  *info = (BqRelInfo *) baserel->fdw_private;
	Bitmapset  *attrs = NULL;
	List	   *retrieved = NIL;
	List	   *params = NIL;
	List	   *local = NIL;
	List	   *remote = NIL;
	StringInfoData sql;
	ListCell   *lc;
	bool		whole_row;
	TupleDesc	desc = RelationGetDescr(rel);

	/* the columns the query needs: targets and local quals */
	pull_varattnos((Node *) baserel->reltarget->exprs, baserel->relid, &attrs);
	foreach(lc, info->local_conds)
		pull_varattnos((Node *) ((RestrictInfo *) lfirst(lc))->clause, baserel->relid, &attrs);
	whole_row = bms_is_member(0 - FirstLowInvalidHeapAttributeNumber, attrs);

	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT ");
	for (int i = 1; i <= desc->natts; i++)
	{
		if (TupleDescAttr(desc, i - 1)->attisdropped)
			continue;
		if (!whole_row && !bms_is_member(i - FirstLowInvalidHeapAttributeNumber, attrs))
			continue;
		if (retrieved != NIL)
			appendStringInfoString(&sql, ", ");
		bq_append_identifier(&sql, bq_column_name(rel, i));
		retrieved = lappend_int(retrieved, i);
	}
	if (retrieved == NIL)
		appendStringInfoString(&sql, "1");	/* row count only, as for count(*) */
	appendStringInfoString(&sql, " FROM ");
	bq_append_identifier(&sql, psprintf("%s.%s.%s", srv->project_id, ref->dataset, ref->table));

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
	bq_deparse_where(&sql, baserel, rel, remote, &params);
	if (best_path->path.pathkeys != NIL)
		bq_deparse_order_by(&sql, baserel, rel, best_path->path.pathkeys);
	table_close(rel, NoLock);

	return make_foreignscan(tlist, local, baserel->relid, params,
							list_make3(makeString(sql.data), retrieved,
									   makeInteger(ref->fetch_size)),
							NIL, remote, outer_plan);
}

/* ---------------------------------------------------------------------
 * executor
 * ---------------------------------------------------------------------
 */

static void
bqBeginForeignScan(ForeignScanState *node, int eflags)
{
	ForeignScan *plan = (ForeignScan *) node->ss.ps.plan;
	BqScanState *st;

	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
		return;
	st = palloc0(sizeof(BqScanState));
	st->sql = strVal(linitial(plan->fdw_private));
	st->retrieved_attrs = lsecond(plan->fdw_private);
	st->fetch_size = intVal(lthird(plan->fdw_private));
	st->srv = server_of(RelationGetRelid(node->ss.ss_currentRelation));
	st->page_cxt = AllocSetContextCreate(node->ss.ps.state->es_query_cxt,
										 "bqstream_fdw page", ALLOCSET_DEFAULT_SIZES);
	initStringInfo(&st->scratch);
	st->param_exprs = ExecInitExprList(plan->fdw_exprs, (PlanState *) node);
	{
		ListCell   *lc;

		foreach(lc, plan->fdw_exprs)
			st->param_types = lappend_oid(st->param_types, exprType(lfirst(lc)));
	}
	node->fdw_state = st;
}

static char *
string_member(json_t *obj, const char *name)
{
	const char *v = json_string_value(json_object_get(obj, name));

	return v ? pstrdup(v) : NULL;
}

/* Set up one converter per retrieved column from the result's schema. */
static void
init_converters(ForeignScanState *node, BqScanState *st, json_t *fields)
{
	TupleDesc	desc = RelationGetDescr(node->ss.ss_currentRelation);
	int			n = list_length(st->retrieved_attrs);
	int			i = 0;
	ListCell   *lc;

	if ((size_t) n != json_array_size(fields) && n > 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("BigQuery returned %zu columns where %d were asked for",
						json_array_size(fields), n)));
	st->conv = MemoryContextAllocZero(node->ss.ps.state->es_query_cxt,
									  sizeof(BqConverter) * Max(n, 1));
	foreach(lc, st->retrieved_attrs)
	{
		Form_pg_attribute att = TupleDescAttr(desc, lfirst_int(lc) - 1);
		json_t	   *f = json_array_get(fields, i);
		MemoryContext old = MemoryContextSwitchTo(node->ss.ps.state->es_query_cxt);

		bq_converter_init(&st->conv[i], pstrdup(NameStr(att->attname)),
						  string_member(f, "type"), json_string_value(json_object_get(f, "mode")),
						  att->atttypid, att->atttypmod);
		MemoryContextSwitchTo(old);
		i++;
	}
}

/* A parameter's value as BigQuery wants it: a string, in UTC for times. */
static char *
param_text(Oid type, Datum value)
{
	switch (type)
	{
		case INT2OID:
			return psprintf("%d", DatumGetInt16(value));
		case INT4OID:
			return psprintf("%d", DatumGetInt32(value));
		case INT8OID:
			return psprintf(INT64_FORMAT, DatumGetInt64(value));
		case BOOLOID:
			return pstrdup(DatumGetBool(value) ? "true" : "false");
		case DATEOID:
			return bq_date_text(DatumGetDateADT(value));
		case TIMESTAMPTZOID:
			return bq_timestamp_text(DatumGetTimestampTz(value), true);
		default:
			return TextDatumGetCString(value);
	}
}

/* [{"name":"p1","parameterType":{"type":...},"parameterValue":{"value":...}}, ...] */
static json_t *
query_parameters(ForeignScanState *node, BqScanState *st)
{
	ExprContext *econtext = node->ss.ps.ps_ExprContext;
	json_t	   *params = json_array();
	ListCell   *le;
	ListCell   *lt;
	int			n = 0;

	forboth(le, st->param_exprs, lt, st->param_types)
	{
		bool		isnull;
		Datum		value = ExecEvalExpr((ExprState *) lfirst(le), econtext, &isnull);
		Oid			type = lfirst_oid(lt);

		json_array_append_new(params,
							  json_pack("{s:s, s:{s:s}, s:{s:o}}",
										"name", psprintf("p%d", ++n),
										"parameterType", "type", bq_param_type(type),
										"parameterValue", "value",
										isnull ? json_null() : json_string(param_text(type, value))));
	}
	return params;
}

/* Ask BigQuery to stop the job: best effort, briefly, never an error. */
static void
cancel_job(BqScanState *st)
{
	GcpHttpRequest req;
	GcpHttpCall *call;

	if (st->job_id == NULL)
		return;
	gcp_request_init(&req, st->srv, GCP_BIGQUERY, "POST",
					 gcp_url(st->srv, GCP_BIGQUERY, "projects/%s/jobs/%s/cancel?location=%s",
							 gcp_url_escape(st->srv->project_id), gcp_url_escape(st->job_id),
							 gcp_url_escape(st->job_location)),
					 "", 0);
	req.retry = false;
	req.deadline_ms = CANCEL_DEADLINE_MS;
	call = gcp_http_run(&req);
	gcp_http_free(call);
}

/*
 * A BigQuery request that a query cancel interrupts at once, and that
 * cancels the BigQuery job on the way out so it stops costing.
 */
static json_t *
call_cancellable(BqScanState *st, const char *method, const char *url, json_t *body,
				 const char *action)
{
	GcpHttpRequest req;
	GcpHttpCall *call;
	size_t		len = 0;
	char	   *text = body ? gcp_json_dump(body, &len) : NULL;

	gcp_request_init(&req, st->srv, GCP_BIGQUERY, method, url, text, len);
	call = gcp_http_start(&req);
	PG_TRY();
	{
		gcp_http_catch_cancel = true;
		while (!gcp_http_finished(call))
		{
			gcp_http_wait(-1);
			if (QueryCancelPending && !ProcDiePending)
			{
				gcp_http_catch_cancel = false;
				/* the cancel itself must get out before the ERROR */
				HOLD_CANCEL_INTERRUPTS();
				cancel_job(st);
				RESUME_CANCEL_INTERRUPTS();
				CHECK_FOR_INTERRUPTS();
			}
		}
	}
	PG_FINALLY();
	{
		gcp_http_catch_cancel = false;
	}
	PG_END_TRY();
	return gcp_call_result(GCP_BIGQUERY, call, action, NULL, NULL);
}

/*
 * Fetch the next page: the first with jobs.query, the rest (and any page
 * of a job still running) with getQueryResults.
 */
static void
fetch_page(ForeignScanState *node, BqScanState *st)
{
	MemoryContext old;
	json_t	   *resp;
	json_t	   *body = NULL;
	char	   *url;

	MemoryContextReset(st->page_cxt);
	old = MemoryContextSwitchTo(st->page_cxt);

	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		if (!st->started)
		{
			body = gcp_json_track(json_pack("{s:s, s:b, s:i, s:i, s:{s:b}, s:s}",
											"query", st->sql, "useLegacySql", 0,
											"maxResults", st->fetch_size,
											"timeoutMs", FIRST_TIMEOUT_MS,
											"formatOptions", "useInt64Timestamp", 1,
											"location", st->srv->location));
			if (st->param_exprs != NIL)
			{
				json_object_set_new(body, "parameterMode", json_string("NAMED"));
				json_object_set_new(body, "queryParameters", query_parameters(node, st));
			}
			url = gcp_url(st->srv, GCP_BIGQUERY, "projects/%s/queries",
						  gcp_url_escape(st->srv->project_id));
		}
		else
			url = gcp_url(st->srv, GCP_BIGQUERY,
						  "projects/%s/queries/%s?location=%s&maxResults=%d&timeoutMs=%d"
						  "&formatOptions.useInt64Timestamp=true%s%s",
						  gcp_url_escape(st->srv->project_id), gcp_url_escape(st->job_id),
						  gcp_url_escape(st->job_location), st->fetch_size, QUERY_TIMEOUT_MS,
						  st->page_token ? "&pageToken=" : "",
						  st->page_token ? gcp_url_escape(st->page_token) : "");

		resp = call_cancellable(st, st->started ? "GET" : "POST", url,
								st->started ? NULL : body,
								psprintf("read foreign table \"%s\"",
										 RelationGetRelationName(node->ss.ss_currentRelation)));
		if (!st->started)
		{
			json_t	   *ref = json_object_get(resp, "jobReference");

			MemoryContextSwitchTo(node->ss.ps.state->es_query_cxt);
			st->job_id = string_member(ref, "jobId");
			st->job_location = string_member(ref, "location");
			if (st->job_location == NULL)
				st->job_location = pstrdup(st->srv->location);
			MemoryContextSwitchTo(st->page_cxt);
			if (st->job_id == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
						 errmsg("BigQuery answered a query without a job reference")));
			st->started = true;
		}
		/* a job still running: ask again, the server waits for us */
		if (json_is_true(json_object_get(resp, "jobComplete")))
			break;
	}

	if (st->conv == NULL)
		init_converters(node, st, json_object_get(json_object_get(resp, "schema"), "fields"));
	if (json_is_string(json_object_get(resp, "totalBytesProcessed")))
		st->bytes_processed = strtoi64(json_string_value(json_object_get(resp, "totalBytesProcessed")), NULL, 10);
	st->cache_hit = json_is_true(json_object_get(resp, "cacheHit"));
	st->pages++;

	MemoryContextSwitchTo(node->ss.ps.state->es_query_cxt);
	if (st->page_token)
		pfree(st->page_token);
	st->page_token = string_member(resp, "pageToken");
	MemoryContextSwitchTo(st->page_cxt);
	st->last_page = st->page_token == NULL;

	st->rows = json_object_get(resp, "rows");
	st->nrows = json_is_array(st->rows) ? json_array_size(st->rows) : 0;
	st->next_row = 0;
	MemoryContextSwitchTo(old);
}

/* a jansson cell value as the converter's token (already unescaped) */
static void
cell_token(json_t *v, JsonToken *tok)
{
	memset(tok, 0, sizeof(JsonToken));
	if (v == NULL || json_is_null(v))
		tok->type = JT_NULL;
	else if (json_is_string(v))
	{
		tok->type = JT_STRING;
		tok->start = json_string_value(v);
		tok->len = json_string_length(v);
	}
	else
		tok->type = JT_OBJECT;
}

static TupleTableSlot *
bqIterateForeignScan(ForeignScanState *node)
{
	BqScanState *st = (BqScanState *) node->fdw_state;
	TupleTableSlot *slot = node->ss.ss_ScanTupleSlot;
	TupleDesc	desc = slot->tts_tupleDescriptor;
	json_t	   *cells;
	int			col = 0;
	ListCell   *lc;

	ExecClearTuple(slot);
	while (!st->started || st->next_row >= st->nrows)
	{
		if (st->started && st->last_page)
			return slot;		/* the end */
		fetch_page(node, st);
	}

	cells = json_object_get(json_array_get(st->rows, st->next_row++), "f");
	if (!json_is_array(cells) ||
		json_array_size(cells) < (size_t) list_length(st->retrieved_attrs))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("could not read a BigQuery result row"),
				 errdetail("A row of the result has not the expected cells.")));

	memset(slot->tts_isnull, true, sizeof(bool) * desc->natts);
	foreach(lc, st->retrieved_attrs)
	{
		int			attnum = lfirst_int(lc);
		JsonToken	tok;

		cell_token(json_object_get(json_array_get(cells, col), "v"), &tok);
		if (tok.type == JT_OBJECT)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
					 errmsg("BigQuery sent a nested cell for column \"%s\"", st->conv[col].colname)));
		slot->tts_values[attnum - 1] = bq_convert_cell(&st->conv[col], &tok, &st->scratch,
													   &slot->tts_isnull[attnum - 1]);
		col++;
	}
	ExecStoreVirtualTuple(slot);
	return slot;
}

static void
bqReScanForeignScan(ForeignScanState *node)
{
	BqScanState *st = (BqScanState *) node->fdw_state;

	/* BigQuery's cache answers the same query again at no cost */
	MemoryContextReset(st->page_cxt);
	st->rows = NULL;
	st->nrows = st->next_row = 0;
	st->started = false;
	st->last_page = false;
	st->page_token = NULL;
}

static void
bqEndForeignScan(ForeignScanState *node)
{
	/* the page context goes with the query's; nothing else is held */
}

static void
bqExplainForeignScan(ForeignScanState *node, ExplainState *es)
{
	ForeignScan *plan = (ForeignScan *) node->ss.ps.plan;
	BqScanState *st = (BqScanState *) node->fdw_state;

	if (es->verbose)
		ExplainPropertyText("Remote SQL", strVal(linitial(plan->fdw_private)), es);
	if (es->analyze && st && st->job_id)
	{
		ExplainPropertyText("BigQuery Job", st->job_id, es);
		ExplainPropertyInteger("Bytes Processed", NULL, st->bytes_processed, es);
		ExplainPropertyBool("Cache Hit", st->cache_hit, es);
	}
}

extern List *bqImportForeignSchema(ImportForeignSchemaStmt *stmt, Oid serverOid);

/* modify.c */
extern List *bqPlanForeignModify(PlannerInfo *root, ModifyTable *plan,
								 Index resultRelation, int subplan_index);
extern void bqBeginForeignModify(ModifyTableState *mtstate, ResultRelInfo *rinfo,
								 List *fdw_private, int subplan_index, int eflags);
extern TupleTableSlot **bqExecForeignBatchInsert(EState *estate, ResultRelInfo *rinfo,
												 TupleTableSlot **slots, TupleTableSlot **planSlots,
												 int *numSlots);
extern TupleTableSlot *bqExecForeignInsert(EState *estate, ResultRelInfo *rinfo,
										   TupleTableSlot *slot, TupleTableSlot *planSlot);
extern int	bqGetForeignModifyBatchSize(ResultRelInfo *rinfo);
extern void bqEndForeignModify(EState *estate, ResultRelInfo *rinfo);
extern int	bqIsForeignRelUpdatable(Relation rel);

Datum
bqstream_fdw_handler(PG_FUNCTION_ARGS)
{
	FdwRoutine *routine = makeNode(FdwRoutine);

	routine->GetForeignRelSize = bqGetForeignRelSize;
	routine->GetForeignPaths = bqGetForeignPaths;
	routine->GetForeignPlan = bqGetForeignPlan;
	routine->BeginForeignScan = bqBeginForeignScan;
	routine->IterateForeignScan = bqIterateForeignScan;
	routine->ReScanForeignScan = bqReScanForeignScan;
	routine->EndForeignScan = bqEndForeignScan;
	routine->ExplainForeignScan = bqExplainForeignScan;
	routine->ImportForeignSchema = bqImportForeignSchema;
	routine->IsForeignRelUpdatable = bqIsForeignRelUpdatable;
	routine->PlanForeignModify = bqPlanForeignModify;
	routine->BeginForeignModify = bqBeginForeignModify;
	routine->ExecForeignInsert = bqExecForeignInsert;
	routine->ExecForeignBatchInsert = bqExecForeignBatchInsert;
	routine->GetForeignModifyBatchSize = bqGetForeignModifyBatchSize;
	routine->EndForeignModify = bqEndForeignModify;
	PG_RETURN_POINTER(routine);
}
