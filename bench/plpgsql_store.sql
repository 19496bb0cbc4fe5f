-- What a careful user writes instead of session_store: the same tables and
-- the same semantics (per-session advisory lock, gap-free sequence numbers,
-- version, expected_version, idempotency keys, app:/user:/temp: routing
-- with atomic upserts), in PL/pgSQL.  Used by the benchmark only.

CREATE SCHEMA plpgsql_store;

CREATE TABLE plpgsql_store.sessions (
    app_name text COLLATE "C" NOT NULL, user_id text COLLATE "C" NOT NULL,
    session_id text COLLATE "C" NOT NULL, sid bigserial NOT NULL,
    state jsonb NOT NULL, version bigint NOT NULL, last_seq bigint NOT NULL,
    create_time timestamptz NOT NULL, update_time timestamptz NOT NULL,
    PRIMARY KEY (app_name, user_id, session_id));
CREATE INDEX ON plpgsql_store.sessions (app_name, update_time DESC, user_id, session_id);
CREATE INDEX ON plpgsql_store.sessions (app_name, user_id, update_time DESC, session_id);
CREATE TABLE plpgsql_store.messages (
    user_id text COLLATE "C" NOT NULL, sid bigint NOT NULL, seq bigint NOT NULL,
    message jsonb NOT NULL, create_time timestamptz NOT NULL,
    PRIMARY KEY (user_id, sid, seq));
CREATE TABLE plpgsql_store.idempotency_keys (
    user_id text COLLATE "C" NOT NULL, sid bigint NOT NULL,
    idempotency_key text COLLATE "C" NOT NULL, first_seq bigint, last_seq bigint,
    version bigint NOT NULL, update_time timestamptz NOT NULL,
    PRIMARY KEY (user_id, sid, idempotency_key));
CREATE TABLE plpgsql_store.user_states (
    app_name text COLLATE "C" NOT NULL, user_id text COLLATE "C" NOT NULL,
    state jsonb NOT NULL, PRIMARY KEY (app_name, user_id));
CREATE TABLE plpgsql_store.app_states (
    app_name text COLLATE "C" NOT NULL, state jsonb NOT NULL, PRIMARY KEY (app_name));

-- split a delta by scope: (scope, keys to set, keys to remove)
CREATE FUNCTION plpgsql_store.route(delta jsonb,
    OUT s_set jsonb, OUT s_rm text[], OUT u_set jsonb, OUT u_rm text[],
    OUT a_set jsonb, OUT a_rm text[])
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    k text;
    v jsonb;
BEGIN
    IF delta IS NULL THEN
        RETURN;
    END IF;
    FOR k, v IN SELECT * FROM jsonb_each(delta) LOOP
        IF k LIKE 'app:%' THEN
            IF jsonb_typeof(v) = 'null' THEN a_rm := array_append(coalesce(a_rm, '{}'), substr(k, 5));
            ELSE a_set := coalesce(a_set, '{}') || jsonb_build_object(substr(k, 5), v); END IF;
        ELSIF k LIKE 'user:%' THEN
            IF jsonb_typeof(v) = 'null' THEN u_rm := array_append(coalesce(u_rm, '{}'), substr(k, 6));
            ELSE u_set := coalesce(u_set, '{}') || jsonb_build_object(substr(k, 6), v); END IF;
        ELSIF k LIKE 'temp:%' THEN
            CONTINUE;
        ELSE
            IF jsonb_typeof(v) = 'null' THEN s_rm := array_append(coalesce(s_rm, '{}'), k);
            ELSE s_set := coalesce(s_set, '{}') || jsonb_build_object(k, v); END IF;
        END IF;
    END LOOP;
END
$$;

CREATE FUNCTION plpgsql_store.create_session(p_app text, p_user text,
    p_state jsonb DEFAULT NULL, p_session text DEFAULT NULL)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    p_session := coalesce(p_session, gen_random_uuid()::text);
    PERFORM pg_advisory_xact_lock(hashtextextended(p_app || chr(1) || p_user || chr(1) || p_session, 0));
    r := plpgsql_store.route(p_state);
    INSERT INTO plpgsql_store.sessions (app_name, user_id, session_id, state, version, last_seq, create_time, update_time)
    VALUES (p_app, p_user, p_session, coalesce(r.s_set, '{}'), 0, 0, clock_timestamp(), clock_timestamp());
    IF r.u_set IS NOT NULL OR r.u_rm IS NOT NULL THEN
        INSERT INTO plpgsql_store.user_states AS t VALUES (p_app, p_user, coalesce(r.u_set, '{}'))
        ON CONFLICT (app_name, user_id) DO UPDATE
        SET state = (t.state - coalesce(r.u_rm, '{}')) || coalesce(r.u_set, '{}');
    END IF;
    IF r.a_set IS NOT NULL OR r.a_rm IS NOT NULL THEN
        INSERT INTO plpgsql_store.app_states AS t VALUES (p_app, coalesce(r.a_set, '{}'))
        ON CONFLICT (app_name) DO UPDATE
        SET state = (t.state - coalesce(r.a_rm, '{}')) || coalesce(r.a_set, '{}');
    END IF;
    RETURN p_session;
