-- The API's shape (1.2): every function of the contract with its exact signature,
-- defaults, result, volatility and strictness; the result types; and no
-- EXECUTE for PUBLIC.
\set ON_ERROR_STOP 1
\pset format unaligned
\pset tuples_only true
\pset pager off

BEGIN;
-- the edition named by SS_EDITION; sets ss_portable
\ir install.psql

-- name, identity arguments, full argument list with defaults, result, volatility
CREATE TEMP TABLE api (fn text, args text, full_args text, result text, vol text);
INSERT INTO api VALUES
 ('create_session', 'app_name text, user_id text, state jsonb, session_id text, keep_nulls boolean, idempotency_key text',
  'app_name text, user_id text, state jsonb DEFAULT NULL::jsonb, session_id text DEFAULT NULL::text, keep_nulls boolean DEFAULT false, idempotency_key text DEFAULT NULL::text',
  'session_store.session', 'v'),
 ('get_session', 'app_name text, user_id text, session_id text',
  'app_name text, user_id text, session_id text',
  'SETOF session_store.session', 's'),
 ('delete_session', 'app_name text, user_id text, session_id text',
  'app_name text, user_id text, session_id text',
  'boolean', 'v'),
 ('append_messages', 'app_name text, user_id text, session_id text, messages jsonb, state_delta jsonb, expected_version bigint, idempotency_key text, keep_nulls boolean, message_time timestamp with time zone, verify_replay boolean',
  'app_name text, user_id text, session_id text, messages jsonb, state_delta jsonb DEFAULT NULL::jsonb, expected_version bigint DEFAULT NULL::bigint, idempotency_key text DEFAULT NULL::text, keep_nulls boolean DEFAULT false, message_time timestamp with time zone DEFAULT NULL::timestamp with time zone, verify_replay boolean DEFAULT false',
  'TABLE(first_seq bigint, last_seq bigint, version bigint, update_time timestamp with time zone, replayed boolean)', 'v'),
 ('replace_messages', 'app_name text, user_id text, session_id text, expected_suffix jsonb, replacement jsonb, state_delta jsonb, expected_version bigint, idempotency_key text, keep_nulls boolean',
  'app_name text, user_id text, session_id text, expected_suffix jsonb, replacement jsonb, state_delta jsonb DEFAULT NULL::jsonb, expected_version bigint DEFAULT NULL::bigint, idempotency_key text DEFAULT NULL::text, keep_nulls boolean DEFAULT false',
  'TABLE(first_seq bigint, last_seq bigint, version bigint, update_time timestamp with time zone, replayed boolean, removed bigint)', 'v'),
 ('get_messages', 'app_name text, user_id text, session_id text, max_count integer, after_seq bigint, before_seq bigint, after_time timestamp with time zone',
  'app_name text, user_id text, session_id text, max_count integer DEFAULT NULL::integer, after_seq bigint DEFAULT NULL::bigint, before_seq bigint DEFAULT NULL::bigint, after_time timestamp with time zone DEFAULT NULL::timestamp with time zone',
  'TABLE(seq bigint, message jsonb, create_time timestamp with time zone)', 's'),
 ('count_sessions', 'app_name text, user_id text',
  'app_name text, user_id text DEFAULT NULL::text',
  'bigint', 's'),
 ('list_sessions', 'app_name text, user_id text, page_size integer, page_token text, ascending boolean',
  'app_name text, user_id text DEFAULT NULL::text, page_size integer DEFAULT 100, page_token text DEFAULT NULL::text, ascending boolean DEFAULT false',
  'SETOF session_store.session_summary', 's'),
 ('list_sessions_with_state', 'app_name text, user_id text, page_size integer, page_token text, ascending boolean',
  'app_name text, user_id text DEFAULT NULL::text, page_size integer DEFAULT 100, page_token text DEFAULT NULL::text, ascending boolean DEFAULT false',
  'SETOF session_store.session_summary_with_state', 's'),
 ('pop_message', 'app_name text, user_id text, session_id text, expected_version bigint, idempotency_key text',
  'app_name text, user_id text, session_id text, expected_version bigint DEFAULT NULL::bigint, idempotency_key text DEFAULT NULL::text',
  'TABLE(seq bigint, message jsonb, create_time timestamp with time zone)', 'v'),
 ('rewind_session', 'app_name text, user_id text, session_id text, to_seq bigint, expected_version bigint, idempotency_key text',
  'app_name text, user_id text, session_id text, to_seq bigint, expected_version bigint DEFAULT NULL::bigint, idempotency_key text DEFAULT NULL::text',
  'bigint', 'v'),
 ('clear_session', 'app_name text, user_id text, session_id text, expected_version bigint, idempotency_key text',
  'app_name text, user_id text, session_id text, expected_version bigint DEFAULT NULL::bigint, idempotency_key text DEFAULT NULL::text',
  'bigint', 'v'),
 ('fork_session', 'app_name text, user_id text, session_id text, new_session_id text, up_to_seq bigint, idempotency_key text',
  'app_name text, user_id text, session_id text, new_session_id text DEFAULT NULL::text, up_to_seq bigint DEFAULT NULL::bigint, idempotency_key text DEFAULT NULL::text',
  'session_store.session', 'v'),
 ('expire_sessions', 'idle_for interval, app_name text, max_sessions integer',
  'idle_for interval, app_name text DEFAULT NULL::text, max_sessions integer DEFAULT 1000',
  'bigint', 'v'),
 ('get_app_state', 'app_name text', 'app_name text', 'jsonb', 's'),
 ('get_user_state', 'app_name text, user_id text', 'app_name text, user_id text', 'jsonb', 's'),
 ('distribute', 'shard_count integer', 'shard_count integer DEFAULT NULL::integer', 'void', 'v'),
 ('delegate_functions', '', '', 'SETOF regprocedure', 'v'),
 ('edition', 'OUT edition text, OUT version text', 'OUT edition text, OUT version text', 'record', 's');

