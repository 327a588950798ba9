/*-------------------------------------------------------------------------
 *
 * scan.c
 *	  bqstream_fdw's executor callbacks: a plan's remote query runs as a
 *	  BigQuery job, whose result pages are streamed into tuples.
 *
 * Pages are converted row by row and released, so a scan holds two pages
 * at a time (fetch_size rows each: the one converted and the next, asked
 * for ahead), never the whole result.  A job that has not finished within
 * the request's timeout is polled until it has, never taken for an empty
 * result.  ANALYZE reads its sample through the same scan.
 *
 * A scan the planner gave to the Storage Read API (plan.c's
 * read_api_streams() says which) reads the table instead through a read
 * session: only its columns, in several ReadRows streams at once, each
 * block of Avro rows decoded straight into the row's values (avro.c).
 * A filtered or sorted one runs its job and reads the job's result table
 * so, when the result is more than the job's first page.  A
 * session whose schema holds a type the decoder does not take (RECORD,
 * RANGE) is left unread and the scan runs its query as a job,
 * without an error.  A cancel or statement_timeout stops the streams at
 * once: they belong to the scan's memory, which the ERROR releases.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "gcp/gcp_json.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/explain.h"
#include "executor/executor.h"
#include "foreign/fdwapi.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "parser/parsetree.h"
#include "storage/latch.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/float.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "fdw/avro.h"
#include "fdw/fdw.h"
#include "gcp/bigquery.h"
#include "gcp/bqstorage.h"
#include "gcp/options.h"

/*
 * The first request returns soon, so that the job's ID is known and a
 * cancel can reach it; the polls then let the server hold them longer.
 */
#define FIRST_TIMEOUT_MS	1000
#define QUERY_TIMEOUT_MS	10000

/* while converting a page, how often the prefetch of the next is driven */
#define PREFETCH_DRIVE_ROWS	256

struct BqScanState
{
	GcpServer  *srv;
	BqTableRef *ref;
	char	   *relname;		/* the foreign table, for messages */
	char	   *sql;
	int			nretrieved;
	int		   *retrieved;		/* scan slot attnums, in select list order */
	BqCombine  *averages;		/* per retrieved: how its cells combine */
	int		   *scales;			/* per retrieved: numeric scale to restore, or -1 */
	int			ncells;			/* cells per BigQuery row */
	List	   *param_exprs;	/* ExprStates behind @p1, @p2, ... */
	List	   *param_types;
	List	   *param_kinds;

	/* the job */
	bool		started;
	bool		last_page;
	TimestampTz started_at;
	char	   *job_id;
	char	   *job_location;
	char	   *page_token;
	int64		bytes_processed;
	bool		cache_hit;
	int			pages;
	int			reruns;			/* jobs started again for their rate */

	/* the page being read: its answer's text is owned by page_cxt */
	JsonScan	rows;			/* inside the "rows" array */
	bool		rows_first;
	bool		rows_left;
	Datum	   *cells;			/* the current row, one value per cell */
	bool	   *cell_nulls;

	BqConverter *conv;			/* per cell, set at the first page */
	StringInfoData scratch;
	MemoryContext query_cxt;	/* lives as long as the scan */
	GcpHttpCall *next_call;		/* the next page, asked for ahead, or NULL */
	MemoryContext next_cxt;		/* holds it */
	uint64		rows_read;
	MemoryContext page_cxt;
	MemoryContext row_cxt;		/* the current row's values */
	TupleDesc	desc;			/* of the tuples made: the scan slot's */
	ExprContext *econtext;		/* where parameters are computed */

	/* the Storage Read API: read_streams > 0 */
	int			read_streams;	/* streams asked for at most */
	char	  **read_fields;	/* BigQuery name of each retrieved column */
	bool		read_started;
	bool		read_done;		/* every stream has ended */
	bool		read_via_job;	/* the job runs; its result table is read */
	char	   *read_fallback;	/* why the planned read took the JSON pages */
	BqsReadSession *session;
	BqsReader **readers;
	int			nreaders;
	BqAvroPlan *avro;
	BqAvroBlock block;			/* the block being decoded */
	int64		read_blocks;
	int64		read_bytes;		/* of Avro rows */
	MemoryContext read_cxt;		/* the session and its streams */
};

/* ---------------------------------------------------------------------
 * executor
 * ---------------------------------------------------------------------
 */

static int *
int_array(List *list)
{
	int		   *a = palloc0(sizeof(int) * Max(list_length(list), 1));
	ListCell   *lc;
	int			i = 0;

	foreach(lc, list)
		a[i++] = lfirst_int(lc);
	return a;
}

/*
 * A scan of the remote query "sql", whose select list fills "retrieved"
 * columns of tuples of "desc", in the current memory context.
 */
BqScanState *
bq_scan_create(Oid relid, Oid userid, char *sql, List *retrieved, List *averages, List *scales,
				  TupleDesc desc)
{
	BqScanState *st = palloc0(sizeof(BqScanState));
	ListCell   *lc;

	st->sql = sql;
	st->nretrieved = list_length(retrieved);
	st->retrieved = int_array(retrieved);
	st->scales = int_array(scales);
	st->averages = palloc0(sizeof(BqCombine) * Max(st->nretrieved, 1));
	foreach(lc, averages)
	{
		st->averages[foreach_current_index(lc)] = (BqCombine) lfirst_int(lc);
		st->ncells += BQ_COMBINE_CELLS(lfirst_int(lc));
	}
	st->cells = palloc0(sizeof(Datum) * Max(st->ncells, 1));
	st->cell_nulls = palloc0(sizeof(bool) * Max(st->ncells, 1));
	st->srv = bq_server_of(relid, userid, 0);
	st->ref = bq_table_ref(GetForeignTable(relid), st->srv);
	st->relname = get_rel_name(relid);
	st->desc = desc;
	st->query_cxt = CurrentMemoryContext;
	st->page_cxt = AllocSetContextCreate(CurrentMemoryContext,
										 "bqstream_fdw page", ALLOCSET_DEFAULT_SIZES);
	st->row_cxt = AllocSetContextCreate(CurrentMemoryContext,
										"bqstream_fdw row", ALLOCSET_DEFAULT_SIZES);
	st->next_cxt = AllocSetContextCreate(CurrentMemoryContext,
										 "bqstream_fdw next page", ALLOCSET_DEFAULT_SIZES);
	initStringInfo(&st->scratch);
	return st;
}

