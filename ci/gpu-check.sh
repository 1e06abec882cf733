#!/usr/bin/env bash
# The one GPU check, run on the GPU machine in the repository root over the
# executables that ci/gpu-build.sh put in .gpu/ (no cargo there). Writes at
# most 8 flat files to $OUT and prints the comparison table last.
#   OUT=/some/dir bash ci/gpu-check.sh
# Budget: tests ≤ 120 s, Rust bench ≤ 210 s, PyTorch peers ≤ 120 s.
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
} > "$OUT/env.log" 2>&1
. ci/cuda-env.sh > /dev/null 2>&1
set -eo pipefail
cat "$OUT/env.log"
[ -x .gpu/gpu_bench ] || { echo "gpu-check: .gpu/gpu_bench missing; run ci/gpu-build.sh on the build machine"; exit 1; }

stamp "tests"
tests_rc=0
: > "$OUT/tests.log"
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
timeout 120 python3 ci/gpu/torch_peers.py "$SCRATCH" "$OUT/torch_results.csv" > "$OUT/torch.log" 2>&1 || torch_rc=$?
tail -n 5 "$OUT/torch.log"

stamp "exit codes: tests=$tests_rc bench=$bench_rc torch=$torch_rc; table follows"
python3 ci/gpu/compare.py "$OUT/rust_results.csv" "$OUT/torch_results.csv" | tee "$OUT/summary.txt"
[ "$tests_rc" = 0 ] && [ "$bench_rc" = 0 ] && [ "$torch_rc" = 0 ]
