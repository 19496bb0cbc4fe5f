-- search_path: nothing the extension runs can be hijacked by objects planted
-- on the caller's search_path.
--
-- A non-superuser role (ss_evil), given only the README's grant recipe and
-- owning a schema "evil", plants there everything the extension's SQL could
-- resolve by name: operators (=, <>, <, >, <=, >=, +, -, ||, ->, ->>, ~) for
-- text, bigint, integer, timestamptz, jsonb, boolean and text[]; functions
-- such as now(), clock_timestamp(), gen_random_uuid(), nextval(regclass),
-- jsonb_array_elements(jsonb), jsonb_build_object, jsonb_delete, int8(int4);
-- aggregates max(bigint), max(timestamptz), min, sum, count(*), jsonb_agg;
-- domains named text, jsonb, int8, int4, timestamptz, regclass, interval,
-- bool, uuid; views named like the extension's tables and a sequence named
-- like its sequence.  In pg_temp (searched first for relations and types
-- whatever search_path says; never for functions or operators) it plants
-- views, a sequence and domains of the same names.  Every planted function,
-- operator, aggregate, domain check and view raises "hijacked: ..." when
-- used, and the planted sequences start at 9e15.  Coalesce, nullif,
-- greatest and least are syntax, not names, so cannot be planted.
--
-- With search_path = evil, pg_catalog, public the role then runs a scenario
-- that calls every function of the API (create with and without an id,
-- get, appends with delta / expected_version / idempotency_key and a replay,
-- a stale version (40001) and a missing session (42704), get_messages in
-- all three windows, fork, pop, rewind, clear, app and user state, delete,
-- list_sessions over three pages by app and two by user, expire_sessions
-- for one app and for all apps; 1.1: keep_nulls, message_time,
-- verify_replay and its 42710, after_time, replace_messages with a replay
-- and a 40001, count_sessions, list_sessions ascending over two pages by
-- app and two by user; 1.2: create, fork, pop, rewind and clear with
-- idempotency keys, their replays and a 42710), and every result must be
-- the right one.
--
-- The extension prepares its statements once per backend (the first call
-- that needs one) and the plan cache re-analyzes them when search_path has
-- changed or plans are discarded.  One pg_prove file is one backend, so the
-- scenario runs four times:
--   p1  cold backend: the first call of the extension in this backend is
--       made under the evil search_path with everything in "evil" planted,
--       so every statement is first prepared there (checked through
--       pg_backend_memory_contexts: none before, all of them after p1, and
--       no new one later);
--   p2  clean search_path: the plans are re-analyzed without evil in sight;
--   p3  plans prepared under the clean path, then the pg_temp objects are
--       planted and search_path goes back to evil first: the cached plans
--       are revalidated under the hijacking path;
--   p4  same path, DISCARD PLANS: everything re-analyzed with all traps set.
-- Each trap is also shown to work: unqualified SQL run as the superuser (the
-- role the extension's SQL runs as) under the same search_path hits it.
--
-- Results are captured into a temp table while the traps are set and are
-- checked with pgTAP at the end, after the pg_temp traps are dropped and
-- search_path is reset: pgTAP's own SQL is unqualified and would trip them.
\set ON_ERROR_STOP 1
\pset format unaligned
\pset tuples_only true
\pset pager off

BEGIN;
-- the edition named by SS_EDITION; sets ss_portable
\ir install.psql

CREATE ROLE ss_evil NOLOGIN;
GRANT USAGE ON SCHEMA session_store TO ss_evil;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA session_store TO ss_evil;
CREATE SCHEMA evil AUTHORIZATION ss_evil;

-------------------------------------------------------------------------------
-- Harness, created before anything is planted.  Everything in it is
-- schema-qualified, so it works whatever search_path is in force.
-------------------------------------------------------------------------------

-- what each call returned ({"error": sqlstate} when it failed)
CREATE TEMP TABLE res (phase text, step text, val jsonb, code text, msg text);
GRANT ALL ON res TO PUBLIC;

-- run query q (one row, one jsonb column) and record its result or error
CREATE FUNCTION pg_temp.capture(p_phase pg_catalog.text, p_step pg_catalog.text,
                                q pg_catalog.text)
RETURNS pg_catalog.jsonb LANGUAGE plpgsql AS $f$
DECLARE
    v pg_catalog.jsonb;
BEGIN
    BEGIN
        EXECUTE q INTO v;
    EXCEPTION WHEN OTHERS THEN
        INSERT INTO pg_temp.res (phase, step, code, msg)
        VALUES (p_phase, p_step, SQLSTATE, SQLERRM);
        RETURN NULL;
    END;
    INSERT INTO pg_temp.res (phase, step, val) VALUES (p_phase, p_step, v);
    RETURN v;
END
$f$;

-- CachedPlanSource contexts of the extension's statements in this backend
CREATE FUNCTION pg_temp.capture_plan_count(p_phase pg_catalog.text, p_step pg_catalog.text)
RETURNS void LANGUAGE sql AS $f$
    SELECT pg_temp.capture(p_phase, p_step, $q$
        SELECT pg_catalog.to_jsonb(pg_catalog.count(*))
        FROM pg_catalog.pg_backend_memory_contexts
        WHERE name OPERATOR(pg_catalog.=) 'CachedPlanSource'
          AND ident OPERATOR(pg_catalog.~)
              '^(SELECT|INSERT|UPDATE|DELETE|WITH) .*session_store\.(sessions|messages|idempotency_keys|user_states|app_states)\M'
          AND ident OPERATOR(pg_catalog.!~) 'pg_temp'$q$);
$f$;

-- The scenario, first part: every API function but expire_sessions.  App
-- names carry the phase, so the phases do not see each other's sessions.
CREATE FUNCTION pg_temp.scenario_a(p pg_catalog.text)
RETURNS void LANGUAGE plpgsql AS $f$
DECLARE
    v pg_catalog.jsonb;
    gen pg_catalog.text;
    tok pg_catalog.text;
    la pg_catalog.text := pg_catalog.concat(p, '-list');
    ea pg_catalog.text := pg_catalog.concat(p, '-expire');
BEGIN
    PERFORM pg_temp.capture(p, '01 create_session with an id and routed state', pg_catalog.format($q$
        SELECT pg_catalog.to_jsonb(s) OPERATOR(pg_catalog.-) '{app_name,create_time,update_time}'::pg_catalog.text[]
        FROM session_store.create_session(%L, 'alice',
             '{"goal": "Lisbon", "user:home": "Berlin", "app:model": "m1", "temp:scratch": 1}', 's1') s
        $q$, p));
    v := pg_temp.capture(p, '02 create_session with a generated id', pg_catalog.format($q$
        SELECT pg_catalog.jsonb_build_object('id', session_id,
               'uuid', session_id OPERATOR(pg_catalog.~) '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$',
               'state', state, 'version', version, 'last_seq', last_seq)
        FROM session_store.create_session(%L, 'alice') s
        $q$, p));
    gen := pg_catalog.jsonb_extract_path_text(v, 'id');
    PERFORM pg_temp.capture(p, '03 append_messages, one message', pg_catalog.format($q$
        SELECT pg_catalog.to_jsonb(r) OPERATOR(pg_catalog.-) 'update_time'
        FROM session_store.append_messages(%L, 'alice', 's1', '[{"n": 1}]') r
        $q$, p));
    PERFORM pg_temp.capture(p, '04 append_messages, two messages, delta, expected_version, key', pg_catalog.format($q$
        SELECT pg_catalog.to_jsonb(r) OPERATOR(pg_catalog.-) 'update_time'
        FROM session_store.append_messages(%L, 'alice', 's1', '[{"n": 2}, {"n": 3}]',
             state_delta => '{"step": "dates", "goal": null, "user:home": "Lisbon",
                              "app:model": "m2", "app:region": "eu", "temp:x": 1}',
             expected_version => 1, idempotency_key => 'req-1') r
        $q$, p));
    PERFORM pg_temp.capture(p, '05 append_messages, same key again: replayed', pg_catalog.format($q$
        SELECT pg_catalog.to_jsonb(r) OPERATOR(pg_catalog.-) 'update_time'
        FROM session_store.append_messages(%L, 'alice', 's1', '[{"n": 2}, {"n": 3}]',
             state_delta => '{"step": "dates", "goal": null, "user:home": "Lisbon",
                              "app:model": "m2", "app:region": "eu", "temp:x": 1}',
             expected_version => 1, idempotency_key => 'req-1') r
        $q$, p));
    PERFORM pg_temp.capture(p, '06 append_messages, stale expected_version: 40001', pg_catalog.format($q$
        SELECT pg_catalog.to_jsonb(r) OPERATOR(pg_catalog.-) 'update_time'
        FROM session_store.append_messages(%L, 'alice', 's1', '[{"n": 9}]',
             expected_version => 1, idempotency_key => 'req-2') r
        $q$, p));
    PERFORM pg_temp.capture(p, '07 get_session: merged state', pg_catalog.format($q$
        SELECT pg_catalog.to_jsonb(s) OPERATOR(pg_catalog.-) '{app_name,create_time,update_time}'::pg_catalog.text[]
        FROM session_store.get_session(%L, 'alice', 's1') s
        $q$, p));
    PERFORM pg_temp.capture(p, '08 get_app_state', pg_catalog.format($q$
        SELECT session_store.get_app_state(%L)
        $q$, p));
    PERFORM pg_temp.capture(p, '09 get_user_state', pg_catalog.format($q$
        SELECT session_store.get_user_state(%L, 'alice')
        $q$, p));
    PERFORM pg_temp.capture(p, '10 get_messages, all', pg_catalog.format($q$
        SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('seq', seq, 'message', message))
        FROM session_store.get_messages(%L, 'alice', 's1')
        $q$, p));
    PERFORM pg_temp.capture(p, '11 get_messages, max_count', pg_catalog.format($q$
        SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('seq', seq, 'message', message))
        FROM session_store.get_messages(%L, 'alice', 's1', max_count => 2)
        $q$, p));
    PERFORM pg_temp.capture(p, '12 get_messages, after_seq and before_seq', pg_catalog.format($q$
        SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('seq', seq, 'message', message))
        FROM session_store.get_messages(%L, 'alice', 's1', after_seq => 1, before_seq => 3)
        $q$, p));
    PERFORM pg_temp.capture(p, '13 fork_session up to seq 2', pg_catalog.format($q$
        SELECT pg_catalog.to_jsonb(s) OPERATOR(pg_catalog.-) '{app_name,create_time,update_time}'::pg_catalog.text[]
        FROM session_store.fork_session(%L, 'alice', 's1', 'f1', up_to_seq => 2) s
        $q$, p));
    PERFORM pg_temp.capture(p, '14 get_messages of the fork', pg_catalog.format($q$
        SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('seq', seq, 'message', message))
        FROM session_store.get_messages(%L, 'alice', 'f1')
        $q$, p));
    PERFORM pg_temp.capture(p, '15 pop_message', pg_catalog.format($q$
        SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('seq', seq, 'message', message))
        FROM session_store.pop_message(%L, 'alice', 's1')
        $q$, p));
    PERFORM pg_temp.capture(p, '16 append_messages after pop: seq not reused', pg_catalog.format($q$
        SELECT pg_catalog.to_jsonb(r) OPERATOR(pg_catalog.-) 'update_time'
        FROM session_store.append_messages(%L, 'alice', 's1', '[{"n": 4}]') r
        $q$, p));
    PERFORM pg_temp.capture(p, '17 rewind_session to 1', pg_catalog.format($q$
        SELECT pg_catalog.to_jsonb(session_store.rewind_session(%L, 'alice', 's1', 1))
        $q$, p));
    PERFORM pg_temp.capture(p, '18 clear_session of the fork', pg_catalog.format($q$
        SELECT pg_catalog.to_jsonb(session_store.clear_session(%L, 'alice', 'f1'))
        $q$, p));
    PERFORM pg_temp.capture(p, '19 session head and messages after pop, rewind', pg_catalog.format($q$
        SELECT pg_catalog.jsonb_build_object('version', s.version, 'last_seq', s.last_seq,
               'seqs', (SELECT pg_catalog.jsonb_agg(m.seq)
                        FROM session_store.get_messages(%L, 'alice', 's1') m))
        FROM session_store.get_session(%L, 'alice', 's1') s
        $q$, p, p));
    PERFORM pg_temp.capture(p, '20 get_messages of a missing session: 42704', pg_catalog.format($q$
        SELECT pg_catalog.jsonb_agg(seq) FROM session_store.get_messages(%L, 'alice', 'nope')
        $q$, p));
    PERFORM pg_temp.capture(p, '21 delete_session of the generated id', pg_catalog.format($q$
        SELECT pg_catalog.to_jsonb(session_store.delete_session(%L, 'alice', %L))
        $q$, p, gen));
    PERFORM pg_temp.capture(p, '22 delete_session again', pg_catalog.format($q$
        SELECT pg_catalog.to_jsonb(session_store.delete_session(%L, 'alice', %L))
        $q$, p, gen));
    PERFORM pg_temp.capture(p, '23 get_session of the deleted session: no row', pg_catalog.format($q$
        SELECT pg_catalog.to_jsonb(pg_catalog.count(*)) FROM session_store.get_session(%L, 'alice', %L)
        $q$, p, gen));

    -- listing: created oldest first, so that most recent first is also the
    -- (user_id, session_id) order, whatever update_times tie
    PERFORM pg_temp.capture(p, '24 create_session x5 for listing', pg_catalog.format($q$
        SELECT pg_catalog.jsonb_agg(s.session_id)
        FROM (VALUES ('u2', 's3'), ('u2', 's2'), ('u2', 's1'), ('u1', 's2'), ('u1', 's1')) AS v(u, sid)
        CROSS JOIN LATERAL session_store.create_session(%L, v.u, NULL, v.sid) s
        $q$, la));
    v := pg_temp.capture(p, '25 list_sessions by app, page 1', pg_catalog.format($q$
        SELECT pg_catalog.jsonb_build_object(
               'rows', pg_catalog.jsonb_agg(pg_catalog.concat(user_id, '/', session_id)),
               'tokens', pg_catalog.jsonb_agg(next_page_token))
        FROM session_store.list_sessions(%L, page_size => 2)
        $q$, la));
    tok := pg_catalog.jsonb_extract_path_text(v, 'tokens', '1');
    v := pg_temp.capture(p, '26 list_sessions by app, page 2', pg_catalog.format($q$
        SELECT pg_catalog.jsonb_build_object(
               'rows', pg_catalog.jsonb_agg(pg_catalog.concat(user_id, '/', session_id)),
               'tokens', pg_catalog.jsonb_agg(next_page_token))
        FROM session_store.list_sessions(%L, page_size => 2, page_token => %L)
        $q$, la, tok));
    tok := pg_catalog.jsonb_extract_path_text(v, 'tokens', '1');
    PERFORM pg_temp.capture(p, '27 list_sessions by app, page 3', pg_catalog.format($q$
        SELECT pg_catalog.jsonb_build_object(
               'rows', pg_catalog.jsonb_agg(pg_catalog.concat(user_id, '/', session_id)),
               'tokens', pg_catalog.jsonb_agg(next_page_token))
        FROM session_store.list_sessions(%L, page_size => 2, page_token => %L)
        $q$, la, tok));
    v := pg_temp.capture(p, '28 list_sessions by user, page 1', pg_catalog.format($q$
        SELECT pg_catalog.jsonb_build_object(
               'rows', pg_catalog.jsonb_agg(pg_catalog.concat(user_id, '/', session_id)),
               'tokens', pg_catalog.jsonb_agg(next_page_token))
        FROM session_store.list_sessions(%L, 'u2', page_size => 2)
        $q$, la));
    tok := pg_catalog.jsonb_extract_path_text(v, 'tokens', '1');
    PERFORM pg_temp.capture(p, '29 list_sessions by user, page 2', pg_catalog.format($q$
        SELECT pg_catalog.jsonb_build_object(
               'rows', pg_catalog.jsonb_agg(pg_catalog.concat(user_id, '/', session_id)),
               'tokens', pg_catalog.jsonb_agg(next_page_token))
        FROM session_store.list_sessions(%L, 'u2', page_size => 2, page_token => %L)
        $q$, la, tok));

    -- sessions for expire_sessions; old1 and old2 are made idle by backdate()
    PERFORM pg_temp.capture(p, '30 create_session x3 for expiry', pg_catalog.format($q$
        SELECT pg_catalog.jsonb_agg(s.session_id)
        FROM (VALUES ('old1'), ('old2'), ('fresh')) AS v(sid)
        CROSS JOIN LATERAL session_store.create_session(%L, 'carol', '{"user:tier": "gold"}', v.sid) s
        $q$, ea));
    PERFORM pg_temp.capture(p, '31 append_messages to a session about to expire', pg_catalog.format($q$
        SELECT pg_catalog.to_jsonb(r) OPERATOR(pg_catalog.-) 'update_time'
        FROM session_store.append_messages(%L, 'carol', 'old1', '[{"n": 1}]', idempotency_key => 'k') r
        $q$, ea));

    -- the 1.1 arguments and functions
    PERFORM pg_temp.capture(p, '40 create_session with keep_nulls', pg_catalog.format($q$
        SELECT s.state FROM session_store.create_session(%L, 'vera', '{"k": null, "user:u": null}', 'v',
                                                         keep_nulls => true) s
        $q$, p));
    PERFORM pg_temp.capture(p, '41 append_messages with keep_nulls, message_time, verify_replay', pg_catalog.format($q$
        SELECT pg_catalog.to_jsonb(r) OPERATOR(pg_catalog.-) 'update_time'
        FROM session_store.append_messages(%L, 'vera', 'v', '[{"v": 1}, {"v": 2}]', '{"k": null}',
             idempotency_key => 'vk', keep_nulls => true,
             message_time => '2026-01-01 00:00:00+00', verify_replay => true) r
        $q$, p));
    PERFORM pg_temp.capture(p, '42 append_messages, same request again: replayed', pg_catalog.format($q$
        SELECT pg_catalog.to_jsonb(r) OPERATOR(pg_catalog.-) 'update_time'
        FROM session_store.append_messages(%L, 'vera', 'v', '[{"v": 1}, {"v": 2}]', '{"k": null}',
             idempotency_key => 'vk', keep_nulls => true,
             message_time => '2026-01-01 00:00:00+00', verify_replay => true) r
        $q$, p));
    PERFORM pg_temp.capture(p, '43 append_messages, same key, other request: 42710', pg_catalog.format($q$
        SELECT pg_catalog.to_jsonb(r) OPERATOR(pg_catalog.-) 'update_time'
        FROM session_store.append_messages(%L, 'vera', 'v', '[{"v": 3}]',
             idempotency_key => 'vk', verify_replay => true) r
        $q$, p));
    PERFORM pg_temp.capture(p, '44 get_messages after a time', pg_catalog.format($q$
        SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('seq', seq, 'message', message,
               'at_message_time', create_time OPERATOR(pg_catalog.=) '2026-01-01 00:00:00+00'::pg_catalog.timestamptz))
        FROM session_store.get_messages(%L, 'vera', 'v', after_time => '2026-01-01 00:00:00+00')
        $q$, p));
    PERFORM pg_temp.capture(p, '45 replace_messages', pg_catalog.format($q$
        SELECT pg_catalog.to_jsonb(r) OPERATOR(pg_catalog.-) 'update_time'
        FROM session_store.replace_messages(%L, 'vera', 'v', '[{"v": 2}]', '[{"w": 1}]',
             '{"k": 1}', idempotency_key => 'rk') r
        $q$, p));
    PERFORM pg_temp.capture(p, '46 replace_messages, replayed', pg_catalog.format($q$
        SELECT pg_catalog.to_jsonb(r) OPERATOR(pg_catalog.-) 'update_time'
        FROM session_store.replace_messages(%L, 'vera', 'v', '[{"v": 2}]', '[{"w": 1}]',
             '{"k": 1}', idempotency_key => 'rk') r
        $q$, p));
    PERFORM pg_temp.capture(p, '47 replace_messages, no longer the suffix: 40001', pg_catalog.format($q$
        SELECT pg_catalog.to_jsonb(r) OPERATOR(pg_catalog.-) 'update_time'
        FROM session_store.replace_messages(%L, 'vera', 'v', '[{"v": 2}]', '[{"w": 2}]') r
        $q$, p));
    PERFORM pg_temp.capture(p, '48 session after replace', pg_catalog.format($q$
        SELECT pg_catalog.jsonb_build_object('version', s.version, 'last_seq', s.last_seq, 'state', s.state,
               'log', (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(m.seq, m.message) ORDER BY m.seq)
                       FROM session_store.get_messages(%L, 'vera', 'v') m))
        FROM session_store.get_session(%L, 'vera', 'v') s
        $q$, p, p));
    PERFORM pg_temp.capture(p, '49 count_sessions', pg_catalog.format($q$
        SELECT pg_catalog.jsonb_build_object('app', session_store.count_sessions(%L),
                                             'user', session_store.count_sessions(%L, 'vera'))
        $q$, p, p));

    -- 1.1: the listing in ascending order (created oldest first: the
    -- reverse of 25-29, whatever update_times tie)
    v := pg_temp.capture(p, '50 list_sessions ascending by app, page 1', pg_catalog.format($q$
        SELECT pg_catalog.jsonb_build_object(
               'rows', pg_catalog.jsonb_agg(pg_catalog.concat(user_id, '/', session_id)),
               'tokens', pg_catalog.jsonb_agg(next_page_token))
        FROM session_store.list_sessions(%L, page_size => 3, ascending => true)
        $q$, la));
    tok := pg_catalog.jsonb_extract_path_text(v, 'tokens', '2');
    PERFORM pg_temp.capture(p, '51 list_sessions ascending by app, page 2', pg_catalog.format($q$
        SELECT pg_catalog.jsonb_build_object(
               'rows', pg_catalog.jsonb_agg(pg_catalog.concat(user_id, '/', session_id)),
               'tokens', pg_catalog.jsonb_agg(next_page_token))
        FROM session_store.list_sessions(%L, page_size => 3, page_token => %L, ascending => true)
        $q$, la, tok));
    v := pg_temp.capture(p, '52 list_sessions ascending by user, page 1', pg_catalog.format($q$
        SELECT pg_catalog.jsonb_build_object(
               'rows', pg_catalog.jsonb_agg(pg_catalog.concat(user_id, '/', session_id)),
               'tokens', pg_catalog.jsonb_agg(next_page_token))
        FROM session_store.list_sessions(%L, 'u2', page_size => 2, ascending => true)
        $q$, la));
    tok := pg_catalog.jsonb_extract_path_text(v, 'tokens', '1');
    PERFORM pg_temp.capture(p, '53 list_sessions ascending by user, page 2', pg_catalog.format($q$
        SELECT pg_catalog.jsonb_build_object(
               'rows', pg_catalog.jsonb_agg(pg_catalog.concat(user_id, '/', session_id)),
               'tokens', pg_catalog.jsonb_agg(next_page_token))
        FROM session_store.list_sessions(%L, 'u2', page_size => 2, page_token => %L, ascending => true)
        $q$, la, tok));

    -- 1.2: the listing with each session's merged state
    v := pg_temp.capture(p, '54 list_sessions_with_state by app, page 1', pg_catalog.format($q$
        SELECT pg_catalog.jsonb_build_object(
               'rows', pg_catalog.jsonb_agg(pg_catalog.concat(user_id, '/', session_id)),
               'states', pg_catalog.jsonb_agg(state),
               'tokens', pg_catalog.jsonb_agg(next_page_token))
        FROM session_store.list_sessions_with_state(%L, page_size => 2)
        $q$, la));
    tok := pg_catalog.jsonb_extract_path_text(v, 'tokens', '1');
    PERFORM pg_temp.capture(p, '55 list_sessions_with_state by app, page 2', pg_catalog.format($q$
        SELECT pg_catalog.jsonb_build_object(
               'rows', pg_catalog.jsonb_agg(pg_catalog.concat(user_id, '/', session_id)),
               'tokens', pg_catalog.jsonb_agg(next_page_token))
        FROM session_store.list_sessions_with_state(%L, page_size => 2, page_token => %L)
        $q$, la, tok));
    PERFORM pg_temp.capture(p, '56 list_sessions_with_state: each state is get_session''s', pg_catalog.format($q$
        SELECT pg_catalog.jsonb_build_object(
               'listed', pg_catalog.count(*) OPERATOR(pg_catalog.>) 0,
               'as_get_session', pg_catalog.bool_and(l.state OPERATOR(pg_catalog.=) g.state),
               'user_and_app_keys', pg_catalog.bool_or(l.state OPERATOR(pg_catalog.?) 'user:home'
                                                       AND l.state OPERATOR(pg_catalog.?) 'app:model'))
        FROM session_store.list_sessions_with_state(%L, 'alice') l
        CROSS JOIN LATERAL session_store.get_session(%1$L, l.user_id, l.session_id) g
        $q$, p));

    -- 1.2: idempotency keys of the other writes
    PERFORM pg_temp.capture(p, '60 create_session with a key, then its retry', pg_catalog.format($q$
        SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('version', s.version, 'state', s.state))
        FROM (VALUES (1), (2)) AS v(i)
        CROSS JOIN LATERAL session_store.create_session(%L, 'kim', '{"a": 1}', 'k1', idempotency_key => 'ck') s
        $q$, p));
    PERFORM pg_temp.capture(p, '61 fork_session with a key, then its retry', pg_catalog.format($q$
        SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('session_id', s.session_id, 'version', s.version))
        FROM (VALUES (1), (2)) AS v(i)
        CROSS JOIN LATERAL session_store.fork_session(%L, 'kim', 'k1', 'k2', idempotency_key => 'fk') s
        $q$, p));
    PERFORM pg_temp.capture(p, '62 messages to remove', pg_catalog.format($q$
        SELECT pg_catalog.to_jsonb(r) OPERATOR(pg_catalog.-) 'update_time'
        FROM session_store.append_messages(%L, 'kim', 'k1', '[{"n": 1}, {"n": 2}, {"n": 3}, {"n": 4}]') r
        $q$, p));
    PERFORM pg_temp.capture(p, '63 pop_message with a key, then its retry', pg_catalog.format($q$
        SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('seq', r.seq, 'message', r.message))
        FROM (VALUES (1), (2)) AS v(i)
        CROSS JOIN LATERAL session_store.pop_message(%L, 'kim', 'k1', idempotency_key => 'pk') r
        $q$, p));
    PERFORM pg_temp.capture(p, '64 rewind_session and clear_session with keys, then their retries', pg_catalog.format($q$
        SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(
                   session_store.rewind_session(%1$L, 'kim', 'k1', 1, idempotency_key => 'rk'),
                   session_store.clear_session(%1$L, 'kim', 'k1', idempotency_key => 'xk')))
        FROM (VALUES (1), (2)) AS v(i)
        $q$, p));
    PERFORM pg_temp.capture(p, '65 a key of another kind of call: 42710', pg_catalog.format($q$
        SELECT pg_catalog.to_jsonb(r) OPERATOR(pg_catalog.-) 'update_time'
        FROM session_store.append_messages(%L, 'kim', 'k1', '[]', idempotency_key => 'pk') r
        $q$, p));
    PERFORM pg_temp.capture(p, '66 the session after the keyed removals', pg_catalog.format($q$
        SELECT pg_catalog.jsonb_build_object('version', s.version, 'last_seq', s.last_seq,
               'messages', (SELECT pg_catalog.count(*) FROM session_store.get_messages(%L, 'kim', 'k1')))
        FROM session_store.get_session(%L, 'kim', 'k1') s
        $q$, p, p));
