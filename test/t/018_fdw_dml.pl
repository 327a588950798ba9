# UPDATE and DELETE through bqstream_fdw, with PostgreSQL as the oracle: the
# same rows (hostile strings, NULLs, numerics, timestamps, floats) are in a
# local table and, through the FDW's INSERT, in a BigQuery table of the
# emulator; each statement runs on both, and its row count, its RETURNING
# rows and the table afterwards must be identical.  Statements BigQuery can
# evaluate whole run as one DML job (EXPLAIN shows it); the others send the
# rows PostgreSQL chose by their key, in batches.  Then the refusals: no key
# column, a NULL key, rows still in BigQuery's streaming buffer, the
# maximum_bytes_billed guard, a role without the UPDATE privilege.
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
my $bq = BqEmulator->new(dir => $tmp, services => 'bigquery')->{bigquery};
my $api = "http://127.0.0.1:$bq/bigquery/v2/projects/dml-project";

my $node = PostgreSQL::Test::Cluster->new('fdw_dml');
$node->init(extra => [ '--encoding=UTF8', '--locale=C.UTF-8' ]);
$node->start;
$node->safe_psql('postgres', qq{
	CREATE EXTENSION bqstream;
	CREATE SERVER bq FOREIGN DATA WRAPPER bqstream_fdw
	  OPTIONS (project_id 'dml-project', dataset 'dml', bigquery_endpoint 'http://127.0.0.1:$bq');
	CREATE USER MAPPING FOR CURRENT_USER SERVER bq OPTIONS (auth 'none');
	SELECT bqstream.create_dataset('bq');
	-- the row count of a statement, as the command tag says it
	CREATE FUNCTION row_count(sql text) RETURNS bigint LANGUAGE plpgsql AS \$\$
	DECLARE n bigint;
	BEGIN EXECUTE sql; GET DIAGNOSTICS n = ROW_COUNT; RETURN n; END \$\$;
});

# A BigQuery table; rows streamed into it leave the streaming buffer after
# buffer_s seconds (the emulator's table label).
sub bq_table
{
	my ($name, $buffer_s, @fields) = @_;
	my $r = decode_json(http('POST', "$api/datasets/dml/tables", encode_json({
		tableReference => { tableId => $name },
		labels => { emulator_streaming_buffer_s => "$buffer_s" },
		schema => { fields => [ map { { name => $_->[0], type => $_->[1] } } @fields ] } })));
	is($r->{id}, "dml-project:dml.$name", "BigQuery table $name is created");
}

my @item_fields = ([ id => 'INT64' ], [ name => 'STRING' ], [ qty => 'INT64' ],
	[ price => 'NUMERIC' ], [ ts => 'TIMESTAMP' ], [ score => 'FLOAT64' ]);
bq_table('items', 0, @item_fields);

