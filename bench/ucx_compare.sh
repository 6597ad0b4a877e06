#!/usr/bin/env bash
# ucx_compare.sh - point-to-point latency and bandwidth of weft's ucx
# transport next to ucx_perftest (package ucx-utils) on the same UCX path,
# in the same run, median of REPS runs per configuration.
#
# Usage: bench/ucx_compare.sh [BUILD_DIR]    (default: .)
# Environment: REPS=3, PATHS="tcp sm" (UCX_TLS values; UCX_NET_DEVICES=lo),
#   LAT_SIZE=8, BW_SIZE=1M (weft-bench syntax; BW_BYTES must match),
#   BW_BYTES=1048576, TIMEOUT=120 (s per run). Installs nothing.
# Latency: weft-bench's p50 one-way time (half a round trip) against
# ucx_perftest tag_lat's "typical" (median) one-way time. Bandwidth:
# weft-bench's streaming bw (window of 64) against ucx_perftest tag_bw's
# overall MB/s (2^20 bytes) converted to GB/s (1e9). ratio = weft/perftest
# of the medians; paired = the median of each round's own ratio (the
# machine may change speed between rounds; neighbouring runs share it).
# Same path: weft creates its endpoints with UCP_ERR_HANDLING_MODE_PEER
# where UCX offers it (tcp; UCX 1.13's shared memory does not, and weft
# watches same-node peers' processes instead), and in UCX 1.13 that mode
# takes tcp's zero-copy RMA lane away, so rendezvous goes through active
# messages. The tcp path is therefore compared with `ucx_perftest -e`
# (endpoints with error handling: the same protocols); the plain
# perftest figure is printed beside it (column nofail) for reference.
# Where Open MPI or MPICH is installed, each path also gets a row per MPI
# over the same UCX path (Open MPI's pml ucx, MPICH's ch4:ucx; the twin
# harness bench/mpi_pingpong.c): what a production MPI layered on UCX
# adds to ucx_perftest, run in the same rounds (MPI=0 leaves them out).
set -u
BUILD=${1:-.}
REPS=${REPS:-3}
PATHS=${PATHS:-"tcp sm"}
LAT_SIZE=${LAT_SIZE:-8}
BW_SIZE=${BW_SIZE:-1M}
BW_BYTES=${BW_BYTES:-1048576}
TIMEOUT=${TIMEOUT:-120}
PORT=${PORT:-$((20000 + $$ % 20000))}
command -v ucx_perftest >/dev/null || {
    echo "ucx_compare: ucx_perftest not found (apt-get install ucx-utils)" >&2
    exit 77
}
export UCX_NET_DEVICES=lo WEFT_TL=self,ucx
# ucx_perftest drives a worker made for one thread (UCS_THREAD_MODE_SINGLE)
# and the MPI twins call MPI_Init (MPI_THREAD_SINGLE): weft-bench, one
# thread too, runs with the same promise (no context lock; README, Threads)
export WEFT_THREADS=${WEFT_THREADS:-serialized}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
HERE=$(cd "$(dirname "$0")" && pwd)
TMP=$(mktemp -d -t ucxcmp.XXXXXX) || exit 1
trap 'rm -rf "$TMP"' EXIT
MPIS=""
if [ "${MPI:-1}" != 0 ]; then
    command -v mpicc.openmpi >/dev/null &&
        mpicc.openmpi -O2 -o "$TMP/pp.ompi" "$HERE/mpi_pingpong.c" &&
        MPIS="$MPIS ompi"
    command -v mpicc.mpich >/dev/null &&
        mpicc.mpich -O2 -o "$TMP/pp.mpich" "$HERE/mpi_pingpong.c" &&
        MPIS="$MPIS mpich"
fi
export WEFT_TL_MODULE_PATH=${WEFT_TL_MODULE_PATH:-$BUILD/transports/ucx/.libs}

median() { sort -g | awk '{v[NR]=$1} END {print (NR ? v[int((NR+1)/2)] : "nan")}'; }

weft_run() { # size column -> value
    timeout "$TIMEOUT" "$BUILD/tools/weftrun" -n 2 "$BUILD/tools/weft-bench" \
        pingpong -b "$1" -e "$1" 2>/dev/null |
        awk -v c="$2" '!/^#/ && NF >= 10 {print $c}' | tail -1
}

mpi_run() { # mpi size column -> value (p50_us: 8, bw_GBs: 10)
    case $1 in
    ompi) timeout "$TIMEOUT" mpirun.openmpi -np 2 --mca pml ucx \
              --mca pml_ucx_tls any --mca pml_ucx_devices any --mca btl self \
              -x UCX_TLS -x UCX_NET_DEVICES "$TMP/pp.ompi" -b "$2" -e "$2" ;;
    mpich) timeout "$TIMEOUT" mpirun.mpich -np 2 "$TMP/pp.mpich" -b "$2" \
               -e "$2" ;;
    esac 2>/dev/null | awk -v c="$3" '!/^#/ && NF >= 10 {print $c}' | tail -1
}

