"""Google ADK's session-service contract, point by point, on
SessionStoreService, with the real google-adk package.

The points are those of ADK's own suite (google/adk-python
tests/unittests/sessions/test_session_service.py: the tests on its shared
``session_service`` fixture, which every registered backend owes, and the
contract tests it writes for one backend), each written here as a test named
after the point.  A point that holds runs side by side on ADK's own
DatabaseSessionService on the same PostgreSQL (``service``: the same
assertions pass on both, so the test states ADK's contract, not ours), or on
InMemorySessionService where only that service makes the promise.  A point
where SessionStoreService differs on purpose is a ``test_divergence_...``: it
checks our documented behaviour and shows ADK's on its reference service
(docs/python.md, "Where the adapter differs from ADK", gives the reasons)."""
import asyncio
import os
import time

import pytest
from google.adk.errors import StaleSessionError
from google.adk.errors.already_exists_error import AlreadyExistsError
from google.adk.errors.session_not_found_error import SessionNotFoundError
from google.adk.events.event import Event
from google.adk.events.event_actions import EventActions
from google.adk.sessions import Session
from google.adk.sessions.base_session_service import GetSessionConfig
from google.adk.sessions.database_session_service import DatabaseSessionService
from google.adk.sessions.in_memory_session_service import InMemorySessionService
from google.adk.tools.tool_confirmation import ToolConfirmation
from google.genai import types
from sqlalchemy.exc import IntegrityError

import session_store as ss
from conftest import empty_database
from session_store.adk import SessionStoreService

# ADK's own text for a stale copy (DatabaseSessionService and ours).
STALE_TEXT = ("The session has been modified in storage since it was loaded. "
              "Please reload the session before appending more events.")


@pytest.fixture(scope="session")
def adk_db_url(db_url):
    """A database of its own for ADK's DatabaseSessionService (its tables)."""
    name = os.environ.get("SS_PYTEST_DB", "session_store_pytest") + "_adk"
    return empty_database(name).replace("postgresql://", "postgresql+asyncpg://", 1)


@pytest.fixture
async def ours(db_url):
    async with SessionStoreService(db_url) as svc:
        yield svc


@pytest.fixture
async def adk_database(adk_db_url):
    async with DatabaseSessionService(adk_db_url) as svc:
        yield svc


@pytest.fixture(params=["session_store", "adk_database"])
async def service(request, db_url, adk_db_url):
    """Each contract point on ours and on ADK's reference, in turn."""
    if request.param == "session_store":
        svc = SessionStoreService(db_url)
    else:
        svc = DatabaseSessionService(adk_db_url)
    async with svc:
        yield svc


@pytest.fixture(params=["session_store", "adk_in_memory"])
async def service_or_memory(request, db_url):
    """For the points only InMemorySessionService promises among ADK's own."""
    if request.param == "adk_in_memory":
        yield InMemorySessionService()
        return
    async with SessionStoreService(db_url) as svc:
        yield svc


def ev(**kw):
    kw.setdefault("author", "user")
    return Event(**kw)


def delta(**state):
    return EventActions(state_delta=state)


# ---------------------------------------------------------------- create/get

async def test_get_empty_session(service, app):
    assert await service.get_session(app_name=app, user_id="u", session_id="123") is None


async def test_create_get_session(service, app):
    s = await service.create_session(app_name=app, user_id="u", state={"key": "value"})
    assert (s.app_name, s.user_id, s.state) == (app, "u", {"key": "value"}) and s.id
    assert s.events == [] and s.last_update_time <= time.time()
    got = await service.get_session(app_name=app, user_id="u", session_id=s.id)
    assert got == s and got.last_update_time == s.last_update_time
    await service.delete_session(app_name=app, user_id="u", session_id=s.id)
    assert await service.get_session(app_name=app, user_id="u", session_id=s.id) is None


async def test_get_session_respects_user_id(service, app):
    s1 = await service.create_session(app_name=app, user_id="u1", session_id="s1")
    await service.append_event(s1, ev(invocation_id="inv1"))
    await service.create_session(app_name=app, user_id="u2", session_id="s1")
    got = await service.get_session(app_name=app, user_id="u2", session_id="s1")
    assert got.user_id == "u2" and got.events == []


async def test_create_session_with_existing_id_raises_error(service, app):
    await service.create_session(app_name=app, user_id="u", session_id="s1",
                                 state={"keep": "original"})
    with pytest.raises(AlreadyExistsError) as e:
        await service.create_session(app_name=app, user_id="u", session_id="s1",
                                     state={"keep": "clobbered"})
    assert str(e.value) == "Session with id s1 already exists."
    got = await service.get_session(app_name=app, user_id="u", session_id="s1")
    assert got.state == {"keep": "original"}


