//! What an anomaly score is made of, and the statistics of the training data that make it
//! comparable across features and across models. Fit once at the end of training, stored in the
//! model file (metadata `anomaly`), so scoring needs no training data.
//!
//! - `mse`: the mean squared reconstruction error, in the model's scaled space.
//! - `normalized`: each feature's squared error divided by its mean on the training data, then
//!   averaged, so a feature the model always reconstructs loosely does not drown the others.
//! - `mahalanobis`: the squared Mahalanobis distance of the code from the training codes, per
//!   latent dimension: a sample can be reconstructed well and still sit where no training sample
//!   does.
//! - `knn`: the mean distance of the code to its nearest training codes, with many neighbours (a
//!   tenth of up to [`REFERENCE_CODES`] kept codes), so that a tight cluster of anomalies in the
//!   training data does not vouch for itself, and normal data with several modes is no problem.
//! - `combined`: `normalized` and `knn`, each put on the scale of its own training scores
//!   (median and MAD), added.
//! - `features` (conv2d models): the mean distance of the encoder's feature map to those of the
//!   nearest training images (see [`super::features`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::tasks::features::FeatureIndex;

/// Quantiles kept from the training scores: every 0.1 %, from the minimum to the maximum.
pub const QUANTILES: usize = 1001;

/// Training codes kept for the `knn` score (evenly spaced through the training split).
pub const REFERENCE_CODES: usize = 2000;

/// Which score `score` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScoreKind {
    Mse,
    Normalized,
    Mahalanobis,
    Knn,
    Combined,
    Features,
}

impl ScoreKind {
    pub const ALL: [ScoreKind; 6] = [
        ScoreKind::Mse,
        ScoreKind::Normalized,
        ScoreKind::Mahalanobis,
        ScoreKind::Knn,
        ScoreKind::Combined,
        ScoreKind::Features,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ScoreKind::Mse => "mse",
            ScoreKind::Normalized => "normalized",
            ScoreKind::Mahalanobis => "mahalanobis",
            ScoreKind::Knn => "knn",
            ScoreKind::Combined => "combined",
            ScoreKind::Features => "features",
        }
    }

    /// What the score measures, in a few words (a chart's axis).
    pub fn describe(self) -> &'static str {
        match self {
            ScoreKind::Mse => "reconstruction error (mean squared, scaled units)",
            ScoreKind::Normalized => "reconstruction error over each feature's training error",
            ScoreKind::Mahalanobis => "the code's Mahalanobis distance from the training codes",
            ScoreKind::Knn => "the code's mean distance to its nearest training codes",
            ScoreKind::Combined => "normalized error + code distance, on their training scales",
            ScoreKind::Features => {
                "the encoder's feature map's mean distance to the nearest training images' maps"
            }
        }
    }

    /// Whether computing it needs the latent codes.
    pub fn needs_codes(self) -> bool {
        matches!(
            self,
            ScoreKind::Mahalanobis | ScoreKind::Knn | ScoreKind::Combined
        )
    }

    /// Whether computing it needs the encoder's feature maps.
    pub fn needs_features(self) -> bool {
        self == ScoreKind::Features
    }
}

impl std::str::FromStr for ScoreKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        ScoreKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "unknown score {s:?}: give mse, normalized, mahalanobis, knn, combined or features"
                ))
            })
    }
}

impl std::fmt::Display for ScoreKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The score a new model reports by default, from the benchmarks (BENCHMARKS.md, "Anomaly
/// detection"): on tables the code's distance to its neighbours among the training codes ranks
/// anomalies better than any reconstruction error; on windows of a series the reconstruction error
/// normalised per position and channel; on images the encoder's feature maps' distance to the
/// training images' (`features`) where the model has them (conv2d), else `combined`.
pub fn default_score(
    kind: crate::data::SampleKind,
    architecture: &crate::model::Architecture,
) -> ScoreKind {
    use crate::model::Architecture;
    match (kind, architecture) {
        (crate::data::SampleKind::Tabular, Architecture::Dense { .. }) => ScoreKind::Knn,
        (crate::data::SampleKind::Tabular, _) => ScoreKind::Normalized,
        (crate::data::SampleKind::Image, Architecture::Conv2d { .. }) => ScoreKind::Features,
        (crate::data::SampleKind::Image, _) => ScoreKind::Combined,
    }
}

/// Location and spread of one score on the training data (median and 1.4826 × MAD).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    pub median: f32,
    pub scale: f32,
}

