#!/bin/bash
# The packages suite: each test/packages/*.sh (but this one) builds one of
# the packages the project ships and checks it the way its users install it.
# Each check makes its own throwaway cluster when it needs one, and leaves
# the machine's PostgreSQL installation as it found it.
#
#   test/packages/run.sh [name ...]     names: the scripts' base names
#                                       (default: all of them, in name order)
set -uo pipefail
cd "$(dirname "$0")/../.."
. test/env.sh

names=("$@")
if [ ${#names[@]} -eq 0 ]; then
	for f in test/packages/*.sh; do
		n=$(basename "$f" .sh)
		[ "$n" = run ] || names+=("$n")
	done
fi
[ ${#names[@]} -gt 0 ] || { echo "no package checks found" >&2; exit 1; }

failed=()
for n in "${names[@]}"; do
	echo "--- packages/$n"
	if bash "test/packages/$n.sh"; then
		echo "--- packages/$n: ok"
	else
		echo "--- packages/$n: FAILED"
		failed+=("$n")
	fi
done
[ ${#failed[@]} -eq 0 ] || { echo "packages failed: ${failed[*]}"; exit 1; }
