#!/usr/bin/env bash
# Submits a suite as a Slurm array job of N shards and a merge job that runs
# when every shard succeeded (--dependency=afterok). A suite whose matrices
# are the gradients its training runs record goes in two phases: training
# shards, their merge ($OUT/trained), matrix shards reading it, the merge.
#
#   ci/slurm/submit.sh SUITE N OUT [--partition P] [--gpu] [--only I,J [--phase P]] [-- SBATCH_ARGS…]
#
# --gpu asks one GPU per shard task (--gpus-per-task=1; Slurm sets
# CUDA_VISIBLE_DEVICES, which the lab honours). --only I,J re-submits those
# tasks of phase P (default all) and no merge job: after a task failed,
# then merge again (sbatch ci/slurm/merge.sbatch, or lab merge). Time and
# memory requests come from `lab run SUITE --dry-run --shard I/N`: the
# largest shard's predicted seconds × 3 + 5 minutes, its predicted bytes
# × 2 + 1 GiB. The merged report is $OUT/merged. Prints the job ids, one a
# line. Runs from the repository root (LAB: the lab binary).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -ge 3 ] || { sed -n 2,17p "$0"; exit 2; }
SUITE=$1 N=$2 OUT=$3
shift 3
LAB=${LAB:-target/release/lab}
HERE=ci/slurm
part=() gpu=() extra=() only="" only_phase=all
while [ $# -gt 0 ]; do
  case $1 in
    --partition) part=(--partition "$2"); shift 2 ;;
    --gpu) gpu=(--gpus-per-task=1); shift ;;
    --only) only=$2; shift 2 ;;
    --phase) only_phase=$2; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    *) echo "submit.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[ -x "$LAB" ] || { echo "submit.sh: no $LAB; build it: cargo build --release -p lab" >&2; exit 2; }
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

# Two phases when the suite's matrices depend on its training runs.
if [ -n "$only" ]; then
  phases=$only_phase
elif "$LAB" run "$SUITE" --dry-run --shard "1/$N" --phase train >/dev/null 2>&1; then
  phases="train matrices"
else
  phases=all
fi

# "--time=MIN --mem=MiB" for a phase's tasks, from the plan.
requests() {
  local phase=$1 secs=0 bytes=0 i line s b flags
  for i in $(seq 1 "$N"); do
    flags=(--dry-run --shard "$i/$N")
    [ "$phase" = all ] || flags+=(--phase "$phase")
    line=$("$LAB" run "$SUITE" "${flags[@]}" | grep '^plan:')
    s=$(sed 's/.*seconds=\([0-9]*\).*/\1/' <<<"$line")
    b=$(sed 's/.*bytes=\([0-9]*\).*/\1/' <<<"$line")
    if [ "$s" -gt "$secs" ]; then secs=$s; fi
    if [ "$b" -gt "$bytes" ]; then bytes=$b; fi
  done
  echo "--time=$(( (secs * 3 + 300 + 59) / 60 )) --mem=$(( bytes * 2 / 1048576 + 1024 ))"
}

after=()
for phase in $phases; do
  read -r -a req <<<"$(requests "$phase")"
  vars="ALL,SUITE=$SUITE,SHARDS=$N,OUT=$OUT,LAB=$LAB,PHASE=$phase"
  [ "$phase" = matrices ] && vars+=",TRAINED=$OUT/trained"
  job=$(sbatch --parsable --array="${only:-1-$N}" "${req[@]}" "${part[@]}" "${gpu[@]}" \
        "${after[@]}" --output="$OUT/%x-%A_%a.out" --export="$vars" "${extra[@]}" \
        "$HERE/shard.sbatch")
  echo "$job"
  [ -z "$only" ] || continue
  case $phase in
    train) from=train dest=trained ;;
    matrices) from="train matrices" dest=merged ;;
    *) from=all dest=merged ;;
  esac
  merge=$(sbatch --parsable --dependency="afterok:$job" --kill-on-invalid-dep=yes \
          --time=30 --mem=2048 "${part[@]}" --output="$OUT/%x-%j.out" \
          --export="ALL,OUT=$OUT,LAB=$LAB,FROM=$from,DEST=$dest" "${extra[@]}" \
          "$HERE/merge.sbatch")
  echo "$merge"
  after=(--dependency="afterok:$merge" --kill-on-invalid-dep=yes)
done
