//! `hourglass eval`

use anyhow::Result;
use hourglass::tasks::eval::{EvalReport, evaluate};

use super::ModelOnData;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub input: ModelOnData,
    /// Print JSON: {"mse", "pca_mse", "mean_mse", "n", …}.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let (model, data, device) = args.input.load()?;
    let report = evaluate(&model, &data, &device)?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_report(&report);
    }
    Ok(())
}

/// The human-readable table, shared with `demo`.
pub fn print_report(report: &EvalReport) {
    println!("reconstruction MSE on {} samples (scaled units):", report.n);
    println!("  autoencoder        {:.5}", report.mse);
    println!(
        "  PCA, {:>3} comps    {:.5}   (fit on {})",
        report.pca_components, report.pca_mse, report.baselines_fit_on
    );
    println!("  mean sample        {:.5}", report.mean_mse);
}
