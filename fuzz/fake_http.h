/*-------------------------------------------------------------------------
 *
 * fake_http.h
 *	  A transport for the fuzz harnesses in place of libcurl: the calls of
 *	  http.h that move bytes (gcp_http_start/run/wait/finished/result/free)
 *	  answer with what the harness's handler says.  Everything else of
 *	  http.c (gcp_http_ok, gcp_http_report, gcp_url_escape) is the real
 *	  code: the Makefile makes the real transport functions weak symbols.
 *
 *-------------------------------------------------------------------------
 */
#ifndef BQFUZZ_FAKE_HTTP_H
#define BQFUZZ_FAKE_HTTP_H

#include "gcp/http.h"

/*
 * Called at each request; fills status and body (body_len bytes; the fake
 * copies them into a palloc'd, NUL-terminated buffer owned by the call, as
 * the real transport owns its buffer until gcp_http_free()).
 */
typedef void (*FakeHttpHandler) (const GcpHttpRequest *req, long *status,
								 const char **body, size_t *body_len);

extern FakeHttpHandler fake_http_handler;
extern int	fake_http_requests;	/* requests made since the last reset */

#endif							/* BQFUZZ_FAKE_HTTP_H */
