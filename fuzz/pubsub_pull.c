/*-------------------------------------------------------------------------
 *
 * pubsub_pull.c (fuzz target "pubsub_pull")
 *	  Fuzzes a pipeline worker's handling of a Pub/Sub pull response: the
 *	  real pull() and parse_pubsub_message() of src/worker/pipeline.c
 *	  (#included here for its static functions) scanning receivedMessages
 *	  (ackId, message.data in base64, attributes, messageId, publishTime,
 *	  deliveryAttempt), then what run_batch() does with the messages:
 *	  validate_payload() against the raw_orders schema, insert_chunk()
 *	  building the insertAll body that splices the validated payloads as
 *	  they are, and acknowledge() building the ack body.  HTTP is
 *	  fake_http.c: the pull answers the fuzz input with HTTP 200, the
 *	  insertAll and acknowledge requests are checked and answered.
 *
 * Input: the body of a pull response.
 *
 * A bug is any ASan/UBSan/leak report, an ERROR escaping anywhere but
 * pull()'s "not valid JSON" or a report at FATAL, or:
 *	pull_valid_json		pull() accepted a body that is not JSON (jansson
 *						refuses it; its integer/real range aside).
 *	pull_same_messages	pull() extracted other messages (ackId, messageId,
 *						decoded data) than the body holds, read by jansson
 *						(bodies with duplicate or escaped member names
 *						aside).
 *	messages_complete	a message without ackId or messageId, or with
 *						neither a payload nor a dead-letter reason.
 *	attributes_json		a message's attributes (stored as jsonb) are not a
 *						JSON object.
 *	insert_body_json	the insertAll body is not JSON, or its rows are not
 *						the validated messages (insertId = messageId, json =
 *						an object).
 *	ack_body_json		the acknowledge body is not JSON, or acks other IDs
 *						than those of the messages stored.
 *	text_utf8			a messageId, ackId or dead-letter detail (all
 *						stored as text) is not valid UTF-8.
 *
 *-------------------------------------------------------------------------
 */
#include "worker/pipeline.c"

#include <stdint.h>

#include "fake_http.h"
#include "pg_shim.h"

/* not part of what is fuzzed: a worker reporting its activity */
void
pgstat_report_activity(BackendState state, const char *cmd_str)
{
}

static WorkerSlot fuzz_slot;
static const uint8_t *fuzz_data;
static size_t fuzz_size;
static PipelineConfig *fuzz_cfg;

/* the batch as pull() returned it, for the request checks */
static Message *fuzz_msgs;
static int	fuzz_n;
static int *fuzz_rows;
static int	fuzz_nrows;
static bool fuzz_pulled;

static json_t *
parse_strict(const char *body, size_t len, const char *property)
{
	json_error_t jerr;
	json_t	   *j = json_loadb(body, len, 0, &jerr);

	if (j == NULL && bqfuzz_check(property))
		bqfuzz_fail(property, "the request body is not JSON: %s (column %d)", jerr.text, jerr.column);
	return j;
}

static void
check_insert_body(const char *body, size_t len)
{
	json_t	   *j = parse_strict(body, len, "insert_body_json");
	json_t	   *rows = json_object_get(j, "rows");

	if (j == NULL)
		return;
	if (bqfuzz_check("insert_body_json"))
	{
		if (!json_is_array(rows))
			bqfuzz_fail("insert_body_json", "no rows array");
		/* one request per 500 rows: this one holds the first chunk */
		if (json_array_size(rows) != (size_t) Min(fuzz_nrows, INSERT_CHUNK_ROWS))
			bqfuzz_fail("insert_body_json", "%zu rows sent, %d validated",
						json_array_size(rows), fuzz_nrows);
		for (size_t i = 0; i < json_array_size(rows); i++)
		{
			json_t	   *row = json_array_get(rows, i);
			const char *id = json_string_value(json_object_get(row, "insertId"));
			Message    *m = &fuzz_msgs[fuzz_rows[i]];

			if (id == NULL || strcmp(id, m->message_id) != 0)
				bqfuzz_fail("insert_body_json", "row %zu has insertId %s, not the message ID", i,
							id ? id : "(none)");
			if (!json_is_object(json_object_get(row, "json")))
				bqfuzz_fail("insert_body_json", "row %zu's json is not an object", i);
		}
	}
	json_decref(j);
}

