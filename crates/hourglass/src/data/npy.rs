//! NumPy `.npy` arrays of f32, f64 or u8: 2-D is a table (samples × columns), 3-D is
//! single-channel images (N × H × W), 4-D is images with channels (N × C × H × W).

use std::path::Path;

use ndarray::{ArrayD, IxDyn};
use ndarray_npy::{ReadNpyError, ReadNpyExt, WriteNpyExt};

use super::{Dataset, SampleKind, SampleShape};
use crate::error::{Error, Result};

/// Reads an `.npy` file into a data set.
pub fn read(path: &Path) -> Result<Dataset> {
    let bytes = crate::fsutil::read(path)?;
    let (values, dims) = read_any(path, &bytes)?;
    let (shape, kind) = match dims[..] {
        // A 1-D array is one column: labels, or a single series.
        [_] => (SampleShape::tabular(1), SampleKind::Tabular),
        [_, columns] => (SampleShape::tabular(columns), SampleKind::Tabular),
        [_, height, width] => (SampleShape::image(1, height, width), SampleKind::Image),
        [_, channels, height, width] => (
            SampleShape::image(channels, height, width),
            SampleKind::Image,
        ),
        _ => {
            return Err(Error::format(
                path,
                format!("an array of shape {dims:?} is not a data set (want 2, 3 or 4 dimensions)"),
            ));
        }
    };
    Ok(Dataset {
        values,
        shape,
        kind,
        labels: None,
        columns: None,
    })
}

/// The values as f32 and the shape.
fn read_any(path: &Path, bytes: &[u8]) -> Result<(Vec<f32>, Vec<usize>)> {
    let wrap = |e: ReadNpyError| Error::format(path, format!("not a readable .npy array: {e}"));
    match ArrayD::<f32>::read_npy(bytes) {
        Ok(a) => return Ok((a.iter().copied().collect(), a.shape().to_vec())),
        Err(ReadNpyError::WrongDescriptor(_)) => {}
        Err(e) => return Err(wrap(e)),
    }
    match ArrayD::<f64>::read_npy(bytes) {
        Ok(a) => return Ok((a.iter().map(|&v| v as f32).collect(), a.shape().to_vec())),
        Err(ReadNpyError::WrongDescriptor(_)) => {}
        Err(e) => return Err(wrap(e)),
    }
    match ArrayD::<u8>::read_npy(bytes) {
        Ok(a) => Ok((a.iter().map(|&v| v as f32).collect(), a.shape().to_vec())),
        Err(ReadNpyError::WrongDescriptor(_)) => Err(Error::format(
            path,
            format!(
                "unsupported .npy dtype {} (hourglass reads float32, float64 and uint8)",
                descriptor(bytes).unwrap_or_else(|| "?".into())
            ),
        )),
        Err(e) => Err(wrap(e)),
    }
}

/// The `descr` entry of an `.npy` header, for error messages.
fn descriptor(bytes: &[u8]) -> Option<String> {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(256)]).into_owned();
    let start = head.find("'descr':")? + "'descr':".len();
    let rest = head[start..].trim_start().strip_prefix('\'')?;
    Some(rest[..rest.find('\'')?].to_string())
}

/// Writes `rows × shape` f32 values as an `.npy` array, atomically.
pub fn write(path: &Path, values: &[f32], dims: &[usize]) -> Result<()> {
    let array = ArrayD::from_shape_vec(IxDyn(dims), values.to_vec()).map_err(|e| {
        Error::invalid(format!(
            "cannot shape {} values as {dims:?}: {e}",
            values.len()
        ))
    })?;
    crate::fsutil::write_atomic_with(path, |w| {
        array
            .write_npy(w)
            .map_err(|e| std::io::Error::other(e.to_string()))
    })
}
