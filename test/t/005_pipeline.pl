# Streaming pipelines end to end against the emulator: every valid order
# lands in BigQuery exactly once, every malformed one in the dead-letter
# table with its reason, and that stays true through injected errors, a
# worker killed with SIGKILL, and an emulator restart.  Also the pipeline
# lifecycle, two pipelines at once, and scaling on backlog.
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
# the test's own emulator, persistent, so that it can be restarted
my $emu = BqEmulator->new(dir => $tmp, args => [ '--data-dir', "$tmp/emulator-data" ]);
my ($ps, $bq) = ($emu->{pubsub}, $emu->{bigquery});

# (count, distinct order IDs) of a BigQuery table
sub bq_counts
{
	my ($table) = @_;
	my $r = decode_json(http('POST', "http://127.0.0.1:$bq/bigquery/v2/projects/pipe-project/queries",
			encode_json({ useLegacySql => JSON::PP::false,
				query => "SELECT COUNT(*), COUNT(DISTINCT order_id) FROM shop.$table" })));
	return map { $_->{v} } @{ $r->{rows}[0]{f} };
}

sub faults
{
	my ($port, $json) = @_;
	http(defined $json ? 'POST' : 'DELETE', "http://127.0.0.1:$port/emulator/faults", $json);
}

my $node = PostgreSQL::Test::Cluster->new('pipeline');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'bqstream'
bqstream.launcher_naptime = 200
max_worker_processes = 16
# a worker killed with SIGKILL makes the postmaster reinitialize, as in production
restart_after_crash = on
});
$node->start;

sub setup_server
{
	$node->safe_psql('postgres', qq{
		ALTER SERVER emu OPTIONS (SET pubsub_endpoint 'http://127.0.0.1:$ps',
		                          SET bigquery_endpoint 'http://127.0.0.1:$bq');
	});
}

$node->safe_psql('postgres', qq{
	CREATE EXTENSION bqstream;
	CREATE SERVER emu FOREIGN DATA WRAPPER bqstream_fdw
	  OPTIONS (project_id 'pipe-project', dataset 'shop',
	           pubsub_endpoint 'http://127.0.0.1:$ps', bigquery_endpoint 'http://127.0.0.1:$bq');
	CREATE USER MAPPING FOR CURRENT_USER SERVER emu OPTIONS (auth 'none');
	SELECT count(*) FROM bqstream.setup_demo('emu');
	-- short ack deadlines, so that what a killed worker held comes back soon
	SELECT bqstream.create_subscription('emu', 'orders-fast', 'orders', ack_deadline_seconds => 10);
});

sub stat_of
{
	my ($pipeline, $column) = @_;
	return $node->safe_psql('postgres',
		"SELECT $column FROM bqstream.pipeline_stats WHERE pipeline = '$pipeline'");
}

# ------------------------------------------------------------------ 50,000 orders
$node->safe_psql('postgres',
	"SELECT bqstream.create_pipeline('main', 'emu', 'orders-fast', max_workers => 2, write_mode => 'insert_all')");
ok(wait_for('the worker', 20, sub { stat_of('main', 'workers') >= 1 }), 'the launcher starts the worker');

my ($published, $malformed, $late) = split /\|/, $node->safe_psql('postgres',
	"SELECT published, malformed, late FROM bqstream.publish_orders(50000, 'emu', seed => 5, "
	  . "malformed_fraction => 0.02, late_fraction => 0.05, progress_interval => 0)");
is($published, 50000, 'published 50,000 orders');
my $valid = $published - $malformed;

ok(wait_for('every order stored', 120,
		sub { stat_of('main', 'inserted + dead_lettered') >= $published }),
	'the pipeline stores every message');
