-- A tour of the API, as an agent framework would call it.  Every call is
-- one SELECT: atomic, serialized per session, no client-side locks.
\pset pager off
\pset null '(null)'
\set ECHO queries

\echo
\echo '-- 1. Start a session.  Keys prefixed app: and user: are shared with the'
\echo '--    app''s and the user''s other sessions; temp: keys are dropped.'
SELECT session_id, state, version, last_seq
FROM session_store.create_session('travel-agent', 'alice',
       '{"goal": "Lisbon trip", "app:model": "m-large", "user:home": "Berlin", "temp:trace": 1}',
       'trip-1');

\echo
\echo '-- 2. Append a turn: messages get the next sequence numbers; the delta'
\echo '--    updates state in the same transaction; version goes up by one.'
SELECT * FROM session_store.append_messages('travel-agent', 'alice', 'trip-1',
       '[{"role": "user", "content": "Find me a flight"},
         {"role": "assistant", "content": "Which dates?"}]',
       state_delta => '{"step": "dates", "user:budget": 800}');

\echo
\echo '-- 3. Optimistic concurrency: pass the version you last saw.'
SELECT * FROM session_store.append_messages('travel-agent', 'alice', 'trip-1',
       '[{"role": "user", "content": "May 3 to 7"}]', expected_version => 1);

\echo
\echo '-- 4. The latest messages, oldest first; or a window of the log.'
SELECT seq, message->>'role' AS role, message->>'content' AS content
FROM session_store.get_messages('travel-agent', 'alice', 'trip-1', max_count => 2);
SELECT seq, message->>'content' AS content
FROM session_store.get_messages('travel-agent', 'alice', 'trip-1', after_seq => 0, before_seq => 2);

\echo
\echo '-- 5. The session with its merged state (own keys + user: + app:).'
SELECT session_id, state, version, last_seq FROM session_store.get_session('travel-agent', 'alice', 'trip-1');

\echo
\echo '-- 6. A second session of the same user sees the shared keys.'
SELECT state FROM session_store.create_session('travel-agent', 'alice', NULL, 'trip-2');
SELECT session_store.get_app_state('travel-agent') AS app_state,
       session_store.get_user_state('travel-agent', 'alice') AS user_state;

\echo
\echo '-- 7. Errors carry SQLSTATEs a client can act on.'
\set ON_ERROR_STOP 0
SELECT * FROM session_store.append_messages('travel-agent', 'alice', 'trip-1', '[]', expected_version => 1);
\echo 'SQLSTATE' :LAST_ERROR_SQLSTATE '(serialization_failure: reload, retry)'
SELECT * FROM session_store.append_messages('travel-agent', 'alice', 'no-such-trip', '[]');
\echo 'SQLSTATE' :LAST_ERROR_SQLSTATE '(undefined_object)'
SELECT session_store.create_session('travel-agent', 'alice', NULL, 'trip-1');
\echo 'SQLSTATE' :LAST_ERROR_SQLSTATE '(unique_violation)'
\echo
\echo '-- 8. Delete a session: its messages go with it; shared state stays.'
SELECT session_store.delete_session('travel-agent', 'alice', 'trip-2');
