"""The torch engine's entry point, ``python -m galore_lab.train``, against the lab's loop.

AdamW from the lab's init on the lab's batches: the step-0 loss agrees to 1e-5
(the same model, data and loss; only the engines' float32 arithmetic differs).
Over 5 steps the two AdamW forms differ in where ε enters: the lab's (and
galore-torch's) m/(√v + ε) scaled by lr·√(1−β₂ᵗ)/(1−β₁ᵗ) is torch's
m̂/(√v̂ + ε′) with ε′ = ε/√(1−β₂ᵗ), 31.6·ε at t = 1. With ε = 1e-12 the forms
coincide to float32 roundoff and every step's loss agrees to 1e-5 (measured:
6e-7); with GaLore's ε = 1e-6 the larger ε′ damps the entries whose |ĝ| is
near it, and the losses agree to 1e-2 (measured: 7e-3).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, read_csv, run_lab

SETTINGS = {"preset": "tiny", "steps": 5, "batch_size": 4, "seq_len": 64, "seed": 1, "threads": 1}


def torch_engine(tmp: Path, name: str, **keys: object) -> subprocess.CompletedProcess[str]:
    config = tmp / f"{name}.json"
    config.write_text(json.dumps({**SETTINGS, **keys}))
    return subprocess.run(
        [sys.executable, "-m", "galore_lab.train", str(config), "--out", str(tmp / name)],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )


def lab_engine(lab: Path, tmp: Path, name: str, **keys: object) -> Path:
    sets = [f"--set={k}={v}" for k, v in {**SETTINGS, **keys}.items() if k != "optimizer"]
    run_lab(lab, "train", "--optimizer", keys.get("optimizer", "adamw"), "--out", tmp / name, *sets)
    return tmp / name


@pytest.mark.parametrize(("eps", "tolerance"), [(1e-12, 1e-5), (1e-6, 1e-2)])
def test_adamw_agrees_with_the_labs_adamw(
    lab_bin: Path, tmp_path: Path, transformers_mod, eps: float, tolerance: float
) -> None:
    p = torch_engine(tmp_path, "torch", optimizer="adamw", eps=eps)
    assert p.returncode == 0, p.stderr
    lab = read_csv(lab_engine(lab_bin, tmp_path, "lab", eps=eps) / "training.csv")
    torch = read_csv(tmp_path / "torch" / "training.csv")
    assert list(torch[0]) == list(lab[0]), "training.csv has the lab's columns, in order"
    assert abs(float(torch[0]["train_loss"]) - float(lab[0]["train_loss"])) <= 1e-5
    for a, b in zip(lab, torch, strict=True):
        assert int(a["step"]) == int(b["step"])
        assert int(a["tokens"]) == int(b["tokens"])
        assert float(a["lr"]) == pytest.approx(float(b["lr"]), rel=1e-6), "the lab's schedule"
        assert abs(float(a["train_loss"]) - float(b["train_loss"])) <= tolerance, (a, b)
        assert (a["eval_loss"] == "") == (b["eval_loss"] == "")
        if a["eval_loss"]:
            assert abs(float(a["eval_loss"]) - float(b["eval_loss"])) <= tolerance
    summary = json.loads((tmp_path / "torch" / "train.json").read_text())
    assert summary["steps"] == 5
    assert summary["tokens_per_second"] > 0
    params = summary["memory"]["parameters"]
    # torch.optim.AdamW: two moments per parameter and one step count per tensor
    assert summary["memory"]["optimizer_state_bytes"] == 8 * params + 4 * 21


def test_galore_torch_with_a_lab_plugin_times_its_refreshes_and_records(
    tmp_path: Path, transformers_mod
) -> None:
    p = torch_engine(
        tmp_path, "g", optimizer="galore-torch", plugin="rrf", plugin_params={"power_iters": 0},
        rank=8, update_proj_gap=2, record_steps="0..4:2", record_tensors=["*.mlp.*"],
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    rows = read_csv(tmp_path / "g" / "training.csv")
    refreshed = [float(r["seconds_subspace"]) > 0 for r in rows]
    assert refreshed == [True, False, True, False, True], "refreshes at steps 0, 2, 4"
    summary = json.loads((tmp_path / "g" / "train.json").read_text())
    assert summary["subspace_calls"] == 3 * 14
    assert [Path(f).name for f in summary["recorded"]] == [
        "step-0.safetensors",
        "step-2.safetensors",
    ]
    assert summary["run"] == "galore-torch+rrf-T2"


@pytest.mark.parametrize(
    ("keys", "status", "message"),
    [
        ({"optimizer": "q-galore"}, 3, "unavailable: q-galore-torch's QGaLoreAdamW8bit needs CUDA"),
        ({"optimizer": "sgd"}, 2, "optimizer = 'sgd': the torch engine runs adamw, galore-torch"),
        ({"lr_decay": 1}, 2, "unknown key 'lr_decay'"),
        ({"optimizer": "adamw", "plugin": "rrf"}, 2, "plugin = 'rrf' applies to optimizer"),
        ({"moments": "rotate"}, 2, "moments = 'rotate'"),
        ({"checkpoint_every": 2}, 2, "checkpoint_every"),
    ],
)  # fmt: skip
def test_a_run_that_cannot_run_says_why(
    tmp_path: Path, transformers_mod, keys: dict, status: int, message: str
) -> None:
    p = torch_engine(tmp_path, "x", **keys)
    assert p.returncode == status, p.stderr
    assert message in p.stderr
    assert not (tmp_path / "x" / "training.csv").exists()


def test_cuda_runs_on_a_gpu_and_is_unavailable_without_one(tmp_path: Path, torch_mod) -> None:
    p = torch_engine(tmp_path, "c", optimizer="adamw", device="cuda")
    if torch_mod.cuda.is_available():
        assert p.returncode == 0, p.stderr
        return
    assert p.returncode == 3
    assert 'unavailable: device = "cuda" but torch sees no GPU here' in p.stderr
