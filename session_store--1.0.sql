/* session_store--1.0.sql */

\echo Use "CREATE EXTENSION session_store" to load this file. \quit

/*
 * The schema must be the installing role's.  CREATE EXTENSION creates it
 * (the control file names it) unless it exists already; one created before
 * by another role would leave that role in control of every object below
 * and of what their names resolve to.  Nothing here is resolved through
 * search_path before this check.  Nor is the C edition ever installed over
 * the portable edition (SQL and PL/pgSQL, in the same schema): a database
 * moves from that one to this one by portable/to_c_edition.sql.
 */
DO LANGUAGE plpgsql $guard$
DECLARE
    schema_owner pg_catalog.oid;
BEGIN
    IF pg_catalog.to_regprocedure('session_store.edition()') IS NOT NULL THEN
        RAISE EXCEPTION USING
            ERRCODE = 'duplicate_object',
            MESSAGE = 'the portable edition of session_store is installed in this database',
            HINT = 'The C edition is never installed over the portable edition: portable/to_c_edition.sql moves a database to the C edition.';
    END IF;
    SELECT n.nspowner INTO schema_owner
    FROM pg_catalog.pg_namespace n
    WHERE n.nspname OPERATOR(pg_catalog.=) 'session_store'::pg_catalog.name;
    IF schema_owner OPERATOR(pg_catalog.<>) (
        SELECT e.extowner FROM pg_catalog.pg_extension e
        WHERE e.extname OPERATOR(pg_catalog.=) 'session_store'::pg_catalog.name)
    THEN
        RAISE EXCEPTION USING
            ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = pg_catalog.format(
                'schema "session_store" already exists and is owned by role %s, not by the installing role',
                schema_owner::pg_catalog.regrole),
            DETAIL = 'The owner of the schema could change every object of the extension.',
            HINT = 'Drop the schema, or have a superuser make the installing role its owner, then create the extension.';
    END IF;
END
$guard$;

/*
 * Storage.
 *
 * Every table is reached only through the functions below, which run their
 * SQL as the extension owner; no other role is granted anything on them.
 *
 * user_id is the column a sharded deployment would distribute on: it is in
 * every primary key of sessions, messages, idempotency_keys and user_states,
 * so a session, its messages and its user's state stay together.  app_states
 * is small and would be a reference table.  Identifier columns use the "C"
 * collation: comparisons are bytewise, cheap, and give list_sessions a
 * deterministic order.
 */

CREATE SEQUENCE session_store.session_sid_seq AS bigint;

CREATE TABLE session_store.sessions (
    app_name    text COLLATE "C" NOT NULL,
    user_id     text COLLATE "C" NOT NULL,
    session_id  text COLLATE "C" NOT NULL,
    sid         bigint NOT NULL,          -- internal key of the session's messages
    state       jsonb NOT NULL,           -- session-scoped keys only
    version     bigint NOT NULL,
    last_seq    bigint NOT NULL,
    create_time timestamptz NOT NULL,
    update_time timestamptz NOT NULL,
    PRIMARY KEY (app_name, user_id, session_id)
);

-- list_sessions: one index per listing shape, so a page is a bounded range scan
CREATE INDEX sessions_app_recent_idx
    ON session_store.sessions (app_name, update_time DESC, user_id, session_id);
CREATE INDEX sessions_user_recent_idx
    ON session_store.sessions (app_name, user_id, update_time DESC, session_id);

CREATE TABLE session_store.messages (
    user_id     text COLLATE "C" NOT NULL,
    sid         bigint NOT NULL,
    seq         bigint NOT NULL,
    message     jsonb NOT NULL,
    create_time timestamptz NOT NULL,
    PRIMARY KEY (user_id, sid, seq)
);

CREATE TABLE session_store.idempotency_keys (
    user_id         text COLLATE "C" NOT NULL,
    sid             bigint NOT NULL,
    idempotency_key text COLLATE "C" NOT NULL,
    first_seq       bigint,
    last_seq        bigint,
    version         bigint NOT NULL,
    update_time     timestamptz NOT NULL,
    PRIMARY KEY (user_id, sid, idempotency_key)
);

CREATE TABLE session_store.user_states (
    app_name    text COLLATE "C" NOT NULL,
    user_id     text COLLATE "C" NOT NULL,
    state       jsonb NOT NULL,
    PRIMARY KEY (app_name, user_id)
);

CREATE TABLE session_store.app_states (
    app_name    text COLLATE "C" NOT NULL,
    state       jsonb NOT NULL,
    PRIMARY KEY (app_name)
);

/* Result types */

CREATE TYPE session_store.session AS (
    app_name    text,
    user_id     text,
    session_id  text,
    state       jsonb,
    version     bigint,
    last_seq    bigint,
    create_time timestamptz,
    update_time timestamptz
);

