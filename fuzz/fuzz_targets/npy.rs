//! Any bytes as a `.npy` data file: an error or a data set, never a panic or a huge allocation.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let path = hourglass_fuzz::as_file("data.npy", data);
    let _ = hourglass::data::load(&path, &hourglass::data::LoadOptions::default());
});
