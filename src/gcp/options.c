/*-------------------------------------------------------------------------
 *
 * options.c
 *	  Validator of the bqstream_fdw options: GCP endpoints, project and
 *	  query defaults on a foreign server, the credential on a user mapping,
 *	  the BigQuery source and query overrides on a foreign table.
 *
 * Configuration lives in SQL/MED objects, as in postgres_fdw, so that a
 * publish call, a pipeline and a foreign table naming the same server reach
 * the same endpoints with the same credential.  Values are checked here, at
 * CREATE/ALTER time, so that a typo fails where it is made and not later in
 * a background worker.  Credential values are never echoed in messages:
 * they may hold a private key; for the same reason a failing statement that
 * carries an inline key is kept out of the server log.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/reloptions.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_foreign_server.h"
#include "catalog/pg_foreign_table.h"
#include "catalog/pg_user_mapping.h"
#include "catalog/pg_authid.h"
#include "commands/defrem.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/guc.h"

#include "fdw/query_check.h"
#include "gcp/auth.h"
#include "gcp/gcp_json.h"
#include "gcp/options.h"
#include "gcp/policy.h"

PG_FUNCTION_INFO_V1(bqstream_fdw_validator);

typedef bool (*OptionCheck) (const char *value);

typedef struct BqOption
{
	const char *name;
	Oid			context;		/* catalog the option belongs to */
	OptionCheck check;			/* NULL: any non-empty value */
	const char *expected;		/* what a valid value looks like, for errdetail */
	bool		secret;			/* never echo the value */
} BqOption;

/*
 * A GCP project ID, checked whole: 6 to 30 lower-case letters, digits or
 * hyphens, starting with a letter and not ending with a hyphen, optionally
 * scoped by a domain ("example.com:my-project"), a lower-case host name.
 * The ID goes into request paths and into the text of the materialized
 * view's query, so nothing else may pass.
 */
bool
gcp_valid_project_id(const char *v)
{
	const char *colon;
	const char *id;
	size_t		len;

	if (v == NULL)
		return false;
	colon = strchr(v, ':');
	id = colon ? colon + 1 : v;
	if (colon)
	{
		/* labels of 1 to 63 letters, digits or inner hyphens; 253 in all */
		size_t		label = 0;

		if (colon - v > 253)
			return false;
		for (const char *p = v; p <= colon; p++)
		{
			if (p == colon || *p == '.')
			{
				if (label == 0 || p[-1] == '-')
					return false;
				label = 0;
			}
			else if ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
					 (*p == '-' && label > 0))
			{
				if (++label > 63)
					return false;
			}
			else
				return false;
		}
	}
	len = strlen(id);
	if (len < 6 || len > 30 || !(id[0] >= 'a' && id[0] <= 'z') || id[len - 1] == '-')
		return false;
	for (const char *p = id; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
			return false;
	return true;
}

static bool
is_location(const char *v)
{
	if (*v == '\0' || strlen(v) > 64)
		return false;
	for (const char *p = v; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			  (*p >= '0' && *p <= '9') || *p == '-'))
			return false;
	return true;
}

/* BigQuery dataset IDs: letters, digits and underscores, at most 1024 */
/*
 * A BigQuery dataset, table or column ID as bqstream accepts it: 1 to 1024
 * letters, digits or underscores.  BigQuery allows more in table names,
 * but these need no quoting in a path or in a materialized view's query.
 */