async def test_concurrent_creates_of_one_id_one_wins_the_rest_already_exist(service, app):
    results = await asyncio.gather(
        *[service.create_session(app_name=app, user_id="u", session_id="same",
                                 state={"n": i}) for i in range(8)],
        return_exceptions=True)
    won = [r for r in results if isinstance(r, Session)]
    lost = [r for r in results if not isinstance(r, Session)]
    assert len(won) == 1 and len(lost) == 7
    assert all(isinstance(e, AlreadyExistsError)
               and str(e) == "Session with id same already exists." for e in lost)


async def test_delete_session_removes_only_the_targeted_users_session(service, app):
    await service.create_session(app_name=app, user_id="u1", session_id="s1")
    await service.create_session(app_name=app, user_id="u2", session_id="s1")
    await service.delete_session(app_name=app, user_id="u1", session_id="s1")
    assert await service.get_session(app_name=app, user_id="u1", session_id="s1") is None
    other = await service.get_session(app_name=app, user_id="u2", session_id="s1")
    assert other is not None and other.id == "s1"


async def test_delete_session_unknown_session_is_a_noop(service, app):
    await service.create_session(app_name=app, user_id="u1", session_id="s1")
    await service.delete_session(app_name=app, user_id="u1", session_id="unknown")
    await service.delete_session(app_name=app, user_id="unknown", session_id="s1")
    await service.delete_session(app_name=app + "-unknown", user_id="u1", session_id="s1")
    assert await service.get_session(app_name=app, user_id="u1", session_id="s1") is not None


# ------------------------------------------------------------------- listing

async def test_create_and_list_sessions(service, app):
    ids = [f"session{i}" for i in range(5)]
    for sid in ids:
        await service.create_session(app_name=app, user_id="u", session_id=sid,
                                     state={"key": "value" + sid})
    listed = (await service.list_sessions(app_name=app, user_id="u")).sessions
    assert sorted(s.id for s in listed) == ids
    assert all(s.state == {"key": "value" + s.id} for s in listed)


async def test_list_sessions_all_users(service, app):
    for user, sid in (("u1", "s1a"), ("u1", "s1b"), ("u2", "s2a")):
        await service.create_session(app_name=app, user_id=user, session_id=sid,
                                     state={"key": "v" + sid})

    async def listing(user):
        got = (await service.list_sessions(app_name=app, user_id=user)).sessions
        return {s.id: (s.user_id, s.state) for s in got}
    assert await listing("u1") == {"s1a": ("u1", {"key": "vs1a"}), "s1b": ("u1", {"key": "vs1b"})}
    assert await listing("u2") == {"s2a": ("u2", {"key": "vs2a"})}
    assert await listing(None) == {"s1a": ("u1", {"key": "vs1a"}), "s1b": ("u1", {"key": "vs1b"}),
                                   "s2a": ("u2", {"key": "vs2a"})}


async def test_list_sessions_strips_events_and_merges_scoped_state(service, app):
    s = await service.create_session(app_name=app, user_id="u1", session_id="s1", state={
        "app:a": "av", "user:u": "uv", "sk": "sv", "temp:t": "tv"})
    await service.append_event(s, ev(invocation_id="inv1", actions=delta(sk2="sv2")))
    await service.create_session(app_name=app, user_id="u2", session_id="s2",
                                 state={"user:u": "other"})
    want = {"app:a": "av", "user:u": "uv", "sk": "sv", "sk2": "sv2"}
    for user in ("u1", None):  # one user's listing, and every user's
        listed = {x.id: x for x in (await service.list_sessions(app_name=app, user_id=user)).sessions}
        assert listed["s1"].events == [] and listed["s1"].state == want
    assert listed["s2"].state == {"app:a": "av", "user:u": "other"}
    got = await service.get_session(app_name=app, user_id="u1", session_id="s1")
    assert got.state == want


async def test_list_sessions_unknown_app_or_user_returns_empty_response(service, app):
    await service.create_session(app_name=app, user_id="u1", session_id="s1")
    assert (await service.list_sessions(app_name=app + "-unknown")).sessions == []
    assert (await service.list_sessions(app_name=app, user_id="unknown")).sessions == []
    assert [s.id for s in (await service.list_sessions(app_name=app)).sessions] == ["s1"]


async def test_list_sessions_ordered_by_last_update_time(service, app):
    """Oldest first, so the last one listed is the most recently active."""
    for sid in ("a", "b", "c"):
        await service.create_session(app_name=app, user_id="u", session_id=sid)
    a = await service.get_session(app_name=app, user_id="u", session_id="a")
    await service.append_event(a, ev(invocation_id="inv"))
    listed = (await service.list_sessions(app_name=app, user_id="u")).sessions
    assert [s.id for s in listed] == ["b", "c", "a"]


