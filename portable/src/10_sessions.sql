/*
 * Sessions as a whole: create_session, get_session, delete_session,
 * fork_session; list_sessions, count_sessions; expire_sessions; and
 * distribute / delegate_functions, which the portable edition has only to
 * refuse (it does not run distributed).
 *
 * create_session and delete_session take the session lock before they
 * look at the session; under READ COMMITTED every statement after the
 * lock wait takes a new snapshot, so a session committed by a concurrent
 * creator is found: one explicit id created concurrently has exactly one
 * winner, every other caller gets 23505.  Under REPEATABLE READ or
 * SERIALIZABLE the snapshot is the transaction's: there the INSERT of the
 * session (whose unique check sees every committed row) finds the id
 * taken, and the checks of the C edition that look on a snapshot taken
 * now are made from its outcome (see _create_conflict).
 *
 * Readers take no lock: one query, on the caller's snapshot, returns the
 * session with its user's and its app's state.
 */

/* 23505 for a session that exists. */
CREATE FUNCTION session_store._exists(app_name text, user_id text, session_id text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'unique_violation',
        MESSAGE = format('session "%s" already exists', session_id),
        DETAIL = format('App "%s", user "%s".', app_name, user_id);
END
$$;

/* 40001: the transaction's snapshot sees the session, which was deleted since. */
CREATE FUNCTION session_store._concurrent_delete(app_name text, user_id text, session_id text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'serialization_failure',
        MESSAGE = 'could not serialize access due to concurrent delete',
        DETAIL = format('Session "%s" of app "%s", user "%s" was deleted after this transaction''s snapshot was taken.',
                        session_id, app_name, user_id),
        HINT = 'Retry the transaction.';
END
$$;

/* 40001: a keyed create whose session was created after the snapshot. */
CREATE FUNCTION session_store._concurrent_create(app_name text, user_id text, session_id text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'serialization_failure',
        MESSAGE = 'could not serialize access due to concurrent create',
        DETAIL = format('Session "%s" of app "%s", user "%s" was created after this transaction''s snapshot was taken.',
                        session_id, app_name, user_id),
        HINT = 'Retry the transaction.';
END
$$;

/*
 * The kind of call that stored a key (operation NULL: an append's); 42710
 * when it is not kind; XX001 for an operation the edition does not know.
 */
CREATE FUNCTION session_store._created_key_kind(operation text, kind text,
    app_name text, user_id text, session_id text, idempotency_key text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    used text := coalesce(operation, 'append_messages or replace_messages');
BEGIN
    IF used = kind THEN
        RETURN;
    END IF;
    IF operation IS NOT NULL AND operation NOT IN
        ('create_session', 'fork_session', 'pop_message', 'rewind_session', 'clear_session') THEN
        RAISE EXCEPTION USING ERRCODE = 'data_corrupted',
            MESSAGE = format('session_store.idempotency_keys holds an unknown operation "%s"', operation);
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'duplicate_object',
        MESSAGE = format('idempotency key "%s" was already used by %s', idempotency_key, used),
        DETAIL = format('Session "%s" of app "%s", user "%s"; this call is %s.',
                        session_id, app_name, user_id, kind),
        HINT = 'Use a new idempotency key for a different request.';
END
$$;

/*
 * The merged state inline (as session_store._merged computes it): a
 * PL/pgSQL function's plans are cached, a SQL function's are made again
 * at every call.
 */
/* The session as get_session returns it, on the statement's snapshot (NULL when absent). */
CREATE FUNCTION session_store._read_session(p_app text, p_user text, p_session text)
RETURNS session_store.session
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r session_store.session;
BEGIN
    SELECT s.app_name, s.user_id, s.session_id,
           session_store._merged_state(s.state, u.state, a.state),
           s.version, s.last_seq, s.create_time, s.update_time
    INTO r
    FROM session_store.sessions s
    LEFT JOIN session_store.user_states u
      ON u.app_name = s.app_name AND u.user_id = s.user_id
    LEFT JOIN session_store.app_states a
      ON a.app_name = s.app_name
    WHERE s.app_name = p_app COLLATE "C"
      AND s.user_id = p_user COLLATE "C"
      AND s.session_id = p_session COLLATE "C";
    RETURN r;
END
$$;

/*
 * A keyed create or fork (kind 'create_session' or 'fork_session') of a
 * session that the statement's snapshot shows: its replay (the session as
 * it is) when it holds the key, 42710 when another kind of call stored the
 * key, NULL when the session is absent or does not hold the key (then
 * *exists says whether it is there).  Called under the session lock:
 * under READ COMMITTED the snapshot is taken after the lock was granted.
 */
CREATE FUNCTION session_store._replay_create(p_app text, p_user text, p_session text,
    p_key text, kind text, OUT replay session_store.session, OUT session_exists boolean)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    has_key boolean;
    op text;
BEGIN
    SELECT k.idempotency_key IS NOT NULL, k.operation INTO has_key, op
    FROM session_store.sessions s
    LEFT JOIN session_store.idempotency_keys k
      ON k.user_id OPERATOR(pg_catalog.=) s.user_id
     AND k.sid OPERATOR(pg_catalog.=) s.sid
     AND k.idempotency_key OPERATOR(pg_catalog.=) p_key COLLATE "C"
    WHERE s.app_name OPERATOR(pg_catalog.=) p_app COLLATE "C"
      AND s.user_id OPERATOR(pg_catalog.=) p_user COLLATE "C"
      AND s.session_id OPERATOR(pg_catalog.=) p_session COLLATE "C";
    session_exists := FOUND;
    IF NOT FOUND OR NOT has_key THEN
        RETURN;
    END IF;
    PERFORM session_store._created_key_kind(op, kind, p_app, p_user, p_session, p_key);
    replay := session_store._read_session(p_app, p_user, p_session);
END
$$;

/*
 * Under REPEATABLE READ or SERIALIZABLE, insert session (p_app, p_user,
 * p_session) with sid from the sequence: the unique check of the INSERT
 * sees every committed session, which the transaction's snapshot may not.
 * visible: the snapshot shows a session of that name; keyed: the call has
 * an idempotency key.  As the C edition answers on a snapshot taken now:
 *   the id is taken, the snapshot shows none: 23505, or 40001 (concurrent
 *     create) for a keyed call, whose retry finds out whether the key is
 *     the new session's;
 *   the id is taken, the snapshot shows a session: 23505 (for a keyed call,
 *     40001 first if the session the snapshot shows was deleted since);
 *   the id is free, the snapshot shows a session: 40001 (concurrent
 *     delete).
 * Returns the new sid.
 */
CREATE FUNCTION session_store._insert_session_rr(p_app text, p_user text, p_session text,
    p_src_session text, p_state jsonb, p_last_seq bigint, p_now timestamptz,
    visible boolean, keyed boolean)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    new_sid bigint;
    sid_type regtype;
BEGIN
    BEGIN
        IF p_src_session IS NULL THEN
            INSERT INTO session_store.sessions AS t
                (app_name, user_id, session_id, sid, state, version, last_seq, create_time, update_time)
            VALUES (p_app, p_user, p_session, nextval('session_store.session_sid_seq'::regclass),
                    p_state, 0, 0, p_now, p_now)
            RETURNING t.sid, pg_typeof(t.sid) INTO new_sid, sid_type;
        ELSE
            INSERT INTO session_store.sessions AS t
                (app_name, user_id, session_id, sid, state, version, last_seq, create_time, update_time)
            SELECT s.app_name, s.user_id, p_session, nextval('session_store.session_sid_seq'::regclass),
                   s.state, 0, p_last_seq, p_now, p_now
            FROM session_store.sessions s
            WHERE s.app_name OPERATOR(pg_catalog.=) p_app COLLATE "C"
              AND s.user_id OPERATOR(pg_catalog.=) p_user COLLATE "C"
              AND s.session_id OPERATOR(pg_catalog.=) p_src_session COLLATE "C"
            RETURNING t.sid, pg_typeof(t.sid) INTO new_sid, sid_type;
        END IF;
    EXCEPTION WHEN unique_violation THEN
        IF visible THEN
            IF keyed THEN
                /*
                 * 40001 (concurrent delete) if the row the snapshot shows
                 * was deleted since, the id taken again (possibly with this
                 * call's key: a retry finds out).  A row only updated
                 * since cannot be told apart from it here: 40001 too.
                 */
                BEGIN
                    PERFORM 1 FROM session_store.sessions s
                    WHERE s.app_name OPERATOR(pg_catalog.=) p_app COLLATE "C"
                      AND s.user_id OPERATOR(pg_catalog.=) p_user COLLATE "C"
                      AND s.session_id OPERATOR(pg_catalog.=) p_session COLLATE "C"
                    FOR KEY SHARE;
                EXCEPTION WHEN serialization_failure THEN
                    PERFORM session_store._concurrent_delete(p_app, p_user, p_session);
                END;
            END IF;
        ELSIF keyed THEN
            PERFORM session_store._concurrent_create(p_app, p_user, p_session);
        END IF;
        PERFORM session_store._exists(p_app, p_user, p_session);
    END;
    IF new_sid IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'triggered_action_exception',
            MESSAGE = 'a trigger on session_store.sessions skipped the insert of a session',
            DETAIL = 'Triggers on session_store.sessions must not cancel the extension''s inserts.';
    END IF;
    IF sid_type <> 'bigint'::regtype THEN
        PERFORM session_store._column_type('sessions', 'sid');
    END IF;
    IF visible THEN
        PERFORM session_store._concurrent_delete(p_app, p_user, p_session);
    END IF;
    RETURN new_sid;
END
$$;

/* The user and app parts of a routed delta: one upsert each, user's row first. */
CREATE FUNCTION session_store._apply_shared(p_app text, p_user text,
    u_touch boolean, u_set jsonb, u_rm text[], a_touch boolean, a_set jsonb, a_rm text[])
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF u_touch THEN
        INSERT INTO session_store.user_states AS t (app_name, user_id, state)
        VALUES (p_app, p_user, u_set)
        ON CONFLICT ON CONSTRAINT user_states_pkey DO UPDATE
        SET state = CASE WHEN pg_catalog.jsonb_typeof(t.state) OPERATOR(pg_catalog.=) 'object'
                         THEN (t.state OPERATOR(pg_catalog.-) u_rm) OPERATOR(pg_catalog.||) u_set
                         ELSE session_store._state_not_object('user_states') END;
    END IF;
    IF a_touch THEN
        INSERT INTO session_store.app_states AS t (app_name, state)
        VALUES (p_app, a_set)
        ON CONFLICT ON CONSTRAINT app_states_pkey DO UPDATE
        SET state = CASE WHEN pg_catalog.jsonb_typeof(t.state) OPERATOR(pg_catalog.=) 'object'
                         THEN (t.state OPERATOR(pg_catalog.-) a_rm) OPERATOR(pg_catalog.||) a_set
                         ELSE session_store._state_not_object('app_states') END;
    END IF;
END
$$;

/* Record the key of a create or a fork on the session it made. */
CREATE FUNCTION session_store._store_create_key(p_user text, p_sid bigint, p_key text,
    kind text, p_now timestamptz)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    INSERT INTO session_store.idempotency_keys
        (user_id, sid, idempotency_key, version, update_time, operation)
    VALUES (p_user, p_sid, p_key, 0, p_now, kind);
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'triggered_action_exception',
            MESSAGE = 'a trigger on session_store.idempotency_keys skipped the insert of an idempotency key',
            DETAIL = 'Triggers on session_store.idempotency_keys must not cancel the extension''s inserts.';
    END IF;
END
$$;

/*
 * create_session: a new session, version 0, last_seq 0; state is routed
 * like a state delta (app:, user:, temp: keys; a JSON null removes a key
 * unless keep_nulls).  With an idempotency key, a session that exists and
 * holds the key, recorded by create_session, is returned as it is now and
 * nothing is written.
 */
CREATE FUNCTION session_store.create_session(
    app_name text, user_id text,
    state jsonb DEFAULT NULL, session_id text DEFAULT NULL,
    keep_nulls boolean DEFAULT false,
    idempotency_key text DEFAULT NULL)
RETURNS session_store.session
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    r record;
    rp record;
    v_sid bigint;
    sid_type regtype;
    v_now timestamptz;
    rr boolean;
    visible boolean := false;
BEGIN
    PERFORM session_store._check_required_id(app_name, 'app_name');
    PERFORM session_store._check_required_id(user_id, 'user_id');
    PERFORM session_store._check_object(state, 'state');
    IF session_id IS NULL THEN
        session_id := gen_random_uuid()::text;
    ELSE
        PERFORM session_store._check_id(session_id, 'session_id');
    END IF;
    IF keep_nulls IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
            MESSAGE = 'argument "keep_nulls" must not be null';
    END IF;
    r := session_store._route(state, keep_nulls);
    PERFORM session_store._check_id(idempotency_key, 'idempotency_key');

    PERFORM pg_advisory_xact_lock(21331, session_store._lock_key(app_name, user_id, session_id));
    rr := current_setting('transaction_isolation') IN ('repeatable read', 'serializable');
    IF idempotency_key IS NOT NULL THEN
        rp := session_store._replay_create(app_name, user_id, session_id, idempotency_key, 'create_session');
        IF rp.replay IS NOT NULL THEN
            RETURN rp.replay;
        END IF;
        visible := rp.session_exists;
    ELSE
        visible := EXISTS (SELECT 1 FROM session_store.sessions s
                           WHERE s.app_name = app_name COLLATE "C"
                             AND s.user_id = user_id COLLATE "C"
                             AND s.session_id = session_id COLLATE "C");
    END IF;

    v_now := clock_timestamp();
    IF rr THEN
        v_sid := session_store._insert_session_rr(app_name, user_id, session_id, NULL,
            CASE WHEN r.s_touch THEN r.s_set ELSE '{}'::jsonb END, 0, v_now,
            visible, idempotency_key IS NOT NULL);
    ELSE
        IF visible THEN
            PERFORM session_store._exists(app_name, user_id, session_id);
        END IF;
        INSERT INTO session_store.sessions AS t
            (app_name, user_id, session_id, sid, state, version, last_seq, create_time, update_time)
        VALUES (app_name, user_id, session_id, nextval('session_store.session_sid_seq'::regclass),
                CASE WHEN r.s_touch THEN r.s_set ELSE '{}'::jsonb END, 0, 0, v_now, v_now)
        RETURNING t.sid, pg_typeof(t.sid) INTO v_sid, sid_type;
        IF v_sid IS NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'triggered_action_exception',
                MESSAGE = 'a trigger on session_store.sessions skipped the insert of a session',
                DETAIL = 'Triggers on session_store.sessions must not cancel the extension''s inserts.';
        END IF;
        IF sid_type <> 'bigint'::regtype THEN
            PERFORM session_store._column_type('sessions', 'sid');
        END IF;
    END IF;
    IF r.u_touch OR r.a_touch THEN
        PERFORM session_store._apply_shared(app_name, user_id,
            r.u_touch, r.u_set, r.u_rm, r.a_touch, r.a_set, r.a_rm);
    END IF;
    IF idempotency_key IS NOT NULL THEN
        PERFORM session_store._store_create_key(user_id, v_sid, idempotency_key, 'create_session', v_now);
    END IF;
    RETURN session_store._read_session(app_name, user_id, session_id);
END
$$;

/*
 * The merged state a session shows: its own keys, plus the app's and the
 * user's keys with their prefixes put back (the two never collide).  Each
 * state read back is checked first, in the C edition's order (session,
 * user, app): the extension stores only objects, so anything else was
 * written around it and is XX001, never shown as keys or as an array.
 */
CREATE FUNCTION session_store._merged_state(
    session_state jsonb, user_state jsonb, app_state jsonb)
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t text;
BEGIN
    t := CASE WHEN jsonb_typeof(session_state) <> 'object' THEN 'sessions'
              WHEN jsonb_typeof(user_state) <> 'object' THEN 'user_states'
              WHEN jsonb_typeof(app_state) <> 'object' THEN 'app_states' END;
    IF t IS NOT NULL THEN
        PERFORM session_store._state_not_object(t);
    END IF;
    RETURN session_state
           || coalesce((SELECT jsonb_object_agg('app:' || e.key, e.value) FROM jsonb_each(app_state) e), '{}'::jsonb)
           || coalesce((SELECT jsonb_object_agg('user:' || e.key, e.value) FROM jsonb_each(user_state) e), '{}'::jsonb);
END
$$;

/* get_session: the session with its merged state, one row or none. */
CREATE FUNCTION session_store.get_session(
    app_name text, user_id text, session_id text)
RETURNS SETOF session_store.session
LANGUAGE plpgsql STABLE SECURITY DEFINER ROWS 1
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
BEGIN
    PERFORM session_store._check_key(app_name, user_id, session_id);
    RETURN QUERY
    SELECT s.app_name::text, s.user_id::text, s.session_id::text,
           session_store._merged_state(s.state, u.state, a.state),
           s.version, s.last_seq, s.create_time, s.update_time
    FROM session_store.sessions s
    LEFT JOIN session_store.user_states u
      ON u.app_name = s.app_name AND u.user_id = s.user_id
    LEFT JOIN session_store.app_states a
      ON a.app_name = s.app_name
    WHERE s.app_name = app_name COLLATE "C"
      AND s.user_id = user_id COLLATE "C"
      AND s.session_id = session_id COLLATE "C";
END
$$;

/* delete_session: true if it existed; its messages and keys go with it. */
CREATE FUNCTION session_store.delete_session(
    app_name text, user_id text, session_id text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    v_sid bigint;
BEGIN
    PERFORM session_store._check_key(app_name, user_id, session_id);
    PERFORM pg_advisory_xact_lock(21331, session_store._lock_key(app_name, user_id, session_id));
    DELETE FROM session_store.sessions s
    WHERE s.app_name = app_name COLLATE "C"
      AND s.user_id = user_id COLLATE "C"
      AND s.session_id = session_id COLLATE "C"
    RETURNING s.sid INTO v_sid;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    DELETE FROM session_store.messages m
    WHERE m.user_id = user_id COLLATE "C" AND m.sid = v_sid;
    DELETE FROM session_store.idempotency_keys k
    WHERE k.user_id = user_id COLLATE "C" AND k.sid = v_sid;
    RETURN true;
END
$$;

/*
 * fork_session: a new session of the same app and user with the source's
 * session state and its messages up to up_to_seq (all when NULL), keeping
 * their seq and create_time; last_seq min(up_to_seq, source's last_seq).
 * Both sessions are locked, in ascending lock key order.  A fork whose new
 * session exists and holds its key returns it before the source is looked
 * at.
 */
CREATE FUNCTION session_store.fork_session(
    app_name text, user_id text, session_id text,
    new_session_id text DEFAULT NULL, up_to_seq bigint DEFAULT NULL,
    idempotency_key text DEFAULT NULL)
RETURNS session_store.session
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    k1 integer;
    k2 integer;
    rp record;
    src_sid bigint;
    src_last bigint;
    v_last bigint;
    v_sid bigint;
    sid_type regtype;
    v_now timestamptz;
    visible boolean;
BEGIN
    PERFORM session_store._check_key(app_name, user_id, session_id);
    IF new_session_id IS NULL THEN
        new_session_id := gen_random_uuid()::text;
    ELSE
        PERFORM session_store._check_id(new_session_id, 'new_session_id');
    END IF;
    PERFORM session_store._check_id(idempotency_key, 'idempotency_key');

    k1 := session_store._lock_key(app_name, user_id, session_id);
    k2 := session_store._lock_key(app_name, user_id, new_session_id);
    PERFORM pg_advisory_xact_lock(21331, least(k1, k2));
    IF k1 <> k2 THEN
        PERFORM pg_advisory_xact_lock(21331, greatest(k1, k2));
    END IF;

    IF idempotency_key IS NOT NULL THEN
        rp := session_store._replay_create(app_name, user_id, new_session_id, idempotency_key, 'fork_session');
        IF rp.replay IS NOT NULL THEN
            RETURN rp.replay;
        END IF;
    END IF;
    SELECT s.sid, s.last_seq INTO src_sid, src_last
    FROM session_store.sessions s
    WHERE s.app_name = app_name COLLATE "C"
      AND s.user_id = user_id COLLATE "C"
      AND s.session_id = session_id COLLATE "C";
    IF NOT FOUND THEN
        PERFORM session_store._not_found(app_name, user_id, session_id);
    END IF;
    IF idempotency_key IS NOT NULL THEN
        visible := rp.session_exists;
    ELSE
        visible := EXISTS (SELECT 1 FROM session_store.sessions s
                           WHERE s.app_name = app_name COLLATE "C"
                             AND s.user_id = user_id COLLATE "C"
                             AND s.session_id = new_session_id COLLATE "C");
    END IF;

    v_last := greatest(0, least(coalesce(up_to_seq, 9223372036854775807), src_last));
    v_now := clock_timestamp();
    IF current_setting('transaction_isolation') IN ('repeatable read', 'serializable') THEN
        v_sid := session_store._insert_session_rr(app_name, user_id, new_session_id, session_id,
            NULL, v_last, v_now, visible, idempotency_key IS NOT NULL);
    ELSE
        IF visible THEN
            PERFORM session_store._exists(app_name, user_id, new_session_id);
        END IF;
        INSERT INTO session_store.sessions AS t
            (app_name, user_id, session_id, sid, state, version, last_seq, create_time, update_time)
        SELECT s.app_name, s.user_id, new_session_id, nextval('session_store.session_sid_seq'::regclass),
               s.state, 0, v_last, v_now, v_now
        FROM session_store.sessions s
        WHERE s.app_name = app_name COLLATE "C"
          AND s.user_id = user_id COLLATE "C"
          AND s.session_id = session_id COLLATE "C"
        RETURNING t.sid, pg_typeof(t.sid) INTO v_sid, sid_type;
        IF v_sid IS NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'triggered_action_exception',
                MESSAGE = 'a trigger on session_store.sessions skipped the insert of a session',
                DETAIL = 'Triggers on session_store.sessions must not cancel the extension''s inserts.';
        END IF;
        IF sid_type <> 'bigint'::regtype THEN
            PERFORM session_store._column_type('sessions', 'sid');
        END IF;
    END IF;

    INSERT INTO session_store.messages (user_id, sid, seq, message, create_time)
    SELECT m.user_id, v_sid, m.seq, m.message, m.create_time
    FROM session_store.messages m
    WHERE m.user_id = user_id COLLATE "C" AND m.sid = src_sid AND m.seq <= v_last;
    IF idempotency_key IS NOT NULL THEN
        PERFORM session_store._store_create_key(user_id, v_sid, idempotency_key, 'fork_session', v_now);
    END IF;
    RETURN session_store._read_session(app_name, user_id, new_session_id);
END
$$;

/*
 * Page tokens, the C edition's format (listing.c): base64url without
 * padding of a format byte (1 descending, 2 ascending), update_time
 * (microseconds since 2000-01-01, int64 big-endian), user_id and
 * session_id (a length byte and the bytes each), and a 32-bit check: the
 * low 32 bits of hash_combine64 of PostgreSQL's hash_bytes_extended of
 * that body, of app_name and of the user filter (seed 0x6c6973745f746f6b,
 * plus 1 for the user), so that a token of one edition continues a
 * listing in the other.
 *
 * _hash_bytes is hash_bytes_extended (src/common/hashfn.c, Bob Jenkins'
 * lookup3) in 32-bit arithmetic on bigint, as a little-endian server
 * computes it; for text, hashtextextended gives the same value.
 */
CREATE FUNCTION session_store._hash_bytes(k bytea, seed bigint)
RETURNS bigint
LANGUAGE plpgsql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m constant bigint := 4294967295;
    len integer := length(k);
    a bigint;
    b bigint;
    c bigint;
    i integer := 0;
    rem integer := len;
BEGIN
    a := (2654435769 + len + 3923095) & m;
    b := a;
    c := a;
    IF seed <> 0 THEN
        a := (a + ((seed >> 32) & m)) & m;
        b := (b + (seed & m)) & m;
        a := ((a - c) # (c << 4) # (c >> 28)) & m;  c := (c + b) & m;
        b := ((b - a) # (a << 6) # (a >> 26)) & m;  a := (a + c) & m;
        c := ((c - b) # (b << 8) # (b >> 24)) & m;  b := (b + a) & m;
        a := ((a - c) # (c << 16) # (c >> 16)) & m; c := (c + b) & m;
        b := ((b - a) # (a << 19) # (a >> 13)) & m; a := (a + c) & m;
        c := ((c - b) # (b << 4) # (b >> 28)) & m;  b := (b + a) & m;
    END IF;
    WHILE rem >= 12 LOOP
        a := (a + get_byte(k, i) + (get_byte(k, i + 1) << 8) + (get_byte(k, i + 2) << 16)
              + (get_byte(k, i + 3)::bigint << 24)) & m;
        b := (b + get_byte(k, i + 4) + (get_byte(k, i + 5) << 8) + (get_byte(k, i + 6) << 16)
              + (get_byte(k, i + 7)::bigint << 24)) & m;
        c := (c + get_byte(k, i + 8) + (get_byte(k, i + 9) << 8) + (get_byte(k, i + 10) << 16)
              + (get_byte(k, i + 11)::bigint << 24)) & m;
        a := ((a - c) # (c << 4) # (c >> 28)) & m;  c := (c + b) & m;
        b := ((b - a) # (a << 6) # (a >> 26)) & m;  a := (a + c) & m;
        c := ((c - b) # (b << 8) # (b >> 24)) & m;  b := (b + a) & m;
        a := ((a - c) # (c << 16) # (c >> 16)) & m; c := (c + b) & m;
        b := ((b - a) # (a << 19) # (a >> 13)) & m; a := (a + c) & m;
        c := ((c - b) # (b << 4) # (b >> 28)) & m;  b := (b + a) & m;
        i := i + 12;
        rem := rem - 12;
    END LOOP;
    /* the last 0..11 bytes; the lowest byte of c stays free, as in lookup3 */
    IF rem >= 11 THEN c := c + (get_byte(k, i + 10)::bigint << 24); END IF;
    IF rem >= 10 THEN c := c + (get_byte(k, i + 9) << 16); END IF;
    IF rem >= 9 THEN c := c + (get_byte(k, i + 8) << 8); END IF;
    IF rem >= 8 THEN b := b + (get_byte(k, i + 7)::bigint << 24); END IF;
    IF rem >= 7 THEN b := b + (get_byte(k, i + 6) << 16); END IF;
    IF rem >= 6 THEN b := b + (get_byte(k, i + 5) << 8); END IF;
    IF rem >= 5 THEN b := b + get_byte(k, i + 4); END IF;
    IF rem >= 4 THEN a := a + (get_byte(k, i + 3)::bigint << 24); END IF;
    IF rem >= 3 THEN a := a + (get_byte(k, i + 2) << 16); END IF;
    IF rem >= 2 THEN a := a + (get_byte(k, i + 1) << 8); END IF;
    IF rem >= 1 THEN a := a + get_byte(k, i); END IF;
    a := a & m; b := b & m; c := c & m;
    c := ((c # b) - ((b << 14) | (b >> 18))) & m;
    a := ((a # c) - ((c << 11) | (c >> 21))) & m;
    b := ((b # a) - ((a << 25) | (a >> 7))) & m;
    c := ((c # b) - ((b << 16) | (b >> 16))) & m;
    a := ((a # c) - ((c << 4) | (c >> 28))) & m;
    b := ((b # a) - ((a << 14) | (a >> 18))) & m;
    c := ((c # b) - ((b << 24) | (b >> 8))) & m;
    RETURN (b << 32) | c;
END
$$;

/*
 * The check of a token body: the low 32 bits of
 * hash_combine64(hash_combine64(h_body, h_app) [, h_user]).  Those bits
 * depend only on the low 39 bits of the first combination (a << 54 adds
 * nothing below bit 54, a >> 7 moves bits 7..38 down), so everything is
 * computed modulo 2^48, in bigint without overflow.
 */
CREATE FUNCTION session_store._token_check(body bytea, h_app bigint, h_user bigint)
RETURNS bigint
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    mm constant bigint := 281474976710655;         -- 2^48 - 1
    k constant bigint := 269230392322275;          -- 0x49a0f4dd15e5a8e3 mod 2^48
    h bigint := session_store._hash_bytes(body, 7811901972305702763);
BEGIN
    h := (h & mm) # (((h_app & mm) + k + ((h >> 7) & mm)) & mm);
    IF h_user IS NOT NULL THEN
        h := h # (((h_user & mm) + k + ((h >> 7) & mm)) & mm);
    END IF;
    RETURN h & 4294967295;
END
$$;

/* The page token of a row (fmt 1 descending, 2 ascending). */
CREATE FUNCTION session_store._page_token(fmt integer, update_time timestamptz,
    user_id text, session_id text, h_app bigint, h_user bigint)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    u bytea := convert_to(user_id, getdatabaseencoding());
    s bytea := convert_to(session_id, getdatabaseencoding());
    t bigint;
    body bytea;
BEGIN
    IF u IS NULL OR s IS NULL OR update_time IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'data_corrupted',
            MESSAGE = format('session_store.sessions holds a NULL %s',
                             CASE WHEN u IS NULL THEN 'user_id' WHEN s IS NULL THEN 'session_id'
                                  ELSE 'update_time' END),
            DETAIL = 'The extension never stores a NULL in this column; the row was written around it.';
    END IF;
    IF length(u) NOT BETWEEN 1 AND 128 THEN
        RAISE EXCEPTION USING ERRCODE = 'data_corrupted',
            MESSAGE = format('session_store.sessions holds a %s of %s bytes', 'user_id', length(u)),
            DETAIL = format('Identifiers are 1 to %s bytes long; this row was not written by session_store.', 128);
    END IF;
    IF length(s) NOT BETWEEN 1 AND 128 THEN
        RAISE EXCEPTION USING ERRCODE = 'data_corrupted',
            MESSAGE = format('session_store.sessions holds a %s of %s bytes', 'session_id', length(s)),
            DETAIL = format('Identifiers are 1 to %s bytes long; this row was not written by session_store.', 128);
    END IF;
    IF isfinite(update_time) THEN
        t := ((extract(epoch FROM update_time) - 946684800) * 1000000)::bigint;
    ELSIF update_time < '2000-01-01 00:00:00+00'::timestamptz THEN
        t := -9223372036854775808;
    ELSE
        t := 9223372036854775807;
    END IF;
    body := set_byte('\x00'::bytea, 0, fmt) || int8send(t)
         || set_byte('\x00'::bytea, 0, length(u)) || u
         || set_byte('\x00'::bytea, 0, length(s)) || s;
    RETURN translate(encode(body || substr(int8send(session_store._token_check(body, h_app, h_user)), 5, 4),
                            'base64'),
                     E'+/=\n', '-_');
END
$$;

/* A page token of the listing (h_app, h_user) in the order fmt: its position, or 22023. */
CREATE FUNCTION session_store._decode_token(token text, fmt integer, h_app bigint, h_user bigint,
    OUT update_time timestamptz, OUT user_id text, OUT session_id text)
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    len integer := length(token);
    buf bytea;
    n integer;
    p integer := 9;
    l integer;
    u bytea;
    s bytea;
    t bigint;
    tail integer;
    bad boolean := false;
BEGIN
    IF octet_length(token) > 364 OR len % 4 = 1 OR token !~ '^[A-Za-z0-9_-]*$' THEN
        bad := true;
    ELSE
        IF len % 4 > 1 THEN
            tail := strpos('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_',
                           right(token, 1)) - 1;
            bad := tail & (CASE len % 4 WHEN 2 THEN 15 ELSE 3 END) <> 0;
        END IF;
    END IF;
    IF NOT bad THEN
        buf := decode(translate(token, '-_', '+/') || repeat('=', (4 - len % 4) % 4), 'base64');
        n := length(buf);
        bad := n < 13 OR get_byte(buf, 0) NOT IN (1, 2);
    END IF;
    IF NOT bad THEN
        t := ('x' || encode(substr(buf, 2, 8), 'hex'))::bit(64)::bigint;
        /* user_id, then session_id: a length byte (1..128) and the bytes, before the check */
        IF p >= n - 4 THEN
            bad := true;
        ELSE
            l := get_byte(buf, p);
            p := p + 1;
            IF l < 1 OR l > 128 OR p + l > n - 4 THEN
                bad := true;
            ELSE
                u := substr(buf, p + 1, l);
                p := p + l;
                IF p >= n - 4 THEN
                    bad := true;
                ELSE
                    l := get_byte(buf, p);
                    p := p + 1;
                    IF l < 1 OR l > 128 OR p + l <> n - 4 THEN
                        bad := true;
                    ELSE
                        s := substr(buf, p + 1, l);
                        bad := ('x' || encode(substr(buf, n - 3, 4), 'hex'))::bit(32)::bigint & 4294967295
                               <> session_store._token_check(substr(buf, 1, n - 4), h_app, h_user);
                    END IF;
                END IF;
            END IF;
        END IF;
    END IF;
    IF bad THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'invalid page token',
            DETAIL = 'A page token must be a next_page_token returned by list_sessions for the same app_name and user_id.';
    END IF;
    IF get_byte(buf, 0) <> fmt THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'invalid page token',
            DETAIL = format('This page token was returned by list_sessions with ascending => %s; pass the same ascending to continue that listing.',
                            CASE WHEN get_byte(buf, 0) = 2 THEN 'true' ELSE 'false' END);
    END IF;
    /*
     * The C edition compares the token's ids as bytes; text here must be
     * valid in the database encoding, and no id of a session can be
     * anything else, so a token whose ids are not is refused.
     */
    BEGIN
        user_id := convert_from(u, getdatabaseencoding());
        session_id := convert_from(s, getdatabaseencoding());
    EXCEPTION WHEN character_not_in_repertoire THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'invalid page token',
            DETAIL = 'Its ids are not valid in the database encoding.';
    END;
    IF t = -9223372036854775808 THEN
        update_time := '-infinity';
    ELSIF t = 9223372036854775807 THEN
        update_time := 'infinity';
    ELSE
        /*
         * Any int64 is a position in the C edition's comparison; one beyond
         * the range of timestamptz lies beyond every finite time, as the
         * infinity of its sign does.
         */
        BEGIN
            update_time := '2000-01-01 00:00:00+00'::timestamptz
                + (t / 1000000) * interval '1 second' + (t % 1000000) * interval '1 microsecond';
        EXCEPTION WHEN datetime_field_overflow THEN
            update_time := CASE WHEN t < 0 THEN '-infinity'::timestamptz ELSE 'infinity'::timestamptz END;
        END;
    END IF;
END
$$;

/*
 * list_sessions: keyset pagination over an app's (or a user's) sessions,
 * update_time DESC, user_id, session_id; ascending: the exact reverse.
 * A page after a token is the rows that tie with the token's update_time
 * and come after it, then the rows past it; each part one range of
 * sessions_app_recent_idx or sessions_user_recent_idx, read no further
 * than the page (sequential scans, bitmap scans and sorts are off for the
 * call, as the C edition turns them off for these queries).
 */
CREATE FUNCTION session_store.list_sessions(
    app_name text, user_id text DEFAULT NULL,
    page_size integer DEFAULT 100, page_token text DEFAULT NULL,
    ascending boolean DEFAULT false)
RETURNS SETOF session_store.session_summary
LANGUAGE plpgsql STABLE SECURITY DEFINER ROWS 100
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off
SET enable_bitmapscan = off
SET enable_sort = off
AS $$
#variable_conflict use_variable
DECLARE
    fmt integer;
    h_app bigint;
    h_user bigint;
    pos record;
    n bigint;
BEGIN
    PERFORM session_store._check_required_id(app_name, 'app_name');
    PERFORM session_store._check_id(user_id, 'user_id');
    IF page_size IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
            MESSAGE = 'argument "page_size" must not be null';
    END IF;
    IF page_size < 1 OR page_size > 10000 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('argument "page_size" must be between 1 and %s', 10000);
    END IF;
    IF ascending IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
            MESSAGE = 'argument "ascending" must not be null';
    END IF;
    fmt := CASE WHEN ascending THEN 2 ELSE 1 END;
    h_app := hashtextextended(app_name COLLATE "C", 7811901972305702763);
    IF user_id IS NOT NULL THEN
        h_user := hashtextextended(user_id COLLATE "C", 7811901972305702764);
    END IF;

    IF page_token IS NULL THEN
        IF user_id IS NULL AND NOT ascending THEN
            RETURN QUERY
            SELECT s.user_id::text, s.session_id::text, s.version, s.last_seq, s.create_time, s.update_time,
                   session_store._page_token(fmt, s.update_time, s.user_id, s.session_id, h_app, h_user)
            FROM (SELECT * FROM session_store.sessions x
                  WHERE x.app_name = app_name COLLATE "C"
                  ORDER BY x.update_time DESC, x.user_id, x.session_id LIMIT page_size) s;
        ELSIF user_id IS NULL THEN
            RETURN QUERY
            SELECT s.user_id::text, s.session_id::text, s.version, s.last_seq, s.create_time, s.update_time,
                   session_store._page_token(fmt, s.update_time, s.user_id, s.session_id, h_app, h_user)
            FROM (SELECT * FROM session_store.sessions x
                  WHERE x.app_name = app_name COLLATE "C"
                  ORDER BY x.update_time, x.user_id DESC, x.session_id DESC LIMIT page_size) s;
        ELSIF NOT ascending THEN
            RETURN QUERY
            SELECT s.user_id::text, s.session_id::text, s.version, s.last_seq, s.create_time, s.update_time,
                   session_store._page_token(fmt, s.update_time, s.user_id, s.session_id, h_app, h_user)
            FROM (SELECT * FROM session_store.sessions x
                  WHERE x.app_name = app_name COLLATE "C" AND x.user_id = user_id COLLATE "C"
                  ORDER BY x.update_time DESC, x.session_id LIMIT page_size) s;
        ELSE
            RETURN QUERY
            SELECT s.user_id::text, s.session_id::text, s.version, s.last_seq, s.create_time, s.update_time,
                   session_store._page_token(fmt, s.update_time, s.user_id, s.session_id, h_app, h_user)
            FROM (SELECT * FROM session_store.sessions x
                  WHERE x.app_name = app_name COLLATE "C" AND x.user_id = user_id COLLATE "C"
                  ORDER BY x.update_time, x.session_id DESC LIMIT page_size) s;
        END IF;
        RETURN;
    END IF;

    pos := session_store._decode_token(page_token, fmt, h_app, h_user);
    /* the ties after the token's row, then the rows past its update_time */
    IF user_id IS NULL AND NOT ascending THEN
        RETURN QUERY
        SELECT s.user_id::text, s.session_id::text, s.version, s.last_seq, s.create_time, s.update_time,
               session_store._page_token(fmt, s.update_time, s.user_id, s.session_id, h_app, h_user)
        FROM (SELECT * FROM session_store.sessions x
              WHERE x.app_name = app_name COLLATE "C" AND x.update_time = pos.update_time
                AND ROW(x.user_id, x.session_id) > ROW(pos.user_id COLLATE "C", pos.session_id COLLATE "C")
              ORDER BY x.user_id, x.session_id LIMIT page_size) s;
        GET DIAGNOSTICS n = ROW_COUNT;
        IF n < page_size THEN
            RETURN QUERY
            SELECT s.user_id::text, s.session_id::text, s.version, s.last_seq, s.create_time, s.update_time,
                   session_store._page_token(fmt, s.update_time, s.user_id, s.session_id, h_app, h_user)
            FROM (SELECT * FROM session_store.sessions x
                  WHERE x.app_name = app_name COLLATE "C" AND x.update_time < pos.update_time
                  ORDER BY x.update_time DESC, x.user_id, x.session_id LIMIT page_size - n) s;
        END IF;
    ELSIF user_id IS NULL THEN
        RETURN QUERY
        SELECT s.user_id::text, s.session_id::text, s.version, s.last_seq, s.create_time, s.update_time,
               session_store._page_token(fmt, s.update_time, s.user_id, s.session_id, h_app, h_user)
        FROM (SELECT * FROM session_store.sessions x
              WHERE x.app_name = app_name COLLATE "C" AND x.update_time = pos.update_time
                AND ROW(x.user_id, x.session_id) < ROW(pos.user_id COLLATE "C", pos.session_id COLLATE "C")
              ORDER BY x.user_id DESC, x.session_id DESC LIMIT page_size) s;
        GET DIAGNOSTICS n = ROW_COUNT;
        IF n < page_size THEN
            RETURN QUERY
            SELECT s.user_id::text, s.session_id::text, s.version, s.last_seq, s.create_time, s.update_time,
                   session_store._page_token(fmt, s.update_time, s.user_id, s.session_id, h_app, h_user)
            FROM (SELECT * FROM session_store.sessions x
                  WHERE x.app_name = app_name COLLATE "C" AND x.update_time > pos.update_time
                  ORDER BY x.update_time, x.user_id DESC, x.session_id DESC LIMIT page_size - n) s;
        END IF;
    ELSIF NOT ascending THEN
        RETURN QUERY
        SELECT s.user_id::text, s.session_id::text, s.version, s.last_seq, s.create_time, s.update_time,
               session_store._page_token(fmt, s.update_time, s.user_id, s.session_id, h_app, h_user)
        FROM (SELECT * FROM session_store.sessions x
              WHERE x.app_name = app_name COLLATE "C" AND x.user_id = user_id COLLATE "C"
                AND x.update_time = pos.update_time AND x.session_id > pos.session_id COLLATE "C"
              ORDER BY x.session_id LIMIT page_size) s;
        GET DIAGNOSTICS n = ROW_COUNT;
        IF n < page_size THEN
            RETURN QUERY
            SELECT s.user_id::text, s.session_id::text, s.version, s.last_seq, s.create_time, s.update_time,
                   session_store._page_token(fmt, s.update_time, s.user_id, s.session_id, h_app, h_user)
            FROM (SELECT * FROM session_store.sessions x
                  WHERE x.app_name = app_name COLLATE "C" AND x.user_id = user_id COLLATE "C"
                    AND x.update_time < pos.update_time
                  ORDER BY x.update_time DESC, x.session_id LIMIT page_size - n) s;
        END IF;
    ELSE
        RETURN QUERY
        SELECT s.user_id::text, s.session_id::text, s.version, s.last_seq, s.create_time, s.update_time,
               session_store._page_token(fmt, s.update_time, s.user_id, s.session_id, h_app, h_user)
        FROM (SELECT * FROM session_store.sessions x
              WHERE x.app_name = app_name COLLATE "C" AND x.user_id = user_id COLLATE "C"
                AND x.update_time = pos.update_time AND x.session_id < pos.session_id COLLATE "C"
              ORDER BY x.session_id DESC LIMIT page_size) s;
        GET DIAGNOSTICS n = ROW_COUNT;
        IF n < page_size THEN
            RETURN QUERY
            SELECT s.user_id::text, s.session_id::text, s.version, s.last_seq, s.create_time, s.update_time,
                   session_store._page_token(fmt, s.update_time, s.user_id, s.session_id, h_app, h_user)
            FROM (SELECT * FROM session_store.sessions x
                  WHERE x.app_name = app_name COLLATE "C" AND x.user_id = user_id COLLATE "C"
                    AND x.update_time > pos.update_time
                  ORDER BY x.update_time, x.session_id DESC LIMIT page_size - n) s;
        END IF;
    END IF;
END
$$;

/*
 * list_sessions_with_state (1.2): list_sessions' page (its rows, order and
 * tokens, from list_sessions itself), each row with the session's merged
 * state as get_session computes it (_merged_state, which refuses a state
 * that is not an object): the session's keys || the app's as app:NAME ||
 * the user's as user:NAME.  Every statement of a STABLE
 * function runs on the calling statement's snapshot, so the page, the
 * states and the app's state are one view.  Still O(page_size): per listed
 * row one primary-key probe of sessions (its state) and one of user_states
 * (scalar subqueries, run once per row, never a join the planner could
 * turn into a scan of the app), and the app's state once per call.
 *
 * A new function rather than a with_state argument of list_sessions: the
 * state needs a column session_store.session_summary does not have, and
 * adding one would change the result of every 1.1 call (see the C
 * edition's session_store--1.1--1.2.sql).
 */
CREATE FUNCTION session_store.list_sessions_with_state(
    app_name text, user_id text DEFAULT NULL,
    page_size integer DEFAULT 100, page_token text DEFAULT NULL,
    ascending boolean DEFAULT false)
RETURNS SETOF session_store.session_summary_with_state
LANGUAGE plpgsql STABLE SECURITY DEFINER ROWS 100
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off
SET enable_bitmapscan = off
AS $$
#variable_conflict use_variable
DECLARE
    r record;
    res session_store.session_summary_with_state;
BEGIN
    /*
     * list_sessions checks every argument, with its own errors.  The app's
     * state does not depend on the row: an InitPlan, read once per call.
     */
    FOR r IN
        SELECT l.user_id, l.session_id, l.version, l.last_seq, l.create_time, l.update_time,
               l.next_page_token,
               session_store._merged_state(x.session_state, x.user_state,
                   (SELECT a.state FROM session_store.app_states a
                    WHERE a.app_name = app_name COLLATE "C")) AS state,
               x.session_state IS NULL AS no_state
        FROM session_store.list_sessions(app_name, user_id, page_size, page_token, ascending)
             WITH ORDINALITY AS l
        CROSS JOIN LATERAL (
            SELECT (SELECT s.state FROM session_store.sessions s
                    WHERE s.app_name = app_name COLLATE "C"
                      AND s.user_id = l.user_id COLLATE "C"
                      AND s.session_id = l.session_id COLLATE "C") AS session_state,
                   (SELECT u.state FROM session_store.user_states u
                    WHERE u.app_name = app_name COLLATE "C"
                      AND u.user_id = l.user_id COLLATE "C") AS user_state) x
        ORDER BY l.ordinality
    LOOP
        IF r.no_state THEN
            PERFORM session_store._null_column('sessions', 'state');
        END IF;
        res := ROW(r.user_id, r.session_id, r.version, r.last_seq, r.create_time, r.update_time,
                   r.next_page_token, r.state);
        RETURN NEXT res;
    END LOOP;
END
$$;

/* count_sessions: an app's (or a user's) sessions, one range of the primary key. */
CREATE FUNCTION session_store.count_sessions(
    app_name text, user_id text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off
SET enable_bitmapscan = off
AS $$
#variable_conflict use_variable
BEGIN
    PERFORM session_store._check_required_id(app_name, 'app_name');
    PERFORM session_store._check_id(user_id, 'user_id');
    IF user_id IS NULL THEN
        RETURN (SELECT count(*) FROM session_store.sessions s WHERE s.app_name = app_name COLLATE "C");
    END IF;
    RETURN (SELECT count(*) FROM session_store.sessions s
            WHERE s.app_name = app_name COLLATE "C" AND s.user_id = user_id COLLATE "C");
END
$$;

/*
 * expire_sessions: delete sessions idle for idle_for (of one app, or of
 * all), oldest first per app, at most max_sessions.  Each candidate's lock
 * is only tried (a session being written is skipped, never waited for);
 * under it the head is read again and the cutoff checked again, then the
 * session, its messages and its keys go.  A candidate left alone keeps its
 * lock to the end of the transaction: an xact-level advisory lock cannot
 * be released earlier from SQL (the C edition releases it at once).
 */
CREATE FUNCTION session_store.expire_sessions(
    idle_for interval, app_name text DEFAULT NULL,
    max_sessions integer DEFAULT 1000)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    cutoff timestamptz;
    cand record;
    v_sid bigint;
    deleted bigint := 0;
BEGIN
    IF idle_for IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
            MESSAGE = 'argument "idle_for" must not be null';
    END IF;
    IF idle_for < interval '0' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'argument "idle_for" must not be negative';
    END IF;
    PERFORM session_store._check_id(app_name, 'app_name');
    IF max_sessions IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
            MESSAGE = 'argument "max_sessions" must not be null';
    END IF;
    IF max_sessions < 1 OR max_sessions > 10000 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('argument "max_sessions" must be between 1 and %s', 10000),
            HINT = 'Call expire_sessions again for the next batch.';
    END IF;
    cutoff := transaction_timestamp() - idle_for;

    FOR cand IN
        SELECT c.app_name, c.user_id, c.session_id
        FROM session_store._expire_candidates(cutoff, max_sessions, app_name) c
    LOOP
        IF NOT pg_try_advisory_xact_lock(21331,
                session_store._lock_key(cand.app_name, cand.user_id, cand.session_id)) THEN
            CONTINUE;           /* being written: not idle, not ours to wait for */
        END IF;
        /* deleted or written since it was chosen: leave it */
        DELETE FROM session_store.sessions s
        WHERE s.app_name = cand.app_name AND s.user_id = cand.user_id
          AND s.session_id = cand.session_id AND s.update_time < cutoff
        RETURNING s.sid INTO v_sid;
        IF NOT FOUND THEN
            CONTINUE;
        END IF;
        DELETE FROM session_store.messages m WHERE m.user_id = cand.user_id AND m.sid = v_sid;
        DELETE FROM session_store.idempotency_keys k WHERE k.user_id = cand.user_id AND k.sid = v_sid;
        deleted := deleted + 1;
    END LOOP;
    RETURN deleted;
END
$$;

/*
 * The candidates of expire_sessions, oldest first within an app.  Across
 * all apps a loose index scan walks the distinct app names (primary key)
 * and takes each app's idle sessions from its listing index: a batch
 * costs O(apps + batch), not O(sessions).
 */
CREATE FUNCTION session_store._expire_candidates(cutoff timestamptz, max_sessions integer, p_app text)
RETURNS TABLE (app_name text, user_id text, session_id text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off
SET enable_bitmapscan = off
SET enable_sort = off
AS $$
#variable_conflict use_column
BEGIN
    IF p_app IS NOT NULL THEN
        RETURN QUERY
        SELECT s.app_name::text, s.user_id::text, s.session_id::text
        FROM session_store.sessions s
        WHERE s.app_name = p_app COLLATE "C" AND s.update_time < cutoff
        ORDER BY s.update_time LIMIT max_sessions;
        RETURN;
    END IF;
    RETURN QUERY
    WITH RECURSIVE apps(app_name) AS (
        (SELECT s.app_name FROM session_store.sessions s ORDER BY s.app_name LIMIT 1)
        UNION ALL
        SELECT (SELECT s.app_name FROM session_store.sessions s
                WHERE s.app_name > a.app_name ORDER BY s.app_name LIMIT 1)
        FROM apps a WHERE a.app_name IS NOT NULL)
    SELECT c.app_name::text, c.user_id::text, c.session_id::text
    FROM apps a CROSS JOIN LATERAL (
        SELECT s.app_name, s.user_id, s.session_id
        FROM session_store.sessions s
        WHERE s.app_name = a.app_name AND s.update_time < cutoff
        ORDER BY s.update_time LIMIT max_sessions) c
    WHERE a.app_name IS NOT NULL
    LIMIT max_sessions;
END
$$;

/*
 * distribute and delegate_functions: the C edition's signatures.  Without
 * Citus they raise what the C edition raises; with Citus, the portable
 * edition does not run distributed.
 */
CREATE FUNCTION session_store.distribute(shard_count integer DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'citus') THEN
        RAISE EXCEPTION USING
            ERRCODE = 'feature_not_supported',
            MESSAGE = 'extension "citus" is not installed in this database',
            HINT = 'session_store.distribute() runs on the coordinator of a Citus cluster, after CREATE EXTENSION citus.';
    END IF;
    RAISE EXCEPTION USING
        ERRCODE = 'feature_not_supported',
        MESSAGE = 'the portable edition of session_store does not run distributed',
        HINT = 'Install the C edition of session_store to distribute it with Citus.';
END
$$;

CREATE FUNCTION session_store.delegate_functions()
RETURNS SETOF pg_catalog.regprocedure
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'citus') THEN
        RAISE EXCEPTION USING
            ERRCODE = 'feature_not_supported',
            MESSAGE = 'extension "citus" is not installed in this database',
            HINT = 'session_store.delegate_functions() runs on the coordinator of a Citus cluster, after session_store.distribute().';
    END IF;
    RAISE EXCEPTION USING
        ERRCODE = 'feature_not_supported',
        MESSAGE = 'the portable edition of session_store does not run distributed',
        HINT = 'Install the C edition of session_store to distribute it with Citus.';
END
$$;
