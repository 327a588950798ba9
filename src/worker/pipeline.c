/*-------------------------------------------------------------------------
 *
 * pipeline.c
 *	  A pipeline worker: pull orders from a Pub/Sub subscription, validate
 *	  them, stream the valid ones into BigQuery, dead-letter the others, and
 *	  acknowledge exactly what was stored.
 *
 * The rule that keeps data safe: a message is acknowledged only after
 * BigQuery accepted its row or its dead-letter row was committed locally.
 * Anything else (a crash, SIGTERM, a failed request) leaves it unacked, so
 * Pub/Sub redelivers it; the row's insertId is the message ID, so BigQuery
 * drops the duplicate a redelivery would otherwise create.  That holds only
 * while the redelivery is inserted within BigQuery's de-duplication window
 * (about a minute), so the worker keeps its own leases short (LEASE_S),
 * whatever the subscription's ack deadline, and extends them while a batch
 * is in progress.
 *
 * Errors of a batch (a missing table, a revoked permission, a service
 * down past the retry deadline) are logged, shown in pipeline_stats, and
 * answered with an exponential backoff instead of a tight loop.  SIGTERM
 * ends the worker at once through the ordinary die() path: an unfinished
 * batch is simply redelivered later.
 *
 * An idle subscription is no error: Pub/Sub holds a pull that finds no
 * message for about 90 s and then answers with none, and the worker waits
 * for that answer (serving reloads meanwhile) and pulls again at once.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

/* first: jansson beside builtins.h */
#include "gcp/gcp_json.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "port/pg_bitutils.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/lsyscache.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "gcp/bigquery.h"
#include "gcp/bqstorage.h"
#include "gcp/jsonscan.h"
#include "gcp/pubsub.h"
#include "worker/pipeline.h"
#include "worker/validate.h"
#include "worker/worker.h"

/* BigQuery's advice: about 500 rows per insertAll request */
#define INSERT_CHUNK_ROWS	500

/*
 * BigQuery refuses an insertAll request larger than 10 MB (the body as
 * sent): chunks are cut by bytes as well.  Pub/Sub messages may be as large,
 * so a few of them fill a request.
 */
#define INSERT_MAX_BYTES	10485760
#define INSERT_BODY_START	"{\"skipInvalidRows\":true,\"ignoreUnknownValues\":false,\"rows\":["
#define INSERT_BODY_END		"]}"
#define BACKOFF_MIN_MS		1000
#define BACKOFF_MAX_MS		60000
#define CONFIG_REFRESH_S	30

/*
 * How long a pulled message stays ours before Pub/Sub may redeliver it.  A
 * stored but unacknowledged message (a crash, a failed acknowledge) must be
 * inserted again well inside BigQuery's insertId window of about a minute.
 */
#define LEASE_S				15

/*
 * The lease on a subscription with exactly-once delivery, as Google's
 * clients keep it (their minimum lease extension there): an acknowledge
 * after the lease ran out fails rather than being taken, and the message
 * comes back, so a lease that runs out under a slow batch costs a
 * redelivery each time.
 */
#define EXACTLY_ONCE_LEASE_S	60

/* attempts of an acknowledge whose ack IDs failed transiently */
#define ACK_ATTEMPTS		3

/*
 * The time a pull is given, at least: Pub/Sub (the service and Google's
 * emulator alike) holds a pull that finds no message for about 90 s before
 * it answers.  A pull given up before that answer would be an error every
 * time the subscription is idle, and worse, Pub/Sub may still fill the
 * abandoned pull with the next messages, which then come back only after
 * their ack deadline.
 */
#define PULL_TIMEOUT_MS		120000

WorkerSlot *pipeline_slot;

/* the role this worker runs as: its pipeline's owner when it started */
Oid			pipeline_worker_owner;

/* a reload was served during a pull: the pipeline is read again after it */
static bool config_reloaded = false;

/* the batch in progress, whose leases are extended while it takes long */
static Message *batch_msgs;
static int	batch_len;
static TimestampTz batch_leased_at;

static void
set_state(WorkerState state, const char *activity)
{
	pg_atomic_write_u32(&pipeline_slot->state, state);
	pgstat_report_activity(STATE_RUNNING, activity);
}

static void
count(pg_atomic_uint64 *counter, uint64 n)
{
	if (n > 0)
		pg_atomic_fetch_add_u64(counter, n);
}

/* ---------------------------------------------------------------------
 * configuration
 * ---------------------------------------------------------------------
 */

