#!/bin/bash
# The Python adapters' benchmark (bench/python_bench.py) on a throwaway
# cluster with production durability (fsync and synchronous_commit on);
# the table is printed and saved as bench/results/python.txt.
#
#   BENCH_ROUNDS=3 BENCH_SECONDS=5 bench/python_run.sh [python_bench.py options]
#   bench/python_run.sh portable [options]: the adapters on the C and the
#     portable edition against the frameworks' stores (target: 5x theirs),
#     without the retry-cost part; saved as bench/results/python-portable.txt
set -euo pipefail
cd "$(dirname "$0")/.."
. test/env.sh
py=$(bash clients/python/venv.sh)
mkdir -p bench/results
out=bench/results/python.txt
if [ "${1:-}" = portable ]; then
	shift
	out=bench/results/python-portable.txt
	set -- --editions c,portable --portable portable/session_store.sql --no-retry-cost --target 5 "$@"
fi
pg_virtualenv -t -v "$PG_MAJOR" -i "--encoding=UTF8 --locale=C.UTF-8" \
	-o max_connections=200 -o shared_buffers=512MB -o max_wal_size=8GB \
	-o fsync=on -o synchronous_commit=on -o log_min_messages=fatal \
	"$py" bench/python_bench.py --out "$out" "$@"
