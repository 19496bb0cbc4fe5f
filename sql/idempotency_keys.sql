--
-- 1.2: idempotency keys of create_session, fork_session, pop_message,
-- rewind_session and clear_session.  A call that finds its key on the
-- session writes nothing and returns the first call's result; a key used
-- by another kind of call is 42710; keys live as long as their session.
--

-- create_session: the key is recorded on the new session
SELECT session_id, state, version, last_seq
FROM session_store.create_session('ik', 'u', '{"a": 1, "user:h": 1}', 'c1',
                                  idempotency_key => 'kc1');
SELECT version FROM session_store.append_messages('ik', 'u', 'c1', '[{"n": 1}]', '{"a": 2}');
-- a retry returns the session as it is now, and writes nothing
SELECT session_id, state, version, last_seq,
       create_time = (SELECT create_time FROM session_store.get_session('ik', 'u', 'c1')) AS same_session
FROM session_store.create_session('ik', 'u', '{"a": 1, "user:h": 1}', 'c1',
                                  idempotency_key => 'kc1');
-- ... even with other arguments (the key decides), and its state is not applied
SELECT state, version FROM session_store.create_session('ik', 'u', '{"a": 9, "user:h": 9}', 'c1',
                                                        idempotency_key => 'kc1');
SELECT session_store.get_user_state('ik', 'u');
SELECT count(*) FROM session_store.get_messages('ik', 'u', 'c1');
-- another key, or none: the session exists (23505), as without keys
SELECT test.try($$SELECT session_store.create_session('ik', 'u', NULL, 'c1', idempotency_key => 'other')$$);
SELECT test.try($$SELECT session_store.create_session('ik', 'u', NULL, 'c1')$$);
-- a session created without a key is not replayed for a key (23505)
SELECT session_id FROM session_store.create_session('ik', 'u', NULL, 'c2');
SELECT test.try($$SELECT session_store.create_session('ik', 'u', NULL, 'c2', idempotency_key => 'kc2')$$);
-- a key is a key of one session: the same key creates another session
SELECT session_id, version FROM session_store.create_session('ik', 'u', NULL, 'c3', idempotency_key => 'kc1');
SELECT session_id, version FROM session_store.create_session('ik', 'u2', NULL, 'c1', idempotency_key => 'kc1');
-- a key with a server-made id is recorded, and never matches again
SELECT count(*) FROM (
    SELECT session_store.create_session('ik', 'gen', NULL, NULL, idempotency_key => 'kg')
    UNION ALL
    SELECT session_store.create_session('ik', 'gen', NULL, NULL, idempotency_key => 'kg')) s;
SELECT session_store.count_sessions('ik', 'gen');
-- the key's bounds are an identifier's
SELECT test.try($$SELECT session_store.create_session('ik', 'u', NULL, 'c9', idempotency_key => '')$$);
SELECT test.try($$SELECT session_store.create_session('ik', 'u', NULL, 'c9', idempotency_key => repeat('k', 129))$$);
SELECT count(*) FROM session_store.get_session('ik', 'u', 'c9');

-- fork_session: the key is recorded on the fork
SELECT session_id, state, version, last_seq
FROM session_store.fork_session('ik', 'u', 'c1', 'f1', idempotency_key => 'kf1');
SELECT version FROM session_store.append_messages('ik', 'u', 'f1', '[{"n": 2}]');
SELECT version FROM session_store.append_messages('ik', 'u', 'c1', '[{"n": 3}, {"n": 4}]');
-- a retry returns the fork as it is now: nothing copied again
SELECT session_id, state, version, last_seq
FROM session_store.fork_session('ik', 'u', 'c1', 'f1', idempotency_key => 'kf1');
SELECT array_agg(message->>'n' ORDER BY seq) FROM session_store.get_messages('ik', 'u', 'f1');
-- ... even once the source is gone
SELECT session_id FROM session_store.fork_session('ik', 'u', 'c3', 'f3', idempotency_key => 'kf3');
SELECT session_store.delete_session('ik', 'u', 'c3');
SELECT session_id, version FROM session_store.fork_session('ik', 'u', 'c3', 'f3', idempotency_key => 'kf3');
SELECT test.try($$SELECT session_store.fork_session('ik', 'u', 'c3', 'f4', idempotency_key => 'kf4')$$);
-- the fork exists without that key (23505)
SELECT test.try($$SELECT session_store.fork_session('ik', 'u', 'c1', 'f1', idempotency_key => 'other')$$);
SELECT test.try($$SELECT session_store.fork_session('ik', 'u', 'c1', 'c2', idempotency_key => 'kf5')$$);

