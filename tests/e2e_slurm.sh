#!/usr/bin/env bash
# Slurm + PMIx end to end: starts a one-node Slurm cluster of its own
# (munged on a private socket, slurmctld, slurmd; slurm.conf in a temp
# dir through SLURM_CONF, CPUs=2, ports picked free), then runs through
# srun --mpi=pmix, without weftrun:
#  - tests/helper_pmix_store on 2 and 4 ranks (job shape, one job key on
#    every rank, put/get, allgather and a mismatched one, an abort event
#    reaching every rank, a second store after the first, as a second
#    context makes) and a fence that rank 0 skips (a timeout, not a hang);
#  - weft-bench allreduce --check on 2 and 4 ranks (shm) and with
#    WEFT_TL=self,tcp, and weft-bench pingpong --check (the p2p path);
#  - tests/prog_abort: an abort reaches every rank through PMIx events
#    alone (WEFT_FLOOD=store); tests/prog_coll_loop: a rank killed
#    mid-loop makes the others fail naming it;
#  - weft-bench outside srun: silently a job of one, and with PMIx
#    variables but no PMIx server: a warning, still a job of one.
# Stops slurmd and slurmctld before munged, by PID, and checks that no
# process it started is left. Skips (exit 77) when not root, when slurm or
# munge is missing, or when weft was built without PMIx. About 30 s.
set -u
B=${WT_TOP_BUILDDIR:-.}
BENCH=$B/tools/weft-bench
HELPER=$B/tests/helper_pmix_store
ABORT=$B/tests/prog_abort
LOOP=$B/tests/prog_coll_loop
. "${WT_TOP_SRCDIR:-.}/tests/tap.sh"
PATH=$PATH:/usr/sbin:/sbin

skip_all() {
    echo "1..0 # SKIP $1"
    exit 77
}
[ "$(id -u)" = 0 ] || skip_all "not root (munged runs as munge, slurmd as root)"
for t in srun sinfo slurmctld slurmd munged munge; do
    command -v "$t" >/dev/null 2>&1 ||
        skip_all "$t is not installed (apt-get install slurm-wlm munge)"
done
[ -x "$HELPER" ] || skip_all "weft was built without PMIx (configure --with-pmix)"
for p in "$BENCH" "$ABORT" "$LOOP"; do
    [ -x "$p" ] || skip_all "$p was not built"
done
id munge >/dev/null 2>&1 && [ -r /etc/munge/munge.key ] ||
    skip_all "no munge user or /etc/munge/munge.key"

d=$(mktemp -d /tmp/weft-slurm.XXXXXX) || exit 1
chmod 755 "$d" # munged checks every directory above its socket
MUNGED= CTLD= SD=
# alive PID: running (a zombie left to a parent that does not reap, as
# the daemonized munged may be, has stopped)
alive() {
    local st
    st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
    case $st in Z*) return 1 ;; esac
    return 0
}
# stop PID: TERM, then KILL after 5 s; 1 if it is still there
stop() {
    local i
    [ -n "$1" ] || return 0
    kill "$1" 2>/dev/null
    for ((i = 0; i < 100; i++)); do
        alive "$1" || return 0
        sleep 0.05
    done
    kill -KILL "$1" 2>/dev/null
    sleep 0.2
    ! alive "$1"
}
# the job steps' slurmstepd processes (not children of slurmd once they run)
stepds() { ps -C slurmstepd -o pid=,stat= | awk '$2 !~ /^Z/ { print $1 }' | sort; }
stepds_before=$(stepds)
# slurmd and slurmctld before munged (else slurmctld logs credential
# errors); slurmstepd processes of our steps, if any, by PID
cleanup() {
    local p left=0
    stop "$SD" || left=1
    stop "$CTLD" || left=1
    for p in $(comm -13 <(echo "$stepds_before") <(stepds)); do
        echo "# slurmstepd $p was left; stopping it"
        stop "$p"
        left=1
    done
    stop "$MUNGED" || left=1
    SD= CTLD= MUNGED=
    return $left
}
trap 'cleanup; rm -rf "$d"' EXIT

