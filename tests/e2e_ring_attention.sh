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
echo "1..$n"
exit $fail
