# Scale-out as users do it: two PostgreSQL instances run a pipeline each on
# the same subscription, and Pub/Sub shares the messages between them.
# Every order lands in BigQuery once, every malformed one is a dead letter
# on exactly one of the two instances.
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
my $project = 'scale-project';

my @nodes;
push @nodes, pipeline_node($_, $project, "http://127.0.0.1:$ps", "http://127.0.0.1:$bq")
  for ('east', 'west');
my ($east, $west) = @nodes;

# one instance makes the resources (setup_demo() is idempotent: the other may run it too)
$east->safe_psql('postgres', "SELECT count(*) FROM bqstream.setup_demo('emu')");
$west->safe_psql('postgres', "SELECT count(*) FROM bqstream.setup_demo('emu')");
for my $node (@nodes)
{
	$node->safe_psql('postgres',
		"SELECT bqstream.create_pipeline('orders', 'emu', 'orders-pipeline', batch_size => 100, write_mode => 'insert_all')");
}

sub stat_of
{
	my ($node, $column) = @_;
	return $node->safe_psql('postgres',
		"SELECT $column FROM bqstream.pipeline_stats WHERE pipeline = 'orders'");
}

sub bq_counts
{
	my $r = decode_json(http('POST', "http://127.0.0.1:$bq/bigquery/v2/projects/$project/queries",
			encode_json({ useLegacySql => JSON::PP::false,
				query => 'SELECT COUNT(*), COUNT(DISTINCT order_id) FROM shop.raw_orders' })));
	return map { $_->{v} } @{ $r->{rows}[0]{f} };
}

ok(wait_for('both workers', 20, sub { stat_of($east, 'workers') >= 1 && stat_of($west, 'workers') >= 1 }),
	'both instances run a worker on the subscription');

# published in several calls from both instances, so that both workers find messages
my ($published, $malformed) = (0, 0);
for my $i (1 .. 6)
{
	my $node = $nodes[ $i % 2 ];
	my ($p, $m) = split /\|/, $node->safe_psql('postgres',
		"SELECT published, malformed FROM bqstream.publish_orders(500, 'emu', seed => $i, "
		  . "malformed_fraction => 0.05, progress_interval => 0)");
	$published += $p;
	$malformed += $m;
}
is($published, 3000, '3000 orders published');

ok(wait_for('every order', 90, sub { stat_of($east, 'acked') + stat_of($west, 'acked') >= $published }),
	'every order is acknowledged by one instance or the other');
my ($east_acked, $west_acked) = (stat_of($east, 'acked'), stat_of($west, 'acked'));
cmp_ok($east_acked, '>', 0, "the first instance took its share ($east_acked)");
cmp_ok($west_acked, '>', 0, "the second instance took its share ($west_acked)");

my ($rows, $distinct) = bq_counts();
is($rows, $published - $malformed, 'every valid order is in BigQuery');
is($distinct, $rows, 'once');
my $dead = $east->safe_psql('postgres', 'SELECT count(*) FROM bqstream.dead_letters')
  + $west->safe_psql('postgres', 'SELECT count(*) FROM bqstream.dead_letters');
is($dead, $malformed, 'every malformed order is a dead letter on one instance');

# nothing is left on the subscription
my $left = decode_json(http('POST',
		"http://127.0.0.1:$ps/v1/projects/$project/subscriptions/orders-pipeline:pull",
		'{"maxMessages":10,"returnImmediately":true}'));
is(scalar @{ $left->{receivedMessages} || [] }, 0, 'the subscription is drained');

$_->stop for @nodes;
done_testing();
