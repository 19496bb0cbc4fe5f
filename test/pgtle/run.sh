#!/bin/bash
# make test-pgtle: the portable edition as the Trusted Language Extension
# session_store_portable (portable/pg_tle/session_store_portable.sql), on a
# cluster made here, on loopback, with shared_preload_libraries = 'pg_tle'.
#
# pg_tle must already be installed for this PostgreSQL (pg_tle.so beside
# session_store.so, pg_tle.control beside session_store.control); this
# script neither builds nor fetches it, and fails when it is missing.  The C
# edition must be installed too (make install): some checks install it.
# PG_CONFIG, when set, names that PostgreSQL (test/env.sh).
#
# In each database a superuser runs CREATE EXTENSION pg_tle; then a role
# that is no superuser, only a member of pgtle_admin with CREATE on the
# database, makes the extension available (the generated file) and creates
# it.  The checks:
#   - that role owns the extension and every object; the API is the C
#     edition's, signature for signature, result for result; every object
#     is a member of the extension;
#   - created twice, over the C edition, under it, over the script's
#     edition, over a schema another role owns: clean errors;
#   - pg_dump and restore keep the rows and the sid sequence;
#   - the regress suite and the isolation specs, as for the portable
#     edition (test/portable/expected.diff, the same exclusions), on it;
#   - test/portable/to_c_edition.sh --pgtle: the move to the C edition.
# Exits non-zero if any check fails.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/env.sh

pkglib=$("$PG_BIN/pg_config" --pkglibdir)
sharedir=$("$PG_BIN/pg_config" --sharedir)
if [ ! -f "$pkglib/pg_tle.so" ] || [ ! -f "$sharedir/extension/pg_tle.control" ]; then
	echo "test-pgtle: pg_tle is not installed for PostgreSQL $PG_MAJOR" >&2
	echo "  (no $pkglib/pg_tle.so or $sharedir/extension/pg_tle.control)." >&2
	echo "  Install pg_tle for this server first; this test does not build it." >&2
	exit 1
fi
if [ ! -f "$pkglib/session_store.so" ]; then
	echo "test-pgtle: session_store is not installed (run make install)" >&2
	exit 1
fi
bash portable/build.sh --check
echo "# pg_tle $(sed -n "s/^default_version = '\(.*\)'/\1/p" "$sharedir/extension/pg_tle.control") on PostgreSQL $("$PG_BIN/postgres" -V | awk '{print $3}')"

make_work_dir session_store_pgtle
work=$WORK
src=$(mktemp -d /tmp/session_store_pgtle_src.XXXXXX)
as() { (cd "$work" && "${AS_USER[@]}" "$@"); }
stop_all() {
	[ -f "$work/data/postmaster.pid" ] && as "$PG_BIN/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
	rm -rf "$work" "$src"
}
trap stop_all EXIT
port=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as "$PG_BIN/initdb" -D "$work/data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null
cat >> "$work/data/postgresql.conf" <<CONF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$work'
shared_preload_libraries = 'pg_tle'
max_connections = 200
max_locks_per_transaction = 256
track_commit_timestamp = on
CONF
as "$PG_BIN/pg_ctl" -D "$work/data" -l "$work/log" -w start >/dev/null
export PGHOST=$work PGPORT=$port PGUSER=postgres PGDATABASE=postgres PATH=$PG_BIN:$PATH

owner=ss_tle_owner
psql -X -q -v ON_ERROR_STOP=1 -c "CREATE ROLE $owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE; CREATE ROLE ss_tle_other LOGIN"

n=0; failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() {
	n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"
	[ -n "${2:-}" ] && printf '%s\n' "$2" | head -200 | sed 's/^/#   /'
	return 0
}
q() {	# q DB ROLE SQL
	PGUSER=$2 psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" -c "$3"
}
check() {	# check NAME DB ROLE SQL: each statement of SQL must return 't'
	local got
	got=$(q "$2" "$3" "$4" 2>&1) || true
	if [ -n "$got" ] && ! printf '%s\n' "$got" | grep -qvx t; then ok "$1"; else notok "$1" "got: $got"; fi
}
errors() {	# errors DB ROLE SQL: the ERROR lines (verbose) of running SQL
	PGUSER=$2 psql -X -q -v VERBOSITY=verbose -d "$1" -c "$3" 2>&1 | grep -o 'ERROR: .*' || true
}
expect() {	# expect NAME WANT GOT
	[ "$2" = "$3" ] && ok "$1" || notok "$1" "want: $2
got:  $3"
}

