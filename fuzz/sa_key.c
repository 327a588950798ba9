/*-------------------------------------------------------------------------
 *
 * sa_key.c (fuzz target "sa_key")
 *	  Fuzzes src/gcp/auth.c (#included here for its static token cache)
 *	  through its entry point gcp_auth_token(): parse_credential() of a
 *	  service-account key (or, through Application Default Credentials,
 *	  gcloud's authorized_user credentials), read_credential_file(),
 *	  make_jwt() with its PEM parsing and RS256 signing by OpenSSL, the
 *	  form posted to the key's token_uri, read_token_answer() of the token
 *	  endpoint's answer, and the messages of report_token_failure().  HTTP
 *	  is fake_http.c: the token endpoint answers with the second part of
 *	  the input.
 *
 * Input: byte 0 picks how the key arrives (bits 0-1: the user mapping's
 * credentials_json, credentials_file, or GOOGLE_APPLICATION_CREDENTIALS)
 * and the token endpoint's HTTP status (bits 2-5); then the key's JSON
 * text; then, after a NUL byte, the token endpoint's answer (without one,
 * a valid token answer).
 *
 * A bug is any ASan/UBSan/leak report, a report at FATAL, or:
 *	no_key_material	 an error message (message, detail, hint, context)
 *					 quotes 24 bytes or more of the key's private_key,
 *					 client_secret or refresh_token, or of the signed
 *					 assertion.  (Windows of those secrets that also occur
 *					 in a field that is no secret, in the token endpoint's
 *					 answer or in auth.c's own default URLs are not
 *					 counted.)
 *	jwt_well_formed	 the assertion posted is not three base64url parts
 *					 whose header and claims are JSON objects with "alg"
 *					 "RS256", "iss" = the key's client_email, "aud" = its
 *					 token_uri, "kid" = its private_key_id.
 *	token_right		 a token is returned that is not the endpoint's
 *					 access_token (from a 2xx answer), or none is returned
 *					 without an ERROR.
 *	message_safe	 the endpoint's text reaches a message with control
 *					 characters (clip() makes it printable ASCII).  Fields
 *					 of the key itself (client_email, token_uri) are quoted
 *					 as they are: keys with control characters in them are
 *					 not counted.
 *
 * Never prints key material: on a violation, only positions and lengths.
 *
 *-------------------------------------------------------------------------
 */
#define _GNU_SOURCE				/* memmem */
#include "gcp/auth.c"

#include <stdint.h>
#include <unistd.h>

#include "gcp/jsonscan.h"
#include "fake_http.h"
#include "pg_shim.h"

static const long statuses[] = {
	200, 200, 200, 200, 400, 401, 403, 404, 429, 500, 503, 0, 200, 201, 302, 408,
};

static const char *token_answer;
static size_t token_answer_len;
static long token_status;
static char key_path[64];

/* what the fuzzed code must not quote */
#define MAX_SECRETS 4
static const char *secrets[MAX_SECRETS];
static size_t secret_lens[MAX_SECRETS];
static int	nsecrets;
/* text it may quote: the non-secret fields and the endpoint's answer */
static StringInfoData quotable;
/* a non-secret field of the key holds a control character: it may show */
static bool key_has_control;

#define WINDOW 24

static void
add_secret(const char *s, size_t len)
{
	if (s && len >= WINDOW && nsecrets < MAX_SECRETS)
	{
		secrets[nsecrets] = pnstrdup(s, len);
		secret_lens[nsecrets++] = len;
	}
}

static void
check_field(const char *what, const char *f)
{
	if (f == NULL)
		return;
	for (int i = 0; i < nsecrets; i++)
		for (size_t off = 0; off + WINDOW <= secret_lens[i]; off++)
		{
			const char *w = secrets[i] + off;

			if (memmem(f, strlen(f), w, WINDOW) != NULL &&
				memmem(quotable.data, quotable.len, w, WINDOW) == NULL)
				bqfuzz_fail("no_key_material", "the %s quotes secret %d from its byte %zu", what, i, off);
		}
	if (!key_has_control && bqfuzz_has_control(f) && bqfuzz_check("message_safe"))
		bqfuzz_fail("message_safe", "the %s holds a control character", what);
}

