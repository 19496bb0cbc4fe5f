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

-- == Citus ==

/*
 * distribute(shard_count): run session_store on Citus, in one call, on the
 * coordinator.  sessions, messages, idempotency_keys and user_states are
 * distributed by user_id and colocated, so a session, its messages, its
 * keys and its user's state share one shard.  app_states is distributed by
 * app_name, on its own: not a reference table, because Citus serializes
 * every UPDATE or upsert of a reference table through one lock for the
 * whole table, so app: deltas of different apps would wait for each other;
 * distributed, each app's row has one placement and only writers of the
 * same app's state wait (SPEC guarantee 5).  Rows already stored move
 * into the shards.
 * Every function that takes a user_id (except list_sessions and
 * count_sessions, whose user_id is optional) is delegated by it, so a call
 * runs on the node that holds the user's shard.  sid becomes a random key,
 * unique per user through the index sessions (user_id, sid) made here.
 *
 * Needs session_store loaded through shared_preload_libraries after citus
 * on every node (its planner guard keeps a NULL user_id away from Citus's
 * delegation), and the caller must be a superuser or the extension owner.
 * Without Citus: 0A000; already distributed or preload missing: 55000.
 */
CREATE FUNCTION session_store.distribute(shard_count integer DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $distribute$
DECLARE
    node record;
    fn pg_catalog.regprocedure;
    t pg_catalog.text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension
                   WHERE extname OPERATOR(pg_catalog.=) 'citus') THEN
        RAISE EXCEPTION USING
            ERRCODE = 'feature_not_supported',
            MESSAGE = 'extension "citus" is not installed in this database',
            HINT = 'session_store.distribute() runs on the coordinator of a Citus cluster, after CREATE EXTENSION citus.';
    END IF;
    IF NOT (SELECT pg_catalog.pg_has_role(pg_catalog.current_user(), e.extowner, 'USAGE')
            FROM pg_catalog.pg_extension e
            WHERE e.extname OPERATOR(pg_catalog.=) 'session_store') THEN
        RAISE EXCEPTION USING
            ERRCODE = 'insufficient_privilege',
            MESSAGE = 'permission denied to distribute extension "session_store"',
            DETAIL = 'Only the owner of the extension or a superuser can distribute its tables.';
    END IF;
    IF shard_count OPERATOR(pg_catalog.<) 1 THEN
        RAISE EXCEPTION USING
            ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'argument "shard_count" must be at least 1';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition
               WHERE logicalrelid OPERATOR(pg_catalog.=) 'session_store.sessions'::pg_catalog.regclass) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = 'extension "session_store" is already distributed';
    END IF;

    /* session_store must be preloaded after citus, here and on every worker */
    FOR node IN
        SELECT 'this node' AS name,
               pg_catalog.current_setting('shared_preload_libraries') AS libs
        UNION ALL
        SELECT w.nodename OPERATOR(pg_catalog.||) ':' OPERATOR(pg_catalog.||) w.nodeport::pg_catalog.text,
               CASE WHEN w.success THEN w.result END
        FROM pg_catalog.run_command_on_workers('SHOW shared_preload_libraries') w
    LOOP
        IF NOT coalesce((
            SELECT pg_catalog.array_position(a, 'session_store') OPERATOR(pg_catalog.>)
                   pg_catalog.array_position(a, 'citus')
            FROM (SELECT pg_catalog.regexp_split_to_array(
                      pg_catalog.regexp_replace(node.libs, '[[:space:]"]|\$libdir/', '', 'g'),
                      ',') AS a) l), false) THEN
            RAISE EXCEPTION USING
                ERRCODE = 'object_not_in_prerequisite_state',
                MESSAGE = pg_catalog.format('session_store is not preloaded after citus on %s', node.name),
                DETAIL = pg_catalog.format('shared_preload_libraries is %L.', node.libs),
                HINT = 'Set shared_preload_libraries = ''citus,session_store'' on every node and restart it.';
        END IF;
    END LOOP;

    CREATE UNIQUE INDEX sessions_user_sid_key
        ON session_store.sessions (user_id, sid);

    PERFORM pg_catalog.create_distributed_table('session_store.sessions'::pg_catalog.regclass,
        'user_id', shard_count => shard_count);
    FOREACH t IN ARRAY ARRAY['messages', 'idempotency_keys', 'user_states'] LOOP
        PERFORM pg_catalog.create_distributed_table(
            pg_catalog.format('session_store.%I', t)::pg_catalog.regclass,
            'user_id', colocate_with => 'session_store.sessions');
    END LOOP;
    PERFORM pg_catalog.create_distributed_table('session_store.app_states'::pg_catalog.regclass,
        'app_name', colocate_with => 'none', shard_count => shard_count);

    /* the rows that were copied into the shards leave the local tables */
    FOREACH t IN ARRAY ARRAY['sessions', 'messages', 'idempotency_keys', 'user_states', 'app_states'] LOOP
        PERFORM pg_catalog.truncate_local_data_after_distributing_table(
            pg_catalog.format('session_store.%I', t)::pg_catalog.regclass);
    END LOOP;

    FOR fn IN
        SELECT p.oid::pg_catalog.regprocedure
        FROM pg_catalog.pg_proc p
        WHERE p.pronamespace OPERATOR(pg_catalog.=) 'session_store'::pg_catalog.regnamespace
          AND p.proargnames[2] OPERATOR(pg_catalog.=) 'user_id'
          AND p.proname OPERATOR(pg_catalog.<>) ALL (ARRAY['list_sessions', 'count_sessions']::pg_catalog.name[])
        ORDER BY p.proname
    LOOP
        PERFORM pg_catalog.create_distributed_function(fn, 'user_id',
            colocate_with => 'session_store.sessions');
    END LOOP;
END
$distribute$;

REVOKE EXECUTE ON FUNCTION session_store.distribute(integer) FROM PUBLIC;
