#!/bin/bash
# The bqstream demo: starts the local Pub/Sub + BigQuery emulator and a
# PostgreSQL 15 instance with bqstream preloaded in a local folder, creates
# the extension and runs the pipeline as far as it is built today. It draws
# orders per minute, read back through the foreign data wrapper, with gnuplot
# into demo-output/orders_per_minute.png (BQSTREAM_DEMO_OUTPUT overrides the
# folder), outside .demo/ so that it survives the servers' state being wiped.
#
# Usage: scripts/demo.sh [--keep]
#   --keep  leave the emulator and PostgreSQL running afterwards and print how
#           to connect; stop them later with scripts/demo.sh --stop
# As root it installs what is missing first (scripts/install-deps.sh).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=/usr/bin/python3
PGBIN=$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)
KEEP=no
case "${1:-}" in
	--keep) KEEP=yes ;;
	--stop) STOP_ONLY=yes ;;
	"") ;;
	*) echo "usage: scripts/demo.sh [--keep|--stop]" >&2; exit 2 ;;
esac

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

if [ "$(id -u)" -eq 0 ]; then
	PGUSER_OS=postgres
else
	PGUSER_OS=$(id -un)
fi
as_pg() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u "$PGUSER_OS" -- "$@"
	else
		"$@"
	fi
}

# The demo's state lives in .demo/ unless the PostgreSQL OS user cannot reach
# the checkout (e.g. a clone under /root); then in /tmp.
DEMO=${BQSTREAM_DEMO_DIR:-$ROOT/.demo}
mkdir -p "$DEMO"
[ "$(id -u)" -eq 0 ] && chown "$PGUSER_OS" "$DEMO"
if ! as_pg test -w "$DEMO"; then
	DEMO=/tmp/bqstream-demo
	mkdir -p "$DEMO"
	[ "$(id -u)" -eq 0 ] && chown "$PGUSER_OS" "$DEMO"
fi
PGDATA=$DEMO/pgdata
PGPORT=${BQSTREAM_DEMO_PGPORT:-54329}
PUBSUB_PORT=${BQSTREAM_DEMO_PUBSUB_PORT:-8085}
BIGQUERY_PORT=${BQSTREAM_DEMO_BIGQUERY_PORT:-9050}
BIGQUERY_STORAGE_PORT=${BQSTREAM_DEMO_BIGQUERY_STORAGE_PORT:-9060}

stop_all() {
	if [ -f "$PGDATA/postmaster.pid" ]; then
		as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null 2>&1 || true
	fi
	if [ -f "$DEMO/emulator.pid" ]; then
		kill -TERM "$(cat "$DEMO/emulator.pid")" 2>/dev/null || true
		rm -f "$DEMO/emulator.pid"
	fi
}

if [ "${STOP_ONLY:-}" = yes ]; then
	stop_all
	echo "demo stopped"
	exit 0
fi

stop_all
# every run starts from scratch, so what it prints does not depend on the last one
rm -rf "$PGDATA" "$DEMO/emulator-data"
if [ "$KEEP" = no ]; then
	trap stop_all EXIT
fi

step "1. dependencies and build"
if [ "$(id -u)" -eq 0 ]; then
	"$ROOT/scripts/install-deps.sh"
fi
make -s -C "$ROOT" >/dev/null
make -s -C "$ROOT" install >/dev/null
echo "bqstream built and installed into $(pg_config --pkglibdir)"

step "2. the local emulator (Pub/Sub on :$PUBSUB_PORT, BigQuery on :$BIGQUERY_PORT, BigQuery Storage gRPC on :$BIGQUERY_STORAGE_PORT)"
rm -f "$DEMO/ports.json"
(cd "$ROOT" && exec "$PYTHON" -m emulator --services pubsub,bigquery,bigquerystorage \
	--pubsub-port "$PUBSUB_PORT" --bigquery-port "$BIGQUERY_PORT" \
	--bigquerystorage-port "$BIGQUERY_STORAGE_PORT" \
	--data-dir "$DEMO/emulator-data" --ports-file "$DEMO/ports.json" \
	>"$DEMO/emulator.log" 2>&1) &
