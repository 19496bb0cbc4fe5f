/*
 * append_messages and replace_messages: messages, a state delta, an
 * optimistic version check and an idempotency key, as one atomic call,
 * with the C edition's order of work (src/append.c):
 *
 *  1. every argument is checked, the delta routed and, with an idempotency
 *     key, the request's digest computed; nothing is locked yet;
 *  2. the session lock (lock space 21331), then every read is a new
 *     statement: under READ COMMITTED it runs on a snapshot taken after
 *     the lock was granted and sees what the previous holder committed;
 *  3. a known idempotency key returns the stored result and writes
 *     nothing, whatever expected_version says now (42710 for a key of
 *     another kind of call, or, with verify_replay, of other content);
 *  4. one UPDATE of the head checks expected_version and advances version,
 *     last_seq, update_time and the session's state; under REPEATABLE READ
 *     or SERIALIZABLE a head changed since the snapshot makes it fail with
 *     40001 ("could not serialize access due to concurrent update") before
 *     any message is inserted, so a stale last_seq never reaches an INSERT;
 *     when it changes no row, a second read says why (42704, 40001, 22003,
 *     or a trigger that skipped the update: 09000);
 *  5. replace_messages compares and deletes the latest messages; one
 *     INSERT ... SELECT stores the messages; the user's then the app's
 *     state (the lock order) are merged on their latest row versions with
 *     INSERT ... ON CONFLICT DO UPDATE; the key is stored last, with
 *     ON CONFLICT DO NOTHING, so that under REPEATABLE READ a key another
 *     call committed after the snapshot is PostgreSQL's 40001, never a
 *     23505.
 *
 * Request digests are the C edition's, byte for byte, so a key stored by
 * one edition replays (and verifies) in the other: sha256 over fields,
 * each a 4-byte big-endian length (0xffffffff for NULL) then its bytes:
 * the function's name, its jsonb arguments as text (messages, state_delta;
 * replace_messages: expected_suffix, replacement, state_delta), keep_nulls
 * as one byte, message_time as the 8 bytes of timestamptz_send (NULL when
 * not given; replace_messages has none).
 *
 * The hot path (no key, no delta) is: the argument checks as expressions
 * (the helpers of 02_core.sql run only to report an error, or when a limit
 * is set), the lock, one UPDATE, one INSERT.  The lock key is
 * session_store._lock_key's expression, written out to save a call.
 */

CREATE FUNCTION session_store.append_messages(
    app_name text, user_id text, session_id text, messages jsonb,
    state_delta jsonb DEFAULT NULL, expected_version bigint DEFAULT NULL,
    idempotency_key text DEFAULT NULL,
    keep_nulls boolean DEFAULT false,
    message_time timestamptz DEFAULT NULL,
    verify_replay boolean DEFAULT false)
RETURNS TABLE (first_seq bigint, last_seq bigint, version bigint,
               update_time timestamptz, replayed boolean)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER ROWS 1
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    p_app ALIAS FOR $1;
    p_user ALIAS FOR $2;
    p_session ALIAS FOR $3;
    p_messages ALIAS FOR $4;
    p_delta ALIAS FOR $5;
    p_expected ALIAS FOR $6;
    p_key ALIAS FOR $7;
    p_keep_nulls ALIAS FOR $8;
    p_time ALIAS FOR $9;
    p_verify ALIAS FOR $10;
    v_n integer;
    v_digest bytea;
    s_touch boolean := false; s_set jsonb; s_rm text[];
    u_touch boolean := false; u_set jsonb; u_rm text[];
    a_touch boolean := false; a_set jsonb; a_rm text[];
    v_sid bigint;
    v_version bigint;
    v_last bigint;
    v_time timestamptz;
    v_old bigint[];
    v_count bigint;
    v_users boolean;
    v_sids boolean;
    v_seqs boolean;
    v_bad text;
    v_moved text;
    k_first bigint;
    k_last bigint;
    k_version bigint;
    k_time timestamptz;
    k_digest bytea;
    k_operation text;
    k_removed bigint;
