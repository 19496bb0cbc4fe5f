#!/bin/bash
# ALTER EXTENSION session_store UPDATE from 1.0 to 1.1, then to 1.2, on a
# filled database.
#
# Runs inside the pg_virtualenv cluster of test/run-in-cluster.sh (PGHOST,
# PGPORT, PGUSER set; PGUSER a superuser).  It
#   1. installs 1.0 (CREATE EXTENSION ... VERSION '1.0'), grants the API to
#      roles in several ways (the README's recipe, single functions, WITH
#      GRANT OPTION, PUBLIC) and fills it through the 1.0 API, served by
#      the 1.1 module (which must keep working for a database at 1.0);
#   2. updates it, and checks every row kept, every grant of a replaced
#      signature carried to its replacement, the new functions granted to
#      no one, no overloads left, and the new signatures working;
#   3. dumps it with pg_dump -Fc and restores it with pg_restore into a new
#      database: rows and carried grants survive;
#   4. grants more at 1.1, writes through the 1.1 API (served by the 1.2
#      module), updates to 1.2 and checks the same: rows, key columns,
#      grants carried (pg_init_privs too), no overloads, the new arguments;
#      then dumps and restores that database;
#   5. runs the whole regress suite on the database updated to 1.2.
# Exits non-zero at the first failed check.
set -euo pipefail
cd "$(dirname "$0")/.."

db=ss_upgrade
restored=ss_upgrade_restored
roles=(ss_up_app ss_up_reader ss_up_admin)

q() {	# q DB SQL: run SQL in DB, print the last result, unaligned
	psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" -c "$2"
}
nchecks=0
check() {	# check DB NAME SQL: SQL must return exactly 't'
	local got
	got=$(q "$1" "$3" 2>&1) || true
	nchecks=$((nchecks + 1))
	if [ "$got" != t ]; then
		echo "not ok $nchecks - $2"
		echo "#   got: $got"
		exit 1
	fi
	echo "ok $nchecks - $2"
}

for d in "$db" "$restored"; do dropdb --if-exists "$d"; done
for r in "${roles[@]}"; do
	psql -X -q -d postgres -c "DROP OWNED BY $r" 2>/dev/null || true
	psql -X -q -d postgres -c "DROP ROLE IF EXISTS $r"
done
createdb "$db"

# ---------------------------------------------------------------------------
# 1. version 1.0, grants, data
# ---------------------------------------------------------------------------
psql -X -q -v ON_ERROR_STOP=1 -d "$db" >/dev/null <<'SQL'
CREATE EXTENSION session_store VERSION '1.0';

-- the README's recipe
CREATE ROLE ss_up_app NOLOGIN;
GRANT USAGE ON SCHEMA session_store TO ss_up_app;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA session_store TO ss_up_app;
-- one changed and one unchanged function only
CREATE ROLE ss_up_reader NOLOGIN;
GRANT USAGE ON SCHEMA session_store TO ss_up_reader;
GRANT EXECUTE ON FUNCTION session_store.get_messages(text, text, text, integer, bigint, bigint),
                          session_store.get_session(text, text, text) TO ss_up_reader;
-- with grant option
CREATE ROLE ss_up_admin NOLOGIN;
GRANT USAGE ON SCHEMA session_store TO ss_up_admin;
GRANT EXECUTE ON FUNCTION session_store.append_messages(text, text, text, jsonb, jsonb, bigint, text)
    TO ss_up_admin WITH GRANT OPTION;
-- and PUBLIC, on a changed function
GRANT EXECUTE ON FUNCTION session_store.create_session(text, text, jsonb, text) TO PUBLIC;

-- helpers of this test, outside the extension
CREATE SCHEMA upchk;
GRANT USAGE ON SCHEMA upchk TO PUBLIC;
CREATE FUNCTION upchk.try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE stmt;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE;
END
$$;
-- every row of every table (idempotency_keys: its 1.0 columns), the sid
-- sequence, and what the API shows of each session
CREATE FUNCTION upchk.fingerprint() RETURNS TABLE (what text, n bigint, digest text)
LANGUAGE sql AS $$
    SELECT 'sessions', count(*), md5(string_agg(x::text, '|' ORDER BY x::text)) FROM session_store.sessions x
    UNION ALL
    SELECT 'messages', count(*), md5(string_agg(x::text, '|' ORDER BY x::text)) FROM session_store.messages x
    UNION ALL
    SELECT 'idempotency_keys', count(*),
           md5(string_agg((x.user_id, x.sid, x.idempotency_key, x.first_seq, x.last_seq,
                           x.version, x.update_time)::text, '|' ORDER BY x.user_id, x.sid, x.idempotency_key))
    FROM session_store.idempotency_keys x
    UNION ALL
    SELECT 'user_states', count(*), md5(string_agg(x::text, '|' ORDER BY x::text)) FROM session_store.user_states x
    UNION ALL
    SELECT 'app_states', count(*), md5(string_agg(x::text, '|' ORDER BY x::text)) FROM session_store.app_states x
    UNION ALL
    SELECT 'sid_seq', last_value, NULL FROM session_store.session_sid_seq
    UNION ALL
    SELECT 'api', count(*), md5(string_agg(to_jsonb(g)::text || (SELECT coalesce(jsonb_agg(m ORDER BY m.seq), '[]')::text
                                            FROM session_store.get_messages(g.app_name, g.user_id, g.session_id) m),
                                           '|' ORDER BY g.app_name, g.user_id, g.session_id))
    FROM (SELECT DISTINCT app_name FROM session_store.sessions) a,
         LATERAL session_store.list_sessions(a.app_name, page_size => 10000) l,
         LATERAL session_store.get_session(a.app_name, l.user_id, l.session_id) g
