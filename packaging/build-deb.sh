#!/bin/bash
# Build the Debian package postgresql-<major>-session-store from this source
# tree, as Debian builds its own PostgreSQL extension packages (debian/,
# pg_buildext), and put the .deb files into OUTDIR.
#
#   packaging/build-deb.sh OUTDIR
#
# PG_MAJOR (default 15) is the PostgreSQL major to build for: the one the
# postgres:<major> image or the Debian release carries.  As root, the build
# dependencies debian/control names are installed first (apt-get build-dep);
# the build-time installcheck is skipped unless SS_DEB_CHECK=1 (it needs
# postgresql-all, and the test suites run the same checks).  The build runs
# in a scratch copy of the tree's files (tracked and untracked, never build
# products), so the tree is left as it was.  Used by test/packages/debian.sh
# and by packaging/Dockerfile.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
mkdir -p "$1"
out=$(cd "$1" && pwd)
cd "$(dirname "$0")/.."

PG_MAJOR=${PG_MAJOR:-15}
# build for this major only, whatever else postgresql-common lists (the
# PGDG repository of the postgres images lists every major it carries)
export PG_SUPPORTED_VERSIONS=$PG_MAJOR
# debian/control is made for 15; for another major it is remade
export PG_UPDATECONTROL=yes
if [ "${SS_DEB_CHECK:-0}" = 1 ]; then
	profiles=()
else
	export DEB_BUILD_OPTIONS="nocheck${DEB_BUILD_OPTIONS:+ $DEB_BUILD_OPTIONS}"
	export DEB_BUILD_PROFILES=nocheck
	profiles=(-P nocheck)
fi

if [ "$(id -u)" -eq 0 ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt_opts=(-o DPkg::Lock::Timeout=300 -y -qq --no-install-recommends)
	if ! command -v dpkg-buildpackage >/dev/null || ! command -v dh >/dev/null ||
	   ! command -v pg_buildext >/dev/null ||
	   [ ! -x "/usr/lib/postgresql/$PG_MAJOR/bin/pg_config" ]; then
		apt-get update -qq
		apt-get install "${apt_opts[@]}" dpkg-dev >/dev/null
	fi
	# what debian/control's Build-Depends name, for this major
	apt-get build-dep "${apt_opts[@]}" "${profiles[@]}" ./ >/dev/null 2>&1 || {
		apt-get update -qq
		apt-get build-dep "${apt_opts[@]}" "${profiles[@]}" ./ >/dev/null
	}
	apt-get install "${apt_opts[@]}" "postgresql-server-dev-$PG_MAJOR" >/dev/null
fi

version=$(dpkg-parsechangelog -S Version)
scratch=$(mktemp -d /tmp/session_store_deb.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
src=$scratch/session-store-$version
mkdir -p "$src"
if command -v git >/dev/null && git rev-parse --git-dir >/dev/null 2>&1; then
	git ls-files -z --cached --others --exclude-standard |
		xargs -0 -r sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
		tar --null -T - -cf - | tar -xf - -C "$src"
else
	# no git (a container build context): every file but build products
	tar --exclude=.git --exclude='*.o' --exclude='*.so' --exclude='*.bc' \
		--exclude=results --exclude=output_iso --exclude=tmp_check \
		--exclude=node_modules --exclude=.venv -cf - . | tar -xf - -C "$src"
fi
(cd "$src" && dpkg-buildpackage -us -uc -b)
cp "$scratch"/*.deb "$out"/
ls "$out"/*.deb