END
$f$;

-- Make old1 (two days) and old2 (one day) of a phase idle.  Run by the
-- superuser between the two parts; EXECUTE, so it leaves no cached plan.
CREATE FUNCTION pg_temp.backdate(p pg_catalog.text)
RETURNS void LANGUAGE plpgsql AS $f$
BEGIN
    EXECUTE $q$
        UPDATE session_store.sessions
        SET update_time = update_time OPERATOR(pg_catalog.-)
            (CASE WHEN session_id OPERATOR(pg_catalog.=) 'old1' THEN '2 days' ELSE '1 day' END)::pg_catalog.interval
        WHERE app_name OPERATOR(pg_catalog.=) $1
          AND session_id OPERATOR(pg_catalog.=) ANY ('{old1,old2}'::pg_catalog.text[])$q$
    USING pg_catalog.concat(p, '-expire');
END
$f$;

-- The scenario, second part: expire_sessions for one app, then for all.
CREATE FUNCTION pg_temp.scenario_b(p pg_catalog.text)
RETURNS void LANGUAGE plpgsql AS $f$
DECLARE
    ea pg_catalog.text := pg_catalog.concat(p, '-expire');
BEGIN
    PERFORM pg_temp.capture(p, '32 expire_sessions of one app, batch of 1', pg_catalog.format($q$
        SELECT pg_catalog.to_jsonb(session_store.expire_sessions('1 hour', %L, 1))
        $q$, ea));
    PERFORM pg_temp.capture(p, '33 expire_sessions of all apps', $q$
        SELECT pg_catalog.to_jsonb(session_store.expire_sessions('1 hour'))
        $q$);
    PERFORM pg_temp.capture(p, '34 expire_sessions again: nothing left', $q$
        SELECT pg_catalog.to_jsonb(session_store.expire_sessions('1 hour'))
        $q$);
    PERFORM pg_temp.capture(p, '35 list_sessions after expiry', pg_catalog.format($q$
        SELECT pg_catalog.jsonb_agg(pg_catalog.concat(user_id, '/', session_id))
        FROM session_store.list_sessions(%L)
        $q$, ea));
