//! Each library's status mapped to [`SubspaceError::Kernel`] naming the
//! call, and the 32-bit dimensions of the cuBLAS / cuSOLVER interface.

use cudarc::cublas::sys as bsys;
use cudarc::curand::sys as rsys;
use cudarc::cusolver::sys as ssys;
use cudarc::driver::DriverError;
use subspace::SubspaceError;

pub(crate) fn driver<T>(
    kernel: &'static str,
    r: Result<T, DriverError>,
) -> Result<T, SubspaceError> {
    r.map_err(|e| SubspaceError::Kernel {
        kernel,
        reason: e.to_string(),
    })
}

pub(super) fn blas(kernel: &'static str, s: bsys::cublasStatus_t) -> Result<(), SubspaceError> {
    s.result().map_err(|e| SubspaceError::Kernel {
        kernel,
        reason: e.to_string(),
    })
}

pub(super) fn solver(kernel: &'static str, s: ssys::cusolverStatus_t) -> Result<(), SubspaceError> {
    s.result().map_err(|e| SubspaceError::Kernel {
        kernel,
        reason: e.to_string(),
    })
}

pub(super) fn rand(kernel: &'static str, s: rsys::curandStatus_t) -> Result<(), SubspaceError> {
    s.result().map_err(|e| SubspaceError::Kernel {
        kernel,
        reason: e.to_string(),
    })
}

pub(super) fn int(x: usize) -> i32 {
    i32::try_from(x).expect("matrix dimension exceeds the 32-bit cuBLAS/cuSOLVER interface")
}
