/*-------------------------------------------------------------------------
 *
 * auth.c
 *	  OAuth2 access tokens for the GCP clients: service-account keys (an
 *	  RS256-signed JWT exchanged at the key's token_uri), external accounts
 *	  (workload identity federation: a subject token read from a file or URL
 *	  and exchanged at Google's STS), impersonated service accounts (IAM
 *	  Credentials' generateAccessToken, after an external account or a
 *	  source key or gcloud user credential), Application Default
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
 * refresh tokens, signed assertions, subject tokens and the intermediate
 * tokens of a token chain are wiped once used, also when an ERROR unwinds;
 * an endpoint's error text that quotes the token sent to it is not shown.
 *
 * Every URL in a credential (token_uri, token_url, credential_source.url,
 * service_account_impersonation_url) was chosen by whoever wrote the
 * credential; for roles other than superusers all of them must be trusted
 * endpoints (policy.c), checked before the first request.  Programs as
 * credential sources (credential_source.executable) are refused for every
 * role: the database server runs none.
 *
 * jansson and OpenSSL objects are malloc-owned, so they are released before
 * any ERROR is raised (or in PG_FINALLY).
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

#include "common/base64.h"
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
#define GOOGLE_STS_URI		"https://sts.googleapis.com/v1/token"
#define TOKEN_EXCHANGE_GRANT "urn:ietf:params:oauth:grant-type:token-exchange"
#define ACCESS_TOKEN_TYPE	"urn:ietf:params:oauth:token-type:access_token"
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

/* what generateAccessToken is asked for unless configured otherwise */
#define IMPERSONATION_LIFETIME_S 3600

/* SAML assertions run to tens of kilobytes; OIDC tokens to a few */
#define MAX_SUBJECT_TOKEN_BYTES (256 * 1024)

/* bounds on lists in a credential configuration */
#define MAX_SOURCE_HEADERS	16
#define MAX_DELEGATES		16

/* a secret is taken as quoted when this much of it shows in a message */
#define QUOTE_WINDOW		24

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

/*
 * Workload identity federation ("type": "external_account"): where the
 * subject token comes from and how it is exchanged at Google's STS.
 */
typedef struct ExternalAccount
{
	char	   *audience;		/* the workload identity pool provider */
	char	   *subject_token_type;
	char	   *token_url;		/* STS */
	char	   *token_info_url; /* never called, but checked like the others */
	char	   *user_project;	/* workforce_pool_user_project, or NULL */
	char	   *source_file;	/* credential_source.file, or NULL */
	char	   *source_url;		/* credential_source.url, or NULL */
	char	  **source_headers; /* "Name: value", NULL-terminated; wiped */
	char	   *subject_field;	/* format json: the token's field, else NULL */
	char	   *who;			/* external account "audience", for messages */
} ExternalAccount;

/*
 * A parsed credential: a service-account key, gcloud user credentials, an
 * external account, or an impersonated service account.  Service-account
 * impersonation (impersonation_url set) follows the external account's
 * exchange, or the source credential's token.
 */
typedef struct KeyInfo
{
	bool		authorized_user;	/* gcloud user credentials, not a key */
	char	   *type;
	char	   *client_email;
	char	   *private_key;	/* PEM; wiped after use */
	char	   *private_key_id;
	char	   *token_uri;
	char	   *client_id;		/* authorized_user; external_account's client */
	char	   *client_secret;	/* wiped after use */
	char	   *refresh_token;	/* wiped after use */
	char	   *quota_project;	/* quota_project_id, or NULL */
	char	   *who;			/* the credential in messages */
	ExternalAccount *external;	/* external_account only */
	struct KeyInfo *source;		/* impersonated_service_account only */
	char	   *impersonation_url;	/* generateAccessToken, or NULL */
	char	   *target;			/* the impersonated service account */
	char	  **delegates;		/* projects/-/serviceAccounts/…, NULL-terminated */
	int			lifetime_s;		/* asked of generateAccessToken */
} KeyInfo;

static void read_credential(json_t *root, const char *where, const char *prefix,
							bool allow_user, KeyInfo *key);

/* What a token endpoint or the metadata server answered. */
typedef enum TokenOutcome
{
	TOKEN_OK,
	TOKEN_UNREACHABLE,			/* no HTTP answer */
	TOKEN_UNAVAILABLE,			/* 408, 429 or 5xx after the retries */
	TOKEN_REFUSED,				/* any other error status */
	TOKEN_MALFORMED,			/* 2xx without an access token */
	TOKEN_TOO_LARGE,			/* past bqstream.max_response_size */
	TOKEN_NOT_METADATA			/* no "Metadata-Flavor: Google" */
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
	/* headers such as "Authorization: Bearer …" */
	if (key->external)
		for (char **h = key->external->source_headers; h && *h; h++)
			wipe(*h);
	if (key->source)
		wipe_key(key->source);
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

/* the hint of an unusable credential file */
#define CREDENTIAL_HINT "Use a service-account key file as created by \"gcloud iam service-accounts keys create\", or a credential configuration as created by \"gcloud iam workload-identity-pools create-cred-config\"."

static void invalid_credential(const char *where, const char *detail) pg_attribute_noreturn();
static void missing_field(const char *where, const char *prefix, const char *field) pg_attribute_noreturn();

static void
invalid_credential(const char *where, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
			 errmsg("invalid Google credential in %s", where),
			 errdetail_internal("%s", detail)));
}

static void
missing_field(const char *where, const char *prefix, const char *field)
{
	invalid_credential(where, psprintf("Field \"%s%s\" is missing or empty.",
									   prefix, field));
}

/* printable ASCII without blanks: safe in a message and in a URL or header */
static bool
is_plain_text(const char *s, bool allow_space)
{
	for (const unsigned char *p = (const unsigned char *) s; *p; p++)
		if (*p < 0x20 || *p >= 0x7f || (*p == ' ' && !allow_space))
			return false;
	return true;
}

