/*-------------------------------------------------------------------------
 *
 * dml.c
 *	  UPDATE and DELETE on bqstream_fdw foreign tables, as BigQuery DML
 *	  jobs: the key column option, direct modification and keyed batches.
 *
 * A foreign table's row identity is the set of its columns with the option
 * key 'true' (BigQuery enforces no key; the user says which columns are
 * one).  A statement whose whole WHERE clause and SET list deparse.c can
 * send goes to BigQuery as one UPDATE or DELETE job (direct modification,
 * as postgres_fdw does it).  Otherwise PostgreSQL reads the rows, filters
 * them locally, and hands each changed row's key (and new values) to this
 * file, which buffers them and sends one statement per batch: a job costs
 * about a second and counts against quotas, so never one per row.
 *
 * Every value travels as a typed query parameter.  BigQuery's refusals are
 * reported with what they mean: rows streamed recently with insertAll are
 * in the streaming buffer, which DML cannot change; DML statements on the
 * same table at the same time may conflict.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "gcp/gcp_json.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "commands/explain.h"
#include "common/base64.h"
#include "executor/executor.h"
#include "foreign/fdwapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/appendinfo.h"
#include "optimizer/optimizer.h"
#include "parser/parsetree.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "fdw/fdw.h"
#include "gcp/bigquery.h"

/*
 * How long jobs.query waits for the job: briefly, so that its ID is known
 * and a cancel can reach it; the polls with getQueryResults then wait longer.
 */
#define DML_FIRST_WAIT_MS	1000
#define DML_WAIT_MS			10000

/* BigQuery takes at most this many query parameters per statement */
#define MAX_QUERY_PARAMETERS	10000

/* what BigQuery's refusals say, to explain them */
#define STREAMING_BUFFER_TEXT	"would affect rows in the streaming buffer"
#define CONCURRENT_UPDATE_TEXT	"due to concurrent update"

/* ---------------------------------------------------------------------
 * key columns
 * ---------------------------------------------------------------------
 */

/* The attnums of the columns with key 'true', in column order. */
List *
bq_key_columns(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	List	   *keys = NIL;

	for (int i = 1; i <= desc->natts; i++)
	{
		char	   *v;
		bool		key;

		if (TupleDescAttr(desc, i - 1)->attisdropped)
			continue;
		v = gcp_option_value(GetForeignColumnOptions(RelationGetRelid(rel), i), "key");
		if (v && parse_bool(v, &key) && key)
			keys = lappend_int(keys, i);
	}
	return keys;
}

/* The table's keys, or an error saying why UPDATE or DELETE cannot run. */
static List *
required_keys(Relation rel, CmdType op)
{
	ForeignTable *ft = GetForeignTable(RelationGetRelid(rel));
	const char *name = RelationGetRelationName(rel);
	List	   *keys;

	if (bq_table_option(ft, "query") != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 op == CMD_UPDATE
				 ? errmsg("cannot update foreign table \"%s\"", name)
				 : errmsg("cannot delete from foreign table \"%s\"", name),
				 errdetail("Its rows come from a BigQuery query, not a table.")));
	keys = bq_key_columns(rel);
	if (keys == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 op == CMD_UPDATE
				 ? errmsg("cannot update foreign table \"%s\" because it has no key column", name)
				 : errmsg("cannot delete from foreign table \"%s\" because it has no key column", name),
				 errdetail("BigQuery has no row identifiers: bqstream_fdw finds the rows to change by the columns marked as the key."),
				 errhint("Mark the columns that identify a row, e.g. ALTER FOREIGN TABLE %s ALTER COLUMN id OPTIONS (ADD key 'true').",
						 quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
													RelationGetRelationName(rel)))));
	return keys;
}

/*
 * INSERT is always reported, so that its own clear error reaches a table
 * made of a query; UPDATE and DELETE when a key says which rows they change.
 */
int
bqIsForeignRelUpdatable(Relation rel)
{
	ForeignTable *ft = GetForeignTable(RelationGetRelid(rel));

	if (bq_table_option(ft, "query") != NULL || bq_key_columns(rel) == NIL)
		return 1 << CMD_INSERT;
	return (1 << CMD_INSERT) | (1 << CMD_UPDATE) | (1 << CMD_DELETE);
}

/* name of the junk column carrying key column attnum */
static char *
key_junk_name(AttrNumber attnum)
{
	return psprintf("bqkey%d", attnum);
}

/*
 * The key columns travel with each row as junk; a DELETE with RETURNING
 * also needs the whole old row, which PostgreSQL adds itself for an UPDATE
 * and for row triggers.
 */
void
bqAddForeignUpdateTargets(PlannerInfo *root, Index rtindex, RangeTblEntry *target_rte,
						  Relation target_relation)
{
	ListCell   *lc;

	foreach(lc, required_keys(target_relation, root->parse->commandType))
	{
		AttrNumber	attnum = lfirst_int(lc);
		Form_pg_attribute att = TupleDescAttr(RelationGetDescr(target_relation), attnum - 1);

		add_row_identity_var(root, makeVar(rtindex, attnum, att->atttypid, att->atttypmod,
										   att->attcollation, 0),
							 rtindex, key_junk_name(attnum));
	}
	if (root->parse->commandType == CMD_DELETE && root->parse->returningList != NIL)
		add_row_identity_var(root, makeWholeRowVar(target_rte, rtindex, 0, false),
							 rtindex, "wholerow");
}