CREATE TEMP VIEW api_proc AS
SELECT a.*, p.oid AS poid, p.proacl, p.proowner, p.proisstrict, p.provolatile,
       p.prosecdef, p.prolang
FROM api a
LEFT JOIN pg_proc p
  ON p.pronamespace = 'session_store'::regnamespace AND p.proname = a.fn
 AND pg_get_function_identity_arguments(p.oid) = a.args;

SELECT plan((SELECT count(*)::int * 6 FROM api) + 8);

SELECT has_schema('session_store');
-- The portable edition also holds its internal helpers, named _something
-- (SECURITY INVOKER, touching no table: test/pgtap/privileges.sql); the C
-- edition has none, and no API name starts with an underscore.
SELECT functions_are('session_store',
                     ARRAY(SELECT fn FROM api
                           UNION ALL
                           SELECT DISTINCT proname::text FROM pg_proc
                           WHERE :ss_portable AND pronamespace = 'session_store'::regnamespace
                             AND proname LIKE '\_%'),
                     CASE WHEN :ss_portable
                          THEN 'the schema holds exactly the API''s functions and the portable edition''s helpers'
                          ELSE 'the schema holds exactly the API''s functions' END);

SELECT ok(poid IS NOT NULL, fn || '(' || args || ') exists') FROM api_proc ORDER BY fn;
SELECT is((SELECT string_agg(proname, ', ' ORDER BY proname) FROM
             (SELECT proname FROM pg_proc WHERE pronamespace = 'session_store'::regnamespace
              AND proname NOT LIKE '\_%'
              GROUP BY proname HAVING count(*) > 1) o),
          NULL, 'no API function name is overloaded (no 1.0 signature left beside its 1.1 one)');
SELECT is(pg_get_function_arguments(poid), full_args, fn || ': argument names and defaults') FROM api_proc ORDER BY fn;
SELECT is(pg_get_function_result(poid), result, fn || ': result') FROM api_proc ORDER BY fn;
SELECT is(provolatile::text, vol, fn || ': volatility') FROM api_proc ORDER BY fn;
-- not STRICT: a NULL where a value is required is an error (22004), not NULL
SELECT ok(NOT proisstrict, fn || ': not strict') FROM api_proc ORDER BY fn;
SELECT ok(NOT EXISTS (SELECT 1 FROM aclexplode(coalesce(proacl, acldefault('f', proowner))) x
                      WHERE x.grantee = 0 AND x.privilege_type = 'EXECUTE'),
          fn || ': EXECUTE not granted to PUBLIC') FROM api_proc ORDER BY fn;

-- result types: column names and types, in order
CREATE TEMP VIEW type_columns AS
SELECT attrelid::regclass::text AS typ,
       string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum) AS cols
FROM pg_attribute WHERE attnum > 0 GROUP BY attrelid;
SELECT is((SELECT cols FROM type_columns WHERE typ = 'session_store.session'),
  'app_name text, user_id text, session_id text, state jsonb, version bigint, last_seq bigint, create_time timestamp with time zone, update_time timestamp with time zone',
  'session_store.session columns');
SELECT is((SELECT cols FROM type_columns WHERE typ = 'session_store.session_summary'),
  'user_id text, session_id text, version bigint, last_seq bigint, create_time timestamp with time zone, update_time timestamp with time zone, next_page_token text',
  'session_store.session_summary columns');
SELECT is((SELECT cols FROM type_columns WHERE typ = 'session_store.session_summary_with_state'),
  'user_id text, session_id text, version bigint, last_seq bigint, create_time timestamp with time zone, update_time timestamp with time zone, next_page_token text, state jsonb',
  'session_store.session_summary_with_state columns: the summary''s, then the merged state');

-- a role that was granted nothing cannot call the API
CREATE ROLE session_store_nobody;
SET ROLE session_store_nobody;
SELECT throws_ok($$SELECT session_store.get_app_state('a')$$, '42501', NULL,
                 'a role without grants cannot use the schema');
RESET ROLE;
GRANT USAGE ON SCHEMA session_store TO session_store_nobody;
SET ROLE session_store_nobody;
SELECT throws_ok($$SELECT session_store.get_app_state('a')$$, '42501', NULL,
                 'USAGE on the schema alone does not allow EXECUTE');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
