--
-- verify_replay (1.1): every append with an idempotency key stores a digest
-- of its request (messages, state_delta, keep_nulls, message_time); with
-- verify_replay a replay with other content fails with 42710 and writes
-- nothing.  Without it (the default) a replay returns the first result
-- whatever the content, as in 1.0.
--
SELECT version FROM session_store.create_session('vr', 'u', NULL, 's');
SELECT first_seq, last_seq, version, replayed
FROM session_store.append_messages('vr', 'u', 's', '[{"n": 1}, {"n": 2}]', '{"k": 1}', NULL, 'req-1',
                                   message_time => '2026-01-01 00:00:00+00', verify_replay => true);
-- the same request again: replayed
SELECT first_seq, last_seq, version, replayed
FROM session_store.append_messages('vr', 'u', 's', '[{"n": 1}, {"n": 2}]', '{"k": 1}', NULL, 'req-1',
                                   message_time => '2026-01-01 00:00:00+00', verify_replay => true);
-- the same JSON written differently (key order, spacing) is the same content
SELECT first_seq, last_seq, version, replayed
FROM session_store.append_messages('vr', 'u', 's', '[ {"n":1} , {"n" : 2}]', '{ "k":1 }', NULL, 'req-1',
                                   message_time => '2026-01-01 01:00:00+01', verify_replay => true);
-- ... even with an expected_version that no longer matches (as in 1.0)
SELECT first_seq, last_seq, version, replayed
FROM session_store.append_messages('vr', 'u', 's', '[{"n": 1}, {"n": 2}]', '{"k": 1}', 0, 'req-1',
                                   message_time => '2026-01-01 00:00:00+00', verify_replay => true);
-- any part of the request different: 42710, and nothing written
SELECT what, test.try(format($$SELECT session_store.append_messages('vr', 'u', 's', %L, %L, NULL, 'req-1',
                                  keep_nulls => %L, message_time => %L, verify_replay => true)$$, m, d, kn, t)) AS result
FROM (VALUES
    ('messages',          '[{"n": 1}, {"n": 3}]', '{"k": 1}', false, '2026-01-01 00:00:00+00'),
    ('one message less',  '[{"n": 1}]',           '{"k": 1}', false, '2026-01-01 00:00:00+00'),
    ('message order',     '[{"n": 2}, {"n": 1}]', '{"k": 1}', false, '2026-01-01 00:00:00+00'),
    ('state_delta',       '[{"n": 1}, {"n": 2}]', '{"k": 2}', false, '2026-01-01 00:00:00+00'),
    ('no state_delta',    '[{"n": 1}, {"n": 2}]', NULL,       false, '2026-01-01 00:00:00+00'),
    ('keep_nulls',        '[{"n": 1}, {"n": 2}]', '{"k": 1}', true,  '2026-01-01 00:00:00+00'),
    ('message_time',      '[{"n": 1}, {"n": 2}]', '{"k": 1}', false, '2026-01-01 00:00:01+00'),
    ('no message_time',   '[{"n": 1}, {"n": 2}]', '{"k": 1}', false, NULL)
) v(what, m, d, kn, t);
SELECT version, last_seq, state FROM session_store.get_session('vr', 'u', 's');
SELECT count(*) AS messages FROM session_store.get_messages('vr', 'u', 's');

-- verify_replay false (the default): other content replays, as in 1.0
SELECT first_seq, last_seq, version, replayed
FROM session_store.append_messages('vr', 'u', 's', '[{"other": true}]', '{"k": 99}', NULL, 'req-1');
SELECT first_seq, last_seq, version, replayed
FROM session_store.append_messages('vr', 'u', 's', '[{"other": true}]', NULL, NULL, 'req-1', verify_replay => false);
SELECT version, last_seq, state FROM session_store.get_session('vr', 'u', 's');

-- a key stored without verify_replay is verified by a later call that asks
SELECT first_seq, version, replayed
FROM session_store.append_messages('vr', 'u', 's', '[{"n": 3}]', NULL, NULL, 'req-2');
SELECT first_seq, version, replayed
FROM session_store.append_messages('vr', 'u', 's', '[{"n": 3}]', NULL, NULL, 'req-2', verify_replay => true);
SELECT test.try($$SELECT session_store.append_messages('vr', 'u', 's', '[{"n": 4}]', NULL, NULL, 'req-2', verify_replay => true)$$);
-- an empty append with a key: its content is the empty array
SELECT first_seq, version, replayed
FROM session_store.append_messages('vr', 'u', 's', '[]', NULL, NULL, 'req-3', verify_replay => true);
SELECT first_seq, version, replayed
FROM session_store.append_messages('vr', 'u', 's', '[]', NULL, NULL, 'req-3', verify_replay => true);
SELECT test.try($$SELECT session_store.append_messages('vr', 'u', 's', '[]', '{}', NULL, 'req-3', verify_replay => true)$$);

-- a key stored by 1.0 has no digest: it replays whatever the content, even
-- with verify_replay (1.0 made no promise about it)
SELECT first_seq, version, replayed
FROM session_store.append_messages('vr', 'u', 's', '[{"n": 5}]', NULL, NULL, 'req-old');
UPDATE session_store.idempotency_keys SET request_digest = NULL WHERE idempotency_key = 'req-old';
SELECT first_seq, version, replayed
FROM session_store.append_messages('vr', 'u', 's', '[{"different": 1}]', NULL, NULL, 'req-old', verify_replay => true);

-- the digest is 32 bytes (sha256), one per key; keys of 1.1 calls have one
SELECT idempotency_key, length(request_digest) AS digest_bytes, removed
FROM session_store.idempotency_keys k JOIN session_store.sessions s USING (user_id, sid)
WHERE s.app_name = 'vr' ORDER BY idempotency_key;
SELECT count(DISTINCT request_digest) AS distinct_digests
FROM session_store.idempotency_keys k JOIN session_store.sessions s USING (user_id, sid)
WHERE s.app_name = 'vr';

-- keys belong to their session: the same key with other content elsewhere is new
SELECT version FROM session_store.create_session('vr', 'u', NULL, 's2');
SELECT first_seq, version, replayed
FROM session_store.append_messages('vr', 'u', 's2', '[{"x": 1}]', NULL, NULL, 'req-1', verify_replay => true);

-- verify_replay must not be NULL
SELECT test.try($$SELECT session_store.append_messages('vr', 'u', 's', '[]', NULL, NULL, 'req-9', verify_replay => NULL)$$);
-- a failed call does not record its key
SELECT count(*) FROM session_store.idempotency_keys WHERE idempotency_key = 'req-9';
