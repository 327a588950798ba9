/*-------------------------------------------------------------------------
 *
 * grpc.c
 *	  gRPC over HTTP/2 with libcurl (nghttp2 inside): unary calls, server
 *	  streams and bidirectional streams kept open across requests.
 *
 * Each call is one libcurl easy handle attached to gcp/http.c's multi
 * handle, so calls share its connections (HTTP/2 multiplexes them) and its
 * latch-aware wait loop: no threads, no blocking call, a cancel or SIGTERM
 * is served within milliseconds.  The callbacks only record: received
 * bytes go into a malloc'd buffer that is cut into messages by their
 * 5-byte frames, the trailers' grpc-status and grpc-message are kept, and
 * a complete message makes gcp_http_wait() return (gcp_http_note_progress)
 * so that callers wait for their next answer without polling.
 *
 * A bidirectional call's requests are read by libcurl through the read
 * callback, which pauses the upload (CURL_READFUNC_PAUSE) when no message
 * is queued; grpc_send() queues one and resumes it.  Half-closing is the
 * read callback returning 0.  Server streams pause the download when
 * messages the caller has not taken pile up, so HTTP/2 flow control holds
 * the server back instead of memory growing.
 *
 * Everything received is bounded by bqstream.max_response_size (each
 * message, and what one call holds at once).  An answer that is not gRPC,
 * such as a proxy's error page, is described by its HTTP status, media
 * type and size, never quoted.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <curl/curl.h>

#include "common/pg_prng.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "bqstream.h"
#include "gcp/bqstorage.h"
#include "gcp/grpc.h"
#include "gcp/http.h"

/* gRPC framing: a compressed flag byte and a big-endian 32-bit length */
#define FRAME_HEADER	5

/*
 * A server stream whose caller has not taken its messages yet is paused
 * once this much is buffered: Read API blocks are a few megabytes at most.
 */
#define RECV_SOFT_LIMIT (4 * 1024 * 1024)

/* the grpc-message kept from the trailers, before decoding */
#define RAW_MESSAGE_MAX 2048

#define BACKOFF_INITIAL_MS	100
#define BACKOFF_MAX_MS		60000

struct GrpcCall
{
	GcpHttpTransfer transfer;	/* first: CURLOPT_PRIVATE points here */
	MemoryContext cxt;			/* owns this struct; deleting it ends the call */
	CURL	   *easy;
	struct curl_slist *headers;
	char	   *url;
	char		errbuf[CURL_ERROR_SIZE];
	bool		bidi;
	bool		ended;
	int			curl_code;
	long		http_status;

	/* requests: framed messages, read by the read callback from sendpos */
	StringInfoData sendbuf;
	size_t		sendpos;
	bool		send_paused;
	bool		send_closed;
	char	   *request;		/* the framed request of a non-bidi call */

	/* responses (malloc'd: filled inside callbacks) */
	uint8	   *rbuf;
	size_t		rlen;
	size_t		rcap;
	size_t		rpos;			/* first byte not taken by the caller */
	size_t		rscan;			/* end of the complete frames */
	int			frames_ready;	/* complete frames not taken */
	bool		recv_paused;
	size_t		max_message;	/* bqstream.max_response_size */
	bool		oversize;
	uint64		oversize_bytes;
	bool		compressed;		/* a compressed frame: never asked for */
	uint64		other_bytes;	/* body of an answer that is not gRPC */

	/* headers and trailers */
	bool		is_grpc;		/* content-type application/grpc */
	char		media_type[65];
	int			grpc_code;		/* -1 until a grpc-status came */
	char		raw_message[RAW_MESSAGE_MAX];
	size_t		raw_message_len;

	GrpcStatus	status;
	bool		status_made;
};

/* ---------------------------------------------------------------------
 * libcurl callbacks: record only, never raise
 * ---------------------------------------------------------------------
 */

static uint32
frame_length(const uint8 *p)
{
	return ((uint32) p[1] << 24) | ((uint32) p[2] << 16) | ((uint32) p[3] << 8) | p[4];
}

