/*-------------------------------------------------------------------------
 *
 * auth.c
 *	  OAuth2 access tokens for the GCP clients: service-account keys (an
 *	  RS256-signed JWT exchanged at the key's token_uri), Application Default
 *	  Credentials, the GCE metadata server, and none for emulators.
 *
 * Tokens are cached per credential for the life of the process and renewed
 * a few minutes before they expire, as Google's client libraries do, so a
 * busy session or worker asks the token endpoint about once an hour.  The
 * cache is keyed by the credential's kind and a SHA-256 digest of its
 * secret, so the key is not kept a second time.
 *
 * Key material never reaches a message: errors name the service account
 * (its e-mail address is no secret), the key file's path or the endpoint,
 * never the key, a JWT or a token.  Private copies of keys, client secrets,
 * refresh tokens and signed assertions are wiped once used, also when an
 * ERROR unwinds.  jansson and OpenSSL objects are malloc-owned, so they are
 * released before any ERROR is raised (or in PG_FINALLY).
 *
 * Clocks: the JWT's iat and exp are wall-clock seconds from time(NULL),
 * because Google compares them with its own clock.  The cache uses
 * GetCurrentTimestamp(), also the wall clock; should the clock jump, the
 * worst case is a 401, after which the caller calls gcp_auth_forget() and
 * the next call fetches a fresh token.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <pwd.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "lib/stringinfo.h"
#include "storage/fd.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "gcp/auth.h"
#include "gcp/gcp_json.h"
#include "gcp/http.h"
#include "gcp/options.h"
#include "gcp/policy.h"

#define GOOGLE_TOKEN_URI	"https://oauth2.googleapis.com/token"
#define JWT_BEARER_GRANT	"urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"
#define METADATA_DEFAULT_HOST "metadata.google.internal"
#define METADATA_TOKEN_PATH "/computeMetadata/v1/instance/service-accounts/default/token"
#define ADC_FILE_NAME		"application_default_credentials.json"

/* Google accepts assertions valid for at most one hour */
#define JWT_LIFETIME_S		3600

/* renew this long before expiry (Google's libraries use 3 min 45 s) */
#define TOKEN_RENEW_MARGIN_S 240

/* bound on a lifetime we believe; Google's longest tokens last 12 hours */
#define TOKEN_MAX_LIFETIME_S (12 * 3600)

/* a metadata server answers at once where there is one */
#define METADATA_PROBE_MS	3000

/* a key file has about 2 kB; anything much larger is not one */
#define MAX_KEY_FILE_BYTES	65536

/* RSA signatures are as long as the modulus: 16384 bits at most in OpenSSL */
#define MAX_SIGNATURE_BYTES 2048

/* OAuth error texts are quoted in messages up to this length */
#define MAX_QUOTED_ERROR	300

#define DIGEST_LEN			32	/* SHA-256 */

typedef struct CachedToken
{
	struct CachedToken *next;
	GcpAuthKind kind;
	uint8		digest[DIGEST_LEN]; /* SHA-256 of the credential's secret */
	char	   *token;			/* NULL after gcp_auth_forget() */
	char	   *who;			/* e.g. service account "sa@…", no secret */
	char	   *quota_project;	/* billed for the calls, or NULL */
	TimestampTz renew_at;
} CachedToken;

static CachedToken *token_cache = NULL;

/* A parsed service-account key or gcloud user credential. */
typedef struct KeyInfo
{
	bool		authorized_user;	/* gcloud user credentials, not a key */
	char	   *type;
	char	   *client_email;
	char	   *private_key;	/* PEM; wiped after use */
	char	   *private_key_id;
	char	   *token_uri;
	char	   *client_id;		/* authorized_user only */
	char	   *client_secret;	/* wiped after use */
	char	   *refresh_token;	/* wiped after use */
	char	   *quota_project;	/* quota_project_id, or NULL */
	char	   *who;			/* the credential in messages */
} KeyInfo;

/* What a token endpoint or the metadata server answered. */
typedef enum TokenOutcome
{
	TOKEN_OK,
	TOKEN_UNREACHABLE,			/* no HTTP answer */
	TOKEN_UNAVAILABLE,			/* 408, 429 or 5xx after the retries */
	TOKEN_REFUSED,				/* any other error status */
	TOKEN_MALFORMED,			/* 2xx without an access token */
	TOKEN_TOO_LARGE				/* past bqstream.max_response_size */
} TokenOutcome;

typedef struct TokenAnswer
{
	TokenOutcome outcome;
	long		status;
	char	   *token;			/* TOKEN_OK */
	int			expires_in;		/* TOKEN_OK, seconds */
	char	   *reason;			/* otherwise: transport error or OAuth error */
	char	   *logged;			/* a body that is not Google's: server log only */
} TokenAnswer;

