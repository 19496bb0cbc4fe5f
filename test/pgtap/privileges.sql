-- Privileges: the grant recipe of the README works, and it is the only way in.
--
-- A role given exactly
--     GRANT USAGE ON SCHEMA session_store TO r;
--     GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA session_store TO r;
-- calls every function of the API successfully, and what it wrote is really
-- there afterwards (checked as superuser, in the tables and through the API).
-- The same role cannot read or write any table, cannot use the sequence,
-- cannot create, replace or alter anything in the schema, cannot grant itself
-- more and cannot raise the limits: every attempt fails with 42501.  A failed
-- call leaves it as itself, not as the extension owner the functions switch
-- to.  EXECUTE without USAGE on the schema gets nowhere, and neither PUBLIC
-- nor any role but the owner holds a privilege on the schema's tables.
\set ON_ERROR_STOP 1
\pset format unaligned
\pset tuples_only true
\pset pager off

BEGIN;
-- the edition named by SS_EDITION; sets ss_portable
\ir install.psql

-- the recipe, and nothing else
CREATE ROLE ss_priv_app NOLOGIN;
GRANT USAGE ON SCHEMA session_store TO ss_priv_app;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA session_store TO ss_priv_app;
-- EXECUTE on every function, but no USAGE on the schema
CREATE ROLE ss_priv_exec_only NOLOGIN;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA session_store TO ss_priv_exec_only;

-- (the portable edition: three more, on how its functions run)
SELECT plan(123 + CASE WHEN :ss_portable THEN 3 ELSE 0 END);

-- The lists below are complete: a function, table or sequence added to the
-- schema makes these fail until this file covers it.
SELECT functions_are('session_store', ARRAY[
    'create_session', 'get_session', 'list_sessions', 'delete_session',
    'append_messages', 'get_messages', 'pop_message', 'rewind_session',
    'clear_session', 'fork_session', 'get_app_state', 'get_user_state',
    'expire_sessions', 'replace_messages', 'count_sessions', 'distribute',
    'delegate_functions', 'edition', 'list_sessions_with_state']
    -- and the portable edition's internal helpers (SECURITY INVOKER,
    -- touching no table: the recipe's EXECUTE on them gives nothing; checked
    -- below)
    || ARRAY(SELECT DISTINCT proname::text FROM pg_proc
             WHERE :ss_portable AND pronamespace = 'session_store'::regnamespace
               AND proname LIKE '\_%'),
    'this file calls every function of the schema');
SELECT tables_are('session_store', ARRAY[
    'sessions', 'messages', 'idempotency_keys', 'user_states', 'app_states'],
    'this file covers every table of the schema');
SELECT sequences_are('session_store', ARRAY['session_sid_seq'],
    'this file covers every sequence of the schema');

-------------------------------------------------------------------------------
-- Catalog: nothing for PUBLIC, nothing on the relations for anyone but the owner
-------------------------------------------------------------------------------
SELECT is((SELECT count(*)::int
           FROM pg_namespace n,
                aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a
           WHERE n.nspname = 'session_store' AND a.grantee = 0),
          0, 'PUBLIC has no privilege on schema session_store');
SELECT is((SELECT string_agg(a.grantee::regrole::text || ':' || a.privilege_type, ', '
                             ORDER BY a.grantee::regrole::text, a.privilege_type)
           FROM pg_namespace n,
                aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a
           WHERE n.nspname = 'session_store' AND a.grantee <> n.nspowner),
          'ss_priv_app:USAGE',
          'on the schema, besides its owner, only the recipe''s USAGE is granted');
SELECT is((SELECT count(*)::int
           FROM pg_class c,
                aclexplode(coalesce(c.relacl, acldefault(CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END::"char",
                                                         c.relowner))) a
           WHERE c.relnamespace = 'session_store'::regnamespace AND a.grantee = 0),
          0, 'PUBLIC has no privilege on any table or sequence of the schema');
SELECT is((SELECT string_agg(c.relname || ' to ' || a.grantee::regrole::text || ': ' || a.privilege_type, ', ')
           FROM pg_class c,
                aclexplode(coalesce(c.relacl, acldefault(CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END::"char",
                                                         c.relowner))) a
           WHERE c.relnamespace = 'session_store'::regnamespace AND a.grantee <> c.relowner),
          NULL, 'no role but the owner holds a privilege on a table or sequence of the schema, even after the recipe');
