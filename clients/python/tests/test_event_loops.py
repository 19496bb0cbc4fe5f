"""Every store the client makes for itself from a URL works from any event
loop of any thread and closes from any of them, or from none:
AsyncSessionStore(url) (and install_async(url), which makes one),
SessionStoreSession.from_url and SessionStoreService(url).

A call waiting on a pool that belongs to another loop would wait for the
pool's timeout: each store here gets a shorter one (and no retries), so such
a wait fails the test with the pool's error instead of only slowing it.  (A
cross-loop wait never ends by itself: 15 s catches it, and leaves a loaded
machine the time to open the pool's connections, one after another.)"""
import asyncio
import threading

import psycopg_pool
import pytest
from google.adk.events.event import Event
from google.genai import types

import session_store as ss
from conftest import drop_database, empty_database
from session_store import _loop
from session_store.adk import SessionStoreService
from session_store.openai_agents import SessionStoreSession

THREADS = 6
SHORT = 15.0  # seconds a call may wait for a pooled connection


def short_waits(store: ss.AsyncSessionStore) -> ss.AsyncSessionStore:
    """A wait for a connection fails after SHORT seconds, once."""
    store._own_pool.timeout = SHORT
    store._retry = None
    return store


def items(*texts):
    return [{"role": "user", "content": t} for t in texts]


def in_threads(n, work, *, together=True):
    """work(i) -> coroutine, each in a thread of its own with its own
    asyncio.run, all at once (together) or one thread after another.
    Returns the results; raises the first error."""
    results, errors = [None] * n, []
    barrier = threading.Barrier(n) if together else None

    def run(i):
        try:
            if barrier is not None:
                barrier.wait()
            results[i] = asyncio.run(work(i))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)
    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for th in threads:
        th.start()
        if not together:
            th.join()
    for th in threads:
        th.join()
    if errors:
        raise errors[0]
    return results


def in_a_loopless_thread(fn):
    """fn() in a new thread where no event loop runs; its result."""
    out, errors = [], []

    def run():
        try:
            out.append(fn())
        except BaseException as e:  # noqa: BLE001
            errors.append(e)
    th = threading.Thread(target=run)
    th.start()
    th.join()
    if errors:
        raise errors[0]
    return out[0] if out else None


# ------------------------------------------------------------ OpenAI from_url

def from_url(db_url, app, sid="s"):
    s = SessionStoreSession.from_url(sid, url=db_url, app_name=app, user_id="u")
    short_waits(s.store)
    return s


def test_from_url_session_used_by_each_threads_own_loop_at_once(db_url, app):
    """One session object, THREADS threads each with its own asyncio.run at
    once: every item added is either still there or was popped, once."""
    s = from_url(db_url, app)

    async def work(t):
        popped = []
        for i in range(5):
            await s.add_items(items(f"t{t}-{i}", f"t{t}-{i}+"))
            popped.append((await s.pop_item())["content"])
            assert len(await s.get_items(limit=1)) == 1
        return popped
    popped = [x for got in in_threads(THREADS, work) for x in got]
    left = [x["content"] for x in in_threads(1, lambda i: s.get_items())[0]]
    added = [f"t{t}-{i}{end}" for t in range(THREADS) for i in range(5)
             for end in ("", "+")]
    assert sorted(popped + left) == sorted(added)
    assert len(left) == THREADS * 5
    for t in range(THREADS):  # each thread's items kept in its own order
        mine = [x for x in left if x.startswith(f"t{t}-")]
        assert mine == sorted(mine, key=lambda x: int(x[len(f"t{t}-"):].rstrip("+")))
    in_threads(1, lambda i: s.close())


def test_from_url_session_used_by_one_asyncio_run_after_another(db_url, app):
    """The field failure: one session object, a new event loop per request
    (each thread's asyncio.run in turn)."""
    s = from_url(db_url, app)

    async def work(t):
        await s.add_items(items(f"a{t}", f"b{t}"))
        assert (await s.get_items(limit=2)) == items(f"a{t}", f"b{t}")
        assert await s.pop_item() == items(f"b{t}")[0]
    in_threads(10, work, together=False)
    got = in_threads(1, lambda i: s.get_items())[0]
    assert got == items(*[f"a{t}" for t in range(10)])
    in_threads(1, lambda i: s.close())


def test_from_url_session_closes_from_another_loop(db_url, app):
    s = from_url(db_url, app)
    asyncio.run(s.add_items(items("x")))  # the pool is opened by this loop
    in_threads(1, lambda i: s.close())    # and closed from another one
    assert s.store._own_pool.closed


def test_from_url_session_closes_from_a_thread_with_no_loop(db_url, app):
    s = from_url(db_url, app)
    asyncio.run(s.add_items(items("x")))
    in_a_loopless_thread(s.close_sync)
    assert s.store._own_pool.closed


async def test_from_url_session_closes_from_the_loop_that_used_it(db_url, app):
    s = from_url(db_url, app)
    await s.add_items(items("x"))
    assert await s.get_items() == items("x")
    await s.close()
    assert s.store._own_pool.closed


