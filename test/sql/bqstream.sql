--
-- The extension loads and reports its versions.
--
SELECT bqstream.version() ~ '^bqstream 0\.3\.0 \(libcurl [0-9][0-9.]*, jansson [0-9][0-9.]*, OpenSSL [0-9]'
  AS version_line_ok;

SELECT component, compiled <> '' AS has_compiled, running <> '' AS has_running
  FROM bqstream.library_versions();

-- CREATE EXTENSION installs 0.1 and updates it to the default version
SELECT extversion FROM pg_extension WHERE extname = 'bqstream';
SELECT * FROM pg_extension_update_paths('bqstream') WHERE path IS NOT NULL ORDER BY 1, 2;

-- the schema is fixed; the extension cannot be relocated
CREATE SCHEMA elsewhere;
ALTER EXTENSION bqstream SET SCHEMA elsewhere;
DROP SCHEMA elsewhere;

-- bqstream.* is reserved for the extension's own settings
SET bqstream.no_such_setting = 'x';
