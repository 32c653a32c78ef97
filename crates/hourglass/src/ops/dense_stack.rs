//! A stack of fully connected layers (each but possibly the last followed by a ReLU) as one
//! operation on Burn's `flex` backend, as a Burn backend extension.
//!
//! Why: layer by layer (`ops::linear`), every layer's forward and backward pass is a parallel
//! section of its own, split over the batch's rows or the weight's rows. Between sections the
//! step runs alone on one thread (autodiff's bookkeeping, allocation) while the other threads
//! spin and then sleep: on a 2-core AVX2 CPU the dense model's training step kept 1.70 of 2 CPUs
//! busy, with 26 context switches a step (BENCHMARKS.md, issue 12). Here each thread takes a part
//! of the batch's rows through every layer of the stack with single-threaded GEMMs (as batch
//! inference does), forward and then backward; the parts' weight and bias gradients are added
//! afterwards, in part order. Two parallel sections a stack, whatever its depth. Parts depend on
//! the thread count, so a seeded run repeats bit for bit with the same threads. Upstream this
//! would be a fused multi-layer perceptron in `burn-flex`.

use std::mem::MaybeUninit;

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

use super::conv::{floats, tensor, values};
use super::conv_cpu::{add_into, assume_written, gemm_uninit, relu_backward, written};
use super::linear::{add_bias, bias_gradient, burn_linear};
use crate::device::kernel_threads;

/// The extension: Burn's layers one by one unless a backend says otherwise. One function per
/// depth, as an extension takes a fixed number of tensors; `relu[i]` is layer i's activation.
#[backend_extension(Flex, Autodiff)]
pub trait FastStack: Backend {
    fn stack_1(
        x: FloatTensor<Self>,
        w1: FloatTensor<Self>,
        b1: FloatTensor<Self>,
        relu: [bool; 1],
    ) -> FloatTensor<Self> {
        burn_stack::<Self>(x, vec![(w1, b1)], &relu)
    }
    fn stack_2(
        x: FloatTensor<Self>,
        w1: FloatTensor<Self>,
        b1: FloatTensor<Self>,
        w2: FloatTensor<Self>,
        b2: FloatTensor<Self>,
        relu: [bool; 2],
    ) -> FloatTensor<Self> {
        burn_stack::<Self>(x, vec![(w1, b1), (w2, b2)], &relu)
    }
    #[allow(clippy::too_many_arguments)]
    fn stack_3(
        x: FloatTensor<Self>,
        w1: FloatTensor<Self>,
        b1: FloatTensor<Self>,
        w2: FloatTensor<Self>,
        b2: FloatTensor<Self>,
        w3: FloatTensor<Self>,
        b3: FloatTensor<Self>,
        relu: [bool; 3],
    ) -> FloatTensor<Self> {
        burn_stack::<Self>(x, vec![(w1, b1), (w2, b2), (w3, b3)], &relu)
    }
    #[allow(clippy::too_many_arguments)]
    fn stack_4(
        x: FloatTensor<Self>,
        w1: FloatTensor<Self>,
        b1: FloatTensor<Self>,
        w2: FloatTensor<Self>,
        b2: FloatTensor<Self>,
        w3: FloatTensor<Self>,
        b3: FloatTensor<Self>,
        w4: FloatTensor<Self>,
        b4: FloatTensor<Self>,
        relu: [bool; 4],
    ) -> FloatTensor<Self> {
        burn_stack::<Self>(x, vec![(w1, b1), (w2, b2), (w3, b3), (w4, b4)], &relu)
    }
}

/// A layer's weight and bias.
type Pair<B> = (FloatTensor<B>, FloatTensor<B>);

/// Burn's layers one by one: every other backend.
fn burn_stack<B: Backend>(
    mut x: FloatTensor<B>,
    layers: Vec<Pair<B>>,
    relu: &[bool],
) -> FloatTensor<B> {
    for ((w, b), &relu) in layers.into_iter().zip(relu) {
        x = burn_linear::<B>(x, w, b, relu);
    }
    x
}

