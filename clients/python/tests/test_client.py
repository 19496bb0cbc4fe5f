"""The client: every method against the server, errors by SQLSTATE, the
connection sources, one round trip per call."""
import tempfile
import threading
from datetime import datetime, timedelta, timezone

import psycopg
import psycopg_pool
import pytest

import session_store as ss
from session_store import (AsyncSessionStore, SessionStore, RawJson,
                           normalize_dsn)
from session_store._errors import classify


@pytest.fixture
def store(db_url):
    with SessionStore(db_url) as s:
        yield s


def test_lifecycle(store, app):
    s = store.create_session(app_name=app, user_id="u1",
                             state={"a": 1, "app:x": "X", "user:y": "Y",
                                    "temp:t": 1},
                             session_id="s1")
    assert isinstance(s, ss.Session)
    assert (s.app_name, s.user_id, s.session_id) == (app, "u1", "s1")
    assert s.state == {"a": 1, "app:x": "X", "user:y": "Y"}
    assert (s.version, s.last_seq) == (0, 0)
    assert s.create_time.tzinfo is not None

    r = store.append_messages(app_name=app, user_id="u1", session_id="s1",
                              messages=[{"n": 1}, {"n": 2}],
                              state_delta={"b": 2}, expected_version=0)
    assert isinstance(r, ss.AppendResult)
    assert (r.first_seq, r.last_seq, r.version, r.replayed) == (1, 2, 1, False)
    r2 = store.append_messages(app_name=app, user_id="u1", session_id="s1",
                               messages=RawJson('[{"n": 3}]'))
    assert (r2.first_seq, r2.last_seq, r2.version) == (3, 3, 2)
    empty = store.append_messages(app_name=app, user_id="u1", session_id="s1",
                                  messages=[], state_delta={"c": 3})
    assert (empty.first_seq, empty.last_seq, empty.version) == (None, None, 3)

    msgs = store.get_messages(app_name=app, user_id="u1", session_id="s1")
    assert [(m.seq, m.message) for m in msgs] == [(1, {"n": 1}), (2, {"n": 2}),
                                                  (3, {"n": 3})]
    assert isinstance(msgs[0], ss.Message)
    assert [m.seq for m in store.get_messages(
        app_name=app, user_id="u1", session_id="s1", max_count=2)] == [2, 3]
    assert [m.seq for m in store.get_messages(
        app_name=app, user_id="u1", session_id="s1", after_seq=1,
        before_seq=3)] == [2]

    got = store.get_session(app_name=app, user_id="u1", session_id="s1")
    assert got.state == {"a": 1, "b": 2, "c": 3, "app:x": "X", "user:y": "Y"}
    assert (got.version, got.last_seq) == (3, 3)
    assert store.get_session(app_name=app, user_id="u1", session_id="nope") is None

    assert store.get_app_state(app_name=app) == {"x": "X"}
    assert store.get_user_state(app_name=app, user_id="u1") == {"y": "Y"}
    assert store.get_user_state(app_name=app, user_id="u2") == {}

    popped = store.pop_message(app_name=app, user_id="u1", session_id="s1")
    assert (popped.seq, popped.message) == (3, {"n": 3})
    f = store.fork_session(app_name=app, user_id="u1", session_id="s1",
                           new_session_id="s1-fork", up_to_seq=1)
    assert f.session_id == "s1-fork" and f.last_seq == 1
    assert store.rewind_session(app_name=app, user_id="u1", session_id="s1",
                                to_seq=1) == 1
    assert store.clear_session(app_name=app, user_id="u1", session_id="s1") == 1
    assert store.pop_message(app_name=app, user_id="u1", session_id="s1") is None
    nxt = store.append_messages(app_name=app, user_id="u1", session_id="s1",
                                messages=[{"n": 4}])
    assert nxt.first_seq == 4  # numbers are never reused

    auto = store.create_session(app_name=app, user_id="u1")
    assert len(auto.session_id) == 36
    assert store.delete_session(app_name=app, user_id="u1",
                                session_id=auto.session_id) is True
    assert store.delete_session(app_name=app, user_id="u1",
                                session_id=auto.session_id) is False
    assert store.expire_sessions(idle_for=timedelta(days=1), app_name=app) == 0
    assert store.expire_sessions(idle_for=timedelta(0), app_name=app) == 2


