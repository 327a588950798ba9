/*-------------------------------------------------------------------------
 *
 * client.c
 *	  Resolve a GCP project from its foreign server and user mapping, and
 *	  make authorized JSON calls to its Pub/Sub and BigQuery APIs.
 *
 * This is the one place that reads the SQL/MED configuration, so a publish
 * call, a pipeline and a foreign table naming the same server reach the same
 * endpoints with the same credential.  Endpoints default to Google's, or to
 * an emulator named by the standard PUBSUB_EMULATOR_HOST and
 * BIGQUERY_EMULATOR_HOST environment variables of the server process; an
 * emulator found that way is called without credentials, as Google's client
 * libraries do.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/reloptions.h"
#include "catalog/pg_user_mapping.h"
#include "commands/defrem.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "gcp/client.h"

static const struct
{
	const char *name;			/* for messages */
	const char *option;			/* server option naming the endpoint */
	const char *emulator_env;	/* host:port of an emulator */
	const char *google_root;	/* default API root */
	const char *version_path;	/* appended to an endpoint option */
}			services[GCP_NUM_SERVICES] = {
	{"Pub/Sub", "pubsub_endpoint", "PUBSUB_EMULATOR_HOST",
	"https://pubsub.googleapis.com", "/v1"},
	{"BigQuery", "bigquery_endpoint", "BIGQUERY_EMULATOR_HOST",
	"https://bigquery.googleapis.com", "/bigquery/v2"},
};

const char *
gcp_service_name(GcpService svc)
{
	return services[svc].name;
}

char *
gcp_option_value(List *options, const char *name)
{
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *def = (DefElem *) lfirst(lc);

		if (strcmp(def->defname, name) == 0)
			return defGetString(def);
	}
	return NULL;
}

/* The user's mapping, else the PUBLIC one, else NIL; never an ERROR. */
static List *
user_mapping_options(Oid serverid, bool *found)
{
	Oid			users[2] = {GetUserId(), InvalidOid};

	for (int i = 0; i < 2; i++)
	{
		HeapTuple	tp = SearchSysCache2(USERMAPPINGUSERSERVER,
										 ObjectIdGetDatum(users[i]),
										 ObjectIdGetDatum(serverid));

		if (HeapTupleIsValid(tp))
		{
			bool		isnull;
			Datum		datum = SysCacheGetAttr(USERMAPPINGUSERSERVER, tp,
												Anum_pg_user_mapping_umoptions,
												&isnull);
			List	   *options = isnull ? NIL : untransformRelOptions(datum);

			ReleaseSysCache(tp);
			*found = true;
			return options;
		}
	}
	*found = false;
	return NIL;
}

static GcpCredential
credential_from_mapping(List *options)
{
	GcpCredential cred = {GCP_AUTH_ADC, NULL};
	char	   *v;

	if ((v = gcp_option_value(options, "credentials_json")) != NULL)
	{
		cred.kind = GCP_AUTH_KEY_JSON;
		cred.secret = v;
	}
	else if ((v = gcp_option_value(options, "credentials_file")) != NULL)
	{
		cred.kind = GCP_AUTH_KEY_FILE;
		cred.secret = v;
	}
	else if ((v = gcp_option_value(options, "auth")) != NULL)
	{
		if (strcmp(v, "none") == 0)
			cred.kind = GCP_AUTH_NONE;
		else if (strcmp(v, "metadata") == 0)
			cred.kind = GCP_AUTH_METADATA;
	}
	return cred;
}

GcpServer *
gcp_server_lookup(const char *servername)
{
	ForeignServer *server = GetForeignServerByName(servername, false);
	ForeignDataWrapper *fdw = GetForeignDataWrapper(server->fdwid);
	GcpServer  *srv;
	List	   *um_options;
	bool		have_mapping;
	bool		need_mapping = false;
	AclResult	aclresult;

	if (strcmp(fdw->fdwname, "bqstream_fdw") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("server \"%s\" does not belong to foreign-data wrapper bqstream_fdw",
						servername)));

	aclresult = pg_foreign_server_aclcheck(server->serverid, GetUserId(), ACL_USAGE);
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, OBJECT_FOREIGN_SERVER, server->servername);

	srv = palloc0(sizeof(GcpServer));
	srv->serverid = server->serverid;
	srv->servername = pstrdup(server->servername);
	srv->location = gcp_option_value(server->options, "location");
	if (srv->location == NULL)
		srv->location = "US";
	srv->dataset = gcp_option_value(server->options, "dataset");
	if (srv->dataset == NULL)
		srv->dataset = "bqstream";

	srv->project_id = gcp_option_value(server->options, "project_id");
	if (srv->project_id == NULL)
		srv->project_id = getenv("GOOGLE_CLOUD_PROJECT");
	if (srv->project_id == NULL || srv->project_id[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("server \"%s\" names no GCP project", servername),
				 errhint("Set it with ALTER SERVER %s OPTIONS (ADD project_id 'my-project').",
						 quote_identifier(servername))));

	um_options = user_mapping_options(server->serverid, &have_mapping);

	for (int s = 0; s < GCP_NUM_SERVICES; s++)
	{
		char	   *endpoint = gcp_option_value(server->options, services[s].option);
		const char *emulator = getenv(services[s].emulator_env);

		if (endpoint != NULL)
		{
			/* tolerate a trailing slash in the option */
			size_t		len = strlen(endpoint);

			while (len > 0 && endpoint[len - 1] == '/')
				len--;
			srv->api_root[s] = psprintf("%.*s%s", (int) len, endpoint,
										services[s].version_path);
			srv->cred[s] = credential_from_mapping(um_options);
			need_mapping = true;
		}
		else if (emulator != NULL && emulator[0] != '\0')
		{
			srv->api_root[s] = psprintf("http://%s%s", emulator,
										services[s].version_path);
			srv->cred[s].kind = GCP_AUTH_NONE;
		}
		else
		{
			srv->api_root[s] = psprintf("%s%s", services[s].google_root,
										services[s].version_path);
			srv->cred[s] = credential_from_mapping(um_options);
			need_mapping = true;
		}
	}

	if (need_mapping && !have_mapping)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("user mapping not found for user \"%s\" and server \"%s\"",
						MappingUserName(GetUserId()), servername),
				 errhint("Create one, e.g. CREATE USER MAPPING FOR CURRENT_USER SERVER %s OPTIONS (auth 'adc').",
						 quote_identifier(servername))));

	return srv;
}

