/*-------------------------------------------------------------------------
 *
 * exactly_once.c
 *	  The exactly_once write mode: every valid message of a pipeline lands
 *	  in BigQuery once, through committed write streams of the Storage
 *	  Write API and a record in PostgreSQL of every append before it is
 *	  sent.
 *
 * The protocol
 * ------------
 * BigQuery takes an append to a committed stream at an offset at most
 * once: an append at an offset the stream already holds is answered
 * ALREADY_EXISTS and stores nothing, one past the stream's end OUT_OF_RANGE.
 * So an append sent again, byte for byte at the same offset, cannot store
 * its rows twice, however often the worker crashed in between.  What is
 * left is to make every message go into exactly one such append, and to
 * know after a crash which appends to send again.  PostgreSQL keeps that,
 * in three tables (sql/bqstream--0.2--0.3.sql):
 *
 * write_streams: each worker owns one committed stream, made with
 *	 CreateWriteStream, with the offset its next append goes to.  The
 *	 worker holds a session advisory lock on it for its life (a dead
 *	 worker's lock is gone with its process), so one process at a time
 *	 appends to a stream, and a worker that starts adopts a stream whose
 *	 lock it can take before it creates one.
 *
 * write_intents: an append that may or may not have landed: stream,
 *	 first offset, the encoded rows (bytea; at most one request,
 *	 BQS_APPEND_MAX_BYTES) and their message IDs.  A stream has at most one:
 *	 a worker sends the next append only when the last one is confirmed.
 *
 * write_ledger: the de-duplication ledger, one row per message appended
 *	 (message IDs are unique per pipeline), naming the intent that carries
 *	 it: landed once that intent is gone.
 *
 * Per batch, after validation:
 *	 1. the rows are encoded (rows_proto.c) and cut into requests;
 *	 2. per request, ONE transaction inserts the messages into the ledger
 *		(ON CONFLICT DO NOTHING: two workers given the same message by a
 *		redelivery serialize on its key, and one gets it), records the
 *		intent with those that were not there yet at the stream's next
 *		offset, and moves the offset past them.  A message the ledger had
 *		is not appended again: acknowledged if its intent is closed (it
 *		landed), left unacknowledged while its intent is open (it comes
 *		back, and by then it has landed);
 *	 3. the append is sent at the recorded offset.  OK and ALREADY_EXISTS
 *		both mean landed; one transaction then deletes the intent (and its
 *		rows); then the messages are acknowledged.  Never an ack for a row
 *		that has not landed.
 *
 * Before each batch (and so at start) a worker sends again every open
 * intent whose stream lock it can take: its own, left by an error, and
 * those of dead workers' streams, in offset order (there is one per
 * stream).  Row errors (AppendRowsResponse.row_errors) mean nothing of the
 * request was appended: the refused rows leave the intent and the ledger
 * (their messages become dead letters, or, for a replayed intent whose
 * messages are not at hand, come back from Pub/Sub and become dead letters
 * then) and the rest is appended again at the same offset.  A transient
 * failure leaves the intent open for the next replay.  OUT_OF_RANGE or
 * NOT_FOUND on an open intent mean the stream does not hold what the
 * table says it should (it is gone, or lost rows: an emulator restarted
 * without its data); since the intent's rows cannot be in it, they move
 * to a new stream, with a warning.
 *
 * Streams are rotated: after bqstream.write_stream_max_rows rows or
 * bqstream.write_stream_max_age, a stream without an open intent is
 * forgotten here and finalized (FinalizeWriteStream), and the worker
 * creates a new one, so that no stream lives for ever and CreateWriteStream
 * stays far below its quota.  Streams of workers that no longer run are
 * rotated the same way by a worker that can take their lock.  Rows of a
 * committed stream are visible as soon as they are appended and stay:
 * the 24 hours after which BigQuery drops data of a stream that was never
 * committed apply to pending and buffered streams, not to these.
 *
 * The ledger is bounded: on a subscription with exactly-once delivery an
 * entry goes once Pub/Sub confirmed the message's acknowledgement, since
 * Pub/Sub then never delivers it again; on any subscription an entry goes
 * after the pipeline's dedup_retention (default 1 day).  What that
 * guarantees:
 *	 - exactly-once delivery: exactly once in BigQuery, whatever crashes,
 *	   restarts or delays (a message redelivered after its retention was
 *	   acknowledged without confirmation can only be one whose ack failed
 *	   for longer than the retention);
 *	 - without exactly-once delivery: exactly once for every redelivery
 *	   within dedup_retention of the append (Pub/Sub redelivers an
 *	   acknowledged message rarely, and within its message retention of at
 *	   most 31 days: set dedup_retention to that for no duplicate at all);
 *	 - several PostgreSQL servers (or databases) on one subscription: each
 *	   has its own ledger, so a message delivered to one and, after its
 *	   lease ran out, to the other is appended by both.  With exactly-once
 *	   delivery Pub/Sub hands a message to one subscriber at a time, and
 *	   only a lease that runs out (a worker stopped for longer than
 *	   EXACTLY_ONCE_LEASE_S between append and ack) makes a duplicate;
 *	   without it, any redelivery does.  One server per subscription is
 *	   the exactly-once configuration.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

/* first: jansson beside builtins.h */
#include "gcp/gcp_json.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "gcp/bqstorage.h"
#include "worker/pipeline.h"