/*
 * Read the scan's table through the Storage Read API, in at most "streams"
 * streams, "fields" (String nodes) being the BigQuery names of the
 * retrieved columns; with via_job, the result table of the scan's job
 * instead.  streams 0 keeps the JSON pages.
 */
void
bq_scan_read_api(BqScanState *st, int streams, List *fields, bool via_job)
{
	ListCell   *lc;

	if (streams <= 0 || list_length(fields) != st->nretrieved || st->ref->table == NULL)
		return;
	st->read_streams = streams;
	st->read_via_job = via_job;
	st->read_fields = palloc(sizeof(char *) * st->nretrieved);
	foreach(lc, fields)
		st->read_fields[foreach_current_index(lc)] = strVal(lfirst(lc));
	st->read_cxt = AllocSetContextCreate(st->query_cxt, "bqstream_fdw read session",
										 ALLOCSET_DEFAULT_SIZES);
}

/*
 * bqBeginForeignScan
 *		Prepare the scan; the job starts at the first row.
 */
void
bqBeginForeignScan(ForeignScanState *node, int eflags)
{
	ForeignScan *plan = (ForeignScan *) node->ss.ps.plan;
	List	   *priv = plan->fdw_private;
	BqScanState *st;
	ListCell   *lc;
	RangeTblEntry *rte;

	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
		return;
	/* an upper rel's scan reads one table: its RTE checks the permissions */
	rte = exec_rt_fetch(plan->scan.scanrelid > 0 ? plan->scan.scanrelid
						: bms_next_member(plan->fs_relids, -1),
						node->ss.ps.state);
	st = bq_scan_create((Oid) intVal(list_nth(priv, BQ_PRIVATE_RELID)),
						   rte->checkAsUser,
						   strVal(list_nth(priv, BQ_PRIVATE_SQL)),
						   (List *) list_nth(priv, BQ_PRIVATE_RETRIEVED),
						   (List *) list_nth(priv, BQ_PRIVATE_AVERAGES),
						   (List *) list_nth(priv, BQ_PRIVATE_SCALES),
						   node->ss.ss_ScanTupleSlot->tts_tupleDescriptor);
	st->econtext = node->ss.ps.ps_ExprContext;
	st->param_exprs = ExecInitExprList(plan->fdw_exprs, (PlanState *) node);
	foreach(lc, plan->fdw_exprs)
		st->param_types = lappend_oid(st->param_types, exprType(lfirst(lc)));
	st->param_kinds = (List *) list_nth(priv, BQ_PRIVATE_PARAM_KINDS);
	bq_scan_read_api(st, intVal(list_nth(priv, BQ_PRIVATE_READ_STREAMS)),
					 (List *) list_nth(priv, BQ_PRIVATE_READ_FIELDS),
					 intVal(list_nth(priv, BQ_PRIVATE_READ_VIA_JOB)) != 0);
	node->fdw_state = st;
}

/*
 * Set up one converter per cell from the result's schema, into the scan
 * slot's column types; an average's SUM and COUNT convert to numeric (or
 * float8) and bigint, to be divided.
 */
static void
init_converters(BqScanState *st, json_t *fields)
{
	TupleDesc	desc = st->desc;
	int			cell = 0;
	MemoryContext old;

	if ((size_t) st->ncells != json_array_size(fields) && st->ncells > 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("BigQuery returned %zu columns where %d were asked for",
						json_array_size(fields), st->ncells)));
	old = MemoryContextSwitchTo(st->query_cxt);
	st->conv = palloc0(sizeof(BqConverter) * Max(st->ncells, 1));
	for (int i = 0; i < st->nretrieved; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, st->retrieved[i] - 1);
		char	   *name = pstrdup(NameStr(att->attname));

		for (int part = 0; part < BQ_COMBINE_CELLS(st->averages[i]); part++)
		{
			json_t	   *f = json_array_get(fields, cell);
			Oid			type = att->atttypid;
			int32		typmod = att->atttypmod;

			switch (st->averages[i])
			{
				case BQ_COMBINE_NONE:
					break;
				case BQ_COMBINE_AVG:
					type = part == 1 ? INT8OID : (type == FLOAT8OID ? FLOAT8OID : NUMERICOID);
					typmod = -1;
					break;
				case BQ_COMBINE_FLOAT_SUM:
					type = part == 0 ? FLOAT8OID : part == 4 ? BOOLOID : INT8OID;
					typmod = -1;
					break;
				case BQ_COMBINE_FLOAT_AVG:
					type = part == 0 || part == 5 ? FLOAT8OID : INT8OID;
					typmod = -1;
					break;
			}
			bq_converter_init_field(&st->conv[cell++], name, f, type, typmod);
		}
	}
	MemoryContextSwitchTo(old);
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
		case NUMERICOID:
			return DatumGetCString(DirectFunctionCall1(numeric_out, value));
		case FLOAT8OID:
			return bq_float8_param_text(DatumGetFloat8(value));
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