/* Read the pipeline's row and resolve its server; false if it is gone or stopped. */
static bool
load_config(PipelineConfig *cfg, MemoryContext cxt)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	bool		found = false;
	MemoryContext old;
	WorkerTransaction xact;

	worker_transaction_begin(&xact, NULL);
	args[0] = CStringGetTextDatum(pipeline_slot->pipeline);
	/* the write mode and the write streams come with the 0.3 objects */
	cfg->has_write_streams = OidIsValid(pipeline_catalog_relid("write_streams"));
	if (SPI_execute_with_args(cfg->has_write_streams ?
							  "SELECT server, subscription, coalesce(dataset, ''), target_table, batch_size, "
							  "extract(epoch FROM max_lateness)::float8, extract(epoch FROM max_future_skew)::float8, "
							  "write_mode, extract(epoch FROM dedup_retention)::float8 "
							  "FROM bqstream.pipelines WHERE name = $1 AND enabled" :
							  "SELECT server, subscription, coalesce(dataset, ''), target_table, batch_size, "
							  "extract(epoch FROM max_lateness)::float8, extract(epoch FROM max_future_skew)::float8, "
							  "'insert_all', 0::float8 "
							  "FROM bqstream.pipelines WHERE name = $1 AND enabled",
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read pipeline \"%s\"", pipeline_slot->pipeline);
	if (SPI_processed == 1)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;

		old = MemoryContextSwitchTo(cxt);
		cfg->name = pstrdup(pipeline_slot->pipeline);
		cfg->server = SPI_getvalue(tup, desc, 1);
		cfg->subscription = SPI_getvalue(tup, desc, 2);
		cfg->dataset = SPI_getvalue(tup, desc, 3);
		cfg->table = SPI_getvalue(tup, desc, 4);
		cfg->batch_size = DatumGetInt32(SPI_getbinval(tup, desc, 5, &isnull));
		cfg->max_lateness_us = (int64) (DatumGetFloat8(SPI_getbinval(tup, desc, 6, &isnull)) * USECS_PER_SEC);
		cfg->rules.max_future_skew_us = (int64) (DatumGetFloat8(SPI_getbinval(tup, desc, 7, &isnull)) * USECS_PER_SEC);
		cfg->rules.max_id_length = 128;
		{
			char	   *mode = SPI_getvalue(tup, desc, 8);

			cfg->write_mode = strcmp(mode, "exactly_once") == 0 ? WRITE_EXACTLY_ONCE :
				strcmp(mode, "default_stream") == 0 ? WRITE_DEFAULT_STREAM : WRITE_INSERT_ALL;
		}
		cfg->dedup_retention_us = (int64) (DatumGetFloat8(SPI_getbinval(tup, desc, 9, &isnull)) * USECS_PER_SEC);
		cfg->srv = gcp_server_lookup(cfg->server);
		if (cfg->dataset[0] == '\0')
			cfg->dataset = cfg->srv->dataset;
		pubsub_check_id("subscription", cfg->subscription);
		bq_check_id("dataset", cfg->dataset);
		bq_check_id("table", cfg->table);
		cfg->pull_url = pubsub_subscription_url(cfg->srv, cfg->subscription, ":pull");
		cfg->ack_url = pubsub_subscription_url(cfg->srv, cfg->subscription, ":acknowledge");
		cfg->modack_url = pubsub_subscription_url(cfg->srv, cfg->subscription, ":modifyAckDeadline");
		cfg->insert_url = gcp_url(cfg->srv, GCP_BIGQUERY,
								  "projects/%s/datasets/%s/tables/%s/insertAll",
								  gcp_url_escape(cfg->srv->project_id), cfg->dataset, cfg->table);
		MemoryContextSwitchTo(old);
		found = true;
	}
	worker_transaction_commit(&xact);

	if (found)
	{
		/* the table's schema drives validation */
		json_t	   *table;

		old = MemoryContextSwitchTo(cxt);
		table = gcp_call(cfg->srv, GCP_BIGQUERY, "GET",
						 gcp_url(cfg->srv, GCP_BIGQUERY, "projects/%s/datasets/%s/tables/%s",
								 gcp_url_escape(cfg->srv->project_id), cfg->dataset, cfg->table),
						 NULL, psprintf("read the schema of table \"%s.%s\"", cfg->dataset, cfg->table),
						 NULL, NULL);
		cfg->schema = schema_from_table(table, cfg->table);
		cfg->table_path = bqs_table_path(cfg->srv, cfg->dataset, cfg->table);
		/* the Storage Write API's rows: a table it cannot take is an error here */
		if (cfg->write_mode != WRITE_INSERT_ALL)
			cfg->row_schema = row_proto_schema(table, cfg->table);

		/* a pull leases messages for the subscription's ack deadline */
		table = gcp_call(cfg->srv, GCP_PUBSUB, "GET",
						 pubsub_subscription_url(cfg->srv, cfg->subscription, NULL), NULL,
						 psprintf("read subscription \"%s\"", cfg->subscription), NULL, NULL);
		cfg->lease_s = json_is_integer(json_object_get(table, "ackDeadlineSeconds"))
			? (int) json_integer_value(json_object_get(table, "ackDeadlineSeconds")) : 10;
		cfg->exactly_once = json_is_true(json_object_get(table, "enableExactlyOnceDelivery"));
		if (cfg->exactly_once)
		{
			cfg->set_lease = cfg->lease_s != EXACTLY_ONCE_LEASE_S;
			cfg->lease_s = EXACTLY_ONCE_LEASE_S;
		}
		else
		{
			cfg->set_lease = cfg->lease_s > LEASE_S;
			cfg->lease_s = Min(Max(cfg->lease_s, 10), LEASE_S);
		}
		cfg->loaded_at = GetCurrentTimestamp();
		MemoryContextSwitchTo(old);
	}
	return found;
}

/* ---------------------------------------------------------------------
 * one batch
 * ---------------------------------------------------------------------
 */

/*
 * Append to a StringInfo enlarged beforehand for all that goes into it:
 * bodies of a thousand rows or IDs are built of a few thousand pieces, and
 * a plain copy each is what remains of appending them.  The caller
 * terminates the string at the end.
 */
static inline void
append_reserved(StringInfo buf, const char *data, int len)
{
	Assert(buf->len + len < buf->maxlen);
	memcpy(buf->data + buf->len, data, len);
	buf->len += len;
}

/*
 * A string member's value as a palloc'd C string; NULL if not a string.
 * When json is not NULL, also the value as a JSON string (what
 * escape_json() makes of it) in *json and *json_len.  A value
 * without escapes is that already, as the scanner accepted it (no quote,
 * backslash or control character): it is copied with its quotes rather
 * than escaped again for every request that names it.  The ack IDs go into
 * two or three bodies per batch (lease extension, acknowledgement).
 */
static char *
string_copy(JsonScan *s, StringInfo scratch, char **json, int *json_len)
{
	JsToken	tok;
	char	   *value;

	JsTokenKind type = js_value(s, &tok);

	if (type != JT_STRING)
	{
		js_finish(s, type);
		return NULL;
	}
	if (!tok.escaped && json)
	{
		/* one allocation: the JSON text, then the value, each terminated */
		char	   *both = palloc(2 * tok.len + 4);

		memcpy(both, tok.start - 1, tok.len + 2);
		both[tok.len + 2] = '\0';
		value = both + tok.len + 3;
		memcpy(value, tok.start, tok.len);
		value[tok.len] = '\0';
		*json = both;
		*json_len = (int) tok.len + 2;
		return value;
	}
	value = pstrdup(js_string_value(&tok, scratch));
	if (json)
	{
		StringInfoData buf;

		initStringInfo(&buf);
		escape_json(&buf, value);
		*json = buf.data;
		*json_len = buf.len;
	}
	return value;
}

