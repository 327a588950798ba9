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
 * cache is keyed by a SHA-256 digest of the credential, never by the key
 * itself.
 *
 * Key material never reaches a message: errors name the service account
 * (its e-mail address is no secret) or the key file's path, and copies of a
 * private key are wiped once used.  OpenSSL and jansson objects are released
 * before any ERROR is raised.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "storage/fd.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "gcp/auth.h"
#include "gcp/gcp_json.h"
#include "gcp/http.h"

#define GOOGLE_TOKEN_URI	"https://oauth2.googleapis.com/token"
#define METADATA_HOST		"metadata.google.internal"
#define METADATA_TOKEN_PATH "/computeMetadata/v1/instance/service-accounts/default/token"
#define JWT_LIFETIME_S		3600

/* renew this long before expiry (Google's libraries use 3 min 45 s) */
#define TOKEN_RENEW_MARGIN_S 240

/* a metadata server answers at once where there is one */
#define METADATA_PROBE_MS	3000

#define MAX_KEY_FILE_BYTES	65536

typedef struct CachedToken
{
	struct CachedToken *next;
	GcpAuthKind kind;
	uint8		digest[32];		/* SHA-256 of the credential's secret */
	char	   *token;
	TimestampTz renew_at;
} CachedToken;

static CachedToken *token_cache = NULL;

/* A parsed credential file or inline key, with the fields we use. */
typedef struct KeyInfo
{
	bool		authorized_user;	/* gcloud user credentials, not a key */
	char	   *client_email;
	char	   *private_key;	/* PEM; wiped after use */
	char	   *private_key_id;
	char	   *token_uri;
	char	   *client_id;		/* authorized_user only */
	char	   *client_secret;
	char	   *refresh_token;
} KeyInfo;

static void
digest_of(const GcpCredential *cred, uint8 *out)
{
	const char *s = cred->secret ? cred->secret : "";
	unsigned int len = 32;

	if (!EVP_Digest(s, strlen(s), out, &len, EVP_sha256(), NULL))
		memset(out, 0, 32);
}

static CachedToken *
cache_find(const GcpCredential *cred, uint8 *digest)
{
	digest_of(cred, digest);
	for (CachedToken *t = token_cache; t; t = t->next)
		if (t->kind == cred->kind && memcmp(t->digest, digest, 32) == 0)
			return t;
	return NULL;
}

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
 * credential files
 * ---------------------------------------------------------------------
 */

static char *
dup_field(json_t *root, const char *name)
{
	const char *v = json_string_value(json_object_get(root, name));

	return v ? pstrdup(v) : NULL;
}

/*
 * Parse a credential's JSON; "where" names it in errors (a path, or "the
 * user mapping").  The text is never quoted.
 */
static void
parse_key(const char *text, size_t len, const char *where, KeyInfo *key)
{
	json_t	   *root = json_loadb(text, len, 0, NULL);
	const char *type;
	const char *problem = NULL;

	memset(key, 0, sizeof(KeyInfo));
	if (root == NULL || !json_is_object(root))
		problem = "It is not a JSON object.";
	else
	{
		json_t	   *pk = json_object_get(root, "private_key");

		type = json_string_value(json_object_get(root, "type"));
		key->client_email = dup_field(root, "client_email");
		key->private_key = dup_field(root, "private_key");
		key->private_key_id = dup_field(root, "private_key_id");
		key->token_uri = dup_field(root, "token_uri");
		key->client_id = dup_field(root, "client_id");
		key->client_secret = dup_field(root, "client_secret");
		key->refresh_token = dup_field(root, "refresh_token");
		/* jansson's copy of the key is wiped before it is freed */
		if (json_is_string(pk))
			explicit_bzero((char *) json_string_value(pk), json_string_length(pk));

		if (type && strcmp(type, "authorized_user") == 0)
		{
			key->authorized_user = true;
			if (!key->client_id || !key->client_secret || !key->refresh_token)
				problem = "Field \"client_id\", \"client_secret\" or \"refresh_token\" is missing.";
		}
		else if (type == NULL || strcmp(type, "service_account") != 0)
			problem = "Its \"type\" is neither \"service_account\" nor \"authorized_user\".";
		else if (!key->client_email)
			problem = "Field \"client_email\" is missing.";
		else if (!key->private_key)
			problem = "Field \"private_key\" is missing.";
	}
	json_decref(root);

	if (problem)
	{
		wipe_key(key);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("invalid Google credential in %s", where),
				 errdetail("%s", problem),
				 errhint("Use a service-account key file as created by \"gcloud iam service-accounts keys create\".")));
	}
	if (key->token_uri == NULL)
		key->token_uri = pstrdup(GOOGLE_TOKEN_URI);
}