static size_t
grpc_write_cb(char *data, size_t size, size_t nmemb, void *userp)
{
	GrpcCall   *call = (GrpcCall *) userp;
	size_t		n = size * nmemb;
	size_t		held;

	if (!call->is_grpc)
	{
		/* an error page or the like: measured, never kept, and not forever */
		call->other_bytes += n;
		if (call->other_bytes > call->max_message)
		{
			call->oversize = true;
			call->oversize_bytes = call->other_bytes;
			return 0;
		}
		return n;
	}

	held = call->rlen - call->rpos;
	if (!call->bidi && call->frames_ready > 0 && held + n > RECV_SOFT_LIMIT)
	{
		call->recv_paused = true;
		return CURL_WRITEFUNC_PAUSE;
	}
	/* complete messages are bounded below; this bounds what piles up */
	if (held + n > 2 * call->max_message + 2 * FRAME_HEADER)
	{
		call->oversize = true;
		call->oversize_bytes = held + n;
		return 0;
	}

	if (call->rlen + n > call->rcap)
	{
		size_t		cap = Max(call->rcap * 2, call->rlen + n);
		uint8	   *p;

		cap = Max(cap, 16384);
		p = realloc(call->rbuf, cap);
		if (p == NULL)
			return 0;
		call->rbuf = p;
		call->rcap = cap;
	}
	memcpy(call->rbuf + call->rlen, data, n);
	call->rlen += n;

	while (call->rlen - call->rscan >= FRAME_HEADER)
	{
		const uint8 *frame = call->rbuf + call->rscan;
		uint32		len = frame_length(frame);

		if (frame[0] != 0)
		{
			call->compressed = true;
			return 0;
		}
		if (len > call->max_message)
		{
			call->oversize = true;
			call->oversize_bytes = len;
			return 0;
		}
		if (call->rlen - call->rscan - FRAME_HEADER < len)
			break;
		call->rscan += FRAME_HEADER + len;
		call->frames_ready++;
		gcp_http_note_progress();
	}
	return n;
}

static bool
header_name_is(const char *line, size_t n, const char *name, const char **value,
			   size_t *value_len)
{
	size_t		namelen = strlen(name);
	const char *p;
	const char *end = line + n;

	if (n < namelen || pg_strncasecmp(line, name, namelen) != 0)
		return false;
	p = line + namelen;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	while (end > p && (end[-1] == ' ' || end[-1] == '\t' ||
					   end[-1] == '\r' || end[-1] == '\n'))
		end--;
	*value = p;
	*value_len = end - p;
	return true;
}

/* headers and, for HTTP/2, trailers: libcurl hands both to this callback */
static size_t
grpc_header_cb(char *line, size_t size, size_t nmemb, void *userp)
{
	GrpcCall   *call = (GrpcCall *) userp;
	size_t		n = size * nmemb;
	const char *v;
	size_t		vlen;

	if (header_name_is(line, n, "content-type:", &v, &vlen))
	{
		size_t		keep = 0;

		call->is_grpc = vlen >= 16 && pg_strncasecmp(v, "application/grpc", 16) == 0 &&
			(vlen == 16 || v[16] == '+' || v[16] == ';');
		/* only the characters of media types, for descriptions */
		while (keep < vlen && keep < sizeof(call->media_type) - 1 &&
			   (isalnum((unsigned char) v[keep]) || strchr("!#$&^_.+-/", v[keep]) != NULL))
			keep++;
		memcpy(call->media_type, v, keep);
		call->media_type[keep] = '\0';
	}
	else if (header_name_is(line, n, "grpc-status:", &v, &vlen))
	{
		int			code = 0;

		if (vlen == 0 || vlen > 3)
			code = GRPC_UNKNOWN;
		for (size_t i = 0; i < vlen && code != GRPC_UNKNOWN; i++)
		{
			if (v[i] < '0' || v[i] > '9')
				code = GRPC_UNKNOWN;
			else
				code = code * 10 + (v[i] - '0');
		}
		/* codes beyond UNAUTHENTICATED do not exist: UNKNOWN, as gRPC says */
		call->grpc_code = code > BQS_UNAUTHENTICATED ? GRPC_UNKNOWN : code;
	}
	else if (header_name_is(line, n, "grpc-message:", &v, &vlen))
	{
		vlen = Min(vlen, sizeof(call->raw_message));
		memcpy(call->raw_message, v, vlen);
		call->raw_message_len = vlen;
	}
	return n;
}

static size_t
grpc_read_cb(char *buffer, size_t size, size_t nitems, void *userp)
{
	GrpcCall   *call = (GrpcCall *) userp;
	size_t		avail = call->sendbuf.len - call->sendpos;
	size_t		n = Min(avail, size * nitems);

	if (avail == 0)
	{
		if (call->send_closed)
			return 0;			/* END_STREAM: the half-close */
		call->send_paused = true;
		return CURL_READFUNC_PAUSE;
	}
	memcpy(buffer, call->sendbuf.data + call->sendpos, n);
	call->sendpos += n;
	return n;
}

