#!/bin/bash
# The PGXN package: `make dist` makes session_store-<version>.zip, the
# archive PGXN takes; this checks it as PGXN and its users meet it:
#
#  - the archive holds exactly the committed files (git ls-files of HEAD),
#    all under one folder session_store-<version>;
#  - its META.json validates against PGXN's Meta Spec v1 JSON Schemas
#    (pgxn_meta, the validator PGXN publishes on crates.io, built once
#    with cargo and cached in $SS_PGXN_META_ROOT; without cargo, a check of
#    every field the v1 spec requires, which says so);
#  - META.json agrees with the sources: the distribution's and the
#    extension's versions are the control file's default_version as semver,
#    the PostgreSQL prerequisite is the oldest major src/compat.h builds
#    on, the files it names are in the archive;
#  - the unpacked archive builds with PGXS and installs (into a scratch
#    DESTDIR, the machine's PostgreSQL is not touched) the module, the
#    control file and every install and update script, so that the default
#    version can be created.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/env.sh

PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/$PG_MAJOR/bin/pg_config}
META_ROOT=${SS_PGXN_META_ROOT:-/var/tmp/session_store_pgxn_meta}
META_VERSION=0.7.0
fail() { echo "pgxn: $*" >&2; exit 1; }

work=$(mktemp -d /tmp/session_store_pgxn.XXXXXX)
trap 'rm -rf "$work"' EXIT

# the archive
git rev-parse --verify -q HEAD >/dev/null || fail "no commit to archive"
zip=$(make -s --no-print-directory dist | tail -1)
version=$(make -s --no-print-directory print-DIST_VERSION)
[ "$zip" = "session_store-$version.zip" ] || fail "make dist made '$zip', expected session_store-$version.zip"
mv "$zip" "$work/"
echo "made $zip ($(stat -c %s "$work/$zip") bytes)"

# exactly the committed files, under session_store-<version>/
top=session_store-$version
"$PYTHON" - "$work/$zip" "$top" <<'EOF' > "$work/archived"
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
top = sys.argv[2] + "/"
outside = [n for n in names if not n.startswith(top)]
if outside:
    sys.exit(f"entries outside {top}: {outside[:5]}")
for n in sorted(names):
    if not n.endswith("/"):
        print(n[len(top):])
EOF
git ls-tree -r --name-only HEAD | sort > "$work/committed"
if ! diff -u "$work/committed" "$work/archived"; then
	fail "the archive's files are not the committed ones"
fi
echo "archive: $(wc -l < "$work/archived") files, the committed ones, under $top/"

(cd "$work" && "$PYTHON" -m zipfile -e "$zip" .)
dist=$work/$top

# META.json against PGXN's JSON Schemas
validator=$META_ROOT/bin/pgxn_meta
PATH=$PATH:$HOME/.cargo/bin             # where rustup puts cargo
if [ ! -x "$validator" ] && command -v cargo >/dev/null; then
	echo "building pgxn_meta $META_VERSION (once; cached in $META_ROOT)"
	nice cargo install --quiet --locked --root "$META_ROOT" pgxn_meta --version "$META_VERSION" ||
		echo "pgxn: cargo install pgxn_meta failed" >&2
fi
if [ -x "$validator" ]; then
	(cd "$dist" && "$validator" META.json) || fail "META.json fails PGXN's meta spec"
	echo "META.json: valid by pgxn_meta $("$validator" --version 2>/dev/null | awk '{print $NF}') (PGXN Meta Spec v1 schemas)"
	schema_checked=1
else
	echo "pgxn: pgxn_meta is not available (no cargo): checking the v1 spec's required fields only" >&2
	schema_checked=0
fi

# META.json against the sources, and the v1 required fields when the
# schemas could not be run
"$PYTHON" - "$dist" "$schema_checked" <<'EOF'
import json, os, re, sys
dist, schema_checked = sys.argv[1], sys.argv[2] == "1"
meta = json.load(open(os.path.join(dist, "META.json")))
errors = []

def need(cond, msg):
    if not cond:
        errors.append(msg)