CREATE TYPE session_store.session_summary AS (
    user_id         text,
    session_id      text,
    version         bigint,
    last_seq        bigint,
    create_time     timestamptz,
    update_time     timestamptz,
    next_page_token text
);

/*
 * Functions.  None is STRICT: a NULL where a value is required is an error
 * (22004), not a silent NULL result.
 */

CREATE FUNCTION session_store.create_session(
    app_name text, user_id text,
    state jsonb DEFAULT NULL, session_id text DEFAULT NULL)
RETURNS session_store.session
AS 'MODULE_PATHNAME', 'session_store_create_session'
LANGUAGE C VOLATILE;

CREATE FUNCTION session_store.get_session(
    app_name text, user_id text, session_id text)
RETURNS SETOF session_store.session
AS 'MODULE_PATHNAME', 'session_store_get_session'
LANGUAGE C STABLE ROWS 1;

CREATE FUNCTION session_store.delete_session(
    app_name text, user_id text, session_id text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'session_store_delete_session'
LANGUAGE C VOLATILE;

CREATE FUNCTION session_store.append_messages(
    app_name text, user_id text, session_id text, messages jsonb,
    state_delta jsonb DEFAULT NULL, expected_version bigint DEFAULT NULL,
    idempotency_key text DEFAULT NULL)
RETURNS TABLE (first_seq bigint, last_seq bigint, version bigint,
               update_time timestamptz, replayed boolean)
AS 'MODULE_PATHNAME', 'session_store_append_messages'
LANGUAGE C VOLATILE ROWS 1;

CREATE FUNCTION session_store.get_messages(
    app_name text, user_id text, session_id text,
    max_count integer DEFAULT NULL, after_seq bigint DEFAULT NULL,
    before_seq bigint DEFAULT NULL)
RETURNS TABLE (seq bigint, message jsonb, create_time timestamptz)
AS 'MODULE_PATHNAME', 'session_store_get_messages'
LANGUAGE C STABLE;

CREATE FUNCTION session_store.list_sessions(
    app_name text, user_id text DEFAULT NULL,
    page_size integer DEFAULT 100, page_token text DEFAULT NULL)
RETURNS SETOF session_store.session_summary
AS 'MODULE_PATHNAME', 'session_store_list_sessions'
LANGUAGE C STABLE ROWS 100;

CREATE FUNCTION session_store.pop_message(
    app_name text, user_id text, session_id text,
    expected_version bigint DEFAULT NULL)
RETURNS TABLE (seq bigint, message jsonb, create_time timestamptz)
AS 'MODULE_PATHNAME', 'session_store_pop_message'
LANGUAGE C VOLATILE ROWS 1;

CREATE FUNCTION session_store.rewind_session(
    app_name text, user_id text, session_id text, to_seq bigint,
    expected_version bigint DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'session_store_rewind_session'
LANGUAGE C VOLATILE;

CREATE FUNCTION session_store.clear_session(
    app_name text, user_id text, session_id text,
    expected_version bigint DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'session_store_clear_session'
LANGUAGE C VOLATILE;

CREATE FUNCTION session_store.fork_session(
    app_name text, user_id text, session_id text,
    new_session_id text DEFAULT NULL, up_to_seq bigint DEFAULT NULL)
RETURNS session_store.session
AS 'MODULE_PATHNAME', 'session_store_fork_session'
LANGUAGE C VOLATILE;

CREATE FUNCTION session_store.expire_sessions(
    idle_for interval, app_name text DEFAULT NULL,
    max_sessions integer DEFAULT 1000)
RETURNS bigint
AS 'MODULE_PATHNAME', 'session_store_expire_sessions'
LANGUAGE C VOLATILE;

CREATE FUNCTION session_store.get_app_state(app_name text)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'session_store_get_app_state'
LANGUAGE C STABLE;

CREATE FUNCTION session_store.get_user_state(app_name text, user_id text)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'session_store_get_user_state'
LANGUAGE C STABLE;

/* pg_dump and pg_restore carry the data of every table and the sequence. */
SELECT pg_catalog.pg_extension_config_dump('session_store.sessions', '');
SELECT pg_catalog.pg_extension_config_dump('session_store.messages', '');
SELECT pg_catalog.pg_extension_config_dump('session_store.idempotency_keys', '');
SELECT pg_catalog.pg_extension_config_dump('session_store.user_states', '');
SELECT pg_catalog.pg_extension_config_dump('session_store.app_states', '');
SELECT pg_catalog.pg_extension_config_dump('session_store.session_sid_seq', '');

/*
 * Privileges: nothing for PUBLIC.  An administrator grants USAGE on the
 * schema and EXECUTE on the functions; the tables stay private to the owner.
 */
REVOKE ALL ON ALL TABLES IN SCHEMA session_store FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA session_store FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA session_store FROM PUBLIC;
