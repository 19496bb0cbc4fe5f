#!/usr/bin/python3
"""Concurrency stress with real connections for the 1.1 calls.

Phase 1  16 connections on one hot session, READ COMMITTED, mixing
         append_messages with replace_messages of the latest one or two
         messages they just read (a conversation editing its tail while
         others append).  Every message is unique, so the outcome can be
         accounted for exactly: every call succeeds or, for a replace whose
         suffix moved on, fails with 40001; the stored log is exactly the
         appended and replacement messages minus the replaced ones, each at
         the seq its call was given; no message is removed twice; every
         successful replace removed the messages that were then the latest
         (the highest was last_seq, so its replacement starts right after
         them); a failed replace left nothing behind; replays of successful
         replaces return their first result; version and last_seq count
         exactly the successful calls and the numbers they were given.
         Each writer pauses a random 0-2x STRESS_REPLACE_PAUSE_MS (16 ms)
         before every call: without pauses the session's lock queue is never
         empty, every replace finds its suffix moved on, and the applied
         path goes untested (0 of 449 applied, seen on both editions).  The
         writers make OPS calls each, and go on, the pause doubling every OPS
         calls, until 20 replaces have applied and 20 have been refused (at
         most 5 x OPS calls each): on a slow machine too, both paths run.
Phase 2  16 connections send one idempotency key at once with verify_replay,
         half with one content and half with another, over many rounds:
         exactly one call per round writes; those with its content replay
         its result, the others fail with 42710; the session holds exactly
         the winners' messages.
"""
import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from sslib import Checker, connect, env_int, fresh_database, run_parallel, sqlstate  # noqa: E402

DB = "session_store_stress_replace"
WRITERS = env_int("STRESS_WRITERS", 16)
OPS = env_int("STRESS_REPLACE_OPS", 60)
ROUNDS = env_int("STRESS_KEY_ROUNDS", 40)
PAUSE_MS = env_int("STRESS_REPLACE_PAUSE_MS", 16)
QUOTA = 20      # replaces applied and refused, each, before the writers stop
MAX_LAPS = 5    # ... or after this many times OPS calls each

ck = Checker("replace stress")
fresh_database(DB)
with connect(DB) as c:
    c.execute("SELECT session_store.create_session('rs', 'u', NULL, 'hot')")
    c.execute("SELECT session_store.append_messages('rs', 'u', 'hot', %s)",
              (json.dumps([{"seed": 0}, {"seed": 1}]),))

APPEND = ("SELECT first_seq, last_seq, version FROM session_store.append_messages("
          "'rs', 'u', 'hot', %s)")
LATEST = "SELECT seq, message FROM session_store.get_messages('rs', 'u', 'hot', %s)"
REPLACE = ("SELECT first_seq, last_seq, version, replayed, removed FROM "
           "session_store.replace_messages('rs', 'u', 'hot', %s, %s, idempotency_key => %s)")


# Phase 1
outcomes = [0, 0]  # replaces applied, refused (+= under the GIL: exact enough for a quota)


