--
-- distribute() (1.1): without Citus, a clean error and nothing changed
--
SELECT count(*) AS citus_installed FROM pg_extension WHERE extname = 'citus';
SELECT test.try($$SELECT session_store.distribute()$$);
SELECT test.try($$SELECT session_store.distribute(32)$$);
-- nothing was created or changed by the failed calls
SELECT count(*) AS sid_index FROM pg_class WHERE relname = 'sessions_user_sid_key';
-- the single-node path still serves every call
SELECT version FROM session_store.create_session('dist', 'u', NULL, 's');
SELECT first_seq, last_seq FROM session_store.append_messages('dist', 'u', 's', '[{"n": 1}]');
SELECT session_store.delete_session('dist', 'u', 's');
-- not for PUBLIC; one optional argument
SELECT has_function_privilege('public', 'session_store.distribute(integer)', 'EXECUTE') AS public_execute;
SELECT pg_get_function_arguments('session_store.distribute(integer)'::regprocedure);
--
-- delegate_functions() (1.2), the step after updating a distributed
-- installation: without Citus, the same clean error
--
SELECT test.try($$SELECT * FROM session_store.delegate_functions()$$);
SELECT has_function_privilege('public', 'session_store.delegate_functions()', 'EXECUTE') AS public_execute;
SELECT p.proconfig, pg_get_function_result(p.oid) AS result
FROM pg_proc p WHERE p.oid = 'session_store.delegate_functions()'::regprocedure;
