# Attacks of an ordinary role on credentials, endpoints and secrets, each
# tried for real: a capturing HTTP listener plays the attacker's server and
# also the host's metadata server and token endpoint (GCE_METADATA_HOST and
# GOOGLE_APPLICATION_CREDENTIALS of the postmaster point at it), so every
# request the backend makes there is on record.  A refusal counts only if
# nothing reached it.  The local emulator is the endpoint the DBA allowed
# with bqstream.allowed_endpoints.
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
use BqEmulator qw(capture_server);

my $tmp = tempdir(CLEANUP => 1);

# the attacker's listener
my ($cap, $capture_log) = capture_server($tmp);

sub captured
{
	return [ map { decode_json($_) } grep { /\S/ } split /\n/, slurp_file($capture_log) ];
}

sub clear_capture
{
	open(my $fh, '>', $capture_log) or die;
	close $fh;
}

my $emu = BqEmulator->new(dir => $tmp);
my ($ps, $bq) = ($emu->{pubsub}, $emu->{bigquery});

system_or_bail('openssl', 'genpkey', '-quiet', '-algorithm', 'RSA',
	'-pkeyopt', 'rsa_keygen_bits:2048', '-out', "$tmp/sa.pem");
my $pem = slurp_file("$tmp/sa.pem");

sub key_json
{
	my ($token_uri) = @_;
	my $key = JSON::PP->new->canonical->encode(
		{
			type => 'service_account',
			project_id => 'sec-project',
			private_key_id => 'k1',
			private_key => $pem,
			client_email => 'tenant@sec-project.iam.gserviceaccount.com',
			token_uri => $token_uri,
		});
	$key =~ s/'/''/g;
	return $key;
}

# the host's identity, as on a GCE machine: both ways lead to the listener
my $host_key = "$tmp/host-key.json";
my $host_key_json = decode_json(key_json("http://127.0.0.1:$cap/host-token") =~ s/''/'/gr);
$host_key_json->{quota_project_id} = 'sec-billing';
PostgreSQL::Test::Utils::append_to_file($host_key, encode_json($host_key_json));
chmod 0600, $host_key;
$ENV{GOOGLE_APPLICATION_CREDENTIALS} = $host_key;
$ENV{GCE_METADATA_HOST} = "127.0.0.1:$cap";
delete $ENV{PUBSUB_EMULATOR_HOST};
delete $ENV{BIGQUERY_EMULATOR_HOST};

my $node = PostgreSQL::Test::Cluster->new('security');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'bqstream'
bqstream.allowed_endpoints = 'http://127.0.0.1:$ps, http://127.0.0.1:$bq'
});
$node->start;

my $allowed = "pubsub_endpoint 'http://127.0.0.1:$ps', bigquery_endpoint 'http://127.0.0.1:$bq'";
$node->safe_psql('postgres', qq{
	CREATE EXTENSION bqstream;
	CREATE ROLE tenant LOGIN;
	CREATE ROLE trusted LOGIN IN ROLE bqstream_host_identity;
	GRANT USAGE ON FOREIGN DATA WRAPPER bqstream_fdw TO tenant, trusted;
	CREATE SERVER shared FOREIGN DATA WRAPPER bqstream_fdw
	  OPTIONS (project_id 'sec-project', dataset 'secds', $allowed);
	GRANT USAGE ON FOREIGN SERVER shared TO tenant, trusted;
});

# run SQL as a role; returns (stdout, stderr)
sub as_role
{
	my ($role, $sql) = @_;
	my ($rc, $out, $err) = $node->psql('postgres', $sql,
		extra_params => [ '-U', $role, '-v', 'VERBOSITY=verbose' ]);
	return ($out, $err);
}

# ---------------------------------------------------------------- 1. the host's identity
clear_capture();
my ($out, $err) = as_role('tenant', q{
	CREATE USER MAPPING FOR CURRENT_USER SERVER shared;
	SELECT bqstream.create_topic('shared', 'stolen-adc');
});
like($err, qr/42501: permission denied to use the database host's GCP credentials/,
	'a mapping without options (ADC) is refused to an ordinary role');
like($err, qr/HINT:.*credentials_json/, 'the refusal says what to do instead');
for my $mode ('metadata', 'adc')
{
	($out, $err) = as_role('tenant', qq{
		ALTER USER MAPPING FOR CURRENT_USER SERVER shared OPTIONS (auth '$mode');
		SELECT bqstream.create_topic('shared', 'stolen-$mode');
	});
	like($err, qr/permission denied to use the database host's GCP credentials/,
		"auth '$mode' is refused to an ordinary role");
	as_role('tenant', "ALTER USER MAPPING FOR CURRENT_USER SERVER shared OPTIONS (DROP auth)");
}
as_role('tenant', 'DROP USER MAPPING FOR CURRENT_USER SERVER shared');

