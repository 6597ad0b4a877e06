#!/usr/bin/env bash
# weft-bench and weft-tune end to end under weftrun: the output contract of
# ../shared/peers/README.md (size_bytes count time_us algbw busbw
# max_time_us errors, numeric, '#' comments), --check on every collective
# (dtypes, ops, roots, in place, -a all), --json, bad arguments (exit 2),
# and the tuning round trip: weft-tune writes a file, selection logs it.
# About a minute on 2 cores (debug build, 3 ranks oversubscribed).
set -u
B=${WT_TOP_BUILDDIR:-.}
RUN=$B/tools/weftrun
BENCH=$B/tools/weft-bench
TUNE=$B/tools/weft-tune
n=0
fail=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
bad() {
    n=$((n + 1)); fail=1; echo "not ok $n - $1"
    for f in "$d/out" "$d/err"; do
        [ -s "$f" ] && head -20 "$f" | sed 's/^/#   /'
    done
    return 0
}
check() {
    if [ $? = 0 ]; then ok "$1"; else bad "$1"; fi
}
# bench NP ARGS...: run weft-bench; output in $d/out, $d/err, status $rc
bench() {
    local np=$1; shift
    timeout -k 5 120 "$RUN" -n "$np" "$BENCH" "$@" >"$d/out" 2>"$d/err" \
        </dev/null
    rc=$?
}
# rows [MIN]: every non-comment line has at least 10 columns, the first
# seven numeric (errors 0 under --check), and there are at least MIN rows
rows() {
    awk -v min="${1:-1}" '
        /^#/ { next }
        {
            rows++
            if (NF < 10) { print "short row: " $0; bad = 1 }
            for (i = 1; i <= 7; i++)
                if ($i !~ /^[0-9]+(\.[0-9]+)?$/) {
                    print "column " i " not numeric: " $0; bad = 1
                }
            if ($7 != 0) { print "errors: " $0; bad = 1 }
        }
        END { if (rows < min) { print rows " rows"; bad = 1 } exit bad }
    ' "$d/out" >"$d/why" || { cat "$d/why" >>"$d/err"; return 1; }
}

for p in "$RUN" "$BENCH" "$TUNE"; do
    if [ ! -x "$p" ]; then
        echo "not ok 1 - $p was not built"
        exit 1
    fi
done
d=$(mktemp -d) || exit 1
trap 'rm -rf "$d"' EXIT

# 1. the contract, with the sizes and iterations of mpi_coll_bench
bench 3 allreduce -b 8 -e 1M --check
[ $rc = 0 ] && rows 18 && [ "$(grep -vc '^#' "$d/out")" = 18 ] &&
    [ "$(grep -v '^#' "$d/out" | awk 'NR == 1 { print $1, $2 }')" = "8 2" ] &&
    [ "$(grep -v '^#' "$d/out" | tail -1 | awk '{ print $1, $2 }')" = \
      "1048576 262144" ]
check "allreduce -b 8 -e 1M --check on 3 ranks: 18 rows, 10 columns, 0 errors"

# 2. every collective, checked, with a root that is not 0
for c in reduce bcast broadcast allgather reduce_scatter alltoall gather \
         scatter; do
    bench 3 $c -b 8 -e 64K -f 8 -n 20 -r 2 --check
    [ $rc = 0 ] && rows 4
    check "$c -r 2 --check on 3 ranks"
done
bench 3 barrier -n 50 --check
[ $rc = 0 ] && rows 1 && [ "$(grep -v '^#' "$d/out" | awk '{ print $1 }')" = 0 ]
check "barrier: one row of size 0"
# sizes that round to less than one element per rank are skipped, as the
# peers' benchmark does
bench 3 allgather -b 8 -e 32 -f 2 -n 5 --check
[ $rc = 0 ] && grep -q '^# size 8 skipped' "$d/out" && rows 1
check "allgather skips sizes below one element per rank"

# 3. dtypes, ops, in place, -a all (one row per size and algorithm)
for dt in int8 uint8 int32 uint64 fp16 bf16 fp64 double; do
    bench 3 allreduce -b 4 -e 4K -f 32 -n 10 -d $dt -o max --check --inplace
    [ $rc = 0 ] && rows 2
    check "allreduce -d $dt -o max --inplace --check"
done
for op in sum prod min max avg; do
    bench 3 reduce_scatter -b 96 -e 6K -f 8 -n 10 -d bf16 -o $op --check
    [ $rc = 0 ] && rows 2
    check "reduce_scatter -d bf16 -o $op --check"
done
for c in allgather alltoall gather scatter reduce; do
    bench 3 $c -b 96 -e 6K -f 8 -n 10 -d fp16 -r 1 --inplace --check
    [ $rc = 0 ] && rows 2
    check "$c -d fp16 -r 1 --inplace --check"
done
# buffers in huge pages (--huge): the header says so, results exact
bench 2 allreduce -b 3M -e 3M -n 3 --huge --check
[ $rc = 0 ] && rows 1 && grep -q '| huge on |' "$d/out"
check "allreduce --huge --check"
bench 3 allreduce -b 8 -e 1K -f 128 -n 10 -a all --check
listed=$(grep '^# -a all' "$d/out" | cut -d: -f3 | wc -w)
# an algorithm that cannot run here (hier on one node) says so and is skipped
skipped=$(grep -o '^# size [0-9]*: [a-z_]* skipped' "$d/out" |
    awk '{ print $4 }' | sort -u | wc -l)
