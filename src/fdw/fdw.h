/*-------------------------------------------------------------------------
 *
 * fdw.h
 *	  bqstream_fdw: BigQuery tables as foreign tables.  Shared by the
 *	  planner/executor callbacks, the remote SQL builder, the cell
 *	  converter and IMPORT FOREIGN SCHEMA.
 *
 *-------------------------------------------------------------------------
 */
#ifndef BQSTREAM_FDW_H
#define BQSTREAM_FDW_H

#include "datatype/timestamp.h"
#include "foreign/foreign.h"
#include "utils/date.h"
#include "nodes/pathnodes.h"
#include "nodes/pg_list.h"
#include "utils/relcache.h"

#include "gcp/client.h"
#include "gcp/jsonscan.h"

/* rows per page unless the table or server says otherwise */
#define BQ_DEFAULT_FETCH_SIZE 10000

/* Where a foreign table's rows come from. */
typedef struct BqTableRef
{
	char	   *dataset;
	char	   *table;
	int			fetch_size;
} BqTableRef;

extern BqTableRef *bq_table_ref(ForeignTable *ft, const GcpServer *srv);

/* BigQuery column name of an attribute (column_name option, else attname) */
extern char *bq_column_name(Relation rel, AttrNumber attnum);

/* Back-quoted identifier path; raises an ERROR for names needing escapes. */
extern void bq_append_identifier(StringInfo buf, const char *name);

/* BigQuery type of a result column, as far as conversion cares */
typedef enum BqCellType
{
	BQC_TEXT,					/* handed to the column type's input function */
	BQC_TIMESTAMP_MICROS,		/* int64 microseconds since the Unix epoch */
	BQC_BYTES,					/* base64 */
	BQC_UNSUPPORTED				/* RECORD, REPEATED: not converted yet */
} BqCellType;

extern BqCellType bq_cell_type(const char *type, const char *mode);

/* One result column's conversion, prepared at the first page. */
typedef struct BqConverter
{
	const char *colname;
	const char *bq_type;
	BqCellType	cell;
	Oid			pg_type;
	int32		typmod;
	FmgrInfo	input;
	Oid			ioparam;
} BqConverter;

extern void bq_converter_init(BqConverter *conv, const char *colname, const char *bq_type,
							  const char *mode, Oid pg_type, int32 typmod);
extern Datum bq_convert_cell(BqConverter *conv, const JsonToken *tok, StringInfo scratch,
							 bool *isnull);

/* deparse.c: the WHERE clauses BigQuery evaluates, as typed parameters */
extern const char *bq_param_type(Oid type);
extern bool bq_is_pushable(RelOptInfo *baserel, Relation rel, Expr *clause);
extern void bq_deparse_where(StringInfo buf, RelOptInfo *baserel, Relation rel,
							 List *clauses, List **params);
extern bool bq_pathkeys_pushable(RelOptInfo *baserel, Relation rel, List *pathkeys);
extern void bq_deparse_order_by(StringInfo buf, RelOptInfo *baserel, Relation rel,
								List *pathkeys);

/* DATE and TIMESTAMP (UTC offset for TIMESTAMP, none for DATETIME) as BigQuery reads them */
extern char *bq_date_text(DateADT d);
extern char *bq_timestamp_text(Timestamp ts, bool utc_offset);

/* PostgreSQL type name for a BigQuery column, NULL when none fits */
extern const char *bq_pg_type_for(const char *type, const char *mode);

#endif							/* BQSTREAM_FDW_H */
