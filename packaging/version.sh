#!/bin/bash
# One version for the extension and every package.
#
#   packaging/version.sh              check that every place listed in
#                                     packaging/versions.txt carries the same
#                                     version (x.y.z; x.y where the list says
#                                     minor); prints it
#   packaging/version.sh set X.Y.Z    set every place to X.Y.Z (make version
#                                     VERSION=X.Y.Z), then check
#
# Setting a new x.y changes the extension's default_version: its update
# script (session_store--OLD--NEW.sql) must exist first, or this refuses.
# debian/changelog gets a new entry on top (as dch would), to be filled in;
# the portable edition's generated files are made again from their sources
# (portable/build.sh).  The check also runs portable/build.sh --check.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=check
case "${1:-}" in
	'') ;;
	set)
		[ $# -eq 2 ] || { echo "usage: packaging/version.sh set X.Y.Z" >&2; exit 2; }
		mode=set ;;
	*) echo "usage: packaging/version.sh [set X.Y.Z]" >&2; exit 2 ;;
esac

/usr/bin/python3 - "$mode" "${2:-}" <<'EOF'
import os, re, subprocess, sys
from email.utils import formatdate

mode, new = sys.argv[1:]
places = []                     # (file, form, optional, regex)
for n, line in enumerate(open("packaging/versions.txt", encoding="utf-8"), 1):
    line = line.rstrip("\n")
    if not line.strip() or line.startswith("#"):
        continue
    f, form, rx = re.match(r"(\S+)\s+(\S+)\s+(.*)$", line).groups()
    optional = form.endswith("?")
    form = form.rstrip("?")
    if form not in ("full", "minor"):
        sys.exit(f"packaging/versions.txt:{n}: form {form!r} is neither full nor minor")
    rx = re.compile(rx.replace(r"\n", "\n"), re.M)
    places.append((f, form, optional, rx))


def read(f):
    with open(f, encoding="utf-8") as fh:
        return fh.read()


def found():
    """[(file, form, version)] of every place; problems."""
    out, problems, absent = [], [], set()
    for f, form, optional, rx in places:
        if not os.path.exists(f):
            if optional:
                if f not in absent and mode == "check":
                    print(f"  {f}: absent (listed as optional)")
                absent.add(f)
            else:
                problems.append(f"{f}: missing")
            continue
        ms = list(rx.finditer(read(f)))
        if not ms:
            problems.append(f"{f}: no version where packaging/versions.txt says ({rx.pattern!r})")
        out += [(f, form, m.group(1)) for m in ms]
    return out, problems


def full_of(places_found):
    fulls = {v for _, form, v in places_found if form == "full"}
    return fulls.pop() if len(fulls) == 1 else None


if mode == "set":
    if not re.fullmatch(r"\d+\.\d+\.\d+", new):
        sys.exit(f"version {new!r}: not X.Y.Z")
    have, problems = found()
    old = full_of(have)
    old_minor = {v for _, form, v in have if form == "minor"}
    new_minor = new.rsplit(".", 1)[0]
    for om in old_minor - {new_minor}:
        script = f"session_store--{om}--{new_minor}.sql"
        if not os.path.exists(script):
            sys.exit(f"the extension goes from {om} to {new_minor}: write {script} "
                     f"(and add it to DATA in the Makefile) first")
    for f in dict.fromkeys(p[0] for p in places):
        if not os.path.exists(f):
            continue
        text = read(f)
        if f == "debian/changelog":
            top = re.match(r"session-store \(([^)]*)\)[^\n]*\n(.*?)\n -- ([^\n]*?)  ", text, re.S)
            if top and top.group(1) != new:
                text = (f"session-store ({new}) unstable; urgency=medium\n\n"
                        f"  * Version {new}.\n\n -- {top.group(3)}  {formatdate(localtime=True)}\n\n"
                        + text)
        else:
            for pf, form, _, rx in places:
                if pf != f:
                    continue
                v = new if form == "full" else new_minor
                text = rx.sub(lambda m: m.group(0)[:m.start(1) - m.start(0)] + v
                              + m.group(0)[m.end(1) - m.start(0):], text)
        with open(f, "w", encoding="utf-8") as fh:
            fh.write(text)
    # the portable edition's generated files, from their edited sources
    subprocess.run(["bash", "portable/build.sh"], check=True, stdout=subprocess.DEVNULL)
    print(f"set {old or 'the versions'} -> {new} ({new_minor} for the extension)")

have, problems = found()
full = full_of(have)
fulls = sorted({v for _, form, v in have if form == "full"})
minors = sorted({v for _, form, v in have if form == "minor"})
if len(fulls) != 1:
    by = {}
    for f, form, v in have:
        if form == "full":
            by.setdefault(v, []).append(f)
    problems.append("the packages' versions disagree: " + "; ".join(
        f"{v} in {', '.join(dict.fromkeys(fs))}" for v, fs in by.items()))
if full and not re.fullmatch(r"\d+\.\d+\.\d+", full):
    problems.append(f"version {full!r}: not X.Y.Z")
want_minor = full.rsplit(".", 1)[0] if full else None
for f, form, v in have:
    if form == "minor" and want_minor and v != want_minor:
        problems.append(f"{f}: {v}, where the packages' {full} says {want_minor}")
try:
    subprocess.run(["bash", "portable/build.sh", "--check"], check=True,
                   stdout=subprocess.DEVNULL)
except subprocess.CalledProcessError:
    problems.append("portable/build.sh --check: the generated files are not what the sources give")
if problems:
    print("\n".join(problems), file=sys.stderr)
    sys.exit(1)
print(f"version {full} (extension {want_minor}) in {len(have)} places of "
      f"{len({f for f, _, _ in have})} files")
EOF
