/*-------------------------------------------------------------------------
 *
 * fake_http.c
 *	  The fuzz harnesses' transport (see fake_http.h).  A call belongs to
 *	  the memory context current at gcp_http_start(), like the real one; its
 *	  body is freed by gcp_http_free() or by that context's reset, so a use
 *	  of the body after either is an ASan report, as it would be a bug with
 *	  the real transport.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fake_http.h"

struct GcpHttpCall
{
	GcpHttpResult result;
	char	   *body;
};

FakeHttpHandler fake_http_handler = NULL;
int			fake_http_requests = 0;

GcpHttpCall *
gcp_http_start(const GcpHttpRequest *req)
{
	GcpHttpCall *call = palloc0(sizeof(GcpHttpCall));
	long		status = 0;
	const char *body = "";
	size_t		len = 0;

	fake_http_requests++;
	if (fake_http_handler == NULL)
		elog(PANIC, "fake_http: no handler set");
	fake_http_handler(req, &status, &body, &len);
	call->body = palloc(len + 1);
	memcpy(call->body, body, len);
	call->body[len] = '\0';
	call->result.status = status;
	call->result.body = call->body;
	call->result.body_len = len;
	call->result.transport_error = status == 0 ? "Failed to connect to the fuzz server: Connection refused" : NULL;
	call->result.attempts = 1;
	/* the metadata server marks its answers, and auth.c checks that */
	call->result.metadata_flavor_google = req->extra_header != NULL &&
		strcmp(req->extra_header, "Metadata-Flavor: Google") == 0;
	return call;
}

GcpHttpCall *
gcp_http_run(const GcpHttpRequest *req)
{
	return gcp_http_start(req);
}

void
gcp_http_wait(long timeout_ms)
{
}

bool
gcp_http_finished(GcpHttpCall *call)
{
	return true;
}

const GcpHttpResult *
gcp_http_result(GcpHttpCall *call)
{
	return &call->result;
}

void
gcp_http_free(GcpHttpCall *call)
{
	pfree(call->body);
	pfree(call);
}