/* ---------------------------------------------------------------------
 * running a DML job
 * ---------------------------------------------------------------------
 */

/* The BigQuery table a statement changes, and how its jobs run. */
typedef struct BqDmlTarget
{
	GcpServer  *srv;
	BqTableRef *ref;
	char	   *relname;
	CmdType		op;				/* CMD_UPDATE or CMD_DELETE */
	/* the last job, for EXPLAIN ANALYZE */
	int			jobs;
	char	   *job_id;
	int64		bytes_processed;
	int64		rows_changed;	/* by all the statement's jobs */
} BqDmlTarget;

static BqDmlTarget *
dml_target(Relation rel, Oid userid, CmdType op)
{
	BqDmlTarget *t = palloc0(sizeof(BqDmlTarget));
	ForeignTable *ft = GetForeignTable(RelationGetRelid(rel));

	/* the credential of the role the plan checks permissions as */
	t->srv = gcp_server_lookup_as(ft->serverid, OidIsValid(userid) ? userid : GetUserId(), 0);
	t->ref = bq_table_ref(ft, t->srv);
	t->relname = pstrdup(RelationGetRelationName(rel));
	t->op = op;
	return t;
}

/* `project.dataset.table` of a foreign table, for the statement */
static void
append_target(StringInfo buf, Relation rel)
{
	ForeignTable *ft = GetForeignTable(RelationGetRelid(rel));
	GcpServer  *srv = gcp_server_lookup_as(ft->serverid, GetUserId(), GCP_LOOKUP_NO_CREDENTIAL);
	BqTableRef *ref = bq_table_ref(ft, srv);

	bq_append_identifier(buf, psprintf("%s.%s.%s", srv->project_id, ref->dataset, ref->table));
}

/* what a failed request was doing, for the context line of its error */
static char *
dml_action(BqDmlTarget *t)
{
	return t->op == CMD_UPDATE
		? psprintf("update foreign table \"%s\"", t->relname)
		: psprintf("delete from foreign table \"%s\"", t->relname);
}

/*
 * Raise BigQuery's refusal of a DML job, explained when it is one of
 * the refusals peculiar to DML; "earlier" says whether rows of the same
 * statement were changed by jobs before this one.
 */
static void
report_refusal(BqDmlTarget *t, GcpHttpCall *call, bool earlier)
{
	const GcpHttpResult *res = gcp_http_result(call);
	json_t	   *root = gcp_http_parse_json_quiet(res->body, res->body_len);
	const char *message = NULL;
	char	   *text = NULL;

	if (root && gcp_http_google_error(root, res->status, NULL, &message, NULL) && message)
		text = pstrdup(message);
	json_decref(root);
	if (text && strstr(text, STREAMING_BUFFER_TEXT))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 t->op == CMD_UPDATE
				 ? errmsg("BigQuery cannot update rows of foreign table \"%s\" that are still in its streaming buffer",
						  t->relname)
				 : errmsg("BigQuery cannot delete rows of foreign table \"%s\" that are still in its streaming buffer",
						  t->relname),
				 errdetail("BigQuery said: %s.%s", text,
						   earlier ? " Rows changed by earlier batches of this statement stay changed." : ""),
				 errhint("Rows streamed with insertAll (INSERT through bqstream_fdw, and the pipelines) cannot be changed by UPDATE or DELETE for about 30 minutes, at times up to 90. Leave them out with a WHERE condition, e.g. on their event time, or run the statement later.")));
	if (text && strstr(text, CONCURRENT_UPDATE_TEXT))
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 t->op == CMD_UPDATE
				 ? errmsg("BigQuery refused to update rows of foreign table \"%s\" because of a concurrent change",
						  t->relname)
				 : errmsg("BigQuery refused to delete rows of foreign table \"%s\" because of a concurrent change",
						  t->relname),
				 errdetail("BigQuery said: %s.%s", text,
						   earlier ? " Rows changed by earlier batches of this statement stay changed." : ""),
				 errhint("Another DML statement changed the same table at the same time; run the statement again.")));
	gcp_call_result(GCP_BIGQUERY, call, dml_action(t),
					NULL, NULL);
}

/*
 * One request about the statement's job.  A query cancel is served at
 * once, and asks BigQuery to cancel the job when its ID is known (a DML
 * job that has already committed keeps its changes).
 */
/*
 * One request about the statement's job; NULL when BigQuery failed the job
 * for its rate and "may_rerun" lets the caller run it again.
 */
static json_t *
dml_call(BqDmlTarget *t, const char *method, const char *url, json_t *body, bool earlier,
		 const char *job_id, const char *location, bool may_rerun)
{
	GcpHttpRequest req;
	GcpHttpCall *call;
	size_t		len = 0;
	char	   *text = body ? gcp_json_dump(body, &len) : NULL;

	gcp_request_init(&req, t->srv, GCP_BIGQUERY, method, url, text, len);
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
				bq_cancel_job(t->srv, job_id, location);
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
	if (!gcp_http_ok(gcp_http_result(call)))
	{
		if (may_rerun && bq_job_failed_for_rate(gcp_http_result(call)))
		{
			gcp_http_free(call);
			return NULL;
		}
		report_refusal(t, call, earlier);
	}
	return gcp_json_track(gcp_call_result(GCP_BIGQUERY, call,
										  dml_action(t),
										  NULL, NULL));
}

