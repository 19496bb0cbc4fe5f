#!/bin/bash
# The Python package (clients/python), built and checked as a user gets it:
#
#  1. `python -m build` (sdist, then the wheel from that sdist) and a second
#     wheel straight from the tree, with the pinned build tools of
#     clients/python/requirements-build.txt (--no-isolation: the pinned
#     setuptools is the backend); both wheels hold the same files;
#  2. the wheel carries py.typed and the portable edition's script, and its
#     metadata names what an index shows (version, summary, readme, license,
#     requires-python, dependencies, the adk and openai-agents extras,
#     classifiers); `twine check` passes on the sdist and the wheel;
#  3. a clean venv installs the wheel alone, with its extras, under the
#     pins of requirements-test.txt (as constraints); the package, its ADK
#     and OpenAI Agents adapters import from that venv only (python -I, run
#     outside the source tree), then work against a throwaway cluster: the
#     portable edition installed by `python -m session_store install`,
#     `edition` reporting it, a session created, appended to and read, one
#     ADK session and one OpenAI Agents session.
#
# The build happens in a scratch copy of clients/python (beside a copy of
# portable/session_store.sql, where setup.py looks for it), so the tree is
# left as it was.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/env.sh

scratch=$(mktemp -d /var/tmp/session_store_pkg_python.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' clients/python/pyproject.toml)

# the build tools, at their pins (a venv kept between runs while the pins
# are unchanged)
tools=/var/tmp/session_store_build_venv
stamp=$(sha256sum clients/python/requirements-build.txt | cut -d' ' -f1)
if [ "$(cat "$tools/.stamp" 2>/dev/null)" != "$stamp" ]; then
	rm -rf "$tools"
	/usr/bin/python3 -m venv "$tools"
	"$tools/bin/pip" install -q --disable-pip-version-check -r clients/python/requirements-build.txt
	echo "$stamp" >"$tools/.stamp"
fi

# 1. build
mkdir -p "$scratch/src/clients" "$scratch/src/portable"
[ -f portable/session_store.sql ] || { echo "portable/session_store.sql is missing (portable/build.sh)" >&2; exit 1; }
cp portable/session_store.sql "$scratch/src/portable/"
tar -cf - --exclude=.venv --exclude=build --exclude='*.egg-info' --exclude=__pycache__ \
	--exclude=.pytest_cache -C clients python | tar -xf - -C "$scratch/src/clients"
pkg=$scratch/src/clients/python
"$tools/bin/python" -m build -q --no-isolation --outdir "$scratch/dist" "$pkg" >"$scratch/build.log" 2>&1 ||
	{ cat "$scratch/build.log"; exit 1; }
"$tools/bin/python" -m build -q --no-isolation --wheel --outdir "$scratch/tree" "$pkg" >"$scratch/build.log" 2>&1 ||
	{ cat "$scratch/build.log"; exit 1; }
wheel=$scratch/dist/session_store-$version-py3-none-any.whl
sdist=$scratch/dist/session_store-$version.tar.gz
ls "$wheel" "$sdist" >/dev/null

# 2. what the wheel carries, and its metadata
"$tools/bin/python" - "$wheel" "$scratch/tree/$(basename "$wheel")" "$version" <<'EOF'
import sys, zipfile
from email.parser import Parser
wheel, tree_wheel, version = sys.argv[1:]
names = sorted(zipfile.ZipFile(wheel).namelist())
tree_names = sorted(zipfile.ZipFile(tree_wheel).namelist())
problems = []
if names != tree_names:
    problems.append(f"the wheel from the sdist and the wheel from the tree differ: "
                    f"{sorted(set(names) ^ set(tree_names))}")
for need in ("session_store/__init__.py", "session_store/adk.py",
             "session_store/openai_agents.py", "session_store/__main__.py",
             "session_store/py.typed", "session_store/portable.sql"):
    if need not in names:
        problems.append(f"the wheel lacks {need}")
stray = [n for n in names if not (n.startswith("session_store/")
                                  or n.startswith(f"session_store-{version}.dist-info/"))]
if stray:
    problems.append(f"the wheel carries files outside the package: {stray}")
z = zipfile.ZipFile(wheel)
if b"CREATE" not in z.read("session_store/portable.sql")[:200000]:
    problems.append("session_store/portable.sql is not the install script")
meta = Parser().parsestr(z.read(f"session_store-{version}.dist-info/METADATA").decode())
def need(field, want=None):
    got = meta.get_all(field) or []
    if not got:
        problems.append(f"METADATA has no {field}")
    elif want is not None and want not in got:
        problems.append(f"METADATA {field}: {got}, not {want!r}")
    return got
need("Name", "session_store")
need("Version", version)
need("Summary")
need("License-Expression", "PostgreSQL")
need("Requires-Python")
need("Description-Content-Type", "text/markdown")
if not meta.get_payload().strip():
    problems.append("METADATA has no description (the readme)")
deps = need("Requires-Dist")
for extra, dist in (("adk", "google-adk"), ("openai-agents", "openai-agents")):
    need("Provides-Extra", extra)
    if not any(d.startswith(dist) and f'extra == "{extra}"' in d for d in deps):
        problems.append(f"the {extra} extra does not require {dist}")
if not any(d.startswith("psycopg") and "extra" not in d for d in deps):
    problems.append("psycopg is not a dependency")
classifiers = need("Classifier")
if "Typing :: Typed" not in classifiers:
    problems.append("no Typing :: Typed classifier")
if problems:
    print("\n".join(problems), file=sys.stderr)
    sys.exit(1)
print(f"wheel: {len(names)} files, py.typed and portable.sql in; "
      f"the sdist's wheel and the tree's agree; metadata complete")
EOF
NO_COLOR=1 COLUMNS=200 "$tools/bin/twine" check --strict "$wheel" "$sdist"

# 3. a clean venv, the wheel alone, the extras at the test suite's pins
venv=$scratch/venv
/usr/bin/python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check -c clients/python/requirements-test.txt \
	"$wheel[adk,openai-agents,binary]"
cd "$scratch"	# nothing of the source tree on the path (and python -I below)

"$venv/bin/python" -I - "$venv" "$version" <<'EOF'
import os, sys
import session_store, session_store.adk, session_store.openai_agents
from importlib import resources
venv, version = sys.argv[1:]
for m in (session_store, session_store.adk, session_store.openai_agents):
    assert os.path.realpath(m.__file__).startswith(os.path.realpath(venv)), m.__file__
assert session_store.__version__ == version, session_store.__version__
assert resources.files("session_store").joinpath("py.typed").is_file()
assert resources.files("session_store").joinpath("portable.sql").is_file()
print(f"imported session_store {session_store.__version__} and both adapters from the venv")
EOF

# against a throwaway cluster: the portable edition from the wheel's script
cat >"$scratch/smoke.py" <<'EOF'
import asyncio, sys, uuid
from session_store import SessionStore
url = sys.argv[1]
with SessionStore(url) as store:
    s = store.create_session(app_name="pkg", user_id="u1", state={"k": 1})
    store.append_messages(app_name="pkg", user_id="u1", session_id=s.session_id,
                          messages=[{"role": "user", "content": "hi"}])
    got = store.get_messages(app_name="pkg", user_id="u1", session_id=s.session_id)
    assert [m.message for m in got] == [{"role": "user", "content": "hi"}], got
    assert store.get_session("pkg", "u1", s.session_id).state == {"k": 1}

from google.adk.events import Event
from session_store.adk import SessionStoreService
from session_store.openai_agents import SessionStoreSession

async def adapters():
    async with SessionStoreService(url) as service:
        s = await service.create_session(app_name="pkg", user_id="u1", state={"a": 1})
        await service.append_event(s, Event(author="user", invocation_id="i1"))
        back = await service.get_session(app_name="pkg", user_id="u1", session_id=s.id)
        assert back.state == {"a": 1} and len(back.events) == 1, back
    session = SessionStoreSession.from_url(str(uuid.uuid4()), url=url)
    try:
        await session.add_items([{"role": "user", "content": "hi"}])
        items = await session.get_items()
        assert [i["content"] for i in items] == ["hi"], items
    finally:
        await session.close()

asyncio.run(adapters())
print("the client, the ADK service and the OpenAI Agents session work from the wheel")
EOF
cat >"$scratch/smoke.sh" <<'EOF'
set -euo pipefail
url="postgresql://$PGUSER:$PGPASSWORD@$PGHOST:$PGPORT/$PGDATABASE"
"$py" -I -m session_store install "$url"
got=$("$py" -I -m session_store edition "$url")
[ "$got" = "portable ${version%.*}" ] || { echo "edition: $got, not portable ${version%.*}" >&2; exit 1; }
echo "python -m session_store edition: $got"
"$py" -I smoke.py "$url"
EOF
pg_virtualenv -t -v "$PG_MAJOR" -i "--encoding=UTF8 --locale=C.UTF-8" \
	env py="$venv/bin/python" version="$version" bash "$scratch/smoke.sh"
