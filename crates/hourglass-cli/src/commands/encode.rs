//! `hourglass encode`

use std::path::PathBuf;

use anyhow::Result;
use hourglass::tasks::{codec, export};

use super::ModelOnData;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub input: ModelOnData,
    /// Output file: .csv (with a header z0, z1, …), .npy (samples × latent) or .parquet.
    #[arg(long)]
    pub out: PathBuf,
    /// Add the label of each sample as a last column (CSV and Parquet).
    #[arg(long)]
    pub with_labels: bool,
    /// Parquet/Arrow input and .parquet output: input columns to carry along (e.g. an id),
    /// comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub keep_columns: Vec<String>,
}

pub fn run(args: Args) -> Result<()> {
    super::refuse_input_as_output(&args.input.data.data, &args.out)?;
    let (model, data, device) = args.input.load()?;
    let keep = args
        .input
        .data
        .kept_columns(&args.keep_columns, &args.out)?;
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
    export::write_latents(&args.out, &latents, model.config.latent, labels, &keep)?;
    println!(
        "wrote {} latent codes of size {} to {}",
        data.len(),
        model.config.latent,
        args.out.display()
    );
    Ok(())
}
