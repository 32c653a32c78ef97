//! Adam's update in one pass over the weights on Burn's `flex` backend, as a Burn backend
//! extension, and the optimizer that calls it.
//!
//! Why: Burn 0.22's Adam is thirteen tensor operations per parameter (scale and add each moment,
//! square the gradient, bias-correct, square root, divide, scale by the rate, subtract), each a
//! pass over memory and most a fresh buffer. On the dense benchmark model that was about a tenth
//! of a training step on a 2-core AVX2 EPYC (profile in BENCHMARKS.md, issue 12). Here the same
//! arithmetic, in the same order, runs in one loop that updates the weights and both moments in
//! place, so a run gives the same bits as with Burn's Adam. The state is Burn's own
//! [`AdamState`], so checkpoints written before this change resume unchanged. Upstream, the
//! kernel belongs in `burn-optim`'s Adam as a backend operation.

use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, DispatchDevice, Flex, backend_extension};
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, AdamState, AdaptiveMomentumState, LearningRate, Optimizer};
use burn::tensor::{DType, Device, Tensor};
use rayon::prelude::*;

use super::conv::owned;

/// One Adam step's constants: the moments' decay rates, and the step's bias corrections folded
/// into two numbers as Burn folds them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Coefficients {
    beta_1: f32,
    beta_2: f32,
    /// √(1 − β₂ᵗ) / (1 − β₁ᵗ): scales the first moment.
    moment_scale: f32,
    /// ε · √(1 − β₂ᵗ): added to the second moment's square root.
    epsilon: f32,
    learning_rate: f32,
    /// L2 penalty added to the gradient (0: none).
    decay: f32,
}

/// The extension: Burn's tensor operations unless a backend says otherwise. Returns the updated
/// weights and moments.
#[backend_extension(Flex)]
pub trait FusedAdam: Backend {
    fn adam_update(
        weights: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        moment_1: FloatTensor<Self>,
        moment_2: FloatTensor<Self>,
        c: Coefficients,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        burn_update::<Self>(weights, grad, moment_1, moment_2, c)
    }
}

/// Burn's Adam as tensor operations, in the order Burn's `AdaptiveMomentum` applies them: every
/// other backend, and tensors the kernel does not cover.
fn burn_update<B: Backend>(
    weights: FloatTensor<B>,
    grad: FloatTensor<B>,
    moment_1: FloatTensor<B>,
    moment_2: FloatTensor<B>,
    c: Coefficients,
) -> (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) {
    let grad = if c.decay > 0.0 {
        B::float_add(B::float_mul_scalar(weights.clone(), c.decay.into()), grad)
    } else {
        grad
    };
    let moment_1 = B::float_add(
        B::float_mul_scalar(moment_1, c.beta_1.into()),
        B::float_mul_scalar(grad.clone(), (1.0 - c.beta_1).into()),
    );
    let squared = B::float_mul(grad.clone(), grad);
    let moment_2 = B::float_add(
        B::float_mul_scalar(moment_2, c.beta_2.into()),
        B::float_mul_scalar(squared, (1.0 - c.beta_2).into()),
    );
    let step = B::float_div(
        B::float_mul_scalar(moment_1.clone(), c.moment_scale.into()),
        B::float_add_scalar(B::float_sqrt(moment_2.clone()), c.epsilon.into()),
    );
    let weights = B::float_sub(weights, B::float_mul_scalar(step, c.learning_rate.into()));
    (weights, moment_1, moment_2)
}

