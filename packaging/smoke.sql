--
-- The smoke test of an installed session_store package: the extension
-- installs, edition() names the C edition and the expected version, and a
-- session, an append and a read come back as written.  Everything runs in
-- one transaction that is rolled back, so the database is left as it was.
-- Any failed check raises an error (run with ON_ERROR_STOP).
--
--   psql -X -v ON_ERROR_STOP=1 -v version=1.2 -f packaging/smoke.sql
--
-- Run by packaging/smoke.sh (test/packages/debian.sh and the container
-- image's first start).
--
\set QUIET on
BEGIN;
SET LOCAL smoke.version = :'version';
CREATE EXTENSION session_store;

DO $smoke$
DECLARE
    ed record;
    s record;
    a record;
    got jsonb;
BEGIN
    SELECT * INTO ed FROM session_store.edition();
    IF ed.edition IS DISTINCT FROM 'c'
       OR ed.version IS DISTINCT FROM pg_catalog.current_setting('smoke.version') THEN
        RAISE EXCEPTION 'edition() is (%, %), expected (c, %)',
            ed.edition, ed.version, pg_catalog.current_setting('smoke.version');
    END IF;

    SELECT * INTO s FROM session_store.create_session(
        'smoke', 'alice', '{"topic": "packages"}', 's1');
    IF s.session_id IS DISTINCT FROM 's1' OR s.version IS DISTINCT FROM 0
       OR s.state IS DISTINCT FROM '{"topic": "packages"}'::jsonb THEN
        RAISE EXCEPTION 'create_session returned %', s;
    END IF;

    SELECT * INTO a FROM session_store.append_messages('smoke', 'alice', 's1',
        '[{"role": "user", "content": "hello"},
          {"role": "assistant", "content": "naïve café ☕"}]');
    IF a.first_seq IS DISTINCT FROM 1 OR a.last_seq IS DISTINCT FROM 2
       OR a.version IS DISTINCT FROM 1 THEN
        RAISE EXCEPTION 'append_messages returned %', a;
    END IF;

    SELECT pg_catalog.jsonb_agg(m.message ORDER BY m.seq) INTO got
    FROM session_store.get_messages('smoke', 'alice', 's1') AS m;
    IF got IS DISTINCT FROM '[{"role": "user", "content": "hello"},
                             {"role": "assistant", "content": "naïve café ☕"}]'::jsonb THEN
        RAISE EXCEPTION 'get_messages returned %', got;
    END IF;
END
$smoke$;

SELECT 'session_store ' || version || ' (' || edition || ' edition): smoke test passed' AS smoke
FROM session_store.edition() \gset
\echo :smoke
ROLLBACK;
