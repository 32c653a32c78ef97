//! Loss curves from the per-epoch log: training and validation loss by epoch, and for a model
//! whose loss has several terms (a VAE's reconstruction and KL), each term in its own panel.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::chart::{FAMILY, render_png, text};
use crate::error::{Error, Result};
use crate::train::EpochRecord;

/// A named line of (epoch, value) points in a colour.
type Series = (String, Vec<(f64, f64)>, RGBColor);

const TRAIN: RGBColor = RGBColor(31, 119, 180);
const VAL: RGBColor = RGBColor(255, 127, 14);

/// Draws the loss of each epoch; with loss terms in the log, one panel per term below the total.
pub fn save_loss_curves(path: &Path, records: &[EpochRecord], title: &str) -> Result<()> {
    if records.is_empty() {
        return Err(Error::invalid("the log has no epochs to draw"));
    }
    let line = |name: &str, color, value: &dyn Fn(&EpochRecord) -> Option<f64>| -> Series {
        let points = records
            .iter()
            .filter_map(|r| value(r).map(|v| (r.epoch as f64, v)))
            .collect();
        (name.to_string(), points, color)
    };
    let pair = |what: &str, key: &str| -> Vec<Series> {
        [("training", TRAIN, "train"), ("validation", VAL, "val")]
            .iter()
            .map(|(who, color, prefix)| {
                let key = format!("{prefix}_{key}");
                line(&format!("{who} {what}"), *color, &|r| {
                    r.terms.get(&key).copied()
                })
            })
            .filter(|(_, points, _)| !points.is_empty())
            .collect()
    };
    let mut panels: Vec<(String, Vec<Series>)> = vec![(
        "loss".into(),
        vec![
            line("training loss", TRAIN, &|r| Some(r.train_loss)),
            line("validation loss", VAL, &|r| r.val_loss),
        ]
        .into_iter()
        .filter(|(_, points, _)| !points.is_empty())
        .collect(),
    )];
    for (what, key, axis) in [
        ("reconstruction", "reconstruction", "reconstruction loss"),
        ("KL", "kl", "KL divergence (nats per sample)"),
        (
            "sparsity penalty",
            "sparsity",
            "sparsity penalty (per sample)",
        ),
    ] {
        let series = pair(what, key);
        if !series.is_empty() {
            panels.push((axis.into(), series));
        }
    }

    let height = 120 + 440 * panels.len() as u32;
    render_png(path, (900, height), |root| {
        let area = root.titled(title, (FAMILY, 24)).map_err(text)?;
        for (panel, (axis, series)) in area.split_evenly((panels.len(), 1)).iter().zip(&panels) {
            draw_panel(panel, axis, series)?;
        }
        Ok(())
    })
}

fn draw_panel(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    axis: &str,
    series: &[Series],
) -> Result<(), String> {
    let epochs = series.iter().flat_map(|(_, p, _)| p.iter().map(|q| q.0));
    let (first, last) = epochs.fold((f64::INFINITY, 0.0f64), |(a, b), e| (a.min(e), b.max(e)));
    let values = series.iter().flat_map(|(_, p, _)| p.iter().map(|q| q.1));
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    let pad = ((hi - lo) * 0.05).max(1e-9);
    let mut chart = ChartBuilder::on(area)
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(72)
        .build_cartesian_2d(first..last.max(first + 1.0), lo - pad..hi + pad)
        .map_err(text)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .x_label_formatter(&|x| format!("{}", x.round() as i64))
        .y_desc(axis)
        .axis_desc_style((FAMILY, 16))
        .label_style((FAMILY, 13))
        .light_line_style(RGBColor(240, 240, 240))
        .draw()
        .map_err(text)?;
    for (name, points, color) in series {
        let color = *color;
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
            .map_err(text)?
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color.stroke_width(2)));
        chart
            .draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))
            .map_err(text)?;
    }
    // Keep the legend out of the curves' way: they end low when falling, high when rising.
    let rising = series
        .first()
        .is_some_and(|(_, p, _)| p.last().map(|q| q.1) > p.first().map(|q| q.1));
    let corner = if rising {
        SeriesLabelPosition::LowerRight
    } else {
        SeriesLabelPosition::UpperRight
    };
    chart
        .configure_series_labels()
        .position(corner)
        .label_font((FAMILY, 15))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(text)?;
    Ok(())
}
