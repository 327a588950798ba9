/*-------------------------------------------------------------------------
 *
 * avro.h
 *	  Avro binary rows of the BigQuery Storage Read API decoded straight
 *	  into the Datums of a foreign scan's columns (avro.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef BQSTREAM_FDW_AVRO_H
#define BQSTREAM_FDW_AVRO_H

#include "fdw/fdw.h"

/* One column the scan reads: its BigQuery name and where its value goes. */
typedef struct BqAvroColumn
{
	const char *bq_name;		/* the field of the session's schema */
	const char *colname;		/* the PostgreSQL column, for messages */
	int			index;			/* into the values/isnull arrays */
	Oid			pg_type;
	int32		typmod;
} BqAvroColumn;

/* the session's schema compiled for the scan's columns */
typedef struct BqAvroPlan BqAvroPlan;

/* the read position in one ReadRows block */
typedef struct BqAvroBlock
{
	const uint8 *p;
	const uint8 *end;
	int64		rows_left;		/* the block's row_count, less those decoded */
} BqAvroBlock;

/* longest Avro schema text accepted (jansson also bounds its depth) */
#define BQ_AVRO_MAX_SCHEMA_BYTES	(1024 * 1024)

/*
 * Compile the read session's Avro schema (JSON text of a record with one
 * field per selected column) for "columns", in the current memory context.
 * NULL, with *why set, when a column has a type this path does not decode
 * (RECORD, RANGE): the caller reads through JSON paging
 * instead.  A schema that is not what BigQuery sends, or a column type the
 * JSON path refuses too, raises an ERROR.
 */
extern BqAvroPlan *bq_avro_plan_create(const char *schema, size_t len,
									   const BqAvroColumn *columns, int ncolumns,
									   const char **why);

/* start reading a block of row_count rows (serialized_binary_rows) */
extern void bq_avro_block_init(BqAvroBlock *block, const uint8 *data, size_t len,
							   int64 row_count);

/*
 * The block's next row into values/isnull at the columns' indexes, the
 * values allocated in the current memory context; false at the block's
 * end.  Bytes that are not row_count rows of the schema raise an ERROR.
 */
extern bool bq_avro_next_row(BqAvroPlan *plan, BqAvroBlock *block,
							 Datum *values, bool *isnull);

#endif							/* BQSTREAM_FDW_AVRO_H */
