/*-------------------------------------------------------------------------
 *
 * bigquery.c
 *	  BigQuery v2 REST client: datasets, the raw_orders table and the
 *	  orders_per_minute materialized view.
 *
 * IDs are validated against BigQuery's character sets before they are put
 * into a URL or a query: a materialized view's query cannot take query
 * parameters, so the table it reads is named in its text, back-quoted, and
 * only names that need no escaping are accepted.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "gcp/bigquery.h"
#include "gcp/options.h"

/* dataset and table IDs: letters, digits and underscores, at most 1024 */
void
bq_check_id(const char *kind, const char *id)
{
	size_t		len = strlen(id);
	bool		ok = len >= 1 && len <= 1024;

	for (const char *p = id; ok && *p; p++)
		ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			(*p >= '0' && *p <= '9') || *p == '_';
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("invalid BigQuery %s ID \"%s\"", kind, id),
				 errdetail("An ID has 1 to 1024 letters, digits or underscores.")));
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
