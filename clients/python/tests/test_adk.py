"""SessionStoreService's own guarantees beyond ADK's contract (retries from
an older copy, staleness by version, paging, what it is built from), with
the real google-adk package.  ADK's contract itself, point by point:
test_adk_conformance.py."""
import asyncio

import psycopg_pool
import pytest
from google.adk.errors._stale_session_error import StaleSessionError
from google.adk.errors.session_not_found_error import SessionNotFoundError
from google.adk.events.event import Event
from google.adk.events.event_actions import EventActions
from google.adk.sessions import BaseSessionService, Session
from google.genai import types

import session_store as ss
from session_store.adk import SessionStoreService


@pytest.fixture
async def svc(db_url):
    async with SessionStoreService(db_url) as service:
        yield service


def test_is_a_complete_base_session_service(db_url):
    assert issubclass(SessionStoreService, BaseSessionService)
    assert not SessionStoreService.__abstractmethods__
    assert SessionStoreService.get_user_state is not BaseSessionService.get_user_state


async def test_list_sessions_more_than_a_page(svc, app):
    for i in range(1205):
        await svc.store.create_session(app_name=app, user_id="u", session_id=f"s{i:04d}")
    listed = (await svc.list_sessions(app_name=app, user_id="u")).sessions
    assert [s.id for s in listed] == [f"s{i:04d}" for i in range(1205)]


async def test_temp_state_is_not_persisted(svc, app, sql):
    s = await svc.create_session(app_name=app, user_id="u", session_id="s",
                                 state={"temp:c": 1})
    assert "temp:c" not in s.state
    event = Event(invocation_id="inv1", author="user",
                  actions=EventActions(state_delta={"temp:k1": "v1", "sk": "v2"}))
    await svc.append_event(s, event)
    assert s.state.get("temp:k1") == "v1" and s.state.get("sk") == "v2"
    assert "temp:k1" not in event.actions.state_delta
    got = await svc.get_session(app_name=app, user_id="u", session_id="s")
    assert got.state == {"sk": "v2"}
    assert "temp:k1" not in got.events[0].actions.state_delta
    assert got.events[0].actions.state_delta == {"sk": "v2"}
    stored = sql.execute("SELECT message FROM session_store.get_messages(%s, 'u', 's')",
                         (app,)).fetchone()[0]
    assert "temp:k1" not in str(stored)


async def test_append_event_complete_round_trips_exactly(svc, app):
    s = await svc.create_session(app_name=app, user_id="u")
    event = Event(
        invocation_id="invocation", author="user",
        content=types.Content(role="user", parts=[types.Part(text="test_text")]),
        turn_complete=True, partial=False,
        actions=EventActions(artifact_delta={"file": 0}, transfer_to_agent="agent",
                             escalate=True, state_delta={"k": [1, {"x": None}]}),
        long_running_tool_ids={"tool1"}, error_code="error_code",
        error_message="error_message", interrupted=True,
        grounding_metadata=types.GroundingMetadata(web_search_queries=["query1"]),
        usage_metadata=types.GenerateContentResponseUsageMetadata(
            prompt_token_count=1, candidates_token_count=1, total_token_count=2),
        citation_metadata=types.CitationMetadata(),
        custom_metadata={"custom_key": "custom_value", "ünï": "çødé"},
        timestamp=1700000000.123,
        input_transcription=types.Transcription(text="in", finished=True),
        output_transcription=types.Transcription(text="out", finished=True),
    )
    await svc.append_event(s, event)
    got = await svc.get_session(app_name=app, user_id="u", session_id=s.id)
    assert got == s
    assert got.events[0] == event


async def test_stale_is_detected_by_version_not_time(svc, app):
    """A copy whose timestamps look current is still stale when the version
    moved on (and a copy whose clock drifted is not stale)."""
    s = await svc.create_session(app_name=app, user_id="u")
    copy_ = s.model_copy(deep=True)
    await svc.append_event(s, Event(author="user", timestamp=s.last_update_time - 100))
    copy_.last_update_time += 1000
    with pytest.raises(StaleSessionError):
        await svc.append_event(copy_, Event(author="user"))
    s.last_update_time -= 0.0001
    await svc.append_event(s, Event(author="user"))


