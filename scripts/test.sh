#!/bin/bash
# The whole bqstream test suite, as the README gives it and CI runs it:
#   installs dependencies, builds and installs the extension, starts the local
#   emulator on free ports, then runs the emulator's own tests, pg_regress
#   (throwaway instance, library preloaded), the TAP suite, the pubsub-reference
#   suite against Google's own Pub/Sub emulator and the conformance tests
#   with Google's official Node clients. Stops everything it started, even
#   on failure, and ends with one line "N passed, N failed".
#
# As root (CI, a fresh machine) the tests run as the "postgres" OS user in a
# copy of the tree under /tmp, since initdb refuses root. As another user
# they run as that user, who must be able to "make install" (or have done it).
#
# Usage: scripts/test.sh [suite ...]
#   suites: emulator regress tap pubsub-reference bq-reference conformance fuzz chaos memcheck dashboard package
#   pubsub-reference: test/pubsub_reference against Google's Pub/Sub emulator
#     (package google-cloud-cli-pubsub-emulator); without it the suite counts
#     as failed and says that it did not run
#   fuzz: the libFuzzer targets (fuzz/run.sh), BQSTREAM_FUZZ_SECONDS each (15)
#   chaos: bench/chaos.py --short, the CI length of the chaos run
#   memcheck: bench/memcheck.py with a shorter stream: leaks under valgrind
#   dashboard: bench/dashboard.py --short: a dashboard's queries give the same
#     answers with bqstream.enable_pushdown on and off
#   BQSTREAM_PROVE_TESTS: a list of test/t files, for the tap suite to run only them
#   bq-reference: Google's bq CLI and BigQuery's discovery document against the
#     emulator and the C client (test/bq_reference); without Google's tools it
#     says it did NOT run and counts as a failure
#   package: the Debian package built with pg_buildext from a git archive of
#     the tree, installed, the demo's SQL on a fresh cluster, purged; runs last
#     and puts back the files of the tree's "make install" it replaced (root only)
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ALL_SUITES=(emulator regress tap pubsub-reference bq-reference conformance fuzz chaos memcheck dashboard package)
SUITES=("${@:-${ALL_SUITES[@]}}")
SUITE_TIMEOUT=${BQSTREAM_SUITE_TIMEOUT:-1200}
PYTHON=/usr/bin/python3
# The PostgreSQL installation under test is the one whose pg_config comes
# first in PATH (Debian's by default); its bin directory leads the tests' PATH.
PG_BINDIR=$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)

PASSED=0
FAILED=0
SUMMARY=()
EMULATOR_PID=

note() { echo "== test.sh: $*"; }

if [ "$(id -u)" -eq 0 ]; then
	TEST_USER=postgres
else
	TEST_USER=$(id -un)
fi

# Run a command as the test user with a neutral environment: root's PATH may
# hold private interpreters the postgres user cannot read.
as_tester() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u "$TEST_USER" -- env HOME="$WORK/home" PATH="$PG_BINDIR:/usr/local/bin:/usr/bin:/bin" \
			LANG=C.UTF-8 "$@"
	else
		env PATH="$PG_BINDIR:/usr/local/bin:/usr/bin:/bin:$PATH" "$@"
	fi
}

cleanup() {
	package_cleanup
	if [ -n "$EMULATOR_PID" ] && kill -0 "$EMULATOR_PID" 2>/dev/null; then
		kill -TERM "$EMULATOR_PID" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$EMULATOR_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$EMULATOR_PID" 2>/dev/null
	fi
	pkill -KILL -f -- "--ports-file $WORK/ports.json" 2>/dev/null
	# leftover test clusters of a killed run would keep ports and memory
	pkill -u "$TEST_USER" -f "$WORK/src/tmp_" 2>/dev/null
	if [ "$FAILED" -eq 0 ] && [ -z "${BQSTREAM_KEEP_TEST_DIR:-}" ]; then
		rm -rf "$WORK"
	else
		note "test directory kept: $WORK"
	fi
}

# What the package suite has changed on the machine, undone by
# package_cleanup at the suite's end or at exit: a cluster of the packaged
# PostgreSQL, the package installed, the files of the tree's "make install"
# it replaced (saved in a tar file).
PKG_NAME=postgresql-15-bqstream
PKG_CLUSTER=
PKG_INSTALLED=
PKG_SAVED=

