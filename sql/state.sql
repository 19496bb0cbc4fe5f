--
-- State scopes: routing of app:/user:/temp: keys, null removes a key,
-- top-level keys replaced wholesale, the merged view
--
SELECT state FROM session_store.create_session('shop', 'ann', '{"cart": [1]}', 'a1');
SELECT state FROM session_store.create_session('shop', 'ann', NULL, 'a2');
SELECT state FROM session_store.create_session('shop', 'ben', NULL, 'b1');
SELECT state FROM session_store.create_session('blog', 'ann', NULL, 'x1');

-- one delta touching every scope
SELECT version FROM session_store.append_messages('shop', 'ann', 'a1', '[]',
    '{"step": 2, "app:currency": "EUR", "user:name": "Ann", "temp:token": "secret"}');
SELECT state FROM session_store.get_session('shop', 'ann', 'a1');

-- app keys are shared by every session of the app, user keys by every
-- session of the user in that app; session keys by nobody
SELECT state FROM session_store.get_session('shop', 'ann', 'a2');
SELECT state FROM session_store.get_session('shop', 'ben', 'b1');
SELECT state FROM session_store.get_session('blog', 'ann', 'x1');
SELECT session_store.get_app_state('shop') AS shop, session_store.get_app_state('blog') AS blog,
       session_store.get_user_state('shop', 'ann') AS ann, session_store.get_user_state('shop', 'ben') AS ben,
       session_store.get_user_state('blog', 'ann') AS ann_blog;

-- temp: keys are stored nowhere
SELECT count(*) FROM session_store.sessions WHERE state::text LIKE '%secret%';

-- a top-level key is replaced wholesale (no deep merge); null removes it
SELECT version FROM session_store.append_messages('shop', 'ann', 'a1', '[]',
    '{"cart": {"items": [2]}, "step": null, "app:currency": null, "app:region": {"eu": true}, "user:name": {"first": "Ann"}}');
SELECT state FROM session_store.get_session('shop', 'ann', 'a1');
SELECT session_store.get_app_state('shop') AS shop, session_store.get_user_state('shop', 'ann') AS ann;

-- removing a key that is not there, or a delta with nothing in it, is fine
SELECT version FROM session_store.append_messages('shop', 'ann', 'a1', '[]', '{"nothing": null, "app:nothing": null}');
SELECT version FROM session_store.append_messages('shop', 'ann', 'a1', '[]', '{}');
SELECT version FROM session_store.append_messages('shop', 'ann', 'a1', '[]', '{"temp:only": 1}');
SELECT state FROM session_store.get_session('shop', 'ann', 'a1');

-- only the prefix decides: "app:" alone is the app key "", "apple" is a
-- session key, prefixes are case-sensitive, only the first prefix is removed
SELECT state FROM session_store.create_session('shop', 'cy',
    '{"app:": 1, "apple": 2, "APP:x": 3, "user:app:y": 4, "app:user:z": 5}', 'c1');
SELECT session_store.get_app_state('shop') AS shop, session_store.get_user_state('shop', 'cy') AS cy;

-- values of every JSON type
SELECT state FROM session_store.create_session('types', 'u',
    '{"s": "x", "n": 1.5, "t": true, "f": false, "a": [1, "2", null], "o": {"k": null}}', 't1');

-- an app or user state row is created only when a delta first touches it
SELECT count(*) FROM session_store.app_states WHERE app_name = 'new-app';
SELECT version FROM session_store.create_session('new-app', 'u1', NULL, 's');
SELECT count(*) FROM session_store.app_states WHERE app_name = 'new-app';
SELECT version FROM session_store.append_messages('new-app', 'u1', 's', '[]', '{"app:k": 1}');
SELECT session_store.get_app_state('new-app');

-- get_app_state / get_user_state: '{}' when nothing was stored
SELECT session_store.get_app_state('never-seen'), session_store.get_user_state('never-seen', 'nobody');