async def test_listed_last_update_time_is_get_sessions(service, app):
    """The last event's timestamp (even from a writer whose clock is an
    hour behind), the create time without events."""
    s = await service.create_session(app_name=app, user_id="u", session_id="s")
    quiet = await service.create_session(app_name=app, user_id="u", session_id="q")
    ts = s.last_update_time - 3600
    await service.append_event(s, ev(timestamp=ts))
    listed = {x.id: x for x in (await service.list_sessions(app_name=app)).sessions}
    for one, want in ((s, ts), (quiet, quiet.last_update_time)):
        got = await service.get_session(app_name=app, user_id="u", session_id=one.id)
        assert got.last_update_time == pytest.approx(want, abs=1e-6)
        assert listed[one.id].last_update_time == pytest.approx(want, abs=1e-6)


# --------------------------------------------------------------------- state

async def test_app_state_is_shared_by_all_users_of_app(service, app):
    s1 = await service.create_session(app_name=app, user_id="u1", session_id="s1",
                                      state={"app:k1": "v1"})
    await service.append_event(s1, ev(invocation_id="inv1", actions=delta(**{"app:k2": "v2"})))
    s2 = await service.create_session(app_name=app, user_id="u2", session_id="s2")
    assert s2.state == {"app:k1": "v1", "app:k2": "v2"}
    got = await service.get_session(app_name=app, user_id="u1", session_id="s1")
    assert got.state == {"app:k1": "v1", "app:k2": "v2"}


async def test_user_state_is_shared_only_by_user_sessions(service, app):
    s1 = await service.create_session(app_name=app, user_id="u1", session_id="s1",
                                      state={"user:k1": "v1"})
    await service.append_event(s1, ev(invocation_id="inv1", actions=delta(**{"user:k2": "v2"})))
    s1b = await service.create_session(app_name=app, user_id="u1", session_id="s1b")
    assert s1b.state == {"user:k1": "v1", "user:k2": "v2"}
    s2 = await service.create_session(app_name=app, user_id="u2", session_id="s2")
    assert s2.state == {}


async def test_session_state_is_not_shared(service, app):
    s1 = await service.create_session(app_name=app, user_id="u1", session_id="s1",
                                      state={"sk1": "v1"})
    await service.append_event(s1, ev(invocation_id="inv1", actions=delta(sk2="v2")))
    got = await service.get_session(app_name=app, user_id="u1", session_id="s1")
    assert got.state == {"sk1": "v1", "sk2": "v2"}
    s1b = await service.create_session(app_name=app, user_id="u1", session_id="s1b")
    assert s1b.state == {}


async def test_dict_valued_state_delta_replaces_stored_value(service, app):
    s = await service.create_session(app_name=app, user_id="u1", session_id="s1",
                                     state={"profile": {"name": "ada", "role": "admin"}})
    await service.append_event(s, ev(actions=delta(profile={"name": "bob"})))
    got = await service.get_session(app_name=app, user_id="u1", session_id="s1")
    assert got.state["profile"] == {"name": "bob"} == s.state["profile"]


async def test_app_state_dict_valued_delta_replaces_stored_value(service, app):
    s1 = await service.create_session(app_name=app, user_id="u1", session_id="s1",
                                      state={"app:cfg": {"name": "ada", "role": "admin"}})
    await service.append_event(s1, ev(actions=delta(**{"app:cfg": {"name": "bob"}})))
    s2 = await service.create_session(app_name=app, user_id="u2", session_id="s2")
    assert s2.state["app:cfg"] == {"name": "bob"} == s1.state["app:cfg"]


async def test_none_valued_state_delta_is_stored_not_dropped(service, app, sql):
    s = await service.create_session(app_name=app, user_id="u1", session_id="s1",
                                     state={"flag": True})
    await service.append_event(s, ev(actions=delta(flag=None)))
    got = await service.get_session(app_name=app, user_id="u1", session_id="s1")
    assert "flag" in got.state and got.state["flag"] is None
    assert "flag" in s.state and s.state["flag"] is None
    if isinstance(service, SessionStoreService):  # a JSON null in the row
        row = sql.execute("SELECT state FROM session_store.get_session(%s, 'u1', 's1')",
                          (app,)).fetchone()[0]
        assert row == {"flag": None}


async def test_user_state_none_valued_delta_is_stored_not_dropped(service, app):
    s1 = await service.create_session(app_name=app, user_id="u1", session_id="s1",
                                      state={"user:pref": "dark_mode"})
    await service.append_event(s1, ev(actions=delta(**{"user:pref": None})))
    s1b = await service.create_session(app_name=app, user_id="u1", session_id="s1b")
    assert "user:pref" in s1b.state and s1b.state["user:pref"] is None
    assert "user:pref" in s1.state and s1.state["user:pref"] is None


