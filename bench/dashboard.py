#!/usr/bin/python3
"""Dashboard benchmark of bqstream_fdw: the queries a BI tool sends, each run
with pushdown on and off, reporting what BigQuery sent to PostgreSQL and how
long it took. It prints figures; it does not assert anything about speed, but
it fails when a query gives a different answer with and without pushdown.

Setup: the BigQuery emulator alone (in memory) and a throwaway PostgreSQL 15
with the installed extension. `shop.raw_orders` is made with
bqstream.create_raw_orders_table() (order_id, user_id, product_id STRING,
amount FLOAT64, event_time TIMESTAMP; DAY partitions on event_time, clustered
by product_id) and loaded with N rows through tabledata.insertAll in batches
of 50,000 (the emulator's largest; it has no load jobs nor DML), built in this
script while the previous batch is being sent: event times uniform over the D
days before the start of the run, products from a Zipf law over 10,000
products (as publish_orders() draws them), 100,000 users, log-normal amounts.
No rows lie in the two hours after `now() - 7 days` and `now() - 1 day` taken
at load time, so the queries that filter on now() give the same answer
throughout the run whichever moment they run at. The foreign table comes from
IMPORT FOREIGN SCHEMA with use_query_cache 'false' (every run recomputes); a
local table `products` (product_id, category) is the dimension the join query
uses. The session time zone is --timezone (a zone with daylight saving, as a
dashboard user's would be).

Each query runs with bqstream.enable_pushdown on and off (off: the FDW sends
only the needed columns, no WHERE, GROUP BY, ORDER BY nor LIMIT, and
PostgreSQL does the rest). Per query and setting:

- once under EXPLAIN (ANALYZE, VERBOSE, FORMAT JSON): the Remote SQL, and the
  rows the Foreign Scan took from BigQuery (its actual rows plus the rows its
  local filter removed, times its loops);
- R timed runs (median reported), each in a fresh session after a warm-up
  statement: wall time inside the session (clock_timestamp), and from the
  emulator's counters around the statement alone the rows of the BigQuery
  results, the response bytes (JSON as serialized) and the requests. The
  emulator counts every row of a job's result, the Foreign Scan only those it
  read: they differ when a LIMIT applied locally stops the scan early.

The answers of all runs, on and off, are compared: identical text, or the same
but for float rounding (a float sum's last digits depend on the order of the
additions, which differs between BigQuery and PostgreSQL; reported as "float"),
or DIFFERENT, which makes the script exit with status 1 after the table.

Usage: bench/dashboard.py [--rows N] [--short] [--days D] [--runs R]
       [--timezone ZONE] [--only NAME,...] [--seed S] [--write-results]
  --short  50,000 rows and one timed run per setting: a smoke run for CI.
  --write-results  the table, with the machine's description, replaces this
           script's section of bench/RESULTS.md.
Run as root (PostgreSQL runs as the postgres OS user); requires `make install`
first.
"""

import argparse
import bisect
import json
import os
import random
import statistics
import subprocess
import sys
import time
import uuid

from benchlib import Bench
from fdw import Emulator, insert_bodies, measure, zipf_cdf

PROJECT = "bench-project"
DATASET = "shop"
N_PRODUCTS = 10000
N_USERS = 100000
N_CATEGORIES = 12
LOAD_BATCH = 50000                # rows per insertAll: the emulator's maximum (~7.5 MB of 10 MB)
NOW_GAP = 2 * 3600                # seconds without rows after each now()-relative bound

