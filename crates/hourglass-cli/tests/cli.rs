//! The `hourglass` binary end to end: each command works on the shipped sample, and bad input
//! gets one line of error and a non-zero exit, never a panic.

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn hourglass(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hourglass"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn shipped() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/fashion-mnist/t10k-images-idx3-ubyte.gz")
        .display()
        .to_string()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hourglass-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The shipped cardio table (21 measurements and an `anomaly` label).
fn cardio_csv() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/cardio/cardio.csv")
}

/// [`cardio_csv`] read as the CLI reads it, `anomaly` as the label.
fn cardio_rows() -> hourglass::data::Dataset {
    let options = hourglass::data::LoadOptions {
        label_column: Some("anomaly".into()),
        ..Default::default()
    };
    hourglass::data::load(&cardio_csv(), &options).unwrap()
}

/// Rows `range` of a labelled table as a data lake holds them: the measurements as doubles, then
/// the label as an int64 `anomaly` column.
fn parquet_columns(
    rows: &hourglass::data::Dataset,
    range: std::ops::Range<usize>,
) -> Vec<hourglass::data::table::Column> {
    use hourglass::data::table::Column;
    use std::sync::Arc;
    let d = rows.shape.features();
    let mut columns: Vec<Column> = rows
        .columns
        .as_ref()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(j, name)| {
            let values = range.clone().map(|i| f64::from(rows.values[i * d + j]));
            Column::new(
                name.clone(),
                Arc::new(arrow_array::Float64Array::from_iter_values(values)),
            )
        })
        .collect();
    let labels = rows.labels.as_ref().unwrap();
    let labels = range.map(|i| i64::from(labels[i]));
    columns.push(Column::new(
        "anomaly",
        Arc::new(arrow_array::Int64Array::from_iter_values(labels)),
    ));
    columns
}

