#!/bin/bash
# Maintain test/portable/expected.diff, the lines of expected output that
# differ on the portable edition (see the comment at the top of that file).
#
#   test/portable/expected-diff.sh check
#       the diff applies with patch --fuzz=0 to expected/ and test/expected/,
#       and every hunk has its "# why: ..." line
#   test/portable/expected-diff.sh add EXPECTED_FILE NEW_OUTPUT 'why ...'
#       append the differences between EXPECTED_FILE as currently patched
#       (say expected/limits.out) and NEW_OUTPUT (say the portable run's
#       results/limits.out, kept with PORTABLE_KEEP=1), one section per
#       hunk, each preceded by "# why: ..."; then check
#   test/portable/expected-diff.sh patched DIR
#       DIR/expected and DIR/test/expected as the portable run sees them
set -euo pipefail
cd "$(dirname "$0")/../.."
diff_file=test/portable/expected.diff

# apply the diff to a copy of the expected directories in $1
patched() {
	mkdir -p "$1/test"
	cp -r expected "$1/expected"
	cp -r test/expected "$1/test/expected"
	if grep -q '^@@' "$diff_file"; then
		patch -d "$1" -p1 --fuzz=0 --no-backup-if-mismatch -r - --quiet < "$diff_file"
	fi
}

# every hunk has a "# why:" line since the previous hunk
check_reasons() {
	awk '/^# why: ./ { why = 1 }
	     /^@@ / { if (!why) { printf "%s:%d: hunk without a \"# why: ...\" line\n", FILENAME, FNR; bad = 1 } why = 0 }
	     END { exit bad }' "$diff_file"
}

check() {
	local tmp
	tmp=$(mktemp -d)
	if ! patched "$tmp"; then
		rm -rf "$tmp"
		echo "$diff_file does not apply to expected/ and test/expected/" >&2
		return 1
	fi
	rm -rf "$tmp"
	check_reasons
}

case "${1:-}" in
	check) check ;;
	patched) [ $# -eq 2 ] || { echo "usage: $0 patched DIR" >&2; exit 2; }; patched "$2" ;;
	add)
		[ $# -eq 4 ] || { echo "usage: $0 add EXPECTED_FILE NEW_OUTPUT 'why ...'" >&2; exit 2; }
		target=$2; new=$3; why=$4
		case "$target" in expected/*.out|test/expected/*.out) ;;
			*) echo "EXPECTED_FILE is expected/NAME.out or test/expected/NAME.out" >&2; exit 2 ;; esac
		tmp=$(mktemp -d)
		patched "$tmp"
		if diff -q "$tmp/$target" "$new" >/dev/null; then
			rm -rf "$tmp"; echo "no difference: nothing added"; exit 0
		fi
		diff -u --label "a/$target" --label "b/$target" "$tmp/$target" "$new" |
		awk -v why="$why" -v t="$target" '
			/^(---|\+\+\+) / { next }
			/^@@ / { printf "\n# why: %s\n--- a/%s\n+++ b/%s\n", why, t, t }
			{ print }' >> "$diff_file"
		rm -rf "$tmp"
		check && echo "added to $diff_file: $(grep -c '^@@' "$diff_file") hunks in all" ;;
	*) sed -n '2,/^set /p' "$0" | sed '$d' >&2; exit 2 ;;
esac
