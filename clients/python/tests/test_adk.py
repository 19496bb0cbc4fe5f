"""SessionStoreService against ADK's session contract (the points of
google/adk-python tests/unittests/sessions, written for this service), with
the real google-adk package."""
import asyncio
import copy
from datetime import datetime, timezone

import psycopg_pool
import pytest
from google.adk.errors._stale_session_error import StaleSessionError
from google.adk.errors.already_exists_error import AlreadyExistsError
from google.adk.errors.session_not_found_error import SessionNotFoundError
from google.adk.events.event import Event
from google.adk.events.event_actions import EventActions
from google.adk.sessions import BaseSessionService, Session
from google.adk.sessions.base_session_service import GetSessionConfig
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


async def test_get_empty_session(svc, app):
    assert await svc.get_session(app_name=app, user_id="u", session_id="123") is None


async def test_create_get_delete(svc, app):
    session = await svc.create_session(app_name=app, user_id="u",
                                       state={"key": "value"})
    assert session.app_name == app and session.user_id == "u" and session.id
    assert session.state == {"key": "value"}
    assert session.last_update_time <= datetime.now(timezone.utc).timestamp()
    got = await svc.get_session(app_name=app, user_id="u", session_id=session.id)
    assert got == session
    await svc.delete_session(app_name=app, user_id="u", session_id=session.id)
    assert await svc.get_session(app_name=app, user_id="u", session_id=session.id) is None
    # deleting what does not exist is not an error (as ADK's services)
    await svc.delete_session(app_name=app, user_id="u", session_id=session.id)


async def test_create_and_list_sessions(svc, app):
    ids = [f"session{i}" for i in range(5)]
    for sid in ids:
        await svc.create_session(app_name=app, user_id="u", session_id=sid,
                                 state={"key": "value" + sid})
    sessions = (await svc.list_sessions(app_name=app, user_id="u")).sessions
    assert [s.id for s in sessions] == ids  # oldest first
    for s in sessions:
        assert s.events == []
        assert s.state == {}  # divergence: listed rows carry no state (README)
        assert s.app_name == app and s.user_id == "u"


async def test_list_sessions_all_users_and_order(svc, app):
    await svc.create_session(app_name=app, user_id="u1", session_id="s1a")
    s1b = await svc.create_session(app_name=app, user_id="u1", session_id="s1b")
    await svc.create_session(app_name=app, user_id="u2", session_id="s2a")
    assert {s.id for s in (await svc.list_sessions(app_name=app, user_id="u1")).sessions} == {"s1a", "s1b"}
    assert [s.id for s in (await svc.list_sessions(app_name=app, user_id="u2")).sessions] == ["s2a"]
    await svc.append_event(s1b, Event(author="user"))
    everyone = (await svc.list_sessions(app_name=app)).sessions
    assert [(s.user_id, s.id) for s in everyone] == [("u1", "s1a"), ("u2", "s2a"), ("u1", "s1b")]
    times = [s.last_update_time for s in everyone]
    assert times == sorted(times)
    assert (await svc.list_sessions(app_name=app + "x")).sessions == []


async def test_list_sessions_more_than_a_page(svc, app):
    for i in range(1205):
        await svc.store.create_session(app_name=app, user_id="u", session_id=f"s{i:04d}")
    listed = (await svc.list_sessions(app_name=app, user_id="u")).sessions
    assert [s.id for s in listed] == [f"s{i:04d}" for i in range(1205)]


async def test_app_state_is_shared_by_all_users_of_app(svc, app):
    s1 = await svc.create_session(app_name=app, user_id="u1", session_id="s1",
                                  state={"app:k1": "v1"})
    await svc.append_event(s1, Event(invocation_id="inv1", author="user",
                                     actions=EventActions(state_delta={"app:k2": "v2"})))
    s2 = await svc.create_session(app_name=app, user_id="u2", session_id="s2")
    assert s2.state == {"app:k1": "v1", "app:k2": "v2"}
    got = await svc.get_session(app_name=app, user_id="u1", session_id="s1")
    assert got.state["app:k1"] == "v1" and got.state["app:k2"] == "v2"


async def test_user_state_is_shared_only_by_user_sessions(svc, app):
    s1 = await svc.create_session(app_name=app, user_id="u1", session_id="s1",
                                  state={"user:k1": "v1"})
    await svc.append_event(s1, Event(invocation_id="inv1", author="user",
                                     actions=EventActions(state_delta={"user:k2": "v2"})))
    s1b = await svc.create_session(app_name=app, user_id="u1", session_id="s1b")
    assert s1b.state == {"user:k1": "v1", "user:k2": "v2"}
    s2 = await svc.create_session(app_name=app, user_id="u2", session_id="s2")
    assert s2.state == {}


async def test_session_state_is_not_shared(svc, app):
    s1 = await svc.create_session(app_name=app, user_id="u1", session_id="s1",
                                  state={"sk1": "v1"})
    await svc.append_event(s1, Event(invocation_id="inv1", author="user",
                                     actions=EventActions(state_delta={"sk2": "v2"})))
    got = await svc.get_session(app_name=app, user_id="u1", session_id="s1")
    assert got.state == {"sk1": "v1", "sk2": "v2"}
    s1b = await svc.create_session(app_name=app, user_id="u1", session_id="s1b")
    assert s1b.state == {}


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


