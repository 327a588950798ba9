/*-------------------------------------------------------------------------
 *
 * fdw.c
 *	  bqstream_fdw's handler and what every part of it shares: the options
 *	  of a foreign table and its server, and the bqstream.enable_pushdown
 *	  setting.
 *
 * A foreign table is read with jobs.query and its result pages, streamed
 * into tuples.  The callbacks live by concern, their prototypes in fdw.h:
 *
 *	plan.c		paths and plans: what BigQuery computes (WHERE, aggregates,
 *				ORDER BY, LIMIT) and the remote query's text
 *	deparse.c	which expressions BigQuery reads as PostgreSQL does, and
 *				their GoogleSQL
 *	scan.c		the executor: the job, its pages, their rows as tuples
 *	convert.c	one BigQuery cell to a Datum
 *	analyze.c	ANALYZE's sample
 *	modify.c	INSERT through insertAll
 *	import.c	IMPORT FOREIGN SCHEMA
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/reloptions.h"
#include "foreign/fdwapi.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "fdw/fdw.h"

PG_FUNCTION_INFO_V1(bqstream_fdw_handler);

bool		bq_enable_pushdown = true;

void
bq_fdw_define_gucs(void)
{
	DefineCustomBoolVariable("bqstream.enable_pushdown",
							 "Lets bqstream_fdw send WHERE, GROUP BY, ORDER BY and LIMIT to BigQuery.",
							 "When off, foreign scans fetch the columns a query reads and "
							 "PostgreSQL does all the rest: for comparisons and diagnosis.",
							 &bq_enable_pushdown,
							 true,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);
}

char *
bq_table_option(ForeignTable *ft, const char *name)
{
	char	   *v = gcp_option_value(ft->options, name);

	return v ? v : gcp_option_value(GetForeignServer(ft->serverid)->options, name);
}

BqTableRef *
bq_table_ref(ForeignTable *ft, const GcpServer *srv)
{
	BqTableRef *ref = palloc0(sizeof(BqTableRef));
	char	   *v;

	ref->dataset = gcp_option_value(ft->options, "dataset");
	if (ref->dataset == NULL)
		ref->dataset = srv->dataset;
	ref->query = gcp_option_value(ft->options, "query");
	ref->table = gcp_option_value(ft->options, "table");
	if (ref->table == NULL && ref->query == NULL)
		ref->table = get_rel_name(ft->relid);
	ref->location = gcp_option_value(ft->options, "location");
	if (ref->location == NULL)
		ref->location = srv->location;
	v = bq_table_option(ft, "fetch_size");
	ref->fetch_size = v ? atoi(v) : BQ_DEFAULT_FETCH_SIZE;
	v = bq_table_option(ft, "batch_size");
	ref->batch_size = v ? atoi(v) : BQ_DEFAULT_BATCH_SIZE;
	ref->maximum_bytes_billed = bq_table_option(ft, "maximum_bytes_billed");
	v = bq_table_option(ft, "use_query_cache");
	ref->use_query_cache = -1;
	if (v)
	{
		bool		b;

		(void) parse_bool(v, &b);
		ref->use_query_cache = b;
	}
	v = bq_table_option(ft, "timeout");
	if (v)
		(void) parse_int(v, &ref->timeout_ms, GUC_UNIT_MS, NULL);
	return ref;
}

char *
bq_column_name(Relation rel, AttrNumber attnum)
{
	List	   *options = GetForeignColumnOptions(RelationGetRelid(rel), attnum);
	char	   *name = gcp_option_value(options, "column_name");

	return name ? name : NameStr(TupleDescAttr(RelationGetDescr(rel), attnum - 1)->attname);
}

/*
 * The server of a foreign table, with the user mapping of the role the
 * plan checks permissions as (InvalidOid: the current user), as
 * postgres_fdw does: a view over a foreign table reads it with its owner's
 * credential, and the table privilege is all the reader needs.
 */
GcpServer *
bq_server_of(Oid relid, Oid userid, int flags)
{
	return gcp_server_lookup_as(GetForeignTable(relid)->serverid,
								OidIsValid(userid) ? userid : GetUserId(), flags);
}

/*
 * bqstream_fdw_handler: the FDW's callbacks.
 */
Datum
bqstream_fdw_handler(PG_FUNCTION_ARGS)
{
	FdwRoutine *routine = makeNode(FdwRoutine);

	/* plan.c */
	routine->GetForeignRelSize = bqGetForeignRelSize;
	routine->GetForeignPaths = bqGetForeignPaths;
	routine->GetForeignPlan = bqGetForeignPlan;
	routine->GetForeignUpperPaths = bqGetForeignUpperPaths;
	routine->GetForeignJoinPaths = bqGetForeignJoinPaths;

	/* scan.c */
	routine->BeginForeignScan = bqBeginForeignScan;
	routine->IterateForeignScan = bqIterateForeignScan;
	routine->ReScanForeignScan = bqReScanForeignScan;
	routine->EndForeignScan = bqEndForeignScan;
	routine->ExplainForeignScan = bqExplainForeignScan;

	/* analyze.c, import.c */
	routine->AnalyzeForeignTable = bqAnalyzeForeignTable;
	routine->ImportForeignSchema = bqImportForeignSchema;

	/* modify.c (IsForeignRelUpdatable: dml.c) */
	routine->IsForeignRelUpdatable = bqIsForeignRelUpdatable;
	routine->PlanForeignModify = bqPlanForeignModify;
	routine->BeginForeignModify = bqBeginForeignModify;
	routine->ExecForeignInsert = bqExecForeignInsert;
	routine->ExecForeignBatchInsert = bqExecForeignBatchInsert;
	routine->GetForeignModifyBatchSize = bqGetForeignModifyBatchSize;
	routine->EndForeignModify = bqEndForeignModify;

	/* dml.c */
	routine->AddForeignUpdateTargets = bqAddForeignUpdateTargets;
	routine->ExecForeignUpdate = bqExecForeignUpdate;
	routine->ExecForeignDelete = bqExecForeignDelete;
	routine->ExplainForeignModify = bqExplainForeignModify;
	routine->PlanDirectModify = bqPlanDirectModify;
	routine->BeginDirectModify = bqBeginDirectModify;
	routine->IterateDirectModify = bqIterateDirectModify;
	routine->EndDirectModify = bqEndDirectModify;
	routine->ExplainDirectModify = bqExplainDirectModify;
	PG_RETURN_POINTER(routine);
}
