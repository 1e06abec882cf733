"""galore-lab's subspace methods, trackers, batches and initial weights in Python.

A thin skin over the lab's Rust crates (the native module ``galore_lab._native``):
every method ``lab list`` shows is here, and what Python computes about subspaces,
Rust computes. Matrices go in as float32 NumPy arrays or CPU torch tensors of any
strides without a copy; the GIL is released while the lab computes; errors are
Python exceptions carrying the lab's message (:class:`LabError`, a ``ValueError``;
``TypeError`` for a wrong type or dtype).

- :func:`methods`, :func:`left_basis`: the registered methods, one basis call;
- :class:`Tracker`: a method following one matrix across refreshes, its state
  as NumPy arrays, picklable;
- :class:`Batches`, :func:`init_weights`, :func:`hf_config`: the lab's data
  order and initial weights, so a PyTorch run pairs with a lab run by seed;
- :mod:`galore_lab.torch`: ``LabProjector`` (a drop-in for galore-torch's
  ``GaLoreProjector``, usable through APOLLO's projector hook) and the lab's
  Llama as a ``transformers`` model;
- :mod:`galore_lab.record`: ``GradientRecorder``, a PyTorch run's gradients in
  the layout ``lab run`` reads.
"""

from __future__ import annotations

from typing import Any, TypedDict

import numpy as np
import numpy.typing as npt

from . import _native
from ._native import Batches, LabError, Tracker

__all__ = [
    "BasisInfo",
    "Batches",
    "LabError",
    "MethodInfo",
    "ParamInfo",
    "Tracker",
    "__version__",
    "accuracy",
    "align",
    "as_matrix",
    "hf_config",
    "init_weights",
    "left_basis",
    "methods",
    "presets",
    "refresh_seed",
]

__version__: str = _native.__version__


class ParamInfo(TypedDict):
    """One documented param of a method."""

    name: str
    default: Any
    """The default as a Python value (``None`` where there is none)."""
    default_toml: str
    doc: str


class MethodInfo(TypedDict):
    """A registered method, as ``lab list`` shows it."""

    name: str
    summary: str
    device: str
    available: bool
    unavailable_reason: str | None
    params: list[ParamInfo]
    variants: list[dict[str, Any]]
    """The param variants the conformance kit runs it with (non-default keys only)."""


class BasisInfo(TypedDict):
    """What one :func:`left_basis` call did, as the method reports it."""

    method: str
    device: str
    iterations: int
    products: int
    flops: float
    converged: bool
    seconds: float
    """Wall seconds of the Rust call alone (what the harness times)."""


def methods() -> list[MethodInfo]:
    """Every registered subspace method, with its params and availability.

    Returns
    -------
    list of MethodInfo
        In ``lab list``'s order: name, summary, device (``"cpu"`` or
        ``"cuda:0"``), whether it can run here (and why not), and each param's
        name, default and documentation, and the param variants the lab's
        conformance kit runs it with.
    """
    return _native.methods()


def as_matrix(a: Any, name: str = "a") -> npt.NDArray[np.float32]:
    """View a float32 NumPy array or CPU torch tensor as a NumPy array, without a copy.

    Parameters
    ----------
    a : numpy.ndarray or torch.Tensor
        A 2-D float32 array or tensor of any strides; a torch tensor must be on
        the CPU (``.detach().numpy()`` shares its memory).
    name : str
        The argument's name in error messages.

    Returns
    -------
    numpy.ndarray
        ``a`` itself, or a view of the tensor's memory.

    Raises
    ------
    TypeError
        A torch tensor that is not float32.
    ValueError
        A torch tensor on another device than the CPU.
    """
    if type(a).__module__.startswith("torch") and hasattr(a, "detach"):
        if a.device.type != "cpu":
            raise ValueError(
                f"{name} is on {a.device}; the lab reads host memory: pass {name}.cpu() "
                "(galore_lab.torch.LabProjector copies for you)"
            )
        if str(a.dtype) != "torch.float32":
            raise TypeError(
                f"{name} has dtype {a.dtype}; the lab computes in float32: pass {name}.float()"
            )
        return a.detach().numpy()
    return a


