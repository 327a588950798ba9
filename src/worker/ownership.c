/*-------------------------------------------------------------------------
 *
 * ownership.c
 *	  Pipelines as dependents of their owner and of their foreign server:
 *	  what DROP ROLE, REASSIGN OWNED, DROP OWNED, ALTER SERVER ... RENAME
 *	  and DROP SERVER do to them.
 *
 * PostgreSQL records the owners of its own objects in pg_shdepend; a row of
 * bqstream.pipelines is no such object, so a ProcessUtility hook gives
 * pipelines the same behaviour:
 *
 *	- DROP ROLE is refused while the role owns pipelines: those of the
 *	  current database are read directly; those of the database the
 *	  launcher watches (bqstream.database, the only one where pipelines
 *	  are created) are asked of the launcher when the statement runs in
 *	  another database, since a backend can read its own database only.
 *	- REASSIGN OWNED BY ... TO ... gives their pipelines to the new role.
 *	- DROP OWNED BY ... drops their pipelines, and so their dead letters.
 *	- ALTER SERVER ... RENAME TO renames the server in the pipelines.
 *	- A statement that drops a server pipelines use (DROP SERVER, DROP
 *	  OWNED, DROP FOREIGN DATA WRAPPER) is refused, or with CASCADE drops
 *	  those pipelines with a NOTICE.
 *
 * Each acts after PostgreSQL's own processing of the statement, so that
 * its permission checks come first and a role that may not run the
 * statement learns nothing about pipelines.  A DROP ROLE holds the role's
 * lock from then on, and create_pipeline() and REASSIGN OWNED take it
 * before naming a role as owner (catalog.c), as PostgreSQL does for its
 * own objects: a pipeline cannot get an owner that is being dropped.
 *
 * Not covered: pipelines in a database that is neither the current one
 * nor bqstream.database (a restored dump, or made under 0.1), and DROP
 * ROLE in another database before the launcher first read the pipelines
 * after a start, or while it does not answer (then its last reading is
 * used).  Without shared_preload_libraries nothing runs pipelines, and a
 * backend that has not loaded the library does not check at all.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "pgstat.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "worker/worker.h"

/* how long DROP ROLE waits for the launcher to read the pipelines */
#define OWNER_MAP_WAIT_MS	5000

/* at most this many pipelines named in a DETAIL */
#define DETAIL_MAX_PIPELINES 20

static ProcessUtility_hook_type prev_ProcessUtility = NULL;

/* a role named in DROP ROLE, resolved before it is gone */
typedef struct NamedRole
{
	Oid			oid;
	char	   *name;
} NamedRole;

static bool
pipelines_here(void)
{
	return IsTransactionState() && OidIsValid(pipeline_catalog_relid("pipelines"));
}

static Datum
oid_array(List *oids)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(list_length(oids), 1));
	int			n = 0;
	ListCell   *lc;

	foreach(lc, oids)
		elems[n++] = ObjectIdGetDatum(lfirst_oid(lc));
	return PointerGetDatum(construct_array(elems, n, OIDOID, sizeof(Oid), true,
										   TYPALIGN_INT));
}

static Datum
text_array(List *strings)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(list_length(strings), 1));
	int			n = 0;
	ListCell   *lc;

	foreach(lc, strings)
		elems[n++] = CStringGetTextDatum((char *) lfirst(lc));
	return PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false,
										   TYPALIGN_INT));
}

static List *
rolespec_oids(List *rolespecs)
{
	List	   *oids = NIL;
	ListCell   *lc;

	foreach(lc, rolespecs)
		oids = lappend_oid(oids, get_rolespec_oid(lfirst(lc), false));
	return oids;
}

/* column "col" (text) of every row of the last SPI result */
static List *
spi_strings(int col)
{
	List	   *result = NIL;

	for (uint64 i = 0; i < SPI_processed; i++)
		result = lappend(result, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, col));
	return result;
}

/* ---------------------------------------------------------------------
 * DROP ROLE
 * ---------------------------------------------------------------------
 */

static List *
roles_to_drop(DropRoleStmt *stmt)
{
	List	   *roles = NIL;
	ListCell   *lc;

	foreach(lc, stmt->roles)
	{
		RoleSpec   *spec = lfirst(lc);
		NamedRole  *role;
		Oid			oid;

		/* PostgreSQL refuses CURRENT_USER and the like here */
		if (spec->roletype != ROLESPEC_CSTRING)
			continue;
		oid = get_role_oid(spec->rolename, true);
		if (!OidIsValid(oid))
			continue;
		role = palloc(sizeof(NamedRole));
		role->oid = oid;
		role->name = pstrdup(spec->rolename);
		roles = lappend(roles, role);
	}
	return roles;
}

