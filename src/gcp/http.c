/*-------------------------------------------------------------------------
 *
 * http.c
 *	  The HTTP transport of every GCP call: one libcurl multi handle per
 *	  process, driven from the process latch, with retries and backoff.
 *
 * libcurl's connection cache lives in the multi handle, so keeping one
 * multi handle for the life of the process keeps connections to each
 * endpoint alive between calls and statements.  Transfers are driven with
 * the socket interface: curl tells us which sockets it waits on and for how
 * long, and we wait for those sockets together with the latch in a
 * WaitEventSet, so that cancels and termination are noticed at once.
 *
 * Nothing here raises an ERROR from inside a libcurl callback: callbacks
 * only record what happened, and errors are raised once curl has returned.
 * Each call owns a small memory context whose reset callback removes the
 * transfer from the multi handle and frees what libcurl malloc'd, so an
 * ERROR anywhere leaves no transfer behind.
 *
 * Answers are held in malloc'd memory that PostgreSQL does not account
 * for, so their size is bounded here (bqstream.max_response_size): an
 * answer announced larger is not read, one that grows larger, counted
 * after decompression, is cut off, and all the answers a process holds at
 * once may take twice that.  Their JSON is measured before jansson parses
 * it, since a tree can take forty times its text.  Error bodies that are
 * not Google's are only described to the client and quoted in the server
 * log, since the endpoint may be a server that was never meant to answer
 * the client.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <curl/curl.h>

#include "common/pg_prng.h"
#include "lib/ilist.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "bqstream.h"
#include "gcp/gcp_json.h"
#include "gcp/http.h"
#include "gcp/jsonscan.h"

/* backoff of retried calls: 100 ms doubling up to a minute, as Google advises */
/* CURLOPT_PROTOCOLS_STR, which keeps every transfer to http and https */
#if LIBCURL_VERSION_NUM < 0x075500
#error "bqstream needs libcurl 7.85.0 or later"
#endif

/*
 * Every option is checked: an option libcurl refuses (out of memory, or a
 * libcurl built without what it needs) must not leave a transfer that
 * silently ignores, say, the protocol restriction.
 */