SELECT is((SELECT count(*)::int
           FROM pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
           WHERE p.pronamespace = 'session_store'::regnamespace
             AND a.grantee = 0 AND a.privilege_type = 'EXECUTE'),
          0, 'no function of the schema is executable by PUBLIC');
SELECT ok(NOT has_function_privilege('public', 'session_store.delegate_functions()', 'EXECUTE'),
          'delegate_functions() (1.2) is not executable by PUBLIC');
SELECT ok((SELECT bool_and(has_function_privilege('ss_priv_exec_only', p.oid, 'EXECUTE'))
           FROM pg_proc p WHERE p.pronamespace = 'session_store'::regnamespace),
          'ss_priv_exec_only has EXECUTE on every function of the schema');
SELECT ok(NOT has_schema_privilege('ss_priv_exec_only', 'session_store', 'USAGE'),
          'ss_priv_exec_only has no USAGE on the schema');
SELECT ok(NOT has_schema_privilege('ss_priv_app', 'session_store', 'CREATE'),
          'the recipe does not give CREATE on the schema');
SELECT ok((SELECT NOT bool_or(has_table_privilege('ss_priv_app', c.oid,
               'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER'))
           FROM pg_class c
           WHERE c.relnamespace = 'session_store'::regnamespace AND c.relkind = 'r'),
          'the recipe gives no privilege on any table, REFERENCES and TRIGGER included');

-- The portable edition's security model: no C to switch to the owner
-- inside a call, so every API function is SECURITY DEFINER, owned by the
-- installing role (the schema's owner); the helpers run as the caller; and
-- every function pins search_path (test/pgtap/search_path.sql tries it).
-- The C edition's functions are C, switching to the owner themselves.
\if :ss_portable
SELECT is((SELECT string_agg(p.oid::regprocedure::text, ', ' ORDER BY 1)
           FROM pg_proc p, pg_namespace n
           WHERE p.pronamespace = n.oid AND n.nspname = 'session_store'
             AND p.proname NOT LIKE '\_%' AND p.proname <> 'edition'
             AND NOT (p.prosecdef AND p.proowner = n.nspowner)),
          NULL, 'portable: every API function but edition() (a constant) is SECURITY DEFINER, owned by the schema''s owner');
SELECT is((SELECT string_agg(p.oid::regprocedure::text, ', ' ORDER BY 1)
           FROM pg_proc p
           WHERE p.pronamespace = 'session_store'::regnamespace
             AND p.proname LIKE '\_%' AND p.prosecdef),
          NULL, 'portable: every internal helper is SECURITY INVOKER');
SELECT is((SELECT string_agg(p.oid::regprocedure::text, ', ' ORDER BY 1)
           FROM pg_proc p
           WHERE p.pronamespace = 'session_store'::regnamespace
             AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false)),
          NULL, 'portable: every function pins search_path to pg_catalog, pg_temp');
\endif

-------------------------------------------------------------------------------
-- EXECUTE without USAGE: every call is refused at the schema
-------------------------------------------------------------------------------
SET ROLE ss_priv_exec_only;
SELECT throws_ok(call, '42501', NULL, 'without USAGE on the schema: ' || fn || ' is refused')
FROM (VALUES
  ('create_session',  $$SELECT session_store.create_session('priv', 'alice')$$),
  ('get_session',     $$SELECT * FROM session_store.get_session('priv', 'alice', 's1')$$),
  ('list_sessions',   $$SELECT * FROM session_store.list_sessions('priv')$$),
  ('list_sessions_with_state', $$SELECT * FROM session_store.list_sessions_with_state('priv')$$),
  ('delete_session',  $$SELECT session_store.delete_session('priv', 'alice', 's1')$$),
  ('append_messages', $$SELECT * FROM session_store.append_messages('priv', 'alice', 's1', '[]')$$),
  ('get_messages',    $$SELECT * FROM session_store.get_messages('priv', 'alice', 's1')$$),
  ('pop_message',     $$SELECT * FROM session_store.pop_message('priv', 'alice', 's1')$$),
  ('rewind_session',  $$SELECT session_store.rewind_session('priv', 'alice', 's1', 0)$$),
  ('clear_session',   $$SELECT session_store.clear_session('priv', 'alice', 's1')$$),
  ('fork_session',    $$SELECT session_store.fork_session('priv', 'alice', 's1')$$),
  ('get_app_state',   $$SELECT session_store.get_app_state('priv')$$),
  ('get_user_state',  $$SELECT session_store.get_user_state('priv', 'alice')$$),
  ('expire_sessions', $$SELECT session_store.expire_sessions('1 hour')$$),
  ('replace_messages', $$SELECT * FROM session_store.replace_messages('priv', 'alice', 's1', '[]', '[]')$$),
  ('count_sessions',  $$SELECT session_store.count_sessions('priv')$$),
  ('distribute',      $$SELECT session_store.distribute()$$),
  ('delegate_functions', $$SELECT * FROM session_store.delegate_functions()$$),
  ('edition',         $$SELECT * FROM session_store.edition()$$)
) AS calls(fn, call)
ORDER BY fn;
RESET ROLE;

