//! Finite-difference checks of the hand-written model parts, plus one exact
//! check per part against a direct scalar formula.
//!
//! Each gradient check differentiates the scalar `L = Σ out ⊙ R` (R a fixed
//! seeded tensor, so every output entry matters with its own weight) by
//! central differences on the f32 kernels, with L summed in f64. The
//! backward kernels accumulate, so each gradient buffer is prefilled with
//! seeded noise and the check compares the increment.
//!
//! Tolerance. The central difference's truncation error is O(h²) relative
//! (h = 1e-2 · (1 + |x|)); its rounding error is absolute, about
//! ε_f32 · Σ|out ⊙ R| / h, and does not shrink with the entry. So each entry
//! is compared with relative error `|fd − an| / max(|an|, |fd|, rms(an))`,
//! entries far below the tensor's rms being judged at the rms scale, and the
//! bound is 1e-2: comfortably above the ≤ 3e-3 that rounding and truncation
//! give at these sizes, far below the O(1) error of a wrong formula.
//!
//! Letters: N rows, C hidden, F intermediate, V vocab.

use faer::Par;
use llama::model::crossentropy::{crossentropy_backward, crossentropy_forward};
use llama::model::embedding::{embedding_backward, embedding_forward};
use llama::model::linear::{linear_backward, linear_backward_workspace_bytes, linear_forward};
use llama::model::rmsnorm::{rmsnorm_backward, rmsnorm_forward};
use llama::model::swiglu::{swiglu_backward, swiglu_forward};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

const N: usize = 6;
const C: usize = 16;
const F: usize = 40;
const V: usize = 50;
/// Relative step of the central differences.
const H: f32 = 1e-2;
/// Bound on the relative error of every gradient entry.
const TOL: f64 = 1e-2;
/// Llama's `rms_norm_eps`.
const EPS: f32 = 1e-6;

fn randn(rng: &mut ChaCha8Rng, len: usize) -> Vec<f32> {
    (0..len).map(|_| StandardNormal.sample(rng)).collect()
}

fn tokens(rng: &mut ChaCha8Rng, len: usize, v: usize) -> Vec<u32> {
    (0..len).map(|_| rng.random_range(0..v as u32)).collect()
}

/// `Σ out ⊙ r` in f64.
fn dot(out: &[f32], r: &[f32]) -> f64 {
    out.iter().zip(r).map(|(&a, &b)| a as f64 * b as f64).sum()
}

/// `after − before`: what a backward call added to a prefilled buffer.
fn increment(after: &[f32], before: &[f32]) -> Vec<f32> {
    after.iter().zip(before).map(|(&a, &b)| a - b).collect()
}

/// Compares `analytic` with central differences of `loss` in every entry of
/// `x`; prints and returns the largest relative error.
#[track_caller]
fn fd_check(name: &str, x: &[f32], analytic: &[f32], mut loss: impl FnMut(&[f32]) -> f64) -> f64 {
    assert_eq!(x.len(), analytic.len(), "{name}: gradient shape");
    let rms =
        (analytic.iter().map(|&g| (g as f64).powi(2)).sum::<f64>() / analytic.len() as f64).sqrt();
    assert!(rms > 0.0, "{name}: the analytic gradient is all zero");
    let mut xs = x.to_vec();
    let mut worst: f64 = 0.0;
    for i in 0..xs.len() {
        let x0 = x[i];
        let h = H * (1.0 + x0.abs());
        let (xp, xm) = (x0 + h, x0 - h);
        xs[i] = xp;
        let lp = loss(&xs);
        xs[i] = xm;
        let lm = loss(&xs);
        xs[i] = x0;
        // The realised step, exact in f64, not the requested 2h.
        let fd = (lp - lm) / (xp as f64 - xm as f64);
        let an = analytic[i] as f64;
        let rel = (fd - an).abs() / an.abs().max(fd.abs()).max(rms);
        assert!(
            rel <= TOL,
            "{name}[{i}]: analytic {an:.6e}, finite difference {fd:.6e}, relative error {rel:.3e} > {TOL:.0e}"
        );
        worst = worst.max(rel);
    }
    println!(
        "{name}: max relative FD error {worst:.3e} over {} entries",
        x.len()
    );
    worst
}

