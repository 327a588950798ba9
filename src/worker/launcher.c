/*-------------------------------------------------------------------------
 *
 * launcher.c
 *	  The launcher background worker: keeps the pipeline workers running
 *	  as bqstream.pipelines says, restarts the ones that died, and scales
 *	  each pipeline between its minimum and maximum workers on backlog.
 *
 * It watches one database (bqstream.database), like pg_cron.  Every
 * naptime, or at once when a pipeline function wakes it, it reads the
 * pipelines and reconciles: missing workers are started, workers of
 * stopped or dropped pipelines and surplus workers are asked to stop.
 * Worker slots in shared memory keep their counters across restarts of
 * their worker, so pipeline_stats shows a pipeline's whole history.
 *
 * Scaling follows the pulls: when every worker's pulls come back full
 * there is a backlog and one worker is added; when pulls come back empty
 * one is removed.  A worker that keeps dying is restarted with growing
 * delays rather than in a loop.
 *
 * Workers run as their pipeline's owner.  A pipeline whose owner no longer
 * exists or may not log in gets no worker (a worker could not connect) but
 * a last_error saying why; when its owner changes (REASSIGN OWNED) its
 * workers are restarted as the new owner.  Each read of the pipelines also
 * publishes their owners in shared memory, for DROP ROLE in the other
 * databases of the cluster (ownership.c), and answers the requests for a
 * fresh read that such a DROP ROLE makes.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "worker/worker.h"

/* look at the pull counters this often to scale */
#define SCALE_INTERVAL_S	5
#define RESTART_DELAY_MIN_MS 1000
#define RESTART_DELAY_MAX_MS 60000

/* whether a pipeline's owner can run its workers */
typedef enum OwnerState
{
	OWNER_OK,
	OWNER_MISSING,
	OWNER_NOLOGIN
} OwnerState;

typedef struct PipelineRow
{
	char		name[PIPELINE_NAME_LEN];
	int			min_workers;
	int			max_workers;
	Oid			owner;
	OwnerState	owner_state;
	char		owner_name[NAMEDATALEN];
	bool		enabled;
	TransactionId version;		/* xmin of the row: changes with every update */
} PipelineRow;

/* the launcher's private view of each slot */
typedef struct SlotControl
{
	BackgroundWorkerHandle *handle;
	TimestampTz next_start;		/* not before: a crashing worker waits */
	long		restart_delay_ms;
} SlotControl;

/* per pipeline scaling state, in the launcher's memory */
typedef struct ScaleState
{
	char		name[PIPELINE_NAME_LEN];
	int			target;
	TransactionId version;		/* of the row the workers run with */
	uint64		full_pulls;
	uint64		empty_pulls;
	TimestampTz checked_at;
} ScaleState;

static SlotControl *control;
static ScaleState *scaling;
static int	nscaling;

static void
launcher_detach(int code, Datum arg)
{
	LWLockAcquire(bq_shared->lock, LW_EXCLUSIVE);
	bq_shared->launcher_pid = 0;
	bq_shared->launcher_latch = NULL;
	LWLockRelease(bq_shared->lock);
}

static int
read_pipelines(PipelineRow **rows)
{
	int			n = 0;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "reading bqstream.pipelines");

	/* the extension may not be created (yet) in this database */
	if (SPI_execute("SELECT 1 FROM pg_catalog.pg_class c "
					"JOIN pg_catalog.pg_namespace s ON s.oid = c.relnamespace "
					"WHERE s.nspname = 'bqstream' AND c.relname = 'pipelines'",
					true, 0) == SPI_OK_SELECT && SPI_processed == 1 &&
		SPI_execute("SELECT p.name, p.min_workers, p.max_workers, p.owner::oid, p.enabled, "
					"p.xmin::text, r.rolname IS NOT NULL, coalesce(r.rolcanlogin, false), r.rolname "
					"FROM bqstream.pipelines p "
					"LEFT JOIN pg_catalog.pg_roles r ON r.oid = p.owner::oid "
					"ORDER BY p.name",
					true, 0) == SPI_OK_SELECT)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		*rows = palloc0(sizeof(PipelineRow) * Max(SPI_processed, 1));
		MemoryContextSwitchTo(old);
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;

			strlcpy((*rows)[n].name, SPI_getvalue(tup, desc, 1), PIPELINE_NAME_LEN);
			(*rows)[n].min_workers = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
			(*rows)[n].max_workers = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
			(*rows)[n].owner = DatumGetObjectId(SPI_getbinval(tup, desc, 4, &isnull));
			(*rows)[n].enabled = DatumGetBool(SPI_getbinval(tup, desc, 5, &isnull));
			(*rows)[n].version = (TransactionId) strtoul(SPI_getvalue(tup, desc, 6), NULL, 10);
			if (!DatumGetBool(SPI_getbinval(tup, desc, 7, &isnull)))
				(*rows)[n].owner_state = OWNER_MISSING;
			else
			{
				(*rows)[n].owner_state =
					DatumGetBool(SPI_getbinval(tup, desc, 8, &isnull)) ? OWNER_OK : OWNER_NOLOGIN;
				strlcpy((*rows)[n].owner_name, SPI_getvalue(tup, desc, 9), NAMEDATALEN);
			}
			n++;
		}
	}
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
	return n;
}

