#!/usr/bin/env bash
# The MoE layer example through weftrun: 4 ranks (and 2 and 1), every
# rank's outputs bitwise equal to its local reference.
set -u
B=${WT_TOP_BUILDDIR:-.}
RUN=$B/tools/weftrun
n=0
fail=0
out=$(mktemp) || exit 1
trap 'rm -f "$out"' EXIT
for np in 4 2 1; do
    n=$((n + 1))
    if timeout 120 "$RUN" -n $np "$B/examples/moe_layer" >"$out" 2>&1 &&
        [ "$(grep -c ' 0 outputs differ .*: ok$' "$out")" = $np ]; then
        echo "ok $n - examples/moe_layer with $np ranks"
    else
        fail=1
        echo "not ok $n - examples/moe_layer with $np ranks"
        cat "$out"
    fi
done
echo "1..$n"
exit $fail