# (name, what a dashboard shows, SQL). Written as BI tools write them: no
# hints for the FDW, ORDER BY only where the panel needs an order (every
# answer is ordered completely so that runs can be compared as text).
QUERIES = [
    ("kpi", "KPI tiles: orders, revenue, average order",
     "SELECT count(*) AS orders, sum(amount) AS revenue, avg(amount) AS avg_order FROM raw_orders"),
    ("revenue_per_day", "revenue per day, session time zone",
     "SELECT date_trunc('day', event_time) AS day, count(*) AS orders, sum(amount) AS revenue "
     "FROM raw_orders GROUP BY 1 ORDER BY 1"),
    ("orders_per_hour_7d", "orders per hour over the last 7 days",
     "SELECT date_trunc('hour', event_time) AS hour, count(*) AS orders FROM raw_orders "
     "WHERE event_time >= now() - interval '7 days' GROUP BY 1 ORDER BY 1"),
    ("revenue_per_week", "revenue per week, Metabase's CAST(date_trunc(...) AS date)",
     "SELECT CAST(date_trunc('week', event_time) AS date) AS week, sum(amount) AS revenue "
     "FROM raw_orders GROUP BY 1 ORDER BY 1"),
    ("users_per_utc_day", "distinct users per UTC day",
     "SELECT date_trunc('day', event_time, 'UTC') AS day, count(DISTINCT user_id) AS users "
     "FROM raw_orders GROUP BY 1 ORDER BY 1"),
    ("orders_per_product", "orders per product",
     "SELECT product_id, count(*) AS orders FROM raw_orders GROUP BY product_id ORDER BY product_id"),
    ("top10_revenue", "top 10 products by revenue",
     "SELECT product_id, sum(amount) AS revenue FROM raw_orders GROUP BY product_id "
     "ORDER BY revenue DESC, product_id LIMIT 10"),
    ("distinct_users", "distinct customers",
     "SELECT count(DISTINCT user_id) AS users FROM raw_orders"),
    ("big_orders", "orders of 500 or more",
     "SELECT count(*) AS orders, sum(amount) AS revenue FROM raw_orders WHERE amount >= 500"),
    ("product_search", "product search box (ILIKE)",
     "SELECT product_id, count(*) AS orders FROM raw_orders WHERE product_id ILIKE 'P-0001%' "
     "GROUP BY product_id ORDER BY product_id"),
    ("customer_search", "customer search box (lower() LIKE)",
     "SELECT count(*) AS orders, count(DISTINCT product_id) AS products FROM raw_orders "
     "WHERE lower(user_id) LIKE 'u-00012%'"),
    ("amount_buckets", "order size buckets (CASE)",
     "SELECT CASE WHEN amount < 20 THEN 'small' WHEN amount < 100 THEN 'medium' ELSE 'large' END "
     "AS bucket, count(*) AS orders, sum(amount) AS revenue FROM raw_orders GROUP BY 1 ORDER BY 1"),
    ("grafana_5min", "Grafana $__timeGroupAlias(event_time, 5m) with $__timeFilter",
     "SELECT floor(extract(epoch FROM event_time) / 300) * 300 AS \"time\", count(*) AS orders "
     "FROM raw_orders WHERE event_time BETWEEN '{from}' AND '{to}' GROUP BY 1 ORDER BY 1"),
    ("distinct_products", "product filter drop-down (SELECT DISTINCT)",
     "SELECT DISTINCT product_id FROM raw_orders ORDER BY 1"),
    ("revenue_per_category", "revenue per category (join to a local dimension table)",
     "SELECT p.category, count(*) AS orders, sum(o.amount) AS revenue FROM raw_orders o "
     "JOIN products p ON p.product_id = o.product_id GROUP BY p.category ORDER BY p.category"),
    ("latest_orders", "latest orders of the last day (table panel)",
     "SELECT order_id, user_id, product_id, amount, event_time FROM raw_orders "
     "WHERE event_time >= now() - interval '1 day' ORDER BY event_time DESC, order_id LIMIT 50"),
]


def rfc3339(epoch_us):
    sec, micro = divmod(epoch_us, 1000000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + ".%06dZ" % micro


def load(emu, n, days, t0, seed):
    """insertAll n orders with event times in the `days` days before epoch
    second t0, none in the NOW_GAP seconds after t0 - 7 days and t0 - 1 day.
    Returns (seconds, emulator CPU seconds)."""
    rng = random.Random(seed)
    cdf = zipf_cdf(N_PRODUCTS)
    lo_us = (t0 - days * 86400) * 1000000
    span_us = days * 86400 * 1000000
    gaps = [((t0 - d * 86400 - 60) * 1000000, (t0 - d * 86400 + NOW_GAP) * 1000000) for d in (7, 1)]
    path = "/bigquery/v2/projects/%s/datasets/%s/tables/raw_orders/insertAll" % (PROJECT, DATASET)
    fmt = '{"json":{"order_id":"%s","user_id":"u-%06d","product_id":"p-%05d","amount":%.2f,"event_time":"%s"}}'

    def bodies():
        done = 0
        while done < n:
            k = min(LOAD_BATCH, n - done)
            rows = []
            while len(rows) < k:
                us = lo_us + rng.randrange(span_us)
                if any(a <= us < b for a, b in gaps):
                    continue
                rows.append(fmt % (uuid.UUID(int=rng.getrandbits(128), version=4), rng.randrange(N_USERS),
                                   bisect.bisect(cdf, rng.random()) + 1,
                                   min(rng.lognormvariate(3.5, 0.9), 9999.99), rfc3339(us)))
            yield ('{"rows":[' + ",".join(rows) + ']}').encode()
            done += k

    return insert_bodies(emu, path, bodies())


def foreign_scans(plan):
    """(Remote SQL, rows read from BigQuery) of every Foreign Scan of an
    EXPLAIN (ANALYZE, VERBOSE, FORMAT JSON) plan."""
    found = []

    def walk(node):
        if node.get("Node Type") == "Foreign Scan":
            loops = node.get("Actual Loops", 1)
            rows = (node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)) * loops
            found.append((node.get("Remote SQL", "?"), int(round(rows))))
        for child in node.get("Plans", []):
            walk(child)
    walk(plan[0]["Plan"])
    return found