#[test]
fn linear_gradients_match_finite_differences() {
    let (n, c, oc) = (N, C, F);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let inp = randn(&mut rng, n * c); // (N, C)
    let weight = randn(&mut rng, oc * c); // (OC, C)
    let r = randn(&mut rng, n * oc); // (N, OC)
    let dinp0 = randn(&mut rng, n * c);
    let dw0 = randn(&mut rng, oc * c);
    let (mut dinp, mut dw) = (dinp0.clone(), dw0.clone());
    let mut scratch = vec![0.0; linear_backward_workspace_bytes(n, oc) / 4];
    linear_backward(
        &mut dinp,
        &mut dw,
        &mut scratch,
        &r,
        &inp,
        &weight,
        Par::Seq,
        n,
        c,
        oc,
    );
    let mut out = vec![0.0; n * oc];
    let mut loss = |x: &[f32], w: &[f32]| {
        linear_forward(&mut out, x, w, Par::Seq, n, c, oc);
        dot(&out, &r)
    };
    fd_check("linear.dinp", &inp, &increment(&dinp, &dinp0), |x| {
        loss(x, &weight)
    });
    fd_check("linear.dweight", &weight, &increment(&dw, &dw0), |w| {
        loss(&inp, w)
    });
}

#[test]
fn linear_matches_naive_loops() {
    let (n, c, oc) = (N, C, F);
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let inp = randn(&mut rng, n * c);
    let weight = randn(&mut rng, oc * c);
    let mut out = vec![f32::NAN; n * oc];
    linear_forward(&mut out, &inp, &weight, Par::Seq, n, c, oc);
    for i in 0..n {
        for o in 0..oc {
            let (mut want, mut mag) = (0.0f64, 0.0f64);
            for k in 0..c {
                let p = inp[i * c + k] as f64 * weight[o * c + k] as f64;
                want += p;
                mag += p.abs();
            }
            // Any f32 summation order is within c·ε·Σ|terms| of the exact sum.
            let bound = c as f64 * f32::EPSILON as f64 * mag;
            let got = out[i * oc + o] as f64;
            assert!(
                (got - want).abs() <= bound,
                "out[{i},{o}] = {got}, want {want}"
            );
        }
    }
}

#[test]
fn embedding_gradients_match_finite_differences() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let toks = tokens(&mut rng, N, V); // (N)
    let wte = randn(&mut rng, V * C); // (V, C)
    let r = randn(&mut rng, N * C); // (N, C)
    let dwte0 = randn(&mut rng, V * C);
    let mut dwte = dwte0.clone();
    embedding_backward(&mut dwte, &r, &toks, C);
    let mut out = vec![0.0; N * C];
    // The rows of unused tokens have zero gradient; rms(an) > 0 all the same.
    fd_check("embedding.dwte", &wte, &increment(&dwte, &dwte0), |w| {
        embedding_forward(&mut out, &toks, w, C);
        dot(&out, &r)
    });
}

#[test]
fn embedding_gathers_rows_and_scatter_adds_repeats() {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let wte = randn(&mut rng, V * C);
    let toks = [3u32, 7, 3, 0, 49, 3];
    let mut out = vec![f32::NAN; toks.len() * C];
    embedding_forward(&mut out, &toks, &wte, C);
    for (i, &t) in toks.iter().enumerate() {
        let t = t as usize;
        assert_eq!(out[i * C..(i + 1) * C], wte[t * C..(t + 1) * C]);
    }
    let dout = vec![1.0f32; toks.len() * C];
    let mut dwte = vec![0.0f32; V * C];
    embedding_backward(&mut dwte, &dout, &toks, C);
    for t in 0..V {
        let count = toks.iter().filter(|&&x| x as usize == t).count() as f32;
        assert!(
            dwte[t * C..(t + 1) * C].iter().all(|&g| g == count),
            "row {t}"
        );
    }
}

#[test]
fn rmsnorm_gradients_match_finite_differences() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let inp = randn(&mut rng, N * C); // (N, C)
    let weight: Vec<f32> = randn(&mut rng, C).iter().map(|w| 1.0 + 0.5 * w).collect(); // (C)
    let r = randn(&mut rng, N * C); // (N, C)
    let mut out = vec![0.0; N * C];
    let mut rstd = vec![0.0; N];
    rmsnorm_forward(&mut out, &mut rstd, &inp, &weight, Par::Seq, N, C, EPS);
    let dinp0 = randn(&mut rng, N * C);
    let dw0 = randn(&mut rng, C);
    let (mut dinp, mut dw) = (dinp0.clone(), dw0.clone());
    rmsnorm_backward(&mut dinp, &mut dw, &r, &inp, &weight, &rstd, Par::Seq, N, C);
    let mut loss = |x: &[f32], w: &[f32]| {
        rmsnorm_forward(&mut out, &mut rstd, x, w, Par::Seq, N, C, EPS);
        dot(&out, &r)
    };
    fd_check("rmsnorm.dinp", &inp, &increment(&dinp, &dinp0), |x| {
        loss(x, &weight)
    });
    fd_check("rmsnorm.dweight", &weight, &increment(&dw, &dw0), |w| {
        loss(&inp, w)
    });
}

