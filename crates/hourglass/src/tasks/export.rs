//! Reading and writing what the codec produces: latent codes as CSV/NPY/Parquet for other tools,
//! decoded samples as NPY (original units) or PNG, anomaly scores as CSV or Parquet.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use arrow_array::{BooleanArray, Float32Array, StringArray, UInt32Array, UInt64Array};

use crate::artifact::TrainedModel;
use crate::data::table::{self, Column};
use crate::data::{self, npy};
use crate::error::{Error, Result};
use crate::plot::grid;

/// Writes `n × width` latent codes: CSV with a header (`z0,z1,…[,label]`), NPY, or Parquet (the
/// same columns, then the input's columns in `keep`, one value per row).
pub fn write_latents(
    path: &Path,
    latents: &[f32],
    width: usize,
    labels: Option<&[u32]>,
    keep: &[Column],
) -> Result<()> {
    let rows = latents.len() / width.max(1);
    let mut block = Some((latents.to_vec(), labels.map(<[u32]>::to_vec)));
    write_latents_by_blocks(path, width, rows, labels.is_some(), keep, &mut || {
        Ok(block.take())
    })
}

/// One block of latent codes (`rows × width`) and, when asked for, their labels.
pub type CodeBlock = (Vec<f32>, Option<Vec<u32>>);

/// Writes latent codes as [`write_latents`] does, a block at a time as `next` hands them out
/// (`None` when done), for data read by blocks (`encode --stream`): memory holds one block.
/// `rows` is the total; `keep` columns hold every row and are sliced to each block.
pub fn write_latents_by_blocks(
    path: &Path,
    width: usize,
    rows: usize,
    with_labels: bool,
    keep: &[Column],
    next: &mut dyn FnMut() -> Result<Option<CodeBlock>>,
) -> Result<()> {
    let extension = data::extension(path);
    refuse_kept_columns(path, &extension, keep)?;
    if !matches!(extension.as_str(), "csv" | "npy" | "parquet" | "pq") {
        return Err(Error::format(
            path,
            format!("cannot write latent codes as .{extension} (use .csv, .npy or .parquet)"),
        ));
    }
    if with_labels && extension == "npy" {
        return Err(Error::invalid(
            "--with-labels needs a .csv output (an .npy array holds one type)",
        ));
    }
    let names: Vec<String> = (0..width).map(|j| format!("z{j}")).collect();
    let label = with_labels.then_some("label");
    let kept = keep.iter().map(|c| c.name.as_str());
    table::check_unique_names(names.iter().map(String::as_str).chain(label).chain(kept))?;
    // An error of the input (not of the output file) is returned as it is.
    let mut failure = None;
    let mut written = 0usize;
    // The next block, checked against the rows declared.
    let mut take = || -> Result<Option<CodeBlock>> {
        let Some(block) = next()? else {
            return if written == rows {
                Ok(None)
            } else {
                Err(Error::invalid(format!(
                    "the input declared {rows} rows and held {written}"
                )))
            };
        };
        written += block.0.len() / width.max(1);
        if written > rows {
            return Err(Error::invalid("the input holds more rows than it declared"));
        }
        Ok(Some(block))
    };
    let mut body = |w: &mut std::io::BufWriter<std::fs::File>| -> Result<()> {
        let io = |e: std::io::Error| Error::io(path, e);
        let names = names.clone();
        match extension.as_str() {
            "npy" => {
                let dict = format!(
                    "{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {width}), }}"
                );
                // Magic, version 1.0, header length, then the header padded to 64 bytes.
                let padded = (10 + dict.len() + 1).div_ceil(64) * 64 - 10;
                w.write_all(b"\x93NUMPY\x01\x00").map_err(io)?;
                w.write_all(&(padded as u16).to_le_bytes()).map_err(io)?;
                writeln!(w, "{dict:<width$}", width = padded - 1).map_err(io)?;
                while let Some((codes, _)) = take()? {
                    let bytes: Vec<u8> = codes.iter().flat_map(|v| v.to_le_bytes()).collect();
                    w.write_all(&bytes).map_err(io)?;
                }
                Ok(())
            }
            "csv" => {
                let mut header = names;
                if with_labels {
                    header.push("label".into());
                }
                writeln!(w, "{}", header.join(",")).map_err(io)?;
                while let Some((codes, labels)) = take()? {
                    for (i, row) in codes.chunks_exact(width).enumerate() {
                        let mut cells: Vec<String> = row.iter().map(|v| v.to_string()).collect();
                        if let Some(labels) = &labels {
                            cells.push(labels[i].to_string());
                        }
                        writeln!(w, "{}", cells.join(",")).map_err(io)?;
                    }
                }
                Ok(())
            }
            _ => {
                let parquet = |e: parquet::errors::ParquetError| {
                    Error::invalid(format!("{}: {e}", path.display()))
                };
                let mut fields: Vec<arrow_schema::Field> = names
                    .iter()
                    .map(|n| arrow_schema::Field::new(n, arrow_schema::DataType::Float32, false))
                    .collect();
                if with_labels {
                    fields.push(arrow_schema::Field::new(
                        "label",
                        arrow_schema::DataType::UInt32,
                        false,
                    ));
                }
                fields.extend(keep.iter().map(|c| {
                    arrow_schema::Field::new(&c.name, c.array.data_type().clone(), c.nullable)
                }));
                let schema = Arc::new(arrow_schema::Schema::new(fields));
                let props = parquet::file::properties::WriterProperties::builder()
                    .set_compression(parquet::basic::Compression::SNAPPY)
                    .build();
                let mut writer =
                    parquet::arrow::ArrowWriter::try_new(w, schema.clone(), Some(props))
                        .map_err(parquet)?;
                let mut first = 0;
                while let Some((codes, labels)) = take()? {
                    let n = codes.len() / width.max(1);
                    let mut columns: Vec<arrow_array::ArrayRef> =
                        (0..width).map(|j| strided(&codes, j, width)).collect();
                    if with_labels {
                        columns.push(Arc::new(UInt32Array::from(labels.unwrap_or_default())));
                    }
                    columns.extend(keep.iter().map(|c| c.array.slice(first, n)));
                    first += n;
                    let batch = arrow_array::RecordBatch::try_new(schema.clone(), columns)
                        .map_err(|e| Error::invalid(format!("{}: {e}", path.display())))?;
                    writer.write(&batch).map_err(parquet)?;
                }
                writer.close().map_err(parquet)?;
                Ok(())
            }
        }
    };
    let result = crate::fsutil::write_atomic_with(path, |w| {
        body(w).map_err(|e| {
            failure = Some(e);
            std::io::Error::other("stopped")
        })
    });
    match failure {
        Some(e) => Err(e),
        None => result,
    }
}

