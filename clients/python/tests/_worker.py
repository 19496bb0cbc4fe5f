"""One OS process of the multi-process tests: runs a workload through an
adapter and prints a JSON report on stdout.

    _worker.py adk    URL APP PROC SESSIONS TURNS START_AT
    _worker.py openai URL APP PROC TURNS SESSION_ID START_AT
    _worker.py oa-mix URL APP PROC ITEMS SESSION_ID START_AT
    _worker.py faults URL APP PROC STOP_FILE POLICY_JSON START_AT

START_AT (a Unix time, always last) releases the processes together.
"""
import asyncio
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import faultload  # noqa: E402
import scripted  # noqa: E402
from agents import Runner  # noqa: E402
from google.adk.runners import Runner as AdkRunner  # noqa: E402
from google.genai import types  # noqa: E402

from session_store import AsyncSessionStore, RetryPolicy  # noqa: E402
from session_store.adk import SessionStoreService  # noqa: E402
from session_store.openai_agents import SessionStoreSession  # noqa: E402


def wait_until(start_at: float) -> None:
    delay = start_at - time.time()
    if delay > 0:
        time.sleep(delay)


async def adk(url, app, proc, sessions, turns):
    service = SessionStoreService(AsyncSessionStore(url, max_size=8))
    runner = AdkRunner(app_name=app, agent=scripted.adk_agent(),
                       session_service=service)
    errors, events = [], 0

    async def conversation(k):
        nonlocal events
        user = f"user{k % 2}"
        sid = f"p{proc}-s{k}"
        await service.create_session(app_name=app, user_id=user, session_id=sid,
                                     state={"owner": proc})
        for t in range(turns):
            msg = types.Content(role="user", parts=[types.Part(text=f"{sid} t{t}")])
            try:
                async for _ in runner.run_async(user_id=user, session_id=sid,
                                                new_message=msg):
                    events += 1
            except Exception as e:  # noqa: BLE001 - reported
                errors.append(repr(e))

    await asyncio.gather(*[conversation(k) for k in range(sessions)])
    await service.store.close()
    return {"events": events, "errors": errors}


async def openai(url, app, proc, turns, session_id):
    store = AsyncSessionStore(url, max_size=2)
    session = SessionStoreSession(session_id, store, app_name=app, user_id="u")
    agent = scripted.openai_agent(f"p{proc}")
    errors, outputs = [], []
    for t in range(turns):
        try:
            result = await Runner.run(agent, f"p{proc} t{t}", session=session)
            outputs.append(result.final_output)
        except Exception as e:  # noqa: BLE001 - reported
            errors.append(repr(e))
    await store.close()
    return {"outputs": outputs, "errors": errors}


async def oa_mix(url, app, proc, items, session_id):
    store = AsyncSessionStore(url, max_size=2)
    session = SessionStoreSession(session_id, store, app_name=app, user_id="u")
    popped, errors = [], []
    for i in range(items):
        try:
            await session.add_items([{"role": "user", "content": f"p{proc}-{i}"}])
            if i % 3 == 2:
                item = await session.pop_item()
                if item is not None:
                    popped.append(item["content"])
        except Exception as e:  # noqa: BLE001 - reported
            errors.append(repr(e))
    await store.close()
    return {"popped": popped, "errors": errors}


# a worker of "faults" gives up after this long without the stop file
FAULTS_DEADLINE = 90.0


async def faults(url, app, proc, stop_file, policy):
    """faultload.adapters, at least 20 turns per session, until the parent
    creates stop_file (once its backend killer reached its quota), on a
    pool of this process's own; reports what it wrote, how many retries,
    and whether a session stopped for its own deadline instead."""
    store = AsyncSessionStore(url, retry=RetryPolicy(**policy), max_size=4)
    deadline = time.monotonic() + FAULTS_DEADLINE
    late = [False]

    def more(i):
        if i < 20:
            return True
        if os.path.exists(stop_file):
            return False
        late[0] = time.monotonic() >= deadline
        return not late[0]
    with faultload.RetryCount() as retries:
        out = await faultload.adapters(store, app, f"p{proc}", 2, 2, more)
    await store.close()
    out["retries"] = retries.count
    out["out_of_time"] = late[0]
    return out


def main(argv):
    mode, url, app, proc = argv[1], argv[2], argv[3], int(argv[4])
    wait_until(float(argv[-1]))
    if mode == "adk":
        out = asyncio.run(adk(url, app, proc, int(argv[5]), int(argv[6])))
    elif mode == "openai":
        out = asyncio.run(openai(url, app, proc, int(argv[5]), argv[6]))
    elif mode == "oa-mix":
        out = asyncio.run(oa_mix(url, app, proc, int(argv[5]), argv[6]))
    elif mode == "faults":
        out = asyncio.run(faults(url, app, proc, argv[5], json.loads(argv[6])))
    else:
        raise SystemExit(f"unknown mode {mode}")
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv)