/* A token just obtained, and who it belongs to. */
typedef struct NewToken
{
	char	   *token;
	int			expires_in;
	char	   *who;
	char	   *quota_project;
} NewToken;

static void
wipe(char *s)
{
	if (s)
		explicit_bzero(s, strlen(s));
}

static void
wipe_key(KeyInfo *key)
{
	wipe(key->private_key);
	wipe(key->client_secret);
	wipe(key->refresh_token);
}

/* ---------------------------------------------------------------------
 * the token cache
 * ---------------------------------------------------------------------
 */

static bool
credential_digest(const GcpCredential *cred, uint8 *out)
{
	const char *s = cred->secret ? cred->secret : "";
	unsigned int len = DIGEST_LEN;
	bool		ok;

	ok = EVP_Digest(s, strlen(s), out, &len, EVP_sha256(), NULL) == 1 &&
		len == DIGEST_LEN;
	ERR_clear_error();
	return ok;
}

static CachedToken *
cache_lookup(GcpAuthKind kind, const uint8 *digest)
{
	for (CachedToken *t = token_cache; t; t = t->next)
		if (t->kind == kind && memcmp(t->digest, digest, DIGEST_LEN) == 0)
			return t;
	return NULL;
}

static void
cache_drop_token(CachedToken *entry)
{
	if (entry->token)
	{
		wipe(entry->token);
		pfree(entry->token);
		entry->token = NULL;
	}
	entry->renew_at = 0;
}

/* ---------------------------------------------------------------------
 * credential files and inline keys
 * ---------------------------------------------------------------------
 */

static char *
dup_string_field(json_t *root, const char *name)
{
	const char *v = json_string_value(json_object_get(root, name));

	return v && v[0] != '\0' ? pstrdup(v) : NULL;
}

/* wipe jansson's copy of a secret field before jansson frees it */
static void
wipe_json_field(json_t *root, const char *name)
{
	json_t	   *v = json_object_get(root, name);

	if (json_is_string(v))
		explicit_bzero((char *) json_string_value(v), json_string_length(v));
}

/* a credential's type, if it is fit to be quoted in a message */
static const char *
quotable_type(const char *type)
{
	if (strlen(type) > 64)
		return NULL;
	for (const char *p = type; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			  (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
			return NULL;
	return type;
}

/*
 * Parse a credential's JSON text into *key.  "where" names it in messages
 * (a path, or the user mapping's option); the text itself is never quoted,
 * nor is jansson's error text, which may show a piece of it.  gcloud user
 * credentials ("authorized_user") are accepted only when allow_user, i.e.
 * for Application Default Credentials.
 */
static void
parse_credential(const char *text, size_t len, const char *where,
				 bool allow_user, KeyInfo *key)
{
	json_error_t jerr;
	json_t	   *root;
	const char *type;
	const char *missing;

	memset(key, 0, sizeof(KeyInfo));
	root = json_loadb(text, len, 0, &jerr);
	if (root == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("invalid Google credential in %s", where),
				 errdetail("It is not valid JSON (error at line %d, column %d).",
						   jerr.line, jerr.column),
				 errhint("Use a service-account key file as created by \"gcloud iam service-accounts keys create\".")));
	if (!json_is_object(root))
	{
		json_decref(root);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("invalid Google credential in %s", where),
				 errdetail("It is not a JSON object."),
				 errhint("Use a service-account key file as created by \"gcloud iam service-accounts keys create\".")));
	}

	PG_TRY();
	{
		key->type = dup_string_field(root, "type");
		key->client_email = dup_string_field(root, "client_email");
		key->private_key = dup_string_field(root, "private_key");
		key->private_key_id = dup_string_field(root, "private_key_id");
		key->token_uri = dup_string_field(root, "token_uri");
		key->client_id = dup_string_field(root, "client_id");
		key->client_secret = dup_string_field(root, "client_secret");
		key->refresh_token = dup_string_field(root, "refresh_token");
		key->quota_project = dup_string_field(root, "quota_project_id");
	}
	PG_FINALLY();
	{
		wipe_json_field(root, "private_key");
		wipe_json_field(root, "client_secret");
		wipe_json_field(root, "refresh_token");
		json_decref(root);
	}
	PG_END_TRY();

	type = key->type;
	missing = NULL;
	if (type && strcmp(type, "service_account") == 0)
	{
		if (key->client_email == NULL)
			missing = "client_email";
		else if (key->private_key == NULL)
			missing = "private_key";
		else
			key->who = psprintf("service account \"%s\"", key->client_email);
	}
	else if (type && strcmp(type, "authorized_user") == 0 && allow_user)
	{
		key->authorized_user = true;
		if (key->client_id == NULL)
			missing = "client_id";
		else if (key->client_secret == NULL)
			missing = "client_secret";
		else if (key->refresh_token == NULL)
			missing = "refresh_token";
		key->who = psprintf("the gcloud user credentials in %s", where);
	}
	else
	{
		wipe_key(key);
		if (type == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
					 errmsg("invalid Google credential in %s", where),
					 errdetail("It has no \"type\" field."),
					 errhint("Use a service-account key file as created by \"gcloud iam service-accounts keys create\".")));
		else if (strcmp(type, "authorized_user") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("gcloud user credentials are not supported in %s", where),
					 errdetail("The options credentials_json and credentials_file take a service-account key."),
					 errhint("Create a key with \"gcloud iam service-accounts keys create\", or use auth 'adc' for the gcloud credentials of the database server's operating-system user.")));
		else
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 quotable_type(type) ?
					 errmsg("Google credential type \"%s\" is not supported", type) :
					 errmsg("Google credential type is not supported"),
					 errdetail("The credential in %s is not a service-account key%s.",
							   where, allow_user ? " nor gcloud user credentials" : ""),
					 errhint("Use a service-account key file as created by \"gcloud iam service-accounts keys create\".")));
	}

	if (missing)
	{
		wipe_key(key);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("invalid Google credential in %s", where),
				 errdetail("Field \"%s\" is missing or empty.", missing)));
	}
	if (key->token_uri == NULL)
		key->token_uri = pstrdup(GOOGLE_TOKEN_URI);
	/* it goes into a request header: a project ID, nothing else */
	if (key->quota_project && !gcp_valid_project_id(key->quota_project))
	{
		wipe_key(key);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("invalid Google credential in %s", where),
				 errdetail("Field \"quota_project_id\" is not a project ID.")));
	}
}

