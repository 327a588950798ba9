# bqstream_fdw's Storage Read API path against its JSON paging, on the
# emulator's bigquery and bigquerystorage services: every scalar type (and
# REPEATED ones), NULLs, hostile strings and extreme values read through
# both paths give the same values, also into text columns and under other
# time zones; EXPLAIN (VERBOSE) names the path and ANALYZE the streams; a
# table is read in several streams at once; read_api 'auto' keeps small,
# filtered, ordered, limited and aggregated scans on jobs; views, query
# sources and types the Avro decoder does not take (RECORD) fall back to a
# job without an error; broken streams are resumed where they stopped; a
# cancel and statement_timeout stop the streams at once.
use strict;
use warnings;
use utf8;

use File::Temp qw(tempdir);
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

use FindBin;
use lib "$FindBin::RealBin/../perl";
use BqEmulator qw(http);

my $tmp = tempdir(CLEANUP => 1);
my $emu = BqEmulator->new(dir => $tmp, services => 'bigquery,bigquerystorage');
my $bq = $emu->{bigquery};
my $bqs = $emu->{bigquerystorage};
ok($bqs, "the emulator's bigquerystorage service listens on port $bqs");
my $api = "http://127.0.0.1:$bq/bigquery/v2/projects/read-project";

sub counters
{
	my ($service) = @_;
	return decode_json(http('GET', "http://127.0.0.1:$bq/emulator/$service/counters"));
}

sub create_table
{
	my ($name, $fields, %extra) = @_;
	http('POST', "$api/datasets/d/tables", encode_json({
		tableReference => { tableId => $name }, schema => { fields => $fields }, %extra }));
}

# a POST whose body goes through curl's standard input: rows are too long for argv
sub post_stdin
{
	my ($url, $body) = @_;
	my ($out, $err);
	IPC::Run::run([ 'curl', '-s', '-X', 'POST', $url, '-H', 'Content-Type: application/json',
			'--data-binary', '@-' ], '<', \$body, '>', \$out, '2>', \$err);
	return $out;
}

sub insert_rows
{
	my ($name, @rows) = @_;
	while (my @batch = splice(@rows, 0, 5000))
	{
		my $out = decode_json(post_stdin("$api/datasets/d/tables/$name/insertAll",
			encode_json({ rows => [ map { { json => $_ } } @batch ] })));
		BAIL_OUT("insertAll refused rows: " . encode_json($out->{insertErrors}))
		  if $out->{insertErrors};
	}
}

my $node = PostgreSQL::Test::Cluster->new('fdw_read_api');
$node->init(extra => [ '--encoding=UTF8', '--locale=C.UTF-8' ]);
$node->start;
$node->safe_psql('postgres', qq{
	CREATE EXTENSION bqstream;
	CREATE SERVER bq FOREIGN DATA WRAPPER bqstream_fdw
	  OPTIONS (project_id 'read-project', dataset 'd', bigquery_endpoint 'http://127.0.0.1:$bq',
	           bigquery_storage_endpoint 'http://127.0.0.1:$bqs');
	CREATE USER MAPPING FOR CURRENT_USER SERVER bq OPTIONS (auth 'none');
	SELECT bqstream.create_dataset('bq');
});

# ---------------------------------------------------------------------
# every scalar type, REPEATED ones, NULLs, hostile and extreme values
# ---------------------------------------------------------------------
create_table('typed', [
	{ name => 'id', type => 'INT64', mode => 'REQUIRED' },
	{ name => 't', type => 'STRING' },
	{ name => 'i', type => 'INT64' },
	{ name => 'f', type => 'FLOAT64' },
	{ name => 'b', type => 'BOOL' },
	{ name => 'ts', type => 'TIMESTAMP' },
	{ name => 'd', type => 'DATE' },
	{ name => 'tm', type => 'TIME' },
	{ name => 'dt', type => 'DATETIME' },
	{ name => 'n', type => 'NUMERIC' },
	{ name => 'bn', type => 'BIGNUMERIC' },
	{ name => 'y', type => 'BYTES' },
	{ name => 'j', type => 'JSON' },
	{ name => 'g', type => 'GEOGRAPHY' },
	{ name => 'iv', type => 'INTERVAL' },
	{ name => 'tags', type => 'STRING', mode => 'REPEATED' },
	{ name => 'nums', type => 'INT64', mode => 'REPEATED' },
	{ name => 'amounts', type => 'NUMERIC', mode => 'REPEATED' } ]);

