#!/usr/bin/env bash
# pingpong_compare.sh - point-to-point latency and bandwidth of weft next to
# Open MPI (tcp and shared memory) and MPICH, in the same run, median of
# REPS runs per configuration.
#
# Usage: bench/pingpong_compare.sh [BUILD_DIR]    (default: .)
# Environment: REPS=3, SIZES="-b 8 -e 64M -f 4", CONFIGS="weft-shm ompi-shm
#   weft-tcp ompi-tcp mpich", TIMEOUT=300 (s per run). Installs nothing.
# The last columns compare weft-shm with ompi-shm and weft-tcp with ompi-tcp.
set -u
BUILD=${1:-.}
HERE=$(cd "$(dirname "$0")" && pwd)
REPS=${REPS:-3}
SIZES=${SIZES:-"-b 8 -e 64M -f 4"}
CONFIGS=${CONFIGS:-"weft-shm ompi-shm weft-tcp ompi-tcp mpich"}
# the MPI twin calls MPI_Init (MPI_THREAD_SINGLE): weft-bench, one thread
# too, makes the same promise (no context lock; README, Threads)
export WEFT_THREADS=${WEFT_THREADS:-serialized}
TIMEOUT=${TIMEOUT:-300}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
TMP=$(mktemp -d -t pingpong.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

have() { command -v "$1" >/dev/null 2>&1; }
if have mpicc.openmpi; then
    mpicc.openmpi -O2 -o "$TMP/pp.openmpi" "$HERE/mpi_pingpong.c" || exit 1
fi
if have mpicc.mpich; then
    mpicc.mpich -O2 -o "$TMP/pp.mpich" "$HERE/mpi_pingpong.c" || exit 1
fi

run_one() { # config rep
    local out="$TMP/$1.$2"
    case $1 in
    weft-shm) WEFT_TL=shm timeout "$TIMEOUT" "$BUILD/tools/weftrun" -n 2 \
                  "$BUILD/tools/weft-bench" pingpong $SIZES >"$out" ;;
    weft-tcp) WEFT_TL=tcp timeout "$TIMEOUT" "$BUILD/tools/weftrun" -n 2 \
                  "$BUILD/tools/weft-bench" pingpong $SIZES >"$out" ;;
    ompi-tcp) [ -x "$TMP/pp.openmpi" ] || return 1
              timeout "$TIMEOUT" mpirun.openmpi -np 2 --bind-to core \
                  --mca pml ob1 --mca btl tcp,self \
                  --mca btl_tcp_if_include lo "$TMP/pp.openmpi" $SIZES >"$out" ;;
    ompi-shm) [ -x "$TMP/pp.openmpi" ] || return 1
              timeout "$TIMEOUT" mpirun.openmpi -np 2 --bind-to core \
                  "$TMP/pp.openmpi" $SIZES >"$out" ;;
    mpich)    [ -x "$TMP/pp.mpich" ] || return 1
              timeout "$TIMEOUT" mpirun.mpich -np 2 -iface lo \
                  "$TMP/pp.mpich" $SIZES >"$out" ;;
    esac
}

for c in $CONFIGS; do
    for r in $(seq 1 "$REPS"); do
        if ! run_one "$c" "$r" 2>"$TMP/$c.$r.err"; then
            echo "pingpong_compare: $c run $r failed:" >&2
            cat "$TMP/$c.$r.err" >&2
            rm -f "$TMP/$c.$r"
        fi
    done
done

# median of column $1 over the reps of config $2 at size $3
median() {
    cat "$TMP/$2".* 2>/dev/null | awk -v s="$3" -v c="$1" \
        '!/^#/ && $1 == s {print $c}' | sort -g |
        awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print "-"}'
}

sizes=$(cat "$TMP"/*.1 2>/dev/null | awk '!/^#/ {print $1}' | sort -n | uniq)
for metric in "latency_us 3" "bandwidth_GBs 10"; do
    set -- $metric
    printf '\n%s (median of %s)\n%10s' "$1" "$REPS" size
    for c in $CONFIGS; do printf ' %10s' "$c"; done
    printf ' %14s %14s\n' "weft/ompi-shm" "weft/ompi-tcp"
    for s in $sizes; do
        printf '%10s' "$s"
        for c in $CONFIGS; do printf ' %10s' "$(median "$2" "$c" "$s")"; done
        for t in shm tcp; do
            w=$(median "$2" "weft-$t" "$s"); o=$(median "$2" "ompi-$t" "$s")
            awk -v w="$w" -v o="$o" 'BEGIN { if (w+0 > 0 && o+0 > 0)
                printf " %14.2f", w / o; else printf " %14s", "-" }'
        done
        echo
    done
done