my @hostile = (q{a'b}, q{a"b}, q{back\slash}, qq{line1\nline2}, q{x' OR 1=1 --},
	q{'; DROP TABLE items_local; --}, q{@p1}, q{@keys}, q{`tick`}, q{\N}, 'NULL', '',
	'%', '_', 'é', '日本語', "\x{1F600}", 'ab', 'abc', 'Abc');

$node->safe_psql('postgres', qq{
	CREATE FOREIGN TABLE items (id bigint OPTIONS (key 'true'), name text, qty bigint,
	  price numeric, ts timestamptz, score float8) SERVER bq OPTIONS (table 'items');
	CREATE TABLE items_local (id bigint, name text, qty bigint, price numeric,
	  ts timestamptz, score float8);
});
my @values;
for my $i (1 .. 60)
{
	my $name = $i % 13 == 0 ? undef : $i <= @hostile ? $hostile[ $i - 1 ] : "w$i";
	my $lit = defined $name ? "'" . ($name =~ s/'/''/gr) . "'" : 'NULL';
	my $qty = $i % 7 == 0 ? 'NULL' : ($i * 37) % 23;
	my $price = $i % 11 == 0 ? 'NULL' : sprintf('%d.%03d', $i * 3, ($i * 71) % 1000);
	my $ts = sprintf("'2024-05-%02d %02d:%02d:00.%06d+00'", 1 + $i % 28, $i % 24, $i % 60, $i * 991);
	my $score = $i % 9 == 0 ? 'NULL' : sprintf('%.2f', $i / 4);
	push @values, "($i, $lit, $qty, $price, $ts, $score)";
}
my $values = join(",\n", @values);
$node->safe_psql('postgres', encode_utf8(qq{
	INSERT INTO items_local VALUES $values;
	INSERT INTO items SELECT * FROM items_local;
}));

# BigQuery does not keep a NUMERIC's scale: compare the values
my $columns = 'id, name, qty, trim_scale(price), ts, score';

sub table_text
{
	my ($table) = @_;
	return $node->safe_psql('postgres', "SELECT $columns FROM $table ORDER BY id");
}
is(table_text('items'), table_text('items_local'), 'the rows are the same on both sides');

# Run a statement on the foreign table and on the local copy: the same row
# count, RETURNING rows and rows afterwards.
sub same
{
	my ($sql, $what, %opts) = @_;
	my $table = $opts{table} // 'items';
	(my $local = $sql) =~ s/\b$table\b/${table}_local/g;
	my $quoted = $sql =~ s/'/''/gr;
	my $quoted_local = $local =~ s/'/''/gr;
	if ($sql =~ /RETURNING/)
	{
		my $remote = $node->safe_psql('postgres', "WITH r AS ($sql) SELECT $columns FROM r ORDER BY 1");
		my $here = $node->safe_psql('postgres', "WITH r AS ($local) SELECT $columns FROM r ORDER BY 1");
		is($remote, $here, "$what: the same RETURNING rows");
	}
	else
	{
		my $remote = $node->safe_psql('postgres', "SELECT row_count('$quoted')");
		my $here = $node->safe_psql('postgres', "SELECT row_count('$quoted_local')");
		is($remote, $here, "$what: the same row count ($here)");
	}
	my $order = $opts{order} // 'id';
	my $list = $opts{columns} // $columns;
	is($node->safe_psql('postgres', "SELECT $list FROM $table ORDER BY $order"),
		$node->safe_psql('postgres', "SELECT $list FROM ${table}_local ORDER BY $order"),
		"$what: the same rows afterwards");
}

sub explain
{
	my ($sql) = @_;
	return $node->safe_psql('postgres', "EXPLAIN (VERBOSE, COSTS OFF) $sql");
}

# -- direct: one DML job for the whole statement ------------------------------
like(explain(q{UPDATE items SET qty = 7 WHERE id = 3}),
	qr/Foreign Update on public\.items\n.*Remote DML: UPDATE `dml-project\.dml\.items` SET `qty` = \@p1 WHERE \(`id` = \@p2\)/s,
	'EXPLAIN shows the UPDATE sent whole, its values as parameters');
like(explain(q{DELETE FROM items WHERE qty IS NULL}),
	qr/Remote DML: DELETE FROM `dml-project\.dml\.items` WHERE \(`qty` IS NULL\)/,
	'EXPLAIN shows the DELETE sent whole');
like($node->safe_psql('postgres', q{SET bqstream.enable_pushdown = off;
	EXPLAIN (VERBOSE, COSTS OFF) UPDATE items SET qty = 7}),
	qr/Remote DML: UPDATE `dml-project\.dml\.items` SET `qty` = CASE WHEN `id` = \@r1k1/,
	'with bqstream.enable_pushdown off, PostgreSQL chooses the rows');
same(q{UPDATE items SET qty = 7 WHERE id = 3}, 'direct UPDATE by key');
same(q{UPDATE items SET name = 'x''; DROP TABLE t; --`y` @p1', qty = NULL WHERE qty > 15 AND name LIKE 'w%'},
	'direct UPDATE of several rows with a hostile string');
same(q{UPDATE items SET ts = '2020-01-01 00:00:00.123456+00' WHERE id BETWEEN 40 AND 45},
	'direct UPDATE of a timestamp');
same(q{DELETE FROM items WHERE qty IS NULL AND id > 50}, 'direct DELETE');
same(q{UPDATE items SET qty = qty + 1 WHERE true}, 'direct UPDATE of every row (WHERE true)');
same(q{DELETE FROM items WHERE id = 1000}, 'direct DELETE of nothing');

my $analyze = $node->safe_psql('postgres',
	q{EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF, SUMMARY OFF) UPDATE items SET qty = 1 WHERE id = 2});
like($analyze, qr/BigQuery Jobs: 1\n.*Rows Changed: 1/s, 'EXPLAIN ANALYZE counts the job and its rows');
$node->safe_psql('postgres', q{UPDATE items_local SET qty = 1 WHERE id = 2});

# -- keyed batches: PostgreSQL chooses the rows, BigQuery changes them by key -
like(explain(q{UPDATE items SET name = upper(name) WHERE id > 30}),
	qr/Remote DML: UPDATE `dml-project\.dml\.items` SET `name` = CASE WHEN `id` = \@r1k1 THEN \@r1v1 \.\.\. ELSE `name` END WHERE `id` IN UNNEST\(\@keys\) \(one job per batch of up to 500 rows\)/,
	'EXPLAIN shows the keyed UPDATE sent per batch');
like(explain(q{DELETE FROM items WHERE md5(name) LIKE '%a%'}),
	qr/Remote DML: DELETE FROM `dml-project\.dml\.items` WHERE `id` IN UNNEST\(\@keys\)/,
	'EXPLAIN shows the keyed DELETE sent per batch');
same(q{UPDATE items SET name = upper(name) || '''`' WHERE id > 30}, 'keyed UPDATE of a string');
same(q{UPDATE items SET score = score * 2 + 0.5, price = price * 3 WHERE score > 3},
	'keyed UPDATE of a float and a numeric');
same(q{UPDATE items SET price = 12345678901234567890.123456789 WHERE id % 4 = 0},
	'keyed UPDATE with a 29-digit NUMERIC');
same(q{DELETE FROM items WHERE md5(coalesce(name, '')) LIKE '%a%'}, 'keyed DELETE');

# batches: a job for every three rows
$node->safe_psql('postgres', q{ALTER FOREIGN TABLE items OPTIONS (ADD batch_size '3')});
$analyze = $node->safe_psql('postgres',
	q{EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF, SUMMARY OFF) UPDATE items SET score = score + 1 WHERE score < 8});
my ($jobs) = $analyze =~ /BigQuery Jobs: (\d+)/;
my ($changed) = $analyze =~ /Rows Changed: (\d+)/;
my $expected = $node->safe_psql('postgres', q{SELECT count(*) FROM items_local WHERE score < 8});
is($changed, $expected, 'a keyed UPDATE in batches changes every row');
is($jobs, int(($expected + 2) / 3), 'one job per batch of three rows');
$node->safe_psql('postgres', q{UPDATE items_local SET score = score + 1 WHERE score < 8});
same(q{DELETE FROM items WHERE score::text LIKE '%5'}, 'keyed DELETE in batches of three');
$node->safe_psql('postgres', q{ALTER FOREIGN TABLE items OPTIONS (DROP batch_size)});

# RETURNING runs row by row
same(q{UPDATE items SET qty = coalesce(qty, 0) + 100 WHERE id <= 12 RETURNING *},
	'UPDATE ... RETURNING');
same(q{DELETE FROM items WHERE id IN (4, 5, 6) RETURNING *}, 'DELETE ... RETURNING');

# -- several key columns ------------------------------------------------------
bq_table('pairs', 0, [ a => 'INT64' ], [ b => 'STRING' ], [ v => 'STRING' ]);
$node->safe_psql('postgres', q{
	CREATE FOREIGN TABLE pairs (a bigint OPTIONS (key 'true'), b text OPTIONS (key 'true'), v text)
	  SERVER bq OPTIONS (table 'pairs');
	CREATE TABLE pairs_local (a bigint, b text, v text);
	INSERT INTO pairs_local SELECT i % 4, 'k' || (i / 4), 'v' || i FROM generate_series(1, 20) i;
	INSERT INTO pairs SELECT * FROM pairs_local;
});
same(q{UPDATE pairs SET v = v || '!' WHERE length(v) = 2}, 'keyed UPDATE by two key columns',
	table => 'pairs', order => 'a, b', columns => '*');
same(q{DELETE FROM pairs WHERE reverse(b) LIKE '1%'}, 'keyed DELETE by two key columns',
	table => 'pairs', order => 'a, b', columns => '*');

# -- IMPORT FOREIGN SCHEMA: BigQuery's (unenforced) primary key is the key ----
my $r = decode_json(http('POST', "$api/datasets/dml/tables", encode_json({
	tableReference => { tableId => 'keyed' },
	tableConstraints => { primaryKey => { columns => [ 'b', 'a' ] } },
	schema => { fields => [ { name => 'a', type => 'INT64' }, { name => 'b', type => 'STRING' },
		{ name => 'v', type => 'STRING' } ] } })));
is_deeply($r->{tableConstraints}, { primaryKey => { columns => [ 'b', 'a' ] } },
	'BigQuery keeps the primary key');
$node->safe_psql('postgres', q{
	CREATE SCHEMA imported;
	IMPORT FOREIGN SCHEMA dml LIMIT TO (keyed, items) FROM SERVER bq INTO imported;
});
is($node->safe_psql('postgres', q{
	SELECT attrelid::regclass || '.' || attname FROM pg_attribute
	WHERE attrelid IN ('imported.keyed'::regclass, 'imported.items'::regclass)
	  AND 'key=true' = ANY (attfdwoptions) ORDER BY 1}),
	"imported.keyed.a\nimported.keyed.b", 'IMPORT FOREIGN SCHEMA marks the primary key columns');
like(explain(q{DELETE FROM imported.keyed WHERE md5(v) = ''}),
	qr/Remote DML: DELETE FROM `dml-project\.dml\.keyed` WHERE CASE WHEN `a` = \@r1k1 AND `b` = \@r1k2 THEN TRUE \.\.\. ELSE FALSE END/,
	'and UPDATE and DELETE find rows by them');

# -- refusals -----------------------------------------------------------------
my ($ret, $out, $err);

bq_table('nokey', 0, [ id => 'INT64' ]);
$node->safe_psql('postgres',
	q{CREATE FOREIGN TABLE nokey (id bigint) SERVER bq OPTIONS (table 'nokey')});
($ret, $out, $err) = $node->psql('postgres', q{DELETE FROM nokey WHERE id = 1});
like($err, qr/ERROR:  cannot delete from foreign table "nokey" because it has no key column.*HINT:  Mark the columns that identify a row, e\.g\. ALTER FOREIGN TABLE public\.nokey ALTER COLUMN id OPTIONS \(ADD key 'true'\)\./s,
	'no key column: an error with a hint');
is($node->safe_psql('postgres', q{
	SELECT pg_relation_is_updatable('nokey', false), pg_relation_is_updatable('items', false)}),
	'8|28', 'only a table with a key is updatable');

bq_table('nullkey', 0, [ id => 'INT64' ], [ name => 'STRING' ]);
$node->safe_psql('postgres', q{
	CREATE FOREIGN TABLE nullkey (id bigint OPTIONS (key 'true'), name text)
	  SERVER bq OPTIONS (table 'nullkey');
	INSERT INTO nullkey VALUES (1, 'a'), (NULL, 'b'), (3, NULL);
});
($ret, $out, $err) = $node->psql('postgres', q{DELETE FROM nullkey WHERE md5(coalesce(name, '')) <> ''});
like($err, qr/ERROR:  cannot delete a row of foreign table "nullkey" whose key column "id" is NULL/,
	'a NULL key cannot identify a row');
is($node->safe_psql('postgres', q{SELECT count(*) FROM nullkey}), '3', 'and nothing was deleted');
is($node->safe_psql('postgres', q{SELECT row_count('DELETE FROM nullkey WHERE id IS NULL')}), '1',
	'a DELETE of the NULL key sent whole removes it');

bq_table('fresh', 3600, @item_fields);
$node->safe_psql('postgres', q{
	CREATE FOREIGN TABLE fresh (id bigint OPTIONS (key 'true'), name text, qty bigint,
	  price numeric, ts timestamptz, score float8) SERVER bq OPTIONS (table 'fresh');
	INSERT INTO fresh SELECT * FROM items_local;
});
my $some_id = $node->safe_psql('postgres', q{SELECT min(id) FROM items_local});
($ret, $out, $err) = $node->psql('postgres', qq{DELETE FROM fresh WHERE id = $some_id});
like($err, qr/ERROR:  BigQuery cannot delete rows of foreign table "fresh" that are still in its streaming buffer\nDETAIL:  BigQuery said: UPDATE or DELETE statement over table dml-project\.dml\.fresh would affect rows in the streaming buffer, which is not supported\.\nHINT:  Rows streamed with insertAll/,
	'rows in the streaming buffer: BigQuery refuses, and the error says why');
($ret, $out, $err) = $node->psql('postgres', q{UPDATE fresh SET name = lower(name) WHERE true});
like($err, qr/ERROR:  BigQuery cannot update rows of foreign table "fresh" that are still in its streaming buffer/,
	'also for a keyed UPDATE');
is(table_text('fresh'), table_text('items_local'), 'and nothing changed');

$node->safe_psql('postgres', q{ALTER FOREIGN TABLE items OPTIONS (ADD maximum_bytes_billed '1000')});
($ret, $out, $err) = $node->psql('postgres', qq{DELETE FROM items WHERE id = $some_id});
like($err, qr/ERROR:.*bytes billed/s, 'maximum_bytes_billed applies to DML');
$node->safe_psql('postgres', q{ALTER FOREIGN TABLE items OPTIONS (DROP maximum_bytes_billed)});
is(table_text('items'), table_text('items_local'), 'and nothing changed');

$node->safe_psql('postgres', q{
	CREATE ROLE reader LOGIN;
	GRANT USAGE ON FOREIGN SERVER bq TO reader;
	CREATE USER MAPPING FOR reader SERVER bq OPTIONS (auth 'none');
	GRANT SELECT ON items TO reader;
});
($ret, $out, $err) = $node->psql('postgres', qq{UPDATE items SET qty = 0 WHERE id = $some_id},
	extra_params => [ '-U', 'reader' ]);
like($err, qr/ERROR:  permission denied for foreign table items/, 'UPDATE needs the privilege');
($ret, $out, $err) = $node->psql('postgres', q{DELETE FROM items WHERE md5(name) <> ''},
	extra_params => [ '-U', 'reader' ]);
like($err, qr/ERROR:  permission denied for foreign table items/, 'so does DELETE');
is(table_text('items'), table_text('items_local'), 'and nothing changed');

# -- a job BigQuery failed for its rate runs again ----------------------------
sub faults_injected
{
	return decode_json(http('GET', "http://127.0.0.1:$bq/emulator/counters"))->{faults_injected};
}
my $faults = faults_injected();
http('POST', "http://127.0.0.1:$bq/emulator/faults", encode_json({ error_rate => 1,
	error_codes => [403], reason => 'jobRateLimitExceeded', methods => ['query'], count => 2 }));
same(q{UPDATE items SET qty = 5 WHERE id = 20}, 'a DML job failed twice for its rate');
is(faults_injected() - $faults, 2, 'and run again each time');
http('POST', "http://127.0.0.1:$bq/emulator/faults", encode_json({ error_rate => 1,
	error_codes => [403], methods => ['query'], count => 1 }));
($ret, $out, $err) = $node->psql('postgres', q{UPDATE items SET qty = 6 WHERE id = 20});
like($err, qr/ERROR:/, 'a refusal for another reason is not run again');
http('DELETE', "http://127.0.0.1:$bq/emulator/faults");
is(table_text('items'), table_text('items_local'), 'and nothing changed');

# -- a slow BigQuery: the job is waited for, and a cancel reaches it ----------
mkdir("$tmp/slow");
my $slow = BqEmulator->new(dir => "$tmp/slow", services => 'bigquery',
	args => [ '--bq-job-delay-ms', '2500' ])->{bigquery};
$node->safe_psql('postgres', qq{
	CREATE SERVER slow FOREIGN DATA WRAPPER bqstream_fdw
	  OPTIONS (project_id 'dml-project', dataset 'dml', bigquery_endpoint 'http://127.0.0.1:$slow');
	CREATE USER MAPPING FOR CURRENT_USER SERVER slow OPTIONS (auth 'none');
	SELECT bqstream.create_dataset('slow');
});
http('POST', "http://127.0.0.1:$slow/bigquery/v2/projects/dml-project/datasets/dml/tables",
	encode_json({ tableReference => { tableId => 'slowt' },
		labels => { emulator_streaming_buffer_s => '0' },
		schema => { fields => [ { name => 'id', type => 'INT64' } ] } }));
$node->safe_psql('postgres', q{
	CREATE FOREIGN TABLE slowt (id bigint OPTIONS (key 'true')) SERVER slow OPTIONS (table 'slowt');
	INSERT INTO slowt VALUES (1), (2), (3);
});
is($node->safe_psql('postgres', q{SELECT row_count('DELETE FROM slowt WHERE id = 1')}), '1',
	'a DML job slower than the first answer is waited for');
($ret, $out, $err) = $node->psql('postgres',
	q{SET statement_timeout = '1500ms'; DELETE FROM slowt WHERE id = 2});
like($err, qr/canceling statement due to statement timeout/, 'a slow DML statement can be cancelled');
is($node->safe_psql('postgres', q{SELECT string_agg(id::text, ',' ORDER BY id) FROM slowt}), '2,3',
	'and the cancel reached the BigQuery job: nothing was deleted');

done_testing();
