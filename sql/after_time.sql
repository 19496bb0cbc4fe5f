--
-- message_time and after_time (1.1): the create_time a call gives its
-- messages, and reading the messages at or after a time, at a cost that
-- follows the rows returned
--
SELECT version FROM session_store.create_session('at', 'u', NULL, 't');

-- message_time is stored as the create_time of every message of the call;
-- the session's update_time stays the server's clock
SELECT first_seq, last_seq, update_time > '2026-01-01 10:00:00+00' AS server_update_time
FROM session_store.append_messages('at', 'u', 't', '[{"n": 1}, {"n": 2}]',
                                   message_time => '2026-01-01 10:00:00+00');
SELECT seq, create_time FROM session_store.get_messages('at', 'u', 't');
SELECT update_time > '2026-01-01 10:00:00+00' AS not_the_message_time
FROM session_store.get_session('at', 'u', 't');
-- a message_time in the future does not move update_time either
SELECT update_time AS before_future FROM session_store.get_session('at', 'u', 't') \gset
SELECT update_time < '2100-01-01' AS server_clock
FROM session_store.append_messages('at', 'u', 't', '[{"n": 3}]', message_time => '2100-01-01 00:00:00+00');
SELECT update_time >= :'before_future' AS monotonic, update_time < '2100-01-01' AS server_clock
FROM session_store.get_session('at', 'u', 't');
-- NULL (the default) is the 1.0 rule: the call's update_time
SELECT update_time AS t4 FROM session_store.append_messages('at', 'u', 't', '[{"n": 4}]', message_time => NULL) \gset
SELECT create_time = :'t4' AS same_as_update_time FROM session_store.get_messages('at', 'u', 't', 1);
-- only finite times
SELECT test.try($$SELECT session_store.append_messages('at', 'u', 't', '[{"n": 9}]', message_time => 'infinity')$$);
SELECT test.try($$SELECT session_store.append_messages('at', 'u', 't', '[{"n": 9}]', message_time => '-infinity')$$);
SELECT last_seq, version FROM session_store.get_session('at', 'u', 't');

-- a session with known times: seq 1..3 at 10:00, seq 4 at 10:05, seq 5 and
-- 6 at 10:10 (ties: ordered by seq), seq 7 at 10:20
SELECT version FROM session_store.create_session('at', 'u', NULL, 'w');
SELECT count(*) FROM (VALUES
    (1, '[{"n": 1}, {"n": 2}, {"n": 3}]', '2026-01-01 10:00:00+00'),
    (2, '[{"n": 4}]', '2026-01-01 10:05:00+00'),
    (3, '[{"n": 5}, {"n": 6}]', '2026-01-01 10:10:00+00'),
    (4, '[{"n": 7}]', '2026-01-01 10:20:00+00')) v(i, m, t),
  LATERAL (SELECT * FROM session_store.append_messages('at', 'u', 'w', v.m::jsonb,
                                                       message_time => v.t::timestamptz)) a;
CREATE FUNCTION pg_temp.seqs(after_time timestamptz, max_count int DEFAULT NULL,
                             after_seq bigint DEFAULT NULL, before_seq bigint DEFAULT NULL)
RETURNS text LANGUAGE sql AS $$
    SELECT coalesce(string_agg(seq::text, ',' ORDER BY ord), '-')
    FROM session_store.get_messages('at', 'u', 'w', max_count, after_seq, before_seq, after_time)
         WITH ORDINALITY AS m(seq, message, create_time, ord)
$$;
-- inclusive, ascending, ties in seq order
SELECT t, pg_temp.seqs(t::timestamptz) FROM unnest(ARRAY[
    '2026-01-01 09:59:59.999999+00', '2026-01-01 10:00:00+00', '2026-01-01 10:00:00.000001+00',
    '2026-01-01 10:05:00+00', '2026-01-01 10:09:59+00', '2026-01-01 10:10:00+00',
    '2026-01-01 10:20:00+00', '2026-01-01 10:20:00.000001+00', 'infinity', '-infinity']) t;
