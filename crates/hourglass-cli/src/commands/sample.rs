//! `hourglass sample`

use std::path::PathBuf;

use anyhow::{Result, bail};
use hourglass::artifact::TrainedModel;
use hourglass::plot::grid::{COLUMNS, save_samples};
use hourglass::tasks::{export, generate};

use super::DeviceArgs;

#[derive(clap::Args)]
pub struct Args {
    /// A variational model (trained with --model vae, cvae or --beta).
    #[arg(long)]
    pub model: PathBuf,
    /// How many samples to draw.
    #[arg(long, default_value_t = 32)]
    pub n: usize,
    /// Output: .png (a grid) or .npy (samples in the data's original units).
    #[arg(long)]
    pub out: PathBuf,
    /// A conditional model (cvae): draw samples of this class [default: every class in turn, one
    /// class per grid column].
    #[arg(long)]
    pub class: Option<u32>,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[command(flatten)]
    pub device: DeviceArgs,
}

pub fn run(args: Args) -> Result<()> {
    let device = args.device.device.device()?;
    let model = TrainedModel::load(&args.model, &device)?;
    if model.config.beta.is_none() {
        bail!(
            "{} is not variational: only a VAE's latent space is N(0, I) to sample from (train with --model vae)",
            args.model.display()
        );
    }
    let (samples, _) = generate::sample(&model, args.n, args.class, args.seed, &device)?;
    if export::is_png(&args.out) {
        // Without --class, a conditional model's samples cycle through the classes: one per column.
        let columns = match (model.config.classes, args.class) {
            (Some(classes), None) => classes,
            _ => COLUMNS,
        };
        save_samples(&args.out, &samples, model.input, columns)?;
    } else {
        export::write_samples(&args.out, &model, samples)?;
    }
    let which = match (model.config.classes, args.class) {
        (_, Some(k)) => format!(" of class {k}"),
        (Some(classes), None) => format!(", classes 0 to {} in turn,", classes - 1),
        (None, None) => String::new(),
    };
    println!(
        "{} samples{which} from N(0, I) decoded to {}",
        args.n,
        args.out.display()
    );
    Ok(())
}