/* an http or https URL with a host, as libcurl will be given it */
static void
check_url_field(const char *where, const char *field, const char *url)
{
	const char *rest = NULL;

	if (pg_strncasecmp(url, "https://", 8) == 0)
		rest = url + 8;
	else if (pg_strncasecmp(url, "http://", 7) == 0)
		rest = url + 7;
	if (rest == NULL || *rest == '\0' || *rest == '/' || !is_plain_text(url, false))
		invalid_credential(where, psprintf("Field \"%s\" is not an http:// or https:// URL.",
										   field));
}

/*
 * The impersonated service account is the last path segment of the
 * generateAccessToken URL, as Google's libraries take it.
 */
static void
read_impersonation_url(const char *where, KeyInfo *key)
{
	static const char verb[] = ":generateAccessToken";
	const char *url = key->impersonation_url;
	size_t		len = strlen(url);
	const char *slash;

	check_url_field(where, "service_account_impersonation_url", url);
	slash = strrchr(url, '/');
	if (len <= sizeof(verb) - 1 || strcmp(url + len - (sizeof(verb) - 1), verb) != 0 ||
		slash == NULL || slash + 1 >= url + len - (sizeof(verb) - 1))
		invalid_credential(where, "Field \"service_account_impersonation_url\" does not end in /serviceAccounts/EMAIL:generateAccessToken.");
	key->target = pnstrdup(slash + 1, url + len - (sizeof(verb) - 1) - (slash + 1));
	key->lifetime_s = IMPERSONATION_LIFETIME_S;
	/* already true of the URL; what a message quotes, said out loud */
	Assert(is_plain_text(key->target, false));
}

/* an HTTP header name: RFC 9110 token characters */
static bool
is_header_name(const char *s)
{
	if (*s == '\0' || strlen(s) > 128)
		return false;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char) *p) && strchr("!#$%&'*+-.^_`|~", *p) == NULL)
			return false;
	return true;
}

/*
 * credential_source of an external account: a file or a URL, with optional
 * headers and format.  Programs (executable), AWS's signed requests
 * (environment_id) and X.509 certificates are refused by name, before
 * anything else is looked at.
 */
static void
read_credential_source(json_t *source, const char *where, const char *who,
					   ExternalAccount *ext)
{
	json_t	   *format;
	json_t	   *headers;

	if (!json_is_object(source))
		invalid_credential(where, "Field \"credential_source\" is missing or not a JSON object.");
	if (json_object_get(source, "executable") != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("executable-sourced credentials are not supported"),
				 errdetail("The credential_source of %s in %s runs a program; bqstream does not run programs in the database server.",
						   who, where),
				 errhint("Have the program write the subject token to a file and name it in credential_source.file, or use a credential_source.url.")));
	if (json_object_get(source, "environment_id") != NULL)
	{
		const char *env = json_string_value(json_object_get(source, "environment_id"));

		if (env && pg_strncasecmp(env, "aws", 3) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("AWS-sourced external account credentials are not supported"),
					 errdetail("The credential_source of %s in %s signs requests with AWS credentials (environment_id \"aws1\"), which bqstream does not do.",
							   who, where),
					 errhint("Use a service-account key, or an identity provider whose token can be read from a file or URL (OIDC, SAML).")));
		invalid_credential(where, "Field \"credential_source.environment_id\" names no supported environment.");
	}
	if (json_object_get(source, "certificate") != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("certificate-sourced external account credentials are not supported"),
				 errdetail("The credential_source of %s in %s authenticates with an X.509 certificate, which bqstream does not do.",
						   who, where)));

	ext->source_file = dup_string_field(source, "file");
	ext->source_url = dup_string_field(source, "url");
	if (ext->source_file && ext->source_url)
		invalid_credential(where, "Fields \"credential_source.file\" and \"credential_source.url\" exclude each other.");
	if (ext->source_file == NULL && ext->source_url == NULL)
		invalid_credential(where, "Field \"credential_source\" has neither \"file\" nor \"url\".");
	if (ext->source_file && !is_absolute_path(ext->source_file))
		invalid_credential(where, "Field \"credential_source.file\" is not an absolute path.");
	if (ext->source_url)
		check_url_field(where, "credential_source.url", ext->source_url);

	headers = json_object_get(source, "headers");
	if (headers != NULL && !json_is_null(headers))
	{
		const char *name;
		json_t	   *value;
		int			i = 0;

		if (!json_is_object(headers) || json_object_size(headers) > MAX_SOURCE_HEADERS)
			invalid_credential(where, psprintf("Field \"credential_source.headers\" is not a JSON object of at most %d strings.",
											   MAX_SOURCE_HEADERS));
		ext->source_headers = palloc0((json_object_size(headers) + 1) * sizeof(char *));
		json_object_foreach(headers, name, value)
		{
			/* a value may be a secret ("Authorization"): never quoted */
			if (!is_header_name(name) || !json_is_string(value) ||
				strlen(json_string_value(value)) != json_string_length(value) ||
				!is_plain_text(json_string_value(value), true))
				invalid_credential(where, "Field \"credential_source.headers\" holds a header that is not a name and a printable value.");
			ext->source_headers[i++] = psprintf("%s: %s", name, json_string_value(value));
		}
	}

	format = json_object_get(source, "format");
	if (format != NULL && !json_is_null(format))
	{
		const char *type;

		if (!json_is_object(format))
			invalid_credential(where, "Field \"credential_source.format\" is not a JSON object.");
		type = json_string_value(json_object_get(format, "type"));
		/* as in Google's libraries, no type is text */
		if (type && strcmp(type, "json") == 0)
		{
			ext->subject_field = dup_string_field(format, "subject_token_field_name");
			if (ext->subject_field == NULL)
				missing_field(where, "", "credential_source.format.subject_token_field_name");
			if (!is_plain_text(ext->subject_field, true))
				invalid_credential(where, "Field \"credential_source.format.subject_token_field_name\" is not printable text.");
		}
		else if (type && type[0] != '\0' && strcmp(type, "text") != 0)
			invalid_credential(where, "Field \"credential_source.format.type\" is neither \"text\" nor \"json\".");
	}
}

