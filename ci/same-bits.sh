#!/usr/bin/env bash
# Same seed, same bits: trains the tiny preset (AdamW, GaLore+svd and GaLore+rrf at
# T = 1, rank 8, batch 4 x 64, 30 steps, 1 thread) with two lab binaries and compares
# training.csv's losses, lr, grad norms and state bytes exactly (timings aside).
# A restructure that claims "behaviour unchanged" shows this passing against main.
#
#   bash ci/same-bits.sh BEFORE_LAB AFTER_LAB [--before-flags]
#
# --before-flags: BEFORE_LAB predates `lab train --set` (commits before 2821bd3) and
# takes --batch-size/--seq-len/--rank/--update-proj-gap flags instead.
# Add a suite's training stage the same way: `lab run SUITE` with both binaries and
# compare `cut -d, -f1-7,13` of the report's training.csv.
set -euo pipefail
cd "$(dirname "$0")/.."
before=$1; after=$2; form=${3:-}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
run() { # LAB OUT SET_FORM
  local lab=$1 dir=$2 c g
  if [ "$3" = flags ]; then
    c="--batch-size 4 --seq-len 64"; g="--rank 8 --update-proj-gap 1"
  else
    c="--set batch_size=4 --set seq_len=64"; g="--set rank=8 --set update_proj_gap=1"
  fi
  local common="--preset tiny --steps 30 --threads 1 $c"
  "$lab" train $common --optimizer adamw --out "$dir/adamw" >/dev/null 2>&1
  "$lab" train $common --optimizer galore --plugin svd $g --out "$dir/galore-svd" >/dev/null 2>&1
  "$lab" train $common --optimizer galore --plugin rrf $g --out "$dir/galore-rrf" >/dev/null 2>&1
}
run "$before" "$out/before" "$([ "$form" = --before-flags ] && echo flags || echo set)"
run "$after" "$out/after" set
status=0
for r in adamw galore-svd galore-rrf; do
  if cmp -s <(cut -d, -f1-7,13 "$out/before/$r/training.csv") \
            <(cut -d, -f1-7,13 "$out/after/$r/training.csv"); then
    echo "$r: identical ($(wc -l < "$out/after/$r/training.csv") lines)"
  else
    echo "$r: DIFFERS"; status=1
  fi
done
exit $status
