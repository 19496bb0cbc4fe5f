#!/bin/bash
# The Python adapters' benchmark (bench/python_bench.py) on a throwaway
# cluster with production durability (fsync and synchronous_commit on);
# the table is printed and saved as bench/results/python.txt.
#
#   BENCH_ROUNDS=3 BENCH_SECONDS=5 bench/python_run.sh [python_bench.py options]
set -euo pipefail
cd "$(dirname "$0")/.."
. test/env.sh
py=$(bash clients/python/venv.sh)
mkdir -p bench/results
pg_virtualenv -t -v "$PG_MAJOR" -i "--encoding=UTF8 --locale=C.UTF-8" \
	-o max_connections=200 -o shared_buffers=512MB -o max_wal_size=8GB \
	-o fsync=on -o synchronous_commit=on -o log_min_messages=fatal \
	"$py" bench/python_bench.py --out bench/results/python.txt "$@"