# a free TCP port from 20000-39999
free_port() {
    local p i
    for ((i = 0; i < 50; i++)); do
        p=$((20000 + RANDOM % 20000))
        ss -Htln "sport = :$p" 2>/dev/null | grep -q . || { echo $p; return; }
    done
    echo 0
}

# ---- the cluster ------------------------------------------------------------
mkdir -p "$d/munge" "$d/state" "$d/spool" "$d/log"
chown munge:munge "$d/munge"
su -s /bin/sh munge -c "munged --socket=$d/munge/munge.sock \
    --pid-file=$d/munge/munged.pid --log-file=$d/munge/munged.log \
    --seed-file=$d/munge/seed" >"$d/log/munged.out" 2>&1
MUNGED=$(cat "$d/munge/munged.pid" 2>/dev/null)
ctld_port=$(free_port)
sd_port=$(free_port)
[ "$sd_port" = "$ctld_port" ] && sd_port=$((ctld_port + 1))
cat >"$d/slurm.conf" <<EOF
ClusterName=weft
SlurmctldHost=localhost
AuthType=auth/munge
AuthInfo=socket=$d/munge/munge.sock
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$ctld_port
SlurmdPort=$sd_port
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool
SlurmctldPidFile=$d/slurmctld.pid
SlurmdPidFile=$d/slurmd.pid
SlurmctldLogFile=$d/log/slurmctld.log
SlurmdLogFile=$d/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName=localhost NodeAddr=127.0.0.1 CPUs=2 RealMemory=4000 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$d/slurm.conf
if [ -n "$MUNGED" ]; then
    slurmctld -D </dev/null >"$d/log/slurmctld.out" 2>&1 &
    CTLD=$!
    slurmd -D -N localhost </dev/null >"$d/log/slurmd.out" 2>&1 &
    SD=$!
fi
up=0
for ((i = 0; i < 150 && up == 0; i++)); do
    [ "$(sinfo -h -o %T 2>/dev/null)" = idle ] && up=1 || sleep 0.1
done
if [ $up = 1 ]; then
    ok "one-node cluster up (munged $MUNGED, slurmctld $CTLD, slurmd $SD)"
