--
-- bqstream_fdw scans against the local BigQuery emulator (scripts/test.sh
-- starts it): IMPORT FOREIGN SCHEMA, type conversion, projection pushdown,
-- paging, rescans, and errors.
--
\getenv pubsub_endpoint BQSTREAM_TEST_PUBSUB_ENDPOINT
\getenv bigquery_endpoint BQSTREAM_TEST_BIGQUERY_ENDPOINT
SET timezone = 'UTC';

CREATE SERVER fdw_emu FOREIGN DATA WRAPPER bqstream_fdw
  OPTIONS (project_id 'fdw-project', dataset 'fdw_shop',
           pubsub_endpoint :'pubsub_endpoint', bigquery_endpoint :'bigquery_endpoint');
CREATE USER MAPPING FOR CURRENT_USER SERVER fdw_emu OPTIONS (auth 'none');
SELECT bqstream.create_dataset('fdw_emu');
SELECT bqstream.create_raw_orders_table('fdw_emu');
SELECT bqstream.create_orders_per_minute_view('fdw_emu');

-- some orders, and a table of every scalar type, written with the REST API
\set bq :bigquery_endpoint '/bigquery/v2/projects/fdw-project'
\setenv BQ :bq
\! curl -sf -o /dev/null -X POST "$BQ/datasets/fdw_shop/tables/raw_orders/insertAll" -H 'Content-Type: application/json' -d '{"rows":[{"json":{"order_id":"o-1","user_id":"u-1","product_id":"p-1","amount":10.5,"event_time":"2026-11-25T10:00:01.000001Z"}},{"json":{"order_id":"o-2","user_id":"u-2","product_id":"p-1","amount":4.25,"event_time":"2026-11-25T10:00:59Z"}},{"json":{"order_id":"o-3 it'"'"'s \"quoted\" \\ é","user_id":"u-1","product_id":"p-2","amount":99.99,"event_time":"2026-11-25T10:01:30.5Z"}},{"json":{"order_id":"o-4","user_id":"u-3","product_id":"p-2","amount":0.01,"event_time":"2026-11-24T23:59:59.999999Z"}}]}'
\! curl -sf -o /dev/null -X POST "$BQ/queries" -H 'Content-Type: application/json' -d '{"useLegacySql":false,"query":"CREATE TABLE fdw_shop.types (s STRING, i INT64, f FLOAT64, n NUMERIC, b BOOL, ts TIMESTAMP, dt DATETIME, d DATE, t TIME, bt BYTES, j JSON, tags ARRAY<STRING>)"}'
\! curl -sf -o /dev/null -X POST "$BQ/datasets/fdw_shop/tables/types/insertAll" -H 'Content-Type: application/json' -d '{"rows":[{"json":{"s":"text","i":"9007199254740993","f":1.5,"n":"123456789012345678.123456789","b":true,"ts":"2026-11-25T10:00:00.123456Z","dt":"2026-11-25T10:00:00.5","d":"2026-11-25","t":"10:00:00.25","bt":"AAEC/w==","j":"{\"a\":[1,2]}","tags":["x"]}},{"json":{}}]}'

-- the dataset's tables, views and materialized views, with mapped types
CREATE SCHEMA fdw_local;
IMPORT FOREIGN SCHEMA fdw_shop FROM SERVER fdw_emu INTO fdw_local;
\d fdw_local.raw_orders
\d fdw_local.orders_per_minute
\d fdw_local.types
IMPORT FOREIGN SCHEMA fdw_shop LIMIT TO (raw_orders) FROM SERVER fdw_emu INTO public;
IMPORT FOREIGN SCHEMA no_such_dataset FROM SERVER fdw_emu INTO public;

-- scans: every value exactly (NUMERIC, INT64 past 2^53, microseconds, bytes)
SELECT * FROM fdw_local.raw_orders ORDER BY order_id;
SELECT s, i, f, n, b, ts, dt, d, t, bt, j FROM fdw_local.types ORDER BY s NULLS LAST;
-- REPEATED columns are arrays (BigQuery sends a NULL array as an empty one)
SELECT s, tags, tags[1] AS first_tag FROM fdw_local.types ORDER BY s NULLS LAST;
CREATE FOREIGN TABLE tags_as_text (tags text) SERVER fdw_emu OPTIONS ("table" 'types');
SELECT tags FROM tags_as_text;
DROP FOREIGN TABLE tags_as_text;
SELECT product_id, order_minute, order_count, revenue
  FROM fdw_local.orders_per_minute ORDER BY product_id, order_minute;

