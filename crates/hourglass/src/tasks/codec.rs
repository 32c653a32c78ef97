//! Encoding data to latent codes and decoding codes back, in batches, on the host's buffers.
//!
//! `class` is a conditional model's one-hot class rows beside the samples or codes (from
//! [`crate::model::ModelConfig::condition`]); `None` for every other model.

use std::mem::MaybeUninit;

use burn::tensor::{Device, Tensor};

use crate::artifact::TrainedModel;
use crate::data::Dataset;
use rayon::prelude::*;

use crate::device::{is_cpu, on_device_thread, on_one_thread, rows_tensor, to_vec};
use crate::error::Result;
use crate::model::Network;

/// Rows per forward pass at inference: 1,024 for dense networks and on a GPU. Convolutional
/// networks on the CPU take 128 rows per thread (256 to 1,024 a batch, each thread one part of
/// it): their activations are many times their input (a 28×28 image is ≈ 14,000 values inside
/// the conv2d model), and at parts of 512 rows (1,024 on 2 threads) a part's buffers were over
/// glibc's 32 MiB limit for reusing memory: mapped and faulted in anew for every batch. At 256
/// rows on 2 threads, batch inference of 1,024 rows ran conv2d 5–7 % and conv1d 13–20 % faster,
/// dense 4–9 % slower (BENCHMARKS.md, issue 12).
pub(crate) fn batch_rows(network: &Network, device: &Device) -> usize {
    match network {
        Network::Conv2d(_) | Network::Conv1d(_) if is_cpu(device) => {
            (128 * rayon::current_num_threads()).clamp(256, 1024)
        }
        _ => 1024,
    }
}

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
        network,
        values,
        (model.input.features(), model.config.latent),
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
        network,
        latents,
        (model.config.latent, model.input.features()),
        class,
        device,
        |z, c| network.decode(z, c),
    )
}

