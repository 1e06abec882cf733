"""The lab inside PyTorch training: ``LabProjector`` and the lab's Llama.

``LabProjector`` is a drop-in for galore-torch's ``GaLoreProjector`` (its
constructor arguments, ``project``, ``project_back`` and
``get_orthogonal_matrix``) that finds each refresh's basis with any lab method
or tracker instead of ``torch.linalg.svd``. Inside ``galore_torch.GaLoreAdamW``
(the projector is built in ``step()`` only when ``state[p]`` has none, so one
put there first is used)::

    from galore_torch import GaLoreAdamW
    from galore_lab.torch import use_lab_projectors

    opt = GaLoreAdamW(groups, lr=1e-2)  # a group with rank, update_proj_gap, scale, proj_type
    use_lab_projectors(opt, method="rrf", params={"power_iters": 1}, align=True)

Through APOLLO's projector hook (``APOLLOAdamW._initialize_projector``), with
:func:`lab_apollo_adamw`. Either way the projector's state (its basis and its
tracker's state) travels in ``optimizer.state_dict()`` and comes back with
``load_state_dict()`` (the tracker is picklable; ``torch.save`` pickles it, and
``torch.load`` needs ``weights_only=False`` for it, as for galore-torch's own
projector).

Devices: the lab computes on the host. On a CUDA gradient ``LabProjector``
copies the matrix to the host for each refresh and the basis back (one
device-to-host and one host-to-device copy per refresh, none between
refreshes); handing CUDA tensors to the lab's cuda-rrf without a copy (DLPack,
on torch's stream) is not built yet.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch
from torch.nn import functional

from . import Tracker, align, hf_config, init_weights, refresh_seed

__all__ = [
    "LabProjector",
    "lab_apollo_adamw",
    "lab_loss",
    "llama_model",
    "use_lab_projectors",
]


class LabProjector:
    """galore-torch's ``GaLoreProjector`` with the basis found by a lab method.

    Parameters
    ----------
    rank : int
        GaLore's rank r.
    verbose : bool
        Accepted for compatibility; unused (as in galore-torch).
    update_proj_gap : int
        GaLore's T: the basis is refreshed when ``step % T == 0`` (steps count
        from 0, as galore-torch's ``state["step"]`` before its increment).
    scale : float
        GaLore's α, applied at back-projection.
    proj_type : {"std", "reverse_std", "left", "right", "full"}
        galore-torch's side rule (``"std"``: right when rows >= cols).
    method : str
        A registered lab method (``galore_lab.methods()``); it follows the
        matrix as a tracker, so a method with a tracker of its own, or one that
        warm-starts, carries its state from one refresh to the next.
    params : dict, optional
        The method's params, as in a suite's TOML.
    align : bool
        Align each new basis with the previous one (canonical signs first, then
        orthogonal Procrustes), as the lab's ``align = true``.
    seed : int
        The run's seed; refresh at 0-based step s uses the lab's
        ``refresh_seed(seed, index, s + 1)``, as the lab's GaLore does.
    index : int
        The parameter's position in the model's parameter list (the lab's
        layout order), for the refresh seed.
    threads : int
        Threads inside each refresh (the bits do not depend on it).

    Notes
    -----
    A CUDA gradient is copied to the host for each refresh and its basis back
    to the device (see the module doc); bf16/fp16 gradients are cast to float32
    for the method and the basis cast back, as galore-torch does.
    """

    def __init__(
        self,
        rank: int,
        verbose: bool = False,
        update_proj_gap: int = 200,
        scale: float = 1.0,
        proj_type: str = "std",
        *,
        method: str = "svd",
        params: Mapping[str, Any] | None = None,
        align: bool = False,
        seed: int = 0,
        index: int = 0,
        threads: int = 1,
    ) -> None:
        self.rank = rank
        self.verbose = verbose
        self.update_proj_gap = update_proj_gap
        self.scale = scale
        self.ortho_matrix: Any = None
        self.proj_type = proj_type
        self.method = method
        self.params = dict(params or {})
        self.align = align
        self.seed = seed
        self.index = index
        self.threads = threads
        self.refreshes = 0
        self._trackers: dict[str, Tracker] = {}
        self._previous: dict[str, np.ndarray] = {}
        self._step = 0

    @classmethod
    def for_group(
        cls,
        group: Mapping[str, Any],
        method: str,
        params: Mapping[str, Any] | None,
        **kwargs: Any,
    ) -> LabProjector:
        """Build the projector of a galore-torch or APOLLO param group.

        Parameters
        ----------
        group : dict
            A param group with ``rank``, ``update_proj_gap``, ``scale`` and
            ``proj_type``.
        method, params
            The lab method and its params.
        **kwargs
            ``align``, ``seed``, ``index``, ``threads``.

        Returns
        -------
        LabProjector
        """
        return cls(
            group["rank"],
            update_proj_gap=group["update_proj_gap"],
            scale=group["scale"],
            proj_type=group["proj_type"],
            method=method,
            params=params,
            **kwargs,
        )

    def project(self, full_rank_grad: torch.Tensor, iter: int) -> torch.Tensor:
        """Project a gradient onto the basis, refreshing it when ``iter % T == 0``.

        Parameters
        ----------
        full_rank_grad : torch.Tensor, shape (m, n)
            The gradient.
        iter : int
            The 0-based step (galore-torch's name).

        Returns
        -------
        torch.Tensor
            (m, r) for a right projection, (r, n) for a left one, (r, r) for full.
        """
        g = full_rank_grad
        refresh = self.ortho_matrix is None or iter % self.update_proj_gap == 0
        self._step = iter
        tall = g.shape[0] >= g.shape[1]
        side = {
            "std": "right" if tall else "left",
            "reverse_std": "left" if tall else "right",
            "right": "right",
            "left": "left",
            "full": "full",
        }.get(self.proj_type)
        if side is None:
            raise ValueError(
                f"proj_type = {self.proj_type!r}; use std, reverse_std, left, right or full"
            )
        if refresh:
            self.ortho_matrix = self.get_orthogonal_matrix(g, self.rank, type=side)
        if side == "right":
            return torch.matmul(g, self.ortho_matrix.t())
        if side == "left":
            return torch.matmul(self.ortho_matrix.t(), g)
        return torch.matmul(self.ortho_matrix[0].t(), g) @ self.ortho_matrix[1].t()

    def project_back(self, low_rank_grad: torch.Tensor) -> torch.Tensor:
        """Map a low-rank update back to the weight's shape, scaled by α.

        Parameters
        ----------
        low_rank_grad : torch.Tensor
            At :meth:`project`'s output shape.

        Returns
        -------
        torch.Tensor, shape (m, n)
        """
        x = low_rank_grad
        if self.proj_type == "std":
            full = (
                torch.matmul(x, self.ortho_matrix)
                if x.shape[0] >= x.shape[1]
                else torch.matmul(self.ortho_matrix, x)
            )
        elif self.proj_type == "reverse_std":
            full = (
                torch.matmul(self.ortho_matrix, x)
                if x.shape[0] <= x.shape[1]
                else torch.matmul(x, self.ortho_matrix)
            )
        elif self.proj_type == "right":
            full = torch.matmul(x, self.ortho_matrix)
        elif self.proj_type == "left":
            full = torch.matmul(self.ortho_matrix, x)
        else:
            full = torch.matmul(self.ortho_matrix[0], x) @ self.ortho_matrix[1]
        return full * self.scale

    def _basis(self, key: str, a: np.ndarray, rank: int) -> np.ndarray:
        """Return the tracked (with ``align``, aligned) basis of ``a`` for side ``key``."""
        rows, cols = a.shape
        tracker = self._trackers.get(key)
        if tracker is None or tracker.shape != (rows, cols, rank):
            tracker = Tracker(self.method, rows, cols, rank, self.params, self.seed, self.threads)
            self._trackers[key] = tracker
            self._previous.pop(key, None)
        q = tracker.update(a, seed=refresh_seed(self.seed, self.index, self._step + 1))
        if self.align:
            q = align(q, self._previous.get(key))
            self._previous[key] = q
        return q

    def get_orthogonal_matrix(
        self,
        weights: torch.Tensor,
        rank: int,
        type: str,
    ) -> Any:
        """Find the basis of one refresh with the lab's method.

        Parameters
        ----------
        weights : torch.Tensor, shape (m, n)
            The matrix (a gradient); copied to the host if it is on a GPU.
        rank : int
            r.
        type : {"right", "left", "full"}
            ``"right"``: the basis of Gᵀ, returned as (r, n) (galore-torch's
            ``Vh[:r]``); ``"left"``: of G, as (m, r); ``"full"``: both.

        Returns
        -------
        torch.Tensor or list of torch.Tensor
            On ``weights``' device and dtype.
        """
        data = weights.data
        g = data.detach().to(device="cpu", dtype=torch.float32).numpy()
        self.refreshes += 1

        def back(q: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(q).to(device=data.device, dtype=data.dtype)

        if type == "right":
            return back(self._basis("right", g.T, rank).T.copy())
        if type == "left":
            return back(self._basis("left", g, rank))
        if type == "full":
            return [back(self._basis("left", g, rank)), back(self._basis("right", g.T, rank))]
        raise ValueError("type should be left, right or full")


def use_lab_projectors(
    optimizer: torch.optim.Optimizer,
    method: str = "svd",
    params: Mapping[str, Any] | None = None,
    *,
    align: bool = False,
    seed: int = 0,
    threads: int = 1,
) -> list[LabProjector]:
    """Put a :class:`LabProjector` into galore-torch's state for every GaLore parameter.

    Call it after building ``galore_torch.GaLoreAdamW`` and before its first
    ``step()``: every parameter of a group with ``rank`` gets a projector built
    from the group's ``rank``, ``update_proj_gap``, ``scale`` and ``proj_type``,
    which the optimizer then uses instead of building its own.

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
        A galore-torch optimizer (GaLoreAdamW, GaLoreAdafactor, GaLoreAdamW8bit).
    method, params, align, seed, threads
        As for :class:`LabProjector`.

    Returns
    -------
    list of LabProjector
        In parameter order.
    """
    made = []
    index = 0
    for group in optimizer.param_groups:
        for p in group["params"]:
            if "rank" in group:
                state = optimizer.state[p]
                if "projector" in state:
                    raise ValueError(
                        "a parameter already has a projector: call use_lab_projectors before "
                        "the optimizer's first step"
                    )
                state["projector"] = LabProjector.for_group(
                    group, method, params, align=align, seed=seed, index=index, threads=threads
                )
                made.append(state["projector"])
            index += 1
    return made


def lab_apollo_adamw(
    params: Iterable[Any],
    method: str = "svd",
    method_params: Mapping[str, Any] | None = None,
    *,
    align: bool = False,
    seed: int = 0,
    threads: int = 1,
    **kwargs: Any,
) -> torch.optim.Optimizer:
    """Build apollo-torch's ``APOLLOAdamW`` whose projector is a :class:`LabProjector`.

    APOLLO builds each projector in ``_initialize_projector(group, state)``;
    this subclass returns a ``LabProjector`` there instead of its random or
    SVD projector (APOLLO uses ``project`` only: it scales the raw gradient by
    the low-rank update's norms).

    Parameters
    ----------
    params : iterable
        Parameters or param groups, as for ``APOLLOAdamW`` (a group with
        ``rank``, ``update_proj_gap``, ``scale``, ``proj_type``, ``scale_type``).
    method, align, seed, threads
        As for :class:`LabProjector`; ``method_params`` is its ``params``.
    **kwargs
        ``APOLLOAdamW``'s own arguments (``lr``, ``weight_decay``, ...).

    Returns
    -------
    torch.optim.Optimizer
    """
    from apollo_torch import APOLLOAdamW

    class LabAPOLLOAdamW(APOLLOAdamW):
        def _initialize_projector(self, group: dict[str, Any], state: dict[str, Any]) -> Any:
            return LabProjector.for_group(
                group, method, method_params, align=align, seed=seed,
                index=state.get("seed", 0), threads=threads,
            )  # fmt: skip

    return LabAPOLLOAdamW(params, **kwargs)


def llama_model(preset: str, seed: int) -> Any:
    """Build ``transformers.LlamaForCausalLM`` for a lab preset, from the lab's initial weights.

    Parameters
    ----------
    preset : str
        A lab preset (``galore_lab.presets()``).
    seed : int
        The lab run's seed: the weights are those the lab starts from.

    Returns
    -------
    transformers.LlamaForCausalLM
        float32, eager attention, in training mode.
    """
    import transformers

    config = transformers.LlamaConfig(**hf_config(preset))
    config._attn_implementation = "eager"
    model = transformers.LlamaForCausalLM(config)
    weights = {k: torch.from_numpy(v) for k, v in init_weights(preset, seed).items()}
    model.load_state_dict(weights, strict=True)
    model.train()
    return model


def lab_loss(model: Any, tokens: Any, targets: Any) -> torch.Tensor:
    """Return the lab's loss: the mean cross-entropy over all B·T positions.

    The lab scores every position against explicit targets (the tokens shifted
    by one), not Hugging Face's ``labels=`` loss, which shifts internally and
    drops the last position.

    Parameters
    ----------
    model : transformers.LlamaForCausalLM
        The model.
    tokens, targets : numpy.ndarray or torch.Tensor, shape (B, T), int64
        A batch from :class:`galore_lab.Batches`.

    Returns
    -------
    torch.Tensor
        A scalar.
    """
    tokens = torch.as_tensor(tokens)
    targets = torch.as_tensor(targets)
    logits = model(input_ids=tokens).logits
    return functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
