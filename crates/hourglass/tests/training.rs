//! Training on the shipped Fashion-MNIST sample: the loss falls, runs reproduce, saved models
//! behave exactly like the ones in memory, resume continues a run, early stopping keeps the best.

mod common;

use hourglass::artifact::TrainedModel;
use hourglass::device::Device;
use hourglass::model::ModelConfig;
use hourglass::tasks::{codec, eval};
use hourglass::train::{self, RunSettings, log};

use common::{quick, quiet, scratch, shipped, small_dense};

#[test]
fn dense_loss_falls_and_beats_the_mean_image() {
    let _lock = common::exclusive();
    let data = shipped(3000);
    let model = train::train(&data, &small_dense(), &quick(4), &quiet()).unwrap();
    let held_out = shipped(4000).select(&(3000..4000).collect::<Vec<_>>());
    let report = eval::evaluate(&model, &held_out, &Device::flex()).unwrap();
    assert!(
        report.mse < 0.6 * report.mean_mse,
        "held-out MSE {} should be well below the mean image's {}",
        report.mse,
        report.mean_mse
    );
}

#[test]
fn conv2d_beats_the_mean_image_on_held_out_data() {
    let _lock = common::exclusive();
    let data = shipped(3000);
    let model = train::train(&data, &ModelConfig::conv2d(16), &quick(3), &quiet()).unwrap();
    let held_out = shipped(4000).select(&(3000..4000).collect::<Vec<_>>());
    let report = eval::evaluate(&model, &held_out, &Device::flex()).unwrap();
    assert!(
        report.mse < report.mean_mse,
        "conv2d held-out MSE {} vs mean image {}",
        report.mse,
        report.mean_mse
    );
}

#[test]
fn training_loss_falls_epoch_by_epoch_in_the_log() {
    let _lock = common::exclusive();
    let dir = scratch("log");
    let run = RunSettings {
        log: Some(dir.join("log.jsonl")),
        ..quiet()
    };
    train::train(&shipped(2000), &small_dense(), &quick(3), &run).unwrap();
    let records = log::read(&dir.join("log.jsonl")).unwrap();
    assert_eq!(records.len(), 3);
    assert!(records[2].train_loss < records[0].train_loss, "{records:?}");
    assert!(
        records
            .iter()
            .all(|r| r.val_loss.is_some() && r.seconds > 0.0)
    );
}

#[test]
fn the_same_seed_gives_the_same_loss_curve() {
    let _lock = common::exclusive();
    let data = shipped(1500);
    let dir = scratch("seed");
    // conv2d too: its CPU kernels split the batch over threads and must sum in a fixed order.
    for base in [small_dense(), ModelConfig::conv2d(8)] {
        let run = |name: &str, seed: u64| {
            let mut options = quick(2);
            options.seed = seed;
            let settings = RunSettings {
                log: Some(dir.join(format!("{}-{name}", base.kind()))),
                ..quiet()
            };
            let mut config = base.clone();
            config.dropout = 0.1; // dropout draws random masks: they must repeat too
            train::train(&data, &config, &options, &settings).unwrap();
            log::read(&dir.join(format!("{}-{name}", base.kind())))
                .unwrap()
                .iter()
                .map(|r| (r.train_loss, r.val_loss))
                .collect::<Vec<_>>()
        };
        let a = run("a.jsonl", 3);
        assert_eq!(a, run("b.jsonl", 3), "{}", base.kind());
        assert_ne!(a, run("c.jsonl", 4), "{}", base.kind());
    }
}

#[test]
fn a_saved_model_reloads_bit_identical() {
    let _lock = common::exclusive();
    let data = shipped(1200);
    let dir = scratch("reload");
    let path = dir.join("model.safetensors");
    for config in [small_dense(), ModelConfig::conv2d(8)] {
        let model = train::train(&data, &config, &quick(1), &quiet()).unwrap();
        model.save(&path).unwrap();
        let device = Device::flex();
        let loaded = TrainedModel::load(&path, &device).unwrap();
        assert_eq!(loaded.config, model.config);
        assert_eq!(loaded.scaling, model.scaling);
        assert_eq!(loaded.baseline, model.baseline);
        let probe = data.head(50);
        let bits = |v: Vec<f32>| v.into_iter().map(f32::to_bits).collect::<Vec<_>>();
        assert_eq!(
            bits(codec::encode(&loaded, &probe, &device).unwrap()),
            bits(codec::encode(&model, &probe, &device).unwrap())
        );
        assert_eq!(
            bits(codec::reconstruct(&loaded, &probe, &device).unwrap()),
            bits(codec::reconstruct(&model, &probe, &device).unwrap())
        );
    }
}