BEGIN
    /* 1. arguments, in the C edition's order */
    IF octet_length(p_app) IS NULL OR octet_length(p_app) NOT BETWEEN 1 AND 128
       OR octet_length(p_user) IS NULL OR octet_length(p_user) NOT BETWEEN 1 AND 128
       OR octet_length(p_session) IS NULL OR octet_length(p_session) NOT BETWEEN 1 AND 128 THEN
        PERFORM session_store._check_key(p_app, p_user, p_session);
    END IF;
    IF p_messages IS NULL OR jsonb_typeof(p_messages) <> 'array' THEN
        PERFORM session_store._check_messages(p_messages, 'messages');
    END IF;
    v_n := jsonb_array_length(p_messages);
    IF v_n > 0 AND (v_n > 1000
                    OR pg_column_size(p_messages) > 16777216
                    OR pg_column_compression(p_messages) IS NOT NULL
                    OR coalesce(current_setting('session_store.max_batch_messages', true), '') <> ''
                    OR coalesce(current_setting('session_store.max_message_size', true), '') <> ''
                    OR jsonb_path_exists(p_messages, 'strict $[*] ? (@.type() != "object")')) THEN
        PERFORM session_store._check_messages(p_messages, 'messages');
    END IF;
    IF p_delta IS NOT NULL AND jsonb_typeof(p_delta) <> 'object' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'argument "state_delta" must be a JSON object';
    END IF;
    IF p_key IS NOT NULL AND octet_length(p_key) NOT BETWEEN 1 AND 128 THEN
        PERFORM session_store._check_id(p_key, 'idempotency_key');
    END IF;
    IF p_keep_nulls IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
            MESSAGE = 'argument "keep_nulls" must not be null';
    END IF;
    IF p_time IS NOT NULL AND NOT isfinite(p_time) THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'argument "message_time" must be a finite timestamp';
    END IF;
    IF p_verify IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
            MESSAGE = 'argument "verify_replay" must not be null';
    END IF;
    IF p_delta IS NOT NULL THEN
        SELECT r.s_touch, r.s_set, r.s_rm, r.u_touch, r.u_set, r.u_rm, r.a_touch, r.a_set, r.a_rm
        INTO s_touch, s_set, s_rm, u_touch, u_set, u_rm, a_touch, a_set, a_rm
        FROM session_store._route(p_delta, p_keep_nulls) r;
    END IF;
    IF p_key IS NOT NULL THEN
        v_digest := sha256('\x0000000f617070656e645f6d65737361676573'::bytea
            || CASE WHEN p_messages IS NULL THEN '\xffffffff'::bytea
                    ELSE int4send(octet_length(p_messages::text))
                         || convert_to(p_messages::text, getdatabaseencoding()) END
            || CASE WHEN p_delta IS NULL THEN '\xffffffff'::bytea
                    ELSE int4send(octet_length(p_delta::text))
                         || convert_to(p_delta::text, getdatabaseencoding()) END
            || CASE WHEN p_keep_nulls THEN '\x0000000101'::bytea ELSE '\x0000000100'::bytea END
            || CASE WHEN p_time IS NULL THEN '\xffffffff'::bytea
                    ELSE '\x00000008'::bytea || timestamptz_send(p_time) END);
    END IF;

    /* 2. the session lock (session_store._lock_key, written out) */
    PERFORM pg_advisory_xact_lock(21331, hashtext(
        length(p_app)::text || ':' || p_app || length(p_user)::text || ':' || p_user || p_session));

    /* 3. a known key: its stored result, nothing written */
    IF p_key IS NOT NULL THEN
        SELECT i.first_seq, i.last_seq, i.version, i.update_time, i.request_digest::bytea,
               i.operation,
               CASE WHEN pg_typeof(i.user_id) <> 'text'::regtype THEN 'user_id'
                 WHEN pg_typeof(i.sid) <> 'bigint'::regtype THEN 'sid'
                    WHEN pg_typeof(i.idempotency_key) <> 'text'::regtype THEN 'idempotency_key'
                    WHEN pg_typeof(i.first_seq) <> 'bigint'::regtype THEN 'first_seq'
                    WHEN pg_typeof(i.last_seq) <> 'bigint'::regtype THEN 'last_seq'
                    WHEN pg_typeof(i.version) <> 'bigint'::regtype THEN 'version'
                    WHEN pg_typeof(i.update_time) <> 'timestamptz'::regtype THEN 'update_time'
                    WHEN pg_typeof(i.request_digest) <> 'bytea'::regtype THEN 'request_digest'
                    WHEN pg_typeof(i.removed) <> 'bigint'::regtype THEN 'removed'
                    WHEN pg_typeof(i.operation) <> 'text'::regtype THEN 'operation' END
        INTO k_first, k_last, k_version, k_time, k_digest, k_operation, v_bad
        FROM session_store.sessions s
        JOIN session_store.idempotency_keys i
          ON i.user_id = s.user_id AND i.sid = s.sid AND i.idempotency_key = p_key
        WHERE s.app_name = p_app AND s.user_id = p_user AND s.session_id = p_session;
        IF FOUND THEN
            IF v_bad IS NOT NULL THEN
                PERFORM session_store._column_type('idempotency_keys', v_bad);
            END IF;
            IF k_operation IS NOT NULL THEN
                PERFORM session_store._key_kind(p_app, p_user, p_session, p_key, k_operation);
            END IF;
            IF p_verify AND k_digest IS NOT NULL AND k_digest <> v_digest THEN
                PERFORM session_store._key_content(p_app, p_user, p_session, p_key);
            END IF;
            first_seq := k_first;
            last_seq := k_last;
            version := k_version;
            update_time := k_time;
            replayed := true;
            RETURN NEXT;
            RETURN;
        END IF;
    END IF;

    /* 4. the head */
    IF current_setting('transaction_read_only') = 'on' THEN
        PERFORM session_store._read_only(p_app, p_user, p_session, p_expected, v_n);
    END IF;
    UPDATE session_store.sessions AS s
    SET version = s.version + 1,
        last_seq = s.last_seq + v_n,
        update_time = greatest(clock_timestamp(), s.update_time),
        state = CASE WHEN NOT s_touch THEN s.state::jsonb
                     WHEN jsonb_typeof(s.state::jsonb) = 'object' THEN (s.state::jsonb - s_rm) || s_set
                     ELSE session_store._state_not_object('sessions') END
    WHERE s.app_name = p_app AND s.user_id = p_user AND s.session_id = p_session
      AND (p_expected IS NULL OR s.version = p_expected)
      AND s.last_seq < 9223372036854775807 - v_n
      AND s.version < 9223372036854775807
    RETURNING s.sid, s.version, s.last_seq, s.update_time,
        (SELECT ARRAY[o.sid, o.version, o.last_seq] FROM session_store.sessions o
         WHERE o.app_name = p_app AND o.user_id = p_user AND o.session_id = p_session),
        CASE WHEN pg_typeof(s.app_name) <> 'text'::regtype THEN 'app_name'
             WHEN pg_typeof(s.user_id) <> 'text'::regtype THEN 'user_id'
             WHEN pg_typeof(s.session_id) <> 'text'::regtype THEN 'session_id'
             WHEN pg_typeof(s.sid) <> 'bigint'::regtype THEN 'sid'
             WHEN pg_typeof(s.state) <> 'jsonb'::regtype THEN 'state'
             WHEN pg_typeof(s.version) <> 'bigint'::regtype THEN 'version'
             WHEN pg_typeof(s.last_seq) <> 'bigint'::regtype THEN 'last_seq'
             WHEN pg_typeof(s.create_time) <> 'timestamptz'::regtype THEN 'create_time'
             WHEN pg_typeof(s.update_time) <> 'timestamptz'::regtype THEN 'update_time' END
    INTO v_sid, v_version, v_last, v_time, v_old, v_bad;
    IF NOT FOUND THEN
        PERFORM session_store._head_not_advanced(p_app, p_user, p_session, p_expected, v_n);
    END IF;
    IF v_bad IS NOT NULL THEN
        PERFORM session_store._column_type('sessions', v_bad);
    END IF;
    IF v_sid <> v_old[1] OR v_version <> v_old[2] + 1 OR v_last <> v_old[3] + v_n THEN
        PERFORM session_store._head_changed(v_sid <> v_old[1], v_version <> v_old[2] + 1);
    END IF;

    /* 5. the messages, the shared states, the key */
    IF v_n > 0 THEN
        IF v_n = 1 THEN
            /* one message (the hot path): no function scan, no CTE */
            INSERT INTO session_store.messages AS m (user_id, sid, seq, message, create_time)
            VALUES (p_user, v_sid, v_last, p_messages -> 0, coalesce(p_time, v_time))
            RETURNING 1, m.user_id = p_user, m.sid = v_sid, m.seq = v_last,
                CASE WHEN pg_typeof(m.user_id) <> 'text'::regtype THEN 'user_id'
                     WHEN pg_typeof(m.sid) <> 'bigint'::regtype THEN 'sid'
                     WHEN pg_typeof(m.seq) <> 'bigint'::regtype THEN 'seq'
                     WHEN pg_typeof(m.message) <> 'jsonb'::regtype THEN 'message'
                     WHEN pg_typeof(m.create_time) <> 'timestamptz'::regtype THEN 'create_time' END
            INTO v_count, v_users, v_sids, v_seqs, v_bad;
            IF NOT FOUND THEN
                v_count := 0;
            END IF;
        ELSE
        WITH ins AS (
            INSERT INTO session_store.messages AS m (user_id, sid, seq, message, create_time)
            SELECT p_user, v_sid, v_old[3] + e.ord, e.m, coalesce(p_time, v_time)
            FROM jsonb_array_elements(p_messages) WITH ORDINALITY e(m, ord)
            RETURNING m.user_id, m.sid, m.seq,
                CASE WHEN pg_typeof(m.user_id) <> 'text'::regtype THEN 'user_id'
                     WHEN pg_typeof(m.sid) <> 'bigint'::regtype THEN 'sid'
                     WHEN pg_typeof(m.seq) <> 'bigint'::regtype THEN 'seq'
                     WHEN pg_typeof(m.message) <> 'jsonb'::regtype THEN 'message'
                     WHEN pg_typeof(m.create_time) <> 'timestamptz'::regtype THEN 'create_time' END AS bad)
        SELECT count(*), bool_and(ins.user_id = p_user), bool_and(ins.sid = v_sid),
               min(ins.seq) = v_old[3] + 1 AND max(ins.seq) = v_last, min(ins.bad)
        INTO v_count, v_users, v_sids, v_seqs, v_bad
        FROM ins;
        END IF;
        IF v_bad IS NOT NULL THEN
            PERFORM session_store._column_type('messages', v_bad);
        END IF;
        IF v_count <> v_n OR NOT (v_users AND v_sids AND v_seqs) THEN
            PERFORM session_store._messages_changed(v_count <> v_n, v_users, v_sids);
        END IF;
        first_seq := v_old[3] + 1;
        last_seq := v_last;
    END IF;
    IF u_touch THEN
        INSERT INTO session_store.user_states AS t (app_name, user_id, state)
        VALUES (p_app, p_user, u_set)
        ON CONFLICT (app_name, user_id) DO UPDATE
        SET state = CASE WHEN jsonb_typeof(t.state) = 'object' THEN (t.state - u_rm) || u_set
                         ELSE session_store._state_not_object('user_states') END;
    END IF;
    IF a_touch THEN
        INSERT INTO session_store.app_states AS t (app_name, state)
        VALUES (p_app, a_set)
        ON CONFLICT (app_name) DO UPDATE
        SET state = CASE WHEN jsonb_typeof(t.state) = 'object' THEN (t.state - a_rm) || a_set
                         ELSE session_store._state_not_object('app_states') END;
    END IF;
    version := v_version;
    update_time := v_time;
    replayed := false;
    IF p_key IS NOT NULL THEN
        INSERT INTO session_store.idempotency_keys AS i
            (user_id, sid, idempotency_key, first_seq, last_seq, version, update_time,
             request_digest, removed)
        VALUES (p_user, v_sid, p_key, first_seq, last_seq, v_version, v_time, v_digest, NULL)
        ON CONFLICT (user_id, sid, idempotency_key) DO NOTHING
        RETURNING
            CASE WHEN pg_typeof(i.user_id) <> 'text'::regtype THEN 'user_id'
                 WHEN pg_typeof(i.sid) <> 'bigint'::regtype THEN 'sid'
                    WHEN pg_typeof(i.idempotency_key) <> 'text'::regtype THEN 'idempotency_key'
                    WHEN pg_typeof(i.first_seq) <> 'bigint'::regtype THEN 'first_seq'
                    WHEN pg_typeof(i.last_seq) <> 'bigint'::regtype THEN 'last_seq'
                    WHEN pg_typeof(i.version) <> 'bigint'::regtype THEN 'version'
                    WHEN pg_typeof(i.update_time) <> 'timestamptz'::regtype THEN 'update_time'
                    WHEN pg_typeof(i.request_digest) <> 'bytea'::regtype THEN 'request_digest'
                    WHEN pg_typeof(i.removed) <> 'bigint'::regtype THEN 'removed'
                    WHEN pg_typeof(i.operation) <> 'text'::regtype THEN 'operation' END,
            CASE WHEN i.user_id IS DISTINCT FROM p_user THEN 'user_id'
                 WHEN i.sid IS DISTINCT FROM v_sid THEN 'sid'
                 WHEN i.idempotency_key IS DISTINCT FROM p_key THEN 'idempotency_key' END
        INTO v_bad, v_moved;
        IF NOT FOUND THEN
            PERFORM session_store._key_not_stored();
        END IF;
        IF v_bad IS NOT NULL THEN
            PERFORM session_store._column_type('idempotency_keys', v_bad);
        END IF;
        IF v_moved IS NOT NULL THEN
            PERFORM session_store._key_moved(v_moved);
        END IF;
    END IF;
    RETURN NEXT;
