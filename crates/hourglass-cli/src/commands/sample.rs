//! `hourglass sample`

use std::path::PathBuf;

use anyhow::{Result, bail};
use hourglass::artifact::TrainedModel;
use hourglass::plot::grid::save_samples;
use hourglass::tasks::{export, generate};

use super::DeviceArgs;

#[derive(clap::Args)]
pub struct Args {
    /// A variational model (trained with --model vae or --beta).
    #[arg(long)]
    pub model: PathBuf,
    /// How many samples to draw.
    #[arg(long, default_value_t = 32)]
    pub n: usize,
    /// Output: .png (a grid) or .npy (samples in the data's original units).
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[command(flatten)]
    pub device: DeviceArgs,
}

pub fn run(args: Args) -> Result<()> {
    let device = args.device.device.device()?;
    let model = TrainedModel::load(&args.model, &device)?;
    if model.config.beta.is_none() {
        bail!(
            "{} is not variational: only a VAE's latent space is N(0, I) to sample from (train with --model vae)",
            args.model.display()
        );
    }
    let samples = generate::sample(&model, args.n, args.seed, &device);
    if export::is_png(&args.out) {
        save_samples(&args.out, &samples, model.input)?;
    } else {
        export::write_samples(&args.out, &model, samples)?;
    }
    println!(
        "{} samples from N(0, I) decoded to {}",
        args.n,
        args.out.display()
    );
    Ok(())
}
