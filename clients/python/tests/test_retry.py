"""The retry layer, call by call: which failures are sent again and which
never, the budget (attempts, time, jittered pauses), the keys and ids made
once per call and sent with every attempt, nothing retried on a connection
passed in, and the server's own SQLSTATE surfacing from a connection that
died under a pool of transactional connections.

Failures are injected in front of the statement (``failing``) where the
point is the layer's decision, and made for real (pg_terminate_backend of a
backend waiting on a session lock) where the point is what psycopg and the
pool do with a dead connection."""
import asyncio
import threading
import time
import uuid

import psycopg
import psycopg_pool
import pytest
from psycopg import errors as pgerr

import session_store as ss
from session_store import (AsyncSessionStore, ConnectionLost, RetryPolicy,
                           SessionStore)
from session_store._errors import connection_lost
from session_store import _retry

FAST = RetryPolicy(max_attempts=6, max_elapsed=10.0, base_delay=0.001,
                   max_delay=0.01)


def server_error(sqlstate, message="injected"):
    return pgerr.lookup(sqlstate)(message)


def failing(store, errors, after=False):
    """Make the store's next attempts raise errors[0], errors[1], ... (then
    run normally); each attempt's parameters are recorded in the returned
    list.  after=True: the statement runs first and its reply is then
    "lost" (the uncertain case)."""
    real = store._run_on
    sent = []

    def run_on(conn, call):
        sent.append(dict(call.params))
        if len(sent) <= len(errors):
            if after:
                real(conn, call)
            raise errors[len(sent) - 1]
        return real(conn, call)

    async def run_on_async(conn, call):
        sent.append(dict(call.params))
        if len(sent) <= len(errors):
            if after:
                await real(conn, call)
            raise errors[len(sent) - 1]
        return await real(conn, call)

    store._run_on = run_on_async if isinstance(store, AsyncSessionStore) else run_on
    return sent


@pytest.fixture
def store(db_url):
    with SessionStore(db_url, retry=FAST) as s:
        yield s


def ident(app, sid="s"):
    return {"app_name": app, "user_id": "u", "session_id": sid}


def make_session(db_url, app, sid="s"):
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute("SELECT session_store.create_session(app_name => %s, "
                  "user_id => 'u', session_id => %s)", (app, sid))


def stored(db_url, app, sid="s"):
    with psycopg.connect(db_url, autocommit=True) as c:
        return c.execute(
            "SELECT seq, message FROM session_store.get_messages("
            "app_name => %s, user_id => 'u', session_id => %s)",
            (app, sid)).fetchall()


# ------------------------------------------------------------ which errors

CONNECTION_CLASS = [
    server_error("08000"), server_error("08003"), server_error("08006"),
    server_error("08001"), server_error("57P01"), server_error("57P02"),
    server_error("57P03"),
    psycopg.OperationalError("server closed the connection unexpectedly"),
    psycopg.OperationalError("the connection is closed"),
    psycopg_pool.PoolTimeout("couldn't get a connection after 0.10 sec"),
    ConnectionResetError(104, "Connection reset by peer"),
]

ANSWERS = [  # (error, the exception the caller gets)
    (server_error("23505"), ss.SessionExists),
    (server_error("40001"), ss.SerializationFailure),
    (server_error("40001", 'session "s" is at version 3, not 2'), ss.VersionConflict),
    (server_error("40P01"), ss.SerializationFailure),
    (server_error("22023"), ss.InvalidArgument),
    (server_error("22004"), ss.InvalidArgument),
    (server_error("42704"), ss.SessionNotFound),
    (server_error("42710"), ss.IdempotencyConflict),
    (server_error("42883"), ss.SessionStoreError),
    (server_error("42501"), ss.SessionStoreError),
    (server_error("54000"), ss.LimitExceeded),
    (server_error("57014"), ss.SessionStoreError),  # statement_timeout
    (server_error("53300"), ss.SessionStoreError),  # too many connections
    (server_error("XX000"), ss.SessionStoreError),
]


def test_classification():
    for e in CONNECTION_CLASS:
        assert connection_lost(e), e
    for e, _ in ANSWERS:
        assert not connection_lost(e), e.sqlstate
    assert not connection_lost(psycopg_pool.PoolClosed("the pool is closed"))
    assert not connection_lost(psycopg_pool.TooManyRequests("too many"))
    assert not connection_lost(psycopg.InterfaceError("misuse"))
    assert not connection_lost(ValueError("x"))


