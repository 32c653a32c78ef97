//! Scaling is part of the model: it is fit on the training split, stored in the artifact, and
//! applied the same way to every data set the model later sees.

use serde::{Deserialize, Serialize};

use super::{Dataset, SampleKind};

/// How raw values map to the values the network sees.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Scaling {
    /// Divide by the brightest possible pixel value, so pixels lie in [0, 1].
    Pixels { max: f32 },
    /// Per column: subtract the mean and divide by the standard deviation of the training split.
    Standardize { mean: Vec<f32>, std: Vec<f32> },
}

impl Scaling {
    /// The scaling that suits this training data: pixels by their type's maximum, tables by
    /// column statistics (ignoring missing values).
    pub fn fit(data: &Dataset) -> Scaling {
        match data.kind {
            SampleKind::Image => {
                let brightest = data
                    .values
                    .iter()
                    .copied()
                    .filter(|v| v.is_finite())
                    .fold(0.0f32, f32::max);
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
                let d = data.shape.features();
                let mut sum = vec![0.0f64; d];
                let mut sum_sq = vec![0.0f64; d];
                let mut count = vec![0usize; d];
                for row in data.values.chunks_exact(d) {
                    for (j, &v) in row.iter().enumerate() {
                        if v.is_finite() {
                            sum[j] += v as f64;
                            sum_sq[j] += (v as f64) * (v as f64);
                            count[j] += 1;
                        }
                    }
                }
                let mut mean = vec![0.0f32; d];
                let mut std = vec![1.0f32; d];
                for j in 0..d {
                    if count[j] > 0 {
                        let m = sum[j] / count[j] as f64;
                        let var = (sum_sq[j] / count[j] as f64 - m * m).max(0.0);
                        mean[j] = m as f32;
                        // A constant column would divide by zero; leave it centred, unscaled.
                        std[j] = if var > 1e-12 { var.sqrt() as f32 } else { 1.0 };
                    }
                }
                Scaling::Standardize { mean, std }
            }
        }
    }

    /// Scales raw rows in place.
    pub fn apply(&self, values: &mut [f32]) {
        match self {
            Scaling::Pixels { max } => values.iter_mut().for_each(|v| *v /= max),
            Scaling::Standardize { mean, std } => {
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
            Scaling::Standardize { mean, std } => {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::SampleShape;

    #[test]
    fn standardize_round_trips_and_centres_columns() {
        let data = Dataset {
            values: vec![1.0, 10.0, 3.0, 30.0, 5.0, 50.0],
            shape: SampleShape::tabular(2),
            kind: SampleKind::Tabular,
            labels: None,
            columns: None,
        };
        let scaling = Scaling::fit(&data);
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
        assert_eq!(Scaling::fit(&data), Scaling::Pixels { max: 255.0 });
    }
}
