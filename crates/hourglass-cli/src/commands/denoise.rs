//! `hourglass denoise`

use std::path::PathBuf;

use anyhow::Result;
use hourglass::data::noise::Noise;
use hourglass::plot::grid::save_rows;
use hourglass::tasks::{denoise, export};

use super::ModelOnData;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub input: ModelOnData,
    /// Output: .npy (denoised samples in original units) or .png (noisy / denoised / clean rows,
    /// the first 16 samples).
    #[arg(long)]
    pub out: PathBuf,
    /// Corrupt the (clean) data first with gaussian:SIGMA, masking:P or salt-pepper:P, and report
    /// how close the noisy and denoised samples are to the clean ones.
    #[arg(long)]
    pub noise: Option<Noise>,
    /// Seed of the corruption.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let (model, data, device) = args.input.load()?;
    model.require_unconditional("denoising")?;
    let clean = model.scaling.scaled(&data);
    let noisy = match args.noise {
        Some(noise) => noise.corrupt(&clean, model.scaling.is_unit_range(), args.seed),
        None => clean.clone(),
    };
    let denoised = denoise::denoise(&model, &noisy, &device);
    if export::is_png(&args.out) {
        let d = model.input.features();
        let n = data.len().min(16) * d;
        let mut rows = vec![&noisy[..n], &denoised[..n]];
        if args.noise.is_some() {
            rows.push(&clean[..n]);
        }
        save_rows(&args.out, &rows, model.input)?;
    } else {
        export::write_samples(&args.out, &model, denoised.clone())?;
    }
    match args.noise {
        Some(noise) => {
            let report = denoise::report(&clean, &noisy, &denoised);
            if args.json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                println!("{} samples corrupted with {noise}:", data.len());
                println!(
                    "  noisy     MSE {:.5}   PSNR {:.2} dB",
                    report.noisy_mse, report.noisy_psnr_db
                );
                println!(
                    "  denoised  MSE {:.5}   PSNR {:.2} dB",
                    report.denoised_mse, report.denoised_psnr_db
                );
            }
        }
        None if !args.json => println!("denoised {} samples", data.len()),
        None => {}
    }
    if !args.json {
        println!("written to {}", args.out.display());
    }
    Ok(())
}
