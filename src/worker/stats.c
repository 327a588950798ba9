/*-------------------------------------------------------------------------
 *
 * stats.c
 *	  Shared memory of the pipelines: one slot per worker with its
 *	  assignment and counters, the launcher's registration and its map of
 *	  pipeline owners, and the bqstream.pipeline_stats view reading them.
 *
 * Counters are atomics written by their worker alone, so the view reads a
 * consistent-enough picture without taking any lock; only slot assignment
 * (the launcher's job) is done under the LWLock.  Each role sees the slots
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
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "bqstream.h"
#include "worker/worker.h"

PG_FUNCTION_INFO_V1(bqstream_pipeline_stats);
PG_FUNCTION_INFO_V1(bqstream_wake_launcher);

const char *const dead_letter_reason_names[NUM_DL_REASONS] = {
	"bad_encoding", "not_json", "not_an_object", "missing_field", "unknown_field",
	"wrong_type", "bad_timestamp", "future_event_time", "invalid_amount",
	"invalid_id", "bigquery_rejected",
};

static const char *const state_names[] = {
	"starting", "pulling", "inserting", "backing off", "stopped",
};

BqSharedState *bq_shared = NULL;

char	   *bqstream_database = NULL;
int			bqstream_max_workers = 8;
int			bqstream_launcher_naptime_ms = 1000;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static Size
shared_size(void)
{
	return add_size(offsetof(BqSharedState, slots),
					mul_size(sizeof(WorkerSlot), bqstream_max_workers));
}

static void
bq_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(shared_size());
	RequestNamedLWLockTranche("bqstream", 1);
}

void
bq_slot_reset(WorkerSlot *slot)
{
	memset(slot, 0, sizeof(WorkerSlot));
	pg_atomic_init_u32(&slot->state, WS_STOPPED);
	pg_atomic_init_u64(&slot->received, 0);
	pg_atomic_init_u64(&slot->inserted, 0);
	pg_atomic_init_u64(&slot->acked, 0);
	pg_atomic_init_u64(&slot->dead_lettered, 0);
	for (int r = 0; r < NUM_DL_REASONS; r++)
		pg_atomic_init_u64(&slot->dead_by_reason[r], 0);
	pg_atomic_init_u64(&slot->redelivered, 0);
	pg_atomic_init_u64(&slot->late, 0);
	pg_atomic_init_u64(&slot->batches, 0);
	pg_atomic_init_u64(&slot->retries, 0);
	pg_atomic_init_u64(&slot->full_pulls, 0);
	pg_atomic_init_u64(&slot->empty_pulls, 0);
	for (int i = 0; i < LATENCY_BUCKETS; i++)
		pg_atomic_init_u64(&slot->latency_hist[i], 0);
	for (int i = 0; i < THROUGHPUT_SECONDS; i++)
	{
		pg_atomic_init_u64(&slot->per_second[i], 0);
		pg_atomic_init_u64(&slot->per_second_stamp[i], 0);
	}
	SpinLockInit(&slot->error_mutex);
}

static void
bq_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	bq_shared = ShmemInitStruct("bqstream", shared_size(), &found);
	if (!found)
	{
		bq_shared->lock = &(GetNamedLWLockTranche("bqstream"))->lock;
		bq_shared->launcher_pid = 0;
		bq_shared->launcher_latch = NULL;
		memset(&bq_shared->owner_map, 0, sizeof(OwnerMap));
		ConditionVariableInit(&bq_shared->owner_map_published);
		bq_shared->nslots = bqstream_max_workers;
		for (int i = 0; i < bqstream_max_workers; i++)
			bq_slot_reset(&bq_shared->slots[i]);
	}
	LWLockRelease(AddinShmemInitLock);
}

/* Workers inherit the pointer from the postmaster; check it is there. */
void
bq_shmem_attach(void)
{
	if (bq_shared == NULL)
		ereport(FATAL,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("bqstream shared memory is not initialized")));
}

void
bq_slot_set_error(WorkerSlot *slot, const char *msg)
{
	SpinLockAcquire(&slot->error_mutex);
	strlcpy(slot->last_error, msg, sizeof(slot->last_error));
	slot->last_error_at = GetCurrentTimestamp();
	SpinLockRelease(&slot->error_mutex);
}

void
bq_worker_init(void)
{
	BackgroundWorker bgw;

	DefineCustomStringVariable("bqstream.database",
							   "Database whose bqstream.pipelines the launcher runs.",
							   NULL,
							   &bqstream_database,
							   "postgres",
							   PGC_POSTMASTER, 0,
							   NULL, NULL, NULL);
	DefineCustomIntVariable("bqstream.max_workers",
							"Maximum number of pipeline workers, over all pipelines.",
							"Each also takes one of max_worker_processes.",
							&bqstream_max_workers,
							8, 1, 256,
							PGC_POSTMASTER, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("bqstream.launcher_naptime",
							"How often the launcher checks the pipelines and their workers.",
							NULL,
							&bqstream_launcher_naptime_ms,
							1000, 100, 60000,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = bq_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = bq_shmem_startup;

	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = 5;
	strlcpy(bgw.bgw_library_name, "bqstream", BGW_MAXLEN);
	strlcpy(bgw.bgw_function_name, "bqstream_launcher_main", BGW_MAXLEN);
	strlcpy(bgw.bgw_name, "bqstream launcher", BGW_MAXLEN);
	strlcpy(bgw.bgw_type, "bqstream launcher", BGW_MAXLEN);
	RegisterBackgroundWorker(&bgw);
}

static void
require_shared_state(void)
{
	if (bq_shared == NULL)
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

	for (int i = 0; i < bq_shared->nslots; i++)
	{
		WorkerSlot *slot = &bq_shared->slots[i];
		Datum		values[22];
		bool		nulls[22] = {0};
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
		Assert(c == lengthof(values));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* Pipeline changes take effect now rather than at the launcher's next look. */
bool
bq_wake_launcher(void)
{
	Latch	   *latch;

	if (bq_shared == NULL)
		return false;
	LWLockAcquire(bq_shared->lock, LW_SHARED);
	latch = bq_shared->launcher_latch;
	if (latch)
		SetLatch(latch);
	LWLockRelease(bq_shared->lock);
	return latch != NULL;
}

/* wake_launcher(): not granted to PUBLIC since 0.2; the functions wake it */
Datum
bqstream_wake_launcher(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(bq_wake_launcher());
}
