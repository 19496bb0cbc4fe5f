#!/usr/bin/python3
"""A random mix of every API call from 36 connections on a few hot sessions,
then every invariant checked by exact accounting.

Threads (READ COMMITTED, no retries but on the 40001 of a stale
expected_version):
  24 writers   append (batches of 0..5, state deltas to their own session,
               app: and user: keys, expected_version, idempotency keys and
               their replays) and now and then pop, rewind or clear, on 4
               hot sessions;
   4 forkers   fork hot sessions (whole or up to a seq) and delete forks;
   4 readers   get_session, get_messages (windows), list_sessions pages;
   2 expirers  expire_sessions, which must spare every hot session and every
               session appended to during the run;
   2 revivers  append to sessions that were idle when the run started, while
               the expirers delete idle ones.

Afterwards, for every hot session:
  - the ranges appends were given are disjoint and cover 1..last_seq;
  - every stored message is the one appended at its seq, and stored +
    removed (pop rows, rewind and clear counts) = appended;
  - version = successful mutations (appends that were not replays, and
    removals that removed something);
  - every writer's last write to its state keys (session, app, user) holds;
  - every replay returned the first call's result;
and for the store: forks hold the source's messages at their seqs, deleted
forks are gone, revived sessions survived expiry, no orphan messages or keys.
"""
import json
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from sslib import Checker, connect, env_int, fresh_database, run_parallel, sqlstate  # noqa: E402

import psycopg  # noqa: E402

DB = "session_store_stress_mix"
HOT = [f"h{i}" for i in range(4)]
WRITERS = env_int("MIX_WRITERS", 24)
OPS = env_int("MIX_OPS", 200)
SEED = env_int("MIX_SEED", 20261123)

ck = Checker(f"mixed-API stress (seed {SEED})")
fresh_database(DB)
with connect(DB) as c:
    for s in HOT:
        c.execute("SELECT session_store.create_session('mix', 'u-' || %s, NULL, %s)", (s, s))
    # idle sessions: some get revived by appends, the expirers delete the rest
    for i in range(40):
        c.execute("SELECT session_store.create_session('idle', 'u', NULL, %s)", (f"i{i}",))
    c.execute("UPDATE session_store.sessions SET update_time = now() - interval '2 hours' "
              "WHERE app_name = 'idle'")

lock = threading.Lock()
appends = {s: [] for s in HOT}      # session -> [(first, last, version, msgs)]
removals = {s: [] for s in HOT}     # session -> [(kind, removed, version)]
replays_bad = []
last_state = {}                     # (scope, session or user, key) -> value or None
forks = []                          # (fork id, source, up_to, fork last_seq)
deleted_forks = []
revived = set()
errors = []


def user_of(s):
    return "u-" + s


