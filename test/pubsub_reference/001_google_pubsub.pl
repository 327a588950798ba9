# The reference suite: the C client against Google's own Pub/Sub emulator
# (package google-cloud-cli-pubsub-emulator), with our BigQuery emulator
# behind it, so that where our Pub/Sub emulator is lenient the client is
# still corrected.  Covers the admin functions (a dead-letter policy
# included, and enforced by Google's emulator), publish_orders(), a
# pipeline end to end with exact counts, a quiet period longer than
# Google's pull hold (about 90 s) without an error, the next order in
# BigQuery within 2 s of it, and a restart of Google's emulator: it keeps
# no state, so the topic and subscription are made again, and the same
# pipeline takes up the orders published then.
#
# BQSTREAM_GOOGLE_PUBSUB_EMULATOR names Google's start script
# (SDK/platform/pubsub-emulator/bin/cloud-pubsub-emulator); scripts/test.sh
# finds it, and does not count this suite as passed when it cannot.
use strict;
use warnings;

use IO::Socket::INET;
use JSON::PP;
use POSIX ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

use FindBin;
use lib "$FindBin::RealBin/../perl";
use BqEmulator qw(http wait_for pipeline_node);

my $google = $ENV{BQSTREAM_GOOGLE_PUBSUB_EMULATOR};
BAIL_OUT('BQSTREAM_GOOGLE_PUBSUB_EMULATOR does not name Google\'s Pub/Sub emulator')
  unless defined $google && -x $google;

# under tmp_check: what a killed run leaves there is found by test.sh
my $tmp = PostgreSQL::Test::Utils::tempdir('reference');
my $project = 'ref-project';

# ------------------------------------------------------------------ Google's emulator
my $gport;
my $gpid;

sub free_port
{
	my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1)
	  or die "no free port: $!";
	my $port = $s->sockport;
	close $s;
	return $port;
}

