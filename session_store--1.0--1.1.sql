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
