//! Anomaly detection by reconstruction error: a sample the model reconstructs badly is unlike the
//! data it was trained on. Thresholds come from the training split's own scores, which the
//! artifact keeps as quantiles, so scoring needs no training data.

use burn::tensor::Device;
use serde::Serialize;

use crate::artifact::TrainedModel;
use crate::error::{Error, Result};
use crate::model::Network;
use crate::tasks::codec;

pub use super::detector::Residuals;
pub use super::detector::{QUANTILES, ScoreKind, quantiles};

/// Per-sample mean squared reconstruction error, in the model's scaled space.
pub fn scores_of(values: &[f32], reconstructions: &[f32], features: usize) -> Vec<f32> {
    values
        .chunks_exact(features)
        .zip(reconstructions.chunks_exact(features))
        .map(|(x, y)| {
            let sum: f32 = x.iter().zip(y).map(|(a, b)| (a - b) * (a - b)).sum();
            sum / features as f32
        })
        .collect()
}

/// Per-sample scores and per-feature squared errors.
pub struct Scores {
    pub per_sample: Vec<f32>,
    /// `n × features` squared errors (what a table's columns contribute to the score).
    pub per_feature: Vec<f32>,
}

/// What one network gives for a batch of rows (see [`Residuals`]).
pub struct NetworkResiduals {
    /// `n × d` squared reconstruction errors.
    pub errors: Vec<f32>,
    /// `n × latent` codes, when asked for.
    pub codes: Vec<f32>,
    /// `n × k` projected feature maps, when asked for and the network has a feature index.
    pub feature_maps: Vec<f32>,
}

/// Squared errors and, when asked for, latent codes and projected feature maps of scaled rows
/// under each network of a model (one, or the members of an ensemble, the model's `network`
/// first).
pub fn residuals(
    model: &TrainedModel,
    values: &[f32],
    class: Option<&[f32]>,
    with_codes: bool,
    with_features: bool,
    device: &Device,
) -> Vec<NetworkResiduals> {
    // While training fits the detector, the model's is still a placeholder with no members.
    let detectors = std::iter::once(&model.detector).chain(&model.detector.members);
    std::iter::once(&model.network)
        .chain(&model.members)
        .zip(detectors.map(Some).chain(std::iter::repeat(None)))
        .map(|(network, detector)| {
            let mut r = residuals_by(model, network, values, class, with_codes, device);
            if with_features && let Some(index) = detector.and_then(|d| d.features.as_ref()) {
                r.feature_maps = index.project(model, network, values, device);
            }
            r
        })
        .collect()
}

/// The errors and (when `with_codes`) codes under one network.
fn residuals_by(
    model: &TrainedModel,
    network: &Network,
    values: &[f32],
    class: Option<&[f32]>,
    with_codes: bool,
    device: &Device,
) -> NetworkResiduals {
    let (codes, reconstructions) = if with_codes {
        let codes = codec::encode_scaled_by(model, network, values, class, device);
        let reconstructions = codec::decode_scaled_by(model, network, &codes, class, device);
        (codes, reconstructions)
    } else {
        (
            Vec::new(),
            codec::reconstruct_scaled_by(model, network, values, class, device),
        )
    };
    // In place: the reconstructions are as large as the data (170 MB for Fashion-MNIST's
    // training split), and not needed once their errors are known.
    let mut errors = reconstructions;
    for (e, a) in errors.iter_mut().zip(values) {
        *e = (a - *e) * (a - *e);
    }
    NetworkResiduals {
        errors,
        codes,
        feature_maps: Vec::new(),
    }
}

/// Views of each network's residuals as [`Residuals`].
pub fn as_residuals(
    all: &[NetworkResiduals],
    features: usize,
    latent: usize,
) -> Vec<Residuals<'_>> {
    all.iter()
        .map(|r| Residuals {
            errors: &r.errors,
            features,
            codes: &r.codes,
            latent,
            feature_maps: &r.feature_maps,
        })
        .collect()
}