/*
 * Read a credential file into a palloc'd, NUL-terminated buffer that the
 * caller wipes.  Returns NULL when the file does not exist and missing_ok.
 * "origin", if set, is an errdetail saying why this file was read.
 */
static char *
read_credential_file(const char *path, const char *origin, bool missing_ok,
					 size_t *len)
{
	FILE	   *f;
	char	   *buf;
	size_t		n;
	int			save_errno;

	f = AllocateFile(path, PG_BINARY_R);
	if (f == NULL)
	{
		if (missing_ok && (errno == ENOENT || errno == ENOTDIR))
			return NULL;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open credentials file \"%s\": %m", path),
				 origin ? errdetail("%s", origin) : 0));
	}

	buf = palloc(MAX_KEY_FILE_BYTES + 1);
	n = fread(buf, 1, MAX_KEY_FILE_BYTES + 1, f);
	if (ferror(f))
	{
		save_errno = errno;
		FreeFile(f);
		explicit_bzero(buf, MAX_KEY_FILE_BYTES + 1);
		errno = save_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read credentials file \"%s\": %m", path),
				 origin ? errdetail("%s", origin) : 0));
	}
	FreeFile(f);
	if (n > MAX_KEY_FILE_BYTES)
	{
		explicit_bzero(buf, MAX_KEY_FILE_BYTES + 1);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("credentials file \"%s\" is too large", path),
				 errdetail("A service-account key file has a few kilobytes; this one has more than %d bytes.",
						   MAX_KEY_FILE_BYTES)));
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* Load and parse a credential file; false when missing and missing_ok. */
static bool
load_credential_file(const char *path, const char *origin, bool missing_ok,
					 bool allow_user, KeyInfo *key)
{
	size_t		len = 0;
	char	   *text = read_credential_file(path, origin, missing_ok, &len);

	if (text == NULL)
		return false;
	PG_TRY();
	{
		parse_credential(text, len, psprintf("file \"%s\"", path),
						 allow_user, key);
	}
	PG_FINALLY();
	{
		explicit_bzero(text, len);
	}
	PG_END_TRY();
	pfree(text);
	return true;
}

/* ---------------------------------------------------------------------
 * the JWT
 * ---------------------------------------------------------------------
 */

static void
append_base64url(StringInfo buf, const unsigned char *data, size_t len)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t		i;

	enlargeStringInfo(buf, (int) ((len + 2) / 3 * 4));
	for (i = 0; i + 2 < len; i += 3)
	{
		uint32		v = ((uint32) data[i] << 16) | ((uint32) data[i + 1] << 8) | data[i + 2];

		appendStringInfoChar(buf, alphabet[(v >> 18) & 63]);
		appendStringInfoChar(buf, alphabet[(v >> 12) & 63]);
		appendStringInfoChar(buf, alphabet[(v >> 6) & 63]);
		appendStringInfoChar(buf, alphabet[v & 63]);
	}
	/* the last one or two bytes, without '=' padding */
	if (i < len)
	{
		uint32		v = (uint32) data[i] << 16;

		if (i + 1 < len)
			v |= (uint32) data[i + 1] << 8;
		appendStringInfoChar(buf, alphabet[(v >> 18) & 63]);
		appendStringInfoChar(buf, alphabet[(v >> 12) & 63]);
		if (i + 1 < len)
			appendStringInfoChar(buf, alphabet[(v >> 6) & 63]);
	}
}