/* the members of a PubsubMessage we use; the scanner is inside it */
static void
parse_pubsub_message(JsonScan *s, Message *m, StringInfo scratch)
{
	JsToken	key;
	bool		first = true;

	while (js_object_next(s, &key, &first))
	{
		if (js_string_is(&key, "data"))
		{
			JsToken	data;
			JsTokenKind type;

			/*
			 * Base64 is plain bytes only, and decoding checks every byte:
			 * when the text up to the next quote decodes, it is the string
			 * the scanner would have read, and need not be scanned first.
			 */
			if (js_peek_string(s, &data))
			{
				char	   *payload = palloc(data.len / 4 * 3 + 4);
				int			len = js_base64_decode(data.start, data.len, payload);

				if (len >= 0)
				{
					js_take_plain_string(s, &data);
					m->payload = payload;
					m->payload_len = len;
					continue;
				}
				pfree(payload);
			}
			type = js_value(s, &data);
			if (type != JT_STRING || data.escaped)
			{
				m->verdict.reason = DL_BAD_ENCODING;
				m->verdict.detail = pstrdup("The message data is not a base64 string.");
				m->payload = pstrdup("");	/* a dead letter with no payload */
				m->payload_len = 0;
				js_finish(s, type);
				continue;
			}
			m->payload = palloc(data.len / 4 * 3 + 4);
			m->payload_len = js_base64_decode(data.start, data.len, m->payload);
			if (m->payload_len < 0)
			{
				m->verdict.reason = DL_BAD_ENCODING;
				m->verdict.detail = pstrdup("The message data is not valid base64.");
				m->payload_len = 0;
			}
		}
		else if (js_string_is(&key, "messageId"))
			m->message_id = string_copy(s, scratch, &m->message_id_json,
										&m->message_id_json_len);
		else if (js_string_is(&key, "publishTime"))
		{
			JsToken	pt;

			JsTokenKind type = js_value(s, &pt);

			/* parsed where it lies, unless escapes make a copy necessary */
			if (type != JT_STRING)
			{
				js_finish(s, type);
				m->publish_time = 0;
			}
			else if (pt.escaped)
			{
				char	   *text = js_string_value(&pt, scratch);

				if (!parse_timestamp(text, strlen(text), &m->publish_time))
					m->publish_time = 0;
			}
			else if (!parse_timestamp(pt.start, pt.len, &m->publish_time))
				m->publish_time = 0;
		}
		else if (js_string_is(&key, "attributes"))
		{
			const char *span;
			size_t		len;

			if (js_skip(s, &span, &len) && len > 0 && span[0] == '{')
				m->attributes = pnstrdup(span, len);
		}
		else
			js_skip(s, NULL, NULL);
	}
}

/* Read the configuration file again, as asked by SIGHUP. */
static void
reload_config_file(void)
{
	ConfigReloadPending = false;
	ProcessConfigFile(PGC_SIGHUP);
	config_reloaded = true;
	ereport(DEBUG1,
			(errmsg_internal("bqstream pipeline \"%s\" worker reloaded its configuration",
							 pipeline_slot->pipeline)));
}

/* the time allowed for one attempt of a pull */
static int
pull_timeout_ms(void)
{
	return Max(gcp_http_timeout_ms, PULL_TIMEOUT_MS);
}

/*
 * Run a pull to its end, serving reloads while Pub/Sub holds it: an idle
 * subscription's pull is held for about 90 s, longer than other calls
 * should wait.  A cancel or SIGTERM is served inside gcp_http_wait() as
 * anywhere else.
 */
static GcpHttpCall *
run_pull(GcpHttpRequest *req)
{
	GcpHttpCall *call;

	req->attempt_timeout_ms = pull_timeout_ms();
	/* the usual time for retries, after one whole hold */
	req->deadline_ms = pull_timeout_ms() + gcp_http_deadline_ms;
	call = gcp_http_start(req);
	while (!gcp_http_finished(call))
	{
		gcp_http_wait(-1);
		if (ConfigReloadPending)
			reload_config_file();
	}
	return call;
}

/*
 * Whether a failed pull ran out of its time without an answer: an idle
 * subscription behind a server that holds pulls even longer, or a
 * connection dropped silently on the way.  The next pull is the answer to
 * either, with nothing to report or to back off from.
 */
static bool
pull_timed_out(const GcpHttpResult *res, TimestampTz started, int timeout_ms)
{
	return res->status == 0 && res->transport_error != NULL &&
		strstr(res->transport_error, "timed out") != NULL &&
		TimestampDifferenceExceeds(started, GetCurrentTimestamp(), timeout_ms);
}

/*
 * Messages asked for by a pull: batch_size, unless answers came back larger
 * than bqstream.max_response_size.  Pub/Sub messages may hold 10 MB each,
 * so a full batch of large ones can pass any sensible limit: the worker
 * then asks for half as many, down to one, and for twice as many again
 * after an answer that took less than half the limit.  The messages of an
 * answer cut off come back once their lease expires.
 */
static int	pull_ask = 0;

/*
 * Pull a batch.  The response is walked with the scanner rather than parsed
 * into a tree: at a thousand messages a pull, that is most of a worker's CPU
 * saved.
 */
