"""Tokens per second of the lab's training loop against transformers', same run, same config.

    python crates/python/benches/engines_throughput.py [--preset small] [--steps 12]
        [--batch 8] [--seq 128] [--threads 0] [--rounds 3] [--lab target/release/lab]

Each round trains AdamW once with the lab's engine (``lab train``) and once with
the torch engine (``python -m galore_lab.train``: transformers' LlamaForCausalLM,
torch.optim.AdamW) from the same init on the same batches, alternating which
goes first, and reads each run's ``tokens_per_second`` from its train.json (the
median step, the first step left out, evaluations excluded). Prints each
round's ratio lab / torch and the range over rounds. The defaults are the
headline's curves stage (the small preset, B = 8, T = 128, all cores).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def main() -> None:
    """Run the rounds and print the ratios."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="small")
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--lab", type=Path, default=REPO / "target" / "release" / "lab")
    args = ap.parse_args()
    keys = {
        "preset": args.preset,
        "optimizer": "adamw",
        "steps": args.steps,
        "batch_size": args.batch,
        "seq_len": args.seq,
        "threads": args.threads,
        "seed": 0,
    }
    ratios = []
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "torch.json"
        config.write_text(json.dumps(keys))
        for r in range(args.rounds):
            rates = {}
            order = ["lab", "torch"] if r % 2 == 0 else ["torch", "lab"]
            for engine in order:
                out = Path(tmp) / f"{engine}-{r}"
                if engine == "lab":
                    sets = [f"--set={k}={v}" for k, v in keys.items() if k != "optimizer"]
                    cmd = [str(args.lab), "train", "--optimizer", "adamw", "--out", str(out), *sets]
                else:
                    cmd = [sys.executable, "-m", "galore_lab.train", str(config), "--out", str(out)]
                subprocess.run(cmd, check=True, capture_output=True, cwd=REPO)
                rates[engine] = json.loads((out / "train.json").read_text())["tokens_per_second"]
            ratio = rates["lab"] / rates["torch"]
            ratios.append(ratio)
            print(
                f"round {r}: lab {rates['lab']:.0f} tokens/s, torch {rates['torch']:.0f} tokens/s,"
                f" lab / torch = {ratio:.2f}"
            )
    print(
        f"lab / torch tokens/s ({args.preset}, B = {args.batch}, T = {args.seq}, AdamW): "
        f"{min(ratios):.2f} .. {max(ratios):.2f} over {len(ratios)} rounds"
    )


if __name__ == "__main__":
    main()
