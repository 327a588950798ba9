/*-------------------------------------------------------------------------
 *
 * error_body.c (fuzz target "error_body")
 *	  Fuzzes gcp_http_report() of src/gcp/http.c, which turns a failed
 *	  call's answer (Google's {"error":{"code","message","status",
 *	  "errors":[{"reason"}]}} or OAuth's {"error":"...",
 *	  "error_description":"..."}, or anything else) into an ERROR with a
 *	  SQLSTATE, a detail quoting Google's text (only a description of any
 *	  other body: the body itself goes to the server log) and a hint.  The
 *	  real http.c is linked whole; libcurl is never called.
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
 *	no_echo			the body is not a Google error (gcp_http_google_error()
 *					says no), yet the detail is more than "<service>
 *					answered HTTP <status> with a body that is not a Google
 *					error (<length> bytes)." (or "with an empty body."), or
 *					the server log's detail holds 24 bytes in a row of the
 *					characters tokens are made of.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stdint.h>

#include "gcp/gcp_json.h"
#include "gcp/http.h"
#include "pg_shim.h"

static const long statuses[] = {
	400, 401, 403, 404, 409, 429, 500, 502, 503, 504, 0, 200, 301, 418, 499, 501,
};

static int	reports;
static size_t fuzz_body_len;
static long fuzz_status;
static const char *fuzz_service;
static bool fuzz_google;

static bool
token_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		(c >= '0' && c <= '9') || (c != '\0' && strchr("-._~+/=%", c) != NULL);
}

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

	/* another server's page: described to the client, quoted in the log only */
	if (!fuzz_google && fuzz_status != 0 && bqfuzz_check("no_echo"))
	{
		char	   *expected = fuzz_body_len == 0
			? psprintf("%s answered HTTP %ld with an empty body.", fuzz_service, fuzz_status)
			: psprintf("%s answered HTTP %ld with a body that is not a Google error (%zu bytes).",
					   fuzz_service, fuzz_status, fuzz_body_len);

		if (e->detail == NULL || strcmp(e->detail, expected) != 0)
			bqfuzz_fail("no_echo", "the detail of a body that is not Google's: %s",
						e->detail ? e->detail : "(none)");
	}
	if (e->detail_log && bqfuzz_check("no_echo"))
	{
		size_t		run = 0;

		for (const char *p = e->detail_log; *p; p++)
		{
			run = token_char(*p) ? run + 1 : 0;
			if (run >= 24)
				bqfuzz_fail("no_echo", "the log's detail holds a token-like run: %s",
							e->detail_log);
		}
	}
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
	fuzz_body_len = res.body_len;
	fuzz_status = res.status;
	fuzz_service = service;
	{
		json_t	   *root = gcp_http_parse_json_quiet(res.body, res.body_len);

		fuzz_google = root != NULL &&
			gcp_http_google_error(root, res.status, NULL, NULL, NULL);
		json_decref(root);
	}
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