#[test]
fn resume_continues_a_run_exactly_where_it_stopped() {
    let _lock = common::exclusive();
    let data = shipped(1500);
    let dir = scratch("resume");
    let settings = |name: &str, resume: bool| RunSettings {
        checkpoint: Some(dir.join(format!("{name}.checkpoint"))),
        log: Some(dir.join(format!("{name}.jsonl"))),
        resume,
        ..quiet()
    };
    let config = small_dense();
    // An uninterrupted 4-epoch run …
    train::train(&data, &config, &quick(4), &settings("whole", false)).unwrap();
    // … and one stopped after 2 epochs, then resumed to 4.
    train::train(&data, &config, &quick(2), &settings("split", false)).unwrap();
    // A kill -9 in epoch 3 can leave that epoch in the log but not in the checkpoint, and a
    // half-written temporary file: the resumed run must not log epoch 3 twice or keep the file.
    let split_log = dir.join("split.jsonl");
    let mut text = std::fs::read_to_string(&split_log).unwrap();
    text += &text
        .lines()
        .last()
        .unwrap()
        .replace("\"epoch\":2", "\"epoch\":3");
    text.push('\n');
    std::fs::write(&split_log, text).unwrap();
    let stale = dir.join("split.checkpoint.4242.tmp");
    std::fs::write(&stale, b"half a checkpoint").unwrap();
    train::train(&data, &config, &quick(4), &settings("split", true)).unwrap();
    assert!(
        !stale.exists(),
        "a killed run's temporary file is cleaned up"
    );
    let whole = log::read(&dir.join("whole.jsonl")).unwrap();
    let split = log::read(&dir.join("split.jsonl")).unwrap();
    let losses = |r: &[log::EpochRecord]| {
        r.iter()
            .map(|r| (r.epoch, r.train_loss, r.val_loss))
            .collect::<Vec<_>>()
    };
    assert_eq!(losses(&split), losses(&whole));

    // A checkpoint from another recipe is refused, not silently mixed in.
    let mut other = quick(4);
    other.learning_rate = 0.01;
    let err = train::train(&data, &config, &other, &settings("split", true))
        .expect_err("a different recipe must not resume");
    assert!(err.to_string().contains("checkpoint"), "{err}");
    // … and that failed run left the previous log whole.
    assert_eq!(losses(&log::read(&split_log).unwrap()), losses(&whole));

    // A checkpoint damaged on disk is refused before its records are read.
    let checkpoint = dir.join("split.checkpoint");
    let mut bytes = std::fs::read(&checkpoint).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&checkpoint, bytes).unwrap();
    let err = train::train(&data, &config, &quick(5), &settings("split", true)).unwrap_err();
    assert!(err.to_string().contains("checksum mismatch"), "{err}");
}

#[test]
fn early_stopping_keeps_the_best_weights() {
    let _lock = common::exclusive();
    let data = shipped(1500);
    let dir = scratch("early");
    let mut options = quick(12);
    options.patience = Some(1);
    // A learning rate this high makes validation loss wander, so patience runs out.
    options.learning_rate = 0.02;
    let run = RunSettings {
        log: Some(dir.join("log.jsonl")),
        ..quiet()
    };
    let model = train::train(&data, &small_dense(), &options, &run).unwrap();
    let records = log::read(&dir.join("log.jsonl")).unwrap();
    let best = records
        .iter()
        .min_by(|a, b| a.val_loss.partial_cmp(&b.val_loss).unwrap())
        .unwrap();
    assert_eq!(model.summary.best_epoch, Some(best.epoch));
    assert!(
        model.summary.stopped_early,
        "patience 1 should have run out: {records:?}"
    );
    assert!(
        best.epoch < records.len(),
        "the best epoch must not be the last one here"
    );
    // The kept weights score the best epoch's validation loss, not the last one's.
    let (_, val) = data.split(options.val_split, options.seed);
    let values = model.scaling.scaled(&val);
    let recon = codec::reconstruct_scaled(&model, &values, None, &Device::flex());
    let mse = hourglass::tasks::pca::mse(&values, &recon);
    assert!(
        (mse - best.val_loss.unwrap()).abs() < 1e-5,
        "kept weights give {mse}, best epoch had {:?}",
        best.val_loss
    );
}
