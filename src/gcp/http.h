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
 * termination request is served within milliseconds.
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
	bool		retry;			/* retry 408/429/5xx and transport errors */
	int			deadline_ms;	/* total time including retries; 0 = default */
} GcpHttpRequest;

typedef struct GcpHttpCall GcpHttpCall;

/* Outcome of a finished call. */
typedef struct GcpHttpResult
{
	long		status;			/* HTTP status; 0 when no response was had */
	const char *body;			/* response body, NUL-terminated */
	size_t		body_len;
	const char *transport_error;	/* curl's message when status is 0 */
	int			attempts;
} GcpHttpResult;

/* GUC-backed settings (bqstream.http_*) */
extern int	gcp_http_connect_timeout_ms;
extern int	gcp_http_timeout_ms;
extern int	gcp_http_deadline_ms;
extern int	gcp_http_max_retries;
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
 * retries), the timeout passes (-1: none), or the latch is set.  Serves
 * interrupts: a cancel raises an ERROR here, unless gcp_http_catch_cancel
 * is set.
 */
extern void gcp_http_wait(long timeout_ms);

extern bool gcp_http_finished(GcpHttpCall *call);
extern const GcpHttpResult *gcp_http_result(GcpHttpCall *call);
extern void gcp_http_free(GcpHttpCall *call);

/* Start a call and wait for its end. */
extern GcpHttpCall *gcp_http_run(const GcpHttpRequest *req);

/* true when the result is a 2xx response */
extern bool gcp_http_ok(const GcpHttpResult *res);

/*
 * Raise an ERROR for a failed call: SQLSTATE from Google's status, HTTP
 * status with Google's status and message in the detail, a hint where one
 * helps.  "action" completes "could not ...", e.g. "create topic \"t\"".
 */
extern void gcp_http_report(const GcpHttpResult *res, int elevel,
							const char *service, const char *action);

/*
 * Percent-encode a path segment (RFC 3986 unreserved characters pass).
 */
extern char *gcp_url_escape(const char *segment);

#endif							/* GCP_HTTP_H */