static int64
int64_member(json_t *obj, const char *name)
{
	json_t	   *v = json_object_get(obj, name);

	if (json_is_string(v))
		return strtoi64(json_string_value(v), NULL, 10);
	return json_is_integer(v) ? json_integer_value(v) : 0;
}

/*
 * Run one DML statement with jobs.query, waiting for the job as long as it
 * takes; returns numDmlAffectedRows.  A job BigQuery failed for its rate
 * (jobRateLimitExceeded) changed nothing: it runs again, as Google's clients
 * do, with a new requestId (the old one would return the failed job), after
 * a backoff from 1 s doubling, up to BQ_JOB_RERUNS_MAX times.
 */
static int64
run_dml(BqDmlTarget *t, const char *sql, json_t *params)
{
	bool		earlier = t->rows_changed > 0;

	for (int reruns = 0;; reruns++)
	{
		json_t	   *body = gcp_json_track(json_pack("{s:s, s:b, s:i, s:s}",
													"query", sql, "useLegacySql", 0,
													"timeoutMs", DML_FIRST_WAIT_MS,
													"requestId", bq_new_request_id()));
		bool		may_rerun = reruns < BQ_JOB_RERUNS_MAX;
		json_t	   *resp;
		const char *v;
		char	   *job_id;
		char	   *location;

		if (t->ref->location)
			json_object_set_new(body, "location", json_string(t->ref->location));
		if (params && json_array_size(params) > 0)
		{
			json_object_set_new(body, "parameterMode", json_string("NAMED"));
			json_object_set(body, "queryParameters", params);
		}
		if (t->ref->maximum_bytes_billed)
			json_object_set_new(body, "maximumBytesBilled",
								json_string(t->ref->maximum_bytes_billed));
		if (t->ref->timeout_ms > 0)
			json_object_set_new(body, "jobTimeoutMs",
								json_string(psprintf("%d", t->ref->timeout_ms)));

		resp = dml_call(t, "POST", gcp_url(t->srv, GCP_BIGQUERY, "projects/%s/queries",
										   gcp_url_escape(t->srv->project_id)),
						body, earlier, NULL, NULL, may_rerun);
		v = json_string_value(json_object_get(json_object_get(resp, "jobReference"), "jobId"));
		job_id = v ? pstrdup(v) : NULL;
		v = json_string_value(json_object_get(json_object_get(resp, "jobReference"), "location"));
		location = v ? pstrdup(v) : NULL;
		while (resp && !json_is_true(json_object_get(resp, "jobComplete")))
		{
			if (job_id == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_FDW_ERROR),
						 errmsg("BigQuery's answer to the DML statement on \"%s\" names no job",
								t->relname)));
			CHECK_FOR_INTERRUPTS();
			resp = dml_call(t, "GET",
							gcp_url(t->srv, GCP_BIGQUERY,
									"projects/%s/queries/%s?maxResults=0&timeoutMs=%d%s%s",
									gcp_url_escape(t->srv->project_id), gcp_url_escape(job_id),
									DML_WAIT_MS, location ? "&location=" : "",
									location ? gcp_url_escape(location) : ""),
							NULL, earlier, job_id, location, may_rerun);
		}
		if (resp != NULL)
		{
			t->jobs++;
			t->job_id = job_id;
			t->bytes_processed += int64_member(resp, "totalBytesProcessed");
			return int64_member(resp, "numDmlAffectedRows");
		}

		bq_wait_to_rerun_job(reruns, t->relname);
	}
}

/* ---------------------------------------------------------------------
 * parameter values
 * ---------------------------------------------------------------------
 */

/* whether a numeric value fits NUMERIC: 29 digits before the point, 9 after */
static bool
fits_numeric(const char *text)
{
	const char *digits = text[0] == '-' ? text + 1 : text;
	const char *point = strchr(digits, '.');

	return (point ? point - digits : (long) strlen(digits)) <= 29 &&
		(point == NULL || strlen(point + 1) <= 9);
}

/*
 * The GoogleSQL type of a value of PostgreSQL type "type" for a parameter;
 * numeric is NUMERIC when it fits (a BIGNUMERIC value cannot be assigned to
 * a NUMERIC column) and BIGNUMERIC otherwise.  NULL when no type fits.
 */
static const char *
value_type(Oid type, const char *text)
{
	switch (type)
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
			return "INT64";
		case NUMERICOID:
			return text && !fits_numeric(text) ? "BIGNUMERIC" : "NUMERIC";
		case FLOAT4OID:
		case FLOAT8OID:
			return "FLOAT64";
		case BOOLOID:
			return "BOOL";
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
			return "STRING";
		case BYTEAOID:
			return "BYTES";
		case DATEOID:
			return "DATE";
		case TIMEOID:
			return "TIME";
		case TIMESTAMPOID:
			return "DATETIME";
		case TIMESTAMPTZOID:
			return "TIMESTAMP";
		case JSONOID:
		case JSONBOID:
			return "JSON";
		default:
			return NULL;
	}
}

