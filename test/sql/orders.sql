--
-- The order generator, through sample_orders(): realistic, reproducible,
-- late and malformed on request.
--
SET timezone TO 'UTC';
-- a pure-SQL validator with the rules the pipeline applies; NULL when valid
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
  IF o = '{}' THEN RETURN 'empty object'; END IF;
  IF NOT o ?& ARRAY['order_id', 'user_id', 'product_id', 'amount', 'event_time'] THEN
    RETURN 'missing field';
  END IF;
  IF jsonb_typeof(o->'order_id') <> 'string' THEN RETURN 'wrong type: order_id'; END IF;
  IF jsonb_typeof(o->'amount') <> 'number' THEN RETURN 'wrong type: amount'; END IF;
  IF jsonb_typeof(o->'user_id') <> 'string' OR jsonb_typeof(o->'product_id') <> 'string'
     OR jsonb_typeof(o->'event_time') <> 'string' THEN
    RETURN 'wrong type';
  END IF;
  IF o->>'order_id' = '' OR o->>'user_id' = '' OR o->>'product_id' = '' THEN
    RETURN 'empty id';
  END IF;
  IF (o->>'amount')::numeric <= 0 THEN RETURN 'amount not positive'; END IF;
  IF scale((o->>'amount')::numeric) > 2 THEN RETURN 'fractions of a cent'; END IF;
  IF o->>'event_time' !~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$' THEN RETURN 'bad timestamp'; END IF;
  IF (o->>'event_time')::timestamptz > at + interval '1 hour' THEN RETURN 'in the future'; END IF;
  RETURN NULL;
END $$;

-- how the generator writes an event time, as PostgreSQL would
CREATE FUNCTION rfc3339(t timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE
RETURN to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');

-- the same seed gives the same orders, another seed others
SELECT count(*) AS differing
  FROM bqstream.sample_orders(1000, 7, "at" => '2026-11-25 10:00:00+00') WITH ORDINALITY a(o, i)
  JOIN bqstream.sample_orders(1000, 7, "at" => '2026-11-25 10:00:00+00') WITH ORDINALITY b(o, i) USING (i)
 WHERE a.o IS DISTINCT FROM b.o;
SELECT count(*) AS equal
  FROM bqstream.sample_orders(1000, 7, "at" => '2026-11-25 10:00:00+00') WITH ORDINALITY a(o, i)
  JOIN bqstream.sample_orders(1000, 8, "at" => '2026-11-25 10:00:00+00') WITH ORDINALITY b(o, i) USING (i)
 WHERE a.o = b.o;
-- also with malformed and late orders, and a negative seed
SELECT count(*) AS differing
  FROM bqstream.sample_orders(1000, -7, 0.3, 0.3, '2026-11-25 10:00:00+00') WITH ORDINALITY a(o, i)
  JOIN bqstream.sample_orders(1000, -7, 0.3, 0.3, '2026-11-25 10:00:00+00') WITH ORDINALITY b(o, i) USING (i)
 WHERE a.o IS DISTINCT FROM b.o;

-- what an order looks like (seeded, so fixed)
SELECT * FROM bqstream.sample_orders(3, 1, "at" => '2026-11-25 10:00:00.5+00');

-- every on-time order is valid, with sound values
CREATE TEMP TABLE valid AS
  SELECT t AS raw, t::jsonb AS o, order_problem(t, '2026-11-25 10:00:00+00') AS problem
    FROM bqstream.sample_orders(20000, 11, "at" => '2026-11-25 10:00:00+00') t;
SELECT count(*) FILTER (WHERE problem IS NULL) AS valid,
       count(*) FILTER (WHERE problem IS NOT NULL) AS invalid,
       count(*) FILTER (WHERE (SELECT count(*) FROM jsonb_object_keys(o)) <> 5) AS extra_keys,
       count(DISTINCT o->>'order_id') AS distinct_ids,
       bool_and((o->>'order_id')::uuid::text = o->>'order_id'
                AND substr(o->>'order_id', 15, 1) = '4'
                AND substr(o->>'order_id', 20, 1) IN ('8', '9', 'a', 'b')) AS uuid_v4,
       bool_and(o->>'user_id' ~ '^u-\d{7}$' AND o->>'product_id' ~ '^p-\d{5}$') AS id_formats,
       bool_and((o->>'event_time')::timestamptz = '2026-11-25 10:00:00+00') AS on_time
  FROM valid;
-- the exact text: keys in order, amounts with two decimals, microseconds
SELECT count(*) AS odd_text
  FROM valid
 WHERE raw !~ ('^\{"order_id":"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",'
               '"user_id":"u-\d{7}","product_id":"p-\d{5}","amount":(0|[1-9]\d*)\.\d\d,'
               '"event_time":"2026-11-25T10:00:00\.000000Z"\}$');
-- ids in range; both ends of the catalogue reachable
SELECT min(substr(o->>'user_id', 3)::int) >= 1 AS users_from_1,
       max(substr(o->>'user_id', 3)::int) <= 1000000 AS users_to_1000000,
       min(substr(o->>'product_id', 3)::int) AS first_product,
       max(substr(o->>'product_id', 3)::int) <= 10000 AS products_to_10000
  FROM valid;

-- amounts are right-skewed: median near 35, mean above it, a long tail, rarely over 1000
SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY (o->>'amount')::numeric)) BETWEEN 30 AND 40 AS median_ok,
       avg((o->>'amount')::numeric) > 1.2 * percentile_cont(0.5) WITHIN GROUP (ORDER BY (o->>'amount')::numeric) AS skewed,
       min((o->>'amount')::numeric) > 0 AS positive,
       max((o->>'amount')::numeric) > 250 AS long_tail,
       count(*) FILTER (WHERE (o->>'amount')::numeric > 1000) < 20 AS rarely_over_1000
  FROM valid;

