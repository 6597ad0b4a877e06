#!/usr/bin/env bash
# Several hosts on one machine (TESTING.md "Namespaced hosts"): two network
# namespaces on a bridge, 2 ranks on each and then 4, started by
# `weftrun --hosts --host-cmd 'ip netns exec {host}'`. For each transport
# between hosts (tcp; ofi and ucx when their module loads, else a SKIP
# that says why), with shared memory inside each host:
#  - p2p across the hosts (weft-bench pingpong, one rank per host) and
#    allreduce, broadcast, allgather, alltoall, reduce_scatter with every
#    algorithm (weft-bench -a all --check: every element checked);
#  - each rank reached the ranks of the other host through that transport
#    and its own host's through shm (the "rank R via TL" debug lines);
#    the bytes counted on host 1's link show the data crossed it, and
#    host 1's loopback stayed idle (a control run over tcp alone shows
#    that it would not have if the ranks of a host talked through it).
# Then, with the link limited by tc tbf, the bytes that cross it per
# allreduce of N bytes: the node-aware algorithm (hier) N each way, the
# flat ring 2(P-1)/P N each way (its ring crosses twice, once each way),
# within 10% (the headers of the packets, the acks).
# Skips with the reason where namespaces cannot be made (not root, no ip).
# Deletes what it made. About a minute on 2 cores.
set -u
B=${WT_TOP_BUILDDIR:-.}
S=${WT_TOP_SRCDIR:-.}
RUN=$B/tools/weftrun
BENCH=$B/tools/weft-bench
INFO=$B/tools/weft-info
. "$S/tests/tap.sh"
. "$S/tests/netns_hosts.sh"

for x in "$RUN" "$BENCH" "$INFO"; do
    if [ ! -x "$x" ]; then
        echo "not ok 1 - $x was not built"
        exit 1
    fi
done
d=$(mktemp -d) || exit 1
P=wmh$$
trap 'hosts_down "$P"; rm -rf "$d"' EXIT
trap 'exit 1' INT TERM
export WEFT_TIMEOUT=30s WEFT_LOG_LEVEL=error
TLS="tcp ofi ucx"
COLLS="allreduce broadcast allgather alltoall reduce_scatter"

if [ "$(id -u)" != 0 ] || ! hosts_up "$P" 2; then
    why="cannot make network namespaces here (needs root and iproute2)"
    for tl in $TLS; do
        for k in 2 4; do skip "$tl between 2 hosts x $k ranks: $why"; done
    done
    skip "control: host 1's lo without shm: $why"
    skip "bytes on a rate-limited link: $why"
    echo "1..$n"
    exit 0
fi

# counter NS DEV rx|tx: bytes the interface has counted (printf: mawk
# prints numbers past 2^31 as 2.1e+09)
counter() {
    ip -n "$1" -s link show dev "$2" |
        awk -v w="$3" '$1 == "RX:" { getline; rx = $1 }
                       $1 == "TX:" { getline; tx = $1 }
                       END { printf "%.0f\n", (w == "rx" ? rx : tx) + 0 }'
}
# snap: the counters of host 1's link (switch side: tx is toward host 1)
# and of host 1's loopback, as "to from lo"
snap() {
    echo "$(counter "$P-sw" h1 tx) $(counter "$P-sw" h1 rx)" \
        "$(counter "$P-h1" lo rx)"
}
# delta BEFORE AFTER FIELD(1 to host 1, 2 from it, 3 lo)
delta() { echo $(($(echo "$2" | cut -d' ' -f"$3") - $(echo "$1" | cut -d' ' -f"$3"))); }

# job NP ARGS...: weftrun on host 0 (the store there too), NP ranks, half
# on each host; output in $d/out, $d/err; $rc; counters before and after
job() {
    local np=$1
    shift
    before=$(snap)
    timeout -k 5 120 ip netns exec "$P-h0" "$RUN" -n "$np" \
        --hosts "$P-h0,$P-h1" --host-cmd 'ip netns exec {host}' \
        --rendezvous "$(host_addr 0):0" "$@" >"$d/out" 2>"$d/err" </dev/null
    rc=$?
    after=$(snap)
    to=$(delta "$before" "$after" 1)
    from=$(delta "$before" "$after" 2)
    lo=$(delta "$before" "$after" 3)
}

