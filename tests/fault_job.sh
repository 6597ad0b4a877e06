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
# Each case: weftrun returns, no rank process is left, /dev/shm is as it
# was. Every wait is bounded; the script takes about 30 s.
set -u
B=${WT_TOP_BUILDDIR:-.}
S=${WT_TOP_SRCDIR:-.}
RUN=$B/tools/weftrun
PROG=$B/tests/prog_coll_loop
n=0
fail=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
skip() { n=$((n + 1)); echo "ok $n - # SKIP $1"; }
bad() {
    n=$((n + 1)); fail=1; echo "not ok $n - $1"
    for f in "$d/out" "$d/err"; do
        [ -s "$f" ] && sed 's/^/#   /' "$f"
    done
    return 0
}
# what each rank said, for the log (the fault table of the closing note)
said() { grep -E '^rank [0-9]+: [a-z]' "$d/out" | grep -v ': ready$' | sed 's/^/#   /'; }
check() {
    if [ $? = 0 ]; then ok "$1"; said; else bad "$1"; fi
}
# has COUNT PATTERN FILE: PATTERN (grep -E) matches exactly COUNT lines
has() { [ "$(grep -cE -- "$2" "$3" 2>/dev/null)" = "$1" ]; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
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
        pgrep -f "$PROG" >/dev/null 2>&1 || return 0
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
job 60 env WEFT_HEARTBEAT_TIMEOUT=2s "$RUN" -n 4 "$PROG" --iters 1000000 \
    --stop-rank 2 --stop-at 200
[ $rc != 0 ] && [ $rc != 124 ] &&
    has 3 '^rank [013]: peer lost after [0-9.]+ s .*rank 2 sent no heartbeat' "$d/out" &&
    all_within 6 && none_left && [ "$after" = "$before" ]
check "rank 2 stopped: ranks 0, 1, 3 get peer lost from its missing heartbeats within 6 s"

# 2. SIGKILL mid-loop
job 60 "$RUN" -n 4 "$PROG" --iters 1000000 --kill-rank 1 --kill-at 300
[ $rc != 0 ] && [ $rc != 124 ] &&
    has 3 '^rank [023]: peer lost after [0-9.]+ s .*rank 1' "$d/out" &&
    all_within 2 && none_left && [ "$after" = "$before" ]
check "rank 1 killed: ranks 0, 2, 3 get peer lost naming it within 2 s"

# 3-4. namespaced hosts (root, iproute2)
. "$S/tests/netns_hosts.sh"
if [ "$(id -u)" != 0 ] || ! hosts_up "$P" 2; then
    skip "partition between hosts (cannot make network namespaces here)"
    skip "rate-limited link between hosts (cannot make network namespaces here)"
    echo "1..$n"
    exit $fail
fi
hosts=1
multi() {
    # weftrun and the store on host 0; ranks 0-1 on host 0, 2-3 on host 1
    ip netns exec "$P-h0" "$RUN" -n 4 --hosts "$P-h0,$P-h1" \
        --host-cmd 'ip netns exec {host}' --rendezvous "$(host_addr 0):0" \
        "$@"
}

# 3. partition: host 1 cut off without a reset while the loop runs
before=$(shm_list)
t0=$(now_ms)
WEFT_TIMEOUT=3s WEFT_HEARTBEAT_TIMEOUT=3s timeout -k 5 60 \
    bash -c "$(declare -f multi host_addr); RUN=$RUN P=$P multi $PROG --seconds 60" \
    >"$d/out" 2>"$d/err" </dev/null &
pid=$!
for ((i = 0; i < 200; i++)); do
    [ "$(grep -c ready "$d/out" 2>/dev/null)" = 4 ] && break
    sleep 0.05
done
sleep 0.5
ip -n "$P-sw" link set h1 down
wait $pid
rc=$?
took=$(($(now_ms) - t0))
after=$(shm_list)
[ $rc != 0 ] && [ $rc != 124 ] &&
    has 4 '^rank [0-3]: (timed out|peer lost) after [0-9.]+ s' "$d/out" &&
    all_within 9 && none_left && [ "$after" = "$before" ] && [ $took -lt 40000 ]
check "partition: all 4 ranks end with timed out or peer lost within 9 s, weftrun returns ($took ms)"
ip -n "$P-sw" link set h1 up

# 4. a rate-limited link: slow, and correct
ip -n "$P-sw" link set h1 up
tc -n "$P-sw" qdisc add dev h1 root tbf rate 20mbit burst 32kbit latency 400ms &&
    tc -n "$P-h1" qdisc add dev eth0 root tbf rate 20mbit burst 32kbit latency 400ms
if [ $? != 0 ]; then
    skip "rate-limited link (tc tbf refused here)"
else
    job 120 bash -c "$(declare -f multi host_addr); RUN=$RUN P=$P multi $PROG --iters 20 --count 65536"
    [ $rc = 0 ] && has 4 '^rank [0-3]: ok 20 iterations$' "$d/out" &&
        none_left && [ "$after" = "$before" ]
    check "rate-limited link (20 Mbit/s): 20 allreduces of 256 KiB over 2 hosts, every element right ($took ms)"
fi

echo "1..$n"
exit $fail
