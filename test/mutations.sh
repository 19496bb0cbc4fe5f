#!/bin/bash
# make test-mutations: show that the tests can fail.  For each mechanism the
# guarantees rest on, build the extension with it compiled out (a test-only
# define), install that build, run the isolation and stress suites, and
# expect them to FAIL; then reinstall the real build.  Exits non-zero if a
# mutant passes the suites.
#
#   SESSION_STORE_TEST_NO_SESSION_LOCK   no per-session advisory lock
#   SESSION_STORE_TEST_NO_UPSERT         update-else-insert instead of
#                                        INSERT ... ON CONFLICT for shared state
set -uo pipefail
cd "$(dirname "$0")/.."
. test/env.sh

mutants=(SESSION_STORE_TEST_NO_SESSION_LOCK SESSION_STORE_TEST_NO_UPSERT)
survived=()
restore() {
	make -s clean >/dev/null
	make -s >/dev/null && make -s install >/dev/null
}
trap restore EXIT

for m in "${mutants[@]}"; do
	echo
	echo "=== mutant: -D$m"
	make -s clean >/dev/null
	if ! make -s SS_EXTRA_CFLAGS="-D$m" >/dev/null || ! make -s install >/dev/null; then
		echo "build failed"; exit 2
	fi
	log=$(mktemp)
	bash test/run.sh isolation stress > "$log" 2>&1
	rc=$?
	grep -E "^test .*FAILED|^FAIL " "$log" | cut -c1-160
	if [ $rc -eq 0 ]; then
		echo "=== -D$m: the suites PASSED: they cannot tell this mechanism is missing"
		survived+=("$m")
	else
		echo "=== -D$m: the suites failed, as they must"
	fi
	rm -f "$log"
done

echo
if [ ${#survived[@]} -gt 0 ]; then
	echo "mutants not caught: ${survived[*]}"
	exit 1
fi
echo "every mutant was caught by the isolation and stress suites"
