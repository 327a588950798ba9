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
 * BIGQUERY_EMULATOR_HOST environment variables of the server process (and
 * BIGQUERY_STORAGE_EMULATOR_HOST, following their pattern); an
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
#include "gcp/options.h"
#include "gcp/policy.h"

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
	/* gRPC: a call's path is /<package>.<Service>/<Method> */
	{"BigQuery Storage", "bigquery_storage_endpoint", "BIGQUERY_STORAGE_EMULATOR_HOST",
	"https://bigquerystorage.googleapis.com", ""},
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

/* The role's mapping, else the PUBLIC one, else NIL; never an ERROR. */
static List *
user_mapping_options(Oid serverid, Oid userid, bool *found)
{
	Oid			users[2] = {userid, InvalidOid};

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

/*
 * The credential of a mapping.  Roles other than superusers may only send
 * a key's token_uri request to a trusted endpoint (auth.c checks that).
 */
static GcpCredential
credential_from_mapping(List *options, Oid userid)
{
	GcpCredential cred = {GCP_AUTH_ADC, NULL, !superuser_arg(userid)};
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

/*
 * ADC and the metadata server lend the database host's own service account:
 * only to roles trusted with it, as postgres_fdw lends no password-less
 * connections to roles that are not superusers.
 */
static void
check_host_identity(const GcpCredential *cred, Oid userid, const char *servername)
{
	if ((cred->kind != GCP_AUTH_ADC && cred->kind != GCP_AUTH_METADATA) ||
		gcp_may_use_host_identity(userid))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to use the database host's GCP credentials"),
			 errdetail("The user mapping of role \"%s\" for server \"%s\" names %s, which only superusers and members of %s may use.",
					   GetUserNameFromId(userid, false), servername,
					   cred->kind == GCP_AUTH_ADC ? "no credential (application default credentials)" : "the metadata server",
					   GCP_HOST_IDENTITY_ROLE),
			 errhint("Give the user mapping a service-account key with option credentials_json, or have a superuser grant %s to the role.",
					 GCP_HOST_IDENTITY_ROLE)));
}

GcpServer *
gcp_server_lookup(const char *servername)
{
	ForeignServer *server = GetForeignServerByName(servername, false);

	return gcp_server_lookup_as(server->serverid, GetUserId(), GCP_LOOKUP_CHECK_USAGE);
}

GcpServer *
gcp_server_lookup_as(Oid serverid, Oid userid, int flags)
{
	ForeignServer *server = GetForeignServer(serverid);
	ForeignDataWrapper *fdw = GetForeignDataWrapper(server->fdwid);
	const char *servername = server->servername;
	GcpServer  *srv;
	List	   *um_options = NIL;
	bool		have_mapping = false;
	bool		need_mapping = false;
	bool		with_credentials = (flags & GCP_LOOKUP_NO_CREDENTIAL) == 0;

	if (strcmp(fdw->fdwname, "bqstream_fdw") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("server \"%s\" does not belong to foreign-data wrapper bqstream_fdw",
						servername)));

	if (flags & GCP_LOOKUP_CHECK_USAGE)
	{
		AclResult	aclresult = pg_foreign_server_aclcheck(serverid, userid, ACL_USAGE);

		if (aclresult != ACLCHECK_OK)
			aclcheck_error(aclresult, OBJECT_FOREIGN_SERVER, servername);
	}

	srv = palloc0(sizeof(GcpServer));
	srv->serverid = serverid;
	srv->userid = userid;
	srv->servername = pstrdup(servername);
	/* NULL: BigQuery finds the location from the tables a query names */
	srv->location = gcp_option_value(server->options, "location");
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
	/* the environment's value, or one a laxer release let in, goes into paths */
	if (!gcp_valid_project_id(srv->project_id))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("invalid GCP project ID \"%s\" for server \"%s\"",
						srv->project_id, servername),
				 errdetail("%s", GCP_PROJECT_ID_EXPECTED),
				 gcp_option_value(server->options, "project_id")
				 ? errhint("Set a valid one with ALTER SERVER %s OPTIONS (SET project_id 'my-project').",
						   quote_identifier(servername))
				 : errhint("The environment variable GOOGLE_CLOUD_PROJECT of the database server gives it.")));

	if (with_credentials)
		um_options = user_mapping_options(serverid, userid, &have_mapping);

	for (int s = 0; s < GCP_NUM_SERVICES; s++)
	{
		char	   *endpoint = gcp_option_value(server->options, services[s].option);
		const char *emulator = getenv(services[s].emulator_env);

		if (endpoint != NULL)
		{
			/* tolerate a trailing slash in the option */
			size_t		len = strlen(endpoint);

			/*
			 * The server's owner chose the endpoint: unless a superuser did,
			 * it must still be one that any role may use.
			 */
			gcp_check_endpoint(services[s].option, endpoint, server->owner);
			while (len > 0 && endpoint[len - 1] == '/')
				len--;
			srv->api_root[s] = psprintf("%.*s%s", (int) len, endpoint,
										services[s].version_path);
			srv->cred[s] = credential_from_mapping(um_options, userid);
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
			srv->cred[s] = credential_from_mapping(um_options, userid);
			need_mapping = true;
		}
	}

	if (!with_credentials)
	{
		for (int s = 0; s < GCP_NUM_SERVICES; s++)
			srv->cred[s].kind = GCP_AUTH_NONE;
		return srv;
	}

	if (need_mapping && !have_mapping)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("user mapping not found for user \"%s\" and server \"%s\"",
						MappingUserName(userid), servername),
				 errhint("Create one, e.g. CREATE USER MAPPING FOR %s SERVER %s OPTIONS (%s).",
						 userid == GetUserId() ? "CURRENT_USER" : quote_identifier(MappingUserName(userid)),
						 quote_identifier(servername),
						 gcp_may_use_host_identity(userid) ? "auth 'adc'" : "credentials_json '...'")));

	for (int s = 0; s < GCP_NUM_SERVICES; s++)
		check_host_identity(&srv->cred[s], userid, servername);

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
	char	   *quota_project;

	memset(req, 0, sizeof(GcpHttpRequest));
	req->method = method;
	req->url = url;
	req->body = body;
	req->body_len = body_len;
	req->bearer_token = gcp_auth_token(&srv->cred[svc], &quota_project);
	if (quota_project)
		req->extra_header = psprintf("x-goog-user-project: %s", quota_project);
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
				 errmsg("invalid answer from %s", service),
				 errdetail("%s answered with a body that is not a JSON object: %s.",
						   service, why),
				 ACTION_CONTEXT(action)));
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