bool
gcp_valid_bq_id(const char *v)
{
	size_t		len = strlen(v);

	if (len < 1 || len > 1024)
		return false;
	for (const char *p = v; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			  (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
	return true;
}

static bool
is_count_up_to(const char *v, long max)
{
	char	   *end;
	long		n = strtol(v, &end, 10);

	return end != v && *end == '\0' && n >= 1 && n <= max;
}

static bool
is_fetch_size(const char *v)
{
	return is_count_up_to(v, 100000);
}

static bool
is_batch_size(const char *v)
{
	return is_count_up_to(v, 10000);
}

/* maximum_bytes_billed: a positive int64, as BigQuery takes it */
static bool
is_byte_count(const char *v)
{
	char	   *end;
	long long	n;

	errno = 0;
	n = strtoll(v, &end, 10);
	return end != v && *end == '\0' && errno == 0 && n >= 1 && v[0] != '+';
}

static bool
is_boolean(const char *v)
{
	bool		b;

	return parse_bool(v, &b);
}

/* a duration such as 30s or 5min, in milliseconds; at most 6 hours */
static bool
is_timeout(const char *v)
{
	int			ms;

	return parse_int(v, &ms, GUC_UNIT_MS, NULL) && ms >= 1 && ms <= 6 * 3600 * 1000;
}

/* float_aggregates: whether float aggregates are computed in BigQuery */
static bool
is_float_aggregates(const char *v)
{
	return strcmp(v, "remote") == 0 || strcmp(v, "local") == 0;
}

static bool
is_server_file_path(const char *v)
{
	return is_absolute_path(v);
}

static bool
is_auth_mode(const char *v)
{
	return strcmp(v, "adc") == 0 || strcmp(v, "metadata") == 0 || strcmp(v, "none") == 0;
}

#define DATASET_EXPECTED "A dataset ID has only letters, digits and underscores."
#define LOCATION_EXPECTED "A location is a name such as US, EU or europe-west1."
#define FETCH_SIZE_EXPECTED "The fetch size is a number of rows between 1 and 100000."
#define BATCH_SIZE_EXPECTED "The batch size is a number of rows between 1 and 10000."
#define BYTES_EXPECTED "The limit is a positive number of bytes, such as 10000000000 for 10 GB."
#define BOOLEAN_EXPECTED "The value is a boolean such as true or false."
#define TIMEOUT_EXPECTED "The timeout is a duration between 1 ms and 6 h, such as 30s or 5min."
#define FLOAT_AGGREGATES_EXPECTED "Valid values are \"remote\" and \"local\"."

/*
 * Query options may be set on the server and overridden per foreign table;
 * bq_table_ref() resolves them.
 */
static const BqOption bq_options[] = {
	{"project_id", ForeignServerRelationId, gcp_valid_project_id,
	GCP_PROJECT_ID_EXPECTED, false},
	{"location", ForeignServerRelationId, is_location, LOCATION_EXPECTED, false},
	{"pubsub_endpoint", ForeignServerRelationId, gcp_is_endpoint_url,
	"An endpoint is an http:// or https:// URL such as https://pubsub.googleapis.com.", false},
	{"bigquery_endpoint", ForeignServerRelationId, gcp_is_endpoint_url,
	"An endpoint is an http:// or https:// URL such as https://bigquery.googleapis.com.", false},
	{"bigquery_storage_endpoint", ForeignServerRelationId, gcp_is_endpoint_url,
	"An endpoint is an http:// or https:// URL such as https://bigquerystorage.googleapis.com.", false},
	{"dataset", ForeignServerRelationId, gcp_valid_bq_id, DATASET_EXPECTED, false},
	{"fetch_size", ForeignServerRelationId, is_fetch_size, FETCH_SIZE_EXPECTED, false},
	{"batch_size", ForeignServerRelationId, is_batch_size, BATCH_SIZE_EXPECTED, false},
	{"maximum_bytes_billed", ForeignServerRelationId, is_byte_count, BYTES_EXPECTED, false},
	{"use_query_cache", ForeignServerRelationId, is_boolean, BOOLEAN_EXPECTED, false},
	{"timeout", ForeignServerRelationId, is_timeout, TIMEOUT_EXPECTED, false},
	{"explain_dry_run", ForeignServerRelationId, is_boolean, BOOLEAN_EXPECTED, false},
	{"float_aggregates", ForeignServerRelationId, is_float_aggregates,
	FLOAT_AGGREGATES_EXPECTED, false},
	{"credentials_file", UserMappingRelationId, is_server_file_path,
	"The credentials file must be given by an absolute path.", false},
	{"credentials_json", UserMappingRelationId, NULL, NULL, true},	/* checked whole below */
	{"auth", UserMappingRelationId, is_auth_mode,
	"Valid values are \"adc\", \"metadata\" and \"none\".", false},
	{"dataset", ForeignTableRelationId, gcp_valid_bq_id, DATASET_EXPECTED, false},
	{"table", ForeignTableRelationId, gcp_valid_bq_id,
	"A table ID has only letters, digits and underscores.", false},
	{"query", ForeignTableRelationId, NULL, NULL, false},
	{"location", ForeignTableRelationId, is_location, LOCATION_EXPECTED, false},
	{"fetch_size", ForeignTableRelationId, is_fetch_size, FETCH_SIZE_EXPECTED, false},
	{"batch_size", ForeignTableRelationId, is_batch_size, BATCH_SIZE_EXPECTED, false},
	{"maximum_bytes_billed", ForeignTableRelationId, is_byte_count, BYTES_EXPECTED, false},
	{"use_query_cache", ForeignTableRelationId, is_boolean, BOOLEAN_EXPECTED, false},
	{"timeout", ForeignTableRelationId, is_timeout, TIMEOUT_EXPECTED, false},
	{"explain_dry_run", ForeignTableRelationId, is_boolean, BOOLEAN_EXPECTED, false},
	{"float_aggregates", ForeignTableRelationId, is_float_aggregates,
	FLOAT_AGGREGATES_EXPECTED, false},
	{"column_name", AttributeRelationId, gcp_valid_bq_id,
	"A BigQuery column name has only letters, digits and underscores.", false},
	/* the columns that identify a row for UPDATE and DELETE (dml.c) */
	{"key", AttributeRelationId, is_boolean, BOOLEAN_EXPECTED, false},
};

/*
 * Check an inline credential without ever quoting it: name the missing or
 * wrong field only.  External accounts and impersonated service accounts
 * are checked by auth.c's own parser, with the rules for their URLs and
 * files.
 */
/* as a credentials file (auth.c) */
#define MAX_CREDENTIALS_JSON_BYTES	65536

static void
check_credentials_json(const char *value, bool restricted, bool may_read_files)
{
	json_error_t jerr;
	json_t	   *key;
	const char *type;
	const char *problem = NULL;

	/* a key has a few kilobytes; a parsed tree takes tens of times the text */
	if (strlen(value) > MAX_CREDENTIALS_JSON_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for option \"credentials_json\""),
				 errdetail("A credential has at most %d bytes.", MAX_CREDENTIALS_JSON_BYTES)));
	key = json_loads(value, JSON_REJECT_DUPLICATES, &jerr);
	type = json_string_value(json_object_get(key, "type"));

	if (key != NULL && json_is_object(key) && type != NULL &&
		(strcmp(type, "external_account") == 0 ||
		 strcmp(type, "impersonated_service_account") == 0))
	{
		json_decref(key);
		gcp_auth_check_credential_json(value, restricted, may_read_files);
		return;
	}

	if (key == NULL || !json_is_object(key))
		problem = "The value is not a JSON object.";
	else if (type == NULL || strcmp(type, "service_account") != 0)
		problem = "Field \"type\" must be \"service_account\", \"external_account\" or \"impersonated_service_account\".";
	else if (!json_is_string(json_object_get(key, "client_email")))
		problem = "Field \"client_email\" is missing.";
	else if (!json_is_string(json_object_get(key, "private_key")))
		problem = "Field \"private_key\" is missing.";
	else if (json_object_get(key, "token_uri") != NULL &&
			 !json_is_string(json_object_get(key, "token_uri")))
		problem = "Field \"token_uri\" must be a string.";
	else if (restricted && json_object_get(key, "token_uri") != NULL &&
			 !gcp_endpoint_trusted(json_string_value(json_object_get(key, "token_uri"))))
	{
		json_decref(key);
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to use the token_uri of this key"),
				 errdetail("Roles other than superusers may only use keys whose token_uri is Google's (https://oauth2.googleapis.com/token) or listed in bqstream.allowed_endpoints.")));
	}
	json_decref(key);

	if (problem)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for option \"credentials_json\""),
				 errdetail_internal("%s", problem),
				 errhint("Give the contents of a service-account key file as created by \"gcloud iam service-accounts keys create\".")));
}

