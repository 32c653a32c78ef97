//! `hourglass score`

use std::path::PathBuf;

use anyhow::{Result, bail};
use hourglass::artifact::TrainedModel;
use hourglass::data::{SampleKind, window};
use hourglass::model::Architecture;
use hourglass::plot::histogram::save_score_histogram;
use hourglass::tasks::anomaly::{
    self, AnomalyReport, Detection, ScoreKind, Scoring, Threshold, ThresholdRule,
};
use hourglass::tasks::export;

use super::ModelOnData;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub input: ModelOnData,
    /// Where to write one row per sample: index, score, flagged (and label, per-feature errors,
    /// and for tables the columns that contribute most to a flagged row).
    #[arg(long)]
    pub out: PathBuf,
    /// With labels: the class the model was trained on; every other class counts as anomalous,
    /// and ROC AUC and average precision are reported.
    #[arg(long)]
    pub normal_class: Option<u32>,
    /// The score: mse (reconstruction error), normalized (each feature's error over its training
    /// error), mahalanobis (the code's distance from the training codes), knn (the code's mean
    /// distance to its nearest training codes), combined (normalized + knn) or features (conv2d:
    /// the encoder's feature maps' distance to the nearest training images') [default: the one
    /// stored in the model: knn for tables, normalized for series, features for conv2d images,
    /// combined for other images].
    #[arg(long)]
    pub score: Option<ScoreKind>,
    /// Flag samples scoring above this: auto (the training scores' median + 4 robust
    /// deviations, kept between their p95 and p99.5), a percentile of the training scores
    /// (p99), or a number.
    #[arg(long, default_value = "auto", conflicts_with = "contamination")]
    pub threshold: ThresholdRule,
    /// The fraction of the training data taken to be anomalous (PyOD's convention): flags what
    /// scores above that top fraction of the training scores.
    #[arg(long, value_parser = parse_fraction)]
    pub contamination: Option<f64>,
    /// Add each feature's squared error to the CSV (for tables: which columns look wrong).
    #[arg(long)]
    pub per_feature: bool,
    /// Draw the score histogram (normal vs anomalous with labels) and the threshold as a PNG.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Print the report as JSON (with, for tables, the top flagged rows and their columns).
    #[arg(long)]
    pub json: bool,
    /// Parquet/Arrow input and .parquet output: input columns to carry along (e.g. an id),
    /// comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub keep_columns: Vec<String>,
    /// Read the data a block at a time instead of whole, for data larger than memory (.npy
    /// arrays, CSV files, Parquet files or directories, folders of images); memory holds a
    /// block and each row's score.
    #[arg(long, conflicts_with = "per_feature")]
    pub stream: bool,
}

fn parse_fraction(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(f) if f > 0.0 && f < 0.5 => Ok(f),
        _ => Err(format!(
            "{s:?}: give a fraction between 0 and 0.5, e.g. 0.01"
        )),
    }
}

impl Args {
    fn scoring(&self) -> Scoring {
        Scoring {
            kind: self.score,
            threshold: match self.contamination {
                Some(f) => ThresholdRule::Contamination(f),
                None => self.threshold,
            },
        }
    }
}

pub fn run(args: Args) -> Result<()> {
    super::refuse_input_as_output(&args.input.data.data, &args.out)?;
    super::refuse_input_as_output(&args.input.model, &args.out)?;
    if args.stream {
        return run_streamed(args);
    }
    let (model, data, device, series_steps) = args.input.load_series_aware()?;
    let keep = args
        .input
        .data
        .kept_columns(&args.keep_columns, &args.out)?;
    model.check_complete(&data, &args.input.data.data)?;
    let truth: Option<Vec<bool>> = match (args.normal_class, &data.labels) {
        (Some(normal), Some(labels)) => Some(labels.iter().map(|&l| l != normal).collect()),
        (Some(_), None) => bail!(
            "--normal-class needs labels: {} has none (give --labels)",
            args.input.data.data.display()
        ),
        (None, _) => None,
    };
    let values = model.scaling.scaled(&data);
    let class = model.config.condition(data.labels.as_deref())?;
    let scoring = args.scoring();
    // Tables get their flagged rows explained by column (a series' steps are explained below,
    // from the windows: a window's values are not columns).
    let is_table = model.kind == SampleKind::Tabular && series_steps.is_none();
    let columns: Option<Vec<String>> = is_table.then(|| {
        data.columns.clone().unwrap_or_else(|| {
            (0..model.input.features())
                .map(|j| format!("column {j}"))
                .collect()
        })
    });
    let (scores, threshold, report) = anomaly::detect(
        &model,
        &values,
        class.as_deref(),
        truth.as_deref(),
        scoring,
        columns.as_deref(),
        &device,
    )?;
    if let (Some((steps, names)), Architecture::Conv1d { window, stride, .. }) =
        (series_steps, &model.config.architecture)
    {
        // A raw series: one score per time step, from the windows covering it; with several
        // columns, each step's columns ranked by their part of its window's error.
        let best = window::point_windows(&scores.per_sample, steps, *window, *stride);
        let points: Vec<f32> = best.iter().map(|&w| scores.per_sample[w]).collect();
        let channels = model.input.channels;
        let d = model.input.features();
        let names = names.unwrap_or_else(|| (0..channels).map(|c| format!("column {c}")).collect());
        let per_step: Vec<f32> = best
            .iter()
            .flat_map(|&w| {
                window::channel_errors(&scores.per_feature[w * d..(w + 1) * d], channels)
            })
            .collect();
        let explain = (channels > 1).then_some((&names[..], &per_step[..]));
        export::write_scores(
            &args.out,
            &points,
            threshold.value,
            None,
            None,
            explain,
            &keep,
        )?;
        let flagged = points
            .iter()
            .filter(|&&s| s as f64 > threshold.value)
            .count();
        if args.json {
            println!("{}", serde_json::to_string(&report)?);
            return Ok(());
        }
        println!(
            "scored {} time steps ({} windows of {window} every {stride}) by {}; {flagged} above the threshold {:.5} ({})",
            steps, report.n, report.score, report.threshold, report.threshold_rule
        );
        println!("per-step scores written to {}", args.out.display());
        return Ok(());
    }
    let width = model.input.features();
    export::write_scores(
        &args.out,
        &scores.per_sample,
        threshold.value,
        data.labels.as_deref(),
        args.per_feature.then_some((&scores.per_feature[..], width)),
        columns
            .as_deref()
            .map(|names| (names, &scores.per_feature[..])),
        &keep,
    )?;
    show(
        &args,
        &model,
        &scores.per_sample,
        truth.as_deref(),
        &threshold,
        &report,
    )
}