def writer(i, barrier):
    rng = random.Random(SEED * 100 + i)
    s = HOT[i % len(HOT)]
    u = user_of(s)
    seen_version = None
    keys_used = {}
    counter = 0
    with connect(DB) as c:
        barrier.wait()
        for op in range(OPS):
            r = rng.random()
            try:
                if r < 0.70:
                    counter += 1
                    n = rng.choice((0, 1, 1, 2, 3, 5))
                    msgs = [{"w": i, "op": op, "k": k} for k in range(n)]
                    delta = {}
                    if rng.random() < 0.4:
                        v = None if rng.random() < 0.2 else counter
                        delta[f"w{i}"] = v
                        delta[f"app:w{i}"] = v
                        delta[f"user:w{i}"] = v
                    expected = seen_version if rng.random() < 0.2 else None
                    key = f"k{i}-{op}" if rng.random() < 0.3 else None
                    try:
                        first, last, version, replayed = c.execute(
                            "SELECT first_seq, last_seq, version, replayed FROM session_store.append_messages("
                            "'mix', %s, %s, %s, %s, %s, %s)",
                            (u, s, json.dumps(msgs), json.dumps(delta) if delta else None, expected, key)).fetchone()
                    except psycopg.errors.SerializationFailure:
                        continue        # a stale expected_version: nothing written
                    with lock:
                        appends[s].append((first, last, version, msgs))
                        for k, v in delta.items():
                            scope = k.split(":")[0] if ":" in k else "session"
                            last_state[(scope, s if scope == "session" else (u if scope == "user" else "mix"),
                                        k.split(":")[-1])] = v
                    seen_version = version
                    if key is not None:
                        keys_used[key] = (first, last, version)
                        # retry it now and then: it must replay
                        if rng.random() < 0.5:
                            again = c.execute(
                                "SELECT first_seq, last_seq, version, replayed FROM session_store.append_messages("
                                "'mix', %s, %s, '[{\"retry\": true}]', NULL, 0, %s)", (u, s, key)).fetchone()
                            if tuple(again) != (first, last, version, True):
                                with lock:
                                    replays_bad.append((s, key, again, (first, last, version)))
                elif r < 0.80:
                    # pop, in a transaction that also reads the resulting version
                    with c.transaction():
                        rows = c.execute("SELECT seq FROM session_store.pop_message('mix', %s, %s)",
                                         (u, s)).fetchall()
                        v = c.execute("SELECT version FROM session_store.get_session('mix', %s, %s)",
                                      (u, s)).fetchone()[0]
                    with lock:
                        removals[s].append(("pop", len(rows), v))
                elif r < 0.88:
                    with c.transaction():
                        to = c.execute("SELECT greatest(last_seq - %s, 0) FROM session_store.get_session('mix', %s, %s)",
                                       (rng.randint(0, 6), u, s)).fetchone()[0]
                        n = c.execute("SELECT session_store.rewind_session('mix', %s, %s, %s)",
                                      (u, s, to)).fetchone()[0]
                        v = c.execute("SELECT version FROM session_store.get_session('mix', %s, %s)",
                                      (u, s)).fetchone()[0]
                    with lock:
                        removals[s].append(("rewind", n, v))
                elif r < 0.90:
                    with c.transaction():
                        n = c.execute("SELECT session_store.clear_session('mix', %s, %s)", (u, s)).fetchone()[0]
                        v = c.execute("SELECT version FROM session_store.get_session('mix', %s, %s)",
                                      (u, s)).fetchone()[0]
                    with lock:
                        removals[s].append(("clear", n, v))
                else:
                    c.execute("SELECT count(*) FROM session_store.get_messages('mix', %s, %s, %s)",
                              (u, s, rng.randint(1, 10)))
            except psycopg.Error as e:
                with lock:
                    errors.append(("writer", i, op, sqlstate(e), str(e)[:200]))
    return True


