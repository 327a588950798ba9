/*-------------------------------------------------------------------------
 *
 * grpc_stream.c (fuzz target "grpc_stream")
 *	  Fuzzes what bqstream makes of a gRPC answer of the BigQuery Storage
 *	  APIs: src/gcp/grpc.c's libcurl callbacks (headers and trailers,
 *	  the body cut into 5-byte frames, bounded by bqstream.max_response_size),
 *	  grpc_next_message() and grpc_status() (grpc-status, percent-encoded
 *	  grpc-message, answers that are not gRPC), then the messages decoded by
 *	  src/gcp/bqstorage_write.c and bqstorage_read.c (AppendRowsResponse
 *	  with its row errors and google.rpc.Status, WriteStream, ReadRowsResponse)
 *	  and bqstorage.c (Timestamp, bqs_report()).  Those files are #included
 *	  here for their static functions and run as they are; libcurl's
 *	  transfer is played by the harness, calling the callbacks as libcurl
 *	  does.
 *
 * Input: byte 0 says which decoder reads the messages (bits 0-1), whether
 * the content-type is application/grpc (bit 2), whether the transfer ended
 * with a transport error (bit 3), the HTTP status (bits 4-5), whether the
 * call is bidirectional (bit 6); byte 1 is the
 * size of the pieces the body arrives in; byte 2 the length N of the
 * trailer text at the end of the input (lines handed to the header
 * callback after the body); the rest is the body.
 *
 * A bug is any ASan/UBSan/leak report, or:
 *	frames_exact	the messages returned, each with its 5-byte header,
 *					are not exactly the body's first bytes, or one is
 *					larger than bqstream.max_response_size.
 *	status_sane		a status code outside 0..16; a message with a control
 *					character, not valid UTF-8, or longer than 600 bytes;
 *					an answer that is not gRPC whose status quotes it
 *					(its message must be our description).
 *	decode_sane		a decoder raised an ERROR other than 08P01 (invalid
 *					answer), or returned a row error index outside the
 *					request, or a block of rows outside its message.
 *	report_sane		bqs_report() at ERROR returned, or raised SQLSTATE
 *					00000, or a message with a control character.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stdint.h>

#include "pg_shim.h"

/* the files under test, for their static functions */
#include "../src/gcp/grpc.c"
#include "../src/gcp/bqstorage_write.c"
#include "../src/gcp/bqstorage_read.c"

#define NROWS 4					/* rows of the append the answer is for */

static const long http_statuses[] = {200, 502, 404, 401};

/*
 * grpc_next_message() as the caller calls it; a download the write callback
 * paused is resumed by libcurl, played here by the harness itself.
 */
static bool
grpc_next_message_unpaused(GrpcCall *call, const uint8 **msg, size_t *len)
{
	call->recv_paused = false;
	return grpc_next_message(call, msg, len);
}

static void
check_text(const char *property, const char *what, const char *s)
{
	if (s == NULL)
		return;
	if (bqfuzz_has_control(s) || !bqfuzz_valid_utf8(s, strlen(s)) || strlen(s) > 600)
		bqfuzz_fail(property, "%s unsafe or too long: %s", what, s);
}

