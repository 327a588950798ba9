# Pipelines on the Storage Write API (issue 18): an exactly_once pipeline
# stores each valid order in BigQuery exactly once through everything that
# can happen between an append and its acknowledgement: an append whose
# answer is lost, a worker killed with SIGKILL while BigQuery takes the
# append, messages Pub/Sub delivers again after they landed, an emulator
# restart, a stream that does not hold what PostgreSQL recorded
# (OUT_OF_RANGE), rows BigQuery refuses (row_errors) and stream rotation.
# default_stream and insert_all pipelines still stream.
use strict;
use warnings;

use File::Temp qw(tempdir);
use JSON::PP;
use MIME::Base64;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use BqEmulator qw(http wait_for);

my $tmp = tempdir(CLEANUP => 1);
my $emu = BqEmulator->new(dir => $tmp, args => [ '--data-dir', "$tmp/emulator-data" ]);
my ($ps, $bq) = ($emu->{pubsub}, $emu->{bigquery});
my $project = 'eos-project';

my $node = PostgreSQL::Test::Cluster->new('eos');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'bqstream'
bqstream.launcher_naptime = 200
max_worker_processes = 16
restart_after_crash = on
});
$node->start;

sub sql { return $node->safe_psql('postgres', $_[0]); }

sub setup_server
{
	sql(qq{ALTER SERVER emu OPTIONS (SET pubsub_endpoint 'http://127.0.0.1:$emu->{pubsub}',
	                                 SET bigquery_endpoint 'http://127.0.0.1:$emu->{bigquery}',
	                                 SET bigquery_storage_endpoint 'http://127.0.0.1:$emu->{bigquerystorage}')});
}

sql(qq{
	CREATE EXTENSION bqstream;
	CREATE SERVER emu FOREIGN DATA WRAPPER bqstream_fdw
	  OPTIONS (project_id '$project', dataset 'shop',
	           pubsub_endpoint 'http://127.0.0.1:$ps', bigquery_endpoint 'http://127.0.0.1:$bq',
	           bigquery_storage_endpoint 'http://127.0.0.1:$emu->{bigquerystorage}');
	CREATE USER MAPPING FOR CURRENT_USER SERVER emu OPTIONS (auth 'none');
	SELECT count(*) FROM bqstream.setup_demo('emu');
	SELECT bqstream.create_subscription('emu', 'orders-eos', 'orders', ack_deadline_seconds => 10);
});

sub stat_of
{
	my ($pipeline, $column) = @_;
	return sql("SELECT $column FROM bqstream.pipeline_stats WHERE pipeline = '$pipeline'");
}

sub bq_counts
{
	my ($table) = @_;
	my $r = decode_json(http('POST', "http://127.0.0.1:$emu->{bigquery}/bigquery/v2/projects/$project/queries",
			encode_json({ useLegacySql => JSON::PP::false,
				query => "SELECT COUNT(*), COUNT(DISTINCT order_id) FROM shop.$table" })));
	die 'query failed: ' . encode_json($r) unless $r->{rows};
	return map { $_->{v} } @{ $r->{rows}[0]{f} };
}

sub storage_faults
{
	my ($cfg) = @_;
	my $url = "http://127.0.0.1:$emu->{bigquery}/emulator/bigquerystorage/faults";
	return defined $cfg ? http('POST', $url, $cfg) : http('DELETE', $url);
}

sub storage_counters
{
	return decode_json(http('GET', "http://127.0.0.1:$emu->{bigquery}/emulator/bigquerystorage/counters"));
}

sub publish
{
	my ($n, $seed, %o) = @_;
	my $extra = $o{malformed} ? ", malformed_fraction => $o{malformed}" : '';
	my $topic = $o{topic} ? ", topic => '$o{topic}'" : '';
	my ($published, $malformed) = split /\|/, sql(
		"SELECT published, malformed FROM bqstream.publish_orders($n, 'emu', seed => $seed$extra$topic, progress_interval => 0)");
	return ($published, $malformed);
}

