#!/usr/bin/python3
"""Appends and reads while the catalog changes under them.

The append path opens the extension's tables and every index itself, the
way the executor does.  Each lock it takes on them processes pending
invalidation messages, so the relation's cached entry can be rebuilt in the
middle of a call: whatever it reads from that entry must survive the
rebuild, and a newly built index must get the rows written while it was
being built.

8 connections append to their own sessions and read them back (get_session,
get_messages, list_sessions) while one more connection keeps changing the
tables' catalog rows the way a DBA's routine work does, none of it taking a
lock that blocks writers: autovacuum settings set and reset, ANALYZE, and
an index on messages created and dropped CONCURRENTLY.  Each writer makes
3000 appends, and goes on until the catalog changes have run 10 rounds
(one of them an index build), capped at 300 s.

Then: no call failed; every session holds exactly the messages appended to
it, numbered 1..N, with version N; amcheck finds every index of the
extension's tables complete (each heap tuple indexed), including one built
concurrently during the appends.
"""
import itertools
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from sslib import Checker, connect, env_int, fresh_database, run_parallel  # noqa: E402

import psycopg  # noqa: E402

DB = "session_store_stress_catalog"
WRITERS = env_int("STRESS_CATALOG_WRITERS", 8)
CALLS = env_int("STRESS_CATALOG_CALLS", 3000)
DDL_ROUNDS = 10       # the writers go on past CALLS until this many rounds ran
CAP_SECONDS = 300     # ... or this long: then the rounds check fails

ck = Checker("catalog stress")
fresh_database(DB)
with connect(DB) as c:
    c.execute("CREATE EXTENSION amcheck")
    for i in range(WRITERS):
        c.execute("SELECT session_store.create_session('cat', %s, NULL, 's')", (f"u{i}",))

done = threading.Event()
ddl_rounds = [0]
ddl_errors = []


def ddl():
    """Catalog changes none of which blocks an append for long."""
    stmts = []
    for t in ("sessions", "messages"):
        stmts += [f"ALTER TABLE session_store.{t} SET (autovacuum_vacuum_scale_factor = 0.05)",
                  f"ANALYZE session_store.{t}",
                  f"ALTER TABLE session_store.{t} RESET (autovacuum_vacuum_scale_factor)"]
    with connect(DB) as c:
        while not done.is_set():
            try:
                for s in stmts:
                    c.execute(s)
                if ddl_rounds[0] % 10 == 9:
                    c.execute("DROP INDEX CONCURRENTLY IF EXISTS session_store.cat_extra_idx")
                    c.execute("CREATE INDEX CONCURRENTLY cat_extra_idx "
                              "ON session_store.messages (create_time, seq)")
            except psycopg.Error as e:
                ddl_errors.append(f"{e.sqlstate}: {str(e).splitlines()[0]}")
                return
            ddl_rounds[0] += 1


def writer(i, barrier):
    user = f"u{i}"
    errors = []
    appended = 0
    calls = 0
    last = None
    with connect(DB) as c:
        barrier.wait()
        deadline = time.monotonic() + CAP_SECONDS
        for n in itertools.count():
            if n >= CALLS and (ddl_rounds[0] >= DDL_ROUNDS or ddl_errors
                               or time.monotonic() > deadline):
                break
            batch = [{"role": "user", "n": appended + k + 1} for k in range(1 + n % 3)]
            try:
                c.execute("SELECT * FROM session_store.append_messages('cat', %s, 's', %s, %s)",
                          (user, json.dumps(batch), json.dumps({"last": n})))
                appended += len(batch)
                calls += 1
                last = n
                if n % 4 == 0:
                    c.execute("SELECT * FROM session_store.get_session('cat', %s, 's')", (user,))
                    c.execute("SELECT * FROM session_store.get_messages('cat', %s, 's', 5)", (user,))
                    c.execute("SELECT * FROM session_store.list_sessions('cat', %s, 5)", (user,))
            except psycopg.Error as e:
                errors.append(f"{e.sqlstate}: {str(e).splitlines()[0]}")
                if len(errors) >= 5:
                    break
    return errors, appended, calls, last


ddl_thread = threading.Thread(target=ddl)
ddl_thread.start()
try:
    res = run_parallel(WRITERS, writer)
finally:
    done.set()
    ddl_thread.join()

failures = [r for r in res if not isinstance(r, tuple)]
errors = [e for r in res if isinstance(r, tuple) for e in r[0]]
ck.check(not failures and not errors,
         f"{WRITERS} writers, {sum(r[2] for r in res if isinstance(r, tuple))} appends "
         f"with 3 reads after every 4th, "
         f"during {ddl_rounds[0]} rounds of catalog changes: no error",
         (failures + errors)[:5])
ck.check(not ddl_errors and ddl_rounds[0] >= DDL_ROUNDS,
         "the catalog changes ran, among them index builds (CREATE INDEX CONCURRENTLY)",
         ddl_errors or ddl_rounds[0])

with connect(DB) as c:
    q = lambda sql, *a: c.execute(sql, a).fetchall()  # noqa: E731
    bad = []
    for i, r in enumerate(res):
        if not isinstance(r, tuple):
            continue
        _, appended, calls, last = r
        head = q("SELECT version, state FROM session_store.get_session('cat', %s, 's')", f"u{i}")
        seqs = [s for (s,) in q("SELECT seq FROM session_store.get_messages('cat', %s, 's')", f"u{i}")]
        ns = [m["n"] for (m,) in
              q("SELECT message FROM session_store.get_messages('cat', %s, 's')", f"u{i}")]
        if (seqs != list(range(1, appended + 1)) or ns != seqs or head[0][0] != calls
                or head[0][1] != {"last": last}):
            bad.append((f"u{i}", appended, calls, len(seqs), head))
    ck.check(not bad, "every session holds exactly its appended messages, 1..N in order, "
             "version = successful calls, last state kept", bad[:3])

    c.execute("CREATE INDEX CONCURRENTLY IF NOT EXISTS cat_extra_idx "
              "ON session_store.messages (create_time, seq)")
    problems = []
    indexes = q("SELECT c.oid::regclass::text FROM pg_class c"
                " JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = 'session_store' AND c.relkind = 'i'")
    for (idx,) in indexes:
        try:
            c.execute("SELECT bt_index_parent_check(%s::regclass, heapallindexed => true)", (idx,))
        except psycopg.Error as e:
            problems.append((idx, str(e).splitlines()[0]))
    ck.check(not problems and len(indexes) >= 6,
             f"amcheck: {len(indexes)} indexes, every heap tuple indexed", problems[:5])
ck.done()
