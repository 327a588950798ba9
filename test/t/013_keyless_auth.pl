# Keyless credentials end to end against the emulator in auth mode:
# external accounts (workload identity federation: a subject token read from
# a file or a URL, in text or JSON, exchanged at the emulated STS, with and
# without service-account impersonation) and impersonated service accounts
# (from gcloud user credentials and from a service-account key), through
# credentials_json and through Application Default Credentials.  Then the
# failures (a wrong subject token, a refused impersonation) and the rules for
# roles other than superusers (untrusted URLs, a file on the server,
# programs, AWS), with a capturing listener to show that nothing reached an
# untrusted URL; and no token of any kind in the server log.
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
use BqEmulator qw(http capture_server);

my $tmp = tempdir(CLEANUP => 1);

my $subject = 'eyJhbGciOiJSUzI1NiJ9.keyless-subject-token-7f3a9c1e.c2lnbmF0dXJl';
my $forged = 'eyJhbGciOiJSUzI1NiJ9.forged-subject-token-0d8b2e4f.c2lnbmF0dXJl';
my $refresh = '1//keyless-refresh-token-5b7d9f1a';
my $client_secret = 'keyless-client-secret-3c5e7a9b';
my $audience =
  '//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/ci/providers/emu';
my $target = 'loader@keyless-project.iam.gserviceaccount.com';
my $refused = 'stranger@keyless-project.iam.gserviceaccount.com';

system_or_bail('openssl', 'genpkey', '-quiet', '-algorithm', 'RSA',
	'-pkeyopt', 'rsa_keygen_bits:2048', '-out', "$tmp/sa.pem");
system_or_bail('openssl', 'pkey', '-in', "$tmp/sa.pem", '-pubout', '-out', "$tmp/sa.pub.pem");
my $pem = slurp_file("$tmp/sa.pem");

my $emu = BqEmulator->new(
	dir => $tmp,
	args => [
		'--auth-public-key', "$tmp/sa.pub.pem", '--auth-subject-token', $subject,
		'--auth-audience', $audience, '--auth-impersonable', $target,
		'--auth-refresh-token', $refresh
	]);
my ($ps, $bq) = ($emu->{pubsub}, $emu->{bigquery});
my $emu_url = "http://127.0.0.1:$ps";

# an untrusted listener: what an ordinary role must not make the backend call
my ($cap, $capture_log) = capture_server($tmp);
my $evil = "http://127.0.0.1:$cap";

sub captured
{
	return [ grep { /\S/ } split /\n/, slurp_file($capture_log) ];
}

# subject token files, as an identity provider leaves them
PostgreSQL::Test::Utils::append_to_file("$tmp/subject.txt", "$subject\n");
PostgreSQL::Test::Utils::append_to_file("$tmp/subject.json",
	encode_json({ id_token => $subject, expires_in => 3600 }));
PostgreSQL::Test::Utils::append_to_file("$tmp/forged.txt", $forged);

my %source = (
	file_text => { file => "$tmp/subject.txt" },
	file_json => {
		file => "$tmp/subject.json",
		format => { type => 'json', subject_token_field_name => 'id_token' }
	},
	url_json => {
		url => "$emu_url/metadata/identity/oauth2/token?api-version=2018-02-01&resource=api://bq",
		headers => { Metadata => 'True' },
		format => { type => 'json', subject_token_field_name => 'access_token' }
	},
	url_text => {
		url => "$emu_url/computeMetadata/v1/instance/service-accounts/default/identity?audience=bq",
		headers => { 'Metadata-Flavor' => 'Google' }
	},
	forged => { file => "$tmp/forged.txt" },);