package_cleanup() {
	if [ -n "$PKG_CLUSTER" ]; then
		cp "/var/log/postgresql/postgresql-15-$PKG_CLUSTER.log" "$WORK/logs/package-server.log" 2>/dev/null
		pg_dropcluster --stop 15 "$PKG_CLUSTER" >/dev/null 2>&1
		PKG_CLUSTER=
	fi
	if [ -n "$PKG_INSTALLED" ]; then
		DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq "$PKG_NAME" >/dev/null 2>&1 ||
			dpkg --purge "$PKG_NAME" >/dev/null 2>&1
		PKG_INSTALLED=
	fi
	if [ -n "$PKG_SAVED" ]; then
		tar -C / -xf "$PKG_SAVED"
		PKG_SAVED=
	fi
}

# sum the numbers read on standard input
sum() { awk '{ s += $1 } END { print s + 0 }'; }

# record SUITE PASSED FAILED [REMARK]: add one suite's counts to the summary
record() {
	PASSED=$((PASSED + $2))
	FAILED=$((FAILED + $3))
	SUMMARY+=("$(printf '%-12s %4d passed, %d failed%s' "$1" "$2" "$3" "${4:+  ($4)}")")
}

# ---------------------------------------------------------------- setup
"$ROOT/scripts/install-deps.sh" || { echo "0 passed, 1 failed"; exit 1; }

WORK=$(mktemp -d /tmp/bqstream-test.XXXXXX)
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$WORK/src" "$WORK/home" "$WORK/logs"
tar -C "$ROOT" --exclude=.git --exclude=./tmp_check --exclude=./tmp_regress \
	--exclude=./test/results --exclude='*.o' --exclude='*.so' --exclude='*.bc' -cf - . |
	tar -C "$WORK/src" -xf -
[ "$(id -u)" -eq 0 ] && chown -R "$TEST_USER" "$WORK"

note "building and installing the extension"
if ! as_tester make -s -C "$WORK/src" >"$WORK/logs/build.log" 2>&1 ||
	! make -s -C "$WORK/src" install >>"$WORK/logs/build.log" 2>&1; then
	cat "$WORK/logs/build.log"
	record build 0 1
	printf '%s\n' "${SUMMARY[@]}"
	echo "$PASSED passed, $FAILED failed"
	exit 1
fi
grep -E "warning|error" "$WORK/logs/build.log" || true

note "starting the emulator"
cd "$WORK/src"
# a plain command in the background, so that $! is the process to signal
if [ "$(id -u)" -eq 0 ]; then
	runuser -u "$TEST_USER" -- env HOME="$WORK/home" PATH=/usr/bin:/bin \
		"$PYTHON" -m emulator --services pubsub,bigquery,bigquerystorage \
		--pubsub-port 0 --bigquery-port 0 --bigquerystorage-port 0 \
		--data-dir "$WORK/emulator-data" --ports-file "$WORK/ports.json" \
		>"$WORK/logs/emulator-server.log" 2>&1 &
else
	"$PYTHON" -m emulator --services pubsub,bigquery,bigquerystorage \
		--pubsub-port 0 --bigquery-port 0 --bigquerystorage-port 0 \
		--data-dir "$WORK/emulator-data" --ports-file "$WORK/ports.json" \
		>"$WORK/logs/emulator-server.log" 2>&1 &
fi
EMULATOR_PID=$!
cd "$ROOT"
for _ in $(seq 100); do
	[ -s "$WORK/ports.json" ] && break
	kill -0 "$EMULATOR_PID" 2>/dev/null || break
	sleep 0.1
done
if [ ! -s "$WORK/ports.json" ]; then
	cat "$WORK/logs/emulator-server.log"
	record emulator-up 0 1
	printf '%s\n' "${SUMMARY[@]}"
	echo "$PASSED passed, $FAILED failed"
	exit 1
fi
PUBSUB_PORT=$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["pubsub"])' "$WORK/ports.json")
BIGQUERY_PORT=$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["bigquery"])' "$WORK/ports.json")
BIGQUERY_STORAGE_PORT=$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["bigquerystorage"])' \
	"$WORK/ports.json")
note "emulator: Pub/Sub on 127.0.0.1:$PUBSUB_PORT, BigQuery on 127.0.0.1:$BIGQUERY_PORT," \
	"BigQuery Storage (gRPC) on 127.0.0.1:$BIGQUERY_STORAGE_PORT"
