/*-------------------------------------------------------------------------
 *
 * bqstorage_read.c
 *	  The BigQuery Storage Read API client (BigQueryRead, v1): a read
 *	  session over a table, and its streams read with ReadRows, several at
 *	  once over one HTTP/2 connection.
 *
 * The messages are written here field by field from Google's v1 reference
 * (google.cloud.bigquery.storage.v1, storage.proto, stream.proto, avro.proto):
 *
 *	CreateReadSessionRequest  parent 1, read_session 2, max_stream_count 3
 *	ReadSession				  name 1, data_format 3 (AVRO = 1), avro_schema 4
 *							  (AvroSchema: schema 1), table 6, read_options 8,
 *							  streams 10 (ReadStream: name 1),
 *							  estimated_total_bytes_scanned 12,
 *							  estimated_row_count 14
 *	TableReadOptions		  selected_fields 1 (repeated), row_restriction 2
 *	ReadRowsRequest			  read_stream 1, offset 2
 *	ReadRowsResponse		  avro_rows 3 (AvroRows: serialized_binary_rows 1),
 *							  row_count 6
 *
 * A stream broken by a transient failure is read again from the row after
 * the last one received, as Google's clients do; the blocks already
 * returned are not asked for again.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/pg_prng.h"
#include "miscadmin.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "gcp/bqstorage_int.h"

#define DATA_FORMAT_AVRO	1

#define RESUME_BACKOFF_INITIAL_MS	100
#define RESUME_BACKOFF_MAX_MS		10000

BqsReadSession *
bqs_create_read_session(const GcpServer *srv, const char *table_path,
						const char *const *selected_fields, int nselected,
						const char *row_restriction, int max_streams)
{
	StringInfoData options;
	StringInfoData session;
	StringInfoData req;
	StringInfoData resp;
	PbReader	r;
	PbField		f;
	BqsReadSession *rs = palloc0(sizeof(BqsReadSession));
	int			cap = 0;
	char	   *action = psprintf("create a read session on table \"%s\"", table_path);

	initStringInfo(&options);
	for (int i = 0; selected_fields && i < nselected; i++)
		pb_put_string(&options, 1, selected_fields[i]);
	if (row_restriction && row_restriction[0] != '\0')
		pb_put_string(&options, 2, row_restriction);

	initStringInfo(&session);
	pb_put_int64(&session, 3, DATA_FORMAT_AVRO);
	pb_put_string(&session, 6, table_path);
	if (options.len > 0)
		pb_put_bytes(&session, 8, options.data, options.len);

	initStringInfo(&req);
	pb_put_string(&req, 1, psprintf("projects/%s", srv->project_id));
	pb_put_bytes(&req, 2, session.data, session.len);
	if (max_streams > 0)
		pb_put_int64(&req, 3, max_streams);

	initStringInfo(&resp);
	bqs_unary(srv, BQS_READ_SERVICE "/CreateReadSession",
			  grpc_routing_param("read_session.table", table_path),
			  &req, &resp, action, BQS_OK);

	pb_reader_init(&r, resp.data, resp.len);
	while (pb_next(&r, &f))
	{
		switch (f.number)
		{
			case 1:
				bqs_expect_len(&f, "ReadSession", action);
				rs->name = pb_strdup(&f);
				break;
			case 4:
				{
					PbReader	sr;
					PbField		g;

					bqs_expect_len(&f, "AvroSchema", action);
					pb_reader_init(&sr, f.data, f.len);
					while (pb_next(&sr, &g))
						if (g.number == 1 && g.wire_type == PB_LEN)
							rs->avro_schema = pnstrdup((const char *) g.data, g.len);
					if (sr.error)
						bqs_invalid_answer("AvroSchema", sr.error, action);
					break;
				}
			case 10:
				{
					PbReader	sr;
					PbField		g;
					char	   *name = NULL;

					bqs_expect_len(&f, "ReadStream", action);
					pb_reader_init(&sr, f.data, f.len);
					while (pb_next(&sr, &g))
						if (g.number == 1 && g.wire_type == PB_LEN)
							name = pb_strdup(&g);
					if (sr.error)
						bqs_invalid_answer("ReadStream", sr.error, action);
					if (name == NULL || name[0] == '\0')
						bqs_invalid_answer("ReadStream", "it names no stream", action);
					if (rs->nstreams == cap)
					{
						cap = cap == 0 ? 8 : cap * 2;
						rs->streams = rs->streams == NULL
							? palloc(sizeof(char *) * cap)
							: repalloc(rs->streams, sizeof(char *) * cap);
					}
					rs->streams[rs->nstreams++] = name;
					break;
				}
			case 12:
				if (f.wire_type == PB_VARINT)
					rs->estimated_total_bytes = pb_int64(&f);
				break;
			case 14:
				if (f.wire_type == PB_VARINT)
					rs->estimated_row_count = pb_int64(&f);
				break;
			default:
				break;
		}
	}
	if (r.error)
		bqs_invalid_answer("ReadSession", r.error, action);
	if (rs->name == NULL || rs->name[0] == '\0')
		bqs_invalid_answer("ReadSession", "it names no session", action);
	if (rs->avro_schema == NULL)
		bqs_invalid_answer("ReadSession", "it has no Avro schema", action);
	if (max_streams > 0 && rs->nstreams > max_streams)
		bqs_invalid_answer("ReadSession", "more streams than were asked for", action);
	return rs;
}

/* ---------------------------------------------------------------------
 * ReadRows
 * ---------------------------------------------------------------------
 */

