# An idle subscription is normal.  Pub/Sub holds a pull that finds no
# message for about 90 s before it answers {} (Google's emulator and the
# real service; our emulator with --pubsub-pull-wait-ms), longer than one
# attempt of any other call (bqstream.http_timeout).  A worker must wait for
# that answer: giving up on it logs an error every time, backs off, and
# abandons a pull that Pub/Sub may still fill, hiding the next messages until
# their ack deadline.  Here the hold (10 s) outlasts http_timeout (3 s), as
# Google's 90 s outlast the default 60 s.  While it waits, the worker still
# serves a reload, a cancel and a stop at once.
use strict;
use warnings;

use File::Temp qw(tempdir);
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

use FindBin;
use lib "$FindBin::RealBin/../perl";
use BqEmulator qw(http wait_for pipeline_node);

my $hold_s = 10;
my $tmp = tempdir(CLEANUP => 1);
my $emu = BqEmulator->new(dir => $tmp, args => [ '--pubsub-pull-wait-ms', $hold_s * 1000 ]);
my ($ps, $bq) = ($emu->{pubsub}, $emu->{bigquery});

my $node = pipeline_node('idle_pull', "idle-project", "http://127.0.0.1:$ps", "http://127.0.0.1:$bq",
	conf => "bqstream.http_timeout = '3s'\n");
$node->safe_psql('postgres', qq{
	SELECT count(*) FROM bqstream.setup_demo('emu');
	-- what an abandoned pull takes comes back after 10 s rather than 60
	SELECT bqstream.create_subscription('emu', 'orders-idle', 'orders', ack_deadline_seconds => 10);
	SELECT bqstream.create_pipeline('idle', 'emu', 'orders-idle', write_mode => 'insert_all');
});

sub stat_of
{
	my ($column) = @_;
	return $node->safe_psql('postgres',
		"SELECT $column FROM bqstream.pipeline_stats WHERE pipeline = 'idle'");
}

sub bq_rows
{
	my $r = decode_json(http('POST', "http://127.0.0.1:$bq/bigquery/v2/projects/idle-project/queries",
			encode_json({ useLegacySql => JSON::PP::false,
				query => 'SELECT COUNT(*) FROM shop.raw_orders' })));
	return $r->{rows}[0]{f}[0]{v} // -1;
}

sub pulls_empty
{
	return decode_json(http('GET', "http://127.0.0.1:$ps/emulator/counters"))->{pulls_empty} // 0;
}

# Publish one order and return how long it took to reach BigQuery (or undef).
sub one_order_latency
{
	my $before = bq_rows();
	my $t0 = time();
	$node->safe_psql('postgres',
		"SELECT published FROM bqstream.publish_orders(1, 'emu', progress_interval => 0)");
	while (time() - $t0 < 30)
	{
		return time() - $t0 if bq_rows() > $before;
		usleep(50_000);
	}
	return undef;
}

sub worker_pid
{
	return $node->safe_psql('postgres',
		"SELECT pid FROM bqstream.worker_stats WHERE pipeline = 'idle' AND pid IS NOT NULL LIMIT 1");
}

ok(wait_for('the worker', 20, sub { stat_of('workers') >= 1 }), 'the worker runs');
my ($published) = $node->safe_psql('postgres',
	"SELECT published FROM bqstream.publish_orders(100, 'emu', seed => 9, progress_interval => 0)");
ok(wait_for('the first orders', 30, sub { bq_rows() == 100 }), 'the pipeline streams orders');

# ------------------------------------------------------------------ quiet
my $log_offset = -s $node->logfile;
my $empty_before = pulls_empty();
my $retries_before = stat_of('retries');
note("quiet for " . (2 * $hold_s + 4) . " s: pulls held ${hold_s} s each");
sleep(2 * $hold_s + 4);
my $log = slurp_file($node->logfile, $log_offset);
unlike($log, qr/could not pull|while trying to pull/, 'no pull of the quiet period failed');
unlike($log, qr/ERROR|WARNING/, 'nothing worse than LOG in the log');
is(stat_of('retries') - $retries_before, 0, 'and no retry or backoff was counted');
cmp_ok(pulls_empty() - $empty_before, '>=', 1, 'the held pulls were answered empty');
cmp_ok(stat_of('workers'), '==', 1, 'the worker is still there');

# an order published now is pulled at once: no abandoned pull holds it
my $latency = one_order_latency();
ok(defined $latency && $latency < 2,
	sprintf('an order after the quiet period is in BigQuery within 2 s (%s s)',
		defined $latency ? sprintf('%.2f', $latency) : 'never'));

# ------------------------------------------------------------------ served during a held pull
# just after an answered pull, the next one is held for the whole $hold_s
sleep(1);
$log_offset = -s $node->logfile;
$node->append_conf('postgresql.conf', "log_min_messages = debug1\n");
my $t0 = time();
$node->reload;
ok($node->wait_for_log(qr/bqstream pipeline "idle" worker reloaded its configuration/, $log_offset),
	'a reload reaches the waiting worker');
cmp_ok(time() - $t0, '<', 3, 'at once, not when the held pull ends');
$node->append_conf('postgresql.conf', "log_min_messages = warning\n");
$node->reload;

sleep(1);
$log_offset = -s $node->logfile;
$t0 = time();
$node->safe_psql('postgres', "SELECT pg_cancel_backend(" . worker_pid() . ")");
ok($node->wait_for_log(qr/canceling statement due to user request/, $log_offset),
	'a cancel reaches the waiting worker');
cmp_ok(time() - $t0, '<', 3, 'at once');
# the cancelled pull is abandoned: Pub/Sub may give it the next order, which
# then comes back after the ack deadline
$latency = one_order_latency();
ok(defined $latency, 'the worker goes on after the cancel');

sleep(1);
$t0 = time();
$node->safe_psql('postgres', "SELECT bqstream.stop_pipeline('idle')");
ok(wait_for('the worker to stop', 20, sub { stat_of('workers') == 0 }), 'stop_pipeline stops the waiting worker');
cmp_ok(time() - $t0, '<', 3, 'at once');

$node->stop;
done_testing();