#define set_easy_option(easy, option, value) \
	check_easy_option(curl_easy_setopt((easy), (option), (value)), #option)

static void
check_easy_option(CURLcode rc, const char *option)
{
	if (rc != CURLE_OK)
		ereport(ERROR,
				(errcode(rc == CURLE_OUT_OF_MEMORY ? ERRCODE_OUT_OF_MEMORY : ERRCODE_SYSTEM_ERROR),
				 errmsg("could not set libcurl option %s: %s", option, curl_easy_strerror(rc))));
}

#define BACKOFF_INITIAL_MS	100
#define BACKOFF_MAX_MS		60000

/*
 * bqstream.max_response_size, in kB.  32 MB: above the largest answers
 * Google gives the calls made here (a getQueryResults page, trimmed at
 * 20 MB of data; a pull holding one 10 MB Pub/Sub message, 13.4 MB once in
 * base64), and well below what would make one backend a danger to the
 * cluster.  The maximum keeps a body below MaxAllocSize, as a PostgreSQL
 * value has to be.
 */
#define MAX_RESPONSE_KB_DEFAULT (32 * 1024)
#define MAX_RESPONSE_KB_MAX		((int) ((MaxAllocSize - 1) / 1024))

/*
 * libcurl's receive and send buffers: pulls, insertAll bodies and result
 * pages are some hundred kilobytes, and its defaults (16 and 64 kB) cost
 * a system call and often a wake-up for each piece.
 */
#define TRANSFER_BUFFER_BYTES	(256 * 1024)

/* easy handles kept for reuse between calls */
#define EASY_POOL_SIZE		16

int			gcp_http_connect_timeout_ms = 10000;
int			gcp_http_timeout_ms = 60000;
int			gcp_http_deadline_ms = 120000;
int			gcp_http_max_retries = 5;
int			gcp_http_max_response_kb = MAX_RESPONSE_KB_DEFAULT;
int			gcp_http_compression = GCP_COMPRESSION_AUTO;
bool		gcp_http_catch_cancel = false;

typedef enum CallState
{
	CALL_ACTIVE,				/* in the multi handle */
	CALL_BACKOFF,				/* waiting to be retried */
	CALL_DONE
} CallState;

struct GcpHttpCall
{
	GcpHttpTransfer transfer;	/* first: CURLOPT_PRIVATE points here */
	dlist_node	node;			/* in active_calls while not freed */
	MemoryContext cxt;			/* owns this struct; deleting it ends the call */
	CallState	state;
	CURL	   *easy;
	struct curl_slist *headers;
	bool		retry;
	TimestampTz deadline;
	int			attempt_timeout_ms;	/* one attempt: the request's, or the GUC's */
	TimestampTz retry_at;
	int			attempts;

	size_t		max_bytes;		/* bqstream.max_response_size when started */

	/* filled by the callbacks of the current attempt */
	char	   *resp;			/* malloc'd, NUL-terminated */
	size_t		resp_len;
	size_t		resp_cap;
	GcpHttpOversize oversize;
	uint64		oversize_bytes;
	long		retry_after_s;	/* -1 when absent */
	bool		metadata_flavor;	/* "Metadata-Flavor: Google" came */
	char		errbuf[CURL_ERROR_SIZE];

	GcpHttpResult result;
};

typedef struct WatchedSocket
{
	curl_socket_t fd;
	int			what;			/* CURL_POLL_IN, _OUT or _INOUT */
	int			set_pos;		/* its event in wait_set */
	uint32		set_events;		/* what wait_set waits for on it */
} WatchedSocket;

static CURLM *multi = NULL;
static dlist_head active_calls = DLIST_STATIC_INIT(active_calls);
static WatchedSocket *sockets = NULL;
static int	nsockets = 0;
static int	maxsockets = 0;
static TimestampTz curl_timer_at = -1;	/* -1: curl wants no timeout */

/*
 * The latch, postmaster death and curl's sockets, kept between waits: a
 * response of some hundred kilobytes arrives in dozens of wake-ups, and a
 * set made for each would cost an epoll instance and a system call per
 * socket every time.  It is made anew only when a socket comes or goes
 * (curl says so before it closes one, so a reused descriptor number is
 * never taken for the old socket); a change of direction is a modify.
 */
static WaitEventSet *wait_set = NULL;
static Latch *wait_set_latch = NULL;
static bool wait_set_stale = true;
static WaitEvent *wait_events = NULL;
static int	wait_events_cap = 0;
/* calls finished and progress noted by attached transfers */
static uint64 calls_finished = 0;
static int	attached_transfers = 0;
static CURL *easy_pool[EASY_POOL_SIZE];
static int	easy_pool_len = 0;

/* bytes of the answers of every call not yet freed, at most twice the limit */
static size_t held_bytes = 0;

static const struct config_enum_entry compression_options[] = {
	{"auto", GCP_COMPRESSION_AUTO, false},
	{"on", GCP_COMPRESSION_ON, false},
	{"off", GCP_COMPRESSION_OFF, false},
	{"true", GCP_COMPRESSION_ON, true},
	{"false", GCP_COMPRESSION_OFF, true},
	{"yes", GCP_COMPRESSION_ON, true},
	{"no", GCP_COMPRESSION_OFF, true},
	{"1", GCP_COMPRESSION_ON, true},
	{"0", GCP_COMPRESSION_OFF, true},
	{NULL, 0, false}
};

void
gcp_http_define_gucs(void)
{
	DefineCustomIntVariable("bqstream.http_connect_timeout",
							"Time allowed to connect to a GCP endpoint.",
							NULL,
							&gcp_http_connect_timeout_ms,
							10000, 100, 600000,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("bqstream.http_timeout",
							"Time allowed for one attempt of a GCP request.",
							NULL,
							&gcp_http_timeout_ms,
							60000, 100, 3600000,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("bqstream.http_retry_deadline",
							"Time allowed for a GCP request including its retries.",
							"Retries stop when the next one would start after this deadline.",
							&gcp_http_deadline_ms,
							120000, 100, 86400000,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomEnumVariable("bqstream.http_compression",
							 "Ask GCP for gzip-compressed responses.",
							 "Compression saves bandwidth at some CPU per response. \"auto\" asks for it from https endpoints only: Google's are, a local emulator is not.",
							 &gcp_http_compression,
							 GCP_COMPRESSION_AUTO, compression_options,
							 PGC_SIGHUP, 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("bqstream.http_max_retries",
							"Retries of a GCP request that failed transiently.",
							"Transient failures are HTTP 408, 429, 500, 502, 503 and 504, BigQuery's errors with reason rateLimitExceeded, backendError, internalError or badGateway, and lost connections.",
							&gcp_http_max_retries,
							5, 0, 100,
							PGC_USERSET, 0,
							NULL, NULL, NULL);

	/*
	 * A superuser setting: it bounds the memory an endpoint can make a
	 * backend take, and endpoints need not be trusted.
	 */
	DefineCustomIntVariable("bqstream.max_response_size",
							"Largest answer accepted from Pub/Sub, BigQuery or a token endpoint.",
							"Counted after decompression; a larger answer fails the call. The JSON tree parsed from an answer is held to the same size, and all the answers a session holds at once to twice this.",
							&gcp_http_max_response_kb,
							MAX_RESPONSE_KB_DEFAULT, 64, MAX_RESPONSE_KB_MAX,
							PGC_SUSET, GUC_UNIT_KB,
							NULL, NULL, NULL);
}

/* ---------------------------------------------------------------------
 * libcurl callbacks: record only, never raise
 * ---------------------------------------------------------------------
 */

/*
 * Response buffers are kept for reuse: pulls and queries bring hundreds of
 * kilobytes, and a fresh buffer of that size every time would be a fresh
 * mmap, page faults and all.
 */
#define BUFFER_POOL_SIZE	8
#define BUFFER_POOL_MAX		(16 * 1024 * 1024)	/* in all */

static char *buffer_pool[BUFFER_POOL_SIZE];
static size_t buffer_pool_cap[BUFFER_POOL_SIZE];
static int	buffer_pool_len = 0;
static size_t buffer_pool_bytes = 0;

static size_t
write_cb(char *data, size_t size, size_t nmemb, void *userp)
{
	GcpHttpCall *call = (GcpHttpCall *) userp;
	size_t		n = size * nmemb;

	/* returning less than n makes curl fail with CURLE_WRITE_ERROR */
	if (call->resp_len + n > call->max_bytes)
	{
		call->oversize = GCP_HTTP_SIZE_RECEIVED;
		call->oversize_bytes = call->resp_len + n;
		return 0;
	}
	if (held_bytes + n > 2 * call->max_bytes)
	{
		call->oversize = GCP_HTTP_SIZE_HELD;
		call->oversize_bytes = held_bytes + n;
		return 0;
	}
	if (call->resp == NULL && buffer_pool_len > 0)
	{
		call->resp = buffer_pool[--buffer_pool_len];
		call->resp_cap = buffer_pool_cap[buffer_pool_len];
		buffer_pool_bytes -= call->resp_cap;
	}
	if (call->resp_len + n + 1 > call->resp_cap)
	{
		size_t		cap = Max(call->resp_cap * 2, call->resp_len + n + 1);
		char	   *p;

		cap = Max(cap, 8192);
		cap = Min(cap, call->max_bytes + 1);
		p = realloc(call->resp, cap);
		if (p == NULL)
			return 0;
		call->resp = p;
		call->resp_cap = cap;
	}
	memcpy(call->resp + call->resp_len, data, n);
	call->resp_len += n;
	held_bytes += n;
	call->resp[call->resp_len] = '\0';
	return n;
}

/*
 * The value of a header line whose name is "name" (lower case, with its
 * colon) as a number, or -1 when the line is not that header or holds no
 * number.
 */
static int64
header_number(const char *line, size_t n, const char *name)
{
	size_t		namelen = strlen(name);
	const char *p = line + namelen;
	const char *end = line + n;
	int64		v = 0;

	if (n <= namelen || pg_strncasecmp(line, name, namelen) != 0)
		return -1;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (p == end || *p < '0' || *p > '9')
		return -1;
	for (; p < end && *p >= '0' && *p <= '9'; p++)
		v = v < PG_INT64_MAX / 10 - 1 ? v * 10 + (*p - '0') : PG_INT64_MAX;
	return v;
}

/*
 * Is a header line the header "name" (lower case, with its colon) with
 * exactly the value "value", but for surrounding blanks?
 */
static bool
header_is(const char *line, size_t n, const char *name, const char *value)
{
	size_t		namelen = strlen(name);
	size_t		valuelen = strlen(value);
	const char *p = line + namelen;
	const char *end = line + n;

	if (n <= namelen || pg_strncasecmp(line, name, namelen) != 0)
		return false;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	while (end > p && (end[-1] == ' ' || end[-1] == '\t' ||
					   end[-1] == '\r' || end[-1] == '\n'))
		end--;
	return (size_t) (end - p) == valuelen && memcmp(p, value, valuelen) == 0;
}

static size_t
header_cb(char *line, size_t size, size_t nmemb, void *userp)
{
	GcpHttpCall *call = (GcpHttpCall *) userp;
	size_t		n = size * nmemb;
	static const char name[] = "retry-after:";
	int64		length = header_number(line, n, "content-length:");

	/* an answer announced too large is not read at all */
	if (length > 0 && (uint64) length > call->max_bytes)
	{
		call->oversize = GCP_HTTP_SIZE_ANNOUNCED;
		call->oversize_bytes = length;
		return 0;
	}
	if (header_is(line, n, "metadata-flavor:", "Google"))
		call->metadata_flavor = true;
	if (n > sizeof(name) - 1 && pg_strncasecmp(line, name, sizeof(name) - 1) == 0)
	{
		char		value[64];
		size_t		vlen = Min(n - (sizeof(name) - 1), sizeof(value) - 1);
		char	   *end;
		long		secs;

		memcpy(value, line + sizeof(name) - 1, vlen);
		value[vlen] = '\0';
		secs = strtol(value, &end, 10);
		if (end != value && secs >= 0)
			call->retry_after_s = secs;
		else
		{
			/* an HTTP-date */
			time_t		when = curl_getdate(value, NULL);

			if (when != -1)
				call->retry_after_s = Max(0, (long) (when - time(NULL)));
		}
	}
	return n;
}

static int
socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	int			i;

	for (i = 0; i < nsockets; i++)
		if (sockets[i].fd == fd)
			break;

	if (what == CURL_POLL_REMOVE)
	{
		if (i < nsockets)
		{
			sockets[i] = sockets[--nsockets];
			wait_set_stale = true;
		}
		return 0;
	}
	if (i == nsockets)
	{
		if (nsockets == maxsockets)
		{
			int			newmax = Max(16, maxsockets * 2);
			WatchedSocket *p = realloc(sockets, newmax * sizeof(WatchedSocket));

			if (p == NULL)
				return -1;		/* curl fails the transfer */
			sockets = p;
			maxsockets = newmax;
		}
		nsockets++;
		wait_set_stale = true;
	}
	sockets[i].fd = fd;
	sockets[i].what = what;
	return 0;
}

static int
timer_cb(CURLM *m, long timeout_ms, void *userp)
{
	curl_timer_at = timeout_ms < 0 ? -1 :
		TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_ms);
	return 0;
}

/* ---------------------------------------------------------------------
 * process state
 * ---------------------------------------------------------------------
 */

static void
ensure_multi(void)
{
	if (multi != NULL)
		return;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("could not initialize libcurl")));
	multi = curl_multi_init();
	if (multi == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("Could not create a libcurl multi handle.")));
	if (curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, socket_cb) != CURLM_OK ||
		curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, timer_cb) != CURLM_OK)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("could not set up the libcurl multi handle")));
}

