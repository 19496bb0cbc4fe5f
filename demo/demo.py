#!/usr/bin/python3
"""session_store demo: the failures agent frameworks hit, replayed with real
concurrent connections, next to the same work done through session_store.

Run by `make demo` inside a throwaway cluster (pg_virtualenv).
"""
import json
import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "test", "lib"))
from sslib import connect, fresh_database, run_parallel, sqlstate  # noqa: E402

import psycopg  # noqa: E402

DB = "session_store_demo"
AGENTS = 64
WRITERS = 16
CALLS = 100

fresh_database(DB)
with connect(DB) as c:
    # What a framework writes by hand, in its client language.
    c.execute("""
        CREATE SCHEMA naive;
        CREATE TABLE naive.app_states  (app_name text PRIMARY KEY, state jsonb);
        CREATE TABLE naive.user_states (app_name text, user_id text, state jsonb,
                                        PRIMARY KEY (app_name, user_id));
        CREATE TABLE naive.sessions    (app_name text, user_id text, id text, state jsonb,
                                        PRIMARY KEY (app_name, user_id, id));
        CREATE TABLE naive.messages    (session_id text, seq bigint, message jsonb,
                                        PRIMARY KEY (session_id, seq));
        INSERT INTO naive.sessions VALUES ('demo', 'u', 'hot', '{}');
    """)
    version = c.execute("SHOW server_version").fetchone()[0]
    port = c.info.port


def line(label, text):
    print(f"  {label:<44} {text}")


def errors_by_state(results):
    counts = {}
    for r in results:
        if isinstance(r, BaseException):
            key = sqlstate(r) or type(r).__name__
            counts[key] = counts.get(key, 0) + 1
    return counts


def fmt_errors(counts, total):
    if not counts:
        return f"0 of {total} failed"
    parts = ", ".join(f"{n} x {s}" for s, n in sorted(counts.items()))
    return f"{sum(counts.values())} of {total} failed ({parts})"


print(f"session_store demo - throwaway PostgreSQL {version} cluster on port {port}")
print()

# (a) ---------------------------------------------------------------------
print(f"(a) {AGENTS} sub-agents start sessions at once on a fresh app "
      f"(8 users, app: and user: state)")


def naive_create(i, barrier):
    with connect(DB, autocommit=False) as c:
        barrier.wait()
        # SELECT-then-INSERT on the app's and the user's state rows
        if c.execute("SELECT 1 FROM naive.app_states WHERE app_name = 'fresh'").fetchone() is None:
            c.execute("INSERT INTO naive.app_states VALUES ('fresh', %s)",
                      (json.dumps({f"k{i}": i}),))
        if c.execute("SELECT 1 FROM naive.user_states WHERE app_name = 'fresh' AND user_id = %s",
                     (f"user{i % 8}",)).fetchone() is None:
            c.execute("INSERT INTO naive.user_states VALUES ('fresh', %s, %s)",
                      (f"user{i % 8}", json.dumps({f"k{i}": i})))
        c.execute("INSERT INTO naive.sessions VALUES ('fresh', %s, %s, '{}')",
                  (f"user{i % 8}", f"s{i}"))
        c.commit()


def store_create(i, barrier):
    with connect(DB) as c:
        barrier.wait()
        c.execute("SELECT session_store.create_session('fresh', %s, %s, %s)",
                  (f"user{i % 8}", json.dumps({f"app:k{i}": i, f"user:k{i}": i}), f"s{i}"))


res = run_parallel(AGENTS, naive_create)
line("hand-written SELECT-then-INSERT:", fmt_errors(errors_by_state(res), AGENTS))
res = run_parallel(AGENTS, store_create)
with connect(DB) as c:
    app_keys = len(c.execute("SELECT session_store.get_app_state('fresh')").fetchone()[0])
    user_keys = c.execute(
        "SELECT sum((SELECT count(*) FROM jsonb_object_keys(session_store.get_user_state('fresh', 'user' || u))))"
        " FROM generate_series(0, 7) u").fetchone()[0]
line("session_store.create_session:",
     f"{fmt_errors(errors_by_state(res), AGENTS)}; app state keeps {app_keys}/{AGENTS} keys, "
     f"user states {user_keys}/{AGENTS}")