/*
 * The stream locks are advisory locks of the database in a space of their
 * own: the stream's id in the two middle fields, and in the last one a
 * value that pg_advisory_lock() never uses (it uses 1 and 2).
 */
#define STREAM_LOCK_SPACE	0x4251

/* at most this often the ledger is pruned of entries past retention */
#define PRUNE_INTERVAL_S	60
#define PRUNE_BATCH			10000

static int	write_stream_max_rows = 10000000;
static int	write_stream_max_age_s = 3600;

/* the worker's own stream, locked for its life */
static int64 own_stream_id = 0;
static char *own_stream = NULL;
static TimestampTz own_stream_created = 0;

/* message IDs whose acknowledgement Pub/Sub confirmed: out of the ledger */
static MemoryContext confirmed_cxt = NULL;
static char **confirmed_ids = NULL;
static int	nconfirmed = 0;

static TimestampTz last_prune = 0;

void
exactly_once_define_gucs(void)
{
	DefineCustomIntVariable("bqstream.write_stream_max_rows",
							"Rows after which an exactly_once pipeline's write stream is rotated.",
							"The stream is finalized and the worker creates a new one.",
							&write_stream_max_rows,
							10000000, 1, INT_MAX,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("bqstream.write_stream_max_age",
							"Age after which an exactly_once pipeline's write stream is rotated.",
							NULL,
							&write_stream_max_age_s,
							3600, 1, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);
}

/* ---------------------------------------------------------------------
 * stream locks
 * ---------------------------------------------------------------------
 */

static void
stream_locktag(LOCKTAG *tag, int64 id)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, (uint32) ((uint64) id >> 32),
						 (uint32) id, STREAM_LOCK_SPACE);
}

/* take a stream's lock for the session, without waiting */
static bool
stream_try_lock(int64 id)
{
	LOCKTAG		tag;

	stream_locktag(&tag, id);
	return LockAcquire(&tag, ExclusiveLock, true, true) != LOCKACQUIRE_NOT_AVAIL;
}

static void
stream_unlock(int64 id)
{
	LOCKTAG		tag;

	stream_locktag(&tag, id);
	LockRelease(&tag, ExclusiveLock, true);
}

/* ---------------------------------------------------------------------
 * SQL helpers: every statement runs as the catalog's owner
 * ---------------------------------------------------------------------
 */

static int
run_sql(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls,
		int expected)
{
	int			ret = pipeline_catalog_execute(sql, nargs, types, values, nulls, false, 0);

	if (ret != expected)
		elog(ERROR, "bqstream exactly_once: \"%s\" failed: %s", sql, SPI_result_code_string(ret));
	return ret;
}

static Datum
text_array(char **items, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		d[i] = CStringGetTextDatum(items[i]);
	return PointerGetDatum(construct_array(d, n, TEXTOID, -1, false, TYPALIGN_INT));
}

static Datum
bytea_array(char **data, int *lens, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
	{
		bytea	   *b = palloc(VARHDRSZ + lens[i]);

		SET_VARSIZE(b, VARHDRSZ + lens[i]);
		memcpy(VARDATA(b), data[i], lens[i]);
		d[i] = PointerGetDatum(b);
	}
	return PointerGetDatum(construct_array(d, n, BYTEAOID, -1, false, TYPALIGN_INT));
}

/* ---------------------------------------------------------------------
 * intents
 * ---------------------------------------------------------------------
 */

/* one append: the rows and their message IDs, at an offset of a stream */
typedef struct Intent
{
	int64		stream_id;
	char	   *stream;
	int64		offset;
	int			nrows;
	char	  **data;
	int		   *lens;
	char	  **ids;
	int		   *msg;			/* index into the batch's msgs, or NULL (replay) */
} Intent;

typedef enum IntentOutcome
{
	INTENT_LANDED,				/* appended (or already there): closed */
	INTENT_EMPTY,				/* every row refused for its content: closed */
	INTENT_STREAM_LOST			/* the stream cannot take it: to move */
} IntentOutcome;

/* Delete a landed intent: its messages are landed in the ledger's eyes. */
static void
close_intent(const Intent *in)
{
	WorkerTransaction xact;
	Oid			types[2] = {INT8OID, INT8OID};
	Datum		values[2] = {Int64GetDatum(in->stream_id), Int64GetDatum(in->offset)};

	worker_transaction_begin(&xact, NULL);
	run_sql("DELETE FROM bqstream.write_intents WHERE stream_id OPERATOR(pg_catalog.=) $1 "
			"AND first_offset OPERATOR(pg_catalog.=) $2",
			2, types, values, NULL, SPI_OK_DELETE);
	worker_transaction_commit(&xact);
}

/*
 * Take the rows BigQuery refused for their content out of an open intent:
 * the intent keeps the others at the same offset (or goes, when none is
 * left), the refused ones leave the ledger, and the stream's next offset
 * follows.  bad[] flags the refused rows.
 */
