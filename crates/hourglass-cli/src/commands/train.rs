//! `hourglass train`

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, Result};
use hourglass::data::Split;
use hourglass::data::noise::Noise;
use hourglass::model::{ModelConfig, Sparsity};
use hourglass::train::plan::{Plan, Request, plan, plan_streamed};
use hourglass::train::{self, LossKind, OptimizerKind, RunSettings, ScalingKind, TrainOptions};

use super::{DataArgs, DeviceArgs};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub data: DataArgs,
    /// Train only on the samples of this class (one-class training, for anomaly detection).
    #[arg(long)]
    pub class: Option<u32>,
    /// Architecture: dense (fully connected), conv2d (convolutional, for images), conv1d (over
    /// windows of time series: --window, --stride), vae (a dense variational autoencoder, for
    /// sampling new data; --beta makes any of them variational), or cvae (a conditional VAE:
    /// vae with --conditional, to draw samples of a chosen class).
    #[arg(long, value_parser = ["dense", "conv2d", "conv1d", "vae", "cvae"], default_value = "dense")]
    pub model: String,
    /// Condition the model on the labels: encoder and decoder both see each sample's class, so
    /// the code keeps only what the class does not say (style) and `sample --class K` draws a
    /// chosen class. Needs labels; every later use of the model needs them too.
    #[arg(long)]
    pub conditional: bool,
    /// conv1d: time steps per window over the series (CSV or NPY columns) [default: the series'
    /// dominant period from its autocorrelation, 16 to 1,024 steps; 64 when it has none].
    #[arg(long)]
    pub window: Option<usize>,
    /// conv1d: steps between window starts [default: 1, so each step is scored from windows at
    /// every position; more when the windows would take over 128 MiB].
    #[arg(long)]
    pub stride: Option<usize>,
    /// A sparse autoencoder: l1:LAMBDA penalises the latent code's L1 norm (ReLU code, exact
    /// zeros), kl:RHO:BETA pushes each latent unit's mean activation to RHO (sigmoid code).
    #[arg(long)]
    pub sparsity: Option<Sparsity>,
    /// A contractive autoencoder: LAMBDA × the encoder Jacobian's squared Frobenius norm (estimated
    /// by finite differences), for codes that change little off the data.
    #[arg(long)]
    pub contractive: Option<f64>,
    /// Variational with this KL weight: 1 is a VAE, above 1 a β-VAE (smoother, more disentangled
    /// latent space at some cost in reconstruction).
    #[arg(long)]
    pub beta: Option<f64>,
    /// Size of the latent code [default: 32 for images; for a table, an eighth of its columns,
    /// 2 to 32].
    #[arg(long)]
    pub latent: Option<usize>,
    /// Hidden layer sizes of a dense model, input side first (e.g. 256,64) [default: 256,64 for
    /// images; for a table, one layer twice its width, at most 256].
    #[arg(long, value_delimiter = ',')]
    pub hidden: Option<Vec<usize>>,
    /// Channels of a conv2d model's stride-2 layers (e.g. 32,64).
    #[arg(long, value_delimiter = ',')]
    pub channels: Option<Vec<usize>>,
    /// Activation between hidden layers.
    #[arg(long, value_parser = ["relu", "leaky_relu", "tanh", "gelu", "sigmoid"])]
    pub activation: Option<String>,
    /// Dropout probability after each hidden activation.
    #[arg(long)]
    pub dropout: Option<f64>,
    /// A model config file (TOML or JSON) instead of the flags above.
    #[arg(long, conflicts_with_all = ["hidden", "channels", "activation", "dropout", "beta", "sparsity", "contractive"])]
    pub config: Option<PathBuf>,
    /// Passes over the training data [default: 10 for images; for a table, about 300 optimizer
    /// steps, 2 to 200 epochs].
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Samples per optimizer step [default: 256 for images; for a table, rows / 50, 32 to 256].
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Learning rate.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    #[arg(long, value_parser = ["adam", "sgd"], default_value = "adam")]
    pub optimizer: String,
    /// Momentum for SGD.
    #[arg(long, default_value_t = 0.0)]
    pub momentum: f64,
    /// L2 weight decay.
    #[arg(long, default_value_t = 0.0)]
    pub weight_decay: f64,
    /// Train this many networks from consecutive seeds and average their anomaly scores (each on
    /// its training scale) [default: 5 for a table, 1 otherwise]. Other uses take the first.
    #[arg(long)]
    pub ensemble: Option<usize>,
    /// How a table's columns are scaled: standard (mean, deviation) or robust (median,
    /// interquartile range). Images are scaled to [0, 1].
    #[arg(long, value_parser = ["standard", "robust"], default_value = "standard")]
    pub scaling: String,
    /// Reconstruction loss: mse, or bce for images in [0, 1].
    #[arg(long, value_parser = ["mse", "bce"], default_value = "mse")]
    pub loss: String,
    /// Fraction of the data held out to measure validation loss.
    #[arg(long, default_value_t = 0.1)]
    pub val_split: f64,
    /// Train a denoising autoencoder: corrupt inputs with gaussian:SIGMA, masking:P or
    /// salt-pepper:P and learn to reconstruct the clean ones.
    #[arg(long)]
    pub noise: Option<Noise>,
    /// Stop after this many epochs without a better validation loss, keeping the best weights.
    #[arg(long)]
    pub patience: Option<usize>,
    /// Seed for initialisation, shuffling, splitting and dropout: same seed, same run (on CPU).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Where to write the model (.safetensors).
    #[arg(long)]
    pub out: PathBuf,
    /// Continue from the checkpoint of an interrupted run with the same settings.
    #[arg(long)]
    pub resume: bool,
    /// Checkpoint file, written after the last epoch and at least every 30 s before it
    /// [default: OUT with .checkpoint].
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Per-epoch JSON-lines log [default: OUT with .log.jsonl].
    #[arg(long)]
    pub log: Option<PathBuf>,
    /// Print the training summary as JSON.
    #[arg(long)]
    pub json: bool,
    /// Read the data a block at a time instead of whole, for data larger than memory (.npy
    /// arrays, CSV files, Parquet files or directories, folders of images): memory holds a
    /// block, a 64 MiB shuffle buffer and a 16,384-row sample, whatever the data's size. Dense
    /// and conv2d models.
    #[arg(long)]
    pub stream: bool,
    #[command(flatten)]
    pub device: DeviceArgs,
}