/// Scores scaled rows with a model (a conditional one sees the rows' one-hot `class`); `kind`
/// `None` is the model's default score.
pub fn score(
    model: &TrainedModel,
    values: &[f32],
    class: Option<&[f32]>,
    kind: Option<ScoreKind>,
    device: &Device,
) -> Result<Scores> {
    let kind = kind.unwrap_or(model.detector.default);
    model.detector.supports(kind)?;
    let all = residuals(
        model,
        values,
        class,
        kind.needs_codes(),
        kind.needs_features(),
        device,
    );
    let per_sample = model.detector.scores(
        kind,
        &as_residuals(&all, model.input.features(), model.config.latent),
    );
    // An ensemble's per-feature errors are its networks' mean.
    let mut per_feature = vec![0.0f32; values.len()];
    for r in &all {
        for (acc, e) in per_feature.iter_mut().zip(&r.errors) {
            *acc += e / all.len() as f32;
        }
    }
    Ok(Scores {
        per_sample,
        per_feature,
    })
}

/// Robust deviations above the median for the `auto` threshold. Real training data has a tail of
/// its own: on the clean rows of the cardio sample, 3 deviations flagged 6–10 % of them, 4 flags
/// 4–6 %, 5 flags 3–4 % (`knn` and `mse` scores, three seeds).
const AUTO_DEVIATIONS: f64 = 4.0;
/// The percentiles of the training scores that bound the `auto` threshold: it flags between
/// 0.5 % and 5 % of the training data, whatever the shape of its scores (on one class of the
/// shipped images the rule alone flagged 0.7 % by `mse` and 11.6 % by `combined`).
const AUTO_FLAGS: (f64, f64) = (95.0, 99.5);

/// How the flagging threshold is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ThresholdRule {
    /// This percentile of the training scores (0–100).
    Percentile(f64),
    /// PyOD's convention: this fraction of the training scores lies above the threshold.
    Contamination(f64),
    /// For when nothing is known: the training scores' median + [`AUTO_DEVIATIONS`] robust
    /// deviations (1.4826 × MAD), which flags the far tail of the training data's own scores,
    /// kept between the training scores' p95 and p99.5 ([`AUTO_FLAGS`]).
    Auto,
    /// A fixed score.
    Value(f64),
}

impl std::str::FromStr for ThresholdRule {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            Error::invalid(format!(
                "threshold {s:?}: give auto, pXX (e.g. p99) or a number"
            ))
        };
        if s == "auto" {
            Ok(ThresholdRule::Auto)
        } else if let Some(p) = s.strip_prefix('p') {
            let p: f64 = p.parse().map_err(|_| bad())?;
            if !(0.0..=100.0).contains(&p) {
                return Err(bad());
            }
            Ok(ThresholdRule::Percentile(p))
        } else {
            match s.parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(ThresholdRule::Value(v)),
                _ => Err(bad()),
            }
        }
    }
}

/// A resolved threshold and what it means on the training data.
#[derive(Debug, Clone, Serialize)]
pub struct Threshold {
    pub value: f64,
    /// How it was chosen, in words (e.g. "p99 of the training scores").
    pub rule: String,
    /// The fraction of the training data's scores above it (from the stored quantiles).
    pub train_fraction_flagged: Option<f64>,
}

