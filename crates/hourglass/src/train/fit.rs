//! The training loop: batches → forward → loss → backward → optimizer step, epoch after epoch,
//! with validation, early stopping, a checkpoint per epoch and resume.

use std::time::Instant;

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, Device};
use indicatif::{ProgressBar, ProgressStyle};

use super::checkpoint::{Checkpoint, TrainState};
use super::early_stop::EarlyStopping;
use super::log::EpochLog;
use super::loss::{self, loss_terms};
use super::step::{Batch, StepLoss, Stepper, fill_missing};
use super::{EpochRecord, OptimizerKind, RunSettings, TrainOptions};
use crate::artifact::{TrainedModel, TrainingSummary};
use crate::data::noise::Noise;
use crate::data::scaling::column_means;
use crate::data::{Dataset, SampleShape, Scaling, dataset::epoch_order};
use crate::device::rows_tensor;
use crate::error::{Error, Result};
use crate::model::{ModelConfig, Network};
use crate::tasks::anomaly;
use crate::tasks::detector::{self, Detector, ScoreKind};
use crate::tasks::features::FeatureIndex;
use crate::tasks::pca::Baseline;

/// The result of [`fit`].
pub struct Fitted {
    /// The trained network on the plain (inference) device: the best epoch's weights when early
    /// stopping is on, the last epoch's otherwise.
    pub network: Network,
    pub history: Vec<EpochRecord>,
    pub best_epoch: Option<usize>,
    pub stopped_early: bool,
}

/// Trains a model on a data set: splits off validation data, fits the scaling on the training
/// part, fits the network, and fits the mean/PCA baselines on the same training part.
pub fn train(
    data: &Dataset,
    config: &ModelConfig,
    options: &TrainOptions,
    run: &RunSettings,
) -> Result<TrainedModel> {
    check_options(options)?;
    // NaN marks a missing value, which training masks out; infinity is an error in the data.
    if let Some(i) = data.values.iter().position(|v| v.is_infinite()) {
        let d = data.shape.features();
        return Err(Error::invalid(format!(
            "sample {}, value {} is infinite",
            i / d,
            i % d
        )));
    }
    let (train_set, val_set) = data.split(options.val_split, options.seed);
    if train_set.is_empty() {
        return Err(Error::invalid(
            "no training samples left after the validation split",
        ));
    }
    let scaling = Scaling::fit(&train_set, options.scaling);
    let config = config.resolve(data.shape, &scaling)?;
    loss::check(options.loss, config.output)?;
    let (train_samples, val_samples) = (train_set.len(), val_set.len());
    // The split's rows are copies already: scaled in place rather than copied again.
    let (mut train_values, mut val_values) = (train_set.values, val_set.values);
    scaling.apply(&mut train_values);
    scaling.apply(&mut val_values);
    let train_class = config.condition(train_set.labels.as_deref())?;
    let val_class = config.condition(val_set.labels.as_deref())?;

    let started = Instant::now();
    let mut rows = InMemory::new(
        &config,
        data.shape,
        &scaling,
        Samples::new(&train_values, train_class.as_deref()),
        Samples::new(&val_values, val_class.as_deref()),
        options,
    );
    let (fitted, members) = fit_ensemble(&config, data.shape, &scaling, &mut rows, options, run)?;
    finish(
        Finished {
            config,
            input: data.shape,
            kind: data.kind,
            columns: data.columns.clone(),
            scaling,
            fitted,
            members,
            train_samples,
            val_samples,
            started,
        },
        train_values,
        train_class.as_deref(),
        options,
        run,
    )
}

/// Fits the network, then an ensemble's other members: the same recipe from the next seeds, on
/// the same split. They are short runs, so they are not checkpointed: a resumed run trains them
/// again.
pub(crate) fn fit_ensemble(
    config: &ModelConfig,
    input: SampleShape,
    scaling: &Scaling,
    data: &mut dyn EpochData,
    options: &TrainOptions,
    run: &RunSettings,
) -> Result<(Fitted, Vec<Network>)> {
    let fitted = fit_on(config, input, scaling, data, options, run)?;
    let mut members = Vec::new();
    for i in 1..options.ensemble {
        let member_options = TrainOptions {
            seed: options.seed.wrapping_add(i as u64),
            ..options.clone()
        };
        let member_run = RunSettings {
            backend: run.backend,
            ..RunSettings::default()
        };
        let member = fit_on(config, input, scaling, data, &member_options, &member_run)?;
        members.push(member.network);
    }
    Ok((fitted, members))
}

