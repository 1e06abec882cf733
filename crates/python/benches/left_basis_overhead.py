"""What galore_lab.left_basis adds over the Rust call it makes.

    python crates/python/benches/left_basis_overhead.py [--repeats 30] [--rounds 5]

Each call's Python wall time (time.perf_counter around ``left_basis``) minus
the Rust call's own seconds (``info["seconds"]``, timed inside the native
module around the method's ``left_basis``, as the harness times a row): what
the boundary adds (argument checks, the NumPy view, releasing the GIL, copying
Q out, the info dict). At 512×1376, k = 128, one thread, for rrf (the default
params) and svd, from a NumPy array and from a torch tensor, interleaved in
rounds so that the shared machine's load falls on every variant alike. Prints
each round's median overhead as a fraction of the median Rust call, then the
range over rounds.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import galore_lab


def main() -> None:
    """Time every variant in interleaved rounds and print the ranges."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=30, help="calls per variant and round")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    a = np.random.default_rng(0).standard_normal((512, 1376), dtype=np.float32)
    inputs = {"numpy": a}
    try:
        import torch

        inputs["torch"] = torch.from_numpy(a.copy())
    except ImportError:
        print("torch not installed: numpy input only")
    variants = [(m, name) for m in ("rrf", "svd") for name in inputs]
    ratios: dict[tuple[str, str], list[float]] = {v: [] for v in variants}
    for v in variants:  # warm-up: first calls size buffers
        galore_lab.left_basis(inputs[v[1]], 128, v[0])
    for r in range(args.rounds):
        for method, name in variants:
            added, rust = [], []
            for _ in range(args.repeats):
                start = time.perf_counter()
                _, info = galore_lab.left_basis(inputs[name], 128, method)
                wall = time.perf_counter() - start
                added.append(wall - info["seconds"])
                rust.append(info["seconds"])
            ratio = statistics.median(added) / statistics.median(rust)
            ratios[(method, name)].append(ratio)
            print(
                f"round {r}: {method:4} {name:6} Rust call {statistics.median(rust) * 1e3:8.2f} ms,"
                f" added {statistics.median(added) * 1e6:7.1f} µs = {ratio:.3%}"
            )
    print("\nadded / Rust call, range of the round medians (512x1376, k = 128, 1 thread):")
    for (method, name), rs in ratios.items():
        print(f"  {method:4} {name:6} {min(rs):.3%} .. {max(rs):.3%}")


if __name__ == "__main__":
    main()