impl Spread {
    fn of(scores: &[f32]) -> Spread {
        let median = median(scores);
        let deviations: Vec<f32> = scores.iter().map(|s| (s - median).abs()).collect();
        let mad = 1.4826 * median_of(deviations);
        // A model that reconstructs its training data perfectly has no spread to divide by.
        let scale = if mad > 1e-12 {
            mad
        } else {
            (median.abs() * 1e-3).max(1e-12)
        };
        Spread { median, scale }
    }

    fn unit() -> Spread {
        Spread {
            median: 0.0,
            scale: 1.0,
        }
    }

    fn standardise(&self, s: f32) -> f32 {
        (s - self.median) / self.scale
    }
}

/// The training data's statistics behind every score kind, and the default kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detector {
    /// What `score` reports unless told otherwise.
    pub default: ScoreKind,
    /// Per feature: the mean squared error on the training data.
    pub feature_error: Vec<f32>,
    /// The training codes' mean and the inverse of their (regularised) covariance, `k × k`.
    pub latent_mean: Vec<f32>,
    pub latent_precision: Vec<f32>,
    /// Training codes for `knn` (`m × k`, at most [`REFERENCE_CODES`]) and the neighbours it
    /// averages over.
    #[serde(default)]
    pub reference_codes: Vec<f32>,
    #[serde(default)]
    pub neighbours: usize,
    pub normalized_spread: Spread,
    pub knn_spread: Spread,
    /// Per kind, [`QUANTILES`] quantiles of the training scores (for percentile thresholds).
    pub quantiles: BTreeMap<ScoreKind, Vec<f32>>,
    /// The other networks of an ensemble, each with its own statistics (and no quantiles of its
    /// own: the ensemble's are above).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<Detector>,
    /// For an ensemble: each network's (this one first) training median and spread per kind,
    /// which put the networks' scores on one scale before they are averaged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ensemble_spreads: Vec<BTreeMap<ScoreKind, Spread>>,
    /// The `features` score's reference (conv2d models). Kept as tensors of the model file, not
    /// in this metadata (it is megabytes).
    #[serde(skip)]
    pub features: Option<FeatureIndex>,
}

/// What a model gives for a batch of rows: squared errors per feature and the codes.
pub struct Residuals<'a> {
    /// `n × d` squared reconstruction errors.
    pub errors: &'a [f32],
    pub features: usize,
    /// `n × k` latent codes; empty when no score needs them.
    pub codes: &'a [f32],
    pub latent: usize,
    /// `n × k` feature maps projected by the network's [`FeatureIndex`]; empty when no score
    /// needs them.
    pub feature_maps: &'a [f32],
}

impl Detector {
    /// Fits the statistics on the training data's residuals under each network of a model (one,
    /// or the members of an ensemble), with each network's feature index if it has one.
    pub fn fit(
        training: &[Residuals],
        indexes: Vec<Option<FeatureIndex>>,
        default: ScoreKind,
    ) -> Detector {
        let fitted: Vec<(Detector, BTreeMap<ScoreKind, Vec<f32>>)> = training
            .iter()
            .zip(indexes.into_iter().chain(std::iter::repeat(None)))
            .map(|(r, index)| Self::fit_one(r, index, default))
            .collect();
        let spreads: Vec<BTreeMap<ScoreKind, Spread>> = fitted
            .iter()
            .map(|(_, raw)| raw.iter().map(|(k, s)| (*k, Spread::of(s))).collect())
            .collect();
        let mut networks = fitted.into_iter();
        let (mut first, first_raw) = networks.next().expect("a model has a network");
        if training.len() == 1 {
            return first;
        }
        let mut all_raw = vec![first_raw];
        for (mut net, raw) in networks {
            net.quantiles.clear();
            first.members.push(net);
            all_raw.push(raw);
        }
        first.ensemble_spreads = spreads;
        // The ensemble's training scores, from the raw scores already computed.
        for kind in ScoreKind::ALL {
            let raws: Vec<&[f32]> = all_raw
                .iter()
                .filter_map(|raw| raw.get(&kind).map(Vec::as_slice))
                .collect();
            if raws.len() < all_raw.len() {
                continue; // a kind these networks cannot give
            }
            let total = first.average(kind, &raws);
            first.quantiles.insert(kind, quantiles(&total));
        }
        first
    }

