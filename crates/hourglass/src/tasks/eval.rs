//! Reconstruction error of a model on a data set, next to the baselines it must beat.

use burn::tensor::Device;
use serde::Serialize;

use crate::artifact::TrainedModel;
use crate::data::Dataset;
use crate::error::Result;
use crate::tasks::codec;
use crate::tasks::pca::mse;

/// Mean squared reconstruction errors, all in the model's scaled space (pixels in [0, 1]).
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub n: usize,
    pub mse: f64,
    /// PCA with as many components as the latent size, fit on the model's training split.
    pub pca_mse: f64,
    pub pca_components: usize,
    /// Predicting every sample by the training split's mean sample.
    pub mean_mse: f64,
    /// Where the baselines were fit.
    pub baselines_fit_on: &'static str,
}

/// Evaluates a model on data that fits it (see [`TrainedModel::check_data`]); a conditional
/// model takes the data's labels.
pub fn evaluate(model: &TrainedModel, data: &Dataset, device: &Device) -> Result<EvalReport> {
    let values = model.scaling.scaled(data);
    let class = model.config.condition(data.labels.as_deref())?;
    let reconstruction = codec::reconstruct_scaled(model, &values, class.as_deref(), device);
    Ok(EvalReport {
        n: data.len(),
        mse: mse(&values, &reconstruction),
        pca_mse: model.baseline.pca_mse(&values, device),
        pca_components: model.baseline.k(),
        mean_mse: model.baseline.mean_mse(&values),
        baselines_fit_on: "the model's training split",
    })
}

/// The encoder's mean squared Frobenius norm ‖J‖²_F over samples (scaled rows), estimated with
/// `probes` random directions per sample (see `train::loss::jacobian_norm_estimate`): how much
/// the code moves when the input moves. What a contractive penalty makes small. Not for
/// conditional models.
pub fn encoder_jacobian_norm(
    model: &TrainedModel,
    values: &[f32],
    probes: usize,
    device: &Device,
) -> f64 {
    let d = model.input.features();
    let mut total = 0.0f64;
    let mut batches = 0usize;
    for chunk in values.chunks(1024 * d) {
        let x = crate::device::rows_tensor(chunk.to_vec(), d, device);
        let codes = model.network.encode(x.clone(), None);
        for _ in 0..probes {
            let estimate = crate::train::loss::jacobian_norm_estimate(
                &model.network,
                x.clone(),
                None,
                codes.clone(),
            );
            total += estimate.into_scalar::<f32>() as f64;
            batches += 1;
        }
    }
    total / batches.max(1) as f64
}
