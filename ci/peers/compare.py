"""Prints the peer comparison as markdown: DIR/python.csv against DIR/rust.csv.

    python ci/peers/compare.py DIR

Ratios are ours / peer median time (below 1: we are faster). err_fro is
||A - QQ^T A||_F / ||A - A_128||_F on both sides (138-column bases included).
Uses only the standard library.
"""

import csv
import json
import os
import re
import sys


def read(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def key_q(params):
    m = re.search(r"(?:n_iter|q)=(\d+)", params)
    return int(m.group(1)) if m else None


def key_norm(params):
    m = re.search(r"norm=(\w+)", params)
    return m.group(1).lower() if m else None


def find(rows, m, n, method, q=None, norm=None):
    for r in rows:
        if (int(r["m"]), int(r["n"]), r["method"]) != (m, n, method):
            continue
        if q is not None and key_q(r["params"]) != q:
            continue
        if norm is not None and key_norm(r["params"]) != norm:
            continue
        return r
    return None


def fmt(x, spec):
    return format(float(x), spec) if x not in (None, "") else "–"


def main():
    d = sys.argv[1]
    py = read(os.path.join(d, "python.csv"))
    rs = read(os.path.join(d, "rust.csv"))
    shapes = sorted({(int(r["m"]), int(r["n"])) for r in rs}, key=lambda s: s[0] * s[1])

    # (ours method, peer method, q, norm, target ratio or None, err cap or None, note)
    pairs = []
    for q in (0, 1, 2):
        pairs.append(("rrf_inside", "sklearn_rrf", q, "qr", 0.6, None, "same work: l=138 range basis"))
    for q in (1, 2):
        for norm in ("lu", "none"):
            pairs.append(("rrf_inside", "sklearn_rrf", q, norm, None, None, "extra row"))
    for q in (0, 1, 2):
        pairs.append(("rrf_svd", "sklearn_rsvd", q, "qr", None, None, "same work: + B, SVD(B), k=128"))
    for q in (0, 1, 2):
        pairs.append(("rrf_svd", "sklearn_rrf", q, "qr", None, None, "ours does more (B, SVD(B))"))
    pairs.append(("svd", "scipy_svd", None, None, 1.0, None, "full thin SVD (gesdd)"))
    pairs.append(("lanczos", "svds_propack", None, None, 1.0, 1.001, "k=128"))
    pairs.append(("lanczos", "svds_arpack", None, None, None, None, "k=128"))

    print("| shape | ours | peer | q | norm | ours ms | peer ms | ours/peer | ours CPU ms "
          "| peer CPU ms | ours/peer (CPU) | ours err_fro | peer err_fro | target | met (wall / CPU) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for m, n in shapes:
        for ours, peer, q, norm, target, cap, note in pairs:
            a = find(rs, m, n, ours, q, norm)
            b = find(py, m, n, peer, q, None if norm is None else norm)
            if a is None or b is None:
                continue
            ratio = float(a["time_ms"]) / float(b["time_ms"])
            cratio = float(a["cpu_ms"]) / float(b["cpu_ms"])
            met = "–"
            tgt = "–"
            if target is not None:
                tgt = f"≤ {target}×"
                err_ok = True
                if cap is not None:
                    err_ok = float(a["err_fro"]) <= cap
                    tgt += f", err ≤ {cap}"
                met = " / ".join("yes" if r <= target and err_ok else "**no**"
                                 for r in (ratio, cratio))
            print(f"| {m}×{n} | {ours} | {peer} | {q if q is not None else '–'} "
                  f"| {norm or '–'} | {fmt(a['time_ms'], '.2f')} | {fmt(b['time_ms'], '.2f')} "
                  f"| {ratio:.2f} | {fmt(a['cpu_ms'], '.2f')} | {fmt(b['cpu_ms'], '.2f')} "
                  f"| {cratio:.2f} | {fmt(a['err_fro'], '.4f')} | {fmt(b['err_fro'], '.4f')} "
                  f"| {tgt} | {met} |")

    print()
    print("GEMM rates, one thread (m×n @ n×138), and rrf's own flop rate against faer's:")
    print()
    print("| shape | faer GEMM GFLOP/s | kernels::gemm GFLOP/s | numpy GEMM GFLOP/s "
          "| rrf_inside q=0/1/2 GFLOP/s | frac of faer GEMM | rrf_svd q=0/1/2 GFLOP/s "
          "| frac of faer GEMM | CPU-time frac, min | target ≥ 0.5 met (wall / CPU) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for m, n in shapes:
        fg = find(rs, m, n, "stage_faer_gemm_AO")
        kg = find(rs, m, n, "stage_gemm_AO")
        ng = find(py, m, n, "numpy_gemm")
        ins = [find(rs, m, n, "rrf_inside", q, "qr") for q in (0, 1, 2)]
        sv = [find(rs, m, n, "rrf_svd", q, "qr") for q in (0, 1, 2)]
        fr = [float(r["frac_gemm"]) for r in ins + sv if r]
        # The same fraction from CPU times (robust to other load).
        def cfrac(r):
            return (float(r["flops"]) / float(r["cpu_ms"])) / (
                2.0 * m * n * 138 / float(fg["cpu_ms"]))
        cfr = [cfrac(r) for r in ins + sv if r]
        print(f"| {m}×{n} | {fmt(fg and fg['gflops'], '.1f')} | {fmt(kg and kg['gflops'], '.1f')} "
              f"| {fmt(ng and ng['gflops'], '.1f')} "
              f"| {' / '.join(fmt(r['gflops'], '.1f') for r in ins if r)} "
              f"| {' / '.join(fmt(r['frac_gemm'], '.2f') for r in ins if r)} "
              f"| {' / '.join(fmt(r['gflops'], '.1f') for r in sv if r)} "
              f"| {' / '.join(fmt(r['frac_gemm'], '.2f') for r in sv if r)} "
              f"| {min(cfr):.2f} "
              f"| {'yes' if fr and min(fr) >= 0.5 else '**no**'} / "
              f"{'yes' if cfr and min(cfr) >= 0.5 else '**no**'} |")

    print()
    print("Where rrf's time goes (stages timed one by one, one thread, l = 138), "
          "and what the peer's RNG costs:")
    print()
    names = ["validate", "gaussian", "gemm_AO", "gemm_AtY", "qr_m", "qr_n", "lu_m", "gemm_B",
             "svd_B", "svd_B_via_qr", "gemm_QU"]
    peer = ["numpy_randn", "peer_qr_m", "peer_svd_B"]
    print("| shape | " + " | ".join(names) + " | peer: RandomState.normal | peer: QR of Y "
          "| peer: SVD of B |")
    print("|---|" + "---|" * (len(names) + len(peer)))
    for m, n in shapes:
        cells = []
        for s in names:
            r = find(rs, m, n, f"stage_{s}")
            cells.append(fmt(r and r["time_ms"], ".3f"))
        for s in peer:
            r = find(py, m, n, s)
            cells.append(fmt(r and r["time_ms"], ".3f"))
        print(f"| {m}×{n} | " + " | ".join(cells) + " |")
    print()
    print("(ms, median)")

    for side in ("python_env.json", "rust_env.json"):
        p = os.path.join(d, side)
        if os.path.exists(p):
            with open(p) as f:
                env = json.load(f)
            print()
            print(f"{side}: " + json.dumps(env))


if __name__ == "__main__":
    main()
