"""SessionStore and AsyncSessionStore: one method per SQL function.

Each method sends one statement (one round trip: the extended protocol's
Parse/Bind/Execute/Sync in one flight, never a named prepared statement) and
gives the connection back before it returns.  What it runs on:

* a DSN or URL (``postgresql://...``): a pool of its own (psycopg_pool, when
  installed; otherwise one short-lived connection per call), in autocommit
  mode, with no prepared statements, so it works behind PgBouncer in
  transaction mode (AsyncSessionStore runs that pool on the client's own
  event loop thread, _loop.py, so any caller loop may use it);
* a psycopg_pool pool: a connection is taken for the call and given back;
  an idle non-autocommit connection is switched to autocommit for the call
  (a client-side setting, no round trip) so no COMMIT follows;
* a psycopg connection: the call runs on it as is, inside the caller's
  transaction when one is open (the caller commits).

Retries (``retry=``, a RetryPolicy, on by default; _retry.py): on a DSN or a
pool, a call whose connection failed is sent again on another connection,
the same statement with the same arguments, within the policy's budget.  A
write is made safe to send again before its first attempt: the caller's
idempotency key or one made for the call, a session id made for a create.
On a connection passed in nothing is retried (it may be inside the caller's
transaction) and no key is made.

The store keeps no session state on the server (no SET, no temporary
objects, no LISTEN, no prepared statements).
"""
from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from datetime import datetime, timedelta
from typing import Any, AsyncIterator, Iterator, Optional, Union

import psycopg
from psycopg import pq

from . import _install, _loop, _sql
from ._retry import Attempts, RetryPolicy, policy_of
from ._types import (AppendResult, Message, ReplaceResult, Session,
                     SessionSummary, SessionSummaryWithState,
                     SessionWithMessages)

try:  # optional dependency
    import psycopg_pool
except ImportError:  # pragma: no cover - exercised only without the extra
    psycopg_pool = None

_CONN_KWARGS = {"autocommit": True, "prepare_threshold": None}

ONE, MAYBE, ALL, SCALAR = "one", "maybe", "all", "scalar"


def normalize_dsn(url: str) -> str:
    """A libpq connection string from a DSN or URL.  SQLAlchemy-style URLs
    (``postgresql+psycopg://``, ``postgresql+asyncpg://``, ``postgres+...``)
    lose their driver part."""
    for scheme in ("postgresql+", "postgres+"):
        if url.startswith(scheme):
            rest = url.split("://", 1)
            if len(rest) != 2:
                raise ValueError(f"not a database URL: {url!r}")
            return "postgresql://" + rest[1]
    return url


class _Call:
    __slots__ = ("name", "sql", "params", "shape", "convert")

    def __init__(self, name, sql, params, shape, convert=None):
        self.name, self.sql, self.params = name, sql, params
        self.shape, self.convert = shape, convert


def _finish(call: _Call, rows: list) -> Any:
    if call.shape == ALL:
        return [call.convert(r) for r in rows]
    if call.shape == SCALAR:
        return rows[0][0] if rows else None
    if not rows:
        if call.shape == MAYBE:
            return None
        raise RuntimeError("the server returned no row")  # never expected
    return call.convert(rows[0]) if call.convert else rows[0][0]


def _alive(conn: psycopg.Connection) -> bool:
    """One empty query: does the connection still work?"""
    try:
        if conn.autocommit:
            conn.execute("")
        else:
            conn.autocommit = True
            try:
                conn.execute("")
            finally:
                if not conn.closed:
                    conn.autocommit = False
        return True
    except psycopg.Error:
        return False


async def _alive_async(conn: psycopg.AsyncConnection) -> bool:
    try:
        if conn.autocommit:
            await conn.execute("")
        else:
            await conn.set_autocommit(True)
            try:
                await conn.execute("")
            finally:
                if not conn.closed:
                    await conn.set_autocommit(False)
        return True
    except psycopg.Error:
        return False