my $BIG = '578960446186580977117854925043439539266.34992332820282019728792003956564819967';
my @hostile = ("it's", 'say "hi"', 'back\\slash \\\\ \\n', "line\nbreak\r\n\ttab", '',
	"日本語 ☃ 😀 é", "'; DROP TABLE t; --", 'x' x 100000, "\x{7f}\x{80}\x{7ff}\x{800}\x{fffd}");
my @rows = (
	{ id => 1, t => 'plain', i => 9223372036854775807, f => 1.5, b => JSON::PP::true,
	  ts => '2020-01-02T03:04:05.123456Z', d => '2020-02-29', tm => '12:34:56.789',
	  dt => '2021-03-04T05:06:07.5', n => '-12345.678900001', bn => $BIG, y => 'AAEC',
	  j => '{"a": [1, 2, {"b": null}]}', g => 'POINT(1 2)', iv => '1-2 3 4:5:6.5',
	  tags => [ 'a', 'b' ], nums => [ 1, -2 ], amounts => [ '0.000000001', '-1' ] },
	{ id => 2 },
	{ id => 3, i => -9223372036854775808, f => 'NaN', n => '99999999999999999999999999999.999999999',
	  bn => '-0.00000000000000000000000000000000000001', ts => '0001-01-01T00:00:00Z',
	  d => '0001-01-01', tm => '00:00:00', dt => '0001-01-01T00:00:00', b => JSON::PP::false,
	  y => '', j => '"text"', iv => '-1-2 -3 -4:5:6.000001', tags => [], nums => [] },
	{ id => 4, f => 'Infinity', ts => '9999-12-31T23:59:59.999999Z', d => '9999-12-31',
	  tm => '23:59:59.999999', dt => '9999-12-31T23:59:59.999999', n => '-0.000000001',
	  bn => "-$BIG", y => '/////w==', j => '[]', g => 'LINESTRING(0 0, 1 1)', f => '-Infinity' },
	{ id => 5, f => -0.0, n => '0', bn => '0.00000000000000000000000000000000000001', i => 0, tm => '00:00:00.000001' },
);
my $id = 10;
push @rows, { id => $id++, t => $_, tags => [ $_, $_ ], j => encode_json({ s => $_ }) } for @hostile;
insert_rows('typed', @rows);

my $cols = 'id bigint, t text, i bigint, f float8, b boolean, ts timestamptz, d date, tm time, '
  . 'dt timestamp, n numeric, bn numeric, y bytea, j jsonb, g text, iv interval, tags text[], '
  . 'nums bigint[], amounts numeric[]';
my $text_cols = join(', ', map { "$_ text" } qw(id t i f b ts d tm dt n bn y j g iv))
  . ', tags text[], nums text[], amounts text[]';
$node->safe_psql('postgres', qq{
	CREATE FOREIGN TABLE typed_json ($cols) SERVER bq OPTIONS (table 'typed', read_api 'off');
	CREATE FOREIGN TABLE typed_read ($cols) SERVER bq OPTIONS (table 'typed', read_api 'on');
	CREATE FOREIGN TABLE typed_json_text ($text_cols) SERVER bq OPTIONS (table 'typed', read_api 'off');
	CREATE FOREIGN TABLE typed_read_text ($text_cols) SERVER bq OPTIONS (table 'typed', read_api 'on');
	CREATE FOREIGN TABLE typed_read_narrow (id integer, f real, n numeric(40,3), t varchar(5),
	  i numeric, b text) SERVER bq OPTIONS (table 'typed', read_api 'on');
	CREATE FOREIGN TABLE typed_json_narrow (id integer, f real, n numeric(40,3), t varchar(5),
	  i numeric, b text) SERVER bq OPTIONS (table 'typed', read_api 'off');
});

like($node->safe_psql('postgres', 'EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM typed_read'),
	qr/Read Path: Storage Read API\n.*Read Streams Max: 4/, 'EXPLAIN VERBOSE names the Read API path');
unlike($node->safe_psql('postgres', 'EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM typed_json'),
	qr/Read Path/, "read_api 'off' reads through a job");