def forker(i, barrier):
    rng = random.Random(SEED * 1000 + i)
    with connect(DB) as c:
        barrier.wait()
        for op in range(OPS // 2):
            s = rng.choice(HOT)
            u = user_of(s)
            try:
                fid = f"f{i}-{op}"
                up_to = rng.choice((None, rng.randint(0, 50)))
                last = c.execute("SELECT last_seq FROM session_store.fork_session('mix', %s, %s, %s, %s)",
                                 (u, s, fid, up_to)).fetchone()[0]
                with lock:
                    forks.append((fid, s, up_to, last))
                if rng.random() < 0.3:
                    gone = c.execute("SELECT session_store.delete_session('mix', %s, %s)", (u, fid)).fetchone()[0]
                    if gone:
                        with lock:
                            deleted_forks.append((u, fid))
            except psycopg.Error as e:
                with lock:
                    errors.append(("forker", i, op, sqlstate(e), str(e)[:200]))
    return True


def reader(i, barrier):
    rng = random.Random(SEED * 10000 + i)
    bad = []
    with connect(DB) as c:
        barrier.wait()
        for op in range(OPS):
            s = rng.choice(HOT)
            u = user_of(s)
            try:
                k = rng.random()
                if k < 0.4:
                    after = rng.randint(0, 100)
                    rows = c.execute("SELECT seq FROM session_store.get_messages('mix', %s, %s, %s, %s)",
                                     (u, s, rng.choice((None, 5, 20)), after)).fetchall()
                    seqs = [r[0] for r in rows]
                    if seqs != sorted(set(seqs)) or any(q <= after for q in seqs):
                        bad.append(("get_messages", s, seqs[:10]))
                elif k < 0.7:
                    c.execute("SELECT * FROM session_store.get_session('mix', %s, %s)", (u, s)).fetchall()
                else:
                    token, seen = None, []
                    for _ in range(3):
                        rows = c.execute("SELECT session_id, next_page_token FROM session_store.list_sessions("
                                         "'mix', NULL, 5, %s)", (token,)).fetchall()
                        seen += [r[0] for r in rows]
                        if len(rows) < 5:
                            break
                        token = rows[-1][1]
            except psycopg.Error as e:
                with lock:
                    errors.append(("reader", i, op, sqlstate(e), str(e)[:200]))
    return bad


def expirer(i, barrier):
    deleted = 0
    with connect(DB) as c:
        barrier.wait()
        for op in range(OPS // 4):
            try:
                deleted += c.execute("SELECT session_store.expire_sessions('1 hour', %s, 3)",
                                     ("idle" if op % 2 == 0 else None,)).fetchone()[0]
            except psycopg.Error as e:
                with lock:
                    errors.append(("expirer", i, op, sqlstate(e), str(e)[:200]))
            time.sleep(0.01)
    return deleted


def reviver(i, barrier):
    rng = random.Random(SEED * 100000 + i)
    with connect(DB) as c:
        barrier.wait()
        for op in range(OPS // 4):
            sid = f"i{rng.randrange(40)}"
            try:
                c.execute("SELECT session_store.append_messages('idle', 'u', %s, '[{\"alive\": true}]')", (sid,))
                with lock:
                    revived.add(sid)
            except psycopg.errors.UndefinedObject:
                pass            # expired before this append: fine
            except psycopg.Error as e:
                with lock:
                    errors.append(("reviver", i, op, sqlstate(e), str(e)[:200]))
    return True


roles = ([writer] * WRITERS + [forker] * 4 + [reader] * 4 + [expirer] * 2 + [reviver] * 2)
counters = {}


def dispatch(i, barrier):
    fn = roles[i]
    k = counters.setdefault(fn.__name__, [0])
    with lock:
        idx = k[0]
        k[0] += 1
    return fn(idx, barrier)


t0 = time.monotonic()
results = run_parallel(len(roles), dispatch)
print(f"     {len(roles)} connections, {time.monotonic() - t0:.1f}s")
crashed = [r for r in results if isinstance(r, BaseException)]
ck.check(not crashed, "every thread ran to the end", crashed[:3])
ck.check(not errors, "no call failed (but stale expected_versions)", errors[:5])
ck.check(not replays_bad, "every retried idempotency key replayed the first result", replays_bad[:3])
bad_reads = [b for r in results if isinstance(r, list) for b in r]
ck.check(not bad_reads, "readers saw ascending, windowed, distinct sequence numbers", bad_reads[:3])

with connect(DB) as c:
    for s in HOT:
        u = user_of(s)
        version, last_seq, state = c.execute(
            "SELECT version, last_seq, state FROM session_store.get_session('mix', %s, %s)", (u, s)).fetchone()
        stored = dict(c.execute("SELECT seq, message FROM session_store.get_messages('mix', %s, %s)",
                                (u, s)).fetchall())
        mine = [a for a in appends[s]]
        assigned = {}
        overlap = False
        for first, last, v, msgs in mine:
            if first is None:
                continue
            for k, m in enumerate(msgs):
                if first + k in assigned:
                    overlap = True
                assigned[first + k] = m
        ck.check(not overlap and sorted(assigned) == list(range(1, last_seq + 1)),
                 f"{s}: appends' ranges are disjoint and cover 1..last_seq ({last_seq})")
        wrong = [q for q, m in stored.items() if assigned.get(q) != m]
        ck.check(not wrong, f"{s}: every stored message is the one appended at its seq", wrong[:5])
        removed = sum(n for _, n, _ in removals[s])
        ck.check(len(stored) + removed == len(assigned),
                 f"{s}: stored ({len(stored)}) + removed ({removed}) = appended ({len(assigned)})")
        mutations = len(mine) + sum(1 for _, n, _ in removals[s] if n > 0)
        ck.check(version == mutations, f"{s}: version {version} = successful mutations {mutations}")
        versions = sorted([a[2] for a in mine] + [v for _, n, v in removals[s] if n > 0])
        ck.check(versions == list(range(1, version + 1)),
                 f"{s}: each mutation got its own version, 1..{version}")
        app_state = c.execute("SELECT session_store.get_app_state('mix')").fetchone()[0]
        user_state = c.execute("SELECT session_store.get_user_state('mix', %s)", (u,)).fetchone()[0]
        lost = []
        for (scope, owner, key), v in last_state.items():
            if scope == "session" and owner == s:
                have = state.get(key)
            elif scope == "user" and owner == u:
                have = user_state.get(key)
            elif scope == "app" and s == HOT[0]:
                have = app_state.get(key)
            else:
                continue
            if have != v:
                lost.append((scope, owner, key, v, have))
        ck.check(not lost, f"{s}: every writer's last state write holds", lost[:5])

    # forks hold the source's messages at their seqs (those that existed then)
    all_assigned = {}
    for s in HOT:
        for first, last, v, msgs in appends[s]:
            for k, m in enumerate(msgs):
                if first is not None:
                    all_assigned[(s, first + k)] = m
    deleted = set(deleted_forks)
    bad = []
    for fid, s, up_to, last in forks:
        u = user_of(s)
        exists = c.execute("SELECT count(*) FROM session_store.get_session('mix', %s, %s)",
                           (u, fid)).fetchone()[0]
        if (u, fid) in deleted:
            if exists:
                bad.append((fid, "deleted but exists"))
            continue
        if not exists:
            bad.append((fid, "missing"))
            continue
        rows = c.execute("SELECT seq, message FROM session_store.get_messages('mix', %s, %s)",
                         (u, fid)).fetchall()
        for q, m in rows:
            if q > last or (up_to is not None and q > up_to) or all_assigned.get((s, q)) != m:
                bad.append((fid, q))
    ck.check(not bad, f"{len(forks)} forks: each holds source messages at their seqs, "
             f"{len(deleted)} deleted ones are gone", bad[:5])

    idle_left = {r[0] for r in c.execute(
        "SELECT session_id FROM session_store.sessions WHERE app_name = 'idle'")}
    ck.check(revived <= idle_left, f"all {len(revived)} idle sessions appended to during the run survived "
             f"expiry ({40 - len(idle_left)} others expired)", sorted(revived - idle_left)[:5])
    hot_left = c.execute("SELECT count(*) FROM session_store.sessions WHERE app_name = 'mix' "
                         "AND session_id = ANY(%s)", (HOT,)).fetchone()[0]
    ck.check(hot_left == len(HOT), "no hot session was expired")
    orphans = c.execute(
        "SELECT (SELECT count(*) FROM session_store.messages m WHERE NOT EXISTS (SELECT 1 FROM "
        "session_store.sessions s WHERE s.user_id = m.user_id AND s.sid = m.sid)),"
        "       (SELECT count(*) FROM session_store.idempotency_keys k WHERE NOT EXISTS (SELECT 1 FROM "
        "session_store.sessions s WHERE s.user_id = k.user_id AND s.sid = k.sid))").fetchone()
    ck.check(orphans == (0, 0), "no orphan messages or idempotency keys", orphans)
ck.done()