# A database as pg_regress makes one, pg_tle in it, the owner able to
# install; with "create", the extension made available and created.
prepare() {
	dropdb --if-exists "$1"
	createdb -T template0 "$1"
	psql -X -q -v ON_ERROR_STOP=1 -d "$1" -c "
		ALTER DATABASE \"$1\" SET lc_messages TO 'C';
		ALTER DATABASE \"$1\" SET lc_monetary TO 'C';
		ALTER DATABASE \"$1\" SET lc_numeric TO 'C';
		ALTER DATABASE \"$1\" SET lc_time TO 'C';
		ALTER DATABASE \"$1\" SET bytea_output TO 'hex';
		ALTER DATABASE \"$1\" SET timezone_abbreviations TO 'Default';
		SET client_min_messages = warning;
		CREATE EXTENSION pg_tle;
		GRANT pgtle_admin TO $owner;
		GRANT CREATE ON DATABASE \"$1\" TO $owner;"
	PGUSER=$owner psql -X -q -v ON_ERROR_STOP=1 -d "$1" \
		-f portable/pg_tle/session_store_portable.sql >/dev/null
	if [ "${2:-}" = create ]; then
		q "$1" $owner "CREATE EXTENSION session_store_portable"
	fi
}

# --- the installation -------------------------------------------------------
prepare ss_tle create
createdb ss_tle_c
q ss_tle_c postgres "CREATE EXTENSION session_store"
check "a member of pgtle_admin, no superuser, creates the extension; it owns every object" ss_tle postgres "
	SELECT (SELECT extowner = '$owner'::regrole FROM pg_extension WHERE extname = 'session_store_portable')
	   AND (SELECT nspowner = '$owner'::regrole FROM pg_namespace WHERE nspname = 'session_store')
	   AND NOT EXISTS (SELECT FROM pg_class WHERE relnamespace = 'session_store'::regnamespace AND relowner <> '$owner'::regrole)
	   AND NOT EXISTS (SELECT FROM pg_proc WHERE pronamespace = 'session_store'::regnamespace AND proowner <> '$owner'::regrole)
	   AND NOT (SELECT rolsuper FROM pg_roles WHERE rolname = '$owner')
	   AND (SELECT (edition, version) = ('portable', '1.2') FROM session_store.edition())"
api="SELECT string_agg(x, E'\n' ORDER BY x) FROM (
	 SELECT format('%s(%s) RETURNS %s %s', proname, pg_get_function_arguments(oid),
	               pg_get_function_result(oid), provolatile) AS x
	 FROM pg_proc WHERE pronamespace = 'session_store'::regnamespace AND proname !~ '^_') f"
c_api=$(q ss_tle_c postgres "$api")
tle_api=$(q ss_tle postgres "$api")
[ "$c_api" = "$tle_api" ] && ok "the API is the C edition's: $(printf '%s\n' "$c_api" | wc -l) functions, same arguments, defaults, results, volatility" ||
	notok "the API is the C edition's" "$(diff <(echo "$c_api") <(echo "$tle_api"))"
check "every object of the schema is a member of the extension; pg_dump dumps the tables' and the sequence's data" ss_tle postgres "
	WITH e AS (SELECT oid FROM pg_extension WHERE extname = 'session_store_portable'),
	     m AS (SELECT classid, objid FROM pg_depend, e WHERE refobjid = e.oid AND deptype = 'e')
	SELECT NOT EXISTS (SELECT FROM pg_class c WHERE c.relnamespace = 'session_store'::regnamespace
	                   AND c.relkind IN ('r', 'S') AND ('pg_class'::regclass, c.oid) NOT IN (SELECT * FROM m))
	   AND NOT EXISTS (SELECT FROM pg_proc p WHERE p.pronamespace = 'session_store'::regnamespace
	                   AND ('pg_proc'::regclass, p.oid) NOT IN (SELECT * FROM m))
	   AND ('pg_namespace'::regclass, 'session_store'::regnamespace::oid) IN (SELECT * FROM m)
	   AND (SELECT array_length(extconfig, 1) = 6 FROM pg_extension WHERE extname = 'session_store_portable')"

