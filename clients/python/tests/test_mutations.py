"""The adapters' mechanisms are each caught by a test: the package is copied
with one mechanism removed, and the tests that guard it must then fail."""
import os
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "..", "src", "session_store")

MUTATIONS = [
    ("no expected_version", "adk.py",
     "expected_version=expected, idempotency_key",
     "expected_version=None, idempotency_key", "test_adk.py", "stale"),
    ("no idempotency key", "adk.py",
     "idempotency_key=event.id or None,", "idempotency_key=None,",
     "test_adk.py", "retried or reused"),
    ("null removes the key", "adk.py",
     "keep_nulls=True, message_time", "keep_nulls=None, message_time",
     "test_adk_conformance.py", "none_valued and session_store"),
    ("no message time", "adk.py",
     "message_time=message_time,", "message_time=None,",
     "test_adk_conformance.py", "(with_config or last_update) and session_store"),
    ("no check of a copy without a marker", "adk.py",
     "expected = await self._markerless_version(session, event)", "expected = None",
     "test_adk_conformance.py", "markerless and session_store"),
    ("listed sessions without state", "adk.py",
     "user_id=r.user_id, state=r.state, events=[]", "user_id=r.user_id, state={}, events=[]",
     "test_adk_conformance.py", "list_sessions and session_store"),
    ("listed last_update_time from the update time", "adk.py",
     "last = r.latest_message_time or r.create_time", "last = r.update_time",
     "test_adk_conformance.py", "listed_last_update_time and session_store"),
    ("last_update_time without events from the update time", "adk.py",
     "last = got.latest_message_time or row.create_time",
     "last = got.latest_message_time or row.update_time",
     "test_adk.py", "without_events"),
    ("named prepared statements", "_store.py",
     "cur.execute(call.sql, call.params, prepare=False)",
     "cur.execute(call.sql, call.params, prepare=True)",
     "test_client.py", "round_trip"),
    ("nothing retried", "_retry.py",
     "if policy is None or not connection_lost(err):", "if True:",
     "test_retry.py", "retried or lost_reply or pool_passed_in"),
    ("autocommit reset on a dead connection", "_store.py",
     "if switched and not conn.closed:", "if switched:",
     "test_retry.py", "surfaces"),
    ("idle pooled connections not tested on a retry", "_store.py",
     "if attempts.number > 1:", "if False:",
     "test_retry.py", "pool_passed_in"),
    ("no key made for a call", "_store.py",
     "if key is None and self._retry is not None:", "if False:",
     "test_retry.py", "keys_are_made or lost_reply"),
]


@pytest.mark.parametrize("name,file,old,new,tests,select", MUTATIONS,
                         ids=[m[0] for m in MUTATIONS])
def test_mutation_is_caught(tmp_path, name, file, old, new, tests, select):
    pkg = tmp_path / "session_store"
    shutil.copytree(SRC, pkg)
    path = pkg / file
    text = path.read_text()
    assert text.count(old) >= 1, f"{name}: the code to mutate is not there"
    path.write_text(text.replace(old, new))
    env = dict(os.environ, PYTHONPATH=str(tmp_path),
               SS_PYTEST_DB="session_store_pytest_mutation")
    where = subprocess.run([sys.executable, "-c",
                            "import session_store; print(session_store.__file__)"],
                           capture_output=True, text=True, env=env, cwd=HERE)
    assert where.stdout.startswith(str(tmp_path)), where.stdout + where.stderr
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          os.path.join(HERE, tests), "-k", select],
                         capture_output=True, text=True, env=env, cwd=HERE, timeout=600)
    assert run.returncode == 1 and " failed" in run.stdout, run.stdout[-2000:]
