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
//! Under autodiff (training) the same forward kernel runs, and the backward pass is ours too:
//! the ReLU's mask applied to the incoming gradient once, the input's gradient by row chunks as
//! the forward pass (skipped for the first layer, whose input needs none), the weight's gradient
//! by blocks of its rows, one single-threaded GEMM each, and the bias's as column sums. Burn's
//! path recorded four operations per layer (product, bias, ReLU) and ran each product as one GEMM
//! split across threads. Upstream, the kernels belong in `burn-flex`'s `ModuleOps::linear`.

use burn::backend::TensorMetadata;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, DispatchDevice, Flex, backend_extension};
use burn::nn::Linear;
use burn::tensor::{DType, Shape, Tensor};
use rayon::prelude::*;

use super::conv::{floats, masked, tensor, values};
use super::conv_cpu::gemm;
use crate::device::kernel_threads;

/// The extension: Burn's `linear` (then ReLU if `relu`) unless a backend says otherwise.
#[backend_extension(Flex, Autodiff)]
pub trait FastLinear: Backend {
    fn fast_linear(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        relu: bool,
    ) -> FloatTensor<Self> {
        burn_linear::<Self>(x, weight, bias, relu)
    }
}

/// Burn's own layer (then ReLU if `relu`): every other backend, and inputs the kernel does not
/// cover.
pub(super) fn burn_linear<B: Backend>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    bias: FloatTensor<B>,
    relu: bool,
) -> FloatTensor<B> {
    let y = B::linear(x, weight, Some(bias));
    if relu { B::relu(y) } else { y }
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
            return burn_linear::<Flex>(x, weight, bias, relu);
        }
        let (x, weight, bias) = (values(&x), values(&weight), values(&bias));
        let [m, k] = x.layout().shape().dims();
        let n = bias.layout().num_elements();
        let out = forward(floats(&x), floats(&weight), floats(&bias), k, relu);
        tensor(out, Shape::new([m, n]))
    }
}

/// Under autodiff: the same forward kernel, with [`LinearBackward`] recorded for the gradients.
impl<C: CheckpointStrategy> FastLinear for Autodiff<Flex, C> {
    fn fast_linear(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        relu: bool,
    ) -> FloatTensor<Self> {
        let covered = [&x, &weight, &bias].iter().all(|t| t.dtype() == DType::F32)
            && x.rank() == 2
            && weight.rank() == 2;
        if !covered {
            return burn_linear::<Self>(x, weight, bias, relu);
        }
        let (x, x_node) = x.into_parts();
        let (weight, weight_node) = weight.into_parts();
        let (bias, bias_node) = bias.into_parts();
        match LinearBackward
            .prepare::<C>([x_node, weight_node, bias_node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let output = Flex::fast_linear(x.clone(), weight.clone(), bias, relu);
                let kept = relu.then(|| output.clone());
                prep.finish((x, weight, kept), output)
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::fast_linear(x, weight, bias, relu)),
        }
    }
}

/// The backward step of the fused layer: parents are (input, weight, bias).
#[derive(Debug)]
struct LinearBackward;

impl Backward<Flex, 3> for LinearBackward {
    /// Input and weight as they were in the forward pass, and the output if a ReLU was fused.
    type State = (FlexTensor, FlexTensor, Option<FlexTensor>);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_weight, node_bias] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (x, weight, relu_output) = ops.state;
        let (x_shape, w_shape) = (x.layout().shape().clone(), weight.layout().shape().clone());
        let (x, weight) = (values(&x), values(&weight));
        // Through the ReLU: the gradient where the output was positive, in place when nothing
        // else reads it; without a ReLU the incoming gradient is read where it is.
        let grad = match relu_output {
            Some(output) => masked(grad, &output),
            None => values(&grad),
        };
        let g = floats(&grad);
        let [k, n] = w_shape.dims();
        let (gx, gw, gb) = backward(floats(&x), floats(&weight), g, k, n, node_x.is_some());
        if let (Some(node), Some(gx)) = (node_x, gx) {
            grads.register::<Flex>(node.id, tensor(gx, x_shape));
        }
        if let Some(node) = node_weight {
            grads.register::<Flex>(node.id, tensor(gw, w_shape));
        }
        if let Some(node) = node_bias {
            grads.register::<Flex>(node.id, tensor(gb, Shape::new([n])));
        }
    }
}

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

/// The gradients of y = x · w + b given the gradient `g` of y (`[m, n]`, the ReLU's mask already
/// applied): the input's (`g · wᵀ`, `[m, k]`, only if `need_x`), the weight's (`xᵀ · g`,
/// `[k, n]`) and the bias's (`g` summed over rows, `[n]`).
pub fn backward(
    x: &[f32],
    w: &[f32],
    g: &[f32],
    k: usize,
    n: usize,
    need_x: bool,
) -> (Option<Vec<f32>>, Vec<f32>, Vec<f32>) {
    let m = g.len().checked_div(n).unwrap_or(0);
    // The input's gradient and the weight's side by side: one parallel section, not two, so a
    // thread that finishes its share of one takes work from the other instead of waiting.
    let (gx, (gw, gb)) = rayon::join(
        || need_x.then(|| input_gradient(w, g, m, k, n)),
        || (weight_gradient(x, g, m, k, n), bias_gradient(g, n)),
    );
    (gx, gw, gb)
}