/* A value's text as BigQuery reads a parameter of value_type(). */
static char *
value_text(Oid type, Datum value, const char *column)
{
	switch (type)
	{
		case BOOLOID:
			return pstrdup(DatumGetBool(value) ? "true" : "false");
		case DATEOID:
			return bq_date_text(DatumGetDateADT(value));
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			return bq_timestamp_text(DatumGetTimestamp(value), type == TIMESTAMPTZOID);
		case BYTEAOID:
			{
				bytea	   *b = DatumGetByteaPP(value);
				int			len = VARSIZE_ANY_EXHDR(b);
				int			enc = pg_b64_enc_len(len);
				char	   *out = palloc(enc + 1);

				out[pg_b64_encode(VARDATA_ANY(b), len, out, enc)] = '\0';
				return out;
			}
		case NUMERICOID:
			{
				char	   *text = DatumGetCString(DirectFunctionCall1(numeric_out, value));

				if (!isdigit((unsigned char) text[text[0] == '-']))
					ereport(ERROR,
							(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
							 errmsg("cannot send numeric value %s of column \"%s\" to BigQuery",
									text, column),
							 errdetail("BigQuery's NUMERIC and BIGNUMERIC have no NaN or infinity.")));
				return text;
			}
		default:
			{
				Oid			out;
				bool		varlena;

				getTypeOutputInfo(type, &out, &varlena);
				return OidOutputFunctionCall(out, value);
			}
	}
}

/* {"name":..., "parameterType":{"type":...}, "parameterValue":{"value":...}} */
static json_t *
scalar_parameter(const char *name, Oid type, Datum value, bool isnull, const char *column)
{
	char	   *text = isnull ? NULL : value_text(type, value, column);
	const char *bqtype = value_type(type, text);

	if (bqtype == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot send a value of type %s of column \"%s\" to BigQuery as a parameter",
						format_type_be(type), column)));
	return json_pack("{s:s, s:{s:s}, s:{s:o}}", "name", name,
					 "parameterType", "type", bqtype,
					 "parameterValue", "value", text ? json_string(text) : json_null());
}

/* ---------------------------------------------------------------------
 * direct modification: the whole statement as one job
 * ---------------------------------------------------------------------
 */

/* fdw_private of a ForeignScan that runs a DML statement */
enum BqDirectPrivate
{
	BQ_DIRECT_SQL,
	BQ_DIRECT_PARAM_KINDS,
	BQ_DIRECT_SET_PROCESSED
};

typedef struct BqDirectState
{
	BqDmlTarget *target;
	char	   *sql;
	List	   *param_exprs;	/* ExprStates of @p1, @p2, ... */
	List	   *param_types;
	List	   *param_kinds;
	bool		set_processed;
	bool		done;
} BqDirectState;

/* The ForeignScan under the ModifyTable that reads result relation rtindex. */
static ForeignScan *
modify_subplan(ModifyTable *plan, Index rtindex, int subplan_index)
{
	Plan	   *subplan = outerPlan(plan);

	if (IsA(subplan, Append))
	{
		Append	   *append = (Append *) subplan;

		if (subplan_index >= list_length(append->appendplans))
			return NULL;
		subplan = (Plan *) list_nth(append->appendplans, subplan_index);
	}
	if (IsA(subplan, ForeignScan) && ((ForeignScan *) subplan)->scan.scanrelid == rtindex)
		return (ForeignScan *) subplan;
	return NULL;
}

/*
 * A SET value BigQuery computes as PostgreSQL would and may assign to the
 * column: not a numeric parameter, which goes as BIGNUMERIC and BigQuery
 * would not assign to a NUMERIC column (the keyed path sends it as NUMERIC).
 */
static bool
settable(RelOptInfo *rel, Relation relation, Expr *expr)
{
	Node	   *node = (Node *) expr;

	while (node && IsA(node, RelabelType))
		node = (Node *) ((RelabelType *) node)->arg;
	if (exprType(node) == NUMERICOID && !IsA(node, Var))
		return false;
	return bq_is_pushable_operand(rel, relation, (Expr *) node, false);
}

/*
 * bqPlanDirectModify
 *		Send the whole UPDATE or DELETE as one DML job when BigQuery can evaluate it.
 */
bool
bqPlanDirectModify(PlannerInfo *root, ModifyTable *plan, Index resultRelation,
				   int subplan_index)
{
	CmdType		op = plan->operation;
	RangeTblEntry *rte = planner_rt_fetch(resultRelation, root);
	RelOptInfo *foreignrel = root->simple_rel_array[resultRelation];
	ForeignScan *fscan;
	Relation	rel;
	StringInfoData sql;
	List	   *params = NIL;
	List	   *exprs = NIL;
	List	   *kinds = NIL;
	ListCell   *lc;

	if (op != CMD_UPDATE && op != CMD_DELETE)
		return false;
	/* bqstream.enable_pushdown off: PostgreSQL chooses the rows, as for a scan */
	if (!bq_enable_pushdown)
		return false;
	/* BigQuery's UPDATE and DELETE return no rows: RETURNING runs row by row */
	if (plan->returningLists != NIL)
		return false;
	fscan = modify_subplan(plan, resultRelation, subplan_index);
	/* a condition evaluated here leaves rows BigQuery would change too */
	if (fscan == NULL || fscan->scan.plan.qual != NIL)
		return false;

	rel = table_open(rte->relid, NoLock);
	initStringInfo(&sql);
	appendStringInfoString(&sql, op == CMD_UPDATE ? "UPDATE " : "DELETE FROM ");
	append_target(&sql, rel);
	if (op == CMD_UPDATE)
	{
		List	   *tlist;
		List	   *attnums;
		ListCell   *la;

		get_translated_update_targetlist(root, resultRelation, &tlist, &attnums);
		forboth(lc, tlist, la, attnums)
		{
			TargetEntry *tle = lfirst_node(TargetEntry, lc);

			if (lfirst_int(la) <= 0 || !settable(foreignrel, rel, tle->expr))
			{
				table_close(rel, NoLock);
				return false;
			}
		}
		forboth(lc, tlist, la, attnums)
		{
			appendStringInfoString(&sql, lc == list_head(tlist) ? " SET " : ", ");
			bq_append_identifier(&sql, bq_column_name(rel, lfirst_int(la)));
			appendStringInfoString(&sql, " = ");
			bq_deparse_select_item(&sql, foreignrel, rel, ((TargetEntry *) lfirst(lc))->expr,
								   &params, NULL, 0);
		}
	}
	/* BigQuery requires a WHERE clause; the scan's remote conditions are all of it */
	if (fscan->fdw_recheck_quals == NIL)
		appendStringInfoString(&sql, " WHERE true");
	else
		bq_deparse_where(&sql, "WHERE", foreignrel, rel, fscan->fdw_recheck_quals, false,
						 &params);
	table_close(rel, NoLock);

	foreach(lc, params)
	{
		exprs = lappend(exprs, ((BqParam *) lfirst(lc))->expr);
		kinds = lappend_int(kinds, ((BqParam *) lfirst(lc))->kind);
	}
	fscan->operation = op;
	fscan->resultRelation = resultRelation;
	fscan->fdw_exprs = exprs;
	fscan->fdw_private = list_make3(makeString(sql.data), kinds,
									makeInteger(plan->canSetTag ? 1 : 0));
	fscan->scan.plan.async_capable = false;
	return true;
}