def test_idempotency_key_replays(store, app):
    store.create_session(app_name=app, user_id="u", session_id="s")
    a = store.append_messages(app_name=app, user_id="u", session_id="s",
                              messages=[{"k": 1}], idempotency_key="op-1")
    b = store.append_messages(app_name=app, user_id="u", session_id="s",
                              messages=[{"k": 1}], idempotency_key="op-1")
    assert b.replayed and (b.first_seq, b.version) == (a.first_seq, a.version)
    assert len(store.get_messages(app_name=app, user_id="u", session_id="s")) == 1


def test_list_and_iterate_pages(store, app):
    for i in range(10):
        store.create_session(app_name=app, user_id=f"u{i % 2}",
                             session_id=f"s{i}")
    page = store.list_sessions(app_name=app, page_size=4)
    assert len(page) == 4 and isinstance(page[0], ss.SessionSummary)
    every = list(store.iter_sessions(app_name=app, page_size=3))
    assert [s.session_id for s in every] == [f"s{i}" for i in reversed(range(10))]
    assert len({(s.user_id, s.session_id) for s in every}) == 10
    mine = list(store.iter_sessions(app_name=app, user_id="u1", page_size=2))
    assert sorted(s.session_id for s in mine) == sorted(f"s{i}" for i in range(1, 10, 2))
    assert list(store.iter_sessions(app_name=app + "-none")) == []
    # ascending: oldest first, each direction's tokens continuing only it
    up = store.list_sessions(app_name=app, page_size=4, ascending=True)
    assert [s.session_id for s in up] == ["s0", "s1", "s2", "s3"]
    up2 = store.list_sessions(app_name=app, page_size=4,
                              page_token=up[-1].next_page_token, ascending=True)
    assert [s.session_id for s in up2] == ["s4", "s5", "s6", "s7"]
    with pytest.raises(ss.InvalidArgument) as e:
        store.list_sessions(app_name=app, page_token=up[-1].next_page_token)
    assert e.value.sqlstate == "22023"
    every_up = list(store.iter_sessions(app_name=app, page_size=3, ascending=True))
    assert [s.session_id for s in every_up] == [f"s{i}" for i in range(10)]
    mine_up = list(store.iter_sessions(app_name=app, user_id="u1", page_size=2,
                                       ascending=True))
    assert [s.session_id for s in mine_up] == [f"s{i}" for i in range(1, 10, 2)]