# Start Google's emulator on $gport and wait until it answers.  It writes
# nothing but its log here (a home and a temporary directory of its own).
sub start_google
{
	mkdir "$tmp/google";
	mkdir "$tmp/google/home";
	mkdir "$tmp/google/tmp";
	$gpid = fork();
	if ($gpid == 0)
	{
		chdir "$tmp/google";
		$ENV{HOME} = "$tmp/google/home";
		$ENV{CLOUD_PUBSUB_EMULATOR_OPTS} = "-Xmx512m -XX:-UsePerfData -Djava.io.tmpdir=$tmp/google/tmp";
		open(STDOUT, '>>', "$tmp/google/emulator.log");
		open(STDERR, '>&', \*STDOUT);
		exec($google, '--host=127.0.0.1', "--port=$gport")
		  or die "cannot start Google's Pub/Sub emulator: $!";
	}
	my $t0 = time();
	my $up = wait_for("Google's Pub/Sub emulator on port $gport", 60, sub {
			http('GET', "http://127.0.0.1:$gport/v1/projects/$project/topics") =~ /^\{/;
		});
	BAIL_OUT("Google's Pub/Sub emulator did not start: " . slurp_file("$tmp/google/emulator.log"))
	  unless $up;
	note(sprintf("Google's Pub/Sub emulator answers on port %d after %.1f s", $gport, time() - $t0));
}

sub stop_google
{
	return unless $gpid;
	kill 'TERM', $gpid;
	for (1 .. 100)
	{
		last if waitpid($gpid, POSIX::WNOHANG()) != 0;
		usleep(100_000);
	}
	if (kill(0, $gpid))
	{
		kill 'KILL', $gpid;
		waitpid($gpid, 0);
	}
	$gpid = undef;
}

# keeping the test's exit status: waitpid() would set $? to the emulator's
END
{
	local $?;
	stop_google() if $gpid;
}

sub google
{
	my ($method, $path, $body) = @_;
	my $out = http($method, "http://127.0.0.1:$gport/v1/projects/$project/$path",
		defined $body ? encode_json($body) : undef);
	return eval { decode_json($out) } // { raw => $out };
}

$gport = free_port();
start_google();

# ------------------------------------------------------------------ ours, for BigQuery
my $emu = BqEmulator->new(dir => $tmp, services => 'bigquery');
my $bq = $emu->{bigquery};

sub bq_counts
{
	my $r = decode_json(http('POST', "http://127.0.0.1:$bq/bigquery/v2/projects/$project/queries",
			encode_json({ useLegacySql => JSON::PP::false,
				query => 'SELECT COUNT(*), COUNT(DISTINCT order_id) FROM shop.raw_orders' })));
	return map { $_->{v} } @{ $r->{rows}[0]{f} };
}

# ------------------------------------------------------------------ PostgreSQL
my $node = pipeline_node('reference', $project, "http://127.0.0.1:$gport", "http://127.0.0.1:$bq",
	server => 'gref');

sub sql
{
	my ($query) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', $query, on_error_stop => 0,
		extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	return ($out, $err);
}

# empty pulls of the pipeline's workers, and its retries
sub pulls_and_retries
{
	return split /\|/, $node->safe_psql('postgres',
		"SELECT sum(empty_pulls) || '|' || sum(retries) FROM bqstream.worker_stats WHERE pipeline = 'ref'");
}

sub stat_of
{
	my ($column) = @_;
	return $node->safe_psql('postgres',
		"SELECT $column FROM bqstream.pipeline_stats WHERE pipeline = 'ref'");
}

# ------------------------------------------------------------------ admin functions
my ($out, $err) = sql("SELECT bqstream.create_topic('gref', 'ref-topic')");
is($out, 't', 'create_topic creates a topic');
is(google('GET', 'topics/ref-topic')->{name}, "projects/$project/topics/ref-topic", 'Google has it');
($out, $err) = sql("SELECT bqstream.create_topic('gref', 'ref-topic')");
is($out, 'f', 'creating it again does nothing');
like($err, qr/NOTICE:  00000: topic "ref-topic" already exists, skipping/, 'with a NOTICE');

sql("SELECT bqstream.create_topic('gref', 'ref-dead')");
($out, $err) = sql(
	"SELECT bqstream.create_subscription('gref', 'ref-sub', 'ref-topic', ack_deadline_seconds => 20, "
	  . "dead_letter_topic => 'ref-dead', max_delivery_attempts => 5)");
is($out, 't', 'create_subscription with a dead-letter policy');
my $sub = google('GET', 'subscriptions/ref-sub');
is_deeply(
	[ $sub->{topic}, $sub->{ackDeadlineSeconds}, $sub->{deadLetterPolicy}{deadLetterTopic},
		$sub->{deadLetterPolicy}{maxDeliveryAttempts} ],
	[ "projects/$project/topics/ref-topic", 20, "projects/$project/topics/ref-dead", 5 ],
	'Google has it as asked: topic, ack deadline, dead-letter topic and attempts');
($out, $err) = sql("SELECT bqstream.create_subscription('gref', 'ref-sub', 'ref-topic')");
like($err, qr/subscription "ref-sub" already exists, skipping/, 'creating it again is a NOTICE');
($out, $err) = sql("SELECT bqstream.create_subscription('gref', 'ref-orphan', 'no-such-topic')");
like($err, qr/ERROR:  42704: .+\n/,
	"a subscription to a missing topic is an error (undefined_object), with Google's message");
like($err, qr/DETAIL:  Pub\/Sub answered HTTP 404 NOT_FOUND\./, "with Google's status");
like($err, qr/CONTEXT:  while trying to create subscription "ref-orphan"/, 'and what was tried');

# the policy is Google's to enforce: after 5 deliveries the order is on ref-dead
sql("SELECT bqstream.create_subscription('gref', 'ref-dead-sub', 'ref-dead')");
($out, $err) = sql("SELECT published FROM bqstream.publish_orders(1, 'gref', 'ref-topic', progress_interval => 0)");
is($out, '1', 'publish_orders() to a topic of our own');
my $attempts = 0;
for (1 .. 5)
{
	my $m;
	wait_for('a delivery', 10, sub {
			$m = google('POST', 'subscriptions/ref-sub:pull',
				{ maxMessages => 1, returnImmediately => JSON::PP::true })->{receivedMessages}[0];
			defined $m;
		}) or last;
	$attempts = $m->{deliveryAttempt};
	# a nack: delivered again at once
	google('POST', 'subscriptions/ref-sub:modifyAckDeadline', { ackIds => [ $m->{ackId} ], ackDeadlineSeconds => 0 });
}
is($attempts, 5, 'Google delivers it 5 times, counting the attempts');
# Google's emulator moves it when the subscription is pulled next
my ($dead, $sixth);
wait_for('the dead letter', 10, sub {
		$sixth //= google('POST', 'subscriptions/ref-sub:pull',
			{ maxMessages => 1, returnImmediately => JSON::PP::true })->{receivedMessages}[0];
		$dead = google('POST', 'subscriptions/ref-dead-sub:pull',
			{ maxMessages => 1, returnImmediately => JSON::PP::true })->{receivedMessages}[0];
		defined $dead;
	});
