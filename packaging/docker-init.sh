#!/bin/bash
# The container image's first start (run by the postgres image's
# entrypoint from /docker-entrypoint-initdb.d, on the new cluster's
# temporary server): the smoke test of the installed package, the one
# test/packages/debian.sh runs (rolled back, it leaves nothing), then the
# extension in $POSTGRES_DB.
set -euo pipefail
export PGUSER=${POSTGRES_USER:-postgres}
export PGDATABASE=${POSTGRES_DB:-$PGUSER}
bash /opt/session_store/packaging/smoke.sh
psql -X -q -v ON_ERROR_STOP=1 -c 'CREATE EXTENSION IF NOT EXISTS session_store'
echo "session_store: extension created in database $PGDATABASE"