def left_basis(
    a: Any,
    k: int,
    method: str = "rrf",
    params: dict[str, Any] | None = None,
    seed: int = 0,
    threads: int = 1,
) -> tuple[npt.NDArray[np.float32], BasisInfo]:
    """Find an orthonormal basis of the k dominant left singular vectors of ``a``.

    The call the harness makes for one row of a suite: the method built from the
    registry with ``params``, a fresh random context seeded with ``seed``, so Q has
    the bits of the harness's row for the same matrix, method, params and seed,
    for any ``threads``. For GaLore's right side (m > n) pass ``a.T``.

    Parameters
    ----------
    a : numpy.ndarray or torch.Tensor, shape (m, n), float32
        Any strides; not copied (a CPU torch tensor is viewed through NumPy).
    k : int
        The rank, 1 <= k <= min(m, n).
    method : str
        A registered method (see :func:`methods`).
    params : dict, optional
        The method's params, as in a suite's TOML (``{"power_iters": 1}``);
        missing ones take their defaults, unknown ones are errors.
    seed : int
        The random context's seed (the suite's ``seed``).
    threads : int
        Threads inside the call; the bits do not depend on it.

    Returns
    -------
    Q : numpy.ndarray, shape (m, k), float32
        Orthonormal columns.
    info : BasisInfo
        Iterations, products, flops, convergence and the Rust call's seconds.

    Raises
    ------
    LabError
        ``a`` not 2-D or not finite, ``k`` out of range, an unknown method or
        param, a numerical failure; the lab's message.
    TypeError
        ``a`` not a float32 array or tensor.
    """
    return _native.left_basis(as_matrix(a), k, method, params, seed, threads)


def accuracy(a: Any, q: Any) -> dict[str, float]:
    """Return the lab's accuracy figures of a basis: those of a suite's ``results.csv``.

    Computed in float64 against the float64 reference SVD of ``a``
    (``subspace::metrics``), never by a method about itself.

    Parameters
    ----------
    a : numpy.ndarray or torch.Tensor, shape (m, n), float32
        The matrix.
    q : numpy.ndarray, shape (m, k), float32
        A basis of ``a``'s column space.

    Returns
    -------
    dict
        ``err_fro`` = ‖A − QQᵀA‖_F / ‖A − A_k‖_F (1 is optimal), ``err_spec`` =
        ‖A − QQᵀA‖₂ / σ_{k+1}, ``sin_theta`` (the largest principal angle's sine
        to the top-k singular subspace), ``energy`` = ‖QᵀA‖_F² / ‖A‖_F² and
        ``ortho`` = ‖QᵀQ − I‖_F.
    """
    return _native.accuracy(as_matrix(a), as_matrix(q, "q"))


def align(q: Any, previous: Any | None = None) -> npt.NDArray[np.float32]:
    """Align a new basis with the previous one, as the lab's GaLore does with ``align = true``.

    Without ``previous``: canonical signs (each column's largest entry positive).
    With it: the orthonormal basis of span(q) nearest ``previous`` (orthogonal
    Procrustes). The span never changes (``crates/llama/src/optim/align.rs``).

    Parameters
    ----------
    q : numpy.ndarray, shape (p, r), float32
        A basis with orthonormal columns.
    previous : numpy.ndarray, shape (p, r), float32, optional
        The basis it follows.

    Returns
    -------
    numpy.ndarray, shape (p, r), float32
    """
    prev = None if previous is None else as_matrix(previous, "previous")
    return _native.align(as_matrix(q, "q"), prev)


def refresh_seed(seed: int, index: int, step: int) -> int:
    """Return the context seed of the lab's GaLore refresh of parameter ``index`` at ``step``.

    Parameters
    ----------
    seed : int
        The run's seed.
    index : int
        The parameter's position in the model's parameter list.
    step : int
        The 1-based step of the refresh.

    Returns
    -------
    int
        ``seed ^ mix(mix(index) ^ step)`` (SplitMix64's finalizer).
    """
    return _native.refresh_seed(seed, index, step)


def presets() -> list[str]:
    """Return the lab's model presets (``llama-60m``, ``small``, ``tiny``)."""
    return _native.presets()


def hf_config(preset: str) -> dict[str, Any]:
    """Return the Hugging Face ``config.json`` of a preset, for ``transformers.LlamaConfig(**d)``.

    Parameters
    ----------
    preset : str
        One of :func:`presets`.

    Returns
    -------
    dict
    """
    return _native.hf_config(preset)


def init_weights(preset: str, seed: int) -> dict[str, npt.NDArray[np.float32]]:
    """Return the lab's initial weights for a preset and seed, in Hugging Face Llama names.

    The weights a lab run with this preset and seed starts from, bit for bit
    (every linear and embedding N(0, 0.02²), every norm 1), in HF's names,
    shapes ((out, in) for a linear) and order: ``model.load_state_dict`` takes
    them as they are (see :func:`galore_lab.torch.llama_model`).

    Parameters
    ----------
    preset : str
        One of :func:`presets`.
    seed : int
        The run's seed.

    Returns
    -------
    dict of str to numpy.ndarray (float32)
    """
    return _native.init_weights(preset, seed)