pub fn run(args: Args) -> Result<()> {
    super::refuse_input_as_output(&args.data.data, &args.out)?;
    let request = request(&args)?;
    let settings = RunSettings {
        backend: args.device.device,
        checkpoint: Some(
            args.checkpoint
                .clone()
                .unwrap_or_else(|| args.out.with_extension("checkpoint")),
        ),
        resume: args.resume,
        log: Some(
            args.log
                .clone()
                .unwrap_or_else(|| args.out.with_extension("log.jsonl")),
        ),
        progress: std::io::stderr().is_terminal(),
    };
    let (model, options) = if args.stream {
        let mut source = args.data.open_stream()?;
        if source.is_empty() {
            anyhow::bail!("{}: no samples to train on", args.data.data.display());
        }
        let (config, options) =
            plan_streamed(&request, source.shape(), source.kind(), source.len())
                .with_context(|| args.data.data.display().to_string())?;
        for warning in train::warnings(&config, source.shape(), &options) {
            eprintln!("warning: {warning}");
        }
        let streaming = train::stream::Streaming {
            class: args.class,
            ..Default::default()
        };
        let model = train::stream::train(source.as_mut(), streaming, &config, &options, &settings)?;
        (model, options)
    } else {
        train_in_memory(&args, &request, &settings)?
    };
    model.save(&args.out)?;
    report(&args, &model, &options, &settings)
}