def test_from_url_session_never_used_closes(db_url, app):
    s = from_url(db_url, app)
    s.close_sync()
    asyncio.run(s.close())


async def test_a_session_on_a_callers_pool_runs_in_the_callers_loop(db_url, app):
    """A pool passed in is the caller's: no hand-over to the client's loop,
    and closing the session leaves the pool open."""
    async with psycopg_pool.AsyncConnectionPool(db_url, min_size=1, max_size=2,
                                                open=False) as pool:
        s = SessionStoreSession("mine", pool, app_name=app, user_id="u")
        await s.add_items(items("x"))
        assert await s.get_items() == items("x")
        assert not s.store._home
        await s.close()
        assert not pool.closed


# ------------------------------------------------------------ AsyncSessionStore

def test_async_store_from_url_works_from_every_threads_loop(db_url, app):
    store = short_waits(ss.AsyncSessionStore(db_url, max_size=3))

    async def work(t):
        sid = f"s{t}"
        await store.create_session(app_name=app, user_id="u", session_id=sid)
        for i in range(4):
            await store.append_messages(app_name=app, user_id="u", session_id=sid,
                                        messages=[{"i": i}])
        popped = await store.pop_message(app_name=app, user_id="u", session_id=sid)
        rows = await store.get_messages(app_name=app, user_id="u", session_id=sid)
        return popped.message, [r.message for r in rows]
    for together in (True, False):
        for popped, rows in in_threads(THREADS, work, together=together):
            assert popped == {"i": 3} and rows == [{"i": i} for i in range(3)]
        in_threads(THREADS, lambda t: store.delete_session(
            app_name=app, user_id="u", session_id=f"s{t}"))
    in_threads(1, lambda i: store.close())
    assert store._own_pool.closed


def test_async_store_from_url_installs_once_from_many_loops():
    """install=True: the first calls of many loops at once wait for one
    install (its lock lives on the store's loop, not the first caller's)."""
    name = "session_store_pytest_loops_install"
    url = empty_database(name)
    try:
        store = short_waits(ss.AsyncSessionStore(url, install=True, max_size=THREADS))

        async def work(t):
            s = await store.create_session(app_name="a", user_id="u",
                                           session_id=f"s{t}")
            return s.session_id
        assert sorted(in_threads(THREADS, work)) == sorted(f"s{t}" for t in range(THREADS))
        assert asyncio.run(store.edition())[0] == "portable"
        in_threads(1, lambda i: store.close())
    finally:
        drop_database(name)


def test_install_async_from_url_in_many_loops():
    name = "session_store_pytest_loops_install_async"
    url = empty_database(name)
    try:
        got = in_threads(3, lambda t: ss.install_async(url))
        assert {g[0] for g in got} == {"portable"}
    finally:
        drop_database(name)


def test_cancelling_the_caller_cancels_its_call(db_url, app):
    """A caller's cancellation reaches the call on the store's loop: the
    caller gets CancelledError, the store keeps working."""
    store = short_waits(ss.AsyncSessionStore(db_url))

    async def cancelled():
        await store.create_session(app_name=app, user_id="u", session_id="c")
        task = asyncio.ensure_future(store.get_messages(
            app_name=app, user_id="u", session_id="c"))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return await store.get_session(app_name=app, user_id="u", session_id="c")
    assert in_threads(1, lambda i: cancelled())[0].session_id == "c"
    in_threads(1, lambda i: store.close())


def test_a_blocking_close_from_the_stores_own_loop_is_refused(db_url):
    store = ss.AsyncSessionStore(db_url)

    async def on_home():
        store.close_sync()
    with pytest.raises(RuntimeError, match="own event loop"):
        _loop.run_blocking(on_home())
    store.close_sync()


# ------------------------------------------------------------ ADK service

def test_adk_service_from_url_works_from_every_threads_loop(db_url, app):
    svc = SessionStoreService(db_url)
    short_waits(svc.store)

    async def work(t):
        session = await svc.create_session(app_name=app, user_id="u",
                                           session_id=f"s{t}")
        for i in range(3):
            await svc.append_event(session, Event(
                author="user", invocation_id=f"inv{t}-{i}",
                content=types.Content(role="user", parts=[types.Part(text=f"{t}-{i}")])))
        got = await svc.get_session(app_name=app, user_id="u", session_id=f"s{t}")
        return [e.content.parts[0].text for e in got.events]
    for t, texts in enumerate(in_threads(THREADS, work)):
        assert texts == [f"{t}-{i}" for i in range(3)]
    listed = in_threads(1, lambda i: svc.list_sessions(app_name=app, user_id="u"))[0]
    assert len(listed.sessions) == THREADS
    in_threads(1, lambda i: svc.close())
    assert svc.store._own_pool.closed


def test_adk_service_from_url_closes_from_a_thread_with_no_loop(db_url, app):
    svc = SessionStoreService(db_url)
    asyncio.run(svc.create_session(app_name=app, user_id="u", session_id="x"))
    in_a_loopless_thread(svc.close_sync)
    assert svc.store._own_pool.closed
