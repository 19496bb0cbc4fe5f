"""install=True and session_store.install: the portable edition goes into a
database that holds no edition, once however many processes try at once,
and never over the C extension; edition() tells which one is there."""
import multiprocessing
import subprocess
import sys

import psycopg
import pytest

import session_store as ss
from _install_worker import install_at_once
from conftest import drop_database, empty_database
from session_store import AsyncSessionStore, SessionStore
from session_store.adk import SessionStoreService
from session_store.openai_agents import SessionStoreSession

DB = "session_store_pytest_install"


@pytest.fixture
def empty_db():
    url = empty_database(DB)
    yield url
    drop_database(DB)


def objects(url):
    """What schema session_store holds: every function, relation and type
    with the transaction that made it, and the C extension's row."""
    with psycopg.connect(url, autocommit=True) as c:
        return c.execute("""
            SELECT (SELECT array_agg((p.oid, p.xmin::text)::text ORDER BY p.oid)
                    FROM pg_proc p WHERE p.pronamespace = n.oid),
                   (SELECT array_agg((r.oid, r.xmin::text)::text ORDER BY r.oid)
                    FROM pg_class r WHERE r.relnamespace = n.oid),
                   (SELECT array_agg((t.oid, t.xmin::text)::text ORDER BY t.oid)
                    FROM pg_type t WHERE t.typnamespace = n.oid),
                   (SELECT extversion FROM pg_extension WHERE extname = 'session_store')
            FROM pg_namespace n WHERE n.nspname = 'session_store'""").fetchone()


def makers(url):
    """The transactions that made the schema's functions and relations: one
    for one installation."""
    with psycopg.connect(url, autocommit=True) as c:
        return c.execute("""
            SELECT array_agg(DISTINCT x) FROM (
                SELECT xmin::text x FROM pg_proc WHERE pronamespace = 'session_store'::regnamespace
                UNION ALL
                SELECT xmin::text FROM pg_class WHERE relnamespace = 'session_store'::regnamespace
            ) s""").fetchone()[0]


def test_store_installs_the_portable_edition_on_first_use(empty_db, app):
    with SessionStore(empty_db, install=True) as store:
        assert objects(empty_db) is None  # nothing before the first call
        s = store.create_session(app_name=app, user_id="u", state={"k": 1})
        store.append_messages(app_name=app, user_id="u", session_id=s.session_id,
                              messages=[{"n": 1}])
        assert store.edition() == ("portable", "1.2")
        assert store.get_session(app, "u", s.session_id).version == 1
    assert objects(empty_db)[3] is None  # no extension was created
    assert len(makers(empty_db)) == 1
    with SessionStore(empty_db, install=True) as store:  # installed: left as is
        before = objects(empty_db)
        assert store.install() == ("portable", "1.2")
        assert store.count_sessions(app) == 1
    assert objects(empty_db) == before


def test_without_install_nothing_is_installed(empty_db, app):
    with SessionStore(empty_db, retry=False) as store:
        with pytest.raises(ss.SessionStoreError) as got:
            store.create_session(app_name=app, user_id="u")
        assert got.value.sqlstate == "3F000"  # schema session_store does not exist
    assert objects(empty_db) is None


def test_the_c_extension_is_left_untouched(empty_db, app):
    with psycopg.connect(empty_db, autocommit=True) as c:
        c.execute("CREATE EXTENSION session_store")
    before = objects(empty_db)
    with SessionStore(empty_db, install=True) as store:
        store.create_session(app_name=app, user_id="u", session_id="s")
        assert store.edition() == ("c", "1.2")
        assert store.install() == ("c", "1.2")
    assert ss.install(empty_db) == ("c", "1.2")
    assert objects(empty_db) == before


def test_a_c_extension_before_1_2_is_left_untouched(empty_db):
    """1.1 has no edition(): install tells it from pg_extension."""
    with psycopg.connect(empty_db, autocommit=True) as c:
        c.execute("CREATE EXTENSION session_store VERSION '1.1'")
    before = objects(empty_db)
    assert ss.install(empty_db) == ("c", "1.1")
    assert objects(empty_db) == before


