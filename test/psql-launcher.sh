#!/bin/bash
# pg_regress --launcher: run its psql with SHOW_CONTEXT=never, so that an
# error raised inside a function prints its message, detail and hint but no
# CONTEXT lines.  The portable edition's functions are PL/pgSQL, whose errors
# carry a "PL/pgSQL function ... line N" context that the C edition's do
# not: without it both editions' outputs are compared line for line.
psql=$1; shift
exec "$psql" -v SHOW_CONTEXT=never "$@"
