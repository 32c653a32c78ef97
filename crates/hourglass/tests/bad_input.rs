//! Bad input gets an error that names the file and the problem, never a panic.

mod common;

use std::path::Path;

use hourglass::artifact::TrainedModel;
use hourglass::data::{self, LoadOptions};
use hourglass::device::Device;
use hourglass::model::ModelConfig;
use hourglass::train;

use common::{quick, quiet, scratch, shipped};

fn load_error(path: &Path) -> String {
    data::load(path, &LoadOptions::default())
        .err()
        .unwrap_or_else(|| panic!("{} should not load", path.display()))
        .to_string()
}

fn assert_names(message: &str, path: &Path, problem: &str) {
    assert!(
        message.contains(&path.display().to_string()),
        "error should name {}: {message}",
        path.display()
    );
    assert!(
        message.contains(problem),
        "error should say {problem:?}: {message}"
    );
}

#[test]
fn idx_truncated_or_with_wrong_magic() {
    let dir = scratch("idx");
    let mut good = vec![0u8, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2];
    good.extend([0u8; 8]);
    let truncated = dir.join("train-images-idx3-ubyte");
    std::fs::write(&truncated, &good[..good.len() - 3]).unwrap();
    assert_names(&load_error(&truncated), &truncated, "truncated");

    let wrong = dir.join("wrong-images-idx3-ubyte");
    let mut bytes = good.clone();
    bytes[0] = 0x50;
    std::fs::write(&wrong, &bytes).unwrap();
    assert_names(&load_error(&wrong), &wrong, "not an IDX file");

    let gz = dir.join("broken.idx.gz");
    std::fs::write(&gz, [0x1f, 0x8b, 8, 0, 1, 2, 3]).unwrap();
    assert_names(&load_error(&gz), &gz, "gzip");
}

#[test]
fn csv_ragged_or_not_numeric() {
    let dir = scratch("csv");
    let ragged = dir.join("ragged.csv");
    std::fs::write(&ragged, "a,b,c\n1,2,3\n4,5\n").unwrap();
    assert_names(&load_error(&ragged), &ragged, "ragged");

    let words = dir.join("words.csv");
    std::fs::write(&words, "a,b\n1,2\n3,apple\n").unwrap();
    let message = load_error(&words);
    assert_names(&message, &words, "not a number");
    assert!(message.contains("line 3, column \"b\""), "{message}");

    // An infinity, typed or overflowing f32, is named by line and column when the file is read.
    let infinite = dir.join("infinite.csv");
    std::fs::write(&infinite, "a,b\n1,2\n3,1e39\n").unwrap();
    let message = load_error(&infinite);
    assert_names(
        &message,
        &infinite,
        "line 3, column \"b\": \"1e39\" is infinite",
    );

    let empty = dir.join("empty.csv");
    std::fs::write(&empty, "").unwrap();
    assert_names(&load_error(&empty), &empty, "empty");
}

#[test]
fn npy_of_an_unsupported_dtype() {
    let dir = scratch("npy");
    let path = dir.join("complex.npy");
    // A valid .npy header for 2 complex64 values.
    let header = "{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }";
    let mut padded = header.to_string();
    while !(10 + padded.len() + 1).is_multiple_of(64) {
        padded.push(' ');
    }
    padded.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((padded.len() as u16).to_le_bytes());
    bytes.extend(padded.as_bytes());
    bytes.extend([0u8; 16]);
    std::fs::write(&path, bytes).unwrap();
    assert_names(&load_error(&path), &path, "unsupported .npy dtype <c8");
}

#[test]
fn a_missing_file() {
    let path = Path::new("/nonexistent/hourglass/data.csv");
    assert_names(&load_error(path), path, "no such file");
    let err = TrainedModel::load(path, &Device::flex()).err().unwrap();
    assert_names(&err.to_string(), path, "No such file");
}

