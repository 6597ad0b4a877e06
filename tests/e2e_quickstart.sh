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
    if timeout 120 "$RUN" -n $np "$B/tools/weft-bench" allreduce --check \
        -b 8 -e 4M -f 8 -n 20 >"$out/bench" 2>&1 &&
        [ "$(grep -vc '^#' "$out/bench")" -ge 7 ] &&
        [ "$(grep -v '^#' "$out/bench" | awk '$7 != 0' | wc -l)" = 0 ]; then
        ok "weft-bench allreduce --check with $np ranks"
    else
        bad "weft-bench allreduce --check with $np ranks"; cat "$out/bench"
    fi
done
if timeout 120 "$RUN" -n 2 "$B/tools/weft-bench" pingpong --check \
    -b 0 -e 1M -f 8 -n 50 >"$out/bench" 2>&1 &&
    [ "$(grep -vc '^#' "$out/bench")" -ge 5 ]; then
    ok "weft-bench pingpong --check"
else
    bad "weft-bench pingpong --check"; cat "$out/bench"
fi

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
# weft-info lists every variable; a bad value stops a job naming it
if "$B/tools/weft-info" -c >"$out/info" 2>&1 &&
    grep -q '^  WEFT_TIMEOUT=300s' "$out/info" &&
    [ "$(grep -c '^[ *] WEFT_' "$out/info")" -ge 20 ]; then
    ok "weft-info -c lists the variables"
else
    bad "weft-info -c lists the variables"; cat "$out/info"
fi
if "$B/tools/weft-info" -t >"$out/info" 2>&1 &&
    grep -q 'tcp .*usable here' "$out/info"; then
    ok "weft-info -t: tcp usable"
else
    bad "weft-info -t: tcp usable"; cat "$out/info"
fi
WEFT_TIMEOUT=abc timeout 30 "$RUN" -n 2 "$B/tests/prog_ring" >"$out/bad" 2>&1
rc=$?
if [ $rc -ne 0 ] && grep -q "WEFT_TIMEOUT: 'abc' is not a duration" "$out/bad"; then
    ok "WEFT_TIMEOUT=abc stops the job naming the variable (rc $rc)"
else
    bad "WEFT_TIMEOUT=abc: rc $rc"; cat "$out/bad"
fi
WEFT_TL=self timeout 30 "$RUN" -n 2 "$B/tests/prog_ring" >"$out/bad" 2>&1
rc=$?
if [ $rc -ne 0 ] && grep -q "no transport reaches rank" "$out/bad"; then
    ok "WEFT_TL=self with 2 ranks: a clear error (rc $rc)"
else
    bad "WEFT_TL=self with 2 ranks: rc $rc"; cat "$out/bad"
fi
echo "1..$n"
exit $fail