# exactly once: every valid order once, and nothing left open
sub check_exactly_once
{
	my ($what, $table, $expected, $pipeline) = @_;
	ok(wait_for("$what: the orders", 120, sub { (bq_counts($table))[0] >= $expected }),
		"$what: the orders arrive");
	sleep 1;
	my ($rows, $distinct) = bq_counts($table);
	is($rows, $expected, "$what: no order lost");
	is($distinct, $rows, "$what: no order duplicated");
	ok(wait_for("$what: the intents", 30,
			sub { sql("SELECT count(*) FROM bqstream.write_intents WHERE pipeline = '$pipeline'") == 0 }),
		"$what: no append left open");
}

my $expected = 0;

# ------------------------------------------------------------------ the mode itself
sql("SELECT bqstream.create_pipeline('eos', 'emu', 'orders-eos', batch_size => 200)");
is(sql("SELECT write_mode FROM bqstream.pipelines WHERE name = 'eos'"), 'exactly_once',
	'new pipelines write exactly once');
ok(wait_for('the worker', 20, sub { stat_of('eos', 'workers') >= 1 }), 'the worker runs');
my ($published, $malformed) = publish(2000, 1, malformed => 0.05);
$expected += $published - $malformed;
check_exactly_once('streaming', 'raw_orders', $expected, 'eos');
is(sql("SELECT count(*) FROM bqstream.dead_letters WHERE pipeline = 'eos'"), $malformed,
	'the malformed orders are dead letters');
is(sql("SELECT count(*) FROM bqstream.write_streams WHERE pipeline = 'eos'"), '1', 'one committed stream');
like(sql("SELECT stream FROM bqstream.write_streams WHERE pipeline = 'eos'"),
	qr{^projects/$project/datasets/shop/tables/raw_orders/streams/}, 'of the pipeline\'s table');
is(sql("SELECT next_offset FROM bqstream.write_streams WHERE pipeline = 'eos'"), $expected,
	'its next offset follows the rows appended');
is(sql("SELECT count(*) FROM bqstream.write_ledger WHERE pipeline = 'eos'"), $expected,
	'the ledger holds every message appended');
cmp_ok(stat_of('eos', 'appends'), '>', 0, 'appends are counted');
is(stat_of('eos', 'streams_created'), '1', 'and the stream created');
is(sql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 16977 AND granted"), '1',
	'the worker holds its stream\'s lock');

# ------------------------------------------------------------------ an answer lost
# BigQuery stores the next append and the answer never comes: the intent
# stays open, is sent again, and BigQuery says ALREADY_EXISTS.
my $already = stat_of('eos', 'already_existed');
storage_faults('{"lost_rate":1.0,"methods":["AppendRows"],"count":1}');
($published, $malformed) = publish(300, 2);
$expected += $published - $malformed;
check_exactly_once('an answer lost', 'raw_orders', $expected, 'eos');
cmp_ok(stat_of('eos', 'already_existed'), '>', $already, 'the append sent again was already there');
is(storage_counters()->{faults_lost}, 1, 'after its answer was lost');
storage_faults(undef);

# ------------------------------------------------------------------ kill -9 mid-append
# Appends take 3 s: the worker is killed while BigQuery holds one, which
# lands after the worker is gone.  The worker started after the crash takes
# the stream's lock and sends the open intent again.
storage_faults('{"latency_ms":3000,"methods":["AppendRows"]}');
$already = stat_of('eos', 'already_existed');
($published, $malformed) = publish(500, 3);
$expected += $published - $malformed;
ok(wait_for('an open intent', 30,
		sub { sql("SELECT count(*) FROM bqstream.write_intents WHERE pipeline = 'eos'") > 0 }),
	'an append is under way');
my $pid = sql("SELECT pid FROM bqstream.worker_stats WHERE pipeline = 'eos' AND pid IS NOT NULL LIMIT 1");
kill 'KILL', $pid;
diag("killed worker $pid with SIGKILL during an append");
ok(wait_for('the server after the crash', 60, sub { my ($ret) = $node->psql('postgres', 'SELECT 1'); $ret == 0 }),
	'the server is back after the SIGKILL');
storage_faults(undef);
check_exactly_once('kill -9 mid-append', 'raw_orders', $expected, 'eos');
cmp_ok(stat_of('eos', 'replays'), '>', 0, 'the open intent was sent again');

