"""``engine = "torch"`` in a suite: ``lab run`` trains through PyTorch and reads it back.

One suite, run by the lab binary: the lab's AdamW and the torch engine's AdamW
from the same init on the same batches (ε = 1e-12, where the two AdamW forms
coincide, see test_train.py: step-0 loss to 1e-5, every step to 1e-5), and
galore-torch recording every step of a range, whose recording the suite's
``source = "trajectory"`` follows with the lab's trackers.
"""

from __future__ import annotations

import json
from pathlib import Path

from conftest import read_csv, run_lab

SUITE = """
seed = 0
threads = [1]
warmup = 0
repeats = 1
ranks = [4]

[train]
eps = 1e-12
threads = 1

[[stage]]
name = "s"
preset = "tiny"
steps = 5
batch_size = 4
seq_len = 64
eval_every = 5
eval_batches = 2
seeds = [1, 2]
record_steps = "0..5"
record_tensors = ["model.layers.1.mlp.*"]

[[run]]
optimizer = "adamw"

[[run]]
engine = "torch"
optimizer = "adamw"

[[run]]
engine = "torch"
optimizer = "galore-torch"
rank = 8
update_proj_gap = 1
record = true

[[matrix]]
source = "trajectory"
run = "galore-torch-T1"

[[method]]
plugin = "svd"
"""


def test_a_suite_trains_with_both_engines_and_follows_a_torch_trajectory(
    lab_bin: Path, tmp_path: Path, transformers_mod
) -> None:
    suite = tmp_path / "engines.toml"
    suite.write_text(SUITE)
    run_lab(lab_bin, "run", suite, "--out", tmp_path / "reports")
    (report,) = (tmp_path / "reports").glob("*/*/")
    outcomes = json.loads((report / "training.json").read_text())
    assert [(o["label"], o["seed"], o["status"]) for o in outcomes] == [
        (label, seed, "ok")
        for label in ("adamw", "torch-adamw", "galore-torch-T1")
        for seed in (1, 2)
    ]
    engines = {o["label"]: o["engine"] for o in outcomes}
    assert engines["adamw"] == "lab"
    assert engines["torch-adamw"].startswith("torch (python ")
    assert "transformers " in engines["galore-torch-T1"]
    assert "galore-torch 1.0" in engines["galore-torch-T1"]

    rows = read_csv(report / "training.csv")
    by_run: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        by_run.setdefault(r["run"], []).append(r)
    for seed in (1, 2):
        lab = by_run[f"s/adamw/seed-{seed}"]
        torch = by_run[f"s/torch-adamw/seed-{seed}"]
        assert len(lab) == len(torch) == 5
        assert abs(float(lab[0]["train_loss"]) - float(torch[0]["train_loss"])) <= 1e-5
        for a, b in zip(lab, torch, strict=True):
            assert abs(float(a["train_loss"]) - float(b["train_loss"])) <= 1e-5, (a, b)
            assert a["seed"] == b["seed"] == str(seed)
        assert abs(float(lab[-1]["eval_loss"]) - float(torch[-1]["eval_loss"])) <= 1e-5

    summaries = read_csv(report / "tracking_summary.csv")
    assert {s["tensor"] for s in summaries} == {
        f"model.layers.1.mlp.{m}_proj.weight" for m in ("gate", "up", "down")
    }
    assert all(s["status"] == "ok" for s in summaries), summaries
    assert {s["run"] for s in summaries} == {"s/galore-torch-T1/seed-1"}
    steps = read_csv(report / "tracking.csv")
    assert sorted({int(s["step"]) for s in steps}) == [0, 1, 2, 3, 4]