/* called by gcp_http_wait() when the transfer ended */
static void
grpc_done(GcpHttpTransfer *t, int curl_code)
{
	GrpcCall   *call = (GrpcCall *) t;

	call->curl_code = curl_code;
	curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &call->http_status);
	call->ended = true;
}

/* ---------------------------------------------------------------------
 * calls
 * ---------------------------------------------------------------------
 */

/* memory-context reset callback: whatever happens, leave nothing behind */
static void
grpc_cleanup(void *arg)
{
	GrpcCall   *call = (GrpcCall *) arg;

	/* removing a running HTTP/2 transfer resets its stream: a cancel */
	gcp_http_detach(&call->transfer);
	if (call->easy)
		curl_easy_cleanup(call->easy);
	call->easy = NULL;
	curl_slist_free_all(call->headers);
	call->headers = NULL;
	free(call->rbuf);
	call->rbuf = NULL;
}

#define set_option(easy, option, value) \
	check_option(curl_easy_setopt((easy), (option), (value)), #option)

static void
check_option(CURLcode rc, const char *option)
{
	if (rc != CURLE_OK)
		ereport(ERROR,
				(errcode(rc == CURLE_OUT_OF_MEMORY ? ERRCODE_OUT_OF_MEMORY : ERRCODE_SYSTEM_ERROR),
				 errmsg("could not set libcurl option %s: %s", option, curl_easy_strerror(rc))));
}

static void
add_header(GrpcCall *call, const char *header)
{
	struct curl_slist *l = curl_slist_append(call->headers, header);

	if (l == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	call->headers = l;
}

static void
append_frame(StringInfo buf, const void *msg, size_t len)
{
	char		header[FRAME_HEADER];

	if (len > (size_t) (MaxAllocSize - FRAME_HEADER - 1 - buf->len))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("gRPC request too large"),
				 errdetail("A request message of %zu bytes cannot be sent.", len)));
	header[0] = 0;				/* not compressed */
	header[1] = (char) ((len >> 24) & 0xff);
	header[2] = (char) ((len >> 16) & 0xff);
	header[3] = (char) ((len >> 8) & 0xff);
	header[4] = (char) (len & 0xff);
	appendBinaryStringInfo(buf, header, FRAME_HEADER);
	appendBinaryStringInfo(buf, msg, (int) len);
}

/*
 * grpc-timeout: at most eight digits and a unit; milliseconds while they
 * fit, else seconds.
 */
static char *
timeout_header(int timeout_ms)
{
	if (timeout_ms < 100000000)
		return psprintf("grpc-timeout: %dm", timeout_ms);
	return psprintf("grpc-timeout: %dS", timeout_ms / 1000);
}

