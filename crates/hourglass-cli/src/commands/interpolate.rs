//! `hourglass interpolate`

use std::path::PathBuf;

use anyhow::{Result, bail};
use hourglass::plot::grid::save_samples;
use hourglass::tasks::generate::interpolate;

use super::ModelOnData;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub input: ModelOnData,
    /// Index of the first sample.
    #[arg(long)]
    pub from: usize,
    /// Index of the second sample.
    #[arg(long)]
    pub to: usize,
    /// Points on the line between their latent codes, endpoints included.
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    /// Where to write the PNG strip.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(args: Args) -> Result<()> {
    let (model, data, device) = args.input.load()?;
    if model.input.height < 2 {
        bail!("interpolate draws images; this model works on table rows");
    }
    for i in [args.from, args.to] {
        if i >= data.len() {
            bail!(
                "sample {i} does not exist: the data has {} samples",
                data.len()
            );
        }
    }
    let values = model.scaling.scaled(&data.select(&[args.from, args.to]));
    let d = model.input.features();
    // A conditional model walks from the first sample's class to the second's too.
    let class = model
        .config
        .condition(data.select(&[args.from, args.to]).labels.as_deref())?;
    let ends = class.as_deref().map(|c| {
        let (a, b) = c.split_at(c.len() / 2);
        [a, b]
    });
    let strip = interpolate(
        &model,
        &values[..d],
        &values[d..],
        ends,
        args.steps,
        &device,
    );
    save_samples(&args.out, &strip, model.input, args.steps.max(2))?;
    println!(
        "{} steps from sample {} to sample {} written to {}",
        args.steps.max(2),
        args.from,
        args.to,
        args.out.display()
    );
    Ok(())
}