/* {"parameterType":..., "parameterValue":...} of one value */
json_t *
bq_query_parameter(const char *name, Oid type, Datum value, bool isnull, BqParamKind kind)
{
	Oid			elem = get_element_type(type);
	json_t	   *values;
	bool		has_null = isnull;

	if (kind == BQP_VALUE)
		return json_pack("{s:s, s:{s:s}, s:{s:o}}", "name", name,
						 "parameterType", "type", bq_param_type(type),
						 "parameterValue", "value",
						 isnull ? json_null() : json_string(param_text(type, value)));

	/* an array: its elements but NULLs, and whether there were any */
	values = json_array();
	if (!isnull)
	{
		ArrayType  *arr = DatumGetArrayTypeP(value);
		Datum	   *elems;
		bool	   *nulls;
		int			n;
		int16		elmlen;
		bool		elmbyval;
		char		elmalign;

		get_typlenbyvalalign(elem, &elmlen, &elmbyval, &elmalign);
		deconstruct_array(arr, elem, elmlen, elmbyval, elmalign, &elems, &nulls, &n);
		for (int i = 0; i < n; i++)
		{
			if (nulls[i])
				has_null = true;
			else
				json_array_append_new(values, json_pack("{s:s}", "value",
														param_text(elem, elems[i])));
		}
	}
	if (kind == BQP_ARRAY_HAS_NULL)
	{
		json_decref(values);
		return json_pack("{s:s, s:{s:s}, s:{s:s}}", "name", name,
						 "parameterType", "type", "BOOL",
						 "parameterValue", "value", has_null ? "true" : "false");
	}
	return json_pack("{s:s, s:{s:s, s:{s:s}}, s:{s:o}}", "name", name,
					 "parameterType", "type", "ARRAY", "arrayType", "type", bq_param_type(elem),
					 "parameterValue", "arrayValues", values);
}

/*
 * [{"name":"p1","parameterType":{"type":...},"parameterValue":{"value":...}}, ...]
 * of a plan's fdw_exprs (their ExprStates, types and BqParamKinds), computed
 * now: by a scan, a direct UPDATE or DELETE and EXPLAIN's dry run.
 */
json_t *
bq_query_parameters(List *exprs, List *types, List *kinds, ExprContext *econtext)
{
	json_t	   *params = json_array();
	ListCell   *le;
	ListCell   *lt;
	ListCell   *lk;
	int			n = 0;

	forthree(le, exprs, lt, types, lk, kinds)
	{
		bool		isnull;
		Datum		value = ExecEvalExpr((ExprState *) lfirst(le), econtext, &isnull);

		json_array_append_new(params,
							  bq_query_parameter(psprintf("p%d", ++n), lfirst_oid(lt), value,
												 isnull, (BqParamKind) lfirst_int(lk)));
	}
	return params;
}

static json_t *
query_parameters(BqScanState *st)
{
	return bq_query_parameters(st->param_exprs, st->param_types, st->param_kinds, st->econtext);
}

/* Ask BigQuery to stop the job: best effort, briefly, never an error. */
static void
cancel_job(BqScanState *st)
{
	bq_cancel_job(st->srv, st->job_id, st->job_location);
}

static GcpHttpCall *
start_call(BqScanState *st, const char *method, const char *url, json_t *body)
{
	GcpHttpRequest req;
	size_t		len = 0;
	char	   *text = body ? gcp_json_dump(body, &len) : NULL;

	gcp_request_init(&req, st->srv, GCP_BIGQUERY, method, url, text, len);
	return gcp_http_start(&req);
}

/*
 * Whether a failed answer is BigQuery's jobRateLimitExceeded, for a job
 * that has not given any rows yet: then it may simply run again.
 */
static bool
job_failed_for_rate(BqScanState *st, const GcpHttpResult *res)
{
	return st->pages == 0 && st->reruns < BQ_JOB_RERUNS_MAX && bq_job_failed_for_rate(res);
}

/* Wait before a job runs again; a cancel or termination is served at once. */
static void
wait_to_rerun(BqScanState *st)
{
	bq_wait_to_rerun_job(st->reruns, st->relname);
	st->reruns++;
	st->started = false;
	st->job_id = NULL;
	st->job_location = NULL;
}

/* values are parameters, never in the text: nothing secret is shown */
static void
remote_sql_context(void *arg)
{
	errcontext("remote SQL: %s", (const char *) arg);
}

/*
 * Wait for a BigQuery request, which a query cancel interrupts at once,
 * cancelling the BigQuery job on the way out so it stops costing.  An
 * answer other than 2xx is raised as an error, but for a job BigQuery
 * failed for its rate before any rows: then NULL, and the caller runs the
 * job again.
 */
static const GcpHttpResult *
finish_call(BqScanState *st, GcpHttpCall *call, const char *action)
{
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
	if (!gcp_http_ok(gcp_http_result(call)))
	{
		if (job_failed_for_rate(st, gcp_http_result(call)))
		{
			gcp_http_free(call);
			return NULL;
		}
		{
			ErrorContextCallback remote_sql;

			/* as postgres_fdw does: the statement that failed, last */
			remote_sql.callback = remote_sql_context;
			remote_sql.arg = st->sql;
			remote_sql.previous = error_context_stack;
			error_context_stack = &remote_sql;
			gcp_call_result(GCP_BIGQUERY, call, action, NULL, NULL);	/* raises the error */
			error_context_stack = remote_sql.previous;
		}
	}
	return gcp_http_result(call);
}

/*
 * How long the next request may wait for the job; past the table's
 * timeout, the job is cancelled and the scan fails.
 */
