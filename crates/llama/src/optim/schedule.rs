//! GaLore's learning-rate schedule, `get_cosine_schedule_with_min_lr`:
//! linear warm-up from 0, then cosine decay to `min_ratio · base_lr`.

/// GaLore's learning rate at 0-based `step` of `total`: `base · step /
/// warmup` during the warm-up, then `base · (min_ratio + (1 − min_ratio) ·
/// ½(1 + cos(π · progress)))` with `progress = (step − warmup) / (total −
/// warmup)`. Step 0 is 0, step `warmup` is `base`, step `total` is
/// `min_ratio · base` (GaLore's recipe: warmup = total/10, min_ratio 0.1).
pub fn cosine_lr(step: usize, total: usize, warmup: usize, base_lr: f32, min_ratio: f32) -> f32 {
    let factor = if step < warmup {
        step as f64 / warmup.max(1) as f64
    } else {
        let progress =
            ((step - warmup) as f64 / total.saturating_sub(warmup).max(1) as f64).min(1.0);
        let cosine = 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
        let min = f64::from(min_ratio);
        min + (1.0 - min) * cosine
    };
    (f64::from(base_lr) * factor) as f32
}
