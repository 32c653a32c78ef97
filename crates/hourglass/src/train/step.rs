//! One training step: a batch forward, the loss, backward, and the optimizer's update. The loop
//! in `fit.rs` and the speed benchmark both drive this, so they time the same code.

use burn::module::Module;
use burn::optim::{
    GradientsParams, ModuleOptimizer, SgdConfig, decay::WeightDecayConfig, momentum::MomentumConfig,
};
use burn::tensor::Device;

use super::loss::{LossKind, LossTerms, loss_terms};
use super::{OptimizerKind, TrainOptions};
use crate::data::SampleShape;
use crate::device::{Backend, on_device_thread, rows_tensor};
use crate::error::Result;
use crate::model::{ModelConfig, Network};
use crate::ops::adam::Adam;

/// One batch of scaled rows to learn from.
pub struct Batch {
    /// What the network sees (corrupted, for a denoising model; missing values filled).
    pub input: Vec<f32>,
    /// What it should reconstruct; `input` itself when `None`.
    pub target: Option<Vec<f32>>,
    /// 1 where the target is observed, 0 where it is missing; all observed when `None`.
    pub mask: Option<Vec<f32>>,
    /// A conditional model's one-hot class rows (see `ModelConfig::condition`).
    pub class: Option<Vec<f32>>,
}

impl Batch {
    /// A plain batch: reconstruct the input.
    pub fn plain(rows: Vec<f32>) -> Self {
        Batch {
            input: rows,
            target: None,
            mask: None,
            class: None,
        }
    }

    /// A batch from rows that may hold missing values (NaN): they are filled with `fill` (per
    /// column) in the input, and masked out of the loss.
    pub fn from_rows(rows: Vec<f32>, fill: &[f32]) -> Self {
        if !rows.iter().any(|v| v.is_nan()) {
            return Batch::plain(rows);
        }
        let mask = rows
            .iter()
            .map(|v| if v.is_nan() { 0.0 } else { 1.0 })
            .collect();
        let filled = fill_missing(rows, fill);
        Batch {
            input: filled,
            target: None,
            mask: Some(mask),
            class: None,
        }
    }

    /// The same batch with the samples' one-hot class rows, for a conditional model.
    pub fn with_class(mut self, class: Option<Vec<f32>>) -> Self {
        self.class = class;
        self
    }
}

/// Replaces NaN entries by their column's `fill` value.
pub fn fill_missing(mut rows: Vec<f32>, fill: &[f32]) -> Vec<f32> {
    for row in rows.chunks_exact_mut(fill.len()) {
        for (v, f) in row.iter_mut().zip(fill) {
            if v.is_nan() {
                *v = *f;
            }
        }
    }
    rows
}

/// A batch's losses, read back from the device.
#[derive(Debug, Clone, Copy)]
pub struct StepLoss {
    pub total: f64,
    pub reconstruction: f64,
    pub kl: Option<f64>,
    pub sparsity: Option<f64>,
    pub contractive: Option<f64>,
}

impl StepLoss {
    pub fn read(terms: &LossTerms) -> Self {
        let value = |t: &burn::tensor::Tensor<1>| t.clone().into_scalar::<f32>() as f64;
        StepLoss {
            total: value(&terms.total),
            reconstruction: value(&terms.reconstruction),
            kl: terms.kl.as_ref().map(value),
            sparsity: terms.sparsity.as_ref().map(value),
            contractive: terms.contractive.as_ref().map(value),
        }
    }
}

/// A network on an autodiff device with its optimizer.
pub struct Stepper {
    /// Always `Some` between calls: the optimizer takes the network by value and returns it.
    network: Option<Network>,
    pub(super) optimizer: ModuleOptimizer,
    learning_rate: f64,
    loss: LossKind,
    config: ModelConfig,
    features: usize,
    device: Device,
}

impl Stepper {
    /// A freshly initialised network (seeded by `options.seed`) and optimizer.
    pub fn new(
        config: &ModelConfig,
        input: SampleShape,
        options: &TrainOptions,
        backend: Backend,
    ) -> Result<Self> {
        let device = backend.device()?.autodiff();
        device.seed(options.seed);
        Ok(Stepper {
            network: Some(Network::new(config, input, &device)),
            optimizer: build_optimizer(options),
            learning_rate: options.learning_rate,
            loss: options.loss,
            config: config.clone(),
            features: input.features(),
            device,
        })
    }

    /// One update on a batch; returns the batch's losses before the update.
    ///
    /// On the CPU the step runs inside rayon's pool ([`crate::device::in_pool`]): its parallel
    /// sections (the layers or layer stacks, the loss, Adam) then cost a queue push each, not a
    /// sleep and a wake-up. On a GPU it runs on the calling thread ([`on_device_thread`]).
    pub fn step(&mut self, batch: Batch) -> StepLoss {
        let device = self.device.clone();
        on_device_thread(&device, || self.step_here(batch))
    }

    fn step_here(&mut self, batch: Batch) -> StepLoss {
        let Batch {
            input,
            target,
            mask,
            class,
        } = batch;
        let network = self
            .network
            .take()
            .expect("the network is put back after each step");
        let x = rows_tensor(input, self.features, &self.device);
        let target = match target {
            Some(rows) => rows_tensor(rows, self.features, &self.device),
            None => x.clone(),
        };
        let mask = mask.map(|m| rows_tensor(m, self.features, &self.device));
        let classes = self.config.classes.unwrap_or(0);
        let class = class.map(|c| rows_tensor(c, classes, &self.device));
        let terms = loss_terms(&network, x, target, mask, class, self.loss, &self.config);
        let values = StepLoss::read(&terms);
        let grads = GradientsParams::from_grads(terms.total.backward(), &network);
        self.network = Some(self.optimizer.step(self.learning_rate, network, grads));
        values
    }

    pub fn network(&self) -> &Network {
        self.network.as_ref().expect("present between steps")
    }

    /// A copy of the network for inference: off the autodiff graph, dropout off.
    pub fn inference_network(&self) -> Network {
        self.network().valid()
    }

    pub(super) fn replace_network(&mut self, network: Network) {
        self.network = Some(network);
    }

    /// The autodiff device the network lives on.
    pub fn device(&self) -> &Device {
        &self.device
    }
}

fn build_optimizer(options: &TrainOptions) -> ModuleOptimizer {
    match options.optimizer {
        // Burn's Adam in one pass per parameter on flex (`ops::adam`), Burn's own elsewhere.
        OptimizerKind::Adam => {
            ModuleOptimizer::from(Adam::new(0.9, 0.999, 1e-8, options.weight_decay as f32))
        }
        OptimizerKind::Sgd { momentum } => SgdConfig::new()
            .with_weight_decay(
                (options.weight_decay > 0.0)
                    .then(|| WeightDecayConfig::new(options.weight_decay as f32)),
            )
            .with_momentum((momentum > 0.0).then(|| {
                MomentumConfig::new()
                    .with_momentum(momentum)
                    .with_dampening(0.0)
            }))
            .init(),
    }
}
