//! `hourglass decode`

use std::path::PathBuf;

use anyhow::{Result, bail};
use hourglass::artifact::TrainedModel;
use hourglass::tasks::{codec, export};

use super::DeviceArgs;

#[derive(clap::Args)]
pub struct Args {
    /// A model written by `hourglass train`.
    #[arg(long)]
    pub model: PathBuf,
    /// Latent codes, one per row: .csv (as `encode` writes it) or .npy.
    #[arg(long)]
    pub latents: PathBuf,
    /// Output: .npy (samples in the data's original units) or .png (a grid of images).
    #[arg(long)]
    pub out: PathBuf,
    /// A conditional model: decode every code as this class.
    #[arg(long)]
    pub class: Option<u32>,
    #[command(flatten)]
    pub device: DeviceArgs,
}

pub fn run(args: Args) -> Result<()> {
    let device = args.device.device.device()?;
    let model = TrainedModel::load(&args.model, &device)?;
    let latents = export::read_latents(&args.latents, model.config.latent)?;
    let n = latents.len() / model.config.latent;
    let class = match (model.config.classes, args.class) {
        (None, Some(_)) => bail!(
            "--class needs a conditional model; {} is not one",
            args.model.display()
        ),
        (Some(_), None) => bail!(
            "{} is a conditional model: give the class to decode as with --class",
            args.model.display()
        ),
        (_, class) => model
            .config
            .condition(class.map(|k| vec![k; n]).as_deref())?,
    };
    let decoded = codec::decode_scaled(&model, &latents, class.as_deref(), &device);
    export::write_samples(&args.out, &model, decoded)?;
    println!(
        "decoded {} latent codes to {}",
        latents.len() / model.config.latent,
        args.out.display()
    );
    Ok(())
}
