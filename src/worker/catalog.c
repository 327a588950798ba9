/*-------------------------------------------------------------------------
 *
 * catalog.c
 *	  The pipeline functions (create, alter, start, stop, drop) and every
 *	  write of bqstream.pipelines and bqstream.dead_letters.
 *
 * Ordinary roles may read their own rows of the two tables but write
 * nothing: a role given INSERT could make a pipeline owned by a superuser,
 * whose worker would then run as that superuser.  So these functions check
 * as the caller (the server is a bqstream_fdw server the caller may use and
 * has a user mapping for; only the owner, a role with its privileges, or a
 * superuser may change a pipeline) and then write as the owner of the
 * tables, that is the extension's owner.  The caller always becomes the
 * owner of a new pipeline.
 *
 * Writes as the extension's owner run with search_path pinned to
 * pg_catalog, so that no object of the caller's choosing (an operator, a
 * function) is resolved with the owner's rights, and as a restricted
 * operation, as PostgreSQL runs maintenance commands as a table's owner.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

/* first: jansson beside builtins.h */
#include "gcp/gcp_json.h"

#include "access/htup_details.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "bqstream.h"
#include "gcp/client.h"
#include "worker/worker.h"

PG_FUNCTION_INFO_V1(bqstream_create_pipeline);
PG_FUNCTION_INFO_V1(bqstream_alter_pipeline);
PG_FUNCTION_INFO_V1(bqstream_set_pipeline_enabled);
PG_FUNCTION_INFO_V1(bqstream_start_pipeline);
PG_FUNCTION_INFO_V1(bqstream_stop_pipeline);
PG_FUNCTION_INFO_V1(bqstream_drop_pipeline);

/*
 * bqstream.<relname>, or InvalidOid when the extension is not here: a
 * schema of that name made by someone else is not the extension's.
 */
Oid
pipeline_catalog_relid(const char *relname)
{
	Oid			nsp;

	if (!OidIsValid(get_extension_oid("bqstream", true)))
		return InvalidOid;
	nsp = get_namespace_oid("bqstream", true);
	return OidIsValid(nsp) ? get_relname_relid(relname, nsp) : InvalidOid;
}

/* the owner of bqstream.pipelines, who owns bqstream.dead_letters too */
static Oid
catalog_owner(void)
{
	Oid			relid = pipeline_catalog_relid("pipelines");
	HeapTuple	tup;
	Oid			owner;

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"bqstream.pipelines\" does not exist")));
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/*
 * Become the catalog's owner.  An error before pipeline_catalog_user_pop() is
 * undone by the (sub)transaction's abort, which restores the user and the
 * settings, as for a SECURITY DEFINER function.
 */
