#!/bin/bash
# One version: the extension's default_version, the portable edition's,
# the Python and npm packages' (package-lock.json included), the clients'
# runtime constants and the PGXN and Debian versions all agree (the places
# are listed in packaging/versions.txt; packaging/version.sh checks them,
# and `make version VERSION=x.y.z` sets them).
set -euo pipefail
cd "$(dirname "$0")/../.."
bash packaging/version.sh
