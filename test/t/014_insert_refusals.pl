# What insertAll refuses and why: rows refused for a reason that is not
# their own (a per-row "timeout" or "backendError") are sent again until
# stored, never dead-lettered nor acknowledged before; rows as large as
# Pub/Sub messages may be are streamed in requests under BigQuery's 10 MB
# limit.
use strict;
use warnings;

use File::Temp qw(tempdir);
use IPC::Run;
use JSON::PP;
use MIME::Base64 qw(encode_base64);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use BqEmulator qw(http wait_for pipeline_node);

my $tmp = tempdir(CLEANUP => 1);
my $emu = BqEmulator->new(dir => $tmp);
my ($ps, $bq) = ($emu->{pubsub}, $emu->{bigquery});
my $project = 'refusal-project';
my $table_url = "http://127.0.0.1:$bq/bigquery/v2/projects/$project/datasets/shop/tables/raw_orders";

my $node = pipeline_node('refusals', $project, "http://127.0.0.1:$ps", "http://127.0.0.1:$bq");
$node->safe_psql('postgres', qq{
	SELECT count(*) FROM bqstream.setup_demo('emu');
});

sub stat_of
{
	my ($column) = @_;
	return $node->safe_psql('postgres',
		"SELECT $column FROM bqstream.pipeline_stats WHERE pipeline = 'p'");
}

sub bq_counts
{
	my $r = decode_json(http('POST', "http://127.0.0.1:$bq/bigquery/v2/projects/$project/queries",
			encode_json({ useLegacySql => JSON::PP::false,
				query => 'SELECT COUNT(*), COUNT(DISTINCT order_id) FROM shop.raw_orders' })));
	return map { $_->{v} } @{ $r->{rows}[0]{f} };
}

# a POST whose body is too large for a command line argument
sub http_file
{
	my ($url, $body) = @_;
	my $file = "$tmp/body.json";
	open(my $fh, '>', $file) or die "could not write $file: $!";
	print $fh $body;
	close($fh);
	my ($stdout, $stderr);
	IPC::Run::run([ 'curl', '-s', '-X', 'POST', $url, '-H', 'Content-Type: application/json',
			'--data-binary', "\@$file" ], '>', \$stdout, '2>', \$stderr);
	return $stdout;
}

sub modacks
{
	my $c = decode_json(http('GET', "http://127.0.0.1:$ps/emulator/counters"));
	return $c->{requests}{modifyAckDeadline} // 0;
}

# -- Pub/Sub's default ack deadline -------------------------------------------
sub ack_deadline
{
	my ($sub) = @_;
	my $r = decode_json(http('GET', "http://127.0.0.1:$ps/v1/projects/$project/subscriptions/$sub"));
	return $r->{ackDeadlineSeconds};
}
is(ack_deadline('orders-pipeline'), 10, "setup_demo()'s subscription has Pub/Sub's default ack deadline");
$node->safe_psql('postgres', "SELECT bqstream.create_subscription('emu', 'orders-default', 'orders')");
is(ack_deadline('orders-default'), 10, 'so has one made by create_subscription() without a deadline');

$node->safe_psql('postgres',
	"SELECT bqstream.create_pipeline('p', 'emu', 'orders-pipeline', batch_size => 50, write_mode => 'insert_all')");
ok(wait_for('the worker', 20, sub { stat_of('workers') >= 1 }), 'the worker runs');
my $modacks_before = modacks();
my ($published, $malformed) = split /\|/, $node->safe_psql('postgres',
	"SELECT published, malformed FROM bqstream.publish_orders(100, 'emu', seed => 13, "
	  . "malformed_fraction => 0.1, progress_interval => 0)");
ok(wait_for('the acknowledgement', 30, sub { stat_of('acked') >= $published }),
	'a quick batch is acknowledged');
is(modacks() - $modacks_before, 0, 'with no modifyAckDeadline: the lease is short already');

# -- rows refused with reason timeout, then backendError ----------------------
# The next 120 valid rows inserted into raw_orders are refused with reason
# timeout: every chunk of the next few batches loses rows.
my $patched = decode_json(http('PATCH', $table_url,
		'{"labels":{"emulator_row_fault":"timeout","emulator_row_fault_rows":"120"}}'));
is($patched->{labels}{emulator_row_fault}, 'timeout', 'the emulator refuses rows with timeout');

my ($published1, $malformed1) = split /\|/, $node->safe_psql('postgres',
	"SELECT published, malformed FROM bqstream.publish_orders(300, 'emu', seed => 14, "
	  . "malformed_fraction => 0.1, progress_interval => 0)");
$published += $published1;
$malformed += $malformed1;
cmp_ok($malformed, '>', 0, "some orders are malformed ($malformed)");
ok(wait_for('the acknowledgement', 90, sub { stat_of('acked') >= $published }),
	'every order is acknowledged in the end');
my $counters = decode_json(http('GET', "http://127.0.0.1:$bq/emulator/counters"));
is($counters->{rows_refused_by_fault}, 120, 'BigQuery refused 120 rows with timeout');
my ($rows, $distinct) = bq_counts();
is($rows, $published - $malformed, 'every valid order is in BigQuery');
is($distinct, $rows, 'once');
is($node->safe_psql('postgres', 'SELECT count(*) FROM bqstream.dead_letters'),
	$malformed, 'the malformed orders are the only dead letters');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM bqstream.dead_letters WHERE reason = 'bigquery_rejected'"),
	'0', 'no refused row became a dead letter');
