#!/bin/bash
# make bench: the benchmark on throwaway clusters, once with the durability
# a production server has (fsync and synchronous_commit on) and once
# CPU-bound (fsync off, pg_virtualenv's default), each result table printed
# and saved under bench/results/.
#
#   BENCH_ROUNDS=3 BENCH_SECONDS=10 bench/run.sh [durable|cpu] [--only own hot ...]
#   bench/run.sh [durable|cpu] --only portable     the portable edition vs the C one
#
# The portable-* workloads (part of every run without --only) install the
# portable edition (BENCH_PORTABLE, default portable/session_store.sql) in a
# second database of the same cluster and run each workload's calls there and
# in the C edition's database in alternating rounds.
# SS_DESTDIR=dir: load the extension from a "make install DESTDIR=dir" tree
# (Debian's extension_destdir) instead of the installed one.
# BENCH_BASELINE=dir: also run the append workloads against the build in that
# DESTDIR tree, in a second database, alternating with the installed build
# (e.g. make install DESTDIR=/tmp/ss-old from a checkout of the old commit).
set -euo pipefail
cd "$(dirname "$0")/.."
. test/env.sh
modes=(durable cpu)
if [ $# -gt 0 ] && { [ "$1" = durable ] || [ "$1" = cpu ]; }; then modes=("$1"); shift; fi
mkdir -p bench/results
portable/build.sh --check 2>/dev/null ||
	echo "warning: portable/session_store.sql is not what portable/src gives (run portable/build.sh)" >&2
for mode in "${modes[@]}"; do
	case $mode in
		durable) opts=(-o fsync=on -o synchronous_commit=on) ;;
		cpu) opts=(-o fsync=off) ;;
	esac
	pg_virtualenv -t -v "$PG_MAJOR" -i "--encoding=UTF8 --locale=C.UTF-8" \
		-o max_connections=200 -o shared_buffers=512MB -o max_wal_size=8GB \
		-o checkpoint_timeout=30min "${opts[@]}" \
		${SS_DESTDIR:+-o extension_destdir=$SS_DESTDIR} \
		"$PYTHON" bench/bench.py --label "($mode)" --out "bench/results/$mode.txt" "$@"
done
