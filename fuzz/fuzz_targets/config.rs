//! Any bytes as a model config, in TOML (first byte even) or JSON (odd), then checked against
//! a small image shape as `train` would.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let name = if first % 2 == 0 { "model.toml" } else { "model.json" };
    let path = hourglass_fuzz::as_file(name, rest);
    if let Ok(config) = hourglass::model::ModelConfig::from_file(&path) {
        let _ = config.check(hourglass::data::SampleShape::image(1, 28, 28));
    }
});