-- only the columns a query needs are selected; a float comparison is sent with IS_NAN (NaN)
EXPLAIN (VERBOSE, COSTS OFF) SELECT order_id FROM fdw_local.raw_orders WHERE amount > 5;
SELECT order_id FROM fdw_local.raw_orders WHERE amount > 5 ORDER BY 1;

-- WHERE clauses BigQuery reads the same way go there, values as typed parameters
EXPLAIN (VERBOSE, COSTS OFF)
SELECT order_id FROM fdw_local.raw_orders
 WHERE event_time >= '2026-11-25 10:00:00+00' AND user_id = 'u-1' AND amount > 1;
SELECT order_id FROM fdw_local.raw_orders
 WHERE event_time >= '2026-11-25 10:00:00+00' AND user_id = 'u-1' AND amount > 1 ORDER BY 1;
EXPLAIN (VERBOSE, COSTS OFF)
SELECT order_id FROM fdw_local.raw_orders
 WHERE (product_id = 'p-2' OR user_id IS NULL) AND NOT (order_id = 'o-4');
SELECT order_id FROM fdw_local.raw_orders
 WHERE (product_id = 'p-2' OR user_id IS NULL) AND NOT (order_id = 'o-4') ORDER BY 1;
-- a hostile string is a value, nothing else
SELECT count(*) FROM fdw_local.raw_orders WHERE order_id = E'o-3 it''s "quoted" \\ é';
SELECT count(*) FROM fdw_local.raw_orders WHERE order_id = E'x'' OR ''1''=''1';
SELECT count(*) FROM fdw_local.raw_orders WHERE order_id = E'x`; DROP TABLE t; --\n';
-- stable expressions and parameters are computed at execution start
EXPLAIN (VERBOSE, COSTS OFF)
SELECT count(*) FROM fdw_local.raw_orders WHERE event_time > now() - interval '100 years';
SELECT count(*) FROM fdw_local.raw_orders WHERE event_time > now() - interval '100 years';
PREPARE by_user(text) AS SELECT order_id FROM fdw_local.raw_orders WHERE user_id = $1 ORDER BY 1;
EXECUTE by_user('u-1');
EXECUTE by_user('nobody');
DEALLOCATE by_user;
-- NULLs compare the same on both sides
SELECT count(*) FROM fdw_local.raw_orders WHERE user_id = NULL;
SELECT count(*) FROM fdw_local.types WHERE i IS NULL;
SELECT count(*) FROM fdw_local.types WHERE b;
SELECT count(*) FROM fdw_local.types WHERE i = 9007199254740993 AND d = '2026-11-25';
-- text ordering depends on the collation: only C ordering is pushed
EXPLAIN (VERBOSE, COSTS OFF)
SELECT order_id FROM fdw_local.raw_orders WHERE order_id < 'o-2' COLLATE "C";
SELECT order_id FROM fdw_local.raw_orders WHERE order_id < 'o-2' COLLATE "C";
EXPLAIN (VERBOSE, COSTS OFF) SELECT count(*) FROM fdw_local.raw_orders;
SELECT count(*) FROM fdw_local.raw_orders;
SELECT user_id, sum(amount) FROM fdw_local.raw_orders GROUP BY user_id ORDER BY user_id;

-- ORDER BY goes along when BigQuery sorts the same way, NULLs placed explicitly
EXPLAIN (VERBOSE, COSTS OFF)
SELECT order_id, event_time FROM fdw_local.raw_orders ORDER BY event_time DESC;
SELECT order_id, event_time FROM fdw_local.raw_orders ORDER BY event_time DESC;
EXPLAIN (VERBOSE, COSTS OFF) SELECT s, i FROM fdw_local.types ORDER BY i NULLS FIRST, d;
SELECT s, i FROM fdw_local.types ORDER BY i NULLS FIRST, d;
SELECT s, i FROM fdw_local.types ORDER BY i;
SELECT s, i FROM fdw_local.types ORDER BY i DESC;
EXPLAIN (VERBOSE, COSTS OFF)
SELECT order_id FROM fdw_local.raw_orders ORDER BY order_id COLLATE "C" DESC;
SELECT order_id FROM fdw_local.raw_orders ORDER BY order_id COLLATE "C" DESC;
-- a float order is sent with IS_NAN first: BigQuery sorts NaN lowest, PostgreSQL highest
EXPLAIN (VERBOSE, COSTS OFF) SELECT order_id FROM fdw_local.raw_orders ORDER BY amount;