/*
 * bqBeginDirectModify
 *		Prepare the DML job of a direct modification.
 */
void
bqBeginDirectModify(ForeignScanState *node, int eflags)
{
	ForeignScan *plan = (ForeignScan *) node->ss.ps.plan;
	EState	   *estate = node->ss.ps.state;
	RangeTblEntry *rte;
	BqDirectState *st;
	ListCell   *lc;

	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
		return;
	rte = exec_rt_fetch(plan->resultRelation, estate);
	st = palloc0(sizeof(BqDirectState));
	st->target = dml_target(node->ss.ss_currentRelation, rte->checkAsUser, plan->operation);
	st->sql = strVal(list_nth(plan->fdw_private, BQ_DIRECT_SQL));
	st->param_kinds = (List *) list_nth(plan->fdw_private, BQ_DIRECT_PARAM_KINDS);
	st->set_processed = intVal(list_nth(plan->fdw_private, BQ_DIRECT_SET_PROCESSED)) != 0;
	st->param_exprs = ExecInitExprList(plan->fdw_exprs, (PlanState *) node);
	foreach(lc, plan->fdw_exprs)
		st->param_types = lappend_oid(st->param_types, exprType(lfirst(lc)));
	node->fdw_state = st;
}

/* @p1, @p2, ... of a direct statement, computed now */
static json_t *
direct_parameters(BqDirectState *st, ExprContext *econtext)
{
	return gcp_json_track(bq_query_parameters(st->param_exprs, st->param_types,
											  st->param_kinds, econtext));
}

/*
 * bqIterateDirectModify
 *		Run the DML job; RETURNING never comes here (it takes the keyed path).
 */
TupleTableSlot *
bqIterateDirectModify(ForeignScanState *node)
{
	BqDirectState *st = (BqDirectState *) node->fdw_state;
	TupleTableSlot *slot = node->ss.ss_ScanTupleSlot;

	if (!st->done)
	{
		int64		affected;

		st->done = true;
		affected = run_dml(st->target, st->sql,
						   direct_parameters(st, node->ss.ps.ps_ExprContext));
		st->target->rows_changed += affected;
		if (st->set_processed)
			node->ss.ps.state->es_processed += affected;
	}
	return ExecClearTuple(slot);
}

/*
 * bqEndDirectModify
 *		Nothing held beyond the query's memory.
 */
void
bqEndDirectModify(ForeignScanState *node)
{
	/* the job is done when the first row is asked for; nothing is held */
}

static void
explain_jobs(BqDmlTarget *t, ExplainState *es)
{
	if (!es->analyze || t == NULL || t->jobs == 0)
		return;
	ExplainPropertyInteger("BigQuery Jobs", NULL, t->jobs, es);
	if (t->job_id)
		ExplainPropertyText("Last BigQuery Job", t->job_id, es);
	ExplainPropertyInteger("Bytes Processed", NULL, t->bytes_processed, es);
	ExplainPropertyInteger("Rows Changed", NULL, t->rows_changed, es);
}

/*
 * bqExplainDirectModify
 *		Show the remote DML, and under ANALYZE its job.
 */
void
bqExplainDirectModify(ForeignScanState *node, ExplainState *es)
{
	ForeignScan *plan = (ForeignScan *) node->ss.ps.plan;
	BqDirectState *st = (BqDirectState *) node->fdw_state;

	ExplainPropertyText("Remote DML", strVal(list_nth(plan->fdw_private, BQ_DIRECT_SQL)), es);
	explain_jobs(st ? st->target : NULL, es);
}

/* ---------------------------------------------------------------------
 * keyed batches: the rows PostgreSQL chose, by their keys
 * ---------------------------------------------------------------------
 */

/* fdw_private of the ModifyTable for a keyed UPDATE or DELETE */
enum BqKeyedPrivate
{
	BQ_KEYED_EXPLAIN,			/* the statement sent, for one row */
	BQ_KEYED_SET_ATTNUMS		/* UPDATE: the columns sent */
};