async def test_async_store_and_adapters_install(empty_db, app):
    async with AsyncSessionStore(empty_db, install=True) as store:
        assert await store.edition() == ("portable", "1.2")
    drop_database(DB)
    empty_database(DB)
    # the two adapters on one fresh database, their first calls at once
    import asyncio
    async with SessionStoreService(empty_db, install=True) as svc:
        oa = SessionStoreSession("c", empty_db, app_name=app, user_id="u", install=True)
        s, _ = await asyncio.gather(
            svc.create_session(app_name=app, user_id="u", state={"k": 1}),
            oa.add_items([{"role": "user", "content": "hi"}]))
        assert (await svc.get_session(app_name=app, user_id="u",
                                      session_id=s.id)).state == {"k": 1}
        assert await oa.get_items() == [{"role": "user", "content": "hi"}]
        await oa.close()
    assert len(makers(empty_db)) == 1
    oa = SessionStoreSession.from_url("c", url=empty_db, app_name=app, user_id="u",
                                      install=True)
    assert await oa.pop_item() == {"role": "user", "content": "hi"}
    await oa.close()


def test_on_a_callers_connection(empty_db, app):
    with psycopg.connect(empty_db) as conn:  # not autocommit
        conn.execute("SELECT 1")
        with pytest.raises(psycopg.ProgrammingError, match="no transaction open"):
            ss.install(conn)
        conn.rollback()
        assert ss.install(conn) == ("portable", "1.2")
        assert conn.autocommit is False
        store = SessionStore(conn, install=True)
        store.create_session(app_name=app, user_id="u", session_id="s")
        conn.commit()
    assert len(makers(empty_db)) == 1


def test_a_schema_holding_other_objects_is_reported(empty_db):
    with psycopg.connect(empty_db, autocommit=True) as c:
        c.execute("CREATE SCHEMA session_store; CREATE TABLE session_store.mine (x int)")
    with pytest.raises(ss.SessionStoreError) as got:
        ss.install(empty_db)
    assert got.value.sqlstate == "55000"
    assert got.value.message == 'schema "session_store" is not empty'
    with psycopg.connect(empty_db, autocommit=True) as c:
        assert c.execute("SELECT count(*) FROM pg_proc WHERE pronamespace = "
                         "'session_store'::regnamespace").fetchone()[0] == 0


def test_command_line(empty_db):
    run = [sys.executable, "-m", "session_store"]
    out = subprocess.run(run + ["install", empty_db], capture_output=True, text=True)
    assert (out.returncode, out.stdout) == (0, "portable 1.2\n"), out.stderr
    out = subprocess.run(run + ["install", empty_db], capture_output=True, text=True)
    assert (out.returncode, out.stdout) == (0, "portable 1.2\n"), out.stderr
    out = subprocess.run(run + ["edition", empty_db], capture_output=True, text=True)
    assert (out.returncode, out.stdout) == (0, "portable 1.2\n"), out.stderr


def test_many_processes_install_at_once(empty_db):
    """8 processes, released together, each with install=True on the same
    empty database: one installs, the others wait for its lock and take its
    42710 as success; every first call works."""
    n = 8
    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=install_at_once, args=(empty_db, barrier, queue))
             for _ in range(n)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(30)
    assert results == [("portable", "1.2")] * n
    assert len(makers(empty_db)) == 1
    with SessionStore(empty_db) as store:
        assert store.count_sessions("many") == n


def test_an_installed_database_is_not_locked_again(empty_db, app):
    """Once an edition is there, install=True sends no script: it takes no
    installer's lock, so stores starting while an installer holds it (or on
    every start of many processes) do not queue behind one another."""
    assert ss.install(empty_db) == ("portable", "1.2")
    with psycopg.connect(empty_db, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(21331, 0)")
        with SessionStore(empty_db, install=True, retry=False,
                          options="-c lock_timeout=1000") as store:
            store.create_session(app_name=app, user_id="u", session_id="s")
            assert store.edition() == ("portable", "1.2")