static void
shrink_intent(PipelineConfig *cfg, Intent *in, const bool *bad)
{
	WorkerTransaction xact;
	int			kept = 0;
	int			nbad = 0;
	char	  **bad_ids = palloc(sizeof(char *) * in->nrows);

	for (int r = 0; r < in->nrows; r++)
	{
		if (bad[r])
		{
			bad_ids[nbad++] = in->ids[r];
			continue;
		}
		in->data[kept] = in->data[r];
		in->lens[kept] = in->lens[r];
		in->ids[kept] = in->ids[r];
		if (in->msg)
			in->msg[kept] = in->msg[r];
		kept++;
	}
	in->nrows = kept;

	worker_transaction_begin(&xact, NULL);
	{
		Oid			types[2] = {TEXTOID, TEXTARRAYOID};
		Datum		values[2];

		values[0] = CStringGetTextDatum(cfg->name);
		values[1] = text_array(bad_ids, nbad);
		run_sql("DELETE FROM bqstream.write_ledger WHERE pipeline OPERATOR(pg_catalog.=) $1 "
				"AND message_id OPERATOR(pg_catalog.=) ANY ($2)",
				2, types, values, NULL, SPI_OK_DELETE);
	}
	if (kept == 0)
	{
		Oid			types[2] = {INT8OID, INT8OID};
		Datum		values[2] = {Int64GetDatum(in->stream_id), Int64GetDatum(in->offset)};

		run_sql("DELETE FROM bqstream.write_intents WHERE stream_id OPERATOR(pg_catalog.=) $1 "
				"AND first_offset OPERATOR(pg_catalog.=) $2",
				2, types, values, NULL, SPI_OK_DELETE);
	}
	else
	{
		Oid			types[4] = {INT8OID, INT8OID, TEXTARRAYOID, BYTEAARRAYOID};
		Datum		values[4];

		values[0] = Int64GetDatum(in->stream_id);
		values[1] = Int64GetDatum(in->offset);
		values[2] = text_array(in->ids, kept);
		values[3] = bytea_array(in->data, in->lens, kept);
		run_sql("UPDATE bqstream.write_intents SET message_ids = $3, rows = $4 "
				"WHERE stream_id OPERATOR(pg_catalog.=) $1 AND first_offset OPERATOR(pg_catalog.=) $2",
				4, types, values, NULL, SPI_OK_UPDATE);
	}
	{
		/* the intent is the stream's last: the next offset follows its end */
		Oid			types[2] = {INT8OID, INT8OID};
		Datum		values[2] = {Int64GetDatum(in->stream_id), Int64GetDatum(in->offset + kept)};

		run_sql("UPDATE bqstream.write_streams SET next_offset = $2 WHERE id OPERATOR(pg_catalog.=) $1",
				2, types, values, NULL, SPI_OK_UPDATE);
	}
	worker_transaction_commit(&xact);
}

/*
 * Send an open intent at its offset until BigQuery answered it.  Row
 * errors shrink it and it is sent again; a transient failure or another
 * error raises an ERROR with the intent left open, for the next replay.
 */
static IntentOutcome
send_intent(PipelineConfig *cfg, Intent *in, Message *msgs)
{
	for (;;)
	{
		BqsAppendResult result;
		BqsAppender *appender;

		if (in->nrows == 0)
			return INTENT_EMPTY;
		appender = storage_write_appender(cfg, in->stream);
		bqs_append(appender, in->offset, (const char *const *) in->data, in->lens,
				   in->nrows, &result, pipeline_extend_leases_tick, cfg);

		if (result.nrow_errors > 0)
		{
			bool	   *bad = palloc0(sizeof(bool) * in->nrows);

			for (int e = 0; e < result.nrow_errors; e++)
			{
				int			r = result.row_errors[e].index;

				if (r < 0 || r >= in->nrows)
					continue;
				bad[r] = true;
				if (in->msg)
					msgs[in->msg[r]].bq_error =
						psprintf("invalid: %s", result.row_errors[e].message ?
								 result.row_errors[e].message : "");
			}
			shrink_intent(cfg, in, bad);
			if (in->nrows == 0)
				return INTENT_EMPTY;
			continue;
		}
		switch (result.status.code)
		{
			case BQS_OK:
				pipeline_count(&pipeline_slot->appends, 1);
				close_intent(in);
				return INTENT_LANDED;
			case BQS_ALREADY_EXISTS:
				/* an earlier try landed, its answer was lost */
				pipeline_count(&pipeline_slot->already_existed, 1);
				close_intent(in);
				return INTENT_LANDED;
			case BQS_OUT_OF_RANGE:
			case BQS_NOT_FOUND:
				ereport(WARNING,
						(errmsg("write stream \"%s\" of pipeline \"%s\" cannot take the append at offset " INT64_FORMAT,
								in->stream, cfg->name, in->offset),
						 errdetail("The Storage Write API answered: %s",
								   result.status.message ? result.status.message : "no message"),
						 errhint("The stream does not hold the rows recorded for it; the append moves to a new stream.")));
				storage_write_forget(in->stream);
				return INTENT_STREAM_LOST;
			default:
				storage_write_forget(in->stream);
				bqs_report(&result.status, ERROR,
						   psprintf("append %d rows to write stream \"%s\" at offset " INT64_FORMAT,
									in->nrows, in->stream, in->offset));
				return INTENT_LANDED;	/* not reached */
		}
	}
}

/* ---------------------------------------------------------------------
 * streams
 * ---------------------------------------------------------------------
 */

/*
 * Record a stream created for the pipeline and take its lock; the row and
 * the lock come together, so no other worker adopts it meanwhile.
 */