@pytest.mark.parametrize("err", CONNECTION_CLASS,
                         ids=[getattr(e, "sqlstate", None) or type(e).__name__
                              for e in CONNECTION_CLASS])
def test_connection_failures_are_retried(store, db_url, app, err):
    make_session(db_url, app)
    sent = failing(store, [err, err])
    r = store.append_messages(**ident(app), messages=[{"n": 1}])
    assert len(sent) == 3 and (r.first_seq, r.replayed) == (1, False)
    assert stored(db_url, app) == [(1, {"n": 1})]


@pytest.mark.parametrize("err,cls", ANSWERS,
                         ids=[e.sqlstate + ("-version" if "version" in str(e) else "")
                              for e, _ in ANSWERS])
def test_answers_are_never_retried(store, db_url, app, err, cls):
    make_session(db_url, app)
    sent = failing(store, [err])
    with pytest.raises(cls) as got:
        store.append_messages(**ident(app), messages=[{"n": 1}])
    assert type(got.value) is cls and got.value.sqlstate == err.sqlstate
    assert got.value.__cause__ is err
    assert len(sent) == 1


def test_real_answers_are_never_retried(store, db_url, app):
    """The server's own 40001, 22023 and 42704, through the real path."""
    make_session(db_url, app)
    sent = failing(store, [])
    with pytest.raises(ss.VersionConflict):
        store.append_messages(**ident(app), messages=[{"n": 1}], expected_version=7)
    with pytest.raises(ss.InvalidArgument) as bad:
        store.append_messages(**ident(app), messages=[1])
    with pytest.raises(ss.SessionNotFound):
        store.append_messages(**ident(app, "nope"), messages=[{"n": 1}])
    assert bad.value.sqlstate == "22023"
    assert len(sent) == 3
    assert stored(db_url, app) == []


def test_a_closed_pool_is_not_retried(db_url, app):
    pool = psycopg_pool.ConnectionPool(db_url, min_size=1, max_size=1, open=True)
    store = SessionStore(pool, retry=FAST)
    pool.close()
    with pytest.raises(psycopg_pool.PoolClosed):
        store.get_session(**ident(app))


async def test_async_store_retries_the_same(db_url, app):
    make_session(db_url, app)
    async with AsyncSessionStore(db_url, retry=FAST) as store:
        sent = failing(store, [server_error("57P01"),
                               psycopg.OperationalError("consuming input failed")])
        r = await store.append_messages(**ident(app), messages=[{"n": 1}])
        assert len(sent) == 3 and r.first_seq == 1
        sent = failing(store, [server_error("23505")])
        with pytest.raises(ss.SessionExists):
            await store.append_messages(**ident(app), messages=[{"n": 2}])
        assert len(sent) == 1
    assert stored(db_url, app) == [(1, {"n": 1})]


# ------------------------------------------------------------ the budget

def test_attempts_are_bounded(db_url, app):
    with SessionStore(db_url, retry=RetryPolicy(max_attempts=4, base_delay=0.001,
                                                max_delay=0.001)) as store:
        errs = [server_error("57P01", f"attempt {i}") for i in range(1, 10)]
        sent = failing(store, errs)
        with pytest.raises(ConnectionLost) as got:
            store.get_session(**ident(app))
    e = got.value
    assert isinstance(e, ss.SessionStoreError)
    assert len(sent) == 4 and e.attempts == 4
    assert e.cause is errs[3] and e.__cause__ is errs[3]
    assert e.sqlstate == "57P01" and "attempt 4" in e.detail
    assert "outcome of the call is unknown" in str(e) and "get_session" in str(e)