/// What a training run produced, before the baselines and the anomaly statistics are fit.
pub(crate) struct Finished {
    pub config: ModelConfig,
    pub input: SampleShape,
    pub kind: crate::data::SampleKind,
    pub columns: Option<Vec<String>>,
    pub scaling: Scaling,
    pub fitted: Fitted,
    pub members: Vec<Network>,
    pub train_samples: usize,
    pub val_samples: usize,
    pub started: Instant,
}

/// Fits the mean/PCA baseline and the anomaly statistics on `reference` (scaled training rows:
/// all of them in memory, a seeded sample of them when streaming) and assembles the model.
pub(crate) fn finish(
    done: Finished,
    reference: Vec<f32>,
    reference_class: Option<&[f32]>,
    options: &TrainOptions,
    run: &RunSettings,
) -> Result<TrainedModel> {
    let device = run.backend.device()?;
    let features = done.input.features();
    // Baselines and anomaly scores see missing values filled with their column's mean.
    let fill = column_means(&reference, features);
    let reference = fill_missing(reference, &fill);
    let baseline = Baseline::fit(&reference, features, done.config.latent, &device);
    let last = done.fitted.history.last();
    let mut model = TrainedModel {
        summary: TrainingSummary {
            options: options.clone(),
            train_samples: done.train_samples,
            val_samples: done.val_samples,
            epochs_run: done.fitted.history.len(),
            best_epoch: done.fitted.best_epoch,
            stopped_early: done.fitted.stopped_early,
            final_train_loss: last.map(|r| r.train_loss),
            final_val_loss: last.and_then(|r| r.val_loss),
            seconds: done.started.elapsed().as_secs_f64(),
        },
        config: done.config,
        input: done.input,
        kind: done.kind,
        scaling: done.scaling,
        network: done.fitted.network,
        members: done.members,
        baseline,
        columns: done.columns.filter(|c| c.len() == features),
        detector: Detector::legacy(Vec::new()),
    };
    // The training split's own residuals set the scale of every score and of thresholds later.
    // Codes and errors only: the feature index is fit below, and brings its own training scores.
    let all = anomaly::residuals(&model, &reference, reference_class, true, false, &device);
    let training = anomaly::as_residuals(&all, features, model.config.latent);
    let indexes: Vec<Option<FeatureIndex>> = std::iter::once(&model.network)
        .chain(&model.members)
        .map(|network| FeatureIndex::fit(&model, network, &reference, &device))
        .collect();
    let mut default = detector::default_score(done.kind, &model.config.architecture);
    if default == ScoreKind::Features && indexes.iter().any(Option::is_none) {
        default = ScoreKind::Combined; // too few training images to have neighbours
    }
    model.detector = Detector::fit(&training, indexes, default);
    Ok(model)
}

pub(crate) fn check_options(options: &TrainOptions) -> Result<()> {
    if options.batch_size == 0 {
        return Err(Error::invalid("batch size must be at least 1"));
    }
    if options.epochs == 0 {
        return Err(Error::invalid(
            "epochs must be at least 1 (0 would save an untrained model)",
        ));
    }
    if !(options.weight_decay >= 0.0 && options.weight_decay.is_finite()) {
        return Err(Error::invalid(format!(
            "weight decay must be a non-negative number, not {}",
            options.weight_decay
        )));
    }
    if let OptimizerKind::Sgd { momentum } = options.optimizer
        && !(0.0..1.0).contains(&momentum)
    {
        return Err(Error::invalid(format!(
            "momentum must be in [0, 1), not {momentum}"
        )));
    }
    if !(0.0..1.0).contains(&options.val_split) {
        return Err(Error::invalid(format!(
            "validation split must be in [0, 1), not {}",
            options.val_split
        )));
    }
    if options.patience.is_some() && options.val_split == 0.0 {
        return Err(Error::invalid(
            "early stopping watches the validation loss: give --val-split above 0",
        ));
    }
    if !(options.learning_rate > 0.0 && options.learning_rate.is_finite()) {
        return Err(Error::invalid("learning rate must be a positive number"));
    }
    if !(1..=64).contains(&options.ensemble) {
        return Err(Error::invalid(format!(
            "an ensemble has 1 to 64 networks, not {}",
            options.ensemble
        )));
    }
    Ok(())
}

