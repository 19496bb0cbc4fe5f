/* session_store--1.0--1.1.sql */

\echo Use "CREATE EXTENSION session_store" to load this file. \quit

-- == hardening ==

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
             'session_store.get_messages(text, text, text, integer, bigint, bigint, timestamptz)')
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
