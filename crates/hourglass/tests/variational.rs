//! Variational autoencoders: the KL term is reported on its own and the held-out ELBO improves;
//! samples decoded from N(0, I) look more like real images than decodes of random points in a
//! plain autoencoder's latent box; and a larger β trades reconstruction for a smaller KL.

mod common;

use hourglass::artifact::TrainedModel;
use hourglass::data::Dataset;
use hourglass::device::Device;
use hourglass::model::ModelConfig;
use hourglass::tasks::{codec, generate};
use hourglass::train::{self, RunSettings, TrainOptions, log};
use rand::{RngExt, SeedableRng};

fn recipe(epochs: usize) -> TrainOptions {
    let mut options = common::quick(epochs);
    options.batch_size = 128;
    options
}

fn train_logged(
    data: &Dataset,
    config: &ModelConfig,
    name: &str,
) -> (TrainedModel, Vec<log::EpochRecord>) {
    let dir = common::scratch(name);
    let run = RunSettings {
        log: Some(dir.join("log.jsonl")),
        ..common::quiet()
    };
    let model = train::train(data, config, &recipe(12), &run).unwrap();
    (model, log::read(&dir.join("log.jsonl")).unwrap())
}

/// Mean distance from each generated row to its nearest real row.
fn mean_nearest_distance(generated: &[f32], real: &[f32], d: usize) -> f64 {
    let total: f64 = generated
        .chunks_exact(d)
        .map(|g| {
            real.chunks_exact(d)
                .map(|r| g.iter().zip(r).map(|(a, b)| (a - b) * (a - b)).sum::<f32>())
                .fold(f32::INFINITY, f32::min)
                .sqrt() as f64
        })
        .sum();
    total / (generated.len() / d) as f64
}

#[test]
fn a_vae_reports_its_kl_improves_its_elbo_and_samples_realistic_images() {
    let _lock = common::exclusive();
    let all = common::shipped(6000);
    let (train_set, held_out) = (
        all.head(5000),
        all.select(&(5000..6000).collect::<Vec<_>>()),
    );
    let device = Device::flex();

    let (vae, records) = train_logged(&train_set, &ModelConfig::dense(16).variational(1.0), "vae");
    let (first, last) = (&records[0], records.last().unwrap());
    for key in [
        "train_kl",
        "train_reconstruction",
        "val_kl",
        "val_reconstruction",
    ] {
        assert!(last.terms[key].is_finite(), "{key} missing from {last:?}");
    }
    assert!(last.terms["val_kl"] > 0.0);
    assert!(
        last.val_loss.unwrap() < first.val_loss.unwrap(),
        "held-out negative ELBO should fall: {} → {}",
        first.val_loss.unwrap(),
        last.val_loss.unwrap()
    );

    let (plain, _) = train_logged(&train_set, &ModelConfig::dense(16), "plain");
    let n = 200;
    let (from_vae, _) = generate::sample(&vae, n, None, 3, &device).unwrap();
    // The plain autoencoder has no prior: draw uniformly from the box its training codes span.
    let codes = codec::encode(&plain, &train_set, &device).unwrap();
    let (lo, hi): (Vec<f32>, Vec<f32>) = (0..16)
        .map(|j| {
            let column = codes.iter().skip(j).step_by(16);
            let lo = column.clone().copied().fold(f32::INFINITY, f32::min);
            let hi = column.copied().fold(f32::NEG_INFINITY, f32::max);
            (lo, hi)
        })
        .unzip();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let boxed: Vec<f32> = (0..n * 16)
        .map(|i| lo[i % 16] + (hi[i % 16] - lo[i % 16]) * rng.random::<f32>())
        .collect();
    let from_box = codec::decode_scaled(&plain, &boxed, None, &device);
    let real = vae.scaling.scaled(&held_out);
    let (vae_distance, box_distance) = (
        mean_nearest_distance(&from_vae, &real, 784),
        mean_nearest_distance(&from_box, &real, 784),
    );
    eprintln!("nearest real image: VAE samples {vae_distance:.3}, plain AE box {box_distance:.3}");
    assert!(
        vae_distance < box_distance,
        "{vae_distance} vs {box_distance}"
    );
}

#[test]
fn a_larger_beta_buys_a_smaller_kl_with_reconstruction() {
    let _lock = common::exclusive();
    let data = common::shipped(5000);
    let ends: Vec<(f64, f64)> = [0.5, 2.0, 8.0]
        .iter()
        .map(|&beta| {
            let config = ModelConfig::dense(16).variational(beta);
            let (_, records) = train_logged(&data, &config, &format!("beta{beta}"));
            let last = records.last().unwrap();
            (last.terms["val_kl"], last.terms["val_reconstruction"])
        })
        .collect();
    eprintln!("(KL, reconstruction) for beta 0.5, 2, 8: {ends:?}");
    assert!(
        ends[0].0 > ends[1].0 && ends[1].0 > ends[2].0,
        "KL falls with beta: {ends:?}"
    );
    assert!(
        ends[0].1 < ends[1].1 && ends[1].1 < ends[2].1,
        "reconstruction error rises: {ends:?}"
    );
}
