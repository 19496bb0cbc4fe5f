"""Turn what an adapter is given into an AsyncSessionStore-like object."""
from __future__ import annotations

import asyncio
from typing import Any

import psycopg

from ._store import AsyncSessionStore, SessionStore, psycopg_pool


class _ThreadedStore:
    """A sync SessionStore driven from asyncio: each call runs in a worker
    thread (the store is thread-safe)."""

    def __init__(self, store: SessionStore):
        self._store = store

    def __getattr__(self, name: str):
        method = getattr(self._store, name)
        if not callable(method):
            return method  # e.g. retry

        async def call(*args, **kwargs):
            return await asyncio.to_thread(method, *args, **kwargs)
        return call

    async def close(self) -> None:
        pass  # the caller's store: the caller closes it


def async_store(source: Any, install: bool = False) -> tuple[Any, bool]:
    """(store, owned): an object with AsyncSessionStore's coroutine methods
    for a URL/DSN, an AsyncSessionStore, a SessionStore, an async or sync
    psycopg_pool pool or a psycopg (async) connection.  owned is True when
    the adapter made the store and must close it.  install: the store
    installs the portable edition before its first call when the database
    holds no edition (a store passed in is switched to do so too)."""
    if isinstance(source, str):
        return AsyncSessionStore(source, install=install), True
    if isinstance(source, AsyncSessionStore):
        store, owned = source, False
    elif isinstance(source, SessionStore):
        store, owned = _ThreadedStore(source), False
    elif isinstance(source, psycopg.AsyncConnection):
        store, owned = AsyncSessionStore(source), False
    elif psycopg_pool is not None and isinstance(source, psycopg_pool.AsyncConnectionPool):
        store, owned = AsyncSessionStore(source), False
    elif psycopg_pool is not None and isinstance(source, psycopg_pool.ConnectionPool):
        store, owned = _ThreadedStore(SessionStore(source)), False
    elif isinstance(source, psycopg.Connection):
        store, owned = _ThreadedStore(SessionStore(source)), False
    else:
        raise TypeError("expected a PostgreSQL URL or DSN, an AsyncSessionStore or "
                        "SessionStore, a psycopg_pool pool or a psycopg connection, "
                        f"not {type(source).__name__}")
    if install:
        inner = store._store if isinstance(store, _ThreadedStore) else store
        inner._install_pending = True
    return store, owned