void
pipeline_catalog_user_push(PipelineCatalogUser *save)
{
	Oid			owner = catalog_owner();

	GetUserIdAndSecContext(&save->save_userid, &save->save_sec_context);
	save->save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	SetUserIdAndSecContext(owner, save->save_sec_context |
						   SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
}

void
pipeline_catalog_user_pop(PipelineCatalogUser *save)
{
	AtEOXact_GUC(true, save->save_nestlevel);
	SetUserIdAndSecContext(save->save_userid, save->save_sec_context);
}

/* SPI_execute_with_args() as the catalog's owner; SPI must be connected. */
int
pipeline_catalog_execute(const char *sql, int nargs, Oid *argtypes, Datum *values,
				   const char *nulls, bool read_only, long count)
{
	PipelineCatalogUser save;
	int			ret;

	pipeline_catalog_user_push(&save);
	PG_TRY();
	{
		ret = SPI_execute_with_args(sql, nargs, argtypes, values, nulls,
									read_only, count);
	}
	PG_CATCH();
	{
		/* the abort would do it too; callers may inspect the user first */
		SetUserIdAndSecContext(save.save_userid, save.save_sec_context);
		PG_RE_THROW();
	}
	PG_END_TRY();
	pipeline_catalog_user_pop(&save);
	return ret;
}

/*
 * What a role needs to run a pipeline on a server, checked as that role:
 * a bqstream_fdw server, USAGE on it, and a user mapping (its own or
 * PUBLIC), since the workers call GCP with that mapping's credential.
 */
static void
check_server(const char *servername, Oid user)
{
	ForeignServer *server = GetForeignServerByName(servername, true);
	AclResult	aclresult;

	if (server == NULL ||
		strcmp(GetForeignDataWrapper(server->fdwid)->fdwname, "bqstream_fdw") != 0)
		ereport(ERROR,
				(errcode(server == NULL ? ERRCODE_UNDEFINED_OBJECT : ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("server \"%s\" is not a bqstream_fdw server", servername),
				 errhint("Create it with CREATE SERVER ... FOREIGN DATA WRAPPER bqstream_fdw.")));

	aclresult = pg_foreign_server_aclcheck(server->serverid, user, ACL_USAGE);
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, OBJECT_FOREIGN_SERVER, server->servername);

	if (!SearchSysCacheExists2(USERMAPPINGUSERSERVER, ObjectIdGetDatum(user),
							   ObjectIdGetDatum(server->serverid)) &&
		!SearchSysCacheExists2(USERMAPPINGUSERSERVER, ObjectIdGetDatum(InvalidOid),
							   ObjectIdGetDatum(server->serverid)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("user mapping not found for user \"%s\" and server \"%s\"",
						MappingUserName(user), servername),
				 errdetail("The workers of a pipeline call GCP with its owner's user mapping."),
				 errhint("Create one with CREATE USER MAPPING FOR CURRENT_USER SERVER %s.",
						 quote_identifier(servername))));
}

/*
 * The new owner of a pipeline: locked, like the owner of any object
 * PostgreSQL records, so that a concurrent DROP ROLE either waits for this
 * transaction (and then finds the pipeline) or has already removed the
 * role (and this fails).  Workers connect as their owner, which
 * PostgreSQL 15 allows only to roles that may log in.
 */
static void
check_new_owner(Oid owner)
{
	HeapTuple	tup;
	bool		canlogin;

	shdepLockAndCheckObject(AuthIdRelationId, owner);
	tup = SearchSysCache1(AUTHOID, ObjectIdGetDatum(owner));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for role %u", owner);
	canlogin = ((Form_pg_authid) GETSTRUCT(tup))->rolcanlogin;
	ReleaseSysCache(tup);
	if (!canlogin)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("role \"%s\" cannot own a pipeline", GetUserNameFromId(owner, false)),
				 errdetail("The workers of a pipeline connect as its owner, and this role is not permitted to log in."),
				 errhint("Create the pipeline as a role with the LOGIN attribute.")));
}

/*
 * Pipelines run only in the database the launcher watches, and only with
 * the library preloaded; anywhere else a pipeline would never run, and the
 * checks that keep its owner from being dropped would not see it.
 */
static void
check_pipeline_database(void)
{
	char	   *dbname;

	if (pipeline_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("bqstream pipelines need the library to be preloaded"),
				 errhint("Add bqstream to shared_preload_libraries and restart the server.")));
	dbname = get_database_name(MyDatabaseId);
	if (dbname == NULL || strcmp(dbname, bqstream_database) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pipelines can only be created in database \"%s\"", bqstream_database),
				 errdetail("The launcher runs the pipelines of the database named by bqstream.database."),
				 errhint("Connect to database \"%s\", or change bqstream.database.",
						 bqstream_database)));
}

/*
 * Lock a pipeline's row and check that the caller may change it: its
 * owner, a role with the owner's privileges, or a superuser.  SPI must be
 * connected.
 */
static void
lock_own_pipeline(const char *name, Oid caller)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(name)};
	bool		isnull;
	Oid			owner;

	if (pipeline_catalog_execute("SELECT owner::pg_catalog.oid FROM bqstream.pipelines "
						   "WHERE name OPERATOR(pg_catalog.=) $1 FOR UPDATE",
						   1, argtypes, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read pipeline \"%s\"", name);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("pipeline \"%s\" does not exist", name)));
	owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
										   1, &isnull));
	if (!has_privs_of_role(caller, owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of pipeline %s", name)));
}

/*
 * A write mode named by create_pipeline() or alter_pipeline(): refused here
 * with the list of valid ones, rather than by the table's constraint.
 */
static void
check_write_mode(FunctionCallInfo fcinfo, int argno)
{
	const char *mode;

	if (PG_NARGS() <= argno || PG_ARGISNULL(argno))
		return;
	mode = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	if (strcmp(mode, "insert_all") != 0 && strcmp(mode, "default_stream") != 0 &&
		strcmp(mode, "exactly_once") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid write mode \"%s\"", mode),
				 errhint("Valid write modes are \"exactly_once\", \"default_stream\" and \"insert_all\".")));
}