# an admin's PUBLIC mapping without options lends nothing either
$node->safe_psql('postgres', 'CREATE USER MAPPING FOR PUBLIC SERVER shared');
($out, $err) = as_role('tenant', "SELECT bqstream.create_topic('shared', 'stolen-public')");
like($err, qr/permission denied to use the database host's GCP credentials/,
	'a PUBLIC mapping without options is refused to an ordinary role');
# a foreign scan is refused the same way
$node->safe_psql('postgres', q{
	CREATE FOREIGN TABLE public_scan (x bigint) SERVER shared OPTIONS ("table" 'nothing');
	GRANT SELECT ON public_scan TO tenant;
});
($out, $err) = as_role('tenant', 'SELECT * FROM public_scan');
like($err, qr/permission denied to use the database host's GCP credentials/,
	'a foreign scan with the host identity is refused to an ordinary role');
is_deeply(captured(), [], 'nothing reached the metadata server or the host token endpoint');

# a member of bqstream_host_identity may use it: the host's token endpoint is asked
($out, $err) = as_role('trusted', "SELECT bqstream.create_topic('shared', 'by-trusted')");
is($out, 't', 'a member of bqstream_host_identity uses the host identity');
my @requests = @{ captured() };
is(scalar(@requests), 1, 'one token request for the trusted role');
is($requests[0]{path}, '/host-token', 'at the token endpoint of the host key');
is($node->safe_psql('postgres', "SELECT bqstream.create_topic('shared', 'by-superuser')"),
	't', 'a superuser uses the host identity');
$node->safe_psql('postgres', 'DROP USER MAPPING FOR PUBLIC SERVER shared');

# ---------------------------------------------------------------- 2. token_uri
clear_capture();
my $ssrf_key = key_json("http://127.0.0.1:$cap/internal/admin?delete=all");
($out, $err) = as_role('tenant', qq{
	CREATE USER MAPPING FOR CURRENT_USER SERVER shared OPTIONS (credentials_json '$ssrf_key');
});
like($err, qr/42501: permission denied to use the token_uri of this key/,
	'an ordinary role cannot store a key whose token_uri is its own');
# the same key put there by a superuser is still not used by the tenant
$node->safe_psql('postgres', qq{
	SET log_statement = 'none';
	CREATE USER MAPPING FOR tenant SERVER shared OPTIONS (credentials_json '$ssrf_key');
});
($out, $err) = as_role('tenant', "SELECT bqstream.create_topic('shared', 'ssrf')");
like($err, qr/permission denied to use the token_uri of service account/,
	'a stored key with a foreign token_uri is refused at use');
is_deeply(captured(), [], 'no JWT and no request reached the token_uri');
my $google_key = key_json('https://oauth2.googleapis.com/token');
($out, $err) = as_role('tenant', qq{
	ALTER USER MAPPING FOR CURRENT_USER SERVER shared OPTIONS (SET credentials_json '$google_key');
});
is($err, '', "an ordinary role may store a key whose token_uri is Google's");
$node->safe_psql('postgres', 'DROP USER MAPPING FOR tenant SERVER shared');

# ---------------------------------------------------------------- 3. endpoints
clear_capture();
for my $evil ("http://127.0.0.1:$cap", "http://127.0.0.1:${ps}0",
	"http://127.0.0.1:$ps\@127.0.0.1:$cap", "http://127.0.0.1:$ps.attacker.example",
	'http://pubsub.googleapis.com', 'https://pubsub.googleapis.com.attacker.example')
{
	($out, $err) = as_role('tenant', qq{
		CREATE SERVER evil FOREIGN DATA WRAPPER bqstream_fdw
		  OPTIONS (project_id 'sec-project', pubsub_endpoint '$evil');
	});
	# user info in a URL is refused for everyone, the rest for ordinary roles
	like($err, qr/42501: permission denied to use "\Q$evil\E" as pubsub_endpoint|22023: invalid value for option "pubsub_endpoint": "\Q$evil\E"/,
		"an ordinary role cannot point a server at $evil");
}
($out, $err) = as_role('tenant', qq{
	CREATE SERVER mine FOREIGN DATA WRAPPER bqstream_fdw
	  OPTIONS (project_id 'sec-project', pubsub_endpoint 'http://127.0.0.1:$ps/',
	           bigquery_endpoint 'https://bigquery.googleapis.com');
	CREATE USER MAPPING FOR CURRENT_USER SERVER mine OPTIONS (auth 'none');
	SELECT bqstream.create_topic('mine', 'tenant-topic');
});
is($out, 't', "an allowed endpoint and Google's are fine for an ordinary role");
($out, $err) = as_role('tenant', qq{
	ALTER SERVER mine OPTIONS (SET bigquery_endpoint 'http://127.0.0.1:$cap');
});
like($err, qr/permission denied to use/, 'nor can it repoint its server later');

