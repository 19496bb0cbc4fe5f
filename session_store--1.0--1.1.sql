/* session_store--1.0--1.1.sql */

\echo Use "ALTER EXTENSION session_store UPDATE TO '1.1'" to load this file. \quit

-- == hardening ==

/*
 * The schema must still be the extension owner's (see the install script):
 * an update does not run in a schema that another role controls.
 */
DO LANGUAGE plpgsql $guard$
DECLARE
    schema_owner pg_catalog.oid;
BEGIN
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
                'schema "session_store" is owned by role %s, not by the owner of extension "session_store"',
                schema_owner::pg_catalog.regrole),
            DETAIL = 'The owner of the schema could change every object of the extension.',
            HINT = 'Have a superuser make the extension owner the owner of the schema, then update the extension.';
    END IF;
END
$guard$;

/*
 * Identifiers are 1 to 128 bytes in the data too, not only in the
 * arguments: rows written around the API (by a superuser, an edited dump,
 * a migration) are held to the bounds the C code relies on.  One ALTER
 * TABLE per table, so each table already holding data is scanned once; a
 * row out of bounds fails the update (23514) and changes nothing.
 */
ALTER TABLE session_store.sessions
    ADD CONSTRAINT sessions_app_name_bytes CHECK (
        pg_catalog.octet_length(app_name) OPERATOR(pg_catalog.>=) 1 AND
        pg_catalog.octet_length(app_name) OPERATOR(pg_catalog.<=) 128),
    ADD CONSTRAINT sessions_user_id_bytes CHECK (
        pg_catalog.octet_length(user_id) OPERATOR(pg_catalog.>=) 1 AND
        pg_catalog.octet_length(user_id) OPERATOR(pg_catalog.<=) 128),
    ADD CONSTRAINT sessions_session_id_bytes CHECK (
        pg_catalog.octet_length(session_id) OPERATOR(pg_catalog.>=) 1 AND
        pg_catalog.octet_length(session_id) OPERATOR(pg_catalog.<=) 128);

ALTER TABLE session_store.messages
    ADD CONSTRAINT messages_user_id_bytes CHECK (
        pg_catalog.octet_length(user_id) OPERATOR(pg_catalog.>=) 1 AND
        pg_catalog.octet_length(user_id) OPERATOR(pg_catalog.<=) 128);

ALTER TABLE session_store.idempotency_keys
    ADD CONSTRAINT idempotency_keys_user_id_bytes CHECK (
        pg_catalog.octet_length(user_id) OPERATOR(pg_catalog.>=) 1 AND
        pg_catalog.octet_length(user_id) OPERATOR(pg_catalog.<=) 128),
    ADD CONSTRAINT idempotency_keys_idempotency_key_bytes CHECK (
        pg_catalog.octet_length(idempotency_key) OPERATOR(pg_catalog.>=) 1 AND
        pg_catalog.octet_length(idempotency_key) OPERATOR(pg_catalog.<=) 128);

ALTER TABLE session_store.user_states
    ADD CONSTRAINT user_states_app_name_bytes CHECK (
        pg_catalog.octet_length(app_name) OPERATOR(pg_catalog.>=) 1 AND
        pg_catalog.octet_length(app_name) OPERATOR(pg_catalog.<=) 128),
    ADD CONSTRAINT user_states_user_id_bytes CHECK (
        pg_catalog.octet_length(user_id) OPERATOR(pg_catalog.>=) 1 AND
        pg_catalog.octet_length(user_id) OPERATOR(pg_catalog.<=) 128);

ALTER TABLE session_store.app_states
    ADD CONSTRAINT app_states_app_name_bytes CHECK (
        pg_catalog.octet_length(app_name) OPERATOR(pg_catalog.>=) 1 AND
        pg_catalog.octet_length(app_name) OPERATOR(pg_catalog.<=) 128);

-- == framework additions ==

/*
 * Idempotency keys remember a digest of the request they were used with
 * (sha256; NULL for keys stored by 1.0, which replay as before) and, for
 * replace_messages, how many messages the call removed.  Nullable columns
 * without a default: added to a filled table without rewriting it.
 */
ALTER TABLE session_store.idempotency_keys
    ADD COLUMN request_digest bytea,
    ADD COLUMN removed bigint;

/*
 * Functions whose argument list grows.  Each new signature is created next
 * to the old one, gets every privilege that was granted on the old one,
 * and the old one is dropped, so that no call can be ambiguous.
 */
CREATE FUNCTION session_store.create_session(
    app_name text, user_id text,
    state jsonb DEFAULT NULL, session_id text DEFAULT NULL,
    keep_nulls boolean DEFAULT false)
RETURNS session_store.session
AS 'MODULE_PATHNAME', 'session_store_create_session'
LANGUAGE C VOLATILE;

CREATE FUNCTION session_store.append_messages(
    app_name text, user_id text, session_id text, messages jsonb,
    state_delta jsonb DEFAULT NULL, expected_version bigint DEFAULT NULL,
    idempotency_key text DEFAULT NULL,
    keep_nulls boolean DEFAULT false,
    message_time timestamptz DEFAULT NULL,
    verify_replay boolean DEFAULT false)
RETURNS TABLE (first_seq bigint, last_seq bigint, version bigint,
               update_time timestamptz, replayed boolean)
