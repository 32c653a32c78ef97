//! `hourglass encode`

use std::path::PathBuf;

use anyhow::Result;
use hourglass::artifact::TrainedModel;
use hourglass::tasks::{codec, export};

use super::ModelOnData;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub input: ModelOnData,
    /// Output file: .csv (with a header z0, z1, …), .npy (samples × latent) or .parquet.
    #[arg(long)]
    pub out: PathBuf,
    /// Add the label of each sample as a last column (CSV and Parquet).
    #[arg(long)]
    pub with_labels: bool,
    /// Parquet/Arrow input and .parquet output: input columns to carry along (e.g. an id),
    /// comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub keep_columns: Vec<String>,
    /// Read the data a block at a time instead of whole, and write the codes as they come, for
    /// data larger than memory (.npy arrays, CSV files, Parquet files or directories, folders
    /// of images).
    #[arg(long)]
    pub stream: bool,
}

pub fn run(args: Args) -> Result<()> {
    super::refuse_input_as_output(&args.input.data.data, &args.out)?;
    if args.stream {
        return run_streamed(args);
    }
    let (model, data, device) = args.input.load()?;
    let keep = args
        .input
        .data
        .kept_columns(&args.keep_columns, &args.out)?;
    let latents = codec::encode(&model, &data, &device)?;
    let labels = if args.with_labels {
        Some(data.labels.as_deref().ok_or_else(|| {
            anyhow::anyhow!(
                "--with-labels: {} has no labels",
                args.input.data.data.display()
            )
        })?)
    } else {
        None
    };
    export::write_latents(&args.out, &latents, model.config.latent, labels, &keep)?;
    println!(
        "wrote {} latent codes of size {} to {}",
        data.len(),
        model.config.latent,
        args.out.display()
    );
    Ok(())
}

/// Encodes data read a block at a time (`--stream`), writing each block's codes as they come.
fn run_streamed(args: Args) -> Result<()> {
    let device = args.input.device.device.device()?;
    let model = TrainedModel::load(&args.input.model, &device)?;
    if model.config.classes.is_some() {
        anyhow::bail!("--stream encodes with models without conditioning (drop --stream)");
    }
    let path = args.input.data.data.clone();
    let mut source = args.input.data.open_stream_for(&model)?;
    let keep = args
        .input
        .data
        .kept_columns(&args.keep_columns, &args.out)?;
    let rows = source.len();
    let mut b = 0;
    let mut next = || -> hourglass::error::Result<Option<export::CodeBlock>> {
        if b == source.blocks() {
            return Ok(None);
        }
        let block = hourglass::data::stream::read_complete_block(source.as_mut(), b)?;
        b += 1;
        model.check_data(&block, &path)?;
        let labels = match (args.with_labels, block.labels.clone()) {
            (false, _) => None,
            (true, Some(labels)) => Some(labels),
            (true, None) => {
                return Err(hourglass::error::Error::Invalid(format!(
                    "--with-labels: {} has no labels",
                    path.display()
                )));
            }
        };
        let codes = codec::encode(&model, &block, &device)?;
        Ok(Some((codes, labels)))
    };
    export::write_latents_by_blocks(
        &args.out,
        model.config.latent,
        rows,
        args.with_labels,
        &keep,
        &mut next,
    )?;
    println!(
        "wrote {rows} latent codes of size {} to {}",
        model.config.latent,
        args.out.display()
    );
    Ok(())
}
