/*
 * Internal helpers of the portable edition, shared by the API functions.
 * Their names start with an underscore; they are not part of the API.
 * SECURITY INVOKER and touching no table: EXECUTE on them (granted with
 * "ALL FUNCTIONS IN SCHEMA") gives a caller nothing the API does not.
 * Every function of the edition pins search_path to pg_catalog, pg_temp.
 */

/* The installed edition and version: one call, in both editions. */
CREATE FUNCTION session_store.edition(OUT edition text, OUT version text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT 'portable'::pg_catalog.text, '1.2'::pg_catalog.text $$;

/* 22004 when value is NULL. */
CREATE FUNCTION session_store._require(value anyelement, argname text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF value IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
            MESSAGE = format('argument "%s" must not be null', argname);
    END IF;
END
$$;

/*
 * An identifier: 1..128 bytes (22023); NULL is allowed here (callers of a
 * required identifier call _require first, or _check_required_id).
 */
CREATE FUNCTION session_store._check_id(value text, argname text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    len integer := octet_length(value);
BEGIN
    IF len = 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('argument "%s" must not be empty', argname);
    ELSIF len > 128 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('argument "%s" is too long', argname),
            DETAIL = format('It is %s bytes long; the limit is %s bytes.', len, 128);
    END IF;
END
$$;

/* A required identifier: 22004 when NULL, then _check_id. */
CREATE FUNCTION session_store._check_required_id(value text, argname text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    len integer := octet_length(value);
BEGIN
    IF len IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
            MESSAGE = format('argument "%s" must not be null', argname);
    ELSIF len = 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('argument "%s" must not be empty', argname);
    ELSIF len > 128 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('argument "%s" is too long', argname),
            DETAIL = format('It is %s bytes long; the limit is %s bytes.', len, 128);
    END IF;
END
$$;

/* The (app_name, user_id, session_id) every session function takes first. */
CREATE FUNCTION session_store._check_key(app_name text, user_id text, session_id text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM session_store._check_required_id(app_name, 'app_name');
    PERFORM session_store._check_required_id(user_id, 'user_id');
    PERFORM session_store._check_required_id(session_id, 'session_id');
END
$$;

/*
 * XX001 for a state read back from session_store.tbl that is not a JSON
 * object: the extension stores only objects there, so anything else was
 * written around it, and is refused rather than shown as no keys or merged
 * into (an array || an object is an array).  Returns jsonb so that a CASE
 * can call it in place of a value; VOLATILE, so that the planner never
 * folds it ahead of the CASE's test.
 */
CREATE FUNCTION session_store._state_not_object(tbl text)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'data_corrupted',
        MESSAGE = format('session_store.%s holds a state that is not a JSON object', tbl),
        DETAIL = 'The extension only stores JSON objects in this column; the row was written around it.';
END
$$;

/* An optional JSON object argument (a state or a state delta). */
CREATE FUNCTION session_store._check_object(value jsonb, argname text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF value IS NOT NULL AND jsonb_typeof(value) <> 'object' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('argument "%s" must be a JSON object', argname);
    END IF;
END
$$;

/*
 * A size or count setting, read as the C edition's GUCs are:
 * session_store.max_message_size (bytes, units B/kB/MB/GB/TB, default
 * 16MB, 1024..1073741823) and session_store.max_batch_messages (default
 * 1000, 1..1000000).  Without C a placeholder setting cannot be made
 * superuser-only, so a session that is not a superuser's gets at most the
 * value set for the database (ALTER DATABASE ... SET, by its owner), or
 * the default: it can lower its own limits, never raise them.
 */
CREATE FUNCTION session_store._parse_setting(name text, raw text)
RETURNS bigint
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m text[];
    v numeric;
    lo bigint;
    hi bigint;
BEGIN
    IF name = 'max_message_size' THEN
        lo := 1024; hi := 1073741823;
        m := regexp_match(raw, '^\s*([0-9]+(?:\.[0-9]*)?)\s*(B|kB|MB|GB|TB)?\s*$');
        IF m IS NOT NULL THEN
            v := m[1]::numeric * CASE coalesce(m[2], 'B')
                WHEN 'B' THEN 1 WHEN 'kB' THEN 1024 WHEN 'MB' THEN 1048576
                WHEN 'GB' THEN 1073741824 ELSE 1099511627776 END;
        END IF;
    ELSE
        lo := 1; hi := 1000000;
        m := regexp_match(raw, '^\s*([0-9]+)\s*$');
        IF m IS NOT NULL THEN
            v := m[1]::numeric;
        END IF;
    END IF;
    IF v IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('invalid value for parameter "session_store.%s": "%s"', name, raw);
    END IF;
    v := round(v);
    IF v < lo OR v > hi THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('%s%s is outside the valid range for parameter "session_store.%s" (%s .. %s)',
                             v, CASE WHEN name = 'max_message_size' THEN ' B' ELSE '' END, name, lo, hi);
    END IF;
    RETURN v::bigint;
END
$$;

CREATE FUNCTION session_store._limit(name text)
RETURNS bigint
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    dflt bigint := CASE name WHEN 'max_message_size' THEN 16777216 ELSE 1000 END;
    raw text := current_setting('session_store.' || name, true);
    v bigint;
    ceiling bigint := dflt;
    cfg text;
BEGIN
    IF raw IS NULL OR raw = '' THEN
        RETURN dflt;
    END IF;
    v := session_store._parse_setting(name, raw);
    IF v <= dflt OR current_setting('is_superuser') = 'on' THEN
        RETURN v;
    END IF;
    SELECT substr(s.c, length(name) + 16) INTO cfg
    FROM pg_catalog.pg_db_role_setting d, unnest(d.setconfig) s(c)
    WHERE d.setdatabase = (SELECT oid FROM pg_catalog.pg_database
                           WHERE datname = current_database())
      AND d.setrole = 0
      AND s.c LIKE 'session_store.' || name || '=%';
    IF cfg IS NOT NULL THEN
        ceiling := greatest(ceiling, session_store._parse_setting(name, cfg));
    END IF;
    RETURN least(v, ceiling);
END
$$;

/*
 * The messages argument of append_messages and replace_messages: a JSON
 * array (possibly empty) of objects, at most max_batch_messages of at most
 * max_message_size bytes each (as jsonb).  Returns the array's length.
 */
CREATE FUNCTION session_store._check_messages(value jsonb, argname text)
RETURNS integer
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n integer;
    max_batch bigint;
    max_size bigint;
    bad record;
BEGIN
    IF value IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
            MESSAGE = format('argument "%s" must not be null', argname);
    END IF;
    IF jsonb_typeof(value) <> 'array' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('argument "%s" must be a JSON array of objects', argname);
    END IF;
    n := jsonb_array_length(value);
    IF n = 0 THEN
        RETURN 0;
    END IF;
    max_batch := session_store._limit('max_batch_messages');
    IF n > max_batch THEN
        RAISE EXCEPTION USING ERRCODE = 'program_limit_exceeded',
            MESSAGE = 'too many messages in one call',
            DETAIL = format('The batch has %s messages; session_store.max_batch_messages is %s.', n, max_batch),
            HINT = 'Append in smaller batches, or raise session_store.max_batch_messages.';
    END IF;
    max_size := session_store._limit('max_message_size');
    SELECT e.ord - 1 AS idx, jsonb_typeof(e.m) AS kind, pg_column_size(e.m) - 4 AS size INTO bad
    FROM jsonb_array_elements(value) WITH ORDINALITY e(m, ord)
    WHERE jsonb_typeof(e.m) <> 'object' OR pg_column_size(e.m) - 4 > max_size
    ORDER BY e.ord
    LIMIT 1;
    IF FOUND THEN
        IF bad.kind <> 'object' THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('argument "%s" must be a JSON array of objects', argname),
                DETAIL = format('The element at index %s is not a JSON object.', bad.idx);
        END IF;
        RAISE EXCEPTION USING ERRCODE = 'program_limit_exceeded',
            MESSAGE = format('message at index %s is too large', bad.idx),
            DETAIL = format('It is %s bytes as jsonb; session_store.max_message_size is %s bytes.', bad.size, max_size),
            HINT = 'Store large payloads elsewhere and keep a reference in the message, or raise session_store.max_message_size.';
    END IF;
    RETURN n;
END
$$;

/*
 * The advisory lock key of a session: lock space 21331 (the first key of
 * the two-integer form), and a hash of the three names.  A hash collision
 * only makes two sessions share a lock.  Callers take it with
 *   PERFORM pg_catalog.pg_advisory_xact_lock(21331, session_store._lock_key(a, u, s));
 * and, to never wait (expire_sessions), pg_try_advisory_xact_lock.  Two
 * sessions (fork_session) are locked in ascending key order.
 */
CREATE FUNCTION session_store._lock_key(app_name text, user_id text, session_id text)
RETURNS integer
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.hashtext(
        pg_catalog.length(app_name)::pg_catalog.text OPERATOR(pg_catalog.||) ':' OPERATOR(pg_catalog.||)
        app_name OPERATOR(pg_catalog.||) pg_catalog.length(user_id)::pg_catalog.text OPERATOR(pg_catalog.||)
        ':' OPERATOR(pg_catalog.||) user_id OPERATOR(pg_catalog.||) session_id)
$$;

/*
 * Split a state delta (a JSON object, or NULL) by scope: app:NAME to the
 * app's state, user:NAME to the user's, temp:NAME dropped, anything else
 * the session's.  For each scope: whether the delta touches it, the keys
 * to set (an object) and the keys to remove (a JSON null, unless
 * keep_nulls, where it is stored like any other value).  Applied as
 * (state - remove) || set on the latest row version, so concurrent deltas
 * to different keys of one row never undo each other.
 */
CREATE FUNCTION session_store._route(delta jsonb, keep_nulls boolean,
    OUT s_touch boolean, OUT s_set jsonb, OUT s_rm text[],
    OUT u_touch boolean, OUT u_set jsonb, OUT u_rm text[],
    OUT a_touch boolean, OUT a_set jsonb, OUT a_rm text[])
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    s_touch := false; u_touch := false; a_touch := false;
    IF delta IS NULL THEN
        RETURN;
    END IF;
    SELECT bool_or(scope = 's'), coalesce(jsonb_object_agg(name, value) FILTER (WHERE scope = 's' AND NOT rm), '{}'),
           coalesce(array_agg(name) FILTER (WHERE scope = 's' AND rm), '{}'),
           bool_or(scope = 'u'), coalesce(jsonb_object_agg(name, value) FILTER (WHERE scope = 'u' AND NOT rm), '{}'),
           coalesce(array_agg(name) FILTER (WHERE scope = 'u' AND rm), '{}'),
           bool_or(scope = 'a'), coalesce(jsonb_object_agg(name, value) FILTER (WHERE scope = 'a' AND NOT rm), '{}'),
           coalesce(array_agg(name) FILTER (WHERE scope = 'a' AND rm), '{}')
    INTO s_touch, s_set, s_rm, u_touch, u_set, u_rm, a_touch, a_set, a_rm
    FROM (SELECT CASE WHEN starts_with(e.key, 'app:') THEN 'a'
                      WHEN starts_with(e.key, 'user:') THEN 'u'
                      WHEN starts_with(e.key, 'temp:') THEN 't'
                      ELSE 's' END AS scope,
                 CASE WHEN starts_with(e.key, 'app:') THEN substr(e.key, 5)
                      WHEN starts_with(e.key, 'user:') THEN substr(e.key, 6)
                      ELSE e.key END AS name,
                 e.value,
                 jsonb_typeof(e.value) = 'null' AND NOT keep_nulls AS rm
          FROM jsonb_each(delta) e) r
    WHERE scope <> 't';
    s_touch := coalesce(s_touch, false);
    u_touch := coalesce(u_touch, false);
    a_touch := coalesce(a_touch, false);
END
$$;

/* The merged view of a session's state: its own keys, app: and user: keys with their prefixes. */
CREATE FUNCTION session_store._merged(session_state jsonb, app_state jsonb, user_state jsonb)
RETURNS jsonb
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT session_state
        OPERATOR(pg_catalog.||) coalesce((SELECT pg_catalog.jsonb_object_agg('app:' OPERATOR(pg_catalog.||) e.key, e.value)
                     FROM pg_catalog.jsonb_each(app_state) e), '{}'::pg_catalog.jsonb)
        OPERATOR(pg_catalog.||) coalesce((SELECT pg_catalog.jsonb_object_agg('user:' OPERATOR(pg_catalog.||) e.key, e.value)
                     FROM pg_catalog.jsonb_each(user_state) e), '{}'::pg_catalog.jsonb)
$$;

/* 42704: the session does not exist. */
CREATE FUNCTION session_store._not_found(app_name text, user_id text, session_id text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'undefined_object',
        MESSAGE = format('session "%s" does not exist', session_id),
        DETAIL = format('App "%s", user "%s".', app_name, user_id);
END
$$;
