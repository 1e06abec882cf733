"""The torch engine: one training run of a suite, in PyTorch.

    python -m galore_lab.train CONFIG.json --out DIR [--check]

Trains ``transformers.LlamaForCausalLM`` with the preset's config, from the
lab's initial weights for the run's seed, on the lab's batches, with the lab's
learning-rate schedule and loss, and writes what a lab run writes, so the
harness reads either alike: ``DIR/training.csv`` (the lab's ``StepRow``
columns: loss, held-out loss, lr, grad norm, the step's seconds split into
forward / backward / subspace / update, optimizer state bytes counted from the
torch state), ``DIR/train.json`` (the lab's ``TrainSummary`` fields, its
``config`` the one given), ``DIR/memory.json`` and, with ``record_steps``,
``DIR/grads/step-<N>.safetensors`` (:class:`galore_lab.record.GradientRecorder`).

CONFIG is a JSON object of the lab's training keys (those of a suite's
``[train]`` table, ``llama::session::TrainConfig``) with ``optimizer`` one of:

- ``adamw``: ``torch.optim.AdamW`` (ε added to √v̂ after bias correction,
  decay before the update: PyTorch's, not the lab's galore-torch-style AdamW);
- ``galore-torch``: galore-torch's ``GaLoreAdamW`` on the attention and MLP
  matrices (``rank``, ``update_proj_gap``, ``scale``, proj_type ``std``) with
  its own SVD, or with ``plugin`` (and ``plugin_params``, ``align``) a
  :class:`galore_lab.torch.LabProjector` instead;
- ``apollo``: apollo-torch's ``APOLLOAdamW`` (its random projection,
  channel-wise scaling; ``rank``, ``update_proj_gap``, ``scale``);
- ``q-galore``: q-galore-torch's ``QGaLoreAdamW8bit`` (CUDA only);

and ``device`` ``"cpu"`` (default) or ``"cuda"``. A run that cannot run here
(torch, transformers or a peer missing, CUDA asked for without a GPU) exits
with status 3 and one line ``unavailable: <why>; <the command that fixes it>``
on stderr; a bad config exits with status 2 naming the key; ``--check`` only
checks (config and availability) and exits 0, 2 or 3.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import galore_lab

# Nothing is downloaded at run time: bitsandbytes (imported by the peers) asks
# the Hugging Face hub for kernels unless it is offline.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

__all__ = ["Unavailable", "main", "train"]

OPTIMIZERS = ("adamw", "galore-torch", "apollo", "q-galore")
DEVICES = ("cpu", "cuda")

# The lab's StepRow, in training.csv's column order.
COLUMNS = [
    "run",
    "step",
    "tokens",
    "train_loss",
    "eval_loss",
    "lr",
    "grad_norm",
    "seconds_forward",
    "seconds_backward",
    "seconds_subspace",
    "seconds_update",
    "seconds_elapsed",
    "optimizer_state_bytes",
]

# The keys the torch engine reads. Every other key of the lab's training
# config (``galore_lab._native.train_defaults()``) must keep the lab's default.
READS = {
    "name", "preset", "optimizer", "device", "engine", "plugin", "plugin_params", "rank",
    "scale", "update_proj_gap", "align", "lr", "beta1", "beta2", "eps", "weight_decay",
    "warmup_ratio", "min_lr_ratio", "steps", "batch_size", "micro_batch", "seq_len", "seed",
    "threads", "eval_every", "eval_batches", "corpus", "tokenizer", "record_steps",
    "record_tensors", "activation_checkpointing",
}  # fmt: skip

# The torch engine's own keys and the defaults it differs from the lab in.
TORCH_DEFAULTS: dict[str, Any] = {
    "optimizer": "adamw",
    "plugin": None,
    "device": "cpu",
    "engine": "torch",
    "seq_len": None,
}


class Unavailable(Exception):  # noqa: N818 (a state, not a failure)
    """The run cannot run here: a package or a GPU is missing; the message says how to fix it."""


class ConfigError(ValueError):
    """A key of the config is wrong; the message names it and the fix."""


def _config(raw: dict[str, Any]) -> dict[str, Any]:
    lab = galore_lab._native.train_defaults()
    defaults = {**lab, **TORCH_DEFAULTS}
    unknown = sorted(set(raw) - set(defaults))
    if unknown:
        raise ConfigError(f"unknown key {unknown[0]!r}; the keys are {', '.join(sorted(defaults))}")
    for key in sorted(set(raw) - READS):
        if raw[key] != lab[key]:
            raise ConfigError(
                f"{key} = {raw[key]!r}: the torch engine does not read it (the lab's engine "
                f'does); drop it for engine = "torch"'
            )
    c = {**defaults, **raw}
    if c["optimizer"] not in OPTIMIZERS:
        raise ConfigError(
            f"optimizer = {c['optimizer']!r}: the torch engine runs {', '.join(OPTIMIZERS)}"
        )
    if c["device"] not in DEVICES:
        raise ConfigError(f'device = {c["device"]!r}: use "cpu" or "cuda"')
    if c["preset"] not in galore_lab.presets():
        raise ConfigError(f"preset = {c['preset']!r}: use one of {', '.join(galore_lab.presets())}")
    if c["seq_len"] is None:
        c["seq_len"] = min(256, galore_lab.hf_config(c["preset"])["max_position_embeddings"])
    if c["micro_batch"] is None:
        c["micro_batch"] = c["batch_size"]
    if c["batch_size"] < 1 or c["batch_size"] % c["micro_batch"]:
        raise ConfigError(
            f"micro_batch = {c['micro_batch']} must divide batch_size = {c['batch_size']}"
        )
    for key, why in [
        ("checkpoint_every", "checkpoints are the lab engine's"),
        ("checkpoint_at_end", "checkpoints are the lab engine's"),
    ]:
        if c[key]:
            raise ConfigError(f'{key}: {why}; drop it for engine = "torch"')
    if c["moments"] != "keep":
        raise ConfigError(
            f"moments = {c['moments']!r}: galore-torch and APOLLO keep the moments at a "
            'refresh; drop the key for engine = "torch"'
        )
    if c["plugin"] is not None and c["optimizer"] != "galore-torch":
        raise ConfigError(
            f'plugin = {c["plugin"]!r} applies to optimizer = "galore-torch" only (a '
            "LabProjector inside GaLoreAdamW)"
        )
    if c["align"] and c["plugin"] is None:
        raise ConfigError("align = true needs a LabProjector: set plugin (with galore-torch)")
    c["record_steps"] = galore_lab._native.record_steps(c["record_steps"])
    return c


def label(c: dict[str, Any]) -> str:
    """Return the run's label: ``name``, else as a suite labels a torch run.

    ``torch-adamw``, ``galore-torch-T200``, ``galore-torch+rrf-T1``, ``apollo-T200``,
    ``q-galore-T200``.
    """
    if c["name"]:
        return c["name"]
    gap = c["update_proj_gap"]
    if c["optimizer"] == "adamw":
        return "torch-adamw"
    if c["optimizer"] == "galore-torch" and c["plugin"]:
        return f"galore-torch+{c['plugin']}-T{gap}"
    return f"{c['optimizer']}-T{gap}"


def _need(module: str, install: str) -> None:
    """Raise Unavailable unless ``module`` can be imported (found, not imported: fast)."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise Unavailable(f"{module} is not installed for {sys.executable}; {install}")


