--
-- The order generator, through sample_orders(): realistic, reproducible,
-- late and malformed on request.
--
-- a pure-SQL validator with the rules the pipeline will apply
CREATE FUNCTION order_problem(payload text, at timestamptz) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  o jsonb;
BEGIN
  BEGIN
    o := payload::jsonb;
  EXCEPTION WHEN others THEN
    RETURN 'not json';
  END;
  IF jsonb_typeof(o) <> 'object' THEN RETURN 'not an object'; END IF;
  IF NOT o ?& ARRAY['order_id', 'user_id', 'product_id', 'amount', 'event_time'] THEN
    RETURN 'missing field';
  END IF;
  IF jsonb_typeof(o->'order_id') <> 'string' OR jsonb_typeof(o->'user_id') <> 'string'
     OR jsonb_typeof(o->'product_id') <> 'string' OR jsonb_typeof(o->'event_time') <> 'string' THEN
    RETURN 'wrong type';
  END IF;
  IF jsonb_typeof(o->'amount') <> 'number' THEN RETURN 'wrong type'; END IF;
  IF (o->>'amount')::numeric <= 0 THEN RETURN 'amount not positive'; END IF;
  IF o->>'event_time' !~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$' THEN RETURN 'bad timestamp'; END IF;
  IF (o->>'event_time')::timestamptz > at + interval '1 hour' THEN RETURN 'in the future'; END IF;
  RETURN NULL;
END $$;

-- the same seed gives the same orders, another seed others
SELECT count(*) AS differing
  FROM bqstream.sample_orders(1000, 7, "at" => '2026-11-25 10:00:00+00') WITH ORDINALITY a(o, i)
  JOIN bqstream.sample_orders(1000, 7, "at" => '2026-11-25 10:00:00+00') WITH ORDINALITY b(o, i) USING (i)
 WHERE a.o IS DISTINCT FROM b.o;
SELECT count(*) AS equal
  FROM bqstream.sample_orders(1000, 7, "at" => '2026-11-25 10:00:00+00') WITH ORDINALITY a(o, i)
  JOIN bqstream.sample_orders(1000, 8, "at" => '2026-11-25 10:00:00+00') WITH ORDINALITY b(o, i) USING (i)
 WHERE a.o = b.o;

-- what an order looks like (seeded, so fixed)
SELECT * FROM bqstream.sample_orders(3, 1, "at" => '2026-11-25 10:00:00.5+00');

-- every on-time order is valid, with sound values
CREATE TEMP TABLE valid AS
  SELECT o::jsonb AS o, order_problem(o, '2026-11-25 10:00:00+00') AS problem
    FROM bqstream.sample_orders(20000, 11, "at" => '2026-11-25 10:00:00+00') o;
SELECT count(*) FILTER (WHERE problem IS NULL) AS valid,
       count(*) FILTER (WHERE problem IS NOT NULL) AS invalid,
       count(*) FILTER (WHERE (SELECT count(*) FROM jsonb_object_keys(o)) <> 5) AS extra_keys,
       count(DISTINCT o->>'order_id') AS distinct_ids,
       bool_and((o->>'order_id')::uuid::text = o->>'order_id'
                AND substr(o->>'order_id', 15, 1) = '4'
                AND substr(o->>'order_id', 20, 1) IN ('8', '9', 'a', 'b')) AS uuid_v4,
       bool_and(o->>'user_id' ~ '^u-\d{7}$' AND o->>'product_id' ~ '^p-\d{5}$') AS id_formats,
       bool_and((o->>'event_time')::timestamptz = '2026-11-25 10:00:00+00') AS on_time,
       bool_and((o->>'amount')::numeric = round((o->>'amount')::numeric, 2)) AS cents
  FROM valid;

-- amounts are right-skewed: median near 35, mean above it, a long tail
SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY (o->>'amount')::float8)) BETWEEN 30 AND 40 AS median_ok,
       avg((o->>'amount')::float8) > percentile_cont(0.5) WITHIN GROUP (ORDER BY (o->>'amount')::float8) AS skewed,
       min((o->>'amount')::float8) > 0 AS positive,
       max((o->>'amount')::float8) > 250 AS long_tail
  FROM valid;

-- products follow a Zipf law: the best seller is far ahead of the median product
WITH counts AS (
  SELECT o->>'product_id' AS product, count(*) AS n FROM valid GROUP BY 1
)
SELECT (SELECT product FROM counts ORDER BY n DESC, product LIMIT 1) AS best_seller,
       (SELECT max(n) FROM counts) > 20 * (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY n) FROM counts) AS skewed,
       (SELECT count(*) FROM counts) > 1000 AS long_tail;

-- users come from a large population
SELECT count(DISTINCT o->>'user_id') > 19000 AS many_users FROM valid;

-- late events: 5 to 120 minutes in the past, and otherwise valid
SELECT count(*) AS late,
       bool_and(problem IS NULL) AS valid,
       bool_and((o->>'event_time')::timestamptz BETWEEN '2026-11-25 08:00:00+00' AND '2026-11-25 09:55:00+00') AS in_range
  FROM (SELECT o::jsonb AS o, order_problem(o, '2026-11-25 10:00:00+00') AS problem
          FROM bqstream.sample_orders(2000, 3, late_fraction => 1, "at" => '2026-11-25 10:00:00+00') o) s;

-- malformed messages: each is caught by the validator, of every kind
SELECT order_problem(o, '2026-11-25 10:00:00+00') AS problem, count(*)
  FROM bqstream.sample_orders(9000, 5, malformed_fraction => 1, "at" => '2026-11-25 10:00:00+00') o
 GROUP BY 1 ORDER BY 1;

-- the fractions hold (exact counts: the seed fixes them)
SELECT count(*) FILTER (WHERE order_problem(o, '2026-11-25 10:00:00+00') IS NOT NULL) AS malformed,
       count(*) FILTER (WHERE order_problem(o, '2026-11-25 10:00:00+00') IS NULL
                          AND (o::jsonb->>'event_time')::timestamptz < '2026-11-25 10:00:00+00') AS late
  FROM bqstream.sample_orders(10000, 9, malformed_fraction => 0.05, late_fraction => 0.1,
                              "at" => '2026-11-25 10:00:00+00') o;

-- no seed: random, and still valid
SELECT count(DISTINCT o) AS distinct_orders FROM bqstream.sample_orders(100) o;
SELECT count(*) FROM bqstream.sample_orders(0);

-- bad arguments
SELECT * FROM bqstream.sample_orders(-1);
SELECT * FROM bqstream.sample_orders(NULL);
SELECT * FROM bqstream.sample_orders(1, malformed_fraction => -0.1);
SELECT * FROM bqstream.sample_orders(1, late_fraction => 2);
SELECT * FROM bqstream.sample_orders(1, malformed_fraction => 0.6, late_fraction => 0.6);

DROP FUNCTION order_problem(text, timestamptz);
