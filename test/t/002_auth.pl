# Authentication end to end against the emulator in auth mode: its token
# endpoint verifies the RS256 JWT that bqstream signs with a service-account
# key, and its APIs then require the Bearer token. Also the metadata server,
# Application Default Credentials, and that key material never shows.
use strict;
use warnings;

use File::Temp qw(tempdir);
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

use FindBin;
use lib "$FindBin::RealBin/../perl";
use BqEmulator;

my $tmp = tempdir(CLEANUP => 1);

sub make_key
{
	my ($name) = @_;
	system_or_bail('openssl', 'genpkey', '-quiet', '-algorithm', 'RSA',
		'-pkeyopt', 'rsa_keygen_bits:2048', '-out', "$tmp/$name.pem");
	system_or_bail('openssl', 'pkey', '-in', "$tmp/$name.pem", '-pubout',
		'-out', "$tmp/$name.pub.pem");
	return slurp_file("$tmp/$name.pem");
}

my $key = make_key('sa');
my $other_key = make_key('other');

# the emulator, in auth mode, on free ports
my $emu = BqEmulator->new(dir => $tmp, args => [ '--auth-public-key', "$tmp/sa.pub.pem" ]);
my ($ps, $bq) = ($emu->{pubsub}, $emu->{bigquery});

sub key_json
{
	my ($pem, $token_port) = @_;
	return JSON::PP->new->canonical->encode(
		{
			type => 'service_account',
			project_id => 'auth-project',
			private_key_id => 'k1',
			private_key => $pem,
			client_email => 'bqstream@auth-project.iam.gserviceaccount.com',
			token_uri => "http://127.0.0.1:$token_port/token",
		});
}

my $good = key_json($key, $ps);
my $wrong = key_json($other_key, $ps);
(my $quoted_good = $good) =~ s/'/''/g;
(my $quoted_wrong = $wrong) =~ s/'/''/g;
my $key_file = "$tmp/key.json";
PostgreSQL::Test::Utils::append_to_file($key_file, $good);
chmod 0600, $key_file;

# The server process finds ADC and the metadata server through its
# environment, as it would on a GCE machine.
$ENV{GOOGLE_APPLICATION_CREDENTIALS} = $key_file;
$ENV{GCE_METADATA_HOST} = "127.0.0.1:$ps";

my $node = PostgreSQL::Test::Cluster->new('auth');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'bqstream'");
$node->start;

my $server_opts =
  "project_id 'auth-project', dataset 'authds', pubsub_endpoint 'http://127.0.0.1:$ps', "
  . "bigquery_endpoint 'http://127.0.0.1:$bq'";
# Statement logging would record the key like any other statement text, as
# it does postgres_fdw passwords: keep it off while keys are written.
$node->safe_psql('postgres', qq{
	SET log_statement = 'none';
	CREATE EXTENSION bqstream;
	CREATE SERVER key_inline FOREIGN DATA WRAPPER bqstream_fdw OPTIONS ($server_opts);
	CREATE USER MAPPING FOR CURRENT_USER SERVER key_inline OPTIONS (credentials_json '$quoted_good');
	CREATE SERVER key_file FOREIGN DATA WRAPPER bqstream_fdw OPTIONS ($server_opts);
	CREATE USER MAPPING FOR CURRENT_USER SERVER key_file OPTIONS (credentials_file '$key_file');
	CREATE SERVER adc FOREIGN DATA WRAPPER bqstream_fdw OPTIONS ($server_opts);
	CREATE USER MAPPING FOR CURRENT_USER SERVER adc OPTIONS (auth 'adc');
	CREATE SERVER metadata FOREIGN DATA WRAPPER bqstream_fdw OPTIONS ($server_opts);
	CREATE USER MAPPING FOR CURRENT_USER SERVER metadata OPTIONS (auth 'metadata');
	CREATE SERVER no_auth FOREIGN DATA WRAPPER bqstream_fdw OPTIONS ($server_opts);
	CREATE USER MAPPING FOR CURRENT_USER SERVER no_auth OPTIONS (auth 'none');
	CREATE SERVER wrong_key FOREIGN DATA WRAPPER bqstream_fdw OPTIONS ($server_opts);
	CREATE USER MAPPING FOR CURRENT_USER SERVER wrong_key OPTIONS (credentials_json '$quoted_wrong');
});

# an inline key: both services accept the token it earns
is( $node->safe_psql('postgres',
		"SELECT string_agg(object_type || ':' || created, ',') FROM bqstream.setup_demo('key_inline')"),
	'topic:true,topic:true,subscription:true,subscription:true,dataset:true,table:true,materialized view:true',
	'setup_demo() with an inline service-account key creates everything');
is( $node->safe_psql('postgres',
		"SELECT published || '/' || failed FROM bqstream.publish_orders(500, 'key_inline', seed => 1)"),
	'500/0', 'publish_orders() with an inline key');