/* never prompt on the server's terminal for an encrypted key's passphrase */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	return 0;
}

/*
 * Append " (OpenSSL: reason)" for the latest OpenSSL error, if any.  The
 * reason strings are OpenSSL's fixed texts and hold no key material.
 */
static void
append_openssl_reason(char *problem, size_t size)
{
	unsigned long code = ERR_peek_last_error();
	const char *reason = code ? ERR_reason_error_string(code) : NULL;
	size_t		used = strlen(problem);

	if (reason && used > 0 && problem[used - 1] == '.' && used < size)
		snprintf(problem + used - 1, size - used + 1, " (OpenSSL: %s).", reason);
}

/*
 * Sign "input" with RSASSA-PKCS1-v1_5 over SHA-256 into sig.  Returns the
 * signature's length, or 0 with a sentence in "problem".  Raises nothing,
 * so every OpenSSL object is freed before the caller reports a problem;
 * OpenSSL's error queue is left empty for libcurl, which shares it.
 */
static size_t
sign_rs256(const char *pem, const char *input, size_t input_len,
		   unsigned char *sig, size_t sigsize,
		   char *problem, size_t problem_size)
{
	BIO		   *bio;
	EVP_PKEY   *pkey = NULL;
	EVP_MD_CTX *md = NULL;
	size_t		siglen = 0;

	problem[0] = '\0';
	ERR_clear_error();
	bio = BIO_new_mem_buf(pem, -1);
	if (bio != NULL)
		pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);

	if (bio == NULL)
		strlcpy(problem, "OpenSSL could not allocate memory.", problem_size);
	else if (pkey == NULL)
	{
		strlcpy(problem, "The private key is not an unencrypted PEM-encoded private key.",
				problem_size);
		append_openssl_reason(problem, problem_size);
	}
	else if (EVP_PKEY_base_id(pkey) != EVP_PKEY_RSA)
		strlcpy(problem, "The private key is not an RSA key; RS256 needs one.",
				problem_size);
	else if (EVP_PKEY_size(pkey) <= 0 || (size_t) EVP_PKEY_size(pkey) > sigsize)
		strlcpy(problem, "The private key's RSA modulus is too large.", problem_size);
	else
	{
		siglen = sigsize;
		md = EVP_MD_CTX_new();
		if (md == NULL ||
			EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pkey) != 1 ||
			EVP_DigestSign(md, sig, &siglen,
						   (const unsigned char *) input, input_len) != 1)
		{
			siglen = 0;
			strlcpy(problem, "OpenSSL could not sign the token request.",
					problem_size);
			append_openssl_reason(problem, problem_size);
		}
	}

	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	ERR_clear_error();
	return siglen;
}

/*
 * The signed JWT for the jwt-bearer grant, palloc'd; the caller wipes it,
 * since it buys tokens for an hour.
 */
static char *
make_jwt(const KeyInfo *key)
{
	int64		now = (int64) time(NULL);
	StringInfoData header;
	StringInfoData claims;
	StringInfoData jwt;
	unsigned char sig[MAX_SIGNATURE_BYTES];
	size_t		siglen;
	char		problem[256];

	/* escape_json() rather than jansson: nothing malloc-owned to release */
	initStringInfo(&header);
	appendStringInfoString(&header, "{\"alg\":\"RS256\",\"typ\":\"JWT\"");
	if (key->private_key_id)
	{
		appendStringInfoString(&header, ",\"kid\":");
		escape_json(&header, key->private_key_id);
	}
	appendStringInfoChar(&header, '}');

	initStringInfo(&claims);
	appendStringInfoString(&claims, "{\"iss\":");
	escape_json(&claims, key->client_email);
	appendStringInfoString(&claims, ",\"scope\":");
	escape_json(&claims, GCP_SCOPE_CLOUD_PLATFORM);
	appendStringInfoString(&claims, ",\"aud\":");
	escape_json(&claims, key->token_uri);
	appendStringInfo(&claims, ",\"iat\":" INT64_FORMAT ",\"exp\":" INT64_FORMAT "}",
					 now, now + JWT_LIFETIME_S);

	initStringInfo(&jwt);
	append_base64url(&jwt, (unsigned char *) header.data, header.len);
	appendStringInfoChar(&jwt, '.');
	append_base64url(&jwt, (unsigned char *) claims.data, claims.len);
	pfree(header.data);
	pfree(claims.data);

	siglen = sign_rs256(key->private_key, jwt.data, jwt.len,
						sig, sizeof(sig), problem, sizeof(problem));
	if (siglen == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("could not use the private key of %s", key->who),
				 errdetail("%s", problem),
				 errhint("Use the key file exactly as Google issued it, with \"private_key\" in PEM form.")));

	appendStringInfoChar(&jwt, '.');
	append_base64url(&jwt, sig, siglen);
	explicit_bzero(sig, sizeof(sig));
	return jwt.data;
}