sub impersonation_url
{
	my ($email, $root) = @_;
	return ($root // $emu_url) . "/v1/projects/-/serviceAccounts/$email:generateAccessToken";
}

# an external account; impersonate => email, or any field to override
sub external
{
	my ($source, %over) = @_;
	my $c = {
		type => 'external_account',
		audience => $audience,
		subject_token_type => 'urn:ietf:params:oauth:token-type:jwt',
		token_url => "$emu_url/v1/token",
		credential_source => ref $source ? $source : $source{$source},
	};
	if (my $email = delete $over{impersonate})
	{
		$c->{service_account_impersonation_url} = impersonation_url($email);
	}
	$c->{$_} = $over{$_} for keys %over;
	return $c;
}

sub user_source
{
	return {
		type => 'authorized_user',
		client_id => '764086051850-keyless.apps.googleusercontent.com',
		client_secret => $client_secret,
		refresh_token => $refresh,
		token_uri => "$emu_url/token",
	};
}

sub key_source
{
	return {
		type => 'service_account',
		project_id => 'keyless-project',
		private_key_id => 'k1',
		private_key => $pem,
		client_email => 'source@keyless-project.iam.gserviceaccount.com',
		token_uri => "$emu_url/token",
	};
}

# what "gcloud auth application-default login --impersonate-service-account" writes
sub impersonated
{
	my ($source, $email) = @_;
	return {
		type => 'impersonated_service_account',
		service_account_impersonation_url => impersonation_url($email // $target),
		delegates => [],
		source_credentials => $source,
	};
}

sub sql_json
{
	my $text = JSON::PP->new->canonical->encode($_[0]);
	$text =~ s/'/''/g;
	return $text;
}

sub write_json
{
	my ($path, $c) = @_;
	unlink $path;
	PostgreSQL::Test::Utils::append_to_file($path, encode_json($c));
	chmod 0600, $path;
	return $path;
}

sub counters
{
	return decode_json(http('GET', "$emu_url/emulator/counters"));
}

# Application Default Credentials of the server: an external account
# with impersonation, named by GOOGLE_APPLICATION_CREDENTIALS
$ENV{GOOGLE_APPLICATION_CREDENTIALS} =
  write_json("$tmp/adc-external.json", external('file_text', impersonate => $target));
delete $ENV{CLOUDSDK_CONFIG};
delete $ENV{PUBSUB_EMULATOR_HOST};
delete $ENV{BIGQUERY_EMULATOR_HOST};

my $node = PostgreSQL::Test::Cluster->new('keyless');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'bqstream'
bqstream.allowed_endpoints = 'http://127.0.0.1:$ps, http://127.0.0.1:$bq'
});
$node->start;

my $server_opts =
  "project_id 'keyless-project', pubsub_endpoint 'http://127.0.0.1:$ps', "
  . "bigquery_endpoint 'http://127.0.0.1:$bq'";
$node->safe_psql('postgres', qq{
	CREATE EXTENSION bqstream;
	CREATE ROLE tenant LOGIN;
	CREATE ROLE reader LOGIN IN ROLE pg_read_server_files;
	GRANT USAGE ON FOREIGN DATA WRAPPER bqstream_fdw TO tenant, reader;
});

# Make a server whose user mapping for "role" (undef: the superuser) holds
# the credential, and create a topic through it as that role; returns
# (stdout, stderr).
my $n = 0;

sub try_credential
{
	my ($role, $cred, $opt) = @_;
	$n++;
	$opt //= 'credentials_json';
	my $value = $opt eq 'credentials_json' ? sql_json($cred) : $cred;
	$node->safe_psql('postgres', qq{
		CREATE SERVER s$n FOREIGN DATA WRAPPER bqstream_fdw OPTIONS ($server_opts);
		GRANT USAGE ON FOREIGN SERVER s$n TO tenant, reader;
	});
	# (only a superuser may keep statement logging off; it is off anyway)
	my $quiet = $role ? '' : "SET log_statement = 'none';";
	my ($rc, $out, $err) = $node->psql('postgres', qq{
		$quiet
		CREATE USER MAPPING FOR CURRENT_USER SERVER s$n OPTIONS ($opt '$value');
		SELECT bqstream.create_topic('s$n', 'topic-$n');
	}, extra_params => [ $role ? ('-U', $role) : (), '-v', 'VERBOSITY=verbose' ]);
	return ($out, $err);
}

# run it and count the STS exchanges and impersonations it caused
sub works
{
	my ($what, $role, $cred, $exchanges, $impersonations, $opt) = @_;
	my $before = counters();
	my ($out, $err) = try_credential($role, $cred, $opt);
	my $after = counters();
	is($out, 't', "$what: the API accepts the token") or diag($err);
	is( $after->{sts_token_exchanges} - $before->{sts_token_exchanges} . '/'
		  . ($after->{impersonations} - $before->{impersonations}),
		"$exchanges/$impersonations",
		"$what: $exchanges token exchange(s), $impersonations impersonation(s)");
}

# ---------------------------------------------------------------- external accounts
for my $kind (qw(file_text file_json url_json url_text))
{
	works("external account, subject token from $kind", undef, external($kind), 1, 0);
	works("external account, subject token from $kind, impersonating", undef,
		external($kind, impersonate => $target), 1, 1);
}

# an ordinary role: URL-sourced, all URLs on the allowed emulator
works('an ordinary role with a URL-sourced external account', 'tenant',
	external('url_json', impersonate => $target), 1, 1);
# a file on the server: for members of pg_read_server_files
works('a member of pg_read_server_files with a file-sourced external account', 'reader',
	external('file_text', impersonate => $target), 1, 1);

# the token is cached: many calls, one exchange
{
	my $before = counters();
	is( $node->safe_psql('postgres', qq{
			SELECT bool_and(bqstream.create_topic('s$n', 'cached-' || i)) FROM generate_series(1, 5) i},
			extra_params => [ '-U', 'reader' ]),
		't', 'five calls with a cached federated token');
	my $after = counters();
	is($after->{sts_token_exchanges} - $before->{sts_token_exchanges}, 1,
		'one token exchange for the session');
}

