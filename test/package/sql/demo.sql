--
-- What a user of the Debian package types, as scripts/demo.sh does it: on a
-- fresh cluster with shared_preload_libraries = 'bqstream' and the package's
-- files only, the extension, a server and user mapping for the emulator, the
-- demo's GCP resources, a pipeline, 10,000 published orders streamed into
-- BigQuery and read back through bqstream_fdw.  scripts/test.sh (suite
-- package) runs it with pg_regress against the emulator it started.
--
\getenv pubsub_endpoint BQSTREAM_TEST_PUBSUB_ENDPOINT
\getenv bigquery_endpoint BQSTREAM_TEST_BIGQUERY_ENDPOINT
\getenv bigquery_storage_endpoint BQSTREAM_TEST_BIGQUERY_STORAGE_ENDPOINT

CREATE EXTENSION bqstream;
SELECT extversion = (SELECT default_version FROM pg_available_extensions WHERE name = 'bqstream') AS default_version
  FROM pg_extension WHERE extname = 'bqstream';
SELECT bqstream.version() ~ '^bqstream [0-9]+\.[0-9]+\.[0-9]+ \(libcurl [0-9.]+, jansson [0-9.]+, OpenSSL [0-9]'
  AS version_line_ok;
SELECT name, setting FROM pg_settings WHERE name = 'shared_preload_libraries';

-- GCP configuration the SQL/MED way; a misspelt option is refused
CREATE SERVER emulator FOREIGN DATA WRAPPER bqstream_fdw
  OPTIONS (project_id 'package-project', location 'US', pubsub_endpoint :'pubsub_endpoint',
           bigquery_endpoint :'bigquery_endpoint',
           bigquery_storage_endpoint :'bigquery_storage_endpoint', dataset 'shop');
CREATE USER MAPPING FOR CURRENT_USER SERVER emulator OPTIONS (auth 'none');
ALTER SERVER emulator OPTIONS (ADD projectid 'typo');

-- the pipeline's resources in one call, a pipeline, orders
SELECT * FROM bqstream.setup_demo('emulator');
SELECT bqstream.create_pipeline('orders', 'emulator', 'orders-pipeline', max_workers => 2);
SELECT count(*) FROM bqstream.sample_orders(3, seed => 7);
SELECT published, failed, malformed, late
  FROM bqstream.publish_orders(10000, 'emulator', malformed_fraction => 0.05, late_fraction => 0.10, seed => 7);

-- the workers stream them: wait up to 60 s for all 10,000
DO $$
BEGIN
    FOR i IN 1..600 LOOP
        EXIT WHEN (SELECT coalesce(sum(inserted + dead_lettered), 0) FROM bqstream.pipeline_stats) >= 10000;
        PERFORM pg_sleep(0.1);
    END LOOP;
END $$;
SELECT pipeline, state, inserted, dead_lettered, inserted + dead_lettered AS handled FROM bqstream.pipeline_stats;
SELECT reason, count(*) FROM bqstream.dead_letters GROUP BY reason ORDER BY reason;

-- BigQuery through bqstream_fdw
IMPORT FOREIGN SCHEMA shop LIMIT TO (raw_orders, orders_per_minute) FROM SERVER emulator INTO public;
SELECT count(*) AS orders, count(DISTINCT order_id) AS distinct_orders FROM raw_orders;
SELECT sum(order_count) AS orders FROM orders_per_minute;
EXPLAIN (VERBOSE, COSTS OFF) SELECT product_id, amount FROM raw_orders WHERE amount > 100;

SELECT bqstream.drop_pipeline('orders');
