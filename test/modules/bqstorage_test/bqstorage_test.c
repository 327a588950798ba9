/*-------------------------------------------------------------------------
 *
 * bqstorage_test.c
 *	  SQL functions that drive bqstream's BigQuery Storage Write and Read
 *	  clients directly, for the TAP test of those clients
 *	  (test/t/020_storage_clients.pl).  Not part of the extension.
 *
 * Rows are messages of a fixed writer schema, (id INT64 = 1, name STRING
 * = 2), as a table (id INT64 REQUIRED, name STRING) takes them.  A row
 * whose id is negative is written without its id, so that BigQuery
 * refuses it as a row error.  One appender is kept open between calls,
 * as a pipeline keeps one across batches.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type_d.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

/* before utils/builtins.h, which it includes with its clashes renamed */
#include "gcp/bqstorage.h"
#include "gcp/protobuf.h"

PG_MODULE_MAGIC;

static BqsAppender *appender = NULL;
static char *appender_stream = NULL;
static MemoryContext appender_cxt = NULL;
static int	ticks = 0;

static const GcpServer *
lookup_server(text *server)
{
	return gcp_server_lookup(text_to_cstring(server));
}

/* DescriptorProto of message Row { optional int64 id = 1; optional string name = 2; } */
static void
row_descriptor(StringInfo buf)
{
	StringInfoData field;

	initStringInfo(&field);
	pb_put_string(buf, 1, "Row");
	pb_put_string(&field, 1, "id");
	pb_put_int64(&field, 3, 1);
	pb_put_int64(&field, 4, 1);	/* LABEL_OPTIONAL */
	pb_put_int64(&field, 5, 3);	/* TYPE_INT64 */
	pb_put_bytes(buf, 2, field.data, field.len);
	resetStringInfo(&field);
	pb_put_string(&field, 1, "name");
	pb_put_int64(&field, 3, 2);
	pb_put_int64(&field, 4, 1);
	pb_put_int64(&field, 5, 9);	/* TYPE_STRING */
	pb_put_bytes(buf, 2, field.data, field.len);
}

PG_FUNCTION_INFO_V1(bqs_test_create_stream);
Datum
bqs_test_create_stream(PG_FUNCTION_ARGS)
{
	const GcpServer *srv = lookup_server(PG_GETARG_TEXT_PP(0));
	char	   *path = bqs_table_path(srv, text_to_cstring(PG_GETARG_TEXT_PP(1)),
									  text_to_cstring(PG_GETARG_TEXT_PP(2)));
	char	   *type = text_to_cstring(PG_GETARG_TEXT_PP(3));

	if (strcmp(type, "default") == 0)
		PG_RETURN_TEXT_P(cstring_to_text(bqs_default_stream(path)));
	PG_RETURN_TEXT_P(cstring_to_text(bqs_create_write_stream(srv, path,
															 strcmp(type, "pending") == 0
															 ? BQS_STREAM_PENDING
															 : BQS_STREAM_COMMITTED)));
}

static void
count_tick(void *arg)
{
	ticks++;
}

/*
 * bqs_test_append(server, stream, offset, ids int[]): append one request
 * of rows with these ids ("name-<id>"), at offset (NULL: none).  Returns
 * what came back: "ok", "ok offset=N", "row errors: i code; ...", or
 * "error CODE: message".
 */