END
$$;

CREATE FUNCTION session_store.replace_messages(
    app_name text, user_id text, session_id text,
    expected_suffix jsonb, replacement jsonb,
    state_delta jsonb DEFAULT NULL, expected_version bigint DEFAULT NULL,
    idempotency_key text DEFAULT NULL, keep_nulls boolean DEFAULT false)
RETURNS TABLE (first_seq bigint, last_seq bigint, version bigint,
               update_time timestamptz, replayed boolean, removed bigint)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER ROWS 1
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    p_app ALIAS FOR $1;
    p_user ALIAS FOR $2;
    p_session ALIAS FOR $3;
    p_expected_suffix ALIAS FOR $4;
    p_replacement ALIAS FOR $5;
    p_delta ALIAS FOR $6;
    p_expected ALIAS FOR $7;
    p_key ALIAS FOR $8;
    p_keep_nulls ALIAS FOR $9;
    v_nexp integer;
    v_n integer;
    v_digest bytea;
    s_touch boolean := false; s_set jsonb; s_rm text[];
    u_touch boolean := false; u_set jsonb; u_rm text[];
    a_touch boolean := false; a_set jsonb; a_rm text[];
    v_sid bigint;
    v_version bigint;
    v_last bigint;
    v_time timestamptz;
    v_old bigint[];
    v_match boolean;
    v_oldest bigint;
    v_removed bigint := 0;
    v_count bigint;
    v_users boolean;
    v_sids boolean;
    v_seqs boolean;
    v_bad text;
    v_moved text;
    k_first bigint;
    k_last bigint;
    k_version bigint;
    k_time timestamptz;
    k_digest bytea;
    k_operation text;
    k_removed bigint;