def same_but_float_rounding(a, b, rel=1e-12):
    """Whether two answers (lists of psql -A lines) differ only in the last
    digits of floating-point fields."""
    if len(a) != len(b):
        return False
    for la, lb in zip(a, b):
        fa, fb = la.split("|"), lb.split("|")
        if len(fa) != len(fb):
            return False
        for x, y in zip(fa, fb):
            if x == y:
                continue
            try:
                fx, fy = float(x), float(y)
            except ValueError:
                return False
            if abs(fx - fy) > rel * max(abs(fx), abs(fy)):
                return False
    return True


def compare(answers):
    """'same', 'float' or 'DIFFERENT' for a list of answers."""
    first = answers[0]
    if all(a == first for a in answers):
        return "same"
    if all(same_but_float_rounding(first, a) for a in answers):
        return "float"
    return "DIFFERENT"


def pushed_clauses(remote):
    """Which clauses of the query BigQuery was sent, for the table."""
    sql = " ".join(remote).upper()
    has = {"where": " WHERE " in sql, "agg": any(f in sql for f in ("COUNT(", "SUM(", "AVG(", "MIN(", "MAX(")),
           "group": " GROUP BY " in sql, "order": " ORDER BY " in sql, "limit": " LIMIT " in sql}
    return ",".join(k for k, v in has.items() if v) or "-"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1000000)
    ap.add_argument("--short", action="store_true", help="50,000 rows, one timed run: a smoke run for CI")
    ap.add_argument("--days", type=int, default=30, help="days of event time (at least 8)")
    ap.add_argument("--runs", type=int, default=3, help="timed runs per query and setting (median shown)")
    ap.add_argument("--timezone", default="America/New_York", help="the sessions' TimeZone")
    ap.add_argument("--only", default="", help="comma-separated query names to run")
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--write-results", action="store_true",
                    help="also put the table in its section of bench/RESULTS.md")
    args = ap.parse_args()
    if args.short:
        args.rows, args.runs = 50000, 1
    if args.days < 8:
        ap.error("--days must be at least 8 (one query reads the last 7 days)")
    queries = [q for q in QUERIES if not args.only or q[0] in args.only.split(",")]
    if not queries:
        ap.error("--only names no query; the names are: %s" % ", ".join(q[0] for q in QUERIES))

    bench = Bench(services="bigquery", pg_conf="timezone = '%s'\n" % args.timezone)
    failed = False
    try:
        bench.create_server()
        emu = Emulator(bench.ports["bigquery"])
        emu.pid = bench.emulator.pid
        lib = os.path.join(subprocess.run(["pg_config", "--pkglibdir"], capture_output=True,
                                          text=True).stdout.strip(), "bqstream.so")
        lib_mtime = os.path.getmtime(lib)
        print("%s; %s installed %s" % (bench.psql("SELECT bqstream.version()")[0], lib,
                                       time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(lib_mtime))))
        bench.psql("SELECT bqstream.create_dataset('bench')",
                   "SELECT bqstream.create_raw_orders_table('bench')")
        started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        t0 = int(time.time()) // 60 * 60
        secs, cpu = load(emu, args.rows, args.days, t0, args.seed)
        load_line = ("loaded with insertAll (batches of %d) in %.1f s, %.0f rows/s, emulator CPU %.1f s"
                     % (LOAD_BATCH, secs, args.rows / secs, cpu))
        print("%d rows over %d days %s" % (args.rows, args.days, load_line))
        bench.psql("IMPORT FOREIGN SCHEMA shop LIMIT TO (raw_orders) FROM SERVER bench INTO public",
                   "ALTER FOREIGN TABLE raw_orders OPTIONS (ADD use_query_cache 'false')",
                   "CREATE TABLE products (product_id text PRIMARY KEY, category text NOT NULL)",
                   "INSERT INTO products SELECT format('p-%%s', lpad(i::text, 5, '0')), "
                   "'category ' || (i %% %d) FROM generate_series(1, %d) i" % (N_CATEGORIES, N_PRODUCTS),
                   "ANALYZE products")
        settings = bench.psql("LOAD 'bqstream'", "SELECT current_setting('TimeZone'), current_setting('lc_collate'), "
                              "(SELECT count(*) FROM pg_settings WHERE name = 'bqstream.enable_pushdown')")
        tz, collation, has_guc = settings[0].split("|")
        n = int(bench.psql("SELECT count(*) FROM (SELECT order_id FROM raw_orders OFFSET 0) s")[0])
        if n != args.rows:
            raise SystemExit("raw_orders holds %d rows, expected %d" % (n, args.rows))
        if has_guc != "1":
            raise SystemExit("this build has no bqstream.enable_pushdown setting: rebuild and install "
                             "the extension from a tree that has it")
        settings_line = "session TimeZone %s, lc_collate %s" % (tz, collation)
        print("%s, %d timed run(s) per query and setting\n" % (settings_line, args.runs))

        # Grafana's time picker: the last 6 hours before the load, as literals
        window = {"from": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0 - 6 * 3600)),
                  "to": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0))}
        table = []
        for name, what, sql in queries:
            sql = sql.replace("{from}", window["from"]).replace("{to}", window["to"])
            print("%s: %s\n   %s" % (name, what, sql))
            row = {"name": name}
            answers = []
            for setting in ("on", "off"):
                guc = "SET bqstream.enable_pushdown = %s" % setting
                warmup = guc + "; EXPLAIN SELECT * FROM raw_orders"
                try:
                    plan = json.loads("\n".join(bench.psql(guc, "EXPLAIN (ANALYZE, VERBOSE, FORMAT JSON) " + sql)))
                except subprocess.CalledProcessError as e:
                    raise SystemExit("%s failed with pushdown %s:\n%s" % (name, setting, e.stderr.strip()))
                scans = foreign_scans(plan)
                runs = [measure(bench, emu, sql, warmup=warmup) for _ in range(args.runs)]
                answers += [r["result"] for r in runs]
                fig = {"remote": [s[0] for s in scans], "scan_rows": sum(s[1] for s in scans),
                       "rows": runs[0]["rows_returned"], "bytes": runs[0]["response_bytes"],
                       "requests": runs[0]["requests"], "processed": runs[0]["bytes_processed"],
                       "seconds": statistics.median(r["seconds"] for r in runs),
                       "answer_rows": len(runs[0]["result"]) if runs[0]["result"] != [""] else 0}
                row[setting] = fig
                for rs in fig["remote"]:
                    print("   pushdown %-3s Remote SQL: %s" % (setting, rs))
                print("   pushdown %-3s %d rows read by the Foreign Scan, %d in BigQuery's results, "
                      "%.2f MB JSON, %d requests, %.3f s (median of %d), %d answer rows"
                      % (setting, fig["scan_rows"], fig["rows"], fig["bytes"] / 1e6, fig["requests"],
                         fig["seconds"], len(runs), fig["answer_rows"]))
            row["answer"] = compare(answers)
            if row["answer"] == "DIFFERENT":
                failed = True
                print("   ANSWERS DIFFER between runs or settings; first lines of each:")
                for a in answers:
                    print("     %s" % a[:3])
            table.append(row)
            print()

        if os.path.getmtime(lib) != lib_mtime:
            print("WARNING: %s was reinstalled during the run; the figures may mix two builds" % lib)
        print_table(table, args)
        if args.write_results:
            path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "RESULTS.md")
            write_results(path, table, args, bench, load_line, settings_line, started)
            print("written to %s" % path)
    finally:
        bench.close()
    if failed:
        sys.exit(1)