/*
 * "type": "external_account" (workload or workforce identity federation),
 * as "gcloud iam workload-identity-pools create-cred-config" writes it.
 */
static void
read_external_account(json_t *root, const char *where, KeyInfo *key)
{
	ExternalAccount *ext = palloc0(sizeof(ExternalAccount));
	json_t	   *options = json_object_get(root, "service_account_impersonation");

	key->external = ext;
	ext->audience = dup_string_field(root, "audience");
	ext->subject_token_type = dup_string_field(root, "subject_token_type");
	ext->token_url = dup_string_field(root, "token_url");
	ext->token_info_url = dup_string_field(root, "token_info_url");
	ext->user_project = dup_string_field(root, "workforce_pool_user_project");
	key->impersonation_url = dup_string_field(root, "service_account_impersonation_url");

	if (ext->audience == NULL)
		missing_field(where, "", "audience");
	/* the audience names the credential in messages */
	if (!is_plain_text(ext->audience, false))
		invalid_credential(where, "Field \"audience\" is not printable text.");
	ext->who = psprintf("external account \"%s\"", ext->audience);
	read_credential_source(json_object_get(root, "credential_source"), where,
						   ext->who, ext);
	if (ext->subject_token_type == NULL)
		missing_field(where, "", "subject_token_type");
	if (ext->token_url == NULL)
		ext->token_url = pstrdup(GOOGLE_STS_URI);
	check_url_field(where, "token_url", ext->token_url);
	if (ext->token_info_url)
		check_url_field(where, "token_info_url", ext->token_info_url);

	if (key->impersonation_url)
	{
		json_t	   *lifetime = json_object_get(options, "token_lifetime_seconds");

		read_impersonation_url(where, key);
		if (lifetime != NULL && !json_is_null(lifetime))
		{
			/* Google's bounds: 10 minutes to 12 hours */
			if (!json_is_integer(lifetime) ||
				json_integer_value(lifetime) < 600 || json_integer_value(lifetime) > 43200)
				invalid_credential(where, "Field \"service_account_impersonation.token_lifetime_seconds\" is not a number of seconds between 600 and 43200.");
			key->lifetime_s = (int) json_integer_value(lifetime);
		}
		key->who = psprintf("service account \"%s\" (impersonated)", key->target);
	}
	else
		key->who = pstrdup(ext->who);
}

/*
 * "type": "impersonated_service_account", as "gcloud auth
 * application-default login --impersonate-service-account" writes it.
 */
static void
read_impersonated(json_t *root, const char *where, KeyInfo *key)
{
	json_t	   *source = json_object_get(root, "source_credentials");
	json_t	   *delegates = json_object_get(root, "delegates");

	key->impersonation_url = dup_string_field(root, "service_account_impersonation_url");
	if (key->impersonation_url == NULL)
		missing_field(where, "", "service_account_impersonation_url");
	read_impersonation_url(where, key);

	if (delegates != NULL && !json_is_null(delegates))
	{
		size_t		i;
		json_t	   *d;

		if (!json_is_array(delegates) || json_array_size(delegates) > MAX_DELEGATES)
			invalid_credential(where, psprintf("Field \"delegates\" is not a JSON array of at most %d strings.",
											   MAX_DELEGATES));
		key->delegates = palloc0((json_array_size(delegates) + 1) * sizeof(char *));
		json_array_foreach(delegates, i, d)
		{
			const char *name = json_string_value(d);

			if (name == NULL || name[0] == '\0' || !is_plain_text(name, false))
				invalid_credential(where, "Field \"delegates\" holds something other than a service account.");
			/* gcloud writes e-mail addresses; the API takes resource names */
			key->delegates[i] = strncmp(name, "projects/", 9) == 0 ? pstrdup(name) :
				psprintf("projects/-/serviceAccounts/%s", name);
		}
	}

	if (!json_is_object(source))
		invalid_credential(where, "Field \"source_credentials\" is missing or not a JSON object.");
	key->source = palloc0(sizeof(KeyInfo));
	read_credential(source, where, "source_credentials.", true, key->source);
	key->who = psprintf("service account \"%s\" (impersonated)", key->target);
}

/*
 * The fields of a credential's JSON object.  "prefix" is "" at the top and
 * "source_credentials." for the source of an impersonated service account,
 * which can only be a key or user credentials.
 */
