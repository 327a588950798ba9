/*-------------------------------------------------------------------------
 *
 * sa_key.c (fuzz target "sa_key")
 *	  Fuzzes src/gcp/auth.c (#included here for its static token cache)
 *	  through its entry points gcp_auth_token() and, for the option
 *	  validator, gcp_auth_check_credential_json(): parse_credential() of a
 *	  service-account key, an external account or an impersonated service
 *	  account (or, through Application Default Credentials, gcloud's
 *	  authorized_user credentials), read_credential_file(), make_jwt() with
 *	  its PEM parsing and RS256 signing by OpenSSL, the form posted to the
 *	  key's token_uri, the subject token's file or URL and its format, the
 *	  STS token exchange, generateAccessToken, read_token_answer() and
 *	  read_impersonation_answer(), the trust rule for restricted roles
 *	  (policy.c's gcp_endpoint_trusted() with no allowed endpoints: only
 *	  Google's), and the messages of report_token_failure().  HTTP is
 *	  fake_http.c: a GET (a credential_source URL) is answered with a
 *	  subject token, every POST (token endpoint, STS, IAM Credentials) with
 *	  the second part of the input.
 *
 * Input: byte 0 picks how the key arrives (bits 0-1: the user mapping's
 * credentials_json, credentials_file, GOOGLE_APPLICATION_CREDENTIALS, or
 * credentials_json past the option validator first), the endpoints' HTTP
 * status (bits 2-5), whether the role is restricted (bit 6: not a
 * superuser) and whether it may read server files (bit 7, for the
 * validator); then the key's JSON text; then, after a NUL byte, the
 * endpoints' answer (without one, a valid answer of each kind).  The
 * subject token file BQFUZZ_SUBJECT_FILE holds a subject token.
 *
 * A bug is any ASan/UBSan/leak report, a report at FATAL, or:
 *	no_key_material	 an error message (message, detail, hint, context)
 *					 quotes 24 bytes or more of the key's (or its source
 *					 credential's) private_key, client_secret or
 *					 refresh_token, of a credential_source header value, of
 *					 the subject token, or of the signed assertion.
 *					 (Windows of those secrets that also occur in a field
 *					 that is no secret, in the endpoints' answer or in
 *					 auth.c's own default URLs are not counted.)
 *	jwt_well_formed	 the assertion posted is not three base64url parts
 *					 whose header and claims are JSON objects with "alg"
 *					 "RS256", "iss" = the key's client_email, "aud" = its
 *					 token_uri, "kid" = its private_key_id.
 *	token_right		 a token is returned that is not the endpoint's
 *					 access_token (from a 2xx answer), or its accessToken
 *					 for a credential that impersonates, or none is
 *					 returned without an ERROR.
 *	trusted_only	 for a restricted role, a request goes to a URL that is
 *					 not one of Google's https endpoints; or the validator
 *					 accepted, for a role that may not read server files, a
 *					 credential whose subject token was then read from one.
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

/* what a credential_source file or URL holds, a secret */
#define SUBJECT_TOKEN "eyJhbGciOiJSUzI1NiJ9.fuzz-subject-token-5e1d3c7a9b.c2lnbmF0dXJl"
#define SUBJECT_FILE "/tmp/bqfuzz-subject-token"
static const char subject_answer[] =
"{\"access_token\":\"" SUBJECT_TOKEN "\",\"id_token\":\"" SUBJECT_TOKEN "\",\"value\":\"" SUBJECT_TOKEN "\"}";

/* a restricted role's run: every request must go to a trusted URL */
static bool restricted_run;
/* files opened (AllocateFile) since the counter was reset */
static int	files_opened;

/* what the fuzzed code must not quote */
#define MAX_SECRETS 32
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
/* the object whose key signs the JWT: the key, or its source credential */
static json_t *jwt_key;