/// Scaled rows to fit or validate on and, for a conditional model, their one-hot class rows.
#[derive(Debug, Clone, Copy)]
pub struct Samples<'a> {
    pub values: &'a [f32],
    pub class: Option<&'a [f32]>,
}

impl<'a> Samples<'a> {
    pub fn new(values: &'a [f32], class: Option<&'a [f32]>) -> Self {
        Samples { values, class }
    }
}

/// Where an epoch's batches come from: scaled rows in memory ([`InMemory`]), or rows read a
/// block at a time from a file too large for memory (`stream.rs`).
pub trait EpochData {
    /// Training rows in one epoch.
    fn train_rows(&self) -> usize;
    fn has_validation(&self) -> bool;
    /// Per-column means of the training rows: missing values enter the network as these.
    fn fill(&self) -> &[f32];
    /// Hands out one epoch's batches of scaled rows (and one-hot class rows), in an order seeded
    /// by `seed` and `epoch`.
    fn train_batches(
        &mut self,
        seed: u64,
        epoch: usize,
        batch_size: usize,
        each: &mut dyn FnMut(Vec<f32>, Option<Vec<f32>>) -> Result<()>,
    ) -> Result<()>;
    /// Hands out the validation rows as batches, corrupted the same way every epoch.
    fn validation(&mut self, each: &mut dyn FnMut(&Batch) -> Result<()>) -> Result<()>;
}

/// Scaled rows in memory: each epoch a seeded shuffle of all of them.
pub struct InMemory<'a> {
    train: Samples<'a>,
    features: usize,
    classes: usize,
    fill: Vec<f32>,
    val: Option<Batch>,
}

impl<'a> InMemory<'a> {
    pub fn new(
        config: &ModelConfig,
        input: SampleShape,
        scaling: &Scaling,
        train: Samples<'a>,
        val: Samples,
        options: &TrainOptions,
    ) -> Self {
        let features = input.features();
        let fill = column_means(train.values, features);
        // A denoising model is validated on corrupted inputs, the same corruption every epoch.
        let val = (!val.values.is_empty()).then(|| {
            noisy_batch(
                Batch::from_rows(val.values.to_vec(), &fill)
                    .with_class(val.class.map(<[f32]>::to_vec)),
                options.noise,
                scaling.is_unit_range(),
                options.seed ^ VALIDATION_NOISE,
            )
        });
        InMemory {
            train,
            features,
            classes: config.classes.unwrap_or(0),
            fill,
            val,
        }
    }
}

impl EpochData for InMemory<'_> {
    fn train_rows(&self) -> usize {
        self.train.values.len() / self.features
    }
    fn has_validation(&self) -> bool {
        self.val.is_some()
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
        let order = epoch_order(self.train_rows(), seed, epoch);
        for batch in order.chunks(batch_size) {
            let class = self.train.class.map(|c| gather(c, self.classes, batch));
            each(gather(self.train.values, self.features, batch), class)?;
        }
        Ok(())
    }
    fn validation(&mut self, each: &mut dyn FnMut(&Batch) -> Result<()>) -> Result<()> {
        match &self.val {
            Some(batch) => each(batch),
            None => Ok(()),
        }
    }
}

/// Fits a network to scaled rows. `config` must be resolved.
pub fn fit(
    config: &ModelConfig,
    input: SampleShape,
    scaling: &Scaling,
    train: Samples,
    val: Samples,
    options: &TrainOptions,
    run: &RunSettings,
) -> Result<Fitted> {
    let mut data = InMemory::new(config, input, scaling, train, val, options);
    fit_on(config, input, scaling, &mut data, options, run)
}

