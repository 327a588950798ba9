/*-------------------------------------------------------------------------
 *
 * bqstorage_write.c
 *	  The BigQuery Storage Write API client (BigQueryWrite, v1): write
 *	  streams created, looked up, finalized and committed with unary calls,
 *	  and rows appended through one AppendRows stream kept open.
 *
 * The messages are written here field by field from Google's v1 reference
 * (google.cloud.bigquery.storage.v1, storage.proto and stream.proto):
 *
 *	CreateWriteStreamRequest  parent 1, write_stream 2 (WriteStream)
 *	WriteStream				  name 1, type 2, create_time 3, commit_time 4
 *	GetWriteStreamRequest	  name 1
 *	FinalizeWriteStreamRequest name 1; its response row_count 1
 *	BatchCommitWriteStreamsRequest parent 1, write_streams 2 (repeated)
 *	BatchCommitWriteStreamsResponse commit_time 1, stream_errors 2
 *	StorageError			  code 1, entity 2, error_message 3
 *	AppendRowsRequest		  write_stream 1, offset 2 (Int64Value: value 1),
 *							  proto_rows 4 (ProtoData), trace_id 6
 *	ProtoData				  writer_schema 1 (ProtoSchema: proto_descriptor 1),
 *							  rows 2 (ProtoRows: serialized_rows 1, repeated)
 *	AppendRowsResponse		  append_result 1 (offset 1, Int64Value),
 *							  error 2 (google.rpc.Status: code 1, message 2),
 *							  updated_schema 3, row_errors 4, write_stream 5
 *	RowError				  index 1, code 2, message 3
 *
 * Unary calls are retried on transient failures like REST calls.  Appends
 * are not: whether an append that got no answer was stored is for the
 * caller to find out (by its offset), so a failed append only drops the
 * connection, and the next append opens a new one, writer schema included.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "bqstream.h"
#include "gcp/bqstorage_int.h"

/* identifies bqstream's appends to Google, as its clients' trace_id does */
#define TRACE_ID "bqstream:" BQSTREAM_VERSION

/* sent beside the rows of each request: offset, trace_id, the wrappers' tags */
#define APPEND_OVERHEAD_BYTES	64

/* what a connection that got no answer may take to be closed gracefully */
#define CLOSE_WAIT_MS	2000

static char *
quoted(const char *name)
{
	return psprintf("\"%s\"", name);
}

char *
bqs_default_stream(const char *table_path)
{
	return psprintf("%s/streams/_default", table_path);
}

/* a WriteStream message into *info */
static void
decode_write_stream(const StringInfo msg, BqsWriteStreamInfo *info,
					const char *action)
{
	PbReader	r;
	PbField		f;

	memset(info, 0, sizeof(*info));
	pb_reader_init(&r, msg->data, msg->len);
	while (pb_next(&r, &f))
	{
		switch (f.number)
		{
			case 1:
				bqs_expect_len(&f, "WriteStream", action);
				info->name = pb_strdup(&f);
				break;
			case 2:
				if (f.wire_type == PB_VARINT)
					info->type = (BqsStreamType) (int) pb_int64(&f);
				break;
			case 3:
				info->create_time = bqs_decode_timestamp(&f, action);
				break;
			case 4:
				info->commit_time = bqs_decode_timestamp(&f, action);
				break;
			default:
				break;			/* fields of later versions */
		}
	}
	if (r.error)
		bqs_invalid_answer("WriteStream", r.error, action);
	if (info->name == NULL || info->name[0] == '\0')
		bqs_invalid_answer("WriteStream", "it names no stream", action);
}

char *
bqs_create_write_stream(const GcpServer *srv, const char *table_path,
						BqsStreamType type)
{
	StringInfoData req;
	StringInfoData stream;
	StringInfoData resp;
	BqsWriteStreamInfo info;
	char	   *action = psprintf("create a write stream on table %s", quoted(table_path));

	initStringInfo(&stream);
	pb_put_int64(&stream, 2, (int64) type);
	initStringInfo(&req);
	pb_put_string(&req, 1, table_path);
	pb_put_bytes(&req, 2, stream.data, stream.len);
	initStringInfo(&resp);
	bqs_unary(srv, BQS_WRITE_SERVICE "/CreateWriteStream",
			  grpc_routing_param("parent", table_path), &req, &resp, action, BQS_OK);
	decode_write_stream(&resp, &info, action);
	return info.name;
}

