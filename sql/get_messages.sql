--
-- get_messages: windows, latest-N, order
--
SELECT version FROM session_store.create_session('app', 'u', NULL, 'm');
SELECT last_seq FROM session_store.append_messages('app', 'u', 'm',
    (SELECT jsonb_agg(jsonb_build_object('i', i)) FROM generate_series(1, 10) i));

-- everything, ascending
SELECT array_agg(seq ORDER BY ord) FROM session_store.get_messages('app', 'u', 'm') WITH ORDINALITY AS t(seq, message, create_time, ord);
-- the latest 3, still ascending
SELECT array_agg(seq ORDER BY ord) FROM session_store.get_messages('app', 'u', 'm', 3) WITH ORDINALITY AS t(seq, message, create_time, ord);
-- after_seq < seq < before_seq, both bounds exclusive
SELECT array_agg(seq ORDER BY ord) FROM session_store.get_messages('app', 'u', 'm', after_seq => 7) WITH ORDINALITY AS t(seq, message, create_time, ord);
SELECT array_agg(seq ORDER BY ord) FROM session_store.get_messages('app', 'u', 'm', before_seq => 4) WITH ORDINALITY AS t(seq, message, create_time, ord);
SELECT array_agg(seq ORDER BY ord) FROM session_store.get_messages('app', 'u', 'm', NULL, 2, 6) WITH ORDINALITY AS t(seq, message, create_time, ord);
-- with max_count: the latest of the window
SELECT array_agg(seq ORDER BY ord) FROM session_store.get_messages('app', 'u', 'm', 2, 2, 6) WITH ORDINALITY AS t(seq, message, create_time, ord);
-- paging backwards through history with before_seq
SELECT array_agg(seq ORDER BY ord) FROM session_store.get_messages('app', 'u', 'm', 4, before_seq => 7) WITH ORDINALITY AS t(seq, message, create_time, ord);
-- more than there is; none; an empty window; bounds beyond the log
SELECT count(*) FROM session_store.get_messages('app', 'u', 'm', 100);
SELECT count(*) FROM session_store.get_messages('app', 'u', 'm', 0);
SELECT count(*) FROM session_store.get_messages('app', 'u', 'm', NULL, 5, 6);
SELECT count(*) FROM session_store.get_messages('app', 'u', 'm', NULL, 6, 5);
SELECT count(*) FROM session_store.get_messages('app', 'u', 'm', NULL, -100, 100);
SELECT count(*) FROM session_store.get_messages('app', 'u', 'm', NULL, 10);
SELECT count(*) FROM session_store.get_messages('app', 'u', 'm', NULL,
    -9223372036854775808, 9223372036854775807);
-- message content comes back with its seq
SELECT seq, message FROM session_store.get_messages('app', 'u', 'm', 2);

-- an empty session has no messages (but exists)
SELECT version FROM session_store.create_session('app', 'u', NULL, 'empty');
SELECT count(*) FROM session_store.get_messages('app', 'u', 'empty');
SELECT count(*) FROM session_store.get_messages('app', 'u', 'empty', 5);

-- sessions do not see each other's messages
SELECT version FROM session_store.create_session('app', 'u2', NULL, 'm');
SELECT first_seq FROM session_store.append_messages('app', 'u2', 'm', '[{"other": 1}]');
SELECT seq, message FROM session_store.get_messages('app', 'u2', 'm');
SELECT count(*) FROM session_store.get_messages('app', 'u', 'm');