/// `layers` applied in turn to `x`, layer i followed by a ReLU where `relu[i]`; `None` where the
/// kernel does not apply (not on flex, not f32, a layer without bias, more than four layers):
/// then the caller runs the layers one by one.
pub fn dense_stack(layers: &[Linear], x: &Tensor<2>, relu: &[bool]) -> Option<Tensor<2>> {
    let covered = matches!(x.device().inner().as_dispatch(), DispatchDevice::Flex(_))
        && x.dtype() == DType::F32
        && (1..=4).contains(&layers.len())
        && layers.len() == relu.len()
        && layers.iter().all(|l| l.bias.is_some());
    if !covered {
        return None;
    }
    let mut p = layers.iter().map(|l| {
        let bias = l.bias.as_ref().expect("checked above");
        (l.weight.val().into_dispatch(), bias.val().into_dispatch())
    });
    let mut next = || p.next().expect("one pair per layer");
    let x = x.clone().into_dispatch();
    type D = Dispatch;
    let y = match *relu {
        [a] => {
            let (w1, b1) = next();
            <D as FastStack>::stack_1(x, w1, b1, [a])
        }
        [a, b] => {
            let ((w1, b1), (w2, b2)) = (next(), next());
            <D as FastStack>::stack_2(x, w1, b1, w2, b2, [a, b])
        }
        [a, b, c] => {
            let ((w1, b1), (w2, b2), (w3, b3)) = (next(), next(), next());
            <D as FastStack>::stack_3(x, w1, b1, w2, b2, w3, b3, [a, b, c])
        }
        [a, b, c, d] => {
            let ((w1, b1), (w2, b2), (w3, b3), (w4, b4)) = (next(), next(), next(), next());
            <D as FastStack>::stack_4(x, w1, b1, w2, b2, w3, b3, w4, b4, [a, b, c, d])
        }
        _ => unreachable!("one to four layers, checked above"),
    };
    Some(Tensor::from_dispatch(y))
}

/// The trait's four functions in an impl, each gathering its (weight, bias) pairs for `$run`
/// (called as `$run(x, layers, &relu)`).
macro_rules! stack_fns {
    ($t:ty, $run:expr) => {
        fn stack_1(x: $t, w1: $t, b1: $t, relu: [bool; 1]) -> $t {
            $run(x, vec![(w1, b1)], &relu)
        }
        fn stack_2(x: $t, w1: $t, b1: $t, w2: $t, b2: $t, relu: [bool; 2]) -> $t {
            $run(x, vec![(w1, b1), (w2, b2)], &relu)
        }
        #[allow(clippy::too_many_arguments)]
        fn stack_3(x: $t, w1: $t, b1: $t, w2: $t, b2: $t, w3: $t, b3: $t, relu: [bool; 3]) -> $t {
            $run(x, vec![(w1, b1), (w2, b2), (w3, b3)], &relu)
        }
        #[allow(clippy::too_many_arguments)]
        fn stack_4(
            x: $t,
            w1: $t,
            b1: $t,
            w2: $t,
            b2: $t,
            w3: $t,
            b3: $t,
            w4: $t,
            b4: $t,
            relu: [bool; 4],
        ) -> $t {
            $run(x, vec![(w1, b1), (w2, b2), (w3, b3), (w4, b4)], &relu)
        }
    };
}

impl FastStack for Flex {
    stack_fns!(FlexTensor, flex_stack);
}

/// Whether the kernel covers these tensors (flex's, or autodiff's around them): f32, a 2-D
/// input, 2-D weights chained in shape.
fn covered<T: TensorMetadata>(x: &T, layers: &[(T, T)]) -> bool {
    let f32s = std::iter::once(x)
        .chain(layers.iter().flat_map(|(w, b)| [w, b]))
        .all(|t| t.dtype() == DType::F32);
    f32s && chains(
        x.shape(),
        layers.iter().map(|(w, b)| (w.shape(), b.shape())),
    )
}

/// Whether a 2-D input of shape `x` goes through layers of these (weight, bias) shapes.
fn chains(x: Shape, layers: impl Iterator<Item = (Shape, Shape)>) -> bool {
    if x.num_dims() != 2 || x[1] == 0 {
        return false;
    }
    let mut width = x[1];
    for (w, b) in layers {
        if w.num_dims() != 2 || w[0] != width || w[1] == 0 || b.num_elements() != w[1] {
            return false;
        }
        width = w[1];
    }
    true
}

/// The forward pass on flex: every layer's output is computed, the last one returned.
fn flex_stack(x: FlexTensor, layers: Vec<(FlexTensor, FlexTensor)>, relu: &[bool]) -> FlexTensor {
    if !covered(&x, &layers) {
        return burn_stack::<Flex>(x, layers, relu);
    }
    let mut outputs = forward_tensors(&x, &layers, relu);
    outputs.pop().expect("at least one layer")
}