-- combined with max_count: the latest N of those
SELECT n, pg_temp.seqs('2026-01-01 10:00:00+00', n) FROM unnest(ARRAY[0, 1, 2, 3, 7, 100]) n;
SELECT pg_temp.seqs('2026-01-01 10:10:00+00', 5) AS fewer_than_max_count;
-- combined with after_seq and before_seq: the window first, then the time
SELECT pg_temp.seqs('2026-01-01 10:00:00+00', NULL, 2) AS after_seq_2,
       pg_temp.seqs('2026-01-01 10:00:00+00', NULL, NULL, 6) AS before_seq_6,
       pg_temp.seqs('2026-01-01 10:05:00+00', NULL, NULL, 4) AS before_seq_4,
       pg_temp.seqs('2026-01-01 10:00:00+00', 2, 1, 6) AS window_and_max_count,
       pg_temp.seqs('2026-01-01 10:00:00+00', NULL, 5, 5) AS empty_window;
-- after_time NULL is the 1.0 call
SELECT pg_temp.seqs(NULL) AS all_of_them, pg_temp.seqs(NULL, 2) AS latest_two;
-- the rows themselves
SELECT seq, message, create_time
FROM session_store.get_messages('at', 'u', 'w', after_time => '2026-01-01 10:10:00+00');
-- negative max_count is still an error; an empty session or a missing one
SELECT test.try($$SELECT session_store.get_messages('at', 'u', 'w', -1, after_time => now())$$);
SELECT version FROM session_store.create_session('at', 'u', NULL, 'empty');
SELECT count(*) FROM session_store.get_messages('at', 'u', 'empty', after_time => '-infinity');
SELECT test.try($$SELECT session_store.get_messages('at', 'u', 'missing', after_time => now())$$);

-- client-supplied times out of order: the scan back from the newest stops
-- at the first older message, so it returns the newest run at or after
-- after_time (documented), not every such message
SELECT version FROM session_store.create_session('at', 'u', NULL, 'ooo');
SELECT count(*) FROM (VALUES
    (1, '2026-01-01 10:00:00+00'), (2, '2026-01-01 10:05:00+00'),
    (3, '2026-01-01 09:00:00+00'), (4, '2026-01-01 10:10:00+00'),
    (5, '2026-01-01 10:20:00+00')) v(i, t),
  LATERAL (SELECT * FROM session_store.append_messages('at', 'u', 'ooo',
               jsonb_build_array(jsonb_build_object('n', v.i)), message_time => v.t::timestamptz)) a;
SELECT string_agg(seq::text, ',' ORDER BY seq) AS newest_run
FROM session_store.get_messages('at', 'u', 'ooo', after_time => '2026-01-01 10:00:00+00');

-- messages removed and appended again keep the rule: pop, then append
SELECT seq FROM session_store.pop_message('at', 'u', 'w');
SELECT first_seq FROM session_store.append_messages('at', 'u', 'w', '[{"n": 8}]',
                                                    message_time => '2026-01-01 10:30:00+00');
SELECT pg_temp.seqs('2026-01-01 10:10:00+00') AS after_pop;

--
-- Cost: O(rows returned + 1).  Shared buffers touched (EXPLAIN ANALYZE
-- BUFFERS) reading the messages after a time from a session of 1,000
-- messages and from one of 100,000 are about the same and few; a read that
-- scanned the session, or filtered the whole window by time, would touch
-- hundreds or thousands.
--
-- no autovacuum while the cost is measured (as in list_sessions.sql)
ALTER TABLE session_store.messages SET (autovacuum_enabled = off);
SELECT count(session_store.create_session('at', 'u', NULL, s)) FROM unnest(ARRAY['mid', 'big']) s;
SELECT s, count(*) AS calls
FROM (VALUES ('mid', 1), ('big', 100)) v(s, batches),
     generate_series(1, v.batches) b,
     LATERAL session_store.append_messages('at', 'u', v.s,
         (SELECT jsonb_agg(jsonb_build_object('b', b, 'i', i)) FROM generate_series(1, 1000) i),
         message_time => '2026-01-01 00:00:00+00'::timestamptz + b * interval '1 minute') a
GROUP BY s ORDER BY s;
-- then five single messages a minute apart, the day after
SELECT s, count(*) AS calls
FROM unnest(ARRAY['mid', 'big']) s, generate_series(1, 5) i,
     LATERAL session_store.append_messages('at', 'u', s, jsonb_build_array(jsonb_build_object('late', i)),
         message_time => '2026-01-02 00:00:00+00'::timestamptz + i * interval '1 minute') a
