#!/bin/bash
# The portable edition's install script (portable/session_store.sql):
#   1. a role with only CREATE on the database installs it (no superuser)
#      and owns every object;
#   2. it refuses a schema session_store owned by another role (55000, the
#      guard's message) and a non-empty one, and changes nothing;
#   3. run a second time it stops with a clean error and changes nothing;
#   4. it never installs over the C edition, nor the C edition over it;
#   5. eight installers at once on a fresh database: one installs, seven
#      get the clean error, and the result is the whole edition;
#   6. a role granted the API (USAGE on the schema, EXECUTE on every
#      function) can call it but cannot read or write the tables or the
#      sequence around it, nor create or replace objects in the schema;
#   7. nothing is granted to PUBLIC.
#
# Runs against the server of PGHOST/PGPORT as PGUSER, a superuser (inside
# the cluster of test/run-in-cluster.sh in make test), with the C edition
# installed on that server.  Seconds.  Exits non-zero at the first failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
script=portable/session_store.sql

dbs=(ss_pi_ref ss_pi_other ss_pi_twice ss_pi_c ss_pi_race)
roles=(ss_pi_owner ss_pi_other ss_pi_app)

cleanup() {
	for d in "${dbs[@]}"; do dropdb --if-exists "$d" 2>/dev/null || true; done
	for r in "${roles[@]}"; do psql -X -q -d postgres -c "DROP ROLE IF EXISTS $r" 2>/dev/null || true; done
}
cleanup
psql -X -q -v ON_ERROR_STOP=1 -d postgres <<'SQL'
CREATE ROLE ss_pi_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
CREATE ROLE ss_pi_other LOGIN NOSUPERUSER;
CREATE ROLE ss_pi_app LOGIN NOSUPERUSER;
SQL
# pg_virtualenv's cluster asks for a password over TCP (PGPASSWORD, the
# superuser's): the test roles log in with the same one
if [ -n "${PGPASSWORD:-}" ]; then
	for r in "${roles[@]}"; do
		psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "ALTER ROLE $r PASSWORD '$PGPASSWORD'"
	done
fi
for d in "${dbs[@]}"; do
	createdb "$d"
	psql -X -q -v ON_ERROR_STOP=1 -d "$d" -c "GRANT CREATE ON DATABASE $d TO ss_pi_owner"
done