async def test_none_valued_create_state_is_stored_not_dropped(service, app):
    s = await service.create_session(app_name=app, user_id="u", session_id="s",
                                     state={"a": None, "user:b": None, "app:c": None})
    assert s.state == {"a": None, "user:b": None, "app:c": None}
    got = await service.get_session(app_name=app, user_id="u", session_id="s")
    assert got.state == s.state


async def test_boolean_state_survives_unrelated_state_delta(service, app):
    s = await service.create_session(app_name=app, user_id="u1", session_id="s1",
                                     state={"flag": False})
    await service.append_event(s, ev(actions=delta(new_flag=True)))
    got = await service.get_session(app_name=app, user_id="u1", session_id="s1")
    for state in (got.state, s.state):
        assert state["new_flag"] is True and state["flag"] is False


async def test_temp_state_is_not_persisted_in_state_or_events(service, app):
    s = await service.create_session(app_name=app, user_id="u1", session_id="s1")
    event = ev(invocation_id="inv1", actions=delta(**{"temp:k1": "v1", "sk": "v2"}))
    await service.append_event(s, event)
    # this invocation's copy sees it; the event and the store do not
    assert s.state["temp:k1"] == "v1" and s.state["sk"] == "v2"
    assert event.actions.state_delta == {"sk": "v2"}
    got = await service.get_session(app_name=app, user_id="u1", session_id="s1")
    assert got.state == {"sk": "v2"}
    assert got.events[0].actions.state_delta == {"sk": "v2"}


async def test_temp_state_visible_across_sequential_events(service, app):
    s = await service.create_session(app_name=app, user_id="u1", session_id="s_seq")
    e1 = ev(invocation_id="inv1", author="agent1",
            actions=delta(**{"temp:output": "result_from_a1"}))
    await service.append_event(s, e1)
    assert s.state["temp:output"] == "result_from_a1"
    assert "temp:output" not in e1.actions.state_delta
    await service.append_event(s, ev(invocation_id="inv1", author="agent2"))


async def test_get_user_state_returns_empty_dict_when_no_state_exists(service, app):
    assert await service.get_user_state(app_name=app, user_id="u1") == {}


async def test_get_user_state_returns_state_written_via_append_event(service, app):
    s = await service.create_session(app_name=app, user_id="u1")
    await service.append_event(s, ev(author="system", actions=delta(
        **{"user:profile": {"name": "Alice"}, "session_key": 1})))
    assert await service.get_user_state(app_name=app, user_id="u1") == {"profile": {"name": "Alice"}}


async def test_get_user_state_is_not_visible_across_users_or_apps(service, app):
    s = await service.create_session(app_name=app, user_id="u1")
    await service.append_event(s, ev(author="system", actions=delta(**{"user:secret": "u1"})))
    assert await service.get_user_state(app_name=app, user_id="u2") == {}
    assert await service.get_user_state(app_name=app + "-other", user_id="u1") == {}


async def test_get_user_state_reflects_latest_write(service, app):
    s = await service.create_session(app_name=app, user_id="u1")
    for n in (1, 2):
        await service.append_event(s, ev(author="system", actions=delta(**{"user:counter": n})))
    assert (await service.get_user_state(app_name=app, user_id="u1"))["counter"] == 2


# -------------------------------------------------------------------- events

async def test_append_event_bytes(service, app):
    s = await service.create_session(app_name=app, user_id="u")
    content = types.Content(role="user", parts=[
        types.Part.from_bytes(data=b"test_image_data", mime_type="image/png")])
    grounding = types.GroundingMetadata(
        search_entry_point=types.SearchEntryPoint(sdk_blob=b"test_sdk_blob"))
    await service.append_event(s, ev(invocation_id="inv", content=content,
                                     grounding_metadata=grounding))
    assert s.events[0].content == content
    got = await service.get_session(app_name=app, user_id="u", session_id=s.id)
    assert len(got.events) == 1
    assert got.events[0].content == content
    assert got.events[0].grounding_metadata == grounding