/* ---------------------------------------------------------------------
 * token requests
 * ---------------------------------------------------------------------
 */

/* form-urlencode a value: RFC 3986 unreserved characters pass */
static void
append_form_value(StringInfo buf, const char *value)
{
	static const char hex[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *) value; *p; p++)
	{
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			(*p >= '0' && *p <= '9') ||
			*p == '-' || *p == '_' || *p == '.' || *p == '~')
			appendStringInfoChar(buf, (char) *p);
		else
		{
			appendStringInfoChar(buf, '%');
			appendStringInfoChar(buf, hex[*p >> 4]);
			appendStringInfoChar(buf, hex[*p & 15]);
		}
	}
}

/*
 * A server's text for a message: cut short, printable ASCII only (it need
 * not be in the server encoding), without a final period since the detail
 * adds one.
 */
static char *
clip(const char *s)
{
	size_t		len = strlen(s);
	bool		cut = len > MAX_QUOTED_ERROR;
	char	   *out = pnstrdup(s, cut ? MAX_QUOTED_ERROR : len);

	for (char *p = out; *p; p++)
		if ((unsigned char) *p < 0x20 || (unsigned char) *p >= 0x7f)
			*p = (unsigned char) *p < 0x20 ? ' ' : '?';
	len = strlen(out);
	while (len > 0 && (out[len - 1] == '.' || out[len - 1] == ' '))
		out[--len] = '\0';
	return cut ? psprintf("%s...", out) : out;
}

/*
 * Read an OAuth answer.  Called with the parsed body (possibly NULL); pallocs
 * only, so the caller can release root in PG_FINALLY.
 */
static void
read_token_answer(json_t *root, const GcpHttpResult *res, TokenAnswer *ans)
{
	ans->status = res->status;

	if (gcp_http_ok(res))
	{
		const char *token = json_string_value(json_object_get(root, "access_token"));
		json_t	   *exp = json_object_get(root, "expires_in");
		long		expires_in = JWT_LIFETIME_S;

		if (token == NULL || token[0] == '\0')
		{
			ans->outcome = TOKEN_MALFORMED;
			return;
		}
		/* some servers send expires_in as a string */
		if (json_is_integer(exp))
			expires_in = (long) json_integer_value(exp);
		else if (json_is_real(exp))
			expires_in = (long) json_real_value(exp);
		else if (json_is_string(exp))
			expires_in = strtol(json_string_value(exp), NULL, 10);
		expires_in = Max(expires_in, 0);
		expires_in = Min(expires_in, TOKEN_MAX_LIFETIME_S);

		ans->outcome = TOKEN_OK;
		ans->token = pstrdup(token);
		ans->expires_in = (int) expires_in;
		return;
	}

	if (res->status == 408 || res->status == 429 || res->status >= 500)
		ans->outcome = TOKEN_UNAVAILABLE;
	else
		ans->outcome = TOKEN_REFUSED;

	/*
	 * The OAuth shape, {"error":"invalid_grant","error_description":"..."},
	 * or google.rpc's, which some fronts answer with.  Anything else may be
	 * another server's page: the client gets its type and length, the
	 * server log its text.
	 */
	{
		const char *code = NULL;
		const char *text = NULL;

		if (!gcp_http_google_error(root, res->status, &code, &text, NULL))
		{
			ans->reason = psprintf("HTTP %ld with %s", res->status, gcp_http_body_summary(res));
			ans->logged = gcp_http_body_for_log(res);
		}
		else if (code && text)
			ans->reason = psprintf("HTTP %ld %s: %s", res->status, clip(code), clip(text));
		else if (code || text)
			ans->reason = psprintf("HTTP %ld %s", res->status, clip(code ? code : text));
		else
			ans->reason = psprintf("HTTP %ld", res->status);
	}
}

