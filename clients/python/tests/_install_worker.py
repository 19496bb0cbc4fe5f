"""The body of one process of test_install's many-installers test, in a
module of its own so that a spawned process imports nothing heavier."""
import os

from session_store import SessionStore


def install_at_once(url, barrier, queue):
    try:
        barrier.wait(60)
        with SessionStore(url, install=True, retry=False) as store:
            store.create_session(app_name="many", user_id="u", session_id=f"p{os.getpid()}")
            queue.put(store.edition())
    except BaseException as e:  # noqa: BLE001 - reported to the parent
        queue.put(repr(e))
