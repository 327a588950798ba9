--
-- The GCP core against the local emulator (scripts/test.sh starts it and
-- exports its endpoints): admin functions, publish_orders(), and how errors
-- of the services and of the network reach the user.
--
\getenv pubsub_endpoint BQSTREAM_TEST_PUBSUB_ENDPOINT
\getenv bigquery_endpoint BQSTREAM_TEST_BIGQUERY_ENDPOINT

CREATE SERVER gcp_emu FOREIGN DATA WRAPPER bqstream_fdw
  OPTIONS (project_id 'regress-project', dataset 'regress_shop',
           pubsub_endpoint :'pubsub_endpoint', bigquery_endpoint :'bigquery_endpoint');
CREATE USER MAPPING FOR CURRENT_USER SERVER gcp_emu OPTIONS (auth 'none');

-- the whole demo in one call, and again: nothing to do the second time
SELECT * FROM bqstream.setup_demo('gcp_emu');
SELECT * FROM bqstream.setup_demo('gcp_emu');

-- single resources, idempotent both ways
SELECT bqstream.create_topic('gcp_emu', 'regress-topic');
SELECT bqstream.create_topic('gcp_emu', 'regress-topic');
SELECT bqstream.create_subscription('gcp_emu', 'regress-sub', 'regress-topic', ack_deadline_seconds => 30);
SELECT bqstream.drop_subscription('gcp_emu', 'regress-sub');
SELECT bqstream.drop_subscription('gcp_emu', 'regress-sub');
SELECT bqstream.drop_topic('gcp_emu', 'regress-topic');
SELECT bqstream.drop_topic('gcp_emu', 'regress-topic');
SELECT bqstream.create_dataset('gcp_emu', 'scratch');
SELECT bqstream.create_raw_orders_table('gcp_emu', 'orders_copy', dataset => 'scratch');
SELECT bqstream.create_orders_per_minute_view('gcp_emu', 'per_minute_copy', 'orders_copy', dataset => 'scratch');
SELECT bqstream.drop_table('gcp_emu', 'per_minute_copy', dataset => 'scratch');
SELECT bqstream.drop_dataset('gcp_emu', 'scratch');           -- not empty
SELECT bqstream.drop_dataset('gcp_emu', 'scratch', cascade => true);
SELECT bqstream.drop_dataset('gcp_emu', 'scratch', cascade => true);

-- names are checked before anything is sent
SELECT bqstream.create_topic('gcp_emu', 'goog-orders');
SELECT bqstream.create_topic('gcp_emu', 'a/b');
SELECT bqstream.create_subscription('gcp_emu', 'sub', 'orders', ack_deadline_seconds => 5);
SELECT bqstream.create_raw_orders_table('gcp_emu', 'raw orders');
SELECT bqstream.create_orders_per_minute_view('gcp_emu', 'v', 'raw_orders`; DROP TABLE x; --');
SELECT bqstream.create_topic('gcp_emu', NULL);

-- a missing dead-letter topic, a missing topic: Google's 404, with a hint
SELECT bqstream.create_subscription('gcp_emu', 'regress-sub', 'orders', dead_letter_topic => 'no-such-topic');
SELECT bqstream.create_subscription('gcp_emu', 'regress-sub', 'no-such-topic');

-- publish: counts by kind, reproducible with a seed
SELECT published, failed, malformed, late, cancelled
  FROM bqstream.publish_orders(2500, 'gcp_emu', seed => 42, malformed_fraction => 0.1, late_fraction => 0.2);
SELECT published, failed, malformed, late, cancelled
  FROM bqstream.publish_orders(2500, 'gcp_emu', seed => 42, malformed_fraction => 0.1, late_fraction => 0.2,
                               batch_size => 7, max_in_flight => 1);
SELECT published, failed FROM bqstream.publish_orders(0, 'gcp_emu');
SELECT published FROM bqstream.publish_orders(3, 'gcp_emu', 'no-such-topic');
SELECT published FROM bqstream.publish_orders(-1, 'gcp_emu');
SELECT published FROM bqstream.publish_orders(1, 'gcp_emu', batch_size => 1001);
SELECT published FROM bqstream.publish_orders(1, 'gcp_emu', rate => -5);
SELECT published FROM bqstream.publish_orders(1, 'gcp_emu', malformed_fraction => 1.5);
SELECT published FROM bqstream.publish_orders(1, NULL);

-- paced: 40 orders at 100/s take about 0.4 s
SELECT published, seconds BETWEEN 0.3 AND 5 AS paced
  FROM bqstream.publish_orders(40, 'gcp_emu', rate => 100);

-- a statement timeout (like Ctrl-C) ends a continuous run with its counts
SET statement_timeout = '1s';
SET client_min_messages = warning;    -- the NOTICE names the count
SELECT published BETWEEN 100 AND 600 AS some_published, failed, cancelled
  FROM bqstream.publish_orders(NULL, 'gcp_emu', rate => 300, progress_interval => 0);
RESET statement_timeout;
RESET client_min_messages;

-- transient errors are retried (503 twice, then fine); the emulator counts them
\set faults_url :pubsub_endpoint '/emulator/faults'
\setenv FAULTS_URL :faults_url
\! curl -sf -o /dev/null -X POST "$FAULTS_URL" -d '{"error_rate":1,"error_codes":[503],"methods":["publish"],"count":2}'
SELECT published, failed FROM bqstream.publish_orders(10, 'gcp_emu');