END
$$;

CREATE FUNCTION plpgsql_store.append_messages(p_app text, p_user text, p_session text,
    p_messages jsonb, p_delta jsonb DEFAULT NULL, p_expected bigint DEFAULT NULL,
    p_key text DEFAULT NULL,
    OUT first_seq bigint, OUT last_seq bigint, OUT version bigint,
    OUT update_time timestamptz, OUT replayed boolean)
LANGUAGE plpgsql AS $$
DECLARE
    h record;
    r record;
    n int;
    now_ts timestamptz;
BEGIN
    IF jsonb_typeof(p_messages) <> 'array' THEN
        RAISE EXCEPTION 'messages must be an array' USING ERRCODE = '22023';
    END IF;
    n := jsonb_array_length(p_messages);
    PERFORM pg_advisory_xact_lock(hashtextextended(p_app || chr(1) || p_user || chr(1) || p_session, 0));
    SELECT s.sid, s.version, s.last_seq, s.update_time INTO h
    FROM plpgsql_store.sessions s
    WHERE s.app_name = p_app AND s.user_id = p_user AND s.session_id = p_session;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'session "%" does not exist', p_session USING ERRCODE = '42704';
    END IF;
    IF p_key IS NOT NULL THEN
        SELECT k.first_seq, k.last_seq, k.version, k.update_time, true
        INTO first_seq, last_seq, version, update_time, replayed
        FROM plpgsql_store.idempotency_keys k
        WHERE k.user_id = p_user AND k.sid = h.sid AND k.idempotency_key = p_key;
        IF FOUND THEN
            RETURN;
        END IF;
    END IF;
    IF p_expected IS NOT NULL AND p_expected <> h.version THEN
        RAISE EXCEPTION 'session "%" is at version %, not %', p_session, h.version, p_expected
            USING ERRCODE = '40001';
    END IF;
    r := plpgsql_store.route(p_delta);
    now_ts := greatest(clock_timestamp(), h.update_time);
    UPDATE plpgsql_store.sessions s
    SET version = h.version + 1, last_seq = h.last_seq + n, update_time = now_ts,
        state = CASE WHEN r.s_set IS NULL AND r.s_rm IS NULL THEN s.state
                     ELSE (s.state - coalesce(r.s_rm, '{}')) || coalesce(r.s_set, '{}') END
    WHERE s.app_name = p_app AND s.user_id = p_user AND s.session_id = p_session;
    IF n > 0 THEN
        INSERT INTO plpgsql_store.messages
        SELECT p_user, h.sid, h.last_seq + e.ord, e.m, now_ts
        FROM jsonb_array_elements(p_messages) WITH ORDINALITY e(m, ord);
        first_seq := h.last_seq + 1;
        last_seq := h.last_seq + n;
    END IF;
    IF r.u_set IS NOT NULL OR r.u_rm IS NOT NULL THEN
        INSERT INTO plpgsql_store.user_states AS t VALUES (p_app, p_user, coalesce(r.u_set, '{}'))
        ON CONFLICT (app_name, user_id) DO UPDATE
        SET state = (t.state - coalesce(r.u_rm, '{}')) || coalesce(r.u_set, '{}');
    END IF;
    IF r.a_set IS NOT NULL OR r.a_rm IS NOT NULL THEN
        INSERT INTO plpgsql_store.app_states AS t VALUES (p_app, coalesce(r.a_set, '{}'))
        ON CONFLICT (app_name) DO UPDATE
        SET state = (t.state - coalesce(r.a_rm, '{}')) || coalesce(r.a_set, '{}');
    END IF;
    version := h.version + 1;
    update_time := now_ts;
    replayed := false;
    IF p_key IS NOT NULL THEN
        INSERT INTO plpgsql_store.idempotency_keys
        VALUES (p_user, h.sid, p_key, first_seq, last_seq, version, update_time);
    END IF;
END
$$;

CREATE FUNCTION plpgsql_store.get_messages(p_app text, p_user text, p_session text,
    p_max int DEFAULT NULL)
RETURNS TABLE (seq bigint, message jsonb, create_time timestamptz)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_sid bigint;
BEGIN
    SELECT s.sid INTO v_sid FROM plpgsql_store.sessions s
    WHERE s.app_name = p_app AND s.user_id = p_user AND s.session_id = p_session;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'session "%" does not exist', p_session USING ERRCODE = '42704';
    END IF;
    RETURN QUERY SELECT * FROM (
        SELECT m.seq, m.message, m.create_time FROM plpgsql_store.messages m
        WHERE m.user_id = p_user AND m.sid = v_sid ORDER BY m.seq DESC LIMIT p_max) x
    ORDER BY 1;
END
$$;