class _Api:
    """The methods, shared by the sync and async stores: each builds a call
    and hands it to _exec, which runs it (sync) or returns an awaitable."""

    _retry: Optional[RetryPolicy] = None

    def _exec(self, call: _Call):  # pragma: no cover - overridden
        raise NotImplementedError

    @property
    def retry(self) -> Optional[RetryPolicy]:
        """The retry policy calls run under; None when nothing is retried
        (``retry=False``, or a connection passed in)."""
        return self._retry

    def _key(self, key: Optional[str]) -> Optional[str]:
        """The caller's idempotency key; when calls are retried and the
        caller gave none, one made now, so every attempt sends the same."""
        if key is None and self._retry is not None:
            return str(uuid.uuid4())
        return key

    def create_session(self, app_name: str, user_id: str,
                       state: Optional[dict] = None,
                       session_id: Optional[str] = None,
                       keep_nulls: Optional[bool] = None,
                       idempotency_key: Optional[str] = None) -> Session:
        """With retries on, a session id is made here when none is given
        (the server would pick a new one on each attempt) and a key is sent:
        a retry after a lost reply returns the session the first attempt
        made, where it would otherwise be SessionExists (1.2 server)."""
        if self._retry is not None:
            session_id = session_id if session_id is not None else str(uuid.uuid4())
            idempotency_key = self._key(idempotency_key)
        sql, p = _sql.build("create_session", _sql.SESSION_COLS,
                            {"app_name": app_name, "user_id": user_id},
                            {"state": state, "session_id": session_id,
                             "keep_nulls": keep_nulls,
                             "idempotency_key": idempotency_key})
        return self._exec(_Call("create_session", sql, p, ONE, _sql.to_session))

    def get_session(self, app_name: str, user_id: str,
                    session_id: str) -> Optional[Session]:
        sql, p = _sql.build("get_session", _sql.SESSION_COLS,
                            {"app_name": app_name, "user_id": user_id,
                             "session_id": session_id}, {})
        return self._exec(_Call("get_session", sql, p, MAYBE, _sql.to_session))

    def delete_session(self, app_name: str, user_id: str,
                       session_id: str) -> bool:
        sql, p = _sql.build("delete_session", None,
                            {"app_name": app_name, "user_id": user_id,
                             "session_id": session_id}, {})
        return self._exec(_Call("delete_session", sql, p, SCALAR))

    def append_messages(self, app_name: str, user_id: str, session_id: str,
                        messages: Any, state_delta: Optional[dict] = None,
                        expected_version: Optional[int] = None,
                        idempotency_key: Optional[str] = None,
                        keep_nulls: Optional[bool] = None,
                        message_time: Optional[datetime] = None,
                        verify_replay: Optional[bool] = None) -> AppendResult:
        sql, p = _sql.build("append_messages", _sql.APPEND_COLS,
                            {"app_name": app_name, "user_id": user_id,
                             "session_id": session_id, "messages": messages},
                            {"state_delta": state_delta,
                             "expected_version": expected_version,
                             "idempotency_key": self._key(idempotency_key),
                             "keep_nulls": keep_nulls,
                             "message_time": message_time,
                             "verify_replay": verify_replay})
        return self._exec(_Call("append_messages", sql, p, ONE, _sql.to_append))

    def get_messages(self, app_name: str, user_id: str, session_id: str,
                     max_count: Optional[int] = None,
                     after_seq: Optional[int] = None,
                     before_seq: Optional[int] = None,
                     after_time: Optional[datetime] = None) -> list[Message]:
        sql, p = _sql.build("get_messages", _sql.MESSAGE_COLS,
                            {"app_name": app_name, "user_id": user_id,
                             "session_id": session_id},
                            {"max_count": max_count, "after_seq": after_seq,
                             "before_seq": before_seq, "after_time": after_time})
        return self._exec(_Call("get_messages", sql, p, ALL, _sql.to_message))

    def list_sessions(self, app_name: str, user_id: Optional[str] = None,
                      page_size: Optional[int] = None,
                      page_token: Optional[str] = None, *,
                      ascending: bool = False) -> list[SessionSummary]:
        """One page, most recently updated first; with ``ascending`` (1.1)
        least recently updated first, the same order reversed.  A page token
        continues only the listing of its own direction."""
        # ascending is sent only when true: a 1.0 database lists newest first
        sql, p = _sql.build("list_sessions", _sql.SUMMARY_COLS,
                            {"app_name": app_name},
                            {"user_id": user_id, "page_size": page_size,
                             "page_token": page_token,
                             "ascending": True if ascending else None})
        return self._exec(_Call("list_sessions", sql, p, ALL, _sql.to_summary))

    def list_sessions_with_state(self, app_name: str, user_id: Optional[str] = None,
                                 page_size: Optional[int] = None,
                                 page_token: Optional[str] = None, *,
                                 ascending: bool = False,
                                 latest_message_time: bool = False
                                 ) -> list[SessionSummaryWithState]:
        """list_sessions' page (the same rows, order and page tokens: a token
        of either continues the listing in the other), each row with the
        session's merged state as get_session returns it; one statement, so
        the page and its states are one snapshot (1.2).  With
        ``latest_message_time``, each row also carries the time of the
        session's newest message (get_session_with_messages'), read in the
        same statement: one index probe per row."""
        sql, p = _sql.build("list_sessions_with_state", _sql.SUMMARY_STATE_COLS,
                            {"app_name": app_name},
                            {"user_id": user_id, "page_size": page_size,
                             "page_token": page_token,
                             "ascending": True if ascending else None})
        if latest_message_time:
            sql = _sql.listing_latest_sql(p.keys())
        return self._exec(_Call("list_sessions_with_state", sql, p, ALL,
                                _sql.to_summary_with_state))

    def pop_message(self, app_name: str, user_id: str, session_id: str,
                    expected_version: Optional[int] = None,
                    idempotency_key: Optional[str] = None) -> Optional[Message]:
        sql, p = _sql.build("pop_message", _sql.MESSAGE_COLS,
                            {"app_name": app_name, "user_id": user_id,
                             "session_id": session_id},
                            {"expected_version": expected_version,
                             "idempotency_key": self._key(idempotency_key)})
        return self._exec(_Call("pop_message", sql, p, MAYBE, _sql.to_message))

    def rewind_session(self, app_name: str, user_id: str, session_id: str,
                       to_seq: int,
                       expected_version: Optional[int] = None,
                       idempotency_key: Optional[str] = None) -> int:
        sql, p = _sql.build("rewind_session", None,
                            {"app_name": app_name, "user_id": user_id,
                             "session_id": session_id, "to_seq": to_seq},
                            {"expected_version": expected_version,
                             "idempotency_key": self._key(idempotency_key)})
        return self._exec(_Call("rewind_session", sql, p, SCALAR))

    def clear_session(self, app_name: str, user_id: str, session_id: str,
                      expected_version: Optional[int] = None,
                      idempotency_key: Optional[str] = None) -> int:
        sql, p = _sql.build("clear_session", None,
                            {"app_name": app_name, "user_id": user_id,
                             "session_id": session_id},
                            {"expected_version": expected_version,
                             "idempotency_key": self._key(idempotency_key)})
        return self._exec(_Call("clear_session", sql, p, SCALAR))

    def fork_session(self, app_name: str, user_id: str, session_id: str,
                     new_session_id: Optional[str] = None,
                     up_to_seq: Optional[int] = None,
                     idempotency_key: Optional[str] = None) -> Session:
        """With retries on, the new session's id is made here when none is
        given, and a key is sent, as for create_session."""
        if self._retry is not None:
            if new_session_id is None:
                new_session_id = str(uuid.uuid4())
            idempotency_key = self._key(idempotency_key)
        sql, p = _sql.build("fork_session", _sql.SESSION_COLS,
                            {"app_name": app_name, "user_id": user_id,
                             "session_id": session_id},
                            {"new_session_id": new_session_id,
                             "up_to_seq": up_to_seq,
                             "idempotency_key": idempotency_key})
        return self._exec(_Call("fork_session", sql, p, ONE, _sql.to_session))

    def expire_sessions(self, idle_for: timedelta,
                        app_name: Optional[str] = None,
                        max_sessions: Optional[int] = None) -> int:
        sql, p = _sql.build("expire_sessions", None, {"idle_for": idle_for},
                            {"app_name": app_name,
                             "max_sessions": max_sessions})
        return self._exec(_Call("expire_sessions", sql, p, SCALAR))

    def get_app_state(self, app_name: str) -> dict:
        sql, p = _sql.build("get_app_state", None, {"app_name": app_name}, {})
        return self._exec(_Call("get_app_state", sql, p, SCALAR))

    def get_user_state(self, app_name: str, user_id: str) -> dict:
        sql, p = _sql.build("get_user_state", None,
                            {"app_name": app_name, "user_id": user_id}, {})
        return self._exec(_Call("get_user_state", sql, p, SCALAR))

    def replace_messages(self, app_name: str, user_id: str, session_id: str,
                         expected_suffix: Any, replacement: Any,
                         state_delta: Optional[dict] = None,
                         expected_version: Optional[int] = None,
                         idempotency_key: Optional[str] = None,
                         keep_nulls: Optional[bool] = None) -> ReplaceResult:
        sql, p = _sql.build("replace_messages", _sql.REPLACE_COLS,
                            {"app_name": app_name, "user_id": user_id,
                             "session_id": session_id,
                             "expected_suffix": expected_suffix,
                             "replacement": replacement},
                            {"state_delta": state_delta,
                             "expected_version": expected_version,
                             "idempotency_key": self._key(idempotency_key),
                             "keep_nulls": keep_nulls})
        return self._exec(_Call("replace_messages", sql, p, ONE, _sql.to_replace))

    def count_sessions(self, app_name: str,
                       user_id: Optional[str] = None) -> int:
        sql, p = _sql.build("count_sessions", None, {"app_name": app_name},
                            {"user_id": user_id})
        return self._exec(_Call("count_sessions", sql, p, SCALAR))

    def edition(self) -> tuple[str, str]:
        """(edition, version) of the session_store the database holds:
        ("c", "1.2") for the C extension, ("portable", "1.2") for the
        portable edition.  One call (1.2 and later)."""
        return self._exec(_Call("edition", _install.EDITION_SQL, None, ONE, tuple))

    def get_session_with_messages(
            self, app_name: str, user_id: str, session_id: str,
            max_count: Optional[int] = None, after_seq: Optional[int] = None,
            before_seq: Optional[int] = None,
            after_time: Optional[datetime] = None,
            raw_json: bool = False) -> Optional[SessionWithMessages]:
        """get_session and get_messages in one statement, so in one snapshot:
        the messages are exactly those of the version returned.  None when
        the session does not exist.  raw_json=True returns each message as
        its JSON text instead of parsed values."""
        sql, window = _sql.session_sql(max_count, after_seq, before_seq,
                                       after_time, raw_json)
        params = {"app_name": app_name, "user_id": user_id,
                  "session_id": session_id, **window}
        return self._exec(_Call("get_session_with_messages", sql, params, MAYBE,
                                _sql.to_session_with_messages))


