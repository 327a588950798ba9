#!/bin/bash
# Installs every Debian package that building bqstream, the demo and the
# tests need, when missing, plus the npm packages of the conformance tests.
# Idempotent: a second run installs nothing. Run as root (apt).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)

PACKAGES=(
	make gcc
	postgresql-15 postgresql-client-15 postgresql-server-dev-15
	libcurl4-openssl-dev libjansson-dev libssl-dev openssl ca-certificates
	libipc-run-perl		# PostgreSQL::Test::Cluster
	python3			# the emulator (its REST services: standard library only)
	python3-grpcio python3-protobuf	# the emulator's bigquerystorage service (gRPC)
	gnuplot-nox		# the demo's chart of orders per minute (PNG)
	clang libclang-rt-14-dev	# the libFuzzer targets under fuzz/ (ASan, UBSan)
	valgrind		# bench/memcheck.py: leaks of the workers and the FDW
	dpkg-dev debhelper postgresql-server-dev-all	# the package suite: the .deb, built with pg_buildext
	postgresql-15-postgis-3	# test/t/017_fdw_types.pl: GEOGRAPHY as PostGIS geometry
)

missing=()
for pkg in "${PACKAGES[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$pkg")
	fi
done
# Node.js may come from Debian or be preinstalled; only its absence matters.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	missing+=(nodejs npm)
fi

if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "install-deps: missing packages: ${missing[*]}; run this script as root" >&2
		exit 1
	fi
	echo "install-deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Google's own tools for the reference suites: the bq CLI and BigQuery's
# discovery document (google-cloud-cli) for bq-reference, the Pub/Sub
# emulator for pubsub-reference.  They are packages of Google's apt
# repository (the Google Cloud CLI's "cloud-sdk" suite), not of Debian's:
# installed where that repository is configured; elsewhere the suites say
# that they did not run, which counts as a failure.
google_missing=()
for pkg in google-cloud-cli google-cloud-cli-pubsub-emulator; do
	if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
		google_missing+=("$pkg")
	fi
done
if [ ${#google_missing[@]} -gt 0 ]; then
	if [ "$(id -u)" -eq 0 ] &&
		grep -qs -E '^[^#]*cloud-sdk' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
			/etc/apt/sources.list.d/*.sources; then
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq || true
	fi
	for pkg in "${google_missing[@]}"; do
		if apt-cache policy "$pkg" 2>/dev/null | grep -qE 'Candidate: [0-9]'; then
			if [ "$(id -u)" -ne 0 ]; then
				echo "install-deps: missing package: $pkg; run this script as root" >&2
				exit 1
			fi
			echo "install-deps: installing $pkg"
			apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null
		else
			echo "install-deps: $pkg is not available (Google's apt repository is not configured):" \
				"the reference suites that need it will not run" >&2
		fi
	done
fi

# The official Google clients used by the conformance tests, pinned by the lock file.
CONF="$ROOT/test/conformance"
if [ -f "$CONF/package-lock.json" ]; then
	stamp="$CONF/node_modules/.package-lock.json"
	if [ ! -f "$stamp" ] || [ "$CONF/package-lock.json" -nt "$stamp" ]; then
		echo "install-deps: npm ci in test/conformance"
		(cd "$CONF" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
	fi
fi
echo "install-deps: all dependencies present"
