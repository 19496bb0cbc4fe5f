"""The home loop of the URL stores (_loop.py) keeps serving the process:
a call that raises a BaseException, a loop that stops, a fork, and the
caller's contextvars across the hand-over.

A hang here would be the failure itself: the waits that could hang are
bounded (GUARD seconds, far above what a call takes) so that such a
failure fails the test instead of stopping the suite."""
import asyncio
import contextvars
import os
import signal
import threading

import psycopg
import pytest

import session_store as ss
from session_store import _loop

GUARD = 60.0


def store_of(db_url, **kwargs) -> ss.AsyncSessionStore:
    store = ss.AsyncSessionStore(db_url, **kwargs)
    store._own_pool.timeout = 15.0  # a wait for a connection fails, once
    store._retry = None
    return store


def stop_home_loop() -> None:
    """Stop the running home loop from outside and wait for its thread."""
    loop = _loop.home()
    threads = [t for t in threading.enumerate() if t.name == "session_store-loop"]
    loop.call_soon_threadsafe(loop.stop)
    for t in threads:
        t.join(GUARD)
        assert not t.is_alive()


async def created(store, app, sid):
    s = await asyncio.wait_for(
        store.create_session(app_name=app, user_id="u", session_id=sid), GUARD)
    return s.session_id


def test_a_stopped_home_loop_is_replaced_by_the_next_call(db_url, app):
    store = store_of(db_url)
    assert asyncio.run(created(store, app, "a")) == "a"
    old = _loop.home()
    stop_home_loop()
    assert old.is_closed()
    # a new asyncio.run, a new home loop, the store's pool opened again there
    assert asyncio.run(created(store, app, "b")) == "b"
    assert _loop.home() is not old and _loop.home().is_running()
    asyncio.run(store.close())


@pytest.mark.skipif(not hasattr(asyncio, "timeout"), reason="Python 3.11+")
@pytest.mark.parametrize("error", [SystemExit, KeyboardInterrupt])
def test_a_base_exception_of_the_call_is_raised_in_the_caller(db_url, app, error):
    """asyncio lets SystemExit and KeyboardInterrupt out of the loop that
    runs the task: raised on the home loop, they would stop it.  They come
    back to the caller, and the loop goes on."""
    store = store_of(db_url)
    before = _loop.home()

    async def raises():
        raise error(3)

    async def main():
        # in this very task (wait_for would run it in a task of its own,
        # which asyncio lets the BaseException out of, as it would without
        # the hand-over)
        async with asyncio.timeout(GUARD):
            with pytest.raises(error):
                await _loop.run(raises())
        return await created(store, app, "after")
    assert asyncio.run(main()) == "after"
    assert _loop.home() is before and before.is_running()
    asyncio.run(store.close())


def test_calls_on_a_loop_that_stops_fail_instead_of_waiting_for_ever():
    """run and run_blocking (close_sync) both: the call's loop stops under
    it; the caller gets RuntimeError, the next call a new loop."""
    async def stops_its_loop():
        asyncio.get_running_loop().stop()
        await asyncio.sleep(3600)

    async def main():
        with pytest.raises(RuntimeError, match="stopped"):
            await asyncio.wait_for(_loop.run(stops_its_loop()), GUARD)
    asyncio.run(main())

    errors = []

    def blocking():
        try:
            _loop.run_blocking(stops_its_loop())
        except RuntimeError as e:
            errors.append(e)
    th = threading.Thread(target=blocking)
    th.start()
    th.join(GUARD)
    assert not th.is_alive() and len(errors) == 1 and "stopped" in str(errors[0])

    async def fine():
        return 42
    assert _loop.run_blocking(fine()) == 42


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork here")
def test_a_store_opened_before_fork_opens_its_own_pool_in_the_child(db_url, app):
    """As under gunicorn --preload: the store was used (its pool opened) in
    the parent.  The child's calls work, on a pool of the child's own (not
    the parent's connections); the parent's pool still works afterwards."""
    store = store_of(db_url)

    async def backends():
        """The server pids of the pool's idle connections (on the home loop,
        where the pool lives)."""
        async def on_home():
            pids = set()
            for c in store._own_pool._pool:
                cur = await c.execute("SELECT pg_backend_pid()")
                pids.add((await cur.fetchone())[0])
            return pids
        return await asyncio.wait_for(_loop.run(on_home()), GUARD)

    async def parent_backends():
        await created(store, app, "parent")
        return await backends()
    in_parent = asyncio.run(parent_backends())
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its status says whether its calls worked
        code = 1
        try:
            os.close(read)
            signal.alarm(int(GUARD))  # a hang ends the child, failed

            async def child():
                await created(store, app, "child")
                mine = await backends()
                await store.close()
                return mine
            used = asyncio.run(child())
            os.write(write, repr(sorted(used)).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read) as f:
        child_backends = set(eval(f.read() or "[]"))  # noqa: S307 - our own ints
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert child_backends and not child_backends & in_parent

    async def after():
        got = await asyncio.wait_for(store.list_sessions(app, "u"), GUARD)
        await store.close()
        return sorted(s.session_id for s in got)
    assert asyncio.run(after()) == ["child", "parent"]


REQUEST = contextvars.ContextVar("request", default=None)


class SeesRequest(psycopg.AsyncCursor):
    """A cursor that notes the caller's REQUEST when the store runs a
    statement with it (on the home loop)."""
    seen: list = []

    async def execute(self, *args, **kwargs):
        SeesRequest.seen.append(REQUEST.get())
        return await super().execute(*args, **kwargs)


def test_the_call_runs_in_the_callers_context(db_url, app):
    """contextvars (tracing spans, logging context) follow the call onto
    the home loop: the statement's cursor sees the caller's value."""
    store = store_of(db_url, cursor_factory=SeesRequest)
    SeesRequest.seen = []

    async def request(n):
        REQUEST.set(f"request-{n}")
        await created(store, app, f"s{n}")
    for n in range(3):
        asyncio.run(request(n))
    asyncio.run(store.close())
    assert SeesRequest.seen == ["request-0", "request-1", "request-2"]