async def test_temp_state_visible_across_sequential_events(svc, app):
    s = await svc.create_session(app_name=app, user_id="u", session_id="s")
    e1 = Event(invocation_id="inv1", author="agent1",
               actions=EventActions(state_delta={"temp:output": "from_a1"}))
    await svc.append_event(s, e1)
    assert s.state.get("temp:output") == "from_a1"
    assert "temp:output" not in e1.actions.state_delta
    await svc.append_event(s, Event(invocation_id="inv1", author="agent2"))


async def test_get_session_respects_user_id(svc, app):
    s1 = await svc.create_session(app_name=app, user_id="u1", session_id="s1")
    await svc.append_event(s1, Event(invocation_id="inv1", author="user"))
    await svc.create_session(app_name=app, user_id="u2", session_id="s1")
    got = await svc.get_session(app_name=app, user_id="u2", session_id="s1")
    assert got.user_id == "u2" and got.events == []


async def test_create_session_with_existing_id_raises(svc, app):
    await svc.create_session(app_name=app, user_id="u", session_id="dup")
    with pytest.raises(AlreadyExistsError):
        await svc.create_session(app_name=app, user_id="u", session_id="dup")


async def test_concurrent_creates_of_one_id(db_url, app):
    async with SessionStoreService(ss.AsyncSessionStore(db_url, max_size=16)) as svc:
        results = await asyncio.gather(
            *[svc.create_session(app_name=app, user_id="u", session_id="same",
                                 state={"n": i}) for i in range(16)],
            return_exceptions=True)
        await svc.store.close()
    ok = [r for r in results if isinstance(r, Session)]
    errors = [r for r in results if not isinstance(r, Session)]
    assert len(ok) == 1
    assert len(errors) == 15 and all(isinstance(e, AlreadyExistsError) for e in errors)


async def test_append_event_bytes(svc, app):
    s = await svc.create_session(app_name=app, user_id="u")
    content = types.Content(role="user", parts=[
        types.Part.from_bytes(data=b"\x00\xfftest_image_data", mime_type="image/png")])
    grounding = types.GroundingMetadata(
        search_entry_point=types.SearchEntryPoint(sdk_blob=b"test_sdk_blob"))
    await svc.append_event(s, Event(invocation_id="inv", author="user",
                                    content=content, grounding_metadata=grounding))
    assert s.events[0].content == content
    got = await svc.get_session(app_name=app, user_id="u", session_id=s.id)
    assert len(got.events) == 1
    assert got.events[0].content == content
    assert got.events[0].grounding_metadata == grounding


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


async def test_last_update_time_follows_the_event(svc, app):
    s = await svc.create_session(app_name=app, user_id="u")
    original = s.last_update_time
    ts = original + 10
    await svc.append_event(s, Event(invocation_id="i", author="user", timestamp=ts))
    assert s.last_update_time == pytest.approx(ts, abs=1e-6)
    got = await svc.get_session(app_name=app, user_id="u", session_id=s.id)
    assert got.last_update_time == pytest.approx(ts, abs=1e-6)
    assert got.last_update_time > original


async def test_append_to_stale_session_is_rejected(svc, app):
    now = datetime.now(timezone.utc).timestamp()
    original = await svc.create_session(app_name=app, user_id="u")
    await svc.append_event(original, Event(invocation_id="inv1", author="user",
                                           timestamp=now + 1,
                                           actions=EventActions(state_delta={"sk1": "v1"})))
    updated = await svc.get_session(app_name=app, user_id="u", session_id=original.id)
    await svc.append_event(updated, Event(invocation_id="inv2", author="user",
                                          timestamp=now + 2,
                                          actions=EventActions(state_delta={"sk2": "v2"})))
    assert len(original.events) == 1 and "sk2" not in original.state
    with pytest.raises(StaleSessionError, match="modified in storage") as e:
        await svc.append_event(original, Event(invocation_id="inv3", author="user",
                                               timestamp=now + 3,
                                               actions=EventActions(state_delta={"sk3": "v3"})))
    assert isinstance(e.value, ValueError)
    assert isinstance(e.value.__cause__, ss.VersionConflict)
    final = await svc.get_session(app_name=app, user_id="u", session_id=original.id)
    assert [x.invocation_id for x in final.events] == ["inv1", "inv2"]
    assert final.state == {"sk1": "v1", "sk2": "v2"}


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


