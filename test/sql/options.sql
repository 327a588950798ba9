--
-- bqstream_fdw options: a server holds the GCP project and endpoints, a user
-- mapping the credential. Bad options fail where they are written.
--
CREATE SERVER emu FOREIGN DATA WRAPPER bqstream_fdw
  OPTIONS (project_id 'demo-project', location 'US',
           pubsub_endpoint 'http://127.0.0.1:8085',
           bigquery_endpoint 'http://127.0.0.1:9050',
           bigquery_storage_endpoint 'http://127.0.0.1:9060', dataset 'shop');
CREATE SERVER gcp FOREIGN DATA WRAPPER bqstream_fdw
  OPTIONS (project_id 'example.com:my-project', location 'europe-west1');

-- unknown options list the valid ones
CREATE SERVER bad FOREIGN DATA WRAPPER bqstream_fdw OPTIONS (projectid 'p');
ALTER SERVER emu OPTIONS (ADD credentials_file '/tmp/key.json');
CREATE USER MAPPING FOR CURRENT_USER SERVER emu OPTIONS (project_id 'demo-project');
CREATE FOREIGN DATA WRAPPER other_fdw VALIDATOR bqstream.fdw_validator OPTIONS (dataset 'x');

-- malformed values
CREATE SERVER bad FOREIGN DATA WRAPPER bqstream_fdw OPTIONS (project_id 'Demo_Project');
CREATE SERVER bad FOREIGN DATA WRAPPER bqstream_fdw OPTIONS (pubsub_endpoint 'ftp://x');
CREATE SERVER bad FOREIGN DATA WRAPPER bqstream_fdw OPTIONS (bigquery_endpoint 'http://a b');
CREATE SERVER bad FOREIGN DATA WRAPPER bqstream_fdw OPTIONS (bigquery_storage_endpoint 'grpc://127.0.0.1:9060');
CREATE SERVER bad FOREIGN DATA WRAPPER bqstream_fdw OPTIONS (dataset 'shop; DROP TABLE x');
CREATE SERVER bad FOREIGN DATA WRAPPER bqstream_fdw OPTIONS (location '');
ALTER SERVER emu OPTIONS (SET dataset 'a`b');

-- credentials: exactly one kind, checked without echoing the secret
CREATE USER MAPPING FOR CURRENT_USER SERVER emu OPTIONS (auth 'none');
CREATE USER MAPPING FOR PUBLIC SERVER gcp OPTIONS (auth 'adc', credentials_file '/etc/key.json');
CREATE USER MAPPING FOR PUBLIC SERVER gcp OPTIONS (auth 'token');
CREATE USER MAPPING FOR PUBLIC SERVER gcp OPTIONS (credentials_file 'relative/key.json');
CREATE USER MAPPING FOR PUBLIC SERVER gcp
  OPTIONS (credentials_json '{"type":"service_account","private_key":"-----BEGIN PRIVATE KEY-----\nSECRET\n-----END PRIVATE KEY-----\n"}');
CREATE USER MAPPING FOR PUBLIC SERVER gcp OPTIONS (credentials_json 'SECRET not json');
DO $$ BEGIN
  EXECUTE format('CREATE USER MAPPING FOR PUBLIC SERVER gcp OPTIONS (credentials_json %L)',
                 '{"type":"service_account","private_key":"' || repeat('A', 70000) || '"}');
END $$;
CREATE USER MAPPING FOR PUBLIC SERVER gcp
  OPTIONS (credentials_json '{"type":"authorized_user","client_email":"a@b","private_key":"SECRET"}');
CREATE USER MAPPING FOR PUBLIC SERVER gcp
  OPTIONS (credentials_json '{"type":"service_account","client_email":"sa@p.iam.gserviceaccount.com","private_key":"-----BEGIN PRIVATE KEY-----\nSECRET\n-----END PRIVATE KEY-----\n","token_uri":"https://oauth2.googleapis.com/token"}');
CREATE USER MAPPING FOR PUBLIC SERVER emu OPTIONS (credentials_file '/etc/bqstream/key.json');

