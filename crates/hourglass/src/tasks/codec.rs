//! Encoding data to latent codes and decoding codes back, in batches, on the host's buffers.

use burn::tensor::Device;

use crate::artifact::TrainedModel;
use crate::data::Dataset;
use crate::device::{rows_tensor, to_vec};

/// Rows per forward pass at inference.
const BATCH: usize = 1024;

/// Scaled rows → latent codes (`n × latent`).
pub fn encode_scaled(model: &TrainedModel, values: &[f32], device: &Device) -> Vec<f32> {
    map_rows(values, model.input.features(), device, |x| {
        model.network.encode(x)
    })
}

/// Latent codes → reconstructed rows in the scaled space.
pub fn decode_scaled(model: &TrainedModel, latents: &[f32], device: &Device) -> Vec<f32> {
    map_rows(latents, model.config.latent, device, |z| {
        model.network.decode(z)
    })
}

/// Scaled rows → reconstructed rows in the scaled space.
pub fn reconstruct_scaled(model: &TrainedModel, values: &[f32], device: &Device) -> Vec<f32> {
    map_rows(values, model.input.features(), device, |x| {
        model.network.reconstruct(x)
    })
}

/// A data set's latent codes. The data must fit the model (see [`TrainedModel::check_data`]).
pub fn encode(model: &TrainedModel, data: &Dataset, device: &Device) -> Vec<f32> {
    encode_scaled(model, &model.scaling.scaled(data), device)
}

/// A data set's reconstructions, in the scaled space.
pub fn reconstruct(model: &TrainedModel, data: &Dataset, device: &Device) -> Vec<f32> {
    reconstruct_scaled(model, &model.scaling.scaled(data), device)
}

fn map_rows(
    values: &[f32],
    width: usize,
    device: &Device,
    f: impl Fn(burn::tensor::Tensor<2>) -> burn::tensor::Tensor<2>,
) -> Vec<f32> {
    let mut out = Vec::new();
    for chunk in values.chunks(BATCH * width) {
        out.extend(to_vec(f(rows_tensor(chunk.to_vec(), width, device))));
    }
    out
}