async def test_concurrent_stale_copies_exactly_one_wins(svc, app):
    s = await svc.create_session(app_name=app, user_id="u")
    for i in range(8):
        latest = await svc.get_session(app_name=app, user_id="u", session_id=s.id)
        c1, c2 = latest.model_copy(deep=True), copy.deepcopy(latest)
        base = latest.last_update_time + 10.0
        results = await asyncio.gather(
            svc.append_event(c1, Event(invocation_id=f"inv{i}-1", author="user",
                                       timestamp=base + 1,
                                       actions=EventActions(state_delta={f"sk{i}-1": 1}))),
            svc.append_event(c2, Event(invocation_id=f"inv{i}-2", author="user",
                                       timestamp=base + 2,
                                       actions=EventActions(state_delta={f"sk{i}-2": 2}))),
            return_exceptions=True)
        errors = [r for r in results if isinstance(r, Exception)]
        assert len(errors) == 1 and isinstance(errors[0], StaleSessionError)
    final = await svc.get_session(app_name=app, user_id="u", session_id=s.id)
    assert len(final.events) == 8
    for i in range(8):
        assert (f"sk{i}-1" in final.state) != (f"sk{i}-2" in final.state)


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


async def test_reused_event_id_with_other_content_fails(svc, app):
    s = await svc.create_session(app_name=app, user_id="u")
    e1 = Event(id="fixed-id", author="user", timestamp=1.0)
    await svc.append_event(s, e1)
    with pytest.raises(ss.IdempotencyConflict):
        await svc.append_event(s, Event(id="fixed-id", author="model", timestamp=2.0))
    got = await svc.get_session(app_name=app, user_id="u", session_id=s.id)
    assert got.events == [e1]


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


async def test_get_session_with_config(svc, app):
    s = await svc.create_session(app_name=app, user_id="u")
    for i in range(1, 6):
        await svc.append_event(s, Event(author="user", timestamp=i))

    async def events(**cfg):
        got = await svc.get_session(app_name=app, user_id="u", session_id=s.id,
                                    config=GetSessionConfig(**cfg) if cfg else None)
        return [e.timestamp for e in got.events]
    assert await events() == [1, 2, 3, 4, 5]
    assert await events(num_recent_events=0) == []
    assert await events(num_recent_events=3) == [3, 4, 5]
    assert await events(after_timestamp=4.0) == [4, 5]  # inclusive
    assert await events(after_timestamp=50.0) == []
    assert await events(after_timestamp=4.0, num_recent_events=3) == [4, 5]
    assert await events(after_timestamp=2.0, num_recent_events=2) == [4, 5]
    with pytest.raises(ValueError):
        GetSessionConfig(num_recent_events=-1)


async def test_tied_timestamps_keep_append_order(svc, app):
    s = await svc.create_session(app_name=app, user_id="u")
    for i in range(6):
        await svc.append_event(s, Event(invocation_id=str(i), author="user", timestamp=7.0))
    got = await svc.get_session(app_name=app, user_id="u", session_id=s.id)
    assert [e.invocation_id for e in got.events] == [str(i) for i in range(6)]
    two = await svc.get_session(app_name=app, user_id="u", session_id=s.id,
                                config=GetSessionConfig(num_recent_events=2,
                                                        after_timestamp=7.0))
    assert [e.invocation_id for e in two.events] == ["4", "5"]


async def test_partial_events_are_not_persisted(svc, app):
    s = await svc.create_session(app_name=app, user_id="u")
    await svc.append_event(s, Event(author="user", partial=True))
    assert s.events == []
    got = await svc.get_session(app_name=app, user_id="u", session_id=s.id)
    assert got.events == [] and got._storage_update_marker == "0"


async def test_none_state_values_are_stored(svc, app, sql):
    s = await svc.create_session(app_name=app, user_id="u", session_id="n",
                                 state={"a": None, "user:b": None, "app:c": None})
    assert s.state == {"a": None, "user:b": None, "app:c": None}
    await svc.append_event(s, Event(author="user", actions=EventActions(
        state_delta={"d": None, "a": 1})))
    got = await svc.get_session(app_name=app, user_id="u", session_id="n")
    assert got.state == {"a": 1, "d": None, "user:b": None, "app:c": None}
    assert got.state == s.state
    await svc.append_event(got, Event(author="user", actions=EventActions(
        state_delta={"a": None})))
    again = await svc.get_session(app_name=app, user_id="u", session_id="n")
    assert "a" in again.state and again.state["a"] is None


async def test_get_user_state(svc, app):
    assert await svc.get_user_state(app_name=app, user_id="u1") == {}
    s = await svc.create_session(app_name=app, user_id="u1")
    await svc.append_event(s, Event(author="system", actions=EventActions(
        state_delta={"user:profile": {"name": "Alice"}, "session_key": 1})))
    assert await svc.get_user_state(app_name=app, user_id="u1") == {"profile": {"name": "Alice"}}
    assert await svc.get_user_state(app_name=app, user_id="u2") == {}
    assert await svc.get_user_state(app_name=app + "-other", user_id="u1") == {}
    await svc.append_event(s, Event(author="system", actions=EventActions(
        state_delta={"user:profile": 2})))
    assert (await svc.get_user_state(app_name=app, user_id="u1"))["profile"] == 2


async def test_padded_session_id_is_kept_verbatim(svc, app):
    # As DatabaseSessionService (an ADK-recorded divergence): no stripping.
    await svc.create_session(app_name=app, user_id="u", session_id=" padded ")
    assert await svc.get_session(app_name=app, user_id="u", session_id=" padded ") is not None
    assert await svc.get_session(app_name=app, user_id="u", session_id="padded") is None


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
