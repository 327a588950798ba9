/*-------------------------------------------------------------------------
 *
 * explain.c
 *	  bqstream_fdw's EXPLAIN of what BigQuery would bill: with the table's
 *	  or server's explain_dry_run option on, EXPLAIN sends a scan's remote
 *	  query to BigQuery as a dry run and shows the bytes it would process
 *	  and bill, or why BigQuery refuses the query.
 *
 * A dry run is free and runs nothing; it is asked with the credential the
 * scan itself would use (the plan's checkAsUser), the same parameters
 * computed as at execution start, and the table's location and cache
 * setting, so that its figures are those of the job a run would start.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "gcp/gcp_json.h"

#include "commands/explain.h"
#include "executor/executor.h"
#include "foreign/foreign.h"
#include "nodes/nodeFuncs.h"
#include "parser/parsetree.h"
#include "utils/builtins.h"

#include "fdw/fdw.h"

/*
 * BigQuery's on-demand billing: bytes processed are rounded up to the
 * next MB (2^20 bytes), with at least 10 MB per table read; a query that
 * reads nothing bills nothing.
 */
#define BILLING_UNIT		((int64) 1 << 20)
#define BILLING_MINIMUM		(10 * BILLING_UNIT)

/*
 * What BigQuery would bill for a query of one table that processes
 * "processed" bytes.  A "query" option may read several tables, each with
 * its own minimum: then this is the least it would bill.
 */
static int64
bytes_billed(int64 processed)
{
	int64		rounded;

	if (processed <= 0)
		return 0;
	rounded = (processed + BILLING_UNIT - 1) / BILLING_UNIT * BILLING_UNIT;
	return Max(rounded, BILLING_MINIMUM);
}

/* Whether a value behind @p1, @p2 ... is known only while the plan runs. */
static bool
needs_runtime_value(Node *node, void *context)
{
	ParamListInfo bound = (ParamListInfo) context;

	if (node == NULL)
		return false;
	if (IsA(node, Param))
	{
		Param	   *p = (Param *) node;

		/* another node's output (a join's outer row, a subquery) */
		if (p->paramkind != PARAM_EXTERN)
			return true;
		/* $n of a statement explained without its values */
		return bound == NULL;
	}
	if (IsA(node, SubPlan))
		return true;
	return expression_tree_walker(node, needs_runtime_value, context);
}

/* The parameters of the remote query, computed now, as a scan starting would. */
static json_t *
dry_run_parameters(ForeignScanState *node, List *kinds)
{
	ForeignScan *plan = (ForeignScan *) node->ss.ps.plan;
	List	   *types = NIL;
	ListCell   *lc;

	foreach(lc, plan->fdw_exprs)
		types = lappend_oid(types, exprType(lfirst(lc)));
	return bq_query_parameters(ExecInitExprList(plan->fdw_exprs, (PlanState *) node), types,
							   kinds, node->ss.ps.ps_ExprContext);
}

/*
 * Show what BigQuery would bill for a foreign scan's remote query, when
 * its table or server has explain_dry_run on.  BigQuery's refusal of the
 * query is shown in the plan, so that the rest of the plan can still be
 * read; a failure to reach BigQuery at all is an error, as in a scan.
 */
void
bq_explain_dry_run(ForeignScanState *node, ExplainState *es)
{
	ForeignScan *plan = (ForeignScan *) node->ss.ps.plan;
	List	   *priv = plan->fdw_private;
	Oid			relid = (Oid) intVal(list_nth(priv, BQ_PRIVATE_RELID));
	ForeignTable *ft = GetForeignTable(relid);
	char	   *opt = bq_table_option(ft, "explain_dry_run");
	bool		on = false;
	RangeTblEntry *rte;
	GcpServer  *srv;
	BqTableRef *ref;
	json_t	   *body;
	json_t	   *answer;
	long		status;
	static const long refusals[] = {400, 404, 0};
	const char *message = NULL;
	const char *processed_text;
	char	   *end = NULL;
	int64		processed = 0;
	int64		billed;

	if (opt == NULL || !parse_bool(opt, &on) || !on)
		return;

	if (needs_runtime_value((Node *) plan->fdw_exprs, node->ss.ps.state->es_param_list_info))
	{
		ExplainPropertyText("Dry Run",
							"not sent: the remote query takes values known only while the plan runs",
							es);
		return;
	}

	/* the credential the scan would use: an upper rel's scan reads one table */
	rte = exec_rt_fetch(plan->scan.scanrelid > 0 ? plan->scan.scanrelid
						: bms_next_member(plan->fs_relids, -1),
						node->ss.ps.state);
	srv = bq_server_of(relid, rte->checkAsUser, 0);
	ref = bq_table_ref(ft, srv);

	body = gcp_json_track(json_pack("{s:s, s:b, s:b}",
									"query", strVal(list_nth(priv, BQ_PRIVATE_SQL)),
									"useLegacySql", 0, "dryRun", 1));
	if (ref->location)
		json_object_set_new(body, "location", json_string(ref->location));
	if (plan->fdw_exprs != NIL)
	{
		json_object_set_new(body, "parameterMode", json_string("NAMED"));
		json_object_set_new(body, "queryParameters",
							dry_run_parameters(node, (List *) list_nth(priv, BQ_PRIVATE_PARAM_KINDS)));
	}
	if (ref->use_query_cache >= 0)
		json_object_set_new(body, "useQueryCache", json_boolean(ref->use_query_cache));

	answer = gcp_call(srv, GCP_BIGQUERY, "POST",
					  gcp_url(srv, GCP_BIGQUERY, "projects/%s/queries",
							  gcp_url_escape(srv->project_id)),
					  body, "run a dry run of the remote query", refusals, &status);
	if (status >= 300)
	{
		if (answer == NULL || !gcp_http_google_error(answer, status, NULL, &message, NULL) ||
			message == NULL)
			message = psprintf("HTTP status %ld", status);
		ExplainPropertyText("Dry Run Error", message, es);
		return;
	}

	/* an int64, which Google's JSON carries as a string */
	processed_text = json_string_value(json_object_get(answer, "totalBytesProcessed"));
	if (processed_text != NULL)
	{
		errno = 0;
		processed = strtoi64(processed_text, &end, 10);
	}
	if (processed_text == NULL || *processed_text == '\0' || *end != '\0' || errno != 0 ||
		processed < 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("BigQuery answered a dry run without a valid totalBytesProcessed")));
	billed = bytes_billed(processed);
	ExplainPropertyInteger("Dry Run Bytes Processed", NULL, processed, es);
	ExplainPropertyInteger("Dry Run Bytes Billed", NULL, billed, es);
	/* a result BigQuery would take from its cache costs nothing */
	if (json_is_true(json_object_get(answer, "cacheHit")))
		ExplainPropertyBool("Dry Run Cache Hit", true, es);

	/* the cost guard would make the real job fail: say so before it is run */
	if (ref->maximum_bytes_billed &&
		billed > strtoi64(ref->maximum_bytes_billed, NULL, 10))
		ExplainPropertyText("Dry Run Refused By",
							psprintf("maximum_bytes_billed %s", ref->maximum_bytes_billed), es);
}