static void
read_credential(json_t *root, const char *where, const char *prefix,
				bool allow_user, KeyInfo *key)
{
	bool		nested = prefix[0] != '\0';
	const char *type;
	const char *missing;

	key->type = dup_string_field(root, "type");
	key->client_email = dup_string_field(root, "client_email");
	key->private_key = dup_string_field(root, "private_key");
	key->private_key_id = dup_string_field(root, "private_key_id");
	key->token_uri = dup_string_field(root, "token_uri");
	key->client_id = dup_string_field(root, "client_id");
	key->client_secret = dup_string_field(root, "client_secret");
	key->refresh_token = dup_string_field(root, "refresh_token");
	key->quota_project = dup_string_field(root, "quota_project_id");

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
	else if (type && strcmp(type, "external_account") == 0 && !nested)
		read_external_account(root, where, key);
	else if (type && strcmp(type, "impersonated_service_account") == 0 && !nested)
		read_impersonated(root, where, key);
	else if (type == NULL)
	{
		if (nested)
			missing_field(where, prefix, "type");
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("invalid Google credential in %s", where),
				 errdetail("It has no \"type\" field."),
				 errhint(CREDENTIAL_HINT)));
	}
	else if (nested)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 quotable_type(type) ?
				 errmsg("Google credential type \"%s\" is not supported as source credentials", type) :
				 errmsg("Google credential type is not supported as source credentials"),
				 errdetail("The source_credentials of the impersonated service account in %s are neither a service-account key nor gcloud user credentials.",
						   where)));
	else if (strcmp(type, "authorized_user") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("gcloud user credentials are not supported in %s", where),
				 errdetail("The options credentials_json and credentials_file take a service-account key, an external account or an impersonated service account."),
				 errhint("Create a key with \"gcloud iam service-accounts keys create\", or use auth 'adc' for the gcloud credentials of the database server's operating-system user.")));
	else
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 quotable_type(type) ?
				 errmsg("Google credential type \"%s\" is not supported", type) :
				 errmsg("Google credential type is not supported"),
				 errdetail("The credential in %s is not a service-account key, an external account (workload identity federation) or an impersonated service account%s.",
						   where, allow_user ? ", nor gcloud user credentials" : ""),
				 errhint(CREDENTIAL_HINT)));

	if (missing)
		missing_field(where, prefix, missing);
	if (key->token_uri == NULL)
		key->token_uri = pstrdup(GOOGLE_TOKEN_URI);
	/* it goes into a request header: a project ID, nothing else */
	if (key->quota_project && !gcp_valid_project_id(key->quota_project))
		invalid_credential(where, psprintf("Field \"%squota_project_id\" is not a project ID.",
										   prefix));
}

/* wipe jansson's copies of a credential's secrets before jansson frees them */
static void
wipe_json_secrets(json_t *root)
{
	json_t	   *source = json_object_get(root, "source_credentials");
	json_t	   *headers = json_object_get(json_object_get(root, "credential_source"),
										  "headers");
	const char *name;
	json_t	   *value;

	wipe_json_field(root, "private_key");
	wipe_json_field(root, "client_secret");
	wipe_json_field(root, "refresh_token");
	if (json_is_object(source))
	{
		wipe_json_field(source, "private_key");
		wipe_json_field(source, "client_secret");
		wipe_json_field(source, "refresh_token");
	}
	if (json_is_object(headers))
		json_object_foreach(headers, name, value)
			wipe_json_field(headers, name);
}

/*
 * Parse a credential's JSON text into *key.  "where" names it in messages
 * (a path, or the user mapping's option); the text itself is never quoted,
 * nor is jansson's error text, which may show a piece of it.  gcloud user
 * credentials ("authorized_user") are accepted only when allow_user, i.e.
 * for Application Default Credentials, or as the source of an impersonated
 * service account.  On error, the secrets read so far are wiped.
 */
static void
parse_credential(const char *text, size_t len, const char *where,
				 bool allow_user, KeyInfo *key)
{
	json_error_t jerr;
	json_t	   *root;

	memset(key, 0, sizeof(KeyInfo));
	root = json_loadb(text, len, 0, &jerr);
	if (root == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("invalid Google credential in %s", where),
				 errdetail("It is not valid JSON (error at line %d, column %d).",
						   jerr.line, jerr.column),
				 errhint(CREDENTIAL_HINT)));
	if (!json_is_object(root))
	{
		wipe_json_secrets(root);
		json_decref(root);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("invalid Google credential in %s", where),
				 errdetail("It is not a JSON object."),
				 errhint(CREDENTIAL_HINT)));
	}

	PG_TRY();
	{
		read_credential(root, where, "", allow_user, key);
	}
	PG_CATCH();
	{
		wipe_key(key);
		wipe_json_secrets(root);
		json_decref(root);
		PG_RE_THROW();
	}
	PG_END_TRY();
	wipe_json_secrets(root);
	json_decref(root);
}

/* the secret files bqstream reads, each with messages of its own */
typedef enum SecretFileKind
{
	CREDENTIALS_FILE,
	SUBJECT_TOKEN_FILE
} SecretFileKind;

/*
 * Read a small secret file (a key or a subject token: see "kind") into a palloc'd, NUL-terminated buffer that
 * the caller wipes.  Returns NULL when the file does not exist and
 * missing_ok.  "origin", if set, is an errdetail saying why this file was
 * read; "too_large" the errdetail of a file over "max" bytes.
 */
static char *
read_secret_file(const char *path, SecretFileKind kind, size_t max,
				 const char *origin, const char *too_large, bool missing_ok,
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
				 kind == CREDENTIALS_FILE ?
				 errmsg("could not open credentials file \"%s\": %m", path) :
				 errmsg("could not open subject token file \"%s\": %m", path),
				 origin ? errdetail("%s", origin) : 0));
	}

	buf = palloc(max + 1);
	n = fread(buf, 1, max + 1, f);
	if (ferror(f))
	{
		save_errno = errno;
		FreeFile(f);
		explicit_bzero(buf, max + 1);
		errno = save_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 kind == CREDENTIALS_FILE ?
				 errmsg("could not read credentials file \"%s\": %m", path) :
				 errmsg("could not read subject token file \"%s\": %m", path),
				 origin ? errdetail("%s", origin) : 0));
	}
	FreeFile(f);
	if (n > max)
	{
		explicit_bzero(buf, max + 1);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 kind == CREDENTIALS_FILE ?
				 errmsg("credentials file \"%s\" is too large", path) :
				 errmsg("subject token file \"%s\" is too large", path),
				 errdetail("%s", too_large)));
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

