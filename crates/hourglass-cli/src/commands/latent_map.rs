//! `hourglass latent-map`

use std::path::PathBuf;

use anyhow::{Context, Result};
use hourglass::plot::scatter::save_latent_map;
use hourglass::tasks::generate::latent_view;

use super::ModelOnData;

/// Fashion-MNIST's class names, used when the data has ten classes and `--class-names` is not given.
const FASHION: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub input: ModelOnData,
    /// Where to write the PNG.
    #[arg(long)]
    pub out: PathBuf,
    /// Names of the classes, in label order, comma-separated [default: Fashion-MNIST's for 10
    /// classes, else the numbers].
    #[arg(long, value_delimiter = ',')]
    pub class_names: Option<Vec<String>>,
    /// Draw at most this many samples (the first ones).
    #[arg(long, default_value_t = 5000)]
    pub n: usize,
}

pub fn run(args: Args) -> Result<()> {
    let (model, data, device) = args.input.load()?;
    let data = data.head(args.n);
    let labels = data.labels.as_deref().with_context(|| {
        format!(
            "a latent map is coloured by label: {} has none (give --labels)",
            args.input.data.data.display()
        )
    })?;
    let class = model.config.condition(Some(labels))?;
    let values = model.scaling.scaled(&data);
    let (points, axes) = latent_view(&model, &values, class.as_deref(), &device);
    let classes = labels.iter().max().map_or(0, |m| m + 1);
    let names: Option<Vec<&str>> = match &args.class_names {
        Some(names) => Some(names.iter().map(String::as_str).collect()),
        None if classes == 10 => Some(FASHION.to_vec()),
        None => None,
    };
    let how = if model.config.latent == 2 {
        "the 2-D latent codes".to_string()
    } else {
        format!(
            "first two principal components of the {}-D codes",
            model.config.latent
        )
    };
    let title = format!("Latent space of {} samples: {how}", data.len());
    save_latent_map(
        &args.out,
        &points,
        labels,
        names.as_deref(),
        &title,
        (&axes[0], &axes[1]),
    )?;
    println!(
        "latent map of {} samples written to {}",
        data.len(),
        args.out.display()
    );
    Ok(())
}
