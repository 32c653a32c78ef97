//! Encoding data to latent codes and decoding codes back, in batches, on the host's buffers.
//!
//! `class` is a conditional model's one-hot class rows beside the samples or codes (from
//! [`crate::model::ModelConfig::condition`]); `None` for every other model.

use burn::tensor::{Device, Tensor};

use crate::artifact::TrainedModel;
use crate::data::Dataset;
use crate::device::{in_pool, rows_tensor, to_vec};
use crate::error::Result;
use crate::model::Network;

/// Rows per forward pass at inference.
const BATCH: usize = 1024;

/// Scaled rows → latent codes (`n × latent`).
pub fn encode_scaled(
    model: &TrainedModel,
    values: &[f32],
    class: Option<&[f32]>,
    device: &Device,
) -> Vec<f32> {
    encode_scaled_by(model, &model.network, values, class, device)
}

/// Like [`encode_scaled`], with one given network of the model (an ensemble has several).
pub fn encode_scaled_by(
    model: &TrainedModel,
    network: &Network,
    values: &[f32],
    class: Option<&[f32]>,
    device: &Device,
) -> Vec<f32> {
    map_rows(
        model,
        values,
        model.input.features(),
        class,
        device,
        |x, c| network.encode(x, c),
    )
}

/// Latent codes → reconstructed rows in the scaled space.
pub fn decode_scaled(
    model: &TrainedModel,
    latents: &[f32],
    class: Option<&[f32]>,
    device: &Device,
) -> Vec<f32> {
    decode_scaled_by(model, &model.network, latents, class, device)
}

/// Like [`decode_scaled`], with one given network of the model.
pub fn decode_scaled_by(
    model: &TrainedModel,
    network: &Network,
    latents: &[f32],
    class: Option<&[f32]>,
    device: &Device,
) -> Vec<f32> {
    map_rows(
        model,
        latents,
        model.config.latent,
        class,
        device,
        |z, c| network.decode(z, c),
    )
}

/// Scaled rows → the network's feature maps ([`Network::feature_map`]), each batch handed to
/// `reduce` before the next is computed (a map is thousands of values per row); empty when the
/// network has none.
pub fn feature_maps_by(
    model: &TrainedModel,
    network: &Network,
    values: &[f32],
    device: &Device,
    reduce: impl Fn(Vec<f32>) -> Vec<f32> + Sync,
) -> Vec<f32> {
    let width = model.input.features();
    in_pool(|| {
        let mut out = Vec::new();
        for chunk in values.chunks(BATCH * width) {
            match network.feature_map(rows_tensor(chunk.to_vec(), width, device)) {
                Some(maps) => out.extend(reduce(to_vec(maps))),
                None => break,
            }
        }
        out
    })
}

/// Scaled rows → reconstructed rows in the scaled space.
pub fn reconstruct_scaled(
    model: &TrainedModel,
    values: &[f32],
    class: Option<&[f32]>,
    device: &Device,
) -> Vec<f32> {
    reconstruct_scaled_by(model, &model.network, values, class, device)
}

/// Like [`reconstruct_scaled`], with one given network of the model.
pub fn reconstruct_scaled_by(
    model: &TrainedModel,
    network: &Network,
    values: &[f32],
    class: Option<&[f32]>,
    device: &Device,
) -> Vec<f32> {
    map_rows(
        model,
        values,
        model.input.features(),
        class,
        device,
        |x, c| network.reconstruct(x, c),
    )
}

/// A data set's latent codes. The data must fit the model (see [`TrainedModel::check_data`]);
/// a conditional model takes the data's labels.
pub fn encode(model: &TrainedModel, data: &Dataset, device: &Device) -> Result<Vec<f32>> {
    let class = model.config.condition(data.labels.as_deref())?;
    Ok(encode_scaled(
        model,
        &model.scaling.scaled(data),
        class.as_deref(),
        device,
    ))
}

/// A data set's reconstructions, in the scaled space.
pub fn reconstruct(model: &TrainedModel, data: &Dataset, device: &Device) -> Result<Vec<f32>> {
    let class = model.config.condition(data.labels.as_deref())?;
    Ok(reconstruct_scaled(
        model,
        &model.scaling.scaled(data),
        class.as_deref(),
        device,
    ))
}

/// Applies `f` to batches of rows `width` wide (with their class rows, if any).
fn map_rows(
    model: &TrainedModel,
    values: &[f32],
    width: usize,
    class: Option<&[f32]>,
    device: &Device,
    f: impl Fn(Tensor<2>, Option<Tensor<2>>) -> Tensor<2> + Sync,
) -> Vec<f32> {
    let classes = model.config.classes.unwrap_or(0);
    // Inside rayon's pool: each batch's layers split their work without waking this thread.
    in_pool(|| {
        let mut out = Vec::new();
        for (i, chunk) in values.chunks(BATCH * width).enumerate() {
            let rows = chunk.len() / width;
            let class = class.map(|c| {
                let start = i * BATCH * classes;
                rows_tensor(c[start..start + rows * classes].to_vec(), classes, device)
            });
            out.extend(to_vec(f(rows_tensor(chunk.to_vec(), width, device), class)));
        }
        out
    })
}
