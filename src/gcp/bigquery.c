/*-------------------------------------------------------------------------
 *
 * bigquery.c
 *	  BigQuery v2 REST client: datasets, the raw_orders table and the
 *	  orders_per_minute materialized view; what the pipelines and the FDW
 *	  share about BigQuery: the ID check, the type names, the reading
 *	  of insertAll's insertErrors, and the FDW's job helpers (requestId,
 *	  cancel, rerun after jobRateLimitExceeded).
 *
 * IDs are validated against BigQuery's character sets before they are put
 * into a URL or a query: a materialized view's query cannot take query
 * parameters, so the table it reads is named in its text, back-quoted, and
 * only names that need no escaping are accepted.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "gcp/gcp_json.h"

#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/wait_event.h"

#include "gcp/bigquery.h"
#include "gcp/options.h"

/* dataset and table IDs ("kind" says which): see gcp_valid_bq_id() */
void
bq_check_id(const char *kind, const char *id)
{
	if (gcp_valid_bq_id(id))
		return;
	/* one whole message each, for translators */
	if (strcmp(kind, "dataset") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("invalid BigQuery dataset ID \"%s\"", id),
				 errdetail("An ID has 1 to 1024 letters, digits or underscores.")));
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("invalid BigQuery table ID \"%s\"", id),
				 errdetail("An ID has 1 to 1024 letters, digits or underscores.")));
}

/* BigQuery's type names, legacy aliases too, and their PostgreSQL types */
static const struct
{
	const char *name;
	BqType		type;
	const char *pg_name;
}			bq_types[] = {
	{"STRING", BQ_TYPE_STRING, "text"},
	{"INT64", BQ_TYPE_INT64, "bigint"},
	{"INTEGER", BQ_TYPE_INT64, "bigint"},
	{"FLOAT64", BQ_TYPE_FLOAT64, "double precision"},
	{"FLOAT", BQ_TYPE_FLOAT64, "double precision"},
	{"NUMERIC", BQ_TYPE_NUMERIC, "numeric"},
	{"BIGNUMERIC", BQ_TYPE_BIGNUMERIC, "numeric"},
	{"BOOL", BQ_TYPE_BOOL, "boolean"},
	{"BOOLEAN", BQ_TYPE_BOOL, "boolean"},
	{"TIMESTAMP", BQ_TYPE_TIMESTAMP, "timestamp with time zone"},
	{"DATETIME", BQ_TYPE_DATETIME, "timestamp without time zone"},
	{"DATE", BQ_TYPE_DATE, "date"},
	{"TIME", BQ_TYPE_TIME, "time without time zone"},
	{"BYTES", BQ_TYPE_BYTES, "bytea"},
	{"JSON", BQ_TYPE_JSON, "jsonb"},
	/* WKT text: PostGIS is not assumed */
	{"GEOGRAPHY", BQ_TYPE_GEOGRAPHY, "text"},
	{"INTERVAL", BQ_TYPE_INTERVAL, "interval"},
	{"RANGE", BQ_TYPE_RANGE, NULL},
	{"RECORD", BQ_TYPE_RECORD, NULL},
	{"STRUCT", BQ_TYPE_RECORD, NULL},
};

BqType
bq_type_from_name(const char *name)
{
	if (name == NULL)
		return BQ_TYPE_UNKNOWN;
	for (int i = 0; i < lengthof(bq_types); i++)
		if (strcmp(bq_types[i].name, name) == 0)
			return bq_types[i].type;
	return BQ_TYPE_UNKNOWN;
}

const char *
bq_type_pg_name(BqType type)
{
	for (int i = 0; i < lengthof(bq_types); i++)
		if (bq_types[i].type == type)
			return bq_types[i].pg_name;
	return NULL;
}

static char *
table_url(const GcpServer *srv, const char *dataset, const char *table)
{
	return gcp_url(srv, GCP_BIGQUERY, "projects/%s/datasets/%s/tables%s%s",
				   gcp_url_escape(srv->project_id), dataset,
				   table ? "/" : "", table ? table : "");
}

static json_t *
table_reference(const GcpServer *srv, const char *dataset, const char *table)
{
	return json_pack("{s:s, s:s, s:s}", "projectId", srv->project_id,
					 "datasetId", dataset, "tableId", table);
}

