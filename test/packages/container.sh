#!/bin/bash
# The container recipe, packaging/Dockerfile, checked without a container
# runtime (none is used by the tests; the image itself is not built here):
#
#  - every FROM is the postgres image of one major, on the Debian release
#    test/packages/debian.sh builds and installs the package on, and that
#    major (the PG_MAJOR build argument's default) is one this project
#    supports (the Makefile's PG_MAJOR, a major of test/versions.sh) and
#    debian/pgversions builds for;
#  - every COPY source exists in the build context (the repository's
#    root) and is not left out of it by packaging/Dockerfile.dockerignore;
#  - the files are laid out as the COPY steps put them (into a scratch
#    folder standing for the image), and every script the RUN steps and
#    the first-start script run is there;
#  - those scripts are the ones test/packages/debian.sh runs: the package
#    is built by packaging/build-deb.sh, installed by packaging/install-deb.sh,
#    and the first start runs packaging/smoke.sh beside its smoke.sql and
#    the control file it takes the expected version from;
#  - every one of those scripts parses (bash -n).
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/env.sh

work=$(mktemp -d /tmp/session_store_container.XXXXXX)
trap 'rm -rf "$work"' EXIT
. /etc/os-release

"$PYTHON" - packaging/Dockerfile "$work/image" "${VERSION_CODENAME:-}" <<'EOF'
import fnmatch, os, re, shlex, shutil, subprocess, sys

dockerfile, image, codename = sys.argv[1:4]
errors = []

def need(cond, msg):
    if not cond:
        errors.append(msg)

# instructions, with continued lines joined and comments dropped
lines, cur = [], ""
for raw in open(dockerfile):
    line = raw.rstrip("\n")
    if not cur and (line.strip().startswith("#") or not line.strip()):
        continue
    if line.endswith("\\"):
        cur += line[:-1] + " "
        continue
    cur += line
    lines.append(cur.strip())
    cur = ""
steps = [(l.split(None, 1)[0].upper(), l.split(None, 1)[1] if " " in l else "") for l in lines]

# build arguments declared before the first FROM, with their defaults
args = {}
for op, rest in steps:
    if op == "FROM":
        break
    if op == "ARG" and "=" in rest:
        k, v = rest.split("=", 1)
        args[k.strip()] = v.strip()
def expand(s, env):
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: env.get(m.group(1) or m.group(2), m.group(0)), s)

# the majors this project supports
supported = {re.search(r"^PG_MAJOR \?= (\d+)", open("Makefile").read(), re.M).group(1)}
supported |= set(re.findall(r'^\s*\[(\d+)\]="', open("test/versions.sh").read(), re.M))
pgversions = open("debian/pgversions").read().split()
def debian_builds(major):
    return any(v == major or (v.endswith("+") and int(major) >= int(v[:-1])) or v == "all"
               for v in pgversions)

# FROM: the postgres image of the supported major, on this Debian release
stages, majors = set(), set()
for op, rest in steps:
    if op != "FROM":
        continue
    words = rest.split()
    ref = expand(words[0], args)
    if len(words) >= 3 and words[1].upper() == "AS":
        stages.add(words[2])
    if ref in stages:
        continue
    m = re.fullmatch(r"postgres:(\d+)(?:-(\w+))?", ref)
    need(m is not None, f"FROM {words[0]} is not a postgres:<major>[-<release>] image")
    if m:
        majors.add(m.group(1))
        need(m.group(2) == codename,
             f"FROM {ref}: not on {codename}, the release the Debian package is built and tested on")
need(len(majors) == 1, f"the stages are on different majors: {sorted(majors)}")
for major in majors:
    need(major in supported, f"FROM major {major} is not a supported major {sorted(supported)}")
    need(debian_builds(major), f"debian/pgversions does not build for {major}")
    need(args.get("PG_MAJOR") == major, "the PG_MAJOR build argument does not name the FROM major")
major = next(iter(majors), "15")

# what the build context leaves out
ignore = [l.strip() for l in open("packaging/Dockerfile.dockerignore")
          if l.strip() and not l.startswith("#")]
def ignored(path):
    return any(fnmatch.fnmatch(path, p) or fnmatch.fnmatch(path, p.replace("**/", "")) or
               path.startswith(p.rstrip("/") + "/") for p in ignore)

# the COPY steps (from the context), applied to a scratch folder; the
# ones from another stage noted
made_by_stage = []
stage_env = dict(args, PG_MAJOR=major)   # the postgres images set ENV PG_MAJOR
for op, rest in steps:
    if op != "COPY":
        continue
    words = shlex.split(rest)
    from_stage = any(w.startswith("--from=") for w in words)
    words = [w for w in words if not w.startswith("--")]
    *srcs, dest = words
    if from_stage:
        made_by_stage.append(dest)
        continue
    for src in srcs:
        src = src.rstrip("/") or "."
        need(os.path.exists(src), f"COPY source {src} does not exist")
        need(src == "." or not ignored(src), f"COPY source {src} is left out by Dockerfile.dockerignore")
        if not os.path.exists(src):
            continue
        target = image + (dest if dest.startswith("/") else "/" + dest)
        if src == ".":
            continue        # the whole context, for the build stage: noted below
        if dest.endswith("/") or len(srcs) > 1:
            os.makedirs(target, exist_ok=True)
            shutil.copy2(src, os.path.join(target, os.path.basename(src)))
        else:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copy2(src, target)