static char *
read_credential_file(const char *path, const char *origin, bool missing_ok,
					 size_t *len)
{
	return read_secret_file(path, CREDENTIALS_FILE, MAX_KEY_FILE_BYTES, origin,
							psprintf("A service-account key file has a few kilobytes; this one has more than %d bytes.",
									 MAX_KEY_FILE_BYTES),
							missing_ok, len);
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

/*
 * A server's text for a message (cleaned by gcp_remote_text), cut short,
 * without a final period since the detail adds one.
 */
static char *
clip(const char *s)
{
	size_t		len = strlen(s);
	bool		cut = len > MAX_QUOTED_ERROR;
	char	   *out = gcp_remote_text(s, cut ? MAX_QUOTED_ERROR : len, MAX_QUOTED_ERROR);

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

/* reads an endpoint's answer into a TokenAnswer; pallocs only */
typedef void (*TokenReader) (json_t *root, const GcpHttpResult *res,
							 TokenAnswer *ans);

/*
 * Run a request for a token and read the answer with "reader"; never
 * raises for an HTTP failure, only for a cancel.
 */
static void
fetch_answer(const GcpHttpRequest *req, TokenReader reader, TokenAnswer *ans)
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
		reader(root, res, ans);
	}
	PG_FINALLY();
	{
		json_decref(root);
	}
	PG_END_TRY();
	gcp_http_free(call);
}

/* Run an OAuth token request (see fetch_answer). */
static void
fetch_token(const GcpHttpRequest *req, TokenAnswer *ans)
{
	fetch_answer(req, read_token_answer, ans);
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
		case TOKEN_NOT_METADATA:
			ereport(ERROR,
					(errcode(ERRCODE_PROTOCOL_VIOLATION),
					 errmsg("could not obtain an access token for %s", who),
					 errdetail("%s answered HTTP %ld without the header \"Metadata-Flavor: Google\", so it is not a metadata server.",
							   source, ans->status),
					 errhint("Check GCE_METADATA_HOST in the database server's environment, and that no proxy answers for the metadata server.")));
			break;
	}
}

static void hide_quoted_secret(TokenAnswer *ans, const char *secret);

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
	char	   *volatile jwt = NULL;
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
			gcp_append_percent_encoded(&body, key->client_id);
			appendStringInfoString(&body, "&client_secret=");
			gcp_append_percent_encoded(&body, key->client_secret);
			appendStringInfoString(&body, "&refresh_token=");
			gcp_append_percent_encoded(&body, key->refresh_token);
		}
		else
		{
			jwt = make_jwt(key);
			appendStringInfoString(&body, "grant_type=" JWT_BEARER_GRANT "&assertion=");
			appendStringInfoString(&body, jwt);
		}
		post_token_form(key->token_uri, &body, &ans);
		/* an endpoint's error text that echoes what it was sent is not shown */
		if (key->authorized_user)
		{
			hide_quoted_secret(&ans, key->client_secret);
			hide_quoted_secret(&ans, key->refresh_token);
		}
		else
			hide_quoted_secret(&ans, jwt);
	}
	PG_FINALLY();
	{
		explicit_bzero(body.data, body.maxlen);
		if (jwt)
		{
			explicit_bzero(jwt, strlen(jwt));
			pfree(jwt);
		}
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
 * The metadata server marks every answer with "Metadata-Flavor: Google",
 * and Google's libraries take nothing from a server that does not: on a
 * machine off GCP, metadata.google.internal may be resolved by a search
 * domain or answered by a proxy, which must not be asked for tokens, nor
 * have what it answers used as one.
 */
static void
read_metadata_answer(json_t *root, const GcpHttpResult *res, TokenAnswer *ans)
{
	if (!res->metadata_flavor_google)
	{
		ans->status = res->status;
		ans->outcome = TOKEN_NOT_METADATA;
		return;
	}
	read_token_answer(root, res, ans);
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
	fetch_answer(&req, read_metadata_answer, ans);
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

/* ---------------------------------------------------------------------
 * external accounts and service-account impersonation
 * ---------------------------------------------------------------------
 */

/*
 * A URL for a message: without user information, query or fragment, which
 * may carry secrets (an identity provider's request token, say).
 */
static char *
url_for_message(const char *url)
{
	const char *scheme_end = strstr(url, "://");
	const char *host = scheme_end ? scheme_end + 3 : url;
	const char *at = strchr(host, '@');
	size_t		len;

	if (at && at < host + strcspn(host, "/?#"))
		return url_for_message(psprintf("%.*s%s", (int) (host - url), url, at + 1));
	len = strcspn(url, "?#");
	return clip(pnstrdup(url, len));
}

/* true when "text" shows QUOTE_WINDOW bytes of "secret" (all of a shorter one) */
static bool
quotes_secret(const char *text, const char *secret)
{
	size_t		n = strlen(secret);
	size_t		w = Min(n, QUOTE_WINDOW);
	size_t		len = text ? strlen(text) : 0;

	if (w < 8)
		return false;			/* too short to tell from chance */
	/* the text is a clipped error, a few hundred bytes: no index needed */
	for (size_t i = 0; i + w <= len; i++)
		for (size_t j = 0; j + w <= n; j++)
			if (text[i] == secret[j] && memcmp(text + i, secret + j, w) == 0)
				return true;
	return false;
}

/*
 * An endpoint's error text goes into a message; should it quote the token
 * the request carried, say so instead.
 */
static void
hide_quoted_secret(TokenAnswer *ans, const char *secret)
{
	if (ans->reason && quotes_secret(ans->reason, secret))
		ans->reason = psprintf("HTTP %ld (its text quoted the credential sent, so it is not shown)",
							   ans->status);
	/* nor in the server log's copy of a body that is not Google's */
	if (ans->logged && quotes_secret(ans->logged, secret))
		ans->logged = NULL;
}

/* Raise an ERROR unless the URL is one that any role may use. */
static void
check_trusted_url(const char *field, const char *url, const char *who)
{
	if (url == NULL || gcp_endpoint_trusted(url))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to use the %s of %s", field, who),
			 errdetail("Roles other than superusers may only use credentials whose URLs are Google's https endpoints or listed in bqstream.allowed_endpoints; \"%s\" is neither.",
					   url_for_message(url)),
			 errhint("A superuser can add the endpoint to bqstream.allowed_endpoints.")));
}

