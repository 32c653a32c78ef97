//! Grids of images: rows of samples side by side, e.g. originals above their reconstructions.

use std::path::Path;

use image::{ImageFormat, Rgb, RgbImage};

use crate::data::SampleShape;
use crate::error::{Error, Result};

/// Pixels of gap between tiles.
const GAP: u32 = 2;
/// Each image pixel becomes this many screen pixels, so 28×28 tiles are big enough to see.
const ZOOM: u32 = 3;

/// Draws `rows` of images (each a list of samples scaled to [0, 1]) as one PNG, written
/// atomically. One- and three-channel images are supported.
pub fn save_grid(path: &Path, rows: &[Vec<&[f32]>], shape: SampleShape) -> Result<()> {
    if shape.channels != 1 && shape.channels != 3 {
        return Err(Error::invalid(format!(
            "cannot draw images with {} channels (1 or 3)",
            shape.channels
        )));
    }
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0) as u32;
    let (h, w) = (shape.height as u32 * ZOOM, shape.width as u32 * ZOOM);
    let width = columns * (w + GAP) + GAP;
    let height = rows.len() as u32 * (h + GAP) + GAP;
    let mut canvas = RgbImage::from_pixel(width, height, Rgb([64, 64, 64]));
    let plane = shape.height * shape.width;
    for (r, row) in rows.iter().enumerate() {
        for (c, sample) in row.iter().enumerate() {
            let (x0, y0) = (GAP + c as u32 * (w + GAP), GAP + r as u32 * (h + GAP));
            for y in 0..h {
                for x in 0..w {
                    let i = (y / ZOOM) as usize * shape.width + (x / ZOOM) as usize;
                    let value = |ch: usize| to_byte(sample[ch * plane + i]);
                    let pixel = if shape.channels == 1 {
                        let v = value(0);
                        Rgb([v, v, v])
                    } else {
                        Rgb([value(0), value(1), value(2)])
                    };
                    canvas.put_pixel(x0 + x, y0 + y, pixel);
                }
            }
        }
    }
    save_png(path, &image::DynamicImage::ImageRgb8(canvas))
}

fn to_byte(v: f32) -> u8 {
    (v.clamp(0.0, 1.0) * 255.0).round() as u8
}

/// Encodes a PNG and writes it atomically.
pub fn save_png(path: &Path, image: &image::DynamicImage) -> Result<()> {
    let mut bytes = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut bytes, ImageFormat::Png)
        .map_err(|e| Error::format(path, format!("cannot encode PNG: {e}")))?;
    crate::fsutil::write_atomic(path, bytes.get_ref())
}

/// Samples per row of a comparison grid.
pub const COLUMNS: usize = 16;

/// Originals above their reconstructions, 16 to a row, as one PNG.
pub fn save_comparison(
    path: &Path,
    originals: &[f32],
    reconstructions: &[f32],
    shape: SampleShape,
) -> Result<()> {
    let d = shape.features();
    let top: Vec<&[f32]> = originals.chunks_exact(d).collect();
    let bottom: Vec<&[f32]> = reconstructions.chunks_exact(d).collect();
    let mut rows = Vec::new();
    for (a, b) in top.chunks(COLUMNS).zip(bottom.chunks(COLUMNS)) {
        rows.push(a.to_vec());
        rows.push(b.to_vec());
    }
    save_grid(path, &rows, shape)
}

/// Several sets of samples, one row each (e.g. noisy / denoised / clean).
pub fn save_rows(path: &Path, sets: &[&[f32]], shape: SampleShape) -> Result<()> {
    let rows: Vec<Vec<&[f32]>> = sets
        .iter()
        .map(|set| set.chunks_exact(shape.features()).collect())
        .collect();
    save_grid(path, &rows, shape)
}

/// Samples laid out `columns` to a row (16 is [`COLUMNS`]).
pub fn save_samples(
    path: &Path,
    samples: &[f32],
    shape: SampleShape,
    columns: usize,
) -> Result<()> {
    let all: Vec<&[f32]> = samples.chunks_exact(shape.features()).collect();
    let rows: Vec<Vec<&[f32]>> = all.chunks(columns.max(1)).map(<[&[f32]]>::to_vec).collect();
    save_grid(path, &rows, shape)
}