static int
pull(PipelineConfig *cfg, Message **messages)
{
	char	   *body;
	GcpHttpRequest req;
	GcpHttpCall *call;
	const GcpHttpResult *res;
	TimestampTz started = GetCurrentTimestamp();
	int			timeout_ms = pull_timeout_ms();
	JsonScan	s;
	JsToken	tok;
	JsToken	key;
	JsTokenKind root;
	bool		first = true;
	bool		too_many = false;
	int			n = 0;
	int			ask = pull_ask > 0 ? Min(pull_ask, cfg->batch_size) : cfg->batch_size;
	StringInfoData scratch;

	set_state(WS_PULLING, "pulling");
	for (;;)
	{
		body = psprintf("{\"maxMessages\":%d,\"returnImmediately\":false}", ask);
		gcp_request_init(&req, cfg->srv, GCP_PUBSUB, "POST", cfg->pull_url, body, strlen(body));
		call = run_pull(&req);
		res = gcp_http_result(call);
		if (res->attempts > 1)
			count(&pipeline_slot->retries, res->attempts - 1);
		if (res->oversize == GCP_HTTP_SIZE_OK || ask == 1)
			break;
		ereport(LOG,
				(errmsg_plural("pipeline \"%s\" asks for %d message per pull",
							   "pipeline \"%s\" asks for %d messages per pull",
							   ask / 2, cfg->name, ask / 2),
				 errdetail("Pub/Sub answered a pull of %d messages %s.", ask,
						   gcp_http_oversize_reason(res))));
		gcp_http_free(call);
		ask /= 2;
		pull_ask = ask;
	}
	if (!gcp_http_ok(res) && pull_timed_out(res, started, timeout_ms))
	{
		ereport(DEBUG1,
				(errmsg_internal("bqstream pipeline \"%s\": no answer to a pull from subscription \"%s\" in %d ms, pulling again",
								 cfg->name, cfg->subscription, timeout_ms)));
		gcp_http_free(call);
		*messages = NULL;
		return 0;
	}
	if (pull_ask > 0 && gcp_http_ok(res) && res->body_len < res->size_limit / 2)
		pull_ask = ask * 2 >= cfg->batch_size ? 0 : ask * 2;
	if (!gcp_http_ok(res))
		gcp_http_report(res, ERROR, "Pub/Sub",
						psprintf("pull from subscription \"%s\"", cfg->subscription));

	initStringInfo(&scratch);
	*messages = palloc0(sizeof(Message) * ask);
	js_init(&s, res->body, res->body_len);
	root = js_value(&s, &tok);
	if (root != JT_OBJECT)
		js_finish(&s, root);
	else
	{
		while (js_object_next(&s, &key, &first))
		{
			bool		first_msg = true;

			if (!js_string_is(&key, "receivedMessages"))
			{
				js_skip(&s, NULL, NULL);
				continue;
			}
			if (js_value(&s, &tok) != JT_ARRAY)
				break;
			while (js_array_next(&s, &first_msg))
			{
				Message    *m;
				bool		first_member = true;

				/* Pub/Sub never sends more: what is in memory stays bounded */
				if (n == ask)
				{
					too_many = true;
					break;
				}
				m = &(*messages)[n];
				m->verdict.reason = -1;
				if (js_value(&s, &tok) != JT_OBJECT)
					break;
				while (js_object_next(&s, &key, &first_member))
				{
					if (js_string_is(&key, "ackId"))
						m->ack_id = string_copy(&s, &scratch, &m->ack_id_json,
												&m->ack_id_json_len);
					else if (js_string_is(&key, "message"))
					{
						JsTokenKind type = js_value(&s, &tok);

						if (type == JT_OBJECT)
							parse_pubsub_message(&s, m, &scratch);
						else
							js_finish(&s, type);
					}
					else if (js_string_is(&key, "deliveryAttempt"))
					{
						JsTokenKind type = js_value(&s, &tok);

						if (type == JT_NUMBER && !(tok.len == 1 && tok.start[0] <= '1'))
							count(&pipeline_slot->redelivered, 1);
						js_finish(&s, type);
					}
					else
						js_skip(&s, NULL, NULL);
				}
				/* without these there is nothing to ack it with: it comes back */
				if (m->ack_id == NULL || m->message_id == NULL)
				{
					memset(m, 0, sizeof(Message));
					continue;
				}
				if (m->payload == NULL && m->verdict.reason < 0)
				{
					m->payload = pstrdup("");
					m->payload_len = 0;
				}
				n++;
			}
			if (too_many)
				break;
		}
	}
	if (too_many)
	{
		gcp_http_free(call);
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("could not pull from subscription \"%s\"", cfg->subscription),
				 errdetail("Pub/Sub answered with more than the %d messages asked for.", ask)));
	}
	if (js_at_end(&s) && root != JT_OBJECT)
		s.error = "not an object";
	if (s.error)
	{
		char	   *why = pstrdup(s.error);
		int			at = js_error_offset(&s, res->body);

		gcp_http_free(call);
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("could not pull from subscription \"%s\"", cfg->subscription),
				 errdetail("Pub/Sub answered with a body that is not valid JSON: %s at byte %d.", why, at)));
	}
	gcp_http_free(call);
	return n;
}

/* {"ackIds":[...]} of the messages stored (or not yet stored), and the count */
static int
ack_ids_body(StringInfo body, Message *msgs, int n, bool stored, const char *extra)
{
	int			ids = 0;
	size_t		need = 0;

	/* room for all of it at once (a thousand IDs are ~100 kB) */
	for (int i = 0; i < n; i++)
		if (msgs[i].stored == stored && msgs[i].ack_id != NULL)
			need += msgs[i].ack_id_json_len + 1;
	appendStringInfoString(body, "{\"ackIds\":[");
	enlargeStringInfo(body, (int) Min(need, MaxAllocSize));
	for (int i = 0; i < n; i++)
	{
		if (msgs[i].stored != stored || msgs[i].ack_id == NULL)
			continue;
		if (ids++ > 0)
			append_reserved(body, ",", 1);
		append_reserved(body, msgs[i].ack_id_json, msgs[i].ack_id_json_len);
	}
	appendStringInfo(body, "]%s}", extra ? extra : "");
	return ids;
}

/*
 * Set the ack deadline of the batch's unstored messages to our lease.  A
 * failure is no error: at worst the messages are redelivered later, and
 * de-duplicated by insertId if that is within BigQuery's window.
 */
static void
renew_leases(PipelineConfig *cfg)
{
	StringInfoData body;
	GcpHttpRequest req;
	GcpHttpCall *call;
	int			ids;

	initStringInfo(&body);
	ids = ack_ids_body(&body, batch_msgs, batch_len, false,
					   psprintf(",\"ackDeadlineSeconds\":%d", cfg->lease_s));
	if (ids == 0)
		return;
	gcp_request_init(&req, cfg->srv, GCP_PUBSUB, "POST", cfg->modack_url, body.data, body.len);
	req.deadline_ms = cfg->lease_s * 1000 / 4;
	call = gcp_http_run(&req);
	if (gcp_http_ok(gcp_http_result(call)))
		batch_leased_at = GetCurrentTimestamp();
	else
		gcp_http_report(gcp_http_result(call), LOG, "Pub/Sub",
						psprintf("extend the ack deadline of %d messages", ids));
	gcp_http_free(call);
}

/*
 * While a batch takes longer than half its lease (BigQuery slow or
 * retrying), extend it, so that Pub/Sub does not hand the messages to
 * another worker meanwhile.
 */
static void
extend_leases(PipelineConfig *cfg)
{
	if (GetCurrentTimestamp() - batch_leased_at >= (int64) cfg->lease_s * USECS_PER_SEC / 2)
		renew_leases(cfg);
}

