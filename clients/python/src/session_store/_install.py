"""Which edition a database holds, and installing the portable edition.

The client works on either edition (the C extension or the portable one:
same functions, same results).  ``install`` is the one place it changes a
database's schema, and only when asked (``install=True`` on a store or an
adapter, ``session_store.install(...)``, ``python -m session_store install
URL``): when no edition is installed it runs the portable edition's script,
shipped in this package (``portable.sql``, copied at build time from the
repository's portable/session_store.sql).  It never creates the C
extension and never installs over an edition already there.

Many processes may install at once: the script takes an advisory lock
before its guard, so one installs and every other stops with 42710
"session_store ... is already installed", which ``install`` counts as
success.  A connection lost during the install is retried like any call of
a store (the script is one transaction; running it again is harmless).
"""
from __future__ import annotations

import os
from importlib import resources
from typing import Any, Optional, Union

import psycopg
from psycopg import pq

from ._retry import RetryPolicy

# One round trip: the C extension's version when it is installed (1.0 and
# 1.1 have no edition()), and whether edition() exists.
_PROBE = """SELECT (SELECT e.extversion FROM pg_catalog.pg_extension e
                    WHERE e.extname OPERATOR(pg_catalog.=) 'session_store'),
                   pg_catalog.to_regprocedure('session_store.edition()') IS NOT NULL"""

EDITION_SQL = "SELECT edition, version FROM session_store.edition()"

_DUPLICATE_OBJECT = "42710"


# where the script is in the repository, for a package run from its source
# tree (an editable install, PYTHONPATH=src) rather than installed
_REPO_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                            "..", "..", "..", "..", "portable", "session_store.sql")


def portable_sql() -> str:
    """The portable edition's install script shipped in this package."""
    try:
        return resources.files(__package__).joinpath("portable.sql").read_text("utf-8")
    except FileNotFoundError:
        pass
    try:
        with open(_REPO_SCRIPT, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        raise FileNotFoundError(
            "this session_store package was built without the portable "
            "edition's script (portable.sql): build it from the repository, "
            "whose portable/session_store.sql (portable/build.sh) is copied "
            "into the package") from None


def _probe(conn: psycopg.Connection) -> Optional[tuple[str, str]]:
    """(edition, version) of what is installed, None when nothing is."""
    ext_version, has_edition = conn.execute(_PROBE, prepare=False).fetchone()
    if has_edition:
        return tuple(conn.execute(EDITION_SQL, prepare=False).fetchone())
    if ext_version is not None:
        return ("c", ext_version)  # the C extension before 1.2
    return None


def install_on(conn: psycopg.Connection, script: str) -> tuple[str, str]:
    """Install on an idle autocommit connection; what is installed after.
    psycopg's errors are raised as they are (the callers translate)."""
    found = _probe(conn)
    if found is not None:
        return found
    try:
        # no parameters: sent as one simple query, the script's own
        # BEGIN ... COMMIT making it one transaction
        conn.execute(script, prepare=False)
    except psycopg.Error as e:
        if (not conn.closed
                and conn.info.transaction_status != pq.TransactionStatus.IDLE):
            conn.execute("ROLLBACK")
        if getattr(e, "sqlstate", None) != _DUPLICATE_OBJECT:
            raise
        # another installer won the lock, or an edition came meanwhile
        found = _probe(conn)
        if found is None:
            raise
        return found
    return _probe(conn)


def on_idle(conn: psycopg.Connection, fn):
    """fn(conn) in autocommit mode on a caller's connection, which must
    have no transaction open."""
    if conn.info.transaction_status != pq.TransactionStatus.IDLE:
        raise psycopg.ProgrammingError(
            "session_store's install runs its own transaction: call it on a "
            "connection with no transaction open")
    switched = not conn.autocommit
    if switched:
        conn.autocommit = True
    try:
        return fn(conn)
    finally:
        if switched and not conn.closed:
            conn.autocommit = False


def install(source: Any, *, retry: Union[RetryPolicy, bool] = True,
            **connect_kwargs: Any) -> tuple[str, str]:
    """Install the portable edition into the database of ``source`` (a URL
    or DSN, a psycopg connection with no transaction open, or a
    SessionStore) when no edition is installed there; return (edition,
    version) of what the database holds afterwards: ("portable", "1.2")
    after an install, what was there otherwise (("c", "1.2") for the C
    extension, left untouched).  Needs CREATE on the database, no
    superuser.  On a URL a lost connection is retried under ``retry``."""
    from ._store import SessionStore
    if isinstance(source, str):
        with SessionStore(source, retry=retry, _pooled=False,
                          **connect_kwargs) as store:
            return store.install()
    if isinstance(source, psycopg.Connection):
        source = SessionStore(source)
    elif not isinstance(source, SessionStore):
        raise TypeError("install takes a DSN or URL, a psycopg Connection "
                        "or a SessionStore")
    return source.install()


async def _probe_async(conn: psycopg.AsyncConnection) -> Optional[tuple[str, str]]:
    cur = await conn.execute(_PROBE, prepare=False)
    ext_version, has_edition = await cur.fetchone()
    if has_edition:
        cur = await conn.execute(EDITION_SQL, prepare=False)
        return tuple(await cur.fetchone())
    return ("c", ext_version) if ext_version is not None else None


async def install_on_async(conn: psycopg.AsyncConnection,
                           script: str) -> tuple[str, str]:
    """install_on, awaited."""
    found = await _probe_async(conn)
    if found is not None:
        return found
    try:
        await conn.execute(script, prepare=False)
    except psycopg.Error as e:
        if (not conn.closed
                and conn.info.transaction_status != pq.TransactionStatus.IDLE):
            await conn.execute("ROLLBACK")
        if getattr(e, "sqlstate", None) != _DUPLICATE_OBJECT:
            raise
        found = await _probe_async(conn)
        if found is None:
            raise
        return found
    return await _probe_async(conn)


async def on_idle_async(conn: psycopg.AsyncConnection, fn):
    """on_idle, awaited: await fn(conn)."""
    if conn.info.transaction_status != pq.TransactionStatus.IDLE:
        raise psycopg.ProgrammingError(
            "session_store's install runs its own transaction: call it on a "
            "connection with no transaction open")
    switched = not conn.autocommit
    if switched:
        await conn.set_autocommit(True)
    try:
        return await fn(conn)
    finally:
        if switched and not conn.closed:
            await conn.set_autocommit(False)


async def install_async(source: Any, *, retry: Union[RetryPolicy, bool] = True,
                        **connect_kwargs: Any) -> tuple[str, str]:
    """install, for asyncio: a URL or DSN, a psycopg AsyncConnection with no
    transaction open, or an AsyncSessionStore."""
    from ._store import AsyncSessionStore
    if isinstance(source, str):
        async with AsyncSessionStore(source, retry=retry, _pooled=False,
                                     **connect_kwargs) as store:
            return await store.install()
    if isinstance(source, psycopg.AsyncConnection):
        source = AsyncSessionStore(source)
    elif not isinstance(source, AsyncSessionStore):
        raise TypeError("install_async takes a DSN or URL, a psycopg "
                        "AsyncConnection or an AsyncSessionStore")
    return await source.install()
