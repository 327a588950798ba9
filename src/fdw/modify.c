/*-------------------------------------------------------------------------
 *
 * modify.c
 *	  INSERT into bqstream_fdw foreign tables: rows streamed with
 *	  tabledata.insertAll in batches, each with its own insertId.
 *
 * The insertId makes a retried request harmless: BigQuery drops the rows it
 * already has.  Rows BigQuery refuses are reported with their position in
 * the statement.  UPDATE and DELETE are BigQuery DML jobs (dml.c); this
 * file sends their planning and execution there.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "gcp/gcp_json.h"

#include "access/table.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "executor/executor.h"
#include "foreign/fdwapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "fdw/fdw.h"
#include "gcp/bigquery.h"

/* an array column's elements, for a REPEATED field */
typedef struct BqElementOut
{
	Oid			type;
	int16		typlen;
	bool		typbyval;
	char		typalign;
	FmgrInfo	out;
} BqElementOut;

typedef struct BqModifyState
{
	bool		keyed;			/* false: an INSERT's (dml.c's state has true) */
	GcpServer  *srv;
	char	   *url;
	char	   *table;			/* dataset.table, for messages */
	int			natts;
	char	  **names;			/* BigQuery column names; NULL for dropped columns */
	Oid		   *types;
	FmgrInfo   *out;
	BqElementOut **elements;	/* per column: its array elements, or NULL */
	int64		rows_sent;		/* rows of the statement before this batch */
	int			batch_size;
} BqModifyState;

List	   *bqPlanForeignModify(PlannerInfo *root, ModifyTable *plan,
								Index resultRelation, int subplan_index);
void		bqBeginForeignModify(ModifyTableState *mtstate, ResultRelInfo *rinfo,
								 List *fdw_private, int subplan_index, int eflags);
TupleTableSlot **bqExecForeignBatchInsert(EState *estate, ResultRelInfo *rinfo,
										  TupleTableSlot **slots, TupleTableSlot **planSlots,
										  int *numSlots);
TupleTableSlot *bqExecForeignInsert(EState *estate, ResultRelInfo *rinfo,
									TupleTableSlot *slot, TupleTableSlot *planSlot);
int			bqGetForeignModifyBatchSize(ResultRelInfo *rinfo);
void		bqEndForeignModify(EState *estate, ResultRelInfo *rinfo);

/*
 * bqPlanForeignModify
 *		An INSERT needs nothing planned but its refusals (RETURNING, ON
 *		CONFLICT); UPDATE and DELETE are planned by dml.c.
 */
List *
bqPlanForeignModify(PlannerInfo *root, ModifyTable *plan, Index resultRelation,
					int subplan_index)
{
	if (plan->operation == CMD_UPDATE || plan->operation == CMD_DELETE)
		return bq_plan_keyed_modify(root, plan, resultRelation, subplan_index);
	if (plan->operation != CMD_INSERT)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("bqstream_fdw does not support this command")));
	if (plan->returningLists != NIL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("bqstream_fdw does not support INSERT ... RETURNING")));
	if (plan->onConflictAction != ONCONFLICT_NONE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("bqstream_fdw does not support INSERT ... ON CONFLICT")));
	return NIL;
}

/*
 * bqBeginForeignModify
 *		Prepare an INSERT: the server, the table URL and a request buffer;
 *		UPDATE and DELETE are dml.c's.
 */