static void
decode_one(int decoder, const uint8 *msg, size_t len)
{
	PG_TRY();
	{
		switch (decoder)
		{
			case 0:
				{
					BqsAppendResult result;

					memset(&result, 0, sizeof(result));
					decode_append_response(msg, len, NROWS, &result, "append rows");
					for (int i = 0; i < result.nrow_errors; i++)
					{
						if (result.row_errors[i].index < 0 || result.row_errors[i].index >= NROWS)
							bqfuzz_fail("decode_sane", "row error index %d", result.row_errors[i].index);
						check_text("decode_sane", "a row error's message", result.row_errors[i].message);
					}
					check_text("decode_sane", "an append's error", result.status.message);
					if (result.status.code < 0 || result.status.code > 16)
						bqfuzz_fail("decode_sane", "append status code %d", result.status.code);
					break;
				}
			case 1:
				{
					BqsReader	rd;
					BqsRowBlock block;

					memset(&rd, 0, sizeof(rd));
					rd.stream = "projects/p/locations/us/sessions/s/streams/x";
					if (decode_read_rows(&rd, msg, len, &block) &&
						(block.avro_rows < msg || block.avro_rows + block.len > msg + len ||
						 block.row_count <= 0))
						bqfuzz_fail("decode_sane", "a block of rows outside its message");
					break;
				}
			case 2:
				{
					StringInfoData s;
					BqsWriteStreamInfo info;

					initStringInfo(&s);
					appendBinaryStringInfo(&s, (const char *) msg, (int) len);
					decode_write_stream(&s, &info, "look up a write stream");
					break;
				}
			default:
				{
					PbReader	r;
					PbField		f;

					/* BatchCommitWriteStreamsResponse's parts */
					pb_reader_init(&r, msg, len);
					while (pb_next(&r, &f))
					{
						if (f.number == 1)
							(void) bqs_decode_timestamp(&f, "commit");
						else if (f.number == 2)
						{
							BqsStatus	st = decode_storage_error(&f, "commit");

							check_text("decode_sane", "a stream error", st.message);
						}
					}
					break;
				}
		}
	}
	PG_CATCH();
	{
		ErrorData  *e = bqfuzz_error();

		if (bqfuzz_check("decode_sane") && e->sqlerrcode != ERRCODE_PROTOCOL_VIOLATION)
			bqfuzz_fail("decode_sane", "a decoder raised SQLSTATE %s: %s",
						unpack_sql_state(e->sqlerrcode), e->message);
		bqfuzz_flush_error();
	}
	PG_END_TRY();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	GrpcCall   *call;
	size_t		trailer_len;
	size_t		body_len;
	const uint8 *body;
	size_t		piece;
	size_t		fed = 0;
	size_t		taken = 0;
	int			decoder;
	const GrpcStatus *st;
	const uint8 *msg;
	size_t		len;

	if (size < 3)
		return 0;
	bqfuzz_begin();
	gcp_http_max_response_kb = 64;	/* small, so that the bound is reached */
	decoder = data[0] & 3;
	trailer_len = Min((size_t) data[2], size - 3);
	body = data + 3;
	body_len = size - 3 - trailer_len;
	piece = 1 + data[1];

	call = palloc0(sizeof(GrpcCall));
	call->cxt = CurrentMemoryContext;
	call->grpc_code = -1;
	call->bidi = (data[0] & 0x40) != 0;
	call->max_message = (size_t) gcp_http_max_response_kb * 1024;

	/* headers */
	{
		const char *ct = (data[0] & 4) ? "content-type: application/grpc\r\n"
			: "content-type: text/html; charset=utf-8\r\n";
		char		status_line[] = "HTTP/2 200 \r\n";

		grpc_header_cb(status_line, 1, strlen(status_line), call);
		grpc_header_cb((char *) ct, 1, strlen(ct), call);
	}

	/* the body, in pieces; the caller takes messages between pieces */
	while (fed < body_len)
	{
		size_t		n = Min(piece, body_len - fed);
		char	   *chunk = palloc(n);
		size_t		rc;

		memcpy(chunk, body + fed, n);
		rc = grpc_write_cb(chunk, 1, n, call);
		if (rc == CURL_WRITEFUNC_PAUSE)
		{
			/* libcurl keeps the piece; the caller takes what is there */
			while (grpc_next_message_unpaused(call, &msg, &len))
			{
				if (bqfuzz_check("frames_exact") &&
					(taken + FRAME_HEADER + len > fed ||
					 memcmp(msg, body + taken + FRAME_HEADER, len) != 0 ||
					 len > call->max_message))
					bqfuzz_fail("frames_exact", "a message that is not the body's next frame");
				taken += FRAME_HEADER + len;
				decode_one(decoder, msg, len);
			}
			continue;
		}
		if (rc != n)
			break;				/* libcurl fails the transfer */
		fed += n;
		while (grpc_next_message_unpaused(call, &msg, &len))
		{
			if (bqfuzz_check("frames_exact") &&
				(taken + FRAME_HEADER + len > fed ||
				 memcmp(msg, body + taken + FRAME_HEADER, len) != 0 ||
				 len > call->max_message))
				bqfuzz_fail("frames_exact", "a message that is not the body's next frame");
			taken += FRAME_HEADER + len;
			decode_one(decoder, msg, len);
		}
	}

	/* trailers: one header line each */
	{
		const uint8 *t = data + size - trailer_len;
		size_t		start = 0;

		for (size_t i = 0; i <= trailer_len; i++)
		{
			if (i == trailer_len || t[i] == '\n')
			{
				if (i > start)
				{
					char	   *line = palloc(i - start);

					memcpy(line, t + start, i - start);
					grpc_header_cb(line, 1, i - start, call);
				}
				start = i + 1;
			}
		}
	}

	/* the end of the transfer, as gcp_http_wait() reports it */
	grpc_done(&call->transfer, (data[0] & 8) ? CURLE_RECV_ERROR : CURLE_OK);
	call->http_status = http_statuses[(data[0] >> 4) & 3];
	while (grpc_next_message(call, &msg, &len))
	{
		taken += FRAME_HEADER + len;
		decode_one(decoder, msg, len);
	}

	st = grpc_status(call);
	if (bqfuzz_check("status_sane"))
	{
		if (st->code < 0 || st->code > 16)
			bqfuzz_fail("status_sane", "status code %d", st->code);
		check_text("status_sane", "the status message", st->message);
		if (!call->is_grpc && st->remote)
			bqfuzz_fail("status_sane", "the status of an answer that is not gRPC quotes the server: %s",
						st->message);
	}

	/* the status reported as an ERROR, as the clients do */
	PG_TRY();
	{
		BqsStatus	status = bqs_status_from_grpc(st);

		if (status.code == BQS_OK)
			status.code = GRPC_UNKNOWN;
		bqs_report(&status, ERROR, "append rows to write stream \"s\"");
		if (bqfuzz_check("report_sane"))
			bqfuzz_fail("report_sane", "bqs_report() returned at ERROR");
	}
	PG_CATCH();
	{
		ErrorData  *e = bqfuzz_error();

		if (bqfuzz_check("report_sane"))
		{
			if (e->sqlerrcode == ERRCODE_SUCCESSFUL_COMPLETION)
				bqfuzz_fail("report_sane", "an ERROR with SQLSTATE 00000");
			check_text("report_sane", "the message", e->message);
		}
		bqfuzz_flush_error();
	}
	PG_END_TRY();

	free(call->rbuf);
	bqfuzz_end();
	return 0;
}