class SessionStore(_Api):
    """The synchronous client.  Thread-safe: calls from several threads share
    the pool (or, when given one connection, take turns on it).  ``retry``:
    a RetryPolicy, True (the default policy) or False.  ``install=True``:
    the first call installs the portable edition when the database holds
    no edition yet (``install()``)."""

    def __init__(self, source: Any, *, min_size: int = 1, max_size: int = 10,
                 retry: Union[RetryPolicy, bool] = True, install: bool = False,
                 _pooled: bool = True, **connect_kwargs: Any):
        self._install_pending = bool(install)
        self._install_lock = threading.Lock()
        self._own_pool = None
        self._pool = None
        self._conn = None
        self._dsn = None
        self._connect_kwargs = {**_CONN_KWARGS, **connect_kwargs}
        if isinstance(source, str):
            self._dsn = normalize_dsn(source)
            if psycopg_pool is not None and _pooled:
                self._own_pool = psycopg_pool.ConnectionPool(
                    self._dsn, min_size=min_size, max_size=max_size,
                    kwargs=self._connect_kwargs, open=True)
                self._pool = self._own_pool
        elif psycopg_pool is not None and isinstance(source, psycopg_pool.ConnectionPool):
            self._pool = source
        elif isinstance(source, psycopg.Connection):
            self._conn = source
        else:
            raise TypeError("SessionStore takes a DSN or URL, a psycopg "
                            "Connection or a psycopg_pool.ConnectionPool")
        policy = policy_of(retry)
        self._retry = policy if self._conn is None else None

    def close(self) -> None:
        """Close the pool the store made for itself (nothing else)."""
        if self._own_pool is not None:
            self._own_pool.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _run_on(self, conn: psycopg.Connection, call: _Call):
        with conn.cursor() as cur:
            cur.execute(call.sql, call.params, prepare=False)
            return cur.fetchall()

    def install(self) -> tuple[str, str]:
        """Install the portable edition when the database holds no edition
        (never over the C extension, which the client never creates); safe
        from many processes at once.  Returns (edition, version) of what the
        database holds afterwards.  On a connection passed in, none of its
        transactions may be open.  A lost connection is retried under the
        store's policy (installing twice is harmless)."""
        with self._install_lock:
            return self._install_now()

    def _install_now(self) -> tuple[str, str]:
        script = _install.portable_sql()

        def run(conn):
            return _install.on_idle(conn, lambda c: _install.install_on(c, script))
        result = self._retrying(run, "install")
        self._install_pending = False
        return result

    def _exec(self, call: _Call):
        if self._install_pending:  # install=True: once, before the first call
            with self._install_lock:
                if self._install_pending:
                    self._install_now()
        return _finish(call, self._retrying(
            lambda conn: self._run_on(conn, call), call.name))

    def _retrying(self, run, name: str):
        attempts = Attempts(self._retry)
        while True:
            try:
                return self._attempt(run, attempts)
            except (psycopg.Error, OSError) as e:
                time.sleep(attempts.pause_after(e, name))

    def _attempt(self, run, attempts: Attempts):
        if self._conn is not None:
            return run(self._conn)
        if self._pool is None:
            with psycopg.connect(self._dsn, **self._connect_kwargs) as conn:
                return run(conn)
        pool = self._pool
        conn = pool.getconn(attempts.wait_limit(pool.timeout))
        try:
            if attempts.number > 1:
                # the connections idle in the pool may have died with the
                # last one (a restart): test them, without spending attempts
                for _ in range(pool.max_size):
                    if _alive(conn):
                        break
                    pool.putconn(conn)  # closed: the pool replaces it
                    conn = None
                    conn = pool.getconn(attempts.wait_limit(pool.timeout))
            switched = False
            if (not conn.autocommit and conn.info.transaction_status
                    == pq.TransactionStatus.IDLE):
                conn.autocommit = switched = True
            try:
                return run(conn)
            finally:
                # not on a connection that failed: that would raise again
                # and hide the server's error (57P01 ...) behind its own
                if switched and not conn.closed:
                    conn.autocommit = False
        finally:
            if conn is not None:
                pool.putconn(conn)

    def iter_sessions(self, app_name: str, user_id: Optional[str] = None,
                      page_size: int = 100, *,
                      ascending: bool = False) -> Iterator[SessionSummary]:
        """Every session of the app (or user), most recently updated first
        (least recently first with ``ascending``), one list_sessions call
        per page, following next_page_token."""
        token = None
        while True:
            page = self.list_sessions(app_name, user_id, page_size, token,
                                      ascending=ascending)
            yield from page
            if len(page) < page_size:
                return
            token = page[-1].next_page_token


