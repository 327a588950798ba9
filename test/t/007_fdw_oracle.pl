# bqstream_fdw against PostgreSQL itself as the oracle: the same rows (every
# column type the FDW converts, hostile strings, NULLs, integers past 2^53,
# NUMERIC with nine decimals, NaN and infinities, timestamps before 1970 and
# at the ends of BigQuery's range) are stored in a local table and, through
# the FDW's INSERT, in a BigQuery table of the emulator; then a corpus of
# queries (filters of every kind, ORDER BY, LIMIT/OFFSET, aggregates, GROUP BY
# and HAVING, joins, subqueries, window functions, prepared statements with
# generic plans, cursors, other time zones and date styles) runs against
# both, and the outputs must be identical, whatever the FDW chooses to send
# to BigQuery and whatever it keeps local.
use strict;
use warnings;
use utf8;

use Encode qw(encode_utf8);
use File::Temp qw(tempdir);
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use BqEmulator qw(http);

my $tmp = tempdir(CLEANUP => 1);

# ---------------------------------------------------------------------
# the emulator and the instance
# ---------------------------------------------------------------------

my $bq = BqEmulator->new(dir => $tmp, services => 'bigquery')->{bigquery};
my $api = "http://127.0.0.1:$bq/bigquery/v2/projects/oracle-project";

# UTF-8, and an ICU default collation, so that text under the database's
# collation does not sort as bytes do (BigQuery's order); "C" where a
# column asks for it
my $node = PostgreSQL::Test::Cluster->new('fdw_oracle');
$node->init(extra => [ '--encoding=UTF8', '--locale=C.UTF-8',
		'--locale-provider=icu', '--icu-locale=und' ]);
$node->start;

$node->safe_psql('postgres', qq{
	CREATE EXTENSION bqstream;
	CREATE SERVER bq FOREIGN DATA WRAPPER bqstream_fdw
	  OPTIONS (project_id 'oracle-project', dataset 'oracle', bigquery_endpoint 'http://127.0.0.1:$bq');
	CREATE USER MAPPING FOR CURRENT_USER SERVER bq OPTIONS (auth 'none');
	SELECT bqstream.create_dataset('bq');
	CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
});

# the BigQuery table; amount is stored as amount_value (the column_name option)
my $created = decode_json(http('POST', "$api/datasets/oracle/tables", encode_json({
	tableReference => { tableId => 'oracle_t' },
	schema => { fields => [
		{ name => 'id', type => 'INT64', mode => 'REQUIRED' },
		{ name => 's', type => 'STRING' },
		{ name => 't', type => 'STRING' },
		{ name => 'n', type => 'INT64' },
		{ name => 'amount_value', type => 'NUMERIC' },
		{ name => 'price', type => 'NUMERIC' },
		{ name => 'f', type => 'FLOAT64' },
		{ name => 'g', type => 'FLOAT64' },
		{ name => 'b', type => 'BOOL' },
		{ name => 'd', type => 'DATE' },
		{ name => 'ts', type => 'TIMESTAMP' },
		{ name => 'cat', type => 'STRING' } ] } })));
is($created->{id}, 'oracle-project:oracle.oracle_t', 'the BigQuery table is created');

# ---------------------------------------------------------------------
# the rows: deterministic, from formulas
# ---------------------------------------------------------------------

my $NROWS = 600;

# strings that break naive quoting, LIKE escaping, byte-vs-character
# handling and case folding
my @hostile = (
	q{a'b}, q{a"b}, q{back\slash}, qq{a'b\nc}, qq{line1\nline2}, qq{tab\there},
	qq{cr\rlf}, q{x' OR 1=1 --}, q{'; DROP TABLE local_t; --}, q{@p1}, q{?},
	q{`tick`}, q{\\}, q{\\\\}, q{\N}, 'NULL', 'null',
	'', ' ', '  lead', 'trail  ', ' both ',
	'100%', '50% off', '%', '_', 'under_score', 'a_b', 'axb', 'a%b', q{a\%b}, q{a\_b},
	'é', 'É', 'école', 'ÉCOLE', "e\x{301}cole", '日本', '日本語テキスト', "\x{1F600} emoji",
	"\x{a0}nbsp", 'ß', 'SS', 'ss', 'İstanbul', 'ABC', 'abc', 'Abc', 'ǅ', 'Ωmega',
	'w050', 'w050 ', 'zzz', '~tilde', "\x{7f}del", "\x{1}ctl");

my @words = ('red', 'Green', 'blue', 'été', 'Été', 'zèbre');

# an exact decimal m / 10^k, without trailing zeros (BigQuery does not keep
# a NUMERIC's scale)
sub decimal
{
	my ($m, $k) = @_;
	my $sign = $m < 0 ? '-' : '';
	my $digits = sprintf('%0*d', $k + 1, abs($m));
	my $int = substr($digits, 0, length($digits) - $k);
	my $frac = substr($digits, length($digits) - $k);
	$frac =~ s/0+$//;
	return $sign . $int . ($frac ne '' ? ".$frac" : '');
}

sub iso_date
{
	my ($days) = @_;	# since 1970-01-01
	my @t = gmtime($days * 86400);
	return sprintf('%04d-%02d-%02d', $t[5] + 1900, $t[4] + 1, $t[3]);
}

sub iso_timestamp
{
	my ($us) = @_;	# since the Unix epoch, >= 0
	my @t = gmtime(int($us / 1_000_000));
	return sprintf('%04d-%02d-%02d %02d:%02d:%02d.%06d+00',
		$t[5] + 1900, $t[4] + 1, $t[3], $t[2], $t[1], $t[0], $us % 1_000_000);
}

my @rows;
for my $i (1 .. $NROWS)
{
	my %r = (id => $i);

	$r{s} = $i % 31 == 0 ? undef
	  : $i <= @hostile ? $hostile[ $i - 1 ]
	  : $i % 5 == 3 ? $hostile[ ($i * 7) % @hostile ]
	  : sprintf('w%03d %s', ($i * 37) % 101, $words[ $i % @words ]);
	$r{t} = $i % 37 == 0 ? undef
	  : ('apple', 'Apple', 'banana', 'Banana', 'cherry', 'éclair', 'Éclair', 'zebra',
		'Zebra', '_under', '-dash', '1one', ' space', 'ß', 'ss', 'a b', 'ab')[ ($i * 7) % 17 ];

	# integers: small ones, NULLs, past 2^53 (exact only as integers), and
	# five near 2^61 whose sum passes 2^63
	$r{n} = $i % 7 == 0 ? undef
	  : $i % 97 == 0 ? 9007199254740993 + $i
	  : $i % 89 == 0 ? -36028797018963968 - $i
	  : $i % 113 == 0 ? 2305843009213693952 + $i
	  : (($i * 7919) % 2001) - 1000;

	# NUMERIC with up to nine decimals, some of 29 integer digits
	$r{amount} = $i % 11 == 0 ? undef
	  : $i % 101 == 0 ? sprintf('%s98765432109876543%03d.123456789', $i % 2 ? '-' : '', $i)
	  : decimal((($i * 104729) % 2000003) - 1000000, $i % 10);
	$r{price} = $i % 23 == 0 ? undef
	  : sprintf('%d.%02d', int((($i * 7907) % 100000) / 100), (($i * 7907) % 100000) % 100);

	# floats: multiples of 0.25, so that every sum is exact in any order;
	# one negative zero; and NaN, infinities and values whose sum overflows
	$r{f} = $i % 13 == 0 ? undef
	  : $i == 2 ? '-0'
	  : sprintf('%.2f', ((($i * 613) % 4001) - 2000) / 4);
	$r{g} = ('NaN', 'Infinity', '-Infinity', undef, undef, '0', '-0',
		sprintf('%.3f', ((($i * 37) % 200) - 100) / 8), '1.5e308', '-2.5e-300')[ $i % 10 ];

	$r{b} = $i % 5 == 0 ? undef : $i % 3 == 0 ? 't' : 'f';

	$r{d} = $i % 17 == 0 ? undef
	  : $i == 7 ? '0001-01-01'
	  : $i == 8 ? '9999-12-31'
	  : $i == 9 ? '2024-02-29'
	  : iso_date(20423 + ($i * 17) % 120);	# from 2025-12-01

	# microsecond timestamps every ~9.9 h from 2025-12-01, past a DST change,
	# and the odd ones
	$r{ts} = $i % 19 == 0 ? undef
	  : $i == 10 ? '1969-12-31 23:59:59.999999+00'
	  : $i == 11 ? '1850-06-01 12:00:00.000001+00'
	  : $i == 12 ? '0001-01-01 00:00:00+00'
	  : $i == 14 ? '9999-12-31 23:59:59.999999+00'
	  : iso_timestamp(1764547200_000000 + $i * 35530370367);

	$r{cat} = ('alpha', 'beta', 'gamma', 'delta', undef, 'Alpha')[ $i % 6 ];
	push @rows, \%r;
}

my @columns = qw(id s t n amount price f g b d ts cat);

sub literal
{
	my ($v) = @_;
	return 'NULL' unless defined $v;
	$v =~ s/'/''/g;
	return "'$v'";
}

# the SQL literal of a row's value, typed: {v:column:id}
my %cast = (s => '::text', t => '::text', cat => '::text', n => '::bigint', id => '::bigint',
	amount => '::numeric', price => '::numeric', f => '::float8', g => '::float8',
	b => '::boolean', d => '::date', ts => '::timestamptz');

sub value_of
{
	my ($col, $id) = @_;
	return literal($rows[ $id - 1 ]{$col}) . $cast{$col};
}

my $table_columns = q{id bigint NOT NULL, s text COLLATE "C", t text, n bigint,
	amount numeric, price numeric(12,2), f float8, g float8, b boolean, d date,
	ts timestamptz, cat text COLLATE "C"};
my $values = join(",\n",
	map { my $r = $_; '(' . join(', ', map { literal($r->{$_}) } @columns) . ')' } @rows);
$node->safe_psql('postgres', encode_utf8(qq{
	CREATE TABLE local_t ($table_columns);
	INSERT INTO local_t VALUES $values;
	ANALYZE local_t;
	CREATE FOREIGN TABLE remote_t ($table_columns)
	  SERVER bq OPTIONS ("table" 'oracle_t', fetch_size '97');
	ALTER FOREIGN TABLE remote_t ALTER COLUMN amount OPTIONS (column_name 'amount_value');
	CREATE FOREIGN TABLE remote_t_paged ($table_columns)
	  SERVER bq OPTIONS ("table" 'oracle_t', fetch_size '1');
	ALTER FOREIGN TABLE remote_t_paged ALTER COLUMN amount OPTIONS (column_name 'amount_value');
	CREATE FOREIGN TABLE remote_t_query ($table_columns) SERVER bq
	  OPTIONS (query 'SELECT * EXCEPT (amount_value), amount_value AS amount FROM `oracle-project.oracle.oracle_t`');
	CREATE TABLE cats (cat text COLLATE "C", label text, weight int);
	INSERT INTO cats VALUES ('alpha', 'first', 1), ('beta', 'second', 2), ('gamma', 'third', 3),
	  ('Alpha', 'capital', 4), ('omega', 'unused', 5), (NULL, 'none', 6);
	ANALYZE cats;
}));

# every row goes through the FDW's INSERT
is($node->safe_psql('postgres', 'INSERT INTO remote_t SELECT * FROM local_t'),
	'', 'INSERT INTO remote_t SELECT * FROM local_t');
is($node->safe_psql('postgres', 'SELECT count(*) FROM remote_t'), $NROWS,
	"BigQuery holds the $NROWS rows");
is($node->psql('postgres', 'ANALYZE remote_t'), 0, 'ANALYZE remote_t: plans from sampled statistics');
{
	my $r = decode_json(http('POST', "$api/queries", encode_json({
		useLegacySql => JSON::PP::false,
		query => 'SELECT COUNT(*), COUNT(DISTINCT id), COUNT(s), COUNT(ts) FROM oracle.oracle_t' })));
	is(join(',', map { $_->{v} } @{ $r->{rows}[0]{f} }),
		join(',', $NROWS, $NROWS, scalar(grep { defined $_->{s} } @rows),
			scalar(grep { defined $_->{ts} } @rows)),
		'the emulator itself counts the same rows and non-NULL cells');
}

# ---------------------------------------------------------------------
# the oracle
# ---------------------------------------------------------------------

# The corpus: each query runs against the local table and against the
# foreign table, and the two outputs must be the same text.  {T} is the
# table under test ({P}: the foreign table read a row per page, {Q}: the
# foreign table whose source is a query, {C}: cats, or the foreign table
# holding the same rows); {v:col:id} the typed literal of a row's value.
# A query
# marked to fail must fail on both (an integer overflow, say).
my @corpus;

sub oracle
{
	my ($name, $sql, %opt) = @_;
	$sql =~ s/\{v:(\w+):(\d+)\}/value_of($1, $2)/ge;
	$sql =~ s/^\s+|\s+$//g;
	$sql .= ';' unless $sql =~ /;$/;
	push @corpus, { name => $name, sql => $sql, fails => $opt{fails} };
}

# --- scans and conversions ---------------------------------------------

oracle('every row and column', 'SELECT * FROM {T} ORDER BY id');
oracle('whole-row references', 'SELECT x FROM {T} x ORDER BY id');
oracle('json of whole rows',
	'SELECT json_agg(x ORDER BY x.id) FROM {T} x WHERE id <= 40');
oracle('timestamps and dates under America/New_York', q{
	SET TimeZone = 'America/New_York';
	SELECT id, ts, d, ts::date, ts::time, extract(epoch FROM ts) FROM {T} ORDER BY id});
oracle('timestamps under Asia/Kolkata with DateStyle SQL, DMY', q{
	SET TimeZone = 'Asia/Kolkata'; SET DateStyle = 'SQL, DMY';
	SELECT id, ts, d FROM {T} ORDER BY id});
oracle('floats with extra_float_digits 0 and 3', q{
	SET extra_float_digits = 0; SELECT id, f, g FROM {T} ORDER BY id;
	SET extra_float_digits = 3; SELECT id, f, g FROM {T} ORDER BY id});
oracle('numeric scale and text length',
	'SELECT id, amount, scale(amount), price, scale(price), length(s), octet_length(s) FROM {T} ORDER BY id');
oracle('count(*)', 'SELECT count(*) FROM {T}');
oracle('one column only, sorted on itself', 'SELECT s FROM {T} ORDER BY s NULLS FIRST');
oracle('no column at all', 'SELECT 1 FROM {T} LIMIT 3');
oracle('one row per page', 'SELECT * FROM {P} WHERE id <= 60 ORDER BY id');
oracle('one row per page, aggregated and limited',
	'SELECT cat, count(*), max(ts) FROM {P} GROUP BY cat ORDER BY cat NULLS FIRST LIMIT 4');
oracle('a query as the source', 'SELECT * FROM {Q} ORDER BY id');
oracle('a query as the source, filtered, sorted and limited',
	q{SELECT id, s, n FROM {Q} WHERE n > 0 AND s LIKE 'w%' AND ts < '2026-06-01' ORDER BY s DESC, id LIMIT 7 OFFSET 3});
oracle('a query as the source, aggregated',
	'SELECT cat, count(*), sum(price), min(d), max(ts), count(DISTINCT b) FROM {Q} WHERE id IN (SELECT id FROM local_t WHERE b) OR n < 0 GROUP BY cat ORDER BY cat');
oracle('a query as the source, grouped with HAVING',
	q{SELECT date_trunc('day', ts, 'UTC'), count(*) FROM {Q} WHERE amount > 0 GROUP BY 1 HAVING count(*) > 1 ORDER BY 1 NULLS LAST LIMIT 10});

# --- integer filters ---------------------------------------------------

oracle('bigint =', 'SELECT id, n FROM {T} WHERE n = {v:n:2} ORDER BY id');
oracle('bigint <>', 'SELECT id FROM {T} WHERE n <> {v:n:2} ORDER BY id');
oracle('bigint < and <=', 'SELECT id, n FROM {T} WHERE n < -500 OR n <= -999 ORDER BY id');
oracle('bigint > and >=', 'SELECT id, n FROM {T} WHERE n > 900 AND n >= 901 ORDER BY id');
oracle('constant on the left', 'SELECT id, n FROM {T} WHERE -5 > n AND 900 >= id ORDER BY id');
oracle('int4 and int2 constants',
	'SELECT id FROM {T} WHERE id = 17 OR id = 18::int2 OR n = 42::int4 ORDER BY id');
oracle('exact equality past 2^53',
	'SELECT id, n FROM {T} WHERE n = 9007199254740993 + 97 OR n = 9007199254740992 + 194 ORDER BY id');
oracle('ordering past 2^53', 'SELECT id, n FROM {T} WHERE n > 9007199254741089 ORDER BY id');
oracle('bigint BETWEEN and NOT BETWEEN',
	'SELECT id, n FROM {T} WHERE n BETWEEN -10 AND 10 OR n NOT BETWEEN -990 AND 2000 ORDER BY id');
oracle('bigint IN list with NULL',
	'SELECT id, n FROM {T} WHERE n IN ({v:n:2}, {v:n:3}, 7, NULL) ORDER BY id');
oracle('bigint = ANY(ARRAY)',
	'SELECT id, n FROM {T} WHERE n = ANY (ARRAY[{v:n:4}, {v:n:5}, 9007199254741090]) ORDER BY id');
oracle('bigint = ANY(ARRAY) with NULL',
	'SELECT id, n FROM {T} WHERE n = ANY (ARRAY[{v:n:4}, NULL]::bigint[]) ORDER BY id');
oracle('bigint NOT IN', 'SELECT id FROM {T} WHERE n NOT IN ({v:n:2}, {v:n:3}) ORDER BY id');
oracle('bigint NOT IN with NULL: nothing',
	'SELECT id FROM {T} WHERE n NOT IN ({v:n:2}, NULL) ORDER BY id');
oracle('bigint <> ALL(ARRAY)',
	'SELECT id FROM {T} WHERE n <> ALL (ARRAY[{v:n:2}, {v:n:3}]) ORDER BY id');
oracle('empty = ANY', q{SELECT id FROM {T} WHERE n = ANY ('{}'::bigint[]) ORDER BY id});
oracle('<> ALL over an empty array is true, also for NULL',
	q{SELECT count(*) FROM {T} WHERE n <> ALL ('{}'::bigint[])});
oracle('= ANY over a NULL array',
	'SELECT id FROM {T} WHERE n = ANY (NULL::bigint[]) OR id < 3 ORDER BY id');
oracle('<> ALL and NOT = ANY with a NULL element',
	'SELECT id FROM {T} WHERE n <> ALL (ARRAY[{v:n:2}, NULL]::bigint[]) OR NOT (n = ANY (ARRAY[{v:n:3}, NULL]::bigint[])) OR id < 4 ORDER BY id');
oracle('boolean = ANY with NULL',
	'SELECT id, b FROM {T} WHERE b = ANY (ARRAY[false, NULL]) OR b <> ALL (ARRAY[false, true]) ORDER BY id');
oracle('text IN under the default collation',
	q{SELECT id, t FROM {T} WHERE t IN ('apple', 'ß', ' space') ORDER BY id});
oracle('date and timestamptz = ANY', q{
	SELECT id FROM {T} WHERE d = ANY ('{2026-01-04, 2026-01-05, 0001-01-01}'::date[])
	  OR ts <> ALL (ARRAY[{v:ts:40}]) AND id < 10 ORDER BY id});
