# The standard emulator variables: with PUBSUB_EMULATOR_HOST and
# BIGQUERY_EMULATOR_HOST in the server's environment, a server without
# endpoint options talks to the emulators, without credentials, as Google's
# client libraries do.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $pubsub = $ENV{BQSTREAM_TEST_PUBSUB_ENDPOINT};
my $bigquery = $ENV{BQSTREAM_TEST_BIGQUERY_ENDPOINT};
plan skip_all => 'the test emulator endpoints are not set (scripts/test.sh sets them)'
  unless $pubsub && $bigquery;

($ENV{PUBSUB_EMULATOR_HOST} = $pubsub) =~ s{^http://}{};
($ENV{BIGQUERY_EMULATOR_HOST} = $bigquery) =~ s{^http://}{};

my $node = PostgreSQL::Test::Cluster->new('emulator_env');
$node->init;
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION bqstream;
	CREATE SERVER gcp FOREIGN DATA WRAPPER bqstream_fdw
	  OPTIONS (project_id 'env-project', dataset 'env_shop');
});

is($node->safe_psql('postgres', "SELECT count(*) FILTER (WHERE created) FROM bqstream.setup_demo('gcp')"),
	'7', 'setup_demo() reaches both emulators with no endpoint option and no user mapping');
is($node->safe_psql('postgres',
		"SELECT published FROM bqstream.publish_orders(100, 'gcp', seed => 3)"),
	'100', 'publish_orders() too');

# an endpoint option wins over the variable, and then the credential matters
$node->safe_psql('postgres',
	"ALTER SERVER gcp OPTIONS (ADD pubsub_endpoint 'http://127.0.0.1:1')");
my ($rc, $out, $err) = $node->psql('postgres', "SELECT bqstream.create_topic('gcp', 'x-topic')");
like($err, qr/user mapping not found/, 'an explicit endpoint needs a user mapping');

$node->stop;
done_testing();
