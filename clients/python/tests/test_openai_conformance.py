"""The contract points of the OpenAI Agents SDK's own session tests (the
openai-agents 0.24.0 sdist: tests/memory/test_session.py,
test_session_limit.py, and tests/extensions/memory/test_sqlalchemy_session.py
where its assertions are about the Session protocol), each written for
SessionStoreSession and named after the point, with the real openai-agents
package and its public ScriptedModel.  Sessions are made by from_url, as the
SDK's tests make theirs.  Points where the adapter differs on purpose are
tested as it behaves (test_divergence_*) and listed in docs/python.md."""
import asyncio
import concurrent.futures
import threading

import pytest
from agents import Agent, RunConfig, Runner, SessionSettings
from agents.testing import ScriptedModel, assistant_message

from session_store.openai_agents import SessionStoreSession

RUNNER_METHODS = ["run", "run_sync", "run_streamed"]


@pytest.fixture
def make(db_url, app):
    """make(session_id, **kw): a from_url session, closed after the test."""
    made = []

    def make_session(session_id="s", **kw):
        s = SessionStoreSession.from_url(session_id, url=db_url, app_name=app,
                                         user_id="u", **kw)
        made.append(s)
        return s
    yield make_session
    for s in made:
        s.close_sync()


def msgs(*texts, role="user"):
    return [{"role": role, "content": t} for t in texts]


def contents(items):
    return [i.get("content") for i in items]