static int
request_timeout(BqScanState *st, int wanted)
{
	long		elapsed_ms;

	if (st->ref->timeout_ms <= 0)
		return wanted;
	elapsed_ms = (GetCurrentTimestamp() - st->started_at) / 1000;
	if (elapsed_ms >= st->ref->timeout_ms)
	{
		cancel_job(st);
		ereport(ERROR,
				(errcode(ERRCODE_QUERY_CANCELED),
				 errmsg("BigQuery job for foreign table \"%s\" did not finish within %d ms",
						st->relname, st->ref->timeout_ms),
				 errdetail("Job %s was cancelled.", st->job_id ? st->job_id : "(unknown)"),
				 errhint("Raise the foreign table's or server's \"timeout\" option.")));
	}
	return Min(wanted, st->ref->timeout_ms - elapsed_ms);
}

/* the jobs.query request: the query, its parameters and the table's query options */
static json_t *
query_request(BqScanState *st)
{
	json_t	   *body = gcp_json_track(json_pack("{s:s, s:b, s:i, s:i, s:{s:b}}",
												"query", st->sql, "useLegacySql", 0,
												"maxResults", st->ref->fetch_size,
												"timeoutMs", request_timeout(st, FIRST_TIMEOUT_MS),
												"formatOptions", "useInt64Timestamp", 1));

	/* absent, BigQuery runs the job where the tables it names are */
	if (st->ref->location)
		json_object_set_new(body, "location", json_string(st->ref->location));

	/*
	 * A retry after a lost answer carries the same requestId, so BigQuery
	 * returns the job it started instead of billing a second one.
	 */
	json_object_set_new(body, "requestId", json_string(bq_new_request_id()));

	if (st->param_exprs != NIL)
	{
		json_object_set_new(body, "parameterMode", json_string("NAMED"));
		json_object_set_new(body, "queryParameters", query_parameters(st));
	}
	if (st->ref->maximum_bytes_billed)
		json_object_set_new(body, "maximumBytesBilled",
							json_string(st->ref->maximum_bytes_billed));
	if (st->ref->use_query_cache >= 0)
		json_object_set_new(body, "useQueryCache", json_boolean(st->ref->use_query_cache));
	if (st->ref->timeout_ms > 0)
		/* an int64, which Google's JSON carries as a string */
		json_object_set_new(body, "jobTimeoutMs",
							json_string(psprintf("%d", st->ref->timeout_ms)));
	return body;
}

/* What a jobs.query or getQueryResults answer says, read in place. */
typedef struct PageInfo
{
	bool		complete;
	char	   *job_id;
	char	   *job_location;
	char	   *page_token;
	json_t	   *fields;			/* the result's schema */
	bool		has_bytes;
	int64		bytes_processed;
	bool		cache_hit;
	bool		has_rows;
	JsonScan	rows;			/* at the "rows" array, not yet entered */
} PageInfo;

static char *
string_token(JsonScan *s, StringInfo scratch)
{
	JsToken	tok;
	JsTokenKind type = js_value(s, &tok);

	if (type != JT_STRING)
	{
		js_finish(s, type);
		return NULL;
	}
	return pstrdup(js_string_value(&tok, scratch));
}

/*
 * One pass over the answer picks the few members the scan needs, passing
 * over the rows; these are checked and converted later, as they are read,
 * straight from the text, so a page costs no tree of JSON nodes.
 */
static void
parse_page(BqScanState *st, const GcpHttpResult *res, PageInfo *page)
{
	JsonScan	s;
	JsToken	tok;
	JsToken	key;
	bool		first = true;

	bool		is_object;

	memset(page, 0, sizeof(PageInfo));
	js_init(&s, res->body, res->body_len);
	is_object = js_value(&s, &tok) == JT_OBJECT;
	if (is_object)
	{
		while (js_object_next(&s, &key, &first))
		{
			if (js_string_is(&key, "rows"))
			{
				/* the rows read must be the only ones: a second copy goes unchecked */
				if (page->has_rows)
				{
					s.error = "\"rows\" given twice";
					break;
				}
				/* checked as the rows are read */
				page->rows = s;
				page->has_rows = true;
				js_skip_unchecked(&s);
			}
			else if (js_string_is(&key, "jobComplete") || js_string_is(&key, "cacheHit"))
			{
				JsTokenKind type = js_value(&s, &tok);

				*(js_string_is(&key, "jobComplete") ? &page->complete : &page->cache_hit) =
					type == JT_TRUE;
				js_finish(&s, type);
			}
			else if (js_string_is(&key, "pageToken"))
				page->page_token = string_token(&s, &st->scratch);
			else if (js_string_is(&key, "totalBytesProcessed"))
			{
				char	   *v = string_token(&s, &st->scratch);

				page->has_bytes = v != NULL;
				page->bytes_processed = v ? strtoi64(v, NULL, 10) : 0;
			}
			else if (js_string_is(&key, "jobReference"))
			{
				bool		first_ref = true;
				JsTokenKind type = js_value(&s, &tok);

				if (type != JT_OBJECT)
				{
					js_finish(&s, type);
					continue;
				}
				while (js_object_next(&s, &key, &first_ref))
				{
					if (js_string_is(&key, "jobId"))
						page->job_id = string_token(&s, &st->scratch);
					else if (js_string_is(&key, "location"))
						page->job_location = string_token(&s, &st->scratch);
					else
						js_skip(&s, NULL, NULL);
				}
			}
			else if (js_string_is(&key, "schema"))
			{
				const char *span;
				size_t		len;

				/* a few fields: jansson is fine here, once measured */
				if (js_skip(&s, &span, &len))
				{
					json_t	   *schema;

					schema = gcp_http_parse_json(span, len, "BigQuery",
												 psprintf("read foreign table \"%s\"", st->relname),
												 NULL);
					page->fields = json_object_get(gcp_json_track(schema), "fields");
				}
			}
			else
				js_skip(&s, NULL, NULL);
		}
	}
	if (!is_object || !js_at_end(&s))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("could not read foreign table \"%s\"", st->relname),
				 errdetail("BigQuery answered with a body that is not a valid JSON object (%s at byte %d).",
						   s.error ? s.error : "unexpected value",
						   js_error_offset(&s, res->body))));
}

