//! Latent maps: each sample as a point in a 2-D view of the latent space, coloured by its label.

use std::path::Path;

use plotters::prelude::*;

use super::chart::{FAMILY, render_png, text};
use crate::error::Result;

/// Ten distinct colours (matplotlib's tab10), cycled past ten labels.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Draws `points` (x, y pairs) coloured by `labels`, with a legend of `names` (or the numbers).
pub fn save_latent_map(
    path: &Path,
    points: &[(f32, f32)],
    labels: &[u32],
    names: Option<&[&str]>,
    title: &str,
    axes: (&str, &str),
) -> Result<()> {
    let range = |f: fn(&(f32, f32)) -> f32| {
        let (lo, hi) = points
            .iter()
            .map(f)
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(v), hi.max(v))
            });
        let pad = ((hi - lo) * 0.05).max(1e-3);
        (lo - pad) as f64..(hi + pad) as f64
    };
    let (xs, ys) = (range(|p| p.0), range(|p| p.1));
    let mut classes: Vec<u32> = labels.to_vec();
    classes.sort_unstable();
    classes.dedup();

    render_png(path, (900, 760), |root| {
        // The title spans the whole picture; the legend gets its own column below it.
        let area = root.titled(title, (FAMILY, 20)).map_err(text)?;
        let (plot_area, legend_area) = area.split_horizontally(720);
        let mut chart = ChartBuilder::on(&plot_area)
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(xs, ys)
            .map_err(text)?;
        chart
            .configure_mesh()
            .x_desc(axes.0)
            .y_desc(axes.1)
            .axis_desc_style((FAMILY, 16))
            .label_style((FAMILY, 13))
            .light_line_style(RGBColor(240, 240, 240))
            .draw()
            .map_err(text)?;
        for &class in &classes {
            let color = PALETTE[class as usize % PALETTE.len()];
            chart
                .draw_series(points.iter().zip(labels).filter(|(_, l)| **l == class).map(
                    |(p, _)| Circle::new((p.0 as f64, p.1 as f64), 2, color.mix(0.6).filled()),
                ))
                .map_err(text)?;
        }
        // The legend in its own column, so it never hides points.
        for (row, &class) in classes.iter().enumerate() {
            let color = PALETTE[class as usize % PALETTE.len()];
            let y = 40 + row as i32 * 26;
            legend_area
                .draw(&Circle::new((20, y), 6, color.filled()))
                .map_err(text)?;
            let name = names
                .and_then(|n| n.get(class as usize).copied())
                .map_or_else(|| class.to_string(), |n| format!("{class} {n}"));
            legend_area
                .draw(&Text::new(name, (34, y - 8), (FAMILY, 15)))
                .map_err(text)?;
        }
        Ok(())
    })
}
