//! One error type for the library. Every variant names the file or the value at fault, so the
//! CLI can print it on one line and exit non-zero.

use std::path::{Path, PathBuf};

/// Everything that can go wrong in hourglass.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written. (`cause` is not a `source`: the message already
    /// holds it, and a chained report would print it twice.)
    #[error("{}: {cause}", path.display())]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    /// A file was read but its contents are not what its format promises.
    #[error("{}: {message}", path.display())]
    Format { path: PathBuf, message: String },
    /// Data and model disagree, or an option makes no sense for this data.
    #[error("{0}")]
    Invalid(String),
}

/// Result with the library's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            cause: source,
        }
    }

    pub(crate) fn format(path: &Path, message: impl Into<String>) -> Self {
        Error::Format {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Error::Invalid(message.into())
    }
}