def _check(c: dict[str, Any]) -> None:
    """Raise Unavailable when this run cannot run here."""
    _need("torch", "pip install torch")
    _need("transformers", "pip install transformers")
    if c["optimizer"] == "galore-torch":
        _need("galore_torch", "pip install galore-torch==1.0")
    if c["optimizer"] == "apollo":
        _need("apollo_torch", "pip install apollo-torch==1.0.3")
    if c["optimizer"] == "q-galore" and c["device"] != "cuda":
        raise Unavailable(
            "q-galore-torch's QGaLoreAdamW8bit needs CUDA (its step synchronizes the device); "
            'set device = "cuda" on a GPU machine'
        )
    if c["optimizer"] == "q-galore":
        _need("q_galore_torch", "pip install q-galore-torch==1.0")
    if c["device"] == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise Unavailable(
                'device = "cuda" but torch sees no GPU here; run it on a GPU machine (a CUDA '
                "build of torch: pip install torch)"
            )


class _Clock:
    """Seconds spent in subspace refreshes, and how many."""

    def __init__(self, sync: Callable[[], None]) -> None:
        self.seconds = 0.0
        self.calls = 0
        self.sync = sync

    def wrap(self, projector: Any) -> Any:
        """Time ``projector.get_orthogonal_matrix`` (every peer's refresh)."""
        inner = projector.get_orthogonal_matrix

        def timed(*args: Any, **kwargs: Any) -> Any:
            self.sync()
            start = time.perf_counter()
            out = inner(*args, **kwargs)
            self.sync()
            self.seconds += time.perf_counter() - start
            self.calls += 1
            return out

        projector.get_orthogonal_matrix = timed
        return projector


