--
-- What an administrator adds to the extension's tables is honoured by the
-- write path, as by any INSERT or UPDATE: columns, constraints, indexes,
-- triggers, foreign keys, publications
--
SELECT version FROM session_store.create_session('tc', 'u', NULL, 's');

-- a column added and dropped again leaves a dropped attribute behind
ALTER TABLE session_store.messages ADD COLUMN tmp int;
ALTER TABLE session_store.messages DROP COLUMN tmp;
ALTER TABLE session_store.sessions ADD COLUMN tmp int;
ALTER TABLE session_store.sessions DROP COLUMN tmp;
SELECT first_seq, last_seq, version
FROM session_store.append_messages('tc', 'u', 's', '[{"n": 1}, {"n": 2}]', '{"k": 1}');

-- added columns: filled with their defaults on insert, kept on update
ALTER TABLE session_store.messages ADD COLUMN note text DEFAULT 'default note',
    ADD COLUMN role text GENERATED ALWAYS AS (message->>'role') STORED;
ALTER TABLE session_store.sessions ADD COLUMN tag text;
UPDATE session_store.sessions SET tag = 'kept' WHERE app_name = 'tc';
SELECT last_seq FROM session_store.append_messages('tc', 'u', 's',
    '[{"role": "user"}, {"role": "model"}]', '{"k": 2}');
SELECT last_seq FROM session_store.append_messages('tc', 'u', 's', '[{"role": "one"}]');
SELECT seq, note, role FROM session_store.messages m
JOIN session_store.sessions s USING (user_id, sid) WHERE s.app_name = 'tc' ORDER BY seq;
SELECT tag, version, last_seq FROM session_store.sessions WHERE app_name = 'tc';
-- reads by time find the columns where they are, whatever was added
SELECT seq, message FROM session_store.get_messages('tc', 'u', 's',
    after_time => now() - interval '1 hour');
SELECT seq, message FROM session_store.get_messages('tc', 'u', 's', 2,
    after_time => now() - interval '1 hour');
ALTER TABLE session_store.messages DROP COLUMN note, DROP COLUMN role;
ALTER TABLE session_store.sessions DROP COLUMN tag;

-- a column whose type was changed is a clean error, not a crash
ALTER TABLE session_store.sessions ALTER COLUMN state TYPE json;
SELECT test.try($$SELECT session_store.append_messages('tc', 'u', 's', '[]', '{"k": 3}')$$);
ALTER TABLE session_store.sessions ALTER COLUMN state TYPE jsonb;
ALTER TABLE session_store.sessions ALTER COLUMN version TYPE int;
SELECT test.try($$SELECT session_store.append_messages('tc', 'u', 's', '[]', '{"k": 3}')$$);
ALTER TABLE session_store.sessions ALTER COLUMN version TYPE bigint;
ALTER TABLE session_store.messages ALTER COLUMN seq TYPE numeric;
SELECT test.try($$SELECT session_store.append_messages('tc', 'u', 's', '[{}]')$$);
ALTER TABLE session_store.messages ALTER COLUMN seq TYPE bigint;
-- the suffix replace_messages compares is read with the column's real type
ALTER TABLE session_store.messages ALTER COLUMN message TYPE json;
SELECT test.try($$SELECT session_store.replace_messages('tc', 'u', 's', '[{"n": 1}]', '[]')$$);
ALTER TABLE session_store.messages ALTER COLUMN message TYPE jsonb USING message::jsonb;
SELECT version FROM session_store.get_session('tc', 'u', 's');

