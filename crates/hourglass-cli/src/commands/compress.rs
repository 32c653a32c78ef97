//! `hourglass compress` and `hourglass decompress`

use std::path::PathBuf;

use anyhow::Result;
use hourglass::artifact::TrainedModel;
use hourglass::fsutil;
use hourglass::tasks::{compress, export};

use super::{DeviceArgs, ModelOnData};

#[derive(clap::Args)]
pub struct CompressArgs {
    #[command(flatten)]
    pub input: ModelOnData,
    /// The compressed file to write (.hgz).
    #[arg(long)]
    pub out: PathBuf,
    /// Print sizes, ratios and PSNR as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args)]
pub struct DecompressArgs {
    /// The model that compressed the file.
    #[arg(long)]
    pub model: PathBuf,
    /// A file written by `hourglass compress`.
    #[arg(long = "in")]
    pub input: PathBuf,
    /// Output: .npy (samples in the data's original units) or .png (a grid of images).
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub device: DeviceArgs,
}

pub fn run_compress(args: CompressArgs) -> Result<()> {
    let (model, data, device) = args.input.load()?;
    let values = model.scaling.scaled(&data);
    let bytes = compress::compress(&model, &values, &device)?;
    fsutil::write_atomic(&args.out, &bytes)?;
    // Measure what a reader will get back, from the bytes just written.
    let restored = compress::decompress(&model, &bytes, &args.out, &device)?;
    let report = compress::report(&model, &values, &restored, bytes.len());
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    println!(
        "compressed {} samples to {} bytes ({:.1} bytes each) in {}",
        report.samples,
        report.compressed_bytes,
        report.bytes_per_sample,
        args.out.display()
    );
    println!("  ratio vs raw 8-bit values  {:.1}x", report.ratio_vs_raw);
    println!("  ratio vs gzip of the same  {:.1}x", report.ratio_vs_gzip);
    if let Some(ratio) = report.ratio_vs_png {
        println!("  ratio vs one PNG each      {ratio:.1}x");
    }
    println!(
        "  distortion: MSE {:.5}, PSNR {:.2} dB",
        report.mse, report.psnr_db
    );
    Ok(())
}

pub fn run_decompress(args: DecompressArgs) -> Result<()> {
    let device = args.device.device.device()?;
    let model = TrainedModel::load(&args.model, &device)?;
    let bytes = fsutil::read(&args.input)?;
    let restored = compress::decompress(&model, &bytes, &args.input, &device)?;
    let n = restored.len() / model.input.features();
    export::write_samples(&args.out, &model, restored)?;
    println!("restored {n} samples to {}", args.out.display());
    Ok(())
}