PG_FUNCTION_INFO_V1(bqs_test_append);
Datum
bqs_test_append(PG_FUNCTION_ARGS)
{
	const GcpServer *srv = lookup_server(PG_GETARG_TEXT_PP(0));
	char	   *stream = text_to_cstring(PG_GETARG_TEXT_PP(1));
	int64		offset = PG_ARGISNULL(2) ? -1 : PG_GETARG_INT64(2);
	ArrayType  *ids = PG_GETARG_ARRAYTYPE_P(3);
	Datum	   *elems;
	bool	   *nulls;
	int			nrows;
	const char **rows;
	int		   *lens;
	BqsAppendResult result;
	StringInfoData out;

	deconstruct_array(ids, INT4OID, 4, true, TYPALIGN_INT, &elems, &nulls, &nrows);
	rows = palloc(sizeof(char *) * Max(nrows, 1));
	lens = palloc(sizeof(int) * Max(nrows, 1));
	for (int i = 0; i < nrows; i++)
	{
		StringInfoData row;
		int32		id = DatumGetInt32(elems[i]);

		initStringInfo(&row);
		if (id >= 0)
			pb_put_int64(&row, 1, id);
		pb_put_string(&row, 2, psprintf("name-%d", id));
		rows[i] = row.data;
		lens[i] = row.len;
	}

	/* one connection per stream, kept across calls */
	if (appender && strcmp(appender_stream, stream) != 0)
	{
		bqs_appender_close(appender);
		MemoryContextDelete(appender_cxt);
		appender = NULL;
	}
	if (appender == NULL)
	{
		StringInfoData desc;
		MemoryContext old;

		appender_cxt = AllocSetContextCreate(TopMemoryContext, "bqstorage_test",
											 ALLOCSET_DEFAULT_SIZES);
		old = MemoryContextSwitchTo(appender_cxt);
		initStringInfo(&desc);
		row_descriptor(&desc);
		appender_stream = pstrdup(stream);
		appender = bqs_appender_open(srv, stream, desc.data, desc.len);
		MemoryContextSwitchTo(old);
	}
	bqs_append(appender, offset, rows, lens, nrows, &result, count_tick, NULL);

	initStringInfo(&out);
	if (result.nrow_errors > 0)
	{
		appendStringInfoString(&out, "row errors:");
		for (int i = 0; i < result.nrow_errors; i++)
			appendStringInfo(&out, " %d %d;", result.row_errors[i].index,
							 result.row_errors[i].code);
	}
	else if (result.status.code != BQS_OK)
		appendStringInfo(&out, "error %d: %s", result.status.code,
						 result.status.message ? result.status.message : "");
	else if (result.have_offset)
		appendStringInfo(&out, "ok offset=" INT64_FORMAT, result.offset);
	else
		appendStringInfoString(&out, "ok");
	PG_RETURN_TEXT_P(cstring_to_text(out.data));
}

/* bqs_test_close(): half-close the appender's connection */
PG_FUNCTION_INFO_V1(bqs_test_close);
Datum
bqs_test_close(PG_FUNCTION_ARGS)
{
	bool		had = appender != NULL;

	if (appender)
	{
		bqs_appender_close(appender);
		MemoryContextDelete(appender_cxt);
		appender = NULL;
	}
	PG_RETURN_BOOL(had);
}

/* bqs_test_ticks(): how often bqs_append() called its tick while waiting */
PG_FUNCTION_INFO_V1(bqs_test_ticks);
Datum
bqs_test_ticks(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(ticks);
}

PG_FUNCTION_INFO_V1(bqs_test_get_stream);
Datum
bqs_test_get_stream(PG_FUNCTION_ARGS)
{
	const GcpServer *srv = lookup_server(PG_GETARG_TEXT_PP(0));
	BqsWriteStreamInfo info;

	if (!bqs_get_write_stream(srv, text_to_cstring(PG_GETARG_TEXT_PP(1)), &info))
		PG_RETURN_TEXT_P(cstring_to_text("not found"));
	PG_RETURN_TEXT_P(cstring_to_text(psprintf("type=%d created=%s committed=%s",
											  (int) info.type,
											  info.create_time != 0 ? "t" : "f",
											  info.commit_time != 0 ? "t" : "f")));
}

PG_FUNCTION_INFO_V1(bqs_test_finalize);
Datum
bqs_test_finalize(PG_FUNCTION_ARGS)
{
	const GcpServer *srv = lookup_server(PG_GETARG_TEXT_PP(0));

	PG_RETURN_INT64(bqs_finalize_write_stream(srv, text_to_cstring(PG_GETARG_TEXT_PP(1))));
}