# --- clean refusals -----------------------------------------------------------
expect "created twice: 42710" 'ERROR:  42710: extension "session_store_portable" already exists' \
	"$(errors ss_tle $owner 'CREATE EXTENSION session_store_portable')"
expect "the script's edition over it: 42710, the guard's message" \
	'ERROR:  42710: session_store portable 1.2 is already installed in this database' \
	"$(PGUSER=$owner psql -X -q -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -d ss_tle -f portable/session_store.sql 2>&1 | grep -o 'ERROR: .*' || true)"
expect "the C edition over it: 42710" 'ERROR:  42710: the portable edition of session_store is installed in this database' \
	"$(errors ss_tle postgres 'CREATE EXTENSION session_store')"
q ss_tle_c postgres "SET client_min_messages = warning; CREATE EXTENSION pg_tle; GRANT pgtle_admin TO $owner; GRANT CREATE ON DATABASE ss_tle_c TO $owner"
PGUSER=$owner psql -X -q -v ON_ERROR_STOP=1 -d ss_tle_c -f portable/pg_tle/session_store_portable.sql >/dev/null
expect "it over the C edition: 42710" 'ERROR:  42710: the C edition of session_store is installed in this database' \
	"$(errors ss_tle_c $owner 'CREATE EXTENSION session_store_portable')"
prepare ss_tle_schema
q ss_tle_schema postgres "CREATE SCHEMA session_store AUTHORIZATION ss_tle_other"
expect "it over a schema session_store another role owns: 55000" \
	'ERROR:  55000: schema "session_store" already exists and is owned by role ss_tle_other, not by the installing role' \
	"$(errors ss_tle_schema $owner 'CREATE EXTENSION session_store_portable')"
check "... and nothing was created" ss_tle_schema postgres "
	SELECT NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'session_store_portable')
	   AND NOT EXISTS (SELECT FROM pg_class WHERE relnamespace = 'session_store'::regnamespace)"

# --- pg_dump and restore ------------------------------------------------------
fp="SELECT md5(string_agg(x, '|' ORDER BY x)) FROM (
	SELECT 's' || s::text FROM session_store.sessions s UNION ALL
	SELECT 'm' || m::text FROM session_store.messages m UNION ALL
	SELECT 'k' || k::text FROM session_store.idempotency_keys k UNION ALL
	SELECT 'u' || u::text FROM session_store.user_states u UNION ALL
	SELECT 'a' || a::text FROM session_store.app_states a UNION ALL
	SELECT 'q' || last_value FROM session_store.session_sid_seq) t(x)"
q ss_tle $owner "
	SELECT count(*) FROM generate_series(1, 5) i, LATERAL session_store.create_session('tle', 'u' || i, '{\"app:a\": 1, \"user:b\": 2}', 's');
	SELECT count(*) FROM generate_series(1, 5) i, LATERAL session_store.append_messages('tle', 'u' || i, 's', '[{\"m\": 1}, {\"m\": 2}]', NULL, NULL, 'k');
	SELECT session_store.delete_session('tle', 'u5', 's')" >/dev/null
before=$(q ss_tle postgres "$fp")
createdb ss_tle_restored
dump_out=$(pg_dump -Fc -d ss_tle -f "$work/ss_tle.dump" 2>&1 && pg_restore -d ss_tle_restored "$work/ss_tle.dump" 2>&1) ||
	notok "pg_dump and pg_restore" "$dump_out"
check "pg_dump and restore keep every row and the sid sequence" ss_tle_restored postgres "
	SELECT ($fp) = '$before' AND (SELECT count(*) = 4 FROM session_store.sessions)"
check "... and the restored database works: a key replays, a new session takes the next sid" ss_tle_restored postgres "
	SELECT replayed FROM session_store.append_messages('tle', 'u1', 's', '[{\"m\": 1}, {\"m\": 2}]', NULL, NULL, 'k');
	SELECT version = 0 FROM session_store.create_session('tle', 'u9', NULL, 's');
	SELECT sid = 6 FROM session_store.sessions WHERE user_id = 'u9'"

