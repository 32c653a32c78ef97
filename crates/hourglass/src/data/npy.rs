//! NumPy `.npy` arrays of f32, f64, u8, i32 or i64: 2-D is a table (samples × columns), 3-D is
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

/// Values as f32 and the shape, if the array holds the element type tried.
type Attempt = std::result::Result<Option<(Vec<f32>, Vec<usize>)>, ReadNpyError>;

/// The values as f32 and the shape. Integer arrays are read too: labels saved from NumPy are
/// int64 by default, images often uint8.
fn read_any(path: &Path, bytes: &[u8]) -> Result<(Vec<f32>, Vec<usize>)> {
    let read = || -> Attempt {
        if let Some(found) = try_read::<f32>(bytes, |v| v)? {
            return Ok(Some(found));
        }
        if let Some(found) = try_read::<f64>(bytes, |v| v as f32)? {
            return Ok(Some(found));
        }
        if let Some(found) = try_read::<u8>(bytes, f32::from)? {
            return Ok(Some(found));
        }
        if let Some(found) = try_read::<i64>(bytes, |v| v as f32)? {
            return Ok(Some(found));
        }
        try_read::<i32>(bytes, |v| v as f32)
    };
    match read() {
        Ok(Some(found)) => Ok(found),
        Ok(None) => Err(Error::format(
            path,
            format!(
                "unsupported .npy dtype {} (hourglass reads float32, float64, uint8, int32 and int64)",
                descriptor(bytes).unwrap_or_else(|| "?".into())
            ),
        )),
        Err(e) => Err(Error::format(
            path,
            format!("not a readable .npy array: {e}"),
        )),
    }
}

/// The array as f32 if its element type is `T`; `None` if it holds another type.
fn try_read<T: ndarray_npy::ReadableElement>(bytes: &[u8], to_f32: fn(T) -> f32) -> Attempt {
    match ArrayD::<T>::read_npy(bytes) {
        Ok(a) => {
            let shape = a.shape().to_vec();
            Ok(Some((a.into_iter().map(to_f32).collect(), shape)))
        }
        Err(ReadNpyError::WrongDescriptor(_)) => Ok(None),
        Err(e) => Err(e),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_integer_labels_as_numpy_saves_them() {
        let mut bytes = Vec::new();
        ndarray::arr1(&[3i64, 0, 9]).write_npy(&mut bytes).unwrap();
        let (values, dims) = read_any(Path::new("labels.npy"), &bytes).unwrap();
        assert_eq!((values, dims), (vec![3.0, 0.0, 9.0], vec![3]));
    }

    #[test]
    fn names_an_unsupported_dtype() {
        let mut bytes = Vec::new();
        ndarray::arr1(&[true, false]).write_npy(&mut bytes).unwrap();
        let err = read_any(Path::new("flags.npy"), &bytes).unwrap_err();
        assert!(err.to_string().contains("flags.npy"), "{err}");
        assert!(
            err.to_string().contains("unsupported .npy dtype |b1"),
            "{err}"
        );
    }
}
