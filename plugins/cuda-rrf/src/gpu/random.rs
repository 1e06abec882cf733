//! cuRAND: the Philox generator of a [`Workspace`] and its Gaussian draws.

use cudarc::curand::sys as rsys;
use subspace::SubspaceError;

use super::Workspace;
use super::status::rand;

/// Philox4x32-10 generator of cuRAND, reseeded for every draw.
pub(super) struct Philox(pub(super) rsys::curandGenerator_t);

// SAFETY: a workspace (and its generator) is used by one thread at a time.
unsafe impl Send for Philox {}

impl Drop for Philox {
    fn drop(&mut self) {
        // SAFETY: created by curandCreateGenerator, destroyed once.
        let _ = unsafe { rsys::curandDestroyGenerator(self.0) };
    }
}

impl Workspace {
    /// Fills `len` floats at `dst` with N(0, 1) from Philox seeded `seed`
    /// (offset 0). `len` is rounded up to even, as cuRAND requires; the
    /// buffer must hold the extra entry.
    pub(crate) fn gaussian(
        &mut self,
        dst: *mut f32,
        len: usize,
        seed: u64,
    ) -> Result<(), SubspaceError> {
        let len = len + len % 2;
        // SAFETY: `dst` holds `len` floats on this workspace's stream.
        unsafe {
            rand(
                "curandSetPseudoRandomGeneratorSeed",
                rsys::curandSetPseudoRandomGeneratorSeed(self.rng.0, seed),
            )?;
            rand(
                "curandSetGeneratorOffset",
                rsys::curandSetGeneratorOffset(self.rng.0, 0),
            )?;
            rand(
                "curandGenerateNormal",
                rsys::curandGenerateNormal(self.rng.0, dst, len, 0.0, 1.0),
            )
        }
    }
}