static int64
record_new_stream(PipelineConfig *cfg, const char *stream, TimestampTz *created)
{
	WorkerTransaction xact;
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2] = {CStringGetTextDatum(cfg->name), CStringGetTextDatum(stream)};
	int64		id;
	bool		isnull;

	worker_transaction_begin(&xact, NULL);
	run_sql("INSERT INTO bqstream.write_streams (pipeline, owner, stream) "
			"SELECT p.name, p.owner, $2 FROM bqstream.pipelines p WHERE p.name OPERATOR(pg_catalog.=) $1 "
			"RETURNING id, created_at",
			2, types, values, NULL, SPI_OK_INSERT_RETURNING);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("pipeline \"%s\" does not exist", cfg->name)));
	id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	*created = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	if (!stream_try_lock(id))
		elog(ERROR, "could not lock the new write stream " INT64_FORMAT, id);
	worker_transaction_commit(&xact);
	return id;
}

static char *
create_stream(PipelineConfig *cfg)
{
	char	   *stream = bqs_create_write_stream(cfg->srv, cfg->table_path, BQS_STREAM_COMMITTED);

	pipeline_count(&pipeline_slot->streams_created, 1);
	return stream;
}

/* the open intents of a locked stream, in offset order (at most one) */
static Intent *
read_intents(int64 stream_id, const char *stream, int *nintents)
{
	WorkerTransaction xact;
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(stream_id)};
	Intent	   *intents;

	worker_transaction_begin(&xact, NULL);
	run_sql("SELECT first_offset, message_ids, rows FROM bqstream.write_intents "
			"WHERE stream_id OPERATOR(pg_catalog.=) $1 ORDER BY first_offset",
			1, types, values, NULL, SPI_OK_SELECT);
	*nintents = (int) SPI_processed;
	intents = MemoryContextAllocZero(xact.caller_cxt, sizeof(Intent) * Max(*nintents, 1));
	for (int i = 0; i < *nintents; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum	   *ids;
		Datum	   *rows;
		int			nids;
		int			nrows;
		MemoryContext old;

		intents[i].stream_id = stream_id;
		intents[i].offset = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(tup, desc, 2, &isnull)),
						  TEXTOID, -1, false, TYPALIGN_INT, &ids, NULL, &nids);
		deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(tup, desc, 3, &isnull)),
						  BYTEAOID, -1, false, TYPALIGN_INT, &rows, NULL, &nrows);
		if (nids != nrows)
			elog(ERROR, "write intent at offset " INT64_FORMAT " of stream \"%s\" is inconsistent",
				 intents[i].offset, stream);
		old = MemoryContextSwitchTo(xact.caller_cxt);
		intents[i].stream = pstrdup(stream);
		intents[i].nrows = nrows;
		intents[i].ids = palloc(sizeof(char *) * Max(nrows, 1));
		intents[i].data = palloc(sizeof(char *) * Max(nrows, 1));
		intents[i].lens = palloc(sizeof(int) * Max(nrows, 1));
		for (int r = 0; r < nrows; r++)
		{
			bytea	   *b = DatumGetByteaPP(rows[r]);

			intents[i].ids[r] = TextDatumGetCString(ids[r]);
			intents[i].lens[r] = VARSIZE_ANY_EXHDR(b);
			intents[i].data[r] = palloc(intents[i].lens[r] + 1);
			memcpy(intents[i].data[r], VARDATA_ANY(b), intents[i].lens[r]);
		}
		MemoryContextSwitchTo(old);
	}
	worker_transaction_commit(&xact);
	return intents;
}

/*
 * Move an open intent of a stream that cannot take it to a new stream at
 * offset 0, with its ledger entries; the old stream is forgotten.  When
 * the old stream is the worker's own, the new one becomes its own.
 */
static void
move_intent(PipelineConfig *cfg, Intent *in)
{
	char	   *stream = create_stream(cfg);
	TimestampTz created;
	int64		new_id = record_new_stream(cfg, stream, &created);
	int64		old_id = in->stream_id;
	WorkerTransaction xact;
	Oid			types[4] = {INT8OID, INT8OID, INT8OID, INT8OID};
	Datum		values[4] = {Int64GetDatum(old_id), Int64GetDatum(in->offset),
	Int64GetDatum(new_id), Int64GetDatum(in->nrows)};

	worker_transaction_begin(&xact, NULL);
	run_sql("UPDATE bqstream.write_intents SET stream_id = $3, first_offset = 0 "
			"WHERE stream_id OPERATOR(pg_catalog.=) $1 AND first_offset OPERATOR(pg_catalog.=) $2",
			3, types, values, NULL, SPI_OK_UPDATE);
	run_sql("UPDATE bqstream.write_ledger SET stream_id = $3, intent_offset = 0 "
			"WHERE stream_id OPERATOR(pg_catalog.=) $1 AND intent_offset OPERATOR(pg_catalog.=) $2",
			3, types, values, NULL, SPI_OK_UPDATE);
	run_sql("UPDATE bqstream.write_streams SET next_offset = $4 WHERE id OPERATOR(pg_catalog.=) $3",
			4, types, values, NULL, SPI_OK_UPDATE);
	run_sql("DELETE FROM bqstream.write_streams WHERE id OPERATOR(pg_catalog.=) $1",
			1, types, values, NULL, SPI_OK_DELETE);
	worker_transaction_commit(&xact);
	stream_unlock(old_id);

	in->stream_id = new_id;
	in->stream = stream;
	in->offset = 0;
	if (old_id == own_stream_id)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		if (own_stream)
			pfree(own_stream);
		own_stream = pstrdup(stream);
		MemoryContextSwitchTo(old);
		own_stream_id = new_id;
		own_stream_created = created;
	}
	else
	{
		/* not ours to keep: another worker adopts it */
		stream_unlock(new_id);
	}
}