def test_list_sessions_with_state_fills_state(store, app):
    """Each listed session carries its merged state, exactly as get_session
    returns it (session keys, user: and app: keys), in list_sessions' rows,
    order and tokens."""
    store.create_session(app_name=app, user_id="u1", session_id="a",
                         state={"k": 1, "user:lang": "fr", "app:motd": "hi",
                                "temp:t": 1})
    store.create_session(app_name=app, user_id="u2", session_id="b",
                         state={"n": None}, keep_nulls=True)
    store.create_session(app_name=app, user_id="u1", session_id="c")
    page = store.list_sessions_with_state(app_name=app)
    assert all(isinstance(s, ss.SessionSummaryWithState) for s in page)
    assert [(s.user_id, s.session_id) for s in page] == [("u1", "c"), ("u2", "b"), ("u1", "a")]
    assert {s.session_id: s.state for s in page} == {
        "a": {"k": 1, "user:lang": "fr", "app:motd": "hi"},
        "b": {"n": None, "app:motd": "hi"},
        "c": {"user:lang": "fr", "app:motd": "hi"},
    }
    for s in page:
        got = store.get_session(app_name=app, user_id=s.user_id, session_id=s.session_id)
        assert s.state == got.state and s.version == got.version
    # the same rows, order and tokens as list_sessions, page by page
    plain = store.list_sessions(app_name=app, page_size=2)
    with_state = store.list_sessions_with_state(app_name=app, page_size=2)
    assert [(s.user_id, s.session_id, s.version, s.last_seq, s.create_time,
             s.update_time, s.next_page_token) for s in with_state] == \
        [(s.user_id, s.session_id, s.version, s.last_seq, s.create_time,
          s.update_time, s.next_page_token) for s in plain]
    rest = store.list_sessions_with_state(app_name=app, page_size=2,
                                          page_token=plain[-1].next_page_token)
    assert [s.session_id for s in rest] == ["a"]
    # one user, ascending
    mine = store.list_sessions_with_state(app_name=app, user_id="u1", ascending=True)
    assert [s.session_id for s in mine] == ["a", "c"]
    assert mine[1].state == {"user:lang": "fr", "app:motd": "hi"}
    assert store.list_sessions_with_state(app_name=app + "-none") == []
    # list_sessions' argument checks and errors
    with pytest.raises(ss.InvalidArgument) as e:
        store.list_sessions_with_state(app_name=app, page_size=0)
    assert e.value.sqlstate == "22023"
    with pytest.raises(ss.InvalidArgument):
        store.list_sessions_with_state(app_name=app, page_token="garbage")
    with pytest.raises(ss.InvalidArgument):
        store.list_sessions_with_state(app_name=app, page_token=mine[0].next_page_token)


def test_list_sessions_with_state_latest_message_time(store, app):
    """latest_message_time=True: each row also carries its newest message's
    time (None without messages), in the same rows, order and tokens."""
    t = datetime(2031, 5, 6, 7, 8, 9, 123456, tzinfo=timezone.utc)
    for sid in ("a", "b", "c"):
        store.create_session(app_name=app, user_id="u", session_id=sid)
    store.append_messages(app_name=app, user_id="u", session_id="a",
                          messages=[{"n": 1}, {"n": 2}], message_time=t)
    store.append_messages(app_name=app, user_id="u", session_id="c",
                          messages=[{"n": 1}], message_time=t - timedelta(days=1))
    store.append_messages(app_name=app, user_id="u", session_id="c",
                          messages=[{"n": 2}], message_time=t - timedelta(days=2))
    plain = store.list_sessions_with_state(app_name=app, page_size=2)
    latest = store.list_sessions_with_state(app_name=app, page_size=2,
                                            latest_message_time=True)
    assert [s.latest_message_time for s in plain] == [None, None]
    assert [(s.session_id, s.latest_message_time) for s in latest] == \
        [("c", t - timedelta(days=2)), ("a", t)]
    assert [s.next_page_token for s in latest] == [s.next_page_token for s in plain]
    rest = store.list_sessions_with_state(app_name=app, page_size=2, latest_message_time=True,
                                          page_token=latest[-1].next_page_token)
    assert [(s.session_id, s.latest_message_time) for s in rest] == [("b", None)]
    got = store.get_session_with_messages(app_name=app, user_id="u", session_id="c")
    assert got.latest_message_time == t - timedelta(days=2)


def _err(fn, cls):
    with pytest.raises(cls) as e:
        fn()
    assert isinstance(e.value, ss.SessionStoreError)
    assert type(e.value) is cls
    assert e.value.message and e.value.sqlstate
    assert isinstance(e.value.__cause__, psycopg.Error)
    return e.value


