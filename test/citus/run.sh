#!/bin/bash
# make test-citus: session_store on a Citus cluster made here, on loopback:
# a coordinator and two workers, every one with
# shared_preload_libraries = 'citus,session_store'; then the regression
# tests and isolation specs that apply, on a distributed installation, and
# test/citus/citus_test.py.
#
# Citus must already be installed for this PostgreSQL (citus.so beside
# session_store.so, citus.control beside session_store.control); this
# script neither builds nor fetches it, and fails when it is missing.
# PG_CONFIG, when set, names that PostgreSQL (test/env.sh).
#
# Only the servers run as the unprivileged user (initdb and postgres refuse
# root); the clients (pg_regress, isolationtester, the Python test) run as
# the caller and read the checkout as the caller.  To keep it so, they read
# a copy of the test inputs in a directory only the caller can enter: as
# root, every run is a run from a checkout the server's user cannot read.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/env.sh

pkglib=$("$PG_BIN/pg_config" --pkglibdir)
sharedir=$("$PG_BIN/pg_config" --sharedir)
if [ ! -f "$pkglib/citus.so" ] || [ ! -f "$sharedir/extension/citus.control" ]; then
	echo "test-citus: Citus is not installed for PostgreSQL $PG_MAJOR" >&2
	echo "  (no $pkglib/citus.so or $sharedir/extension/citus.control)." >&2
	echo "  Install Citus for this server first; this test does not build it." >&2
	exit 1
fi
if [ ! -f "$pkglib/session_store.so" ]; then
	echo "test-citus: session_store is not installed (run make install)" >&2
	exit 1
fi
echo "# Citus $(sed -n "s/^default_version = '\(.*\)'/\1/p" "$sharedir/extension/citus.control") on PostgreSQL $("$PG_BIN/postgres" -V | awk '{print $3}')"

make_work_dir session_store_citus
work=$WORK
src=$(mktemp -d /tmp/session_store_citus_src.XXXXXX)	# mode 0700, the caller's
mkdir -p "$src/test"
cp -r sql expected "$src/"
cp -r test/specs test/expected test/citus test/lib "$src/test/"
# the servers' commands, as their user, from a directory that user can read
as() { (cd "$work" && "${AS_USER[@]}" "$@"); }
stop_all() {
	for n in coord w1 w2; do
		[ -f "$work/$n/postmaster.pid" ] && as "$PG_BIN/pg_ctl" -D "$work/$n" -m immediate stop >/dev/null 2>&1 || true
	done
	rm -rf "$work" "$src"
}
trap stop_all EXIT

