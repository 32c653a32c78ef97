//! Any bytes as a model file: refused with a message, or a model whose every tensor is checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let path = hourglass_fuzz::as_file("model.safetensors", data);
    let _ = hourglass::artifact::TrainedModel::load(&path, &hourglass::device::Device::flex());
});
