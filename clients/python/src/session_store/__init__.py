"""Python client for the session_store PostgreSQL extension.

    from session_store import SessionStore
    store = SessionStore("postgresql://localhost/mydb")
    s = store.create_session(app_name="app", user_id="u1")
    store.append_messages(app_name="app", user_id="u1", session_id=s.session_id,
                          messages=[{"role": "user", "content": "hi"}])

On a database where no edition is installed yet, ``install=True`` (or
``session_store.install(url)``, or ``python -m session_store install URL``)
installs the portable edition first; ``store.edition()`` tells which edition
and version a database holds.

Framework adapters: session_store.adk.SessionStoreService (Google ADK) and
session_store.openai_agents.SessionStoreSession (OpenAI Agents SDK).
"""
from ._errors import (ConnectionLost, IdempotencyConflict, InvalidArgument,
                      LimitExceeded, SerializationFailure, SessionExists,
                      SessionNotFound, SessionStoreError, SuffixMismatch,
                      VersionConflict)
from ._install import install, install_async, portable_sql
from ._retry import RetryPolicy
from ._sql import RawJson
from ._store import AsyncSessionStore, SessionStore, normalize_dsn
from ._types import (AppendResult, Message, ReplaceResult, Session,
                     SessionSummary, SessionSummaryWithState,
                     SessionWithMessages)

__all__ = [
    "SessionStore", "AsyncSessionStore", "RetryPolicy", "RawJson", "normalize_dsn",
    "install", "install_async", "portable_sql",
    "Session", "SessionSummary", "SessionSummaryWithState", "Message", "AppendResult", "ReplaceResult",
    "SessionWithMessages",
    "SessionStoreError", "SessionNotFound", "SessionExists", "VersionConflict",
    "SuffixMismatch", "SerializationFailure", "IdempotencyConflict",
    "InvalidArgument", "LimitExceeded", "ConnectionLost",
]
__version__ = "1.2.0"
