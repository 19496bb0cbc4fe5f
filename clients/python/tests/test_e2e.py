"""End to end with the real frameworks and scripted models, two OS
processes at once, checked through SQL."""
import json
import os
import subprocess
import sys
import time
from collections import Counter

import pytest

import scripted

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_worker.py")


def run_processes(arg_lists, lead=8.0):
    """Start one worker per argument list, all released at the same moment
    (after their imports), and return their JSON reports."""
    start_at = time.time() + lead
    procs = [subprocess.Popen([sys.executable, WORKER, *[str(a) for a in args],
                               f"{start_at}"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for args in arg_lists]
    reports = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-3000:]
        reports.append(json.loads(out.strip().splitlines()[-1]))
    return reports


def test_adk_runner_with_parallel_sub_agents_from_two_processes(db_url, app, sql):
    sessions, turns = 3, 3
    reports = run_processes([("adk", db_url, app, p, sessions, turns) for p in (0, 1)])
    for r in reports:
        assert r["errors"] == []
        assert r["events"] == sessions * turns * 5  # the runner yields agent events
    per_turn = 6  # the user's message, planner, three branches, summarizer
    for p in (0, 1):
        for k in range(sessions):
            sid, user = f"p{p}-s{k}", f"user{k % 2}"
            rows = sql.execute(
                "SELECT seq, message FROM session_store.get_messages(%s, %s, %s)",
                (app, user, sid)).fetchall()
            assert [r[0] for r in rows] == list(range(1, per_turn * turns + 1))
            events = [r[1] for r in rows]
            assert len({e["id"] for e in events}) == len(events)  # each once
            for t in range(turns):
                turn = events[t * per_turn:(t + 1) * per_turn]
                authors = [e["author"] for e in turn]
                assert authors[0] == "user" and authors[1] == "planner"
                assert sorted(authors[2:5]) == sorted(scripted.PARALLEL)
                assert authors[5] == "summarizer"
                assert turn[0]["content"]["parts"][0]["text"] == f"{sid} t{t}"
                assert len({e["invocation_id"] for e in turn}) == 1
                for e in turn[1:]:
                    assert f"{sid} t{t}" in e["content"]["parts"][0]["text"]
            version, state = sql.execute(
                "SELECT version, state FROM session_store.get_session(%s, %s, %s)",
                (app, user, sid)).fetchone()
            assert version == per_turn * turns
            assert state["owner"] == p
            for n in scripted.PARALLEL:
                assert state[f"out_{n}"].startswith(f"{n}: ")
                assert f"{sid} t{turns - 1}" in state[f"out_{n}"]
            assert state["user:last_plan"].startswith("planner: ")
            assert state["app:last_summary"].startswith("summarizer: ")
    assert sql.execute("SELECT count(*) FROM session_store.list_sessions(%s)",
                       (app,)).fetchone()[0] == 2 * sessions


def test_openai_runner_from_two_processes_on_one_session(db_url, app, sql):
    turns = 6
    reports = run_processes([("openai", db_url, app, p, turns, "shared") for p in (0, 1)])
    for p, r in enumerate(reports):
        assert r["errors"] == []
        assert r["outputs"] == [f"p{p}: p{p} t{t}" for t in range(turns)]
    rows = sql.execute(
        "SELECT seq, message FROM session_store.get_messages(%s, 'u', 'shared')",
        (app,)).fetchall()
    assert [r[0] for r in rows] == list(range(1, 4 * turns + 1))
    items = [r[1] for r in rows]
    inputs = [i["content"] for i in items if i.get("role") == "user"]
    outputs = [i["content"][0]["text"] for i in items if i.get("role") == "assistant"]
    assert Counter(inputs) == Counter(f"p{p} t{t}" for p in (0, 1) for t in range(turns))
    assert Counter(outputs) == Counter(f"p{p}: p{p} t{t}" for p in (0, 1) for t in range(turns))
    for p in (0, 1):  # each process's turns are stored in its order
        assert [x for x in inputs if x.startswith(f"p{p} ")] == [f"p{p} t{t}" for t in range(turns)]
        mine = [x for x in outputs if x.startswith(f"p{p}:")]
        assert mine == [f"p{p}: p{p} t{t}" for t in range(turns)]
    # an output follows its own input
    pos = {json.dumps(i, sort_keys=True): n for n, i in enumerate(items)}
    for n, i in enumerate(items):
        if i.get("role") == "assistant":
            text = i["content"][0]["text"]
            src = text.split(": ", 1)[1]
            assert any(x.get("content") == src for x in items[:n])
    assert len(pos) == len(items)


@pytest.mark.parametrize("procs", [4])
def test_openai_session_add_and_pop_from_processes(db_url, app, sql, procs):
    n = 60
    reports = run_processes([("oa-mix", db_url, app, p, n, "mix") for p in range(procs)])
    popped = []
    for r in reports:
        assert r["errors"] == []
        popped += r["popped"]
    left = [r[0]["content"] for r in sql.execute(
        "SELECT message FROM session_store.get_messages(%s, 'u', 'mix')", (app,))]
    added = [f"p{p}-{i}" for p in range(procs) for i in range(n)]
    # every item is either still there or was popped, exactly once
    assert Counter(left + popped) == Counter(added)
    assert len(popped) == procs * (n // 3)
    for p in range(procs):  # survivors of each process keep its order
        mine = [int(x.split("-")[1]) for x in left if x.startswith(f"p{p}-")]
        assert mine == sorted(mine)
