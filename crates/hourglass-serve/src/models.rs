//! A served model: the trained model, its threshold, and the three things the service does with
//! rows of raw values. All numbers come from the library, as `hourglass score` computes them.

use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use hourglass::artifact::TrainedModel;
use hourglass::data::SampleKind;
use hourglass::device::Device;
use hourglass::tasks::anomaly::{self, ScoreKind, Threshold, ThresholdRule};
use hourglass::tasks::codec;
use serde::Serialize;

/// What a request asks of the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Score,
    Encode,
    Reconstruct,
}

/// A loaded model file, never changed once loaded (a reload builds a new one).
pub struct Served {
    pub model: TrainedModel,
    pub path: PathBuf,
    /// The model's default score.
    pub score: ScoreKind,
    /// The automatic threshold of that score (`None` for files without training scores).
    pub threshold: Option<Threshold>,
    pub load_seconds: f64,
    pub loaded_at: SystemTime,
}

/// An op's values for a batch of rows, row-major.
pub struct Output {
    /// Values per row: 1 score, `latent` codes, or `features` reconstructed values.
    pub values: Vec<f32>,
    /// Scores only: each row's per-feature squared errors (for a table's top columns).
    pub per_feature: Vec<f32>,
}

impl Served {
    /// Reads and checks a model file for serving.
    pub fn load(path: &Path) -> hourglass::Result<Served> {
        let started = Instant::now();
        let model = TrainedModel::load(path, &Device::flex())?;
        model
            .require_unconditional("serving")
            .map_err(|e| hourglass::Error::Format {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        let score = model.detector.default;
        let threshold = ThresholdRule::Auto.resolve(&model, score).ok();
        Ok(Served {
            model,
            path: path.to_path_buf(),
            score,
            threshold,
            load_seconds: started.elapsed().as_secs_f64(),
            loaded_at: SystemTime::now(),
        })
    }

    /// Values in one input row.
    pub fn features(&self) -> usize {
        self.model.input.features()
    }

    /// Values in one output row of `op`.
    pub fn width(&self, op: Op) -> usize {
        match op {
            Op::Score => 1,
            Op::Encode => self.model.config.latent,
            Op::Reconstruct => self.features(),
        }
    }

    /// Runs `op` on rows of raw values (already checked: width and finiteness).
    pub fn run(&self, op: Op, mut rows: Vec<f32>) -> hourglass::Result<Output> {
        let device = Device::flex();
        self.model.scaling.apply(&mut rows);
        let model = &self.model;
        Ok(match op {
            Op::Score => {
                let scores = anomaly::score(model, &rows, None, Some(self.score), &device)?;
                Output {
                    values: scores.per_sample,
                    per_feature: scores.per_feature,
                }
            }
            Op::Encode => Output {
                values: codec::encode_scaled(model, &rows, None, &device),
                per_feature: Vec::new(),
            },
            Op::Reconstruct => {
                let mut values = codec::reconstruct_scaled(model, &rows, None, &device);
                model.scaling.invert(&mut values);
                Output {
                    values,
                    per_feature: Vec::new(),
                }
            }
        })
    }

    /// The description `GET /v1/models/{name}` returns.
    pub fn info(&self, name: &str) -> ModelInfo {
        let model = &self.model;
        ModelInfo {
            name: name.to_string(),
            path: self.path.display().to_string(),
            architecture: model.config.kind(),
            sample_kind: match model.kind {
                SampleKind::Image => "image",
                SampleKind::Tabular => "table",
            },
            input_shape: [model.input.channels, model.input.height, model.input.width],
            features: model.input.features(),
            columns: model.columns.clone(),
            latent: model.config.latent,
            scaling: match model.scaling {
                hourglass::data::Scaling::Pixels { .. } => "pixels",
                hourglass::data::Scaling::Standardize { .. } => "standardize",
                hourglass::data::Scaling::Robust { .. } => "robust",
            },
            score: self.score.name(),
            threshold: self.threshold.as_ref().map(|t| t.value),
            threshold_rule: self.threshold.as_ref().map(|t| t.rule.clone()),
            train_fraction_flagged: self
                .threshold
                .as_ref()
                .and_then(|t| t.train_fraction_flagged),
            training: serde_json::to_value(&model.summary).unwrap_or_default(),
            loaded_at: self
                .loaded_at
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            load_seconds: self.load_seconds,
        }
    }
}

/// A served model, described.
#[derive(Debug, Serialize)]
pub struct ModelInfo {
    pub name: String,
    pub path: String,
    /// e.g. "dense", "conv2d variational".
    pub architecture: String,
    /// "table" or "image" (a series model takes windows as rows of a table).
    pub sample_kind: &'static str,
    /// channels, height, width; a table row is [1, 1, columns].
    pub input_shape: [usize; 3],
    pub features: usize,
    pub columns: Option<Vec<String>>,
    pub latent: usize,
    pub scaling: &'static str,
    pub score: &'static str,
    pub threshold: Option<f64>,
    pub threshold_rule: Option<String>,
    pub train_fraction_flagged: Option<f64>,
    pub training: serde_json::Value,
    /// Unix seconds.
    pub loaded_at: u64,
    pub load_seconds: f64,
}