n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
fail() {
	n=$((n + 1)); echo "not ok $n - $1"
	[ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/#   /'
	exit 1
}
q() {	# q DB ROLE SQL: the result, unaligned
	PGUSER=$2 psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" -c "$3"
}
install() {	# install DB ROLE: run the script; its stderr (verbose) on stdout
	PGUSER=$2 psql -X -q -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -d "$1" -f "$script" 2>&1 >/dev/null
}
check() {	# check NAME DB ROLE SQL: each statement of SQL must return 't'
	local got
	got=$(q "$2" "$3" "$4" 2>&1) || true
	if [ -n "$got" ] && ! printf '%s\n' "$got" | grep -qvx t; then ok "$1"; else fail "$1" "got: $got"; fi
}
expect_error() {	# expect_error NAME WANT OUTPUT: OUTPUT holds the line WANT
	if printf '%s\n' "$3" | grep -qxF -- "$2"; then ok "$1"; else fail "$1" "want: $2
got: $3"; fi
}
# every object of the schema with its owner, ACL and definition: equal
# fingerprints are equal installations
fingerprint='
SELECT md5(string_agg(x, E'"'"'\n'"'"' ORDER BY x)) FROM (
    SELECT format('"'"'class %s %s %s %s'"'"', c.relname, c.relkind, c.relowner::regrole, c.relacl)
    FROM pg_class c WHERE c.relnamespace = '"'"'session_store'"'"'::regnamespace
    UNION ALL
    SELECT format('"'"'proc %s %s %s %s %s %s'"'"', p.oid::regprocedure, p.proowner::regrole, p.proacl,
                  p.prosecdef, p.proconfig, md5(p.prosrc))
    FROM pg_proc p WHERE p.pronamespace = '"'"'session_store'"'"'::regnamespace
    UNION ALL
    SELECT format('"'"'type %s %s'"'"', t.typname, t.typowner::regrole)
    FROM pg_type t WHERE t.typnamespace = '"'"'session_store'"'"'::regnamespace
    UNION ALL
    SELECT format('"'"'constraint %s %s'"'"', conname, pg_get_constraintdef(oid))
    FROM pg_constraint WHERE connamespace = '"'"'session_store'"'"'::regnamespace
    UNION ALL
    SELECT format('"'"'schema %s %s'"'"', nspowner::regrole, nspacl)
    FROM pg_namespace WHERE nspname = '"'"'session_store'"'"') o(x)'
objects="SELECT count(*) FROM pg_class WHERE relnamespace = 'session_store'::regnamespace"

# 1. by a role with CREATE on the database only
out=$(install ss_pi_ref ss_pi_owner) || fail "installs as a role with only CREATE on the database" "$out"
ok "installs as a role with only CREATE on the database"
check "edition() is portable 1.2" ss_pi_ref ss_pi_owner \
	"SELECT (edition, version) = ('portable', '1.2') FROM session_store.edition()"
check "the installing role owns the schema and every object in it" ss_pi_ref postgres "
	SELECT (SELECT nspowner = 'ss_pi_owner'::regrole FROM pg_namespace WHERE nspname = 'session_store')
	   AND NOT EXISTS (SELECT FROM pg_class WHERE relnamespace = 'session_store'::regnamespace
	                   AND relowner <> 'ss_pi_owner'::regrole)
	   AND NOT EXISTS (SELECT FROM pg_proc WHERE pronamespace = 'session_store'::regnamespace
	                   AND proowner <> 'ss_pi_owner'::regrole)
	   AND NOT EXISTS (SELECT FROM pg_type WHERE typnamespace = 'session_store'::regnamespace
	                   AND typowner <> 'ss_pi_owner'::regrole)"
check "API functions are SECURITY DEFINER, helpers INVOKER, all with a pinned search_path" ss_pi_ref postgres "
	SELECT bool_and(prosecdef = (proname !~ '^_' AND proname <> 'edition'))
	   AND bool_and(proconfig[1] = 'search_path=pg_catalog, pg_temp')
	FROM pg_proc WHERE pronamespace = 'session_store'::regnamespace"
ref=$(q ss_pi_ref postgres "$fingerprint")

# 2. a schema session_store that is another role's, or not empty
q ss_pi_other postgres "CREATE SCHEMA session_store AUTHORIZATION ss_pi_other" >/dev/null
out=$(install ss_pi_other ss_pi_owner) && fail "refuses a schema session_store owned by another role" "installed"
expect_error "refuses a schema session_store owned by another role (55000)" \
	'ERROR:  55000: schema "session_store" already exists and is owned by role ss_pi_other, not by the installing role' \
	"$(printf '%s\n' "$out" | grep -o 'ERROR: .*')"
check "... and changes nothing" ss_pi_other postgres "
	SELECT ($objects) = 0 AND (SELECT nspowner = 'ss_pi_other'::regrole FROM pg_namespace
	                            WHERE nspname = 'session_store')"
q ss_pi_other postgres "ALTER SCHEMA session_store OWNER TO ss_pi_owner;
	CREATE TABLE session_store.mine (a int); ALTER TABLE session_store.mine OWNER TO ss_pi_owner" >/dev/null
out=$(install ss_pi_other ss_pi_owner) && fail "refuses a non-empty schema session_store" "installed"
expect_error "refuses a non-empty schema session_store (55000)" \
	'ERROR:  55000: schema "session_store" is not empty' \
	"$(printf '%s\n' "$out" | grep -o 'ERROR: .*')"

# 3. twice
q ss_pi_twice ss_pi_owner "SELECT 1" >/dev/null
install ss_pi_twice ss_pi_owner >/dev/null || fail "first install"
q ss_pi_twice ss_pi_owner "INSERT INTO session_store.app_states VALUES ('a', '{\"k\": 1}');
	SELECT nextval('session_store.session_sid_seq')" >/dev/null
before=$(q ss_pi_twice postgres "$fingerprint")
out=$(install ss_pi_twice ss_pi_owner) && fail "a second run is refused" "installed twice"
expect_error "a second run is a clean error (42710)" \
	'ERROR:  42710: session_store portable 1.2 is already installed in this database' \
	"$(printf '%s\n' "$out" | grep -o 'ERROR: .*')"
check "... that changes nothing" ss_pi_twice postgres "
	SELECT '$before' = ($fingerprint) AND '$before' = '$ref'
	   AND (SELECT count(*) = 1 FROM session_store.app_states)
	   AND (SELECT last_value = 1 FROM session_store.session_sid_seq)"
out=$(install ss_pi_twice ss_pi_other) && fail "another role's second run is refused" "installed twice"
expect_error "... by another role too (55000: the schema is not its)" \
	'ERROR:  55000: schema "session_store" already exists and is owned by role ss_pi_owner, not by the installing role' \
	"$(printf '%s\n' "$out" | grep -o 'ERROR: .*')"

# 4. the C edition
q ss_pi_c postgres "CREATE EXTENSION session_store" >/dev/null
cbefore=$(q ss_pi_c postgres "$fingerprint")
for who in ss_pi_owner postgres; do
	out=$(install ss_pi_c $who) && fail "never installs over the C edition ($who)" "installed"
	expect_error "never installs over the C edition (42710, as $who)" \
		'ERROR:  42710: the C edition of session_store is installed in this database' \
		"$(printf '%s\n' "$out" | grep -o 'ERROR: .*')"
done
check "... and changes nothing" ss_pi_c postgres "SELECT '$cbefore' = ($fingerprint)"
out=$(PGUSER=postgres psql -X -q -v VERBOSITY=verbose -d ss_pi_twice -c "CREATE EXTENSION session_store" 2>&1) &&
	fail "CREATE EXTENSION session_store over the portable edition is refused" "created"
expect_error "CREATE EXTENSION session_store over the portable edition: a clean error (42710)" \
	'ERROR:  42710: the portable edition of session_store is installed in this database' \
	"$(printf '%s\n' "$out" | grep -o 'ERROR: .*')"
check "... that changes nothing" ss_pi_twice postgres "
	SELECT '$before' = ($fingerprint)
	   AND NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'session_store')"

