/*-------------------------------------------------------------------------
 *
 * policy.c
 *	  Who may use what: the database host's own GCP identity, endpoints
 *	  other than Google's, and the redaction of key material from logs.
 *
 * A role that is not a superuser must not borrow the host's identity
 * (Application Default Credentials, the metadata server) unless it was
 * granted bqstream_host_identity, and must not make the backend send
 * requests, tokens or signed JWTs anywhere but to Google's https APIs or to
 * the endpoints a superuser listed in bqstream.allowed_endpoints (an
 * emulator the DBA runs, say).  Otherwise any role with USAGE on the
 * wrapper could collect the host's token, or use the backend to probe and
 * read internal services.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/elog.h"
#include "utils/guc.h"
#include "utils/varlena.h"

#include "gcp/policy.h"

char	   *gcp_allowed_endpoints = NULL;

static emit_log_hook_type prev_emit_log_hook = NULL;

bool
gcp_is_endpoint_url(const char *v)
{
	const char *rest;

	if (pg_strncasecmp(v, "https://", 8) == 0)
		rest = v + 8;
	else if (pg_strncasecmp(v, "http://", 7) == 0)
		rest = v + 7;
	else
		return false;
	if (*rest == '\0' || *rest == '/' || *rest == ':')
		return false;
	for (const char *p = v; *p; p++)
		if ((unsigned char) *p <= ' ' || *p == 0x7f || *p == '?' || *p == '#' ||
			*p == '@' || *p == '\\')
			return false;
	return true;
}

static bool
check_allowed_endpoints(char **newval, void **extra, GucSource source)
{
	char	   *copy = pstrdup(*newval);
	List	   *items;
	ListCell   *lc;

	if (!SplitGUCList(copy, ',', &items))
	{
		GUC_check_errdetail("List syntax is invalid.");
		return false;
	}
	foreach(lc, items)
	{
		if (!gcp_is_endpoint_url(lfirst(lc)))
		{
			GUC_check_errdetail("\"%s\" is not an http:// or https:// URL.",
								(char *) lfirst(lc));
			return false;
		}
	}
	return true;
}

void
gcp_policy_define_gucs(void)
{
	DefineCustomStringVariable("bqstream.allowed_endpoints",
							   "Endpoints, besides Google's, that roles other than superusers may use.",
							   "A comma-separated list of URL prefixes, such as http://127.0.0.1:8085 "
							   "for an emulator; it applies to servers' pubsub_endpoint, bigquery_endpoint and "
							   "bigquery_storage_endpoint and to the token_uri of service-account keys.",
							   &gcp_allowed_endpoints,
							   "",
							   PGC_SUSET,
							   GUC_LIST_INPUT,
							   check_allowed_endpoints, NULL, NULL);
}

bool
gcp_may_use_host_identity(Oid roleid)
{
	Oid			host_role;

	if (superuser_arg(roleid))
		return true;
	host_role = get_role_oid(GCP_HOST_IDENTITY_ROLE, true);
	return OidIsValid(host_role) && has_privs_of_role(roleid, host_role);
}

/*
 * The host of an https URL, when it is one of Google's: a name under
 * googleapis.com (Pub/Sub, BigQuery, the OAuth2 token endpoint, regional
 * and private endpoints) or accounts.google.com (token_uri of old keys),
 * on the default port.
 */
static bool
is_google_url(const char *url)
{
	const char *host;
	size_t		len;
	static const char suffix[] = ".googleapis.com";

	if (pg_strncasecmp(url, "https://", 8) != 0)
		return false;
	host = url + 8;
	len = strcspn(host, "/:?#@\\");
	if (host[len] == ':' && strncmp(host + len, ":443", 4) == 0)
	{
		if (host[len + 4] != '\0' && host[len + 4] != '/')
			return false;
	}
	else if (host[len] != '\0' && host[len] != '/')
		return false;

	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char) host[i]) && host[i] != '-' && host[i] != '.')
			return false;
	if (len == strlen("accounts.google.com") &&
		pg_strncasecmp(host, "accounts.google.com", len) == 0)
		return true;
	return len > sizeof(suffix) - 1 && host[0] != '.' &&
		pg_strncasecmp(host + len - (sizeof(suffix) - 1), suffix, sizeof(suffix) - 1) == 0;
}

