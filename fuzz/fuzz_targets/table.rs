//! Any bytes as a Parquet file (and, by their magic bytes, an Arrow IPC file or stream): an error
//! or a data set, never a panic of ours or a huge allocation.
//!
//! parquet 60.1's page decoders still panic on some malformed pages; `data::table` catches those
//! at its boundary and reports the file as unreadable. So that the fuzzer can go on past them,
//! a panic raised inside the `parquet` or `arrow-*` crates is let through to that boundary here;
//! any other panic aborts, as libFuzzer's own hook would.
#![no_main]

fn install_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let upstream = info.location().is_some_and(|l| {
                let file = l.file();
                file.contains("/parquet-") || file.contains("/arrow-")
            });
            if !upstream {
                eprintln!("{info}");
                std::process::abort();
            }
        }));
    });
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    install_hook();
    let path = hourglass_fuzz::as_file("data.parquet", data);
    let options = hourglass::data::LoadOptions {
        label_column: Some("label".into()),
        ..Default::default()
    };
    if hourglass::data::load(&path, &options).is_err() {
        let _ = hourglass::data::load(&path, &hourglass::data::LoadOptions::default());
    }
});