/* POST a table resource; false after a NOTICE when it already exists */
static bool
insert_table(const GcpServer *srv, const char *dataset, const char *table,
			 const char *kind, json_t *resource)
{
	return gcp_call_unless(srv, GCP_BIGQUERY, "POST", table_url(srv, dataset, NULL), resource,
						   psprintf("create %s \"%s.%s\"", kind, dataset, table), 409,
						   psprintf("%s \"%s.%s\" already exists, skipping", kind, dataset, table));
}

bool
bq_create_dataset(const GcpServer *srv, const char *dataset)
{
	json_t	   *body;

	bq_check_id("dataset", dataset);
	body = gcp_json_track(json_pack("{s:{s:s, s:s}}",
									"datasetReference",
									"projectId", srv->project_id,
									"datasetId", dataset));
	/* without one, BigQuery creates the dataset in the US multi-region */
	if (srv->location)
		json_object_set_new(body, "location", json_string(srv->location));
	return gcp_call_unless(srv, GCP_BIGQUERY, "POST",
						   gcp_url(srv, GCP_BIGQUERY, "projects/%s/datasets",
								   gcp_url_escape(srv->project_id)),
						   body, psprintf("create dataset \"%s\"", dataset), 409,
						   psprintf("dataset \"%s\" already exists, skipping", dataset));
}

bool
bq_delete_dataset(const GcpServer *srv, const char *dataset, bool cascade)
{
	bq_check_id("dataset", dataset);
	return gcp_call_unless(srv, GCP_BIGQUERY, "DELETE",
						   gcp_url(srv, GCP_BIGQUERY, "projects/%s/datasets/%s%s",
								   gcp_url_escape(srv->project_id), dataset,
								   cascade ? "?deleteContents=true" : ""),
						   NULL, psprintf("drop dataset \"%s\"", dataset), 404,
						   psprintf("dataset \"%s\" does not exist, skipping", dataset));
}

/*
 * raw_orders: one row per accepted order.  Daily partitions by event time
 * keep time-range queries cheap; clustering by product serves the
 * per-product aggregates.
 */
json_t *
bq_table_schema_fields(json_t *table, const char *table_name)
{
	json_t	   *fields = json_object_get(json_object_get(table, "schema"), "fields");

	if (!json_is_array(fields) || json_array_size(fields) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_SCHEMA_NOT_FOUND),
				 errmsg("BigQuery table \"%s\" has no schema", table_name)));
	return fields;
}

json_t *
bq_raw_orders_schema(void)
{
	return json_pack("{s:[{s:s,s:s,s:s}, {s:s,s:s,s:s}, {s:s,s:s,s:s}, {s:s,s:s,s:s}, {s:s,s:s,s:s}]}",
					 "fields",
					 "name", "order_id", "type", "STRING", "mode", "REQUIRED",
					 "name", "user_id", "type", "STRING", "mode", "REQUIRED",
					 "name", "product_id", "type", "STRING", "mode", "REQUIRED",
					 "name", "amount", "type", "FLOAT64", "mode", "REQUIRED",
					 "name", "event_time", "type", "TIMESTAMP", "mode", "REQUIRED");
}

bool
bq_create_raw_orders(const GcpServer *srv, const char *dataset, const char *table)
{
	json_t	   *resource;

	bq_check_id("dataset", dataset);
	bq_check_id("table", table);
	resource = gcp_json_track(json_pack("{s:o, s:s, s:o, s:{s:s, s:s}, s:{s:[s]}}",
										"tableReference", table_reference(srv, dataset, table),
										"description", "Orders streamed from Pub/Sub by bqstream",
										"schema", bq_raw_orders_schema(),
										"timePartitioning", "type", "DAY", "field", "event_time",
										"clustering", "fields", "product_id"));
	return insert_table(srv, dataset, table, "table", resource);
}

/*
 * orders_per_minute: orders and revenue per product per minute of event
 * time.  COUNT and SUM keep it incrementally maintainable, and its
 * partitioning follows the base table's, as BigQuery requires.
 */
