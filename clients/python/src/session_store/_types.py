"""Result types: plain, immutable values, one per SQL result shape."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Optional


@dataclass(frozen=True)
class Session:
    """A row of ``session_store.session``; ``state`` is the merged view."""
    app_name: str
    user_id: str
    session_id: str
    state: dict[str, Any]
    version: int
    last_seq: int
    create_time: datetime
    update_time: datetime


@dataclass(frozen=True)
class SessionSummary:
    """A row of ``list_sessions``."""
    user_id: str
    session_id: str
    version: int
    last_seq: int
    create_time: datetime
    update_time: datetime
    next_page_token: str


@dataclass(frozen=True)
class SessionSummaryWithState(SessionSummary):
    """A row of ``list_sessions_with_state`` (1.2): a ``SessionSummary``'s
    fields, then the session's merged state as ``get_session`` returns it
    (its own keys, ``user:`` and ``app:`` keys with their prefixes).
    ``latest_message_time``: with ``latest_message_time=True`` only, the
    create_time of the session's newest message (None when it has none)."""
    state: dict[str, Any]
    latest_message_time: Optional[datetime] = None


@dataclass(frozen=True)
class Message:
    """A stored message: its sequence number, the JSON object, its time."""
    seq: int
    message: Any
    create_time: datetime


@dataclass(frozen=True)
class AppendResult:
    """The row ``append_messages`` returns; first/last_seq are None when
    nothing was appended."""
    first_seq: Optional[int]
    last_seq: Optional[int]
    version: int
    update_time: datetime
    replayed: bool


@dataclass(frozen=True)
class ReplaceResult:
    """The row ``replace_messages`` returns."""
    first_seq: Optional[int]
    last_seq: Optional[int]
    version: int
    update_time: datetime
    replayed: bool
    removed: int


@dataclass(frozen=True)
class SessionWithMessages:
    """A session and a window of its messages, read in one statement (one
    snapshot): ``messages`` is exactly what the session held at ``version``.
    ``latest_message_time`` is the create_time of the session's newest
    message (None when it has none), whatever the window."""
    session: Session
    messages: list[Message] = field(default_factory=list)
    latest_message_time: Optional[datetime] = None