class AsyncSessionStore(_Api):
    """The asyncio client.  ``retry`` and ``install`` as for SessionStore.

    A DSN gets an AsyncConnectionPool of its own, opened by the first call
    on the loop of _loop.py (one daemon thread of the process) and used only
    there: every call is handed to that loop and its result handed back, so
    the store works from any event loop of any thread (each thread's
    ``asyncio.run`` in turn) and closes from any of them (``close``) or
    from none (``close_sync``).  A pool or connection passed in is the
    caller's: calls run on it in the caller's loop, as it requires."""

    def __init__(self, source: Any, *, min_size: int = 1, max_size: int = 10,
                 retry: Union[RetryPolicy, bool] = True, install: bool = False,
                 _pooled: bool = True, **connect_kwargs: Any):
        self._install_pending = bool(install)
        self._install_lock: Optional[asyncio.Lock] = None
        self._own_pool = None
        self._pool = None
        self._conn = None
        self._dsn = None
        self._opened = False
        self._open_lock: Optional[asyncio.Lock] = None
        self._lock_guard = threading.Lock()
        self._connect_kwargs = {**_CONN_KWARGS, **connect_kwargs}
        self._home = isinstance(source, str)  # runs on _loop's loop
        # (pid, home loop) the pool and locks belong to, set by the first call
        self._bound: Optional[tuple] = None
        if isinstance(source, str):
            self._dsn = normalize_dsn(source)
            if psycopg_pool is not None and _pooled:
                self._sizes = (min_size, max_size)
                self._own_pool = self._new_pool()
                self._pool = self._own_pool
        elif psycopg_pool is not None and isinstance(source, psycopg_pool.AsyncConnectionPool):
            self._pool = source
            self._opened = True
        elif isinstance(source, psycopg.AsyncConnection):
            self._conn = source
        else:
            raise TypeError("AsyncSessionStore takes a DSN or URL, a psycopg "
                            "AsyncConnection or a psycopg_pool.AsyncConnectionPool")
        policy = policy_of(retry)
        self._retry = policy if self._conn is None else None

    def _new_pool(self):
        return psycopg_pool.AsyncConnectionPool(
            self._dsn, min_size=self._sizes[0], max_size=self._sizes[1],
            kwargs=self._connect_kwargs, open=False)

    def _adopt(self) -> None:
        """On the home loop, before the store's pool or locks are used: if
        they belong to another process (the store was opened before a fork)
        or to a home loop that stopped, leave them alone (never closed: in a
        child the connections are the parent's sockets) and start afresh.
        Synchronous, on the one home thread: no call runs in between."""
        here = (os.getpid(), asyncio.get_running_loop())
        if self._bound == here:
            return
        if self._bound is not None:
            if self._bound[0] != here[0]:  # a lock held at the fork stays held
                self._lock_guard = threading.Lock()
            self._open_lock = None
            self._install_lock = None
            if self._own_pool is not None:
                old = self._own_pool
                _loop.keep(old)
                self._own_pool = self._pool = self._new_pool()
                self._own_pool.timeout = old.timeout
                self._opened = False
        self._bound = here

    async def close(self) -> None:
        """Close the pool the store made for itself (nothing else), from
        any event loop."""
        if self._own_pool is not None:
            await _loop.run(self._close_here())

    def close_sync(self) -> None:
        """close, from a thread with no event loop running (or one whose
        loop may block until the pool is closed)."""
        if self._own_pool is not None:
            _loop.run_blocking(self._close_here())

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()

    def _opening(self) -> asyncio.Lock:
        with self._lock_guard:
            if self._open_lock is None:
                self._open_lock = asyncio.Lock()
        return self._open_lock

    async def _close_here(self) -> None:
        self._adopt()
        async with self._opening():  # not while the first call opens it
            if self._opened:
                await self._own_pool.close()
                self._opened = False

    async def _ensure_open(self) -> None:
        if self._opened:
            return
        async with self._opening():
            if not self._opened:
                await self._own_pool.open()
                self._opened = True

    async def _run_on(self, conn: psycopg.AsyncConnection, call: _Call):
        async with conn.cursor() as cur:
            await cur.execute(call.sql, call.params, prepare=False)
            return await cur.fetchall()

    async def install(self) -> tuple[str, str]:
        """SessionStore.install, awaited."""
        if self._home:
            return await _loop.run(self._install_here())
        return await self._install_here()

    async def _install_here(self) -> tuple[str, str]:
        if self._home:
            self._adopt()
        async with self._installing():
            return await self._install_now()

    def _installing(self) -> asyncio.Lock:
        with self._lock_guard:
            if self._install_lock is None:
                self._install_lock = asyncio.Lock()
        return self._install_lock

    async def _install_now(self) -> tuple[str, str]:
        script = _install.portable_sql()

        async def run(conn):
            return await _install.on_idle_async(
                conn, lambda c: _install.install_on_async(c, script))
        result = await self._retrying(run, "install")
        self._install_pending = False
        return result

    async def _exec(self, call: _Call):
        if self._home:
            return await _loop.run(self._exec_here(call))
        return await self._exec_here(call)

    async def _exec_here(self, call: _Call):
        if self._home:
            self._adopt()
        if self._install_pending:  # install=True: once, before the first call
            async with self._installing():
                if self._install_pending:
                    await self._install_now()
        return _finish(call, await self._retrying(
            lambda conn: self._run_on(conn, call), call.name))

    async def _retrying(self, run, name: str):
        attempts = Attempts(self._retry)
        while True:
            try:
                return await self._attempt(run, attempts)
            except (psycopg.Error, OSError) as e:
                await asyncio.sleep(attempts.pause_after(e, name))

    async def _attempt(self, run, attempts: Attempts):
        """SessionStore._attempt, awaited."""
        if self._conn is not None:
            return await run(self._conn)
        if self._pool is None:
            async with await psycopg.AsyncConnection.connect(
                    self._dsn, **self._connect_kwargs) as conn:
                return await run(conn)
        if not self._opened:
            await self._ensure_open()
        pool = self._pool
        conn = await pool.getconn(attempts.wait_limit(pool.timeout))
        try:
            if attempts.number > 1:
                for _ in range(pool.max_size):
                    if await _alive_async(conn):
                        break
                    await pool.putconn(conn)
                    conn = None
                    conn = await pool.getconn(attempts.wait_limit(pool.timeout))
            switched = False
            if (not conn.autocommit and conn.info.transaction_status
                    == pq.TransactionStatus.IDLE):
                await conn.set_autocommit(True)
                switched = True
            try:
                return await run(conn)
            finally:
                if switched and not conn.closed:
                    await conn.set_autocommit(False)
        finally:
            if conn is not None:
                await pool.putconn(conn)

    async def iter_sessions(self, app_name: str, user_id: Optional[str] = None,
                            page_size: int = 100, *, ascending: bool = False
                            ) -> AsyncIterator[SessionSummary]:
        """Every session of the app (or user), most recently updated first
        (least recently first with ``ascending``), one list_sessions call
        per page, following next_page_token."""
        token = None
        while True:
            page = await self.list_sessions(app_name, user_id, page_size, token,
                                            ascending=ascending)
            for s in page:
                yield s
            if len(page) < page_size:
                return
            token = page[-1].next_page_token
