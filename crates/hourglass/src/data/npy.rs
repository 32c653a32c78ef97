//! NumPy `.npy` arrays of f32, f64, u8, i32 or i64: 2-D is a table (samples × columns), 3-D is
//! single-channel images (N × H × W), 4-D is images with channels (N × C × H × W).

use std::path::Path;

use ndarray::{ArrayD, IxDyn};
use ndarray_npy::{ReadNpyError, ReadNpyExt, WriteNpyExt};

use super::{Dataset, SampleKind, SampleShape};
use crate::error::{Error, Result};

/// Reads an `.npy` file into a data set.
pub fn read(path: &Path) -> Result<Dataset> {
    from_bytes(path, &crate::fsutil::read(path)?)
}

/// Reads `.npy` bytes (a file's, or a request body's) into a data set; `source` names them in
/// errors.
pub fn from_bytes(source: &Path, bytes: &[u8]) -> Result<Dataset> {
    let path = source;
    let (values, dims) = read_any(path, bytes)?;
    let (shape, kind) = sample_shape(path, &dims)?;
    Ok(Dataset {
        values,
        shape,
        kind,
        labels: None,
        columns: None,
    })
}

/// What one sample of an array of these dimensions is: 2-D is a table, 3-D single-channel
/// images, 4-D images with channels (a 1-D array is one column: labels, or a single series).
pub(crate) fn sample_shape(path: &Path, dims: &[usize]) -> Result<(SampleShape, SampleKind)> {
    Ok(match dims[..] {
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
    })
}

/// Values as f32 and the shape, if the array holds the element type tried.
type Attempt = std::result::Result<Option<(Vec<f32>, Vec<usize>)>, ReadNpyError>;

/// The values as f32 and the shape. Integer arrays are read too: labels saved from NumPy are
/// int64 by default, images often uint8.
fn read_any(path: &Path, bytes: &[u8]) -> Result<(Vec<f32>, Vec<usize>)> {
    if let Some((start, end)) = header(bytes) {
        check_header_form(path, &bytes[start..end])?;
        let text = String::from_utf8_lossy(&bytes[start..end]);
        check_declared_size(path, &text, (bytes.len() - end) as u64)?;
    }
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

/// NumPy's own limit on header length (`np.load`'s `max_header_size`); a plain array's header
/// is under 200 bytes.
pub(crate) const MAX_HEADER_BYTES: usize = 10_000;

/// Refuses a header that is too long or nested deeper than a plain array's dict holding a shape
/// tuple, before the header parser sees it: that parser backtracks, and takes seconds per
/// input on a few hundred nested brackets (found by fuzzing).
pub(crate) fn check_header_form(path: &Path, header: &[u8]) -> Result<()> {
    if header.len() > MAX_HEADER_BYTES {
        return Err(Error::format(
            path,
            format!(
                "the .npy header is {} bytes long; NumPy itself refuses headers over {MAX_HEADER_BYTES}",
                header.len()
            ),
        ));
    }
    let mut depth = 0usize;
    for c in header {
        match c {
            b'{' | b'[' | b'(' => depth += 1,
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        if depth > 3 {
            return Err(Error::format(
                path,
                "the .npy header is nested deeper than a plain array's (a dict with a shape tuple)",
            ));
        }
    }
    Ok(())
}

/// Refuses a header whose shape and element size do not add up to the bytes that follow it,
/// before anything is allocated for it (a 1 KB file claiming 10^11 rows would otherwise abort
/// the process). Headers it cannot parse are left to the reader, which names the problem.
pub(crate) fn check_declared_size(path: &Path, header: &str, body: u64) -> Result<()> {
    let (Some(descr), Some(shape)) = (descriptor_of(header), shape(header)) else {
        return Ok(());
    };
    let Some(size) = descr
        .trim_start_matches(['<', '>', '|', '='])
        .get(1..)
        .and_then(|n| n.parse::<u64>().ok())
    else {
        return Ok(());
    };
    let declared = shape
        .iter()
        .try_fold(size, |acc, &d| acc.checked_mul(d as u64));
    match declared {
        Some(n) if n == body => Ok(()),
        _ => Err(Error::format(
            path,
            format!(
                "the .npy header declares shape {shape:?} of {descr} ({}), but {body} bytes follow it",
                declared.map_or("more bytes than can be counted".to_string(), |n| format!(
                    "{n} bytes"
                ))
            ),
        )),
    }
}

/// Where an `.npy` header's text starts and how long it is, from the fixed preamble (the first
/// 10 bytes for format version 1, 12 for versions 2 and 3).
pub(crate) fn preamble(bytes: &[u8]) -> Option<(usize, usize)> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return None;
    }
    match bytes[6] {
        1 => Some((10, u16::from_le_bytes([bytes[8], bytes[9]]) as usize)),
        2 | 3 if bytes.len() >= 12 => Some((
            12,
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
        )),
        _ => None,
    }
}

/// Where an `.npy` header's text starts and ends (format versions 1 to 3).
fn header(bytes: &[u8]) -> Option<(usize, usize)> {
    let (start, len) = preamble(bytes)?;
    let end = start.checked_add(len).filter(|&e| e <= bytes.len())?;
    Some((start, end))
}

/// The `shape` tuple of an `.npy` header.
pub(crate) fn shape(header: &str) -> Option<Vec<usize>> {
    let start = header.find("'shape':")? + "'shape':".len();
    let rest = header[start..].trim_start().strip_prefix('(')?;
    rest[..rest.find(')')?]
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| d.parse().ok())
        .collect()
}

/// The `descr` entry of an `.npy` header, for error messages.
fn descriptor(bytes: &[u8]) -> Option<String> {
    descriptor_of(&String::from_utf8_lossy(&bytes[..bytes.len().min(256)]))
}

/// The `descr` entry of an `.npy` header's text.
pub(crate) fn descriptor_of(head: &str) -> Option<String> {
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
    fn a_header_that_promises_more_than_the_file_holds_is_refused() {
        let mut bytes = Vec::new();
        ndarray::arr2(&[[1.0f32, 2.0], [3.0, 4.0]])
            .write_npy(&mut bytes)
            .unwrap();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        // Same header length: "(2, 2)" becomes "(100000000000, 10)" in the padding's place.
        let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        let old = &text[10..10 + header_len];
        let new = old.replace("(2, 2)", "(100000000000, 10)");
        let new = format!("{:<width$}", new.trim_end(), width = header_len - 1) + "\n";
        let mut forged = bytes[..10].to_vec();
        forged.extend(new.as_bytes());
        forged.extend(&bytes[10 + header_len..]);
        let err = read_any(Path::new("huge.npy"), &forged)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("huge.npy") && err.contains("100000000000"),
            "{err}"
        );
        assert!(read_any(Path::new("ok.npy"), &bytes).is_ok());
    }

    #[test]
    fn a_deeply_nested_header_is_refused_at_once() {
        // The fuzzer's input: 100 '{' inside the descr, which the header parser took seconds on.
        let text = format!("{{'descr':{}'<f4', 'shape': (1,), }}", "{".repeat(100));
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend((text.len() as u16 + 1).to_le_bytes());
        bytes.extend(text.as_bytes());
        bytes.push(b'\n');
        bytes.extend(1.0f32.to_le_bytes());
        let err = read_any(Path::new("nested.npy"), &bytes).unwrap_err();
        assert!(err.to_string().contains("nested.npy"), "{err}");
        assert!(err.to_string().contains("nested deeper"), "{err}");
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
