# Pipelines have a real owner and each role sees only its own (issue 14,
# points 4 and 7).  Every attack an ordinary role could try on the pipeline
# catalog is tried for real and must be refused; a tenant's own pipeline
# runs as the tenant end to end; ownership is a dependency of the role
# (DROP ROLE, also from another database, REASSIGN OWNED, DROP OWNED) and of
# the server (RENAME, DROP, DROP ... CASCADE); pg_dump writes owners by name
# and a restore reads them by name.  It starts from a 0.1 installation with
# a running pipeline, updated in place to the current version (0.3: its write streams, intents and ledger follow the same rules).
use strict;
use warnings;

use File::Temp qw(tempdir);
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use BqEmulator qw(http wait_for);

my $tmp = tempdir(CLEANUP => 1);
my $emu = BqEmulator->new(dir => $tmp);
my ($ps, $bq) = ($emu->{pubsub}, $emu->{bigquery});

my $node = PostgreSQL::Test::Cluster->new('security');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'bqstream'
bqstream.launcher_naptime = 200
bqstream.http_max_retries = 1
max_worker_processes = 16
# the tenants may use the emulator the DBA runs
bqstream.allowed_endpoints = 'http://127.0.0.1:$ps, http://127.0.0.1:$bq'
});
$node->start;