/// Every layer's output, `[m, n]` each.
fn forward_tensors(
    x: &FlexTensor,
    layers: &[(FlexTensor, FlexTensor)],
    relu: &[bool],
) -> Vec<FlexTensor> {
    let x = values(x);
    let params: Vec<(FlexTensor, FlexTensor)> =
        layers.iter().map(|(w, b)| (values(w), values(b))).collect();
    let specs: Vec<Layer> = params
        .iter()
        .zip(relu)
        .map(|((w, b), &relu)| Layer::new(floats(w), floats(b), relu))
        .collect();
    let m = x.layout().shape()[0];
    let outputs = forward(floats(&x), &specs);
    outputs
        .into_iter()
        .zip(&specs)
        .map(|(values, l)| tensor(values, Shape::new([m, l.n()])))
        .collect()
}

/// Under autodiff the parents are the input and each layer's weight and bias: 2·layers + 1.
impl<C: CheckpointStrategy> FastStack for Autodiff<Flex, C> {
    stack_fns!(FloatTensor<Self>, |x, layers: Vec<_>, relu: &[bool]| {
        match layers.len() {
            1 => tracked::<C, 3>(x, layers, relu),
            2 => tracked::<C, 5>(x, layers, relu),
            3 => tracked::<C, 7>(x, layers, relu),
            4 => tracked::<C, 9>(x, layers, relu),
            n => unreachable!("the extension's functions take 1 to 4 layers, not {n}"),
        }
    });
}

/// Under autodiff: the forward kernel, with [`StackBackward`] recorded for the gradients. `N` is
/// the number of parents: the input, then each layer's weight and bias.
fn tracked<C: CheckpointStrategy, const N: usize>(
    x: FloatTensor<Autodiff<Flex, C>>,
    layers: Vec<Pair<Autodiff<Flex, C>>>,
    relu: &[bool],
) -> FloatTensor<Autodiff<Flex, C>> {
    if !covered(&x, &layers) {
        return burn_stack::<Autodiff<Flex, C>>(x, layers, relu);
    }
    let (x, x_node) = x.into_parts();
    let mut nodes = vec![x_node];
    let mut params = Vec::with_capacity(layers.len());
    for (w, b) in layers {
        let ((w, w_node), (b, b_node)) = (w.into_parts(), b.into_parts());
        nodes.extend([w_node, b_node]);
        params.push((w, b));
    }
    let nodes: [_; N] = nodes
        .try_into()
        .unwrap_or_else(|_| panic!("dense stack: {N} parents expected"));
    let relu = relu.to_vec();
    match StackBackward.prepare::<C>(nodes).compute_bound().stateful() {
        OpsKind::Tracked(prep) => {
            let mut outputs = forward_tensors(&x, &params, &relu);
            // The last output is kept only for its ReLU's mask: without one it leaves unshared,
            // and the next operation (the output's sigmoid) may write over it in place.
            let last = if relu.last() == Some(&true) {
                outputs.last().cloned()
            } else {
                outputs.pop()
            };
            let last = last.expect("at least one layer");
            let weights = params.into_iter().map(|(w, _)| w).collect();
            prep.finish((x, weights, outputs, relu), last)
        }
        OpsKind::UnTracked(prep) => prep.finish(flex_stack(x, params, &relu)),
    }
}

/// The backward step of the stack: parents are the input, then each layer's weight and bias.
#[derive(Debug)]
struct StackBackward;

impl<const N: usize> Backward<Flex, N> for StackBackward {
    /// The input, the weights, every layer's output (for the ReLUs' masks and the next layer's
    /// weight gradient; the last one only if a ReLU follows it), and the ReLU flags.
    type State = (FlexTensor, Vec<FlexTensor>, Vec<FlexTensor>, Vec<bool>);

