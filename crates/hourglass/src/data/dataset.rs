//! The in-memory data set every format is read into, and the splits and batches training takes.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// What one sample's values mean, which decides how they are scaled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SampleKind {
    /// Pixel intensities, scaled to [0, 1] by the brightest possible value.
    Image,
    /// Numeric columns with units of their own.
    Tabular,
}

/// The shape of one sample: channels × height × width. A table row is 1 × 1 × columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SampleShape {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

impl SampleShape {
    pub fn image(channels: usize, height: usize, width: usize) -> Self {
        SampleShape {
            channels,
            height,
            width,
        }
    }

    pub fn tabular(columns: usize) -> Self {
        SampleShape::image(1, 1, columns)
    }

    /// Values in one sample.
    pub fn features(&self) -> usize {
        self.channels * self.height * self.width
    }
}

impl std::fmt::Display for SampleShape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.channels == 1 && self.height == 1 {
            write!(f, "{} columns", self.width)
        } else {
            write!(f, "{}×{}×{}", self.channels, self.height, self.width)
        }
    }
}

/// Samples as rows of `f32` in their original units, with optional integer labels.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// `len() × shape.features()` values, row-major.
    pub values: Vec<f32>,
    pub shape: SampleShape,
    pub kind: SampleKind,
    pub labels: Option<Vec<u32>>,
    /// Column names, for tables read with a header.
    pub columns: Option<Vec<String>>,
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.values.len() / self.shape.features().max(1)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// One sample's values.
    pub fn row(&self, index: usize) -> &[f32] {
        let d = self.shape.features();
        &self.values[index * d..(index + 1) * d]
    }

    /// A new data set holding the given samples, in that order.
    pub fn select(&self, indices: &[usize]) -> Dataset {
        let mut values = Vec::with_capacity(indices.len() * self.shape.features());
        for &i in indices {
            values.extend_from_slice(self.row(i));
        }
        Dataset {
            values,
            shape: self.shape,
            kind: self.kind,
            labels: self
                .labels
                .as_ref()
                .map(|l| indices.iter().map(|&i| l[i]).collect()),
            columns: self.columns.clone(),
        }
    }

    /// The samples labelled `class`, or `None` when the data set has no labels.
    pub fn of_class(&self, class: u32) -> Option<Dataset> {
        let labels = self.labels.as_ref()?;
        let indices: Vec<usize> = (0..self.len()).filter(|&i| labels[i] == class).collect();
        Some(self.select(&indices))
    }

    /// The first `n` samples (or all of them).
    pub fn head(&self, n: usize) -> Dataset {
        let indices: Vec<usize> = (0..n.min(self.len())).collect();
        self.select(&indices)
    }

    /// Splits off a validation set of `fraction` of the samples, chosen at random by `seed`.
    /// Returns (train, validation); the validation set is empty when `fraction` is 0.
    pub fn split(&self, fraction: f64, seed: u64) -> (Dataset, Dataset) {
        let mut indices: Vec<usize> = (0..self.len()).collect();
        indices.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        let n_val = ((self.len() as f64) * fraction).round() as usize;
        let (val, train) = indices.split_at(n_val.min(self.len()));
        (self.select(train), self.select(val))
    }

    /// The index of the first value that is NaN or infinite, if any.
    pub fn first_non_finite(&self) -> Option<(usize, usize)> {
        let d = self.shape.features();
        self.values
            .iter()
            .position(|v| !v.is_finite())
            .map(|i| (i / d, i % d))
    }
}

/// The order in which an epoch visits the samples: a shuffle seeded by the run's seed and the
/// epoch number, so a resumed run sees the same batches as an uninterrupted one.
pub fn epoch_order(len: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut indices: Vec<usize> = (0..len).collect();
    let stream = seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    indices.shuffle(&mut ChaCha8Rng::seed_from_u64(stream));
    indices
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy(n: usize) -> Dataset {
        Dataset {
            values: (0..n * 2).map(|v| v as f32).collect(),
            shape: SampleShape::tabular(2),
            kind: SampleKind::Tabular,
            labels: Some((0..n as u32).collect()),
            columns: None,
        }
    }

    #[test]
    fn split_is_a_partition_and_depends_on_the_seed() {
        let data = toy(100);
        let (train, val) = data.split(0.2, 7);
        assert_eq!((train.len(), val.len()), (80, 20));
        let mut all: Vec<u32> = train.labels.clone().unwrap();
        all.extend(val.labels.clone().unwrap());
        all.sort();
        assert_eq!(all, (0..100).collect::<Vec<u32>>());
        assert_eq!(data.split(0.2, 7).1.labels, val.labels);
        assert_ne!(data.split(0.2, 8).1.labels, val.labels);
    }

    #[test]
    fn select_keeps_rows_and_labels_together() {
        let data = toy(5);
        let picked = data.select(&[3, 1]);
        assert_eq!(picked.values, vec![6.0, 7.0, 2.0, 3.0]);
        assert_eq!(picked.labels, Some(vec![3, 1]));
    }

    #[test]
    fn epoch_order_changes_per_epoch_but_is_reproducible() {
        assert_eq!(epoch_order(50, 1, 3), epoch_order(50, 1, 3));
        assert_ne!(epoch_order(50, 1, 3), epoch_order(50, 1, 4));
    }
}
