//! The `features` anomaly score's reference: the encoder's feature maps of the training images.
//!
//! An image unlike the training images can still be reconstructed passably (a shirt by a model of
//! pullovers), but in the space of the encoder's last convolutions it lands far from every training
//! image. On one-class Fashion-MNIST the mean distance to the 5 nearest training maps ranked
//! anomalies better than any reconstruction error or code distance (BENCHMARKS.md, "One-class
//! Fashion-MNIST"). A map is thousands of values per image (64 × 7 × 7 at 28×28), so the kept
//! maps are reduced by PCA to [`COMPONENTS`] directions, which hold 99.6 % of their variance there
//! and change the ROC AUC by about 0.001. Each direction is then weighted by the inverse square
//! root of its spread (see [`balance`]).

use burn::tensor::Device;
use rayon::prelude::*;

use crate::artifact::TrainedModel;
use crate::model::Network;
use crate::ops::conv_cpu::gemm;
use crate::tasks::codec;
use crate::tasks::detector::{evenly_spaced_rows, mean_of_nearest};
use crate::tasks::pca::Baseline;

/// PCA directions kept of the feature maps.
pub const COMPONENTS: usize = 256;
/// Training images kept as the reference (evenly spaced through the training split). More is
/// better (1,000 of 6,000 cost 0.004 ROC AUC); the cap bounds the model file (≈ 8 MiB).
pub const REFERENCE_ROWS: usize = 8192;
/// Feature-map values held at once while fitting (128 MiB of f32; the PCA copies them twice):
/// 28×28 images keep 8,192 reference images, 64×64 photos (maps 8,192 wide) 4,096.
const FIT_VALUES: usize = 1 << 25;
/// Nearest training maps averaged (2, 5 and 10 were within 0.001 of each other).
pub const NEIGHBOURS: usize = 5;

/// The projection of one network's feature maps and its training images' projected maps.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureIndex {
    /// Mean map and the top principal directions (`k × width`).
    pub projection: Baseline,
    /// `m × k` projected maps of training images.
    pub reference: Vec<f32>,
}

impl FeatureIndex {
    /// Fits the index of `network` on scaled training rows; `None` when its architecture has no
    /// feature map (dense, conv1d) or there are too few rows to have neighbours.
    pub fn fit(
        model: &TrainedModel,
        network: &Network,
        training: &[f32],
        device: &Device,
    ) -> Option<FeatureIndex> {
        let width = network.feature_width()?;
        let d = model.input.features();
        let rows = REFERENCE_ROWS.min(FIT_VALUES / width.max(1)).max(1);
        let kept = evenly_spaced_rows(training, d, rows);
        let m = kept.len() / d;
        if m <= NEIGHBOURS {
            return None;
        }
        let maps = codec::feature_maps_by(model, network, &kept, width, device, |maps| maps);
        let mut projection =
            Baseline::fit_rough(&maps, width, COMPONENTS.min(width).min(m), device);
        let mut reference = projection.project(&maps, device);
        balance(&mut projection, &mut reference);
        Some(FeatureIndex {
            projection,
            reference,
        })
    }

    /// Directions kept.
    pub fn k(&self) -> usize {
        self.projection.k()
    }

    /// Scaled rows → their projected feature maps (`n × k`), a batch at a time.
    pub fn project(
        &self,
        model: &TrainedModel,
        network: &Network,
        values: &[f32],
        device: &Device,
    ) -> Vec<f32> {
        codec::feature_maps_by(model, network, values, self.k(), device, |maps| {
            self.projection.project(&maps, device)
        })
    }

    /// The score of projected maps: the mean distance to the [`NEIGHBOURS`] nearest reference
    /// maps.
    pub fn distances(&self, projected: &[f32]) -> Vec<f32> {
        self.nearest_means(projected, 0)
    }

    /// The reference images' own scores, each without itself (what the training data's scores
    /// look like to new images, for thresholds).
    pub fn training_scores(&self) -> Vec<f32> {
        self.nearest_means(&self.reference, 1)
    }

    /// For each row of `queries`, [`mean_of_nearest`] of its squared distances to every reference
    /// row, after the `skip` nearest. The distances are expanded, ‖q‖² − 2 q·r + ‖r‖², so that a
    /// block of rows against the reference is one matrix product (8,192 × 8,192 × 256 was 4 s
    /// as a loop of differences, 0.3 s this way); the distances between feature maps are far
    /// larger than the expansion's rounding.
    fn nearest_means(&self, queries: &[f32], skip: usize) -> Vec<f32> {
        // Query rows per product: gemm packs the whole reference for each one, which at 64 rows
        // was 15 % of scoring Fashion-MNIST's test split; 256 rows, 6 % (8 MiB of distances).
        const BLOCK: usize = 256;
        let k = self.k().max(1);
        let m = self.reference.len() / k;
        let norms = |rows: &[f32]| -> Vec<f32> {
            rows.chunks_exact(k)
                .map(|r| r.iter().map(|v| v * v).sum())
                .collect()
        };
        let reference_norms = norms(&self.reference);
        let blocks: Vec<Vec<f32>> = queries
            .par_chunks(BLOCK * k)
            .map(|block| {
                let rows = block.len() / k;
                let mut dots = vec![0.0f32; rows * m];
                // dots = block (rows × k) · referenceᵀ (k × m)
                gemm(
                    (rows, m, k),
                    (&mut dots, [m, 1], false),
                    (block, [k, 1]),
                    (&self.reference, [1, k]),
                );
                norms(block)
                    .iter()
                    .zip(dots.chunks_exact_mut(m))
                    .map(|(q, row)| {
                        for (d, r) in row.iter_mut().zip(&reference_norms) {
                            *d = (q + r - 2.0 * *d).max(0.0);
                        }
                        mean_of_nearest(row, NEIGHBOURS, skip)
                    })
                    .collect()
            })
            .collect();
        blocks.concat()
    }
}

