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

One loop serves every such store of the process (started by the first
call, never stopped: the thread is a daemon).  A child process made by
fork gets a loop of its own on its first call; a store made before the fork
is not to be used in the child (its connections are the parent's).
"""
from __future__ import annotations

import asyncio
import os
import threading
from concurrent.futures import Future
from typing import Any, Coroutine, Optional

_guard = threading.Lock()
_loop: Optional[asyncio.AbstractEventLoop] = None


def _start() -> asyncio.AbstractEventLoop:
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        loop.run_forever()
    threading.Thread(target=run, name="session_store-loop", daemon=True).start()
    ready.wait()
    return loop


def home() -> asyncio.AbstractEventLoop:
    """The loop the URL stores run on, started on first use."""
    global _loop
    loop = _loop
    if loop is None:
        with _guard:
            if _loop is None:
                _loop = _start()
            loop = _loop
    return loop


def _forget_after_fork() -> None:
    global _guard, _loop
    _guard = threading.Lock()
    _loop = None  # the thread did not survive the fork


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)


def _on_home() -> bool:
    try:
        return asyncio.get_running_loop() is _loop
    except RuntimeError:
        return False


def submit(coro: Coroutine[Any, Any, Any]) -> Future:
    """coro scheduled on the home loop; its concurrent Future."""
    return asyncio.run_coroutine_threadsafe(coro, home())


async def run(coro: Coroutine[Any, Any, Any]) -> Any:
    """Await coro on the home loop from the caller's loop (any).  Cancelling
    the caller cancels the call on the home loop.  (Two call_soon_threadsafe
    hops and one future in the caller's loop: lighter than
    run_coroutine_threadsafe with wrap_future.)"""
    if _on_home():
        return await coro
    loop, caller = home(), asyncio.get_running_loop()
    done = caller.create_future()
    task: list[asyncio.Task] = []

    def start() -> None:
        t = loop.create_task(coro)
        task.append(t)
        t.add_done_callback(lambda t: _hand_back(caller, done, t))
    loop.call_soon_threadsafe(start)
    try:
        return await done
    except asyncio.CancelledError:
        loop.call_soon_threadsafe(lambda: task and task[0].cancel())
        raise


def _hand_back(caller: asyncio.AbstractEventLoop, done: asyncio.Future,
               task: asyncio.Task) -> None:
    try:
        caller.call_soon_threadsafe(_settle, done, task)
    except RuntimeError:  # the caller's loop is closed: nobody is waiting
        if not task.cancelled():
            task.exception()  # retrieved, so not reported as lost


def _settle(done: asyncio.Future, task: asyncio.Task) -> None:
    if done.cancelled():  # the caller gave up: its result is dropped
        if not task.cancelled():
            task.exception()
        return
    if task.cancelled():
        done.cancel()
    elif task.exception() is not None:
        done.set_exception(task.exception())
    else:
        done.set_result(task.result())


def run_blocking(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run coro on the home loop and wait for it in this thread, which must
    not be the home loop's (that would wait for itself)."""
    if _on_home():
        coro.close()
        raise RuntimeError("a blocking call from the store's own event loop")
    return submit(coro).result()
