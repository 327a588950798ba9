/*-------------------------------------------------------------------------
 *
 * http.h
 *	  HTTP transport of the GCP clients: libcurl's multi interface driven
 *	  from PostgreSQL's latch, with retries, backoff and interruptibility.
 *
 * Every GCP call of the extension goes through here.  A call is started,
 * then driven by gcp_http_wait() together with every other call in flight
 * in this process; retries with exponential backoff and full jitter, and
 * Retry-After, are handled here, bounded by the call's deadline.  Waiting
 * is on the process latch and curl's sockets, so a query cancel or a
 * termination request is served within milliseconds.  Answers, and the
 * JSON trees parsed from them, are bounded by bqstream.max_response_size;
 * error bodies that are not Google's are described, never quoted, to the
 * client.
 *
 *-------------------------------------------------------------------------
 */
#ifndef GCP_HTTP_H
#define GCP_HTTP_H

#include "lib/stringinfo.h"

typedef struct GcpHttpRequest
{
	const char *method;			/* GET, POST, PUT, PATCH, DELETE */
	const char *url;
	const char *content_type;	/* default application/json when a body is set */
	const char *body;			/* must stay valid until the call is freed */
	size_t		body_len;
	const char *bearer_token;	/* NULL: no Authorization header */
	const char *extra_header;	/* one "Name: value" header, or NULL */
	const char *const *more_headers;	/* NULL-terminated "Name: value" list,
										 * or NULL */
	bool		retry;			/* retry 408/429/5xx, BigQuery's transient
								 * reasons and transport errors */
	int			deadline_ms;	/* total time including retries; 0 = default */
	int			attempt_timeout_ms; /* one attempt; 0 = bqstream.http_timeout */
} GcpHttpRequest;

typedef struct GcpHttpCall GcpHttpCall;

/*
 * An answer refused for its size (bqstream.max_response_size).  Such a call
 * ends with status 0 and a transport error, and is never retried.
 */
typedef enum GcpHttpOversize
{
	GCP_HTTP_SIZE_OK,
	GCP_HTTP_SIZE_ANNOUNCED,	/* Content-Length above the limit: not read */
	GCP_HTTP_SIZE_RECEIVED,		/* passed the limit as it arrived: aborted */
	GCP_HTTP_SIZE_HELD			/* with the answers the process holds, passed
								 * twice the limit */
} GcpHttpOversize;

/* Outcome of a finished call. */
typedef struct GcpHttpResult
{
	long		status;			/* HTTP status; 0 when no response was had */
	const char *body;			/* response body, NUL-terminated */
	size_t		body_len;
	const char *content_type;	/* the answer's, or NULL */
	bool		metadata_flavor_google; /* it had "Metadata-Flavor: Google",
										 * as the GCE metadata server's have */
	const char *transport_error;	/* curl's message when status is 0 */
	int			attempts;
	GcpHttpOversize oversize;
	uint64		oversize_bytes; /* announced, received or held when refused */
	size_t		size_limit;		/* bqstream.max_response_size, in bytes */
} GcpHttpResult;

/* GUC-backed settings (bqstream.http_*) */
extern int	gcp_http_connect_timeout_ms;
extern int	gcp_http_timeout_ms;
extern int	gcp_http_deadline_ms;
extern int	gcp_http_max_retries;
extern int	gcp_http_max_response_kb;
typedef enum GcpCompression
{
	GCP_COMPRESSION_OFF,
	GCP_COMPRESSION_ON,
	GCP_COMPRESSION_AUTO		/* from https endpoints only */
} GcpCompression;

extern int	gcp_http_compression;	/* GcpCompression */

/*
 * Set by a caller that reports partial work when cancelled: a query cancel
 * then makes gcp_http_wait() return with QueryCancelPending still set,
 * instead of raising the cancel ERROR.
 */
extern bool gcp_http_catch_cancel;

extern void gcp_http_define_gucs(void);

/*
 * Start a call; it makes progress only inside gcp_http_wait().  The call
 * belongs to the current memory context: resetting or deleting that
 * context (as an ERROR does) aborts the transfer and frees it.
 */
extern GcpHttpCall *gcp_http_start(const GcpHttpRequest *req);

/*
 * Drive every call in flight until one of them finishes (after its
 * retries) or an attached transfer notes progress or ends, the timeout
 * passes (-1: none), or the latch is set.  Serves
 * interrupts: a cancel raises an ERROR here, unless gcp_http_catch_cancel
 * is set.
 */
extern void gcp_http_wait(long timeout_ms);

extern bool gcp_http_finished(GcpHttpCall *call);
extern const GcpHttpResult *gcp_http_result(GcpHttpCall *call);
extern void gcp_http_free(GcpHttpCall *call);

