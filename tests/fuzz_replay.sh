#!/bin/sh
# Replay the saved fuzz corpus: every input in fuzz/corpus/<name>/ through
# its target built as a plain program (fuzz/replay_<name>, any compiler),
# so what fuzzing once found stays fixed. One line per target, then a
# summary line.
top_src=${WT_TOP_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
top_build=${WT_TOP_BUILDDIR:-.}
targets="store_msg wire tuning config auth_hs ctrl_msg"
total=0
failed=0
ntargets=0
for name in $targets; do
    ntargets=$((ntargets + 1))
    out=$("$top_build/fuzz/replay_$name" "$top_src/fuzz/corpus/$name" 2>&1)
    rc=$?
    count=$(printf '%s\n' "$out" | sed -n 's/^replay: \([0-9]*\) inputs$/\1/p')
    if [ "$rc" -ne 0 ]; then
        failed=$((failed + 1))
        echo "FAIL: $name (exit $rc)"
        printf '%s\n' "$out" | tail -30
    else
        echo "ok: $name: ${count:-0} inputs"
    fi
    total=$((total + ${count:-0}))
done
echo "fuzz_replay: $ntargets targets, $total inputs replayed, $failed failed"
[ "$failed" -eq 0 ]
