#!/bin/bash
# Install a built postgresql-<major>-session-store .deb with apt, which
# brings in what it depends on (the matching postgresql-<major>).
#
#   packaging/install-deb.sh DEB
#
# Used by test/packages/debian.sh and by packaging/Dockerfile.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 DEB" >&2; exit 2; }
deb=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "$deb" >/dev/null
dpkg-query -W -f='installed ${Package} ${Version}\n' "$(dpkg-deb -f "$deb" Package)"
