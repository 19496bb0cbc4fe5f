"""The event loop that the stores made from a URL run their pools on.

An asyncio pool belongs to the loop that opened it: its connections'
waits, its locks and its background tasks live there.  A store made from a
URL (AsyncSessionStore("postgresql://..."), and so the adapters' from_url
sessions and services) may be called from any loop of any thread, one
``asyncio.run`` after another, and closed from any of them or from none.
So such a store opens its pool on this module's loop, run by one daemon
thread of the process, and each call is handed to it: the call's statement
runs there, its result (or error) comes back to the caller's loop.  A
caller's loop waits only for its own calls; nothing is locked around them.

One loop serves every such store of the process, started by the first
call.  The call runs in a copy of the caller's context, so contextvars
(tracing spans, logging context) follow it.  If the loop ever stops (it is
not meant to: an exception of the call, even a BaseException such as
KeyboardInterrupt or SystemExit, is raised in the caller, not in the loop),
the calls it had not finished fail with RuntimeError and the next call
starts a new loop; a store's pool is opened again there.

* Cancellation: cancelling the caller (``task.cancel()``, ``wait_for``)
  cancels the call on the home loop, but the caller's CancelledError comes
  back at once, while the home task may still be finishing: a cancelled
  write may still commit.  Its idempotency key makes a retry safe; re-read
  before concluding it did not happen.
* Fork: the child forgets the parent's loop and gets a loop of its own on
  its first call.  A store whose pool was opened before the fork (gunicorn
  ``--preload``, a prefork worker pool) opens a new pool in the child on
  first use; the inherited one is left alone, never closed or used there (its
  connections are the parent's sockets).  Forking a process with threads
  running has its own hazards (a lock held by another thread at the fork
  stays held in the child), and Python 3.12+ warns of it with a
  DeprecationWarning once this thread runs: fork before the first call, or
  use the "spawn" or "forkserver" start method, where you can.
* Exit: the thread is a daemon, never joined.  A pool that is not closed
  (``close``/``close_sync``) stays open until the process exits; the
  server then sees its connections drop.  ``close_sync`` works from an
  ``atexit`` handler.
* Windows: the loop is a SelectorEventLoop (psycopg's async connections
  refuse the default ProactorEventLoop), whatever the caller's loop is.
"""
from __future__ import annotations

import asyncio
import contextvars
import os
import sys
import threading
from concurrent.futures import Future, InvalidStateError
from typing import Any, Callable, Coroutine, Optional

_guard = threading.Lock()
_loop: Optional[asyncio.AbstractEventLoop] = None
# Per running home loop, the fail(error) of each call handed to it and not
# yet settled: if the loop stops, they are failed instead of waited for.
_waiting: dict[asyncio.AbstractEventLoop, set[Callable[[BaseException], None]]] = {}
_kept: list[Any] = []  # objects inherited over a fork, never to be collected


def _new_loop() -> asyncio.AbstractEventLoop:
    if sys.platform == "win32":
        # new_event_loop() is a ProactorEventLoop there, which psycopg's
        # async connections refuse.
        return asyncio.SelectorEventLoop()
    return asyncio.new_event_loop()


def _start() -> asyncio.AbstractEventLoop:
    """A new home loop and its thread; called holding _guard."""
    loop = _new_loop()
    ready = threading.Event()
    _waiting[loop] = set()

    def run() -> None:
        global _loop
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        try:
            loop.run_forever()
        finally:
            with _guard:
                if _loop is loop:
                    _loop = None
                waiting = _waiting.pop(loop, set())
            gone = RuntimeError("session_store's event loop stopped "
                                "before the call finished")
            for fail in list(waiting):
                fail(gone)
            _wind_up(loop)
    threading.Thread(target=run, name="session_store-loop", daemon=True).start()
    ready.wait()
    return loop


