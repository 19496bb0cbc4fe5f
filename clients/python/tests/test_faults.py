"""Fault injection: the retry layer keeps every call's outcome exactly once
through connections that die.

(a) a backend killer: pg_terminate_backend of one of the client's backends
    (found by application_name, busy or idle) every 5-80 ms, under the sync
    and async stores and, in several OS processes, both adapters;
(b) test/lib/cutproxy.py between client and server, cutting connections
    before a request, after it was sent and ran (its reply thrown away: the
    uncertain case), mid-execution and mid-reply: at least 1,000 cuts over
    the tests of this file;
(c) a server restart (SS_RESTART_CMD, `pg_ctl restart -m fast`) in the
    middle of a run through both adapters.

Each: no call raises, every append is stored exactly once (content and
count per session), seq gap-free, and each pop returns what the writer's
model says.  The policies use short pauses so the file stays quick.
"""
import asyncio
import json
import os
import shlex
import subprocess
import sys
import threading
import time
import uuid

import psycopg
import pytest

import faultload
from conftest import server_url
from session_store import AsyncSessionStore, RetryPolicy, SessionStore

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "test", "lib"))
from cutproxy import CutProxy  # noqa: E402

FAST = RetryPolicy(max_attempts=6, max_elapsed=30.0, base_delay=0.002, max_delay=0.05)
# (b) cuts one request in CUT_P: a call fails on all of its attempts with
# probability CUT_P ** max_attempts (6e-9 here).  The three tests run until
# 250, 250 and 500 cuts: 1,000 in all.
CUT_P = 0.15
CUTS = RetryPolicy(max_attempts=10, max_elapsed=30.0, base_delay=0.002, max_delay=0.05)
TOTAL_CUTS = {"cuts": 0, "calls": 0}


def report(capsys, text):
    with capsys.disabled():
        print(f"\n  {text}", flush=True)


def with_params(url, **params):
    return url + "?" + "&".join(f"{k}={v}" for k, v in params.items())


@pytest.fixture
def tag():
    return uuid.uuid4().hex[:8]


# ------------------------------------------------------------ (a) killer

def until_kills(killer, kills, least=20):
    """Go on while the killer has not killed `kills` backends (and for at
    least `least` turns)."""
    return lambda i: i < least or killer.kills < kills


def test_killer_sync_store(db_url, app, tag, capsys):
    name = "ss-kill-" + tag
    killer = faultload.Killer(db_url, name)
    with faultload.RetryCount() as retries, \
            SessionStore(db_url, retry=FAST, max_size=4, application_name=name) as store:
        killer.start()
        out = faultload.sync_appends(store, app, tag, 4, until_kills(killer, 60))
        killer.stop()
    assert out["errors"] == []
    counts = faultload.check(db_url, app, out)
    assert counts["sessions"] == 4 and counts["duplicates"] == counts["lost"] == 0
    assert killer.kills >= 60 and killer.idle_kills > 0 and retries.count > 0
    report(capsys, f"killer, sync store: {killer.kills} kills ({killer.idle_kills} idle), "
                   f"{retries.count} retries, {counts['stored']} appends stored once, "
                   f"0 errors")


async def test_killer_async_store(db_url, app, tag, capsys):
    name = "ss-kill-" + tag
    killer = faultload.Killer(db_url, name)
    with faultload.RetryCount() as retries:
        async with AsyncSessionStore(db_url, retry=FAST, max_size=4,
                                     application_name=name) as store:
            killer.start()
            out = await faultload.async_appends(store, app, tag, 8,
                                                until_kills(killer, 60))
            await asyncio.to_thread(killer.stop)
    assert out["errors"] == []
    counts = faultload.check(db_url, app, out)
    assert counts["sessions"] == 8 and counts["duplicates"] == counts["lost"] == 0
    assert killer.kills >= 60 and killer.idle_kills > 0 and retries.count > 0
    report(capsys, f"killer, async store: {killer.kills} kills ({killer.idle_kills} idle), "
                   f"{retries.count} retries, {counts['stored']} messages stored once, "
                   f"0 errors")


