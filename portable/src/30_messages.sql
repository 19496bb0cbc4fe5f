/*
 * A session's message log: reading it (get_messages), and removing from
 * its end (pop_message, rewind_session, clear_session); and the shared
 * states (get_app_state, get_user_state).
 *
 * The readers take no lock: STABLE, every statement of theirs runs on the
 * caller's snapshot, so the session lookup and the message scan agree with
 * each other (and with a get_session of the same statement).  Every read
 * is a range of the messages primary key, backward when only the latest
 * max_count are wanted (then put back in ascending order), so its cost
 * follows the rows returned and not the length of the session.  With
 * after_time (1.1) the lower bound of the window is first raised to the
 * newest message older than after_time, found by a backward scan from the
 * newest message of the window (within the latest max_count): the rows
 * read are the ones returned and one more.
 *
 * pop_message, rewind_session and clear_session take the session lock,
 * then read the head: under READ COMMITTED each statement of a VOLATILE
 * function takes a new snapshot, so the read sees what the previous lock
 * holder committed.  They advance the head (version + 1, update_time) only
 * when they removed something, and never lower last_seq: a removed
 * sequence number is not given out again.  With an idempotency key (1.2)
 * they look it up under that lock: a key they stored before returns its
 * stored result and nothing changes, whatever expected_version says; a key
 * stored by another kind of call is 42710.
 *
 * Under REPEATABLE READ or SERIALIZABLE the head is read on the
 * transaction's snapshot; when it changed since, the head's UPDATE (or the
 * DELETE of a message changed since) fails with PostgreSQL's 40001 and
 * everything the call did is rolled back.  A call that removed nothing
 * writes no head, so a key stored since the snapshot by such a call would
 * meet the key's own primary key on insert: that 23505 is reported as the
 * 40001 of the C edition.
 */