def attempt_log(store, monkeypatch):
    """Records each attempt's start (monotonic()) and each decision after
    a failed attempt: (the pause drawn, the seconds since the call's start
    when it was decided, whether the call went on)."""
    starts, decisions, drawn = [], [], []
    real_attempt = store._attempt
    real_pause = _retry.Attempts.pause_after
    real_delay = _retry.RetryPolicy.delay

    def attempt(run, attempts):
        starts.append(time.monotonic())
        return real_attempt(run, attempts)

    def delay(self, n):
        drawn.append(real_delay(self, n))
        return drawn[-1]

    def pause_after(self, err, name):
        drawn.clear()
        try:
            pause = real_pause(self, err, name)
        except ConnectionLost:
            decisions.append((drawn[-1], monotonic_since(self.start), False))
            raise
        decisions.append((pause, monotonic_since(self.start), True))
        return pause
    store._attempt = attempt
    monkeypatch.setattr(_retry.RetryPolicy, "delay", delay)
    monkeypatch.setattr(_retry.Attempts, "pause_after", pause_after)
    return starts, decisions


def monotonic_since(t):
    return time.monotonic() - t


def test_time_is_bounded(db_url, app, monkeypatch):
    """No attempt starts later than max_elapsed after the first, and the
    call gives up only when the next pause would end past it, each pause
    slept in full: checked on the recorded attempt starts and decisions,
    so a slow or stalled machine changes how many attempts fit, not the
    outcome."""
    budget = 1.0
    policy = RetryPolicy(max_attempts=10**6, max_elapsed=budget, base_delay=0.05,
                         max_delay=0.05)
    with SessionStore(db_url, retry=policy) as store:
        store._own_pool.wait()  # the first connection is made outside the call
        sent = failing(store, [server_error("08006")] * 10**6)
        starts, decisions = attempt_log(store, monkeypatch)
        t0 = time.monotonic()
        with pytest.raises(ConnectionLost) as got:
            store.get_messages(**ident(app))
        took = time.monotonic() - t0
    n = got.value.attempts
    assert n == len(sent) == len(starts) == len(decisions) < 10**6
    assert all(s - starts[0] < budget for s in starts), [s - starts[0] for s in starts]
    assert [went_on for *_, went_on in decisions] == [True] * (n - 1) + [False]
    pause, at, _ = decisions[-1]
    assert at + pause >= budget, (at, pause)  # not given up early
    for k in range(n - 1):  # the pause was slept before the next attempt
        assert starts[k + 1] - starts[k] >= decisions[k][0] - 1e-6, k
    assert took < budget + 1.0, took


def test_pool_wait_is_cut_to_the_budget(db_url, app, monkeypatch):
    """A pool that cannot hand out a connection (here: every one is taken)
    waits no longer than the budget, and PoolTimeout is retried: each
    attempt asks the pool for at most what is left of the budget, not the
    pool's 30 s."""
    budget = 0.5
    pool = psycopg_pool.ConnectionPool(db_url, min_size=1, max_size=1,
                                       timeout=30, open=True)
    store = SessionStore(pool, retry=RetryPolicy(max_elapsed=budget, base_delay=0.01,
                                                 max_delay=0.01))
    limits = []  # (seconds since the call's start when asked, the wait allowed)
    real_limit = _retry.Attempts.wait_limit

    def wait_limit(self, pool_timeout):
        since = monotonic_since(self.start)
        limits.append((since, real_limit(self, pool_timeout)))
        return limits[-1][1]
    monkeypatch.setattr(_retry.Attempts, "wait_limit", wait_limit)
    with pool.connection():
        asked = []  # the timeouts the store's getconn calls passed
        real_getconn = pool.getconn

        def getconn(timeout=None):
            asked.append(timeout)
            return real_getconn(timeout)
        pool.getconn = getconn
        t0 = time.monotonic()
        with pytest.raises(ConnectionLost) as got:
            store.get_session(**ident(app))
        took = time.monotonic() - t0
        del pool.getconn
    assert isinstance(got.value.cause, psycopg_pool.PoolTimeout)
    assert len(asked) == got.value.attempts >= 1
    assert asked == [w for _, w in limits]
    assert all(w <= max(0.001, budget - since) for since, w in limits), limits
    assert took < budget + 1.0, took
    pool.close()


def test_pauses_are_full_jitter_capped(store, db_url, app, monkeypatch):
    policy = RetryPolicy(max_attempts=8, base_delay=0.002, max_delay=0.01)
    for n in range(1, 8):
        cap = min(0.01, 0.002 * 2 ** (n - 1))
        samples = [policy.delay(n) for _ in range(3000)]
        assert all(0 <= d <= cap for d in samples)
        assert max(samples) > 0.95 * cap and min(samples) < 0.05 * cap
    pauses = []
    real = _retry.Attempts.pause_after

    def record(self, err, name):
        pauses.append((self.number, real(self, err, name)))
        return pauses[-1][1]
    monkeypatch.setattr(_retry.Attempts, "pause_after", record)
    with SessionStore(db_url, retry=policy) as s:
        failing(s, [server_error("57P01")] * 7)
        assert s.get_session(**ident(app)) is None
    assert [n for n, _ in pauses] == list(range(1, 8))
    assert all(0 <= d <= min(0.01, 0.002 * 2 ** (n - 1)) for n, d in pauses)


