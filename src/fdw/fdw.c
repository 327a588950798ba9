/*-------------------------------------------------------------------------
 *
 * fdw.c
 *	  bqstream_fdw's handler and its bqstream.enable_pushdown setting.
 *
 * A foreign table is read with jobs.query and its result pages, streamed
 * into tuples.  The callbacks live by concern, their prototypes in fdw.h:
 *
 *	table.c		a foreign table's source, options and server
 *	plan.c		paths and plans: what BigQuery computes (WHERE, aggregates,
 *				ORDER BY, LIMIT) and the remote query's text
 *	deparse.c	which expressions BigQuery reads as PostgreSQL does, and
 *				their GoogleSQL (deparse_time.c: time expressions)
 *	scan.c		the executor: the job, its pages, their rows as tuples
 *	explain.c	EXPLAIN's dry run: what BigQuery would bill (explain_dry_run)
 *	convert.c	one BigQuery cell to a Datum
 *	analyze.c	ANALYZE's sample
 *	modify.c	INSERT through insertAll
 *	import.c	IMPORT FOREIGN SCHEMA
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "foreign/fdwapi.h"
#include "utils/guc.h"

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
