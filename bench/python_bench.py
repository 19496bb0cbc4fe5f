#!/usr/bin/env python3
"""Benchmark through the Python adapters: the frameworks' own PostgreSQL
stores against session_store, on one server, in alternating rounds (theirs,
ours, theirs, ours ...), each side with a pool of the same size.

  ADK        DatabaseSessionService (SQLAlchemy + asyncpg)  vs  SessionStoreService
  OpenAI     SQLAlchemySession (SQLAlchemy + asyncpg)        vs  SessionStoreSession

Workloads: create_session; append_event with 8 tasks on their own sessions
and 16 tasks on one session (re-read and retry when stale); get_session with
20 recent events at a small and a large session; list_sessions at 10,000
sessions; add_items, get_items(20), pop_item.  Prints, per workload, the
median throughput of each side, the ratio, and the error count; for the
reads, the large/small latency ratio.

Then the cost of the client's retry layer: the adapters' appends (ADK
append_event, OpenAI add_items, 8 tasks each) through a store with retries
on (the default: add_items then sends a key the client makes) and one with
retry=False, in alternating rounds, and the ratio on/off; beside them, the
server's share: append_messages with retries off, with and without a key.

  python_bench.py [--rounds 3] [--seconds 5] [--small 1000] [--large 100000]
                  [--sessions 10000] [--retry-rounds 20] [--retry-seconds 1]
                  [--only-retry-cost] [--no-retry-cost]
                  [--editions c,portable] [--portable FILE] [--target 5]
                  [--out FILE]

--editions: which editions "ours" runs on, each in a database of its own on
the same server, alternating rounds with theirs: c (CREATE EXTENSION, the
default), portable (psql -f FILE, default portable/session_store.sql), or
both (then the table has a portable/ours column: the portable edition over
the C one).  --target X adds whether each edition is at least X times theirs
on every workload.

Needs a server with the extension, through the libpq environment.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid

import psycopg

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "demo"))
os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")
from python_compare import fresh_database, server_url  # noqa: E402

from google.adk.errors._stale_session_error import StaleSessionError  # noqa: E402
from google.adk.events.event import Event  # noqa: E402
from google.adk.events.event_actions import EventActions  # noqa: E402
from google.adk.sessions.base_session_service import GetSessionConfig  # noqa: E402
from google.adk.sessions.database_session_service import DatabaseSessionService  # noqa: E402
from google.genai import types  # noqa: E402
from agents.extensions.memory.sqlalchemy_session import SQLAlchemySession  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402

from session_store import AsyncSessionStore  # noqa: E402
from session_store.adk import SessionStoreService  # noqa: E402
from session_store.openai_agents import SessionStoreSession  # noqa: E402

POOL = 16
DB_THEIRS, DB_OURS = "ss_bench_theirs", "ss_bench_ours"
DB_PORTABLE = "ss_bench_portable"
REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
TEXT = "lorem ipsum dolor sit amet " * 8


def event(author="user", delta=None, ts=None):
    kw = {"author": author, "invocation_id": "inv",
          "content": types.Content(role="user", parts=[types.Part(text=TEXT)])}
    if delta:
        kw["actions"] = EventActions(state_delta=delta)
    if ts is not None:
        kw["timestamp"] = ts
    return Event(**kw)


class Side:
    def __init__(self, name, adk, oa_engine=None, oa_store=None):
        self.name, self.adk = name, adk
        self.oa_engine, self.oa_store = oa_engine, oa_store

    def oa_session(self, sid):
        if self.oa_engine is not None:
            return SQLAlchemySession(sid, engine=self.oa_engine, create_tables=False)
        return SessionStoreSession(sid, self.oa_store, app_name="bench", user_id="u")


async def timed(seconds, tasks, body):
    """Run `tasks` coroutines looping body(task_no, i) for `seconds`; return
    (ops, errors, stale)."""
    stop = time.perf_counter() + seconds
    counts = {"ops": 0, "errors": 0, "stale": 0, "first_error": None}

    async def loop(t):
        i = 0
        while time.perf_counter() < stop:
            try:
                counts["stale"] += await body(t, i) or 0
                counts["ops"] += 1
            except Exception as e:  # noqa: BLE001 - counted
                counts["errors"] += 1
                counts["first_error"] = counts["first_error"] or repr(e)[:200]
            i += 1
    start = time.perf_counter()
    await asyncio.gather(*[loop(t) for t in range(tasks)])
    elapsed = time.perf_counter() - start
    return counts["ops"] / elapsed, counts["errors"], counts["stale"], counts["first_error"]


async def latency(n, body):
    times, errors = [], 0
    for i in range(n):
        t0 = time.perf_counter()
        try:
            await body(i)
        except Exception:  # noqa: BLE001 - counted
            errors += 1
        times.append(time.perf_counter() - t0)
    return statistics.median(times), errors


# ---------------------------------------------------------------- workloads

async def w_create(side, seconds):
    tag = uuid.uuid4().hex[:6]

    async def body(t, i):
        await side.adk.create_session(app_name="bench", user_id=f"u{t}",
                                      session_id=f"c-{tag}-{t}-{i}",
                                      state={"k": i})
    return await timed(seconds, 16, body)


async def w_append_own(side, seconds):
    sessions = [await side.adk.create_session(app_name="bench", user_id=f"own{t}")
                for t in range(8)]

    async def body(t, i):
        await side.adk.append_event(sessions[t], event(delta={"i": i}))
    return await timed(seconds, 8, body)


async def w_append_hot(side, seconds):
    hot = await side.adk.create_session(app_name="bench", user_id="hot")

    async def body(t, i):
        stale = 0
        while True:
            s = await side.adk.get_session(app_name="bench", user_id="hot", session_id=hot.id,
                                           config=GetSessionConfig(num_recent_events=1))
            try:
                await side.adk.append_event(s, event(delta={f"t{t}": i}))
                return stale
            except StaleSessionError:
                stale += 1
    return await timed(seconds, 16, body)


async def w_get(side, sid, n):
    async def body(i):
        s = await side.adk.get_session(app_name="bench", user_id="reader", session_id=sid,
                                       config=GetSessionConfig(num_recent_events=20))
        assert len(s.events) == 20
    return await latency(n, body)


async def w_list(side, n):
    async def body(i):
        r = await side.adk.list_sessions(app_name="listing", user_id="lister")
        assert len(r.sessions) >= 1000
    return await latency(n, body)


async def w_add_items(side, seconds):
    tag = uuid.uuid4().hex[:6]

    async def body(t, i):
        await side.oa_session(f"add-{tag}-{t}").add_items(
            [{"role": "user", "content": TEXT}])
    return await timed(seconds, 8, body)


async def w_store_append(side, seconds):
    """append_messages on the store, 8 tasks on own sessions, with a key
    made per call (side "key") or none."""
    store, tag = side.oa_store, uuid.uuid4().hex[:6]
    for t in range(8):
        await store.create_session(app_name="bench", user_id="u", session_id=f"k-{tag}-{t}")

    async def body(t, i):
        await store.append_messages(
            app_name="bench", user_id="u", session_id=f"k-{tag}-{t}",
            messages=[{"role": "user", "content": TEXT}],
            idempotency_key=str(uuid.uuid4()) if side.name == "key" else None)
    return await timed(seconds, 8, body)


async def w_get_items(side, n):
    s = side.oa_session("reader")

    async def body(i):
        assert len(await s.get_items(20)) == 20
    return await latency(n, body)


async def w_pop(side, seconds):
    tag = uuid.uuid4().hex[:6]
    for t in range(8):
        for chunk in range(3):  # session_store.max_batch_messages is 1000
            await side.oa_session(f"pop-{tag}-{t}").add_items(
                [{"role": "user", "content": TEXT, "n": k} for k in range(1000)])

    async def body(t, i):
        if await side.oa_session(f"pop-{tag}-{t}").pop_item() is None:
            raise RuntimeError("ran out of items to pop")
    return await timed(seconds, 8, body)


# ---------------------------------------------------------------- fixtures

def template_event():
    return event().model_dump(mode="json", exclude_none=True)


async def populate(theirs: Side, ours_sides: list, small: int, large: int, sessions: int):
    """Big sessions and a big listing for both sides.  Ours through the
    client (append_messages batches, create_session); theirs with bulk SQL
    into its own tables, as its service would have written them."""
    tpl = template_event()
    for size in (small, large):
        sid = f"size{size}"
        await theirs.adk.create_session(app_name="bench", user_id="reader", session_id=sid)
        with psycopg.connect(dbname=DB_THEIRS, autocommit=True) as c:
            c.execute("""
                INSERT INTO events (id, app_name, user_id, session_id, invocation_id,
                                    timestamp, event_data)
                SELECT %(sid)s || '-' || g, 'bench', 'reader', %(sid)s, 'inv',
                       to_timestamp(1.7e9 + g) AT TIME ZONE 'UTC',
                       %(tpl)s::jsonb || jsonb_build_object('id', %(sid)s || '-' || g,
                                                            'timestamp', 1.7e9 + g)
                FROM generate_series(1, %(n)s) AS g""",
                      {"sid": sid, "tpl": json.dumps(tpl), "n": size})
            c.execute("ANALYZE events")
        for ours in ours_sides:
            await ours.adk.create_session(app_name="bench", user_id="reader", session_id=sid)
            store: AsyncSessionStore = ours.adk.store
            for start in range(1, size + 1, 1000):
                batch = [dict(tpl, id=f"{sid}-{g}", timestamp=1.7e9 + g)
                         for g in range(start, min(start + 1000, size + 1))]
                await store.append_messages(app_name="bench", user_id="reader", session_id=sid,
                                            messages=batch)
    # a listing of `sessions` sessions of one user
    await theirs.adk.create_session(app_name="listing", user_id="lister", session_id="l0")
    with psycopg.connect(dbname=DB_THEIRS, autocommit=True) as c:
        c.execute("""
            INSERT INTO sessions (app_name, user_id, id, state, create_time, update_time)
            SELECT 'listing', 'lister', 'l' || g, '{}', now() AT TIME ZONE 'UTC',
                   (now() - g * interval '1 second') AT TIME ZONE 'UTC'
            FROM generate_series(1, %s - 1) AS g""", (sessions,))
        c.execute("ANALYZE sessions")
    sem = asyncio.Semaphore(POOL)

    for ours in ours_sides:
        async def one(g):
            async with sem:
                await ours.adk.store.create_session(app_name="listing", user_id="lister",
                                                    session_id=f"l{g}")
        await asyncio.gather(*[one(g) for g in range(sessions)])
    # items to read for get_items(20)
    await theirs.oa_session("reader").add_items([{"role": "user", "content": TEXT}] * 1000)
    for ours in ours_sides:
        await ours.oa_session("reader").add_items([{"role": "user", "content": TEXT}] * 1000)


async def retry_cost(a, db=DB_OURS):
    """Retries on against retries off, the adapters' appends, alternating
    rounds on one database: [(workload, {"on": [ops/s], "off": [...]},
    errors)]."""
    on_store = AsyncSessionStore(server_url(db), min_size=POOL, max_size=POOL)
    off_store = AsyncSessionStore(server_url(db), min_size=POOL, max_size=POOL,
                                  retry=False)
    sides = {"on": Side("on", SessionStoreService(on_store), oa_store=on_store),
             "off": Side("off", SessionStoreService(off_store), oa_store=off_store)}
    keyed = {"on": Side("key", None, oa_store=off_store),
             "off": Side("no key", None, oa_store=off_store)}
    results = []
    for name, fn, pair in (
            ("append_event, 8 tasks on own sessions", w_append_own, sides),
            ("add_items (8 tasks)", w_add_items, sides),
            ("append_messages, retries off: key/no key", w_store_append, keyed)):
        per, errs = {"on": [], "off": []}, {"on": 0, "off": 0}
        for r in range(a.retry_rounds):
            for key in (("on", "off") if r % 2 == 0 else ("off", "on")):
                ops, e, _, _ = await fn(pair[key], a.retry_seconds)
                per[key].append(ops)
                errs[key] += e
        results.append((name, per, errs))
        print(f"  done: retry cost, {name}", flush=True)
    await on_store.close()
    await off_store.close()
    return results


def retry_report(results, a):
    lines = [f"The retry layer's cost: retries on (default) vs retry=False, {a.retry_rounds} "
             f"alternating rounds of {a.retry_seconds}s (pool {POOL} each), medians (the last "
             f"line: on = with a key, off = without):",
             f"{'workload':44} {'on':>12} {'off':>12} {'on/off':>8} {'errors on/off':>14}",
             "(on/off: the median of the ratios of the rounds run side by side, which a "
             "load that drifts over the run moves less than the ratio of the medians)"]
    for name, per, errs in results:
        on, off = statistics.median(per["on"]), statistics.median(per["off"])
        ratio = statistics.median(x / y for x, y in zip(per["on"], per["off"]))
        lines.append(f"{name:44} {on:10.0f}/s {off:10.0f}/s {ratio:8.3f} "
                     f"{errs['on']:>7}/{errs['off']:<6}")
        lines.append(f"{'':44} rounds on:  " + " ".join(f"{x:.0f}" for x in per["on"]))
        lines.append(f"{'':44} rounds off: " + " ".join(f"{x:.0f}" for x in per["off"]))
    return "\n".join(lines)


EDITION_DB = {"c": ("ours", DB_OURS), "portable": ("portable", DB_PORTABLE)}


def install(edition, a):
    """A fresh database of the edition: CREATE EXTENSION, or the portable
    edition's script."""
    name, db = EDITION_DB[edition]
    fresh_database(db, extension=(edition == "c"))
    if edition == "portable":
        subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db, "-f", a.portable],
                       check=True, stdout=subprocess.DEVNULL)
    with psycopg.connect(dbname=db, autocommit=True) as c:
        got = c.execute("SELECT edition FROM session_store.edition()").fetchone()[0]
    if got != edition:
        sys.exit(f"{db}: edition {got}, expected {edition}")
    return name, db


