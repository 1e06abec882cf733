//! The SIMD state after faer's kernels.
//!
//! faer's x86 kernels can return with the upper halves of the AVX registers
//! dirty, which makes SSE code that follows (ours, libm's) pay a transition
//! on every instruction: docs/numerics.md#avx-upper-state.

/// Clears the upper halves of the AVX registers (`vzeroupper`) where the
/// CPU has AVX; nothing elsewhere. Call it after a faer kernel that scalar
/// code follows. It changes no value.
#[inline]
pub fn clear_upper_simd() {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx")]
        fn vzeroupper() {
            std::arch::x86_64::_mm256_zeroupper();
        }
        if std::arch::is_x86_feature_detected!("avx") {
            // SAFETY: the CPU has AVX, checked just above.
            unsafe { vzeroupper() }
        }
    }
}
