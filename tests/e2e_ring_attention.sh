#!/usr/bin/env bash
# The ring attention example under weftrun: 4 ranks (and 3, an odd ring)
# each check their rows of out, lse, dq, dk and dv against the whole
# sequence computed alone; weftrun exits 0 only if every rank did.
set -u
B=${WT_TOP_BUILDDIR:-.}
d=$(mktemp -d) || exit 1
trap 'rm -rf "$d"' EXIT
. "${WT_TOP_SRCDIR:-.}/tests/tap.sh"

for np in 4 3; do
    timeout 120 "$B/tools/weftrun" -n $np "$B/examples/ring_attention" \
        >"$d/out" 2>"$d/err"
    rc=$?
    if [ $rc = 0 ] && has $np ': OK$' "$d/out" && has 0 MISMATCH "$d/out"; then
        ok "ring_attention example with $np ranks"
    else
        bad "ring_attention example with $np ranks (exit $rc)"
    fi
done
# the benchmark runs and prints one row (its numbers are not checked)
timeout 120 "$B/tools/weftrun" -n 2 "$B/examples/ring_attention_bench" \
    --rows 16 --heads 2 --kv-heads 2 --dim 8 --reps 1 >"$d/out" 2>"$d/err"
rc=$?
if [ $rc = 0 ] && has 1 '^  2  one-way +16 +2 +2 +8 ' "$d/out"; then
    ok "ring_attention_bench with 2 ranks prints its row"
else
    bad "ring_attention_bench with 2 ranks (exit $rc)"
fi
echo "1..$n"
exit $fail