/*
 * Ask the launcher to read the pipelines again and wait until it has: it
 * then sees every pipeline committed before this call, in particular those
 * whose creation held the role's lock that DROP ROLE now holds.
 */
static void
refresh_owner_map(void)
{
	OwnerMap   *map = &pipeline_shared->owner_map;
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), OWNER_MAP_WAIT_MS);
	uint64		ticket;
	Latch	   *latch;

	LWLockAcquire(pipeline_shared->lock, LW_EXCLUSIVE);
	ticket = ++map->refresh_requested;
	latch = pipeline_shared->launcher_latch;
	if (latch)
		SetLatch(latch);
	LWLockRelease(pipeline_shared->lock);
	if (latch == NULL)
		return;					/* no launcher: what it read last */

	ConditionVariablePrepareToSleep(&pipeline_shared->owner_map_published);
	for (;;)
	{
		bool		done;
		long		left;

		LWLockAcquire(pipeline_shared->lock, LW_SHARED);
		done = map->refresh_done >= ticket;
		LWLockRelease(pipeline_shared->lock);
		if (done)
			break;
		left = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);
		if (left <= 0)
		{
			ereport(WARNING,
					(errmsg("the bqstream launcher did not read the pipelines in time"),
					 errdetail("Their owners are checked as the launcher last read them.")));
			break;
		}
		(void) ConditionVariableTimedSleep(&pipeline_shared->owner_map_published, left,
										   PG_WAIT_EXTENSION);
	}
	ConditionVariableCancelSleep();
}

static void
refuse_drop_role(const char *name, const char *detail, const char *dbname)
{
	ereport(ERROR,
			(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
			 errmsg("role \"%s\" cannot be dropped because some objects depend on it", name),
			 errdetail_internal("%s", detail),
			 errhint("Drop its pipelines with bqstream.drop_pipeline(), or use REASSIGN OWNED or DROP OWNED in database \"%s\".",
					 dbname)));
}

/* in the current database, read as of now (not as of a transaction snapshot) */
static void
check_roles_here(List *roles)
{
	List	   *oids = NIL;
	Oid			argtypes[1] = {OIDARRAYOID};
	Datum		args[1];
	ListCell   *lc;

	foreach(lc, roles)
		oids = lappend_oid(oids, ((NamedRole *) lfirst(lc))->oid);
	args[0] = oid_array(oids);

	CommandCounterIncrement();
	SPI_connect();
	PushActiveSnapshot(GetLatestSnapshot());
	if (pipeline_catalog_execute("SELECT owner::pg_catalog.oid, name FROM bqstream.pipelines "
						   "WHERE owner::pg_catalog.oid OPERATOR(pg_catalog.=) ANY ($1) "
						   "ORDER BY 1, 2",
						   1, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read bqstream.pipelines");
	PopActiveSnapshot();

	foreach(lc, roles)
	{
		NamedRole  *role = lfirst(lc);
		StringInfoData detail;
		int			n = 0;

		initStringInfo(&detail);
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			bool		isnull;

			if (DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
											   1, &isnull)) != role->oid)
				continue;
			if (n < DETAIL_MAX_PIPELINES)
				appendStringInfo(&detail, "%sowner of bqstream pipeline \"%s\"",
								 n > 0 ? "\n" : "",
								 SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2));
			n++;
		}
		if (n > DETAIL_MAX_PIPELINES)
			appendStringInfo(&detail, "\nand %d other bqstream pipelines", n - DETAIL_MAX_PIPELINES);
		if (n > 0)
			refuse_drop_role(role->name, detail.data, get_database_name(MyDatabaseId));
	}
	SPI_finish();
}

/* in the launcher's database, from another one: its map of owners */
static void
check_roles_elsewhere(List *roles)
{
	Oid			launcher_db;
	char	   *dbname = bqstream_database;
	ListCell   *lc;

	if (pipeline_shared == NULL)
		return;
	launcher_db = get_database_oid(bqstream_database, true);
	if (!OidIsValid(launcher_db) || launcher_db == MyDatabaseId)
		return;

	refresh_owner_map();

	foreach(lc, roles)
	{
		NamedRole  *role = lfirst(lc);
		OwnerMap   *map = &pipeline_shared->owner_map;
		OwnerMapEntry entry = {InvalidOid};
		bool		unsure = false;

		LWLockAcquire(pipeline_shared->lock, LW_SHARED);
		if (map->database == launcher_db)
		{
			for (int e = 0; e < map->nowners; e++)
				if (map->owners[e].owner == role->oid)
					entry = map->owners[e];
			unsure = !OidIsValid(entry.owner) && map->overflow;
		}
		LWLockRelease(pipeline_shared->lock);

		if (OidIsValid(entry.owner))
			refuse_drop_role(role->name,
							 entry.npipelines == 1 ?
							 psprintf("owner of bqstream pipeline \"%s\" in database \"%s\"",
									  entry.example, dbname) :
							 psprintf("owner of %d bqstream pipelines in database \"%s\", among them \"%s\"",
									  entry.npipelines, dbname, entry.example),
							 dbname);
		if (unsure)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cannot tell whether role \"%s\" owns bqstream pipelines", role->name),
					 errdetail("The pipelines of database \"%s\" have too many owners to be checked from another database.",
							   dbname),
					 errhint("Drop the role while connected to database \"%s\".", dbname)));
	}
}