def _run_sync_in_a_thread(agent, input_data, **kwargs):
    """Runner.run_sync as the SDK's tests call it: a thread with a new loop."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return Runner.run_sync(agent, input_data, **kwargs)
    finally:
        loop.close()


async def run_agent(method, agent, input_data, **kwargs):
    if method == "run":
        return await Runner.run(agent, input_data, **kwargs)
    if method == "run_sync":
        return await asyncio.to_thread(_run_sync_in_a_thread, agent, input_data,
                                       **kwargs)
    result = Runner.run_streamed(agent, input_data, **kwargs)
    async for _ in result.stream_events():
        pass
    return result


def scripted(*replies):
    model = ScriptedModel()
    for r in replies:
        model.enqueue([assistant_message(r)])
    return model, Agent(name="test", model=model)


# ------------------------------------------------------------ with the Runner

@pytest.mark.parametrize("method", RUNNER_METHODS)
async def test_history_reaches_the_model_on_the_next_turn(make, method):
    session = make()
    model, agent = scripted("San Francisco", "California")
    r1 = await run_agent(method, agent, "What city is the Golden Gate Bridge in?",
                         session=session)
    assert r1.final_output == "San Francisco"
    r2 = await run_agent(method, agent, "What state is it in?", session=session)
    assert r2.final_output == "California"
    last = model.calls[-1].input
    assert len(last) == 3 and "Golden Gate" in last[0]["content"]


@pytest.mark.parametrize("method", RUNNER_METHODS)
async def test_different_sessions_keep_separate_histories(make, method):
    s1, s2 = make("session_1"), make("session_2")
    model, agent = scripted("I like cats", "I like dogs", "you said cats")
    await run_agent(method, agent, "I like cats", session=s1)
    await run_agent(method, agent, "I like dogs", session=s2)
    await run_agent(method, agent, "What did I say I like?", session=s1)
    assert "dogs" not in str(model.calls[-1].input)
    assert "cats" in str(model.calls[-1].input)


@pytest.mark.parametrize("method", RUNNER_METHODS)
async def test_list_input_is_appended_to_history(make, method):
    session = make()
    history = msgs("Earlier message") + msgs("Saved reply", role="assistant")
    await session.add_items(history)
    model, agent = scripted("This should run")
    new = msgs("Test message")
    await run_agent(method, agent, new, session=session)
    assert model.calls[-1].input == history + new


@pytest.mark.parametrize("method", RUNNER_METHODS)
async def test_session_input_callback_prepares_the_model_input(make, method):
    session = make()
    history = msgs("Hello there.") + msgs("Hi, I'm here to assist you.", role="assistant")
    await session.add_items(history)
    model, agent = scripted("I'm a model")

    def only_user(hist, new_input):
        return [i for i in hist if i["role"] == "user"] + new_input
    new = msgs("What your name?")
    await run_agent(method, agent, new, session=session,
                    run_config=RunConfig(session_input_callback=only_user))
    assert model.calls[-1].input == [history[0], new[0]]


@pytest.mark.parametrize("method", RUNNER_METHODS)
async def test_session_input_callback_repeating_history_does_not_grow_session(make, method):
    session = make()
    model, agent = scripted(*[f"assistant {t}" for t in range(3)])

    def repeat_first(hist, new_input):
        return new_input if not hist else hist + [hist[0]] + new_input
    for turn in range(3):
        await run_agent(method, agent, f"user {turn}", session=session,
                        run_config=RunConfig(session_input_callback=repeat_first))
    stored = await session.get_items()
    assert [i["content"] for i in stored if i.get("role") == "user"] == \
        ["user 0", "user 1", "user 2"]
    assert len(stored) == 6


async def test_add_items_error_propagates_from_run_streamed(make):
    session = make()

    async def failing(_items):
        raise RuntimeError("Simulated session.add_items failure")
    session.add_items = failing
    _, agent = scripted("never reached")
    result = Runner.run_streamed(agent, "Hello", session=session)
    with pytest.raises(RuntimeError, match="Simulated session.add_items failure"):
        async for _ in result.stream_events():
            pass


# ------------------------------------------------------------ session limit

@pytest.mark.parametrize("method", RUNNER_METHODS)
async def test_run_config_session_limit_sends_the_latest_items(make, method):
    session = make()
    await session.add_items([
        *msgs("Message 1"), *msgs("Reply 1", role="assistant"),
        *msgs("Message 2"), *msgs("Reply 2", role="assistant")])
    model, agent = scripted("Reply 3")
    await run_agent(method, agent, "Message 3", session=session,
                    run_config=RunConfig(session_settings=SessionSettings(limit=2)))
    assert contents(model.calls[-1].input) == ["Message 2", "Reply 2", "Message 3"]


@pytest.mark.parametrize("method", RUNNER_METHODS)
async def test_session_limit_drops_unmatched_function_call_output(make, method):
    session = make()
    history = [
        {"role": "user", "content": "What is the weather?"},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather",
         "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
        {"type": "message", "role": "assistant",
         "content": [{"type": "output_text", "text": "It is sunny.", "annotations": []}]},
    ]
    await session.add_items(history)
    assert await session.get_items(limit=2) == history[-2:]
    model, agent = scripted("Tomorrow is sunny too.")
    await run_agent(method, agent, "What about tomorrow?", session=session,
                    run_config=RunConfig(session_settings=SessionSettings(limit=2)))
    assert model.calls[-1].input == [history[-1],
                                     {"role": "user", "content": "What about tomorrow?"}]


@pytest.mark.parametrize("method", RUNNER_METHODS)
@pytest.mark.parametrize("limit, sent", [(0, []), (None, ["1", "2", "3", "4"]),
                                         (10, ["1", "2", "3", "4"])],
                         ids=["zero", "none", "larger_than_history"])
async def test_session_limit_bounds(make, method, limit, sent):
    session = make(session_settings=SessionSettings(limit=limit))
    await session.add_items(msgs("1", "2", "3", "4"))
    model, agent = scripted("ok")
    await run_agent(method, agent, "new", session=session)
    assert contents(model.calls[-1].input) == sent + ["new"]


# ------------------------------------------------------------ the Session methods

async def test_add_get_clear(make):
    session = make()
    await session.add_items(msgs("Hello") + msgs("Hi there!", role="assistant"))
    got = await session.get_items()
    assert [(i["role"], i["content"]) for i in got] == [("user", "Hello"),
                                                        ("assistant", "Hi there!")]
    await session.clear_session()
    assert await session.get_items() == []


async def test_pop_item_returns_the_newest_until_empty(make):
    session = make()
    assert await session.pop_item() is None
    await session.add_items(msgs("Hello", "Hi there!", "How are you?"))
    for expected in ("How are you?", "Hi there!", "Hello"):
        assert (await session.pop_item())["content"] == expected
    assert await session.pop_item() is None
    assert await session.get_items() == []


async def test_pop_item_affects_only_its_session(make):
    s1, s2 = make("session_1"), make("session_2")
    await s1.add_items(msgs("Session 1 message"))
    await s2.add_items(msgs("Session 2 message 1", "Session 2 message 2"))
    assert (await s2.pop_item())["content"] == "Session 2 message 2"
    assert contents(await s1.get_items()) == ["Session 1 message"]
    assert contents(await s2.get_items()) == ["Session 2 message 1"]


async def test_get_items_limit_returns_the_latest_in_order(make):
    session = make()
    texts = [f"{k} {n}" for n in (1, 2, 3) for k in ("Message", "Response")]
    await session.add_items(msgs(*texts))
    assert contents(await session.get_items()) == texts
    assert contents(await session.get_items(limit=2)) == texts[-2:]
    assert contents(await session.get_items(limit=4)) == texts[-4:]
    assert contents(await session.get_items(limit=10)) == texts  # more than stored
    assert await session.get_items(limit=0) == []


async def test_add_items_of_an_empty_list_is_a_no_op(make):
    session = make()
    await session.add_items([])
    assert await session.get_items() == []
    assert await session.store.get_session(**session._ident()) is None


async def test_unicode_content_round_trips(make):
    session = make()
    texts = ["こんにちは", "😊👍", "Привет", "café"]
    await session.add_items(msgs(*texts))
    assert contents(await session.get_items()) == texts


async def test_special_characters_and_sql_are_data(make):
    session = make()
    texts = ["O'Reilly", "DROP TABLE sessions;",
             '"SELECT * FROM users WHERE name = "admin";"',
             "Robert'); DROP TABLE students;--", "Normal message"]
    await session.add_items(msgs(*texts))
    assert contents(await session.get_items()) == texts


async def test_a_failed_add_items_stores_nothing_and_the_session_stays_usable(make):
    session = make()
    with pytest.raises(TypeError):
        await session.add_items([{"role": "user", "content": object()}])
    assert await session.get_items() == []
    await session.add_items(msgs("after failure"))
    assert contents(await session.get_items()) == ["after failure"]


async def test_items_of_one_add_keep_their_order_and_pop_returns_the_last(make):
    """The SQLAlchemy session's ties on created_at: insertion order kept,
    pop_item returns the newest.  Here order is the server's sequence."""
    session = make()
    older = {"id": "older_same_ts", "type": "message", "role": "assistant",
             "status": "completed",
             "content": [{"type": "output_text", "text": "old", "annotations": [],
                          "logprobs": []}]}
    reasoning = {"id": "rs_same_ts", "type": "reasoning",
                 "summary": [{"type": "summary_text", "text": "..."}]}
    message = dict(older, id="msg_same_ts")
    await session.add_items([older])
    await session.add_items([reasoning, message])
    ids = [i["id"] for i in await session.get_items()]
    assert ids == ["older_same_ts", "rs_same_ts", "msg_same_ts"]
    assert [i["id"] for i in await session.get_items(limit=2)] == ids[1:]
    assert (await session.pop_item())["id"] == "msg_same_ts"
    assert [i["id"] for i in await session.get_items()] == ids[:2]