echo $! >"$DEMO/emulator.pid"
for _ in $(seq 100); do
	[ -s "$DEMO/ports.json" ] && break
	sleep 0.1
done
if [ ! -s "$DEMO/ports.json" ]; then
	echo "the emulator did not start; its log:" >&2
	cat "$DEMO/emulator.log" >&2
	exit 1
fi
echo "emulator running (log: $DEMO/emulator.log, state: $DEMO/emulator-data)"

step "3. PostgreSQL 15 with shared_preload_libraries = 'bqstream' (port $PGPORT)"
as_pg "$PGBIN/initdb" -D "$PGDATA" -A trust -U postgres >/dev/null
cat >>"$PGDATA/postgresql.conf" <<EOF
shared_preload_libraries = 'bqstream'
port = $PGPORT
listen_addresses = ''
unix_socket_directories = '$DEMO'
EOF
as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -l "$DEMO/postgresql.log" -w start >/dev/null
echo "PostgreSQL running (log: $DEMO/postgresql.log)"

PSQL=(as_pg psql -X -h "$DEMO" -p "$PGPORT" -U postgres -d postgres -v ON_ERROR_STOP=1)
sql() {
	echo "postgres=# $1"
	"${PSQL[@]}" -c "$1"
}

step "4. the extension"
sql "CREATE EXTENSION bqstream"
sql "SELECT bqstream.version()"
sql "SELECT * FROM bqstream.library_versions()"

step "4b. GCP configuration the SQL/MED way (checked as it is written)"
sql "CREATE SERVER emulator FOREIGN DATA WRAPPER bqstream_fdw OPTIONS (project_id 'demo-project', location 'US', pubsub_endpoint 'http://127.0.0.1:$PUBSUB_PORT', bigquery_endpoint 'http://127.0.0.1:$BIGQUERY_PORT', bigquery_storage_endpoint 'http://127.0.0.1:$BIGQUERY_STORAGE_PORT', dataset 'shop')"
sql "CREATE USER MAPPING FOR CURRENT_USER SERVER emulator OPTIONS (auth 'none')"
sql "ALTER SERVER emulator OPTIONS (ADD projectid 'typo')" || echo "(refused, as it should be)"

step "4c. the pipeline's GCP resources, in one idempotent call"
sql "SELECT * FROM bqstream.setup_demo('emulator')"

step "4d. a streaming pipeline: subscription orders-pipeline -> validation -> shop.raw_orders"
sql "SELECT bqstream.create_pipeline('orders', 'emulator', 'orders-pipeline', max_workers => 2)"

step "4e. simulated orders: a preview, then 10,000 published (5% malformed, 10% late)"
sql "SELECT * FROM bqstream.sample_orders(3, seed => 7)"
sql "SELECT * FROM bqstream.publish_orders(10000, 'emulator', malformed_fraction => 0.05, late_fraction => 0.10, seed => 7)"

step "4f. the pipeline at work"
for _ in $(seq 60); do
	done_n=$("${PSQL[@]}" -At -c "SELECT coalesce(sum(inserted + dead_lettered), 0) FROM bqstream.pipeline_stats")
	[ "${done_n:-0}" -ge 10000 ] && break
	sleep 0.5
done
sql "SELECT pipeline, state, workers, received, inserted, acked, dead_lettered, late, latency_p50_ms, latency_p99_ms FROM bqstream.pipeline_stats"
sql "SELECT reason, count(*), min(detail) AS example FROM bqstream.dead_letters GROUP BY reason ORDER BY count(*) DESC"
echo "\$ BigQuery: SELECT COUNT(*) FROM shop.raw_orders; the top products of orders_per_minute"
for q in "SELECT COUNT(*) AS orders, COUNT(DISTINCT order_id) AS distinct_orders FROM shop.raw_orders" \
	"SELECT product_id, SUM(order_count) AS orders, ROUND(SUM(revenue), 2) AS revenue FROM shop.orders_per_minute GROUP BY product_id ORDER BY orders DESC LIMIT 5"; do
	curl -sS -X POST -H 'Content-Type: application/json' \
		-d "{\"useLegacySql\":false,\"query\":\"$q\"}" \
		"http://127.0.0.1:$BIGQUERY_PORT/bigquery/v2/projects/demo-project/queries" |
		/usr/bin/python3 -c 'import json, sys