struct BqsReader
{
	MemoryContext cxt;			/* owns this and the call */
	const GcpServer *srv;
	char	   *stream;
	char	   *routing;
	int64		offset;			/* the next row to ask for */
	GrpcCall   *call;			/* NULL while waiting to resume */
	bool		finished;
	int			failures;		/* transient failures since the last block */
	bool		reauthorized;
	TimestampTz resume_at;
};

static void
start_read_rows(BqsReader *rd)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(rd->cxt);
	StringInfoData req;
	GrpcCallSpec spec;

	initStringInfo(&req);
	pb_put_string(&req, 1, rd->stream);
	if (rd->offset > 0)
		pb_put_int64(&req, 2, rd->offset);
	memset(&spec, 0, sizeof(spec));
	spec.srv = rd->srv;
	spec.method = BQS_READ_SERVICE "/ReadRows";
	spec.routing = rd->routing;
	spec.request = req.data;
	spec.request_len = req.len;
	rd->call = grpc_start(&spec);
	pfree(req.data);
	MemoryContextSwitchTo(oldcxt);
}

BqsReader *
bqs_reader_start(const GcpServer *srv, const char *stream, int64 offset)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext,
											  "bqstream ReadRows",
											  ALLOCSET_SMALL_SIZES);
	MemoryContext oldcxt = MemoryContextSwitchTo(cxt);
	BqsReader  *rd = palloc0(sizeof(BqsReader));

	rd->cxt = cxt;
	rd->srv = srv;
	rd->stream = pstrdup(stream);
	rd->routing = grpc_routing_param("read_stream", stream);
	rd->offset = Max(offset, 0);
	MemoryContextSwitchTo(oldcxt);
	start_read_rows(rd);
	return rd;
}

/*
 * A ReadRowsResponse into *block; false when it carries no rows (a message
 * of statistics or throttling only).
 */
