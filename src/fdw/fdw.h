/*-------------------------------------------------------------------------
 *
 * fdw.h
 *	  bqstream_fdw: BigQuery tables as foreign tables.  Every callback's
 *	  prototype, and what the planner (plan.c), the remote SQL builder
 *	  (deparse.c), the executor (scan.c), the cell converter (convert.c),
 *	  ANALYZE, INSERT and IMPORT FOREIGN SCHEMA share.  fdw.c says which
 *	  file owns what.
 *
 *-------------------------------------------------------------------------
 */
#ifndef BQSTREAM_FDW_H
#define BQSTREAM_FDW_H

#include "commands/explain.h"
#include "datatype/timestamp.h"
#include "foreign/fdwapi.h"
#include "foreign/foreign.h"
#include "utils/date.h"
#include "nodes/pathnodes.h"
#include "nodes/pg_list.h"
#include "utils/relcache.h"

#include "gcp/client.h"
#include "gcp/jsonscan.h"

/*
 * Rows per page and per insertAll (BigQuery advises about 500), unless the
 * table or server says otherwise.
 */
#define BQ_DEFAULT_FETCH_SIZE 10000
#define BQ_DEFAULT_BATCH_SIZE 500

/*
 * The Storage Read API (option read_api): 'auto' reads a whole table
 * through it when the planner expects more than BQ_READ_API_MIN_ROWS rows
 * (below that, a job's first page costs less than a read session), 'on'
 * whenever the scan can, 'off' never.  Streams read at once: read_streams.
 */
typedef enum BqReadApi
{
	BQ_READ_API_AUTO,
	BQ_READ_API_ON,
	BQ_READ_API_OFF
} BqReadApi;

#define BQ_READ_API_MIN_ROWS	10000
#define BQ_DEFAULT_READ_STREAMS 4

/*
 * Where a foreign table's rows come from, and how it is queried: a table
 * option, else the server's, else the default.
 */
typedef struct BqTableRef
{
	char	   *dataset;
	char	   *table;			/* NULL when the source is a query */
	char	   *query;
	char	   *location;		/* NULL: BigQuery infers it from the tables */
	int			fetch_size;
	char	   *maximum_bytes_billed;	/* NULL: no limit */
	int			use_query_cache;	/* -1: BigQuery's default */
	int			timeout_ms;		/* 0: none */
	BqReadApi	read_api;
	int			read_streams;
} BqTableRef;

extern BqTableRef *bq_table_ref(ForeignTable *ft, const GcpServer *srv);

/* a foreign table's option, else its server's; NULL when neither has it */
extern char *bq_table_option(ForeignTable *ft, const char *name);

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
	BQC_REPEATED,				/* an array of {"v": element} */
	BQC_RECORD,					/* {"f": [{"v": field}, ...]} into a composite */
	BQC_JSON,					/* any value rendered as JSON, into json/jsonb/text */
	BQC_INTERVAL,				/* '[-]Y-M [-]D [-]H:M:S[.F]' into interval */
	BQC_RANGE,					/* '[start, end)' into a range type */
	BQC_UNSUPPORTED				/* a BigQuery type bqstream_fdw does not know */
} BqCellType;

extern BqCellType bq_cell_type(const char *type, const char *mode);

/* One result column's conversion, prepared at the first page. */
typedef struct BqConverter
{
	const char *colname;		/* for messages: "col" or "col.field.field" */
	const char *bq_type;
	BqCellType	cell;
	Oid			pg_type;
	int32		typmod;
	FmgrInfo	input;
	Oid			ioparam;
	/* REPEATED: how each element converts, and the element type's layout */
	struct BqConverter *element;
	int16		elmlen;
	bool		elmbyval;
	char		elmalign;
	/* RECORD: its fields in BigQuery's order (BQC_JSON: their shapes) */
	int			nfields;
	struct BqConverter *fields;
	const char **field_names;
	int		   *attnums;		/* BQC_RECORD: each field's attribute index */
	TupleDesc	tupdesc;
	/* BQC_JSON: the BigQuery value is an array of bq_type (REPEATED) */
	bool		repeated;
	/* BQC_RANGE: the range type and how each bound converts */
	struct TypeCacheEntry *range_type;
	struct BqConverter *bound;
} BqConverter;

