//! Sparse autoencoders: an L1 penalty makes most latent units exactly zero for any one image, and
//! a KL target ρ sets each unit's mean activation near ρ; each at a small cost in MSE, reported.

mod common;

use hourglass::device::Device;
use hourglass::model::{ModelConfig, Sparsity};
use hourglass::tasks::{codec, eval};
use hourglass::train;

#[test]
fn sparsity_penalties_do_what_they_promise() {
    let _lock = common::exclusive();
    let all = common::shipped(5000);
    let (train_set, held_out) = (
        all.head(4000),
        all.select(&(4000..5000).collect::<Vec<_>>()),
    );
    let device = Device::flex();
    let mut options = common::quick(10);
    options.batch_size = 128;
    let fit = |config: &ModelConfig| {
        train::train(&train_set, config, &options, &common::quiet()).unwrap()
    };

    let plain = fit(&ModelConfig::dense(32));
    let mut l1 = ModelConfig::dense(32);
    l1.sparsity = Some(Sparsity::L1 { lambda: 1.0 });
    let l1 = fit(&l1);
    let mut kl = ModelConfig::dense(32);
    kl.sparsity = Some(Sparsity::Kl {
        rho: 0.05,
        beta: 5.0,
    });
    let kl = fit(&kl);

    let codes = |model| codec::encode(model, &held_out, &device).unwrap();
    let (plain_codes, l1_codes, kl_codes) = (codes(&plain), codes(&l1), codes(&kl));
    let zeros = |c: &[f32]| c.iter().filter(|&&v| v == 0.0).count() as f64 / c.len() as f64;
    let mean_abs = |c: &[f32]| c.iter().map(|v| v.abs() as f64).sum::<f64>() / c.len() as f64;
    let mse = |model| eval::evaluate(model, &held_out, &device).unwrap().mse;
    eprintln!(
        "plain: zeros {:.3}, mean |z| {:.3}, MSE {:.5}",
        zeros(&plain_codes),
        mean_abs(&plain_codes),
        mse(&plain)
    );
    eprintln!(
        "L1:    zeros {:.3}, mean |z| {:.3}, MSE {:.5}",
        zeros(&l1_codes),
        mean_abs(&l1_codes),
        mse(&l1)
    );
    let mean_activation = kl_codes.iter().map(|&v| v as f64).sum::<f64>() / kl_codes.len() as f64;
    eprintln!(
        "KL:    mean activation {mean_activation:.4} (target 0.05), MSE {:.5}",
        mse(&kl)
    );

    assert!(zeros(&l1_codes) > 0.5, "L1 should silence most units");
    assert!(mean_abs(&l1_codes) < 0.5 * mean_abs(&plain_codes));
    assert!(
        (mean_activation - 0.05).abs() < 0.03,
        "mean activation {mean_activation}"
    );
    // The price in reconstruction stays modest.
    assert!(mse(&l1) < 2.0 * mse(&plain) && mse(&kl) < 2.0 * mse(&plain));
}