static ScaleState *
scale_state(const PipelineRow *p)
{
	for (int i = 0; i < nscaling; i++)
		if (strcmp(scaling[i].name, p->name) == 0)
			return &scaling[i];
	scaling = nscaling == 0 ? MemoryContextAllocZero(TopMemoryContext, sizeof(ScaleState))
		: repalloc(scaling, sizeof(ScaleState) * (nscaling + 1));
	memset(&scaling[nscaling], 0, sizeof(ScaleState));
	strlcpy(scaling[nscaling].name, p->name, PIPELINE_NAME_LEN);
	scaling[nscaling].target = Max(p->min_workers, 1);
	scaling[nscaling].version = p->version;
	scaling[nscaling].checked_at = GetCurrentTimestamp();
	return &scaling[nscaling++];
}

/* Adjust a pipeline's worker target on what its pulls say. */
static int
scale(const PipelineRow *p)
{
	ScaleState *st = scale_state(p);
	TimestampTz now = GetCurrentTimestamp();
	uint64		full = 0;
	uint64		empty = 0;

	st->target = Max(Min(st->target, p->max_workers), Max(p->min_workers, 1));
	if (now - st->checked_at < SCALE_INTERVAL_S * USECS_PER_SEC)
		return st->target;

	for (int i = 0; i < bq_shared->nslots; i++)
	{
		WorkerSlot *slot = &bq_shared->slots[i];

		if (slot->in_use && strcmp(slot->pipeline, p->name) == 0)
		{
			full += pg_atomic_read_u64(&slot->full_pulls);
			empty += pg_atomic_read_u64(&slot->empty_pulls);
		}
	}
	if (full > st->full_pulls && empty == st->empty_pulls && st->target < p->max_workers)
	{
		st->target++;
		ereport(LOG,
				(errmsg("bqstream pipeline \"%s\" has a backlog: scaling up to %d workers",
						p->name, st->target)));
	}
	else if (full == st->full_pulls && empty > st->empty_pulls &&
			 st->target > Max(p->min_workers, 1))
	{
		st->target--;
		ereport(LOG,
				(errmsg("bqstream pipeline \"%s\" is idle: scaling down to %d workers",
						p->name, st->target)));
	}
	st->full_pulls = full;
	st->empty_pulls = empty;
	st->checked_at = now;
	return st->target;
}

/*
 * A worker of a previous launcher has no handle here but still its pid in
 * the slot (cleared when it exits).
 */
/* alter_pipeline() changed the row: running workers re-read it */
static void
notify_changes(const PipelineRow *p)
{
	ScaleState *st = scale_state(p);

	if (st->version == p->version)
		return;
	st->version = p->version;
	for (int i = 0; i < bq_shared->nslots; i++)
	{
		WorkerSlot *slot = &bq_shared->slots[i];

		if (slot->in_use && strcmp(slot->pipeline, p->name) == 0)
		{
			slot->reload_requested = true;
			if (slot->latch)
				SetLatch(slot->latch);
		}
	}
}

static bool
worker_running(int i)
{
	pid_t		pid;
	pid_t		slot_pid = bq_shared->slots[i].pid;

	if (control[i].handle != NULL)
		return GetBackgroundWorkerPid(control[i].handle, &pid) != BGWH_STOPPED;
	return slot_pid != 0 && kill(slot_pid, 0) == 0;
}

/* Free the handle of a slot's previous worker (kept in TopMemoryContext). */
static void
forget_handle(int i)
{
	if (control[i].handle != NULL)
		pfree(control[i].handle);
	control[i].handle = NULL;
}

