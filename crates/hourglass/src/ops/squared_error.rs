//! The mean squared error of two tensors in one pass, as a Burn backend extension.
//!
//! Why: Burn's `(prediction - target).square().mean()` is three operations on flex, each a
//! single-threaded pass over the batch's reconstruction with a buffer of its own, and its backward
//! pass three more (the mean's gradient filled out to the batch's shape, the square's, the
//! difference's). On the dense benchmark model that is a [256, 784] batch six times a step, on one
//! thread while the other waits. Here the forward pass is one parallel sum and the backward pass
//! one parallel write of 2·(p − t)·g / n. Upstream, this is a fused `mse_loss` in Burn's nn
//! module.

use burn::backend::TensorMetadata;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::ops::ActivationOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, DispatchDevice, Flex, backend_extension};
use burn::tensor::{DType, Shape, Tensor};
use rayon::prelude::*;

use super::conv::{floats, tensor, values};
use super::sigmoid::FastSigmoid;
use crate::device::kernel_threads;

/// The extension: Burn's operations unless a backend says otherwise.
#[backend_extension(Flex, Autodiff)]
pub trait FastSquaredError: Backend {
    fn mean_squared_error(
        prediction: FloatTensor<Self>,
        target: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        burn_mean_squared_error::<Self>(prediction, target)
    }

    /// mean((σ(logits) − target)²): the sigmoid output layer and the loss as one operation.
    fn sigmoid_mean_squared_error(
        logits: FloatTensor<Self>,
        target: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        burn_mean_squared_error::<Self>(Self::sigmoid(logits), target)
    }
}

fn burn_mean_squared_error<B: Backend>(
    prediction: FloatTensor<B>,
    target: FloatTensor<B>,
) -> FloatTensor<B> {
    let difference = B::float_sub(prediction, target);
    B::float_mean(B::float_mul(difference.clone(), difference))
}

/// mean((prediction − target)²) over every entry, as a one-element tensor: one pass on flex.
pub fn mean_squared_error(prediction: Tensor<2>, target: Tensor<2>) -> Tensor<1> {
    if matches!(
        prediction.device().inner().as_dispatch(),
        DispatchDevice::Flex(_)
    ) && prediction.dims() == target.dims()
    {
        Tensor::from_dispatch(<Dispatch as FastSquaredError>::mean_squared_error(
            prediction.into_dispatch(),
            target.into_dispatch(),
        ))
    } else {
        (prediction - target).square().mean()
    }
}

/// mean((σ(logits) − target)²) as a one-element tensor: on flex one operation whose backward
/// pass writes the logits' gradient 2·(y − t)·y·(1 − y)·g / n in one parallel pass (apart, the
/// sigmoid's backward was a single-threaded pass of its own, with a buffer of its own).
pub fn sigmoid_mean_squared_error(logits: Tensor<2>, target: Tensor<2>) -> Tensor<1> {
    if matches!(
        logits.device().inner().as_dispatch(),
        DispatchDevice::Flex(_)
    ) && logits.dims() == target.dims()
    {
        Tensor::from_dispatch(<Dispatch as FastSquaredError>::sigmoid_mean_squared_error(
            logits.into_dispatch(),
            target.into_dispatch(),
        ))
    } else {
        mean_squared_error(super::sigmoid(logits), target)
    }
}

impl FastSquaredError for Flex {
    fn mean_squared_error(prediction: FlexTensor, target: FlexTensor) -> FlexTensor {
        if !covered(&prediction, &target) {
            return burn_mean_squared_error::<Flex>(prediction, target);
        }
        let (p, t) = (values(&prediction), values(&target));
        let (p, t) = (floats(&p), floats(&t));
        let mean = sum_of_squares(p, t) / p.len().max(1) as f64;
        tensor(vec![mean as f32], Shape::new([1]))
    }

    fn sigmoid_mean_squared_error(logits: FlexTensor, target: FlexTensor) -> FlexTensor {
        if !covered(&logits, &target) {
            return burn_mean_squared_error::<Flex>(Flex::sigmoid(logits), target);
        }
        Flex::mean_squared_error(Flex::fast_sigmoid(logits), target)
    }
}

