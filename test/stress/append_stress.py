#!/usr/bin/python3
"""Concurrency stress with real connections: guarantees 1 to 4.

Phase 1  64 connections create sessions at once on a fresh app, with app:
         and user: keys: no call fails, every key is kept.
Phase 2  16 connections append to one hot session while 16 more append to
         their own sessions, READ COMMITTED, no retries: every call
         succeeds; the hot session's ranges are disjoint and cover 1..N;
         each range holds exactly the messages of the call that got it, in
         order; versions equal the number of calls; no state key is lost.
Phase 3  16 REPEATABLE READ connections on one hot session, retrying on
         40001 as a client should: nothing but 40001 ever fails (never
         23505), and the log is still exactly 1..N.
"""
import json
import os
import random
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from sslib import Checker, connect, env_int, fresh_database, run_parallel, sqlstate  # noqa: E402

DB = "session_store_stress_append"
CREATORS = env_int("STRESS_CREATORS", 64)
WRITERS = env_int("STRESS_WRITERS", 16)
CALLS = env_int("STRESS_CALLS", 150)
RR_WRITERS = env_int("STRESS_RR_WRITERS", 16)
RR_CALLS = env_int("STRESS_RR_CALLS", 40)

ck = Checker("append stress")
fresh_database(DB)


# Phase 1: a storm of create_session on an app and users never seen before.
def create(i, barrier):
    with connect(DB) as c:
        barrier.wait()
        state = {f"app:k{i}": i, f"user:k{i}": i, "mine": i}
        c.execute("SELECT session_store.create_session('storm', %s, %s, %s)",
                  (f"user{i % 8}", json.dumps(state), f"s{i}"))
    return True

res = run_parallel(CREATORS, create)
errors = [r for r in res if r is not True]
ck.check(not errors, f"{CREATORS} concurrent create_session on a fresh app: no error",
         errors[:3])
with connect(DB) as c:
    app_state = c.execute("SELECT session_store.get_app_state('storm')").fetchone()[0]
    ck.check(app_state == {f"k{i}": i for i in range(CREATORS)},
             "every app: key of every creator is kept", app_state)
    users = dict(c.execute(
        "SELECT u, session_store.get_user_state('storm', u) FROM "
        "(SELECT DISTINCT user_id AS u FROM session_store.sessions WHERE app_name = 'storm') x"))
    want = {f"user{u}": {f"k{i}": i for i in range(CREATORS) if i % 8 == u} for u in range(8)}
    ck.check(users == want, "every user: key of every creator is kept")
    n = c.execute("SELECT count(*) FROM session_store.sessions WHERE app_name = 'storm'").fetchone()[0]
    ck.check(n == CREATORS, f"{CREATORS} sessions exist", n)


# Phase 2: hot session and own sessions, READ COMMITTED, no retries.
with connect(DB) as c:
    c.execute("SELECT session_store.create_session('load', 'hot', NULL, 'hot')")
    for i in range(WRITERS):
        c.execute("SELECT session_store.create_session('load', %s, NULL, 'own')", (f"w{i}",))


def append(i, barrier):
    """Thread i < WRITERS: the hot session; otherwise its own session."""
    rng = random.Random(i)
    hot = i < WRITERS
    user = "hot" if hot else f"w{i - WRITERS}"
    sess = "hot" if hot else "own"
    ranges = []
    with connect(DB) as c:
        barrier.wait()
        for call in range(CALLS):
            n = rng.choice((0, 1, 1, 1, 2, 3, 5))
            msgs = [{"t": i, "c": call, "i": k} for k in range(n)]
            delta = None
            if call == CALLS - 1:          # last call: one key per scope
                delta = json.dumps({f"t{i}": call, f"app:t{i}": call, f"user:t{i}": call})
            elif rng.random() < 0.2:
                delta = json.dumps({f"t{i}": call})
            row = c.execute(
                "SELECT first_seq, last_seq, version FROM session_store.append_messages("
                "'load', %s, %s, %s, %s)", (user, sess, json.dumps(msgs), delta)).fetchone()
            ranges.append((call, n, row[0], row[1]))
    return ranges

res = run_parallel(2 * WRITERS, append)
errors = [r for r in res if isinstance(r, BaseException)]
ck.check(not errors, f"{2 * WRITERS} writers x {CALLS} calls, READ COMMITTED, no retries: no error",
         errors[:3])

