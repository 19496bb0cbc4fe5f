# Sourced by the test scripts: where PostgreSQL lives, and how to run a
# command as an unprivileged user (initdb and postgres refuse root).
# PG_CONFIG, when set in the environment, names the installation to use
# (as it does for the Makefile): a private build, say.
PG_MAJOR="${PG_MAJOR:-15}"
if [ -n "${PG_CONFIG:-}" ] && [ -x "$PG_CONFIG" ]; then
	PG_BIN=$("$PG_CONFIG" --bindir)
	PGXS_DIR=$(cd "$(dirname "$("$PG_CONFIG" --pgxs)")/../.." && pwd)
else
	PG_BIN="/usr/lib/postgresql/$PG_MAJOR/bin"
	PGXS_DIR="/usr/lib/postgresql/$PG_MAJOR/lib/pgxs"
fi
PYTHON=/usr/bin/python3			# Debian's python, where python3-psycopg lives
export PG_MAJOR PYTHON

# make_work_dir PREFIX: sets WORK to a fresh directory that the unprivileged
# user owns, and AS_USER to the command prefix that runs as that user.
make_work_dir() {
	WORK=$(mktemp -d "/tmp/$1.XXXXXX")
	AS_USER=()
	if [ "$(id -u)" -eq 0 ]; then
		chown postgres: "$WORK"
		AS_USER=(runuser -u postgres --)
	fi
}