impl FusedAdam for Flex {
    fn adam_update(
        weights: FlexTensor,
        grad: FlexTensor,
        moment_1: FlexTensor,
        moment_2: FlexTensor,
        c: Coefficients,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let n = weights.layout().num_elements();
        let plain = |t: &FlexTensor| {
            t.dtype() == DType::F32
                && t.is_contiguous()
                && t.layout().start_offset() == 0
                && t.layout().num_elements() == n
        };
        if ![&weights, &grad, &moment_1, &moment_2]
            .into_iter()
            .all(plain)
        {
            return burn_update::<Flex>(weights, grad, moment_1, moment_2, c);
        }
        let (mut weights, mut moment_1, mut moment_2) =
            (owned(weights), owned(moment_1), owned(moment_2));
        update(
            &mut weights.storage_mut::<f32>()[..n],
            &grad.storage::<f32>()[..n],
            &mut moment_1.storage_mut::<f32>()[..n],
            &mut moment_2.storage_mut::<f32>()[..n],
            c,
        );
        (weights, moment_1, moment_2)
    }
}

/// The update over slices of equal length, in place: in pieces across threads when long (the
/// 784 × 256 weights of a first layer), each piece compiled for AVX2 where the CPU has it.
fn update(
    weights: &mut [f32],
    grad: &[f32],
    moment_1: &mut [f32],
    moment_2: &mut [f32],
    c: Coefficients,
) {
    const PIECE: usize = 1 << 14;
    if weights.len() >= 2 * PIECE {
        weights
            .par_chunks_mut(PIECE)
            .zip(grad.par_chunks(PIECE))
            .zip(moment_1.par_chunks_mut(PIECE))
            .zip(moment_2.par_chunks_mut(PIECE))
            .for_each(|(((w, g), m1), m2)| update_simd(w, g, m1, m2, c));
    } else {
        update_simd(weights, grad, moment_1, moment_2, c);
    }
}

/// The build targets baseline x86-64 (4-lane SSE2), so the loop is compiled again for AVX2 and
/// the CPU picks at run time. No fused multiply-add (not enabled, and Rust never contracts), and
/// IEEE square root and division on every path: the same bits everywhere, and as Burn's.
fn update_simd(
    weights: &mut [f32],
    grad: &[f32],
    moment_1: &mut [f32],
    moment_2: &mut [f32],
    c: Coefficients,
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        unsafe { update_avx2(weights, grad, moment_1, moment_2, c) };
        return;
    }
    update_loop(weights, grad, moment_1, moment_2, c);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn update_avx2(
    weights: &mut [f32],
    grad: &[f32],
    moment_1: &mut [f32],
    moment_2: &mut [f32],
    c: Coefficients,
) {
    update_loop(weights, grad, moment_1, moment_2, c);
}

/// Burn's arithmetic per element: decay, both moments, the bias-corrected step, the weight.
#[inline(always)]
fn update_loop(
    weights: &mut [f32],
    grad: &[f32],
    moment_1: &mut [f32],
    moment_2: &mut [f32],
    c: Coefficients,
) {
    let (rest_1, rest_2) = (1.0 - c.beta_1, 1.0 - c.beta_2);
    for (((w, &g), m1), m2) in weights.iter_mut().zip(grad).zip(moment_1).zip(moment_2) {
        let g = if c.decay > 0.0 { *w * c.decay + g } else { g };
        *m1 = *m1 * c.beta_1 + g * rest_1;
        *m2 = *m2 * c.beta_2 + g * g * rest_2;
        let step = *m1 * c.moment_scale / (m2.sqrt() + c.epsilon);
        *w -= step * c.learning_rate;
    }
}

/// Adam with Burn's state and arithmetic (β₁, β₂, ε and an optional L2 penalty, as Burn's
/// `AdamConfig`): one pass per parameter on flex, Burn's own Adam on every other device.
#[derive(Clone)]
pub struct Adam {
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
    /// The L2 penalty Burn's `WeightDecayConfig` adds to the gradient; 0 for none.
    weight_decay: f32,
    burn: burn::optim::Adam,
}

impl Adam {
    /// Burn's `AdamConfig` with these constants; `weight_decay` 0 (or below) means none.
    pub fn new(beta_1: f32, beta_2: f32, epsilon: f32, weight_decay: f32) -> Adam {
        let weight_decay = weight_decay.max(0.0);
        let burn = AdamConfig::new()
            .with_beta_1(beta_1)
            .with_beta_2(beta_2)
            .with_epsilon(epsilon)
            .with_weight_decay((weight_decay > 0.0).then(|| WeightDecayConfig::new(weight_decay)))
            .build();
        Adam {
            beta_1,
            beta_2,
            epsilon,
            weight_decay,
            burn,
        }
    }
}

