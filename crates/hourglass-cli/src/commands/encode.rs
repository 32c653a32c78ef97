//! `hourglass encode`

use std::path::PathBuf;

use anyhow::Result;
use hourglass::tasks::{codec, export};

use super::ModelOnData;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub input: ModelOnData,
    /// Output file: .csv (with a header z0, z1, …) or .npy (samples × latent).
    #[arg(long)]
    pub out: PathBuf,
    /// Add the label of each sample as a last column (CSV only).
    #[arg(long)]
    pub with_labels: bool,
}

pub fn run(args: Args) -> Result<()> {
    let (model, data, device) = args.input.load()?;
    let latents = codec::encode(&model, &data, &device)?;
    let labels = if args.with_labels {
        Some(data.labels.as_deref().ok_or_else(|| {
            anyhow::anyhow!(
                "--with-labels: {} has no labels",
                args.input.data.data.display()
            )
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