-- products follow a Zipf law with exponent 1.1: the best seller takes about
-- 15% of the orders, about 2^1.1 = 2.14 times the second, and is far ahead
-- of the median product
WITH counts AS (
  SELECT o->>'product_id' AS product, count(*) AS n FROM valid GROUP BY 1
)
SELECT (SELECT product FROM counts ORDER BY n DESC, product LIMIT 1) AS best_seller,
       (SELECT n FROM counts WHERE product = 'p-00001') BETWEEN 2600 AND 3400 AS share_ok,
       (SELECT n FROM counts WHERE product = 'p-00001')::numeric
         / (SELECT n FROM counts WHERE product = 'p-00002') BETWEEN 1.9 AND 2.4 AS ratio_ok,
       (SELECT max(n) FROM counts) > 100 * (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY n) FROM counts) AS skewed,
       (SELECT count(*) FROM counts) > 1000 AS long_tail;

-- users come from a large population
SELECT count(DISTINCT o->>'user_id') > 19000 AS many_users FROM valid;

-- late events: 5 to 120 minutes in the past, spread over the range, and otherwise valid
SELECT count(*) AS late,
       bool_and(problem IS NULL) AS valid,
       min('2026-11-25 10:00:00+00' - t) BETWEEN '5 min' AND '6 min' AS least_late,
       max('2026-11-25 10:00:00+00' - t) BETWEEN '119 min' AND '120 min' AS most_late,
       count(DISTINCT t) AS distinct_times
  FROM (SELECT order_problem(o, '2026-11-25 10:00:00+00') AS problem,
               (o::jsonb->>'event_time')::timestamptz AS t
          FROM bqstream.sample_orders(2000, 3, late_fraction => 1, "at" => '2026-11-25 10:00:00+00') o) s;

-- event times across day, month, year and leap-day boundaries, before 2000
-- and at the ends of the four-digit years: late events within their range,
-- written canonically
SELECT rfc3339(at) AS at, count(*) AS n,
       bool_and(t BETWEEN at - interval '120 min' AND at - interval '5 min') AS in_range,
       bool_and(o::jsonb->>'event_time' = rfc3339(t)) AS canonical,
       min(left(o::jsonb->>'event_time', 10)) AS first_day,
       max(left(o::jsonb->>'event_time', 10)) AS last_day
  FROM (VALUES (timestamptz '2027-01-01 00:30:00.000001+00'), ('2024-03-01 01:00:00+00'),
               ('2026-12-01 00:59:59.999999+00'), ('1999-12-31 23:59:59+00'),
               ('2000-01-01 00:15:00+00'), ('1970-01-01 01:00:00+00'),
               ('0001-01-01 02:00:00+00'), ('9999-12-31 23:59:59.999999+00')) a(at),
       LATERAL bqstream.sample_orders(500, 4, late_fraction => 1, "at" => a.at) o,
       LATERAL (SELECT (o::jsonb->>'event_time')::timestamptz AS t) e
 GROUP BY at ORDER BY at;
