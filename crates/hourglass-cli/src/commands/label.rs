//! `hourglass label`

use std::path::PathBuf;

use anyhow::{Context, Result};
use hourglass::tasks::{export, label};

use super::ModelOnData;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub input: ModelOnData,
    /// How many labels to keep known (chosen at random); the rest are hidden and guessed.
    #[arg(long)]
    pub known: usize,
    /// Neighbours in the vote.
    #[arg(long, default_value_t = 5)]
    pub k: usize,
    /// Seed for choosing the known samples.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Write every sample's label (known or guessed) as a one-column CSV.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let (model, data, device) = args.input.load()?;
    let labels = data.labels.as_deref().with_context(|| {
        format!(
            "label needs labels to hide and check: {} has none (give --labels)",
            args.input.data.data.display()
        )
    })?;
    let values = model.scaling.scaled(&data);
    let (predicted, report) = label::label(
        &model, &values, labels, args.known, args.k, args.seed, &device,
    )?;
    if let Some(out) = &args.out {
        export::write_labels(out, &predicted)?;
    }
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    println!(
        "{} known labels, {} guessed by a {}-nearest-neighbour vote; accuracy on the hidden ones:",
        report.known, report.hidden, report.k
    );
    println!(
        "  latent space ({:>3} dims)  {:.4}",
        model.config.latent, report.latent_accuracy
    );
    println!(
        "  PCA ({:>3} components)    {:.4}",
        report.pca_components, report.pca_accuracy
    );
    println!(
        "  raw values ({:>4})        {:.4}",
        model.input.features(),
        report.raw_accuracy
    );
    if let Some(out) = &args.out {
        println!("labels written to {}", out.display());
    }
    Ok(())
}
