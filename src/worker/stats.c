/*-------------------------------------------------------------------------
 *
 * stats.c
 *	  The bqstream.pipeline_stats and worker_stats views: the counters of
 *	  the workers' slots in shared memory (shmem.c), as rows.
 *
 * Counters are atomics written by their worker alone, so the view reads a
 * consistent-enough picture without taking any lock.  Each role sees the slots
 * of the pipelines it owns (has the privileges of), as pg_stat_activity
 * shows its own sessions; superusers and pg_read_all_stats see all.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "funcapi.h"
#include "catalog/pg_authid.h"
#include "miscadmin.h"
#include "storage/lwlock.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "bqstream.h"
#include "worker/worker.h"

PG_FUNCTION_INFO_V1(bqstream_pipeline_stats);

static const char *const state_names[] = {
	"starting", "pulling", "inserting", "backing off", "stopped",
};

static void
require_shared_state(void)
{
	if (pipeline_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("bqstream pipelines need the library to be preloaded"),
				 errhint("Add bqstream to shared_preload_libraries and restart the server.")));
}

/* latency below which a share of the histogram's samples lies, in ms */
static double
percentile_ms(const uint64 *hist, uint64 total, double q)
{
	uint64		target = (uint64) ceil(q * total);
	uint64		seen = 0;

	if (total == 0)
		return -1;
	for (int i = 0; i < LATENCY_BUCKETS; i++)
	{
		seen += hist[i];
		if (seen >= target)
			return (double) (UINT64CONST(1) << i);
	}
	return (double) (UINT64CONST(1) << (LATENCY_BUCKETS - 1));
}

/*
 * worker_stats(): one row per worker slot in use, of the pipelines the
 * caller may see.
 */
Datum
bqstream_pipeline_stats(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	uint64		now_s = (uint64) (GetCurrentTimestamp() / USECS_PER_SEC);
	Oid			caller = GetUserId();
	bool		see_all = has_privs_of_role(caller, ROLE_PG_READ_ALL_STATS);

	require_shared_state();
	InitMaterializedSRF(fcinfo, 0);

	for (int i = 0; i < pipeline_shared->nslots; i++)
	{
		WorkerSlot *slot = &pipeline_shared->slots[i];
		Datum		values[28];
		bool		nulls[28] = {0};
		uint64		hist[LATENCY_BUCKETS];
		uint64		total = 0;
		uint64		last_minute = 0;
		StringInfoData reasons;
		char		last_error[256];
		TimestampTz last_error_at;
		int			c = 0;

		if (!slot->in_use)
			continue;
		if (!see_all && !has_privs_of_role(caller, slot->owner))
			continue;

		for (int b = 0; b < LATENCY_BUCKETS; b++)
			total += (hist[b] = pg_atomic_read_u64(&slot->latency_hist[b]));
		for (int s = 0; s < THROUGHPUT_SECONDS; s++)
		{
			uint64		stamp = pg_atomic_read_u64(&slot->per_second_stamp[s]);

			if (stamp + THROUGHPUT_SECONDS > now_s && stamp < now_s)
				last_minute += pg_atomic_read_u64(&slot->per_second[s]);
		}
		initStringInfo(&reasons);
		appendStringInfoChar(&reasons, '{');
		for (int r = 0; r < NUM_DL_REASONS; r++)
		{
			uint64		n = pg_atomic_read_u64(&slot->dead_by_reason[r]);

			if (n > 0)
				appendStringInfo(&reasons, "%s\"%s\": " UINT64_FORMAT,
								 reasons.len > 1 ? ", " : "", dead_letter_reason_names[r], n);
		}
		appendStringInfoChar(&reasons, '}');
		SpinLockAcquire(&slot->error_mutex);
		strlcpy(last_error, slot->last_error, sizeof(last_error));
		last_error_at = slot->last_error_at;
		SpinLockRelease(&slot->error_mutex);

		values[c++] = CStringGetTextDatum(slot->pipeline);
		values[c++] = Int32GetDatum(slot->worker_no);
		if (slot->pid != 0)
			values[c++] = Int32GetDatum(slot->pid);
		else
			nulls[c++] = true;
		values[c++] = CStringGetTextDatum(state_names[pg_atomic_read_u32(&slot->state)]);
		if (slot->started_at != 0)
			values[c++] = TimestampTzGetDatum(slot->started_at);
		else
			nulls[c++] = true;
		values[c++] = Int64GetDatum(pg_atomic_read_u64(&slot->received));
		values[c++] = Int64GetDatum(pg_atomic_read_u64(&slot->inserted));
		values[c++] = Int64GetDatum(pg_atomic_read_u64(&slot->acked));
		values[c++] = Int64GetDatum(pg_atomic_read_u64(&slot->dead_lettered));
		values[c++] = DirectFunctionCall1(jsonb_in, CStringGetDatum(reasons.data));
		values[c++] = Int64GetDatum(pg_atomic_read_u64(&slot->redelivered));
		values[c++] = Int64GetDatum(pg_atomic_read_u64(&slot->late));
		values[c++] = Int64GetDatum(pg_atomic_read_u64(&slot->batches));
		values[c++] = Int64GetDatum(pg_atomic_read_u64(&slot->retries));
		values[c++] = Int64GetDatum(pg_atomic_read_u64(&slot->full_pulls));
		values[c++] = Int64GetDatum(pg_atomic_read_u64(&slot->empty_pulls));
		values[c++] = Float8GetDatum((double) last_minute / (THROUGHPUT_SECONDS - 1));
		for (int p = 0; p < 3; p++)
		{
			double		ms = percentile_ms(hist, total, p == 0 ? 0.5 : p == 1 ? 0.95 : 0.99);

			if (ms < 0)
				nulls[c++] = true;
			else
				values[c++] = Float8GetDatum(ms);
		}
		if (last_error[0])
		{
			values[c++] = CStringGetTextDatum(last_error);
			values[c++] = TimestampTzGetDatum(last_error_at);
		}
		else
		{
			nulls[c++] = true;
			nulls[c++] = true;
		}
		/* the Storage Write API's counters: from 0.3 of the SQL objects on */
		if (rsinfo->setDesc->natts > c)
		{
			values[c++] = Int64GetDatum(pg_atomic_read_u64(&slot->appends));
			values[c++] = Int64GetDatum(pg_atomic_read_u64(&slot->replays));
			values[c++] = Int64GetDatum(pg_atomic_read_u64(&slot->already_existed));
			values[c++] = Int64GetDatum(pg_atomic_read_u64(&slot->duplicates_skipped));
			values[c++] = Int64GetDatum(pg_atomic_read_u64(&slot->streams_created));
			values[c++] = Int64GetDatum(pg_atomic_read_u64(&slot->streams_finalized));
		}
		Assert(c == rsinfo->setDesc->natts);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