def _wind_up(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what is left on a stopped loop (its pools' workers, calls
    already failed) and close it."""
    try:
        tasks = asyncio.all_tasks(loop)
        for t in tasks:
            t.cancel()
        if tasks:
            loop.run_until_complete(
                asyncio.gather(*tasks, return_exceptions=True))
    except BaseException:  # noqa: BLE001 - nothing is left to report to
        pass
    finally:
        loop.close()


def home() -> asyncio.AbstractEventLoop:
    """The loop the URL stores run on, started on first use (and again if
    the one before stopped)."""
    global _loop
    loop = _loop
    if loop is None or not loop.is_running():
        with _guard:
            if _loop is None or not _loop.is_running():
                _loop = _start()  # a stopped one fails its calls itself
            loop = _loop
    return loop


def _forget_after_fork() -> None:
    global _guard, _loop, _waiting
    _guard = threading.Lock()
    _loop = None  # the thread did not survive the fork
    _waiting = {}


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)


def keep(obj: Any) -> None:
    """Keep obj (a pool inherited over a fork) alive to the end of the
    process, so that collecting it does not try to stop the parent's
    workers or close its connections."""
    _kept.append(obj)


def _on_home() -> bool:
    try:
        return asyncio.get_running_loop() is _loop
    except RuntimeError:
        return False


class _Raised:
    """A BaseException of the call (not an Exception), carried back as a
    result: raised in the home loop's task, it would stop the loop."""
    __slots__ = ("error",)

    def __init__(self, error: BaseException):
        self.error = error


async def _guarded(coro: Coroutine[Any, Any, Any]) -> Any:
    try:
        return await coro
    except (Exception, asyncio.CancelledError):
        raise
    except BaseException as e:  # noqa: BLE001 - handed back to the caller
        return _Raised(e)


def _hand_over(coro: Coroutine[Any, Any, Any],
               settle: Callable[[asyncio.Task], None],
               fail: Callable[[BaseException], None]) -> tuple:
    """Start coro on the home loop in a copy of this context; settle(task)
    runs on the home loop when it is done, fail(error) instead if the loop
    stops first.  Returns (loop, task holder, forget)."""
    ctx = contextvars.copy_context()
    task: list[asyncio.Task] = []
    while True:
        loop = home()
        with _guard:
            waiting = _waiting.get(loop)
            if waiting is not None:
                waiting.add(fail)
                break
        # that loop stopped between home() and here: take the next one

    def forget() -> None:
        with _guard:
            waiting.discard(fail)

    def done(t: asyncio.Task) -> None:
        forget()
        settle(t)

    def start() -> None:
        if sys.version_info >= (3, 11):
            t = loop.create_task(_guarded(coro), context=ctx)
        else:  # the task copies the context current when it is made
            t = ctx.run(loop.create_task, _guarded(coro))
        task.append(t)
        t.add_done_callback(done)
    try:
        loop.call_soon_threadsafe(start)
    except RuntimeError as e:  # closed meanwhile: fail was (or is) called
        forget()
        coro.close()
        fail(RuntimeError(f"session_store's event loop stopped: {e}"))
    return loop, task, forget


def _outcome(task: asyncio.Task) -> tuple[bool, Any]:
    """(True, error) or (False, result) of a finished, uncancelled task."""
    error = task.exception()
    if error is not None:
        return True, error
    result = task.result()
    if isinstance(result, _Raised):
        return True, result.error
    return False, result


async def run(coro: Coroutine[Any, Any, Any]) -> Any:
    """Await coro on the home loop from the caller's loop (any), in a copy
    of the caller's context.  Cancelling the caller cancels the call on the
    home loop (see the module's notes).  (Two call_soon_threadsafe hops and
    one future in the caller's loop: lighter than run_coroutine_threadsafe
    with wrap_future.)"""
    if _on_home():
        return await coro
    caller = asyncio.get_running_loop()
    done = caller.create_future()

    def fail(error: BaseException) -> None:
        try:
            caller.call_soon_threadsafe(_fail, done, error)
        except RuntimeError:  # the caller's loop is closed
            pass
    loop, task, _ = _hand_over(
        coro, lambda t: _hand_back(caller, done, t), fail)
    try:
        return await done
    except asyncio.CancelledError:
        try:
            loop.call_soon_threadsafe(lambda: task and task[0].cancel())
        except RuntimeError:  # the home loop is gone, and the call with it
            pass
        raise


def _fail(done: asyncio.Future, error: BaseException) -> None:
    if not done.done():
        done.set_exception(error)


def _hand_back(caller: asyncio.AbstractEventLoop, done: asyncio.Future,
               task: asyncio.Task) -> None:
    try:
        caller.call_soon_threadsafe(_settle, done, task)
    except RuntimeError:  # the caller's loop is closed: nobody is waiting
        if not task.cancelled():
            task.exception()  # retrieved, so not reported as lost


def _settle(done: asyncio.Future, task: asyncio.Task) -> None:
    if done.done():  # the caller gave up: its result is dropped
        if not task.cancelled():
            task.exception()
        return
    if task.cancelled():
        done.cancel()
        return
    failed, value = _outcome(task)
    if failed:
        done.set_exception(value)
    else:
        done.set_result(value)


def run_blocking(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run coro on the home loop and wait for it in this thread, which must
    not be the home loop's (that would wait for itself).  Fails with
    RuntimeError, rather than waiting for ever, if the loop stops first."""
    if _on_home():
        coro.close()
        raise RuntimeError("a blocking call from the store's own event loop")
    result: Future = Future()

    def settle(t: asyncio.Task) -> None:
        if t.cancelled():
            result.cancel()
            return
        failed, value = _outcome(t)
        try:
            if failed:
                result.set_exception(value)
            else:
                result.set_result(value)
        except InvalidStateError:  # failed already: the loop stopped
            pass

    def fail(error: BaseException) -> None:
        try:
            result.set_exception(error)
        except InvalidStateError:  # settled meanwhile
            pass
    _hand_over(coro, settle, fail)
    return result.result()