impl ThresholdRule {
    /// The threshold for scores of `kind` from a model.
    pub fn resolve(self, model: &TrainedModel, kind: ScoreKind) -> Result<Threshold> {
        let quantiles = model
            .detector
            .quantiles
            .get(&kind)
            .filter(|q| q.len() == QUANTILES);
        let need = || {
            Error::invalid(format!(
                "this model file has no training {kind} scores; give the threshold as a number"
            ))
        };
        let at = |p: f64| -> Result<f64> {
            let q = quantiles.ok_or_else(need)?;
            let i = (p / 100.0 * (QUANTILES - 1) as f64).round() as usize;
            Ok(q[i.min(QUANTILES - 1)] as f64)
        };
        let (value, rule) = match self {
            ThresholdRule::Value(v) => (v, "given".to_string()),
            ThresholdRule::Percentile(p) => (at(p)?, format!("p{p} of the training scores")),
            ThresholdRule::Contamination(f) => (
                at(100.0 * (1.0 - f))?,
                format!(
                    "contamination {f}: the top {} % of the training scores",
                    100.0 * f
                ),
            ),
            ThresholdRule::Auto => {
                let q = quantiles.ok_or_else(need)?;
                // The quantiles are an evenly spaced sample of the training scores, so their
                // median and MAD are the scores' own.
                let median = q[QUANTILES / 2] as f64;
                let mut deviations: Vec<f64> =
                    q.iter().map(|&v| (v as f64 - median).abs()).collect();
                deviations.sort_by(f64::total_cmp);
                let spread = 1.4826 * deviations[QUANTILES / 2];
                let rule = median + AUTO_DEVIATIONS * spread;
                // The rule adapts to the scores' shape, but a near-normal score would flag almost
                // nothing and a heavy tail too much: keep it between p95 and p99.5.
                let (low, high) = (at(AUTO_FLAGS.0)?, at(AUTO_FLAGS.1)?);
                let value = rule.clamp(low, high);
                let why = if value > rule {
                    format!(", raised to p{} of the training scores", AUTO_FLAGS.0)
                } else if value < rule {
                    format!(", lowered to p{} of the training scores", AUTO_FLAGS.1)
                } else {
                    String::new()
                };
                (
                    value,
                    format!(
                        "auto: median + {AUTO_DEVIATIONS} × 1.4826 MAD of the training scores{why}"
                    ),
                )
            }
        };
        let train_fraction_flagged = quantiles.map(|q| {
            // Quantile i sits at i / 1000 of the way through the sorted training scores.
            let below = q.iter().filter(|&&v| (v as f64) <= value).count();
            (QUANTILES - below) as f64 / (QUANTILES - 1) as f64
        });
        Ok(Threshold {
            value,
            rule,
            train_fraction_flagged: train_fraction_flagged.map(|f| f.clamp(0.0, 1.0)),
        })
    }
}

/// Area under the ROC curve of `scores` for telling `positive` samples from the rest: the chance
/// that a random positive scores above a random negative (ties count half).
pub fn roc_auc(scores: &[f32], positive: &[bool]) -> Option<f64> {
    let ranked = ranks(scores);
    let n_pos = positive.iter().filter(|&&p| p).count();
    let n_neg = positive.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return None;
    }
    let rank_sum: f64 = ranked
        .iter()
        .zip(positive)
        .filter(|(_, p)| **p)
        .map(|(r, _)| r)
        .sum();
    let u = rank_sum - (n_pos * (n_pos + 1)) as f64 / 2.0;
    Some(u / (n_pos as f64 * n_neg as f64))
}

/// Average precision of `scores` for finding `positive` samples (area under precision–recall,
/// as the mean of the precision at each positive, highest scores first).
pub fn average_precision(scores: &[f32], positive: &[bool]) -> Option<f64> {
    let n_pos = positive.iter().filter(|&&p| p).count();
    if n_pos == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let (mut hits, mut total) = (0usize, 0.0f64);
    for (rank, &i) in order.iter().enumerate() {
        if positive[i] {
            hits += 1;
            total += hits as f64 / (rank + 1) as f64;
        }
    }
    Some(total / n_pos as f64)
}

/// 1-based ranks, ties sharing their average rank.
fn ranks(scores: &[f32]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut ranks = vec![0.0; scores.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let average = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            ranks[k] = average;
        }
        i = j + 1;
    }
    ranks
}

/// What `score` reports.
#[derive(Debug, Clone, Serialize)]
pub struct AnomalyReport {
    pub n: usize,
    /// Which score (see [`ScoreKind`]).
    pub score: ScoreKind,
    pub threshold: f64,
    /// How the threshold was chosen.
    pub threshold_rule: String,
    /// The fraction of the training data the threshold flags.
    pub train_fraction_flagged: Option<f64>,
    pub flagged: usize,
    /// For tables: the highest-scoring flagged rows (at most [`EXPLAINED_ROWS`]), each with the
    /// columns that contribute most to it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub flagged_rows: Vec<FlaggedRow>,
    /// With labels: how well the score separates anomalies (not the normal class) from normal.
    pub auroc: Option<f64>,
    pub average_precision: Option<f64>,
    /// The same measures for PCA reconstruction error at the latent size, the baseline score.
    pub pca_auroc: Option<f64>,
    pub pca_average_precision: Option<f64>,
}

/// Flagged rows explained in a report, highest scores first.
pub const EXPLAINED_ROWS: usize = 100;
/// Columns named per explained row.
pub const TOP_COLUMNS: usize = 3;

/// A flagged row and why.
#[derive(Debug, Clone, Serialize)]
pub struct FlaggedRow {
    /// 0-based row of the data.
    pub row: usize,
    pub score: f32,
    pub top_columns: Vec<Contribution>,
}