# what the TAP and regression tests read to reach the shared emulator
export BQSTREAM_TEST_PUBSUB_ENDPOINT="http://127.0.0.1:$PUBSUB_PORT"
export BQSTREAM_TEST_BIGQUERY_ENDPOINT="http://127.0.0.1:$BIGQUERY_PORT"
# plain http: h2c with prior knowledge, as the extension's bigquery_storage_endpoint reads it
export BQSTREAM_TEST_BIGQUERY_STORAGE_ENDPOINT="http://127.0.0.1:$BIGQUERY_STORAGE_PORT"
export BQSTREAM_TEST_EMULATOR_PORTS_FILE="$WORK/ports.json"

# run_suite NAME COMMAND...: run one suite as the test user, log its output
run_suite() {
	local name=$1
	shift
	note "suite $name"
	(cd "$WORK/src" && as_tester env \
		BQSTREAM_TEST_PUBSUB_ENDPOINT="$BQSTREAM_TEST_PUBSUB_ENDPOINT" \
		BQSTREAM_TEST_BIGQUERY_ENDPOINT="$BQSTREAM_TEST_BIGQUERY_ENDPOINT" \
		BQSTREAM_TEST_BIGQUERY_STORAGE_ENDPOINT="$BQSTREAM_TEST_BIGQUERY_STORAGE_ENDPOINT" \
		BQSTREAM_TEST_EMULATOR_PORTS_FILE="$BQSTREAM_TEST_EMULATOR_PORTS_FILE" \
		timeout --kill-after=30 "$SUITE_TIMEOUT" "$@") 2>&1 | tee "$WORK/logs/$name.log"
	return "${PIPESTATUS[0]}"
}

# ---------------------------------------------------------------- suites
suite_emulator() {
	run_suite emulator "$PYTHON" -m unittest discover -s test/emulator -t . -v
	local rc=$? log="$WORK/logs/emulator.log"
	local ran bad skipped
	ran=$(grep -oE '^Ran [0-9]+ tests?' "$log" | grep -oE '[0-9]+' | tail -1)
	bad=$(grep -oE '(failures|errors)=[0-9]+' "$log" | grep -oE '[0-9]+' | sum)
	skipped=$(grep -oE 'skipped=[0-9]+' "$log" | grep -oE '[0-9]+' | tail -1)
	ran=${ran:-0} bad=${bad:-0} skipped=${skipped:-0}
	[ "$rc" -ne 0 ] && [ "$bad" -eq 0 ] && bad=1
	record emulator $((ran - bad - skipped)) "$bad"
}

# record_regress NAME RC: record a pg_regress run from its log, with the
# differences when it failed
record_regress() {
	local name=$1 rc=$2 log="$WORK/logs/$1.log"
	local ok bad
	ok=$(grep -cE '^(ok|test) .*\.\.\. ok' "$log")
	bad=$(grep -cE '\.\.\. FAILED' "$log")
	[ "$rc" -ne 0 ] && [ "$bad" -eq 0 ] && bad=1
	if [ "$bad" -ne 0 ] && [ -f "$WORK/src/test/regression.diffs" ]; then
		cat "$WORK/src/test/regression.diffs"
	fi
	record "$name" "$ok" "$bad"
}

# Both sets of test/sql on a throwaway instance with the library preloaded
# and the emulator; then "make installcheck", the tests that need nothing,
# as a user runs it: against a plain running server (no
# shared_preload_libraries) with no emulator in the environment.
suite_regress() {
	run_suite regress make -s regresscheck
	record_regress regress $?

	local plain=$WORK/plain port=54998
	if ! as_tester "$PG_BINDIR/initdb" -D "$plain" -A trust >"$WORK/logs/plain-initdb.log" 2>&1 ||
		! as_tester "$PG_BINDIR/pg_ctl" -D "$plain" -l "$WORK/logs/plain-server.log" -w \
			-o "-c listen_addresses='' -c unix_socket_directories='$WORK' -p $port" start >/dev/null; then
		cat "$WORK/logs/plain-initdb.log" "$WORK/logs/plain-server.log" 2>/dev/null
		record installcheck 0 1
		return
	fi
	note "suite regress: make installcheck on a plain server without the emulator"
	(cd "$WORK/src" && as_tester env -u BQSTREAM_TEST_PUBSUB_ENDPOINT -u BQSTREAM_TEST_BIGQUERY_ENDPOINT \
		-u BQSTREAM_TEST_BIGQUERY_STORAGE_ENDPOINT \
		-u BQSTREAM_TEST_EMULATOR_PORTS_FILE PGHOST="$WORK" PGPORT="$port" \
		timeout --kill-after=30 "$SUITE_TIMEOUT" make -s installcheck) 2>&1 | tee "$WORK/logs/installcheck.log"
	local rc=${PIPESTATUS[0]}
	as_tester "$PG_BINDIR/pg_ctl" -D "$plain" -m immediate -w stop >/dev/null
	record_regress installcheck "$rc"
}

