//! Denoising: a (denoising) autoencoder's reconstruction of a corrupted sample, measured against
//! the clean one.

use burn::tensor::Device;
use serde::Serialize;

use crate::artifact::TrainedModel;
use crate::tasks::codec;
use crate::tasks::pca::mse;

/// The model's clean estimate of scaled, noisy rows. Not for conditional models (see
/// [`TrainedModel::require_unconditional`]).
pub fn denoise(model: &TrainedModel, noisy: &[f32], device: &Device) -> Vec<f32> {
    codec::reconstruct_scaled(model, noisy, None, device)
}

/// How far the noisy and the denoised rows are from the clean ones.
#[derive(Debug, Clone, Serialize)]
pub struct DenoiseReport {
    pub noisy_mse: f64,
    pub noisy_psnr_db: f64,
    pub denoised_mse: f64,
    pub denoised_psnr_db: f64,
}

/// Peak signal-to-noise ratio for values in [0, 1].
pub fn psnr(mse: f64) -> f64 {
    10.0 * (1.0 / mse.max(1e-12)).log10()
}

pub fn report(clean: &[f32], noisy: &[f32], denoised: &[f32]) -> DenoiseReport {
    let (noisy_mse, denoised_mse) = (mse(clean, noisy), mse(clean, denoised));
    DenoiseReport {
        noisy_mse,
        noisy_psnr_db: psnr(noisy_mse),
        denoised_mse,
        denoised_psnr_db: psnr(denoised_mse),
    }
}
