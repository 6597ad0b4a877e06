#!/usr/bin/env bash
# coll_compare.sh - weft's collectives next to Open MPI and MPICH, rounds
# interleaved: each round is one run of ../shared/peers/compare.sh (REPS=1)
# per collective, which times every peer and then weft back to back, so a
# slow stretch of a shared machine falls on both sides of a round rather
# than on one side of a table. Prints per collective, rank count and size
# the median time of each configuration over the rounds, the ratio of the
# medians (weft / the best peer), and the median of the rounds' own ratios
# (paired), with the rounds' ratios beside it.
#
# Usage: bench/coll_compare.sh [BUILD_DIR] COLL...   (BUILD_DIR default: .)
#   COLL as compare.sh takes it: allreduce alltoall allgather reduce_scatter
#   bcast reduce barrier
# Environment: ROUNDS=3, NP=2 (a list runs each count), CONFIGS="ompi-shm
#   mpich", SIZES="-b 8 -e 64M -f 8", COMPARE (default: the compare.sh in
#   ../shared/peers next to this checkout), TIMEOUT=300 (s per run).
#   Installs nothing; exits 1 when a run fails, 2 when compare.sh is missing.
set -u
BUILD=.
if [ $# -gt 0 ] && [ -d "$1" ]; then
    BUILD=$1
    shift
fi
HERE=$(cd "$(dirname "$0")" && pwd)
COMPARE=${COMPARE:-$HERE/../../shared/peers/compare.sh}
ROUNDS=${ROUNDS:-3}
NP=${NP:-2}
CONFIGS=${CONFIGS:-"ompi-shm mpich"}
SIZES=${SIZES:-"-b 8 -e 64M -f 8"}
[ $# -gt 0 ] || set -- allreduce
if [ ! -x "$COMPARE" ]; then
    echo "coll_compare: $COMPARE not found (set COMPARE)" >&2
    exit 2
fi
TMP=$(mktemp -d -t coll_compare.XXXXXX) || exit 1
trap 'rm -rf "$TMP"' EXIT
status=0

for r in $(seq 1 "$ROUNDS"); do
    for coll in "$@"; do
        for np in $NP; do
            if ! WEFT_BENCH="$BUILD/tools/weftrun -n {np} $BUILD/tools/weft-bench" \
                NP=$np REPS=1 CONFIGS="$CONFIGS" SIZES="$SIZES" \
                TIMEOUT=${TIMEOUT:-300} "$COMPARE" "$coll" \
                >"$TMP/$coll.$np.$r" 2>"$TMP/$coll.$np.$r.err"; then
                echo "coll_compare: round $r, $coll at $np ranks failed:" >&2
                tail -5 "$TMP/$coll.$np.$r.err" >&2
                status=1
            fi
        done
    done
done

# One table per collective and rank count from the rounds' tables (rows
# after the header line that starts with size_bytes, up to a blank line).
for coll in "$@"; do
    for np in $NP; do
        cat "$TMP/$coll.$np".[0-9]* 2>/dev/null | awk -v coll="$coll" -v np="$np" '
            function median(list, n,   v, i, j, t) {
                n = split(list, v, " ")
                for (i = 2; i <= n; i++)
                    for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) {
                        t = v[j]; v[j] = v[j - 1]; v[j - 1] = t
                    }
                return n ? v[int((n + 1) / 2)] : "nan"
            }
            /^ *size_bytes/ {
                ncol = NF
                for (i = 2; i <= NF; i++) head[i] = $i
                in_table = 1
                next
            }
            in_table && NF == 0 { in_table = 0; next }
            in_table && $1 ~ /^[0-9]+$/ {
                if (!($1 in seen)) { seen[$1] = 1; order[++nsz] = $1 }
                for (i = 2; i <= ncol; i++) t[$1, i] = t[$1, i] " " $i
            }
            END {
                if (nsz == 0) { print "== " coll " np=" np ": no results"; exit }
                printf "\n== %s  np=%s  time_us, median of the rounds; ratio = weft / best peer\n", coll, np
                printf "  %10s", "size_bytes"
                for (i = 2; i < ncol; i++) printf " %10s", head[i]
                printf " %8s %8s  %s\n", "ratio", "paired", "rounds"
                for (k = 1; k <= nsz; k++) {
                    s = order[k]
                    printf "  %10s", s
                    best = ""
                    for (i = 2; i < ncol; i++) {
                        m[i] = median(t[s, i])
                        printf " %10s", m[i]
                        if (head[i] != "weft" && m[i] != "-" && m[i] != "nan" &&
                            (best == "" || m[i] + 0 < best + 0))
                            best = m[i]
                    }
                    for (i = 2; i < ncol; i++) if (head[i] == "weft") w = m[i]
                    ratio = (best != "" && best + 0 > 0) ? sprintf("%.2f", w / best) : "-"
                    printf " %8s %8s %s\n", ratio, median(t[s, ncol]), t[s, ncol]
                }
            }'
    done
done
exit $status