/// Divides each projected direction by the square root of its spread (the RMS of the reference's
/// coordinates along it), in the directions themselves so that [`Baseline::project`] gives
/// weighted coordinates and the model file, the ONNX graph and old models are unchanged.
///
/// Why: in plain PCA coordinates the few widest directions decide every distance; dividing by
/// the spread itself (Mahalanobis) lets the narrowest, noisiest ones decide instead. Halfway, in
/// the exponent, beat both on one-class Fashion-MNIST: mean ROC AUC 0.939 plain, 0.941 with the
/// full division, 0.943 with the fourth root and 0.944 with the square root (3 seeds ×
/// 10 classes, BENCHMARKS.md). A spread below a thousandth of the widest counts as that, so a
/// direction the training maps barely use cannot blow up noise.
fn balance(projection: &mut Baseline, reference: &mut [f32]) {
    let k = projection.k();
    let m = reference.len() / k.max(1);
    if k == 0 || m == 0 {
        return;
    }
    let mut spread = vec![0.0f64; k];
    for row in reference.chunks_exact(k) {
        for (s, v) in spread.iter_mut().zip(row) {
            *s += (*v as f64).powi(2);
        }
    }
    let spread: Vec<f64> = spread.iter().map(|s| (s / m as f64).sqrt()).collect();
    let floor = spread.iter().cloned().fold(0.0, f64::max) * 1e-3;
    if floor <= 0.0 {
        return;
    }
    let weights: Vec<f32> = spread
        .iter()
        .map(|s| (1.0 / s.max(floor).sqrt()) as f32)
        .collect();
    let width = projection.features;
    for (direction, w) in projection.components.chunks_exact_mut(width).zip(&weights) {
        direction.iter_mut().for_each(|v| *v *= w);
    }
    for row in reference.chunks_exact_mut(k) {
        row.iter_mut().zip(&weights).for_each(|(v, w)| *v *= w);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_average_the_nearest_and_training_scores_skip_the_row_itself() {
        // Reference maps at 0, 1, 2, …, 9 along a line (2 directions, the second always 0),
        // listed out of order.
        let order = [3, 7, 0, 9, 1, 5, 8, 2, 6, 4];
        let index = FeatureIndex {
            projection: Baseline {
                mean: vec![0.0; 2],
                components: vec![1.0, 0.0, 0.0, 1.0],
                features: 2,
            },
            reference: order.iter().flat_map(|&i| [i as f32, 0.0]).collect(),
        };
        // From 0: 0, 1, 2, 3, 4 are the 5 nearest → mean 2; far away, every neighbour is far.
        let d = index.distances(&[0.0, 0.0, 100.0, 0.0, 4.5, 0.0]);
        assert!((d[0] - 2.0).abs() < 1e-4, "{d:?}");
        assert!(d[1] > 90.0, "{d:?}");
        assert!(
            (d[2] - (0.5 + 0.5 + 1.5 + 1.5 + 2.5) / 5.0).abs() < 1e-4,
            "{d:?}"
        );
        // The reference's own scores leave each map out: 0's neighbours are 1…5 → mean 3.
        let t = index.training_scores();
        assert!((t[2] - 3.0).abs() < 1e-4, "{t:?}");
        assert_eq!(t.len(), 10);
    }

    /// After balancing, a direction's spread is the square root of what it was (a 4:1 ratio of
    /// spreads becomes 2:1), and projecting the maps again gives the stored reference.
    #[test]
    fn balance_takes_the_square_root_of_each_directions_spread() {
        let device = burn::tensor::Device::flex();
        // Maps 3 wide: spread 4 along the first axis, 1 along the second, 0.001 along the third
        // (below the floor: weighted as a thousandth of the widest).
        let maps: Vec<f32> = (0..200)
            .flat_map(|i| {
                let sign = if i % 2 == 0 { 1.0 } else { -1.0 };
                let other = if i % 4 < 2 { 1.0 } else { -1.0 };
                [4.0 * sign, other, 0.001 * sign * other]
            })
            .collect();
        let mut projection = Baseline::fit(&maps, 3, 3, &device);
        let mut reference = projection.project(&maps, &device);
        balance(&mut projection, &mut reference);
        let rms = |j: usize| {
            let n = reference.len() / 3;
            (reference.chunks_exact(3).map(|r| r[j] * r[j]).sum::<f32>() / n as f32).sqrt()
        };
        assert!((rms(0) - 2.0).abs() < 1e-3, "{}", rms(0));
        assert!((rms(1) - 1.0).abs() < 1e-3, "{}", rms(1));
        let floor_weight = 1.0 / (4.0f32 * 1e-3).sqrt();
        assert!((rms(2) - 0.001 * floor_weight).abs() < 1e-4, "{}", rms(2));
        let again = projection.project(&maps, &device);
        let worst = again
            .iter()
            .zip(&reference)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-4, "{worst}");
    }
}