    /// The statistics of one network, and its raw training scores of every kind.
    fn fit_one(
        training: &Residuals,
        features: Option<FeatureIndex>,
        default: ScoreKind,
    ) -> (Detector, BTreeMap<ScoreKind, Vec<f32>>) {
        let (d, k) = (training.features, training.latent);
        let n = training.errors.len() / d;
        let mut feature_error = vec![0.0f64; d];
        for row in training.errors.chunks_exact(d) {
            for (acc, &e) in feature_error.iter_mut().zip(row) {
                *acc += e as f64;
            }
        }
        // A floor keeps a feature the model reproduces exactly (a constant column) from turning
        // the smallest later error into an enormous score.
        let mean_error = feature_error.iter().sum::<f64>() / (d * n.max(1)) as f64;
        let floor = (mean_error * 1e-3).max(1e-8);
        let feature_error = feature_error
            .iter()
            .map(|&s| ((s / n.max(1) as f64).max(floor)) as f32)
            .collect();
        let (latent_mean, latent_precision) = gaussian(training.codes, k);
        let reference_codes = evenly_spaced_rows(training.codes, k, REFERENCE_CODES);
        let m = reference_codes.len() / k.max(1);
        let mut detector = Detector {
            default,
            feature_error,
            latent_mean,
            latent_precision,
            reference_codes,
            neighbours: (m / 10).max(5).min(m),
            normalized_spread: Spread::unit(),
            knn_spread: Spread::unit(),
            quantiles: BTreeMap::new(),
            members: Vec::new(),
            ensemble_spreads: Vec::new(),
            features,
        };
        // Each kind once (knn is the costly one); combined from the two it adds.
        let mut raw = BTreeMap::new();
        for kind in [
            ScoreKind::Mse,
            ScoreKind::Normalized,
            ScoreKind::Mahalanobis,
            ScoreKind::Knn,
        ] {
            raw.insert(kind, detector.raw(kind, training));
        }
        detector.normalized_spread = Spread::of(&raw[&ScoreKind::Normalized]);
        detector.knn_spread = Spread::of(&raw[&ScoreKind::Knn]);
        let combined = detector.combine(&raw[&ScoreKind::Normalized], &raw[&ScoreKind::Knn]);
        raw.insert(ScoreKind::Combined, combined);
        // The kept training images' own distances (each without itself): fewer rows than the
        // other kinds' when the training split is larger than the reference.
        if let Some(index) = &detector.features {
            raw.insert(ScoreKind::Features, index.training_scores());
        }
        for (kind, scores) in &raw {
            detector.quantiles.insert(*kind, quantiles(scores));
        }
        (detector, raw)
    }

    /// The `combined` score from the `normalized` and `knn` ones.
    fn combine(&self, normalized: &[f32], knn: &[f32]) -> Vec<f32> {
        normalized
            .iter()
            .zip(knn)
            .map(|(a, b)| self.normalized_spread.standardise(*a) + self.knn_spread.standardise(*b))
            .collect()
    }

    /// A model written before score kinds existed: plain MSE, with the quantiles it kept.
    pub fn legacy(mse_quantiles: Vec<f32>) -> Detector {
        let mut quantiles = BTreeMap::new();
        if mse_quantiles.len() == QUANTILES {
            quantiles.insert(ScoreKind::Mse, mse_quantiles);
        }
        Detector {
            default: ScoreKind::Mse,
            feature_error: Vec::new(),
            latent_mean: Vec::new(),
            latent_precision: Vec::new(),
            reference_codes: Vec::new(),
            neighbours: 0,
            normalized_spread: Spread::unit(),
            knn_spread: Spread::unit(),
            quantiles,
            members: Vec::new(),
            ensemble_spreads: Vec::new(),
            features: None,
        }
    }

