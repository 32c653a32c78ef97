//! CSV tables: numeric columns, an optional header row, an optional label column. Empty and
//! `NaN` cells are read as missing (NaN); commands that cannot work with gaps refuse them.

use std::path::Path;

use super::{Dataset, SampleKind, SampleShape};
use crate::error::{Error, Result};

/// Reads a numeric CSV file. `label_column` is a header name or a 0-based column index.
pub fn read(path: &Path, label_column: Option<&str>) -> Result<Dataset> {
    let bytes = super::read_maybe_gzipped(path)?;
    let delimiter = if super::extension(path) == "tsv" {
        b'\t'
    } else {
        b','
    };
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .delimiter(delimiter)
        .trim(::csv::Trim::All)
        .from_reader(&bytes[..]);

    let mut records = reader.records();
    let first = match records.next() {
        Some(record) => record.map_err(|e| csv_error(path, e))?,
        None => return Err(Error::format(path, "empty CSV file")),
    };
    let header = first
        .iter()
        .any(|cell| !cell.is_empty() && parse_cell(cell).is_none())
        .then(|| first.iter().map(str::to_string).collect::<Vec<_>>());

    let width = first.len();
    let label_index = match label_column {
        None => None,
        Some(name) => Some(find_column(path, header.as_deref(), width, name)?),
    };

    let mut values = Vec::new();
    let mut labels = Vec::new();
    let mut rows = 0usize;
    let first_data = if header.is_some() { None } else { Some(first) };
    for (row, record) in first_data.into_iter().map(Ok).chain(records).enumerate() {
        let record = record.map_err(|e| csv_error(path, e))?;
        // Line numbers as a person counts them in an editor.
        let line = row + 1 + usize::from(header.is_some());
        for (column, cell) in record.iter().enumerate() {
            let value = parse_cell(cell).ok_or_else(|| {
                Error::format(
                    path,
                    format!(
                        "line {line}, column {}: {cell:?} is not a number",
                        column_name(header.as_deref(), column)
                    ),
                )
            })?;
            // Infinity (typed, or a number past f32's range) is no measurement: say where it is.
            if value.is_infinite() {
                return Err(Error::format(
                    path,
                    format!(
                        "line {line}, column {}: {cell:?} is infinite (or beyond f32's range)",
                        column_name(header.as_deref(), column)
                    ),
                ));
            }
            if Some(column) == label_index {
                if !(value >= 0.0 && value.fract() == 0.0 && (value as f64) < 4_294_967_296.0) {
                    return Err(Error::format(
                        path,
                        format!("line {line}: label {cell:?} is not a non-negative integer"),
                    ));
                }
                labels.push(value as u32);
            } else {
                values.push(value);
            }
        }
        rows += 1;
    }
    let columns = width - usize::from(label_index.is_some());
    if rows == 0 || columns == 0 {
        return Err(Error::format(path, "no numeric data in this CSV file"));
    }
    Ok(Dataset {
        values,
        shape: SampleShape::tabular(columns),
        kind: SampleKind::Tabular,
        labels: label_index.map(|_| labels),
        columns: header.map(|names| {
            names
                .into_iter()
                .enumerate()
                .filter(|(i, _)| Some(*i) != label_index)
                .map(|(_, name)| name)
                .collect()
        }),
    })
}

/// A number, or NaN for an empty or `NaN`/`NA` cell; `None` for anything else.
fn parse_cell(cell: &str) -> Option<f32> {
    match cell {
        "" | "NaN" | "nan" | "NA" => Some(f32::NAN),
        _ => cell.parse::<f32>().ok(),
    }
}

/// A column as a person would name it: its header, or its 1-based number.
fn column_name(header: Option<&[String]>, column: usize) -> String {
    match header.and_then(|h| h.get(column)) {
        Some(name) => format!("{name:?}"),
        None => (column + 1).to_string(),
    }
}

fn find_column(path: &Path, header: Option<&[String]>, width: usize, name: &str) -> Result<usize> {
    if let Some(index) = header.and_then(|h| h.iter().position(|c| c == name)) {
        return Ok(index);
    }
    match name.parse::<usize>() {
        Ok(index) if index < width => Ok(index),
        _ => Err(Error::format(
            path,
            format!(
                "no label column {name:?} (give a header name or a 0-based index below {width})"
            ),
        )),
    }
}

fn csv_error(path: &Path, error: ::csv::Error) -> Error {
    let message = match error.kind() {
        ::csv::ErrorKind::UnequalLengths {
            pos,
            expected_len,
            len,
        } => format!(
            "line {}: {len} fields where earlier lines have {expected_len} (ragged rows)",
            pos.as_ref().map(|p| p.line()).unwrap_or(0)
        ),
        _ => error.to_string(),
    };
    Error::format(path, message)
}
