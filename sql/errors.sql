--
-- Every error of the contract, with its SQLSTATE.  An error writes nothing.
--
SELECT version FROM session_store.create_session('e', 'u', NULL, 's');
SELECT first_seq FROM session_store.append_messages('e', 'u', 's', '[{"n": 1}]');

-- 42704: the session does not exist
SELECT test.try($$SELECT session_store.append_messages('e', 'u', 'missing', '[]')$$);
SELECT test.try($$SELECT session_store.get_messages('e', 'u', 'missing')$$);
SELECT test.try($$SELECT session_store.append_messages('e', 'other', 's', '[]')$$);
SELECT test.try($$SELECT session_store.append_messages('other', 'u', 's', '[]')$$);
SELECT test.try($$SELECT * FROM session_store.pop_message('e', 'u', 'missing')$$);
SELECT test.try($$SELECT session_store.rewind_session('e', 'u', 'missing', 0)$$);
SELECT test.try($$SELECT session_store.clear_session('e', 'u', 'missing')$$);
SELECT test.try($$SELECT session_store.fork_session('e', 'u', 'missing')$$);
-- ... but get_session, delete_session and create_session do not raise it
SELECT test.try($$SELECT * FROM session_store.get_session('e', 'u', 'missing')$$);
SELECT test.try($$SELECT session_store.delete_session('e', 'u', 'missing')$$);

-- 23505: an explicit id that exists
SELECT test.try($$SELECT session_store.create_session('e', 'u', NULL, 's')$$);

-- 40001: expected_version does not match
SELECT test.try($$SELECT session_store.append_messages('e', 'u', 's', '[]', NULL, 0)$$);
SELECT test.try($$SELECT * FROM session_store.pop_message('e', 'u', 's', 0)$$);
SELECT test.try($$SELECT session_store.rewind_session('e', 'u', 's', 0, 0)$$);
SELECT test.try($$SELECT session_store.clear_session('e', 'u', 's', 0)$$);

-- 22004: a required argument is NULL
SELECT test.try($$SELECT session_store.create_session(NULL, 'u')$$);
SELECT test.try($$SELECT session_store.create_session('e', NULL)$$);
SELECT test.try($$SELECT session_store.get_session(NULL, 'u', 's')$$);
SELECT test.try($$SELECT session_store.get_session('e', NULL, 's')$$);
SELECT test.try($$SELECT session_store.get_session('e', 'u', NULL)$$);
SELECT test.try($$SELECT session_store.delete_session(NULL, 'u', 's')$$);
SELECT test.try($$SELECT session_store.delete_session('e', NULL, 's')$$);
SELECT test.try($$SELECT session_store.delete_session('e', 'u', NULL)$$);
SELECT test.try($$SELECT session_store.append_messages(NULL, 'u', 's', '[]')$$);
SELECT test.try($$SELECT session_store.append_messages('e', NULL, 's', '[]')$$);
SELECT test.try($$SELECT session_store.append_messages('e', 'u', NULL, '[]')$$);
SELECT test.try($$SELECT session_store.append_messages('e', 'u', 's', NULL)$$);
SELECT test.try($$SELECT session_store.get_messages(NULL, 'u', 's')$$);
SELECT test.try($$SELECT session_store.get_messages('e', NULL, 's')$$);
SELECT test.try($$SELECT session_store.get_messages('e', 'u', NULL)$$);
SELECT test.try($$SELECT session_store.get_app_state(NULL)$$);
SELECT test.try($$SELECT session_store.get_user_state(NULL, 'u')$$);
SELECT test.try($$SELECT session_store.get_user_state('e', NULL)$$);
SELECT test.try($$SELECT * FROM session_store.list_sessions(NULL)$$);
SELECT test.try($$SELECT * FROM session_store.list_sessions('e', page_size => NULL)$$);
SELECT test.try($$SELECT * FROM session_store.pop_message(NULL, 'u', 's')$$);
SELECT test.try($$SELECT * FROM session_store.pop_message('e', 'u', NULL)$$);
SELECT test.try($$SELECT session_store.rewind_session('e', NULL, 's', 0)$$);
SELECT test.try($$SELECT session_store.rewind_session('e', 'u', 's', NULL)$$);
SELECT test.try($$SELECT session_store.clear_session('e', 'u', NULL)$$);
SELECT test.try($$SELECT session_store.fork_session(NULL, 'u', 's')$$);
SELECT test.try($$SELECT session_store.expire_sessions(NULL)$$);
SELECT test.try($$SELECT session_store.expire_sessions('1 day', NULL, NULL)$$);

