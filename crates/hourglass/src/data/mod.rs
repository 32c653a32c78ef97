//! Reading data sets from disk into one in-memory form, [`Dataset`], whatever the file format.

pub mod csv;
pub mod dataset;
pub mod idx;
pub mod images;
pub mod labels;
pub mod noise;
pub mod npy;
pub mod scaling;
pub mod stream;
pub mod table;
pub mod window;

use std::path::{Path, PathBuf};

pub use dataset::{Dataset, SampleKind, SampleShape};
pub use scaling::Scaling;

use crate::error::{Error, Result};

/// Which half of a data directory holding both the training and the test IDX files to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Test,
}

/// Options that only some formats use.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// A file of labels, when they are not next to the data (IDX) or inside it (CSV).
    pub labels: Option<PathBuf>,
    /// CSV, Parquet, Arrow: the column that holds the label (a header name or a 0-based index).
    pub label_column: Option<String>,
    /// Parquet, Arrow: the feature columns by name (default: every numeric column but the
    /// label's).
    pub columns: Option<Vec<String>>,
    /// Folders of images and image files: the channels and size to prepare them to.
    pub images: images::Preparation,
    /// For a directory of IDX files: the split that must be read.
    pub split: Option<Split>,
    /// Without `split`: the split to read when the directory has both (the test split if
    /// `None`, which is what every command but `train` wants).
    pub prefer_split: Option<Split>,
}

/// Loads a data set from a file, or a directory of IDX or table files, choosing the reader by
/// extension.
pub fn load(path: &Path, options: &LoadOptions) -> Result<Dataset> {
    if !path.exists() {
        return Err(Error::format(path, "no such file or directory"));
    }
    let is_table = table::is_table(path);
    if options.columns.is_some() && !is_table {
        return Err(Error::format(
            path,
            "columns are chosen by name in Parquet and Arrow tables only",
        ));
    }
    let mut dataset = if is_table {
        let selection = table::Selection {
            columns: options.columns.as_deref(),
            label_column: options.label_column.as_deref(),
        };
        table::read(path, selection)?
    } else if images::is_image_file(path) || images::is_image_folder(path) {
        images::read(path, options.images)?
    } else if path.is_dir() {
        let (images, labels) = idx::find_in_directory(path, options.split, options.prefer_split)?;
        let mut dataset = idx::read_images(&images)?;
        if options.labels.is_none()
            && let Some(labels) = labels
        {
            dataset.labels = Some(idx::read_labels(&labels)?);
        }
        dataset
    } else {
        match extension(path).as_str() {
            "csv" | "tsv" | "txt" => csv::read(path, options.label_column.as_deref())?,
            "npy" => npy::read(path)?,
            _ => {
                let mut dataset = idx::read_images(path)?;
                if options.labels.is_none()
                    && let Some(labels) = idx::sibling_labels(path)
                {
                    dataset.labels = Some(idx::read_labels(&labels)?);
                }
                dataset
            }
        }
    };
    if let Some(labels_path) = &options.labels {
        dataset.labels = Some(labels::read(labels_path)?);
    }
    if let Some(labels) = &dataset.labels
        && labels.len() != dataset.len()
    {
        let from = options.labels.as_deref().unwrap_or(path);
        return Err(Error::format(
            from,
            format!(
                "{} labels for {} samples in {}",
                labels.len(),
                dataset.len(),
                path.display()
            ),
        ));
    }
    Ok(dataset)
}

/// A directory's entries, in name order (part files and class folders are read in that order).
pub(crate) fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    Ok(paths)
}

/// The lower-case extension, looking through a trailing `.gz`.
pub fn extension(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    Path::new(name)
        .extension()
        .map(|e| e.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Reads a file, un-gzipping it when it starts with the gzip magic bytes. The inflated size is
/// capped at [`crate::fsutil::MAX_INFLATE_RATIO`] times the file (real data sets compress far
/// less), so a gzip bomb is refused before it fills the memory.
pub(crate) fn read_maybe_gzipped(path: &Path) -> Result<Vec<u8>> {
    let bytes = crate::fsutil::read(path)?;
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let cap = crate::fsutil::inflate_cap(bytes.len());
        crate::fsutil::inflate_capped(
            flate2::read::GzDecoder::new(&bytes[..]),
            cap,
            path,
            "gzip stream",
        )
    } else {
        Ok(bytes)
    }
}
