#!/bin/bash
# The cost of taking a lock before the work, on a hot session, CPU-bound.
#
# The hot-session floor (bench.py) lets PostgreSQL's row lock order the
# writers: UPDATE waits for the row only when it reaches it.  Every design
# that numbers messages gap-free must instead take a lock before it reads
# the session (session_store takes an advisory lock; a careful hand-written
# version does the same or SELECT ... FOR UPDATE).  This runs the floor's
# statements alone, behind an advisory lock, and behind SELECT ... FOR UPDATE,
# 16 clients, fsync off, alternating rounds, and prints each one's ratio to
# the floor: the ceiling any lock-first design can reach on this machine.
#
#   bench/lock_ceiling.sh [rounds] [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
. test/env.sh
rounds=${1:-3}
seconds=${2:-8}
export rounds seconds
run() {
	set -euo pipefail
	dir=$(mktemp -d)
	psql -qX -v ON_ERROR_STOP=1 -c "
		CREATE TABLE hot_counter (id int PRIMARY KEY, n bigint NOT NULL);
		INSERT INTO hot_counter VALUES (1, 0);
		CREATE TABLE floor_messages (user_id text COLLATE \"C\", sid bigint, seq bigint,
			message jsonb, create_time timestamptz, PRIMARY KEY (user_id, sid, seq));"
	work='WITH c AS (UPDATE hot_counter SET n = n + 1 WHERE id = 1 RETURNING n) INSERT INTO floor_messages SELECT '"'hot'"', 0, n, '"'{\"role\": \"user\"}'"', now() FROM c;'
	echo "$work" > "$dir/floor.sql"
	echo "SELECT pg_advisory_xact_lock(42) \\; $work" > "$dir/advisory.sql"
	echo "SELECT FROM hot_counter WHERE id = 1 FOR UPDATE \\; $work" > "$dir/for_update.sql"
	for r in $(seq "$rounds"); do
		for v in floor advisory for_update; do
			tps=$(pgbench -n -M simple -c 16 -j 4 -T "$seconds" -f "$dir/$v.sql" | sed -n 's/^tps = \([0-9.]*\).*/\1/p')
			echo "$v $tps" >> "$dir/results"
			echo "  round $r: $v $tps tps"
		done
	done
	"$PYTHON" - "$dir/results" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    v, tps = line.split()
    rows.setdefault(v, []).append(float(tps))
base = statistics.median(rows["floor"])
print(f"\n  {'variant':<40}{'tps (median)':>14}{'vs floor':>10}")
for v, name in (("floor", "floor: counter row + INSERT"),
                ("advisory", "the same behind pg_advisory_xact_lock"),
                ("for_update", "the same behind SELECT ... FOR UPDATE")):
    m = statistics.median(rows[v])
    print(f"  {name:<40}{m:>14,.0f}{m / base:>9.2f}x")
PY
	rm -rf "$dir"
}
export -f run
pg_virtualenv -t -v "$PG_MAJOR" -o fsync=off bash -c run