/* Send rows [from, to) that passed validation; mark the ones BigQuery took. */
static void
insert_chunk(PipelineConfig *cfg, Message *msgs, int *rows, int nrows)
{
	StringInfoData body;
	json_t	   *resp;
	BqInsertError *errors;
	int			nerrors;
	bool	   *refused = palloc0(sizeof(bool) * nrows);
	size_t		need = 0;

	initStringInfo(&body);
	/*
	 * The body's size is known: one allocation rather than a doubling
	 * series, and plain copies into it.  Too large a body fails in
	 * enlargeStringInfo() as it would have while appending.
	 */
	for (int r = 0; r < nrows; r++)
		need += msgs[rows[r]].message_id_json_len + msgs[rows[r]].payload_len + 24;
	appendStringInfoString(&body, INSERT_BODY_START);
	enlargeStringInfo(&body, (int) Min(need, MaxAllocSize));
	for (int r = 0; r < nrows; r++)
	{
		Message    *m = &msgs[rows[r]];

		if (r > 0)
			append_reserved(&body, ",", 1);
		append_reserved(&body, "{\"insertId\":", 12);
		append_reserved(&body, m->message_id_json, m->message_id_json_len);
		append_reserved(&body, ",\"json\":", 8);
		/* validated JSON: spliced as it came */
		append_reserved(&body, m->payload, m->payload_len);
		append_reserved(&body, "}", 1);
	}
	appendStringInfoString(&body, INSERT_BODY_END);

	{
		GcpHttpRequest req;
		GcpHttpCall *call;
		const GcpHttpResult *res;

		gcp_request_init(&req, cfg->srv, GCP_BIGQUERY, "POST", cfg->insert_url,
						 body.data, body.len);
		call = gcp_http_start(&req);
		while (!gcp_http_finished(call))
		{
			gcp_http_wait(1000);
			extend_leases(cfg);
		}
		res = gcp_http_result(call);
		if (res->attempts > 1)
			count(&pipeline_slot->retries, res->attempts - 1);
		if (!gcp_http_ok(res))
			gcp_http_report(res, ERROR, "BigQuery",
							psprintf("stream rows into table \"%s.%s\"", cfg->dataset, cfg->table));
		resp = gcp_json_track(gcp_http_parse_json(res->body, res->body_len, "BigQuery",
												  psprintf("stream rows into table \"%s.%s\"",
														   cfg->dataset, cfg->table),
												  NULL));
		gcp_http_free(call);
	}
	if (resp == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("could not stream rows into table \"%s.%s\"", cfg->dataset, cfg->table),
				 errdetail("BigQuery answered with a body that is not JSON.")));

	nerrors = bq_insert_errors(resp, nrows, &errors);
	for (int k = 0; k < nerrors; k++)
	{
		int			r = errors[k].row;

		refused[r] = true;
		/* a row at fault becomes a dead letter; the others are sent again */
		if (bq_insert_error_is_row_fault(&errors[k]))
			msgs[rows[r]].bq_error = psprintf("%s: %s",
											  errors[k].reason ? errors[k].reason : "invalid",
											  errors[k].message ? errors[k].message : "");
		else
			msgs[rows[r]].retry_reason = pstrdup(errors[k].reason);
	}

	for (int r = 0; r < nrows; r++)
	{
		Message    *m = &msgs[rows[r]];

		if (refused[r])
			continue;
		m->stored = true;
	}
}

/* the bytes a row takes in an insertAll body, its separating comma included */
static inline size_t
insert_row_bytes(const Message *m)
{
	return strlen("{\"insertId\":,\"json\":},") + m->message_id_json_len + m->payload_len;
}

/*
 * Stream rows (indexes into msgs) in chunks of at most INSERT_CHUNK_ROWS
 * rows and INSERT_MAX_BYTES bytes.  A row that does not fit in a request
 * alone can never be stored: it is refused here, as a dead letter.
 */
static void
insert_rows(PipelineConfig *cfg, Message *msgs, int *rows, int nrows)
{
	const size_t frame = strlen(INSERT_BODY_START) + strlen(INSERT_BODY_END);
	int		   *chunk = palloc(sizeof(int) * Min(nrows, INSERT_CHUNK_ROWS));
	int			nchunk = 0;
	size_t		bytes = frame;

	for (int r = 0; r < nrows; r++)
	{
		Message    *m = &msgs[rows[r]];
		size_t		row_bytes = insert_row_bytes(m);

		if (frame + row_bytes > INSERT_MAX_BYTES)
		{
			m->bq_error = psprintf("too large: The row takes %zu bytes in an insertAll request, "
								   "which BigQuery takes at most %d bytes in.",
								   frame + row_bytes - 1, INSERT_MAX_BYTES);
			continue;
		}
		if (nchunk == INSERT_CHUNK_ROWS || bytes + row_bytes > INSERT_MAX_BYTES)
		{
			insert_chunk(cfg, msgs, chunk, nchunk);
			nchunk = 0;
			bytes = frame;
		}
		chunk[nchunk++] = rows[r];
		bytes += row_bytes;
	}
	if (nchunk > 0)
		insert_chunk(cfg, msgs, chunk, nchunk);
	pfree(chunk);
}

/*
 * Wait ms milliseconds while keeping the batch's leases, serving
 * interrupts.
 */
static void
wait_holding_leases(PipelineConfig *cfg, long ms)
{
	TimestampTz until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), ms);

	for (;;)
	{
		long		left = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), until);

		if (left <= 0)
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Min(left, 1000), PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		extend_leases(cfg);
	}
}

void
pipeline_wait_holding_leases(PipelineConfig *cfg, long ms)
{
	wait_holding_leases(cfg, ms);
}

void
pipeline_extend_leases_tick(void *cfg)
{
	extend_leases((PipelineConfig *) cfg);
}

/*
 * Send again, with backoff, the rows BigQuery refused for reasons not
 * their own (a "timeout" or "backendError" of single rows in an answer
 * that is otherwise a success), as Google's clients retry a request that
 * failed that way: the same insertId makes a row that was stored after
 * all count once.  They are never dead letters, and are not acknowledged
 * before they are stored.  Returns how many are still not stored after
 * bqstream.http_retry_deadline; *reason is then the last refusal's reason.
 */
static int
retry_refused_rows(PipelineConfig *cfg, Message *msgs, int *rows, int nrows,
				   const char **reason)
{
	int		   *again = palloc(sizeof(int) * Max(nrows, 1));
	TimestampTz started = GetCurrentTimestamp();
	long		delay = BACKOFF_MIN_MS;

	for (;;)
	{
		int			nagain = 0;

		for (int r = 0; r < nrows; r++)
		{
			Message    *m = &msgs[rows[r]];

			if (m->retry_reason == NULL)
				continue;
			*reason = m->retry_reason;
			m->retry_reason = NULL;
			again[nagain++] = rows[r];
		}
		if (nagain == 0)
			return 0;
		if (TimestampDifferenceExceeds(started, GetCurrentTimestamp(), gcp_http_deadline_ms))
		{
			/* marked again for the caller: still not stored */
			for (int r = 0; r < nagain; r++)
				msgs[again[r]].retry_reason = (char *) *reason;
			return nagain;
		}
		count(&pipeline_slot->retries, 1);
		ereport(DEBUG1,
				(errmsg_internal("bqstream pipeline \"%s\": BigQuery refused %d rows with reason \"%s\", sending them again in %ld ms",
								 cfg->name, nagain, *reason, delay)));
		wait_holding_leases(cfg, delay);
		delay = Min(delay * 2, BACKOFF_MAX_MS / 4);
		insert_rows(cfg, msgs, again, nagain);
		rows = again;
		nrows = nagain;
		again = palloc(sizeof(int) * nagain);
	}
}

