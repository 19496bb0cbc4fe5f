#!/bin/bash
# The smoke test of an installed session_store package (packaging/smoke.sql)
# on the server the libpq environment names (PGHOST, PGPORT, PGUSER,
# PGDATABASE), as a role that may CREATE EXTENSION.  The expected version is
# the control file's default_version (session_store.control beside this
# folder) unless SS_EXPECT_VERSION gives it.  Leaves the database as it was.
#
#   packaging/smoke.sh
#
# Run by test/packages/debian.sh on a fresh cluster with the .deb installed,
# and by the container image's first start (packaging/docker-init.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version=${SS_EXPECT_VERSION:-$(sed -n "s/^default_version = '\(.*\)'$/\1/p" "$here/../session_store.control")}
[ -n "$version" ] || { echo "smoke: no expected version" >&2; exit 1; }
export PGCLIENTENCODING=UTF8    # smoke.sql is UTF-8
exec psql -X -v ON_ERROR_STOP=1 -v version="$version" -f "$here/smoke.sql"