-- on time, to the microsecond
SELECT o::jsonb->>'event_time' AS event_time
  FROM (VALUES (timestamptz '1999-12-31 23:59:59.999999+00'), ('2024-02-29 12:34:56.000789+00'),
               ('0001-01-01 00:00:00+00'), ('9999-12-31 23:59:59.999999+00')) a(at),
       LATERAL bqstream.sample_orders(1, 1, "at" => a.at) o;

-- malformed messages: each is caught by the validator, of every kind
SELECT order_problem(o, '2026-11-25 10:00:00+00') AS problem, count(*)
  FROM bqstream.sample_orders(9000, 5, malformed_fraction => 1, "at" => '2026-11-25 10:00:00+00') o
 GROUP BY 1 ORDER BY 1;
-- broken JSON is an order cut short; every message is printable ASCII (so valid UTF-8)
SELECT count(*) FILTER (WHERE order_problem(o, '2026-11-25 10:00:00+00') = 'not json'
                          AND o LIKE '{"order_id":%' AND o NOT LIKE '%}') AS cut_short,
       count(*) FILTER (WHERE o !~ '^[ -~]+$') AS not_printable
  FROM bqstream.sample_orders(9000, 5, malformed_fraction => 1, "at" => '2026-11-25 10:00:00+00') o;
-- one of each kind (seeded, so fixed)
SELECT DISTINCT ON (problem) problem, o
  FROM (SELECT i, o, order_problem(o, '2026-11-25 10:00:00+00') AS problem
          FROM bqstream.sample_orders(100, 5, malformed_fraction => 1,
                                      "at" => '2026-11-25 10:00:00+00') WITH ORDINALITY s(o, i)) s
 ORDER BY problem, i;

-- the fractions hold (exact counts: the seed fixes them)
SELECT count(*) FILTER (WHERE order_problem(o, '2026-11-25 10:00:00+00') IS NOT NULL) AS malformed,
       count(*) FILTER (WHERE order_problem(o, '2026-11-25 10:00:00+00') IS NULL
                          AND (o::jsonb->>'event_time')::timestamptz < '2026-11-25 10:00:00+00') AS late,
       count(*) FILTER (WHERE order_problem(o, '2026-11-25 10:00:00+00') IS NULL
                          AND (o::jsonb->>'event_time')::timestamptz = '2026-11-25 10:00:00+00') AS on_time
  FROM bqstream.sample_orders(10000, 9, malformed_fraction => 0.05, late_fraction => 0.1,
                              "at" => '2026-11-25 10:00:00+00') o;

-- no seed: random, different each call, and still valid
SELECT count(DISTINCT o) AS distinct_orders,
       count(*) FILTER (WHERE order_problem(o, now()) IS NOT NULL) AS invalid
  FROM bqstream.sample_orders(100) o;
SELECT count(*) AS equal
  FROM bqstream.sample_orders(100) WITH ORDINALITY a(o, i)
  JOIN bqstream.sample_orders(100) WITH ORDINALITY b(o, i) USING (i)
 WHERE a.o = b.o;
-- "at" defaults to the transaction start
BEGIN;
SELECT bool_and((o::jsonb->>'event_time')::timestamptz = now()) AS at_now
  FROM bqstream.sample_orders(10) o;
COMMIT;
SELECT count(*) FROM bqstream.sample_orders(0);

-- bad arguments
SELECT * FROM bqstream.sample_orders(-1);
SELECT * FROM bqstream.sample_orders(NULL);
SELECT * FROM bqstream.sample_orders(1, malformed_fraction => -0.1);
SELECT * FROM bqstream.sample_orders(1, late_fraction => 2);
SELECT * FROM bqstream.sample_orders(1, late_fraction => 'NaN');
SELECT * FROM bqstream.sample_orders(1, malformed_fraction => 0.6, late_fraction => 0.6);
-- event times that RFC 3339 cannot write, or that a shift would push out of it
SELECT * FROM bqstream.sample_orders(1, "at" => 'infinity');
SELECT * FROM bqstream.sample_orders(1, "at" => '-infinity');
SELECT * FROM bqstream.sample_orders(1, "at" => '10000-01-01 00:00:00+00');
SELECT * FROM bqstream.sample_orders(1, "at" => '0001-01-01 00:00:00+00 BC');
SELECT * FROM bqstream.sample_orders(1, malformed_fraction => 0.1, "at" => '9999-06-01 00:00:00+00');
SELECT * FROM bqstream.sample_orders(1, late_fraction => 0.1, "at" => '0001-01-01 01:59:59.999999+00');

DROP FUNCTION order_problem(text, timestamptz);
DROP FUNCTION rfc3339(timestamptz);
