--
-- replace_messages (1.1): replace the latest messages only while they still
-- equal the expected suffix, atomically; new sequence numbers, never reused
--
SELECT version FROM session_store.create_session('rp', 'u', NULL, 's');
SELECT last_seq FROM session_store.append_messages('rp', 'u', 's',
    '[{"n": 1}, {"n": 2}, {"n": 3, "tool": {"a": [1, 2]}}]');
CREATE FUNCTION pg_temp.log(sid text DEFAULT 's') RETURNS text LANGUAGE sql AS $$
    SELECT coalesce(string_agg(seq || ':' || message::text, ' ' ORDER BY seq), '-')
    FROM session_store.get_messages('rp', 'u', sid)
$$;

-- the suffix matches: it goes, the replacement comes after last_seq
SELECT first_seq, last_seq, version, replayed, removed
FROM session_store.replace_messages('rp', 'u', 's', '[{"n": 2}, {"n": 3, "tool": {"a": [1, 2]}}]',
                                    '[{"r": 1}, {"r": 2, "s": [1, {"t": 1.0}]}]');
SELECT pg_temp.log();
SELECT version, last_seq FROM session_store.get_session('rp', 'u', 's');
-- jsonb equality: key order, spacing and the scale of numbers do not matter
SELECT first_seq, last_seq, version, removed
FROM session_store.replace_messages('rp', 'u', 's', '[ {"s":[1,{"t":1.00}], "r":2} ]', '[{"r": 3}]');
SELECT pg_temp.log();

-- no longer the suffix: 40001, nothing written
SELECT what, test.try(format($$SELECT session_store.replace_messages('rp', 'u', 's', %L, '[{"x": 1}]',
                                  '{"app:z": 1, "z": 1}')$$, e)) AS result
FROM (VALUES
    ('an older message',      '[{"n": 1}]'),
    ('a different value',     '[{"r": 4}]'),
    ('a different key',       '[{"s": 3}]'),
    ('a subset of the message', '[{}]'),
    ('wrong order',           '[{"r": 3}, {"r": 1}]'),
    ('the right tail, too long', '[{"x": 0}, {"n": 1}, {"r": 1}, {"r": 3}]'),
    ('longer than the session', '[{"n": 1}, {"r": 1}, {"r": 3}, {"r": 3}, {"r": 3}]'),
    ('a scalar element',      '[3]'),
    ('an array element',      '[[{"r": 3}]]')
) v(what, e);
SELECT version, last_seq, state FROM session_store.get_session('rp', 'u', 's');
SELECT pg_temp.log();
SELECT session_store.get_app_state('rp') AS app_state_untouched;

-- the whole session as the suffix, replaced by nothing: all removed, and
-- the numbers are not given out again
SELECT first_seq, last_seq, version, removed
FROM session_store.replace_messages('rp', 'u', 's', '[{"n": 1}, {"r": 1}, {"r": 3}]', '[]');
SELECT pg_temp.log();
SELECT first_seq FROM session_store.append_messages('rp', 'u', 's', '[{"a": 1}]');
SELECT pg_temp.log();

-- an empty expected suffix always matches: a plain append (removes nothing)
SELECT first_seq, last_seq, version, removed
FROM session_store.replace_messages('rp', 'u', 's', '[]', '[{"a": 2}, {"a": 3}]');
SELECT pg_temp.log();
-- ... and with an empty replacement too it only counts as a mutation
SELECT first_seq, last_seq, version, removed
FROM session_store.replace_messages('rp', 'u', 's', '[]', '[]');

-- expected_version: checked like an append (40001), nothing written
SELECT test.try($$SELECT session_store.replace_messages('rp', 'u', 's', '[{"a": 3}]', '[{"b": 1}]', NULL, 3)$$);
SELECT pg_temp.log();
SELECT first_seq, version, removed
FROM session_store.replace_messages('rp', 'u', 's', '[{"a": 3}]', '[{"b": 1}]', NULL, 7);
SELECT pg_temp.log();

-- a state delta (routed, with keep_nulls) lands with the replacement
SELECT first_seq, version, removed
FROM session_store.replace_messages('rp', 'u', 's', '[{"b": 1}]', '[{"b": 2}]',
                                    '{"step": 2, "gone": null, "user:who": "u", "app:p": null, "temp:t": 1}',
                                    keep_nulls => true);
SELECT state FROM session_store.get_session('rp', 'u', 's');
SELECT session_store.get_app_state('rp') AS app_state;
SELECT first_seq, version, removed
FROM session_store.replace_messages('rp', 'u', 's', '[]', '[]', '{"gone": null}');
SELECT state FROM session_store.get_session('rp', 'u', 's');

-- replacement messages get the call's time, like an append
SELECT update_time AS t FROM session_store.replace_messages('rp', 'u', 's', '[{"b": 2}]', '[{"b": 3}]') \gset
SELECT create_time = :'t' AS same_time FROM session_store.get_messages('rp', 'u', 's', 1);