/// g · wᵀ (`[m, k]`), by row chunks as the forward pass.
fn input_gradient(w: &[f32], g: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
    let mut gx = vec![0.0; m * k];
    if m > 0 && k > 0 {
        let rows = chunk_rows(m, k, n);
        gx.par_chunks_mut(rows * k)
            .zip(g.par_chunks(rows * n))
            .for_each(|(gx, g)| {
                // wᵀ is read through strides: element (j, i) of wᵀ is w[i·n + j].
                gemm(
                    (g.len() / n, k, n),
                    (gx, [k, 1], false),
                    (g, [n, 1]),
                    (w, [1, n]),
                );
            });
    }
    gx
}

/// xᵀ · g (`[k, n]`). Each task a block of its rows (input features): a sum over the whole
/// batch, so the batch cannot be split without a reduction afterwards.
fn weight_gradient(x: &[f32], g: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
    let mut gw = vec![0.0; k * n];
    if k > 0 && n > 0 {
        let rows = if m * k * n < MIN_WORK {
            k
        } else {
            k.div_ceil(kernel_threads()).max(MIN_ROWS)
        };
        gw.par_chunks_mut(rows * n).enumerate().for_each(|(c, gw)| {
            // xᵀ restricted to input features c·rows…: element (i, j) is x[j·k + c·rows + i].
            let x = &x[c * rows..];
            gemm(
                (gw.len() / n, n, m),
                (gw, [n, 1], false),
                (x, [1, k]),
                (g, [n, 1]),
            );
        });
    }
    gw
}

/// g summed over its rows (`[n]`).
pub(super) fn bias_gradient(g: &[f32], n: usize) -> Vec<f32> {
    let mut gb = vec![0.0; n];
    for row in g.chunks_exact(n.max(1)) {
        for (b, &v) in gb.iter_mut().zip(row) {
            *b += v;
        }
    }
    gb
}

/// Below this many multiply-adds a task hand-off costs more than a second thread saves.
const MIN_WORK: usize = 1 << 18;
/// One AVX2 micro-kernel's height.
const MIN_ROWS: usize = 16;

/// Rows per task: the whole batch when the product is too small to be worth a second thread or
/// the caller already runs one part of the batch per thread, else about one chunk per thread, at
/// most 256 rows (a chunk's output stays in the L2 cache).
fn chunk_rows(m: usize, k: usize, n: usize) -> usize {
    const MAX_ROWS: usize = 256;
    let threads = kernel_threads();
    if m * k * n < MIN_WORK || threads == 1 {
        return m;
    }
    m.div_ceil(threads).clamp(MIN_ROWS, MAX_ROWS)
}

/// row += b, then ReLU if asked (NaN stays NaN, as in Burn and PyTorch), in one pass.
pub(super) fn add_bias(row: &mut [f32], b: &[f32], relu: bool) {
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

    /// Under autodiff the fused layer's output and its gradients (input, weight, bias) are
    /// Burn's, with and without the ReLU, for products below and above the threshold at which
    /// the work is split across threads (ragged chunks included).
    #[test]
    fn gradients_match_burns_layer() {
        let device = Device::flex().autodiff();
        let gap = |a: Tensor<2>, b: Tensor<2>| {
            let scale = b.clone().abs().max().into_scalar::<f32>().max(1e-6);
            (a - b).abs().max().into_scalar::<f32>() / scale
        };
        for (m, k, n) in [(9, 20, 7), (256, 784, 256), (300, 64, 784), (37, 300, 33)] {
            let layer = LinearConfig::new(k, n).init(&device);
            for relu in [false, true] {
                let x = Tensor::<2>::random([m, k], Distribution::Normal(0.0, 1.0), &device)
                    .require_grad();
                let ours = linear(&layer, x.clone(), relu);
                let mut burn = layer.forward(x.clone());
                if relu {
                    burn = burn::tensor::activation::relu(burn);
                }
                let out_gap = gap(ours.clone().inner(), burn.clone().inner());
                let mix = Tensor::<2>::random([m, n], Distribution::Normal(0.0, 1.0), &device);
                let ga = (ours * mix.clone()).sum().backward();
                let gb = (burn * mix).sum().backward();
                let weight = layer.weight.val();
                let bias = layer.bias.as_ref().unwrap().val();
                let bias_grad = |g| bias.grad(g).unwrap().unsqueeze::<2>();
                let gaps = [
                    out_gap,
                    gap(x.grad(&ga).unwrap(), x.grad(&gb).unwrap()),
                    gap(weight.grad(&ga).unwrap(), weight.grad(&gb).unwrap()),
                    gap(bias_grad(&ga), bias_grad(&gb)),
                ];
                assert!(
                    gaps.iter().all(|&g| g < 1e-5),
                    "({m}, {k}, {n}), relu {relu}: output, input, weight, bias gradients \
                     differ by {gaps:?}"
                );
            }
        }
    }
}