#[test]
fn rmsnorm_matches_direct_formula_and_maps_constant_rows_to_weight() {
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let mut inp = randn(&mut rng, N * C);
    // Row 0 constant: x / sqrt(x² + eps) = 1 up to eps / (2x²) ≈ 6e-8.
    inp[..C].fill(-3.0);
    let weight = randn(&mut rng, C);
    let mut out = vec![f32::NAN; N * C];
    let mut rstd = vec![f32::NAN; N];
    rmsnorm_forward(&mut out, &mut rstd, &inp, &weight, Par::Seq, N, C, EPS);
    for (y, w) in out[..C].iter().zip(&weight) {
        assert!((y + w).abs() <= 4.0 * f32::EPSILON * w.abs(), "{y} vs -{w}");
    }
    for i in 0..N {
        let x = &inp[i * C..(i + 1) * C];
        let ms = x.iter().map(|&a| (a as f64).powi(2)).sum::<f64>() / C as f64;
        let rs = 1.0 / (ms + EPS as f64).sqrt();
        assert!((rstd[i] as f64 - rs).abs() <= 1e-6 * rs, "rstd[{i}]");
        for k in 0..C {
            let want = x[k] as f64 * rs * weight[k] as f64;
            let got = out[i * C + k] as f64;
            assert!(
                (got - want).abs() <= 1e-6 * (1.0 + want.abs()),
                "out[{i},{k}]"
            );
        }
    }
}

#[test]
fn swiglu_gradients_match_finite_differences() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let gate = randn(&mut rng, N * F); // (N, F)
    let up = randn(&mut rng, N * F); // (N, F)
    let r = randn(&mut rng, N * F); // (N, F)
    let dg0 = randn(&mut rng, N * F);
    let du0 = randn(&mut rng, N * F);
    let (mut dg, mut du) = (dg0.clone(), du0.clone());
    swiglu_backward(&mut dg, &mut du, &r, &gate, &up, Par::Seq);
    let mut out = vec![0.0; N * F];
    let mut loss = |g: &[f32], u: &[f32]| {
        swiglu_forward(&mut out, g, u, Par::Seq);
        dot(&out, &r)
    };
    fd_check("swiglu.dgate", &gate, &increment(&dg, &dg0), |g| {
        loss(g, &up)
    });
    fd_check("swiglu.dup", &up, &increment(&du, &du0), |u| loss(&gate, u));
}

#[test]
fn swiglu_matches_direct_formula() {
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let mut gate = randn(&mut rng, N * F);
    gate[0] = 0.0;
    gate[1] = -30.0;
    gate[2] = 30.0;
    let up = randn(&mut rng, N * F);
    let mut out = vec![f32::NAN; N * F];
    swiglu_forward(&mut out, &gate, &up, Par::Seq);
    assert_eq!(out[0], 0.0, "silu(0) = 0");
    for ((&o, &g), &u) in out.iter().zip(&gate).zip(&up) {
        let (g, u) = (g as f64, u as f64);
        let want = g / (1.0 + (-g).exp()) * u;
        assert!(
            (o as f64 - want).abs() <= 1e-6 * (1.0 + want.abs()),
            "{o} vs {want}"
        );
    }
}

#[test]
fn crossentropy_gradients_match_finite_differences() {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let logits: Vec<f32> = randn(&mut rng, N * V).iter().map(|z| 2.0 * z).collect(); // (N, V)
    let targets = tokens(&mut rng, N, V); // (N)
    let dloss = 0.7f32;
    let (mut losses, mut lse) = (vec![0.0; N], vec![0.0; N]);
    crossentropy_forward(&mut losses, &mut lse, &logits, &targets, Par::Seq, N, V);
    let dz0 = randn(&mut rng, N * V);
    let mut dz = dz0.clone();
    crossentropy_backward(&mut dz, &logits, &lse, &targets, Par::Seq, N, V, 0, dloss);
    fd_check(
        "crossentropy.dlogits",
        &logits,
        &increment(&dz, &dz0),
        |z| {
            dloss as f64
                * crossentropy_forward(&mut losses, &mut lse, z, &targets, Par::Seq, N, V) as f64
        },
    );
}

