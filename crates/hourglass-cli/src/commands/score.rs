//! `hourglass score`

use std::path::PathBuf;

use anyhow::{Result, bail};
use hourglass::plot::histogram::save_score_histogram;
use hourglass::tasks::anomaly::{self, ThresholdRule};
use hourglass::tasks::export;

use super::ModelOnData;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub input: ModelOnData,
    /// Where to write one row per sample: index, score, flagged (and label, per-feature errors).
    #[arg(long)]
    pub out: PathBuf,
    /// With labels: the class the model was trained on; every other class counts as anomalous,
    /// and ROC AUC and average precision are reported.
    #[arg(long)]
    pub normal_class: Option<u32>,
    /// Flag samples scoring above this: a percentile of the training scores (p99) or a number.
    #[arg(long, default_value = "p99")]
    pub threshold: ThresholdRule,
    /// Add each feature's squared error to the CSV (for tables: which columns look wrong).
    #[arg(long)]
    pub per_feature: bool,
    /// Draw the score histogram (normal vs anomalous with labels) and the threshold as a PNG.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let (model, data, device) = args.input.load()?;
    let truth: Option<Vec<bool>> = match (args.normal_class, &data.labels) {
        (Some(normal), Some(labels)) => Some(labels.iter().map(|&l| l != normal).collect()),
        (Some(_), None) => bail!(
            "--normal-class needs labels: {} has none (give --labels)",
            args.input.data.data.display()
        ),
        (None, _) => None,
    };
    let threshold = args.threshold.resolve(&model)?;
    let values = model.scaling.scaled(&data);
    let class = model.config.condition(data.labels.as_deref())?;
    let (scores, report) = anomaly::detect(
        &model,
        &values,
        class.as_deref(),
        truth.as_deref(),
        threshold,
        &device,
    );
    let width = model.input.features();
    export::write_scores(
        &args.out,
        &scores.per_sample,
        threshold,
        data.labels.as_deref(),
        args.per_feature.then_some((&scores.per_feature[..], width)),
    )?;
    if let Some(plot) = &args.plot {
        let title = match args.normal_class {
            Some(k) => format!("Anomaly scores: class {k} is normal"),
            None => "Anomaly scores".to_string(),
        };
        save_score_histogram(
            plot,
            &scores.per_sample,
            truth.as_deref(),
            threshold,
            &title,
        )?;
    }
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    println!(
        "scored {} samples; {} above the threshold {:.5} ({})",
        report.n,
        report.flagged,
        report.threshold,
        match args.threshold {
            ThresholdRule::Percentile(p) => format!("p{p} of the training scores"),
            ThresholdRule::Value(_) => "given".into(),
        }
    );
    if let (Some(auroc), Some(ap)) = (report.auroc, report.average_precision) {
        println!("                     ROC AUC   avg precision");
        println!("  autoencoder        {auroc:.4}    {ap:.4}");
        if let (Some(pa), Some(pp)) = (report.pca_auroc, report.pca_average_precision) {
            println!(
                "  PCA, {:>3} comps    {pa:.4}    {pp:.4}",
                model.baseline.k()
            );
        }
    }
    println!("scores written to {}", args.out.display());
    Ok(())
}