my $n_rows = scalar(@rows);
is($node->safe_psql('postgres', 'SELECT count(*) FROM (SELECT * FROM typed_read OFFSET 0) s'), $n_rows,
	'every row comes through the Read API');
my $reads_before = counters('bigquerystorage')->{requests}{CreateReadSession} // 0;
for my $tz ('UTC', 'America/New_York', 'Asia/Kolkata')
{
	for my $pair ([ 'typed_read', 'typed_json' ], [ 'typed_read_text', 'typed_json_text' ])
	{
		my ($r, $j) = @$pair;
		my $dump = "SET TimeZone = '$tz'; SET extra_float_digits = 3; "
		  . "SELECT string_agg(x::text, E'\\n' ORDER BY x.id) FROM %s x";
		my $via_read = $node->safe_psql('postgres', sprintf($dump, $r));
		my $via_json = $node->safe_psql('postgres', sprintf($dump, $j));
		ok(length($via_read) > 100000, "$r under $tz gives the rows");
		is($via_read, $via_json, "$r and $j give identical values under TimeZone $tz");
	}
}
cmp_ok(counters('bigquerystorage')->{requests}{CreateReadSession} // 0, '>=', $reads_before + 6,
	'those scans made read sessions');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM (SELECT * FROM typed_read OFFSET 0) r
	  JOIN (SELECT * FROM typed_json OFFSET 0) j USING (id)
	WHERE (r.t IS NOT DISTINCT FROM j.t) AND (r.f IS NOT DISTINCT FROM j.f)
	  AND (r.n IS NOT DISTINCT FROM j.n) AND (r.bn IS NOT DISTINCT FROM j.bn)
	  AND (r.ts IS NOT DISTINCT FROM j.ts) AND (r.y IS NOT DISTINCT FROM j.y)
	  AND (r.tags IS NOT DISTINCT FROM j.tags) AND (r.amounts IS NOT DISTINCT FROM j.amounts)
	  AND (r.iv IS NOT DISTINCT FROM j.iv) AND (r.j IS NOT DISTINCT FROM j.j)
	  AND scale(r.n) IS NOT DISTINCT FROM scale(j.n)}), $n_rows,
	'values compare equal column by column, numeric scales included');
is($node->safe_psql('postgres', q{SET bqstream.enable_pushdown = off;
	SELECT t = repeat('x', 100000) FROM typed_read WHERE id = 17}),
	't', 'a 100,000-character string comes whole');
is($node->safe_psql('postgres', q{SET bqstream.enable_pushdown = off;
	SELECT count(*) FROM typed_read WHERE id = 2 AND t IS NULL
	AND i IS NULL AND f IS NULL AND b IS NULL AND ts IS NULL AND d IS NULL AND n IS NULL
	AND y IS NULL AND j IS NULL AND iv IS NULL AND tags = '{}'}), '1',
	'NULLs are NULL, an absent REPEATED value an empty array as in JSON');

# narrower types: the same conversions (and errors) as the JSON path
my ($rr, $ro, $re) = $node->psql('postgres', 'SELECT * FROM typed_read_narrow ORDER BY id');
my ($jr, $jo, $je) = $node->psql('postgres', 'SELECT * FROM typed_json_narrow ORDER BY id');
is($rr, $jr, 'a column type narrower than BigQuery\'s fails or succeeds alike');
$re =~ s/CONTEXT:.*//s;
$je =~ s/CONTEXT:.*//s;
like($re, qr/out of range|overflow|too long/, 'the Read API path refuses a value that does not fit');
is($re, $je, 'with the error message of the JSON path');
is($node->safe_psql('postgres', 'SET bqstream.enable_pushdown = off; '
	  . 'SELECT id, f, n, b FROM typed_read_narrow ORDER BY id'),
	$node->safe_psql('postgres', 'SELECT id, f, n, b FROM typed_json_narrow ORDER BY id'),
	'real, numeric(40,3) and boolean as text: the same values');

# a LATIN1 database: strings converted to it, or refused alike when they cannot be
$node->safe_psql('postgres', q{CREATE DATABASE latin1 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C'
	TEMPLATE template0});
