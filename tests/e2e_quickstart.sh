#!/usr/bin/env bash
# End to end through weftrun: the benchmark of the README's Quick start
# with every byte checked, real weft ranks in a ring, and a rank that dies
# mid-run (the others fail fast naming it; weftrun exits with its status).
set -u
B=${WT_TOP_BUILDDIR:-.}
RUN=$B/tools/weftrun
n=0
fail=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
bad() { n=$((n + 1)); fail=1; echo "not ok $n - $1"; }
out=$(mktemp -d) || exit 1
trap 'rm -rf "$out"' EXIT

for np in 2 3 4; do
    if timeout 120 "$RUN" -n $np "$B/tools/weft-bench" pingpong --check \
        -b 0 -e 1M -f 8 -n 50 >"$out/bench" 2>&1 &&
        [ "$(grep -vc '^#' "$out/bench")" -ge 5 ]; then
        ok "weft-bench pingpong --check with $np ranks"
    else
        bad "weft-bench pingpong --check with $np ranks"; cat "$out/bench"
    fi
done

for np in 1 4 8; do
    if timeout 120 "$RUN" -n $np "$B/tests/prog_ring" --iters 300 \
        >"$out/ring" 2>&1 && [ "$(grep -c 'rounds ok' "$out/ring")" = $np ]; then
        ok "ring of $np ranks"
    else
        bad "ring of $np ranks"; cat "$out/ring"
    fi
done

# rank 2 is killed: weftrun exits 137 promptly, naming it; the other ranks
# report the loss of rank 2 instead of hanging
for how in kill abort; do
    extra=; want=137
    [ $how = abort ] && { extra=--abort; want=134; }
    start=$(date +%s)
    timeout 60 "$RUN" -n 4 "$B/tests/prog_ring" --iters 100000 \
        --die-rank 2 --die-after 20 $extra >"$out/die" 2>&1
    rc=$?
    took=$(( $(date +%s) - start ))
    if [ $rc = $want ] && [ $took -le 20 ] && grep -q 'rank 2' "$out/die" &&
        [ "$(grep -c 'peer lost' "$out/die")" -ge 1 ]; then
        ok "rank 2 dies ($how): weftrun exits $rc after ${took}s, survivors name it"
    else
        bad "rank 2 dies ($how): rc $rc (want $want) after ${took}s"
        cat "$out/die"
    fi
done
echo "1..$n"
exit $fail