/* getQueryResults for the page after st->page_token (or the job's first) */
static GcpHttpCall *
start_page_call(BqScanState *st)
{
	return start_call(st, "GET",
					  gcp_url(st->srv, GCP_BIGQUERY,
							  "projects/%s/queries/%s?maxResults=%d&timeoutMs=%d"
							  "&formatOptions.useInt64Timestamp=true%s%s%s%s",
							  gcp_url_escape(st->srv->project_id), gcp_url_escape(st->job_id),
							  st->ref->fetch_size, request_timeout(st, QUERY_TIMEOUT_MS),
							  st->job_location ? "&location=" : "",
							  st->job_location ? gcp_url_escape(st->job_location) : "",
							  st->page_token ? "&pageToken=" : "",
							  st->page_token ? gcp_url_escape(st->page_token) : ""),
					  NULL);
}

/*
 * Fetch the next page: the first with jobs.query, the rest (and any page
 * of a job still running) with getQueryResults.  The answer stays in
 * page_cxt, and its rows are read from it in place.  The page after it is
 * asked for at once, into next_cxt, so that BigQuery sends it while this
 * one is converted.
 */
static void
fetch_page(BqScanState *st)
{
	MemoryContext old;
	const GcpHttpResult *res;
	PageInfo	page;
	JsToken	tok;
	char	   *action = psprintf("read foreign table \"%s\"", st->relname);

	/* the page just read goes; a prefetched one takes its place */
	MemoryContextReset(st->page_cxt);
	if (st->next_call)
	{
		MemoryContext swap = st->page_cxt;

		st->page_cxt = st->next_cxt;
		st->next_cxt = swap;
	}
	old = MemoryContextSwitchTo(st->page_cxt);

	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		if (st->next_call)
		{
			res = finish_call(st, st->next_call, action);
			st->next_call = NULL;
		}
		else if (!st->started)
		{
			st->started_at = GetCurrentTimestamp();
			res = finish_call(st, start_call(st, "POST",
											 gcp_url(st->srv, GCP_BIGQUERY, "projects/%s/queries",
													 gcp_url_escape(st->srv->project_id)),
											 query_request(st)),
							  action);
		}
		else
			res = finish_call(st, start_page_call(st), action);
		if (res == NULL)
		{
			wait_to_rerun(st);
			continue;
		}
		parse_page(st, res, &page);
		if (!st->started)
		{
			if (page.job_id == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
						 errmsg("BigQuery answered a query without a job reference")));
			st->job_id = MemoryContextStrdup(st->query_cxt, page.job_id);
			if (page.job_location || st->ref->location)
				st->job_location = MemoryContextStrdup(st->query_cxt,
													   page.job_location ? page.job_location
													   : st->ref->location);
			st->started = true;
		}
		/* a job still running: ask again, the server waits for us */
		if (page.complete)
			break;
		(void) request_timeout(st, QUERY_TIMEOUT_MS);
	}

	if (st->conv == NULL)
		init_converters(st, page.fields);
	if (page.has_bytes)
		st->bytes_processed = page.bytes_processed;
	st->cache_hit = page.cache_hit;
	st->pages++;

	if (st->page_token)
		pfree(st->page_token);
	st->page_token = page.page_token
		? MemoryContextStrdup(st->query_cxt, page.page_token) : NULL;
	st->last_page = st->page_token == NULL;

	st->rows = page.rows;
	st->rows_left = page.has_rows;
	st->rows_first = true;
	if (page.has_rows && js_value(&st->rows, &tok) != JT_ARRAY)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("could not read foreign table \"%s\"", st->relname),
				 errdetail("BigQuery answered with \"rows\" that are not an array.")));
	MemoryContextSwitchTo(old);

	if (!st->last_page)
	{
		old = MemoryContextSwitchTo(st->next_cxt);
		st->next_call = start_page_call(st);
		MemoryContextSwitchTo(old);
	}
}

/* a one-letter key, as every cell has: cheaper than js_string_is() */
static inline bool
is_key(const JsToken *key, char name)
{
	return key->len == 1 && key->start[0] == name && !key->escaped;
}

static void
bad_row(BqScanState *st)
{
	if (st->rows.error)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("could not read a BigQuery result row of foreign table \"%s\"", st->relname),
				 errdetail("The answer is not valid JSON: %s.", st->rows.error)));
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
			 errmsg("could not read a BigQuery result row of foreign table \"%s\"", st->relname),
			 errdetail("A row of the result is not a list of one cell per column of its schema.")));
}

/*
 * The next row's cells ({"f": [{"v": ...}, ...]}), converted into values;
 * false at the end of the page.
 */
