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