-- so are the reads: every value read back is checked against its type
-- before it is used or returned (a retyped message was a crash, a retyped
-- seq or last_seq a garbage number); each read below consumes its result
-- as text, and what it changed is undone
CREATE FUNCTION test.try_undone(stmt text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'TUNDO', MESSAGE = test.try(stmt);
EXCEPTION WHEN SQLSTATE 'TUNDO' THEN
    RETURN SQLERRM;
END
$$;
CREATE FUNCTION test.reads() RETURNS TABLE (call text, result text)
LANGUAGE sql AS $$
    SELECT c, test.try_undone(c) FROM unnest(ARRAY[
        $c$SELECT x::text FROM session_store.get_messages('tr', 'u', 's') x$c$,
        $c$SELECT x::text FROM session_store.get_messages('tr', 'u', 's', 1) x$c$,
        $c$SELECT x::text FROM session_store.get_messages('tr', 'u', 's', after_time => '-infinity') x$c$,
        $c$SELECT x::text FROM session_store.pop_message('tr', 'u', 's') x$c$,
        $c$SELECT x::text FROM session_store.list_sessions('tr') x$c$,
        $c$SELECT x::text FROM session_store.list_sessions('tr', 'u') x$c$,
        $c$SELECT x::text FROM session_store.list_sessions_with_state('tr') x$c$,
        $c$SELECT x::text FROM session_store.list_sessions_with_state('tr', 'u') x$c$,
        $c$SELECT x::text FROM session_store.get_session('tr', 'u', 's') x$c$,
        $c$SELECT session_store.get_user_state('tr', 'u')::text$c$,
        $c$SELECT session_store.get_app_state('tr')::text$c$,
        $c$SELECT session_store.expire_sessions('100 years', 'tr')$c$]) c
$$;
SELECT version FROM session_store.create_session('tr', 'u', '{"user:k": 1, "app:k": 1}', 's');
SELECT last_seq FROM session_store.append_messages('tr', 'u', 's', '[{"n": 1}, {"n": 2}]');
SELECT version AS old_version, last_seq AS old_last_seq
FROM session_store.get_session('tr', 'u', 's') \gset
ALTER TABLE session_store.messages ALTER COLUMN message TYPE json;
SELECT * FROM test.reads() WHERE result <> 'ok';
ALTER TABLE session_store.messages ALTER COLUMN message TYPE jsonb USING message::jsonb;
ALTER TABLE session_store.messages ALTER COLUMN seq TYPE numeric;
SELECT * FROM test.reads() WHERE result <> 'ok';
ALTER TABLE session_store.messages ALTER COLUMN seq TYPE bigint;
ALTER TABLE session_store.messages ALTER COLUMN create_time TYPE timestamp;
SELECT * FROM test.reads() WHERE result <> 'ok';
ALTER TABLE session_store.messages ALTER COLUMN create_time TYPE timestamptz;
ALTER TABLE session_store.sessions ALTER COLUMN last_seq TYPE numeric;
SELECT * FROM test.reads() WHERE result <> 'ok';
ALTER TABLE session_store.sessions ALTER COLUMN last_seq TYPE bigint;
ALTER TABLE session_store.sessions ALTER COLUMN session_id TYPE varchar(128);
SELECT * FROM test.reads() WHERE result <> 'ok';
ALTER TABLE session_store.sessions ALTER COLUMN session_id TYPE text COLLATE "C";
ALTER TABLE session_store.user_states ALTER COLUMN state TYPE json;
SELECT * FROM test.reads() WHERE result <> 'ok';
ALTER TABLE session_store.user_states ALTER COLUMN state TYPE jsonb USING state::jsonb;
ALTER TABLE session_store.app_states ALTER COLUMN state TYPE json;
SELECT * FROM test.reads() WHERE result <> 'ok';
ALTER TABLE session_store.app_states ALTER COLUMN state TYPE jsonb USING state::jsonb;
ALTER TABLE session_store.sessions ALTER COLUMN state TYPE json;
SELECT * FROM test.reads() WHERE result <> 'ok';
ALTER TABLE session_store.sessions ALTER COLUMN state TYPE jsonb USING state::jsonb;
-- a stored idempotency key is read back through the same checks
SELECT first_seq FROM session_store.append_messages('tr', 'u', 's', '[{"keyed": 1}]',
    idempotency_key => 'tc-key');
ALTER TABLE session_store.idempotency_keys ALTER COLUMN last_seq TYPE numeric;
SELECT test.try($$SELECT session_store.append_messages('tr', 'u', 's', '[{"keyed": 1}]',
    idempotency_key => 'tc-key')$$);
ALTER TABLE session_store.idempotency_keys ALTER COLUMN last_seq TYPE bigint;
ALTER TABLE session_store.idempotency_keys ALTER COLUMN request_digest TYPE text
    USING encode(request_digest, 'hex');
SELECT test.try($$SELECT session_store.append_messages('tr', 'u', 's', '[{"keyed": 1}]',
    idempotency_key => 'tc-key', verify_replay => true)$$);
ALTER TABLE session_store.idempotency_keys ALTER COLUMN request_digest TYPE bytea
    USING decode(request_digest, 'hex');
SELECT last_seq, replayed FROM session_store.append_messages('tr', 'u', 's', '[{"keyed": 1}]',
    idempotency_key => 'tc-key', verify_replay => true);
-- and nothing was removed, listed wrong or written by the failed calls
SELECT * FROM test.reads() WHERE result <> 'ok';
SELECT version - :old_version AS one_more_call, last_seq - :old_last_seq AS one_more_message
FROM session_store.get_session('tr', 'u', 's');
SELECT session_store.get_user_state('tr', 'u'), session_store.get_app_state('tr');
-- a NULL where the extension never leaves one is corrupt data, not a value
ALTER TABLE session_store.messages ALTER COLUMN message DROP NOT NULL;
INSERT INTO session_store.messages (user_id, sid, seq, message, create_time)
SELECT user_id, sid, last_seq + 1, NULL, now() FROM session_store.sessions
WHERE app_name = 'tr' AND session_id = 's';
SELECT * FROM test.reads() WHERE result <> 'ok';
DELETE FROM session_store.messages WHERE message IS NULL;
ALTER TABLE session_store.messages ALTER COLUMN message SET NOT NULL;
ALTER TABLE session_store.sessions ALTER COLUMN update_time DROP NOT NULL;
UPDATE session_store.sessions SET update_time = NULL WHERE app_name = 'tr';
SELECT test.try($$SELECT session_store.list_sessions('tr')$$);
UPDATE session_store.sessions SET update_time = now() WHERE app_name = 'tr';
ALTER TABLE session_store.sessions ALTER COLUMN update_time SET NOT NULL;
SELECT * FROM test.reads() WHERE result <> 'ok';
-- so is a state that is not a JSON object (the extension stores only
-- objects): the calls that read or merge it refuse it, they do not show it
-- as no keys or as an array; and the calls that merge a delta into it
-- refuse to (an array || an object is an array: the corruption would
-- spread), while those that do not touch it go on
CREATE FUNCTION test.state_writes() RETURNS TABLE (call text, result text)
LANGUAGE sql AS $$
    SELECT c, test.try_undone(c) FROM unnest(ARRAY[
        $c$SELECT x::text FROM session_store.append_messages('tr', 'u', 's', '[{}]', '{"k": 2}') x$c$,
        $c$SELECT x::text FROM session_store.append_messages('tr', 'u', 's', '[{}]', '{"user:k": 2}') x$c$,
        $c$SELECT x::text FROM session_store.append_messages('tr', 'u', 's', '[{}]', '{"app:k": 2}') x$c$,
        $c$SELECT x::text FROM session_store.append_messages('tr', 'u', 's', '[{}]') x$c$,
        $c$SELECT x::text FROM session_store.replace_messages('tr', 'u', 's', '[]', '[{}]', '{"k": 2}') x$c$,
        $c$SELECT x::text FROM session_store.replace_messages('tr', 'u', 's', '[]', '[{}]', '{"user:k": 2, "app:k": 2}') x$c$,
        $c$SELECT session_store.create_session('tr', 'u', '{"user:k": 2}', 's2')::text$c$,
        $c$SELECT session_store.create_session('tr', 'u', '{"app:k": 2}', 's2')::text$c$,
        $c$SELECT session_store.fork_session('tr', 'u', 's', 's2')::text$c$]) c
$$;
CREATE FUNCTION test.reads_with_state(tbl text, stored jsonb)
RETURNS TABLE (call text, result text)
LANGUAGE plpgsql AS $$
DECLARE
    kept jsonb;
BEGIN
    EXECUTE format('SELECT state FROM session_store.%I WHERE app_name = $1', tbl)
        INTO STRICT kept USING 'tr';
    EXECUTE format('UPDATE session_store.%I SET state = $1 WHERE app_name = $2', tbl)
        USING stored, 'tr';
    RETURN QUERY SELECT r.call, r.result FROM test.reads() r WHERE r.result <> 'ok';
    RETURN QUERY SELECT w.call, w.result FROM test.state_writes() w WHERE w.result <> 'ok';
    EXECUTE format('UPDATE session_store.%I SET state = $1 WHERE app_name = $2', tbl)
        USING kept, 'tr';
END
$$;
SELECT t AS "table", v AS stored, r.call, r.result
FROM unnest(ARRAY['sessions', 'user_states', 'app_states']) WITH ORDINALITY AS t (t, i),
     unnest(ARRAY['[1]', '1']) WITH ORDINALITY AS v (v, j),
     test.reads_with_state(t, v::jsonb) WITH ORDINALITY AS r
ORDER BY i, j, r.ordinality;
SELECT * FROM test.reads() WHERE result <> 'ok';
SELECT * FROM test.state_writes() WHERE result <> 'ok';
DROP FUNCTION test.reads_with_state(text, jsonb), test.state_writes();
DROP FUNCTION test.reads(), test.try_undone(text);
SELECT session_store.delete_session('tr', 'u', 's');

-- an administrator's CHECK constraint holds for appends as for an UPDATE
ALTER TABLE session_store.messages ADD CONSTRAINT few CHECK (seq <= 6) NOT VALID;
SELECT last_seq FROM session_store.append_messages('tc', 'u', 's', '[{}]');
SELECT test.try($$SELECT session_store.append_messages('tc', 'u', 's', '[{}]')$$);
SELECT test.try($$SELECT session_store.append_messages('tc', 'u', 's', '[{}, {}, {}]')$$);
ALTER TABLE session_store.messages DROP CONSTRAINT few;
ALTER TABLE session_store.sessions ADD CONSTRAINT small CHECK (version < 5) NOT VALID;
SELECT test.try($$SELECT session_store.append_messages('tc', 'u', 's', '[{}]')$$);
SELECT test.try($$SELECT session_store.pop_message('tc', 'u', 's')$$);
ALTER TABLE session_store.sessions DROP CONSTRAINT small;
SELECT version, last_seq FROM session_store.get_session('tc', 'u', 's');
-- CHECK constraints that read the whole row hold call after call (what
-- their first evaluation caches lives as long as the call that compiled
-- them: it was used after the call had freed it)
ALTER TABLE session_store.messages
    ADD CONSTRAINT whole_row CHECK (row_to_json(messages)::text <> '');
ALTER TABLE session_store.sessions
    ADD CONSTRAINT whole_head CHECK (row_to_json(sessions)::text <> '');
SELECT version FROM session_store.create_session('tc', 'u', NULL, 'wr');
SELECT last_seq FROM session_store.append_messages('tc', 'u', 'wr', '[{"w": 1}]');
SELECT last_seq FROM session_store.append_messages('tc', 'u', 'wr', '[{"w": 2}]');
SELECT last_seq FROM session_store.append_messages('tc', 'u', 'wr', '[{"w": 3}, {"w": 4}]');
SELECT seq FROM session_store.pop_message('tc', 'u', 'wr');
SELECT last_seq FROM session_store.append_messages('tc', 'u', 'wr', '[{"w": 5}]', '{"k": 4}');
SELECT version, last_seq FROM session_store.append_messages('tc', 'u', 'wr', '[{"w": 6}, {"w": 7}]');
SELECT count(*), max(seq) FROM session_store.get_messages('tc', 'u', 'wr');
ALTER TABLE session_store.messages DROP CONSTRAINT whole_row;
ALTER TABLE session_store.sessions DROP CONSTRAINT whole_head;
SELECT session_store.delete_session('tc', 'u', 'wr');

-- expression and partial indexes are kept up to date
CREATE INDEX messages_role_idx ON session_store.messages ((message->>'role'));
CREATE INDEX messages_tool_idx ON session_store.messages (seq) WHERE message ? 'tool';
CREATE INDEX sessions_state_idx ON session_store.sessions ((state->>'k'));
SELECT last_seq FROM session_store.append_messages('tc', 'u', 's',
    '[{"role": "tool", "tool": "x"}, {"role": "user"}, {"role": "tool", "tool": "y"}]', '{"k": 9}');
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT seq FROM session_store.messages WHERE message->>'role' = 'tool' ORDER BY seq;
SELECT seq FROM session_store.messages WHERE message ? 'tool' AND seq > 0 ORDER BY seq;
SELECT session_id FROM session_store.sessions WHERE state->>'k' = '9';
RESET enable_seqscan;
RESET enable_bitmapscan;
DROP INDEX session_store.messages_role_idx, session_store.messages_tool_idx,
    session_store.sessions_state_idx;
-- a unique index over a column an append changes is still checked
SELECT version FROM session_store.create_session('tc', 'u', NULL, 's2');
CREATE UNIQUE INDEX sessions_k_idx ON session_store.sessions ((state->>'k'))
    WHERE app_name = 'tc';
SELECT test.try($$SELECT session_store.append_messages('tc', 'u', 's2', '[{}]', '{"k": 9}')$$);
SELECT version FROM session_store.append_messages('tc', 'u', 's2', '[{}]', '{"k": 8}');
DROP INDEX session_store.sessions_k_idx;
CREATE UNIQUE INDEX sessions_uv_idx ON session_store.sessions (user_id, update_time)
    WHERE app_name = 'tc';
SELECT version FROM session_store.append_messages('tc', 'u', 's2', '[{}]');
DROP INDEX session_store.sessions_uv_idx;
SELECT session_store.delete_session('tc', 'u', 's2');

-- a user's table referencing sessions: appends work, and its foreign key
-- holds when the session is deleted
CREATE TABLE test.session_notes (
    app_name text COLLATE "C", user_id text COLLATE "C", session_id text COLLATE "C",
    note text,
    FOREIGN KEY (app_name, user_id, session_id)
        REFERENCES session_store.sessions (app_name, user_id, session_id));
INSERT INTO test.session_notes VALUES ('tc', 'u', 's', 'keep me');
SELECT last_seq FROM session_store.append_messages('tc', 'u', 's', '[{}]', '{"k": 10}');
SELECT test.try($$SELECT session_store.delete_session('tc', 'u', 's')$$);
DROP TABLE test.session_notes;

-- row triggers fire: AFTER ones when the call ends, BEFORE ones may change
-- a message but not the head's bookkeeping
CREATE TABLE test.seen (tg text, seq bigint, version bigint);
CREATE FUNCTION test.note_message() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'messages' THEN
        INSERT INTO test.seen VALUES (TG_WHEN || ' ' || TG_OP, NEW.seq, NULL);
    ELSE
        INSERT INTO test.seen VALUES (TG_WHEN || ' ' || TG_OP, NEW.last_seq, NEW.version);
    END IF;
    RETURN NEW;
END
$$;
CREATE FUNCTION test.stamp_message() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.message := NEW.message || '{"stamped": true}';
    RETURN NEW;
END
$$;
CREATE TRIGGER after_msg AFTER INSERT ON session_store.messages
    FOR EACH ROW EXECUTE FUNCTION test.note_message();
CREATE TRIGGER after_head AFTER UPDATE ON session_store.sessions
    FOR EACH ROW EXECUTE FUNCTION test.note_message();
SELECT last_seq FROM session_store.append_messages('tc', 'u', 's', '[{}, {}]');
CREATE TRIGGER before_msg BEFORE INSERT ON session_store.messages
    FOR EACH ROW EXECUTE FUNCTION test.stamp_message();
SELECT last_seq FROM session_store.append_messages('tc', 'u', 's', '[{"a": 1}, {"a": 2}]');
SELECT * FROM test.seen ORDER BY tg, seq;
SELECT seq, message FROM session_store.get_messages('tc', 'u', 's', 2);
DROP TRIGGER after_msg ON session_store.messages;
DROP TRIGGER before_msg ON session_store.messages;
DROP TRIGGER after_head ON session_store.sessions;
CREATE FUNCTION test.bump_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.version := NEW.version + 100;
    RETURN NEW;
END
$$;
CREATE TRIGGER bump BEFORE UPDATE ON session_store.sessions
    FOR EACH ROW EXECUTE FUNCTION test.bump_version();
SELECT test.try($$SELECT session_store.append_messages('tc', 'u', 's', '[{}]')$$);
DROP TRIGGER bump ON session_store.sessions;
CREATE FUNCTION test.skip_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RETURN NULL;
END
$$;
CREATE TRIGGER skip BEFORE UPDATE ON session_store.sessions
    FOR EACH ROW EXECUTE FUNCTION test.skip_row();
SELECT test.try($$SELECT session_store.append_messages('tc', 'u', 's', '[{}]')$$);
DROP TRIGGER skip ON session_store.sessions;
-- nor may a BEFORE INSERT trigger on messages drop a message or move it to
-- another sequence number: the call would report what it did not store
SELECT version AS v0, last_seq AS s0 FROM session_store.get_session('tc', 'u', 's') \gset
CREATE TRIGGER skip_msg BEFORE INSERT ON session_store.messages
    FOR EACH ROW EXECUTE FUNCTION test.skip_row();
SELECT test.try($$SELECT session_store.append_messages('tc', 'u', 's', '[{}]')$$);
SELECT test.try($$SELECT session_store.append_messages('tc', 'u', 's', '[{}, {}]')$$);
SELECT test.try($$SELECT session_store.replace_messages('tc', 'u', 's', '[]', '[{}]')$$);
DROP TRIGGER skip_msg ON session_store.messages;
CREATE FUNCTION test.renumber() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.seq := NEW.seq + 1000;
    RETURN NEW;
END
$$;
CREATE TRIGGER renumber BEFORE INSERT ON session_store.messages
    FOR EACH ROW EXECUTE FUNCTION test.renumber();
SELECT test.try($$SELECT session_store.append_messages('tc', 'u', 's', '[{}]')$$);
SELECT test.try($$SELECT session_store.append_messages('tc', 'u', 's', '[{}, {}]')$$);
DROP TRIGGER renumber ON session_store.messages;
SELECT version = :v0 AS version_kept, last_seq = :s0 AS last_seq_kept,
       (SELECT max(seq) FROM session_store.get_messages('tc', 'u', 's')) <= :s0 AS log_kept
FROM session_store.get_session('tc', 'u', 's');
DROP TABLE test.seen;
SELECT version, last_seq FROM session_store.get_session('tc', 'u', 's');

-- replica identity: a table that publishes updates but cannot identify
-- its rows refuses them, as an UPDATE does
SET client_min_messages = error;
CREATE PUBLICATION ss_pub FOR TABLE session_store.sessions;
ALTER TABLE session_store.sessions REPLICA IDENTITY NOTHING;
SELECT test.try($$SELECT session_store.append_messages('tc', 'u', 's', '[{}]')$$);
ALTER TABLE session_store.sessions REPLICA IDENTITY DEFAULT;
ALTER PUBLICATION ss_pub SET TABLE session_store.sessions WHERE (version > 0);
SELECT test.try($$SELECT session_store.append_messages('tc', 'u', 's', '[{}]')$$);
DROP PUBLICATION ss_pub;
RESET client_min_messages;
SELECT version, last_seq FROM session_store.get_session('tc', 'u', 's');

-- rules would be applied by SQL but not by this path: refused
CREATE RULE no_insert AS ON INSERT TO session_store.messages DO INSTEAD NOTHING;
SELECT test.try($$SELECT session_store.append_messages('tc', 'u', 's', '[{}]')$$);
DROP RULE no_insert ON session_store.messages;

SELECT version, last_seq FROM session_store.get_session('tc', 'u', 's');
SELECT count(*), min(seq), max(seq) FROM session_store.get_messages('tc', 'u', 's');
SELECT session_store.delete_session('tc', 'u', 's');