free_port() {
	"$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

declare -A port
for n in coord w1 w2; do
	as "$PG_BIN/initdb" -D "$work/$n" -U postgres --auth=trust \
		--encoding=UTF8 --locale=C.UTF-8 >/dev/null
	port[$n]=$(free_port)
	cat >> "$work/$n/postgresql.conf" <<CONF
port = ${port[$n]}
listen_addresses = '127.0.0.1'
unix_socket_directories = '$work'
shared_preload_libraries = 'citus,session_store'
max_connections = 300
max_prepared_transactions = 300
max_locks_per_transaction = 256
wal_level = logical
max_wal_senders = 20
max_replication_slots = 20
citus.shard_replication_factor = 1
CONF
	as "$PG_BIN/pg_ctl" -D "$work/$n" -l "$work/$n.log" -w start >/dev/null
done

export PGHOST=$work PGUSER=postgres PGDATABASE=postgres
export CITUS_COORD_PORT=${port[coord]} CITUS_W1_PORT=${port[w1]} CITUS_W2_PORT=${port[w2]}
psql_at() { PGPORT=$1 "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 "${@:2}"; }
for n in coord w1 w2; do
	psql_at "${port[$n]}" -c 'CREATE EXTENSION citus'
done
psql_at "${port[coord]}" \
	-c "SELECT pg_catalog.citus_set_coordinator_host('127.0.0.1', ${port[coord]})" \
	-c "SELECT pg_catalog.citus_add_node('127.0.0.1', ${port[w1]})" \
	-c "SELECT pg_catalog.citus_add_node('127.0.0.1', ${port[w2]})" >/dev/null

status=0

# The regression tests that apply, on a distributed installation, against
# the single-node expected output, unchanged.  The others measure buffers
# of local plans, write the tables around the API (with functions Citus
# refuses there), change the tables' definitions, or reconnect to the
# regression database.
regress_tests=(setup create_session append_messages get_messages state errors
	trim fork keep_nulls verify_replay count_sessions)
psql_at "${port[coord]}" -c 'CREATE EXTENSION session_store' \
	-c 'SELECT session_store.distribute(4)' >/dev/null
mkdir -p "$work/regress"
if (cd "$src" && "$PGXS_DIR/src/test/regress/pg_regress" --use-existing \
	--bindir="$PG_BIN" --dbname=postgres --host="$work" --port="${port[coord]}" \
	--user=postgres --inputdir="$src" --outputdir="$work/regress" \
	"${regress_tests[@]}"); then
	echo "ok   regress (distributed): ${regress_tests[*]}"
else
	echo "FAIL regress (distributed)"
	head -100 "$work/regress/regression.diffs" || true
	status=1
fi
psql_at "${port[coord]}" -c 'DROP EXTENSION session_store' -c 'DROP SCHEMA test CASCADE' >/dev/null

# The isolation specs, on a distributed installation: each spec's setup
# distributes the extension right after creating it, and the output must be
# the single-node expected output, unchanged.  isolationtester asks
# pg_isolation_test_session_is_blocked whether a step waits; a call waiting
# on a row lock of a worker shows only in Citus's distributed lock graph, so
# in this throwaway cluster that function asks Citus's own version.  The
# expiry spec's blocker step locks a message with a query the test writes
# itself; it names the user, so Citus can route it.
psql_at "${port[coord]}" \
	-c "ALTER FUNCTION pg_catalog.pg_isolation_test_session_is_blocked(integer, integer[]) RENAME TO old_pg_isolation_test_session_is_blocked" \
	-c "CREATE FUNCTION pg_catalog.pg_isolation_test_session_is_blocked(integer, integer[]) RETURNS boolean
	    LANGUAGE sql AS 'SELECT pg_catalog.citus_isolation_test_session_is_blocked(\$1, \$2)'" >/dev/null
mkdir -p "$work/iso"
iso_failed=()
for spec in ${CITUS_SPECS-$src/test/specs/*.spec}; do
	name=$(basename "$spec" .spec)
	route="s/WHERE s.session_id = 'oldest' FOR UPDATE OF m/WHERE s.session_id = 'oldest' AND s.user_id = 'u' AND m.user_id = 'u' FOR UPDATE OF m/"
	sed -e 's/^\(\s*\)CREATE EXTENSION session_store;/\1CREATE EXTENSION session_store;\n\1DO $d$BEGIN PERFORM session_store.distribute(2); END$d$;/' \
	    -e "$route" "$spec" > "$work/iso/$name.spec"
	sed -e "$route" "$src/test/expected/$name.out" > "$work/iso/$name.expected"
	grep -q 'session_store.distribute' "$work/iso/$name.spec" || { echo "not ok - $name: no setup to distribute"; iso_failed+=("$name"); continue; }
	PGISOLATIONTIMEOUT=60 "$PGXS_DIR/src/test/isolation/isolationtester" \
		"host=$work port=${port[coord]} dbname=postgres user=postgres" \
		< "$work/iso/$name.spec" > "$work/iso/$name.raw" 2>&1 || true
	# Citus's distributed deadlock detector words the same 40P01 its own way
	sed -e 's/canceling the transaction since it was involved in a distributed deadlock/deadlock detected/' \
		"$work/iso/$name.raw" > "$work/iso/$name.out"
	# test/citus/expected/: the other outcome a spec allows, where Citus
	# may pick it (the deadlock victim: the worker's own detector or
	# Citus's distributed one may end either transaction)
	if diff -u "$work/iso/$name.expected" "$work/iso/$name.out" > "$work/iso/$name.diff" ||
		{ [ -f "$src/test/citus/expected/$name.out" ] &&
		  diff -u "$src/test/citus/expected/$name.out" "$work/iso/$name.out" >> "$work/iso/$name.diff"; }; then
		echo "ok   isolation $name (distributed)"
	else
		echo "FAIL isolation $name (distributed)"
		head -40 "$work/iso/$name.diff" || true
		echo "--- output:"; tail -15 "$work/iso/$name.out" || true
		iso_failed+=("$name")
	fi
done
[ ${#iso_failed[@]} -eq 0 ] || status=1

PGPORT="$CITUS_COORD_PORT" "$PYTHON" "$src/test/citus/citus_test.py" || status=1
if [ $status -ne 0 ]; then
	for n in coord w1 w2; do echo "--- $n.log"; tail -30 "$work/$n.log"; done
	echo "test-citus: FAILED${iso_failed[*]:+ (isolation: ${iso_failed[*]})}"
	exit $status
fi
echo "test-citus: ok"
