--
-- The extension's schema is the extension's: bound by OID in pg_extension,
-- owned by the extension's owner, or nothing runs
--
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

\set VERBOSITY default
\c contrib_regression
DROP DATABASE regress_ss_owner;
DROP ROLE regress_ss_evil;
