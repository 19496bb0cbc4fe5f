-- Benchmark fixtures: the floors and the patterns from the field.
-- Loaded by bench/bench.py into a throwaway cluster.

CREATE EXTENSION session_store;
CREATE SCHEMA bench;

-- Floor: the same message row as session_store.messages, in an indexed
-- table of the same shape, inserted with no lock and no sequence logic.
CREATE TABLE bench.floor_messages (
    user_id text COLLATE "C" NOT NULL, sid bigint NOT NULL, seq bigint NOT NULL,
    message jsonb NOT NULL, create_time timestamptz NOT NULL,
    PRIMARY KEY (user_id, sid, seq));

-- Hot-session floor: one counter row updated and one message row inserted
-- per transaction.  Any design whose sequence numbers are gap-free in commit
-- order holds a per-session lock through its commit, so this bounds it.
CREATE TABLE bench.hot_counter (id int PRIMARY KEY, n bigint NOT NULL);
INSERT INTO bench.hot_counter VALUES (1, 0);

-- Counters for the field patterns' failures: sequences, because they count
-- even in transactions that roll back and cost next to nothing.
CREATE SEQUENCE bench.retries;
CREATE SEQUENCE bench.errors;

-- The patterns from the field, as agent frameworks write them in their
-- client language.  A unique violation is detected with ON CONFLICT DO
-- NOTHING rather than raised, so the benchmark client can count it and
-- retry (pgbench cannot catch errors); each one counted is an error the
-- real client sees.
CREATE SCHEMA naive;
CREATE TABLE naive.app_states (app_name text PRIMARY KEY, state jsonb NOT NULL);
CREATE TABLE naive.user_states (app_name text, user_id text, state jsonb NOT NULL,
                                PRIMARY KEY (app_name, user_id));
CREATE TABLE naive.sessions (app_name text, user_id text, session_id text,
                             state jsonb NOT NULL, PRIMARY KEY (app_name, user_id, session_id));
CREATE TABLE naive.messages (session_key text, seq bigint, message jsonb NOT NULL,
                             create_time timestamptz NOT NULL, PRIMARY KEY (session_key, seq));

-- max(seq)+1 read by the client, then INSERT: 1 if stored, 0 if another
-- writer took that number (the unique violation the client would get).
CREATE FUNCTION bench.naive_insert(p_key text, p_seq bigint, p_msg jsonb)
RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO naive.messages VALUES (p_key, p_seq, p_msg, now())
    ON CONFLICT DO NOTHING;
    IF FOUND THEN
        RETURN 1;
    END IF;
    PERFORM nextval('bench.retries');
    RETURN 0;
END
$$;

-- SELECT-then-INSERT on the app's and the user's state rows, then the
-- session: 1 if created, 0 if a state row appeared between the SELECT and
-- the INSERT (the unique violation parallel sub-agents hit).
CREATE FUNCTION bench.naive_create(p_app text, p_user text)
RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM naive.app_states WHERE app_name = p_app) THEN
        INSERT INTO naive.app_states VALUES (p_app, '{"k": 1}') ON CONFLICT DO NOTHING;
        IF NOT FOUND THEN
            PERFORM nextval('bench.retries');
            RETURN 0;
        END IF;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM naive.user_states WHERE app_name = p_app AND user_id = p_user) THEN
        INSERT INTO naive.user_states VALUES (p_app, p_user, '{"k": 1}') ON CONFLICT DO NOTHING;
        IF NOT FOUND THEN
            PERFORM nextval('bench.retries');
            RETURN 0;
        END IF;
    END IF;
    INSERT INTO naive.sessions VALUES (p_app, p_user, gen_random_uuid()::text, '{}');
    RETURN 1;
END
$$;

-- The apps of a create storm: a new one every 100 ms, so the clients keep
-- starting sessions together on apps and users never seen before.
CREATE FUNCTION bench.storm_app() RETURNS text LANGUAGE sql VOLATILE AS $$
    SELECT 'storm-' || (extract(epoch FROM clock_timestamp()) * 10)::bigint
$$;
