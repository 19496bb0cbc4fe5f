#!/bin/sh
# pg_regress --launcher for regress-portable: runs its psql with
# SHOW_CONTEXT=never.  An error raised inside a PL/pgSQL function carries a
# CONTEXT field (the function and line it came from), which the C edition's
# errors do not have; the message, DETAIL, HINT and SQLSTATE are what the
# two editions share, and what the expected files compare.  (The C
# edition's expected files hold no CONTEXT line at all, so this hides none
# of theirs.)
psql=$1
shift
exec "$psql" -v SHOW_CONTEXT=never "$@"
