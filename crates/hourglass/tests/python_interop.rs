//! A saved model opens in PyTorch's world: Python's `safetensors` package reads the weights by
//! their readable names and the hourglass metadata (`pip install safetensors numpy`; `.ci/run`
//! installs them).

mod common;

use std::process::Command;

use hourglass::model::ModelConfig;
use hourglass::train;

const READER: &str = r#"
import json, sys
from safetensors import safe_open
with safe_open(sys.argv[1], framework="numpy") as f:
    meta = f.metadata()
    print(json.dumps({
        "format": meta["hourglass.format"],
        "config": json.loads(meta["config"]),
        "shapes": {k: list(f.get_tensor(k).shape) for k in f.keys()},
    }))
"#;

#[test]
fn python_safetensors_reads_names_shapes_and_config() {
    let _lock = common::exclusive();
    let dir = common::scratch("python");
    let path = dir.join("model.safetensors");
    let model = train::train(
        &common::shipped(500),
        &ModelConfig::dense(8),
        &common::quick(1),
        &common::quiet(),
    )
    .unwrap();
    model.save(&path).unwrap();

    let out = Command::new("python3")
        .args(["-c", READER, path.to_str().unwrap()])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "python could not read the model (pip install safetensors numpy): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(seen["format"], "1");
    assert_eq!(seen["config"]["latent"], 8);
    let shapes = &seen["shapes"];
    // Burn stores Linear weights as [in, out] (PyTorch's nn.Linear holds [out, in]).
    assert_eq!(shapes["encoder.0.weight"], serde_json::json!([784, 256]));
    assert_eq!(shapes["encoder.2.bias"], serde_json::json!([8]));
    assert_eq!(shapes["decoder.2.weight"], serde_json::json!([256, 784]));
    assert_eq!(
        shapes["baseline.pca_components"],
        serde_json::json!([8, 784])
    );
}

/// Latent codes exported with labels open in pandas with a proper header.
#[test]
fn pandas_reads_exported_latent_codes_with_their_header() {
    let dir = common::scratch("pandas");
    let path = dir.join("codes.csv");
    let latents = [0.5f32, -1.25, 3.0, 0.0, 2.5, -0.75];
    hourglass::tasks::export::write_latents(&path, &latents, 2, Some(&[3, 7, 1]), &[]).unwrap();
    let script = r#"
import sys, pandas
frame = pandas.read_csv(sys.argv[1])
print(",".join(frame.columns), len(frame), frame["z1"].sum(), frame["label"].dtype)
"#;
    let out = Command::new("python3")
        .args(["-c", script, path.to_str().unwrap()])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "pandas could not read the CSV (pip install pandas): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "z0,z1,label 3 -2.0 int64"
    );
}