-- 22023: an id that is empty or longer than 128 bytes
SELECT test.try($$SELECT session_store.create_session('', 'u')$$);
SELECT test.try($$SELECT session_store.create_session('e', '')$$);
SELECT test.try($$SELECT session_store.create_session('e', 'u', NULL, '')$$);
SELECT test.try(format('SELECT session_store.create_session(%L, %L)', repeat('a', 129), 'u'));
SELECT test.try(format('SELECT session_store.create_session(%L, %L)', 'e', repeat('é', 65)));
SELECT test.try(format('SELECT session_store.create_session(%L, %L, NULL, %L)', 'e', 'u', repeat('s', 129)));
SELECT test.try($$SELECT session_store.get_session('', 'u', 's')$$);
SELECT test.try($$SELECT session_store.delete_session('e', '', 's')$$);
SELECT test.try($$SELECT session_store.append_messages('e', 'u', '', '[]')$$);
SELECT test.try($$SELECT session_store.get_messages('e', 'u', '')$$);
SELECT test.try($$SELECT session_store.get_app_state('')$$);
SELECT test.try($$SELECT session_store.get_user_state('e', '')$$);
SELECT test.try($$SELECT session_store.append_messages('e', 'u', 's', '[]', NULL, NULL, '')$$);
SELECT test.try(format('SELECT session_store.append_messages(%L, %L, %L, %L, NULL, NULL, %L)', 'e', 'u', 's', '[]', repeat('k', 129)));

-- 22023: messages not a JSON array of objects
SELECT test.try($$SELECT session_store.append_messages('e', 'u', 's', '{}')$$);
SELECT test.try($$SELECT session_store.append_messages('e', 'u', 's', '{"role": "user"}')$$);
SELECT test.try($$SELECT session_store.append_messages('e', 'u', 's', '1')$$);
SELECT test.try($$SELECT session_store.append_messages('e', 'u', 's', '"text"')$$);
SELECT test.try($$SELECT session_store.append_messages('e', 'u', 's', 'null')$$);
SELECT test.try($$SELECT session_store.append_messages('e', 'u', 's', '[1]')$$);
SELECT test.try($$SELECT session_store.append_messages('e', 'u', 's', '[null]')$$);
SELECT test.try($$SELECT session_store.append_messages('e', 'u', 's', '[{"ok": 1}, [{"nested": 1}]]')$$);
SELECT test.try($$SELECT session_store.append_messages('e', 'u', 's', '[{"ok": 1}, {"ok": 2}, "three"]')$$);

-- 22023: state / state_delta not a JSON object
SELECT test.try($$SELECT session_store.create_session('e', 'u', '[]')$$);
SELECT test.try($$SELECT session_store.create_session('e', 'u', '"s"')$$);
SELECT test.try($$SELECT session_store.create_session('e', 'u', 'null')$$);
SELECT test.try($$SELECT session_store.append_messages('e', 'u', 's', '[]', '[{"a": 1}]')$$);
SELECT test.try($$SELECT session_store.append_messages('e', 'u', 's', '[]', '42')$$);

-- 22023: max_count, page_size, page_token, max_sessions, idle_for out of range
SELECT test.try($$SELECT session_store.get_messages('e', 'u', 's', -1)$$);
SELECT test.try($$SELECT * FROM session_store.list_sessions('e', page_size => 0)$$);
SELECT test.try($$SELECT * FROM session_store.list_sessions('e', page_token => 'not a token')$$);
SELECT test.try($$SELECT session_store.expire_sessions('1 day', NULL, 0)$$);
SELECT test.try($$SELECT session_store.expire_sessions('-1 day')$$);
SELECT test.try($$SELECT session_store.fork_session('e', 'u', 's', repeat('x', 129))$$);

-- 54000: a limit exceeded (the limits test covers the settings)
SELECT test.try(format('SELECT session_store.append_messages(%L, %L, %L, %L)', 'e', 'u', 's',
    (SELECT jsonb_agg('{}'::jsonb) FROM generate_series(1, 1001))));

-- none of the failed calls above wrote anything
SELECT version, last_seq, state FROM session_store.get_session('e', 'u', 's');
SELECT count(*) FROM session_store.sessions WHERE app_name = 'e';