static void
check_ack_body(const char *body, size_t len)
{
	json_t	   *j = parse_strict(body, len, "ack_body_json");
	json_t	   *ids = json_object_get(j, "ackIds");
	size_t		k = 0;

	if (j == NULL)
		return;
	if (bqfuzz_check("ack_body_json"))
	{
		for (int i = 0; i < fuzz_n; i++)
		{
			const char *id;

			if (!fuzz_msgs[i].stored)
				continue;
			id = json_string_value(json_array_get(ids, k++));
			if (id == NULL || strcmp(id, fuzz_msgs[i].ack_id) != 0)
				bqfuzz_fail("ack_body_json", "ack %zu is %s, not the message's ackId", k - 1,
							id ? id : "(none)");
		}
		if (k != json_array_size(ids))
			bqfuzz_fail("ack_body_json", "%zu IDs acked, %zu messages stored", json_array_size(ids), k);
	}
	json_decref(j);
}

static void
handler(const GcpHttpRequest *req, long *status, const char **body, size_t *len)
{
	*status = 200;
	if (strcmp(req->url, fuzz_cfg->pull_url) == 0)
	{
		*body = (const char *) fuzz_data;
		*len = fuzz_size;
	}
	else if (strcmp(req->url, fuzz_cfg->insert_url) == 0)
	{
		check_insert_body(req->body, req->body_len);
		/* BigQuery refusing the second row, when there is one */
		*body = fuzz_nrows > 1
			? "{\"insertErrors\":[{\"index\":1,\"errors\":[{\"reason\":\"invalid\",\"location\":\"amount\",\"message\":\"Cannot convert value to floating point.\"}]}]}"
			: "{\"kind\":\"bigquery#tableDataInsertAllResponse\"}";
		*len = strlen(*body);
	}
	else if (strcmp(req->url, fuzz_cfg->ack_url) == 0)
	{
		check_ack_body(req->body, req->body_len);
		*body = "{}";
		*len = 2;
	}
	else
		bqfuzz_fail("harness", "unexpected request to %s", req->url);
}

static void
check_text(const char *what, const char *s)
{
	if (s && !bqfuzz_valid_utf8(s, strlen(s)) && bqfuzz_check("text_utf8"))
		bqfuzz_fail("text_utf8", "%s is not valid UTF-8", what);
}

static bool
base64_ref(const char *s, size_t len, StringInfo out)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint32		acc = 0;
	int			bits = 0;

	resetStringInfo(out);
	if (len > 0 && len % 4 == 0 && s[len - 1] == '=')
	{
		len--;
		if (s[len - 1] == '=')
			len--;
	}
	if (len % 4 == 1)
		return false;
	for (size_t i = 0; i < len; i++)
	{
		const char *c = s[i] ? memchr(alphabet, s[i], 64) : NULL;

		if (c == NULL)
			return false;
		acc = (acc << 6) | (uint32) (c - alphabet);
		bits += 6;
		if (bits >= 8)
		{
			bits -= 8;
			appendStringInfoChar(out, (char) (acc >> bits));
			acc &= (1u << bits) - 1;
		}
	}
	return true;
}

/* any member name written with escapes? (the worker reads names as Pub/Sub writes them: plain) */
static bool
escaped_key(JsonScan *s)
{
	JsToken	tok;
	JsToken	key;
	bool		first = true;

	switch (js_value(s, &tok))
	{
		case JT_OBJECT:
			while (js_object_next(s, &key, &first))
				if (key.escaped || escaped_key(s))
					return true;
			return false;
		case JT_ARRAY:
			while (js_array_next(s, &first))
				if (escaped_key(s))
					return true;
			return false;
		default:
			return false;
	}
}

