//! Shared helpers for the integration tests: the shipped sample and small, quick training runs.
#![allow(dead_code)]

use std::path::PathBuf;

use hourglass::data::{self, Dataset, LoadOptions};
use hourglass::device::Backend;
use hourglass::model::{Architecture, ModelConfig};
use hourglass::train::{RunSettings, TrainOptions};

/// The Fashion-MNIST test split shipped in `data/`.
pub fn shipped_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/fashion-mnist")
}

/// The first `n` images of the shipped sample, with labels.
pub fn shipped(n: usize) -> Dataset {
    data::load(&shipped_dir(), &LoadOptions::default())
        .expect("the shipped sample loads")
        .head(n)
}

/// A small dense model for the shipped images: 784-128-16-128-784.
pub fn small_dense() -> ModelConfig {
    let mut config = ModelConfig::dense(16);
    config.architecture = Architecture::Dense { hidden: vec![128] };
    config
}

/// A short, quick recipe for tests.
pub fn quick(epochs: usize) -> TrainOptions {
    TrainOptions {
        epochs,
        batch_size: 128,
        val_split: 0.2,
        seed: 7,
        ..TrainOptions::default()
    }
}

/// Run settings that write nothing.
pub fn quiet() -> RunSettings {
    RunSettings {
        backend: Backend::Cpu,
        ..RunSettings::default()
    }
}

/// A fresh scratch directory under the target directory.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hourglass-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Burn's CPU random generator is global to the process, so runs training side by side (the
/// test harness uses threads) would draw from one stream and lose their reproducibility. Every
/// test that trains holds this lock.
pub static TRAINING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Takes the training lock, even if a failed test poisoned it.
pub fn exclusive() -> std::sync::MutexGuard<'static, ()> {
    TRAINING.lock().unwrap_or_else(|e| e.into_inner())
}
