"""Recording a PyTorch run's gradients in the lab's layout.

The lab's recorder (``crates/llama/src/session/record.rs``) writes, at each
step of ``record_steps``, the gradients of ``record_tensors`` (globs on Hugging
Face names; default: every matrix GaLore projects, the attention and MLP
weights) as ``<out>/grads/step-<N>.safetensors``: float32 tensors in HF names
and (out, in) shapes, metadata ``format = pt``, ``run``, ``step``, ``preset``
and ``seed``. :class:`GradientRecorder` writes the same files through the same
Rust writer, so ``lab run`` reads a PyTorch run's recording as it reads its
own: a ``files`` source on ``<out>/grads/*.safetensors``, or a ``recorded`` /
``trajectory`` source of a suite's torch-engine run.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from . import _native

__all__ = ["GradientRecorder", "galore_matrices"]


def galore_matrices(names_and_shapes: Iterable[tuple[str, Sequence[int]]]) -> list[str]:
    """Return the names of the matrices GaLore projects: 2-D attention and MLP weights.

    The reference code's rule, which the lab's ``ParamKind::galore`` follows:
    a 2-D weight whose module name holds ``attn`` or ``mlp``.

    Parameters
    ----------
    names_and_shapes : iterable of (str, shape)
        E.g. ``(n, p.shape) for n, p in model.named_parameters()``.

    Returns
    -------
    list of str
    """
    return [
        name
        for name, shape in names_and_shapes
        if len(shape) == 2 and ("attn" in name or "mlp" in name)
    ]


class GradientRecorder:
    """Write a torch model's gradients at chosen steps as the lab records them.

    Call :meth:`record` after ``loss.backward()`` (and before the optimizer
    zeroes the gradients) at every step; it writes only at the chosen steps.

    Parameters
    ----------
    model : torch.nn.Module
        Its ``named_parameters()`` names are the tensor names (HF Llama names
        for ``transformers.LlamaForCausalLM``).
    steps : list of int or str
        The 0-based steps to record: a list, or the lab's range ``"A..B"`` /
        ``"A..B:S"`` (B exclusive; every S-th step).
    tensors : list of str, optional
        Globs on the names (the lab's ``record_tensors``); default: the
        matrices GaLore projects (:func:`galore_matrices`).
    out : path
        The run's directory: files go to ``<out>/grads/step-<N>.safetensors``.
    run : str
        The run's label, written as metadata ``run``.
    preset : str
        The model preset, written as metadata ``preset``.
    seed : int
        The run's seed, written as metadata ``seed``.

    Raises
    ------
    LabError
        A bad range or glob, or a glob that matches no parameter.
    """

    def __init__(
        self,
        model: Any,
        steps: Sequence[int] | str,
        tensors: Sequence[str] | None = None,
        out: str | PathLike[str] = ".",
        *,
        run: str = "torch",
        preset: str = "",
        seed: int = 0,
    ) -> None:
        self.model = model
        self.steps = _native.record_steps(steps if isinstance(steps, str) else list(steps))
        params = dict(model.named_parameters())
        if tensors:
            self.names = _native.match_tensors(list(params), list(tensors))
            if not self.names:
                raise _native.LabError(
                    f"tensors = {list(tensors)!r} matches no parameter of the model; its "
                    f"parameters are {', '.join(params)}"
                )
        else:
            self.names = galore_matrices((n, p.shape) for n, p in params.items())
        self.out = Path(out)
        self.run = run
        self.preset = preset
        self.seed = seed
        self.files: list[Path] = []
        self._params = params

    def record(self, step: int) -> Path | None:
        """Write the gradients of ``step`` if it is a chosen step.

        Parameters
        ----------
        step : int
            The 0-based step whose gradients the parameters' ``.grad`` hold.

        Returns
        -------
        pathlib.Path or None
            The file written, or None at a step not chosen.

        Raises
        ------
        LabError
            A chosen tensor with no gradient.
        """
        import torch

        if step not in self.steps:
            return None
        tensors = []
        for name in self.names:
            grad = self._params[name].grad
            if grad is None:
                raise _native.LabError(
                    f"step {step}: {name} has no gradient; call record() after backward() and "
                    "before the optimizer zeroes the gradients"
                )
            array = grad.detach().to(device="cpu", dtype=torch.float32).numpy()
            tensors.append((name, np.ascontiguousarray(array)))
        path = self.out / "grads" / f"step-{step}.safetensors"
        path.parent.mkdir(parents=True, exist_ok=True)
        metadata = [
            ("run", self.run),
            ("step", str(step)),
            ("preset", self.preset),
            ("seed", str(self.seed)),
        ]
        _native.save_tensors(path, tensors, metadata)
        self.files.append(path)
        return path

    __call__ = record
