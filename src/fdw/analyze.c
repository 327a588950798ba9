/*-------------------------------------------------------------------------
 *
 * analyze.c
 *	  ANALYZE of a bqstream_fdw foreign table: a sample of the BigQuery
 *	  table's rows, for PostgreSQL's statistics.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "commands/vacuum.h"
#include "foreign/fdwapi.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/sampling.h"

#include "fdw/fdw.h"

/* above this many times the sample size, BigQuery samples storage blocks */
#define TABLESAMPLE_THRESHOLD	10

/*
 * A random sample of the table's rows for ANALYZE.  A large table is read
 * with TABLESAMPLE SYSTEM, which bills only the blocks read; the rows that
 * come back are reservoir-sampled down to targrows here.
 */
static int
bq_acquire_sample_rows(Relation rel, int elevel, HeapTuple *rows, int targrows,
					   double *totalrows, double *totaldeadrows)
{
	Oid			relid = RelationGetRelid(rel);
	TupleDesc	desc = RelationGetDescr(rel);
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "bqstream_fdw analyze",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old;
	BqRemoteQuery q = {0};
	BqScanState *st;
	Datum	   *values;
	bool	   *isnull;
	ReservoirStateData rstate;
	double		rowstoskip = -1;
	double		seen = 0;
	double		remote_rows;
	double		percent = 100;
	int			numrows = 0;

	bq_forget_row_count(relid);
	remote_rows = bq_remote_row_count(relid, InvalidOid, NULL);

	old = MemoryContextSwitchTo(cxt);
	initStringInfo(&q.sql);
	appendStringInfoString(&q.sql, "SELECT ");
	bq_select_columns(&q, rel, bms_make_singleton(0 - FirstLowInvalidHeapAttributeNumber));
	bq_append_from(&q, relid);
	if (remote_rows > (double) targrows * TABLESAMPLE_THRESHOLD &&
		gcp_option_value(GetForeignTable(relid)->options, "query") == NULL)
	{
		/* twice the rows wanted, as blocks hold uneven numbers of rows */
		percent = Min(100.0, 200.0 * targrows / remote_rows);
		appendStringInfo(&q.sql, " TABLESAMPLE SYSTEM (%.6f PERCENT)", percent);
	}
	st = bq_scan_create(relid, InvalidOid, q.sql.data, q.retrieved, q.averages, q.scales, desc);
	values = palloc(sizeof(Datum) * desc->natts);
	isnull = palloc(sizeof(bool) * desc->natts);

	reservoir_init_selection_state(&rstate, targrows);
	while (bq_scan_next(st, values, isnull))
	{
		int			slot = -1;

		vacuum_delay_point();
		seen += 1;
		if (numrows < targrows)
			slot = numrows++;
		else
		{
			if (rowstoskip < 0)
				rowstoskip = reservoir_get_next_S(&rstate, seen, targrows);
			if (rowstoskip <= 0)
			{
				slot = (int) (targrows * sampler_random_fract(&rstate.randstate));
				heap_freetuple(rows[slot]);
			}
			rowstoskip -= 1;
		}
		if (slot >= 0)
		{
			MemoryContextSwitchTo(old);
			rows[slot] = heap_form_tuple(desc, values, isnull);
			MemoryContextSwitchTo(cxt);
		}
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);

	*totalrows = percent < 100 ? remote_rows : seen;
	*totaldeadrows = 0;
	ereport(elevel,
			(errmsg("\"%s\": BigQuery table has about %.0f rows; %.0f rows read (%g%% sampled), %d rows in sample",
					RelationGetRelationName(rel), *totalrows, seen, percent, numrows)));
	return numrows;
}

/*
 * bqAnalyzeForeignTable
 *		ANALYZE: the sampling function, and no pages to count.
 */
bool
bqAnalyzeForeignTable(Relation relation, AcquireSampleRowsFunc *func, BlockNumber *totalpages)
{
	*func = bq_acquire_sample_rows;
	*totalpages = 1;			/* BigQuery has no pages to count */
	return true;
}
