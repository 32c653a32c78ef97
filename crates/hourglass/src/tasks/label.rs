//! Semi-supervised labelling: a few known labels, the rest guessed by a k-nearest-neighbour vote
//! in the model's latent space, next to the same vote on raw pixels and on PCA features of the
//! same size. An autoencoder is worth it here when its latent space puts alike things together.

use burn::tensor::Device;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::artifact::TrainedModel;
use crate::error::{Error, Result};
use crate::tasks::codec;

/// Accuracies on the hidden labels.
#[derive(Debug, Clone, Serialize)]
pub struct LabelReport {
    pub known: usize,
    pub hidden: usize,
    pub k: usize,
    pub latent_accuracy: f64,
    pub raw_accuracy: f64,
    pub pca_accuracy: f64,
    pub pca_components: usize,
}

/// Labels the hidden samples of `values` (scaled rows) from `known` of them, chosen at random by
/// `seed`; returns the predicted label of every sample (known ones keep theirs) and the report.
pub fn label(
    model: &TrainedModel,
    values: &[f32],
    labels: &[u32],
    known: usize,
    k: usize,
    seed: u64,
    device: &Device,
) -> Result<(Vec<u32>, LabelReport)> {
    let n = labels.len();
    if known == 0 || known >= n {
        return Err(Error::invalid(format!(
            "--known must be between 1 and {} (the number of samples minus one)",
            n - 1
        )));
    }
    if k == 0 {
        return Err(Error::invalid("--k must be at least 1"));
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let (known_idx, hidden_idx) = order.split_at(known);

    let d = model.input.features();
    model.require_unconditional("labelling")?;
    let latents = codec::encode_scaled(model, values, None, device);
    let pca = model.baseline.project(values, device);
    let accuracy_of = |features: &[f32], width: usize| -> (f64, Vec<u32>) {
        let predicted = knn_predict(features, width, labels, known_idx, hidden_idx, k);
        let correct = hidden_idx
            .iter()
            .zip(&predicted)
            .filter(|(i, p)| labels[**i] == **p)
            .count();
        (correct as f64 / hidden_idx.len() as f64, predicted)
    };
    let (latent_accuracy, predicted) = accuracy_of(&latents, model.config.latent);
    let (raw_accuracy, _) = accuracy_of(values, d);
    let k_pca = model.baseline.k();
    let (pca_accuracy, _) = accuracy_of(&pca, k_pca);

    let mut all = labels.to_vec();
    for (&i, &p) in hidden_idx.iter().zip(&predicted) {
        all[i] = p;
    }
    Ok((
        all,
        LabelReport {
            known,
            hidden: hidden_idx.len(),
            k,
            latent_accuracy,
            raw_accuracy,
            pca_accuracy,
            pca_components: k_pca,
        },
    ))
}

/// The majority label among the `k` nearest known samples (Euclidean), for each hidden one. Ties
/// go to the label whose nearest member is closest.
fn knn_predict(
    features: &[f32],
    width: usize,
    labels: &[u32],
    known: &[usize],
    hidden: &[usize],
    k: usize,
) -> Vec<u32> {
    let row = |i: usize| &features[i * width..(i + 1) * width];
    hidden
        .iter()
        .map(|&h| {
            let mut nearest: Vec<(f32, u32)> = known
                .iter()
                .map(|&j| {
                    let d: f32 = row(h)
                        .iter()
                        .zip(row(j))
                        .map(|(a, b)| (a - b) * (a - b))
                        .sum();
                    (d, labels[j])
                })
                .collect();
            nearest.sort_by(|a, b| a.0.total_cmp(&b.0));
            nearest.truncate(k);
            let mut votes: Vec<(u32, usize, usize)> = Vec::new(); // label, count, first rank
            for (rank, &(_, l)) in nearest.iter().enumerate() {
                match votes.iter_mut().find(|v| v.0 == l) {
                    Some(v) => v.1 += 1,
                    None => votes.push((l, 1, rank)),
                }
            }
            votes
                .iter()
                .max_by(|a, b| a.1.cmp(&b.1).then(b.2.cmp(&a.2)))
                .map(|v| v.0)
                .expect("k ≥ 1 and at least one known sample")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knn_votes_by_majority_and_breaks_ties_by_distance() {
        // Known points on a line: 0, 1 (label 7) and 10, 11, 12 (label 3).
        let features = [0.0, 1.0, 10.0, 11.0, 12.0, 0.4, 10.6, 5.6];
        let labels = [7, 7, 3, 3, 3, 0, 0, 0];
        let known = [0, 1, 2, 3, 4];
        let predicted = knn_predict(&features, 1, &labels, &known, &[5, 6], 3);
        assert_eq!(predicted, vec![7, 3]);
        // k = 2 at 5.6: nearest are 1 (label 7, distance 4.6) and 10 (label 3, 4.4): a tie,
        // won by the nearer neighbour.
        assert_eq!(knn_predict(&features, 1, &labels, &known, &[7], 2), vec![3]);
    }
}
