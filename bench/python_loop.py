#!/usr/bin/env python3
"""The cost of handing a URL store's calls to the client's own event loop
thread (AsyncSessionStore from a URL, and so from_url sessions and
SessionStoreService(url)), side by side with the calls run on a pool in the
caller's loop (a pool passed in: no hand-over), in alternating rounds.

  handed    AsyncSessionStore(url): each call runs on the client's loop
            thread, its result comes back to the caller's loop
  direct    AsyncSessionStore(AsyncConnectionPool): the call runs in the
            caller's loop (what a URL store did before, from its first loop)
  per-loop  the other design: a pool per event loop, opened in the loop and
            closed with it; measured on the "asyncio.run per request" shape,
            where each request's loop must open its own connection

Workloads: get_messages of a 20-message session and append_messages of one
message, 1 task in turn and 8 tasks at once; then "a request per
asyncio.run": each request a fresh loop doing add, get, pop.  Prints per
workload the median microseconds per call of each side and the ratio.

  python_loop.py [--rounds 5] [--calls 2000] [--requests 200] URL
"""
import argparse
import asyncio
import statistics
import sys
import time
import uuid

import psycopg_pool

import session_store as ss


def ident(app):
    return {"app_name": app, "user_id": "u", "session_id": "s"}


async def seed(store, app):
    await store.create_session(**ident(app))
    await store.append_messages(**ident(app), messages=[{"i": i} for i in range(20)])


async def calls(store, app, n, tasks, write):
    async def one(k):
        for _ in range(n // tasks):
            if write:
                await store.append_messages(**ident(app), messages=[{"k": k}])
            else:
                await store.get_messages(**ident(app), max_count=20)
    t0 = time.perf_counter()
    await asyncio.gather(*[one(k) for k in range(tasks)])
    return (time.perf_counter() - t0) / (n // tasks * tasks) * 1e6


async def round_direct(url, app, n, tasks, write):
    async with psycopg_pool.AsyncConnectionPool(
            url, min_size=tasks, max_size=tasks, open=False,
            kwargs={"autocommit": True, "prepare_threshold": None}) as pool:
        await pool.wait()
        store = ss.AsyncSessionStore(pool)
        await calls(store, app, 50, tasks, write)  # warm
        return await calls(store, app, n, tasks, write)


async def round_handed(store, app, n, tasks, write):
    await calls(store, app, 50, tasks, write)
    return await calls(store, app, n, tasks, write)


async def request(store, app):
    await store.append_messages(**ident(app), messages=[{"r": 1}])
    await store.get_messages(**ident(app), max_count=20)
    await store.pop_message(**ident(app))


def requests_handed(store, app, n):
    t0 = time.perf_counter()
    for _ in range(n):
        asyncio.run(request(store, app))
    return (time.perf_counter() - t0) / (3 * n) * 1e6


def requests_per_loop(url, app, n):
    async def one():
        async with psycopg_pool.AsyncConnectionPool(
                url, min_size=1, max_size=1, open=False,
                kwargs={"autocommit": True, "prepare_threshold": None}) as pool:
            await request(ss.AsyncSessionStore(pool), app)
    t0 = time.perf_counter()
    for _ in range(n):
        asyncio.run(one())
    return (time.perf_counter() - t0) / (3 * n) * 1e6


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--requests", type=int, default=200)
    a = ap.parse_args()
    app = "bench-loop-" + uuid.uuid4().hex[:8]
    store = ss.AsyncSessionStore(a.url, min_size=8, max_size=8)
    asyncio.run(seed(store, app))
    rows = []
    for name, tasks, write in (("get_messages(20), 1 task", 1, False),
                               ("get_messages(20), 8 tasks", 8, False),
                               ("append_messages(1), 1 task", 1, True),
                               ("append_messages(1), 8 tasks", 8, True)):
        direct, handed = [], []
        for _ in range(a.rounds):
            direct.append(asyncio.run(round_direct(a.url, app, a.calls, tasks, write)))
            handed.append(asyncio.run(round_handed(store, app, a.calls, tasks, write)))
        rows.append((name, "direct", statistics.median(direct),
                     "handed", statistics.median(handed)))
    per_loop, handed = [], []
    for _ in range(a.rounds):
        per_loop.append(requests_per_loop(a.url, app, a.requests))
        handed.append(requests_handed(store, app, a.requests))
    rows.append(("asyncio.run per request (add, get, pop)", "per-loop",
                 statistics.median(per_loop), "handed", statistics.median(handed)))
    store.close_sync()
    print(f"{'workload':42} {'side A':>9} {'us/call':>8} {'side B':>7} "
          f"{'us/call':>8} {'B/A':>6}")
    for name, an, av, bn, bv in rows:
        print(f"{name:42} {an:>9} {av:8.1f} {bn:>7} {bv:8.1f} {bv / av:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
