//! `hourglass reconstruct`

use std::path::PathBuf;

use anyhow::{Result, bail};
use hourglass::plot::grid::save_comparison;
use hourglass::tasks::codec;

use super::ModelOnData;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub input: ModelOnData,
    /// Where to write the PNG grid: originals above reconstructions.
    #[arg(long)]
    pub out: PathBuf,
    /// How many samples (the first N of the data).
    #[arg(long, default_value_t = 16)]
    pub n: usize,
}

pub fn run(args: Args) -> Result<()> {
    let (model, data, device) = args.input.load()?;
    if model.input.height < 2 {
        bail!("reconstruct draws images; this model works on table rows (use eval or encode)");
    }
    let sample = data.head(args.n);
    let originals = model.scaling.scaled(&sample);
    let class = model.config.condition(sample.labels.as_deref())?;
    let reconstructions = codec::reconstruct_scaled(&model, &originals, class.as_deref(), &device);
    save_comparison(&args.out, &originals, &reconstructions, model.input)?;
    println!(
        "wrote {} originals (top) and reconstructions (bottom) to {}",
        sample.len(),
        args.out.display()
    );
    Ok(())
}
