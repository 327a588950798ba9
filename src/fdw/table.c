/*-------------------------------------------------------------------------
 *
 * table.c
 *	  What a bqstream_fdw foreign table reads: its BigQuery table or query,
 *	  its options (a table's own, else its server's), its columns' BigQuery
 *	  names, and the server with the credential of the role that reads.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "foreign/foreign.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "fdw/fdw.h"

char *
bq_table_option(ForeignTable *ft, const char *name)
{
	char	   *v = gcp_option_value(ft->options, name);

	return v ? v : gcp_option_value(GetForeignServer(ft->serverid)->options, name);
}

BqTableRef *
bq_table_ref(ForeignTable *ft, const GcpServer *srv)
{
	BqTableRef *ref = palloc0(sizeof(BqTableRef));
	char	   *v;

	ref->dataset = gcp_option_value(ft->options, "dataset");
	if (ref->dataset == NULL)
		ref->dataset = srv->dataset;
	ref->query = gcp_option_value(ft->options, "query");
	ref->table = gcp_option_value(ft->options, "table");
	if (ref->table == NULL && ref->query == NULL)
		ref->table = get_rel_name(ft->relid);
	ref->location = gcp_option_value(ft->options, "location");
	if (ref->location == NULL)
		ref->location = srv->location;
	v = bq_table_option(ft, "fetch_size");
	ref->fetch_size = v ? atoi(v) : BQ_DEFAULT_FETCH_SIZE;
	ref->maximum_bytes_billed = bq_table_option(ft, "maximum_bytes_billed");
	v = bq_table_option(ft, "use_query_cache");
	ref->use_query_cache = -1;
	if (v)
	{
		bool		b;

		(void) parse_bool(v, &b);
		ref->use_query_cache = b;
	}
	v = bq_table_option(ft, "timeout");
	if (v)
		(void) parse_int(v, &ref->timeout_ms, GUC_UNIT_MS, NULL);
	v = bq_table_option(ft, "read_api");
	ref->read_api = v == NULL || strcmp(v, "auto") == 0 ? BQ_READ_API_AUTO
		: strcmp(v, "on") == 0 ? BQ_READ_API_ON : BQ_READ_API_OFF;
	v = bq_table_option(ft, "read_streams");
	ref->read_streams = v ? atoi(v) : BQ_DEFAULT_READ_STREAMS;
	return ref;
}

char *
bq_column_name(Relation rel, AttrNumber attnum)
{
	List	   *options = GetForeignColumnOptions(RelationGetRelid(rel), attnum);
	char	   *name = gcp_option_value(options, "column_name");

	return name ? name : NameStr(TupleDescAttr(RelationGetDescr(rel), attnum - 1)->attname);
}

/*
 * The server of a foreign table, with the user mapping of the role the
 * plan checks permissions as (InvalidOid: the current user), as
 * postgres_fdw does: a view over a foreign table reads it with its owner's
 * credential, and the table privilege is all the reader needs.
 */
GcpServer *
bq_server_of(Oid relid, Oid userid, int flags)
{
	return gcp_server_lookup_as(GetForeignTable(relid)->serverid,
								OidIsValid(userid) ? userid : GetUserId(), flags);
}

/* rows per insertAll request or DML statement: batch_size of the table, else its server's */
int
bq_batch_size(Oid relid)
{
	char	   *v = bq_table_option(GetForeignTable(relid), "batch_size");

	return v ? atoi(v) : BQ_DEFAULT_BATCH_SIZE;
}
