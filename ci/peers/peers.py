"""Python side of the peer comparison (numpy / scipy / scikit-learn, 1 thread).

    python ci/peers/peers.py DIR [--repeats 7] [--large]

1. Writes the test matrices into DIR as A_{m}x{n}.npy (f32, C order) unless
   they are there already: A = U diag(sigma) V^T with Haar U, V (seeded),
   sigma_j = j^-1 for j = 1..min(m, n), built in float64, rounded to f32.
   Shapes: the GaLore 60M ones (512x512, 1376x512, 512x1376) and, with
   --large, 2048x2048.
2. Times each peer at one thread (threadpoolctl, and the *_NUM_THREADS
   variables set by run.sh before Python starts): median of --repeats calls
   after one warm-up call (3 repeats when the warm-up took over 1 s; the Rust
   side uses the same rule).
3. Computes err_fro = ||A - Q Q^T A||_F / ||A - A_k||_F in float64, k = 128,
   for every method's Q (also for the 138-column range-finder bases).
4. Writes DIR/python.csv and DIR/python_env.json (versions, BLAS kernels,
   load before and after).

Run it through ci/peers/run.sh, which makes the virtualenv and the thread
settings.
"""

import argparse
import csv
import json
import os
import platform
import statistics
import sys
import time

import numpy as np
import scipy
import scipy.linalg
import scipy.sparse.linalg
import sklearn
from sklearn.utils.extmath import randomized_range_finder, randomized_svd
from threadpoolctl import threadpool_info, threadpool_limits

K = 128
P = 10
SEED = 20240601
SHAPES = [(512, 512), (1376, 512), (512, 1376)]
LARGE = [(2048, 2048)]


def loadavg():
    with open("/proc/loadavg") as f:
        return f.read().strip()


def cpu_ticks():
    """(machine busy CPU seconds, this process's CPU seconds, wall seconds)."""
    with open("/proc/stat") as f:
        fields = [float(x) for x in f.readline().split()[1:]]
    busy = (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")
    t = os.times()
    return busy, t.user + t.system, time.monotonic()


def haar(rng, m, r):
    g = rng.standard_normal((m, r))
    q, rr = np.linalg.qr(g)
    return q * np.sign(np.diag(rr))


def make_matrix(m, n, seed):
    rng = np.random.default_rng(seed)
    r = min(m, n)
    sigma = 1.0 / np.arange(1, r + 1, dtype=np.float64)
    u = haar(rng, m, r)
    v = haar(rng, n, r)
    return np.ascontiguousarray(((u * sigma) @ v.T).astype(np.float32))


CPU = {"last": float("nan")}


def timed(fn, repeats):
    """Median and min wall seconds of `repeats` calls after one warm-up call;
    the median thread CPU seconds (time.thread_time: leaves out the time other
    processes held the core; BLAS runs in this thread at one thread) go to
    CPU["last"]."""
    t0 = time.perf_counter()
    out = fn()
    warm = time.perf_counter() - t0
    if warm > 1.0:
        repeats = min(repeats, 3)
    times, cpu = [], []
    for _ in range(repeats):
        c0 = time.thread_time()
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.thread_time() - c0)
    CPU["last"] = statistics.median(cpu)
    return out, statistics.median(times), min(times), repeats


def err_fro(a64, tail, q):
    q = np.asarray(q, dtype=np.float64)
    r = a64 - q @ (q.T @ a64)
    return float(np.linalg.norm(r) / tail)