/// A column's share of a row's squared reconstruction error.
#[derive(Debug, Clone, Serialize)]
pub struct Contribution {
    pub column: String,
    pub share: f32,
}

/// The `TOP_COLUMNS` columns whose squared errors (in the scaled space, where every column has a
/// unit spread) are the largest part of one row's. Not divided by each column's training error:
/// that would let a column the model always gets nearly right (a mostly-zero count, say) take the
/// blame for a small shift caused by a wrong value elsewhere.
pub fn top_columns(errors: &[f32], names: &[String]) -> Vec<Contribution> {
    let total: f32 = errors.iter().sum::<f32>().max(f32::MIN_POSITIVE);
    let mut order: Vec<usize> = (0..errors.len()).collect();
    order.sort_by(|&a, &b| errors[b].total_cmp(&errors[a]));
    order
        .into_iter()
        .take(TOP_COLUMNS)
        .map(|j| Contribution {
            column: names
                .get(j)
                .cloned()
                .unwrap_or_else(|| format!("column {j}")),
            share: errors[j] / total,
        })
        .collect()
}

/// How to score and flag.
#[derive(Debug, Clone, Copy)]
pub struct Scoring {
    /// `None`: the model's default score.
    pub kind: Option<ScoreKind>,
    pub threshold: ThresholdRule,
}

/// Scores, flags and (with labels) measures a data set. `anomalous[i]` says whether sample `i` is
/// a true anomaly, when known; `columns` (a table's column names) asks for explanations.
pub fn detect(
    model: &TrainedModel,
    values: &[f32],
    class: Option<&[f32]>,
    anomalous: Option<&[bool]>,
    scoring: Scoring,
    columns: Option<&[String]>,
    device: &Device,
) -> Result<(Scores, Threshold, AnomalyReport)> {
    let mut detection = Detection::new(model, scoring, columns)?;
    let scores = detection.add(values, class, anomalous, device)?;
    let (_, threshold, report) = detection.finish();
    Ok((scores, threshold, report))
}

/// Scoring, flagging and measuring rows a chunk at a time: [`detect`] hands it every row at once,
/// a streamed `score` one block at a time. It keeps each row's score (and, with labels, its truth
/// and PCA score) for the report, and the highest flagged rows' explanations.
pub struct Detection<'a> {
    model: &'a TrainedModel,
    kind: ScoreKind,
    threshold: Threshold,
    columns: Option<&'a [String]>,
    scores: Vec<f32>,
    truth: Vec<bool>,
    pca: Vec<f32>,
    flagged: usize,
    explained: Vec<FlaggedRow>,
    /// The lowest score among [`EXPLAINED_ROWS`] explained rows: a flagged row at or below it
    /// cannot be among the highest, so it is not explained.
    floor: f32,
}

impl<'a> Detection<'a> {
    pub fn new(
        model: &'a TrainedModel,
        scoring: Scoring,
        columns: Option<&'a [String]>,
    ) -> Result<Self> {
        let kind = scoring.kind.unwrap_or(model.detector.default);
        model.detector.supports(kind)?;
        Ok(Detection {
            model,
            kind,
            threshold: scoring.threshold.resolve(model, kind)?,
            columns,
            scores: Vec::new(),
            truth: Vec::new(),
            pca: Vec::new(),
            flagged: 0,
            explained: Vec::new(),
            floor: f32::NEG_INFINITY,
        })
    }

    pub fn threshold(&self) -> &Threshold {
        &self.threshold
    }

    /// Whether the rows handed in so far came with their truth.
    pub fn truth(&self) -> Option<&[bool]> {
        (!self.truth.is_empty() && self.truth.len() == self.scores.len()).then_some(&self.truth)
    }

