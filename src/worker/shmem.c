/*-------------------------------------------------------------------------
 *
 * shmem.c
 *	  Shared memory of the pipelines: one slot per worker with its
 *	  assignment and counters, the launcher's latch and its map of
 *	  pipeline owners (worker.h), and bqstream.max_workers, which sizes it.
 *
 * Only a preloaded library has any: _PG_init installs the hooks that
 * request and initialize it.  Slot assignment (the launcher's job) is done
 * under the LWLock; counters are atomics written by their worker alone.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "worker/worker.h"

PipelineSharedState *pipeline_shared = NULL;

int			bqstream_max_workers = 8;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static Size
shared_size(void)
{
	return add_size(offsetof(PipelineSharedState, slots),
					mul_size(sizeof(WorkerSlot), bqstream_max_workers));
}

static void
pipeline_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(shared_size());
	RequestNamedLWLockTranche("bqstream", 1);
}

void
worker_slot_reset(WorkerSlot *slot)
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
	pg_atomic_init_u64(&slot->appends, 0);
	pg_atomic_init_u64(&slot->replays, 0);
	pg_atomic_init_u64(&slot->already_existed, 0);
	pg_atomic_init_u64(&slot->duplicates_skipped, 0);
	pg_atomic_init_u64(&slot->streams_created, 0);
	pg_atomic_init_u64(&slot->streams_finalized, 0);
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
pipeline_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	pipeline_shared = ShmemInitStruct("bqstream", shared_size(), &found);
	if (!found)
	{
		pipeline_shared->lock = &(GetNamedLWLockTranche("bqstream"))->lock;
		pipeline_shared->launcher_pid = 0;
		pipeline_shared->launcher_latch = NULL;
		memset(&pipeline_shared->owner_map, 0, sizeof(OwnerMap));
		ConditionVariableInit(&pipeline_shared->owner_map_published);
		pipeline_shared->nslots = bqstream_max_workers;
		for (int i = 0; i < bqstream_max_workers; i++)
			worker_slot_reset(&pipeline_shared->slots[i]);
	}
	LWLockRelease(AddinShmemInitLock);
}

/* Workers inherit the pointer from the postmaster; check it is there. */
void
pipeline_shmem_attach(void)
{
	if (pipeline_shared == NULL)
		ereport(FATAL,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("bqstream shared memory is not initialized")));
}

void
worker_slot_set_error(WorkerSlot *slot, const char *msg)
{
	SpinLockAcquire(&slot->error_mutex);
	strlcpy(slot->last_error, msg, sizeof(slot->last_error));
	slot->last_error_at = GetCurrentTimestamp();
	SpinLockRelease(&slot->error_mutex);
}

void
pipeline_shmem_init(void)
{
	DefineCustomIntVariable("bqstream.max_workers",
							"Maximum number of pipeline workers, over all pipelines.",
							"Each also takes one of max_worker_processes.",
							&bqstream_max_workers,
							8, 1, 256,
							PGC_POSTMASTER, 0,
							NULL, NULL, NULL);

	exactly_once_define_gucs();

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = pipeline_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = pipeline_shmem_startup;
}