BEGIN
    PERFORM session_store._check_key(p_app, p_user, p_session);
    IF p_expected_suffix IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
            MESSAGE = 'argument "expected_suffix" must not be null';
    END IF;
    IF jsonb_typeof(p_expected_suffix) <> 'array' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'argument "expected_suffix" must be a JSON array';
    END IF;
    v_nexp := jsonb_array_length(p_expected_suffix);
    v_n := session_store._check_messages(p_replacement, 'replacement');
    PERFORM session_store._check_object(p_delta, 'state_delta');
    PERFORM session_store._check_id(p_key, 'idempotency_key');
    IF p_keep_nulls IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
            MESSAGE = 'argument "keep_nulls" must not be null';
    END IF;
    IF p_delta IS NOT NULL THEN
        SELECT r.s_touch, r.s_set, r.s_rm, r.u_touch, r.u_set, r.u_rm, r.a_touch, r.a_set, r.a_rm
        INTO s_touch, s_set, s_rm, u_touch, u_set, u_rm, a_touch, a_set, a_rm
        FROM session_store._route(p_delta, p_keep_nulls) r;
    END IF;
    IF p_key IS NOT NULL THEN
        v_digest := sha256('\x000000107265706c6163655f6d65737361676573'::bytea
            || int4send(octet_length(p_expected_suffix::text))
            || convert_to(p_expected_suffix::text, getdatabaseencoding())
            || int4send(octet_length(p_replacement::text))
            || convert_to(p_replacement::text, getdatabaseencoding())
            || CASE WHEN p_delta IS NULL THEN '\xffffffff'::bytea
                    ELSE int4send(octet_length(p_delta::text))
                         || convert_to(p_delta::text, getdatabaseencoding()) END
            || CASE WHEN p_keep_nulls THEN '\x0000000101'::bytea ELSE '\x0000000100'::bytea END
            || '\xffffffff'::bytea);
    END IF;

    PERFORM pg_advisory_xact_lock(21331, hashtext(
        length(p_app)::text || ':' || p_app || length(p_user)::text || ':' || p_user || p_session));

    /* a known key: its stored result, always verified against the request */
    IF p_key IS NOT NULL THEN
        SELECT i.first_seq, i.last_seq, i.version, i.update_time, i.request_digest::bytea,
               i.operation, i.removed,
               CASE WHEN pg_typeof(i.user_id) <> 'text'::regtype THEN 'user_id'
                 WHEN pg_typeof(i.sid) <> 'bigint'::regtype THEN 'sid'
                    WHEN pg_typeof(i.idempotency_key) <> 'text'::regtype THEN 'idempotency_key'
                    WHEN pg_typeof(i.first_seq) <> 'bigint'::regtype THEN 'first_seq'
                    WHEN pg_typeof(i.last_seq) <> 'bigint'::regtype THEN 'last_seq'
                    WHEN pg_typeof(i.version) <> 'bigint'::regtype THEN 'version'
                    WHEN pg_typeof(i.update_time) <> 'timestamptz'::regtype THEN 'update_time'
                    WHEN pg_typeof(i.request_digest) <> 'bytea'::regtype THEN 'request_digest'
                    WHEN pg_typeof(i.removed) <> 'bigint'::regtype THEN 'removed'
                    WHEN pg_typeof(i.operation) <> 'text'::regtype THEN 'operation' END
        INTO k_first, k_last, k_version, k_time, k_digest, k_operation, k_removed, v_bad
        FROM session_store.sessions s
        JOIN session_store.idempotency_keys i
          ON i.user_id = s.user_id AND i.sid = s.sid AND i.idempotency_key = p_key
        WHERE s.app_name = p_app AND s.user_id = p_user AND s.session_id = p_session;
        IF FOUND THEN
            IF v_bad IS NOT NULL THEN
                PERFORM session_store._column_type('idempotency_keys', v_bad);
            END IF;
            IF k_operation IS NOT NULL THEN
                PERFORM session_store._key_kind(p_app, p_user, p_session, p_key, k_operation);
            END IF;
            IF k_digest IS NOT NULL AND k_digest <> v_digest THEN
                PERFORM session_store._key_content(p_app, p_user, p_session, p_key);
            END IF;
            first_seq := k_first;
            last_seq := k_last;
            version := k_version;
            update_time := k_time;
            replayed := true;
            removed := k_removed;
            RETURN NEXT;
            RETURN;
        END IF;
    END IF;

    /* the head, advanced before any message is compared, removed or inserted */
    IF current_setting('transaction_read_only') = 'on' THEN
        PERFORM session_store._read_only(p_app, p_user, p_session, p_expected, v_n);
    END IF;
    UPDATE session_store.sessions AS s
    SET version = s.version + 1,
        last_seq = s.last_seq + v_n,
        update_time = greatest(clock_timestamp(), s.update_time),
        state = CASE WHEN NOT s_touch THEN s.state::jsonb
                     WHEN jsonb_typeof(s.state::jsonb) = 'object' THEN (s.state::jsonb - s_rm) || s_set
                     ELSE session_store._state_not_object('sessions') END
    WHERE s.app_name = p_app AND s.user_id = p_user AND s.session_id = p_session
      AND (p_expected IS NULL OR s.version = p_expected)
      AND s.last_seq < 9223372036854775807 - v_n
      AND s.version < 9223372036854775807
    RETURNING s.sid, s.version, s.last_seq, s.update_time,
        (SELECT ARRAY[o.sid, o.version, o.last_seq] FROM session_store.sessions o
         WHERE o.app_name = p_app AND o.user_id = p_user AND o.session_id = p_session),
        CASE WHEN pg_typeof(s.app_name) <> 'text'::regtype THEN 'app_name'
             WHEN pg_typeof(s.user_id) <> 'text'::regtype THEN 'user_id'
             WHEN pg_typeof(s.session_id) <> 'text'::regtype THEN 'session_id'
             WHEN pg_typeof(s.sid) <> 'bigint'::regtype THEN 'sid'
             WHEN pg_typeof(s.state) <> 'jsonb'::regtype THEN 'state'
             WHEN pg_typeof(s.version) <> 'bigint'::regtype THEN 'version'
             WHEN pg_typeof(s.last_seq) <> 'bigint'::regtype THEN 'last_seq'
             WHEN pg_typeof(s.create_time) <> 'timestamptz'::regtype THEN 'create_time'
             WHEN pg_typeof(s.update_time) <> 'timestamptz'::regtype THEN 'update_time' END
    INTO v_sid, v_version, v_last, v_time, v_old, v_bad;
    IF NOT FOUND THEN
        PERFORM session_store._head_not_advanced(p_app, p_user, p_session, p_expected, v_n);
    END IF;
    IF v_bad IS NOT NULL THEN
        PERFORM session_store._column_type('sessions', v_bad);
    END IF;
    IF v_sid <> v_old[1] OR v_version <> v_old[2] + 1 OR v_last <> v_old[3] + v_n THEN
        PERFORM session_store._head_changed(v_sid <> v_old[1], v_version <> v_old[2] + 1);
    END IF;

    /* the latest messages must equal expected_suffix, oldest first */
    IF v_nexp > 0 THEN
        SELECT count(*) = v_nexp AND coalesce(bool_and(t.message::jsonb = e.value), false), min(t.seq),
               min(CASE WHEN pg_typeof(t.seq) <> 'bigint'::regtype THEN 'seq'
                        WHEN pg_typeof(t.message) <> 'jsonb'::regtype THEN 'message' END)
        INTO v_match, v_oldest, v_bad
        FROM (SELECT m.seq, m.message,
                     row_number() OVER (ORDER BY m.seq DESC) AS r
              FROM session_store.messages m
              WHERE m.user_id = p_user AND m.sid = v_sid
              ORDER BY m.seq DESC
              LIMIT v_nexp) t
        LEFT JOIN jsonb_array_elements(p_expected_suffix) WITH ORDINALITY e(value, ord)
          ON e.ord = v_nexp + 1 - t.r;
        IF v_bad IS NOT NULL THEN
            PERFORM session_store._column_type('messages', v_bad);
        END IF;
        IF NOT v_match THEN
            RAISE EXCEPTION USING ERRCODE = 'serialization_failure',
                MESSAGE = format('session "%s" no longer ends with the expected messages', p_session),
                DETAIL = format('App "%s", user "%s".', p_app, p_user),
                HINT = 'Read the session''s latest messages again and retry with them.';
        END IF;
        DELETE FROM session_store.messages m
        WHERE m.user_id = p_user AND m.sid = v_sid AND m.seq > v_oldest - 1;
        GET DIAGNOSTICS v_removed = ROW_COUNT;
        IF v_removed <> v_nexp THEN
            RAISE EXCEPTION 'removed % messages, expected %', v_removed, v_nexp;
        END IF;
    END IF;
    IF v_n > 0 THEN
        WITH ins AS (
            INSERT INTO session_store.messages AS m (user_id, sid, seq, message, create_time)
            SELECT p_user, v_sid, v_old[3] + e.ord, e.m, v_time
            FROM jsonb_array_elements(p_replacement) WITH ORDINALITY e(m, ord)
            RETURNING m.user_id, m.sid, m.seq,
                CASE WHEN pg_typeof(m.user_id) <> 'text'::regtype THEN 'user_id'
                     WHEN pg_typeof(m.sid) <> 'bigint'::regtype THEN 'sid'
                     WHEN pg_typeof(m.seq) <> 'bigint'::regtype THEN 'seq'
                     WHEN pg_typeof(m.message) <> 'jsonb'::regtype THEN 'message'
                     WHEN pg_typeof(m.create_time) <> 'timestamptz'::regtype THEN 'create_time' END AS bad)
        SELECT count(*), bool_and(ins.user_id = p_user), bool_and(ins.sid = v_sid),
               min(ins.seq) = v_old[3] + 1 AND max(ins.seq) = v_last, min(ins.bad)
        INTO v_count, v_users, v_sids, v_seqs, v_bad
        FROM ins;
        IF v_bad IS NOT NULL THEN
            PERFORM session_store._column_type('messages', v_bad);
        END IF;
        IF v_count <> v_n OR NOT (v_users AND v_sids AND v_seqs) THEN
            PERFORM session_store._messages_changed(v_count <> v_n, v_users, v_sids);
        END IF;
        first_seq := v_old[3] + 1;
        last_seq := v_last;
    END IF;
    IF u_touch THEN
        INSERT INTO session_store.user_states AS t (app_name, user_id, state)
        VALUES (p_app, p_user, u_set)
        ON CONFLICT (app_name, user_id) DO UPDATE
        SET state = CASE WHEN jsonb_typeof(t.state) = 'object' THEN (t.state - u_rm) || u_set
                         ELSE session_store._state_not_object('user_states') END;
    END IF;
    IF a_touch THEN
        INSERT INTO session_store.app_states AS t (app_name, state)
        VALUES (p_app, a_set)
        ON CONFLICT (app_name) DO UPDATE
        SET state = CASE WHEN jsonb_typeof(t.state) = 'object' THEN (t.state - a_rm) || a_set
                         ELSE session_store._state_not_object('app_states') END;
    END IF;
    version := v_version;
    update_time := v_time;
    replayed := false;
    removed := v_removed;
    IF p_key IS NOT NULL THEN
        INSERT INTO session_store.idempotency_keys AS i
            (user_id, sid, idempotency_key, first_seq, last_seq, version, update_time,
             request_digest, removed)
        VALUES (p_user, v_sid, p_key, first_seq, last_seq, v_version, v_time, v_digest, v_removed)
        ON CONFLICT (user_id, sid, idempotency_key) DO NOTHING
        RETURNING
            CASE WHEN pg_typeof(i.user_id) <> 'text'::regtype THEN 'user_id'
                 WHEN pg_typeof(i.sid) <> 'bigint'::regtype THEN 'sid'
                    WHEN pg_typeof(i.idempotency_key) <> 'text'::regtype THEN 'idempotency_key'
                    WHEN pg_typeof(i.first_seq) <> 'bigint'::regtype THEN 'first_seq'
                    WHEN pg_typeof(i.last_seq) <> 'bigint'::regtype THEN 'last_seq'
                    WHEN pg_typeof(i.version) <> 'bigint'::regtype THEN 'version'
                    WHEN pg_typeof(i.update_time) <> 'timestamptz'::regtype THEN 'update_time'
                    WHEN pg_typeof(i.request_digest) <> 'bytea'::regtype THEN 'request_digest'
                    WHEN pg_typeof(i.removed) <> 'bigint'::regtype THEN 'removed'
                    WHEN pg_typeof(i.operation) <> 'text'::regtype THEN 'operation' END,
            CASE WHEN i.user_id IS DISTINCT FROM p_user THEN 'user_id'
                 WHEN i.sid IS DISTINCT FROM v_sid THEN 'sid'
                 WHEN i.idempotency_key IS DISTINCT FROM p_key THEN 'idempotency_key' END
        INTO v_bad, v_moved;
        IF NOT FOUND THEN
            PERFORM session_store._key_not_stored();
        END IF;
        IF v_bad IS NOT NULL THEN
            PERFORM session_store._column_type('idempotency_keys', v_bad);
        END IF;
        IF v_moved IS NOT NULL THEN
            PERFORM session_store._key_moved(v_moved);
        END IF;
    END IF;
    RETURN NEXT;
