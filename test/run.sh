#!/bin/bash
# Run the test suites against the installed extension.
#
#   test/run.sh [suite ...]     suites: docs regress isolation pgtap upgrade stress python
#                               node packages tap valgrind
#                               and, on the portable edition, regress-portable
#                               isolation-portable pgtap-portable stress-portable
#                               python-portable node-portable portable-install
#                               (default: all of them, each C suite followed by
#                               its portable run)
#
# regress, isolation, pgtap, upgrade, stress, python (the Python client
# and the ADK and OpenAI Agents adapters, clients/python/run-tests.sh, in a
# virtual environment with pinned packages) and node (the TypeScript client
# and adapters, with their pinned npm packages) share one throwaway cluster made by
# pg_virtualenv; the TAP tests (crash recovery, dump/restore) make their own
# clusters with PostgreSQL::Test::Cluster, as an unprivileged user because
# initdb refuses to run as root; valgrind runs pg_regress against a server
# under memcheck; packages builds and checks each shipped package
# (test/packages/run.sh); docs checks every relative link and #anchor of
# README.md and docs/*.md and the README's length (test/docs.py, seconds, no
# cluster; it runs first).  Exits non-zero if any suite fails.
#
# The portable edition (portable/session_store.sql) runs the same suites
# from the same expected files in the same cluster; the lines where its
# output must differ are in test/portable/expected.diff (see
# test/run-in-cluster.sh).  upgrade, tap and valgrind are C-only: the
# extension's update scripts, a C library's crash and dump behaviour, and
# memcheck of C code.
set -uo pipefail

cd "$(dirname "$0")/.."
. test/env.sh

suites=("$@")
[ ${#suites[@]} -eq 0 ] && suites=(docs regress regress-portable isolation isolation-portable
	pgtap pgtap-portable portable-install upgrade stress stress-portable python python-portable
	node node-portable packages tap valgrind)

# Options for the shared throwaway cluster: UTF-8 whatever the caller's
# locale, room for the stress tests' connections, commit timestamps for the
# node suite's stored-order-against-commit-order check.
VENV_OPTS=(-t -v "$PG_MAJOR" -i "--encoding=UTF8 --locale=C.UTF-8"
	-o max_connections=200 -o max_locks_per_transaction=256
	-o track_commit_timestamp=on)

failed=()
run_suite() {
	local name=$1; shift
	echo
	echo "=== $name ==="
	local start=$SECONDS
	if "$@"; then
		echo "=== $name: ok ($((SECONDS - start)) s)"
	else
		echo "=== $name: FAILED ($((SECONDS - start)) s)"
		failed+=("$name")
	fi
}

in_cluster=()
for s in "${suites[@]}"; do
	case "$s" in
		regress|isolation|pgtap|upgrade|stress|python|node) in_cluster+=("$s") ;;
		regress-portable|isolation-portable|pgtap-portable|portable-install) in_cluster+=("$s") ;;
		stress-portable|python-portable|node-portable) in_cluster+=("$s") ;;
		docs|packages|tap|valgrind) ;;
		*) echo "unknown suite: $s" >&2; exit 2 ;;
	esac
done

# The documents first: seconds, and no cluster needed.
for s in "${suites[@]}"; do
	[ "$s" = docs ] && run_suite docs "$PYTHON" test/docs.py
done

if [ ${#in_cluster[@]} -gt 0 ]; then
	# One cluster for all of them; the inner script reports each suite.
	report=$(mktemp)
	pg_virtualenv "${VENV_OPTS[@]}" bash test/run-in-cluster.sh "$report" "${in_cluster[@]}"
	while read -r name result; do
		[ "$result" = ok ] || failed+=("$name")
	done < "$report"
	[ -s "$report" ] || failed+=("cluster")
	rm -f "$report"
fi

for s in "${suites[@]}"; do
	case "$s" in
		packages) run_suite packages bash test/packages/run.sh ;;
		tap) run_suite tap bash test/run-tap.sh ;;
		valgrind) run_suite valgrind bash test/valgrind.sh ;;
	esac
done

echo
if [ ${#failed[@]} -gt 0 ]; then
	echo "FAILED: ${failed[*]}"
	exit 1
fi
echo "all suites passed: ${suites[*]}"
