//! The default recipe for a table: a model and a schedule sized from the data, so a user who gives
//! no architecture gets an undercomplete network and a training length that suit their table.
//!
//! Chosen once on the anomaly benchmark's tables (BENCHMARKS.md, "Anomaly detection on tables")
//! and applied unchanged to every table: a narrow code (an eighth of the columns) that cannot copy
//! its input, one hidden layer twice the table's width, and about 300 optimizer steps, which is
//! enough to learn the bulk of the data but not the few anomalies every real training set holds;
//! five such networks from different seeds, their scores averaged.

/// Architecture and schedule for a table.
#[derive(Debug, Clone, PartialEq)]
pub struct Recipe {
    pub latent: usize,
    pub hidden: Vec<usize>,
    pub epochs: usize,
    pub batch_size: usize,
    /// Networks whose scores are averaged: small models from different seeds disagree on where
    /// the anomalies are less than on where the data is.
    pub ensemble: usize,
}

/// Optimizer steps the recipe aims for.
const STEPS: usize = 300;

/// The recipe for a table of `rows` rows and `columns` columns.
pub fn for_table(columns: usize, rows: usize) -> Recipe {
    let latent = columns
        .div_ceil(8)
        .clamp(2, 32)
        .min(columns.saturating_sub(1))
        .max(1);
    let hidden = vec![(2 * columns).min(256).max(2 * latent)];
    let batch_size = (rows / 50).clamp(32, 256);
    let epochs = (STEPS * batch_size).div_ceil(rows.max(1)).clamp(2, 200);
    Recipe {
        latent,
        hidden,
        epochs,
        batch_size,
        ensemble: 5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_get_an_undercomplete_model_and_a_schedule_by_size() {
        for (columns, rows) in [(1, 10), (2, 100), (9, 49_097), (29, 200_000), (64, 1_200)] {
            let r = for_table(columns, rows);
            assert!(
                r.latent >= 1 && (r.latent < columns || columns == 1),
                "{r:?}"
            );
            assert!(r.hidden.iter().all(|&h| h >= r.latent), "{r:?}");
            let steps = r.epochs * rows.div_ceil(r.batch_size);
            assert!(
                (2..=STEPS * 3).contains(&steps) || r.epochs == 2,
                "{columns}×{rows}: {r:?}"
            );
        }
        assert_eq!(for_table(29, 200_000).latent, 4);
        assert_eq!(for_table(29, 200_000).epochs, 2);
    }
}
