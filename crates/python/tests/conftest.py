"""Shared fixtures: the repository, the lab binary, optional packages, test matrices.

A test that cannot run here (no ``lab`` binary, no torch, no galore-torch) is
skipped with the command that fixes it; with ``GALORE_REQUIRE_PYTHON_TESTS=1``
(as ``.ci/run`` sets it) such a skip is a failure instead, as
``GALORE_REQUIRE_CHROMIUM`` makes a skipped Chromium test one.
"""

from __future__ import annotations

import csv
import importlib
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[3]

# Nothing is downloaded at run time (bitsandbytes, imported by the peers,
# asks the Hugging Face hub for kernels unless it is offline).
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def require(condition: bool, why: str) -> None:
    """Skip (or, under GALORE_REQUIRE_PYTHON_TESTS=1, fail) unless ``condition``."""
    if condition:
        return
    if os.environ.get("GALORE_REQUIRE_PYTHON_TESTS") == "1":
        pytest.fail(f"{why} (GALORE_REQUIRE_PYTHON_TESTS=1 makes this skip an error)")
    pytest.skip(why)


def need(module: str, install: str) -> ModuleType:
    """Import ``module`` or skip/fail naming the command that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        require(False, f"{module} is not installed ({e}): {install}")
        raise


_SKIPPED: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Note every skipped test (a backstop for skips that bypass ``require``)."""
    if report.skipped:
        _SKIPPED.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under GALORE_REQUIRE_PYTHON_TESTS=1, a session that skipped a test fails."""
    if _SKIPPED and os.environ.get("GALORE_REQUIRE_PYTHON_TESTS") == "1":
        print(f"\n{len(_SKIPPED)} test(s) skipped under GALORE_REQUIRE_PYTHON_TESTS=1:")
        for nodeid in _SKIPPED:
            print(f"  {nodeid}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def lab_bin() -> Path:
    """The lab binary: $GALORE_LAB, else target/release/lab."""
    path = Path(os.environ.get("GALORE_LAB", REPO / "target" / "release" / "lab"))
    require(path.is_file(), f"no lab binary at {path}: cargo build --release -p lab")
    return path


def run_lab(lab: Path, *args: Any, cwd: Path | None = None) -> str:
    """Run the lab binary, its torch engine on this interpreter; fail with its output."""
    p = subprocess.run(
        [str(lab), *map(str, args)],
        env={**os.environ, "GALORE_PYTHON": sys.executable},
        cwd=cwd or REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert p.returncode == 0, f"lab {' '.join(map(str, args))} failed:\n{p.stdout}\n{p.stderr}"
    return p.stdout


def read_csv(path: Path) -> list[dict[str, str]]:
    """The rows of a CSV file."""
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def spectrum_matrix(m: int, n: int, seed: int, decay: float = 1.0) -> np.ndarray:
    """A float32 m×n matrix U diag(j^-decay) Vᵀ with Haar U, V (float64, rounded)."""
    rng = np.random.default_rng(seed)
    r = min(m, n)
    u, _ = np.linalg.qr(rng.standard_normal((m, r)))
    v, _ = np.linalg.qr(rng.standard_normal((n, r)))
    s = np.arange(1, r + 1, dtype=np.float64) ** -decay
    return ((u * s) @ v.T).astype(np.float32)


@pytest.fixture(scope="session")
def torch_mod() -> ModuleType:
    """torch, or a skip naming how to install it."""
    return need("torch", "pip install torch")


@pytest.fixture(scope="session")
def transformers_mod(torch_mod: ModuleType) -> ModuleType:
    """transformers, or a skip naming how to install it."""
    del torch_mod
    return need("transformers", "pip install transformers")
