--
-- Hardening: rows written around the API, DDL an administrator may run on
-- the extension's tables, and the executor's duties on the write path
--

-- Ids are 1..128 bytes in the tables too (1.1): a row written around the
-- API with a longer or empty id is refused.
SELECT test.try($$INSERT INTO session_store.sessions
    VALUES ('hx', 'u', repeat('x', 300), 999, '{}', 0, 0, now(), now())$$);
SELECT test.try($$INSERT INTO session_store.messages VALUES ('', 1, 1, '{}', now())$$);
SELECT test.try($$INSERT INTO session_store.idempotency_keys
    VALUES ('u', 1, repeat('k', 129), 1, 1, 1, now())$$);
SELECT test.try($$INSERT INTO session_store.user_states VALUES ('a', repeat('u', 129), '{}')$$);
SELECT test.try($$INSERT INTO session_store.app_states VALUES ('', '{}')$$);
SELECT conrelid::regclass, conname FROM pg_constraint
WHERE connamespace = 'session_store'::regnamespace AND contype = 'c'
ORDER BY 1, 2;

-- Even without those constraints (dropped by a superuser, or a table not
-- yet updated), a stored 300-byte id is a clean error in list_sessions,
-- not a crash.
BEGIN;
ALTER TABLE session_store.sessions DROP CONSTRAINT sessions_user_id_bytes,
    DROP CONSTRAINT sessions_session_id_bytes;
INSERT INTO session_store.sessions
VALUES ('hx', 'u', repeat('x', 300), 999, '{}', 0, 0, now(), now());
SELECT test.try($$SELECT 1 FROM session_store.list_sessions('hx')$$);
SELECT test.try($$SELECT 1 FROM session_store.list_sessions('hx', 'u')$$);
-- an empty user_id likewise
UPDATE session_store.sessions SET user_id = '', session_id = 's' WHERE app_name = 'hx';
SELECT test.try($$SELECT 1 FROM session_store.list_sessions('hx')$$);
ROLLBACK;
SELECT count(*) FROM session_store.list_sessions('hx');

-- Sequence numbers and versions that would overflow: 22003, nothing written
SELECT version FROM session_store.create_session('ho', 'u', NULL, 's');
UPDATE session_store.sessions SET last_seq = 9223372036854775805
WHERE app_name = 'ho';
SELECT test.try($$SELECT session_store.append_messages('ho', 'u', 's', '[{}, {}]')$$);
SELECT first_seq, last_seq, version FROM session_store.append_messages('ho', 'u', 's', '[{}]');
SELECT test.try($$SELECT session_store.append_messages('ho', 'u', 's', '[{}]')$$);
SELECT seq FROM session_store.get_messages('ho', 'u', 's');
SELECT version, last_seq FROM session_store.get_session('ho', 'u', 's');
UPDATE session_store.sessions SET version = 9223372036854775807, last_seq = 0
WHERE app_name = 'ho';
SELECT test.try($$SELECT session_store.append_messages('ho', 'u', 's', '[]')$$);
SELECT test.try($$SELECT session_store.pop_message('ho', 'u', 's')$$);
SELECT version, last_seq FROM session_store.get_session('ho', 'u', 's');
SELECT count(*) FROM session_store.get_messages('ho', 'u', 's');
SELECT session_store.delete_session('ho', 'u', 's');

-- An idempotent replay writes nothing, so it works in a read-only
-- transaction (a retry on a standby or a read-only pool); a call that
-- would write fails there with 25006
SELECT version FROM session_store.create_session('hro', 'u', NULL, 's');
SELECT first_seq, last_seq, replayed
FROM session_store.append_messages('hro', 'u', 's', '[{}, {}]', '{"k": 1}', NULL, 'once');
BEGIN TRANSACTION READ ONLY;
SELECT first_seq, last_seq, version, replayed
FROM session_store.append_messages('hro', 'u', 's', '[{}, {}]', '{"k": 1}', NULL, 'once');
SELECT test.try($$SELECT session_store.append_messages('hro', 'u', 's', '[{}]', NULL, NULL, 'twice')$$);
SELECT test.try($$SELECT session_store.append_messages('hro', 'u', 's', '[{}]')$$);
SELECT test.try($$SELECT session_store.pop_message('hro', 'u', 's')$$);
COMMIT;
SELECT version, last_seq FROM session_store.get_session('hro', 'u', 's');
SELECT session_store.delete_session('hro', 'u', 's');

-- Every call runs as the extension's owner (the owner of its schema:
-- pg_extension.extowner in the C edition, the installing role in the
-- portable one), in a security-restricted operation: code of the owner's
-- that a call runs (a trigger here) cannot create temporary objects or
-- change the role.
CREATE ROLE regress_ss_caller;
GRANT USAGE ON SCHEMA session_store TO regress_ss_caller;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA session_store TO regress_ss_caller;
CREATE TABLE test.trigger_log (is_owner boolean, temp_table text, set_role text);
CREATE FUNCTION test.user_state_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO test.trigger_log VALUES (
        current_user = (SELECT nspowner::regrole::text FROM pg_namespace
                        WHERE nspname = 'session_store'),
        test.try('CREATE TEMP TABLE made_in_trigger (x int)'),
        test.try('SET LOCAL ROLE regress_ss_caller'));
    RETURN NEW;
END
$$;
CREATE TRIGGER audit BEFORE INSERT OR UPDATE ON session_store.user_states
    FOR EACH ROW EXECUTE FUNCTION test.user_state_audit();
SET ROLE regress_ss_caller;
SELECT version FROM session_store.create_session('hr', 'u', '{"user:k": 1}', 's');
RESET ROLE;
SELECT * FROM test.trigger_log;
DROP TRIGGER audit ON session_store.user_states;
DROP TABLE test.trigger_log;
REVOKE ALL ON SCHEMA session_store FROM regress_ss_caller;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA session_store FROM regress_ss_caller;
DROP ROLE regress_ss_caller;