bool
bq_create_orders_per_minute(const GcpServer *srv, const char *dataset,
							const char *view, const char *source_table)
{
	json_t	   *resource;
	char	   *query;

	bq_check_id("dataset", dataset);
	bq_check_id("table", view);
	bq_check_id("table", source_table);

	/*
	 * The path is written back-quoted into the query text, so none of its
	 * parts may hold a back-quote, a backslash or a line break.  The project
	 * ID is checked again here, whole, because it may come from
	 * GOOGLE_CLOUD_PROJECT rather than through the option validator.
	 */
	if (!gcp_valid_project_id(srv->project_id))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("invalid GCP project ID \"%s\"", srv->project_id),
				 errdetail("%s", GCP_PROJECT_ID_EXPECTED)));
	query = psprintf("SELECT product_id, TIMESTAMP_TRUNC(event_time, MINUTE) AS order_minute, "
					 "COUNT(*) AS order_count, SUM(amount) AS revenue "
					 "FROM `%s.%s.%s` "
					 "GROUP BY product_id, order_minute",
					 srv->project_id, dataset, source_table);
	resource = gcp_json_track(json_pack("{s:o, s:s, s:{s:s, s:b, s:s}, s:{s:s, s:s}, s:{s:[s]}}",
										"tableReference", table_reference(srv, dataset, view),
										"description", "Orders and revenue per product per minute",
										"materializedView",
										"query", query,
										"enableRefresh", 1,
										"refreshIntervalMs", "60000",
										"timePartitioning", "type", "DAY", "field", "order_minute",
										"clustering", "fields", "product_id"));
	return insert_table(srv, dataset, view, "materialized view", resource);
}

bool
bq_delete_table(const GcpServer *srv, const char *dataset, const char *table)
{
	bq_check_id("dataset", dataset);
	bq_check_id("table", table);
	return gcp_call_unless(srv, GCP_BIGQUERY, "DELETE", table_url(srv, dataset, table), NULL,
						   psprintf("drop table \"%s.%s\"", dataset, table), 404,
						   psprintf("table \"%s.%s\" does not exist, skipping", dataset, table));
}

int
bq_insert_errors(json_t *resp, int nrows, BqInsertError **errors)
{
	json_t	   *list = json_object_get(resp, "insertErrors");
	size_t		i;
	json_t	   *e;
	int			n = 0;

	*errors = NULL;
	if (!json_is_array(list) || json_array_size(list) == 0)
		return 0;
	*errors = palloc(sizeof(BqInsertError) * json_array_size(list));
	json_array_foreach(list, i, e)
	{
		json_t	   *index = json_object_get(e, "index");
		json_t	   *first = json_array_get(json_object_get(e, "errors"), 0);
		json_int_t	row = json_is_integer(index) ? json_integer_value(index) : -1;
		BqInsertError *out;

		if (row < 0 || row >= nrows)
			continue;
		out = &(*errors)[n++];
		out->row = (int) row;
		out->reason = json_string_value(json_object_get(first, "reason"));
		out->message = json_string_value(json_object_get(first, "message"));
		out->location = json_string_value(json_object_get(first, "location"));
	}
	return n;
}

bool
bq_insert_error_is_row_fault(const BqInsertError *error)
{
	return error->reason == NULL || strcmp(error->reason, "invalid") == 0;
}

#define JOB_RERUN_FIRST_MS	1000
#define CANCEL_DEADLINE_MS	2000

char *
bq_new_request_id(void)
{
	uint8		b[16];

	if (!pg_strong_random(b, sizeof(b)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random request ID")));
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	return psprintf("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
					b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
					b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

bool
bq_job_failed_for_rate(const GcpHttpResult *res)
{
	json_t	   *root;
	const char *reason = NULL;
	bool		rate;

	if (res->status == 0)
		return false;
	root = gcp_http_parse_json_quiet(res->body, res->body_len);
	rate = root != NULL &&
		gcp_http_google_error(root, res->status, NULL, NULL, &reason) &&
		reason != NULL && strcmp(reason, "jobRateLimitExceeded") == 0;
	json_decref(root);
	return rate;
}

void
bq_wait_to_rerun_job(int reruns, const char *relname)
{
	long		delay = (long) JOB_RERUN_FIRST_MS << reruns;

	ereport(DEBUG1,
			(errmsg_internal("bqstream_fdw: BigQuery failed the job of \"%s\" for its rate, running it again in %ld ms",
							 relname, delay)));
	(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					 delay, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();
}

void
bq_cancel_job(const GcpServer *srv, const char *job_id, const char *location)
{
	GcpHttpRequest req;

	if (job_id == NULL)
		return;
	gcp_request_init(&req, srv, GCP_BIGQUERY, "POST",
					 gcp_url(srv, GCP_BIGQUERY, "projects/%s/jobs/%s/cancel%s%s",
							 gcp_url_escape(srv->project_id), gcp_url_escape(job_id),
							 location ? "?location=" : "", location ? gcp_url_escape(location) : ""),
					 "", 0);
	req.retry = false;
	req.deadline_ms = CANCEL_DEADLINE_MS;
	gcp_http_free(gcp_http_run(&req));
}
