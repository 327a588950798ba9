/*-------------------------------------------------------------------------
 *
 * publish.c
 *	  bqstream.publish_orders(): generate simulated orders and publish them
 *	  to a Pub/Sub topic, fast or at a given rate, until a count is reached
 *	  or the user cancels.
 *
 * Orders are serialized straight into publish request bodies, batched up to
 * Pub/Sub's limits, and several requests are kept in flight so that the
 * round trip to Pub/Sub does not bound throughput.  A query cancel (Ctrl-C
 * in psql) or a statement timeout stops generating, lets the requests
 * already sent finish, and still returns the counts: in continuous mode
 * that is the normal way to end a run.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "common/pg_prng.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "generator/orders.h"
#include "gcp/pubsub.h"

PG_FUNCTION_INFO_V1(bqstream_publish_orders);

/* room left in a request for one more message: orders are far smaller */
#define BATCH_BYTES_MARGIN	65536

/* failed batches reported one by one; after that only in the totals */
#define MAX_FAILURE_WARNINGS 3

typedef struct Batch
{
	GcpHttpCall *call;			/* NULL when the slot is free */
	StringInfoData body;
	int			count;
	int			malformed;
	int			late;
} Batch;

typedef struct PublishRun
{
	/* parameters */
	int64		limit;			/* -1: until cancelled */
	double		rate;			/* orders per second; 0: as fast as possible */
	int			batch_size;
	int			progress_s;
	TimestampTz fixed_time;		/* event time of on-time orders; 0: now */

	/* state */
	const GcpServer *srv;
	char	   *url;
	char	   *topic;
	OrderGenerator *gen;
	TimestampTz started;
	TimestampTz last_progress;
	int64		generated;
	bool		stopping;
	bool		cancelled;

	/* outcome */
	int64		published;
	int64		failed;
	int64		malformed;
	int64		late;
	int			failure_warnings;
} PublishRun;

static double
seconds_since(TimestampTz start, TimestampTz now)
{
	return (double) (now - start) / USECS_PER_SEC;
}

/* How many orders the run may generate now, given its limit and rate. */
static int64
orders_allowed(PublishRun *run, TimestampTz now)
{
	int64		allowed = run->limit < 0 ? PG_INT64_MAX : run->limit - run->generated;

	if (run->rate > 0)
	{
		int64		due = (int64) (run->rate * seconds_since(run->started, now)) + 1 - run->generated;

		allowed = Min(allowed, due);
	}
	return Max(allowed, 0);
}

/*
 * Smallest batch worth sending: a full one when running flat out; at a
 * rate, what accrues in a tenth of a second, so pacing stays smooth.
 */
static int
min_batch(PublishRun *run)
{
	if (run->rate <= 0)
		return 1;
	return (int) Max(1, Min((double) run->batch_size, run->rate / 10));
}

static void
send_batch(PublishRun *run, Batch *b, int n)
{
	GcpHttpRequest req;
	TimestampTz now = run->fixed_time != 0 ? run->fixed_time : GetCurrentTimestamp();

	resetStringInfo(&b->body);
	b->count = b->malformed = b->late = 0;
	appendStringInfoString(&b->body, "{\"messages\":[");
	while (b->count < n &&
		   b->body.len < PUBSUB_MAX_PUBLISH_BYTES - BATCH_BYTES_MARGIN)
	{
		OrderKind	kind;

		if (b->count > 0)
			appendStringInfoChar(&b->body, ',');
		kind = order_gen_next_message(run->gen, now, &b->body);
		b->count++;
		if (kind == ORDER_MALFORMED)
			b->malformed++;
		else if (kind == ORDER_LATE)
			b->late++;
	}
	appendStringInfoString(&b->body, "]}");
	run->generated += b->count;

	gcp_request_init(&req, run->srv, GCP_PUBSUB, "POST", run->url,
					 b->body.data, b->body.len);
	b->call = gcp_http_start(&req);
}