    /// Whether this model can give `kind` (older files know only `mse`).
    pub fn supports(&self, kind: ScoreKind) -> Result<()> {
        if kind == ScoreKind::Features && self.features.is_none() {
            return Err(Error::invalid(
                "this model keeps no feature maps: the features score needs a conv2d model \
                 trained by this version of hourglass; use --score combined",
            ));
        }
        if kind == ScoreKind::Mse || !self.feature_error.is_empty() {
            Ok(())
        } else {
            Err(Error::invalid(format!(
                "this model file predates the {kind} score; retrain it, or use --score mse"
            )))
        }
    }

    /// The score kinds this model can give.
    pub fn kinds(&self) -> Vec<ScoreKind> {
        ScoreKind::ALL
            .into_iter()
            .filter(|k| self.supports(*k).is_ok())
            .collect()
    }

    /// What a `kind` score of this model measures (an ensemble's are on the networks' training
    /// scales, averaged).
    pub fn describe(&self, kind: ScoreKind) -> String {
        match self.networks() {
            1 => kind.describe().to_string(),
            n => format!("{}; mean of {n} networks, each standardised", kind.name()),
        }
    }

    /// Networks in the model: 1, or the size of the ensemble.
    pub fn networks(&self) -> usize {
        1 + self.members.len()
    }

    /// Scores of `kind` for each row, from the residuals under each network (this one first).
    /// An ensemble's score is the mean of its networks' scores, each standardised by its own
    /// training median and spread.
    pub fn scores(&self, kind: ScoreKind, residuals: &[Residuals]) -> Vec<f32> {
        if self.members.is_empty() {
            return self.raw(kind, &residuals[0]);
        }
        let raws: Vec<Vec<f32>> = std::iter::once(self)
            .chain(&self.members)
            .zip(residuals)
            .map(|(net, r)| net.raw(kind, r))
            .collect();
        let raws: Vec<&[f32]> = raws.iter().map(Vec::as_slice).collect();
        self.average(kind, &raws)
    }

    /// An ensemble's score from its networks' raw scores of `kind`: each standardised by its
    /// network's training median and spread, then averaged.
    fn average(&self, kind: ScoreKind, raws: &[&[f32]]) -> Vec<f32> {
        let mut total = vec![0.0f32; raws.first().map_or(0, |r| r.len())];
        for (raw, spreads) in raws.iter().zip(&self.ensemble_spreads) {
            let spread = spreads.get(&kind).copied().unwrap_or(Spread::unit());
            for (t, s) in total.iter_mut().zip(raw.iter()) {
                *t += spread.standardise(*s);
            }
        }
        let count = raws.len() as f32;
        total.iter_mut().for_each(|t| *t /= count);
        total
    }

    fn raw(&self, kind: ScoreKind, r: &Residuals) -> Vec<f32> {
        let d = r.features;
        if kind.needs_codes() && (r.latent == 0 || r.codes.is_empty()) {
            // No codes given (only the reconstruction was asked for): nothing to measure.
            return vec![0.0; r.errors.len() / d.max(1)];
        }
        match kind {
            ScoreKind::Mse => r
                .errors
                .chunks_exact(d)
                .map(|row| row.iter().sum::<f32>() / d as f32)
                .collect(),
            ScoreKind::Normalized => r
                .errors
                .chunks_exact(d)
                .map(|row| {
                    row.iter()
                        .zip(&self.feature_error)
                        .map(|(e, s)| e / s)
                        .sum::<f32>()
                        / d as f32
                })
                .collect(),
            ScoreKind::Mahalanobis => r
                .codes
                .chunks_exact(r.latent)
                .map(|z| mahalanobis(z, &self.latent_mean, &self.latent_precision))
                .collect(),
            ScoreKind::Knn => {
                use rayon::prelude::*;
                r.codes
                    .par_chunks_exact(r.latent)
                    .map(|z| mean_neighbour_distance(z, &self.reference_codes, self.neighbours))
                    .collect()
            }
            ScoreKind::Combined => self.combine(
                &self.raw(ScoreKind::Normalized, r),
                &self.raw(ScoreKind::Knn, r),
            ),
            ScoreKind::Features => match &self.features {
                Some(index) if !r.feature_maps.is_empty() => index.distances(r.feature_maps),
                _ => vec![0.0; r.errors.len() / d.max(1)],
            },
        }
    }
}