/* under a prefix of bqstream.allowed_endpoints, on a path boundary */
static bool
is_allowed_url(const char *url)
{
	char	   *copy;
	List	   *items;
	ListCell   *lc;
	bool		found = false;

	if (gcp_allowed_endpoints == NULL || gcp_allowed_endpoints[0] == '\0')
		return false;
	copy = pstrdup(gcp_allowed_endpoints);
	if (!SplitGUCList(copy, ',', &items))
		return false;
	foreach(lc, items)
	{
		const char *prefix = lfirst(lc);
		size_t		len = strlen(prefix);

		while (len > 0 && prefix[len - 1] == '/')
			len--;
		if (len > 0 && pg_strncasecmp(url, prefix, len) == 0 &&
			(url[len] == '\0' || url[len] == '/'))
		{
			found = true;
			break;
		}
	}
	list_free(items);
	pfree(copy);
	return found;
}

bool
gcp_endpoint_trusted(const char *url)
{
	return is_google_url(url) || is_allowed_url(url);
}

void
gcp_check_endpoint(const char *what, const char *url, Oid roleid)
{
	if (superuser_arg(roleid) || gcp_endpoint_trusted(url))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to use \"%s\" as %s", url, what),
			 errdetail("Role \"%s\" is not a superuser, so bqstream sends its requests only to Google's https APIs and to the endpoints listed in bqstream.allowed_endpoints.",
					   GetUserNameFromId(roleid, false)),
			 errhint("A superuser can add the endpoint to bqstream.allowed_endpoints.")));
}

/*
 * Redaction.  Statement texts (log_statement, a failing statement, the
 * CONTEXT line of a nested one) can carry a service-account key given
 * inline; PEM blocks and the secret fields of credential files are cut out
 * of every message before it is written.
 */
static const char *const secret_fields[] = {
	"\"private_key\"", "\"client_secret\"", "\"refresh_token\"",
	/* a credential source's headers may carry its own bearer token */
	"\"Authorization\"", "\"authorization\"",
};

#define REDACTED "[redacted]"

/* replace text[start, end) with REDACTED; the string only shrinks or stays */
static char *
cut(char *text, char *start, char *end)
{
	size_t		tail = strlen(end);
	size_t		mark = Min((size_t) (end - start), strlen(REDACTED));

	memcpy(start, REDACTED, mark);
	memmove(start + mark, end, tail + 1);
	return start + mark;
}

bool
gcp_redact_secrets(char *text)
{
	bool		found = false;
	char	   *p;

	if (text == NULL)
		return false;

	p = text;
	while ((p = strstr(p, "-----BEGIN ")) != NULL)
	{
		char	   *end = strstr(p + 11, "-----END ");

		if (end != NULL)
		{
			char	   *close = strstr(end + 9, "-----");

			end = close ? close + 5 : end + strlen(end);
		}
		else
			end = p + strlen(p);
		p = cut(text, p, end);
		found = true;
	}

	for (int i = 0; i < lengthof(secret_fields); i++)
	{
		p = text;
		while ((p = strstr(p, secret_fields[i])) != NULL)
		{
			char	   *v = p + strlen(secret_fields[i]);
			char	   *end;

			while (*v == ' ' || *v == '\t' || *v == '\n' || *v == '\r')
				v++;
			if (*v != ':')
			{
				p = v;
				continue;
			}
			v++;
			while (*v == ' ' || *v == '\t' || *v == '\n' || *v == '\r')
				v++;
			if (*v != '"')
			{
				p = v;
				continue;
			}
			v++;
			for (end = v; *end && *end != '"'; end++)
				if (*end == '\\' && end[1] != '\0')
					end++;
			if (end > v && strncmp(v, REDACTED, end - v) != 0)
			{
				p = cut(text, v, end);
				found = true;
			}
			else
				p = end;
		}
	}
	return found;
}

static void
redact_log_message(ErrorData *edata)
{
	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
	if (!edata->output_to_server)
		return;

	gcp_redact_secrets(edata->message);
	gcp_redact_secrets(edata->detail);
	gcp_redact_secrets(edata->detail_log);
	gcp_redact_secrets(edata->hint);
	gcp_redact_secrets(edata->context);
	gcp_redact_secrets(edata->internalquery);

	/* the STATEMENT line comes from a string that is not ours to change */
	if (debug_query_string != NULL &&
		(strstr(debug_query_string, "-----BEGIN ") != NULL ||
		 strstr(debug_query_string, "\"private_key\"") != NULL))
		edata->hide_stmt = true;
}

void
gcp_install_log_redaction(void)
{
	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = redact_log_message;
}
