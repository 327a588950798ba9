#!/bin/sh
# fuzz/run.sh [--seconds N] [--jobs J] [--no-build] [--keep-going] [TARGET...]
#
# Build the fuzz targets (make -C fuzz), then run each for N seconds (default
# 20) under ASan + UBSan + LeakSanitizer, J at a time (default: the number
# of CPUs), starting from its seed corpus (corpus/TARGET, which holds the
# regression seeds of bugs found) plus what earlier runs kept
# (build/corpus/TARGET).  Then the Python property tests of the identifier
# quoting and of the query option's lexer against the emulator's GoogleSQL
# lexer (test_identifier_lexer.py, test_query_check_lexer.py).  Prints per
# target the executions done and whether it found anything; a finding's
# input is in build/artifacts/TARGET/ and its report in build/logs/TARGET.log.
#
# Exit status: 0 nothing found, 1 something found (crash, leak, UBSan
# report, timeout, out of memory, property violated), 2 build failure.
#
# 75 min in all:    fuzz/run.sh --seconds 900    (10 targets, 2 at a time)
# One target long:  fuzz/run.sh --seconds 3600 bq_page
# Past a known bug: BQFUZZ_SKIP=property[,property] fuzz/run.sh ...  (see README.md)
set -u
cd "$(dirname "$0")" || exit 2

ALL="jsonscan pubsub_pull validate bq_page error_body sa_key identifier query_check protobuf grpc_stream"
seconds=20
jobs=$(nproc 2>/dev/null || echo 2)
build=1
targets=""
while [ $# -gt 0 ]; do
	case "$1" in
		--seconds) seconds=$2; shift 2 ;;
		--seconds=*) seconds=${1#*=}; shift ;;
		--jobs) jobs=$2; shift 2 ;;
		--jobs=*) jobs=${1#*=}; shift ;;
		--no-build) build=0; shift ;;
		-h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
		-*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
		*) targets="$targets $1"; shift ;;
	esac
done
[ -n "$targets" ] || targets=$ALL

if [ "$build" = 1 ]; then
	echo "== building (make -C fuzz)"
	if ! make -s all >build.log 2>&1; then
		cat build.log >&2
		echo "run.sh: build failed" >&2
		exit 2
	fi
	grep -h '^linked' build.log || true
fi
mkdir -p build/logs build/corpus build/artifacts

export ASAN_OPTIONS="detect_leaks=1:symbolize=1:detect_stack_use_after_return=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:report_error_type=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

run_target() {
	t=$1
	mkdir -p "build/corpus/$t" "build/artifacts/$t"
	rm -f "build/artifacts/$t"/*
	# the new inputs go to the first directory; the seeds stay as they are
	"./build/fuzz_$t" "build/corpus/$t" "corpus/$t" \
		-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
		-error_exitcode=77 -timeout_exitcode=78 -print_final_stats=1 \
		-artifact_prefix="build/artifacts/$t/" >"build/logs/$t.log" 2>&1
	echo $? >"build/logs/$t.rc"
}

echo "== fuzzing $seconds s per target, $jobs at a time:$targets"
running=0
for t in $targets; do
	if [ ! -x "build/fuzz_$t" ]; then
		echo "run.sh: no target $t" >&2
		exit 2
	fi
	run_target "$t" &
	running=$((running + 1))
	if [ "$running" -ge "$jobs" ]; then
		wait
		running=0
	fi
done
wait

found=0
printf '\n%-12s %12s %9s %7s  %s\n' target executions exec/s corpus result
for t in $targets; do
	log=build/logs/$t.log
	rc=$(cat "build/logs/$t.rc")
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
	corp=$(find "build/corpus/$t" "corpus/$t" -type f 2>/dev/null | wc -l)
	if [ "$rc" = 0 ]; then
		result="nothing found"
	else
		found=1
		art=$(ls "build/artifacts/$t" 2>/dev/null | head -1)
		why=$(grep -m1 -E '^==bqfuzz== (PROPERTY|stub)|^SUMMARY:|ERROR: libFuzzer|runtime error' "$log" | cut -c1-110)
		result="FOUND: ${why:-exit status $rc} -> build/artifacts/$t/$art (log: $log)"
	fi
	printf '%-12s %12s %9s %7s  %s\n' "$t" "${execs:-?}" "${speed:-?}" "$corp" "$result"
done

case " $targets " in
	*" identifier "*)
		echo
		echo "== identifier quoting through the GoogleSQL lexer (test_identifier_lexer.py)"
		if (cd .. && python3 -m unittest fuzz/test_identifier_lexer.py) >build/logs/identifier_lexer.log 2>&1; then
			tail -3 build/logs/identifier_lexer.log | head -1
			echo "identifier_lexer: nothing found"
		else
			found=1
			cat build/logs/identifier_lexer.log
			echo "identifier_lexer: FOUND (log: fuzz/build/logs/identifier_lexer.log)"
		fi
		;;
esac

case " $targets " in
	*" query_check "*)
		echo
		echo "== the query option's lexer against the GoogleSQL lexer (test_query_check_lexer.py)"
		if (cd .. && python3 -m unittest fuzz/test_query_check_lexer.py) >build/logs/query_check_lexer.log 2>&1; then
			tail -3 build/logs/query_check_lexer.log | head -1
			echo "query_check_lexer: nothing found"
		else
			found=1
			cat build/logs/query_check_lexer.log
			echo "query_check_lexer: FOUND (log: fuzz/build/logs/query_check_lexer.log)"
		fi
		;;
esac

echo
if [ "$found" = 0 ]; then
	echo "fuzz: nothing found"
else
	echo "fuzz: FOUND something (see above); reproduce with: fuzz/build/fuzz_TARGET fuzz/build/artifacts/TARGET/FILE"
fi
exit "$found"
