#!/usr/bin/env python3
"""Side by side on one server: the frameworks' own PostgreSQL stores and the
session_store adapters, under the concurrency real agents produce.

  1. 64 sub-agents create their sessions at once on a fresh database
     (ADK DatabaseSessionService vs SessionStoreService), each with app: and
     user: keys: errors, and state keys lost.
  2. Several processes append_event to one ADK session, each re-reading the
     session and retrying when told it is stale: errors, events lost or
     duplicated, order.
  3. Several processes add and pop items on one OpenAI Agents session
     (SQLAlchemySession vs SessionStoreSession): errors, items lost or
     duplicated, order.

Only what our adapters do is asserted (--check: exit 1 on any error or loss
on our side); the frameworks' figures are printed as observed.  Needs a
server with the extension installed, through the libpq environment; with
SS_EDITION=portable nothing is installed beforehand: every adapter of ours
is made with install=True and installs the portable edition on first use
(demo/portable.py runs it so, on an embedded server).

  python_compare.py [--check] [--agents 64] [--procs 4] [--events 30] [--items 45]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from collections import Counter
from urllib.parse import quote

import psycopg

os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")
PORTABLE = os.environ.get("SS_EDITION") == "portable"


def server_url(dbname: str, driver: str = "") -> str:
    user = quote(os.environ.get("PGUSER", "postgres"))
    password = os.environ.get("PGPASSWORD")
    auth = user + (":" + quote(password) if password else "")
    host = os.environ.get("PGHOST", "localhost")
    port = os.environ.get("PGPORT", "5432")
    scheme = "postgresql" + (f"+{driver}" if driver else "")
    if host.startswith("/"):  # a socket directory (an embedded server)
        return f"{scheme}://{auth}@/{dbname}?host={quote(host)}&port={port}"
    return f"{scheme}://{auth}@{host}:{port}/{dbname}"


def fresh_database(name: str, extension: bool) -> None:
    with psycopg.connect(dbname="postgres", autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        c.execute(f'CREATE DATABASE "{name}"')
    if extension and not PORTABLE:  # else the adapters install on first use
        with psycopg.connect(dbname=name, autocommit=True) as c:
            c.execute("CREATE EXTENSION session_store")


# ---------------------------------------------------------------- workers

def adk_service(kind: str, db: str):
    if kind == "framework":
        from google.adk.sessions.database_session_service import DatabaseSessionService
        return DatabaseSessionService(server_url(db, "asyncpg"))
    from session_store.adk import SessionStoreService
    return SessionStoreService(server_url(db), install=PORTABLE)


def short(e: BaseException) -> str:
    return type(e).__name__


async def w_create(kind, db, proc, procs, n):
    """Sessions proc, proc + procs, ... of n in all."""
    svc = adk_service(kind, db)
    errors = []

    async def one(k):
        try:
            await svc.create_session(app_name="storm", user_id=f"user{k % 8}",
                                     session_id=f"sub{k}",
                                     state={f"app:k{k}": k, f"user:k{k}": k, "own": k})
            return k
        except Exception as e:  # noqa: BLE001 - counted
            errors.append(short(e))
    created = [k for k in await asyncio.gather(*[one(k) for k in range(proc, n, procs)])
               if k is not None]
    await svc.close()
    return {"created": created, "errors": errors}


async def w_append(kind, db, proc, procs, n):
    from google.adk.errors._stale_session_error import StaleSessionError
    from google.adk.events.event import Event
    from google.adk.events.event_actions import EventActions
    svc = adk_service(kind, db)
    errors, stale = [], 0
    for i in range(n):
        while True:
            try:
                s = await svc.get_session(app_name="hot", user_id="u", session_id="one")
                await svc.append_event(s, Event(
                    author=f"p{proc}", invocation_id=f"p{proc}-{i}",
                    actions=EventActions(state_delta={f"user:p{proc}_{i}": i})))
                break
            except StaleSessionError:
                stale += 1
            except Exception as e:  # noqa: BLE001 - counted
                errors.append(short(e))
                break
    await svc.close()
    return {"errors": errors, "stale": stale}


async def w_items(kind, db, proc, procs, n):
    if kind == "framework":
        from agents.extensions.memory.sqlalchemy_session import SQLAlchemySession
        session = SQLAlchemySession.from_url("one", url=server_url(db, "asyncpg"),
                                             create_tables=True)
    else:
        from session_store.openai_agents import SessionStoreSession
        session = SessionStoreSession.from_url("one", url=server_url(db), install=PORTABLE)
    popped, errors = [], []
    for i in range(n):
        try:
            await session.add_items([{"role": "user", "content": f"p{proc}-{i}"}])
            if i % 3 == 2:
                item = await session.pop_item()
                if item is not None:
                    popped.append(item["content"])
        except Exception as e:  # noqa: BLE001 - counted
            errors.append(short(e))
    if kind == "framework":
        await session.engine.dispose()
    else:
        await session.close()
    return {"popped": popped, "errors": errors}


WORKERS = {"create": w_create, "append": w_append, "items": w_items}


def worker_main(argv):
    job, kind, db, proc, procs, n, start_at = argv
    delay = float(start_at) - time.time()
    if delay > 0:
        time.sleep(delay)
    out = asyncio.run(WORKERS[job](kind, db, int(proc), int(procs), int(n)))
    print(json.dumps(out))


def run_procs(job, kind, db, procs, n, lead=6.0):
    start_at = time.time() + lead
    ps = [subprocess.Popen([sys.executable, __file__, "--worker", job, kind, db,
                            str(p), str(procs), str(n), str(start_at)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
          for p in range(procs)]
    reports = []
    for p in ps:
        out, err = p.communicate(timeout=900)
        if p.returncode != 0:
            reports.append({"errors": [f"process failed: {err.strip().splitlines()[-1] if err.strip() else p.returncode}"],
                            "created": [], "popped": [], "stale": 0})
        else:
            reports.append(json.loads(out.strip().splitlines()[-1]))
    return reports


# ---------------------------------------------------------------- scenarios

async def read_session(kind, db, app, user, sid):
    svc = adk_service(kind, db)
    try:
        return await svc.get_session(app_name=app, user_id=user, session_id=sid)
    except Exception as e:  # noqa: BLE001 - the framework's tables may not exist
        return e
    finally:
        await svc.close()


def scenario_create(kind, agents, procs):
    db = f"ss_cmp_create_{kind}"
    fresh_database(db, extension=(kind == "ours"))
    reports = run_procs("create", kind, db, procs, agents)
    errors = Counter(e for r in reports for e in r["errors"])
    created = sorted(k for r in reports for k in r["created"])
    lost = 0
    if created:
        by_user = {}
        for k in created:
            by_user.setdefault(k % 8, []).append(k)

        async def check():
            missing, first = 0, True
            for u, ks in sorted(by_user.items()):
                s = await read_session(kind, db, "storm", f"user{u}", f"sub{ks[0]}")
                state = getattr(s, "state", None) or {}
                if first:  # app: keys, seen from any session of the app
                    missing += sum(f"app:k{k}" not in state for k in created)
                    first = False
                missing += sum(f"user:k{k}" not in state for k in ks)
            return missing
        lost = asyncio.run(check())
    return {"calls": agents, "ok": len(created), "errors": dict(errors), "lost_keys": lost}


def scenario_append(kind, procs, events):
    db = f"ss_cmp_append_{kind}"
    fresh_database(db, extension=(kind == "ours"))

    async def setup():
        svc = adk_service(kind, db)
        await svc.create_session(app_name="hot", user_id="u", session_id="one")
        await svc.close()
    asyncio.run(setup())
    reports = run_procs("append", kind, db, procs, events)
    errors = Counter(e for r in reports for e in r["errors"])
    stale = sum(r["stale"] for r in reports)
    s = asyncio.run(read_session(kind, db, "hot", "u", "one"))
    ids = [e.invocation_id for e in s.events]
    expected = [f"p{p}-{i}" for p in range(procs) for i in range(events)]
    counts = Counter(ids)
    lost = sum(1 for x in expected if x not in counts)
    dup = sum(c - 1 for c in counts.values() if c > 1)
    in_order = all([x for x in ids if x.startswith(f"p{p}-")] ==
                   [f"p{p}-{i}" for i in range(events) if f"p{p}-{i}" in counts]
                   for p in range(procs))
    lost_keys = sum(1 for p in range(procs) for i in range(events)
                    if f"p{p}-{i}" in counts and f"user:p{p}_{i}" not in s.state)
    return {"calls": procs * events, "stored": len(ids), "errors": dict(errors),
            "stale_retries": stale, "lost": lost, "duplicated": dup,
            "in_order": in_order, "lost_keys": lost_keys}


def scenario_items(kind, procs, items):
    db = f"ss_cmp_items_{kind}"
    fresh_database(db, extension=(kind == "ours"))
    reports = run_procs("items", kind, db, procs, items)
    errors = Counter(e for r in reports for e in r["errors"])
    popped = [x for r in reports for x in r["popped"]]

    async def left():
        if kind == "framework":
            from agents.extensions.memory.sqlalchemy_session import SQLAlchemySession
            s = SQLAlchemySession.from_url("one", url=server_url(db, "asyncpg"), create_tables=True)
            try:
                return [i["content"] for i in await s.get_items()]
            finally:
                await s.engine.dispose()
        from session_store.openai_agents import SessionStoreSession
        s = SessionStoreSession.from_url("one", url=server_url(db), install=PORTABLE)
        try:
            return [i["content"] for i in await s.get_items()]
        finally:
            await s.close()
    remaining = asyncio.run(left())
    added = Counter(f"p{p}-{i}" for p in range(procs) for i in range(items))
    seen = Counter(remaining + popped)
    lost = sum((added - seen).values())
    dup = sum((seen - added).values())
    in_order = all([int(x.split("-")[1]) for x in remaining if x.startswith(f"p{p}-")] ==
                   sorted(int(x.split("-")[1]) for x in remaining if x.startswith(f"p{p}-"))
                   for p in range(procs))
    return {"calls": procs * items, "errors": dict(errors), "lost": lost,
            "duplicated": dup, "in_order": in_order}


def fmt_errors(errors):
    if not errors:
        return "0 errors"
    total = sum(errors.values())
    kinds = ", ".join(f"{n}x {k}" for k, n in sorted(errors.items(), key=lambda x: -x[1]))
    return f"{total} errors ({kinds})"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--agents", type=int, default=64)
    ap.add_argument("--procs", type=int, default=4)
    ap.add_argument("--events", type=int, default=30)
    ap.add_argument("--items", type=int, default=45)
    a = ap.parse_args()
    import google.adk
    import agents
    print(f"Side by side, same server (google-adk {google.adk.__version__}, "
          f"openai-agents {agents.__version__}):")
    failures = []
    rows = []
    for kind in ("framework", "ours"):
        r = scenario_create(kind, a.agents, a.procs)
        rows.append(("create", kind, r))
    for kind in ("framework", "ours"):
        rows.append(("append", kind, scenario_append(kind, a.procs, a.events)))
    for kind in ("framework", "ours"):
        rows.append(("items", kind, scenario_items(kind, a.procs, a.items)))
    names = {("create", "framework"): "ADK DatabaseSessionService",
             ("create", "ours"): "SessionStoreService       ",
             ("append", "framework"): "ADK DatabaseSessionService",
             ("append", "ours"): "SessionStoreService       ",
             ("items", "framework"): "SQLAlchemySession         ",
             ("items", "ours"): "SessionStoreSession       "}
    titles = {"create": f"{a.agents} sub-agents create their sessions at once, fresh database ({a.procs} processes):",
              "append": f"{a.procs} processes append_event {a.events} times each to one session (re-read and retry when stale):",
              "items": f"{a.procs} processes add_items {a.items} times each and pop every third, one session:"}
    last = None
    for job, kind, r in rows:
        if job != last:
            print(titles[job])
            last = job
        if job == "create":
            text = f"{r['ok']}/{r['calls']} created, {fmt_errors(r['errors'])}, {r['lost_keys']} app:/user: keys lost"
        elif job == "append":
            text = (f"{r['stored']}/{r['calls']} stored, {fmt_errors(r['errors'])}, {r['lost']} lost, "
                    f"{r['duplicated']} duplicated, {'in order' if r['in_order'] else 'OUT OF ORDER'}, "
                    f"{r['lost_keys']} user: keys lost, {r['stale_retries']} stale retries")
        else:
            text = (f"{fmt_errors(r['errors'])}, {r['lost']} lost, {r['duplicated']} duplicated, "
                    f"{'in order' if r['in_order'] else 'OUT OF ORDER'}")
        print(f"  {names[(job, kind)]}  {text}")
        if kind == "ours":
            bad = (r["errors"] or r.get("lost_keys") or r.get("lost") or r.get("duplicated")
                   or not r.get("in_order", True)
                   or (job == "create" and r["ok"] != r["calls"])
                   or (job == "append" and r["stored"] != r["calls"]))
            if bad:
                failures.append((job, r))
    if a.check and failures:
        print(f"FAILED on our side: {failures}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker_main(sys.argv[2:])
    else:
        sys.exit(main())
