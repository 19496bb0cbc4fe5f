"""Fixtures: a fresh database with session_store on the server the libpq
environment points at (pg_virtualenv sets PGHOST, PGPORT, PGUSER,
PGPASSWORD), and helpers to reach it by URL or DSN.

SS_EDITION picks the edition the suite runs on: "c" (the default: CREATE
EXTENSION session_store) or "portable" (the repository's
portable/session_store.sql, made by portable/build.sh, run as it is)."""
import os
import socket
import uuid
from urllib.parse import quote

import psycopg
import pytest

EDITION = os.environ.get("SS_EDITION", "c")
if EDITION not in ("c", "portable"):
    raise RuntimeError(f"SS_EDITION must be c or portable, not {EDITION!r}")
PORTABLE_SQL = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                            "..", "..", "..", "portable", "session_store.sql")


def install_edition(conn) -> None:
    """The suite's edition into conn's database (an autocommit connection)."""
    if EDITION == "portable":
        with open(PORTABLE_SQL, encoding="utf-8") as f:
            conn.execute(f.read())
    else:
        conn.execute("CREATE EXTENSION session_store")
    got = conn.execute("SELECT edition FROM session_store.edition()").fetchone()[0]
    assert got == EDITION, f"the database holds the {got} edition, not {EDITION}"


def server_url(dbname: str, port=None, host=None) -> str:
    user = quote(os.environ.get("PGUSER", "postgres"))
    password = os.environ.get("PGPASSWORD")
    auth = user + (":" + quote(password) if password else "")
    host = host or os.environ.get("PGHOST", "localhost")
    port = port or os.environ.get("PGPORT", "5432")
    return f"postgresql://{auth}@{host}:{port}/{dbname}"


def fresh_database(name: str) -> str:
    with psycopg.connect(dbname="postgres", autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        c.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(dbname=name, autocommit=True) as c:
        install_edition(c)
    return server_url(name)


def empty_database(name: str) -> str:
    """A fresh database with no edition installed."""
    with psycopg.connect(dbname="postgres", autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        c.execute(f'CREATE DATABASE "{name}"')
    return server_url(name)


def drop_database(name: str) -> None:
    with psycopg.connect(dbname="postgres", autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def db_url():
    return fresh_database(os.environ.get("SS_PYTEST_DB", "session_store_pytest"))


@pytest.fixture
def app():
    """An app name no other test uses."""
    return "app-" + uuid.uuid4().hex[:12]


@pytest.fixture
def sql(db_url):
    """A plain autocommit connection for checks through SQL."""
    with psycopg.connect(db_url, autocommit=True) as c:
        yield c


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
