/*-------------------------------------------------------------------------
 *
 * worker.h
 *	  Streaming pipelines: the shared state of the launcher and the
 *	  pipeline workers, and the statistics they keep.
 *
 *-------------------------------------------------------------------------
 */
#ifndef BQSTREAM_WORKER_H
#define BQSTREAM_WORKER_H

#include "datatype/timestamp.h"
#include "port/atomics.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/spin.h"

/* reasons a message is dead-lettered; keep in step with reason_names[] */
typedef enum DeadLetterReason
{
	DL_BAD_ENCODING,
	DL_NOT_JSON,
	DL_NOT_AN_OBJECT,
	DL_MISSING_FIELD,
	DL_UNKNOWN_FIELD,
	DL_WRONG_TYPE,
	DL_BAD_TIMESTAMP,
	DL_FUTURE_EVENT_TIME,
	DL_INVALID_AMOUNT,
	DL_INVALID_ID,
	DL_BIGQUERY_REJECTED,
	NUM_DL_REASONS
} DeadLetterReason;

extern const char *const dead_letter_reason_names[NUM_DL_REASONS];

typedef enum WorkerState
{
	WS_STARTING,
	WS_PULLING,
	WS_INSERTING,
	WS_BACKING_OFF,
	WS_STOPPED
} WorkerState;

/* end-to-end latency histogram: bucket i holds latencies < 2^i ms */
#define LATENCY_BUCKETS 24

/* throughput over the last minute: inserted rows per second */
#define THROUGHPUT_SECONDS 60

#define PIPELINE_NAME_LEN 64

/*
 * One slot per running (or recently running) worker.  The launcher owns
 * the assignment fields under the lock; the worker owns its counters,
 * which are atomics so the stats view reads them without locking.
 */
typedef struct WorkerSlot
{
	/* assigned by the launcher (BqSharedState.lock) */
	bool		in_use;
	char		pipeline[PIPELINE_NAME_LEN];
	int			worker_no;		/* 1..max_workers within the pipeline */
	Oid			database;
	Oid			owner;
	pid_t		pid;			/* 0 when not running */
	Latch	   *latch;			/* the worker's, to wake it */
	bool		stop_requested;
	bool		reload_requested;	/* the pipeline's row changed */

	/* set by the worker */
	pg_atomic_uint32 state;
	TimestampTz started_at;
	pg_atomic_uint64 received;
	pg_atomic_uint64 inserted;
	pg_atomic_uint64 acked;
	pg_atomic_uint64 dead_lettered;
	pg_atomic_uint64 dead_by_reason[NUM_DL_REASONS];
	pg_atomic_uint64 redelivered;
	pg_atomic_uint64 late;
	pg_atomic_uint64 batches;
	pg_atomic_uint64 retries;
	pg_atomic_uint64 full_pulls;
	pg_atomic_uint64 empty_pulls;
	pg_atomic_uint64 latency_hist[LATENCY_BUCKETS];
	pg_atomic_uint64 per_second[THROUGHPUT_SECONDS];
	pg_atomic_uint64 per_second_stamp[THROUGHPUT_SECONDS];

	slock_t		error_mutex;
	TimestampTz last_error_at;
	char		last_error[256];
} WorkerSlot;

typedef struct BqSharedState
{
	LWLock	   *lock;
	pid_t		launcher_pid;
	Latch	   *launcher_latch;
	int			nslots;
	WorkerSlot	slots[FLEXIBLE_ARRAY_MEMBER];
} BqSharedState;

extern BqSharedState *bq_shared;

/* GUCs */
extern char *bqstream_database;
extern int	bqstream_max_workers;
extern int	bqstream_launcher_naptime_ms;

extern void bq_worker_init(void);	/* from _PG_init when preloaded */
extern void bq_shmem_attach(void);

extern void bq_slot_reset(WorkerSlot *slot);
extern void bq_slot_set_error(WorkerSlot *slot, const char *msg);

/* entry points of the background workers */
extern PGDLLEXPORT void bqstream_launcher_main(Datum arg);
extern PGDLLEXPORT void bqstream_pipeline_main(Datum arg);

#endif							/* BQSTREAM_WORKER_H */