/* Send again the open intents of a stream whose lock this worker holds. */
static void
replay_stream(PipelineConfig *cfg, int64 stream_id, const char *stream)
{
	int			nintents;
	Intent	   *intents = read_intents(stream_id, stream, &nintents);

	for (int i = 0; i < nintents; i++)
	{
		Intent	   *in = &intents[i];

		pipeline_count(&pipeline_slot->replays, 1);
		while (send_intent(cfg, in, NULL) == INTENT_STREAM_LOST)
		{
			bool		moved_own = in->stream_id == own_stream_id;

			move_intent(cfg, in);
			if (!moved_own)
			{
				/* the new stream was unlocked for adoption: take it back for this */
				if (!stream_try_lock(in->stream_id))
					return;		/* adopted already: its new owner replays */
				if (send_intent(cfg, in, NULL) != INTENT_STREAM_LOST)
				{
					stream_unlock(in->stream_id);
					break;
				}
				stream_unlock(in->stream_id);
				return;
			}
		}
	}
}

/*
 * Forget a stream without an open intent, then finalize it: the record
 * goes first, so that a crash between the two leaves a stream nobody
 * appends to (harmless: its rows are committed), never a record of a
 * finalized stream.
 */
static void
retire_stream(PipelineConfig *cfg, int64 id, const char *stream)
{
	WorkerTransaction xact;
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(id)};
	bool		forgotten;

	worker_transaction_begin(&xact, NULL);
	run_sql("DELETE FROM bqstream.write_streams WHERE id OPERATOR(pg_catalog.=) $1 "
			"AND NOT EXISTS (SELECT FROM bqstream.write_intents i WHERE i.stream_id OPERATOR(pg_catalog.=) $1)",
			1, types, values, NULL, SPI_OK_DELETE);
	forgotten = SPI_processed == 1;
	worker_transaction_commit(&xact);
	stream_unlock(id);
	storage_write_forget(stream);
	if (!forgotten)
		return;
	PG_TRY();
	{
		(void) bqs_finalize_write_stream(cfg->srv, stream);
		pipeline_count(&pipeline_slot->streams_finalized, 1);
	}
	PG_CATCH();
	{
		/* a stream left unfinalized holds its committed rows all the same */
		EmitErrorReport();
		FlushErrorState();
	}
	PG_END_TRY();
}

static bool
stream_is_of_table(PipelineConfig *cfg, const char *stream)
{
	size_t		n = strlen(cfg->table_path);

	return strncmp(stream, cfg->table_path, n) == 0 && stream[n] == '/';
}

static bool
stream_due(int64 next_offset, TimestampTz created)
{
	return next_offset >= write_stream_max_rows ||
		TimestampDifferenceExceeds(created, GetCurrentTimestamp(), write_stream_max_age_s * 1000);
}

/*
 * Before each batch: the open intents of the pipeline's streams whose lock
 * this worker can take are sent again (its own first), streams of workers
 * gone are rotated when due, and the worker's own stream is rotated when
 * due.  Afterwards no intent of a stream this worker holds is open.
 */
void
exactly_once_recover(PipelineConfig *cfg)
{
	WorkerTransaction xact;
	Oid			types[2] = {TEXTOID, INT8OID};
	Datum		values[2] = {CStringGetTextDatum(cfg->name), Int64GetDatum(own_stream_id)};
	int			n;
	int64	   *ids;
	char	  **names;
	int64	   *offsets;
	TimestampTz *created;
	bool	   *open;

	/* the own stream of another pipeline's table (alter: none) is let go */
	if (own_stream_id != 0 && cfg->table_path && !stream_is_of_table(cfg, own_stream))
	{
		stream_unlock(own_stream_id);
		own_stream_id = 0;
	}

	worker_transaction_begin(&xact, NULL);
	run_sql("SELECT s.id, s.stream, s.next_offset, s.created_at, "
			"EXISTS (SELECT FROM bqstream.write_intents i WHERE i.stream_id OPERATOR(pg_catalog.=) s.id) "
			"FROM bqstream.write_streams s WHERE s.pipeline OPERATOR(pg_catalog.=) $1 "
			"ORDER BY s.id OPERATOR(pg_catalog.<>) $2, s.id",
			2, types, values, NULL, SPI_OK_SELECT);
	n = (int) SPI_processed;
	ids = MemoryContextAlloc(xact.caller_cxt, sizeof(int64) * Max(n, 1));
	names = MemoryContextAlloc(xact.caller_cxt, sizeof(char *) * Max(n, 1));
	offsets = MemoryContextAlloc(xact.caller_cxt, sizeof(int64) * Max(n, 1));
	created = MemoryContextAlloc(xact.caller_cxt, sizeof(TimestampTz) * Max(n, 1));
	open = MemoryContextAlloc(xact.caller_cxt, sizeof(bool) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;

		ids[i] = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		names[i] = MemoryContextStrdup(xact.caller_cxt, SPI_getvalue(tup, desc, 2));
		offsets[i] = DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
		created[i] = DatumGetTimestampTz(SPI_getbinval(tup, desc, 4, &isnull));
		open[i] = DatumGetBool(SPI_getbinval(tup, desc, 5, &isnull));
	}
	worker_transaction_commit(&xact);

	for (int i = 0; i < n; i++)
	{
		bool		own = ids[i] == own_stream_id;

		if (!own && !open[i] && !stream_due(offsets[i], created[i]))
			continue;			/* an idle stream: adopted when a worker needs one */
		if (!own && !stream_try_lock(ids[i]))
			continue;			/* a live worker's */
		if (open[i])
		{
			if (!stream_is_of_table(cfg, names[i]))
			{
				/* the pipeline's table is another now; nothing to append there */
				ereport(WARNING,
						(errmsg("write stream \"%s\" of pipeline \"%s\" has an open append to another table",
								names[i], cfg->name)));
				if (!own)
					stream_unlock(ids[i]);
				continue;
			}
			replay_stream(cfg, ids[i], names[i]);
			if (own && ids[i] != own_stream_id)
				continue;		/* moved to a new own stream */
		}
		if (!own)
		{
			if (stream_due(offsets[i], created[i]))
				retire_stream(cfg, ids[i], names[i]);
			else
			{
				/* a committed stream takes one connection: leave it to its next owner */
				storage_write_forget(names[i]);
				stream_unlock(ids[i]);
			}
		}
	}
}