/* Count a finished batch in; an error that retrying cannot fix ends the run. */
static void
finish_batch(PublishRun *run, Batch *b)
{
	const GcpHttpResult *res = gcp_http_result(b->call);
	char	   *action = psprintf("publish to topic \"%s\"", run->topic);

	if (gcp_http_ok(res))
	{
		json_t	   *resp = gcp_http_parse_json(res->body, res->body_len, "Pub/Sub",
											   action, NULL);
		json_t	   *ids = resp ? json_object_get(resp, "messageIds") : NULL;
		size_t		nids = json_is_array(ids) ? json_array_size(ids) : 0;

		json_decref(resp);
		if (nids != (size_t) b->count)
		{
			gcp_http_free(b->call);
			b->call = NULL;
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
					 errmsg("could not publish to topic \"%s\"", run->topic),
					 errdetail("Pub/Sub acknowledged %zu of the %d messages of a request.",
							   nids, b->count)));
		}
		run->published += b->count;
		run->malformed += b->malformed;
		run->late += b->late;
	}
	else if ((res->status == 0 && res->oversize == GCP_HTTP_SIZE_OK) ||
			 res->status == 408 || res->status == 429 || res->status >= 500)
	{
		/*
		 * transient, but still failing when the retries ran out
		 * (bqstream.http_max_retries, bqstream.http_retry_deadline)
		 */
		run->failed += b->count;
		if (run->failure_warnings++ < MAX_FAILURE_WARNINGS)
			gcp_http_report(res, WARNING, "Pub/Sub", action);
	}
	else
		gcp_http_report(res, ERROR, "Pub/Sub", action);

	gcp_http_free(b->call);
	b->call = NULL;
}

static void
report_progress(PublishRun *run, TimestampTz now)
{
	double		secs = seconds_since(run->started, now);

	ereport(NOTICE,
			(errmsg("published %lld orders in %.0f s (%.0f orders/s), %lld failed",
					(long long) run->published, secs,
					secs > 0 ? run->published / secs : 0.0,
					(long long) run->failed)));
	run->last_progress = now;
}

static void
publish_loop(PublishRun *run, Batch *batches, int nbatches)
{
	for (;;)
	{
		TimestampTz now = GetCurrentTimestamp();
		int			in_flight = 0;
		long		wait_ms = -1;

		/* fill the free slots */
		for (int i = 0; i < nbatches && !run->stopping; i++)
		{
			int64		allowed;
			int64		remaining;

			if (batches[i].call != NULL)
				continue;
			remaining = run->limit < 0 ? PG_INT64_MAX : run->limit - run->generated;
			if (remaining == 0)
				break;
			allowed = orders_allowed(run, now);
			if (allowed == 0 || (allowed < min_batch(run) && allowed < remaining))
			{
				/* wait until the rate allows a worthwhile batch */
				double		missing = min_batch(run) - allowed;

				wait_ms = (long) ceil(missing * 1000.0 / run->rate);
				break;
			}
			send_batch(run, &batches[i], (int) Min(allowed, (int64) run->batch_size));
		}

		for (int i = 0; i < nbatches; i++)
			if (batches[i].call != NULL)
				in_flight++;
		if (in_flight == 0 &&
			(run->stopping || (run->limit >= 0 && run->generated >= run->limit)))
			break;

		if (run->progress_s > 0)
		{
			long		to_progress = (long) (run->progress_s * 1000 -
											  (now - run->last_progress) / 1000);

			if (to_progress <= 0)
			{
				report_progress(run, now);
				to_progress = run->progress_s * 1000L;
			}
			wait_ms = wait_ms < 0 ? to_progress : Min(wait_ms, to_progress);
		}

		gcp_http_wait(wait_ms);

		if (QueryCancelPending && !ProcDiePending && !run->stopping)
		{
			/*
			 * Ctrl-C: stop generating and let the requests already sent
			 * finish, so the counts are exact.  A second Ctrl-C cancels.
			 */
			QueryCancelPending = false;
			run->stopping = true;
			run->cancelled = true;
			gcp_http_catch_cancel = false;
		}

		for (int i = 0; i < nbatches; i++)
			if (batches[i].call != NULL && gcp_http_finished(batches[i].call))
				finish_batch(run, &batches[i]);
	}
}

static double
float_arg(FunctionCallInfo fcinfo, int n, double dflt)
{
	return PG_ARGISNULL(n) ? dflt : PG_GETARG_FLOAT8(n);
}