my ($rows, $distinct) = bq_counts('raw_orders');
is($rows, $valid, "every valid order is in BigQuery ($valid)");
is($distinct, $rows, 'and only once');
is($node->safe_psql('postgres', "SELECT count(*) FROM bqstream.dead_letters WHERE pipeline = 'main'"),
	$malformed, "every malformed order is a dead letter ($malformed)");
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM bqstream.dead_letters
	 WHERE reason NOT IN ('not_json', 'not_an_object', 'missing_field', 'wrong_type',
	                      'bad_timestamp', 'future_event_time', 'invalid_amount')
	    OR detail IS NULL OR payload IS NULL}),
	'0', 'each with a reason of the validator and a detail');
is($node->safe_psql('postgres', q{
	SELECT count(DISTINCT reason) FROM bqstream.dead_letters}),
	'7', 'all seven kinds of malformed order are recognised');
# what autovacuum reads: the worker's inserts reach the shared table statistics
ok(wait_for('dead letters in the table statistics', 30, sub {
		$node->safe_psql('postgres', q{
			SELECT n_tup_ins FROM pg_stat_user_tables
			 WHERE relid = 'bqstream.dead_letters'::regclass}) >= $malformed }),
	'pg_stat_user_tables counts the dead letters the workers inserted');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM bqstream.dead_letters
	 WHERE reason = 'not_json' AND convert_from(payload, 'UTF8') ~ '^\{.*\}$'}),
	'0', 'the raw payload is kept');
is(stat_of('main', 'inserted'), $valid, 'stats: inserted');
is(stat_of('main', 'acked'), $published, 'stats: every message acknowledged');
is(stat_of('main', 'late'), $late, "stats: late events counted ($late) and still written");
like(stat_of('main', 'latency_p99_ms'), qr/^\d+$/, 'stats: latency percentiles');

# a fixed dead letter goes back through the pipeline
my $fixable = $node->safe_psql('postgres',
	"SELECT count(*) FROM bqstream.dead_letters WHERE reason = 'invalid_amount'");
$node->safe_psql('postgres', q{
	UPDATE bqstream.dead_letters
	   SET payload = convert_to(replace(convert_from(payload, 'UTF8'), '"amount":-', '"amount":'), 'UTF8')
	 WHERE reason = 'invalid_amount'});
is($node->safe_psql('postgres', q{
	SELECT bqstream.republish_dead_letters(array_agg(id), 'emu')
	  FROM bqstream.dead_letters WHERE reason = 'invalid_amount'}),
	$fixable, "republish_dead_letters() sends the fixed letters ($fixable)");
ok(wait_for('the fixed orders', 30, sub { (bq_counts('raw_orders'))[0] == $valid + $fixable }),
	'the fixed orders reach BigQuery');
is($node->safe_psql('postgres', "SELECT count(*) FROM bqstream.dead_letters WHERE reason = 'invalid_amount'"),
	'0', 'and leave the dead-letter table');

# ------------------------------------------------------------------ 20% injected errors
faults($ps, '{"error_rate":0.2,"error_codes":[503,429],"methods":["pull","acknowledge"]}');
faults($bq, '{"error_rate":0.2,"error_codes":[503,429]}');
$node->safe_psql('postgres', q{
	SELECT bqstream.create_raw_orders_table('emu', 'orders_faults');
	SELECT bqstream.create_subscription('emu', 'orders-faults', 'orders', ack_deadline_seconds => 10);
	SELECT bqstream.create_pipeline('faults', 'emu', 'orders-faults', 'orders_faults', write_mode => 'insert_all');
});
($published, $malformed) = split /\|/, $node->safe_psql('postgres',
	"SELECT published, malformed FROM bqstream.publish_orders(10000, 'emu', seed => 6, "
	  . "malformed_fraction => 0.02, progress_interval => 0)");
ok(wait_for('the faults pipeline to catch up', 180, sub {
			my ($n) = bq_counts('orders_faults');
			$n >= $published - $malformed
		}),
	'with 20% of requests failing the pipeline catches up');
faults($ps, undef);
faults($bq, undef);
($rows, $distinct) = bq_counts('orders_faults');
is($rows, $published - $malformed, 'no order lost under injected errors');
is($distinct, $rows, 'no order duplicated under injected errors');
cmp_ok(stat_of('faults', 'retries'), '>', 0, 'the retries are counted');

