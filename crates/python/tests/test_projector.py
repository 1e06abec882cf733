"""LabProjector inside galore-torch's GaLoreAdamW and APOLLO's projector hook.

The bound of the svd comparison: with T larger than the run, both runs refresh
once, at step 0, and then apply the same optimizer to the same batches, so they
differ only by the step-0 bases: galore-torch's float32 SVD against the lab's
svd plugin (float64, rounded). Column signs cancel while a basis is kept. What
is left is the float32 SVD's error in each singular vector, which Wedin's
theorem bounds by ε₃₂·σ₁/δ_j (δ_j: σ_j's distance to its neighbours), so the
weights may differ by about the largest such figure over the projected
matrices and j ≤ r, relative to how far they moved: that is the test's bound,
computed from the step-0 gradients (8.0e-5 here; measured 7.6e-6).
"""

from __future__ import annotations

import io
import warnings
from typing import Any

import numpy as np
import pytest

import galore_lab
from conftest import need

B, T, STEPS, RANK = 4, 32, 10, 8


@pytest.fixture(scope="module")
def galore_torch(transformers_mod) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return need("galore_torch", "pip install galore-torch==1.0")


def model_and_groups(gap: int) -> tuple[Any, list[dict[str, Any]]]:
    from galore_lab.record import galore_matrices
    from galore_lab.torch import llama_model

    model = llama_model("tiny", 0)
    params = dict(model.named_parameters())
    projected = set(galore_matrices((n, p.shape) for n, p in params.items()))
    groups = [
        {"params": [p for n, p in params.items() if n not in projected]},
        {
            "params": [p for n, p in params.items() if n in projected],
            "rank": RANK,
            "update_proj_gap": gap,
            "scale": 0.25,
            "proj_type": "std",
        },
    ]
    return model, groups


def train(model: Any, opt: Any, steps: range) -> list[float]:
    from galore_lab.torch import lab_loss

    batches = galore_lab.Batches("tiny", seed=0)
    losses = []
    for s in steps:
        opt.zero_grad()
        loss = lab_loss(model, *batches.train_batch(s, B, T))
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def galore_run(galore_torch: Any, method: str | None, gap: int, **kw: Any) -> tuple[Any, Any]:
    from galore_lab.torch import use_lab_projectors

    model, groups = model_and_groups(gap)
    opt = galore_torch.GaLoreAdamW(groups, lr=1e-2, weight_decay=0.1, no_deprecation_warning=True)
    if method is not None:
        use_lab_projectors(opt, method, **kw)
    return model, opt


def wedin_bound(torch: Any) -> float:
    """Max over projected matrices and j ≤ r of ε₃₂·σ₁/δ_j at step 0."""
    from galore_lab.record import galore_matrices
    from galore_lab.torch import lab_loss

    model, _ = model_and_groups(1)
    lab_loss(model, *galore_lab.Batches("tiny", seed=0).train_batch(0, B, T)).backward()
    worst = 0.0
    for name, p in model.named_parameters():
        if galore_matrices([(name, p.shape)]):
            s = np.linalg.svd(p.grad.double().numpy(), compute_uv=False)
            gaps = [min(s[j - 1] - s[j] if j else np.inf, s[j] - s[j + 1]) for j in range(RANK)]
            worst = max(worst, np.finfo(np.float32).eps * s[0] / min(gaps))
    return worst


def test_svd_gives_galore_torchs_weights_to_float32_roundoff(galore_torch, torch_mod) -> None:
    torch = torch_mod
    w0 = {k: torch.from_numpy(v) for k, v in galore_lab.init_weights("tiny", 0).items()}
    own, own_opt = galore_run(galore_torch, None, gap=1000)
    lab, lab_opt = galore_run(galore_torch, "svd", gap=1000)
    own_losses = train(own, own_opt, range(STEPS))
    lab_losses = train(lab, lab_opt, range(STEPS))
    assert own_losses[0] == lab_losses[0]
    bound = wedin_bound(torch)
    assert 1e-6 < bound < 1e-3
    w_own, w_lab = dict(own.named_parameters()), dict(lab.named_parameters())
    for name, w in w_own.items():
        moved = (w - w0[name]).norm().item()
        diff = (w - w_lab[name]).norm().item()
        assert diff <= bound * moved, f"{name}: {diff / moved:.2e} > {bound:.2e}"
    projectors = [lab_opt.state[p]["projector"] for p in lab_opt.param_groups[1]["params"]]
    assert all(p.refreshes == 1 for p in projectors), "T > the run: one refresh, at step 0"


def test_rrf_at_t1_runs_and_the_loss_falls(galore_torch) -> None:
    model, opt = galore_run(galore_torch, "rrf", gap=1, params={"power_iters": 1})
    losses = train(model, opt, range(STEPS))
    assert np.isfinite(losses).all()
    assert losses[-1] < losses[0] - 1.0, losses
    projector = opt.state[opt.param_groups[1]["params"][0]]["projector"]
    assert projector.refreshes == STEPS
    assert projector.ortho_matrix.shape[0] == RANK


def test_projector_state_survives_the_optimizers_state_dict(galore_torch, torch_mod) -> None:
    torch = torch_mod
    kw = {"params": {"warm_start": True, "power_iters": 0}, "align": True, "seed": 5}
    whole, whole_opt = galore_run(galore_torch, "rrf", gap=2, **kw)
    expected = train(whole, whole_opt, range(6))

    first, first_opt = galore_run(galore_torch, "rrf", gap=2, **kw)
    train(first, first_opt, range(3))
    buffer = io.BytesIO()
    torch.save({"model": first.state_dict(), "opt": first_opt.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=False)
    second, second_opt = galore_run(galore_torch, None, gap=2)
    second.load_state_dict(saved["model"])
    second_opt.load_state_dict(saved["opt"])
    p0 = second_opt.param_groups[1]["params"][0]
    assert type(second_opt.state[p0]["projector"]).__name__ == "LabProjector"
    assert train(second, second_opt, range(3, 6)) == expected[3:]
    for (name, w), v in zip(whole.named_parameters(), second.parameters(), strict=True):
        assert torch.equal(w, v), name


def test_apollo_builds_lab_projectors_through_its_hook(transformers_mod) -> None:
    need("apollo_torch", "pip install apollo-torch==1.0.3")
    from galore_lab.torch import LabProjector, lab_apollo_adamw

    model, groups = model_and_groups(gap=5)
    groups[1].update({"proj": "random", "scale_type": "channel"})
    opt = lab_apollo_adamw(groups, "subspace-iteration", lr=1e-2)
    losses = train(model, opt, range(STEPS))
    assert losses[-1] < losses[0] - 1.0, losses
    projectors = [opt.state[p]["projector"] for p in opt.param_groups[1]["params"]]
    assert all(isinstance(p, LabProjector) and p.refreshes == 2 for p in projectors)
    assert len({p.index for p in projectors}) == len(projectors), "APOLLO's per-parameter seeds"
