//! The per-epoch log: one JSON object per line, rewritten as each epoch ends.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// What one epoch measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub train_loss: f64,
    pub val_loss: Option<f64>,
    pub seconds: f64,
    /// Of `seconds`, the time spent in optimizer steps (forward, backward, update) and in
    /// measuring the validation loss; the rest is batch assembly, shuffling and logging.
    #[serde(default)]
    pub step_seconds: f64,
    #[serde(default)]
    pub validation_seconds: f64,
    /// The parts of a loss made of several (a variational model's reconstruction and KL), by name:
    /// `train_reconstruction`, `train_kl`, `val_reconstruction`, `val_kl`.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub terms: std::collections::BTreeMap<String, f64>,
}

/// The run's log file: after each epoch it is replaced (atomically) by the whole history so
/// far. A run that fails before its first epoch leaves the previous log alone, and a resumed
/// run rewrites the epochs its checkpoint holds, so an epoch logged but not checkpointed before
/// a kill is not logged twice. Rewriting costs a few bytes per epoch run.
pub struct EpochLog {
    path: Option<PathBuf>,
}

impl EpochLog {
    pub fn new(path: Option<&Path>) -> Self {
        EpochLog {
            path: path.map(Path::to_path_buf),
        }
    }

    /// Replaces the log with `history`, one JSON object per line.
    pub fn write(&self, history: &[EpochRecord]) -> Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        crate::fsutil::write_atomic_with(path, |out| {
            for record in history {
                let line = serde_json::to_string(record).expect("records serialise");
                writeln!(out, "{line}")?;
            }
            Ok(())
        })
    }
}

/// Reads a log back (for curves and for tests).
pub fn read(path: &Path) -> Result<Vec<EpochRecord>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line)
                .map_err(|e| Error::format(path, format!("line {}: {e}", i + 1)))
        })
        .collect()
}