r = json.load(sys.stdin)
print("  " + " | ".join(f["name"] for f in r["schema"]["fields"]))
for row in r.get("rows", []):
    print("  " + " | ".join(str(c["v"]) for c in row["f"]))'
done

step "4g. BigQuery through PostgreSQL: bqstream_fdw foreign tables"
sql "IMPORT FOREIGN SCHEMA shop LIMIT TO (raw_orders, orders_per_minute) FROM SERVER emulator INTO public"
sql "SELECT count(*) AS orders, round(sum(amount)::numeric, 2) AS revenue, min(event_time), max(event_time) FROM raw_orders"
sql "SELECT product_id, sum(order_count) AS orders, round(sum(revenue)::numeric, 2) AS revenue FROM orders_per_minute GROUP BY product_id ORDER BY orders DESC LIMIT 5"
sql "EXPLAIN (VERBOSE, COSTS OFF) SELECT product_id, amount FROM raw_orders WHERE amount > 100"

step "4h. a chart: orders and revenue per minute, read through the foreign table orders_per_minute"
# Outside .demo/ so it outlives the next run's clean start.
OUT=${BQSTREAM_DEMO_OUTPUT:-$ROOT/demo-output}
if ! mkdir -p "$OUT" 2>/dev/null || [ ! -w "$OUT" ]; then
	OUT=$DEMO/output
	mkdir -p "$OUT"
fi
CHART_DATA=$OUT/orders_per_minute.tsv
CHART=$OUT/orders_per_minute.png
rm -f "$CHART"	# a chart from an earlier run would pass for this one's
q="SELECT to_char(order_minute AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'), sum(order_count), round(sum(revenue)::numeric, 2) FROM orders_per_minute GROUP BY order_minute ORDER BY order_minute"
echo "postgres=# $q"
"${PSQL[@]}" -At -F $'\t' -c "$q" >"$CHART_DATA"
minutes=$(grep -c . "$CHART_DATA" || true)
echo "$minutes minutes written to $CHART_DATA (minute, orders, revenue), e.g.:"
head -n 3 "$CHART_DATA" | sed 's/^/  /'
if ! command -v gnuplot >/dev/null; then
	echo "gnuplot is not installed (Debian: apt-get install gnuplot-nox), so no chart; the data is in $CHART_DATA"
elif [ "$minutes" -eq 0 ]; then
	echo "no rows in orders_per_minute, so no chart"
else
	# pngcairo draws smoother text and lines; plain png (libgd) is the fallback
	if gnuplot -e "set terminal pngcairo" >/dev/null 2>&1; then
		term="pngcairo size 1100,560 noenhanced font ',10'"
	else
		term="png size 1100,560 noenhanced"
	fi
	if gnuplot >"$DEMO/gnuplot.log" 2>&1 <<EOF; then
set terminal $term
set output '$CHART'
set datafile separator "\t"
set title "Orders and revenue per minute of event time: shop.orders_per_minute read through bqstream_fdw\n($minutes minutes; most orders fall in the minute they were published, the late ones (10%) 5 to 120 minutes earlier, hence log scales)"
set xdata time
set timefmt "%Y-%m-%d %H:%M"
set format x "%H:%M"
set xlabel "event time (UTC), per minute"
set ylabel "orders per minute"
set y2label "revenue per minute (sum of amount)"
set format y "%.0f"
set format y2 "%.0f"
set autoscale xfix
set offsets 120, 120, 0, 0
set logscale y
set logscale y2
set ytics nomirror
set y2tics
set grid ytics xtics
set key top left box opaque
set style fill solid 0.7 border -1
set boxwidth 40
plot '$CHART_DATA' using 1:2 with boxes lc rgb "#4e79a7" title "orders", \
	'' using 1:3 axes x1y2 with linespoints lc rgb "#e15759" lw 1.5 pt 7 ps 0.5 title "revenue"
