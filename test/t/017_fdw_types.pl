# bqstream_fdw and BigQuery's composite and special types, with PostgreSQL's
# own values as the oracle: a BigQuery table of the emulator with a RECORD
# (nested RECORD, REPEATED field, BYTES and TIMESTAMP inside), a REPEATED
# RECORD, GEOGRAPHY, BIGNUMERIC at its extremes, INTERVALs with negative
# parts, RANGEs of DATE, DATETIME and TIMESTAMP with unbounded ends, and JSON
# is read through foreign tables declared with composite types, arrays of
# them, jsonb, interval and range types; the same values written as
# PostgreSQL literals in local tables must come out identical, under
# several time zones, DateStyles and IntervalStyles.  Then IMPORT FOREIGN
# SCHEMA's mapping (and PostGIS's geometry when it is installed), filters
# on these columns (kept local), and the errors for declarations that do
# not fit.
use strict;
use warnings;
use utf8;

use File::Temp qw(tempdir);
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use BqEmulator qw(http);

my $tmp = tempdir(CLEANUP => 1);
my $bq = BqEmulator->new(dir => $tmp, services => 'bigquery')->{bigquery};
my $api = "http://127.0.0.1:$bq/bigquery/v2/projects/types-project";

my $node = PostgreSQL::Test::Cluster->new('fdw_types');
$node->init(extra => [ '--encoding=UTF8', '--locale=C.UTF-8' ]);
$node->start;

$node->safe_psql('postgres', qq{
	CREATE EXTENSION bqstream;
	CREATE SERVER bq FOREIGN DATA WRAPPER bqstream_fdw
	  OPTIONS (project_id 'types-project', dataset 'types', bigquery_endpoint 'http://127.0.0.1:$bq');
	CREATE USER MAPPING FOR CURRENT_USER SERVER bq OPTIONS (auth 'none');
	SELECT bqstream.create_dataset('bq');
});

my $created = decode_json(http('POST', "$api/datasets/types/tables", encode_json({
	tableReference => { tableId => 'typed' },
	schema => { fields => [
		{ name => 'id', type => 'INT64', mode => 'REQUIRED' },
		{ name => 'rec', type => 'RECORD', fields => [
			{ name => 'name', type => 'STRING' },
			{ name => 'qty', type => 'INTEGER' },
			{ name => 'tags', type => 'STRING', mode => 'REPEATED' },
			{ name => 'sub', type => 'STRUCT', fields => [
				{ name => 'b', type => 'BYTES' },
				{ name => 'ts', type => 'TIMESTAMP' } ] } ] },
		{ name => 'items', type => 'RECORD', mode => 'REPEATED', fields => [
			{ name => 'sku', type => 'STRING' },
			{ name => 'price', type => 'BIGNUMERIC' },
			{ name => 'ok', type => 'BOOL' },
			{ name => 'f', type => 'FLOAT64' },
			{ name => 'j', type => 'JSON' } ] },
		{ name => 'geo', type => 'GEOGRAPHY' },
		{ name => 'big', type => 'BIGNUMERIC' },
		{ name => 'iv', type => 'INTERVAL' },
		{ name => 'rd', type => 'RANGE', rangeElementType => { type => 'DATE' } },
		{ name => 'rdt', type => 'RANGE', rangeElementType => { type => 'DATETIME' } },
		{ name => 'rts', type => 'RANGE', rangeElementType => { type => 'TIMESTAMP' } },
		{ name => 'j', type => 'JSON' } ] } })));
is($created->{id}, 'types-project:types.typed', 'the BigQuery table is created');