    /// Scores the next scaled rows (`anomalous`: their truth, when known) and returns their
    /// scores.
    pub fn add(
        &mut self,
        values: &[f32],
        class: Option<&[f32]>,
        anomalous: Option<&[bool]>,
        device: &Device,
    ) -> Result<Scores> {
        let model = self.model;
        let d = model.input.features();
        let scores = score(model, values, class, Some(self.kind), device)?;
        let first = self.scores.len();
        for (i, &s) in scores.per_sample.iter().enumerate() {
            if s as f64 <= self.threshold.value {
                continue;
            }
            self.flagged += 1;
            if self.explained.len() >= EXPLAINED_ROWS && s <= self.floor {
                continue;
            }
            if let Some(names) = self.columns {
                self.explained.push(FlaggedRow {
                    row: first + i,
                    score: s,
                    top_columns: top_columns(&scores.per_feature[i * d..(i + 1) * d], names),
                });
            }
        }
        if self.explained.len() > 4 * EXPLAINED_ROWS {
            self.keep_highest();
        }
        if let Some(truth) = anomalous {
            self.truth.extend_from_slice(truth);
            let pca = model.baseline.reconstruct(values, device);
            self.pca.extend(scores_of(values, &pca, d));
        }
        self.scores.extend_from_slice(&scores.per_sample);
        Ok(scores)
    }

    /// The [`EXPLAINED_ROWS`] highest flagged rows, highest first (ties: the earlier row).
    fn keep_highest(&mut self) {
        self.explained.sort_by(|a, b| b.score.total_cmp(&a.score));
        self.explained.truncate(EXPLAINED_ROWS);
        if self.explained.len() == EXPLAINED_ROWS {
            self.floor = self.explained[EXPLAINED_ROWS - 1].score;
        }
    }

    /// Every row's score, the threshold and the report.
    pub fn finish(mut self) -> (Vec<f32>, Threshold, AnomalyReport) {
        self.keep_highest();
        let (auroc, ap, pca_auroc, pca_ap) = match self.truth() {
            Some(truth) => (
                roc_auc(&self.scores, truth),
                average_precision(&self.scores, truth),
                roc_auc(&self.pca, truth),
                average_precision(&self.pca, truth),
            ),
            None => (None, None, None, None),
        };
        let report = AnomalyReport {
            n: self.scores.len(),
            score: self.kind,
            threshold: self.threshold.value,
            threshold_rule: self.threshold.rule.clone(),
            train_fraction_flagged: self.threshold.train_fraction_flagged,
            flagged: self.flagged,
            flagged_rows: self.explained,
            auroc,
            average_precision: ap,
            pca_auroc,
            pca_average_precision: pca_ap,
        };
        (self.scores, self.threshold, report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auroc_of_perfect_random_and_inverted_scores() {
        let truth = [false, false, true, true];
        assert_eq!(roc_auc(&[0.1, 0.2, 0.8, 0.9], &truth), Some(1.0));
        assert_eq!(roc_auc(&[0.9, 0.8, 0.2, 0.1], &truth), Some(0.0));
        assert_eq!(roc_auc(&[0.5, 0.5, 0.5, 0.5], &truth), Some(0.5));
        assert_eq!(roc_auc(&[0.5, 0.5], &[true, true]), None);
    }

    #[test]
    fn average_precision_rewards_positives_ranked_first() {
        let truth = [true, false, true, false];
        assert_eq!(average_precision(&[0.9, 0.1, 0.8, 0.2], &truth), Some(1.0));
        // Ranked: neg, pos, neg, pos → precision 1/2 at the first hit, 2/4 at the second.
        let ap = average_precision(&[0.4, 0.3, 0.2, 0.1], &[false, true, false, true]).unwrap();
        assert!((ap - 0.5).abs() < 1e-12);
    }

    #[test]
    fn quantiles_span_min_to_max() {
        let scores: Vec<f32> = (0..=100).map(|v| v as f32).collect();
        let q = quantiles(&scores);
        assert_eq!(q.len(), QUANTILES);
        assert_eq!((q[0], q[500], q[1000]), (0.0, 50.0, 100.0));
    }

    #[test]
    fn thresholds_parse() {
        assert_eq!(
            "p99".parse::<ThresholdRule>().unwrap(),
            ThresholdRule::Percentile(99.0)
        );
        assert_eq!(
            "0.25".parse::<ThresholdRule>().unwrap(),
            ThresholdRule::Value(0.25)
        );
        assert_eq!(
            "auto".parse::<ThresholdRule>().unwrap(),
            ThresholdRule::Auto
        );
        assert!("p101".parse::<ThresholdRule>().is_err());
        assert!("NaN".parse::<ThresholdRule>().is_err());
        assert!("high".parse::<ThresholdRule>().is_err());
    }
}