impl Optimizer for Adam {
    type State<const D: usize> = AdamState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        if !matches!(
            tensor.device().inner().as_dispatch(),
            DispatchDevice::Flex(_)
        ) {
            return self.burn.step(lr, tensor, grad, state);
        }
        let (time, moment_1, moment_2) = match state {
            Some(state) => (
                state.momentum.time + 1,
                state.momentum.moment_1,
                state.momentum.moment_2,
            ),
            // Zero moments give Burn's first step bit for bit (0·β + x = x).
            None => (1, tensor.zeros_like(), tensor.zeros_like()),
        };
        let t = time as i32;
        let corrected = (1.0 - self.beta_2.powi(t)).sqrt();
        let (w, m1, m2) = <Dispatch as FusedAdam>::adam_update(
            tensor.into_dispatch(),
            grad.into_dispatch(),
            moment_1.into_dispatch(),
            moment_2.into_dispatch(),
            Coefficients {
                beta_1: self.beta_1,
                beta_2: self.beta_2,
                moment_scale: corrected / (1.0 - self.beta_1.powi(t)),
                epsilon: self.epsilon * corrected,
                learning_rate: lr as f32,
                decay: self.weight_decay,
            },
        );
        let (m1, m2) = (Tensor::from_dispatch(m1), Tensor::from_dispatch(m2));
        let momentum = AdaptiveMomentumState::new(time, m1, m2);
        (Tensor::from_dispatch(w), Some(AdamState::new(momentum)))
    }

    fn to_device<const D: usize>(mut state: Self::State<D>, device: &Device) -> Self::State<D> {
        state.momentum = state.momentum.to_device(device);
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::to_vec;
    use burn::tensor::Distribution;

    /// Three steps of the fused Adam give Burn's Adam's weights and moments bit for bit, with and
    /// without an L2 penalty, for a tensor split across threads and one that is not, and when
    /// the weights' buffer is shared with another tensor (copied, not overwritten).
    #[test]
    fn matches_burns_adam_bit_for_bit() {
        let device = Device::flex();
        for (shape, decay) in [([3, 5], 0.0), ([300, 257], 0.0), ([300, 257], 0.01)] {
            let ours = Adam::new(0.9, 0.999, 1e-8, decay);
            let burn = ours.burn.clone();
            let start = Tensor::<2>::random(shape, Distribution::Normal(0.0, 1.0), &device);
            let before = to_vec(start.clone());
            let (mut a, mut b) = (start.clone(), start.clone());
            let (mut state_a, mut state_b) = (None, None);
            for step in 0..3 {
                let grad = Tensor::<2>::random(shape, Distribution::Normal(0.0, 1.0), &device);
                (a, state_a) = ours.step(1e-3, a, grad.clone(), state_a);
                (b, state_b) = burn.step(1e-3, b, grad, state_b);
                let same = |x: &Tensor<2>, y: &Tensor<2>| to_vec(x.clone()) == to_vec(y.clone());
                let (ma, mb) = (
                    &state_a.as_ref().unwrap().momentum,
                    &state_b.as_ref().unwrap().momentum,
                );
                assert!(
                    same(&a, &b),
                    "{shape:?}, decay {decay}: weights differ at step {step}"
                );
                assert!(
                    same(&ma.moment_1, &mb.moment_1),
                    "first moment differs at step {step}"
                );
                assert!(
                    same(&ma.moment_2, &mb.moment_2),
                    "second moment differs at step {step}"
                );
                assert_eq!(ma.time, mb.time);
            }
            // The starting weights were shared with `start` on the first step: left untouched.
            assert_eq!(to_vec(start), before);
        }
    }
}