-------------------------------------------------------------------------------
-- The recipe's role uses the whole API, with real results
-------------------------------------------------------------------------------
SET ROLE ss_priv_app;

SELECT is((SELECT version FROM session_store.edition()), '1.2',
          'edition() tells the version');
SELECT is((SELECT to_jsonb(s) - '{create_time,update_time}'::text[]
           FROM session_store.create_session('priv', 'alice',
                '{"goal": "Lisbon", "user:home": "Berlin", "app:model": "m1", "temp:x": 1}', 's1') s),
          '{"app_name": "priv", "user_id": "alice", "session_id": "s1",
            "state": {"goal": "Lisbon", "user:home": "Berlin", "app:model": "m1"},
            "version": 0, "last_seq": 0}'::jsonb,
          'create_session with an explicit id, state routed to its scopes');
SELECT session_id AS gen_id FROM session_store.create_session('priv', 'alice') \gset
SELECT matches(:'gen_id'::text, '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$',
               'create_session without an id gives a random UUID');
SELECT is((SELECT to_jsonb(r) - 'update_time'
           FROM session_store.append_messages('priv', 'alice', 's1', '[{"n": 1}, {"n": 2}]',
                state_delta => '{"step": "dates", "app:model": "m2"}',
                expected_version => 0, idempotency_key => 'req-1') r),
          '{"first_seq": 1, "last_seq": 2, "version": 1, "replayed": false}'::jsonb,
          'append_messages with a delta, expected_version and idempotency_key');
SELECT is((SELECT to_jsonb(r) - 'update_time'
           FROM session_store.append_messages('priv', 'alice', 's1', '[{"n": 1}, {"n": 2}]',
                state_delta => '{"step": "dates", "app:model": "m2"}',
                expected_version => 0, idempotency_key => 'req-1') r),
          '{"first_seq": 1, "last_seq": 2, "version": 1, "replayed": true}'::jsonb,
          'append_messages retried with the same key replays the first result');
SELECT throws_ok($$SELECT * FROM session_store.append_messages('priv', 'alice', 's1', '[{"n": 3}]',
                                                               expected_version => 0)$$,
                 '40001', NULL, 'append_messages with a stale expected_version fails with 40001');
SELECT is((SELECT to_jsonb(s) - '{create_time,update_time}'::text[]
           FROM session_store.get_session('priv', 'alice', 's1') s),
          '{"app_name": "priv", "user_id": "alice", "session_id": "s1",
            "state": {"goal": "Lisbon", "step": "dates", "user:home": "Berlin", "app:model": "m2"},
            "version": 1, "last_seq": 2}'::jsonb,
          'get_session returns the merged state');
SELECT is((SELECT jsonb_agg(jsonb_build_object('seq', seq, 'message', message))
           FROM session_store.get_messages('priv', 'alice', 's1')),
          '[{"seq": 1, "message": {"n": 1}}, {"seq": 2, "message": {"n": 2}}]'::jsonb,
          'get_messages returns the appended messages');
SELECT session_id AS page1_id, next_page_token AS page1_token
FROM session_store.list_sessions('priv', page_size => 1) \gset
SELECT is(:'page1_id'::text, 's1', 'list_sessions: the most recently updated session first');
SELECT is((SELECT array_agg(session_id)
           FROM session_store.list_sessions('priv', page_size => 10, page_token => :'page1_token')),
          ARRAY[:'gen_id'], 'list_sessions: its page token leads to the next page');
SELECT is((SELECT array_agg(session_id)
           FROM session_store.list_sessions('priv', page_size => 10, ascending => true)),
          ARRAY[:'gen_id', 's1'], 'list_sessions ascending: the least recently updated session first');