/*
 * The worker's own stream, adopted or created, rotated when due; its open
 * intent, if any, was sent by exactly_once_recover() before this batch.
 */
static void
ensure_own_stream(PipelineConfig *cfg)
{
	if (own_stream_id != 0)
	{
		WorkerTransaction xact;
		Oid			types[1] = {INT8OID};
		Datum		values[1] = {Int64GetDatum(own_stream_id)};
		bool		isnull;
		int64		next_offset = -1;

		worker_transaction_begin(&xact, NULL);
		run_sql("SELECT next_offset FROM bqstream.write_streams WHERE id OPERATOR(pg_catalog.=) $1",
				1, types, values, NULL, SPI_OK_SELECT);
		if (SPI_processed == 1)
			next_offset = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		worker_transaction_commit(&xact);
		if (next_offset < 0)
		{
			/* dropped with its pipeline meanwhile, or moved */
			stream_unlock(own_stream_id);
			own_stream_id = 0;
		}
		else if (stream_due(next_offset, own_stream_created))
		{
			retire_stream(cfg, own_stream_id, own_stream);
			own_stream_id = 0;
		}
		else
			return;
	}

	/* adopt an idle stream of the pipeline's table whose worker is gone */
	{
		WorkerTransaction xact;
		Oid			types[1] = {TEXTOID};
		Datum		values[1] = {CStringGetTextDatum(cfg->name)};

		worker_transaction_begin(&xact, NULL);
		run_sql("SELECT s.id, s.stream, s.created_at, s.next_offset FROM bqstream.write_streams s "
				"WHERE s.pipeline OPERATOR(pg_catalog.=) $1 "
				"AND NOT EXISTS (SELECT FROM bqstream.write_intents i WHERE i.stream_id OPERATOR(pg_catalog.=) s.id) "
				"ORDER BY s.id",
				1, types, values, NULL, SPI_OK_SELECT);
		for (uint64 i = 0; i < SPI_processed && own_stream_id == 0; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;
			int64		id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
			char	   *stream = SPI_getvalue(tup, desc, 2);
			TimestampTz created = DatumGetTimestampTz(SPI_getbinval(tup, desc, 3, &isnull));
			int64		next_offset = DatumGetInt64(SPI_getbinval(tup, desc, 4, &isnull));

			if (!stream_is_of_table(cfg, stream) || stream_due(next_offset, created))
				continue;
			if (!stream_try_lock(id))
				continue;
			own_stream_id = id;
			own_stream_created = created;
			if (own_stream)
				pfree(own_stream);
			own_stream = MemoryContextStrdup(TopMemoryContext, stream);
		}
		worker_transaction_commit(&xact);
		if (own_stream_id != 0)
		{
			/* its intent may have been recorded since the list was read */
			replay_stream(cfg, own_stream_id, own_stream);
			return;
		}
	}

	{
		char	   *stream = create_stream(cfg);
		TimestampTz created;
		int64		id = record_new_stream(cfg, stream, &created);

		if (own_stream)
			pfree(own_stream);
		own_stream = MemoryContextStrdup(TopMemoryContext, stream);
		own_stream_id = id;
		own_stream_created = created;
	}
}

/* ---------------------------------------------------------------------
 * one batch
 * ---------------------------------------------------------------------
 */

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/*
 * The ledger's entries of acknowledged messages (exactly-once delivery)
 * and of messages past their retention go in the transaction that
 * records the next intent.
 */