# ------------------------------------------------------------ concurrency

def test_concurrent_add_items_from_threads_with_their_own_loops(make):
    """The SQLite session's test: 5 worker threads, each a new event loop,
    add to one session object."""
    session = make("concurrent_test")

    def add_item(item):
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(session.add_items([item]))
        finally:
            loop.close()
    with concurrent.futures.ThreadPoolExecutor(max_workers=5) as ex:
        list(ex.map(add_item, msgs(*[f"Message {i}" for i in range(10)])))
    got = asyncio.run(session.get_items())
    assert set(contents(got)) == {f"Message {i}" for i in range(10)} and len(got) == 10


async def test_concurrent_pop_item_returns_each_item_once(make):
    writer, other = make("concurrent_pop"), make("concurrent_pop")
    await writer.add_items(msgs("first") + msgs("second", role="assistant"))
    popped = await asyncio.gather(writer.pop_item(), other.pop_item())
    assert sorted(contents(popped)) == ["first", "second"]
    assert await writer.get_items() == []


async def test_concurrent_first_writes_across_from_url_sessions(make):
    a, b = make("from_url_a"), make("from_url_b")
    await asyncio.gather(a.add_items(msgs("one")), b.add_items(msgs("two")))
    assert contents(await a.get_items()) == ["one"]
    assert contents(await b.get_items()) == ["two"]


