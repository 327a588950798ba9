# A hostile endpoint against bounded memory and quiet errors (issue 14,
# points 6 and 3): a server that answers 200 MB, announces 10 GB, sends a
# gzip bomb, sends 20 MB of JSON made of tiny values, or an internal page
# with a secret in it.  Each of the admin functions, publish_orders() and a
# foreign scan must fail clearly, the backend's peak memory (VmHWM) must
# stay within bqstream.max_response_size's bound, the server must stay up,
# and the secret must reach the server log but never the client.  Then a
# pipeline whose pulls would bring messages of 10 MB each: its worker asks
# for fewer until an answer fits, and stores them.
use strict;
use warnings;

use File::Temp qw(tempdir);
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $tmp = tempdir(CLEANUP => 1);

# The hostile server: the first segment of the path picks its answer, so
# each foreign server points at one kind of answer.
my $hostile = <<'PY';
import base64, http.server, json, sys, threading, zlib

MB = 1 << 20
SECRET = b'hunter2 TOPSECRET-4242'
PAGE = b'<html><body><h1>Admin console</h1><p>db password: ' + SECRET + b'</p>'

def gzip_bomb(size):
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    out = [c.compress(b'{"x":"')]
    chunk = b'x' * MB
    for _ in range(size // MB):
        out.append(c.compress(chunk))
    out.append(c.compress(b'"}'))
    out.append(c.flush())
    return b''.join(out)

BOMB = gzip_bomb(200 * MB)
# 20 MB of valid JSON that jansson would make a tree of about 1 GB of
TINY = b'{"schema":[' + b'[],' * ((20 * MB - 16) // 3) + b'[]]}'
GOOGLE = json.dumps({"error": {"code": 404, "status": "NOT_FOUND",
                               "message": "Not found: hostile-google-message"}}).encode()
SCHEMA = json.dumps({"schema": {"fields": [
    {"name": n, "type": t, "mode": "REQUIRED"} for n, t in
    [("order_id", "STRING"), ("user_id", "STRING"), ("product_id", "STRING"),
     ("amount", "FLOAT64"), ("event_time", "TIMESTAMP")]]}}).encode()
STATS = {"pulls": {}, "inserted": 0, "acked": 0}
LOCK = threading.Lock()

class H(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def send(self, status, ctype, body, extra=()):
        self.send_response(status)
        self.send_header('Content-Type', ctype)
        self.send_header('Content-Length', str(len(body)))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def answer(self):
        n = int(self.headers.get('Content-Length') or 0)
        request = self.rfile.read(n) if n else b''
        mode = self.path.split('/')[1]
        try:
            if mode == 'big':
                # no length: the body ends when the connection does
                self.send_response(200)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Connection', 'close')
                self.end_headers()
                self.close_connection = True
                self.wfile.write(b'{"x":"')
                chunk = b'x' * 65536
                for _ in range(200 * MB // 65536):
                    self.wfile.write(chunk)
                self.wfile.write(b'"}')
            elif mode == 'announced':
                self.send_response(200)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(10 << 30))
                self.end_headers()
                self.close_connection = True
                self.wfile.write(b'{"x":"')
            elif mode == 'gzip':
                self.send(200, 'application/json', BOMB, [('Content-Encoding', 'gzip')])
            elif mode == 'tiny':
                self.send(200, 'application/json', TINY)
            elif mode == 'secret':
                # an internal page that also echoes what it was sent
                echo = request + b' ' + (self.headers.get('Authorization') or '').encode()
                self.send(403, 'text/html; charset=utf-8', PAGE + b'<pre>' + echo + b'</pre></body></html>')
            elif mode == 'google':
                self.send(404, 'application/json; charset=UTF-8', GOOGLE)
            elif mode == 'pull':
                self.pipeline(request)
            else:
                self.send(200, 'application/json', b'{"name":"projects/hostile/topics/orders"}')
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    # A subscription whose messages are large: a pull of more than one is
    # announced at 20 MB a message; one message comes small, to be stored.
    def pipeline(self, request):
        path = self.path
        with LOCK:
            if path.endswith(':pull'):
                n = json.loads(request).get('maxMessages', 0)
                STATS['pulls'][n] = STATS['pulls'].get(n, 0) + 1
                if n > 1:
                    self.send_response(200)
                    self.send_header('Content-Type', 'application/json')
                    self.send_header('Content-Length', str(n * 20 * MB))
                    self.end_headers()
                    self.close_connection = True
                    return
                i = sum(STATS['pulls'].values())
                order = {"order_id": "o-%d" % i, "user_id": "u", "product_id": "p",
                         "amount": 1.5, "event_time": "2026-11-25T10:00:00Z"}
                body = {"receivedMessages": [{"ackId": "a-%d" % i, "message": {
                    "data": base64.b64encode(json.dumps(order).encode()).decode(),
                    "messageId": "m-%d" % i, "publishTime": "2026-11-25T10:00:01Z"}}]}
                self.send(200, 'application/json', json.dumps(body).encode())
            elif path.endswith(':acknowledge'):
                STATS['acked'] += len(json.loads(request).get('ackIds', []))
                self.send(200, 'application/json', b'{}')
            elif path.endswith('/insertAll'):
                STATS['inserted'] += len(json.loads(request).get('rows', []))
                self.send(200, 'application/json', b'{"kind":"bigquery#tableDataInsertAllResponse"}')
            elif path == '/pull/stats':
                self.send(200, 'application/json', json.dumps(STATS).encode())
            elif '/tables/' in path:
                self.send(200, 'application/json', SCHEMA)
            elif '/subscriptions/' in path:
                self.send(200, 'application/json', b'{"ackDeadlineSeconds":10}')
            else:
                self.send(200, 'application/json', b'{}')

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = answer

    def log_message(self, *a):
        pass

class S(http.server.ThreadingHTTPServer):
    daemon_threads = True

srv = S(('127.0.0.1', 0), H)
open(sys.argv[1] + '.tmp', 'w').write(str(srv.server_address[1]))
import os; os.rename(sys.argv[1] + '.tmp', sys.argv[1])
srv.serve_forever()
PY
my $hostile_pid = fork();
if ($hostile_pid == 0)
{
	exec('/usr/bin/python3', '-c', $hostile, "$tmp/hostile.port")
	  or die "cannot start the hostile server: $!";
}
END { kill 'TERM', $hostile_pid if $hostile_pid; }
for (1 .. 300)
{
	last if -s "$tmp/hostile.port";
	usleep(100_000);
}
my $port = slurp_file("$tmp/hostile.port");

my $node = PostgreSQL::Test::Cluster->new('limits');
$node->init;
# gzip asked for from any endpoint, so that the bomb is inflated
$node->append_conf('postgresql.conf',
	"shared_preload_libraries = 'bqstream'\nbqstream.http_compression = on");
$node->start;

my @modes = qw(big announced gzip tiny secret google ok);
my $setup = "CREATE EXTENSION bqstream;\n";
foreach my $m (@modes)
{
	$setup .= qq{
		CREATE SERVER "h_$m" FOREIGN DATA WRAPPER bqstream_fdw
		  OPTIONS (project_id 'hostile', dataset 'ds',
		           pubsub_endpoint 'http://127.0.0.1:$port/$m',
		           bigquery_endpoint 'http://127.0.0.1:$port/$m');
		CREATE USER MAPPING FOR CURRENT_USER SERVER "h_$m" OPTIONS (auth 'none');
		CREATE FOREIGN TABLE "t_$m" (id bigint) SERVER "h_$m" OPTIONS (query 'SELECT 1 AS id');
	};
}
$node->safe_psql('postgres', $setup);

# the setting: 32 MB, and only a superuser may change it
is($node->safe_psql('postgres', 'SHOW bqstream.max_response_size'), '32MB',
	'bqstream.max_response_size is 32 MB by default');
$node->safe_psql('postgres', 'CREATE ROLE tenant LOGIN');
my ($rc, $out, $err) = $node->psql('postgres',
	"SET ROLE tenant; SET bqstream.max_response_size = '1GB'");
like($err, qr/permission denied to set parameter "bqstream.max_response_size"/,
	'an ordinary role cannot raise bqstream.max_response_size');

sub hwm_kb
{
	my ($pid) = @_;
	my $status = slurp_file("/proc/$pid/status");
	$status =~ /^VmHWM:\s+(\d+) kB/m or die "no VmHWM for $pid";
	return $1;
}

# Run one statement in a session of its own; return its error output and
# the peak memory of the backend that ran it.
sub run_measured
{
	my ($sql) = @_;
	my $session = $node->background_psql('postgres', on_error_stop => 0);
	$session->query_safe('\set VERBOSITY verbose');
	my $pid = $session->query_safe('SELECT pg_backend_pid()');
	$session->{stderr} = '';
	$session->query($sql);
	my $stderr = $session->{stderr};
	my $hwm = hwm_kb($pid);
	$session->quit;
	return ($stderr, $hwm);
}

# what a backend takes anyway: the library, libcurl, OpenSSL, one call
my ($base_err, $baseline) = run_measured(q{SELECT bqstream.create_topic('h_ok', 'orders')});
is($base_err, '', 'a small answer is taken') or diag($base_err);
note("baseline: a backend that made one small call peaks at $baseline kB");

my $limit_kb = 32768;
my %statements = (
	'create_topic' => q{SELECT bqstream.create_topic('h_%s', 'orders')},
	'create_dataset' => q{SELECT bqstream.create_dataset('h_%s')},
	'publish_orders' => q{SELECT published FROM bqstream.publish_orders(5000, 'h_%s', 'orders')},
	'foreign scan' => q{SELECT * FROM "t_%s"},
);
my %expected = (
	big => qr/54000: answer of (Pub\/Sub|BigQuery) too large\nDETAIL:  (Pub\/Sub|BigQuery) answered with (more than bqstream.max_response_size \(32768 kB\), and the transfer was cut off|an answer that would have brought the answers held by this session to \d+ kB, more than twice bqstream.max_response_size \(32768 kB\))\.\nHINT:  A superuser can raise bqstream.max_response_size/,
	announced => qr/54000: answer of (Pub\/Sub|BigQuery) too large\nDETAIL:  (Pub\/Sub|BigQuery) answered with an answer announced as 10737418240 bytes, more than bqstream.max_response_size \(32768 kB\)\./,
	gzip => qr/54000: answer of (Pub\/Sub|BigQuery) too large\nDETAIL:  (Pub\/Sub|BigQuery) answered with (more than bqstream.max_response_size \(32768 kB\), and the transfer was cut off|an answer that would have brought)/,
	tiny => qr/54000: answer of (Pub\/Sub|BigQuery) too large\nDETAIL:  (Pub\/Sub|BigQuery) answered with \d+ bytes of JSON that would take more than \d+ kB once parsed, more than bqstream.max_response_size \(32768 kB\)\./,
	secret => qr/42501: unexpected answer from (Pub\/Sub|BigQuery)\nDETAIL:  (Pub\/Sub|BigQuery) answered HTTP 403 with a body that is not a Google error \(text\/html, \d+ bytes\)\./,
	google => qr/42704: Not found: hostile-google-message\nDETAIL:  (Pub\/Sub|BigQuery) answered HTTP 404 NOT_FOUND\./,
);
my $worst = 0;
my @figures;
foreach my $m (qw(big announced gzip tiny secret google))
{
	foreach my $what (sort keys %statements)
	{
		my ($stderr, $hwm) = run_measured(sprintf($statements{$what}, $m));
		my $grown = $hwm - $baseline;
		like($stderr, $expected{$m}, "$m answer to $what: a clear error");
		unlike($stderr, qr/TOPSECRET/, "$m answer to $what: no secret in the error")
		  if $m eq 'secret';
		# all the answers a session holds: twice the limit, and some slack
		cmp_ok($grown, '<', 2 * $limit_kb + 16384,
			"$m answer to $what: peak memory bounded ($hwm kB, $grown kB above the baseline)");
		push @figures, sprintf("%-10s %-15s peak %7d kB (+%d kB)", $m, $what, $hwm, $grown);
		$worst = $grown if $grown > $worst;
	}
}
note("peak memory (VmHWM) of the backend per statement, baseline $baseline kB:\n"
	  . join("\n", @figures));
note("largest growth above the baseline: $worst kB, with bqstream.max_response_size at $limit_kb kB");

# the internal page reached the server log, for the DBA
my $log = slurp_file($node->logfile);
like($log, qr/answered HTTP 403 with a body that is not a Google error \(text\/html, \d+ bytes\): <html><body><h1>Admin console<\/h1><p>db password: hunter2 TOPSECRET-4242<\/p>/,
	'the internal page is quoted in the server log');

# a superuser may lower the limit for a session
($rc, $out, $err) = $node->psql('postgres', qq{
	SET bqstream.max_response_size = '64kB';
	SELECT bqstream.create_topic('h_ok', 'orders');
	SELECT bqstream.create_topic('h_tiny', 'orders');
});
like($err, qr/answered with an answer announced as \d+ bytes, more than bqstream.max_response_size \(64 kB\)/,
	'a lowered limit applies');

# A token endpoint is held to the same rules: its page is not echoed, and
# what it echoes of the request (the signed assertion) is masked in the log.
system_or_bail('openssl', 'genpkey', '-quiet', '-algorithm', 'RSA',
	'-pkeyopt', 'rsa_keygen_bits:2048', '-out', "$tmp/sa.pem");
my $key = JSON::PP->new->canonical->encode(
	{
		type => 'service_account',
		project_id => 'hostile',
		private_key_id => 'k1',
		private_key => slurp_file("$tmp/sa.pem"),
		client_email => 'bqstream@hostile.iam.gserviceaccount.com',
		token_uri => "http://127.0.0.1:$port/secret/token",
	});
(my $quoted_key = $key) =~ s/'/''/g;
$node->safe_psql('postgres', qq{
	CREATE SERVER h_token FOREIGN DATA WRAPPER bqstream_fdw
	  OPTIONS (project_id 'hostile', pubsub_endpoint 'http://127.0.0.1:$port/ok');
	CREATE USER MAPPING FOR CURRENT_USER SERVER h_token OPTIONS (credentials_json '$quoted_key');
});
my $log_offset = -s $node->logfile;
($rc, $out, $err) = $node->psql('postgres', q{SELECT bqstream.create_topic('h_token', 'orders')});
like($err, qr/could not obtain an access token.*\n.*answered HTTP 403 with a body that is not a Google error \(text\/html, \d+ bytes\)\./,
	'a token endpoint\'s page: status, type and length only');
unlike($err, qr/TOPSECRET/, 'the token endpoint\'s secret is not in the error');
$log = substr(slurp_file($node->logfile), $log_offset);
like($log, qr/TOPSECRET-4242.*\[masked\]/, 'the token endpoint\'s page is in the server log, what it echoed masked');
unlike($log, qr/eyJ[A-Za-z0-9_-]{16,}/, 'no JWT in the server log');

# A pipeline whose pulls would be too large: the worker halves what it
# asks for, down to one message, and stores what comes.
$node->safe_psql('postgres', qq{
	CREATE SERVER h_pull FOREIGN DATA WRAPPER bqstream_fdw
	  OPTIONS (project_id 'hostile', dataset 'ds',
	           pubsub_endpoint 'http://127.0.0.1:$port/pull',
	           bigquery_endpoint 'http://127.0.0.1:$port/pull');
	CREATE USER MAPPING FOR CURRENT_USER SERVER h_pull OPTIONS (auth 'none');
	SELECT bqstream.create_pipeline('big_messages', 'h_pull', 'sub', write_mode => 'insert_all');
});
sub pull_stats
{
	my ($out, $err);
	IPC::Run::run([ 'curl', '-s', "http://127.0.0.1:$port/pull/stats" ], '>', \$out, '2>', \$err);
	return decode_json($out);
}
my $stored = 0;
for (1 .. 300)
{
	$stored = pull_stats()->{acked};
	last if $stored >= 3;
	usleep(100_000);
}
cmp_ok($stored, '>=', 3, 'a pipeline whose pulls are too large stores its messages one at a time');
my $pulls = pull_stats()->{pulls};
note('pulls by maxMessages: '
	  . join(', ', map { "$_: $pulls->{$_}" } sort { $b <=> $a } keys %$pulls));
ok($pulls->{1000} && $pulls->{500} && $pulls->{1}, 'it asked for 1000, then 500, ..., then 1');
like(slurp_file($node->logfile),
	qr/pipeline "big_messages" asks for 1 message per pull\n.*DETAIL:  Pub\/Sub answered a pull of 3 messages with an answer announced as 62914560 bytes, more than bqstream.max_response_size \(32768 kB\)\./,
	'and says so in the log');
$node->safe_psql('postgres', q{SELECT bqstream.drop_pipeline('big_messages')});

# the server never went down
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'the server is still up');
unlike(slurp_file($node->logfile), qr/terminated by signal|server process .* was terminated/,
	'no backend was killed');

$node->stop;
done_testing();
