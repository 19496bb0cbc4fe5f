"""Google ADK session service backed by session_store.

    from session_store.adk import SessionStoreService
    session_service = SessionStoreService("postgresql://localhost/mydb")

A drop-in for ``DatabaseSessionService(db_url)``: every method is one SQL
call (list_sessions one per page of 1000 sessions, each listed with its
merged state), ordering, state routing and concurrency are the server's.

* Stale copies: a Session object remembers the ``version`` it was read or
  last written at, in ADK's own private attribute
  ``Session._storage_update_marker`` (a string, which is what ADK declares it
  as; DatabaseSessionService keeps its own revision marker there).  It travels
  with the object, survives ``model_copy`` and compares equal between two
  reads of the same revision.  ``append_event`` sends it as
  ``expected_version``; a conflict becomes ADK's ``StaleSessionError``.
  A Session without one (built by hand, or read by another service) is
  checked as ADK checks it: it is current when its last event is the
  stored last event; that costs one read before the append.
* ``last_update_time`` is ADK's: the last event's timestamp, the session's
  create time while it has no events (create, get, append and list agree).
* Retries: the event id is the idempotency key, with ``verify_replay``: the
  same event appended twice is stored once; another event reusing an id
  fails with ``IdempotencyConflict``.  A dropped connection is retried by
  the store (RetryPolicy): append_event with its event id, create_session
  with a session id and key made before the first attempt (a retry returns
  the session made, not AlreadyExistsError), delete_session as it is.
* The event's own timestamp is the stored message time (``message_time``),
  so ``GetSessionConfig.after_timestamp`` is served by the server.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Optional

from google.adk.errors._stale_session_error import StaleSessionError
from google.adk.errors.already_exists_error import AlreadyExistsError
from google.adk.errors.session_not_found_error import SessionNotFoundError
from google.adk.events.event import Event
from google.adk.sessions.base_session_service import (BaseSessionService,
                                                      GetSessionConfig,
                                                      ListSessionsResponse)
from google.adk.sessions.session import Session
from pydantic import ValidationError
from pydantic_core import to_jsonable_python

from ._async_source import async_store
from ._errors import SessionExists, SessionNotFound, VersionConflict
from ._sql import RawJson

try:  # ADK's own coercion of state values to JSON (with a logged fallback)
    from google.adk.sessions._session_util import make_json_safe_state as _json_safe
except ImportError:  # pragma: no cover - older ADK
    def _json_safe(state: dict) -> dict:
        return to_jsonable_python(state)

# ADK's wording, so callers matching on it keep working.
STALE_SESSION_MESSAGE = (
    "The session has been modified in storage since it was loaded. "
    "Please reload the session before appending more events.")


_LIST_PAGE = 1000


def _to_time(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=timezone.utc)


_FOREIGN = object()  # a stored message that is not an ADK Event


def _event_id(message: str) -> Any:
    """The id of the stored event (raw JSON), or _FOREIGN when the message
    is not an ADK Event (another client's, under the same ids): no copy of
    an ADK session ends with it, so a copy checked against it is stale."""
    try:
        return Event.model_validate_json(message).id
    except ValidationError:
        return _FOREIGN


def _marker(session: Session) -> Optional[int]:
    marker = session._storage_update_marker
    if marker is None:
        return None
    try:
        return int(marker)
    except ValueError:  # a marker another service wrote
        return None


def _set_marker(session: Session, version: int) -> None:
    session._storage_update_marker = str(version)


class SessionStoreService(BaseSessionService):
    """A BaseSessionService on the session_store extension.

    ``source``: a ``postgresql://`` URL or libpq DSN (SQLAlchemy-style
    ``postgresql+asyncpg://`` / ``postgresql+psycopg://`` accepted, the
    driver part is dropped), an AsyncSessionStore or SessionStore, a
    psycopg_pool pool or a psycopg connection.  ``install=True``: the first
    call installs the portable edition when the database holds no edition
    yet (never over the C extension).  From a URL the service works from
    any event loop of any thread and closes from any of them, or from none
    (``close_sync``): see AsyncSessionStore.
    """

    def __init__(self, db_url: Any = None, *, install: bool = False, **kwargs: Any):
        source = db_url if db_url is not None else kwargs.pop("store", None)
        if source is None:
            raise ValueError("SessionStoreService needs a database URL, a pool "
                             "or a SessionStore")
        if kwargs:
            raise TypeError(f"unexpected arguments: {', '.join(kwargs)}")
        self._store, self._owned = async_store(source, install)

    @property
    def store(self):
        """The AsyncSessionStore (or wrapper) the service calls."""
        return self._store

    async def close(self) -> None:
        """Close the pool the service made for itself (from a URL), from any
        event loop; a pool or store passed in is the caller's to close."""
        if self._owned:
            await self._store.close()

    def close_sync(self) -> None:
        """close, from a thread with no event loop running."""
        if self._owned:
            self._store.close_sync()

    async def __aenter__(self) -> "SessionStoreService":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def create_session(self, *, app_name: str, user_id: str,
                             state: Optional[dict[str, Any]] = None,
                             session_id: Optional[str] = None) -> Session:
        try:
            row = await self._store.create_session(
                app_name=app_name, user_id=user_id,
                state=_json_safe(state) if state else None,
                session_id=session_id, keep_nulls=True)
        except SessionExists as e:
            raise AlreadyExistsError(
                f"Session with id {session_id} already exists.") from e
        session = Session(id=row.session_id, app_name=row.app_name,
                          user_id=row.user_id, state=row.state, events=[],
                          last_update_time=row.create_time.timestamp())
        _set_marker(session, row.version)
        return session

    async def get_session(self, *, app_name: str, user_id: str,
                          session_id: str,
                          config: Optional[GetSessionConfig] = None
                          ) -> Optional[Session]:
        max_count = after_time = None
        if config is not None:
            max_count = config.num_recent_events
            if config.after_timestamp:  # 0: no bound, as ADK
                after_time = _to_time(config.after_timestamp)
        got = await self._store.get_session_with_messages(
            app_name=app_name, user_id=user_id, session_id=session_id,
            max_count=max_count, after_time=after_time, raw_json=True)
        if got is None:
            return None
        row = got.session
        events = [Event.model_validate_json(m.message) for m in got.messages]
        # ADK's definition: the last event's timestamp (whatever the
        # window), the create time while the session has none.
        last = got.latest_message_time or row.create_time
        session = Session(id=row.session_id, app_name=row.app_name,
                          user_id=row.user_id, state=row.state, events=events,
                          last_update_time=last.timestamp())
        _set_marker(session, row.version)
        return session

    async def list_sessions(self, *, app_name: str,
                            user_id: Optional[str] = None
                            ) -> ListSessionsResponse:
        """Every session of the app (or of one user), oldest first as ADK's
        BaseSessionService documents, by the server's update time; each
        with its state merged as get_session merges it, no events.  One SQL
        call per page of _LIST_PAGE sessions."""
        sessions, token = [], None
        while True:
            page = await self._store.list_sessions_with_state(
                app_name=app_name, user_id=user_id, page_size=_LIST_PAGE,
                page_token=token, ascending=True, latest_message_time=True)
            for r in page:
                last = r.latest_message_time or r.create_time  # as get_session
                s = Session(id=r.session_id, app_name=app_name,
                            user_id=r.user_id, state=r.state, events=[],
                            last_update_time=last.timestamp())
                _set_marker(s, r.version)
                sessions.append(s)
            if len(page) < _LIST_PAGE:
                return ListSessionsResponse(sessions=sessions)
            token = page[-1].next_page_token

    async def delete_session(self, *, app_name: str, user_id: str,
                             session_id: str) -> None:
        await self._store.delete_session(app_name=app_name, user_id=user_id,
                                         session_id=session_id)

    async def get_user_state(self, *, app_name: str,
                             user_id: str) -> dict[str, Any]:
        return dict(await self._store.get_user_state(app_name=app_name,
                                                     user_id=user_id))

    async def _markerless_version(self, session: Session,
                                  event: Event) -> Optional[int]:
        """The version to expect for a copy this service did not read (no
        marker, or another service's): as ADK's fallback, the copy is
        current when its last event is the stored last event (or both have
        none).  One read; the append then expects the version read, so a
        write in between is still caught.  None (no check) when the stored
        last event is this very event: a retry, which the event id's
        idempotency key answers."""
        got = await self._store.get_session_with_messages(
            app_name=session.app_name, user_id=session.user_id,
            session_id=session.id, max_count=1, raw_json=True)
        if got is None:
            raise SessionNotFoundError(f"Session {session.id} not found.")
        stored = _event_id(got.messages[-1].message) if got.messages else None
        if stored is _FOREIGN:  # not an event of this copy's: it is stale
            raise StaleSessionError(STALE_SESSION_MESSAGE)
        if event.id and stored == event.id:
            return None
        mine = session.events[-1].id if session.events else None
        if stored != mine:
            raise StaleSessionError(STALE_SESSION_MESSAGE)
        return got.session.version

    async def append_event(self, session: Session, event: Event) -> Event:
        if event.partial:
            return event
        # As BaseSessionService: temp: keys reach the in-memory session for
        # this invocation, never the store.
        self._apply_temp_state(session, event)
        event = self._trim_temp_delta_state(event)
        delta = event.actions.state_delta if event.actions else None
        message_time = _to_time(event.timestamp)
        expected = _marker(session)
        if expected is None:
            expected = await self._markerless_version(session, event)
        try:
            result = await self._store.append_messages(
                app_name=session.app_name, user_id=session.user_id,
                session_id=session.id,
                messages=RawJson("[" + event.model_dump_json(exclude_none=True) + "]"),
                state_delta=_json_safe(delta) if delta else None,
                expected_version=expected, idempotency_key=event.id or None,
                keep_nulls=True, message_time=message_time,
                verify_replay=True if event.id else None)
        except VersionConflict as e:
            raise StaleSessionError(STALE_SESSION_MESSAGE) from e
        except SessionNotFound as e:
            raise SessionNotFoundError(f"Session {session.id} not found.") from e
        session.last_update_time = message_time.timestamp()
        if result.replayed:
            _set_marker(session, max(result.version, expected or 0))
            if any(e.id == event.id for e in session.events):
                return event  # already in this copy: a retry of a success
        else:
            _set_marker(session, result.version)
        return self._commit_event_to_session(session, event)