def test_errors_by_sqlstate(store, app):
    store.create_session(app_name=app, user_id="u", session_id="s")
    e = _err(lambda: store.append_messages(app_name=app, user_id="u",
                                           session_id="missing",
                                           messages=[{}]), ss.SessionNotFound)
    assert e.sqlstate == "42704" and "missing" in e.message
    e = _err(lambda: store.create_session(app_name=app, user_id="u",
                                          session_id="s"), ss.SessionExists)
    assert e.sqlstate == "23505"
    e = _err(lambda: store.append_messages(app_name=app, user_id="u",
                                           session_id="s", messages=[{}],
                                           expected_version=7),
             ss.VersionConflict)
    assert e.sqlstate == "40001" and " is at version " in e.message
    assert e.detail is not None  # the server's errdetail travels with it
    e = _err(lambda: store.create_session(app_name="", user_id="u"),
             ss.InvalidArgument)
    assert e.sqlstate.startswith("22")
    e = _err(lambda: store.append_messages(app_name=app, user_id="u",
                                           session_id="s",
                                           messages=[1, 2]),
             ss.InvalidArgument)
    e = _err(lambda: store.append_messages(app_name=app, user_id="u",
                                           session_id="s",
                                           messages=[{}] * 1001),
             ss.LimitExceeded)
    assert e.sqlstate.startswith("54") and e.detail
    e = _err(lambda: store.get_session(app_name=None, user_id="u",
                                       session_id="s"), ss.InvalidArgument)
    assert e.sqlstate == "22004"
    # nothing was written by any of the failures
    assert store.get_session(app_name=app, user_id="u",
                             session_id="s").version == 0


def test_serialization_failure_in_repeatable_read(db_url, app):
    with SessionStore(db_url) as store:
        store.create_session(app_name=app, user_id="u", session_id="s")
    c1 = psycopg.connect(db_url)
    c2 = psycopg.connect(db_url)
    try:
        for c in (c1, c2):
            c.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        s1, s2 = SessionStore(c1), SessionStore(c2)
        s1.get_session(app_name=app, user_id="u", session_id="s")
        s2.get_session(app_name=app, user_id="u", session_id="s")
        s1.append_messages(app_name=app, user_id="u", session_id="s",
                           messages=[{"by": 1}])
        c1.commit()
        e = _err(lambda: s2.append_messages(app_name=app, user_id="u",
                                            session_id="s",
                                            messages=[{"by": 2}]),
                 ss.SerializationFailure)
        assert e.sqlstate == "40001"
        c2.rollback()
    finally:
        c1.close()
        c2.close()


def test_classify_table():
    assert classify("42704", "x") is ss.SessionNotFound
    assert classify("23505", "x") is ss.SessionExists
    assert classify("40001", 'session "s" is at version 3, not 2') is ss.VersionConflict
    assert classify("40001", 'session "s" no longer ends with the expected messages') is ss.SuffixMismatch
    assert issubclass(ss.SuffixMismatch, ss.VersionConflict)
    assert classify("40001", "could not serialize access") is ss.SerializationFailure
    assert classify("40P01", "deadlock detected") is ss.SerializationFailure
    assert classify("42710", "x") is ss.IdempotencyConflict
    assert classify("22023", "x") is ss.InvalidArgument
    assert classify("22004", "x") is ss.InvalidArgument
    assert classify("54000", "x") is ss.LimitExceeded
    assert classify("XX000", "x") is ss.SessionStoreError
    for cls in (ss.SessionNotFound, ss.SessionExists, ss.VersionConflict,
                ss.SerializationFailure, ss.IdempotencyConflict,
                ss.InvalidArgument, ss.LimitExceeded):
        assert issubclass(cls, ss.SessionStoreError)


def test_normalize_dsn():
    assert normalize_dsn("postgresql+asyncpg://u:p@h:5/d") == "postgresql://u:p@h:5/d"
    assert normalize_dsn("postgresql+psycopg://u@h/d?x=1") == "postgresql://u@h/d?x=1"
    assert normalize_dsn("postgres+psycopg2://h/d") == "postgresql://h/d"
    assert normalize_dsn("dbname=x host=y") == "dbname=x host=y"
    assert normalize_dsn("postgresql://h/d") == "postgresql://h/d"