/// Reads latent codes written by [`write_latents`] (a `label` column is ignored).
pub fn read_latents(path: &Path, width: usize) -> Result<Vec<f32>> {
    let options = data::LoadOptions {
        label_column: (data::extension(path) == "csv" && csv_has_label(path))
            .then(|| "label".into()),
        // A Parquet file of codes may carry a label and kept columns: read the codes only.
        columns: table::is_table(path).then(|| (0..width).map(|j| format!("z{j}")).collect()),
        ..Default::default()
    };
    let codes = data::load(path, &options)?;
    if codes.shape.features() != width {
        return Err(Error::format(
            path,
            format!(
                "rows of {} values, but this model's latent codes have {width}",
                codes.shape.features()
            ),
        ));
    }
    if let Some((row, column)) = codes.first_non_finite() {
        return Err(Error::format(
            path,
            format!("row {row}, value {column} is missing or not finite"),
        ));
    }
    Ok(codes.values)
}

/// Whether a CSV file's first line names a `label` column (as `encode --with-labels` writes).
fn csv_has_label(path: &Path) -> bool {
    use std::io::BufRead;
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    let mut first = String::new();
    let _ = std::io::BufReader::new(file).read_line(&mut first);
    first.split(',').any(|c| c.trim() == "label")
}

/// Whether an output path asks for a picture.
pub fn is_png(path: &Path) -> bool {
    data::extension(path) == "png"
}

