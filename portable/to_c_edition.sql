/*
 * session_store: move a database from the portable edition to the C edition,
 * in one transaction, once the server can load the C extension (installed
 * with make install, or from a package).  Run by a superuser:
 *
 *   psql -v ON_ERROR_STOP=1 -d DB -f portable/to_c_edition.sql
 *
 * Both forms of the portable edition are moved: the one installed with
 * portable/session_store.sql and the pg_tle extension session_store_portable.
 * The script
 *   1. checks that the database holds the portable edition, that the caller
 *      is a superuser and that the C edition of the same version is on the
 *      server;
 *   2. takes the installers' lock and ACCESS EXCLUSIVE locks on the five
 *      tables (calls in flight finish first; later ones wait, then fail once
 *      the old objects are gone: stop the application or let it retry);
 *   3. renames schema session_store to session_store_migrating and runs
 *      CREATE EXTENSION session_store at the portable edition's version;
 *   4. refuses (55000, nothing changed) when the portable tables are not
 *      the C edition's (columns added or changed) or when the old schema
 *      holds what its removal would lose: objects the edition does not
 *      have (tables, indexes, constraints, triggers, policies, functions,
 *      types) or objects elsewhere that depend on its objects (views,
 *      foreign keys);
 *   5. copies every row of the five tables (by column name), sets the sid
 *      sequence to where it was, and carries the privileges: every grant on
 *      the schema, the tables, the sequence and the API functions to the
 *      same object of the C edition (grant option kept, PUBLIC included);
 *      the portable edition's owner (who had the API as owner) is granted
 *      USAGE on the schema and EXECUTE on every API function, WITH GRANT
 *      OPTION, so it keeps using and granting the API; it does not keep
 *      the tables, which in the C edition only the extension owner (the
 *      superuser running this script) reaches;
 *   6. drops the portable edition: DROP EXTENSION session_store_portable
 *      under pg_tle, the old schema otherwise.
 */
\set ON_ERROR_STOP 1
BEGIN;

DO LANGUAGE plpgsql $migrate$
DECLARE
    old_schema constant pg_catalog.name := 'session_store_migrating';
    tables constant pg_catalog.text[] :=
        '{sessions,messages,idempotency_keys,user_states,app_states}';
    portable_version pg_catalog.text;
    is_portable boolean;
    old_owner pg_catalog.oid;
    tle boolean;
    t pg_catalog.text;
    cols pg_catalog.text;
    old_cols pg_catalog.text;
    problems pg_catalog.text[];
    n bigint;
    copied pg_catalog.text := '';
    g record;
    seq record;
