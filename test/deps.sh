#!/bin/bash
# Install what building, testing and the demo need, if it is missing.
# Debian/Ubuntu only.  As root it installs; otherwise it says what to run.
set -euo pipefail

PG_MAJOR="${PG_MAJOR:-15}"
packages=(
	make gcc
	"postgresql-$PG_MAJOR" "postgresql-server-dev-$PG_MAJOR"
	"postgresql-$PG_MAJOR-pgtap" libtap-parser-sourcehandler-pgtap-perl
	libipc-run-perl python3 python3-psycopg valgrind
	python3-venv pgbouncer
)

missing=()
for p in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$status" = "install ok installed" ] || missing+=("$p")
done
# The TypeScript client's tests need node (20 or later) and npm, from
# whichever package provides them (Debian's nodejs + npm, or a nodejs build
# that ships npm itself).
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if command -v node >/dev/null 2>&1 &&
   [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
	echo "warning: node $(node --version) is older than 20, which the TypeScript client needs" >&2
fi
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "missing packages: ${missing[*]}" >&2
	echo "install them with: sudo apt-get install -y ${missing[*]}" >&2
	exit 1
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
