--
-- Every released version of bqstream, updated with ALTER EXTENSION UPDATE,
-- ends with the same objects as a fresh CREATE EXTENSION of the default
-- version: the same members, function definitions, columns, constraints,
-- indexes, policies, privileges and comments.  The versions come from the
-- installed scripts (pg_available_extension_versions), so a new
-- sql/bqstream--A--B.sql is covered without touching this file.  It works
-- in a database of its own, leaving the regression database's extension as
-- it is.
--
\set regress_db :DBNAME
CREATE DATABASE bqstream_update_check;
\c bqstream_update_check
SET client_min_messages = warning;

-- One line per extension member, with everything that defines it, in text
-- that does not depend on OIDs.
CREATE FUNCTION pg_temp.extension_objects(OUT object text, OUT definition text)
RETURNS SETOF record LANGUAGE sql AS $$
  WITH members AS (
    SELECT d.classid, d.objid, d.objsubid
      FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
     WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
       AND e.extname = 'bqstream'
  )
  SELECT pg_describe_object(m.classid, m.objid, m.objsubid),
         concat_ws(E'\n',
           obj_description(m.objid, m.classid::regclass::text),
           CASE m.classid
             WHEN 'pg_proc'::regclass THEN
               (SELECT concat_ws(E'\n', CASE WHEN p.prokind <> 'a' THEN pg_get_functiondef(p.oid) END,
                                 p.proacl::text, p.proowner::regrole::text)
                  FROM pg_proc p WHERE p.oid = m.objid)
             WHEN 'pg_class'::regclass THEN
               (SELECT concat_ws(E'\n', c.relkind, c.relacl::text, c.reloptions::text,
                                 c.relrowsecurity::text, c.relforcerowsecurity::text,
                                 c.relpersistence, c.relowner::regrole::text,
                                 CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END,
                                 (SELECT string_agg(concat_ws(' ', a.attname, format_type(a.atttypid, a.atttypmod),
                                                              a.attnotnull, a.attidentity, a.attgenerated,
                                                              pg_get_expr(ad.adbin, ad.adrelid),
                                                              col_description(c.oid, a.attnum), a.attacl::text),
                                                    E'\n' ORDER BY a.attnum)
                                    FROM pg_attribute a
                                    LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
                                   WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
                                 (SELECT string_agg(pg_get_constraintdef(k.oid), E'\n' ORDER BY pg_get_constraintdef(k.oid))
                                    FROM pg_constraint k WHERE k.conrelid = c.oid),
                                 (SELECT string_agg(pg_get_indexdef(i.indexrelid), E'\n' ORDER BY pg_get_indexdef(i.indexrelid))
                                    FROM pg_index i WHERE i.indrelid = c.oid),
                                 (SELECT string_agg(concat_ws(' ', pol.polname, pol.polcmd, pol.polpermissive,
                                                              pol.polroles::regrole[]::text,
                                                              pg_get_expr(pol.polqual, pol.polrelid),
                                                              pg_get_expr(pol.polwithcheck, pol.polrelid)),
                                                    E'\n' ORDER BY pol.polname)
                                    FROM pg_policy pol WHERE pol.polrelid = c.oid),
                                 (SELECT string_agg(pg_get_triggerdef(t.oid), E'\n' ORDER BY t.tgname)
                                    FROM pg_trigger t WHERE t.tgrelid = c.oid AND NOT t.tgisinternal),
                                 (SELECT concat_ws(' ', s.seqtypid::regtype::text, s.seqstart, s.seqincrement,
                                                   s.seqmin, s.seqmax, s.seqcache, s.seqcycle)
                                    FROM pg_sequence s WHERE s.seqrelid = c.oid))
                  FROM pg_class c WHERE c.oid = m.objid)
             WHEN 'pg_namespace'::regclass THEN
               (SELECT concat_ws(E'\n', n.nspacl::text, n.nspowner::regrole::text)
                  FROM pg_namespace n WHERE n.oid = m.objid)
             WHEN 'pg_foreign_data_wrapper'::regclass THEN
               (SELECT concat_ws(E'\n', w.fdwhandler::regproc::text, w.fdwvalidator::regproc::text,
                                 w.fdwacl::text, w.fdwoptions::text)
                  FROM pg_foreign_data_wrapper w WHERE w.oid = m.objid)
             WHEN 'pg_type'::regclass THEN
               (SELECT concat_ws(E'\n', t.typtype, t.typacl::text, format_type(t.typbasetype, t.typtypmod))
                  FROM pg_type t WHERE t.oid = m.objid)
           END)
    FROM members m
  UNION ALL
  -- what pg_dump dumps of the configuration tables
  SELECT 'configuration table ' || cfg::regclass::text, cond
    FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS u(cfg, cond)
   WHERE e.extname = 'bqstream'
$$;

-- the default version, installed afresh
CREATE EXTENSION bqstream;
CREATE TEMP TABLE fresh AS SELECT * FROM pg_temp.extension_objects();
SELECT count(*) > 20 AS fresh_install_has_objects FROM fresh;
DROP EXTENSION bqstream;

-- each older version, then ALTER EXTENSION UPDATE to the default one
CREATE TEMP TABLE updated (start_version text, object text, definition text);
DO $$
DECLARE
    v text;
BEGIN
    FOR v IN SELECT a.version FROM pg_available_extension_versions a
              WHERE a.name = 'bqstream'
                AND a.version <> (SELECT default_version FROM pg_available_extensions WHERE name = 'bqstream')
              ORDER BY a.version
    LOOP
        EXECUTE format('CREATE EXTENSION bqstream VERSION %L', v);
        ALTER EXTENSION bqstream UPDATE;
        INSERT INTO updated SELECT v, o.object, o.definition FROM pg_temp.extension_objects() o;
        DROP EXTENSION bqstream;
    END LOOP;
END $$;

-- every older version reaches the default one
SELECT count(DISTINCT start_version) > 0 AS older_versions_checked,
       count(DISTINCT start_version) = (SELECT count(*) - 1 FROM pg_available_extension_versions
                                         WHERE name = 'bqstream') AS all_older_versions_checked
  FROM updated;

-- the differences: none
WITH expected AS (
  SELECT v.start_version, f.object, f.definition
    FROM (SELECT DISTINCT start_version FROM updated) v CROSS JOIN fresh f
)
SELECT coalesce(e.start_version, u.start_version) AS start_version,
       coalesce(e.object, u.object) AS object,
       CASE WHEN u.object IS NULL THEN 'missing after the update'
            WHEN e.object IS NULL THEN 'not in a fresh install'
            ELSE 'defined differently' END AS difference
  FROM expected e
  FULL JOIN updated u ON u.start_version = e.start_version AND u.object = e.object
 WHERE e.object IS NULL OR u.object IS NULL OR e.definition <> u.definition
 ORDER BY 1, 2;

\c :regress_db
DROP DATABASE bqstream_update_check;