# ------------------------------------------------------------------ redelivery of landed messages
# Every acknowledge fails for a while: the messages landed, come back after
# their lease, and the ledger acknowledges them without a second append.
http('POST', "http://127.0.0.1:$emu->{pubsub}/emulator/faults",
	'{"error_rate":1,"error_codes":[400],"methods":["acknowledge"],"count":3}');
($published, $malformed) = publish(200, 4);
$expected += $published - $malformed;
ok(wait_for('the redelivered duplicates', 90, sub { stat_of('eos', 'duplicates_skipped') > 0 }),
	'Pub/Sub delivers landed messages again');
http('DELETE', "http://127.0.0.1:$emu->{pubsub}/emulator/faults");
check_exactly_once('redelivery', 'raw_orders', $expected, 'eos');

# ------------------------------------------------------------------ the emulator restarted
$emu->stop;
sleep 1;
$emu->start;
diag("restarted the emulator");
($published, $malformed) = publish(500, 5);
$expected += $published - $malformed;
check_exactly_once('emulator restart', 'raw_orders', $expected, 'eos');

# ------------------------------------------------------------------ OUT_OF_RANGE
# PostgreSQL's record of the stream runs ahead of what the stream holds:
# the append is refused with OUT_OF_RANGE, and moves to a new stream.
sql("SELECT bqstream.stop_pipeline('eos')");
ok(wait_for('the worker to stop', 30, sub { stat_of('eos', 'workers') == 0 }), 'the pipeline stops');
sql("UPDATE bqstream.write_streams SET next_offset = next_offset + 7 WHERE pipeline = 'eos'");
my $streams = stat_of('eos', 'streams_created');
my $log_offset = -s $node->logfile;
sql("SELECT bqstream.start_pipeline('eos')");
($published, $malformed) = publish(300, 6);
$expected += $published - $malformed;
check_exactly_once('OUT_OF_RANGE', 'raw_orders', $expected, 'eos');
like(slurp_file($node->logfile, $log_offset), qr/cannot take the append at offset/,
	'the stream that cannot take the append is reported');
cmp_ok(stat_of('eos', 'streams_created'), '>', $streams, 'and a new stream takes it');

# ------------------------------------------------------------------ rotation
sql("ALTER SYSTEM SET bqstream.write_stream_max_rows = 150");
sql("SELECT pg_reload_conf()");
my $finalized = stat_of('eos', 'streams_finalized');
($published, $malformed) = publish(1000, 7);
$expected += $published - $malformed;
check_exactly_once('rotation', 'raw_orders', $expected, 'eos');
cmp_ok(stat_of('eos', 'streams_finalized'), '>', $finalized, 'full streams are finalized');
cmp_ok(sql("SELECT count(*) FROM bqstream.write_streams WHERE pipeline = 'eos'"), '<=', 2,
	'and forgotten');
sql("ALTER SYSTEM RESET bqstream.write_stream_max_rows");
sql("SELECT pg_reload_conf()");

# ------------------------------------------------------------------ row errors
# A DATETIME column takes any value through validation (BigQuery judges
# it); a value that is no DATETIME literal is a row error.  Nothing of its
# request is appended: the order becomes a dead letter, the others are
# appended again at the same offset.
my $tables = "http://127.0.0.1:$emu->{bigquery}/bigquery/v2/projects/$project/datasets/shop/tables";
http('POST', $tables, encode_json({
	tableReference => { projectId => $project, datasetId => 'shop', tableId => 'orders_dt' },
	schema => { fields => [
		{ name => 'order_id', type => 'STRING', mode => 'REQUIRED' },
		{ name => 'at', type => 'DATETIME', mode => 'NULLABLE' } ] } }));
sql(q{
	SELECT bqstream.create_topic('emu', 'dt-orders');
	SELECT bqstream.create_subscription('emu', 'orders-dt', 'dt-orders', ack_deadline_seconds => 10);
	SELECT bqstream.create_pipeline('dt', 'emu', 'orders-dt', 'orders_dt');
});
my $msgs = join(',', map {
	my $at = $_ == 3 ? 'the third of May' : "2026-11-25 10:00:0$_";
	encode_json({ data => encode_base64(qq({"order_id":"rowerr-$_","at":"$at"}), '') })
} 1 .. 5);
http('POST', "http://127.0.0.1:$emu->{pubsub}/v1/projects/$project/topics/dt-orders:publish", qq({"messages":[$msgs]}));
check_exactly_once('row errors', 'orders_dt', 4, 'dt');
ok(wait_for('the dead letter', 30, sub { sql("SELECT count(*) FROM bqstream.dead_letters WHERE pipeline = 'dt'") == 1 }),
	'the refused order is a dead letter');
