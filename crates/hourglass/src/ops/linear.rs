//! A faster fully connected layer for inference on Burn's `flex` backend, as a Burn backend
//! extension.
//!
//! Why: on an AVX2 CPU, flex ran dense inference at about half PyTorch's rate (profile in
//! BENCHMARKS.md, issue 12). Flex hands the whole product to one GEMM, which runs on one thread
//! below its parallel threshold (192³ multiply-adds: at batch 64 only the 784-wide layers used
//! both cores), then adds the bias and applies the ReLU in two more passes over the output. Here
//! the batch is cut into row chunks, one rayon task each, every chunk a single-threaded GEMM whose
//! output gets its bias and ReLU while it is still in cache, as the convolution kernels do.
//!
//! Only the forward pass without autodiff (inference: `score`, `serve`, `transform`) takes the new
//! kernel. Under autodiff the extension is Burn's own `linear`, so training is computed exactly as
//! before. Upstream, the kernel belongs in `burn-flex`'s `ModuleOps::linear`.

use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::flex::FlexTensor;
use burn::backend::ops::{ActivationOps, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, DispatchDevice, Flex, backend_extension};
use burn::nn::Linear;
use burn::tensor::{DType, Shape, Tensor};
use rayon::prelude::*;

use super::conv::{floats, tensor, values};
use super::conv_cpu::gemm;

/// The extension: Burn's `linear` (then ReLU if `relu`) unless a backend says otherwise.
#[backend_extension(Flex, Autodiff)]
pub trait FastLinear: Backend {
    fn fast_linear(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        relu: bool,
    ) -> FloatTensor<Self> {
        let y = Self::linear(x, weight, Some(bias));
        if relu { Self::relu(y) } else { y }
    }
}

/// `layer.forward(x)` (then ReLU if `relu`), through the fast kernel on flex.
pub fn linear(layer: &Linear, x: Tensor<2>, relu: bool) -> Tensor<2> {
    let covered = matches!(x.device().inner().as_dispatch(), DispatchDevice::Flex(_))
        && x.dtype() == DType::F32;
    let (Some(bias), true) = (&layer.bias, covered) else {
        let y = layer.forward(x);
        return if relu {
            burn::tensor::activation::relu(y)
        } else {
            y
        };
    };
    Tensor::from_dispatch(<Dispatch as FastLinear>::fast_linear(
        x.into_dispatch(),
        layer.weight.val().into_dispatch(),
        bias.val().into_dispatch(),
        relu,
    ))
}

impl FastLinear for Flex {
    fn fast_linear(x: FlexTensor, weight: FlexTensor, bias: FlexTensor, relu: bool) -> FlexTensor {
        let dims = |t: &FlexTensor| t.layout().shape().num_dims();
        if [&x, &weight, &bias].iter().any(|t| t.dtype() != DType::F32)
            || dims(&x) != 2
            || dims(&weight) != 2
        {
            let y = Flex::linear(x, weight, Some(bias));
            return if relu { Flex::relu(y) } else { y };
        }
        let (x, weight, bias) = (values(&x), values(&weight), values(&bias));
        let [m, k] = x.layout().shape().dims();
        let n = bias.layout().num_elements();
        let out = forward(floats(&x), floats(&weight), floats(&bias), k, relu);
        tensor(out, Shape::new([m, n]))
    }
}

/// Under autodiff: Burn's own `linear`, recorded for its backward pass as before.
impl<B: Backend + FastLinear, C: CheckpointStrategy> FastLinear for Autodiff<B, C> {}

/// y = x · w + b, then max(y, 0) if `relu`: `x` is `[m, k]`, `w` `[k, n]`, `b` `[n]`, all
/// row-major; the result is `[m, n]`.
pub fn forward(x: &[f32], w: &[f32], b: &[f32], k: usize, relu: bool) -> Vec<f32> {
    let n = b.len();
    let m = x.len().checked_div(k).unwrap_or(0);
    let mut out = vec![0.0; m * n];
    if m == 0 || n == 0 {
        return out;
    }
    let rows = chunk_rows(m, k, n);
    out.par_chunks_mut(rows * n)
        .zip(x.par_chunks(rows * k))
        .for_each(|(out, x)| {
            let r = x.len() / k;
            // As yᵀ = wᵀ · xᵀ, both operands are read along their contiguous dimension, which
            // spares gemm the packing of the weights for every chunk (as fast or faster than
            // y = x · w on each of the benchmark's layer shapes, AVX2, 2 threads).
            gemm((n, r, k), (out, [1, n], false), (w, [1, n]), (x, [1, k]));
            for row in out.chunks_exact_mut(n) {
                add_bias(row, b, relu);
            }
        });
    out
}

/// Rows per task: the whole batch when the product is too small to be worth a second thread,
/// else about one chunk per thread, at most 256 rows (a chunk's output stays in the L2 cache).
fn chunk_rows(m: usize, k: usize, n: usize) -> usize {
    const MIN_WORK: usize = 1 << 18; // multiply-adds; below this a task hand-off costs more
    const MIN_ROWS: usize = 16; // one AVX2 micro-kernel's height
    const MAX_ROWS: usize = 256;
    if m * k * n < MIN_WORK {
        return m;
    }
    let threads = rayon::current_num_threads().max(1);
    m.div_ceil(threads).clamp(MIN_ROWS, MAX_ROWS)
}

/// row += b, then ReLU if asked (NaN stays NaN, as in Burn and PyTorch), in one pass.
fn add_bias(row: &mut [f32], b: &[f32], relu: bool) {
    if relu {
        for (v, &b) in row.iter_mut().zip(b) {
            let s = *v + b;
            *v = if s < 0.0 { 0.0 } else { s };
        }
    } else {
        for (v, &b) in row.iter_mut().zip(b) {
            *v += b;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::LinearConfig;
    use burn::tensor::{Device, Distribution};

    /// The fused kernel gives Burn's result, with and without the ReLU, for batch sizes that
    /// take one chunk, several chunks and a ragged last chunk.
    #[test]
    fn matches_burns_linear_layer() {
        let device = Device::flex();
        for (m, k, n) in [(1, 784, 256), (64, 784, 256), (1000, 300, 129), (37, 5, 3)] {
            let layer = LinearConfig::new(k, n).init(&device);
            let x = Tensor::<2>::random([m, k], Distribution::Normal(0.0, 1.0), &device);
            for relu in [false, true] {
                let ours = linear(&layer, x.clone(), relu);
                let mut burn = layer.forward(x.clone());
                if relu {
                    burn = burn::tensor::activation::relu(burn);
                }
                assert_eq!(ours.dims(), [m, n]);
                let scale = burn.clone().abs().max().into_scalar::<f32>().max(1e-6);
                let gap = (ours - burn).abs().max().into_scalar::<f32>() / scale;
                assert!(gap < 1e-5, "({m}, {k}, {n}), relu {relu}: differs by {gap}");
            }
        }
    }

    /// Under autodiff the extension is Burn's layer, gradients included.
    #[test]
    fn trains_through_burns_own_backward_pass() {
        let device = Device::flex().autodiff();
        let layer = LinearConfig::new(20, 7).init(&device);
        let x = Tensor::<2>::random([9, 20], Distribution::Normal(0.0, 1.0), &device);
        let ours = linear(&layer, x.clone(), true).sum().backward();
        let burn = burn::tensor::activation::relu(layer.forward(x))
            .sum()
            .backward();
        let grad = |grads| crate::device::to_vec(layer.weight.val().grad(grads).unwrap());
        assert_eq!(grad(&ours), grad(&burn));
    }
}
