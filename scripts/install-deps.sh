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
	python3			# the emulator (standard library only)
	gnuplot-nox		# the demo's chart of orders per minute (PNG)
	clang libclang-rt-14-dev	# the libFuzzer targets under fuzz/ (ASan, UBSan)
	valgrind		# bench/memcheck.py: leaks of the workers and the FDW
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

# Google's bq CLI and BigQuery's discovery document for the bq-reference suite
# (package google-cloud-cli), from Google's apt repository where it is
# configured; elsewhere that suite says it did not run (a failure).
if ! dpkg-query -W -f='${Status}' google-cloud-cli 2>/dev/null | grep -q "install ok installed"; then
	if [ "$(id -u)" -eq 0 ]; then
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq || true
		candidate=$(apt-cache policy google-cloud-cli 2>/dev/null | awk '/Candidate:/ { print $2 }')
		if [ -n "$candidate" ] && [ "$candidate" != "(none)" ]; then
			echo "install-deps: installing google-cloud-cli $candidate"
			apt-get install -y -qq --no-install-recommends google-cloud-cli >/dev/null
		else
			echo "install-deps: google-cloud-cli is not installed and Google's apt repository is not" \
				"configured: the bq-reference suite will not run" >&2
		fi
	else
		echo "install-deps: google-cloud-cli is missing (run this script as root to install it)" >&2
	fi
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