-- row estimates come from the table's metadata
EXPLAIN SELECT s FROM fdw_local.types;

-- pages of one row; rescans inside a join
ALTER FOREIGN TABLE fdw_local.raw_orders OPTIONS (ADD fetch_size '1');
SELECT count(*), sum(amount) FROM fdw_local.raw_orders;
SELECT g, (SELECT count(*) FROM fdw_local.raw_orders r WHERE r.amount > g)
  FROM generate_series(0, 20, 10) g;

-- INSERT streams rows with insertAll, in batches, every type round-tripping
INSERT INTO fdw_local.raw_orders
VALUES ('o-5', 'u-5', 'p-3', 5.5, '2026-11-25 11:00:00.25+00'),
       ('o-6', 'u-5', 'p-3', 6.5, '2026-11-25 11:00:01+00');
ALTER FOREIGN TABLE fdw_local.raw_orders OPTIONS (ADD batch_size '2');
INSERT INTO fdw_local.raw_orders
SELECT 'g-' || i, 'u-9', 'p-9', i, '2026-11-25 12:00:00+00'::timestamptz + i * interval '1 second'
  FROM generate_series(1, 5) i;
SELECT user_id, count(*), sum(amount), max(event_time) FROM fdw_local.raw_orders
 WHERE user_id = 'u-5' OR user_id = 'u-9' GROUP BY 1 ORDER BY 1;
INSERT INTO fdw_local.types (s, i, f, n, b, ts, dt, d, t, bt, j)
VALUES (E'round "trip" \\ é', 9007199254740995, -2.25, 0.000000001, false,
        '0001-01-01 00:00:00+00', '9999-12-31 23:59:59.999999', '2026-02-28', '23:59:59.999999',
        '\x00ff', '{"k": ["v", null]}');
SELECT s, i, f, n, b, ts, dt, d, t, bt, j FROM fdw_local.types WHERE s = E'round "trip" \\ é';
-- arrays go as JSON arrays (REPEATED columns); BigQuery holds no NULL element
INSERT INTO fdw_local.types (s, tags) VALUES ('with tags', ARRAY['a', 'b "c"', 'é']), ('no tags', '{}');
SELECT s, tags FROM fdw_local.types WHERE s IN ('with tags', 'no tags') ORDER BY s;
INSERT INTO fdw_local.types (s, tags) VALUES ('null tag', ARRAY['a', NULL]);
INSERT INTO fdw_local.types (s, tags) VALUES ('2-D', ARRAY[['a'], ['b']]);
-- insertAll takes at most 10 MB a request: a batch is cut by bytes as well
INSERT INTO fdw_local.types (s, i) SELECT repeat('x', 4000000), g FROM generate_series(1, 3) g;
SELECT count(*), sum(length(s)) FROM fdw_local.types WHERE s LIKE 'xxx%';
INSERT INTO fdw_local.types (s, i) VALUES ('small', 1), (repeat('y', 11000000), 2);
SELECT s, i FROM fdw_local.types WHERE s = 'small';
-- a row BigQuery refuses is named by its position; nothing of its batch is stored
INSERT INTO fdw_local.raw_orders (order_id, user_id, product_id, amount)
VALUES ('o-8', 'u', 'p', 1), ('o-9', 'u', 'p', 2);
SELECT count(*) FROM fdw_local.raw_orders WHERE order_id = 'o-8';
UPDATE fdw_local.raw_orders SET amount = 0;
DELETE FROM fdw_local.raw_orders;

-- a column named differently in BigQuery
CREATE FOREIGN TABLE renamed (id text OPTIONS (column_name 'order_id'), amount numeric)
  SERVER fdw_emu OPTIONS ("table" 'raw_orders');
SELECT id, amount FROM renamed ORDER BY id LIMIT 2;

