"""Every bad input raises a Python exception carrying the lab's message."""

from __future__ import annotations

import numpy as np
import pytest

import galore_lab

A = np.random.default_rng(0).standard_normal((12, 20)).astype(np.float32)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: galore_lab.left_basis(A.astype(np.float64), 3), TypeError, "dtype float64"),
        (lambda: galore_lab.left_basis(A.astype(">f4"), 3), TypeError, "dtype >f4"),
        (lambda: galore_lab.left_basis([[1.0, 2.0]], 1), TypeError, "numpy array"),
        (lambda: galore_lab.left_basis(A[0], 3), galore_lab.LabError, "must be 2-D"),
        (lambda: galore_lab.left_basis(A[None], 3), galore_lab.LabError, "3-D array"),
        (lambda: galore_lab.left_basis(A, 13), galore_lab.LabError,
         r"rank k = 13 exceeds min\(m, n\) = 12 for a 12×20 matrix; choose k ≤ 12"),
        (lambda: galore_lab.left_basis(A, 0), galore_lab.LabError, "rank k = 0"),
        (lambda: galore_lab.left_basis(A[:0], 1), galore_lab.LabError, "empty matrix"),
        (lambda: galore_lab.left_basis(A, 3, method="qr"), galore_lab.LabError,
         "unknown plugin `qr`; registered plugins: svd"),
        (lambda: galore_lab.left_basis(A, 3, params={"power_iter": 1}), galore_lab.LabError,
         "unknown field `power_iter`, expected one of `oversample`, `power_iters`"),
        (lambda: galore_lab.left_basis(A, 3, params={"power_iters": "two"}), galore_lab.LabError,
         "invalid params for plugin `rrf`"),
        (lambda: galore_lab.left_basis(A, 3, params={"power_iters": None}), TypeError,
         "params\\[\"power_iters\"\\]: a NoneType is not a param value"),
        (lambda: galore_lab.left_basis(A, 3, threads=10_000), galore_lab.LabError,
         "threads = 10000: use 1 ≤ threads ≤"),
        (lambda: galore_lab.Tracker("nope", 3, 3, 1), galore_lab.LabError, "unknown plugin"),
        (lambda: galore_lab.Batches("huge"), galore_lab.LabError, "unknown preset \"huge\""),
        (lambda: galore_lab.Batches("tiny").train_batch(0, 2, 10**8), galore_lab.LabError,
         "too few for seq_len = 100000000"),
        (lambda: galore_lab.Batches("tiny", corpus="/nonexistent.txt"), galore_lab.LabError,
         "/nonexistent.txt"),
        (lambda: galore_lab.align(A[:, :3], A[:, :4]), galore_lab.LabError, "align bases of one"),
    ],
)  # fmt: skip
def test_bad_input_raises_with_the_labs_message(call, error, message) -> None:
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_entries_are_named(value: float) -> None:
    a = A.copy()
    a[4, 7] = value
    for method in ("svd", "rrf", "lanczos"):
        with pytest.raises(galore_lab.LabError, match=r"A\[4, 7\] = .* is not finite"):
            galore_lab.left_basis(a, 3, method=method)
    t = galore_lab.Tracker("rrf", 12, 20, 3)
    with pytest.raises(galore_lab.LabError, match="not finite"):
        t.update(a)
    assert t.basis is None, "a failed update changes nothing"


def test_lab_error_is_a_value_error() -> None:
    assert issubclass(galore_lab.LabError, ValueError)


def test_torch_tensors_of_another_dtype_or_device_are_refused(torch_mod) -> None:
    torch = torch_mod
    t = torch.from_numpy(A)
    with pytest.raises(TypeError, match=r"dtype torch\.bfloat16.*a\.float\(\)"):
        galore_lab.left_basis(t.bfloat16(), 3)
    with pytest.raises(TypeError, match=r"dtype torch\.float64"):
        galore_lab.left_basis(t.double(), 3)
    with pytest.raises(ValueError, match="is on meta; the lab reads host memory"):
        galore_lab.left_basis(torch.empty(12, 20, device="meta"), 3)