static const BqOption *
find_option(const char *name, Oid context)
{
	for (int i = 0; i < lengthof(bq_options); i++)
		if (bq_options[i].context == context && strcmp(bq_options[i].name, name) == 0)
			return &bq_options[i];
	return NULL;
}

static char *
valid_option_names(Oid context)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < lengthof(bq_options); i++)
		if (bq_options[i].context == context)
			appendStringInfo(&buf, "%s%s", buf.len > 0 ? ", " : "", bq_options[i].name);
	return buf.data;
}

/*
 * bqstream_fdw_validator(options text[], catalog oid)
 */
Datum
bqstream_fdw_validator(PG_FUNCTION_ARGS)
{
	List	   *options = untransformRelOptions(PG_GETARG_DATUM(0));
	Oid			catalog = PG_GETARG_OID(1);
	const char *credential = NULL;
	const char *source = NULL;
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *def = (DefElem *) lfirst(lc);
		const BqOption *opt = find_option(def->defname, catalog);
		const char *value;

		if (opt == NULL)
		{
			char	   *valid = valid_option_names(catalog);

			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
					 errmsg("invalid option \"%s\"", def->defname),
					 valid[0] != '\0'
					 ? errhint("Valid options in this context are: %s.", valid)
					 : errhint("There are no valid options in this context.")));
		}

		value = defGetString(def);
		if (value[0] == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option \"%s\" must not be empty", opt->name)));

		if (opt->check && !opt->check(value))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 opt->secret
					 ? errmsg("invalid value for option \"%s\"", opt->name)
					 : errmsg("invalid value for option \"%s\": \"%s\"", opt->name, value),
					 errdetail("%s", opt->expected)));

		if (catalog == UserMappingRelationId)
		{
			if (credential != NULL)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("conflicting options \"%s\" and \"%s\"", credential, opt->name),
						 errhint("A user mapping holds one credential: credentials_file, credentials_json or auth.")));
			credential = opt->name;
		}

		if (strcmp(opt->name, "credentials_json") == 0)
			check_credentials_json(value, !superuser(),
								   superuser() ||
								   has_privs_of_role(GetUserId(), ROLE_PG_READ_SERVER_FILES));

		if (strcmp(opt->name, "pubsub_endpoint") == 0 ||
			strcmp(opt->name, "bigquery_endpoint") == 0 ||
			strcmp(opt->name, "bigquery_storage_endpoint") == 0)
			gcp_check_endpoint(opt->name, value, GetUserId());

		/*
		 * The query runs with the credentials of whoever scans the table, so
		 * only a superuser may give more than exactly one SELECT statement.
		 */
		if (strcmp(opt->name, "query") == 0 && !superuser())
			bq_check_query_option(value);

		if (strcmp(opt->name, "table") == 0 || strcmp(opt->name, "query") == 0)
		{
			if (source != NULL)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("conflicting options \"%s\" and \"%s\"", source, opt->name),
						 errhint("A foreign table reads either a BigQuery table or the result of a query.")));
			source = opt->name;
		}

		/*
		 * A key file is read by the server process, so naming one gives
		 * access to any file the server can read.
		 */
		if (strcmp(opt->name, "credentials_file") == 0 && !superuser() &&
			!has_privs_of_role(GetUserId(), ROLE_PG_READ_SERVER_FILES))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied to use option \"credentials_file\""),
					 errdetail("Only superusers and members of pg_read_server_files may name a file on the database server."),
					 errhint("Use option \"credentials_json\" to give the key itself.")));
	}

	PG_RETURN_VOID();
}

