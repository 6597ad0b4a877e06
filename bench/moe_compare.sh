#!/usr/bin/env bash
# moe_compare.sh - the MoE exchange of weft (weft-moe-bench: dispatch with
# its count exchange, and combine) next to torch.distributed's gloo
# all_to_all_single of the same exchange (bench/moe_gloo.py: counts, then
# rows; the rows back), in the same run, REPS interleaved runs each, the
# median of their p50s. ratio = weft / gloo (the target is <= 0.5).
#
# Usage: bench/moe_compare.sh [BUILD_DIR]    (default: .)
# Environment: REPS=3, RANKS=4, TOKENS=4096, HIDDEN=1024, EXPERTS=8,
#   TOPK=2, ITERS=20, PYTHON=/usr/bin/python3 (Debian's, with
#   python3-torch). Exits 77 when torch is missing. Installs nothing.
set -u
BUILD=${1:-.}
SRC=$(cd "$(dirname "$0")/.." && pwd)
REPS=${REPS:-3}
RANKS=${RANKS:-4}
TOKENS=${TOKENS:-4096}
HIDDEN=${HIDDEN:-1024}
EXPERTS=${EXPERTS:-8}
TOPK=${TOPK:-2}
ITERS=${ITERS:-20}
PYTHON=${PYTHON:-/usr/bin/python3}

if ! "$PYTHON" -c 'import torch.distributed as d; assert d.is_gloo_available()' \
    2>/dev/null; then
    echo "moe_compare: $PYTHON has no torch with gloo (apt-get install python3-torch)" >&2
    exit 77
fi

median() { sort -g | awk '{v[NR]=$1} END {print (NR ? v[int((NR+1)/2)] : "nan")}'; }

wd=() wc=() gd=() gc=()
for ((i = 0; i < REPS; i++)); do
    # the "med" line: disp_p50 disp_p99 comb_p50 ... (ms)
    line=$("$BUILD/tools/weftrun" -n "$RANKS" "$BUILD/tools/weft-moe-bench" \
        --tokens "$TOKENS" --hidden "$HIDDEN" --experts "$EXPERTS" \
        --topk "$TOPK" --iters "$ITERS" --runs 1 | awk '$1 == "med"')
    wd+=("$(awk '{print $2 * 1000}' <<<"$line")")
    wc+=("$(awk '{print $4 * 1000}' <<<"$line")")
    line=$("$PYTHON" "$SRC/bench/moe_gloo.py" --ranks "$RANKS" \
        --tokens "$TOKENS" --hidden "$HIDDEN" --experts "$EXPERTS" \
        --topk "$TOPK" --iters "$ITERS")
    gd+=("$(awk '{print $3}' <<<"$line")")
    gc+=("$(awk '{print $5}' <<<"$line")")
done
echo "# $RANKS ranks, $TOKENS tokens x hidden $HIDDEN fp32, top-$TOPK of" \
    "$EXPERTS experts; p50 us of the slowest rank, median of $REPS runs"
echo "# runs: weft dispatch ${wd[*]}; gloo ${gd[*]}; weft combine ${wc[*]};" \
    "gloo ${gc[*]}"
printf '%-9s %12s %12s %7s\n' step weft_us gloo_us ratio
for s in dispatch combine; do
    if [ "$s" = dispatch ]; then
        a=$(printf '%s\n' "${wd[@]}" | median)
        b=$(printf '%s\n' "${gd[@]}" | median)
    else
        a=$(printf '%s\n' "${wc[@]}" | median)
        b=$(printf '%s\n' "${gc[@]}" | median)
    fi
    awk -v s="$s" -v a="$a" -v b="$b" \
        'BEGIN {printf "%-9s %12.1f %12.1f %7.2f\n", s, a, b, (b > 0 ? a / b : 0)}'
done
