/*-------------------------------------------------------------------------
 *
 * deadletter.c
 *	  bqstream.republish_dead_letters(): send dead letters back to a topic,
 *	  typically after fixing their payload, and remove them.
 *
 * The rows are locked while they are published and deleted in the same
 * transaction, so two sessions cannot republish the same letter; if the
 * transaction fails after Pub/Sub took the messages, the letters stay and
 * may be republished again: at least once, like everything else here.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "gcp/gcp_json.h"

#include "catalog/pg_type.h"
#include "common/base64.h"
#include "executor/spi.h"
#include "fmgr.h"

#include "gcp/pubsub.h"

PG_FUNCTION_INFO_V1(bqstream_republish_dead_letters);

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
	char	   *url;
	Oid			argtypes[1] = {INT8ARRAYOID};
	StringInfoData body;
	int			in_body = 0;
	uint64		n;

	pubsub_check_id("topic", topic);
	url = pubsub_topic_url(srv, topic, ":publish");

	SPI_connect();
	if (SPI_execute_with_args("SELECT payload, attributes::text FROM bqstream.dead_letters "
							  "WHERE id = ANY($1) ORDER BY id FOR UPDATE",
							  1, argtypes, &ids, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read dead letters");
	n = SPI_processed;

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

	if (SPI_execute_with_args("DELETE FROM bqstream.dead_letters WHERE id = ANY($1)",
							  1, argtypes, &ids, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not remove republished dead letters");
	SPI_finish();

	PG_RETURN_INT64((int64) n);
}
