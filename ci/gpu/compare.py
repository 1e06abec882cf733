#!/usr/bin/env python3
"""Prints the short comparison table of one GPU run.

    python3 ci/gpu/compare.py rust_results.csv torch_results.csv

Speedup = peer time / cuda-rrf time (>1: cuda-rrf is faster), at the same
case, k, p, q and precision, both with A resident on the device.
"""
import csv
import os
import sys


def load(path):
    if not os.path.exists(path):
        print(f"(missing {path})")
        return []
    return list(csv.DictReader(open(path)))


def num(r, key):
    try:
        return float(r[key])
    except (KeyError, TypeError, ValueError):
        return None


def main():
    rust, torch = load(sys.argv[1]), load(sys.argv[2])
    rrf = [r for r in rust if r["method"] == "cuda-rrf"]
    default = [r for r in rrf if r["variant"] in ("qr/gesvdj", "batch/streams=4")]
    print("\n== cuda-rrf vs torch.svd_lowrank (same k, p, q, precision; A on the device) ==")
    print(f"{'case':<15}{'k':>5}{'q':>3} {'prec':<5}{'rrf ms':>9}{'torch ms':>10}{'speedup':>9}"
          f"{'rrf err':>9}{'torch err':>10}{'gemm%':>7}{'t/flop':>8}")
    for r in default:
        peer = [t for t in torch if t["method"] == "torch.svd_lowrank" and t["case"] == r["case"]
                and t["k"] == r["k"] and t["q"] == r["q"] and t["precision"] == r["precision"]
                and t["variant"] in ("resident", "batched stacks")]
        ours, theirs = num(r, "device_ms"), (num(peer[0], "device_ms") if peer else None)
        speed = f"{theirs / ours:9.2f}" if ours and theirs else f"{'-':>9}"
        frac = num(r, "gemm_phase_frac")
        bound = num(r, "time_over_flop_bound")
        err_t = num(peer[0], "err_fro") if peer else None
        print(f"{r['case']:<15}{r['k']:>5}{r['q']:>3} {r['precision']:<5}{ours or 0:9.2f}"
              f"{(theirs or 0):10.2f}{speed}{num(r, 'err_fro') or 0:9.4f}{(err_t or 0):10.4f}"
              f"{(100 * frac if frac else 0):7.0f}{(bound or 0):8.2f}")
    print("\n== other cuda-rrf variants (4096², k = 128) ==")
    for r in rrf:
        if r["variant"] not in ("qr/gesvdj",) and not r["variant"].startswith("batch"):
            print(f"{r['variant']:<16} q={r['q']} {r['precision']:<5} {num(r, 'device_ms') or 0:8.2f} ms"
                  f"  err_fro {num(r, 'err_fro') or 0:.4f}")
    for r in rrf:
        if r["variant"].startswith("batch") and r["variant"] != "batch/streams=4":
            print(f"galore {r['variant']:<16} q={r['q']} {num(r, 'device_ms') or 0:8.2f} ms device,"
                  f" {num(r, 'total_ms') or 0:8.2f} ms with transfers")
    print("\n== vs full SVD, 4096², k = 128 (target: cuda-rrf ≥ 20× faster) ==")
    base = [r for r in default if r["case"] == "poly1024_4096" and r["k"] == "128" and r["q"] == "1"
            and r["precision"] == "f32"]
    for r in [x for x in rust if x["method"] == "cuda-svd" and x["k"] == "128"] + \
             [x for x in torch if x["method"] == "torch.linalg.svd" and x["k"] == "128"]:
        t = num(r, "total_ms") or num(r, "device_ms")
        if base and t:
            ours = num(base[0], "device_ms")
            print(f"{r['method']:<18}{r['variant']:<10}{r.get('precision', ''):<5}{t:10.1f} ms  err_fro {num(r, 'err_fro') or 0:.5f}"
                  f"  cuda-rrf(q=1,f32) {ours:.2f} ms → {t / ours:7.1f}×")
        elif r.get("note"):
            print(f"{r['method']:<18}{r['variant']:<10} {r['note']}")
    print("\n== GEMM rate measured in this run ==")
    for r in rust:
        if r["method"] == "cublas-gemm":
            print(f"{r['precision']:<5} {num(r, 'sgemm_gflops') or 0:10.0f} GFLOP/s")
    for r in rust:
        if r["method"] == "rrf":
            print(f"CPU rrf {r['case']:<15} k={r['k']} q={r['q']} {num(r, 'total_ms') or 0:9.1f} ms"
                  f"  err_fro {num(r, 'err_fro') or 0:.4f}  ({r['variant']})")
    print("\ncolumns: gemm% = GEMM-phase rate / cuBLAS rate of the same precision (target ≥ 60);"
          " t/flop = call time / (flops / that rate) (target ≤ 2)")


if __name__ == "__main__":
    main()