static void
handler(const GcpHttpRequest *req, long *status, const char **body, size_t *len)
{
	if (restricted_run && !gcp_endpoint_trusted(req->url) && bqfuzz_check("trusted_only"))
		bqfuzz_fail("trusted_only", "a restricted role's request went to an untrusted URL");
	/* a credential_source URL (the metadata server's token path aside) */
	if (strcmp(req->method, "GET") == 0 && strstr(req->url, METADATA_TOKEN_PATH) == NULL)
	{
		*status = token_status == 0 || token_status == 404 ? token_status : 200;
		*body = subject_answer;
		*len = strlen(subject_answer);
		return;
	}
	if (req->body && jwt_key)
		check_assertion(req, jwt_key);
	*status = token_status;
	*body = token_answer;
	*len = token_answer_len;
}

static void
count_open(const char *name)
{
	files_opened++;
}

/* a non-empty string field, as dup_string_field() reads it */
static const char *
string_field(json_t *obj, const char *name)
{
	const char *v = json_string_value(json_object_get(obj, name));

	return v && v[0] != '\0' ? v : NULL;
}

/* does the credential end with generateAccessToken? */
static bool
impersonates(json_t *key)
{
	const char *type = string_field(key, "type");

	return type && (strcmp(type, "impersonated_service_account") == 0 ||
					(strcmp(type, "external_account") == 0 &&
					 string_field(key, "service_account_impersonation_url") != NULL));
}

/*
 * Sort the credential's strings into secrets (private keys, client secrets,
 * refresh tokens, credential_source headers) and text it may quote, at any
 * depth.
 */
