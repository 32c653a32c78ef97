//! Reconstruction losses, computed from the decoder's pre-activations so that cross-entropy with a
//! sigmoid output stays finite however confident the model gets.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::model::{Network, OutputActivation};

/// The reconstruction loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LossKind {
    /// Mean squared error.
    #[default]
    Mse,
    /// Binary cross-entropy, for targets in [0, 1] and a sigmoid output.
    Bce,
}

/// Mean loss of reconstructing `target` from `input` (batches of scaled rows; the same tensor for
/// a plain autoencoder, the corrupted and clean rows for a denoising one), as a one-element tensor.
/// With a `mask` (1 = observed, 0 = missing), only observed entries count.
pub fn reconstruction_loss(
    network: &Network,
    input: Tensor<2>,
    target: Tensor<2>,
    mask: Option<Tensor<2>>,
    kind: LossKind,
) -> Tensor<1> {
    let logits = network.decode_logits(network.encode(input));
    let per_entry = match kind {
        LossKind::Mse => (network.output().apply(logits) - target).square(),
        LossKind::Bce => bce_with_logits(logits, target),
    };
    match mask {
        None => per_entry.mean(),
        Some(mask) => (per_entry * mask.clone()).sum() / mask.sum().clamp_min(1.0),
    }
}

/// BCE(sigmoid(l), x) = max(l, 0) - l·x + log(1 + e^(-|l|)), the stable form, per entry.
fn bce_with_logits(logits: Tensor<2>, target: Tensor<2>) -> Tensor<2> {
    let softplus_tail = logits.clone().abs().neg().exp().log1p();
    logits.clone().clamp_min(0.0) - logits * target + softplus_tail
}

/// Whether a loss suits a model's output: cross-entropy needs a sigmoid.
pub fn check(kind: LossKind, output: OutputActivation) -> crate::Result<()> {
    if kind == LossKind::Bce && output != OutputActivation::Sigmoid {
        return Err(crate::Error::invalid(
            "binary cross-entropy needs inputs in [0, 1] and a sigmoid output; use --loss mse for tabular data",
        ));
    }
    Ok(())
}