EOF
		echo "chart: $CHART"
	else
		echo "gnuplot failed (see $DEMO/gnuplot.log); the data is in $CHART_DATA"
	fi
fi

step "5. the Pub/Sub emulator answers like pubsub.googleapis.com"
P=http://127.0.0.1:$PUBSUB_PORT/v1/projects/demo-project
show() {
	echo "\$ $*"
	"$@"
	echo
}
show curl -sS -X PUT "$P/topics/demo-orders"
show curl -sS -X PUT -H 'Content-Type: application/json' \
	-d '{"topic":"projects/demo-project/topics/demo-orders","ackDeadlineSeconds":10}' \
	"$P/subscriptions/demo-orders-sub"
DATA=$(printf '{"order_id":"o-1","amount":12.5}' | base64 -w0)
show curl -sS -X POST -H 'Content-Type: application/json' \
	-d "{\"messages\":[{\"data\":\"$DATA\",\"attributes\":{\"source\":\"demo\"}}]}" "$P/topics/demo-orders:publish"
show curl -sS -X POST -H 'Content-Type: application/json' -d '{"maxMessages":10}' \
	"$P/subscriptions/demo-orders-sub:pull"

step "6. the BigQuery emulator answers like bigquery.googleapis.com"
B=http://127.0.0.1:$BIGQUERY_PORT/bigquery/v2/projects/demo-project
post() {
	echo "\$ curl -X POST $1 -d '$2'"
	curl -sS -X POST -H 'Content-Type: application/json' -d "$2" "$1"
	echo
}
post "$B/datasets" '{"datasetReference":{"projectId":"demo-project","datasetId":"shop"}}' >/dev/null
echo "(dataset shop created or already there)"
post "$B/queries" '{"useLegacySql":false,"query":"CREATE TABLE IF NOT EXISTS shop.demo_orders (order_id STRING NOT NULL, product_id STRING, amount FLOAT64, event_time TIMESTAMP NOT NULL) PARTITION BY DATE(event_time) CLUSTER BY product_id"}'
post "$B/datasets/shop/tables/demo_orders/insertAll" \
	'{"rows":[{"insertId":"o-1","json":{"order_id":"o-1","product_id":"p-7","amount":12.5,"event_time":"2026-11-24T10:00:01Z"}},{"insertId":"o-2","json":{"order_id":"o-2","product_id":"p-7","amount":"7.25","event_time":"2026-11-24T10:00:42Z"}},{"insertId":"o-3","json":{"order_id":"o-3","product_id":"p-2","amount":-1,"event_time":"not a time"}}],"skipInvalidRows":true}'
post "$B/queries" '{"useLegacySql":false,"formatOptions":{"useInt64Timestamp":true},"query":"SELECT product_id, TIMESTAMP_TRUNC(event_time, MINUTE) AS minute, COUNT(*) AS orders, SUM(amount) AS revenue FROM shop.demo_orders WHERE event_time >= @since GROUP BY product_id, minute ORDER BY revenue DESC","parameterMode":"NAMED","queryParameters":[{"name":"since","parameterType":{"type":"TIMESTAMP"},"parameterValue":{"value":"2026-11-24 00:00:00+00"}}]}'

echo
if [ -s "${CHART:-/nonexistent}" ]; then
	echo "The chart of orders per minute: $CHART"
fi
if [ "$KEEP" = yes ]; then
	echo "The demo is still running. Connect with:"
	echo "  ${PSQL[*]:1}"
	echo "Stop it with: scripts/demo.sh --stop"
else
	echo "Demo finished; stopping the emulator and PostgreSQL (run with --keep to explore)."
fi
