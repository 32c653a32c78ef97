//! `hourglass impute`

use std::path::PathBuf;

use anyhow::Result;
use hourglass::tasks::{export, impute};

use super::ModelOnData;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub input: ModelOnData,
    /// Where to write the completed table (CSV, same columns).
    #[arg(long)]
    pub out: PathBuf,
    /// Reconstruct-and-replace rounds [default: 1 for a model trained with masking noise, else 10].
    #[arg(long)]
    pub iterations: Option<usize>,
}

pub fn run(args: Args) -> Result<()> {
    let (model, data, device) = args.input.load_allowing_missing()?;
    model.require_unconditional("imputation")?;
    let missing = data.values.iter().filter(|v| v.is_nan()).count();
    let rounds = args
        .iterations
        .unwrap_or_else(|| impute::default_iterations(&model));
    let mut filled = impute::impute(&model, &model.scaling.scaled(&data), rounds, &device);
    model.scaling.invert(&mut filled);
    export::write_table(
        &args.out,
        &filled,
        data.columns.as_deref(),
        model.input.features(),
        data.labels.as_deref(),
    )?;
    println!(
        "filled {missing} missing values in {} rows ({} rounds); written to {}",
        data.len(),
        rounds,
        args.out.display()
    );
    Ok(())
}