SELECT is((SELECT jsonb_agg(jsonb_build_object('session_id', session_id, 'state', state))
           FROM session_store.list_sessions_with_state('priv', 'alice', page_size => 1)),
          '[{"session_id": "s1", "state": {"goal": "Lisbon", "step": "dates", "user:home": "Berlin", "app:model": "m2"}}]'::jsonb,
          'list_sessions_with_state: the page with each session''s merged state');
SELECT is((SELECT array_agg(session_id)
           FROM session_store.list_sessions_with_state('priv', page_size => 10, page_token => :'page1_token')),
          ARRAY[:'gen_id'], 'list_sessions_with_state: a list_sessions token leads to the next page');
SELECT is(session_store.get_app_state('priv'), '{"model": "m2"}'::jsonb,
          'get_app_state returns the app''s keys');
SELECT is(session_store.get_user_state('priv', 'alice'), '{"home": "Berlin"}'::jsonb,
          'get_user_state returns the user''s keys');
SELECT is((SELECT to_jsonb(s) - '{create_time,update_time,state}'::text[]
           FROM session_store.fork_session('priv', 'alice', 's1', 'f1', up_to_seq => 1) s),
          '{"app_name": "priv", "user_id": "alice", "session_id": "f1", "version": 0, "last_seq": 1}'::jsonb,
          'fork_session copies up to up_to_seq');
SELECT is((SELECT jsonb_agg(jsonb_build_object('seq', seq, 'message', message))
           FROM session_store.pop_message('priv', 'alice', 's1')),
          '[{"seq": 2, "message": {"n": 2}}]'::jsonb,
          'pop_message removes and returns the latest message');
SELECT is(session_store.rewind_session('priv', 'alice', 's1', 0), 1::bigint,
          'rewind_session deletes the messages after to_seq');
SELECT is((SELECT to_jsonb(r) - 'update_time'
           FROM session_store.append_messages('priv', 'alice', 's1', '[{"n": 3}]') r),
          '{"first_seq": 3, "last_seq": 3, "version": 4, "replayed": false}'::jsonb,
          'append_messages after pop and rewind continues the sequence');
SELECT is(session_store.clear_session('priv', 'alice', 'f1'), 1::bigint,
          'clear_session deletes the fork''s messages');
SELECT is(session_store.delete_session('priv', 'alice', :'gen_id'), true,
          'delete_session deletes the generated session');
SELECT is(session_store.delete_session('priv', 'alice', :'gen_id'), false,
          'delete_session of a deleted session returns false');
SELECT is(current_user::text, 'ss_priv_app',
          'after the calls the backend still runs as the role, not as the extension owner');

-- an error inside a call (here 42704 from the SPI part of the call) must
-- give the caller's identity back too
SELECT throws_ok($$SELECT * FROM session_store.append_messages('priv', 'alice', 'nope', '[{"n": 1}]')$$,
                 '42704', NULL, 'append_messages on a missing session fails with 42704');
SELECT is(current_user::text, 'ss_priv_app',
          'after a failed call the backend still runs as the role');
SELECT throws_ok($$SELECT count(*) FROM session_store.sessions$$, '42501', NULL,
                 'after a failed call the role still cannot read the tables');

-- expire_sessions needs an idle session; make f1 look idle for a day
RESET ROLE;
UPDATE session_store.sessions SET update_time = update_time - interval '1 day'
WHERE app_name = 'priv' AND user_id = 'alice' AND session_id = 'f1';
SET ROLE ss_priv_app;
SELECT is(session_store.expire_sessions('1 hour', 'priv'), 1::bigint,
          'expire_sessions deletes the idle session');

-- the 1.1 functions, on an app of their own
SELECT session_store.create_session('priv-r', 'bob', NULL, 'r1') IS NOT NULL AS created \gset
SELECT is((SELECT to_jsonb(r) - 'update_time'
           FROM session_store.append_messages('priv-r', 'bob', 'r1', '[{"n": 1}]',
                keep_nulls => true, message_time => '2026-01-01 00:00:00+00',
                verify_replay => true, idempotency_key => 'a-1') r),
          '{"first_seq": 1, "last_seq": 1, "version": 1, "replayed": false}'::jsonb,
          'append_messages with the 1.1 arguments');