/// Scores data read a block at a time (`--stream`): each block is scored as it is read, and the
/// output written once every row's score is known.
fn run_streamed(args: Args) -> Result<()> {
    let device = args.input.device.device.device()?;
    let model = TrainedModel::load(&args.input.model, &device)?;
    if model.config.classes.is_some()
        || model.kind == SampleKind::Tabular
            && matches!(model.config.architecture, Architecture::Conv1d { .. })
    {
        bail!("--stream scores dense and conv2d models without conditioning (drop --stream)");
    }
    let path = &args.input.data.data;
    let mut source = args.input.data.open_stream_for(&model)?;
    let keep = args
        .input
        .data
        .kept_columns(&args.keep_columns, &args.out)?;
    let is_table = model.kind == SampleKind::Tabular;
    let columns: Option<Vec<String>> = is_table.then(|| {
        source.columns().unwrap_or_else(|| {
            (0..model.input.features())
                .map(|j| format!("column {j}"))
                .collect()
        })
    });
    let mut detection = Detection::new(&model, args.scoring(), columns.as_deref())?;
    let threshold = detection.threshold().value;
    let mut labels: Vec<u32> = Vec::new();
    let mut tops: Vec<Option<String>> = Vec::new();
    let d = model.input.features();
    for b in 0..source.blocks() {
        let block = hourglass::data::stream::read_complete_block(source.as_mut(), b)?;
        model.check_data(&block, path)?;
        let truth: Option<Vec<bool>> = match (args.normal_class, &block.labels) {
            (Some(normal), Some(l)) => Some(l.iter().map(|&l| l != normal).collect()),
            (Some(_), None) => bail!(
                "--normal-class needs labels: {} has none (give --label-column)",
                path.display()
            ),
            (None, _) => None,
        };
        labels.extend(block.labels.iter().flatten());
        let values = model.scaling.scaled(&block);
        let scores = detection.add(&values, None, truth.as_deref(), &device)?;
        if let Some(names) = &columns {
            tops.extend(scores.per_sample.iter().enumerate().map(|(i, &s)| {
                (s as f64 > threshold).then(|| {
                    export::top_column_cell(&scores.per_feature[i * d..(i + 1) * d], names)
                })
            }));
        }
    }
    let truth = detection.truth().map(<[bool]>::to_vec);
    let (scores, threshold, report) = detection.finish();
    let labels = (labels.len() == scores.len() && !scores.is_empty()).then_some(labels);
    export::write_score_table(
        &args.out,
        &scores,
        threshold.value,
        labels.as_deref(),
        None,
        columns.as_ref().map(|_| &tops[..]),
        &keep,
    )?;
    show(
        &args,
        &model,
        &scores,
        truth.as_deref(),
        &threshold,
        &report,
    )
}

/// Draws the histogram when asked, and prints the report.
fn show(
    args: &Args,
    model: &TrainedModel,
    scores: &[f32],
    truth: Option<&[bool]>,
    threshold: &Threshold,
    report: &AnomalyReport,
) -> Result<()> {
    if let Some(plot) = &args.plot {
        let title = match args.normal_class {
            Some(k) => format!("Anomaly scores: class {k} is normal"),
            None => "Anomaly scores".to_string(),
        };
        save_score_histogram(
            plot,
            scores,
            truth,
            threshold.value,
            &title,
            &model.detector.describe(report.score),
        )?;
    }
    if args.json {
        println!("{}", serde_json::to_string(report)?);
        return Ok(());
    }
    println!(
        "scored {} samples by {}; {} above the threshold {:.5} ({}{})",
        report.n,
        report.score,
        report.flagged,
        report.threshold,
        report.threshold_rule,
        match report.train_fraction_flagged {
            Some(f) => format!("; flags {:.2} % of the training data", 100.0 * f),
            None => String::new(),
        }
    );
    for row in report.flagged_rows.iter().take(5) {
        let why: Vec<String> = row
            .top_columns
            .iter()
            .map(|c| format!("{} {:.0} %", c.column, 100.0 * c.share))
            .collect();
        println!(
            "  row {}: score {:.4}; {}",
            row.row,
            row.score,
            why.join(", ")
        );
    }
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
