//! Inpainting: a square hole in held-out Fashion-MNIST images is filled much closer to the truth
//! than the mean image fills it.

mod common;

use hourglass::device::Device;
use hourglass::model::ModelConfig;
use hourglass::tasks::inpaint::{self, Region};
use hourglass::train;

#[test]
fn inpainting_beats_the_mean_image_in_the_hole() {
    let _lock = common::exclusive();
    let all = common::shipped(9000);
    let (train_set, held_out) = (
        all.head(8000),
        all.select(&(8000..9000).collect::<Vec<_>>()),
    );
    let mut options = common::quick(8);
    options.batch_size = 256;
    let model = train::train(
        &train_set,
        &ModelConfig::dense(32),
        &options,
        &common::quiet(),
    )
    .unwrap();
    let region: Region = "8,8,12,12".parse().unwrap();
    let mask = region.mask(model.input).unwrap();
    assert_eq!(mask.iter().filter(|&&m| m).count(), 144);
    let values = model.scaling.scaled(&held_out);
    let filled = inpaint::inpaint(&model, &values, &mask, 10, &Device::flex());
    // Outside the hole nothing changes.
    let d = mask.len();
    for (i, (a, b)) in values.iter().zip(&filled).enumerate() {
        if !mask[i % d] {
            assert_eq!(a, b);
        }
    }
    let report = inpaint::report(&model, &values, &filled, &mask);
    eprintln!("{report:?}");
    assert!(
        report.region_mse < 0.8 * report.mean_image_mse,
        "{} vs mean image {}",
        report.region_mse,
        report.mean_image_mse
    );
    assert!(
        "30,0,4,4"
            .parse::<Region>()
            .unwrap()
            .mask(model.input)
            .is_err()
    );
}
