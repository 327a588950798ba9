# A subscription with exactly-once delivery: the worker leases its messages
# for 60 s, as Google's clients do there, and an acknowledge that Pub/Sub
# answers with EXACTLY_ONCE_ACKID_FAILURE (HTTP 400, an ErrorInfo naming the
# failed ack IDs) is no failure of the batch: the messages whose leases ran
# out come back and are stored once all the same.
use strict;
use warnings;

use File::Temp qw(tempdir);
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use BqEmulator qw(http wait_for pipeline_node);

my $tmp = tempdir(CLEANUP => 1);
my $emu = BqEmulator->new(dir => $tmp);
my ($ps, $bq) = ($emu->{pubsub}, $emu->{bigquery});
my $project = 'eod-project';

my $node = pipeline_node('eod', $project, "http://127.0.0.1:$ps", "http://127.0.0.1:$bq");
$node->safe_psql('postgres', qq{
	SELECT count(*) FROM bqstream.setup_demo('emu');
});
my $sub = decode_json(http('PUT', "http://127.0.0.1:$ps/v1/projects/$project/subscriptions/orders-eod",
		encode_json({ topic => "projects/$project/topics/orders", ackDeadlineSeconds => 10,
			enableExactlyOnceDelivery => JSON::PP::true })));
ok($sub->{enableExactlyOnceDelivery}, 'a subscription with exactly-once delivery')
  or diag(explain($sub));

sub stat_of
{
	my ($column) = @_;
	return $node->safe_psql('postgres',
		"SELECT $column FROM bqstream.pipeline_stats WHERE pipeline = 'p'");
}

sub counters
{
	my ($port) = @_;
	return decode_json(http('GET', "http://127.0.0.1:$port/emulator/counters"));
}

sub bq_counts
{
	my $r = decode_json(http('POST', "http://127.0.0.1:$bq/bigquery/v2/projects/$project/queries",
			encode_json({ useLegacySql => JSON::PP::false,
				query => 'SELECT COUNT(*), COUNT(DISTINCT order_id) FROM shop.raw_orders' })));
	return map { $_->{v} } @{ $r->{rows}[0]{f} };
}

$node->safe_psql('postgres', "SELECT bqstream.create_pipeline('p', 'emu', 'orders-eod', write_mode => 'insert_all')");
ok(wait_for('the worker', 20, sub { stat_of('workers') >= 1 }), 'the worker runs');

# -- the lease: 60 s, though the subscription's ack deadline is 10 s ----------
my $modacks = counters($ps)->{requests}{modifyAckDeadline} // 0;
my $published = $node->safe_psql('postgres',
	"SELECT published FROM bqstream.publish_orders(50, 'emu', seed => 15, progress_interval => 0)");
ok(wait_for('the acknowledgement', 30, sub { stat_of('acked') >= $published }),
	'a batch is acknowledged');
cmp_ok((counters($ps)->{requests}{modifyAckDeadline} // 0) - $modacks, '>', 0,
	'after its lease was set to 60 s');

# -- an acknowledge after the leases ran out ----------------------------------
# Every modifyAckDeadline fails (409, not retried), so the batch keeps the
# subscription's 10 s, and BigQuery takes 12 s: Pub/Sub refuses the
# acknowledgement of every ack ID with PERMANENT_FAILURE_INVALID_ACK_ID.
http('POST', "http://127.0.0.1:$ps/emulator/faults",
	'{"error_rate":1,"error_codes":[409],"methods":["modifyAckDeadline"]}');
http('POST', "http://127.0.0.1:$bq/emulator/faults", '{"latency_ms":12000,"methods":["insertAll"]}');
my $received = stat_of('received');
my $log_offset = -s $node->logfile;
my $published2 = $node->safe_psql('postgres',
	"SELECT published FROM bqstream.publish_orders(40, 'emu', seed => 16, progress_interval => 0)");
ok(wait_for('the slow insert', 30, sub { (counters($bq)->{requests}{insertAll} // 0) >= 2 }),
	'the batch is being inserted');
http('DELETE', "http://127.0.0.1:$bq/emulator/faults");
ok(wait_for('the refused acknowledgement', 40,
		sub { slurp_file($node->logfile, $log_offset) =~ /could not acknowledge \d+ messages? of subscription "orders-eod"/ }),
	'the refused acknowledgement is logged');
http('DELETE', "http://127.0.0.1:$ps/emulator/faults");
ok(wait_for('the redelivery', 60, sub { (bq_counts())[0] >= $published + $published2 && stat_of('received') > $received + $published2 }),
	'the messages come back');
ok(wait_for('the acknowledgement', 30, sub {
	(counters($ps)->{messages_acked} // 0) >= $published + $published2 }),
	'and are acknowledged in the end');
my ($rows, $distinct) = bq_counts();
is($rows, $published + $published2, 'every order is in BigQuery');
is($distinct, $rows, 'once');
is($node->safe_psql('postgres', 'SELECT count(*) FROM bqstream.dead_letters'), '0', 'no dead letter');
my $log = slurp_file($node->logfile, $log_offset);
unlike($log, qr/ERROR:.*could not acknowledge/, 'the refused acknowledgement is no error of the batch');
is($node->safe_psql('postgres', "SELECT coalesce(last_error, '') FROM bqstream.pipeline_stats WHERE pipeline = 'p'"),
	'', 'none is shown');

# -- ack IDs that fail transiently -------------------------------------------
# The emulator answers the next 5 ack IDs with TRANSIENT_FAILURE_UNORDERED_ACK_ID
# (and keeps their leases): the worker acknowledges them again at once.
my $patched = decode_json(http('PATCH', "http://127.0.0.1:$ps/v1/projects/$project/subscriptions/orders-eod",
		encode_json({ subscription => { labels => { emulator_transient_ack_failures => '5' } },
			updateMask => 'labels' })));
is($patched->{labels}{emulator_transient_ack_failures}, '5', 'the next 5 ack IDs fail transiently')
  or diag(explain($patched));
$received = stat_of('received');
my $acked = counters($ps)->{messages_acked};
$log_offset = -s $node->logfile;
my $published3 = $node->safe_psql('postgres',
	"SELECT published FROM bqstream.publish_orders(20, 'emu', seed => 17, progress_interval => 0)");
ok(wait_for('the acknowledgement', 30, sub { counters($ps)->{messages_acked} >= $acked + $published3 }),
	'they are acknowledged when tried again');
is(stat_of('received') - $received, $published3, 'without a redelivery');
($rows, $distinct) = bq_counts();
is($rows, $published + $published2 + $published3, 'every order is in BigQuery');
is($distinct, $rows, 'once');
$log = slurp_file($node->logfile, $log_offset);
unlike($log, qr/could not acknowledge/, 'nothing is reported');

$node->stop;
done_testing();
