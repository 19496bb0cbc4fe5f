--
-- list_sessions(..., ascending => true): least recently updated first, in
-- the exact reverse of the descending order (update_time, user_id DESC,
-- session_id DESC), keyset pages, tokens bound to their direction, and the
-- same O(page) cost as the descending listing
--
-- 30 sessions of 4 users; update times set directly (as superuser) so that
-- many tie, from the session number (not the sid, which depends on what ran
-- before)
SELECT count(session_store.create_session('asc', 'u' || (i % 4), NULL, 's' || lpad(i::text, 2, '0')))
FROM generate_series(1, 30) i;
UPDATE session_store.sessions
SET update_time = '2026-01-01 00:00:00+00'::timestamptz
                  + (right(session_id, 2)::int * 7 % 5) * interval '1 minute'
WHERE app_name = 'asc';

-- the first page: least recently updated first; within a time, user_id
-- and session_id descending
SELECT user_id, session_id, update_time, next_page_token IS NOT NULL AS has_token
FROM session_store.list_sessions('asc', page_size => 8, ascending => true);

-- Every page, following next_page_token to the end, in either order.
CREATE FUNCTION pg_temp.list_all(app text, usr text, page int, asc_ boolean)
RETURNS TABLE (n int, user_id text, session_id text)
LANGUAGE plpgsql AS $$
DECLARE
    token text := NULL;
    r record;
    got int;
BEGIN
    n := 0;
    LOOP
        got := 0;
        FOR r IN SELECT * FROM session_store.list_sessions(app, usr, page, token, asc_) LOOP
            n := n + 1;
            got := got + 1;
            user_id := r.user_id;
            session_id := r.session_id;
            token := r.next_page_token;
            RETURN NEXT;
        END LOOP;
        EXIT WHEN got < page;
    END LOOP;
END
$$;

-- following the tokens visits every session once, in the documented
-- order, for every page size, app-wide and per user
CREATE TEMP TABLE expected_asc AS
SELECT row_number() OVER (ORDER BY update_time, user_id DESC, session_id DESC)::int AS n,
       user_id::text, session_id::text
FROM session_store.sessions WHERE app_name = 'asc';
SELECT p AS page_size,
       (SELECT array_agg(user_id || '/' || session_id ORDER BY n) FROM pg_temp.list_all('asc', NULL, p, true))
     = (SELECT array_agg(user_id || '/' || session_id ORDER BY n) FROM expected_asc) AS all_in_order
FROM unnest(ARRAY[1, 2, 3, 7, 29, 30, 31, 100]) p;
SELECT u, p AS page_size,
       (SELECT array_agg(session_id ORDER BY n) FROM pg_temp.list_all('asc', u, p, true))
     = (SELECT array_agg(session_id ORDER BY n) FROM expected_asc WHERE user_id = u) AS user_in_order
FROM unnest(ARRAY['u0', 'u3']) u, unnest(ARRAY[1, 2, 5, 100]) p;
-- ... which is the descending listing reversed
SELECT (SELECT array_agg(user_id || '/' || session_id ORDER BY n) FROM pg_temp.list_all('asc', NULL, 4, true))
     = (SELECT array_agg(user_id || '/' || session_id ORDER BY n DESC) FROM pg_temp.list_all('asc', NULL, 4, false))
       AS reverse_of_descending,
       (SELECT array_agg(session_id ORDER BY n) FROM pg_temp.list_all('asc', 'u1', 3, true))
     = (SELECT array_agg(session_id ORDER BY n DESC) FROM pg_temp.list_all('asc', 'u1', 3, false))
       AS user_reverse_of_descending;
-- ascending => false is the 1.0 listing
SELECT (SELECT array_agg(session_id) FROM session_store.list_sessions('asc', page_size => 30, ascending => false))
     = (SELECT array_agg(session_id) FROM session_store.list_sessions('asc', page_size => 30)) AS false_is_default;

-- a token continues its own listing: the rows after its row, in order
SELECT next_page_token AS t_asc FROM session_store.list_sessions('asc', page_size => 5, ascending => true) OFFSET 4 \gset
SELECT next_page_token AS t_desc FROM session_store.list_sessions('asc', page_size => 5) OFFSET 4 \gset
SELECT next_page_token AS t_user FROM session_store.list_sessions('asc', 'u2', page_size => 2, ascending => true) OFFSET 1 \gset
SELECT array_agg(user_id || '/' || session_id)
     = (SELECT array_agg(user_id || '/' || session_id ORDER BY n) FROM expected_asc WHERE n BETWEEN 6 AND 10)
       AS second_page_right
FROM session_store.list_sessions('asc', page_size => 5, page_token => :'t_asc', ascending => true);
SELECT array_agg(session_id)
     = (SELECT array_agg(session_id ORDER BY n) FROM (SELECT * FROM expected_asc WHERE user_id = 'u2'
                                                      ORDER BY n OFFSET 2 LIMIT 2) x)
       AS user_second_page_right
FROM session_store.list_sessions('asc', 'u2', page_size => 2, page_token => :'t_user', ascending => true);
-- the two directions' tokens differ for the same row
SELECT (SELECT next_page_token FROM session_store.list_sessions('asc', page_size => 1, ascending => true))
    <> (SELECT next_page_token FROM session_store.list_sessions('asc', page_size => 30) OFFSET 29)
       AS tokens_of_a_row_differ;

