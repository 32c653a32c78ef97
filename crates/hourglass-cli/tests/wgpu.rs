//! The GPU code path, run: Burn's `wgpu` backend against the flex CPU backend, and
//! `--device gpu` end to end. No GPU is lent to this project's CI, so it runs on Mesa's lavapipe
//! (a software Vulkan; `CUBECL_WGPU_DEFAULT_DEVICE=Cpu` lets cubecl pick it). Built only with
//! `--features wgpu`.
#![cfg(feature = "wgpu")]

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

use hourglass::artifact::TrainedModel;
use hourglass::data::{self, Dataset, LoadOptions};
use hourglass::device::{Backend, Device};
use hourglass::model::ModelConfig;
use hourglass::tasks::codec;
use hourglass::train::{self, RunSettings, TrainOptions};

/// One test at a time on the software GPU: run side by side (the default), the test process's
/// lavapipe and the CLI processes' lavapipe fight for the same cores, and the two tests took
/// 241 s together against 43 s one after the other (2-core Xeon; 804 s on an AVX2-only CI VM).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn shipped(n: usize) -> Dataset {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/fashion-mnist");
    data::load(&path, &LoadOptions::default()).unwrap().head(n)
}

fn on(backend: Backend) -> RunSettings {
    RunSettings {
        backend,
        ..RunSettings::default()
    }
}

fn options() -> TrainOptions {
    TrainOptions {
        epochs: 8,
        batch_size: 64,
        learning_rate: 2e-3,
        val_split: 0.0,
        seed: 3,
        ..TrainOptions::default()
    }
}

/// The two backends draw their initial weights from different generators, so their losses are
/// compared loosely (on the shipped sample: dense 0.0423 on flex, 0.0426 on wgpu; conv2d 0.0550
/// and 0.0449); the forward pass is compared tightly on the same weights. Trained long enough to
/// end well below the error of predicting every pixel's mean (0.087, which 3 epochs at the
/// default rate did not reach): a backend that trains wrongly stands out. It caught GPU steps run
/// on whichever rayon worker was free, which raced between cubecl's per-thread streams (final
/// losses 0.045-0.175 from one seed; `device::on_device_thread`).
const TRAINED_LOSS_TOLERANCE: f64 = 0.25;
const LEARNED: f64 = 0.8;
const FORWARD_TOLERANCE: f32 = 1e-4;

#[test]
fn wgpu_trains_like_flex_and_computes_the_same_reconstructions() {
    let _gpu = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let data = shipped(512);
    let gpu = Backend::Gpu.device().unwrap();
    let cpu = Device::flex();
    for config in [ModelConfig::dense(8), ModelConfig::conv2d(8)] {
        let name = config.kind();
        let on_cpu = train::train(&data, &config, &options(), &on(Backend::Cpu)).unwrap();
        let on_gpu = train::train(&data, &config, &options(), &on(Backend::Gpu)).unwrap();
        let losses = |m: &TrainedModel| m.summary.final_train_loss.unwrap();
        let (c, g) = (losses(&on_cpu), losses(&on_gpu));
        // Both learned the samples, not only their mean, and wgpu about as well as flex.
        let mean_only = mean_predictor_mse(&on_cpu.scaling.scaled(&data), data.shape.features());
        assert!(
            g.is_finite() && c < LEARNED * mean_only && g < LEARNED * mean_only,
            "{name}: flex {c}, wgpu {g}, predicting the mean {mean_only}"
        );
        assert!(
            (g - c).abs() <= TRAINED_LOSS_TOLERANCE * c,
            "{name}: flex {c}, wgpu {g}"
        );

        // The CPU-trained model, saved and loaded onto the GPU, reconstructs the same values.
        let path = std::env::temp_dir().join(format!(
            "hourglass-wgpu-{}-{name}.safetensors",
            std::process::id()
        ));
        on_cpu.save(&path).unwrap();
        let moved = TrainedModel::load(&path, &gpu).unwrap();
        let values = on_cpu.scaling.scaled(&data.head(64));
        let a = codec::reconstruct_scaled(&on_cpu, &values, None, &cpu);
        let b = codec::reconstruct_scaled(&moved, &values, None, &gpu);
        let worst = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        assert!(
            worst <= FORWARD_TOLERANCE,
            "{name}: reconstructions differ by up to {worst}"
        );
        let _ = std::fs::remove_file(path);
    }
}

/// The mean squared error of predicting every feature by its mean: what a network that learned
/// nothing about the individual samples would reach.
fn mean_predictor_mse(values: &[f32], features: usize) -> f64 {
    let rows = values.len() / features;
    let mut mean = vec![0.0f64; features];
    for row in values.chunks_exact(features) {
        for (m, &v) in mean.iter_mut().zip(row) {
            *m += v as f64 / rows as f64;
        }
    }
    let squared: f64 = values
        .chunks_exact(features)
        .flat_map(|row| row.iter().zip(&mean).map(|(&v, m)| (v as f64 - m).powi(2)))
        .sum();
    squared / values.len() as f64
}

#[test]
fn device_gpu_trains_and_scores_end_to_end() {
    let _gpu = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = std::env::temp_dir().join(format!("hourglass-wgpu-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // 500 images: lavapipe runs compute shaders on the CPU, slowly.
    let images = dir.join("images.npy");
    let sample = shipped(500);
    data::npy::write(&images, &sample.values, &[500, 28, 28]).unwrap();
    let model = dir.join("m.safetensors");
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_hourglass"))
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(out.status.success(), "hourglass {args:?}: {stderr}");
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let images = images.to_str().unwrap();
    run(&[
        "train",
        "--data",
        images,
        "--model",
        "dense",
        "--latent",
        "8",
        "--epochs",
        "2",
        "--device",
        "gpu",
        "--out",
        model.to_str().unwrap(),
    ]);
    let scores = dir.join("scores.csv");
    let report = run(&[
        "score",
        "--model",
        model.to_str().unwrap(),
        "--data",
        images,
        "--device",
        "gpu",
        "--out",
        scores.to_str().unwrap(),
        "--json",
    ]);
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    let flagged = report["flagged"].as_u64().unwrap();
    assert!(flagged > 0 && flagged < 100, "{report}");
    let _ = std::fs::remove_dir_all(dir);
}