/*
 * A failing CREATE/ALTER USER MAPPING that carries an inline key would have
 * its statement text, key included, written to the server log along with
 * the error (log_min_error_statement).  Mark such errors so the statement is
 * left out.  Statement logging itself (log_statement = 'ddl' or 'all') is
 * the administrator's choice and logs the text before anything runs, as it
 * does postgres_fdw passwords.
 */
static ProcessUtility_hook_type prev_ProcessUtility = NULL;

static bool
statement_carries_key(Node *stmt)
{
	List	   *options;
	ListCell   *lc;

	if (IsA(stmt, CreateUserMappingStmt))
		options = ((CreateUserMappingStmt *) stmt)->options;
	else if (IsA(stmt, AlterUserMappingStmt))
		options = ((AlterUserMappingStmt *) stmt)->options;
	else
		return false;

	foreach(lc, options)
		if (strcmp(((DefElem *) lfirst(lc))->defname, "credentials_json") == 0)
			return true;
	return false;
}

static void
run_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
			ProcessUtilityContext context, ParamListInfo params,
			QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
							queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
								queryEnv, dest, qc);
}

static void
secret_guard_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
							bool readOnlyTree, ProcessUtilityContext context,
							ParamListInfo params, QueryEnvironment *queryEnv,
							DestReceiver *dest, QueryCompletion *qc)
{
	MemoryContext cxt = CurrentMemoryContext;

	if (!statement_carries_key(pstmt->utilityStmt))
	{
		run_utility(pstmt, queryString, readOnlyTree, context, params,
					queryEnv, dest, qc);
		return;
	}

	PG_TRY();
	{
		run_utility(pstmt, queryString, readOnlyTree, context, params,
					queryEnv, dest, qc);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		edata->hide_stmt = true;
		/* run through DO, EXECUTE or a function, the CONTEXT quotes it too */
		edata->context = NULL;
		edata->internalquery = NULL;
		edata->cursorpos = 0;
		edata->internalpos = 0;
		ReThrowError(edata);
	}
	PG_END_TRY();
}

void
bqstream_install_secret_guard(void)
{
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = secret_guard_ProcessUtility;
}
