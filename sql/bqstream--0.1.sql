/* sql/bqstream--0.1.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION bqstream" to load this file. \quit

-- The schema belongs to the extension, so DROP EXTENSION removes it too.
CREATE SCHEMA bqstream;

CREATE FUNCTION bqstream.version()
RETURNS text
AS 'MODULE_PATHNAME', 'bqstream_version'
LANGUAGE C STRICT STABLE PARALLEL SAFE;

COMMENT ON FUNCTION bqstream.version() IS
'bqstream version, with the versions of libcurl, jansson and OpenSSL it runs with';

CREATE FUNCTION bqstream.library_versions(OUT component text, OUT compiled text, OUT running text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'bqstream_library_versions'
LANGUAGE C STRICT STABLE PARALLEL SAFE;

COMMENT ON FUNCTION bqstream.library_versions() IS
'versions of the libraries bqstream was compiled against and the ones it runs with';

-- Configuration the SQL/MED way: a foreign server holds a GCP project and its
-- endpoints, a user mapping holds the credential. The wrapper's handler (the
-- foreign tables themselves) is not built yet.
CREATE FUNCTION bqstream.fdw_validator(text[], oid)
RETURNS void
AS 'MODULE_PATHNAME', 'bqstream_fdw_validator'
LANGUAGE C STRICT;

CREATE FOREIGN DATA WRAPPER bqstream_fdw
  VALIDATOR bqstream.fdw_validator;

COMMENT ON FOREIGN DATA WRAPPER bqstream_fdw IS
'GCP Pub/Sub and BigQuery: servers name a project and its endpoints, user mappings a credential';