static void
prune_ledger(PipelineConfig *cfg)
{
	Oid			types[2] = {TEXTOID, TEXTARRAYOID};
	Datum		values[2];

	values[0] = CStringGetTextDatum(cfg->name);
	if (nconfirmed > 0)
	{
		values[1] = text_array(confirmed_ids, nconfirmed);
		run_sql("DELETE FROM bqstream.write_ledger l WHERE l.pipeline OPERATOR(pg_catalog.=) $1 "
				"AND l.message_id OPERATOR(pg_catalog.=) ANY ($2) "
				"AND NOT EXISTS (SELECT FROM bqstream.write_intents i "
				"WHERE i.stream_id OPERATOR(pg_catalog.=) l.stream_id "
				"AND i.first_offset OPERATOR(pg_catalog.=) l.intent_offset)",
				2, types, values, NULL, SPI_OK_DELETE);
		MemoryContextReset(confirmed_cxt);
		confirmed_ids = NULL;
		nconfirmed = 0;
	}
	if (TimestampDifferenceExceeds(last_prune, GetCurrentTimestamp(), PRUNE_INTERVAL_S * 1000))
	{
		Oid			ptypes[2] = {TEXTOID, INTERVALOID};
		Datum		pvalues[2];
		Interval   *retention = palloc0(sizeof(Interval));

		retention->time = cfg->dedup_retention_us;
		pvalues[0] = values[0];
		pvalues[1] = IntervalPGetDatum(retention);
		run_sql("DELETE FROM bqstream.write_ledger WHERE ctid OPERATOR(pg_catalog.=) ANY (ARRAY("
				"SELECT l.ctid FROM bqstream.write_ledger l WHERE l.pipeline OPERATOR(pg_catalog.=) $1 "
				"AND l.recorded_at OPERATOR(pg_catalog.<) (pg_catalog.now() OPERATOR(pg_catalog.-) $2) "
				"AND NOT EXISTS (SELECT FROM bqstream.write_intents i "
				"WHERE i.stream_id OPERATOR(pg_catalog.=) l.stream_id "
				"AND i.first_offset OPERATOR(pg_catalog.=) l.intent_offset) "
				"LIMIT " CppAsString2(PRUNE_BATCH) "))",
				2, ptypes, pvalues, NULL, SPI_OK_DELETE);
		last_prune = GetCurrentTimestamp();
	}
}

/*
 * Step 2 of the protocol for one request's rows: enter the messages into
 * the ledger and record the intent with those that were new.  Messages
 * the ledger had are marked stored when they landed (to be acknowledged)
 * and left alone when their intent is open.  Returns the intent (nrows 0:
 * nothing new).
 */
