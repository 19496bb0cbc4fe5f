#!/bin/bash
# The Python suite: client, ADK and OpenAI Agents adapters, end to end with
# the real frameworks, PgBouncer, side by side.  Needs a server with the
# extension installed, reached through the libpq environment (PGHOST,
# PGPORT, PGUSER, PGPASSWORD: pg_virtualenv sets them).
#
#   clients/python/run-tests.sh [pytest args]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
py=$(bash "$here/venv.sh")
cd "$here"
exec "$py" -m pytest -q -p no:cacheprovider "$@" tests
