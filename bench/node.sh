#!/bin/bash
# The TypeScript adapters' benchmark (clients/node/bench/bench.mjs) on a throwaway
# cluster with a production server's durability, after installing the
# TypeScript package's pinned dependencies if they are not there yet.
set -euo pipefail
cd "$(dirname "$0")/.."
. test/env.sh
(cd clients/node &&
 { [ -d node_modules/@google/adk ] || npm ci --no-audit --no-fund --loglevel=error; } &&
 npm run -s build)
mkdir -p bench/results
pg_virtualenv -t -v "$PG_MAJOR" -i "--encoding=UTF8 --locale=C.UTF-8" \
	-o max_connections=200 -o shared_buffers=512MB -o fsync=on -o synchronous_commit=on \
	node clients/node/bench/bench.mjs | tee bench/results/node.txt