# ------------------------------------------------------------------ kill -9 and emulator restart
$node->safe_psql('postgres', q{
	SELECT bqstream.create_raw_orders_table('emu', 'orders_chaos');
	SELECT bqstream.create_subscription('emu', 'orders-chaos', 'orders', ack_deadline_seconds => 10);
	SELECT bqstream.create_pipeline('chaos', 'emu', 'orders-chaos', 'orders_chaos', batch_size => 200, write_mode => 'insert_all');
});
ok(wait_for('the chaos worker', 20, sub { stat_of('chaos', 'workers') >= 1 }), 'chaos pipeline running');
# slow BigQuery down so that the kill lands mid-stream
faults($bq, '{"latency_ms":20}');
($published, $malformed) = split /\|/, $node->safe_psql('postgres',
	"SELECT published, malformed FROM bqstream.publish_orders(20000, 'emu', seed => 7, "
	  . "malformed_fraction => 0.01, progress_interval => 0)");
ok(wait_for('some progress', 60, sub { stat_of('chaos', 'inserted') > 1000 }), 'chaos pipeline under way');
my $pid = $node->safe_psql('postgres',
	"SELECT pid FROM bqstream.worker_stats WHERE pipeline = 'chaos' AND pid IS NOT NULL LIMIT 1");
kill 'KILL', $pid;
diag("killed worker $pid with SIGKILL");
# the postmaster restarts the cluster after a crash; wait for it
ok(wait_for('the server after the crash', 60, sub {
			my ($ret) = $node->psql('postgres', 'SELECT 1');
			$ret == 0
		}),
	'the server is back after the SIGKILL');
ok(wait_for('the workers again', 30, sub { stat_of('chaos', 'workers') >= 1 }),
	'the launcher restarts the workers');
$emu->stop;
sleep 1;
$emu->start;
faults($bq, undef);
diag("restarted the emulator on $ps/$bq");
ok(wait_for('the chaos pipeline to catch up', 240, sub {
			my ($n) = bq_counts('orders_chaos');
			$n >= $published - $malformed
		}),
	'after a SIGKILL and an emulator restart the pipeline catches up');
sleep 2;
($rows, $distinct) = bq_counts('orders_chaos');
is($rows, $published - $malformed, 'no order lost through SIGKILL and emulator restart');
is($distinct, $rows, 'no order duplicated through SIGKILL and emulator restart');