/*
 * Count a latency into hist, the batch's own histogram: bucket b holds
 * latencies below 2^b ms (and at least 2^(b-1)), the last one all longer.
 * The batch adds it to the shared one at the end, a few atomic additions
 * instead of one per message.
 */
static void
record_latency(uint64 *hist, TimestampTz publish_time, TimestampTz now)
{
	int64		ms;
	int			bucket = 0;

	if (publish_time == 0)
		return;
	ms = (now - publish_time) / 1000;
	if (ms > 0)
		bucket = Min(pg_leftmost_one_pos64((uint64) ms) + 1, LATENCY_BUCKETS - 1);
	hist[bucket]++;
}

static void
count_throughput(uint64 n)
{
	uint64		sec = (uint64) (GetCurrentTimestamp() / USECS_PER_SEC);
	int			i = (int) (sec % THROUGHPUT_SECONDS);

	if (pg_atomic_read_u64(&pipeline_slot->per_second_stamp[i]) != sec)
	{
		pg_atomic_write_u64(&pipeline_slot->per_second[i], 0);
		pg_atomic_write_u64(&pipeline_slot->per_second_stamp[i], sec);
	}
	count(&pipeline_slot->per_second[i], n);
}

/*
 * Commit the dead letters of the batch; after this they may be acked.  They
 * are written as the catalog's owner (the worker's role may only read its
 * own) and belong to the worker's role, the pipeline's owner: the foreign
 * key refuses them if the pipeline changed owner meanwhile.
 */