def methods(a):
    """(name, params, fn returning an m x cols basis)."""
    out = []
    for q in (0, 1, 2):
        norms = ["QR"] if q == 0 else ["QR", "LU", "none"]
        for norm in norms:
            out.append(
                (
                    "sklearn_rrf",
                    f"size={K + P} n_iter={q} norm={norm}",
                    lambda q=q, norm=norm: randomized_range_finder(
                        a,
                        size=K + P,
                        n_iter=q,
                        power_iteration_normalizer=norm,
                        random_state=0,
                    ),
                )
            )
    for q in (0, 1, 2):
        # Like for like with our truncate="svd": range finder, B = Q^T A,
        # SVD of B, U = Q Uhat[:, :k]. transpose=False keeps the left side;
        # flip_sign=False skips sign fixing, which we do not do either.
        out.append(
            (
                "sklearn_rsvd",
                f"k={K} p={P} n_iter={q} norm=QR",
                lambda q=q: randomized_svd(
                    a,
                    K,
                    n_oversamples=P,
                    n_iter=q,
                    power_iteration_normalizer="QR",
                    transpose=False,
                    flip_sign=False,
                    random_state=0,
                )[0],
            )
        )
    out.append(
        (
            "scipy_svd",
            "gesdd full_matrices=False",
            lambda: scipy.linalg.svd(a, full_matrices=False, lapack_driver="gesdd")[0][:, :K],
        )
    )
    for solver in ("propack", "arpack"):
        out.append(
            (
                f"svds_{solver}",
                f"k={K}",
                lambda solver=solver: scipy.sparse.linalg.svds(
                    a, k=K, solver=solver, rng=0
                )[0],
            )
        )
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--large", action="store_true", help="also 2048x2048")
    ap.add_argument("--only", default="", help="comma-separated method names to run")
    args = ap.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    shapes = SHAPES + (LARGE if args.large else [])
    only = [s for s in args.only.split(",") if s]

    env = {
        "load_before": loadavg(),
        "cpu_before": cpu_ticks(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "sklearn": sklearn.__version__,
        "platform": platform.platform(),
        "env": {
            v: os.environ.get(v)
            for v in (
                "OMP_NUM_THREADS",
                "OPENBLAS_NUM_THREADS",
                "MKL_NUM_THREADS",
                "OPENBLAS_CORETYPE",
                "OPENBLAS_L2_SIZE",
            )
        },
    }

    rows = []
    with threadpool_limits(1):
        env["threadpools"] = [
            {k: d.get(k) for k in ("internal_api", "prefix", "version", "architecture", "num_threads")}
            for d in threadpool_info()
        ]
        for m, n in shapes:
            path = os.path.join(args.dir, f"A_{m}x{n}.npy")
            if not os.path.exists(path):
                np.save(path, make_matrix(m, n, SEED + m * 10_000 + n))
            a = np.load(path)
            assert a.dtype == np.float32 and a.shape == (m, n)
            a64 = a.astype(np.float64)
            s = scipy.linalg.svd(a64, compute_uv=False)
            tail = float(np.sqrt(np.sum(s[K:] ** 2)))

            # The peer BLAS's own GEMM rate, for the same m x n by n x 138.
            omega = np.random.default_rng(0).standard_normal((n, K + P)).astype(np.float32)
            _, t, tmin, reps = timed(lambda: a @ omega, args.repeats * 3)
            rows.append(
                dict(m=m, n=n, method="numpy_gemm", params=f"{m}x{n} @ {n}x{K + P}", cols=K + P,
                     time_ms=t * 1e3, min_ms=tmin * 1e3, cpu_ms=CPU["last"] * 1e3, repeats=reps, err_fro="",
                     gflops=2 * m * n * (K + P) / t / 1e9)
            )
            # What sklearn's range finder spends drawing its Gaussian (float64
            # RandomState, then cast to f32).
            _, t, tmin, reps = timed(
                lambda: np.random.RandomState(0).normal(size=(n, K + P)).astype(np.float32),
                args.repeats,
            )
            rows.append(
                dict(m=m, n=n, method="numpy_randn", params=f"RandomState.normal {n}x{K + P}",
                     cols=K + P, time_ms=t * 1e3, min_ms=tmin * 1e3, cpu_ms=CPU["last"] * 1e3, repeats=reps, err_fro="",
                     gflops="")
            )

            # The peer's stages at the same sizes: QR of Y (m x 138, what its
            # range finder calls) and the SVD of B = Q^T A (138 x n).
            y = a @ omega
            qy, _ = scipy.linalg.qr(y, mode="economic", check_finite=False)
            b = qy.T @ a
            for stage, fn in (
                ("peer_qr_m", lambda: scipy.linalg.qr(y, mode="economic", check_finite=False)),
                ("peer_svd_B", lambda: scipy.linalg.svd(b, full_matrices=False, check_finite=False)),
            ):
                _, t, tmin, reps = timed(fn, args.repeats)
                rows.append(
                    dict(m=m, n=n, method=stage, params=f"{y.shape} / {b.shape}", cols=K + P,
                         time_ms=t * 1e3, min_ms=tmin * 1e3, cpu_ms=CPU["last"] * 1e3, repeats=reps, err_fro="", gflops="")
                )

            for name, params, fn in methods(a):
                if only and name not in only:
                    continue
                q, t, tmin, reps = timed(fn, args.repeats)
                e = err_fro(a64, tail, q)
                rows.append(
                    dict(m=m, n=n, method=name, params=params, cols=q.shape[1],
                         time_ms=t * 1e3, min_ms=tmin * 1e3, cpu_ms=CPU["last"] * 1e3, repeats=reps, err_fro=e, gflops="")
                )
                print(f"{m}x{n} {name:14} {params:32} {t * 1e3:9.2f} ms  err_fro {e:.5f}",
                      flush=True)

    env["load_after"] = loadavg()
    b0, m0, w0 = env.pop("cpu_before")
    b1, m1, w1 = cpu_ticks()
    env["other_cpu_cores_avg"] = round(((b1 - b0) - (m1 - m0)) / (w1 - w0), 3)
    env["wall_s"] = round(w1 - w0, 1)
    with open(os.path.join(args.dir, "python.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)
    with open(os.path.join(args.dir, "python_env.json"), "w") as f:
        json.dump(env, f, indent=1)
    print(json.dumps(env, indent=1))


if __name__ == "__main__":
    main()