def test_policy_arguments():
    assert RetryPolicy() == RetryPolicy(max_attempts=10, max_elapsed=30.0,
                                        base_delay=0.05, max_delay=5.0)
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(TypeError):
        SessionStore("postgresql://", retry="yes")


# ------------------------------------------------------------ keys and ids

KEYED = {  # method: (arguments, what must be the same on every attempt)
    "append_messages": (dict(messages=[{"n": 1}]), ("idempotency_key",)),
    "replace_messages": (dict(expected_suffix=[], replacement=[{"n": 1}]),
                         ("idempotency_key",)),
    "create_session": ({}, ("idempotency_key", "session_id")),
    "fork_session": ({}, ("idempotency_key", "new_session_id")),
    "pop_message": ({}, ("idempotency_key",)),
    "rewind_session": (dict(to_seq=0), ("idempotency_key",)),
    "clear_session": ({}, ("idempotency_key",)),
}


def call(store, method, app, **extra):
    args, _ = KEYED[method]
    who = ident(app) if method != "create_session" else {"app_name": app, "user_id": "u"}
    return getattr(store, method)(**who, **args, **extra)


@pytest.mark.parametrize("method", list(KEYED))
def test_keys_are_made_once_per_call(db_url, app, method):
    """Every attempt of a call sends the same key (and the same made-up
    session id); the next call makes new ones; a caller's key is sent as
    it is.  (The attempts all fail: no server function is reached.)"""
    _, same = KEYED[method]
    seen = []
    store = SessionStore(db_url, retry=RetryPolicy(max_attempts=3, base_delay=0.001,
                                                   max_delay=0.001))
    for extra in ({}, {}, {"idempotency_key": "mine"}):
        sent = failing(store, [server_error("57P01")] * 3)
        with pytest.raises(ConnectionLost):
            call(store, method, app, **extra)
        assert len(sent) == 3
        values = tuple(sent[0][k] for k in same)
        assert all(tuple(s[k] for k in same) == values for s in sent)
        seen.append(values)
    for values in seen[:2]:
        for v in values:
            assert str(uuid.UUID(v)) == v  # made by the client: a uuid
    assert seen[0] != seen[1] and all(a != b for a, b in zip(*seen[:2]))
    assert seen[2][0] == "mine"
    store.close()


@pytest.mark.parametrize("method", list(KEYED))
def test_no_keys_without_retries(db_url, app, method):
    with SessionStore(db_url, retry=False) as store:
        sent = failing(store, [server_error("57P01")])
        with pytest.raises(ss.SessionStoreError) as got:
            call(store, method, app)
    assert not isinstance(got.value, ConnectionLost) and got.value.sqlstate == "57P01"
    assert len(sent) == 1 and "idempotency_key" not in sent[0]
    assert "new_session_id" not in sent[0]
    if method == "create_session":
        assert "session_id" not in sent[0]


def test_lost_reply_of_an_append_returns_its_result(store, db_url, app):
    """The append committed, its reply was lost: the retry is answered from
    the key with the first attempt's result, nothing stored twice."""
    make_session(db_url, app)
    sent = failing(store, [server_error("57P01")], after=True)
    r = store.append_messages(**ident(app), messages=[{"n": 1}, {"n": 2}])
    assert len(sent) == 2
    assert (r.first_seq, r.last_seq, r.version, r.replayed) == (1, 2, 1, True)
    sent = failing(store, [psycopg.OperationalError("server closed the connection")],
                   after=True)
    r = store.replace_messages(**ident(app), expected_suffix=[{"n": 2}],
                               replacement=[{"n": 3}])
    assert len(sent) == 2 and (r.removed, r.replayed) == (1, True)
    assert stored(db_url, app) == [(1, {"n": 1}), (3, {"n": 3})]


