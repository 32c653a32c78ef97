//! Anomaly detection by reconstruction error: a sample the model reconstructs badly is unlike the
//! data it was trained on. Thresholds come from the training split's own scores, which the
//! artifact keeps as quantiles, so scoring needs no training data.

use burn::tensor::Device;
use serde::Serialize;

use crate::artifact::TrainedModel;
use crate::error::{Error, Result};
use crate::tasks::codec;

/// Quantiles kept from the training scores: every 0.1 %, from the minimum to the maximum.
pub const QUANTILES: usize = 1001;

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

/// Per-sample and per-feature squared errors of a model on scaled rows.
pub struct Scores {
    pub per_sample: Vec<f32>,
    /// `n × features` squared errors (what a table's columns contribute to the score).
    pub per_feature: Vec<f32>,
}

/// Scores scaled rows with a model (a conditional one sees the rows' one-hot `class`).
pub fn score(
    model: &TrainedModel,
    values: &[f32],
    class: Option<&[f32]>,
    device: &Device,
) -> Scores {
    let d = model.input.features();
    let reconstructions = codec::reconstruct_scaled(model, values, class, device);
    let per_feature = values
        .iter()
        .zip(&reconstructions)
        .map(|(a, b)| (a - b) * (a - b))
        .collect();
    Scores {
        per_sample: scores_of(values, &reconstructions, d),
        per_feature,
    }
}

/// Sorted scores reduced to [`QUANTILES`] evenly spaced quantiles.
pub fn quantiles(scores: &[f32]) -> Vec<f32> {
    if scores.is_empty() {
        return Vec::new();
    }
    let mut sorted = scores.to_vec();
    sorted.sort_by(f32::total_cmp);
    (0..QUANTILES)
        .map(|i| {
            let position = i as f64 / (QUANTILES - 1) as f64 * (sorted.len() - 1) as f64;
            sorted[position.round() as usize]
        })
        .collect()
}

/// How the flagging threshold is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ThresholdRule {
    /// This percentile of the training scores (0–100).
    Percentile(f64),
    /// A fixed score.
    Value(f64),
}

impl std::str::FromStr for ThresholdRule {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::invalid(format!("threshold {s:?}: give pXX (e.g. p99) or a number"));
        if let Some(p) = s.strip_prefix('p') {
            let p: f64 = p.parse().map_err(|_| bad())?;
            if !(0.0..=100.0).contains(&p) {
                return Err(bad());
            }
            Ok(ThresholdRule::Percentile(p))
        } else {
            s.parse().map(ThresholdRule::Value).map_err(|_| bad())
        }
    }
}

impl ThresholdRule {
    /// The threshold score for a model.
    pub fn resolve(self, model: &TrainedModel) -> Result<f64> {
        match self {
            ThresholdRule::Value(v) => Ok(v),
            ThresholdRule::Percentile(p) => {
                let q = &model.score_quantiles;
                if q.len() != QUANTILES {
                    return Err(Error::invalid(
                        "this model file has no training scores; give the threshold as a number",
                    ));
                }
                let at = (p / 100.0 * (QUANTILES - 1) as f64).round() as usize;
                Ok(q[at] as f64)
            }
        }
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
    pub threshold: f64,
    pub flagged: usize,
    /// With labels: how well the score separates anomalies (not the normal class) from normal.
    pub auroc: Option<f64>,
    pub average_precision: Option<f64>,
    /// The same measures for PCA reconstruction error at the latent size, the baseline score.
    pub pca_auroc: Option<f64>,
    pub pca_average_precision: Option<f64>,
}

/// Scores, flags and (with labels) measures a data set. `anomalous[i]` says whether sample `i` is
/// a true anomaly, when known.
pub fn detect(
    model: &TrainedModel,
    values: &[f32],
    class: Option<&[f32]>,
    anomalous: Option<&[bool]>,
    threshold: f64,
    device: &Device,
) -> (Scores, AnomalyReport) {
    let scores = score(model, values, class, device);
    let d = model.input.features();
    let flagged = scores
        .per_sample
        .iter()
        .filter(|&&s| s as f64 > threshold)
        .count();
    let (auroc, ap, pca_auroc, pca_ap) = match anomalous {
        Some(truth) => {
            let pca = scores_of(values, &model.baseline.reconstruct(values, device), d);
            (
                roc_auc(&scores.per_sample, truth),
                average_precision(&scores.per_sample, truth),
                roc_auc(&pca, truth),
                average_precision(&pca, truth),
            )
        }
        None => (None, None, None, None),
    };
    let report = AnomalyReport {
        n: scores.per_sample.len(),
        threshold,
        flagged,
        auroc,
        average_precision: ap,
        pca_auroc,
        pca_average_precision: pca_ap,
    };
    (scores, report)
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
        assert!("p101".parse::<ThresholdRule>().is_err());
        assert!("high".parse::<ThresholdRule>().is_err());
    }
}
