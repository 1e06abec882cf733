#!/usr/bin/env python3
"""Writes ci/reference/tiny_reference.safetensors: the tiny Llama's forward,
backward and first optimizer steps, recorded from PyTorch and Hugging Face
transformers, for crates/llama/tests/torch_reference.rs to compare against.

The model is transformers.LlamaForCausalLM (float32, eager attention) built
from the config.json that crates/llama's `LlamaConfig::tiny().to_hf_json()`
writes. The loss is crates/llama's: the mean cross-entropy of the logits
(B, T, V) against explicit targets (B, T) (the tokens shifted by one), i.e.
F.cross_entropy over all B*T positions, not Hugging Face's internal label
shift (which drops the last position; checked below to agree on the rest).

The optimizers replicate crates/llama/src/optim/{adamw,galore}.rs, which in
turn follow galore_torch's adamw.py and GaLoreProjector("std") operation by
operation (see OUR_ADAMW below). When galore_torch is installed, the script
also runs galore_torch's own AdamW / GaLore-AdamW from the same start and
records how far they are from the replica (metadata "crosscheck").

Run from the repository root (see README.md beside this file):

    /tmp/torch-venv/bin/python ci/reference/make_reference.py

Letters: S steps (= batches), B batch, T sequence, V vocab.
"""

import argparse
import datetime
import importlib.util
import json
import math
import platform
import sys
import types
from pathlib import Path

import numpy as np
import safetensors
import torch
import torch.nn.functional as F
import transformers
from safetensors.torch import save_file

FORMAT_VERSION = "1"

# crates/llama/src/config.rs: LlamaConfig::tiny().to_hf_json(), verbatim.
# The Rust test checks the stored copy against to_hf_json() and fails when
# tiny() changes (then regenerate this file).
TINY_CONFIG = {
    "hidden_size": 64,
    "intermediate_size": 172,
    "num_attention_heads": 4,
    "num_hidden_layers": 2,
    "vocab_size": 256,
    "max_position_embeddings": 128,
    "rms_norm_eps": 1e-6,
    "rope_theta": 10000.0,
    "initializer_range": 0.02,
    "tie_word_embeddings": False,
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_act": "silu",
    "num_key_value_heads": 4,
    "attention_bias": False,
    "mlp_bias": False,
    "torch_dtype": "float32",
    "use_cache": False,
}

SETTINGS = {
    # torch.Generator seed of the weights and the batches.
    "seed": 20240607,
    "batch": 2,  # B
    "seq": 16,  # T
    "steps": 5,  # S optimizer steps, one batch each; batch 0 is the forward's
    # Every matrix (embedding, projections, lm_head) ~ N(0, init_std^2):
    # larger than HF's 0.02 so attention is far from uniform and RoPE, the
    # causal mask and every projection show in the logits.
    "init_std": 0.1,
    # Norm weights ~ 1 + norm_std * N(0, 1): not all ones, so a norm that
    # ignored its weight would show.
    "norm_std": 0.1,
    # Constant learning rate for every step (no schedule).
    "lr": 1e-2,
    "beta1": 0.9,
    "beta2": 0.999,
    "eps": 1e-6,
    # Nonzero so the decoupled decay is exercised (lr * wd per step).
    "weight_decay": 0.1,
    # GaLore: rank below the short side (64) of every projected matrix.
    "galore_rank": 8,
    "galore_scale": 0.25,
    # One SVD, at the first step: with moments kept across refreshes a
    # second SVD would make the result depend on LAPACK's per-column signs.
    "galore_update_proj_gap": 200,
    # torch intra-op threads (1: the recorded bits do not depend on the
    # machine's core count).
    "threads": 1,
}


def galore_projected(name: str, shape) -> bool:
    """GaLore projects the attention and MLP matrices (galore_torch's
    "attn"/"mlp" module-name rule; crates/llama's ParamKind::galore)."""
    return len(shape) == 2 and ("self_attn." in name or ".mlp." in name)


