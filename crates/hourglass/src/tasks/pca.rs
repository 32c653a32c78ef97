//! The baselines a model must beat: the mean sample, and PCA with as many components as the model
//! has latent dimensions. Both are fit on the model's training split and stored in its artifact.

use burn::tensor::{Device, Tensor};

use rayon::prelude::*;

use crate::data::scaling::column_means;
use crate::device::{rows_tensor, to_vec};
use crate::ops::conv_cpu::gemm;

/// QR sweeps allowed per singular value; covariance matrices converge in a handful.
const SVD_SWEEPS: usize = 100;
/// Up to this many columns the covariance is formed and decomposed exactly (784 for 28×28
/// images); wider data takes the randomised path.
pub const EXACT_MAX_FEATURES: usize = 1024;
/// Extra directions the randomised path tracks beyond `k`, and its power iterations: the values
/// Halko et al. recommend for spectra that decay slowly.
const OVERSAMPLE: usize = 10;
const POWER_ITERATIONS: usize = 4;
/// Columns orthogonalised together by [`orthonormal_columns`]'s matrix products.
const GS_BLOCK: usize = 32;

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
    /// they are the eigenvectors of the covariance (formed on the host by [`covariance`], then
    /// Burn's SVD); wider data would need a `features²` covariance (40 GB at 100,000 columns), so
    /// it takes a randomised subspace iteration that never forms it (see
    /// [`randomised_components`]).
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
        let (d, k) = (features, k.min(features));
        let mean = column_means(values, d);
        let components = if d <= EXACT_MAX_FEATURES {
            let covariance = rows_tensor(covariance(values, &mean), d, device);
            let (_, _, vt) = burn::linalg::svd::<2, 1>(covariance, SVD_SWEEPS);
            to_vec(vt.slice([0..k, 0..d]))
        } else {
            let centred: Vec<f32> = values
                .chunks_exact(d)
                .flat_map(|row| row.iter().zip(&mean).map(|(v, m)| v - m))
                .collect();
            let centred = rows_tensor(centred, d, device);
            to_vec(randomised_components(centred, k, power_iterations, device))
        };
        Baseline {
            mean,
            components,
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

/// The `d × d` covariance of the rows, `(X − mean)ᵀ (X − mean) / (n − 1)`, on the host: a block
/// of rows centred at a time and added into the upper triangle (gemm, one band of result rows
/// per task), then mirrored. Formed as Burn tensors it was two full copies of the data (the rows,
/// then the rows less their mean) and a full square product: 0.8 s of the 1.2 s the baseline
/// took after training on Fashion-MNIST's 54,000 images (BENCHMARKS.md, issue 12).
fn covariance(values: &[f32], mean: &[f32]) -> Vec<f32> {
    const BLOCK_ROWS: usize = 2048;
    /// Result rows per task: a multiple of the AVX-512 micro-kernel's 16, and small enough that
    /// the triangle's unequal bands balance over the threads.
    const BAND: usize = 64;
    let d = mean.len();
    let n = values.len() / d.max(1);
    let mut covariance = vec![0.0f32; d * d];
    if n == 0 {
        return covariance;
    }
    let mut block = vec![0.0f32; BLOCK_ROWS.min(n) * d];
    for (i, rows) in values.chunks(BLOCK_ROWS * d).enumerate() {
        let r = rows.len() / d;
        let centred = &mut block[..r * d];
        for (c, row) in centred.chunks_exact_mut(d).zip(rows.chunks_exact(d)) {
            for ((c, v), m) in c.iter_mut().zip(row).zip(mean) {
                *c = v - m;
            }
        }
        let centred = &*centred;
        covariance
            .par_chunks_mut(BAND * d)
            .enumerate()
            .for_each(|(band, dst)| {
                // Rows a…a+h, columns a…d: centred columns a…a+h, transposed, times columns a…d.
                let (a, h) = (band * BAND, dst.len() / d);
                gemm(
                    (h, d - a, r),
                    (&mut dst[a..], [d, 1], i > 0),
                    (&centred[a..], [1, d]),
                    (&centred[a..], [d, 1]),
                );
            });
    }
    let scale = 1.0 / (n.max(2) - 1) as f32;
    for i in 0..d {
        for j in i..d {
            let v = covariance[i * d + j] * scale;
            covariance[i * d + j] = v;
            covariance[j * d + i] = v;
        }
    }
    covariance
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
/// orthogonalised twice for accuracy; a column with nothing left becomes zero), in `O(m·l²)`, in
/// f64. Burn 0.22's `linalg::qr` takes minutes on a 12,288 × 26 matrix (Householder steps as
/// whole-matrix tensor operations), which made a model of 64×64 colour photos take two minutes to
/// fit its PCA baseline. The columns go in blocks of [`GS_BLOCK`]: a block is cleared of all
/// earlier columns by two matrix products (gemm, twice over), then of its own earlier columns
/// one by one. Column by column, the 8,192 × 266 matrices of the `features` index took 0.7 s of
/// conv2d's `train` (BENCHMARKS.md, issue 12).
fn orthonormal_columns(y: Vec<f32>, l: usize) -> Vec<f32> {
    let m = y.len() / l.max(1);
    if m == 0 {
        return y;
    }
    // Column-major: column j is q[j·m…(j+1)·m].
    let mut q = vec![0.0f64; m * l];
    for (i, row) in y.chunks_exact(l).enumerate() {
        for (j, &v) in row.iter().enumerate() {
            q[j * m + i] = f64::from(v);
        }
    }
    let mut overlap = vec![0.0f64; l * GS_BLOCK];
    for first in (0..l).step_by(GS_BLOCK) {
        let w = GS_BLOCK.min(l - first);
        let (done, rest) = q.split_at_mut(first * m);
        let block = &mut rest[..w * m];
        let norms_before: Vec<f64> = block.chunks_exact(m).map(|c| dot(c, c).sqrt()).collect();
        if first > 0 {
            let s = &mut overlap[..first * w];
            for _pass in 0..2 {
                // S = −Qᵀ B (first × w), then B += Q S.
                gemm(
                    (first, w, m),
                    (&mut *s, [w, 1], false),
                    (done, [m, 1]),
                    (block, [1, m]),
                );
                s.iter_mut().for_each(|v| *v = -*v);
                gemm(
                    (m, w, first),
                    (&mut *block, [1, m], true),
                    (done, [1, m]),
                    (s, [w, 1]),
                );
            }
        }
        for (j, norm_before) in norms_before.iter().enumerate() {
            let (earlier, rest) = block.split_at_mut(j * m);
            let column = &mut rest[..m];
            for _pass in 0..2 {
                for previous in earlier.chunks_exact(m) {
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
    }
    let mut out = vec![0.0f32; m * l];
    for (j, column) in q.chunks_exact(m).enumerate() {
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

    /// The covariance formed a block of rows and a band of the triangle at a time equals the
    /// textbook one summed in f64, across more than one block of rows, a ragged last band, and a
    /// mean far from zero (which a sum of raw products would lose in f32).
    #[test]
    fn covariance_by_blocks_matches_the_f64_textbook_sum() {
        let (n, d) = (2 * 2048 + 37, 70);
        let values: Vec<f32> = (0..n * d)
            .map(|i| 100.0 + ((i * 7919 % 1013) as f32 * 0.37).sin() + (i % d) as f32 * 0.01)
            .collect();
        let mean = column_means(&values, d);
        let fast = covariance(&values, &mean);
        let mut exact = vec![0.0f64; d * d];
        let mean64: Vec<f64> = (0..d)
            .map(|j| {
                values
                    .iter()
                    .skip(j)
                    .step_by(d)
                    .map(|&v| f64::from(v))
                    .sum::<f64>()
                    / n as f64
            })
            .collect();
        for row in values.chunks_exact(d) {
            for i in 0..d {
                for j in 0..d {
                    exact[i * d + j] +=
                        (f64::from(row[i]) - mean64[i]) * (f64::from(row[j]) - mean64[j]);
                }
            }
        }
        let largest = exact.iter().fold(0.0f64, |a, &b| a.max(b.abs())) / (n - 1) as f64;
        for (i, (f, e)) in fast.iter().zip(&exact).enumerate() {
            let e = e / (n - 1) as f64;
            assert!(
                (f64::from(*f) - e).abs() < 1e-4 * largest,
                "entry {i}: {f} against {e}"
            );
        }
        let (i, j) = (3, 61);
        assert_eq!(fast[i * d + j], fast[j * d + i], "symmetric");
    }

    /// Gram-Schmidt by blocks: orthonormal columns spanning what the input's did, across blocks
    /// and a ragged last one; a column that repeats earlier ones becomes zero.
    #[test]
    fn orthonormal_columns_span_the_input_and_zero_a_repeated_column() {
        let (m, l) = (300, 2 * GS_BLOCK + 7);
        let repeated = GS_BLOCK + 3;
        let mut y: Vec<f32> = (0..m * l)
            .map(|i| ((i * 7919 % 997) as f32 * 0.61).sin())
            .collect();
        for i in 0..m {
            y[i * l + repeated] = y[i * l + 1] - 2.0 * y[i * l + GS_BLOCK + 1];
        }
        let q = orthonormal_columns(y.clone(), l);
        let column =
            |a: &[f32], j: usize| -> Vec<f64> { (0..m).map(|i| f64::from(a[i * l + j])).collect() };
        let columns: Vec<Vec<f64>> = (0..l).map(|j| column(&q, j)).collect();
        for (a, ca) in columns.iter().enumerate() {
            for (b, cb) in columns.iter().enumerate() {
                let want = if a == b && a != repeated { 1.0 } else { 0.0 };
                assert!(
                    (dot(ca, cb) - want).abs() < 1e-5,
                    "q{a}·q{b} = {}",
                    dot(ca, cb)
                );
            }
        }
        // Every input column is its own projection on the output's span.
        for j in 0..l {
            let original = column(&y, j);
            let mut rest = original.clone();
            for c in &columns {
                let d = dot(c, &original);
                rest.iter_mut().zip(c).for_each(|(r, c)| *r -= d * c);
            }
            assert!(dot(&rest, &rest).sqrt() < 1e-5 * dot(&original, &original).sqrt());
        }
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