/*
 * A converter from a column's schema field (its "type", "mode", nested
 * "fields" and "rangeElementType") into a PostgreSQL type.  The older entry
 * point takes the type and mode alone and so cannot convert RECORDs.
 */
extern void bq_converter_init_field(BqConverter *conv, const char *colname, json_t *field,
									Oid pg_type, int32 typmod);
extern void bq_converter_init(BqConverter *conv, const char *colname, const char *bq_type,
							  const char *mode, Oid pg_type, int32 typmod);
extern Datum bq_convert_cell(BqConverter *conv, const JsToken *tok, StringInfo scratch,
							 bool *isnull);
extern Datum bq_convert_repeated(BqConverter *conv, JsonScan *s, StringInfo scratch);

/*
 * Any cell: *tok is what js_value() has just read for its "v" (an object or
 * array already entered, which this consumes).
 */
extern Datum bq_convert_value(BqConverter *conv, JsonScan *s, const JsToken *tok,
							  StringInfo scratch, bool *isnull);

/* deparse.c: what BigQuery evaluates, with values as typed parameters */
typedef enum BqParamKind
{
	BQP_VALUE,					/* the expression's value */
	BQP_ARRAY,					/* an array's elements but its NULLs */
	BQP_ARRAY_HAS_NULL			/* whether the array is or holds NULL */
} BqParamKind;

typedef struct BqParam
{
	Expr	   *expr;
	BqParamKind kind;
} BqParam;

/*
 * How a column of an aggregate query is made of BigQuery's cells (its
 * entry of BQ_PRIVATE_AVERAGES): the aggregates whose PostgreSQL result is
 * put together here from several BigQuery aggregates.
 */
typedef enum BqCombine
{
	BQ_COMBINE_NONE,			/* one cell, as is */
	BQ_COMBINE_AVG,				/* SUM, COUNT: divided here */
	BQ_COMBINE_FLOAT_SUM,		/* finite SUM, NaN, +Inf and -Inf counts,
								 * whether all are -0 */
	BQ_COMBINE_FLOAT_AVG		/* finite SUM, COUNT, NaN, +Inf and -Inf
								 * counts, largest finite magnitude */
} BqCombine;

/* BigQuery cells of a column combined so */
#define BQ_COMBINE_CELLS(c) \
	((c) == BQ_COMBINE_NONE ? 1 : (c) == BQ_COMBINE_AVG ? 2 : \
	 (c) == BQ_COMBINE_FLOAT_SUM ? 5 : 6)

extern const char *bq_param_type(Oid type);
extern char *bq_float8_param_text(double value);
extern bool bq_is_pushable(RelOptInfo *scanrel, Relation rel, Expr *clause, bool upper);
extern bool bq_is_pushable_operand(RelOptInfo *scanrel, Relation rel, Expr *expr, bool upper);
extern bool bq_is_pushable_aggregate(RelOptInfo *scanrel, Relation rel, Aggref *agg);
extern void bq_deparse_where(StringInfo buf, const char *keyword, RelOptInfo *scanrel,
							 Relation rel, List *clauses, bool upper, List **params);
extern BqCombine bq_deparse_select_item(StringInfo buf, RelOptInfo *scanrel, Relation rel,
										 Expr *expr, List **params, const char *alias,
										 int position);
extern int	bq_select_item_scale(Expr *expr);
extern bool bq_pathkeys_pushable(RelOptInfo *scanrel, Relation rel, List *pathkeys,
								 List *candidates);
extern void bq_deparse_order_by(StringInfo buf, RelOptInfo *scanrel, Relation rel,
								List *pathkeys, List *candidates, List *positions,
								List **params);