/// Under autodiff: the same forward pass, with [`SquaredErrorBackward`] recorded.
impl<C: CheckpointStrategy> FastSquaredError for Autodiff<Flex, C> {
    fn mean_squared_error(
        prediction: FloatTensor<Self>,
        target: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        tracked::<C>(prediction, target, false)
    }

    fn sigmoid_mean_squared_error(
        logits: FloatTensor<Self>,
        target: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        tracked::<C>(logits, target, true)
    }
}

/// The loss of `prediction` (or of σ(`prediction`) if `sigmoid`) against `target`, recorded for
/// the backward pass with the sigmoid's output when there is one.
fn tracked<C: CheckpointStrategy>(
    prediction: FloatTensor<Autodiff<Flex, C>>,
    target: FloatTensor<Autodiff<Flex, C>>,
    sigmoid: bool,
) -> FloatTensor<Autodiff<Flex, C>> {
    type Ad<C> = Autodiff<Flex, C>;
    let same = prediction.dtype() == DType::F32
        && target.dtype() == DType::F32
        && prediction.shape() == target.shape();
    if !same {
        let prediction = if sigmoid {
            Ad::<C>::sigmoid(prediction)
        } else {
            prediction
        };
        return burn_mean_squared_error::<Ad<C>>(prediction, target);
    }
    let (prediction, prediction_node) = prediction.into_parts();
    let (target, target_node) = target.into_parts();
    let step = SquaredErrorBackward { sigmoid };
    match step
        .prepare::<C>([prediction_node, target_node])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let prediction = if sigmoid {
                Flex::fast_sigmoid(prediction)
            } else {
                prediction
            };
            let output = Flex::mean_squared_error(prediction.clone(), target.clone());
            prep.finish((prediction, target), output)
        }
        OpsKind::UnTracked(prep) if sigmoid => {
            prep.finish(Flex::sigmoid_mean_squared_error(prediction, target))
        }
        OpsKind::UnTracked(prep) => prep.finish(Flex::mean_squared_error(prediction, target)),
    }
}

fn covered(prediction: &FlexTensor, target: &FlexTensor) -> bool {
    prediction.dtype() == DType::F32
        && target.dtype() == DType::F32
        && prediction.layout().shape() == target.layout().shape()
}

/// The backward step: parents are (prediction, target); d/dp = 2·(p − t)·g / n, d/dt = −d/dp.
/// With `sigmoid` the first parent is the logits and the state keeps y = σ(logits): d/dlogits =
/// d/dy · y · (1 − y), d/dt = −d/dy.
#[derive(Debug)]
struct SquaredErrorBackward {
    sigmoid: bool,
}

impl Backward<Flex, 2> for SquaredErrorBackward {
    type State = (FlexTensor, FlexTensor);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_prediction, node_target] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (prediction, target) = ops.state;
        let shape = prediction.layout().shape().clone();
        let (p, t) = (values(&prediction), values(&target));
        let (p, t) = (floats(&p), floats(&t));
        let g = floats(&values(&grad)).first().copied().unwrap_or(0.0);
        let scale = 2.0 * g / p.len().max(1) as f32;
        let mut gp = vec![0.0; p.len()];
        let sigmoid = self.sigmoid;
        for_each_piece(&mut gp, p, t, |gp, p, t| {
            for ((o, &a), &b) in gp.iter_mut().zip(p).zip(t) {
                let d = scale * (a - b);
                // As flex's sigmoid backward computes it: g · s · (1 − s).
                *o = if sigmoid { d * a * (1.0 - a) } else { d };
            }
        });
        if let Some(node) = node_target {
            let gt = p.iter().zip(t).map(|(&a, &b)| -(scale * (a - b))).collect();
            grads.register::<Flex>(node.id, tensor(gt, shape.clone()));
        }
        if let Some(node) = node_prediction {
            grads.register::<Flex>(node.id, tensor(gp, shape));
        }
    }
}

/// Entries per piece of work: fixed, so the sum is the same whatever the number of threads.
const PIECE: usize = 1 << 14;