GrpcCall *
grpc_start(const GrpcCallSpec *spec)
{
	MemoryContext cxt;
	MemoryContext oldcxt;
	GrpcCall   *call;
	MemoryContextCallback *cb;
	GcpHttpRequest auth;
	const char *root = spec->srv->api_root[GCP_BIGQUERY_STORAGE];
	bool		tls = pg_strncasecmp(root, "https://", 8) == 0;

	cxt = AllocSetContextCreate(CurrentMemoryContext, "bqstream gRPC call",
								ALLOCSET_SMALL_SIZES);
	oldcxt = MemoryContextSwitchTo(cxt);
	call = palloc0(sizeof(GrpcCall));
	call->cxt = cxt;
	call->grpc_code = -1;
	call->bidi = spec->request == NULL;
	call->max_message = (size_t) gcp_http_max_response_kb * 1024;
	initStringInfo(&call->sendbuf);
	cb = palloc0(sizeof(MemoryContextCallback));
	cb->func = grpc_cleanup;
	cb->arg = call;
	MemoryContextRegisterResetCallback(cxt, cb);

	call->url = psprintf("%s/%s", root, spec->method);
	/* the token as REST calls get it (the BigQuery credential's) */
	gcp_request_init(&auth, spec->srv, GCP_BIGQUERY_STORAGE, "POST", call->url, NULL, 0);

	call->easy = curl_easy_init();
	if (call->easy == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("Could not create a libcurl handle.")));
	call->transfer.easy = call->easy;
	call->transfer.done = grpc_done;

	set_option(call->easy, CURLOPT_NOSIGNAL, 1L);
	set_option(call->easy, CURLOPT_URL, call->url);
	set_option(call->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	set_option(call->easy, CURLOPT_SSL_VERIFYPEER, 1L);
	set_option(call->easy, CURLOPT_SSL_VERIFYHOST, 2L);
	/* TLS with ALPN to Google; an emulator's h2c is known to be HTTP/2 */
	set_option(call->easy, CURLOPT_HTTP_VERSION,
			   tls ? (long) CURL_HTTP_VERSION_2TLS : (long) CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
	if (tls)
		/* a new stream on a connection already open rather than a new one */
		set_option(call->easy, CURLOPT_PIPEWAIT, 1L);
	else
	{
		/*
		 * libcurl before 8.0.0 cannot reuse an h2c connection made with prior
		 * knowledge: the next request on it fails at once with "Error in the
		 * HTTP2 framing layer" (curl issue 10634, fixed by pull request
		 * 10643).  Debian 12 has 7.88.1, so each call to a clear-text
		 * endpoint (an emulator) has a connection of its own.
		 */
		set_option(call->easy, CURLOPT_FRESH_CONNECT, 1L);
		set_option(call->easy, CURLOPT_FORBID_REUSE, 1L);
	}
	set_option(call->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	set_option(call->easy, CURLOPT_USERAGENT, "bqstream/" BQSTREAM_VERSION);
	set_option(call->easy, CURLOPT_ERRORBUFFER, call->errbuf);
	set_option(call->easy, CURLOPT_CONNECTTIMEOUT_MS, (long) gcp_http_connect_timeout_ms);
	if (spec->timeout_ms > 0)
		/* the server ends the call at the deadline; this is in case it does not */
		set_option(call->easy, CURLOPT_TIMEOUT_MS, (long) spec->timeout_ms + 2000L);
	set_option(call->easy, CURLOPT_BUFFERSIZE, 256L * 1024);
	set_option(call->easy, CURLOPT_WRITEFUNCTION, grpc_write_cb);
	set_option(call->easy, CURLOPT_WRITEDATA, call);
	set_option(call->easy, CURLOPT_HEADERFUNCTION, grpc_header_cb);
	set_option(call->easy, CURLOPT_HEADERDATA, call);
	set_option(call->easy, CURLOPT_POST, 1L);
	if (call->bidi)
	{
		set_option(call->easy, CURLOPT_READFUNCTION, grpc_read_cb);
		set_option(call->easy, CURLOPT_READDATA, call);
		set_option(call->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) -1);
	}
	else
	{
		StringInfoData framed;

		initStringInfo(&framed);
		append_frame(&framed, spec->request, spec->request_len);
		call->request = framed.data;
		set_option(call->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) framed.len);
		set_option(call->easy, CURLOPT_POSTFIELDS, call->request);
	}

	add_header(call, "Content-Type: application/grpc");
	add_header(call, "TE: trailers");
	add_header(call, "Expect:");
	add_header(call, "Accept:");
	if (auth.bearer_token)
		add_header(call, psprintf("Authorization: Bearer %s", auth.bearer_token));
	if (auth.extra_header)
		add_header(call, auth.extra_header);
	if (spec->routing)
		add_header(call, psprintf("x-goog-request-params: %s", spec->routing));
	if (spec->timeout_ms > 0)
		add_header(call, timeout_header(spec->timeout_ms));
	set_option(call->easy, CURLOPT_HTTPHEADER, call->headers);

	gcp_http_attach(&call->transfer);
	MemoryContextSwitchTo(oldcxt);
	return call;
}

static void
resume_transfer(GrpcCall *call)
{
	CURLcode	rc;

	call->send_paused = false;
	call->recv_paused = false;
	rc = curl_easy_pause(call->easy, CURLPAUSE_CONT);
	if (rc != CURLE_OK)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("could not resume a gRPC call: %s", curl_easy_strerror(rc))));
}

void
grpc_send(GrpcCall *call, const void *msg, size_t len)
{
	Assert(call->bidi && !call->send_closed);
	if (call->ended)
		return;					/* the caller learns it from the status */
	/* what the read callback has taken is dropped before more comes */
	if (call->sendpos == (size_t) call->sendbuf.len)
	{
		resetStringInfo(&call->sendbuf);
		call->sendpos = 0;
	}
	append_frame(&call->sendbuf, msg, len);
	if (call->send_paused)
		resume_transfer(call);
}

void
grpc_close_send(GrpcCall *call)
{
	Assert(call->bidi);
	call->send_closed = true;
	if (call->send_paused && !call->ended)
		resume_transfer(call);
}

