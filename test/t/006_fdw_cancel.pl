# bqstream_fdw and slow BigQuery jobs: a job still running is polled, never
# taken for an empty result; a query cancel returns at once and cancels the
# BigQuery job so that it stops costing; a table's timeout option does too.
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
use BqEmulator;

my $tmp = tempdir(CLEANUP => 1);

# an emulator whose query jobs take 3 s
my $bq = BqEmulator->new(dir => $tmp, services => 'bigquery',
	args => [ '--bq-job-delay-ms', '3000' ])->{bigquery};

sub counters
{
	my ($out, $err);
	IPC::Run::run([ 'curl', '-s', "http://127.0.0.1:$bq/emulator/counters" ], '>', \$out, '2>', \$err);
	return decode_json($out);
}

my $node = PostgreSQL::Test::Cluster->new('fdw_cancel');
$node->init;
$node->start;
$node->safe_psql('postgres', qq{
	CREATE EXTENSION bqstream;
	CREATE SERVER bq FOREIGN DATA WRAPPER bqstream_fdw
	  OPTIONS (project_id 'cancel-project', dataset 'shop', bigquery_endpoint 'http://127.0.0.1:$bq');
	CREATE USER MAPPING FOR CURRENT_USER SERVER bq OPTIONS (auth 'none');
	SELECT bqstream.create_dataset('bq');
	SELECT bqstream.create_raw_orders_table('bq');
	CREATE FOREIGN TABLE orders (order_id text, amount float8) SERVER bq OPTIONS ("table" 'raw_orders');
});
system_or_bail('curl', '-sf', '-o', '/dev/null', '-X', 'POST',
	"http://127.0.0.1:$bq/bigquery/v2/projects/cancel-project/datasets/shop/tables/raw_orders/insertAll",
	'-H', 'Content-Type: application/json', '-d',
	'{"rows":[{"json":{"order_id":"o-1","user_id":"u","product_id":"p","amount":1,"event_time":"2026-11-25T10:00:00Z"}}]}');

# a 3 s job: polled until complete, its row comes back
my $t0 = time();
is($node->safe_psql('postgres', 'SELECT order_id FROM orders'), 'o-1',
	'a job still running after the first request is polled, not taken as empty');
cmp_ok(time() - $t0, '>=', 2.5, 'the scan waited for the job');