# record_prove NAME RC: record a prove run from its log, with the test logs
# when it failed
record_prove() {
	local name=$1 rc=$2 log="$WORK/logs/$1.log"
	local total bad
	total=$(grep -oE '^Files=[0-9]+, Tests=[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
	bad=$(grep -oE 'Failed: [0-9]+\)' "$log" | grep -oE '[0-9]+' | sum)
	total=${total:-0} bad=${bad:-0}
	[ "$rc" -ne 0 ] && [ "$bad" -eq 0 ] && bad=1
	if [ "$rc" -ne 0 ]; then
		for f in "$WORK"/src/tmp_check/log/regress_log_*; do
			[ -f "$f" ] && { echo "---- $f (last 60 lines)"; tail -60 "$f"; }
		done
	fi
	record "$name" $((total > bad ? total - bad : 0)) "$bad"
}

suite_tap() {
	# BQSTREAM_PROVE_TESTS="test/t/005_pipeline.pl ..." runs only those files
	run_suite tap make -s tapcheck PROVE_FLAGS=--timer \
		${BQSTREAM_PROVE_TESTS:+PROVE_TESTS="$BQSTREAM_PROVE_TESTS"}
	record_prove tap $?
}

# Google's Pub/Sub emulator, from the Google Cloud CLI's Debian package: its
# start script, or nothing.  gcloud gets a scratch configuration directory,
# so that nothing is written into a home directory.
google_pubsub_emulator() {
	local cfg sdk
	command -v gcloud >/dev/null && command -v java >/dev/null || return 0
	cfg=$(mktemp -d)
	sdk=$(CLOUDSDK_CONFIG=$cfg gcloud info --format='value(installation.sdk_root)' 2>/dev/null)
	rm -rf "$cfg"
	if [ -n "$sdk" ] && [ -x "$sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator" ]; then
		echo "$sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator"
	fi
}

suite_pubsub_reference() {
	local emulator
	emulator=$(google_pubsub_emulator)
	if [ -z "$emulator" ]; then
		# never counted as passed: CI's machines have the package
		note "suite pubsub-reference did NOT run: Google's Pub/Sub emulator is not installed" \
			"(Debian package google-cloud-cli-pubsub-emulator, from Google's apt repository;" \
			"scripts/install-deps.sh installs it where that repository is configured)"
		record "pubsub-reference (NOT RUN)" 0 1
		return
	fi
	note "Google's Pub/Sub emulator: $emulator"
	run_suite pubsub-reference env BQSTREAM_GOOGLE_PUBSUB_EMULATOR="$emulator" \
		BQSTREAM_REFERENCE_QUIET_SECONDS="${BQSTREAM_REFERENCE_QUIET_SECONDS:-95}" \
		make -s tapcheck PROVE_FLAGS=--timer PROVE_TESTS="test/pubsub_reference/*.pl"
	record_prove pubsub-reference $?
}

suite_conformance() {
	# a throwaway PostgreSQL that the BigQuery conformance test uses as an oracle
	local pgbin oracle_url=
	pgbin=$PG_BINDIR
	if as_tester "$pgbin/initdb" -D "$WORK/oracle" -A trust >"$WORK/logs/oracle.log" 2>&1 &&
		as_tester "$pgbin/pg_ctl" -D "$WORK/oracle" -l "$WORK/logs/oracle-server.log" -w \
			-o "-c listen_addresses='' -c unix_socket_directories='$WORK' -p 54999" start >/dev/null; then
		oracle_url="postgresql:///postgres?host=$WORK&port=54999"
	else
		cat "$WORK/logs/oracle.log" "$WORK/logs/oracle-server.log" 2>/dev/null
	fi
	run_suite conformance env PUBSUB_EMULATOR_HOST="127.0.0.1:$PUBSUB_PORT" \
		BIGQUERY_EMULATOR_HOST="127.0.0.1:$BIGQUERY_PORT" BQSTREAM_ORACLE_PGURL="$oracle_url" \
		BIGQUERY_STORAGE_EMULATOR_HOST="127.0.0.1:$BIGQUERY_STORAGE_PORT" \
		node --test --test-reporter=spec test/conformance/*.test.js
	local rc=$? log="$WORK/logs/conformance.log"
	[ -n "$oracle_url" ] && as_tester "$pgbin/pg_ctl" -D "$WORK/oracle" -m immediate -w stop >/dev/null
	local ok bad
	ok=$(grep -oE '^. pass [0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
	bad=$(grep -oE '^. fail [0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
	ok=${ok:-0} bad=${bad:-0}
	[ "$rc" -ne 0 ] && [ "$bad" -eq 0 ] && bad=1
	record conformance "$ok" "$bad"
}

suite_fuzz() {
	run_suite fuzz sh fuzz/run.sh --seconds "${BQSTREAM_FUZZ_SECONDS:-15}"
	local rc=$? log="$WORK/logs/fuzz.log"
	local ok bad
	ok=$(grep -cE '(^[a-z_]+ .*|^identifier_lexer:) nothing found$' "$log")
	bad=$(grep -cE '^[a-z_]+ .* FOUND|^identifier_lexer: FOUND' "$log")
	[ "$rc" -ne 0 ] && [ "$bad" -eq 0 ] && bad=1
	record fuzz "$ok" "$bad"
}

suite_chaos() {
	run_suite chaos "$PYTHON" bench/chaos.py --short
	local rc=$?
	# one audit: it passes whole or not at all
	if [ "$rc" -eq 0 ]; then record chaos 1 0; else record chaos 0 1; fi
}

suite_memcheck() {
	run_suite memcheck "$PYTHON" bench/memcheck.py --warmup 5000 --orders 30000 --scans 3
	local rc=$?
	if [ "$rc" -eq 0 ]; then record memcheck 1 0; else record memcheck 0 1; fi
}

suite_dashboard() {
	run_suite dashboard "$PYTHON" bench/dashboard.py --short
	local rc=$?
	# one comparison of every query's answers: it passes whole or not at all
	if [ "$rc" -eq 0 ]; then record dashboard 1 0; else record dashboard 0 1; fi
}

# Google's bq CLI drives the BigQuery emulator, and the emulator's answers and
# the C client's requests are checked against BigQuery's discovery document
# (test/bq_reference). Google's tools come from the google-cloud-cli package;
# without them the suite did NOT run, which is never a pass.
suite_bq_reference() {
	local sdk=${BQSTREAM_GCLOUD_SDK_ROOT:-/usr/lib/google-cloud-sdk} f missing=
	for f in platform/bq/bq.py platform/bundledpythonunix/bin/python3 \
		platform/bq/discovery_next/bigquery.json; do
		[ -e "$sdk/$f" ] || missing="$missing $sdk/$f"
	done
	if [ -n "$missing" ]; then
		note "suite bq-reference did NOT run: Google's tools are missing:$missing" \
			"(package google-cloud-cli from Google's apt repository; scripts/install-deps.sh installs it where that repository is configured)"
		record "bq-reference (NOT RUN)" 0 1
		return
	fi
	run_suite bq-reference env BQSTREAM_GCLOUD_SDK_ROOT="$sdk" \
		BQSTREAM_BQREF_TRAFFIC="$WORK/logs/bq-reference-traffic.jsonl" \
		"$PYTHON" -m unittest discover -s test/bq_reference -t . -v
	local rc=$? log="$WORK/logs/bq-reference.log"
	local ran bad skipped
	ran=$(grep -oE '^Ran [0-9]+ tests?' "$log" | grep -oE '[0-9]+' | tail -1)
	bad=$(grep -oE '(failures|errors)=[0-9]+' "$log" | grep -oE '[0-9]+' | sum)
	skipped=$(grep -oE 'skipped=[0-9]+' "$log" | grep -oE '[0-9]+' | tail -1)
	ran=${ran:-0} bad=${bad:-0} skipped=${skipped:-0}
	# a skipped check did not run: a failure here, never a pass
	bad=$((bad + skipped))
	[ "$rc" -ne 0 ] && [ "$bad" -eq 0 ] && bad=1
	record bq-reference $((ran - bad > 0 ? ran - bad : 0)) "$bad"
}

# The Debian package as users install it: a git archive of the tree (what
# "make dist" and PGXN get; tracked files only, with uncommitted changes to
# them) checked against META.json, built with dpkg-buildpackage (whose
# dh_pgxs_test runs "make installcheck" on a temporary cluster), installed
# with apt in place of the tree's "make install", its autopkgtest
# (debian/tests/installcheck) run against it, a fresh cluster created
# with pg_createcluster and the library preloaded, the demo's SQL run there
# against the emulator (test/package), then the cluster dropped, the package
# purged (no file of it may remain) and the tree's files put back, so that
# the suites before and after it test the tree's build.
suite_package() {
	local dir=$WORK/package ver src ref deb port f rc ok bad
	if [ "$(id -u)" -ne 0 ]; then
		note "suite package did NOT run: installing a package needs root"
		record "package (NOT RUN)" 0 1
		return
	fi
	if dpkg-query -W -f='${Status}' "$PKG_NAME" 2>/dev/null | grep -q "ok installed"; then
		note "suite package did NOT run: $PKG_NAME is installed already (apt-get purge $PKG_NAME first)"
		record "package (NOT RUN)" 0 1
		return
	fi
	ver=$("$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["version"])' "$ROOT/META.json")
	src=$dir/bqstream-$ver
	rm -rf "$dir"
	mkdir -p "$dir"
	if git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1; then
		ref=$(git -C "$ROOT" stash create 2>/dev/null)
		git -C "$ROOT" archive --prefix="bqstream-$ver/" "${ref:-HEAD}" | tar -C "$dir" -xf -
	else
		cp -a "$WORK/src" "$src"
		make -s -C "$src" clean >/dev/null
	fi

	note "suite package: META.json of the archive"
	(cd "$src" && "$PYTHON" -m unittest test.package.meta_check -v) 2>&1 | tee "$WORK/logs/package-meta.log"
	rc=${PIPESTATUS[0]}
	ok=$(grep -cE ' \.\.\. ok$' "$WORK/logs/package-meta.log")
	bad=$(grep -cE ' \.\.\. (FAIL|ERROR)$' "$WORK/logs/package-meta.log")
	[ "$rc" -ne 0 ] && [ "$bad" -eq 0 ] && bad=1
	record package-meta "$ok" "$bad"

	note "suite package: dpkg-buildpackage -us -uc -b in $src"
	(cd "$src" && timeout --kill-after=30 "$SUITE_TIMEOUT" dpkg-buildpackage -us -uc -b) \
		>"$WORK/logs/package-build.log" 2>&1
	rc=$?
	# the installcheck that dh_pgxs_test ran on the package's files
	sed -n '/^### PostgreSQL .* installcheck ###/,/^### End .* installcheck ###/p' "$WORK/logs/package-build.log" |
		grep -E '^test |tests? (passed|failed)' | tee "$WORK/logs/package-installcheck.log"
	deb=$dir/${PKG_NAME}_${ver}_$(dpkg --print-architecture).deb
	ok=$(grep -cE '^test .*\.\.\. ok' "$WORK/logs/package-installcheck.log")
	bad=$(grep -cE '\.\.\. FAILED' "$WORK/logs/package-installcheck.log")
	if [ "$rc" -ne 0 ] || [ ! -f "$deb" ] || [ "$ok" -eq 0 ]; then
		tail -60 "$WORK/logs/package-build.log"
		record package-deb "$ok" $((bad > 0 ? bad : 1))
		return
	fi
	record package-deb "$ok" "$bad"
	dpkg-deb --info "$deb" | grep -E '^ (Package|Version|Depends):'

	# the files of the tree's "make install", and any the package would
	# replace, are saved and removed, so that only the package's files are
	# tested: one it lacks must not be found where make install left it
	dpkg-deb --fsys-tarfile "$deb" | tar -tf - | sed -n 's|^\./\(.*[^/]\)$|\1|p' >"$dir/files"
	{
		cat "$dir/files"
		find /usr/lib/postgresql/15/lib /usr/share/postgresql/15/extension \
			\( -name 'bqstream*' -o -path '*/bitcode/bqstream/*' \) ! -type d | sed 's|^/||'
	} | sort -u | while read -r f; do
		if [ -e "/$f" ]; then echo "$f"; fi
	done >"$dir/installed-before"
	tar -C / -cf "$dir/installed-before.tar" -T "$dir/installed-before"
	PKG_SAVED=$dir/installed-before.tar
	sed 's|^|/|' "$dir/installed-before" | xargs -r rm -f

	ok=0 bad=0
	note "suite package: apt-get install $deb"
	PKG_INSTALLED=yes
	if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$deb" \
		>"$WORK/logs/package-install.log" 2>&1; then
		cat "$WORK/logs/package-install.log"
		package_cleanup
		record package 0 1
		return
	fi

	# the autopkgtest of debian/tests: make installcheck against the
	# installed package, on a temporary cluster (pg_virtualenv)
	note "suite package: debian/tests/installcheck against the installed package"
	(cd "$src" && timeout --kill-after=30 "$SUITE_TIMEOUT" debian/tests/installcheck) \
		>"$WORK/logs/package-autopkgtest.log" 2>&1
	rc=$?
	grep -E '^test |tests? (passed|failed)' "$WORK/logs/package-autopkgtest.log"
	ok=$(grep -cE '^test .*\.\.\. ok' "$WORK/logs/package-autopkgtest.log")
	bad=$(grep -cE '\.\.\. FAILED' "$WORK/logs/package-autopkgtest.log")
	if [ "$rc" -ne 0 ] || [ "$ok" -eq 0 ]; then
		tail -40 "$WORK/logs/package-autopkgtest.log"
		[ "$bad" -eq 0 ] && bad=1
	fi

	port=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	PKG_CLUSTER=bqstream_pkgtest_$$
	note "suite package: pg_createcluster 15 $PKG_CLUSTER -p $port, shared_preload_libraries = bqstream"
	if pg_createcluster 15 "$PKG_CLUSTER" -p "$port" --start -o shared_preload_libraries=bqstream \
		>"$WORK/logs/package-cluster.log" 2>&1; then
		mkdir -p "$dir/results"
		chown -R "$TEST_USER" "$dir/results"
		run_suite package env PGHOST=/var/run/postgresql PGPORT="$port" \
			/usr/lib/postgresql/15/lib/pgxs/src/test/regress/pg_regress \
			--bindir=/usr/lib/postgresql/15/bin --inputdir="$src/test/package" \
			--outputdir="$dir/results" --use-existing --dbname=postgres demo
		rc=$?
		local demo_ok demo_bad
		demo_ok=$(grep -cE '^(ok|test) .*\.\.\. ok' "$WORK/logs/package.log")
		demo_bad=$(grep -cE '\.\.\. FAILED' "$WORK/logs/package.log")
		[ "$rc" -ne 0 ] && [ "$demo_bad" -eq 0 ] && demo_bad=1
		if [ "$demo_bad" -ne 0 ]; then
			cat "$dir/results/regression.diffs" 2>/dev/null
		fi
		ok=$((ok + demo_ok)) bad=$((bad + demo_bad))
	else
		cat "$WORK/logs/package-cluster.log"
		bad=$((bad + 1))
	fi

	# purged, the package leaves nothing behind
	local saved=$PKG_SAVED
	PKG_SAVED=
	package_cleanup
	if dpkg-query -W -f='${Status}' "$PKG_NAME" 2>/dev/null | grep -q "ok installed"; then
		note "suite package: $PKG_NAME is still installed after apt-get purge"
		bad=$((bad + 1))
	else
		local left=
		while read -r f; do
			if [ -e "/$f" ]; then left="$left /$f"; fi
		done <"$dir/files"
		if [ -n "$left" ]; then
			note "suite package: files left after apt-get purge:$left"
			bad=$((bad + 1))
		else
			note "suite package: purged, no file of the package left"
			ok=$((ok + 1))
		fi
	fi
	PKG_SAVED=$saved
	package_cleanup
	record package "$ok" "$bad"
}

for suite in "${SUITES[@]}"; do
	case "$suite" in
		emulator | regress | tap | conformance | fuzz | chaos | memcheck | dashboard | package) "suite_$suite" ;;
		pubsub-reference) suite_pubsub_reference ;;
		bq-reference) suite_bq_reference ;;
		*) echo "test.sh: unknown suite \"$suite\" (known: ${ALL_SUITES[*]})" >&2; record "$suite" 0 1 ;;
	esac
done

echo
printf '%s\n' "${SUMMARY[@]}"
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