# --- the regress suite and the isolation specs --------------------------------
# the test lists of the Makefile, less the C-only ones (as for the portable
# edition: the CREATE/ALTER EXTENSION of the C edition, Citus)
exclude=" extension_owner distribute "
tests() {
	local t
	for t in $(make -s --no-print-directory -f Makefile -f <(printf 'print-pgtle-%%:\n\t@echo $($*)\n') print-pgtle-"$1"); do
		case "$exclude" in *" $t "*) ;; *) printf '%s ' "$t" ;; esac
	done
}
in=$src/in
mkdir -p "$in/test/specs"
if [ -f test/portable/expected-diff.sh ]; then
	bash test/portable/expected-diff.sh patched "$in"
else
	cp -r expected "$in/expected"; cp -r test/expected "$in/test/expected"
fi
cp -r sql "$in/sql"
# each spec's setup creates the extension as the owner, its teardown drops it
for f in test/specs/*.spec; do
	sed -E -e "s/^([[:space:]]*)CREATE EXTENSION session_store;\$/\\1SET ROLE $owner; CREATE EXTENSION session_store_portable; RESET ROLE;/" \
		-e 's/^([[:space:]]*)DROP EXTENSION session_store;$/\1DROP EXTENSION session_store_portable;/' \
		"$f" > "$in/$f"
done

prepare contrib_regression_pgtle create
# Some tests add triggers that write into tables the superuser creates; an
# API call, SECURITY DEFINER, runs them as the extension's owner, which is
# no superuser here: it is granted what they touch, as an administrator
# adding such triggers grants it (the C edition's owner is a superuser).
q contrib_regression_pgtle postgres "ALTER DEFAULT PRIVILEGES FOR ROLE postgres GRANT ALL ON TABLES TO $owner"
if "$PGXS_DIR/src/test/regress/pg_regress" --use-existing --dbname=contrib_regression_pgtle \
	--launcher="$PWD/test/psql-launcher.sh" --bindir="$PG_BIN" --inputdir="$in" --outputdir="$src/out-regress" \
	$(tests REGRESS) > "$src/regress.log" 2>&1; then
	ok "the regress suite on the extension ($(grep -c '\.\.\. ok' "$src/regress.log" || true) tests)"
else
	notok "the regress suite on the extension" "$(cat "$src/regress.log"; cat "$src/out-regress/regression.diffs" 2>/dev/null)"
	[ -n "${PGTLE_KEEP:-}" ] && cp -r "$src/out-regress" "/tmp/pgtle-out-regress.$$" && echo "# kept in /tmp/pgtle-out-regress.$$"
fi

prepare isolation_regression_pgtle
export PGISOLATIONTIMEOUT=${PGISOLATIONTIMEOUT:-60}
if "$PGXS_DIR/src/test/isolation/pg_isolation_regress" --use-existing --dbname=isolation_regression_pgtle \
	--bindir="$PG_BIN" --inputdir="$in/test" --outputdir="$src/out-isolation" \
	$(tests ISOLATION) > "$src/isolation.log" 2>&1; then
	ok "the isolation specs on the extension ($(grep -c '\.\.\. ok' "$src/isolation.log" || true) specs)"
else
	notok "the isolation specs on the extension" "$(cat "$src/isolation.log"; cat "$src/out-isolation/regression.diffs" 2>/dev/null)"
	[ -n "${PGTLE_KEEP:-}" ] && cp -r "$src/out-isolation" "/tmp/pgtle-out-isolation.$$" && echo "# kept in /tmp/pgtle-out-isolation.$$"
fi

# --- the move to the C edition --------------------------------------------------
if mig=$(bash test/portable/to_c_edition.sh --pgtle 2>&1); then
	ok "test/portable/to_c_edition.sh --pgtle: $(printf '%s\n' "$mig" | grep -c '^ok') checks"
else
	notok "test/portable/to_c_edition.sh --pgtle" "$mig"
fi

echo "1..$n"
[ $failed -eq 0 ] || { echo "test-pgtle: $failed of $n checks failed" >&2; exit 1; }
