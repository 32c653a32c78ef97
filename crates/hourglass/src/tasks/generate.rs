//! Walking the latent space: straight lines between two samples' codes, and 2-D views of where
//! the samples lie.

use burn::tensor::Device;

use crate::artifact::TrainedModel;
use crate::data::noise::Noise;
use crate::tasks::codec;
use crate::tasks::pca::Baseline;

/// Decodes `steps` evenly spaced points on the line from `a`'s code to `b`'s (both scaled rows),
/// endpoints included. Returns the decoded rows, in the scaled space.
pub fn interpolate(
    model: &TrainedModel,
    a: &[f32],
    b: &[f32],
    steps: usize,
    device: &Device,
) -> Vec<f32> {
    let ends = codec::encode_scaled(model, &[a, b].concat(), device);
    let (za, zb) = ends.split_at(model.config.latent);
    let steps = steps.max(2);
    let path: Vec<f32> = (0..steps)
        .flat_map(|i| {
            let t = i as f32 / (steps - 1) as f32;
            za.iter().zip(zb).map(move |(x, y)| x + t * (y - x))
        })
        .collect();
    codec::decode_scaled(model, &path, device)
}

/// Decodes `n` codes drawn from N(0, I) (seeded), in the scaled space: new data from a
/// variational model.
pub fn sample(model: &TrainedModel, n: usize, seed: u64, device: &Device) -> Vec<f32> {
    let noise = Noise::Gaussian { sigma: 1.0 };
    let codes = noise.corrupt(&vec![0.0; n * model.config.latent], false, seed);
    codec::decode_scaled(model, &codes, device)
}

/// A 2-D view of the latent codes of scaled rows: the codes themselves when the latent space is
/// 2-D, otherwise their first two principal components. Returns the points and the axis names.
pub fn latent_view(
    model: &TrainedModel,
    values: &[f32],
    device: &Device,
) -> (Vec<(f32, f32)>, [String; 2]) {
    let latent = model.config.latent;
    let codes = codec::encode_scaled(model, values, device);
    if latent == 2 {
        let points = codes.chunks_exact(2).map(|z| (z[0], z[1])).collect();
        return (points, ["z0".into(), "z1".into()]);
    }
    if latent == 1 {
        let points = codes.iter().map(|&z| (z, 0.0)).collect();
        return (points, ["z0".into(), "(none)".into()]);
    }
    let pca = Baseline::fit(&codes, latent, 2, device);
    let projected = pca.project(&codes, device);
    let points = projected.chunks_exact(2).map(|p| (p[0], p[1])).collect();
    (points, ["latent PC 1".into(), "latent PC 2".into()])
}
