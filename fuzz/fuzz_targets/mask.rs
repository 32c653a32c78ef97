//! Any bytes as an inpainting mask image (PNG) for 28×28 images.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let path = hourglass_fuzz::as_file("mask.png", data);
    let region = hourglass::tasks::inpaint::Region::File(path);
    let _ = region.mask(hourglass::data::SampleShape::image(1, 28, 28));
});