#[test]
fn a_model_file_that_is_not_ours() {
    let dir = scratch("notours");
    let garbage = dir.join("garbage.safetensors");
    std::fs::write(&garbage, b"definitely not a model").unwrap();
    let err = TrainedModel::load(&garbage, &Device::flex()).err().unwrap();
    assert_names(&err.to_string(), &garbage, "not an hourglass model file");

    // A real safetensors file, but from somewhere else.
    let foreign = dir.join("foreign.safetensors");
    let data = [0u8; 8];
    let view =
        safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![2], &data).unwrap();
    std::fs::write(
        &foreign,
        safetensors::serialize([("w", view)], None).unwrap(),
    )
    .unwrap();
    let err = TrainedModel::load(&foreign, &Device::flex()).err().unwrap();
    assert_names(&err.to_string(), &foreign, "not an hourglass model file");
}

#[test]
fn data_whose_shape_does_not_match_the_model() {
    let _lock = common::exclusive();
    let dir = scratch("shape");
    let model = train::train(&shipped(300), &ModelConfig::dense(4), &quick(1), &quiet()).unwrap();
    let table = dir.join("table.csv");
    std::fs::write(&table, "1,2,3\n4,5,6\n").unwrap();
    let data = data::load(&table, &LoadOptions::default()).unwrap();
    let err = model.check_data(&data, &table).err().unwrap().to_string();
    assert_names(&err, &table, "3 columns");
    assert!(err.contains("1×28×28"), "{err}");
}

#[test]
fn training_masks_missing_values_but_refuses_infinities_and_bad_options() {
    let _lock = common::exclusive();
    let dir = scratch("nan");
    let table = dir.join("gaps.csv");
    std::fs::write(&table, "x,y\n1,2\n3,\n5,6\n7,NaN\n").unwrap();
    let gappy = data::load(&table, &LoadOptions::default()).unwrap();
    let mut options = quick(1);
    options.val_split = 0.0;
    // Gaps are masked out of the loss: training works, and the model fills them.
    let model = train::train(&gappy, &ModelConfig::dense(1), &options, &quiet()).unwrap();
    let err = model
        .check_complete(&gappy, &table)
        .unwrap_err()
        .to_string();
    assert_names(&err, &table, "missing");

    let infinite = dir.join("infinite.csv");
    std::fs::write(&infinite, "x,y\n1,2\n3,inf\n").unwrap();
    assert_names(&load_error(&infinite), &infinite, "line 3, column \"y\"");
    // Arrays handed over in memory (NPY, Python) are checked again by training.
    let mut data = gappy.clone();
    data.values[1] = f32::INFINITY;
    let err = train::train(&data, &ModelConfig::dense(1), &options, &quiet()).unwrap_err();
    assert!(err.to_string().contains("infinite"), "{err}");

    let mut bce_on_table = options.clone();
    bce_on_table.loss = hourglass::train::LossKind::Bce;
    let err = train::train(&gappy, &ModelConfig::dense(1), &bce_on_table, &quiet()).unwrap_err();
    assert!(err.to_string().contains("cross-entropy"), "{err}");
    let err = train::train(&gappy, &ModelConfig::conv2d(2), &options, &quiet()).unwrap_err();
    assert!(err.to_string().contains("conv2d needs images"), "{err}");

    // Options that make no sense are refused before any work.
    let dense = ModelConfig::dense(1);
    let refused = |change: &dyn Fn(&mut hourglass::train::TrainOptions), what: &str| {
        let mut bad = options.clone();
        change(&mut bad);
        let err = train::train(&gappy, &dense, &bad, &quiet()).unwrap_err();
        assert!(err.to_string().contains(what), "{what}: {err}");
    };
    refused(&|o| o.epochs = 0, "epochs");
    refused(&|o| o.weight_decay = f64::NAN, "weight decay");
    refused(&|o| o.weight_decay = -0.1, "weight decay");
    refused(
        &|o| o.optimizer = hourglass::train::OptimizerKind::Sgd { momentum: f64::NAN },
        "momentum",
    );
    // A mistyped checkpoint with --resume is an error, not a fresh start.
    let resume = hourglass::train::RunSettings {
        resume: true,
        checkpoint: Some(dir.join("no-such.checkpoint")),
        ..quiet()
    };
    let err = train::train(&gappy, &dense, &options, &resume).unwrap_err();
    assert!(err.to_string().contains("no checkpoint"), "{err}");
}