bool
bqs_get_write_stream(const GcpServer *srv, const char *stream,
					 BqsWriteStreamInfo *info)
{
	StringInfoData req;
	StringInfoData resp;
	char	   *action = psprintf("look up write stream %s", quoted(stream));

	initStringInfo(&req);
	pb_put_string(&req, 1, stream);
	initStringInfo(&resp);
	if (bqs_unary(srv, BQS_WRITE_SERVICE "/GetWriteStream",
				  grpc_routing_param("name", stream), &req, &resp, action,
				  BQS_NOT_FOUND) == BQS_NOT_FOUND)
	{
		memset(info, 0, sizeof(*info));
		return false;
	}
	decode_write_stream(&resp, info, action);
	return true;
}

int64
bqs_finalize_write_stream(const GcpServer *srv, const char *stream)
{
	StringInfoData req;
	StringInfoData resp;
	PbReader	r;
	PbField		f;
	int64		row_count = 0;
	char	   *action = psprintf("finalize write stream %s", quoted(stream));

	initStringInfo(&req);
	pb_put_string(&req, 1, stream);
	initStringInfo(&resp);
	bqs_unary(srv, BQS_WRITE_SERVICE "/FinalizeWriteStream",
			  grpc_routing_param("name", stream), &req, &resp, action, BQS_OK);
	pb_reader_init(&r, resp.data, resp.len);
	while (pb_next(&r, &f))
		if (f.number == 1 && f.wire_type == PB_VARINT)
			row_count = pb_int64(&f);
	if (r.error)
		bqs_invalid_answer("FinalizeWriteStreamResponse", r.error, action);
	if (row_count < 0)
		bqs_invalid_answer("FinalizeWriteStreamResponse", "a negative row count", action);
	return row_count;
}

/*
 * StorageError codes as google.rpc codes, so that callers test one kind of
 * code: a stream committed already is ALREADY_EXISTS, one not found or of
 * a table not found NOT_FOUND, a stream in the wrong state or type
 * FAILED_PRECONDITION.
 */
static int
storage_error_code(int64 code)
{
	switch (code)
	{
		case 1:					/* TABLE_NOT_FOUND */
		case 3:					/* STREAM_NOT_FOUND */
			return BQS_NOT_FOUND;
		case 2:					/* STREAM_ALREADY_COMMITTED */
		case 8:					/* OFFSET_ALREADY_EXISTS */
			return BQS_ALREADY_EXISTS;
		case 4:					/* INVALID_STREAM_TYPE */
		case 5:					/* INVALID_STREAM_STATE */
		case 6:					/* STREAM_FINALIZED */
			return BQS_FAILED_PRECONDITION;
		case 7:					/* SCHEMA_MISMATCH_EXTRA_FIELDS */
			return BQS_INVALID_ARGUMENT;
		case 9:					/* OFFSET_OUT_OF_RANGE */
			return BQS_OUT_OF_RANGE;
		case 13:				/* KMS_SERVICE_ERROR: retried, Google says */
			return BQS_UNAVAILABLE;
		case 14:				/* KMS_PERMISSION_DENIED */
			return BQS_PERMISSION_DENIED;
		default:
			return GRPC_UNKNOWN;
	}
}

static BqsStatus
decode_storage_error(const PbField *f, const char *action)
{
	PbReader	r;
	PbField		g;
	int64		code = 0;
	char	   *entity = NULL;
	char	   *message = NULL;
	BqsStatus	status;

	bqs_expect_len(f, "StorageError", action);
	pb_reader_init(&r, f->data, f->len);
	while (pb_next(&r, &g))
	{
		if (g.number == 1 && g.wire_type == PB_VARINT)
			code = pb_int64(&g);
		else if (g.number == 2 && g.wire_type == PB_LEN)
			entity = gcp_remote_text((const char *) g.data, g.len, REMOTE_TEXT_MAX);
		else if (g.number == 3 && g.wire_type == PB_LEN)
			message = gcp_remote_text((const char *) g.data, g.len, REMOTE_TEXT_MAX);
	}
	if (r.error)
		bqs_invalid_answer("StorageError", r.error, action);
	status.code = storage_error_code(code);
	status.message = psprintf("%s%s%s", entity ? entity : "",
							  entity && message ? ": " : "",
							  message ? message : "");
	return status;
}