static void
start_worker(int i)
{
	WorkerSlot *slot = &bq_shared->slots[i];
	BackgroundWorker bgw;
	TimestampTz now = GetCurrentTimestamp();

	if (now < control[i].next_start)
		return;

	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = BGW_NEVER_RESTART;	/* the launcher restarts it */
	strlcpy(bgw.bgw_library_name, "bqstream", BGW_MAXLEN);
	strlcpy(bgw.bgw_function_name, "bqstream_pipeline_main", BGW_MAXLEN);
	snprintf(bgw.bgw_name, BGW_MAXLEN, "bqstream pipeline %s worker %d",
			 slot->pipeline, slot->worker_no);
	strlcpy(bgw.bgw_type, "bqstream pipeline", BGW_MAXLEN);
	bgw.bgw_main_arg = Int32GetDatum(i);
	bgw.bgw_notify_pid = MyProcPid;

	slot->stop_requested = false;
	forget_handle(i);
	if (!RegisterDynamicBackgroundWorker(&bgw, &control[i].handle))
	{
		control[i].handle = NULL;
		ereport(WARNING,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("could not start a worker for bqstream pipeline \"%s\"", slot->pipeline),
				 errhint("Raise max_worker_processes.")));
		control[i].next_start = TimestampTzPlusMilliseconds(now, RESTART_DELAY_MAX_MS);
		return;
	}

	/* a worker that dies soon after starting is restarted ever more slowly */
	control[i].next_start = TimestampTzPlusMilliseconds(now, control[i].restart_delay_ms);
	control[i].restart_delay_ms = control[i].restart_delay_ms == 0 ? RESTART_DELAY_MIN_MS
		: Min(control[i].restart_delay_ms * 2, RESTART_DELAY_MAX_MS);
}

static void
stop_worker(int i)
{
	bq_shared->slots[i].stop_requested = true;
	if (control[i].handle)
		TerminateBackgroundWorker(control[i].handle);
	else if (bq_shared->slots[i].pid != 0)
		kill(bq_shared->slots[i].pid, SIGTERM);
}

/*
 * A pipeline whose owner cannot run workers: say why in its first slot,
 * once rather than at every look, since nothing changes until the owner
 * does.
 */
static void
report_owner_problem(WorkerSlot *slot, const PipelineRow *p)
{
	char		msg[sizeof(slot->last_error)];
	bool		same;

	if (p->owner_state == OWNER_MISSING)
		snprintf(msg, sizeof(msg), "the owner of the pipeline (role with OID %u) does not exist",
				 p->owner);
	else
		snprintf(msg, sizeof(msg), "the owner of the pipeline, role \"%s\", is not permitted to log in",
				 p->owner_name);
	SpinLockAcquire(&slot->error_mutex);
	same = strcmp(slot->last_error, msg) == 0;
	SpinLockRelease(&slot->error_mutex);
	if (same)
		return;
	bq_slot_set_error(slot, msg);
	ereport(WARNING,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("bqstream pipeline \"%s\" has no worker: %s", p->name, msg),
			 errhint("Workers connect as the pipeline's owner. Drop the pipeline, or give it an owner that may log in.")));
}

/* The owners of all pipelines, for DROP ROLE in other databases. */
static void
publish_owners(const PipelineRow *rows, int npipelines, uint64 refresh)
{
	OwnerMap   *map = &bq_shared->owner_map;

	map->nowners = 0;
	map->overflow = false;
	for (int p = 0; p < npipelines; p++)
	{
		int			e;

		for (e = 0; e < map->nowners; e++)
			if (map->owners[e].owner == rows[p].owner)
				break;
		if (e == map->nowners)
		{
			if (e == OWNER_MAP_SIZE)
			{
				map->overflow = true;
				continue;
			}
			map->owners[e].owner = rows[p].owner;
			map->owners[e].npipelines = 0;
			strlcpy(map->owners[e].example, rows[p].name, PIPELINE_NAME_LEN);
			map->nowners++;
		}
		map->owners[e].npipelines++;
	}
	map->database = MyDatabaseId;
	map->refresh_done = refresh;
}