char *
gcp_url(const GcpServer *srv, GcpService svc, const char *fmt,...)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "%s/", srv->api_root[svc]);
	for (;;)
	{
		va_list		args;
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&buf, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&buf, needed);
	}
	return buf.data;
}

void
gcp_request_init(GcpHttpRequest *req, const GcpServer *srv, GcpService svc,
				 const char *method, const char *url,
				 const char *body, size_t body_len)
{
	memset(req, 0, sizeof(GcpHttpRequest));
	req->method = method;
	req->url = url;
	req->body = body;
	req->body_len = body_len;
	req->bearer_token = gcp_auth_token(&srv->cred[svc]);
	req->retry = true;
}

static void
json_release(void *arg)
{
	json_decref((json_t *) arg);
}

json_t *
gcp_json_track(json_t *value)
{
	MemoryContextCallback *cb;

	if (value == NULL)
		return NULL;
	cb = palloc(sizeof(MemoryContextCallback));
	cb->func = json_release;
	cb->arg = value;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, cb);
	return value;
}

char *
gcp_json_dump(json_t *value, size_t *len)
{
	size_t		n = json_dumpb(value, NULL, 0, JSON_COMPACT);
	char	   *buf;

	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not serialize a JSON request body")));
	buf = palloc(n + 1);
	json_dumpb(value, buf, n, JSON_COMPACT);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

json_t *
gcp_call(const GcpServer *srv, GcpService svc, const char *method,
		 const char *url, json_t *body, const char *action,
		 const long *tolerated, long *status)
{
	GcpHttpRequest req;
	GcpHttpCall *call;
	const GcpHttpResult *res;
	size_t		body_len = 0;
	char	   *body_text = body ? gcp_json_dump(body, &body_len) : NULL;
	bool		reauthorized = false;

	for (;;)
	{
		gcp_request_init(&req, srv, svc, method, url, body_text, body_len);
		call = gcp_http_run(&req);
		res = gcp_http_result(call);

		/* a token revoked or expired early: fetch a new one, once */
		if (res->status == 401 && req.bearer_token && !reauthorized)
		{
			gcp_http_free(call);
			gcp_auth_forget(&srv->cred[svc]);
			reauthorized = true;
			continue;
		}
		break;
	}

	return gcp_call_result(svc, call, action, tolerated, status);
}

json_t *
gcp_call_result(GcpService svc, GcpHttpCall *call, const char *action,
				const long *tolerated, long *status)
{
	const GcpHttpResult *res = gcp_http_result(call);
	const char *service = gcp_service_name(svc);
	json_t	   *result;
	char	   *why = NULL;

	if (status)
		*status = res->status;

	if (!gcp_http_ok(res))
	{
		bool		ok = false;

		for (const long *t = tolerated; t && *t; t++)
			if (*t == res->status)
				ok = true;
		if (!ok)
			gcp_http_report(res, ERROR, service, action);
		result = gcp_http_parse_json(res->body, res->body_len, service, action, NULL);
		gcp_http_free(call);
		return gcp_json_track(result);
	}

	/*
	 * BigQuery answers some deletes with 204 and no body.  Others are
	 * measured before they are parsed, and never quoted: jansson's messages
	 * would quote the text near an error.
	 */
	if (res->body_len == 0)
		result = json_object();
	else
		result = gcp_http_parse_json(res->body, res->body_len, service, action, &why);
	if (result == NULL)
	{
		gcp_http_free(call);
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("could not %s", action),
				 errdetail("%s answered with a body that is not a JSON object: %s.",
						   service, why)));
	}
	gcp_http_free(call);
	return gcp_json_track(result);
}

bool
gcp_call_unless(const GcpServer *srv, GcpService svc, const char *method,
				const char *url, json_t *body, const char *action,
				long skip_status, const char *skip_notice)
{
	long		tolerated[2] = {skip_status, 0};
	long		status;

	gcp_call(srv, svc, method, url, body, action, tolerated, &status);
	if (status == skip_status)
	{
		ereport(NOTICE, (errmsg_internal("%s", skip_notice)));
		return false;
	}
	return true;
}