$$;

-- data, written through the 1.0 API by the recipe's role
SET ROLE ss_up_app;
CREATE TEMP TABLE s (a text, u text, s text);
INSERT INTO s VALUES ('up-a', 'alice', 's1'), ('up-a', 'alice', 's2'), ('up-a', 'bob', 's1'),
    ('up-a', 'bob', 's3'), ('up-b', 'alice', 's1'), ('up-b', 'carol', 'c1'),
    ('up-b', 'carol', 'c2'), ('up-b', 'carol', 'c3');
SELECT count(session_store.create_session(a, u,
           jsonb_build_object('n', s, 'gone', NULL, 'app:shared', a, 'user:home', u, 'temp:x', 1), s))
FROM s;
SELECT count(*) FROM s, generate_series(1, 20) i,
    LATERAL session_store.append_messages(a, u, s,
        jsonb_build_array(jsonb_build_object('i', i, 'body', repeat('x', i * 10)),
                          jsonb_build_object('i', i, 'role', 'tool')),
        jsonb_build_object('step', i, 'app:last_' || u, i, 'user:last', i, 'drop', NULL),
        NULL, CASE WHEN i % 4 = 0 THEN 'key-' || i END) r;
-- a message stored out of line (TOAST)
SELECT first_seq FROM session_store.append_messages('up-a', 'alice', 's1',
    jsonb_build_array(jsonb_build_object('big', (SELECT string_agg(md5(g::text), '') FROM generate_series(1, 4000) g))),
    NULL, NULL, 'key-big');
SELECT session_store.pop_message('up-a', 'bob', 's3') IS NOT NULL;
SELECT session_store.rewind_session('up-a', 'bob', 's1', 15);
SELECT session_store.clear_session('up-b', 'carol', 'c3');
SELECT session_id FROM session_store.fork_session('up-a', 'alice', 's2', 'f1', 10);
SELECT session_id FROM session_store.fork_session('up-b', 'alice', 's1', 'f2');
SELECT session_store.delete_session('up-b', 'carol', 'c2');
RESET ROLE;
CREATE TABLE upchk.before AS SELECT * FROM upchk.fingerprint();
SQL

check $db "installed at 1.0" \
	"SELECT extversion = '1.0' FROM pg_extension WHERE extname = 'session_store'"
check $db "1.0 signatures: append_messages has 7 arguments, no replace_messages" \
	"SELECT (SELECT pronargs FROM pg_proc WHERE proname = 'append_messages'
	         AND pronamespace = 'session_store'::regnamespace) = 7
	    AND to_regproc('session_store.replace_messages') IS NULL"
check $db "1.0 filled: 9 sessions (10 sids), messages, 6 keys per session, state" \
	"SELECT (SELECT n FROM upchk.before WHERE what = 'sessions') = 9
	    AND (SELECT n FROM upchk.before WHERE what = 'sid_seq') = 10
	    AND (SELECT n FROM upchk.before WHERE what = 'messages') > 200
	    AND (SELECT n FROM upchk.before WHERE what = 'idempotency_keys') = 8 * 5 + 1 - 5
	    AND (SELECT n FROM upchk.before WHERE what = 'app_states') = 2"
# the 1.1 module serving the 1.0 declarations gives 1.0 results
check $db "1.0 database, 1.1 module: a key replays whatever the content (1.0 rule)" \
	"SELECT replayed AND first_seq = 7 FROM session_store.append_messages('up-a', 'alice', 's1',
	     '[{\"other\": 1}]', NULL, NULL, 'key-4')"
check $db "1.0 database, 1.1 module: a null in a delta removes the key, latest-N window" \
	"SELECT NOT (state ? 'drop') AND NOT (state ? 'gone') AND state->>'step' = '20'
	        AND (SELECT array_agg(seq) FROM session_store.get_messages('up-a', 'alice', 's2', 3, NULL, 39)) = '{36,37,38}'
	 FROM session_store.get_session('up-a', 'alice', 's2')"
check $db "1.0 database, 1.1 module: list_sessions lists newest first, its token leads to the next page" \
	"SELECT (SELECT array_agg(session_id ORDER BY update_time DESC, user_id, session_id)
	         FROM session_store.sessions WHERE app_name = 'up-a')
	      = (SELECT array_agg(session_id) FROM (
	             (SELECT session_id FROM session_store.list_sessions('up-a', page_size => 2))
	             UNION ALL
	             (SELECT session_id FROM session_store.list_sessions('up-a', page_size => 10, page_token =>
	                  (SELECT next_page_token FROM session_store.list_sessions('up-a', page_size => 2) OFFSET 1)))) x)"
