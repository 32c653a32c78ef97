//! `hourglass reconstruct`

use std::path::PathBuf;

use anyhow::{Result, bail};
use hourglass::plot::grid::save_comparison;
use hourglass::tasks::codec;

use super::{DataArgs, DeviceArgs, load_model_and_data};

#[derive(clap::Args)]
pub struct Args {
    /// A model written by `hourglass train`.
    #[arg(long)]
    pub model: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    /// Where to write the PNG grid: originals above reconstructions.
    #[arg(long)]
    pub out: PathBuf,
    /// How many samples (the first N of the data).
    #[arg(long, default_value_t = 16)]
    pub n: usize,
    #[command(flatten)]
    pub device: DeviceArgs,
}

pub fn run(args: Args) -> Result<()> {
    let (model, data, device) = load_model_and_data(&args.model, &args.data, &args.device)?;
    if model.input.height < 2 {
        bail!("reconstruct draws images; this model works on table rows (use eval or encode)");
    }
    let sample = data.head(args.n);
    let originals = model.scaling.scaled(&sample);
    let reconstructions = codec::reconstruct_scaled(&model, &originals, &device);
    save_comparison(&args.out, &originals, &reconstructions, model.input)?;
    println!(
        "wrote {} originals (top) and reconstructions (bottom) to {}",
        sample.len(),
        args.out.display()
    );
    Ok(())
}