# the Storage APIs' endpoint (gRPC) follows the same rule
for my $evil ("http://127.0.0.1:$cap", 'https://bigquerystorage.googleapis.com.attacker.example')
{
	($out, $err) = as_role('tenant', qq{
		CREATE SERVER evil_storage FOREIGN DATA WRAPPER bqstream_fdw
		  OPTIONS (project_id 'sec-project', bigquery_storage_endpoint '$evil');
	});
	like($err, qr/42501: permission denied to use "\Q$evil\E" as bigquery_storage_endpoint/,
		"an ordinary role cannot point bigquery_storage_endpoint at $evil");
}
($out, $err) = as_role('tenant', qq{
	ALTER SERVER mine OPTIONS (ADD bigquery_storage_endpoint 'https://bigquerystorage.googleapis.com');
	ALTER SERVER mine OPTIONS (SET bigquery_storage_endpoint 'http://127.0.0.1:$cap');
});
like($err, qr/42501: permission denied to use "http:\/\/127.0.0.1:$cap" as bigquery_storage_endpoint/,
	"Google's Storage endpoint is fine for an ordinary role, repointing it is not");
$node->safe_psql('postgres', qq{
	CREATE SERVER given_storage FOREIGN DATA WRAPPER bqstream_fdw
	  OPTIONS (project_id 'sec-project', pubsub_endpoint 'http://127.0.0.1:$ps',
	           bigquery_storage_endpoint 'http://127.0.0.1:$cap');
	ALTER SERVER given_storage OWNER TO tenant;
	CREATE USER MAPPING FOR tenant SERVER given_storage OPTIONS (auth 'none');
});
($out, $err) = as_role('tenant', "SELECT bqstream.create_topic('given_storage', 'probe-storage')");
like($err, qr/permission denied to use "http:\/\/127.0.0.1:$cap" as bigquery_storage_endpoint/,
	'a Storage endpoint is checked at use against the server owner too');

($out, $err) = as_role('tenant', "SET bqstream.allowed_endpoints = 'http://127.0.0.1:$cap'");
like($err, qr/permission denied to set parameter "bqstream.allowed_endpoints"/,
	'bqstream.allowed_endpoints is for superusers');

# a server a superuser pointed anywhere, then gave to the tenant
$node->safe_psql('postgres', qq{
	CREATE SERVER given FOREIGN DATA WRAPPER bqstream_fdw
	  OPTIONS (project_id 'sec-project', pubsub_endpoint 'http://127.0.0.1:$cap');
	ALTER SERVER given OWNER TO tenant;
	GRANT USAGE ON FOREIGN SERVER given TO trusted;
	CREATE USER MAPPING FOR trusted SERVER given;
	CREATE USER MAPPING FOR tenant SERVER given OPTIONS (auth 'none');
});
($out, $err) = as_role('tenant', "SELECT bqstream.create_topic('given', 'probe')");
like($err, qr/permission denied to use "http:\/\/127.0.0.1:$cap" as pubsub_endpoint/,
	'an endpoint is checked at use against the server owner');
($out, $err) = as_role('trusted', "SELECT bqstream.create_topic('given', 'host-token')");
like($err, qr/permission denied to use "http:\/\/127.0.0.1:$cap" as pubsub_endpoint/,
	"the host's token never goes where an ordinary role chose the endpoint");
is_deeply(captured(), [], 'nothing reached the endpoints an ordinary role chose');

# the quota project of an ADC file is billed for the calls (x-goog-user-project)
clear_capture();
$node->safe_psql('postgres', qq{
	CREATE SERVER billing FOREIGN DATA WRAPPER bqstream_fdw
	  OPTIONS (project_id 'sec-project', pubsub_endpoint 'http://127.0.0.1:$cap');
	CREATE USER MAPPING FOR CURRENT_USER SERVER billing;
	SELECT bqstream.create_topic('billing', 'billed');
});
@requests = @{ captured() };
is_deeply([ map { $_->{path} } @requests ], [ '/host-token', '/v1/projects/sec-project/topics/billed' ],
	'a superuser may point the host identity anywhere');