SELECT is((SELECT to_jsonb(r) - 'update_time'
           FROM session_store.replace_messages('priv-r', 'bob', 'r1', '[{"n": 1}]', '[{"n": 2}]',
                idempotency_key => 'r-1') r),
          '{"first_seq": 2, "last_seq": 2, "version": 2, "replayed": false, "removed": 1}'::jsonb,
          'replace_messages replaces the latest message');
SELECT is(session_store.count_sessions('priv-r'), 1::bigint,
          'count_sessions counts the app''s sessions');

-------------------------------------------------------------------------------
-- ... and nothing more
-------------------------------------------------------------------------------
SELECT throws_ok(format(stmt, t, col), '42501', NULL, format('the role cannot %s session_store.%s', op, t))
FROM (VALUES ('sessions', 'user_id'), ('messages', 'user_id'), ('idempotency_keys', 'user_id'),
             ('user_states', 'user_id'), ('app_states', 'app_name')) AS tables(t, col)
CROSS JOIN (VALUES
  ('SELECT from', 'SELECT * FROM session_store.%I'),
  ('INSERT into', 'INSERT INTO session_store.%I DEFAULT VALUES'),
  ('UPDATE',      'UPDATE session_store.%I SET %I = %2$I'),
  ('DELETE from', 'DELETE FROM session_store.%I'),
  ('TRUNCATE',    'TRUNCATE session_store.%I'),
  ('LOCK',        'LOCK TABLE session_store.%I IN ACCESS SHARE MODE')
) AS ops(op, stmt)
ORDER BY t, op;

SELECT throws_ok($$SELECT nextval('session_store.session_sid_seq')$$, '42501', NULL,
                 'the role cannot nextval the sequence');
SELECT throws_ok($$SELECT setval('session_store.session_sid_seq', 1)$$, '42501', NULL,
                 'the role cannot setval the sequence');
SELECT throws_ok($$SELECT currval('session_store.session_sid_seq')$$, '42501', NULL,
                 'the role cannot currval the sequence (which this backend has used)');
SELECT throws_ok($$SELECT last_value FROM session_store.session_sid_seq$$, '42501', NULL,
                 'the role cannot SELECT from the sequence');
SELECT throws_ok($$ALTER SEQUENCE session_store.session_sid_seq RESTART$$, '42501', NULL,
                 'the role cannot restart the sequence');

SELECT throws_ok(stmt, '42501', NULL, 'the role cannot ' || what)
FROM (VALUES
  ('create a table in the schema',    $$CREATE TABLE session_store.planted (i int)$$),
  ('create a view in the schema',     $$CREATE VIEW session_store.planted AS SELECT 1 AS i$$),
  ('create a sequence in the schema', $$CREATE SEQUENCE session_store.planted$$),
  ('create a function in the schema', $$CREATE FUNCTION session_store.planted() RETURNS int LANGUAGE sql AS 'SELECT 1'$$),
  ('create a type in the schema',     $$CREATE DOMAIN session_store.planted AS int$$),
  ('create an operator in the schema', $$CREATE OPERATOR session_store.=== (LEFTARG = text, RIGHTARG = text, FUNCTION = texteq)$$),
  ('replace an API function',         $$CREATE OR REPLACE FUNCTION session_store.get_app_state(app_name text) RETURNS jsonb LANGUAGE sql AS 'SELECT ''{}''::jsonb'$$),
  ('drop an API function',            $$DROP FUNCTION session_store.get_app_state(text)$$),
  ('make an API function SECURITY DEFINER', $$ALTER FUNCTION session_store.get_app_state(text) SECURITY DEFINER$$),
  ('alter a table',                   $$ALTER TABLE session_store.sessions ADD COLUMN planted int$$),
  ('drop a table',                    $$DROP TABLE session_store.messages$$),
  ('create an index on a table',      $$CREATE INDEX ON session_store.sessions (state)$$),
  ('create a trigger on a table',     $$CREATE TRIGGER planted BEFORE INSERT ON session_store.messages FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger()$$),
  ('grant itself SELECT on a table',  $$GRANT SELECT ON session_store.sessions TO ss_priv_app$$),
  ('comment on a table',              $$COMMENT ON TABLE session_store.sessions IS 'planted'$$),
  ('raise session_store.max_batch_messages', $$SET session_store.max_batch_messages = 1000000$$),
  ('raise session_store.max_message_size',   $$SET session_store.max_message_size = '1GB'$$)
) AS attempts(what, stmt)
-- the portable edition's limits are placeholder settings, which any role
-- may SET (no C to register them superuser-only): what it checks is that
-- the limit in force does not rise (below)
WHERE NOT (:ss_portable AND what LIKE 'raise %');
\if :ss_portable
SET session_store.max_batch_messages = 1000000;
SELECT throws_ok($$SELECT * FROM session_store.append_messages('priv-r', 'bob', 'r1',
                     (SELECT jsonb_agg(jsonb_build_object('i', i)) FROM generate_series(1, 1001) i))$$,
                 '54000', 'too many messages in one call',
                 'portable: the role''s SET session_store.max_batch_messages does not raise the limit');
