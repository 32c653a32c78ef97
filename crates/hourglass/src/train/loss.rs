//! Reconstruction losses, computed from the decoder's pre-activations so that cross-entropy with a
//! sigmoid output stays finite however confident the model gets.

use burn::tensor::{Distribution, Tensor};
use serde::{Deserialize, Serialize};

use crate::model::{ModelConfig, Network, OutputActivation, Sparsity};
use crate::ops;

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

/// The loss of a batch and the terms it is made of, each a one-element tensor.
pub struct LossTerms {
    /// What the optimizer minimises: reconstruction + β × KL / features.
    pub total: Tensor<1>,
    /// Mean reconstruction loss per value.
    pub reconstruction: Tensor<1>,
    /// For a variational model: mean KL divergence per sample from N(0, I).
    pub kl: Option<Tensor<1>>,
    /// For a sparse model: the penalty per sample before its weight (the code's L1 norm, or
    /// Σ KL(ρ ‖ ρ̂ⱼ)).
    pub sparsity: Option<Tensor<1>>,
    /// For a contractive model: the estimated squared Frobenius norm of the encoder's Jacobian,
    /// mean per sample.
    pub contractive: Option<Tensor<1>>,
}

/// Step of the finite difference that estimates the Jacobian (in scaled input units).
pub const JACOBIAN_PROBE: f64 = 0.01;

/// An unbiased estimate of ‖J‖²_F per sample at `input`, differentiable: for ε ~ N(0, I),
/// E‖J ε‖² = ‖J‖²_F, and J ε ≈ (f(x + hε) − f(x)) / h. One probe per sample and step, which
/// training averages over; `codes` is f(x) (for a conditional model, given `class`).
pub fn jacobian_norm_estimate(
    network: &Network,
    input: Tensor<2>,
    class: Option<Tensor<2>>,
    codes: Tensor<2>,
) -> Tensor<1> {
    let probe = input.random_like(Distribution::Normal(0.0, 1.0)) * JACOBIAN_PROBE;
    let moved = network.encode(input + probe, class);
    (moved - codes).square().sum_dim(1).mean() / (JACOBIAN_PROBE * JACOBIAN_PROBE)
}

/// The loss of reconstructing `target` from `input` (batches of scaled rows; the same tensor for
/// a plain autoencoder, the corrupted and clean rows for a denoising one). With a `mask`
/// (1 = observed, 0 = missing), only observed entries count. A variational network decodes a
/// sample z = μ + σ·ε and adds `beta` × its KL divergence; the KL (summed over latent
/// dimensions) is divided by the number of values per sample, so that with β = 1 the total is the
/// negative ELBO per value for a Gaussian (MSE) or Bernoulli (BCE) decoder. A sparsity penalty, a
/// per-sample quantity too, is weighted and divided the same way. A conditional network sees the
/// samples' one-hot `class` rows in its encoder and decoder.
pub fn loss_terms(
    network: &Network,
    input: Tensor<2>,
    target: Tensor<2>,
    mask: Option<Tensor<2>>,
    class: Option<Tensor<2>>,
    kind: LossKind,
    config: &ModelConfig,
) -> LossTerms {
    let [_, features] = target.dims();
    let (mean, log_var) = network.encode_distribution(input.clone(), class.clone());
    let contractive = config
        .contractive
        .map(|_| jacobian_norm_estimate(network, input, class.clone(), mean.clone()));
    let (z, kl) = match log_var {
        Some(log_var) => {
            let noise = mean.random_like(Distribution::Normal(0.0, 1.0));
            let z = mean.clone() + (log_var.clone() * 0.5).exp() * noise;
            let kl = (log_var.clone().exp() + mean.square() - log_var - 1.0)
                .sum_dim(1)
                .mean()
                * 0.5;
            (z, Some(kl))
        }
        None => (mean, None),
    };
    let (sparsity, weight) = match config.sparsity {
        Some(Sparsity::L1 { lambda }) => (Some(z.clone().abs().sum_dim(1).mean()), lambda),
        Some(Sparsity::Kl { rho, beta }) => {
            // ρ̂ⱼ clamped away from 0 and 1, where the divergence is infinite.
            let rho_hat = z.clone().mean_dim(0).clamp(1e-6, 1.0 - 1e-6);
            let kl = (rho_hat.clone().recip() * rho).log() * rho
                + ((rho_hat.neg() + 1.0).recip() * (1.0 - rho)).log() * (1.0 - rho);
            (Some(kl.sum()), beta)
        }
        None => (None, 0.0),
    };
    let logits = network.decode_logits(z, class);
    let reconstruction = match (kind, mask) {
        // The common case in one fused operation (see `ops::squared_error`).
        (LossKind::Mse, None) if network.output() == OutputActivation::Sigmoid => {
            ops::sigmoid_mean_squared_error(logits, target)
        }
        (LossKind::Mse, None) => ops::mean_squared_error(network.output().apply(logits), target),
        (kind, mask) => {
            let per_entry = match kind {
                LossKind::Mse => (network.output().apply(logits) - target).square(),
                LossKind::Bce => bce_with_logits(logits, target),
            };
            match mask {
                None => per_entry.mean(),
                Some(mask) => (per_entry * mask.clone()).sum() / mask.sum().clamp_min(1.0),
            }
        }
    };
    let mut total = reconstruction.clone();
    if let (Some(kl), Some(beta)) = (&kl, config.beta) {
        total = total + kl.clone() * (beta / features as f64);
    }
    if let Some(penalty) = &sparsity {
        total = total + penalty.clone() * (weight / features as f64);
    }
    if let (Some(penalty), Some(lambda)) = (&contractive, config.contractive) {
        total = total + penalty.clone() * (lambda / features as f64);
    }
    LossTerms {
        total,
        reconstruction,
        kl,
        sparsity,
        contractive,
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