def test_concurrent_first_writes_across_from_url_sessions_cross_loop(make):
    """Two threads, each its own asyncio.run and its own from_url session."""
    barrier = threading.Barrier(2)
    sessions = {sid: make(sid) for sid in ("cross_loop_a", "cross_loop_b")}
    results = {}

    def worker(sid, content):
        async def run():
            barrier.wait()
            await sessions[sid].add_items(msgs(content))
            return contents(await sessions[sid].get_items())
        results[sid] = asyncio.run(run())
    threads = [threading.Thread(target=worker, args=a)
               for a in (("cross_loop_a", "one"), ("cross_loop_b", "two"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {"cross_loop_a": ["one"], "cross_loop_b": ["two"]}


def test_concurrent_first_writes_on_a_shared_session_cross_loop(make):
    session = make("shared_cross_loop")
    barrier = threading.Barrier(2)
    errors = []

    def worker(content):
        async def run():
            barrier.wait()
            await session.add_items(msgs(content))
        try:
            asyncio.run(run())
        except Exception as e:  # noqa: BLE001
            errors.append(e)
    threads = [threading.Thread(target=worker, args=(c,)) for c in ("one", "two")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(contents(asyncio.run(session.get_items()))) == ["one", "two"]


# ------------------------------------------------------------ session settings

async def test_session_settings_default(make):
    session = make()
    assert isinstance(session.session_settings, SessionSettings)
    assert session.session_settings.limit is None


@pytest.mark.parametrize("as_dict", [False, True], ids=["class", "dictionary"])
async def test_session_settings_from_url(make, as_dict):
    settings = {"limit": 5} if as_dict else SessionSettings(limit=5)
    session = make(session_settings=settings)
    assert isinstance(session.session_settings, SessionSettings)
    assert session.session_settings.limit == 5


async def test_session_settings_dictionary_is_normalized(make):
    session = make(session_settings={"limit": 0})
    assert isinstance(session.session_settings, SessionSettings)
    assert session.session_settings.limit == 0
    assert session.session_settings.resolve({"limit": 4}).limit == 4


def test_session_settings_reject_unknown_dictionary_fields(db_url):
    with pytest.raises(TypeError, match="Unknown session settings: limitt"):
        SessionStoreSession.from_url("x", url=db_url, session_settings={"limitt": 1})


async def test_get_items_uses_the_session_settings_limit(make):
    session = make(session_settings=SessionSettings(limit=3))
    await session.add_items(msgs(*[f"Message {i}" for i in range(5)]))
    assert contents(await session.get_items()) == ["Message 2", "Message 3", "Message 4"]


async def test_get_items_explicit_limit_overrides_session_settings(make):
    session = make(session_settings=SessionSettings(limit=5))
    await session.add_items(msgs(*[f"Message {i}" for i in range(10)]))
    assert contents(await session.get_items(limit=2)) == ["Message 8", "Message 9"]


async def test_run_config_session_settings_override_the_sessions(make):
    session = make(session_settings=SessionSettings(limit=100))
    await session.add_items(msgs(*[f"Turn {i}" for i in range(10)]))
    model, agent = scripted("Got it")
    await Runner.run(agent, "New question", session=session,
                     run_config=RunConfig(session_settings=SessionSettings(limit=2)))
    assert contents(model.calls[-1].input) == ["Turn 8", "Turn 9", "New question"]


# ------------------------------------------------------------ divergences

async def test_divergence_a_closed_session_accepts_an_empty_add(make):
    """SQLiteSession raises RuntimeError("SQLiteSession is closed") for
    add_items([]) after close; an empty add sends nothing here, closed or
    not, and a call that reaches the closed pool fails."""
    session = make()
    await session.add_items(msgs("x"))
    await session.close()
    await session.add_items([])
    with pytest.raises(Exception):  # noqa: B017 - the pool's own error
        await session.add_items(msgs("y"))


async def test_divergence_no_engine_the_store_instead(make):
    """SQLAlchemySession.engine is its AsyncEngine; here ``store`` is the
    AsyncSessionStore the session calls (read-only)."""
    session = make()
    assert not hasattr(session, "engine")
    assert session.store is session.store
    with pytest.raises(AttributeError):
        session.store = None


async def test_divergence_items_are_stored_as_jsonb(make, sql, app):
    """SQLAlchemySession stores JSON text (non-ASCII escaped unless
    ensure_ascii=False) and skips rows that are not valid JSON; here each
    item is a jsonb value, validated when written, so no stored item can be
    corrupt and non-ASCII text is stored as it is."""
    session = make()
    await session.add_items(msgs("café"))
    row = sql.execute(
        "SELECT message FROM session_store.get_messages(%s, 'u', 's')", (app,)).fetchone()
    assert row[0] == {"role": "user", "content": "café"}
