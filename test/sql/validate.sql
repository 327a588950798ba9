--
-- The pipelines' validation of payloads (bqstream.check_order), including
-- hostile input: whatever a publisher sends, the answer is a reason, never
-- a crash and never a payload passed on that is not valid JSON.
--
SET timezone = 'UTC';
CREATE FUNCTION chk(p text) RETURNS text LANGUAGE sql AS
$$ SELECT coalesce(reason || ': ' || detail, 'ok')
     FROM bqstream.check_order(p, '1 hour', '2026-11-25 10:00:00+00') $$;
CREATE FUNCTION chkb(p bytea) RETURNS text LANGUAGE sql AS
$$ SELECT coalesce(reason || ': ' || detail, 'ok')
     FROM bqstream.check_order(p, '1 hour', '2026-11-25 10:00:00+00') $$;

-- a good order, in several spellings
SELECT chk('{"order_id":"o-1","user_id":"u-1","product_id":"p-1","amount":12.5,"event_time":"2026-11-25T09:59:00Z"}');
SELECT chk(' { "event_time" : "2026-11-25 09:59:00.123456789+01:00" , "amount" : 0 , "product_id":"p","user_id":"u","order_id":"o" } ');
SELECT chk('{"order_id":"\u00e9t\u00e9","user_id":"u","product_id":"p","amount":1e2,"event_time":"2026-11-25t09:00:00z"}');

-- the schema: missing, unknown, duplicated, null, wrong types
SELECT chk('{"user_id":"u","product_id":"p","amount":1,"event_time":"2026-11-25T09:00:00Z"}');
SELECT chk('{"order_id":null,"user_id":"u","product_id":"p","amount":1,"event_time":"2026-11-25T09:00:00Z"}');
SELECT chk('{"order_id":"o","user_id":"u","product_id":"p","amount":1,"event_time":"2026-11-25T09:00:00Z","coupon":"X"}');
SELECT chk('{"order_id":"o","order_id":"o2","user_id":"u","product_id":"p","amount":1,"event_time":"2026-11-25T09:00:00Z"}');
SELECT chk('{"order_id":null,"order_id":"o2","user_id":"u","product_id":"p","amount":1,"event_time":"2026-11-25T09:00:00Z"}');
SELECT chk('{"order_id":"o","user_id":"u","product_id":"p","amount":1,"event_time":"2026-11-25T09:00:00Z","coupon":null,"coupon":"X"}');
SELECT chk('{"order_id":7,"user_id":"u","product_id":"p","amount":1,"event_time":"2026-11-25T09:00:00Z"}');
SELECT chk('{"order_id":"o","user_id":"u","product_id":"p","amount":"1.00","event_time":"2026-11-25T09:00:00Z"}');
SELECT chk('{"order_id":"o","user_id":["u"],"product_id":"p","amount":1,"event_time":"2026-11-25T09:00:00Z"}');
SELECT chk('{"order_id":"o","user_id":"u","product_id":"p","amount":{"v":1},"event_time":"2026-11-25T09:00:00Z"}');

-- the order rules
SELECT chk('{"order_id":"","user_id":"u","product_id":"p","amount":1,"event_time":"2026-11-25T09:00:00Z"}');
SELECT chk('{"order_id":"' || repeat('x', 129) || '","user_id":"u","product_id":"p","amount":1,"event_time":"2026-11-25T09:00:00Z"}');
SELECT chk('{"order_id":"o","user_id":"u","product_id":"p","amount":-0.01,"event_time":"2026-11-25T09:00:00Z"}');
SELECT chk('{"order_id":"o","user_id":"u","product_id":"p","amount":1e999,"event_time":"2026-11-25T09:00:00Z"}');
SELECT chk('{"order_id":"o","user_id":"u","product_id":"p","amount":1,"event_time":"2026-11-25T11:00:01Z"}');
SELECT chk('{"order_id":"o","user_id":"u","product_id":"p","amount":1,"event_time":"2026-11-25T11:00:00Z"}');

-- timestamps
SELECT t, chk('{"order_id":"o","user_id":"u","product_id":"p","amount":1,"event_time":"' || t || '"}')
  FROM (VALUES ('2026-02-29T00:00:00Z'), ('2024-02-29T00:00:00Z'), ('2026-11-25T24:00:00Z'),
               ('2026-11-25T09:00:60Z'), ('2026-11-25T09:00'), ('2026-11-25T09:00:00.Z'),
               ('2026-11-25T09:00:00.1234567890Z'), ('2026-11-25T09:00:00+0530'),
               ('2026-11-25T09:00:00 Z'), ('yesterday'), ('')) v(t);

-- not JSON, or not an object
SELECT chk('{"order_id":"o","user_id":"u"');
SELECT chk('{"order_id":"o"} trailing');
SELECT chk('["o","u","p",1,"2026-11-25T09:00:00Z"]');
SELECT chk('"just a string"');
SELECT chk('');
SELECT chk('{"order_id":"o\u0000","user_id":"u","product_id":"p","amount":1,"event_time":"2026-11-25T09:00:00Z"}');
SELECT chk('{"order_id":"\ud800","user_id":"u","product_id":"p","amount":1,"event_time":"2026-11-25T09:00:00Z"}');
SELECT chk('{"order_id":"\x","user_id":"u","product_id":"p","amount":1,"event_time":"2026-11-25T09:00:00Z"}');
SELECT chk('{"order_id":"o","user_id":"u","product_id":"p","amount":01,"event_time":"2026-11-25T09:00:00Z"}');
SELECT chk('{"order_id":"o","user_id":"u","product_id":"p","amount":1.,"event_time":"2026-11-25T09:00:00Z"}');
SELECT chk('{"order_id":"o",}');
SELECT chk('{order_id:"o"}');
SELECT chk('{"order_id":"o","user_id":"u","product_id":"p","amount":tru,"event_time":"2026-11-25T09:00:00Z"}');
SELECT chk(repeat('[', 100000) || repeat(']', 100000));
SELECT chk('{"order_id":"o","user_id":"u","product_id":"p","amount":1,"event_time":"2026-11-25T09:00:00Z","x":' || repeat('{"a":', 70) || '1' || repeat('}', 70) || '}');
SELECT chkb('\x7b226f726465725f6964223a22ff227d'::bytea);             -- invalid UTF-8
SELECT chkb('\x7b226f726465725f6964223a22c3227d'::bytea);             -- truncated UTF-8
SELECT chkb('\xefbbbf7b7d'::bytea);                                   -- BOM
SELECT chkb('\x7b226f726465725f6964223a226f0a227d'::bytea);           -- raw newline in a string

-- every order the generator makes on purpose malformed is caught, every other passes
SELECT (bqstream.check_order(o, '1 hour', '2026-11-25 10:00:00+00')).reason IS NULL AS passes, count(*)
  FROM bqstream.sample_orders(5000, 42, malformed_fraction => 0.3, late_fraction => 0.3,
                              "at" => '2026-11-25 10:00:00+00') o
 GROUP BY 1 ORDER BY 1;
SELECT (bqstream.check_order(o, '1 hour', '2026-11-25 10:00:00+00')).reason, count(*)
  FROM bqstream.sample_orders(9000, 5, malformed_fraction => 1, "at" => '2026-11-25 10:00:00+00') o
 GROUP BY 1 ORDER BY 1;

DROP FUNCTION chk(text);
DROP FUNCTION chkb(bytea);