# a token handed out by the 1.0 declaration, to be continued after the update
token_1_0=$(q $db "SELECT next_page_token FROM session_store.list_sessions('up-a', page_size => 2) OFFSET 1")
check $db "1.0 database: nothing changed by the checks" \
	"SELECT bool_and(b.n IS NOT DISTINCT FROM a.n AND b.digest IS NOT DISTINCT FROM a.digest)
	 FROM upchk.before b FULL JOIN upchk.fingerprint() a USING (what)"

# ---------------------------------------------------------------------------
# 2. the update
# ---------------------------------------------------------------------------
q $db "ALTER EXTENSION session_store UPDATE TO '1.1'" >/dev/null
check $db "updated to 1.1" \
	"SELECT extversion = '1.1' FROM pg_extension WHERE extname = 'session_store'"
check $db "a list_sessions token of the 1.0 declaration continues its listing after the update" \
	"SELECT array_agg(session_id) = (SELECT array_agg(session_id) FROM (SELECT session_id FROM session_store.sessions
	         WHERE app_name = 'up-a' ORDER BY update_time DESC, user_id, session_id OFFSET 2) x)
	 FROM session_store.list_sessions('up-a', page_size => 10, page_token => '$token_1_0')"
check $db "every row kept: tables, sid sequence, the API's view of every session" \
	"SELECT bool_and(b.n IS NOT DISTINCT FROM a.n AND b.digest IS NOT DISTINCT FROM a.digest)
	    AND count(*) = 7
	 FROM upchk.before b FULL JOIN upchk.fingerprint() a USING (what)"
check $db "keys of 1.0 have no request digest and no removed count" \
	"SELECT count(*) = 36 AND count(request_digest) = 0 AND count(removed) = 0
	 FROM session_store.idempotency_keys"
check $db "one function per name: no 1.0 signature left beside its 1.1 one" \
	"SELECT count(*) = 16 AND bool_and(n = 1) FROM (SELECT proname, count(*) AS n FROM pg_proc
	 WHERE pronamespace = 'session_store'::regnamespace GROUP BY proname) p"
check $db "the new signatures are the ones left" \
	"SELECT to_regprocedure('session_store.create_session(text, text, jsonb, text, boolean)') IS NOT NULL
	    AND to_regprocedure('session_store.append_messages(text, text, text, jsonb, jsonb, bigint, text, boolean, timestamptz, boolean)') IS NOT NULL
	    AND to_regprocedure('session_store.get_messages(text, text, text, integer, bigint, bigint, timestamptz)') IS NOT NULL
	    AND to_regprocedure('session_store.replace_messages(text, text, text, jsonb, jsonb, jsonb, bigint, text, boolean)') IS NOT NULL
	    AND to_regprocedure('session_store.count_sessions(text, text)') IS NOT NULL
	    AND to_regprocedure('session_store.list_sessions(text, text, integer, text, boolean)') IS NOT NULL
	    AND to_regprocedure('session_store.list_sessions(text, text, integer, text)') IS NULL"
check $db "the new functions are members of the extension, the old ones are gone from it" \
	"SELECT count(*) = 16 FROM pg_depend d JOIN pg_proc p ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
	 WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
	   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'session_store')"

grants_sql="SELECT p.proname || ':' || coalesce(a.grantee::regrole::text, '-') || ':' || a.is_grantable
	FROM pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
	WHERE p.pronamespace = 'session_store'::regnamespace AND a.grantee <> p.proowner
	  AND a.privilege_type = 'EXECUTE'
	ORDER BY 1"
expected_grants="append_messages:ss_up_admin:true
append_messages:ss_up_app:false
clear_session:ss_up_app:false
create_session:-:false
create_session:ss_up_app:false
delete_session:ss_up_app:false
expire_sessions:ss_up_app:false
fork_session:ss_up_app:false
get_app_state:ss_up_app:false
get_messages:ss_up_app:false
get_messages:ss_up_reader:false
get_session:ss_up_app:false
get_session:ss_up_reader:false
get_user_state:ss_up_app:false
list_sessions:ss_up_app:false
pop_message:ss_up_app:false
rewind_session:ss_up_app:false"
check $db "every EXECUTE grant carried to the replacing signature (PUBLIC and grant option too); the new functions granted to no one" \
	"SELECT string_agg(g, E'\n' ORDER BY g) = \$e\$$expected_grants\$e\$ FROM ($grants_sql) x(g)"
check $db "PUBLIC: only what was granted to it (create_session); nothing on the new functions" \
	"SELECT string_agg(p.proname, ',') = 'create_session'
	 FROM pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
	 WHERE p.pronamespace = 'session_store'::regnamespace AND a.grantee = 0"

# the roles use the new signatures
check $db "the recipe's role calls create_session with keep_nulls" \
	"SET ROLE ss_up_app;
	 SELECT state -> 'k' = 'null' FROM session_store.create_session('up-a', 'alice', '{\"k\": null}', 'n1', keep_nulls => true)"
