#!/bin/bash
# portable/to_c_edition.sql: a filled portable database moved to the C
# edition loses nothing.
#
#   test/portable/to_c_edition.sh            the edition of portable/session_store.sql
#   test/portable/to_c_edition.sh --pgtle    the pg_tle extension session_store_portable
#                                            (pg_tle on the server; test/pgtle/run.sh)
#
# It installs the portable edition as a role with CREATE on the database,
# grants the API in several ways (the README's recipe, single functions,
# WITH GRANT OPTION, PUBLIC, a SELECT on a table), writes through the API
# (sessions, messages, app and user state, idempotency keys of every kind,
# a deleted session), keeps each keyed call's result, migrates, and checks:
# every row of the five tables and the sid sequence as they were, the API's
# view of every session as it was, every keyed call replaying with its
# first result and changing nothing, a new session taking the next sid,
# every grant on the same object of the C edition, the old owner keeping
# the API, nothing of the portable edition left.  Then a database whose
# tables have an added column, or with a view on them, is refused with
# nothing changed.
#
# Runs against the server of PGHOST/PGPORT as PGUSER, a superuser, with the
# C edition installed on that server.  Seconds.  Exits non-zero at the
# first failed check.
set -euo pipefail
cd "$(dirname "$0")/../.."

tle=
[ "${1:-}" = --pgtle ] && tle=1
db=ss_mig
refused=ss_mig_refused
roles=(ss_mig_owner ss_mig_app ss_mig_reader ss_mig_admin ss_mig_late)

cleanup() {
	for d in "$db" "$refused"; do dropdb --if-exists "$d" 2>/dev/null || true; done
	for r in "${roles[@]}"; do psql -X -q -d postgres -c "DROP ROLE IF EXISTS $r" 2>/dev/null || true; done
}
cleanup