HEAD = ("query", "pushed", "rows on", "rows off", "off/on", "MB on", "MB off", "s on", "s off", "off/on",
        "answer")
LEGEND = ("pushed: clauses of the Remote SQL with pushdown on (agg: aggregates); rows: rows the Foreign Scan "
          "read from BigQuery; MB: BigQuery's response bodies as serialized (10^6 bytes); s: wall time in the "
          "session; off/on: ratios; answer: same (identical text), float (the same but for float rounding), "
          "DIFFERENT")


def table_rows(table):
    rows = []
    for r in table:
        on, off = r["on"], r["off"]
        rows.append((r["name"], pushed_clauses(on["remote"]), str(on["scan_rows"]), str(off["scan_rows"]),
                     "%.0f" % (off["scan_rows"] / on["scan_rows"]) if on["scan_rows"] else "-",
                     "%.2f" % (on["bytes"] / 1e6), "%.2f" % (off["bytes"] / 1e6),
                     "%.3f" % on["seconds"], "%.3f" % off["seconds"],
                     "%.1f" % (off["seconds"] / on["seconds"]) if on["seconds"] else "-", r["answer"]))
    return rows


def print_table(table, args):
    print("%d rows over %d days, emulator in memory, time zone %s; median of %d run(s)"
          % (args.rows, args.days, args.timezone, args.runs))
    lines = [HEAD] + table_rows(table)
    widths = [max(len(l[i]) for l in lines) for i in range(len(HEAD))]
    for i, l in enumerate(lines):
        print("  ".join(c.ljust(w) if j in (0, 1, 10) else c.rjust(w)
                        for j, (c, w) in enumerate(zip(l, widths))))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print(LEGEND)


