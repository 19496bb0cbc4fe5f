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