-- 42710: a key used by another kind of call on the session
SELECT test.try($$SELECT session_store.fork_session('ik', 'u', 'c2', 'c1', idempotency_key => 'kc1')$$);
SELECT test.try($$SELECT session_store.create_session('ik', 'u', NULL, 'f1', idempotency_key => 'kf1')$$);
SELECT test.try($$SELECT session_store.append_messages('ik', 'u', 'c1', '[{"n": 5}]', idempotency_key => 'kc1')$$);
SELECT test.try($$SELECT session_store.append_messages('ik', 'u', 'f1', '[]', idempotency_key => 'kf1', verify_replay => true)$$);
SELECT test.try($$SELECT session_store.replace_messages('ik', 'u', 'c1', '[]', '[]', idempotency_key => 'kc1')$$);
SELECT first_seq FROM session_store.append_messages('ik', 'u', 'c2', '[{"n": 1}]', idempotency_key => 'ka');
SELECT test.try($$SELECT session_store.create_session('ik', 'u', NULL, 'c2', idempotency_key => 'ka')$$);
SELECT test.try($$SELECT session_store.fork_session('ik', 'u', 'c1', 'c2', idempotency_key => 'ka')$$);
-- nothing was written by the refused calls
SELECT session_id, version, last_seq FROM session_store.get_session('ik', 'u', 'c1')
UNION ALL SELECT session_id, version, last_seq FROM session_store.get_session('ik', 'u', 'c2')
UNION ALL SELECT session_id, version, last_seq FROM session_store.get_session('ik', 'u', 'f1');

-- keys live as long as their session: deleted with it, then free again
SELECT session_store.delete_session('ik', 'u', 'c1');
SELECT session_id, version FROM session_store.create_session('ik', 'u', NULL, 'c1', idempotency_key => 'kc1');
SELECT session_id, version FROM session_store.create_session('ik', 'u', NULL, 'c1', idempotency_key => 'kc1');
SELECT first_seq FROM session_store.append_messages('ik', 'u', 'c1', '[{"n": 1}]');

-- inside a transaction: the replay sees the transaction's own create
BEGIN;
SELECT version FROM session_store.create_session('ik', 'tx', NULL, 't1', idempotency_key => 'kt');
SELECT version FROM session_store.create_session('ik', 'tx', NULL, 't1', idempotency_key => 'kt');
ROLLBACK;
SELECT count(*) FROM session_store.get_session('ik', 'tx', 't1');

-- pop_message: a retry returns the row the first call popped
SELECT session_id FROM session_store.create_session('ik', 'p', NULL, 'p1');
SELECT last_seq FROM session_store.append_messages('ik', 'p', 'p1',
    (SELECT jsonb_agg(jsonb_build_object('n', i)) FROM generate_series(1, 6) i));
SELECT seq, message, create_time = (SELECT create_time FROM session_store.get_messages('ik', 'p', 'p1', 1)) AS same_time
FROM session_store.pop_message('ik', 'p', 'p1', 1, idempotency_key => 'kp1');
SELECT version, last_seq FROM session_store.get_session('ik', 'p', 'p1');
-- ... even when expected_version no longer matches, and nothing more goes
SELECT seq, message FROM session_store.pop_message('ik', 'p', 'p1', 1, idempotency_key => 'kp1');
SELECT seq, message FROM session_store.pop_message('ik', 'p', 'p1', idempotency_key => 'kp1');
SELECT version, last_seq, (SELECT count(*) FROM session_store.get_messages('ik', 'p', 'p1')) AS messages
FROM session_store.get_session('ik', 'p', 'p1');
-- a message stored out of line is returned whole by a replay
SELECT first_seq FROM session_store.append_messages('ik', 'p', 'p1',
    jsonb_build_array(jsonb_build_object('big', (SELECT string_agg(md5(g::text), '') FROM generate_series(1, 4000) g))));
