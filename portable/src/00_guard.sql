/*
 * session_store, portable edition: the same API as the C extension, in SQL
 * and PL/pgSQL, for servers that load no C (managed services, pg_tle,
 * PGlite, pip-installed server builds).  Installed by a role with CREATE
 * on the database; no superuser needed.  Every object lives in schema
 * session_store and is owned by the installing role (the "owner").
 *
 * Installers are serialized by an advisory lock (lock space 21331, key 0,
 * the two-integer form); the guard then runs with a snapshot taken after
 * the wait, so a second installer sees what the first one committed and
 * stops with a clean error.
 */
DO LANGUAGE plpgsql $guard$
DECLARE
    schema_owner pg_catalog.oid;
    installed pg_catalog.text;
BEGIN
    PERFORM pg_catalog.pg_advisory_xact_lock(21331, 0);
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_extension
               WHERE extname OPERATOR(pg_catalog.=) 'session_store') THEN
        RAISE EXCEPTION USING
            ERRCODE = 'duplicate_object',
            MESSAGE = 'the C edition of session_store is installed in this database',
            HINT = 'The portable edition is never installed over the C edition.';
    END IF;
    SELECT n.nspowner INTO schema_owner
    FROM pg_catalog.pg_namespace n
    WHERE n.nspname OPERATOR(pg_catalog.=) 'session_store'::pg_catalog.name;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF schema_owner OPERATOR(pg_catalog.<>) (
        SELECT r.oid FROM pg_catalog.pg_roles r
        WHERE r.rolname OPERATOR(pg_catalog.=) pg_catalog.current_user()) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = pg_catalog.format(
                'schema "session_store" already exists and is owned by role %s, not by the installing role',
                schema_owner::pg_catalog.regrole),
            DETAIL = 'The owner of the schema could change every object of the extension.',
            HINT = 'Drop the schema, or have a superuser make the installing role its owner, then install the portable edition.';
    END IF;
    IF pg_catalog.to_regprocedure('session_store.edition()') IS NOT NULL THEN
        EXECUTE 'SELECT edition OPERATOR(pg_catalog.||) '' '' OPERATOR(pg_catalog.||) version FROM session_store.edition()'
            INTO installed;
        RAISE EXCEPTION USING
            ERRCODE = 'duplicate_object',
            MESSAGE = pg_catalog.format('session_store %s is already installed in this database', installed),
            HINT = 'Nothing was changed.  A later version is installed by its upgrade script.';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_class c
               WHERE c.relnamespace OPERATOR(pg_catalog.=) 'session_store'::pg_catalog.regnamespace)
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_proc p
               WHERE p.pronamespace OPERATOR(pg_catalog.=) 'session_store'::pg_catalog.regnamespace)
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_type t
               WHERE t.typnamespace OPERATOR(pg_catalog.=) 'session_store'::pg_catalog.regnamespace)
    THEN
        RAISE EXCEPTION USING
            ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = 'schema "session_store" is not empty',
            DETAIL = 'It holds objects that are not an installation of session_store.',
            HINT = 'Install into a database whose schema "session_store" is absent or empty.';
    END IF;
END
$guard$;

CREATE SCHEMA IF NOT EXISTS session_store;
REVOKE ALL ON SCHEMA session_store FROM PUBLIC;
