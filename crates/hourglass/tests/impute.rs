//! Imputation on a real table (the wine data shipped in data/wine): with 20 % of the entries
//! removed at random, a model trained on the gappy table itself fills them closer to the truth
//! than column means do.

mod common;

use std::path::PathBuf;

use hourglass::data::noise::Noise;
use hourglass::data::{self, LoadOptions};
use hourglass::device::Device;
use hourglass::model::{Architecture, ModelConfig};
use hourglass::tasks::impute;
use hourglass::train;
use rand::{RngExt, SeedableRng};

#[test]
fn imputation_beats_column_means_on_wine() {
    let _lock = common::exclusive();
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/wine/wine.csv");
    let options = LoadOptions {
        label_column: Some("target".into()),
        ..LoadOptions::default()
    };
    let complete = data::load(&path, &options).unwrap();
    assert_eq!((complete.len(), complete.shape.features()), (178, 13));
    let mut gappy = complete.clone();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let missing: Vec<bool> = (0..gappy.values.len())
        .map(|_| rng.random::<f32>() < 0.2)
        .collect();
    for (v, &m) in gappy.values.iter_mut().zip(&missing) {
        if m {
            *v = f32::NAN;
        }
    }

    let mut config = ModelConfig::dense(6);
    config.architecture = Architecture::Dense { hidden: vec![32] };
    let mut recipe = common::quick(300);
    recipe.batch_size = 32;
    recipe.val_split = 0.0;
    // Hiding some observed values too teaches the model to predict a column from the others.
    recipe.noise = Some(Noise::Masking { p: 0.2 });
    let model = train::train(&gappy, &config, &recipe, &common::quiet()).unwrap();

    let device = Device::flex();
    let rounds = impute::default_iterations(&model);
    assert_eq!(
        rounds, 1,
        "a model trained with masking reads a gap in one pass"
    );
    let filled = impute::impute(&model, &model.scaling.scaled(&gappy), rounds, &device);
    assert!(filled.iter().all(|v| v.is_finite()));
    let truth = model.scaling.scaled(&complete);
    let report = impute::fill_report(&model, &truth, &filled, &missing);
    eprintln!("{report:?}");
    assert!(report.hidden_entries > 400);
    assert!(
        report.rmse < 0.85 * report.mean_rmse,
        "autoencoder RMSE {} vs column means {} (standardised units)",
        report.rmse,
        report.mean_rmse
    );
}