static bool
next_row(BqScanState *st, Datum *values, bool *nulls)
{
	JsonScan   *s = &st->rows;
	JsToken	tok;
	JsToken	key;
	bool		first_key = true;
	bool		has_value;
	int			cell = 0;

	if (!st->rows_left || !js_array_next(s, &st->rows_first))
	{
		if (s->error)
			bad_row(st);
		st->rows_left = false;
		return false;
	}
	/* let the next page come in meanwhile */
	if (st->next_call && (++st->rows_read % PREFETCH_DRIVE_ROWS) == 0 &&
		!gcp_http_finished(st->next_call))
		gcp_http_wait(0);
	if (js_value(s, &tok) != JT_OBJECT)
		bad_row(st);
	while (js_object_next(s, &key, &first_key))
	{
		bool		first_cell = true;

		if (!is_key(&key, 'f') || cell > 0)
		{
			js_skip(s, NULL, NULL);
			continue;
		}
		if (js_value(s, &tok) != JT_ARRAY)
			bad_row(st);
		while (js_array_next(s, &first_cell))
		{
			bool		first_member = true;

			/* SELECT 1, for a row count: a cell nobody reads */
			if (cell >= st->ncells)
			{
				js_skip(s, NULL, NULL);
				cell++;
				continue;
			}
			if (js_value(s, &tok) != JT_OBJECT)
				bad_row(st);
			has_value = false;
			while (js_object_next(s, &key, &first_member))
			{
				BqConverter *conv = &st->conv[cell];

				if (!is_key(&key, 'v') || has_value)
				{
					js_skip(s, NULL, NULL);
					continue;
				}
				has_value = true;
				tok.type = js_value(s, &tok);
				if (tok.type == JT_ERROR)
					bad_row(st);
				values[cell] = bq_convert_value(conv, s, &tok, &st->scratch, &nulls[cell]);
			}
			if (!has_value)
				bad_row(st);	/* a cell always has "v", null or not */
			cell++;
		}
	}
	if (cell < st->ncells || (cell > st->ncells && st->ncells > 0) || s->error)
		bad_row(st);
	return true;
}

/* numeric with the scale PostgreSQL's own aggregate would show */
static Datum
restore_scale(Datum value, int scale)
{
	return DirectFunctionCall2(numeric_round, value, Int32GetDatum(scale));
}

/* avg = sum / count, as PostgreSQL's avg finishes: NULL over no rows */
static Datum
average(Oid type, Datum sum, Datum count, bool *isnull)
{
	if (*isnull || DatumGetInt64(count) == 0)
	{
		*isnull = true;
		return (Datum) 0;
	}
	if (type == FLOAT8OID)
		return Float8GetDatum(DatumGetFloat8(sum) / (float8) DatumGetInt64(count));
	return DirectFunctionCall2(numeric_div, sum,
							   NumericGetDatum(int64_to_numeric(DatumGetInt64(count))));
}

/*
 * The sum PostgreSQL's float8 sum or avg accumulates, from BigQuery's sum
 * of the finite inputs and counts of the others: NaN with a NaN or both
 * infinities, an infinity with one, and the overflow error of float8pl
 * when finite values summed to one.  (Which finite sum overflows, and its
 * last bits, depend on the order of the inputs, here as in PostgreSQL.)
 */
static float8
float_sum(float8 finite_sum, int64 nans, int64 pinfs, int64 ninfs)
{
	if (nans > 0 || (pinfs > 0 && ninfs > 0))
		return get_float8_nan();
	if (pinfs > 0)
		return get_float8_infinity();
	if (ninfs > 0)
		return -get_float8_infinity();
	if (isinf(finite_sum))
		float_overflow_error();
	return finite_sum;
}

/*
 * A float8 sum or avg put together from its cells (see BqCombine), as
 * float8pl and float8_accum/float8_avg give it.
 */
static Datum
combine_float(BqCombine how, Datum *cells, bool *nulls, bool *isnull)
{
	float8		sum;
	int64		count;

	if (nulls[0])
	{
		/* no input but NULLs */
		*isnull = true;
		return (Datum) 0;
	}
	if (how == BQ_COMBINE_FLOAT_SUM)
	{
		sum = float_sum(DatumGetFloat8(cells[0]), DatumGetInt64(cells[1]),
						DatumGetInt64(cells[2]), DatumGetInt64(cells[3]));
		/*
		 * float8pl starts from the first input: a sum of negative zeros
		 * only is -0, any other zero sum +0, whatever BigQuery starts from
		 */
		if (sum == 0)
			sum = !nulls[4] && DatumGetBool(cells[4]) ? -0.0 : 0.0;
		return Float8GetDatum(sum);
	}

	count = DatumGetInt64(cells[1]);
	sum = float_sum(DatumGetFloat8(cells[0]), DatumGetInt64(cells[2]),
					DatumGetInt64(cells[3]), DatumGetInt64(cells[4]));

	/*
	 * float8_accum also sums the squares of the deviations and fails when
	 * that sum overflows among finite inputs, in an order-dependent way
	 * that BigQuery's answer cannot tell: below this bound on count *
	 * magnitude it never does.  (Once an infinity or NaN is summed, the
	 * sum of squares is NaN and fails no more: with one among the inputs,
	 * the answer is PostgreSQL's for the rows in some order.)
	 */
	if (count > 1 && !nulls[5] && isfinite(sum) &&
		(float8) count * fabs(DatumGetFloat8(cells[5])) >= 1e153)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("cannot compute avg of float values this large in BigQuery"),
				 errdetail("PostgreSQL's avg may overflow in an intermediate sum of squares for values of magnitude %g.",
						   fabs(DatumGetFloat8(cells[5]))),
				 errhint("Set the float_aggregates option of the foreign table to 'local'.")));
	return Float8GetDatum(sum / (float8) count);
}

/* ---------------------------------------------------------------------
 * the Storage Read API
 * ---------------------------------------------------------------------
 */

/*
 * Create the read session and start its streams; or, when its schema has
 * a type the Avro decoder does not take, fall back to the job.
 */