# the largest BIGNUMERIC, and 76 significant digits
my $BIG = '578960446186580977117854925043439539266.34992332820282019728792003956564819967';
my $NINES = ('9' x 38) . '.' . ('9' x 38);
my $hostile = q["}, "qty": 999, "x": "'; DROP TABLE t; --];

my @rows = (
	{ id => 1,
	  rec => { name => 'a "quoted" \\ name', qty => 3, tags => [ 'x', 'y' ],
		  sub => { b => 'AAEC', ts => '2020-01-02T03:04:05.123456Z' } },
	  items => [ { sku => 's1', price => '1.5', ok => JSON::PP::true, f => 0.25,
			  j => '{"k": [1, "two"]}' },
		  { sku => undef, price => '-0.000000001', ok => JSON::PP::false, f => 'NaN' } ],
	  geo => 'point(1.0 2.5)', big => $BIG, iv => '-1-2 -3 -4:5:6.789',
	  rd => { start => '2020-01-01', end => undef },
	  rdt => '[2020-01-01 10:00:00, 2020-01-02T00:00:00.5)',
	  rts => { start => undef, end => '2020-01-01T00:00:00Z' },
	  j => '{"a": [1, "x"], "b": null}' },
	{ id => 2 },
	{ id => 3, rec => { sub => undef }, items => [], big => "-$BIG",
	  iv => 'P1Y2M3DT4H5M6.5S', rd => '[UNBOUNDED, UNBOUNDED)',
	  geo => 'LINESTRING (0 0, 10.25 -20)', rts => '[1969-12-31T23:59:59.999999Z, UNBOUNDED)' },
	{ id => 4,
	  rec => { name => $hostile, qty => '-9223372036854775808',
		  tags => [ q{a'b}, "line1\nline2", 'Grüße 🎉', q{back\slash}, '' ],
		  sub => { b => '', ts => '0001-01-01T00:00:00Z' } },
	  items => [ { sku => $hostile, price => $BIG, f => '-Infinity',
			  j => JSON::PP->new->allow_nonref->encode($hostile) } ],
	  big => '0.00000000000000000000000000000000000001', iv => '0-0 0 0:0:0.000001',
	  rd => '[2020-01-01, 2020-01-02)', rdt => { start => '0001-01-01T00:00:00', end => '9999-12-31T23:59:59.999999' },
	  j => JSON::PP->new->allow_nonref->encode($hostile) },
	{ id => 5, big => $NINES, iv => '-10000-0 -3660000 -87840000:0:0',
	  rts => { start => '2020-06-01T12:00:00.000001Z', end => '9999-12-31T23:59:59.999999Z' } },
	{ id => 6, big => "-$NINES", iv => '10000-0 3660000 87840000:0:0' },
);
my $inserted = decode_json(http('POST', "$api/datasets/types/tables/typed/insertAll",
	encode_json({ rows => [ map { { json => $_ } } @rows ] })));
ok(!exists $inserted->{insertErrors}, 'the rows are stored')
  or diag(explain($inserted));

# ---------------------------------------------------------------------
# the same values in PostgreSQL
# ---------------------------------------------------------------------

$node->safe_psql('postgres', <<"SQL");
CREATE TYPE sub_t AS (b bytea, ts timestamptz);
CREATE TYPE rec_t AS (name text, qty bigint, tags text[], sub sub_t);
CREATE TYPE item_t AS (sku text, price numeric, ok boolean, f double precision, j jsonb);

CREATE FOREIGN TABLE typed_c (id bigint, rec rec_t, items item_t[], geo text, big numeric,
  iv interval, rd daterange, rdt tsrange, rts tstzrange, j jsonb)
  SERVER bq OPTIONS (table 'typed');
CREATE FOREIGN TABLE typed_j (id bigint, rec jsonb, items jsonb, geo text, big numeric,
  iv interval, rd daterange, rdt tsrange, rts tstzrange, j json)
  SERVER bq OPTIONS (table 'typed');

CREATE TABLE expected_c (id bigint, rec rec_t, items item_t[], geo text, big numeric,
  iv interval, rd daterange, rdt tsrange, rts tstzrange, j jsonb);
CREATE TABLE expected_j (id bigint, rec jsonb, items jsonb);
SET TimeZone = 'UTC';
INSERT INTO expected_c VALUES
 (1, ROW('a "quoted" \\ name', 3, ARRAY['x', 'y'],
         ROW('\\x000102', '2020-01-02 03:04:05.123456+00')::sub_t)::rec_t,
  ARRAY[ROW('s1', 1.5, true, 0.25, '{"k": [1, "two"]}')::item_t,
        ROW(NULL, -0.000000001, false, 'NaN', NULL)::item_t],
  'POINT(1 2.5)', $BIG, '-1 years -2 mons -3 days -04:05:06.789',
  '[2020-01-01,)', '[2020-01-01 10:00:00,2020-01-02 00:00:00.5)', '(,2020-01-01 00:00:00+00)',
  '{"a": [1, "x"], "b": null}'),
 (2, NULL, '{}', NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (3, ROW(NULL, NULL, '{}', NULL)::rec_t, '{}', 'LINESTRING(0 0, 10.25 -20)', -$BIG,
  '1 year 2 mons 3 days 04:05:06.5', '(,)', NULL, '[1969-12-31 23:59:59.999999+00,)', NULL),
 (4, ROW(\$h\$$hostile\$h\$, -9223372036854775808,
         ARRAY['a''b', E'line1\\nline2', U&'Gr\\00FC\\00DFe \\+01F389', 'back\\slash', ''],
         ROW('\\x', '0001-01-01 00:00:00+00')::sub_t)::rec_t,
  ARRAY[ROW(\$h\$$hostile\$h\$, $BIG, NULL, '-Infinity', to_jsonb(\$h\$$hostile\$h\$::text))::item_t],
  NULL, 0.00000000000000000000000000000000000001, '00:00:00.000001',
  '[2020-01-01,2020-01-02)', '[0001-01-01 00:00:00,9999-12-31 23:59:59.999999)', NULL,
  to_jsonb(\$h\$$hostile\$h\$::text)),
 (5, NULL, '{}', NULL, $NINES, '-10000 years -3660000 days -87840000:00:00',
  NULL, NULL, '[2020-06-01 12:00:00.000001+00,9999-12-31 23:59:59.999999+00)', NULL),
 (6, NULL, '{}', NULL, -$NINES, '10000 years 3660000 days 87840000:00:00',
  NULL, NULL, NULL, NULL);
INSERT INTO expected_j VALUES
 (1, '{"name": "a \\"quoted\\" \\\\ name", "qty": 3, "tags": ["x", "y"],
       "sub": {"b": "AAEC", "ts": "2020-01-02T03:04:05.123456Z"}}',
     '[{"sku": "s1", "price": 1.5, "ok": true, "f": 0.25, "j": {"k": [1, "two"]}},
       {"sku": null, "price": -0.000000001, "ok": false, "f": "NaN", "j": null}]'),
 (2, NULL, '[]'),
 (3, '{"name": null, "qty": null, "tags": [], "sub": null}', '[]'),
 (4, jsonb_build_object('name', \$h\$$hostile\$h\$::text, 'qty', -9223372036854775808,
       'tags', jsonb_build_array('a''b', E'line1\\nline2', U&'Gr\\00FC\\00DFe \\+01F389', 'back\\slash', ''),
       'sub', '{"b": "", "ts": "0001-01-01T00:00:00Z"}'::jsonb),
     jsonb_build_array(jsonb_build_object('sku', \$h\$$hostile\$h\$::text, 'price', $BIG,
       'ok', NULL, 'f', '-Infinity', 'j', \$h\$$hostile\$h\$::text))),
 (5, NULL, '[]'),
 (6, NULL, '[]');
SQL

my $cols = 'id, rec, items, geo, big, iv, rd, rdt, rts, j';
foreach my $settings (
	q{SET TimeZone = 'UTC'},
	q{SET TimeZone = 'America/St_Johns'; SET DateStyle = 'SQL, DMY'; SET IntervalStyle = 'sql_standard'},
	q{SET TimeZone = 'Asia/Kathmandu'; SET DateStyle = 'German'; SET IntervalStyle = 'iso_8601'})
{
	my $got = $node->safe_psql('postgres', "$settings; SELECT $cols FROM typed_c ORDER BY id");
	my $want = $node->safe_psql('postgres', "$settings; SELECT $cols FROM expected_c ORDER BY id");
	is($got, $want, "composite types, arrays of them, interval and ranges as PostgreSQL's own values ($settings)");
}
like($node->safe_psql('postgres', 'SELECT big::text FROM typed_c WHERE id = 5'),
	qr/^9{38}\.9{38}$/, 'BIGNUMERIC: all 76 digits');

is($node->safe_psql('postgres', 'SELECT id, rec, items FROM typed_j ORDER BY id'),
	$node->safe_psql('postgres', 'SELECT id, rec, items FROM expected_j ORDER BY id'),
	'RECORD and REPEATED RECORD as jsonb: objects by field name, numbers exact, strings kept');
is($node->safe_psql('postgres', q{SELECT rec->>'name', jsonb_typeof(rec->'qty'), rec->'qty' FROM typed_j WHERE id = 4}),
	"$hostile|number|-9223372036854775808",
	'a hostile string inside a RECORD stays one string');
is($node->safe_psql('postgres', qq{SELECT items->0->'price' = to_jsonb(${BIG}::numeric) FROM typed_j WHERE id = 4}),
	't', 'a BIGNUMERIC inside a RECORD keeps every digit in jsonb');
is($node->safe_psql('postgres', 'SELECT j::text FROM typed_j WHERE id = 1'),
	'{"a":[1,"x"],"b":null}', 'JSON into json: the text BigQuery sent');

# a RECORD into text, REPEATED RECORD into text[] and jsonb[]
$node->safe_psql('postgres', q{
	CREATE FOREIGN TABLE typed_t (id bigint, rec text, items jsonb[]) SERVER bq OPTIONS (table 'typed');
});
is($node->safe_psql('postgres', 'SELECT t.rec::jsonb = e.rec, t.items::text FROM typed_t t JOIN expected_j e USING (id) WHERE id = 3'),
	't|{}', 'RECORD into text is its JSON; an empty REPEATED RECORD an empty array');
is($node->safe_psql('postgres', q{SELECT items[2]->>'price' FROM typed_t WHERE id = 1}),
	'-0.000000001', 'REPEATED RECORD into jsonb[]: one object per element');

# ---------------------------------------------------------------------
# filters on these columns run locally, and agree with PostgreSQL
# ---------------------------------------------------------------------

foreach my $where (
	q{iv < interval '0'},
	q{(rec).qty = 3},
	q{((rec).sub).ts < '2000-01-01'},
	q{rd @> date '2020-06-01'},
	q{rts @> timestamptz '2021-01-01 00:00:00+00'},
	q{upper_inf(rd)},
	q{cardinality(items) = 2},
	q{big > 1e38},
	q{j ? 'a'})
{
	is($node->safe_psql('postgres', "SELECT string_agg(id::text, ',' ORDER BY id) FROM typed_c WHERE $where"),
		$node->safe_psql('postgres', "SELECT string_agg(id::text, ',' ORDER BY id) FROM expected_c WHERE $where"),
		"WHERE $where");
}
foreach my $agg (
	q{count(rec), count(items), count(geo), count(iv), count(rd), count(rts), count(j)},
	q{min(big), max(big), sum(big), avg(big)},
	q{max(iv), count(DISTINCT geo), count(DISTINCT big)},
	q{id % 2, count(rec), max(big)})
{
	my $group = $agg =~ /^id % 2/ ? ' GROUP BY 1 ORDER BY 1' : '';
	is($node->safe_psql('postgres', "SELECT $agg FROM typed_c$group"),
		$node->safe_psql('postgres', "SELECT $agg FROM expected_c$group"),
		"SELECT $agg$group");
}
is($node->safe_psql('postgres', q{SELECT string_agg(id::text, ',' ORDER BY id) FROM typed_j WHERE rec->>'name' LIKE 'a%'}),
	'1', 'a jsonb filter on a RECORD');

# ---------------------------------------------------------------------
# IMPORT FOREIGN SCHEMA
# ---------------------------------------------------------------------

my $types_of = q{SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum)
	FROM pg_attribute WHERE attrelid = '%s'::regclass AND attnum > 0};
$node->safe_psql('postgres', q{
	CREATE SCHEMA imp;
	IMPORT FOREIGN SCHEMA types LIMIT TO (typed) FROM SERVER bq INTO imp;
});
is($node->safe_psql('postgres', sprintf($types_of, 'imp.typed')),
	'id bigint, rec jsonb, items jsonb, geo text, big numeric, iv interval, rd daterange, rdt tsrange, rts tstzrange, j jsonb',
	'IMPORT FOREIGN SCHEMA maps RECORD, GEOGRAPHY, BIGNUMERIC, INTERVAL, RANGE and JSON');
is($node->safe_psql('postgres', 'SET TimeZone = UTC; SELECT * FROM imp.typed ORDER BY id'),
	$node->safe_psql('postgres', 'SET TimeZone = UTC; SELECT id, rec, items, geo, big, iv, rd, rdt, rts, j::jsonb FROM typed_j ORDER BY id'),
	'the imported table reads the same values');

SKIP:
{
	skip 'PostGIS is not installed', 3
	  unless $node->safe_psql('postgres',
		q{SELECT count(*) FROM pg_available_extensions WHERE name = 'postgis'}) eq '1';
	$node->safe_psql('postgres', q{
		CREATE EXTENSION postgis;
		CREATE SCHEMA imp_gis;
		IMPORT FOREIGN SCHEMA types LIMIT TO (typed) FROM SERVER bq INTO imp_gis;
	});
	like($node->safe_psql('postgres', sprintf($types_of, 'imp_gis.typed')),
		qr/geo geometry,/, 'with PostGIS, GEOGRAPHY is imported as geometry');
	is($node->safe_psql('postgres', 'SELECT id, ST_AsText(geo), ST_NPoints(geo) FROM imp_gis.typed WHERE geo IS NOT NULL ORDER BY id'),
		"1|POINT(1 2.5)|1\n3|LINESTRING(0 0,10.25 -20)|2",
		'WKT into geometry through its input function');
	$node->safe_psql('postgres', q{
		CREATE FOREIGN TABLE geog (id bigint, geo geography) SERVER bq OPTIONS (table 'typed');
	});
	is($node->safe_psql('postgres', 'SELECT ST_AsText(geo), ST_SRID(geo) FROM geog WHERE id = 1'),
		'POINT(1 2.5)|4326', 'and into geography, on WGS 84 as BigQuery is');
}

# ---------------------------------------------------------------------
# INSERT: the same values sent back through insertAll read the same
# ---------------------------------------------------------------------

$node->safe_psql('postgres', q{
	SET IntervalStyle = 'sql_standard'; SET DateStyle = 'SQL, DMY'; SET TimeZone = 'Asia/Kathmandu';
	INSERT INTO typed_c (id, rec, items, geo, big, iv, rd, rdt, rts, j)
	  SELECT id + 100, rec, items, geo, big, iv, rd, rdt, rts, j FROM expected_c;
});
is($node->safe_psql('postgres', "SET TimeZone = UTC; SELECT id - 100, rec, items, geo, big, iv, rd, rdt, rts, j FROM typed_c WHERE id > 100 ORDER BY id"),
	$node->safe_psql('postgres', "SET TimeZone = UTC; SELECT $cols FROM expected_c ORDER BY id"),
	'INSERT of composites, arrays of them, intervals (any IntervalStyle) and ranges round-trips');
my ($ret, $out, $err) = $node->psql('postgres',
	q{INSERT INTO typed_c (id, rdt) VALUES (300, '(2020-01-01,2020-01-02]')});
like($err, qr/range \("2020-01-01 00:00:00","2020-01-02 00:00:00"\] cannot be sent to BigQuery/,
	'a range BigQuery cannot hold ([start, end) only) is refused before sending');
($ret, $out, $err) = $node->psql('postgres',
	q{INSERT INTO typed_c (id, rd) VALUES (301, 'empty')});
like($err, qr/an empty range cannot be sent to BigQuery/, 'so is an empty range');
is($node->safe_psql('postgres', 'SELECT count(*) FROM typed_c WHERE id >= 300'), '0',
	'and nothing of those statements was stored');
SKIP:
{
	skip 'PostGIS is not installed', 1
	  unless $node->safe_psql('postgres',
		q{SELECT count(*) FROM pg_extension WHERE extname = 'postgis'}) eq '1';
	$node->safe_psql('postgres', q{
		INSERT INTO imp_gis.typed (id, geo) VALUES (200, 'LINESTRING(1 1, 2 2.5)'::geometry);
		INSERT INTO geog (id, geo) VALUES (201, 'POINT(-71.06 42.36)'::geography);
	});
	is($node->safe_psql('postgres', 'SELECT id, geo FROM typed_c WHERE id IN (200, 201) ORDER BY id'),
		"200|LINESTRING(1 1, 2 2.5)\n201|POINT(-71.06 42.36)", 'PostGIS values are sent as WKT');
}

# ---------------------------------------------------------------------
# declarations that do not fit: clear errors naming the column or field
# ---------------------------------------------------------------------

$node->safe_psql('postgres', q{
	CREATE TYPE rec_missing AS (name text, qty bigint, tags text[]);
	CREATE TYPE rec_extra AS (name text, qty bigint, tags text[], sub sub_t, extra int);
	CREATE TYPE sub_bad AS (b bytea, ts date);
	CREATE TYPE rec_badsub AS (name text, qty bigint, tags text[], sub sub_bad);
	CREATE TYPE rec_case AS ("NAME" text, "Qty" bigint, tags text[], sub sub_t);
});
foreach my $case (
	[ 'rec rec_missing', qr/field "sub" of BigQuery RECORD column "rec" has no attribute in type rec_missing/ ],
	[ 'rec rec_extra', qr/attribute "extra" of type rec_extra has no field in BigQuery RECORD column "rec"/ ],
	[ 'rec integer', qr/column "rec" is a RECORD in BigQuery but integer here/ ],
	[ 'rec rec_badsub', qr/converting column "rec\.sub\.ts" from BigQuery TIMESTAMP to PostgreSQL date/ ],
	[ 'items item_t', qr/column "items" is an array in BigQuery \(REPEATED RECORD\) but item_t here/ ],
	[ 'iv integer', qr/column "iv" is an INTERVAL in BigQuery but integer here/ ],
	[ 'rts daterange', qr/column "rts" is a BigQuery RANGE<TIMESTAMP> but daterange here/ ],
	[ 'rd integer', qr/column "rd" is a RANGE in BigQuery but integer here/ ],
	[ 'big integer', qr/out of range for type integer|converting column "big"/ ])
{
	my ($decl, $re) = @$case;
	my $col = (split / /, $decl)[0];
	my ($ret, $out, $err) = $node->psql('postgres', qq{
		DROP FOREIGN TABLE IF EXISTS bad;
		CREATE FOREIGN TABLE bad (id bigint, $decl) SERVER bq OPTIONS (table 'typed');
		SELECT $col FROM bad WHERE id = 1;
	});
	like($err, $re, "a column declared $decl is refused clearly");
}
is($node->safe_psql('postgres', q{
	DROP FOREIGN TABLE IF EXISTS bad;
	CREATE FOREIGN TABLE bad (id bigint, rec rec_case) SERVER bq OPTIONS (table 'typed');
	SELECT (rec)."NAME", (rec)."Qty" FROM bad WHERE id = 1;
}), 'a "quoted" \\ name|3', 'attributes match fields ignoring case when no exact name does');

# ANALYZE samples these columns through the same conversion
$node->safe_psql('postgres', 'ANALYZE typed_c; ANALYZE typed_j');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_stats WHERE tablename = 'typed_c' AND attname IN ('rec', 'iv', 'rd', 'big')}),
	'4', 'ANALYZE gathers statistics of RECORD, INTERVAL, RANGE and BIGNUMERIC columns');

# the server stays up and answers after all that
is($node->safe_psql('postgres', 'SELECT count(*) FROM typed_c WHERE id < 100'), '6', 'the backend is fine');

done_testing();