def test_killer_adapters_in_processes(db_url, app, tag, capsys, tmp_path):
    """Three processes, each with its own pool, run ADK append_event and
    OpenAI add_items/pop_item/clear_session while one killer terminates
    their backends, until it has killed 30 (the processes stop when this
    one creates their stop file; at least 20 turns each)."""
    name = "ss-kill-" + tag
    url = with_params(db_url, application_name=name)
    policy = json.dumps(FAST.__dict__)
    stop = tmp_path / "stop"
    start_at = time.time() + 4.0  # the imports of the frameworks take a while
    # output to files: nothing reads a pipe while the killer works
    logs = [(open(tmp_path / f"out{p}", "w+"), open(tmp_path / f"err{p}", "w+"))
            for p in range(3)]
    procs = [subprocess.Popen([sys.executable, os.path.join(HERE, "_worker.py"), "faults",
                               url, app, str(p), str(stop), policy, str(start_at)],
                              stdout=out, stderr=err, text=True)
             for p, (out, err) in enumerate(logs)]
    killer = faultload.Killer(db_url, name)
    time.sleep(max(0, start_at - time.time()))
    killer.start()
    deadline = time.monotonic() + 60  # a safety cap: reaching it fails the test
    while (killer.kills < 30 and time.monotonic() < deadline
           and all(p.poll() is None for p in procs)):
        time.sleep(0.05)
    quota_met = killer.kills >= 30
    stop.touch()
    for p in procs:
        p.wait(timeout=120)
    killer.stop()
    reports = []
    for p, (out, err) in zip(procs, logs):
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
        out.close()
        err.close()
        assert p.returncode == 0, stderr[-3000:]
        reports.append(json.loads(stdout.strip().splitlines()[-1]))
    assert [r["errors"] for r in reports] == [[], [], []]
    assert quota_met, f"{killer.kills} kills when the processes ended or 60 s passed"
    assert [r["out_of_time"] for r in reports] == [False] * 3
    merged = {"adk": {}, "oa": {}}
    for r in reports:
        merged["adk"].update(r["adk"])
        merged["oa"].update(r["oa"])
    counts = faultload.check(db_url, app, merged)
    assert counts["sessions"] == 3 * (2 + 2) and counts["duplicates"] == counts["lost"] == 0
    assert all(len(ids) >= 20 for ids in merged["adk"].values())
    calls, retries = sum(r["calls"] for r in reports), sum(r["retries"] for r in reports)
    assert killer.kills >= 30 and killer.idle_kills > 0 and retries > 0
    report(capsys, f"killer, ADK + OpenAI in 3 processes: {killer.kills} kills "
                   f"({killer.idle_kills} idle), {calls} calls, {retries} retries, "
                   f"0 errors, 0 duplicates, 0 lost")


# ------------------------------------------------------------ (b) cuts

@pytest.fixture
def proxy():
    host = os.environ.get("PGHOST", "localhost")
    port = int(os.environ.get("PGPORT", "5432"))
    target = f"{host}/.s.PGSQL.{port}" if host.startswith("/") else (host, port)
    p = CutProxy(target, probability=CUT_P)
    p.port = p.start()
    yield p
    p.stop()


def proxied(db_url, proxy, name):
    dbname = db_url.rsplit("/", 1)[1]
    return with_params(server_url(dbname, port=proxy.port, host="127.0.0.1"),
                       sslmode="disable", application_name=name)


def cut_report(capsys, what, proxy, calls, counts):
    TOTAL_CUTS["cuts"] += proxy.stats["cuts"]
    TOTAL_CUTS["calls"] += calls
    s = proxy.stats
    report(capsys, f"cuts, {what}: {s['cuts']} cuts (before {s['before']}, after_send "
                   f"{s['after_send']}, mid_exec {s['mid_exec']}, mid_reply {s['mid_reply']}) "
                   f"over {s['connections']} connections, {calls} calls, "
                   f"{counts['stored']} stored, {counts['duplicates']} duplicates, "
                   f"{counts['lost']} lost; this file so far: {TOTAL_CUTS['cuts']} cuts")


def until_cuts(proxy, quota, least=5):
    return lambda i: i < least or proxy.stats["cuts"] < quota


