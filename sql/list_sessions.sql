--
-- list_sessions: order, keyset pagination, page tokens, cost per page
--
-- 30 sessions of 4 users; update times set directly (as superuser) so that
-- many tie, which is what keyset pagination must get right
SELECT count(session_store.create_session('l', 'u' || (i % 4), NULL, 's' || lpad(i::text, 2, '0')))
FROM generate_series(1, 30) i;
UPDATE session_store.sessions
SET update_time = '2026-01-01 00:00:00+00'::timestamptz + (sid % 5) * interval '1 minute'
WHERE app_name = 'l';
SELECT count(session_store.create_session('other-app', 'u1', NULL, 'x' || i)) FROM generate_series(1, 3) i;

-- the first page: most recently updated first, then user_id, session_id
SELECT user_id, session_id, update_time, version, last_seq, next_page_token IS NOT NULL AS has_token
FROM session_store.list_sessions('l', page_size => 6);

-- following the tokens visits every session once, in the documented
-- order, for every page size and with or without a user filter
CREATE TEMP TABLE expected_all AS
SELECT row_number() OVER (ORDER BY update_time DESC, user_id, session_id)::int AS n,
       user_id::text, session_id::text, update_time
FROM session_store.sessions WHERE app_name = 'l';
SELECT p AS page_size,
       (SELECT array_agg(user_id || '/' || session_id ORDER BY n) FROM test.list_all('l', NULL, p))
     = (SELECT array_agg(user_id || '/' || session_id ORDER BY n) FROM expected_all) AS all_in_order
FROM unnest(ARRAY[1, 2, 3, 7, 29, 30, 31, 100]) p;
SELECT u, p AS page_size,
       (SELECT array_agg(session_id ORDER BY n) FROM test.list_all('l', u, p))
     = (SELECT array_agg(session_id ORDER BY n) FROM expected_all WHERE user_id = u) AS user_in_order
FROM unnest(ARRAY['u0', 'u3']) u, unnest(ARRAY[1, 2, 5, 100]) p;

-- the default page is 100 rows; an app or user without sessions lists nothing
SELECT count(*) FROM session_store.list_sessions('l');
SELECT count(*) FROM session_store.list_sessions('no-such-app');
SELECT count(*) FROM session_store.list_sessions('l', 'nobody');

-- a session written after a page was read moves to the front: the next
-- page continues after the position of the token and does not repeat it
SELECT next_page_token AS t FROM session_store.list_sessions('l', page_size => 3) OFFSET 2 \gset
SELECT version FROM session_store.append_messages('l', 'u1', 's29', '[]');
SELECT session_id FROM session_store.list_sessions('l', page_size => 1);
SELECT bool_and(session_id <> 's29') AS not_repeated, count(*)
FROM session_store.list_sessions('l', page_size => 100, page_token => :'t');

-- tokens are opaque and bound to their listing
SELECT test.try($$SELECT * FROM session_store.list_sessions('l', page_token => 'garbage')$$);
SELECT test.try($$SELECT * FROM session_store.list_sessions('l', page_token => '')$$);
SELECT test.try(format('SELECT * FROM session_store.list_sessions(%L, page_token => %L)', 'l', left(:'t', -2)));
SELECT test.try(format('SELECT * FROM session_store.list_sessions(%L, page_token => %L)', 'l', :'t' || 'A'));
SELECT test.try(format('SELECT * FROM session_store.list_sessions(%L, page_token => %L)', 'l', repeat('A', 10000)));
SELECT test.try(format('SELECT * FROM session_store.list_sessions(%L, page_token => %L)', 'other-app', :'t'));
SELECT test.try(format('SELECT * FROM session_store.list_sessions(%L, %L, page_token => %L)', 'l', 'u1', :'t'));
SELECT test.try(format('SELECT * FROM session_store.list_sessions(%L, page_token => %L)', 'l', :'t'));

