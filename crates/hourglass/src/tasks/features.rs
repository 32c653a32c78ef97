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
use crate::tasks::codec;
use crate::tasks::detector::{evenly_spaced_rows, squared_distance};
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
        let projection = Baseline::fit(&maps, width, COMPONENTS.min(width).min(m), device);
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
        let k = self.k().max(1);
        projected
            .par_chunks_exact(k)
            .map(|z| nearest_mean(z, &self.reference, 0))
            .collect()
    }

    /// The reference images' own scores, each without itself (what the training data's scores
    /// look like to new images, for thresholds).
    pub fn training_scores(&self) -> Vec<f32> {
        let k = self.k().max(1);
        self.reference
            .par_chunks_exact(k)
            .map(|z| nearest_mean(z, &self.reference, 1))
            .collect()
    }
}

/// The mean distance from `z` to its [`NEIGHBOURS`] nearest rows of `reference`, after the
/// `skip` nearest (1: the row itself).
fn nearest_mean(z: &[f32], reference: &[f32], skip: usize) -> f32 {
    let mut distances: Vec<f32> = reference
        .chunks_exact(z.len())
        .map(|r| squared_distance(r, z))
        .collect();
    let take = (NEIGHBOURS + skip).min(distances.len());
    if take <= skip {
        return 0.0;
    }
    distances.select_nth_unstable_by(take - 1, f32::total_cmp);
    let nearest = &mut distances[..take];
    nearest.sort_unstable_by(f32::total_cmp);
    let used = &nearest[skip..];
    used.iter().map(|d| d.sqrt()).sum::<f32>() / used.len() as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_mean_averages_the_closest_and_can_skip_the_row_itself() {
        // Reference rows at 0, 1, 2, …, 9 on a line (1-wide).
        let reference: Vec<f32> = (0..10).map(|i| i as f32).collect();
        // From 0: distances 0,1,2,3,4 are the 5 nearest → mean 2; skipping itself: 1..5 → 3.
        assert_eq!(nearest_mean(&[0.0], &reference, 0), 2.0);
        assert_eq!(nearest_mean(&[0.0], &reference, 1), 3.0);
        // Far away: every neighbour is far.
        assert!(nearest_mean(&[100.0], &reference, 0) > 90.0);
    }
}