-- a non-superuser may not name a file on the server, unless allowed to read server files
CREATE ROLE bqstream_regress_user;
GRANT USAGE ON FOREIGN SERVER gcp TO bqstream_regress_user;
SET ROLE bqstream_regress_user;
CREATE USER MAPPING FOR CURRENT_USER SERVER gcp OPTIONS (credentials_file '/etc/passwd');
CREATE USER MAPPING FOR CURRENT_USER SERVER gcp OPTIONS (auth 'metadata');
RESET ROLE;
GRANT pg_read_server_files TO bqstream_regress_user;
SET ROLE bqstream_regress_user;
ALTER USER MAPPING FOR CURRENT_USER SERVER gcp
  OPTIONS (DROP auth, ADD credentials_file '/etc/bqstream/key.json');
RESET ROLE;

SELECT srvname, srvoptions FROM pg_foreign_server ORDER BY srvname;

DROP USER MAPPING FOR bqstream_regress_user SERVER gcp;
REVOKE USAGE ON FOREIGN SERVER gcp FROM bqstream_regress_user;
DROP ROLE bqstream_regress_user;
-- query: the text is sent as "SELECT ... FROM (<query>) AS q ..." with the
-- credentials of whoever scans the table, so a role that is not a superuser
-- may give exactly one SELECT statement, which cannot close that parenthesis
-- or add a statement after a ";"
CREATE ROLE bqstream_regress_tenant;
CREATE SCHEMA bqstream_regress_tenant AUTHORIZATION bqstream_regress_tenant;
GRANT USAGE ON FOREIGN SERVER emu TO bqstream_regress_tenant;
SET ROLE bqstream_regress_tenant;
SET search_path = bqstream_regress_tenant;
CREATE FOREIGN TABLE tq (a bigint) SERVER emu
  OPTIONS (query 'SELECT product_id AS a FROM shop.raw_orders');
-- a second statement, or breaking out of the parenthesis
CREATE FOREIGN TABLE tq2 (a bigint) SERVER emu
  OPTIONS (query 'SELECT 1 AS a; DROP TABLE shop.raw_orders');
