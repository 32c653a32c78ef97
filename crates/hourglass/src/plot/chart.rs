//! What every chart shares: the embedded font (so pictures look the same on any machine, with no
//! system fonts needed) and rendering a plotters drawing into a PNG file written atomically.

use std::path::Path;
use std::sync::Once;

use plotters::backend::BitMapBackend;
use plotters::drawing::IntoDrawingArea;
use plotters::prelude::{DrawingArea, WHITE};
use plotters::style::FontStyle;

use crate::error::{Error, Result};

/// DejaVu Sans (Bitstream Vera licence, see assets/fonts/DejaVu-LICENSE).
static FONT: &[u8] = include_bytes!("../../../../assets/fonts/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

/// The font family name charts use.
pub const FAMILY: &str = "sans-serif";

/// Draws a `width × height` chart with `draw` and writes it as a PNG.
pub fn render_png<F>(path: &Path, (width, height): (u32, u32), draw: F) -> Result<()>
where
    F: FnOnce(&DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>) -> Result<(), String>,
{
    REGISTER.call_once(|| {
        // Registration fails only for a broken font file, which is embedded and tested.
        let _ = plotters::style::register_font(FAMILY, FontStyle::Normal, FONT);
    });
    let mut pixels = vec![0u8; (width * height * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| chart_error(path, e))?;
        draw(&root).map_err(|e| Error::format(path, format!("cannot draw the chart: {e}")))?;
        root.present().map_err(|e| chart_error(path, e))?;
    }
    let image = image::RgbImage::from_raw(width, height, pixels)
        .expect("the buffer has width × height RGB pixels");
    super::grid::save_png(path, &image::DynamicImage::ImageRgb8(image))
}

fn chart_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::format(path, format!("cannot draw the chart: {e}"))
}

/// Turns any drawing error into the message `render_png` reports.
pub fn text<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}
