# Interruptibility: a query cancel or a backend termination ends a GCP call
# promptly, even while the service is slow; publish_orders() answers a
# cancel with the counts of what it published.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $pubsub = $ENV{BQSTREAM_TEST_PUBSUB_ENDPOINT};
plan skip_all => 'BQSTREAM_TEST_PUBSUB_ENDPOINT is not set (scripts/test.sh sets it)'
  unless $pubsub;

sub faults
{
	my ($json) = @_;
	my @cmd = ('curl', '-sf', '-o', '/dev/null', '-X', defined $json ? 'POST' : 'DELETE',
		"$pubsub/emulator/faults");
	push @cmd, '-d', $json if defined $json;
	system_or_bail(@cmd);
}

my $node = PostgreSQL::Test::Cluster->new('interrupts');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'bqstream'");
$node->start;
$node->safe_psql('postgres', qq{
	CREATE EXTENSION bqstream;
	CREATE SERVER emu FOREIGN DATA WRAPPER bqstream_fdw
	  OPTIONS (project_id 'interrupt-project', pubsub_endpoint '$pubsub');
	CREATE USER MAPPING FOR CURRENT_USER SERVER emu OPTIONS (auth 'none');
	SELECT bqstream.create_topic('emu', 'orders');
});

# Wait until the session runs a statement matching $pattern, return its pid.
sub wait_for_query
{
	my ($pattern) = @_;
	my $pid;
	for (1 .. 100)
	{
		$pid = $node->safe_psql('postgres',
			"SELECT pid FROM pg_stat_activity WHERE query LIKE '$pattern' AND pid <> pg_backend_pid()");
		return $pid if $pid ne '';
		select(undef, undef, undef, 0.05);
	}
	die "no query like $pattern";
}

# a slow service: a cancel ends the wait at once
faults('{"latency_ms":20000,"methods":["createTopic"]}');
my $session = $node->background_psql('postgres', on_error_stop => 0);
$session->query_until(qr/started/, "\\echo started\nSELECT bqstream.create_topic('emu', 'slow-topic');\n");
my $pid = wait_for_query('%slow-topic%');
select(undef, undef, undef, 0.3);
my $t0 = time();
$node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
my $stderr = '';
for (1 .. 100)
{
	last if $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE pid = $pid AND state = 'active'") eq '0';
	select(undef, undef, undef, 0.02);
}
my $elapsed = time() - $t0;
cmp_ok($elapsed, '<', 2, "a cancel ends a call to a slow service promptly ($elapsed s)");
is($session->query('SELECT 42'), '42', 'the session stays usable after the cancel');
$session->quit;

# a termination request too
$session = $node->background_psql('postgres', on_error_stop => 0);
$session->query_until(qr/started/, "\\echo started\nSELECT bqstream.create_topic('emu', 'slow-topic-2');\n");
$pid = wait_for_query('%slow-topic-2%');
select(undef, undef, undef, 0.3);
$t0 = time();
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
for (1 .. 100)
{
	last if $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE pid = $pid") eq '0';
	select(undef, undef, undef, 0.02);
}
$elapsed = time() - $t0;
cmp_ok($elapsed, '<', 2, "a termination ends a call to a slow service promptly ($elapsed s)");
eval { $session->quit };
faults(undef);

# publish_orders() until cancelled: Ctrl-C returns the counts
$session = $node->background_psql('postgres', on_error_stop => 0);
$session->query_until(qr/started/,
	"\\echo started\nSELECT published > 0 AND failed = 0 AND cancelled AS stopped_cleanly FROM bqstream.publish_orders(NULL, 'emu', rate => 500, progress_interval => 0);\n\\echo done\n");
$pid = wait_for_query('%publish_orders(NULL%');
select(undef, undef, undef, 1);
$t0 = time();
$node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
my $out = $session->query_until(qr/done/, '');
$elapsed = time() - $t0;
like($out, qr/^t$/m, 'a cancelled publish_orders() returns its counts');
cmp_ok($elapsed, '<', 2, "and stops promptly ($elapsed s)");
$session->quit;

# the server log holds no crash
unlike(slurp_file($node->logfile), qr/terminated by signal|PANIC/, 'no backend crashed');

$node->stop;
done_testing();
