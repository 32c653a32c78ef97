//! The baselines a model must beat: the mean sample, and PCA with as many components as the model
//! has latent dimensions. Both are fit on the model's training split and stored in its artifact.

use burn::tensor::{Device, Tensor};

use crate::device::{rows_tensor, to_vec};

/// QR sweeps allowed per singular value; covariance matrices converge in a handful.
const SVD_SWEEPS: usize = 100;
/// Up to this many columns the covariance is formed and decomposed exactly (784 for 28×28
/// images); wider data takes the randomised path.
pub const EXACT_MAX_FEATURES: usize = 1024;
/// Extra directions the randomised path tracks beyond `k`, and its power iterations: the values
/// Halko et al. recommend for spectra that decay slowly.
const OVERSAMPLE: usize = 10;
const POWER_ITERATIONS: usize = 4;

/// Mean sample and principal components of scaled training rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Baseline {
    /// The mean row (`features` values).
    pub mean: Vec<f32>,
    /// `k × features`, one component per row, by decreasing variance.
    pub components: Vec<f32>,
    pub features: usize,
}

impl Baseline {
    /// Fits the mean and the top `k` principal components. Up to [`EXACT_MAX_FEATURES`] columns
    /// they are the eigenvectors of the covariance (one Burn matrix product and Burn's SVD); wider
    /// data would need a `features²` covariance (40 GB at 100,000 columns), so it takes a
    /// randomised subspace iteration that never forms it (see [`randomised_components`]).
    pub fn fit(values: &[f32], features: usize, k: usize, device: &Device) -> Baseline {
        Self::fit_with(values, features, k, POWER_ITERATIONS, device)
    }

    /// Like [`Baseline::fit`], with one power iteration on wide data instead of four: a
    /// subspace good enough for nearest-neighbour distances (the `features` score's index) at a
    /// third of the cost.
    pub fn fit_rough(values: &[f32], features: usize, k: usize, device: &Device) -> Baseline {
        Self::fit_with(values, features, k, 1, device)
    }

    fn fit_with(
        values: &[f32],
        features: usize,
        k: usize,
        power_iterations: usize,
        device: &Device,
    ) -> Baseline {
        let n = values.len() / features;
        let k = k.min(features);
        let x = rows_tensor(values.to_vec(), features, device);
        let mean = x.clone().mean_dim(0);
        let centred = x - mean.clone();
        let components = if features <= EXACT_MAX_FEATURES {
            let covariance = centred
                .clone()
                .transpose()
                .matmul(centred)
                .div_scalar(n.max(2) as f64 - 1.0);
            let (_, _, vt) = burn::linalg::svd::<2, 1>(covariance, SVD_SWEEPS);
            vt.slice([0..k, 0..features])
        } else {
            randomised_components(centred, k, power_iterations, device)
        };
        Baseline {
            mean: to_vec(mean),
            components: to_vec(components),
            features,
        }
    }

    /// Number of components.
    pub fn k(&self) -> usize {
        self.components.len() / self.features.max(1)
    }

    /// Mean squared error of predicting every row by the mean row.
    pub fn mean_mse(&self, values: &[f32]) -> f64 {
        let mut total = 0.0f64;
        for row in values.chunks_exact(self.features) {
            for (v, m) in row.iter().zip(&self.mean) {
                total += ((v - m) as f64).powi(2);
            }
        }
        total / values.len().max(1) as f64
    }

    /// Rows projected on the components: `k` coordinates per row.
    pub fn project(&self, values: &[f32], device: &Device) -> Vec<f32> {
        let d = self.features;
        let mean: Tensor<2> = rows_tensor(self.mean.clone(), d, device);
        let c = rows_tensor(self.components.clone(), d, device);
        let mut out = Vec::with_capacity(values.len() / d * self.k());
        for chunk in values.chunks(4096 * d) {
            let x = rows_tensor(chunk.to_vec(), d, device) - mean.clone();
            out.extend(to_vec(x.matmul(c.clone().transpose())));
        }
        out
    }