/* Run a token request; never raises for an HTTP failure, only for a cancel. */
static void
fetch_token(const GcpHttpRequest *req, TokenAnswer *ans)
{
	GcpHttpCall *call;
	const GcpHttpResult *res;
	json_t	   *root;

	memset(ans, 0, sizeof(TokenAnswer));
	call = gcp_http_run(req);
	res = gcp_http_result(call);

	if (res->oversize != GCP_HTTP_SIZE_OK)
	{
		ans->outcome = TOKEN_TOO_LARGE;
		ans->reason = gcp_http_oversize_reason(res);
		gcp_http_free(call);
		return;
	}
	if (res->status == 0)
	{
		ans->outcome = TOKEN_UNREACHABLE;
		ans->reason = clip(res->transport_error ? res->transport_error : "no response");
		gcp_http_free(call);
		return;
	}

	/* a tree too large to take is no token either */
	root = gcp_http_parse_json_quiet(res->body, res->body_len);
	PG_TRY();
	{
		read_token_answer(root, res, ans);
	}
	PG_FINALLY();
	{
		json_decref(root);
	}
	PG_END_TRY();
	gcp_http_free(call);
}

/* POST a form to a token endpoint; the body is wiped whatever happens. */
static void
post_token_form(const char *uri, StringInfo body, TokenAnswer *ans)
{
	GcpHttpRequest req;

	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.url = uri;
	req.content_type = "application/x-www-form-urlencoded";
	req.body = body->data;
	req.body_len = body->len;
	req.retry = true;

	PG_TRY();
	{
		fetch_token(&req, ans);
	}
	PG_FINALLY();
	{
		explicit_bzero(body->data, body->len);
	}
	PG_END_TRY();
}

/*
 * Raise the ERROR for a failed token request.  "source" starts the detail
 * sentence, e.g. "The token endpoint \"https://…\"".
 */
static void
report_token_failure(const TokenAnswer *ans, const char *who,
					 const char *source, const char *hint)
{
	switch (ans->outcome)
	{
		case TOKEN_OK:
			break;
		case TOKEN_UNREACHABLE:
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("could not obtain an access token for %s", who),
					 errdetail("%s could not be reached: %s.", source, ans->reason)));
			break;
		case TOKEN_UNAVAILABLE:
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("could not obtain an access token for %s", who),
					 errdetail("%s answered %s.", source, ans->reason),
					 ans->logged ? errdetail_log("%s answered HTTP %ld with %s", source,
												 ans->status, ans->logged) : 0,
					 errhint("The endpoint is unavailable or overloaded; try again later.")));
			break;
		case TOKEN_REFUSED:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
					 errmsg("could not obtain an access token for %s", who),
					 errdetail("%s answered %s.", source, ans->reason),
					 ans->logged ? errdetail_log("%s answered HTTP %ld with %s", source,
												 ans->status, ans->logged) : 0,
					 hint ? errhint("%s", hint) : 0));
			break;
		case TOKEN_TOO_LARGE:
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("could not obtain an access token for %s", who),
					 errdetail("%s answered %s.", source, ans->reason),
					 errhint("A superuser can raise bqstream.max_response_size if the endpoint is trusted to answer this much.")));
			break;
		case TOKEN_MALFORMED:
			ereport(ERROR,
					(errcode(ERRCODE_PROTOCOL_VIOLATION),
					 errmsg("could not obtain an access token for %s", who),
					 errdetail("%s answered HTTP %ld without an access token.",
							   source, ans->status)));
			break;
	}
}

/*
 * A token for a parsed key: the jwt-bearer grant for a service account,
 * the refresh-token grant for gcloud user credentials.  The key's secrets
 * are wiped on the way out, also on error.
 */
static void
token_from_key(KeyInfo *key, bool restricted, NewToken *out)
{
	TokenAnswer ans;
	StringInfoData body;
	const char *hint = key->authorized_user ?
		"Run \"gcloud auth application-default login\" again as the database server's operating-system user." :
		"Check that the key has not been deleted or disabled, and that the database server's clock is right.";

	initStringInfo(&body);
	PG_TRY();
	{
		/*
		 * The key's owner chose token_uri: a role that is not a superuser
		 * must not make the backend post a signed JWT to any URL it likes.
		 */
		if (restricted && !gcp_endpoint_trusted(key->token_uri))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied to use the token_uri of %s", key->who),
					 errdetail("Roles other than superusers may only use keys whose token_uri is Google's (https://oauth2.googleapis.com/token) or listed in bqstream.allowed_endpoints.")));
		if (key->authorized_user)
		{
			appendStringInfoString(&body, "grant_type=refresh_token&client_id=");
			append_form_value(&body, key->client_id);
			appendStringInfoString(&body, "&client_secret=");
			append_form_value(&body, key->client_secret);
			appendStringInfoString(&body, "&refresh_token=");
			append_form_value(&body, key->refresh_token);
		}
		else
		{
			char	   *jwt = make_jwt(key);

			appendStringInfoString(&body, "grant_type=" JWT_BEARER_GRANT "&assertion=");
			appendStringInfoString(&body, jwt);
			explicit_bzero(jwt, strlen(jwt));
			pfree(jwt);
		}
		post_token_form(key->token_uri, &body, &ans);
	}
	PG_FINALLY();
	{
		explicit_bzero(body.data, body.maxlen);
		wipe_key(key);
	}
	PG_END_TRY();

	report_token_failure(&ans, key->who,
						 psprintf("The token endpoint \"%s\"", key->token_uri), hint);
	out->token = ans.token;
	out->expires_in = ans.expires_in;
	out->who = key->who;
	out->quota_project = key->quota_project;
}

