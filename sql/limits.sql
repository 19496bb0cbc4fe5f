--
-- Limits: session_store.max_batch_messages and session_store.max_message_size
-- (superuser-settable), and inputs that are large or deeply nested
--
SELECT version FROM session_store.create_session('lim', 'u', NULL, 's');
-- (defined once the library is loaded, i.e. after the first call)
SELECT name, setting, unit, context FROM pg_settings WHERE name LIKE 'session_store.%' ORDER BY name;

-- the batch limit (default 1000)
SELECT last_seq FROM session_store.append_messages('lim', 'u', 's',
    (SELECT jsonb_agg(jsonb_build_object('i', i)) FROM generate_series(1, 1000) i));
SELECT test.try($$SELECT session_store.append_messages('lim', 'u', 's',
    (SELECT jsonb_agg(jsonb_build_object('i', i)) FROM generate_series(1, 1001) i))$$);
SET session_store.max_batch_messages = 3;
SELECT test.try($$SELECT session_store.append_messages('lim', 'u', 's', '[{}, {}, {}, {}]')$$);
SELECT last_seq FROM session_store.append_messages('lim', 'u', 's', '[{}, {}, {}]');
RESET session_store.max_batch_messages;

-- the message size limit (default 16MB), as stored
SET session_store.max_message_size = '2kB';
SELECT last_seq FROM session_store.append_messages('lim', 'u', 's',
    jsonb_build_array(jsonb_build_object('x', repeat('a', 1900))));
SELECT test.try($$SELECT session_store.append_messages('lim', 'u', 's',
    jsonb_build_array('{"ok": 1}'::jsonb, jsonb_build_object('x', repeat('a', 3000))))$$);
RESET session_store.max_message_size;
SELECT test.try($$SELECT session_store.append_messages('lim', 'u', 's',
    jsonb_build_array(jsonb_build_object('x', repeat('a', 17 * 1024 * 1024))))$$);
-- the hint names the setting
DO $$
BEGIN
    PERFORM session_store.append_messages('lim', 'u', 's', '[{}, {}]'::jsonb || (SELECT jsonb_agg('{}'::jsonb) FROM generate_series(1, 1000)));
EXCEPTION WHEN program_limit_exceeded THEN
    DECLARE d text; h text;
    BEGIN
        GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
        RAISE NOTICE 'detail: %', d;
        RAISE NOTICE 'hint: %', h;
    END;
END
$$;
-- nothing of the failed calls was written
SELECT version, last_seq FROM session_store.get_session('lim', 'u', 's');

-- only a superuser may change the limits
CREATE ROLE session_store_limited;
SET ROLE session_store_limited;
SELECT test.try($$SET session_store.max_batch_messages = 100000$$);
SELECT test.try($$SET session_store.max_message_size = '1GB'$$);
RESET ROLE;
DROP ROLE session_store_limited;
-- (where the SETs succeed, the portable edition, their values must not stay)
RESET session_store.max_batch_messages;
RESET session_store.max_message_size;

-- deep nesting is stored and returned as it is, in messages and in state
SELECT first_seq AS deep FROM session_store.append_messages('lim', 'u', 's',
    jsonb_build_array(jsonb_build_object('deep', (repeat('[', 2000) || repeat(']', 2000))::jsonb)),
    jsonb_build_object('deep', (repeat('{"a":', 2000) || '1' || repeat('}', 2000))::jsonb,
                       'app:deep', (repeat('[', 2000) || repeat(']', 2000))::jsonb)) \gset
SELECT length(message::text) FROM session_store.get_messages('lim', 'u', 's', after_seq => :deep - 1);
SELECT length(state->>'deep'), length(state->>'app:deep') FROM session_store.get_session('lim', 'u', 's');
-- nesting deeper than the server accepts fails cleanly, before any call
SELECT test.try($$SELECT session_store.append_messages('lim', 'u', 's',
    jsonb_build_array(jsonb_build_object('deep', (repeat('[', 1000000) || repeat(']', 1000000))::jsonb)))$$) LIKE '54001:%' AS too_deep;

-- many keys in one delta
SELECT version FROM session_store.append_messages('lim', 'u', 's', '[]',
    (SELECT jsonb_object_agg(prefix || i, i) FROM generate_series(1, 20000) i,
            unnest(ARRAY['', 'app:', 'user:', 'temp:']) prefix));
SELECT (SELECT count(*) FROM jsonb_object_keys(state)) AS merged_keys,
       (SELECT count(*) FROM jsonb_object_keys(session_store.get_app_state('lim'))) AS app_keys
FROM session_store.get_session('lim', 'u', 's');