context_at = [shlex.split(r)[-1] for op, r in steps if op == "COPY" and shlex.split(r)[-2] == "."]

# the scripts the RUN steps run, as repository paths
def repo_path(p):
    for root in context_at:
        root = root.rstrip("/") + "/"
        if p.startswith(root):
            return p[len(root):], "the build context"
    local = image + p
    if os.path.exists(local):
        for op, rest in steps:      # which COPY put it there
            if op == "COPY" and not "--from" in rest:
                *srcs, dest = [w for w in shlex.split(rest) if not w.startswith("--")]
                for src in srcs:
                    d = dest if not dest.endswith("/") else dest + os.path.basename(src)
                    if d == p:
                        return src, "a COPY"
    return None, None

version = re.match(r"\S+ \(([^)]+)\)", open("debian/changelog").readline()).group(1)
package = re.search(r"^Package: (\S+)", open("debian/control.in").read(), re.M).group(1)
deb_name = f"{package.replace('PGVERSION', major)}_{version}_any.deb"
run_scripts = []
for op, rest in steps:
    if op != "RUN":
        continue
    for cmd in re.split(r"&&|;|\|\|", expand(rest, stage_env)):
        words = shlex.split(cmd)
        if words and words[0] in ("bash", "sh"):
            words = words[1:]
        if words and words[0].endswith(".sh"):
            src, how = repo_path(words[0])
            need(src is not None and os.path.isfile(src),
                 f"RUN {words[0]}: no such script in the image (from {how or 'nowhere'})")
            if src:
                run_scripts.append(src)
            # a file the build stage made: the package debian/ builds
            for a in words[1:]:
                if any(a.startswith(d.rstrip("/") + "/") for d in made_by_stage):
                    need(fnmatch.fnmatch(deb_name, os.path.basename(a)),
                         f"RUN {words[0]} {a}: matches no {deb_name}, the package debian/ builds")

# the first-start script and what it runs
init = [shlex.split(r)[-1] for op, r in steps
        if op == "COPY" and shlex.split(r)[-1].startswith("/docker-entrypoint-initdb.d/")]
need(len(init) == 1, "no script is copied into /docker-entrypoint-initdb.d/")
init_scripts = []
for p in init:
    src, _ = repo_path(p)
    need(src is not None and os.access(src, os.X_OK),
         f"{p}: its source is not an executable script (the entrypoint would source it)")
    if src:
        init_scripts.append(src)
        code = "".join(l for l in open(src) if not l.lstrip().startswith("#"))
        for called in re.findall(r"(?<![\w.])(/\S+\.sh)\b", code):
            need(os.path.isfile(image + called), f"{src} runs {called}, which the image lacks")
            called_src, _ = repo_path(called)
            if called_src:
                init_scripts.append(called_src)
                if called_src.endswith("smoke.sh"):
                    d = os.path.dirname(image + called)
                    need(os.path.isfile(os.path.join(d, "smoke.sql")), "smoke.sql is not beside smoke.sh")
                    need(os.path.isfile(os.path.join(d, "..", "session_store.control")),
                         "session_store.control is not where smoke.sh reads the expected version")

# the same scripts as the Debian check
debian_check = open("test/packages/debian.sh").read()
for script in ("packaging/build-deb.sh", "packaging/install-deb.sh"):
    need(script in run_scripts, f"no RUN step runs {script}")
need("packaging/smoke.sh" in init_scripts, "the first start does not run packaging/smoke.sh")
for script in run_scripts + [s for s in init_scripts if s.startswith("packaging/") and s != init_scripts[0]]:
    need(f"bash {script}" in debian_check, f"{script} is not a script test/packages/debian.sh runs")

for script in sorted(set(run_scripts + init_scripts)):
    r = subprocess.run(["bash", "-n", script], capture_output=True, text=True)
    need(r.returncode == 0, f"{script} does not parse: {r.stderr.strip()}")

if errors:
    print("\n".join("container: " + e for e in errors), file=sys.stderr)
    sys.exit(1)
print(f"Dockerfile: FROM postgres:{major}-{codename} (supported: {', '.join(sorted(supported))}); "
      f"{len([s for s in steps if s[0] == 'COPY'])} COPY steps, sources present")
print(f"RUN steps run {', '.join(run_scripts)}; the first start runs "
      f"{', '.join(init_scripts)}: the scripts test/packages/debian.sh runs")
print("the image itself is not built here (no container runtime)")
EOF
