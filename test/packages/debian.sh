#!/bin/bash
# The Debian package: packaging/build-deb.sh builds
# postgresql-<major>-session-store from debian/ (pg_buildext, as Debian's
# own extension packages); this checks it as a Debian user meets it:
#
#  - its name, version (debian/changelog's, the control file's
#    default_version as semver) and contents (the module, the control
#    file, every install and update script, at the paths of this major);
#  - lintian, when it is installed (it is not installed for this);
#  - installed with apt (packaging/install-deb.sh, as the container
#    recipe does), dpkg --verify clean, the files dpkg says are the
#    package's;
#  - on a fresh cluster (pg_virtualenv) the smoke test the container
#    image runs too (packaging/smoke.sh): CREATE EXTENSION, edition(), a
#    session, an append and a read;
#  - then removed, and the extension files that were installed before
#    (by `make install`, for the suites that run after this one) put back
#    byte for byte.
#
# Needs root (apt-get).  Installs the build dependencies debian/control
# names, once.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/env.sh
fail() { echo "debian: $*" >&2; exit 1; }
trap 'echo "debian: failed at line $LINENO: $BASH_COMMAND" >&2' ERR
[ "$(id -u)" -eq 0 ] || fail "needs root (it installs the package with apt-get)"

pkg=postgresql-$PG_MAJOR-session-store
if [ "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)" = installed ]; then
	fail "$pkg is installed already: this check installs and removes it, remove it first"
fi

work=$(mktemp -d /tmp/session_store_deb_check.XXXXXX)
chmod 755 "$work"                       # apt reads the .deb as user _apt
backup=$work/backup
restore() {
	if [ "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)" = installed ]; then
		DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 \
			remove -y -qq "$pkg" >/dev/null || echo "debian: could not remove $pkg" >&2
	fi
	[ -f "$backup.tar" ] && tar -xpf "$backup.tar" -C /
	rm -rf "$work"
}
trap restore EXIT

# build
start=$SECONDS
PG_MAJOR=$PG_MAJOR bash packaging/build-deb.sh "$work/debs" > "$work/build.log" 2>&1 ||
	{ tail -40 "$work/build.log"; fail "the package does not build"; }
deb=$(ls "$work/debs/${pkg}_"*.deb)
echo "built $(basename "$deb") in $((SECONDS - start)) s"

# name, version, contents
default=$(sed -n "s/^default_version = '\(.*\)'$/\1/p" session_store.control)
changelog=$(dpkg-parsechangelog -S Version)
[ "$(dpkg-deb -f "$deb" Package)" = "$pkg" ] || fail "package name $(dpkg-deb -f "$deb" Package)"
[ "$(dpkg-deb -f "$deb" Version)" = "$changelog" ] || fail "package version is not debian/changelog's $changelog"
[ "$changelog" = "$default.0" ] || fail "debian/changelog's version $changelog is not the control file's $default as semver ($default.0)"
dpkg-deb -f "$deb" Depends | grep -q "postgresql-$PG_MAJOR" || fail "does not depend on postgresql-$PG_MAJOR"
dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|' > "$work/contents"
libdir=/usr/lib/postgresql/$PG_MAJOR/lib
extdir=/usr/share/postgresql/$PG_MAJOR/extension
want=("$libdir/session_store.so" "$extdir/session_store.control")
for f in session_store--*.sql; do want+=("$extdir/$f"); done
for f in "${want[@]}"; do
	grep -qxF "$f" "$work/contents" || fail "the package lacks $f"
done
echo "contents: ${#want[@]} files where PostgreSQL $PG_MAJOR looks for them ($(grep -c '[^/]$' "$work/contents") files in all)"
if command -v lintian >/dev/null; then
	lintian --fail-on error "$deb" || fail "lintian errors"
	echo "lintian: no errors"
else
	echo "lintian: not installed, skipped"
fi

# the files this will replace, kept to be put back afterwards
grep '[^/]$' "$work/contents" | while read -r f; do
	if [ -e "$f" ]; then echo "${f#/}"; fi
done > "$work/replaced"
if [ -s "$work/replaced" ]; then
	tar -cpf "$backup.tar" -C / -T "$work/replaced"
	(cd / && sha256sum $(cat "$work/replaced")) > "$work/replaced.sha256"
fi

# install
bash packaging/install-deb.sh "$deb"
dpkg --verify "$pkg" || fail "dpkg --verify $pkg"
[ "$(dpkg -S "$libdir/session_store.so" | cut -d: -f1)" = "$pkg" ] ||
	fail "$libdir/session_store.so is not the package's"

# the smoke test, on a fresh cluster of this major
pg_virtualenv -v "$PG_MAJOR" -i --locale=C.UTF-8 bash packaging/smoke.sh ||
	fail "the smoke test failed on the installed package"

# remove, and put back what was there
DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 remove -y -qq "$pkg" >/dev/null
[ ! -e "$libdir/session_store.so" ] || [ -s "$work/replaced" ] ||
	fail "removing $pkg left $libdir/session_store.so"
if [ -s "$work/replaced" ]; then
	tar -xpf "$backup.tar" -C /
	(cd / && sha256sum --quiet -c "$work/replaced.sha256") || fail "the previous files were not restored"
	rm -f "$backup.tar"
	echo "removed $pkg; put back the $(wc -l < "$work/replaced") files installed before it"
else
	echo "removed $pkg (no extension files were installed before it)"
fi