$node->safe_psql('latin1', qq{
	CREATE EXTENSION bqstream;
	CREATE SERVER bq FOREIGN DATA WRAPPER bqstream_fdw
	  OPTIONS (project_id 'read-project', dataset 'd', bigquery_endpoint 'http://127.0.0.1:$bq',
	           bigquery_storage_endpoint 'http://127.0.0.1:$bqs');
	CREATE USER MAPPING FOR CURRENT_USER SERVER bq OPTIONS (auth 'none');
	CREATE FOREIGN TABLE l_read (id bigint, t text) SERVER bq OPTIONS (table 'typed', read_api 'on');
	CREATE FOREIGN TABLE l_json (id bigint, t text) SERVER bq OPTIONS (table 'typed', read_api 'off');
});
($rr, $ro, $re) = $node->psql('latin1', 'SELECT id, t FROM l_read ORDER BY id');
($jr, $jo, $je) = $node->psql('latin1', 'SELECT id, t FROM l_json ORDER BY id');
# the streams may meet another of the rows that cannot be converted first
s/CONTEXT:.*//s, s/byte sequence [0-9a-fx ]+/byte sequence .../ for $re, $je;
like($re, qr/has no equivalent in encoding "LATIN1"/,
	'a string without a LATIN1 equivalent is refused through the Read API');
is($re, $je, 'as through JSON paging');

# ---------------------------------------------------------------------
# parallel streams; the planner's rule under 'auto'
# ---------------------------------------------------------------------
create_table('big', [
	{ name => 'k', type => 'INT64' }, { name => 'v', type => 'STRING' },
	{ name => 'amount', type => 'NUMERIC' } ]);
insert_rows('big', map { { k => $_, v => "v-$_", amount => sprintf('%d.%02d', $_, $_ % 100) } } 1 .. 12000);
$node->safe_psql('postgres', q{
	CREATE FOREIGN TABLE big (k bigint, v text, amount numeric) SERVER bq OPTIONS (read_streams '3');
	CREATE FOREIGN TABLE big_json (k bigint, v text, amount numeric) SERVER bq
	  OPTIONS (table 'big', read_api 'off');
	CREATE FOREIGN TABLE small (id bigint, t text) SERVER bq OPTIONS (table 'typed');
});
my $explain = $node->safe_psql('postgres',
	'EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT * FROM big');
like($explain, qr/Read Path: Storage Read API/, "read_api 'auto' reads 12,000 rows through the Read API");
like($explain, qr/Read Streams: 3\b/, 'in the 3 streams read_streams allows');
is($node->safe_psql('postgres', 'SELECT count(*), sum(k), count(DISTINCT v) FROM (SELECT * FROM big OFFSET 0) s'),
	'12000|72006000|12000', 'every row once, whatever stream it came in');
is($node->safe_psql('postgres', 'SELECT count(*), sum(k), sum(amount) FROM (SELECT * FROM big OFFSET 0) s'),
	$node->safe_psql('postgres', 'SELECT count(*), sum(k), sum(amount) FROM (SELECT * FROM big_json OFFSET 0) s'),
	'the same sums as through JSON paging');
for my $case (
	[ 'SELECT * FROM small', 'a small table' ],
	[ 'SELECT * FROM big WHERE k = 7', 'a WHERE clause expected to keep few rows' ],
	[ 'SELECT * FROM big LIMIT 5', 'a LIMIT' ],
	[ 'SELECT count(*) FROM big', 'an aggregate' ])
{
	unlike($node->safe_psql('postgres', "EXPLAIN (VERBOSE, COSTS OFF) $case->[0]"), qr/Read Path/,
		"read_api 'auto' keeps $case->[1] on a job");
}
# filtered or sorted: the job runs with its typed parameters, and its result table is read
$explain = $node->safe_psql('postgres', 'EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM big ORDER BY k DESC');
like($explain, qr/ORDER BY `k` DESC.*\n.*Read Path: Storage Read API of the job's result\n.*Read Streams Max: 1\b/,
	"'auto' reads a large sorted result from the job's result table, in one stream");
is($node->safe_psql('postgres', q{SELECT md5(string_agg(k || v || amount, ',')) FROM
	  (SELECT * FROM big WHERE v <> 'it''s' ORDER BY k DESC OFFSET 0) s}),
	$node->safe_psql('postgres', q{SELECT md5(string_agg(k || v || amount, ',')) FROM
	  (SELECT * FROM big_json WHERE v <> 'it''s' ORDER BY k DESC OFFSET 0) s}),
	'the same rows in the same order as through JSON pages');
