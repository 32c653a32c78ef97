//! Walking the latent space: straight lines between two samples' codes, and 2-D views of where
//! the samples lie.

use burn::tensor::Device;

use crate::artifact::TrainedModel;
use crate::data::noise::Noise;
use crate::error::{Error, Result};
use crate::tasks::codec;
use crate::tasks::pca::Baseline;

/// Decodes `steps` evenly spaced points on the line from `a`'s code to `b`'s (both scaled rows),
/// endpoints included. A conditional model takes the two samples' one-hot classes, `class`, and
/// walks from one class to the other along with the code. Returns the decoded rows, in the
/// scaled space.
pub fn interpolate(
    model: &TrainedModel,
    a: &[f32],
    b: &[f32],
    class: Option<[&[f32]; 2]>,
    steps: usize,
    device: &Device,
) -> Vec<f32> {
    let ends_class = class.map(|[ca, cb]| [ca, cb].concat());
    let ends = codec::encode_scaled(model, &[a, b].concat(), ends_class.as_deref(), device);
    let steps = steps.max(2);
    let path = line(&ends, steps);
    let path_class = ends_class.map(|c| line(&c, steps));
    codec::decode_scaled(model, &path, path_class.as_deref(), device)
}

/// `steps` evenly spaced points from the first half of `ends` to the second, endpoints included.
fn line(ends: &[f32], steps: usize) -> Vec<f32> {
    let (a, b) = ends.split_at(ends.len() / 2);
    (0..steps)
        .flat_map(|i| {
            let t = i as f32 / (steps - 1) as f32;
            a.iter().zip(b).map(move |(x, y)| x + t * (y - x))
        })
        .collect()
}

/// The most values `sample` returns at once (1 GiB of f32).
const MAX_SAMPLE_VALUES: usize = 1 << 28;

/// Decodes `n` codes drawn from N(0, I) (seeded), in the scaled space: new data from a
/// variational model. A conditional model decodes them as `class`; without one, it decodes each
/// code as every class in turn (samples 0‥C-1 share one code, C‥2C-1 the next), so a grid as wide
/// as the number of classes shows one style per row and one class per column.
/// Returns the samples and, for a conditional model, the class of each.
pub fn sample(
    model: &TrainedModel,
    n: usize,
    class: Option<u32>,
    seed: u64,
    device: &Device,
) -> Result<(Vec<f32>, Option<Vec<u32>>)> {
    // The samples are decoded in memory: refuse a count whose output alone would not fit.
    let values = n.checked_mul(model.input.features());
    if n == 0 || values.is_none_or(|v| v > MAX_SAMPLE_VALUES) {
        return Err(Error::invalid(format!(
            "cannot draw {n} samples: between 1 and {} samples of this model's size can be drawn at once",
            MAX_SAMPLE_VALUES / model.input.features().max(1)
        )));
    }
    let labels = match (model.config.classes, class) {
        (None, Some(_)) => {
            return Err(Error::invalid(
                "--class needs a conditional model (train with --conditional)",
            ));
        }
        (None, None) => None,
        (Some(_), Some(k)) => Some(vec![k; n]),
        (Some(classes), None) => Some((0..n).map(|i| (i % classes) as u32).collect()),
    };
    let onehot = model.config.condition(labels.as_deref())?;
    let latent = model.config.latent;
    let noise = Noise::Gaussian { sigma: 1.0 };
    let mut codes = noise.corrupt(&vec![0.0; n * latent], false, seed);
    if let (Some(classes), None) = (model.config.classes, class) {
        // Sample i takes code i / classes: the same style across a row of classes.
        codes = (0..n)
            .flat_map(|i| {
                let z = i / classes;
                codes[z * latent..(z + 1) * latent].to_vec()
            })
            .collect();
    }
    let samples = codec::decode_scaled(model, &codes, onehot.as_deref(), device);
    Ok((samples, labels))
}

/// A 2-D view of the latent codes of scaled rows (with a conditional model's one-hot `class`): the codes themselves when the latent space is
/// 2-D, otherwise their first two principal components. Returns the points and the axis names.
pub fn latent_view(
    model: &TrainedModel,
    values: &[f32],
    class: Option<&[f32]>,
    device: &Device,
) -> (Vec<(f32, f32)>, [String; 2]) {
    let latent = model.config.latent;
    let codes = codec::encode_scaled(model, values, class, device);
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