def test_on_a_callers_connection_inside_its_transaction(db_url, app):
    with psycopg.connect(db_url) as conn:  # not autocommit
        store = SessionStore(conn)
        store.create_session(app_name=app, user_id="u", session_id="s")
        conn.rollback()
        assert store.get_session(app_name=app, user_id="u", session_id="s") is None
        conn.rollback()
        store.create_session(app_name=app, user_id="u", session_id="s")
        conn.commit()
    with SessionStore(db_url) as other:
        assert other.get_session(app_name=app, user_id="u", session_id="s").version == 0


def test_on_a_callers_pool_of_transactional_connections(db_url, app):
    with psycopg_pool.ConnectionPool(db_url, min_size=1, max_size=2) as pool:
        store = SessionStore(pool)
        store.create_session(app_name=app, user_id="u", session_id="s")
        store.append_messages(app_name=app, user_id="u", session_id="s",
                              messages=[{"a": 1}])
        with pool.connection() as c:
            assert c.autocommit is False  # given back as it was lent
    with SessionStore(db_url) as other:
        assert other.get_session(app_name=app, user_id="u", session_id="s").version == 1


def test_threads_share_one_store(db_url, app):
    with SessionStore(db_url, max_size=4) as store:
        store.create_session(app_name=app, user_id="u", session_id="s")

        def work(i):
            for j in range(20):
                store.append_messages(app_name=app, user_id="u", session_id="s",
                                      messages=[{"t": i, "j": j}])
        threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        msgs = store.get_messages(app_name=app, user_id="u", session_id="s")
        assert [m.seq for m in msgs] == list(range(1, 161))
        for i in range(8):
            assert [m.message["j"] for m in msgs if m.message["t"] == i] == list(range(20))


def test_one_round_trip_and_no_named_statement(db_url, app):
    """libpq's protocol trace: each method sends exactly one Sync (one
    round trip) and only unnamed statements."""
    with psycopg.connect(db_url, autocommit=True) as conn, \
            tempfile.TemporaryFile("w+") as trace:
        store = SessionStore(conn)
        conn.pgconn.trace(trace.fileno())
        calls = [
            lambda: store.create_session(app_name=app, user_id="u", session_id="s"),
            lambda: store.append_messages(app_name=app, user_id="u", session_id="s",
                                          messages=[{"a": 1}], state_delta={"k": 1}),
            lambda: store.get_session(app_name=app, user_id="u", session_id="s"),
            lambda: store.get_messages(app_name=app, user_id="u", session_id="s"),
            lambda: store.list_sessions(app_name=app),
            lambda: store.list_sessions_with_state(app_name=app),
            lambda: store.get_session_with_messages(app_name=app, user_id="u",
                                                    session_id="s", max_count=5),
            lambda: store.pop_message(app_name=app, user_id="u", session_id="s"),
            lambda: store.get_user_state(app_name=app, user_id="u"),
        ]
        for i, call in enumerate(calls):
            trace.seek(0)
            trace.truncate()
            call()
            trace.flush()
            trace.seek(0)
            lines = [ln.split("\t") for ln in trace.read().splitlines()]
            sent = [ln for ln in lines if len(ln) > 2 and ln[1] == "F"]
            kinds = [ln[3] for ln in sent]
            assert kinds.count("Sync") == 1, (i, kinds)
            parses = [ln[4] for ln in sent if ln[3] == "Parse"]
            assert parses and all(p.lstrip().startswith('"" ') for p in parses), parses
        conn.pgconn.untrace()


def test_get_session_with_messages(store, app):
    assert store.get_session_with_messages(app_name=app, user_id="u",
                                           session_id="s") is None
    store.create_session(app_name=app, user_id="u", session_id="s")
    got = store.get_session_with_messages(app_name=app, user_id="u", session_id="s")
    assert got.messages == [] and got.latest_message_time is None
    for i in range(5):
        store.append_messages(app_name=app, user_id="u", session_id="s",
                              messages=[{"i": i}])
    got = store.get_session_with_messages(app_name=app, user_id="u",
                                          session_id="s", max_count=2,
                                          raw_json=True)
    assert got.session.version == 5
    assert [m.seq for m in got.messages] == [4, 5]
    assert got.messages[0].message == '{"i": 3}'
    assert got.latest_message_time == got.messages[-1].create_time
    none = store.get_session_with_messages(app_name=app, user_id="u",
                                           session_id="s", max_count=0)
    assert none.messages == [] and none.latest_message_time is not None


