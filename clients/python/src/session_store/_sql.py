"""The SQL each method sends, and how its rows become result values.

Every call is one statement in named notation (``arg => value``) with an
explicit cast per argument, so the server resolves the one function of that
name whatever Python type a value has.  Optional arguments left as None are
not sent at all: the server applies its own default, and a call that uses no
1.1 argument runs unchanged on a 1.0 server.
"""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Iterable, Optional

from psycopg.types.json import Jsonb

from ._types import (AppendResult, Message, ReplaceResult, Session,
                     SessionSummary, SessionSummaryWithState,
                     SessionWithMessages)

ARG_TYPES = {
    "app_name": "text", "user_id": "text", "session_id": "text",
    "state": "jsonb", "keep_nulls": "boolean", "messages": "jsonb",
    "state_delta": "jsonb", "expected_version": "bigint",
    "idempotency_key": "text", "message_time": "timestamptz",
    "verify_replay": "boolean", "max_count": "integer", "after_seq": "bigint",
    "before_seq": "bigint", "after_time": "timestamptz", "page_size": "integer",
    "page_token": "text", "to_seq": "bigint", "new_session_id": "text",
    "up_to_seq": "bigint", "idle_for": "interval", "max_sessions": "integer",
    "expected_suffix": "jsonb", "replacement": "jsonb", "ascending": "boolean",
}

SESSION_COLS = ("app_name, user_id, session_id, state, version, last_seq, "
                "create_time, update_time")
SUMMARY_COLS = ("user_id, session_id, version, last_seq, create_time, "
                "update_time, next_page_token")
SUMMARY_STATE_COLS = SUMMARY_COLS + ", state"
MESSAGE_COLS = "seq, message, create_time"
APPEND_COLS = "first_seq, last_seq, version, update_time, replayed"
REPLACE_COLS = APPEND_COLS + ", removed"


class RawJson:
    """JSON text already serialized by the caller, sent to a jsonb argument
    as it is (no second serialization).  The server still parses and
    validates it."""
    __slots__ = ("text",)

    def __init__(self, text: str):
        if not isinstance(text, str):
            raise TypeError("RawJson takes a str")
        self.text = text


def _identity(text: str) -> str:
    return text


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def adapt(name: str, value: Any) -> Any:
    """The value to bind for argument name."""
    if ARG_TYPES[name] == "jsonb" and value is not None:
        if isinstance(value, RawJson):
            return Jsonb(value.text, dumps=_identity)
        return Jsonb(value, dumps=_compact)
    return value


_cache: dict[tuple, str] = {}


def _args(names: Iterable[str]) -> str:
    return ", ".join(f"{n} => %({n})s::{ARG_TYPES[n]}" for n in names)


def call_sql(function: str, cols: Optional[str], names: Iterable[str]) -> str:
    """SELECT cols FROM session_store.function(name => %(name)s::type, ...)."""
    names = tuple(names)
    key = (function, cols, names)
    sql = _cache.get(key)
    if sql is None:
        args = _args(names)
        target = cols if cols is not None else "*"
        sql = f"SELECT {target} FROM session_store.{function}({args})"
        _cache[key] = sql
    return sql


def build(function: str, cols: Optional[str], required: dict[str, Any],
          optional: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The statement and its parameters: required arguments always (a None
    there is the server's 22004 to report), optional ones only when set."""
    params = {n: adapt(n, v) for n, v in required.items()}
    for n, v in optional.items():
        if v is not None:
            params[n] = adapt(n, v)
    return call_sql(function, cols, params.keys()), params


def session_sql(max_count: Optional[int], after_seq: Optional[int],
                before_seq: Optional[int], after_time: Optional[datetime],
                raw: bool) -> tuple[str, dict[str, Any]]:
    """One statement reading a session and a window of its messages in one
    snapshot, plus the time of its newest message."""
    window = {"max_count": max_count, "after_seq": after_seq,
              "before_seq": before_seq, "after_time": after_time}
    window = {k: v for k, v in window.items() if v is not None}
    margs = "".join(f", {n} => %({n})s::{ARG_TYPES[n]}" for n in window)
    msg = "m.message::text" if raw else "m.message"
    ident = ("app_name => %(app_name)s::text, user_id => %(user_id)s::text, "
             "session_id => %(session_id)s::text")
    if max_count == 0:
        lateral = "SELECT NULL::bigint[] AS seqs, NULL AS msgs, NULL::timestamptz[] AS times"
    else:
        lateral = (
            f"SELECT array_agg(m.seq ORDER BY m.seq) AS seqs, "
            f"array_agg({msg} ORDER BY m.seq) AS msgs, "
            f"array_agg(m.create_time ORDER BY m.seq) AS times "
            f"FROM session_store.get_messages({ident}{margs}) AS m")
    sql = (
        f"SELECT s.app_name, s.user_id, s.session_id, s.state, s.version, "
        f"s.last_seq, s.create_time, s.update_time, w.seqs, w.msgs, w.times, "
        f"(SELECT l.create_time FROM session_store.get_messages("
        f"{ident}, max_count => 1) AS l) AS latest "
        f"FROM session_store.get_session({ident}) AS s "
        f"CROSS JOIN LATERAL ({lateral}) AS w")
    return sql, window


def listing_latest_sql(names: Iterable[str]) -> str:
    """list_sessions_with_state's page, in its order, each row followed by
    the create_time of the session's newest message (NULL without one): one
    index probe per listed row, so still O(page), and one statement, so the
    page and the probes read one snapshot."""
    names = tuple(names)
    key = ("listing_latest", names)
    sql = _cache.get(key)
    if sql is None:
        cols = ", ".join(f"l.{c.strip()}" for c in SUMMARY_STATE_COLS.split(","))
        sql = (
            f"SELECT {cols}, CASE WHEN l.last_seq > 0 THEN ("
            f"SELECT m.create_time FROM session_store.get_messages("
            f"app_name => %(app_name)s::text, user_id => l.user_id, "
            f"session_id => l.session_id, max_count => 1) AS m) END "
            f"FROM session_store.list_sessions_with_state({_args(names)}) "
            f"WITH ORDINALITY AS l ORDER BY l.ordinality")
        _cache[key] = sql
    return sql


def to_session(row) -> Session:
    return Session(row[0], row[1], row[2], row[3] if row[3] is not None else {},
                   row[4], row[5], row[6], row[7])


def to_summary(row) -> SessionSummary:
    return SessionSummary(*row)


def to_summary_with_state(row) -> SessionSummaryWithState:
    return SessionSummaryWithState(*row)


def to_message(row) -> Message:
    return Message(row[0], row[1], row[2])


def to_append(row) -> AppendResult:
    return AppendResult(*row)


def to_replace(row) -> ReplaceResult:
    return ReplaceResult(*row)


def to_session_with_messages(row) -> SessionWithMessages:
    seqs, msgs, times = row[8] or [], row[9] or [], row[10] or []
    return SessionWithMessages(
        to_session(row),
        [Message(s, m, t) for s, m, t in zip(seqs, msgs, times)],
        row[11])

