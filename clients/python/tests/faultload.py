"""Workloads of the fault-injection tests (test_faults.py, and the OS
processes of _worker.py "faults"): calls whose every effect is known, so
that what the server stored can be checked exactly afterwards, and a
backend killer.

Every writer owns its session (one task or thread per session), so the
expected content is the writer's own log: appended exactly once each, in
order, seq gap-free where nothing was popped; each pop returns the item
the writer's model says is last.
"""
from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from typing import Callable

import psycopg
from google.adk.events.event import Event
from google.adk.events.event_actions import EventActions
from google.genai import types

from session_store import AsyncSessionStore, SessionStore
from session_store.adk import SessionStoreService
from session_store.openai_agents import SessionStoreSession


class RetryCount(logging.Handler):
    """Counts the store's "attempt failed, retrying" records."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.count = 0

    def emit(self, record):
        if "retrying" in record.getMessage():
            self.count += 1

    def __enter__(self):
        log = logging.getLogger("session_store")
        self._level = log.level
        log.setLevel(logging.INFO)
        log.addHandler(self)
        return self

    def __exit__(self, *exc):
        log = logging.getLogger("session_store")
        log.removeHandler(self)
        log.setLevel(self._level)


class Killer(threading.Thread):
    """pg_terminate_backend of one backend of the client (by
    application_name, busy or idle), every lo..hi seconds."""

    def __init__(self, dsn: str, application_name: str, lo=0.005, hi=0.08):
        super().__init__(name="killer", daemon=True)
        self.dsn, self.name_, self.lo, self.hi = dsn, application_name, lo, hi
        self.ticks = self.kills = self.idle_kills = 0
        self._done = threading.Event()

    def run(self):
        with psycopg.connect(self.dsn, autocommit=True) as c:
            while not self._done.wait(random.uniform(self.lo, self.hi)):
                self.ticks += 1
                row = c.execute(
                    "SELECT pg_terminate_backend(pid), state FROM pg_stat_activity "
                    "WHERE application_name = %s ORDER BY random() LIMIT 1",
                    (self.name_,)).fetchone()
                if row and row[0]:
                    self.kills += 1
                    self.idle_kills += row[1] == "idle"

    def stop(self):
        self._done.set()
        self.join(10)


# ------------------------------------------------------------ plain stores

def sync_appends(store: SessionStore, app: str, tag: str, threads: int,
                 more: Callable[[int], bool]) -> dict:
    """threads threads, each creating its session and appending {"k", "i"}
    while more(i); a read between appends."""
    log = {f"{tag}-{k}": 0 for k in range(threads)}
    errors = []

    def run(k):
        sid = f"{tag}-{k}"
        try:
            store.create_session(app_name=app, user_id="u", session_id=sid)
            i = 0
            while more(i):
                store.append_messages(app_name=app, user_id="u", session_id=sid,
                                      messages=[{"k": k, "i": i}])
                log[sid] = i = i + 1
                if i % 4 == 0:
                    assert store.get_session(app_name=app, user_id="u",
                                             session_id=sid).last_seq == i
        except Exception as e:  # noqa: BLE001 - reported
            errors.append(repr(e))

    ts = [threading.Thread(target=run, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return {"plain": {sid: [{"k": int(sid.rsplit("-", 1)[1]), "i": i} for i in range(n)]
                      for sid, n in log.items()}, "errors": errors}


async def async_appends(store: AsyncSessionStore, app: str, tag: str, tasks: int,
                        more: Callable[[int], bool]) -> dict:
    log = {f"{tag}-{k}": [] for k in range(tasks)}
    errors = []

    async def run(k):
        sid = f"{tag}-{k}"
        try:
            await store.create_session(app_name=app, user_id="u", session_id=sid)
            i = 0
            while more(i):
                msgs = [{"k": k, "i": i, "j": j} for j in range(1 + i % 3)]
                await store.append_messages(app_name=app, user_id="u", session_id=sid,
                                            messages=msgs)
                log[sid].extend(msgs)
                i += 1
                if i % 4 == 0:
                    got = await store.get_messages(app_name=app, user_id="u",
                                                   session_id=sid, max_count=1)
                    assert got[0].message == msgs[-1]
        except Exception as e:  # noqa: BLE001 - reported
            errors.append(repr(e))

    await asyncio.gather(*[run(k) for k in range(tasks)])
    return {"plain": log, "errors": errors}


# ------------------------------------------------------------ adapters

def _event(sid: str, i: int) -> Event:
    return Event(id=f"{sid}-e{i}", author="user", invocation_id=f"inv{i}",
                 content=types.Content(role="user", parts=[types.Part(text=f"{sid} {i}")]),
                 actions=EventActions(state_delta={"count": i + 1}))


async def adapters(store, app: str, tag: str, adk_sessions: int, oa_sessions: int,
                   more: Callable[[int], bool], pop_every: int = 4) -> dict:
    """ADK: each task creates its session through the service and appends
    events while more(i).  OpenAI Agents: each task add_items to its own
    session (the first call creates it), and every pop_every-th call
    pop_item (checked against the task's model), and once clear_session."""
    service = SessionStoreService(store)
    adk_log = {f"{tag}-adk{k}": [] for k in range(adk_sessions)}
    oa_log = {f"{tag}-oa{k}": [] for k in range(oa_sessions)}
    errors = []
    calls = [0]

    async def adk(sid):
        try:
            session = await service.create_session(app_name=app, user_id="u",
                                                   session_id=sid, state={"owner": tag})
            calls[0] += 1
            i = 0
            while more(i):
                ev = _event(sid, i)
                await service.append_event(session, ev)
                adk_log[sid].append(ev.id)
                calls[0] += 1
                i += 1
                if i % 8 == 0:
                    fresh = await service.get_session(app_name=app, user_id="u",
                                                      session_id=sid)
                    assert [e.id for e in fresh.events] == adk_log[sid]
                    assert fresh.state == {"owner": tag, "count": i}
                    session = fresh
        except Exception as e:  # noqa: BLE001 - reported
            errors.append(f"adk {sid}: {e!r}")

    async def oa(sid):
        session = SessionStoreSession(sid, store, app_name=app, user_id="u")
        model = oa_log[sid]
        try:
            i = 0
            while more(i):
                item = {"role": "user", "content": f"{sid} {i}"}
                await session.add_items([item])
                model.append(item)
                i += 1
                if pop_every and i % pop_every == 0:
                    got = await session.pop_item()
                    assert got == model.pop(), (got, sid)
                if i == 10:
                    await session.clear_session()
                    model.clear()
                calls[0] += 1
        except Exception as e:  # noqa: BLE001 - reported
            errors.append(f"oa {sid}: {e!r}")

    await asyncio.gather(*[adk(s) for s in adk_log], *[oa(s) for s in oa_log])
    return {"adk": adk_log, "oa": oa_log, "errors": errors, "calls": calls[0]}


# ------------------------------------------------------------ checks

def check(dsn: str, app: str, report: dict) -> dict:
    """Everything each writer did is stored exactly once, in order, with
    gap-free seq where nothing was removed; returns the counts."""
    counts = {"sessions": 0, "stored": 0, "duplicates": 0, "lost": 0}
    with psycopg.connect(dsn, autocommit=True) as c:
        def rows(sid):
            return c.execute(
                "SELECT seq, message FROM session_store.get_messages("
                "app_name => %s, user_id => 'u', session_id => %s)",
                (app, sid)).fetchall()

        def compare(sid, got, want, gap_free):
            counts["sessions"] += 1
            counts["stored"] += len(got)
            for x in set(map(repr, got)):
                counts["duplicates"] += max(0, [repr(g) for g in got].count(x) - 1)
            counts["lost"] += sum(1 for w in want if w not in got)
            assert got == want, (sid, len(got), len(want))

        for sid, want in report.get("plain", {}).items():
            r = rows(sid)
            compare(sid, [m for _, m in r], want, True)
            assert [s for s, _ in r] == list(range(1, len(r) + 1)), sid
        for sid, want in report.get("adk", {}).items():
            r = rows(sid)
            compare(sid, [m["id"] for _, m in r], want, True)
            assert [s for s, _ in r] == list(range(1, len(r) + 1)), sid
            state = c.execute("SELECT state FROM session_store.get_session("
                              "app_name => %s, user_id => 'u', session_id => %s)",
                              (app, sid)).fetchone()[0]
            assert state.get("count") == (len(want) or None), (sid, state)
        for sid, want in report.get("oa", {}).items():
            compare(sid, [m for _, m in rows(sid)], want, False)
    return counts