algos=$((listed - skipped))
[ $rc = 0 ] && rows 4 && [ "$algos" -ge 2 ] &&
    [ "$(grep -vc '^#' "$d/out")" = $((2 * algos)) ] &&
    [ "$(grep -v '^#' "$d/out" | awk '{ print $10 }' | sort -u | wc -l)" = \
      "$algos" ]
check "allreduce -a all: one row per size and algorithm, algo column"
bench 3 broadcast -b 64 -e 64 -n 10 -a chain --check
[ $rc = 0 ] && rows 1 &&
    [ "$(grep -v '^#' "$d/out" | awk '{ print $10 }')" = chain ]
check "-a chain: the algo column says chain"

# 4. --json: one object per size
bench 2 allreduce -b 8 -e 64 -n 10 --json --check
json='^\{.*"size_bytes":[0-9]+,.*"errors":0,.*"algo":"[a-z_]+"\}$'
[ $rc = 0 ] && [ "$(grep -cE "$json" "$d/out")" = 4 ] &&
    [ "$(grep -vc '^{' "$d/out")" = 0 ]
check "--json prints one object per size and nothing else"

# 5. bad arguments: a message and exit 2
for args in "alreduce" "" "allreduce -d float128" "allreduce -o xor" \
            "allreduce -b 1Q" "allreduce -b 1M -e 1K" "allreduce -n 0" \
            "allreduce -f 1" "allreduce -o avg -d int32" "allreduce -r 3" \
            "allreduce -a nosuch" "allreduce stray"; do
    # shellcheck disable=SC2086
    bench 3 $args
    [ $rc = 2 ] && grep -q 'weft-bench: ' "$d/err" && ! grep -vq '^#' "$d/out"
    check "bad arguments '$args': exit 2 and a message"
done
# a count out of range names the range it must fall in
bench 3 pingpong -n 1000000
[ $rc = 2 ] && grep -q "'1000000' (an integer from 1 to 100000)" "$d/err"
check "pingpong -n past the limit names the range"
"$BENCH" --help | grep -q '^usage: weft-bench'
check "--help"

# 6. weft-tune writes a tuning file; weft-bench's selection then uses it
tf=$d/tuning.txt
timeout -k 5 120 "$RUN" -n 3 "$TUNE" -o "$tf" -c allreduce,broadcast -b 8 \
    -e 16K -f 16 -n 10 -R 1 >"$d/out" 2>"$d/err" </dev/null
[ $? = 0 ] && [ "$(head -1 "$tf")" = "weft-tuning 1" ] &&
    grep -Eq '^allreduce +0 +[^ ]+ +3 +\* +[a-z_]+$' "$tf" &&
    grep -Eq '^allreduce .* inf +3 ' "$tf" &&
    grep -Eq '^broadcast .* inf +3 ' "$tf"
check "weft-tune writes a tuning file for allreduce and broadcast"
WEFT_TUNING_FILE=$tf WEFT_LOG_LEVEL=info bench 3 allreduce -b 8 -e 8K \
    -f 32 -n 5 --check
[ $rc = 0 ] && rows 3 && grep -q 'tuning file .*: [0-9]* rules' "$d/err" &&
    grep -q 'allreduce of 8 bytes on 3 ranks: .*(tuning file)' "$d/err"
check "WEFT_TUNING_FILE: selection logs the tuning file's choice"
printf 'weft-tuning 1\nallreduce 0 inf * * ring\nalreduce 0 1K 3 * ring\n' \
    >"$tf"
WEFT_TUNING_FILE=$tf bench 2 allreduce -b 8 -e 8 -n 5 --check
[ $rc = 0 ] && rows 1 &&
    grep -q "$tf:3: unknown collective 'alreduce'.*ignored" "$d/err" &&
    [ "$(grep -c 'tuning.txt:3' "$d/err")" = 2 ]
check "a bad tuning file is logged once per rank (file:line) and ignored"

# 7. pingpong: the contract, checked; over ucx's shared memory (where the
# module loads) nothing says ERROR: UCX 1.13 logs one (on stdout) for an
# endpoint asking for peer-failure handling, which weft falls back from
bench 2 pingpong -b 8 -e 64K -n 200 -w 20 --check
[ $rc = 0 ] && rows 3
check "pingpong: the contract, checked"
if [ -e "$B/transports/ucx/.libs/weft_tl_ucx.so" ]; then
    WEFT_TL=self,ucx UCX_TLS=sm UCX_NET_DEVICES=lo \
        bench 2 pingpong -b 8 -e 8K -n 200 -w 20 --check
    [ $rc = 0 ] && ! grep -q 'ERROR' "$d/out" "$d/err" && rows 2
    check "pingpong over ucx shared memory: checked, no ERROR logged"
else
    n=$((n + 1))
    echo "ok $n - # SKIP ucx is not built here"
fi

exit $fail
