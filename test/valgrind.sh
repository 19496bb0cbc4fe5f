#!/bin/bash
# Run the pg_regress suite against a server running under valgrind memcheck.
# Every backend is traced; any memcheck error fails the run.  Slow (minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
. test/env.sh
PORT="${VALGRIND_PORT:-54329}"

make_work_dir session_store_valgrind
work=$WORK
run=("${AS_USER[@]}")
cleanup() {
	"${run[@]}" "$PG_BIN/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
	[ "${KEEP_VALGRIND_LOGS:-0}" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT

"${run[@]}" "$PG_BIN/initdb" -D "$work/data" -A trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null
cp test/valgrind.supp "$work/valgrind.supp"
chmod a+r "$work/valgrind.supp"
# -c options keep the valgrind run small and quick to start
"${run[@]}" bash -c "cd '$work' && exec valgrind --quiet --trace-children=yes \
	--suppressions=$work/valgrind.supp --error-limit=no --num-callers=30 \
	--leak-check=no --gen-suppressions=all --log-file=$work/vg.%p.log \
	$PG_BIN/postgres -D $work/data -p $PORT -k $work -c listen_addresses='' \
	-c shared_buffers=32MB -c max_connections=20 -c fsync=off \
	-c autovacuum=off -c max_parallel_workers_per_gather=0" \
	> "$work/server.log" 2>&1 &

for _ in $(seq 1 240); do
	"$PG_BIN/pg_isready" -q -h "$work" -p "$PORT" && break
	sleep 1
done
"$PG_BIN/pg_isready" -h "$work" -p "$PORT"

rc=0
# the listing tests' big app at 10,000 sessions, not 100,000: memcheck of the
# same code, minutes less (test/psql-launcher.sh)
PGHOST="$work" PGPORT="$PORT" PGUSER=postgres SS_REGRESS_BIG_APP=10000 \
	make -s installcheck ISOLATION= || {
	cat regression.diffs 2>/dev/null | head -100; rc=1; }

"${run[@]}" "$PG_BIN/pg_ctl" -D "$work/data" -m fast stop >/dev/null || true
sleep 2
errors=$(grep -l "^==[0-9]*== [A-Z]" "$work"/vg.*.log 2>/dev/null || true)
if [ -n "$errors" ]; then
	echo "valgrind reported errors:"
	for f in $errors; do echo "--- $f"; cat "$f"; done | head -300
	rc=1
else
	echo "valgrind: no memcheck errors in $(ls "$work"/vg.*.log | wc -l) traced processes"
fi
exit $rc