/* ---------------------------------------------------------------------
 * REASSIGN OWNED, DROP OWNED
 * ---------------------------------------------------------------------
 */

static void
reassign_pipelines(ReassignOwnedStmt *stmt)
{
	Oid			newrole = get_rolespec_oid(stmt->newrole, false);
	Oid			argtypes[2] = {OIDARRAYOID, REGROLEOID};
	Datum		args[2];
	HeapTuple	tup;
	bool		canlogin;

	args[0] = oid_array(rolespec_oids(stmt->roles));
	args[1] = ObjectIdGetDatum(newrole);

	/* as create_pipeline() does: a concurrent DROP ROLE waits, or this fails */
	shdepLockAndCheckObject(AuthIdRelationId, newrole);

	SPI_connect();
	if (pipeline_catalog_execute("UPDATE bqstream.pipelines SET owner = $2 "
						   "WHERE owner::pg_catalog.oid OPERATOR(pg_catalog.=) ANY ($1) "
						   "AND owner::pg_catalog.oid OPERATOR(pg_catalog.<>) $2::pg_catalog.oid",
						   2, argtypes, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not reassign pipelines");
	if (SPI_processed > 0)
	{
		tup = SearchSysCache1(AUTHOID, ObjectIdGetDatum(newrole));
		canlogin = HeapTupleIsValid(tup) && ((Form_pg_authid) GETSTRUCT(tup))->rolcanlogin;
		if (HeapTupleIsValid(tup))
			ReleaseSysCache(tup);
		if (!canlogin)
			ereport(WARNING,
					(errmsg("role \"%s\" now owns bqstream pipelines but is not permitted to log in",
							GetUserNameFromId(newrole, false)),
					 errdetail("The workers of a pipeline connect as its owner: they will not start.")));
		launcher_wake();
	}
	SPI_finish();
}

static void
drop_owned_pipelines(DropOwnedStmt *stmt)
{
	Oid			argtypes[1] = {OIDARRAYOID};
	Datum		args[1];

	args[0] = oid_array(rolespec_oids(stmt->roles));
	SPI_connect();
	if (pipeline_catalog_execute("DELETE FROM bqstream.pipelines "
						   "WHERE owner::pg_catalog.oid OPERATOR(pg_catalog.=) ANY ($1)",
						   1, argtypes, args, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not drop pipelines");
	if (SPI_processed > 0)
		launcher_wake();
	SPI_finish();
}

/* ---------------------------------------------------------------------
 * servers
 * ---------------------------------------------------------------------
 */

static void
rename_server(const char *oldname, const char *newname)
{
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		args[2] = {CStringGetTextDatum(oldname), CStringGetTextDatum(newname)};

	SPI_connect();
	if (pipeline_catalog_execute("UPDATE bqstream.pipelines SET server = $2 "
						   "WHERE server OPERATOR(pg_catalog.=) $1",
						   2, argtypes, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not rename the server of pipelines");
	if (SPI_processed > 0)
		launcher_wake();
	SPI_finish();
}

/* the pipelines whose server exists, before a statement that may drop it */
static List *
pipelines_with_server(void)
{
	MemoryContext outer = CurrentMemoryContext;
	MemoryContext spi_cxt;
	List	   *names;

	SPI_connect();
	if (pipeline_catalog_execute("SELECT p.name FROM bqstream.pipelines p "
						   "WHERE EXISTS (SELECT FROM pg_catalog.pg_foreign_server s "
						   "WHERE s.srvname::pg_catalog.text OPERATOR(pg_catalog.=) p.server)",
						   0, NULL, NULL, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read bqstream.pipelines");
	/* past SPI_finish() */
	spi_cxt = MemoryContextSwitchTo(outer);
	names = spi_strings(1);
	MemoryContextSwitchTo(spi_cxt);
	SPI_finish();
	return names;
}

/* after it: those that lost their server are refused, or dropped with CASCADE */
static void
pipelines_lost_server(List *before, DropBehavior behavior)
{
	Oid			argtypes[1] = {TEXTARRAYOID};
	Datum		args[1];
	StringInfoData detail;
	List	   *lost;
	char	   *first_server;

	if (before == NIL)
		return;
	args[0] = text_array(before);
	SPI_connect();
	if (pipeline_catalog_execute("SELECT p.name, p.server FROM bqstream.pipelines p "
						   "WHERE p.name OPERATOR(pg_catalog.=) ANY ($1) "
						   "AND NOT EXISTS (SELECT FROM pg_catalog.pg_foreign_server s "
						   "WHERE s.srvname::pg_catalog.text OPERATOR(pg_catalog.=) p.server) "
						   "ORDER BY p.server, p.name",
						   1, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read bqstream.pipelines");
	if (SPI_processed == 0)
	{
		SPI_finish();
		return;
	}
	lost = spi_strings(1);
	first_server = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);

	if (behavior != DROP_CASCADE)
	{
		initStringInfo(&detail);
		for (uint64 i = 0; i < SPI_processed && i < DETAIL_MAX_PIPELINES; i++)
			appendStringInfo(&detail, "%sbqstream pipeline \"%s\" depends on server %s",
							 i > 0 ? "\n" : "",
							 SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1),
							 quote_identifier(SPI_getvalue(SPI_tuptable->vals[i],
														   SPI_tuptable->tupdesc, 2)));
		if (SPI_processed > DETAIL_MAX_PIPELINES)
			appendStringInfo(&detail, "\nand " UINT64_FORMAT " other bqstream pipelines",
							 SPI_processed - DETAIL_MAX_PIPELINES);
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg("cannot drop server %s because other objects depend on it",
						quote_identifier(first_server)),
				 errdetail_internal("%s", detail.data),
				 errhint("Use DROP ... CASCADE to drop the dependent objects too.")));
	}

	for (uint64 i = 0; i < SPI_processed; i++)
		ereport(NOTICE,
				(errmsg("drop cascades to bqstream pipeline \"%s\"",
						SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1))));
	args[0] = text_array(lost);
	if (pipeline_catalog_execute("DELETE FROM bqstream.pipelines WHERE name OPERATOR(pg_catalog.=) ANY ($1)",
						   1, argtypes, args, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not drop pipelines");
	SPI_finish();
	launcher_wake();
}

/* ---------------------------------------------------------------------
 * the hook
 * ---------------------------------------------------------------------
 */

static void
ownership_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
						 bool readOnlyTree, ProcessUtilityContext context,
						 ParamListInfo params, QueryEnvironment *queryEnv,
						 DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;
	List	   *dropped_roles = NIL;
	bool		servers_may_go = false;
	DropBehavior behavior = DROP_RESTRICT;
	List	   *on_servers = NIL;

	switch (nodeTag(parsetree))
	{
		case T_DropRoleStmt:
			dropped_roles = roles_to_drop((DropRoleStmt *) parsetree);
			break;
		case T_DropStmt:
			{
				DropStmt   *stmt = (DropStmt *) parsetree;

				servers_may_go = stmt->removeType == OBJECT_FOREIGN_SERVER ||
					stmt->removeType == OBJECT_FDW;
				behavior = stmt->behavior;
				break;
			}
		case T_DropOwnedStmt:
			servers_may_go = true;
			behavior = ((DropOwnedStmt *) parsetree)->behavior;
			break;
		default:
			break;
	}
	if (servers_may_go && pipelines_here())
		on_servers = pipelines_with_server();

	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
							queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
								queryEnv, dest, qc);

	switch (nodeTag(parsetree))
	{
		case T_DropRoleStmt:
			if (dropped_roles != NIL)
			{
				if (pipelines_here())
					check_roles_here(dropped_roles);
				check_roles_elsewhere(dropped_roles);
			}
			break;
		case T_ReassignOwnedStmt:
			if (pipelines_here())
				reassign_pipelines((ReassignOwnedStmt *) parsetree);
			break;
		case T_DropOwnedStmt:
			if (pipelines_here())
				drop_owned_pipelines((DropOwnedStmt *) parsetree);
			break;
		case T_RenameStmt:
			{
				RenameStmt *stmt = (RenameStmt *) parsetree;

				if (stmt->renameType == OBJECT_FOREIGN_SERVER && pipelines_here())
					rename_server(strVal(stmt->object), stmt->newname);
				break;
			}
		default:
			break;
	}
	if (servers_may_go && pipelines_here())
		pipelines_lost_server(on_servers, behavior);
}

void
pipeline_install_ownership_hook(void)
{
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = ownership_ProcessUtility;
}