# the token is cached: many calls in one session, one token request
is( $node->safe_psql('postgres', q{
		SELECT bool_and(bqstream.create_topic('key_inline', 'cached-' || i))
		  FROM generate_series(1, 5) i}),
	't', 'repeated calls in one session reuse the token');

is($node->safe_psql('postgres', "SELECT bqstream.create_topic('key_file', 'from-file')"),
	't', 'a key file on the server works');
is($node->safe_psql('postgres', "SELECT bqstream.create_topic('adc', 'from-adc')"),
	't', 'ADC finds GOOGLE_APPLICATION_CREDENTIALS');
is($node->safe_psql('postgres', "SELECT bqstream.create_topic('metadata', 'from-metadata')"),
	't', 'the metadata server (GCE_METADATA_HOST) gives a token');

# no credential: Google's 401, as an authorization error
my ($rc, $out, $err) = $node->psql('postgres',
	"SELECT bqstream.create_topic('no_auth', 'anonymous')",
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/ERROR:  28000: /, 'no token: SQLSTATE 28000');
like($err, qr/CONTEXT:  while trying to create topic "anonymous"/, 'no token: what was tried in the context');
like($err, qr/HTTP 401 UNAUTHENTICATED/, 'no token: Google status in the detail');

# a key the token endpoint does not trust
($rc, $out, $err) = $node->psql('postgres',
	"SELECT bqstream.create_topic('wrong_key', 'untrusted')");
like($err, qr/Invalid JWT Signature/, 'a wrong key is refused by the token endpoint');

# a broken key is reported without quoting it
my $broken = key_json("-----BEGIN PRIVATE KEY-----\nTOPSECRETMATERIAL\n-----END PRIVATE KEY-----\n", $ps);
$broken =~ s/'/''/g;
($rc, $out, $err) = $node->psql('postgres', qq{
	SET log_statement = 'none';
	CREATE SERVER broken FOREIGN DATA WRAPPER bqstream_fdw OPTIONS ($server_opts);
	CREATE USER MAPPING FOR CURRENT_USER SERVER broken OPTIONS (credentials_json '$broken');
	SELECT bqstream.create_topic('broken', 'never');
});
isnt($rc, 0, 'an unreadable private key fails');
unlike($err, qr/TOPSECRETMATERIAL/, 'the error does not quote the key');

# key material appears in no log line
my $log = slurp_file($node->logfile);
my ($key_body) = $key =~ /-----\n(.{40})/s;
unlike($log, qr/\Q$key_body\E/, 'the private key is not in the server log');
unlike($log, qr/TOPSECRETMATERIAL/, 'the broken key is not in the server log');
unlike($log, qr/ya29\.emulator-/, 'no access token in the server log');

# other users cannot read a mapping's credential
$node->safe_psql('postgres', q{
	CREATE ROLE mallory LOGIN;
	GRANT USAGE ON FOREIGN SERVER key_inline TO mallory;
});
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_user_mappings WHERE umoptions IS NOT NULL AND srvname = 'key_inline'",
		extra_params => [ '-U', 'mallory' ]),
	'0', 'another user sees no options of the mapping');

# A server that answers the metadata path without "Metadata-Flavor: Google" is
# not the metadata server (a proxy, a host a search domain found): nothing it
# answers is taken as a token, and for ADC there is no metadata server at all.
my $fake_pid = fork();
if ($fake_pid == 0)
{
	exec('/usr/bin/python3', "$FindBin::RealBin/../perl/capture_server.py",
		"$tmp/fake.port", "$tmp/fake.jsonl", '--no-metadata-flavor')
	  or die "cannot start the fake metadata server: $!";
}
END { kill 'KILL', $fake_pid if $fake_pid; }
for (1 .. 100)
{
	last if -s "$tmp/fake.port";
	usleep(100_000);
}
my $fake = slurp_file("$tmp/fake.port");

$node->stop;
$ENV{GCE_METADATA_HOST} = "127.0.0.1:$fake";
delete $ENV{GOOGLE_APPLICATION_CREDENTIALS};
$ENV{CLOUDSDK_CONFIG} = "$tmp/no-gcloud";
$node->start;

($rc, $out, $err) = $node->psql('postgres',
	"SELECT bqstream.create_topic('metadata', 'from-impostor')",
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/08P01: could not obtain an access token for the metadata server's service account/,
	'a metadata answer without Metadata-Flavor: Google is refused');
like($err, qr/answered HTTP 200 without the header "Metadata-Flavor: Google", so it is not a metadata server/,
	'the detail says why');
like(slurp_file("$tmp/fake.jsonl"), qr/"Metadata-Flavor": "Google"/,
	'the request asked with Metadata-Flavor: Google');

($rc, $out, $err) = $node->psql('postgres',
	"SELECT bqstream.create_topic('adc', 'from-impostor')");
like($err, qr/could not find Application Default Credentials/,
	'ADC: a server without Metadata-Flavor: Google is no metadata server');
like($err, qr/without the header "Metadata-Flavor: Google", so no metadata server is there/,
	'ADC: the detail says why');

$node->stop;
done_testing();