/*
 * The Read API is not used after all: the scan reads the job's JSON pages,
 * from where they are, or with "restart" from the first (the job runs now
 * if it has not yet).
 */
static void
fall_back_to_pages(BqScanState *st, const char *why, bool restart)
{
	st->read_fallback = MemoryContextStrdup(st->query_cxt, why);
	st->read_streams = 0;
	if (restart)
	{
		st->rows_left = false;
		st->last_page = false;
		if (st->page_token)
			pfree(st->page_token);
		st->page_token = NULL;
	}
	ereport(DEBUG1,
			(errmsg_internal("foreign table \"%s\" read through JSON pages: %s",
							 st->relname, st->read_fallback)));
}

static void
start_read_session(BqScanState *st, const char *table_path)
{
	MemoryContext old = MemoryContextSwitchTo(st->read_cxt);
	BqAvroColumn *cols = palloc(sizeof(BqAvroColumn) * Max(st->nretrieved, 1));
	const char *why = NULL;

	st->read_started = true;
	st->session = bqs_create_read_session(st->srv, table_path,
										  (const char *const *) st->read_fields, st->nretrieved,
										  NULL, st->read_streams);
	for (int i = 0; i < st->nretrieved; i++)
	{
		Form_pg_attribute att = TupleDescAttr(st->desc, st->retrieved[i] - 1);

		cols[i].bq_name = st->read_fields[i];
		cols[i].colname = pstrdup(NameStr(att->attname));
		cols[i].index = i;
		cols[i].pg_type = att->atttypid;
		cols[i].typmod = att->atttypmod;
	}
	st->avro = bq_avro_plan_create(st->session->avro_schema, strlen(st->session->avro_schema),
								   cols, st->nretrieved, &why);
	if (st->avro == NULL)
	{
		/* an unread session costs nothing and expires by itself */
		MemoryContextSwitchTo(old);
		fall_back_to_pages(st, why, true);
		MemoryContextReset(st->read_cxt);
		st->session = NULL;
		return;
	}
	st->nreaders = st->session->nstreams;
	st->readers = palloc0(sizeof(BqsReader *) * Max(st->nreaders, 1));
	for (int i = 0; i < st->nreaders; i++)
		st->readers[i] = bqs_reader_start(st->srv, st->session->streams[i], 0);
	st->read_done = st->nreaders == 0;
	memset(&st->block, 0, sizeof(st->block));
	MemoryContextSwitchTo(old);
}

/* the next row of the streams into st->cells; false when all have ended */
static bool
read_api_row(BqScanState *st)
{
	for (;;)
	{
		BqsRowBlock block;
		int			reader;
		MemoryContext old;

		if (bq_avro_next_row(st->avro, &st->block, st->cells, st->cell_nulls))
			return true;
		if (st->read_done)
			return false;
		old = MemoryContextSwitchTo(st->read_cxt);
		reader = bqs_readers_next(st->readers, st->nreaders, &block);
		MemoryContextSwitchTo(old);
		if (reader < 0)
		{
			st->read_done = true;
			return false;
		}
		st->read_blocks++;
		st->read_bytes += block.len;
		bq_avro_block_init(&st->block, block.avro_rows, block.len, block.row_count);
	}
}