END
$f$;

-- What every phase must have seen.
CREATE TEMP TABLE expected (step text, want jsonb);
INSERT INTO expected VALUES
 ('01 create_session with an id and routed state',
  '{"user_id": "alice", "session_id": "s1", "version": 0, "last_seq": 0,
    "state": {"goal": "Lisbon", "user:home": "Berlin", "app:model": "m1"}}'),
 ('02 create_session with a generated id',
  '{"uuid": true, "version": 0, "last_seq": 0, "state": {"user:home": "Berlin", "app:model": "m1"}}'),
 ('03 append_messages, one message',
  '{"first_seq": 1, "last_seq": 1, "version": 1, "replayed": false}'),
 ('04 append_messages, two messages, delta, expected_version, key',
  '{"first_seq": 2, "last_seq": 3, "version": 2, "replayed": false}'),
 ('05 append_messages, same key again: replayed',
  '{"first_seq": 2, "last_seq": 3, "version": 2, "replayed": true}'),
 ('06 append_messages, stale expected_version: 40001', '{"error": "40001"}'),
 ('07 get_session: merged state',
  '{"user_id": "alice", "session_id": "s1", "version": 2, "last_seq": 3,
    "state": {"step": "dates", "user:home": "Lisbon", "app:model": "m2", "app:region": "eu"}}'),
 ('08 get_app_state', '{"model": "m2", "region": "eu"}'),
 ('09 get_user_state', '{"home": "Lisbon"}'),
 ('10 get_messages, all',
  '[{"seq": 1, "message": {"n": 1}}, {"seq": 2, "message": {"n": 2}}, {"seq": 3, "message": {"n": 3}}]'),
 ('11 get_messages, max_count',
  '[{"seq": 2, "message": {"n": 2}}, {"seq": 3, "message": {"n": 3}}]'),
 ('12 get_messages, after_seq and before_seq', '[{"seq": 2, "message": {"n": 2}}]'),
 ('13 fork_session up to seq 2',
  '{"user_id": "alice", "session_id": "f1", "version": 0, "last_seq": 2,
    "state": {"step": "dates", "user:home": "Lisbon", "app:model": "m2", "app:region": "eu"}}'),
 ('14 get_messages of the fork',
  '[{"seq": 1, "message": {"n": 1}}, {"seq": 2, "message": {"n": 2}}]'),
 ('15 pop_message', '[{"seq": 3, "message": {"n": 3}}]'),
 ('16 append_messages after pop: seq not reused',
  '{"first_seq": 4, "last_seq": 4, "version": 4, "replayed": false}'),
 ('17 rewind_session to 1', '2'),
 ('18 clear_session of the fork', '2'),
 ('19 session head and messages after pop, rewind', '{"version": 5, "last_seq": 4, "seqs": [1]}'),
 ('20 get_messages of a missing session: 42704', '{"error": "42704"}'),
 ('21 delete_session of the generated id', 'true'),
 ('22 delete_session again', 'false'),
 ('23 get_session of the deleted session: no row', '0'),
 ('24 create_session x5 for listing', '["s3", "s2", "s1", "s2", "s1"]'),
 ('25 list_sessions by app, page 1', '{"rows": ["u1/s1", "u1/s2"]}'),
 ('26 list_sessions by app, page 2', '{"rows": ["u2/s1", "u2/s2"]}'),
 ('27 list_sessions by app, page 3', '{"rows": ["u2/s3"]}'),
 ('28 list_sessions by user, page 1', '{"rows": ["u2/s1", "u2/s2"]}'),
 ('29 list_sessions by user, page 2', '{"rows": ["u2/s3"]}'),
 ('30 create_session x3 for expiry', '["old1", "old2", "fresh"]'),
 ('31 append_messages to a session about to expire',
  '{"first_seq": 1, "last_seq": 1, "version": 1, "replayed": false}'),
 ('32 expire_sessions of one app, batch of 1', '1'),
 ('33 expire_sessions of all apps', '1'),
 ('34 expire_sessions again: nothing left', '0'),
 ('35 list_sessions after expiry', '["carol/fresh"]'),
 ('40 create_session with keep_nulls',
  '{"k": null, "user:u": null, "app:model": "m2", "app:region": "eu"}'),
 ('41 append_messages with keep_nulls, message_time, verify_replay',
  '{"first_seq": 1, "last_seq": 2, "version": 1, "replayed": false}'),
 ('42 append_messages, same request again: replayed',
  '{"first_seq": 1, "last_seq": 2, "version": 1, "replayed": true}'),
 ('43 append_messages, same key, other request: 42710', '{"error": "42710"}'),
 ('44 get_messages after a time',
  '[{"seq": 1, "message": {"v": 1}, "at_message_time": true}, {"seq": 2, "message": {"v": 2}, "at_message_time": true}]'),
 ('45 replace_messages',
  '{"first_seq": 3, "last_seq": 3, "version": 2, "replayed": false, "removed": 1}'),
 ('46 replace_messages, replayed',
  '{"first_seq": 3, "last_seq": 3, "version": 2, "replayed": true, "removed": 1}'),
 ('47 replace_messages, no longer the suffix: 40001', '{"error": "40001"}'),
 ('48 session after replace',
  '{"version": 2, "last_seq": 3, "state": {"k": 1, "user:u": null, "app:model": "m2", "app:region": "eu"},
    "log": [[1, {"v": 1}], [3, {"w": 1}]]}'),
 ('49 count_sessions', '{"app": 3, "user": 1}'),
 ('50 list_sessions ascending by app, page 1', '{"rows": ["u2/s3", "u2/s2", "u2/s1"]}'),
 ('51 list_sessions ascending by app, page 2', '{"rows": ["u1/s2", "u1/s1"]}'),
 ('52 list_sessions ascending by user, page 1', '{"rows": ["u2/s3", "u2/s2"]}'),
 ('53 list_sessions ascending by user, page 2', '{"rows": ["u2/s1"]}'),
 ('54 list_sessions_with_state by app, page 1', '{"rows": ["u1/s1", "u1/s2"], "states": [{}, {}]}'),
 ('55 list_sessions_with_state by app, page 2', '{"rows": ["u2/s1", "u2/s2"]}'),
 ('56 list_sessions_with_state: each state is get_session''s',
  '{"listed": true, "as_get_session": true, "user_and_app_keys": true}'),
 ('60 create_session with a key, then its retry',
  '[{"version": 0, "state": {"a": 1, "app:model": "m2", "app:region": "eu"}},
    {"version": 0, "state": {"a": 1, "app:model": "m2", "app:region": "eu"}}]'),
 ('61 fork_session with a key, then its retry',
  '[{"session_id": "k2", "version": 0}, {"session_id": "k2", "version": 0}]'),
 ('62 messages to remove', '{"first_seq": 1, "last_seq": 4, "version": 1, "replayed": false}'),
 ('63 pop_message with a key, then its retry',
  '[{"seq": 4, "message": {"n": 4}}, {"seq": 4, "message": {"n": 4}}]'),
 ('64 rewind_session and clear_session with keys, then their retries', '[[2, 1], [2, 1]]'),
 ('65 a key of another kind of call: 42710', '{"error": "42710"}'),
 ('66 the session after the keyed removals', '{"version": 4, "last_seq": 4, "messages": 0}');