void
bqBeginForeignModify(ModifyTableState *mtstate, ResultRelInfo *rinfo,
					 List *fdw_private, int subplan_index, int eflags)
{
	Relation	rel = rinfo->ri_RelationDesc;
	TupleDesc	desc = RelationGetDescr(rel);
	ForeignTable *ft = GetForeignTable(RelationGetRelid(rel));
	BqModifyState *st;
	BqTableRef *ref;
	RangeTblEntry *rte;

	if (mtstate->operation != CMD_INSERT)
	{
		bq_begin_keyed_modify(mtstate, rinfo, fdw_private, subplan_index, eflags);
		return;
	}
	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
		return;
	rte = rinfo->ri_RangeTableIndex > 0
		? exec_rt_fetch(rinfo->ri_RangeTableIndex, mtstate->ps.state) : NULL;
	st = palloc0(sizeof(BqModifyState));
	/* the role the plan checks permissions as, as for scans */
	st->srv = gcp_server_lookup_as(ft->serverid,
								   rte && OidIsValid(rte->checkAsUser) ? rte->checkAsUser : GetUserId(),
								   0);
	ref = bq_table_ref(ft, st->srv);
	if (ref->table == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("cannot insert into foreign table \"%s\"", RelationGetRelationName(rel)),
				 errdetail("Its rows come from a BigQuery query, not a table.")));
	st->url = gcp_url(st->srv, GCP_BIGQUERY, "projects/%s/datasets/%s/tables/%s/insertAll",
					  gcp_url_escape(st->srv->project_id), ref->dataset,
					  gcp_url_escape(ref->table));
	st->table = psprintf("%s.%s", ref->dataset, ref->table);
	st->natts = desc->natts;
	st->names = palloc0(sizeof(char *) * desc->natts);
	st->types = palloc0(sizeof(Oid) * desc->natts);
	st->out = palloc0(sizeof(FmgrInfo) * desc->natts);
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		Oid			outfunc;
		bool		isvarlena;

		if (att->attisdropped)
			continue;
		st->names[i] = bq_column_name(rel, i + 1);
		st->types[i] = att->atttypid;
		getTypeOutputInfo(att->atttypid, &outfunc, &isvarlena);
		fmgr_info(outfunc, &st->out[i]);
		if (OidIsValid(get_element_type(att->atttypid)))
		{
			BqElementOut *elem = palloc0(sizeof(BqElementOut));

			if (st->elements == NULL)
				st->elements = palloc0(sizeof(BqElementOut *) * desc->natts);
			elem->type = get_element_type(att->atttypid);
			get_typlenbyvalalign(elem->type, &elem->typlen, &elem->typbyval, &elem->typalign);
			getTypeOutputInfo(elem->type, &outfunc, &isvarlena);
			fmgr_info(outfunc, &elem->out);
			st->elements[i] = elem;
		}
	}
	st->batch_size = bqGetForeignModifyBatchSize(rinfo);
	rinfo->ri_FdwState = st;
}

/*
 * A column value: a PostgreSQL array is a REPEATED field, a JSON array
 * whose elements cannot be NULL in BigQuery.
 */
static void
append_value(StringInfo buf, BqModifyState *st, int i, Datum value)
{
	BqElementOut *elem = st->elements ? st->elements[i] : NULL;
	ArrayType  *array;
	Datum	   *items;
	bool	   *nulls;
	int			n;

	if (elem == NULL)
	{
		bq_append_insert_scalar(buf, st->types[i], &st->out[i], value);
		return;
	}
	array = DatumGetArrayTypeP(value);
	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("cannot send a multidimensional array to BigQuery column \"%s\"",
						st->names[i]),
				 errdetail("A REPEATED field holds a list of values.")));
	deconstruct_array(array, elem->type, elem->typlen, elem->typbyval, elem->typalign,
					  &items, &nulls, &n);
	appendStringInfoChar(buf, '[');
	for (int k = 0; k < n; k++)
	{
		if (nulls[k])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("cannot send a NULL array element to BigQuery column \"%s\"",
							st->names[i]),
					 errdetail("BigQuery arrays cannot hold NULL elements.")));
		if (k > 0)
			appendStringInfoChar(buf, ',');
		bq_append_insert_scalar(buf, elem->type, &elem->out, items[k]);
	}
	appendStringInfoChar(buf, ']');
}

/* insertAll refuses a request body larger than this */
#define INSERT_REQUEST_MAX_BYTES	10485760

#define INSERT_REQUEST_HEAD "{\"skipInvalidRows\":false,\"ignoreUnknownValues\":false,\"rows\":["
#define INSERT_REQUEST_TAIL "]}"

/*
 * Send the rows gathered in "body" (a request missing its tail), and report
 * the row BigQuery refused by its number in the statement.
 */
static void
send_rows(BqModifyState *st, StringInfo body, int nrows)
{
	GcpHttpRequest req;
	json_t	   *resp;
	BqInsertError *errors;
	int			nerrors;

	appendStringInfoString(body, INSERT_REQUEST_TAIL);
	gcp_request_init(&req, st->srv, GCP_BIGQUERY, "POST", st->url, body->data, body->len);
	resp = gcp_call_result(GCP_BIGQUERY, gcp_http_run(&req),
						   psprintf("insert into table \"%s\"", st->table), NULL, NULL);

	nerrors = bq_insert_errors(resp, nrows, &errors);
	for (int i = 0; i < nerrors; i++)
	{
		const BqInsertError *e = &errors[i];
		const char *reason = e->reason ? e->reason : "invalid";
		const char *message = e->message ? e->message : "No message.";

		/* with skipInvalidRows off the others are "stopped": report the culprit */
		if (strcmp(reason, "stopped") == 0)
			continue;
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("BigQuery refused row %lld of the INSERT into \"%s\"",
						(long long) (st->rows_sent + e->row + 1), st->table),
				 e->location
				 ? errdetail("BigQuery refused its field \"%s\" with reason \"%s\": %s",
							 e->location, reason, message)
				 : errdetail("BigQuery refused it with reason \"%s\": %s", reason, message),
				 errhint("No row of the batch was stored.")));
	}
	st->rows_sent += nrows;
	resetStringInfo(body);
	appendStringInfoString(body, INSERT_REQUEST_HEAD);
}