    fn backward(self, ops: Ops<Self::State, N>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<Flex>(&ops.node);
        let (x, weights, outputs, relu) = ops.state;
        let grad = values(&grad);
        let x_shape = x.layout().shape().clone();
        let x = values(&x);
        let weights: Vec<FlexTensor> = weights.iter().map(values).collect();
        let outputs: Vec<FlexTensor> = outputs.iter().map(values).collect();
        let specs: Vec<Layer> = weights
            .iter()
            .zip(&relu)
            .map(|(w, &relu)| Layer {
                w: floats(w),
                b: &[],
                k: w.layout().shape()[0],
                relu,
            })
            .collect();
        let outs: Vec<&[f32]> = outputs.iter().map(floats).collect();
        let need_x = ops.parents[0].is_some();
        let (gx, layer_grads) = backward(floats(&x), &outs, floats(&grad), &specs, need_x);
        if let (Some(node), Some(gx)) = (&ops.parents[0], gx) {
            grads.register::<Flex>(node.id, tensor(gx, x_shape));
        }
        for (i, ((gw, gb), w)) in layer_grads.into_iter().zip(&weights).enumerate() {
            let n = gb.len();
            if let Some(node) = &ops.parents[1 + 2 * i] {
                grads.register::<Flex>(node.id, tensor(gw, w.layout().shape().clone()));
            }
            if let Some(node) = &ops.parents[2 + 2 * i] {
                grads.register::<Flex>(node.id, tensor(gb, Shape::new([n])));
            }
        }
    }
}

/// One layer as the kernels see it: `w` is `[k, n]` row-major, `b` `[n]` (empty in the
/// backward pass, which does not read it).
struct Layer<'a> {
    w: &'a [f32],
    b: &'a [f32],
    k: usize,
    relu: bool,
}

impl<'a> Layer<'a> {
    fn new(w: &'a [f32], b: &'a [f32], relu: bool) -> Self {
        let k = w.len().checked_div(b.len()).unwrap_or(0);
        Layer { w, b, k, relu }
    }

    fn n(&self) -> usize {
        self.w.len().checked_div(self.k).unwrap_or(0)
    }
}

/// Below this many multiply-adds over the whole stack, one thread does it all: a hand-off costs
/// more than a second thread saves.
const MIN_WORK: usize = 1 << 18;
/// Fewest rows in a part: one AVX2 micro-kernel's height.
const MIN_ROWS: usize = 16;

/// Rows per part: one part per thread, unless the stack is too small to share.
fn part_rows(m: usize, layers: &[Layer]) -> usize {
    let work: usize = layers.iter().map(|l| l.k * l.n()).sum::<usize>() * m;
    let threads = kernel_threads();
    if work < MIN_WORK || threads == 1 {
        return m.max(1);
    }
    m.div_ceil(threads).max(MIN_ROWS)
}

/// Every layer's output (`[m, n]` each, row-major) for input `x` (`[m, k]`): each part of the
/// rows goes through all the layers on one thread.
fn forward(x: &[f32], layers: &[Layer]) -> Vec<Vec<f32>> {
    let k0 = layers.first().map_or(0, |l| l.k);
    let m = x.len().checked_div(k0).unwrap_or(0);
    // Not zeroed first: the products write every value.
    let mut outputs: Vec<Vec<f32>> = layers
        .iter()
        .map(|l| Vec::with_capacity(m * l.n()))
        .collect();
    if m > 0 {
        let rows = part_rows(m, layers);
        // Each part's rows of every layer's output, gathered per part.
        let mut parts: Vec<Vec<&mut [MaybeUninit<f32>]>> =
            (0..m.div_ceil(rows)).map(|_| Vec::new()).collect();
        for (out, layer) in outputs.iter_mut().zip(layers) {
            let n = layer.n();
            let chunks = out.spare_capacity_mut()[..m * n].chunks_mut(rows * n);
            for (part, chunk) in parts.iter_mut().zip(chunks) {
                part.push(chunk);
            }
        }
        let run = |(x, outs): (&[f32], Vec<&mut [MaybeUninit<f32>]>)| forward_part(x, layers, outs);
        let work = x.chunks(rows * k0).zip(parts);
        if rows >= m {
            work.for_each(run);
        } else {
            work.collect::<Vec<_>>().into_par_iter().for_each(run);
        }
    }
    for (out, layer) in outputs.iter_mut().zip(layers) {
        // SAFETY: every part wrote all its rows of every layer's output (`forward_part`).
        unsafe { out.set_len(m * layer.n()) };
    }
    outputs
}

/// One part's rows through every layer: `outs[i]` receives layer i's output for these rows,
/// every value of it written.
fn forward_part(x: &[f32], layers: &[Layer], outs: Vec<&mut [MaybeUninit<f32>]>) {
    let mut input = x;
    for (layer, out) in layers.iter().zip(outs) {
        let (k, n) = (layer.k, layer.n());
        let r = input.len() / k;
        // yᵀ = wᵀ · xᵀ, as `ops::linear` computes it (no packing of the weights).
        gemm_uninit((n, r, k), (out, [1, n]), (layer.w, [1, n]), (input, [1, k]));
        // SAFETY: the product wrote all r × n values of this part's output.
        let out = unsafe { assume_written(out) };
        for row in out.chunks_exact_mut(n) {
            add_bias(row, layer.b, layer.relu);
        }
        input = out;
    }
}