-- errors: a type that does not fit names the column; missing tables; bad options
CREATE FOREIGN TABLE wrong_type (order_id integer) SERVER fdw_emu OPTIONS ("table" 'raw_orders');
SELECT * FROM wrong_type;
CREATE FOREIGN TABLE missing (x text) SERVER fdw_emu OPTIONS ("table" 'no_such_table');
SELECT * FROM missing;
CREATE FOREIGN TABLE bad (x text) SERVER fdw_emu OPTIONS (fetch_size '0');
CREATE FOREIGN TABLE bad (x text) SERVER fdw_emu OPTIONS ("table" 'a`b');
CREATE FOREIGN TABLE bad (x text OPTIONS (column_name 'x y')) SERVER fdw_emu;
CREATE FOREIGN TABLE bad (x text) SERVER fdw_emu OPTIONS (tablename 'x');

-- a query whose answer is lost is sent again with the same requestId, and
-- BigQuery returns the job it started instead of billing a second one
\set bq_control :bigquery_endpoint '/emulator'
\setenv BQ_CONTROL :bq_control
\set queries_before `curl -sf "$BQ_CONTROL/counters" | python3 -c 'import json, sys; print(json.load(sys.stdin)["queries"])'`
\! curl -sf -o /dev/null -X POST "$BQ_CONTROL/faults" -d '{"lost_rate":1,"methods":["query"],"count":1}'
SELECT count(*) FROM fdw_local.raw_orders;
\set queries_after `curl -sf "$BQ_CONTROL/counters" | python3 -c 'import json, sys; c = json.load(sys.stdin); print(c["queries"], c["faults_lost"])'`
\! curl -sf -o /dev/null -X DELETE "$BQ_CONTROL/faults"
SELECT split_part(:'queries_after', ' ', 1)::int - :queries_before AS jobs_started,
       split_part(:'queries_after', ' ', 2)::int AS answers_lost;

-- a job BigQuery failed for its rate runs again (new requestId, backoff)
\set faults_before `curl -sf "$BQ_CONTROL/counters" | python3 -c 'import json, sys; print(json.load(sys.stdin)["faults_injected"])'`
\! curl -sf -o /dev/null -X POST "$BQ_CONTROL/faults" -d '{"error_rate":1,"error_codes":[403],"reason":"jobRateLimitExceeded","methods":["query"],"count":2}'
SELECT count(*) FROM fdw_local.raw_orders;
\set faults_after `curl -sf "$BQ_CONTROL/counters" | python3 -c 'import json, sys; print(json.load(sys.stdin)["faults_injected"])'`
SELECT :faults_after - :faults_before AS jobs_failed_for_rate;
-- a refusal that is not about the job's rate (an IAM one) is not retried
\! curl -sf -o /dev/null -X POST "$BQ_CONTROL/faults" -d '{"error_rate":1,"error_codes":[403],"methods":["query"],"count":1}'
SELECT count(*) FROM fdw_local.raw_orders;
\! curl -sf -o /dev/null -X DELETE "$BQ_CONTROL/faults"

-- location: a server without the option sends none, and BigQuery finds a
-- dataset in the EU from the tables the query names; a wrong one is refused
CREATE SERVER fdw_eu FOREIGN DATA WRAPPER bqstream_fdw
  OPTIONS (project_id 'fdw-project', location 'EU', bigquery_endpoint :'bigquery_endpoint');
CREATE USER MAPPING FOR CURRENT_USER SERVER fdw_eu OPTIONS (auth 'none');
SELECT bqstream.create_dataset('fdw_eu', 'fdw_eu_shop');
SELECT bqstream.create_raw_orders_table('fdw_eu', 'raw_orders', 'fdw_eu_shop');
CREATE FOREIGN TABLE eu_orders (order_id text, user_id text, product_id text,
                                amount numeric, event_time timestamptz)
  SERVER fdw_emu OPTIONS (dataset 'fdw_eu_shop', "table" 'raw_orders');
INSERT INTO eu_orders VALUES ('o-eu', 'u-1', 'p-1', 1.5, '2026-11-25 10:00:00+00');
SELECT order_id, amount FROM eu_orders;
ALTER FOREIGN TABLE eu_orders OPTIONS (ADD location 'US');
SELECT order_id, amount FROM eu_orders;
ALTER FOREIGN TABLE eu_orders OPTIONS (SET location 'EU');
SELECT order_id, amount FROM eu_orders;

DROP SCHEMA fdw_local CASCADE;
DROP FOREIGN TABLE raw_orders, renamed, wrong_type, missing, eu_orders;
DROP SERVER fdw_emu CASCADE;
DROP SERVER fdw_eu CASCADE;
