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
-- endpoints, a user mapping holds the credential; foreign tables read
-- BigQuery tables (options dataset, table, fetch_size; column option column_name).
CREATE FUNCTION bqstream.fdw_validator(text[], oid)
RETURNS void
AS 'MODULE_PATHNAME', 'bqstream_fdw_validator'
LANGUAGE C STRICT;

CREATE FUNCTION bqstream.fdw_handler()
RETURNS fdw_handler
AS 'MODULE_PATHNAME', 'bqstream_fdw_handler'
LANGUAGE C STRICT;

CREATE FOREIGN DATA WRAPPER bqstream_fdw
  HANDLER bqstream.fdw_handler
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

-- Streaming pipelines: Pub/Sub subscription -> validation -> BigQuery table.
-- The launcher (bqstream in shared_preload_libraries, watching the database
-- named by bqstream.database) runs the workers this table asks for.
CREATE TABLE bqstream.pipelines (
    name            text PRIMARY KEY
                    CHECK (name ~ '^[A-Za-z_][A-Za-z0-9_-]{0,62}$'),
    server          text NOT NULL,
    subscription    text NOT NULL,
    target_table    text NOT NULL DEFAULT 'raw_orders',
    dataset         text,           -- NULL: the server's dataset option
    min_workers     integer NOT NULL DEFAULT 1 CHECK (min_workers BETWEEN 0 AND 64),
    max_workers     integer NOT NULL DEFAULT 1 CHECK (max_workers BETWEEN 1 AND 64),
    batch_size      integer NOT NULL DEFAULT 1000 CHECK (batch_size BETWEEN 1 AND 1000),
    max_lateness    interval NOT NULL DEFAULT '5 minutes',
    max_future_skew interval NOT NULL DEFAULT '1 hour',
    enabled         boolean NOT NULL DEFAULT true,
    owner           oid NOT NULL DEFAULT to_regrole(current_user::text)::oid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (max_workers >= min_workers)
);

COMMENT ON TABLE bqstream.pipelines IS
'streaming pipelines: a subscription of a bqstream_fdw server streamed into a BigQuery table; workers run as "owner"';

CREATE TABLE bqstream.dead_letters (
    id               bigserial PRIMARY KEY,
    pipeline         text NOT NULL,
    message_id       text NOT NULL,
    publish_time     timestamptz,
    attributes       jsonb,
    payload          bytea NOT NULL,
    reason           text NOT NULL,
    detail           text,
    dead_lettered_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (pipeline, message_id)
);
CREATE INDEX ON bqstream.dead_letters (pipeline, dead_lettered_at);

COMMENT ON TABLE bqstream.dead_letters IS
'messages a pipeline could not store in BigQuery, with the reason; committed before the message is acknowledged';

SELECT pg_catalog.pg_extension_config_dump('bqstream.pipelines', '');
SELECT pg_catalog.pg_extension_config_dump('bqstream.dead_letters', '');
SELECT pg_catalog.pg_extension_config_dump('bqstream.dead_letters_id_seq', '');

CREATE FUNCTION bqstream.wake_launcher()
RETURNS boolean
AS 'MODULE_PATHNAME', 'bqstream_wake_launcher'
LANGUAGE C VOLATILE;