def build_model(config: dict, settings: dict):
    """LlamaForCausalLM in float32 with eager attention and seeded weights."""
    hf_config = transformers.LlamaConfig(**config)
    model = transformers.LlamaForCausalLM._from_config(
        hf_config, attn_implementation="eager", dtype=torch.float32
    )
    assert model.config._attn_implementation == "eager"
    gen = torch.Generator().manual_seed(settings["seed"])
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float32)
            if p.dim() == 1:
                p.copy_(1.0 + settings["norm_std"] * noise)
            else:
                p.copy_(settings["init_std"] * noise)
    model.train()  # no dropout in Llama; train() only for clarity
    return model


# The token stream batches are cut from: bytes of a fixed text (the byte
# tokenizer of crates/llama's train.rs), so the steps have something to learn.
TEXT = (
    "GaLore trains a Llama by projecting each gradient of the attention and "
    "MLP matrices onto a low-rank subspace, running Adam there, and projecting "
    "the update back. The subspace is refreshed every few hundred steps from a "
    "singular value decomposition of the current gradient. This file is the "
    "reference that a Rust test reads: inputs, logits, loss, gradients and a "
    "few optimizer steps, all in float32."
)


def make_batches(config: dict, settings: dict):
    """tokens, targets: (S, B, T) int64: windows of T + 1 bytes of TEXT at
    seeded starts; targets are the tokens shifted by one (as crates/llama's
    Batches cut them)."""
    stream = torch.tensor(list(TEXT.encode("ascii")), dtype=torch.int64)
    assert int(stream.max()) < config["vocab_size"]
    gen = torch.Generator().manual_seed(settings["seed"] + 1)
    s, b, t = settings["steps"], settings["batch"], settings["seq"]
    starts = torch.randint(0, len(stream) - t, (s, b), generator=gen)
    seq = torch.stack([stream[int(i) : int(i) + t + 1] for i in starts.reshape(-1)])
    seq = seq.reshape(s, b, t + 1)
    return seq[..., :t].contiguous(), seq[..., 1:].contiguous()


def loss_of(model, tokens, targets):
    """(logits (B, T, V), crates/llama's loss: mean CE over all B*T)."""
    logits = model(input_ids=tokens).logits
    v = logits.shape[-1]
    return logits, F.cross_entropy(logits.reshape(-1, v), targets.reshape(-1))


class OurAdamW:
    """crates/llama/src/optim/adamw.rs and galore.rs, operation by operation
    (= galore_torch/adamw.py):

        m = b1 m + (1 - b1) g
        v = b2 v + (1 - b2) g^2
        step_size = lr * sqrt(1 - b2^t) / (1 - b1^t)     (Python float)
        N = m / (sqrt(v) + eps)
        p += -step_size * N                (GaLore: scale * back(N))
        p += -lr * wd * p                  (when wd > 0; every parameter)

    With `galore` set, each attention/MLP matrix G (m x n, (out, in)) is
    projected on its short side, rank r = min(rank, m, n), basis from
    torch.linalg.svd(G, full_matrices=False) in float32 at steps 1, 1 + T,
    ... (GaLoreProjector "std"): m >= n: P = Vh[:r].T (n x r), R = G P,
    back N P^T; m < n: P = U[:, :r] (m x r), R = P^T G, back P N. The
    moments live at R's shape and are kept across refreshes.
    """

    def __init__(self, model, settings: dict, galore: bool):
        self.s = settings
        self.galore = galore
        self.t = 0
        self.state = {}
        self.params = dict(model.named_parameters())

    def projector(self, name):
        """(P, singular values of the gradient P came from), or None."""
        st = self.state[name]
        return (st["P"], st["S"]) if "P" in st else None

    @torch.no_grad()
    def step(self, lr: float):
        s = self.s
        b1, b2, eps, wd = s["beta1"], s["beta2"], s["eps"], s["weight_decay"]
        self.t += 1
        t = self.t
        step_size = lr * math.sqrt(1.0 - b2**t) / (1.0 - b1**t)
        for name, p in self.params.items():
            g = p.grad
            st = self.state.setdefault(name, {})
            proj = self.galore and galore_projected(name, p.shape)
            if proj:
                rows, cols = p.shape
                r = min(s["galore_rank"], rows, cols)
                right = rows >= cols
                if (t - 1) % s["galore_update_proj_gap"] == 0:
                    u, sv, vh = torch.linalg.svd(g, full_matrices=False)
                    st["P"] = vh[:r, :].T.contiguous() if right else u[:, :r].contiguous()
                    st["S"] = sv
                pm = st["P"]
                g = g @ pm if right else pm.T @ g
            if "m" not in st:
                st["m"] = torch.zeros_like(g)
                st["v"] = torch.zeros_like(g)
            m, v = st["m"], st["v"]
            m.mul_(b1).add_(g, alpha=1.0 - b1)
            v.mul_(b2).addcmul_(g, g, value=1.0 - b2)
            n = m / v.sqrt().add_(eps)
            if proj:
                n = (n @ pm.T if right else pm @ n) * s["galore_scale"]
            p.add_(n, alpha=-step_size)
            if wd > 0.0:
                p.add_(p, alpha=-lr * wd)