def _groups(model: Any, c: dict[str, Any]) -> tuple[list[Any], list[Any]]:
    from .record import galore_matrices

    params = dict(model.named_parameters())
    projected = set(galore_matrices((n, p.shape) for n, p in params.items()))
    return (
        [p for n, p in params.items() if n not in projected],
        [p for n, p in params.items() if n in projected],
    )


def _optimizer(model: Any, c: dict[str, Any], clock: _Clock) -> Any:
    import torch

    kw = {"lr": c["lr"], "betas": (c["beta1"], c["beta2"]), "eps": c["eps"]}
    wd = c["weight_decay"]
    if c["optimizer"] == "adamw":
        return torch.optim.AdamW(model.parameters(), weight_decay=wd, **kw)
    dense, projected = _groups(model, c)
    low_rank = {
        "params": projected,
        "rank": c["rank"],
        "update_proj_gap": c["update_proj_gap"],
        "scale": c["scale"],
        "proj_type": "std",
    }
    groups = [{"params": dense}, low_rank]
    if c["optimizer"] == "galore-torch":
        import galore_torch
        from galore_torch.galore_projector import GaLoreProjector

        from .torch import use_lab_projectors

        opt = galore_torch.GaLoreAdamW(groups, weight_decay=wd, no_deprecation_warning=True, **kw)
        if c["plugin"]:
            for p in use_lab_projectors(
                opt, c["plugin"], c["plugin_params"], align=c["align"], seed=c["seed"]
            ):
                clock.wrap(p)
        else:
            for p in projected:
                opt.state[p]["projector"] = clock.wrap(
                    GaLoreProjector(
                        c["rank"],
                        update_proj_gap=c["update_proj_gap"],
                        scale=c["scale"],
                        proj_type="std",
                    )
                )
        return opt
    if c["optimizer"] == "apollo":
        from apollo_torch import APOLLOAdamW

        class TimedAPOLLOAdamW(APOLLOAdamW):
            def _initialize_projector(self, group: dict[str, Any], state: dict[str, Any]) -> Any:
                return clock.wrap(super()._initialize_projector(group, state))

        low_rank.update({"proj": "random", "scale_type": "channel"})
        return TimedAPOLLOAdamW(groups, weight_decay=wd, **kw)
    from q_galore_torch import QGaLoreAdamW8bit

    low_rank.update({"quant": True, "quant_n_bit": 4, "quant_group_size": 256})
    low_rank.update({"cos_threshold": 0.4, "gamma_proj": 2, "queue_size": 5})
    return QGaLoreAdamW8bit(groups, weight_decay=wd, **kw)


def state_bytes(opt: Any) -> int:
    """Bytes of the optimizer's state: every tensor in it, projectors' bases and trackers."""
    import torch

    def size(x: Any) -> int:
        if isinstance(x, torch.Tensor):
            return x.numel() * x.element_size()
        if isinstance(x, (list, tuple)):
            return sum(size(y) for y in x)
        if isinstance(x, dict):
            return sum(size(y) for y in x.values())
        if hasattr(x, "ortho_matrix"):
            trackers = getattr(x, "_trackers", {})
            return size(x.ortho_matrix) + sum(t.state_bytes for t in trackers.values())
        return 0

    return sum(size(s) for s in opt.state.values())