CREATE FUNCTION bqstream.create_pipeline(name text, server text, subscription text,
                                         target_table text DEFAULT 'raw_orders',
                                         workers integer DEFAULT 1,
                                         max_workers integer DEFAULT NULL,
                                         batch_size integer DEFAULT 1000,
                                         max_lateness interval DEFAULT '5 minutes',
                                         max_future_skew interval DEFAULT '1 hour',
                                         dataset text DEFAULT NULL,
                                         start boolean DEFAULT true)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_foreign_server s JOIN pg_foreign_data_wrapper w ON w.oid = s.srvfdw
                    WHERE s.srvname = create_pipeline.server AND w.fdwname = 'bqstream_fdw') THEN
        RAISE EXCEPTION 'server "%" is not a bqstream_fdw server', create_pipeline.server
            USING ERRCODE = 'undefined_object',
                  HINT = 'Create it with CREATE SERVER ... FOREIGN DATA WRAPPER bqstream_fdw.';
    END IF;
    INSERT INTO bqstream.pipelines (name, server, subscription, target_table, dataset,
                                    min_workers, max_workers, batch_size, max_lateness,
                                    max_future_skew, enabled)
    VALUES (create_pipeline.name, create_pipeline.server, create_pipeline.subscription,
            create_pipeline.target_table, create_pipeline.dataset, workers,
            coalesce(create_pipeline.max_workers, workers), create_pipeline.batch_size,
            create_pipeline.max_lateness, create_pipeline.max_future_skew, start);
    PERFORM bqstream.wake_launcher();
END $$;

COMMENT ON FUNCTION bqstream.create_pipeline(text, text, text, text, integer, integer, integer, interval, interval, text, boolean) IS
'creates a pipeline streaming a subscription into a BigQuery table, with workers..max_workers workers (scaled on backlog), started unless start is false';

