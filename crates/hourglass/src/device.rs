//! Choosing where tensors live. Burn 0.22 picks the backend at run time through the device, so the
//! same model code serves the CPU and, with the `wgpu` feature, the GPU.

pub use burn::tensor::Device;
use burn::tensor::{Tensor, TensorData};

use crate::error::{Error, Result};

/// Which backend to run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// Burn's `flex` CPU backend.
    #[default]
    Cpu,
    /// Burn's `wgpu` backend (Vulkan, Metal or DX12); needs the `wgpu` cargo feature.
    Gpu,
}

impl std::str::FromStr for Backend {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "cpu" => Ok(Backend::Cpu),
            "gpu" | "wgpu" => Ok(Backend::Gpu),
            _ => Err(Error::invalid(format!("unknown device {s:?} (cpu or gpu)"))),
        }
    }
}

impl Backend {
    /// The plain (inference) device.
    pub fn device(self) -> Result<Device> {
        match self {
            Backend::Cpu => Ok(Device::flex()),
            #[cfg(feature = "wgpu")]
            Backend::Gpu => Ok(Device::wgpu(Default::default())),
            #[cfg(not(feature = "wgpu"))]
            Backend::Gpu => Err(Error::invalid(
                "this hourglass was built without GPU support (rebuild with --features wgpu)",
            )),
        }
    }
}

/// Rows of a flat row-major buffer as a `[rows, features]` tensor.
pub fn rows_tensor(values: Vec<f32>, features: usize, device: &Device) -> Tensor<2> {
    let rows = values.len() / features;
    Tensor::from_data(TensorData::new(values, [rows, features]), device)
}

/// The values of a tensor, back on the host.
pub fn to_vec<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("a float tensor converts to f32")
}

/// Runs `f` on one of rayon's worker threads (inline when already on one). The CPU kernels split
/// their work with rayon; started from a thread outside the pool, each parallel section parks
/// that thread and wakes it again, where from inside it hands work to the other workers by a
/// queue push (a dense training step on 2 cores: 46k context switches per 200 steps → 7.5k).
pub fn in_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    let mut out = None;
    rayon::scope(|_| out = Some(f()));
    out.expect("rayon::scope runs its closure before returning")
}