-- a token of one direction is refused by the other (22023), and tokens
-- stay bound to their listing
SELECT test.try(format('SELECT * FROM session_store.list_sessions(%L, page_token => %L)', 'asc', :'t_asc'));
SELECT test.try(format('SELECT * FROM session_store.list_sessions(%L, page_token => %L, ascending => false)', 'asc', :'t_asc'));
SELECT test.try(format('SELECT * FROM session_store.list_sessions(%L, page_token => %L, ascending => true)', 'asc', :'t_desc'));
-- ... saying which direction the token belongs to
SELECT user_id FROM session_store.list_sessions('asc', page_token => :'t_asc');
SELECT user_id FROM session_store.list_sessions('asc', page_token => :'t_desc', ascending => true);
SELECT test.try(format('SELECT * FROM session_store.list_sessions(%L, %L, page_token => %L)', 'asc', 'u2', :'t_user'));
SELECT test.try(format('SELECT * FROM session_store.list_sessions(%L, page_token => %L, ascending => true)', 'asc', :'t_user'));
SELECT test.try(format('SELECT * FROM session_store.list_sessions(%L, page_token => %L, ascending => true)', 'other', :'t_asc'));
SELECT test.try(format('SELECT * FROM session_store.list_sessions(%L, page_token => %L, ascending => true)', 'asc', left(:'t_asc', -2)));
SELECT test.try($$SELECT * FROM session_store.list_sessions('asc', page_token => 'garbage', ascending => true)$$);
SELECT test.try(format('SELECT * FROM session_store.list_sessions(%L, page_token => %L, ascending => true)', 'asc', :'t_asc'));

-- ascending must not be NULL (22004); the other arguments are checked as before
SELECT test.try($$SELECT * FROM session_store.list_sessions('asc', ascending => NULL)$$);
SELECT test.try($$SELECT * FROM session_store.list_sessions('asc', 'u1', 10, NULL, NULL)$$);
SELECT test.try($$SELECT * FROM session_store.list_sessions('asc', page_size => 0, ascending => true)$$);
SELECT test.try($$SELECT * FROM session_store.list_sessions(NULL, ascending => true)$$);
SELECT count(*) FROM session_store.list_sessions('no-such-app', ascending => true);
SELECT count(*) FROM session_store.list_sessions('asc', 'nobody', ascending => true);

--
-- A page costs O(page_size), whatever the table size: the same backward
-- range scans at 1,000 and at 100,000 sessions, with statistics or without
-- (see list_sessions.sql).
--
-- no autovacuum while the cost is measured: a VACUUM or ANALYZE it started
-- between two measurements would give the planner statistics halfway
ALTER TABLE session_store.sessions SET (autovacuum_enabled = off);
INSERT INTO session_store.sessions
SELECT app, 'u' || (i % 4), 's' || lpad(i::text, 6, '0'),
       nextval('session_store.session_sid_seq'), '{}', 0, 0,
       '2026-01-01'::timestamptz, '2026-01-01'::timestamptz + (i % 500) * interval '1 second'
FROM (VALUES ('asc-mid', 1000), ('asc-big', :big_app)) a(app, n), generate_series(1, n) i;
CREATE TEMP TABLE page_query (label text, q text);
INSERT INTO page_query VALUES
  ('first page', $q$SELECT * FROM session_store.list_sessions(%L, page_size => 10, ascending => true)$q$),
  ('after a token', $q$SELECT * FROM session_store.list_sessions(%1$L, page_size => 10, ascending => true, page_token =>
     (SELECT next_page_token FROM session_store.list_sessions(%1$L, page_size => 25, ascending => true) OFFSET 24))$q$),
  ('one user, first page', $q$SELECT * FROM session_store.list_sessions(%L, 'u2', page_size => 10, ascending => true)$q$),
  ('one user, after a token', $q$SELECT * FROM session_store.list_sessions(%1$L, 'u2', page_size => 10, ascending => true, page_token =>
     (SELECT next_page_token FROM session_store.list_sessions(%1$L, 'u2', page_size => 25, ascending => true) OFFSET 24))$q$);
CREATE TEMP TABLE page_cost (label text, stats text, mid int, big int);
CREATE FUNCTION pg_temp.measure(stats text) RETURNS void LANGUAGE sql AS $$
INSERT INTO page_cost
SELECT label, stats, test.buffers(format(q, 'asc-mid')), test.buffers(format(q, 'asc-big'))
FROM page_query;
$$;
SELECT test.buffers($$SELECT * FROM session_store.list_sessions('asc-big', ascending => true)$$) > 0 AS warm;
SELECT pg_temp.measure('none');
ANALYZE session_store.sessions;
SELECT test.buffers($$SELECT * FROM session_store.list_sessions('asc-big', ascending => true)$$) > 0 AS replanned;
SELECT pg_temp.measure('analyzed');
ALTER TABLE session_store.sessions RESET (autovacuum_enabled);
SELECT label, stats, big <= mid + 5 AS same_cost_at_any_size, big < 100 AS bounded
FROM page_cost ORDER BY stats DESC, label;
-- and the rows are the right ones
SELECT (SELECT array_agg(session_id ORDER BY update_time, user_id DESC, session_id DESC)
        FROM (SELECT * FROM session_store.sessions WHERE app_name = 'asc-big'
              ORDER BY update_time, user_id DESC, session_id DESC LIMIT 10 OFFSET 25) x)
     = (SELECT array_agg(session_id) FROM session_store.list_sessions('asc-big', page_size => 10, ascending => true,
          page_token => (SELECT next_page_token FROM session_store.list_sessions('asc-big', page_size => 25,
                                                                                 ascending => true) OFFSET 24)))
       AS page_after_token_right;
-- the big apps are not needed by the tests that follow
DELETE FROM session_store.sessions WHERE app_name IN ('asc-mid', 'asc-big');
