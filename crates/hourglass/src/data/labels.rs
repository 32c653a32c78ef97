//! Label files given with `--labels`: IDX, NPY (integers) or a one-column CSV.

use std::path::Path;

use crate::error::{Error, Result};

/// Reads integer class labels, one per sample.
pub fn read(path: &Path) -> Result<Vec<u32>> {
    let values: Vec<f32> = match super::extension(path).as_str() {
        "npy" => super::npy::read(path)?.values,
        "csv" | "txt" => super::csv::read(path, None)?.values,
        _ => return super::idx::read_labels(path),
    };
    values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            if v >= 0.0 && v.fract() == 0.0 && v <= u32::MAX as f32 {
                Ok(v as u32)
            } else {
                Err(Error::format(
                    path,
                    format!("label {i} is {v}; labels must be non-negative integers"),
                ))
            }
        })
        .collect()
}