typedef struct BqKeyedState
{
	bool		keyed;			/* always true: modify.c tells it from INSERT's */
	BqDmlTarget *target;
	Relation	rel;
	CmdType		op;
	char	   *table_sql;		/* `project.dataset.table` */
	int			nkeys;
	AttrNumber *key_attnums;
	AttrNumber *key_junk;		/* their junk columns in the plan's rows */
	char	  **key_names;		/* BigQuery column names */
	int			nset;
	AttrNumber *set_attnums;
	char	  **set_names;
	AttrNumber	wholerow_junk;	/* DELETE ... RETURNING: the old row */
	int			batch_rows;		/* rows per statement */

	/* the batch being gathered, in batch_cxt */
	MemoryContext batch_cxt;
	int			nrows;
	json_t	   *params;
	json_t	   *key_array;		/* one key column: its values, for IN UNNEST */
	StringInfoData matches;		/* several key columns: WHEN <row matches> THEN TRUE ... */
	StringInfoData *cases;		/* UPDATE: per set column, WHEN <row matches> THEN @v ... */
	int64		rows_sent;
} BqKeyedState;

/*
 * Row r's match condition: `k1` = @r<r>k1 AND ... .  Parameter names are
 * built from numbers only: nothing a user chooses appears in the text.
 */
static void
append_match(StringInfo buf, BqKeyedState *st, int r)
{
	for (int k = 0; k < st->nkeys; k++)
	{
		if (k > 0)
			appendStringInfoString(buf, " AND ");
		bq_append_identifier(buf, st->key_names[k]);
		appendStringInfo(buf, " = @r%dk%d", r, k + 1);
	}
}

/* The statement for the gathered rows (for EXPLAIN: "nrows" rows of placeholders). */
static char *
keyed_statement(BqKeyedState *st, StringInfo matches, StringInfo cases)
{
	StringInfoData sql;

	initStringInfo(&sql);
	appendStringInfoString(&sql, st->op == CMD_UPDATE ? "UPDATE " : "DELETE FROM ");
	appendStringInfoString(&sql, st->table_sql);
	for (int c = 0; c < st->nset; c++)
	{
		appendStringInfoString(&sql, c == 0 ? " SET " : ", ");
		bq_append_identifier(&sql, st->set_names[c]);
		appendStringInfoString(&sql, " = CASE");
		appendBinaryStringInfo(&sql, cases[c].data, cases[c].len);
		appendStringInfoString(&sql, " ELSE ");
		bq_append_identifier(&sql, st->set_names[c]);
		appendStringInfoString(&sql, " END");
	}
	appendStringInfoString(&sql, " WHERE ");
	if (st->nkeys == 1)
	{
		bq_append_identifier(&sql, st->key_names[0]);
		appendStringInfoString(&sql, " IN UNNEST(@keys)");
	}
	else
	{
		/* a flat CASE rather than a deep chain of ORs */
		appendStringInfoString(&sql, "CASE");
		appendBinaryStringInfo(&sql, matches->data, matches->len);
		appendStringInfoString(&sql, " ELSE FALSE END");
	}
	return sql.data;
}

static void
keyed_init(BqKeyedState *st, Relation rel, CmdType op, List *set_attnums)
{
	List	   *keys = required_keys(rel, op);
	ListCell   *lc;
	int			per_row;

	st->keyed = true;
	st->rel = rel;
	st->op = op;
	st->nkeys = list_length(keys);
	st->key_attnums = palloc0(sizeof(AttrNumber) * st->nkeys);
	st->key_junk = palloc0(sizeof(AttrNumber) * st->nkeys);
	st->key_names = palloc0(sizeof(char *) * st->nkeys);
	foreach(lc, keys)
	{
		st->key_attnums[foreach_current_index(lc)] = lfirst_int(lc);
		st->key_names[foreach_current_index(lc)] = bq_column_name(rel, lfirst_int(lc));
	}
	st->nset = list_length(set_attnums);
	st->set_attnums = palloc0(sizeof(AttrNumber) * Max(st->nset, 1));
	st->set_names = palloc0(sizeof(char *) * Max(st->nset, 1));
	foreach(lc, set_attnums)
	{
		st->set_attnums[foreach_current_index(lc)] = lfirst_int(lc);
		st->set_names[foreach_current_index(lc)] = bq_column_name(rel, lfirst_int(lc));
	}
	{
		StringInfoData buf;

		initStringInfo(&buf);
		append_target(&buf, rel);
		st->table_sql = buf.data;
	}
	/* as many rows as the table's batch size, within BigQuery's parameter limit */
	per_row = st->nkeys + st->nset;
	st->batch_rows = Min(bq_batch_size(RelationGetRelid(rel)), MAX_QUERY_PARAMETERS / per_row - 1);
	st->batch_rows = Max(st->batch_rows, 1);
}

static List *
updated_columns(ModifyTable *plan, int subplan_index, Relation rel)
{
	List	   *cols = NIL;

	if (plan->operation != CMD_UPDATE)
		return NIL;
	/* a BEFORE ROW trigger may change any column: send them all */
	if (rel->trigdesc && rel->trigdesc->trig_update_before_row)
	{
		TupleDesc	desc = RelationGetDescr(rel);

		for (int i = 1; i <= desc->natts; i++)
			if (!TupleDescAttr(desc, i - 1)->attisdropped)
				cols = lappend_int(cols, i);
	}
	else
		cols = list_copy((List *) list_nth(plan->updateColnosLists, subplan_index));
	return cols;
}

