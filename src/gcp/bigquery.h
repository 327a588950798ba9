/*-------------------------------------------------------------------------
 *
 * bigquery.h
 *	  BigQuery v2 REST client: datasets, tables, materialized views.
 *
 *-------------------------------------------------------------------------
 */
#ifndef GCP_BIGQUERY_H
#define GCP_BIGQUERY_H

#include "gcp/client.h"

/* Raise an ERROR unless "id" is a valid dataset or table ID. */
extern void bq_check_id(const char *kind, const char *id);

/* {"fields":[...]} of raw_orders (new reference) */
extern json_t *bq_raw_orders_schema(void);

/* Create or delete; return false (after a NOTICE) when nothing had to be done. */
extern bool bq_create_dataset(const GcpServer *srv, const char *dataset);
extern bool bq_delete_dataset(const GcpServer *srv, const char *dataset, bool cascade);
extern bool bq_create_raw_orders(const GcpServer *srv, const char *dataset,
								 const char *table);
extern bool bq_create_orders_per_minute(const GcpServer *srv, const char *dataset,
										const char *view, const char *source_table);
extern bool bq_delete_table(const GcpServer *srv, const char *dataset, const char *table);

#endif							/* GCP_BIGQUERY_H */
