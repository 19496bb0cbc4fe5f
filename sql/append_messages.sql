--
-- append_messages: sequence numbers, versions, expected_version,
-- idempotency keys, batches
--
SELECT version FROM session_store.create_session('app', 'u', NULL, 'log');

-- one message: seq 1, version 1
SELECT first_seq, last_seq, version, replayed
FROM session_store.append_messages('app', 'u', 'log', '[{"role": "user", "content": "hello"}]');

-- a batch continues the sequence, in array order
SELECT first_seq, last_seq, version, replayed
FROM session_store.append_messages('app', 'u', 'log',
    '[{"role": "assistant", "content": "hi"}, {"role": "tool", "content": {"x": [1, 2]}}, {"role": "user", "content": "ok"}]');
SELECT seq, message FROM session_store.get_messages('app', 'u', 'log');

-- an empty batch appends nothing but is still a successful call: version + 1
SELECT first_seq, last_seq, version, replayed
FROM session_store.append_messages('app', 'u', 'log', '[]');
SELECT version, last_seq FROM session_store.get_session('app', 'u', 'log');

-- messages are stored as given (as jsonb)
SELECT first_seq FROM session_store.append_messages('app', 'u', 'log',
    '[{"content": "naïve café ☕ \"quoted\" \\ back", "nested": {"a": {"b": [null, true, 1.5e3]}}}]');
SELECT message FROM session_store.get_messages('app', 'u', 'log', 1);

-- update_time is set by every call and never goes back; several calls in
-- one statement each see the one before (the argument depends on g, so the
-- function really runs once per row)
SELECT count(*) AS calls, count(DISTINCT version) AS versions, bool_and(t >= prev) AS monotonic
FROM (SELECT a.version, a.update_time AS t, lag(a.update_time) OVER (ORDER BY g) AS prev
      FROM generate_series(1, 20) g,
           LATERAL session_store.append_messages('app', 'u', 'log', '[]', jsonb_build_object('g', g)) a) x
WHERE prev IS NOT NULL;
SELECT array_agg(a.first_seq ORDER BY g) AS firsts, array_agg(a.version ORDER BY g) AS versions
FROM generate_series(1, 3) g,
     LATERAL session_store.append_messages('app', 'u', 'log', jsonb_build_array(jsonb_build_object('g', g))) a;
SELECT state->'g' AS last_delta FROM session_store.get_session('app', 'u', 'log');
SELECT update_time >= create_time AS later_than_create
FROM session_store.get_session('app', 'u', 'log');

-- the result's update_time is the session's, and the messages' create_time
SELECT update_time AS t FROM session_store.append_messages('app', 'u', 'log', '[{"n": 0}]') \gset
SELECT update_time = :'t' AS same_as_session FROM session_store.get_session('app', 'u', 'log');
SELECT create_time = :'t' AS same_as_message FROM session_store.get_messages('app', 'u', 'log', 1);

-- a large batch: 1000 messages, contiguous
SELECT version AS v_before, last_seq AS seq_before
FROM session_store.get_session('app', 'u', 'log') \gset
SELECT last_seq - first_seq + 1 AS appended, first_seq = :seq_before + 1 AS continues,
       version = :v_before + 1 AS one_version
FROM session_store.append_messages('app', 'u', 'log',
    (SELECT jsonb_agg(jsonb_build_object('i', i)) FROM generate_series(1, 1000) i));
SELECT count(*), min(seq) = :seq_before + 1 AS first_ok, max(seq) - min(seq) + 1 AS span,
       bool_and((message->>'i')::int = seq - :seq_before) AS in_order
FROM session_store.get_messages('app', 'u', 'log', after_seq => :seq_before);

-- a large message (1 MB) round-trips
SELECT first_seq AS big FROM session_store.append_messages('app', 'u', 'log',
    jsonb_build_array(jsonb_build_object('blob', repeat('x', 1024 * 1024)))) \gset
SELECT length(message->>'blob') FROM session_store.get_messages('app', 'u', 'log', after_seq => :big - 1, before_seq => :big + 1);

--
-- expected_version
--
SELECT version, last_seq FROM session_store.create_session('app', 'u', NULL, 'occ');
SELECT first_seq, version FROM session_store.append_messages('app', 'u', 'occ', '[{"n": 1}]', expected_version => 0);
SELECT first_seq, version FROM session_store.append_messages('app', 'u', 'occ', '[{"n": 2}]', '{"k": 1}', 1);
-- stale: 40001, and nothing is written (no message, no state, no version)
SELECT test.try($$SELECT session_store.append_messages('app', 'u', 'occ', '[{"n": 3}]', '{"k": 2, "app:z": 1}', 1)$$);
SELECT version, last_seq, state FROM session_store.get_session('app', 'u', 'occ');
SELECT session_store.get_app_state('app') ? 'z' AS app_state_written;
-- ahead of the session is as wrong as behind it
SELECT test.try($$SELECT session_store.append_messages('app', 'u', 'occ', '[]', NULL, 99)$$);
SELECT test.try($$SELECT session_store.append_messages('app', 'u', 'occ', '[]', NULL, -1)$$);
SELECT first_seq, version FROM session_store.append_messages('app', 'u', 'occ', '[{"n": 3}]', NULL, 2);

--
-- idempotency_key
--
SELECT version FROM session_store.create_session('app', 'u', NULL, 'idem');
SELECT first_seq, last_seq, version, replayed
FROM session_store.append_messages('app', 'u', 'idem', '[{"n": 1}, {"n": 2}]', '{"count": 1}', NULL, 'req-1');
-- the same key again: nothing written, the first result returned, replayed
SELECT first_seq, last_seq, version, replayed
FROM session_store.append_messages('app', 'u', 'idem', '[{"n": 1}, {"n": 2}]', '{"count": 1}', NULL, 'req-1');
-- ... even with an expected_version that no longer matches, or other content
SELECT first_seq, last_seq, version, replayed
FROM session_store.append_messages('app', 'u', 'idem', '[{"other": true}]', '{"count": 99}', 0, 'req-1');
SELECT version, last_seq, state FROM session_store.get_session('app', 'u', 'idem');
SELECT count(*) FROM session_store.get_messages('app', 'u', 'idem');
-- the replay returns the original update_time too
SELECT a.update_time = b.update_time AS same_time
FROM session_store.append_messages('app', 'u', 'idem', '[]', NULL, NULL, 'req-2') a,
     session_store.append_messages('app', 'u', 'idem', '[]', NULL, NULL, 'req-2') b;
-- a key that appended nothing replays its NULL range
SELECT first_seq, last_seq, version, replayed
FROM session_store.append_messages('app', 'u', 'idem', '[]', NULL, NULL, 'req-2');
-- a new key is a new call
SELECT first_seq, last_seq, version, replayed
FROM session_store.append_messages('app', 'u', 'idem', '[{"n": 3}]', NULL, NULL, 'req-3');
-- keys belong to their session: the same key elsewhere is unrelated
SELECT version FROM session_store.create_session('app', 'u', NULL, 'idem2');
SELECT first_seq, last_seq, version, replayed
FROM session_store.append_messages('app', 'u', 'idem2', '[{"n": 1}]', NULL, NULL, 'req-1');
-- a failed call does not record its key
SELECT test.try($$SELECT session_store.append_messages('app', 'u', 'idem', '[{"n": 4}]', NULL, 0, 'req-4')$$);
SELECT first_seq, version, replayed
FROM session_store.append_messages('app', 'u', 'idem', '[{"n": 4}]', NULL, NULL, 'req-4');
