//! The baselines a model must beat: the mean sample, and PCA with as many components as the model
//! has latent dimensions. Both are fit on the model's training split and stored in its artifact.

use burn::tensor::{Device, Tensor};

use crate::device::{rows_tensor, to_vec};

/// QR sweeps allowed per singular value; covariance matrices converge in a handful.
const SVD_SWEEPS: usize = 100;

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
    /// Fits the mean and the top `k` principal components (eigenvectors of the covariance, from
    /// Burn's SVD; the covariance itself is one Burn matrix product).
    pub fn fit(values: &[f32], features: usize, k: usize, device: &Device) -> Baseline {
        let n = values.len() / features;
        let k = k.min(features);
        let x = rows_tensor(values.to_vec(), features, device);
        let mean = x.clone().mean_dim(0);
        let centred = x - mean.clone();
        let covariance = centred
            .clone()
            .transpose()
            .matmul(centred)
            .div_scalar(n.max(2) as f64 - 1.0);
        let (_, _, vt) = burn::linalg::svd::<2, 1>(covariance, SVD_SWEEPS);
        let components = vt.slice([0..k, 0..features]);
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
}