BEGIN
    -- 1. what is there
    IF pg_catalog.to_regprocedure('session_store.edition()') IS NULL THEN
        RAISE EXCEPTION USING
            ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = 'session_store is not installed in this database';
    END IF;
    EXECUTE 'SELECT edition OPERATOR(pg_catalog.=) ''portable'', version FROM session_store.edition()'
        INTO is_portable, portable_version;
    IF NOT is_portable THEN
        RAISE EXCEPTION USING
            ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = pg_catalog.format('this database holds the C edition of session_store %s already', portable_version),
            HINT = 'Nothing was changed.';
    END IF;
    IF NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r
            WHERE r.rolname OPERATOR(pg_catalog.=) pg_catalog.current_user()) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'insufficient_privilege',
            MESSAGE = 'permission denied to move session_store to the C edition',
            DETAIL = 'CREATE EXTENSION session_store needs a superuser.';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_available_extension_versions v
                   WHERE v.name OPERATOR(pg_catalog.=) 'session_store'
                     AND v.version OPERATOR(pg_catalog.=) portable_version) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'feature_not_supported',
            MESSAGE = pg_catalog.format('the C edition of session_store %s is not installed on this server', portable_version),
            HINT = 'Install the extension on the server (make install, or its package), then run the script again.';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_namespace
               WHERE nspname OPERATOR(pg_catalog.=) old_schema) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'duplicate_schema',
            MESSAGE = pg_catalog.format('schema "%s" already exists', old_schema),
            HINT = 'The script renames schema session_store to it while it moves the rows: drop or rename it first.';
    END IF;
    SELECT n.nspowner INTO old_owner FROM pg_catalog.pg_namespace n
    WHERE n.nspname OPERATOR(pg_catalog.=) 'session_store';
    tle := EXISTS (
        SELECT 1 FROM pg_catalog.pg_depend d
        JOIN pg_catalog.pg_extension e ON e.oid OPERATOR(pg_catalog.=) d.refobjid
        WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_namespace'::pg_catalog.regclass
          AND d.objid OPERATOR(pg_catalog.=) 'session_store'::pg_catalog.regnamespace
          AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
          AND d.deptype OPERATOR(pg_catalog.=) 'e'
          AND e.extname OPERATOR(pg_catalog.=) 'session_store_portable');

    -- 2. no installer, no call of the API, until this transaction ends
    PERFORM pg_catalog.pg_advisory_xact_lock(21331, 0);
    EXECUTE 'LOCK TABLE session_store.sessions, session_store.messages, session_store.idempotency_keys, '
            'session_store.user_states, session_store.app_states IN ACCESS EXCLUSIVE MODE';

    -- 3. the C edition beside the portable one
    EXECUTE pg_catalog.format('ALTER SCHEMA session_store RENAME TO %I', old_schema);
    EXECUTE pg_catalog.format('CREATE EXTENSION session_store VERSION %L', portable_version);

    -- 4. nothing of the old schema may be lost
    FOREACH t IN ARRAY tables LOOP
        SELECT pg_catalog.string_agg(pg_catalog.format('%I %s', a.attname,
                   pg_catalog.format_type(a.atttypid, a.atttypmod)), ', ' ORDER BY a.attnum)
        INTO cols
        FROM pg_catalog.pg_attribute a
        WHERE a.attrelid OPERATOR(pg_catalog.=) pg_catalog.format('session_store.%I', t)::pg_catalog.regclass
          AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped;
        SELECT pg_catalog.string_agg(pg_catalog.format('%I %s', a.attname,
                   pg_catalog.format_type(a.atttypid, a.atttypmod)), ', ' ORDER BY a.attnum)
        INTO old_cols
        FROM pg_catalog.pg_attribute a
        WHERE a.attrelid OPERATOR(pg_catalog.=) pg_catalog.format('%I.%I', old_schema, t)::pg_catalog.regclass
          AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped;
        IF old_cols IS DISTINCT FROM cols THEN
            RAISE EXCEPTION USING
                ERRCODE = 'object_not_in_prerequisite_state',
                MESSAGE = pg_catalog.format('table session_store.%s does not have the columns of the C edition', t),
                DETAIL = pg_catalog.format('The portable edition''s: %s.  The C edition''s: %s.', old_cols, cols),
                HINT = 'Nothing was changed.  Make its columns those of the C edition, then run the script again.';
        END IF;
    END LOOP;

    SELECT pg_catalog.array_agg(x ORDER BY x) INTO problems FROM (
        -- relations (tables, indexes, views, sequences) the C edition does not have
        SELECT pg_catalog.format('%s %I', CASE c.relkind WHEN 'i' THEN 'index' WHEN 'S' THEN 'sequence'
                   WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' ELSE 'table' END, c.relname) AS x
        FROM pg_catalog.pg_class c
        WHERE c.relnamespace OPERATOR(pg_catalog.=) old_schema::pg_catalog.regnamespace
          AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class k
                          WHERE k.relnamespace OPERATOR(pg_catalog.=) 'session_store'::pg_catalog.regnamespace
                            AND k.relname OPERATOR(pg_catalog.=) c.relname
                            AND k.relkind OPERATOR(pg_catalog.=) c.relkind)
        UNION ALL
        -- constraints
        SELECT pg_catalog.format('constraint %I on table %I', o.conname, o.conrelid::pg_catalog.regclass::pg_catalog.text)
        FROM pg_catalog.pg_constraint o
        WHERE o.connamespace OPERATOR(pg_catalog.=) old_schema::pg_catalog.regnamespace
          AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k
                          WHERE k.connamespace OPERATOR(pg_catalog.=) 'session_store'::pg_catalog.regnamespace
                            AND k.conname OPERATOR(pg_catalog.=) o.conname)
        UNION ALL
        -- triggers, policies, rules on its tables
        SELECT pg_catalog.format('trigger %I on table %s', tg.tgname, tg.tgrelid::pg_catalog.regclass)
        FROM pg_catalog.pg_trigger tg
        JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) tg.tgrelid
        WHERE c.relnamespace OPERATOR(pg_catalog.=) old_schema::pg_catalog.regnamespace AND NOT tg.tgisinternal
        UNION ALL
        SELECT pg_catalog.format('policy %I on table %s', p.polname, p.polrelid::pg_catalog.regclass)
        FROM pg_catalog.pg_policy p
        JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) p.polrelid
        WHERE c.relnamespace OPERATOR(pg_catalog.=) old_schema::pg_catalog.regnamespace
        UNION ALL
        SELECT pg_catalog.format('rule %I on %s', r.rulename, r.ev_class::pg_catalog.regclass)
        FROM pg_catalog.pg_rewrite r
        JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) r.ev_class
        WHERE c.relnamespace OPERATOR(pg_catalog.=) old_schema::pg_catalog.regnamespace
          AND c.relkind OPERATOR(pg_catalog.<>) 'v'
        UNION ALL
        -- functions: the API (the C edition has it) and the helpers (_name)
        SELECT pg_catalog.format('function %s', p.oid::pg_catalog.regprocedure)
        FROM pg_catalog.pg_proc p
        WHERE p.pronamespace OPERATOR(pg_catalog.=) old_schema::pg_catalog.regnamespace
          AND p.proname::pg_catalog.text !~ '^_'
          AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_proc k
                          WHERE k.pronamespace OPERATOR(pg_catalog.=) 'session_store'::pg_catalog.regnamespace
                            AND k.proname OPERATOR(pg_catalog.=) p.proname)
        UNION ALL
        -- types other than tables' row types and arrays
        SELECT pg_catalog.format('type %I', y.typname)
        FROM pg_catalog.pg_type y
        WHERE y.typnamespace OPERATOR(pg_catalog.=) old_schema::pg_catalog.regnamespace
          AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_type k
                          WHERE k.typnamespace OPERATOR(pg_catalog.=) 'session_store'::pg_catalog.regnamespace
                            AND k.typname OPERATOR(pg_catalog.=) y.typname)
        UNION ALL
        -- objects elsewhere that depend on its objects (views, foreign keys, functions)
        SELECT DISTINCT CASE
                   WHEN d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_rewrite'::pg_catalog.regclass
                   THEN (SELECT pg_catalog.pg_describe_object('pg_catalog.pg_class'::pg_catalog.regclass, r.ev_class, 0)
                         FROM pg_catalog.pg_rewrite r WHERE r.oid OPERATOR(pg_catalog.=) d.objid)
                   ELSE pg_catalog.pg_describe_object(d.classid, d.objid, 0) END
        FROM pg_catalog.pg_depend d
        WHERE d.deptype OPERATOR(pg_catalog.=) ANY ('{n,a}')
          AND ((d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
                AND d.refobjid IN (SELECT c.oid FROM pg_catalog.pg_class c
                                   WHERE c.relnamespace OPERATOR(pg_catalog.=) old_schema::pg_catalog.regnamespace))
            OR (d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_type'::pg_catalog.regclass
                AND d.refobjid IN (SELECT y.oid FROM pg_catalog.pg_type y
                                   WHERE y.typnamespace OPERATOR(pg_catalog.=) old_schema::pg_catalog.regnamespace))
            OR (d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
                AND d.refobjid IN (SELECT p.oid FROM pg_catalog.pg_proc p
                                   WHERE p.pronamespace OPERATOR(pg_catalog.=) old_schema::pg_catalog.regnamespace)))
          AND NOT (d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
                   AND d.objid IN (SELECT c.oid FROM pg_catalog.pg_class c
                                   WHERE c.relnamespace OPERATOR(pg_catalog.=) old_schema::pg_catalog.regnamespace))
          AND NOT (d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_type'::pg_catalog.regclass
                   AND d.objid IN (SELECT y.oid FROM pg_catalog.pg_type y
                                   WHERE y.typnamespace OPERATOR(pg_catalog.=) old_schema::pg_catalog.regnamespace))
          AND NOT (d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
                   AND d.objid IN (SELECT p.oid FROM pg_catalog.pg_proc p
                                   WHERE p.pronamespace OPERATOR(pg_catalog.=) old_schema::pg_catalog.regnamespace))
          AND NOT (d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_constraint'::pg_catalog.regclass
                   AND d.objid IN (SELECT o.oid FROM pg_catalog.pg_constraint o
                                   WHERE o.connamespace OPERATOR(pg_catalog.=) old_schema::pg_catalog.regnamespace))
          AND NOT (d.classid OPERATOR(pg_catalog.=) ANY (ARRAY['pg_catalog.pg_trigger'::pg_catalog.regclass,
                                                              'pg_catalog.pg_policy'::pg_catalog.regclass,
                                                              'pg_catalog.pg_attrdef'::pg_catalog.regclass])
                   AND d.refobjid IN (SELECT c.oid FROM pg_catalog.pg_class c
                                      WHERE c.relnamespace OPERATOR(pg_catalog.=) old_schema::pg_catalog.regnamespace))
    ) found;
    IF problems IS NOT NULL THEN
        RAISE EXCEPTION USING
            ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = 'schema "session_store" holds objects the C edition does not have',
            DETAIL = pg_catalog.format('Removing the portable edition would drop: %s.',
                                       pg_catalog.array_to_string(problems, ', ')),
            HINT = 'Nothing was changed.  Drop them (or move them out of the way), then run the script again, then make them again.';
    END IF;

    -- 5. rows, sequence, privileges
    FOREACH t IN ARRAY tables LOOP
        SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum)
        INTO cols
        FROM pg_catalog.pg_attribute a
        WHERE a.attrelid OPERATOR(pg_catalog.=) pg_catalog.format('session_store.%I', t)::pg_catalog.regclass
          AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped;
        EXECUTE pg_catalog.format('INSERT INTO session_store.%I (%s) SELECT %s FROM %I.%I',
                                  t, cols, cols, old_schema, t);
        GET DIAGNOSTICS n = ROW_COUNT;
        copied := copied OPERATOR(pg_catalog.||) pg_catalog.format('%s %s, ', t, n);
    END LOOP;

    EXECUTE pg_catalog.format('SELECT last_value, is_called FROM %I.session_sid_seq', old_schema) INTO seq;
    PERFORM pg_catalog.setval('session_store.session_sid_seq', seq.last_value, seq.is_called);

    -- the schema, the tables and the sequence: every grant but the owner's
    FOR g IN
        SELECT 'SCHEMA session_store' AS target, a.privilege_type, a.grantee, a.is_grantable
        FROM pg_catalog.pg_namespace s, pg_catalog.aclexplode(s.nspacl) a
        WHERE s.oid OPERATOR(pg_catalog.=) old_schema::pg_catalog.regnamespace
          AND a.grantee OPERATOR(pg_catalog.<>) s.nspowner
        UNION ALL
        SELECT pg_catalog.format('TABLE session_store.%I', c.relname), a.privilege_type, a.grantee, a.is_grantable
        FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a
        WHERE c.relnamespace OPERATOR(pg_catalog.=) old_schema::pg_catalog.regnamespace
          AND c.relkind OPERATOR(pg_catalog.=) ANY ('{r,S}')
          AND a.grantee OPERATOR(pg_catalog.<>) c.relowner
        UNION ALL
        -- the functions: to the C function of the same name and argument types
        SELECT pg_catalog.format('FUNCTION %s', k.oid::pg_catalog.regprocedure), a.privilege_type, a.grantee, a.is_grantable
        FROM pg_catalog.pg_proc p
        CROSS JOIN LATERAL pg_catalog.aclexplode(COALESCE(p.proacl, pg_catalog.acldefault('f', p.proowner))) a
        JOIN pg_catalog.pg_proc k
          ON k.pronamespace OPERATOR(pg_catalog.=) 'session_store'::pg_catalog.regnamespace
         AND k.proname OPERATOR(pg_catalog.=) p.proname
         AND k.proargtypes OPERATOR(pg_catalog.=) p.proargtypes
        WHERE p.pronamespace OPERATOR(pg_catalog.=) old_schema::pg_catalog.regnamespace
          AND a.grantee OPERATOR(pg_catalog.<>) p.proowner
        UNION ALL
        -- the portable edition's owner: the API, as it had it
        SELECT 'SCHEMA session_store', 'USAGE', old_owner, true
        UNION ALL
        SELECT pg_catalog.format('FUNCTION %s', k.oid::pg_catalog.regprocedure), 'EXECUTE', old_owner, true
        FROM pg_catalog.pg_proc p
        JOIN pg_catalog.pg_proc k
          ON k.pronamespace OPERATOR(pg_catalog.=) 'session_store'::pg_catalog.regnamespace
         AND k.proname OPERATOR(pg_catalog.=) p.proname
         AND k.proargtypes OPERATOR(pg_catalog.=) p.proargtypes
        WHERE p.pronamespace OPERATOR(pg_catalog.=) old_schema::pg_catalog.regnamespace
          AND p.proname::pg_catalog.text !~ '^_'
    LOOP
        CONTINUE WHEN g.grantee OPERATOR(pg_catalog.=) (
            SELECT r.oid FROM pg_catalog.pg_roles r
            WHERE r.rolname OPERATOR(pg_catalog.=) pg_catalog.current_user());
        EXECUTE pg_catalog.format('GRANT %s ON %s TO %s%s', g.privilege_type, g.target,
            CASE WHEN g.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
                 ELSE g.grantee::pg_catalog.regrole::pg_catalog.text END,
            CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
    END LOOP;

    -- 6. the portable edition goes (without a NOTICE per object)
    PERFORM pg_catalog.set_config('client_min_messages', 'warning', true);
    IF tle THEN
        DROP EXTENSION session_store_portable;
    ELSE
        EXECUTE pg_catalog.format('DROP SCHEMA %I CASCADE', old_schema);
    END IF;

    PERFORM pg_catalog.set_config('client_min_messages', 'notice', true);
    RAISE NOTICE USING MESSAGE = pg_catalog.format(
        'session_store %s moved to the C edition: %ssid sequence at %s',
        portable_version, copied, seq.last_value);
END
$migrate$;

COMMIT;