check $db "... append_messages with keep_nulls, message_time, verify_replay" \
	"SET ROLE ss_up_app;
	 SELECT first_seq = 1 AND NOT replayed FROM session_store.append_messages('up-a', 'alice', 'n1', '[{\"x\": 1}]',
	     keep_nulls => true, message_time => '2030-01-01 00:00:00+00', verify_replay => true, idempotency_key => 'n-1')"
check $db "... get_messages with after_time" \
	"SET ROLE ss_up_app;
	 SELECT array_agg(seq) = '{1}' FROM session_store.get_messages('up-a', 'alice', 'n1', after_time => '2030-01-01 00:00:00+00')"
asc_order=$(q $db "SELECT array_agg(user_id || '/' || session_id ORDER BY update_time, user_id DESC, session_id DESC)
	FROM session_store.sessions WHERE app_name = 'up-a'")
check $db "... list_sessions with ascending (its grant carried): oldest first, its token leads to the next page" \
	"SET ROLE ss_up_app;
	 SELECT '$asc_order' = (SELECT array_agg(u) FROM (
	             (SELECT user_id || '/' || session_id FROM session_store.list_sessions('up-a', page_size => 2, ascending => true))
	             UNION ALL
	             (SELECT user_id || '/' || session_id FROM session_store.list_sessions('up-a', page_size => 10, ascending => true,
	                  page_token => (SELECT next_page_token FROM session_store.list_sessions('up-a', page_size => 2,
	                                                                                         ascending => true) OFFSET 1)))) x(u))"
check $db "... a role without list_sessions still lacks it (42501)" \
	"SET ROLE ss_up_reader;
	 SELECT upchk.try(\$\$SELECT session_store.list_sessions('up-a', ascending => true)\$\$) = '42501'"
check $db "... and the 1.0 call forms, with 1.0 results: append_messages" \
	"SET ROLE ss_up_app;
	 SELECT first_seq = 42 AND version = 22 FROM session_store.append_messages('up-a', 'alice', 's1', '[{\"after\": 1}]')"
check $db "... get_messages" \
	"SET ROLE ss_up_app;
	 SELECT array_agg(seq) = '{41,42}' FROM session_store.get_messages('up-a', 'alice', 's1', 2)"
check $db "... a replayed key" \
	"SET ROLE ss_up_app;
	 SELECT replayed FROM session_store.append_messages('up-a', 'bob', 's1', '[]', NULL, NULL, 'key-8')"
check $db "a key stored by 1.0 replays even with verify_replay and other content" \
	"SET ROLE ss_up_app;
	 SELECT replayed AND first_seq = 7 FROM session_store.append_messages('up-a', 'alice', 's1', '[{\"other\": 2}]',
	     NULL, NULL, 'key-4', verify_replay => true)"
check $db "the new functions are not granted automatically (42501)" \
	"SET ROLE ss_up_app;
	 SELECT upchk.try(\$\$SELECT session_store.count_sessions('up-a')\$\$) = '42501'
	    AND upchk.try(\$\$SELECT session_store.replace_messages('up-a', 'alice', 's1', '[]', '[]')\$\$) = '42501'"
check $db "a role granted single functions keeps exactly those" \
	"SET ROLE ss_up_reader;
	 SELECT upchk.try(\$\$SELECT session_store.get_messages('up-a', 'alice', 's1', after_time => now())\$\$) = 'ok'
	    AND upchk.try(\$\$SELECT session_store.get_session('up-a', 'alice', 's1')\$\$) = 'ok'
	    AND upchk.try(\$\$SELECT session_store.append_messages('up-a', 'alice', 's1', '[]')\$\$) = '42501'
	    AND upchk.try(\$\$SELECT session_store.create_session('up-a', 'reader', NULL, 'r1')\$\$) = 'ok'"
check $db "the grant option was carried: its holder can grant the new append_messages" \
	"SET ROLE ss_up_admin;
	 GRANT EXECUTE ON FUNCTION session_store.append_messages(text, text, text, jsonb, jsonb, bigint, text, boolean, timestamptz, boolean) TO ss_up_reader;
	 RESET ROLE;
	 SELECT has_function_privilege('ss_up_reader', 'session_store.append_messages(text, text, text, jsonb, jsonb, bigint, text, boolean, timestamptz, boolean)', 'EXECUTE')"
q $db "GRANT EXECUTE ON FUNCTION session_store.replace_messages(text, text, text, jsonb, jsonb, jsonb, bigint, text, boolean),
                               session_store.count_sessions(text, text) TO ss_up_app" >/dev/null
check $db "granted, replace_messages works on the updated data (seq continues)" \
	"SET ROLE ss_up_app;
	 SELECT first_seq = 43 AND removed = 1 FROM session_store.replace_messages('up-a', 'alice', 's1',
	     '[{\"after\": 1}]', '[{\"replaced\": 1}]', idempotency_key => 'r-1')"
check $db "... count_sessions too" \
	"SET ROLE ss_up_app;
	 SELECT session_store.count_sessions('up-a') = 7 AND session_store.count_sessions('up-b', 'carol') = 2"
check $db "... and create_session takes the next sid" \
	"SET ROLE ss_up_app;
	 SELECT last_seq = 0 FROM session_store.create_session('up-b', 'dave', NULL, 'd1')"
check $db "new sessions take new sids" \
	"SELECT count(DISTINCT sid) = count(*) AND max(sid) = 13 FROM session_store.sessions"

# ---------------------------------------------------------------------------
# 3. pg_dump / pg_restore of the updated database
# ---------------------------------------------------------------------------
q $db "CREATE FUNCTION upchk.fingerprint_1_1() RETURNS TABLE (what text, n bigint, digest text)
	LANGUAGE sql AS \$\$
	    SELECT * FROM upchk.fingerprint()
	    UNION ALL
	    SELECT 'idempotency_keys 1.1', count(*), md5(string_agg(x::text, '|' ORDER BY x::text))
	    FROM session_store.idempotency_keys x
	\$\$" >/dev/null
dump=$(mktemp)
trap 'rm -f "$dump" "$dump.list"' EXIT
pg_dump -Fc -d "$db" -f "$dump"
createdb "$restored"
# A dump names no extension version: restored as it is, it would create the
# default version (1.2) and the grants on 1.1's signatures would fail.  The
# version the dump was made at is created first, and the dump's own schema
# and extension entries are left out.
q "$restored" "CREATE EXTENSION session_store VERSION '1.1'" >/dev/null
pg_restore -l "$dump" | grep -v -E ' (SCHEMA - session_store|EXTENSION - session_store|COMMENT - EXTENSION session_store) ' \
	> "$dump.list"
pg_restore -L "$dump.list" -d "$restored" "$dump"
check $restored "restored at 1.1" \
	"SELECT extversion = '1.1' FROM pg_extension WHERE extname = 'session_store'"
check $restored "restored: every row, key digest and sid sequence as in the updated database" \
	"SELECT string_agg(what || ' ' || n || ' ' || coalesce(digest, '-'), ',' ORDER BY what) = '$(
		q $db "SELECT string_agg(what || ' ' || n || ' ' || coalesce(digest, '-'), ',' ORDER BY what) FROM upchk.fingerprint_1_1()")'
	 FROM upchk.fingerprint_1_1()"