/*
 * Every URL the credential would make the backend call, checked before
 * any of them is called: the credential's owner chose them, and a role
 * other than a superuser must not send tokens, or requests at all, where
 * it likes (see policy.c).  token_info_url is never called; it is checked
 * so that a credential accepted here is one Google's libraries would use
 * safely too.
 */
static void
check_credential_urls(const KeyInfo *key, const char *who)
{
	if (key->external)
	{
		check_trusted_url("credential_source.url", key->external->source_url, who);
		check_trusted_url("token_url", key->external->token_url, who);
		check_trusted_url("token_info_url", key->external->token_info_url, who);
	}
	if (key->source)
		check_trusted_url("source_credentials.token_uri", key->source->token_uri, who);
	else if (key->external == NULL)
		check_trusted_url("token_uri", key->token_uri, who);
	check_trusted_url("service_account_impersonation_url", key->impersonation_url, who);
}

/*
 * Read a subject token file into a palloc'd buffer that the caller wipes.
 * The file is read anew for each exchange: identity providers (Kubernetes,
 * GitHub, GitLab) replace it before the token in it expires.
 */
static char *
read_subject_file(const ExternalAccount *ext, size_t *len)
{
	return read_secret_file(ext->source_file, SUBJECT_TOKEN_FILE, MAX_SUBJECT_TOKEN_BYTES,
							psprintf("The credential_source of %s names it.", ext->who),
							psprintf("A subject token has at most %d bytes.", MAX_SUBJECT_TOKEN_BYTES),
							false, len);
}

/*
 * GET the credential source's URL (a metadata server, an identity
 * provider) into a palloc'd buffer that the caller wipes.  Its error
 * answers are not quoted: they may carry tokens of that provider.
 */
static char *
fetch_subject_url(const ExternalAccount *ext, size_t *len)
{
	GcpHttpRequest req;
	GcpHttpCall *call;
	const GcpHttpResult *res;
	char	   *buf;

	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.url = ext->source_url;
	req.more_headers = (const char *const *) ext->source_headers;
	req.retry = true;
	call = gcp_http_run(&req);
	res = gcp_http_result(call);

	if (res->oversize != GCP_HTTP_SIZE_OK)
	{
		char	   *reason = gcp_http_oversize_reason(res);

		gcp_http_free(call);
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("could not obtain a subject token for %s", ext->who),
				 errdetail("The credential_source URL \"%s\" answered %s.",
						   url_for_message(ext->source_url), reason)));
	}
	if (res->status == 0)
	{
		char	   *reason = clip(res->transport_error ? res->transport_error : "no response");

		gcp_http_free(call);
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("could not obtain a subject token for %s", ext->who),
				 errdetail("The credential_source URL \"%s\" could not be reached: %s.",
						   url_for_message(ext->source_url), reason)));
	}
	if (!gcp_http_ok(res) || res->body_len > MAX_SUBJECT_TOKEN_BYTES)
	{
		long		status = res->status;
		bool		large = gcp_http_ok(res);

		explicit_bzero((char *) res->body, res->body_len);
		gcp_http_free(call);
		ereport(ERROR,
				(errcode(large ? ERRCODE_PROTOCOL_VIOLATION :
						 status == 408 || status == 429 || status >= 500 ?
						 ERRCODE_CONNECTION_FAILURE : ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("could not obtain a subject token for %s", ext->who),
				 large ?
				 errdetail("The credential_source URL \"%s\" answered with more than %d bytes.",
						   url_for_message(ext->source_url), MAX_SUBJECT_TOKEN_BYTES) :
				 errdetail("The credential_source URL \"%s\" answered HTTP %ld.",
						   url_for_message(ext->source_url), status)));
	}
	buf = palloc(res->body_len + 1);
	memcpy(buf, res->body, res->body_len);
	buf[res->body_len] = '\0';
	*len = res->body_len;
	explicit_bzero((char *) res->body, res->body_len);
	gcp_http_free(call);
	return buf;
}

/*
 * The subject token in what the credential source gave, palloc'd: all of
 * it for format text (less surrounding blanks, such as the newline a file
 * ends in), one string field of a JSON object for format json.  "origin"
 * starts the detail sentence, e.g. "The file \"…\" holds".
 */
static char *
subject_from_content(const char *raw, size_t len, const ExternalAccount *ext,
					 const char *origin)
{
	char	   *token = NULL;

	if (ext->subject_field == NULL)
	{
		const char *start = raw;
		const char *end = raw + len;

		while (start < end && isspace((unsigned char) *start))
			start++;
		while (end > start && isspace((unsigned char) end[-1]))
			end--;
		if (memchr(start, '\0', end - start) == NULL)
			token = pnstrdup(start, end - start);
	}
	else
	{
		json_t	   *root = json_loadb(raw, len, 0, NULL);
		json_t	   *v = json_object_get(root, ext->subject_field);
		const char *name;
		json_t	   *value;

		if (json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v))
			token = pstrdup(json_string_value(v));
		/* jansson's copies of the token, and of whatever else came along */
		if (json_is_object(root))
			json_object_foreach(root, name, value)
				wipe_json_field(root, name);
		json_decref(root);
		if (token == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
					 errmsg("could not obtain a subject token for %s", ext->who),
					 errdetail("%s no JSON object with a string field \"%s\".",
							   origin, ext->subject_field),
					 errhint("Check credential_source.format.subject_token_field_name.")));
	}
	if (token == NULL || token[0] == '\0' || !is_plain_text(token, false))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("could not obtain a subject token for %s", ext->who),
				 errdetail("%s no subject token: it is empty or not printable text.", origin)));
	return token;
}

