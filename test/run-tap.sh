#!/bin/bash
# Run the Perl TAP tests (test/t/*.pl) with PostgreSQL::Test::Cluster.
# initdb refuses to run as root, so as root the tests run as "postgres"
# from a private copy of test/t.
set -euo pipefail
cd "$(dirname "$0")/.."
PG_MAJOR="${PG_MAJOR:-15}"
PG_BIN="/usr/lib/postgresql/$PG_MAJOR/bin"
PERL_LIB="/usr/lib/postgresql/$PG_MAJOR/lib/pgxs/src/test/perl"

shopt -s nullglob
tests=(test/t/*.pl)
if [ ${#tests[@]} -eq 0 ]; then
	echo "no TAP tests"
	exit 0
fi

work=$(mktemp -d /tmp/session_store_tap.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp -r test/t "$work/t"
run=()
if [ "$(id -u)" -eq 0 ]; then
	chown -R postgres: "$work"
	run=(runuser -u postgres --)
fi
cd "$work"
"${run[@]}" env PATH="$PG_BIN:$PATH" TESTDIR="$work" PG_REGRESS=/bin/false \
	prove -I "$PERL_LIB" -I t t/*.pl || {
	for f in tmp_check/log/*; do echo "--- $f"; tail -50 "$f"; done
	exit 1
}
