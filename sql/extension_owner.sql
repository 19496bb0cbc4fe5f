--
-- The extension's schema is the extension's: bound by OID in pg_extension,
-- owned by the extension's owner, or nothing runs
--
-- The extension lives in its own schema and cannot be moved.
SELECT extname, extnamespace::regnamespace, extrelocatable, extversion
FROM pg_extension WHERE extname = 'session_store';
-- the database the suite runs in, to come back to (not always contrib_regression)
\set suite_db :DBNAME
CREATE ROLE regress_ss_evil;
CREATE DATABASE regress_ss_owner;
GRANT CREATE ON DATABASE regress_ss_owner TO regress_ss_evil;
\c regress_ss_owner
\set VERBOSITY terse

-- a role that may create schemas takes the name first: the install fails
SET ROLE regress_ss_evil;
CREATE SCHEMA session_store;
RESET ROLE;
CREATE EXTENSION session_store;
\echo :LAST_ERROR_SQLSTATE
CREATE EXTENSION session_store VERSION '1.0';
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS leftovers FROM pg_class
WHERE relnamespace = 'session_store'::regnamespace;
DROP SCHEMA session_store;

-- installed by its owner, it works
CREATE EXTENSION session_store;
SELECT version FROM session_store.create_session('o', 'u', NULL, 's');
SELECT version FROM session_store.append_messages('o', 'u', 's', '[{"a": 1}]');

-- the schema given to another role afterwards: every call refuses
ALTER SCHEMA session_store OWNER TO regress_ss_evil;
SELECT version FROM session_store.append_messages('o', 'u', 's', '[{"a": 2}]');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM session_store.get_messages('o', 'u', 's');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM session_store.list_sessions('o');
\echo :LAST_ERROR_SQLSTATE
ALTER SCHEMA session_store OWNER TO CURRENT_USER;
SELECT version FROM session_store.append_messages('o', 'u', 's', '[{"a": 2}]');

-- renamed, and another schema planted under the name with look-alike
-- tables: the calls refuse rather than write to (or read) the plant
ALTER SCHEMA session_store RENAME TO session_store_real;
SET ROLE regress_ss_evil;
CREATE SCHEMA session_store;
CREATE TABLE session_store.sessions (app_name text, user_id text,
    session_id text, sid bigint, state jsonb, version bigint, last_seq bigint,
    create_time timestamptz, update_time timestamptz,
    PRIMARY KEY (app_name, user_id, session_id));
CREATE TABLE session_store.messages (user_id text, sid bigint, seq bigint,
    message jsonb, create_time timestamptz, PRIMARY KEY (user_id, sid, seq));
INSERT INTO session_store.sessions VALUES ('o', 'u', 's', 1, '{}', 100, 100, now(), now());
RESET ROLE;
SELECT version FROM session_store_real.append_messages('o', 'u', 's', '[{"secret": 1}]');
\echo :LAST_ERROR_SQLSTATE
SELECT version FROM session_store_real.create_session('o', 'u', NULL, 's2');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM session_store_real.get_session('o', 'u', 's');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS planted_messages FROM session_store.messages;
DROP SCHEMA session_store CASCADE;
ALTER SCHEMA session_store_real RENAME TO session_store;
SELECT count(*) FROM session_store.get_messages('o', 'u', 's');

-- 1.0, filled, then updated: the id constraints are added to tables that
-- hold data; a row out of bounds fails the update, which changes nothing
DROP EXTENSION session_store;
CREATE EXTENSION session_store VERSION '1.0';
SELECT count(session_store.create_session('up', 'u' || i, '{"app:a": 1, "user:b": 2}', 's'))
FROM generate_series(1, 3) i;
SELECT last_seq FROM session_store.append_messages('up', 'u1', 's', '[{}, {}]', NULL, NULL, 'k1');
INSERT INTO session_store.sessions
VALUES ('up', 'u', repeat('x', 129), 999, '{}', 0, 0, now(), now());
ALTER EXTENSION session_store UPDATE;
\echo :LAST_ERROR_SQLSTATE
SELECT extversion FROM pg_extension WHERE extname = 'session_store';
DELETE FROM session_store.sessions WHERE sid = 999;
-- nor does it run in a schema that another role owns
ALTER SCHEMA session_store OWNER TO regress_ss_evil;
ALTER EXTENSION session_store UPDATE;
\echo :LAST_ERROR_SQLSTATE
ALTER SCHEMA session_store OWNER TO CURRENT_USER;
ALTER EXTENSION session_store UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'session_store';
SELECT count(*) AS id_constraints FROM pg_constraint
WHERE connamespace = 'session_store'::regnamespace AND contype = 'c' AND convalidated;
SELECT (SELECT count(*) FROM session_store.sessions) AS sessions,
       (SELECT count(*) FROM session_store.messages) AS messages,
       (SELECT count(*) FROM session_store.idempotency_keys) AS keys,
       (SELECT count(*) FROM session_store.user_states) AS user_states,
       (SELECT count(*) FROM session_store.app_states) AS app_states;
SELECT replayed, last_seq FROM session_store.append_messages('up', 'u1', 's', '[{}, {}]', NULL, NULL, 'k1');

\set VERBOSITY default
\c :suite_db
DROP DATABASE regress_ss_owner;
DROP ROLE regress_ss_evil;