/// Fits a network to the batches `data` hands out. `config` must be resolved.
pub fn fit_on(
    config: &ModelConfig,
    input: SampleShape,
    scaling: &Scaling,
    data: &mut dyn EpochData,
    options: &TrainOptions,
    run: &RunSettings,
) -> Result<Fitted> {
    let plain = run.backend.device()?;
    let features = input.features();
    let n_train = data.train_rows();

    let mut stepper = Stepper::new(config, input, options, run.backend)?;
    let device = stepper.device().clone();
    let mut best: Option<Network> = None;
    let mut state = TrainState {
        config: config.clone(),
        input,
        scaling: scaling.clone(),
        options: options.clone(),
        completed_epochs: 0,
        history: Vec::new(),
        early_stopping: EarlyStopping::new(options.patience),
    };

    if run.resume
        && let Some(path) = &run.checkpoint
        && !path.exists()
    {
        // A mistyped path must not quietly start the run again from scratch.
        return Err(Error::invalid(format!(
            "--resume: there is no checkpoint at {}",
            path.display()
        )));
    }
    // Past the check above, a checkpoint asked for exists.
    let resuming = run.resume && run.checkpoint.is_some();
    if resuming {
        let path = run.checkpoint.as_ref().expect("checked above");
        let checkpoint = Checkpoint::load(path)?;
        check_resumable(path, &checkpoint.state, &state)?;
        let network = Network::new(config, input, &device);
        stepper.replace_network(load_network(network, &checkpoint.network, path)?);
        stepper.optimizer = build_optimizer_from(&checkpoint.optimizer, stepper.optimizer, path)?;
        if let Some(bytes) = &checkpoint.best_network {
            best = Some(load_network(
                Network::new(config, input, &plain),
                bytes,
                path,
            )?);
        }
        state.completed_epochs = checkpoint.state.completed_epochs;
        state.history = checkpoint.state.history;
        state.early_stopping = checkpoint.state.early_stopping;
    }
    let log = EpochLog::new(run.log.as_deref());

    // Missing values (NaN) enter the network as their column's mean and leave the loss out.
    let fill = data.fill().to_vec();
    let unit_range = scaling.is_unit_range();
    let steps_per_epoch = n_train.div_ceil(options.batch_size);
    let remaining = options.epochs.saturating_sub(state.completed_epochs);
    let bar = progress_bar(run.progress, (remaining * steps_per_epoch) as u64);
    let mut stopped_early = state.early_stopping.should_stop();
    let mut last_checkpoint = Instant::now();

    for epoch in state.completed_epochs + 1..=options.epochs {
        if stopped_early {
            break;
        }
        let started = Instant::now();
        // Seeding per epoch makes dropout and shuffling the same whether or not the run resumed.
        device.seed(options.seed.wrapping_add(epoch as u64));
        let mut sums = LossSums::default();
        let mut step = 0;
        let mut step_seconds = 0.0;
        data.train_batches(
            options.seed,
            epoch,
            options.batch_size,
            &mut |rows, class| {
                let n = rows.len() / features;
                let rows = Batch::from_rows(rows, &fill).with_class(class);
                // A noise stream per (epoch, step): the same corruption on a resumed run.
                let stream = noise_stream(options.seed, epoch, step);
                let stepping = Instant::now();
                let loss = stepper.step(noisy_batch(rows, options.noise, unit_range, stream));
                step_seconds += stepping.elapsed().as_secs_f64();
                let value = loss.total;
                if !value.is_finite() {
                    return Err(Error::invalid(format!(
                        "the loss became {value} in epoch {epoch}; try a smaller learning rate"
                    )));
                }
                sums.add(&loss, n as f64);
                bar.inc(1);
                if step % 8 == 0 {
                    bar.set_message(format!("epoch {epoch}/{} loss {value:.5}", options.epochs));
                }
                step += 1;
                Ok(())
            },
        )?;
        let validating = Instant::now();
        let val = if data.has_validation() {
            let network = stepper.inference_network();
            let mut sums = LossSums::default();
            data.validation(&mut |batch| {
                add_losses(
                    &network,
                    batch,
                    features,
                    options.loss,
                    config,
                    &plain,
                    &mut sums,
                );
                Ok(())
            })?;
            Some(sums.mean())
        } else {
            None
        };
        let validation_seconds = validating.elapsed().as_secs_f64();
        let train = sums.mean();
        let mut terms = std::collections::BTreeMap::new();
        for (prefix, loss) in [("train", Some(train)), ("val", val)] {
            let Some(loss) = loss else { continue };
            let parts = [
                ("kl", loss.kl),
                ("sparsity", loss.sparsity),
                ("contractive", loss.contractive),
            ];
            for (name, value) in parts {
                if let Some(value) = value {
                    terms.insert(format!("{prefix}_reconstruction"), loss.reconstruction);
                    terms.insert(format!("{prefix}_{name}"), value);
                }
            }
        }
        let val_loss = val.map(|v| v.total);
        if let Some(v) = val_loss
            && !v.is_finite()
        {
            // Stop before the log and the checkpoint take this epoch: the last good one stays.
            return Err(Error::invalid(format!(
                "the validation loss became {v} in epoch {epoch}; try a smaller learning rate"
            )));
        }
        let record = EpochRecord {
            epoch,
            train_loss: train.total,
            val_loss,
            seconds: started.elapsed().as_secs_f64(),
            step_seconds,
            validation_seconds,
            terms,
        };
        tracing::info!(?record, "epoch done");
        if let Some(v) = val_loss
            && state.early_stopping.observe(epoch, v)
            && options.patience.is_some()
        {
            best = Some(stepper.inference_network());
        }
        stopped_early = state.early_stopping.should_stop();
        state.history.push(record);
        state.completed_epochs = epoch;

        let last_epoch = epoch == options.epochs || stopped_early;
        if let Some(path) = &run.checkpoint
            && (last_epoch || last_checkpoint.elapsed() >= CHECKPOINT_INTERVAL)
        {
            save_checkpoint(path, &state, &stepper, best.as_ref())?;
            last_checkpoint = Instant::now();
        }
        log.write(&state.history)?;
    }
    bar.finish_and_clear();

    let best_epoch = state.early_stopping.best_epoch;
    let network = match best {
        Some(best) if options.patience.is_some() => best,
        _ => stepper.inference_network(),
    };
    Ok(Fitted {
        network,
        history: state.history,
        best_epoch,
        stopped_early,
    })
}