END
$$;

/*
 * The reports of the two functions above, out of their bodies: each runs
 * only to raise its error.
 */

/* 42710: a key stored by another kind of call (1.2's operation column). */
CREATE FUNCTION session_store._key_kind(app_name text, user_id text, session_id text,
    idem_key text, operation text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF operation NOT IN ('create_session', 'fork_session', 'pop_message',
                         'rewind_session', 'clear_session') THEN
        RAISE EXCEPTION USING ERRCODE = 'data_corrupted',
            MESSAGE = format('session_store.idempotency_keys holds an unknown operation "%s"', operation);
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'duplicate_object',
        MESSAGE = format('idempotency key "%s" was already used by %s', idem_key, operation),
        DETAIL = format('Session "%s" of app "%s", user "%s"; this call is append_messages or replace_messages.',
                        session_id, app_name, user_id),
        HINT = 'Use a new idempotency key for a different request.';
END
$$;

/* 42710: a replayed key whose stored digest is not the request's. */
CREATE FUNCTION session_store._key_content(app_name text, user_id text, session_id text,
    idem_key text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'duplicate_object',
        MESSAGE = format('idempotency key "%s" was already used with different content', idem_key),
        DETAIL = format('Session "%s" of app "%s", user "%s".', session_id, app_name, user_id),
        HINT = 'Use a new idempotency key for a different request.';
END
$$;

/*
 * Why the head's UPDATE changed no row: no session (42704), another
 * version (40001), no sequence number or version left (22003), or a
 * BEFORE UPDATE trigger that skipped the row (09000).
 */
CREATE FUNCTION session_store._head_not_advanced(app_name text, user_id text, session_id text,
    expected_version bigint, n integer)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    h record;
BEGIN
    SELECT s.version, s.last_seq INTO h
    FROM session_store.sessions s
    WHERE s.app_name = app_name AND s.user_id = user_id AND s.session_id = session_id;
    IF NOT FOUND THEN
        PERFORM session_store._not_found(app_name, user_id, session_id);
    END IF;
    IF expected_version IS NOT NULL AND expected_version <> h.version THEN
        RAISE EXCEPTION USING ERRCODE = 'serialization_failure',
            MESSAGE = format('session "%s" is at version %s, not %s', session_id, h.version, expected_version),
            DETAIL = format('App "%s", user "%s".', app_name, user_id),
            HINT = 'Read the session again and retry with its current version.';
    END IF;
    IF h.last_seq >= 9223372036854775807 - n THEN
        RAISE EXCEPTION USING ERRCODE = 'numeric_value_out_of_range',
            MESSAGE = format('sequence numbers of session "%s" are exhausted', session_id),
            DETAIL = format('Its last sequence number is %s.', h.last_seq);
    END IF;
    IF h.version = 9223372036854775807 THEN
        RAISE EXCEPTION USING ERRCODE = 'numeric_value_out_of_range',
            MESSAGE = format('session version %s cannot be advanced', h.version);
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'triggered_action_exception',
        MESSAGE = 'a trigger on session_store.sessions skipped the update of a session',
        DETAIL = 'Triggers on session_store.sessions must not cancel the extension''s updates.';
END
$$;

/* 09000: a BEFORE UPDATE trigger changed the head's bookkeeping. */
CREATE FUNCTION session_store._head_changed(sid_changed boolean, version_changed boolean)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'triggered_action_exception',
        MESSAGE = format('a trigger on session_store.sessions changed column "%s" of a session',
                         CASE WHEN sid_changed THEN 'sid' WHEN version_changed THEN 'version'
                              ELSE 'last_seq' END),
        DETAIL = 'Triggers on session_store.sessions must leave sid, version and last_seq as the extension sets them.';
END
$$;

/* 09000: a BEFORE INSERT trigger skipped a message or changed its key. */
CREATE FUNCTION session_store._messages_changed(skipped boolean, users_kept boolean,
    sids_kept boolean)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF skipped THEN
        RAISE EXCEPTION USING ERRCODE = 'triggered_action_exception',
            MESSAGE = 'a trigger on session_store.messages skipped the insert of a message',
            DETAIL = 'Triggers on session_store.messages must not cancel the extension''s inserts.';
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'triggered_action_exception',
        MESSAGE = format('a trigger on session_store.messages changed column "%s" of a message',
                         CASE WHEN NOT users_kept THEN 'user_id' WHEN NOT sids_kept THEN 'sid'
                              ELSE 'seq' END),
        DETAIL = 'Triggers on session_store.messages must leave user_id, sid and seq as the extension sets them.';
END
$$;

/* 09000: a BEFORE INSERT trigger moved the key to another session or key. */
CREATE FUNCTION session_store._key_moved(col text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'triggered_action_exception',
        MESSAGE = format('a trigger on session_store.idempotency_keys changed column "%s" of a key', col),
        DETAIL = 'Triggers on session_store.idempotency_keys must leave user_id, sid and idempotency_key as the extension sets them.';
END
$$;

/* 09000: the key's INSERT stored no row (a BEFORE INSERT trigger skipped it). */
CREATE FUNCTION session_store._key_not_stored()
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'triggered_action_exception',
        MESSAGE = 'a trigger on session_store.idempotency_keys skipped the insert of a key',
        DETAIL = 'Triggers on session_store.idempotency_keys must not cancel the extension''s inserts.';
END
$$;

/*
 * 42804: column col of table session_store.tbl is not of the type the
 * edition reads and writes (an administrator changed it).  The statements
 * above are written so that they still plan with the changed type; their
 * RETURNING says which column it is.
 */
CREATE FUNCTION session_store._column_type(tbl text, col text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    want text := CASE
        WHEN col IN ('app_name', 'user_id', 'session_id', 'idempotency_key', 'operation') THEN 'text'
        WHEN col IN ('state', 'message') THEN 'jsonb'
        WHEN col IN ('create_time', 'update_time') THEN 'timestamp with time zone'
        WHEN col = 'request_digest' THEN 'bytea'
        ELSE 'bigint' END;
    have text;
BEGIN
    SELECT format_type(a.atttypid, NULL) INTO have
    FROM pg_catalog.pg_attribute a
    WHERE a.attrelid = ('session_store.' || tbl)::regclass AND a.attname = col
      AND NOT a.attisdropped;
    RAISE EXCEPTION USING ERRCODE = 'datatype_mismatch',
        MESSAGE = format('column "%s" of table session_store.%s is of type %s, not %s',
                         col, tbl, have, want),
        HINT = format('Change the column back to type %s.', want);
END
$$;

/*
 * A call that would write, in a read-only transaction (or on a standby):
 * what the head says first (42704, 40001, 22003), then 25006, as the C
 * edition reports them; an idempotent replay never gets here.
 */
CREATE FUNCTION session_store._read_only(app_name text, user_id text, session_id text,
    expected_version bigint, n integer)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    h record;
BEGIN
    SELECT s.version, s.last_seq INTO h
    FROM session_store.sessions s
    WHERE s.app_name = app_name AND s.user_id = user_id AND s.session_id = session_id;
    IF NOT FOUND THEN
        PERFORM session_store._not_found(app_name, user_id, session_id);
    END IF;
    IF expected_version IS NOT NULL AND expected_version <> h.version THEN
        PERFORM session_store._head_not_advanced(app_name, user_id, session_id, expected_version, n);
    END IF;
    IF h.last_seq >= 9223372036854775807 - n THEN
        PERFORM session_store._head_not_advanced(app_name, user_id, session_id, expected_version, n);
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'read_only_sql_transaction',
        MESSAGE = 'cannot execute a session_store write in a read-only transaction';
END
$$;
