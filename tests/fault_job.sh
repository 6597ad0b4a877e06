#!/usr/bin/env bash
# Faults in whole jobs through weftrun, end to end (tests/prog_coll_loop:
# allreduce in a loop, every element checked):
#  - a rank stopped (SIGSTOP) mid-loop: the launcher's store misses its
#    heartbeats and every other rank gets WEFT_ERR_PEER_LOST naming it;
#  - a rank killed (SIGKILL) mid-loop: the others get WEFT_ERR_PEER_LOST;
#  - between namespaced hosts (skipped where they cannot be made): host 1
#    cut off without a reset mid-run (a partition): every rank on both
#    sides ends with a clear error within its deadlines; and a
#    rate-limited link (tc tbf): the job completes with correct data.
#  - outsiders at every listening port of a running job (junk, a frame
#    header claiming 4 GiB, a stalled byte, connect-and-close): nothing
#    changes, every result is right.
# Each case with 2, 4 and 8 ranks: weftrun returns, no rank process is
# left, /dev/shm is as it was. Every wait is bounded; the script takes
# about a minute.
set -u
B=${WT_TOP_BUILDDIR:-.}
S=${WT_TOP_SRCDIR:-.}
RUN=$B/tools/weftrun
PROG=$B/tests/prog_coll_loop
# the ranks' processes (libtool may run them from tests/.libs)
PROG_RE='tests/(\.libs/)?(lt-)?prog_coll_loop( |$)'
. "$S/tests/tap.sh"
# what each rank said, for the log (the fault table of the closing note)
said() { grep -E '^rank [0-9]+: [a-z]' "$d/out" | grep -v ': ready$' | sed 's/^/#   /'; }
check() {
    if [ $? = 0 ]; then ok "$1"; said; else bad "$1"; fi
}
shm_list() { ls /dev/shm 2>/dev/null | grep '^weft' | tr '\n' ' '; }
# every "after T s" in the output is at most $1 seconds
all_within() {
    awk -v lim="$1" '/ after [0-9.]+ s/ {
        for (i = 1; i < NF; i++) if ($i == "after" && $(i + 1) + 0 > lim) bad = 1
    } END { exit bad }' "$d/out"
}
# no rank process left (the program's name, for this job's directory)
none_left() {
    local i
    for ((i = 0; i < 40; i++)); do
        pgrep -f "$PROG_RE" >/dev/null 2>&1 || return 0
        sleep 0.1
    done
    return 1
}
# job [timeout] weftrun-args...: output in $d/out, $d/err; $rc, $took (ms)
job() {
    local t=$1; shift
    local t0; t0=$(now_ms)
    before=$(shm_list)
    timeout -k 5 "$t" "$@" >"$d/out" 2>"$d/err" </dev/null
    rc=$?
    took=$(($(now_ms) - t0))
    after=$(shm_list)
}

for x in "$RUN" "$PROG"; do
    if [ ! -x "$x" ]; then
        echo "not ok 1 - $x was not built"
        exit 1
    fi
done
d=$(mktemp -d) || exit 1
P=wtf$$
trap 'rm -rf "$d"; [ -n "${hosts:-}" ] && hosts_down "$P"' EXIT
export WEFT_TIMEOUT=20s WEFT_LOG_LEVEL=error

# 1. SIGSTOP: the launcher's store misses the heartbeats
for np in 2 4 8; do
    job 60 env WEFT_HEARTBEAT_TIMEOUT=2s "$RUN" -n $np "$PROG" \
        --iters 1000000 --stop-rank 1 --stop-at 200
    [ $rc != 0 ] && [ $rc != 124 ] &&
        has $((np - 1)) '^rank [0-9]: peer lost after [0-9.]+ s .*rank 1 sent no heartbeat' "$d/out" &&
        all_within 6 && none_left && [ "$after" = "$before" ]
    check "$np ranks, rank 1 stopped: the others get peer lost from its missing heartbeats within 6 s"
done

# 2. SIGKILL mid-loop
for np in 2 4 8; do
    job 60 "$RUN" -n $np "$PROG" --iters 1000000 --kill-rank 1 --kill-at 300
    [ $rc != 0 ] && [ $rc != 124 ] &&
        has $((np - 1)) '^rank [0-9]: peer lost after [0-9.]+ s .*rank 1' "$d/out" &&
        all_within 2 && none_left && [ "$after" = "$before" ]
    check "$np ranks, rank 1 killed: the others get peer lost naming it within 2 s"
done

# 3. outsiders at every listening port of the job (the ranks' data ports
# and weftrun's bootstrap port) while it runs: random bytes, a frame
# header claiming 4 GiB then EOF, a byte and a stall, connect and close;
# the job must not notice (every rank finishes with its data right)
outsider() {
    python3 - "$@" <<'PY'
import os, socket, struct, sys, time
held = []
for where in sys.argv[1:]:
    host, port = where.rsplit(":", 1)
    for i in range(12):
        try:
            s = socket.create_connection((host, int(port)), timeout=1)
        except OSError:
            continue
        try:
            if i % 4 == 0:
                s.sendall(os.urandom(1 + (i * 97) % 2000))
            elif i % 4 == 1:
                s.sendall(struct.pack("<IIQQQQ", 0x57656674, 1, 1 << 32,
                                      1 << 32, 0, 0)[:40])
            elif i % 4 == 2:
                s.sendall(b"\x01")
                held.append(s)
                continue
        except OSError:
            pass
        s.close()
time.sleep(1.5)
for s in held:
    s.close()
PY
}
for np in 2 4 8; do
    before=$(shm_list)
    t0=$(now_ms)
    timeout -k 5 60 "$RUN" -n $np --tl self,tcp "$PROG" --seconds 4 \
        >"$d/out" 2>"$d/err" \
        </dev/null &
    pid=$!
    for ((i = 0; i < 200; i++)); do
        [ "$(grep -c ready "$d/out" 2>/dev/null)" = $np ] && break
        sleep 0.05
    done
    pids=$( (pgrep -f "$PROG_RE"; pgrep -f "weftrun.*prog_coll_loop") |
        tr '\n' '|' | sed 's/|$//')
    ports=$(ss -ltnpH 2>/dev/null | grep -E "pid=($pids)," |
        awk '{print $4}' | sort -u)
    nports=$(echo $ports | wc -w)
    outsider $ports
    wait $pid
    rc=$?
    took=$(($(now_ms) - t0))
    after=$(shm_list)
    [ $rc = 0 ] && [ "$nports" -gt $np ] &&
        has $np '^rank [0-9]: ok [0-9]+ iterations$' "$d/out" &&
        none_left && [ "$after" = "$before" ]
    check "$np ranks: outsiders at all $nports listening ports change nothing (every result right)"
