//! Any bytes as a `.idx` data file: an error or a data set, never a panic or a huge allocation.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let path = hourglass_fuzz::as_file("data.idx", data);
    let _ = hourglass::data::load(&path, &hourglass::data::LoadOptions::default());
});