/* dml.c: UPDATE and DELETE */
extern List *bq_key_columns(Relation rel);
extern int	bqIsForeignRelUpdatable(Relation rel);
extern void bqAddForeignUpdateTargets(PlannerInfo *root, Index rtindex,
									  RangeTblEntry *target_rte, Relation target_relation);
extern bool bqPlanDirectModify(PlannerInfo *root, ModifyTable *plan, Index resultRelation,
							   int subplan_index);
extern void bqBeginDirectModify(ForeignScanState *node, int eflags);
extern TupleTableSlot *bqIterateDirectModify(ForeignScanState *node);
extern void bqEndDirectModify(ForeignScanState *node);
extern void bqExplainDirectModify(ForeignScanState *node, ExplainState *es);
extern List *bq_plan_keyed_modify(PlannerInfo *root, ModifyTable *plan, Index resultRelation,
								  int subplan_index);
extern void bq_begin_keyed_modify(ModifyTableState *mtstate, ResultRelInfo *rinfo,
								  List *fdw_private, int subplan_index, int eflags);
extern void bq_end_keyed_modify(EState *estate, ResultRelInfo *rinfo);
extern TupleTableSlot *bqExecForeignUpdate(EState *estate, ResultRelInfo *rinfo,
										   TupleTableSlot *slot, TupleTableSlot *planSlot);
extern TupleTableSlot *bqExecForeignDelete(EState *estate, ResultRelInfo *rinfo,
										   TupleTableSlot *slot, TupleTableSlot *planSlot);
extern void bqExplainForeignModify(ModifyTableState *mtstate, ResultRelInfo *rinfo,
								   List *fdw_private, int subplan_index,
								   ExplainState *es);

/* DATE and TIMESTAMP (UTC offset for TIMESTAMP, none for DATETIME) as BigQuery reads them */
extern char *bq_date_text(DateADT d);
extern char *bq_timestamp_text(Timestamp ts, bool utc_offset);

/*
 * insert_json.c, for INSERT: a value of a type BigQuery reads differently
 * from PostgreSQL's text (interval, ranges, composites, PostGIS) in
 * insertAll's JSON; false, appending nothing, for the other types.
 */
extern bool bq_append_insert_special(StringInfo buf, Oid type, Datum value);
extern void bq_append_insert_scalar(StringInfo buf, Oid type, FmgrInfo *out, Datum value);
extern void bq_append_json_text(StringInfo buf, const char *text);

/* PostgreSQL type name for a BigQuery column, NULL when none fits */
extern const char *bq_pg_type_for(const char *type, const char *mode);
extern const char *bq_pg_type_for_field(json_t *field);

/* fdw.c */
extern bool bq_enable_pushdown;
extern void bq_fdw_define_gucs(void);

/* table.c */
extern GcpServer *bq_server_of(Oid relid, Oid userid, int flags);
extern int	bq_batch_size(Oid relid);

/* plan.c */
extern void bqGetForeignRelSize(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid);
extern void bqGetForeignPaths(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid);
extern void bqGetForeignUpperPaths(PlannerInfo *root, UpperRelationKind stage,
								   RelOptInfo *input_rel, RelOptInfo *output_rel, void *extra);
extern ForeignScan *bqGetForeignPlan(PlannerInfo *root, RelOptInfo *foreignrel,
									 Oid foreigntableid, ForeignPath *best_path, List *tlist,
									 List *scan_clauses, Plan *outer_plan);
extern void bqGetForeignJoinPaths(PlannerInfo *root, RelOptInfo *joinrel, RelOptInfo *outerrel,
								  RelOptInfo *innerrel, JoinType jointype,
								  JoinPathExtraData *extra);
extern Oid	bq_join_member_relid(RelOptInfo *joinrel, Index varno);
extern double bq_remote_row_count(Oid relid, Oid userid, double *row_bytes);
extern bool bq_remote_is_table(Oid relid, Oid userid);
extern void bq_forget_row_count(Oid relid);