# (ret, stdout, stderr) of SQL run as a role
sub as_role
{
	my ($role, $sql, $db) = @_;
	return $node->psql($db // 'postgres', $sql, extra_params => [ '-U', $role ]);
}

sub sql
{
	my ($sql, $db) = @_;
	return $node->safe_psql($db // 'postgres', $sql);
}

# an attack: must fail with an error matching $re
sub refused
{
	my ($role, $sql, $re, $what, $db) = @_;
	my ($ret, $out, $err) = as_role($role, $sql, $db);
	ok($ret != 0 && $err =~ $re, $what) or diag("ret $ret, stdout: $out, stderr: $err");
}

sub stored
{
	my ($pipeline) = @_;
	return sql("SELECT coalesce(sum(inserted + dead_lettered), 0) FROM bqstream.worker_stats "
		  . "WHERE pipeline = '$pipeline'");
}

sub bq_count
{
	my ($table) = @_;
	my $r = decode_json(http('POST', "http://127.0.0.1:$bq/bigquery/v2/projects/sec-project/queries",
			encode_json({ useLegacySql => JSON::PP::false,
				query => "SELECT COUNT(*) FROM shop.$table" })));
	return $r->{rows}[0]{f}[0]{v};
}

# ------------------------------------------------------------------ 0.1, updated to the current version
sql(qq{
	CREATE EXTENSION bqstream VERSION '0.1';
	CREATE SERVER emu FOREIGN DATA WRAPPER bqstream_fdw
	  OPTIONS (project_id 'sec-project', dataset 'shop',
	           pubsub_endpoint 'http://127.0.0.1:$ps', bigquery_endpoint 'http://127.0.0.1:$bq');
	CREATE USER MAPPING FOR CURRENT_USER SERVER emu OPTIONS (auth 'none');
	SELECT count(*) FROM bqstream.setup_demo('emu');
	SELECT bqstream.create_subscription('emu', 'orders-legacy', 'orders', ack_deadline_seconds => 10);
	SELECT bqstream.create_pipeline('legacy', 'emu', 'orders-legacy');
	-- 0.1 let an owner be dropped: this pipeline's owner is gone
	INSERT INTO bqstream.pipelines (name, server, subscription, owner)
	  VALUES ('ghost', 'emu', 'orders-legacy', 4000000000);
	-- and 0.1 left the dead letters of a dropped pipeline behind
	INSERT INTO bqstream.dead_letters (pipeline, message_id, payload, reason)
	  VALUES ('dropped', 'm-1', 'x', 'not_json');
});
is(sql("SELECT extversion FROM pg_extension WHERE extname = 'bqstream'"), '0.1', 'installed as 0.1');
ok(wait_for('the legacy worker', 20, sub { sql("SELECT count(pid) FROM bqstream.worker_stats() WHERE pipeline = 'legacy'") >= 1 }),
	'a 0.1 pipeline runs');
sql("SELECT published FROM bqstream.publish_orders(300, 'emu', seed => 1, malformed_fraction => 0.05, progress_interval => 0)");
ok(wait_for('the legacy pipeline', 60, sub { stored('legacy') >= 300 }), 'and stores orders, dead letters too, under 0.1');
my $legacy_dead = sql("SELECT count(*) FROM bqstream.dead_letters");
cmp_ok($legacy_dead, '>', 1, "with dead letters ($legacy_dead, one left behind by a dropped pipeline)");

my ($ret, $out, $err) = $node->psql('postgres', 'ALTER EXTENSION bqstream UPDATE');
is($ret, 0, 'ALTER EXTENSION bqstream UPDATE from 0.1 with pipelines running');
like($err, qr/WARNING:  bqstream pipeline "ghost" is owned by a role that no longer exists \(OID 4000000000\): it is stopped/,
	'a pipeline of a dropped role is stopped, with a warning');
is(sql("SELECT extversion FROM pg_extension WHERE extname = 'bqstream'"), '0.3', 'now 0.3');
is(sql(q{SELECT format_type(atttypid, atttypmod) FROM pg_attribute
          WHERE attrelid = 'bqstream.pipelines'::regclass AND attname = 'owner'}),
	'regrole', 'the owner is a regrole');
is(sql("SELECT string_agg(name || ':' || owner::text || ':' || enabled, ',' ORDER BY name) FROM bqstream.pipelines"),
	'ghost:4000000000:false,legacy:postgres:true', 'existing owners are converted, the orphan stopped');
is(sql("SELECT string_agg(DISTINCT write_mode, ',') FROM bqstream.pipelines"), 'insert_all',
	'pipelines made before 0.3 keep writing with insertAll');
is(sql("SELECT count(*) FROM bqstream.dead_letters WHERE owner = 'postgres'::regrole"), $legacy_dead - 1,
	'existing dead letters belong to their pipeline\'s owner');
is(sql("SELECT string_agg(pipeline, ',') FROM bqstream.dead_letters WHERE owner IS NULL"), 'dropped',
	'those of a dropped pipeline to nobody (superusers only)');
is(sql(q{SELECT string_agg(DISTINCT l.lanname, ',') FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
          WHERE p.pronamespace = 'bqstream'::regnamespace
            AND p.proname IN ('create_pipeline', 'alter_pipeline', 'start_pipeline', 'stop_pipeline',
                              'drop_pipeline', 'set_pipeline_enabled')}),
	'c', 'the pipeline functions are C functions');
is(sql(q{SELECT rolcanlogin || ':' || (shobj_description(oid, 'pg_authid') ~ 'host''s own GCP identity')
           FROM pg_roles WHERE rolname = 'bqstream_host_identity'}),
	'false:true', 'the NOLOGIN role bqstream_host_identity exists, with its comment');
sql("SELECT bqstream.start_pipeline('ghost')");
ok(wait_for('the ghost error', 10, sub {
			sql("SELECT last_error FROM bqstream.pipeline_stats WHERE pipeline = 'ghost'")
			  =~ /role with OID 4000000000\) does not exist/ }),
	'a pipeline whose owner is gone says so in last_error');
sleep 2;
is(sql("SELECT count(pid) || ':' || max(retries) FROM bqstream.worker_stats WHERE pipeline = 'ghost'"), '0:0',
	'and gets no worker that would fail in a loop');
is(sql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'bqstream pipeline ghost'"), '0',
	'nothing runs for it');
sql("SELECT bqstream.drop_pipeline('ghost')");
sql("SELECT published FROM bqstream.publish_orders(100, 'emu', seed => 2, malformed_fraction => 0.1, progress_interval => 0)");
ok(wait_for('the legacy pipeline after the update', 60, sub { stored('legacy') >= 400 }),
	'the pipeline runs on after the update');
cmp_ok(sql("SELECT count(*) FROM bqstream.dead_letters WHERE owner = 'postgres'::regrole"), '>', $legacy_dead - 1,
	'its new dead letters carry its owner');

# a second database's CREATE EXTENSION finds the role made by the first
sql('CREATE DATABASE other');
sql('CREATE DATABASE plain');
sql('CREATE EXTENSION bqstream', 'other');
is(sql("SELECT extversion FROM pg_extension WHERE extname = 'bqstream'", 'other'), '0.3',
	'CREATE EXTENSION in a second database');

# ------------------------------------------------------------------ tenants
# alice and bob: USAGE on the server and their own mapping, nothing else
sql(q{
	CREATE ROLE alice LOGIN;
	CREATE ROLE bob LOGIN;
	CREATE ROLE mallory LOGIN;
	CREATE ROLE nologin_tenant NOLOGIN;
	CREATE ROLE stats_reader LOGIN IN ROLE pg_read_all_stats;
	GRANT USAGE ON FOREIGN SERVER emu TO alice, bob, nologin_tenant;
	CREATE USER MAPPING FOR alice SERVER emu OPTIONS (auth 'none');
	CREATE USER MAPPING FOR bob SERVER emu OPTIONS (auth 'none');
	CREATE USER MAPPING FOR nologin_tenant SERVER emu OPTIONS (auth 'none');
	SELECT bqstream.create_topic('emu', 'orders-alice');
	SELECT bqstream.create_subscription('emu', 'orders-alice', 'orders-alice', ack_deadline_seconds => 10);
	SELECT bqstream.create_raw_orders_table('emu', 'alice_orders');
	SELECT bqstream.create_topic('emu', 'orders-bob');
	SELECT bqstream.create_subscription('emu', 'orders-bob', 'orders-bob', ack_deadline_seconds => 10);
	SELECT bqstream.create_raw_orders_table('emu', 'bob_orders');
});

($ret, $out, $err) = as_role('alice', "SELECT bqstream.create_pipeline('alice_p', 'emu', 'orders-alice', 'alice_orders', write_mode => 'insert_all')");
is($ret, 0, 'a role with USAGE and a user mapping creates a pipeline, without any grant on the catalog')
  or diag($err);
is(sql("SELECT owner::text FROM bqstream.pipelines WHERE name = 'alice_p'"), 'alice', 'owned by its creator');
($ret, $out, $err) = as_role('bob', "SELECT bqstream.create_pipeline('bob_p', 'emu', 'orders-bob', 'bob_orders', write_mode => 'insert_all')");
is($ret, 0, 'so does bob') or diag($err);

# what it takes to create one
refused('mallory', "SELECT bqstream.create_pipeline('m1', 'emu', 'orders-alice', 'alice_orders')",
	qr/permission denied for foreign server emu/, 'no pipeline without USAGE on the server');
sql('GRANT USAGE ON FOREIGN SERVER emu TO mallory');
refused('mallory', "SELECT bqstream.create_pipeline('m1', 'emu', 'orders-alice', 'alice_orders')",
	qr/user mapping not found for user "mallory" and server "emu"/, 'nor without a user mapping');
sql('REVOKE USAGE ON FOREIGN SERVER emu FROM mallory');
refused('mallory', "SELECT bqstream.create_pipeline('m1', 'nosuch', 'orders-alice')",
	qr/server "nosuch" is not a bqstream_fdw server/, 'nor on a server that does not exist');
refused('alice', "SET ROLE nologin_tenant", qr/permission denied to set role/, '(alice cannot become another role)');
refused('postgres', "SET ROLE nologin_tenant; SELECT bqstream.create_pipeline('n1', 'emu', 'orders-alice')",
	qr/role "nologin_tenant" cannot own a pipeline.*\n.*not permitted to log in/,
	'a role that may not log in cannot own a pipeline (its workers could not connect)');
refused('alice', "SELECT bqstream.create_pipeline('legacy', 'emu', 'orders-alice')",
	qr/pipeline "legacy" already exists/, 'a taken name is refused');
refused('alice', "SELECT bqstream.create_pipeline('a3', 'emu', 'orders-alice')",
	qr/write mode "exactly_once" needs a BigQuery Storage endpoint, which server "emu" has not/,
	'a Storage Write mode on a server whose Storage endpoint would be Google\'s beside an emulator\'s BigQuery is refused');
is(sql("SELECT count(*) FROM bqstream.pipelines WHERE name = 'a3'"), '0', '(and not made)');
refused('alice', "SELECT bqstream.create_pipeline('a2', 'emu', 'orders-alice')",
	qr/pipelines can only be created in database "postgres"/, 'pipelines are created only where the launcher runs them',
	'other');

# the catalog cannot be written directly
refused('alice', q{INSERT INTO bqstream.pipelines (name, server, subscription, owner)
                   VALUES ('evil', 'emu', 'orders-alice', 'postgres')},
	qr/permission denied for table pipelines/, 'INSERT of a pipeline owned by the superuser is refused');
refused('alice', "UPDATE bqstream.pipelines SET owner = 'postgres' WHERE name = 'alice_p'",
	qr/permission denied for table pipelines/, 'UPDATE of the owner is refused');
refused('alice', "UPDATE bqstream.pipelines SET subscription = 'orders-bob' WHERE name = 'bob_p'",
	qr/permission denied for table pipelines/, 'repointing another pipeline is refused');
refused('alice', "DELETE FROM bqstream.pipelines", qr/permission denied for table pipelines/, 'DELETE is refused');
refused('alice', q{INSERT INTO bqstream.dead_letters (pipeline, message_id, payload, reason, owner)
                   VALUES ('bob_p', 'x', 'x', 'not_json', 'bob')},
	qr/permission denied for table dead_letters/, 'dead letters cannot be forged');
refused('alice', "DELETE FROM bqstream.dead_letters", qr/permission denied for table dead_letters/,
	'nor deleted');
refused('alice', "SELECT bqstream.wake_launcher()", qr/permission denied for function wake_launcher/,
	'wake_launcher() is not for PUBLIC');

# other roles' pipelines
for my $call ("stop_pipeline('bob_p')", "start_pipeline('bob_p')", "drop_pipeline('bob_p')",
	"alter_pipeline('bob_p', workers => 4)", "set_pipeline_enabled('bob_p', false)",
	"stop_pipeline('legacy')", "alter_pipeline('legacy', batch_size => 1)")
{
	refused('alice', "SELECT bqstream.$call", qr/must be owner of pipeline/, "alice cannot $call");
}
is(sql("SELECT string_agg(name || ':' || enabled || ':' || min_workers, ',' ORDER BY name) FROM bqstream.pipelines"),
	'alice_p:true:1,bob_p:true:1,legacy:true:1', 'and nothing changed');

# what each role sees
ok(wait_for('the tenants\' workers', 30, sub {
			sql("SELECT count(DISTINCT pipeline) FROM bqstream.worker_stats WHERE pid IS NOT NULL") == 3 }),
	'the three pipelines run');
is((as_role('alice', "SELECT string_agg(name, ',') FROM bqstream.pipelines"))[1], 'alice_p',
	'alice reads her own pipeline only');
is((as_role('alice', "SELECT string_agg(DISTINCT pipeline, ',') FROM bqstream.worker_stats"))[1], 'alice_p',
	'worker_stats shows her her own workers only');
is((as_role('alice', "SELECT string_agg(DISTINCT pipeline, ',') FROM bqstream.worker_stats()"))[1], 'alice_p',
	'so does the function itself');
is((as_role('alice', "SELECT string_agg(pipeline, ',') FROM bqstream.pipeline_stats"))[1], 'alice_p',
	'and pipeline_stats');
is((as_role('bob', "SELECT string_agg(DISTINCT pipeline, ',') FROM bqstream.worker_stats"))[1], 'bob_p',
	'bob sees his');
is((as_role('mallory', "SELECT count(*) FROM bqstream.worker_stats() UNION ALL SELECT count(*) FROM bqstream.pipelines "
		  . "UNION ALL SELECT count(*) FROM bqstream.dead_letters"))[1], "0\n0\n0",
	'a role without pipelines sees nothing');
is((as_role('stats_reader', "SELECT string_agg(DISTINCT pipeline, ',' ORDER BY pipeline) FROM bqstream.worker_stats"))[1],
	'alice_p,bob_p,legacy', 'pg_read_all_stats sees every worker');
is((as_role('stats_reader', "SELECT string_agg(pipeline, ',' ORDER BY pipeline) FROM bqstream.pipeline_stats"))[1],
	'alice_p,bob_p,legacy', 'and every pipeline');
is((as_role('stats_reader', "SELECT count(*) FROM bqstream.dead_letters"))[1], '0',
	'but not the dead letters, which hold payloads');

# ------------------------------------------------------------------ the exactly_once state (0.3)
# The write streams, open appends (with their rows) and the de-duplication
# ledger of a pipeline are its owner's, like its dead letters: each role
# reads its own, pg_read_all_stats the streams only, nobody writes them.
sql(q{
	INSERT INTO bqstream.write_streams (pipeline, owner, stream)
	SELECT name, owner, 'projects/sec-project/datasets/shop/tables/t/streams/' || name
	  FROM bqstream.pipelines WHERE name IN ('alice_p', 'bob_p');
	INSERT INTO bqstream.write_intents (stream_id, first_offset, pipeline, owner, message_ids, rows)
	SELECT id, 0, pipeline, owner, ARRAY['m-' || pipeline], ARRAY['\x0a01'::bytea] FROM bqstream.write_streams;
	INSERT INTO bqstream.write_ledger (pipeline, owner, message_id, stream_id, intent_offset)
	SELECT pipeline, owner, 'm-' || pipeline, id, 0 FROM bqstream.write_streams;
});
for my $t (qw(write_streams write_intents write_ledger))
{
	is((as_role('alice', "SELECT string_agg(pipeline, ',') FROM bqstream.$t"))[1], 'alice_p',
		"alice reads her own $t only");
	is((as_role('mallory', "SELECT count(*) FROM bqstream.$t"))[1], '0', "mallory reads no $t");
	refused('alice', "UPDATE bqstream.$t SET pipeline = pipeline", qr/permission denied for table $t/,
		"alice cannot write $t");
	refused('alice', "DELETE FROM bqstream.$t", qr/permission denied for table $t/, "nor delete from $t");
}
refused('alice', q{INSERT INTO bqstream.write_ledger (pipeline, owner, message_id, stream_id, intent_offset)
                   VALUES ('bob_p', 'bob', 'forged', 0, 0)},
	qr/permission denied for table write_ledger/, 'a ledger entry cannot be forged to suppress another\'s message');
is((as_role('stats_reader', "SELECT count(*) FROM bqstream.write_streams UNION ALL SELECT count(*) FROM bqstream.write_intents "
		  . "UNION ALL SELECT count(*) FROM bqstream.write_ledger"))[1], "2\n0\n0",
	'pg_read_all_stats reads the streams, not the rows or message IDs');
sql("DELETE FROM bqstream.write_streams; DELETE FROM bqstream.write_ledger;");

# ------------------------------------------------------------------ alice's pipeline end to end
($ret, $out, $err) = as_role('alice',
	"SELECT published || ':' || malformed FROM bqstream.publish_orders(200, 'emu', 'orders-alice', seed => 3, "
	  . "malformed_fraction => 0.1, progress_interval => 0)");
my ($published, $malformed) = split /:/, $out;
is($published, 200, 'alice publishes 200 orders with her own mapping') or diag($err);
ok(wait_for('alice\'s pipeline', 60, sub { stored('alice_p') >= 200 }), 'her pipeline stores them');
is(bq_count('alice_orders'), 200 - $malformed, 'the valid ones are in her BigQuery table');
is(sql(q{SELECT string_agg(DISTINCT a.usename, ',') FROM pg_stat_activity a
          JOIN bqstream.worker_stats w ON w.pid = a.pid WHERE w.pipeline = 'alice_p'}),
	'alice', 'her workers run as alice');
is((as_role('alice', "SELECT count(*) || ':' || string_agg(DISTINCT owner::text, ',') FROM bqstream.dead_letters"))[1],
	"$malformed:alice", 'she reads her dead letters, owned by her');
is((as_role('bob', "SELECT count(*) FROM bqstream.dead_letters WHERE pipeline = 'alice_p'"))[1], '0',
	'bob does not');
my $alice_ids = sql("SELECT array_agg(id)::text FROM bqstream.dead_letters WHERE pipeline = 'alice_p'");
my $legacy_id = sql("SELECT min(id) FROM bqstream.dead_letters WHERE pipeline = 'legacy'");
refused('bob', "SELECT bqstream.republish_dead_letters('$alice_ids', 'emu', 'orders-bob')",
	qr/permission denied for dead letter \d+/, 'bob cannot republish (and so delete) her dead letters');
refused('alice', "SELECT bqstream.republish_dead_letters(ARRAY[$legacy_id], 'emu', 'orders-alice')",
	qr/permission denied for dead letter $legacy_id/, 'nor she the superuser\'s');
is((as_role('alice', "SELECT bqstream.republish_dead_letters(ARRAY(SELECT id FROM bqstream.dead_letters WHERE reason = 'invalid_amount'), 'emu', 'orders-alice')"))[0],
	0, 'she republishes her own');

# ------------------------------------------------------------------ lost USAGE or mapping, no login
sql('REVOKE USAGE ON FOREIGN SERVER emu FROM bob');
ok(wait_for('bob\'s error', 30, sub {
			sql("SELECT last_error FROM bqstream.pipeline_stats WHERE pipeline = 'bob_p'")
			  =~ /permission denied for foreign server emu/ }),
	'a pipeline whose owner lost USAGE says so in last_error');
my $retries = sql("SELECT retries FROM bqstream.pipeline_stats WHERE pipeline = 'bob_p'");
sleep 4;
cmp_ok(sql("SELECT retries FROM bqstream.pipeline_stats WHERE pipeline = 'bob_p'") - $retries, '<=', 3,
	'and backs off rather than spinning');
sql('GRANT USAGE ON FOREIGN SERVER emu TO bob; DROP USER MAPPING FOR bob SERVER emu');
ok(wait_for('bob\'s mapping error', 90, sub {
			sql("SELECT last_error FROM bqstream.pipeline_stats WHERE pipeline = 'bob_p'")
			  =~ /user mapping not found for user "bob"/ }),
	'likewise without its user mapping');
sql("ALTER ROLE bob NOLOGIN");
ok(wait_for('bob\'s workers to stop', 20, sub {
			sql("SELECT count(pid) || ':' || max(last_error) FROM bqstream.worker_stats WHERE pipeline = 'bob_p'")
			  =~ /^0:.*role "bob", is not permitted to log in/ }),
	'an owner that may no longer log in: no worker, and last_error says why');
sql("ALTER ROLE bob LOGIN; CREATE USER MAPPING FOR bob SERVER emu OPTIONS (auth 'none')");
ok(wait_for('bob\'s workers again', 20, sub {
			sql("SELECT count(pid) FROM bqstream.worker_stats WHERE pipeline = 'bob_p'") == 1 }),
	'when it may again, the workers come back');

# ------------------------------------------------------------------ ownership is a dependency
# carol reaches the server through group membership and the PUBLIC mapping
# of a second server: nothing but her pipeline depends on her
sql(qq{
	CREATE ROLE tenants NOLOGIN;
	CREATE ROLE carol LOGIN IN ROLE tenants;
	CREATE ROLE dave LOGIN IN ROLE tenants;
	CREATE SERVER emu_shared FOREIGN DATA WRAPPER bqstream_fdw
	  OPTIONS (project_id 'sec-project', dataset 'shop',
	           pubsub_endpoint 'http://127.0.0.1:$ps', bigquery_endpoint 'http://127.0.0.1:$bq');
	GRANT USAGE ON FOREIGN SERVER emu_shared TO tenants;
	CREATE USER MAPPING FOR PUBLIC SERVER emu_shared OPTIONS (auth 'none');
	SELECT bqstream.create_subscription('emu', 'orders-carol', 'orders', ack_deadline_seconds => 10);
});
($ret, $out, $err) = as_role('carol',
	"SELECT bqstream.create_pipeline('carol_p', 'emu_shared', 'orders-carol', start => false, write_mode => 'insert_all')");
is($ret, 0, 'carol creates a pipeline through her group and a PUBLIC mapping') or diag($err);
refused('postgres', 'DROP ROLE carol',
	qr/role "carol" cannot be dropped because some objects depend on it\nDETAIL:  owner of bqstream pipeline "carol_p"\nHINT:  .*REASSIGN OWNED or DROP OWNED/,
	'DROP ROLE of an owner is refused, naming the pipeline');
refused('postgres', 'DROP ROLE carol',
	qr/role "carol" cannot be dropped because some objects depend on it\nDETAIL:  owner of bqstream pipeline "carol_p" in database "postgres"/,
	'also from another database of the cluster', 'plain');
refused('postgres', 'DROP ROLE carol',
	qr/owner of bqstream pipeline "carol_p" in database "postgres"/,
	'also from another database that has the extension', 'other');
# no wait between the creation and the DROP ROLE: the launcher is asked
($ret, $out, $err) = as_role('dave', "SELECT bqstream.create_pipeline('dave_p', 'emu_shared', 'orders-carol', start => false, write_mode => 'insert_all')");
refused('postgres', 'DROP ROLE dave', qr/owner of bqstream pipeline "dave_p" in database "postgres"/,
	'even at once after the pipeline was created', 'plain');
refused('carol', 'REASSIGN OWNED BY dave TO carol', qr/permission denied to reassign objects/,
	'REASSIGN OWNED of another role\'s pipelines is refused to a tenant');
refused('carol', 'DROP OWNED BY dave', qr/permission denied to drop objects/,
	'so is DROP OWNED');

sql('REASSIGN OWNED BY carol TO dave');
is(sql("SELECT string_agg(name || ':' || owner::text, ',' ORDER BY name) FROM bqstream.pipelines WHERE name IN ('carol_p', 'dave_p')"),
	'carol_p:dave,dave_p:dave', 'REASSIGN OWNED moves the pipelines to the new owner');
is((as_role('dave', "SELECT bqstream.start_pipeline('carol_p')"))[0], 0, 'who may now start it');
ok(wait_for('carol_p as dave', 20, sub {
			sql(q{SELECT string_agg(a.usename, ',') FROM pg_stat_activity a
                   JOIN bqstream.worker_stats w ON w.pid = a.pid WHERE w.pipeline = 'carol_p'}) eq 'dave' }),
	'and its worker runs as the new owner');
is($node->psql('plain', 'DROP ROLE carol'), 0, 'the old owner can be dropped now, from another database');

# a running pipeline changes owner: its workers are restarted as the new one
sql('CREATE ROLE erin LOGIN IN ROLE tenants');
sql('REASSIGN OWNED BY dave TO erin');
ok(wait_for('carol_p as erin', 20, sub {
			sql(q{SELECT string_agg(a.usename, ',') FROM pg_stat_activity a
                   JOIN bqstream.worker_stats w ON w.pid = a.pid WHERE w.pipeline = 'carol_p'}) eq 'erin' }),
	'REASSIGN OWNED restarts a running pipeline\'s workers as the new owner');
sql("SELECT published FROM bqstream.publish_orders(100, 'emu', seed => 4, malformed_fraction => 0.2, progress_interval => 0)");
ok(wait_for('erin\'s dead letters', 60, sub {
			sql("SELECT count(*) FROM bqstream.dead_letters WHERE pipeline = 'carol_p' AND owner = 'erin'::regrole") > 0 }),
	'its dead letters belong to the new owner');
sql('REASSIGN OWNED BY erin TO dave');
is(sql("SELECT count(*) FROM bqstream.dead_letters WHERE pipeline = 'carol_p' AND owner <> 'dave'::regrole"), '0',
	'and follow the pipeline when it changes owner again');

sql('DROP OWNED BY dave');
is(sql("SELECT count(*) FROM bqstream.pipelines WHERE name IN ('carol_p', 'dave_p')"), '0',
	'DROP OWNED drops the role\'s pipelines');
is(sql("SELECT count(*) FROM bqstream.dead_letters WHERE pipeline = 'carol_p'"), '0', 'and their dead letters');
ok(wait_for('carol_p to stop', 20, sub { sql("SELECT count(*) FROM bqstream.worker_stats WHERE pipeline = 'carol_p'") == 0 }),
	'and their workers');
is($node->psql('other', 'DROP ROLE dave'), 0, 'then the role can be dropped');
is($node->psql('postgres', 'DROP ROLE erin'), 0, 'as can the intermediate owner');

# ------------------------------------------------------------------ the server
sql(q{
	CREATE ROLE frank LOGIN IN ROLE tenants;
	SELECT bqstream.create_subscription('emu', 'orders-frank', 'orders', ack_deadline_seconds => 10);
});
is((as_role('frank', "SELECT bqstream.create_pipeline('frank_p', 'emu_shared', 'orders-frank', write_mode => 'insert_all')"))[0], 0,
	'frank runs a pipeline on the shared server');
ok(wait_for('frank_p', 20, sub { sql("SELECT count(pid) FROM bqstream.worker_stats WHERE pipeline = 'frank_p'") == 1 }),
	'it runs');
sql('ALTER SERVER emu_shared RENAME TO emu_tenants');
is(sql("SELECT server FROM bqstream.pipelines WHERE name = 'frank_p'"), 'emu_tenants',
	'ALTER SERVER RENAME renames it in the pipelines using it');
my $stored_before = stored('frank_p');
sql("SELECT published FROM bqstream.publish_orders(50, 'emu', seed => 5, progress_interval => 0)");
ok(wait_for('frank_p after the rename', 60, sub { stored('frank_p') >= $stored_before + 50 }),
	'which run on');
refused('postgres', 'BEGIN; DROP USER MAPPING FOR PUBLIC SERVER emu_tenants; DROP SERVER emu_tenants',
	qr/cannot drop server emu_tenants because other objects depend on it\nDETAIL:  bqstream pipeline "frank_p" depends on server emu_tenants\nHINT:  Use DROP ... CASCADE/,
	'DROP SERVER is refused while a pipeline uses it');
refused('frank', 'DROP SERVER emu_tenants CASCADE', qr/must be owner of foreign server emu_tenants/,
	'a tenant cannot drop it (and learns nothing of other pipelines)');
is(sql("SELECT count(*) FROM bqstream.pipelines WHERE name = 'frank_p'"), '1', 'the pipeline is still there');
($ret, $out, $err) = $node->psql('postgres', 'DROP SERVER emu_tenants CASCADE');
is($ret, 0, 'DROP SERVER ... CASCADE');
like($err, qr/NOTICE:  drop cascades to bqstream pipeline "frank_p"/, 'drops the pipeline with a NOTICE');
is(sql("SELECT count(*) FROM bqstream.pipelines WHERE name = 'frank_p'"), '0', 'it is gone');
ok(wait_for('frank_p to stop', 20, sub { sql("SELECT count(*) FROM bqstream.worker_stats WHERE pipeline = 'frank_p'") == 0 }),
	'and its workers');
is($node->psql('plain', 'DROP ROLE frank'), 0, 'frank can be dropped');

# ------------------------------------------------------------------ pg_dump and restore
my $dump = "$tmp/dump.sql";
$node->command_ok([ 'pg_dump', '-d', $node->connstr('postgres'), '-f', $dump ], 'pg_dump');
like(slurp_file($dump), qr/^alice_p\temu\torders-alice\t.*\talice\t/m, 'pg_dump writes the owner by name');

# another cluster, where alice's OID differs: a restore reads owners by name
my $restore = PostgreSQL::Test::Cluster->new('restore');
$restore->init;
$restore->start;
$restore->safe_psql('postgres', q{
	CREATE ROLE padding1; CREATE ROLE padding2; CREATE ROLE padding3;
	CREATE ROLE bob LOGIN; CREATE ROLE alice LOGIN; CREATE ROLE mallory LOGIN;
	CREATE ROLE nologin_tenant; CREATE ROLE stats_reader LOGIN; CREATE ROLE tenants;
	CREATE DATABASE restored;
});
$restore->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $restore->connstr('restored'), '-f', $dump ],
	'restore');
my $old_oid = sql("SELECT 'alice'::regrole::oid");
my $new_oid = $restore->safe_psql('restored', "SELECT 'alice'::regrole::oid");
isnt($new_oid, $old_oid, "alice has another OID there ($old_oid, $new_oid)");
is($restore->safe_psql('restored',
		"SELECT owner::text || ':' || (owner::oid = 'alice'::regrole::oid) FROM bqstream.pipelines WHERE name = 'alice_p'"),
	'alice:true', 'the restored pipeline is owned by alice, read by name');
is($restore->safe_psql('restored', "SELECT count(*) FROM bqstream.dead_letters WHERE owner::text = 'alice'"),
	sql("SELECT count(*) FROM bqstream.dead_letters WHERE owner::text = 'alice'"), 'and so are her dead letters');
$restore->stop;

unlike(slurp_file($node->logfile), qr/PANIC|TRAP/, 'no PANIC in the log');
$node->stop;
done_testing();