def train(raw: dict[str, Any], out: Path) -> dict[str, Any]:
    """Run one training run and write its files under ``out``.

    Parameters
    ----------
    raw : dict
        The config (see the module doc).
    out : pathlib.Path
        The run's directory; one that holds a run (training.csv, train.json)
        is refused.

    Returns
    -------
    dict
        The summary written to ``out/train.json``.

    Raises
    ------
    ConfigError
        A bad key, named.
    Unavailable
        The run cannot run here, with the fix.
    """
    c = _config(raw)
    _check(c)
    import torch
    from torch.nn import functional

    from .record import GradientRecorder
    from .torch import llama_model

    for name in ("training.csv", "train.json"):
        if (out / name).exists():
            raise ConfigError(f"{out} already holds a run ({name}); give a new out dir")
    out.mkdir(parents=True, exist_ok=True)
    threads = c["threads"] or os.cpu_count() or 1
    torch.set_num_threads(threads)
    torch.manual_seed(c["seed"])
    device = torch.device(c["device"])
    cuda = device.type == "cuda"

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    run = label(c)
    model = llama_model(c["preset"], c["seed"]).to(device)
    if c["activation_checkpointing"]:
        model.gradient_checkpointing_enable()
    batches = galore_lab.Batches(c["preset"], c["seed"], c["corpus"], c["tokenizer"])
    clock = _Clock(sync)
    opt = _optimizer(model, c, clock)
    recorder = None
    if c["record_steps"]:
        recorder = GradientRecorder(
            model, c["record_steps"], c["record_tensors"] or None, out,
            run=run, preset=c["preset"], seed=c["seed"],
        )  # fmt: skip
    steps, b, t, mb = c["steps"], c["batch_size"], c["seq_len"], c["micro_batch"]
    warmup = int(steps * c["warmup_ratio"])
    params = list(model.named_parameters())

    def loss_of(tokens: Any, targets: Any) -> Any:
        logits = model(input_ids=tokens).logits
        flat = logits.reshape(-1, logits.shape[-1])
        return functional.cross_entropy(flat, targets.reshape(-1), reduction="sum") / (b * t)

    def evaluate() -> float:
        total = 0.0
        with torch.no_grad():
            for i in range(c["eval_batches"]):
                x, y = (torch.from_numpy(z).to(device) for z in batches.eval_batch(i, b, t))
                total += sum(loss_of(x[j : j + mb], y[j : j + mb]).item() for j in range(0, b, mb))
        return total / c["eval_batches"]

    rows: list[dict[str, Any]] = []
    elapsed = 0.0
    with (out / "training.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        for step in range(steps):
            x, y = (torch.from_numpy(z).to(device) for z in batches.train_batch(step, b, t))
            lr = galore_lab._native.cosine_lr(step, steps, warmup, c["lr"], c["min_lr_ratio"])
            for group in opt.param_groups:
                group["lr"] = lr
            sync()
            start = time.perf_counter()
            opt.zero_grad(set_to_none=False)
            forward = backward = 0.0
            loss_sum = 0.0
            for j in range(0, b, mb):
                t0 = time.perf_counter()
                loss = loss_of(x[j : j + mb], y[j : j + mb])
                sync()
                t1 = time.perf_counter()
                loss.backward()
                sync()
                forward += t1 - t0
                backward += time.perf_counter() - t1
                loss_sum += loss.item()
            backward += (time.perf_counter() - start) - forward - backward
            norm_sq = 0.0
            for name, p in params:
                g = p.grad.detach().double()
                if not torch.isfinite(g).all():
                    bad = g[~torch.isfinite(g)][0].item()
                    raise FloatingPointError(
                        f"step {step}: the gradient of {name} holds {bad}; lower lr or check "
                        "the data"
                    )
                norm_sq += float((g * g).sum())
            if recorder is not None:
                recorder.record(step)
            before = clock.seconds
            t2 = time.perf_counter()
            opt.step()
            sync()
            optimizer = time.perf_counter() - t2
            subspace = clock.seconds - before
            elapsed += forward + backward + optimizer
            last = step + 1 == steps
            due = last or (c["eval_every"] > 0 and (step + 1) % c["eval_every"] == 0)
            row = {
                "run": run,
                "step": step,
                "tokens": (step + 1) * b * t,
                "train_loss": loss_sum,
                "eval_loss": evaluate() if due else None,
                "lr": lr,
                "grad_norm": math.sqrt(norm_sq),
                "seconds_forward": forward,
                "seconds_backward": backward,
                "seconds_subspace": subspace,
                "seconds_update": max(optimizer - subspace, 0.0),
                "seconds_elapsed": elapsed,
                "optimizer_state_bytes": state_bytes(opt),
            }
            rows.append(row)
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
            f.flush()
    summary = _summary(c, raw, run, rows, model, opt, clock, recorder, cuda)
    (out / "memory.json").write_text(json.dumps(summary["memory"], indent=2))
    (out / "train.json").write_text(json.dumps(summary, indent=2))
    return summary


def _summary(
    c: dict[str, Any],
    raw: dict[str, Any],
    run: str,
    rows: list[dict[str, Any]],
    model: Any,
    opt: Any,
    clock: _Clock,
    recorder: Any,
    cuda: bool,
) -> dict[str, Any]:
    """Return the lab's TrainSummary fields (medians leave out the first step)."""
    import torch

    timed = rows[1:] if len(rows) > 1 else rows

    def median(key: Callable[[dict[str, Any]], float]) -> float:
        v = sorted(key(r) for r in timed)
        return v[len(v) // 2] if v else 0.0

    parts = ("seconds_forward", "seconds_backward", "seconds_subspace", "seconds_update")
    step_seconds = median(lambda r: sum(r[k] for k in parts))
    n_params = sum(p.numel() for p in model.parameters())
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    state = state_bytes(opt)
    if cuda:
        peak = torch.cuda.max_memory_allocated()
        note = "torch.cuda.max_memory_allocated (device bytes: weights, state, activations)"
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        note = (
            "the Python process's peak RSS (ru_maxrss: the interpreter, torch and transformers "
            "included); activations are not counted on the CPU (torch does not report them)"
        )
    memory = {
        "parameters": n_params,
        "weights_bytes": weights,
        "gradient_bytes": weights,
        "optimizer_state_bytes": state,
        "activation_bytes": 0,
        "activation_checkpointing": c["activation_checkpointing"],
        "subspace_workspace_bytes": 0,
        "subspace_device_bytes_predicted": None,
        "subspace_device_bytes_measured": None,
        "accounted_bytes": 2 * weights + state,
        "peak_rss_bytes": peak,
        "peak_rss_note": note,
        "paper_bf16_weights_bytes": 2 * n_params,
        "paper_bf16_state_bytes": state // 2,
    }
    final_eval = next((r["eval_loss"] for r in reversed(rows) if r["eval_loss"] is not None), None)
    import importlib.metadata as md
    import platform

    versions = {"python": sys.executable, "python_version": platform.python_version()}
    for dist in ("galore-lab", "torch", "transformers", "galore-torch", "apollo-torch"):
        try:
            versions[dist] = md.version(dist)
        except md.PackageNotFoundError:
            continue
    versions["device"] = c["device"]
    return {
        "run": run,
        "config": raw,
        "engine": versions,
        "steps": len(rows),
        "final_train_loss": rows[-1]["train_loss"] if rows else float("nan"),
        "final_eval_loss": final_eval,
        "median_step_seconds": step_seconds,
        "median_seconds_forward": median(lambda r: r["seconds_forward"]),
        "median_seconds_backward": median(lambda r: r["seconds_backward"]),
        "median_seconds_subspace": median(lambda r: r["seconds_subspace"]),
        "median_seconds_update": median(lambda r: r["seconds_update"]),
        "tokens_per_second": c["batch_size"] * c["seq_len"] / step_seconds if step_seconds else 0,
        "subspace_calls": clock.calls,
        "memory": memory,
        "recorded": [str(p) for p in (recorder.files if recorder else [])],
    }


def main(argv: list[str] | None = None) -> int:
    """Run the command line (see the module doc); return the exit status."""
    ap = argparse.ArgumentParser(prog="python -m galore_lab.train", description=__doc__)
    ap.add_argument("config", type=Path, help="the run's config, a JSON object")
    ap.add_argument("--out", type=Path, help="the run's directory")
    ap.add_argument("--check", action="store_true", help="check config and availability only")
    args = ap.parse_args(argv)
    try:
        raw = json.loads(args.config.read_text())
        if not isinstance(raw, dict):
            raise ConfigError(f"{args.config} must hold one JSON object")
        if args.check:
            _check(_config(raw))
            return 0
        if args.out is None:
            raise ConfigError("--out DIR is required to train")
        summary = train(raw, args.out)
    except Unavailable as e:
        print(f"unavailable: {e}", file=sys.stderr)
        return 3
    except (ConfigError, json.JSONDecodeError, OSError, galore_lab.LabError) as e:
        print(f"error: {args.config}: {e}", file=sys.stderr)
        return 2
    except FloatingPointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(
        f"{summary['run']}: {summary['steps']} steps, final loss {summary['final_train_loss']:.4f}"
        f", {summary['tokens_per_second']:.0f} tokens/s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
