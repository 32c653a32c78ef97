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

#[cfg(test)]
mod tests {
    use super::*;

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
