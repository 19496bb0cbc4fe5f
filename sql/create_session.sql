--
-- create_session, get_session, delete_session
--

-- explicit id, no state: version 0, last_seq 0, empty state
SELECT app_name, user_id, session_id, state, version, last_seq,
       create_time = update_time AS same_times
FROM session_store.create_session('chat', 'alice', session_id => 's1');

-- get_session returns the same row; a session that does not exist, no row
SELECT app_name, user_id, session_id, state, version, last_seq
FROM session_store.get_session('chat', 'alice', 's1');
SELECT count(*) FROM session_store.get_session('chat', 'alice', 'nope');
SELECT count(*) FROM session_store.get_session('chat', 'bob', 's1');

-- a NULL session_id makes a random UUID, different every time
SELECT session_id ~ '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$' AS is_uuid_v4,
       version, last_seq, state
FROM session_store.create_session('chat', 'alice');
SELECT count(DISTINCT (session_store.create_session('chat', 'carol')).session_id)
FROM generate_series(1, 20);

-- the state argument is routed like a state delta
SELECT state FROM session_store.create_session('chat', 'alice',
    '{"topic": "weather", "app:model": "m1", "user:lang": "fr", "temp:scratch": 1, "gone": null}',
    's2');
SELECT session_store.get_app_state('chat') AS app, session_store.get_user_state('chat', 'alice') AS usr;

-- the same id may exist under another user or another app
SELECT session_id FROM session_store.create_session('chat', 'bob', NULL, 's1');
SELECT session_id FROM session_store.create_session('other', 'alice', NULL, 's1');

-- but not twice for one (app, user): 23505, and nothing is written
SELECT test.try($$SELECT session_store.create_session('chat', 'alice', '{"app:x": 1}', 's1')$$);
SELECT session_store.get_app_state('chat') ? 'x' AS app_state_written;

-- ids are text of 1 to 128 bytes; anything else in them is kept as given
SELECT session_id FROM session_store.create_session('chat', 'alice', NULL, $$O'Reilly "quoted" \back; DROP TABLE x; --$$);
SELECT app_name, user_id, session_id
FROM session_store.create_session('ñandú', 'Zoë 🦀', NULL, 'セッション');
SELECT count(*) FROM session_store.get_session('ñandú', 'Zoë 🦀', 'セッション');
SELECT octet_length(session_id)
FROM session_store.create_session('chat', 'alice', NULL, repeat('🦀', 32));   -- 128 bytes
SELECT test.try($$SELECT session_store.create_session('chat', 'alice', NULL, repeat('🦀', 32) || 'x')$$);
SELECT octet_length(session_id)
FROM session_store.create_session(repeat('a', 128), repeat('u', 128), NULL, repeat('s', 128));

-- delete_session: true when it existed; its messages and keys go with it
SELECT first_seq, last_seq FROM session_store.append_messages('chat', 'alice', 's1',
    '[{"n": 1}, {"n": 2}]', idempotency_key => 'k1');
SELECT session_store.delete_session('chat', 'alice', 's1');
SELECT session_store.delete_session('chat', 'alice', 's1');
SELECT session_store.delete_session('chat', 'nobody', 'nothing');
SELECT count(*) FROM session_store.get_session('chat', 'alice', 's1');
SELECT count(*) AS orphan_messages FROM session_store.messages m
WHERE NOT EXISTS (SELECT 1 FROM session_store.sessions s
                  WHERE s.user_id = m.user_id AND s.sid = m.sid);
SELECT count(*) AS orphan_keys FROM session_store.idempotency_keys k
WHERE NOT EXISTS (SELECT 1 FROM session_store.sessions s
                  WHERE s.user_id = k.user_id AND s.sid = k.sid);

-- the other sessions of the same user are untouched
SELECT count(*) FROM session_store.get_session('chat', 'alice', 's2');

-- a re-created session starts afresh: new log, old idempotency keys forgotten
SELECT version, last_seq FROM session_store.create_session('chat', 'alice', NULL, 's1');
SELECT first_seq, last_seq, version, replayed FROM session_store.append_messages(
    'chat', 'alice', 's1', '[{"n": 1}]', idempotency_key => 'k1');

-- deleting a session leaves the app's and the user's state alone
SELECT session_store.delete_session('chat', 'alice', 's2');
SELECT session_store.get_app_state('chat') AS app, session_store.get_user_state('chat', 'alice') AS usr;