bool
grpc_next_message(GrpcCall *call, const uint8 **data, size_t *len)
{
	uint32		n;

	/* what was taken before is dropped now: its bytes were valid until here */
	if (call->rpos > 0 && (call->rpos == call->rlen || call->rpos >= call->rcap / 2))
	{
		memmove(call->rbuf, call->rbuf + call->rpos, call->rlen - call->rpos);
		call->rlen -= call->rpos;
		call->rscan -= call->rpos;
		call->rpos = 0;
	}
	if (call->frames_ready == 0)
	{
		if (call->recv_paused && !call->ended)
			resume_transfer(call);
		return false;
	}
	n = frame_length(call->rbuf + call->rpos);
	*data = call->rbuf + call->rpos + FRAME_HEADER;
	*len = n;
	call->rpos += FRAME_HEADER + n;
	call->frames_ready--;
	return true;
}

bool
grpc_ended(GrpcCall *call)
{
	return call->ended;
}

/* gRPC's mapping of HTTP statuses of answers that are not gRPC */
static int
code_for_http(long status)
{
	switch (status)
	{
		case 400:
			return BQS_INTERNAL;
		case 401:
			return BQS_UNAUTHENTICATED;
		case 403:
			return BQS_PERMISSION_DENIED;
		case 404:
			return GRPC_UNIMPLEMENTED;
		case 429:
		case 502:
		case 503:
		case 504:
			return BQS_UNAVAILABLE;
		default:
			return GRPC_UNKNOWN;
	}
}

/* grpc-message is percent-encoded (RFC 3986 style, of UTF-8 bytes) */
static char *
decode_grpc_message(const char *raw, size_t len)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (size_t i = 0; i < len; i++)
	{
		if (raw[i] == '%' && i + 2 < len && isxdigit((unsigned char) raw[i + 1]) &&
			isxdigit((unsigned char) raw[i + 2]))
		{
			char		hex[3] = {raw[i + 1], raw[i + 2], '\0'};

			appendStringInfoChar(&buf, (char) strtol(hex, NULL, 16));
			i += 2;
		}
		else
			appendStringInfoChar(&buf, raw[i]);
	}
	return buf.data;
}

const GrpcStatus *
grpc_status(GrpcCall *call)
{
	GrpcStatus *st = &call->status;
	MemoryContext oldcxt;

	Assert(call->ended);
	if (call->status_made)
		return st;
	oldcxt = MemoryContextSwitchTo(call->cxt);
	st->remote = false;
	st->message = NULL;
	if (call->oversize)
	{
		st->code = BQS_RESOURCE_EXHAUSTED;
		st->message = psprintf("answer of BigQuery Storage too large: " UINT64_FORMAT " bytes, more than bqstream.max_response_size (%d kB)",
							   call->oversize_bytes, gcp_http_max_response_kb);
	}
	else if (call->compressed)
	{
		st->code = BQS_INTERNAL;
		st->message = pstrdup("BigQuery Storage sent a compressed message, which was not asked for");
	}
	else if (call->is_grpc &&
			 (call->grpc_code > 0 ||
			  (call->grpc_code == 0 && call->curl_code == CURLE_OK)))
	{
		st->code = call->grpc_code;
		if (call->raw_message_len > 0)
		{
			char	   *text = decode_grpc_message(call->raw_message, call->raw_message_len);

			st->message = gcp_remote_text(text, strlen(text), REMOTE_TEXT_MAX);
			st->remote = true;
		}
		if (st->code == BQS_OK && call->rscan != call->rlen)
		{
			st->code = BQS_INTERNAL;
			st->message = pstrdup("BigQuery Storage ended the call inside a message");
			st->remote = false;
		}
	}
	else if (call->curl_code != CURLE_OK)
	{
		st->code = call->curl_code == CURLE_OPERATION_TIMEDOUT
			? BQS_DEADLINE_EXCEEDED : BQS_UNAVAILABLE;
		st->message = psprintf("connection to BigQuery Storage failed: %s",
							   call->errbuf[0] ? call->errbuf :
							   curl_easy_strerror((CURLcode) call->curl_code));
	}
	else if (call->http_status != 200 || !call->is_grpc)
	{
		st->code = call->http_status == 200 ? GRPC_UNKNOWN : code_for_http(call->http_status);
		/* a proxy's page or the like: described, never quoted */
		st->message = psprintf("BigQuery Storage answered HTTP %ld with a body that is not a gRPC answer (%s%s" UINT64_FORMAT " bytes)",
							   call->http_status, call->media_type,
							   call->media_type[0] ? ", " : "", call->other_bytes);
	}
	else
	{
		st->code = BQS_INTERNAL;
		st->message = pstrdup("BigQuery Storage ended the call without a gRPC status");
	}
	call->status_made = true;
	MemoryContextSwitchTo(oldcxt);
	return st;
}

