"""Type stubs of the native module (crates/python/src); see the package's docstrings."""

from collections.abc import Sequence
from os import PathLike
from typing import Any

import numpy as np
import numpy.typing as npt

__version__: str

class LabError(ValueError):
    """An error of the lab, with the lab's message."""

def methods() -> list[Any]: ...
def left_basis(
    a: npt.NDArray[np.float32],
    k: int,
    method: str = "rrf",
    params: dict[str, Any] | None = None,
    seed: int = 0,
    threads: int = 1,
) -> tuple[npt.NDArray[np.float32], Any]: ...
def accuracy(a: npt.NDArray[np.float32], q: npt.NDArray[np.float32]) -> dict[str, float]: ...
def align(
    q: npt.NDArray[np.float32], previous: npt.NDArray[np.float32] | None = None
) -> npt.NDArray[np.float32]: ...
def refresh_seed(seed: int, index: int, t: int) -> int: ...
def cosine_lr(step: int, total: int, warmup: int, lr: float, min_ratio: float) -> float: ...
def presets() -> list[str]: ...
def hf_config(preset: str) -> dict[str, Any]: ...
def init_weights(preset: str, seed: int) -> dict[str, npt.NDArray[np.float32]]: ...
def train_defaults() -> dict[str, Any]: ...
def record_steps(spec: str | Sequence[int]) -> list[int]: ...
def match_tensors(names: list[str], patterns: list[str]) -> list[str]: ...
def save_tensors(
    path: str | PathLike[str],
    tensors: list[tuple[str, npt.NDArray[np.float32]]],
    metadata: list[tuple[str, str]],
) -> None: ...

class Tracker:
    """A subspace method following one rows×cols matrix at rank k across refreshes.

    Parameters
    ----------
    method : str
        A registered method; its own tracker, or the method warm-started from
        its previous basis.
    rows, cols : int
        The shape of every matrix it is given.
    k : int
        The rank, 1 <= k <= min(rows, cols).
    params : dict, optional
        The method's params.
    seed : int
        Seeds the random context carried across updates (the harness's along a
        trajectory).
    threads : int
        Threads inside each update; the bits do not depend on it.
    """

    def __init__(
        self,
        method: str,
        rows: int,
        cols: int,
        k: int,
        params: dict[str, Any] | None = None,
        seed: int = 0,
        threads: int = 1,
    ) -> None: ...
    def update(
        self, a: npt.NDArray[np.float32], seed: int | None = None
    ) -> npt.NDArray[np.float32]:
        """Return the tracked basis of ``a`` (rows, k) and advance the state.

        Parameters
        ----------
        a : numpy.ndarray, shape (rows, cols), float32
            Any strides, not copied.
        seed : int, optional
            A fresh random context for this update alone (GaLore's refresh
            seeds); default: the carried context.
        """
    @property
    def basis(self) -> npt.NDArray[np.float32] | None:
        """The basis of the last update (rows, k), or None before the first."""
    @property
    def shape(self) -> tuple[int, int, int]:
        """(rows, cols, k)."""
    @property
    def method(self) -> str: ...
    @property
    def params(self) -> dict[str, Any]: ...
    @property
    def seed(self) -> int: ...
    @property
    def threads(self) -> int: ...
    @property
    def state_bytes(self) -> int:
        """Bytes of the state held now."""
    def state_dict(self) -> dict[str, Any]:
        """Return the state.

        Returns
        -------
        dict
            ``method``, ``params``, ``shape``, ``seed``, ``draws`` (the carried
            context's draw count) and ``tensors`` (name -> float32 array).
        """
    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state from :meth:`state_dict`; on an error nothing changes."""
    def __reduce__(self) -> tuple[Any, ...]: ...
    def __setstate__(self, state: dict[str, Any]) -> None: ...

class Batches:
    """The lab's training and held-out windows of a corpus.

    Parameters
    ----------
    preset : str
        The model preset (its vocabulary bounds the token ids).
    seed : int
        The run's seed: a batch depends only on (seed, step, B, T).
    corpus : path, optional
        Text, JSON lines (a ``"text"`` field), gzipped or not, or u16 tokens;
        default: the lab's shipped corpus (data/corpus/python-docs.txt.gz).
    tokenizer : path, optional
        A Hugging Face ``tokenizer.json``; default: bytes.
    """

    def __init__(
        self,
        preset: str = "small",
        seed: int = 0,
        corpus: str | PathLike[str] | None = None,
        tokenizer: str | PathLike[str] | None = None,
    ) -> None: ...
    def train_batch(
        self, step: int, b: int, t: int
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Return the training batch of ``step``: (tokens, targets), each (B, T) int64.

        Targets are the tokens shifted by one, as crates/llama's data gives them.
        """
    def eval_batch(
        self, index: int, b: int, t: int
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Return held-out batch ``index``: (tokens, targets), each (B, T) int64."""
    @property
    def train_tokens(self) -> int: ...
    @property
    def held_out_tokens(self) -> int: ...
    @property
    def preset(self) -> str: ...
    @property
    def seed(self) -> int: ...
    @property
    def corpus(self) -> str: ...
