/*-------------------------------------------------------------------------
 *
 * validate.h
 *	  Validation of Pub/Sub message payloads against a BigQuery table's
 *	  schema and the data-quality rules of orders.
 *
 *-------------------------------------------------------------------------
 */
#ifndef BQSTREAM_VALIDATE_H
#define BQSTREAM_VALIDATE_H

#include "datatype/timestamp.h"
#include "gcp/gcp_json.h"
#include "lib/stringinfo.h"
#include "worker/worker.h"

typedef enum BqFieldType
{
	BQT_STRING,
	BQT_INT64,
	BQT_FLOAT64,				/* also NUMERIC and BIGNUMERIC: a JSON number */
	BQT_BOOL,
	BQT_TIMESTAMP,
	BQT_OTHER					/* passed through; BigQuery judges */
} BqFieldType;

typedef struct BqField
{
	char	   *name;
	size_t		name_len;
	BqFieldType type;
	bool		required;
	/* the order rules, decided once from the name */
	bool		is_id;			/* *_id: non-empty, bounded */
	bool		is_amount;		/* not negative, finite */
	bool		is_event_time;	/* late-event accounting */
} BqField;

typedef struct TableSchema
{
	int			nfields;
	BqField    *fields;
	/* scratch space of validate_payload(), to allocate nothing per message */
	bool	   *seen;
	StringInfo	scratch;
} TableSchema;

typedef struct ValidationRules
{
	int64		max_future_skew_us; /* event_time at most this far ahead of now */
	int			max_id_length;
} ValidationRules;

/* Outcome of one message. */
typedef struct Verdict
{
	int			reason;			/* DeadLetterReason, or -1 when valid */
	char	   *detail;			/* why, for the dead-letter row */
	TimestampTz event_time;		/* 0 when the row has none */
} Verdict;

/* From a tables.get resource; raises an ERROR when it has no usable schema. */
extern TableSchema *schema_from_table(json_t *table, const char *table_name);

extern void validate_payload(const TableSchema *schema, const ValidationRules *rules,
							 const char *data, size_t len, TimestampTz now,
							 Verdict *verdict);

/* RFC 3339 (or BigQuery's canonical) timestamp; false when not one */
extern bool parse_timestamp(const char *s, size_t len, TimestampTz *result);

#endif							/* BQSTREAM_VALIDATE_H */
