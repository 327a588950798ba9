/* sql/bqstream--0.1--0.2.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "ALTER EXTENSION bqstream UPDATE TO '0.2'" to load this file. \quit

-- 0.2: bqstream is safe to grant to roles that are not superusers.  CREATE
-- EXTENSION installs 0.1 and applies this script, so it is the only
-- definition of what changed.

-- Members of this role may use the database host's own GCP identity
-- (application default credentials, the metadata server).  Roles are shared
-- by the whole cluster: a second database's CREATE EXTENSION finds it.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'bqstream_host_identity') THEN
        CREATE ROLE bqstream_host_identity NOLOGIN;
    END IF;
END $$;

COMMENT ON ROLE bqstream_host_identity IS
'members may act as the database host''s own GCP identity (application default credentials, metadata server) through bqstream_fdw user mappings without a key';

-- ---------------------------------------------------------------------
-- Pipelines have a real owner.
--
-- The owner is a role reference, so that pg_dump writes its name and a
-- restore reads it by name.  Pipelines of a role dropped under 0.1 are
-- stopped: their workers would run as nobody.
-- ---------------------------------------------------------------------
ALTER TABLE bqstream.pipelines ALTER COLUMN owner DROP DEFAULT;
ALTER TABLE bqstream.pipelines ALTER COLUMN owner TYPE regrole USING owner::regrole;

DO $$
DECLARE
    p record;
BEGIN
    FOR p IN SELECT name, owner::oid AS owner FROM bqstream.pipelines
              WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.oid = owner::oid)
              ORDER BY name
    LOOP
        UPDATE bqstream.pipelines SET enabled = false WHERE name = p.name;
        RAISE WARNING 'bqstream pipeline "%" is owned by a role that no longer exists (OID %): it is stopped', p.name, p.owner
            USING HINT = 'Drop it with bqstream.drop_pipeline(), or give it an existing owner.';
    END LOOP;
END $$;

-- Dead letters belong to their pipeline's owner and go with the pipeline:
-- dropped with it, reassigned with it (the foreign key's cascades).
-- Letters of pipelines dropped under 0.1 have no owner (NULL, which the
-- foreign key lets through): only superusers see them.
ALTER TABLE bqstream.dead_letters ADD COLUMN owner regrole;
UPDATE bqstream.dead_letters d SET owner = p.owner
  FROM bqstream.pipelines p WHERE p.name = d.pipeline;

ALTER TABLE bqstream.pipelines ADD CONSTRAINT pipelines_name_owner_key UNIQUE (name, owner);
ALTER TABLE bqstream.dead_letters ADD CONSTRAINT dead_letters_pipeline_fkey
  FOREIGN KEY (pipeline, owner) REFERENCES bqstream.pipelines (name, owner)
  ON UPDATE CASCADE ON DELETE CASCADE;
CREATE INDEX ON bqstream.dead_letters (owner);

COMMENT ON COLUMN bqstream.pipelines.owner IS
'the role that created the pipeline: its workers run as this role, with its user mapping';
COMMENT ON COLUMN bqstream.dead_letters.owner IS
'the owner of the pipeline that dead-lettered the message; NULL for letters of pipelines dropped before bqstream 0.2';

-- Ordinary roles read their own rows and write nothing: the pipeline
-- functions and the workers write as the extension's owner, after their
-- own checks.  Members of pg_read_all_stats read every pipeline (not the
-- dead letters, which hold payloads).
REVOKE ALL ON bqstream.pipelines, bqstream.dead_letters FROM PUBLIC;
GRANT SELECT ON bqstream.pipelines, bqstream.dead_letters TO PUBLIC;
ALTER TABLE bqstream.pipelines ENABLE ROW LEVEL SECURITY;
ALTER TABLE bqstream.dead_letters ENABLE ROW LEVEL SECURITY;
CREATE POLICY pipelines_read ON bqstream.pipelines FOR SELECT
  USING (pg_catalog.pg_has_role(owner, 'USAGE')
         OR pg_catalog.pg_has_role('pg_read_all_stats', 'USAGE'));
CREATE POLICY dead_letters_read ON bqstream.dead_letters FOR SELECT
  USING (pg_catalog.pg_has_role(owner, 'USAGE'));

-- The launcher is woken by the pipeline functions themselves.
REVOKE EXECUTE ON FUNCTION bqstream.wake_launcher() FROM PUBLIC;

-- The pipeline functions check as the caller (USAGE on the server, a user
-- mapping, ownership) and write the catalog as the extension's owner; the
-- caller becomes the owner.  Same signatures as in 0.1.
CREATE OR REPLACE FUNCTION bqstream.create_pipeline(name text, server text, subscription text,
                                                    target_table text DEFAULT 'raw_orders',
                                                    workers integer DEFAULT 1,
                                                    max_workers integer DEFAULT NULL,
                                                    batch_size integer DEFAULT 1000,
                                                    max_lateness interval DEFAULT '5 minutes',
                                                    max_future_skew interval DEFAULT '1 hour',
                                                    dataset text DEFAULT NULL,
                                                    start boolean DEFAULT true)
RETURNS void
AS 'MODULE_PATHNAME', 'bqstream_create_pipeline'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION bqstream.create_pipeline(text, text, text, text, integer, integer, integer, interval, interval, text, boolean) IS
'creates a pipeline owned by the current user, streaming a subscription into a BigQuery table, with workers..max_workers workers (scaled on backlog), started unless start is false';

CREATE OR REPLACE FUNCTION bqstream.alter_pipeline(name text, workers integer DEFAULT NULL,
                                                   max_workers integer DEFAULT NULL,
                                                   batch_size integer DEFAULT NULL,
                                                   max_lateness interval DEFAULT NULL,
                                                   max_future_skew interval DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'bqstream_alter_pipeline'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION bqstream.alter_pipeline(text, integer, integer, integer, interval, interval) IS
'changes the settings given (not NULL) of a pipeline; its owner only';

CREATE OR REPLACE FUNCTION bqstream.set_pipeline_enabled(name text, enabled boolean)
RETURNS void
AS 'MODULE_PATHNAME', 'bqstream_set_pipeline_enabled'
LANGUAGE C STRICT VOLATILE;

CREATE OR REPLACE FUNCTION bqstream.start_pipeline(name text)
RETURNS void
AS 'MODULE_PATHNAME', 'bqstream_start_pipeline'
LANGUAGE C STRICT VOLATILE;

CREATE OR REPLACE FUNCTION bqstream.stop_pipeline(name text)
RETURNS void
AS 'MODULE_PATHNAME', 'bqstream_stop_pipeline'
LANGUAGE C STRICT VOLATILE;

CREATE OR REPLACE FUNCTION bqstream.drop_pipeline(name text)
RETURNS void
AS 'MODULE_PATHNAME', 'bqstream_drop_pipeline'
LANGUAGE C STRICT VOLATILE;

COMMENT ON FUNCTION bqstream.drop_pipeline(text) IS
'drops a pipeline and its dead letters; its owner only';

-- Each role sees the statistics of its own pipelines (superusers and
-- members of pg_read_all_stats all of them).  The views run as their
-- caller, so that the policies above apply to them too.
ALTER VIEW bqstream.worker_stats SET (security_invoker = true);
ALTER VIEW bqstream.pipeline_stats SET (security_invoker = true);
GRANT SELECT ON bqstream.worker_stats, bqstream.pipeline_stats TO PUBLIC;

COMMENT ON FUNCTION bqstream.republish_dead_letters(bigint[], text, text) IS
'publishes the payloads (and attributes) of the given dead letters to a topic again, typically after fixing them, and deletes them; only dead letters of the caller''s own pipelines';

-- Pub/Sub's default ack deadline, 10 s, rather than 60 s: the workers keep
-- leases that short anyway, and a longer deadline cost them a
-- modifyAckDeadline per batch to shorten it.  Same signature, new default.
CREATE OR REPLACE FUNCTION bqstream.create_subscription(server text, subscription text, topic text,
                                                        ack_deadline_seconds integer DEFAULT 10,
                                                        dead_letter_topic text DEFAULT NULL,
                                                        max_delivery_attempts integer DEFAULT 5)
RETURNS boolean
AS 'MODULE_PATHNAME', 'bqstream_create_subscription'
LANGUAGE C VOLATILE;