/* The subject token of an external account, palloc'd; the caller wipes it. */
static char *
read_subject_token(const ExternalAccount *ext)
{
	char	   *raw;
	size_t		len = 0;
	const char *origin;
	char	   *token = NULL;

	if (ext->source_file)
	{
		raw = read_subject_file(ext, &len);
		origin = psprintf("The file \"%s\" holds", ext->source_file);
	}
	else
	{
		raw = fetch_subject_url(ext, &len);
		origin = psprintf("The credential_source URL \"%s\" answered",
						  url_for_message(ext->source_url));
	}
	PG_TRY();
	{
		token = subject_from_content(raw, len, ext, origin);
	}
	PG_FINALLY();
	{
		explicit_bzero(raw, len);
	}
	PG_END_TRY();
	pfree(raw);
	return token;
}

/* "Authorization: Basic …" for an OAuth client; the caller wipes it */
static char *
basic_auth_header(const char *client_id, const char *client_secret)
{
	char	   *pair = psprintf("%s:%s", client_id, client_secret ? client_secret : "");
	int			len = strlen(pair);
	int			enclen = pg_b64_enc_len(len);
	char	   *header = palloc(strlen("Authorization: Basic ") + enclen + 1);
	int			n;

	strcpy(header, "Authorization: Basic ");
	n = pg_b64_encode(pair, len, header + strlen(header), enclen);
	explicit_bzero(pair, len);
	if (n < 0)
		elog(ERROR, "could not encode the OAuth client credentials");
	header[strlen("Authorization: Basic ") + n] = '\0';
	return header;
}

/*
 * The token exchange (RFC 8693) at Google's STS: the subject token for a
 * federated access token.  Workforce pools may bill a user project, given
 * in "options" unless an OAuth client authenticates the request.
 */
static void
exchange_subject_token(const KeyInfo *key, const char *subject, TokenAnswer *ans)
{
	const ExternalAccount *ext = key->external;
	StringInfoData body;
	char	   *volatile basic = NULL;
	GcpHttpRequest req;

	initStringInfo(&body);
	PG_TRY();
	{
		appendStringInfoString(&body, "grant_type=");
		gcp_append_percent_encoded(&body, TOKEN_EXCHANGE_GRANT);
		appendStringInfoString(&body, "&audience=");
		gcp_append_percent_encoded(&body, ext->audience);
		appendStringInfoString(&body, "&scope=");
		gcp_append_percent_encoded(&body, GCP_SCOPE_CLOUD_PLATFORM);
		appendStringInfoString(&body, "&requested_token_type=");
		gcp_append_percent_encoded(&body, ACCESS_TOKEN_TYPE);
		appendStringInfoString(&body, "&subject_token_type=");
		gcp_append_percent_encoded(&body, ext->subject_token_type);
		if (ext->user_project && key->client_id == NULL)
		{
			StringInfoData options;

			initStringInfo(&options);
			appendStringInfoString(&options, "{\"userProject\":");
			escape_json(&options, ext->user_project);
			appendStringInfoChar(&options, '}');
			appendStringInfoString(&body, "&options=");
			gcp_append_percent_encoded(&body, options.data);
		}
		appendStringInfoString(&body, "&subject_token=");
		gcp_append_percent_encoded(&body, subject);
		if (key->client_id)
			basic = basic_auth_header(key->client_id, key->client_secret);

		memset(&req, 0, sizeof(req));
		req.method = "POST";
		req.url = ext->token_url;
		req.content_type = "application/x-www-form-urlencoded";
		req.body = body.data;
		req.body_len = body.len;
		req.extra_header = basic;
		req.retry = true;
		fetch_token(&req, ans);
	}
	PG_FINALLY();
	{
		explicit_bzero(body.data, body.maxlen);
		wipe(basic);
	}
	PG_END_TRY();
	hide_quoted_secret(ans, subject);
}

/* days since 1970-01-01 of a proleptic Gregorian date */
static int64
days_from_civil(int y, int m, int d)
{
	int			era;
	int			yoe;
	int			doy;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	return (int64) era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

/* "2024-05-01T12:34:56Z" or with fractional seconds, as Unix seconds */
static bool
parse_utc_timestamp(const char *s, int64 *out)
{
	int			y,
				mo,
				d,
				h,
				mi,
				sec,
				used = 0;

	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &used) != 6 ||
		used != 19 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 ||
		y < 1970 || h < 0 || mi < 0 || sec < 0)
		return false;
	s += used;
	if (*s == '.')
		for (s++; isdigit((unsigned char) *s); s++)
			;
	if (strcmp(s, "Z") != 0)
		return false;
	*out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
	return true;
}

/*
 * Read generateAccessToken's answer, {"accessToken": …, "expireTime": …};
 * its errors have the google.rpc shape, which read_token_answer() reads.
 */
static void
read_impersonation_answer(json_t *root, const GcpHttpResult *res, TokenAnswer *ans)
{
	const char *token;
	const char *expire;
	int64		at;
	int64		expires_in = JWT_LIFETIME_S;

	if (!gcp_http_ok(res))
	{
		read_token_answer(root, res, ans);
		return;
	}
	ans->status = res->status;
	token = json_string_value(json_object_get(root, "accessToken"));
	expire = json_string_value(json_object_get(root, "expireTime"));
	if (token == NULL || token[0] == '\0')
	{
		ans->outcome = TOKEN_MALFORMED;
		return;
	}
	/* without a readable expiry, the default lifetime; a 401 ends it early */
	if (expire && parse_utc_timestamp(expire, &at))
		expires_in = at - (int64) time(NULL);
	ans->outcome = TOKEN_OK;
	ans->token = pstrdup(token);
	ans->expires_in = (int) Max(Min(expires_in, TOKEN_MAX_LIFETIME_S), 0);
}

/*
 * Impersonate the credential's service account with IAM Credentials'
 * generateAccessToken, authorized by the source's token.
 */
