//! Any bytes as a Parquet file (and, by their magic bytes, an Arrow IPC file or stream): an error
//! or a data set, never a panic or a huge allocation.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let path = hourglass_fuzz::as_file("data.parquet", data);
    let options = hourglass::data::LoadOptions {
        label_column: Some("label".into()),
        ..Default::default()
    };
    if hourglass::data::load(&path, &options).is_err() {
        let _ = hourglass::data::load(&path, &hourglass::data::LoadOptions::default());
    }
});