def load_galore_torch():
    """galore_torch's adamw.py, or None when it is not installed. Imported
    without the package __init__, which pulls bitsandbytes for AdamW8bit."""
    spec = importlib.util.find_spec("galore_torch")
    if spec is None or not spec.submodule_search_locations:
        return None
    pkg = types.ModuleType("galore_torch")
    pkg.__path__ = list(spec.submodule_search_locations)
    sys.modules["galore_torch"] = pkg
    from galore_torch import adamw  # noqa: E402

    return adamw


def galore_torch_optimizer(adamw_mod, model, settings: dict, galore: bool):
    s = settings
    named = list(model.named_parameters())
    kw = dict(
        lr=s["lr"],
        betas=(s["beta1"], s["beta2"]),
        eps=s["eps"],
        weight_decay=s["weight_decay"],
        correct_bias=True,
        no_deprecation_warning=True,
    )
    if not galore:
        return adamw_mod.AdamW([p for _, p in named], **kw)
    low = [p for n, p in named if galore_projected(n, p.shape)]
    rest = [p for n, p in named if not galore_projected(n, p.shape)]
    groups = [
        {"params": rest},
        {
            "params": low,
            "rank": s["galore_rank"],
            "update_proj_gap": s["galore_update_proj_gap"],
            "scale": s["galore_scale"],
            "proj_type": "std",
        },
    ]
    return adamw_mod.AdamW(groups, **kw)


