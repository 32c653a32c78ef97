//! Score histograms: how the anomaly scores of normal and anomalous samples spread, with the
//! threshold that separates the flagged ones.

use std::path::Path;

use plotters::prelude::*;

use super::chart::{FAMILY, render_png, text};
use crate::error::Result;

const BINS: usize = 50;

/// Draws the scores (split by `anomalous` when known) as histograms of the share of each group
/// per bin, with the threshold as a vertical line.
pub fn save_score_histogram(
    path: &Path,
    scores: &[f32],
    anomalous: Option<&[bool]>,
    threshold: f64,
    title: &str,
    x_label: &str,
) -> Result<()> {
    let mut sorted: Vec<f32> = scores.iter().copied().filter(|s| s.is_finite()).collect();
    sorted.sort_by(f32::total_cmp);
    // The long tail of extreme scores would squash the rest: the last bin holds everything above
    // the 99.5th percentile.
    let top = sorted
        .get(((sorted.len() as f64) * 0.995) as usize)
        .or(sorted.last())
        .copied()
        .unwrap_or(1.0) as f64;
    let x_max = top.max(threshold * 1.05).max(f64::MIN_POSITIVE);
    let width = x_max / BINS as f64;
    let histogram = |keep: &dyn Fn(usize) -> bool| -> Vec<f64> {
        let mut counts = vec![0.0; BINS];
        let mut total = 0.0;
        for (i, &s) in scores.iter().enumerate() {
            if keep(i) && s.is_finite() {
                counts[((s as f64 / width) as usize).min(BINS - 1)] += 1.0;
                total += 1.0;
            }
        }
        counts.iter().map(|c| c / f64::max(total, 1.0)).collect()
    };
    let groups: Vec<(String, Vec<f64>, RGBColor)> = match anomalous {
        Some(truth) => vec![
            (
                "normal".into(),
                histogram(&|i| !truth[i]),
                RGBColor(31, 119, 180),
            ),
            (
                "anomalous".into(),
                histogram(&|i| truth[i]),
                RGBColor(255, 127, 14),
            ),
        ],
        None => vec![(
            "all samples".into(),
            histogram(&|_| true),
            RGBColor(31, 119, 180),
        )],
    };
    let y_max = groups
        .iter()
        .flat_map(|(_, h, _)| h.iter().copied())
        .fold(0.0, f64::max)
        * 1.1;

    render_png(path, (900, 560), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FAMILY, 24))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(0.0..x_max, 0.0..y_max.max(1e-9))
            .map_err(text)?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc("share of the group")
            .light_line_style(RGBColor(240, 240, 240))
            .axis_desc_style((FAMILY, 16))
            .label_style((FAMILY, 13))
            .draw()
            .map_err(text)?;
        for (name, bars, color) in &groups {
            let color = *color;
            chart
                .draw_series(bars.iter().enumerate().map(|(b, &share)| {
                    let x0 = b as f64 * width;
                    Rectangle::new([(x0, 0.0), (x0 + width, share)], color.mix(0.45).filled())
                }))
                .map_err(text)?
                .label(name.as_str())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 6), (x + 14, y + 6)], color.mix(0.45).filled())
                });
        }
        chart
            .draw_series(LineSeries::new(
                [(threshold, 0.0), (threshold, y_max)],
                RED.stroke_width(2),
            ))
            .map_err(text)?
            .label(format!("threshold {threshold:.4}"))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 14, y)], RED.stroke_width(2)));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font((FAMILY, 15))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(text)?;
        Ok(())
    })
}
