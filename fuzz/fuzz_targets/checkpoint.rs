//! Any bytes as a training checkpoint.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let path = hourglass_fuzz::as_file("run.checkpoint", data);
    let _ = hourglass::train::checkpoint::Checkpoint::load(&path);
});
