//! Inpainting: fill a region of each image by the same reconstruct-and-replace iteration that
//! imputes missing values, with the region as the missing part.

use std::path::Path;

use burn::tensor::Device;
use serde::Serialize;

use crate::artifact::TrainedModel;
use crate::data::SampleShape;
use crate::error::{Error, Result};
use crate::tasks::impute;

/// Which pixels to fill: a rectangle `x,y,width,height`, or a file (PNG or NPY of the image's
/// height × width) whose non-zero pixels are the region.
#[derive(Debug, Clone, PartialEq)]
pub enum Region {
    Rect {
        x: usize,
        y: usize,
        width: usize,
        height: usize,
    },
    File(std::path::PathBuf),
}

impl std::str::FromStr for Region {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let parts: Vec<&str> = s.split(',').collect();
        if parts.len() == 4 {
            let n: Vec<usize> = parts
                .iter()
                .map(|p| p.trim().parse::<usize>())
                .collect::<std::result::Result<_, _>>()
                .map_err(|_| Error::invalid(format!("mask {s:?}: x,y,width,height in pixels")))?;
            return Ok(Region::Rect {
                x: n[0],
                y: n[1],
                width: n[2],
                height: n[3],
            });
        }
        Ok(Region::File(s.into()))
    }
}

impl Region {
    /// One flag per value of a sample (every channel of a masked pixel is masked).
    pub fn mask(&self, shape: SampleShape) -> Result<Vec<bool>> {
        let (h, w) = (shape.height, shape.width);
        let pixels: Vec<bool> = match self {
            Region::Rect {
                x,
                y,
                width,
                height,
            } => {
                if x + width > w || y + height > h || *width == 0 || *height == 0 {
                    return Err(Error::invalid(format!(
                        "mask rectangle {x},{y},{width},{height} does not fit {w}×{h} images"
                    )));
                }
                (0..h * w)
                    .map(|i| {
                        let (r, c) = (i / w, i % w);
                        (*y..y + height).contains(&r) && (*x..x + width).contains(&c)
                    })
                    .collect()
            }
            Region::File(path) => read_mask_file(path, h, w)?,
        };
        Ok((0..shape.channels)
            .flat_map(|_| pixels.iter().copied())
            .collect())
    }
}

fn read_mask_file(path: &Path, h: usize, w: usize) -> Result<Vec<bool>> {
    let values: Vec<f32> = if crate::data::extension(path) == "png" {
        let image = image::open(path)
            .map_err(|e| Error::format(path, format!("cannot read mask image: {e}")))?
            .to_luma8();
        if (image.height() as usize, image.width() as usize) != (h, w) {
            return Err(Error::format(
                path,
                format!(
                    "mask is {}×{}, images are {w}×{h}",
                    image.width(),
                    image.height()
                ),
            ));
        }
        image.pixels().map(|p| p.0[0] as f32).collect()
    } else {
        let data = crate::data::npy::read(path)?;
        if data.values.len() != h * w {
            return Err(Error::format(
                path,
                format!("mask has {} values, images have {w}×{h}", data.values.len()),
            ));
        }
        data.values
    };
    Ok(values.iter().map(|&v| v != 0.0).collect())
}

/// Errors in the region, of the inpainting and of filling it with the mean image.
#[derive(Debug, Clone, Serialize)]
pub struct InpaintReport {
    pub images: usize,
    pub region_pixels: usize,
    pub region_mse: f64,
    pub mean_image_mse: f64,
}

/// Inpaints the region in every image of `values` (scaled rows); returns the filled rows.
pub fn inpaint(
    model: &TrainedModel,
    values: &[f32],
    region: &[bool],
    iterations: usize,
    device: &Device,
) -> Vec<f32> {
    let missing: Vec<bool> = values
        .chunks_exact(region.len())
        .flat_map(|_| region.iter().copied())
        .collect();
    impute::fill(model, values, &missing, iterations, device)
}

/// Region MSE of `filled` against the originals, next to the mean image's.
pub fn report(
    model: &TrainedModel,
    values: &[f32],
    filled: &[f32],
    region: &[bool],
) -> InpaintReport {
    let missing: Vec<bool> = values
        .chunks_exact(region.len())
        .flat_map(|_| region.iter().copied())
        .collect();
    let fill = impute::fill_report(model, values, filled, &missing);
    InpaintReport {
        images: values.len() / region.len(),
        region_pixels: region.iter().filter(|&&m| m).count(),
        region_mse: fill.rmse * fill.rmse,
        mean_image_mse: fill.mean_rmse * fill.mean_rmse,
    }
}
