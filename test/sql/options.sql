--
-- bqstream_fdw options: a server holds the GCP project and endpoints, a user
-- mapping the credential. Bad options fail where they are written.
--
CREATE SERVER emu FOREIGN DATA WRAPPER bqstream_fdw
  OPTIONS (project_id 'demo-project', location 'US',
           pubsub_endpoint 'http://127.0.0.1:8085',
           bigquery_endpoint 'http://127.0.0.1:9050', dataset 'shop');
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
SET client_min_messages = warning;
DROP SERVER emu, gcp CASCADE;
