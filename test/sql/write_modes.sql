--
-- Write modes of pipelines (0.3): the arguments of create_pipeline() and
-- alter_pipeline(), the catalog's defaults and constraints, the tables of
-- the exactly_once mode (privileges, row security) and the statistics'
-- new columns.  Needs neither the emulator nor preloading: the write mode
-- is checked before anything else, and the catalog is read directly.
--

-- the signatures and their defaults
SELECT pg_get_function_arguments('bqstream.create_pipeline'::regproc);
SELECT pg_get_function_arguments('bqstream.alter_pipeline'::regproc);

-- a write mode that does not exist is refused first, with the valid ones
SELECT bqstream.create_pipeline('p', 'srv', 'sub', write_mode => 'streaming');
SELECT bqstream.create_pipeline('p', 'srv', 'sub', write_mode => 'EXACTLY_ONCE');
SELECT bqstream.create_pipeline('p', 'srv', 'sub', write_mode => '');
SELECT bqstream.alter_pipeline('p', write_mode => 'insertAll');

-- the table: new rows default to exactly_once with a day of de-duplication
SELECT column_name, column_default, is_nullable
  FROM information_schema.columns
 WHERE table_schema = 'bqstream' AND table_name = 'pipelines'
   AND column_name IN ('write_mode', 'dedup_retention')
 ORDER BY column_name;
SELECT pg_get_constraintdef(oid) FROM pg_constraint
 WHERE conrelid = 'bqstream.pipelines'::regclass
   AND conname IN ('pipelines_write_mode_check', 'pipelines_dedup_retention_check')
 ORDER BY conname;

-- (the rows' details name the role running the test and the time: not shown)
\set VERBOSITY terse
BEGIN;
INSERT INTO bqstream.pipelines (name, server, subscription, owner)
VALUES ('defaults', 'srv', 'sub', current_user::regrole);
SELECT name, write_mode, dedup_retention FROM bqstream.pipelines WHERE name = 'defaults';
-- the constraints, should a write bypass the functions
SAVEPOINT s;
UPDATE bqstream.pipelines SET write_mode = 'fast' WHERE name = 'defaults';
ROLLBACK TO s;
UPDATE bqstream.pipelines SET dedup_retention = '5 minutes' WHERE name = 'defaults';
ROLLBACK TO s;
-- the exactly_once state goes with its pipeline
INSERT INTO bqstream.write_streams (pipeline, owner, stream)
VALUES ('defaults', current_user::regrole, 'projects/p/datasets/d/tables/t/streams/s1');
INSERT INTO bqstream.write_intents (stream_id, first_offset, pipeline, owner, message_ids, rows)
SELECT id, 0, 'defaults', current_user::regrole, '{m1,m2}', '{"\\x0801","\\x0802"}' FROM bqstream.write_streams;
INSERT INTO bqstream.write_ledger (pipeline, owner, message_id, stream_id, intent_offset)
SELECT 'defaults', current_user::regrole, m, id, 0 FROM bqstream.write_streams, unnest('{m1,m2}'::text[]) m;
-- an intent's IDs and rows go in pairs
SAVEPOINT s;
INSERT INTO bqstream.write_intents (stream_id, first_offset, pipeline, owner, message_ids, rows)
SELECT id, 2, 'defaults', current_user::regrole, '{m3}', '{}' FROM bqstream.write_streams;
ROLLBACK TO s;
-- a message ID enters the ledger of a pipeline once
INSERT INTO bqstream.write_ledger (pipeline, owner, message_id, stream_id, intent_offset)
VALUES ('defaults', current_user::regrole, 'm1', 0, 0);
ROLLBACK TO s;
SELECT (SELECT count(*) FROM bqstream.write_streams) AS streams,
       (SELECT count(*) FROM bqstream.write_intents) AS intents,
       (SELECT count(*) FROM bqstream.write_ledger) AS ledger;
DELETE FROM bqstream.pipelines WHERE name = 'defaults';
SELECT (SELECT count(*) FROM bqstream.write_streams) AS streams,
       (SELECT count(*) FROM bqstream.write_intents) AS intents,
       (SELECT count(*) FROM bqstream.write_ledger) AS ledger;
ROLLBACK;
\set VERBOSITY default

-- ordinary roles read their own rows and write nothing, as for pipelines
SELECT c.relname,
       (SELECT array_agg(a.privilege_type ORDER BY a.privilege_type)
          FROM aclexplode(c.relacl) a WHERE a.grantee = 0) AS public_privileges,
       c.relrowsecurity,
       (SELECT string_agg(polname, ',' ORDER BY polname) FROM pg_policy WHERE polrelid = c.oid) AS policies
  FROM pg_class c
 WHERE c.relnamespace = 'bqstream'::regnamespace
   AND c.relname IN ('write_streams', 'write_intents', 'write_ledger')
 ORDER BY c.relname;

-- the statistics count the Storage Write API's work
SELECT v.relname, a.attname
  FROM pg_class v JOIN pg_attribute a ON a.attrelid = v.oid
 WHERE v.oid IN ('bqstream.pipeline_stats'::regclass, 'bqstream.worker_stats'::regclass)
   AND a.attnum > (SELECT l.attnum FROM pg_attribute l
                    WHERE l.attrelid = v.oid AND l.attname = 'last_error_at')
 ORDER BY v.relname, a.attnum;

