"""Python client for the session_store PostgreSQL extension.

    from session_store import SessionStore
    store = SessionStore("postgresql://localhost/mydb")
    s = store.create_session(app_name="app", user_id="u1")
    store.append_messages(app_name="app", user_id="u1", session_id=s.session_id,
                          messages=[{"role": "user", "content": "hi"}])

Framework adapters: session_store.adk.SessionStoreService (Google ADK) and
session_store.openai_agents.SessionStoreSession (OpenAI Agents SDK).
"""
from ._errors import (ConnectionLost, IdempotencyConflict, InvalidArgument,
                      LimitExceeded, SerializationFailure, SessionExists,
                      SessionNotFound, SessionStoreError, SuffixMismatch,
                      VersionConflict)
from ._retry import RetryPolicy
from ._sql import RawJson
from ._store import AsyncSessionStore, SessionStore, normalize_dsn
from ._types import (AppendResult, Message, ReplaceResult, Session,
                     SessionSummary, SessionWithMessages)

__all__ = [
    "SessionStore", "AsyncSessionStore", "RetryPolicy", "RawJson", "normalize_dsn",
    "Session", "SessionSummary", "Message", "AppendResult", "ReplaceResult",
    "SessionWithMessages",
    "SessionStoreError", "SessionNotFound", "SessionExists", "VersionConflict",
    "SuffixMismatch", "SerializationFailure", "IdempotencyConflict",
    "InvalidArgument", "LimitExceeded", "ConnectionLost",
]
__version__ = "1.2.0"
