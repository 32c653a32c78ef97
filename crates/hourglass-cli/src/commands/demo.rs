//! `hourglass demo`: the whole trip on the shipped Fashion-MNIST sample, in about two minutes.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Result;
use hourglass::data::{self, LoadOptions};
use hourglass::model::ModelConfig;
use hourglass::plot::grid::save_comparison;
use hourglass::tasks::{codec, eval};

use super::eval::print_report;
use hourglass::train::{self, RunSettings, TrainOptions};

use super::DeviceArgs;

/// The Fashion-MNIST test split shipped in the repository.
const SHIPPED_SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/fashion-mnist");

#[derive(clap::Args)]
pub struct Args {
    /// Data to use instead of the shipped Fashion-MNIST sample.
    #[arg(long, default_value = SHIPPED_SAMPLE)]
    pub data: PathBuf,
    /// Where to write the model and pictures.
    #[arg(long, default_value = "out")]
    pub out: PathBuf,
    #[arg(long, default_value_t = 30)]
    pub epochs: usize,
    /// Fraction of the sample held out to test the trained model on.
    #[arg(long, default_value_t = 0.2)]
    pub test_split: f64,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    #[command(flatten)]
    pub device: DeviceArgs,
}

pub fn run(args: Args) -> Result<()> {
    let all = data::load(&args.data, &LoadOptions::default())?;
    let (train_set, test_set) = all.split(args.test_split, args.seed);
    println!(
        "training a conv2d autoencoder on {} images of {} from {}; {} held out",
        train_set.len(),
        all.shape,
        args.data.display(),
        test_set.len()
    );
    let config = ModelConfig::conv2d(16);
    let options = TrainOptions {
        epochs: args.epochs,
        seed: args.seed,
        ..TrainOptions::default()
    };
    let model_path = args.out.join("demo-model.safetensors");
    let settings = RunSettings {
        backend: args.device.device,
        checkpoint: None,
        resume: false,
        log: Some(args.out.join("demo-log.jsonl")),
        progress: std::io::stderr().is_terminal(),
    };
    let model = train::train(&train_set, &config, &options, &settings)?;
    model.save(&model_path)?;
    println!(
        "trained for {} epochs in {:.0}s",
        model.summary.epochs_run, model.summary.seconds
    );

    let device = args.device.device.device()?;
    let report = eval::evaluate(&model, &test_set, &device)?;
    println!("on the {} held-out images:", test_set.len());
    print_report(&report);

    let grid_path = args.out.join("demo-reconstructions.png");
    let sample = test_set.head(16);
    let originals = model.scaling.scaled(&sample);
    let reconstructions = codec::reconstruct_scaled(&model, &originals, None, &device);
    save_comparison(&grid_path, &originals, &reconstructions, model.input)?;
    println!("model:  {}", model_path.display());
    println!(
        "grid:   {} (held-out originals above, reconstructions below)",
        grid_path.display()
    );
    println!("log:    {}", settings.log.as_ref().unwrap().display());
    Ok(())
}