def run_steps(model, tokens, targets, step_fn):
    """Loss of batch i before step i, for every i; the step_fn updates."""
    losses = []
    for i in range(tokens.shape[0]):
        model.zero_grad(set_to_none=False)
        _, loss = loss_of(model, tokens[i], targets[i])
        loss.backward()
        losses.append(loss.item())
        step_fn()
    return losses


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent / "tiny_reference.safetensors",
    )
    args = ap.parse_args()
    settings = dict(SETTINGS)
    torch.set_num_threads(settings["threads"])
    torch.use_deterministic_algorithms(True)

    model = build_model(TINY_CONFIG, settings)
    names = [n for n, _ in model.named_parameters()]
    weights = {n: p.detach().clone() for n, p in model.named_parameters()}
    tokens, targets = make_batches(TINY_CONFIG, settings)
    out = {n: w.contiguous() for n, w in weights.items()}
    out["inputs.tokens"] = tokens
    out["inputs.targets"] = targets

    # Forward and backward on batch 0.
    model.zero_grad(set_to_none=False)
    logits, loss = loss_of(model, tokens[0], targets[0])
    loss.backward()
    out["logits"] = logits.detach().contiguous()
    out["loss"] = loss.detach().reshape(1)
    for n, p in model.named_parameters():
        out[f"grad.{n}"] = p.grad.detach().clone()

    # Our convention against HF's own shifted loss (labels = tokens): the
    # two agree on the first T - 1 positions, where targets = tokens[1:].
    with torch.no_grad():
        hf_loss = model(input_ids=tokens[0], labels=tokens[0]).loss
        v = logits.shape[-1]
        ours_first = F.cross_entropy(
            logits[:, :-1].reshape(-1, v), targets[0][:, :-1].reshape(-1)
        )
        assert torch.allclose(hf_loss, ours_first, rtol=1e-6, atol=0), (
            hf_loss,
            ours_first,
        )
        assert torch.equal(targets[0][:, :-1], tokens[0][:, 1:])

    # Optimizer steps: the replica, then galore_torch's own when installed.
    results = {}
    gt = load_galore_torch()
    crosscheck = {}
    for kind in ("adamw", "galore"):
        galore = kind == "galore"
        with torch.no_grad():
            for n, p in model.named_parameters():
                p.copy_(weights[n])
        opt = OurAdamW(model, settings, galore)
        losses = run_steps(model, tokens, targets, lambda: opt.step(settings["lr"]))
        delta = {n: (p.detach() - weights[n]).contiguous() for n, p in model.named_parameters()}
        results[kind] = (losses, delta, opt)
        out[f"{kind}.losses"] = torch.tensor(losses, dtype=torch.float32)
        if gt is not None:
            with torch.no_grad():
                for n, p in model.named_parameters():
                    p.copy_(weights[n])
            ref = galore_torch_optimizer(gt, model, settings, galore)
            ref_losses = run_steps(model, tokens, targets, ref.step)
            d_loss = max(abs(a - b) for a, b in zip(losses, ref_losses))
            d_param = max(
                ((p.detach() - weights[n]) - delta[n]).norm().item()
                / max(delta[n].norm().item(), 1e-30)
                for n, p in model.named_parameters()
            )
            crosscheck[kind] = {
                "max_abs_loss_diff": d_loss,
                "max_rel_fro_delta_diff": d_param,
            }
            # The replica must be galore_torch up to float32 roundoff.
            assert d_loss < 1e-5 and d_param < 1e-4, (kind, crosscheck[kind])

    adamw_losses, adamw_delta, _ = results["adamw"]
    galore_losses, galore_delta, galore_opt = results["galore"]
    assert abs(adamw_losses[0] - loss.item()) == 0.0
    for n in names:
        out[f"galore.delta.{n}"] = galore_delta[n]
        out[f"adamw.delta_norm.{n}"] = adamw_delta[n].norm().reshape(1)
        proj = galore_opt.projector(n)
        if proj is not None:
            out[f"galore.projector.{n}"] = proj[0]
            out[f"galore.singular_values.{n}"] = proj[1]

    meta = {
        "format_version": FORMAT_VERSION,
        "generator": "ci/reference/make_reference.py",
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "python_version": platform.python_version(),
        "torch_version": torch.__version__,
        "transformers_version": transformers.__version__,
        "safetensors_version": safetensors.__version__,
        "numpy_version": np.__version__,
        "config": json.dumps(TINY_CONFIG),
        "settings": json.dumps(settings),
        "param_names": json.dumps(names),
        "crosscheck": json.dumps(
            {"galore_torch": crosscheck} if gt is not None else {"galore_torch": "not installed"}
        ),
        "contents": (
            "<hf name>: initial weights; inputs.tokens, inputs.targets (S, B, T) int64 "
            "(targets = tokens shifted by one); logits (B, T, V) and loss (1) of batch 0; "
            "grad.<hf name>: d loss / d weight on batch 0; {adamw,galore}.losses (S): loss "
            "of batch i before step i; galore.delta.<hf name>: weights after S GaLore steps "
            "minus the initial ones; galore.projector.<hf name>: the basis P (n x r right, "
            "m x r left) of the first step; galore.singular_values.<hf name>: all singular "
            "values of that step's gradient (float32 SVD); adamw.delta_norm.<hf name> (1): Frobenius norm of the AdamW update "
            "after S steps"
        ),
    }
    save_file(out, str(args.out), metadata=meta)
    size = args.out.stat().st_size
    print(f"wrote {args.out} ({size} bytes, {len(out)} tensors)")
    print(f"loss {loss.item():.6f}")
    print("adamw losses", " ".join(f"{x:.6f}" for x in adamw_losses))
    print("galore losses", " ".join(f"{x:.6f}" for x in galore_losses))
    print("crosscheck", meta["crosscheck"])


if __name__ == "__main__":
    main()
