--
-- count_sessions (1.1): how many sessions an app (or one of its users) has
--
SELECT count(session_store.create_session('cnt', 'u' || (i % 3), NULL, 's' || i))
FROM generate_series(1, 10) i;
SELECT version FROM session_store.create_session('cnt-other', 'u1', NULL, 'x');
SELECT session_store.count_sessions('cnt') AS app,
       session_store.count_sessions('cnt', 'u0') AS u0,
       session_store.count_sessions('cnt', 'u1') AS u1,
       session_store.count_sessions('cnt', 'u2') AS u2,
       session_store.count_sessions('cnt', NULL) AS app_again,
       session_store.count_sessions('cnt-other') AS other,
       session_store.count_sessions('no-such-app') AS none,
       session_store.count_sessions('cnt', 'nobody') AS nobody;
-- it agrees with list_sessions, and follows deletes and forks
SELECT session_store.delete_session('cnt', 'u1', 's1');
SELECT session_id FROM session_store.fork_session('cnt', 'u2', 's2', 'fork');
SELECT session_store.count_sessions('cnt') AS app,
       (SELECT count(*) FROM session_store.list_sessions('cnt', page_size => 10000)) AS listed,
       session_store.count_sessions('cnt', 'u2') AS u2;
-- in a transaction: its own creates, on its snapshot
BEGIN;
SELECT version FROM session_store.create_session('cnt', 'u9', NULL, 'tx');
SELECT session_store.count_sessions('cnt') AS in_tx, session_store.count_sessions('cnt', 'u9') AS u9;
ROLLBACK;
SELECT session_store.count_sessions('cnt') AS after_rollback;
-- errors
SELECT test.try($$SELECT session_store.count_sessions(NULL)$$);
SELECT test.try($$SELECT session_store.count_sessions('')$$);
SELECT test.try($$SELECT session_store.count_sessions('cnt', '')$$);
SELECT test.try(format('SELECT session_store.count_sessions(%L)', repeat('x', 129)));

--
-- Cost: O(sessions counted).  Counting a small app costs the same few
-- buffers beside an app of 1,000 sessions as beside one of 100,000; a
-- count that scanned the table would touch thousands.
--
-- no autovacuum while the cost is measured (as in list_sessions.sql)
ALTER TABLE session_store.sessions SET (autovacuum_enabled = off);
INSERT INTO session_store.sessions
SELECT app, 'u' || (i % 4), 's' || lpad(i::text, 6, '0'),
       nextval('session_store.session_sid_seq'), '{}', 0, 0, now(), now()
FROM (VALUES ('cnt-mid', 1000), ('cnt-big', 100000)) a(app, n), generate_series(1, n) i;
SELECT session_store.count_sessions('cnt-mid') AS mid, session_store.count_sessions('cnt-big') AS big,
       session_store.count_sessions('cnt-big', 'u3') AS big_u3;
SELECT test.buffers($$SELECT session_store.count_sessions('cnt-mid')$$) > 0 AS warm;
SELECT test.buffers($$SELECT session_store.count_sessions('cnt')$$) < 20 AS small_app_cheap;
ANALYZE session_store.sessions;
-- (the first call after ANALYZE plans again, reading the statistics)
SELECT test.buffers($$SELECT session_store.count_sessions('cnt')$$) > 0 AS replanned;
SELECT test.buffers($$SELECT session_store.count_sessions('cnt')$$) < 20 AS small_app_cheap_analyzed,
       test.buffers($$SELECT session_store.count_sessions('cnt', 'u0')$$) < 20 AS small_user_cheap;
DELETE FROM session_store.sessions WHERE app_name IN ('cnt-mid', 'cnt-big');
ALTER TABLE session_store.sessions RESET (autovacuum_enabled);
