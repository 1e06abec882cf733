#!/usr/bin/env bash
# Runs on the CPU build machine: builds the cuda-rrf test executables and the
# GPU benchmark in release and copies them into .gpu/ (git-ignored), which
# travels to the GPU machine with the repository; ci/gpu-check.sh runs them.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .gpu
rm -f .gpu/test-* .gpu/gpu_bench .gpu/lab
cargo build --release -p plugin-cuda-rrf --example gpu_bench
cargo build --release -p lab
cp target/release/examples/gpu_bench .gpu/gpu_bench
cp target/release/lab .gpu/lab
# Every test executable of the crate (unit tests and tests/gpu.rs), and the
# lab's conformance kit, which runs every available registered plugin
# (cuda-rrf and cuda-svd on the GPU machine), and the harness's unit tests
# (the NVML energy meter and the machine record meet a real GPU there).
cargo test --release --no-run --message-format=json -p plugin-cuda-rrf -p lab -p harness \
  | python3 -c '
import json, sys
for line in sys.stdin:
    try:
        msg = json.loads(line)
    except ValueError:
        continue
    if msg.get("reason") == "compiler-artifact" and msg.get("executable") and msg["profile"].get("test"):
        pkg, name = msg["package_id"], msg["target"]["name"]
        # lab: only the conformance kit (its CLI tests need the build tree).
        if "crates/lab" in pkg and name != "conformance":
            continue
        # harness: its unit tests (NVML meter, machine record); the others
        # read fixtures through the build machine absolute path.
        if "crates/harness" in pkg:
            if "lib" not in msg["target"]["kind"]:
                continue
            name = "harness-lib"
        print(name, msg["executable"])
' | while read -r name exe; do
  cp "$exe" ".gpu/test-$name"
  echo "gpu-build: .gpu/test-$name <- $exe"
done
# The device run carries at most 64 MiB: drop the debug line tables.
strip --strip-debug .gpu/gpu_bench .gpu/lab .gpu/test-*
ls -l .gpu
du -sh .gpu
