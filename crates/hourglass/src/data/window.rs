//! Fixed-length windows over time series, for the 1-D convolutional model: a table whose rows are
//! time steps and whose columns are series becomes one sample per window, channels × window long.

use super::{Dataset, SampleKind, SampleShape};
use crate::error::{Error, Result};

/// Windows of `window` steps every `stride` steps over `series` (rows = time, columns = series).
/// Each window is channel-major: all of series 0's values, then series 1's, …
pub fn windows(series: &Dataset, window: usize, stride: usize) -> Result<Dataset> {
    let steps = series.len();
    let channels = series.shape.features();
    if window == 0 || stride == 0 {
        return Err(Error::invalid("window and stride must be at least 1"));
    }
    if steps < window {
        return Err(Error::invalid(format!(
            "a window of {window} steps does not fit a series of {steps}"
        )));
    }
    let count = (steps - window) / stride + 1;
    let mut values = Vec::with_capacity(count * channels * window);
    for w in 0..count {
        let start = w * stride;
        for c in 0..channels {
            values.extend((start..start + window).map(|t| series.values[t * channels + c]));
        }
    }
    Ok(Dataset {
        values,
        shape: SampleShape::image(channels, 1, window),
        kind: SampleKind::Tabular,
        labels: None,
        columns: None,
    })
}

/// Steps of a series read to find its period: enough for any period a window can hold.
const PERIOD_STEPS: usize = 50_000;
/// The longest period looked for.
const MAX_PERIOD: usize = 1024;

/// The series' dominant period in steps: the lag of the highest autocorrelation after it first
/// drops below zero, averaged over the columns (each standardised). `None` when the series has no
/// clear period (that peak below 0.1) or is too short to tell.
pub fn dominant_period(series: &Dataset) -> Option<usize> {
    let channels = series.shape.features();
    let steps = series.len().min(PERIOD_STEPS);
    let max_lag = (steps / 3).min(MAX_PERIOD);
    if channels == 0 || max_lag < 4 {
        return None;
    }
    let mut acf = vec![0.0f64; max_lag + 1];
    for c in 0..channels {
        let x: Vec<f64> = (0..steps)
            .map(|t| series.values[t * channels + c] as f64)
            .map(|v| if v.is_finite() { v } else { 0.0 })
            .collect();
        let mean = x.iter().sum::<f64>() / steps as f64;
        let centred: Vec<f64> = x.iter().map(|v| v - mean).collect();
        let variance = centred.iter().map(|v| v * v).sum::<f64>();
        if variance <= 0.0 {
            continue;
        }
        for (lag, a) in acf.iter_mut().enumerate() {
            let dot: f64 = centred[..steps - lag]
                .iter()
                .zip(&centred[lag..])
                .map(|(p, q)| p * q)
                .sum();
            *a += dot / variance / channels as f64;
        }
    }
    let first_negative = acf.iter().position(|&a| a < 0.0)?;
    let (period, &peak) = acf
        .iter()
        .enumerate()
        .skip(first_negative)
        .max_by(|a, b| a.1.total_cmp(b.1))?;
    (peak >= 0.1).then_some(period)
}

/// The window `conv1d` takes when none is given: one period of the series, rounded up to a
/// multiple of 4 (the two stride-2 layers), 16 to 1,024 steps; 64 for a series with no period.
pub fn default_window(series: &Dataset) -> usize {
    match dominant_period(series) {
        Some(p) => p.next_multiple_of(4).clamp(16, MAX_PERIOD),
        None => 64,
    }
}

/// Values that the windows of a series may hold in memory together (128 MiB of f32).
const WINDOW_BUDGET: usize = 1 << 25;

/// The stride `conv1d` takes when none is given: 1, so that every point is seen at every
/// position of a window and its score does not depend on where the windows happen to start;
/// longer for a series whose windows at stride 1 would not fit [`WINDOW_BUDGET`].
pub fn default_stride(series: &Dataset, window: usize) -> usize {
    let values = series.len() * window * series.shape.features();
    values.div_ceil(WINDOW_BUDGET).clamp(1, window.max(1))
}

