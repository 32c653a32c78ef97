//! Training on data read a block at a time (`--stream`): the same quality as training in memory,
//! the same model from the same seed. (That memory stays flat as the data grows is measured by
//! `bench/scale.sh`, BENCHMARKS.md.)

mod common;

use hourglass::data::{LoadOptions, npy, stream};
use hourglass::device::Device;
use hourglass::model::ModelConfig;
use hourglass::tasks::eval;
use hourglass::train::{self, stream::Streaming};

use common::{quick, quiet, scratch, shipped, small_dense};

#[test]
fn streamed_training_repeats_and_matches_in_memory_test_mse() {
    let _lock = common::exclusive();
    let dir = scratch("stream");
    let data = shipped(8000);
    let path = dir.join("train.npy");
    npy::write(&path, &data.values, &[8000, 28, 28]).unwrap();
    let held_out = shipped(10_000).select(&(8000..10_000).collect::<Vec<_>>());
    let options = quick(6);
    let config = small_dense();
    let device = Device::flex();

    let in_memory = train::train(&data, &config, &options, &quiet()).unwrap();
    let memory_mse = eval::evaluate(&in_memory, &held_out, &device).unwrap().mse;
    // A shuffle buffer of 1 MiB: about one block (1,337 of the 8,000 images) per window, so batches mix the
    // rows of one block at a time, in a seeded block order.
    let streamed = || {
        let mut source = stream::open(&path, &LoadOptions::default()).unwrap();
        let streaming = Streaming {
            class: None,
            shuffle_bytes: 1 << 20,
        };
        train::stream::train(source.as_mut(), streaming, &config, &options, &quiet()).unwrap()
    };
    let first = streamed();
    let second = streamed();
    assert_eq!(first.weights(), second.weights(), "a seeded run repeats");
    assert_eq!(first.detector, second.detector);
    let summary = &first.summary;
    assert_eq!(summary.train_samples + summary.val_samples, 8000);
    assert!((1450..1750).contains(&summary.val_samples), "{summary:?}");
    let streamed_mse = eval::evaluate(&first, &held_out, &device).unwrap().mse;
    let gap = (streamed_mse - memory_mse).abs() / memory_mse;
    eprintln!("test MSE streamed {streamed_mse:.5}, in memory {memory_mse:.5}");
    assert!(
        gap < 0.02,
        "test MSE streamed {streamed_mse} vs in memory {memory_mse}: {:.1} % apart",
        100.0 * gap
    );
}

#[test]
fn streamed_one_class_training_takes_only_that_class_from_parquet_row_groups() {
    use hourglass::data::table::{self, Column};
    use std::sync::Arc;
    let _lock = common::exclusive();
    let dir = scratch("stream-parquet").join("parts");
    std::fs::create_dir_all(&dir).unwrap();
    let data = shipped(1200);
    let labels = data.labels.clone().unwrap();
    // Three part files of 400 rows, 16 pixel columns each, one with a null, and the label.
    for part in 0..3 {
        let rows = part * 400..(part + 1) * 400;
        let mut columns: Vec<Column> = (0..16)
            .map(|j| {
                let values = rows.clone().map(|i| {
                    let v = data.values[i * 784 + 300 + j];
                    (part != 1 || i != 500 || j != 3).then_some(f64::from(v))
                });
                Column::new(
                    format!("p{j}"),
                    Arc::new(arrow_array::Float64Array::from_iter(values)),
                )
            })
            .collect();
        columns.push(Column::new(
            "label",
            Arc::new(arrow_array::Int64Array::from_iter_values(
                rows.map(|i| i64::from(labels[i])),
            )),
        ));
        table::write_parquet(&dir.join(format!("part-{part}.parquet")), &columns).unwrap();
    }
    let options = LoadOptions {
        label_column: Some("label".into()),
        ..Default::default()
    };
    let mut source = stream::open(&dir, &options).unwrap();
    assert_eq!((source.len(), source.blocks()), (1200, 3));
    let streaming = Streaming {
        class: Some(7),
        ..Default::default()
    };
    let model = train::stream::train(
        source.as_mut(),
        streaming,
        &ModelConfig::dense(4),
        &quick(2),
        &quiet(),
    )
    .unwrap();
    let sevens = labels.iter().filter(|&&l| l == 7).count();
    let summary = &model.summary;
    assert_eq!(summary.train_samples + summary.val_samples, sevens);
    assert_eq!(
        model.columns.as_deref().map(<[String]>::len),
        Some(16),
        "the column names are kept"
    );
}
