"""OpenAI Agents SDK session backed by session_store.

    from session_store.openai_agents import SessionStoreSession
    session = SessionStoreSession("conversation-1", "postgresql://localhost/mydb")
    result = await Runner.run(agent, "Hello", session=session)

Each method is one SQL call (``add_items`` on a session never written
before adds the create).  Order, atomicity of ``pop_item`` and concurrency
across threads and processes are the server's: no client-side lock, no
per-thread connection.  Many sessions can share one pool or store: pass it
instead of a URL.

A session made from a URL (``from_url``) works from any event loop of any
thread, e.g. one object used by each thread's ``asyncio.run`` in turn, and
closes from any of them (``close``) or from none (``close_sync``): its pool
lives on the client's own loop thread and each call is handed to it
(AsyncSessionStore).  A pool or store passed in is used in the caller's
loop, as the caller made it.

A dropped connection is retried by the store (RetryPolicy): ``add_items``
sends a key made for the call, ``pop_item`` and ``clear_session`` one each,
so a retry after a lost reply returns the first attempt's result and
nothing is stored or removed twice.
"""
from __future__ import annotations

from typing import Any, Optional

from agents.memory.session import SessionABC
from agents.memory.session_settings import (SessionSettings,
                                            resolve_session_limit)

from ._async_source import async_store
from ._errors import SessionExists, SessionNotFound

try:
    from agents.memory.session_settings import coerce_session_settings
except ImportError:  # pragma: no cover - older SDK
    def coerce_session_settings(value):
        return value if isinstance(value, SessionSettings) else SessionSettings(**value)

DEFAULT_APP_NAME = "openai_agents"
DEFAULT_USER_ID = "default"


class SessionStoreSession(SessionABC):
    """The SDK's Session protocol on one session_store session, named by
    (app_name, user_id, session_id)."""

    session_settings: Optional[SessionSettings] = None

    def __init__(self, session_id: str, db_url_or_pool: Any, *,
                 app_name: str = DEFAULT_APP_NAME,
                 user_id: str = DEFAULT_USER_ID,
                 session_settings: SessionSettings | dict[str, Any] | None = None,
                 install: bool = False):
        self.session_id = session_id
        self.app_name = app_name
        self.user_id = user_id
        self.session_settings = (coerce_session_settings(session_settings)
                                 if session_settings is not None
                                 else SessionSettings())
        self._store, self._owned = async_store(db_url_or_pool, install)

    @classmethod
    def from_url(cls, session_id: str, *, url: str,
                 app_name: str = DEFAULT_APP_NAME,
                 user_id: str = DEFAULT_USER_ID,
                 session_settings: SessionSettings | dict[str, Any] | None = None,
                 install: bool = False) -> "SessionStoreSession":
        """A session on its own pool for url (a ``postgresql://`` URL, a
        libpq DSN, or a SQLAlchemy-style ``postgresql+asyncpg://`` URL).
        ``install=True``: the first call installs the portable edition when
        the database holds no edition yet."""
        return cls(session_id, url, app_name=app_name, user_id=user_id,
                   session_settings=session_settings, install=install)

    @property
    def store(self):
        return self._store

    async def close(self) -> None:
        """Close the pool this session made for itself (from a URL), from
        any event loop; a pool or store passed in is the caller's to close."""
        if self._owned:
            await self._store.close()

    def close_sync(self) -> None:
        """close, from a thread with no event loop running."""
        if self._owned:
            self._store.close_sync()

    def _ident(self) -> dict[str, str]:
        return {"app_name": self.app_name, "user_id": self.user_id,
                "session_id": self.session_id}

    async def get_items(self, limit: Optional[int] = None) -> list:
        limit = resolve_session_limit(limit, self.session_settings)
        if limit is not None and limit <= 0:
            return []
        try:
            rows = await self._store.get_messages(**self._ident(),
                                                  max_count=limit)
        except SessionNotFound:
            return []
        return [r.message for r in rows]

    async def add_items(self, items: list) -> None:
        if not items:
            return
        try:
            await self._store.append_messages(**self._ident(), messages=items)
            return
        except SessionNotFound:
            pass
        # First write of this conversation: create it (a concurrent first
        # writer may win; that is fine), then append.
        try:
            await self._store.create_session(**self._ident())
        except SessionExists:
            pass
        await self._store.append_messages(**self._ident(), messages=items)

    async def pop_item(self) -> Any:
        try:
            row = await self._store.pop_message(**self._ident())
        except SessionNotFound:
            return None
        return None if row is None else row.message

    async def clear_session(self) -> None:
        try:
            await self._store.clear_session(**self._ident())
        except SessionNotFound:
            pass
