//! RoPE and causal attention against direct formulas, an f64 reference,
//! their structural properties, and central finite differences of
//! L = Σ out ⊙ R for a fixed random R.
//!
//! Letters: B batch, T sequence, NH heads, HS head dim, C = NH · HS.

use faer::Par;
use llama::model::attention::{attention_backward, attention_forward};
use llama::model::rope::{rope_backward, rope_forward, rope_tables};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

const B: usize = 2;
const T: usize = 5;
const NH: usize = 2;
const HS: usize = 8;
const C: usize = NH * HS;
const THETA: f32 = 10000.0;

fn randn(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| StandardNormal.sample(rng)).collect()
}

fn tables(t: usize, hs: usize) -> (Vec<f32>, Vec<f32>) {
    let mut cos = vec![0.0; t * hs / 2];
    let mut sin = vec![0.0; t * hs / 2];
    rope_tables(&mut cos, &mut sin, t, hs, THETA);
    (cos, sin)
}

fn rope(x: &[f32], cos: &[f32], sin: &[f32], b: usize, t: usize) -> Vec<f32> {
    let mut y = vec![0.0; x.len()];
    rope_forward(&mut y, x, cos, sin, Par::Seq, b, t, NH, HS);
    y
}

fn attn(q: &[f32], k: &[f32], v: &[f32], b: usize, t: usize) -> (Vec<f32>, Vec<f32>) {
    let mut out = vec![0.0; b * t * C];
    let mut att = vec![0.0; b * NH * t * t];
    attention_forward(&mut out, &mut att, q, k, v, Par::Seq, b, t, NH, HS);
    (out, att)
}

fn dot64(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum()
}

/// max |got − want| / max |want|, the error relative to the tensor's scale.
#[track_caller]
fn rel_err(got: &[f32], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let diff = got
        .iter()
        .zip(want)
        .fold(0.0f64, |m, (&g, &w)| m.max((g as f64 - w).abs()));
    diff / scale.max(1e-30)
}

#[test]
fn rope_matches_the_rotate_half_formula() {
    let t = 40;
    let (cos, sin) = tables(t, HS);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let x = randn(&mut rng, t * C);
    let y = rope(&x, &cos, &sin, 1, t);
    let half = HS / 2;
    let mut want = vec![0.0f64; x.len()];
    for p in [0, 1, 2, 7, 39] {
        for h in 0..NH {
            let base = (p * NH + h) * HS;
            for i in 0..half {
                let a = p as f64 * 10000f64.powf(-2.0 * i as f64 / HS as f64);
                let (x1, x2) = (x[base + i] as f64, x[base + i + half] as f64);
                want[base + i] = x1 * a.cos() - x2 * a.sin();
                want[base + i + half] = x2 * a.cos() + x1 * a.sin();
            }
            let got = &y[base..base + HS];
            let err = rel_err(got, &want[base..base + HS]);
            assert!(err < 1e-6, "position {p} head {h}: rel err {err:e}");
        }
    }
}

#[test]
fn rope_at_position_zero_is_the_identity() {
    let (cos, sin) = tables(T, HS);
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let x = randn(&mut rng, B * T * C);
    let y = rope(&x, &cos, &sin, B, T);
    for bi in 0..B {
        let row = bi * T * C;
        assert_eq!(&y[row..row + C], &x[row..row + C], "batch {bi}, position 0");
    }
    // Positions > 0 are rotated and keep each pair's norm.
    let row = C;
    assert_ne!(&y[row..row + C], &x[row..row + C]);
    let nx = dot64(&x[row..row + C], &x[row..row + C]);
    let ny = dot64(&y[row..row + C], &y[row..row + C]);
    assert!((nx - ny).abs() < 1e-5 * nx, "rotation must keep the norm");
}

#[test]
fn rope_backward_is_the_transpose_and_accumulates() {
    let t = 17;
    let (cos, sin) = tables(t, HS);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let x = randn(&mut rng, B * t * C);
    let y = randn(&mut rng, B * t * C);
    let rx = rope(&x, &cos, &sin, B, t);
    let mut rty = vec![0.0; y.len()];
    rope_backward(&mut rty, &y, &cos, &sin, Par::Seq, B, t, NH, HS);
    let (lhs, rhs) = (dot64(&rx, &y), dot64(&x, &rty));
    let err = (lhs - rhs).abs() / lhs.abs().max(1.0);
    assert!(err < 1e-5, "<rope x, y> = {lhs}, <x, ropeᵀ y> = {rhs}");
    // Backward is the inverse rotation: ropeᵀ(rope(x)) = x.
    let mut back = vec![0.0; x.len()];
    rope_backward(&mut back, &rx, &cos, &sin, Par::Seq, B, t, NH, HS);
    let want: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    assert!(rel_err(&back, &want) < 1e-6);
    // A second call adds the same again.
    let mut twice = rty.clone();
    rope_backward(&mut twice, &y, &cos, &sin, Par::Seq, B, t, NH, HS);
    let want: Vec<f64> = rty.iter().map(|&v| 2.0 * v as f64).collect();
    assert!(rel_err(&twice, &want) < 1e-6);
}