static void
check_report(const ErrorData *e)
{
	if (!bqfuzz_check("no_key_material"))
		return;
	check_field("message", e->message);
	check_field("detail", e->detail);
	check_field("hint", e->hint);
	check_field("context", e->context);
}

static char *
base64url_decode(const char *s, size_t len, size_t *outlen)
{
	StringInfoData b;
	char	   *std = palloc(len + 4);
	int			n;

	for (size_t i = 0; i < len; i++)
		std[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
	while (len % 4 != 0)
		std[len++] = '=';
	initStringInfo(&b);
	enlargeStringInfo(&b, len / 4 * 3 + 3);
	n = js_base64_decode(std, len, b.data);
	if (n < 0)
		return NULL;
	b.data[n] = '\0';
	*outlen = n;
	return b.data;
}

/* the jwt-bearer form: check the assertion against the key */
static void
check_assertion(const GcpHttpRequest *req, json_t *key)
{
	const char *body = req->body;
	const char *a = strstr(body, "&assertion=");
	const char *dot1;
	const char *dot2;
	char	   *part;
	size_t		len;
	json_t	   *header;
	json_t	   *claims;

	if (a == NULL)
		return;
	a += strlen("&assertion=");
	add_secret(a, strlen(a));
	if (!bqfuzz_check("jwt_well_formed"))
		return;
	dot1 = strchr(a, '.');
	dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
	if (dot2 == NULL || strchr(dot2 + 1, '.') != NULL)
		bqfuzz_fail("jwt_well_formed", "the assertion is not three dot-separated parts");
	part = base64url_decode(a, dot1 - a, &len);
	header = part ? json_loadb(part, len, 0, NULL) : NULL;
	part = base64url_decode(dot1 + 1, dot2 - dot1 - 1, &len);
	claims = part ? json_loadb(part, len, 0, NULL) : NULL;
	if (!json_is_object(header) || !json_is_object(claims))
		bqfuzz_fail("jwt_well_formed", "the JWT header or claims are not JSON objects");
	{
		const char *alg = json_string_value(json_object_get(header, "alg"));
		json_t	   *kid = json_object_get(key, "private_key_id");

		if (alg == NULL || strcmp(alg, "RS256") != 0 ||
			!json_equal(json_object_get(claims, "iss"), json_object_get(key, "client_email")))
			bqfuzz_fail("jwt_well_formed", "the JWT says another alg or iss than the key");
		if (json_string_length(kid) > 0
			? !json_equal(json_object_get(header, "kid"), kid)
			: json_object_get(header, "kid") != NULL)
			bqfuzz_fail("jwt_well_formed", "the JWT's kid is not the key's private_key_id");
	}
	if (json_string_length(json_object_get(key, "token_uri")) > 0 &&
		!json_equal(json_object_get(claims, "aud"), json_object_get(key, "token_uri")))
		bqfuzz_fail("jwt_well_formed", "the JWT's aud is not the key's token_uri");
	json_decref(header);
	json_decref(claims);
}

static json_t *parsed_key;

static void
handler(const GcpHttpRequest *req, long *status, const char **body, size_t *len)
{
	if (req->body && parsed_key)
		check_assertion(req, parsed_key);
	*status = token_status;
	*body = token_answer;
	*len = token_answer_len;
}

static void
forget_tokens(void)
{
	while (token_cache)
	{
		CachedToken *t = token_cache;

		token_cache = t->next;
		if (t->token)
			pfree(t->token);
		if (t->who)
			pfree(t->who);
		pfree(t);
	}
}

static void
write_key_file(const char *text)
{
	FILE	   *f = fopen(key_path, "w");

	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
		bqfuzz_fail("harness", "could not write %s", key_path);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	GcpCredential cred = {0};
	char	   *quota_project;
	const uint8_t *nul;
	char	   *key_text;
	char	   *volatile token = NULL;
	volatile bool raised = false;

	if (size < 1)
		return 0;
	bqfuzz_begin();
	if (key_path[0] == '\0')
	{
		snprintf(key_path, sizeof(key_path), "/tmp/bqfuzz-sa-key-%d.json", (int) getpid());
		setenv("GOOGLE_APPLICATION_CREDENTIALS", key_path, 1);
	}
	nul = memchr(data + 1, '\0', size - 1);
	key_text = bqfuzz_cstring(data + 1, (nul ? nul : data + size) - (data + 1));
	if (nul)
	{
		token_answer = (const char *) nul + 1;
		token_answer_len = data + size - (nul + 1);
	}
	else
	{
		token_answer = "{\"access_token\":\"ya29.fuzz-token\",\"expires_in\":3599,\"token_type\":\"Bearer\"}";
		token_answer_len = strlen(token_answer);
	}
	token_status = statuses[(data[0] >> 2) % lengthof(statuses)];
	switch (data[0] & 3)
	{
		case 0:
		case 3:
			cred.kind = GCP_AUTH_KEY_JSON;
			cred.secret = key_text;
			break;
		case 1:
			cred.kind = GCP_AUTH_KEY_FILE;
			cred.secret = key_path;
			write_key_file(key_text);
			break;
		case 2:
			cred.kind = GCP_AUTH_ADC;
			cred.secret = NULL;
			write_key_file(key_text);
			break;
	}

	/* what may not be quoted, and what may */
	nsecrets = 0;
	key_has_control = false;
	initStringInfo(&quotable);
	appendBinaryStringInfo(&quotable, token_answer, token_answer_len);
	parsed_key = json_loads(key_text, 0, NULL);
	if (json_is_object(parsed_key))
	{
		const char *k;
		json_t	   *v;

		json_object_foreach(parsed_key, k, v)
		{
			if (!json_is_string(v))
				continue;
			if (strcmp(k, "private_key") == 0 || strcmp(k, "client_secret") == 0 ||
				strcmp(k, "refresh_token") == 0)
				add_secret(json_string_value(v), json_string_length(v));
			else
			{
				appendStringInfo(&quotable, "\n%s", json_string_value(v));
				key_has_control |= bqfuzz_has_control(json_string_value(v));
			}
		}
		/* the credentials file's path and kind are no secret either */
		appendStringInfo(&quotable, "\n%s", key_path);
		/* nor what auth.c itself writes: the default token endpoint, the metadata server */
		appendStringInfo(&quotable, "\n%s\nhttp://%s%s", GOOGLE_TOKEN_URI, METADATA_DEFAULT_HOST,
						 METADATA_TOKEN_PATH);
	}
	else
	{
		json_decref(parsed_key);
		parsed_key = NULL;
	}

	fake_http_handler = handler;
	bqfuzz_report_hook = check_report;
	PG_TRY();
	{
		token = gcp_auth_token(&cred, &quota_project);
	}
	PG_CATCH();
	{
		raised = true;
		bqfuzz_flush_error();
	}
	PG_END_TRY();

	if (!raised && bqfuzz_check("token_right"))
	{
		json_t	   *a = json_loadb(token_answer, token_answer_len, 0, NULL);
		const char *expected = json_string_value(json_object_get(a, "access_token"));

		if (token == NULL || token_status < 200 || token_status >= 300 ||
			expected == NULL || strcmp(token, expected) != 0)
			bqfuzz_fail("token_right", "a token was returned that the endpoint did not give");
		json_decref(a);
	}
	json_decref(parsed_key);
	parsed_key = NULL;
	bqfuzz_report_hook = NULL;
	forget_tokens();
	bqfuzz_end();
	return 0;
}