static void
release_attempt_buffers(GcpHttpCall *call)
{
	/* what the pool keeps is bounded too: it stays with the process */
	if (call->resp && buffer_pool_len < BUFFER_POOL_SIZE &&
		buffer_pool_bytes + call->resp_cap <= BUFFER_POOL_MAX)
	{
		buffer_pool[buffer_pool_len] = call->resp;
		buffer_pool_cap[buffer_pool_len++] = call->resp_cap;
		buffer_pool_bytes += call->resp_cap;
	}
	else
		free(call->resp);
	Assert(held_bytes >= call->resp_len);
	held_bytes -= call->resp_len;
	call->resp = NULL;
	call->resp_len = call->resp_cap = 0;
	call->oversize = GCP_HTTP_SIZE_OK;
	call->oversize_bytes = 0;
	call->retry_after_s = -1;
	call->metadata_flavor = false;
	call->errbuf[0] = '\0';
}

/* memory-context reset callback: whatever happens, leave nothing behind */
static void
call_cleanup(void *arg)
{
	GcpHttpCall *call = (GcpHttpCall *) arg;

	if (call->state == CALL_ACTIVE)
		curl_multi_remove_handle(multi, call->easy);
	if (call->easy)
	{
		if (easy_pool_len < EASY_POOL_SIZE)
		{
			curl_easy_reset(call->easy);
			easy_pool[easy_pool_len++] = call->easy;
		}
		else
			curl_easy_cleanup(call->easy);
		call->easy = NULL;
	}
	curl_slist_free_all(call->headers);
	call->headers = NULL;
	release_attempt_buffers(call);
	dlist_delete(&call->node);
	call->state = CALL_DONE;
}

static void call_done(GcpHttpTransfer *t, int curl_code);

static TimestampTz
deadline_of(const GcpHttpRequest *req)
{
	int			ms = req->deadline_ms > 0 ? req->deadline_ms : gcp_http_deadline_ms;

	return TimestampTzPlusMilliseconds(GetCurrentTimestamp(), ms);
}

static void
append_header(GcpHttpCall *call, const char *header)
{
	struct curl_slist *l = curl_slist_append(call->headers, header);

	if (l == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	call->headers = l;
}

/* (Re)submit the transfer to the multi handle for one attempt. */
static void
submit_attempt(GcpHttpCall *call)
{
	long		remaining_ms;

	remaining_ms = (long) ((call->deadline - GetCurrentTimestamp()) / 1000);
	remaining_ms = Max(remaining_ms, 1);
	set_easy_option(call->easy, CURLOPT_TIMEOUT_MS,
					 (long) Min(remaining_ms, (long) call->attempt_timeout_ms));
	set_easy_option(call->easy, CURLOPT_CONNECTTIMEOUT_MS,
					 (long) Min(remaining_ms, (long) gcp_http_connect_timeout_ms));

	release_attempt_buffers(call);
	call->attempts++;
	call->state = CALL_ACTIVE;
	if (curl_multi_add_handle(multi, call->easy) != CURLM_OK)
	{
		call->state = CALL_DONE;
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not start an HTTP transfer")));
	}
}

GcpHttpCall *
gcp_http_start(const GcpHttpRequest *req)
{
	MemoryContext cxt;
	MemoryContext oldcxt;
	GcpHttpCall *call;
	MemoryContextCallback *cb;
	CURL	   *easy;
	bool		compress;

	ensure_multi();

	cxt = AllocSetContextCreate(CurrentMemoryContext, "bqstream HTTP call",
								ALLOCSET_SMALL_SIZES);
	oldcxt = MemoryContextSwitchTo(cxt);
	call = palloc0(sizeof(GcpHttpCall));
	call->cxt = cxt;
	call->state = CALL_DONE;
	call->retry_after_s = -1;
	dlist_push_tail(&active_calls, &call->node);
	cb = palloc0(sizeof(MemoryContextCallback));
	cb->func = call_cleanup;
	cb->arg = call;
	MemoryContextRegisterResetCallback(cxt, cb);

	easy = easy_pool_len > 0 ? easy_pool[--easy_pool_len] : curl_easy_init();
	if (easy == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("Could not create a libcurl handle.")));
	call->easy = easy;
	call->transfer.easy = easy;
	call->transfer.done = call_done;
	call->retry = req->retry;
	call->deadline = deadline_of(req);
	call->attempt_timeout_ms = req->attempt_timeout_ms > 0
		? req->attempt_timeout_ms : gcp_http_timeout_ms;
	call->max_bytes = (size_t) gcp_http_max_response_kb * 1024;

	set_easy_option(easy, CURLOPT_PRIVATE, &call->transfer);
	set_easy_option(easy, CURLOPT_NOSIGNAL, 1L);
	set_easy_option(easy, CURLOPT_URL, req->url);
	set_easy_option(easy, CURLOPT_PROTOCOLS_STR, "http,https");
	set_easy_option(easy, CURLOPT_SSL_VERIFYPEER, 1L);
	set_easy_option(easy, CURLOPT_SSL_VERIFYHOST, 2L);

	/*
	 * Google compresses an answer only when the User-Agent also says "gzip"
	 * (besides Accept-Encoding), as its own clients' "(gzip)" does.
	 */
	compress = gcp_http_compression == GCP_COMPRESSION_ON ||
		(gcp_http_compression == GCP_COMPRESSION_AUTO &&
		 pg_strncasecmp(req->url, "https://", 8) == 0);
	set_easy_option(easy, CURLOPT_ACCEPT_ENCODING, compress ? "" : NULL);
	set_easy_option(easy, CURLOPT_USERAGENT,
					 compress ? "bqstream/" BQSTREAM_VERSION " (gzip)"
					 : "bqstream/" BQSTREAM_VERSION);
	set_easy_option(easy, CURLOPT_TCP_KEEPALIVE, 1L);
	set_easy_option(easy, CURLOPT_BUFFERSIZE, (long) TRANSFER_BUFFER_BYTES);
	set_easy_option(easy, CURLOPT_UPLOAD_BUFFERSIZE, (long) TRANSFER_BUFFER_BYTES);
	set_easy_option(easy, CURLOPT_ERRORBUFFER, call->errbuf);
	set_easy_option(easy, CURLOPT_WRITEFUNCTION, write_cb);
	set_easy_option(easy, CURLOPT_WRITEDATA, call);
	set_easy_option(easy, CURLOPT_HEADERFUNCTION, header_cb);
	set_easy_option(easy, CURLOPT_HEADERDATA, call);

	if (strcmp(req->method, "GET") == 0)
		set_easy_option(easy, CURLOPT_HTTPGET, 1L);
	else
	{
		if (strcmp(req->method, "POST") != 0)
			set_easy_option(easy, CURLOPT_CUSTOMREQUEST, req->method);
		if (req->body != NULL || strcmp(req->method, "DELETE") != 0)
		{
			set_easy_option(easy, CURLOPT_POSTFIELDSIZE_LARGE,
							 (curl_off_t) (req->body ? req->body_len : 0));
			set_easy_option(easy, CURLOPT_POSTFIELDS, req->body ? req->body : "");
		}
	}

	if (req->body != NULL)
		append_header(call, psprintf("Content-Type: %s",
									 req->content_type ? req->content_type : "application/json"));
	/* no 100-continue round trip before large bodies */
	append_header(call, "Expect:");
	if (req->bearer_token)
		append_header(call, psprintf("Authorization: Bearer %s", req->bearer_token));
	if (req->extra_header)
		append_header(call, req->extra_header);
	for (const char *const *h = req->more_headers; h && *h; h++)
		append_header(call, *h);
	set_easy_option(easy, CURLOPT_HTTPHEADER, call->headers);

	submit_attempt(call);
	MemoryContextSwitchTo(oldcxt);
	return call;
}