check $restored "restored: the carried and the new grants are there" \
	"SELECT string_agg(g, E'\n' ORDER BY g) = \$e\$$(q $db "SELECT string_agg(g, E'\n' ORDER BY g) FROM ($grants_sql) x(g)")\$e\$
	    AND string_agg(g, E'\n' ORDER BY g) LIKE '%append_messages:ss_up_app:false%'
	    AND string_agg(g, E'\n' ORDER BY g) LIKE '%replace_messages:ss_up_app:false%'
	 FROM ($grants_sql) x(g)"
check $restored "restored: a 1.1 key replays with the same content" \
	"SET ROLE ss_up_app;
	 SELECT replayed FROM session_store.append_messages('up-a', 'alice', 'n1', '[{\"x\": 1}]',
	     keep_nulls => true, message_time => '2030-01-01 00:00:00+00', verify_replay => true, idempotency_key => 'n-1')"
check $restored "... and fails with 42710 with other content" \
	"SET ROLE ss_up_app;
	 SELECT upchk.try(\$\$SELECT session_store.append_messages('up-a', 'alice', 'n1', '[{\"x\": 2}]',
	     idempotency_key => 'n-1', verify_replay => true)\$\$) = '42710'"
check $restored "... a replace_messages key replays with its removed count" \
	"SET ROLE ss_up_app;
	 SELECT replayed AND removed = 1 FROM session_store.replace_messages('up-a', 'alice', 's1',
	     '[{\"after\": 1}]', '[{\"replaced\": 1}]', idempotency_key => 'r-1')"
check $restored "... and the sequence continues" \
	"SET ROLE ss_up_app;
	 SELECT first_seq = 44 FROM session_store.append_messages('up-a', 'alice', 's1', '[{\"next\": 1}]')"

# ---------------------------------------------------------------------------
# 4. from 1.1 to 1.2
# ---------------------------------------------------------------------------
psql -X -q -v ON_ERROR_STOP=1 -d "$db" >/dev/null <<'SQL'
-- grants made at 1.1, on functions 1.2 replaces: a single function with
-- grant option, and the recipe's role has them all already
GRANT EXECUTE ON FUNCTION session_store.fork_session(text, text, text, text, bigint)
    TO ss_up_reader WITH GRANT OPTION;
GRANT EXECUTE ON FUNCTION session_store.pop_message(text, text, text, bigint) TO ss_up_admin;
-- list_sessions and get_session, both with grant option: list_sessions_with_state
-- (1.2) is granted to whoever holds both (ss_up_app too; ss_up_reader has
-- get_session only)
GRANT EXECUTE ON FUNCTION session_store.list_sessions(text, text, integer, text, boolean),
                          session_store.get_session(text, text, text)
    TO ss_up_admin WITH GRANT OPTION;
-- writes through the 1.1 declarations
SET ROLE ss_up_app;
SELECT session_id FROM session_store.create_session('up-a', 'eve', '{"k": 1}', 'e1', keep_nulls => true);
SELECT first_seq FROM session_store.append_messages('up-a', 'eve', 'e1', '[{"a": 1}, {"a": 2}, {"a": 3}]',
    idempotency_key => 'e-1', verify_replay => true);