#[test]
fn attention_is_causal() {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let (q, k, v) = (
        randn(&mut rng, B * T * C),
        randn(&mut rng, B * T * C),
        randn(&mut rng, B * T * C),
    );
    let (out, att) = attn(&q, &k, &v, B, T);
    for bi in 0..B {
        for h in 0..NH {
            for i in 0..T {
                let row = &att[((bi * NH + h) * T + i) * T..][..T];
                assert!(row[i + 1..].iter().all(|&a| a == 0.0), "att above diagonal");
                let s: f32 = row.iter().sum();
                assert!((s - 1.0).abs() < 1e-6, "att row sums to {s}");
            }
        }
    }
    for i in 0..T {
        let (mut k2, mut v2) = (k.clone(), v.clone());
        for bi in 0..B {
            for j in i + 1..T {
                for x in &mut k2[(bi * T + j) * C..][..C] {
                    *x = StandardNormal.sample(&mut rng);
                }
                for x in &mut v2[(bi * T + j) * C..][..C] {
                    *x = StandardNormal.sample(&mut rng);
                }
            }
        }
        let (out2, _) = attn(&q, &k2, &v2, B, T);
        for bi in 0..B {
            for p in 0..=i {
                let r = (bi * T + p) * C;
                assert_eq!(
                    &out2[r..r + C],
                    &out[r..r + C],
                    "position {p} saw the future of {i}"
                );
            }
        }
    }
}

#[test]
fn attention_over_one_position_returns_v() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let (q, k, v) = (
        randn(&mut rng, B * C),
        randn(&mut rng, B * C),
        randn(&mut rng, B * C),
    );
    let (out, att) = attn(&q, &k, &v, B, 1);
    assert_eq!(out, v);
    assert!(att.iter().all(|&a| a == 1.0));
}

/// The textbook computation in f64: masked scores, softmax, weighted sum.
fn attention_reference(q: &[f32], k: &[f32], v: &[f32], b: usize, t: usize) -> Vec<f64> {
    let mut out = vec![0.0f64; b * t * C];
    let at = |x: &[f32], bi: usize, p: usize, h: usize, d: usize| x[(bi * t + p) * C + h * HS + d];
    for bi in 0..b {
        for h in 0..NH {
            for i in 0..t {
                let mut s = vec![f64::NEG_INFINITY; t];
                for (j, sj) in s.iter_mut().enumerate().take(i + 1) {
                    let qk: f64 = (0..HS)
                        .map(|d| at(q, bi, i, h, d) as f64 * at(k, bi, j, h, d) as f64)
                        .sum();
                    *sj = qk / (HS as f64).sqrt();
                }
                let m = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let e: Vec<f64> = s.iter().map(|&x| (x - m).exp()).collect();
                let z: f64 = e.iter().sum();
                for d in 0..HS {
                    out[(bi * t + i) * C + h * HS + d] =
                        (0..t).map(|j| e[j] / z * at(v, bi, j, h, d) as f64).sum();
                }
            }
        }
    }
    out
}

#[test]
fn attention_matches_an_f64_reference() {
    for (seed, t, scale) in [(6, T, 1.0f32), (7, 1, 1.0), (8, 12, 3.0)] {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut q = randn(&mut rng, B * t * C);
        q.iter_mut().for_each(|x| *x *= scale);
        let (k, v) = (randn(&mut rng, B * t * C), randn(&mut rng, B * t * C));
        let (out, _) = attn(&q, &k, &v, B, t);
        let want = attention_reference(&q, &k, &v, B, t);
        let err = rel_err(&out, &want);
        assert!(err < 1e-5, "T = {t}, q scale {scale}: rel err {err:e}");
    }
}

