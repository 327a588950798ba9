/* sql/bqstream--0.1.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION bqstream" to load this file. \quit

-- The schema belongs to the extension, so DROP EXTENSION removes it too.
CREATE SCHEMA bqstream;
-- Any role may call the functions; what they reach is guarded by USAGE on a
-- foreign server and by the credential of the role's user mapping.
GRANT USAGE ON SCHEMA bqstream TO PUBLIC;

CREATE FUNCTION bqstream.version()
RETURNS text
AS 'MODULE_PATHNAME', 'bqstream_version'
LANGUAGE C STRICT STABLE PARALLEL SAFE;

COMMENT ON FUNCTION bqstream.version() IS
'bqstream version, with the versions of libcurl, jansson and OpenSSL it runs with';

CREATE FUNCTION bqstream.library_versions(OUT component text, OUT compiled text, OUT running text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'bqstream_library_versions'
LANGUAGE C STRICT STABLE PARALLEL SAFE;

COMMENT ON FUNCTION bqstream.library_versions() IS
'versions of the libraries bqstream was compiled against and the ones it runs with';

-- Configuration the SQL/MED way: a foreign server holds a GCP project and its
-- endpoints, a user mapping holds the credential. The wrapper's handler (the
-- foreign tables themselves) is not built yet.
CREATE FUNCTION bqstream.fdw_validator(text[], oid)
RETURNS void
AS 'MODULE_PATHNAME', 'bqstream_fdw_validator'
LANGUAGE C STRICT;

CREATE FOREIGN DATA WRAPPER bqstream_fdw
  VALIDATOR bqstream.fdw_validator;

COMMENT ON FOREIGN DATA WRAPPER bqstream_fdw IS
'GCP Pub/Sub and BigQuery: servers name a project and its endpoints, user mappings a credential';

-- GCP resources of the pipeline. Each function acts on the project of a
-- bqstream_fdw server with the caller's user mapping, returns true when it
-- created or dropped something and false (with a NOTICE) when there was
-- nothing to do, so setup scripts can be re-run.
CREATE FUNCTION bqstream.create_topic(server text, topic text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'bqstream_create_topic'
LANGUAGE C VOLATILE;

CREATE FUNCTION bqstream.drop_topic(server text, topic text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'bqstream_drop_topic'
LANGUAGE C VOLATILE;

CREATE FUNCTION bqstream.create_subscription(server text, subscription text, topic text,
                                             ack_deadline_seconds integer DEFAULT 60,
                                             dead_letter_topic text DEFAULT NULL,
                                             max_delivery_attempts integer DEFAULT 5)
RETURNS boolean
AS 'MODULE_PATHNAME', 'bqstream_create_subscription'
LANGUAGE C VOLATILE;

CREATE FUNCTION bqstream.drop_subscription(server text, subscription text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'bqstream_drop_subscription'
LANGUAGE C VOLATILE;

-- dataset NULL means the server's dataset option (default 'bqstream')
CREATE FUNCTION bqstream.create_dataset(server text, dataset text DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'bqstream_create_dataset'
LANGUAGE C VOLATILE;

CREATE FUNCTION bqstream.drop_dataset(server text, dataset text DEFAULT NULL,
                                      cascade boolean DEFAULT false)
RETURNS boolean
AS 'MODULE_PATHNAME', 'bqstream_drop_dataset'
LANGUAGE C VOLATILE;

CREATE FUNCTION bqstream.create_raw_orders_table(server text, "table" text DEFAULT 'raw_orders',
                                                 dataset text DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'bqstream_create_raw_orders_table'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION bqstream.create_raw_orders_table(text, text, text) IS
'BigQuery table of orders (order_id, user_id, product_id, amount, event_time), partitioned by DATE(event_time), clustered by product_id';

CREATE FUNCTION bqstream.create_orders_per_minute_view(server text, view text DEFAULT 'orders_per_minute',
                                                       source_table text DEFAULT 'raw_orders',
                                                       dataset text DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'bqstream_create_orders_per_minute_view'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION bqstream.create_orders_per_minute_view(text, text, text, text) IS
'BigQuery materialized view (product_id, order_minute, order_count, revenue) over the orders table';

CREATE FUNCTION bqstream.drop_table(server text, "table" text, dataset text DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'bqstream_drop_table'
LANGUAGE C VOLATILE;

CREATE FUNCTION bqstream.setup_demo(server text,
                                    OUT object_type text, OUT object_name text, OUT created boolean)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'bqstream_setup_demo'
LANGUAGE C VOLATILE STRICT;

COMMENT ON FUNCTION bqstream.setup_demo(text) IS
'creates the topics, subscriptions, dataset, raw_orders table and orders_per_minute view of the demo pipeline';

-- Simulated orders, without publishing them: what publish_orders() sends
-- for the same seed, fractions and event time ("at").
CREATE FUNCTION bqstream.sample_orders(n integer, seed bigint DEFAULT NULL,
                                       malformed_fraction double precision DEFAULT 0,
                                       late_fraction double precision DEFAULT 0,
                                       "at" timestamptz DEFAULT NULL)
RETURNS SETOF text
AS 'MODULE_PATHNAME', 'bqstream_sample_orders'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION bqstream.sample_orders(integer, bigint, double precision, double precision, timestamptz) IS
'simulated order payloads (JSON text, or malformed on purpose), as publish_orders() would send them; "at" defaults to the transaction start';

-- Simulated orders published to a topic. n NULL publishes until the query is
-- cancelled (Ctrl-C), which still returns the counts. With a seed and "at"
-- the messages are exactly those of sample_orders() with the same arguments.
CREATE FUNCTION bqstream.publish_orders(n bigint, server text, topic text DEFAULT 'orders',
                                        rate double precision DEFAULT NULL,
                                        malformed_fraction double precision DEFAULT 0,
                                        late_fraction double precision DEFAULT 0,
                                        seed bigint DEFAULT NULL,
                                        batch_size integer DEFAULT 1000,
                                        max_in_flight integer DEFAULT 4,
                                        progress_interval integer DEFAULT 10,
                                        "at" timestamptz DEFAULT NULL,
                                        OUT published bigint, OUT failed bigint,
                                        OUT malformed bigint, OUT late bigint,
                                        OUT seconds double precision,
                                        OUT orders_per_second double precision,
                                        OUT cancelled boolean)
RETURNS record
AS 'MODULE_PATHNAME', 'bqstream_publish_orders'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION bqstream.publish_orders(bigint, text, text, double precision, double precision, double precision, bigint, integer, integer, integer, timestamptz) IS
'publishes simulated orders to a Pub/Sub topic: n orders (NULL: until cancelled), optionally at a rate per second, with fractions of malformed and late orders; "at" fixes the event time (default: the time of publishing)';