async def test_append_event_complete(service, app):
    s = await service.create_session(app_name=app, user_id="u")
    event = ev(
        invocation_id="invocation",
        content=types.Content(role="user", parts=[types.Part(text="test_text")]),
        turn_complete=True, partial=False,
        actions=EventActions(artifact_delta={"file": 0}, transfer_to_agent="agent",
                             escalate=True),
        long_running_tool_ids={"tool1"}, error_code="error_code",
        error_message="error_message", interrupted=True,
        grounding_metadata=types.GroundingMetadata(web_search_queries=["query1"]),
        usage_metadata=types.GenerateContentResponseUsageMetadata(
            prompt_token_count=1, candidates_token_count=1, total_token_count=2),
        citation_metadata=types.CitationMetadata(),
        custom_metadata={"custom_key": "custom_value"},
        timestamp=1700000000.123,
        input_transcription=types.Transcription(text="input", finished=True),
        output_transcription=types.Transcription(text="output", finished=True),
    )
    await service.append_event(s, event)
    assert await service.get_session(app_name=app, user_id="u", session_id=s.id) == s


async def test_append_event_with_requested_tool_confirmations(service, app):
    s = await service.create_session(app_name=app, user_id="u")
    await service.append_event(s, ev(invocation_id="inv", actions=EventActions(
        requested_tool_confirmations={"tool_call_1": ToolConfirmation(
            hint="dynamic hint", confirmed=False,
            payload={"collection_name": "photos", "resource_id": "album_1"})})))
    got = await service.get_session(app_name=app, user_id="u", session_id=s.id)
    tc = got.events[0].actions.requested_tool_confirmations["tool_call_1"]
    assert tc.hint == "dynamic hint" and not tc.confirmed
    assert tc.payload == {"collection_name": "photos", "resource_id": "album_1"}


async def test_append_event_with_non_serializable_state_delta(service, app):
    """A value JSON cannot hold is stored as its text, not the event lost."""
    s = await service.create_session(app_name=app, user_id="u")
    await service.append_event(s, ev(invocation_id="inv", actions=delta(
        callback=lambda: 1, ok=2)))
    got = await service.get_session(app_name=app, user_id="u", session_id=s.id)
    assert len(got.events) == 1
    assert got.state["ok"] == 2 and isinstance(got.state["callback"], str)


async def test_partial_events_are_not_persisted(service, app):
    s = await service.create_session(app_name=app, user_id="u")
    await service.append_event(s, ev(partial=True))
    assert s.events == []
    got = await service.get_session(app_name=app, user_id="u", session_id=s.id)
    assert got.events == []


async def test_append_event_to_deleted_session_raises_session_not_found(service, app):
    s = await service.create_session(app_name=app, user_id="u")
    await service.delete_session(app_name=app, user_id="u", session_id=s.id)
    with pytest.raises(SessionNotFoundError) as e:
        await service.append_event(s, ev(invocation_id="inv1"))
    assert str(e.value) == f"Session {s.id} not found."
    assert await service.get_session(app_name=app, user_id="u", session_id=s.id) is None


async def test_append_event_is_idempotent_for_same_event_id(service_or_memory, app):
    """The same event delivered again (the same object or an equal copy) is
    stored once and its state applied once."""
    svc = service_or_memory
    s = await svc.create_session(app_name=app, user_id="u", session_id="dup")
    event = ev(invocation_id="inv_dup", actions=delta(counter=1))
    await svc.append_event(s, event)
    await svc.append_event(s, event)
    await svc.append_event(s, event.model_copy(deep=True))
    got = await svc.get_session(app_name=app, user_id="u", session_id="dup")
    assert [e.id for e in got.events] == [event.id]
    assert got.state == {"counter": 1}


# ------------------------------------------------------- stale copies, markers

async def test_append_event_to_stale_session(service, app):
    now = time.time()
    original = await service.create_session(app_name=app, user_id="u")
    await service.append_event(original, ev(invocation_id="inv1", timestamp=now + 1,
                                            actions=delta(sk1="v1")))
    updated = await service.get_session(app_name=app, user_id="u", session_id=original.id)
    await service.append_event(updated, ev(invocation_id="inv2", timestamp=now + 2,
                                           actions=delta(sk2="v2")))
    assert original.last_update_time < updated.last_update_time
    assert len(original.events) == 1 and "sk2" not in original.state
    with pytest.raises(StaleSessionError) as e:
        await service.append_event(original, ev(invocation_id="inv3", timestamp=now + 3,
                                                actions=delta(sk3="v3")))
    assert str(e.value) == STALE_TEXT and isinstance(e.value, ValueError)
    final = await service.get_session(app_name=app, user_id="u", session_id=original.id)
    assert [x.invocation_id for x in final.events] == ["inv1", "inv2"]
    assert final.state == {"sk1": "v1", "sk2": "v2"}


async def test_stale_model_copy_raises_typed_stale_session_error(service, app):
    s = await service.create_session(app_name=app, user_id="u")
    stale = s.model_copy(deep=True)
    await service.append_event(s, ev(invocation_id="winner", timestamp=s.last_update_time + 1))
    with pytest.raises(StaleSessionError) as e:
        await service.append_event(stale, ev(invocation_id="stale",
                                             timestamp=s.last_update_time + 1))
    assert isinstance(e.value, ValueError)