/// Reads the data whole, plans the model from it and trains.
fn train_in_memory(
    args: &Args,
    request: &Request,
    settings: &RunSettings,
) -> Result<(hourglass::artifact::TrainedModel, TrainOptions)> {
    let mut data = args.data.load(Some(Split::Train))?;
    if data.is_empty() {
        anyhow::bail!("{}: no samples to train on", args.data.data.display());
    }
    if let Some(class) = args.class {
        data = data.of_class(class).with_context(|| {
            format!(
                "--class needs labels: {} has none",
                args.data.data.display()
            )
        })?;
        if data.is_empty() {
            anyhow::bail!(
                "no samples of class {class} in {}",
                args.data.data.display()
            );
        }
    }
    let Plan {
        config,
        options,
        data,
    } = plan(request, data).with_context(|| args.data.data.display().to_string())?;
    for warning in train::warnings(&config, data.shape, &options) {
        eprintln!("warning: {warning}");
    }
    let model = train::train(&data, &config, &options, settings)?;
    Ok((model, options))
}

/// The flags as a [`Request`]: what is not given is chosen from the data.
fn request(args: &Args) -> Result<Request> {
    Ok(Request {
        model: args.model.parse()?,
        config: args
            .config
            .as_deref()
            .map(ModelConfig::from_file)
            .transpose()
            .context("reading the model config")?,
        latent: args.latent,
        hidden: args.hidden.clone(),
        channels: args.channels.clone(),
        window: args.window,
        stride: args.stride,
        activation: args
            .activation
            .as_ref()
            .map(|name| serde_json::from_value(serde_json::Value::String(name.clone())))
            .transpose()?,
        dropout: args.dropout,
        sparsity: args.sparsity,
        contractive: args.contractive,
        beta: args.beta,
        conditional: args.conditional,
        epochs: args.epochs,
        batch_size: args.batch_size,
        ensemble: args.ensemble,
        options: TrainOptions {
            learning_rate: args.lr,
            optimizer: match args.optimizer.as_str() {
                "sgd" => OptimizerKind::Sgd {
                    momentum: args.momentum,
                },
                _ => OptimizerKind::Adam,
            },
            loss: if args.loss == "bce" {
                LossKind::Bce
            } else {
                LossKind::Mse
            },
            weight_decay: args.weight_decay,
            val_split: args.val_split,
            patience: args.patience,
            seed: args.seed,
            noise: args.noise,
            scaling: if args.scaling == "robust" {
                ScalingKind::Robust
            } else {
                ScalingKind::Standard
            },
            ..TrainOptions::default()
        },
    })
}

fn report(
    args: &Args,
    model: &hourglass::artifact::TrainedModel,
    options: &TrainOptions,
    settings: &RunSettings,
) -> Result<()> {
    let summary = &model.summary;
    if args.json {
        println!("{}", serde_json::to_string_pretty(summary)?);
    } else {
        if !model.members.is_empty() {
            println!(
                "an ensemble of {} networks from seeds {}…{}; anomaly scores average them",
                model.members.len() + 1,
                options.seed,
                options.seed + model.members.len() as u64
            );
        }
        println!(
            "trained {} model ({} → {} → {}) on {} samples for {} epochs in {:.1}s",
            model.config.kind(),
            model.input,
            model.config.latent,
            model.input,
            summary.train_samples,
            summary.epochs_run,
            summary.seconds
        );
        if let Some(loss) = summary.final_train_loss {
            print!("final train loss {loss:.5}");
            if let Some(val) = summary.final_val_loss {
                print!(", validation loss {val:.5}");
            }
            println!();
        }
        if let Some(best) = summary.best_epoch.filter(|_| options.patience.is_some()) {
            println!("kept the weights of epoch {best} (best validation loss)");
        }
        println!("model written to {}", args.out.display());
        println!(
            "log in {}, checkpoint in {}",
            settings.log.as_ref().unwrap().display(),
            settings.checkpoint.as_ref().unwrap().display()
        );
    }
    Ok(())
}
