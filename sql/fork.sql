--
-- fork_session: a new session of the same app and user with the source's
-- state and a prefix of its log, keeping sequence numbers
--
SELECT version FROM session_store.create_session('f', 'u', '{"topic": "x", "app:a": 1, "user:b": 2}', 'src');
SELECT last_seq FROM session_store.append_messages('f', 'u', 'src',
    (SELECT jsonb_agg(jsonb_build_object('i', i)) FROM generate_series(1, 6) i), '{"step": 6}', NULL, 'k');
SELECT seq FROM session_store.pop_message('f', 'u', 'src');

-- the whole session
SELECT session_id, state, version, last_seq FROM session_store.fork_session('f', 'u', 'src', 'all');
SELECT (SELECT array_agg(row(seq, message, create_time)::text ORDER BY seq) FROM session_store.get_messages('f', 'u', 'all'))
     = (SELECT array_agg(row(seq, message, create_time)::text ORDER BY seq) FROM session_store.get_messages('f', 'u', 'src'))
       AS same_messages_and_times;
-- its numbering continues where the source's does: 6 was popped, never reused
SELECT first_seq FROM session_store.append_messages('f', 'u', 'all', '[{"i": "fork"}]');

-- up to a sequence number: the log up to it, and numbering continues after it
SELECT session_id, version, last_seq FROM session_store.fork_session('f', 'u', 'src', 'upto3', 3);
SELECT array_agg(seq ORDER BY seq) FROM session_store.get_messages('f', 'u', 'upto3');
SELECT first_seq FROM session_store.append_messages('f', 'u', 'upto3', '[{"i": "branch"}]');
SELECT last_seq FROM session_store.fork_session('f', 'u', 'src', 'upto99', 99);
SELECT last_seq FROM session_store.fork_session('f', 'u', 'src', 'upto0', 0);
SELECT count(*) FROM session_store.get_messages('f', 'u', 'upto0');
SELECT last_seq FROM session_store.fork_session('f', 'u', 'src', 'upto-neg', -4);

-- the source is untouched; the forks share the app and user state
SELECT session_id, state, version, last_seq FROM session_store.get_session('f', 'u', 'src');
SELECT version FROM session_store.append_messages('f', 'u', 'upto3', '[]', '{"app:a": 10, "topic": "y"}');
SELECT session_id, state FROM session_store.get_session('f', 'u', 'src')
UNION ALL SELECT session_id, state FROM session_store.get_session('f', 'u', 'upto3');

-- idempotency keys belong to the source only
SELECT replayed FROM session_store.append_messages('f', 'u', 'all', '[]', NULL, NULL, 'k');

-- a NULL id makes a UUID
SELECT session_id ~ '^[0-9a-f]{8}-[0-9a-f]{4}-4' AS is_uuid FROM session_store.fork_session('f', 'u', 'src');

-- errors
SELECT test.try($$SELECT session_store.fork_session('f', 'u', 'src', 'all')$$);
SELECT test.try($$SELECT session_store.fork_session('f', 'u', 'src', 'src')$$);
SELECT test.try($$SELECT session_store.fork_session('f', 'u', 'missing', 'new')$$);
SELECT test.try($$SELECT session_store.fork_session('f', 'u', 'src', '')$$);
SELECT test.try($$SELECT session_store.fork_session('f', 'u', NULL, 'new')$$);
SELECT count(*) FROM session_store.get_session('f', 'u', 'new');
