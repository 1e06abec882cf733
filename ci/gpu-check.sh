#!/usr/bin/env bash
# The one GPU check, run on the GPU machine in the repository root over the
# executables that ci/gpu-build.sh put in .gpu/ (no cargo there). Writes 8
# flat files to $OUT (tests.log, bench.log, rust_results.csv,
# torch_results.csv, summary.txt, lab.log, lab_results.csv, lab_summary.md)
# and prints the comparison table last.
#   OUT=/some/dir bash ci/gpu-check.sh
# Budget: tests ≤ 120 s each, Rust bench ≤ 210 s, PyTorch peers ≤ 120 s, lab run ≤ 150 s.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:?set OUT to the output folder}
mkdir -p "$OUT"
SCRATCH=$(mktemp -d /tmp/galore-gpu.XXXXXX)
trap 'rm -rf "$SCRATCH"' EXIT
start=$(date +%s)
stamp() { echo "[gpu-check $(( $(date +%s) - start ))s] $*"; }

# cuda-env.sh is written for an interactive shell: source it without -e/pipefail.
set +eo pipefail
{
  . ci/cuda-env.sh
  echo "nproc: $(nproc)"; uname -a
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0))' || true
} > "$OUT/tests.log" 2>&1
. ci/cuda-env.sh > /dev/null 2>&1
set -eo pipefail
cat "$OUT/tests.log"
[ -x .gpu/gpu_bench ] || { echo "gpu-check: .gpu/gpu_bench missing; run ci/gpu-build.sh on the build machine"; exit 1; }

stamp "tests"
tests_rc=0
for t in .gpu/test-*; do
  echo "=== $t" >> "$OUT/tests.log"
  timeout 120 "$t" --nocapture --test-threads 2 >> "$OUT/tests.log" 2>&1 || tests_rc=$?
done
grep -E "^test |skipped|test result|panicked" "$OUT/tests.log" | tail -40 || true

stamp "rust bench"
bench_rc=0
timeout 210 .gpu/gpu_bench "$OUT/rust_results.csv" "$SCRATCH" > "$OUT/bench.log" 2>&1 || bench_rc=$?
tail -n 5 "$OUT/bench.log"

stamp "torch peers"
torch_rc=0
timeout 120 python3 ci/gpu/torch_peers.py "$SCRATCH" "$OUT/torch_results.csv" >> "$OUT/bench.log" 2>&1 || torch_rc=$?
tail -n 5 "$OUT/bench.log"

stamp "lab run suites/gpu.toml (the harness on this machine: NVML energy, GPU rows)"
lab_rc=0
timeout 150 .gpu/lab run suites/gpu.toml --out "$SCRATCH/reports" > "$OUT/lab.log" 2>&1 || lab_rc=$?
tail -n 3 "$OUT/lab.log"
run_dir=$(ls -d "$SCRATCH"/reports/gpu/*/ 2>/dev/null | tail -n 1)
if [ -n "$run_dir" ]; then
  cp "$run_dir/results.csv" "$OUT/lab_results.csv"
  cp "$run_dir/summary.md" "$OUT/lab_summary.md"
fi

stamp "exit codes: tests=$tests_rc bench=$bench_rc torch=$torch_rc lab=$lab_rc; table follows"
python3 ci/gpu/compare.py "$OUT/rust_results.csv" "$OUT/torch_results.csv" | tee "$OUT/summary.txt"
[ "$tests_rc" = 0 ] && [ "$bench_rc" = 0 ] && [ "$torch_rc" = 0 ] && [ "$lab_rc" = 0 ]