-- idempotency: a replay returns the first result with the removed count,
-- writes nothing; other content under the key is 42710 (always verified)
SELECT first_seq, last_seq, version, replayed, removed
FROM session_store.replace_messages('rp', 'u', 's', '[{"b": 3}]', '[{"c": 1}, {"c": 2}]',
                                    idempotency_key => 'op-1');
SELECT first_seq, last_seq, version, replayed, removed
FROM session_store.replace_messages('rp', 'u', 's', '[{"b": 3}]', '[{"c": 1}, {"c": 2}]',
                                    idempotency_key => 'op-1');
SELECT pg_temp.log();
SELECT what, test.try(format($$SELECT session_store.replace_messages('rp', 'u', 's', %L, %L, %L,
                                  idempotency_key => 'op-1', keep_nulls => %L)$$, e, r, d, kn)) AS result
FROM (VALUES
    ('expected_suffix', '[{"b": 4}]', '[{"c": 1}, {"c": 2}]', NULL, false),
    ('replacement',     '[{"b": 3}]', '[{"c": 1}]', NULL, false),
    ('state_delta',     '[{"b": 3}]', '[{"c": 1}, {"c": 2}]', '{"k": 1}', false),
    ('keep_nulls',      '[{"b": 3}]', '[{"c": 1}, {"c": 2}]', NULL, true)
) v(what, e, r, d, kn);
SELECT version, last_seq FROM session_store.get_session('rp', 'u', 's');
-- a key used by append_messages is not a replace_messages request (and back)
SELECT first_seq FROM session_store.append_messages('rp', 'u', 's', '[]', NULL, NULL, 'op-2');
SELECT test.try($$SELECT session_store.replace_messages('rp', 'u', 's', '[]', '[]', idempotency_key => 'op-2')$$);
SELECT test.try($$SELECT session_store.append_messages('rp', 'u', 's', '[]', NULL, NULL, 'op-1', verify_replay => true)$$);
-- append without verify_replay replays the replace's result, as 1.0 would
SELECT first_seq, last_seq, version, replayed
FROM session_store.append_messages('rp', 'u', 's', '[]', NULL, NULL, 'op-1');
-- a key stored by 1.0 (no digest) replays, with removed unknown (NULL)
SELECT first_seq FROM session_store.append_messages('rp', 'u', 's', '[]', NULL, NULL, 'op-old');
UPDATE session_store.idempotency_keys SET request_digest = NULL WHERE idempotency_key = 'op-old';
SELECT first_seq, last_seq, replayed, removed
FROM session_store.replace_messages('rp', 'u', 's', '[{"x": 1}]', '[]', idempotency_key => 'op-old');
SELECT idempotency_key, k.first_seq, k.last_seq, removed, length(request_digest) AS digest_bytes
FROM session_store.idempotency_keys k JOIN session_store.sessions s USING (user_id, sid)
WHERE s.app_name = 'rp' ORDER BY idempotency_key;

-- several calls in one statement each see the one before
SELECT version FROM session_store.create_session('rp', 'u', NULL, 'multi');
SELECT array_agg(r.first_seq ORDER BY g) AS firsts, array_agg(r.removed ORDER BY g) AS removed
FROM generate_series(1, 4) g,
     LATERAL session_store.replace_messages('rp', 'u', 'multi',
         CASE WHEN g = 1 THEN '[]' ELSE jsonb_build_array(jsonb_build_object('g', g - 1)) END,
         jsonb_build_array(jsonb_build_object('g', g))) r;
SELECT pg_temp.log('multi');

-- errors
SELECT test.try($$SELECT session_store.replace_messages('rp', 'u', 'missing', '[]', '[]')$$);
SELECT test.try($$SELECT session_store.replace_messages('rp', 'u', 's', NULL, '[]')$$);
SELECT test.try($$SELECT session_store.replace_messages('rp', 'u', 's', '[]', NULL)$$);
SELECT test.try($$SELECT session_store.replace_messages('rp', 'u', 's', '{}', '[]')$$);
SELECT test.try($$SELECT session_store.replace_messages('rp', 'u', 's', '3', '[]')$$);
SELECT test.try($$SELECT session_store.replace_messages('rp', 'u', 's', '[]', '[1]')$$);
SELECT test.try($$SELECT session_store.replace_messages('rp', 'u', 's', '[]', '{}')$$);
SELECT test.try($$SELECT session_store.replace_messages('rp', 'u', 's', '[]', '[]', '[]')$$);
SELECT test.try($$SELECT session_store.replace_messages('rp', 'u', 's', '[]', '[]', idempotency_key => '')$$);
SELECT test.try($$SELECT session_store.replace_messages('rp', 'u', 's', '[]', '[]', keep_nulls => NULL)$$);
SELECT test.try($$SELECT session_store.replace_messages('rp', '', 's', '[]', '[]')$$);
SET session_store.max_batch_messages = 2;
SELECT test.try($$SELECT session_store.replace_messages('rp', 'u', 's', '[]', '[{}, {}, {}]')$$);
RESET session_store.max_batch_messages;
SELECT version, last_seq FROM session_store.get_session('rp', 'u', 's');