CREATE FUNCTION bqstream.alter_pipeline(name text, workers integer DEFAULT NULL,
                                        max_workers integer DEFAULT NULL,
                                        batch_size integer DEFAULT NULL,
                                        max_lateness interval DEFAULT NULL,
                                        max_future_skew interval DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE bqstream.pipelines p
       SET min_workers = coalesce(workers, p.min_workers),
           max_workers = coalesce(alter_pipeline.max_workers,
                                  greatest(p.max_workers, coalesce(workers, p.min_workers))),
           batch_size = coalesce(alter_pipeline.batch_size, p.batch_size),
           max_lateness = coalesce(alter_pipeline.max_lateness, p.max_lateness),
           max_future_skew = coalesce(alter_pipeline.max_future_skew, p.max_future_skew)
     WHERE p.name = alter_pipeline.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'pipeline "%" does not exist', alter_pipeline.name USING ERRCODE = 'undefined_object';
    END IF;
    PERFORM bqstream.wake_launcher();
END $$;

-- start_pipeline() and stop_pipeline() are this with true and false
CREATE FUNCTION bqstream.set_pipeline_enabled(name text, enabled boolean)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE bqstream.pipelines p SET enabled = set_pipeline_enabled.enabled
     WHERE p.name = set_pipeline_enabled.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'pipeline "%" does not exist', set_pipeline_enabled.name
            USING ERRCODE = 'undefined_object';
    END IF;
    PERFORM bqstream.wake_launcher();
END $$;

CREATE FUNCTION bqstream.start_pipeline(name text)
RETURNS void
LANGUAGE sql
AS $$ SELECT bqstream.set_pipeline_enabled($1, true) $$;

CREATE FUNCTION bqstream.stop_pipeline(name text)
RETURNS void
LANGUAGE sql
AS $$ SELECT bqstream.set_pipeline_enabled($1, false) $$;

CREATE FUNCTION bqstream.drop_pipeline(name text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM bqstream.pipelines p WHERE p.name = drop_pipeline.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'pipeline "%" does not exist', drop_pipeline.name USING ERRCODE = 'undefined_object';
    END IF;
    PERFORM bqstream.wake_launcher();
END $$;

CREATE FUNCTION bqstream.worker_stats(
    OUT pipeline text, OUT worker integer, OUT pid integer, OUT state text,
    OUT started_at timestamptz, OUT received bigint, OUT inserted bigint, OUT acked bigint,
    OUT dead_lettered bigint, OUT dead_lettered_by_reason jsonb, OUT redelivered bigint,
    OUT late bigint, OUT batches bigint, OUT retries bigint, OUT full_pulls bigint,
    OUT empty_pulls bigint, OUT rows_per_second_last_minute double precision,
    OUT latency_p50_ms double precision, OUT latency_p95_ms double precision,
    OUT latency_p99_ms double precision, OUT last_error text, OUT last_error_at timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'bqstream_pipeline_stats'
LANGUAGE C VOLATILE;

CREATE VIEW bqstream.worker_stats AS SELECT * FROM bqstream.worker_stats();

COMMENT ON VIEW bqstream.worker_stats IS
'per pipeline worker: state and counters from shared memory; latencies are publish time to BigQuery acceptance, as powers of two of milliseconds';

CREATE VIEW bqstream.pipeline_stats AS
SELECT p.name AS pipeline,
       CASE WHEN NOT p.enabled THEN 'stopped'
            WHEN count(w.pid) = 0 THEN 'starting'
            ELSE 'running' END AS state,
       count(w.pid)::integer AS workers,
       p.min_workers, p.max_workers,
       coalesce(sum(w.received), 0)::bigint AS received,
       coalesce(sum(w.inserted), 0)::bigint AS inserted,
       coalesce(sum(w.acked), 0)::bigint AS acked,
       coalesce(sum(w.dead_lettered), 0)::bigint AS dead_lettered,
       (SELECT coalesce(jsonb_object_agg(key, total), '{}')
          FROM (SELECT r.key, sum(r.value::bigint) AS total
                  FROM bqstream.worker_stats() w2, jsonb_each_text(w2.dead_lettered_by_reason) r
                 WHERE w2.pipeline = p.name GROUP BY r.key) d) AS dead_lettered_by_reason,
       coalesce(sum(w.redelivered), 0)::bigint AS redelivered,
       coalesce(sum(w.late), 0)::bigint AS late,
       coalesce(sum(w.batches), 0)::bigint AS batches,
       coalesce(sum(w.retries), 0)::bigint AS retries,
       coalesce(sum(w.rows_per_second_last_minute), 0) AS rows_per_second_last_minute,
       max(w.latency_p50_ms) AS latency_p50_ms,
       max(w.latency_p95_ms) AS latency_p95_ms,
       max(w.latency_p99_ms) AS latency_p99_ms,
       (array_agg(w.last_error ORDER BY w.last_error_at DESC NULLS LAST))[1] AS last_error,
       max(w.last_error_at) AS last_error_at
  FROM bqstream.pipelines p
  LEFT JOIN bqstream.worker_stats() w ON w.pipeline = p.name
 GROUP BY p.name, p.enabled, p.min_workers, p.max_workers;

COMMENT ON VIEW bqstream.pipeline_stats IS
'per pipeline: workers, counters summed over them, the worst worker''s latency percentiles, the latest error';

CREATE FUNCTION bqstream.republish_dead_letters(ids bigint[], server text, topic text DEFAULT 'orders')
RETURNS bigint
AS 'MODULE_PATHNAME', 'bqstream_republish_dead_letters'
LANGUAGE C STRICT VOLATILE;

COMMENT ON FUNCTION bqstream.republish_dead_letters(bigint[], text, text) IS
'publishes the payloads (and attributes) of the given dead letters to a topic again, typically after fixing them, and deletes them';

-- The pipelines' validation, for one payload and the raw_orders schema: NULLs
-- when a pipeline would stream it, else the dead-letter reason and detail.
CREATE FUNCTION bqstream.check_order(payload bytea, max_future_skew interval DEFAULT '1 hour',
                                     "at" timestamptz DEFAULT now(),
                                     OUT reason text, OUT detail text)
RETURNS record
AS 'MODULE_PATHNAME', 'bqstream_check_order'
LANGUAGE C STRICT STABLE;

CREATE FUNCTION bqstream.check_order(payload text, max_future_skew interval DEFAULT '1 hour',
                                     "at" timestamptz DEFAULT now(),
                                     OUT reason text, OUT detail text)
RETURNS record
LANGUAGE sql STRICT STABLE
AS $$ SELECT * FROM bqstream.check_order(convert_to($1, 'UTF8'), $2, $3) $$;
