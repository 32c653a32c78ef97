//! Training: the options a run takes, the loop that fits a network, and the bookkeeping around
//! it (loss terms, early stopping, checkpoints, the per-epoch log).

pub mod checkpoint;
pub mod early_stop;
pub mod fit;
pub mod log;
pub mod loss;
pub mod plan;
pub mod recipe;
pub mod step;
pub mod stream;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use fit::{Fitted, Samples, fit, train};
pub use log::EpochRecord;
pub use loss::LossKind;

use crate::data::noise::Noise;
pub use crate::data::scaling::ScalingKind;
use crate::device::Backend;

/// The optimizer and its settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OptimizerKind {
    /// Adam with PyTorch's defaults (β = 0.9, 0.999; ε = 1e-8).
    Adam,
    /// Stochastic gradient descent, with optional momentum (0 = none).
    Sgd { momentum: f64 },
}

/// What a training run does: everything that decides the numbers it produces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainOptions {
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub optimizer: OptimizerKind,
    pub loss: LossKind,
    /// L2 penalty added to the gradients by the optimizer (0 = none).
    pub weight_decay: f64,
    /// Fraction of the data held out for validation.
    pub val_split: f64,
    /// Stop after this many epochs without a better validation loss, keeping the best weights.
    pub patience: Option<usize>,
    pub seed: u64,
    /// Corrupt inputs with this noise and learn to reconstruct the clean ones (denoising).
    #[serde(default)]
    pub noise: Option<Noise>,
    /// How a table's columns are scaled (images are always scaled to [0, 1]).
    #[serde(default)]
    pub scaling: ScalingKind,
    /// Networks trained (from seeds `seed`, `seed + 1`, …) whose anomaly scores are averaged.
    #[serde(default = "one")]
    pub ensemble: usize,
}

fn one() -> usize {
    1
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            epochs: 10,
            batch_size: 256,
            learning_rate: 1e-3,
            optimizer: OptimizerKind::Adam,
            loss: LossKind::Mse,
            weight_decay: 0.0,
            val_split: 0.1,
            patience: None,
            seed: 42,
            noise: None,
            scaling: ScalingKind::Standard,
            ensemble: 1,
        }
    }
}

/// How a run is carried out: where it writes and what it shows. None of this changes the result.
#[derive(Debug, Clone, Default)]
pub struct RunSettings {
    pub backend: Backend,
    /// Written atomically after every epoch.
    pub checkpoint: Option<PathBuf>,
    /// Continue from `checkpoint` if it exists.
    pub resume: bool,
    /// Per-epoch JSON lines.
    pub log: Option<PathBuf>,
    /// Draw a progress bar (the CLI turns it off when stderr is not a terminal).
    pub progress: bool,
}

/// Advice about a training setup that is allowed but probably not what the user wants.
pub fn warnings(
    config: &crate::model::ModelConfig,
    input: crate::data::SampleShape,
    options: &TrainOptions,
) -> Vec<String> {
    let mut warnings = Vec::new();
    // An overcomplete code can copy its input and learn nothing; corruption, a sparsity penalty or
    // a variational bottleneck is what stops it.
    let regularised = options.noise.is_some()
        || config.beta.is_some()
        || config.sparsity.is_some()
        || config.contractive.is_some();
    if config.latent >= input.features() && !regularised {
        warnings.push(format!(
            "the latent size {} is not smaller than the input ({} values): an overcomplete \
             autoencoder can learn to copy its input; add --noise (denoising), --sparsity, --contractive \
             or --beta (variational) to make it learn structure",
            config.latent,
            input.features()
        ));
    }
    warnings
}