/* bqs_test_commit(server, dataset, table, streams text[]) */
PG_FUNCTION_INFO_V1(bqs_test_commit);
Datum
bqs_test_commit(PG_FUNCTION_ARGS)
{
	const GcpServer *srv = lookup_server(PG_GETARG_TEXT_PP(0));
	char	   *path = bqs_table_path(srv, text_to_cstring(PG_GETARG_TEXT_PP(1)),
									  text_to_cstring(PG_GETARG_TEXT_PP(2)));
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(3);
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	const char **streams;
	TimestampTz commit_time;
	BqsStatus  *errors;
	int			nerrors;
	StringInfoData out;

	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	streams = palloc(sizeof(char *) * Max(n, 1));
	for (int i = 0; i < n; i++)
		streams[i] = TextDatumGetCString(elems[i]);
	initStringInfo(&out);
	if (bqs_batch_commit(srv, path, streams, n, &commit_time, &errors, &nerrors))
		appendStringInfo(&out, "committed%s", commit_time > 0 ? " with a commit time" : "");
	else
		for (int i = 0; i < nerrors; i++)
			appendStringInfo(&out, "%serror %d: %s", i ? "; " : "", errors[i].code,
							 errors[i].message);
	PG_RETURN_TEXT_P(cstring_to_text(out.data));
}

/*
 * bqs_test_read(server, dataset, table, fields text[], restriction,
 * max_streams): read the whole table through a read session, every stream
 * at once; "streams=N rows=M blocks=B schema_fields=..." (the Avro rows
 * are counted, not decoded: that is the FDW's part).
 */
PG_FUNCTION_INFO_V1(bqs_test_read);
Datum
bqs_test_read(PG_FUNCTION_ARGS)
{
	const GcpServer *srv = lookup_server(PG_GETARG_TEXT_PP(0));
	char	   *path = bqs_table_path(srv, text_to_cstring(PG_GETARG_TEXT_PP(1)),
									  text_to_cstring(PG_GETARG_TEXT_PP(2)));
	const char **fields = NULL;
	int			nfields = 0;
	char	   *restriction = PG_ARGISNULL(4) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(4));
	int			max_streams = PG_GETARG_INT32(5);
	BqsReadSession *rs;
	BqsReader **readers;
	BqsRowBlock block;
	int64		rows = 0;
	int64		blocks = 0;
	int			i;

	if (!PG_ARGISNULL(3))
	{
		Datum	   *elems;
		bool	   *nulls;

		deconstruct_array(PG_GETARG_ARRAYTYPE_P(3), TEXTOID, -1, false, TYPALIGN_INT,
						  &elems, &nulls, &nfields);
		fields = palloc(sizeof(char *) * Max(nfields, 1));
		for (int k = 0; k < nfields; k++)
			fields[k] = TextDatumGetCString(elems[k]);
	}
	rs = bqs_create_read_session(srv, path, fields, nfields, restriction, max_streams);
	readers = palloc0(sizeof(BqsReader *) * Max(rs->nstreams, 1));
	for (int k = 0; k < rs->nstreams; k++)
		readers[k] = bqs_reader_start(srv, rs->streams[k], 0);
	while ((i = bqs_readers_next(readers, rs->nstreams, &block)) >= 0)
	{
		rows += block.row_count;
		blocks++;
	}
	for (int k = 0; k < rs->nstreams; k++)
		bqs_reader_end(readers[k]);
	PG_RETURN_TEXT_P(cstring_to_text(psprintf("streams=%d rows=" INT64_FORMAT " blocks=" INT64_FORMAT " schema=%s",
											  rs->nstreams, rows, blocks,
											  rs->avro_schema ? "yes" : "no")));
}