/// The mean Euclidean distance from `z` to its `k` nearest rows of `reference`.
fn mean_neighbour_distance(z: &[f32], reference: &[f32], k: usize) -> f32 {
    let mut distances: Vec<f32> = reference
        .chunks_exact(z.len())
        .map(|r| squared_distance(r, z))
        .collect();
    mean_of_nearest(&mut distances, k, 0)
}

/// The mean of the square roots of the `k` smallest `squared` distances after the `skip`
/// smallest (1: a row's distance to itself); 0 when there are none. Reorders `squared`.
pub(crate) fn mean_of_nearest(squared: &mut [f32], k: usize, skip: usize) -> f32 {
    let take = (k + skip).min(squared.len());
    if take <= skip {
        return 0.0;
    }
    squared.select_nth_unstable_by(take - 1, f32::total_cmp);
    let nearest = &mut squared[..take];
    if skip > 0 {
        nearest.sort_unstable_by(f32::total_cmp);
    }
    let used = &nearest[skip..];
    used.iter().map(|d| d.sqrt()).sum::<f32>() / used.len() as f32
}

/// ‖a − b‖², summed in 8 lanes: a plain `sum()` of floats must keep its order, so it runs one
/// element at a time; eight running sums let the compiler use SIMD. The `knn` score computes
/// this for every code against 2,000 training codes (it was an eighth of a training run).
#[inline]
fn squared_distance(a: &[f32], b: &[f32]) -> f32 {
    let (a8, a_rest) = a.as_chunks::<8>();
    let (b8, b_rest) = b.as_chunks::<8>();
    let mut lanes = [0.0f32; 8];
    for (x, y) in a8.iter().zip(b8) {
        for i in 0..8 {
            let d = x[i] - y[i];
            lanes[i] += d * d;
        }
    }
    let rest: f32 = a_rest
        .iter()
        .zip(b_rest)
        .map(|(x, y)| (x - y) * (x - y))
        .sum();
    lanes.iter().sum::<f32>() + rest
}

/// At most `max` rows of `width`-wide `rows`, evenly spaced from the first.
pub(crate) fn evenly_spaced_rows(rows: &[f32], width: usize, max: usize) -> Vec<f32> {
    let n = rows.len() / width.max(1);
    if n <= max {
        return rows.to_vec();
    }
    (0..max)
        .flat_map(|i| {
            let r = i * n / max;
            rows[r * width..(r + 1) * width].iter().copied()
        })
        .collect()
}

/// Squared Mahalanobis distance of `z` from `mean` under `precision`, per dimension.
fn mahalanobis(z: &[f32], mean: &[f32], precision: &[f32]) -> f32 {
    let k = mean.len();
    let centred: Vec<f64> = z.iter().zip(mean).map(|(a, m)| (a - m) as f64).collect();
    let mut total = 0.0f64;
    for i in 0..k {
        let row = &precision[i * k..(i + 1) * k];
        let dot: f64 = row.iter().zip(&centred).map(|(p, c)| *p as f64 * c).sum();
        total += centred[i] * dot;
    }
    (total / k as f64) as f32
}