n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
fail() {
	n=$((n + 1)); echo "not ok $n - $1"
	[ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/#   /'
	exit 1
}
q() {	# q DB ROLE SQL
	PGUSER=$2 psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" -c "$3"
}
check() {	# check NAME DB ROLE SQL: each statement of SQL must return 't'
	local got
	got=$(q "$2" "$3" "$4" 2>&1) || true
	if [ -n "$got" ] && ! printf '%s\n' "$got" | grep -qvx t; then ok "$1"; else fail "$1" "got: $got"; fi
}

psql -X -q -v ON_ERROR_STOP=1 -d postgres <<'SQL'
CREATE ROLE ss_mig_owner LOGIN;
CREATE ROLE ss_mig_app LOGIN;
CREATE ROLE ss_mig_reader LOGIN;
CREATE ROLE ss_mig_admin LOGIN;
CREATE ROLE ss_mig_late LOGIN;
SQL
# pg_virtualenv's cluster asks for a password over TCP (PGPASSWORD, the
# superuser's): the test roles log in with the same one
if [ -n "${PGPASSWORD:-}" ]; then
	for r in "${roles[@]}"; do
		psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "ALTER ROLE $r PASSWORD '$PGPASSWORD'"
	done
fi

install() {	# install DB: the portable edition, by ss_mig_owner
	createdb "$1"
	q "$1" postgres "GRANT CREATE ON DATABASE $1 TO ss_mig_owner" >/dev/null
	if [ -n "$tle" ]; then
		q "$1" postgres "SET client_min_messages = warning; CREATE EXTENSION pg_tle; GRANT pgtle_admin TO ss_mig_owner" >/dev/null
		PGUSER=ss_mig_owner psql -X -q -v ON_ERROR_STOP=1 -d "$1" \
			-f portable/pg_tle/session_store_portable.sql >/dev/null
		q "$1" ss_mig_owner "CREATE EXTENSION session_store_portable" >/dev/null
	else
		PGUSER=ss_mig_owner psql -X -q -v ON_ERROR_STOP=1 -d "$1" -f portable/session_store.sql
	fi
}
migrate() {	# migrate DB: the script, as the superuser; its output (verbose)
	psql -X -q -v VERBOSITY=verbose -d "$1" -f portable/to_c_edition.sql 2>&1
}

install "$db"
psql -X -q -v ON_ERROR_STOP=1 -d "$db" >/dev/null <<'SQL'
-- grants, by the owner
SET ROLE ss_mig_owner;
GRANT USAGE ON SCHEMA session_store TO ss_mig_app, ss_mig_reader, ss_mig_admin;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA session_store TO ss_mig_app;
GRANT EXECUTE ON FUNCTION session_store.get_session(text, text, text),
    session_store.get_messages(text, text, text, integer, bigint, bigint, timestamptz) TO ss_mig_reader;
GRANT SELECT ON session_store.messages TO ss_mig_reader;
GRANT EXECUTE ON FUNCTION session_store.append_messages(text, text, text, jsonb, jsonb, bigint, text, boolean, timestamptz, boolean)
    TO ss_mig_admin WITH GRANT OPTION;
GRANT EXECUTE ON FUNCTION session_store.get_app_state(text) TO PUBLIC;
RESET ROLE;

-- this test's helpers, outside the edition
CREATE SCHEMA chk;
GRANT USAGE ON SCHEMA chk TO PUBLIC;
CREATE TABLE chk.calls (name text PRIMARY KEY, call text, result text);
GRANT ALL ON chk.calls TO PUBLIC;
-- a keyed call: run it, keep its result (as json text) to replay it later
CREATE FUNCTION chk.call(name text, call text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE r text;
BEGIN
    EXECUTE format('SELECT coalesce(jsonb_agg(to_jsonb(x)), ''[]'')::text FROM (%s) x', call) INTO r;
    INSERT INTO chk.calls VALUES (name, call, r);
    RETURN r;
END
$$;
CREATE FUNCTION chk.replay(name text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE r text; c record;
BEGIN
    SELECT * INTO c FROM chk.calls k WHERE k.name = replay.name;
    EXECUTE format('SELECT coalesce(jsonb_agg(to_jsonb(x)), ''[]'')::text FROM (%s) x', c.call) INTO r;
    RETURN r;
END
$$;
-- every row of every table, the sid sequence, and what the API shows
CREATE FUNCTION chk.fingerprint() RETURNS TABLE (what text, n bigint, digest text)
LANGUAGE sql AS $$
    SELECT 'sessions', count(*), md5(string_agg(x::text, '|' ORDER BY x::text)) FROM session_store.sessions x
    UNION ALL
    SELECT 'messages', count(*), md5(string_agg(x::text, '|' ORDER BY x::text)) FROM session_store.messages x
    UNION ALL
    SELECT 'idempotency_keys', count(*), md5(string_agg(x::text, '|' ORDER BY x::text)) FROM session_store.idempotency_keys x
    UNION ALL
    SELECT 'user_states', count(*), md5(string_agg(x::text, '|' ORDER BY x::text)) FROM session_store.user_states x
    UNION ALL
    SELECT 'app_states', count(*), md5(string_agg(x::text, '|' ORDER BY x::text)) FROM session_store.app_states x
    UNION ALL
    SELECT 'sid_seq', last_value, is_called::text FROM session_store.session_sid_seq
    UNION ALL
    SELECT 'api', count(*), md5(string_agg(to_jsonb(g)::text || (SELECT coalesce(jsonb_agg(m ORDER BY m.seq), '[]')::text
                                            FROM session_store.get_messages(g.app_name, g.user_id, g.session_id) m),
                                           '|' ORDER BY g.app_name, g.user_id, g.session_id))
    FROM (SELECT DISTINCT app_name FROM session_store.sessions) a,
         LATERAL session_store.list_sessions(a.app_name, page_size => 10000) l,
         LATERAL session_store.get_session(a.app_name, l.user_id, l.session_id) g
$$;
-- who may do what: schema, tables, sequence, functions by signature
CREATE FUNCTION chk.privileges() RETURNS TABLE (p text)
LANGUAGE sql AS $$
    SELECT format('%s %s %s %s', r.rolname, o.what, o.priv,
                  CASE o.what WHEN 'schema' THEN has_schema_privilege(r.oid, 'session_store', o.priv)
                              WHEN 'function' THEN has_function_privilege(r.oid, o.name, o.priv)
                              ELSE has_table_privilege(r.oid, o.name, o.priv) END)
    FROM (SELECT oid, rolname FROM pg_roles WHERE rolname LIKE 'ss\_mig\_%' AND rolname <> 'ss_mig_owner'
          UNION ALL SELECT 0, 'public') r,
         (SELECT 'schema' AS what, 'session_store' AS name, p AS priv FROM unnest('{USAGE,CREATE}'::text[]) p
          UNION ALL
          SELECT 'table', format('session_store.%I', relname), p
          FROM pg_class, unnest('{SELECT,INSERT,UPDATE,DELETE}'::text[]) p
          WHERE relnamespace = 'session_store'::regnamespace AND relkind = 'r'
          UNION ALL
          SELECT 'function', format('session_store.%I(%s)', proname, oidvectortypes(proargtypes)), 'EXECUTE'
          FROM pg_proc
          WHERE pronamespace = 'session_store'::regnamespace AND proname !~ '^_'
            AND proname NOT IN ('distribute', 'delegate_functions', 'edition')) o
    WHERE r.oid <> 0 OR o.what = 'function'
    ORDER BY 1
$$;

-- data, through the API, by the recipe's role; keyed calls of every kind
SET ROLE ss_mig_app;
CREATE TEMP TABLE s (a text, u text, s text);
INSERT INTO s VALUES ('mg-a', 'alice', 's1'), ('mg-a', 'alice', 's2'), ('mg-a', 'bob', 's1'),
    ('mg-a', 'bob', 's3'), ('mg-b', 'alice', 's1'), ('mg-b', 'carol', 'c1'), ('mg-b', 'carol', 'c2');
SELECT count(session_store.create_session(a, u,
           jsonb_build_object('n', s, 'app:shared', a, 'user:home', u, 'temp:x', 1), s))
FROM s;
SELECT count(*) FROM s, generate_series(1, 12) i,
    LATERAL session_store.append_messages(a, u, s,
        jsonb_build_array(jsonb_build_object('i', i, 'body', repeat('x', i * 10)),
                          jsonb_build_object('i', i, 'role', 'tool')),
        jsonb_build_object('step', i, 'app:last_' || u, i, 'user:last', i, 'drop', NULL),
        NULL, CASE WHEN i % 4 = 0 THEN format('k-%s-%s-%s', a, s, i) END) r;
SELECT chk.call('create', $c$SELECT * FROM session_store.create_session('mg-a', 'dave', '{"d": 1, "user:x": 2}', 'd1', idempotency_key => 'create-1')$c$);
SELECT chk.call('append', $c$SELECT * FROM session_store.append_messages('mg-a', 'dave', 'd1', '[{"a": 1}, {"a": 2}, {"a": 3}, {"a": 4}]', '{"app:z": 1}', idempotency_key => 'append-1')$c$);
SELECT chk.call('append_verify', $c$SELECT * FROM session_store.append_messages('mg-a', 'dave', 'd1', '[{"b": 1}]', idempotency_key => 'append-2', verify_replay => true)$c$);
SELECT chk.call('replace', $c$SELECT * FROM session_store.replace_messages('mg-a', 'dave', 'd1', '[{"b": 1}]', '[{"b": 2}, {"b": 3}]', idempotency_key => 'replace-1')$c$);
SELECT chk.call('pop', $c$SELECT * FROM session_store.pop_message('mg-a', 'dave', 'd1', idempotency_key => 'pop-1')$c$);
SELECT chk.call('fork', $c$SELECT * FROM session_store.fork_session('mg-a', 'dave', 'd1', 'd2', 3, idempotency_key => 'fork-1')$c$);
SELECT chk.call('rewind', $c$SELECT * FROM session_store.rewind_session('mg-a', 'dave', 'd1', 2, idempotency_key => 'rewind-1')$c$);
SELECT chk.call('clear', $c$SELECT * FROM session_store.clear_session('mg-a', 'dave', 'd2', idempotency_key => 'clear-1')$c$);
SELECT session_store.delete_session('mg-b', 'carol', 'c2');
RESET ROLE;
CREATE TABLE chk.before AS SELECT * FROM chk.fingerprint();
CREATE TABLE chk.privs_before AS SELECT * FROM chk.privileges();
-- each keyed call replayed by the portable edition, to compare with the C one
CREATE TABLE chk.replays_before (name text, result text);
GRANT ALL ON chk.replays_before TO PUBLIC;
SET ROLE ss_mig_app;
INSERT INTO chk.replays_before SELECT name, chk.replay(name) FROM chk.calls;
RESET ROLE;
SQL

check "filled: sessions, messages, keys of every kind, app and user state" "$db" postgres "
	SELECT (SELECT n FROM chk.before WHERE what = 'sessions') = 8
	   AND (SELECT n FROM chk.before WHERE what = 'idempotency_keys') = 6 * 3 + 3 + 5
	   AND (SELECT count(DISTINCT coalesce(operation, 'append')) FROM session_store.idempotency_keys) = 6
	   AND (SELECT n FROM chk.before WHERE what = 'user_states') > 0
	   AND (SELECT n FROM chk.before WHERE what = 'app_states') = 2
	   AND (SELECT n FROM chk.before WHERE what = 'sid_seq') = 9"

out=$(migrate "$db") || fail "portable/to_c_edition.sql runs" "$out"
ok "portable/to_c_edition.sql runs: $(printf '%s\n' "$out" | grep -o 'moved to the C edition.*')"
check "the database holds the C edition 1.2, and nothing of the portable one" "$db" postgres "
	SELECT (SELECT (edition, version) = ('c', '1.2') FROM session_store.edition())
	   AND (SELECT extversion = '1.2' FROM pg_extension WHERE extname = 'session_store')
	   AND NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'session_store_portable')
	   AND NOT EXISTS (SELECT FROM pg_namespace WHERE nspname = 'session_store_migrating')
	   AND NOT EXISTS (SELECT FROM pg_proc WHERE pronamespace = 'session_store'::regnamespace AND proname ~ '^_')
	   AND EXISTS (SELECT FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
	               WHERE p.oid = 'session_store.append_messages(text, text, text, jsonb, jsonb, bigint, text, boolean, timestamptz, boolean)'::regprocedure
	                 AND l.lanname = 'c')"
check "every row of the five tables, the sid sequence and the API's view of every session as before" "$db" postgres "
	SELECT count(*) = 7 FROM chk.before b JOIN chk.fingerprint() a USING (what, n, digest)"
check "every grant on the same object of the C edition (schema, tables, functions, PUBLIC)" "$db" postgres "
	SELECT NOT EXISTS (SELECT p FROM chk.privs_before EXCEPT SELECT p FROM chk.privileges())
	   AND NOT EXISTS (SELECT p FROM chk.privileges() EXCEPT SELECT p FROM chk.privs_before)
	   AND (SELECT count(*) > 60 FROM chk.privs_before)"
got=$(q "$db" ss_mig_admin "GRANT EXECUTE ON FUNCTION session_store.append_messages(text, text, text, jsonb, jsonb, bigint, text, boolean, timestamptz, boolean) TO ss_mig_late" 2>&1) &&
	ok "... grant option kept: ss_mig_admin grants append_messages on" ||
	fail "... grant option kept: ss_mig_admin grants append_messages on" "$got"

for call in create append append_verify replace pop fork rewind clear; do
	# as the portable edition replayed it before; and an append's, a
	# replace's, a pop's, a rewind's, a clear's replay is its first result
	# (replayed true); a create's or a fork's is the session as it is now
	check "the keyed $call call replays as in the portable edition" "$db" ss_mig_app "
		SELECT chk.replay('$call')::jsonb = r.result::jsonb
		   AND ('$call' IN ('create', 'fork') OR r.result::jsonb = (
		    SELECT jsonb_agg(CASE WHEN e ? 'replayed' THEN e || '{\"replayed\": true}' ELSE e END)
		    FROM jsonb_array_elements(c.result::jsonb) e))
		FROM chk.replays_before r JOIN chk.calls c USING (name) WHERE name = '$call'"
done
check "... and the replays changed nothing" "$db" postgres "
	SELECT count(*) = 7 FROM chk.before b JOIN chk.fingerprint() a USING (what, n, digest)"
check "a new session takes the next sid of the sequence" "$db" ss_mig_app "
	SELECT version = 0 FROM session_store.create_session('mg-a', 'erin', NULL, 'e1')"
check "... which is the sequence's continuation" "$db" postgres "
	SELECT sid = 10 FROM session_store.sessions WHERE user_id = 'erin'"
check "the portable edition's owner keeps the API, and may grant it" "$db" ss_mig_owner "
	SELECT count(*) = 8 FROM session_store.get_messages('mg-a', 'alice', 's1', 8);
	GRANT EXECUTE ON FUNCTION session_store.get_app_state(text) TO ss_mig_late;
	SELECT has_function_privilege('ss_mig_late', 'session_store.get_app_state(text)', 'EXECUTE')"
got=$(PGUSER=ss_mig_owner psql -X -q -v VERBOSITY=sqlstate -d "$db" -c "SELECT * FROM session_store.sessions" 2>&1) || true
[ "$got" = "ERROR:  42501" ] && ok "... but not the tables, which only the extension's owner reaches" ||
	fail "... but not the tables, which only the extension's owner reaches" "$got"

# refused: an added column; a view on a table; nothing changed
install "$refused"
q "$refused" ss_mig_owner "SELECT version FROM session_store.create_session('r', 'u', NULL, 's')" >/dev/null
q "$refused" ss_mig_owner "ALTER TABLE session_store.app_states ADD COLUMN note text" >/dev/null
out=$(migrate "$refused") && fail "a table with an added column is refused" "$out"
printf '%s\n' "$out" | grep -q 'ERROR:  55000: table session_store.app_states does not have the columns of the C edition' ||
	fail "a table with an added column is refused (55000)" "$out"
ok "a table with an added column is refused (55000)"
q "$refused" ss_mig_owner "ALTER TABLE session_store.app_states DROP COLUMN note;
	CREATE INDEX mine ON session_store.messages (create_time)" >/dev/null
q "$refused" postgres "CREATE VIEW public.recent AS SELECT session_id FROM session_store.sessions" >/dev/null
out=$(migrate "$refused") && fail "a view on a table and an added index are refused" "$out"
printf '%s\n' "$out" | grep -qF 'ERROR:  55000: schema "session_store" holds objects the C edition does not have' &&
	printf '%s\n' "$out" | grep -qF 'DETAIL:  Removing the portable edition would drop: index mine, view recent.' ||
	fail "a view on a table and an added index are refused (55000, listed)" "$out"
ok "a view on a table and an added index are refused (55000, listed)"
check "... and nothing changed" "$refused" postgres "
	SELECT (SELECT edition = 'portable' FROM session_store.edition())
	   AND NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'session_store')
	   AND (SELECT count(*) = 1 FROM session_store.sessions)"

cleanup
echo "1..$n"