/*
 * A transfer owned by another module (gcp/grpc.c's streams) but driven by
 * the same multi handle and wait loop as the calls here, so that every
 * transfer of the process shares connections and is served by
 * gcp_http_wait().  "easy" is a CURL handle set up by the owner; its
 * CURLOPT_PRIVATE is taken.  When the transfer ends, it is removed from
 * the multi handle and done(t, curl result code) is called from inside
 * gcp_http_wait(): done must not raise an ERROR.  Detaching a transfer
 * that has not ended stops it.
 */
typedef struct GcpHttpTransfer
{
	void	   *easy;			/* CURL * */
	void		(*done) (struct GcpHttpTransfer *t, int curl_code);
	bool		attached;		/* in the multi handle */
} GcpHttpTransfer;

extern void gcp_http_attach(GcpHttpTransfer *t);
extern void gcp_http_detach(GcpHttpTransfer *t);

/*
 * Make the current or next gcp_http_wait() return: a transfer's callback
 * says so when it received something its owner waits for (a message of a
 * stream that goes on).  Safe inside libcurl callbacks.
 */
extern void gcp_http_note_progress(void);

/* Start a call and wait for its end. */
extern GcpHttpCall *gcp_http_run(const GcpHttpRequest *req);

/* true when the result is a 2xx response */
extern bool gcp_http_ok(const GcpHttpResult *res);

/*
 * Report a failed call at elevel, as postgres_fdw reports a remote error:
 * Google's message as the primary message (ours when the answer is not
 * Google's error, or there was none), the HTTP status and Google's status
 * in the detail, SQLSTATE from them, a hint where one helps, and the
 * action as the context line "while trying to <action>": "action" is
 * what bqstream was doing, as a verb phrase (create topic "t").
 */
extern void gcp_http_report(const GcpHttpResult *res, int elevel,
							const char *service, const char *action);

/*
 * Why a call's answer was refused for its size, completing a sentence such
 * as "Pub/Sub answered %s." ("with more than bqstream.max_response_size
 * (32768 kB), and the transfer was cut off").
 */
extern char *gcp_http_oversize_reason(const GcpHttpResult *res);

/* The same as a whole errdetail() of an ereport(), for "service". */
extern int	gcp_http_errdetail_oversize(const GcpHttpResult *res, const char *service);

/* the context line of a message about a call made to "action" (or NULL) */
#define ACTION_CONTEXT(action) \
	((action) ? errcontext("while trying to %s", (action)) : 0)

/*
 * Parse a response body into a jansson tree (the caller owns the
 * reference).  The tree is measured before it is built (jsonscan.c), and a
 * body whose tree would take more than bqstream.max_response_size is
 * refused with an ERROR saying that "service" answered so, with "action"
 * as its context.  A body that is not a JSON object or array gives NULL and, if
 * why is not NULL, a reason with the byte offset that never quotes the
 * body.
 */
extern struct json_t *gcp_http_parse_json(const char *body, size_t len,
										  const char *service,
										  const char *action, char **why);

/* The same, for error bodies: NULL, without an ERROR, when too large too. */
extern struct json_t *gcp_http_parse_json_quiet(const char *body, size_t len);

/*
 * Is a parsed answer an error in one of the two shapes Google's services
 * answer with: google.rpc's {"error":{"code":<the HTTP status>,"message":
 * "...","status":"..."}}, or OAuth's {"error":"<an RFC 6749 or 6750 error
 * code>","error_description":"..."}?  Only the text of such an answer is
 * quoted in messages: anything else may be another server's page.  When it
 * is, *code (google.rpc status or OAuth error code), *message and *reason
 * (BigQuery's errors[0].reason), each if not NULL, point into the tree or
 * are NULL.
 */
extern bool gcp_http_google_error(struct json_t *root, long http_status,
								  const char **code, const char **message,
								  const char **reason);

/*
 * An answer's body that is not Google's, described for the client ("a body
 * that is not a Google error (text/html, 1234 bytes)": the body may be an
 * internal page), and quoted for the server log only (errdetail_log): its
 * first 500 bytes, sanitized, with runs that look like tokens masked.
 */
extern char *gcp_http_body_summary(const GcpHttpResult *res);
extern char *gcp_http_body_for_log(const GcpHttpResult *res);

/*
 * Text from a remote party, made safe and short for a message: its first
 * "max" bytes (then "..."), control characters as spaces, and, when the cut
 * or the text itself is not valid in the server encoding, every non-ASCII
 * byte as '?'.  The one cleaner of Google's (or another server's) words
 * before they reach errmsg, errdetail or the log.
 */
extern char *gcp_remote_text(const char *s, size_t len, size_t max);

/* how much of a remote text the messages of the HTTP layer quote */
#define REMOTE_TEXT_MAX 500

/*
 * Percent-encoding (RFC 3986 unreserved characters pass), for path
 * segments and application/x-www-form-urlencoded values alike: append to
 * buf, or return a palloc'd copy.
 */
extern void gcp_append_percent_encoded(StringInfo buf, const char *value);
extern char *gcp_url_escape(const char *segment);

#endif							/* GCP_HTTP_H */
