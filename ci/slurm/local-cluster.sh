#!/usr/bin/env bash
# The sharded suite on a real Slurm: a one-node cluster (Debian's slurm-wlm
# 22.05 and munge, as root, no cgroups) set up in a temporary directory,
# then:
#   1. an unsharded run of suites/quick.toml;
#   2. ci/slurm/submit.sh: the array job of N = 3 shards and the merge job
#      (--dependency=afterok); the merged accuracy figures must equal the
#      unsharded run's exactly (lab compare: every CSV, timings aside);
#   3. a second submission with task 2 scancelled while it runs: the merge
#      must refuse, naming the missing shard 2/3 and its unfinished report;
#      task 2 re-run (submit.sh --only 2), the merge must succeed (taking the
#      re-run's report over the unfinished one) and equal the unsharded run;
#   4. a suite that trains and measures its recorded gradients, in two
#      phases (4 jobs chained by afterok), equal to its unsharded run.
# Every wait is bounded; the daemons it started are stopped by pid.
#
# Without slurm-wlm and munge it says so and exits 0, or 1 where
# GALORE_REQUIRE_SLURM=1 (CI: .ci/run installs them). Needs root (the
# daemons run as root) and target/release/lab (built if missing).
# Environment: LAB, SLURM_TEST_PORT (slurmctld's port; slurmd's is +1),
# SLURM_TEST_KEEP=1 (keep the temporary directory).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)

missing=()
for c in munged slurmctld slurmd sbatch squeue scancel sinfo; do
  command -v "$c" >/dev/null 2>&1 || missing+=("$c")
