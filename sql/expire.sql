--
-- expire_sessions: idle sessions go, in bounded batches; busy and recent
-- ones stay
--
-- expiry without an app covers every app: start from an empty store
TRUNCATE session_store.sessions, session_store.messages, session_store.idempotency_keys,
         session_store.user_states, session_store.app_states;
SELECT count(session_store.create_session(a, 'u' || i, NULL, 's' || i))
FROM unnest(ARRAY['x1', 'x2', 'x3']) a, generate_series(1, 4) i;
SELECT count(*) FROM session_store.sessions s,
    LATERAL session_store.append_messages(s.app_name, s.user_id, s.session_id,
        '[{"m": 1}]', '{"app:k": 1, "user:k": 1}', NULL, 'key');
-- sessions 1..3 of each app idle for a day, session 4 recent
UPDATE session_store.sessions SET update_time = now() - interval '1 day' - (length(session_id) || ' seconds')::interval
WHERE app_name LIKE 'x%' AND session_id <> 's4';

-- nothing is idle for a week
SELECT session_store.expire_sessions('7 days');
-- one app, in batches of 2
SELECT session_store.expire_sessions('1 hour', 'x1', 2);
SELECT session_store.expire_sessions('1 hour', 'x1', 2);
SELECT session_store.expire_sessions('1 hour', 'x1', 2);
SELECT session_id FROM session_store.list_sessions('x1');
-- every app (default batch 1000)
SELECT session_store.expire_sessions('1 hour');
SELECT app_name, session_id FROM session_store.sessions WHERE app_name LIKE 'x%' ORDER BY 1, 2;
-- their messages and keys went with them; app and user state stay
SELECT count(*) AS orphan_messages FROM session_store.messages m
WHERE NOT EXISTS (SELECT 1 FROM session_store.sessions s WHERE s.user_id = m.user_id AND s.sid = m.sid);
SELECT count(*) AS orphan_keys FROM session_store.idempotency_keys k
WHERE NOT EXISTS (SELECT 1 FROM session_store.sessions s WHERE s.user_id = k.user_id AND s.sid = k.sid);
SELECT session_store.get_app_state('x2'), session_store.get_user_state('x2', 'u1');

-- '0' expires everything written before this transaction began
BEGIN;
SELECT session_store.expire_sessions('0', 'x3');
ROLLBACK;

-- errors
SELECT test.try($$SELECT session_store.expire_sessions('-1 hour')$$);
SELECT test.try($$SELECT session_store.expire_sessions(NULL)$$);
SELECT test.try($$SELECT session_store.expire_sessions('1 hour', 'x1', 0)$$);
SELECT test.try($$SELECT session_store.expire_sessions('1 hour', 'x1', 10001)$$);
SELECT test.try($$SELECT session_store.expire_sessions('1 hour', 'x1', NULL)$$);
SELECT test.try($$SELECT session_store.expire_sessions('1 hour', '')$$);