# ------------------------------------------------------------ where retried

def kill_when_waiting(db_url, application_name):
    """pg_terminate_backend of the client's backend once it waits on a lock
    (looked for during up to 60 s: the call connects first)."""
    def run():
        with psycopg.connect(db_url, autocommit=True) as k:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if k.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             "WHERE application_name = %s AND wait_event_type = 'Lock'",
                             (application_name,)).fetchall():
                    return
                time.sleep(0.01)
    t = threading.Thread(target=run)
    t.start()
    return t


def holding_the_session_lock(db_url, app):
    """A transaction that has appended to the session and not committed."""
    holder = psycopg.connect(db_url)
    holder.execute("SELECT session_store.append_messages(app_name => %s, user_id => 'u', "
                   "session_id => 's', messages => '[{\"held\": 1}]')", (app,))
    return holder


def test_nothing_is_retried_on_a_connection_passed_in(db_url, app):
    make_session(db_url, app)
    name = "ss-conn-" + app
    with psycopg.connect(db_url, autocommit=True, application_name=name) as conn:
        store = SessionStore(conn)  # retries are on by default: not here
        assert store.retry is None
        sent = failing(store, [server_error("57P01")])
        with pytest.raises(ss.SessionStoreError) as got:
            store.append_messages(**ident(app), messages=[{"n": 1}])
        assert len(sent) == 1 and "idempotency_key" not in sent[0]
        assert not isinstance(got.value, ConnectionLost)
        # for real: the backend is terminated while the call waits
        store = SessionStore(conn)
        holder = holding_the_session_lock(db_url, app)
        killer = kill_when_waiting(db_url, name)
        with pytest.raises(ss.SessionStoreError) as got:
            store.append_messages(**ident(app), messages=[{"n": 2}])
        killer.join()
        holder.rollback()
        holder.close()
        assert got.value.sqlstate == "57P01" and conn.closed
    assert stored(db_url, app) == []


async def test_nothing_is_retried_on_an_async_connection_passed_in(db_url, app):
    make_session(db_url, app)
    conn = await psycopg.AsyncConnection.connect(db_url, autocommit=True)
    store = AsyncSessionStore(conn, retry=FAST)
    assert store.retry is None
    sent = failing(store, [server_error("08006")])
    with pytest.raises(ss.SessionStoreError):
        await store.append_messages(**ident(app), messages=[{"n": 1}])
    assert len(sent) == 1 and "idempotency_key" not in sent[0]
    await conn.close()


def gone(db_url, application_name, cap=60.0):
    """Wait until no backend of application_name is left (terminated
    backends take a moment to exit)."""
    deadline = time.monotonic() + cap
    with psycopg.connect(db_url, autocommit=True) as k:
        while k.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                        (application_name,)).fetchone()[0]:
            assert time.monotonic() < deadline, f"{application_name}: backends left"
            time.sleep(0.01)


@pytest.mark.parametrize("autocommit", [True, False], ids=["autocommit", "transactional"])
def test_a_pool_passed_in_is_retried_on(db_url, app, autocommit):
    """Every idle connection of the pool is terminated (a server restart
    does that): the call still succeeds within two attempts, the dead
    connections replaced, and the pool's connections are given back as lent."""
    make_session(db_url, app)
    name = "ss-pool-" + app
    with psycopg_pool.ConnectionPool(db_url, min_size=4, max_size=4, kwargs={
            "application_name": name, "autocommit": autocommit}) as pool:
        pool.wait()
        with psycopg.connect(db_url, autocommit=True) as k:
            killed = k.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                               "WHERE application_name = %s", (name,)).fetchall()
        assert len(killed) == 4
        gone(db_url, name)
        store = SessionStore(pool, retry=RetryPolicy(max_attempts=2, base_delay=0.001))
        r = store.append_messages(**ident(app), messages=[{"n": 1}])
        assert r.first_seq == 1
        with pool.connection() as c:
            assert c.autocommit is autocommit
    assert stored(db_url, app) == [(1, {"n": 1})]


# ------------------------------------------------------------ 57P01 surfaces

def transactional_pool(db_url, name):
    """A pool of non-autocommit connections (psycopg's default)."""
    return psycopg_pool.ConnectionPool(db_url, min_size=1, max_size=1,
                                       kwargs={"application_name": name})