/* Read a credential file; NULL when it does not exist and missing_ok. */
static char *
read_key_file(const char *path, bool missing_ok, size_t *len)
{
	FILE	   *f = AllocateFile(path, PG_BINARY_R);
	char	   *buf;
	size_t		n;

	if (f == NULL)
	{
		if (missing_ok && errno == ENOENT)
			return NULL;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open credentials file \"%s\": %m", path)));
	}
	buf = palloc(MAX_KEY_FILE_BYTES + 1);
	n = fread(buf, 1, MAX_KEY_FILE_BYTES + 1, f);
	if (ferror(f))
	{
		FreeFile(f);
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read credentials file \"%s\": %m", path)));
	}
	FreeFile(f);
	if (n > MAX_KEY_FILE_BYTES)
	{
		explicit_bzero(buf, MAX_KEY_FILE_BYTES + 1);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("credentials file \"%s\" is too large", path),
				 errdetail("A key file has a few kilobytes.")));
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

static bool
load_key_file(const char *path, bool missing_ok, KeyInfo *key)
{
	size_t		len;
	char	   *text = read_key_file(path, missing_ok, &len);

	if (text == NULL)
		return false;
	PG_TRY();
	{
		parse_key(text, len, psprintf("file \"%s\"", path), key);
	}
	PG_FINALLY();
	{
		explicit_bzero(text, len);
	}
	PG_END_TRY();
	return true;
}

/* ---------------------------------------------------------------------
 * token requests
 * ---------------------------------------------------------------------
 */

static char *
base64url(const unsigned char *data, size_t len)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	char	   *out = palloc((len + 2) / 3 * 4 + 1);
	char	   *p = out;
	size_t		i;

	for (i = 0; i + 2 < len; i += 3)
	{
		uint32		v = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];

		*p++ = alphabet[(v >> 18) & 63];
		*p++ = alphabet[(v >> 12) & 63];
		*p++ = alphabet[(v >> 6) & 63];
		*p++ = alphabet[v & 63];
	}
	if (i < len)
	{
		uint32		v = data[i] << 16;

		if (i + 1 < len)
			v |= data[i + 1] << 8;
		*p++ = alphabet[(v >> 18) & 63];
		*p++ = alphabet[(v >> 12) & 63];
		if (i + 1 < len)
			*p++ = alphabet[(v >> 6) & 63];
	}
	*p = '\0';
	return out;
}

static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	return 0;					/* never prompt on the server's terminal */
}

/*
 * RSASSA-PKCS1-v1_5 SHA-256 signature of "input", base64url-encoded; NULL
 * and *problem set on failure.  Raises nothing, so OpenSSL objects are
 * always freed.
 */
static char *
sign_rs256(const char *pem, const char *input, const char **problem)
{
	BIO		   *bio = BIO_new_mem_buf(pem, -1);
	EVP_PKEY   *pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL) : NULL;
	EVP_MD_CTX *md = NULL;
	unsigned char *sig = NULL;
	size_t		siglen = 0;
	char	   *result = NULL;

	*problem = NULL;
	if (pkey == NULL)
		*problem = "The private key is not a PEM-encoded private key.";
	else if (EVP_PKEY_base_id(pkey) != EVP_PKEY_RSA)
		*problem = "The private key is not an RSA key.";
	else if ((md = EVP_MD_CTX_new()) == NULL ||
			 EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pkey) != 1 ||
			 EVP_DigestSign(md, NULL, &siglen, (const unsigned char *) input, strlen(input)) != 1 ||
			 (sig = malloc(siglen)) == NULL ||
			 EVP_DigestSign(md, sig, &siglen, (const unsigned char *) input, strlen(input)) != 1)
		*problem = "OpenSSL could not sign the token request.";

	if (*problem == NULL)
		result = base64url(sig, siglen);
	free(sig);
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	return result;
}

static char *
json_b64url(json_t *value)
{
	char	   *text = json_dumps(value, JSON_COMPACT);
	char	   *out;

	json_decref(value);
	if (text == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	out = base64url((unsigned char *) text, strlen(text));
	free(text);
	return out;
}

static char *
make_jwt(KeyInfo *key)
{
	int64		now = (int64) time(NULL);
	json_t	   *header = json_pack("{s:s, s:s}", "alg", "RS256", "typ", "JWT");
	json_t	   *claims = json_pack("{s:s, s:s, s:s, s:I, s:I}",
								   "iss", key->client_email,
								   "scope", GCP_SCOPE_CLOUD_PLATFORM,
								   "aud", key->token_uri,
								   "iat", (json_int_t) now,
								   "exp", (json_int_t) (now + JWT_LIFETIME_S));
	char	   *signing_input;
	char	   *signature;
	const char *problem;

	if (header && key->private_key_id)
		json_object_set_new(header, "kid", json_string(key->private_key_id));
	if (header == NULL || claims == NULL)
	{
		json_decref(header);
		json_decref(claims);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("could not build a token request for service account \"%s\"",
						key->client_email),
				 errdetail("The key's client_email, token_uri or private_key_id is not valid UTF-8.")));
	}
	signing_input = psprintf("%s.%s", json_b64url(header), json_b64url(claims));
	signature = sign_rs256(key->private_key, signing_input, &problem);
	if (signature == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("could not use the private key of service account \"%s\"",
						key->client_email),
				 errdetail("%s", problem)));
	return psprintf("%s.%s", signing_input, signature);
}

