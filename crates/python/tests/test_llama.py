"""The lab's init and batches in transformers' Llama, and the recorder's layout.

The lab binary trains the tiny preset one step and records its gradients;
transformers' ``LlamaForCausalLM`` built from ``galore_lab.init_weights`` on
``galore_lab.Batches``' step-0 batch must give the lab's loss to 1e-5, and its
gradients, recorded by ``GradientRecorder``, the lab's file layout (names,
shapes, dtype, metadata keys) with values equal to float32 roundoff.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import galore_lab
from conftest import need, read_csv, run_lab

SEED, B, T = 3, 2, 32


@pytest.fixture(scope="module")
def lab_run(lab_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("lab") / "run"
    run_lab(
        lab_bin, "train", "--preset", "tiny", "--optimizer", "adamw", "--steps", 1,
        "--threads", 1, "--out", out, "--set", f"batch_size={B}", "--set", f"seq_len={T}",
        "--set", "record_steps=[0]", "--set", f"seed={SEED}",
    )  # fmt: skip
    return out


def test_batches_are_the_labs_windows() -> None:
    b = galore_lab.Batches("tiny", seed=SEED)
    x, y = b.train_batch(5, 3, 16)
    assert x.dtype == np.int64
    assert x.shape == (3, 16)
    assert np.array_equal(x[:, 1:], y[:, :-1]), "targets are the tokens shifted by one"
    again = galore_lab.Batches("tiny", seed=SEED).train_batch(5, 3, 16)
    assert np.array_equal(again[0], x), "a batch depends only on (seed, step, B, T)"
    assert not np.array_equal(galore_lab.Batches("tiny", seed=SEED + 1).train_batch(5, 3, 16)[0], x)
    ex, _ = b.eval_batch(0, 3, 16)
    assert not np.array_equal(ex, x)
    assert b.train_tokens > 9 * b.held_out_tokens - 10, "90% trains, 10% is held out"


def test_init_is_in_hf_names_and_shapes() -> None:
    w = galore_lab.init_weights("tiny", SEED)
    cfg = galore_lab.hf_config("tiny")
    assert w["model.embed_tokens.weight"].shape == (cfg["vocab_size"], cfg["hidden_size"])
    assert w["model.layers.1.mlp.up_proj.weight"].shape == (
        cfg["intermediate_size"],
        cfg["hidden_size"],
    )
    assert np.all(w["model.norm.weight"] == 1)
    std = w["model.layers.0.self_attn.q_proj.weight"].std()
    assert std == pytest.approx(cfg["initializer_range"], rel=0.05)
    assert np.array_equal(
        galore_lab.init_weights("tiny", SEED)["lm_head.weight"], w["lm_head.weight"]
    )


def test_transformers_llama_gives_the_labs_step0_loss_and_gradients(
    lab_run: Path, tmp_path: Path, transformers_mod
) -> None:
    from galore_lab.record import GradientRecorder
    from galore_lab.torch import lab_loss, llama_model

    st = need("safetensors.numpy", "pip install safetensors")
    (row,) = read_csv(lab_run / "training.csv")
    model = llama_model("tiny", SEED)
    tokens, targets = galore_lab.Batches("tiny", seed=SEED).train_batch(0, B, T)
    loss = lab_loss(model, tokens, targets)
    assert abs(loss.item() - float(row["train_loss"])) <= 1e-5, (loss.item(), row["train_loss"])

    loss.backward()
    rec = GradientRecorder(model, [0], out=tmp_path, run="adamw", preset="tiny", seed=SEED)
    assert rec.record(1) is None, "step 1 is not chosen"
    path = rec.record(0)
    assert path == tmp_path / "grads" / "step-0.safetensors"

    ours = st.load_file(path)
    labs = st.load_file(lab_run / "grads" / "step-0.safetensors")
    assert list(ours) == list(labs), "the same tensors (every GaLore matrix), in order"
    for name, g in labs.items():
        assert ours[name].dtype == np.float32, name
        assert ours[name].shape == g.shape, name
        err = np.linalg.norm(ours[name] - g) / np.linalg.norm(g)
        assert err < 1e-4, f"{name}: relative difference {err:.2e}"
    from safetensors import safe_open

    def meta(p: Path) -> dict[str, str]:
        with safe_open(p, framework="numpy") as f:
            return f.metadata()

    assert meta(path) == meta(lab_run / "grads" / "step-0.safetensors")


def test_lab_run_reads_a_torch_recording_as_a_files_source(
    lab_bin: Path, tmp_path: Path, transformers_mod
) -> None:
    from galore_lab.record import GradientRecorder
    from galore_lab.torch import lab_loss, llama_model

    model = llama_model("tiny", SEED)
    rec = GradientRecorder(model, "0..2", tensors=["*.mlp.*"], out=tmp_path / "torch")
    b = galore_lab.Batches("tiny", seed=SEED)
    for step in range(2):
        model.zero_grad()
        lab_loss(model, *b.train_batch(step, B, T)).backward()
        rec(step)
    assert [p.name for p in rec.files] == ["step-0.safetensors", "step-1.safetensors"]
    suite = tmp_path / "torch.toml"
    suite.write_text(
        'seed = 0\nthreads = [1]\nwarmup = 0\nrepeats = 1\nranks = [8]\nside = "short"\n'
        f'[[matrix]]\nsource = "files"\npath = "{tmp_path}/torch/grads/*.safetensors"\n'
        '[[method]]\nplugin = "svd"\n'
    )
    run_lab(lab_bin, "run", suite, "--out", tmp_path / "reports")
    (results,) = (tmp_path / "reports").glob("*/*/results.csv")
    rows = read_csv(results)
    assert len(rows) == 2 * 2 * 3, "2 steps × 2 layers × (gate, up, down)"
    assert all(r["status"] == "ok" for r in rows)
    assert {r["matrix"] for r in rows} >= {"step-1:model.layers.1.mlp.down_proj.weight"}