/// A layer's weight and bias gradients.
type LayerGrads = (Vec<f32>, Vec<f32>);

/// The gradients of the stack given `grad`, the gradient of its last output: the input's (if
/// `need_x`) and each layer's weight and bias. Each part of the rows goes back through all the
/// layers on one thread; the parts' weight and bias gradients are then added in part order.
fn backward(
    x: &[f32],
    outputs: &[&[f32]],
    grad: &[f32],
    layers: &[Layer],
    need_x: bool,
) -> (Option<Vec<f32>>, Vec<LayerGrads>) {
    let k0 = layers.first().map_or(0, |l| l.k);
    let n_last = layers.last().map_or(0, |l| l.n());
    let m = x.len().checked_div(k0).unwrap_or(0);
    let rows = part_rows(m, layers);
    let parts: Vec<(usize, &[f32])> = grad
        .chunks(rows * n_last)
        .enumerate()
        .map(|(p, g)| (p * rows, g))
        .collect();
    if parts.is_empty() {
        // No rows: every gradient is zero.
        let zeros = layers
            .iter()
            .map(|l| (vec![0.0; l.k * l.n()], vec![0.0; l.n()]));
        return (need_x.then(Vec::new), zeros.collect());
    }
    let run = |&(first, g): &(usize, &[f32])| backward_part(x, outputs, first, g, layers, need_x);
    let results: Vec<(Option<Vec<f32>>, Vec<LayerGrads>)> = if parts.len() > 1 {
        parts.par_iter().map(run).collect()
    } else {
        parts.iter().map(run).collect()
    };
    let mut gx = need_x.then(|| Vec::with_capacity(m * k0));
    let mut sums: Vec<Vec<LayerGrads>> = Vec::with_capacity(results.len());
    for (part_gx, part_grads) in results {
        if let (Some(gx), Some(part)) = (gx.as_mut(), part_gx) {
            gx.extend_from_slice(&part);
        }
        sums.push(part_grads);
    }
    (gx, add_parts(sums))
}

/// One part's rows (from row `first`, gradient `g` of the last output) back through every layer.
fn backward_part(
    x: &[f32],
    outputs: &[&[f32]],
    first: usize,
    g: &[f32],
    layers: &[Layer],
    need_x: bool,
) -> (Option<Vec<f32>>, Vec<LayerGrads>) {
    let r = g.len() / layers.last().map_or(1, |l| l.n()).max(1);
    let mut g = g.to_vec();
    let mut grads = Vec::with_capacity(layers.len());
    for (i, layer) in layers.iter().enumerate().rev() {
        let (k, n) = (layer.k, layer.n());
        if layer.relu {
            relu_backward(&mut g, &outputs[i][first * n..][..r * n]);
        }
        let input = if i == 0 { x } else { outputs[i - 1] };
        let input = &input[first * k..][..r * k];
        // xᵀ · g over this part's rows: element (i, j) of xᵀ is x[j·k + i].
        // SAFETY: the product's k × n result covers the whole buffer.
        let gw = unsafe {
            written(k * n, |gw| {
                gemm_uninit((k, n, r), (gw, [n, 1]), (input, [1, k]), (&g, [n, 1]))
            })
        };
        grads.push((gw, bias_gradient(&g, n)));
        if i > 0 || need_x {
            // g · wᵀ: element (j, i) of wᵀ is w[i·n + j].
            // SAFETY: the product's r × k result covers the whole buffer.
            g = unsafe {
                written(r * k, |gx| {
                    gemm_uninit((r, k, n), (gx, [k, 1]), (&g, [n, 1]), (layer.w, [1, n]))
                })
            };
        }
    }
    grads.reverse();
    (need_x.then_some(g), grads)
}