#[test]
fn training_that_diverges_fails_and_a_damaged_model_is_refused() {
    let _lock = common::exclusive();
    let images = shipped(300);
    let mut options = quick(2);
    options.optimizer = hourglass::train::OptimizerKind::Sgd { momentum: 0.0 };
    options.learning_rate = 1e30;
    let err = train::train(&images, &ModelConfig::dense(4), &options, &quiet()).unwrap_err();
    assert!(err.to_string().contains("learning rate"), "{err}");

    // A saved model with one flipped byte in its weights fails its checksum.
    let model = train::train(&images, &ModelConfig::dense(4), &quick(1), &quiet()).unwrap();
    let path = scratch("damaged-model").join("m.safetensors");
    model.save(&path).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 3;
    bytes[last] ^= 0x10;
    std::fs::write(&path, &bytes).unwrap();
    let err = load_model_error(&path);
    assert_names(&err, &path, "checksum mismatch");

    // Without a checksum (a file from before checksums, or one rewritten by hand), each tensor
    // is still checked before use: a NaN, a float64 weight, a short baseline, a missing weight.
    let cases: [(&str, &str, Edit); 4] = [
        ("encoder.0.weight", "not finite", |_, data| {
            data[..4].copy_from_slice(&f32::NAN.to_le_bytes());
        }),
        ("encoder.0.weight", "F64", |dtype, _| {
            *dtype = safetensors::Dtype::F64;
        }),
        ("baseline.mean", "needs f32 of [784]", |_, data| {
            data.truncate(8)
        }),
        ("decoder.0.bias", "is missing", |_, data| data.clear()),
    ];
    for (tensor, problem, edit) in cases {
        model.save(&path).unwrap();
        rewrite_without_checksum(&path, tensor, edit);
        let err = load_model_error(&path);
        assert_names(&err, &path, problem);
        assert!(err.contains(tensor), "{err}");
    }

    // A config that describes an empty input or a network far larger than the file is refused
    // before the network is built (building it would allocate every weight first).
    let metadata_cases: [(&str, &str, &str); 3] = [
        (
            "input_shape",
            r#"{"channels":0,"height":28,"width":28}"#,
            "hold no values",
        ),
        (
            "config",
            r#"{"architecture":{"kind":"dense","hidden":[20000,20000]},"latent":4}"#,
            "more than the file's",
        ),
        (
            "config",
            r#"{"architecture":{"kind":"dense","hidden":[65536,65536]},"latent":4}"#,
            "weights",
        ),
    ];
    for (key, value, problem) in metadata_cases {
        model.save(&path).unwrap();
        rewrite_metadata_without_checksum(&path, key, value);
        assert_names(&load_model_error(&path), &path, problem);
    }
}

#[test]
fn a_conv2d_models_feature_maps_are_checked_when_read() {
    let _lock = common::exclusive();
    let images = shipped(200);
    let model = train::train(&images, &ModelConfig::conv2d(4), &quick(1), &quiet()).unwrap();
    assert!(model.detector.features.is_some());
    let path = scratch("feature-maps").join("m.safetensors");
    // Each part of the index is checked (shape, dtype, values), and the default score cannot
    // lose its reference without the file being refused.
    let cases: [(&str, &str, Edit); 4] = [
        (
            "anomaly.features.0.components",
            "not shaped for feature maps",
            |_, data| data.truncate(40),
        ),
        ("anomaly.features.0.reference", "not finite", |_, data| {
            data[4..8].copy_from_slice(&f32::INFINITY.to_le_bytes());
        }),
        ("anomaly.features.0.mean", "is missing", |_, data| {
            data.clear()
        }),
        ("anomaly.features.0.reference", "F64", |dtype, _| {
            *dtype = safetensors::Dtype::F64;
        }),
    ];
    for (tensor, problem, edit) in cases {
        model.save(&path).unwrap();
        rewrite_without_checksum(&path, tensor, edit);
        let err = load_model_error(&path);
        assert_names(&err, &path, problem);
    }
    // All three gone: the file is refused, since `features` is its default score.
    model.save(&path).unwrap();
    for part in ["mean", "components", "reference"] {
        rewrite_without_checksum(&path, &format!("anomaly.features.0.{part}"), |_, d| {
            d.clear()
        });
    }
    assert_names(&load_model_error(&path), &path, "feature maps");
}

