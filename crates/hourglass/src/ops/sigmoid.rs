//! A vectorised sigmoid for Burn's `flex` backend.
//!
//! Burn 0.22's flex sigmoid calls scalar `expf` per element, and under autodiff computes it twice
//! (the backward pass recomputes the forward from its input). On the dense benchmark model that
//! was about a tenth of a training step. Here the exponential is a short polynomial the compiler
//! turns into SIMD code, and the autodiff version keeps its output for the backward pass
//! (`grad · y · (1 − y)`), as PyTorch does. Upstream, the same kernel belongs in
//! `burn-flex/src/ops/activation.rs`.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, DispatchDevice, Flex, backend_extension};
use burn::tensor::{DType, Tensor, activation};
use rayon::prelude::*;

use super::conv::owned;
use crate::device::kernel_threads;

/// The extension: one operation, Burn's sigmoid unless a backend says otherwise.
#[backend_extension(Flex, Autodiff)]
pub trait FastSigmoid: Backend {
    fn fast_sigmoid(x: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::sigmoid(x)
    }
}

/// σ(x) = 1 / (1 + e^−x), elementwise: the vectorised kernel on flex, Burn's elsewhere.
pub fn sigmoid<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if matches!(x.device().inner().as_dispatch(), DispatchDevice::Flex(_)) {
        Tensor::from_dispatch(<Dispatch as FastSigmoid>::fast_sigmoid(x.into_dispatch()))
    } else {
        activation::sigmoid(x)
    }
}

impl FastSigmoid for Flex {
    fn fast_sigmoid(x: FlexTensor) -> FlexTensor {
        if x.dtype() != DType::F32 {
            return <Flex as burn::backend::ops::ActivationOps<Flex>>::sigmoid(x);
        }
        let x = if x.is_contiguous() && x.layout().start_offset() == 0 {
            x
        } else {
            x.to_contiguous()
        };
        // Written in place unless another tensor still reads the buffer.
        let mut x = owned(x);
        let n = x.layout().num_elements();
        sigmoid_in_place(&mut x.storage_mut::<f32>()[..n]);
        x
    }
}

/// The autodiff version: forward on the inner backend, backward from the kept output.
impl<B: Backend + FastSigmoid, C: CheckpointStrategy> FastSigmoid for Autodiff<B, C> {
    fn fast_sigmoid(x: FloatTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct SigmoidBackward;

        impl<B: Backend> Backward<B, 1> for SigmoidBackward {
            type State = B::FloatTensorPrimitive;

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let output = ops.state;
                unary::<B, _>(ops.parents, ops.node, grads, |grad| {
                    B::sigmoid_backward(output, grad)
                });
            }
        }

        let (input, node) = x.into_parts();
        // Compute-bound: keep the output rather than recompute it in the backward pass.
        match SigmoidBackward
            .prepare::<C>([node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let output = B::fast_sigmoid(input);
                prep.finish(output.clone(), output)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::fast_sigmoid(input)),
        }
    }
}

/// σ over a slice, in place: in pieces across threads when it is long (a batch's decoded
/// images), each piece in the widest vectors the CPU has.
fn sigmoid_in_place(values: &mut [f32]) {
    const PIECE: usize = 1 << 13;
    if values.len() >= 2 * PIECE && kernel_threads() > 1 {
        values.par_chunks_mut(PIECE).for_each(sigmoid_simd);
    } else {
        sigmoid_simd(values);
    }
}

/// The build targets baseline x86-64 (4-lane SSE2), so the loop is compiled again for AVX2 (8
/// lanes) and, with the `x86-v4` feature, AVX-512 (16), and the CPU picks at run time. The same
/// operations in the same order (no fused multiply-add), so every path gives the same bits.
fn sigmoid_simd(values: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        #[cfg(feature = "x86-v4")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F, checked just above.
            return unsafe { sigmoid_avx512(values) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked just above.
            return unsafe { sigmoid_avx2(values) };
        }
    }
    sigmoid_lanes(values);
}

#[cfg(all(target_arch = "x86_64", feature = "x86-v4"))]
#[target_feature(enable = "avx512f")]
fn sigmoid_avx512(values: &mut [f32]) {
    sigmoid_lanes(values);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn sigmoid_avx2(values: &mut [f32]) {
    sigmoid_lanes(values);
}

/// The loop itself, in blocks the compiler vectorises (no branches, no calls); inlined into each
/// of the functions above so it takes their instruction set.
#[inline(always)]
fn sigmoid_lanes(values: &mut [f32]) {
    for v in values.iter_mut() {
        *v = 1.0 / (1.0 + exp(-*v));
    }
}

/// e^x to about 2 ulp, for any finite x (clamped to the range where e^x is a normal f32):
/// x = n·ln 2 + r with |r| ≤ ln 2 / 2, e^r from Cephes' degree-6 polynomial, 2^n from the bits.
#[inline(always)]
fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding 1.5·2^23 rounds to the nearest integer with plain float adds (no SSE4.1 needed).
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let shifted = x * LOG2E + ROUND;
    let n = shifted - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.987_569_2e-4_f32;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5;
    let e_r = p * r * r + r + 1.0;
    // n (in -126..=127) read from the low bits of `shifted` = 1.5·2^23 + n: integer operations
    // that vectorise, where `n as i32` (a saturating cast) made the compiler convert each lane
    // alone (a third of the loop's time in a profile).
    let n_bits = shifted.to_bits().wrapping_sub(ROUND.to_bits());
    let two_n = f32::from_bits(n_bits.wrapping_add(127) << 23);
    e_r * two_n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_the_standard_library() {
        for i in -8700..=8800 {
            let x = i as f32 / 100.0;
            let (ours, std) = (exp(x), x.exp());
            assert!(((ours - std) / std).abs() < 4e-7, "e^{x}: {ours} vs {std}");
        }
    }

    /// Every instruction set's path gives the bits of the baseline loop, split across threads
    /// or not. Inputs within ±80 keep every output normal: rayon's workers flush subnormals
    /// (`device::flush_subnormals`), this test's thread does not.
    #[test]
    fn every_path_gives_the_same_bits() {
        let values: Vec<f32> = (0..100_003)
            .map(|i| (i as f32 * 0.618).sin() * 80.0)
            .collect();
        let mut baseline = values.clone();
        sigmoid_lanes(&mut baseline);
        let mut ours = values;
        sigmoid_in_place(&mut ours);
        assert!(
            ours.iter()
                .zip(&baseline)
                .all(|(a, b)| a.to_bits() == b.to_bits())
        );
    }

    #[test]
    fn sigmoid_matches_burn_and_its_gradient_too() {
        let device = burn::tensor::Device::flex().autodiff();
        let values: Vec<f32> = (-200..200).map(|i| i as f32 * 0.37).collect();
        let x = Tensor::<1>::from_floats(values.as_slice(), &device).require_grad();
        let ours = sigmoid(x.clone());
        let burn = activation::sigmoid(x.clone());
        let close = |a: Tensor<1>, b: Tensor<1>| {
            let diff = (a - b).abs().max().into_scalar::<f32>();
            assert!(diff < 1e-6, "largest difference {diff}");
        };
        close(ours.clone().inner(), burn.clone().inner());
        let weights = Tensor::<1>::from_floats(values.as_slice(), &device);
        let g_ours = (ours * weights.clone()).sum().backward();
        let g_burn = (burn * weights).sum().backward();
        close(x.grad(&g_ours).unwrap(), x.grad(&g_burn).unwrap());
    }
}
