/* session_store--1.1--1.2.sql */

\echo Use "ALTER EXTENSION session_store UPDATE TO '1.2'" to load this file. \quit

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

-- == idempotency keys for every write ==

/*
 * A key now records which kind of call used it: operation is NULL for
 * append_messages and replace_messages (every key 1.0 and 1.1 stored: their
 * request digest tells the two apart), or the name of the function that
 * recorded it.  A key of one kind is never replayed as another (42710).
 * pop_message's keys keep the popped row: its seq in first_seq and
 * last_seq, its message and create_time in popped_message and popped_time
 * (all NULL when the call popped nothing); rewind_session's and
 * clear_session's keep their count in removed (1.1's column).
 * Nullable columns without a default: added to a filled table without
 * rewriting it.  An operation the functions do not know (a row written
 * around the API) is refused when it is read (XX001).
 */
/*
 * Through EXECUTE, with IF NOT EXISTS, for a distributed installation: Citus
 * propagates a DDL on a distributed table with the statement's query
 * string, which for a statement of this script would be the whole script
 * (42601 on the workers); and Citus then runs this script on every worker
 * itself, where the columns are already there.
 */
DO LANGUAGE plpgsql $keys$
BEGIN
    EXECUTE 'ALTER TABLE session_store.idempotency_keys
        ADD COLUMN IF NOT EXISTS operation text COLLATE "C",
        ADD COLUMN IF NOT EXISTS popped_message jsonb,
        ADD COLUMN IF NOT EXISTS popped_time timestamptz';
END
$keys$;

/*
 * Functions whose argument list grows by a trailing idempotency_key.  Each
 * new signature is created next to the old one, gets every privilege that
 * was granted on the old one, and the old one is dropped, so that no call
 * can be ambiguous.
 */
CREATE FUNCTION session_store.create_session(
    app_name text, user_id text,
    state jsonb DEFAULT NULL, session_id text DEFAULT NULL,
    keep_nulls boolean DEFAULT false,
    idempotency_key text DEFAULT NULL)
RETURNS session_store.session
AS 'MODULE_PATHNAME', 'session_store_create_session'
LANGUAGE C VOLATILE;

CREATE FUNCTION session_store.fork_session(
    app_name text, user_id text, session_id text,
    new_session_id text DEFAULT NULL, up_to_seq bigint DEFAULT NULL,
    idempotency_key text DEFAULT NULL)
RETURNS session_store.session
AS 'MODULE_PATHNAME', 'session_store_fork_session'
LANGUAGE C VOLATILE;

CREATE FUNCTION session_store.pop_message(
    app_name text, user_id text, session_id text,
    expected_version bigint DEFAULT NULL,
    idempotency_key text DEFAULT NULL)
RETURNS TABLE (seq bigint, message jsonb, create_time timestamptz)
AS 'MODULE_PATHNAME', 'session_store_pop_message'
LANGUAGE C VOLATILE ROWS 1;