perftest_run() { # flags test size iters column -> value
    local flags=$1
    shift
    PORT=$((PORT + 1))
    timeout "$TIMEOUT" ucx_perftest -p "$PORT" >/dev/null 2>&1 &
    local srv=$!
    sleep 0.5
    # shellcheck disable=SC2086 # flags: empty or -e
    timeout "$TIMEOUT" ucx_perftest 127.0.0.1 $flags -p "$PORT" -t "$1" \
        -s "$2" -n "$3" -w "$(($3 / 10))" 2>/dev/null |
        awk -v c="$4" '/^Final:/ {print $c}'
    wait "$srv" 2>/dev/null
}

printf '%-4s %-9s %12s %12s %7s %12s %7s\n' path metric weft perftest ratio nofail paired
for path in $PATHS; do
    export UCX_TLS=$path
    same=""
    [ "$path" = tcp ] && same="-e" # see the header: the same protocols
    wl=() pl=() wb=() pb=() nl=() nb=()
    declare -A ml=() mb=()
    for ((i = 0; i < REPS; i++)); do
        wl+=("$(weft_run "$LAT_SIZE" 8)") # p50_us
        pl+=("$(perftest_run "$same" tag_lat "$LAT_SIZE" 20000 3)") # typical
        wb+=("$(weft_run "$BW_SIZE" 10)") # bw_GBs
        pb+=("$(perftest_run "$same" tag_bw "$BW_BYTES" 1000 7)") # MB/s
        if [ -n "$same" ]; then
            nl+=("$(perftest_run "" tag_lat "$LAT_SIZE" 20000 3)")
            nb+=("$(perftest_run "" tag_bw "$BW_BYTES" 1000 7)")
        fi
        for m in $MPIS; do
            ml[$m]+=" $(mpi_run "$m" "$LAT_SIZE" 8)"
            mb[$m]+=" $(mpi_run "$m" "$BW_SIZE" 10)"
        done
    done
    mb() { printf '%s\n' "$@" | median | awk '{print $1 * 1048576 / 1e9}'; }
    lw=$(printf '%s\n' "${wl[@]}" | median)
    lp=$(printf '%s\n' "${pl[@]}" | median)
    bw=$(printf '%s\n' "${wb[@]}" | median)
    bp=$(mb "${pb[@]}")
    ln=nan bn=nan
    if [ -n "$same" ]; then
        ln=$(printf '%s\n' "${nl[@]}" | median)
        bn=$(mb "${nb[@]}")
    fi
    echo "# $path runs: weft lat ${wl[*]} us; perftest $same lat ${pl[*]} us;" \
        "weft bw ${wb[*]} GB/s; perftest $same bw ${pb[*]} MB/s;" \
        "perftest (no -e) lat ${nl[*]:-} us bw ${nb[*]:-} MB/s"
    # the median of each run's own ratio: the machine may change speed
    # between runs, and a pair of neighbouring runs shares the speed
    paired() { # scale weft... -- perftest...
        local scale=$1 w=() i
        shift
        while [ "$1" != -- ]; do w+=("$1"); shift; done
        shift # now "$@" is the perftest list
        local p=("$@")
        for ((i = 0; i < ${#w[@]}; i++)); do
            awk -v a="${w[$i]}" -v b="${p[$i]}" -v s="$scale" \
                'BEGIN {if (b > 0) print a / (b * s)}'
        done | median
    }
    row() { # metric weft perftest nofail paired
        awk -v p="$path" -v m="$1" -v a="$2" -v b="$3" -v n="$4" -v r="$5" \
            'BEGIN {printf "%-4s %-9s %12.3f %12.3f %7.2f %12s %7.2f\n", p, m, a, b, (b > 0 ? a / b : 0), n, r}'
    }
    row lat "$lw" "$lp" "$ln" "$(paired 1 "${wl[@]}" -- "${pl[@]}")"
    row "bw GB/s" "$bw" "$bp" "$bn" \
        "$(paired "$(awk 'BEGIN {print 1048576 / 1e9}')" "${wb[@]}" -- "${pb[@]}")"
    # the MPIs over the same UCX path: their own figure in the weft
    # column, ratio and paired against the same perftest runs
    for m in $MPIS; do
        read -ra l <<<"${ml[$m]}"
        read -ra b <<<"${mb[$m]}"
        echo "# $path $m-ucx runs: lat ${l[*]} us; bw ${b[*]} GB/s"
        row "lat $m" "$(printf '%s\n' "${l[@]}" | median)" "$lp" nan \
            "$(paired 1 "${l[@]}" -- "${pl[@]}")"
        row "bw $m" "$(printf '%s\n' "${b[@]}" | median)" "$bp" nan \
            "$(paired "$(awk 'BEGIN {print 1048576 / 1e9}')" "${b[@]}" -- "${pb[@]}")"
    done
done