static const char *
metadata_host(void)
{
	const char *host = getenv("GCE_METADATA_HOST");

	if (host == NULL || host[0] == '\0')
		host = getenv("GCE_METADATA_ROOT");
	if (host == NULL || host[0] == '\0')
		host = METADATA_DEFAULT_HOST;
	return host;
}

/*
 * Ask the metadata server.  A probe (for ADC) gives up after a few seconds
 * without retrying, so that machines off GCP fail fast.
 */
static void
fetch_metadata_token(bool probe, TokenAnswer *ans)
{
	GcpHttpRequest req;

	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.url = psprintf("http://%s%s", metadata_host(), METADATA_TOKEN_PATH);
	req.extra_header = "Metadata-Flavor: Google";
	req.retry = !probe;
	req.deadline_ms = probe ? METADATA_PROBE_MS : 0;
	fetch_token(&req, ans);
}

static void
token_from_metadata(NewToken *out)
{
	TokenAnswer ans;

	fetch_metadata_token(false, &ans);
	report_token_failure(&ans, "the metadata server's service account",
						 psprintf("The metadata server at \"%s\"", metadata_host()),
						 "Check that a service account is attached to this machine.");
	out->token = ans.token;
	out->expires_in = ans.expires_in;
	out->who = pstrdup("the metadata server");
}

/* gcloud's configuration directory for the server's OS user, or NULL */
static char *
gcloud_config_dir(void)
{
	const char *config = getenv("CLOUDSDK_CONFIG");
	const char *home = getenv("HOME");

	if (config && config[0] != '\0')
		return pstrdup(config);
	/* as Python's expanduser(): HOME first, else the password entry */
	if (home == NULL || home[0] == '\0')
	{
		struct passwd *pw = getpwuid(geteuid());

		home = pw ? pw->pw_dir : NULL;
	}
	if (home == NULL || home[0] == '\0')
		return NULL;
	return psprintf("%s/.config/gcloud", home);
}

/*
 * Application Default Credentials in the order of Google's libraries:
 * GOOGLE_APPLICATION_CREDENTIALS, gcloud's well-known file, the metadata
 * server.  A credential that is found but fails is an error, as there; only
 * an absent one lets the search go on.
 */
static void
token_from_adc(NewToken *out)
{
	const char *env = getenv("GOOGLE_APPLICATION_CREDENTIALS");
	char	   *dir;
	char	   *well_known = NULL;
	KeyInfo		key;
	TokenAnswer ans;
	char	   *metadata_failure;

	if (env && env[0] != '\0')
	{
		load_credential_file(env,
							 "The environment variable GOOGLE_APPLICATION_CREDENTIALS of the database server names it.",
							 false, true, &key);
		token_from_key(&key, false, out);
		out->who = psprintf("application default credentials (%s)", out->who);
		return;
	}

	dir = gcloud_config_dir();
	if (dir)
		well_known = psprintf("%s/%s", dir, ADC_FILE_NAME);
	if (well_known && load_credential_file(well_known, NULL, true, true, &key))
	{
		token_from_key(&key, false, out);
		out->who = psprintf("application default credentials (%s)", out->who);
		return;
	}

	fetch_metadata_token(true, &ans);
	if (ans.outcome == TOKEN_OK)
	{
		out->token = ans.token;
		out->expires_in = ans.expires_in;
		out->who = pstrdup("application default credentials (the metadata server)");
		return;
	}

	if (ans.outcome == TOKEN_UNREACHABLE)
		metadata_failure = psprintf("no metadata server answered at \"%s\" (%s)",
									metadata_host(), ans.reason);
	else if (ans.outcome == TOKEN_MALFORMED)
		metadata_failure = psprintf("\"%s\" answered HTTP %ld without an access token",
									metadata_host(), ans.status);
	else
		metadata_failure = psprintf("the metadata server at \"%s\" answered %s",
									metadata_host(), ans.reason);

	ereport(ERROR,
			(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
			 errmsg("could not find Application Default Credentials"),
			 well_known ?
			 errdetail("GOOGLE_APPLICATION_CREDENTIALS is not set in the database server's environment, \"%s\" does not exist, and %s.",
					   well_known, metadata_failure) :
			 errdetail("GOOGLE_APPLICATION_CREDENTIALS is not set in the database server's environment, neither CLOUDSDK_CONFIG nor a home directory locates gcloud's credentials, and %s.",
					   metadata_failure),
			 errhint("Give the user mapping the option credentials_file or credentials_json with a service-account key, or auth 'metadata' on a Google Cloud machine; for an emulator use auth 'none'.")));
}