# ------------------------------------------------------------------ a slow BigQuery
# inserts slower than half the ack deadline: the worker extends its leases,
# so Pub/Sub redelivers nothing meanwhile.  A topic of its own, since the
# emulator counts redeliveries of all subscriptions and the slow inserts
# slow down every pipeline.
sub emulator_counter
{
	my ($name) = @_;
	my $c = decode_json(http('GET', "http://127.0.0.1:$ps/emulator/counters"));
	return $name eq 'modifyAckDeadline' ? ($c->{requests}{modifyAckDeadline} // 0) : $c->{$name};
}
$node->safe_psql('postgres', q{
	SELECT bqstream.create_raw_orders_table('emu', 'orders_slow');
	SELECT bqstream.create_topic('emu', 'orders-slow');
	SELECT bqstream.create_subscription('emu', 'orders-slow', 'orders-slow', ack_deadline_seconds => 10);
	SELECT bqstream.create_pipeline('slow', 'emu', 'orders-slow', 'orders_slow', batch_size => 100, write_mode => 'insert_all');
});
ok(wait_for('the slow worker', 20, sub { stat_of('slow', 'workers') >= 1 }), 'slow pipeline running');
my $redelivered_before = emulator_counter('messages_redelivered');
my $modacks_before = emulator_counter('modifyAckDeadline');
faults($bq, '{"latency_ms":7000,"methods":["insertAll"]}');
$node->safe_psql('postgres',
	"SELECT published FROM bqstream.publish_orders(150, 'emu', 'orders-slow', progress_interval => 0)");
ok(wait_for('the slow pipeline', 60, sub { stat_of('slow', 'inserted') >= 150 }), 'a slow BigQuery still gets every row');
faults($bq, undef);
cmp_ok(emulator_counter('modifyAckDeadline'), '>', $modacks_before, 'the leases of a slow batch are extended');
is(emulator_counter('messages_redelivered') - $redelivered_before, 0, 'so nothing is redelivered meanwhile');
$node->safe_psql('postgres', "SELECT bqstream.drop_pipeline('slow')");

# ------------------------------------------------------------------ lifecycle and scaling
$node->safe_psql('postgres', "SELECT bqstream.stop_pipeline('chaos')");
ok(wait_for('chaos to stop', 20, sub { stat_of('chaos', 'workers') == 0 }), 'stop_pipeline stops its workers');
is(stat_of('chaos', 'state'), 'stopped', 'and shows it stopped');
cmp_ok(stat_of('main', 'workers'), '>=', 1, 'another pipeline runs on');
$node->safe_psql('postgres', "SELECT bqstream.start_pipeline('chaos')");
ok(wait_for('chaos to start', 20, sub { stat_of('chaos', 'workers') == 1 }), 'start_pipeline starts it again');

# backlog: publish much faster than one slow worker inserts
$node->safe_psql('postgres', "SELECT bqstream.alter_pipeline('chaos', workers => 1, max_workers => 3)");
faults($bq, '{"latency_ms":300,"methods":["insertAll"]}');
$node->safe_psql('postgres',
	"SELECT published FROM bqstream.publish_orders(20000, 'emu', progress_interval => 0)");
ok(wait_for('scaling up', 60, sub { stat_of('chaos', 'workers') >= 2 }), 'a backlog adds workers');
faults($bq, undef);
ok(wait_for('scaling down', 120, sub { stat_of('chaos', 'workers') == 1 }), 'idle workers are removed');

# alter_pipeline() reaches running workers without a restart
my ($batches0, $stored0) = split /\|/, stat_of('main', "batches || '|' || (inserted + dead_lettered)");
$node->safe_psql('postgres', "SELECT bqstream.alter_pipeline('main', batch_size => 10)");
sleep 2;
$node->safe_psql('postgres', "SELECT published FROM bqstream.publish_orders(200, 'emu', progress_interval => 0)");
ok(wait_for('the main pipeline', 30, sub { stat_of('main', 'inserted + dead_lettered') >= $stored0 + 200 }),
	'main pipeline stores the new orders');
cmp_ok(stat_of('main', 'batches') - $batches0, '>=', 20, 'in batches of the new size (10)');

# SIGHUP: the workers read the configuration file again
my $log_offset = -s $node->logfile;
$node->append_conf('postgresql.conf', "log_min_messages = debug1\n");
$node->reload;
ok($node->wait_for_log(qr/bqstream pipeline "main" worker reloaded its configuration/, $log_offset),
	'a reload reaches the running workers');
$node->append_conf('postgresql.conf', "log_min_messages = warning\n");
$node->reload;

$node->safe_psql('postgres', "SELECT bqstream.drop_pipeline('chaos')");
ok(wait_for('chaos to go', 20, sub {
			$node->safe_psql('postgres', "SELECT count(*) FROM bqstream.worker_stats WHERE pipeline = 'chaos'") == 0
		}),
	'drop_pipeline removes its workers and counters');

my ($ret, $out, $err) = $node->psql('postgres', "SELECT bqstream.stop_pipeline('nosuch')");
like($err, qr/pipeline "nosuch" does not exist/, 'unknown pipelines are reported');
($ret, $out, $err) = $node->psql('postgres',
	"SELECT bqstream.create_pipeline('x', 'nosuchserver', 'orders-fast')");
like($err, qr/is not a bqstream_fdw server/, 'a pipeline needs a bqstream_fdw server');

unlike(slurp_file($node->logfile), qr/PANIC/, 'no PANIC in the log');
$node->stop;
done_testing();