/* pull() said yes: so must jansson, and the messages must be the body's */
static void
compare_with_jansson(void)
{
	json_error_t jerr;
	json_t	   *root = json_loadb((const char *) fuzz_data, fuzz_size, JSON_DECODE_ANY, &jerr);
	json_t	   *strict;
	json_t	   *received;
	int			k = 0;
	StringInfoData ref;

	if (root == NULL)
	{
		if (!bqfuzz_jansson_limit(jerr.text) && bqfuzz_check("pull_valid_json"))
			bqfuzz_fail("pull_valid_json", "pull() accepted a body jansson refuses: %s (line %d column %d)",
						jerr.text, jerr.line, jerr.column);
		return;
	}
	json_decref(root);
	{
		JsonScan	s;

		js_init(&s, (const char *) fuzz_data, fuzz_size);
		if (escaped_key(&s))
			return;
	}
	strict = json_loadb((const char *) fuzz_data, fuzz_size,
						JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
	if (strict == NULL || !bqfuzz_check("pull_same_messages"))
	{
		json_decref(strict);
		return;					/* duplicate keys: which one counts is moot */
	}
	initStringInfo(&ref);
	received = json_object_get(strict, "receivedMessages");
	for (size_t i = 0; i < json_array_size(received); i++)
	{
		json_t	   *e = json_array_get(received, i);
		json_t	   *msg = json_object_get(e, "message");
		const char *ack = json_string_value(json_object_get(e, "ackId"));
		const char *id = json_string_value(json_object_get(msg, "messageId"));
		json_t	   *data = json_object_get(msg, "data");
		Message    *m;

		if (ack == NULL || id == NULL || !json_is_object(msg))
			continue;
		if (k >= fuzz_n)
			bqfuzz_fail("pull_same_messages", "pull() found %d messages, the body has more", fuzz_n);
		m = &fuzz_msgs[k++];
		if (strcmp(m->ack_id, ack) != 0 || strcmp(m->message_id, id) != 0)
			bqfuzz_fail("pull_same_messages", "message %d: ackId/messageId differ from the body's", k - 1);
		if (m->verdict.reason == DL_BAD_ENCODING)
			continue;
		if (data == NULL)
		{
			if (m->payload_len != 0)
				bqfuzz_fail("pull_same_messages", "message %d has a payload but no data", k - 1);
			continue;
		}
		if (!json_is_string(data) ||
			!base64_ref(json_string_value(data), json_string_length(data), &ref) ||
			ref.len != m->payload_len || memcmp(ref.data, m->payload, ref.len) != 0)
			bqfuzz_fail("pull_same_messages", "message %d: the payload is not the body's data decoded", k - 1);
	}
	if (k != fuzz_n)
		bqfuzz_fail("pull_same_messages", "pull() found %d messages, the body has %d", fuzz_n, k);
	json_decref(strict);
}

static void
run(void)
{
	PipelineConfig *cfg = palloc0(sizeof(PipelineConfig));
	GcpServer  *srv = palloc0(sizeof(GcpServer));
	json_t	   *table;
	TimestampTz now;

	srv->project_id = "fuzz-project";
	srv->api_root[GCP_PUBSUB] = "http://pubsub.fuzz/v1";
	srv->api_root[GCP_BIGQUERY] = "http://bigquery.fuzz/bigquery/v2";
	srv->cred[GCP_PUBSUB].kind = GCP_AUTH_NONE;
	srv->cred[GCP_BIGQUERY].kind = GCP_AUTH_NONE;

	cfg->name = "fuzz";
	cfg->server = "fuzz";
	cfg->subscription = "orders-sub";
	cfg->dataset = "bqstream";
	cfg->table = "raw_orders";
	cfg->batch_size = 1000;		/* Pub/Sub's most: more is refused */
	cfg->max_lateness_us = 60 * USECS_PER_SEC;
	cfg->rules.max_future_skew_us = 300 * USECS_PER_SEC;
	cfg->rules.max_id_length = 128;
	cfg->srv = srv;
	table = gcp_json_track(json_pack("{s:o}", "schema", bq_raw_orders_schema()));
	cfg->schema = schema_from_table(table, cfg->table);
	cfg->pull_url = "http://pubsub.fuzz/v1/projects/fuzz-project/subscriptions/orders-sub:pull";
	cfg->ack_url = "http://pubsub.fuzz/v1/projects/fuzz-project/subscriptions/orders-sub:acknowledge";
	cfg->modack_url = "http://pubsub.fuzz/v1/projects/fuzz-project/subscriptions/orders-sub:modifyAckDeadline";
	cfg->lease_s = 10;
	cfg->insert_url = "http://bigquery.fuzz/bigquery/v2/projects/fuzz-project/datasets/bqstream/tables/raw_orders/insertAll";
	cfg->loaded_at = GetCurrentTimestamp();
	fuzz_cfg = cfg;

	/* pull(): an ERROR here is the expected answer to a broken body */
	fuzz_n = pull(cfg, &fuzz_msgs);
	fuzz_pulled = true;

	for (int i = 0; i < fuzz_n; i++)
	{
		Message    *m = &fuzz_msgs[i];

		if (bqfuzz_check("messages_complete") &&
			(m->ack_id == NULL || m->message_id == NULL ||
			 (m->payload == NULL && m->verdict.reason < 0)))
			bqfuzz_fail("messages_complete", "message %d is incomplete", i);
		check_text("an ackId", m->ack_id);
		check_text("a messageId", m->message_id);
		if (m->attributes && bqfuzz_check("attributes_json"))
		{
			json_t	   *a = json_loads(m->attributes, 0, NULL);

			if (!json_is_object(a))
				bqfuzz_fail("attributes_json", "message %d's attributes are not a JSON object", i);
			json_decref(a);
		}
	}
	compare_with_jansson();

	/* run_batch(), but SPI: validate, insert, dead-letter (as marked), ack */
	now = GetCurrentTimestamp();
	fuzz_rows = palloc(sizeof(int) * Max(fuzz_n, 1));
	fuzz_nrows = 0;
	batch_msgs = fuzz_msgs;
	batch_len = fuzz_n;
	batch_leased_at = now;
	for (int i = 0; i < fuzz_n; i++)
	{
		Message    *m = &fuzz_msgs[i];

		if (m->verdict.reason < 0)
			validate_payload(cfg->schema, &cfg->rules, m->payload, m->payload_len, now, &m->verdict);
		if (m->verdict.reason >= 0)
		{
			if (m->verdict.reason >= NUM_DL_REASONS || m->verdict.detail == NULL)
				bqfuzz_fail("messages_complete", "message %d has reason %d and detail %p", i,
							m->verdict.reason, m->verdict.detail);
			check_text("a dead-letter detail", m->verdict.detail);
			continue;
		}
		fuzz_rows[fuzz_nrows++] = i;
	}
	for (int from = 0; from < fuzz_nrows; from += INSERT_CHUNK_ROWS)
		insert_chunk(cfg, fuzz_msgs, fuzz_rows + from, Min(INSERT_CHUNK_ROWS, fuzz_nrows - from));
	for (int i = 0; i < fuzz_n; i++)
	{
		Message    *m = &fuzz_msgs[i];

		/* what store_dead_letters() commits */
		if (m->verdict.reason >= 0 || m->bq_error != NULL)
		{
			check_text("a BigQuery error", m->bq_error);
			m->stored = true;
		}
	}
	acknowledge(cfg, fuzz_msgs, fuzz_n);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bqfuzz_begin();
	pipeline_slot = &fuzz_slot;
	fake_http_handler = handler;
	fuzz_data = data;
	fuzz_size = size;
	fuzz_pulled = false;
	fuzz_msgs = NULL;
	fuzz_n = 0;
	PG_TRY();
	{
		run();
	}
	PG_CATCH();
	{
		ErrorData  *e = bqfuzz_error();

		/* pull() refusing the body is right; any other ERROR is not */
		bqfuzz_print_error();
		if (fuzz_pulled || e->sqlerrcode != ERRCODE_FDW_INVALID_DATA_TYPE)
			bqfuzz_fail("no_error", "unexpected ERROR: %s (%s)", e->message,
						e->detail ? e->detail : "");
		bqfuzz_flush_error();
	}
	PG_END_TRY();
	bqfuzz_end();
	return 0;
}
