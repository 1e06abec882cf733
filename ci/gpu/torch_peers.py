#!/usr/bin/env python3
"""PyTorch peers of cuda-rrf on the same matrices (written by gpu_bench).

    python3 ci/gpu/torch_peers.py <scratch dir with manifest.csv> <out.csv>

Times torch.svd_lowrank(A, q=k+p, niter=q) (first k columns kept, as
cuda-rrf's truncation does) and torch.linalg.svd on CUDA with CUDA events
after a warm-up, in f32 and with TF32 matmuls; accuracy err_fro =
‖A − QQᵀA‖_F / ‖A − A_k‖_F in float64 with the known tail from the manifest.
Columns match gpu_bench's CSV.
"""
import csv
import sys
import time

import numpy as np
import torch

REPS = 3
P = 10
HEADER = ("method,case,m,n,k,p,q,precision,variant,count,device_ms,device_ms_min,total_ms,err_fro,"
          "gemm_phase_ms,gemm_phase_gflops,sgemm_gflops,gemm_phase_frac,flops,time_over_flop_bound,note").split(",")


def timed(fn, reps=REPS):
    fn()
    torch.cuda.synchronize()
    times = []
    out = None
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        out = fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return out, sorted(times)[len(times) // 2], min(times)


def residual(a64, q):
    q64 = q.double()
    return torch.linalg.norm(a64 - q64 @ (q64.transpose(-2, -1) @ a64)).item()


def main():
    scratch, out_path = sys.argv[1], sys.argv[2]
    rows = []
    t0 = time.time()
    out = open(out_path, "w", newline="")
    writer = csv.DictWriter(out, HEADER)
    writer.writeheader()

    def push(**r):
        row = {h: "" for h in HEADER}
        row.update({k: (f"{v:.6f}" if isinstance(v, float) else v) for k, v in r.items()})
        writer.writerow(row)
        out.flush()
        print(",".join(str(row[h]) for h in HEADER), flush=True)

    manifest = list(csv.DictReader(open(f"{scratch}/manifest.csv")))
    dev = torch.device("cuda")
    torch.manual_seed(0)
    for prec in ["f32", "tf32"]:
        torch.backends.cuda.matmul.allow_tf32 = prec == "tf32"
        loaded = {}
        for entry in manifest:
            if entry["case"] == "galore60m":
                continue
            name, k, tail = entry["case"], int(entry["k"]), float(entry["tail_fro"])
            if name not in loaded:
                loaded.clear()
                torch.cuda.empty_cache()
                a = torch.from_numpy(np.load(f"{scratch}/{entry['file']}")).to(dev)
                loaded[name] = (a, a.double())
            a, a64 = loaded[name]
            m, n = a.shape
            for q in [0, 1, 2]:
                u, med, mn = timed(lambda: torch.svd_lowrank(a, q=k + P, niter=q)[0])
                err = residual(a64, u[:, :k]) / tail
                push(method="torch.svd_lowrank", case=name, m=m, n=n, k=k, p=P, q=q, precision=prec,
                     variant="resident", count=1, device_ms=med, device_ms_min=mn, err_fro=err)
            print(f"[{time.time() - t0:.1f}s] svd_lowrank {name} k={k} {prec}", file=sys.stderr, flush=True)
            if prec == "f32" and m == 4096 and k == 128 and time.time() - t0 < 60:
                torch.linalg.svd(torch.randn(1024, 1024, device=dev), full_matrices=False)
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                u = torch.linalg.svd(a, full_matrices=False)[0]
                end.record()
                torch.cuda.synchronize()
                ms = start.elapsed_time(end)
                for kk in [128, 512]:
                    t = float([e for e in manifest if e["case"] == name and int(e["k"]) == kk][0]["tail_fro"])
                    push(method="torch.linalg.svd", case=name, m=m, n=n, k=kk, precision=prec, variant="resident",
                         count=1, device_ms=ms, err_fro=residual(a64, u[:, :kk]) / t,
                         note="one timed run; same SVD for both k")
        # GaLore 60M: the two stacks, batched, and one call per matrix.
        stacks = [e for e in manifest if e["case"] == "galore60m"]
        mats = [torch.from_numpy(np.load(f"{scratch}/{e['file']}")).to(dev) for e in stacks]
        tail = float(stacks[0]["tail_fro"])
        k = int(stacks[0]["k"])
        count = sum(x.shape[0] for x in mats)
        for q in [0, 1, 2]:
            us, med, mn = timed(lambda: [torch.svd_lowrank(x, q=k + P, niter=q)[0] for x in mats])
            err = sum(residual(x[i].double(), u[i, :, :k]) for x, u in zip(mats, us) for i in range(x.shape[0]))
            push(method="torch.svd_lowrank", case="galore60m", m=512, n=0, k=k, p=P, q=q, precision=prec,
                 variant="batched stacks", count=count, device_ms=med, device_ms_min=mn, err_fro=err / count / tail)
            flat = [x[i] for x in mats for i in range(x.shape[0])]
            _, med, mn = timed(lambda: [torch.svd_lowrank(x, q=k + P, niter=q)[0] for x in flat])
            push(method="torch.svd_lowrank", case="galore60m", m=512, n=0, k=k, p=P, q=q, precision=prec,
                 variant="loop", count=count, device_ms=med, device_ms_min=mn)
        print(f"[{time.time() - t0:.1f}s] galore {prec}", file=sys.stderr, flush=True)
        del mats
        if time.time() - t0 > 90:
            print("time budget: stopping before the next precision", file=sys.stderr)
            break
    out.close()


if __name__ == "__main__":
    main()
