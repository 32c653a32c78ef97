//! Training on data read a block at a time (`--stream`), for files larger than memory. Memory
//! holds the model, one block, a shuffle buffer of [`SHUFFLE_BYTES`] and a sample of
//! [`SAMPLE_ROWS`] training rows, whatever the size of the file:
//!
//! - one pass first gathers the scaling statistics (exact: column sums, the brightest pixel; the
//!   robust scaling's medians come from the sample) and the sample, by seeded reservoir sampling;
//! - the validation split is a seeded hash of each row's index ([`stream::is_validation`]), so it
//!   does not depend on the order blocks are read in;
//! - each epoch reads the blocks in a seeded order and shuffles rows within a buffer of several
//!   blocks: a batch mixes rows from the buffer's blocks only, not from the whole file as the
//!   in-memory shuffle does (BENCHMARKS.md, "Data larger than memory", measures what that costs);
//! - the validation loss is one more pass over the blocks, reading only the held-out rows;
//! - the PCA baseline and the anomaly statistics are fit on the sample.
//!
//! The same seed gives the same model.

use std::time::Instant;

use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::fit::{self, EpochData, Finished, VALIDATION_NOISE, noisy_batch};
use super::step::Batch;
use super::{RunSettings, ScalingKind, TrainOptions, loss};
use crate::artifact::TrainedModel;
use crate::data::dataset::epoch_order;
use crate::data::scaling::ColumnStats;
use crate::data::stream::{self, RowSource, mix};
use crate::data::{Dataset, Scaling};
use crate::error::{Error, Result};
use crate::model::ModelConfig;

/// Bytes of scaled rows the shuffle buffer holds (64 MiB: 21,000 Fashion-MNIST images).
pub const SHUFFLE_BYTES: usize = 64 << 20;

/// Training rows kept for the robust scaling, the PCA baseline and the anomaly statistics.
pub const SAMPLE_ROWS: usize = 16_384;

/// Which rows of a source train the model: those of `class` (when given), not held out.
#[derive(Debug, Clone, Copy)]
struct Rows {
    class: Option<u32>,
    seed: u64,
    val_split: f64,
}

impl Rows {
    /// Whether row `r` of a block that starts at row `start` belongs to the data set at all, and
    /// whether it is held out for validation.
    fn choose(&self, block: &Dataset, start: usize, r: usize) -> Option<bool> {
        if let (Some(class), Some(labels)) = (self.class, &block.labels)
            && labels[r] != class
        {
            return None;
        }
        Some(stream::is_validation(self.seed, start + r, self.val_split))
    }

    /// The block's rows that are (`validation`) or are not held out, in their order.
    fn pick(&self, block: &Dataset, start: usize, validation: bool) -> Vec<f32> {
        let d = block.shape.features();
        let mut out = Vec::new();
        for r in 0..block.len() {
            if self.choose(block, start, r) == Some(validation) {
                out.extend_from_slice(&block.values[r * d..(r + 1) * d]);
            }
        }
        out
    }
}

/// What the first pass finds.
struct Census {
    train: usize,
    val: usize,
    stats: ColumnStats,
    /// Raw training rows, a seeded reservoir sample of at most [`SAMPLE_ROWS`].
    sample: Vec<f32>,
}

fn census(source: &mut dyn RowSource, rows: Rows) -> Result<Census> {
    let d = source.shape().features();
    let mut census = Census {
        train: 0,
        val: 0,
        stats: ColumnStats::new(d),
        sample: Vec::new(),
    };
    let mut rng = ChaCha8Rng::seed_from_u64(rows.seed ^ 0x5A3F_1E00);
    for b in 0..source.blocks() {
        let block = source.read_block(b)?;
        let start = source.block_start(b);
        if rows.class.is_some() && block.labels.is_none() {
            return Err(Error::format(
                source.path(),
                "--class needs labels, and this data has none (give --label-column)",
            ));
        }
        for r in 0..block.len() {
            let row = block.row(r);
            if let Some(j) = row.iter().position(|v| v.is_infinite()) {
                return Err(Error::format(
                    source.path(),
                    format!("sample {}, value {j} is infinite", start + r),
                ));
            }
            match rows.choose(&block, start, r) {
                None => {}
                Some(true) => census.val += 1,
                Some(false) => {
                    census.stats.add(row);
                    // Reservoir sampling (Vitter's algorithm R): every row kept with equal chance.
                    let t = census.train;
                    if t < SAMPLE_ROWS {
                        census.sample.extend_from_slice(row);
                    } else {
                        let j = rng.random_range(0..=t);
                        if j < SAMPLE_ROWS {
                            census.sample[j * d..(j + 1) * d].copy_from_slice(row);
                        }
                    }
                    census.train += 1;
                }
            }
        }
    }
    Ok(census)
}

/// The rows of a source as [`EpochData`]: blocks in a seeded order through a shuffle buffer.
struct Streamed<'a> {
    source: &'a mut dyn RowSource,
    rows: Rows,
    scaling: Scaling,
    fill: Vec<f32>,
    train: usize,
    val: usize,
    noise: Option<crate::data::noise::Noise>,
    shuffle_bytes: usize,
}