/*
 * Run a token request and return the token and its lifetime.  "who"
 * describes the credential in messages.
 */
static char *
request_token(GcpHttpRequest *req, const char *who, int *expires_in)
{
	GcpHttpCall *call = gcp_http_run(req);
	const GcpHttpResult *res = gcp_http_result(call);
	json_t	   *root = NULL;
	const char *token;
	json_t	   *exp;
	char	   *result;

	if (res->status == 0)
	{
		char	   *detail = pstrdup(res->transport_error ? res->transport_error : "unknown error");

		gcp_http_free(call);
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("could not obtain an access token for %s", who),
				 errdetail("The token endpoint %s could not be reached: %s.", req->url, detail)));
	}

	root = json_loadb(res->body, res->body_len, 0, NULL);
	if (!gcp_http_ok(res))
	{
		/* the OAuth error shape: {"error":"invalid_grant","error_description":"..."} */
		const char *error = root ? json_string_value(json_object_get(root, "error")) : NULL;
		const char *desc = root ? json_string_value(json_object_get(root, "error_description")) : NULL;
		char	   *detail;

		if (error == NULL && root && json_is_object(json_object_get(root, "error")))
			error = json_string_value(json_object_get(json_object_get(root, "error"), "message"));
		detail = psprintf("The token endpoint answered HTTP %ld%s%s%s%s.", res->status,
						  error ? ": " : "", error ? error : "",
						  desc ? ": " : "", desc ? desc : "");
		json_decref(root);
		gcp_http_free(call);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("could not obtain an access token for %s", who),
				 errdetail_internal("%s", detail),
				 errhint("Check that the key is current and that the database server's clock is right.")));
	}

	token = root ? json_string_value(json_object_get(root, "access_token")) : NULL;
	exp = root ? json_object_get(root, "expires_in") : NULL;
	if (token == NULL || token[0] == '\0')
	{
		json_decref(root);
		gcp_http_free(call);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("could not obtain an access token for %s", who),
				 errdetail("The token endpoint's answer has no access_token.")));
	}
	result = pstrdup(token);
	/* some servers send expires_in as a string */
	if (json_is_integer(exp))
		*expires_in = (int) json_integer_value(exp);
	else if (json_is_string(exp))
		*expires_in = atoi(json_string_value(exp));
	else
		*expires_in = JWT_LIFETIME_S;
	json_decref(root);
	gcp_http_free(call);
	return result;
}

static char *
form_token_request(const char *uri, const char *body, const char *who, int *expires_in)
{
	GcpHttpRequest req;

	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.url = uri;
	req.content_type = "application/x-www-form-urlencoded";
	req.body = body;
	req.body_len = strlen(body);
	req.retry = true;
	return request_token(&req, who, expires_in);
}

static char *
token_from_key(KeyInfo *key, int *expires_in)
{
	char	   *token;

	PG_TRY();
	{
		if (key->authorized_user)
			token = form_token_request(key->token_uri,
									   psprintf("grant_type=refresh_token&client_id=%s&client_secret=%s&refresh_token=%s",
												gcp_url_escape(key->client_id),
												gcp_url_escape(key->client_secret),
												gcp_url_escape(key->refresh_token)),
									   "the gcloud user credentials", expires_in);
		else
			token = form_token_request(key->token_uri,
									   psprintf("grant_type=%s&assertion=%s",
												"urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer",
												make_jwt(key)),
									   psprintf("service account \"%s\"", key->client_email),
									   expires_in);
	}
	PG_FINALLY();
	{
		wipe_key(key);
	}
	PG_END_TRY();
	return token;
}

static const char *
metadata_host(void)
{
	const char *host = getenv("GCE_METADATA_HOST");

	if (host == NULL || host[0] == '\0')
		host = getenv("GCE_METADATA_ROOT");
	if (host == NULL || host[0] == '\0')
		host = METADATA_HOST;
	return host;
}

static char *
token_from_metadata(bool probe, int *expires_in)
{
	GcpHttpRequest req;

	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.url = psprintf("http://%s%s", metadata_host(), METADATA_TOKEN_PATH);
	req.extra_header = "Metadata-Flavor: Google";
	req.retry = !probe;
	req.deadline_ms = probe ? METADATA_PROBE_MS : 0;
	return request_token(&req, "the metadata server's service account", expires_in);
}