def writer(i, barrier):
    rnd = random.Random(i)
    out = {"appends": [], "replaces": [], "failed": [], "replays_ok": 0, "errors": []}
    with connect(DB) as c:
        barrier.wait()
        for k in range(OPS * MAX_LAPS):
            if k >= OPS and min(outcomes) >= QUOTA:
                break
            # the pause doubles with every lap of OPS calls the quota is not met
            time.sleep(rnd.uniform(0, 2 * PAUSE_MS) * 2 ** (k // OPS) / 1000)
            if rnd.random() < 0.5:
                msgs = [{"w": i, "k": k, "j": j} for j in range(rnd.randint(1, 2))]
                first, last, _ = c.execute(APPEND, (json.dumps(msgs),)).fetchone()
                out["appends"].append((first, last, msgs))
                continue
            seen = c.execute(LATEST, (rnd.randint(1, 2),)).fetchall()
            expected = [m for _, m in seen]
            repl = [{"w": i, "k": k, "r": True}]
            key = f"w{i}-k{k}"
            try:
                row = c.execute(REPLACE, (json.dumps(expected), json.dumps(repl), key)).fetchone()
            except Exception as e:  # noqa: BLE001 - classified below
                msg = str(e)
                if sqlstate(e) == "40001" and "no longer ends with the expected messages" in msg:
                    out["failed"].append((key, repl))
                    outcomes[1] += 1
                else:
                    out["errors"].append(f"{sqlstate(e)}: {msg}")
                continue
            first, last, _, replayed, removed = row
            out["replaces"].append((first, last, expected, repl, removed, replayed))
            outcomes[0] += 1
            again = c.execute(REPLACE, (json.dumps(expected), json.dumps(repl), key)).fetchone()
            if again[3] and again[0] == first and again[4] == removed:
                out["replays_ok"] += 1
    return out


res = run_parallel(WRITERS, writer)
crashed = [r for r in res if not isinstance(r, dict)]
ck.check(not crashed, f"{WRITERS} writers ran to the end", crashed[:3])
res = [r for r in res if isinstance(r, dict)]
errors = [e for r in res for e in r["errors"]]
ck.check(not errors, "every call succeeded or was a replace whose suffix had moved on (40001)",
         errors[:3])

appends = [a for r in res for a in r["appends"]]
replaces = [p for r in res for p in r["replaces"]]
failed = [f for r in res for f in r["failed"]]
ck.check(len(replaces) > 0 and len(failed) > 0,
         f"both outcomes happened: {len(replaces)} replaces applied, {len(failed)} refused")
ck.check(all(not p[5] for p in replaces), "no first call was a replay")
ck.check(sum(r["replays_ok"] for r in res) == len(replaces),
         "every applied replace, sent again with its key, replays its first result")
ck.check(all(p[4] == len(p[2]) for p in replaces), "removed = the length of the expected suffix")


def canon(m):
    return json.dumps(m, sort_keys=True)


want = {}  # seq -> message
given = 0
for first, last, msgs in appends:
    given += len(msgs)
    for n, m in enumerate(msgs):
        want[first + n] = m
for first, last, _, repl, _, _ in replaces:
    given += len(repl)
    for n, m in enumerate(repl):
        want[first + n] = m
where = {canon(m): s for s, m in want.items()}
removed = [canon(m) for p in replaces for m in p[2]]
seed = {canon({"seed": 0}): 1, canon({"seed": 1}): 2}
where.update(seed)
ck.check(len(removed) == len(set(removed)), "no message was removed twice")
ck.check(all(r in where for r in removed), "every removed message was one that had been stored")
for r in removed:
    want.pop(where[r], None)
for s in seed.values():
    if not any(where.get(r) == s for r in removed):
        want[s] = {"seed": s - 1}
stale = [p for p in replaces if max(where[canon(m)] for m in p[2]) != p[0] - 1]
ck.check(not stale,
         "every applied replace removed the latest messages: its replacement starts right after them",
         stale[:2])

with connect(DB) as c:
    stored = {s: m for s, m in c.execute(
        "SELECT seq, message FROM session_store.get_messages('rs', 'u', 'hot')")}
    version, last_seq = c.execute(
        "SELECT version, last_seq FROM session_store.get_session('rs', 'u', 'hot')").fetchone()
ck.check(stored == want,
         "the log is exactly the appended and replacement messages minus the replaced ones, at their seqs",
         f"{len(stored)} stored, {len(want)} expected")
failed_tags = {canon(m) for _, repl in failed for m in repl}
ck.check(not failed_tags & {canon(m) for m in stored.values()},
         "a refused replace left no message behind")
ck.check(version == 1 + len(appends) + len(replaces),
         "version counts exactly the successful calls", (version, len(appends), len(replaces)))
ck.check(last_seq == 2 + given, "last_seq counts every number given out, none twice",
         (last_seq, given))
with connect(DB) as c:
    keys = c.execute(
        "SELECT count(*) FROM session_store.idempotency_keys WHERE idempotency_key LIKE 'w%%'").fetchone()[0]
ck.check(keys == len(replaces), "only applied replaces recorded their key", (keys, len(replaces)))


# Phase 2
with connect(DB) as c:
    c.execute("SELECT session_store.create_session('rs', 'u', NULL, 'keys')")


def sender(i, barrier, rnd_no):
    content = [{"round": rnd_no, "variant": i % 2}]
    with connect(DB) as c:
        barrier.wait()
        try:
            row = c.execute(
                "SELECT first_seq, last_seq, replayed FROM session_store.append_messages("
                "'rs', 'u', 'keys', %s, NULL, NULL, %s, verify_replay => true)",
                (json.dumps(content), f"op-{rnd_no}")).fetchone()
            return ("ok", i % 2, row)
        except Exception as e:  # noqa: BLE001 - classified by the caller
            return ("error", i % 2, sqlstate(e))


bad_rounds = []
winners = []
for rnd_no in range(ROUNDS):
    out = run_parallel(WRITERS, sender, rnd_no)
    fresh = [o for o in out if o[0] == "ok" and not o[2][2]]
    if len(fresh) != 1:
        bad_rounds.append((rnd_no, "writers", len(fresh)))
        continue
    variant, (first, last, _) = fresh[0][1], fresh[0][2]
    winners.append((first, {"round": rnd_no, "variant": variant}))
    for o in out:
        if o[1] == variant and not (o[0] == "ok" and o[2][:2] == (first, last)):
            bad_rounds.append((rnd_no, "same content not replayed", o))
        if o[1] != variant and o != ("error", o[1], "42710"):
            bad_rounds.append((rnd_no, "other content not refused with 42710", o))
ck.check(not bad_rounds,
         f"{ROUNDS} rounds of {WRITERS} senders on one key: one writes, the same content replays, "
         "other content gets 42710", bad_rounds[:3])
with connect(DB) as c:
    stored = c.execute(
        "SELECT seq, message FROM session_store.get_messages('rs', 'u', 'keys')").fetchall()
    version = c.execute(
        "SELECT version FROM session_store.get_session('rs', 'u', 'keys')").fetchone()[0]
ck.check([(s, m) for s, m in stored] == winners and version == ROUNDS,
         "the session holds exactly one message per round, the winner's", (len(stored), version))

ck.done()