print()

# (b) ---------------------------------------------------------------------
print(f"(b) {WRITERS} writers append to one session, {CALLS} calls each")


def naive_append(i, barrier):
    failures = 0
    with connect(DB) as c:
        barrier.wait()
        for call in range(CALLS):
            # max(seq)+1 read outside the insert: two pods read the same value
            seq = c.execute("SELECT coalesce(max(seq), 0) + 1 FROM naive.messages "
                            "WHERE session_id = 'hot'").fetchone()[0]
            try:
                c.execute("INSERT INTO naive.messages VALUES ('hot', %s, %s)",
                          (seq, json.dumps({"t": i, "c": call})))
            except psycopg.errors.UniqueViolation:
                failures += 1
    return failures


with connect(DB) as c:
    c.execute("SELECT session_store.create_session('demo', 'u', NULL, 'hot')")


def store_append(i, barrier):
    failures = 0
    with connect(DB) as c:
        barrier.wait()
        for call in range(CALLS):
            try:
                c.execute("SELECT session_store.append_messages('demo', 'u', 'hot', %s)",
                          (json.dumps([{"t": i, "c": call}]),))
            except psycopg.Error:
                failures += 1
    return failures


res = run_parallel(WRITERS, naive_append)
lost = sum(r for r in res if isinstance(r, int))
line("client max(seq)+1, then INSERT:",
     f"{lost} of {WRITERS * CALLS} inserts hit a duplicate seq (23505) and need a retry loop")
res = run_parallel(WRITERS, store_append)
failed = sum(r if isinstance(r, int) else CALLS for r in res)
with connect(DB) as c:
    n, lo, hi, distinct = c.execute(
        "SELECT count(*), min(seq), max(seq), count(DISTINCT seq) "
        "FROM session_store.get_messages('demo', 'u', 'hot')").fetchone()
    v = c.execute("SELECT version FROM session_store.get_session('demo', 'u', 'hot')").fetchone()[0]
gapless = (n == WRITERS * CALLS and lo == 1 and hi == n and distinct == n)
line("session_store.append_messages:",
     f"{failed} of {WRITERS * CALLS} calls failed; seq {lo}..{hi}, "
     f"{'no gap, no duplicate' if gapless else 'GAPS OR DUPLICATES'}; version {v} = {WRITERS * CALLS} calls")
print()

# (c) ---------------------------------------------------------------------
print("(c) a stale writer: expected_version from before someone else's append")
with connect(DB) as c:
    seen = c.execute("SELECT version FROM session_store.get_session('demo', 'u', 'hot')").fetchone()[0]
    c.execute("SELECT session_store.append_messages('demo', 'u', 'hot', '[{\"from\": \"pod A\"}]')")
    try:
        c.execute("SELECT session_store.append_messages('demo', 'u', 'hot', '[{\"from\": \"pod B\"}]', "
                  "NULL, %s)", (seen,))
        line("append with expected_version = %d:" % seen, "ACCEPTED (wrong)")
    except psycopg.Error as e:
        line("append with expected_version = %d:" % seen,
             f"rejected, SQLSTATE {sqlstate(e)}: {e.diag.message_primary}")
print()

# (d) ---------------------------------------------------------------------
print("(d) a client times out and retries the same append (idempotency_key)")
with connect(DB) as c:
    c.execute("SELECT session_store.create_session('demo', 'u', NULL, 'retry')")
    q = ("SELECT first_seq, last_seq, version, replayed FROM session_store.append_messages("
         "'demo', 'u', 'retry', '[{\"role\": \"user\", \"content\": \"book a table\"}]', "
         "NULL, NULL, 'req-7f3a')")
    first = c.execute(q).fetchone()
    again = c.execute(q).fetchone()
    stored = c.execute("SELECT count(*) FROM session_store.get_messages('demo', 'u', 'retry')").fetchone()[0]
line("first call:", f"seq {first[0]}..{first[1]}, version {first[2]}, replayed={first[3]}")
line("retry with the same key:", f"seq {again[0]}..{again[1]}, version {again[2]}, replayed={again[3]}")
line("messages stored:", f"{stored}")
print()