# routes K TL: each of the 2K ranks said it reaches the ranks of its own
# host through shm and the others through TL, and nothing else
routes() {
    awk -v k="$1" -v tl="$2" '
        / debug core: rank [0-9]+ via / {
            split($1, f, ":"); me = f[3] + 0; sub(/\]/, "", me)
            for (i = 1; i < NF; i++) if ($i == "via") { q = $(i - 1); via = $(i + 1) }
            want = int(me / k) == int(q / k) ? "shm" : tl
            if (via != want) { print "# rank " me " reaches rank " q " via " via ", not " want; bad = 1 }
            seen[me " " q]++
        }
        END {
            for (r = 0; r < 2 * k; r++) for (q = 0; q < 2 * k; q++)
                if (r != q && seen[r " " q] != 1) { print "# rank " r ": no route to " q; bad = 1 }
            exit bad
        }' "$d/err" "$d/out"
}

# the settings of the modules between the namespaces (their interface is
# eth0 in each host; their shared-memory paths are not wanted: weft's shm
# carries the traffic inside a host)
tl_env() {
    case $1 in
    tcp) echo "WEFT_TL=self,shm,tcp" ;;
    ofi) echo "WEFT_TL=self,shm,ofi FI_PROVIDER=tcp FI_TCP_IFACE=eth0" ;;
    ucx) echo "WEFT_TL=self,shm,ucx UCX_TLS=tcp UCX_NET_DEVICES=eth0" ;;
    esac
}

for tl in $TLS; do
    line=$("$INFO" 2>/dev/null | grep -E "^  $tl ")
    if ! echo "$line" | grep -q "usable here"; then
        why=$(echo "$line" | sed -E "s/^  $tl +//")
        for k in 2 4; do
            skip "$tl between 2 hosts x $k ranks: ${why:-weft-info does not list it}"
        done
        continue
    fi
    env=$(tl_env "$tl")
    # p2p: one rank on each host, every byte checked, up to 4 MiB (past
    # the eager limits); 12 round trips of 4 MiB at least cross the link
    job 2 env $env WEFT_LOG_LEVEL=debug WEFT_LOG_SUBSYS=core \
        "$BENCH" pingpong -b 1 -e 4M -f 16 -n 10 -w 2 --check
    [ $rc = 0 ] && routes 1 "$tl" >>"$d/err" &&
        [ $to -ge $((12 * 4194304)) ] &&
        [ $from -ge $((12 * 4194304)) ] &&
        grep -qE '^ +4194304 ' "$d/out"
    if [ $? = 0 ]; then
        ok "$tl: p2p between 2 hosts, 1 B - 4 MiB checked ($to B to host 1, $from B from it)"
    else
        bad "$tl: p2p between 2 hosts, 1 B - 4 MiB ($to B to host 1, $from B from it)"
    fi
    for k in 2 4; do
        np=$((2 * k))
        fails=""
        # p2p inside each host: the pairs 0-1, 2-3, ... share a host
        job $np env $env WEFT_LOG_LEVEL=debug WEFT_LOG_SUBSYS=core \
            "$BENCH" pingpong -b 1 -e 4M -f 16 -n 10 -w 2 --check
        if [ $rc != 0 ] || ! routes $k "$tl" >>"$d/err" || [ $lo -gt 65536 ] ||
            ! grep -qE '^ +4194304 ' "$d/out"; then
            fails=" pingpong"
            echo "pingpong: rc $rc, $lo B on host 1's lo" >>"$d/err"
        fi
        for c in $COLLS; do
            [ -n "$fails" ] && break
            job $np env $env WEFT_LOG_LEVEL=debug WEFT_LOG_SUBSYS=core \
                "$BENCH" $c -b 16 -e 1M -f 16 -n 2 -w 1 -a all --check
            # every algorithm at 1 MiB: at least 1 MiB each way per call
            if [ $rc != 0 ] || ! routes $k "$tl" >"$d/routes" ||
                [ $to -lt 1048576 ] || [ $from -lt 1048576 ] ||
                [ $lo -gt 65536 ] ||
                [ "$(grep -cE '^ +1048576 .* 0 +[0-9.]+ +[0-9.]+ +[a-z_]+$' "$d/out")" -lt 2 ]; then
                fails="$fails $c"
                cat "$d/routes" >>"$d/err"
                echo "$c: rc $rc, $to B to host 1, $from B from it, $lo B on its lo" >>"$d/err"
                break
            fi
        done
        if [ -z "$fails" ]; then
            ok "$tl: 2 hosts x $k ranks: pingpong in each host, $COLLS with every algorithm, checked; $tl across, shm inside (host 1's lo idle)"
        else
            bad "$tl: 2 hosts x $k ranks:$fails"
        fi
    done