/* ---------------------------------------------------------------------
 * interface
 * ---------------------------------------------------------------------
 */

char *
gcp_auth_token(const GcpCredential *cred, char **quota_project)
{
	uint8		digest[DIGEST_LEN];
	CachedToken *entry;
	TimestampTz now;
	NewToken	got;
	KeyInfo		key;
	int			margin;

	*quota_project = NULL;
	if (cred->kind == GCP_AUTH_NONE)
		return NULL;
	if ((cred->kind == GCP_AUTH_KEY_JSON || cred->kind == GCP_AUTH_KEY_FILE) &&
		(cred->secret == NULL || cred->secret[0] == '\0'))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("the user mapping names no service-account key")));
	/* a digest we cannot compute must not make credentials share a token */
	if (!credential_digest(cred, digest))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute a SHA-256 digest")));

	now = GetCurrentTimestamp();
	entry = cache_lookup(cred->kind, digest);
	if (entry && entry->token && now < entry->renew_at)
	{
		if (entry->quota_project)
			*quota_project = pstrdup(entry->quota_project);
		return pstrdup(entry->token);
	}

	memset(&got, 0, sizeof(got));
	switch (cred->kind)
	{
		case GCP_AUTH_KEY_JSON:
			parse_credential(cred->secret, strlen(cred->secret),
							 "the user mapping's option credentials_json",
							 false, &key);
			token_from_key(&key, cred->restricted, &got);
			break;
		case GCP_AUTH_KEY_FILE:
			load_credential_file(cred->secret,
								 "The user mapping's option credentials_file names it.",
								 false, false, &key);
			token_from_key(&key, cred->restricted, &got);
			break;
		case GCP_AUTH_ADC:
			token_from_adc(&got);
			break;
		case GCP_AUTH_METADATA:
			token_from_metadata(&got);
			break;
		case GCP_AUTH_NONE:
			return NULL;
	}

	if (entry == NULL)
	{
		entry = MemoryContextAllocZero(TopMemoryContext, sizeof(CachedToken));
		entry->kind = cred->kind;
		memcpy(entry->digest, digest, DIGEST_LEN);
		entry->next = token_cache;
		token_cache = entry;
	}
	cache_drop_token(entry);
	if (entry->who)
		pfree(entry->who);
	entry->who = MemoryContextStrdup(TopMemoryContext, got.who);
	if (entry->quota_project)
		pfree(entry->quota_project);
	entry->quota_project = got.quota_project
		? MemoryContextStrdup(TopMemoryContext, got.quota_project) : NULL;
	*quota_project = got.quota_project;
	entry->token = MemoryContextStrdup(TopMemoryContext, got.token);

	/*
	 * Renew ahead of expiry, counted from before the request; a token with
	 * less life than twice the margin is used for half its life.
	 */
	margin = Min(TOKEN_RENEW_MARGIN_S, got.expires_in / 2);
	entry->renew_at = TimestampTzPlusMilliseconds(now,
												  (int64) (got.expires_in - margin) * 1000);
	return got.token;
}

void
gcp_auth_forget(const GcpCredential *cred)
{
	uint8		digest[DIGEST_LEN];
	CachedToken *entry;

	if (cred->kind == GCP_AUTH_NONE || !credential_digest(cred, digest))
		return;
	entry = cache_lookup(cred->kind, digest);
	if (entry)
		cache_drop_token(entry);
}

char *
gcp_auth_describe(const GcpCredential *cred)
{
	uint8		digest[DIGEST_LEN];
	CachedToken *entry = NULL;

	if (cred->kind == GCP_AUTH_NONE)
		return pstrdup("no authentication");

	/* once a token was had, the cache knows the account's address */
	if (credential_digest(cred, digest))
		entry = cache_lookup(cred->kind, digest);
	if (entry && entry->who)
		return pstrdup(entry->who);

	switch (cred->kind)
	{
		case GCP_AUTH_KEY_JSON:
			return pstrdup("the service-account key of the user mapping");
		case GCP_AUTH_KEY_FILE:
			return psprintf("the service-account key file \"%s\"",
							cred->secret ? cred->secret : "");
		case GCP_AUTH_ADC:
			return pstrdup("application default credentials");
		case GCP_AUTH_METADATA:
			return pstrdup("the metadata server");
		case GCP_AUTH_NONE:
			break;
	}
	return pstrdup("no authentication");
}
