#!/bin/bash
# Run test suites inside a pg_virtualenv cluster (PGHOST, PGPORT, PGUSER ...
# are set by pg_virtualenv).  Called by test/run.sh; writes "suite ok|failed"
# lines to the report file given as first argument.
#
# Each suite but upgrade runs once per edition: "regress" on the C
# extension (CREATE EXTENSION), "regress-portable" on the portable edition
# (portable/session_store.sql), and so on; see "The portable edition" below.
set -uo pipefail
report=$1; shift
cd "$(dirname "$0")/.."
. test/env.sh

regress() {
	make -s installcheck ISOLATION= || { cat regression.diffs 2>/dev/null | head -200; return 1; }
}

isolation() {
	export PGISOLATIONTIMEOUT=${PGISOLATIONTIMEOUT:-60}
	make -s installcheck REGRESS= || { cat output_iso/regression.diffs 2>/dev/null | head -200; return 1; }
}

# The pgTAP files install the edition themselves, inside their transaction
# (test/pgtap/install.psql, after SS_EDITION).
pgtap() {
	local db=session_store_pgtap
	dropdb --if-exists "$db" && createdb "$db" &&
	psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c 'CREATE EXTENSION pgtap' &&
	SS_EDITION=${SS_EDITION:-c} pg_prove --failures -d "$db" test/pgtap/*.sql
}

upgrade() {
	bash test/upgrade.sh
}

# test/lib/sslib.py installs the edition named by SS_EDITION.
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

###############################################################################
# The portable edition
#
# The same suites, from the same expected files, on the portable edition:
#   regress-portable, isolation-portable: pg_regress and pg_isolation_regress
#     with --use-existing on a database made here, against a copy of the
#     expected directories patched by test/portable/expected.diff (the lines
#     that must differ, each with its reason; patch --fuzz=0, so a stale
#     hunk fails the suite).  sql/ is the same directory (a symlink); the
#     isolation specs install the extension in their setup and drop it in
#     their teardown, so their copies call portable_test.install() (the
#     portable script run by EXECUTE) and DROP SCHEMA session_store instead.
#   pgtap-portable, stress-portable, python-portable, node-portable: the
#     same commands with SS_EDITION=portable, which the pgTAP files, the
#     stress library and the clients' test fixtures read.
# portable/session_store.sql must be what portable/build.sh makes of
# portable/src (checked first: a stale file fails every portable suite).
###############################################################################

# Regression tests that are C-only by nature, left out of regress-portable:
#   extension_owner  CREATE/ALTER EXTENSION, pg_extension's binding of the
#                    schema: the portable edition is no extension
#   distribute       Citus distribution (distribute(), delegate_functions())
#                    of the C extension's tables and functions
PORTABLE_REGRESS_EXCLUDE="extension_owner distribute"
# Isolation specs left out of isolation-portable: none.
PORTABLE_ISOLATION_EXCLUDE=""

# PORTABLE_KEEP=1 keeps the run's files (the patched expected files in
# in/, the outputs in out-regress/ and out-isolation/) and says where.
PORTABLE_DIR=$(mktemp -d /tmp/ss-portable.XXXXXX)
PORTABLE_READY=
if [ -n "${PORTABLE_KEEP:-}" ]; then
	trap 'echo "the portable runs'"'"' files: $PORTABLE_DIR"' EXIT
else
	trap 'rm -rf "$PORTABLE_DIR"' EXIT
fi

# Once per run: check the committed script, make its variant without
# BEGIN/COMMIT, and the patched copy of the expected files.  Every
# portable suite fails when this does.
portable_prepare() {
	case $PORTABLE_READY in
		ok) return 0 ;;
		failed) echo "the portable edition's test files could not be prepared (see above)" >&2; return 1 ;;
	esac
	PORTABLE_READY=failed
	portable_files || return 1
	PORTABLE_READY=ok
}

portable_files() {
	bash portable/build.sh --check || return 1
	local in=$PORTABLE_DIR/in f n
	bash portable/build.sh --no-transaction "$PORTABLE_DIR/session_store-notx.sql" || return 1
	# expected/ and test/expected/ as patched (every hunk with its reason)
	bash test/portable/expected-diff.sh check &&
	bash test/portable/expected-diff.sh patched "$in" || {
		echo "test/portable/expected.diff does not apply to expected/ and test/expected/: update it" >&2
		return 1
	}
	mkdir -p "$in/test/specs" &&
	ln -s "$PWD/sql" "$in/sql" || return 1
	for f in test/specs/*.spec; do
		n=$(grep -c -x -E '[[:space:]]*(CREATE|DROP) EXTENSION session_store;' "$f")
		if [ "$n" -ne 2 ]; then
			echo "$f: expected one CREATE EXTENSION session_store; (setup) and one DROP EXTENSION session_store; (teardown)" >&2
			return 1
		fi
		sed -E -e 's/^([[:space:]]*)CREATE EXTENSION session_store;$/\1CALL portable_test.install();/' \
			-e 's/^([[:space:]]*)DROP EXTENSION session_store;$/\1CALL portable_test.uninstall();/' \
			"$f" > "$in/$f" || return 1
	done
}

# without "$@": the test names of make variable $1, less those in $2
portable_tests() {
	local t
	for t in $(make -s --no-print-directory print-"$1"); do
		case " $2 " in *" $t "*) ;; *) printf '%s ' "$t" ;; esac
	done
}

# A database as pg_regress makes one (it sets these when it creates it,
# not with --use-existing).
portable_db() {
	dropdb --if-exists "$1" && createdb -T template0 "$1" &&
	psql -X -q -v ON_ERROR_STOP=1 -d "$1" -c "
		ALTER DATABASE \"$1\" SET lc_messages TO 'C';
		ALTER DATABASE \"$1\" SET lc_monetary TO 'C';
		ALTER DATABASE \"$1\" SET lc_numeric TO 'C';
		ALTER DATABASE \"$1\" SET lc_time TO 'C';
		ALTER DATABASE \"$1\" SET bytea_output TO 'hex';
		ALTER DATABASE \"$1\" SET timezone_abbreviations TO 'Default';"
}

regress-portable() {
	portable_prepare || return 1
	local db=contrib_regression_portable out=$PORTABLE_DIR/out-regress
	portable_db "$db" &&
	psql -X -q -v ON_ERROR_STOP=1 -d "$db" -f portable/session_store.sql &&
	"$PGXS_DIR/src/test/regress/pg_regress" --use-existing --dbname="$db" \
		--launcher="$PWD/test/psql-launcher.sh" \
		--bindir="$PG_BIN" --inputdir="$PORTABLE_DIR/in" --outputdir="$out" \
		$(portable_tests REGRESS "$PORTABLE_REGRESS_EXCLUDE") ||
		{ head -200 "$out/regression.diffs" 2>/dev/null; return 1; }
}

# Each spec's setup installs the edition and its teardown removes it, as
# CREATE and DROP EXTENSION do for the C edition: portable_test.install()
# runs the script (without BEGIN/COMMIT) with EXECUTE.
isolation-portable() {
	portable_prepare || return 1
	local db=isolation_regression_portable out=$PORTABLE_DIR/out-isolation
	export PGISOLATIONTIMEOUT=${PGISOLATIONTIMEOUT:-60}
	portable_db "$db" &&
	psql -X -q -v ON_ERROR_STOP=1 -d "$db" \
		-v script_file="$PORTABLE_DIR/session_store-notx.sql" <<'SQL' &&
\set script `cat :'script_file'`
CREATE SCHEMA portable_test;
CREATE TABLE portable_test.script (body text NOT NULL);
INSERT INTO portable_test.script VALUES (:'script');
CREATE PROCEDURE portable_test.install() LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_catalog.set_config('client_min_messages', 'warning', true);
    EXECUTE (SELECT body FROM portable_test.script);
END
$$;
CREATE PROCEDURE portable_test.uninstall() LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_catalog.set_config('client_min_messages', 'warning', true);
    DROP SCHEMA session_store CASCADE;
END
$$;
SQL
	"$PGXS_DIR/src/test/isolation/pg_isolation_regress" --use-existing --dbname="$db" \
		--bindir="$PG_BIN" --inputdir="$PORTABLE_DIR/in/test" --outputdir="$out" \
		$(portable_tests ISOLATION "$PORTABLE_ISOLATION_EXCLUDE") ||
		{ head -200 "$out/regression.diffs" 2>/dev/null; return 1; }
}

pgtap-portable() {
	portable_prepare || return 1
	SS_EDITION=portable SS_PORTABLE_SCRIPT=$PORTABLE_DIR/session_store-notx.sql pgtap
}

stress-portable() {
	portable_prepare || return 1
	SS_EDITION=portable stress
}

python-portable() {
	portable_prepare || return 1
	# the embedded-server step installs the portable edition itself: once, in the python suite
	SS_EDITION=portable SS_PY_EMBEDDED=skip python
}

# The portable edition's installer (no superuser, foreign or non-empty
# schema, twice, over and under the C edition, eight installers at once,
# what a granted role can do) and the move of a filled database to the C
# edition.
portable-install() {
	portable_prepare || return 1
	bash test/portable/install.sh && bash test/portable/to_c_edition.sh
}

node-portable() {
	portable_prepare || return 1
	SS_EDITION=portable node
}

for suite in "$@"; do
	echo
	echo "=== $suite ==="
	start=$SECONDS
	if "$suite"; then
		echo "=== $suite: ok ($((SECONDS - start)) s)"; echo "$suite ok" >> "$report"
	else
		echo "=== $suite: FAILED ($((SECONDS - start)) s)"; echo "$suite failed" >> "$report"
	fi
done
