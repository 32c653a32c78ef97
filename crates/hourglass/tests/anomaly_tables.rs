//! Anomaly detection on a real table with the defaults a user gets: the shipped cardiotocography
//! sample (ODDS "cardio", 1,831 rows, 176 pathologic), trained on its raw rows, anomalies included
//! and unlabelled, as in the benchmark's protocol.

mod common;

use std::path::PathBuf;

use hourglass::data::{self, Dataset, LoadOptions};
use hourglass::device::Device;
use hourglass::model::{Architecture, ModelConfig};
use hourglass::tasks::anomaly::{self, ScoreKind, ThresholdRule};
use hourglass::train::{self, TrainOptions, recipe};

fn cardio() -> Dataset {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/cardio/cardio.csv");
    let options = LoadOptions {
        label_column: Some("anomaly".into()),
        ..Default::default()
    };
    data::load(&path, &options).expect("the shipped cardio sample loads")
}

/// Trains with the table recipe, as `hourglass train` does when given no sizes.
fn train_default(data: &Dataset, seed: u64) -> hourglass::artifact::TrainedModel {
    let r = recipe::for_table(data.shape.features(), data.len());
    let mut config = ModelConfig::dense(r.latent);
    config.architecture = Architecture::Dense { hidden: r.hidden };
    let options = TrainOptions {
        epochs: r.epochs,
        batch_size: r.batch_size,
        ensemble: r.ensemble,
        seed,
        ..TrainOptions::default()
    };
    train::train(data, &config, &options, &common::quiet()).unwrap()
}

#[test]
fn the_default_score_beats_reconstruction_error_on_a_real_table() {
    let _lock = common::exclusive();
    let all = cardio();
    let device = Device::flex();
    for seed in [1, 2] {
        let (train_part, test) = all.split(0.3, seed);
        let model = train_default(&train_part, seed);
        assert_eq!(model.detector.default, ScoreKind::Knn);
        let values = model.scaling.scaled(&test);
        let truth: Vec<bool> = test
            .labels
            .as_ref()
            .unwrap()
            .iter()
            .map(|&l| l == 1)
            .collect();
        let auroc = |kind| {
            let s = anomaly::score(&model, &values, None, Some(kind), &device).unwrap();
            anomaly::roc_auc(&s.per_sample, &truth).unwrap()
        };
        let (default, mse) = (auroc(ScoreKind::Knn), auroc(ScoreKind::Mse));
        eprintln!("seed {seed}: default (knn) AUROC {default:.4}, mse {mse:.4}");
        assert!(default > 0.9, "seed {seed}: default AUROC {default}");
        assert!(default > mse + 0.05, "seed {seed}: {default} vs mse {mse}");
    }
}

#[test]
fn the_automatic_threshold_flags_a_small_share_of_clean_training_data() {
    let _lock = common::exclusive();
    let normal = cardio().of_class(0).unwrap();
    let model = train_default(&normal, 3);
    for kind in model.detector.kinds() {
        let t = ThresholdRule::Auto.resolve(&model, kind).unwrap();
        let f = t.train_fraction_flagged.unwrap();
        eprintln!(
            "table, {kind}: auto flags {:.2} % of the training data",
            100.0 * f
        );
        assert!((0.005..=0.10).contains(&f), "{kind}: {f}");
    }
    // Contamination: the threshold flags that share of the training scores.
    let t = ThresholdRule::Contamination(0.05)
        .resolve(&model, ScoreKind::Knn)
        .unwrap();
    assert!((t.train_fraction_flagged.unwrap() - 0.05).abs() < 0.002);

    // Images: one class of the shipped Fashion-MNIST sample, reconstruction error.
    let images = common::shipped(4000).of_class(7).unwrap();
    let mut options = common::quick(5);
    options.val_split = 0.0;
    let model = train::train(&images, &ModelConfig::dense(16), &options, &common::quiet()).unwrap();
    for kind in model.detector.kinds() {
        let f = ThresholdRule::Auto
            .resolve(&model, kind)
            .unwrap()
            .train_fraction_flagged
            .unwrap();
        eprintln!(
            "images, {kind}: auto flags {:.2} % of the training data",
            100.0 * f
        );
        if kind == model.detector.default {
            assert!((0.005..=0.10).contains(&f), "images, {kind}: {f}");
        }
    }
}

#[test]
fn a_corrupted_column_is_named_as_the_cause() {
    let _lock = common::exclusive();
    let normal = cardio().of_class(0).unwrap();
    let model = train_default(&normal, 4);
    let names = normal.columns.clone().unwrap();
    let device = Device::flex();
    // Three ordinary rows (the best reconstructed), each with one column pushed 8 training
    // deviations off: that column leads the row's explanation.
    let all = model.scaling.scaled(&normal);
    let mse = anomaly::score(&model, &all, None, Some(ScoreKind::Mse), &device).unwrap();
    let mut order: Vec<usize> = (0..normal.len()).collect();
    order.sort_by(|&a, &b| mse.per_sample[a].total_cmp(&mse.per_sample[b]));
    for (&row, column) in order.iter().zip(["ASTV", "Mean", "UC"]) {
        let j = names.iter().position(|n| n == column).unwrap();
        let mut corrupted = normal.select(&[row]);
        let hourglass::data::Scaling::Standardize { std, .. } = &model.scaling else {
            panic!("tables are standardised by default")
        };
        corrupted.values[j] += 8.0 * std[j];
        let values = model.scaling.scaled(&corrupted);
        let scores = anomaly::score(&model, &values, None, None, &device).unwrap();
        let top = anomaly::top_columns(&scores.per_feature, &names);
        assert_eq!(top[0].column, column, "row {row}: {top:?}");
        assert!(top[0].share > 0.5, "row {row}: {top:?}");
    }
}

#[test]
fn an_ensemble_saves_and_loads_with_the_same_scores() {
    let _lock = common::exclusive();
    let data = cardio();
    let model = train_default(&data, 5);
    assert_eq!(
        model.members.len(),
        4,
        "the table recipe trains five networks"
    );
    let path = common::scratch("ensemble").join("cardio.safetensors");
    model.save(&path).unwrap();
    let device = Device::flex();
    let loaded = hourglass::artifact::TrainedModel::load(&path, &device).unwrap();
    assert_eq!(loaded.members.len(), 4);
    let values = model.scaling.scaled(&data);
    for kind in model.detector.kinds() {
        let a = anomaly::score(&model, &values, None, Some(kind), &device).unwrap();
        let b = anomaly::score(&loaded, &values, None, Some(kind), &device).unwrap();
        assert_eq!(a.per_sample, b.per_sample, "{kind}");
    }
    // The members differ from the first network (other seeds), so the average means something.
    let first = hourglass::tasks::codec::encode_scaled(&model, &values, None, &device);
    let second = hourglass::tasks::codec::encode_scaled_by(
        &model,
        &model.members[0],
        &values,
        None,
        &device,
    );
    assert_ne!(first, second);
}
