"""python -m session_store install URL   the portable edition, when the
                                        database holds no edition yet
   python -m session_store edition URL   which edition and version it holds

Prints "edition version" (e.g. "portable 1.2"); exit status 1 with the
server's message on an error."""
from __future__ import annotations

import argparse
import sys

from . import SessionStore, install


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m session_store",
        description="Install the portable edition of session_store, or tell "
                    "which edition a database holds.")
    parser.add_argument("command", choices=("install", "edition"))
    parser.add_argument("url", help="a postgresql:// URL or libpq DSN")
    args = parser.parse_args(argv)
    try:
        if args.command == "install":
            edition, version = install(args.url)
        else:
            with SessionStore(args.url, _pooled=False) as store:
                edition, version = store.edition()
    except Exception as e:  # noqa: BLE001 - reported, never a traceback
        print(f"session_store {args.command}: {e}", file=sys.stderr)
        return 1
    print(edition, version)
    return 0


if __name__ == "__main__":
    sys.exit(main())
