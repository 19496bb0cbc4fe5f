#!/bin/bash
# The demo, on a throwaway cluster: replayed failures, then example calls.
set -euo pipefail
cd "$(dirname "$0")/.."
PG_MAJOR="${PG_MAJOR:-15}"
exec pg_virtualenv -t -v "$PG_MAJOR" -i "--encoding=UTF8 --locale=C.UTF-8" \
	-o max_connections=200 \
	bash -c '/usr/bin/python3 demo/demo.py &&
	         echo "Example calls (psql):" &&
	         psql -X -q -v VERBOSITY=default -d session_store_demo -f demo/examples.sql'