like(sql("SELECT reason || ': ' || detail FROM bqstream.dead_letters WHERE pipeline = 'dt'"),
	qr/^bigquery_rejected: invalid: /, 'refused by BigQuery');
is(sql("SELECT convert_from(payload, 'UTF8') FROM bqstream.dead_letters WHERE pipeline = 'dt'"),
	'{"order_id":"rowerr-3","at":"the third of May"}', 'with its payload');
is(sql("SELECT next_offset FROM bqstream.write_streams WHERE pipeline = 'dt'"), '4',
	'the refused row takes no offset');
ok(wait_for('the acknowledgements', 30,
		sub { stat_of('dt', 'acked') == 5 }), 'all five are acknowledged');

# ------------------------------------------------------------------ the other modes
sql(q{
	SELECT bqstream.create_raw_orders_table('emu', 'orders_default');
	SELECT bqstream.create_raw_orders_table('emu', 'orders_insert');
	SELECT bqstream.create_subscription('emu', 'orders-default', 'orders', ack_deadline_seconds => 10);
	SELECT bqstream.create_subscription('emu', 'orders-insert', 'orders', ack_deadline_seconds => 10);
	SELECT bqstream.create_pipeline('dflt', 'emu', 'orders-default', 'orders_default', write_mode => 'default_stream');
	SELECT bqstream.create_pipeline('ins', 'emu', 'orders-insert', 'orders_insert', write_mode => 'insert_all');
});
ok(wait_for('their workers', 20, sub { stat_of('dflt', 'workers') >= 1 && stat_of('ins', 'workers') >= 1 }),
	'default_stream and insert_all pipelines run');
($published, $malformed) = publish(1000, 8, malformed => 0.02);
$expected += $published - $malformed;
for my $t ([ 'dflt', 'orders_default' ], [ 'ins', 'orders_insert' ])
{
	my ($p, $table) = @$t;
	ok(wait_for("$p: the orders", 120, sub { (bq_counts($table))[0] >= $published - $malformed }),
		"$p streams");
	my ($rows, $distinct) = bq_counts($table);
	is($rows, $published - $malformed, "$p: every order");
	is($distinct, $rows, "$p: once, without failures");
}
is(sql("SELECT count(*) FROM bqstream.write_streams WHERE pipeline IN ('dflt', 'ins')"), '0',
	'they keep no write streams');
cmp_ok(stat_of('dflt', 'appends'), '>', 0, 'default_stream appends');
is(stat_of('ins', 'appends'), '0', 'insert_all does not');
check_exactly_once('beside the other modes', 'raw_orders', $expected, 'eos');

# ------------------------------------------------------------------ the ledger stays bounded
# Entries older than dedup_retention go (at most once a minute, with the
# next append); on a subscription with exactly-once delivery an entry goes
# as soon as Pub/Sub confirmed the message's acknowledgement.
sql("UPDATE bqstream.write_ledger SET recorded_at = now() - interval '2 days' WHERE pipeline = 'eos'");
my $old_entries = sql("SELECT count(*) FROM bqstream.write_ledger WHERE pipeline = 'eos'");
# a worker prunes at its first append, then once a minute: a new one here
sql("SELECT bqstream.stop_pipeline('eos')");
ok(wait_for('the worker to stop', 30, sub { stat_of('eos', 'workers') == 0 }), 'the pipeline stops again');
sql("SELECT bqstream.start_pipeline('eos')");
($published, $malformed) = publish(100, 11);
$expected += $published - $malformed;
check_exactly_once('pruning', 'raw_orders', $expected, 'eos');
is(sql("SELECT count(*) FROM bqstream.write_ledger WHERE pipeline = 'eos' AND recorded_at < now() - interval '1 day'"),
	'0', "entries past dedup_retention leave the ledger ($old_entries of them)");