/*
 * Application Default Credentials, in the order of Google's libraries:
 * GOOGLE_APPLICATION_CREDENTIALS, gcloud's well-known file, the metadata
 * server.
 */
static char *
token_from_adc(int *expires_in)
{
	const char *env = getenv("GOOGLE_APPLICATION_CREDENTIALS");
	const char *config = getenv("CLOUDSDK_CONFIG");
	const char *home = getenv("HOME");
	char	   *well_known = NULL;
	KeyInfo		key;
	char	   *token = NULL;
	MemoryContext oldcxt;

	if (env && env[0] != '\0')
	{
		load_key_file(env, false, &key);
		return token_from_key(&key, expires_in);
	}

	if (config && config[0] != '\0')
		well_known = psprintf("%s/application_default_credentials.json", config);
	else if (home && home[0] != '\0')
		well_known = psprintf("%s/.config/gcloud/application_default_credentials.json", home);
	if (well_known && load_key_file(well_known, true, &key))
		return token_from_key(&key, expires_in);

	/* no metadata server is the common case off GCP: not an error yet */
	oldcxt = CurrentMemoryContext;
	PG_TRY();
	{
		token = token_from_metadata(true, expires_in);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		if (edata->sqlerrcode != ERRCODE_CONNECTION_FAILURE &&
			edata->sqlerrcode != ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION)
			PG_RE_THROW();		/* a cancel, above all, is no answer */
		FlushErrorState();
		token = NULL;
	}
	PG_END_TRY();
	if (token == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("could not find Application Default Credentials"),
				 errdetail("GOOGLE_APPLICATION_CREDENTIALS is not set in the server's environment, %s does not exist, and no metadata server answered at %s.",
						   well_known ? well_known : "the gcloud credentials file",
						   metadata_host()),
				 errhint("Give the user mapping option credentials_json or credentials_file, or auth 'none' for an emulator.")));
	return token;
}

/* ---------------------------------------------------------------------
 * interface
 * ---------------------------------------------------------------------
 */

char *
gcp_auth_token(const GcpCredential *cred)
{
	uint8		digest[32];
	CachedToken *entry;
	TimestampTz now = GetCurrentTimestamp();
	int			expires_in = 0;
	char	   *token = NULL;
	KeyInfo		key;

	if (cred->kind == GCP_AUTH_NONE)
		return NULL;

	entry = cache_find(cred, digest);
	if (entry && entry->renew_at > now)
		return pstrdup(entry->token);

	switch (cred->kind)
	{
		case GCP_AUTH_KEY_JSON:
			parse_key(cred->secret, strlen(cred->secret), "the user mapping", &key);
			token = token_from_key(&key, &expires_in);
			break;
		case GCP_AUTH_KEY_FILE:
			load_key_file(cred->secret, false, &key);
			token = token_from_key(&key, &expires_in);
			break;
		case GCP_AUTH_ADC:
			token = token_from_adc(&expires_in);
			break;
		case GCP_AUTH_METADATA:
			token = token_from_metadata(false, &expires_in);
			break;
		case GCP_AUTH_NONE:
			break;
	}

	if (entry == NULL)
	{
		entry = MemoryContextAllocZero(TopMemoryContext, sizeof(CachedToken));
		entry->kind = cred->kind;
		memcpy(entry->digest, digest, 32);
		entry->next = token_cache;
		token_cache = entry;
	}
	else if (entry->token)
	{
		wipe(entry->token);
		pfree(entry->token);
	}
	entry->token = MemoryContextStrdup(TopMemoryContext, token);
	entry->renew_at = TimestampTzPlusMilliseconds(now,
												  (int64) Max(expires_in - TOKEN_RENEW_MARGIN_S, 0) * 1000);
	return token;
}

void
gcp_auth_forget(const GcpCredential *cred)
{
	uint8		digest[32];
	CachedToken *entry = cache_find(cred, digest);

	if (entry)
		entry->renew_at = 0;
}

char *
gcp_auth_describe(const GcpCredential *cred)
{
	switch (cred->kind)
	{
		case GCP_AUTH_NONE:
			return pstrdup("no authentication");
		case GCP_AUTH_KEY_JSON:
			return pstrdup("the service-account key of the user mapping");
		case GCP_AUTH_KEY_FILE:
			return psprintf("the service-account key file \"%s\"", cred->secret);
		case GCP_AUTH_ADC:
			return pstrdup("Application Default Credentials");
		case GCP_AUTH_METADATA:
			return pstrdup("the metadata server");
	}
	return pstrdup("an unknown credential");
}