SELECT session_id FROM session_store.fork_session('up-a', 'eve', 'e1', 'e2', 2);
RESET ROLE;
-- every row, idempotency_keys by its 1.1 columns
CREATE FUNCTION upchk.fingerprint_1_2() RETURNS TABLE (what text, n bigint, digest text)
LANGUAGE sql AS $$
    SELECT * FROM upchk.fingerprint()
    UNION ALL
    SELECT 'idempotency_keys 1.1', count(*),
           md5(string_agg((x.user_id, x.sid, x.idempotency_key, x.first_seq, x.last_seq, x.version,
                           x.update_time, x.request_digest, x.removed)::text, '|' ORDER BY x.user_id, x.sid, x.idempotency_key))
    FROM session_store.idempotency_keys x
$$;
CREATE TABLE upchk.before_1_2 AS SELECT * FROM upchk.fingerprint_1_2();
SQL
check $db "1.1 database, 1.2 module: the 1.1 declarations have no idempotency_key (42883)" \
	"SELECT upchk.try(\$\$SELECT session_store.create_session('up-a', 'eve', NULL, 'e9', idempotency_key => 'k')\$\$) = '42883'
	    AND upchk.try(\$\$SELECT * FROM session_store.pop_message('up-a', 'eve', 'e1', idempotency_key => 'k')\$\$) = '42883'"
check $db "1.1 database, 1.2 module: a 1.1 key replays, and fails with 42710 with other content" \
	"SELECT (SELECT replayed AND first_seq = 1 FROM session_store.append_messages('up-a', 'eve', 'e1',
	            '[{\"a\": 1}, {\"a\": 2}, {\"a\": 3}]', idempotency_key => 'e-1', verify_replay => true))
	    AND upchk.try(\$\$SELECT session_store.append_messages('up-a', 'eve', 'e1', '[]',
	            idempotency_key => 'e-1', verify_replay => true)\$\$) = '42710'"
grants_1_1=$(q $db "SELECT string_agg(g, E'\n' ORDER BY g) FROM ($grants_sql) x(g)")
# ... and after the update: those, plus list_sessions_with_state for the
# holders of both list_sessions and get_session, with the grant option held on both
grants_1_2=$(q $db "SELECT string_agg(g, E'\n' ORDER BY g) FROM (
	SELECT g FROM ($grants_sql) x(g)
	UNION ALL SELECT 'list_sessions_with_state:ss_up_admin:true'
	UNION ALL SELECT 'list_sessions_with_state:ss_up_app:false') y(g)")
init_privs_sql="SELECT string_agg(p.proname || ':' || coalesce(a.grantee::regrole::text, '-'), ',' ORDER BY 1)
	FROM pg_init_privs i JOIN pg_proc p ON i.classoid = 'pg_proc'::regclass AND i.objoid = p.oid,
	     aclexplode(i.initprivs) a
	WHERE p.pronamespace = 'session_store'::regnamespace AND a.grantee <> p.proowner"

q $db "ALTER EXTENSION session_store UPDATE" >/dev/null
check $db "updated to 1.2" \
	"SELECT extversion = '1.2' FROM pg_extension WHERE extname = 'session_store'"
check $db "every row kept: tables, 1.1 key columns, sid sequence, the API's view of every session" \
	"SELECT bool_and(b.n IS NOT DISTINCT FROM a.n AND b.digest IS NOT DISTINCT FROM a.digest)
	    AND count(*) = 8
	 FROM upchk.before_1_2 b FULL JOIN upchk.fingerprint_1_2() a USING (what)"
check $db "the keys stored before 1.2 have no operation (append keys)" \
	"SELECT count(*) = 39 AND count(operation) = 0 AND count(popped_message) = 0 AND count(popped_time) = 0
	 FROM session_store.idempotency_keys"
check $db "one function per name: no 1.1 signature left beside its 1.2 one" \
	"SELECT count(*) = 19 AND bool_and(n = 1) FROM (SELECT proname, count(*) AS n FROM pg_proc
	 WHERE pronamespace = 'session_store'::regnamespace GROUP BY proname) p"
check $db "the 1.2 signatures are the ones left, members of the extension" \
	"SELECT to_regprocedure('session_store.create_session(text, text, jsonb, text, boolean, text)') IS NOT NULL
	    AND to_regprocedure('session_store.fork_session(text, text, text, text, bigint, text)') IS NOT NULL
	    AND to_regprocedure('session_store.pop_message(text, text, text, bigint, text)') IS NOT NULL
	    AND to_regprocedure('session_store.rewind_session(text, text, text, bigint, bigint, text)') IS NOT NULL
	    AND to_regprocedure('session_store.clear_session(text, text, text, bigint, text)') IS NOT NULL
	    AND to_regprocedure('session_store.create_session(text, text, jsonb, text, boolean)') IS NULL
	    AND to_regprocedure('session_store.fork_session(text, text, text, text, bigint)') IS NULL
	    AND to_regprocedure('session_store.pop_message(text, text, text, bigint)') IS NULL
	    AND to_regprocedure('session_store.rewind_session(text, text, text, bigint, bigint)') IS NULL
	    AND to_regprocedure('session_store.clear_session(text, text, text, bigint)') IS NULL
	    AND (SELECT count(*) = 19 FROM pg_depend d JOIN pg_proc p ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
	         WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
	           AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'session_store'))"
