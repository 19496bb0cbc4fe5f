--
-- Hardening: rows written around the API, DDL an administrator may run on
-- the extension's tables, and the executor's duties on the write path
--

-- A session row with a 300-byte id, written directly by a superuser (or an
-- edited dump): listing it is a clean error, not a crash.
INSERT INTO session_store.sessions
VALUES ('hx', 'u', repeat('x', 300), 999, '{}', 0, 0, now(), now());
SELECT test.try($$SELECT 1 FROM session_store.list_sessions('hx')$$);
SELECT test.try($$SELECT 1 FROM session_store.list_sessions('hx', 'u')$$);
-- an empty user_id likewise
UPDATE session_store.sessions SET user_id = '', session_id = 's' WHERE app_name = 'hx';
SELECT test.try($$SELECT 1 FROM session_store.list_sessions('hx')$$);
DELETE FROM session_store.sessions WHERE app_name = 'hx';
SELECT count(*) FROM session_store.list_sessions('hx');

-- Every call runs as the extension's owner (pg_extension.extowner), in a
-- security-restricted operation: code of the owner's that a call runs (a
-- trigger here) cannot create temporary objects or change the role.
CREATE ROLE regress_ss_caller;
GRANT USAGE ON SCHEMA session_store TO regress_ss_caller;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA session_store TO regress_ss_caller;
CREATE TABLE test.trigger_log (is_owner boolean, temp_table text, set_role text);
CREATE FUNCTION test.user_state_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO test.trigger_log VALUES (
        current_user = (SELECT extowner::regrole::text FROM pg_extension
                        WHERE extname = 'session_store'),
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
