//! Backend choice by name at run time, among the backends compiled in (Cargo features `flex`,
//! `ndarray`, `wgpu`, `cuda`). Code stays generic over `B: AutodiffBackend`; a binary hands a
//! [`BackendTask`] to [`run_on`].

use burn::tensor::backend::AutodiffBackend;

use crate::{Result, VlmError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackendKind {
    /// Pure-Rust CPU backend (default).
    Flex,
    /// ndarray CPU backend.
    Ndarray,
    /// GPUs through Vulkan/Metal/DX12 (or Mesa's software Vulkan on a CPU).
    Wgpu,
    /// NVIDIA GPUs (driver loaded at run time).
    Cuda,
}

impl BackendKind {
    pub const ALL: [BackendKind; 4] = [
        BackendKind::Flex,
        BackendKind::Ndarray,
        BackendKind::Wgpu,
        BackendKind::Cuda,
    ];

    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Flex => "flex",
            BackendKind::Ndarray => "ndarray",
            BackendKind::Wgpu => "wgpu",
            BackendKind::Cuda => "cuda",
        }
    }

    /// Whether this build includes the backend.
    pub fn is_compiled(self) -> bool {
        match self {
            BackendKind::Flex => cfg!(feature = "flex"),
            BackendKind::Ndarray => cfg!(feature = "ndarray"),
            BackendKind::Wgpu => cfg!(feature = "wgpu"),
            BackendKind::Cuda => cfg!(feature = "cuda"),
        }
    }

    /// The backends this build includes.
    pub fn compiled() -> Vec<BackendKind> {
        Self::ALL.into_iter().filter(|k| k.is_compiled()).collect()
    }

    /// Fails with a helpful error when the backend is not compiled in or has no device. CUDA is
    /// checked by looking for the driver library before anything touches it (cudarc panics
    /// without one).
    pub fn check(self) -> Result<()> {
        if !self.is_compiled() {
            return Err(VlmError::BackendNotCompiled {
                name: self.name(),
                compiled: Self::compiled()
                    .iter()
                    .map(|k| k.name())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        if self == BackendKind::Cuda && !cuda_driver_present() {
            return Err(VlmError::NoDevice {
                name: "cuda",
                message: "no NVIDIA driver library (libcuda.so) found; install the driver or \
                          choose another backend"
                    .into(),
            });
        }
        Ok(())
    }
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for BackendKind {
    type Err = VlmError;
    fn from_str(s: &str) -> Result<Self> {
        let wanted = s.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|k| k.name() == wanted)
            .ok_or_else(|| VlmError::UnknownBackend(s.to_string()))
    }
}

/// Whether the CUDA driver library can be found (LD_LIBRARY_PATH and the usual directories).
pub fn cuda_driver_present() -> bool {
    let mut dirs: Vec<std::path::PathBuf> = std::env::var_os("LD_LIBRARY_PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(
        [
            "/usr/lib/x86_64-linux-gnu",
            "/usr/lib/aarch64-linux-gnu",
            "/usr/lib64",
            "/usr/lib",
            "/usr/local/cuda/lib64",
            "/usr/local/cuda/compat",
            "/usr/lib/wsl/lib",
        ]
        .map(Into::into),
    );
    dirs.iter()
        .any(|d| d.join("libcuda.so.1").exists() || d.join("libcuda.so").exists())
}

/// Work to run on whichever backend is chosen at run time.
pub trait BackendTask {
    type Output;
    fn run<B: AutodiffBackend>(self, device: B::Device) -> Self::Output;
}

/// Run `task` on backend `kind` (with autodiff). GPU backends run under `catch_unwind`, so a
/// device failure inside the backend becomes an error instead of a crash.
// Built without any backend feature, no arm uses `task`.
#[allow(unused_variables)]
pub fn run_on<T: BackendTask>(kind: BackendKind, task: T) -> Result<T::Output> {
    kind.check()?;
    match kind {
        #[cfg(feature = "flex")]
        BackendKind::Flex => {
            Ok(task.run::<burn::backend::Autodiff<burn::backend::Flex>>(Default::default()))
        }
        #[cfg(feature = "ndarray")]
        BackendKind::Ndarray => {
            Ok(task.run::<burn::backend::Autodiff<burn::backend::NdArray>>(Default::default()))
        }
        #[cfg(feature = "wgpu")]
        BackendKind::Wgpu => guarded("wgpu", move || {
            task.run::<burn::backend::Autodiff<burn::backend::Wgpu>>(Default::default())
        }),
        #[cfg(feature = "cuda")]
        BackendKind::Cuda => guarded("cuda", move || {
            task.run::<burn::backend::Autodiff<burn::backend::Cuda>>(Default::default())
        }),
        #[allow(unreachable_patterns)]
        _ => Err(VlmError::BackendNotCompiled {
            name: kind.name(),
            compiled: String::new(),
        }),
    }
}

#[cfg(any(feature = "wgpu", feature = "cuda"))]
fn guarded<R>(name: &'static str, f: impl FnOnce() -> R) -> Result<R> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|payload| {
        let message = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "the backend failed to start".into());
        VlmError::NoDevice { name, message }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Sum;
    impl BackendTask for Sum {
        type Output = f32;
        fn run<B: AutodiffBackend>(self, device: B::Device) -> f32 {
            use burn::prelude::*;
            Tensor::<B, 1>::from_floats([1.0, 2.0, 3.0], &device)
                .sum()
                .into_scalar()
                .elem()
        }
    }

    #[test]
    fn names_parse_and_unknown_names_are_errors() {
        for kind in BackendKind::ALL {
            assert_eq!(kind.name().parse::<BackendKind>().unwrap(), kind);
        }
        assert_eq!(" CUDA ".parse::<BackendKind>().unwrap(), BackendKind::Cuda);
        let err = "tpu".parse::<BackendKind>().unwrap_err().to_string();
        assert!(err.contains("flex, ndarray, wgpu, cuda"), "{err}");
    }

    #[test]
    fn compiled_backends_run_and_missing_ones_are_errors() {
        assert!(BackendKind::compiled().contains(&BackendKind::Flex));
        assert_eq!(run_on(BackendKind::Flex, Sum).unwrap(), 6.0);
        for kind in [BackendKind::Ndarray, BackendKind::Wgpu, BackendKind::Cuda] {
            if kind.is_compiled() {
                continue;
            }
            let err = run_on(kind, Sum).unwrap_err();
            assert!(
                matches!(err, VlmError::BackendNotCompiled { .. }),
                "{kind}: {err}"
            );
            assert!(
                err.to_string().contains(&format!("--features {kind}")),
                "{err}"
            );
        }
    }

    #[test]
    fn cuda_without_driver_is_an_error_not_a_panic() {
        if !BackendKind::Cuda.is_compiled() || cuda_driver_present() {
            return;
        }
        let err = run_on(BackendKind::Cuda, Sum).unwrap_err();
        assert!(matches!(err, VlmError::NoDevice { .. }), "{err}");
    }
}