/* ---------------------------------------------------------------------
 * completion and retries
 * ---------------------------------------------------------------------
 */

static bool
transient_transport_error(CURLcode rc)
{
	switch (rc)
	{
		case CURLE_COULDNT_CONNECT:
		case CURLE_OPERATION_TIMEDOUT:
		case CURLE_SEND_ERROR:
		case CURLE_RECV_ERROR:
		case CURLE_GOT_NOTHING:
		case CURLE_PARTIAL_FILE:
		case CURLE_HTTP2:
		case CURLE_HTTP2_STREAM:
		case CURLE_SSL_CONNECT_ERROR:
			return true;
		default:
			return false;
	}
}

static bool
transient_status(long status)
{
	return status == 408 || status == 429 || status == 500 ||
		status == 502 || status == 503 || status == 504;
}

/*
 * In an object the scanner has just entered, move to the value of member
 * "name", skipping the others; false when there is none.
 */
static bool
scan_to_member(JsonScan *s, const char *name)
{
	JsToken	key;
	bool		first = true;

	while (js_object_next(s, &key, &first))
	{
		if (js_string_is(&key, name))
			return true;
		if (!js_skip(s, NULL, NULL))
			return false;
	}
	return false;
}

/*
 * Does an error body carry a BigQuery reason that Google's clients retry,
 * whatever the status?  BigQuery answers a throttled call with 403 and
 * errors[0].reason rateLimitExceeded, and some failures of its backends
 * with reasons backendError, internalError or badGateway under statuses
 * that are not transient by themselves.  quotaExceeded is not retried, as
 * Google's clients do not: it names a quota that stays exhausted for
 * longer than a call's retries last (bytes scanned per day, for one).
 * jobRateLimitExceeded is not either: it fails a job, and Google's clients
 * rerun the job, which for jobs.query would take a new requestId.
 *
 * Only errors[0] counts, as in Google's clients.  The body is walked with
 * the scanner, not parsed into a tree: it is an answer of any size from
 * any server, looked at before the call is over.
 */
static bool
retryable_reason(const char *body, size_t len)
{
	static const char *const reasons[] = {
		"rateLimitExceeded", "backendError", "internalError", "badGateway",
	};
	JsonScan	s;
	JsToken	tok;
	bool		first = true;

	/* {"error": {..., "errors": [{..., "reason": "..."}, ...]}} */
	js_init(&s, body, len);
	if (js_value(&s, &tok) != JT_OBJECT ||
		!scan_to_member(&s, "error") || js_value(&s, &tok) != JT_OBJECT ||
		!scan_to_member(&s, "errors") || js_value(&s, &tok) != JT_ARRAY ||
		!js_array_next(&s, &first) || js_value(&s, &tok) != JT_OBJECT ||
		!scan_to_member(&s, "reason") || js_value(&s, &tok) != JT_STRING)
		return false;
	for (int i = 0; i < lengthof(reasons); i++)
		if (js_string_is(&tok, reasons[i]))
			return true;
	return false;
}

/* Delay before the next attempt: Retry-After if given, else jittered backoff. */
static long
retry_delay_ms(GcpHttpCall *call)
{
	long		cap;

	if (call->retry_after_s >= 0)
		return call->retry_after_s * 1000;

	cap = BACKOFF_INITIAL_MS;
	for (int i = 1; i < call->attempts && cap < BACKOFF_MAX_MS; i++)
		cap *= 2;
	cap = Min(cap, BACKOFF_MAX_MS);
	/* half fixed, half random: spreads clients without retrying at once */
	return cap / 2 + (long) (pg_prng_double(&pg_global_prng_state) * (cap / 2));
}

