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

/*
 * BigQuery's column types, each under its GoogleSQL name and its legacy
 * alias (INT64 and INTEGER...), as tables.get and query schemas name them.
 */
typedef enum BqType
{
	BQ_TYPE_UNKNOWN,
	BQ_TYPE_STRING,
	BQ_TYPE_INT64,
	BQ_TYPE_FLOAT64,
	BQ_TYPE_NUMERIC,
	BQ_TYPE_BIGNUMERIC,
	BQ_TYPE_BOOL,
	BQ_TYPE_TIMESTAMP,
	BQ_TYPE_DATETIME,
	BQ_TYPE_DATE,
	BQ_TYPE_TIME,
	BQ_TYPE_BYTES,
	BQ_TYPE_JSON,
	BQ_TYPE_GEOGRAPHY,
	BQ_TYPE_INTERVAL,
	BQ_TYPE_RANGE,				/* its PostgreSQL type depends on its element's */
	BQ_TYPE_RECORD				/* also STRUCT */
} BqType;

/* The type a schema names (NULL or unknown: BQ_TYPE_UNKNOWN). */
extern BqType bq_type_from_name(const char *name);

/*
 * The PostgreSQL type a column of that type maps to, by name as
 * format_type() writes it ("timestamp with time zone"); NULL for RANGE,
 * RECORD and unknown types, which have no one type.
 */
extern const char *bq_type_pg_name(BqType type);

/*
 * The fields of a tables.get resource's schema (borrowed from it); an ERROR
 * when it has none, as a view being defined or an external table may.
 */
extern json_t *bq_table_schema_fields(json_t *table, const char *table_name);

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

/*
 * A row an insertAll answer lists in insertErrors: its index in the request
 * and the first of its errors.  The strings point into the answer.
 */
typedef struct BqInsertError
{
	int			row;
	const char *reason;			/* "invalid", "stopped", "timeout"...; or NULL */
	const char *message;		/* or NULL */
	const char *location;		/* the field at fault, or NULL */
} BqInsertError;

/*
 * The refused rows of an insertAll answer, in its order, those whose index
 * is not one of the request's nrows rows left out; their number is
 * returned, the array (palloc'd, NULL when none) set in *errors.
 */
extern int	bq_insert_errors(json_t *resp, int nrows, BqInsertError **errors);

/*
 * Was the row refused for what it holds ("invalid", or no reason at all)?
 * Then it is refused every time; the other reasons ("stopped" for a row
 * held back because another one failed, "timeout", "backendError") are no
 * fault of the row's and another try may store it.
 */
extern bool bq_insert_error_is_row_fault(const BqInsertError *error);

/*
 * Jobs (the FDW's queries and DML).  A job that BigQuery failed for its rate
 * (jobRateLimitExceeded) did not run: it is run again, as Google's clients
 * do, with a new requestId (the old one would return the failed job), after
 * a backoff from 1 s doubling, at most BQ_JOB_RERUNS_MAX times.
 */
#define BQ_JOB_RERUNS_MAX		5

/* a random UUID (version 4) for requestId, as Google's clients make */
extern char *bq_new_request_id(void);

/* was the failed answer BigQuery's jobRateLimitExceeded? */
extern bool bq_job_failed_for_rate(const GcpHttpResult *res);

/* the backoff before rerun number "reruns" (from 0); interrupts are served */
extern void bq_wait_to_rerun_job(int reruns, const char *relname);

/* ask BigQuery to stop a job: best effort, briefly, never an error */
extern void bq_cancel_job(const GcpServer *srv, const char *job_id, const char *location);

#endif							/* GCP_BIGQUERY_H */