cmp_ok(stat_of('retries'), '>', 0, 'the refused rows were sent again');

http('PATCH', $table_url,
	'{"labels":{"emulator_row_fault":"backenderror","emulator_row_fault_rows":"30"}}');
my ($published2, $malformed2) = split /\|/, $node->safe_psql('postgres',
	"SELECT published, malformed FROM bqstream.publish_orders(100, 'emu', seed => 15, "
	  . "malformed_fraction => 0, progress_interval => 0)");
ok(wait_for('the acknowledgement', 90, sub { stat_of('acked') >= $published + $published2 }),
	'orders refused with backendError are acknowledged in the end');
($rows, $distinct) = bq_counts();
is($rows, $published - $malformed + $published2, 'and stored');
is($distinct, $rows, 'once');
is($node->safe_psql('postgres', 'SELECT count(*) FROM bqstream.dead_letters'),
	$malformed, 'without a dead letter');
http('PATCH', $table_url, '{"labels":{}}');

# -- large messages ----------------------------------------------------------
# Six orders of about 3 MB each (the order padded with spaces, which JSON
# allows), published while the pipeline is stopped: one batch, more than
# BigQuery takes in one insertAll request.
$node->safe_psql('postgres', "SELECT bqstream.stop_pipeline('p')");
ok(wait_for('the worker to stop', 20, sub { stat_of('workers') == 0 }), 'the pipeline is stopped');
my @messages;
for my $i (1 .. 6)
{
	my $order = encode_json({ order_id => "big-$i", user_id => 'u-1', product_id => 'p-1',
			amount => 1.5, event_time => '2026-01-01T00:00:00Z' });
	$order =~ s/\}$/' ' x 3_000_000 . '}'/e;
	push @messages, { data => encode_base64($order, '') };
}
for my $message (@messages)
{
	my $answer = decode_json(http_file(
			"http://127.0.0.1:$ps/v1/projects/$project/topics/orders:publish",
			encode_json({ messages => [$message] })));
	ok(@{ $answer->{messageIds} || [] } == 1, 'a large order is published')
	  or diag(explain($answer));
}
$node->safe_psql('postgres', "SELECT bqstream.start_pipeline('p')");
my $expected = $published - $malformed + $published2 + 6;
ok(wait_for('the large orders', 60, sub { (bq_counts())[0] >= $expected }),
	'the large orders are in BigQuery');
($rows, $distinct) = bq_counts();
is($rows, $expected, 'all of them');
is($distinct, $rows, 'once');
is($node->safe_psql('postgres', 'SELECT count(*) FROM bqstream.dead_letters'),
	$malformed, 'none of them is a dead letter');
ok(wait_for('the acknowledgement', 20, sub {
	$node->safe_psql('postgres', "SELECT count(*) FROM bqstream.pipeline_stats WHERE pipeline = 'p' AND acked >= 6") == 1 }),
	'they are acknowledged');
is($node->safe_psql('postgres', "SELECT coalesce(last_error, '') FROM bqstream.pipeline_stats WHERE pipeline = 'p'"),
	'', 'without an error');

# -- refused past the retry deadline ------------------------------------------
# With a 2 s deadline and every row refused, the worker gives up on the
# batch: an error, no dead letter, nothing acknowledged.  Once BigQuery takes
# rows again, Pub/Sub's redelivery stores them, once.
$node->safe_psql('postgres', "ALTER SYSTEM SET bqstream.http_retry_deadline = '2s'; SELECT pg_reload_conf()");
http('PATCH', $table_url,
	'{"labels":{"emulator_row_fault":"timeout","emulator_row_fault_rows":"100000"}}');
my ($published4, $malformed4) = split /\|/, $node->safe_psql('postgres',
	"SELECT published, malformed FROM bqstream.publish_orders(30, 'emu', seed => 16, "
	  . "malformed_fraction => 0, progress_interval => 0)");
ok(wait_for('the error', 30, sub {
	$node->safe_psql('postgres', "SELECT last_error FROM bqstream.pipeline_stats WHERE pipeline = 'p'")
	  =~ /^could not stream \d+ rows? into table "shop.raw_orders": BigQuery refused them with reason "timeout"/ }),
	'rows refused past the retry deadline fail the batch');
($rows, $distinct) = bq_counts();
is($rows, $expected, 'none of them is stored');
is($node->safe_psql('postgres', 'SELECT count(*) FROM bqstream.dead_letters'),
	$malformed, 'none of them is a dead letter');
http('PATCH', $table_url, '{"labels":{}}');
$node->safe_psql('postgres', "ALTER SYSTEM RESET bqstream.http_retry_deadline; SELECT pg_reload_conf()");
ok(wait_for('the redelivery', 60, sub { (bq_counts())[0] >= $expected + $published4 }),
	'they are stored once BigQuery takes them');
($rows, $distinct) = bq_counts();
is($rows, $expected + $published4, 'all of them');
is($distinct, $rows, 'once');

$node->stop;
done_testing();