async def test_retried_append_of_one_event_is_stored_once(svc, app, sql):
    s = await svc.create_session(app_name=app, user_id="u")
    before = s.model_copy(deep=True)  # as if the first reply had been lost
    event = Event(invocation_id="inv", author="user",
                  actions=EventActions(state_delta={"n": 1}))
    await svc.append_event(s, event)
    await svc.append_event(s, event)  # same object: retried after success
    assert len(s.events) == 1
    await svc.append_event(before, event)  # retried from the older copy
    assert [e.id for e in before.events] == [event.id]
    rows = sql.execute("SELECT count(*) FROM session_store.get_messages(%s, 'u', %s)",
                       (app, s.id)).fetchone()[0]
    assert rows == 1
    got = await svc.get_session(app_name=app, user_id="u", session_id=s.id)
    assert got.events == [event] and got.state == {"n": 1}
    # and the copies go on: both know version 1
    await svc.append_event(before, Event(author="user"))
    with pytest.raises(StaleSessionError):
        await svc.append_event(s, Event(author="user"))


async def test_append_to_unknown_session(svc, app):
    ghost = Session(id="ghost", app_name=app, user_id="u")
    with pytest.raises(SessionNotFoundError):
        await svc.append_event(ghost, Event(author="user"))


async def test_markerless_session_appends(svc, app):
    s = await svc.create_session(app_name=app, user_id="u", session_id="m")
    hand_made = Session(id="m", app_name=app, user_id="u")
    await svc.append_event(hand_made, Event(author="user"))
    assert hand_made._storage_update_marker == "1"
    got = await svc.get_session(app_name=app, user_id="u", session_id="m")
    assert len(got.events) == 1
    del s


async def test_markerless_copy_is_stale_when_the_stored_last_message_is_foreign(svc, app):
    """A copy without a version marker is checked against the stored last
    event; when that message is not an ADK Event (another client wrote it
    under the same ids) the copy is stale: StaleSessionError, as for any
    other copy that does not end where the stored session ends."""
    await svc.create_session(app_name=app, user_id="u", session_id="f")
    await svc.store.append_messages(app_name=app, user_id="u", session_id="f",
                                    messages=[{"role": "user", "content": "hi"}])
    hand_made = Session(id="f", app_name=app, user_id="u")
    with pytest.raises(StaleSessionError):
        await svc.append_event(hand_made, Event(author="user"))


@pytest.mark.parametrize("kind", ["sqlalchemy-url", "dsn", "async-pool", "sync-store", "async-store"])
async def test_constructed_from(kind, db_url, app):
    closers = []
    if kind == "sqlalchemy-url":
        source = db_url.replace("postgresql://", "postgresql+asyncpg://")
    elif kind == "dsn":
        from psycopg.conninfo import conninfo_to_dict, make_conninfo
        source = make_conninfo(**conninfo_to_dict(db_url))
    elif kind == "async-pool":
        source = psycopg_pool.AsyncConnectionPool(db_url, min_size=1, max_size=2, open=False)
        await source.open()
        closers.append(source.close)
    elif kind == "sync-store":
        source = ss.SessionStore(db_url)
        closers.append(lambda: asyncio.to_thread(source.close))
    else:
        source = ss.AsyncSessionStore(db_url)
        closers.append(source.close)
    svc = SessionStoreService(source)
    try:
        s = await svc.create_session(app_name=app, user_id="u", state={"user:x": 1})
        await svc.append_event(s, Event(author="user"))
        got = await svc.get_session(app_name=app, user_id="u", session_id=s.id)
        assert got == s
        assert [x.id for x in (await svc.list_sessions(app_name=app)).sessions] == [s.id]
        assert await svc.get_user_state(app_name=app, user_id="u") == {"x": 1}
    finally:
        await svc.close()
        for c in closers:
            await c()


def test_constructor_rejects_other_things():
    with pytest.raises(TypeError):
        SessionStoreService(42)
    with pytest.raises(ValueError):
        SessionStoreService()


async def test_last_update_time_without_events_is_the_create_time(svc, app):
    """Not the row's update time, which moves with state written without an
    event (here by the low-level client)."""
    s = await svc.create_session(app_name=app, user_id="u", session_id="s")
    await svc.store.append_messages(app_name=app, user_id="u", session_id="s",
                                    messages=[], state_delta={"k": 1})
    row = await svc.store.get_session(app_name=app, user_id="u", session_id="s")
    assert row.update_time > row.create_time
    got = await svc.get_session(app_name=app, user_id="u", session_id="s")
    assert got.last_update_time == s.last_update_time == row.create_time.timestamp()
    listed = (await svc.list_sessions(app_name=app)).sessions
    assert listed[0].last_update_time == row.create_time.timestamp()
