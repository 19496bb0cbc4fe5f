"""Helpers shared by the Python stress, fuzz and leak tests and the demo.

Connections come from the usual libpq environment (PGHOST, PGPORT, PGUSER,
PGPASSWORD), which pg_virtualenv sets.  Only Debian's python3-psycopg is
needed.
"""
import os
import sys
import threading
import time

import psycopg


def connect(dbname=None, autocommit=True):
    """A new connection to dbname (default: $PGDATABASE)."""
    kwargs = {"autocommit": autocommit}
    if dbname:
        kwargs["dbname"] = dbname
    return psycopg.connect(**kwargs)


# The edition the tests install: SS_EDITION=c (the default, CREATE
# EXTENSION) or portable (portable/session_store.sql, run as one script).
EDITION = os.environ.get("SS_EDITION", "c")
if EDITION not in ("c", "portable"):
    raise SystemExit(f"SS_EDITION must be c or portable, not {EDITION!r}")
PORTABLE_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                               "..", "..", "portable", "session_store.sql")


def install(conn):
    """Install the edition named by SS_EDITION in conn's database."""
    if EDITION == "portable":
        with open(PORTABLE_SCRIPT, encoding="utf-8") as f:
            script = f.read()
        # its own BEGIN ... COMMIT; notices (drop cascades ...) are not wanted
        conn.execute("SET client_min_messages = warning")
        conn.execute(script)
        conn.execute("RESET client_min_messages")
    else:
        conn.execute("CREATE EXTENSION session_store")


def fresh_database(name):
    """Drop and create database name, with the edition installed."""
    with connect("postgres") as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        c.execute(f'CREATE DATABASE "{name}"')
    with connect(name) as c:
        install(c)
    return name


def run_parallel(n, fn, *args):
    """Run fn(i, barrier, *args) in n threads that start together.

    Returns the list of results, in thread order.  An exception in a thread
    is returned as its result, so callers can count failures.
    """
    barrier = threading.Barrier(n)
    results = [None] * n

    def wrap(i):
        try:
            results[i] = fn(i, barrier, *args)
        except BaseException as e:  # noqa: BLE001 - reported by the caller
            results[i] = e

    threads = [threading.Thread(target=wrap, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


class Checker:
    """Collects named checks; exit status 1 if any failed."""

    def __init__(self, title):
        self.title = title
        self.failed = 0
        self.passed = 0
        self.started = time.monotonic()
        print(f"# {title}")

    def check(self, ok, what, detail=""):
        if ok:
            self.passed += 1
            print(f"ok   {what}")
        else:
            self.failed += 1
            print(f"FAIL {what}{': ' + str(detail) if detail else ''}")
        sys.stdout.flush()
        return ok

    def done(self):
        took = time.monotonic() - self.started
        print(f"# {self.title}: {self.passed} passed, {self.failed} failed, {took:.1f}s")
        sys.exit(1 if self.failed else 0)


def sqlstate(exc):
    """The SQLSTATE of a psycopg error, or None."""
    return getattr(exc, "sqlstate", None)


def env_int(name, default):
    return int(os.environ.get(name, default))


def server_identity(conn):
    """(backend pid, postmaster start time) of conn.  The start time changes
    only when the postmaster itself restarts; after a backend crash the
    postmaster reinitializes and keeps it, so a crash shows as the broken
    connection (and a new pid on a new one)."""
    return tuple(conn.execute("SELECT pg_backend_pid(), pg_postmaster_start_time()").fetchone())