AS 'MODULE_PATHNAME', 'session_store_append_messages'
LANGUAGE C VOLATILE ROWS 1;

CREATE FUNCTION session_store.get_messages(
    app_name text, user_id text, session_id text,
    max_count integer DEFAULT NULL, after_seq bigint DEFAULT NULL,
    before_seq bigint DEFAULT NULL,
    after_time timestamptz DEFAULT NULL)
RETURNS TABLE (seq bigint, message jsonb, create_time timestamptz)
AS 'MODULE_PATHNAME', 'session_store_get_messages'
LANGUAGE C STABLE;

CREATE FUNCTION session_store.list_sessions(
    app_name text, user_id text DEFAULT NULL,
    page_size integer DEFAULT 100, page_token text DEFAULT NULL,
    ascending boolean DEFAULT false)
RETURNS SETOF session_store.session_summary
AS 'MODULE_PATHNAME', 'session_store_list_sessions'
LANGUAGE C STABLE ROWS 100;

/* New functions */

CREATE FUNCTION session_store.replace_messages(
    app_name text, user_id text, session_id text,
    expected_suffix jsonb, replacement jsonb,
    state_delta jsonb DEFAULT NULL, expected_version bigint DEFAULT NULL,
    idempotency_key text DEFAULT NULL, keep_nulls boolean DEFAULT false)
RETURNS TABLE (first_seq bigint, last_seq bigint, version bigint,
               update_time timestamptz, replayed boolean, removed bigint)
AS 'MODULE_PATHNAME', 'session_store_replace_messages'
LANGUAGE C VOLATILE ROWS 1;

CREATE FUNCTION session_store.count_sessions(
    app_name text, user_id text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'session_store_count_sessions'
LANGUAGE C STABLE;

REVOKE ALL ON FUNCTION
    session_store.create_session(text, text, jsonb, text, boolean),
    session_store.append_messages(text, text, text, jsonb, jsonb, bigint, text,
                                  boolean, timestamptz, boolean),
    session_store.get_messages(text, text, text, integer, bigint, bigint,
                               timestamptz),
    session_store.list_sessions(text, text, integer, text, boolean),
    session_store.replace_messages(text, text, text, jsonb, jsonb, jsonb,
                                   bigint, text, boolean),
    session_store.count_sessions(text, text)
FROM PUBLIC;

/*
 * Carry the privileges of each old signature over to its replacement: one
 * GRANT per grantee of the old ACL (PUBLIC included, grant option kept).
 *
 * A GRANT run by an extension script is recorded in pg_init_privs as part
 * of the extension's initial privileges, and pg_dump leaves those out.  The
 * carried grants were made by an administrator, not by the extension, so
 * the replacement's initial privileges are put back to what they were
 * before the carry (those of a fresh install): pg_dump then dumps the
 * carried grants, as it dumped them on the old function.
 */
DO $carry$
DECLARE
    pair record;
    g record;
    init_acl pg_catalog.aclitem[];
BEGIN
    FOR pair IN
        SELECT o::pg_catalog.regprocedure AS old_fn, n::pg_catalog.regprocedure AS new_fn
        FROM (VALUES
            ('session_store.create_session(text, text, jsonb, text)',
             'session_store.create_session(text, text, jsonb, text, boolean)'),
            ('session_store.append_messages(text, text, text, jsonb, jsonb, bigint, text)',
             'session_store.append_messages(text, text, text, jsonb, jsonb, bigint, text, boolean, timestamptz, boolean)'),
            ('session_store.get_messages(text, text, text, integer, bigint, bigint)',
             'session_store.get_messages(text, text, text, integer, bigint, bigint, timestamptz)'),
            ('session_store.list_sessions(text, text, integer, text)',
             'session_store.list_sessions(text, text, integer, text, boolean)')
        ) AS v(o, n)
    LOOP
        SELECT p.proacl INTO init_acl
        FROM pg_catalog.pg_proc p WHERE p.oid OPERATOR(pg_catalog.=) pair.new_fn;

        FOR g IN
            SELECT a.grantee, a.is_grantable
            FROM pg_catalog.pg_proc p,
                 pg_catalog.aclexplode(p.proacl) a
            WHERE p.oid OPERATOR(pg_catalog.=) pair.old_fn
              AND a.privilege_type OPERATOR(pg_catalog.=) 'EXECUTE'
              AND a.grantee OPERATOR(pg_catalog.<>) p.proowner
        LOOP
            EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %s%s',
                pair.new_fn,
                CASE WHEN g.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
                     ELSE g.grantee::pg_catalog.regrole::pg_catalog.text END,
                CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
        END LOOP;

        UPDATE pg_catalog.pg_init_privs
        SET initprivs = init_acl
        WHERE objoid OPERATOR(pg_catalog.=) pair.new_fn
          AND classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
          AND objsubid OPERATOR(pg_catalog.=) 0;
    END LOOP;
END
$carry$;

DROP FUNCTION session_store.create_session(text, text, jsonb, text);
DROP FUNCTION session_store.append_messages(text, text, text, jsonb, jsonb, bigint, text);
DROP FUNCTION session_store.get_messages(text, text, text, integer, bigint, bigint);
DROP FUNCTION session_store.list_sessions(text, text, integer, text);
