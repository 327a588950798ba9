--
-- bqstream_fdw pushdown: what goes to BigQuery (EXPLAIN VERBOSE shows the
-- remote SQL), what stays local, and that both give PostgreSQL's answers.
-- Each pushed query is checked against the same query over a local copy.
--
\getenv bigquery_endpoint BQSTREAM_TEST_BIGQUERY_ENDPOINT
SET timezone = 'UTC';

CREATE SERVER push_emu FOREIGN DATA WRAPPER bqstream_fdw
  OPTIONS (project_id 'push-project', dataset 'push_shop',
           bigquery_endpoint :'bigquery_endpoint');
CREATE USER MAPPING FOR CURRENT_USER SERVER push_emu OPTIONS (auth 'none');
SELECT bqstream.create_dataset('push_emu');
\set bq :bigquery_endpoint '/bigquery/v2/projects/push-project'
\setenv BQ :bq
\! curl -s -o /dev/null -X DELETE "$BQ/datasets/push_shop/tables/items"
\! curl -sf -o /dev/null -X POST "$BQ/queries" -H 'Content-Type: application/json' -d '{"useLegacySql":false,"query":"CREATE TABLE push_shop.items (id INT64, s STRING, cat STRING, n INT64, amount NUMERIC, f FLOAT64, b BOOL, d DATE, ts TIMESTAMP) PARTITION BY DATE(ts)"}'

CREATE FOREIGN TABLE items (
  id bigint, s text COLLATE "C", cat text COLLATE "C", n bigint,
  amount numeric(12,2), f float8, b boolean, d date, ts timestamptz
) SERVER push_emu;
CREATE TABLE local_items (LIKE items);
INSERT INTO local_items VALUES
  (1, 'apple', 'fruit', 5, 1.50, 0.25, true, '2026-11-01', '2026-11-01 10:00:00'),
  (2, 'banana', 'fruit', 7, 2.25, 0.5, false, '2026-11-01', '2026-11-01 10:30:00'),
  (3, 'carrot', 'veg', NULL, 0.10, NULL, NULL, '2026-11-02', '2026-11-02 11:00:00'),
  (4, E'it''s "x" \\ 100%', 'veg', -3, 10.00, 1.75, true, '2026-11-02', '2026-11-02 11:59:59.999999'),
  (5, 'under_score', NULL, 9007199254740993, NULL, 2.5, false, NULL, NULL),
  (6, E'new\nline', 'fruit', 0, 3.33, -0.75, true, '2026-11-03', '2026-11-03 00:00:00'),
  (7, 'café 日本', 'veg', 12, 7.77, 8, NULL, '2026-11-03', '2026-11-03 09:15:00'),
  (8, '', 'nut', 12, 0.00, 0, true, '2026-11-04', '2026-11-04 23:59:59');
INSERT INTO items SELECT * FROM local_items;