done
if [ ${#missing[@]} -gt 0 ]; then
  msg="local-cluster.sh: ${missing[*]} not found; install them: apt-get install slurm-wlm munge"
  if [ "${GALORE_REQUIRE_SLURM:-0}" = 1 ]; then echo "error: $msg" >&2; exit 1; fi
  echo "skipped: $msg"; exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "error: local-cluster.sh runs the Slurm daemons as root; run it as root" >&2; exit 1
fi

LAB=${LAB:-$ROOT/target/release/lab}
if [ ! -x "$LAB" ]; then cargo build --release -q -p lab; fi
export LAB
WORK=$(mktemp -d /tmp/galore-slurm.XXXXXX)
chmod 755 "$WORK"
HOST=$(hostname -s)
PORT=${SLURM_TEST_PORT:-16817}
pids=()

cleanup() {
  local rc=$?
  # The daemons this script started, by pid, youngest first.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill "${pids[i]}" 2>/dev/null || true
  done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  if [ $rc -ne 0 ]; then
    echo "== failed; daemon logs:" >&2
    tail -n 20 "$WORK"/*.log >&2 2>/dev/null || true
  fi
  if [ "${SLURM_TEST_KEEP:-0}" = 1 ] || [ $rc -ne 0 ]; then
    echo "(kept $WORK)" >&2
  else
    rm -rf "$WORK"
  fi
  exit $rc
}
trap cleanup EXIT

# waits up to $1 seconds for `$2…` to succeed
wait_for() {
  local secs=$1; shift
  local end=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $end ]; then echo "error: timed out after ${secs}s: $*" >&2; return 1; fi
    sleep 1
  done
}

echo "== setting up a one-node Slurm in $WORK (node $HOST, CPUs=2)"
mkdir -p "$WORK/ctld" "$WORK/d"
head -c 1024 /dev/urandom >"$WORK/munge.key"
chmod 400 "$WORK/munge.key"
munged --foreground --force --key-file="$WORK/munge.key" --socket="$WORK/munge.sock" \
  --pid-file="$WORK/munged.pid" --log-file="$WORK/munged.log" --seed-file="$WORK/munge.seed" \
  >"$WORK/munged.out" 2>&1 &
pids+=($!)
wait_for 20 test -S "$WORK/munge.sock"

mem_mb=$(awk '/MemTotal/ { print int($2 / 1024 * 0.9) }' /proc/meminfo)
cat >"$WORK/slurm.conf" <<CONF
ClusterName=galorelab
SlurmctldHost=$HOST
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$WORK/munge.sock
CredType=cred/munge
StateSaveLocation=$WORK/ctld
SlurmdSpoolDir=$WORK/d
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/slurmctld.log
SlurmdLogFile=$WORK/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
MinJobAge=600
NodeName=$HOST CPUs=2 RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$WORK/slurm.conf
slurmctld -D -i -f "$SLURM_CONF" >"$WORK/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -f "$SLURM_CONF" >"$WORK/slurmd.out" 2>&1 &
pids+=($!)
node_idle() { sinfo -h -n "$HOST" -o %t | grep -qx idle; }
wait_for 60 node_idle
sinfo

# jobs of the array job / merge job gone from the queue
queue_empty() { [ -z "$(squeue -h -o %i)" ]; }
# the state of job $1, or of each of its array tasks (scontrol keeps
# finished jobs for MinJobAge)
job_state() {
  scontrol -o show job "$1" |
    sed -n 's/.*ArrayJobId=\([0-9]*\) ArrayTaskId=\([0-9]*\) .*JobState=\([A-Z_]*\).*/\1_\2:\3/p; t; s/.*JobState=\([A-Z_]*\).*/\1/p' |
    sort | tr '\n' ' '
}

echo "== 1. unsharded run of suites/quick.toml"
UNSHARDED=$("$LAB" run suites/quick.toml --out "$WORK/unsharded" 2>"$WORK/unsharded.log")
echo "$UNSHARDED"

echo "== 2. ci/slurm/submit.sh suites/quick.toml 3 (array job + merge job)"
mapfile -t jobs < <(ci/slurm/submit.sh suites/quick.toml 3 "$WORK/a")
echo "array job ${jobs[0]}, merge job ${jobs[1]} (--dependency=afterok:${jobs[0]})"
scontrol show job "${jobs[1]}" | grep -o 'Dependency=[^ ]*'
start=$SECONDS
wait_for 240 queue_empty
echo "all jobs left the queue in $((SECONDS - start)) s"
for j in "${jobs[@]}"; do echo "job $j: $(job_state "$j")"; done
[ "$(job_state "${jobs[1]}")" = "COMPLETED " ] || { cat "$WORK"/a/*.out >&2; exit 1; }
[ -z "$(job_state "${jobs[0]}" | tr ' ' '\n' | grep -v ':COMPLETED$' | grep .)" ] || exit 1
cat "$WORK"/a/galore-lab-merge-*.out
grep -h '^shard' "$WORK"/a/galore-lab-shard-*.out
"$LAB" compare "$WORK/a/merged" "$UNSHARDED" --show 36

echo "== 3. a second submission with task 2 cancelled while it runs"
mapfile -t jobs < <(ci/slurm/submit.sh suites/quick.toml 3 "$WORK/b")
# Cancel task 2 while it runs, once its partial report exists (a task
# killed mid-way leaves a report that says "running").
shard2_started() { compgen -G "$WORK/b/all-2/quick/*/shard.json" >/dev/null; }
wait_for 120 shard2_started
scancel "${jobs[0]}_2"
echo "scancel ${jobs[0]}_2 (running; its partial report: $(cd "$WORK/b" && echo all-2/quick/*))"
wait_for 240 queue_empty
for j in "${jobs[@]}"; do echo "job $j: $(job_state "$j")"; done
[ ! -e "$WORK/b/merged" ] || { echo "error: the merge job ran without shard 2" >&2; exit 1; }
echo "shard reports: $(cd "$WORK/b" && ls -d all-*/quick/* | tr '\n' ' ')"
if "$LAB" merge "$WORK"/b/all-* --out "$WORK/b/merged" 2>"$WORK/refusal.txt"; then
  echo "error: lab merge accepted the shards without shard 2/3" >&2; exit 1
fi
cat "$WORK/refusal.txt"
grep -q 'missing shard 2/3' "$WORK/refusal.txt"
grep -q 'did not finish (status "running")' "$WORK/refusal.txt"
[ ! -e "$WORK/b/merged" ] || { echo "error: the refused merge wrote $WORK/b/merged" >&2; exit 1; }
echo "-- re-running task 2: ci/slurm/submit.sh suites/quick.toml 3 $WORK/b --only 2"
rerun=$(ci/slurm/submit.sh suites/quick.toml 3 "$WORK/b" --only 2)
wait_for 240 queue_empty
echo "job $rerun: $(job_state "$rerun")"
"$LAB" merge "$WORK"/b/all-* --out "$WORK/b/merged"
"$LAB" compare "$WORK/b/merged" "$UNSHARDED"
echo "== 4. two phases: a suite measuring the gradients its training runs record"
cat >"$WORK/two-phase.toml" <<'SUITE'
ranks = [4]
warmup = 0
repeats = 1
[train]
preset = "tiny"
steps = 3
batch_size = 2
seq_len = 16
rank = 4
eval_every = 3
eval_batches = 1
threads = 1
[[stage]]
name = "tiny"
record_steps = [0, 2]
record_tensors = ["model.layers.0.self_attn.q_proj.weight", "model.layers.1.mlp.up_proj.weight"]
[[run]]
optimizer = "adamw"
[[run]]
name = "svd-T1"
optimizer = "galore"
plugin = "svd"
update_proj_gap = 1
record = true
[[matrix]]
source = "recorded"
[[method]]
plugin = "svd"
[[method]]
plugin = "rrf"
SUITE
WHOLE2=$("$LAB" run "$WORK/two-phase.toml" --out "$WORK/unsharded2" 2>"$WORK/unsharded2.log")
mapfile -t jobs < <(ci/slurm/submit.sh "$WORK/two-phase.toml" 2 "$WORK/c")
echo "train array ${jobs[0]}, merge ${jobs[1]}, matrices array ${jobs[2]}, merge ${jobs[3]} (each afterok on the one before)"
wait_for 240 queue_empty
for j in "${jobs[@]}"; do echo "job $j: $(job_state "$j")"; done
[ "$(job_state "${jobs[3]}")" = "COMPLETED " ] || { cat "$WORK"/c/*.out >&2; exit 1; }
"$LAB" compare "$WORK/c/merged" "$WHOLE2" --show 8
echo "== local Slurm test passed"