    /// PCA reconstructions of rows: project on the components and back.
    pub fn reconstruct(&self, values: &[f32], device: &Device) -> Vec<f32> {
        let d = self.features;
        let mean: Tensor<2> = rows_tensor(self.mean.clone(), d, device);
        let c = rows_tensor(self.components.clone(), d, device);
        let mut out = Vec::with_capacity(values.len());
        for chunk in values.chunks(4096 * d) {
            let x = rows_tensor(chunk.to_vec(), d, device) - mean.clone();
            let z = x.matmul(c.clone().transpose());
            out.extend(to_vec(z.matmul(c.clone()) + mean.clone()));
        }
        out
    }

    /// Mean squared error of the PCA reconstruction.
    pub fn pca_mse(&self, values: &[f32], device: &Device) -> f64 {
        mse(values, &self.reconstruct(values, device))
    }
}

/// The top `k` right singular vectors of the centred rows (`n × d`), as `k × d`, by randomised
/// subspace iteration (Halko, Martinsson & Tropp 2011, algorithm 4.4): a few passes of
/// `X (Xᵀ Q)` from a seeded random start, each followed by a QR, then the SVD of the small
/// `l × d` projection. It costs `O(n·d·l)` time and memory instead of `O(d²)`.
fn randomised_components(
    centred: Tensor<2>,
    k: usize,
    power_iterations: usize,
    device: &Device,
) -> Tensor<2> {
    use rand::{RngExt, SeedableRng};
    let [n, d] = centred.dims();
    let l = (k + OVERSAMPLE).min(n).min(d).max(1);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let omega: Vec<f32> = (0..d * l).map(|_| rng.random::<f32>() - 0.5).collect();
    let omega = rows_tensor(omega, l, device);
    let orthonormal = |y: Tensor<2>| rows_tensor(orthonormal_columns(to_vec(y), l), l, device);
    let mut q = orthonormal(centred.clone().matmul(omega));
    for _ in 0..power_iterations {
        let z = orthonormal(centred.clone().transpose().matmul(q));
        q = orthonormal(centred.clone().matmul(z));
    }
    // The right singular vectors of the small `l × d` projection B, from the `l × l` matrix
    // B Bᵀ = U Σ² Uᵀ: Vᵀ = Σ⁻¹ Uᵀ B. (Burn's SVD and QR on a tall or wide matrix cost minutes at
    // d = 12,288, a 64×64 colour photo: see `orthonormal_columns`.)
    let small = q.transpose().matmul(centred);
    let gram = small.clone().matmul(small.clone().transpose());
    let (u, sigma2, _) = burn::linalg::svd::<2, 1>(gram, SVD_SWEEPS);
    let top: Vec<f32> = to_vec(sigma2).into_iter().take(k.min(l)).collect();
    let largest = top.first().copied().unwrap_or(0.0).max(f32::MIN_POSITIVE);
    let inverse: Vec<f32> = top
        .iter()
        .map(|&s2| {
            if s2 > largest * 1e-10 {
                1.0 / s2.sqrt()
            } else {
                0.0
            }
        })
        .collect();
    let ut = u.slice([0..l, 0..k.min(l)]).transpose();
    let scale = rows_tensor(inverse, 1, device);
    (ut * scale).matmul(small)
}