void
grpc_free(GrpcCall *call)
{
	MemoryContextDelete(call->cxt);
}

void
grpc_wait_any(long timeout_ms)
{
	bool		catch_cancel = gcp_http_catch_cancel;

	/*
	 * A call of the Storage APIs has no partial result to report: a cancel
	 * ends it with its ERROR here, whoever asked gcp_http_wait() to return
	 * with the cancel pending instead.
	 */
	gcp_http_catch_cancel = false;
	gcp_http_wait(timeout_ms);
	gcp_http_catch_cancel = catch_cancel;
}

void
grpc_wait(GrpcCall *call, long timeout_ms)
{
	if (call->frames_ready > 0 || call->ended)
		return;
	grpc_wait_any(timeout_ms);
}

/* ---------------------------------------------------------------------
 * unary calls
 * ---------------------------------------------------------------------
 */

bool
grpc_code_transient(int code)
{
	return code == BQS_UNAVAILABLE || code == BQS_DEADLINE_EXCEEDED ||
		code == BQS_RESOURCE_EXHAUSTED || code == BQS_ABORTED;
}

static long
backoff_ms(int attempts)
{
	long		cap = BACKOFF_INITIAL_MS;

	for (int i = 1; i < attempts && cap < BACKOFF_MAX_MS; i++)
		cap *= 2;
	cap = Min(cap, BACKOFF_MAX_MS);
	/* half fixed, half random, as http.c's retries */
	return cap / 2 + (long) (pg_prng_double(&pg_global_prng_state) * (cap / 2));
}

/* sleep interruptibly, still driving every other transfer */
static void
sleep_until(TimestampTz at)
{
	for (;;)
	{
		TimestampTz now = GetCurrentTimestamp();

		if (now >= at)
			return;
		grpc_wait_any((long) ((at - now + 999) / 1000));
	}
}

GrpcStatus
grpc_unary(const GcpServer *srv, const char *method, const char *routing,
		   const StringInfo request, bool retry, StringInfo response)
{
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   gcp_http_deadline_ms);
	bool		reauthorized = false;
	int			attempts = 0;
	GrpcCallSpec spec;

	memset(&spec, 0, sizeof(spec));
	spec.srv = srv;
	spec.method = method;
	spec.routing = routing;
	spec.timeout_ms = gcp_http_timeout_ms;
	spec.request = request->data;
	spec.request_len = request->len;

	for (;;)
	{
		GrpcCall   *call;
		const GrpcStatus *st;
		GrpcStatus	result;
		const uint8 *data;
		size_t		len;

		attempts++;
		call = grpc_start(&spec);
		while (!grpc_ended(call))
			grpc_wait_any(-1);
		st = grpc_status(call);
		result.code = st->code;
		result.remote = st->remote;
		result.message = st->message ? pstrdup(st->message) : NULL;
		if (result.code == BQS_OK)
		{
			if (grpc_next_message(call, &data, &len))
			{
				resetStringInfo(response);
				appendBinaryStringInfo(response, (const char *) data, (int) len);
			}
			else
			{
				result.code = BQS_INTERNAL;
				result.message = pstrdup("BigQuery Storage answered without a response message");
				result.remote = false;
			}
		}
		grpc_free(call);

		/* a token revoked or expired early: fetch a new one, once */
		if (result.code == BQS_UNAUTHENTICATED && !reauthorized &&
			srv->cred[GCP_BIGQUERY_STORAGE].kind != GCP_AUTH_NONE)
		{
			gcp_auth_forget(&srv->cred[GCP_BIGQUERY_STORAGE]);
			reauthorized = true;
			continue;
		}
		if (retry && grpc_code_transient(result.code) &&
			attempts <= gcp_http_max_retries)
		{
			TimestampTz at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
														 backoff_ms(attempts));

			if (at < deadline)
			{
				sleep_until(at);
				continue;
			}
		}
		return result;
	}
}

char *
grpc_routing_param(const char *name, const char *value)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "%s=", name);
	gcp_append_percent_encoded(&buf, value);
	return buf.data;
}
