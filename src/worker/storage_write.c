/*-------------------------------------------------------------------------
 *
 * storage_write.c
 *	  What both Storage Write API modes of a pipeline share (rows encoded
 *	  as the table's row message, the worker's AppendRows connections), and
 *	  the default_stream mode.
 *
 * default_stream appends to the table's _default stream without offsets:
 * BigQuery stores each append it answers OK, and a message whose append
 * failed, or whose acknowledgement did not reach Pub/Sub, is delivered and
 * appended again.  That is at least once, like insertAll without insertId:
 * the cheapest way in, for tables where a rare duplicate does no harm
 * (see exactly_once.c for the mode where it does).
 *
 * A request is at most BQS_APPEND_MAX_BYTES: the batch is cut into
 * requests by bqs_append_request_size(), the writer schema sent with the
 * first request of a connection counted as well.  A row refused for its
 * content (row_errors) fails its whole request, and nothing of it is
 * appended: the row becomes a dead letter and the others are appended
 * again.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

/* first: jansson beside builtins.h */
#include "gcp/gcp_json.h"

#include "utils/memutils.h"

#include "gcp/bqstorage.h"
#include "worker/pipeline.h"

/*
 * Room kept in each request for the writer schema and the request's own
 * fields (stream name, offset, trace ID), beyond the rows.
 */
#define APPEND_HEADROOM		(64 * 1024)

/* the connections kept open across batches: one per stream in use */
typedef struct OpenAppender
{
	char	   *stream;
	MemoryContext cxt;			/* the appender's: deleting it closes it */
	BqsAppender *appender;
	char	   *descriptor;		/* the writer schema it was opened with */
	size_t		descriptor_len;
	const GcpServer *srv;		/* the configuration's: read again every so often */
} OpenAppender;

#define MAX_OPEN_APPENDERS	4

static OpenAppender appenders[MAX_OPEN_APPENDERS];

/*
 * Encode a validated message as a row into buf.  A value its column's type
 * does not take makes the message a dead letter (wrong_type), as the
 * validation would have for the types it checks.
 */
bool
storage_write_encode(PipelineConfig *cfg, Message *m, StringInfo buf)
{
	char	   *why;

	if (row_proto_encode(cfg->row_schema, m->payload, m->payload_len, buf, &why))
		return true;
	m->verdict.reason = DL_WRONG_TYPE;
	m->verdict.detail = why;
	return false;
}

void
storage_write_forget(const char *stream)
{
	for (int i = 0; i < MAX_OPEN_APPENDERS; i++)
		if (appenders[i].stream && (stream == NULL || strcmp(appenders[i].stream, stream) == 0))
		{
			MemoryContextDelete(appenders[i].cxt);
			memset(&appenders[i], 0, sizeof(OpenAppender));
		}
}

void
storage_write_reset(void)
{
	storage_write_forget(NULL);
}

/*
 * The worker's connection to a stream, opened (lazily: at the first
 * append) when there is none, or when the table's schema was read again.
 */