# Ctrl-C during the wait
my $session = $node->background_psql('postgres', on_error_stop => 0);
$session->query_until(qr/started/, "\\echo started\nSELECT count(*) FROM orders WHERE order_id <> 'slow';\n");
my $pid;
for (1 .. 100)
{
	$pid = $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE query LIKE '%<> ''slow''%' AND pid <> pg_backend_pid()");
	last if $pid;
	usleep(50_000);
}
usleep(1_500_000);	# past the first request: the job ID is known
my $cancels_before = counters()->{requests}{'jobs.cancel'} // 0;
$t0 = time();
$node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
for (1 .. 100)
{
	last if $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE pid = $pid AND state = 'active'") eq '0';
	usleep(20_000);
}
my $elapsed = time() - $t0;
cmp_ok($elapsed, '<', 1.5, "the cancel returns promptly ($elapsed s)");
cmp_ok(counters()->{requests}{'jobs.cancel'} // 0, '>', $cancels_before, 'and cancels the BigQuery job');
is($session->query('SELECT 42'), '42', 'the session goes on');
$session->quit;

# the table's timeout option: a job that outlives it is cancelled, and the scan fails
$node->safe_psql('postgres', "ALTER FOREIGN TABLE orders OPTIONS (ADD timeout '1500ms')");
$cancels_before = counters()->{requests}{'jobs.cancel'} // 0;
$t0 = time();
my ($ret, $stdout, $stderr) = $node->psql('postgres', "SELECT count(*) FROM orders WHERE order_id <> 'timeout'");
$elapsed = time() - $t0;
like($stderr, qr/did not finish within 1500 ms/, 'a job past the timeout option fails clearly');
cmp_ok($elapsed, '<', 2.8, "at the timeout, not when the job ends ($elapsed s)");
cmp_ok(counters()->{requests}{'jobs.cancel'} // 0, '>', $cancels_before, 'and the job is cancelled');

# A garbled answer is a clear error, never a crash: a server that answers
# jobs.query with broken bodies, one kind per project.
my $garbler = <<'PY';
import http.server, json, sys
BODIES = {
    'truncated-json': b'{"jobReference":{"jobId":"j1"},"jobComplete":true,"rows":[{"f":[{"v":"1"}',
    'html-page': b'<html><body>502 Bad Gateway</body></html>',
    'wrong-cells': json.dumps({"jobReference": {"jobId": "j1"}, "jobComplete": True,
        "schema": {"fields": [{"name": "id", "type": "INT64"}]},
        "rows": [{"f": [{"v": "1"}, {"v": "2"}]}]}).encode(),
    'nested-cell': json.dumps({"jobReference": {"jobId": "j1"}, "jobComplete": True,
        "schema": {"fields": [{"name": "id", "type": "INT64"}]},
        "rows": [{"f": [{"v": {"f": []}}]}]}).encode(),
    'bad-utf8': b'{"jobReference":{"jobId":"j1"},"jobComplete":true,"schema":{"fields":[{"name":"id","type":"STRING"}]},"rows":[{"f":[{"v":"\xff\xfe"}]}]}',
    'not-a-number': json.dumps({"jobReference": {"jobId": "j1"}, "jobComplete": True,
        "schema": {"fields": [{"name": "id", "type": "INT64"}]},
        "rows": [{"f": [{"v": "12abc"}]}]}).encode(),
    'no-job': b'{"jobComplete":true}',
}
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get('Content-Length', 0)))
        body = BODIES[self.path.split('/')[4]]
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
srv = http.server.HTTPServer(('127.0.0.1', 0), H)
open(sys.argv[1], 'w').write(str(srv.server_address[1]))
srv.serve_forever()
PY
my $garbler_pid = fork();
if ($garbler_pid == 0)
{
	exec('/usr/bin/python3', '-c', $garbler, "$tmp/garbler.port") or die "cannot start: $!";
}
END { kill 'TERM', $garbler_pid if $garbler_pid; }
for (1 .. 100)
{
	last if -s "$tmp/garbler.port";
	usleep(100_000);
}
my $gport = slurp_file("$tmp/garbler.port");
my %expected = (
	'truncated-json' => qr/not a valid JSON object/,
	'html-page' => qr/not a valid JSON object/,
	'wrong-cells' => qr/is not a list of one cell per column of its schema/,
	'nested-cell' => qr/nested cell for column "id"/,
	'bad-utf8' => qr/not valid JSON: invalid UTF-8 in a string/,
	'not-a-number' => qr/invalid input syntax for type bigint.*\n.*converting column "id" from BigQuery INT64/s,
	'no-job' => qr/without a job reference/);
foreach my $kind (sort keys %expected)
{
	$node->safe_psql('postgres', qq{
		CREATE SERVER "g-$kind" FOREIGN DATA WRAPPER bqstream_fdw
		  OPTIONS (project_id '$kind', bigquery_endpoint 'http://127.0.0.1:$gport');
		CREATE USER MAPPING FOR CURRENT_USER SERVER "g-$kind" OPTIONS (auth 'none');
		CREATE FOREIGN TABLE "t-$kind" (id bigint) SERVER "g-$kind" OPTIONS (query 'SELECT 1 AS id');
	});
	my ($rc, $out, $err) = $node->psql('postgres', qq{SELECT * FROM "t-$kind"});
	like($err, $expected{$kind}, "a $kind answer is a clear error");
}
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'and the server is still up');

$node->stop;
done_testing();