check $db "delegate_functions() (1.2): a member of the extension, executable by its owner only" \
	"SELECT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
	           AND d.objid = 'session_store.delegate_functions()'::regprocedure AND d.deptype = 'e'
	           AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'session_store'))
	    AND NOT EXISTS (SELECT 1 FROM pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
	                    WHERE p.oid = 'session_store.delegate_functions()'::regprocedure AND a.grantee <> p.proowner)"
check $db "every EXECUTE grant carried to the replacing signature (PUBLIC and grant options too); list_sessions_with_state to the holders of list_sessions and get_session" \
	"SELECT string_agg(g, E'\n' ORDER BY g) = \$e\$$grants_1_2\$e\$
	    AND string_agg(g, E'\n' ORDER BY g) LIKE '%fork_session:ss_up_reader:true%'
	    AND string_agg(g, E'\n' ORDER BY g) LIKE '%create_session:-:false%'
	    AND string_agg(g, E'\n' ORDER BY g) LIKE '%pop_message:ss_up_admin:false%'
	 FROM ($grants_sql) x(g)"
check $db "no carried grant is recorded as the extension's own (pg_init_privs): pg_dump dumps them" \
	"SELECT ($init_privs_sql) IS NULL"

check $db "list_sessions_with_state (1.2) lists the sessions written before the update, each state as get_session's" \
	"SET ROLE ss_up_app;
	 SELECT count(*) > 0 AND bool_and(l.state = g.state) AND count(*) = count(g.*)
	    AND array_agg(l.session_id ORDER BY l.ord) = (SELECT array_agg(session_id) FROM session_store.list_sessions('up-a', page_size => 1000))
	 FROM session_store.list_sessions_with_state('up-a', page_size => 1000) WITH ORDINALITY
	      l(user_id, session_id, version, last_seq, create_time, update_time, next_page_token, state, ord)
	 LEFT JOIN LATERAL session_store.get_session('up-a', l.user_id, l.session_id) g ON true"
check $db "... a role with get_session but not list_sessions did not get it (42501)" \
	"SET ROLE ss_up_reader;
	 SELECT upchk.try(\$\$SELECT * FROM session_store.list_sessions_with_state('up-a')\$\$) = '42501'"
check $db "... the holder of both grant options can grant it" \
	"SET ROLE ss_up_admin;
	 GRANT EXECUTE ON FUNCTION session_store.list_sessions_with_state(text, text, integer, text, boolean) TO ss_up_reader;
	 SET ROLE ss_up_reader;
	 SELECT count(*) > 0 FROM session_store.list_sessions_with_state('up-a')"
q $db "SET ROLE ss_up_admin;
       REVOKE EXECUTE ON FUNCTION session_store.list_sessions_with_state(text, text, integer, text, boolean) FROM ss_up_reader" >/dev/null

check $db "the recipe's role creates with a key; a retry returns the session, writing nothing" \
	"SET ROLE ss_up_app;
	 SELECT (SELECT version = 0 FROM session_store.create_session('up-a', 'eve', '{\"x\": 1}', 'k1', idempotency_key => 'ck'))
	    AND (SELECT first_seq = 1 FROM session_store.append_messages('up-a', 'eve', 'k1', '[{}]'))
	    AND (SELECT version = 1 AND last_seq = 1 FROM session_store.create_session('up-a', 'eve', '{\"x\": 1}', 'k1', idempotency_key => 'ck'))
	    AND upchk.try(\$\$SELECT session_store.create_session('up-a', 'eve', NULL, 'e1', idempotency_key => 'ck')\$\$) = '23505'"
q $db "SET ROLE ss_up_reader;
	SELECT session_id FROM session_store.fork_session('up-a', 'eve', 'e1', 'k2', idempotency_key => 'fk')" >/dev/null
q $db "SELECT first_seq FROM session_store.append_messages('up-a', 'eve', 'k2', '[{}]')" >/dev/null
check $db "... forks with a key (the grant option's holder too, its grant carried); a retry returns the fork as it is" \
	"SET ROLE ss_up_reader;
	 SELECT (SELECT last_seq = 4 AND version = 1 FROM session_store.fork_session('up-a', 'eve', 'e1', 'k2', idempotency_key => 'fk'))
	    AND (SELECT count(*) = 4 FROM session_store.get_messages('up-a', 'eve', 'k2'))"
check $db "... pops, rewinds and clears with keys on data written before the update; retries return the first results" \
	"SET ROLE ss_up_app;
	 SELECT (SELECT array_agg(seq) = '{1,2,3}' FROM session_store.get_messages('up-a', 'eve', 'e1'))
	    AND (SELECT seq = 3 AND message = '{\"a\": 3}' FROM session_store.pop_message('up-a', 'eve', 'e1', idempotency_key => 'pk'))"
