# A batch stored in BigQuery but not acknowledged comes back, and must be
# stored again without a duplicate: its rows within BigQuery's insertId
# window of about a minute, its dead letters by their unique key.  The
# subscription here has a 60 s ack deadline, so only the worker's own short
# lease brings the batch back in time.
use strict;
use warnings;

use File::Temp qw(tempdir);
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

use FindBin;
use lib "$FindBin::RealBin/../perl";
use BqEmulator qw(http wait_for);

my $tmp = tempdir(CLEANUP => 1);
my $emu = BqEmulator->new(dir => $tmp);
my ($ps, $bq) = ($emu->{pubsub}, $emu->{bigquery});

my $node = PostgreSQL::Test::Cluster->new('leases');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'bqstream'
bqstream.launcher_naptime = 200
bqstream.http_max_retries = 2
});
$node->start;

$node->safe_psql('postgres', qq{
	CREATE EXTENSION bqstream;
	CREATE SERVER emu FOREIGN DATA WRAPPER bqstream_fdw
	  OPTIONS (project_id 'lease-project', dataset 'shop',
	           pubsub_endpoint 'http://127.0.0.1:$ps', bigquery_endpoint 'http://127.0.0.1:$bq');
	CREATE USER MAPPING FOR CURRENT_USER SERVER emu OPTIONS (auth 'none');
	SELECT count(*) FROM bqstream.setup_demo('emu');
	SELECT bqstream.create_subscription('emu', 'orders-slow', 'orders', ack_deadline_seconds => 60);
	SELECT bqstream.create_pipeline('p', 'emu', 'orders-slow', write_mode => 'insert_all');
});

sub stat_of
{
	my ($column) = @_;
	return $node->safe_psql('postgres',
		"SELECT $column FROM bqstream.pipeline_stats WHERE pipeline = 'p'");
}

ok(wait_for('the worker', 20, sub { stat_of('workers') >= 1 }), 'the worker runs');

# every attempt of the first acknowledge fails: the batch is stored, not acked
http('POST', "http://127.0.0.1:$ps/emulator/faults",
	'{"error_rate":1,"error_codes":[503],"methods":["acknowledge"],"count":3}');
my $start = time();
my ($published, $malformed) = split /\|/, $node->safe_psql('postgres',
	"SELECT published, malformed FROM bqstream.publish_orders(50, 'emu', seed => 8, "
	  . "malformed_fraction => 0.2, progress_interval => 0)");
cmp_ok($malformed, '>', 0, "some orders are malformed ($malformed)");

ok(wait_for('the acknowledgement', 90, sub { stat_of('acked') >= $published }),
	'the batch is acknowledged in the end');
my $elapsed = time() - $start;
cmp_ok($elapsed, '<', 40,
	sprintf('it came back after %.0f s, well inside the insertId window, not after the 60 s ack deadline', $elapsed));
cmp_ok(stat_of('received'), '>', $published, 'the batch was delivered again');

my $r = decode_json(http('POST', "http://127.0.0.1:$bq/bigquery/v2/projects/lease-project/queries",
		encode_json({ useLegacySql => JSON::PP::false,
			query => 'SELECT COUNT(*), COUNT(DISTINCT order_id) FROM shop.raw_orders' })));
my ($rows, $distinct) = map { $_->{v} } @{ $r->{rows}[0]{f} };
is($rows, $published - $malformed, 'every valid order is in BigQuery');
is($distinct, $rows, 'once');
is($node->safe_psql('postgres', 'SELECT count(*) FROM bqstream.dead_letters'),
	$malformed, 'every malformed order is one dead letter, though it was delivered twice');
# counters count deliveries, as BigQuery's de-duplication is invisible to the worker
cmp_ok(stat_of('dead_lettered'), '>', $malformed, 'the dead letters delivered twice are counted twice');

$node->stop;
done_testing();
