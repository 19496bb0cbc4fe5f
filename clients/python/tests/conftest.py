"""Fixtures: a fresh database with the extension on the server the libpq
environment points at (pg_virtualenv sets PGHOST, PGPORT, PGUSER,
PGPASSWORD), and helpers to reach it by URL or DSN."""
import os
import socket
import uuid
from urllib.parse import quote

import psycopg
import pytest


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
        c.execute("CREATE EXTENSION session_store")
    return server_url(name)


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