bool
bqs_batch_commit(const GcpServer *srv, const char *table_path,
				 const char *const *streams, int nstreams,
				 TimestampTz *commit_time,
				 BqsStatus **stream_errors, int *nerrors)
{
	StringInfoData req;
	StringInfoData resp;
	PbReader	r;
	PbField		f;
	bool		committed = false;
	int			cap = 4;
	char	   *action = psprintf("commit %d write stream%s of table %s", nstreams,
								  nstreams == 1 ? "" : "s", quoted(table_path));

	*nerrors = 0;
	*stream_errors = palloc(sizeof(BqsStatus) * cap);
	*commit_time = 0;
	initStringInfo(&req);
	pb_put_string(&req, 1, table_path);
	for (int i = 0; i < nstreams; i++)
		pb_put_string(&req, 2, streams[i]);
	initStringInfo(&resp);
	bqs_unary(srv, BQS_WRITE_SERVICE "/BatchCommitWriteStreams",
			  grpc_routing_param("parent", table_path), &req, &resp, action, BQS_OK);

	pb_reader_init(&r, resp.data, resp.len);
	while (pb_next(&r, &f))
	{
		if (f.number == 1)
		{
			*commit_time = bqs_decode_timestamp(&f, action);
			committed = true;
		}
		else if (f.number == 2)
		{
			if (*nerrors == cap)
			{
				cap *= 2;
				*stream_errors = repalloc(*stream_errors, sizeof(BqsStatus) * cap);
			}
			(*stream_errors)[(*nerrors)++] = decode_storage_error(&f, action);
		}
	}
	if (r.error)
		bqs_invalid_answer("BatchCommitWriteStreamsResponse", r.error, action);
	/* no commit time and no error would be neither outcome */
	if (!committed && *nerrors == 0)
		bqs_invalid_answer("BatchCommitWriteStreamsResponse",
						   "it has neither a commit time nor stream errors", action);
	return committed;
}

/* ---------------------------------------------------------------------
 * AppendRows
 * ---------------------------------------------------------------------
 */

struct BqsAppender
{
	MemoryContext cxt;			/* owns this and the connection */
	const GcpServer *srv;
	char	   *stream;
	char	   *routing;
	char	   *descriptor;
	size_t		descriptor_len;
	GrpcCall   *call;			/* NULL until the next append connects */
	bool		awaiting;		/* an append was sent and not answered */
	StringInfoData request;
};

BqsAppender *
bqs_appender_open(const GcpServer *srv, const char *stream,
				  const void *descriptor, size_t descriptor_len)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext,
											  "bqstream appender",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext oldcxt = MemoryContextSwitchTo(cxt);
	BqsAppender *a = palloc0(sizeof(BqsAppender));

	a->cxt = cxt;
	a->srv = srv;
	a->stream = pstrdup(stream);
	a->routing = grpc_routing_param("write_stream", stream);
	a->descriptor = palloc(Max(descriptor_len, 1));
	memcpy(a->descriptor, descriptor, descriptor_len);
	a->descriptor_len = descriptor_len;
	initStringInfo(&a->request);
	MemoryContextSwitchTo(oldcxt);
	return a;
}

static int
varint_size(uint64 v)
{
	int			n = 1;

	while (v >= 0x80)
	{
		v >>= 7;
		n++;
	}
	return n;
}

/* a length-delimited field of "len" bytes with a one-byte tag */
static size_t
len_field_size(size_t len)
{
	return 1 + varint_size(len) + len;
}

size_t
bqs_append_request_size(const int *row_lens, int nrows)
{
	size_t		rows = 0;

	for (int i = 0; i < nrows; i++)
		rows += len_field_size(row_lens[i]);
	/* ProtoRows in ProtoData in the request, plus the stream name */
	return len_field_size(len_field_size(len_field_size(rows))) +
		APPEND_OVERHEAD_BYTES;
}