-- a missing IAM permission is no transient error
\! curl -sf -o /dev/null -X POST "$FAULTS_URL" -d '{"error_rate":1,"error_codes":[403],"methods":["createTopic"],"count":1}'
SELECT bqstream.create_topic('gcp_emu', 'forbidden-topic');

-- ...nor is a token without the API's OAuth scope, which has a hint of its own
\! curl -sf -o /dev/null -X POST "$FAULTS_URL" -d '{"error_rate":1,"error_codes":[403],"reason":"ACCESS_TOKEN_SCOPE_INSUFFICIENT","methods":["createTopic"],"count":1}'
SELECT bqstream.create_topic('gcp_emu', 'unscoped-topic');

-- BigQuery's throttling is a 403 with reason rateLimitExceeded: retried (twice, then fine)
\set bq_faults_url :bigquery_endpoint '/emulator/faults'
\setenv BQ_FAULTS_URL :bq_faults_url
\! curl -sf -o /dev/null -X POST "$BQ_FAULTS_URL" -d '{"error_rate":1,"error_codes":[403],"reason":"rateLimitExceeded","count":2}'
SELECT bqstream.create_dataset('gcp_emu', 'throttled');
-- a 403 accessDenied is not retried (a retry would have succeeded), and neither is
-- quotaExceeded, as in Google's clients: such quotas last longer than the retries
\! curl -sf -o /dev/null -X POST "$BQ_FAULTS_URL" -d '{"error_rate":1,"error_codes":[403],"count":1}'
SELECT bqstream.drop_dataset('gcp_emu', 'throttled');
\! curl -sf -o /dev/null -X POST "$BQ_FAULTS_URL" -d '{"error_rate":1,"error_codes":[403],"reason":"quotaExceeded","count":1}'
SELECT bqstream.drop_dataset('gcp_emu', 'throttled');
\! curl -sf -o /dev/null -X DELETE "$BQ_FAULTS_URL"
SELECT bqstream.drop_dataset('gcp_emu', 'throttled');

-- a proxy's HTML error page, once retries are exhausted
SET bqstream.http_max_retries = 1;
\! curl -sf -o /dev/null -X POST "$FAULTS_URL" -d '{"error_rate":1,"error_codes":[502],"methods":["createTopic"],"count":2}'
SELECT bqstream.create_topic('gcp_emu', 'proxied-topic');
RESET bqstream.http_max_retries;
\! curl -sf -o /dev/null -X DELETE "$FAULTS_URL"

-- gzip'd answers with bqstream.http_compression = on: Google (and the emulator)
-- compress only for a User-Agent that says "gzip" besides Accept-Encoding
ALTER SYSTEM SET bqstream.http_compression = 'on';
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SHOW bqstream.http_compression;
\set counters_url :pubsub_endpoint '/emulator/counters'
\setenv COUNTERS_URL :counters_url
\! curl -sf -o /dev/null -X POST "$COUNTERS_URL/reset"
SELECT published FROM bqstream.publish_orders(1000, 'gcp_emu', batch_size => 1000);
\! curl -sf "$COUNTERS_URL" | python3 -c 'import json, sys; c = json.load(sys.stdin); print("answers gzipped:", c["responses_gzipped"] > 0, c["response_bytes_sent"] < c["response_bytes"])'
ALTER SYSTEM RESET bqstream.http_compression;
SELECT pg_reload_conf();

-- nobody listens there: a connection error after the retries
CREATE SERVER unreachable FOREIGN DATA WRAPPER bqstream_fdw
  OPTIONS (project_id 'regress-project', pubsub_endpoint 'http://127.0.0.1:1');
CREATE USER MAPPING FOR CURRENT_USER SERVER unreachable OPTIONS (auth 'none');
SET bqstream.http_max_retries = 2;
\set VERBOSITY terse
SELECT bqstream.create_topic('unreachable', 'orders');
\set VERBOSITY default
RESET bqstream.http_max_retries;

-- configuration problems
CREATE SERVER no_project FOREIGN DATA WRAPPER bqstream_fdw
  OPTIONS (pubsub_endpoint 'http://127.0.0.1:1');
SELECT bqstream.create_topic('no_project', 'orders');
CREATE SERVER no_mapping FOREIGN DATA WRAPPER bqstream_fdw
  OPTIONS (project_id 'regress-project', pubsub_endpoint 'http://127.0.0.1:1');
SELECT bqstream.create_topic('no_mapping', 'orders');
SELECT bqstream.create_topic('no_such_server', 'orders');
CREATE FOREIGN DATA WRAPPER other_fdw;
CREATE SERVER other FOREIGN DATA WRAPPER other_fdw;
SELECT bqstream.create_topic('other', 'orders');

-- a role without USAGE on the server may not use it
CREATE ROLE regress_bqstream_user;
SET ROLE regress_bqstream_user;
SELECT bqstream.create_topic('gcp_emu', 'orders');
RESET ROLE;
DROP ROLE regress_bqstream_user;

-- the settings exist with their units
SELECT name, setting, unit FROM pg_settings WHERE name LIKE 'bqstream.http%' ORDER BY name;

DROP SERVER unreachable CASCADE;
DROP SERVER no_project;
DROP SERVER no_mapping;
DROP SERVER other;
DROP FOREIGN DATA WRAPPER other_fdw;
DROP SERVER gcp_emu CASCADE;