/// Restores an optimizer's state (moments, step counts) from its saved bytes.
fn build_optimizer_from(
    bytes: &[u8],
    fresh: ModuleOptimizer,
    path: &std::path::Path,
) -> Result<ModuleOptimizer> {
    fresh
        .from_bytes(Bytes::from_bytes_vec(bytes.to_vec()))
        .map_err(|e| Error::format(path, format!("cannot restore optimizer: {e}")))
}

/// Copies the rows named by `indices` into one buffer.
pub(crate) fn gather(values: &[f32], features: usize, indices: &[usize]) -> Vec<f32> {
    let mut out = Vec::with_capacity(indices.len() * features);
    for &i in indices {
        out.extend_from_slice(&values[i * features..(i + 1) * features]);
    }
    out
}

/// Seed offset for the validation split's fixed corruption.
pub(crate) const VALIDATION_NOISE: u64 = 0x5EED_0FDA_7A00;

/// The noise seed of one training step.
fn noise_stream(seed: u64, epoch: usize, step: usize) -> u64 {
    seed ^ ((epoch as u64) << 40) ^ (step as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Corrupts a batch's input with `noise` (if any), keeping the uncorrupted rows as the target.
pub(crate) fn noisy_batch(
    mut batch: Batch,
    noise: Option<Noise>,
    unit_range: bool,
    seed: u64,
) -> Batch {
    if let Some(noise) = noise {
        let corrupted = noise.corrupt(&batch.input, unit_range, seed);
        batch.target = Some(std::mem::replace(&mut batch.input, corrupted));
    }
    batch
}

/// Sums of batch losses weighted by batch size, for an epoch's means.
#[derive(Default)]
struct LossSums {
    total: f64,
    reconstruction: f64,
    kl: Option<f64>,
    sparsity: Option<f64>,
    contractive: Option<f64>,
    weight: f64,
}

impl LossSums {
    fn add(&mut self, loss: &StepLoss, weight: f64) {
        self.total += loss.total * weight;
        self.reconstruction += loss.reconstruction * weight;
        let parts = [
            (&mut self.kl, loss.kl),
            (&mut self.sparsity, loss.sparsity),
            (&mut self.contractive, loss.contractive),
        ];
        for (sum, value) in parts {
            if let Some(value) = value {
                *sum.get_or_insert(0.0) += value * weight;
            }
        }
        self.weight += weight;
    }

    fn mean(&self) -> StepLoss {
        let w = self.weight.max(f64::MIN_POSITIVE);
        StepLoss {
            total: self.total / w,
            reconstruction: self.reconstruction / w,
            kl: self.kl.map(|kl| kl / w),
            sparsity: self.sparsity.map(|s| s / w),
            contractive: self.contractive.map(|c| c / w),
        }
    }
}

/// Adds a batch's losses (validation rows), computed in chunks without gradients, to `sums`.
fn add_losses(
    network: &Network,
    batch: &Batch,
    features: usize,
    kind: loss::LossKind,
    config: &ModelConfig,
    device: &Device,
    sums: &mut LossSums,
) {
    let size = 1024 * features;
    let classes = config.classes.unwrap_or(0);
    let targets = batch.target.as_deref().unwrap_or(&batch.input);
    for (i, (input, target)) in batch
        .input
        .chunks(size)
        .zip(targets.chunks(size))
        .enumerate()
    {
        let x = rows_tensor(input.to_vec(), features, device);
        let y = rows_tensor(target.to_vec(), features, device);
        let mask = batch
            .mask
            .as_ref()
            .map(|m| &m[i * size..(i * size + input.len())]);
        // Weight each chunk by the entries its loss averages over.
        let entries = mask.map_or(input.len() as f64, |m| m.iter().sum::<f32>() as f64);
        let mask = mask.map(|m| rows_tensor(m.to_vec(), features, device));
        let rows = input.len() / features;
        let class = batch.class.as_ref().map(|c| {
            let start = i * 1024 * classes;
            rows_tensor(c[start..start + rows * classes].to_vec(), classes, device)
        });
        let terms = loss_terms(network, x, y, mask, class, kind, config);
        sums.add(&StepLoss::read(&terms), entries);
    }
}

fn progress_bar(show: bool, steps: u64) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(steps);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar
}

fn record_bytes(network: &Network) -> Result<Vec<u8>> {
    let bytes = network
        .clone()
        .into_record()
        .into_bytes()
        .map_err(|e| Error::invalid(format!("cannot serialise the network: {e}")))?;
    Ok(bytes.to_vec())
}

fn load_network(network: Network, bytes: &[u8], path: &std::path::Path) -> Result<Network> {
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes.to_vec()))
        .map_err(|e| Error::format(path, format!("cannot read the saved network: {e}")))?;
    network
        .try_load_record(record)
        .map_err(|e| Error::format(path, format!("the saved network does not fit: {e}")))
}