/// Runs a command that must succeed and print JSON; returns the JSON.
fn json_of(args: &[&str]) -> serde_json::Value {
    let out = hourglass(args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A failed command: exit 1, one line on stderr starting with "error:", naming `what`.
fn assert_clean_failure(output: &Output, what: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains(what), "should mention {what:?}: {stderr}");
    assert!(!stderr.contains("panick"), "{stderr}");
}

#[test]
fn train_eval_reconstruct_encode_decode_on_the_shipped_sample() {
    let dir = scratch("flow");
    let model = dir.join("m.safetensors");
    let out = hourglass(&[
        "train",
        "--data",
        &shipped(),
        "--model",
        "dense",
        "--latent",
        "8",
        "--hidden",
        "64",
        "--epochs",
        "2",
        "--out",
        s(&model),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        model.exists() && dir.join("m.log.jsonl").exists() && dir.join("m.checkpoint").exists()
    );

    let out = hourglass(&["eval", "--model", s(&model), "--data", &shipped(), "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in ["mse", "pca_mse", "mean_mse"] {
        assert!(report[key].as_f64().unwrap() > 0.0, "{report}");
    }
    assert_eq!(report["n"], 10000);
    assert!(report["mse"].as_f64() < report["mean_mse"].as_f64());

    let grid = dir.join("grid.png");
    let out = hourglass(&[
        "reconstruct",
        "--model",
        s(&model),
        "--data",
        &shipped(),
        "--out",
        s(&grid),
        "--n",
        "8",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let picture = image_size(&grid);
    assert!(
        picture.0 > picture.1,
        "8 tiles side by side, two rows: {picture:?}"
    );

    let codes = dir.join("codes.csv");
    let out = hourglass(&[
        "encode",
        "--model",
        s(&model),
        "--data",
        &shipped(),
        "--out",
        s(&codes),
        "--with-labels",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&codes).unwrap();
    assert!(text.starts_with("z0,z1,z2,z3,z4,z5,z6,z7,label\n"));
    assert_eq!(text.lines().count(), 10001);

    let decoded = dir.join("decoded.npy");
    let out = hourglass(&[
        "decode",
        "--model",
        s(&model),
        "--latents",
        s(&codes),
        "--out",
        s(&decoded),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let npy = std::fs::read(&decoded).unwrap();
    assert!(String::from_utf8_lossy(&npy[..128]).contains("(10000, 1, 28, 28)"));

    // ONNX export (onnxruntime parity is checked in the Python suite): each output writes a file
    // that says what it takes and gives; an unknown output is refused and writes nothing.
    for output in ["score", "encode", "reconstruct"] {
        let onnx = dir.join(format!("{output}.onnx"));
        let out = hourglass(&[
            "export",
            "--model",
            s(&model),
            "--out",
            s(&onnx),
            "--output",
            output,
        ]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("rows of 784 values in"), "{stdout}");
        // The encoder's first layer alone is 784 × 64 floats.
        assert!(std::fs::metadata(&onnx).unwrap().len() > 784 * 64 * 4);
    }
    let onnx = dir.join("x.onnx");
    assert_clean_failure(
        &hourglass(&[
            "export",
            "--model",
            s(&model),
            "--out",
            s(&onnx),
            "--output",
            "logits",
        ]),
        "unknown ONNX output",
    );
    assert!(!onnx.exists());
}

#[test]
fn one_class_training_and_anomaly_scores_with_a_histogram() {
    let dir = scratch("score");
    let model = dir.join("trousers.safetensors");
    let out = hourglass(&[
        "train",
        "--data",
        &shipped(),
        "--class",
        "1",
        "--latent",
        "8",
        "--hidden",
        "64",
        "--epochs",
        "5",
        "--out",
        s(&model),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (scores, plot) = (dir.join("scores.csv"), dir.join("hist.png"));
    let out = hourglass(&[
        "score",
        "--model",
        s(&model),
        "--data",
        &shipped(),
        "--normal-class",
        "1",
        "--out",
        s(&scores),
        "--plot",
        s(&plot),
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["auroc"].as_f64().unwrap() > 0.8, "{report}");
    let text = std::fs::read_to_string(&scores).unwrap();
    assert!(text.starts_with("index,score,flagged,label\n"));
    assert_eq!(text.lines().count(), 10_001);
    assert!(image_size(&plot).0 > 0);

    // --normal-class needs labels; images decoded to .npy have none.
    let (codes, images) = (dir.join("codes.npy"), dir.join("images.npy"));
    let out = hourglass(&[
        "encode",
        "--model",
        s(&model),
        "--data",
        &shipped(),
        "--out",
        s(&codes),
    ]);
    assert!(out.status.success());
    let out = hourglass(&[
        "decode",
        "--model",
        s(&model),
        "--latents",
        s(&codes),
        "--out",
        s(&images),
    ]);
    assert!(out.status.success());
    assert_clean_failure(
        &hourglass(&[
            "score",
            "--model",
            s(&model),
            "--data",
            s(&images),
            "--normal-class",
            "1",
            "--out",
            s(&scores),
        ]),
        "needs labels",
    );
    // A threshold that is no percentile is a usage error (clap's exit code 2), naming the value.
    let out = hourglass(&[
        "score",
        "--model",
        s(&model),
        "--data",
        &shipped(),
        "--threshold",
        "p150",
        "--out",
        s(&scores),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("p150"));
}

#[test]
fn a_table_is_scored_with_its_default_recipe_threshold_and_explanations() {
    let dir = scratch("table-score");
    let cardio = cardio_csv();
    let (model, scores) = (dir.join("cardio.safetensors"), dir.join("scores.csv"));
    // No sizes given: the table recipe picks them (21 columns → a code of 3).
    let out = hourglass(&[
        "train",
        "--data",
        s(&cardio),
        "--label-column",
        "anomaly",
        "--out",
        s(&model),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("21 columns → 3 → 21 columns"));
    let score = |extra: &[&str]| {
        let mut args = vec![
            "score",
            "--model",
            s(&model),
            "--data",
            s(&cardio),
            "--label-column",
            "anomaly",
            "--normal-class",
            "0",
            "--out",
            s(&scores),
            "--json",
        ];
        args.extend_from_slice(extra);
        let out = hourglass(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let report = score(&[]);
    assert_eq!(report["score"], "knn", "{report}");
    assert!(report["auroc"].as_f64().unwrap() > 0.9, "{report}");
    assert!(
        report["threshold_rule"]
            .as_str()
            .unwrap()
            .starts_with("auto")
    );
    let share = report["train_fraction_flagged"].as_f64().unwrap();
    assert!(share > 0.0 && share < 0.2, "{report}");
    // Flagged rows come with the columns behind them, names from the header.
    let rows = report["flagged_rows"].as_array().unwrap();
    assert!(!rows.is_empty() && rows.len() <= 100);
    let first = &rows[0]["top_columns"][0];
    assert!(
        first["column"]
            .as_str()
            .unwrap()
            .chars()
            .all(|c| c.is_ascii_alphanumeric())
    );
    let text = std::fs::read_to_string(&scores).unwrap();
    assert!(text.starts_with("index,score,flagged,label,top_columns\n"));
    for line in text.lines().skip(1) {
        let cells: Vec<&str> = line.split(',').collect();
        // Flagged rows name their columns; the others leave the cell empty.
        assert_eq!(cells[2] == "1", !cells[4].is_empty(), "{line}");
    }

    // PyOD's contamination: the top 5 % of the training scores.
    let report = score(&["--contamination", "0.05"]);
    let share = report["train_fraction_flagged"].as_f64().unwrap();
    assert!((share - 0.05).abs() < 0.002, "{report}");
    // Every score kind is stored in the model.
    for kind in ["mse", "normalized", "mahalanobis", "knn", "combined"] {
        let report = score(&["--score", kind]);
        assert_eq!(report["score"], kind);
        assert!(report["auroc"].as_f64().unwrap() > 0.6, "{kind}: {report}");
    }
    let out = hourglass(&[
        "score",
        "--model",
        s(&model),
        "--data",
        s(&cardio),
        "--label-column",
        "anomaly",
        "--out",
        s(&scores),
        "--score",
        "loudest",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("loudest"));
}

#[test]
fn the_uses_run_end_to_end_on_the_shipped_sample() {
    let dir = scratch("uses");
    let model = dir.join("m.safetensors");
    let out = hourglass(&[
        "train",
        "--data",
        &shipped(),
        "--latent",
        "16",
        "--epochs",
        "10",
        "--noise",
        "gaussian:0.4",
        "--out",
        s(&model),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = |args: &[&str]| {
        let out = hourglass(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };

    let report = run(&[
        "denoise",
        "--model",
        s(&model),
        "--data",
        &shipped(),
        "--noise",
        "gaussian:0.4",
        "--out",
        s(&dir.join("d.png")),
        "--json",
    ]);
    assert!(
        report["denoised_psnr_db"].as_f64() > report["noisy_psnr_db"].as_f64(),
        "{report}"
    );

    let hgz = dir.join("x.hgz");
    let report = run(&[
        "compress",
        "--model",
        s(&model),
        "--data",
        &shipped(),
        "--out",
        s(&hgz),
        "--json",
    ]);
    assert!(report["ratio_vs_gzip"].as_f64().unwrap() > 5.0, "{report}");
    let restored = dir.join("restored.npy");
    let out = hourglass(&[
        "decompress",
        "--model",
        s(&model),
        "--in",
        s(&hgz),
        "--out",
        s(&restored),
    ]);
    assert!(out.status.success());
    let mut bytes = std::fs::read(&hgz).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    let damaged = dir.join("damaged.hgz");
    std::fs::write(&damaged, bytes).unwrap();
    assert_clean_failure(
        &hourglass(&[
            "decompress",
            "--model",
            s(&model),
            "--in",
            s(&damaged),
            "--out",
            s(&dir.join("never.npy")),
        ]),
        "checksum",
    );
    assert!(!dir.join("never.npy").exists());

    let report = run(&[
        "inpaint",
        "--model",
        s(&model),
        "--data",
        &shipped(),
        "--mask",
        "8,8,12,12",
        "--out",
        s(&dir.join("i.png")),
        "--json",
    ]);
    assert!(
        report["region_mse"].as_f64() < report["mean_image_mse"].as_f64(),
        "{report}"
    );

    let report = run(&[
        "label",
        "--model",
        s(&model),
        "--data",
        &shipped(),
        "--known",
        "100",
        "--json",
    ]);
    assert!(
        report["latent_accuracy"].as_f64().unwrap() > 0.4,
        "{report}"
    );

    // Imputation on the shipped wine table with gaps punched into it.
    let wine = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/wine/wine.csv");
    let text = std::fs::read_to_string(wine).unwrap();
    let mut lines = text.lines();
    let mut gappy = vec![lines.next().unwrap().to_string()];
    for (i, line) in lines.enumerate() {
        let mut cells: Vec<&str> = line.split(',').collect();
        cells[i % 13] = "";
        gappy.push(cells.join(","));
    }
    let (table, wine_model, filled) = (
        dir.join("gappy.csv"),
        dir.join("wine.safetensors"),
        dir.join("filled.csv"),
    );
    std::fs::write(&table, gappy.join("\n")).unwrap();
    let out = hourglass(&[
        "train",
        "--data",
        s(&table),
        "--label-column",
        "target",
        "--latent",
        "4",
        "--hidden",
        "16",
        "--epochs",
        "20",
        "--val-split",
        "0",
        "--noise",
        "masking:0.2",
        "--out",
        s(&wine_model),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_clean_failure(
        &hourglass(&[
            "eval",
            "--model",
            s(&wine_model),
            "--data",
            s(&table),
            "--label-column",
            "target",
        ]),
        "impute",
    );
    let out = hourglass(&[
        "impute",
        "--model",
        s(&wine_model),
        "--data",
        s(&table),
        "--label-column",
        "target",
        "--out",
        s(&filled),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let filled = std::fs::read_to_string(filled).unwrap();
    assert!(filled.starts_with("alcohol,malic_acid,"));
    assert_eq!(filled.lines().count(), 179);
    assert!(!filled.contains(",,") && !filled.contains("NaN"));
}

#[test]
fn pictures_of_training_and_of_the_latent_space() {
    let dir = scratch("pictures");
    let model = dir.join("m.safetensors");
    let out = hourglass(&[
        "train",
        "--data",
        &shipped(),
        "--latent",
        "2",
        "--hidden",
        "64",
        "--epochs",
        "3",
        "--out",
        s(&model),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (curves, map, strip) = (
        dir.join("curves.png"),
        dir.join("map.png"),
        dir.join("strip.png"),
    );
    for args in [
        vec![
            "curves",
            "--log",
            s(&dir.join("m.log.jsonl")),
            "--out",
            s(&curves),
        ],
        vec![
            "latent-map",
            "--model",
            s(&model),
            "--data",
            &shipped(),
            "--out",
            s(&map),
            "--n",
            "2000",
        ],
        vec![
            "interpolate",
            "--model",
            s(&model),
            "--data",
            &shipped(),
            "--from",
            "0",
            "--to",
            "5",
            "--steps",
            "8",
            "--out",
            s(&strip),
        ],
    ] {
        let out = hourglass(&args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(image_size(&curves), (900, 560));
    assert_eq!(image_size(&map), (900, 760));
    let (w, h) = image_size(&strip);
    assert!(w > 7 * h, "eight tiles in a row: {w}×{h}");
    assert_clean_failure(
        &hourglass(&[
            "interpolate",
            "--model",
            s(&model),
            "--data",
            &shipped(),
            "--from",
            "0",
            "--to",
            "10000",
            "--out",
            s(&strip),
        ]),
        "sample 10000 does not exist",
    );
}

#[test]
fn an_overcomplete_model_trains_with_a_warning_unless_regularised() {
    let dir = scratch("overcomplete");
    let wine = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/wine/wine.csv");
    let train = |extra: &[&str]| {
        let mut args = vec![
            "train",
            "--data",
            s(&wine),
            "--label-column",
            "target",
            "--latent",
            "20",
            "--hidden",
            "32",
            "--epochs",
            "2",
            "--out",
        ];
        let out_path = dir.join("m.safetensors");
        args.push(s(&out_path));
        args.extend_from_slice(extra);
        let out = hourglass(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    assert!(
        train(&[])
            .contains("warning: the latent size 20 is not smaller than the input (13 values)")
    );
    assert!(!train(&["--noise", "masking:0.3"]).contains("warning"));
}

#[test]
fn conv1d_trains_on_a_csv_series_and_scores_its_windows() {
    let dir = scratch("conv1d");
    let series = dir.join("series.csv");
    let mut text = String::from("load,temperature\n");
    for t in 0..1000 {
        let phase = t as f32 * std::f32::consts::TAU / 48.0;
        text.push_str(&format!("{},{}\n", phase.sin(), 0.5 * phase.cos()));
    }
    std::fs::write(&series, text).unwrap();
    let model = dir.join("c1.safetensors");
    let out = hourglass(&[
        "train",
        "--data",
        s(&series),
        "--model",
        "conv1d",
        "--window",
        "32",
        "--stride",
        "8",
        "--latent",
        "4",
        "--epochs",
        "3",
        "--out",
        s(&model),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let scores = dir.join("scores.csv");
    let out = hourglass(&[
        "score",
        "--model",
        s(&model),
        "--data",
        s(&series),
        "--out",
        s(&scores),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // One score per time step, from the (1000 - 32) / 8 + 1 windows covering them.
    assert_eq!(
        std::fs::read_to_string(&scores).unwrap().lines().count(),
        1 + 1000
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("122 windows of 32 every 8"));

    // With no window given, the model takes one period of the series (48 steps).
    let out = hourglass(&[
        "train",
        "--data",
        s(&series),
        "--model",
        "conv1d",
        "--latent",
        "4",
        "--epochs",
        "2",
        "--out",
        s(&model),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = hourglass(&[
        "score",
        "--model",
        s(&model),
        "--data",
        s(&series),
        "--out",
        s(&scores),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("windows of 48 every 1)"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // Two columns scored jointly; a burst in one of them is flagged and blamed on that column.
    let mut text = String::from("load,temperature\n");
    for t in 0..1000 {
        let phase = t as f32 * std::f32::consts::TAU / 48.0;
        let burst = if (600..610).contains(&t) { 3.0 } else { 0.0 };
        text.push_str(&format!("{},{}\n", phase.sin(), 0.5 * phase.cos() + burst));
    }
    std::fs::write(&series, text).unwrap();
    let out = hourglass(&[
        "train",
        "--data",
        s(&series),
        "--model",
        "conv1d",
        "--latent",
        "4",
        "--epochs",
        "3",
        "--out",
        s(&model),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = hourglass(&[
        "score",
        "--model",
        s(&model),
        "--data",
        s(&series),
        "--out",
        s(&scores),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&scores).unwrap();
    assert!(text.starts_with("index,score,flagged,top_columns\n"));
    let flagged: Vec<Vec<&str>> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|cells| cells[2] == "1")
        .collect();
    let steps: Vec<usize> = flagged.iter().map(|c| c[0].parse().unwrap()).collect();
    assert!((600..610).all(|t| steps.contains(&t)), "{steps:?}");
    assert!(
        flagged.iter().all(|c| c[3].starts_with("temperature")),
        "{text}"
    );
}

#[test]
fn a_conditional_vae_samples_the_class_asked_for() {
    let dir = scratch("cvae");
    let model = dir.join("cvae.safetensors");
    let out = hourglass(&[
        "train",
        "--data",
        &shipped(),
        "--model",
        "cvae",
        "--latent",
        "4",
        "--hidden",
        "64",
        "--epochs",
        "2",
        "--out",
        s(&model),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("dense conditional variational"), "{stdout}");
    let (one, all, strip) = (
        dir.join("one.png"),
        dir.join("all.png"),
        dir.join("strip.png"),
    );
    for args in [
        vec![
            "sample",
            "--model",
            s(&model),
            "--class",
            "3",
            "--n",
            "16",
            "--out",
            s(&one),
        ],
        vec![
            "sample",
            "--model",
            s(&model),
            "--n",
            "20",
            "--out",
            s(&all),
        ],
        // Samples 0 and 1 are an ankle boot and a pullover: the walk changes class on the way.
        vec![
            "interpolate",
            "--model",
            s(&model),
            "--data",
            &shipped(),
            "--from",
            "0",
            "--to",
            "1",
            "--steps",
            "6",
            "--out",
            s(&strip),
        ],
    ] {
        let out = hourglass(&args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Without --class, one code per row decoded as each of the ten classes: ten columns, two rows.
    let (w, h) = image_size(&all);
    assert!(w > 4 * h, "ten tiles by two: {w}×{h}");

    let latents = dir.join("z.csv");
    std::fs::write(&latents, "z0,z1,z2,z3\n0,0,0,0\n").unwrap();
    let decoded = dir.join("d.npy");
    assert_clean_failure(
        &hourglass(&[
            "decode",
            "--model",
            s(&model),
            "--latents",
            s(&latents),
            "--out",
            s(&decoded),
        ]),
        "--class",
    );
    assert!(!decoded.exists());
    let packed = dir.join("x.hgz");
    assert_clean_failure(
        &hourglass(&[
            "compress",
            "--model",
            s(&model),
            "--data",
            &shipped(),
            "--out",
            s(&packed),
        ]),
        "conditional",
    );
    assert!(!packed.exists());
    let onnx = dir.join("cvae.onnx");
    assert_clean_failure(
        &hourglass(&["export", "--model", s(&model), "--out", s(&onnx)]),
        "conditional",
    );
    assert!(!onnx.exists());
    assert_clean_failure(
        &hourglass(&[
            "sample",
            "--model",
            s(&model),
            "--class",
            "10",
            "--out",
            s(&one),
        ]),
        "label 10",
    );
}

fn image_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[1..4], b"PNG");
    let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    (w, h)
}

#[test]
fn bad_input_fails_cleanly() {
    let dir = scratch("bad");
    let missing = dir.join("missing.idx");
    assert_clean_failure(
        &hourglass(&[
            "train",
            "--data",
            s(&missing),
            "--out",
            s(&dir.join("m.safetensors")),
        ]),
        "missing.idx",
    );

    // Outputs: never the input itself, never a device; an I/O error's cause is said once, not
    // once by us and again by the chain of errors.
    let table_in = dir.join("input.csv");
    std::fs::write(&table_in, "a,b,c\n1,2,3\n4,5,6\n7,8,9\n").unwrap();
    let out = hourglass(&[
        "train",
        "--data",
        s(&table_in),
        "--epochs",
        "1",
        "--out",
        "/dev/null/x/m.safetensors",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.matches("os error 20").count(), 1, "{stderr}");
    assert_clean_failure(
        &hourglass(&["train", "--data", s(&table_in), "--out", s(&table_in)]),
        "is the input",
    );
    assert_eq!(
        std::fs::read_to_string(&table_in).unwrap(),
        "a,b,c\n1,2,3\n4,5,6\n7,8,9\n"
    );
    assert_clean_failure(
        &hourglass(&[
            "train",
            "--data",
            s(&table_in),
            "--epochs",
            "1",
            "--out",
            "/dev/null",
        ]),
        "not a regular file",
    );
    assert!(
        Path::new("/dev/null")
            .metadata()
            .unwrap()
            .file_type()
            .is_char_device()
    );
    // An empty table is named.
    let empty = dir.join("empty.csv");
    std::fs::write(&empty, "a,b,c\n").unwrap();
    let out = hourglass(&[
        "train",
        "--data",
        s(&empty),
        "--out",
        s(&dir.join("e.safetensors")),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("empty.csv"), "{stderr}");

    let not_model = dir.join("not-a-model.safetensors");
    std::fs::write(&not_model, "hello").unwrap();
    assert_clean_failure(
        &hourglass(&["eval", "--model", s(&not_model), "--data", &shipped()]),
        "not an hourglass model file",
    );

    let ragged = dir.join("ragged.csv");
    std::fs::write(&ragged, "1,2,3\n4,5\n").unwrap();
    assert_clean_failure(
        &hourglass(&[
            "train",
            "--data",
            s(&ragged),
            "--out",
            s(&dir.join("m.safetensors")),
        ]),
        "ragged.csv",
    );

    // A model trained on a table, applied to images.
    let table = dir.join("table.csv");
    std::fs::write(&table, "a,b,c\n1,2,3\n4,5,6\n7,8,9\n1,1,1\n").unwrap();
    let model = dir.join("table.safetensors");
    let out = hourglass(&[
        "train",
        "--data",
        s(&table),
        "--latent",
        "1",
        "--hidden",
        "2",
        "--epochs",
        "1",
        "--val-split",
        "0",
        "--out",
        s(&model),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_clean_failure(
        &hourglass(&["eval", "--model", s(&model), "--data", &shipped()]),
        "1×28×28",
    );
    // Nothing half-written is left behind by a failed command.
    let grid = dir.join("never.png");
    assert_clean_failure(
        &hourglass(&[
            "reconstruct",
            "--model",
            s(&model),
            "--data",
            s(&table),
            "--out",
            s(&grid),
        ]),
        "table rows",
    );
    assert!(!grid.exists());
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn every_command_has_help() {
    for command in [
        "train",
        "eval",
        "reconstruct",
        "encode",
        "decode",
        "demo",
        "export",
    ] {
        let out = hourglass(&[command, "--help"]);
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage: hourglass"));
    }
}

#[test]
fn serve_answers_over_http_and_stops_cleanly_on_sigterm() {
    use std::io::{BufRead, BufReader, Read, Write};
    let dir = scratch("serve");
    let model = dir.join("digits.safetensors");
    let out = hourglass(&[
        "train",
        "--data",
        &shipped(),
        "--latent",
        "4",
        "--hidden",
        "16",
        "--epochs",
        "1",
        "--out",
        s(&model),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A missing file is refused before anything listens.
    let missing = hourglass(&["serve", "--model", s(&dir.join("nope.safetensors"))]);
    assert_clean_failure(&missing, "nope.safetensors");

    let mut child = Command::new(env!("CARGO_BIN_EXE_hourglass"))
        .args([
            "serve",
            "--model",
            &format!("fm={}", s(&model)),
            "--addr",
            "127.0.0.1:0",
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    assert!(line.contains("fm"), "{line}");

    let get = |path: &str| -> String {
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        text
    };
    assert!(get("/healthz").starts_with("HTTP/1.1 200"));
    let info = get("/v1/models/fm");
    assert!(info.contains("\"input_shape\":[1,28,28]"), "{info}");

    // SIGTERM: a graceful stop, exit 0, and a log line per request on stderr.
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let mut log = String::new();
    stderr.read_to_string(&mut log).unwrap();
    assert!(
        log.contains("/v1/models/{name}") && log.contains("status=200"),
        "{log}"
    );
}

#[test]
fn a_parquet_table_is_trained_scored_and_encoded_with_its_key_column_carried() {
    use arrow_array::cast::AsArray;
    use hourglass::data::table::{self, Column};
    use std::sync::Arc;

    let dir = scratch("parquet");
    let cardio = cardio_csv();
    let rows = cardio_rows();
    let n = rows.len();
    // As a data lake holds it: a text key first, the measurements as doubles, the label last.
    let mut columns = vec![Column::new(
        "id",
        Arc::new(arrow_array::StringArray::from_iter_values(
            (0..n).map(|i| format!("tx-{i}")),
        )),
    )];
    columns.extend(parquet_columns(&rows, 0..n));
    let data = dir.join("cardio.parquet");
    table::write_parquet(&data, &columns).unwrap();

    let model = dir.join("m.safetensors");
    let out = hourglass(&[
        "train",
        "--data",
        s(&data),
        "--label-column",
        "anomaly",
        "--out",
        s(&model),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The text key is not a feature: the same 21 columns as from the CSV.
    assert!(String::from_utf8_lossy(&out.stdout).contains("21 columns → 3 → 21 columns"));

    let scores = dir.join("scores.parquet");
    let report = json_of(&[
        "score",
        "--model",
        s(&model),
        "--data",
        s(&data),
        "--label-column",
        "anomaly",
        "--normal-class",
        "0",
        "--keep-columns",
        "id",
        "--out",
        s(&scores),
        "--json",
    ]);
    assert!(report["auroc"].as_f64().unwrap() > 0.9, "{report}");
    let written =
        table::read_columns(&scores, &["id".into(), "score".into(), "flagged".into()]).unwrap();
    assert_eq!(written[0].array.len(), n);
    assert_eq!(
        written[0].array.as_string::<i32>().value(n - 1),
        format!("tx-{}", n - 1)
    );
    let flagged = written[2].array.as_boolean().true_count();
    assert_eq!(
        flagged as u64,
        report["flagged"].as_u64().unwrap(),
        "{report}"
    );

    let codes = dir.join("codes.parquet");
    let out = hourglass(&[
        "encode",
        "--model",
        s(&model),
        "--data",
        s(&data),
        "--label-column",
        "anomaly",
        "--with-labels",
        "--keep-columns",
        "id",
        "--out",
        s(&codes),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let written = table::read_columns(
        &codes,
        &["z0".into(), "z2".into(), "label".into(), "id".into()],
    )
    .unwrap();
    assert!(written.iter().all(|c| c.array.len() == n));

    // Carrying a column into CSV, or from a CSV, is refused in one line.
    let out = hourglass(&[
        "score",
        "--model",
        s(&model),
        "--data",
        s(&data),
        "--label-column",
        "anomaly",
        "--keep-columns",
        "id",
        "--out",
        s(&dir.join("s.csv")),
    ]);
    assert_clean_failure(&out, ".parquet outputs only");
    let out = hourglass(&[
        "score",
        "--model",
        s(&model),
        "--data",
        s(&cardio),
        "--label-column",
        "anomaly",
        "--keep-columns",
        "id",
        "--out",
        s(&dir.join("s.parquet")),
    ]);
    assert_clean_failure(&out, "not a Parquet or Arrow table");
}

#[test]
fn a_folder_of_mixed_size_colour_photos_is_trained_on_and_scored() {
    let dir = scratch("photos");
    let (normal, odd) = (dir.join("0-red"), dir.join("1-blue"));
    std::fs::create_dir_all(&normal).unwrap();
    std::fs::create_dir_all(&odd).unwrap();
    // Reddish photos, most 64×64, some 80×60 JPEGs; the anomalies are bluish.
    let photo = |w: u32, h: u32, seed: u32, blue: bool| {
        image::RgbImage::from_fn(w, h, |x, y| {
            let n = ((x * 7 + y * 13 + seed * 31) % 50) as u8;
            if blue {
                image::Rgb([n, 40, 180 + n])
            } else {
                image::Rgb([180 + n, 40, n])
            }
        })
    };
    for i in 0..24 {
        let (w, h, ext) = if i % 4 == 3 {
            (80, 60, "jpg")
        } else {
            (64, 64, "png")
        };
        photo(w, h, i, false)
            .save(normal.join(format!("{i:02}.{ext}")))
            .unwrap();
    }
    for i in 0..6 {
        photo(64, 64, i, true)
            .save(odd.join(format!("{i}.png")))
            .unwrap();
    }

    let model = dir.join("m.safetensors");
    let out = hourglass(&[
        "train",
        "--data",
        s(&normal),
        "--model",
        "conv2d",
        "--latent",
        "8",
        "--epochs",
        "5",
        "--val-split",
        "0",
        "--out",
        s(&model),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("3×64×64"),
        "the most common size, in colour: {stdout}"
    );

    let scores = dir.join("scores.csv");
    let report = json_of(&[
        "score",
        "--model",
        s(&model),
        "--data",
        s(&dir),
        "--normal-class",
        "0",
        "--out",
        s(&scores),
        "--json",
    ]);
    assert_eq!(report["n"], 30, "{report}");
    assert!(report["auroc"].as_f64().unwrap() > 0.9, "{report}");
    // Read 256 photos at a time (--stream): the same scores and report.
    let streamed = dir.join("streamed.csv");
    let again = json_of(&[
        "score",
        "--stream",
        "--model",
        s(&model),
        "--data",
        s(&dir),
        "--normal-class",
        "0",
        "--out",
        s(&streamed),
        "--json",
    ]);
    assert_eq!(again, report);
    assert_eq!(
        std::fs::read_to_string(&scores).unwrap(),
        std::fs::read_to_string(&streamed).unwrap()
    );

    // One new photo of another size and format is prepared as the model's inputs were.
    let one = dir.join("new.jpg");
    photo(100, 75, 99, true).save(&one).unwrap();
    let report = json_of(&[
        "score",
        "--model",
        s(&model),
        "--data",
        s(&one),
        "--out",
        s(&dir.join("one.csv")),
        "--json",
    ]);
    assert_eq!(report["n"], 1, "{report}");
}

#[test]
fn streamed_training_and_scoring_read_npy_and_parquet_parts_by_blocks() {
    use hourglass::data::table;

    let dir = scratch("stream");
    let cardio = cardio_csv();
    let rows = cardio_rows();
    let (n, d) = (rows.len(), rows.shape.features());
    let labels = rows.labels.clone().unwrap();
    // The table as three Parquet part files, and as one NPY array.
    let parts = dir.join("parts");
    std::fs::create_dir_all(&parts).unwrap();
    let cut = [0, n / 3, 2 * n / 3, n];
    for p in 0..3 {
        let columns = parquet_columns(&rows, cut[p]..cut[p + 1]);
        table::write_parquet(&parts.join(format!("part-{p}.parquet")), &columns).unwrap();
    }
    let array = dir.join("cardio.npy");
    hourglass::data::npy::write(&array, &rows.values, &[n, d]).unwrap();

    // One-class training on the normal rows of the part files, read one row group at a time.
    let model = dir.join("m.safetensors");
    let summary = json_of(&[
        "train",
        "--stream",
        "--data",
        s(&parts),
        "--label-column",
        "anomaly",
        "--class",
        "0",
        "--epochs",
        "3",
        "--ensemble",
        "2",
        "--out",
        s(&model),
        "--json",
    ]);
    let normal = labels.iter().filter(|&&l| l == 0).count() as u64;
    let seen =
        summary["train_samples"].as_u64().unwrap() + summary["val_samples"].as_u64().unwrap();
    assert_eq!(seen, normal, "{summary}");

    // Scoring by blocks writes the same scores and reports the same AUROC as scoring in memory.
    let score = |extra: &[&str], out: &Path| {
        let mut args = vec![
            "score",
            "--model",
            s(&model),
            "--data",
            s(&parts),
            "--label-column",
            "anomaly",
            "--normal-class",
            "0",
            "--out",
            s(out),
            "--json",
        ];
        args.extend_from_slice(extra);
        json_of(&args)
    };
    let whole = score(&[], &dir.join("whole.csv"));
    let streamed = score(&["--stream"], &dir.join("streamed.csv"));
    assert_eq!(whole, streamed);
    assert!(whole["auroc"].as_f64().unwrap() > 0.8, "{whole}");
    assert_eq!(
        std::fs::read_to_string(dir.join("whole.csv")).unwrap(),
        std::fs::read_to_string(dir.join("streamed.csv")).unwrap()
    );

    // Codes written block by block are the codes written whole.
    for out in ["codes.csv", "codes.npy", "codes.parquet"] {
        for (extra, name) in [
            (None, format!("whole-{out}")),
            (Some("--stream"), out.to_string()),
        ] {
            let mut args = vec![
                "encode",
                "--model",
                s(&model),
                "--data",
                s(&parts),
                "--label-column",
                "anomaly",
            ];
            args.extend(extra);
            let result = hourglass(&[&args[..], &["--out", s(&dir.join(&name))]].concat());
            assert!(
                result.status.success(),
                "{}",
                String::from_utf8_lossy(&result.stderr)
            );
        }
        let read =
            |name: &str| hourglass::data::load(&dir.join(name), &Default::default()).unwrap();
        let (whole, streamed) = (read(&format!("whole-{out}")), read(out));
        assert_eq!(
            (whole.values, whole.shape),
            (streamed.values, streamed.shape),
            "{out}"
        );
    }

    // A reader that stops early (`| head`) ends the command quietly, not in a panic.
    let mut child = Command::new(env!("CARGO_BIN_EXE_hourglass"))
        .args(["eval", "--model", s(&model), "--data", s(&parts), "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("internal error") && out.status.code() != Some(101),
        "{stderr}"
    );

    // `score` of the same data whole and by blocks (`--stream`) writes the same file.
    let scored_alike = |model: &Path, data: &[&str], name: &str| {
        let mut outputs = Vec::new();
        for extra in [None, Some("--stream")] {
            let out = dir.join(format!("{name}-{}.csv", outputs.len()));
            let mut args = vec!["score", "--model", s(model)];
            args.extend_from_slice(data);
            args.extend(extra);
            args.extend(["--out", s(&out)]);
            let result = hourglass(&args);
            assert!(
                result.status.success(),
                "{}",
                String::from_utf8_lossy(&result.stderr)
            );
            outputs.push(std::fs::read_to_string(&out).unwrap());
        }
        assert_eq!(outputs[0], outputs[1], "{name}: scored whole and by blocks");
    };

    // An NPY array: trained by blocks, scored both ways alike.
    let model = dir.join("npy.safetensors");
    json_of(&[
        "train",
        "--stream",
        "--data",
        s(&array),
        "--epochs",
        "2",
        "--ensemble",
        "1",
        "--out",
        s(&model),
        "--json",
    ]);
    scored_alike(&model, &["--data", s(&array)], "npy");

    // A CSV file, read from the record each block starts at: scored both ways alike.
    let model = dir.join("csv.safetensors");
    json_of(&[
        "train",
        "--stream",
        "--data",
        s(&cardio),
        "--label-column",
        "anomaly",
        "--epochs",
        "2",
        "--ensemble",
        "1",
        "--out",
        s(&model),
        "--json",
    ]);
    let data = ["--data", s(&cardio), "--label-column", "anomaly"];
    scored_alike(&model, &data, "csv");

    // What --stream cannot read or train is refused in one line.
    let out = hourglass(&[
        "train",
        "--stream",
        "--data",
        &shipped(),
        "--out",
        s(&dir.join("x.safetensors")),
    ]);
    assert_clean_failure(&out, "--stream reads");
    let out = hourglass(&[
        "train",
        "--stream",
        "--model",
        "conv1d",
        "--data",
        s(&array),
        "--out",
        s(&dir.join("x.safetensors")),
    ]);
    assert_clean_failure(&out, "conv1d");
}