/// The parts' gradients added layer by layer, in part order (the same sum on every run), the
/// long ones in pieces across threads.
fn add_parts(mut parts: Vec<Vec<LayerGrads>>) -> Vec<LayerGrads> {
    let rest = parts.split_off(1.min(parts.len()));
    let mut total = parts.pop().unwrap_or_default();
    if rest.is_empty() {
        return total;
    }
    const PIECE: usize = 1 << 14;
    for (i, (gw, gb)) in total.iter_mut().enumerate() {
        let add = |offset: usize, acc: &mut [f32]| {
            for part in &rest {
                add_into(acc, &part[i].0[offset..][..acc.len()]);
            }
        };
        if gw.len() >= 2 * PIECE {
            gw.par_chunks_mut(PIECE)
                .enumerate()
                .for_each(|(p, acc)| add(p * PIECE, acc));
        } else {
            add(0, gw);
        }
        for part in &rest {
            add_into(gb, &part[i].1);
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::LinearConfig;
    use burn::tensor::{Device, Distribution};

    fn burns(layers: &[Linear], mut x: Tensor<2>, relu: &[bool]) -> Tensor<2> {
        for (layer, &relu) in layers.iter().zip(relu) {
            x = layer.forward(x);
            if relu {
                x = burn::tensor::activation::relu(x);
            }
        }
        x
    }

    fn gap(a: Tensor<2>, b: Tensor<2>) -> f32 {
        let scale = b.clone().abs().max().into_scalar::<f32>().max(1e-6);
        (a - b).abs().max().into_scalar::<f32>() / scale
    }

    /// The stack's output and every gradient (input, each weight and bias) are those of Burn's
    /// layers one by one: one to four layers, with and without a ReLU after the last, batches
    /// that one thread takes alone, that the threads share, and that leave a ragged last part.
    #[test]
    fn matches_burns_layers_and_their_gradients() {
        let device = Device::flex().autodiff();
        let cases: [(usize, &[usize]); 5] = [
            (7, &[5, 3]),
            (256, &[784, 256, 64, 32]),
            (301, &[64, 128, 32, 16, 8]),
            (64, &[32, 64, 256, 784]),
            (33, &[300, 40, 9]),
        ];
        for (m, widths) in cases {
            let layers: Vec<Linear> = widths
                .windows(2)
                .map(|w| LinearConfig::new(w[0], w[1]).init(&device))
                .collect();
            for last_relu in [false, true] {
                let relu: Vec<bool> = (0..layers.len())
                    .map(|i| i + 1 < layers.len() || last_relu)
                    .collect();
                let x =
                    Tensor::<2>::random([m, widths[0]], Distribution::Normal(0.0, 1.0), &device)
                        .require_grad();
                let ours = dense_stack(&layers, &x, &relu).expect("covered");
                let burn = burns(&layers, x.clone(), &relu);
                let n = *widths.last().unwrap();
                let mut gaps = vec![gap(ours.clone().inner(), burn.clone().inner())];
                let mix = Tensor::<2>::random([m, n], Distribution::Normal(0.0, 1.0), &device);
                let ga = (ours * mix.clone()).sum().backward();
                let gb = (burn * mix).sum().backward();
                gaps.push(gap(x.grad(&ga).unwrap(), x.grad(&gb).unwrap()));
                for layer in &layers {
                    let (w, b) = (layer.weight.val(), layer.bias.as_ref().unwrap().val());
                    gaps.push(gap(w.grad(&ga).unwrap(), w.grad(&gb).unwrap()));
                    let bias = |g| b.grad(g).unwrap().unsqueeze::<2>();
                    gaps.push(gap(bias(&ga), bias(&gb)));
                }
                assert!(
                    gaps.iter().all(|&g| g < 1e-5),
                    "{m} rows through {widths:?}, ReLUs {relu:?}: output, input, then each \
                     weight and bias gradient differ by {gaps:?}"
                );
            }
        }
    }

    /// Without autodiff (inference) the stack gives Burn's output too, and five layers (more
    /// than the kernel takes) are left to the caller.
    #[test]
    fn inference_matches_and_deep_stacks_are_handed_back() {
        let device = Device::flex();
        let widths = [20, 16, 8, 4, 8, 16];
        let layers: Vec<Linear> = widths
            .windows(2)
            .map(|w| LinearConfig::new(w[0], w[1]).init(&device))
            .collect();
        let x = Tensor::<2>::random([50, 20], Distribution::Normal(0.0, 1.0), &device);
        let relu = [true, true, false, true];
        let ours = dense_stack(&layers[..4], &x, &relu).expect("covered");
        assert!(gap(ours, burns(&layers[..4], x.clone(), &relu)) < 1e-5);
        let back = dense_stack(&layers, &x, &[true; 5]).is_none();
        assert!(back, "five layers are not the kernel's");
    }
}
