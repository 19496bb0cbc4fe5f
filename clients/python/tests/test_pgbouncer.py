"""The client and both adapters behind PgBouncer in transaction mode: more
clients than server connections, so consecutive calls of one client land on
different server connections, and any session-level state (a prepared
statement, a SET) would break them."""
import asyncio
import os
import shutil
import subprocess
import tempfile
import threading
import time

import psycopg
import pytest
from google.adk.events.event import Event
from google.adk.events.event_actions import EventActions

import session_store as ss
from conftest import free_port, server_url
from session_store.adk import SessionStoreService
from session_store.openai_agents import SessionStoreSession

POOL = 3  # server connections per database and user


@pytest.fixture(scope="module")
def bouncer_url(db_url):
    exe = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    work = tempfile.mkdtemp(prefix="ss-pgbouncer.")
    port = free_port()
    user = os.environ.get("PGUSER", "postgres")
    password = os.environ.get("PGPASSWORD", "")
    with open(os.path.join(work, "users.txt"), "w") as f:
        f.write(f'"{user}" "{password}"\n')
    dbname = db_url.rsplit("/", 1)[1]
    with open(os.path.join(work, "pgbouncer.ini"), "w") as f:
        f.write(f"""[databases]
{dbname} = host={os.environ.get('PGHOST', 'localhost')} port={os.environ.get('PGPORT', '5432')} dbname={dbname}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = {work}/users.txt
pool_mode = transaction
default_pool_size = {POOL}
max_client_conn = 500
server_reset_query =
logfile = {work}/pgbouncer.log
pidfile = {work}/pgbouncer.pid
""")
    cmd = [exe, os.path.join(work, "pgbouncer.ini")]
    if os.geteuid() == 0:  # pgbouncer will not run as root
        shutil.chown(work, "postgres")
        for n in os.listdir(work):
            shutil.chown(os.path.join(work, n), "postgres")
        cmd = ["runuser", "-u", "postgres", "--"] + cmd
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = server_url(dbname, port=port, host="127.0.0.1")
    for _ in range(100):
        try:
            psycopg.connect(url, prepare_threshold=None).close()
            break
        except psycopg.OperationalError:
            if proc.poll() is not None:
                raise RuntimeError(proc.stderr.read().decode())
            time.sleep(0.1)
    else:
        raise RuntimeError("pgbouncer did not start")
    yield url
    proc.terminate()
    proc.wait(10)
    shutil.rmtree(work, ignore_errors=True)


def test_it_is_transaction_pooling(bouncer_url):
    """Two clients share server connections: the test would catch state."""
    conns = [psycopg.connect(bouncer_url, autocommit=True, prepare_threshold=None)
             for _ in range(POOL * 3)]
    pids = {c.execute("SELECT pg_backend_pid()").fetchone()[0] for c in conns for _ in range(3)}
    assert len(pids) <= POOL
    for c in conns:
        c.close()


def test_sync_client_many_threads(bouncer_url, app):
    with ss.SessionStore(bouncer_url, max_size=12) as store:
        store.create_session(app_name=app, user_id="u", session_id="hot",
                             state={"user:n": 0})
        errors = []

        def work(t):
            try:
                store.create_session(app_name=app, user_id=f"u{t}", session_id="own")
                for i in range(30):
                    store.append_messages(app_name=app, user_id="u", session_id="hot",
                                          messages=[{"t": t, "i": i}],
                                          state_delta={f"k{t}": i})
                    store.append_messages(app_name=app, user_id=f"u{t}", session_id="own",
                                          messages=[{"i": i}], idempotency_key=f"op{i}",
                                          verify_replay=True)
                    store.get_session_with_messages(app_name=app, user_id="u",
                                                    session_id="hot", max_count=5)
                    list(store.iter_sessions(app_name=app, page_size=3))
            except Exception as e:  # noqa: BLE001
                errors.append(e)
        threads = [threading.Thread(target=work, args=(t,)) for t in range(12)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert errors == []
        hot = store.get_messages(app_name=app, user_id="u", session_id="hot")
        assert [m.seq for m in hot] == list(range(1, 361))
        state = store.get_session(app_name=app, user_id="u", session_id="hot").state
        assert all(state[f"k{t}"] == 29 for t in range(12))
        with pytest.raises(ss.SessionNotFound):  # errors still map through it
            store.pop_message(app_name=app, user_id="nobody", session_id="x")


async def test_adk_service_and_openai_session(bouncer_url, app):
    async with SessionStoreService(bouncer_url) as svc:
        async def conversation(k):
            s = await svc.create_session(app_name=app, user_id=f"u{k}", session_id="c",
                                         state={"app:shared": None})
            for i in range(15):
                await svc.append_event(s, Event(author="user", actions=EventActions(
                    state_delta={"i": i, f"app:k{k}": i})))
            got = await svc.get_session(app_name=app, user_id=f"u{k}", session_id="c")
            # app: keys of the other conversations arrive in between: only
            # the events and this session's own keys are this copy's
            assert got.events == s.events and len(got.events) == 15
            assert got.state["i"] == 14 and got.state[f"app:k{k}"] == 14
            assert got._storage_update_marker == s._storage_update_marker == "15"
        await asyncio.gather(*[conversation(k) for k in range(10)])
        app_state = await svc.store.get_app_state(app_name=app)
        assert app_state == {"shared": None, **{f"k{k}": 14 for k in range(10)}}
        assert len((await svc.list_sessions(app_name=app)).sessions) == 10

    sessions = [SessionStoreSession("oa", bouncer_url, app_name=app, user_id="x")
                for _ in range(4)]
    try:
        await asyncio.gather(*[s.add_items([{"role": "user", "content": f"{n}-{i}"}])
                               for n, s in enumerate(sessions) for i in range(10)])
        got = await sessions[0].get_items()
        assert len(got) == 40
        assert await sessions[1].pop_item() == got[-1]
    finally:
        for s in sessions:
            await s.close()
