//! `hourglass inpaint`

use std::path::PathBuf;

use anyhow::{Result, bail};
use hourglass::plot::grid::save_rows;
use hourglass::tasks::impute::default_iterations;
use hourglass::tasks::inpaint::{self, Region};

use super::ModelOnData;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub input: ModelOnData,
    /// The region to fill: x,y,width,height in pixels, or a PNG/NPY mask (non-zero = fill).
    #[arg(long)]
    pub mask: Region,
    /// Where to write the PNG grid: masked / inpainted / original rows.
    #[arg(long)]
    pub out: PathBuf,
    /// How many images to draw (the region MSE covers all of them).
    #[arg(long, default_value_t = 16)]
    pub n: usize,
    /// Reconstruct-and-replace rounds [default: 1 for a model trained with masking noise, else 10].
    #[arg(long)]
    pub iterations: Option<usize>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let (model, data, device) = args.input.load()?;
    model.require_unconditional("inpainting")?;
    if model.input.height < 2 {
        bail!("inpaint fills regions of images; for tables use impute");
    }
    let region = args.mask.mask(model.input)?;
    let values = model.scaling.scaled(&data);
    let rounds = args
        .iterations
        .unwrap_or_else(|| default_iterations(&model));
    let filled = inpaint::inpaint(&model, &values, &region, rounds, &device);
    let report = inpaint::report(&model, &values, &filled, &region);

    // The picture: the hole shown as mid-grey, then the model's fill, then the truth.
    let d = model.input.features();
    let n = data.len().min(args.n) * d;
    let holed: Vec<f32> = values[..n]
        .iter()
        .enumerate()
        .map(|(i, &v)| if region[i % d] { 0.5 } else { v })
        .collect();
    save_rows(
        &args.out,
        &[&holed, &filled[..n], &values[..n]],
        model.input,
    )?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "filled {} pixels in each of {} images ({rounds} rounds)",
            report.region_pixels, report.images
        );
        println!("  region MSE, autoencoder  {:.5}", report.region_mse);
        println!("  region MSE, mean image   {:.5}", report.mean_image_mse);
        println!(
            "grid (masked / inpainted / original) in {}",
            args.out.display()
        );
    }
    Ok(())
}