/*
 * The Storage Write API modes need a Storage endpoint, which a server whose
 * BigQuery endpoint is not Google's has only when it names one: refused
 * here rather than by every batch of the workers.
 */
static void
check_storage_endpoint(FunctionCallInfo fcinfo, int argno, const char *servername)
{
	const char *mode = "exactly_once";	/* the argument's default */
	GcpServer  *srv;

	if (PG_NARGS() > argno)
	{
		if (PG_ARGISNULL(argno))
			return;
		mode = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	}
	if (strcmp(mode, "insert_all") == 0)
		return;
	srv = gcp_server_lookup_as(GetForeignServerByName(servername, false)->serverid,
							   GetUserId(), GCP_LOOKUP_NO_CREDENTIAL);
	if (srv->api_root[GCP_BIGQUERY_STORAGE] == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("write mode \"%s\" needs a BigQuery Storage endpoint, which server \"%s\" has not",
						mode, servername),
				 errdetail("The server's BigQuery endpoint is not Google's, and Google's Storage endpoint goes only with Google's BigQuery."),
				 errhint("Name the Storage endpoint with ALTER SERVER %s OPTIONS (ADD bigquery_storage_endpoint '...'), or choose write_mode => 'insert_all'.",
						 quote_identifier(servername))));
}

/*
 * create_pipeline(name, server, subscription, target_table, workers,
 *				   max_workers, batch_size, max_lateness, max_future_skew,
 *				   dataset, start[, write_mode, dedup_retention])
 *
 * The last two come with the 0.3 objects; called through the 0.2 ones the
 * table has no such columns yet.
 */
Datum
bqstream_create_pipeline(PG_FUNCTION_ARGS)
{
	char	   *name = bqstream_text_arg(fcinfo, 0, "pipeline name");
	char	   *server = bqstream_text_arg(fcinfo, 1, "server");
	Oid			caller = GetUserId();
	Oid			argtypes[14] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT4OID, INT4OID,
		INT4OID, INTERVALOID, INTERVALOID, TEXTOID, BOOLOID, REGROLEOID, TEXTOID,
	INTERVALOID};
	Datum		values[14];
	char		nulls[14];
	bool		with_write_mode = PG_NARGS() >= 13;

	(void) bqstream_text_arg(fcinfo, 2, "subscription");
	check_write_mode(fcinfo, 11);
	check_pipeline_database();
	check_server(server, caller);
	check_new_owner(caller);

	/* $1..$11 are the arguments; NULLs go through, the constraints name the column */
	for (int i = 0; i < 11; i++)
	{
		values[i] = PG_ARGISNULL(i) ? (Datum) 0 : PG_GETARG_DATUM(i);
		nulls[i] = PG_ARGISNULL(i) ? 'n' : ' ';
	}
	values[11] = ObjectIdGetDatum(caller);
	nulls[11] = ' ';
	for (int i = 11; i < 13 && with_write_mode; i++)
	{
		values[i + 1] = PG_ARGISNULL(i) ? (Datum) 0 : PG_GETARG_DATUM(i);
		nulls[i + 1] = PG_ARGISNULL(i) ? 'n' : ' ';
	}

	SPI_connect();
	if (pipeline_catalog_execute(with_write_mode ?
								 "INSERT INTO bqstream.pipelines (name, server, subscription, target_table, "
								 "dataset, min_workers, max_workers, batch_size, max_lateness, "
								 "max_future_skew, enabled, owner, write_mode, dedup_retention) "
								 "VALUES ($1, $2, $3, $4, $10, $5, coalesce($6, $5), $7, $8, $9, $11, $12, $13, $14) "
								 "ON CONFLICT (name) DO NOTHING" :
								 "INSERT INTO bqstream.pipelines (name, server, subscription, target_table, "
								 "dataset, min_workers, max_workers, batch_size, max_lateness, "
								 "max_future_skew, enabled, owner) "
								 "VALUES ($1, $2, $3, $4, $10, $5, coalesce($6, $5), $7, $8, $9, $11, $12) "
								 "ON CONFLICT (name) DO NOTHING",
								 with_write_mode ? 14 : 12, argtypes, values, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not create pipeline \"%s\"", name);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("pipeline \"%s\" already exists", name)));
	SPI_finish();
	if (with_write_mode)
		check_storage_endpoint(fcinfo, 11, server);

	launcher_wake();
	PG_RETURN_VOID();
}