async def test_append_event_concurrent_stale_sessions_reject_stale_writer(service, app):
    s = await service.create_session(app_name=app, user_id="u")
    for i in range(8):
        latest = await service.get_session(app_name=app, user_id="u", session_id=s.id)
        c1, c2 = latest.model_copy(deep=True), latest.model_copy(deep=True)
        base = latest.last_update_time + 10.0
        results = await asyncio.gather(
            service.append_event(c1, ev(invocation_id=f"inv{i}-1", timestamp=base + 1,
                                        actions=delta(**{f"sk{i}-1": f"v{i}-1"}))),
            service.append_event(c2, ev(invocation_id=f"inv{i}-2", timestamp=base + 2,
                                        actions=delta(**{f"sk{i}-2": f"v{i}-2"}))),
            return_exceptions=True)
        errors = [r for r in results if isinstance(r, Exception)]
        assert len(errors) == 1 and isinstance(errors[0], StaleSessionError)
        assert str(errors[0]) == STALE_TEXT
    final = await service.get_session(app_name=app, user_id="u", session_id=s.id)
    assert len(final.events) == 8
    for i in range(8):
        assert (f"sk{i}-1" in final.state) != (f"sk{i}-2" in final.state)


async def test_append_event_allows_timestamp_drift_for_current_session(service, app):
    s = await service.create_session(app_name=app, user_id="u", session_id="s1")
    e1 = ev(invocation_id="inv1", timestamp=s.last_update_time + 10)
    await service.append_event(s, e1)
    s.last_update_time -= 0.0001  # a float round trip, the revision unchanged
    await service.append_event(s, ev(invocation_id="inv2", timestamp=e1.timestamp + 10))
    got = await service.get_session(app_name=app, user_id="u", session_id="s1")
    assert [e.invocation_id for e in got.events] == ["inv1", "inv2"]


async def test_append_event_allows_markerless_current_session(service, app):
    s = await service.create_session(app_name=app, user_id="u", session_id="s1")
    e1 = ev(invocation_id="inv1", timestamp=s.last_update_time + 10)
    await service.append_event(s, e1)
    s._storage_update_marker = None
    s.last_update_time -= 0.0001
    await service.append_event(s, ev(invocation_id="inv2", timestamp=e1.timestamp + 10))
    assert s._storage_update_marker is not None  # it has one again
    got = await service.get_session(app_name=app, user_id="u", session_id="s1")
    assert [e.invocation_id for e in got.events] == ["inv1", "inv2"]


async def test_markerless_stale_session_is_rejected(service, app):
    """Without a marker, a copy is current only when its last event is the
    stored last event (ADK's fallback), so a copy behind still goes stale."""
    s = await service.create_session(app_name=app, user_id="u", session_id="s1")
    behind = s.model_copy(deep=True)
    await service.append_event(s, ev(invocation_id="inv1", timestamp=s.last_update_time + 10))
    behind._storage_update_marker = None
    with pytest.raises(StaleSessionError):
        await service.append_event(behind, ev(invocation_id="inv2",
                                              timestamp=s.last_update_time + 20))
    hand_made = Session(id="s1", app_name=app, user_id="u")  # no events either
    with pytest.raises(StaleSessionError):
        await service.append_event(hand_made, ev(invocation_id="inv3"))
    got = await service.get_session(app_name=app, user_id="u", session_id="s1")
    assert [e.invocation_id for e in got.events] == ["inv1"]


async def test_storage_update_marker_is_kept_by_copies_and_equal_between_reads(service, app):
    s = await service.create_session(app_name=app, user_id="u", session_id="s1")
    assert isinstance(s._storage_update_marker, str)
    await service.append_event(s, ev())
    got1 = await service.get_session(app_name=app, user_id="u", session_id="s1")
    got2 = await service.get_session(app_name=app, user_id="u", session_id="s1")
    assert got1._storage_update_marker == got2._storage_update_marker == s._storage_update_marker
    assert got1.model_copy(deep=True)._storage_update_marker == got1._storage_update_marker
    listed = (await service.list_sessions(app_name=app, user_id="u")).sessions
    assert listed[0]._storage_update_marker == s._storage_update_marker


# ------------------------------------------------------------ time, windows

async def test_session_last_update_time_updates_on_event(service, app):
    s = await service.create_session(app_name=app, user_id="u")
    original = s.last_update_time
    ts = original + 10
    await service.append_event(s, ev(invocation_id="invocation", timestamp=ts))
    assert s.last_update_time == pytest.approx(ts, abs=1e-6)
    got = await service.get_session(app_name=app, user_id="u", session_id=s.id)
    assert got.last_update_time == pytest.approx(ts, abs=1e-6)
    assert got.last_update_time > original


