--
-- The idempotency key of an append is looked up by the primary key of
-- session_store.idempotency_keys and stored through the executor, without
-- SQL: what an administrator changes in that table is honoured as a SELECT
-- and an INSERT naming the extension's columns would honour it
--
SELECT version FROM session_store.create_session('kt', 'u', NULL, 's');
\set kt_keys '(SELECT k.* FROM session_store.idempotency_keys k JOIN session_store.sessions s USING (user_id, sid) WHERE s.app_name = ''kt'') k'

-- columns added (filled with their defaults, or NULL) and dropped
ALTER TABLE session_store.idempotency_keys ADD COLUMN tmp int;
ALTER TABLE session_store.idempotency_keys DROP COLUMN tmp;
ALTER TABLE session_store.idempotency_keys ADD COLUMN note text DEFAULT 'default note',
    ADD COLUMN plain int,
    ADD COLUMN kind text GENERATED ALWAYS AS (coalesce(operation, 'an append')) STORED;
SELECT first_seq, last_seq, version, replayed
FROM session_store.append_messages('kt', 'u', 's', '[{"n": 1}, {"n": 2}]', idempotency_key => 'k1');
SELECT first_seq, last_seq, version, replayed
FROM session_store.append_messages('kt', 'u', 's', '[{"n": 1}, {"n": 2}]', idempotency_key => 'k1',
    verify_replay => true);
SELECT test.try($$SELECT session_store.append_messages('kt', 'u', 's', '[{"n": 3}]',
    idempotency_key => 'k1', verify_replay => true)$$);
SELECT first_seq, last_seq, version, replayed, removed
FROM session_store.replace_messages('kt', 'u', 's', '[{"n": 2}]', '[{"n": 3}]', idempotency_key => 'k2');
SELECT first_seq, last_seq, version, replayed, removed
FROM session_store.replace_messages('kt', 'u', 's', '[{"n": 2}]', '[{"n": 3}]', idempotency_key => 'k2');
SELECT first_seq, last_seq, version, replayed, removed
FROM session_store.replace_messages('kt', 'u', 's', '[]', '[]', idempotency_key => 'k3');
SELECT idempotency_key, first_seq, last_seq, version, removed, operation,
       octet_length(request_digest) AS digest_bytes, popped_message, note, plain, kind
FROM :kt_keys ORDER BY idempotency_key;
ALTER TABLE session_store.idempotency_keys DROP COLUMN kind;
-- a key of another kind of call is still refused
SELECT session_store.clear_session('kt', 'u', 's', idempotency_key => 'k-clear') AS removed;
SELECT test.try($$SELECT session_store.append_messages('kt', 'u', 's', '[]', idempotency_key => 'k-clear')$$);
SELECT test.try($$SELECT session_store.replace_messages('kt', 'u', 's', '[]', '[]', idempotency_key => 'k-clear')$$);

-- replayed in a read-only transaction; a new key there is refused
BEGIN TRANSACTION READ ONLY;
SELECT last_seq, replayed FROM session_store.append_messages('kt', 'u', 's', '[{"n": 1}, {"n": 2}]',
    idempotency_key => 'k1');
SELECT test.try($$SELECT session_store.append_messages('kt', 'u', 's', '[]', idempotency_key => 'k-ro')$$);
COMMIT;

-- a column whose type was changed is a clean error on every keyed call
-- (new key or replay), and no error for a call without a key
SELECT version AS v0 FROM session_store.get_session('kt', 'u', 's') \gset
ALTER TABLE session_store.idempotency_keys ALTER COLUMN version TYPE numeric;
SELECT test.try($$SELECT session_store.append_messages('kt', 'u', 's', '[]', idempotency_key => 'k-new')$$);
SELECT test.try($$SELECT session_store.append_messages('kt', 'u', 's', '[]', idempotency_key => 'k1')$$);
SELECT test.try($$SELECT session_store.replace_messages('kt', 'u', 's', '[]', '[]', idempotency_key => 'k-new')$$);
ALTER TABLE session_store.idempotency_keys ALTER COLUMN version TYPE bigint;
ALTER TABLE session_store.idempotency_keys ALTER COLUMN operation TYPE varchar;
SELECT test.try($$SELECT session_store.append_messages('kt', 'u', 's', '[]', idempotency_key => 'k1')$$);
ALTER TABLE session_store.idempotency_keys ALTER COLUMN operation TYPE text COLLATE "C";
ALTER TABLE session_store.idempotency_keys ALTER COLUMN removed TYPE int;
SELECT test.try($$SELECT session_store.append_messages('kt', 'u', 's', '[]', idempotency_key => 'k-new')$$);
SELECT last_seq FROM session_store.append_messages('kt', 'u', 's', '[]');
ALTER TABLE session_store.idempotency_keys ALTER COLUMN removed TYPE bigint;
SELECT version - :v0 AS one_call FROM session_store.get_session('kt', 'u', 's');

-- constraints and every index are checked
SELECT version AS v0 FROM session_store.get_session('kt', 'u', 's') \gset
ALTER TABLE session_store.idempotency_keys
    ADD CONSTRAINT short_keys CHECK (idempotency_key NOT LIKE 'long%') NOT VALID;