static void
store_dead_letters(PipelineConfig *cfg, Message *msgs, int n)
{
	/* with the owner column (0.2), and without it while 0.1 is installed */
	static SPIPlanPtr plans[2] = {NULL, NULL};
	Oid			types[8] = {TEXTOID, TEXTOID, TIMESTAMPTZOID, JSONBOID, BYTEAOID, TEXTOID, TEXTOID,
	REGROLEOID};
	int			stored = 0;
	bool		any = false;
	bool		with_owner;
	WorkerTransaction xact;
	PipelineCatalogUser save;

	for (int i = 0; i < n && !any; i++)
		any = msgs[i].verdict.reason >= 0 || msgs[i].bq_error != NULL;
	if (!any)
		return;

	worker_transaction_begin(&xact, NULL);
	with_owner = get_attnum(pipeline_catalog_relid("dead_letters"), "owner") != InvalidAttrNumber;
	/* an error on the way is undone by the worker's AbortOutOfAnyTransaction() */
	pipeline_catalog_user_push(&save);
	if (plans[with_owner] == NULL)
	{
		/* a redelivery after a crash before the ack finds its row stored */
		plans[with_owner] =
			SPI_prepare(with_owner ?
						"INSERT INTO bqstream.dead_letters (pipeline, message_id, publish_time, "
						"attributes, payload, reason, detail, owner) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
						"ON CONFLICT (pipeline, message_id) DO NOTHING" :
						"INSERT INTO bqstream.dead_letters (pipeline, message_id, publish_time, "
						"attributes, payload, reason, detail) VALUES ($1, $2, $3, $4, $5, $6, $7) "
						"ON CONFLICT (pipeline, message_id) DO NOTHING",
						with_owner ? 8 : 7, types);
		if (plans[with_owner] == NULL || SPI_keepplan(plans[with_owner]) != 0)
			elog(ERROR, "could not prepare the dead-letter insert");
	}
	for (int i = 0; i < n; i++)
	{
		Message    *m = &msgs[i];
		Datum		values[8];
		char		nulls[8] = "        ";
		bytea	   *payload;
		int			reason;

		if (m->verdict.reason < 0 && m->bq_error == NULL)
			continue;
		reason = m->verdict.reason >= 0 ? m->verdict.reason : DL_BIGQUERY_REJECTED;
		payload = palloc(VARHDRSZ + m->payload_len);
		SET_VARSIZE(payload, VARHDRSZ + m->payload_len);
		memcpy(VARDATA(payload), m->payload, m->payload_len);

		values[0] = CStringGetTextDatum(cfg->name);
		values[1] = CStringGetTextDatum(m->message_id);
		values[2] = TimestampTzGetDatum(m->publish_time);
		if (m->publish_time == 0)
			nulls[2] = 'n';
		if (m->attributes)
			values[3] = DirectFunctionCall1(jsonb_in, CStringGetDatum(m->attributes));
		else
			nulls[3] = 'n';
		values[4] = PointerGetDatum(payload);
		values[5] = CStringGetTextDatum(dead_letter_reason_names[reason]);
		values[6] = CStringGetTextDatum(m->verdict.reason >= 0 ? m->verdict.detail : m->bq_error);
		values[7] = ObjectIdGetDatum(pipeline_worker_owner);
		if (SPI_execute_plan(plans[with_owner], values, nulls, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not store a dead letter");
		/* counted even when already stored: like inserted, per delivery */
		count(&pipeline_slot->dead_by_reason[reason], 1);
		m->stored = true;
		stored++;
	}
	pipeline_catalog_user_pop(&save);
	worker_transaction_commit(&xact);
	count(&pipeline_slot->dead_lettered, stored);
}

/*
 * The ack IDs a subscription with exactly-once delivery failed, from its
 * answer to a partly failed acknowledge: HTTP 400 with a google.rpc.ErrorInfo
 * of reason EXACTLY_ONCE_ACKID_FAILURE in error.details, whose metadata maps
 * each failed ack ID to PERMANENT_FAILURE_INVALID_ACK_ID (the lease ran out:
 * the message comes back) or TRANSIENT_FAILURE_* (worth another try).  The
 * ack IDs not named there were acknowledged.  NULL for any other answer.
 */
static json_t *
exactly_once_failures(const GcpHttpResult *res)
{
	json_t	   *body;
	json_t	   *detail;
	size_t		i;

	if (res->status != 400)
		return NULL;
	body = gcp_json_track(gcp_http_parse_json_quiet(res->body, res->body_len));
	json_array_foreach(json_object_get(json_object_get(body, "error"), "details"), i, detail)
	{
		const char *reason = json_string_value(json_object_get(detail, "reason"));
		json_t	   *metadata = json_object_get(detail, "metadata");

		if (reason && strcmp(reason, "EXACTLY_ONCE_ACKID_FAILURE") == 0 &&
			json_is_object(metadata))
			return metadata;
	}
	return NULL;
}

/*
 * Mark the stored messages of an acknowledge as confirmed, but those whose
 * ack IDs Pub/Sub named as failed.  Each try of the acknowledge asks for
 * the ones not confirmed yet, so marking is cumulative.
 */
static void
confirm_acks(Message *msgs, int n, json_t *failed)
{
	for (int i = 0; i < n; i++)
		if (msgs[i].stored && msgs[i].ack_id != NULL &&
			(failed == NULL || json_object_get(failed, msgs[i].ack_id) == NULL))
			msgs[i].ack_confirmed = true;
}

/*
 * Acknowledge the messages stored.  On a subscription with exactly-once
 * delivery, an answer that names failed ack IDs is no failure of the
 * batch: the others were acknowledged, the transient failures are tried
 * again, and the invalid ones (a lease that ran out) are only logged, since
 * their messages come back and BigQuery drops the rows again through their
 * insertId, or the dead-letter insert finds them stored.
 */
static void
acknowledge(PipelineConfig *cfg, Message *msgs, int n)
{
	StringInfoData body;
	GcpHttpRequest req;
	GcpHttpCall *call;
	int			nacks;
	int			invalid = 0;

	initStringInfo(&body);
	nacks = ack_ids_body(&body, msgs, n, true, NULL);
	if (nacks == 0)
		return;
	for (int attempt = 1;; attempt++)
	{
		const GcpHttpResult *res;
		json_t	   *failed;
		const char *ack_id;
		json_t	   *code;
		int			transient = 0;

		gcp_request_init(&req, cfg->srv, GCP_PUBSUB, "POST", cfg->ack_url, body.data, body.len);
		call = gcp_http_run(&req);
		res = gcp_http_result(call);
		if (gcp_http_ok(res))
		{
			gcp_http_free(call);
			confirm_acks(msgs, n, NULL);
			break;
		}
		failed = cfg->exactly_once ? exactly_once_failures(res) : NULL;
		if (failed == NULL)
			gcp_http_report(res, ERROR, "Pub/Sub",
							psprintf("acknowledge messages of subscription \"%s\"", cfg->subscription));
		gcp_http_free(call);

		confirm_acks(msgs, n, failed);
		/* the transient failures are asked again, the others are done */
		resetStringInfo(&body);
		appendStringInfoString(&body, "{\"ackIds\":[");
		json_object_foreach(failed, ack_id, code)
		{
			const char *what = json_string_value(code);

			if (what && strncmp(what, "TRANSIENT_", 10) == 0 && attempt < ACK_ATTEMPTS)
			{
				if (transient++ > 0)
					appendStringInfoChar(&body, ',');
				escape_json(&body, ack_id);
			}
			else
				invalid++;
		}
		appendStringInfoString(&body, "]}");
		if (transient == 0)
			break;
		ereport(DEBUG1,
				(errmsg_internal("bqstream pipeline \"%s\": %d acknowledgements failed transiently, trying again",
								 cfg->name, transient)));
		wait_holding_leases(cfg, BACKOFF_MIN_MS / 10 << (attempt - 1));
	}
	if (invalid > 0)
		ereport(LOG,
				(errmsg_plural("pipeline \"%s\" could not acknowledge %d message of subscription \"%s\"",
							   "pipeline \"%s\" could not acknowledge %d messages of subscription \"%s\"",
							   invalid, cfg->name, invalid, cfg->subscription),
				 errdetail("Pub/Sub refused their ack IDs (exactly-once delivery): their leases ran out or the failure persisted."),
				 errhint("The messages are delivered again; their rows are not stored twice, through their insertId.")));
	count(&pipeline_slot->acked, nacks - invalid);
}

static void
run_batch(PipelineConfig *cfg)
{
	Message    *msgs = NULL;
	int			n;
	int		   *rows;
	int			nrows = 0;
	TimestampTz now = GetCurrentTimestamp();
	uint64		late = 0;
	uint64		inserted = 0;
	uint64		hist[LATENCY_BUCKETS] = {0};
	int			unstored = 0;
	const char *unstored_reason = NULL;

	/*
	 * Nothing is leased until the pull: the last batch's messages went with
	 * its memory, and the replays below extend leases while they wait.
	 */
	batch_msgs = NULL;
	batch_len = 0;

	/*
	 * Appends of an exactly_once pipeline that may not have landed (this
	 * worker's before an error or a crash, or a dead worker's) are sent
	 * again before anything new: also in another mode, after a change.
	 */
	if (cfg->has_write_streams)
		exactly_once_recover(cfg);

	n = pull(cfg, &msgs);
	if (n == 0)
	{
		count(&pipeline_slot->empty_pulls, 1);
		return;
	}
	/* full pulls mean a backlog: the launcher adds workers on them */
	if (n >= cfg->batch_size)
		count(&pipeline_slot->full_pulls, 1);
	count(&pipeline_slot->received, n);
	count(&pipeline_slot->batches, 1);
	batch_msgs = msgs;
	batch_len = n;
	batch_leased_at = now;
	/*
	 * A subscription's longer deadline would delay redelivery past the
	 * window; one with exactly-once delivery gets the longer lease it needs.
	 */
	if (cfg->set_lease)
		renew_leases(cfg);

	rows = palloc(sizeof(int) * n);
	for (int i = 0; i < n; i++)
	{
		Message    *m = &msgs[i];

		if (m->verdict.reason < 0)
			validate_payload(cfg->schema, &cfg->rules, m->payload, m->payload_len, now, &m->verdict);
		if (m->verdict.reason >= 0)
			continue;
		if (m->publish_time != 0 && m->verdict.event_time != 0 &&
			m->publish_time - m->verdict.event_time > cfg->max_lateness_us)
			late++;
		rows[nrows++] = i;
	}

	set_state(WS_INSERTING, "inserting");
	switch (cfg->write_mode)
	{
		case WRITE_INSERT_ALL:
			insert_rows(cfg, msgs, rows, nrows);
			unstored = retry_refused_rows(cfg, msgs, rows, nrows, &unstored_reason);
			break;
		case WRITE_DEFAULT_STREAM:
			unstored = default_stream_write(cfg, msgs, rows, nrows, &unstored_reason);
			break;
		case WRITE_EXACTLY_ONCE:
			unstored = exactly_once_write(cfg, msgs, rows, nrows, &unstored_reason);
			break;
	}

	now = GetCurrentTimestamp();
	for (int r = 0; r < nrows; r++)
		if (msgs[rows[r]].stored)
		{
			record_latency(hist, msgs[rows[r]].publish_time, now);
			inserted++;
		}
	for (int b = 0; b < LATENCY_BUCKETS; b++)
		count(&pipeline_slot->latency_hist[b], hist[b]);
	count(&pipeline_slot->inserted, inserted);
	count(&pipeline_slot->late, late);
	count_throughput(inserted);

	store_dead_letters(cfg, msgs, n);
	acknowledge(cfg, msgs, n);
	if (cfg->write_mode == WRITE_EXACTLY_ONCE)
		exactly_once_acknowledged(cfg, msgs, n);

	/* what is left comes back after its lease: the batch counts as failed */
	if (unstored > 0)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg_plural("could not stream %d row into table \"%s.%s\"",
							   "could not stream %d rows into table \"%s.%s\"",
							   unstored, unstored, cfg->dataset, cfg->table),
				 cfg->write_mode == WRITE_INSERT_ALL ?
				 errdetail("BigQuery refused them with reason \"%s\" until the retry deadline of %d ms.",
						   unstored_reason, gcp_http_deadline_ms) :
				 errdetail("%s", unstored_reason),
				 errhint("They are left unacknowledged, so Pub/Sub delivers them again.")));
}