/// Mean and inverse covariance of `k`-wide rows. The covariance gets a small ridge (1e-3 of its
/// mean variance) so a latent dimension the encoder never uses does not make it singular.
fn gaussian(codes: &[f32], k: usize) -> (Vec<f32>, Vec<f32>) {
    let n = codes.len() / k.max(1);
    if n == 0 || k == 0 {
        return (vec![0.0; k], identity(k));
    }
    let mut mean = vec![0.0f64; k];
    for z in codes.chunks_exact(k) {
        for (m, &v) in mean.iter_mut().zip(z) {
            *m += v as f64;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let mut cov = vec![0.0f64; k * k];
    for z in codes.chunks_exact(k) {
        for i in 0..k {
            let di = z[i] as f64 - mean[i];
            for j in 0..=i {
                cov[i * k + j] += di * (z[j] as f64 - mean[j]);
            }
        }
    }
    for i in 0..k {
        for j in 0..=i {
            cov[i * k + j] /= (n.max(2) - 1) as f64;
            cov[j * k + i] = cov[i * k + j];
        }
    }
    let average_variance = (0..k).map(|i| cov[i * k + i]).sum::<f64>() / k as f64;
    let ridge = (average_variance * 1e-3).max(1e-12);
    (0..k).for_each(|i| cov[i * k + i] += ridge);
    let precision = invert_spd(&cov, k).unwrap_or_else(|| {
        // Not positive definite even with the ridge (non-finite codes): fall back to Euclidean.
        identity(k).into_iter().map(|v| v as f64).collect()
    });
    (
        mean.into_iter().map(|v| v as f32).collect(),
        precision.into_iter().map(|v| v as f32).collect(),
    )
}

fn identity(k: usize) -> Vec<f32> {
    (0..k * k)
        .map(|i| if i / k == i % k { 1.0 } else { 0.0 })
        .collect()
}

/// Inverse of a symmetric positive definite `k × k` matrix by Cholesky; `None` if it is not.
fn invert_spd(a: &[f64], k: usize) -> Option<Vec<f64>> {
    // a = L Lᵀ
    let mut l = vec![0.0f64; k * k];
    for i in 0..k {
        for j in 0..=i {
            let s: f64 = (0..j).map(|p| l[i * k + p] * l[j * k + p]).sum();
            if i == j {
                let v = a[i * k + i] - s;
                if v <= 0.0 || !v.is_finite() {
                    return None;
                }
                l[i * k + i] = v.sqrt();
            } else {
                l[i * k + j] = (a[i * k + j] - s) / l[j * k + j];
            }
        }
    }
    // Columns of the inverse: solve L y = e, then Lᵀ x = y.
    let mut inverse = vec![0.0f64; k * k];
    for c in 0..k {
        let mut y = vec![0.0f64; k];
        for i in 0..k {
            let e = if i == c { 1.0 } else { 0.0 };
            let s: f64 = (0..i).map(|p| l[i * k + p] * y[p]).sum();
            y[i] = (e - s) / l[i * k + i];
        }
        for i in (0..k).rev() {
            let s: f64 = (i + 1..k).map(|p| l[p * k + i] * inverse[p * k + c]).sum();
            inverse[i * k + c] = (y[i] - s) / l[i * k + i];
        }
    }
    Some(inverse)
}

fn median(values: &[f32]) -> f32 {
    median_of(values.to_vec())
}

fn median_of(mut values: Vec<f32>) -> f32 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_unstable_by(f32::total_cmp);
    values[values.len() / 2]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squared_distance_is_the_plain_sum_for_any_width() {
        for width in [1, 7, 8, 9, 32, 33] {
            let a: Vec<f32> = (0..width).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..width).map(|i| (i as f32 * 0.11).cos()).collect();
            let plain: f32 = a.iter().zip(&b).map(|(x, y)| (x - y) * (x - y)).sum();
            let fast = squared_distance(&a, &b);
            assert!(
                (fast - plain).abs() <= 1e-5 * plain.max(1.0),
                "{width}: {fast} vs {plain}"
            );
        }
    }

    #[test]
    fn precision_inverts_the_covariance() {
        let a = [4.0, 2.0, 0.6, 2.0, 5.0, 1.0, 0.6, 1.0, 3.0];
        let inv = invert_spd(&a, 3).unwrap();
        for i in 0..3 {
            for j in 0..3 {
                let v: f64 = (0..3).map(|p| a[i * 3 + p] * inv[p * 3 + j]).sum();
                assert!((v - if i == j { 1.0 } else { 0.0 }).abs() < 1e-12);
            }
        }
        assert!(invert_spd(&[1.0, 2.0, 2.0, 1.0], 2).is_none());
    }

    #[test]
    fn latent_score_sees_a_code_off_the_training_codes() {
        // Codes on the line z1 = z0: a code off the line is far in Mahalanobis terms even when it
        // is nearer the mean in Euclidean terms than some training codes.
        let codes: Vec<f32> = (0..200)
            .flat_map(|i| {
                let t = i as f32 / 20.0 - 5.0;
                [t, t + 0.01 * ((i % 7) as f32 - 3.0)]
            })
            .collect();
        let errors = vec![0.1f32; 200 * 2];
        let training = Residuals {
            errors: &errors,
            features: 2,
            codes: &codes,
            latent: 2,
            feature_maps: &[],
        };
        let detector = Detector::fit(
            std::slice::from_ref(&training),
            vec![None],
            ScoreKind::Combined,
        );
        let probe = Residuals {
            errors: &[0.1, 0.1, 0.1, 0.1],
            features: 2,
            codes: &[4.0, 4.0, 1.0, -1.0],
            latent: 2,
            feature_maps: &[],
        };
        let s = detector.scores(ScoreKind::Mahalanobis, std::slice::from_ref(&probe));
        assert!(s[1] > 50.0 * s[0], "{s:?}");
        let q = &detector.quantiles[&ScoreKind::Mahalanobis];
        assert!(s[1] > q[QUANTILES - 1]);
        // The neighbours see it too: off the line, further than any training code from its own.
        let s = detector.scores(ScoreKind::Knn, std::slice::from_ref(&probe));
        assert!(s[1] > s[0], "{s:?}");
        assert!(s[1] > detector.quantiles[&ScoreKind::Knn][QUANTILES - 1]);
    }

    #[test]
    fn knn_score_is_not_fooled_by_a_small_cluster_of_anomalies() {
        // 300 normal codes spread over a square, 20 anomalies packed at one far point: with a
        // tenth of the codes as neighbours, the packed anomalies are far from most of theirs.
        let mut codes = Vec::new();
        for i in 0..300 {
            codes.extend([(i % 20) as f32 / 10.0, (i / 20) as f32 / 10.0]);
        }
        for i in 0..20 {
            codes.extend([5.0 + i as f32 * 1e-3, 5.0]);
        }
        let errors = vec![0.1f32; 320 * 2];
        let training = Residuals {
            errors: &errors,
            features: 2,
            codes: &codes,
            latent: 2,
            feature_maps: &[],
        };
        let detector = Detector::fit(std::slice::from_ref(&training), vec![None], ScoreKind::Knn);
        let s = detector.scores(ScoreKind::Knn, std::slice::from_ref(&training));
        let worst_normal = s[..300].iter().copied().fold(0.0, f32::max);
        assert!(s[300..].iter().all(|&a| a > worst_normal), "{s:?}");
    }

    #[test]
    fn normalized_score_weighs_features_by_their_training_error() {
        // Feature 0 is always reconstructed loosely, feature 1 tightly: the same error on feature
        // 1 is far more surprising.
        let errors: Vec<f32> = (0..100).flat_map(|_| [1.0f32, 0.01]).collect();
        let training = Residuals {
            errors: &errors,
            features: 2,
            codes: &[],
            latent: 0,
            feature_maps: &[],
        };
        let detector = Detector::fit(
            std::slice::from_ref(&training),
            vec![None],
            ScoreKind::Normalized,
        );
        let probe = Residuals {
            errors: &[2.0, 0.01, 1.0, 1.0],
            features: 2,
            codes: &[],
            latent: 0,
            feature_maps: &[],
        };
        let mse = detector.scores(ScoreKind::Mse, std::slice::from_ref(&probe));
        let normalized = detector.scores(ScoreKind::Normalized, std::slice::from_ref(&probe));
        assert!(mse[0] > mse[1] && normalized[1] > 10.0 * normalized[0]);
    }
}