def test_the_servers_error_surfaces_from_a_transactional_pool(db_url, app):
    """The backend is terminated while the call waits: the caller gets the
    server's 57P01, not the error of resetting autocommit on the dead
    connection (on main: OperationalError "the connection is lost", the
    57P01 only in __context__)."""
    make_session(db_url, app)
    name = "ss-57p01-" + app
    with transactional_pool(db_url, name) as pool:
        store = SessionStore(pool, retry=False)
        holder = holding_the_session_lock(db_url, app)
        killer = kill_when_waiting(db_url, name)
        with pytest.raises(ss.SessionStoreError) as got:
            store.append_messages(**ident(app), messages=[{"n": 1}])
        killer.join()
        holder.rollback()
        holder.close()
    assert got.value.sqlstate == "57P01"
    assert "terminating connection" in got.value.message
    assert stored(db_url, app) == []


async def test_the_servers_error_surfaces_from_an_async_transactional_pool(db_url, app):
    make_session(db_url, app)
    name = "ss-57p01a-" + app
    async with psycopg_pool.AsyncConnectionPool(
            db_url, min_size=1, max_size=1, kwargs={"application_name": name},
            open=False) as pool:
        store = AsyncSessionStore(pool, retry=False)
        holder = holding_the_session_lock(db_url, app)
        killer = kill_when_waiting(db_url, name)
        with pytest.raises(ss.SessionStoreError) as got:
            await store.append_messages(**ident(app), messages=[{"n": 1}])
        await asyncio.to_thread(killer.join)
        holder.rollback()
        holder.close()
    assert got.value.sqlstate == "57P01"


def test_the_servers_error_is_retried_from_a_transactional_pool(db_url, app):
    """The same 57P01, with retries on: connection-class, so the call is
    sent again once the lock is free, and stored once."""
    make_session(db_url, app)
    name = "ss-57p01r-" + app
    with transactional_pool(db_url, name) as pool:
        store = SessionStore(pool, retry=FAST)
        holder = holding_the_session_lock(db_url, app)
        killer = kill_when_waiting(db_url, name)
        sent = failing(store, [])
        release = threading.Thread(target=lambda: (killer.join(), holder.rollback()))
        release.start()  # once the first attempt was terminated
        r = store.append_messages(**ident(app), messages=[{"n": 1}])
        release.join()
        holder.close()
        assert len(sent) == 2 and r.first_seq == 1
        with pool.connection() as c:
            assert c.autocommit is False
    assert stored(db_url, app) == [(1, {"n": 1})]


# ------------------------------------------------------------ lost replies (1.2)

def filled(db_url, app, n, sid="s"):
    make_session(db_url, app, sid)
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute("SELECT session_store.append_messages(app_name => %s, user_id => 'u', "
                  "session_id => %s, messages => %s::jsonb)",
                  (app, sid, psycopg.types.json.Jsonb([{"n": i} for i in range(1, n + 1)])))


def test_lost_reply_of_a_create_returns_the_session(store, app):
    """The create committed, its reply was lost: the retry returns the
    session (same made-up id), not SessionExists."""
    sent = failing(store, [server_error("57P01")], after=True)
    s = store.create_session(app_name=app, user_id="u", state={"a": 1})
    assert len(sent) == 2 and s.session_id == sent[0]["session_id"] == sent[1]["session_id"]
    assert (s.state, s.version) == ({"a": 1}, 0)
    sent = failing(store, [psycopg.OperationalError("server closed the connection")],
                   after=True)
    mine = store.create_session(app_name=app, user_id="u", session_id="mine")
    assert len(sent) == 2 and mine.session_id == "mine"
    with pytest.raises(ss.SessionExists):  # a new call: a new key, an answer
        store.create_session(app_name=app, user_id="u", session_id="mine")
    assert store.count_sessions(app_name=app) == 2


def test_lost_replies_of_fork_pop_rewind_clear(store, db_url, app):
    filled(db_url, app, 5)
    lost = [server_error("57P01")]
    sent = failing(store, lost, after=True)
    f = store.fork_session(**ident(app))
    assert len(sent) == 2 and f.session_id == sent[0]["new_session_id"] and f.last_seq == 5
    sent = failing(store, lost, after=True)
    popped = store.pop_message(**ident(app))
    assert len(sent) == 2 and (popped.seq, popped.message) == (5, {"n": 5})
    sent = failing(store, lost, after=True)
    assert store.rewind_session(**ident(app), to_seq=2) == 2 and len(sent) == 2
    sent = failing(store, lost, after=True)
    assert store.clear_session(**ident(app)) == 2 and len(sent) == 2
    assert stored(db_url, app) == []
    assert [m for _, m in stored(db_url, app, f.session_id)] == [{"n": i} for i in range(1, 6)]


