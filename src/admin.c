/*-------------------------------------------------------------------------
 *
 * admin.c
 *	  SQL functions that create and drop the GCP resources of the pipeline:
 *	  topics, subscriptions, the dataset, raw_orders, orders_per_minute, and
 *	  setup_demo() which creates all of them at once.
 *
 * Each function acts on the project of a bqstream_fdw server with the
 * caller's user mapping, and returns whether it changed anything, so that
 * re-running a setup script is harmless.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"

#include "bqstream.h"
#include "gcp/bigquery.h"
#include "gcp/pubsub.h"

PG_FUNCTION_INFO_V1(bqstream_create_topic);
PG_FUNCTION_INFO_V1(bqstream_drop_topic);
PG_FUNCTION_INFO_V1(bqstream_create_subscription);
PG_FUNCTION_INFO_V1(bqstream_drop_subscription);
PG_FUNCTION_INFO_V1(bqstream_create_dataset);
PG_FUNCTION_INFO_V1(bqstream_drop_dataset);
PG_FUNCTION_INFO_V1(bqstream_create_raw_orders_table);
PG_FUNCTION_INFO_V1(bqstream_create_orders_per_minute_view);
PG_FUNCTION_INFO_V1(bqstream_drop_table);
PG_FUNCTION_INFO_V1(bqstream_setup_demo);

/* names of the demo's resources */
#define DEMO_TOPIC				"orders"
#define DEMO_DEAD_LETTER_TOPIC	"orders-dead-letter"
#define DEMO_SUBSCRIPTION		"orders-pipeline"
#define DEMO_DEAD_LETTER_SUB	"orders-dead-letter-archive"
/*
 * Pub/Sub's own default ack deadline.  The workers keep their leases short
 * anyway (see pipeline.c), so a longer deadline would only cost a
 * modifyAckDeadline per batch to shorten it.
 */
#define DEMO_ACK_DEADLINE_S		10
#define DEMO_MAX_DELIVERIES		5
#define RAW_ORDERS				"raw_orders"
#define ORDERS_PER_MINUTE		"orders_per_minute"

static GcpServer *
server_arg(FunctionCallInfo fcinfo)
{
	return gcp_server_lookup(bqstream_text_arg(fcinfo, 0, "server"));
}

/* a dataset argument, defaulting to the server's dataset option when NULL */
static const char *
dataset_arg(FunctionCallInfo fcinfo, int n, const GcpServer *srv)
{
	return PG_ARGISNULL(n) ? srv->dataset : text_to_cstring(PG_GETARG_TEXT_PP(n));
}

/*
 * bqstream.create_topic(server, topic) — create a Pub/Sub topic; false,
 * after a NOTICE, when it already exists.
 */
Datum
bqstream_create_topic(PG_FUNCTION_ARGS)
{
	GcpServer  *srv = server_arg(fcinfo);

	PG_RETURN_BOOL(pubsub_create_topic(srv, bqstream_text_arg(fcinfo, 1, "topic")));
}

/*
 * bqstream.drop_topic(server, topic) — delete a Pub/Sub topic; false,
 * after a NOTICE, when there is none.
 */
Datum
bqstream_drop_topic(PG_FUNCTION_ARGS)
{
	GcpServer  *srv = server_arg(fcinfo);

	PG_RETURN_BOOL(pubsub_delete_topic(srv, bqstream_text_arg(fcinfo, 1, "topic")));
}

/*
 * bqstream.create_subscription(server, subscription, topic, ack deadline,
 * dead-letter topic, maximum delivery attempts) — create a pull
 * subscription, with a dead-letter policy when a dead-letter topic is
 * given; false, after a NOTICE, when it already exists.
 */
Datum
bqstream_create_subscription(PG_FUNCTION_ARGS)
{
	GcpServer  *srv = server_arg(fcinfo);
	char	   *sub = bqstream_text_arg(fcinfo, 1, "subscription");
	char	   *topic = bqstream_text_arg(fcinfo, 2, "topic");
	int			ack_deadline = PG_ARGISNULL(3) ? DEMO_ACK_DEADLINE_S : PG_GETARG_INT32(3);
	char	   *dead_letter = PG_ARGISNULL(4) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(4));
	int			max_attempts = PG_ARGISNULL(5) ? DEMO_MAX_DELIVERIES : PG_GETARG_INT32(5);

	PG_RETURN_BOOL(pubsub_create_subscription(srv, sub, topic, ack_deadline,
											  dead_letter, max_attempts));
}

/*
 * bqstream.drop_subscription(server, subscription) — delete a Pub/Sub
 * subscription; false, after a NOTICE, when there is none.
 */
Datum
bqstream_drop_subscription(PG_FUNCTION_ARGS)
{
	GcpServer  *srv = server_arg(fcinfo);

	PG_RETURN_BOOL(pubsub_delete_subscription(srv, bqstream_text_arg(fcinfo, 1, "subscription")));
}

/*
 * bqstream.create_dataset(server, dataset) — create a BigQuery dataset (the
 * server's dataset option when NULL) in the server's location; false, after
 * a NOTICE, when it already exists.
 */
