//! The per-epoch log: one JSON object per line, appended as each epoch ends.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// What one epoch measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub train_loss: f64,
    pub val_loss: Option<f64>,
    pub seconds: f64,
    /// The parts of a loss made of several (a variational model's reconstruction and KL), by name:
    /// `train_reconstruction`, `train_kl`, `val_reconstruction`, `val_kl`.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub terms: std::collections::BTreeMap<String, f64>,
}

/// Appends records to a JSON-lines file.
pub struct EpochLog {
    file: Option<std::fs::File>,
    path: std::path::PathBuf,
}

impl EpochLog {
    /// Opens the log: truncated for a fresh run, appended to when resuming.
    pub fn open(path: Option<&Path>, append: bool) -> Result<Self> {
        let file = match path {
            None => None,
            Some(path) => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
                }
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .write(true)
                    .append(append)
                    .truncate(!append)
                    .open(path)
                    .map_err(|e| Error::io(path, e))?;
                Some(file)
            }
        };
        Ok(EpochLog {
            file,
            path: path.map(Path::to_path_buf).unwrap_or_default(),
        })
    }

    pub fn write(&mut self, record: &EpochRecord) -> Result<()> {
        if let Some(file) = &mut self.file {
            let line = serde_json::to_string(record).expect("records serialise");
            writeln!(file, "{line}").map_err(|e| Error::io(&self.path, e))?;
        }
        Ok(())
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