is(sql("SELECT count(*) FROM bqstream.write_ledger WHERE pipeline = 'eos'"), $published - $malformed,
	'the new ones stay');
sql("SELECT bqstream.create_topic('emu', 'eod-orders')");
my $sub = decode_json(http('PUT', "http://127.0.0.1:$emu->{pubsub}/v1/projects/$project/subscriptions/orders-eod",
		encode_json({ topic => "projects/$project/topics/eod-orders", ackDeadlineSeconds => 10,
			enableExactlyOnceDelivery => JSON::PP::true })));
ok($sub->{enableExactlyOnceDelivery}, 'a subscription with exactly-once delivery');
http('POST', "http://127.0.0.1:$emu->{bigquery}/bigquery/v2/projects/$project/datasets/shop/tables", encode_json({
	tableReference => { projectId => $project, datasetId => 'shop', tableId => 'orders_eod' },
	schema => { fields => [
		{ name => 'order_id', type => 'STRING', mode => 'REQUIRED' },
		{ name => 'at', type => 'DATETIME', mode => 'NULLABLE' } ] } }));
sql("SELECT bqstream.create_pipeline('eod', 'emu', 'orders-eod', 'orders_eod')");
ok(wait_for('the eod worker', 20, sub { stat_of('eod', 'workers') >= 1 }), 'its pipeline runs');
for my $round (1 .. 3)
{
	my $m = join(',', map { encode_json({ data => encode_base64(qq({"order_id":"eod-$round-$_","at":"2026-11-25 10:00:00"}), '') }) } 1 .. 20);
	http('POST', "http://127.0.0.1:$emu->{pubsub}/v1/projects/$project/topics/eod-orders:publish", qq({"messages":[$m]}));
	ok(wait_for("round $round", 60, sub { stat_of('eod', 'acked') >= 20 * $round }), "round $round acknowledged");
}
cmp_ok(sql("SELECT count(*) FROM bqstream.write_ledger WHERE pipeline = 'eod'"), '<=', 20,
	'confirmed acknowledgements leave the ledger with the next append');
is((bq_counts('orders_eod'))[0], 60, 'the orders are stored once');

# ------------------------------------------------------------------ a mode changed
sql("SELECT bqstream.alter_pipeline('dflt', write_mode => 'exactly_once')");
is(sql("SELECT write_mode FROM bqstream.pipelines WHERE name = 'dflt'"), 'exactly_once', 'alter_pipeline changes the mode');
# the workers take a change up from the batch after the launcher saw it
# (bqstream.launcher_naptime, 200 ms here); a batch pulled meanwhile is
# written the old way
sleep 2;
my ($before) = bq_counts('orders_default');
($published, $malformed) = publish(200, 9);
$expected += $published - $malformed;
ok(wait_for('the batch', 60, sub { (bq_counts('orders_default'))[0] >= $before + $published - $malformed }),
	'the altered pipeline streams');
($before) = bq_counts('orders_default');
($published, $malformed) = publish(200, 10);
$expected += $published - $malformed;
ok(wait_for('the altered pipeline', 60,
		sub { sql("SELECT count(*) FROM bqstream.write_streams WHERE pipeline = 'dflt'") == 1
			  && (bq_counts('orders_default'))[0] >= $before + $published - $malformed }),
	'and its workers take up the new mode')
  or diag(sql("SELECT write_mode, workers, received, inserted, appends, streams_created, last_error FROM bqstream.pipeline_stats WHERE pipeline = 'dflt'")
	  . "\n" . sql("SELECT id, stream, next_offset FROM bqstream.write_streams WHERE pipeline = 'dflt'")
	  . "\n" . join(',', bq_counts('orders_default')) . " rows, expected $before + $published - $malformed");
check_exactly_once('after the other modes', 'raw_orders', $expected, 'eos');

is(sql("SELECT string_agg(DISTINCT coalesce(last_error, ''), ',') FROM bqstream.pipeline_stats"), '',
	'no pipeline shows an error') or diag(sql("SELECT pipeline, last_error FROM bqstream.pipeline_stats"));

$node->stop;
done_testing();
