"""SessionStoreSession against the OpenAI Agents SDK Session protocol, with
the real openai-agents package."""
import asyncio
import threading

import pytest
from agents import Runner
from agents.memory.session import Session as SessionProtocol
from agents.memory.session import SessionABC
from agents.memory.session_settings import SessionSettings

import scripted
import session_store as ss
from session_store.openai_agents import SessionStoreSession


@pytest.fixture
async def store(db_url):
    async with ss.AsyncSessionStore(db_url) as s:
        yield s


def items(*texts):
    return [{"role": "user", "content": t} for t in texts]


async def test_protocol(store, app):
    s = SessionStoreSession("c1", store, app_name=app, user_id="u")
    assert isinstance(s, SessionProtocol) and isinstance(s, SessionABC)
    assert s.session_id == "c1"
    assert isinstance(s.session_settings, SessionSettings)


async def test_items_round_trip(store, app):
    s = SessionStoreSession("c1", store, app_name=app, user_id="u")
    assert await s.get_items() == []
    assert await s.pop_item() is None
    await s.clear_session()  # on a session never written: nothing to do
    await s.add_items([])
    await s.add_items(items("a", "b"))
    rich = {"type": "function_call", "call_id": "c", "name": "f",
            "arguments": "{\"x\": [1, null, \"é\"]}", "id": "fc_1"}
    await s.add_items([rich, *items("c")])
    assert await s.get_items() == [*items("a", "b"), rich, *items("c")]
    assert await s.get_items(limit=2) == [rich, *items("c")]
    assert await s.get_items(limit=0) == []
    assert await s.get_items(limit=100) == await s.get_items()
    assert await s.pop_item() == items("c")[0]
    assert await s.get_items() == [*items("a", "b"), rich]
    await s.clear_session()
    assert await s.get_items() == []
    await s.add_items(items("d"))
    assert await s.get_items() == items("d")


async def test_session_settings_limit(store, app):
    s = SessionStoreSession("c", store, app_name=app, user_id="u",
                            session_settings={"limit": 2})
    await s.add_items(items("1", "2", "3"))
    assert await s.get_items() == items("2", "3")
    assert await s.get_items(limit=3) == items("1", "2", "3")


async def test_sessions_are_isolated(store, app):
    a = SessionStoreSession("same", store, app_name=app, user_id="u1")
    b = SessionStoreSession("same", store, app_name=app, user_id="u2")
    c = SessionStoreSession("other", store, app_name=app, user_id="u1")
    await a.add_items(items("for a"))
    await b.add_items(items("for b"))
    assert await a.get_items() == items("for a")
    assert await b.get_items() == items("for b")
    assert await c.get_items() == []


async def test_from_url_accepts_sqlalchemy_style(db_url, app):
    s = SessionStoreSession.from_url("u1", url=db_url.replace("postgresql://", "postgresql+asyncpg://"),
                                     app_name=app, session_settings=SessionSettings(limit=5))
    try:
        await s.add_items(items("x"))
        assert await s.get_items() == items("x")
        assert s.session_settings.limit == 5
    finally:
        await s.close()


async def test_first_writes_race(store, app):
    """Many writers of a conversation never written before: one create wins,
    every item is kept."""
    sessions = [SessionStoreSession("fresh", store, app_name=app, user_id="u")
                for _ in range(10)]
    await asyncio.gather(*[s.add_items(items(f"w{i}")) for i, s in enumerate(sessions)])
    got = await sessions[0].get_items()
    assert sorted(x["content"] for x in got) == sorted(f"w{i}" for i in range(10))


def test_threads_with_their_own_event_loops(db_url, app):
    """Several threads, each with its own loop and session object on one
    conversation, share a sync store: no lock, no per-thread connection."""
    store = ss.SessionStore(db_url, max_size=4)
    errors = []

    def work(t):
        async def run():
            s = SessionStoreSession("threads", store, app_name=app, user_id="u")
            for i in range(25):
                await s.add_items(items(f"t{t}-{i}"))
        try:
            asyncio.run(run())
        except Exception as e:  # noqa: BLE001
            errors.append(e)
    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    got = [m.message["content"] for m in store.get_messages(
        app_name=app, user_id="u", session_id="threads")]
    assert len(got) == 150 and len(set(got)) == 150
    for t in range(6):
        assert [x for x in got if x.startswith(f"t{t}-")] == [f"t{t}-{i}" for i in range(25)]
    store.close()


async def test_runner_run_with_scripted_model(store, app):
    session = SessionStoreSession("run", store, app_name=app, user_id="u")
    agent = scripted.openai_agent()
    r1 = await Runner.run(agent, "hello", session=session)
    assert r1.final_output == "echo: hello"
    r2 = await Runner.run(agent, "again", session=session)
    assert r2.final_output == "echo: again"
    history = await session.get_items()
    assert [h.get("role") for h in history] == ["user", "assistant", "user", "assistant"]
    assert history[0]["content"] == "hello" and history[2]["content"] == "again"
    assert history[3]["content"][0]["text"] == "echo: again"