static void
finish_attempt(GcpHttpCall *call, CURLcode rc)
{
	long		status = 0;
	bool		transient;

	curl_multi_remove_handle(multi, call->easy);
	call->state = CALL_DONE;

	if (rc == CURLE_OK)
		curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &status);

	/*
	 * A call that may not be repeated is still retried when the connection
	 * was refused, since the request never reached the server then.
	 */
	if (call->oversize != GCP_HTTP_SIZE_OK)
		transient = false;		/* it would only be as large again */
	else if (rc != CURLE_OK)
		transient = call->retry ? transient_transport_error(rc) : rc == CURLE_COULDNT_CONNECT;
	else
		transient = call->retry &&
			(transient_status(status) ||
			 (status >= 400 && call->resp != NULL &&
			  retryable_reason(call->resp, call->resp_len)));

	if (transient && call->attempts <= gcp_http_max_retries)
	{
		TimestampTz at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													 retry_delay_ms(call));

		if (at < call->deadline)
		{
			call->state = CALL_BACKOFF;
			call->retry_at = at;
			return;
		}
	}

	call->result.status = rc == CURLE_OK ? status : 0;
	if (call->resp == NULL)
		write_cb("", 1, 0, call);	/* an empty body is still a string */
	call->result.body = call->resp ? call->resp : "";
	call->result.body_len = call->resp_len;
	call->result.attempts = call->attempts;
	call->result.oversize = call->oversize;
	call->result.oversize_bytes = call->oversize_bytes;
	call->result.size_limit = call->max_bytes;
	call->result.content_type = NULL;
	call->result.metadata_flavor_google = call->metadata_flavor;
	if (rc == CURLE_OK)
	{
		char	   *ct = NULL;

		if (curl_easy_getinfo(call->easy, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
			call->result.content_type = MemoryContextStrdup(call->cxt, ct);
	}
	else
	{
		const char *msg = call->oversize != GCP_HTTP_SIZE_OK ? "answer too large"
			: call->errbuf[0] ? call->errbuf : curl_easy_strerror(rc);

		call->result.transport_error = MemoryContextStrdup(call->cxt, msg);
	}
	calls_finished++;
}

static void
call_done(GcpHttpTransfer *t, int curl_code)
{
	finish_attempt((GcpHttpCall *) t, (CURLcode) curl_code);
}

static void
collect_finished(void)
{
	CURLMsg    *msg;
	int			left;

	while ((msg = curl_multi_info_read(multi, &left)) != NULL)
	{
		GcpHttpTransfer *t;
		CURLcode	rc = msg->data.result;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &t);
		if (t->done == call_done)
		{
			call_done(t, rc);
			continue;
		}
		/* msg is invalid once its handle is removed */
		gcp_http_detach(t);
		calls_finished++;
		t->done(t, rc);
	}
}