/// A checkpoint is written after the last epoch, and after any epoch that ends this long after
/// the previous checkpoint: epochs of a few milliseconds (small tables) would otherwise spend
/// more time writing checkpoints than training. A kill loses at most this much work.
const CHECKPOINT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);

fn save_checkpoint(
    path: &std::path::Path,
    state: &TrainState,
    stepper: &Stepper,
    best: Option<&Network>,
) -> Result<()> {
    let optimizer = stepper
        .optimizer
        .into_bytes()
        .map_err(|e| Error::invalid(format!("cannot serialise the optimizer: {e}")))?;
    Checkpoint {
        state: state.clone(),
        network: record_bytes(stepper.network())?,
        optimizer: optimizer.to_vec(),
        best_network: best.map(record_bytes).transpose()?,
    }
    .save(path)
}

/// A checkpoint can continue a run only with the same model, data shape and recipe; the number
/// of epochs may grow.
fn check_resumable(path: &std::path::Path, saved: &TrainState, now: &TrainState) -> Result<()> {
    let mismatch = |what: &str| {
        Err(Error::format(
            path,
            format!("this checkpoint was made with a different {what}; remove it or drop --resume"),
        ))
    };
    if saved.config != now.config {
        return mismatch("model config");
    }
    if saved.input != now.input || saved.scaling != now.scaling {
        return mismatch("data set");
    }
    let mut saved_options = saved.options.clone();
    saved_options.epochs = now.options.epochs;
    if saved_options != now.options {
        return mismatch("training recipe");
    }
    Ok(())
}
