//! One file per subcommand, plus the arguments several of them share.

pub mod compress;
pub mod curves;
pub mod decode;
pub mod demo;
pub mod denoise;
pub mod encode;
pub mod eval;
pub mod impute;
pub mod inpaint;
pub mod interpolate;
pub mod label;
pub mod latent_map;
pub mod onnx;
pub mod reconstruct;
pub mod sample;
pub mod score;
pub mod serve;
pub mod train;

use std::path::PathBuf;

use anyhow::Result;
use hourglass::artifact::TrainedModel;
use hourglass::data::{self, Dataset, LoadOptions, Split};
use hourglass::device::{Backend, Device};

/// Where the data comes from.
#[derive(clap::Args, Clone)]
pub struct DataArgs {
    /// A data file (IDX[.gz], .csv, .npy, .parquet, .arrow) or a directory holding MNIST-style
    /// IDX files or Parquet/Arrow part files.
    #[arg(long)]
    pub data: PathBuf,
    /// Labels, when they are not beside the data (IDX, NPY or one-column CSV).
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// CSV, Parquet, Arrow: the label column, by header name or 0-based index.
    #[arg(long)]
    pub label_column: Option<String>,
    /// Parquet, Arrow: the feature columns, by name, comma-separated [default: every numeric
    /// column but the label's; for a trained model, the columns it was trained on].
    #[arg(long, value_delimiter = ',')]
    pub columns: Option<Vec<String>>,
    /// Folders of images: the side images are stretched to (bilinear) [default: the most common
    /// size among them; for a trained model, the size it was trained on].
    #[arg(long)]
    pub image_size: Option<usize>,
    /// For a directory holding both IDX splits: which to read.
    #[arg(long, value_parser = parse_split)]
    pub split: Option<Split>,
}

impl DataArgs {
    pub fn load(&self, prefer_split: Option<Split>) -> Result<Dataset> {
        self.load_columns(prefer_split, self.columns.clone())
    }

    /// Loads the data for a trained model: from a Parquet or Arrow table, the columns the model
    /// was trained on unless `--columns` says otherwise.
    /// Images are prepared to the model's channels and size.
    pub fn load_for(&self, model: &TrainedModel) -> Result<Dataset> {
        let columns = match &self.columns {
            Some(columns) => Some(columns.clone()),
            None if data::table::is_table(&self.data) => model.columns.clone(),
            None => None,
        };
        let mut options = self.options(None, columns);
        if model.kind == data::SampleKind::Image {
            options.images = data::images::Preparation::for_shape(model.input);
        }
        Ok(data::load(&self.data, &options)?)
    }

    /// Opens the data for reading a block at a time (`--stream`): NPY arrays, CSV files, Parquet
    /// files or directories, folders of images.
    pub fn open_stream(&self) -> Result<Box<dyn data::stream::RowSource>> {
        Ok(data::stream::open(
            &self.data,
            &self.options(None, self.columns.clone()),
        )?)
    }

    /// [`DataArgs::open_stream`] for a trained model: a table's columns are those it was
    /// trained on unless `--columns` says otherwise.
    pub fn open_stream_for(
        &self,
        model: &TrainedModel,
    ) -> Result<Box<dyn data::stream::RowSource>> {
        let columns = match &self.columns {
            Some(columns) => Some(columns.clone()),
            None if data::table::is_table(&self.data) => model.columns.clone(),
            None => None,
        };
        Ok(data::stream::open(
            &self.data,
            &self.options(None, columns),
        )?)
    }

    fn load_columns(
        &self,
        prefer_split: Option<Split>,
        columns: Option<Vec<String>>,
    ) -> Result<Dataset> {
        Ok(data::load(
            &self.data,
            &self.options(prefer_split, columns),
        )?)
    }

    fn options(&self, prefer_split: Option<Split>, columns: Option<Vec<String>>) -> LoadOptions {
        LoadOptions {
            labels: self.labels.clone(),
            label_column: self.label_column.clone(),
            columns,
            images: data::images::Preparation {
                channels: None,
                size: self.image_size.map(|n| (n, n)),
            },
            split: self.split,
            prefer_split,
        }
    }

    /// Columns of a Parquet or Arrow input, to carry into a Parquet output (`--keep-columns`).
    pub fn kept_columns(
        &self,
        names: &[String],
        out: &std::path::Path,
    ) -> Result<Vec<data::table::Column>> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        if !matches!(data::extension(out).as_str(), "parquet" | "pq") {
            anyhow::bail!(
                "{}: columns of the input are carried into .parquet outputs only (--keep-columns)",
                out.display()
            );
        }
        if !data::table::is_table(&self.data) {
            anyhow::bail!(
                "--keep-columns: {} is not a Parquet or Arrow table",
                self.data.display()
            );
        }
        Ok(data::table::read_columns(&self.data, names)?)
    }
}

fn parse_split(s: &str) -> Result<Split, String> {
    match s {
        "train" => Ok(Split::Train),
        "test" | "t10k" => Ok(Split::Test),
        _ => Err(format!("unknown split {s:?} (train or test)")),
    }
}

/// Refuses to write `output` over `input` (`train --data x.npy --out x.npy` would replace the
/// training data with the model).
pub fn refuse_input_as_output(input: &std::path::Path, output: &std::path::Path) -> Result<()> {
    if let (Ok(a), Ok(b)) = (input.canonicalize(), output.canonicalize())
        && a == b
    {
        anyhow::bail!(
            "{}: is the input; give --out another path",
            output.display()
        );
    }
    Ok(())
}

/// The device flag every command that runs a model takes.
#[derive(clap::Args, Clone)]
pub struct DeviceArgs {
    /// Where to run: cpu (Burn's flex backend) or gpu (wgpu; needs the wgpu build feature).
    #[arg(long, default_value = "cpu")]
    pub device: Backend,
}

/// A trained model applied to a data set: what eval, reconstruct and encode take.
#[derive(clap::Args)]
pub struct ModelOnData {
    /// A model written by `hourglass train`.
    #[arg(long)]
    pub model: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub device: DeviceArgs,
}

impl ModelOnData {
    /// Loads the model and the data, and checks they fit each other and the data is complete.
    pub fn load(&self) -> Result<(TrainedModel, Dataset, Device)> {
        let (model, dataset, device) = self.load_allowing_missing()?;
        model.check_complete(&dataset, &self.data.data)?;
        Ok((model, dataset, device))
    }

    /// Like [`ModelOnData::load`], for commands that fill missing values.
    pub fn load_allowing_missing(&self) -> Result<(TrainedModel, Dataset, Device)> {
        let (model, dataset, device, _) = self.load_series_aware()?;
        Ok((model, dataset, device))
    }

    /// Like [`ModelOnData::load_allowing_missing`], and when the model cut the data, a raw series,
    /// into windows: the series' number of time steps and its column names.
    #[allow(clippy::type_complexity)]
    pub fn load_series_aware(
        &self,
    ) -> Result<(
        TrainedModel,
        Dataset,
        Device,
        Option<(usize, Option<Vec<String>>)>,
    )> {
        let device = self.device.device.device()?;
        let model = TrainedModel::load(&self.model, &device)?;
        let raw = self.data.load_for(&model)?;
        let steps = model
            .config
            .cuts_windows(&raw)
            .then(|| (raw.len(), raw.columns.clone()));
        let dataset = model.config.samples_from(raw)?;
        model.check_data(&dataset, &self.data.data)?;
        Ok((model, dataset, device, steps))
    }
}