static bool
decode_read_rows(BqsReader *rd, const uint8 *data, size_t len, BqsRowBlock *block)
{
	PbReader	r;
	PbField		f;
	bool		have_rows = false;
	char	   *action = NULL;

	block->avro_rows = NULL;
	block->len = 0;
	block->row_count = 0;
	pb_reader_init(&r, data, len);
	while (pb_next(&r, &f))
	{
		if (f.number == 3)
		{
			PbReader	ar;
			PbField		g;

			if (f.wire_type != PB_LEN)
			{
				action = psprintf("read stream \"%s\"", rd->stream);
				bqs_expect_len(&f, "AvroRows", action);
			}
			pb_reader_init(&ar, f.data, f.len);
			while (pb_next(&ar, &g))
			{
				if (g.number == 1 && g.wire_type == PB_LEN)
				{
					block->avro_rows = g.data;
					block->len = g.len;
					have_rows = true;
				}
			}
			if (ar.error)
				bqs_invalid_answer("AvroRows", ar.error,
								   psprintf("read stream \"%s\"", rd->stream));
		}
		else if (f.number == 6 && f.wire_type == PB_VARINT)
			block->row_count = pb_int64(&f);
	}
	if (r.error)
		bqs_invalid_answer("ReadRowsResponse", r.error,
						   psprintf("read stream \"%s\"", rd->stream));
	if (block->row_count < 0 || (block->row_count > 0 && !have_rows))
		bqs_invalid_answer("ReadRowsResponse", "a row count without rows, or a negative one",
						   psprintf("read stream \"%s\"", rd->stream));
	return block->row_count > 0;
}

static long
resume_delay_ms(int failures)
{
	long		cap = RESUME_BACKOFF_INITIAL_MS;

	for (int i = 1; i < failures && cap < RESUME_BACKOFF_MAX_MS; i++)
		cap *= 2;
	cap = Min(cap, RESUME_BACKOFF_MAX_MS);
	return cap / 2 + (long) (pg_prng_double(&pg_global_prng_state) * (cap / 2));
}

/*
 * The end of a reader's call: finished, to be resumed, or an ERROR.
 */
static void
reader_call_ended(BqsReader *rd)
{
	BqsStatus	status = bqs_status_from_grpc(grpc_status(rd->call));

	grpc_free(rd->call);
	rd->call = NULL;
	if (status.code == BQS_OK)
	{
		rd->finished = true;
		return;
	}
	if (status.code == BQS_UNAUTHENTICATED && !rd->reauthorized &&
		rd->srv->cred[GCP_BIGQUERY_STORAGE].kind != GCP_AUTH_NONE)
	{
		gcp_auth_forget(&rd->srv->cred[GCP_BIGQUERY_STORAGE]);
		rd->reauthorized = true;
		rd->resume_at = GetCurrentTimestamp();
		return;
	}
	if (bqs_status_transient(&status) && rd->failures < gcp_http_max_retries)
	{
		rd->failures++;
		rd->resume_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													resume_delay_ms(rd->failures));
		return;
	}
	bqs_report(&status, ERROR, psprintf("read stream \"%s\" from row " INT64_FORMAT,
										rd->stream, rd->offset));
}

int
bqs_readers_next(BqsReader **readers, int nreaders, BqsRowBlock *block)
{
	/* taken in turn, so that one fast stream does not starve the others */
	static int	next_first = 0;

	for (;;)
	{
		TimestampTz now = GetCurrentTimestamp();
		TimestampTz soonest = -1;
		bool		any_left = false;
		long		wait_ms;

		for (int k = 0; k < nreaders; k++)
		{
			int			i = (next_first + k) % nreaders;
			BqsReader  *rd = readers[i];
			const uint8 *data;
			size_t		len;

			if (rd == NULL || rd->finished)
				continue;
			if (rd->call == NULL)
			{
				if (now < rd->resume_at)
				{
					if (soonest < 0 || rd->resume_at < soonest)
						soonest = rd->resume_at;
					any_left = true;
					continue;
				}
				start_read_rows(rd);
			}
			while (grpc_next_message(rd->call, &data, &len))
			{
				if (decode_read_rows(rd, data, len, block))
				{
					rd->offset += block->row_count;
					rd->failures = 0;
					next_first = (i + 1) % nreaders;
					return i;
				}
			}
			if (grpc_ended(rd->call))
			{
				reader_call_ended(rd);
				/* look at it again at once: it may resume now */
				k--;
				continue;
			}
			any_left = true;
		}
		if (!any_left)
			return -1;
		wait_ms = -1;
		if (soonest >= 0)
			wait_ms = (long) Max((soonest - now) / 1000 + 1, 0);
		grpc_wait_any(wait_ms);
	}
}

void
bqs_reader_end(BqsReader *reader)
{
	/* deleting the call's context removes the transfer: the stream is reset */
	MemoryContextDelete(reader->cxt);
}