oracle('IS NULL and IS NOT NULL',
	'SELECT id, n IS NULL, s IS NOT NULL FROM {T} WHERE n IS NULL OR s IS NULL ORDER BY id');
oracle('whole-row IS NULL and IS NOT NULL',
	'SELECT id FROM {T} x WHERE x IS NOT NULL OR NOT (x IS NULL) AND id < 20 ORDER BY id');
oracle('arithmetic: n + 1 > 5 and n * 2 =',
	'SELECT id, n FROM {T} WHERE n + 1 > 5 AND (n * 2 = {v:n:6} * 2 OR n - id < 0) ORDER BY id');
oracle('arithmetic: -n, abs, %',
	'SELECT id, n FROM {T} WHERE -n > 100 AND abs(n) < 600 AND n % 7 = -3 ORDER BY id');
oracle('bigint arithmetic between columns and parameters',
	'SELECT id, n FROM {T} WHERE n - id > 900 OR n * 3::bigint = {v:n:5} * 3 OR id + n = 0 ORDER BY id');
oracle('bigint overflow in a filter fails on both',
	'SELECT id FROM {T} WHERE n * 4::bigint > 0 ORDER BY id', fails => 1);
oracle('bigint overflow in an addition fails on both',
	'SELECT count(*) FROM {T} WHERE n + 9223372036854775000::bigint > 0', fails => 1);
oracle('bigint against numeric constants',
	'SELECT id, n FROM {T} WHERE n > 5.5 AND n < 900.0 AND n <> 42.000 ORDER BY id');
oracle('two columns compared', 'SELECT id, n FROM {T} WHERE n < id ORDER BY id');
oracle('row comparison', 'SELECT id, n FROM {T} WHERE (n, id) > (990, 0) ORDER BY id');
oracle('coalesce and IS DISTINCT FROM',
	'SELECT id FROM {T} WHERE coalesce(n, 0) = 0 OR n IS DISTINCT FROM id ORDER BY id LIMIT 50');

# --- text filters ------------------------------------------------------

oracle('text = and <>',
	q{SELECT id, s FROM {T} WHERE s = 'abc' OR (s <> 'abc' AND id < 30) ORDER BY id});
oracle('text < and >= under C',
	q{SELECT id, s FROM {T} WHERE s < 'b' AND s >= 'a' ORDER BY id});
oracle('text > a non-ASCII bound under C', q{SELECT id, s FROM {T} WHERE s > 'é' ORDER BY id});
oracle('text range under C', q{SELECT id, s FROM {T} WHERE s > 'w050' AND s <= 'w060' ORDER BY id});
oracle('text ordering under ICU',
	q{SELECT id, s FROM {T} WHERE s COLLATE "und-x-icu" < 'b' ORDER BY id});
oracle('text ordering under the default (ICU) collation',
	q{SELECT id, t FROM {T} WHERE t > 'Banana' AND t <= 'zebra' ORDER BY id});
oracle('text ordering under an explicit C collation',
	q{SELECT id, t FROM {T} WHERE t < 'b' COLLATE "C" ORDER BY t COLLATE "C", id LIMIT 8});
oracle('text equality under a nondeterministic collation',
	q{SELECT id, s FROM {T} WHERE s = 'abc' COLLATE ci OR s = 'ss' COLLATE ci ORDER BY id});
oracle('IN under a nondeterministic collation',
	q{SELECT id, s FROM {T} WHERE s COLLATE ci IN ('abc', 'ss', 'école') ORDER BY id});
oracle('empty and blank strings',
	q{SELECT id, s FROM {T} WHERE s = '' OR s = ' ' OR s <> '' AND id <= 22 ORDER BY id});