/// Writes decoded samples (in the model's scaled space): NPY in the data's original units, shaped
/// like the training data, or a PNG grid for images.
pub fn write_samples(path: &Path, model: &TrainedModel, mut scaled: Vec<f32>) -> Result<()> {
    let shape = model.input;
    let n = scaled.len() / shape.features();
    match data::extension(path).as_str() {
        "png" => {
            if shape.height < 2 {
                return Err(Error::invalid(
                    "this model works on table rows; write .npy instead of .png",
                ));
            }
            grid::save_samples(path, &scaled, shape, grid::COLUMNS)
        }
        "npy" => {
            model.scaling.invert(&mut scaled);
            let dims = if shape.height < 2 {
                vec![n, shape.features()]
            } else {
                vec![n, shape.channels, shape.height, shape.width]
            };
            npy::write(path, &scaled, &dims)
        }
        other => Err(Error::format(
            path,
            format!("cannot write samples as .{other} (use .npy or .png)"),
        )),
    }
}

/// Writes anomaly scores as CSV: `index,score,flagged[,label][,error_0,…][,top_columns]`, the
/// per-feature squared errors when `per_feature` is given (`n × width`), and with `explain` (a
/// table's column names and squared errors) the columns that contribute most to each
/// flagged row, separated by `;`. A `.parquet` path gets the same columns as Parquet, then the
/// input's columns in `keep`.
pub fn write_scores(
    path: &Path,
    scores: &[f32],
    threshold: f64,
    labels: Option<&[u32]>,
    per_feature: Option<(&[f32], usize)>,
    explain: Option<(&[String], &[f32])>,
    keep: &[Column],
) -> Result<()> {
    let tops: Option<Vec<Option<String>>> = explain.map(|(names, errors)| {
        let d = names.len();
        (0..scores.len())
            .map(|i| {
                (scores[i] as f64 > threshold)
                    .then(|| top_column_cell(&errors[i * d..(i + 1) * d], names))
            })
            .collect()
    });
    write_score_table(
        path,
        scores,
        threshold,
        labels,
        per_feature,
        tops.as_deref(),
        keep,
    )
}

/// A flagged row's `top_columns` cell: the names of the columns contributing most to its error,
/// separated by `;`.
pub fn top_column_cell(errors: &[f32], names: &[String]) -> String {
    let names: Vec<String> = crate::tasks::anomaly::top_columns(errors, names)
        .iter()
        .map(|c| c.column.replace([',', ';', '"', '\n'], " "))
        .collect();
    names.join(";")
}

/// [`write_scores`] with each flagged row's `top_columns` cell given (`tops`, one per row).
pub fn write_score_table(
    path: &Path,
    scores: &[f32],
    threshold: f64,
    labels: Option<&[u32]>,
    per_feature: Option<(&[f32], usize)>,
    tops: Option<&[Option<String>]>,
    keep: &[Column],
) -> Result<()> {
    let extension = data::extension(path);
    refuse_kept_columns(path, &extension, keep)?;
    let flagged = |score: f32| score as f64 > threshold;
    let top_columns = |i: usize| -> Option<&str> { tops?[i].as_deref() };
    if extension == "parquet" || extension == "pq" {
        let mut columns = vec![
            Column::new(
                "index",
                Arc::new(UInt64Array::from_iter_values(0..scores.len() as u64)),
            ),
            Column::new("score", Arc::new(Float32Array::from(scores.to_vec()))),
            Column::new(
                "flagged",
                Arc::new(BooleanArray::from(
                    scores.iter().map(|&s| flagged(s)).collect::<Vec<_>>(),
                )),
            ),
        ];
        if let Some(labels) = labels {
            columns.push(Column::new(
                "label",
                Arc::new(UInt32Array::from(labels.to_vec())),
            ));
        }
        if let Some((errors, width)) = per_feature {
            columns.extend(
                (0..width).map(|j| Column::new(format!("error_{j}"), strided(errors, j, width))),
            );
        }
        if tops.is_some() {
            let cells: StringArray = (0..scores.len()).map(top_columns).collect();
            columns.push(Column::new("top_columns", Arc::new(cells)));
        }
        columns.extend(keep.iter().cloned());
        return table::write_parquet(path, &columns);
    }
    crate::fsutil::write_atomic_with(path, |w| {
        let mut header = vec!["index".to_string(), "score".into(), "flagged".into()];
        if labels.is_some() {
            header.push("label".into());
        }
        if let Some((_, width)) = per_feature {
            header.extend((0..width).map(|j| format!("error_{j}")));
        }
        if tops.is_some() {
            header.push("top_columns".into());
        }
        writeln!(w, "{}", header.join(","))?;
        for (i, score) in scores.iter().enumerate() {
            let flagged = u8::from(flagged(*score));
            write!(w, "{i},{score},{flagged}")?;
            if let Some(labels) = labels {
                write!(w, ",{}", labels[i])?;
            }
            if let Some((errors, width)) = per_feature {
                for e in &errors[i * width..(i + 1) * width] {
                    write!(w, ",{e}")?;
                }
            }
            if tops.is_some() {
                write!(w, ",")?;
                if let Some(top) = top_columns(i) {
                    write!(w, "{top}")?;
                }
            }
            writeln!(w)?;
        }
        Ok(())
    })
}

