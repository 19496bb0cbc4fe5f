--
-- Install the extension and a helper the other tests use.  The suite also
-- runs on a database updated from 1.0 (test/upgrade.sh), where the
-- extension is already there.
--
-- The portable edition is installed before the suite runs (by
-- portable/session_store.sql): then edition() is there already.
SET client_min_messages = warning;
SELECT pg_catalog.to_regprocedure('session_store.edition()') IS NULL AS install_c \gset
\if :install_c
CREATE EXTENSION IF NOT EXISTS session_store;
\endif
RESET client_min_messages;

-- Run a statement; return 'ok', or the SQLSTATE and message of its error.
CREATE SCHEMA test;
GRANT USAGE ON SCHEMA test TO PUBLIC;
CREATE FUNCTION test.try(stmt text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE stmt;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

-- The edition's version.
SELECT version FROM session_store.edition();

-- Shared buffers a statement touches, from EXPLAIN (ANALYZE, BUFFERS):
-- a measure of work that does not depend on the machine's speed.
CREATE FUNCTION test.buffers(stmt text) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    plan json;
BEGIN
    EXECUTE 'EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ' || stmt INTO plan;
    RETURN (plan->0->'Plan'->>'Shared Hit Blocks')::int
         + (plan->0->'Plan'->>'Shared Read Blocks')::int;
END
$$;

-- Every page of list_sessions, following next_page_token to the end.
CREATE FUNCTION test.list_all(app text, usr text, page int)
RETURNS TABLE (n int, user_id text, session_id text, update_time timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    token text := NULL;
    r record;
    got int;
BEGIN
    n := 0;
    LOOP
        got := 0;
        FOR r IN SELECT * FROM session_store.list_sessions(app, usr, page, token) LOOP
            n := n + 1;
            got := got + 1;
            user_id := r.user_id;
            session_id := r.session_id;
            update_time := r.update_time;
            token := r.next_page_token;
            RETURN NEXT;
        END LOOP;
        EXIT WHEN got < page;
    END LOOP;
END
$$;