oracle('quote, backslash and newline',
	qq{SELECT id FROM {T} WHERE s = E'a\\'b\\nc' OR s = 'back\\slash' ORDER BY id});
oracle('an injection attempt is a value',
	q{SELECT id, s FROM {T} WHERE s = 'x'' OR 1=1 --' ORDER BY id});
oracle('another injection attempt',
	q{SELECT id, s FROM {T} WHERE s = '''; DROP TABLE local_t; --' OR s = '`tick`' ORDER BY id});
oracle('parameter look-alikes', q{SELECT id, s FROM {T} WHERE s IN ('@p1', '?') ORDER BY id});
oracle('control characters',
	q{SELECT id FROM {T} WHERE s = E'tab\there' OR s = E'cr\rlf' OR s = E'\x01ctl' OR s = E'\x7fdel' ORDER BY id});
oracle('unicode equality',
	q{SELECT id, s FROM {T} WHERE s = '日本' OR s = '😀 emoji' OR s = 'é' OR s = E'e\u0301cole' ORDER BY id});
oracle('text IN with NULL',
	q{SELECT id, s FROM {T} WHERE s IN ('abc', 'ABC', '', NULL) ORDER BY id});
oracle('text NOT IN', q{SELECT id FROM {T} WHERE s NOT IN ('abc', '') ORDER BY id});
oracle('text = ANY(ARRAY)',
	q{SELECT id, s FROM {T} WHERE s = ANY (ARRAY['a''b', 'a"b', 'back\slash']) ORDER BY id});
oracle('LIKE prefix', q{SELECT id, s FROM {T} WHERE s LIKE 'w05%' ORDER BY id});
oracle('LIKE infix and suffix',
	q{SELECT id, s FROM {T} WHERE s LIKE '%é%' OR s LIKE '%off' ORDER BY id});
oracle('LIKE _ is one character',
	q{SELECT id, s FROM {T} WHERE s LIKE '_' OR s LIKE '__' ORDER BY id});
oracle('LIKE with a_b', q{SELECT id, s FROM {T} WHERE s LIKE 'a_b' ORDER BY id});
oracle('LIKE with escaped % and _',
	q{SELECT id, s FROM {T} WHERE s LIKE '%\%%' OR s LIKE 'a\_b' ORDER BY id});
oracle('LIKE matching a backslash', q{SELECT id, s FROM {T} WHERE s LIKE '%\\\\%' ORDER BY id});
oracle('LIKE with escaped backslashes and a needless escape',
	q{SELECT id, s FROM {T} WHERE s LIKE '\\\\' OR s LIKE '\\\\\\\\' OR s LIKE 'back\\\\%' OR s LIKE '\\a_b' ORDER BY id});
oracle('LIKE with ESCAPE',
	q{SELECT id, s FROM {T} WHERE s LIKE 'a#%b' ESCAPE '#' OR s LIKE '#_' ESCAPE '#' ORDER BY id});
oracle('LIKE without escape character',
	q{SELECT id, s FROM {T} WHERE s LIKE 'a\%b' ESCAPE '' ORDER BY id});
oracle('LIKE is case-sensitive',
	q{SELECT id, s FROM {T} WHERE s LIKE 'ab%' OR s LIKE 'É%' ORDER BY id});
oracle('LIKE across a newline', q{SELECT id FROM {T} WHERE s LIKE 'line1%line2' ORDER BY id});
oracle('NOT LIKE', q{SELECT id FROM {T} WHERE s NOT LIKE 'w%' ORDER BY id});
oracle('LIKE empty and %',
	q{SELECT id FROM {T} WHERE s LIKE '' OR (s LIKE '%' AND id > 590) ORDER BY id});
oracle('LIKE on the default collation',
	q{SELECT id, t FROM {T} WHERE t LIKE '_b%' OR t LIKE 'É%' ORDER BY id});
oracle('ILIKE ASCII', q{SELECT id, s FROM {T} WHERE s ILIKE 'abc' OR s ILIKE '%GREEN' ORDER BY id});
oracle('ILIKE non-ASCII under C',
	q{SELECT id, s FROM {T} WHERE s ILIKE 'é%' OR s ILIKE '%COLE' ORDER BY id});
oracle('ILIKE non-ASCII under ICU',
	q{SELECT id, t FROM {T} WHERE t ILIKE 'éCLAIR' OR t ILIKE 'SS' ORDER BY id});
oracle('NOT ILIKE', q{SELECT id FROM {T} WHERE s NOT ILIKE '%E%' ORDER BY id});
oracle('regular expression', q{SELECT id, s FROM {T} WHERE s ~ '^w0[0-4]' ORDER BY id});
oracle('text functions',
	q{SELECT id, s FROM {T} WHERE length(s) = 2 OR lower(s) = 'abc' OR upper(s) LIKE 'É%' OR s || 'x' = 'zzzx' ORDER BY id});
oracle('text column against text column',
	q{SELECT id FROM {T} WHERE s = cat OR s < t COLLATE "C" ORDER BY id});

# --- string functions and conditionals ---------------------------------

oracle('lower and upper under C change ASCII letters only', q{
	SELECT id, s FROM {T} WHERE lower(s) = 'abc' OR upper(s) = 'ÉCOLE' OR lower(s) LIKE '%été%' OR upper(s) = 'İSTANBUL' ORDER BY id});
oracle('lower(x) LIKE under C',
	q{SELECT id, s FROM {T} WHERE lower(s) LIKE 'w0%green' OR lower(s) NOT LIKE '%e%' ORDER BY id});
oracle('lower and upper of non-ASCII letters under C',
	q{SELECT id, s FROM {T} WHERE lower(s) IN ('ß', 'ss', 'ǅ', 'ωmega', 'Ωmega', 'école', 'ÉCOLE') ORDER BY id});
oracle('lower under an explicit C collation of a default-collation column',
	q{SELECT id, t FROM {T} WHERE lower(t COLLATE "C") = 'éclair' OR upper(t COLLATE "C") = 'ZEBRA' ORDER BY id});
oracle('lower and ILIKE under ICU, locally',
	q{SELECT id, t FROM {T} WHERE lower(t) = 'éclair' OR upper(t) = 'SS' OR t ILIKE 'ÉC%' ORDER BY id});
oracle('ILIKE under C with hostile patterns',
	q{SELECT id, s FROM {T} WHERE s ILIKE 'A\_B' OR s ILIKE '%\%%' OR s ILIKE 'İ%' OR s ILIKE 'ÉCOLE' ORDER BY id});
oracle('NOT ILIKE under C with NULLs', q{SELECT count(*) FROM {T} WHERE s NOT ILIKE '%W0%'});
oracle('length counts characters',
	q{SELECT id, s FROM {T} WHERE length(s) <= 2 OR char_length(s) = 7 OR character_length(t) = 6 ORDER BY id});
oracle('substr and substring, positions from 0 and below', q{
	SELECT id, s FROM {T} WHERE substr(s, 0, 3) = 'w0' OR substring(s from -1 for 4) = '日本' OR substr(s, 2) = 'tilde' OR substr(s, 3, 0) IS NULL ORDER BY id});
oracle('substr of non-ASCII characters',
	q{SELECT id, s FROM {T} WHERE substr(s, 2, 1) = '本' OR substr(s, 1, 1) = 'é' OR substring(s, 3) = 'ole' ORDER BY id});
oracle('substr with parameters, generic plan', q{
	SET plan_cache_mode = force_generic_plan;
	PREPARE q(int, int) AS SELECT id, s FROM {T} WHERE substr(s, $1, $2) = 'w0' OR substr(s, $1, $2) = '' AND id < 20 ORDER BY id;
	EXECUTE q(1, 2); EXECUTE q(0, 3); EXECUTE q(-1, 4); EXECUTE q(-5, 2); EXECUTE q(2, 0);
	EXECUTE q(1, NULL); EXECUTE q(NULL, 2); EXECUTE q(2147483647, 2147483647); EXECUTE q(-2147483648, 2147483647);
	EXECUTE q(-2147483647, 2147483647); EXECUTE q(1, 2147483647);});
oracle('substr with a negative length fails', q{SELECT count(*) FROM {T} WHERE substr(s, 1, -1) = 'x'}, fails => 1);
oracle('substr with a negative length parameter fails', q{
	PREPARE q(int) AS SELECT count(*) FROM {T} WHERE substr(s, 2, $1) = 'x'; EXECUTE q(-3);}, fails => 1);
oracle('substr with a negative length of NULL strings only',
	q{SELECT count(*) FROM {T} WHERE s IS NULL AND substr(s, 1, -1) IS NULL});
oracle('|| of text is NULL with a NULL',
	q{SELECT id FROM {T} WHERE s || t = 'abcApple' OR (s || t) IS NULL AND id < 40 OR s || '' = '' ORDER BY id});
oracle('concat skips NULLs',
	q{SELECT id FROM {T} WHERE concat(s, t) = 'apple' OR concat(s, NULL, cat) = 'abcalpha' OR concat(NULL::text, NULL::text) = '' AND id < 5 ORDER BY id});
oracle('concat of hostile strings',
	q{SELECT id, s FROM {T} WHERE concat(s, '''x') = 'a''b''x' OR concat(s, '@p1') = '@p1@p1' OR s || E'\n' = E'line1\nline2\n' ORDER BY id});
oracle('btrim, ltrim and rtrim of spaces only',
	q{SELECT id, s FROM {T} WHERE btrim(s) IN ('lead', 'trail', 'both', '', 'nbsp') OR rtrim(s) = E'\u00a0nbsp' OR ltrim(s) = E'\u00a0nbsp' OR rtrim(s) = 'w050' ORDER BY id});
oracle('trims of a character set',
	q{SELECT id, s FROM {T} WHERE btrim(s, 'w0') = '50' OR ltrim(s, 'a_') = 'b' OR rtrim(s, '語テキスト') = '日本' OR trim(both 'é' from s) = 'cole' ORDER BY id});
oracle('replace, with an empty pattern too',
	q{SELECT id, s FROM {T} WHERE replace(s, 'w0', 'X') = 'X50' OR replace(s, '', 'x') = 'abc' OR replace(s, '%', '\\') = '100\\' ORDER BY id});
oracle('starts_with', q{SELECT id, s FROM {T} WHERE starts_with(s, 'w05') OR starts_with(s, '日') OR starts_with(s, '') AND id < 4 ORDER BY id});
oracle('strpos counts characters and finds the empty string at 1', q{
	SELECT id, s, strpos(s, 'b') FROM {T} WHERE strpos(s, 'b') = 3 OR strpos(s, '本') = 2 OR strpos(s, '') = 1 AND id < 25 OR strpos(s, 'w0') = 0 AND id < 90 ORDER BY id});
oracle('strpos with parameters, generic plan', q{
	SET plan_cache_mode = force_generic_plan;
	PREPARE q(text) AS SELECT count(*), sum(strpos(s, $1)) FROM {T} WHERE strpos(s, $1) > 1;
	EXECUTE q('b'); EXECUTE q(''); EXECUTE q(NULL); EXECUTE q('ü');});
oracle('text functions with parameters, generic plan', q{
	SET plan_cache_mode = force_generic_plan;
	PREPARE q(text, text) AS SELECT id, s FROM {T} WHERE starts_with(s, $1) OR replace(s, $1, $2) = 'Zabc' OR btrim(s, $2) = 'b' ORDER BY id;
	EXECUTE q('w09', 'a'); EXECUTE q('x'' OR 1=1 --', '@p1'); EXECUTE q(NULL, 'a'); EXECUTE q('', ''); EXECUTE q('A', 'Z');});
oracle('COALESCE of text',
	q{SELECT id, s, t FROM {T} WHERE coalesce(s, t) = 'apple' OR coalesce(s, t, 'none') = 'none' OR coalesce(s, '') = '' ORDER BY id});
oracle('COALESCE of bigint and boolean',
	'SELECT id FROM {T} WHERE coalesce(n, -1) < -990 OR coalesce(b, id > 595) ORDER BY id');
oracle('searched CASE', q{
	SELECT id FROM {T} WHERE CASE WHEN n > 990 THEN 'big' WHEN n < -990 THEN 'small' WHEN n IS NULL THEN 'none' END IN ('big', 'small') ORDER BY id});
oracle('searched CASE without ELSE is NULL',
	q{SELECT id FROM {T} WHERE (CASE WHEN n > 0 THEN 'pos' END) IS NULL AND id < 30 ORDER BY id});
oracle('simple CASE of text',
	q{SELECT id FROM {T} WHERE CASE cat WHEN 'alpha' THEN 1 WHEN 'Alpha' THEN 2 WHEN NULL THEN 3 ELSE 4 END >= 2 AND id < 40 ORDER BY id});
oracle('simple CASE of floats with NaN',
	q{SELECT id, g FROM {T} WHERE CASE g WHEN 'NaN' THEN 'nan' WHEN 0 THEN 'zero' WHEN '-Infinity' THEN 'neg' ELSE 'other' END <> 'other' ORDER BY id});
oracle('CASE as a condition', q{
	SELECT id FROM {T} WHERE CASE WHEN s IS NULL THEN b ELSE length(s) = 1 END ORDER BY id});
oracle('nested CASE with a simple CASE inside a searched one', q{
	SELECT id FROM {T} WHERE CASE WHEN id < 50 THEN CASE cat WHEN 'beta' THEN 'B' ELSE lower(cat) END ELSE 'x' END IN ('B', 'gamma') ORDER BY id});
oracle('NULLIF', q{
	SELECT id FROM {T} WHERE nullif(s, '') IS NULL OR nullif(n, 0) IS NULL OR nullif(g, 'NaN') IS NULL AND g IS NOT NULL ORDER BY id});
oracle('CASE with parameters, generic plan', q{
	SET plan_cache_mode = force_generic_plan;
	PREPARE q(bigint, text) AS SELECT id FROM {T} WHERE CASE WHEN n > $1 THEN $2 ELSE cat END = 'beta' ORDER BY id;
	EXECUTE q(900, 'beta'); EXECUTE q(NULL, 'beta'); EXECUTE q(0, NULL); EXECUTE q(990, 'gamma');});
oracle('GROUP BY a CASE', q{
	SELECT CASE WHEN n > 0 THEN 'pos' WHEN n < 0 THEN 'neg' ELSE 'zero or null' END AS sign, count(*), sum(id)
	FROM {T} GROUP BY 1 ORDER BY 1});
oracle('GROUP BY a COALESCE and a lower()',
	q{SELECT coalesce(cat, 'none'), lower(cat), count(*) FROM {T} GROUP BY 1, 2 ORDER BY 1, 2});
oracle('GROUP BY length and substr',
	q{SELECT length(s), substr(s, 1, 1), count(*) FROM {T} WHERE s LIKE 'w%' GROUP BY 1, 2 ORDER BY 1, 2});
oracle('GROUP BY a concat, HAVING', q{
	SELECT concat(cat, '/', b::text) c, count(*) FROM {T} GROUP BY 1 HAVING count(*) > 10 ORDER BY 1});
oracle('GROUP BY a concat of text', q{
	SELECT concat(cat, '/', cat) c, count(*) FROM {T} GROUP BY 1 ORDER BY 1});
oracle('text ordering under C.utf8', q{
	SELECT id, t FROM {T} WHERE t COLLATE "C.utf8" > 'Banana' AND t COLLATE "C.utf8" <= 'zebra' ORDER BY t COLLATE "C.utf8", id});
oracle('ORDER BY text under C.utf8 with LIMIT',
	q{SELECT id, s FROM {T} ORDER BY s COLLATE "C.utf8" DESC NULLS LAST, id LIMIT 25});
oracle('min and max under C.utf8',
	q{SELECT min(t COLLATE "C.utf8"), max(t COLLATE "C.utf8"), min(s COLLATE "C.utf8"), max(s COLLATE "C.utf8") FROM {T}});
oracle('GROUP BY with ORDER BY under C.utf8', q{
	SELECT t COLLATE "C.utf8", count(*) FROM {T} GROUP BY 1 ORDER BY 1 LIMIT 6});

# --- numeric and float filters -----------------------------------------

oracle('numeric =',
	'SELECT id, amount FROM {T} WHERE amount = {v:amount:3} OR amount = 0 ORDER BY id');
oracle('numeric < > BETWEEN',
	'SELECT id, amount FROM {T} WHERE amount > 500 AND amount < 600 OR amount BETWEEN -0.001 AND 0.001 ORDER BY id');
oracle('numeric with nine decimals',
	'SELECT id, amount FROM {T} WHERE amount = -0.000000001 OR amount = {v:amount:19} ORDER BY id');
oracle('numeric with 29 integer digits',
	'SELECT id, amount FROM {T} WHERE amount > 98765432109876543000 OR amount = -98765432109876543101.123456789 ORDER BY id');
oracle('numeric IN and IS NULL',
	'SELECT id FROM {T} WHERE amount IN ({v:amount:1}, {v:amount:4}) OR amount IS NULL ORDER BY id');
oracle('numeric(12,2)',
	q{SELECT id, price FROM {T} WHERE price >= 990.00 OR price = '12.3' OR price = {v:price:5} ORDER BY id});
oracle('numeric arithmetic',
	'SELECT id, amount FROM {T} WHERE amount * 2 > 1999 AND amount - price < 5000 ORDER BY id');
oracle('numeric against integer and float constants',
	'SELECT id FROM {T} WHERE amount > 100 AND amount < 200.5::float8 ORDER BY id');
oracle('numeric against constants past NUMERIC', q{
	SELECT id, amount FROM {T} WHERE amount BETWEEN -0.0000000015 AND 0.00000000100000000000000000001
	  OR amount > 98765432109876543200.1234567891 OR amount < -12345678901234567890123456789012345678.5 ORDER BY id});
oracle('numeric against NaN and infinity', q{
	SELECT count(*), count(*) FILTER (WHERE amount < 'NaN'), count(*) FILTER (WHERE amount < 'Infinity') FROM {T} WHERE amount <> 'NaN' AND amount > '-Infinity'});
oracle('float =, <, >=',
	'SELECT id, f FROM {T} WHERE f = {v:f:3} OR f < -450 OR f >= 449.75 ORDER BY id');
oracle('float zero and negative zero', 'SELECT id, f FROM {T} WHERE f = 0 ORDER BY id');
oracle('float IN and BETWEEN',
	'SELECT id, f FROM {T} WHERE f IN (0.25, 0.5, -0.75) OR f BETWEEN 10 AND 11 ORDER BY id');
oracle('NaN and infinities in filters',
	q{SELECT id, g FROM {T} WHERE g = 'NaN' OR g > 1e299 OR g = '-Infinity' ORDER BY id});
oracle('NaN is greater than everything', q{SELECT id, g FROM {T} WHERE g > 12 ORDER BY id});
oracle('float below infinity',
	q{SELECT id, g FROM {T} WHERE g < 'Infinity' AND g <> 0 ORDER BY id LIMIT 40});
oracle('float as text, locally', q{SELECT id, f FROM {T} WHERE f::text LIKE '%.25' ORDER BY id});

# --- float comparisons -------------------------------------------------

oracle('float <> and NOT with NaN',
	q{SELECT id, g FROM {T} WHERE g <> 0 AND NOT (g < 1e300) ORDER BY id});
oracle('NaN equals NaN', q{SELECT id, g FROM {T} WHERE g = 'NaN' OR g <> g ORDER BY id LIMIT 10});
oracle('everything is at most NaN',
	q{SELECT count(*), count(*) FILTER (WHERE g <= 'NaN'), count(*) FILTER (WHERE g < 'NaN') FROM {T} WHERE g <= 'NaN'});
oracle('NaN against NaN', q{SELECT count(*) FROM {T} WHERE g >= 'NaN'});
oracle('above Infinity is NaN', q{SELECT id, g FROM {T} WHERE g > 'Infinity' ORDER BY id LIMIT 5});
oracle('below -Infinity is nothing', q{SELECT count(*) FROM {T} WHERE g < '-Infinity' OR g <= '-Infinity'});
oracle('float column against float column',
	q{SELECT id, f, g FROM {T} WHERE f < g OR f = g OR (f >= g AND id < 60) ORDER BY id});
oracle('float columns unequal', q{SELECT count(*) FROM {T} WHERE f <> g});
oracle('float column against itself', q{SELECT count(*) FROM {T} WHERE g = g AND NOT (g < g) AND g <= g});
oracle('negative zero equals zero', q{SELECT id, g FROM {T} WHERE g = '-0' AND id < 100 ORDER BY id});
oracle('a constant on the left', q{SELECT id, g FROM {T} WHERE 1e300 < g OR 'NaN' <= g OR -1e300 > g ORDER BY id});
oracle('float IN without NaN',
	q{SELECT id, g FROM {T} WHERE g IN (0, 'Infinity', -12.5) OR g NOT IN (0, 1.5e308, 'NaN', -2.5e-300) AND id < 30 ORDER BY id});
oracle('float IN with NaN and NULL, locally',
	q{SELECT id FROM {T} WHERE g IN ('NaN', NULL) OR g NOT IN (0, NULL) ORDER BY id});
oracle('float NOT IN without NaN keeps NaN',
	q{SELECT count(*) FROM {T} WHERE g NOT IN (0, 1.5e308, 'Infinity')});
oracle('float BETWEEN with infinities', q{
	SELECT id, g FROM {T} WHERE g BETWEEN '-Infinity' AND 'Infinity' AND id < 40 OR g NOT BETWEEN -1 AND 'NaN' ORDER BY id});
oracle('float comparison with extra_float_digits -15 is exact', q{
	SET extra_float_digits = -15;
	SELECT id, f FROM {T} WHERE f > {v:f:3} - 1e-12 AND f < {v:f:3} + 1e-12 ORDER BY id;
	SELECT id, g FROM {T} WHERE g = 1.5e308 OR g = -2.5e-300 ORDER BY id LIMIT 5});
oracle('COALESCE and CASE of floats in comparisons', q{
	SELECT id, g FROM {T} WHERE coalesce(g, 'NaN') > 1e300 OR CASE WHEN id < 20 THEN g ELSE 0 END < -1 ORDER BY id});
oracle('prepared float parameter, generic plan', q{
	SET plan_cache_mode = force_generic_plan;
	PREPARE q(float8) AS SELECT count(*), count(*) FILTER (WHERE id < 100) FROM {T} WHERE g > $1;
	EXECUTE q(0); EXECUTE q('NaN'); EXECUTE q('Infinity'); EXECUTE q('-Infinity'); EXECUTE q(NULL);
	EXECUTE q('-0'); EXECUTE q(1.4999999999999999e308); EXECUTE q(-2.5e-300); EXECUTE q(4.9e-324);});
oracle('prepared float parameter with every comparison', q{
	SET plan_cache_mode = force_generic_plan;
	PREPARE q(float8) AS SELECT count(*) FILTER (WHERE g = $1), count(*) FILTER (WHERE g <> $1),
	  count(*) FILTER (WHERE g < $1), count(*) FILTER (WHERE g <= $1), count(*) FILTER (WHERE g >= $1)
	  FROM {T} WHERE g = $1 OR g <> $1 OR g IS NULL;
	EXECUTE q('NaN'); EXECUTE q('Infinity'); EXECUTE q('-Infinity'); EXECUTE q(0); EXECUTE q(NULL);});
oracle('prepared float parameters on both sides', q{
	SET plan_cache_mode = force_generic_plan;
	PREPARE q(float8, float8) AS SELECT id, f, g FROM {T} WHERE g <= $1 AND f >= $2 AND id < 80 ORDER BY id;
	EXECUTE q('NaN', 0); EXECUTE q('NaN', 'NaN'); EXECUTE q(12, '-Infinity'); EXECUTE q(NULL, 0); EXECUTE q('Infinity', NULL);});
oracle('ORDER BY float with NaN, each direction', q{
	SELECT id, g FROM {T} ORDER BY g, id LIMIT 12;
	SELECT id, g FROM {T} ORDER BY g DESC, id LIMIT 12;
	SELECT id, g FROM {T} ORDER BY g NULLS FIRST, id LIMIT 12;
	SELECT id, g FROM {T} ORDER BY g DESC NULLS LAST, id LIMIT 12});
oracle('ORDER BY float with NaN + OFFSET',
	'SELECT id, g FROM {T} WHERE id > 500 ORDER BY g DESC, id LIMIT 8 OFFSET 5');
oracle('ORDER BY two float keys', 'SELECT id, f, g FROM {T} ORDER BY g, f DESC, id LIMIT 30');
oracle('float grouping keys, locally',
	q{SELECT g, count(*) FROM {T} WHERE g IN (0, 'NaN', 'Infinity') OR g IS NULL GROUP BY g ORDER BY g});
oracle('float min, max and DISTINCT, locally',
	q{SELECT min(g), max(g), count(DISTINCT g) FROM {T}});

# --- booleans ----------------------------------------------------------

oracle('boolean column alone', 'SELECT id FROM {T} WHERE b ORDER BY id');
oracle('boolean column negated', 'SELECT id FROM {T} WHERE NOT b ORDER BY id');
oracle('boolean = false and <> true',
	'SELECT id, b FROM {T} WHERE b = false OR b <> true ORDER BY id');
oracle('IS TRUE, IS NOT TRUE, IS UNKNOWN',
	'SELECT id, b IS TRUE, b IS NOT TRUE, b IS UNKNOWN FROM {T} WHERE b IS NOT TRUE ORDER BY id');
oracle('IS DISTINCT FROM true', 'SELECT id FROM {T} WHERE b IS DISTINCT FROM true ORDER BY id');
oracle('boolean IS NULL', 'SELECT id FROM {T} WHERE b IS NULL ORDER BY id');

# --- dates -------------------------------------------------------------

oracle('date = and <>',
	q{SELECT id, d FROM {T} WHERE d = {v:d:20} OR d = '2024-02-29' ORDER BY id});
oracle('date < and >=',
	q{SELECT id, d FROM {T} WHERE d < '2025-12-05' OR d >= date '2026-03-28' ORDER BY id});
oracle('date at the ends of the range',
	q{SELECT id, d FROM {T} WHERE d = '0001-01-01' OR d > '9999-12-30' ORDER BY id});
oracle('date BETWEEN and IN',
	q{SELECT id, d FROM {T} WHERE d BETWEEN '2026-01-01' AND '2026-01-03' OR d IN ('2025-12-25', '2026-02-14') ORDER BY id});
oracle('date literal under DateStyle DMY',
	q{SET DateStyle = 'SQL, DMY'; SELECT id, d FROM {T} WHERE d < '05/12/2025' ORDER BY id});
oracle('date against timestamptz under New York', q{
	SET TimeZone = 'America/New_York';
	SELECT id, d FROM {T} WHERE d < '2025-12-03 12:00'::timestamptz ORDER BY id});
oracle('date arithmetic',
	q{SELECT id, d FROM {T} WHERE d + 1 = '2025-12-25' OR d - 7 > '2026-03-22'::date ORDER BY id});
oracle('date against an immutable expression',
	q{SELECT id, d FROM {T} WHERE d > '2026-04-01'::date - 5 ORDER BY id});
oracle('extract from a date',
	'SELECT id, d FROM {T} WHERE extract(dow FROM d) = 0 AND id < 200 ORDER BY id');
oracle('date against the timestamp column',
	q{SET TimeZone = 'America/New_York'; SELECT id FROM {T} WHERE d = ts::date ORDER BY id});

# --- timestamps --------------------------------------------------------

oracle('timestamptz = a microsecond value',
	q{SELECT id, ts FROM {T} WHERE ts = {v:ts:25} OR ts = {v:ts:26} ORDER BY id});
oracle('timestamptz one microsecond off', q{
	SELECT id FROM {T} WHERE ts = {v:ts:25} + interval '1 microsecond'
	  OR (ts > {v:ts:26} - interval '1 microsecond' AND ts < {v:ts:26} + interval '1 microsecond') ORDER BY id});
oracle('timestamptz < and >',
	q{SELECT id, ts FROM {T} WHERE ts > '2026-07-30 00:00:00.000001+00' OR ts < '2025-12-01 12:00:00-05' ORDER BY id});
oracle('timestamptz before 1970 and at the ends',
	q{SELECT id, ts FROM {T} WHERE ts < '1970-01-01' OR ts > '9999-12-31' ORDER BY id});
oracle('timestamptz literal read in New York', q{
	SET TimeZone = 'America/New_York';
	SELECT id, ts FROM {T} WHERE ts >= '2026-01-10' AND ts < '2026-01-11' ORDER BY id});
oracle('timestamptz BETWEEN and IN', q{
	SELECT id, ts FROM {T} WHERE ts BETWEEN '2026-01-01' AND '2026-01-02 12:00:00.5+00' OR ts IN ({v:ts:100}, {v:ts:101}) ORDER BY id});
oracle('timestamptz = ANY(ARRAY)',
	q{SELECT id FROM {T} WHERE ts = ANY (ARRAY[{v:ts:200}, {v:ts:201}, NULL]::timestamptz[]) ORDER BY id});
oracle('stable expression: a timestamp minus a day', q{
	SELECT id, ts FROM {T} WHERE ts > '2026-01-01'::timestamptz - interval '1 day' AND ts < '2026-01-02' ORDER BY id});
oracle('stable expression across a DST change in New York', q{
	SET TimeZone = 'America/New_York';
	SELECT id, ts FROM {T} WHERE ts >= '2026-03-09 01:30'::timestamptz - interval '1 day' AND ts < '2026-03-09 01:30'::timestamptz ORDER BY id});
oracle('date_trunc hour', q{
	SELECT id, ts FROM {T} WHERE date_trunc('hour', ts) = date_trunc('hour', {v:ts:30})
	  OR date_trunc('hour', ts) = '2026-01-02 05:00+00' OR date_trunc('hour', ts) = '2026-02-01 14:00+00' ORDER BY id});
oracle('date_trunc day in New York', q{
	SET TimeZone = 'America/New_York';
	SELECT id, ts FROM {T} WHERE date_trunc('day', ts) = '2026-01-05' ORDER BY id});
oracle('timestamptz to date in Tokyo',
	q{SET TimeZone = 'Asia/Tokyo'; SELECT id, ts FROM {T} WHERE ts::date = '2026-01-05' ORDER BY id});
oracle('extract hour in New York',
	q{SET TimeZone = 'America/New_York'; SELECT id FROM {T} WHERE extract(hour FROM ts) = 3 ORDER BY id});
oracle('AT TIME ZONE',
	q{SELECT id FROM {T} WHERE ts AT TIME ZONE 'UTC' > '2026-07-25' ORDER BY id});
oracle('timestamptz against the date column',
	q{SET TimeZone = 'Pacific/Auckland'; SELECT id FROM {T} WHERE ts > d ORDER BY id LIMIT 30});
oracle('date_trunc in UTC', q{
	SET TimeZone = 'America/New_York';
	SELECT id, ts FROM {T} WHERE date_trunc('day', ts, 'UTC') = '2026-01-05 00:00+00'
	  OR date_trunc('hour', ts, 'Etc/UTC') = date_trunc('hour', {v:ts:77}, 'UTC') ORDER BY id});
oracle('date_trunc in UTC before 1970 and at the ends of the range', q{
	SELECT id, ts FROM {T} WHERE date_trunc('second', ts, 'UTC') < '1970-01-01'
	  OR date_trunc('milliseconds', ts, 'UTC') = '1969-12-31 23:59:59.999+00'
	  OR date_trunc('year', ts, 'GMT') >= '9999-01-01+00' ORDER BY id});
oracle('date_trunc in UTC, month, quarter and year', q{
	SELECT id FROM {T} WHERE date_trunc('month', ts, 'UTC') = '2026-02-01+00'
	  OR date_trunc('quarter', ts, 'UTC') = '2025-10-01+00' OR date_trunc('year', ts, 'UTC') = '0001-01-01+00' ORDER BY id});
oracle('date_trunc in UTC IS NULL',
	q{SELECT id FROM {T} WHERE date_trunc('day', ts, 'UTC') IS NULL ORDER BY id});
oracle('date_trunc in another zone', q{
	SET TimeZone = 'UTC';
	SELECT id, ts FROM {T} WHERE date_trunc('day', ts, 'Australia/Lord_Howe') = '2026-04-05 00:00 Australia/Lord_Howe'
	  OR date_trunc('day', ts, 'America/New_York') = '2026-03-08 00:00 America/New_York' ORDER BY id});

# --- time zones and time buckets ---------------------------------------

# Bounds past BigQuery's range (0001-01-01 to 9999-12-31 UTC), as constants,
# stable expressions and generic plans' parameters: PostgreSQL answers, so
# must the FDW (issue 16, failure 3: "timestamp out of BigQuery's range").
oracle('bounds past the range: infinity', q{
	SELECT id FROM {T} WHERE ts < 'infinity' AND ts > '-infinity' AND d < 'infinity' AND d > '-infinity'::date ORDER BY id});
oracle('bounds past the range: year 10000 and BC', q{
	SELECT id FROM {T} WHERE ts < '10000-01-01' AND ts >= '0100-01-01 BC' AND d <= '10000-01-01'::date AND d > '0001-12-31 BC'::date ORDER BY id});
oracle('bounds past the range: always false ones', q{
	SELECT id FROM {T} WHERE ts > 'infinity' OR ts <= '-infinity' OR ts = 'infinity' OR d >= '10000-01-01'::date OR d < '0001-01-01 BC'::date ORDER BY id});
oracle('bounds past the range: <> and NOT', q{
	SELECT id, ts IS NULL FROM {T} WHERE (ts <> 'infinity' AND NOT (d = '-infinity')) OR id = 19 ORDER BY id});
oracle('bounds past the range: a stable expression', q{
	SELECT id FROM {T} WHERE ts < 'infinity'::timestamptz - interval '1 day' AND ts > '-infinity'::timestamptz + interval '1 day'
	  AND id < 40 ORDER BY id});
oracle('bounds past the range: an array keeps them local',
	q{SELECT id FROM {T} WHERE ts = ANY (ARRAY['infinity', {v:ts:3}, NULL]::timestamptz[]) OR d = ANY ('{-infinity, 2024-02-29}'::date[]) ORDER BY id});
oracle('bounds past the range: generic plans', q{
	SET plan_cache_mode = force_generic_plan;
	PREPARE lt(timestamptz) AS SELECT id FROM {T} WHERE ts < $1 AND id < 60 ORDER BY id;
	PREPARE le(timestamptz) AS SELECT id FROM {T} WHERE ts <= $1 AND id < 60 ORDER BY id;
	PREPARE gt(timestamptz) AS SELECT id FROM {T} WHERE ts > $1 AND id < 60 ORDER BY id;
	PREPARE ge(timestamptz) AS SELECT id FROM {T} WHERE $1 <= ts AND id < 60 ORDER BY id;
	PREPARE eq(timestamptz) AS SELECT id FROM {T} WHERE ts = $1 AND id < 60 ORDER BY id;
	PREPARE ne(timestamptz) AS SELECT id FROM {T} WHERE ts <> $1 AND id < 60 ORDER BY id;
	EXECUTE lt('infinity'); EXECUTE lt('-infinity'); EXECUTE lt('10000-01-01'); EXECUTE lt(NULL);
	EXECUTE lt('9999-12-31 23:59:59.999999+00'); EXECUTE lt('0001-01-01 00:00:00.000001+00'); EXECUTE lt('2026-01-01');
	EXECUTE le('infinity'); EXECUTE le('-infinity'); EXECUTE le('0001-01-01 00:00+00'); EXECUTE le('0001-12-31 BC'); EXECUTE le(NULL);
	EXECUTE gt('infinity'); EXECUTE gt('-infinity'); EXECUTE gt('9999-12-31 23:59:59.999998+00'); EXECUTE gt('9999-12-31 23:59:59.999999+00');
	EXECUTE gt('0001-12-31 BC'); EXECUTE gt(NULL);
	EXECUTE ge('infinity'); EXECUTE ge('-infinity'); EXECUTE ge('9999-12-31 23:59:59.999999+00'); EXECUTE ge('10000-01-01'); EXECUTE ge(NULL);
	EXECUTE eq('infinity'); EXECUTE eq('0001-01-01 00:00+00'); EXECUTE eq('9999-12-31 23:59:59.999999+00'); EXECUTE eq(NULL);
	EXECUTE ne('infinity'); EXECUTE ne('-infinity'); EXECUTE ne({v:ts:14}); EXECUTE ne(NULL);});
oracle('bounds past the range: generic plans of dates', q{
	SET plan_cache_mode = force_generic_plan;
	PREPARE r(date, date) AS SELECT id FROM {T} WHERE d > $1 AND d < $2 AND id < 60 ORDER BY id;
	PREPARE n(date) AS SELECT id FROM {T} WHERE d <> $1 AND id < 30 ORDER BY id;
	EXECUTE r('-infinity', 'infinity'); EXECUTE r('0001-01-01', '9999-12-31'); EXECUTE r('0001-12-31 BC', '10000-01-01');
	EXECUTE r('infinity', '-infinity'); EXECUTE r(NULL, 'infinity'); EXECUTE r('2026-01-01', NULL);
	EXECUTE n('infinity'); EXECUTE n('0001-01-01'); EXECUTE n(NULL);});
oracle('bounds past the range in HAVING', q{
	SELECT cat, count(*) FROM {T} GROUP BY cat HAVING max(ts) < 'infinity' AND min(d) > '-infinity' ORDER BY cat});

# A table of its own: timestamps around every transition of zones with odd
# offsets and DST rules (30-minute shifts, negative DST, Ramadan, historic
# ones, before 1970), each transition found here by PostgreSQL and sampled
# from a microsecond to a day on either side.
my @tz_zones = ('Asia/Kathmandu', 'Australia/Lord_Howe', 'America/St_Johns', 'Pacific/Chatham',
	'Europe/Dublin', 'Africa/Casablanca', 'America/Sao_Paulo', 'America/New_York');
{
	my $zones = join(', ', map { "'$_'" } @tz_zones);
	decode_json(http('POST', "$api/datasets/oracle/tables", encode_json({
		tableReference => { tableId => 'oracle_tz' },
		schema => { fields => [
			{ name => 'id', type => 'INT64', mode => 'REQUIRED' },
			{ name => 'ts', type => 'TIMESTAMP' } ] } })));
	$node->safe_psql('postgres', qq{
		CREATE TABLE local_t_tz (id bigint NOT NULL, ts timestamptz);
		WITH hours AS (
			SELECT z, h, (h AT TIME ZONE z) - (h AT TIME ZONE 'UTC') AS off
			FROM unnest(ARRAY[$zones]) z,
			  unnest(ARRAY[1968, 1971, 1986, 2018, 2019, 2025, 2026]) y,
			  generate_series(make_timestamptz(y, 1, 1, 0, 0, 0, 'UTC'),
				make_timestamptz(y + 1, 1, 1, 0, 0, 0, 'UTC'), '1 hour') h),
		shifted AS (
			SELECT z, h, off FROM (SELECT z, h, off, lag(off) OVER (PARTITION BY z ORDER BY h) AS prev FROM hours) x
			WHERE off <> prev),
		transitions AS (
			SELECT DISTINCT ON (s.z, s.h) m AS t
			FROM shifted s, generate_series(s.h - interval '59 minutes', s.h, '1 minute') m
			WHERE (m AT TIME ZONE s.z) - (m AT TIME ZONE 'UTC') = s.off
			ORDER BY s.z, s.h, m),
		samples AS (
			SELECT DISTINCT t + o AS ts FROM transitions,
			  unnest(ARRAY['-1 day', '-12 hours', '-90 minutes', '-1 hour', '-45 minutes', '-31 minutes',
				'-30 minutes', '-15 minutes', '-1 minute', '-1 microsecond', '0', '1 microsecond',
				'1 minute', '15 minutes', '30 minutes', '45 minutes', '1 hour', '90 minutes',
				'12 hours', '1 day']::interval[]) o)
		INSERT INTO local_t_tz SELECT row_number() OVER (ORDER BY ts), ts FROM samples;
		INSERT INTO local_t_tz SELECT max(id) + 1, NULL FROM local_t_tz;
		INSERT INTO local_t_tz SELECT max(id) + 1, '1969-12-31 23:59:59.999999+00' FROM local_t_tz;
		-- a microsecond before epoch buckets of 200 and 300 seconds far from 1970,
		-- where PostgreSQL's numeric division rounds up to the next bucket
		INSERT INTO local_t_tz SELECT max(id) + row_number() OVER (ORDER BY s), to_timestamp(s) - interval '1 microsecond'
		FROM local_t_tz, unnest(ARRAY[30100000200, -30100000200, 20100000000, 20100000200, -20100000200]) s GROUP BY s;
		ANALYZE local_t_tz;
		CREATE FOREIGN TABLE remote_t_tz (id bigint NOT NULL, ts timestamptz)
		  SERVER bq OPTIONS ("table" 'oracle_tz');
	});
	is($node->safe_psql('postgres', 'INSERT INTO remote_t_tz SELECT * FROM local_t_tz'), '',
		'the transitions table is stored through the FDW');
	cmp_ok($node->safe_psql('postgres', 'SELECT count(*) FROM remote_t_tz'), '>', 1000,
		'with a thousand timestamps or more');
}

# {T}_tz is local_t_tz or remote_t_tz
for my $zone (@tz_zones, 'UTC')
{
	oracle("date_trunc in $zone: day and hour", qq{
		SET TimeZone = '$zone';
		SELECT date_trunc('day', ts), date_trunc('hour', ts), count(*), min(id) FROM {T}_tz GROUP BY 1, 2 ORDER BY 1, 2});
	oracle("date_trunc in $zone: week, month, quarter, year", qq{
		SET TimeZone = '$zone'; SET DateStyle = 'SQL, DMY';
		SELECT date_trunc('week', ts), date_trunc('month', ts), date_trunc('quarter', ts), date_trunc('year', ts), count(*)
		FROM {T}_tz GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4});
	oracle("date_trunc in $zone: minute and second", qq{
		SET TimeZone = '$zone'; SET DateStyle = 'German';
		SELECT date_trunc('minute', ts), date_trunc('second', ts), count(*) FROM {T}_tz GROUP BY 1, 2 ORDER BY 1, 2});
	oracle("date_trunc in $zone, in WHERE", qq{
		SET TimeZone = '$zone';
		SELECT id, ts FROM {T}_tz WHERE date_trunc('day', ts) = '2026-04-05' OR date_trunc('hour', ts) = '2025-10-05 02:00'
		  OR date_trunc('minute', ts) <= '1968-02-01' OR date_trunc('month', ts) = '2018-11-01' ORDER BY id});
	oracle("ts::date in $zone", qq{
		SET TimeZone = '$zone'; SET DateStyle = 'SQL, MDY';
		SELECT ts::date, count(*), min(ts) FROM {T}_tz GROUP BY 1 ORDER BY 1});
	oracle("ts::date in $zone, in WHERE", qq{
		SET TimeZone = '$zone';
		SELECT id FROM {T}_tz WHERE ts::date = '2026-04-05' OR CAST(ts AS date) < '1968-01-02' OR ts::date >= '2026-10-25' ORDER BY id});
	oracle("date_trunc(..., '$zone') under another session zone", qq{
		SET TimeZone = 'Asia/Tokyo'; SET DateStyle = 'Postgres, MDY';
		SELECT date_trunc('day', ts, '$zone'), date_trunc('hour', ts, '$zone'), count(*) FROM {T}_tz GROUP BY 1, 2 ORDER BY 1, 2});
	for my $field ('year', 'isoyear', 'quarter', 'month', 'week', 'day', 'doy', 'dow', 'isodow', 'hour', 'minute')
	{
		oracle("extract($field) in $zone", qq{
			SET TimeZone = '$zone';
			SELECT extract($field FROM ts), count(*), min(id) FROM {T}_tz GROUP BY 1 ORDER BY 1});
	}
	oracle("Grafana's epoch buckets in $zone", qq{
		SET TimeZone = '$zone'; SET DateStyle = 'SQL, DMY';
		SELECT floor(extract(epoch from ts)/300)*300 AS "time", to_timestamp(floor(extract(epoch FROM ts)/3600)*3600),
		  count(*), min(id) FROM {T}_tz GROUP BY 1, 2 ORDER BY 1, 2});
}
oracle('epoch buckets of many widths', q{
	SELECT floor(extract(epoch from ts)/1)*1, floor(extract(epoch from ts)/7)*7, floor(extract(epoch from ts)/60)*60,
	  floor(extract(epoch from ts)/199)*199, floor(extract(epoch from ts)/200)*200, floor(extract(epoch from ts)/250)*250,
	  floor(extract(epoch from ts)/2534)*2534, floor(extract(epoch from ts)/86400)*86400,
	  floor(extract(epoch from ts)/1999999)*1999999, count(*)
	FROM {T}_tz GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9 ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9});
oracle('epoch buckets kept local: 2000000 s, half a second', q{
	SELECT floor(extract(epoch from ts)/2000000)*2000000, floor(extract(epoch from ts)/0.5)*0.5, count(*)
	FROM {T}_tz GROUP BY 1, 2 ORDER BY 1, 2});
oracle('epoch buckets in WHERE and ORDER BY, generic plan', q{
	SET plan_cache_mode = force_generic_plan;
	PREPARE q(timestamptz) AS SELECT id, floor(extract(epoch from ts)/300)*300 FROM {T}_tz
	  WHERE (floor(extract(epoch from ts)/300)*300 >= 30100000200 OR floor(extract(epoch from ts)/200) = -100500001
	    OR floor(extract(epoch from ts)/3600)*3600 = 1764547200) AND ts >= $1 ORDER BY 2, 1;
	EXECUTE q('-infinity'); EXECUTE q('2000-01-01'); SET TimeZone = 'Pacific/Chatham'; EXECUTE q('1000-01-01');});
oracle('integer epochs in seconds and milliseconds', q{
	SELECT extract(epoch from ts)::bigint / 60 * 60, (extract(epoch from ts)*1000)::bigint, count(*) FROM {T}_tz
	GROUP BY 1, 2 ORDER BY 1, 2});
oracle('extract(epoch) grouped and compared', q{
	SET TimeZone = 'America/St_Johns';
	SELECT extract(epoch FROM ts), count(*) FROM {T}_tz WHERE extract(epoch FROM ts) >= 1764547200.5 OR extract(epoch FROM ts) < -30100000000
	GROUP BY 1 ORDER BY 1});
oracle('extract fields in WHERE, generic plan, TimeZone changed between executions', q{
	SET plan_cache_mode = force_generic_plan; SET TimeZone = 'Australia/Lord_Howe';
	PREPARE q(numeric) AS SELECT id, extract(hour FROM ts), extract(dow FROM ts) FROM {T}_tz
	  WHERE (extract(dow FROM ts) = 0 OR extract(isodow FROM ts) = 1 OR extract(week FROM ts) = 53) AND extract(hour FROM ts) >= 2
	    AND extract(minute FROM ts) = $1 ORDER BY id;
	EXECUTE q(30); SET TimeZone = 'America/St_Johns'; EXECUTE q(0); SET TimeZone = 'Asia/Kathmandu'; EXECUTE q(15);});
oracle('extract grouped, generic plan, TimeZone changed between executions', q{
	SET plan_cache_mode = force_generic_plan; SET TimeZone = 'Asia/Kathmandu';
	PREPARE q AS SELECT extract(hour FROM ts), extract(minute FROM ts), count(*) FROM {T}_tz GROUP BY 1, 2 ORDER BY 1, 2;
	PREPARE w AS SELECT extract(isodow FROM ts), count(*) FROM {T}_tz GROUP BY 1 ORDER BY 1;
	EXECUTE q; EXECUTE w; SET TimeZone = 'Pacific/Chatham'; EXECUTE q; EXECUTE w;
	SET TimeZone = 'America/St_Johns'; EXECUTE q; EXECUTE w;});
oracle('extract fields kept local: seconds, a POSIX zone', q{
	SET TimeZone = 'UTC+3';
	SELECT extract(second FROM ts), extract(hour FROM ts), count(*) FROM {T}_tz GROUP BY 1, 2 ORDER BY 1, 2});
oracle('extract at the ends of the range', q{
	SET TimeZone = 'Pacific/Chatham';
	SELECT id, extract(year FROM ts) FROM {T} WHERE ts > '2026-01-01' AND extract(day FROM ts) = 5 ORDER BY id});
oracle('date_bin, timestamps before and after the origin', q{
	SET TimeZone = 'Asia/Kathmandu'; SET DateStyle = 'German';
	SELECT date_bin('15 minutes', ts, '2026-01-01 00:07:30+00'), date_bin('1 day 1 hour', ts, '1970-01-01'),
	  date_bin('1 microsecond', ts, '2000-01-01'), date_bin('7 days', ts, '9999-12-31 23:59:59.999999+00'), count(*)
	FROM {T}_tz GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4});
oracle('date_bin in WHERE, generic plan, TimeZone changed between executions', q{
	SET plan_cache_mode = force_generic_plan; SET TimeZone = 'America/St_Johns';
	PREPARE q(timestamptz) AS SELECT id, date_bin('90 minutes', ts, '2026-03-01 12:00') FROM {T}_tz
	  WHERE date_bin('90 minutes', ts, '2026-03-01 12:00') >= $1 ORDER BY id;
	EXECUTE q('2026-01-01'); SET TimeZone = 'Pacific/Chatham'; EXECUTE q('2026-03-01'); EXECUTE q('infinity');});
oracle('date_bin with months, a zero stride or an infinite origin stays local (and fails there)', q{
	SELECT date_bin('1 month', ts, '2000-01-01') FROM {T}_tz WHERE id = 1}, fails => 1);
oracle('date_trunc with abbreviations, POSIX zones and odd units', q{
	SET TimeZone = 'UTC';
	SELECT date_trunc('day', ts, 'EST'), date_trunc('hour', ts, 'UTC+3'), date_trunc('day', ts, '<+0545>-5:45'),
	  date_trunc('decade', ts, 'Europe/Dublin'), date_trunc('hours', ts, 'europe/dublin'), date_trunc('d', ts, 'Asia/Kathmandu'), count(*)
	FROM {T}_tz GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6});
oracle('date_trunc in a POSIX session zone', q{
	SET TimeZone = 'UTC+3';
	SELECT date_trunc('day', ts), date_trunc('hour', ts), count(*) FROM {T}_tz GROUP BY 1, 2 ORDER BY 1, 2});
oracle('date_trunc in a zone with a repeated midnight (America/Havana)', q{
	SET TimeZone = 'America/Havana';
	SELECT date_trunc('day', ts), date_trunc('hour', ts), count(*) FROM {T}_tz GROUP BY 1, 2 ORDER BY 1, 2});
oracle('date_trunc at the ends of the range, by the hour', q{
	SET TimeZone = 'Asia/Kathmandu';
	SELECT id, date_trunc('hour', ts), date_trunc('minute', ts) FROM {T}
	WHERE date_trunc('hour', ts) < '0001-01-02' OR date_trunc('minute', ts) >= '9999-12-31 12:00' ORDER BY id});
oracle('date_trunc at the ends of the range, by the day', q{
	SET TimeZone = 'America/St_Johns';
	SELECT id FROM {T} WHERE date_trunc('day', ts, 'America/New_York') < '0001-01-05' OR date_trunc('year', ts, 'Pacific/Chatham') >= '9999-06-01' ORDER BY id});
oracle('ts::date at the ends of the range', q{
	SET TimeZone = 'Pacific/Chatham';
	SELECT id, ts::date FROM {T} WHERE ts::date >= '9999-12-31' OR ts::date < '0001-01-02' OR CAST(ts AS date) = '2026-01-05' ORDER BY id});
oracle('ts::date at the ends of the range, west', q{
	SET TimeZone = 'America/St_Johns';
	SELECT id FROM {T} WHERE ts::date <= '0001-01-01' OR ts::date > '9999-12-30' OR ts::date <> '2026-01-05' AND id < 20 ORDER BY id});
oracle('ts::date grouped, generic plan, TimeZone changed between executions', q{
	SET plan_cache_mode = force_generic_plan;
	SET TimeZone = 'America/Sao_Paulo';
	PREPARE q(date) AS SELECT ts::date, count(*) FROM {T}_tz WHERE ts::date > $1 GROUP BY 1 ORDER BY 1;
	PREPARE w AS SELECT id FROM {T}_tz WHERE ts::date = '2026-03-29' ORDER BY id;
	EXECUTE q('2026-01-01'); EXECUTE w;
	SET TimeZone = 'Asia/Kathmandu'; EXECUTE q('2026-01-01'); EXECUTE w;
	SET TimeZone = 'America/St_Johns'; EXECUTE q('-infinity'); EXECUTE w;
	SET TimeZone = 'UTC'; EXECUTE q(NULL); EXECUTE w;});
oracle('date_trunc grouped, generic plan, TimeZone changed between executions', q{
	SET plan_cache_mode = force_generic_plan;
	SET TimeZone = 'Asia/Kathmandu';
	PREPARE q(timestamptz) AS SELECT date_trunc('day', ts), date_trunc('hour', ts), count(*) FROM {T}_tz WHERE ts >= $1 GROUP BY 1, 2 ORDER BY 1, 2;
	EXECUTE q('2025-01-01');
	SET TimeZone = 'Pacific/Chatham'; EXECUTE q('2025-01-01');
	SET TimeZone = 'Australia/Lord_Howe'; EXECUTE q('-infinity');
	SET TimeZone = 'UTC'; EXECUTE q('2026-03-01');
	SET TimeZone = 'Europe/Dublin'; SET DateStyle = 'ISO, DMY'; EXECUTE q('2018-01-01');});
oracle('date_trunc in WHERE, generic plan, TimeZone changed between executions', q{
	SET plan_cache_mode = force_generic_plan;
	SET TimeZone = 'America/New_York';
	PREPARE q AS SELECT id FROM {T}_tz WHERE date_trunc('day', ts) = '2026-03-08 00:00+00' OR date_trunc('hour', ts) < '1968-06-01+00' ORDER BY id;
	EXECUTE q; SET TimeZone = 'Africa/Casablanca'; EXECUTE q; SET TimeZone = 'Europe/Dublin'; EXECUTE q;});

# --- AND / OR / NOT ----------------------------------------------------

oracle('OR of ANDs',
	q{SELECT id FROM {T} WHERE (n > 0 AND s LIKE 'w%') OR (b AND d < '2026-01-01') ORDER BY id});
oracle('NOT of OR', 'SELECT id FROM {T} WHERE NOT (n > 0 OR s IS NULL) ORDER BY id');
oracle('AND with a negated OR',
	q{SELECT id, cat FROM {T} WHERE n > 0 AND NOT (cat = 'alpha' OR cat IS NULL) ORDER BY id});
oracle('OR mixing pushable and local parts',
	'SELECT id FROM {T} WHERE n > 900 OR f > 490 ORDER BY id');
oracle('OR with ILIKE',
	q{SELECT id FROM {T} WHERE s = 'abc' OR s ILIKE 'é%' OR ts IS NULL ORDER BY id});
oracle('deep nesting', q{
	SELECT id FROM {T} WHERE NOT (NOT (b OR NOT b) AND n IS NOT NULL)
	  AND (cat IN ('beta', 'gamma') OR (d >= '2026-02-01' AND NOT (ts < '2026-02-15' OR s <> 'abc'))) ORDER BY id});
oracle('three-valued logic of NOT', 'SELECT id FROM {T} WHERE NOT (n > 0 AND b) ORDER BY id');

# --- ORDER BY, LIMIT, OFFSET -------------------------------------------

oracle('ORDER BY bigint NULLS FIRST', 'SELECT id, n FROM {T} ORDER BY n NULLS FIRST, id');
oracle('ORDER BY bigint DESC', 'SELECT id, n FROM {T} ORDER BY n DESC, id');
oracle('ORDER BY bigint DESC NULLS LAST',
	'SELECT id, n FROM {T} ORDER BY n DESC NULLS LAST, id DESC');
oracle('ORDER BY text under C', 'SELECT id, s FROM {T} ORDER BY s, id');
oracle('ORDER BY text DESC NULLS LAST under C',
	'SELECT id, s FROM {T} ORDER BY s DESC NULLS LAST, id');
oracle('ORDER BY text under ICU', 'SELECT id, s FROM {T} ORDER BY s COLLATE "und-x-icu", id');
oracle('ORDER BY text under the default collation', 'SELECT id, t FROM {T} ORDER BY t, id');
oracle('ORDER BY text USING ~<~', 'SELECT id, t FROM {T} ORDER BY t USING ~<~, id');
oracle('ORDER BY timestamptz', 'SELECT id, ts FROM {T} ORDER BY ts, id');
oracle('ORDER BY timestamptz DESC NULLS LAST',
	'SELECT id, ts FROM {T} ORDER BY ts DESC NULLS LAST, id');
oracle('ORDER BY date DESC', 'SELECT id, d FROM {T} ORDER BY d DESC, id');
oracle('ORDER BY boolean', 'SELECT id, b FROM {T} ORDER BY b, id DESC');
oracle('ORDER BY boolean DESC NULLS LAST', 'SELECT id, b FROM {T} ORDER BY b DESC NULLS LAST, id');
oracle('ORDER BY numeric', 'SELECT id, amount FROM {T} ORDER BY amount, id');
oracle('ORDER BY float DESC', 'SELECT id, f FROM {T} ORDER BY f DESC, id');
oracle('ORDER BY float with NaN and infinities',
	'SELECT id, g FROM {T} ORDER BY g NULLS FIRST, id');
oracle('ORDER BY three keys', 'SELECT cat, n, id FROM {T} ORDER BY cat, n DESC, id');
oracle('ORDER BY an expression', 'SELECT id, s FROM {T} ORDER BY lower(s), id');
oracle('ORDER BY position', 'SELECT d, id FROM {T} ORDER BY 1, 2');
oracle('ORDER BY + LIMIT', 'SELECT * FROM {T} ORDER BY id LIMIT 10');
oracle('ORDER BY DESC + LIMIT + OFFSET',
	'SELECT id, n FROM {T} ORDER BY n DESC NULLS LAST, id LIMIT 5 OFFSET 3');
oracle('LIMIT + OFFSET near the end', 'SELECT id, ts FROM {T} ORDER BY ts, id LIMIT 7 OFFSET 590');
oracle('LIMIT 0', 'SELECT id FROM {T} ORDER BY id LIMIT 0');
oracle('OFFSET past the end', 'SELECT id FROM {T} ORDER BY id OFFSET 1000');
oracle('LIMIT ALL OFFSET 0', 'SELECT id FROM {T} ORDER BY id LIMIT ALL OFFSET 0');
oracle('LIMIT NULL and OFFSET NULL', 'SELECT id FROM {T} ORDER BY id LIMIT NULL OFFSET 597; SELECT id FROM {T} ORDER BY id OFFSET NULL LIMIT 2');
oracle('aggregate + LIMIT 0 and OFFSET 1', 'SELECT count(*) FROM {T} LIMIT 0; SELECT count(*) FROM {T} OFFSET 1; SELECT count(*) FROM {T} OFFSET 0');
oracle('LIMIT over a pushable filter',
	'SELECT id, n FROM {T} WHERE n > 0 ORDER BY id LIMIT 3 OFFSET 2');
oracle('LIMIT over a local-only filter',
	q{SELECT id, f FROM {T} WHERE f::text LIKE '%.5' ORDER BY id LIMIT 5});
oracle('LIMIT over a volatile filter',
	'SELECT id FROM {T} WHERE random() >= 0 AND n > 0 ORDER BY id LIMIT 5');
oracle('LIMIT over a text filter under ICU',
	q{SELECT id, t FROM {T} WHERE t > 'b' ORDER BY t, id LIMIT 6 OFFSET 1});
oracle('LIMIT with NaN order', 'SELECT id, g FROM {T} ORDER BY g DESC, id LIMIT 5');
oracle('LIMIT without ORDER BY, counted',
	'SELECT count(*) FROM (SELECT id FROM {T} WHERE n > 0 LIMIT 7) x');
oracle('LIMIT with an expression',
	'SELECT id FROM {T} ORDER BY id LIMIT (SELECT 2 + 2) OFFSET (SELECT 1)');
oracle('LIMIT + OFFSET over a text order under C',
	q{SELECT id, s FROM {T} WHERE s LIKE 'w%' ORDER BY s DESC, id LIMIT 4 OFFSET 10});
oracle('LIMIT over a local order', 'SELECT id, s FROM {T} ORDER BY lower(s), id LIMIT 5');
oracle('LIMIT over a float order', 'SELECT id, f FROM {T} ORDER BY f, id LIMIT 5');
oracle('LIMIT over a numeric order',
	'SELECT id, amount FROM {T} ORDER BY amount DESC NULLS LAST, id LIMIT 3');
oracle('OFFSET alone', 'SELECT id FROM {T} ORDER BY id OFFSET 595');
oracle('the largest LIMIT', 'SELECT id FROM {T} ORDER BY id LIMIT 9223372036854775807 OFFSET 598');
oracle('DISTINCT + LIMIT', 'SELECT DISTINCT cat FROM {T} ORDER BY cat LIMIT 2');
oracle('DISTINCT + LIMIT without ORDER BY, counted',
	'SELECT count(*) FROM (SELECT DISTINCT cat FROM {T} LIMIT 3) x');
oracle('set-returning function + LIMIT',
	'SELECT id, generate_series(1, 2) FROM {T} ORDER BY id LIMIT 5');
oracle('window function + LIMIT',
	'SELECT id, row_number() OVER (ORDER BY n DESC NULLS LAST, id) FROM {T} ORDER BY id LIMIT 5');
oracle('join + LIMIT',
	'SELECT x.id, c.label FROM {T} x JOIN cats c ON c.cat = x.cat ORDER BY x.id LIMIT 5');
oracle('UNION ALL of LIMITs',
	'(SELECT id FROM {T} ORDER BY id LIMIT 3) UNION ALL (SELECT id FROM {T} ORDER BY id DESC LIMIT 3)');
oracle('FETCH FIRST WITH TIES',
	'SELECT * FROM (SELECT cat, id FROM {T} ORDER BY cat NULLS LAST FETCH FIRST 3 ROWS WITH TIES) x ORDER BY id');
oracle('ORDER BY + LIMIT on a subquery',
	'SELECT * FROM (SELECT id, n FROM {T} ORDER BY n LIMIT 20) x ORDER BY id DESC');

# --- aggregates --------------------------------------------------------

oracle('count(*), count(x), count(DISTINCT)',
	'SELECT count(*), count(n), count(s), count(t), count(DISTINCT cat), count(DISTINCT s), count(DISTINCT t), count(DISTINCT b) FROM {T}');
oracle('integer aggregates', 'SELECT sum(n), avg(n), min(n), max(n), sum(id), avg(id) FROM {T}');
oracle('integer sum past 2^63', 'SELECT sum(n), avg(n) FROM {T} WHERE n > 1000');
oracle('integer aggregates without overflow',
	'SELECT sum(n), avg(n), min(n), max(n), sum(id), avg(id) FROM {T} WHERE n BETWEEN -1000 AND 1000');
oracle('integer aggregates per category',
	'SELECT cat, sum(n), avg(n), avg(id), count(n), min(n) FROM {T} WHERE n BETWEEN -1000 AND 1000 GROUP BY cat ORDER BY cat');
oracle('aggregates of bigint expressions',
	'SELECT sum(n - id), max(n + 1), min(n * 3::bigint), count(n + id) FROM {T} WHERE n BETWEEN -1000000 AND 1000000');
oracle('numeric aggregates', 'SELECT sum(amount), avg(amount), min(amount), max(amount) FROM {T}');
oracle('numeric aggregates, small values',
	'SELECT sum(amount), avg(amount), min(amount), max(amount) FROM {T} WHERE abs(amount) < 1000000');
oracle('numeric(12,2) aggregates',
	'SELECT sum(price), avg(price), min(price), max(price) FROM {T}');
oracle('float aggregates', 'SELECT sum(f), avg(f), min(f), max(f) FROM {T}');
oracle('float aggregates with NaN and infinities',
	'SELECT sum(g), avg(g), min(g), max(g), count(g) FROM {T}');
oracle('float aggregates without NaN',
	q{SELECT min(g), max(g), count(*) FROM {T} WHERE g <> 'NaN'});
oracle('float sum of a negative zero', 'SELECT sum(f), avg(f), count(f) FROM {T} WHERE id = 2');
oracle('float sum overflowing fails on both', 'SELECT sum(g), avg(g) FROM {T} WHERE id IN (8, 18, 28, 38)', fails => 1);
oracle('numeric(12,2) aggregates per date',
	'SELECT d, min(price), max(price), sum(price), avg(price) FROM {T} GROUP BY d ORDER BY d LIMIT 12');
oracle('expressions over numeric(12,2) aggregates',
	'SELECT sum(price) * 2, max(price) + 1, min(price)::text, sum(price) / count(*) FROM {T}');
oracle('count(DISTINCT) of numeric, date and timestamptz',
	'SELECT count(DISTINCT amount), count(DISTINCT price), count(DISTINCT d), count(DISTINCT ts) FROM {T}');
oracle('date_trunc in UTC in aggregates', q{
	SELECT min(date_trunc('hour', ts, 'UTC')), max(date_trunc('day', ts, 'UTC')), count(DISTINCT date_trunc('day', ts, 'UTC')) FROM {T}});
oracle('date and timestamptz min and max in New York',
	q{SET TimeZone = 'America/New_York'; SELECT min(d), max(d), min(ts), max(ts) FROM {T}});
oracle('text min and max under C and ICU',
	'SELECT min(s), max(s), min(s COLLATE "und-x-icu"), max(s COLLATE "und-x-icu"), min(t), max(t) FROM {T}');
oracle('text min and max under an explicit collation',
	'SELECT min(t COLLATE "C"), max(t COLLATE "C"), min(s COLLATE "und-x-icu"), max(cat COLLATE "und-x-icu") FROM {T}');
oracle('boolean aggregates',
	'SELECT bool_and(b), bool_or(b), every(b), count(*) FILTER (WHERE b) FROM {T}');
oracle('FILTER clauses',
	'SELECT count(*) FILTER (WHERE n > 0), sum(amount) FILTER (WHERE b), max(s) FILTER (WHERE cat = \'beta\') FROM {T}');
oracle('GROUP BY one key',
	'SELECT cat, count(*), sum(n), avg(f), min(ts), max(amount) FROM {T} GROUP BY cat ORDER BY cat NULLS FIRST');
oracle('GROUP BY two keys',
	'SELECT cat, b, count(*), sum(price), count(DISTINCT d) FROM {T} GROUP BY cat, b ORDER BY cat, b');
oracle('GROUP BY a date_trunc in New York', q{
	SET TimeZone = 'America/New_York';
	SELECT date_trunc('day', ts), count(*), sum(f) FROM {T} WHERE ts >= '2026-01-01' AND ts < '2026-02-01' GROUP BY 1 ORDER BY 1});
oracle('GROUP BY a date_trunc hour', q{
	SELECT date_trunc('hour', ts), count(*) FROM {T} GROUP BY 1 ORDER BY 1 NULLS FIRST LIMIT 20});
oracle('GROUP BY a date_trunc in UTC', q{
	SET TimeZone = 'America/New_York';
	SELECT date_trunc('day', ts, 'UTC'), count(*), min(id), max(n) FROM {T} GROUP BY 1 ORDER BY 1 NULLS FIRST LIMIT 25});
oracle('GROUP BY numeric(12,2)',
	'SELECT price, count(*) FROM {T} GROUP BY price ORDER BY price NULLS FIRST LIMIT 10');
oracle('GROUP BY numeric',
	'SELECT amount, count(*) FROM {T} GROUP BY amount ORDER BY amount DESC NULLS FIRST LIMIT 10');
oracle('GROUP BY hostile text under C',
	'SELECT s, count(*), min(id) FROM {T} GROUP BY s ORDER BY s');
oracle('GROUP BY a bigint expression',
	'SELECT n + 1, count(*) FROM {T} GROUP BY n + 1 ORDER BY 1 NULLS FIRST LIMIT 5');
oracle('GROUP BY a bigint expression with a constant',
	'SELECT n * 2::bigint, count(*) FROM {T} GROUP BY 1 ORDER BY 1 NULLS FIRST LIMIT 5');
oracle('GROUP BY and HAVING on a bigint expression with a constant',
	'SELECT count(*) FROM {T} GROUP BY n - 7::bigint HAVING n - 7::bigint > 990 ORDER BY 1');
oracle('GROUP BY a constant', q{SELECT cat, 'x'::text AS k, count(*) FROM {T} GROUP BY cat, k ORDER BY cat});
oracle('GROUP BY boolean and date',
	'SELECT b, d, count(*) FROM {T} GROUP BY b, d HAVING min(s) > \'a\' ORDER BY b, d LIMIT 20');
oracle('GROUP BY ordered by an aggregate not selected',
	'SELECT cat FROM {T} GROUP BY cat ORDER BY max(ts) DESC NULLS LAST, cat LIMIT 3');
oracle('aggregates over a local filter', 'SELECT count(*), sum(n), max(d) FROM {T} WHERE f > 0');
oracle('GROUP BY over a local filter',
	q{SELECT cat, count(*) FROM {T} WHERE s ILIKE '%e%' GROUP BY cat ORDER BY cat});
oracle('GROUP BY with a local HAVING + LIMIT',
	'SELECT cat, count(*) FROM {T} GROUP BY cat HAVING avg(f) > -1000 ORDER BY cat LIMIT 2 OFFSET 1');
oracle('local aggregate + LIMIT',
	q{SELECT cat, string_agg(s, ',' ORDER BY id) FROM {T} WHERE id < 100 GROUP BY cat ORDER BY cat LIMIT 2});
oracle('GROUP BY the default-collation text + LIMIT',
	'SELECT t, count(*) FROM {T} GROUP BY t ORDER BY t LIMIT 3');
oracle('GROUP BY under an explicit C collation + LIMIT',
	'SELECT t COLLATE "C", count(*) FROM {T} GROUP BY 1 ORDER BY 1 LIMIT 4');
oracle('HAVING on a numeric(12,2) sum',
	'SELECT d, sum(price) FROM {T} GROUP BY d HAVING sum(price) > 3000.005 ORDER BY d');
oracle('ORDER BY a numeric(12,2) sum + LIMIT',
	'SELECT cat, sum(price), avg(price) FROM {T} GROUP BY cat ORDER BY sum(price) DESC NULLS LAST LIMIT 3');
oracle('ORDER BY avg',
	'SELECT cat, avg(n) FROM {T} WHERE n BETWEEN -1000 AND 1000 GROUP BY cat ORDER BY avg(n), cat LIMIT 4');
oracle('ORDER BY an aggregate NULLS FIRST',
	'SELECT d, max(n) FROM {T} GROUP BY d ORDER BY max(n) NULLS FIRST, d LIMIT 8');
oracle('HAVING without GROUP BY', 'SELECT count(*) FROM {T} HAVING count(*) > 0');
oracle('HAVING without GROUP BY, false', 'SELECT count(*) FROM {T} HAVING count(*) > 1000');
oracle('HAVING with OR on a grouping column',
	q{SELECT cat, count(*) FROM {T} GROUP BY cat HAVING sum(id) > 30050 OR cat IS NULL ORDER BY cat});
oracle('expressions over integer aggregates',
	'SELECT count(*) + 1, sum(id) * 2, max(id) - min(id) FROM {T}');
oracle('aggregates with IN and LIKE filters',
	q{SELECT count(*), min(s), max(s) FROM {T} WHERE n IN (1, 2, {v:n:2}) OR s LIKE 'a%'});
oracle('aggregates with a parameter, generic plan', q{
	SET plan_cache_mode = force_generic_plan;
	PREPARE q(bigint, text) AS SELECT cat, count(*), min(n) FROM {T} WHERE n > $1 AND s < $2 GROUP BY cat ORDER BY cat;
	EXECUTE q(0, 'w050'); EXECUTE q(-1000, 'zzz'); EXECUTE q(NULL, 'a');});
oracle('GROUP BY the default-collation text', 'SELECT t, count(*) FROM {T} GROUP BY t ORDER BY t');
oracle('GROUP BY an expression',
	'SELECT extract(month FROM d), count(*), min(id) FROM {T} GROUP BY 1 ORDER BY 1');
oracle('GROUP BY a nondeterministic collation',
	'SELECT lower(s), count(*) FROM {T} WHERE s IS NOT NULL GROUP BY s COLLATE ci, lower(s) ORDER BY 1, 2 LIMIT 20');
oracle('HAVING count(*) > k',
	'SELECT d, count(*) FROM {T} GROUP BY d HAVING count(*) > 4 ORDER BY d');
oracle('HAVING sum(n) >',
	'SELECT cat, sum(n) FROM {T} WHERE n BETWEEN -1000 AND 1000 GROUP BY cat HAVING sum(n) > 1000 ORDER BY cat');
oracle('HAVING on avg(float)',
	'SELECT b, avg(f) FROM {T} GROUP BY b HAVING avg(f) > -100 ORDER BY b');
oracle('aggregates over nothing',
	'SELECT count(*), count(n), sum(n), avg(amount), min(s), max(ts), sum(f) FROM {T} WHERE n > 1000000 AND n < 0');
oracle('avg, sum, min and max over nothing',
	'SELECT avg(n), avg(price), avg(f), sum(price), min(price), max(d), min(s), count(DISTINCT s) FROM {T} WHERE id < 0');
oracle('avg over NULLs only, per group', 'SELECT b, avg(n), sum(n), avg(id), count(n) FROM {T} WHERE n IS NULL GROUP BY b ORDER BY b');
oracle('constants beside aggregates', q{
	SELECT 1.50, 'x', E'a\'b\nc', 2::bigint, 3, true, '2026-01-01'::date,
	  '2026-01-01 12:00:00.000001+00'::timestamptz, 1.5::numeric(10,3), NULL::text, count(*) FROM {T}});
oracle('constants beside grouping keys', 'SELECT cat, 0.10, 7, count(*) FROM {T} GROUP BY cat ORDER BY cat');
oracle('GROUP BY over nothing',
	'SELECT cat, count(*) FROM {T} WHERE id < 0 GROUP BY cat ORDER BY cat');
oracle('aggregates + ORDER BY + LIMIT',
	'SELECT cat, count(*) FROM {T} GROUP BY cat ORDER BY count(*) DESC, cat LIMIT 2');
oracle('aggregates + ORDER BY aggregate + OFFSET',
	'SELECT d, sum(f) FROM {T} GROUP BY d ORDER BY sum(f) DESC NULLS LAST, d LIMIT 5 OFFSET 2');
oracle('aggregate with a pushable filter',
	q{SELECT count(*), sum(n) FROM {T} WHERE s LIKE 'w%' AND ts < '2026-02-01'});
oracle('string_agg and array_agg',
	q{SELECT string_agg(s, '|' ORDER BY id), array_agg(n ORDER BY id) FROM {T} WHERE id <= 70});
oracle('array_agg DISTINCT', 'SELECT array_agg(DISTINCT cat ORDER BY cat) FROM {T}');
oracle('percentile_cont',
	'SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY f), percentile_disc(0.9) WITHIN GROUP (ORDER BY n) FROM {T}');
oracle('integer variance (exact)',
	'SELECT variance(id), stddev_pop(n) FROM {T} WHERE abs(n) <= 1000');
oracle('count(DISTINCT row)', 'SELECT count(DISTINCT (cat, b)) FROM {T}');
oracle('GROUPING SETS',
	'SELECT cat, b, count(*) FROM {T} GROUP BY ROLLUP (cat, b) ORDER BY 1, 2, 3');
oracle('DISTINCT', 'SELECT DISTINCT cat FROM {T} ORDER BY cat');
oracle('DISTINCT over two columns', 'SELECT DISTINCT b, cat FROM {T} ORDER BY b, cat');
oracle('DISTINCT ON', 'SELECT DISTINCT ON (cat) cat, id, s FROM {T} ORDER BY cat, id');
oracle('aggregate of an aggregate',
	'SELECT max(c), min(c) FROM (SELECT d, count(*) c FROM {T} GROUP BY d) x');

# --- joins and subqueries ----------------------------------------------

oracle('join with a local table',
	'SELECT x.id, c.label FROM {T} x JOIN cats c ON c.cat = x.cat WHERE x.id < 40 ORDER BY x.id');
oracle('left join with a local table',
	'SELECT c.cat, count(x.id) FROM cats c LEFT JOIN {T} x ON x.cat = c.cat GROUP BY c.cat ORDER BY c.cat');
oracle('right join keeps unmatched rows',
	'SELECT x.id, c.label FROM cats c RIGHT JOIN {T} x ON x.cat = c.cat WHERE x.id > 580 ORDER BY x.id');
oracle('self join',
	'SELECT a.id, b.id, a.n FROM {T} a JOIN {T} b ON a.id = b.id + 1 WHERE a.id < 30 ORDER BY a.id');
oracle('self join on a non-key column',
	'SELECT a.cat, count(*) FROM {T} a JOIN {T} b ON a.d = b.d AND a.id < b.id GROUP BY a.cat ORDER BY a.cat');
oracle('IN (SELECT ...)',
	'SELECT id FROM {T} WHERE cat IN (SELECT cat FROM cats WHERE weight > 2) ORDER BY id');
oracle('IN (SELECT ...) from the same table',
	'SELECT id FROM {T} WHERE id IN (SELECT id + 1 FROM {T} WHERE b) ORDER BY id');
oracle('NOT EXISTS',
	'SELECT c.cat FROM cats c WHERE NOT EXISTS (SELECT 1 FROM {T} x WHERE x.cat = c.cat) ORDER BY c.cat');
oracle('NOT IN (SELECT ...) with NULLs',
	'SELECT count(*) FROM cats WHERE cat NOT IN (SELECT cat FROM {T})');
oracle('scalar subquery of the same table',
	'SELECT id, n FROM {T} WHERE n > (SELECT avg(n) FROM {T} WHERE abs(n) < 1000) + 900 ORDER BY id');
oracle('a parameter from a local subquery',
	'SELECT id, n FROM {T} WHERE n = (SELECT n FROM local_t WHERE id = 33) ORDER BY id');
oracle('a timestamptz parameter from a local subquery',
	'SELECT id FROM {T} WHERE ts = (SELECT max(ts) FROM local_t WHERE id < 100) ORDER BY id');
oracle('a text parameter from a local subquery',
	'SELECT id FROM {T} WHERE s = (SELECT s FROM local_t WHERE id = 4) ORDER BY id');
oracle('correlated subquery (rescans)',
	'SELECT x.id, (SELECT count(*) FROM {T} y WHERE y.cat = x.cat AND y.id < x.id) FROM {T} x WHERE x.id <= 12 ORDER BY x.id');
oracle('LATERAL with LIMIT (rescans)',
	'SELECT c.cat, l.id FROM cats c, LATERAL (SELECT id FROM {T} x WHERE x.cat = c.cat ORDER BY id DESC LIMIT 2) l ORDER BY c.cat, l.id');
oracle('EXISTS',
	q{SELECT EXISTS (SELECT 1 FROM {T} WHERE s = 'zzz'), EXISTS (SELECT 1 FROM {T} WHERE s = 'nope')});
oracle('CTE',
	'WITH x AS (SELECT cat, n FROM {T} WHERE n > 0) SELECT cat, count(*) FROM x GROUP BY cat ORDER BY cat');
oracle('UNION',
	q{SELECT id FROM {T} WHERE n > 900 UNION SELECT id FROM {T} WHERE s = '' ORDER BY 1});
oracle('EXCEPT', 'SELECT cat FROM {T} EXCEPT SELECT cat FROM cats ORDER BY 1');

# --- window functions --------------------------------------------------

oracle('row_number per category',
	'SELECT id, cat, row_number() OVER (PARTITION BY cat ORDER BY id) FROM {T} ORDER BY id');
oracle('running sum of floats',
	'SELECT id, sum(f) OVER (ORDER BY id ROWS 2 PRECEDING) FROM {T} ORDER BY id');
oracle('rank over a bigint',
	'SELECT id, rank() OVER (ORDER BY n DESC NULLS LAST) FROM {T} ORDER BY id');
oracle('lag and lead of text',
	'SELECT id, lag(s) OVER w, lead(ts) OVER w FROM {T} WINDOW w AS (ORDER BY id) ORDER BY id');
oracle('window aggregate per partition',
	'SELECT id, count(*) OVER (PARTITION BY d), max(amount) OVER (PARTITION BY cat) FROM {T} ORDER BY id');

# --- prepared statements -----------------------------------------------

oracle('prepared bigint parameter, generic plan after five', q{
	PREPARE q(bigint) AS SELECT id, n FROM {T} WHERE n > $1 ORDER BY id LIMIT 20;
	EXECUTE q(5); EXECUTE q(5); EXECUTE q(5); EXECUTE q(5); EXECUTE q(5); EXECUTE q(5); EXECUTE q(5);
	EXECUTE q(900); EXECUTE q(-1000); EXECUTE q(9007199254740993); EXECUTE q(NULL);});
oracle('prepared text parameter, forced generic plan', q{
	SET plan_cache_mode = force_generic_plan;
	PREPARE q(text) AS SELECT id, s FROM {T} WHERE s = $1 ORDER BY id;
	EXECUTE q('abc'); EXECUTE q('x'' OR 1=1 --'); EXECUTE q(E'a\'b\nc'); EXECUTE q('');
	EXECUTE q('日本'); EXECUTE q('@p1'); EXECUTE q(NULL); EXECUTE q('back\slash');});
oracle('prepared text parameter, forced custom plan', q{
	SET plan_cache_mode = force_custom_plan;
	PREPARE q(text) AS SELECT id, s FROM {T} WHERE s < $1 AND s > 'w09' ORDER BY id;
	EXECUTE q('w095'); EXECUTE q('zzz'); EXECUTE q(NULL);});
oracle('prepared LIKE pattern', q{
	SET plan_cache_mode = force_generic_plan;
	PREPARE q(text) AS SELECT id, s FROM {T} WHERE s LIKE $1 ORDER BY id;
	EXECUTE q('a_b'); EXECUTE q('%\%%'); EXECUTE q('%\\\\%'); EXECUTE q('_'); EXECUTE q('w00%'); EXECUTE q(NULL);});
oracle('prepared timestamptz minus interval in New York', q{
	SET TimeZone = 'America/New_York';
	PREPARE q(timestamptz, interval) AS SELECT id, ts FROM {T} WHERE ts >= $1 - $2 AND ts < $1 ORDER BY id;
	EXECUTE q('2026-03-09 00:00', '1 day'); EXECUTE q('2026-03-09 00:00', '1 day'); EXECUTE q('2026-03-09 00:00', '1 day');
	EXECUTE q('2026-03-09 00:00', '1 day'); EXECUTE q('2026-03-09 00:00', '1 day'); EXECUTE q('2026-03-09 00:00', '1 day');
	EXECUTE q('2026-01-01', '12 hours'); EXECUTE q(NULL, '1 day');});
oracle('prepared date, boolean and numeric parameters', q{
	SET plan_cache_mode = force_generic_plan;
	PREPARE qd(date) AS SELECT id FROM {T} WHERE d = $1 ORDER BY id;
	PREPARE qb(boolean) AS SELECT count(*) FROM {T} WHERE b = $1;
	PREPARE qn(numeric) AS SELECT id, amount FROM {T} WHERE amount > $1 ORDER BY id;
	EXECUTE qd('2026-01-04'); EXECUTE qd('0001-01-01'); EXECUTE qd(NULL);
	EXECUTE qb(true); EXECUTE qb(false); EXECUTE qb(NULL);
	EXECUTE qn(999000); EXECUTE qn(98765432109876543000.5); EXECUTE qn(NULL);});
oracle('prepared array parameter', q{
	SET plan_cache_mode = force_generic_plan;
	PREPARE q(bigint[]) AS SELECT id, n FROM {T} WHERE n = ANY ($1) ORDER BY id;
	EXECUTE q(ARRAY[{v:n:2}, {v:n:3}]); EXECUTE q(ARRAY[NULL, {v:n:4}]::bigint[]); EXECUTE q('{}'); EXECUTE q(NULL);});
oracle('prepared text and timestamptz array parameters', q{
	SET plan_cache_mode = force_generic_plan;
	PREPARE qs(text[]) AS SELECT id, s FROM {T} WHERE s = ANY ($1) ORDER BY id;
	PREPARE qt(timestamptz[]) AS SELECT id FROM {T} WHERE ts <> ALL ($1) AND id < 12 ORDER BY id;
	EXECUTE qs(ARRAY['x'' OR 1=1 --', E'a\'b\nc', '', NULL, '日本']); EXECUTE qs('{}'); EXECUTE qs(NULL);
	EXECUTE qt(ARRAY[{v:ts:3}, {v:ts:4}]); EXECUTE qt(ARRAY[{v:ts:3}, NULL]); EXECUTE qt('{}');});
oracle('prepared LIMIT and OFFSET', q{
	SET plan_cache_mode = force_generic_plan;
	PREPARE q(bigint, bigint) AS SELECT id FROM {T} WHERE n > 0 ORDER BY id LIMIT $1 OFFSET $2;
	EXECUTE q(3, 0); EXECUTE q(2, 5); EXECUTE q(NULL, 595); EXECUTE q(0, 0); EXECUTE q(4, NULL);});
oracle('prepared LIMIT and OFFSET, custom plans', q{
	SET plan_cache_mode = force_custom_plan;
	PREPARE q(bigint, bigint) AS SELECT id FROM {T} WHERE n > 0 ORDER BY n, id LIMIT $1 OFFSET $2;
	EXECUTE q(3, 0); EXECUTE q(2, 5); EXECUTE q(NULL, 290); EXECUTE q(0, 0); EXECUTE q(4, NULL);});
oracle('prepared LIKE pattern, custom plans', q{
	SET plan_cache_mode = force_custom_plan;
	PREPARE q(text) AS SELECT id, s FROM {T} WHERE s LIKE $1 ORDER BY id;
	EXECUTE q('a_b'); EXECUTE q('%\%%'); EXECUTE q('%\\\\%'); EXECUTE q('_'); EXECUTE q('w00%'); EXECUTE q('a\bc%'); EXECUTE q(NULL);});
oracle('prepared aggregate with HAVING parameter', q{
	SET plan_cache_mode = force_generic_plan;
	PREPARE q(bigint) AS SELECT cat, count(*), sum(n) FROM {T} GROUP BY cat HAVING count(*) > $1 ORDER BY cat;
	EXECUTE q(0); EXECUTE q(99); EXECUTE q(1000);});

# --- aggregates and grouping (planner) -----------------------------------

# a function of a grouping key is computed here from the key BigQuery
# returns (a plain column beside it would be neither grouped nor aggregated)
oracle('to_char of a grouped date_trunc', q{
	SELECT to_char(date_trunc('day', ts, 'UTC'), 'YYYY-MM-DD'), count(*) FROM {T}
	 GROUP BY date_trunc('day', ts, 'UTC') ORDER BY 1 NULLS FIRST});
oracle('functions of a grouped date_trunc under Asia/Kolkata, DateStyle SQL, DMY', q{
	SET TimeZone = 'Asia/Kolkata'; SET DateStyle = 'SQL, DMY';
	SELECT extract(hour FROM date_trunc('hour', ts, 'UTC')), date_trunc('hour', ts, 'UTC')::date,
	  date_trunc('hour', ts, 'UTC') AT TIME ZONE 'America/St_Johns',
	  date_trunc('hour', ts, 'UTC') + interval '90 minutes',
	  COALESCE(date_trunc('hour', ts, 'UTC'), '2000-01-01'), count(*), sum(n)
	  FROM {T} WHERE n BETWEEN -1000 AND 1000
	 GROUP BY date_trunc('hour', ts, 'UTC') ORDER BY date_trunc('hour', ts, 'UTC') + interval '90 minutes' NULLS FIRST});
oracle('ORDER BY a function of a grouped date_trunc + LIMIT', q{
	SET TimeZone = 'America/New_York';
	SELECT date_trunc('day', ts, 'UTC')::date AS day, count(*) FROM {T}
	 GROUP BY date_trunc('day', ts, 'UTC') ORDER BY to_char(date_trunc('day', ts, 'UTC'), 'YYYY-MM-DD') DESC NULLS LAST LIMIT 7});
oracle('functions of grouped columns and of aggregates',
	q{SELECT upper(cat), n % 3, count(*) * 2, sum(n) + 1 FROM {T} WHERE abs(n) < 20 GROUP BY cat, n ORDER BY 1, 2, 3, 4});
# every remote select item has its own name: BigQuery names a column
# reference after the column, and refuses two columns of the same name
oracle('a grouped column sorted again under another collation',
	q{SELECT t, count(*) FROM {T} GROUP BY t ORDER BY 2 DESC, t COLLATE "C"});
oracle('a column grouped twice under two collations',
	q{SELECT cat, cat COLLATE "und-x-icu", count(*), sum(n) FROM {T} WHERE abs(n) <= 1000 GROUP BY cat, cat COLLATE "und-x-icu" ORDER BY 1, 3});
oracle('a column grouped twice + ORDER BY + LIMIT',
	q{SELECT cat, cat, max(id) FROM {T} GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 3});

# float aggregates in BigQuery, with PostgreSQL's NaN, infinity, -0 and
# overflow rules (g holds NaN, infinities, -0 and 1.5e308)
oracle('float aggregates per group',
	'SELECT cat, b, sum(f), avg(f), min(f), max(f), count(f) FROM {T} GROUP BY cat, b ORDER BY 1, 2');
oracle('float aggregates with NaN and infinities per group',
	'SELECT cat, sum(g), avg(g), min(g), max(g), count(g) FROM {T} GROUP BY cat ORDER BY cat');
oracle('float aggregates of infinities without NaN',
	'SELECT sum(g), avg(g), min(g), max(g) FROM {T} WHERE id IN (1, 11, 21, 5, 7)');
oracle('float aggregates of +Infinity and -Infinity',
	'SELECT sum(g), avg(g), min(g), max(g) FROM {T} WHERE id IN (1, 2, 5)');
oracle('float min of NaN only, max beside NaN',
	'SELECT min(g), max(g), sum(g), avg(g) FROM {T} WHERE id IN (10, 20, 30)');
oracle('float min and max beside NaN',
	'SELECT min(g), max(g) FROM {T} WHERE id IN (10, 17, 27, 9)');
oracle('float sum of negative zeros only', q{
	SET extra_float_digits = 3;
	SELECT sum(g), avg(g), min(g), max(g), sum(g)::text FROM {T} WHERE id IN (6, 16, 26)});
oracle('float sum of -0 and +0', 'SELECT sum(g), avg(g) FROM {T} WHERE id IN (5, 6, 15)');
oracle('float avg of one huge value', 'SELECT sum(g), avg(g) FROM {T} WHERE id = 8');
oracle('float avg whose sum of squares overflows fails on both',
	'SELECT avg(g) FROM {T} WHERE id IN (8, 19)', fails => 1);
oracle('float aggregates over nothing, per group',
	'SELECT cat, sum(f), avg(f), min(g), max(g) FROM {T} WHERE id < 0 GROUP BY cat');
oracle('float aggregates beside other aggregates, in expressions', q{
	SET extra_float_digits = 0;
	SELECT d, sum(f) * 2, avg(f) + 1, max(f) - min(f), count(*), sum(n) FROM {T}
	 WHERE n BETWEEN -1000 AND 1000 GROUP BY d ORDER BY d NULLS FIRST LIMIT 15});
oracle('float aggregates, generic plan', q{
	SET plan_cache_mode = force_generic_plan;
	PREPARE q(bigint) AS SELECT cat, sum(f), avg(g), min(g), max(f) FROM {T} WHERE id > $1 GROUP BY cat ORDER BY cat;
	EXECUTE q(0); EXECUTE q(300); EXECUTE q(599); EXECUTE q(NULL);});

# top-N: the LIMIT of a grouped query sorted in BigQuery goes with it
oracle('top-N over groups, ties broken',
	'SELECT t, count(*), sum(n) FROM {T} WHERE abs(n) <= 1000 GROUP BY t ORDER BY count(*) DESC, sum(n), t COLLATE "C" LIMIT 5');
oracle('top-N over groups with OFFSET',
	'SELECT d, count(*), max(ts) FROM {T} GROUP BY d ORDER BY d DESC NULLS FIRST LIMIT 4 OFFSET 3');
oracle('top-N with a LIMIT parameter, generic plan', q{
	SET plan_cache_mode = force_generic_plan;
	PREPARE q(bigint) AS SELECT cat, count(*) FROM {T} GROUP BY cat ORDER BY count(*) DESC, cat LIMIT $1;
	EXECUTE q(2); EXECUTE q(0); EXECUTE q(NULL);});
oracle('top-N of a function of the grouping key',
	q{SELECT date_trunc('month', ts, 'UTC'), count(*) FROM {T} GROUP BY date_trunc('month', ts, 'UTC') ORDER BY to_char(date_trunc('month', ts, 'UTC'), 'YYYY-MM') DESC NULLS LAST LIMIT 3});

# FILTER (WHERE c) as COUNTIF(c) or IF(c, x, NULL), count(DISTINCT) too
oracle('aggregates with FILTER clauses, per group', q{
	SELECT cat, count(*) FILTER (WHERE n > 0), count(n) FILTER (WHERE b), count(DISTINCT t) FILTER (WHERE s LIKE 'w%'),
	  sum(n) FILTER (WHERE n BETWEEN -1000 AND 1000), avg(price) FILTER (WHERE d >= '2026-01-01'),
	  min(s) FILTER (WHERE NOT b), max(ts) FILTER (WHERE ts < '2026-03-01' OR b IS NULL),
	  sum(f) FILTER (WHERE id < 300), max(g) FILTER (WHERE id < 100), count(*)
	  FROM {T} GROUP BY cat ORDER BY cat});
oracle('count(DISTINCT) with FILTER on NULLs and hostile text',
	q{SELECT count(DISTINCT s) FILTER (WHERE s IN ('a''b', '%', '', ' ', 'NULL') OR s IS NULL), count(*) FILTER (WHERE s IS NULL) FROM {T}});
oracle('FILTER with a parameter, generic plan', q{
	SET plan_cache_mode = force_generic_plan;
	PREPARE q(bigint, date) AS SELECT b, count(*) FILTER (WHERE n > $1), sum(amount) FILTER (WHERE d < $2) FROM {T} GROUP BY b ORDER BY b;
	EXECUTE q(0, '2026-01-15'); EXECUTE q(NULL, NULL); EXECUTE q(-5000, '9999-12-31');});
oracle('FILTER over nothing', 'SELECT count(*) FILTER (WHERE n > 0), sum(n) FILTER (WHERE b), avg(f) FILTER (WHERE b) FROM {T} WHERE id < 0');

# SELECT DISTINCT as a GROUP BY of its columns
oracle('DISTINCT hostile text under C', 'SELECT DISTINCT s FROM {T} ORDER BY s');
oracle('DISTINCT under the default collation, sorted here', 'SELECT DISTINCT t FROM {T} ORDER BY t');
oracle('DISTINCT under a nondeterministic collation stays local',
	'SELECT DISTINCT s COLLATE ci FROM {T} WHERE s IS NOT NULL ORDER BY 1 LIMIT 10');
oracle('DISTINCT of numeric, date and a UTC date_trunc + LIMIT', q{
	SET TimeZone = 'Asia/Kolkata';
	SELECT DISTINCT price, d, date_trunc('day', ts, 'UTC') FROM {T} WHERE id <= 200 ORDER BY d NULLS FIRST, price NULLS FIRST, 3 LIMIT 30});
oracle('DISTINCT with a filter parameter, generic plan', q{
	SET plan_cache_mode = force_generic_plan;
	PREPARE q(bigint) AS SELECT DISTINCT cat, b FROM {T} WHERE n > $1 ORDER BY 1, 2;
	EXECUTE q(0); EXECUTE q(900); EXECUTE q(NULL);});

# a HAVING clause BigQuery cannot evaluate is a filter here on what it returns
oracle('HAVING on float aggregates, evaluated here', q{
	SELECT cat, b, sum(f), count(*) FROM {T} GROUP BY cat, b HAVING sum(f) > 100 AND count(*) > 10 OR max(g) = 'NaN' ORDER BY 1, 2});
oracle('HAVING on a float avg + ORDER BY + LIMIT', q{
	SELECT d, avg(f), count(*) FROM {T} GROUP BY d HAVING avg(f) < 0 ORDER BY d NULLS FIRST LIMIT 6});
oracle('HAVING on a function of a grouping key and an aggregate', q{
	SELECT date_trunc('day', ts, 'UTC'), count(*) FROM {T} GROUP BY 1 HAVING extract(dow FROM date_trunc('day', ts, 'UTC')) + count(*) > 4 ORDER BY 1});

# joins of two foreign tables of the server in BigQuery: remote_cats holds
# the rows of cats ({C})
is(decode_json(http('POST', "$api/datasets/oracle/tables", encode_json({
	tableReference => { tableId => 'oracle_cats' },
	schema => { fields => [
		{ name => 'cat', type => 'STRING' }, { name => 'label', type => 'STRING' },
		{ name => 'weight', type => 'INT64' } ] } })))->{id},
	'oracle-project:oracle.oracle_cats', 'the BigQuery table of categories is created');
$node->safe_psql('postgres', q{
	CREATE FOREIGN TABLE remote_cats (cat text COLLATE "C", label text, weight int)
	  SERVER bq OPTIONS ("table" 'oracle_cats');
	INSERT INTO remote_cats SELECT * FROM cats;});
oracle('inner join of two foreign tables, filters on both sides',
	'SELECT x.id, x.s, c.label, c.weight FROM {T} x JOIN {C} c ON c.cat = x.cat WHERE x.id < 80 AND c.weight <= 4 ORDER BY x.id');
oracle('left join of two foreign tables, a filter in ON',
	'SELECT x.id, x.cat, c.label FROM {T} x LEFT JOIN {C} c ON c.cat = x.cat AND c.weight > 1 WHERE x.id BETWEEN 100 AND 140 ORDER BY x.id');
oracle('left join keeps unmatched categories',
	'SELECT c.cat, c.label, count(x.id), sum(x.n) FROM {C} c LEFT JOIN {T} x ON x.cat = c.cat AND x.n > 0 GROUP BY c.cat, c.label ORDER BY c.cat NULLS FIRST');
oracle('anti join over two foreign tables',
	'SELECT c.cat FROM {C} c LEFT JOIN {T} x ON x.cat = c.cat WHERE x.id IS NULL ORDER BY 1 NULLS FIRST');
oracle('self join of a foreign table on two conditions',
	'SELECT a.id, b.id, a.d FROM {T} a JOIN {T} b ON a.d = b.d AND a.id < b.id WHERE a.id < 60 AND b.n > 0 ORDER BY 1, 2');
oracle('join on default-collation text and hostile strings',
	'SELECT a.id, b.id FROM {T} a JOIN {T} b ON a.t = b.t AND a.s = b.s WHERE a.id < b.id ORDER BY 1, 2');
oracle('join with a local filter on one side stays local',
	'SELECT x.id, c.label FROM {T} x JOIN {C} c ON c.cat = x.cat WHERE x.f + 1 > 100 ORDER BY x.id');
oracle('join with parameters, generic plan', q{
	SET plan_cache_mode = force_generic_plan;
	PREPARE q(bigint, int) AS SELECT x.id, c.label FROM {T} x JOIN {C} c ON c.cat = x.cat WHERE x.id < $1 AND c.weight >= $2 ORDER BY x.id;
	EXECUTE q(30, 2); EXECUTE q(NULL, 1); EXECUTE q(600, 4);});

# --- cursors -----------------------------------------------------------

oracle('cursor with FETCH, BACKWARD and ABSOLUTE', q{
	BEGIN;
	DECLARE c SCROLL CURSOR FOR SELECT id, s FROM {T} WHERE n > 0 ORDER BY id;
	FETCH 5 FROM c; FETCH BACKWARD 2 FROM c; FETCH ABSOLUTE 40 FROM c; FETCH LAST FROM c;
	COMMIT;});

# ---------------------------------------------------------------------
# running the corpus
# ---------------------------------------------------------------------

# Every query once per table, in one psql session (a new one after an
# error), each run followed by RESET ALL, DEALLOCATE ALL and CLOSE ALL so
# that settings, prepared statements and cursors do not leak into the next.
# NULL is shown apart from ''.  An error is an output too: a remote query
# that fails is one failed check, not the end of the test.
my @jobs = map { my $k = $_; ([ $k, 'local_t' ], [ $k, 'remote_t' ]) } 0 .. $#corpus;
my (%output, %failed);
my $next = 0;
while ($next < @jobs)
{
	my $script = "\\pset null '(null)'\n";
	for my $j ($next .. $#jobs)
	{
		my ($k, $table) = @{ $jobs[$j] };
		(my $sql = $corpus[$k]{sql}) =~ s/\{T\}/$table/g;
		$sql =~ s/\{P\}/$table eq 'local_t' ? 'local_t' : 'remote_t_paged'/ge;
		$sql =~ s/\{Q\}/$table eq 'local_t' ? 'local_t' : 'remote_t_query'/ge;
		$sql =~ s/\{C\}/$table eq 'local_t' ? 'cats' : 'remote_cats'/ge;
		$script .= "\\echo '<<<oracle job $j>>>'\n$sql\nRESET ALL; DEALLOCATE ALL; CLOSE ALL;\n";
	}
	# from a file: psql stops reading at the first error
	open(my $fh, '>', "$tmp/corpus.sql") or die "cannot write the corpus: $!";
	print $fh encode_utf8($script);
	close($fh);
	my ($out, $err) = ('', '');
	my $ret = $node->psql('postgres', '', stdout => \$out, stderr => \$err,
		extra_params => [ '-f', "$tmp/corpus.sql" ],
		timeout => $PostgreSQL::Test::Utils::timeout_default);
	my $last = $next - 1;
	for my $part (split /^<<<oracle job (?=\d+>>>$)/m, $out)
	{
		next unless $part =~ s/^(\d+)>>>\n?//;
		$last = $1;
		$part =~ s/\n$//;
		$output{$last} = $part;
	}
	if ($ret != 0)
	{
		BAIL_OUT("psql failed before the first query: $err") if $last < $next;
		$output{$last} .= "\n" if $output{$last} ne '';
		$output{$last} .= "ERROR: $err";
		$failed{$last} = 1;
	}
	$next = $last + 1;
}

for my $k (0 .. $#corpus)
{
	my ($local, $remote) = ($output{ 2 * $k }, $output{ 2 * $k + 1 });
	(my $remote_sql = $corpus[$k]{sql}) =~ s/\{T\}/remote_t/g;
	$remote_sql =~ s/\{P\}/remote_t_paged/g;
	$remote_sql =~ s/\{Q\}/remote_t_query/g;
	$remote_sql =~ s/\{C\}/remote_cats/g;
	if ($corpus[$k]{fails})
	{
		ok($failed{ 2 * $k } && $failed{ 2 * $k + 1 }, "oracle: $corpus[$k]{name}")
		  or diag(encode_utf8("query:\n$remote_sql\n") . "local: $local\nremote: $remote");
		next;
	}
	if ($failed{ 2 * $k })
	{
		fail("oracle: $corpus[$k]{name}");
		diag(encode_utf8("the query fails on the local table:\n$remote_sql\n") . $local);
		next;
	}
	is($remote, $local, "oracle: $corpus[$k]{name}")
	  or diag(encode_utf8("query:\n$remote_sql"));
}

# ---------------------------------------------------------------------
# what is sent: loosely, only what today's FDW is known to push
# ---------------------------------------------------------------------

sub explain_verbose
{
	my ($sql) = @_;
	return $node->safe_psql('postgres', encode_utf8("EXPLAIN (VERBOSE, COSTS OFF) $sql"));
}

like(explain_verbose('SELECT id FROM remote_t WHERE n > 5'),
	qr/Remote SQL: SELECT .*WHERE .*`n` > \@p1/, 'EXPLAIN: an integer comparison is sent as a parameter');
like(explain_verbose(q{SELECT id FROM remote_t WHERE s = 'x'' OR 1=1 --'}),
	qr/Remote SQL: SELECT .*WHERE .*`s` = \@p1/, 'EXPLAIN: a text equality is sent as a parameter');
unlike(explain_verbose(q{SELECT id FROM remote_t WHERE s = 'x'' OR 1=1 --'}),
	qr/Remote SQL:.*1=1/, 'EXPLAIN: and the value never becomes SQL text');
like(explain_verbose(q{SELECT id FROM remote_t WHERE ts >= '2026-01-01'::timestamptz - interval '1 day'}),
	qr/Remote SQL: SELECT .*WHERE .*`ts` >= \@p1/, 'EXPLAIN: a stable timestamptz expression is sent as a parameter');
like(explain_verbose(q{SELECT id FROM remote_t WHERE d < '2026-01-01' AND b}),
	qr/Remote SQL: SELECT .*WHERE (?=.*`d` < \@p\d)(?=.*`b`)/, 'EXPLAIN: date and boolean conditions too');
like(explain_verbose('SELECT amount FROM remote_t WHERE id < 3'),
	qr/Remote SQL: SELECT .*`amount_value`/,
	'EXPLAIN: the column_name option names the BigQuery column');
like(explain_verbose(q{SELECT id FROM remote_t WHERE s COLLATE "und-x-icu" < 'b'}),
	qr/Filter: /, 'EXPLAIN: text ordering under ICU is kept local');

# --- aggregates and grouping (planner) -----------------------------------
like(explain_verbose(q{SELECT to_char(date_trunc('day', ts, 'UTC'), 'YYYY-MM-DD'), count(*) FROM remote_t GROUP BY date_trunc('day', ts, 'UTC')}),
	qr/Remote SQL: SELECT COUNT\(\*\) AS c1, TIMESTAMP_TRUNC\(`ts`, DAY\) AS c2 FROM \S+ GROUP BY 2$/m,
	'EXPLAIN: a function of a grouping key is computed here from the key');
like(explain_verbose(q{SELECT t, count(*) FROM remote_t GROUP BY t ORDER BY 2 DESC, t COLLATE "C"}),
	qr/Remote SQL: SELECT `t` AS c1, COUNT\(\*\) AS c2 FROM \S+ GROUP BY 1 ORDER BY 2 DESC NULLS FIRST, 1 ASC NULLS LAST$/m,
	'EXPLAIN: select items are named, sort keys are positions');

like(explain_verbose('SELECT cat, sum(f), avg(f), min(g), max(g) FROM remote_t GROUP BY cat'),
	qr/Remote SQL: SELECT `cat` AS c1, SUM\(IF\(IS_NAN\(`f`\) OR IS_INF\(`f`\), 0, `f`\)\) AS c2, .* GROUP BY 1$/m,
	'EXPLAIN: float aggregates are computed in BigQuery');
$node->safe_psql('postgres', q{ALTER FOREIGN TABLE remote_t OPTIONS (ADD float_aggregates 'local')});
like(explain_verbose('SELECT cat, sum(f) FROM remote_t GROUP BY cat'),
	qr/Output: cat, sum\(f\)\n.*Remote SQL: SELECT `f`, `cat` FROM/s,
	'EXPLAIN: float_aggregates local keeps them here');
$node->safe_psql('postgres', q{ALTER FOREIGN TABLE remote_t OPTIONS (DROP float_aggregates)});

like(explain_verbose('SELECT cat, count(*) FROM remote_t GROUP BY cat ORDER BY count(*) DESC, cat LIMIT 3'),
	qr/^Foreign Scan\n.*Remote SQL: SELECT .* GROUP BY 1 ORDER BY 2 DESC NULLS FIRST, 1 ASC NULLS LAST LIMIT 3$/s,
	'EXPLAIN: a top-N over groups goes to BigQuery whole');

like(explain_verbose(q{SELECT count(*) FILTER (WHERE n > 0), count(DISTINCT s) FILTER (WHERE b) FROM remote_t}),
	qr/Remote SQL: SELECT COUNTIF\(\(`n` > \@p1\)\) AS c1, COUNT\(DISTINCT IF\(`b`, `s`, NULL\)\) AS c2 FROM/,
	'EXPLAIN: FILTER clauses go to BigQuery');

like(explain_verbose(q{SELECT cat, count(*) FILTER (WHERE n > 0), count(n) FILTER (WHERE b), count(DISTINCT t) FILTER (WHERE s LIKE 'w%'),
	  sum(n) FILTER (WHERE n BETWEEN -1000 AND 1000), avg(price) FILTER (WHERE d >= '2026-01-01'),
	  min(s) FILTER (WHERE NOT b), max(ts) FILTER (WHERE ts < '2026-03-01' OR b IS NULL),
	  sum(f) FILTER (WHERE id < 300), max(g) FILTER (WHERE id < 100), count(*)
	  FROM remote_t GROUP BY cat}),
	qr/^Foreign Scan\n/, 'EXPLAIN: the FILTER query of the oracle is computed in BigQuery');

like(explain_verbose('SELECT DISTINCT b, cat FROM remote_t ORDER BY b, cat LIMIT 4'),
	qr/^Foreign Scan\n.*Remote SQL: SELECT `b` AS c1, `cat` AS c2 FROM \S+ GROUP BY 1, 2 ORDER BY 1 ASC NULLS LAST, 2 ASC NULLS LAST LIMIT 4$/s,
	'EXPLAIN: SELECT DISTINCT is a GROUP BY in BigQuery');

like(explain_verbose('SELECT d, avg(f), count(*) FROM remote_t GROUP BY d HAVING avg(f) < 0 ORDER BY d LIMIT 6'),
	qr/^Limit\n.*->  Foreign Scan\n.*Filter: \(\(avg\(remote_t\.f\)\) < .*Remote SQL: SELECT .* GROUP BY 1 ORDER BY 1 ASC NULLS LAST$/s,
	'EXPLAIN: a HAVING evaluated here filters the grouped scan and keeps the LIMIT here');

like(explain_verbose('SELECT x.id, c.label FROM remote_t x LEFT JOIN remote_cats c ON c.cat = x.cat AND c.weight > 1 WHERE x.id < 9'),
	qr/^Foreign Scan\n.*Remote SQL: SELECT r1\.`id` AS c1, r2\.`label` AS c2 FROM `oracle-project\.oracle\.oracle_t` AS r1 LEFT JOIN `oracle-project\.oracle\.oracle_cats` AS r2 ON \(r2\.`cat` = r1\.`cat`\) AND \(r2\.`weight` > \@p\d\) WHERE \(r1\.`id` < \@p\d\)$/s,
	'EXPLAIN: a join of two foreign tables is one BigQuery query');
# --- float comparisons and string functions: what is sent --------------

like(explain_verbose('SELECT id FROM remote_t WHERE g > 1'),
	qr/Remote SQL: SELECT .*WHERE \(\@p1 < `g` OR IS_NAN\(`g`\)\)/,
	'EXPLAIN: a float comparison is sent with an IS_NAN term for NaN');
like(explain_verbose(q{SELECT id FROM remote_t WHERE g = f}),
	qr/Remote SQL: SELECT .*WHERE \(`g` = `f` OR \(IS_NAN\(`g`\) AND IS_NAN\(`f`\)\)\)/,
	'EXPLAIN: float equality of two columns holds NaN equal to NaN');
like(explain_verbose(q{SELECT id FROM remote_t WHERE g = 'NaN'}),
	qr/Remote SQL: SELECT .*IS_NAN\(\@p1\)/, 'EXPLAIN: a NaN constant travels as a parameter');
like(explain_verbose('SELECT id, g FROM remote_t ORDER BY g DESC LIMIT 3'),
	qr/Remote SQL: SELECT .*ORDER BY IS_NAN\(`g`\) DESC NULLS FIRST, `g` DESC NULLS FIRST LIMIT/,
	'EXPLAIN: a float order puts NaN where PostgreSQL does');
like(explain_verbose(q{SELECT id FROM remote_t WHERE g IN (0, 'Infinity')}),
	qr/Remote SQL: SELECT .*`g` IN UNNEST\(\@p1\)/, 'EXPLAIN: a float IN list without NaN is sent');
like(explain_verbose(q{SELECT id FROM remote_t WHERE g IN (0, 'NaN')}),
	qr/Filter: .*NaN/, 'EXPLAIN: a float IN list with NaN is kept local');
like(explain_verbose('SELECT id FROM remote_t WHERE g + 1 > 2'),
	qr/Filter: /, 'EXPLAIN: float arithmetic is kept local');
unlike(explain_verbose('SELECT g, count(*) FROM remote_t GROUP BY g'),
	qr/Remote SQL:.*GROUP BY/, 'EXPLAIN: a float grouping key is kept local');
like(explain_verbose('SELECT min(g), max(g) FROM remote_t'),
	qr/Remote SQL: SELECT COALESCE\(MIN\(IF\(IS_NAN\(`g`\), NULL, `g`\)\), .* MAX\(`g`\)\) AS c2 FROM/,
	'EXPLAIN: float min and max are sent with NaN spelled out');
like(explain_verbose(q{SELECT id FROM remote_t WHERE lower(s) = 'abc'}),
	qr/Remote SQL: SELECT .*WHERE \(TRANSLATE\(`s`, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'\) = \@p1\)/,
	'EXPLAIN: lower() under C is sent as an ASCII TRANSLATE');
like(explain_verbose(q{SELECT id FROM remote_t WHERE s ILIKE '%GREEN'}),
	qr/Remote SQL: SELECT .*WHERE \(TRANSLATE\(`s`, .*\) LIKE TRANSLATE\(\@p1, /,
	'EXPLAIN: ILIKE under C is sent as LIKE of both sides lowered');
like(explain_verbose(q{SELECT id FROM remote_t WHERE lower(t) = 'abc'}),
	qr/Filter: /, 'EXPLAIN: lower() under ICU is kept local');
like(explain_verbose(q{SELECT id FROM remote_t WHERE t ILIKE 'abc'}),
	qr/Filter: /, 'EXPLAIN: ILIKE under ICU is kept local');
like(explain_verbose(q{SELECT id FROM remote_t WHERE substr(s, 2, 3) = 'abc'}),
	qr/Remote SQL: SELECT .*SUBSTR\(`s`, GREATEST\(\@p1, 1\), IF\(/,
	'EXPLAIN: substr is sent with PostgreSQL\'s start and count');
like(explain_verbose(q{SELECT id FROM remote_t WHERE concat(s, t) = 'abc' AND s || t = 'x' AND length(s) = 3}),
	qr/Remote SQL: SELECT .*CONCAT\(IFNULL\(`s`, ''\), IFNULL\(`t`, ''\)\).*\(`s` \|\| `t`\).*LENGTH\(`s`\)/,
	'EXPLAIN: concat, || and length are sent');
like(explain_verbose(q{SELECT id FROM remote_t WHERE btrim(s) = 'a' AND rtrim(s, 'x') = 'b' AND replace(s, 'a', 'b') = 'c' AND starts_with(s, 'w')}),
	qr/Remote SQL: SELECT (?=.*\(TRIM\(`s`, ' '\))(?=.*RTRIM\(`s`, \@p\d\))(?=.*REPLACE\(`s`, )(?=.*STARTS_WITH\(`s`, )/,
	'EXPLAIN: trims, replace and starts_with are sent');
like(explain_verbose(q{SELECT id FROM remote_t WHERE strpos(s, 'b') > 1}),
	qr/Remote SQL: SELECT .*WHERE \(CASE WHEN `s` IS NULL OR \@p1 IS NULL THEN NULL WHEN \@p1 = '' THEN 1 ELSE STRPOS\(`s`, \@p1\) END > \@p2\)/,
	'EXPLAIN: strpos is sent, the empty string found at 1');
like(explain_verbose(q{SELECT id FROM remote_t WHERE CASE cat WHEN 'alpha' THEN 1 ELSE 2 END = 1 AND coalesce(s, t) = 'a' AND nullif(s, '') IS NULL}),
	qr/Remote SQL: SELECT (?=.*CASE WHEN \(`cat` = \@p\d\) THEN .* END)(?=.*COALESCE\(`s`, `t`\))(?=.*IF\(\(`s` = \@p\d\), NULL, `s`\))/,
	'EXPLAIN: CASE, COALESCE and NULLIF are sent');
like(explain_verbose(q{SELECT CASE WHEN n > 0 THEN 'pos' ELSE 'other' END, count(*) FROM remote_t GROUP BY 1}),
	qr/Remote SQL: SELECT CASE WHEN .* GROUP BY /, 'EXPLAIN: a CASE grouping key is sent');
like(explain_verbose(q{SELECT id, t FROM remote_t ORDER BY t COLLATE "C.utf8" LIMIT 3}),
	qr/Remote SQL: SELECT .*ORDER BY `t` ASC NULLS LAST LIMIT/, 'EXPLAIN: text ordered under C.utf8 is sent');
unlike(explain_verbose(q{SELECT id, t FROM remote_t ORDER BY t LIMIT 3}),
	qr/Remote SQL:.*ORDER BY/, 'EXPLAIN: text ordered under the ICU default is kept local');

# a database whose default collation is libc's C.UTF-8 (Debian's default):
# its text sorts by code point, as in BigQuery, so ordering is sent
$node->safe_psql('postgres',
	q{CREATE DATABASE cutf8 TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C.UTF-8' LOCALE_PROVIDER libc});
$node->safe_psql('cutf8', encode_utf8(qq{
	CREATE EXTENSION bqstream;
	CREATE SERVER bq FOREIGN DATA WRAPPER bqstream_fdw
	  OPTIONS (project_id 'oracle-project', dataset 'oracle', bigquery_endpoint 'http://127.0.0.1:$bq');
	CREATE USER MAPPING FOR CURRENT_USER SERVER bq OPTIONS (auth 'none');
	CREATE TABLE local_t ($table_columns);
	INSERT INTO local_t VALUES $values;
	CREATE FOREIGN TABLE remote_t ($table_columns) SERVER bq OPTIONS ("table" 'oracle_t');
	ALTER FOREIGN TABLE remote_t ALTER COLUMN amount OPTIONS (column_name 'amount_value');
}));
for my $sql (q{SELECT id, t FROM {T} ORDER BY t, id},
	q{SELECT id, t FROM {T} WHERE t > 'Banana' AND t <= 'éclair' ORDER BY t DESC NULLS LAST, id LIMIT 40},
	q{SELECT min(t), max(t), min(s COLLATE "default"), max(s COLLATE "default") FROM {T}},
	q{SELECT t, count(*), min(id) FROM {T} GROUP BY t ORDER BY t},
	q{SELECT id, s FROM {T} ORDER BY s COLLATE "default" DESC, id LIMIT 30},
	q{SELECT id, t FROM {T} WHERE lower(t) = 'éclair' OR t ILIKE 'ss' ORDER BY id})
{
	(my $local = $sql) =~ s/\{T\}/local_t/g;
	(my $remote = $sql) =~ s/\{T\}/remote_t/g;
	is($node->safe_psql('cutf8', encode_utf8($remote)), $node->safe_psql('cutf8', encode_utf8($local)),
		encode_utf8("C.UTF-8 database: $remote"));
}
like($node->safe_psql('cutf8', 'EXPLAIN (VERBOSE, COSTS OFF) SELECT id, t FROM remote_t WHERE t < \'b\' ORDER BY t LIMIT 3'),
	qr/Remote SQL: SELECT .*WHERE \(`t` < \@p1\) ORDER BY `t` ASC NULLS LAST LIMIT/,
	'EXPLAIN: in a C.UTF-8 database, text ordering and ranges under the default collation are sent');
like($node->safe_psql('cutf8', 'EXPLAIN (VERBOSE, COSTS OFF) SELECT min(t), max(t) FROM remote_t'),
	qr/Remote SQL: SELECT MIN\(`t`\) AS c1, MAX\(`t`\) AS c2/,
	'EXPLAIN: and min and max of such text');
like($node->safe_psql('cutf8', q{EXPLAIN (VERBOSE, COSTS OFF) SELECT id FROM remote_t WHERE lower(t) = 'a'}),
	qr/Filter: /, 'EXPLAIN: lower() under C.UTF-8 (Unicode case mapping) is kept local');

# time zones and time buckets: what runs in BigQuery
sub explain_in_zone
{
	my ($zone, $sql) = @_;
	return $node->safe_psql('postgres', "SET TimeZone = '$zone'; EXPLAIN (VERBOSE, COSTS OFF) $sql");
}
like(explain_verbose(q{SELECT id FROM remote_t WHERE ts < 'infinity' AND d > '-infinity'}),
	qr/WHERE IF\(`ts` IS NULL, NULL, TRUE\) AND IF\(`d` IS NULL, NULL, TRUE\)/,
	'EXPLAIN: a bound past the range is decided, not sent');
like($node->safe_psql('postgres', q{SET plan_cache_mode = force_generic_plan;
	PREPARE p(timestamptz) AS SELECT id FROM remote_t WHERE ts < $1; EXPLAIN (VERBOSE, COSTS OFF) EXECUTE p('infinity')}),
	qr/WHERE \(`ts` <= \@p1\)/, 'EXPLAIN: a parameter is clamped into the range, the comparison made inclusive');
like(explain_in_zone('Asia/Kathmandu', q{SELECT date_trunc('day', ts), count(*) FROM remote_t_tz GROUP BY 1}),
	qr/Remote SQL: SELECT CASE WHEN `ts` < \@p\d+ THEN ERROR\(.*ELSE TIMESTAMP_TRUNC\(`ts`, DAY, IFNULL\(\@p\d+, ERROR\(.*GROUP BY 1/,
	'EXPLAIN: GROUP BY date_trunc in the session zone runs in BigQuery, the zone a parameter');
like(explain_in_zone('UTC', q{SELECT date_trunc('week', ts, 'Pacific/Chatham'), count(*) FROM remote_t_tz GROUP BY 1}),
	qr/TIMESTAMP_TRUNC\(`ts`, ISOWEEK, \@p\d+\).*GROUP BY 1/,
	"EXPLAIN: date_trunc('week', ts, zone) is BigQuery's ISOWEEK in that zone");
like(explain_in_zone('Australia/Lord_Howe', q{SELECT id FROM remote_t_tz WHERE date_trunc('hour', ts) = '2026-04-05 01:00'}),
	qr/WHERE IF\(`ts` < \@p\d+, FALSE, \(CASE WHEN .*TIMESTAMP_TRUNC\(`ts`, HOUR, IFNULL\(\@p\d+/,
	'EXPLAIN: date_trunc in WHERE is sent');
like(explain_in_zone('America/St_Johns', q{SELECT ts::date, count(*) FROM remote_t_tz GROUP BY 1}),
	qr/ELSE DATE\(`ts`, IFNULL\(\@p\d+, ERROR\(.*GROUP BY 1/, 'EXPLAIN: ts::date in the session zone runs in BigQuery');
like(explain_in_zone('Asia/Tokyo', q{SELECT id FROM remote_t WHERE ts::date = '2026-01-05'}),
	qr/WHERE \(CASE WHEN `ts` < \@p\d+ THEN FALSE WHEN `ts` > \@p\d+ THEN FALSE ELSE DATE\(`ts`, IFNULL\(\@p\d+, .*\) = \@p\d+ END\)/,
	'EXPLAIN: and in WHERE');
like(explain_in_zone('America/New_York', q{SELECT id FROM remote_t WHERE d = ts::date}),
	qr/Filter: /, 'EXPLAIN: not against another column (rows at the ends of the range)');
like(explain_in_zone('UTC+3', q{SELECT date_trunc('day', ts), count(*) FROM remote_t_tz GROUP BY 1}),
	qr/Remote SQL: SELECT `ts` FROM/, 'EXPLAIN: not in a POSIX zone (BigQuery reads UTC+3 as east)');
like(explain_in_zone('America/Havana', q{SELECT date_trunc('day', ts), count(*) FROM remote_t_tz GROUP BY 1}),
	qr/Remote SQL: SELECT `ts` FROM/, 'EXPLAIN: not by the day in a zone with a repeated midnight');
like(explain_in_zone('America/Havana', q{SELECT date_trunc('hour', ts), count(*) FROM remote_t_tz GROUP BY 1}),
	qr/TIMESTAMP_TRUNC\(`ts`, HOUR, IFNULL/, 'EXPLAIN: but by the hour there');
like(explain_in_zone('UTC', q{SELECT date_trunc('decade', ts), date_trunc('day', ts, 'EST'), count(*) FROM remote_t_tz GROUP BY 1, 2}),
	qr/Remote SQL: SELECT `ts` FROM/, 'EXPLAIN: decades and abbreviations stay local');
like(explain_in_zone('Asia/Kathmandu', q{SELECT floor(extract(epoch from ts)/300)*300 AS "time", count(*) FROM remote_t_tz GROUP BY 1 ORDER BY 1}),
	qr/Remote SQL: SELECT \(\(DIV\(UNIX_MICROS\(`ts`\), 300000000\) - IF\(MOD.*\) \* 300\)( AS c1)?, COUNT\(\*\).*GROUP BY 1/,
	"EXPLAIN: Grafana's \$__timeGroup runs in BigQuery as integer arithmetic");
like(explain_in_zone('UTC', q{SELECT id FROM remote_t_tz WHERE floor(extract(epoch from ts)/300)*300 >= 30100000200 OR floor(extract(epoch from ts)/200) = -100500001}),
	qr/Remote SQL: SELECT `id` FROM `[^`]*oracle_tz` WHERE \(\(\(\(DIV\(UNIX_MICROS/, 'EXPLAIN: epoch buckets in WHERE');
like(explain_in_zone('UTC', q{SELECT to_timestamp(floor(extract(epoch from ts)/60)*60), count(*) FROM remote_t_tz GROUP BY 1}),
	qr/Remote SQL: SELECT TIMESTAMP_SECONDS\(\(DIV\(UNIX_MICROS\(`ts`\), 60000000\)/, 'EXPLAIN: and to_timestamp of it');
like(explain_in_zone('UTC', q{SELECT extract(epoch from ts)::bigint / 60 * 60, (extract(epoch from ts)*1000)::bigint, count(*) FROM remote_t_tz GROUP BY 1, 2}),
	qr/Remote SQL: SELECT \(DIV\(DIV\(UNIX_MICROS\(`ts`\) \+ IF\(UNIX_MICROS\(`ts`\) < 0, -500000, 500000\), 1000000\), \@p\d+\) \* \@p\d+\)( AS c1)?, DIV\(UNIX_MICROS\(`ts`\) \+ IF\(UNIX_MICROS\(`ts`\) < 0, -500, 500\), 1000\)/,
	'EXPLAIN: integer epochs, rounded as numeric to bigint rounds');
like(explain_in_zone('UTC', q{SELECT extract(epoch from ts), count(*) FROM remote_t_tz WHERE extract(epoch FROM ts) > 0 GROUP BY 1}),
	qr/Remote SQL: SELECT \(CAST\(UNIX_MICROS\(`ts`\) AS NUMERIC\) \/ 1000000\)( AS c1)?, COUNT\(\*\).*WHERE \(\(CAST/, 'EXPLAIN: extract(epoch) itself');
like(explain_in_zone('UTC', q{SELECT floor(extract(epoch from ts)/2000000)*2000000, floor(extract(epoch from ts)/0.5), count(*) FROM remote_t_tz GROUP BY 1, 2}),
	qr/Remote SQL: SELECT `ts` FROM/, 'EXPLAIN: buckets of 2000000 s or a fraction of one stay local');
like(explain_in_zone('Asia/Kathmandu', q{SELECT extract(isodow FROM ts), count(*) FROM remote_t_tz GROUP BY 1}),
	qr/Remote SQL: SELECT CASE WHEN `ts` < \@p\d+ THEN ERROR\(.* ELSE \(1 \+ MOD\(5 \+ EXTRACT\(DAYOFWEEK FROM `ts` AT TIME ZONE IFNULL\(\@p\d+, ERROR\(.*, 7\)\) END( AS c1)?, COUNT\(\*\).*GROUP BY 1/,
	'EXPLAIN: extract of fields in the session zone runs in BigQuery');
like(explain_in_zone('UTC+3', q{SELECT extract(hour FROM ts), count(*) FROM remote_t_tz GROUP BY 1}),
	qr/Remote SQL: SELECT `ts` FROM/, 'EXPLAIN: not in a POSIX zone');
like(explain_in_zone('UTC', q{SELECT id FROM remote_t_tz WHERE extract(hour FROM ts) = 3}),
	qr/Filter: /, 'EXPLAIN: nor in WHERE (rows at the ends of the range)');
like(explain_in_zone('Asia/Kathmandu', q{SELECT date_bin('15 minutes', ts, '2026-01-01 00:07:30+00'), count(*) FROM remote_t_tz GROUP BY 1}),
	qr/Remote SQL: SELECT TIMESTAMP_MICROS\(UNIX_MICROS\(\@p1\) \+ \(DIV\(UNIX_MICROS\(`ts`\) - UNIX_MICROS\(\@p1\), \@p2\) - IF\(MOD.*GROUP BY 1/,
	'EXPLAIN: date_bin runs in BigQuery as integer arithmetic');
like(explain_in_zone('UTC', q{SELECT date_bin('1 month', ts, '2000-01-01'), date_bin('1 hour', ts, '0001-12-31 23:00:00+00 BC'), count(*) FROM remote_t_tz GROUP BY 1, 2}),
	qr/Remote SQL: SELECT `ts` FROM/, 'EXPLAIN: not with months or an origin outside the range');
like(explain_in_zone('Asia/Kathmandu', q{SELECT date_trunc('second', ts), count(*) FROM remote_t_tz GROUP BY 1}),
	qr/TIMESTAMP_TRUNC\(`ts`, SECOND\) AS c1, COUNT/, 'EXPLAIN: seconds need no zone');
{
	my ($ret, $out, $err) = $node->psql('postgres', q{SET plan_cache_mode = force_generic_plan; SET TimeZone = 'UTC';
		PREPARE p AS SELECT date_trunc('day', ts), count(*) FROM remote_t_tz GROUP BY 1;
		EXECUTE p; SET TimeZone = 'America/Havana'; EXECUTE p});
	like($err, qr/BigQuery cannot truncate in the session time zone set since this plan was made/,
		'a generic plan meeting a zone BigQuery cannot truncate in fails, never answers otherwise');
}

note(scalar(@corpus) . " oracle queries");
$node->stop;
done_testing();