is($requests[1]{headers}{'x-goog-user-project'}, 'sec-billing',
	"the ADC file's quota_project_id goes in x-goog-user-project");

# ---------------------------------------------------------------- 8. secrets in logs
my ($key_body) = $pem =~ /-----\n(.{40})/s;
my $log_key = key_json("http://127.0.0.1:$bq/token");
my $log_offset = -s $node->logfile;
$node->psql('postgres', qq{
	DO \$\$ BEGIN
	  EXECUTE 'CREATE USER MAPPING FOR tenant SERVER no_such_server OPTIONS (credentials_json '
	          || quote_literal('$log_key') || ')';
	END \$\$;
});
$node->psql('postgres', qq{
	CREATE FUNCTION add_key(k text) RETURNS void LANGUAGE plpgsql AS \$\$
	BEGIN
	  EXECUTE format('CREATE USER MAPPING FOR trusted SERVER shared OPTIONS (credentials_json %L)', k);
	END \$\$;
	SELECT add_key('$log_key');
	SELECT add_key('$log_key');
});
$node->psql('postgres', qq{
	DO \$\$ BEGIN
	  EXECUTE 'CREATE USER MAPPING FOR tenant SERVER shared OPTION (credentials_json '
	          || quote_literal('$log_key') || ')';
	END \$\$;
});
$node->psql('postgres', qq{
	SET log_statement = 'all';
	ALTER USER MAPPING FOR trusted SERVER shared OPTIONS (SET credentials_json '$log_key');
	SELECT '$log_key'::json->>'nothing';
	SELECT '{"credential_source": {"headers": {"Authorization": "Bearer header-secret-4711"}}}'::json;
});
my $log = substr(slurp_file($node->logfile), $log_offset);
like($log, qr/mapping for user "tenant" already exists|server "no_such_server" does not exist/,
	'the failing statements were logged');
like($log, qr/syntax error/, 'the statement with a syntax error was logged');
unlike($log, qr/\Q$key_body\E/, 'no private key in the log: DO, EXECUTE, functions, syntax errors, log_statement');
unlike($log, qr/BEGIN PRIVATE KEY/, 'not even its PEM header');
unlike($log, qr/header-secret-4711/, "nor a credential source's Authorization header");
like($log, qr/statement: ALTER USER MAPPING .*"private_key":"\[redacted\]/,
	'log_statement shows the statement with the key cut out');

# ---------------------------------------------------------------- 9. checkAsUser
$node->safe_psql('postgres', qq{
	CREATE ROLE viewowner LOGIN;
	CREATE ROLE reader LOGIN;
	GRANT USAGE ON FOREIGN SERVER shared TO viewowner;
	GRANT CREATE ON SCHEMA public TO viewowner;
	CREATE USER MAPPING FOR viewowner SERVER shared OPTIONS (auth 'none');
	CREATE USER MAPPING FOR postgres SERVER shared OPTIONS (auth 'none');
	SELECT bqstream.create_dataset('shared');
	SELECT bqstream.create_raw_orders_table('shared');
});
($out, $err) = as_role('viewowner', q{
	CREATE FOREIGN TABLE orders_ft (order_id text, user_id text, product_id text,
	                                amount numeric, event_time timestamptz)
	  SERVER shared OPTIONS ("table" 'raw_orders');
	INSERT INTO orders_ft VALUES ('o-1', 'u-1', 'p-1', 9.5, '2026-12-01 10:00+00');
	CREATE VIEW orders_v AS SELECT * FROM orders_ft;
	GRANT SELECT, INSERT ON orders_v TO reader;
	GRANT SELECT ON orders_ft TO reader;
});
is($err, '', 'the view owner made a foreign table and a view over it');
($out, $err) = as_role('reader', "SELECT order_id, amount FROM orders_v WHERE order_id = 'o-1'");
is($out, 'o-1|9.5', "a view reads with its owner's mapping, the reader needs no USAGE nor mapping");
($out, $err) = as_role('reader',
	"INSERT INTO orders_v VALUES ('o-2', 'u-2', 'p-2', 1, '2026-12-01 10:01+00')");
is($err, '', "an insert through the view uses the view owner's mapping");
($out, $err) = as_role('reader', 'SELECT count(*) FROM orders_ft');
like($err, qr/user mapping not found for user "reader"/,
	"reading the table itself uses the reader's own mapping");
($out, $err) = as_role('reader', 'PREPARE q AS SELECT count(*) FROM orders_v; EXECUTE q; EXECUTE q');
is($out, "2\n2", 'a prepared statement over the view keeps the owner');

$node->stop;
done_testing();
