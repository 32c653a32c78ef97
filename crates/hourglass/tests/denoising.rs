//! A denoising autoencoder earns its name: on held-out images corrupted with the noise it was
//! trained on, its output is much closer to the clean image than the noisy input is, and closer
//! than a plain autoencoder of the same size manages from the same noisy input.

mod common;

use hourglass::data::noise::Noise;
use hourglass::device::Device;
use hourglass::model::ModelConfig;
use hourglass::tasks::denoise::{denoise, report};
use hourglass::train;

#[test]
fn denoising_beats_the_noisy_input_and_a_plain_autoencoder() {
    let _lock = common::exclusive();
    let all = common::shipped(4000);
    let (train_set, held_out) = (
        all.head(3000),
        all.select(&(3000..4000).collect::<Vec<_>>()),
    );
    let device = Device::flex();
    for noise in [Noise::Gaussian { sigma: 0.3 }, Noise::SaltPepper { p: 0.2 }] {
        let mut options = common::quick(30);
        options.batch_size = 64;
        let plain = train::train(
            &train_set,
            &ModelConfig::dense(32),
            &options,
            &common::quiet(),
        )
        .unwrap();
        options.noise = Some(noise);
        let denoiser = train::train(
            &train_set,
            &ModelConfig::dense(32),
            &options,
            &common::quiet(),
        )
        .unwrap();

        let clean = denoiser.scaling.scaled(&held_out);
        let noisy = noise.corrupt(&clean, true, 99);
        let ours = report(&clean, &noisy, &denoise(&denoiser, &noisy, &device));
        let baseline = report(&clean, &noisy, &denoise(&plain, &noisy, &device));
        eprintln!("{noise}: denoising AE {ours:?}; plain AE {baseline:?}");
        assert!(
            ours.denoised_psnr_db > ours.noisy_psnr_db + 3.0,
            "{noise}: {:.2} dB denoised vs {:.2} dB noisy",
            ours.denoised_psnr_db,
            ours.noisy_psnr_db
        );
        assert!(
            ours.denoised_mse < baseline.denoised_mse,
            "{noise}: denoising AE {} vs plain AE {}",
            ours.denoised_mse,
            baseline.denoised_mse
        );
    }
}
