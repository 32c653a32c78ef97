//! Semi-supervised labelling: with 100 known labels, a nearest-neighbour vote in a conv
//! autoencoder's latent space labels the other Fashion-MNIST images better than the same vote on
//! raw pixels.

mod common;

use hourglass::device::Device;
use hourglass::model::ModelConfig;
use hourglass::tasks::label::label;
use hourglass::train;

#[test]
fn latent_neighbours_beat_pixel_neighbours_with_100_labels() {
    let _lock = common::exclusive();
    let data = common::shipped(10_000);
    let mut options = common::quick(8);
    options.batch_size = 256;
    options.val_split = 0.0;
    // Unsupervised: the autoencoder never sees a label.
    let model = train::train(&data, &ModelConfig::conv2d(16), &options, &common::quiet()).unwrap();
    let values = model.scaling.scaled(&data);
    let labels = data.labels.clone().unwrap();
    let device = Device::flex();
    let (mut latent, mut raw) = (0.0, 0.0);
    for seed in 1..=3 {
        let (predicted, report) = label(&model, &values, &labels, 100, 5, seed, &device).unwrap();
        eprintln!("seed {seed}: {report:?}");
        assert_eq!(predicted.len(), labels.len());
        latent += report.latent_accuracy / 3.0;
        raw += report.raw_accuracy / 3.0;
    }
    assert!(
        latent > raw,
        "latent kNN {latent:.4} should beat pixel kNN {raw:.4}"
    );
    assert!(latent > 0.5, "10 classes: chance is 0.1, got {latent}");
}