#[test]
fn crossentropy_matches_direct_formula() {
    let mut rng = ChaCha8Rng::seed_from_u64(10);
    let targets = tokens(&mut rng, N, V);
    let (mut losses, mut lse) = (vec![f32::NAN; N], vec![f32::NAN; N]);
    // Uniform logits, large enough that a softmax without the max shift overflows.
    let uniform = vec![100.0f32; N * V];
    let loss = crossentropy_forward(&mut losses, &mut lse, &uniform, &targets, Par::Seq, N, V);
    let ln_v = (V as f32).ln();
    assert!(
        (loss - ln_v).abs() <= 4.0 * f32::EPSILON * ln_v,
        "{loss} vs ln V = {ln_v}"
    );
    // With dloss = N the backward writes p − onehot.
    let mut dz = vec![0.0; N * V];
    crossentropy_backward(
        &mut dz,
        &uniform,
        &lse,
        &targets,
        Par::Seq,
        N,
        V,
        0,
        N as f32,
    );
    for (i, row) in dz.chunks_exact(V).enumerate() {
        for (j, &d) in row.iter().enumerate() {
            let p = d + if j == targets[i] as usize { 1.0 } else { 0.0 };
            assert!((p - 1.0 / V as f32).abs() <= 1e-7, "p[{i},{j}] = {p}");
        }
    }

    let logits: Vec<f32> = randn(&mut rng, N * V).iter().map(|z| 3.0 * z).collect();
    let loss =
        crossentropy_forward(&mut losses, &mut lse, &logits, &targets, Par::Seq, N, V) as f64;
    dz.fill(0.0);
    crossentropy_backward(
        &mut dz,
        &logits,
        &lse,
        &targets,
        Par::Seq,
        N,
        V,
        0,
        N as f32,
    );
    let mut want = 0.0f64;
    for i in 0..N {
        let z = &logits[i * V..(i + 1) * V];
        let sum: f64 = z.iter().map(|&a| (a as f64).exp()).sum();
        let row_loss = sum.ln() - z[targets[i] as usize] as f64;
        assert!(
            (losses[i] as f64 - row_loss).abs() <= 1e-5 * row_loss.abs(),
            "loss of row {i}: {} vs {row_loss}",
            losses[i]
        );
        want += row_loss;
        // Σ_j (p − onehot) = 0, and p_j = exp(z_j) / Σ exp z.
        let row = &dz[i * V..(i + 1) * V];
        let row_sum: f32 = row.iter().sum();
        assert!(
            (row_sum).abs() <= 1e-5,
            "row {i} of p − onehot sums to {row_sum}"
        );
        for (j, (&d, &zj)) in row.iter().zip(z).enumerate() {
            let p = (zj as f64).exp() / sum - if j == targets[i] as usize { 1.0 } else { 0.0 };
            assert!((d as f64 - p).abs() <= 1e-6, "dz[{i},{j}] = {d} vs {p}");
        }
    }
    want /= N as f64;
    assert!((loss - want).abs() <= 1e-5 * want.abs(), "{loss} vs {want}");
}

#[test]
fn crossentropy_backward_by_column_blocks_equals_whole() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let logits = randn(&mut rng, N * V);
    let targets = tokens(&mut rng, N, V);
    let (mut losses, mut lse) = (vec![0.0; N], vec![0.0; N]);
    crossentropy_forward(&mut losses, &mut lse, &logits, &targets, Par::Seq, N, V);
    let mut whole = vec![0.0; N * V];
    crossentropy_backward(&mut whole, &logits, &lse, &targets, Par::Seq, N, V, 0, 1.3);
    for w in [1, 7, 16, V] {
        let mut v0 = 0;
        while v0 < V {
            let wb = w.min(V - v0);
            let mut blk = vec![0.0; N * wb];
            crossentropy_backward(&mut blk, &logits, &lse, &targets, Par::Seq, N, V, v0, 1.3);
            for i in 0..N {
                assert_eq!(
                    &blk[i * wb..(i + 1) * wb],
                    &whole[i * V + v0..i * V + v0 + wb],
                    "block {v0}..{} of width {w}, row {i}",
                    v0 + wb
                );
            }
            v0 += wb;
        }
    }
}
