//! One-class anomaly detection on the shipped Fashion-MNIST sample: trained on one class, the
//! model scores the other classes higher, better than chance for every class and better than PCA
//! reconstruction error for some.

mod common;

use hourglass::data::Dataset;
use hourglass::device::Device;
use hourglass::model::ModelConfig;
use hourglass::tasks::anomaly::{self, ScoreKind, Scoring, ThresholdRule};
use hourglass::train;

/// The shipped sample as the one-class tests use it: the first 8,000 images to train on (one class
/// at a time), the last 2,000 to score, and their labels.
fn one_class_split() -> (Dataset, Dataset, Vec<u32>) {
    let all = common::shipped(10_000);
    let held_out = all.select(&(8000..10_000).collect::<Vec<_>>());
    let labels = held_out.labels.clone().unwrap();
    (all.head(8000), held_out, labels)
}

#[test]
fn one_class_models_score_other_classes_higher() {
    let _lock = common::exclusive();
    let (train_part, held_out, labels) = one_class_split();
    let device = Device::flex();
    let mut options = common::quick(15);
    options.val_split = 0.0;
    let mut wins = Vec::new();
    for class in 0..10u32 {
        let normal = train_part.of_class(class).unwrap();
        let model =
            train::train(&normal, &ModelConfig::dense(16), &options, &common::quiet()).unwrap();
        let values = model.scaling.scaled(&held_out);
        let truth: Vec<bool> = labels.iter().map(|&l| l != class).collect();
        let scoring = Scoring {
            kind: None,
            threshold: ThresholdRule::Percentile(99.0),
        };
        let (_, _, report) =
            anomaly::detect(&model, &values, None, Some(&truth), scoring, None, &device).unwrap();
        let (auroc, pca) = (report.auroc.unwrap(), report.pca_auroc.unwrap());
        eprintln!(
            "class {class}: AUROC {auroc:.4}, PCA {pca:.4}, flagged {}",
            report.flagged
        );
        assert!(
            auroc > 0.7,
            "class {class}: AUROC {auroc} is barely better than chance"
        );
        if auroc > pca {
            wins.push(class);
        }
    }
    assert!(
        !wins.is_empty(),
        "the autoencoder should beat PCA's score for some class"
    );
}

/// The conv2d model's default score, the distance of the encoder's feature maps to the training
/// images' (`features`), ranks the other classes above the normal one better than the plain
/// reconstruction error, and survives the model file: the loaded model gives the same scores.
#[test]
fn conv2d_feature_score_beats_mse_and_is_kept_in_the_model_file() {
    let _lock = common::exclusive();
    let (train_part, held_out, labels) = one_class_split();
    let device = Device::flex();
    let mut options = common::quick(15);
    options.val_split = 0.0;
    let dir = common::scratch("conv2d-features");
    let (mut features, mut mse) = (Vec::new(), Vec::new());
    // The hardest classes of Fashion-MNIST (T-shirt, pullover, shirt), whose nearest other
    // classes share their silhouette.
    for class in [0u32, 2, 6] {
        let normal = train_part.of_class(class).unwrap();
        let model = train::train(
            &normal,
            &ModelConfig::conv2d(16),
            &options,
            &common::quiet(),
        )
        .unwrap();
        assert_eq!(model.detector.default, ScoreKind::Features);
        let values = model.scaling.scaled(&held_out);
        let truth: Vec<bool> = labels.iter().map(|&l| l != class).collect();
        let auroc_of = |model: &hourglass::artifact::TrainedModel, kind| {
            let scores = anomaly::score(model, &values, None, Some(kind), &device).unwrap();
            (
                anomaly::roc_auc(&scores.per_sample, &truth).unwrap(),
                scores.per_sample,
            )
        };
        let auto = ThresholdRule::Auto
            .resolve(&model, ScoreKind::Features)
            .unwrap();
        let share = auto.train_fraction_flagged.unwrap();
        assert!(
            (0.005..=0.10).contains(&share),
            "class {class}: auto flags {share}"
        );
        let (f, before) = auroc_of(&model, ScoreKind::Features);
        let (m, _) = auroc_of(&model, ScoreKind::Mse);
        eprintln!("class {class}: features {f:.4}, mse {m:.4}");
        features.push(f);
        mse.push(m);

        let path = dir.join(format!("class{class}.safetensors"));
        model.save(&path).unwrap();
        let loaded = hourglass::artifact::TrainedModel::load(&path, &device).unwrap();
        assert_eq!(loaded.detector.features, model.detector.features);
        let (_, after) = auroc_of(&loaded, ScoreKind::Features);
        assert_eq!(
            before, after,
            "class {class}: the loaded model scores differently"
        );
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    assert!(
        mean(&features) > mean(&mse) + 0.01,
        "features {features:?} should rank anomalies better than mse {mse:?}"
    );
}
