/*-------------------------------------------------------------------------
 *
 * xact.c
 *	  The transaction a background worker of bqstream (the launcher or a
 *	  pipeline worker) wraps around its catalog reads and writes.
 *
 * A background worker has no client to start transactions for it: each
 * read of bqstream.pipelines or write of bqstream.dead_letters starts one,
 * connects to SPI and takes a snapshot, and undoes all three afterwards.
 * The commit leaves TopMemoryContext current, where whatever the caller
 * allocates next would stay for the worker's lifetime, so the caller's
 * memory context is made current again.  An error in between is cleaned
 * up by the worker's own error recovery (AbortOutOfAnyTransaction).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "pgstat.h"
#include "utils/snapmgr.h"

#include "worker/worker.h"

void
worker_transaction_begin(WorkerTransaction *xact, const char *activity)
{
	xact->caller_cxt = CurrentMemoryContext;
	xact->activity = activity;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "could not connect to SPI");
	PushActiveSnapshot(GetTransactionSnapshot());
	if (activity)
		pgstat_report_activity(STATE_RUNNING, activity);
}

void
worker_transaction_commit(WorkerTransaction *xact)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(xact->caller_cxt);
	if (xact->activity)
		pgstat_report_activity(STATE_IDLE, NULL);
}