-- page_size must be 1 to 10000
SELECT test.try($$SELECT * FROM session_store.list_sessions('l', page_size => 0)$$);
SELECT test.try($$SELECT * FROM session_store.list_sessions('l', page_size => -5)$$);
SELECT test.try($$SELECT * FROM session_store.list_sessions('l', page_size => 10001)$$);
SELECT test.try($$SELECT * FROM session_store.list_sessions('l', page_size => 10000)$$);
SELECT test.try($$SELECT * FROM session_store.list_sessions('l', page_size => NULL)$$);
SELECT test.try($$SELECT * FROM session_store.list_sessions(NULL)$$);
SELECT test.try($$SELECT * FROM session_store.list_sessions('l', '')$$);

--
-- A page costs O(page_size), whatever the table size.  EXPLAIN (ANALYZE,
-- BUFFERS) counts the shared buffers a call touches: a full page of 10
-- from an app of 1,000 sessions and from one of 100,000 must cost about
-- the same, and little, whether the table has statistics or not (a listing
-- that scanned or sorted the app would touch hundreds or thousands).
--
-- no autovacuum while the cost is measured: a VACUUM or ANALYZE it started
-- between two measurements would give the planner statistics halfway
ALTER TABLE session_store.sessions SET (autovacuum_enabled = off);
INSERT INTO session_store.sessions
SELECT app, 'u' || (i % 4), 's' || lpad(i::text, 6, '0'),
       nextval('session_store.session_sid_seq'), '{}', 0, 0,
       '2026-01-01'::timestamptz, '2026-01-01'::timestamptz + (i % 500) * interval '1 second'
FROM (VALUES ('mid', 1000), ('big', :big_app)) a(app, n), generate_series(1, n) i;
CREATE TEMP TABLE page_query (label text, q text);
INSERT INTO page_query VALUES
  ('first page', $q$SELECT * FROM session_store.list_sessions(%L, page_size => 10)$q$),
  ('after a token', $q$SELECT * FROM session_store.list_sessions(%1$L, page_size => 10, page_token =>
     (SELECT next_page_token FROM session_store.list_sessions(%1$L, page_size => 25) OFFSET 24))$q$),
  ('one user, first page', $q$SELECT * FROM session_store.list_sessions(%L, 'u2', page_size => 10)$q$),
  ('one user, after a token', $q$SELECT * FROM session_store.list_sessions(%1$L, 'u2', page_size => 10, page_token =>
     (SELECT next_page_token FROM session_store.list_sessions(%1$L, 'u2', page_size => 25) OFFSET 24))$q$);
CREATE TEMP TABLE page_cost (label text, stats text, mid int, big int);
CREATE FUNCTION pg_temp.measure(stats text) RETURNS void LANGUAGE sql AS $$
INSERT INTO page_cost
SELECT label, stats, test.buffers(format(q, 'mid')), test.buffers(format(q, 'big'))
FROM page_query;
$$;
SELECT test.buffers($$SELECT * FROM session_store.list_sessions('big')$$) > 0 AS warm;
SELECT pg_temp.measure('none');
ANALYZE session_store.sessions;
SELECT test.buffers($$SELECT * FROM session_store.list_sessions('big')$$) > 0 AS replanned;
SELECT pg_temp.measure('analyzed');
ALTER TABLE session_store.sessions RESET (autovacuum_enabled);
SELECT label, stats, big <= mid + 5 AS same_cost_at_any_size, big < 100 AS bounded
FROM page_cost ORDER BY stats DESC, label;
-- and the rows are the right ones
SELECT (SELECT array_agg(session_id ORDER BY update_time DESC, user_id, session_id)
        FROM (SELECT * FROM session_store.sessions WHERE app_name = 'big'
              ORDER BY update_time DESC, user_id, session_id LIMIT 10 OFFSET 25) x)
     = (SELECT array_agg(session_id) FROM session_store.list_sessions('big', page_size => 10, page_token =>
          (SELECT next_page_token FROM session_store.list_sessions('big', page_size => 25) OFFSET 24)))
       AS page_after_token_right;