ok(!defined $sixth, 'and not a sixth time');
is($dead->{message}{attributes}{CloudPubSubDeadLetterSourceSubscription}, 'ref-sub',
	'then moves it to the dead-letter topic of the policy');

($out, $err) = sql("SELECT bqstream.drop_subscription('gref', 'ref-sub')");
is($out, 't', 'drop_subscription');
($out, $err) = sql("SELECT bqstream.drop_subscription('gref', 'ref-sub')");
like($err, qr/subscription "ref-sub" does not exist, skipping/, 'dropping it again is a NOTICE');
is(google('GET', 'subscriptions/ref-sub')->{error}{code}, 404, 'Google has it no more');
sql("SELECT bqstream.drop_subscription('gref', 'ref-dead-sub')");
($out, $err) = sql("SELECT bqstream.drop_topic('gref', 'ref-topic')");
is($out, 't', 'drop_topic');
($out, $err) = sql("SELECT bqstream.drop_topic('gref', 'ref-topic')");
like($err, qr/topic "ref-topic" does not exist, skipping/, 'dropping it again is a NOTICE');
sql("SELECT bqstream.drop_topic('gref', 'ref-dead')");

is($node->safe_psql('postgres', "SELECT string_agg(object_type || ' ' || created, ', ') FROM bqstream.setup_demo('gref')"),
	'topic true, topic true, subscription true, subscription true, dataset true, table true, materialized view true',
	'setup_demo() creates the topics, subscriptions, dataset, table and view');
$sub = google('GET', 'subscriptions/orders-pipeline');
is($sub->{deadLetterPolicy}{deadLetterTopic}, "projects/$project/topics/orders-dead-letter",
	"setup_demo()'s subscription has its dead-letter policy at Google");

# ------------------------------------------------------------------ a pipeline end to end
# One worker: the launcher scales down by ending a worker with SIGTERM, and
# a pull it leaves held at Google's emulator still takes the next messages
# (back only after their ack deadline), which the 2 s check below is not
# about.
$node->safe_psql('postgres',
	"SELECT bqstream.create_pipeline('ref', 'gref', 'orders-pipeline', workers => 1, max_workers => 1, write_mode => 'insert_all')");
ok(wait_for('the worker', 20, sub { stat_of('workers') >= 1 }), 'the pipeline runs');

my $t0 = time();
my ($published, $failed, $malformed, $late) = split /\|/, $node->safe_psql('postgres',
	"SELECT published, failed, malformed, late FROM bqstream.publish_orders(20000, 'gref', seed => 11, "
	  . "malformed_fraction => 0.02, late_fraction => 0.05, progress_interval => 0)");
is("$published|$failed", '20000|0', 'publish_orders() publishes 20,000 orders to Google');
note(sprintf('published in %.1f s', time() - $t0));
my $valid = $published - $malformed;
ok(wait_for('every order stored', 180, sub { stat_of('inserted + dead_lettered') >= $published }),
	'the pipeline stores every message');
note(sprintf('stored in %.1f s', time() - $t0));
my ($rows, $distinct) = bq_counts();
is($rows, $valid, "every valid order is in BigQuery ($valid)");
is($distinct, $rows, 'and only once');
is($node->safe_psql('postgres', "SELECT count(*) FROM bqstream.dead_letters WHERE pipeline = 'ref'"),
	$malformed, "every malformed order is a dead letter ($malformed)");
is(stat_of('acked'), $published, 'every message acknowledged');
is(stat_of('late'), $late, "late events counted ($late)");
# nothing comes back: Google redelivers what is not acked within the deadline
sleep(2);
is(stat_of('received'), $published, 'no message delivered twice');

