//! `hourglass export`

use std::path::PathBuf;

use anyhow::Result;
use hourglass::artifact::TrainedModel;
use hourglass::device::Device;
use hourglass::fsutil;
use hourglass::onnx::{self, Output};
use hourglass::tasks::detector::ScoreKind;

#[derive(clap::Args)]
pub struct Args {
    /// A model written by `hourglass train`.
    #[arg(long)]
    pub model: PathBuf,
    /// Where to write the ONNX file.
    #[arg(long)]
    pub out: PathBuf,
    /// What the graph gives for each row: reconstruct (in the input's units), encode (the latent
    /// code) or score (the anomaly score).
    #[arg(long, default_value = "score")]
    pub output: String,
    /// With --output score: which score [default: the model's own, as `hourglass score` uses].
    #[arg(long)]
    pub score: Option<ScoreKind>,
}

pub fn run(args: Args) -> Result<()> {
    super::refuse_input_as_output(&args.model, &args.out)?;
    let model = TrainedModel::load(&args.model, &Device::flex())?;
    let output = Output::parse(&args.output, args.score, &model)?;
    let bytes = onnx::export(&model, output)?;
    fsutil::write_atomic(&args.out, &bytes)?;
    let what = match output {
        Output::Score(kind) => format!("the {kind} score"),
        Output::Encode => "latent codes".to_string(),
        Output::Reconstruct => "reconstructions".to_string(),
    };
    println!(
        "wrote {} (ONNX opset {}, {} KiB): rows of {} values in, {what} out",
        args.out.display(),
        onnx::OPSET,
        bytes.len().div_ceil(1024),
        model.input.features()
    );
    Ok(())
}
