--
-- pop_message, rewind_session, clear_session: removing from the end of the
-- log.  Each bumps version only when it removed something, and sequence
-- numbers are never given out again.
--
SELECT version FROM session_store.create_session('t', 'u', '{"keep": true}', 's');
SELECT last_seq FROM session_store.append_messages('t', 'u', 's',
    (SELECT jsonb_agg(jsonb_build_object('i', i)) FROM generate_series(1, 10) i), NULL, NULL, 'k1');

-- pop_message: the latest message, removed and returned
SELECT seq, message FROM session_store.pop_message('t', 'u', 's');
SELECT seq, message FROM session_store.pop_message('t', 'u', 's', expected_version => 2);
SELECT version, last_seq FROM session_store.get_session('t', 'u', 's');
SELECT max(seq), count(*) FROM session_store.get_messages('t', 'u', 's');
-- the next append continues after the highest number ever given out
SELECT first_seq, last_seq, version FROM session_store.append_messages('t', 'u', 's', '[{"i": "new"}]');
SELECT array_agg(seq ORDER BY seq) FROM session_store.get_messages('t', 'u', 's');
-- a stale expected_version: 40001, nothing removed
SELECT test.try($$SELECT * FROM session_store.pop_message('t', 'u', 's', 1)$$);
SELECT count(*) FROM session_store.get_messages('t', 'u', 's');

-- rewind_session: delete everything after to_seq
SELECT session_store.rewind_session('t', 'u', 's', 5);
SELECT version, last_seq FROM session_store.get_session('t', 'u', 's');
SELECT array_agg(seq ORDER BY seq) FROM session_store.get_messages('t', 'u', 's');
-- nothing after to_seq: 0, and the version stays
SELECT session_store.rewind_session('t', 'u', 's', 5);
SELECT session_store.rewind_session('t', 'u', 's', 100);
SELECT version FROM session_store.get_session('t', 'u', 's');
SELECT test.try($$SELECT session_store.rewind_session('t', 'u', 's', 3, 0)$$);
SELECT session_store.rewind_session('t', 'u', 's', 3, expected_version => 5);
SELECT first_seq FROM session_store.append_messages('t', 'u', 's', '[{"i": "after rewind"}]');
SELECT seq, message FROM session_store.get_messages('t', 'u', 's');
-- the idempotency key of a rewound call still replays its original result
SELECT first_seq, last_seq, version, replayed
FROM session_store.append_messages('t', 'u', 's', '[{"i": 1}]', NULL, NULL, 'k1');
-- to_seq 0 or below removes every message
SELECT session_store.rewind_session('t', 'u', 's', -7);
SELECT count(*) FROM session_store.get_messages('t', 'u', 's');
SELECT test.try($$SELECT session_store.rewind_session('t', 'u', 's', NULL)$$);

-- clear_session: all messages go; the session, its state and its numbering stay
SELECT last_seq FROM session_store.append_messages('t', 'u', 's', '[{"a": 1}, {"a": 2}]', '{"more": 1}');
SELECT session_store.clear_session('t', 'u', 's');
SELECT state, version, last_seq FROM session_store.get_session('t', 'u', 's');
SELECT count(*) FROM session_store.get_messages('t', 'u', 's');
SELECT session_store.clear_session('t', 'u', 's');
SELECT version FROM session_store.get_session('t', 'u', 's');
SELECT test.try($$SELECT session_store.clear_session('t', 'u', 's', 0)$$);
SELECT session_store.clear_session('t', 'u', 's', 10);
SELECT first_seq FROM session_store.append_messages('t', 'u', 's', '[{"a": 3}]');

-- on an empty session: pop returns no row and changes nothing
SELECT version FROM session_store.create_session('t', 'u', NULL, 'empty');
SELECT count(*) FROM session_store.pop_message('t', 'u', 'empty');
SELECT version, last_seq FROM session_store.get_session('t', 'u', 'empty');
-- ... but expected_version is still checked
SELECT test.try($$SELECT * FROM session_store.pop_message('t', 'u', 'empty', 3)$$);

-- several calls in one statement: each sees what the one before did (the
-- arguments depend on g, so each row really calls the function)
SELECT first_seq FROM session_store.append_messages('t', 'u', 's', '[{"a": 4}, {"a": 5}]');
SELECT array_agg(p.seq ORDER BY g) FROM generate_series(1, 3) g,
     LATERAL session_store.pop_message('t', 'u', 's', CASE WHEN g > 0 THEN NULL::bigint END) p;
SELECT first_seq FROM session_store.append_messages('t', 'u', 's', '[{"a": 4}, {"a": 5}, {"a": 6}]');
SELECT array_agg(r ORDER BY g) FROM generate_series(1, 3) g,
     LATERAL session_store.rewind_session('t', 'u', 's', 18 - g) r;
SELECT array_agg(x.first_seq ORDER BY g) AS firsts FROM generate_series(1, 2) g,
     LATERAL session_store.append_messages('t', 'u', 's', jsonb_build_array(jsonb_build_object('g', g))) x;
SELECT array_agg(c ORDER BY g) FROM generate_series(1, 2) g,
     LATERAL session_store.clear_session('t', 'u', 's', CASE WHEN g > 0 THEN NULL::bigint END) c;
SELECT version, last_seq FROM session_store.get_session('t', 'u', 's');

-- pop until empty
SELECT last_seq FROM session_store.append_messages('t', 'u', 'empty', '[{"n": 1}, {"n": 2}]');
SELECT seq FROM session_store.pop_message('t', 'u', 'empty');
SELECT seq FROM session_store.pop_message('t', 'u', 'empty');
SELECT count(*) FROM session_store.pop_message('t', 'u', 'empty');
SELECT version, last_seq FROM session_store.get_session('t', 'u', 'empty');