/* the request of one append: the stream and schema only on a new connection */
static void
build_append_request(BqsAppender *a, bool first, int64 offset,
					 const char *const *rows, const int *row_lens, int nrows)
{
	StringInfo	req = &a->request;
	StringInfoData proto_rows;
	StringInfoData data;

	initStringInfo(&proto_rows);
	for (int i = 0; i < nrows; i++)
		pb_put_bytes(&proto_rows, 1, rows[i], row_lens[i]);

	initStringInfo(&data);
	if (first)
	{
		StringInfoData schema;

		initStringInfo(&schema);
		pb_put_bytes(&schema, 1, a->descriptor, a->descriptor_len);
		pb_put_bytes(&data, 1, schema.data, schema.len);
		pfree(schema.data);
	}
	pb_put_bytes(&data, 2, proto_rows.data, proto_rows.len);
	pfree(proto_rows.data);

	resetStringInfo(req);
	if (first)
		pb_put_string(req, 1, a->stream);
	if (offset >= 0)
	{
		StringInfoData wrapper;

		initStringInfo(&wrapper);
		pb_put_int64(&wrapper, 1, offset);
		pb_put_bytes(req, 2, wrapper.data, wrapper.len);
		pfree(wrapper.data);
	}
	pb_put_bytes(req, 4, data.data, data.len);
	pfree(data.data);
	if (first)
		pb_put_string(req, 6, TRACE_ID);
}

/* google.rpc.Status: code 1, message 2 (details 3 are not read) */
static BqsStatus
decode_rpc_status(const PbField *f, const char *action)
{
	PbReader	r;
	PbField		g;
	BqsStatus	status = {GRPC_UNKNOWN, NULL};

	bqs_expect_len(f, "Status", action);
	pb_reader_init(&r, f->data, f->len);
	while (pb_next(&r, &g))
	{
		if (g.number == 1 && g.wire_type == PB_VARINT)
		{
			int64		code = pb_int64(&g);

			status.code = code >= 0 && code <= BQS_UNAUTHENTICATED ? (int) code : GRPC_UNKNOWN;
		}
		else if (g.number == 2 && g.wire_type == PB_LEN)
			status.message = gcp_remote_text((const char *) g.data, g.len, REMOTE_TEXT_MAX);
	}
	if (r.error)
		bqs_invalid_answer("Status", r.error, action);
	/* an error that says OK is no error: take it as UNKNOWN */
	if (status.code == BQS_OK)
		status.code = GRPC_UNKNOWN;
	return status;
}

static void
decode_append_response(const uint8 *data, size_t len, int nrows,
					   BqsAppendResult *result, const char *action)
{
	PbReader	r;
	PbField		f;
	int			cap = 0;

	pb_reader_init(&r, data, len);
	while (pb_next(&r, &f))
	{
		if (f.number == 1)
		{
			PbReader	ar;
			PbField		g;

			/* AppendResult { offset: Int64Value { value } } */
			bqs_expect_len(&f, "AppendResult", action);
			pb_reader_init(&ar, f.data, f.len);
			while (pb_next(&ar, &g))
			{
				if (g.number == 1 && g.wire_type == PB_LEN)
				{
					PbReader	vr;
					PbField		v;

					result->have_offset = true;
					result->offset = 0;
					pb_reader_init(&vr, g.data, g.len);
					while (pb_next(&vr, &v))
						if (v.number == 1 && v.wire_type == PB_VARINT)
							result->offset = pb_int64(&v);
					if (vr.error)
						bqs_invalid_answer("Int64Value", vr.error, action);
				}
			}
			if (ar.error)
				bqs_invalid_answer("AppendResult", ar.error, action);
		}
		else if (f.number == 2)
			result->status = decode_rpc_status(&f, action);
		else if (f.number == 4)
		{
			PbReader	er;
			PbField		g;
			BqsRowError *e;

			bqs_expect_len(&f, "RowError", action);
			if (result->nrow_errors == cap)
			{
				cap = cap == 0 ? 8 : cap * 2;
				result->row_errors = result->row_errors == NULL
					? palloc(sizeof(BqsRowError) * cap)
					: repalloc(result->row_errors, sizeof(BqsRowError) * cap);
			}
			e = &result->row_errors[result->nrow_errors++];
			e->index = -1;
			e->code = 0;
			e->message = NULL;
			pb_reader_init(&er, f.data, f.len);
			while (pb_next(&er, &g))
			{
				if (g.number == 1 && g.wire_type == PB_VARINT)
				{
					int64		index = pb_int64(&g);

					e->index = index >= 0 && index < nrows ? (int) index : -1;
				}
				else if (g.number == 2 && g.wire_type == PB_VARINT)
					e->code = (int) pb_int64(&g);
				else if (g.number == 3 && g.wire_type == PB_LEN)
					e->message = gcp_remote_text((const char *) g.data, g.len, REMOTE_TEXT_MAX);
			}
			if (er.error)
				bqs_invalid_answer("RowError", er.error, action);
			if (e->index < 0)
				bqs_invalid_answer("RowError", "a row index outside the request", action);
		}
	}
	if (r.error)
		bqs_invalid_answer("AppendRowsResponse", r.error, action);
}