BqsAppender *
storage_write_appender(PipelineConfig *cfg, const char *stream)
{
	int			free_slot = -1;
	const char *descriptor;
	size_t		descriptor_len;
	MemoryContext old;
	OpenAppender *a;

	descriptor = row_proto_descriptor(cfg->row_schema, &descriptor_len);
	for (int i = 0; i < MAX_OPEN_APPENDERS; i++)
	{
		if (appenders[i].stream == NULL)
		{
			if (free_slot < 0)
				free_slot = i;
			continue;
		}
		if (strcmp(appenders[i].stream, stream) != 0)
			continue;
		/*
		 * The appender uses the server of the configuration it was opened
		 * with: a configuration read again (its server with it) or a table
		 * whose schema changed needs a new connection.
		 */
		if (appenders[i].srv == cfg->srv &&
			appenders[i].descriptor_len == descriptor_len &&
			memcmp(appenders[i].descriptor, descriptor, descriptor_len) == 0)
			return appenders[i].appender;
		storage_write_forget(stream);
		free_slot = i;
		break;
	}
	if (free_slot < 0)
	{
		/* the oldest goes: streams of dead workers are visited briefly */
		storage_write_forget(appenders[0].stream);
		free_slot = 0;
	}
	a = &appenders[free_slot];
	a->cxt = AllocSetContextCreate(TopMemoryContext, "bqstream AppendRows connection",
								   ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(a->cxt);
	a->stream = pstrdup(stream);
	a->descriptor = palloc(descriptor_len);
	memcpy(a->descriptor, descriptor, descriptor_len);
	a->descriptor_len = descriptor_len;
	a->srv = cfg->srv;
	a->appender = bqs_appender_open(cfg->srv, a->stream, a->descriptor, descriptor_len);
	MemoryContextSwitchTo(old);
	return a->appender;
}

/* the most bytes of rows one request takes */
size_t
storage_write_max_request(PipelineConfig *cfg)
{
	size_t		descriptor_len;

	(void) row_proto_descriptor(cfg->row_schema, &descriptor_len);
	return BQS_APPEND_MAX_BYTES - APPEND_HEADROOM - descriptor_len;
}

/*
 * Append rows[from..to) of an encoded batch to the _default stream; true
 * when they landed.  Row errors mark their messages as dead letters, and
 * the rest are appended again; another failure returns false with *reason.
 */
static bool
append_default(PipelineConfig *cfg, const char *stream, Message *msgs, int *rows,
			   char **data, int *lens, int nrows, const char **reason)
{
	BqsAppendResult result;
	int			n = nrows;
	int		   *idx = palloc(sizeof(int) * Max(nrows, 1));

	for (int r = 0; r < nrows; r++)
		idx[r] = r;
	while (n > 0)
	{
		bqs_append(storage_write_appender(cfg, stream), -1,
				   (const char *const *) data, lens, n, &result,
				   pipeline_extend_leases_tick, cfg);
		if (result.nrow_errors > 0)
		{
			int			kept = 0;
			bool	   *bad = palloc0(sizeof(bool) * n);

			for (int e = 0; e < result.nrow_errors; e++)
			{
				int			r = result.row_errors[e].index;

				if (r < 0 || r >= n)
					continue;
				bad[r] = true;
				msgs[rows[idx[r]]].bq_error =
					psprintf("invalid: %s", result.row_errors[e].message ? result.row_errors[e].message : "");
			}
			for (int r = 0; r < n; r++)
				if (!bad[r])
				{
					data[kept] = data[r];
					lens[kept] = lens[r];
					idx[kept++] = idx[r];
				}
			n = kept;
			continue;
		}
		if (result.status.code != BQS_OK)
		{
			*reason = psprintf("The Storage Write API refused the append: %s (gRPC status %d).",
							   result.status.message ? result.status.message : "no message",
							   result.status.code);
			storage_write_forget(stream);
			return false;
		}
		pipeline_count(&pipeline_slot->appends, 1);
		for (int r = 0; r < n; r++)
			msgs[rows[idx[r]]].stored = true;
		break;
	}
	return true;
}

/* an encoded row's bytes (which hold zeros: not a string) as a palloc'd copy */
static char *
row_copy(StringInfo buf)
{
	char	   *copy = palloc(Max(buf->len, 1));

	memcpy(copy, buf->data, buf->len);
	return copy;
}

/*
 * The bytes a row adds to an AppendRows request (ProtoRows.serialized_rows:
 * tag, length, bytes), summed as rows are added; the request's own nesting
 * takes a few bytes more, inside the headroom of storage_write_max_request().
 */
static size_t
row_request_bytes(int len)
{
	size_t		n = 1 + len;

	for (uint32 v = (uint32) len; v >= 0x80; v >>= 7)
		n++;
	return n + 1;
}

void
storage_write_requests(PipelineConfig *cfg, Message *msgs, int *rows, int nrows,
					   StorageWriteSender send, void *arg)
{
	size_t		max_bytes = storage_write_max_request(cfg);
	char	  **data = palloc(sizeof(char *) * Max(nrows, 1));
	int		   *lens = palloc(sizeof(int) * Max(nrows, 1));
	int		   *idx = palloc(sizeof(int) * Max(nrows, 1));
	int			n = 0;
	size_t		bytes = 0;
	StringInfoData buf;

	initStringInfo(&buf);
	for (int r = 0; r < nrows; r++)
	{
		Message    *m = &msgs[rows[r]];
		size_t		row_bytes;

		resetStringInfo(&buf);
		if (!storage_write_encode(cfg, m, &buf))
			continue;
		row_bytes = row_request_bytes(buf.len);
		if (row_bytes > max_bytes)
		{
			m->bq_error = psprintf("too large: The row takes %d bytes, more than an AppendRows request takes.",
								   buf.len);
			continue;
		}
		if (n > 0 && bytes + row_bytes > max_bytes)
		{
			/* this row opens the next request */
			send(cfg, msgs, idx, data, lens, n, arg);
			n = 0;
			bytes = 0;
		}
		lens[n] = buf.len;
		data[n] = row_copy(&buf);
		idx[n++] = rows[r];
		bytes += row_bytes;
	}
	if (n > 0)
		send(cfg, msgs, idx, data, lens, n, arg);
}

/* what default_stream_write() keeps between its requests */
typedef struct DefaultStreamWrite
{
	char	   *stream;
	int			unstored;
	const char **reason;
} DefaultStreamWrite;

static void
send_default(PipelineConfig *cfg, Message *msgs, int *idx, char **data, int *lens,
			 int n, void *arg)
{
	DefaultStreamWrite *w = (DefaultStreamWrite *) arg;

	/* after a failed request the rest waits for its redelivery */
	if (w->unstored > 0 ||
		!append_default(cfg, w->stream, msgs, idx, data, lens, n, w->reason))
		w->unstored += n;
}

int
default_stream_write(PipelineConfig *cfg, Message *msgs, int *rows, int nrows,
					 const char **reason)
{
	DefaultStreamWrite w = {bqs_default_stream(cfg->table_path), 0, reason};

	storage_write_requests(cfg, msgs, rows, nrows, send_default, &w);
	return w.unstored;
}