static void
reconcile(void)
{
	PipelineRow *rows = NULL;
	int			npipelines;
	bool	   *wanted = palloc0(sizeof(bool) * bq_shared->nslots);
	uint64		refresh;

	/* a read that begins after a request answers it */
	LWLockAcquire(bq_shared->lock, LW_SHARED);
	refresh = bq_shared->owner_map.refresh_requested;
	LWLockRelease(bq_shared->lock);
	npipelines = read_pipelines(&rows);

	LWLockAcquire(bq_shared->lock, LW_EXCLUSIVE);
	for (int p = 0; p < npipelines; p++)
	{
		bool		owner_ok = rows[p].owner_state == OWNER_OK;
		int			target;

		/* a pipeline without a possible owner keeps one slot, for its error */
		if (!rows[p].enabled)
			target = 0;
		else if (!owner_ok)
			target = 1;
		else
			target = scale(&rows[p]);

		if (rows[p].enabled && owner_ok)
			notify_changes(&rows[p]);

		for (int w = 1; w <= target; w++)
		{
			int			found = -1;
			WorkerSlot *slot;

			for (int i = 0; i < bq_shared->nslots && found < 0; i++)
				if (bq_shared->slots[i].in_use && bq_shared->slots[i].worker_no == w &&
					strcmp(bq_shared->slots[i].pipeline, rows[p].name) == 0)
					found = i;
			for (int i = 0; i < bq_shared->nslots && found < 0; i++)
				if (!bq_shared->slots[i].in_use)
				{
					found = i;
					bq_slot_reset(&bq_shared->slots[i]);
					strlcpy(bq_shared->slots[i].pipeline, rows[p].name, PIPELINE_NAME_LEN);
					bq_shared->slots[i].worker_no = w;
					bq_shared->slots[i].owner = rows[p].owner;
					bq_shared->slots[i].in_use = true;
					forget_handle(i);
					control[i].next_start = 0;
					control[i].restart_delay_ms = 0;
				}
			if (found < 0)
			{
				ereport(WARNING,
						(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
						 errmsg("no free worker slot for bqstream pipeline \"%s\"", rows[p].name),
						 errhint("Raise bqstream.max_workers.")));
				break;
			}
			wanted[found] = true;
			slot = &bq_shared->slots[found];
			slot->database = MyDatabaseId;

			/* a worker runs as the owner it started with: a new owner, a new worker */
			if (slot->owner != rows[p].owner)
			{
				slot->owner = rows[p].owner;
				if (worker_running(found))
				{
					stop_worker(found);
					continue;
				}
			}
			if (!owner_ok)
			{
				report_owner_problem(slot, &rows[p]);
				if (worker_running(found))
					stop_worker(found);
				else
				{
					slot->pid = 0;
					pg_atomic_write_u32(&slot->state, WS_STOPPED);
				}
				continue;
			}
			if (!worker_running(found))
			{
				slot->pid = 0;
				start_worker(found);
			}
		}
	}

	for (int i = 0; i < bq_shared->nslots; i++)
	{
		WorkerSlot *slot = &bq_shared->slots[i];
		bool		pipeline_exists = false;

		if (!slot->in_use || wanted[i])
			continue;
		if (worker_running(i))
		{
			stop_worker(i);
			continue;
		}
		slot->pid = 0;
		pg_atomic_write_u32(&slot->state, WS_STOPPED);
		for (int p = 0; p < npipelines; p++)
			pipeline_exists |= strcmp(rows[p].name, slot->pipeline) == 0;
		/* a stopped pipeline keeps its counters; a dropped one frees them */
		if (!pipeline_exists)
			slot->in_use = false;
	}
	publish_owners(rows, npipelines, refresh);
	LWLockRelease(bq_shared->lock);
	ConditionVariableBroadcast(&bq_shared->owner_map_published);
	pfree(wanted);
	if (rows)
		pfree(rows);
}

void
bqstream_launcher_main(Datum arg)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	bq_shmem_attach();
	BackgroundWorkerInitializeConnection(bqstream_database, NULL, 0);
	pgstat_report_appname("bqstream launcher");
	/* a superuser in a database where anyone may create objects */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);

	control = MemoryContextAllocZero(TopMemoryContext,
									 sizeof(SlotControl) * bq_shared->nslots);

	LWLockAcquire(bq_shared->lock, LW_EXCLUSIVE);
	bq_shared->launcher_pid = MyProcPid;
	bq_shared->launcher_latch = MyLatch;
	LWLockRelease(bq_shared->lock);
	before_shmem_exit(launcher_detach, (Datum) 0);

	ereport(LOG,
			(errmsg("bqstream launcher started for database \"%s\"", bqstream_database)));

	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		reconcile();
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 bqstream_launcher_naptime_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
