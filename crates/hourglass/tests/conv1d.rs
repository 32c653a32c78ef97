//! The 1-D convolutional autoencoder on a periodic series with injected spikes: trained on the
//! series, it reconstructs the windows holding a spike worst.

mod common;

use hourglass::data::{Dataset, SampleKind, SampleShape};
use hourglass::device::Device;
use hourglass::model::ModelConfig;
use hourglass::tasks::anomaly;
use hourglass::train;
use rand::{RngExt, SeedableRng};

/// Two series over 6,000 steps: a daily-like cycle of 96 steps with a weekly-like modulation and
/// noise, the second a lagged, scaled copy with its own noise.
fn periodic_series(rng: &mut impl RngExt) -> Vec<f32> {
    (0..6000)
        .flat_map(|t| {
            let t = t as f32;
            let day = (t * std::f32::consts::TAU / 96.0).sin();
            let week = 0.5 * (t * std::f32::consts::TAU / 672.0).sin();
            let a = day + week + 0.1 * (rng.random::<f32>() - 0.5);
            let b = 0.8 * ((t - 10.0) * std::f32::consts::TAU / 96.0).sin()
                + 0.1 * (rng.random::<f32>() - 0.5);
            [a, b]
        })
        .collect()
}

#[test]
fn reconstruction_error_peaks_on_the_spike_windows() {
    let _lock = common::exclusive();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let mut values = periodic_series(&mut rng);
    // Spikes in the second half only, in series 0.
    let spikes: Vec<usize> = (0..10)
        .map(|i| 3100 + i * 280 + (rng.random::<f32>() * 50.0) as usize)
        .collect();
    for &t in &spikes {
        values[t * 2] += 4.0;
    }
    let series = Dataset {
        values,
        shape: SampleShape::tabular(2),
        kind: SampleKind::Tabular,
        labels: None,
        columns: None,
    };
    let (window, stride) = (64, 16);
    let config = ModelConfig::conv1d(8, window, stride);
    let windows = config.samples_from(series).unwrap();
    assert_eq!(windows.shape, SampleShape::image(2, 1, 64));

    // Train on the first half (no spikes), score every window.
    let first_half: Vec<usize> = (0..windows.len())
        .filter(|&w| w * stride + window <= 3000)
        .collect();
    let mut options = common::quick(30);
    options.batch_size = 32;
    let model = train::train(
        &windows.select(&first_half),
        &config,
        &options,
        &common::quiet(),
    )
    .unwrap();
    let scaled = model.scaling.scaled(&windows);
    let scores = anomaly::score(&model, &scaled, None, None, &Device::flex())
        .unwrap()
        .per_sample;
    let has_spike: Vec<bool> = (0..windows.len())
        .map(|w| {
            spikes
                .iter()
                .any(|&t| (w * stride..w * stride + window).contains(&t))
        })
        .collect();
    let auroc = anomaly::roc_auc(&scores, &has_spike).unwrap();
    let mean = |spiky: bool| {
        let picked: Vec<f32> = scores
            .iter()
            .zip(&has_spike)
            .filter(|(_, s)| **s == spiky)
            .map(|(v, _)| *v)
            .collect();
        picked.iter().sum::<f32>() / picked.len() as f32
    };
    eprintln!(
        "AUROC {auroc:.4}; mean error with spike {:.4}, without {:.4}",
        mean(true),
        mean(false)
    );
    assert!(auroc > 0.95, "AUROC {auroc}");
    assert!(mean(true) > 3.0 * mean(false));
}