/// Scaled rows → the network's feature maps ([`Network::feature_map`]), each part of a batch
/// handed to `reduce` (which gives `out_width` values a row) on the thread that computed it, so
/// only reduced rows are kept (a map is thousands of values per row); empty when the network has
/// none. A batch at a time on one thread, it took 0.4–0.5 s for 8,192 images where a whole
/// reconstruction of them takes 0.3 s.
pub fn feature_maps_by(
    model: &TrainedModel,
    network: &Network,
    values: &[f32],
    out_width: usize,
    device: &Device,
    reduce: impl Fn(Vec<f32>) -> Vec<f32> + Sync,
) -> Vec<f32> {
    if network.feature_width().is_none() {
        return Vec::new();
    }
    let width = model.input.features();
    let batch = batch_rows(network, device);
    apply(values, (width, out_width, batch), None, device, |x, _| {
        let maps = network
            .feature_map(x)
            .expect("a network with a feature width has maps");
        reduce(to_vec(maps))
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
        network,
        values,
        (model.input.features(), model.input.features()),
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

/// A network's reconstructions of rows `width` wide (a model without classes), as the library's
/// batch inference runs them: what the speed benchmark times.
pub fn reconstruct_rows(
    network: &Network,
    values: &[f32],
    width: usize,
    device: &Device,
) -> Vec<f32> {
    let batch = batch_rows(network, device);
    apply(values, (width, width, batch), None, device, |x, c| {
        to_vec(network.reconstruct(x, c))
    })
}

/// Applies `f` to batches of rows `width` wide (with their class rows, if any); `f` gives rows
/// `out_width` wide.
fn map_rows(
    model: &TrainedModel,
    network: &Network,
    values: &[f32],
    (width, out_width): (usize, usize),
    class: Option<&[f32]>,
    device: &Device,
    f: impl Fn(Tensor<2>, Option<Tensor<2>>) -> Tensor<2> + Sync,
) -> Vec<f32> {
    let classes = model.config.classes.unwrap_or(0);
    apply(
        values,
        (width, out_width, batch_rows(network, device)),
        class.map(|c| (c, classes)),
        device,
        |x, c| to_vec(f(x, c)),
    )
}

/// Below this many rows a part of a batch is not worth a thread of its own.
const MIN_PART_ROWS: usize = 16;

/// `f` over batches of `batch` rows `width` wide, with their class rows (`classes` wide) if
/// any; the outputs, `out_width` wide, in row order.
///
/// On the CPU each batch is cut into one part per thread and every part goes through the whole
/// network on its own thread ([`on_one_thread`]): the threads meet once per batch instead of
/// once per layer. Dense inference on 2 cores, AVX2: batch 64 +16 %, batch 1024 +8 %
/// (BENCHMARKS.md, issue 12). Each part copies its output straight into its place in the
/// result, on its own thread, rather than the calling thread joining the parts afterwards.
fn apply(
    values: &[f32],
    (width, out_width, batch): (usize, usize, usize),
    class: Option<(&[f32], usize)>,
    device: &Device,
    f: impl Fn(Tensor<2>, Option<Tensor<2>>) -> Vec<f32> + Sync,
) -> Vec<f32> {
    // Chunk sizes of zero would panic; a zero-wide output is empty whatever the chunking.
    let (width, chunk_width, batch) = (width.max(1), out_width.max(1), batch.max(1));
    let total = values.len() / width;
    // Rows `first…` of the input, through `f`, into `dst`.
    let run = |first: usize, part: &[f32], dst: &mut [MaybeUninit<f32>]| {
        let rows = part.len() / width;
        let class = class.map(|(c, classes)| {
            let rows = c[first * classes..(first + rows) * classes].to_vec();
            rows_tensor(rows, classes, device)
        });
        let output = f(rows_tensor(part.to_vec(), width, device), class);
        assert_eq!(
            output.len(),
            dst.len(),
            "a batch's output is rows × out_width"
        );
        dst.write_copy_of_slice(&output);
    };
    let mut out = Vec::with_capacity(total * out_width);
    let dst = &mut out.spare_capacity_mut()[..total * out_width];
    // On the CPU inside rayon's pool: the parts (or each batch's layers) split their work
    // without waking this thread. A GPU's work stays on this thread.
    on_device_thread(device, || {
        let batches = values.chunks(batch * width);
        for (i, (chunk, dst)) in batches.zip(dst.chunks_mut(batch * chunk_width)).enumerate() {
            let rows = chunk.len() / width;
            let parts = if is_cpu(device) {
                rayon::current_num_threads()
                    .min(rows / MIN_PART_ROWS)
                    .max(1)
            } else {
                1
            };
            if parts == 1 {
                run(i * batch, chunk, dst);
                continue;
            }
            let per = rows.div_ceil(parts);
            chunk
                .par_chunks(per * width)
                .zip(dst.par_chunks_mut(per * chunk_width))
                .enumerate()
                .for_each(|(p, (part, dst))| on_one_thread(|| run(i * batch + p * per, part, dst)));
        }
    });
    // SAFETY: every batch's part wrote all of its rows (`run` checks each output's length).
    unsafe { out.set_len(total * out_width) };
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{SampleShape, Scaling};
    use crate::model::ModelConfig;

    /// Batch inference cuts a batch into one part per thread: the parts come back in row order,
    /// each with its own class rows, and equal the whole batch run in one piece.
    #[test]
    fn parts_of_a_batch_give_the_whole_batchs_result() {
        let device = Device::flex();
        let (rows, width, classes) = (100, 20, 3);
        let shape = SampleShape::tabular(width);
        let config = ModelConfig::dense(4)
            .conditional(classes)
            .resolve(shape, &Scaling::Pixels { max: 1.0 })
            .unwrap();
        let network = Network::new(&config, shape, &device);
        let values: Vec<f32> = (0..rows * width)
            .map(|i| (i * 37 % 101) as f32 / 50.0)
            .collect();
        let class: Vec<f32> = (0..rows * classes)
            .map(|i| f32::from(i % classes == (i / classes) % classes))
            .collect();
        let reconstruct = |x, c| to_vec(network.reconstruct(x, c));
        // Three threads: 100 rows in parts of 34, 34 and 32.
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        let parted = pool.install(|| {
            apply(
                &values,
                (width, width, 1024),
                Some((&class, classes)),
                &device,
                reconstruct,
            )
        });
        let whole = on_one_thread(|| {
            let x = rows_tensor(values.clone(), width, &device);
            reconstruct(x, Some(rows_tensor(class.clone(), classes, &device)))
        });
        assert_eq!(parted.len(), rows * width);
        let gap = parted
            .iter()
            .zip(&whole)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(gap < 1e-5, "parts differ from the whole batch by {gap}");
    }
}