done

# the control: ranks of a host over tcp (no shm) do use host 1's lo, so
# an idle lo above means shm carried that traffic
job 4 env WEFT_TL=self,tcp "$BENCH" allreduce -b 1M -e 1M -n 2 -w 1 -a ring \
    --check
if [ $rc = 0 ] && [ $lo -ge 1048576 ]; then
    ok "control: without shm, host 1's ranks talk over its lo ($lo B)"
else
    bad "control: without shm, host 1's lo counted $lo B"
fi

# The rate-limited link: bytes across it per allreduce of N bytes, from
# the difference between 5 and 1 timed calls (what a job costs besides
# cancels out; weft-bench makes the timed calls twice, a loop timed whole
# and one timing each call, so 8 calls apart). hier (allreduce_hier.c): node allreduce in shm, then the
# 2 leaders' allreduce (any of its algorithms sends N each way between 2
# ranks), then node broadcast in shm: N each way. ring
# (allreduce_ring.c), ranks in order, host 0 holds 0..k-1: the edges
# k-1 -> k and P-1 -> 0 cross, each carries 2(P-1)/P N.
if ! tc -n "$P-sw" qdisc add dev h1 root tbf rate 400mbit burst 128kb \
    latency 50ms ||
    ! tc -n "$P-h1" qdisc add dev eth0 root tbf rate 400mbit burst 128kb \
        latency 50ms; then
    skip "bytes on a rate-limited link: tc tbf refused here"
    echo "1..$n"
    exit $fail
fi
N=2097152
for k in 2 4; do
    np=$((2 * k))
    for a in hier ring; do
        job $np env WEFT_TL=self,shm,tcp "$BENCH" allreduce -b $N -e $N \
            -n 1 -w 0 -a $a --check
        rc1=$rc to1=$to from1=$from
        job $np env WEFT_TL=self,shm,tcp "$BENCH" allreduce -b $N -e $N \
            -n 5 -w 0 -a $a --check
        per_to=$(((to - to1) / 8)) per_from=$(((from - from1) / 8))
        case $a in
        hier) want=$N ;;
        ring) want=$((2 * (np - 1) * N / np)) ;;
        esac
        lo_lim=$((want * 9 / 10)) hi_lim=$((want * 11 / 10))
        [ $rc1 = 0 ] && [ $rc = 0 ] &&
            [ $per_to -ge $lo_lim ] && [ $per_to -le $hi_lim ] &&
            [ $per_from -ge $lo_lim ] && [ $per_from -le $hi_lim ]
        if [ $? = 0 ]; then
            ok "2 hosts x $k ranks, 400 Mbit/s link, allreduce of $N B, $a: $per_to B to host 1 and $per_from B from it per call, expected $want each way (+-10%)"
        else
            bad "2 hosts x $k ranks, 400 Mbit/s link, allreduce of $N B, $a: $per_to B to host 1 and $per_from B from it per call, expected $want each way (+-10%)"
        fi
        eval "bytes_$a=$((per_to + per_from))"
    done
    # and so the node-aware one moves k/(2k-1) of what the ring moves
    echo "# 2 x $k: hier/ring bytes $bytes_hier/$bytes_ring, theory $k/$((2 * k - 1))"
done

echo "1..$n"
exit $fail
