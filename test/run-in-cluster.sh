#!/bin/bash
# Run test suites inside a pg_virtualenv cluster (PGHOST, PGPORT, PGUSER ...
# are set by pg_virtualenv).  Called by test/run.sh; writes "suite ok|failed"
# lines to the report file given as first argument.
set -uo pipefail
report=$1; shift
cd "$(dirname "$0")/.."

regress() {
	make -s installcheck ISOLATION= || { cat regression.diffs 2>/dev/null | head -200; return 1; }
}

isolation() {
	export PGISOLATIONTIMEOUT=${PGISOLATIONTIMEOUT:-60}
	make -s installcheck REGRESS= || { cat output_iso/regression.diffs 2>/dev/null | head -200; return 1; }
}

pgtap() {
	local db=session_store_pgtap
	dropdb --if-exists "$db" && createdb "$db" &&
	psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c 'CREATE EXTENSION pgtap' &&
	pg_prove --failures -d "$db" test/pgtap/*.sql
}

upgrade() {
	bash test/upgrade.sh
}

stress() {
	local rc=0 t
	for t in test/stress/*.py; do
		echo "--- $t"
		"$PYTHON" "$t" || rc=1
	done
	return $rc
}

# How the fault tests restart this suite's server (pg_virtualenv's cluster
# is named regress); a private cluster sets its own command.
export SS_RESTART_CMD=${SS_RESTART_CMD:-"pg_ctlcluster ${PG_MAJOR:-15} regress restart -m fast"}

python() {
	# the venv is made (or reused) before pytest runs; pytest's status is the suite's
	bash clients/python/run-tests.sh
}

# The TypeScript package: its pinned dependencies (npm ci, which also builds
# it through its prepare script), then its tests with node's test runner.
node() {
	(cd clients/node && npm ci --no-audit --no-fund --loglevel=error && npm test)
}

for suite in "$@"; do
	echo
	echo "=== $suite ==="
	if "$suite"; then
		echo "=== $suite: ok"; echo "$suite ok" >> "$report"
	else
		echo "=== $suite: FAILED"; echo "$suite failed" >> "$report"
	fi
done