async def test_last_update_time_without_events_is_the_create_time(service, app):
    before = time.time()
    s = await service.create_session(app_name=app, user_id="u")
    got = await service.get_session(app_name=app, user_id="u", session_id=s.id)
    listed = (await service.list_sessions(app_name=app, user_id="u")).sessions[0]
    assert got.last_update_time == pytest.approx(s.last_update_time, abs=1e-6)
    assert listed.last_update_time == pytest.approx(s.last_update_time, abs=1e-6)
    # the server's clock and this one agree to well within a minute here
    assert abs(s.last_update_time - before) < 60


async def test_last_update_time_is_the_last_events_whatever_the_window(service, app):
    s = await service.create_session(app_name=app, user_id="u")
    base = s.last_update_time
    for i in (1, 2, 3):
        await service.append_event(s, ev(timestamp=base + i))
    for cfg in (None, GetSessionConfig(num_recent_events=0),
                GetSessionConfig(num_recent_events=1),
                GetSessionConfig(after_timestamp=base + 100)):
        got = await service.get_session(app_name=app, user_id="u", session_id=s.id, config=cfg)
        assert got.last_update_time == pytest.approx(base + 3, abs=1e-6)


async def test_get_session_with_config(service, app):
    base = int(time.time())
    s = await service.create_session(app_name=app, user_id="u")
    for i in range(1, 6):
        await service.append_event(s, ev(timestamp=base + i))

    async def window(**cfg):
        got = await service.get_session(app_name=app, user_id="u", session_id=s.id,
                                        config=GetSessionConfig(**cfg) if cfg else None)
        return [e.timestamp - base for e in got.events]
    assert await window() == [1, 2, 3, 4, 5]
    assert await window(num_recent_events=0) == []
    assert await window(num_recent_events=3) == [3, 4, 5]
    assert await window(after_timestamp=base + 4) == [4, 5]  # inclusive
    assert await window(after_timestamp=base + 50) == []
    assert await window(after_timestamp=base + 4, num_recent_events=3) == [4, 5]
    assert await window(after_timestamp=base + 2, num_recent_events=2) == [4, 5]


async def test_after_timestamp_is_inclusive_at_sub_second_precision(service, app):
    s = await service.create_session(app_name=app, user_id="u")
    ts = [1700000000.25, 1700000000.500001, 1700000000.75]
    for t in ts:
        await service.append_event(s, ev(timestamp=t))
    got = await service.get_session(app_name=app, user_id="u", session_id=s.id,
                                    config=GetSessionConfig(after_timestamp=ts[1]))
    assert [e.timestamp for e in got.events] == ts[1:]


async def test_get_session_config_rejects_negative_num_recent_events():
    with pytest.raises(ValueError, match="greater than or equal to 0"):
        GetSessionConfig(num_recent_events=-1)