# a credentials_file holds one too
write_json("$tmp/external-file.json", external('file_json', impersonate => $target));
works('an external account in a credentials_file', undef, "$tmp/external-file.json", 1, 1,
	'credentials_file');

# ---------------------------------------------------------------- impersonated service accounts
works('impersonated service account from gcloud user credentials', undef,
	impersonated(user_source()), 0, 1);
works('impersonated service account from a service-account key', undef,
	impersonated(key_source()), 0, 1);
works('an ordinary role impersonating from gcloud user credentials', 'tenant',
	impersonated(user_source()), 0, 1);
{
	my $c = impersonated(key_source());
	$c->{delegates} = [$target];
	works('impersonation through a delegate (an e-mail address, as gcloud writes it)', undef, $c, 0, 1);
}

# ---------------------------------------------------------------- failures
my ($out, $err) = try_credential(undef, external('forged'));
like($err, qr/28000: could not obtain an access token for external account "\Q$audience\E"/,
	'a wrong subject token: SQLSTATE 28000, names the external account');
like($err, qr/DETAIL:  The token exchange endpoint "http:\/\/127.0.0.1:$ps\/v1\/token" answered HTTP 400 invalid_grant: The subject token could not be verified/,
	"a wrong subject token: STS's answer in the detail");
like($err, qr/HINT:  Check that the workload identity pool provider accepts the subject token/,
	'a wrong subject token: a hint');
unlike($err, qr/forged|keyless-subject/, 'a wrong subject token: the error quotes no token');

($out, $err) = try_credential(undef, external('file_text', impersonate => $refused));
like($err, qr/28000: could not obtain an access token for service account "\Q$refused\E" \(impersonated\)/,
	'a refused impersonation names the service account');
like($err, qr/DETAIL:  The IAM Credentials endpoint "[^"]+:generateAccessToken" answered HTTP 403 PERMISSION_DENIED: Permission 'iam.serviceAccounts.getAccessToken' denied/,
	"a refused impersonation: Google's answer in the detail");
like($err, qr/HINT:  The source credential needs the role Service Account Token Creator/,
	'a refused impersonation: the role it takes');
unlike($err, qr/ya29\.|keyless-subject/, 'a refused impersonation: the error quotes no token');

($out, $err) = try_credential(undef, impersonated({ %{ user_source() }, refresh_token => '1//revoked-refresh-8e6c4a2f' }));
like($err, qr/could not obtain an access token for the gcloud user credentials in the user mapping's option credentials_json/,
	'a bad source credential is reported as such');
unlike($err, qr/revoked-refresh|\Q$client_secret\E/, 'and quotes none of its secrets');

($out, $err) = try_credential(undef, external({ file => "$tmp/missing-subject.txt" }));
like($err, qr/could not open subject token file "\Q$tmp\E\/missing-subject.txt": No such file/,
	'a missing subject token file');
($out, $err) = try_credential(undef, external({ %{ $source{file_json} }, format => { type => 'json', subject_token_field_name => 'token' } }));
like($err, qr/DETAIL:  The file "[^"]+subject.json" holds no JSON object with a string field "token"/,
	'a subject token file without the named field');
unlike($err, qr/keyless-subject/, 'and quotes none of it');
($out, $err) = try_credential(undef, external({ %{ $source{url_json} }, headers => {} }));
like($err, qr/could not obtain a subject token for external account .*\n.*DETAIL:  The credential_source URL "http:\/\/127.0.0.1:$ps\/metadata\/identity\/oauth2\/token" answered HTTP 400/,
	'a URL source that refuses: its status, its URL without the query');

# ---------------------------------------------------------------- programs, AWS
for my $role (undef, 'tenant')
{
	my $who = $role // 'a superuser';
	($out, $err) = try_credential($role, external({ executable => { command => "/bin/sh -c 'touch $tmp/ran'", timeout_millis => 5000 } }));
	like($err, qr/0A000: executable-sourced credentials are not supported/, "$who: an executable source is refused");
	like($err, qr/HINT:  Have the program write the subject token to a file/, "$who: and told what to do instead");
	($out, $err) = try_credential($role, external({ environment_id => 'aws1', region_url => "$evil/region", url => "$evil/creds", regional_cred_verification_url => 'https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15' }, subject_token_type => 'urn:ietf:params:aws:token-type:aws4_request'));
	like($err, qr/0A000: AWS-sourced external account credentials are not supported/, "$who: an AWS source is refused clearly");
}
ok(!-e "$tmp/ran", 'no program ran');