# ------------------------------------------------------------------ quiet longer than Google's hold
my $log_offset = -s $node->logfile;
my ($empty_before, $retries_before) = pulls_and_retries();
# BQSTREAM_REFERENCE_QUIET_SECONDS=300 for the long check of an idle pipeline
my $quiet = $ENV{BQSTREAM_REFERENCE_QUIET_SECONDS} // 95;
note("quiet for $quiet s: Google holds an empty pull for about 90 s");
sleep($quiet);
my $log = slurp_file($node->logfile, $log_offset);
unlike($log, qr/could not pull|while trying to pull/, 'no pull failed in the quiet period');
unlike($log, qr/ERROR|WARNING/, 'nothing worse than LOG in the log');
my ($empty_after, $retries_after) = pulls_and_retries();
cmp_ok($empty_after - $empty_before, '>=', 1, 'Google answered a held pull with no message');
is($retries_after - $retries_before, 0, 'no retry, no backoff');

$t0 = time();
$node->safe_psql('postgres', "SELECT published FROM bqstream.publish_orders(1, 'gref', seed => 12, progress_interval => 0)");
my $latency;
wait_for('the order after the quiet period', 30, sub {
		return 0 if (bq_counts())[0] <= $valid;
		$latency = time() - $t0;
		return 1;
	});
ok(defined $latency && $latency < 2,
	sprintf('an order published after the quiet period is in BigQuery within 2 s (%s s)',
		defined $latency ? sprintf('%.2f', $latency) : 'never'));
$valid += 1;

# ------------------------------------------------------------------ a restart of Google's emulator
my $worker = $node->safe_psql('postgres',
	"SELECT pid FROM bqstream.worker_stats WHERE pipeline = 'ref' AND pid IS NOT NULL");
stop_google();
start_google();
is(google('GET', 'topics/orders')->{error}{code}, 404, "Google's emulator kept nothing over its restart");
is($node->safe_psql('postgres', "SELECT string_agg(created::text, ',') FROM bqstream.setup_demo('gref')"),
	'true,true,true,true,false,false,false',
	'setup_demo() makes the topics and subscriptions again (the BigQuery side is there)');

# Google's emulator numbers messages from 1 again, where Pub/Sub's IDs are
# unique: an ID already in bqstream.dead_letters would be taken for a
# redelivery.  Move the numbering past the IDs used so far (a topic without
# subscriptions keeps nothing).
$node->safe_psql('postgres', "SELECT bqstream.create_topic('gref', 'ref-burn')");
note("Google's emulator numbers messages from "
	  . google('POST', 'topics/ref-burn:publish', { messages => [ { data => 'eA==' } ] })->{messageIds}[0]
	  . ' again after its restart');
$node->safe_psql('postgres',
	"SELECT published FROM bqstream.publish_orders(20100, 'gref', 'ref-burn', progress_interval => 0)");

my $dead_before = $node->safe_psql('postgres', "SELECT count(*) FROM bqstream.dead_letters");
($published, $failed, $malformed) = split /\|/, $node->safe_psql('postgres',
	"SELECT published, failed, malformed FROM bqstream.publish_orders(5000, 'gref', seed => 13, "
	  . "malformed_fraction => 0.02, progress_interval => 0)");
is("$published|$failed", '5000|0', 'orders published after the restart');
ok(wait_for('the orders after the restart', 90, sub { (bq_counts())[0] >= $valid + $published - $malformed }),
	'the pipeline takes them up');
sleep(2);
($rows, $distinct) = bq_counts();
is($rows, $valid + $published - $malformed, 'every valid order is in BigQuery once, before and after the restart');
is($distinct, $rows, 'no duplicate');
ok(wait_for('the dead letters', 10, sub {
			$node->safe_psql('postgres', "SELECT count(*) FROM bqstream.dead_letters") == $dead_before + $malformed;
		}),
	"the malformed ones are dead letters ($malformed)");
is($node->safe_psql('postgres',
		"SELECT pid FROM bqstream.worker_stats WHERE pipeline = 'ref' AND pid IS NOT NULL"),
	$worker, 'the same worker went on through the restart');

unlike(slurp_file($node->logfile), qr/PANIC|TRAP/, 'no PANIC in the log');
$node->stop;
done_testing();