List *
bq_plan_keyed_modify(PlannerInfo *root, ModifyTable *plan, Index resultRelation,
					 int subplan_index)
{
	RangeTblEntry *rte = planner_rt_fetch(resultRelation, root);
	Relation	rel = table_open(rte->relid, NoLock);
	BqKeyedState st = {0};
	List	   *set_attnums = updated_columns(plan, subplan_index, rel);
	StringInfoData matches;
	StringInfoData *cases;
	char	   *sql;

	keyed_init(&st, rel, plan->operation, set_attnums);
	for (int c = 0; c < st.nset; c++)
		if (value_type(TupleDescAttr(RelationGetDescr(rel), st.set_attnums[c] - 1)->atttypid,
					   NULL) == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot update column \"%s\" of foreign table \"%s\" row by row",
							NameStr(TupleDescAttr(RelationGetDescr(rel), st.set_attnums[c] - 1)->attname),
							RelationGetRelationName(rel)),
					 errdetail("Values of type %s cannot be sent to BigQuery as query parameters.",
							   format_type_be(TupleDescAttr(RelationGetDescr(rel), st.set_attnums[c] - 1)->atttypid)),
					 errhint("An UPDATE whose SET list and WHERE clause BigQuery can evaluate runs as one statement there.")));

	/* what EXPLAIN shows: the statement for one row */
	initStringInfo(&matches);
	appendStringInfoString(&matches, " WHEN ");
	append_match(&matches, &st, 1);
	appendStringInfoString(&matches, " THEN TRUE ...");
	cases = palloc0(sizeof(StringInfoData) * Max(st.nset, 1));
	for (int c = 0; c < st.nset; c++)
	{
		initStringInfo(&cases[c]);
		appendStringInfoString(&cases[c], " WHEN ");
		append_match(&cases[c], &st, 1);
		appendStringInfo(&cases[c], " THEN @r1v%d ...", c + 1);
	}
	sql = keyed_statement(&st, &matches, cases);
	table_close(rel, NoLock);
	return list_make2(makeString(psprintf("%s (one job per batch of up to %d rows)",
										  sql, st.batch_rows)),
					  set_attnums);
}

static void
batch_reset(BqKeyedState *st)
{
	MemoryContext old;

	MemoryContextReset(st->batch_cxt);
	old = MemoryContextSwitchTo(st->batch_cxt);
	st->nrows = 0;
	st->params = gcp_json_track(json_array());
	st->key_array = gcp_json_track(json_array());
	initStringInfo(&st->matches);
	st->cases = palloc0(sizeof(StringInfoData) * Max(st->nset, 1));
	for (int c = 0; c < st->nset; c++)
		initStringInfo(&st->cases[c]);
	MemoryContextSwitchTo(old);
}

void
bq_begin_keyed_modify(ModifyTableState *mtstate, ResultRelInfo *rinfo, List *fdw_private,
					  int subplan_index, int eflags)
{
	Relation	rel = rinfo->ri_RelationDesc;
	EState	   *estate = mtstate->ps.state;
	Plan	   *subplan = outerPlanState(mtstate)->plan;
	RangeTblEntry *rte;
	BqKeyedState *st;

	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
		return;
	st = palloc0(sizeof(BqKeyedState));
	keyed_init(st, rel, mtstate->operation, (List *) list_nth(fdw_private, BQ_KEYED_SET_ATTNUMS));
	rte = exec_rt_fetch(rinfo->ri_RangeTableIndex, estate);
	st->target = dml_target(rel, rte->checkAsUser, mtstate->operation);
	for (int k = 0; k < st->nkeys; k++)
	{
		st->key_junk[k] = ExecFindJunkAttributeInTlist(subplan->targetlist,
													   key_junk_name(st->key_attnums[k]));
		if (!AttributeNumberIsValid(st->key_junk[k]))
			elog(ERROR, "could not find junk column %s", key_junk_name(st->key_attnums[k]));
	}
	st->wholerow_junk = ExecFindJunkAttributeInTlist(subplan->targetlist, "wholerow");
	st->batch_cxt = AllocSetContextCreate(estate->es_query_cxt, "bqstream_fdw DML batch",
										  ALLOCSET_DEFAULT_SIZES);
	batch_reset(st);
	rinfo->ri_FdwState = st;
}

/* Send the gathered rows as one statement and start a new batch. */
static void
flush_batch(BqKeyedState *st)
{
	MemoryContext old;
	int64		affected;

	if (st->nrows == 0)
		return;
	old = MemoryContextSwitchTo(st->batch_cxt);
	if (st->nkeys == 1)
	{
		/* the key column's values, as an array of the first row's key type */
		json_t	   *first = json_array_get(st->params, 0);

		json_array_append_new(st->params,
							  json_pack("{s:s, s:{s:s, s:O}, s:{s:O}}", "name", "keys",
										"parameterType", "type", "ARRAY", "arrayType",
										json_object_get(first, "parameterType"),
										"parameterValue", "arrayValues", st->key_array));
	}
	affected = run_dml(st->target, keyed_statement(st, &st->matches, st->cases), st->params);
	MemoryContextSwitchTo(old);
	st->target->rows_changed += affected;
	if (affected != st->nrows)
		ereport(WARNING,
				(errmsg("BigQuery %s %lld rows of foreign table \"%s\" for %d keys",
						st->op == CMD_UPDATE ? "updated" : "deleted",
						(long long) affected, st->target->relname, st->nrows),
				 errdetail(affected > st->nrows
						   ? "The key columns do not identify one row each in BigQuery."
						   : "Some rows were changed or removed in BigQuery since they were read.")));
	st->rows_sent += st->nrows;
	batch_reset(st);
}