RESULTS_BEGIN = "<!-- bench/dashboard.py: begin (sidebyside.py keeps this section) -->"
RESULTS_END = "<!-- bench/dashboard.py: end -->"


def write_results(path, table, args, bench, load_line, settings_line, started):
    """Put this run's table, with the machine's description, in its own
    section of bench/RESULTS.md, replacing the previous run's."""
    def cmd(*c):
        return subprocess.run(c, capture_output=True, text=True).stdout.strip() or "?"

    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--", "src", "sql"],
                           capture_output=True, text=True).stdout.strip() != ""
    text = [RESULTS_BEGIN, "## Dashboard queries with and without pushdown (`bench/dashboard.py`)", "",
            "Written by `bench/dashboard.py --write-results` (this section is replaced by each run).", "",
            "| machine | |", "|---|---|",
            "| date | %s |" % started,
            "| CPUs (nproc), model | %s, %s |" % (cmd("nproc"), model),
            "| load average at the end | %s |" % " ".join(open("/proc/loadavg").read().split()[:3]),
            "| PostgreSQL | %s |" % bench.psql("SHOW server_version")[0],
            "| bqstream | %s, built from %s%s |" % (bench.psql("SELECT bqstream.version()")[0].split(" (")[0],
                                                   cmd("git", "-C", root, "rev-parse", "--short", "HEAD"),
                                                   " with uncommitted changes" if dirty else ""),
            "| run | %d rows over %d days; %s; %s; %d timed run(s) per query and setting, medians |"
            % (args.rows, args.days, load_line, settings_line, args.runs), "",
            "| " + " | ".join(HEAD) + " |", "|" + "---|" * 2 + "---:|" * 8 + "---|"]
    text += ["| " + " | ".join(r) + " |" for r in table_rows(table)]
    text += ["", LEGEND + ".", "", "What each query sent to BigQuery with pushdown on:", ""]
    for r in table:
        text.append("- %s: %s" % (r["name"], "; ".join("`` %s ``" % q for q in r["on"]["remote"])))
    text += ["", RESULTS_END]
    old = open(path).read() if os.path.exists(path) else ""
    if RESULTS_BEGIN in old and RESULTS_END in old:
        head, rest = old.split(RESULTS_BEGIN, 1)
        new = head + "\n".join(text) + rest.split(RESULTS_END, 1)[1]
    else:
        new = old.rstrip("\n") + "\n\n" + "\n".join(text) + "\n"
    with open(path, "w") as f:
        f.write(new)

if __name__ == "__main__":
    main()
