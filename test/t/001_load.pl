# Loading bqstream: preloaded through shared_preload_libraries, and on demand
# by CREATE EXTENSION in a server that did not preload it.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $preloaded = PostgreSQL::Test::Cluster->new('preloaded');
$preloaded->init;
$preloaded->append_conf('postgresql.conf', "shared_preload_libraries = 'bqstream'");
$preloaded->start;

$preloaded->safe_psql('postgres', 'CREATE EXTENSION bqstream');
like(
	$preloaded->safe_psql('postgres', 'SELECT bqstream.version()'),
	qr/^bqstream \d+\.\d+\.\d+ \(libcurl [\d.]+, jansson [\d.]+, OpenSSL \d/,
	'version() names the extension and its libraries when preloaded');
is($preloaded->safe_psql('postgres', 'SELECT count(*) FROM bqstream.library_versions()'),
	'4', 'library_versions() reports four components');

# a restart with the library preloaded keeps working (no state left behind)
$preloaded->restart;
is($preloaded->safe_psql('postgres', "SELECT split_part(bqstream.version(), ' ', 1)"),
	'bqstream', 'extension works after a restart');
$preloaded->stop;

my $plain = PostgreSQL::Test::Cluster->new('plain');
$plain->init;
$plain->start;
$plain->safe_psql('postgres', 'CREATE EXTENSION bqstream');
like(
	$plain->safe_psql('postgres', 'SELECT bqstream.version()'),
	qr/^bqstream /,
	'CREATE EXTENSION works without shared_preload_libraries');
$plain->safe_psql('postgres', 'DROP EXTENSION bqstream');
is($plain->safe_psql('postgres',
		"SELECT count(*) FROM pg_namespace WHERE nspname = 'bqstream'"),
	'0', 'DROP EXTENSION removes the bqstream schema');
$plain->stop;

done_testing();