/// The columns of a row-major `m × l` matrix made orthonormal (Gram-Schmidt, each column
/// orthogonalised twice for accuracy in f32; a column with nothing left becomes zero), in
/// `O(m·l²)`. Burn 0.22's `linalg::qr` takes minutes on a 12,288 × 26 matrix (Householder steps as
/// whole-matrix tensor operations), which made a model of 64×64 colour photos take two minutes to
/// fit its PCA baseline. The columns are worked on as contiguous copies: read in place, a column
/// of a row-major matrix is one value per cache line, which made 6,000 × 266 take a second each.
fn orthonormal_columns(y: Vec<f32>, l: usize) -> Vec<f32> {
    let m = y.len() / l.max(1);
    let mut columns: Vec<Vec<f64>> = (0..l)
        .map(|j| (0..m).map(|i| f64::from(y[i * l + j])).collect())
        .collect();
    for j in 0..l {
        let (done, rest) = columns.split_at_mut(j);
        let column = &mut rest[0];
        let norm_before = dot(column, column).sqrt();
        for _pass in 0..2 {
            for previous in done.iter() {
                let d = dot(previous, column);
                for (c, p) in column.iter_mut().zip(previous) {
                    *c -= d * p;
                }
            }
        }
        let norm = dot(column, column).sqrt();
        let keep = norm > 1e-6 * norm_before.max(f64::MIN_POSITIVE);
        for c in column.iter_mut() {
            *c = if keep { *c / norm } else { 0.0 };
        }
    }
    let mut out = vec![0.0f32; m * l];
    for (j, column) in columns.iter().enumerate() {
        for (i, v) in column.iter().enumerate() {
            out[i * l + j] = *v as f32;
        }
    }
    out
}

/// a · b in four running sums (a plain `sum()` must keep its order, one element at a time).
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let (a4, a_rest) = a.as_chunks::<4>();
    let (b4, b_rest) = b.as_chunks::<4>();
    let mut lanes = [0.0f64; 4];
    for (x, y) in a4.iter().zip(b4) {
        for i in 0..4 {
            lanes[i] += x[i] * y[i];
        }
    }
    let rest: f64 = a_rest.iter().zip(b_rest).map(|(x, y)| x * y).sum();
    lanes.iter().sum::<f64>() + rest
}

/// Mean squared difference of two equally long buffers.
pub fn mse(a: &[f32], b: &[f32]) -> f64 {
    let total: f64 = a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum();
    total / a.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pca_recovers_data_on_a_low_dimensional_plane() {
        // Points on a 2-D plane inside 5-D space: two components reconstruct them exactly,
        // one does not, and the mean alone is worse still.
        let device = Device::flex();
        let mut values = Vec::new();
        for i in 0..200 {
            let (a, b) = ((i as f32 * 0.37).sin(), (i as f32 * 0.11).cos());
            values.extend([a + b, a - b, 2.0 * a, b, 0.5 * a + 3.0]);
        }
        let two = Baseline::fit(&values, 5, 2, &device);
        let one = Baseline::fit(&values, 5, 1, &device);
        assert!(two.pca_mse(&values, &device) < 1e-6);
        assert!(one.pca_mse(&values, &device) > 1e-3);
        assert!(one.mean_mse(&values) > one.pca_mse(&values, &device));
    }

    #[test]
    fn wide_data_takes_the_randomised_path_and_finds_the_same_subspace() {
        // 60 rows on a 3-D subspace of 2,000 columns, plus a little noise: the randomised
        // components reconstruct as well as the exact ones would (near the noise floor), and no
        // 2,000 × 2,000 covariance is formed.
        let device = Device::flex();
        let d = EXACT_MAX_FEATURES + 976;
        let basis: Vec<Vec<f32>> = (0..3)
            .map(|j| {
                (0..d)
                    .map(|c| ((c * (j + 2)) as f32 * 0.013).sin())
                    .collect()
            })
            .collect();
        let mut values = Vec::new();
        for i in 0..60 {
            let w = [
                (i as f32 * 0.7).sin(),
                (i as f32 * 0.3).cos(),
                i as f32 / 60.0,
            ];
            values.extend((0..d).map(|c| {
                let noise = ((i * d + c) as f32 * 12.9898).sin() * 1e-3;
                w[0] * basis[0][c] + w[1] * basis[1][c] + w[2] * basis[2][c] + noise
            }));
        }
        let fit = Baseline::fit(&values, d, 3, &device);
        assert_eq!(fit.k(), 3);
        assert!(fit.pca_mse(&values, &device) < 1e-5);
        let fewer = Baseline::fit(&values, d, 2, &device);
        assert!(fewer.pca_mse(&values, &device) > 10.0 * fit.pca_mse(&values, &device));
    }
}