void
gcp_http_attach(GcpHttpTransfer *t)
{
	ensure_multi();
	Assert(!t->attached);
	set_easy_option(t->easy, CURLOPT_PRIVATE, t);
	if (curl_multi_add_handle(multi, t->easy) != CURLM_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not start an HTTP transfer")));
	t->attached = true;
	attached_transfers++;
}

void
gcp_http_detach(GcpHttpTransfer *t)
{
	if (!t->attached)
		return;
	curl_multi_remove_handle(multi, t->easy);
	t->attached = false;
	attached_transfers--;
}

void
gcp_http_note_progress(void)
{
	calls_finished++;
}

/*
 * Resubmit the calls whose backoff has passed, when "now" is given; return
 * when the next of the others is due (-1: none).
 */
static TimestampTz
next_retry(TimestampTz now)
{
	dlist_iter	it;
	TimestampTz next = -1;

	dlist_foreach(it, &active_calls)
	{
		GcpHttpCall *call = dlist_container(GcpHttpCall, node, it.cur);

		if (call->state != CALL_BACKOFF)
			continue;
		if (now >= 0 && call->retry_at <= now)
			submit_attempt(call);
		else if (next < 0 || call->retry_at < next)
			next = call->retry_at;
	}
	return next;
}

static bool
any_call_in_flight(void)
{
	dlist_iter	it;

	if (attached_transfers > 0)
		return true;

	dlist_foreach(it, &active_calls)
	{
		GcpHttpCall *call = dlist_container(GcpHttpCall, node, it.cur);

		if (call->state != CALL_DONE)
			return true;
	}
	return false;
}

static uint32
socket_events(const WatchedSocket *sock)
{
	uint32		ev = 0;

	if (sock->what & CURL_POLL_IN)
		ev |= WL_SOCKET_READABLE;
	if (sock->what & CURL_POLL_OUT)
		ev |= WL_SOCKET_WRITEABLE;
	return ev;
}

/* wait_set brought up to date with curl's sockets */
static WaitEventSet *
current_wait_set(void)
{
	if (wait_set != NULL && !wait_set_stale && wait_set_latch == MyLatch)
	{
		/* should a modify fail, the next wait starts from a new set */
		wait_set_stale = true;
		for (int i = 0; i < nsockets; i++)
		{
			uint32		ev = socket_events(&sockets[i]);

			if (ev != sockets[i].set_events)
			{
				ModifyWaitEvent(wait_set, sockets[i].set_pos, ev, NULL);
				sockets[i].set_events = ev;
			}
		}
		wait_set_stale = false;
		return wait_set;
	}

	if (wait_set != NULL)
		FreeWaitEventSet(wait_set);
	wait_set = NULL;
	if (wait_events_cap < nsockets + 2)
	{
		wait_events_cap = Max(nsockets + 2, 8);
		wait_events = wait_events == NULL
			? MemoryContextAlloc(TopMemoryContext, sizeof(WaitEvent) * wait_events_cap)
			: repalloc(wait_events, sizeof(WaitEvent) * wait_events_cap);
	}
	wait_set = CreateWaitEventSet(TopMemoryContext, nsockets + 2);
	AddWaitEventToSet(wait_set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	wait_set_latch = MyLatch;
	AddWaitEventToSet(wait_set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	for (int i = 0; i < nsockets; i++)
	{
		sockets[i].set_events = socket_events(&sockets[i]);
		sockets[i].set_pos = AddWaitEventToSet(wait_set, sockets[i].set_events,
											   sockets[i].fd, NULL, NULL);
	}
	wait_set_stale = false;
	return wait_set;
}

static long
ms_until(TimestampTz now, TimestampTz then)
{
	if (then <= now)
		return 0;
	return (long) Min((then - now + 999) / 1000, (int64) INT_MAX);
}

void
gcp_http_wait(long timeout_ms)
{
	uint64		finished_before = calls_finished;
	TimestampTz give_up = timeout_ms < 0 ? -1 :
		TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_ms);

	for (;;)
	{
		TimestampTz now;
		TimestampTz retry_at;
		long		wait_ms = -1;
		WaitEventSet *set;
		int			nfired;
		bool		latch_set = false;
		int			running;

		if (gcp_http_catch_cancel && QueryCancelPending && !ProcDiePending)
			return;
		CHECK_FOR_INTERRUPTS();

		now = GetCurrentTimestamp();
		retry_at = -1;
		if (multi)
		{
			(void) next_retry(now);
			/* let curl act on expired timers, then harvest */
			if (curl_timer_at >= 0 && curl_timer_at <= GetCurrentTimestamp())
			{
				curl_timer_at = -1;
				curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
			}
			collect_finished();
			retry_at = next_retry(-1);
		}

		if (calls_finished != finished_before)
			return;
		if (give_up >= 0 && now >= give_up)
			return;
		if (give_up < 0 && !any_call_in_flight())
			return;

		if (give_up >= 0)
			wait_ms = ms_until(now, give_up);
		if (curl_timer_at >= 0)
			wait_ms = wait_ms < 0 ? ms_until(now, curl_timer_at) : Min(wait_ms, ms_until(now, curl_timer_at));
		if (retry_at >= 0)
			wait_ms = wait_ms < 0 ? ms_until(now, retry_at) : Min(wait_ms, ms_until(now, retry_at));

		set = current_wait_set();
		nfired = WaitEventSetWait(set, wait_ms, wait_events, nsockets + 2,
								  PG_WAIT_EXTENSION);

		for (int i = 0; i < nfired; i++)
		{
			int			mask = 0;

			if (wait_events[i].events & WL_LATCH_SET)
			{
				latch_set = true;
				continue;
			}
			if (wait_events[i].events & WL_SOCKET_READABLE)
				mask |= CURL_CSELECT_IN;
			if (wait_events[i].events & WL_SOCKET_WRITEABLE)
				mask |= CURL_CSELECT_OUT;
			if (mask)
				curl_multi_socket_action(multi, wait_events[i].fd, mask, &running);
		}

		if (latch_set)
		{
			ResetLatch(MyLatch);
			if (gcp_http_catch_cancel && QueryCancelPending && !ProcDiePending)
				return;
			CHECK_FOR_INTERRUPTS();
			/* a latch set for another reason is the caller's to look at */
			if (multi)
				collect_finished();
			return;
		}
	}
}

bool
gcp_http_finished(GcpHttpCall *call)
{
	return call->state == CALL_DONE;
}

const GcpHttpResult *
gcp_http_result(GcpHttpCall *call)
{
	Assert(call->state == CALL_DONE);
	return &call->result;
}

void
gcp_http_free(GcpHttpCall *call)
{
	MemoryContextDelete(call->cxt);
}

GcpHttpCall *
gcp_http_run(const GcpHttpRequest *req)
{
	GcpHttpCall *call = gcp_http_start(req);
	bool		catch_cancel = gcp_http_catch_cancel;

	/* a single call has no partial result to report: a cancel ends it */
	gcp_http_catch_cancel = false;
	while (!gcp_http_finished(call))
		gcp_http_wait(-1);
	gcp_http_catch_cancel = catch_cancel;
	return call;
}

bool
gcp_http_ok(const GcpHttpResult *res)
{
	return res->status >= 200 && res->status < 300;
}

/* ---------------------------------------------------------------------
 * errors
 * ---------------------------------------------------------------------
 */

/*
 * SQLSTATE for a Google status.  Statuses are the reliable signal: HTTP 409
 * means both ALREADY_EXISTS and ABORTED, 400 both INVALID_ARGUMENT and
 * FAILED_PRECONDITION.
 */
static int
sqlstate_for(long http, const char *status, const char *reason)
{
	if (reason && (strcmp(reason, "quotaExceeded") == 0 ||
				   strcmp(reason, "rateLimitExceeded") == 0))
		return ERRCODE_CONFIGURATION_LIMIT_EXCEEDED;
	if (status)
	{
		static const struct
		{
			const char *status;
			int			sqlstate;
		}			map[] = {
			{"INVALID_ARGUMENT", ERRCODE_INVALID_PARAMETER_VALUE},
			{"OUT_OF_RANGE", ERRCODE_INVALID_PARAMETER_VALUE},
			{"FAILED_PRECONDITION", ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE},
			{"NOT_FOUND", ERRCODE_UNDEFINED_OBJECT},
			{"ALREADY_EXISTS", ERRCODE_DUPLICATE_OBJECT},
			{"PERMISSION_DENIED", ERRCODE_INSUFFICIENT_PRIVILEGE},
			{"UNAUTHENTICATED", ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION},
			{"RESOURCE_EXHAUSTED", ERRCODE_CONFIGURATION_LIMIT_EXCEEDED},
			{"UNAVAILABLE", ERRCODE_CONNECTION_FAILURE},
			{"DEADLINE_EXCEEDED", ERRCODE_CONNECTION_FAILURE},
			{"UNIMPLEMENTED", ERRCODE_FEATURE_NOT_SUPPORTED},
			{"CANCELLED", ERRCODE_QUERY_CANCELED},
		};

		for (int i = 0; i < lengthof(map); i++)
			if (strcmp(status, map[i].status) == 0)
				return map[i].sqlstate;
	}
	switch (http)
	{
		case 400:
			return ERRCODE_INVALID_PARAMETER_VALUE;
		case 401:
			return ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION;
		case 403:
			return ERRCODE_INSUFFICIENT_PRIVILEGE;
		case 404:
			return ERRCODE_UNDEFINED_OBJECT;
		case 409:
			return ERRCODE_DUPLICATE_OBJECT;
		case 429:
			return ERRCODE_CONFIGURATION_LIMIT_EXCEEDED;
		case 0:
		case 502:
		case 503:
		case 504:
			return ERRCODE_CONNECTION_FAILURE;
		default:
			return ERRCODE_FDW_ERROR;
	}
}

static const char *
hint_for(int sqlstate, const char *service)
{
	switch (sqlstate)
	{
		case ERRCODE_INSUFFICIENT_PRIVILEGE:
			return strcmp(service, "BigQuery") == 0
				? "The credential of the user mapping needs a BigQuery role that allows this, such as roles/bigquery.dataEditor."
				: "The credential of the user mapping needs a Pub/Sub role that allows this, such as roles/pubsub.editor.";
		case ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION:
			return "Check the credential in the user mapping of the foreign server.";
		case ERRCODE_UNDEFINED_OBJECT:
			return "Check the name and the project_id option of the foreign server.";
		case ERRCODE_CONFIGURATION_LIMIT_EXCEEDED:
			return "A quota or rate limit was exceeded; retry later, more slowly, or raise the quota.";
		case ERRCODE_CONNECTION_FAILURE:
			return "Check the endpoint options of the foreign server and that the service is reachable.";
		default:
			return NULL;
	}
}

/*
 * Is a google.rpc error a token whose OAuth scopes do not cover the API?
 * Google says so with an ErrorInfo of reason ACCESS_TOKEN_SCOPE_INSUFFICIENT
 * in error.details; older answers of BigQuery only with the message.  It
 * comes as PERMISSION_DENIED, like a missing IAM role, but no role helps:
 * the token has to be asked with other scopes, and on a Compute Engine VM
 * those are the VM's access scopes.
 */
static bool
scope_insufficient(json_t *root, const char *message)
{
	json_t	   *details = json_object_get(json_object_get(root, "error"), "details");
	size_t		i;
	json_t	   *detail;

	if (message && strcmp(message, "Request had insufficient authentication scopes.") == 0)
		return true;
	json_array_foreach(details, i, detail)
	{
		const char *type = json_string_value(json_object_get(detail, "@type"));
		const char *reason = json_string_value(json_object_get(detail, "reason"));

		if (type && reason &&
			strcmp(type, "type.googleapis.com/google.rpc.ErrorInfo") == 0 &&
			strcmp(reason, "ACCESS_TOKEN_SCOPE_INSUFFICIENT") == 0)
			return true;
	}
	return false;
}

#define SCOPE_HINT \
	"The OAuth scopes of the access token do not include this API, and no IAM role changes that. On Compute Engine, give the VM the access scope cloud-platform (\"Allow full access to all Cloud APIs\"; the VM must be stopped to change it)."

/* ---------------------------------------------------------------------
 * answers that are too large, and error bodies
 * ---------------------------------------------------------------------
 */

#define MAX_RESPONSE_HINT \
	"A superuser can raise bqstream.max_response_size if the endpoint is trusted to answer this much."

int
gcp_http_errdetail_oversize(const GcpHttpResult *res, const char *service)
{
	int			limit_kb = (int) (res->size_limit / 1024);

	switch (res->oversize)
	{
		case GCP_HTTP_SIZE_ANNOUNCED:
			return errdetail("%s answered with an answer announced as " UINT64_FORMAT " bytes, more than bqstream.max_response_size (%d kB).",
							 service, res->oversize_bytes, limit_kb);
		case GCP_HTTP_SIZE_RECEIVED:
			return errdetail("%s answered with more than bqstream.max_response_size (%d kB), and the transfer was cut off.",
							 service, limit_kb);
		case GCP_HTTP_SIZE_HELD:
			return errdetail("%s answered with an answer that would have brought the answers held by this session to " UINT64_FORMAT " kB, more than twice bqstream.max_response_size (%d kB).",
							 service, (res->oversize_bytes + 1023) / 1024, limit_kb);
		case GCP_HTTP_SIZE_OK:
			break;
	}
	return 0;
}

char *
gcp_http_oversize_reason(const GcpHttpResult *res)
{
	int			limit_kb = (int) (res->size_limit / 1024);

	switch (res->oversize)
	{
		case GCP_HTTP_SIZE_ANNOUNCED:
			return psprintf("with an answer announced as " UINT64_FORMAT " bytes, more than bqstream.max_response_size (%d kB)",
							res->oversize_bytes, limit_kb);
		case GCP_HTTP_SIZE_RECEIVED:
			return psprintf("with more than bqstream.max_response_size (%d kB), and the transfer was cut off",
							limit_kb);
		case GCP_HTTP_SIZE_HELD:
			return psprintf("with an answer that would have brought the answers held by this session to " UINT64_FORMAT " kB, more than twice bqstream.max_response_size (%d kB)",
							(res->oversize_bytes + 1023) / 1024, limit_kb);
		case GCP_HTTP_SIZE_OK:
			break;
	}
	return pstrdup("with an answer of acceptable size");
}

/* what the parse functions below say about a body they refused */
typedef enum ParseOutcome
{
	PARSE_OK,
	PARSE_INVALID,
	PARSE_TOO_LARGE
} ParseOutcome;

static json_t *
parse_bounded(const char *body, size_t len, ParseOutcome *outcome,
			  size_t *tree_bytes, char **why)
{
	size_t		limit = (size_t) gcp_http_max_response_kb * 1024;
	JsonScan	s;
	JsToken	tok;
	JsTokenKind type;
	json_t	   *root;

	/*
	 * jansson takes an object or an array only; the scanner says so without
	 * quoting the text, which jansson's messages would.
	 */
	js_init(&s, body, len);
	type = js_value(&s, &tok);
	if (type != JT_OBJECT && type != JT_ARRAY)
	{
		*outcome = PARSE_INVALID;
		if (why)
			*why = s.error ? psprintf("%s at byte %d", s.error, js_error_offset(&s, body))
				: pstrdup("not an object or array");
		return NULL;
	}
	js_init(&s, body, len);
	*tree_bytes = js_tree_size(&s, limit);
	if (*tree_bytes > limit)
	{
		*outcome = PARSE_TOO_LARGE;
		return NULL;
	}
	if (!js_at_end(&s))
	{
		*outcome = PARSE_INVALID;
		if (why)
			*why = psprintf("%s at byte %d", s.error, js_error_offset(&s, body));
		return NULL;
	}
	root = json_loadb(body, len, 0, NULL);
	if (root == NULL)
	{
		/* valid JSON that jansson does not take: numbers past its range */
		*outcome = PARSE_INVALID;
		if (why)
			*why = pstrdup("a number out of range");
		return NULL;
	}
	*outcome = PARSE_OK;
	return root;
}

json_t *
gcp_http_parse_json(const char *body, size_t len, const char *service,
					const char *action, char **why)
{
	ParseOutcome outcome;
	size_t		tree_bytes = 0;
	json_t	   *root = parse_bounded(body, len, &outcome, &tree_bytes, why);

	if (outcome == PARSE_TOO_LARGE)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("answer of %s too large", service),
				 errdetail("%s answered with %zu bytes of JSON that would take more than %zu kB once parsed, more than bqstream.max_response_size (%d kB).",
						   service, len, tree_bytes / 1024, gcp_http_max_response_kb),
				 errhint(MAX_RESPONSE_HINT),
				 ACTION_CONTEXT(action)));
	return root;
}