/// Column `j` of a row-major `n × width` block, as an Arrow column.
fn strided(values: &[f32], j: usize, width: usize) -> arrow_array::ArrayRef {
    Arc::new(Float32Array::from_iter_values(
        values.iter().skip(j).step_by(width).copied(),
    ))
}

/// Columns carried from the input go into Parquet outputs only (a CSV cell has no type for them).
fn refuse_kept_columns(path: &Path, extension: &str, keep: &[Column]) -> Result<()> {
    if keep.is_empty() || extension == "parquet" || extension == "pq" {
        return Ok(());
    }
    Err(Error::format(
        path,
        "columns of the input are carried into .parquet outputs only (--keep-columns)",
    ))
}

/// Writes one label per line under a `label` header.
pub fn write_labels(path: &Path, labels: &[u32]) -> Result<()> {
    crate::fsutil::write_atomic_with(path, |w| {
        writeln!(w, "label")?;
        for l in labels {
            writeln!(w, "{l}")?;
        }
        Ok(())
    })
}

/// Writes table rows (original units) as CSV with the data set's column names (or `x0, x1, …`)
/// and, when known, a last `label` column.
pub fn write_table(
    path: &Path,
    values: &[f32],
    columns: Option<&[String]>,
    width: usize,
    labels: Option<&[u32]>,
) -> Result<()> {
    crate::fsutil::write_atomic_with(path, |w| {
        let mut header: Vec<String> = match columns {
            Some(names) => names.to_vec(),
            None => (0..width).map(|j| format!("x{j}")).collect(),
        };
        if labels.is_some() {
            header.push("label".into());
        }
        writeln!(w, "{}", header.join(","))?;
        for (i, row) in values.chunks_exact(width).enumerate() {
            let mut cells: Vec<String> = row.iter().map(|v| v.to_string()).collect();
            if let Some(labels) = labels {
                cells.push(labels[i].to_string());
            }
            writeln!(w, "{}", cells.join(","))?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kept input column named like a code column would give the Parquet file two `z0`
    /// columns; it is refused before anything is written, whole or by blocks.
    #[test]
    fn a_kept_column_named_like_a_code_is_refused() {
        let dir = std::env::temp_dir().join(format!("hourglass-export-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("codes.parquet");
        let keep = [Column::new("z0", Arc::new(UInt32Array::from(vec![7, 8])))];
        let codes = [0.5f32, 1.5, 2.5, 3.5];
        let whole = write_latents(&out, &codes, 2, None, &keep).unwrap_err();
        let mut block = Some((codes.to_vec(), None));
        let by_blocks = write_latents_by_blocks(&out, 2, 2, false, &keep, &mut || Ok(block.take()))
            .unwrap_err();
        for err in [whole, by_blocks] {
            assert!(
                err.to_string()
                    .contains("two output columns are named \"z0\""),
                "{err}"
            );
        }
        assert!(!out.exists());
        // Under another name the column is carried beside the codes.
        let keep = [Column::new("id", Arc::new(UInt32Array::from(vec![7, 8])))];
        write_latents(&out, &codes, 2, None, &keep).unwrap();
        assert_eq!(read_latents(&out, 2).unwrap(), codes);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
