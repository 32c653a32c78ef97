//! hourglass's side of the speed benchmark against PyTorch (bench/run.sh drives both and prints
//! the table). Mirrors bench/torch_reference.py: same models, data, recipe and measurements, and
//! the same JSON line out. Threads: set RAYON_NUM_THREADS (Burn's flex backend uses rayon).

use std::path::Path;
use std::time::Instant;

use hourglass::data::{self, LoadOptions, Scaling, Split, dataset::epoch_order};
use hourglass::device::{Backend, in_pool, rows_tensor, to_vec};
use hourglass::model::{ModelConfig, Network, OutputActivation};
use hourglass::tasks::codec;
use hourglass::tasks::pca::mse;
use hourglass::train::TrainOptions;
use hourglass::train::step::{Batch, Stepper};

struct Args {
    model: String,
    steps: usize,
    warmup: usize,
    infer_seconds: f64,
    infer_batches: Vec<usize>,
    data: String,
    seed: u64,
    backend: Backend,
}

fn parse_args() -> Args {
    let mut args = Args {
        model: "dense".into(),
        steps: 100,
        warmup: 10,
        infer_seconds: 2.0,
        infer_batches: vec![1, 64, 1024],
        data: "/usr/share/datasets/fashion-mnist".into(),
        seed: 1,
        backend: Backend::Cpu,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--model" => args.model = value(),
            "--steps" => args.steps = value().parse().expect("--steps N"),
            "--warmup" => args.warmup = value().parse().expect("--warmup N"),
            "--infer-seconds" => args.infer_seconds = value().parse().expect("--infer-seconds X"),
            "--infer-batches" => {
                args.infer_batches = value()
                    .split(",")
                    .map(|b| b.parse().expect("--infer-batches N,N,..."))
                    .collect()
            }
            "--data" => args.data = value(),
            "--seed" => args.seed = value().parse().expect("--seed N"),
            "--device" => args.backend = value().parse().expect("--device cpu|gpu"),
            "--bench" => {} // cargo bench passes this
            other => panic!("unknown argument {other}"),
        }
    }
    args
}

fn load(dir: &str, split: Split) -> Vec<f32> {
    let options = LoadOptions {
        split: Some(split),
        ..LoadOptions::default()
    };
    let data = data::load(Path::new(dir), &options).expect("Fashion-MNIST loads");
    Scaling::Pixels { max: 255.0 }.scaled(&data)
}

fn config(model: &str) -> ModelConfig {
    let mut config = match model {
        "dense" => ModelConfig::dense(32),
        "conv2d" => ModelConfig::conv2d(16),
        "vae" => ModelConfig::dense(32).variational(1.0),
        // Each image read as a series of 784 steps: one window per sample.
        "conv1d" => ModelConfig::conv1d(16, D, D),
        other => panic!("unknown model {other}"),
    };
    config.output = OutputActivation::Sigmoid;
    config
}

fn options(seed: u64) -> TrainOptions {
    TrainOptions {
        batch_size: 256,
        learning_rate: 1e-3,
        seed,
        ..TrainOptions::default()
    }
}

const D: usize = 784;

/// What a sample looks like to the model: a 28×28 image, or for conv1d a 784-step series.
fn shape(model: &str) -> data::SampleShape {
    match model {
        "conv1d" => data::SampleShape::tabular(D),
        _ => data::SampleShape::image(1, 28, 28),
    }
}

/// Times optimizer steps over consecutive batches of 256; milliseconds per step.
fn train_steps(stepper: &mut Stepper, train: &[f32], batches: usize) -> Vec<f64> {
    (0..batches)
        .map(|i| {
            let start = (i * 256) % 59_904;
            let rows = train[start * D..(start + 256) * D].to_vec();
            let t = Instant::now();
            stepper.step(Batch::plain(rows));
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect()
}

/// Samples per second of encode + reconstruct, host buffer in and out, through the library's
/// batch inference (`tasks::codec`), the batches run inside rayon's pool as the library runs a
/// data set's batches.
fn inference(
    network: &Network,
    test: &[f32],
    batch: usize,
    min_seconds: f64,
    backend: Backend,
) -> f64 {
    let device = backend.device().unwrap();
    in_pool(|| {
        let (mut done, start) = (0usize, Instant::now());
        loop {
            let from = done % 8192;
            let rows = &test[from * D..(from + batch) * D];
            std::hint::black_box(codec::reconstruct_rows(network, rows, D, &device));
            done += batch;
            if start.elapsed().as_secs_f64() >= min_seconds && done >= batch * 3 {
                break;
            }
        }
        done as f64 / start.elapsed().as_secs_f64()
    })
}

fn one_epoch_mse(args: &Args, train: &[f32], test: &[f32]) -> f64 {
    let mut stepper = Stepper::new(
        &config(&args.model),
        shape(&args.model),
        &options(args.seed),
        args.backend,
    )
    .expect("model builds");
    for batch in epoch_order(train.len() / D, args.seed, 1).chunks(256) {
        let mut rows = Vec::with_capacity(batch.len() * D);
        for &i in batch {
            rows.extend_from_slice(&train[i * D..(i + 1) * D]);
        }
        stepper.step(Batch::plain(rows));
    }
    let network = stepper.inference_network();
    let device = args.backend.device().unwrap();
    let recon = to_vec(network.reconstruct(rows_tensor(test.to_vec(), D, &device), None));
    mse(test, &recon)
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn main() {
    let args = parse_args();
    let (train, test) = (
        load(&args.data, Split::Train),
        load(&args.data, Split::Test),
    );
    let mut stepper = Stepper::new(
        &config(&args.model),
        shape(&args.model),
        &options(args.seed),
        args.backend,
    )
    .expect("model builds");
    train_steps(&mut stepper, &train, args.warmup);
    let step_ms = median(train_steps(&mut stepper, &train, args.steps));
    let network = stepper.inference_network();
    let infer: Vec<String> = args
        .infer_batches
        .iter()
        .map(|&b| {
            let sps = inference(&network, &test, b, args.infer_seconds, args.backend);
            format!("\"{b}\": {sps}")
        })
        .collect();
    let test_mse = one_epoch_mse(&args, &train, &test);
    println!(
        "{{\"impl\": \"hourglass\", \"version\": \"{}\", \"model\": \"{}\", \"threads\": {}, \"step_ms\": {step_ms}, \"infer_sps\": {{{}}}, \"test_mse_1epoch\": {test_mse}, \"peak_rss_mib\": {}}}",
        env!("CARGO_PKG_VERSION"),
        args.model,
        std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all".into()),
        infer.join(", "),
        peak_rss_mib()
    );
}