static Intent *
record_intent(PipelineConfig *cfg, Message *msgs, int *idx, char **data, int *lens, int n)
{
	WorkerTransaction xact;
	Intent	   *in = palloc0(sizeof(Intent));
	char	  **ids = palloc(sizeof(char *) * n);
	char	  **fresh;
	int			nfresh;
	bool	   *taken;
	bool		isnull;

	for (int r = 0; r < n; r++)
		ids[r] = msgs[idx[r]].message_id;
	/* the intent outlives the transaction (SPI's memory goes at its end) */
	in->ids = palloc(sizeof(char *) * n);
	in->data = palloc(sizeof(char *) * n);
	in->lens = palloc(sizeof(int) * n);
	in->msg = palloc(sizeof(int) * n);

	worker_transaction_begin(&xact, NULL);
	prune_ledger(cfg);

	/* the stream's next offset, locked against nobody but read in this transaction */
	{
		Oid			types[1] = {INT8OID};
		Datum		values[1] = {Int64GetDatum(own_stream_id)};

		run_sql("SELECT next_offset FROM bqstream.write_streams WHERE id OPERATOR(pg_catalog.=) $1 FOR UPDATE",
				1, types, values, NULL, SPI_OK_SELECT);
		if (SPI_processed != 1)
			elog(ERROR, "write stream " INT64_FORMAT " of pipeline \"%s\" is gone", own_stream_id, cfg->name);
		in->offset = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	in->stream_id = own_stream_id;
	in->stream = own_stream;

	/* the ledger: the first to enter a message appends it */
	{
		Oid			types[4] = {TEXTOID, TEXTARRAYOID, INT8OID, INT8OID};
		Datum		values[4];

		values[0] = CStringGetTextDatum(cfg->name);
		values[1] = text_array(ids, n);
		values[2] = Int64GetDatum(own_stream_id);
		values[3] = Int64GetDatum(in->offset);
		run_sql("INSERT INTO bqstream.write_ledger (pipeline, owner, message_id, stream_id, intent_offset) "
				"SELECT p.name, p.owner, m, $3, $4 FROM bqstream.pipelines p, pg_catalog.unnest($2) m "
				"WHERE p.name OPERATOR(pg_catalog.=) $1 "
				"ON CONFLICT (pipeline, message_id) DO NOTHING RETURNING message_id",
				4, types, values, NULL, SPI_OK_INSERT_RETURNING);
		nfresh = (int) SPI_processed;
		fresh = palloc(sizeof(char *) * Max(nfresh, 1));
		for (int i = 0; i < nfresh; i++)
			fresh[i] = MemoryContextStrdup(xact.caller_cxt,
										   SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
		qsort(fresh, nfresh, sizeof(char *), cmp_str);
	}

	/* the intent: the new messages in the batch's order, each once */
	taken = palloc0(sizeof(bool) * Max(nfresh, 1));
	for (int r = 0; r < n; r++)
	{
		char	  **hit = bsearch(&ids[r], fresh, nfresh, sizeof(char *), cmp_str);

		if (hit == NULL || taken[hit - fresh])
			continue;
		taken[hit - fresh] = true;
		in->ids[in->nrows] = ids[r];
		in->data[in->nrows] = data[r];
		in->lens[in->nrows] = lens[r];
		in->msg[in->nrows] = idx[r];
		in->nrows++;
	}

	/* the others: landed (acknowledged now) or in an open intent (later) */
	if (in->nrows < n)
	{
		char	  **known = palloc(sizeof(char *) * n);
		int			nknown = 0;
		Oid			types[2] = {TEXTOID, TEXTARRAYOID};
		Datum		values[2];

		for (int r = 0; r < n; r++)
			if (bsearch(&ids[r], fresh, nfresh, sizeof(char *), cmp_str) == NULL)
				known[nknown++] = ids[r];
		values[0] = CStringGetTextDatum(cfg->name);
		values[1] = text_array(known, nknown);
		run_sql("SELECT l.message_id FROM bqstream.write_ledger l "
				"WHERE l.pipeline OPERATOR(pg_catalog.=) $1 AND l.message_id OPERATOR(pg_catalog.=) ANY ($2) "
				"AND NOT EXISTS (SELECT FROM bqstream.write_intents i "
				"WHERE i.stream_id OPERATOR(pg_catalog.=) l.stream_id "
				"AND i.first_offset OPERATOR(pg_catalog.=) l.intent_offset)",
				2, types, values, NULL, SPI_OK_SELECT);
		{
			char	  **landed = palloc(sizeof(char *) * Max(SPI_processed, 1));
			int			nlanded = (int) SPI_processed;

			for (int i = 0; i < nlanded; i++)
				landed[i] = MemoryContextStrdup(xact.caller_cxt,
												SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
			qsort(landed, nlanded, sizeof(char *), cmp_str);
			for (int r = 0; r < n; r++)
			{
				if (bsearch(&ids[r], fresh, nfresh, sizeof(char *), cmp_str) != NULL)
					continue;
				if (bsearch(&ids[r], landed, nlanded, sizeof(char *), cmp_str) != NULL)
				{
					msgs[idx[r]].stored = true;
					pipeline_count(&pipeline_slot->duplicates_skipped, 1);
				}
			}
		}
	}

	if (in->nrows > 0)
	{
		Oid			types[5] = {INT8OID, INT8OID, TEXTOID, TEXTARRAYOID, BYTEAARRAYOID};
		Datum		values[5];

		values[0] = Int64GetDatum(own_stream_id);
		values[1] = Int64GetDatum(in->offset);
		values[2] = CStringGetTextDatum(cfg->name);
		values[3] = text_array(in->ids, in->nrows);
		values[4] = bytea_array(in->data, in->lens, in->nrows);
		run_sql("INSERT INTO bqstream.write_intents (stream_id, first_offset, pipeline, owner, message_ids, rows) "
				"SELECT $1, $2, p.name, p.owner, $4, $5 FROM bqstream.pipelines p "
				"WHERE p.name OPERATOR(pg_catalog.=) $3",
				5, types, values, NULL, SPI_OK_INSERT);
		values[1] = Int64GetDatum(in->offset + in->nrows);
		run_sql("UPDATE bqstream.write_streams SET next_offset = $2 WHERE id OPERATOR(pg_catalog.=) $1",
				2, types, values, NULL, SPI_OK_UPDATE);
	}
	worker_transaction_commit(&xact);
	return in;
}

/* Record, send and close one request's intent; mark what landed. */
static void
write_request(PipelineConfig *cfg, Message *msgs, int *idx, char **data, int *lens, int n)
{
	Intent	   *in;

	ensure_own_stream(cfg);
	in = record_intent(cfg, msgs, idx, data, lens, n);
	for (;;)
	{
		IntentOutcome outcome = send_intent(cfg, in, msgs);

		if (outcome == INTENT_STREAM_LOST)
		{
			move_intent(cfg, in);
			continue;
		}
		if (outcome == INTENT_LANDED)
			for (int r = 0; r < in->nrows; r++)
				msgs[in->msg[r]].stored = true;
		break;
	}
}

/* a request of storage_write_requests(): see write_request() */
static void
send_exactly_once(PipelineConfig *cfg, Message *msgs, int *idx, char **data, int *lens,
				  int n, void *arg)
{
	write_request(cfg, msgs, idx, data, lens, n);
}

int
exactly_once_write(PipelineConfig *cfg, Message *msgs, int *rows, int nrows,
				   const char **reason)
{
	storage_write_requests(cfg, msgs, rows, nrows, send_exactly_once, NULL);

	/*
	 * Every row is landed, a dead letter, or in an open intent (another
	 * worker's, or a redelivery of one in flight): none is a failure here.
	 * Failures raised an ERROR with their intent open.
	 */
	*reason = NULL;
	return 0;
}

/*
 * After the acknowledgement: on a subscription with exactly-once delivery
 * the confirmed messages are never delivered again, and their ledger
 * entries go with the next intent.
 */
void
exactly_once_acknowledged(PipelineConfig *cfg, Message *msgs, int n)
{
	MemoryContext old;
	int			count = 0;

	if (!cfg->exactly_once)
		return;
	if (confirmed_cxt == NULL)
		confirmed_cxt = AllocSetContextCreate(TopMemoryContext, "bqstream confirmed acks",
											  ALLOCSET_DEFAULT_SIZES);
	for (int i = 0; i < n; i++)
		if (msgs[i].ack_confirmed && msgs[i].verdict.reason < 0 && msgs[i].bq_error == NULL)
			count++;
	if (count == 0)
		return;
	old = MemoryContextSwitchTo(confirmed_cxt);
	confirmed_ids = confirmed_ids == NULL ? palloc(sizeof(char *) * count)
		: repalloc(confirmed_ids, sizeof(char *) * (nconfirmed + count));
	for (int i = 0; i < n; i++)
		if (msgs[i].ack_confirmed && msgs[i].verdict.reason < 0 && msgs[i].bq_error == NULL)
			confirmed_ids[nconfirmed++] = pstrdup(msgs[i].message_id);
	MemoryContextSwitchTo(old);
}