SELECT seq, md5(message::text) FROM session_store.pop_message('ik', 'p', 'p1', idempotency_key => 'kp-big');
SELECT seq, md5(message::text) FROM session_store.pop_message('ik', 'p', 'p1', idempotency_key => 'kp-big');
-- another key pops the next one; a version check still applies to it
SELECT seq FROM session_store.pop_message('ik', 'p', 'p1', idempotency_key => 'kp2');
SELECT test.try($$SELECT * FROM session_store.pop_message('ik', 'p', 'p1', 1, idempotency_key => 'kp3')$$);
-- a pop of an empty session records its key: the retry pops nothing either
SELECT session_id FROM session_store.create_session('ik', 'p', NULL, 'p2');
SELECT count(*) FROM session_store.pop_message('ik', 'p', 'p2', idempotency_key => 'kp-empty');
SELECT first_seq FROM session_store.append_messages('ik', 'p', 'p2', '[{"n": 1}]');
SELECT count(*) FROM session_store.pop_message('ik', 'p', 'p2', idempotency_key => 'kp-empty');
SELECT count(*) FROM session_store.get_messages('ik', 'p', 'p2');

-- rewind_session and clear_session: a retry returns the first call's count
SELECT session_store.rewind_session('ik', 'p', 'p1', 2, idempotency_key => 'kr1');
SELECT version FROM session_store.get_session('ik', 'p', 'p1');
SELECT first_seq FROM session_store.append_messages('ik', 'p', 'p1', '[{"n": 10}, {"n": 11}]');
SELECT session_store.rewind_session('ik', 'p', 'p1', 2, 0, idempotency_key => 'kr1');
SELECT array_agg(seq ORDER BY seq) FROM session_store.get_messages('ik', 'p', 'p1');
SELECT session_store.rewind_session('ik', 'p', 'p1', 9, idempotency_key => 'kr-none');
SELECT session_store.rewind_session('ik', 'p', 'p1', 9, idempotency_key => 'kr-none');
SELECT session_store.clear_session('ik', 'p', 'p1', idempotency_key => 'kx1');
SELECT first_seq FROM session_store.append_messages('ik', 'p', 'p1', '[{"n": 12}]');
SELECT session_store.clear_session('ik', 'p', 'p1', 0, idempotency_key => 'kx1');
SELECT version, last_seq, (SELECT count(*) FROM session_store.get_messages('ik', 'p', 'p1')) AS messages
FROM session_store.get_session('ik', 'p', 'p1');

-- 42710: each kind's key refused by every other kind, nothing written
SELECT test.try($$SELECT * FROM session_store.pop_message('ik', 'p', 'p1', idempotency_key => 'kr1')$$);
SELECT test.try($$SELECT * FROM session_store.pop_message('ik', 'p', 'p1', idempotency_key => 'kx1')$$);
SELECT test.try($$SELECT session_store.rewind_session('ik', 'p', 'p1', 0, idempotency_key => 'kp1')$$);
SELECT test.try($$SELECT session_store.rewind_session('ik', 'p', 'p1', 0, idempotency_key => 'kx1')$$);
SELECT test.try($$SELECT session_store.clear_session('ik', 'p', 'p1', idempotency_key => 'kr1')$$);
SELECT test.try($$SELECT session_store.clear_session('ik', 'p', 'p1', idempotency_key => 'kp1')$$);
SELECT first_seq FROM session_store.append_messages('ik', 'p', 'p1', '[{"n": 13}]', idempotency_key => 'ka1');
SELECT test.try($$SELECT * FROM session_store.pop_message('ik', 'p', 'p1', idempotency_key => 'ka1')$$);
SELECT test.try($$SELECT session_store.rewind_session('ik', 'p', 'p1', 0, idempotency_key => 'ka1')$$);
SELECT test.try($$SELECT session_store.clear_session('ik', 'p', 'p1', idempotency_key => 'ka1')$$);
SELECT test.try($$SELECT session_store.append_messages('ik', 'p', 'p1', '[]', idempotency_key => 'kp1')$$);
SELECT test.try($$SELECT session_store.append_messages('ik', 'p', 'p1', '[]', idempotency_key => 'kr1')$$);
SELECT test.try($$SELECT session_store.replace_messages('ik', 'p', 'p1', '[]', '[]', idempotency_key => 'kx1')$$);
SELECT test.try($$SELECT session_store.fork_session('ik', 'p', 'p2', 'p1', idempotency_key => 'kp1')$$);
SELECT version, last_seq, (SELECT count(*) FROM session_store.get_messages('ik', 'p', 'p1')) AS messages
FROM session_store.get_session('ik', 'p', 'p1');
-- a key is per session: the same key on another session is a new call
SELECT session_store.clear_session('ik', 'p', 'p2', idempotency_key => 'kx1');

