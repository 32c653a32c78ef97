//! `hourglass curves`

use std::path::PathBuf;

use anyhow::Result;
use hourglass::plot::curves::save_loss_curves;
use hourglass::train::log;

#[derive(clap::Args)]
pub struct Args {
    /// A per-epoch log written by `hourglass train` (JSON lines).
    #[arg(long)]
    pub log: PathBuf,
    /// Where to write the PNG.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(args: Args) -> Result<()> {
    let records = log::read(&args.log)?;
    let name = args
        .log
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    save_loss_curves(&args.out, &records, &format!("Loss by epoch: {name}"))?;
    println!("{} epochs drawn to {}", records.len(), args.out.display());
    Ok(())
}
