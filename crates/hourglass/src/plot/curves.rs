//! Loss curves from the per-epoch log: training and validation loss by epoch.

use std::path::Path;

use plotters::prelude::*;

use super::chart::{FAMILY, render_png, text};
use crate::error::{Error, Result};
use crate::train::EpochRecord;

/// A named line of (epoch, loss) points in a colour.
type Series = (&'static str, Vec<(f64, f64)>, RGBColor);

/// Draws the training (and, when logged, validation) loss of each epoch, on a log scale when the
/// loss spans more than a factor of ten.
pub fn save_loss_curves(path: &Path, records: &[EpochRecord], title: &str) -> Result<()> {
    if records.is_empty() {
        return Err(Error::invalid("the log has no epochs to draw"));
    }
    let mut series: Vec<Series> = vec![(
        "training loss",
        records
            .iter()
            .map(|r| (r.epoch as f64, r.train_loss))
            .collect(),
        RGBColor(31, 119, 180),
    )];
    let val: Vec<(f64, f64)> = records
        .iter()
        .filter_map(|r| r.val_loss.map(|v| (r.epoch as f64, v)))
        .collect();
    if !val.is_empty() {
        series.push(("validation loss", val, RGBColor(255, 127, 14)));
    }
    let values = series.iter().flat_map(|(_, s, _)| s.iter().map(|p| p.1));
    let (lo, hi) = values.fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let first = records.first().unwrap().epoch as f64;
    let last = (records.last().unwrap().epoch as f64).max(first + 1.0);
    let log_scale = lo > 0.0 && hi / lo > 10.0;
    let pad = ((hi - lo) * 0.05).max(1e-9);

    render_png(path, (900, 560), |root| {
        let builder = |root| {
            let mut b = ChartBuilder::on(root);
            b.caption(title, (FAMILY, 24))
                .margin(16)
                .x_label_area_size(48)
                .y_label_area_size(72);
            b
        };
        macro_rules! draw {
            ($chart:expr) => {{
                let mut chart = $chart;
                chart
                    .configure_mesh()
                    .x_desc("epoch")
                    .x_label_formatter(&|x| format!("{}", x.round() as i64))
                    .y_desc("loss")
                    .axis_desc_style((FAMILY, 16))
                    .label_style((FAMILY, 13))
                    .light_line_style(RGBColor(240, 240, 240))
                    .draw()
                    .map_err(text)?;
                for (name, points, color) in &series {
                    let color = *color;
                    chart
                        .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
                        .map_err(text)?
                        .label(*name)
                        .legend(move |(x, y)| {
                            PathElement::new([(x, y), (x + 16, y)], color.stroke_width(2))
                        });
                    chart
                        .draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))
                        .map_err(text)?;
                }
                chart
                    .configure_series_labels()
                    .position(SeriesLabelPosition::UpperRight)
                    .label_font((FAMILY, 15))
                    .background_style(WHITE.mix(0.85))
                    .border_style(BLACK)
                    .draw()
                    .map_err(text)?;
            }};
        }
        if log_scale {
            draw!(
                builder(root)
                    .build_cartesian_2d(first..last, (lo * 0.9..hi * 1.1).log_scale())
                    .map_err(text)?
            );
        } else {
            draw!(
                builder(root)
                    .build_cartesian_2d(first..last, lo - pad..hi + pad)
                    .map_err(text)?
            );
        }
        Ok(())
    })
}
