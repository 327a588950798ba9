/*-------------------------------------------------------------------------
 *
 * deadletter.c
 *	  bqstream.republish_dead_letters(): send dead letters back to a topic,
 *	  typically after fixing their payload, and remove them; and the names
 *	  of the reasons a message becomes one (worker.h).
 *
 * The rows are locked while they are published and deleted in the same
 * transaction, so two sessions cannot republish the same letter; if the
 * transaction fails after Pub/Sub took the messages, the letters stay and
 * may be republished again: at least once, like everything else here.
 *
 * Ordinary roles may not write bqstream.dead_letters: the rows are locked
 * and deleted as the catalog's owner, after checking that the caller owns
 * (has the privileges of the owner of) each of them.  Publishing uses the
 * caller's own server and user mapping.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "gcp/gcp_json.h"

#include "catalog/pg_type.h"
#include "common/base64.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/lsyscache.h"

#include "gcp/pubsub.h"
#include "worker/worker.h"

PG_FUNCTION_INFO_V1(bqstream_republish_dead_letters);

const char *const dead_letter_reason_names[NUM_DL_REASONS] = {
	"bad_encoding", "not_json", "not_an_object", "missing_field", "unknown_field",
	"wrong_type", "bad_timestamp", "future_event_time", "invalid_amount",
	"invalid_id", "bigquery_rejected",
};

/* stay well inside Pub/Sub's 10 MB per request */
#define REPUBLISH_MAX_BYTES (PUBSUB_MAX_PUBLISH_BYTES / 2)

static void
publish_body(const GcpServer *srv, const char *url, const char *topic, StringInfo body)
{
	GcpHttpRequest req;
	GcpHttpCall *call;

	appendStringInfoString(body, "]}");
	gcp_request_init(&req, srv, GCP_PUBSUB, "POST", url, body->data, body->len);
	call = gcp_http_run(&req);
	if (!gcp_http_ok(gcp_http_result(call)))
		gcp_http_report(gcp_http_result(call), ERROR, "Pub/Sub",
						psprintf("republish dead letters to topic \"%s\"", topic));
	gcp_http_free(call);
	resetStringInfo(body);
}

/*
 * republish_dead_letters(ids bigint[], server text, topic text): the number
 * of letters published and removed.
 */
Datum
bqstream_republish_dead_letters(PG_FUNCTION_ARGS)
{
	Datum		ids = PG_GETARG_DATUM(0);
	char	   *topic = text_to_cstring(PG_GETARG_TEXT_PP(2));
	GcpServer  *srv = gcp_server_lookup(text_to_cstring(PG_GETARG_TEXT_PP(1)));
	Oid			caller = GetUserId();
	bool		legacy;
	Datum	   *found;
	char	   *url;
	Oid			argtypes[1] = {INT8ARRAYOID};
	StringInfoData body;
	int			in_body = 0;
	uint64		n;

	pubsub_check_id("topic", topic);
	url = pubsub_topic_url(srv, topic, ":publish");

	/* until ALTER EXTENSION UPDATE brings 0.2, as 0.1 did: as the caller */
	legacy = get_attnum(pipeline_catalog_relid("dead_letters"), "owner") == InvalidAttrNumber;

	SPI_connect();
	if (legacy ?
		SPI_execute_with_args("SELECT payload, attributes::text, id FROM bqstream.dead_letters "
							  "WHERE id = ANY($1) ORDER BY id FOR UPDATE",
							  1, argtypes, &ids, NULL, false, 0) != SPI_OK_SELECT :
		pipeline_catalog_execute("SELECT payload, attributes::text, id, owner::oid FROM bqstream.dead_letters "
						   "WHERE id OPERATOR(pg_catalog.=) ANY ($1) ORDER BY id FOR UPDATE",
						   1, argtypes, &ids, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read dead letters");
	n = SPI_processed;

	/* delete what was locked here, not rows added meanwhile under the ids */
	found = palloc(sizeof(Datum) * Max(n, 1));
	for (uint64 i = 0; i < n; i++)
	{
		bool		isnull;
		Oid			owner;

		found[i] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3, &isnull);
		if (legacy)
			continue;
		/* no owner: a letter of a pipeline dropped before 0.2, superusers' */
		owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
											   4, &isnull));
		if (isnull ? !superuser_arg(caller) : !has_privs_of_role(caller, owner))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied for dead letter " INT64_FORMAT,
							DatumGetInt64(found[i])),
					 errdetail("Only the owner of its pipeline may republish a dead letter.")));
	}
	ids = PointerGetDatum(construct_array(found, (int) n, INT8OID, sizeof(int64),
										  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));

	initStringInfo(&body);
	for (uint64 i = 0; i < n; i++)
	{
		bool		isnull;
		bytea	   *payload = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[i],
															SPI_tuptable->tupdesc, 1, &isnull));
		char	   *attributes = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		int			len = VARSIZE_ANY_EXHDR(payload);
		int			enc_len = pg_b64_enc_len(len);

		if (body.len > 0 &&
			(in_body == PUBSUB_MAX_MESSAGES_PER_PUBLISH || body.len + enc_len > REPUBLISH_MAX_BYTES))
		{
			publish_body(srv, url, topic, &body);
			in_body = 0;
		}
		appendStringInfoString(&body, body.len == 0 ? "{\"messages\":[" : ",");
		appendStringInfoString(&body, "{\"data\":\"");
		enlargeStringInfo(&body, enc_len);
		body.len += pg_b64_encode(VARDATA_ANY(payload), len, body.data + body.len, enc_len);
		body.data[body.len] = '\0';
		appendStringInfoChar(&body, '"');
		/* attributes are a JSON object of strings, as Pub/Sub gave them */
		if (attributes && strcmp(attributes, "{}") != 0)
			appendStringInfo(&body, ",\"attributes\":%s", attributes);
		appendStringInfoChar(&body, '}');
		in_body++;
	}
	if (in_body > 0)
		publish_body(srv, url, topic, &body);

	if (legacy ?
		SPI_execute_with_args("DELETE FROM bqstream.dead_letters WHERE id = ANY($1)",
							  1, argtypes, &ids, NULL, false, 0) != SPI_OK_DELETE :
		pipeline_catalog_execute("DELETE FROM bqstream.dead_letters WHERE id OPERATOR(pg_catalog.=) ANY ($1)",
						   1, argtypes, &ids, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not remove republished dead letters");
	SPI_finish();

	PG_RETURN_INT64((int64) n);
}