static int
int_arg(FunctionCallInfo fcinfo, int n, int dflt)
{
	return PG_ARGISNULL(n) ? dflt : PG_GETARG_INT32(n);
}

static void
check_range(const char *name, double value, double min, double max)
{
	if (!(value >= min && value <= max))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be between %g and %g", name, min, max)));
}

/*
 * publish_orders(n, server, topic, rate, malformed_fraction, late_fraction,
 *				  seed, batch_size, max_in_flight, progress_interval, at)
 */
Datum
bqstream_publish_orders(PG_FUNCTION_ARGS)
{
	PublishRun	run;
	OrderGenOptions opts;
	TupleDesc	tupdesc;
	Datum		values[7];
	bool		nulls[7] = {0};
	int			max_in_flight;
	Batch	   *batches;
	MemoryContext run_cxt;
	MemoryContext oldcxt;
	double		secs;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	memset(&run, 0, sizeof(run));
	run.limit = PG_ARGISNULL(0) ? -1 : PG_GETARG_INT64(0);
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("server must not be null")));
	run.topic = PG_ARGISNULL(2) ? "orders" : text_to_cstring(PG_GETARG_TEXT_PP(2));
	run.rate = float_arg(fcinfo, 3, 0);
	run.batch_size = int_arg(fcinfo, 7, PUBSUB_MAX_MESSAGES_PER_PUBLISH);
	max_in_flight = int_arg(fcinfo, 8, 4);
	run.progress_s = int_arg(fcinfo, 9, 10);
	run.fixed_time = PG_ARGISNULL(10) ? 0 : PG_GETARG_TIMESTAMPTZ(10);

	if (run.limit < -1 || (!PG_ARGISNULL(0) && run.limit < 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("number of orders must not be negative"),
				 errhint("Pass NULL to publish until the query is cancelled.")));
	check_range("rate", run.rate, 0, 1e9);
	check_range("batch_size", run.batch_size, 1, PUBSUB_MAX_MESSAGES_PER_PUBLISH);
	check_range("max_in_flight", max_in_flight, 1, 64);
	check_range("progress_interval", run.progress_s, 0, 86400);
	if (run.limit < 0 && run.rate == 0)
		ereport(NOTICE,
				(errmsg("publishing until the query is cancelled")));

	order_gen_default_options(&opts);
	opts.malformed_fraction = float_arg(fcinfo, 4, 0);
	opts.late_fraction = float_arg(fcinfo, 5, 0);
	if (!PG_ARGISNULL(6))
		opts.seed = (uint64) PG_GETARG_INT64(6);
	else
		opts.seed = pg_prng_uint64(&pg_global_prng_state);

	run.srv = gcp_server_lookup(text_to_cstring(PG_GETARG_TEXT_PP(1)));
	pubsub_check_id("topic", run.topic);
	run.url = pubsub_topic_url(run.srv, run.topic, ":publish");

	/* everything of the run, HTTP calls included, dies with this context */
	run_cxt = AllocSetContextCreate(CurrentMemoryContext, "publish_orders",
									ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(run_cxt);
	run.gen = order_gen_create(&opts);
	batches = palloc0(sizeof(Batch) * max_in_flight);
	for (int i = 0; i < max_in_flight; i++)
		initStringInfo(&batches[i].body);

	run.started = run.last_progress = GetCurrentTimestamp();
	gcp_http_catch_cancel = true;
	PG_TRY();
	{
		publish_loop(&run, batches, max_in_flight);
	}
	PG_FINALLY();
	{
		gcp_http_catch_cancel = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(oldcxt);
	MemoryContextDelete(run_cxt);

	secs = seconds_since(run.started, GetCurrentTimestamp());
	if (run.cancelled)
		ereport(NOTICE,
				(errmsg("publish_orders cancelled after %lld orders", (long long) run.published)));

	values[0] = Int64GetDatum(run.published);
	values[1] = Int64GetDatum(run.failed);
	values[2] = Int64GetDatum(run.malformed);
	values[3] = Int64GetDatum(run.late);
	values[4] = Float8GetDatum(secs);
	values[5] = Float8GetDatum(secs > 0 ? run.published / secs : 0);
	values[6] = BoolGetDatum(run.cancelled);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}
