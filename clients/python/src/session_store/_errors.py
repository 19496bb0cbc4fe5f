"""Exceptions raised by the client, one class per condition a caller acts on.

The server's SQLSTATE picks the class (table in docs/python.md, "The
client"); every exception carries the server's message, detail, hint and
sqlstate.  The original psycopg exception is the ``__cause__``.
"""
from __future__ import annotations

from typing import Optional

import psycopg

try:  # optional dependency
    import psycopg_pool
except ImportError:  # pragma: no cover - exercised only without the extra
    psycopg_pool = None


class SessionStoreError(Exception):
    """Base class of every error the server reports through the client."""

    def __init__(self, message: str, *, detail: Optional[str] = None,
                 hint: Optional[str] = None, sqlstate: Optional[str] = None):
        super().__init__(message)
        self.message = message
        self.detail = detail
        self.hint = hint
        self.sqlstate = sqlstate

    def __str__(self) -> str:
        text = self.message
        if self.detail:
            text += f"\nDETAIL: {self.detail}"
        if self.hint:
            text += f"\nHINT: {self.hint}"
        return text


class SessionNotFound(SessionStoreError):
    """42704: the session does not exist."""


class SessionExists(SessionStoreError):
    """23505: a session with this id already exists."""


class VersionConflict(SessionStoreError):
    """40001 from ``expected_version``: the session moved on; re-read it."""


class SuffixMismatch(VersionConflict):
    """40001 from ``replace_messages``: the latest messages are no longer the
    expected ones."""


class SerializationFailure(SessionStoreError):
    """40001 (REPEATABLE READ / SERIALIZABLE) or 40P01: retry the transaction."""


class IdempotencyConflict(SessionStoreError):
    """42710: the idempotency key was already used with different content."""


class InvalidArgument(SessionStoreError):
    """22xxx: an argument was rejected."""


class LimitExceeded(SessionStoreError):
    """54xxx: a size or count limit was exceeded."""


class ConnectionLost(SessionStoreError):
    """The connection failed on every attempt the retry budget allowed: the
    outcome of the call is unknown (a write may or may not have been
    applied).  ``cause`` is the last attempt's error, ``attempts`` the number
    of attempts made; ``sqlstate`` is the cause's, when the server sent one."""

    def __init__(self, message: str, *, cause: BaseException, attempts: int):
        super().__init__(message, detail=str(cause).strip() or type(cause).__name__,
                         sqlstate=getattr(cause, "sqlstate", None))
        self.cause = cause
        self.attempts = attempts


_VERSION_MARK = " is at version "
_SUFFIX_MARK = "no longer ends with the expected messages"


def classify(sqlstate: Optional[str], message: str) -> type[SessionStoreError]:
    """The exception class for a server error."""
    if sqlstate is None:
        return SessionStoreError
    if sqlstate == "42704":
        return SessionNotFound
    if sqlstate == "23505":
        return SessionExists
    if sqlstate == "40001":
        if _SUFFIX_MARK in message:
            return SuffixMismatch
        if _VERSION_MARK in message:
            return VersionConflict
        return SerializationFailure
    if sqlstate == "40P01":
        return SerializationFailure
    if sqlstate == "42710":
        return IdempotencyConflict
    if sqlstate.startswith("22"):
        return InvalidArgument
    if sqlstate.startswith("54"):
        return LimitExceeded
    return SessionStoreError


# SQLSTATEs of a connection that failed (class 08) or that the server is
# closing or refusing (57P01 admin_shutdown, 57P02 crash_shutdown,
# 57P03 cannot_connect_now): a call that got one may be sent again.
_CONNECTION_STATES = ("57P01", "57P02", "57P03")


def connection_lost(err: BaseException) -> bool:
    """True when err says the connection failed, not what the server made of
    the call: a connection-class SQLSTATE, or an error with no SQLSTATE from
    a connection closed, reset, refused or broken (psycopg's
    OperationalError, an OSError), or a pool that could hand out no
    connection in time.  Every other SQLSTATE is the server's answer."""
    sqlstate = getattr(err, "sqlstate", None)
    if sqlstate is not None:
        return sqlstate.startswith("08") or sqlstate in _CONNECTION_STATES
    if psycopg_pool is not None and isinstance(
            err, (psycopg_pool.PoolClosed, psycopg_pool.TooManyRequests)):
        return False  # the caller closed the pool, or capped its queue
    return isinstance(err, (psycopg.OperationalError, OSError))


def translate(err: psycopg.Error) -> Exception:
    """The client exception for a psycopg error.

    Errors the server reported (they have a SQLSTATE) become a
    SessionStoreError subclass; anything else (a broken connection, a
    client-side error) is returned unchanged.
    """
    sqlstate = getattr(err, "sqlstate", None)
    if sqlstate is None:
        return err
    diag = err.diag
    message = diag.message_primary or str(err)
    cls = classify(sqlstate, message)
    return cls(message, detail=diag.message_detail, hint=diag.message_hint,
               sqlstate=sqlstate)
