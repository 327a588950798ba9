/*-------------------------------------------------------------------------
 *
 * error_body.c (fuzz target "error_body")
 *	  Fuzzes gcp_http_report() of src/gcp/http.c, which turns a failed
 *	  call's answer (Google's {"error":{"code","message","status",
 *	  "errors":[{"reason"}]}} or OAuth's {"error":"...",
 *	  "error_description":"..."}, or anything else) into an ERROR with a
 *	  SQLSTATE, a detail quoting the remote text and a hint.  The real
 *	  http.c is linked whole; libcurl is never called.
 *
 * Input: byte 0 picks the HTTP status (and 0 = no answer), byte 1 the
 * service and the level (ERROR, or LOG as extend_leases() uses it); the
 * rest is the response body.
 *
 * A bug is any ASan/UBSan/leak report, or:
 *	error_raised	at level ERROR the function returned (it must not), or
 *					raised no ERROR, or an ERROR with SQLSTATE 00000.
 *	message_safe	the message, detail or hint holds a control character
 *					or is not valid UTF-8 (remote text must be sanitized:
 *					"control characters become spaces, and bytes that do
 *					not form valid characters ... become '?'").
 *	message_short	the detail is longer than 1200 bytes (each remote text,
 *					the status and the message, is cut at 500 bytes).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stdint.h>

#include "gcp/http.h"
#include "pg_shim.h"

static const long statuses[] = {
	400, 401, 403, 404, 409, 429, 500, 502, 503, 504, 0, 200, 301, 418, 499, 501,
};

static int	reports;

static void
check_report(const ErrorData *e)
{
	const char *fields[] = {e->message, e->detail, e->hint};

	reports++;
	for (int i = 0; i < lengthof(fields); i++)
	{
		const char *f = fields[i];

		if (f == NULL)
			continue;
		if (bqfuzz_check("message_safe") &&
			(bqfuzz_has_control(f) || !bqfuzz_valid_utf8(f, strlen(f))))
			bqfuzz_fail("message_safe", "remote text reaches the %s unsanitized: %s",
						i == 0 ? "message" : i == 1 ? "detail" : "hint", f);
	}
	if (e->detail && strlen(e->detail) > 1200 && bqfuzz_check("message_short"))
		bqfuzz_fail("message_short", "a detail of %zu bytes", strlen(e->detail));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	GcpHttpResult res;
	int			elevel;
	const char *service;
	volatile bool returned = false;

	if (size < 2)
		return 0;
	bqfuzz_begin();
	bqfuzz_report_hook = check_report;
	reports = 0;
	memset(&res, 0, sizeof(res));
	res.status = statuses[data[0] % lengthof(statuses)];
	service = data[1] & 1 ? "BigQuery" : "Pub/Sub";
	elevel = data[1] & 2 ? LOG : ERROR;
	/* the transport's buffer: NUL-terminated, exactly body_len bytes before it */
	res.body = bqfuzz_cstring(data + 2, size - 2);
	res.body_len = size - 2;
	res.attempts = 1 + (data[1] >> 2) % 6;
	res.transport_error = res.status == 0 ? "Failed to connect to pubsub.googleapis.com port 443: Connection refused" : NULL;
	PG_TRY();
	{
		gcp_http_report(&res, elevel, service, "create topic \"orders\"");
		returned = true;
	}
	PG_CATCH();
	{
		ErrorData  *e = bqfuzz_error();

		if (bqfuzz_check("error_raised") && e->sqlerrcode == ERRCODE_SUCCESSFUL_COMPLETION)
			bqfuzz_fail("error_raised", "an ERROR with SQLSTATE 00000");
		bqfuzz_flush_error();
	}
	PG_END_TRY();
	if (bqfuzz_check("error_raised"))
	{
		if (elevel == ERROR && returned)
			bqfuzz_fail("error_raised", "gcp_http_report returned at level ERROR");
		if (reports != 1)
			bqfuzz_fail("error_raised", "%d reports for one call", reports);
	}
	bqfuzz_report_hook = NULL;
	bqfuzz_end();
	return 0;
}