static void
collect_strings(json_t *v, const char *name, bool in_headers)
{
	if (json_is_object(v))
	{
		const char *k;
		json_t	   *child;

		json_object_foreach(v, k, child)
			collect_strings(child, k, strcmp(k, "headers") == 0);
	}
	else if (json_is_array(v))
	{
		size_t		i;
		json_t	   *child;

		json_array_foreach(v, i, child)
			collect_strings(child, name, false);
	}
	else if (json_is_string(v))
	{
		if (in_headers || (name && (strcmp(name, "private_key") == 0 ||
									strcmp(name, "client_secret") == 0 ||
									strcmp(name, "refresh_token") == 0)))
			add_secret(json_string_value(v), json_string_length(v));
		else
		{
			appendStringInfo(&quotable, "\n%s", json_string_value(v));
			key_has_control |= bqfuzz_has_control(json_string_value(v));
		}
	}
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
		if (t->quota_project)
			pfree(t->quota_project);
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

static void
write_subject_file(void)
{
	static bool done = false;
	char		tmp[64];
	FILE	   *f;
	bool		ok;

	if (done)
		return;
	done = true;

	/*
	 * Several fuzzing processes share the file: replace it whole.  Should
	 * another user's copy be in the way, it is read as it is; a subject
	 * token that is not SUBJECT_TOKEN is only a failing exchange.
	 */
	snprintf(tmp, sizeof(tmp), "%s.%d", SUBJECT_FILE, (int) getpid());
	f = fopen(tmp, "w");
	if (f == NULL)
		return;
	ok = fputs(SUBJECT_TOKEN "\n", f) >= 0;
	ok = fclose(f) == 0 && ok;
	if (!ok || rename(tmp, SUBJECT_FILE) != 0)
		unlink(tmp);
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
	volatile bool validated = false;
	bool		validate = false;
	bool		may_read_files;

	if (size < 1)
		return 0;
	bqfuzz_begin();
	if (key_path[0] == '\0')
	{
		snprintf(key_path, sizeof(key_path), "/tmp/bqfuzz-sa-key-%d.json", (int) getpid());
		setenv("GOOGLE_APPLICATION_CREDENTIALS", key_path, 1);
		write_subject_file();
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
		/* what the token endpoint, STS and generateAccessToken answer alike */
		token_answer = "{\"access_token\":\"ya29.fuzz-token\",\"expires_in\":3599,\"token_type\":\"Bearer\","
			"\"accessToken\":\"ya29.fuzz-token\",\"expireTime\":\"2099-01-01T00:00:00Z\"}";
		token_answer_len = strlen(token_answer);
	}
	token_status = statuses[(data[0] >> 2) % lengthof(statuses)];
	cred.restricted = (data[0] & 0x40) != 0;
	may_read_files = (data[0] & 0x80) != 0;
	switch (data[0] & 3)
	{
		case 3:
			validate = true;
			/* FALLTHROUGH */
		case 0:
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
	/* ADC is the host's identity, never used restricted */
	restricted_run = cred.restricted && cred.kind != GCP_AUTH_ADC;

	/* what may not be quoted, and what may */
	nsecrets = 0;
	key_has_control = false;
	initStringInfo(&quotable);
	appendBinaryStringInfo(&quotable, token_answer, token_answer_len);
	add_secret(SUBJECT_TOKEN, strlen(SUBJECT_TOKEN));
	parsed_key = json_loads(key_text, 0, NULL);
	jwt_key = NULL;
	if (json_is_object(parsed_key))
	{
		const char *type = string_field(parsed_key, "type");

		collect_strings(parsed_key, NULL, false);
		/* the credentials file's path and kind are no secret either */
		appendStringInfo(&quotable, "\n%s", key_path);
		/* nor what auth.c itself writes: its default endpoints, the metadata server */
		appendStringInfo(&quotable, "\n%s\n%s\nhttp://%s%s", GOOGLE_TOKEN_URI, GOOGLE_STS_URI,
						 METADATA_DEFAULT_HOST, METADATA_TOKEN_PATH);
		/* and the fixed words of its messages, which a "secret" may repeat */
		appendStringInfoString(&quotable,
							   "\nThe token endpoint \"\" answered HTTP 500 with a body that is not a Google error (446 bytes)."
							   "\n (its text quoted the credential sent, so it is not shown)");
		jwt_key = type && strcmp(type, "impersonated_service_account") == 0 ?
			json_object_get(parsed_key, "source_credentials") : parsed_key;
	}
	else
	{
		json_decref(parsed_key);
		parsed_key = NULL;
	}

	fake_http_handler = handler;
	bqfuzz_report_hook = check_report;
	bqfuzz_open_hook = count_open;
	PG_TRY();
	{
		const char *type = string_field(parsed_key, "type");

		/* what options.c does with these types, as the role writing it */
		if (validate && type && (strcmp(type, "external_account") == 0 ||
								 strcmp(type, "impersonated_service_account") == 0))
		{
			gcp_auth_check_credential_json(key_text, cred.restricted, may_read_files);
			validated = true;
		}
		files_opened = 0;
		token = gcp_auth_token(&cred, &quota_project);
	}
	PG_CATCH();
	{
		raised = true;
		bqfuzz_print_error();
		bqfuzz_flush_error();
	}
	PG_END_TRY();
	bqfuzz_open_hook = NULL;

	if (validated && !may_read_files && files_opened > 0 && bqfuzz_check("trusted_only"))
		bqfuzz_fail("trusted_only", "the validator let a role that may not read server files name one");

	if (!raised && bqfuzz_check("token_right"))
	{
		json_t	   *a = json_loadb(token_answer, token_answer_len, 0, NULL);
		const char *expected = json_string_value(json_object_get(a, impersonates(parsed_key) ?
															   "accessToken" : "access_token"));

		if (token == NULL || token_status < 200 || token_status >= 300 ||
			expected == NULL || strcmp(token, expected) != 0)
			bqfuzz_fail("token_right", "a token was returned that the endpoint did not give");
		json_decref(a);
	}
	json_decref(parsed_key);
	parsed_key = NULL;
	jwt_key = NULL;
	bqfuzz_report_hook = NULL;
	forget_tokens();
	bqfuzz_end();
	return 0;
}