Datum
bqstream_create_dataset(PG_FUNCTION_ARGS)
{
	GcpServer  *srv = server_arg(fcinfo);

	PG_RETURN_BOOL(bq_create_dataset(srv, dataset_arg(fcinfo, 1, srv)));
}

/*
 * bqstream.drop_dataset(server, dataset, cascade) — delete a BigQuery
 * dataset, with its tables when cascade is true; false, after a NOTICE,
 * when there is none.
 */
Datum
bqstream_drop_dataset(PG_FUNCTION_ARGS)
{
	GcpServer  *srv = server_arg(fcinfo);
	bool		cascade = !PG_ARGISNULL(2) && PG_GETARG_BOOL(2);

	PG_RETURN_BOOL(bq_delete_dataset(srv, dataset_arg(fcinfo, 1, srv), cascade));
}

/*
 * bqstream.create_raw_orders_table(server, table, dataset) — create the
 * BigQuery table the pipelines stream orders into (bq_create_raw_orders);
 * false, after a NOTICE, when it already exists.
 */
Datum
bqstream_create_raw_orders_table(PG_FUNCTION_ARGS)
{
	GcpServer  *srv = server_arg(fcinfo);
	const char *table = PG_ARGISNULL(1) ? RAW_ORDERS : text_to_cstring(PG_GETARG_TEXT_PP(1));

	PG_RETURN_BOOL(bq_create_raw_orders(srv, dataset_arg(fcinfo, 2, srv), table));
}

/*
 * bqstream.create_orders_per_minute_view(server, view, source table,
 * dataset) — create the materialized view of orders and revenue per
 * product and minute over the orders table; false, after a NOTICE, when it
 * already exists.
 */
Datum
bqstream_create_orders_per_minute_view(PG_FUNCTION_ARGS)
{
	GcpServer  *srv = server_arg(fcinfo);
	const char *view = PG_ARGISNULL(1) ? ORDERS_PER_MINUTE : text_to_cstring(PG_GETARG_TEXT_PP(1));
	const char *source = PG_ARGISNULL(2) ? RAW_ORDERS : text_to_cstring(PG_GETARG_TEXT_PP(2));

	PG_RETURN_BOOL(bq_create_orders_per_minute(srv, dataset_arg(fcinfo, 3, srv),
											   view, source));
}

/*
 * bqstream.drop_table(server, table, dataset) — delete a BigQuery table or
 * view; false, after a NOTICE, when there is none.
 */
Datum
bqstream_drop_table(PG_FUNCTION_ARGS)
{
	GcpServer  *srv = server_arg(fcinfo);

	PG_RETURN_BOOL(bq_delete_table(srv, dataset_arg(fcinfo, 2, srv),
								   bqstream_text_arg(fcinfo, 1, "table")));
}

static void
report_step(ReturnSetInfo *rsinfo, const char *kind, const char *name, bool created)
{
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	values[0] = CStringGetTextDatum(kind);
	values[1] = CStringGetTextDatum(name);
	values[2] = BoolGetDatum(created);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * bqstream.setup_demo(server) — create everything the demo's pipeline
 * needs, in dependency order, one row per object saying whether it was
 * created.
 * The dead-letter topic gets a subscription of its own because Pub/Sub
 * drops messages published to a topic nobody subscribes to.
 */
Datum
bqstream_setup_demo(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	GcpServer  *srv = server_arg(fcinfo);
	char	   *ds = srv->dataset;

	InitMaterializedSRF(fcinfo, 0);

	report_step(rsinfo, "topic", DEMO_TOPIC, pubsub_create_topic(srv, DEMO_TOPIC));
	report_step(rsinfo, "topic", DEMO_DEAD_LETTER_TOPIC,
				pubsub_create_topic(srv, DEMO_DEAD_LETTER_TOPIC));
	report_step(rsinfo, "subscription", DEMO_DEAD_LETTER_SUB,
				pubsub_create_subscription(srv, DEMO_DEAD_LETTER_SUB,
										   DEMO_DEAD_LETTER_TOPIC,
										   DEMO_ACK_DEADLINE_S, NULL, 0));
	report_step(rsinfo, "subscription", DEMO_SUBSCRIPTION,
				pubsub_create_subscription(srv, DEMO_SUBSCRIPTION, DEMO_TOPIC,
										   DEMO_ACK_DEADLINE_S,
										   DEMO_DEAD_LETTER_TOPIC,
										   DEMO_MAX_DELIVERIES));
	report_step(rsinfo, "dataset", ds, bq_create_dataset(srv, ds));
	report_step(rsinfo, "table", psprintf("%s.%s", ds, RAW_ORDERS),
				bq_create_raw_orders(srv, ds, RAW_ORDERS));
	report_step(rsinfo, "materialized view", psprintf("%s.%s", ds, ORDERS_PER_MINUTE),
				bq_create_orders_per_minute(srv, ds, ORDERS_PER_MINUTE, RAW_ORDERS));

	return (Datum) 0;
}