if not errors:
    with connect(DB) as c:
        # hot session
        hot_calls = [(i, call, n, f, l) for i in range(WRITERS) for (call, n, f, l) in res[i]]
        total = sum(n for (_, _, n, _, _) in hot_calls)
        version, last_seq = c.execute(
            "SELECT version, last_seq FROM session_store.get_session('load', 'hot', 'hot')").fetchone()
        ck.check(version == WRITERS * CALLS, "hot session: version = number of calls",
                 (version, WRITERS * CALLS))
        ck.check(last_seq == total, "hot session: last_seq = number of messages", (last_seq, total))
        covered = []
        bad = []
        for (i, call, n, f, l) in hot_calls:
            if n == 0:
                if f is not None or l is not None:
                    bad.append((i, call, f, l))
                continue
            if l - f + 1 != n:
                bad.append((i, call, f, l))
            covered.extend(range(f, l + 1))
        ck.check(not bad, "hot session: each call got a range of its own size", bad[:3])
        ck.check(sorted(covered) == list(range(1, total + 1)),
                 "hot session: ranges are disjoint and cover 1..N without gaps")
        log = c.execute("SELECT seq, message FROM session_store.get_messages('load', 'hot', 'hot')").fetchall()
        ck.check([s for s, _ in log] == list(range(1, total + 1)),
                 "hot session: stored sequence is exactly 1..N")
        owner = {}
        for (i, call, n, f, l) in hot_calls:
            for k in range(n):
                owner[f + k] = {"t": i, "c": call, "i": k}
        mism = [(s, m) for s, m in log if owner.get(s) != m]
        ck.check(not mism, "hot session: every range holds its own call's messages, in order",
                 mism[:3])
        state = c.execute("SELECT state FROM session_store.get_session('load', 'hot', 'hot')").fetchone()[0]
        missing = [k for i in range(WRITERS) for k in (f"t{i}", f"app:t{i}", f"user:t{i}")
                   if k not in state]
        ck.check(not missing, "hot session: no state key lost", missing[:5])
        # own sessions
        bad = []
        for w in range(WRITERS):
            calls = res[WRITERS + w]
            n_total = sum(n for (_, n, _, _) in calls)
            v, ls = c.execute("SELECT version, last_seq FROM session_store.get_session('load', %s, 'own')",
                              (f"w{w}",)).fetchone()
            seqs = [r[0] for r in c.execute(
                "SELECT seq FROM session_store.get_messages('load', %s, 'own')", (f"w{w}",))]
            if v != CALLS or ls != n_total or seqs != list(range(1, n_total + 1)):
                bad.append((w, v, ls, len(seqs)))
        ck.check(not bad, "own sessions: version = calls, log exactly 1..N", bad[:3])
        app = c.execute("SELECT session_store.get_app_state('load')").fetchone()[0]
        ck.check(all(f"t{i}" in app for i in range(2 * WRITERS)),
                 "app state: every writer's key kept")


# Phase 3: REPEATABLE READ on one hot session, retrying on 40001 only.
with connect(DB) as c:
    c.execute("SELECT session_store.create_session('load', 'rr', NULL, 'rr')")


def rr_append(i, barrier):
    retries = 0
    other = []
    done = []
    with connect(DB, autocommit=False) as c:
        c.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        barrier.wait()
        for call in range(RR_CALLS):
            msgs = json.dumps([{"t": i, "c": call}])
            while True:
                try:
                    row = c.execute(
                        "SELECT first_seq FROM session_store.append_messages('load', 'rr', 'rr', %s)",
                        (msgs,)).fetchone()
                    c.commit()
                    done.append(row[0])
                    break
                except psycopg.Error as e:
                    c.rollback()
                    if sqlstate(e) == "40001":
                        retries += 1
                        continue
                    other.append(sqlstate(e) or repr(e))
                    break
    return retries, other, done

import psycopg  # noqa: E402  (for IsolationLevel in the threads)
res = run_parallel(RR_WRITERS, rr_append)
crashed = [r for r in res if isinstance(r, BaseException)]
ck.check(not crashed, "REPEATABLE READ writers ran", crashed[:3])
if not crashed:
    retries = sum(r[0] for r in res)
    other = [e for r in res for e in r[1]]
    firsts = sorted(f for r in res for f in r[2])
    ck.check(not other, "REPEATABLE READ: no error but 40001 (never 23505)", other[:5])
    print(f"     ({retries} serialization failures retried)")
    n = RR_WRITERS * RR_CALLS
    with connect(DB) as c:
        v, ls = c.execute("SELECT version, last_seq FROM session_store.get_session('load', 'rr', 'rr')").fetchone()
        seqs = [r[0] for r in c.execute("SELECT seq FROM session_store.get_messages('load', 'rr', 'rr')")]
    ck.check(firsts == list(range(1, n + 1)) and seqs == firsts and v == n and ls == n,
             "REPEATABLE READ: every committed call has its own seq, log exactly 1..N",
             (len(firsts), len(seqs), v, ls))

with connect(DB) as c:
    orphans = c.execute(
        "SELECT count(*) FROM session_store.messages m WHERE NOT EXISTS "
        "(SELECT 1 FROM session_store.sessions s WHERE s.user_id = m.user_id AND s.sid = m.sid)").fetchone()[0]
    ck.check(orphans == 0, "no orphan messages", orphans)
ck.done()