/* drop the connection: the server sees the stream cancelled */
static void
drop_connection(BqsAppender *a)
{
	if (a->call)
		grpc_free(a->call);
	a->call = NULL;
	a->awaiting = false;
}

void
bqs_append(BqsAppender *appender, int64 offset,
		   const char *const *rows, const int *row_lens, int nrows,
		   BqsAppendResult *result,
		   void (*tick) (void *), void *tick_arg)
{
	BqsAppender *a = appender;
	MemoryContext oldcxt;
	bool		first = false;
	TimestampTz deadline;
	TimestampTz next_tick;
	char	   *action = psprintf("append rows to write stream \"%s\"", a->stream);

	memset(result, 0, sizeof(*result));

	/*
	 * A connection that ended, or whose last append was left unanswered (an
	 * ERROR, such as a cancel, while waiting), is not used again: its next
	 * answer would be the old request's.
	 */
	if (a->call && (grpc_ended(a->call) || a->awaiting))
		drop_connection(a);
	oldcxt = MemoryContextSwitchTo(a->cxt);
	if (a->call == NULL)
	{
		GrpcCallSpec spec;

		memset(&spec, 0, sizeof(spec));
		spec.srv = a->srv;
		spec.method = BQS_WRITE_SERVICE "/AppendRows";
		spec.routing = a->routing;
		a->call = grpc_start(&spec);
		first = true;
	}
	build_append_request(a, first, offset, rows, row_lens, nrows);
	grpc_send(a->call, a->request.data, a->request.len);
	a->awaiting = true;
	MemoryContextSwitchTo(oldcxt);

	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), gcp_http_timeout_ms);
	next_tick = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), 1000);
	for (;;)
	{
		const uint8 *data;
		size_t		len;
		TimestampTz now;
		long		wait_ms;

		if (grpc_next_message(a->call, &data, &len))
		{
			a->awaiting = false;
			decode_append_response(data, len, nrows, result, action);
			return;
		}
		if (grpc_ended(a->call))
		{
			const GrpcStatus *st = grpc_status(a->call);

			result->status = bqs_status_from_grpc(st);
			if (result->status.code == BQS_OK)
			{
				/* ended cleanly without answering this request */
				result->status.code = BQS_UNAVAILABLE;
				result->status.message = pstrdup("BigQuery Storage closed the AppendRows stream without answering");
			}
			if (result->status.code == BQS_UNAUTHENTICATED &&
				a->srv->cred[GCP_BIGQUERY_STORAGE].kind != GCP_AUTH_NONE)
				gcp_auth_forget(&a->srv->cred[GCP_BIGQUERY_STORAGE]);
			drop_connection(a);
			return;
		}
		now = GetCurrentTimestamp();
		if (now >= deadline)
		{
			drop_connection(a);
			result->status.code = BQS_DEADLINE_EXCEEDED;
			result->status.message =
				psprintf("no answer from BigQuery Storage to an append within bqstream.http_timeout (%d ms)",
						 gcp_http_timeout_ms);
			return;
		}
		if (tick && now >= next_tick)
		{
			tick(tick_arg);
			next_tick = TimestampTzPlusMilliseconds(now, 1000);
		}
		wait_ms = (long) Min((deadline - now) / 1000 + 1, 1000);
		if (tick)
			wait_ms = Min(wait_ms, (long) ((next_tick - now) / 1000 + 1));
		grpc_wait(a->call, wait_ms);
	}
}

void
bqs_appender_close(BqsAppender *appender)
{
	if (appender->call && !grpc_ended(appender->call))
	{
		TimestampTz give_up = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
														  CLOSE_WAIT_MS);

		/* the server ends the stream once it has read the half-close */
		grpc_close_send(appender->call);
		while (!grpc_ended(appender->call))
		{
			TimestampTz now = GetCurrentTimestamp();
			const uint8 *data;
			size_t		len;

			if (now >= give_up)
				break;
			/* answers of earlier appends are not waited for: drop any */
			while (grpc_next_message(appender->call, &data, &len))
				;
			grpc_wait(appender->call, (long) ((give_up - now) / 1000 + 1));
		}
	}
	MemoryContextDelete(appender->cxt);
}
