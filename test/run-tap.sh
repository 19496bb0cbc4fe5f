#!/bin/bash
# Run the Perl TAP tests (test/t/*.pl) with PostgreSQL::Test::Cluster.
# initdb refuses to run as root, so as root the tests run as "postgres"
# from a private copy of test/t.
set -euo pipefail
cd "$(dirname "$0")/.."
. test/env.sh

shopt -s nullglob
tests=(test/t/*.pl)
if [ ${#tests[@]} -eq 0 ]; then
	echo "no TAP tests"
	exit 0
fi

make_work_dir session_store_tap
work=$WORK
trap 'rm -rf "$work"' EXIT
cp -r test/t "$work/t"
[ ${#AS_USER[@]} -gt 0 ] && chown -R postgres: "$work"
cd "$work"
"${AS_USER[@]}" env PATH="$PG_BIN:$PATH" TESTDIR="$work" PG_REGRESS="$PGXS_DIR/src/test/regress/pg_regress" \
	prove -I "$PGXS_DIR/src/test/perl" -I t t/*.pl || {
	for f in tmp_check/log/*; do echo "--- $f"; tail -50 "$f"; done
	exit 1
}