else
    bad "one-node cluster up (munged '$MUNGED', slurmctld $CTLD, slurmd $SD)"
    for f in "$d"/log/* "$d/munge/munged.log"; do
        [ -f "$f" ] && tail -5 "$f" | sed "s|^|#   $(basename "$f"): |"
    done
    cleanup
    echo "1..$n"
    exit 1
fi

if ! srun --mpi=list 2>&1 | grep -q pmix; then
    cleanup
    skip_all "this srun has no pmix plugin (srun --mpi=list)"
fi

# run NAME SRUN-ARGS...: output in $d/out, $d/err, status in $rc
run() {
    timeout -k 5 60 nice -n 19 srun "$@" >"$d/out" 2>"$d/err" </dev/null
    rc=$?
}
# bench_ok RANKS ROWS: weft-bench's table: RANKS ranks, ROWS rows, no errors
bench_ok() {
    grep -qE "\| ranks $1 \||: $1 ranks," "$d/out" &&
        [ "$(grep -cvE '^#|^\[' "$d/out")" = "$2" ] &&
        awk '!/^#/ && !/^\[/ && $7 != 0 { e = 1 } END { exit e }' "$d/out"
}

# ---- the pmix store ------------------------------------------------------------
for np in 2 4; do
    run --mpi=pmix -n $np -O "$HELPER" $np
    [ $rc = 0 ] && has $np '^rank [0-9]+: ok$' "$d/out"
    check_name="pmix store on $np ranks: shape, job key, put/get, allgather, abort event, a second store"
    if [ $? = 0 ]; then ok "$check_name"; else bad "$check_name (rc $rc)"; fi
done
t0=$(now_ms)
run --mpi=pmix -n 3 -O "$HELPER" 3 fence-timeout
took=$(($(now_ms) - t0))
if [ $rc = 0 ] && has 3 '^rank [0-9]+: ok$' "$d/out"; then
    ok "a fence rank 0 skips times out on the others ($took ms)"
else
    bad "a fence rank 0 skips times out on the others (rc $rc, $took ms)"
fi

# ---- weft-bench through srun, no weftrun ------------------------------------
for np in 2 4; do
    run --mpi=pmix -n $np -O env WEFT_LOG_LEVEL=info WEFT_LOG_SUBSYS=boot,core \
        "$BENCH" allreduce -b 8 -e 1M --check
    if [ $rc = 0 ] && bench_ok $np 18 &&
        has $np "bootstrap through .*PMIx.*rank [0-9] of $np " "$d/err" &&
        has $np "rank [0-9] of $np \(local [0-9] of $np\) on .* joined" "$d/err"; then
        ok "srun --mpi=pmix -n $np weft-bench allreduce -b 8 -e 1M --check"
    else
        bad "srun --mpi=pmix -n $np weft-bench allreduce -b 8 -e 1M --check (rc $rc)"
    fi
done
run --mpi=pmix -n 4 -O env WEFT_TL=self,tcp "$BENCH" allreduce -b 8 -e 256K --check
if [ $rc = 0 ] && bench_ok 4 16; then
    ok "4 ranks over tcp (WEFT_TL=self,tcp): allreduce --check"
else
    bad "4 ranks over tcp (WEFT_TL=self,tcp): allreduce --check (rc $rc)"
fi
for tl in self,shm self,tcp; do
    run --mpi=pmix -n 2 env WEFT_TL=$tl "$BENCH" pingpong -b 1 -e 1M --check
    if [ $rc = 0 ] && bench_ok 2 11; then
        ok "pingpong --check over $tl"
    else
        bad "pingpong --check over $tl (rc $rc)"
    fi
done

# ---- failures -------------------------------------------------------------------
run --mpi=pmix -n 4 -O env WEFT_FLOOD=store "$ABORT" 2
if [ $rc = 0 ] && has 1 '^rank 2: aborted the world$' "$d/out" &&
    has 3 '^rank [013]: aborted by rank 2 after [0-9]\.[0-9]+ s$' "$d/out"; then
    ok "an abort reaches every rank through PMIx events alone (WEFT_FLOOD=store)"
else
    bad "an abort reaches every rank through PMIx events alone (WEFT_FLOOD=store, rc $rc)"
fi
run --mpi=pmix -n 3 -O "$LOOP" --iters 400 --kill-rank 1 --kill-at 50
if has 2 '^rank [02]: peer lost after [0-9.]+ s at iteration 50: .*rank 1' "$d/out"; then
    ok "rank 1 killed mid-loop: ranks 0 and 2 fail with peer lost naming it"
else
    bad "rank 1 killed mid-loop: ranks 0 and 2 fail with peer lost naming it (rc $rc)"
fi

# ---- outside srun ---------------------------------------------------------------
timeout 20 nice -n 19 env -u PMIX_NAMESPACE -u PMIX_RANK "$BENCH" allreduce \
    -b 8 -e 64 --check >"$d/out" 2>"$d/err"
rc=$?
if [ $rc = 0 ] && bench_ok 1 4 && [ ! -s "$d/err" ]; then
    ok "outside srun: a job of one, nothing said"
else
    bad "outside srun: a job of one, nothing said (rc $rc)"
fi
timeout 20 nice -n 19 env PMIX_NAMESPACE=weft-none PMIX_RANK=0 "$BENCH" \
    allreduce -b 8 -e 64 --check >"$d/out" 2>"$d/err"
rc=$?
if [ $rc = 0 ] && bench_ok 1 4 &&
    has 1 'PMIx_Init: .*running as a job of one rank' "$d/err"; then
    ok "PMIx variables without a PMIx server: a warning, a job of one"
else
    bad "PMIx variables without a PMIx server: a warning, a job of one (rc $rc)"
fi

# ---- stop everything -----------------------------------------------------------
pids="$MUNGED $CTLD $SD"
if cleanup; then
    left=
    for p in $pids; do alive "$p" && left="$left $p"; done
    if [ -z "$left" ]; then
        ok "slurmd, slurmctld, munged stopped (in that order); none left"
    else
        bad "processes left:$left"
    fi
else
    bad "slurmd, slurmctld, munged stopped; none left"
fi
echo "1..$n"
exit $fail