/// Rewrites a model file with metadata `key` set to `value` and the checksum left out.
fn rewrite_metadata_without_checksum(path: &Path, key: &str, value: &str) {
    use safetensors::SafeTensors;
    let bytes = std::fs::read(path).unwrap();
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    let mut metadata = header.metadata().clone().unwrap();
    metadata.remove("hourglass.sha256");
    metadata.insert(key.to_string(), value.to_string());
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let tensors = file.tensors();
    std::fs::write(
        path,
        safetensors::serialize(tensors, Some(metadata)).unwrap(),
    )
    .unwrap();
}

type Edit = fn(&mut safetensors::Dtype, &mut Vec<u8>);

fn load_model_error(path: &Path) -> String {
    TrainedModel::load(path, &Device::flex())
        .err()
        .unwrap_or_else(|| panic!("{} should not load", path.display()))
        .to_string()
}

/// Rewrites a model file with `tensor` edited (its dtype and bytes; its shape follows from the
/// bytes when their count changes, and no bytes at all drops it) and the checksum left out.
fn rewrite_without_checksum(path: &Path, tensor: &str, edit: Edit) {
    use safetensors::SafeTensors;
    let bytes = std::fs::read(path).unwrap();
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    let mut metadata = header.metadata().clone().unwrap();
    metadata.remove("hourglass.sha256");
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let mut owned = Vec::new();
    for (name, view) in file.tensors() {
        let (mut dtype, mut data, mut shape) =
            (view.dtype(), view.data().to_vec(), view.shape().to_vec());
        if name == tensor {
            let before = data.len();
            edit(&mut dtype, &mut data);
            if data.is_empty() {
                continue;
            }
            if data.len() != before || dtype != view.dtype() {
                shape = vec![data.len() * 8 / dtype.bitsize()];
            }
        }
        owned.push((name, dtype, shape, data));
    }
    let views: Vec<_> = owned
        .iter()
        .map(|(name, dtype, shape, data)| {
            let view = safetensors::tensor::TensorView::new(*dtype, shape.clone(), data).unwrap();
            (name.clone(), view)
        })
        .collect();
    std::fs::write(path, safetensors::serialize(views, Some(metadata)).unwrap()).unwrap();
}

#[test]
fn sizes_from_headers_and_values_are_checked_before_allocating() {
    let _lock = common::exclusive();
    let dir = scratch("bombs");
    // 64 MiB of zeros gzipped to ~64 KB: a 1000:1 bomb, refused at the inflate cap.
    let bomb = dir.join("bomb.csv.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut gz, &vec![b'0'; 64 << 20]).unwrap();
    std::fs::write(&bomb, gz.finish().unwrap()).unwrap();
    assert_names(&load_error(&bomb), &bomb, "decompression bomb");

    // A label far out of range would make a conditional model's one-hot rows billions wide.
    let mut labelled = shipped(100);
    let mut labels = labelled.labels.clone().unwrap();
    labels[7] = 4_000_000_000;
    labelled.labels = Some(labels);
    let config = ModelConfig::dense(4).conditional(4_000_000_001);
    let err = train::train(&labelled, &config, &quick(1), &quiet()).unwrap_err();
    assert!(err.to_string().contains("class indices 0 to 9999"), "{err}");

    // Drawing a billion samples is refused before any is decoded.
    let mut vae = ModelConfig::dense(4);
    vae.beta = Some(1.0);
    let model = train::train(&shipped(100), &vae, &quick(1), &quiet()).unwrap();
    let err = hourglass::tasks::generate::sample(&model, 1_000_000_000, None, 1, &Device::flex())
        .unwrap_err();
    assert!(
        err.to_string().contains("cannot draw 1000000000 samples"),
        "{err}"
    );
}
