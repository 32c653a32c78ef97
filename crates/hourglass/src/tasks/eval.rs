//! Reconstruction error of a model on a data set, next to the baselines it must beat.

use burn::tensor::Device;
use serde::Serialize;

use crate::artifact::TrainedModel;
use crate::data::Dataset;
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

/// Evaluates a model on data that fits it (see [`TrainedModel::check_data`]).
pub fn evaluate(model: &TrainedModel, data: &Dataset, device: &Device) -> EvalReport {
    let values = model.scaling.scaled(data);
    let reconstruction = codec::reconstruct_scaled(model, &values, device);
    EvalReport {
        n: data.len(),
        mse: mse(&values, &reconstruction),
        pca_mse: model.baseline.pca_mse(&values, device),
        pca_components: model.baseline.k(),
        mean_mse: model.baseline.mean_mse(&values),
        baselines_fit_on: "the model's training split",
    }
}
