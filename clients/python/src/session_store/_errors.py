"""Exceptions raised by the client, one class per condition a caller acts on.

The server's SQLSTATE picks the class (table in the README, "Use from
Python"); every exception carries the server's message, detail, hint and
sqlstate.  The original psycopg exception is the ``__cause__``.
"""
from __future__ import annotations

from typing import Optional

import psycopg


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
