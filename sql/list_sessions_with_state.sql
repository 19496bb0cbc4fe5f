--
-- list_sessions_with_state (1.2): list_sessions' page, the same rows in the
-- same order with the same page tokens, each row with the session's merged
-- state exactly as get_session returns it; the same arguments, errors and
-- O(page) cost
--
-- 12 sessions of 3 users of app 'ws', update times set directly (as
-- superuser) so that several tie; states in every scope
SELECT count(session_store.create_session('ws', 'u' || (i % 3), NULL, 's' || lpad(i::text, 2, '0')))
FROM generate_series(1, 12) i;
UPDATE session_store.sessions
SET update_time = '2026-01-01 00:00:00+00'::timestamptz
                  + (right(session_id, 2)::int * 7 % 4) * interval '1 minute'
WHERE app_name = 'ws';
-- session keys, user keys (u0 and u1; u2 has no user state row), app keys
SELECT version FROM session_store.append_messages('ws', 'u0', 's03', '[]',
    '{"topic": "a", "user:lang": "fr", "app:motd": "hi", "temp:scratch": 1}');
SELECT version FROM session_store.append_messages('ws', 'u1', 's04', '[]',
    '{"topic": "b", "n": 4, "user:lang": "de"}');
SELECT version FROM session_store.append_messages('ws', 'u1', 's07', '[]', '{"nested": {"x": [1, 2]}}');
-- restore the times the appends moved
UPDATE session_store.sessions
SET update_time = '2026-01-01 00:00:00+00'::timestamptz
                  + (right(session_id, 2)::int * 7 % 4) * interval '1 minute'
WHERE app_name = 'ws';

-- the first page: list_sessions' columns, then the merged state
SELECT user_id, session_id, update_time, version, state, next_page_token IS NOT NULL AS has_token
FROM session_store.list_sessions_with_state('ws', page_size => 5);

-- Every page, following next_page_token to the end, with the merged state.
CREATE FUNCTION pg_temp.list_all_state(app text, usr text, page int, asc_ boolean)
RETURNS TABLE (n int, user_id text, session_id text, state jsonb, token text)
LANGUAGE plpgsql AS $$
DECLARE
    tok text := NULL;
    r record;
    got int;
BEGIN
    n := 0;
    LOOP
        got := 0;
        FOR r IN SELECT * FROM session_store.list_sessions_with_state(app, usr, page, tok, asc_) LOOP
            n := n + 1;
            got := got + 1;
            user_id := r.user_id;
            session_id := r.session_id;
            state := r.state;
            token := r.next_page_token;
            tok := r.next_page_token;
            RETURN NEXT;
        END LOOP;
        EXIT WHEN got < page;
    END LOOP;
END
$$;
-- ... and the same with list_sessions, for comparison
CREATE FUNCTION pg_temp.list_all_plain(app text, usr text, page int, asc_ boolean)
RETURNS TABLE (n int, user_id text, session_id text, token text)
LANGUAGE plpgsql AS $$
DECLARE
    tok text := NULL;
    r record;
    got int;
BEGIN
    n := 0;
    LOOP
        got := 0;
        FOR r IN SELECT * FROM session_store.list_sessions(app, usr, page, tok, asc_) LOOP
            n := n + 1;
            got := got + 1;
            user_id := r.user_id;
            session_id := r.session_id;
            token := r.next_page_token;
            tok := r.next_page_token;
            RETURN NEXT;
        END LOOP;
        EXIT WHEN got < page;
    END LOOP;
END
$$;

-- for every page size, order and user filter (NULL: the whole app): the
-- rows and tokens of list_sessions, in its order, and each state is what
-- get_session returns for that session
SELECT coalesce(u, '(all)') AS user_id, a AS ascending,
       bool_and(same_rows) AS same_rows_and_tokens, bool_and(same_state) AS state_of_get_session,
       min(listed) AS listed
FROM unnest(ARRAY[NULL, 'u0', 'u1', 'u2']) u, unnest(ARRAY[false, true]) a, unnest(ARRAY[1, 2, 5, 12, 100]) p,
     LATERAL (
         SELECT (SELECT array_agg(ROW(w.user_id, w.session_id, w.token) ORDER BY w.n)
                 FROM pg_temp.list_all_state('ws', u, p, a) w)
                IS NOT DISTINCT FROM
                (SELECT array_agg(ROW(l.user_id, l.session_id, l.token) ORDER BY l.n)
                 FROM pg_temp.list_all_plain('ws', u, p, a) l) AS same_rows,
                (SELECT bool_and(w.state = g.state) AND count(g.*) = count(*)
                 FROM pg_temp.list_all_state('ws', u, p, a) w
                 LEFT JOIN LATERAL session_store.get_session('ws', w.user_id, w.session_id) g ON true) AS same_state,
                (SELECT count(*) FROM pg_temp.list_all_state('ws', u, p, a)) AS listed) x
