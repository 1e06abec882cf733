"""Tracker: the harness's trajectory pass, its state round-tripping bit for bit."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import galore_lab
from conftest import spectrum_matrix


def turning(m: int, n: int, steps: int, seed: int) -> list[np.ndarray]:
    """A slowly turning matrix: A_t = A_0 + t·0.05·E, E Gaussian."""
    rng = np.random.default_rng(seed)
    a0 = spectrum_matrix(m, n, seed)
    e = rng.standard_normal((m, n)).astype(np.float32) * np.float32(0.05 / np.sqrt(m * n))
    return [a0 + np.float32(t) * e for t in range(steps)]


def trackers() -> list[tuple[str, dict]]:
    return [
        (m["name"], v)
        for m in galore_lab.methods()
        if m["device"] == "cpu" and m["available"]
        for v in m["variants"]
    ]


@pytest.mark.parametrize(("method", "params"), trackers())
def test_state_round_trips_bit_for_bit(method: str, params: dict) -> None:
    mats = turning(40, 70, 6, seed=2)
    whole = galore_lab.Tracker(method, 40, 70, 6, params, seed=9)
    first = [whole.update(a) for a in mats]

    part = galore_lab.Tracker(method, 40, 70, 6, params, seed=9)
    for a in mats[:3]:
        part.update(a)
    state = part.state_dict()
    assert state["method"] == method
    assert state["shape"] == (40, 70, 6)
    assert all(t.dtype == np.float32 for t in state["tensors"].values())
    assert part.state_bytes == sum(t.nbytes for t in state["tensors"].values())

    fresh = galore_lab.Tracker(method, 40, 70, 6, params, seed=9)
    fresh.load_state_dict(state)
    assert np.array_equal(fresh.basis, part.basis)
    resumed = [pickle.loads(pickle.dumps(part)), copy.deepcopy(part), fresh]
    for t in resumed:
        for i, a in enumerate(mats[3:], start=3):
            assert np.array_equal(t.update(a), first[i]), f"{method} {params} update {i}"
    reloaded = fresh.state_dict()
    assert reloaded["draws"] == whole.state_dict()["draws"]
    for name, x in whole.state_dict()["tensors"].items():
        assert np.array_equal(reloaded["tensors"][name], x), name


def test_a_tracker_is_the_harness_trajectory_pass() -> None:
    # One context across the updates: the first update is the one-shot call.
    mats = turning(30, 50, 3, seed=4)
    t = galore_lab.Tracker("rrf", 30, 50, 4, {"warm_start": True, "power_iters": 0}, seed=5)
    q0 = t.update(mats[0])
    assert np.array_equal(q0, galore_lab.left_basis(mats[0], 4, "rrf", {"power_iters": 0}, 5)[0])
    assert t.state_dict()["draws"] == 1
    q1 = t.update(mats[1])
    assert t.state_dict()["draws"] == 2
    assert not np.array_equal(q1, q0)
    # A seeded update uses a fresh context and leaves the carried draws alone.
    t.update(mats[2], seed=77)
    assert t.state_dict()["draws"] == 2


def test_a_state_that_does_not_fit_is_refused_and_changes_nothing() -> None:
    a = spectrum_matrix(20, 30, seed=1)
    t = galore_lab.Tracker("svd", 20, 30, 3)
    t.update(a)
    before = t.state_dict()
    other = galore_lab.Tracker("svd", 20, 30, 4)
    other.update(a)
    with pytest.raises(
        galore_lab.LabError, match=r"shape \(20, 30, 4\).*Tracker\(\"svd\", 20, 30, 4\)"
    ):
        t.load_state_dict(other.state_dict())
    rrf = galore_lab.Tracker("rrf", 20, 30, 3)
    with pytest.raises(galore_lab.LabError, match="rrf tracker"):
        t.load_state_dict(rrf.state_dict())
    bad = t.state_dict()
    bad["tensors"]["basis"] = np.full((20, 3), np.nan, dtype=np.float32)
    with pytest.raises(galore_lab.LabError, match="not finite"):
        t.load_state_dict(bad)
    bad["tensors"]["basis"] = np.zeros((20, 3))
    with pytest.raises(TypeError, match="float32"):
        t.load_state_dict(bad)
    bad["tensors"] = {"moments": np.zeros((20, 3), dtype=np.float32)}
    with pytest.raises(galore_lab.LabError, match='"basis"'):
        t.load_state_dict(bad)
    assert np.array_equal(t.state_dict()["tensors"]["basis"], before["tensors"]["basis"])
    with pytest.raises(galore_lab.LabError, match="follows a 20×30 matrix but was given 30×20"):
        t.update(a.T)
    with pytest.raises(galore_lab.LabError, match="exceeds min"):
        galore_lab.Tracker("svd", 20, 30, 21)