CREATE TEMP TABLE phases (phase text, what text);
INSERT INTO phases VALUES
 ('p1', 'cold backend, first prepared under evil path'),
 ('p2', 'clean path, plans re-analyzed'),
 ('p3', 'warm plans, then pg_temp traps and evil path'),
 ('p4', 'evil path and pg_temp traps, after DISCARD PLANS');

-- The traps.  probe: unqualified SQL that must hit the trap; want: the
-- "hijacked: ..." message it must raise.
CREATE TEMP TABLE traps (phase text, probe text, want text);
GRANT ALL ON traps TO PUBLIC;

-- the captures print their results; TAP output starts at plan() below
\o /dev/null
SELECT pg_temp.capture_plan_count('p1', 'statements prepared before p1');

-------------------------------------------------------------------------------
-- Plant the "evil" traps, as ss_evil
-------------------------------------------------------------------------------
SET ROLE ss_evil;
SET search_path = pg_catalog;
GRANT USAGE ON SCHEMA evil TO PUBLIC;

CREATE FUNCTION evil.hj_bool(what text) RETURNS boolean LANGUAGE plpgsql
AS $f$BEGIN RAISE EXCEPTION 'hijacked: %', what; END$f$;
CREATE FUNCTION evil.hj_trigger() RETURNS trigger LANGUAGE plpgsql
AS $f$BEGIN RAISE EXCEPTION 'hijacked: %', TG_ARGV[0]; END$f$;