$node->safe_psql('postgres', q{ALTER FOREIGN TABLE big OPTIONS (ADD read_api 'on')});
$explain = $node->safe_psql('postgres',
	'EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT * FROM big WHERE k > 100');
like($explain, qr/Read Path: Storage Read API of the job's result/, 'a filtered scan reads the job\'s result table');
like($explain, qr/Read Streams: 3\b.*BigQuery Job: /s, 'in several streams, after the job');
is($node->safe_psql('postgres', 'SELECT count(*), sum(k), sum(amount) FROM (SELECT * FROM big WHERE k > 100 OFFSET 0) s'),
	$node->safe_psql('postgres', 'SELECT count(*), sum(k), sum(amount) FROM (SELECT * FROM big_json WHERE k > 100 OFFSET 0) s'),
	'with the rows of the JSON pages');
like($node->safe_psql('postgres',
	'EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT * FROM big WHERE k <= 100'),
	qr/Read API Fallback: the result fits in one page/, 'a result of one page is read from it');
is($node->safe_psql('postgres', 'SELECT count(*), sum(k) FROM (SELECT * FROM big WHERE k <= 100 OFFSET 0) s'),
	'100|5050', 'all of it');
$node->safe_psql('postgres', q{ALTER FOREIGN TABLE big OPTIONS (DROP read_api)});
is($node->safe_psql('postgres', q{SET bqstream.enable_pushdown = off;
	SELECT count(*) FROM big WHERE k % 1000 = 0}), '12',
	'a filter evaluated here over the Read API rows');

# rescanned (the inner side of a nested loop): a new session each time
is($node->safe_psql('postgres', q{
	SELECT count(*), sum(s.k) FROM generate_series(1, 3) x(v)
	CROSS JOIN LATERAL (SELECT * FROM big r WHERE r.k = x.v + (random() * 0)::int OFFSET 0) s}),
	'3|6', 'a rescanned Read API scan reads the table again each time');

# a server without a Storage endpoint of its own, but an emulator's BigQuery one
$node->safe_psql('postgres', qq{
	CREATE SERVER bq_rest FOREIGN DATA WRAPPER bqstream_fdw
	  OPTIONS (project_id 'read-project', dataset 'd', bigquery_endpoint 'http://127.0.0.1:$bq');
	CREATE USER MAPPING FOR CURRENT_USER SERVER bq_rest OPTIONS (auth 'none');
	CREATE FOREIGN TABLE big_rest (k bigint) SERVER bq_rest OPTIONS (table 'big');
});
unlike($node->safe_psql('postgres', 'EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM big_rest'),
	qr/Read Path/, "'auto' keeps an emulator's BigQuery without a Storage endpoint on jobs");

# ---------------------------------------------------------------------
# what the Read API cannot read: views, query sources, RECORDs
# ---------------------------------------------------------------------
http('POST', "$api/datasets/d/tables", encode_json({
	tableReference => { tableId => 'big_view' },
	view => { query => 'SELECT k, v FROM `read-project.d.big` WHERE k <= 100', useLegacySql => JSON::PP::false } }));
create_table('nested', [
	{ name => 'id', type => 'INT64' },
	{ name => 'rec', type => 'RECORD', fields => [ { name => 'a', type => 'STRING' } ] } ]);
insert_rows('nested', { id => 1, rec => { a => 'x' } });
$node->safe_psql('postgres', q{
	CREATE FOREIGN TABLE big_view (k bigint, v text) SERVER bq OPTIONS (read_api 'on');
	CREATE FOREIGN TABLE big_query (k bigint) SERVER bq
	  OPTIONS (query 'SELECT k FROM `read-project.d.big`', read_api 'on');
	CREATE FOREIGN TABLE nested (id bigint, rec jsonb) SERVER bq OPTIONS (read_api 'on');
});
unlike($node->safe_psql('postgres', 'EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM big_view'),
	qr/Read Path/, 'a view is read through a job');
is($node->safe_psql('postgres', 'SELECT count(*), sum(k) FROM (SELECT * FROM big_view OFFSET 0) s'), '100|5050',
	'and gives its rows');
unlike($node->safe_psql('postgres', 'EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM big_query'),
	qr/Read Path/, 'so is a query option');