def test_cuts_sync_store(db_url, app, tag, proxy, capsys):
    url = proxied(db_url, proxy, "ss-cut-" + tag)
    with SessionStore(url, retry=CUTS, max_size=4) as store:
        out = faultload.sync_appends(store, app, tag, 4, until_cuts(proxy, 250))
    assert out["errors"] == []
    counts = faultload.check(db_url, app, out)
    assert counts["duplicates"] == counts["lost"] == 0
    assert proxy.stats["cuts"] >= 250 and proxy.stats["after_send"] > 0
    cut_report(capsys, "sync store", proxy, counts["stored"], counts)


async def test_cuts_async_store(db_url, app, tag, proxy, capsys):
    url = proxied(db_url, proxy, "ss-cut-" + tag)
    async with AsyncSessionStore(url, retry=CUTS, max_size=4) as store:
        out = await faultload.async_appends(store, app, tag, 8, until_cuts(proxy, 250))
    assert out["errors"] == []
    counts = faultload.check(db_url, app, out)
    assert counts["duplicates"] == counts["lost"] == 0
    assert proxy.stats["cuts"] >= 250 and proxy.stats["after_send"] > 0
    cut_report(capsys, "async store", proxy, sum(len(v) for v in out["plain"].values()),
               counts)


async def test_cuts_adapters(db_url, app, tag, proxy, capsys):
    url = proxied(db_url, proxy, "ss-cut-" + tag)
    async with AsyncSessionStore(url, retry=CUTS, max_size=6) as store:
        out = await faultload.adapters(store, app, tag, 4, 4, until_cuts(proxy, 500))
    assert out["errors"] == []
    counts = faultload.check(db_url, app, out)
    assert counts["duplicates"] == counts["lost"] == 0
    assert proxy.stats["cuts"] >= 500 and proxy.stats["after_send"] > 0
    cut_report(capsys, "ADK + OpenAI", proxy, out["calls"], counts)


# ------------------------------------------------------------ (c) restart

async def test_server_restart_under_both_adapters(db_url, app, tag, capsys):
    """`pg_ctl restart -m fast` while ADK and OpenAI Agents calls run: every
    connection dies, new ones are refused until the server is up again;
    the calls wait it out within the default 30 s budget."""
    cmd = os.environ.get("SS_RESTART_CMD")
    if not cmd:
        pytest.fail("SS_RESTART_CMD is not set: the command that restarts the "
                    "server of this suite (test/run-in-cluster.sh sets it)")
    restarted = {}

    def restart():
        time.sleep(1.0)
        t0 = time.monotonic()
        try:
            run = subprocess.run(shlex.split(cmd), capture_output=True, text=True, timeout=60)
            if run.returncode != 0:
                restarted["error"] = run.stdout + run.stderr
        except Exception as e:  # noqa: BLE001 - reported below
            restarted["error"] = repr(e)
        finally:
            restarted["took"] = time.monotonic() - t0
            restarted["at"] = time.monotonic()

    def more(i):  # until 1.5 s after the server is back, and at least 20 each
        return i < 20 or "at" not in restarted or time.monotonic() < restarted["at"] + 1.5

    def started():
        with psycopg.connect(db_url, autocommit=True) as c:
            return c.execute("SELECT pg_postmaster_start_time()").fetchone()[0]

    before = started()
    policy = RetryPolicy()  # the default policy: what an application gets
    t = threading.Thread(target=restart)
    with faultload.RetryCount() as retries:
        async with AsyncSessionStore(db_url, retry=policy, max_size=6) as store:
            t.start()
            t0 = time.monotonic()
            out = await faultload.adapters(store, app, tag, 4, 4, more)
            took = time.monotonic() - t0
    await asyncio.to_thread(t.join)
    assert "error" not in restarted, restarted
    assert started() > before
    assert out["errors"] == []
    counts = faultload.check(db_url, app, out)
    assert counts["duplicates"] == counts["lost"] == 0
    assert retries.count > 0
    report(capsys, f"restart ({restarted['took']:.1f} s) under ADK + OpenAI: {out['calls']} "
                   f"calls in {took:.1f} s, {retries.count} retries, 0 errors, "
                   f"0 duplicates, 0 lost")
