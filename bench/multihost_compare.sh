#!/usr/bin/env bash
# multihost_compare.sh - allreduce between two namespaced hosts on this
# machine (tests/netns_hosts.sh), with the link between them limited by
# tc tbf so that it dominates: the node-aware algorithm (hier: node
# allreduce in shared memory, the leaders across the link, node broadcast)
# next to the flat ring, median of REPS runs each, and the ratio
# hier / ring (PERF.md target: <= 0.67). Needs root and iproute2; sets up
# and deletes its own namespaces.
#
# Usage: bench/multihost_compare.sh [BUILD_DIR]    (default: .)
# Environment: RATE=1gbit (tc rate of the link, each direction),
#   QUEUE=200ms (tbf latency: a queue deep enough that TCP's windows fit
#   and a dropped tail does not stall a run for a retransmission timeout),
#   RANKS_PER_HOST=2, REPS=3, SIZES="64K 256K 1M 4M 16M" (one job per
#   size), ITERS (default: 64 MiB / size, at least 10; 2 more to warm up),
#   ALGOS="hier ring", WEFT_TL=self,shm,tcp (self,shm,ofi / self,shm,ucx
#   where those modules load), TIMEOUT=600 (s per run).
set -u
BUILD=${1:-.}
RATE=${RATE:-1gbit}
QUEUE=${QUEUE:-200ms}
K=${RANKS_PER_HOST:-2}
REPS=${REPS:-3}
SIZES=${SIZES:-"64K 256K 1M 4M 16M"}
ITERS=${ITERS:-}
ALGOS=${ALGOS:-"hier ring"}
TIMEOUT=${TIMEOUT:-600}
export WEFT_TL=${WEFT_TL:-self,shm,tcp}
# between the namespaces the modules' own interface settings
export FI_PROVIDER=${FI_PROVIDER:-tcp} FI_TCP_IFACE=${FI_TCP_IFACE:-eth0}
export UCX_TLS=${UCX_TLS:-tcp} UCX_NET_DEVICES=${UCX_NET_DEVICES:-eth0}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../tests/netns_hosts.sh"

if [ "$(id -u)" != 0 ]; then
    echo "multihost_compare: needs root (network namespaces)" >&2
    exit 2
fi
P=wmb$$
TMP=$(mktemp -d -t multihost.XXXXXX)
trap 'hosts_down "$P"; rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM
if ! hosts_up "$P" 2; then
    echo "multihost_compare: cannot make network namespaces here" >&2
    exit 2
fi
# the link of host 1, both directions: toward it (switch side) and from it
if ! tc -n "$P-sw" qdisc add dev h1 root tbf rate "$RATE" burst 256kb \
    latency "$QUEUE" ||
    ! tc -n "$P-h1" qdisc add dev eth0 root tbf rate "$RATE" burst 256kb \
        latency "$QUEUE"; then
    echo "multihost_compare: tc tbf refused here" >&2
    exit 2
fi

bytes() { # 64K -> 65536
    echo "$1" | awk '{ v = $1 + 0; u = toupper(substr($1, length($1)))
        print v * (u == "K" ? 1024 : u == "M" ? 1048576 : u == "G" ? 1073741824 : 1) }'
}

run_one() { # algo rep size: its row goes to $TMP/algo.rep
    local n=${ITERS:-$((67108864 / $(bytes "$3")))}
    [ "$n" -lt 10 ] && n=10
    ip netns exec "$P-h0" timeout "$TIMEOUT" "$BUILD/tools/weftrun" \
        -n $((2 * K)) --hosts "$P-h0,$P-h1" \
        --host-cmd 'ip netns exec {host}' --rendezvous "$(host_addr 0):0" \
        "$BUILD/tools/weft-bench" allreduce -b "$3" -e "$3" -n "$n" -w 2 \
        -a "$1" --check >"$TMP/one" 2>"$TMP/err" &&
        cat "$TMP/one" >>"$TMP/$1.$2"
}

# the algorithms take turns at each size, so that both see the same
# machine (it is shared and its load changes)
for r in $(seq 1 "$REPS"); do
    for s in $SIZES; do
        for a in $ALGOS; do
            if ! run_one "$a" "$r" "$s"; then
                echo "multihost_compare: $a run $r, $s bytes failed:" >&2
                cat "$TMP/one" "$TMP/err" >&2
            fi
        done
    done
done

# median of the mean time (us) of algo $1 at size $2 over the reps
median() {
    cat "$TMP/$1".[0-9]* 2>/dev/null | awk -v s="$2" '$1 == s { print $3 }' |
        sort -g | awk '{ v[NR] = $1 } END {
            if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2];
            else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

sizes=$(cat "$TMP"/*.[0-9]* 2>/dev/null | awk '/^ *[0-9]/ { print $1 }' |
    sort -nu)
drops() { tc -n "$1" -s qdisc show dev "$2" | awk '/dropped/ { print $7 + 0 }' |
    tr -d ','; }
echo "# allreduce fp32 sum, 2 hosts x $K ranks, link $RATE (tbf, queue $QUEUE;"\
    "packets dropped: $(drops "$P-sw" h1) toward host 1, $(drops "$P-h1" eth0)"\
    "from it), $WEFT_TL,"\
    "median of $REPS runs of ${ITERS:-64 MiB / size (at least 10)} iterations, time in us"
printf "%12s" size_bytes
for a in $ALGOS; do printf " %12s" "$a"; done
set -- $ALGOS
[ $# -ge 2 ] && printf " %12s" "$1/$2"
echo
for s in $sizes; do
    printf "%12s" "$s"
    for a in $ALGOS; do printf " %12s" "$(median "$a" "$s")"; done
    if [ $# -ge 2 ]; then
        x=$(median "$1" "$s") y=$(median "$2" "$s")
        awk -v x="$x" -v y="$y" 'BEGIN {
            if (x + 0 > 0 && y + 0 > 0) printf " %12.3f", x / y;
            else printf " %12s", "-" }'
    fi
    echo
done