impl Streamed<'_> {
    fn buffer_rows(&self, batch_size: usize) -> usize {
        let row_bytes = self.source.shape().features() * 4;
        (self.shuffle_bytes / row_bytes.max(1)).max(4 * batch_size)
    }
}

impl EpochData for Streamed<'_> {
    fn train_rows(&self) -> usize {
        self.train
    }
    fn has_validation(&self) -> bool {
        self.val > 0
    }
    fn fill(&self) -> &[f32] {
        &self.fill
    }
    fn train_batches(
        &mut self,
        seed: u64,
        epoch: usize,
        batch_size: usize,
        each: &mut dyn FnMut(Vec<f32>, Option<Vec<f32>>) -> Result<()>,
    ) -> Result<()> {
        let d = self.source.shape().features();
        let capacity = self.buffer_rows(batch_size);
        let order = epoch_order(self.source.blocks(), seed, epoch);
        let mut buffer: Vec<f32> = Vec::new();
        let mut window = 0u64;
        for (i, &b) in order.iter().enumerate() {
            let block = self.source.read_block(b)?;
            let mut rows = self.rows.pick(&block, self.source.block_start(b), false);
            self.scaling.apply(&mut rows);
            buffer.extend(rows);
            let last = i + 1 == order.len();
            if buffer.len() / d < capacity && !last {
                continue;
            }
            // Shuffle the buffer's rows; hand out whole batches, and keep the rest for the next
            // window (all of it after the last block).
            let n = buffer.len() / d;
            let mut index: Vec<usize> = (0..n).collect();
            let stream = mix(
                seed ^ (epoch as u64).wrapping_mul(0xA24B_AED4_963E_E407),
                window,
            );
            index.shuffle(&mut ChaCha8Rng::seed_from_u64(stream));
            window += 1;
            let whole = if last { n } else { n - n % batch_size };
            for batch in index[..whole].chunks(batch_size) {
                each(fit::gather(&buffer, d, batch), None)?;
            }
            buffer = fit::gather(&buffer, d, &index[whole..]);
        }
        Ok(())
    }
    fn validation(&mut self, each: &mut dyn FnMut(&Batch) -> Result<()>) -> Result<()> {
        let unit_range = self.scaling.is_unit_range();
        for b in 0..self.source.blocks() {
            let block = self.source.read_block(b)?;
            let start = self.source.block_start(b);
            let mut rows = self.rows.pick(&block, start, true);
            if rows.is_empty() {
                continue;
            }
            self.scaling.apply(&mut rows);
            // The same corruption every epoch: seeded by the block.
            let batch = noisy_batch(
                Batch::from_rows(rows, &self.fill),
                self.noise,
                unit_range,
                mix(self.rows.seed ^ VALIDATION_NOISE, b as u64),
            );
            each(&batch)?;
        }
        Ok(())
    }
}

/// How a source is streamed.
#[derive(Debug, Clone, Copy)]
pub struct Streaming {
    /// Train only on the rows of this class (one-class training).
    pub class: Option<u32>,
    /// Bytes of scaled rows the shuffle buffer holds.
    pub shuffle_bytes: usize,
}

impl Default for Streaming {
    fn default() -> Self {
        Streaming {
            class: None,
            shuffle_bytes: SHUFFLE_BYTES,
        }
    }
}

/// Trains a model on rows read a block at a time. `config` and `options` come from
/// [`super::plan::plan_streamed`].
pub fn train(
    source: &mut dyn RowSource,
    streaming: Streaming,
    config: &ModelConfig,
    options: &TrainOptions,
    run: &RunSettings,
) -> Result<TrainedModel> {
    fit::check_options(options)?;
    let shape = source.shape();
    let kind = source.kind();
    let rows = Rows {
        class: streaming.class,
        seed: options.seed,
        val_split: options.val_split,
    };
    let census = census(source, rows)?;
    if census.train == 0 {
        return Err(Error::format(
            source.path(),
            "no training samples (after the validation split and --class)",
        ));
    }
    let scaling = match options.scaling {
        ScalingKind::Robust if kind == crate::data::SampleKind::Tabular => {
            let sample = Dataset {
                values: census.sample.clone(),
                shape,
                kind,
                labels: None,
                columns: None,
            };
            Scaling::fit(&sample, ScalingKind::Robust)
        }
        _ => census.stats.scaling(kind),
    };
    let config = config.resolve(shape, &scaling)?;
    loss::check(options.loss, config.output)?;
    let mut fill = census.stats.means();
    scaling.apply(&mut fill);
    let started = Instant::now();
    let columns = source.columns();
    let mut data = Streamed {
        source,
        rows,
        scaling: scaling.clone(),
        fill,
        train: census.train,
        val: census.val,
        noise: options.noise,
        shuffle_bytes: streaming.shuffle_bytes,
    };
    let (fitted, members) = fit::fit_ensemble(&config, shape, &scaling, &mut data, options, run)?;
    let mut reference = census.sample;
    scaling.apply(&mut reference);
    fit::finish(
        Finished {
            config,
            input: shape,
            kind,
            columns,
            scaling,
            fitted,
            members,
            train_samples: census.train,
            val_samples: census.val,
            started,
        },
        reference,
        None,
        options,
        run,
    )
}