json_t *
gcp_http_parse_json_quiet(const char *body, size_t len)
{
	ParseOutcome outcome;
	size_t		tree_bytes = 0;

	return parse_bounded(body, len, &outcome, &tree_bytes, NULL);
}

/*
 * Error codes of OAuth 2.0 token and resource servers (RFC 6749 section
 * 5.2, RFC 6750 section 3.1), which Google's token endpoint uses.
 */
static bool
is_oauth_error_code(const char *code)
{
	static const char *const codes[] = {
		"invalid_request", "invalid_client", "invalid_grant",
		"unauthorized_client", "unsupported_grant_type", "invalid_scope",
		"access_denied", "server_error", "temporarily_unavailable",
		"invalid_token", "insufficient_scope",
	};

	for (int i = 0; i < lengthof(codes); i++)
		if (strcmp(code, codes[i]) == 0)
			return true;
	return false;
}

bool
gcp_http_google_error(json_t *root, long http_status, const char **code,
					  const char **message, const char **reason)
{
	json_t	   *err = json_object_get(root, "error");
	const char *c = NULL;
	const char *m = NULL;
	const char *r = NULL;

	if (json_is_object(err))
	{
		json_t	   *errors = json_object_get(err, "errors");
		json_t	   *status = json_object_get(err, "status");
		json_t	   *code_value = json_object_get(err, "code");

		/* google.rpc.Status as JSON: its code is the HTTP status */
		if (!json_is_integer(code_value) ||
			json_integer_value(code_value) != http_status ||
			!json_is_string(json_object_get(err, "message")) ||
			(status != NULL && !json_is_string(status)))
			return false;
		c = json_string_value(status);
		m = json_string_value(json_object_get(err, "message"));
		if (json_is_array(errors) && json_array_size(errors) > 0)
			r = json_string_value(json_object_get(json_array_get(errors, 0), "reason"));
	}
	else if (json_is_string(err) && is_oauth_error_code(json_string_value(err)))
	{
		json_t	   *desc = json_object_get(root, "error_description");

		if (desc != NULL && !json_is_string(desc))
			return false;
		c = json_string_value(err);
		m = json_string_value(desc);
	}
	else
		return false;

	if (code)
		*code = c;
	if (message)
		*message = m;
	if (reason)
		*reason = r;
	return true;
}

char *
gcp_remote_text(const char *s, size_t len, size_t max)
{
	StringInfoData buf;
	size_t		limit = Min(len, max);

	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, s, (int) limit);
	for (int i = 0; i < buf.len; i++)
	{
		unsigned char c = (unsigned char) buf.data[i];

		if (c < 0x20 || c == 0x7f)
			buf.data[i] = ' ';
	}
	/* the cut may split a character: then only ASCII is kept whole */
	if (!pg_verifymbstr(buf.data, buf.len, true))
	{
		for (int i = 0; i < buf.len; i++)
			if ((unsigned char) buf.data[i] >= 0x80)
				buf.data[i] = '?';
	}
	if (len > limit)
		appendStringInfoString(&buf, "...");
	return buf.data;
}