/* ---------------------------------------------------------------------
 * main
 * ---------------------------------------------------------------------
 */

static void
backoff(long ms)
{
	set_state(WS_BACKING_OFF, "backing off after an error");
	(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					 ms, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();
}

static void
worker_detach(int code, Datum arg)
{
	pg_atomic_write_u32(&pipeline_slot->state, WS_STOPPED);
	pipeline_slot->latch = NULL;
	pipeline_slot->pid = 0;
}

void
bqstream_pipeline_main(Datum arg)
{
	int			slotno = DatumGetInt32(arg);
	MemoryContext worker_cxt;
	MemoryContext batch_cxt;
	MemoryContext config_cxt;
	PipelineConfig *cfg = NULL;
	long		delay = 0;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

#ifdef __GLIBC__

	/*
	 * Every batch allocates the same few megabytes (messages, payloads,
	 * request bodies of some hundred kB, libcurl's buffers) and frees them
	 * when its context is reset.  With glibc's defaults the large ones are
	 * mmap'd and unmapped each time, and the top of the heap is given back
	 * to the kernel, so the next batch takes a page fault for every 4 kB
	 * again: measured, page faults, brk and munmap were a quarter of the
	 * worker's CPU.  This process does nothing but batches: let it keep
	 * what it freed (its size stays at that of its largest batch).
	 */
	mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
	mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
#endif

	pipeline_shmem_attach();
	pipeline_slot = &pipeline_shared->slots[slotno];
	BackgroundWorkerInitializeConnectionByOid(pipeline_slot->database, pipeline_slot->owner, 0);
	pipeline_worker_owner = GetUserId();
	pgstat_report_appname(psprintf("bqstream pipeline %s", pipeline_slot->pipeline));

	pipeline_slot->pid = MyProcPid;
	pipeline_slot->latch = MyLatch;
	before_shmem_exit(worker_detach, (Datum) 0);
	pipeline_slot->started_at = GetCurrentTimestamp();
	set_state(WS_STARTING, "starting");

	worker_cxt = AllocSetContextCreate(TopMemoryContext, "bqstream pipeline",
									   ALLOCSET_DEFAULT_SIZES);
	batch_cxt = AllocSetContextCreate(worker_cxt, "bqstream batch",
									  ALLOCSET_DEFAULT_SIZES);
	config_cxt = AllocSetContextCreate(worker_cxt, "bqstream pipeline configuration",
									   ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		CHECK_FOR_INTERRUPTS();

		/*
		 * A background worker's table statistics reach the shared ones only
		 * when it says so: without this, autovacuum would never see the dead
		 * letters it writes.  At most once a second, between batches.
		 */
		pgstat_report_stat(false);
		if (ConfigReloadPending)
			reload_config_file();
		if (config_reloaded)
		{
			config_reloaded = false;
			cfg = NULL;			/* re-read the pipeline too */
		}
		if (pipeline_slot->stop_requested)
			break;
		if (pipeline_slot->reload_requested)
		{
			pipeline_slot->reload_requested = false;
			cfg = NULL;
		}

		PG_TRY();
		{
			if (cfg == NULL ||
				GetCurrentTimestamp() - cfg->loaded_at > CONFIG_REFRESH_S * USECS_PER_SEC)
			{
				/* the connections use the server of the configuration going */
				storage_write_reset();
				MemoryContextReset(config_cxt);
				cfg = MemoryContextAllocZero(config_cxt, sizeof(PipelineConfig));
				if (!load_config(cfg, config_cxt))
				{
					ereport(LOG,
							(errmsg("bqstream pipeline \"%s\" is stopped or dropped; worker %d exits",
									pipeline_slot->pipeline, pipeline_slot->worker_no)));
					set_state(WS_STOPPED, "stopped");
					proc_exit(0);
				}
			}
			MemoryContextSwitchTo(batch_cxt);
			run_batch(cfg);
			delay = 0;
		}
		PG_CATCH();
		{
			ErrorData  *edata;

			MemoryContextSwitchTo(worker_cxt);
			edata = CopyErrorData();
			EmitErrorReport();
			FlushErrorState();
			AbortOutOfAnyTransaction();
			if (edata->detail)
			{
				char	   *text = psprintf("%s: %s", edata->message, edata->detail);

				worker_slot_set_error(pipeline_slot, text);
				pfree(text);
			}
			else
				worker_slot_set_error(pipeline_slot, edata->message);
			FreeErrorData(edata);
			count(&pipeline_slot->retries, 1);
			storage_write_reset();
			cfg = NULL;			/* the table may have changed: read it again */
			delay = delay == 0 ? BACKOFF_MIN_MS : Min(delay * 2, BACKOFF_MAX_MS);
		}
		PG_END_TRY();
		MemoryContextSwitchTo(worker_cxt);
		MemoryContextReset(batch_cxt);
		if (delay > 0)
			backoff(delay);
	}

	set_state(WS_STOPPED, "stopped");
	proc_exit(0);
}