/// Central differences of `loss` over every entry of `x`, compared with
/// `grad`; prints and returns max |fd − grad| / max |fd|.
#[track_caller]
fn check_fd(name: &str, x: &mut [f32], grad: &[f32], h: f32, loss: impl Fn(&[f32]) -> f64) -> f64 {
    let mut fd = vec![0.0f64; x.len()];
    for i in 0..x.len() {
        let x0 = x[i];
        x[i] = x0 + h;
        let lp = loss(x);
        x[i] = x0 - h;
        let lm = loss(x);
        x[i] = x0;
        // The step actually taken in f32.
        fd[i] = (lp - lm) / ((x0 + h) as f64 - (x0 - h) as f64);
    }
    let err = rel_err(grad, &fd);
    println!(
        "{name}: max rel FD error {err:.3e} ({} entries, h = {h})",
        x.len()
    );
    assert!(err < 1e-2, "{name}: FD rel err {err:e}");
    err
}

#[test]
fn attention_gradients_match_finite_differences() {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let n = B * T * C;
    let (mut q, mut k, mut v) = (randn(&mut rng, n), randn(&mut rng, n), randn(&mut rng, n));
    let r = randn(&mut rng, n);
    let (_, att) = attn(&q, &k, &v, B, T);
    let (mut dq, mut dk, mut dv) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    let mut datt = vec![0.0; B * NH * T * T];
    attention_backward(
        &mut dq,
        &mut dk,
        &mut dv,
        &mut datt,
        &r,
        &att,
        &q,
        &k,
        &v,
        Par::Seq,
        B,
        T,
        NH,
        HS,
    );
    let loss = |q: &[f32], k: &[f32], v: &[f32]| dot64(&attn(q, k, v, B, T).0, &r);
    let h = 1e-2;
    let (q0, k0, v0) = (q.clone(), k.clone(), v.clone());
    check_fd("dq", &mut q, &dq, h, |x| loss(x, &k0, &v0));
    check_fd("dk", &mut k, &dk, h, |x| loss(&q0, x, &v0));
    check_fd("dv", &mut v, &dv, h, |x| loss(&q0, &k0, x));

    // Backward accumulates: a second call doubles the gradients.
    let (mut dq2, mut dk2, mut dv2) = (dq.clone(), dk.clone(), dv.clone());
    attention_backward(
        &mut dq2,
        &mut dk2,
        &mut dv2,
        &mut datt,
        &r,
        &att,
        &q,
        &k,
        &v,
        Par::Seq,
        B,
        T,
        NH,
        HS,
    );
    for (g2, g) in [(&dq2, &dq), (&dk2, &dk), (&dv2, &dv)] {
        let want: Vec<f64> = g.iter().map(|&x| 2.0 * x as f64).collect();
        assert!(rel_err(g2, &want) < 1e-6);
    }
}

#[test]
fn rope_then_attention_gradients_match_finite_differences() {
    let mut rng = ChaCha8Rng::seed_from_u64(10);
    let n = B * T * C;
    let (cos, sin) = tables(T, HS);
    let (mut q_pre, mut k_pre, v) = (randn(&mut rng, n), randn(&mut rng, n), randn(&mut rng, n));
    let r = randn(&mut rng, n);
    let (q, k) = (
        rope(&q_pre, &cos, &sin, B, T),
        rope(&k_pre, &cos, &sin, B, T),
    );
    let (_, att) = attn(&q, &k, &v, B, T);
    let (mut dq, mut dk, mut dv) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    let mut datt = vec![0.0; B * NH * T * T];
    attention_backward(
        &mut dq,
        &mut dk,
        &mut dv,
        &mut datt,
        &r,
        &att,
        &q,
        &k,
        &v,
        Par::Seq,
        B,
        T,
        NH,
        HS,
    );
    let (mut dq_pre, mut dk_pre) = (vec![0.0; n], vec![0.0; n]);
    rope_backward(&mut dq_pre, &dq, &cos, &sin, Par::Seq, B, T, NH, HS);
    rope_backward(&mut dk_pre, &dk, &cos, &sin, Par::Seq, B, T, NH, HS);
    let loss = |q_pre: &[f32], k_pre: &[f32]| {
        let q = rope(q_pre, &cos, &sin, B, T);
        let k = rope(k_pre, &cos, &sin, B, T);
        dot64(&attn(&q, &k, &v, B, T).0, &r)
    };
    let h = 1e-2;
    let (q0, k0) = (q_pre.clone(), k_pre.clone());
    check_fd("dq_pre", &mut q_pre, &dq_pre, h, |x| loss(x, &k0));
    check_fd("dk_pre", &mut k_pre, &dk_pre, h, |x| loss(&q0, x));
}
