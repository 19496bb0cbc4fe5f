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
# Those files are kept, while the package is installed, in
# /var/tmp/session_store_deb_backup (a tar of them and their sha256 sums),
# not in a temporary directory: a run that is killed before it puts them
# back (SIGKILL, a CI timeout) leaves the package installed and that
# backup, and the next run removes the package and puts the files back
# first, then goes on.  A put-back that fails (tar, or a sum that does not
# match) fails the run and keeps the backup.  One run at a time: the next
# waits for /var/tmp/session_store_deb_backup.lock.
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
# its files are on disk (installed, or left half-installed by apt)
present() {
	case "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)" in
	'' | not-installed | config-files) return 1 ;;
	*) return 0 ;;
	esac
}

keep=/var/tmp/session_store_deb_backup broken=
exec 9>"$keep.lock"
flock -n 9 || { echo "debian: waiting for the run that holds $keep.lock"; flock -w 900 9; } ||
	fail "another run still holds $keep.lock"

# put_back: $pkg removed if its files are on disk, then the files it
# replaced, kept in $keep, put back (all of them: a put-back cut short
# may have left some half written) and checked against their sums; $keep
# is deleted once they all match.  Says why and returns 1 when something
# is not back.  Sets removed=1 when it removed the package.
put_back() {
	removed=
	if present; then
		DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 \
			remove -y -qq "$pkg" >/dev/null ||
			{ echo "debian: could not remove $pkg" >&2; return 1; }
		removed=1
	fi
	[ -d "$keep" ] || return 0
	if [ -s "$keep/files" ]; then
		tar -xpf "$keep/files.tar" -C / ||
			{ echo "debian: tar could not put back the files from $keep/files.tar" >&2; return 1; }
		(cd / && sha256sum --quiet --strict -c "$keep/files.sha256" >&2) ||
			{ echo "debian: the files put back do not match $keep/files.sha256" >&2; return 1; }
	fi
	rm -rf "$keep"
}
# not_back: after a put_back that failed; the exit trap does not try again
not_back() {
	broken=1
	echo "debian: the files $pkg replaced are NOT back; they are kept in $keep" \
		"(files.tar, files.sha256; put back with: tar -xpf $keep/files.tar -C / &&" \
		"(cd / && sha256sum -c $keep/files.sha256)) and the next run tries again" >&2
}

# what a killed run left: a backup it did not finish (the package was not
# installed after it), or the package installed with its backup
rm -rf "$keep.new"
if [ -d "$keep" ]; then
	echo "debian: an earlier run was stopped before it put back the files $pkg replaced: doing it now"
	n=$(wc -l <"$keep/files" 2>/dev/null || echo 0)
	put_back || { not_back; fail "could not put back what an earlier run left"; }
	echo "debian: ${removed:+$pkg removed; }the $n files it had replaced put back and checked"
fi
if present; then
	fail "$pkg is installed already (and $keep holds no backup of a run of this check): remove it first"
fi

work=$(mktemp -d /tmp/session_store_deb_check.XXXXXX)
chmod 755 "$work"                       # apt reads the .deb as user _apt
finish() {
	local rc=$?
	trap - ERR
	if [ -n "$broken" ]; then rc=1
	elif ! put_back; then not_back; rc=1; fi
	rm -rf "$work" "$keep.new"
	exit $rc
}
trap finish EXIT

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

# the files this will replace, kept in $keep to be put back afterwards
# (written beside it, then renamed: $keep is a complete backup)
mkdir -p "$keep.new"
grep '[^/]$' "$work/contents" | while read -r f; do
	if [ -e "$f" ]; then echo "${f#/}"; fi
done > "$keep.new/files"
if [ -s "$keep.new/files" ]; then
	tar -cpf "$keep.new/files.tar" -C / -T "$keep.new/files"
	(cd / && sha256sum $(cat "$keep.new/files")) > "$keep.new/files.sha256"
fi
sync "$keep.new"/*
mv "$keep.new" "$keep"
replaced=$(wc -l < "$keep/files")

# install
bash packaging/install-deb.sh "$deb"
dpkg --verify "$pkg" || fail "dpkg --verify $pkg"
[ "$(dpkg -S "$libdir/session_store.so" | cut -d: -f1)" = "$pkg" ] ||
	fail "$libdir/session_store.so is not the package's"

# the smoke test, on a fresh cluster of this major
pg_virtualenv -v "$PG_MAJOR" -i --locale=C.UTF-8 bash packaging/smoke.sh 9>&- ||
	fail "the smoke test failed on the installed package"

# remove, and put back what was there
DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 remove -y -qq "$pkg" >/dev/null
[ ! -e "$libdir/session_store.so" ] || [ "$replaced" -gt 0 ] ||
	fail "removing $pkg left $libdir/session_store.so"
put_back || { not_back; fail "the previous files were not restored"; }
if [ "$replaced" -gt 0 ]; then
	echo "removed $pkg; put back the $replaced files installed before it"
else
	echo "removed $pkg (no extension files were installed before it)"
fi