def test_without_retries_a_lost_reply_reaches_the_caller(db_url, app):
    """What the layer saves the caller from: the pop happened, the caller
    is told the connection failed."""
    filled(db_url, app, 2)
    with SessionStore(db_url, retry=False) as store:
        failing(store, [server_error("57P01")], after=True)
        with pytest.raises(ss.SessionStoreError) as got:
            store.pop_message(**ident(app))
    assert got.value.sqlstate == "57P01" and stored(db_url, app) == [(1, {"n": 1})]


async def test_lost_replies_through_the_adapters(db_url, app):
    from google.adk.events.event import Event
    from google.genai import types
    from session_store.adk import SessionStoreService
    from session_store.openai_agents import SessionStoreSession

    lost = [server_error("57P01")]
    async with AsyncSessionStore(db_url, retry=FAST) as store:
        svc = SessionStoreService(store)
        sent = failing(store, lost, after=True)
        s = await svc.create_session(app_name=app, user_id="u", state={"k": 1})
        assert len(sent) == 2 and s.id == sent[0]["session_id"] and s.state == {"k": 1}
        ev = Event(author="user", invocation_id="i",
                   content=types.Content(role="user", parts=[types.Part(text="hi")]))
        sent = failing(store, lost, after=True)
        await svc.append_event(s, ev)
        assert len(sent) == 2 and [e.id for e in s.events] == [ev.id]
        got = await svc.get_session(app_name=app, user_id="u", session_id=s.id)
        assert [e.id for e in got.events] == [ev.id] and got == s
        sent = failing(store, lost, after=True)
        await svc.delete_session(app_name=app, user_id="u", session_id=s.id)
        assert len(sent) == 2
        assert await svc.get_session(app_name=app, user_id="u", session_id=s.id) is None

        oa = SessionStoreSession("c", store, app_name=app, user_id="u")
        await oa.add_items([{"role": "user", "content": "0"}])
        sent = failing(store, lost, after=True)
        await oa.add_items([{"role": "user", "content": "1"}, {"role": "user", "content": "2"}])
        assert len(sent) == 2 and sent[0]["idempotency_key"] == sent[1]["idempotency_key"]
        sent = failing(store, lost, after=True)
        assert await oa.pop_item() == {"role": "user", "content": "2"} and len(sent) == 2
        assert [i["content"] for i in await oa.get_items()] == ["0", "1"]
        sent = failing(store, lost, after=True)
        await oa.clear_session()
        assert len(sent) == 2 and await oa.get_items() == []


def test_on_a_1_1_database(db_url, app):
    """1.1 has no idempotency_key on create/fork/pop/rewind/clear: with
    retries on the error says so; with retry=False every call works.  A 1.1
    database exists only as the C extension (the portable edition starts
    at 1.2), so this test installs it whatever SS_EDITION says."""
    from conftest import server_url
    name = "session_store_pytest_v11"
    with psycopg.connect(dbname="postgres", autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        c.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(dbname=name, autocommit=True) as c:
        c.execute("CREATE EXTENSION session_store VERSION '1.1'")
    url = server_url(name)
    with SessionStore(url, retry=FAST) as store:
        with pytest.raises(ss.SessionStoreError) as got:
            store.create_session(app_name=app, user_id="u", session_id="s")
        assert got.value.sqlstate == "42883" and "ALTER EXTENSION" in got.value.hint
        assert store.get_session(**ident(app)) is None  # what 1.1 has, retried
    with SessionStore(url, retry=False) as store:
        store.create_session(app_name=app, user_id="u", session_id="s")
        store.append_messages(**ident(app), messages=[{"n": 1}, {"n": 2}])
        assert store.pop_message(**ident(app)).seq == 2
        assert store.clear_session(**ident(app)) == 1
    with psycopg.connect(dbname="postgres", autocommit=True) as c:
        c.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