async def main_async(a):
    fresh_database(DB_THEIRS, extension=False)
    ours_dbs = [install(e, a) for e in a.editions]
    if a.only_retry_cost:
        return [], await retry_cost(a, ours_dbs[0][1])
    theirs_adk = DatabaseSessionService(server_url(DB_THEIRS, "asyncpg"),
                                        pool_size=POOL, max_overflow=0)
    oa_engine = create_async_engine(server_url(DB_THEIRS, "asyncpg"),
                                    pool_size=POOL, max_overflow=0)
    await SQLAlchemySession("init", engine=oa_engine, create_tables=True).get_items()
    stores = [AsyncSessionStore(server_url(db), min_size=POOL, max_size=POOL) for _, db in ours_dbs]
    theirs = Side("theirs", theirs_adk, oa_engine=oa_engine)
    ours_sides = [Side(name, SessionStoreService(st), oa_store=st)
                  for (name, _), st in zip(ours_dbs, stores)]
    sides = [theirs, *ours_sides]
    names = [sd.name for sd in sides]
    await theirs.adk.create_session(app_name="bench", user_id="warmup")
    print(f"populating (sessions of {a.small} and {a.large} events, {a.sessions} sessions) ...",
          flush=True)
    await populate(theirs, ours_sides, a.small, a.large, a.sessions)

    through = [("create_session (16 tasks)", w_create),
               ("append_event, 8 tasks on own sessions", w_append_own),
               ("append_event, 16 tasks on one session", w_append_hot),
               ("add_items (8 tasks)", w_add_items),
               ("pop_item (8 tasks)", w_pop)]
    results = []
    for name, fn in through:
        per = {n: [] for n in names}
        errs = {n: 0 for n in names}
        stale = {n: 0 for n in names}
        first = {n: None for n in names}
        for r in range(a.rounds):
            for side in sides:
                ops, e, st, fe = await fn(side, a.seconds)
                per[side.name].append(ops)
                errs[side.name] += e
                stale[side.name] += st
                first[side.name] = first[side.name] or fe
        results.append(("tput", name, per, errs, stale, first))
        print(f"  done: {name}", flush=True)
    reads = [(f"get_session, 20 recent of {a.small} events",
              lambda s: w_get(s, f"size{a.small}", a.reads)),
             (f"get_session, 20 recent of {a.large} events",
              lambda s: w_get(s, f"size{a.large}", a.reads)),
             (f"list_sessions, {a.sessions} sessions",
              lambda s: w_list(s, max(3, a.reads // 10))),
             ("get_items(20) of 1000 items", lambda s: w_get_items(s, a.reads))]
    for name, fn in reads:
        per = {n: [] for n in names}
        errs = {n: 0 for n in names}
        for r in range(a.rounds):
            for side in sides:
                lat, e = await fn(side)
                per[side.name].append(lat)
                errs[side.name] += e
        results.append(("lat", name, per, errs, None, None))
        print(f"  done: {name}", flush=True)
    await theirs_adk.close()
    await oa_engine.dispose()
    for st in stores:
        await st.close()
    return results, ([] if a.no_retry_cost else await retry_cost(a, ours_dbs[0][1]))


def report(results, a):
    ours = [EDITION_DB[e][0] for e in a.editions]
    both = "ours" in ours and "portable" in ours
    head = (f"{'workload':44} {'theirs':>12}" + "".join(f" {n:>12}" for n in ours) +
            "".join(f" {n + '/theirs':>15}" for n in ours) +
            (f" {'portable/ours':>14}" if both else "") +
            f" {'errors theirs/' + '/'.join(ours):>24}")
    lines = [f"Python adapters vs the frameworks' stores, same server, {a.rounds} alternating "
             f"rounds of {a.seconds}s (pool {POOL} each side), medians"
             + (" (ours: the C edition; portable: the portable edition)" if "portable" in ours else "")
             + ":", head]
    lat, missed = {}, []
    for kind, name, per, errs, stale, first in results:
        t = statistics.median(per["theirs"])
        o = {n: statistics.median(per[n]) for n in ours}
        err = f"{errs['theirs']}/" + "/".join(str(errs[n]) for n in ours)
        if kind == "tput":
            ratio = {n: (o[n] / t if t else float("inf")) for n in ours}
            line = f"{name:44} {t:10.0f}/s" + "".join(f" {o[n]:10.0f}/s" for n in ours)
            pc = o["portable"] / o["ours"] if both else None
        else:
            lat[name] = (t, *[o[n] for n in ours])
            ratio = {n: (t / o[n] if o[n] else float("inf")) for n in ours}
            line = f"{name:44} {t * 1000:9.2f} ms" + "".join(f" {o[n] * 1000:9.2f} ms" for n in ours)
            pc = o["ours"] / o["portable"] if both else None
        line += "".join(f" {ratio[n]:14.2f}x" for n in ours) + (f" {pc:13.2f}x" if both else "")
        line += f" {err:>24}"
        lines.append(line)
        if a.target:
            missed += [f"{n} {name}: {ratio[n]:.2f}x" for n in ours if ratio[n] < a.target]
        if kind == "tput":
            if stale and any(stale.values()):
                lines.append(f"{'':44} stale retries: " + ", ".join(f"{n} {stale[n]}" for n in stale))
            for side in per:
                if first[side]:
                    lines.append(f"{'':44} first error ({side}): {first[side]}")
    small = lat.get(f"get_session, 20 recent of {a.small} events")
    large = lat.get(f"get_session, 20 recent of {a.large} events")
    if small and large:
        lines.append(f"get_session latency, {a.large} vs {a.small} events: theirs "
                     f"{large[0] / small[0]:.2f}x, " +
                     ", ".join(f"{n} {large[i + 1] / small[i + 1]:.2f}x" for i, n in enumerate(ours)))
    lines.append("(throughput: higher is better, ratio ours/theirs; latency: lower is "
                 "better, ratio theirs/ours" + ("; portable/ours likewise, the portable edition "
                                                "over the C one" if both else "") + ")")
    if a.target:
        lines.append(f"target: each edition >= {a.target:g}x theirs on every workload: " +
                     ("met" if not missed else "MISSED on " + "; ".join(missed)))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_ROUNDS", 3)))
    ap.add_argument("--seconds", type=float, default=float(os.environ.get("BENCH_SECONDS", 5)))
    ap.add_argument("--small", type=int, default=1000)
    ap.add_argument("--large", type=int, default=100000)
    ap.add_argument("--sessions", type=int, default=10000)
    ap.add_argument("--reads", type=int, default=50)
    ap.add_argument("--retry-rounds", type=int, default=20,
                    help="rounds of each side in the retry-cost comparison")
    ap.add_argument("--retry-seconds", type=float, default=1.0,
                    help="seconds per round of the retry-cost comparison")
    ap.add_argument("--only-retry-cost", action="store_true",
                    help="run only the retry-cost comparison")
    ap.add_argument("--no-retry-cost", action="store_true",
                    help="skip the retry-cost comparison")
    ap.add_argument("--editions", type=lambda v: v.split(","), default=["c"],
                    help="c, portable or c,portable: the editions ours runs on")
    ap.add_argument("--portable", default=os.path.join(REPO, "portable", "session_store.sql"),
                    help="the portable edition's install script")
    ap.add_argument("--target", type=float, default=None,
                    help="report whether each edition is at least this many times theirs")
    ap.add_argument("--out")
    a = ap.parse_args()
    if not a.editions or any(e not in EDITION_DB for e in a.editions):
        ap.error("--editions: c, portable or c,portable")
    results, cost = asyncio.run(main_async(a))
    text = "\n\n".join(t for t in ((report(results, a) if results else ""),
                                     (retry_report(cost, a) if cost else "")) if t)
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
