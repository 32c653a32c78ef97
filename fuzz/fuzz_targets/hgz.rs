//! Any bytes as a `.hgz` compressed file, decompressed with the seed model.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let model = hourglass_fuzz::seed_model();
    let path = std::path::Path::new("fuzz.hgz");
    let _ = hourglass::tasks::compress::decompress(
        model,
        data,
        path,
        &hourglass::device::Device::flex(),
    );
});
