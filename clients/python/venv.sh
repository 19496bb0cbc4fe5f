#!/bin/bash
# Make (or reuse) the virtual environment of the Python tests, demo and
# benchmark: clients/python/.venv with the exact pins of
# requirements-test.txt and the client itself.  Prints the venv's python.
# Reused as long as requirements-test.txt and pyproject.toml are unchanged.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv=${SS_PY_VENV:-$here/.venv}
stamp=$(cat "$here/requirements-test.txt" "$here/pyproject.toml" | sha256sum | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$venv/.stamp" 2>/dev/null)" != "$stamp" ]; then
	rm -rf "$venv"
	/usr/bin/python3 -m venv "$venv" >&2
	"$venv/bin/pip" install -q --disable-pip-version-check -r "$here/requirements-test.txt" >&2
	echo "$stamp" > "$venv/.stamp"
fi
# the client from this tree, every time (cheap, and never stale)
"$venv/bin/pip" install -q --disable-pip-version-check --no-deps --no-build-isolation "$here" >&2
echo "$venv/bin/python"
