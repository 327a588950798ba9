/*-------------------------------------------------------------------------
 *
 * import.c
 *	  IMPORT FOREIGN SCHEMA for bqstream_fdw: the tables, views and
 *	  materialized views of a BigQuery dataset become foreign tables with
 *	  mapped column types.
 *
 * The remote schema named in the statement is the dataset; a table's
 * primary key, if it has one, gives its columns the option key 'true'.  RECORDs (and
 * arrays of them) become jsonb, RANGEs the range type of their element,
 * GEOGRAPHY PostGIS's geometry when PostGIS is installed here (else WKT
 * text).  A column of a type bqstream_fdw does not know is left out with a
 * NOTICE rather than failing the whole import.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "gcp/gcp_json.h"

#include "foreign/fdwapi.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"

#include "fdw/fdw.h"
#include "gcp/bigquery.h"

List	   *bqImportForeignSchema(ImportForeignSchemaStmt *stmt, Oid serverOid);

static bool
wanted(ImportForeignSchemaStmt *stmt, const char *table)
{
	ListCell   *lc;
	bool		listed = false;

	if (stmt->list_type == FDW_IMPORT_SCHEMA_ALL)
		return true;
	foreach(lc, stmt->table_list)
		if (strcmp(((RangeVar *) lfirst(lc))->relname, table) == 0)
			listed = true;
	return stmt->list_type == FDW_IMPORT_SCHEMA_LIMIT_TO ? listed : !listed;
}

/* whether "name" is one of the primary key's columns (a JSON array of names) */
static bool
is_key_column(json_t *key_columns, const char *name)
{
	size_t		i;
	json_t	   *c;

	json_array_foreach(key_columns, i, c)
		if (json_is_string(c) && strcmp(json_string_value(c), name) == 0)
			return true;
	return false;
}

/*
 * The CREATE FOREIGN TABLE of a BigQuery table; the columns of its primary
 * key (BigQuery keeps one, unenforced, in tableConstraints) get the option
 * key 'true', which UPDATE and DELETE need.
 */
static char *
create_statement(ImportForeignSchemaStmt *stmt, const char *dataset, const char *table,
				 json_t *fields, json_t *key_columns)
{
	StringInfoData buf;
	size_t		i;
	json_t	   *f;
	int			ncols = 0;

	initStringInfo(&buf);
	appendStringInfo(&buf, "CREATE FOREIGN TABLE %s.%s (",
					 quote_identifier(stmt->local_schema), quote_identifier(table));
	json_array_foreach(fields, i, f)
	{
		const char *name = json_string_value(json_object_get(f, "name"));
		const char *type = json_string_value(json_object_get(f, "type"));
		const char *mode = json_string_value(json_object_get(f, "mode"));
		const char *pgtype = bq_pg_type_for_field(f);

		if (name == NULL)
			continue;
		if (pgtype == NULL)
		{
			ereport(NOTICE,
					(errmsg("column \"%s\" of BigQuery table \"%s.%s\" skipped: type %s%s is not converted",
							name, dataset, table,
							mode && strcmp(mode, "REPEATED") == 0 ? "REPEATED " : "",
							type ? type : "?")));
			continue;
		}
		appendStringInfo(&buf, "%s%s %s%s%s", ncols++ > 0 ? ", " : "",
						 quote_identifier(name), pgtype,
						 is_key_column(key_columns, name) ? " OPTIONS (key 'true')" : "",
						 mode && strcmp(mode, "REQUIRED") == 0 ? " NOT NULL" : "");
	}
	appendStringInfo(&buf, ") SERVER %s OPTIONS (dataset %s, \"table\" %s)",
					 quote_identifier(stmt->server_name),
					 quote_literal_cstr(dataset), quote_literal_cstr(table));
	return ncols > 0 ? buf.data : NULL;
}

/*
 * bqImportForeignSchema
 *		A foreign table per table, view and materialized view of a dataset.
 */
List *
bqImportForeignSchema(ImportForeignSchemaStmt *stmt, Oid serverOid)
{
	GcpServer  *srv = gcp_server_lookup(stmt->server_name);
	const char *dataset = stmt->remote_schema;
	List	   *commands = NIL;
	char	   *page_token = NULL;

	bq_check_id("dataset", dataset);
	do
	{
		char	   *url = gcp_url(srv, GCP_BIGQUERY, "projects/%s/datasets/%s/tables?maxResults=1000%s%s",
								  gcp_url_escape(srv->project_id), dataset,
								  page_token ? "&pageToken=" : "",
								  page_token ? gcp_url_escape(page_token) : "");
		json_t	   *list = gcp_call(srv, GCP_BIGQUERY, "GET", url, NULL,
									psprintf("list the tables of dataset \"%s\"", dataset),
									NULL, NULL);
		json_t	   *tables = json_object_get(list, "tables");
		size_t		i;
		json_t	   *t;

		json_array_foreach(tables, i, t)
		{
			const char *table = json_string_value(json_object_get(json_object_get(t, "tableReference"),
																  "tableId"));
			json_t	   *resource;
			char	   *cmd;

			if (table == NULL || !wanted(stmt, table))
				continue;
			resource = gcp_call(srv, GCP_BIGQUERY, "GET",
								gcp_url(srv, GCP_BIGQUERY, "projects/%s/datasets/%s/tables/%s",
										gcp_url_escape(srv->project_id), dataset,
										gcp_url_escape(table)),
								NULL, psprintf("read table \"%s.%s\"", dataset, table), NULL, NULL);
			cmd = create_statement(stmt, dataset, table,
								   json_object_get(json_object_get(resource, "schema"), "fields"),
								   json_object_get(json_object_get(json_object_get(resource, "tableConstraints"),
																   "primaryKey"), "columns"));
			if (cmd)
				commands = lappend(commands, cmd);
		}
		page_token = json_is_string(json_object_get(list, "nextPageToken"))
			? pstrdup(json_string_value(json_object_get(list, "nextPageToken"))) : NULL;
	} while (page_token != NULL);

	return commands;
}
