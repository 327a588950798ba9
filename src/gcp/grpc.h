/*-------------------------------------------------------------------------
 *
 * grpc.h
 *	  gRPC over HTTP/2 with libcurl: unary calls, server streams and
 *	  bidirectional streams, driven by the latch-aware loop of gcp/http.c.
 *
 * A call is one HTTP/2 stream: POST /<package>.<Service>/<Method> with
 * content-type application/grpc, messages framed by a compressed flag and
 * a big-endian length, and the status in the trailers (or in the headers
 * of a trailers-only answer).  https endpoints are reached over TLS, http
 * ones (emulators) in clear text with prior knowledge of HTTP/2.
 *
 *-------------------------------------------------------------------------
 */
#ifndef GCP_GRPC_H
#define GCP_GRPC_H

#include "gcp/client.h"

/* a call's outcome: a google.rpc.Code and a message for people */
typedef struct GrpcStatus
{
	int			code;			/* 0: OK */
	char	   *message;		/* cleaned remote text, or ours; or NULL */
	bool		remote;			/* message is the server's grpc-message */
} GrpcStatus;

/* gRPC codes used here besides those of bqstorage.h */
#define GRPC_UNKNOWN		2
#define GRPC_UNIMPLEMENTED	12

typedef struct GrpcCall GrpcCall;

typedef struct GrpcCallSpec
{
	const GcpServer *srv;		/* endpoint and token: GCP_BIGQUERY_STORAGE */
	const char *method;			/* "google.cloud.bigquery.storage.v1.BigQueryRead/ReadRows" */
	const char *routing;		/* x-goog-request-params, already encoded, or NULL */
	int			timeout_ms;		/* the call's deadline (grpc-timeout); 0: none */
	/* the one request of a unary or server-streaming call; NULL: bidirectional */
	const void *request;
	size_t		request_len;
} GrpcCallSpec;

/*
 * Start a call; it makes progress inside gcp_http_wait().  It belongs to
 * the current memory context: deleting or resetting that context (as an
 * ERROR does) stops the transfer and frees it.
 */
extern GrpcCall *grpc_start(const GrpcCallSpec *spec);

/* queue one request message of a bidirectional call */
extern void grpc_send(GrpcCall *call, const void *msg, size_t len);

/* end the requests of a bidirectional call (half-close) */
extern void grpc_close_send(GrpcCall *call);

/*
 * The next response message received, if one is complete: its bytes stay
 * valid until the next call of grpc_next_message() or grpc_free() on this
 * call.  false when none is there yet, or the call has ended.
 */
extern bool grpc_next_message(GrpcCall *call, const uint8 **data, size_t *len);

/* has the call ended (every message received, status known)? */
extern bool grpc_ended(GrpcCall *call);

/* the status of an ended call */
extern const GrpcStatus *grpc_status(GrpcCall *call);

/* stop the call if it runs (the server sees it cancelled) and free it */
extern void grpc_free(GrpcCall *call);

/*
 * Wait for something to happen to "call": a message, or its end; then
 * return.  timeout_ms < 0: none.  Serves interrupts.
 */
extern void grpc_wait(GrpcCall *call, long timeout_ms);

/*
 * gcp_http_wait() for the Storage clients: the same, for any transfer of
 * the process, but a query cancel always raises its ERROR (even under
 * gcp_http_catch_cancel): a gRPC call has no partial result to report.
 */
extern void grpc_wait_any(long timeout_ms);

/*
 * One unary call, retried with backoff like REST calls when its status is
 * transient and "retry" is set, and once with a new token after
 * UNAUTHENTICATED.  The response message is put in *response (palloc'd).
 * Returns the final status (code 0 on success).
 */
extern GrpcStatus grpc_unary(const GcpServer *srv, const char *method,
							 const char *routing, const StringInfo request,
							 bool retry, StringInfo response);

/* codes another try may cure: UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED */
extern bool grpc_code_transient(int code);

/* "name=<value percent-encoded>", for x-goog-request-params */
extern char *grpc_routing_param(const char *name, const char *value);

#endif							/* GCP_GRPC_H */
