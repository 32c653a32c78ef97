//! Compression to a .hgz file: small, faithful to the model's own reconstruction, and refused when
//! damaged or paired with the wrong model.

mod common;

use std::path::Path;

use hourglass::device::Device;
use hourglass::model::ModelConfig;
use hourglass::tasks::{codec, compress, pca::mse};
use hourglass::train;

#[test]
fn compressed_images_restore_to_what_the_model_decodes() {
    let _lock = common::exclusive();
    let data = common::shipped(1500);
    let device = Device::flex();
    let model = train::train(
        &data,
        &ModelConfig::dense(16),
        &common::quick(3),
        &common::quiet(),
    )
    .unwrap();
    let other = train::train(
        &data,
        &ModelConfig::dense(8),
        &common::quick(1),
        &common::quiet(),
    )
    .unwrap();
    let values = model.scaling.scaled(&data.head(300));
    let bytes = compress::compress(&model, &values, &device).unwrap();
    let path = Path::new("test.hgz");

    // The restored images are the decoder's output for the stored (quantised) codes …
    let restored = compress::decompress(&model, &bytes, path, &device).unwrap();
    let latents = compress::read_latents(&model, &bytes, path).unwrap();
    assert_eq!(
        restored,
        codec::decode_scaled(&model, &latents, None, &device)
    );
    // … and 8-bit codes cost little next to the model's own reconstruction error.
    let reconstructed = codec::reconstruct_scaled(&model, &values, None, &device);
    let quantisation = mse(&restored, &reconstructed);
    let report = compress::report(&model, &values, &restored, bytes.len());
    assert!(
        quantisation < 0.1 * report.mse,
        "{quantisation} vs {}",
        report.mse
    );
    assert!(report.ratio_vs_raw > 30.0, "{report:?}");
    assert!(report.ratio_vs_gzip > 10.0, "{report:?}");

    // A flipped byte, a cut file, another model: each refused with the reason.
    let mut damaged = bytes.clone();
    damaged[bytes.len() / 2] ^= 0x40;
    let err = compress::decompress(&model, &damaged, path, &device).unwrap_err();
    assert!(err.to_string().contains("checksum"), "{err}");
    let err = compress::decompress(&model, &bytes[..bytes.len() - 9], path, &device).unwrap_err();
    assert!(err.to_string().contains("test.hgz"), "{err}");
    // A header claiming 4 billion samples, with its checksum made valid again, is refused
    // before anything is allocated for them.
    let mut hostile = bytes.clone();
    hostile[22..26].copy_from_slice(&u32::MAX.to_le_bytes());
    let body = hostile.len() - 4;
    let crc = crc32fast::hash(&hostile[..body]);
    hostile[body..].copy_from_slice(&crc.to_le_bytes());
    let err = compress::decompress(&model, &hostile, path, &device).unwrap_err();
    assert!(
        err.to_string()
            .contains("header declares 4294967295 samples"),
        "{err}"
    );
    let err = compress::decompress(&other, &bytes, path, &device).unwrap_err();
    assert!(err.to_string().contains("different model"), "{err}");
    let err = compress::decompress(&model, b"PNG not hgz", path, &device).unwrap_err();
    assert!(
        err.to_string().contains("not an hourglass compressed file"),
        "{err}"
    );
}
