--
-- keep_nulls (1.1): a JSON null in a state or a state delta is stored as
-- null instead of removing the key, in every scope; temp: keys are still
-- dropped.  The default (false) is the 1.0 rule: null removes the key.
--
-- create_session: nulls kept in the session's, the user's and the app's state
SELECT state FROM session_store.create_session('kn', 'ann',
    '{"a": null, "b": 1, "user:u": null, "app:p": null, "temp:t": null}', 'k1', keep_nulls => true);
SELECT session_store.get_user_state('kn', 'ann') AS user_state,
       session_store.get_app_state('kn') AS app_state;
-- ... and without it (the default, or false), a null at creation stores nothing
SELECT state FROM session_store.create_session('kn', 'ann', '{"a": null, "b": 1, "user:v": null}', 'k2');
SELECT state FROM session_store.create_session('kn', 'ann', '{"a": null, "b": 1}', 'k3', keep_nulls => false);
SELECT session_store.get_user_state('kn', 'ann') AS user_state_unchanged;

-- append_messages: without keep_nulls a null removes the key ("b"); with it
-- a null replaces the value and the key stays ("c", "user:w", "app:q")
SELECT version FROM session_store.append_messages('kn', 'ann', 'k2', '[]',
    '{"b": null, "c": 2, "user:w": 3, "app:q": 4}');
SELECT version FROM session_store.append_messages('kn', 'ann', 'k2', '[]',
    '{"c": null, "user:w": null, "app:q": null, "temp:x": null}', keep_nulls => true);
SELECT state FROM session_store.get_session('kn', 'ann', 'k2');
SELECT session_store.get_user_state('kn', 'ann') AS user_state,
       session_store.get_app_state('kn') AS app_state;
-- the stored null is a value: jsonb null, not SQL NULL
SELECT state -> 'c' AS c, state -> 'c' = 'null'::jsonb AS is_json_null,
       state ? 'c' AS has_key
FROM session_store.get_session('kn', 'ann', 'k2');
-- the same delta without keep_nulls removes those keys again (1.0 rule)
SELECT version FROM session_store.append_messages('kn', 'ann', 'k2', '[]',
    '{"c": null, "user:w": null, "app:q": null}');
SELECT state FROM session_store.get_session('kn', 'ann', 'k2');
-- nested nulls are values either way
SELECT version FROM session_store.append_messages('kn', 'ann', 'k2', '[]', '{"d": {"e": null}}');
SELECT state -> 'd' AS d FROM session_store.get_session('kn', 'ann', 'k2');
-- keep_nulls together with messages: both land, one version
SELECT first_seq, last_seq, version
FROM session_store.append_messages('kn', 'ann', 'k2', '[{"m": 1}]', '{"f": null}', keep_nulls => true);
SELECT state ? 'f' AS has_f FROM session_store.get_session('kn', 'ann', 'k2');

-- keep_nulls must not be NULL (22004), and nothing is written then
SELECT test.try($$SELECT session_store.create_session('kn', 'ann', '{}', 'k9', keep_nulls => NULL)$$);
SELECT count(*) FROM session_store.get_session('kn', 'ann', 'k9');
SELECT test.try($$SELECT session_store.append_messages('kn', 'ann', 'k2', '[]', '{"g": null}', keep_nulls => NULL)$$);
SELECT version, state ? 'g' AS has_g FROM session_store.get_session('kn', 'ann', 'k2');
