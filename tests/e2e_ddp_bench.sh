#!/usr/bin/env bash
# weft-ddp-bench under weftrun: each mode runs to the end with every
# averaged gradient exact (the bench checks them and exits 1 otherwise),
# one row per ratio with its eight numeric columns, and a bad option is
# refused with the usage.
set -u
B=${WT_TOP_BUILDDIR:-.}
RUN=$B/tools/weftrun
BENCH=$B/tools/weft-ddp-bench
. "${WT_TOP_SRCDIR:-.}/tests/tap.sh"
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT

# rows FILE: the data rows (ratio, 3 times, hidden %, 3 CPU times) that
# are all numbers, the times and CPU times above 0 (hidden may pass 100 %
# in a run this short: the compute form is timed apart)
rows() {
    awk '!/^#/ && !/ratio/ && NF == 8 {
             for (i = 1; i <= 8; i++) if ($i !~ /^-?[0-9.]+$/) next
             if ($2 > 0 && $3 > 0 && $4 > 0 && $6 > 0 &&
                 $7 > 0 && $8 > 0) k++
         } END { print k + 0 }' "$1"
}

# case NP WHAT ARGS...
case_() {
    local np=$1 what=$2
    shift 2
    timeout -k 5 120 "$RUN" -n "$np" "$BENCH" -l 6 -s 256K -b 512K -n 2 \
        -r 0.5,1 "$@" >"$d/out" 2>"$d/err"
    local rc=$?
    if [ $rc != 0 ]; then
        bad "$what: runs (rc $rc)"
    elif ! has 1 '^# check: every gradient exact' "$d/out"; then
        bad "$what: every gradient exact"
    elif [ "$(rows "$d/out")" != 2 ]; then
        bad "$what: two rows of eight numbers"
    else
        ok "$what"
    fi
}

case_ 2 "2 ranks, progress thread, host-written gradients" --progress thread
case_ 2 "2 ranks, caller progress, device gradients, scattered" \
    --progress caller --gradients device --scattered
case_ 4 "4 ranks, progress thread, device gradients" --progress thread \
    --gradients device
if has 1 'written before the backward' "$d/out"; then
    ok "the header says where the gradients were written"
else
    bad "the header says where the gradients were written"
fi

"$BENCH" --gradients gpu >"$d/out" 2>"$d/err"
rc=$?
if [ $rc = 2 ] && grep -q -- '--gradients host|device' "$d/err"; then
    ok "--gradients gpu: refused with the usage"
else
    bad "--gradients gpu: refused with the usage (rc $rc)"
fi
echo "1..$n"
exit $fail
