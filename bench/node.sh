#!/bin/bash
# The TypeScript adapters' benchmark (clients/node/bench/bench.mjs) on a throwaway
# cluster with a production server's durability, after installing the
# TypeScript package's pinned dependencies if they are not there yet.
#   bench/node.sh [portable]: portable adds the adapter on the portable edition
#   (a third side; target 5x ADK's service) and skips the retry layer's part;
#   saved as bench/results/node-portable.txt
set -euo pipefail
cd "$(dirname "$0")/.."
. test/env.sh
(cd clients/node &&
 { [ -d node_modules/@google/adk ] || npm ci --no-audit --no-fund --loglevel=error; } &&
 npm run -s build)
mkdir -p bench/results
out=bench/results/node.txt
if [ "${1:-}" = portable ]; then
	out=bench/results/node-portable.txt
	export SS_PORTABLE_SQL=$PWD/portable/session_store.sql BENCH_TARGET=5
	export BENCH_RETRY_ROUNDS=${BENCH_RETRY_ROUNDS:-0}
fi
pg_virtualenv -t -v "$PG_MAJOR" -i "--encoding=UTF8 --locale=C.UTF-8" \
	-o max_connections=200 -o shared_buffers=512MB -o fsync=on -o synchronous_commit=on \
	node clients/node/bench/bench.mjs | tee "$out"