$explain = $node->safe_psql('postgres',
	'EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT * FROM nested');
like($explain, qr/Read API Fallback: column "rec" is a RECORD/,
	'a RECORD column: the session is left unread, EXPLAIN ANALYZE says why');
is($node->safe_psql('postgres', 'SELECT id, rec FROM nested'), '1|{"a": "x"}',
	'and the rows come through a job, without an error');

# the same for a job's result: its JSON pages are read from the first, each row once
insert_rows('nested', map { { id => $_, rec => { a => "r$_" } } } 2 .. 30);
$node->safe_psql('postgres', q{ALTER FOREIGN TABLE nested OPTIONS (ADD fetch_size '7')});
like($node->safe_psql('postgres',
	'EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT * FROM nested WHERE id > 0'),
	qr/Read Path: Storage Read API of the job's result.*Read API Fallback: column "rec" is a RECORD/s,
	"a RECORD in a job's result: JSON pages after all");
is($node->safe_psql('postgres', q{SELECT count(*), count(DISTINCT id), sum(id), count(DISTINCT rec->>'a')
	FROM (SELECT * FROM nested WHERE id > 0 OFFSET 0) s}), '30|30|465|30',
	'from the first page, every row once');

# ---------------------------------------------------------------------
# broken streams are resumed where they stopped
# ---------------------------------------------------------------------
create_table('flaky', [ { name => 'k', type => 'INT64' }, { name => 'pad', type => 'STRING' } ],
	labels => { emulator_read_breaks => '3', emulator_read_break_after => '1' });
insert_rows('flaky', map { { k => $_, pad => 'p' x 200 } } 1 .. 20000);
$node->safe_psql('postgres', q{
	CREATE FOREIGN TABLE flaky (k bigint, pad text) SERVER bq OPTIONS (read_api 'on', read_streams '2');
});
my $broken_before = counters('bigquerystorage')->{read_streams_broken} // 0;
is($node->safe_psql('postgres', 'SELECT count(*), count(DISTINCT k), sum(k) FROM (SELECT * FROM flaky OFFSET 0) s'),
	'20000|20000|200010000', 'streams broken mid-way are resumed: every row once');
cmp_ok(counters('bigquerystorage')->{read_streams_broken} // 0, '>=', $broken_before + 3,
	'the emulator did break them');

# ---------------------------------------------------------------------
# a cancel and statement_timeout stop the streams at once
# ---------------------------------------------------------------------
http('POST', "http://127.0.0.1:$bq/emulator/bigquerystorage/faults",
	encode_json({ latency_ms => 5000, methods => ['ReadRows'] }));
my $session = $node->background_psql('postgres', on_error_stop => 0);
$session->query_until(qr/started/,
	"SET bqstream.enable_pushdown = off;\n\\echo started\nSELECT count(*) FROM big WHERE v <> 'slow';\n");
my $pid;
for (1 .. 100)
{
	$pid = $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE query LIKE '%<> ''slow''%' AND pid <> pg_backend_pid()");
	last if $pid;
	usleep(50_000);
}
usleep(1_000_000);	# inside the wait for ReadRows
my $t0 = time();
$node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
for (1 .. 100)
{
	last if $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE pid = $pid AND state = 'active'") eq '0';
	usleep(20_000);
}
my $elapsed = time() - $t0;
cmp_ok($elapsed, '<', 1.5, "a cancel during ReadRows returns promptly ($elapsed s)");
is($session->query('SELECT 42'), '42', 'the session goes on');
$session->quit;

$t0 = time();
my ($ret, $stdout, $stderr) = $node->psql('postgres',
	"SET bqstream.enable_pushdown = off; SET statement_timeout = '1s'; "
	  . "SELECT count(*) FROM big WHERE v <> 'timeout'");
$elapsed = time() - $t0;
like($stderr, qr/canceling statement due to statement timeout/, 'statement_timeout stops a Read API scan');
cmp_ok($elapsed, '<', 2.5, "at the timeout ($elapsed s)");
http('DELETE', "http://127.0.0.1:$bq/emulator/bigquerystorage/faults");
is($node->safe_psql('postgres', 'SELECT count(*) FROM (SELECT * FROM big OFFSET 0) s'), '12000',
	'the next scan reads normally');

$node->stop;
done_testing();