-- Relations and types named like the extension's, planted in schema nsp:
-- views over a set-returning function that raises (no qualifier can let the
-- planner skip it), with INSTEAD OF triggers that raise when written, and
-- domains whose check raises.  Their probes go into traps for phase p.
CREATE FUNCTION pg_temp.plant_name_traps(nsp text, p text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog AS $fn$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['sessions', 'messages', 'idempotency_keys', 'user_states', 'app_states']
    LOOP
        EXECUTE format('CREATE VIEW %I.%I AS SELECT * FROM evil.%I(%L)',
                       nsp, t, 'hj_rows_' || t, 'view ' || nsp || '.' || t);
        EXECUTE format('CREATE TRIGGER hijack INSTEAD OF INSERT OR UPDATE OR DELETE ON %I.%I '
                       'FOR EACH ROW EXECUTE FUNCTION evil.hj_trigger(%L)',
                       nsp, t, 'view ' || nsp || '.' || t);
        INSERT INTO pg_temp.traps VALUES
            (p, format('SELECT pg_catalog.to_jsonb(pg_catalog.count(*)) FROM %I', t),
             'hijacked: view ' || nsp || '.' || t),
            (p, format('INSERT INTO %I SELECT (NULL::session_store.%I).* RETURNING NULL::pg_catalog.jsonb', t, t),
             'hijacked: view ' || nsp || '.' || t);
    END LOOP;
    FOREACH t IN ARRAY ARRAY['text', 'jsonb', 'int8', 'int4', 'timestamptz', 'regclass',
                             'interval', 'bool', 'uuid']
    LOOP
        EXECUTE format('CREATE DOMAIN %I.%I AS pg_catalog.%I CHECK (evil.hj_bool(%L))',
                       nsp, t, t, 'domain ' || nsp || '.' || t);
        INSERT INTO pg_temp.traps VALUES
            (p, format('SELECT pg_catalog.to_jsonb(NULL::%I)', t), 'hijacked: domain ' || nsp || '.' || t);
    END LOOP;
END
$fn$;

DO $plant$
DECLARE
    r record;
    n int := 0;
    fn text;
BEGIN
    -- operators: (name, left, right, result)
    FOR r IN
        SELECT * FROM (VALUES
            ('=', 'text', 'text', 'bool'), ('<>', 'text', 'text', 'bool'),
            ('<', 'text', 'text', 'bool'), ('>', 'text', 'text', 'bool'),
            ('<=', 'text', 'text', 'bool'), ('>=', 'text', 'text', 'bool'),
            ('||', 'text', 'text', 'text'), ('~', 'text', 'text', 'bool'),
            ('=', 'int8', 'int8', 'bool'), ('<>', 'int8', 'int8', 'bool'),
            ('<', 'int8', 'int8', 'bool'), ('>', 'int8', 'int8', 'bool'),
            ('<=', 'int8', 'int8', 'bool'), ('>=', 'int8', 'int8', 'bool'),
            ('+', 'int8', 'int8', 'int8'), ('-', 'int8', 'int8', 'int8'),
            ('=', 'int4', 'int4', 'bool'), ('<', 'int4', 'int4', 'bool'),
            ('>', 'int4', 'int4', 'bool'), ('+', 'int4', 'int4', 'int4'),
            ('=', 'timestamptz', 'timestamptz', 'bool'), ('<>', 'timestamptz', 'timestamptz', 'bool'),
            ('<', 'timestamptz', 'timestamptz', 'bool'), ('>', 'timestamptz', 'timestamptz', 'bool'),
            ('<=', 'timestamptz', 'timestamptz', 'bool'), ('>=', 'timestamptz', 'timestamptz', 'bool'),
            ('-', 'timestamptz', 'interval', 'timestamptz'), ('+', 'timestamptz', 'interval', 'timestamptz'),
            ('||', 'jsonb', 'jsonb', 'jsonb'), ('-', 'jsonb', 'jsonb', 'jsonb'),
            ('||', 'jsonb', 'text[]', 'jsonb'), ('-', 'jsonb', 'text[]', 'jsonb'),
            ('-', 'jsonb', 'text', 'jsonb'), ('=', 'jsonb', 'jsonb', 'bool'),
            ('->', 'jsonb', 'text', 'jsonb'), ('->>', 'jsonb', 'text', 'text'),
            ('->', 'jsonb', 'int4', 'jsonb'),
            ('=', 'bool', 'bool', 'bool'), ('=', 'text[]', 'text[]', 'bool')
        ) AS ops(op, l, rt, res)
    LOOP
        n := n + 1;
        fn := format('hj_op_%s', n);
        EXECUTE format('CREATE FUNCTION evil.%I(%s, %s) RETURNS %s LANGUAGE plpgsql '
                       'AS %L', fn, r.l, r.rt, r.res,
                       format('BEGIN RAISE EXCEPTION %L; END',
                              format('hijacked: operator %s (%s, %s)', r.op, r.l, r.rt)));
        EXECUTE format('CREATE OPERATOR evil.%s (LEFTARG = %s, RIGHTARG = %s, FUNCTION = evil.%I)',
                       r.op, r.l, r.rt, fn);
        INSERT INTO pg_temp.traps VALUES ('p1',
            format('SELECT pg_catalog.to_jsonb(NULL::pg_catalog.%s %s NULL::pg_catalog.%s)',
                   r.l, r.op, r.rt),
            format('hijacked: operator %s (%s, %s)', r.op, r.l, r.rt));
    END LOOP;

    -- functions: (name, arguments, result, probe)
    FOR r IN
        SELECT * FROM (VALUES
            ('now', '', 'timestamptz', 'SELECT pg_catalog.to_jsonb(now())'),
            ('clock_timestamp', '', 'timestamptz', 'SELECT pg_catalog.to_jsonb(clock_timestamp())'),
            ('statement_timestamp', '', 'timestamptz', 'SELECT pg_catalog.to_jsonb(statement_timestamp())'),
            ('transaction_timestamp', '', 'timestamptz', 'SELECT pg_catalog.to_jsonb(transaction_timestamp())'),
            ('gen_random_uuid', '', 'uuid', 'SELECT pg_catalog.to_jsonb(gen_random_uuid())'),
            ('random', '', 'double precision', 'SELECT pg_catalog.to_jsonb(random())'),
            ('nextval', 'regclass', 'bigint', 'SELECT pg_catalog.to_jsonb(nextval(NULL::pg_catalog.regclass))'),
            ('currval', 'regclass', 'bigint', 'SELECT pg_catalog.to_jsonb(currval(NULL::pg_catalog.regclass))'),
            ('setval', 'regclass, bigint', 'bigint', 'SELECT pg_catalog.to_jsonb(setval(NULL::pg_catalog.regclass, NULL::pg_catalog.int8))'),
            ('lastval', '', 'bigint', 'SELECT pg_catalog.to_jsonb(lastval())'),
            ('jsonb_array_length', 'jsonb', 'integer', 'SELECT pg_catalog.to_jsonb(jsonb_array_length(NULL::pg_catalog.jsonb))'),
            ('jsonb_array_elements', 'jsonb', 'SETOF jsonb', 'SELECT pg_catalog.to_jsonb(pg_catalog.count(*)) FROM jsonb_array_elements(NULL::pg_catalog.jsonb)'),
            ('jsonb_object_keys', 'jsonb', 'SETOF text', 'SELECT pg_catalog.to_jsonb(pg_catalog.count(*)) FROM jsonb_object_keys(NULL::pg_catalog.jsonb)'),
            ('jsonb_build_object', 'text, jsonb', 'jsonb', 'SELECT jsonb_build_object(NULL::pg_catalog.text, NULL::pg_catalog.jsonb)'),
            ('jsonb_build_object', 'VARIADIC text[]', 'jsonb', 'SELECT jsonb_build_object(VARIADIC NULL::pg_catalog.text[])'),
            ('jsonb_concat', 'jsonb, jsonb', 'jsonb', 'SELECT jsonb_concat(NULL::pg_catalog.jsonb, NULL::pg_catalog.jsonb)'),
            ('jsonb_delete', 'jsonb, text[]', 'jsonb', 'SELECT jsonb_delete(NULL::pg_catalog.jsonb, NULL::pg_catalog.text[])'),
            ('jsonb_delete', 'jsonb, text', 'jsonb', 'SELECT jsonb_delete(NULL::pg_catalog.jsonb, NULL::pg_catalog.text)'),
            ('jsonb_set', 'jsonb, text[], jsonb, boolean', 'jsonb', 'SELECT jsonb_set(NULL::pg_catalog.jsonb, NULL::pg_catalog.text[], NULL::pg_catalog.jsonb, NULL::pg_catalog.bool)'),
            ('jsonb_strip_nulls', 'jsonb', 'jsonb', 'SELECT jsonb_strip_nulls(NULL::pg_catalog.jsonb)'),
            ('jsonb_typeof', 'jsonb', 'text', 'SELECT pg_catalog.to_jsonb(jsonb_typeof(NULL::pg_catalog.jsonb))'),
            ('to_jsonb', 'anyelement', 'jsonb', 'SELECT to_jsonb(NULL::pg_catalog.int8)'),
            ('concat', 'text, text', 'text', 'SELECT pg_catalog.to_jsonb(concat(NULL::pg_catalog.text, NULL::pg_catalog.text))'),
            ('int8', 'integer', 'bigint', 'SELECT pg_catalog.to_jsonb(int8(NULL::pg_catalog.int4))'),
            ('int8pl', 'bigint, bigint', 'bigint', 'SELECT pg_catalog.to_jsonb(int8pl(NULL::pg_catalog.int8, NULL::pg_catalog.int8))'),
            ('texteq', 'text, text', 'boolean', 'SELECT pg_catalog.to_jsonb(texteq(NULL::pg_catalog.text, NULL::pg_catalog.text))'),
            ('length', 'text', 'integer', 'SELECT pg_catalog.to_jsonb(length(NULL::pg_catalog.text))'),
            ('octet_length', 'text', 'integer', 'SELECT pg_catalog.to_jsonb(octet_length(NULL::pg_catalog.text))'),
            ('hashtext', 'text', 'integer', 'SELECT pg_catalog.to_jsonb(hashtext(NULL::pg_catalog.text))'),
            ('hashtextextended', 'text, bigint', 'bigint', 'SELECT pg_catalog.to_jsonb(hashtextextended(NULL::pg_catalog.text, NULL::pg_catalog.int8))'),
            ('pg_advisory_xact_lock', 'bigint', 'void', 'SELECT pg_catalog.to_jsonb(pg_advisory_xact_lock(NULL::pg_catalog.int8)::pg_catalog.text)'),
            ('pg_try_advisory_xact_lock', 'bigint', 'boolean', 'SELECT pg_catalog.to_jsonb(pg_try_advisory_xact_lock(NULL::pg_catalog.int8))'),
            ('pg_advisory_unlock', 'bigint', 'boolean', 'SELECT pg_catalog.to_jsonb(pg_advisory_unlock(NULL::pg_catalog.int8))')
        ) AS fns(name, args, res, probe)
    LOOP
        EXECUTE format('CREATE FUNCTION evil.%I(%s) RETURNS %s LANGUAGE plpgsql AS %L',
                       r.name, r.args, r.res,
                       format('BEGIN RAISE EXCEPTION %L; END',
                              format('hijacked: function %s(%s)', r.name, r.args)));
        INSERT INTO pg_temp.traps VALUES ('p1', r.probe,
                                          format('hijacked: function %s(%s)', r.name, r.args));
    END LOOP;

    -- aggregates: (name, argument, state function's argument types, probe)
    FOR r IN
        SELECT * FROM (VALUES
            ('max', 'bigint', 'SELECT pg_catalog.to_jsonb(max(x)) FROM (VALUES (NULL::pg_catalog.int8)) v(x)'),
            ('min', 'bigint', 'SELECT pg_catalog.to_jsonb(min(x)) FROM (VALUES (NULL::pg_catalog.int8)) v(x)'),
            ('sum', 'bigint', 'SELECT pg_catalog.to_jsonb(sum(x)) FROM (VALUES (NULL::pg_catalog.int8)) v(x)'),
            ('max', 'timestamptz', 'SELECT pg_catalog.to_jsonb(max(x)) FROM (VALUES (NULL::pg_catalog.timestamptz)) v(x)'),
            ('jsonb_agg', 'jsonb', 'SELECT jsonb_agg(x) FROM (VALUES (NULL::pg_catalog.jsonb)) v(x)'),
            ('count', '*', 'SELECT pg_catalog.to_jsonb(count(*))')
        ) AS aggs(name, arg, probe)
    LOOP
        n := n + 1;
        fn := format('hj_agg_%s', n);
        EXECUTE format('CREATE FUNCTION evil.%I(%s) RETURNS %s LANGUAGE plpgsql AS %L',
                       fn,
                       CASE r.arg WHEN '*' THEN 'bigint' ELSE r.arg || ', ' || r.arg END,
                       CASE r.arg WHEN '*' THEN 'bigint' ELSE r.arg END,
                       format('BEGIN RAISE EXCEPTION %L; END',
                              format('hijacked: aggregate %s(%s)', r.name, r.arg)));
        EXECUTE format('CREATE AGGREGATE evil.%I(%s) (SFUNC = evil.%I, STYPE = %s)',
                       r.name, r.arg, fn, CASE r.arg WHEN '*' THEN 'bigint' ELSE r.arg END);
        INSERT INTO pg_temp.traps VALUES ('p1', r.probe,
                                          format('hijacked: aggregate %s(%s)', r.name, r.arg));
    END LOOP;

    -- the rows behind the views named like the extension's tables
    FOREACH fn IN ARRAY ARRAY['sessions', 'messages', 'idempotency_keys', 'user_states', 'app_states']
    LOOP
        EXECUTE format('CREATE FUNCTION evil.%I(what text) RETURNS SETOF session_store.%I '
                       'LANGUAGE plpgsql AS %L', 'hj_rows_' || fn, fn,
                       'BEGIN RAISE EXCEPTION ''hijacked: %'', what; END');
    END LOOP;
    PERFORM pg_temp.plant_name_traps('evil', 'p1');
END
$plant$;

-- a sequence named like the extension's: its numbers would show
CREATE SEQUENCE evil.session_sid_seq START 9000000000000000;
GRANT ALL ON SEQUENCE evil.session_sid_seq TO PUBLIC;

-------------------------------------------------------------------------------
-- p1: cold backend, evil path
-------------------------------------------------------------------------------
SET search_path = evil, pg_catalog, public;
RESET ROLE;
SELECT pg_temp.capture('p1', 'search_path resolves evil first',
    $q$SELECT pg_catalog.to_jsonb('session_sid_seq'::pg_catalog.regclass OPERATOR(pg_catalog.=)
                                  'evil.session_sid_seq'::pg_catalog.regclass)$q$);
-- the superuser (whom the extension's SQL runs as) hits every trap
SELECT pg_temp.capture('p1', pg_catalog.concat('trap ', probe), probe)
FROM pg_temp.traps WHERE phase OPERATOR(pg_catalog.=) 'p1';

SET ROLE ss_evil;
SELECT pg_temp.scenario_a('p1');
RESET ROLE;
SELECT pg_temp.backdate('p1');
SET ROLE ss_evil;
SELECT pg_temp.scenario_b('p1');
RESET ROLE;
SELECT pg_temp.capture_plan_count('p1', 'statements prepared after p1');

-------------------------------------------------------------------------------
-- p2: clean search_path
-------------------------------------------------------------------------------
RESET search_path;
SET ROLE ss_evil;
SELECT pg_temp.scenario_a('p2');
RESET ROLE;
SELECT pg_temp.backdate('p2');
SET ROLE ss_evil;
SELECT pg_temp.scenario_b('p2');

-------------------------------------------------------------------------------
-- p3: plans are warm; plant the pg_temp traps, back to the evil path
-------------------------------------------------------------------------------
SET search_path = pg_catalog;
SELECT pg_temp.plant_name_traps('pg_temp', 'p3');
CREATE SEQUENCE pg_temp.session_sid_seq START 9000000000000000;
GRANT ALL ON SEQUENCE pg_temp.session_sid_seq TO PUBLIC;

SET search_path = evil, pg_catalog, public;
RESET ROLE;
SELECT pg_temp.capture('p3', 'search_path resolves pg_temp first for relations',
    $q$SELECT pg_catalog.to_jsonb('session_sid_seq'::pg_catalog.regclass OPERATOR(pg_catalog.=)
                                  'pg_temp.session_sid_seq'::pg_catalog.regclass)$q$);
SELECT pg_temp.capture('p3', pg_catalog.concat('trap ', probe), probe)
FROM pg_temp.traps WHERE phase OPERATOR(pg_catalog.=) 'p3';

SET ROLE ss_evil;
SELECT pg_temp.scenario_a('p3');
RESET ROLE;
SELECT pg_temp.backdate('p3');
SET ROLE ss_evil;
SELECT pg_temp.scenario_b('p3');

-------------------------------------------------------------------------------
-- p4: same path and traps, plans discarded
-------------------------------------------------------------------------------
DISCARD PLANS;
SELECT pg_temp.scenario_a('p4');
RESET ROLE;
SELECT pg_temp.backdate('p4');
SET ROLE ss_evil;
SELECT pg_temp.scenario_b('p4');
RESET ROLE;

SELECT pg_temp.capture_plan_count('p4', 'statements prepared at the end');
SELECT pg_temp.capture('p4', 'evil.session_sid_seq never used',
    $q$SELECT pg_catalog.to_jsonb(is_called) FROM evil.session_sid_seq$q$);
SELECT pg_temp.capture('p4', 'pg_temp.session_sid_seq never used',
    $q$SELECT pg_catalog.to_jsonb(is_called) FROM pg_temp.session_sid_seq$q$);

-------------------------------------------------------------------------------
-- Disarm pg_temp (searched for types whatever the path) and check
-------------------------------------------------------------------------------
SET ROLE ss_evil;
SET search_path = pg_catalog;
DROP VIEW pg_temp.sessions, pg_temp.messages, pg_temp.idempotency_keys,
          pg_temp.user_states, pg_temp.app_states;
DROP DOMAIN pg_temp.text, pg_temp.jsonb, pg_temp.int8, pg_temp.int4, pg_temp.timestamptz,
            pg_temp.regclass, pg_temp.interval, pg_temp.bool, pg_temp.uuid;
DROP SEQUENCE pg_temp.session_sid_seq;
RESET ROLE;
RESET search_path;
\o

SELECT plan(
      (SELECT count(*)::int FROM phases) * (SELECT count(*)::int FROM expected)
    + (SELECT count(*)::int FROM traps)
    + 11);

-- each trap is reachable: the probe raised its own "hijacked" message
SELECT is(coalesce(r.code || ': ' || r.msg, 'no error'), 'P0001: ' || t.want,
          format('%s trap set: %s, reached by %s', t.phase, t.want, t.probe))
FROM traps t LEFT JOIN res r ON r.phase = t.phase AND r.step = 'trap ' || t.probe
ORDER BY t.phase, t.want, t.probe;
SELECT is((SELECT val FROM res WHERE phase = 'p1' AND step = 'search_path resolves evil first'),
          'true'::jsonb, 'p1 trap set: unqualified session_sid_seq is evil''s');
SELECT is((SELECT val FROM res WHERE phase = 'p3' AND step = 'search_path resolves pg_temp first for relations'),
          'true'::jsonb, 'p3 trap set: unqualified session_sid_seq is pg_temp''s');

-- every phase got every result right
SELECT is(CASE WHEN r.code IS NOT NULL THEN jsonb_build_object('error', r.code)
               WHEN jsonb_typeof(r.val) = 'object' THEN r.val - '{id,tokens}'::text[]
               ELSE r.val END,
          e.want, format('%s (%s): %s', ph.phase, ph.what, e.step))
FROM phases ph CROSS JOIN expected e
LEFT JOIN res r ON r.phase = ph.phase AND r.step = e.step
ORDER BY ph.phase, e.step;
SELECT diag(format('%s %s: %s %s', phase, step, code, msg))
FROM res WHERE code IS NOT NULL AND code NOT IN ('40001', '42704', '42710') AND step NOT LIKE 'trap %';

SELECT is((SELECT count(*)::int FROM res WHERE step ~ '^[0-9]{2} '),
          (SELECT count(*)::int FROM phases) * (SELECT count(*)::int FROM expected),
          'each scenario step ran exactly once per phase');

-- the plan cache: p1 prepared every statement, the later phases none
SELECT is((SELECT val FROM res WHERE phase = 'p1' AND step = 'statements prepared before p1'),
          '0'::jsonb, 'no statement of the extension was prepared before p1');
-- p1 prepared statements, and (next test) the later phases, which run the
-- same scenario, prepared none that p1 had not: so every statement the
-- scenario uses was first prepared under the evil path
SELECT cmp_ok((SELECT val::text::int FROM res WHERE phase = 'p1' AND step = 'statements prepared after p1'),
              '>', 0, 'p1 prepared the extension''s statements under the evil path');
SELECT is((SELECT val FROM res WHERE phase = 'p4' AND step = 'statements prepared at the end'),
          (SELECT val FROM res WHERE phase = 'p1' AND step = 'statements prepared after p1'),
          'p2 to p4 prepared no statement p1 had not: they re-used or re-analyzed p1''s');

-- nothing took a number from the planted sequences
SELECT is((SELECT val FROM res WHERE step = 'evil.session_sid_seq never used'),
          'false'::jsonb, 'evil.session_sid_seq was never used');
SELECT is((SELECT val FROM res WHERE step = 'pg_temp.session_sid_seq never used'),
          'false'::jsonb, 'pg_temp.session_sid_seq was never used');
SELECT ok((SELECT max(sid) < 9000000000000000 FROM session_store.sessions),
          'every session''s sid comes from session_store.session_sid_seq');
-- the data behind the results is consistent
SELECT is((SELECT count(*)::int FROM session_store.messages m
           WHERE NOT EXISTS (SELECT 1 FROM session_store.sessions s
                             WHERE s.user_id = m.user_id AND s.sid = m.sid)),
          0, 'deleted and expired sessions left no messages behind');
SELECT is((SELECT count(*)::int FROM session_store.idempotency_keys k
           WHERE NOT EXISTS (SELECT 1 FROM session_store.sessions s
                             WHERE s.user_id = k.user_id AND s.sid = k.sid)),
          0, 'deleted and expired sessions left no idempotency keys behind');

SELECT * FROM finish();
ROLLBACK;