/*
 * The media type of a Content-Type header, without its parameters, and
 * only if it is made of the characters media types are made of: a header
 * is the remote party's text too.
 */
static const char *
media_type(const char *content_type)
{
	size_t		n = 0;

	if (content_type == NULL)
		return NULL;
	while (content_type[n] != '\0' && content_type[n] != ';' && n <= 64)
	{
		char		c = content_type[n];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || strchr("!#$&^_.+-/", c) != NULL))
			return NULL;
		n++;
	}
	if (n == 0 || n > 64)
		return NULL;
	return pnstrdup(content_type, n);
}

char *
gcp_http_body_summary(const GcpHttpResult *res)
{
	const char *type = media_type(res->content_type);

	if (res->body_len == 0)
		return pstrdup("an empty body");
	return psprintf("a body that is not a Google error (%s%s%zu bytes)",
					type ? type : "", type ? ", " : "", res->body_len);
}

/*
 * Runs of 24 or more of the characters tokens, JWTs and secrets are made
 * of, masked: a page that echoes the request it got would otherwise put
 * the Authorization header, or a token request's assertion or refresh
 * token, into the log.  Shorter runs are words, numbers and names.
 */
static char *
mask_secrets(const char *text)
{
	StringInfoData buf;
	const char *p = text;

	initStringInfo(&buf);
	while (*p)
	{
		size_t		run = 0;

		while ((p[run] >= 'a' && p[run] <= 'z') || (p[run] >= 'A' && p[run] <= 'Z') ||
			   (p[run] >= '0' && p[run] <= '9') ||
			   (p[run] != '\0' && strchr("-._~+/=%", p[run]) != NULL))
			run++;
		if (run >= 24)
			appendStringInfoString(&buf, "[masked]");
		else
			appendBinaryStringInfo(&buf, p, (int) run);
		p += run;
		if (*p)
			appendStringInfoChar(&buf, *p++);
	}
	return buf.data;
}

char *
gcp_http_body_for_log(const GcpHttpResult *res)
{
	if (res->body_len == 0)
		return gcp_http_body_summary(res);
	return psprintf("%s: %s", gcp_http_body_summary(res),
					mask_secrets(gcp_remote_text(res->body, res->body_len, REMOTE_TEXT_MAX)));
}

void
gcp_http_report(const GcpHttpResult *res, int elevel,
				const char *service, const char *action)
{
	json_t	   *root;
	const char *status = NULL;
	const char *reason = NULL;
	char	   *message = NULL;
	bool		wrong_scopes = false;
	int			sqlstate;
	const char *hint;

	if (res->oversize != GCP_HTTP_SIZE_OK)
	{
		ereport(elevel,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("answer of %s too large", service),
				 gcp_http_errdetail_oversize(res, service),
				 errhint(MAX_RESPONSE_HINT),
				 ACTION_CONTEXT(action)));
		return;
	}

	if (res->status == 0)
	{
		sqlstate = ERRCODE_CONNECTION_FAILURE;
		ereport(elevel,
				(errcode(sqlstate),
				 errmsg("could not reach %s", service),
				 errdetail_plural("%s could not be reached after %d attempt: %s.",
								  "%s could not be reached after %d attempts: %s.",
								  res->attempts, service, res->attempts,
								  res->transport_error ? res->transport_error : "unknown error"),
				 errhint("%s", hint_for(sqlstate, service)),
				 ACTION_CONTEXT(action)));
		return;
	}

	root = gcp_http_parse_json_quiet(res->body, res->body_len);
	if (root)
	{
		const char *code;
		const char *text;

		if (gcp_http_google_error(root, res->status, &code, &text, &reason))
		{
			if (json_is_object(json_object_get(root, "error")))
			{
				status = code;
				message = text ? pstrdup(text) : NULL;
				wrong_scopes = res->status == 403 && scope_insufficient(root, text);
			}
			else				/* OAuth's shape */
				message = psprintf("%s%s%s", code, text ? ": " : "", text ? text : "");
			/* Google's words reach the log: control characters are not passed on */
			status = status ? gcp_remote_text(status, strlen(status), REMOTE_TEXT_MAX) : NULL;
			reason = reason ? pstrdup(reason) : NULL;
		}
		json_decref(root);
	}

	sqlstate = sqlstate_for(res->status, status, reason);
	hint = wrong_scopes ? SCOPE_HINT : hint_for(sqlstate, service);
	if (message && message[0] == '\0')
		ereport(elevel,
				(errcode(sqlstate),
				 errmsg("%s answered with an error without a message", service),
				 status ?
				 errdetail("%s answered HTTP %ld %s.", service, res->status, status) :
				 errdetail("%s answered HTTP %ld.", service, res->status),
				 hint ? errhint("%s", hint) : 0,
				 ACTION_CONTEXT(action)));
	else if (message)
	{
		size_t		len;

		/*
		 * Google's message is the primary message, as postgres_fdw reports
		 * the remote server's: it says what went wrong better than any
		 * text of ours.  A primary message has no final period.
		 */
		message = gcp_remote_text(message, strlen(message), REMOTE_TEXT_MAX);
		len = strlen(message);
		while (len > 1 && message[len - 1] == '.' &&
			   !(len >= 3 && strcmp(message + len - 3, "...") == 0))
			message[--len] = '\0';
		ereport(elevel,
				(errcode(sqlstate),
				 errmsg_internal("%s", message),
				 status ?
				 errdetail("%s answered HTTP %ld %s.", service, res->status, status) :
				 errdetail("%s answered HTTP %ld.", service, res->status),
				 hint ? errhint("%s", hint) : 0,
				 ACTION_CONTEXT(action)));
	}
	else
	{
		/*
		 * Not Google's error: the endpoint may be any server, and its page
		 * is for the DBA's eyes, not the client's.
		 */
		ereport(elevel,
				(errcode(sqlstate),
				 errmsg("unexpected answer from %s", service),
				 errdetail("%s answered HTTP %ld with %s.",
						   service, res->status, gcp_http_body_summary(res)),
				 /* no period: it would make the quoted text's end look like a token */
				 errdetail_log("%s answered HTTP %ld with %s",
							   service, res->status, gcp_http_body_for_log(res)),
				 hint ? errhint("%s", hint) : 0,
				 ACTION_CONTEXT(action)));
	}
}

void
gcp_append_percent_encoded(StringInfo buf, const char *value)
{
	static const char hex[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *) value; *p; p++)
	{
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			(*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.' || *p == '~')
			appendStringInfoChar(buf, (char) *p);
		else
		{
			appendStringInfoChar(buf, '%');
			appendStringInfoChar(buf, hex[*p >> 4]);
			appendStringInfoChar(buf, hex[*p & 15]);
		}
	}
}

char *
gcp_url_escape(const char *segment)
{
	StringInfoData buf;

	initStringInfo(&buf);
	gcp_append_percent_encoded(&buf, segment);
	return buf.data;
}