/// Σ (p − t)², in pieces of [`PIECE`] entries: eight running f32 sums inside a piece (which the
/// compiler vectorises), the pieces added in order in f64.
fn sum_of_squares(p: &[f32], t: &[f32]) -> f64 {
    let piece = |(p, t): (&[f32], &[f32])| -> f64 {
        let mut lanes = [0.0f32; 8];
        let (mut pc, mut tc) = (p.chunks_exact(8), t.chunks_exact(8));
        for (a, b) in (&mut pc).zip(&mut tc) {
            for i in 0..8 {
                let d = a[i] - b[i];
                lanes[i] += d * d;
            }
        }
        let tail: f64 = pc
            .remainder()
            .iter()
            .zip(tc.remainder())
            .map(|(&a, &b)| f64::from(a - b) * f64::from(a - b))
            .sum();
        lanes.iter().map(|&v| f64::from(v)).sum::<f64>() + tail
    };
    let sums: Vec<f64> = if p.len() >= 2 * PIECE && kernel_threads() > 1 {
        p.par_chunks(PIECE)
            .zip(t.par_chunks(PIECE))
            .map(piece)
            .collect()
    } else {
        p.chunks(PIECE).zip(t.chunks(PIECE)).map(piece).collect()
    };
    sums.iter().sum()
}

/// `f` on matching pieces of `out`, `p` and `t`, across threads when they are long.
fn for_each_piece(
    out: &mut [f32],
    p: &[f32],
    t: &[f32],
    f: impl Fn(&mut [f32], &[f32], &[f32]) + Sync,
) {
    if out.len() >= 2 * PIECE && kernel_threads() > 1 {
        out.par_chunks_mut(PIECE)
            .zip(p.par_chunks(PIECE))
            .zip(t.par_chunks(PIECE))
            .for_each(|((o, p), t)| f(o, p, t));
    } else {
        f(out, p, t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, Distribution};

    /// The fused loss and its gradients (prediction and target) are Burn's, for a batch below
    /// the size where the work is split across threads and one above it (ragged last piece),
    /// with and without the sigmoid output layer fused in.
    #[test]
    fn matches_burns_loss_and_gradients() {
        let device = Device::flex().autodiff();
        for ((m, n), sigmoid) in [(3, 5), (100, 784)]
            .into_iter()
            .zip([false, true])
            .chain([((100, 784), false), ((3, 5), true)])
        {
            let random = || Tensor::<2>::random([m, n], Distribution::Normal(0.0, 1.0), &device);
            let (p, t) = (random().require_grad(), random().require_grad());
            let (ours, burn) = if sigmoid {
                let y = burn::tensor::activation::sigmoid(p.clone());
                (
                    sigmoid_mean_squared_error(p.clone(), t.clone()),
                    (y - t.clone()).square().mean(),
                )
            } else {
                (
                    mean_squared_error(p.clone(), t.clone()),
                    (p.clone() - t.clone()).square().mean(),
                )
            };
            let (a, b) = (
                ours.clone().into_scalar::<f32>(),
                burn.clone().into_scalar::<f32>(),
            );
            assert!(
                (a - b).abs() <= 1e-5 * b.abs(),
                "({m}, {n}): loss {a} vs {b}"
            );
            let (ga, gb) = (ours.backward(), burn.backward());
            for x in [&p, &t] {
                let (ours, burn) = (x.grad(&ga).unwrap(), x.grad(&gb).unwrap());
                let gap = (ours - burn.clone()).abs().max().into_scalar::<f32>();
                let scale = burn.abs().max().into_scalar::<f32>();
                assert!(gap <= 1e-5 * scale, "({m}, {n}): gradients differ by {gap}");
            }
        }
    }

    /// The sum does not depend on how many threads share it.
    #[test]
    fn the_sum_is_the_same_on_one_thread_and_on_many() {
        let p: Vec<f32> = (0..100_003).map(|i| (i as f32 * 0.37).sin()).collect();
        let t: Vec<f32> = (0..100_003).map(|i| (i as f32 * 0.11).cos()).collect();
        let many = sum_of_squares(&p, &t);
        let one = crate::device::on_one_thread(|| sum_of_squares(&p, &t));
        assert_eq!(many.to_bits(), one.to_bits());
    }
}