check $db "... (the retries)" \
	"SET ROLE ss_up_app;
	 SELECT (SELECT count(*) = 2 FROM session_store.get_messages('up-a', 'eve', 'e1'))
	    AND (SELECT seq = 3 AND message = '{\"a\": 3}' FROM session_store.pop_message('up-a', 'eve', 'e1', 0, idempotency_key => 'pk'))
	    AND session_store.rewind_session('up-a', 'bob', 's3', 30, idempotency_key => 'rk') = 9
	    AND session_store.clear_session('up-b', 'alice', 's1', idempotency_key => 'xk') = 40"
check $db "... (the retries of rewind and clear, and what they left)" \
	"SET ROLE ss_up_app;
	 SELECT session_store.rewind_session('up-a', 'bob', 's3', 30, 0, idempotency_key => 'rk') = 9
	    AND session_store.clear_session('up-b', 'alice', 's1', 0, idempotency_key => 'xk') = 40
	    AND (SELECT max(seq) = 30 FROM session_store.get_messages('up-a', 'bob', 's3'))
	    AND (SELECT count(*) = 0 FROM session_store.get_messages('up-b', 'alice', 's1'))
	    AND upchk.try(\$\$SELECT * FROM session_store.pop_message('up-a', 'bob', 's3', idempotency_key => 'rk')\$\$) = '42710'"
check $db "the grant carried to ss_up_admin works: pop_message with a key" \
	"SET ROLE ss_up_admin;
	 SELECT count(*) = 1 FROM session_store.pop_message('up-a', 'bob', 's3', idempotency_key => 'pk2')"
check $db "a key stored before the update is an append's: 42710 for the new kinds, a replay for append_messages" \
	"SET ROLE ss_up_app;
	 SELECT upchk.try(\$\$SELECT session_store.create_session('up-a', 'eve', NULL, 'e1', idempotency_key => 'e-1')\$\$) = '42710'
	    AND (SELECT replayed FROM session_store.append_messages('up-a', 'eve', 'e1', '[{\"a\": 1}, {\"a\": 2}, {\"a\": 3}]',
	             idempotency_key => 'e-1', verify_replay => true))
	    AND upchk.try(\$\$SELECT session_store.append_messages('up-a', 'eve', 'k1', '[]', idempotency_key => 'ck')\$\$) = '42710'"

dump12=$(mktemp)
trap 'rm -f "$dump" "$dump.list" "$dump12"' EXIT
pg_dump -Fc -d "$db" -f "$dump12"
dropdb "$restored"
createdb "$restored"
pg_restore -d "$restored" "$dump12"
check $restored "restored at 1.2: every row, key and grant as in the updated database" \
	"SELECT extversion = '1.2' FROM pg_extension WHERE extname = 'session_store'
	    AND (SELECT string_agg(what || ' ' || n || ' ' || coalesce(digest, '-'), ',' ORDER BY what) FROM upchk.fingerprint_1_1())
	        = '$(q $db "SELECT string_agg(what || ' ' || n || ' ' || coalesce(digest, '-'), ',' ORDER BY what) FROM upchk.fingerprint_1_1()")'
	    AND (SELECT string_agg(g, E'\n' ORDER BY g) FROM ($grants_sql) x(g)) = \$e\$$grants_1_2\$e\$"
check $restored "restored: a create's key still replays" \
	"SET ROLE ss_up_app;
	 SELECT version = 1 FROM session_store.create_session('up-a', 'eve', NULL, 'k1', idempotency_key => 'ck')"

# ---------------------------------------------------------------------------
# 5. the regress suite on the updated database
# ---------------------------------------------------------------------------
# pg_regress sets these when it creates its database; here it uses ours.
# The suite's outputs depend on sid % 5 (list_sessions): start the
# sequence where a fresh database's would be, modulo 5.
psql -X -q -v ON_ERROR_STOP=1 -d "$db" >/dev/null <<SQL
ALTER DATABASE $db SET lc_messages TO 'C';
ALTER DATABASE $db SET lc_monetary TO 'C';
ALTER DATABASE $db SET lc_numeric TO 'C';
ALTER DATABASE $db SET lc_time TO 'C';
ALTER DATABASE $db SET bytea_output TO 'hex';
ALTER DATABASE $db SET timezone_abbreviations TO 'Default';
SELECT setval('session_store.session_sid_seq',
              (SELECT (last_value + 4) / 5 * 5 FROM session_store.session_sid_seq));
SQL
echo "# regress suite on the updated database"
if ! make -s installcheck ISOLATION= CONTRIB_TESTDB="$db" EXTRA_REGRESS_OPTS=--use-existing; then
	head -200 regression.diffs 2>/dev/null
	echo "not ok - the regress suite on the updated database"
	exit 1
fi
echo "ok - the regress suite passes on the updated database"

for d in "$db" "$restored"; do dropdb "$d"; done
for r in "${roles[@]}"; do
	psql -X -q -d postgres -c "DROP OWNED BY $r; DROP ROLE $r" >/dev/null
done
echo "upgrade: all $nchecks checks passed"
