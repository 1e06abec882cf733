//! Hugging Face / PyTorch AdamW with decoupled weight decay.

use super::galore::RefreshError;
use super::optimizer::Optimizer;
use super::registry::OptimizerKind;
use crate::params::TensorData;
use crate::{Layout, NamedTensor, ParamStore};

/// AdamW hyper-parameters (GaLore's defaults: eps 1e-6, no weight decay).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWParams {
    /// Base learning rate (the schedule's peak; [`AdamW::step`] takes the
    /// current one).
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
}

impl Default for AdamWParams {
    fn default() -> Self {
        Self {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-6,
            weight_decay: 0.0,
        }
    }
}

impl AdamWParams {
    /// `lr · √(1 − β₂ᵗ) / (1 − β₁ᵗ)` for step `t` (1-based), computed in f64
    /// as Python does.
    pub fn step_size(&self, lr: f32, t: u64) -> f32 {
        let t = t as i32;
        let bc1 = 1.0 - f64::from(self.beta1).powi(t);
        let bc2 = 1.0 - f64::from(self.beta2).powi(t);
        (f64::from(lr) * bc2.sqrt() / bc1) as f32
    }
}

/// Updates the moments `m`, `v` with gradient `g` and returns
/// `N = m / (√v + eps)`.
#[inline]
pub(crate) fn moments(hp: &AdamWParams, g: f32, m: &mut f32, v: &mut f32) -> f32 {
    *m = *m * hp.beta1 + (1.0 - hp.beta1) * g;
    *v = *v * hp.beta2 + (1.0 - hp.beta2) * (g * g);
    *m / (v.sqrt() + hp.eps)
}

/// Decoupled weight decay `p += −lr · wd · p`, when `wd > 0`.
#[inline]
pub(crate) fn decay(hp: &AdamWParams, lr: f32, p: &mut [f32]) {
    if hp.weight_decay > 0.0 {
        let alpha = -lr * hp.weight_decay;
        p.iter_mut().for_each(|x| *x += alpha * *x);
    }
}

/// One dense AdamW update of `p` (elementwise, so any split of a buffer into
/// slices gives the same bits).
pub(crate) fn dense_step(
    hp: &AdamWParams,
    lr: f32,
    step_size: f32,
    p: &mut [f32],
    g: &[f32],
    m: &mut [f32],
    v: &mut [f32],
) {
    for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
        let n = moments(hp, g, m, v);
        *p += -step_size * n;
    }
    decay(hp, lr, p);
}

/// AdamW over every parameter of a [`ParamStore`].
#[derive(Debug, Clone)]
pub struct AdamW {
    pub params: AdamWParams,
    m: ParamStore,
    v: ParamStore,
    t: u64,
}

impl AdamW {
    /// Zero moments for `layout`.
    pub fn new(layout: &Layout, params: AdamWParams) -> Self {
        Self {
            params,
            m: ParamStore::zeros(layout),
            v: ParamStore::zeros(layout),
            t: 0,
        }
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.t
    }

    /// The first moments.
    pub fn exp_avg(&self) -> &ParamStore {
        &self.m
    }

    /// The second moments.
    pub fn exp_avg_sq(&self) -> &ParamStore {
        &self.v
    }

    /// One step at learning rate `lr` (the schedule's current value), in
    /// parallel over fixed chunks of the buffer on the ambient rayon pool
    /// (elementwise, so the bits do not depend on the thread count).
    pub fn step(&mut self, params: &mut ParamStore, grads: &ParamStore, lr: f32) {
        use rayon::prelude::*;
        const CHUNK: usize = 1 << 16;
        assert_eq!(params.layout(), self.m.layout(), "params of another layout");
        assert_eq!(grads.layout(), self.m.layout(), "grads of another layout");
        self.t += 1;
        let step_size = self.params.step_size(lr, self.t);
        let hp = self.params;
        params
            .as_mut_slice()
            .par_chunks_mut(CHUNK)
            .zip(grads.as_slice().par_chunks(CHUNK))
            .zip(self.m.as_mut_slice().par_chunks_mut(CHUNK))
            .zip(self.v.as_mut_slice().par_chunks_mut(CHUNK))
            .for_each(|(((p, g), m), v)| dense_step(&hp, lr, step_size, p, g, m, v));
    }

    /// Bytes of optimizer state (both moments).
    pub fn state_bytes(&self) -> usize {
        self.m.bytes() + self.v.bytes()
    }
}

/// The checkpoint format: per parameter (layout order) `{name}.exp_avg` and
/// `{name}.exp_avg_sq` at the parameter's shape.
impl Optimizer for AdamW {
    fn kind(&self) -> OptimizerKind {
        OptimizerKind::Adamw
    }

    fn step(
        &mut self,
        params: &mut ParamStore,
        grads: &ParamStore,
        lr: f32,
    ) -> Result<(), RefreshError> {
        AdamW::step(self, params, grads, lr);
        Ok(())
    }

    fn steps(&self) -> u64 {
        self.t
    }

    fn state_tensors(&self) -> Vec<(String, TensorData<'_>)> {
        let mut out = Vec::new();
        for s in self.m.layout().specs() {
            for (suffix, store) in [("exp_avg", &self.m), ("exp_avg_sq", &self.v)] {
                let data = TensorData::Slice {
                    shape: s.shape.clone(),
                    data: store.slice(&s.name).expect("a layout name"),
                };
                out.push((format!("{}.{suffix}", s.name), data));
            }
        }
        out
    }

    /// Restores the moments from `{name}.exp_avg` and `{name}.exp_avg_sq`.
    /// Fails, naming the tensor, when one is missing or has another size.
    fn load_state(&mut self, t: u64, tensors: &[NamedTensor]) -> Result<(), String> {
        let specs = self.m.layout().specs().to_vec();
        for s in &specs {
            for (suffix, store) in [("exp_avg", &mut self.m), ("exp_avg_sq", &mut self.v)] {
                let name = format!("{}.{suffix}", s.name);
                let x = tensors
                    .iter()
                    .find(|x| x.name == name)
                    .ok_or_else(|| format!("optimizer state has no tensor {name}"))?;
                let dst = store.slice_mut(&s.name).expect("a layout name");
                if x.data.len() != dst.len() {
                    return Err(format!(
                        "optimizer tensor {name} has {} values, expected {}",
                        x.data.len(),
                        dst.len()
                    ));
                }
                dst.copy_from_slice(&x.data);
            }
        }
        self.t = t;
        Ok(())
    }

    fn state_bytes(&self) -> usize {
        AdamW::state_bytes(self)
    }
}