/* What the executor needs of a plan, in ForeignScan.fdw_private. */
enum BqPlanPrivate
{
	BQ_PRIVATE_SQL,				/* the remote query */
	BQ_PRIVATE_RETRIEVED,		/* scan slot attnums, in select list order */
	BQ_PRIVATE_AVERAGES,		/* per retrieved column: its BqCombine */
	BQ_PRIVATE_SCALES,			/* per retrieved column: numeric scale, or -1 */
	BQ_PRIVATE_RELID,			/* the foreign table */
	BQ_PRIVATE_PARAM_KINDS,		/* per fdw_exprs entry: BqParamKind */
	BQ_PRIVATE_READ_STREAMS,	/* Storage Read API streams at most; 0: JSON pages */
	BQ_PRIVATE_READ_FIELDS,		/* with it: BigQuery name of each retrieved column */
	BQ_PRIVATE_READ_VIA_JOB		/* with it: 1 to read the job's result table */
};

typedef struct BqRemoteQuery
{
	StringInfoData sql;
	List	   *params;			/* BqParam */
	List	   *retrieved;
	List	   *averages;		/* BqCombine */
	List	   *scales;
} BqRemoteQuery;

extern void bq_select_columns(BqRemoteQuery *q, Relation rel, Bitmapset *attrs);
extern void bq_append_from(BqRemoteQuery *q, Oid relid);

/* scan.c */
typedef struct BqScanState BqScanState;

extern void bqBeginForeignScan(ForeignScanState *node, int eflags);
extern TupleTableSlot *bqIterateForeignScan(ForeignScanState *node);
extern void bqReScanForeignScan(ForeignScanState *node);
extern void bqEndForeignScan(ForeignScanState *node);
extern void bqExplainForeignScan(ForeignScanState *node, ExplainState *es);
extern BqScanState *bq_scan_create(Oid relid, Oid userid, char *sql, List *retrieved,
								   List *averages, List *scales, TupleDesc desc);
extern void bq_scan_read_api(BqScanState *st, int streams, List *fields, bool via_job);
extern bool bq_scan_next(BqScanState *st, Datum *values, bool *isnull);
/* {"name":..., "parameterType":..., "parameterValue":...} of one value */
extern json_t *bq_query_parameter(const char *name, Oid type, Datum value, bool isnull,
								  BqParamKind kind);
extern json_t *bq_query_parameters(List *exprs, List *types, List *kinds,
								   ExprContext *econtext);

/* explain.c */
extern void bq_explain_dry_run(ForeignScanState *node, ExplainState *es);

/* analyze.c */
extern bool bqAnalyzeForeignTable(Relation relation, AcquireSampleRowsFunc *func,
								  BlockNumber *totalpages);

/* modify.c */
extern List *bqPlanForeignModify(PlannerInfo *root, ModifyTable *plan,
								 Index resultRelation, int subplan_index);
extern void bqBeginForeignModify(ModifyTableState *mtstate, ResultRelInfo *rinfo,
								 List *fdw_private, int subplan_index, int eflags);
extern TupleTableSlot *bqExecForeignInsert(EState *estate, ResultRelInfo *rinfo,
										   TupleTableSlot *slot, TupleTableSlot *planSlot);
extern TupleTableSlot **bqExecForeignBatchInsert(EState *estate, ResultRelInfo *rinfo,
												 TupleTableSlot **slots, TupleTableSlot **planSlots,
												 int *numSlots);
extern int	bqGetForeignModifyBatchSize(ResultRelInfo *rinfo);
extern void bqEndForeignModify(EState *estate, ResultRelInfo *rinfo);

/* import.c */
extern List *bqImportForeignSchema(ImportForeignSchemaStmt *stmt, Oid serverOid);

#endif							/* BQSTREAM_FDW_H */