static void
impersonate(const KeyInfo *key, const char *source_token, NewToken *out)
{
	StringInfoData body;
	GcpHttpRequest req;
	TokenAnswer ans;

	initStringInfo(&body);
	appendStringInfoString(&body, "{\"scope\":[");
	escape_json(&body, GCP_SCOPE_CLOUD_PLATFORM);
	appendStringInfo(&body, "],\"lifetime\":\"%ds\"", key->lifetime_s);
	if (key->delegates && key->delegates[0])
	{
		appendStringInfoString(&body, ",\"delegates\":[");
		for (int i = 0; key->delegates[i]; i++)
		{
			if (i > 0)
				appendStringInfoChar(&body, ',');
			escape_json(&body, key->delegates[i]);
		}
		appendStringInfoChar(&body, ']');
	}
	appendStringInfoChar(&body, '}');

	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.url = key->impersonation_url;
	req.content_type = "application/json";
	req.body = body.data;
	req.body_len = body.len;
	req.bearer_token = source_token;
	req.retry = true;
	fetch_answer(&req, read_impersonation_answer, &ans);
	hide_quoted_secret(&ans, source_token);

	report_token_failure(&ans, key->who,
						 psprintf("The IAM Credentials endpoint \"%s\"",
								  url_for_message(key->impersonation_url)),
						 key->delegates && key->delegates[0] ?
						 "Each account in the delegation chain needs the role Service Account Token Creator (roles/iam.serviceAccountTokenCreator) on the next, the last one on the impersonated service account." :
						 "The source credential needs the role Service Account Token Creator (roles/iam.serviceAccountTokenCreator) on the impersonated service account.");
	out->token = ans.token;
	out->expires_in = ans.expires_in;
}

/*
 * Workload identity federation: the subject token from the credential
 * source, exchanged at STS, then (with service_account_impersonation_url)
 * used to impersonate a service account.  The subject token and the
 * intermediate token are wiped once used.
 */
static void
token_from_external(KeyInfo *key, NewToken *out)
{
	const ExternalAccount *ext = key->external;
	char	   *volatile subject = NULL;
	TokenAnswer ans;

	PG_TRY();
	{
		subject = read_subject_token(ext);
		exchange_subject_token(key, subject, &ans);
	}
	PG_FINALLY();
	{
		wipe(subject);
		wipe_key(key);
	}
	PG_END_TRY();

	report_token_failure(&ans, ext->who,
						 psprintf("The token exchange endpoint \"%s\"",
								  url_for_message(ext->token_url)),
						 "Check that the workload identity pool provider accepts the subject token: its issuer, audience and attribute conditions, and that subject_token_type fits it.");
	if (key->impersonation_url)
	{
		PG_TRY();
		{
			impersonate(key, ans.token, out);
		}
		PG_FINALLY();
		{
			wipe(ans.token);
		}
		PG_END_TRY();
	}
	else
	{
		out->token = ans.token;
		out->expires_in = ans.expires_in;
	}
	out->who = key->who;
	out->quota_project = key->quota_project;
}

/* impersonated_service_account: the source's token, then generateAccessToken */
static void
token_from_impersonated(KeyInfo *key, bool restricted, NewToken *out)
{
	NewToken	source;

	memset(&source, 0, sizeof(source));
	token_from_key(key->source, restricted, &source);
	PG_TRY();
	{
		impersonate(key, source.token, out);
	}
	PG_FINALLY();
	{
		wipe(source.token);
	}
	PG_END_TRY();
	out->who = key->who;
	out->quota_project = key->quota_project;
}

/*
 * A token for any parsed credential.  For a restricted role, every URL the
 * credential names is checked before the first request.  The credential's
 * secrets are wiped on the way out, also on error.
 */
static void
token_from_credential(KeyInfo *key, bool restricted, NewToken *out)
{
	if (key->external == NULL && key->source == NULL)
	{
		token_from_key(key, restricted, out);
		return;
	}
	PG_TRY();
	{
		if (restricted)
			check_credential_urls(key, key->who);
		if (key->external)
			token_from_external(key, out);
		else
			token_from_impersonated(key, restricted, out);
	}
	PG_FINALLY();
	{
		wipe_key(key);
	}
	PG_END_TRY();
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
		token_from_credential(&key, false, out);
		out->who = psprintf("application default credentials (%s)", out->who);
		return;
	}

	dir = gcloud_config_dir();
	if (dir)
		well_known = psprintf("%s/%s", dir, ADC_FILE_NAME);
	if (well_known && load_credential_file(well_known, NULL, true, true, &key))
	{
		token_from_credential(&key, false, out);
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
	else if (ans.outcome == TOKEN_NOT_METADATA)
		metadata_failure = psprintf("\"%s\" answered HTTP %ld without the header \"Metadata-Flavor: Google\", so no metadata server is there",
									metadata_host(), ans.status);
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
				 errmsg("the user mapping names no credential")));
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
			token_from_credential(&key, cred->restricted, &got);
			break;
		case GCP_AUTH_KEY_FILE:
			load_credential_file(cred->secret,
								 "The user mapping's option credentials_file names it.",
								 false, false, &key);
			token_from_credential(&key, cred->restricted, &got);
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
			return pstrdup("the credential of the user mapping");
		case GCP_AUTH_KEY_FILE:
			return psprintf("the credentials file \"%s\"",
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

void
gcp_auth_check_credential_json(const char *json, bool restricted,
							   bool may_read_files)
{
	KeyInfo		key;

	parse_credential(json, strlen(json), "option \"credentials_json\"", false, &key);
	wipe_key(&key);
	if (restricted)
		check_credential_urls(&key, "this credential");

	/* read by the server process, like a credentials_file */
	if (!may_read_files && key.external && key.external->source_file)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to use credential_source.file"),
				 errdetail("Only superusers and members of pg_read_server_files may name a file on the database server."),
				 errhint("Use a credential_source.url, or ask a superuser to create the user mapping.")));
}