-- compare a query over the foreign table with the same over the local copy
CREATE FUNCTION check_same(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  remote text;
  here text;
BEGIN
  EXECUTE format('SELECT string_agg(r::text, E''\n'') FROM (%s) r', q) INTO remote;
  EXECUTE format('SELECT string_agg(r::text, E''\n'') FROM (%s) r',
                 replace(q, 'FROM items', 'FROM local_items')) INTO here;
  RETURN CASE WHEN remote IS NOT DISTINCT FROM here THEN 'same' ELSE
    format(E'DIFFERENT\nremote: %s\nlocal: %s', remote, here) END;
END $$;

-- IN lists and = ANY / <> ALL, with PostgreSQL's NULL rules
EXPLAIN (VERBOSE, COSTS OFF) SELECT id FROM items WHERE n IN (5, 12, 99);
SELECT check_same('SELECT id FROM items WHERE n IN (5, 12, 99) ORDER BY id');
EXPLAIN (VERBOSE, COSTS OFF) SELECT id FROM items WHERE n NOT IN (5, NULL);
SELECT check_same('SELECT id FROM items WHERE n NOT IN (5, NULL) ORDER BY id');
SELECT check_same('SELECT id FROM items WHERE NOT (n IN (5, NULL)) IS NULL ORDER BY id');
SELECT check_same('SELECT id FROM items WHERE cat = ANY (ARRAY[''veg'', NULL]) ORDER BY id');
SELECT check_same('SELECT id FROM items WHERE cat <> ALL (ARRAY[''veg'']) ORDER BY id');
PREPARE in_list(bigint[]) AS SELECT id FROM items WHERE n = ANY ($1) ORDER BY id;
EXPLAIN (VERBOSE, COSTS OFF) EXECUTE in_list('{7, NULL}');
EXECUTE in_list('{7, NULL}');
EXECUTE in_list('{}');
EXECUTE in_list(NULL);

-- LIKE with a portable pattern; other escapes and ILIKE stay local
EXPLAIN (VERBOSE, COSTS OFF) SELECT id FROM items WHERE s LIKE '%a_a%';
SELECT check_same('SELECT id FROM items WHERE s LIKE ''%a_a%'' ORDER BY id');
SELECT check_same('SELECT id FROM items WHERE s LIKE ''%\%'' ORDER BY id');
SELECT check_same('SELECT id FROM items WHERE s NOT LIKE ''%\_%'' ORDER BY id');
SELECT check_same('SELECT id FROM items WHERE s LIKE ''caf_ __'' ORDER BY id');
EXPLAIN (VERBOSE, COSTS OFF) SELECT id FROM items WHERE s LIKE '\a%';
EXPLAIN (VERBOSE, COSTS OFF) SELECT id FROM items WHERE s ILIKE 'A%';

-- numeric constants BIGNUMERIC holds, BETWEEN, bigint arithmetic
EXPLAIN (VERBOSE, COSTS OFF)
SELECT id FROM items WHERE amount >= 2.25 AND n * 2 + 1 BETWEEN 0 AND 100;
SELECT check_same('SELECT id FROM items WHERE amount >= 2.25 AND n * 2 + 1 BETWEEN 0 AND 100 ORDER BY id');
EXPLAIN (VERBOSE, COSTS OFF) SELECT id FROM items WHERE amount = 1.123456789012345678901234567890123456789;
SELECT check_same('SELECT id FROM items WHERE ts >= ''2026-11-02'' AND b ORDER BY id');

-- aggregates, GROUP BY and HAVING: avg is sum / count divided here
EXPLAIN (VERBOSE, COSTS OFF)
SELECT cat, count(*), count(n), count(DISTINCT n), sum(n), avg(n), sum(amount), avg(amount),
       min(amount), max(s), min(d), max(ts)
  FROM items GROUP BY cat HAVING count(*) > 1;
SELECT check_same('SELECT cat, count(*), count(n), count(DISTINCT n), sum(n), avg(n), sum(amount), avg(amount), min(amount), max(s), min(d), max(ts) FROM items GROUP BY cat HAVING count(*) > 1 ORDER BY cat');
SELECT check_same('SELECT count(*), sum(n), avg(amount), max(s) FROM items WHERE id > 100');
SELECT check_same('SELECT count(*), sum(amount) FROM items WHERE id > 100 HAVING count(*) > 0');
SELECT check_same('SELECT d, b, count(*) * 2 + 1, sum(n) FROM items GROUP BY d, b ORDER BY d, b');
-- FILTER (WHERE c): COUNTIF(c), or the argument as IF(c, x, NULL)
EXPLAIN (VERBOSE, COSTS OFF)
SELECT cat, count(*) FILTER (WHERE n > 0), count(DISTINCT n) FILTER (WHERE b),
       sum(n) FILTER (WHERE s LIKE '%a%'), avg(amount) FILTER (WHERE d >= '2026-11-02'),
       max(ts) FILTER (WHERE n IS NULL)
  FROM items GROUP BY cat;
SELECT check_same('SELECT cat, count(*) FILTER (WHERE n > 0), count(DISTINCT n) FILTER (WHERE b), sum(n) FILTER (WHERE s LIKE ''%a%''), avg(amount) FILTER (WHERE d >= ''2026-11-02''), max(ts) FILTER (WHERE n IS NULL), sum(f) FILTER (WHERE id < 5), min(f) FILTER (WHERE b), count(n) FILTER (WHERE NOT b) FROM items GROUP BY cat ORDER BY cat');
-- a filter BigQuery could read otherwise keeps the aggregate local
EXPLAIN (VERBOSE, COSTS OFF) SELECT count(*) FILTER (WHERE s ~ '^a') FROM items;
-- SELECT DISTINCT as a GROUP BY of its columns, with the keys' rules
EXPLAIN (VERBOSE, COSTS OFF)
SELECT DISTINCT cat, b FROM items WHERE n > 0 ORDER BY cat, b LIMIT 3;
SELECT check_same('SELECT DISTINCT cat, b FROM items WHERE n > 0 ORDER BY cat, b LIMIT 3');
SELECT check_same('SELECT DISTINCT d, date_trunc(''month'', ts, ''UTC'') FROM items ORDER BY 1, 2');
EXPLAIN (VERBOSE, COSTS OFF) SELECT DISTINCT f FROM items;
EXPLAIN (VERBOSE, COSTS OFF) SELECT DISTINCT ON (cat) cat, id FROM items ORDER BY cat, id;
-- a HAVING clause BigQuery cannot evaluate filters the rows it returns here
EXPLAIN (VERBOSE, COSTS OFF)
SELECT cat, sum(f) FROM items GROUP BY cat HAVING sum(f) > 1 AND count(*) > 1;
SELECT check_same('SELECT cat, sum(f) FROM items GROUP BY cat HAVING sum(f) > 1 AND count(*) > 1 ORDER BY cat');
-- and keeps the LIMIT here
EXPLAIN (VERBOSE, COSTS OFF)
SELECT cat, count(*) FROM items GROUP BY cat HAVING avg(f) > 0 ORDER BY cat LIMIT 2;
SELECT check_same('SELECT cat, count(*) FROM items GROUP BY cat HAVING avg(f) > 0 ORDER BY cat LIMIT 2');
-- a function of a grouping key is computed here from the key BigQuery
-- returns: a plain column in the remote select list would be neither
-- grouped nor aggregated for BigQuery
EXPLAIN (VERBOSE, COSTS OFF)
SELECT to_char(date_trunc('day', ts, 'UTC'), 'YYYY-MM-DD'), count(*) FROM items
 GROUP BY date_trunc('day', ts, 'UTC');
SELECT check_same('SELECT to_char(date_trunc(''day'', ts, ''UTC''), ''YYYY-MM-DD''), count(*) FROM items GROUP BY date_trunc(''day'', ts, ''UTC'') ORDER BY 1');
EXPLAIN (VERBOSE, COSTS OFF)
SELECT extract(hour FROM date_trunc('hour', ts, 'UTC')), sum(n) FROM items
 GROUP BY date_trunc('hour', ts, 'UTC') ORDER BY date_trunc('hour', ts, 'UTC') + interval '1 hour';
SELECT check_same('SELECT extract(hour FROM date_trunc(''hour'', ts, ''UTC'')), date_trunc(''day'', ts, ''UTC'')::date, date_trunc(''hour'', ts, ''UTC'') AT TIME ZONE ''America/New_York'', COALESCE(date_trunc(''hour'', ts, ''UTC''), ''2000-01-01''), sum(n), max(s) FROM items GROUP BY date_trunc(''hour'', ts, ''UTC''), date_trunc(''day'', ts, ''UTC'') ORDER BY date_trunc(''hour'', ts, ''UTC'') + interval ''1 hour''');
SELECT check_same('SELECT upper(cat), n + 1, count(*) FROM items GROUP BY cat, n ORDER BY upper(cat), n + 1');
-- every remote select item has a name of its own: BigQuery names a column
-- reference after the column and refuses two columns of the same name
CREATE FOREIGN TABLE items2 (id bigint, cat text, n bigint) SERVER push_emu OPTIONS ("table" 'items');
CREATE VIEW local_items2 AS SELECT id, cat COLLATE "default" AS cat, n FROM local_items;
EXPLAIN (VERBOSE, COSTS OFF)
SELECT cat, count(*) FROM items2 GROUP BY cat ORDER BY 2 DESC, cat COLLATE "C";
SELECT check_same('SELECT cat, count(*) FROM items2 GROUP BY cat ORDER BY 2 DESC, cat COLLATE "C"');
EXPLAIN (VERBOSE, COSTS OFF)
SELECT cat, cat COLLATE "C", sum(n) FROM items2 GROUP BY cat, cat COLLATE "C";
SELECT check_same('SELECT cat, cat COLLATE "C", sum(n) FROM items2 GROUP BY cat, cat COLLATE "C" ORDER BY 1');
-- a join of two foreign tables of the server is one BigQuery query (items2
-- reads the same BigQuery table)
EXPLAIN (VERBOSE, COSTS OFF)
SELECT a.id, b.cat FROM items a JOIN items2 b ON a.n = b.n AND a.id < b.id WHERE a.b;
SELECT check_same('SELECT a.id, b.id, b.cat FROM items a JOIN items2 b ON a.n = b.n AND a.id < b.id WHERE a.b ORDER BY 1, 2');
EXPLAIN (VERBOSE, COSTS OFF)
SELECT a.id, b.cat FROM items a LEFT JOIN items2 b ON a.id = b.id AND b.cat = 'veg' WHERE a.id < 7;
SELECT check_same('SELECT a.id, b.cat FROM items a LEFT JOIN items2 b ON a.id = b.id AND b.cat = ''veg'' WHERE a.id < 7 ORDER BY 1');
-- not when a side keeps a local filter, or the tables' query options differ
EXPLAIN (VERBOSE, COSTS OFF)
SELECT a.id, b.cat FROM items a JOIN items2 b ON a.id = b.id WHERE a.f + 1 > 0;
ALTER FOREIGN TABLE items2 OPTIONS (ADD maximum_bytes_billed '1000000');
EXPLAIN (VERBOSE, COSTS OFF)
SELECT a.id, b.cat FROM items a JOIN items2 b ON a.id = b.id;
ALTER FOREIGN TABLE items2 OPTIONS (DROP maximum_bytes_billed);
-- date_trunc in UTC is TIMESTAMP_TRUNC; in the session's time zone too, the
-- zone a parameter read at execution start (test/t/007 checks the zones)
SET timezone = 'Australia/Lord_Howe';
EXPLAIN (VERBOSE, COSTS OFF)
SELECT date_trunc('hour', ts, 'UTC') AS hour, count(*) FROM items
 WHERE date_trunc('day', ts, 'utc') >= '2026-11-02 00:00:00+00' GROUP BY 1;
SELECT check_same('SELECT date_trunc(''hour'', ts, ''UTC'') AS hour, count(*), sum(amount) FROM items WHERE date_trunc(''day'', ts, ''utc'') >= ''2026-11-02 00:00:00+00'' GROUP BY 1 ORDER BY 1');
SELECT check_same('SELECT date_trunc(''month'', ts, ''Etc/UTC''), min(id) FROM items GROUP BY 1 ORDER BY 1');
EXPLAIN (VERBOSE, COSTS OFF) SELECT date_trunc('hour', ts), count(*) FROM items GROUP BY 1;
SELECT check_same('SELECT date_trunc(''hour'', ts), count(*) FROM items GROUP BY 1 ORDER BY 1');
RESET timezone;
-- a local WHERE clause keeps the aggregate local
EXPLAIN (VERBOSE, COSTS OFF) SELECT cat, count(*) FROM items WHERE f + 1 > 0 GROUP BY cat;
-- so do aggregates BigQuery computes differently
EXPLAIN (VERBOSE, COSTS OFF) SELECT string_agg(s, ',') FROM items;
-- float aggregates, with PostgreSQL's NaN, infinity, -0 and overflow rules
-- spelled out (the oracle, 007_fdw_oracle.pl, has NaN and infinities)
EXPLAIN (VERBOSE, COSTS OFF) SELECT max(f) FROM items;
EXPLAIN (VERBOSE, COSTS OFF) SELECT cat, sum(f), avg(f), min(f) FROM items GROUP BY cat;
SELECT check_same('SELECT cat, sum(f), avg(f), min(f), max(f), count(f) FROM items GROUP BY cat ORDER BY cat');
SELECT check_same('SELECT sum(f), avg(f), min(f), max(f) FROM items WHERE id IN (3, 8)');
-- real: min and max pushed, sum and avg local (PostgreSQL rounds to real as it sums)
CREATE FOREIGN TABLE items_real (id bigint, f real) SERVER push_emu OPTIONS ("table" 'items');
CREATE VIEW local_items_real AS SELECT id, f::real AS f FROM local_items;
EXPLAIN (VERBOSE, COSTS OFF) SELECT min(f), max(f) FROM items_real;
SELECT check_same('SELECT min(f), max(f), pg_typeof(max(f)) FROM items_real');
EXPLAIN (VERBOSE, COSTS OFF) SELECT sum(f) FROM items_real;
-- the float_aggregates option keeps them local
ALTER SERVER push_emu OPTIONS (ADD float_aggregates 'local');
EXPLAIN (VERBOSE, COSTS OFF) SELECT max(f) FROM items;
ALTER FOREIGN TABLE items OPTIONS (ADD float_aggregates 'remote');
EXPLAIN (VERBOSE, COSTS OFF) SELECT max(f) FROM items;
ALTER FOREIGN TABLE items OPTIONS (DROP float_aggregates);
ALTER SERVER push_emu OPTIONS (DROP float_aggregates);
ALTER FOREIGN TABLE items OPTIONS (ADD float_aggregates 'sometimes');

-- ORDER BY and LIMIT/OFFSET, when nothing local could change the rows
EXPLAIN (VERBOSE, COSTS OFF)
SELECT cat, sum(amount) FROM items GROUP BY cat ORDER BY sum(amount) DESC NULLS LAST LIMIT 2;
SELECT check_same('SELECT cat, sum(amount) FROM items GROUP BY cat ORDER BY sum(amount) DESC NULLS LAST LIMIT 2');
-- top-N: LIMIT after an aggregate's ORDER BY goes with it
EXPLAIN (VERBOSE, COSTS OFF)
SELECT cat, count(*), max(ts) FROM items GROUP BY cat ORDER BY count(*) DESC, cat LIMIT 2 OFFSET 1;
SELECT check_same('SELECT cat, count(*), max(ts) FROM items GROUP BY cat ORDER BY count(*) DESC, cat LIMIT 2 OFFSET 1');
-- not when the ORDER BY stays local (here a function of the key)
EXPLAIN (VERBOSE, COSTS OFF)
SELECT cat, count(*) FROM items GROUP BY cat ORDER BY upper(cat) LIMIT 2;
SELECT check_same('SELECT cat, count(*) FROM items GROUP BY cat ORDER BY upper(cat) LIMIT 2');
EXPLAIN (VERBOSE, COSTS OFF) SELECT id, s FROM items ORDER BY id LIMIT 3 OFFSET 2;
SELECT check_same('SELECT id, s FROM items ORDER BY id LIMIT 3 OFFSET 2');
EXPLAIN (VERBOSE, COSTS OFF) SELECT id FROM items WHERE n > 0 LIMIT 2;
EXPLAIN (VERBOSE, COSTS OFF) SELECT id FROM items WHERE f > 0 ORDER BY id LIMIT 2;
SELECT check_same('SELECT id FROM items WHERE f > 0 ORDER BY id LIMIT 2');
EXPLAIN (VERBOSE, COSTS OFF) SELECT id FROM items ORDER BY f LIMIT 2;
-- a join is not limited remotely
EXPLAIN (VERBOSE, COSTS OFF)
SELECT i.id FROM items i JOIN local_items l USING (id) ORDER BY i.id LIMIT 2;

-- ANALYZE samples the rows; a large table through TABLESAMPLE SYSTEM
ANALYZE VERBOSE items;
SELECT attname, null_frac, n_distinct FROM pg_stats
 WHERE tablename = 'items' AND attname IN ('cat', 'n', 'b') ORDER BY attname;
-- rows and width come from the table's metadata (numRows, numBytes)
EXPLAIN SELECT id FROM items;
EXPLAIN SELECT * FROM items;
\! curl -sf -o /dev/null -X POST "$BQ/queries" -H 'Content-Type: application/json' -d '{"useLegacySql":false,"query":"CREATE TABLE push_shop.many (id INT64, grp INT64)"}'
CREATE FOREIGN TABLE many (id bigint, grp bigint) SERVER push_emu;
INSERT INTO many SELECT i, i % 7 FROM generate_series(1, 3500) i;
SET default_statistics_target = 1;
SELECT relname, reltuples FROM pg_class WHERE relname = 'many';
ANALYZE many;
SELECT relname, reltuples FROM pg_class WHERE relname = 'many';
SELECT attname, n_distinct FROM pg_stats WHERE tablename = 'many' AND attname = 'grp';

-- the planner's row count of a foreign table follows ALTER FOREIGN TABLE at
-- once, not after the five minutes it is otherwise cached
CREATE FUNCTION plan_rows(q text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE j json;
BEGIN
  EXECUTE 'EXPLAIN (FORMAT JSON) ' || q INTO j;
  RETURN (j->0->'Plan'->>'Plan Rows')::bigint;
END $$;
CREATE FOREIGN TABLE moving (id bigint) SERVER push_emu OPTIONS ("table" 'items');
SELECT plan_rows('SELECT id FROM moving') AS items_rows;
ALTER FOREIGN TABLE moving OPTIONS (SET "table" 'many');
SELECT plan_rows('SELECT id FROM moving') AS many_rows;
DROP FOREIGN TABLE moving;
DROP FUNCTION plan_rows(text);
RESET default_statistics_target;

-- query options: the cost guard refuses a query that would bill more
ALTER FOREIGN TABLE items OPTIONS (ADD maximum_bytes_billed '1', use_query_cache 'false');
SELECT sum(n) FROM items;
SELECT count(*) FROM items;  -- reads no column: nothing billed
ALTER FOREIGN TABLE items OPTIONS (DROP maximum_bytes_billed, DROP use_query_cache);
ALTER SERVER push_emu OPTIONS (ADD maximum_bytes_billed '100000000000');
SELECT sum(n) FROM items;
ALTER FOREIGN TABLE items OPTIONS (ADD timeout 'forever');
ALTER FOREIGN TABLE items OPTIONS (ADD timeout '30s', fetch_size '3');
SELECT check_same('SELECT id FROM items ORDER BY id');

-- a query as the source, pushdown applying on top of it
CREATE FOREIGN TABLE veg (id bigint, s text COLLATE "C", amount numeric(12,2))
  SERVER push_emu OPTIONS (query 'SELECT id, s, amount FROM push_shop.items WHERE cat = ''veg''');
EXPLAIN (VERBOSE, COSTS OFF) SELECT s FROM veg WHERE amount > 1 ORDER BY id;
SELECT s FROM veg WHERE amount > 1 ORDER BY id;
INSERT INTO veg VALUES (9, 'x', 1);
CREATE FOREIGN TABLE bad (id bigint) SERVER push_emu OPTIONS (query 'SELECT 1', "table" 'items');

-- bqstream.enable_pushdown off: BigQuery sends the columns, PostgreSQL does the rest
SET bqstream.enable_pushdown = off;
EXPLAIN (VERBOSE, COSTS OFF) SELECT cat, sum(n) FROM items WHERE n > 1 GROUP BY cat ORDER BY cat LIMIT 2;
SELECT cat, sum(n) FROM items WHERE n > 1 GROUP BY cat ORDER BY cat LIMIT 2;
RESET bqstream.enable_pushdown;
EXPLAIN (VERBOSE, COSTS OFF) SELECT cat, sum(n) FROM items WHERE n > 1 GROUP BY cat ORDER BY cat LIMIT 2;
SELECT cat, sum(n) FROM items WHERE n > 1 GROUP BY cat ORDER BY cat LIMIT 2;

DROP SERVER push_emu CASCADE;
