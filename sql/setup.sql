--
-- Install the extension and a helper the other tests use.
--
CREATE EXTENSION session_store;

-- Run a statement; return 'ok', or the SQLSTATE and message of its error.
CREATE SCHEMA test;
CREATE FUNCTION test.try(stmt text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE stmt;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

-- The extension lives in its own schema and cannot be moved.
SELECT extname, extnamespace::regnamespace, extrelocatable, extversion
FROM pg_extension WHERE extname = 'session_store';
