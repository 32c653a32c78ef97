//! The `features` anomaly score's reference: the encoder's feature maps of the training images.
//!
//! An image unlike the training images can still be reconstructed passably (a shirt by a model of
//! pullovers), but in the space of the encoder's last convolutions it lands far from every training
//! image. On one-class Fashion-MNIST the mean distance to the 5 nearest training maps ranked
//! anomalies better than any reconstruction error or code distance (BENCHMARKS.md, "One-class
//! Fashion-MNIST"). A map is thousands of values per image (64 × 7 × 7 at 28×28), so the kept
//! maps are reduced by PCA to [`COMPONENTS`] directions, which hold 99.6 % of their variance there
//! and change the ROC AUC by about 0.001.

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
        let maps = codec::feature_maps_by(model, network, &kept, device, |maps| maps);
        let projection = Baseline::fit_rough(&maps, width, COMPONENTS.min(width).min(m), device);
        let reference = projection.project(&maps, device);
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
        codec::feature_maps_by(model, network, values, device, |maps| {
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
        const BLOCK: usize = 64;
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
}