# 5. eight installers at once: all wait on the installers' lock, which this
# test holds until the eighth is queued, then released together
lockfile=$(mktemp)
holder_in=$(mktemp -u); mkfifo "$holder_in"
psql -X -q -d ss_pi_race <"$holder_in" >/dev/null 2>&1 &
holder=$!
exec 9>"$holder_in"
echo "SELECT pg_advisory_lock(21331, 0); SELECT 1 \\g $lockfile" >&9
for _ in $(seq 600); do [ -s "$lockfile" ] && break; sleep 0.1; done
[ -s "$lockfile" ] || fail "the test holds the installers' lock"
dir=$(mktemp -d)
pids=()
for i in $(seq 8); do
	( if install ss_pi_race ss_pi_owner > "$dir/$i.err"; then echo 0; else echo 1; fi > "$dir/$i.rc" ) &
	pids+=($!)
done
waiting=0
for _ in $(seq 600); do		# up to 60 s for eight psql to start, connect and queue
	waiting=$(q ss_pi_race postgres "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'
		AND classid = 21331 AND objid = 0 AND objsubid = 2 AND NOT granted")
	[ "$waiting" = 8 ] && break
	sleep 0.1
done
echo "SELECT pg_advisory_unlock(21331, 0);" >&9
exec 9>&-
wait "$holder" || true
wait "${pids[@]}" || true
rm -f "$holder_in" "$lockfile"
[ "$waiting" = 8 ] && ok "eight installers wait at once" || fail "eight installers wait at once" "waiting: $waiting"
won=$(cat "$dir"/*.rc | grep -cx 0 || true)
[ "$won" = 1 ] && ok "exactly one of eight concurrent installers installs" ||
	fail "exactly one of eight concurrent installers installs" "succeeded: $won; $(cat "$dir"/*.err)"
clean=$(cat "$dir"/*.err | grep -c 'ERROR:  42710: session_store portable 1.2 is already installed in this database' || true)
[ "$clean" = 7 ] && ok "the seven others get the clean error" ||
	fail "the seven others get the clean error" "$(cat "$dir"/*.err)"
rm -rf "$dir"
check "... and the installation is complete" ss_pi_race postgres "SELECT '$ref' = ($fingerprint)"

# 6. a role granted the API, as the README says
q ss_pi_ref ss_pi_owner "GRANT USAGE ON SCHEMA session_store TO ss_pi_app;
	GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA session_store TO ss_pi_app" >/dev/null
check "a granted role calls the API" ss_pi_ref ss_pi_app "
	SELECT version = 0 FROM session_store.create_session('pi', 'u', '{\"k\": 1}', 's');
	SELECT last_seq = 1 FROM session_store.append_messages('pi', 'u', 's', '[{\"m\": 1}]');
	SELECT (SELECT edition = 'portable' FROM session_store.edition())
	   AND (SELECT state = '{\"k\": 1}' AND version = 1 FROM session_store.get_session('pi', 'u', 's'))"
denied=0; tried=0
while IFS= read -r stmt; do
	tried=$((tried + 1))
	got=$(PGUSER=ss_pi_app psql -X -q -v VERBOSITY=sqlstate -d ss_pi_ref -c "$stmt" 2>&1) || true
	if [ "$got" = "ERROR:  42501" ]; then denied=$((denied + 1)); else
		fail "a granted role cannot work around the API" "$stmt: $got"; fi
done <<'SQL'
SELECT * FROM session_store.sessions
SELECT * FROM session_store.messages
SELECT * FROM session_store.idempotency_keys
SELECT * FROM session_store.user_states
SELECT * FROM session_store.app_states
INSERT INTO session_store.sessions VALUES ('pi', 'u', 'x', 99, '{}', 1, 0, now(), now())
INSERT INTO session_store.messages VALUES ('u', 1, 99, '{}', now())
INSERT INTO session_store.idempotency_keys (user_id, sid, idempotency_key, version, update_time) VALUES ('u', 1, 'k', 1, now())
INSERT INTO session_store.user_states VALUES ('pi', 'u', '{}')
INSERT INTO session_store.app_states VALUES ('pi', '{}')
UPDATE session_store.sessions SET state = '{}'
UPDATE session_store.app_states SET state = '{}'
DELETE FROM session_store.messages
DELETE FROM session_store.user_states
TRUNCATE session_store.sessions
TRUNCATE session_store.idempotency_keys
SELECT nextval('session_store.session_sid_seq')
SELECT setval('session_store.session_sid_seq', 1)
SELECT last_value FROM session_store.session_sid_seq
CREATE TABLE session_store.mine (a int)
CREATE FUNCTION session_store.mine() RETURNS int LANGUAGE sql AS 'SELECT 1'
CREATE OR REPLACE FUNCTION session_store.edition(OUT edition text, OUT version text) LANGUAGE sql AS $$SELECT 'x', 'y'$$
ALTER FUNCTION session_store._lock_key(text, text, text) SET search_path = public
ALTER TABLE session_store.sessions ADD COLUMN x int
DROP TABLE session_store.app_states
GRANT SELECT ON session_store.sessions TO ss_pi_app
SQL
ok "a granted role cannot read, write or change the tables, the sequence or the functions ($denied statements, 42501)"
check "... and the rows are what the API wrote" ss_pi_ref postgres "
	SELECT (SELECT count(*) = 1 FROM session_store.sessions)
	   AND (SELECT count(*) = 1 FROM session_store.messages)
	   AND (SELECT count(*) = 0 FROM session_store.app_states)"

# 7. PUBLIC
check "nothing of the schema is granted to PUBLIC (schema, tables, sequence, functions)" ss_pi_ref postgres "
	SELECT NOT EXISTS (
	    SELECT FROM pg_namespace n, aclexplode(n.nspacl) a
	    WHERE n.nspname = 'session_store' AND a.grantee = 0)
	   AND NOT EXISTS (
	    SELECT FROM pg_class c WHERE c.relnamespace = 'session_store'::regnamespace
	    AND c.relkind IN ('r', 'S') AND (c.relacl IS NULL
	         OR EXISTS (SELECT FROM aclexplode(c.relacl) a WHERE a.grantee = 0)))
	   AND NOT EXISTS (
	    SELECT FROM pg_proc p WHERE p.pronamespace = 'session_store'::regnamespace
	    AND (p.proacl IS NULL OR EXISTS (SELECT FROM aclexplode(p.proacl) a WHERE a.grantee = 0)))"
q ss_pi_ref ss_pi_owner "GRANT USAGE ON SCHEMA session_store TO ss_pi_other" >/dev/null
got=$(PGUSER=ss_pi_other psql -X -q -v VERBOSITY=sqlstate -d ss_pi_ref \
	-c "SELECT session_store.create_session('pi', 'v')" 2>&1) || true
[ "$got" = "ERROR:  42501" ] && ok "a role with USAGE on the schema but no grant cannot call the API (42501)" ||
	fail "a role with USAGE on the schema but no grant cannot call the API" "$got"

[ -n "${KEEP:-}" ] || cleanup
echo "1..$n"