GROUP BY s ORDER BY s;
CREATE TEMP TABLE since_query (label text, q text);
INSERT INTO since_query VALUES
  ('after a time', $q$SELECT * FROM session_store.get_messages('at', 'u', %L, after_time => '2026-01-02 00:03:00+00')$q$),
  ('after an older time, latest 3', $q$SELECT * FROM session_store.get_messages('at', 'u', %L, 3, after_time => '2026-01-01 00:00:00+00')$q$),
  ('after a time, before a seq', $q$SELECT * FROM session_store.get_messages('at', 'u', %L, before_seq => (SELECT last_seq FROM session_store.get_session('at', 'u', %1$L)) - 1, after_time => '2026-01-02 00:02:00+00')$q$),
  ('after the newest', $q$SELECT * FROM session_store.get_messages('at', 'u', %L, after_time => '2026-01-03 00:00:00+00')$q$);
SELECT test.buffers(format(q, 'big')) > 0 AS warm FROM since_query;
ANALYZE session_store.messages;
SELECT label, big <= mid + 5 AS same_cost_at_any_size, big < 30 AS bounded
FROM (SELECT label, test.buffers(format(q, 'mid')) AS mid, test.buffers(format(q, 'big')) AS big
      FROM since_query) c
ORDER BY label;
-- and the rows are the right ones
SELECT string_agg(message->>'late', ',' ORDER BY seq) AS late
FROM session_store.get_messages('at', 'u', 'big', after_time => '2026-01-02 00:03:00+00');
SELECT string_agg(message::text, ',' ORDER BY seq) AS latest_3
FROM session_store.get_messages('at', 'u', 'big', 3, after_time => '2026-01-01 00:00:00+00');
ALTER TABLE session_store.messages RESET (autovacuum_enabled);

--
-- Memory: a read by time holds no more of the session in memory than a
-- plain read (work_mem bounds what either keeps; past it, both spill to
-- temporary files).  On a fresh backend, the peak resident size (VmHWM of
-- /proc/self/status, Linux) after a plain read of a 16 MB session, which
-- has mapped the session's shared buffers, and again after reading it by
-- time: the second read may add less than a quarter of the session.  A
-- read that held its rows in memory adds all of it.
--
\c
SET work_mem = '1MB';
SELECT version FROM session_store.create_session('at', 'u', NULL, 'wide');
SELECT count(*) AS calls
FROM generate_series(1, 16) b,
     LATERAL session_store.append_messages('at', 'u', 'wide',
         (SELECT jsonb_agg(jsonb_build_object('b', b, 'i', i, 'pad', repeat('x', 1000)))
          FROM generate_series(1, 1000) i)) a;
CREATE TEMP TABLE peak (step text, kb bigint);
CREATE FUNCTION pg_temp.note_peak(step text) RETURNS void LANGUAGE sql AS $$
    INSERT INTO peak
    SELECT step, substring(pg_read_file('/proc/self/status') FROM 'VmHWM:\s*(\d+) kB')::bigint
$$;
SELECT count(*), min(seq), max(seq) FROM session_store.get_messages('at', 'u', 'wide');
SELECT pg_temp.note_peak('plain');
-- (the rows come back whole and in order from the temporary files)
SELECT count(*), min(seq), max(seq), bool_and(seq = ord) AS in_order,
       bool_and(seq = (message->>'b')::int * 1000 + (message->>'i')::int - 1000) AS right_rows
FROM session_store.get_messages('at', 'u', 'wide', after_time => '-infinity')
     WITH ORDINALITY AS m(seq, message, create_time, ord);
SELECT pg_temp.note_peak('by time');
SELECT count(*), min(seq), max(seq), bool_and(seq = ord + 1000) AS in_order,
       bool_and(seq = (message->>'b')::int * 1000 + (message->>'i')::int - 1000) AS right_rows
FROM session_store.get_messages('at', 'u', 'wide', 15000, after_time => '-infinity')
     WITH ORDINALITY AS m(seq, message, create_time, ord);
SELECT pg_temp.note_peak('by time, latest');
SELECT step, kb - (SELECT kb FROM peak WHERE step = 'plain') < 4096 AS bounded
FROM peak WHERE step <> 'plain' ORDER BY step;
SELECT session_store.delete_session('at', 'u', 'wide');
