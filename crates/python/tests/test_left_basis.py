"""left_basis gives the bits of the lab's call, for every CPU plugin and variant.

Two oracles, both the lab binary: ``lab try --input A.npy --save-basis Q.npy``
(the suite row's call: the registry's method, ``Context::new(seed)`` with the
row's parallelism) for Q's bits, and ``lab run`` on a ``files`` suite, whose
``results.csv`` figures must equal the figures of Python's Q (computed by the
same Rust metrics) to float64 roundoff: a basis one float32 ulp away moves
``ortho`` and ``sin_theta`` by about 1e-9, a million times the tolerance.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import galore_lab
from conftest import read_csv, run_lab, spectrum_matrix


def cpu_variants() -> list[tuple[str, dict]]:
    """Every available CPU plugin with every param variant its conformance kit runs."""
    return [
        (m["name"], v)
        for m in galore_lab.methods()
        if m["device"] == "cpu" and m["available"]
        for v in m["variants"]
    ]


def toml_inline(params: dict) -> str:
    """Params as `lab try --params` text (TOML values; JSON's strings and numbers are TOML's)."""
    return ", ".join(f"{k} = {json.dumps(v)}" for k, v in sorted(params.items()))


def test_methods_are_lab_lists(lab_bin: Path) -> None:
    listed = [
        line.split()[0]
        for line in run_lab(lab_bin, "list").splitlines()
        if line and not line.startswith(" ")
    ]
    ms = galore_lab.methods()
    assert [m["name"] for m in ms] == listed
    for m in ms:
        assert m["summary"]
        assert m["device"] in ("cpu", "cuda:0")
        assert m["available"] == (m["unavailable_reason"] is None)
        assert m["variants"][0] == {}, "the defaults come first"
        for p in m["params"]:
            assert p["doc"], f"{m['name']}.{p['name']} is documented"
    rrf = next(m for m in ms if m["name"] == "rrf")
    assert {p["name"]: p["default"] for p in rrf["params"]}["power_iters"] == 1


@pytest.mark.parametrize(("method", "params"), cpu_variants())
def test_bits_equal_lab_try(lab_bin: Path, tmp_path: Path, method: str, params: dict) -> None:
    for m, n, k, seed in [(64, 96, 5, 0), (96, 64, 7, 11)]:
        a = spectrum_matrix(m, n, seed=seed + 1)
        np.save(tmp_path / "a.npy", a)
        run_lab(
            lab_bin, "try", method, "--params", toml_inline(params), "-k", k,
            "--seed", seed, "--input", tmp_path / "a.npy", "--save-basis", tmp_path / "q.npy",
        )  # fmt: skip
        expected = np.load(tmp_path / "q.npy")
        for layout in (a, np.asfortranarray(a)):
            for threads in (1, 2):
                q, info = galore_lab.left_basis(layout, k, method, params, seed, threads)
                assert q.dtype == np.float32
                assert q.shape == (m, k)
                assert np.array_equal(q, expected), (
                    f"{method} {params} {m}x{n} k={k} seed={seed} threads={threads} "
                    f"{'C' if layout.flags.c_contiguous else 'F'}: "
                    f"{np.count_nonzero(q != expected)} entries differ"
                )
                assert info["method"] == method
                assert info["seconds"] > 0


def test_strided_views_and_torch_tensors_give_the_same_bits(torch_mod) -> None:
    torch = torch_mod
    big = spectrum_matrix(130, 200, seed=3)
    a = big[::2, 1::2]  # a strided view, not copied
    assert not a.flags.c_contiguous
    assert not a.flags.f_contiguous
    q, _ = galore_lab.left_basis(np.ascontiguousarray(a), 9, "rrf", seed=4)
    assert np.array_equal(galore_lab.left_basis(a, 9, "rrf", seed=4)[0], q)
    t = torch.from_numpy(big)[::2, 1::2]
    assert np.array_equal(galore_lab.left_basis(t, 9, "rrf", seed=4)[0], q)
    assert np.array_equal(galore_lab.left_basis(t.T.contiguous().T, 9, "rrf", seed=4)[0], q)
    w = torch.nn.Parameter(torch.from_numpy(np.ascontiguousarray(a)))
    assert np.array_equal(galore_lab.left_basis(w, 9, "rrf", seed=4)[0], q), "requires_grad"


def test_rows_of_lab_run_have_the_figures_of_pythons_basis(lab_bin: Path, tmp_path: Path) -> None:
    wide = spectrum_matrix(48, 80, seed=5)
    tall = spectrum_matrix(80, 48, seed=6, decay=0.5)
    np.save(tmp_path / "wide.npy", wide)
    np.save(tmp_path / "tall.npy", tall)
    variants = {f"{name}-{i}": (name, params) for i, (name, params) in enumerate(cpu_variants())}
    methods = "".join(
        f'\n[[method]]\nplugin = "{name}"\nlabel = "{label}"\n'
        f"params = {{ {toml_inline(params)} }}\n"
        for label, (name, params) in variants.items()
    )
    suite = tmp_path / "bits.toml"
    suite.write_text(
        'seed = 13\nthreads = [1, 2]\nwarmup = 0\nrepeats = 1\nranks = [4, 9]\nside = "short"\n'
        f'\n[[matrix]]\nsource = "files"\npath = "{tmp_path}/*.npy"\n{methods}'
    )
    run_lab(lab_bin, "run", suite, "--out", tmp_path / "reports")
    (results,) = (tmp_path / "reports").glob("*/*/results.csv")
    rows = read_csv(results)
    assert len(rows) == 2 * len(cpu_variants()) * 2 * 2
    by_name = {"wide": wide, "tall": tall}
    for row in rows:
        assert row["status"] == "ok", row
        a = by_name[row["matrix"]]
        a_in = a.T if row["side"] == "right" else a
        assert row["side"] == ("right" if a.shape[0] > a.shape[1] else "left")
        plugin, variant = variants[row["method"]]
        assert row["plugin"] == plugin
        q, _ = galore_lab.left_basis(
            a_in, int(row["rank"]), plugin, variant, seed=13, threads=int(row["threads"])
        )
        figures = galore_lab.accuracy(a_in, q)
        for key, value in figures.items():
            assert float(row[key]) == pytest.approx(value, rel=1e-10, abs=1e-14), (
                f"{row['plugin']} {row['params']} {row['matrix']} k={row['rank']}: {key} "
                f"{row[key]} in results.csv, {value!r} from galore_lab"
            )