def test_reads_are_one_snapshot_under_concurrent_appends(db_url, app):
    """A session and its messages come from one statement: the newest
    message is always the session's last_seq, however fast others write."""
    with SessionStore(db_url, max_size=6) as store:
        store.create_session(app_name=app, user_id="u", session_id="s")
        stop = threading.Event()

        def writer():
            while not stop.is_set():
                store.append_messages(app_name=app, user_id="u", session_id="s",
                                      messages=[{"w": 1}])
        ws = [threading.Thread(target=writer) for _ in range(3)]
        for w in ws:
            w.start()
        try:
            for _ in range(200):
                got = store.get_session_with_messages(app_name=app, user_id="u",
                                                      session_id="s")
                seqs = [m.seq for m in got.messages]
                assert seqs == list(range(1, got.session.last_seq + 1))
                assert got.session.version == got.session.last_seq
        finally:
            stop.set()
            for w in ws:
                w.join()


# ---- asyncio ----

async def test_async_store_from_dsn(db_url, app):
    async with AsyncSessionStore(db_url) as store:
        s = await store.create_session(app_name=app, user_id="u", session_id="s")
        assert s.version == 0
        r = await store.append_messages(app_name=app, user_id="u", session_id="s",
                                        messages=[{"a": 1}])
        assert r.last_seq == 1
        with pytest.raises(ss.SessionExists):
            await store.create_session(app_name=app, user_id="u", session_id="s")
        for i in range(5):
            await store.create_session(app_name=app, user_id="v", session_id=f"p{i}")
        seen = [x.session_id async for x in store.iter_sessions(app_name=app, user_id="v", page_size=2)]
        assert seen == [f"p{i}" for i in reversed(range(5))]
        up = [x.session_id async for x in store.iter_sessions(
            app_name=app, user_id="v", page_size=2, ascending=True)]
        assert up == [f"p{i}" for i in range(5)]
        page = await store.list_sessions(app_name=app, user_id="v", page_size=3,
                                         ascending=True)
        assert [x.session_id for x in page] == ["p0", "p1", "p2"]
        await store.append_messages(app_name=app, user_id="v", session_id="p1",
                                    messages=[], state_delta={"k": 1, "user:u": 2})
        listed = await store.list_sessions_with_state(app_name=app, user_id="v",
                                                      page_size=2)
        assert all(isinstance(x, ss.SessionSummaryWithState) for x in listed)
        assert [(x.session_id, x.state) for x in listed] == [
            ("p1", {"k": 1, "user:u": 2}), ("p4", {"user:u": 2})]
        more = await store.list_sessions_with_state(
            app_name=app, user_id="v", page_size=10,
            page_token=listed[-1].next_page_token, ascending=False)
        assert [x.session_id for x in more] == ["p3", "p2", "p0"]


async def test_async_store_on_pool_and_connection(db_url, app):
    async with psycopg_pool.AsyncConnectionPool(db_url, min_size=1, max_size=2,
                                                open=False) as pool:
        store = AsyncSessionStore(pool)
        await store.create_session(app_name=app, user_id="u", session_id="s")
        await store.append_messages(app_name=app, user_id="u", session_id="s",
                                    messages=[{"a": 1}])
    conn = await psycopg.AsyncConnection.connect(db_url, autocommit=True)
    async with conn:
        store = AsyncSessionStore(conn)
        got = await store.get_session(app_name=app, user_id="u", session_id="s")
        assert got.version == 1
        with pytest.raises(ss.SessionNotFound):
            await store.pop_message(app_name=app, user_id="u", session_id="zz")


