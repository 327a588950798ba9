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
#include "storage/condition_variable.h"
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
	/* assigned by the launcher (PipelineSharedState.lock) */
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
	/* the Storage Write API paths (default_stream, exactly_once) */
	pg_atomic_uint64 appends;	/* AppendRows requests answered OK */
	pg_atomic_uint64 replays;	/* open intents sent again */
	pg_atomic_uint64 already_existed;	/* appends BigQuery already had */
	pg_atomic_uint64 duplicates_skipped;	/* redeliveries the ledger knew */
	pg_atomic_uint64 streams_created;
	pg_atomic_uint64 streams_finalized;
	pg_atomic_uint64 latency_hist[LATENCY_BUCKETS];
	pg_atomic_uint64 per_second[THROUGHPUT_SECONDS];
	pg_atomic_uint64 per_second_stamp[THROUGHPUT_SECONDS];

	slock_t		error_mutex;
	TimestampTz last_error_at;
	char		last_error[256];
} WorkerSlot;

/*
 * The owners of the pipelines, as the launcher last read them, so that a
 * DROP ROLE issued in another database of the cluster (which cannot read
 * bqstream.pipelines) can tell whether the role still owns pipelines.  A
 * backend asks for a fresh read by bumping refresh_requested and waits on
 * "published" until refresh_done has caught up.
 */
#define OWNER_MAP_SIZE 1024

typedef struct OwnerMapEntry
{
	Oid			owner;
	int			npipelines;
	char		example[PIPELINE_NAME_LEN]; /* one of its pipelines */
} OwnerMapEntry;

typedef struct OwnerMap
{
	/* all under PipelineSharedState.lock */
	Oid			database;		/* the launcher's; InvalidOid until published */
	bool		overflow;		/* more than OWNER_MAP_SIZE owners */
	uint64		refresh_requested;
	uint64		refresh_done;	/* refresh_requested when the last read began */
	int			nowners;
	OwnerMapEntry owners[OWNER_MAP_SIZE];
} OwnerMap;

typedef struct PipelineSharedState
{
	LWLock	   *lock;
	pid_t		launcher_pid;
	Latch	   *launcher_latch;
	OwnerMap	owner_map;
	ConditionVariable owner_map_published;
	int			nslots;
	WorkerSlot	slots[FLEXIBLE_ARRAY_MEMBER];
} PipelineSharedState;

extern PipelineSharedState *pipeline_shared;

/* GUCs: bqstream.max_workers (shmem.c), the launcher's two (launcher.c) */
extern int	bqstream_max_workers;
extern char *bqstream_database;
extern int	bqstream_launcher_naptime_ms;

/* shmem.c: bqstream.max_workers and the hooks (from _PG_init when preloaded) */
extern void pipeline_shmem_init(void);
/* in a worker: FATAL unless the postmaster made the shared memory */
extern void pipeline_shmem_attach(void);
extern void worker_slot_reset(WorkerSlot *slot);
extern void worker_slot_set_error(WorkerSlot *slot, const char *msg);

/*
 * launcher.c: bqstream.database and bqstream.launcher_naptime, and the
 * launcher's registration (from _PG_init when preloaded); waking it up
 * (false when it is not running).
 */
extern void launcher_register(void);
extern bool launcher_wake(void);

/*
 * catalog.c: the pipeline functions, and writes of bqstream.pipelines and
 * bqstream.dead_letters as the extension's owner after the caller's checks.
 */
typedef struct PipelineCatalogUser
{
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
} PipelineCatalogUser;

extern Oid	pipeline_catalog_relid(const char *relname);
extern void pipeline_catalog_user_push(PipelineCatalogUser *save);
extern void pipeline_catalog_user_pop(PipelineCatalogUser *save);
extern int	pipeline_catalog_execute(const char *sql, int nargs, Oid *argtypes,
							   Datum *values, const char *nulls,
							   bool read_only, long count);

/*
 * xact.c: a worker's transaction around SPI: start it, connect to SPI and
 * take a snapshot; commit undoes the three and makes the caller's memory
 * context current again.  "activity", when not NULL, is what
 * pg_stat_activity shows meanwhile (the worker is idle afterwards).
 */
typedef struct WorkerTransaction
{
	MemoryContext caller_cxt;
	const char *activity;
} WorkerTransaction;

extern void worker_transaction_begin(WorkerTransaction *xact, const char *activity);
extern void worker_transaction_commit(WorkerTransaction *xact);

/* exactly_once.c: its settings (from pipeline_shmem_init) */
extern void exactly_once_define_gucs(void);

/* ownership.c: pipelines as dependents of their owner and their server */
extern void pipeline_install_ownership_hook(void);

/* entry points of the background workers */
extern PGDLLEXPORT void bqstream_launcher_main(Datum arg);
extern PGDLLEXPORT void bqstream_pipeline_main(Datum arg);

#endif							/* BQSTREAM_WORKER_H */
