# EXPLAIN shows what BigQuery would bill: with a foreign table's or its
# server's explain_dry_run option on, EXPLAIN (without ANALYZE) sends the
# remote query to BigQuery as a dry run, with the same parameters a scan
# would send, and shows the bytes processed and billed in every format, or
# BigQuery's refusal of the query; the dry run uses the credential the scan
# would (a view's owner's), and starts no job.
use strict;
use warnings;

use File::Temp qw(tempdir);
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use BqEmulator;

my $tmp = tempdir(CLEANUP => 1);
my $bq = BqEmulator->new(dir => $tmp, services => 'bigquery')->{bigquery};

sub counters
{
	my ($out, $err);
	IPC::Run::run([ 'curl', '-s', "http://127.0.0.1:$bq/emulator/counters" ], '>', \$out, '2>', \$err);
	return decode_json($out);
}

# jobs.query requests and rows of query results so far
sub jobs
{
	my $c = counters();
	return ($c->{requests}{query} // 0, $c->{rows_returned} // 0);
}

my $node = PostgreSQL::Test::Cluster->new('fdw_explain');
$node->init;
$node->start;
$node->safe_psql('postgres', qq{
	CREATE EXTENSION bqstream;
	CREATE SERVER bq FOREIGN DATA WRAPPER bqstream_fdw
	  OPTIONS (project_id 'explain-project', dataset 'shop', bigquery_endpoint 'http://127.0.0.1:$bq');
	CREATE USER MAPPING FOR CURRENT_USER SERVER bq OPTIONS (auth 'none');
	SELECT bqstream.create_dataset('bq');
	SELECT bqstream.create_raw_orders_table('bq');
	IMPORT FOREIGN SCHEMA shop LIMIT TO (raw_orders) FROM SERVER bq INTO public;
	ALTER FOREIGN TABLE raw_orders OPTIONS (ADD use_query_cache 'false');
	-- 3,000 orders over three days of November 2026: three daily partitions
	INSERT INTO raw_orders
	  SELECT format('o-%s', i), format('u-%s', i % 97), format('p-%s', i % 13), (i % 500) / 4.0,
	         timestamptz '2026-11-01 00:00:00+00' + (i % 3) * interval '1 day' + i * interval '1 second'
	    FROM generate_series(1, 3000) i;
});

my $scan = 'SELECT order_id, amount FROM raw_orders';
my $one_day = "SELECT product_id, count(*) FROM raw_orders "
  . "WHERE event_time >= timestamptz '2026-11-02 00:00:00+00' - interval '0 days' "
  . "AND event_time < timestamptz '2026-11-03 00:00:00+00' GROUP BY product_id";

# the real job's figure: EXPLAIN ANALYZE's "Bytes Processed"
sub analyzed_bytes
{
	my ($sql) = @_;
	my $out = $node->safe_psql('postgres', "EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF) $sql");
	return $out =~ /^\s*Bytes Processed: (\d+)$/m ? $1 : undef;
}

# ---------------------------------------------------------------------
# off by default: EXPLAIN sends nothing
# ---------------------------------------------------------------------

my @before = jobs();
my $plain = $node->safe_psql('postgres', "EXPLAIN (VERBOSE, COSTS OFF) $scan");
like($plain, qr/Remote SQL: SELECT `order_id`, `amount`/, 'EXPLAIN VERBOSE shows the remote SQL');
unlike($plain, qr/Dry Run/, 'without explain_dry_run, EXPLAIN shows no dry run');
is_deeply([ jobs() ], \@before, 'and sends nothing to BigQuery');

# ---------------------------------------------------------------------
# a table option: the bytes the job would process, and what they bill
# ---------------------------------------------------------------------

$node->safe_psql('postgres', "ALTER FOREIGN TABLE raw_orders OPTIONS (ADD explain_dry_run 'true')");
my $full = analyzed_bytes($scan);
ok($full && $full > 0, "the scan's job processes bytes ($full)");

@before = jobs();
my $out = $node->safe_psql('postgres', "EXPLAIN (VERBOSE, COSTS OFF) $scan");
my @after = jobs();
like($out, qr/Remote SQL: SELECT `order_id`, `amount`.*\n\s*Dry Run Bytes Processed: $full\n\s*Dry Run Bytes Billed: 10485760$/m,
	'EXPLAIN shows the bytes the job would process, next to the remote SQL, and 10 MB billed (the minimum)');
is($after[0], $before[0] + 1, 'one jobs.query request was sent');
is($after[1], $before[1], 'and no rows: a dry run runs nothing');
like($node->safe_psql('postgres', "EXPLAIN (COSTS OFF) $scan"), qr/Dry Run Bytes Processed: $full$/m,
	'EXPLAIN without VERBOSE shows it too');

# with ANALYZE, both the estimate and the job's own figure
$out = $node->safe_psql('postgres', "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) $scan");
like($out, qr/Dry Run Bytes Processed: $full\n\s*Dry Run Bytes Billed: 10485760\n.*\n\s*Bytes Processed: $full\n/,
	'EXPLAIN ANALYZE shows the dry run and the bytes the job processed');

# ---------------------------------------------------------------------
# parameters: computed as at execution start, so partitions are pruned
# ---------------------------------------------------------------------

my $day = analyzed_bytes($one_day);
ok($day && $day < $full, "one day's job processes fewer bytes ($day)");
$out = $node->safe_psql('postgres', "EXPLAIN (VERBOSE, COSTS OFF) $one_day");
like($out, qr/Remote SQL: .*WHERE .*\@p1.*\n\s*Dry Run Bytes Processed: $day$/m,
	'the dry run of a query with parameters sends their values: one partition read');

# a prepared statement's generic plan: $1 comes from EXECUTE
$out = $node->safe_psql('postgres', qq{
	SET plan_cache_mode = force_generic_plan;
	PREPARE q(timestamptz) AS SELECT product_id, count(*) FROM raw_orders
	  WHERE event_time >= \$1 - interval '0 days' AND event_time < timestamptz '2026-11-03 00:00:00+00'
	  GROUP BY product_id;
	EXPLAIN (VERBOSE, COSTS OFF) EXECUTE q('2026-11-02 00:00:00+00');
});
like($out, qr/Dry Run Bytes Processed: $day$/m, 'EXPLAIN EXECUTE sends the statement\'s values');

# nothing read, nothing billed
$out = $node->safe_psql('postgres', "EXPLAIN (COSTS OFF) SELECT order_id FROM raw_orders "
	  . "WHERE event_time >= timestamptz '2100-01-01 00:00:00+00'");
like($out, qr/Dry Run Bytes Processed: 0\n\s*Dry Run Bytes Billed: 0$/m,
	'a query that reads no partition processes and bills nothing');

# the cost guard: a job that would bill more than maximum_bytes_billed fails
$node->safe_psql('postgres', "ALTER FOREIGN TABLE raw_orders OPTIONS (ADD maximum_bytes_billed '10485759')");
like($node->safe_psql('postgres', "EXPLAIN (COSTS OFF) $scan"),
	qr/Dry Run Bytes Billed: 10485760\n\s*Dry Run Refused By: maximum_bytes_billed 10485759$/m,
	'a query the cost guard would refuse is shown as such');
my ($ret, $stdout, $stderr) = $node->psql('postgres', $scan);
like($stderr, qr/exceeded limit for bytes billed/, 'and running it fails indeed');
$node->safe_psql('postgres', "ALTER FOREIGN TABLE raw_orders OPTIONS (SET maximum_bytes_billed '10485760')");
unlike($node->safe_psql('postgres', "EXPLAIN (COSTS OFF) $scan"), qr/Refused/,
	'a query billed exactly the limit is not refused');
$node->safe_psql('postgres', "ALTER FOREIGN TABLE raw_orders OPTIONS (DROP maximum_bytes_billed)");

# values other plan nodes compute (an initplan, a correlated subquery's outer
# row) are not known before the plan runs: no dry run, and it says so
$node->safe_psql('postgres', "CREATE TABLE since (t timestamptz); "
	  . "INSERT INTO since VALUES ('2026-11-02 00:00:00+00')");
@before = jobs();
$out = $node->safe_psql('postgres', "EXPLAIN (VERBOSE, COSTS OFF) SELECT order_id FROM raw_orders "
	  . "WHERE event_time >= (SELECT max(t) FROM since)");
like($out, qr/Remote SQL: .*WHERE \(`event_time` >= \@p1\)\n\s*Dry Run: not sent: the remote query takes values known only while the plan runs$/m,
	'an initplan\'s value: no dry run, and the plan says why');
$out = $node->safe_psql('postgres', "EXPLAIN (VERBOSE, COSTS OFF) SELECT s.t, "
	  . "(SELECT count(*) FROM raw_orders r WHERE r.event_time >= s.t) FROM since s");
like($out, qr/SubPlan 1.*\@p1.*\n\s*Dry Run: not sent/s, 'a correlated subquery: the same');
is_deeply([ jobs() ], \@before, 'and nothing was sent to BigQuery');

# ---------------------------------------------------------------------
# every format
# ---------------------------------------------------------------------

my $json = decode_json($node->safe_psql('postgres', "EXPLAIN (FORMAT JSON, VERBOSE) $scan"));
my $plan = $json->[0]{Plan};
is($plan->{'Dry Run Bytes Processed'}, $full, 'FORMAT JSON: Dry Run Bytes Processed, a number');
is($plan->{'Dry Run Bytes Billed'}, 10485760, 'FORMAT JSON: Dry Run Bytes Billed');
like($node->safe_psql('postgres', "EXPLAIN (FORMAT YAML) $scan"), qr/Dry Run Bytes Processed: $full$/m,
	'FORMAT YAML');
like($node->safe_psql('postgres', "EXPLAIN (FORMAT XML) $scan"),
	qr{<Dry-Run-Bytes-Processed>$full</Dry-Run-Bytes-Processed>}, 'FORMAT XML');

# ---------------------------------------------------------------------
# the server's option, which a table's overrides; bad values refused
# ---------------------------------------------------------------------

$node->safe_psql('postgres', qq{
	ALTER FOREIGN TABLE raw_orders OPTIONS (DROP explain_dry_run);
	ALTER SERVER bq OPTIONS (ADD explain_dry_run 'on');
});
like($node->safe_psql('postgres', "EXPLAIN $scan"), qr/Dry Run Bytes Processed: $full$/m,
	"the server's explain_dry_run applies to its tables");
$node->safe_psql('postgres', "ALTER FOREIGN TABLE raw_orders OPTIONS (ADD explain_dry_run 'false')");
unlike($node->safe_psql('postgres', "EXPLAIN $scan"), qr/Dry Run/, "a table's explain_dry_run 'false' wins");
$node->safe_psql('postgres', "ALTER FOREIGN TABLE raw_orders OPTIONS (SET explain_dry_run 'true')");

($ret, $stdout, $stderr) = $node->psql('postgres',
	"ALTER FOREIGN TABLE raw_orders OPTIONS (SET explain_dry_run 'perhaps')");
like($stderr, qr/invalid value for option "explain_dry_run".*\n.*boolean/i,
	'a value that is not a boolean is refused');

# ---------------------------------------------------------------------
# BigQuery's refusals are shown, and the plan still is
# ---------------------------------------------------------------------

# (a missing table itself fails at planning, when its metadata is read: a
# query option's source is not read then)
$node->safe_psql('postgres', qq{
	CREATE FOREIGN TABLE gone (order_id text) SERVER bq
	  OPTIONS (query 'SELECT order_id FROM shop.no_such_table');
	CREATE FOREIGN TABLE bad_query (x bigint) SERVER bq
	  OPTIONS (query 'SELECT no_such_column AS x FROM shop.raw_orders');
});
$out = $node->safe_psql('postgres', "EXPLAIN (VERBOSE, COSTS OFF) SELECT order_id FROM gone");
like($out, qr/Foreign Scan on public\.gone.*Dry Run Error: Not found: Table explain-project:shop\.no_such_table/s,
	'a missing table: BigQuery\'s error in the plan');
$out = $node->safe_psql('postgres', "EXPLAIN (FORMAT JSON) SELECT x FROM bad_query");
like(decode_json($out)->[0]{Plan}{'Dry Run Error'}, qr/no_such_column/,
	'a query BigQuery refuses: its message, in FORMAT JSON too');

# ---------------------------------------------------------------------
# the dry run uses the scan's credential: a view's owner's
# ---------------------------------------------------------------------

$node->safe_psql('postgres', qq{
	CREATE ROLE analyst LOGIN;
	CREATE VIEW orders_view AS SELECT order_id, amount FROM raw_orders;
	GRANT SELECT ON orders_view TO analyst;
});
$out = $node->safe_psql('postgres', "SET ROLE analyst; EXPLAIN SELECT * FROM orders_view");
like($out, qr/Dry Run Bytes Processed: $full$/m,
	'a role with no user mapping explains a view with its owner\'s credential');
($ret, $stdout, $stderr) = $node->psql('postgres', qq{
	GRANT SELECT ON raw_orders TO analyst;
	SET ROLE analyst;
	SET bqstream.enable_pushdown = off;
	EXPLAIN SELECT * FROM raw_orders;
});
like($stderr, qr/user mapping not found/, 'and reading the table itself needs a mapping of its own');

$node->stop;
done_testing();