RESET session_store.max_batch_messages;
SET session_store.max_message_size = '1000MB';
SELECT throws_ok($$SELECT * FROM session_store.append_messages('priv-r', 'bob', 'r1',
                     jsonb_build_array(jsonb_build_object('x', repeat('a', 17 * 1024 * 1024))))$$,
                 '54000', 'message at index 0 is too large',
                 'portable: the role''s SET session_store.max_message_size does not raise the limit');
RESET session_store.max_message_size;
\endif
-- GRANT by a role without grant option only warns "no privileges were
-- granted" when it holds some privilege (here USAGE): check the outcome
DO $$
BEGIN
    SET LOCAL client_min_messages = error;
    GRANT CREATE ON SCHEMA session_store TO ss_priv_app;
    GRANT ALL ON ALL TABLES IN SCHEMA session_store TO ss_priv_app;
EXCEPTION WHEN insufficient_privilege THEN
    NULL;
END
$$;
RESET ROLE;
SELECT ok(NOT has_schema_privilege('ss_priv_app', 'session_store', 'CREATE'),
          'after granting itself CREATE on the schema the role still has no CREATE');
SELECT ok((SELECT NOT bool_or(has_table_privilege('ss_priv_app', c.oid,
               'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER'))
           FROM pg_class c
           WHERE c.relnamespace = 'session_store'::regnamespace AND c.relkind = 'r'),
          'after all its attempts the role still holds no privilege on any table');

-------------------------------------------------------------------------------
-- What the role did is real: seen by the superuser in the tables and the API
-------------------------------------------------------------------------------
SELECT is((SELECT array_agg(session_id ORDER BY session_id) FROM session_store.sessions
           WHERE app_name = 'priv'),
          ARRAY['s1'], 'superuser sees s1 only: the generated session was deleted, the fork expired');
SELECT is((SELECT to_jsonb(s) - '{create_time,update_time}'::text[]
           FROM session_store.get_session('priv', 'alice', 's1') s),
          '{"app_name": "priv", "user_id": "alice", "session_id": "s1",
            "state": {"goal": "Lisbon", "step": "dates", "user:home": "Berlin", "app:model": "m2"},
            "version": 4, "last_seq": 3}'::jsonb,
          'superuser''s get_session shows what the role wrote');
SELECT is((SELECT array_agg(m.seq ORDER BY m.seq)
           FROM session_store.messages m JOIN session_store.sessions s USING (user_id, sid)
           WHERE s.app_name = 'priv' AND s.session_id = 's1'),
          ARRAY[3::bigint], 'superuser sees exactly message 3 of s1 in the messages table');
SELECT is((SELECT count(*)::int FROM session_store.messages m
           WHERE NOT EXISTS (SELECT 1 FROM session_store.sessions s
                             WHERE s.user_id = m.user_id AND s.sid = m.sid)),
          0, 'the deleted and expired sessions left no messages behind');
SELECT is((SELECT k.idempotency_key FROM session_store.idempotency_keys k
           JOIN session_store.sessions s USING (user_id, sid)
           WHERE s.app_name = 'priv' AND s.session_id = 's1'),
          'req-1', 'superuser sees the role''s idempotency key');
SELECT is((SELECT state FROM session_store.app_states WHERE app_name = 'priv'),
          '{"model": "m2"}'::jsonb, 'superuser sees the app state the role wrote');
SELECT is((SELECT state FROM session_store.user_states WHERE app_name = 'priv' AND user_id = 'alice'),
          '{"home": "Berlin"}'::jsonb, 'superuser sees the user state the role wrote');

SELECT * FROM finish();
ROLLBACK;
