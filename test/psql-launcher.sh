#!/bin/bash
# pg_regress --launcher: run its psql with SHOW_CONTEXT=never, so that an
# error raised inside a function prints its message, detail and hint but no
# CONTEXT lines.  The portable edition's functions are PL/pgSQL, whose errors
# carry a "PL/pgSQL function ... line N" context that the C edition's do
# not: without it both editions' outputs are compared line for line.
#
# big_app: how many sessions the listing tests' big app holds, for their
# page-cost checks (a page must cost the same beside 1,000 as beside this
# many); test/valgrind.sh makes it smaller, where every row is slow.
psql=$1; shift
exec "$psql" -v SHOW_CONTEXT=never -v big_app="${SS_REGRESS_BIG_APP:-100000}" "$@"