@pytest.fixture
def local_timezone_with_dst():
    """The test's process in a zone that repeats an hour every autumn."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


async def test_get_session_keeps_exact_epoch_across_a_repeated_local_hour(
        service, app, local_timezone_with_dst):
    epochs = [1730613600.0, 1730615400.0]  # 01:00 and 01:30 EST, the second time
    s = await service.create_session(app_name=app, user_id="u")
    for t in epochs:
        await service.append_event(s, ev(timestamp=t))
    got = await service.get_session(app_name=app, user_id="u", session_id=s.id)
    assert [e.timestamp for e in got.events] == epochs


# ---------------------------------------------------------------- divergences

async def test_divergence_padded_session_id_is_kept_verbatim(ours, adk_database, app):
    """ADK's in-memory and sqlite services strip the id; its
    DatabaseSessionService keeps it verbatim, as we do (an id is data)."""
    for svc in (ours, adk_database):
        created = await svc.create_session(app_name=app, user_id="u", session_id="order-42\n")
        assert created.id == "order-42\n"
        assert await svc.get_session(app_name=app, user_id="u", session_id="order-42\n")
        assert await svc.get_session(app_name=app, user_id="u", session_id="order-42") is None
        await svc.delete_session(app_name=app, user_id="u", session_id="order-42\n")
        assert await svc.get_session(app_name=app, user_id="u", session_id="order-42\n") is None
    memory = InMemorySessionService()
    assert (await memory.create_session(app_name=app, user_id="u",
                                        session_id="order-42\n")).id == "order-42"


async def test_divergence_blank_session_id_is_kept_verbatim(ours, adk_database, app):
    """InMemorySessionService makes an id for a blank one; DatabaseSessionService
    and we store the id given."""
    for svc in (ours, adk_database):
        s = await svc.create_session(app_name=app, user_id="u", session_id="   ")
        assert s.id == "   "
        assert await svc.get_session(app_name=app, user_id="u", session_id="   ")
    memory = InMemorySessionService()
    assert (await memory.create_session(app_name=app, user_id="u", session_id="   ")).id.strip()


async def test_divergence_tied_timestamps_keep_append_order(ours, adk_database, app):
    """ADK's database services order events of one timestamp by event id; we
    keep the order they were appended in (the server's sequence)."""
    ids = ["event_z", "event_a", "event_m"]
    got = {}
    for name, svc in (("ours", ours), ("adk", adk_database)):
        s = await svc.create_session(app_name=app, user_id="u", session_id=name)
        for event_id in ids:
            await svc.append_event(s, ev(id=event_id, timestamp=100.0))
        read = await svc.get_session(app_name=app, user_id="u", session_id=name)
        got[name] = [e.id for e in read.events]
        last2 = await svc.get_session(app_name=app, user_id="u", session_id=name,
                                      config=GetSessionConfig(num_recent_events=2))
        got[name + "-last2"] = [e.id for e in last2.events]
    assert got["ours"] == ids and got["ours-last2"] == ids[1:]
    assert got["adk"] == sorted(ids) and got["adk-last2"] == sorted(ids)[1:]


async def test_divergence_reused_event_id_with_other_content_raises_idempotency_conflict(
        ours, adk_database, app):
    """The event id is the idempotency key: another event under a used id is
    refused, and the first one kept.  InMemorySessionService stores both;
    DatabaseSessionService fails with the driver's IntegrityError."""
    s = await ours.create_session(app_name=app, user_id="u")
    first = ev(id="shared-event-id", invocation_id="inv_a")
    await ours.append_event(s, first)
    with pytest.raises(ss.IdempotencyConflict):
        await ours.append_event(s, ev(id="shared-event-id", invocation_id="inv_b",
                                      author="agent"))
    got = await ours.get_session(app_name=app, user_id="u", session_id=s.id)
    assert got.events == [first]

    memory = InMemorySessionService()
    m = await memory.create_session(app_name=app, user_id="u")
    await memory.append_event(m, ev(id="shared-event-id", invocation_id="inv_a"))
    await memory.append_event(m, ev(id="shared-event-id", invocation_id="inv_b", author="agent"))
    got = await memory.get_session(app_name=app, user_id="u", session_id=m.id)
    assert [e.author for e in got.events] == ["user", "agent"]

    d = await adk_database.create_session(app_name=app, user_id="u")
    await adk_database.append_event(d, ev(id="shared-event-id", invocation_id="inv_a"))
    with pytest.raises(IntegrityError):
        await adk_database.append_event(d, ev(id="shared-event-id", invocation_id="inv_b",
                                              author="agent"))


async def test_divergence_listing_order_is_the_servers_update_time(ours, adk_database, app):
    """ADK orders the listing by the last event's timestamp, a client's clock;
    we order by the server's update time: the session written last is listed
    last even when its writer's clock is behind."""
    order = {}
    for name, svc in (("ours", ours), ("adk", adk_database)):
        for sid in ("a", "b"):
            await svc.create_session(app_name=app + name, user_id="u", session_id=sid)
        b = await svc.get_session(app_name=app + name, user_id="u", session_id="b")
        await svc.append_event(b, ev(timestamp=b.last_update_time - 3600))  # clock behind
        order[name] = [s.id for s in (await svc.list_sessions(app_name=app + name)).sessions]
    assert order["ours"] == ["a", "b"]
    assert order["adk"] == ["b", "a"]


async def test_divergence_markerless_copy_is_checked_whatever_its_time(ours, adk_database, app):
    """Without a marker, DatabaseSessionService compares the last event ids
    only when the stored update time is later than the copy's
    last_update_time, a client clock: a copy behind whose clock runs ahead
    is accepted there.  We compare them always."""
    for svc in (ours, adk_database):
        s = await svc.create_session(app_name=app, user_id="u", session_id="s1")
        behind = s.model_copy(deep=True)
        await svc.append_event(s, ev(invocation_id="inv1", timestamp=s.last_update_time + 10))
        behind._storage_update_marker = None
        behind.last_update_time += 1000
        late = ev(invocation_id="inv2", timestamp=s.last_update_time + 20)
        if svc is ours:
            with pytest.raises(StaleSessionError):
                await svc.append_event(behind, late)
        else:
            await svc.append_event(behind, late)
        got = await svc.get_session(app_name=app, user_id="u", session_id="s1")
        assert [e.invocation_id for e in got.events] == (
            ["inv1"] if svc is ours else ["inv1", "inv2"])
