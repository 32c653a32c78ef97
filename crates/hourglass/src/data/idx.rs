//! IDX files, the format of MNIST and Fashion-MNIST: a magic number naming the element type and
//! the number of dimensions, the dimensions as big-endian u32, then the values. Gzipped or raw.

use std::path::{Path, PathBuf};

use super::{Dataset, SampleKind, SampleShape, Split, read_maybe_gzipped};
use crate::error::{Error, Result};

/// IDX element type code for unsigned bytes, the only one MNIST-style sets use.
const UNSIGNED_BYTE: u8 = 0x08;

/// A parsed IDX file of unsigned bytes.
struct IdxArray {
    dims: Vec<usize>,
    values: Vec<u8>,
}

fn parse(path: &Path, bytes: &[u8]) -> Result<IdxArray> {
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 {
        return Err(Error::format(
            path,
            "not an IDX file (the first two bytes must be zero)",
        ));
    }
    if bytes[2] != UNSIGNED_BYTE {
        return Err(Error::format(
            path,
            format!(
                "IDX element type 0x{:02x} is not supported (only unsigned bytes, 0x08)",
                bytes[2]
            ),
        ));
    }
    let rank = bytes[3] as usize;
    if rank == 0 || bytes.len() < 4 + 4 * rank {
        return Err(Error::format(path, "truncated IDX header"));
    }
    let dims: Vec<usize> = (0..rank)
        .map(|i| {
            let at = 4 + 4 * i;
            u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize
        })
        .collect();
    // Checked: dimensions whose product wraps around would otherwise pass for a small file.
    let expected = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| {
            Error::format(
                path,
                format!("IDX header dimensions {dims:?} are impossibly large"),
            )
        })?;
    let body = &bytes[4 + 4 * rank..];
    if body.len() != expected {
        return Err(Error::format(
            path,
            format!(
                "IDX header promises {} values ({:?}) but the file holds {}{}",
                expected,
                dims,
                body.len(),
                if body.len() < expected {
                    " (truncated?)"
                } else {
                    ""
                }
            ),
        ));
    }
    Ok(IdxArray {
        dims,
        values: body.to_vec(),
    })
}

/// Reads an IDX image file: N × H × W (one channel) or N × C × H × W, or N × D as table rows.
pub fn read_images(path: &Path) -> Result<Dataset> {
    let array = parse(path, &read_maybe_gzipped(path)?)?;
    let (shape, kind) = match array.dims[..] {
        [_, height, width] => (SampleShape::image(1, height, width), SampleKind::Image),
        [_, channels, height, width] => (
            SampleShape::image(channels, height, width),
            SampleKind::Image,
        ),
        [_, columns] => (SampleShape::tabular(columns), SampleKind::Tabular),
        _ => {
            return Err(Error::format(
                path,
                format!(
                    "an IDX file of {} dimensions is not a set of images (labels go in --labels)",
                    array.dims.len()
                ),
            ));
        }
    };
    Ok(Dataset {
        values: array.values.iter().map(|&v| v as f32).collect(),
        shape,
        kind,
        labels: None,
        columns: None,
    })
}

/// Reads an IDX label file: one byte per sample.
pub fn read_labels(path: &Path) -> Result<Vec<u32>> {
    let array = parse(path, &read_maybe_gzipped(path)?)?;
    if array.dims.len() != 1 {
        return Err(Error::format(
            path,
            format!(
                "an IDX label file has one dimension, this one has {}",
                array.dims.len()
            ),
        ));
    }
    Ok(array.values.iter().map(|&v| v as u32).collect())
}

/// The label file that goes with an image file by the MNIST naming convention, if it exists.
pub fn sibling_labels(images: &Path) -> Option<PathBuf> {
    let name = images.file_name()?.to_str()?;
    if !name.contains("images-idx3") {
        return None;
    }
    let labels = images.with_file_name(name.replace("images-idx3", "labels-idx1"));
    labels.exists().then_some(labels)
}

/// Finds the image (and label) file of one split in an MNIST-style directory. `split` must be
/// there when given; otherwise `prefer` is taken when present (the test split by default), and
/// the other split when it is the only one.
pub fn find_in_directory(
    dir: &Path,
    split: Option<Split>,
    prefer: Option<Split>,
) -> Result<(PathBuf, Option<PathBuf>)> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut train = None;
    let mut test = None;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.contains("images-idx3") {
            continue;
        }
        if name.starts_with("train") {
            train = Some(entry.path());
        } else if name.starts_with("t10k") || name.starts_with("test") {
            test = Some(entry.path());
        }
    }
    let wanted = split.or(prefer).unwrap_or(Split::Test);
    let (first, other) = match wanted {
        Split::Train => (train, test),
        Split::Test => (test, train),
    };
    let fallback = if split.is_none() { other } else { None };
    let images = first.or(fallback).ok_or_else(|| {
        let which = if split.is_some() {
            format!("{wanted:?} ").to_lowercase()
        } else {
            String::new()
        };
        Error::format(
            dir,
            format!("no {which}IDX image files (*-images-idx3-ubyte[.gz]) in this directory"),
        )
    })?;
    let labels = sibling_labels(&images);
    Ok((images, labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(dims: &[u32], body: &[u8]) -> Vec<u8> {
        let mut bytes = vec![0, 0, UNSIGNED_BYTE, dims.len() as u8];
        for d in dims {
            bytes.extend_from_slice(&d.to_be_bytes());
        }
        bytes.extend_from_slice(body);
        bytes
    }

    #[test]
    fn parses_a_well_formed_file() {
        let array = parse(
            Path::new("x"),
            &idx(&[2, 2, 2], &[0, 1, 2, 3, 4, 5, 6, 255]),
        )
        .unwrap();
        assert_eq!(array.dims, vec![2, 2, 2]);
        assert_eq!(array.values[7], 255);
    }

    #[test]
    fn dimensions_whose_product_overflows_are_refused() {
        // 252871 × 1179713 × 61836419 wraps around to 21 in 64 bits: without the check a file
        // of 21 pixels passed for that many images.
        let bytes = idx(&[252_871, 1_179_713, 61_836_419], &[0; 21]);
        let err = parse(Path::new("wrap-idx3-ubyte"), &bytes)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("wrap-idx3-ubyte") && err.contains("impossibly large"),
            "{err}"
        );
    }

    #[test]
    fn names_the_problem_with_a_bad_file() {
        let path = Path::new("bad.idx");
        let truncated = parse(path, &idx(&[2, 2, 2], &[0; 5])).err().unwrap();
        assert!(truncated.to_string().contains("truncated"), "{truncated}");
        assert!(truncated.to_string().contains("bad.idx"));
        let magic = parse(path, b"PK\x03\x04rest").err().unwrap();
        assert!(magic.to_string().contains("not an IDX file"), "{magic}");
        let mut float = idx(&[1], &[0, 0, 0, 0]);
        float[2] = 0x0D;
        assert!(parse(path, &float).is_err());
    }
}