# ---------------------------------------------------------------- ordinary roles: URLs and files
my %untrusted = (
	token_url => external('url_json', token_url => "$evil/v1/token"),
	service_account_impersonation_url => external('url_json', service_account_impersonation_url => impersonation_url($target, $evil)),
	'credential_source.url' => external({ %{ $source{url_json} }, url => "$evil/metadata/identity/oauth2/token" }),
	token_info_url => external('url_json', token_info_url => "$evil/v1/introspect"),
	'source_credentials.token_uri' => impersonated({ %{ user_source() }, token_uri => "$evil/token" }),
	'impersonated service_account_impersonation_url' => { %{ impersonated(key_source()) }, service_account_impersonation_url => impersonation_url($target, $evil) },
);
for my $field (sort keys %untrusted)
{
	(my $name = $field) =~ s/^impersonated //;
	($out, $err) = try_credential('tenant', $untrusted{$field});
	like($err, qr/42501: permission denied to use the \Q$name\E of this credential/,
		"an ordinary role cannot store a credential with an untrusted $field");
	like($err, qr/DETAIL:  .*"http:\/\/127.0.0.1:$cap\/[^"]*" is neither/, "and the detail names the URL ($field)");
}
($out, $err) = try_credential('tenant', external('file_text'));
like($err, qr/42501: permission denied to use credential_source.file/,
	'an ordinary role cannot name a subject token file on the server');

# the same credentials put there by a superuser are still refused at use
for my $field ('token_url', 'credential_source.url', 'source_credentials.token_uri')
{
	$n++;
	my $value = sql_json($untrusted{$field});
	$node->safe_psql('postgres', qq{
		SET log_statement = 'none';
		CREATE SERVER s$n FOREIGN DATA WRAPPER bqstream_fdw OPTIONS ($server_opts);
		GRANT USAGE ON FOREIGN SERVER s$n TO tenant;
		CREATE USER MAPPING FOR tenant SERVER s$n OPTIONS (credentials_json '$value');
	});
	my ($rc, $o, $e) = $node->psql('postgres', "SELECT bqstream.create_topic('s$n', 'never')",
		extra_params => [ '-U', 'tenant' ]);
	like($e, qr/permission denied to use the \Q$field\E of (external account|service account)/,
		"a stored credential with an untrusted $field is refused at use");
}
is_deeply(captured(), [], 'nothing reached an untrusted URL');

# ---------------------------------------------------------------- ADC
my $before = counters();
is($node->safe_psql('postgres', qq{
		CREATE SERVER adc FOREIGN DATA WRAPPER bqstream_fdw OPTIONS ($server_opts);
		CREATE USER MAPPING FOR CURRENT_USER SERVER adc OPTIONS (auth 'adc');
		SELECT bqstream.create_topic('adc', 'from-adc-external');
	}), 't', 'ADC: an external account named by GOOGLE_APPLICATION_CREDENTIALS');
my $after = counters();
is( $after->{sts_token_exchanges} - $before->{sts_token_exchanges} . '/'
	  . ($after->{impersonations} - $before->{impersonations}),
	'1/1', 'ADC: the external account exchanged and impersonated');

# gcloud's well-known file with what --impersonate-service-account writes
$node->stop;
delete $ENV{GOOGLE_APPLICATION_CREDENTIALS};
mkdir "$tmp/gcloud";
$ENV{CLOUDSDK_CONFIG} = "$tmp/gcloud";
write_json("$tmp/gcloud/application_default_credentials.json", impersonated(user_source()));
$node->start;
$before = counters();
is($node->safe_psql('postgres', "SELECT bqstream.create_topic('adc', 'from-adc-impersonated')"),
	't', "ADC: gcloud's well-known file with an impersonated service account");
$after = counters();
is($after->{impersonations} - $before->{impersonations}, 1, 'ADC: one impersonation');

# ADC refuses programs too
$node->stop;
$ENV{GOOGLE_APPLICATION_CREDENTIALS} = write_json("$tmp/adc-executable.json",
	external({ executable => { command => "/bin/sh -c 'touch $tmp/ran'" } }));
$node->start;
(undef, $out, $err) = $node->psql('postgres', "SELECT bqstream.create_topic('adc', 'never')");
like($err, qr/executable-sourced credentials are not supported/, 'ADC: an executable source is refused');
ok(!-e "$tmp/ran", 'still no program ran');

# ---------------------------------------------------------------- the log
my $log = slurp_file($node->logfile);
unlike($log, qr/keyless-subject-token|forged-subject-token/, 'no subject token in the server log');
unlike($log, qr/ya29\.emulator-/, 'no access token in the server log');
unlike($log, qr/keyless-refresh-token|revoked-refresh|\Q$client_secret\E/,
	'no refresh token or client secret in the server log');
my ($key_body) = $pem =~ /-----\n(.{40})/s;
unlike($log, qr/\Q$key_body\E/, 'no private key in the server log');

$node->stop;
done_testing();