CREATE FUNCTION session_store.rewind_session(
    app_name text, user_id text, session_id text, to_seq bigint,
    expected_version bigint DEFAULT NULL,
    idempotency_key text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'session_store_rewind_session'
LANGUAGE C VOLATILE;

CREATE FUNCTION session_store.clear_session(
    app_name text, user_id text, session_id text,
    expected_version bigint DEFAULT NULL,
    idempotency_key text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'session_store_clear_session'
LANGUAGE C VOLATILE;

REVOKE ALL ON FUNCTION
    session_store.create_session(text, text, jsonb, text, boolean, text),
    session_store.fork_session(text, text, text, text, bigint, text),
    session_store.pop_message(text, text, text, bigint, text),
    session_store.rewind_session(text, text, text, bigint, bigint, text),
    session_store.clear_session(text, text, text, bigint, text)
FROM PUBLIC;

/*
 * Carry the privileges of each old signature over to its replacement: one
 * GRANT per grantee of the old ACL (PUBLIC included, grant option kept).
 * The replacement's initial privileges (pg_init_privs) are then put back to
 * those of a fresh install, so that pg_dump dumps the carried grants, as it
 * dumped them on the old function (see session_store--1.0--1.1.sql).
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
            ('session_store.create_session(text, text, jsonb, text, boolean)',
             'session_store.create_session(text, text, jsonb, text, boolean, text)'),
            ('session_store.fork_session(text, text, text, text, bigint)',
             'session_store.fork_session(text, text, text, text, bigint, text)'),
            ('session_store.pop_message(text, text, text, bigint)',
             'session_store.pop_message(text, text, text, bigint, text)'),
            ('session_store.rewind_session(text, text, text, bigint, bigint)',
             'session_store.rewind_session(text, text, text, bigint, bigint, text)'),
            ('session_store.clear_session(text, text, text, bigint)',
             'session_store.clear_session(text, text, text, bigint, text)')
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

DROP FUNCTION session_store.create_session(text, text, jsonb, text, boolean);
DROP FUNCTION session_store.fork_session(text, text, text, text, bigint);
DROP FUNCTION session_store.pop_message(text, text, text, bigint);
DROP FUNCTION session_store.rewind_session(text, text, text, bigint, bigint);
DROP FUNCTION session_store.clear_session(text, text, text, bigint);

-- == list_sessions with state ==

/*
 * list_sessions_with_state(): list_sessions' page (the same arguments, rows,
 * order and page tokens; a token of either continues the listing in the
 * other), each row with the session's merged state as get_session returns
 * it: the session's keys, its user's as user:NAME, its app's as app:NAME,
 * all read on one snapshot.  Still O(page_size): the same index range scans,
 * plus one primary-key probe of user_states per listed row and one read of
 * the app's state per call, never a scan of the app.
 *
 * A new function, not a trailing "with_state boolean DEFAULT false" on
 * list_sessions: a function has one result type, and the state needs a
 * column that session_store.session_summary does not have.  Adding it to
 * that type would change the result of every 1.1 call (SELECT * would
 * return a column more, and a client reading rows by position or into a
 * record of the type would break); a result whose shape depends on an
 * argument is not a PostgreSQL function.  So list_sessions keeps its exact
 * 1.1 result, and the new function returns the summary's columns in the
 * same order plus state.
 */
CREATE TYPE session_store.session_summary_with_state AS (
    user_id         text,
    session_id      text,
    version         bigint,
    last_seq        bigint,
    create_time     timestamptz,
    update_time     timestamptz,
    next_page_token text,           -- the same token list_sessions returns
    state           jsonb           -- merged view, as get_session's
);

CREATE FUNCTION session_store.list_sessions_with_state(
    app_name text, user_id text DEFAULT NULL,
    page_size integer DEFAULT 100, page_token text DEFAULT NULL,
    ascending boolean DEFAULT false)
RETURNS SETOF session_store.session_summary_with_state
AS 'MODULE_PATHNAME', 'session_store_list_sessions_with_state'
LANGUAGE C STABLE ROWS 100;

REVOKE ALL ON FUNCTION
    session_store.list_sessions_with_state(text, text, integer, text, boolean)
FROM PUBLIC;

/*
 * Its privileges on an updated installation: EXECUTE for every grantee
 * (PUBLIC included) that holds EXECUTE on both list_sessions and
 * get_session, with the grant option when it holds that on both.  What the
 * function returns, such a grantee could read already (list_sessions, then
 * get_session per row), so this grants no new access, and an application
 * that moves from that pair of calls to this one keeps working after the
 * update; a role that holds only one of the two gets nothing.  As for the
 * replaced signatures above, the function's initial privileges are put
 * back to those of a fresh install, so that pg_dump dumps these grants.
 */
DO $carry_list$
DECLARE
    new_fn pg_catalog.regprocedure :=
        'session_store.list_sessions_with_state(text, text, integer, text, boolean)'::pg_catalog.regprocedure;
    g record;
    init_acl pg_catalog.aclitem[];
BEGIN
    SELECT p.proacl INTO init_acl
    FROM pg_catalog.pg_proc p WHERE p.oid OPERATOR(pg_catalog.=) new_fn;

    FOR g IN
        SELECT l.grantee, l.is_grantable AND s.is_grantable AS is_grantable
        FROM (SELECT a.grantee, a.is_grantable
              FROM pg_catalog.pg_proc p, pg_catalog.aclexplode(p.proacl) a
              WHERE p.oid OPERATOR(pg_catalog.=)
                    'session_store.list_sessions(text, text, integer, text, boolean)'::pg_catalog.regprocedure
                AND a.privilege_type OPERATOR(pg_catalog.=) 'EXECUTE'
                AND a.grantee OPERATOR(pg_catalog.<>) p.proowner) l
        JOIN (SELECT a.grantee, a.is_grantable
              FROM pg_catalog.pg_proc p, pg_catalog.aclexplode(p.proacl) a
              WHERE p.oid OPERATOR(pg_catalog.=)
                    'session_store.get_session(text, text, text)'::pg_catalog.regprocedure
                AND a.privilege_type OPERATOR(pg_catalog.=) 'EXECUTE'
                AND a.grantee OPERATOR(pg_catalog.<>) p.proowner) s
          ON s.grantee OPERATOR(pg_catalog.=) l.grantee
    LOOP
        -- the function named with its schema, not as new_fn prints on the
        -- script's search_path
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION '
            'session_store.list_sessions_with_state(text, text, integer, text, boolean) TO %s%s',
            CASE WHEN g.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
                 ELSE g.grantee::pg_catalog.regrole::pg_catalog.text END,
            CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
    END LOOP;

    UPDATE pg_catalog.pg_init_privs
    SET initprivs = init_acl
    WHERE objoid OPERATOR(pg_catalog.=) new_fn
      AND classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
      AND objsubid OPERATOR(pg_catalog.=) 0;
END
$carry_list$;

-- == Citus ==

/*
 * delegate_functions(): on a distributed installation, delegate by user_id
 * every function of the extension that takes a required user_id and is not
 * delegated yet, colocated with sessions as distribute() does; returns the
 * signatures it delegated (none when there is nothing left to do).  The
 * step after ALTER EXTENSION UPDATE of a distributed installation: the new
 * signatures of an update cannot be delegated inside the update, because
 * Citus updates the workers only after the coordinator's script.
 * Same caller as distribute(): a superuser or the extension owner.
 * Without Citus: 0A000; not distributed: 55000.
 */
CREATE FUNCTION session_store.delegate_functions()
RETURNS SETOF pg_catalog.regprocedure
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $delegate$
DECLARE
    fn pg_catalog.regprocedure;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension
                   WHERE extname OPERATOR(pg_catalog.=) 'citus') THEN
        RAISE EXCEPTION USING
            ERRCODE = 'feature_not_supported',
            MESSAGE = 'extension "citus" is not installed in this database',
            HINT = 'session_store.delegate_functions() runs on the coordinator of a Citus cluster, after session_store.distribute().';
    END IF;
    IF NOT (SELECT pg_catalog.pg_has_role(pg_catalog.current_user(), e.extowner, 'USAGE')
            FROM pg_catalog.pg_extension e
            WHERE e.extname OPERATOR(pg_catalog.=) 'session_store') THEN
        RAISE EXCEPTION USING
            ERRCODE = 'insufficient_privilege',
            MESSAGE = 'permission denied to delegate the functions of extension "session_store"',
            DETAIL = 'Only the owner of the extension or a superuser can delegate its functions.';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition
                   WHERE logicalrelid OPERATOR(pg_catalog.=) 'session_store.sessions'::pg_catalog.regclass) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = 'extension "session_store" is not distributed',
            HINT = 'Distribute it with session_store.distribute(), which delegates the functions too.';
    END IF;

    /*
     * user_id is the second input argument and has no default (list_sessions
     * and count_sessions take an optional one: not delegated, as in
     * distribute()); members of the extension only.
     */
    FOR fn IN
        SELECT p.oid::pg_catalog.regprocedure
        FROM pg_catalog.pg_proc p
        JOIN pg_catalog.pg_depend d
          ON d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
         AND d.objid OPERATOR(pg_catalog.=) p.oid
         AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
         AND d.deptype OPERATOR(pg_catalog.=) 'e'
        JOIN pg_catalog.pg_extension e
          ON e.oid OPERATOR(pg_catalog.=) d.refobjid
         AND e.extname OPERATOR(pg_catalog.=) 'session_store'
        WHERE p.pronamespace OPERATOR(pg_catalog.=) 'session_store'::pg_catalog.regnamespace
          AND p.proargnames[2] OPERATOR(pg_catalog.=) 'user_id'
          AND (p.proargmodes IS NULL OR p.proargmodes[2] OPERATOR(pg_catalog.=) 'i')
          AND p.pronargs OPERATOR(pg_catalog.-) p.pronargdefaults OPERATOR(pg_catalog.>=) 2
          AND NOT EXISTS (
              SELECT 1 FROM pg_catalog.pg_dist_object o
              WHERE o.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
                AND o.objid OPERATOR(pg_catalog.=) p.oid
                AND o.distribution_argument_index IS NOT NULL)
        ORDER BY p.proname, p.oid
    LOOP
        PERFORM pg_catalog.create_distributed_function(fn, 'user_id',
            colocate_with => 'session_store.sessions');
        RETURN NEXT fn;
    END LOOP;
END
$delegate$;

REVOKE EXECUTE ON FUNCTION session_store.delegate_functions() FROM PUBLIC;

-- == editions ==

/*
 * edition(): which edition of session_store this database holds and its
 * version, one call in both editions ('c' here, 'portable' for the SQL
 * and PL/pgSQL edition).
 */
CREATE FUNCTION session_store.edition(OUT edition text, OUT version text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $edition$
    SELECT 'c'::pg_catalog.text, e.extversion::pg_catalog.text
    FROM pg_catalog.pg_extension e
    WHERE e.extname OPERATOR(pg_catalog.=) 'session_store'
$edition$;

REVOKE EXECUTE ON FUNCTION session_store.edition() FROM PUBLIC;