done

# 4-5. namespaced hosts (root, iproute2)
. "$S/tests/netns_hosts.sh"
if [ "$(id -u)" != 0 ] || ! hosts_up "$P" 2; then
    skip "partition between hosts (cannot make network namespaces here)"
    skip "rate-limited link between hosts (cannot make network namespaces here)"
    echo "1..$n"
    exit $fail
fi
hosts=1
# multi NP ARGS: weftrun and the store on host 0; half the ranks on each
multi() {
    local np=$1; shift
    ip netns exec "$P-h0" "$RUN" -n $np --hosts "$P-h0,$P-h1" \
        --host-cmd 'ip netns exec {host}' --rendezvous "$(host_addr 0):0" \
        "$@"
}
multi_def="$(declare -f multi host_addr); RUN=$RUN P=$P"

# host 1 back (the last case cut it): forget the addresses that failed to
# resolve meanwhile
host1_up() {
    ip -n "$P-sw" link set h1 up
    ip -n "$P-h0" neigh flush all
    ip -n "$P-h1" neigh flush all
}
# cut_host1 NP TIMEOUT HEARTBEAT_TIMEOUT GRACE: run the loop on NP ranks
# over both hosts, cut host 1 off without a reset once every rank is
# ready, and wait for the job (rc, took, before, after)
cut_host1() {
    local np=$1 i pid
    host1_up
    before=$(shm_list)
    t0=$(now_ms)
    WEFT_TIMEOUT=$2 WEFT_HEARTBEAT_TIMEOUT=$3 timeout -k 5 90 \
        bash -c "$multi_def multi $np --grace $4 $PROG --seconds 80" \
        >"$d/out" 2>"$d/err" </dev/null &
    pid=$!
    for ((i = 0; i < 300; i++)); do
        [ "$(grep -c ready "$d/out" 2>/dev/null)" = "$np" ] && break
        sleep 0.05
    done
    sleep 0.5
    ip -n "$P-sw" link set h1 down
    wait $pid
    rc=$?
    took=$(($(now_ms) - t0))
    after=$(shm_list)
}

# 4. partition: host 1 cut off without a reset while the loop runs. Host
# 0's ranks hear of it from the store (the heartbeats stop) within 3 s;
# host 1's, which cannot reach the store, within 3 s and one beat of its
# last answer, or at their deadline (WEFT_TIMEOUT): --grace 6 lets them
# say so before weftrun's SIGTERM, 2 s after host 0's exits by default
for np in 2 4 8; do
    cut_host1 $np 3s 3s 6
    [ $rc != 0 ] && [ $rc != 124 ] &&
        has $np '^rank [0-9]: (timed out|peer lost) after [0-9.]+ s' "$d/out" &&
        all_within 9 && none_left && [ "$after" = "$before" ] &&
        [ $took -lt 40000 ]
    check "$np ranks on 2 hosts, host 1 cut off: every rank ends with timed out or peer lost within 9 s, weftrun returns ($took ms)"
done

# 4b. the same cut with a long deadline (WEFT_TIMEOUT 60 s): host 1's
# ranks do not wait for it. The store answers every heartbeat; silent past
# WEFT_HEARTBEAT_TIMEOUT (2 s) and one beat, it is out of reach, and they
# fail with that instead of at the deadline
cut_host1 4 60s 2s 20
[ $rc != 0 ] && [ $rc != 124 ] &&
    has 4 '^rank [0-3]: peer lost after [0-9.]+ s' "$d/out" &&
    has 2 '^rank [23]: peer lost .*out of reach.*not answered' "$d/out" &&
    all_within 15 && none_left && [ "$after" = "$before" ] &&
    [ $took -lt 40000 ]
check "4 ranks, host 1 cut off, WEFT_TIMEOUT 60 s: host 1 finds the store out of reach within 15 s ($took ms)"
host1_up

# 5. a rate-limited link: slow, and correct
tc -n "$P-sw" qdisc add dev h1 root tbf rate 20mbit burst 32kbit latency 400ms &&
    tc -n "$P-h1" qdisc add dev eth0 root tbf rate 20mbit burst 32kbit latency 400ms
if [ $? != 0 ]; then
    skip "rate-limited link (tc tbf refused here)"
else
    for np in 2 4 8; do
        job 120 bash -c "$multi_def multi $np $PROG --iters 10 --count 65536"
        [ $rc = 0 ] && has $np '^rank [0-9]: ok 10 iterations$' "$d/out" &&
            none_left && [ "$after" = "$before" ]
        check "$np ranks on 2 hosts, 20 Mbit/s between them: 10 allreduces of 256 KiB, every element right ($took ms)"
    done
fi

echo "1..$n"
exit $fail