/* 42710 (or XX001) unless a key stored with operation may be replayed by this_call. */
CREATE FUNCTION session_store._check_key_kind(operation text, this_call text, idem_key text,
    app_name text, user_id text, session_id text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    used text;
BEGIN
    IF operation IS NULL THEN
        used := 'append_messages or replace_messages';
    ELSIF operation IN ('create_session', 'fork_session', 'pop_message',
                        'rewind_session', 'clear_session') THEN
        used := operation;
    ELSE
        RAISE EXCEPTION USING ERRCODE = 'data_corrupted',
            MESSAGE = format('session_store.idempotency_keys holds an unknown operation "%s"', operation);
    END IF;
    IF used = this_call THEN
        RETURN;
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'duplicate_object',
        MESSAGE = format('idempotency key "%s" was already used by %s', idem_key, used),
        DETAIL = format('Session "%s" of app "%s", user "%s"; this call is %s.',
                        session_id, app_name, user_id, this_call),
        HINT = 'Use a new idempotency key for a different request.';
END
$$;

/* XX001: a column the edition never leaves NULL was read back NULL. */
CREATE FUNCTION session_store._null_column(table_name text, column_name text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'data_corrupted',
        MESSAGE = format('session_store.%s holds a NULL %s', table_name, column_name),
        DETAIL = 'The extension never stores a NULL in this column; the row was written around it.';
END
$$;

/* 40001: expected_version is not the head's version. */
CREATE FUNCTION session_store._stale_version(app_name text, user_id text, session_id text,
    version bigint, expected bigint)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'serialization_failure',
        MESSAGE = format('session "%s" is at version %s, not %s', session_id, version, expected),
        DETAIL = format('App "%s", user "%s".', app_name, user_id),
        HINT = 'Read the session again and retry with its current version.';
END
$$;

/*
 * Record the key of a pop, rewind or clear on session (user_id, sid),
 * under the session lock; 09000 if a trigger skipped the insert.
 * SECURITY INVOKER, like every helper that touches a table here: only the
 * API functions, running as the owner, can write the table through it.
 */
CREATE FUNCTION session_store._store_call_key(p_user text, p_sid bigint, p_key text,
    p_operation text, p_version bigint, p_update_time timestamptz, p_removed bigint,
    p_popped_seq bigint, p_popped_message jsonb, p_popped_time timestamptz)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n bigint;
BEGIN
    INSERT INTO session_store.idempotency_keys
        (user_id, sid, idempotency_key, first_seq, last_seq, version, update_time,
         removed, operation, popped_message, popped_time)
    VALUES (p_user, p_sid, p_key, p_popped_seq, p_popped_seq, p_version, p_update_time,
            p_removed, p_operation, p_popped_message, p_popped_time);
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n <> 1 THEN
        RAISE EXCEPTION USING ERRCODE = 'triggered_action_exception',
            MESSAGE = 'a trigger on session_store.idempotency_keys skipped the insert of an idempotency key',
            DETAIL = 'Triggers on session_store.idempotency_keys must not cancel the extension''s inserts.';
    END IF;
END
$$;

/*
 * Under REPEATABLE READ or SERIALIZABLE, after a keyed pop, rewind or
 * clear failed with 40001 or 23505 (and was rolled back to before its
 * lookup): the C edition's 40001 if its key was stored by a call that
 * committed after the transaction's snapshot was taken.  The lookup cannot
 * see such a key; inserting it again can: the key's primary key reports
 * the committed row.  Otherwise (the insert went in, or failed for another
 * reason) it returns, and the caller raises its own error again, which
 * rolls the probe back with everything else.
 */
CREATE FUNCTION session_store._check_key_committed_since(p_app text, p_user text,
    p_session text, p_key text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_sid bigint;
    cname text;
BEGIN
    SELECT s.sid INTO v_sid FROM session_store.sessions s
    WHERE s.app_name = p_app AND s.user_id = p_user AND s.session_id = p_session;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    BEGIN
        INSERT INTO session_store.idempotency_keys
            (user_id, sid, idempotency_key, version, update_time)
        VALUES (p_user, v_sid, p_key, 0, now());
    EXCEPTION
        WHEN unique_violation THEN
            GET STACKED DIAGNOSTICS cname = CONSTRAINT_NAME;
            IF cname = 'idempotency_keys_pkey' THEN
                RAISE EXCEPTION USING ERRCODE = 'serialization_failure',
                    MESSAGE = 'could not serialize access due to concurrent update',
                    DETAIL = format('Idempotency key "%s" of session "%s" of app "%s", user "%s" was stored by a call that committed after this transaction''s snapshot was taken.',
                                    p_key, p_session, p_app, p_user),
                    HINT = 'Retry the transaction.';
            END IF;
        WHEN OTHERS THEN
            NULL;
    END;
END
$$;

/*
 * get_messages: the window after_seq < seq < before_seq, ascending; with
 * after_time only its newest run of messages at or after after_time (the
 * backward scan stops at the first older one); with max_count the latest
 * max_count of those.
 */
CREATE FUNCTION session_store.get_messages(
    app_name text, user_id text, session_id text,
    max_count integer DEFAULT NULL, after_seq bigint DEFAULT NULL,
    before_seq bigint DEFAULT NULL, after_time timestamptz DEFAULT NULL)
RETURNS TABLE (seq bigint, message jsonb, create_time timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_sid bigint;
    lo bigint := coalesce(get_messages.after_seq, -9223372036854775808);
    hi bigint := coalesce(get_messages.before_seq, 9223372036854775807);
BEGIN
    IF (octet_length(get_messages.app_name) BETWEEN 1 AND 128
        AND octet_length(get_messages.user_id) BETWEEN 1 AND 128
        AND octet_length(get_messages.session_id) BETWEEN 1 AND 128) IS NOT TRUE THEN
        PERFORM session_store._check_key(get_messages.app_name, get_messages.user_id,
                                         get_messages.session_id);
    END IF;
    IF get_messages.max_count < 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'argument "max_count" must not be negative';
    END IF;

    IF get_messages.after_time IS NULL THEN
        /* one statement: the session's sid is an InitPlan of the scan */
        IF get_messages.max_count IS NULL THEN
            RETURN QUERY
            SELECT m.seq, m.message, m.create_time
            FROM session_store.messages m
            WHERE m.user_id = get_messages.user_id
              AND m.sid = (SELECT s.sid FROM session_store.sessions s
                           WHERE s.app_name = get_messages.app_name
                             AND s.user_id = get_messages.user_id
                             AND s.session_id = get_messages.session_id)
              AND m.seq > lo AND m.seq < hi
            ORDER BY m.seq;
        ELSE
            RETURN QUERY
            SELECT r.seq, r.message, r.create_time FROM (
                SELECT m.seq, m.message, m.create_time
                FROM session_store.messages m
                WHERE m.user_id = get_messages.user_id
                  AND m.sid = (SELECT s.sid FROM session_store.sessions s
                               WHERE s.app_name = get_messages.app_name
                                 AND s.user_id = get_messages.user_id
                                 AND s.session_id = get_messages.session_id)
                  AND m.seq > lo AND m.seq < hi
                ORDER BY m.seq DESC LIMIT get_messages.max_count) r
            ORDER BY r.seq;
        END IF;
        IF NOT FOUND THEN
            /* no row: an empty window, or no session (on the same snapshot) */
            PERFORM FROM session_store.sessions s
            WHERE s.app_name = get_messages.app_name AND s.user_id = get_messages.user_id
              AND s.session_id = get_messages.session_id;
            IF NOT FOUND THEN
                PERFORM session_store._not_found(get_messages.app_name, get_messages.user_id,
                                                 get_messages.session_id);
            END IF;
        END IF;
        RETURN;
    END IF;

    /*
     * after_time: the session's sid, and lo raised to the newest message of
     * the window older than after_time (within the latest max_count), in
     * one statement; then the messages up from there.
     */
    IF get_messages.max_count IS NULL THEN
        SELECT s.sid, greatest(lo, (
            SELECT o.seq FROM session_store.messages o
            WHERE o.user_id = s.user_id AND o.sid = s.sid
              AND o.seq > lo AND o.seq < hi
              AND o.create_time < get_messages.after_time
            ORDER BY o.seq DESC LIMIT 1))
        INTO v_sid, lo
        FROM session_store.sessions s
        WHERE s.app_name = get_messages.app_name AND s.user_id = get_messages.user_id
          AND s.session_id = get_messages.session_id;
    ELSE
        SELECT s.sid, greatest(lo, (
            SELECT w.seq FROM (
                SELECT o.seq, o.create_time FROM session_store.messages o
                WHERE o.user_id = s.user_id AND o.sid = s.sid
                  AND o.seq > lo AND o.seq < hi
                ORDER BY o.seq DESC LIMIT get_messages.max_count) w
            WHERE w.create_time < get_messages.after_time
            ORDER BY w.seq DESC LIMIT 1))
        INTO v_sid, lo
        FROM session_store.sessions s
        WHERE s.app_name = get_messages.app_name AND s.user_id = get_messages.user_id
          AND s.session_id = get_messages.session_id;
    END IF;
    IF NOT FOUND THEN
        PERFORM session_store._not_found(get_messages.app_name, get_messages.user_id,
                                         get_messages.session_id);
    END IF;
    IF get_messages.max_count IS NULL THEN
        RETURN QUERY
        SELECT m.seq, m.message, m.create_time
        FROM session_store.messages m
        WHERE m.user_id = get_messages.user_id AND m.sid = v_sid
          AND m.seq > lo AND m.seq < hi
        ORDER BY m.seq;
    ELSE
        RETURN QUERY
        SELECT r.seq, r.message, r.create_time FROM (
            SELECT m.seq, m.message, m.create_time
            FROM session_store.messages m
            WHERE m.user_id = get_messages.user_id AND m.sid = v_sid
              AND m.seq > lo AND m.seq < hi
            ORDER BY m.seq DESC LIMIT get_messages.max_count) r
        ORDER BY r.seq;
    END IF;
END
$$;

/*
 * pop_message's work: the latest message, removed and returned; no row
 * when the session has none (then nothing changes but a key recorded).  A
 * replayed key returns the row its call popped (kept in the key's
 * first_seq, popped_message and popped_time), or no row.
 */
CREATE FUNCTION session_store._pop_message(p_app text, p_user text, p_session text,
    p_expected bigint, p_key text)
RETURNS TABLE (seq bigint, message jsonb, create_time timestamptz)
LANGUAGE plpgsql VOLATILE ROWS 1
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    h_sid bigint;
    h_version bigint;
    h_update timestamptz;
    stored record;
BEGIN
    IF (octet_length(p_app) BETWEEN 1 AND 128 AND octet_length(p_user) BETWEEN 1 AND 128
        AND octet_length(p_session) BETWEEN 1 AND 128) IS NOT TRUE THEN
        PERFORM session_store._check_key(p_app, p_user, p_session);
    END IF;
    IF p_key IS NOT NULL THEN
        PERFORM session_store._check_id(p_key, 'idempotency_key');
    END IF;

    PERFORM pg_advisory_xact_lock(21331, session_store._lock_key(p_app, p_user, p_session));
    SELECT s.sid, s.version, s.update_time INTO h_sid, h_version, h_update
    FROM session_store.sessions s
    WHERE s.app_name = p_app AND s.user_id = p_user AND s.session_id = p_session;
    IF NOT FOUND THEN
        PERFORM session_store._not_found(p_app, p_user, p_session);
    END IF;

    IF p_key IS NOT NULL THEN
        SELECT ik.operation, ik.version, ik.update_time, ik.first_seq,
               ik.popped_message, ik.popped_time INTO stored
        FROM session_store.idempotency_keys ik
        WHERE ik.user_id = p_user AND ik.sid = h_sid AND ik.idempotency_key = p_key;
        IF FOUND THEN
            PERFORM session_store._check_key_kind(stored.operation, 'pop_message', p_key,
                                                  p_app, p_user, p_session);
            IF stored.version IS NULL THEN
                PERFORM session_store._null_column('idempotency_keys', 'version');
            ELSIF stored.update_time IS NULL THEN
                PERFORM session_store._null_column('idempotency_keys', 'update_time');
            END IF;
            IF stored.first_seq IS NOT NULL THEN
                IF stored.popped_message IS NULL THEN
                    PERFORM session_store._null_column('idempotency_keys', 'popped_message');
                ELSIF stored.popped_time IS NULL THEN
                    PERFORM session_store._null_column('idempotency_keys', 'popped_time');
                END IF;
                seq := stored.first_seq;
                message := stored.popped_message;
                create_time := stored.popped_time;
                RETURN NEXT;
            END IF;
            RETURN;
        END IF;
    END IF;
    IF p_expected IS NOT NULL AND p_expected <> h_version THEN
        PERFORM session_store._stale_version(p_app, p_user, p_session, h_version, p_expected);
    END IF;

    DELETE FROM session_store.messages m
    WHERE m.user_id = p_user AND m.sid = h_sid
      AND m.seq = (SELECT max(x.seq) FROM session_store.messages x
                   WHERE x.user_id = p_user AND x.sid = h_sid)
    RETURNING m.seq, m.message, m.create_time INTO seq, message, create_time;
    IF FOUND THEN
        IF message IS NULL THEN
            PERFORM session_store._null_column('messages', 'message');
        ELSIF create_time IS NULL THEN
            PERFORM session_store._null_column('messages', 'create_time');
        END IF;
        RETURN NEXT;
        /* last_seq stays: a popped number is never given out again */
        IF h_version = 9223372036854775807 THEN
            RAISE EXCEPTION USING ERRCODE = 'numeric_value_out_of_range',
                MESSAGE = format('session version %s cannot be advanced', h_version);
        END IF;
        UPDATE session_store.sessions s
        SET version = s.version + 1, update_time = greatest(clock_timestamp(), s.update_time)
        WHERE s.app_name = p_app AND s.user_id = p_user AND s.session_id = p_session
        RETURNING s.version, s.update_time INTO h_version, h_update;
    END IF;
    IF p_key IS NOT NULL THEN
        /* seq, message and create_time are NULL when nothing was popped */
        PERFORM session_store._store_call_key(p_user, h_sid, p_key, 'pop_message',
            h_version, h_update, NULL, seq, message, create_time);
    END IF;
END
$$;

/*
 * The work of rewind_session (to_seq given) and clear_session (to_seq
 * NULL): delete the messages after to_seq, or all of them, under the
 * session lock; advance the head if any went.  Returns how many.  A
 * replayed key returns the count its call returned, removing nothing.
 */
CREATE FUNCTION session_store._remove_messages(p_app text, p_user text, p_session text,
    p_to_seq bigint, p_expected bigint, p_key text, p_operation text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    h_sid bigint;
    h_version bigint;
    h_update timestamptz;
    stored record;
    removed bigint;
BEGIN
    IF (octet_length(p_app) BETWEEN 1 AND 128 AND octet_length(p_user) BETWEEN 1 AND 128
        AND octet_length(p_session) BETWEEN 1 AND 128) IS NOT TRUE THEN
        PERFORM session_store._check_key(p_app, p_user, p_session);
    END IF;
    IF p_key IS NOT NULL THEN
        PERFORM session_store._check_id(p_key, 'idempotency_key');
    END IF;

    PERFORM pg_advisory_xact_lock(21331, session_store._lock_key(p_app, p_user, p_session));
    SELECT s.sid, s.version, s.update_time INTO h_sid, h_version, h_update
    FROM session_store.sessions s
    WHERE s.app_name = p_app AND s.user_id = p_user AND s.session_id = p_session;
    IF NOT FOUND THEN
        PERFORM session_store._not_found(p_app, p_user, p_session);
    END IF;

    IF p_key IS NOT NULL THEN
        SELECT ik.operation, ik.version, ik.update_time, ik.removed INTO stored
        FROM session_store.idempotency_keys ik
        WHERE ik.user_id = p_user AND ik.sid = h_sid AND ik.idempotency_key = p_key;
        IF FOUND THEN
            PERFORM session_store._check_key_kind(stored.operation, p_operation, p_key,
                                                  p_app, p_user, p_session);
            IF stored.version IS NULL THEN
                PERFORM session_store._null_column('idempotency_keys', 'version');
            ELSIF stored.update_time IS NULL THEN
                PERFORM session_store._null_column('idempotency_keys', 'update_time');
            ELSIF stored.removed IS NULL THEN
                PERFORM session_store._null_column('idempotency_keys', 'removed');
            END IF;
            RETURN stored.removed;
        END IF;
    END IF;
    IF p_expected IS NOT NULL AND p_expected <> h_version THEN
        PERFORM session_store._stale_version(p_app, p_user, p_session, h_version, p_expected);
    END IF;

    IF p_to_seq IS NULL THEN
        DELETE FROM session_store.messages m WHERE m.user_id = p_user AND m.sid = h_sid;
    ELSE
        DELETE FROM session_store.messages m
        WHERE m.user_id = p_user AND m.sid = h_sid AND m.seq > p_to_seq;
    END IF;
    GET DIAGNOSTICS removed = ROW_COUNT;
    IF removed > 0 THEN
        /* last_seq stays: a removed number is never given out again */
        IF h_version = 9223372036854775807 THEN
            RAISE EXCEPTION USING ERRCODE = 'numeric_value_out_of_range',
                MESSAGE = format('session version %s cannot be advanced', h_version);
        END IF;
        UPDATE session_store.sessions s
        SET version = s.version + 1, update_time = greatest(clock_timestamp(), s.update_time)
        WHERE s.app_name = p_app AND s.user_id = p_user AND s.session_id = p_session
        RETURNING s.version, s.update_time INTO h_version, h_update;
    END IF;
    IF p_key IS NOT NULL THEN
        PERFORM session_store._store_call_key(p_user, h_sid, p_key, p_operation,
            h_version, h_update, removed, NULL, NULL, NULL);
    END IF;
    RETURN removed;
END
$$;

/*
 * The API functions.  Under READ COMMITTED, or without a key, they are
 * their work.  Under REPEATABLE READ or SERIALIZABLE a keyed call runs its
 * work in a subtransaction: if it fails with 40001 (a head or message
 * changed since the snapshot, or an expected_version read on that
 * snapshot) or 23505 (its key inserted again), the C edition's 40001 for a
 * key committed since the snapshot takes precedence, as the C edition
 * looks for such a key before it goes on.
 */
CREATE FUNCTION session_store.pop_message(
    app_name text, user_id text, session_id text,
    expected_version bigint DEFAULT NULL, idempotency_key text DEFAULT NULL)
RETURNS TABLE (seq bigint, message jsonb, create_time timestamptz)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER ROWS 1
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF $5 IS NULL OR current_setting('transaction_isolation') = 'read committed' THEN
        RETURN QUERY SELECT * FROM session_store._pop_message($1, $2, $3, $4, $5);
        RETURN;
    END IF;
    BEGIN
        RETURN QUERY SELECT * FROM session_store._pop_message($1, $2, $3, $4, $5);
    EXCEPTION WHEN serialization_failure OR unique_violation THEN
        PERFORM session_store._check_key_committed_since($1, $2, $3, $5);
        RAISE;
    END;
END
$$;

/* rewind_session: how many messages with seq > to_seq were deleted. */
CREATE FUNCTION session_store.rewind_session(
    app_name text, user_id text, session_id text, to_seq bigint,
    expected_version bigint DEFAULT NULL, idempotency_key text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF $4 IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
            MESSAGE = 'argument "to_seq" must not be null';
    END IF;
    IF $6 IS NULL OR current_setting('transaction_isolation') = 'read committed' THEN
        RETURN session_store._remove_messages($1, $2, $3, $4, $5, $6, 'rewind_session');
    END IF;
    BEGIN
        RETURN session_store._remove_messages($1, $2, $3, $4, $5, $6, 'rewind_session');
    EXCEPTION WHEN serialization_failure OR unique_violation THEN
        PERFORM session_store._check_key_committed_since($1, $2, $3, $6);
        RAISE;
    END;
END
$$;

/* clear_session: how many messages were deleted; the session and its state stay. */
CREATE FUNCTION session_store.clear_session(
    app_name text, user_id text, session_id text,
    expected_version bigint DEFAULT NULL, idempotency_key text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF $5 IS NULL OR current_setting('transaction_isolation') = 'read committed' THEN
        RETURN session_store._remove_messages($1, $2, $3, NULL, $4, $5, 'clear_session');
    END IF;
    BEGIN
        RETURN session_store._remove_messages($1, $2, $3, NULL, $4, $5, 'clear_session');
    EXCEPTION WHEN serialization_failure OR unique_violation THEN
        PERFORM session_store._check_key_committed_since($1, $2, $3, $5);
        RAISE;
    END;
END
$$;

CREATE FUNCTION session_store.get_app_state(app_name text)
RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    st jsonb;
BEGIN
    IF (octet_length(get_app_state.app_name) BETWEEN 1 AND 128) IS NOT TRUE THEN
        PERFORM session_store._check_required_id(get_app_state.app_name, 'app_name');
    END IF;
    SELECT a.state INTO st FROM session_store.app_states a
    WHERE a.app_name = get_app_state.app_name;
    IF jsonb_typeof(st) <> 'object' THEN
        PERFORM session_store._state_not_object('app_states');
    END IF;
    RETURN coalesce(st, '{}'::jsonb);
END
$$;

/* get_user_state: the user's shared state in the app; '{}' when nothing was stored. */
CREATE FUNCTION session_store.get_user_state(app_name text, user_id text)
RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    st jsonb;
BEGIN
    IF (octet_length(get_user_state.app_name) BETWEEN 1 AND 128
        AND octet_length(get_user_state.user_id) BETWEEN 1 AND 128) IS NOT TRUE THEN
        PERFORM session_store._check_required_id(get_user_state.app_name, 'app_name');
        PERFORM session_store._check_required_id(get_user_state.user_id, 'user_id');
    END IF;
    SELECT u.state INTO st FROM session_store.user_states u
    WHERE u.app_name = get_user_state.app_name AND u.user_id = get_user_state.user_id;
    IF jsonb_typeof(st) <> 'object' THEN
        PERFORM session_store._state_not_object('user_states');
    END IF;
    RETURN coalesce(st, '{}'::jsonb);
END
$$;
