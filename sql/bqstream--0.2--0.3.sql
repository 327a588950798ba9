/* sql/bqstream--0.2--0.3.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "ALTER EXTENSION bqstream UPDATE TO '0.3'" to load this file. \quit

-- 0.3: pipelines write through BigQuery's Storage Write API.  Each pipeline
-- has a write mode: insert_all (tabledata.insertAll, de-duplicated by
-- insertId for about a minute: what 0.2 did), default_stream (the table's
-- _default write stream: at least once, the cheapest) or exactly_once
-- (committed write streams with offsets, recorded here before each append:
-- see src/worker/exactly_once.c).  Pipelines made under 0.2 keep insert_all;
-- new ones default to exactly_once.

ALTER TABLE bqstream.pipelines ADD COLUMN write_mode text NOT NULL DEFAULT 'insert_all'
  CONSTRAINT pipelines_write_mode_check
  CHECK (write_mode IN ('insert_all', 'default_stream', 'exactly_once'));
ALTER TABLE bqstream.pipelines ALTER COLUMN write_mode SET DEFAULT 'exactly_once';

-- How long the de-duplication ledger of an exactly_once pipeline remembers a
-- message that was appended: a redelivery within that time is acknowledged
-- without a second append.  On a subscription with exactly-once delivery an
-- entry goes as soon as Pub/Sub confirms its acknowledgement.
ALTER TABLE bqstream.pipelines ADD COLUMN dedup_retention interval NOT NULL DEFAULT '1 day'
  CONSTRAINT pipelines_dedup_retention_check
  CHECK (dedup_retention >= interval '10 minutes');

COMMENT ON COLUMN bqstream.pipelines.write_mode IS
'how rows reach BigQuery: insert_all (insertAll with insertId), default_stream (Storage Write API _default stream, at least once) or exactly_once (committed write streams with offsets)';
COMMENT ON COLUMN bqstream.pipelines.dedup_retention IS
'exactly_once: how long an appended message''s ID is remembered against redelivery (an acknowledgement confirmed by exactly-once delivery ends it sooner)';

-- The committed write streams of exactly_once pipelines: one per worker,
-- held with a session lock by the worker that appends to it, with the
-- offset its next rows go to.  Rotated (finalized and replaced) after
-- bqstream.write_stream_max_rows rows or bqstream.write_stream_max_age.
CREATE TABLE bqstream.write_streams (
    id          bigserial PRIMARY KEY,
    pipeline    text NOT NULL,
    owner       regrole NOT NULL,
    stream      text NOT NULL UNIQUE,
    next_offset bigint NOT NULL DEFAULT 0 CHECK (next_offset >= 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (pipeline, owner) REFERENCES bqstream.pipelines (name, owner)
      ON UPDATE CASCADE ON DELETE CASCADE
);
CREATE INDEX ON bqstream.write_streams (pipeline);
CREATE INDEX ON bqstream.write_streams (owner);

COMMENT ON TABLE bqstream.write_streams IS
'committed BigQuery write streams of exactly_once pipelines and the offset of their next append';

-- An append that may or may not have landed: recorded (with the encoded
-- rows) before it is sent, deleted once BigQuery confirmed it.  At most one
-- per stream; a worker that takes the stream's lock sends it again,
-- byte-identical at the same offset.
CREATE TABLE bqstream.write_intents (
    stream_id    bigint NOT NULL REFERENCES bqstream.write_streams ON DELETE CASCADE,
    first_offset bigint NOT NULL CHECK (first_offset >= 0),
    pipeline     text NOT NULL,
    owner        regrole NOT NULL,
    message_ids  text[] NOT NULL,
    rows         bytea[] NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream_id, first_offset),
    CHECK (pg_catalog.cardinality(message_ids) = pg_catalog.cardinality(rows)),
    FOREIGN KEY (pipeline, owner) REFERENCES bqstream.pipelines (name, owner)
      ON UPDATE CASCADE ON DELETE CASCADE
);
CREATE INDEX ON bqstream.write_intents (pipeline);
-- the rows are protocol buffers: compressing them costs the worker CPU for
-- little, and they live only until BigQuery confirms the append
ALTER TABLE bqstream.write_intents ALTER COLUMN rows SET STORAGE EXTERNAL;

COMMENT ON TABLE bqstream.write_intents IS
'appends of exactly_once pipelines not yet confirmed by BigQuery, with their rows as sent';

-- The de-duplication ledger: every message an exactly_once pipeline
-- appended, and the intent that carries it (landed once that intent is gone).
CREATE TABLE bqstream.write_ledger (
    pipeline     text NOT NULL,
    owner        regrole NOT NULL,
    message_id   text NOT NULL,
    stream_id    bigint NOT NULL,
    intent_offset bigint NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (pipeline, message_id),
    FOREIGN KEY (pipeline, owner) REFERENCES bqstream.pipelines (name, owner)
      ON UPDATE CASCADE ON DELETE CASCADE
);
-- every appended message enters it: two indexes only (the key, and the
-- retention's scan); the foreign key's cascades find rows by the key's
-- first column
CREATE INDEX ON bqstream.write_ledger (pipeline, recorded_at);

COMMENT ON TABLE bqstream.write_ledger IS
'IDs of the messages exactly_once pipelines appended, against a second append of a redelivery';

-- Like the pipelines and their dead letters: each role reads the rows of its
-- own pipelines (members of pg_read_all_stats the streams, which hold no
-- payload), nobody but the workers and the pipeline functions writes.
REVOKE ALL ON bqstream.write_streams, bqstream.write_intents, bqstream.write_ledger FROM PUBLIC;
GRANT SELECT ON bqstream.write_streams, bqstream.write_intents, bqstream.write_ledger TO PUBLIC;
ALTER TABLE bqstream.write_streams ENABLE ROW LEVEL SECURITY;
ALTER TABLE bqstream.write_intents ENABLE ROW LEVEL SECURITY;
ALTER TABLE bqstream.write_ledger ENABLE ROW LEVEL SECURITY;
CREATE POLICY write_streams_read ON bqstream.write_streams FOR SELECT
  USING (pg_catalog.pg_has_role(owner, 'USAGE')
         OR pg_catalog.pg_has_role('pg_read_all_stats', 'USAGE'));
CREATE POLICY write_intents_read ON bqstream.write_intents FOR SELECT
  USING (pg_catalog.pg_has_role(owner, 'USAGE'));
CREATE POLICY write_ledger_read ON bqstream.write_ledger FOR SELECT
  USING (pg_catalog.pg_has_role(owner, 'USAGE'));

SELECT pg_catalog.pg_extension_config_dump('bqstream.write_streams', '');
SELECT pg_catalog.pg_extension_config_dump('bqstream.write_streams_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('bqstream.write_intents', '');
SELECT pg_catalog.pg_extension_config_dump('bqstream.write_ledger', '');

-- create_pipeline() and alter_pipeline() take the two settings.  The
-- signatures change, so the old functions go.
DROP FUNCTION bqstream.create_pipeline(text, text, text, text, integer, integer, integer, interval, interval, text, boolean);
DROP FUNCTION bqstream.alter_pipeline(text, integer, integer, integer, interval, interval);

CREATE FUNCTION bqstream.create_pipeline(name text, server text, subscription text,
                                         target_table text DEFAULT 'raw_orders',
                                         workers integer DEFAULT 1,
                                         max_workers integer DEFAULT NULL,
                                         batch_size integer DEFAULT 1000,
                                         max_lateness interval DEFAULT '5 minutes',
                                         max_future_skew interval DEFAULT '1 hour',
                                         dataset text DEFAULT NULL,
                                         start boolean DEFAULT true,
                                         write_mode text DEFAULT 'exactly_once',
                                         dedup_retention interval DEFAULT '1 day')
RETURNS void
AS 'MODULE_PATHNAME', 'bqstream_create_pipeline'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION bqstream.create_pipeline(text, text, text, text, integer, integer, integer, interval, interval, text, boolean, text, interval) IS
'creates a pipeline owned by the current user, streaming a subscription into a BigQuery table with write_mode (exactly_once, default_stream or insert_all), with workers..max_workers workers (scaled on backlog), started unless start is false';

CREATE FUNCTION bqstream.alter_pipeline(name text, workers integer DEFAULT NULL,
                                        max_workers integer DEFAULT NULL,
                                        batch_size integer DEFAULT NULL,
                                        max_lateness interval DEFAULT NULL,
                                        max_future_skew interval DEFAULT NULL,
                                        write_mode text DEFAULT NULL,
                                        dedup_retention interval DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'bqstream_alter_pipeline'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION bqstream.alter_pipeline(text, integer, integer, integer, interval, interval, text, interval) IS
'changes the settings given (not NULL) of a pipeline; its owner only';

-- The statistics count what the Storage Write API paths do.
DROP VIEW bqstream.pipeline_stats;
DROP VIEW bqstream.worker_stats;
DROP FUNCTION bqstream.worker_stats();

CREATE FUNCTION bqstream.worker_stats(
    OUT pipeline text, OUT worker integer, OUT pid integer, OUT state text,
    OUT started_at timestamptz, OUT received bigint, OUT inserted bigint, OUT acked bigint,
    OUT dead_lettered bigint, OUT dead_lettered_by_reason jsonb, OUT redelivered bigint,
    OUT late bigint, OUT batches bigint, OUT retries bigint, OUT full_pulls bigint,
    OUT empty_pulls bigint, OUT rows_per_second_last_minute double precision,
    OUT latency_p50_ms double precision, OUT latency_p95_ms double precision,
    OUT latency_p99_ms double precision, OUT last_error text, OUT last_error_at timestamptz,
    OUT appends bigint, OUT replays bigint, OUT already_existed bigint,
    OUT duplicates_skipped bigint, OUT streams_created bigint, OUT streams_finalized bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'bqstream_pipeline_stats'
LANGUAGE C VOLATILE;

CREATE VIEW bqstream.worker_stats WITH (security_invoker = true) AS
  SELECT * FROM bqstream.worker_stats();

COMMENT ON VIEW bqstream.worker_stats IS
'per pipeline worker: state and counters from shared memory; latencies are publish time to BigQuery acceptance, as powers of two of milliseconds; appends, replays (intents sent again), already_existed (appends BigQuery had), duplicates_skipped (redeliveries the ledger knew), streams created and finalized count the Storage Write API paths';

CREATE VIEW bqstream.pipeline_stats WITH (security_invoker = true) AS
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
       max(w.last_error_at) AS last_error_at,
       p.write_mode,
       coalesce(sum(w.appends), 0)::bigint AS appends,
       coalesce(sum(w.replays), 0)::bigint AS replays,
       coalesce(sum(w.already_existed), 0)::bigint AS already_existed,
       coalesce(sum(w.duplicates_skipped), 0)::bigint AS duplicates_skipped,
       coalesce(sum(w.streams_created), 0)::bigint AS streams_created,
       coalesce(sum(w.streams_finalized), 0)::bigint AS streams_finalized
  FROM bqstream.pipelines p
  LEFT JOIN bqstream.worker_stats() w ON w.pipeline = p.name
 GROUP BY p.name, p.enabled, p.min_workers, p.max_workers, p.write_mode;

COMMENT ON VIEW bqstream.pipeline_stats IS
'per pipeline: workers, counters summed over them, the worst worker''s latency percentiles, the latest error, the write mode';

GRANT SELECT ON bqstream.worker_stats, bqstream.pipeline_stats TO PUBLIC;
