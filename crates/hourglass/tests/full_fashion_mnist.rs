//! The foundation's quality bar on the full Fashion-MNIST set (installed by `.ci/run` from
//! Debian's dataset-fashion-mnist): the benchmark dense model, trained 20 epochs with the
//! PyTorch-style recipe, reconstructs the 10k test images better than PCA with 32 components.

mod common;

use std::path::Path;

use hourglass::data::{self, LoadOptions, Split};
use hourglass::device::Device;
use hourglass::model::ModelConfig;
use hourglass::tasks::eval;
use hourglass::train::{self, TrainOptions};

const FULL_SET: &str = "/usr/share/datasets/fashion-mnist";

#[test]
fn dense_784_256_64_32_beats_pca_32_on_the_test_set() {
    let _lock = common::exclusive();
    let dir = Path::new(FULL_SET);
    assert!(
        dir.exists(),
        "{FULL_SET} is missing: `apt-get install dataset-fashion-mnist` (.ci/run does)"
    );
    let load = |split| {
        data::load(
            dir,
            &LoadOptions {
                split: Some(split),
                ..LoadOptions::default()
            },
        )
        .unwrap()
    };
    let (train_set, test_set) = (load(Split::Train), load(Split::Test));
    assert_eq!((train_set.len(), test_set.len()), (60_000, 10_000));
    let options = TrainOptions {
        epochs: 20,
        batch_size: 256,
        learning_rate: 1e-3,
        val_split: 0.0,
        seed: 1,
        ..TrainOptions::default()
    };
    let model = train::train(
        &train_set,
        &ModelConfig::dense(32),
        &options,
        &common::quiet(),
    )
    .unwrap();
    let report = eval::evaluate(&model, &test_set, &Device::flex()).unwrap();
    eprintln!("full Fashion-MNIST, dense 32, 20 epochs: {report:?}");
    assert!(
        report.mse < report.pca_mse,
        "autoencoder {} must beat PCA-32 {}",
        report.mse,
        report.pca_mse
    );
}