/* Add a row, by the keys in planSlot and (UPDATE) the new values in slot. */
static void
add_row(BqKeyedState *st, TupleTableSlot *slot, TupleTableSlot *planSlot)
{
	MemoryContext old = MemoryContextSwitchTo(st->batch_cxt);
	TupleDesc	desc = RelationGetDescr(st->rel);
	int			r = st->nrows + 1;
	StringInfoData match;

	for (int k = 0; k < st->nkeys; k++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, st->key_attnums[k] - 1);
		bool		isnull;
		Datum		key = ExecGetJunkAttribute(planSlot, st->key_junk[k], &isnull);
		json_t	   *param;

		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 st->target->op == CMD_UPDATE
					 ? errmsg("cannot update a row of foreign table \"%s\" whose key column \"%s\" is NULL",
							  st->target->relname, NameStr(att->attname))
					 : errmsg("cannot delete a row of foreign table \"%s\" whose key column \"%s\" is NULL",
							  st->target->relname, NameStr(att->attname)),
					 errdetail("Rows are found in BigQuery by their key, and NULL equals no value."),
					 errhint("A statement whose whole WHERE clause BigQuery can evaluate, such as one with \"%s\" IS NULL, runs there as one statement.",
							 NameStr(att->attname))));
		param = scalar_parameter(psprintf("r%dk%d", r, k + 1), att->atttypid, key, false,
								 NameStr(att->attname));
		if (att->atttypid == NUMERICOID)
			/* keys are compared, never assigned: BIGNUMERIC holds every value */
			json_object_set_new(json_object_get(param, "parameterType"), "type",
								json_string("BIGNUMERIC"));
		if (st->nkeys == 1)
			json_array_append(st->key_array, json_object_get(param, "parameterValue"));
		json_array_append_new(st->params, param);
	}
	initStringInfo(&match);
	append_match(&match, st, r);
	if (st->nkeys > 1)
		appendStringInfo(&st->matches, " WHEN %s THEN TRUE", match.data);
	if (st->nset > 0)
		slot_getallattrs(slot);
	for (int c = 0; c < st->nset; c++)
	{
		int			i = st->set_attnums[c] - 1;

		json_array_append_new(st->params,
							  scalar_parameter(psprintf("r%dv%d", r, c + 1),
											   TupleDescAttr(desc, i)->atttypid,
											   slot->tts_values[i], slot->tts_isnull[i],
											   NameStr(TupleDescAttr(desc, i)->attname)));
		appendStringInfo(&st->cases[c], " WHEN %s THEN @r%dv%d", match.data, r, c + 1);
	}
	st->nrows++;
	MemoryContextSwitchTo(old);
	if (st->nrows >= st->batch_rows)
		flush_batch(st);
}

/*
 * bqExecForeignUpdate
 *		Queue one row's new values by its key; sent a batch at a time.
 */
TupleTableSlot *
bqExecForeignUpdate(EState *estate, ResultRelInfo *rinfo, TupleTableSlot *slot,
					TupleTableSlot *planSlot)
{
	add_row((BqKeyedState *) rinfo->ri_FdwState, slot, planSlot);
	/* the new row, as sent: RETURNING reads it */
	return slot;
}

/*
 * bqExecForeignDelete
 *		Queue one row's key; sent a batch at a time.
 */
TupleTableSlot *
bqExecForeignDelete(EState *estate, ResultRelInfo *rinfo, TupleTableSlot *slot,
					TupleTableSlot *planSlot)
{
	BqKeyedState *st = (BqKeyedState *) rinfo->ri_FdwState;

	add_row(st, slot, planSlot);
	if (AttributeNumberIsValid(st->wholerow_junk))
	{
		bool		isnull;
		Datum		row = ExecGetJunkAttribute(planSlot, st->wholerow_junk, &isnull);

		if (!isnull)
		{
			HeapTupleHeader td = DatumGetHeapTupleHeader(row);
			HeapTupleData tuple;

			tuple.t_len = HeapTupleHeaderGetDatumLength(td);
			ItemPointerSetInvalid(&tuple.t_self);
			tuple.t_tableOid = RelationGetRelid(rinfo->ri_RelationDesc);
			tuple.t_data = td;
			ExecForceStoreHeapTuple(&tuple, slot, false);
		}
	}
	return slot;
}

/* The rows still gathered go at the end of the statement. */
void
bq_end_keyed_modify(EState *estate, ResultRelInfo *rinfo)
{
	BqKeyedState *st = (BqKeyedState *) rinfo->ri_FdwState;

	flush_batch(st);
}

/*
 * bqExplainForeignModify
 *		Show the statement each batch of an UPDATE or DELETE sends.
 */
void
bqExplainForeignModify(ModifyTableState *mtstate, ResultRelInfo *rinfo, List *fdw_private,
					   int subplan_index, ExplainState *es)
{
	if (mtstate->operation == CMD_INSERT || fdw_private == NIL)
		return;
	ExplainPropertyText("Remote DML", strVal(list_nth(fdw_private, BQ_KEYED_EXPLAIN)), es);
	if (rinfo->ri_FdwState)
		explain_jobs(((BqKeyedState *) rinfo->ri_FdwState)->target, es);
}