/* a BigQuery ID as a part of a table path: what the REST API would take */
static bool
valid_path_part(const char *id, bool project)
{
	return id != NULL && id[0] != '\0' &&
		(project ? gcp_valid_project_id(id) : strspn(id, "abcdefghijklmnopqrstuvwxyz"
													 "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
		 == strlen(id));
}

/*
 * The result table of the scan's finished job (jobs.get's
 * configuration.query.destinationTable) as a table path, or NULL when
 * BigQuery names none.
 */
static char *
job_result_table(BqScanState *st)
{
	json_t	   *job;
	json_t	   *dest;
	const char *project;
	const char *dataset;
	const char *table;

	job = gcp_call(st->srv, GCP_BIGQUERY, "GET",
				   gcp_url(st->srv, GCP_BIGQUERY, "projects/%s/jobs/%s%s%s",
						   gcp_url_escape(st->srv->project_id), gcp_url_escape(st->job_id),
						   st->job_location ? "?location=" : "",
						   st->job_location ? gcp_url_escape(st->job_location) : ""),
				   NULL, psprintf("read foreign table \"%s\"", st->relname), NULL, NULL);
	dest = json_object_get(json_object_get(json_object_get(job, "configuration"), "query"),
						   "destinationTable");
	project = json_string_value(json_object_get(dest, "projectId"));
	dataset = json_string_value(json_object_get(dest, "datasetId"));
	table = json_string_value(json_object_get(dest, "tableId"));
	if (!valid_path_part(project, true) || !valid_path_part(dataset, false) ||
		!valid_path_part(table, false))
		return NULL;
	return psprintf("projects/%s/datasets/%s/tables/%s", project, dataset, table);
}

/*
 * A filtered or sorted scan: its job runs as for JSON pages, and when the
 * result is more than its first page, the job's result table is read
 * through a session instead (the first page is dropped, and the page after
 * it, asked for ahead, is not read).
 */
static void
start_job_read(BqScanState *st)
{
	char	   *table;

	st->read_started = true;
	fetch_page(st);
	if (st->last_page)
	{
		/* the page is the whole result: read it as it is */
		fall_back_to_pages(st, "the result fits in one page", false);
		return;
	}
	table = job_result_table(st);
	if (table == NULL)
	{
		/* the rows of the page fetched are read, and the pages after it */
		fall_back_to_pages(st, "BigQuery names no result table for the job", false);
		return;
	}
	MemoryContextReset(st->next_cxt);	/* aborts the prefetch */
	st->next_call = NULL;
	st->rows_left = false;
	start_read_session(st, table);
	/* the pages are not read: JSON paging, if it comes back, starts again */
	st->last_page = st->read_streams > 0;
}

/* the next row's cells, from the read session or the job's pages */
static bool
next_cells(BqScanState *st)
{
	if (st->read_streams > 0 && !st->read_started)
	{
		if (st->read_via_job)
			start_job_read(st);
		else
			start_read_session(st, bqs_table_path(st->srv, st->ref->dataset, st->ref->table));
	}
	if (st->read_streams > 0)
		return read_api_row(st);
	while (!st->started || !next_row(st, st->cells, st->cell_nulls))
	{
		if (st->started && st->last_page)
			return false;
		fetch_page(st);
	}
	return true;
}

/*
 * The next row of the scan into values/isnull (one per column of st->desc;
 * the columns not retrieved are NULL), allocated in the row context, which
 * the next call resets.  False at the end.
 */
bool
bq_scan_next(BqScanState *st, Datum *values, bool *isnull)
{
	MemoryContext old;
	int			cell = 0;

	MemoryContextReset(st->row_cxt);
	old = MemoryContextSwitchTo(st->row_cxt);
	if (!next_cells(st))
	{
		MemoryContextSwitchTo(old);
		return false;
	}

	memset(isnull, true, sizeof(bool) * st->desc->natts);
	for (int i = 0; i < st->nretrieved; i++)
	{
		int			attno = st->retrieved[i] - 1;
		Datum		value = st->cells[cell];
		bool		null = st->cell_nulls[cell++];

		if (!null && st->scales[i] >= 0)
			value = restore_scale(value, st->scales[i]);
		if (st->averages[i] == BQ_COMBINE_AVG)
			value = average(TupleDescAttr(st->desc, attno)->atttypid, value, st->cells[cell++],
							&null);
		else if (st->averages[i] != BQ_COMBINE_NONE)
		{
			value = combine_float(st->averages[i], &st->cells[cell - 1],
								  &st->cell_nulls[cell - 1], &null);
			cell += BQ_COMBINE_CELLS(st->averages[i]) - 1;
		}
		values[attno] = value;
		isnull[attno] = null;
	}
	MemoryContextSwitchTo(old);
	return true;
}

/*
 * bqIterateForeignScan
 *		The next row of the job's result.
 */
TupleTableSlot *
bqIterateForeignScan(ForeignScanState *node)
{
	BqScanState *st = (BqScanState *) node->fdw_state;
	TupleTableSlot *slot = node->ss.ss_ScanTupleSlot;

	ExecClearTuple(slot);
	if (bq_scan_next(st, slot->tts_values, slot->tts_isnull))
		ExecStoreVirtualTuple(slot);
	return slot;
}

/*
 * bqReScanForeignScan
 *		Run the query again; BigQuery's cache answers it at no cost.
 */
void
bqReScanForeignScan(ForeignScanState *node)
{
	BqScanState *st = (BqScanState *) node->fdw_state;

	/* BigQuery's cache answers the same query again at no cost */
	MemoryContextReset(st->page_cxt);
	MemoryContextReset(st->next_cxt);	/* aborts a prefetch */
	st->next_call = NULL;
	st->rows_left = false;
	st->started = false;
	st->last_page = false;
	st->page_token = NULL;
	if (st->read_cxt)
	{
		/* the streams are cancelled with their memory */
		MemoryContextReset(st->read_cxt);
		st->read_started = false;
		st->read_done = false;
		st->session = NULL;
		st->readers = NULL;
		st->nreaders = 0;
		memset(&st->block, 0, sizeof(st->block));
	}
}

/*
 * bqEndForeignScan
 *		Nothing to release beyond the scan's memory.
 */
void
bqEndForeignScan(ForeignScanState *node)
{
	/* the page context goes with the query's; nothing else is held */
}

/*
 * bqExplainForeignScan
 *		Remote SQL, and under ANALYZE the job, its bytes and cache hit.
 */
void
bqExplainForeignScan(ForeignScanState *node, ExplainState *es)
{
	ForeignScan *plan = (ForeignScan *) node->ss.ps.plan;
	BqScanState *st = (BqScanState *) node->fdw_state;
	int			read_streams = intVal(list_nth(plan->fdw_private, BQ_PRIVATE_READ_STREAMS));

	if (es->verbose)
		ExplainPropertyText("Remote SQL", strVal(list_nth(plan->fdw_private, BQ_PRIVATE_SQL)), es);
	if (es->verbose && read_streams > 0)
	{
		ExplainPropertyText("Read Path",
							intVal(list_nth(plan->fdw_private, BQ_PRIVATE_READ_VIA_JOB))
							? "Storage Read API of the job's result" : "Storage Read API", es);
		ExplainPropertyInteger("Read Streams Max", NULL, read_streams, es);
	}
	if (es->analyze && st && st->read_fallback)
		ExplainPropertyText("Read API Fallback", st->read_fallback, es);
	if (es->analyze && st && st->session && st->read_streams > 0)
	{
		ExplainPropertyInteger("Read Streams", NULL, st->session->nstreams, es);
		ExplainPropertyInteger("Read Blocks", NULL, st->read_blocks, es);
		ExplainPropertyInteger("Read Bytes", NULL, st->read_bytes, es);
	}
	bq_explain_dry_run(node, es);
	if (es->analyze && st && st->job_id)
	{
		ExplainPropertyText("BigQuery Job", st->job_id, es);
		ExplainPropertyInteger("Bytes Processed", NULL, st->bytes_processed, es);
		ExplainPropertyBool("Cache Hit", st->cache_hit, es);
	}
}