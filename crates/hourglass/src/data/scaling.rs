//! Scaling is part of the model: it is fit on the training split, stored in the artifact, and
//! applied the same way to every data set the model later sees.

use serde::{Deserialize, Serialize};

use super::{Dataset, SampleKind};

/// How a table's columns are scaled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScalingKind {
    /// Mean and standard deviation.
    #[default]
    Standard,
    /// Median and interquartile range: anomalies in the training data do not pull the scale.
    Robust,
}

/// How raw values map to the values the network sees.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Scaling {
    /// Divide by the brightest possible pixel value, so pixels lie in [0, 1].
    Pixels { max: f32 },
    /// Per column: subtract the mean and divide by the standard deviation of the training split.
    /// Models written before robust scaling use it.
    Standardize { mean: Vec<f32>, std: Vec<f32> },
    /// Per column: subtract the median and divide by the interquartile range / 1.349 (the
    /// standard deviation of a normal column), so the anomalies every real training set holds do
    /// not pull the scale. `mean`/`std` name the centre and the spread, as for `Standardize`.
    Robust { mean: Vec<f32>, std: Vec<f32> },
}

impl Scaling {
    /// The scaling that suits this training data: pixels by their type's maximum, tables by
    /// column statistics of the `kind` asked for (ignoring missing values).
    pub fn fit(data: &Dataset, kind: ScalingKind) -> Scaling {
        if data.kind == SampleKind::Tabular && kind == ScalingKind::Robust {
            let (mean, std) = robust_columns(&data.values, data.shape.features());
            return Scaling::Robust { mean, std };
        }
        let mut stats = ColumnStats::new(data.shape.features());
        stats.add(&data.values);
        stats.scaling(data.kind)
    }

    /// Scales raw rows in place.
    pub fn apply(&self, values: &mut [f32]) {
        match self {
            Scaling::Pixels { max } => values.iter_mut().for_each(|v| *v /= max),
            Scaling::Standardize { mean, std } | Scaling::Robust { mean, std } => {
                for row in values.chunks_exact_mut(mean.len()) {
                    for ((v, m), s) in row.iter_mut().zip(mean).zip(std) {
                        *v = (*v - m) / s;
                    }
                }
            }
        }
    }

    /// Maps scaled rows back to raw units, in place.
    pub fn invert(&self, values: &mut [f32]) {
        match self {
            Scaling::Pixels { max } => values.iter_mut().for_each(|v| *v *= max),
            Scaling::Standardize { mean, std } | Scaling::Robust { mean, std } => {
                for row in values.chunks_exact_mut(mean.len()) {
                    for ((v, m), s) in row.iter_mut().zip(mean).zip(std) {
                        *v = *v * s + m;
                    }
                }
            }
        }
    }

    /// Whether scaled values lie in [0, 1], as a sigmoid output and cross-entropy need.
    pub fn is_unit_range(&self) -> bool {
        matches!(self, Scaling::Pixels { .. })
    }

    /// A copy of the data set's values, scaled.
    pub fn scaled(&self, data: &Dataset) -> Vec<f32> {
        let mut values = data.values.clone();
        self.apply(&mut values);
        values
    }
}

/// Per-column means of rows, ignoring missing values (0 for a column with none observed).
pub(crate) fn column_means(values: &[f32], features: usize) -> Vec<f32> {
    let mut sum = vec![0.0f64; features];
    let mut count = vec![0usize; features];
    for row in values.chunks_exact(features) {
        for (j, &v) in row.iter().enumerate() {
            if !v.is_nan() {
                sum[j] += v as f64;
                count[j] += 1;
            }
        }
    }
    sum.iter()
        .zip(&count)
        .map(|(s, &c)| if c > 0 { (s / c as f64) as f32 } else { 0.0 })
        .collect()
}

/// Per-column sums of rows seen so far (ignoring missing values) and the brightest value: what
/// the pixel and standard scalings need, gathered in one pass over data read a block at a time.
#[derive(Debug, Clone)]
pub struct ColumnStats {
    sum: Vec<f64>,
    sum_sq: Vec<f64>,
    count: Vec<usize>,
    brightest: f32,
}

impl ColumnStats {
    pub fn new(features: usize) -> Self {
        ColumnStats {
            sum: vec![0.0; features],
            sum_sq: vec![0.0; features],
            count: vec![0; features],
            brightest: 0.0,
        }
    }

    /// Adds rows (`features` values each).
    pub fn add(&mut self, rows: &[f32]) {
        let d = self.sum.len();
        for row in rows.chunks_exact(d) {
            for (j, &v) in row.iter().enumerate() {
                if v.is_finite() {
                    self.sum[j] += v as f64;
                    self.sum_sq[j] += (v as f64) * (v as f64);
                    self.count[j] += 1;
                    self.brightest = self.brightest.max(v);
                }
            }
        }
    }

    /// Per-column means of the rows added (0 for a column with none observed).
    pub fn means(&self) -> Vec<f32> {
        self.sum
            .iter()
            .zip(&self.count)
            .map(|(s, &c)| if c > 0 { (s / c as f64) as f32 } else { 0.0 })
            .collect()
    }

