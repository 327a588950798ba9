/*-------------------------------------------------------------------------
 *
 * pipeline.h
 *	  A pipeline worker's configuration and batch, shared by pipeline.c
 *	  (pull, validate, dead letters, acknowledge; the insert_all mode) and
 *	  the files of the Storage Write API's write modes (storage_write.c:
 *	  default_stream, exactly_once.c: exactly_once).
 *
 *-------------------------------------------------------------------------
 */
#ifndef BQSTREAM_PIPELINE_H
#define BQSTREAM_PIPELINE_H

#include "gcp/client.h"
#include "worker/rows_proto.h"
#include "worker/validate.h"
#include "worker/worker.h"

/* bqstream.pipelines.write_mode */
typedef enum WriteMode
{
	WRITE_INSERT_ALL,			/* tabledata.insertAll, insertId = message ID */
	WRITE_DEFAULT_STREAM,		/* Storage Write API, _default stream */
	WRITE_EXACTLY_ONCE			/* Storage Write API, committed streams */
} WriteMode;

typedef struct PipelineConfig
{
	char	   *name;
	char	   *server;
	char	   *subscription;
	char	   *dataset;
	char	   *table;
	int			batch_size;
	int64		max_lateness_us;
	ValidationRules rules;
	GcpServer  *srv;
	TableSchema *schema;
	char	   *pull_url;
	char	   *ack_url;
	char	   *modack_url;
	int			lease_s;		/* ours: at most LEASE_S, or EXACTLY_ONCE_LEASE_S */
	bool		set_lease;		/* the subscription's ack deadline is another */
	bool		exactly_once;	/* enableExactlyOnceDelivery */
	char	   *insert_url;
	TimestampTz loaded_at;
	/* the Storage Write API modes */
	WriteMode	write_mode;
	int64		dedup_retention_us; /* exactly_once: the ledger's memory */
	bool		has_write_streams;	/* exactly_once state exists (0.3 objects) */
	char	   *table_path;		/* projects/P/datasets/D/tables/T */
	RowProtoSchema *row_schema; /* NULL in insert_all mode */
} PipelineConfig;

/* one pulled message while its batch is processed */
typedef struct Message
{
	char	   *ack_id;
	char	   *message_id;
	/* both again as JSON strings, quotes included, for the request bodies */
	char	   *ack_id_json;
	int			ack_id_json_len;
	char	   *message_id_json;
	int			message_id_json_len;
	char	   *attributes;		/* JSON object text, or NULL */
	TimestampTz publish_time;
	char	   *payload;		/* decoded data */
	int			payload_len;
	Verdict		verdict;
	bool		stored;			/* inserted, or dead-lettered and committed */
	bool		ack_confirmed;	/* acknowledged, and Pub/Sub said so */
	char	   *bq_error;		/* row refused by BigQuery: a dead letter */
	char	   *retry_reason;	/* refused for a reason not its own: again */
} Message;

/* pipeline.c: the worker's slot and role, and what the write modes use */
extern WorkerSlot *pipeline_slot;
extern Oid	pipeline_worker_owner;

static inline void
pipeline_count(pg_atomic_uint64 *counter, uint64 n)
{
	if (n > 0)
		pg_atomic_fetch_add_u64(counter, n);
}

/* keep the batch's leases while waiting for BigQuery (a bqs_append tick) */
extern void pipeline_extend_leases_tick(void *cfg);

/* wait ms milliseconds keeping the leases, serving interrupts */
extern void pipeline_wait_holding_leases(PipelineConfig *cfg, long ms);

/*
 * storage_write.c: the Storage Write API's rows and connections for both
 * modes, and the default_stream mode.  Each write function stores what it
 * can of msgs[rows[0..nrows-1]] (m->stored), marks rows BigQuery refused
 * for their content (m->bq_error: dead letters) and returns how many are
 * left neither, with *reason saying why (they are not acknowledged).
 */
extern bool storage_write_encode(PipelineConfig *cfg, Message *m, StringInfo buf);
extern int	default_stream_write(PipelineConfig *cfg, Message *msgs, int *rows, int nrows,
								 const char **reason);

/*
 * One AppendRows request's worth of encoded rows of a batch: msgs[idx[i]]
 * encoded as data[i] (lens[i] bytes), for i < n.
 */
typedef void (*StorageWriteSender) (PipelineConfig *cfg, Message *msgs, int *idx,
									char **data, int *lens, int n, void *arg);

/*
 * Encode msgs[rows[0..nrows-1]] and hand them to send in requests under
 * the pipeline's request size; a row that cannot be encoded, or is too
 * large for any request, becomes a dead letter (m->bq_error) instead.
 */
extern void storage_write_requests(PipelineConfig *cfg, Message *msgs, int *rows,
								   int nrows, StorageWriteSender send, void *arg);

/* close the connections (after an error: their state is unknown) */
extern void storage_write_reset(void);
/* the most bytes of rows one AppendRows request of this pipeline takes */
extern size_t storage_write_max_request(PipelineConfig *cfg);

/* exactly_once.c */
extern void exactly_once_recover(PipelineConfig *cfg);
extern int	exactly_once_write(PipelineConfig *cfg, Message *msgs, int *rows, int nrows,
							   const char **reason);
extern void exactly_once_acknowledged(PipelineConfig *cfg, Message *msgs, int n);

/* the AppendRows connections of this worker, by stream name */
typedef struct BqsAppender BqsAppender;
extern BqsAppender *storage_write_appender(PipelineConfig *cfg, const char *stream);
extern void storage_write_forget(const char *stream);

#endif							/* BQSTREAM_PIPELINE_H */