-- the keys go with their session (delete, expire); then they are free again
SELECT session_store.delete_session('ik', 'p', 'p1');
SELECT count(*) AS keys_left, count(*) FILTER (WHERE NOT EXISTS (
           SELECT 1 FROM session_store.sessions s WHERE s.user_id = k.user_id AND s.sid = k.sid)) AS keys_of_no_session
FROM session_store.idempotency_keys k WHERE k.user_id = 'p';
SELECT session_id FROM session_store.create_session('ik', 'p', NULL, 'p1');
SELECT first_seq FROM session_store.append_messages('ik', 'p', 'p1', '[{"n": 1}]');
SELECT seq FROM session_store.pop_message('ik', 'p', 'p1', idempotency_key => 'kp1');
SELECT count(*) AS keys_of_app FROM session_store.idempotency_keys k
JOIN session_store.sessions s ON s.user_id = k.user_id AND s.sid = k.sid WHERE s.app_name = 'ik';
UPDATE session_store.sessions SET update_time = update_time - interval '2 days' WHERE app_name = 'ik';
SELECT session_store.expire_sessions('1 day', 'ik') > 0 AS expired;
SELECT count(*) AS keys_of_no_session FROM session_store.idempotency_keys k
WHERE NOT EXISTS (SELECT 1 FROM session_store.sessions s WHERE s.user_id = k.user_id AND s.sid = k.sid);

-- a key row written around the API with an unknown operation: a clean error
SELECT session_id FROM session_store.create_session('ik', 'p', NULL, 'p3');
INSERT INTO session_store.idempotency_keys (user_id, sid, idempotency_key, version, update_time, operation)
SELECT user_id, sid, 'bad', 0, now(), 'vacuum' FROM session_store.sessions WHERE user_id = 'p' AND session_id = 'p3';
SELECT test.try($$SELECT * FROM session_store.pop_message('ik', 'p', 'p3', idempotency_key => 'bad')$$);
SELECT test.try($$SELECT session_store.append_messages('ik', 'p', 'p3', '[]', idempotency_key => 'bad')$$);
SELECT test.try($$SELECT session_store.create_session('ik', 'p', NULL, 'p3', idempotency_key => 'bad')$$);
SELECT session_store.delete_session('ik', 'p', 'p3');

-- a BEFORE INSERT trigger that cancels the key's (or the session's) insert:
-- a clean 09000, never a call reporting a key or a session it did not store
CREATE FUNCTION test.cancel_insert() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NULL; END$$;
SELECT session_id FROM session_store.create_session('ik', 'p', NULL, 'p4');
CREATE TRIGGER skip_key BEFORE INSERT ON session_store.idempotency_keys
    FOR EACH ROW EXECUTE FUNCTION test.cancel_insert();
SELECT test.try($$SELECT session_store.clear_session('ik', 'p', 'p4', idempotency_key => 'ks')$$);
SELECT test.try($$SELECT session_store.create_session('ik', 'p', NULL, 'p5', idempotency_key => 'ks')$$);
DROP TRIGGER skip_key ON session_store.idempotency_keys;
CREATE TRIGGER skip_session BEFORE INSERT ON session_store.sessions
    FOR EACH ROW EXECUTE FUNCTION test.cancel_insert();
SELECT test.try($$SELECT session_store.create_session('ik', 'p', NULL, 'p5')$$);
SELECT test.try($$SELECT session_store.fork_session('ik', 'p', 'p4', 'p5')$$);
DROP TRIGGER skip_session ON session_store.sessions;
SELECT count(*) AS sessions_p5, (SELECT count(*) FROM session_store.idempotency_keys WHERE user_id = 'p') AS keys_of_p
FROM session_store.sessions WHERE user_id = 'p' AND session_id = 'p5';

-- sid retyped: a keyed create reads the new session's sid back, checked
BEGIN;
ALTER TABLE session_store.sessions ALTER COLUMN sid TYPE numeric;
SELECT test.try($$SELECT session_store.create_session('ik', 'p', NULL, 'p6', idempotency_key => 'kc6')$$);
ROLLBACK;
SELECT session_store.delete_session('ik', 'p', 'p4');