/// For each of `steps` points of a series, the index of the highest-scoring window covering it
/// (`window` steps every `stride`; the last window for points after it), whose score is the
/// point's: an anomaly anywhere in a window marks all of the window's points. The windows must
/// not be empty.
pub fn point_windows(
    window_scores: &[f32],
    steps: usize,
    window: usize,
    stride: usize,
) -> Vec<usize> {
    let last = window_scores.len().saturating_sub(1);
    let mut best: Vec<Option<usize>> = vec![None; steps];
    for (w, &score) in window_scores.iter().enumerate() {
        let start = w * stride;
        for b in &mut best[start.min(steps)..(start + window).min(steps)] {
            if b.is_none_or(|o| score > window_scores[o]) {
                *b = Some(w);
            }
        }
    }
    best.into_iter().map(|b| b.unwrap_or(last)).collect()
}

/// Each channel's part of one window's squared errors (the window is channel-major: `channels`
/// runs of `window` values).
pub fn channel_errors(errors: &[f32], channels: usize) -> Vec<f32> {
    let window = errors.len() / channels.max(1);
    errors
        .chunks_exact(window.max(1))
        .map(|run| run.iter().sum())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_period_of_a_periodic_series_is_found() {
        // Two columns with a period of 50 steps, one noisy; and a series with no period.
        let values: Vec<f32> = (0..2000)
            .flat_map(|t| {
                let phase = t as f32 * std::f32::consts::TAU / 50.0;
                [
                    phase.sin(),
                    phase.cos() + 0.3 * ((t * 7919 % 13) as f32 / 13.0 - 0.5),
                ]
            })
            .collect();
        let series = Dataset {
            values,
            shape: SampleShape::tabular(2),
            kind: SampleKind::Tabular,
            labels: None,
            columns: None,
        };
        assert_eq!(dominant_period(&series), Some(50));
        assert_eq!(default_window(&series), 52);
        let ramp = Dataset {
            values: (0..500).map(|t| t as f32).collect(),
            shape: SampleShape::tabular(1),
            ..series
        };
        assert_eq!(dominant_period(&ramp), None);
        assert_eq!(default_window(&ramp), 64);
        assert_eq!(default_stride(&ramp, 64), 1);
        let long = Dataset {
            values: vec![0.0; 4_000_000],
            ..ramp
        };
        assert_eq!(default_stride(&long, 256), 31);
    }

    #[test]
    fn every_point_takes_the_highest_window_covering_it() {
        // Windows of 4 every 2 over 9 steps: [0,4) [2,6) [4,8); step 8 is after the last.
        let scores = [1.0, 5.0, 2.0];
        let best = point_windows(&scores, 9, 4, 2);
        assert_eq!(best, vec![0, 0, 1, 1, 1, 1, 2, 2, 2]);
        let points: Vec<f32> = best.iter().map(|&w| scores[w]).collect();
        assert_eq!(points, vec![1.0, 1.0, 5.0, 5.0, 5.0, 5.0, 2.0, 2.0, 2.0]);
        assert_eq!(
            channel_errors(&[1.0, 2.0, 3.0, 10.0, 20.0, 30.0], 2),
            vec![6.0, 60.0]
        );
    }

    #[test]
    fn windows_are_channel_major_and_strided() {
        // Two series over 5 steps: (0, 10), (1, 11), … (4, 14).
        let series = Dataset {
            values: (0..5).flat_map(|t| [t as f32, 10.0 + t as f32]).collect(),
            shape: SampleShape::tabular(2),
            kind: SampleKind::Tabular,
            labels: None,
            columns: None,
        };
        let w = windows(&series, 3, 2).unwrap();
        assert_eq!(w.shape, SampleShape::image(2, 1, 3));
        assert_eq!(w.len(), 2);
        assert_eq!(w.row(1), &[2.0, 3.0, 4.0, 12.0, 13.0, 14.0]);
        assert!(windows(&series, 6, 1).is_err());
    }
}