    /// Pixels by their type's maximum, table columns by mean and standard deviation.
    pub fn scaling(&self, kind: SampleKind) -> Scaling {
        match kind {
            SampleKind::Image => {
                let brightest = self.brightest;
                let max = if brightest <= 1.0 {
                    1.0
                } else if brightest <= 255.0 {
                    255.0
                } else {
                    brightest
                };
                Scaling::Pixels { max }
            }
            SampleKind::Tabular => {
                let d = self.sum.len();
                let mut mean = vec![0.0f32; d];
                let mut std = vec![1.0f32; d];
                for j in 0..d {
                    if self.count[j] > 0 {
                        let m = self.sum[j] / self.count[j] as f64;
                        let var = (self.sum_sq[j] / self.count[j] as f64 - m * m).max(0.0);
                        mean[j] = m as f32;
                        // A constant column would divide by zero; leave it centred, unscaled.
                        std[j] = if var > 1e-12 { var.sqrt() as f32 } else { 1.0 };
                    }
                }
                Scaling::Standardize { mean, std }
            }
        }
    }
}

/// Per-column median and robust spread of `d`-wide rows, ignoring missing values. The spread is
/// the interquartile range / 1.349; a column whose middle half is constant (a flag that is
/// mostly 0, say) falls back to its standard deviation, and a constant column to 1.
fn robust_columns(values: &[f32], d: usize) -> (Vec<f32>, Vec<f32>) {
    let mut centre = vec![0.0f32; d];
    let mut spread = vec![1.0f32; d];
    let mut column = Vec::with_capacity(values.len() / d.max(1));
    for j in 0..d {
        column.clear();
        column.extend(
            values
                .iter()
                .skip(j)
                .step_by(d)
                .copied()
                .filter(|v| v.is_finite()),
        );
        if column.is_empty() {
            continue;
        }
        column.sort_unstable_by(f32::total_cmp);
        let quantile = |q: f64| {
            let at = q * (column.len() - 1) as f64;
            let (lo, hi) = (at.floor() as usize, at.ceil() as usize);
            let w = (at - lo as f64) as f32;
            column[lo] * (1.0 - w) + column[hi] * w
        };
        centre[j] = quantile(0.5);
        let iqr = (quantile(0.75) - quantile(0.25)) as f64 / 1.349;
        spread[j] = if iqr > 1e-6 * (centre[j].abs() as f64).max(1e-6) {
            iqr as f32
        } else {
            let n = column.len() as f64;
            let m = column.iter().map(|&v| v as f64).sum::<f64>() / n;
            let var = column.iter().map(|&v| (v as f64 - m).powi(2)).sum::<f64>() / n;
            if var > 1e-12 { var.sqrt() as f32 } else { 1.0 }
        };
    }
    (centre, spread)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::SampleShape;

    #[test]
    fn robust_scaling_ignores_outliers_and_round_trips() {
        // Column 0: 1..=9 and one huge outlier; column 1: mostly 0 (IQR 0, falls back to std).
        let mut values = Vec::new();
        for i in 1..=9 {
            values.extend([i as f32, 0.0]);
        }
        values.extend([1e6, 5.0]);
        let data = Dataset {
            values,
            shape: SampleShape::tabular(2),
            kind: SampleKind::Tabular,
            labels: None,
            columns: None,
        };
        let scaling = Scaling::fit(&data, ScalingKind::Robust);
        let Scaling::Robust { mean, std } = &scaling else {
            panic!("tables get robust scaling, not {scaling:?}")
        };
        // The outlier moves neither the centre (median 5.5) nor the spread (IQR 4.5 / 1.349).
        assert!((mean[0] - 5.5).abs() < 1e-5, "{mean:?}");
        assert!((std[0] - 4.5 / 1.349).abs() < 1e-4, "{std:?}");
        assert!(std[1] > 1.0 && std[1] < 2.0, "{std:?}");
        let mut v = scaling.scaled(&data);
        scaling.invert(&mut v);
        for (a, b) in v.iter().zip(&data.values) {
            assert!((a - b).abs() <= 1e-3 * b.abs().max(1.0));
        }
    }

    #[test]
    fn standardize_round_trips_and_centres_columns() {
        let data = Dataset {
            values: vec![1.0, 10.0, 3.0, 30.0, 5.0, 50.0],
            shape: SampleShape::tabular(2),
            kind: SampleKind::Tabular,
            labels: None,
            columns: None,
        };
        let scaling = Scaling::fit(&data, ScalingKind::Standard);
        let mut v = scaling.scaled(&data);
        let col0: f32 = v.iter().step_by(2).sum();
        assert!(col0.abs() < 1e-5);
        scaling.invert(&mut v);
        for (a, b) in v.iter().zip(&data.values) {
            assert!((a - b).abs() < 1e-4);
        }
    }

    #[test]
    fn byte_images_scale_by_255() {
        let data = Dataset {
            values: vec![0.0, 128.0, 255.0, 3.0],
            shape: SampleShape::image(1, 2, 2),
            kind: SampleKind::Image,
            labels: None,
            columns: None,
        };
        assert_eq!(
            Scaling::fit(&data, ScalingKind::Standard),
            Scaling::Pixels { max: 255.0 }
        );
    }
}
