//! `hourglass encode`

use std::path::PathBuf;

use anyhow::Result;
use hourglass::tasks::{codec, export};

use super::{DataArgs, DeviceArgs, load_model_and_data};

#[derive(clap::Args)]
pub struct Args {
    /// A model written by `hourglass train`.
    #[arg(long)]
    pub model: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    /// Output file: .csv (with a header z0, z1, …) or .npy (samples × latent).
    #[arg(long)]
    pub out: PathBuf,
    /// Add the label of each sample as a last column (CSV only).
    #[arg(long)]
    pub with_labels: bool,
    #[command(flatten)]
    pub device: DeviceArgs,
}

pub fn run(args: Args) -> Result<()> {
    let (model, data, device) = load_model_and_data(&args.model, &args.data, &args.device)?;
    let latents = codec::encode(&model, &data, &device);
    let labels = if args.with_labels {
        Some(data.labels.as_deref().ok_or_else(|| {
            anyhow::anyhow!("--with-labels: {} has no labels", args.data.data.display())
        })?)
    } else {
        None
    };
    export::write_latents(&args.out, &latents, model.config.latent, labels)?;
    println!(
        "wrote {} latent codes of size {} to {}",
        data.len(),
        model.config.latent,
        args.out.display()
    );
    Ok(())
}
