#!/usr/bin/env bash
# ofi_pingpong_compare.sh - weft over the ofi transport (WEFT_TL=self,ofi,
# weft-bench pingpong under weftrun -n 2) next to libfabric's own
# fi_pingpong (Debian: libfabric-bin) on the same provider, in the same
# run; median of REPS runs per (provider, size, program).
#
# Usage: bench/ofi_pingpong_compare.sh [BUILD_DIR]    (default: .)
# Environment: REPS=3, PROVIDERS="tcp shm", SIZES="8 4096 65536 1048576
#   4194304", TIMEOUT=120 (s per run), NICE=19. Installs nothing.
# Columns: one-way latency (half a round trip, mean) of each and their
# ratio (weft / fi_pingpong: below 1.10 is within 10%), and the ping-pong
# bandwidth (size / one-way latency) of each. fi_pingpong runs untagged
# (-m msg): its tagged mode waits forever over tcp;ofi_rxm in 1.17.
set -u
BUILD=${1:-.}
REPS=${REPS:-3}
PROVIDERS=${PROVIDERS:-"tcp shm"}
SIZES=${SIZES:-"8 4096 65536 1048576 4194304"}
TIMEOUT=${TIMEOUT:-120}
NICE=${NICE:-19}
export FI_TCP_IFACE=${FI_TCP_IFACE:-lo}
# fi_pingpong is one thread; weft-bench too, and says so (no context lock;
# README, Threads)
export WEFT_THREADS=${WEFT_THREADS:-serialized}
export WEFT_TL_MODULE_PATH=${WEFT_TL_MODULE_PATH:-$BUILD/transports/ofi/.libs}
TMP=$(mktemp -d -t ofipp.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
command -v fi_pingpong >/dev/null ||
    { echo "ofi_pingpong_compare: fi_pingpong not found (apt-get install libfabric-bin)" >&2; exit 1; }

iters() { if [ "$1" -le 65536 ]; then echo 2000; else echo 200; fi; }
port=47700

# fi_pingpong PROVIDER SIZE -> "usec_per_xfer"
run_fi() {
    port=$((port + 1))
    timeout "$TIMEOUT" nice -n "$NICE" fi_pingpong -p "$1" -e rdm -S "$2" \
        -I "$(iters "$2")" -B $port >/dev/null 2>&1 &
    local srv=$!
    sleep 0.5
    timeout "$TIMEOUT" nice -n "$NICE" fi_pingpong -p "$1" -e rdm -S "$2" \
        -I "$(iters "$2")" -P $port 127.0.0.1 2>/dev/null |
        awk '/^bytes/ { getline; print $7 }'
    wait $srv 2>/dev/null
}

# weft PROVIDER SIZE -> "time_us"
run_weft() {
    WEFT_TL=self,ofi FI_PROVIDER=$1 timeout "$TIMEOUT" nice -n "$NICE" \
        "$BUILD/tools/weftrun" -n 2 "$BUILD/tools/weft-bench" pingpong \
        -b "$2" -e "$2" -n "$(iters "$2")" 2>/dev/null |
        awk '!/^#/ { print $3 }'
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "nan" }'; }

printf "%-5s %9s %12s %12s %7s %12s %12s\n" provider size \
    weft_lat_us fi_lat_us ratio weft_MB_s fi_MB_s
for p in $PROVIDERS; do
    for s in $SIZES; do
        : >"$TMP/w" && : >"$TMP/f"
        for r in $(seq 1 "$REPS"); do # interleaved: the same conditions
            run_weft "$p" "$s" >>"$TMP/w"
            run_fi "$p" "$s" >>"$TMP/f"
        done
        w=$(median <"$TMP/w")
        f=$(median <"$TMP/f")
        awk -v p="$p" -v s="$s" -v w="$w" -v f="$f" 'BEGIN {
            printf "%-5s %9d %12.2f %12.2f %7.2f %12.1f %12.1f\n", p, s, w, f,
                (f > 0 ? w / f : 0), (w > 0 ? s / w : 0), (f > 0 ? s / f : 0) }'
    done
done