# ---- 1.1 additions ----

def test_keep_nulls(store, app):
    s = store.create_session(app_name=app, user_id="u", session_id="s",
                             state={"a": None, "b": 1}, keep_nulls=True)
    assert s.state == {"a": None, "b": 1}
    store.append_messages(app_name=app, user_id="u", session_id="s",
                          messages=[], state_delta={"b": None, "user:c": None},
                          keep_nulls=True)
    got = store.get_session(app_name=app, user_id="u", session_id="s")
    assert got.state == {"a": None, "b": None, "user:c": None}
    store.append_messages(app_name=app, user_id="u", session_id="s",
                          messages=[], state_delta={"b": None})
    assert "b" not in store.get_session(app_name=app, user_id="u",
                                        session_id="s").state


def test_message_time_and_after_time(store, app):
    store.create_session(app_name=app, user_id="u", session_id="s")
    base = datetime(2030, 1, 1, tzinfo=timezone.utc)
    for i in range(1, 6):
        store.append_messages(app_name=app, user_id="u", session_id="s",
                              messages=[{"i": i}],
                              message_time=base + timedelta(seconds=i))
    msgs = store.get_messages(app_name=app, user_id="u", session_id="s")
    assert [m.create_time for m in msgs] == [base + timedelta(seconds=i) for i in range(1, 6)]
    after = store.get_messages(app_name=app, user_id="u", session_id="s",
                               after_time=base + timedelta(seconds=4))
    assert [m.message["i"] for m in after] == [4, 5]  # inclusive
    both = store.get_messages(app_name=app, user_id="u", session_id="s",
                              after_time=base + timedelta(seconds=2), max_count=2)
    assert [m.message["i"] for m in both] == [4, 5]
    assert store.get_messages(app_name=app, user_id="u", session_id="s",
                              after_time=base + timedelta(days=1)) == []


def test_verify_replay(store, app):
    store.create_session(app_name=app, user_id="u", session_id="s")
    store.append_messages(app_name=app, user_id="u", session_id="s",
                          messages=[{"a": 1}], idempotency_key="k",
                          verify_replay=True)
    again = store.append_messages(app_name=app, user_id="u", session_id="s",
                                  messages=[{"a": 1}], idempotency_key="k",
                                  verify_replay=True)
    assert again.replayed
    e = _err(lambda: store.append_messages(app_name=app, user_id="u",
                                           session_id="s", messages=[{"a": 2}],
                                           idempotency_key="k",
                                           verify_replay=True),
             ss.IdempotencyConflict)
    assert e.sqlstate == "42710"
    assert len(store.get_messages(app_name=app, user_id="u", session_id="s")) == 1


def test_replace_messages_and_count(store, app):
    store.create_session(app_name=app, user_id="u", session_id="s")
    store.append_messages(app_name=app, user_id="u", session_id="s",
                          messages=[{"a": 1}, {"b": 2}, {"c": 3}])
    r = store.replace_messages(app_name=app, user_id="u", session_id="s",
                               expected_suffix=[{"b": 2}, {"c": 3}],
                               replacement=[{"bc": 23}])
    assert isinstance(r, ss.ReplaceResult)
    assert (r.first_seq, r.last_seq, r.removed, r.replayed) == (4, 4, 2, False)
    assert [m.message for m in store.get_messages(
        app_name=app, user_id="u", session_id="s")] == [{"a": 1}, {"bc": 23}]
    e = _err(lambda: store.replace_messages(app_name=app, user_id="u",
                                            session_id="s",
                                            expected_suffix=[{"c": 3}],
                                            replacement=[]),
             ss.SuffixMismatch)
    assert isinstance(e, ss.VersionConflict) and e.sqlstate == "40001"
    store.create_session(app_name=app, user_id="v", session_id="t")
    assert store.count_sessions(app_name=app) == 2
    assert store.count_sessions(app_name=app, user_id="v") == 1
