#!/bin/bash
# The demo, on a throwaway cluster: the Python frameworks' own stores side
# by side with the session_store adapters, then the replayed failures and
# example calls.
set -euo pipefail
cd "$(dirname "$0")/.."
PG_MAJOR="${PG_MAJOR:-15}"
# the virtual environment with the pinned frameworks (made once, reused)
PY_VENV=$(bash clients/python/venv.sh)
export PY_VENV
exec pg_virtualenv -t -v "$PG_MAJOR" -i "--encoding=UTF8 --locale=C.UTF-8" \
	-o max_connections=200 \
	bash -c '"$PY_VENV" demo/python_compare.py && echo &&
	         /usr/bin/python3 demo/demo.py &&
	         echo "Example calls (psql):" &&
	         psql -X -q -v VERBOSITY=default -d session_store_demo -f demo/examples.sql'