semver = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?$")
if not schema_checked:
    # PGXN Meta Spec v1, "Structure": the required fields and their forms
    for field in ("name", "abstract", "version", "maintainer", "license",
                  "provides", "meta-spec"):
        need(field in meta, f"required field {field} missing")
    need(re.fullmatch(r"[^/\\\s]{2,}", str(meta.get("name", ""))) is not None, "bad name")
    need(semver.match(str(meta.get("version", ""))) is not None, "version is not semver")
    m = meta.get("maintainer")
    need(isinstance(m, str) and m or isinstance(m, list) and m and all(isinstance(x, str) for x in m),
         "maintainer is not a string or a list of strings")
    need(meta.get("meta-spec", {}).get("version") == "1.0.0", "meta-spec version is not 1.0.0")
    need(isinstance(meta.get("provides"), dict) and meta["provides"], "provides is empty")
    for ext, p in meta.get("provides", {}).items():
        need("file" in p and "version" in p, f"provides.{ext} lacks file or version")
        need(semver.match(str(p.get("version", ""))) is not None, f"provides.{ext}.version is not semver")
    need(meta.get("release_status", "stable") in ("stable", "testing", "unstable"), "bad release_status")

# the sources
control = open(os.path.join(dist, "session_store.control")).read()
default = re.search(r"^default_version\s*=\s*'([^']+)'", control, re.M).group(1)
as_semver = default if default.count(".") == 2 else default + ".0" * (2 - default.count("."))
need(meta["name"] == "session_store", f"name is {meta['name']}")
need(os.path.basename(dist) == f"session_store-{meta['version']}",
     f"the archive's folder {os.path.basename(dist)} is not session_store-{meta['version']}")
need(meta["version"] == as_semver, f"version {meta['version']} is not the control file's {default} ({as_semver})")
ext = meta["provides"].get("session_store")
need(ext is not None, "provides has no session_store")
if ext:
    need(ext["version"] == as_semver, f"provides version {ext['version']} is not {as_semver}")
    for key in ("file", "docfile"):
        if key in ext:
            need(os.path.isfile(os.path.join(dist, ext[key])), f"provides.{key} {ext[key]} not in the archive")
compat = open(os.path.join(dist, "src/compat.h")).read()
oldest = int(re.search(r"#if PG_VERSION_NUM < (\d+)\s*\n#error", compat).group(1)) // 10000
need(meta["prereqs"]["runtime"]["requires"].get("PostgreSQL") == f"{oldest}.0.0",
     f"PostgreSQL prerequisite is not {oldest}.0.0, the oldest src/compat.h builds on")
if errors:
    sys.exit("META.json: " + "; ".join(errors))
print(f"META.json: version {meta['version']} = control {default}, PostgreSQL >= {oldest}, files present")
EOF

# build and install the unpacked archive with PGXS, into a scratch DESTDIR
dest=$work/dest
(cd "$dist" && nice make -s -j2 PG_CONFIG="$PG_CONFIG" >/dev/null &&
	make -s PG_CONFIG="$PG_CONFIG" install DESTDIR="$dest" >/dev/null) ||
	fail "the unpacked archive does not build and install with PGXS"
pkglib=$dest$("$PG_CONFIG" --pkglibdir)
extdir=$dest$("$PG_CONFIG" --sharedir)/extension
[ -f "$pkglib/session_store.so" ] || fail "session_store.so not installed"
cmp -s "$dist/session_store.control" "$extdir/session_store.control" ||
	fail "session_store.control not installed"
for f in "$dist"/session_store--*.sql; do
	cmp -s "$f" "$extdir/$(basename "$f")" || fail "$(basename "$f") not installed"
done
# the default version is reachable: an install script, then updates to it
default=$(sed -n "s/^default_version = '\(.*\)'$/\1/p" "$extdir/session_store.control")
"$PYTHON" - "$extdir" "$default" <<'EOF'
import os, re, sys
extdir, target = sys.argv[1], sys.argv[2]
files = os.listdir(extdir)
installs = {m.group(1) for f in files if (m := re.fullmatch(r"session_store--([^-]+)\.sql", f))}
updates = {}
for f in files:
    if m := re.fullmatch(r"session_store--([^-]+)--([^-]+)\.sql", f):
        updates.setdefault(m.group(1), []).append(m.group(2))
seen, todo = set(installs), list(installs)
while todo:
    v = todo.pop()
    for w in updates.get(v, []):
        if w not in seen:
            seen.add(w); todo.append(w)
if target not in seen:
    sys.exit(f"no install path to {target} from {sorted(installs)}")
print(f"installed from the archive: session_store.so, the control file, "
      f"{len(installs)} install and {sum(map(len, updates.values()))} update scripts reaching {target}")
EOF
