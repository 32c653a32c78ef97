//! Contractive autoencoders: the penalty makes the encoder's Jacobian norm on held-out images
//! much smaller than a plain autoencoder's of the same size.

mod common;

use hourglass::device::Device;
use hourglass::model::ModelConfig;
use hourglass::tasks::eval;
use hourglass::train;

#[test]
fn the_contractive_penalty_shrinks_the_encoder_jacobian() {
    let _lock = common::exclusive();
    let all = common::shipped(5000);
    let (train_set, held_out) = (
        all.head(4000),
        all.select(&(4000..5000).collect::<Vec<_>>()),
    );
    let device = Device::flex();
    let mut options = common::quick(10);
    options.batch_size = 128;
    let plain = train::train(
        &train_set,
        &ModelConfig::dense(16),
        &options,
        &common::quiet(),
    )
    .unwrap();
    let mut config = ModelConfig::dense(16);
    config.contractive = Some(1.0);
    let contractive = train::train(&train_set, &config, &options, &common::quiet()).unwrap();

    let values = plain.scaling.scaled(&held_out);
    let norm = |model| eval::encoder_jacobian_norm(model, &values, 8, &device);
    let mse = |model| eval::evaluate(model, &held_out, &device).unwrap().mse;
    let (plain_norm, contractive_norm) = (norm(&plain), norm(&contractive));
    eprintln!(
        "‖J‖²F plain {plain_norm:.2} (MSE {:.5}), contractive {contractive_norm:.2} (MSE {:.5})",
        mse(&plain),
        mse(&contractive)
    );
    assert!(
        contractive_norm < 0.5 * plain_norm,
        "{contractive_norm} vs {plain_norm}"
    );
}
