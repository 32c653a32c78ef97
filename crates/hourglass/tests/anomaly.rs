//! One-class anomaly detection on the shipped Fashion-MNIST sample: trained on one class, the
//! model scores the other classes higher, better than chance for every class and better than PCA
//! reconstruction error for some.

mod common;

use hourglass::device::Device;
use hourglass::model::ModelConfig;
use hourglass::tasks::anomaly::{self, Scoring, ThresholdRule};
use hourglass::train;

#[test]
fn one_class_models_score_other_classes_higher() {
    let _lock = common::exclusive();
    let all = common::shipped(10_000);
    let train_part = all.head(8000);
    let held_out = all.select(&(8000..10_000).collect::<Vec<_>>());
    let labels = held_out.labels.clone().unwrap();
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
