#!/bin/bash
# The demo, on a throwaway cluster: replayed failures, then example calls,
# then the TypeScript side by side (ADK-JS's own session service against
# session_store's), after installing the TypeScript package's pinned
# dependencies if they are not there yet.
set -euo pipefail
cd "$(dirname "$0")/.."
PG_MAJOR="${PG_MAJOR:-15}"
exec pg_virtualenv -t -v "$PG_MAJOR" -i "--encoding=UTF8 --locale=C.UTF-8" \
	-o max_connections=200 -o track_commit_timestamp=on \
	bash -c '/usr/bin/python3 demo/demo.py &&
	         echo "Example calls (psql):" &&
	         psql -X -q -v VERBOSITY=default -d session_store_demo -f demo/examples.sql &&
	         (cd clients/node &&
	          { [ -d node_modules/@google/adk ] || npm ci --no-audit --no-fund --loglevel=error; } &&
	          npm run -s build) &&
	         node demo/node_compare.mjs'