SELECT test.try($$SELECT session_store.append_messages('kt', 'u', 's', '[{}]', idempotency_key => 'long-1')$$);
SELECT test.try($$SELECT session_store.replace_messages('kt', 'u', 's', '[]', '[{}]', idempotency_key => 'long-2')$$);
ALTER TABLE session_store.idempotency_keys DROP CONSTRAINT short_keys;
UPDATE session_store.idempotency_keys SET plain = 0;
ALTER TABLE session_store.idempotency_keys ALTER COLUMN plain SET NOT NULL;
SELECT test.try($$SELECT session_store.append_messages('kt', 'u', 's', '[{}]', idempotency_key => 'k-nn')$$);
ALTER TABLE session_store.idempotency_keys ALTER COLUMN plain DROP NOT NULL;
CREATE UNIQUE INDEX kt_lower_key ON session_store.idempotency_keys (user_id, sid, lower(idempotency_key));
SELECT last_seq FROM session_store.append_messages('kt', 'u', 's', '[{}]', idempotency_key => 'case');
SELECT test.try($$SELECT session_store.append_messages('kt', 'u', 's', '[{}]', idempotency_key => 'CASE')$$);
DROP INDEX session_store.kt_lower_key;
SELECT version - :v0 AS one_call FROM session_store.get_session('kt', 'u', 's');

-- row triggers fire: a BEFORE one may change the row but not skip it or
-- move it to another key (a retry would not find it), an error in one
-- fails the call, AFTER ones fire when the call ends
SELECT version AS v0, last_seq AS s0 FROM session_store.get_session('kt', 'u', 's') \gset
CREATE TABLE test.kt_seen (tg text, idempotency_key text, note text);
CREATE FUNCTION test.kt_note() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_WHEN = 'BEFORE' THEN
        NEW.note := 'by trigger ' || NEW.version;
    END IF;
    INSERT INTO test.kt_seen VALUES (TG_WHEN || ' ' || TG_OP, NEW.idempotency_key, NEW.note);
    RETURN NEW;
END
$$;
CREATE TRIGGER kt_before BEFORE INSERT ON session_store.idempotency_keys
    FOR EACH ROW EXECUTE FUNCTION test.kt_note();
CREATE TRIGGER kt_after AFTER INSERT ON session_store.idempotency_keys
    FOR EACH ROW EXECUTE FUNCTION test.kt_note();
SELECT last_seq, replayed FROM session_store.append_messages('kt', 'u', 's', '[{}]', idempotency_key => 'k-tg');
SELECT last_seq, replayed FROM session_store.append_messages('kt', 'u', 's', '[{}]', idempotency_key => 'k-tg');
SELECT * FROM test.kt_seen ORDER BY tg;
SELECT note FROM :kt_keys WHERE idempotency_key = 'k-tg';
DROP TRIGGER kt_before ON session_store.idempotency_keys;
DROP TRIGGER kt_after ON session_store.idempotency_keys;
SELECT version AS v1, last_seq AS s1 FROM session_store.get_session('kt', 'u', 's') \gset
CREATE FUNCTION test.kt_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'no key %', NEW.idempotency_key USING ERRCODE = 'P0001';
END
$$;
CREATE TRIGGER kt_refuse BEFORE INSERT ON session_store.idempotency_keys
    FOR EACH ROW EXECUTE FUNCTION test.kt_refuse();
SELECT test.try($$SELECT session_store.append_messages('kt', 'u', 's', '[{}]', idempotency_key => 'k-refused')$$);
DROP TRIGGER kt_refuse ON session_store.idempotency_keys;
CREATE FUNCTION test.kt_skip() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RETURN NULL;
END
$$;
CREATE TRIGGER kt_skip BEFORE INSERT ON session_store.idempotency_keys
    FOR EACH ROW EXECUTE FUNCTION test.kt_skip();
SELECT test.try($$SELECT session_store.append_messages('kt', 'u', 's', '[{}]', idempotency_key => 'k-skipped')$$);
SELECT test.try($$SELECT session_store.replace_messages('kt', 'u', 's', '[]', '[{}]', idempotency_key => 'k-skipped')$$);
DROP TRIGGER kt_skip ON session_store.idempotency_keys;
CREATE FUNCTION test.kt_rekey() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.idempotency_key := NEW.idempotency_key || '-moved';
    RETURN NEW;
END
$$;
CREATE TRIGGER kt_rekey BEFORE INSERT ON session_store.idempotency_keys
    FOR EACH ROW EXECUTE FUNCTION test.kt_rekey();
SELECT test.try($$SELECT session_store.append_messages('kt', 'u', 's', '[{}]', idempotency_key => 'k-moved')$$);
DROP TRIGGER kt_rekey ON session_store.idempotency_keys;
SELECT version = :v1 AS version_kept, last_seq = :s1 AS last_seq_kept,
       (SELECT count(*) FROM :kt_keys WHERE idempotency_key LIKE 'k-%ed%') AS keys_stored
FROM session_store.get_session('kt', 'u', 's');
DROP TABLE test.kt_seen;

-- the lookup needs the primary key it scans
ALTER TABLE session_store.idempotency_keys DROP CONSTRAINT idempotency_keys_pkey;
SELECT test.try($$SELECT session_store.append_messages('kt', 'u', 's', '[]', idempotency_key => 'k1')$$);
SELECT last_seq FROM session_store.append_messages('kt', 'u', 's', '[]');
ALTER TABLE session_store.idempotency_keys ADD PRIMARY KEY (user_id, sid, idempotency_key);
SELECT last_seq, replayed FROM session_store.append_messages('kt', 'u', 's', '[{"n": 1}, {"n": 2}]',
    idempotency_key => 'k1');

ALTER TABLE session_store.idempotency_keys DROP COLUMN note, DROP COLUMN plain;
SELECT session_store.delete_session('kt', 'u', 's');