/*
 * alter_pipeline(name, workers, max_workers, batch_size, max_lateness,
 *				  max_future_skew[, write_mode, dedup_retention]): NULL keeps a
 *				  setting.  A new write mode takes effect when the workers
 *				  read the pipeline again; an exactly_once pipeline's open
 *				  appends are still finished by its workers in any mode.
 */
Datum
bqstream_alter_pipeline(PG_FUNCTION_ARGS)
{
	char	   *name = bqstream_text_arg(fcinfo, 0, "pipeline name");
	Oid			argtypes[8] = {TEXTOID, INT4OID, INT4OID, INT4OID, INTERVALOID, INTERVALOID,
	TEXTOID, INTERVALOID};
	Datum		values[8];
	char		nulls[8];
	bool		with_write_mode = PG_NARGS() >= 8;

	check_write_mode(fcinfo, 6);
	for (int i = 0; i < (with_write_mode ? 8 : 6); i++)
	{
		values[i] = PG_ARGISNULL(i) ? (Datum) 0 : PG_GETARG_DATUM(i);
		nulls[i] = PG_ARGISNULL(i) ? 'n' : ' ';
	}

	SPI_connect();
	lock_own_pipeline(name, GetUserId());
	if (pipeline_catalog_execute(with_write_mode ?
								 "UPDATE bqstream.pipelines p "
								 "SET min_workers = coalesce($2, p.min_workers), "
								 "    max_workers = coalesce($3, greatest(p.max_workers, coalesce($2, p.min_workers))), "
								 "    batch_size = coalesce($4, p.batch_size), "
								 "    max_lateness = coalesce($5, p.max_lateness), "
								 "    max_future_skew = coalesce($6, p.max_future_skew), "
								 "    write_mode = coalesce($7, p.write_mode), "
								 "    dedup_retention = coalesce($8, p.dedup_retention) "
								 "WHERE p.name OPERATOR(pg_catalog.=) $1" :
								 "UPDATE bqstream.pipelines p "
								 "SET min_workers = coalesce($2, p.min_workers), "
								 "    max_workers = coalesce($3, greatest(p.max_workers, coalesce($2, p.min_workers))), "
								 "    batch_size = coalesce($4, p.batch_size), "
								 "    max_lateness = coalesce($5, p.max_lateness), "
								 "    max_future_skew = coalesce($6, p.max_future_skew) "
								 "WHERE p.name OPERATOR(pg_catalog.=) $1",
								 with_write_mode ? 8 : 6, argtypes, values, nulls, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not alter pipeline \"%s\"", name);
	SPI_finish();

	launcher_wake();
	PG_RETURN_VOID();
}

static void
set_enabled(const char *name, bool enabled)
{
	Oid			argtypes[2] = {TEXTOID, BOOLOID};
	Datum		values[2] = {CStringGetTextDatum(name), BoolGetDatum(enabled)};

	SPI_connect();
	lock_own_pipeline(name, GetUserId());
	if (pipeline_catalog_execute("UPDATE bqstream.pipelines SET enabled = $2 "
						   "WHERE name OPERATOR(pg_catalog.=) $1",
						   2, argtypes, values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not update pipeline \"%s\"", name);
	SPI_finish();

	launcher_wake();
}

/* set_pipeline_enabled(name, enabled): start_pipeline and stop_pipeline */
Datum
bqstream_set_pipeline_enabled(PG_FUNCTION_ARGS)
{
	set_enabled(text_to_cstring(PG_GETARG_TEXT_PP(0)), PG_GETARG_BOOL(1));
	PG_RETURN_VOID();
}

Datum
bqstream_start_pipeline(PG_FUNCTION_ARGS)
{
	set_enabled(text_to_cstring(PG_GETARG_TEXT_PP(0)), true);
	PG_RETURN_VOID();
}

Datum
bqstream_stop_pipeline(PG_FUNCTION_ARGS)
{
	set_enabled(text_to_cstring(PG_GETARG_TEXT_PP(0)), false);
	PG_RETURN_VOID();
}

/* drop_pipeline(name): its dead letters go with it (foreign key cascade) */
Datum
bqstream_drop_pipeline(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(name)};

	SPI_connect();
	lock_own_pipeline(name, GetUserId());
	if (pipeline_catalog_execute("DELETE FROM bqstream.pipelines WHERE name OPERATOR(pg_catalog.=) $1",
						   1, argtypes, values, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not drop pipeline \"%s\"", name);
	SPI_finish();

	launcher_wake();
	PG_RETURN_VOID();
}
