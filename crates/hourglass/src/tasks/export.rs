//! Reading and writing what the codec produces: latent codes as CSV/NPY for other tools, decoded
//! samples as NPY (original units) or PNG.

use std::io::Write;
use std::path::Path;

use crate::artifact::TrainedModel;
use crate::data::{self, npy};
use crate::error::{Error, Result};
use crate::plot::grid;

/// Writes `n × width` latent codes: CSV with a header (`z0,z1,…[,label]`) or NPY.
pub fn write_latents(
    path: &Path,
    latents: &[f32],
    width: usize,
    labels: Option<&[u32]>,
) -> Result<()> {
    let n = latents.len() / width;
    match data::extension(path).as_str() {
        "npy" => {
            if labels.is_some() {
                return Err(Error::invalid(
                    "--with-labels needs a .csv output (an .npy array holds one type)",
                ));
            }
            npy::write(path, latents, &[n, width])
        }
        "csv" => crate::fsutil::write_atomic_with(path, |w| {
            let mut header: Vec<String> = (0..width).map(|i| format!("z{i}")).collect();
            if labels.is_some() {
                header.push("label".into());
            }
            writeln!(w, "{}", header.join(","))?;
            for (i, row) in latents.chunks_exact(width).enumerate() {
                let mut cells: Vec<String> = row.iter().map(|v| v.to_string()).collect();
                if let Some(labels) = labels {
                    cells.push(labels[i].to_string());
                }
                writeln!(w, "{}", cells.join(","))?;
            }
            Ok(())
        }),
        other => Err(Error::format(
            path,
            format!("cannot write latent codes as .{other} (use .csv or .npy)"),
        )),
    }
}

/// Reads latent codes written by [`write_latents`] (a `label` column is ignored).
pub fn read_latents(path: &Path, width: usize) -> Result<Vec<f32>> {
    let options = data::LoadOptions {
        label_column: (data::extension(path) == "csv" && csv_has_label(path))
            .then(|| "label".into()),
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
/// flagged row, separated by `;`.
pub fn write_scores(
    path: &Path,
    scores: &[f32],
    threshold: f64,
    labels: Option<&[u32]>,
    per_feature: Option<(&[f32], usize)>,
    explain: Option<(&[String], &[f32])>,
) -> Result<()> {
    crate::fsutil::write_atomic_with(path, |w| {
        let mut header = vec!["index".to_string(), "score".into(), "flagged".into()];
        if labels.is_some() {
            header.push("label".into());
        }
        if let Some((_, width)) = per_feature {
            header.extend((0..width).map(|j| format!("error_{j}")));
        }
        if explain.is_some() {
            header.push("top_columns".into());
        }
        writeln!(w, "{}", header.join(","))?;
        for (i, score) in scores.iter().enumerate() {
            let flagged = u8::from(*score as f64 > threshold);
            write!(w, "{i},{score},{flagged}")?;
            if let Some(labels) = labels {
                write!(w, ",{}", labels[i])?;
            }
            if let Some((errors, width)) = per_feature {
                for e in &errors[i * width..(i + 1) * width] {
                    write!(w, ",{e}")?;
                }
            }
            if let Some((names, errors)) = explain {
                write!(w, ",")?;
                if flagged == 1 {
                    let d = names.len();
                    let top =
                        crate::tasks::anomaly::top_columns(&errors[i * d..(i + 1) * d], names);
                    let cells: Vec<String> = top
                        .iter()
                        .map(|c| c.column.replace([',', ';', '"', '\n'], " "))
                        .collect();
                    write!(w, "{}", cells.join(";"))?;
                }
            }
            writeln!(w)?;
        }
        Ok(())
    })
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
