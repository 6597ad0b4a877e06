#!/usr/bin/env bash
# floors.sh - build bench/floors.c and print this machine's floors for
# node-local communication: one cache-line exchange between two cores (a
# two-rank 8-byte allreduce with no software), one switch between two
# processes sharing a core (what a call pays per core where ranks
# outnumber cores), the copy bandwidth of one and two processes in and
# out of cache (what large calls ride), and the same for a = b + c over
# float32 vectors (../shared/PERF.md's memory-bandwidth limit for busbw). Run it next to coll_compare.sh:
# the line exchange changes severalfold with the host's placement of the
# vCPUs, so a floor from another hour says little.
# Usage: bench/floors.sh [ROUNDS]   (ROUNDS=3: line and yield runs)
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROUNDS=${1:-3}
TMP=$(mktemp -d -t floors.XXXXXX) || exit 1
trap 'rm -rf "$TMP"' EXIT
# -O3 -march=native: the sum vectorized, as weft's reduction kernels are
"${CC:-cc}" -O3 -march=native -o "$TMP/floors" "$HERE/floors.c" || exit 1
for _ in $(seq 1 "$ROUNDS"); do
    "$TMP/floors" line
    "$TMP/floors" yield
done
"$TMP/floors" copy
"$TMP/floors" sum