/* One row of insertAll's "rows", with a random insertId. */
static void
append_row(StringInfo buf, BqModifyState *st, TupleTableSlot *slot)
{
	bool		first = true;
	uint8		id[16];

	slot_getallattrs(slot);
	if (!pg_strong_random(id, sizeof(id)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate an insertId")));
	appendStringInfoString(buf, "{\"insertId\":\"");
	for (int k = 0; k < 16; k++)
		appendStringInfo(buf, "%02x", id[k]);
	appendStringInfoString(buf, "\",\"json\":{");
	for (int i = 0; i < st->natts; i++)
	{
		if (st->names[i] == NULL || slot->tts_isnull[i])
			continue;
		if (!first)
			appendStringInfoChar(buf, ',');
		bq_append_json_text(buf, st->names[i]);
		appendStringInfoChar(buf, ':');
		append_value(buf, st, i, slot->tts_values[i]);
		first = false;
	}
	appendStringInfoString(buf, "}}");
}

/*
 * A batch goes in as few insertAll requests as BigQuery's size limit
 * allows: rows are added to a request until the next would not fit.
 */
TupleTableSlot **
bqExecForeignBatchInsert(EState *estate, ResultRelInfo *rinfo, TupleTableSlot **slots,
						 TupleTableSlot **planSlots, int *numSlots)
{
	BqModifyState *st = (BqModifyState *) rinfo->ri_FdwState;
	StringInfoData body;
	StringInfoData row;
	int			pending = 0;

	initStringInfo(&body);
	initStringInfo(&row);
	appendStringInfoString(&body, INSERT_REQUEST_HEAD);
	for (int r = 0; r < *numSlots; r++)
	{
		resetStringInfo(&row);
		append_row(&row, st, slots[r]);
		if (strlen(INSERT_REQUEST_HEAD) + row.len + strlen(INSERT_REQUEST_TAIL) >
			INSERT_REQUEST_MAX_BYTES)
		{
			/* what came before it is stored, as a row refused later would find */
			if (pending > 0)
				send_rows(st, &body, pending);
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("row %lld of the INSERT into \"%s\" is too large for BigQuery",
							(long long) (st->rows_sent + 1), st->table),
					 errdetail("The row takes %d bytes as JSON; an insertAll request takes at most %d bytes.",
							   row.len, INSERT_REQUEST_MAX_BYTES),
					 errhint("The rows before it were stored.")));
		}
		if (pending > 0 &&
			body.len + 1 + row.len + strlen(INSERT_REQUEST_TAIL) > INSERT_REQUEST_MAX_BYTES)
		{
			send_rows(st, &body, pending);
			pending = 0;
		}
		if (pending > 0)
			appendStringInfoChar(&body, ',');
		appendBinaryStringInfo(&body, row.data, row.len);
		pending++;
	}
	if (pending > 0)
		send_rows(st, &body, pending);
	pfree(body.data);
	pfree(row.data);
	return slots;
}

/*
 * bqExecForeignInsert
 *		One row: a batch of one.
 */
TupleTableSlot *
bqExecForeignInsert(EState *estate, ResultRelInfo *rinfo, TupleTableSlot *slot,
					TupleTableSlot *planSlot)
{
	int			one = 1;

	return *bqExecForeignBatchInsert(estate, rinfo, &slot, &planSlot, &one);
}

/*
 * bqGetForeignModifyBatchSize
 *		Rows PostgreSQL hands over at a time: batch_size.
 */
int
bqGetForeignModifyBatchSize(ResultRelInfo *rinfo)
{
	/* row triggers see one row at a time */
	if (rinfo->ri_TrigDesc && rinfo->ri_TrigDesc->trig_insert_after_row)
		return 1;
	return bq_batch_size(RelationGetRelid(rinfo->ri_RelationDesc));
}

/*
 * bqEndForeignModify
 *		An UPDATE or DELETE sends its last batch.
 */
void
bqEndForeignModify(EState *estate, ResultRelInfo *rinfo)
{
	/* an UPDATE or DELETE sends its last batch; an INSERT holds nothing */
	if (rinfo->ri_FdwState && *(bool *) rinfo->ri_FdwState)
		bq_end_keyed_modify(estate, rinfo);
}