GROUP BY u, a ORDER BY u NULLS FIRST, a;

-- one user's listing: each row carries that user's keys; the whole app's
-- listing: each row its own user's (u2 has none), and every row the app's
SELECT user_id, session_id, state FROM session_store.list_sessions_with_state('ws', 'u1');
SELECT user_id, session_id, state FROM session_store.list_sessions_with_state('ws', ascending => true)
WHERE session_id IN ('s02', 's03', 's04', 's05');

-- a token of either function continues the listing in the other
SELECT next_page_token AS t FROM session_store.list_sessions('ws', page_size => 4) OFFSET 3 \gset
SELECT next_page_token AS tw FROM session_store.list_sessions_with_state('ws', page_size => 4) OFFSET 3 \gset
SELECT :'t' = :'tw' AS same_token,
       (SELECT array_agg(session_id) FROM session_store.list_sessions_with_state('ws', page_token => :'t'))
     = (SELECT array_agg(session_id) FROM session_store.list_sessions('ws', page_token => :'tw')) AS same_next_page;

-- empty state: a session without keys in an app and user without any is {}
SELECT session_id FROM session_store.create_session('ws-empty', 'nobody', NULL, 'e1');
SELECT state, version FROM session_store.list_sessions_with_state('ws-empty');
-- an app or user without sessions lists nothing
SELECT count(*) FROM session_store.list_sessions_with_state('no-such-app');
SELECT count(*) FROM session_store.list_sessions_with_state('ws', 'nobody');

-- JSON nulls kept (keep_nulls) are listed as null in every scope, as
-- get_session shows them; a null without keep_nulls removes the key
SELECT session_id FROM session_store.create_session('ws-null', 'n', '{"a": null, "user:b": null, "app:c": null, "d": 1}',
                                                    'n1', keep_nulls => true);
SELECT version FROM session_store.append_messages('ws-null', 'n', 'n1', '[]', '{"d": null}');
SELECT l.state, l.state = g.state AS as_get_session
FROM session_store.list_sessions_with_state('ws-null') l, session_store.get_session('ws-null', 'n', 'n1') g;

-- the shared scopes' keys are added after the session's, as get_session
-- adds them: a key written around the API into the session's own state
-- under a prefixed name is shown with the shared scope's value
UPDATE session_store.sessions SET state = state || '{"app:c": "session", "user:b": "session", "user:z": "only-session"}'
WHERE app_name = 'ws-null';
SELECT l.state, l.state = g.state AS as_get_session
FROM session_store.list_sessions_with_state('ws-null') l, session_store.get_session('ws-null', 'n', 'n1') g;

-- the arguments are list_sessions': its checks, its errors
SELECT test.try($$SELECT * FROM session_store.list_sessions_with_state('ws', page_size => 0)$$);
SELECT test.try($$SELECT * FROM session_store.list_sessions_with_state('ws', page_size => 10001)$$);
SELECT test.try($$SELECT * FROM session_store.list_sessions_with_state('ws', page_size => 10000)$$);
SELECT test.try($$SELECT * FROM session_store.list_sessions_with_state('ws', page_size => NULL)$$);
SELECT test.try($$SELECT * FROM session_store.list_sessions_with_state(NULL)$$);
SELECT test.try($$SELECT * FROM session_store.list_sessions_with_state('')$$);
SELECT test.try($$SELECT * FROM session_store.list_sessions_with_state('ws', '')$$);
SELECT test.try(format('SELECT * FROM session_store.list_sessions_with_state(%L, %L)', 'ws', repeat('x', 129)));
SELECT test.try($$SELECT * FROM session_store.list_sessions_with_state('ws', ascending => NULL)$$);
SELECT test.try($$SELECT * FROM session_store.list_sessions_with_state('ws', page_token => 'garbage')$$);
SELECT test.try($$SELECT * FROM session_store.list_sessions_with_state('ws', page_token => '')$$);
SELECT test.try(format('SELECT * FROM session_store.list_sessions_with_state(%L, page_token => %L)', 'ws', :'t' || 'A'));
SELECT test.try(format('SELECT * FROM session_store.list_sessions_with_state(%L, page_token => %L)', 'ws-null', :'t'));
SELECT test.try(format('SELECT * FROM session_store.list_sessions_with_state(%L, %L, page_token => %L)', 'ws', 'u1', :'t'));
SELECT test.try(format('SELECT * FROM session_store.list_sessions_with_state(%L, page_token => %L, ascending => true)', 'ws', :'t'));

-- a NULL session state (the column's NOT NULL dropped, a row written
-- around the API) is refused, never listed as a state
BEGIN;
ALTER TABLE session_store.sessions ALTER COLUMN state DROP NOT NULL;
UPDATE session_store.sessions SET state = NULL WHERE app_name = 'ws-empty';
SELECT test.try($$SELECT * FROM session_store.list_sessions_with_state('ws-empty')$$);
ROLLBACK;

