//! The `lab` crate: the one place that lists every subspace-method plugin.
//!
//! To add a plugin, write its crate under `plugins/` and add one line to
//! [`registry`]; the conformance tests (`tests/conformance.rs`) then run it.
//! [`heap`] is the counting global allocator the binary installs and those
//! tests measure `workspace_bytes` with.

pub mod heap;

use subspace::{Registry, RegistryError};

/// Every plugin the lab knows, in the order `lab list` shows them.
pub fn registry() -> Result<Registry, RegistryError> {
    let mut r = Registry::new();
    r.register::<svd::Svd>()?;
    r.register::<lanczos::Lanczos>()?;
    r.register::<rrf::Rrf>()?;
    r.register::<cuda_rrf::CudaRrf>()?;
    r.register::<cuda_rrf::CudaSvd>()?;
    r.register::<subspace_iteration::SubspaceIteration>()?;
    r.register::<online_pca::OnlinePca>()?;
    r.register::<random::Random>()?;
    r.register::<dct::Dct>()?;
    Ok(r)
}