ALTER FOREIGN TABLE tq OPTIONS (SET query 'SELECT 1 AS a) AS q; DROP TABLE shop.raw_orders; SELECT * FROM (SELECT 1');
ALTER FOREIGN TABLE tq OPTIONS (SET query '(SELECT 1 AS a)) AS q, shop.secrets AS s WHERE ((TRUE');
ALTER FOREIGN TABLE tq OPTIONS (SET query 'SELECT 1 AS a;');
ALTER FOREIGN TABLE tq OPTIONS (SET query 'SELECT 1 AS a ; -- the end');
ALTER FOREIGN TABLE tq OPTIONS (SET query 'SELECT (1 AS a');
-- not a query at all
ALTER FOREIGN TABLE tq OPTIONS (SET query 'DROP TABLE shop.raw_orders');
ALTER FOREIGN TABLE tq OPTIONS (SET query 'EXECUTE IMMEDIATE "DROP TABLE shop.raw_orders"');
ALTER FOREIGN TABLE tq OPTIONS (SET query '(DELETE FROM shop.raw_orders WHERE TRUE)');
ALTER FOREIGN TABLE tq OPTIONS (SET query 'BEGIN SELECT 1 AS a; END');
ALTER FOREIGN TABLE tq OPTIONS (SET query '`SELECT` 1 AS a');
ALTER FOREIGN TABLE tq OPTIONS (SET query ' /* only a comment */ ');
-- string literals: a ";" or ")" inside one is fine, an unterminated one is not
ALTER FOREIGN TABLE tq OPTIONS (SET query 'SELECT ''a;b'' AS s, "c); DROP TABLE t; --" AS t, 1 AS a');
ALTER FOREIGN TABLE tq OPTIONS (SET query 'SELECT ''it\''s; fine'' AS s, 1 AS a');
ALTER FOREIGN TABLE tq OPTIONS (SET query 'SELECT ''abc AS a');
ALTER FOREIGN TABLE tq OPTIONS (SET query E'SELECT ''a\nb'' AS s, 1 AS a');
ALTER FOREIGN TABLE tq OPTIONS (SET query 'SELECT ''abc\'' AS s; DROP TABLE t; --''');
ALTER FOREIGN TABLE tq OPTIONS (SET query 'SELECT ''abc\\'' AS s; DROP TABLE t; --''');
-- triple-quoted: spans lines, ends at the next three quotes
ALTER FOREIGN TABLE tq OPTIONS (SET query E'SELECT \'\'\'it\'s; "fine")\n\'\'\' AS s, """a "" b; )""" AS t, 1 AS a');
ALTER FOREIGN TABLE tq OPTIONS (SET query 'SELECT ''''''a'''' '''''') ; --'''' AS s');
ALTER FOREIGN TABLE tq OPTIONS (SET query 'SELECT """abc"" AS a');
-- raw and bytes literals: a backslash still protects the quote after it
ALTER FOREIGN TABLE tq OPTIONS (SET query 'SELECT r''\d+;'' AS s, R"\)" AS t, b''\x00;'' AS u, Br''\\'' AS v, 1 AS a');
ALTER FOREIGN TABLE tq OPTIONS (SET query 'SELECT r''\''; DROP TABLE t; --'' AS s, 1 AS a');
ALTER FOREIGN TABLE tq OPTIONS (SET query 'SELECT r''\\''; DROP TABLE t; --'' AS s');
ALTER FOREIGN TABLE tq OPTIONS (SET query 'SELECT r''\'' AS a');
ALTER FOREIGN TABLE tq OPTIONS (SET query 'SELECT 1 AS a, rb''abc');
ALTER FOREIGN TABLE tq OPTIONS (SET query 'SELECT 1 AS a, xr''\''; DROP TABLE t; --''');
-- back-quoted identifiers, with escapes
ALTER FOREIGN TABLE tq OPTIONS (SET query 'SELECT 1 AS `a;)`');
ALTER FOREIGN TABLE tq OPTIONS (SET query 'SELECT 1 AS `a\`); DROP TABLE t; --`');
ALTER FOREIGN TABLE tq OPTIONS (SET query 'SELECT 1 AS `a`; DROP TABLE t');
ALTER FOREIGN TABLE tq OPTIONS (SET query 'SELECT 1 AS `a');
-- comments hide a ";" only inside them: "--" and "#" end at CR or LF, and
-- block comments do not nest
ALTER FOREIGN TABLE tq OPTIONS (SET query E'SELECT 1 AS a /* ; ) */ -- ; )\n# ; )\n');
ALTER FOREIGN TABLE tq OPTIONS (SET query E'SELECT 1 AS a -- comment\r; DROP TABLE t\n');
ALTER FOREIGN TABLE tq OPTIONS (SET query 'SELECT 1 AS a /* /* */ ; DROP TABLE t */');
ALTER FOREIGN TABLE tq OPTIONS (SET query 'SELECT 1 AS a /* ; DROP TABLE t');
ALTER FOREIGN TABLE tq OPTIONS (SET query 'SELECT 1 AS a -- a comment to the end');
ALTER FOREIGN TABLE tq OPTIONS (SET query 'SELECT ''é'', 1 AS a # é; DROP TABLE t');
-- queries that are fine
ALTER FOREIGN TABLE tq OPTIONS (SET query 'WITH t AS (SELECT 1 AS a) SELECT a FROM t');
ALTER FOREIGN TABLE tq OPTIONS (SET query '((SELECT 1 AS a) UNION ALL (SELECT 2))');
ALTER FOREIGN TABLE tq OPTIONS (SET query E'-- orders per product\n  select product_id AS a,\n  count(*) AS n  # all of them\n  from shop.raw_orders group by 1\n');
SELECT ftoptions FROM pg_foreign_table WHERE ftrelid = 'tq'::regclass;
-- a superuser may give any query; its owner's later changes to the table's
-- options are checked with it
RESET ROLE;
CREATE FOREIGN TABLE bqstream_regress_tenant.tscript (a bigint) SERVER emu
  OPTIONS (query 'SELECT 1 AS a) AS q; SELECT 2 AS a; SELECT * FROM (SELECT 3 AS a');
ALTER FOREIGN TABLE bqstream_regress_tenant.tscript OWNER TO bqstream_regress_tenant;
SET ROLE bqstream_regress_tenant;
ALTER FOREIGN TABLE tscript OPTIONS (ADD fetch_size '100');
RESET ROLE;
RESET search_path;
DROP SCHEMA bqstream_regress_tenant CASCADE;
REVOKE USAGE ON FOREIGN SERVER emu FROM bqstream_regress_tenant;
DROP ROLE bqstream_regress_tenant;

-- project_id is checked whole: an optional lower-case domain name and ":",
-- then the project ID itself
CREATE SERVER bad FOREIGN DATA WRAPPER bqstream_fdw OPTIONS (project_id 'a.b:my-project` OR 1=1');
CREATE SERVER bad FOREIGN DATA WRAPPER bqstream_fdw OPTIONS (project_id 'a.b`.x:my-project');
CREATE SERVER bad FOREIGN DATA WRAPPER bqstream_fdw OPTIONS (project_id 'my-project`');
CREATE SERVER bad FOREIGN DATA WRAPPER bqstream_fdw OPTIONS (project_id 'example.com:my project');
CREATE SERVER bad FOREIGN DATA WRAPPER bqstream_fdw OPTIONS (project_id 'exa mple.com:my-project');
CREATE SERVER bad FOREIGN DATA WRAPPER bqstream_fdw OPTIONS (project_id E'example.com\n:my-project');
CREATE SERVER bad FOREIGN DATA WRAPPER bqstream_fdw OPTIONS (project_id 'Example.com:my-project');
CREATE SERVER bad FOREIGN DATA WRAPPER bqstream_fdw OPTIONS (project_id 'example.com:My-Project');
CREATE SERVER bad FOREIGN DATA WRAPPER bqstream_fdw OPTIONS (project_id 'example.com:my-project-');
CREATE SERVER bad FOREIGN DATA WRAPPER bqstream_fdw OPTIONS (project_id 'example.com:12345678');
CREATE SERVER bad FOREIGN DATA WRAPPER bqstream_fdw OPTIONS (project_id 'example.com:proj');
CREATE SERVER bad FOREIGN DATA WRAPPER bqstream_fdw OPTIONS (project_id ':my-project');
CREATE SERVER bad FOREIGN DATA WRAPPER bqstream_fdw OPTIONS (project_id 'a:b:my-project');
CREATE SERVER bad FOREIGN DATA WRAPPER bqstream_fdw OPTIONS (project_id 'example..com:my-project');
CREATE SERVER bad FOREIGN DATA WRAPPER bqstream_fdw OPTIONS (project_id '.example.com:my-project');
CREATE SERVER bad FOREIGN DATA WRAPPER bqstream_fdw OPTIONS (project_id '-example.com:my-project');
CREATE SERVER bad FOREIGN DATA WRAPPER bqstream_fdw OPTIONS (project_id 'example-.com:my-project');
CREATE SERVER bad FOREIGN DATA WRAPPER bqstream_fdw OPTIONS (project_id 'exa_mple.com:my-project');
CREATE SERVER bad FOREIGN DATA WRAPPER bqstream_fdw OPTIONS (project_id 'example.com/x:my-project');
SELECT repeat('x', 64) || '.example.com:my-project' AS long_label \gset
CREATE SERVER bad FOREIGN DATA WRAPPER bqstream_fdw OPTIONS (project_id :'long_label');
ALTER SERVER gcp OPTIONS (SET project_id 'google.com:bq-test-123');
ALTER SERVER gcp OPTIONS (SET project_id 'a-b.c9.example:project-1');
ALTER SERVER gcp OPTIONS (SET project_id 'my-project');
SELECT srvoptions FROM pg_foreign_server WHERE srvname = 'gcp';

SET client_min_messages = warning;
DROP SERVER emu, gcp CASCADE;