--
-- A page costs O(page_size), whatever the table size, as list_sessions':
-- the same index range scans, a primary-key probe or two per listed row, the
-- app's state once.  Apps of 1,000 and 100,000 sessions, every user with
-- a user state row, each app with an app state row.
--
ALTER TABLE session_store.sessions SET (autovacuum_enabled = off);
INSERT INTO session_store.sessions
SELECT app, 'u' || (i % 4), 's' || lpad(i::text, 6, '0'),
       nextval('session_store.session_sid_seq'), '{"k": 1}', 0, 0,
       '2026-01-01'::timestamptz, '2026-01-01'::timestamptz + (i % 500) * interval '1 second'
FROM (VALUES ('ws-mid', 1000), ('ws-big', :big_app)) a(app, n), generate_series(1, n) i;
INSERT INTO session_store.user_states
SELECT app, 'u' || i, '{"u": 1}' FROM unnest(ARRAY['ws-mid', 'ws-big']) app, generate_series(0, 3) i;
INSERT INTO session_store.app_states VALUES ('ws-mid', '{"a": 1}'), ('ws-big', '{"a": 1}');
CREATE TEMP TABLE page_query_ws (label text, q text);
INSERT INTO page_query_ws VALUES
  ('first page', $q$SELECT * FROM session_store.list_sessions_with_state(%L, page_size => 10)$q$),
  ('after a token', $q$SELECT * FROM session_store.list_sessions_with_state(%1$L, page_size => 10, page_token =>
     (SELECT next_page_token FROM session_store.list_sessions(%1$L, page_size => 25) OFFSET 24))$q$),
  ('ascending, after a token', $q$SELECT * FROM session_store.list_sessions_with_state(%1$L, page_size => 10,
     ascending => true, page_token =>
     (SELECT next_page_token FROM session_store.list_sessions(%1$L, page_size => 25, ascending => true) OFFSET 24))$q$),
  ('one user, first page', $q$SELECT * FROM session_store.list_sessions_with_state(%L, 'u2', page_size => 10)$q$),
  ('one user, after a token', $q$SELECT * FROM session_store.list_sessions_with_state(%1$L, 'u2', page_size => 10, page_token =>
     (SELECT next_page_token FROM session_store.list_sessions(%1$L, 'u2', page_size => 25) OFFSET 24))$q$);
CREATE TEMP TABLE page_cost_ws (label text, stats text, mid int, big int);
CREATE FUNCTION pg_temp.measure_ws(stats text) RETURNS void LANGUAGE sql AS $$
INSERT INTO page_cost_ws
SELECT label, stats, test.buffers(format(q, 'ws-mid')), test.buffers(format(q, 'ws-big'))
FROM page_query_ws;
$$;
SELECT test.buffers($$SELECT * FROM session_store.list_sessions_with_state('ws-big')$$) > 0 AS warm;
SELECT pg_temp.measure_ws('none');
ANALYZE session_store.sessions, session_store.user_states, session_store.app_states;
SELECT test.buffers($$SELECT * FROM session_store.list_sessions_with_state('ws-big')$$) > 0 AS replanned;
SELECT pg_temp.measure_ws('analyzed');
ALTER TABLE session_store.sessions RESET (autovacuum_enabled);
-- a few buffers per listed row at either size (a page of 10 costs 20 to 150
-- buffers in the two editions); reading the big app, or its user states,
-- as a whole would cost over 1,500
SELECT label, stats, big <= mid + 20 AS same_cost_at_any_size, big < 250 AS bounded
FROM page_cost_ws ORDER BY stats DESC, label;
-- and the rows and states are the right ones
SELECT bool_and(w.state = '{"k": 1, "app:a": 1, "user:u": 1}') AS states,
       array_agg(w.session_id ORDER BY w.ord)
     = (SELECT array_agg(session_id) FROM session_store.list_sessions('ws-big', page_size => 10, page_token =>
          (SELECT next_page_token FROM session_store.list_sessions('ws-big', page_size => 25) OFFSET 24))) AS rows
FROM session_store.list_sessions_with_state('ws-big', page_size => 10, page_token =>
       (SELECT next_page_token FROM session_store.list_sessions('ws-big', page_size => 25) OFFSET 24))
     WITH ORDINALITY w(user_id, session_id, version, last_seq, create_time, update_time, next_page_token, state, ord);
DELETE FROM session_store.sessions WHERE app_name IN ('ws-mid', 'ws-big');
DELETE FROM session_store.user_states WHERE app_name IN ('ws-mid', 'ws-big');
DELETE FROM session_store.app_states WHERE app_name IN ('ws-mid', 'ws-big');
