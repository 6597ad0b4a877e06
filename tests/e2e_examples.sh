#!/usr/bin/env bash
# The examples under weftrun: each runs to the end and its result checks.
#  - ddp_mlp: the loss falls at least 100-fold, and 1, 2 and 4 ranks end
#    with the same loss and weights (to the printed digits: the averaged
#    gradient is the full batch's, only the order of sums differs).
set -u
B=${WT_TOP_BUILDDIR:-.}
RUN=$B/tools/weftrun
. "${WT_TOP_SRCDIR:-.}/tests/tap.sh"
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT

final=
for np in 1 2 4; do
    timeout -k 5 120 "$RUN" -n $np "$B/examples/ddp_mlp" >"$d/out" 2>"$d/err"
    rc=$?
    last=$(grep '^final loss' "$d/out")
    first=$(awk '/^step +0 /{print $4}' "$d/out")
    loss=$(echo "$last" | awk '{print $3}')
    if [ $rc != 0 ] || [ -z "$last" ] || [ -z "$first" ]; then
        bad "ddp_mlp on $np ranks runs (rc $rc)"
    elif ! awk -v a="$first" -v b="$loss" 'BEGIN { exit !(b * 100 <= a) }'; then
        bad "ddp_mlp on $np ranks: loss $first -> $loss, not 100-fold down"
    elif [ -n "$final" ] && [ "$last" != "$final" ]; then
        echo "# 1 rank: $final" >>"$d/err"
        bad "ddp_mlp on $np ranks ends as on 1: $last"
    else
        ok "ddp_mlp on $np ranks: $last"
    fi
    [ -n "$final" ] || final=$last
done
echo "1..$n"
exit $fail
