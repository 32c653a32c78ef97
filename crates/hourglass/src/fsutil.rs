//! Writing files so that a crash or an error never leaves a half-written one behind.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename, so a
/// reader sees either the old file or the whole new one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |file| file.write_all(bytes))
}

/// Like [`write_atomic`], for writers that stream (CSV, NPY, PNG encoders).
pub fn write_atomic_with<F>(path: &Path, write: F) -> Result<()>
where
    F: FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>,
{
    // A rename would replace a device or a directory entry with a regular file (as root,
    // `--out /dev/full` would swap the device out): only regular files are replaced.
    if let Ok(meta) = std::fs::metadata(path)
        && !meta.is_file()
    {
        return Err(Error::format(
            path,
            "is not a regular file; refusing to replace it",
        ));
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    let tmp = temporary_name(path);
    let result = (|| {
        let file = std::fs::File::create(&tmp)?;
        let mut writer = std::io::BufWriter::new(file);
        write(&mut writer)?;
        let file = writer.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    remove_stale_temporaries(path);
    Ok(())
}

/// Removes the temporary files that killed writers of `path` left behind (`NAME.PID.tmp`), once
/// a write has succeeded: a killed run followed by a re-run or `--resume` leaves nothing stale.
fn remove_stale_temporaries(path: &Path) {
    let (Some(name), Some(dir)) = (path.file_name(), path.parent()) else {
        return;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let prefix = format!("{}.", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let file_name = file_name.to_string_lossy();
        let stale = file_name
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(".tmp"))
            .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()));
        if stale {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn temporary_name(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{}.tmp", std::process::id()));
    path.with_file_name(name)
}

/// How many times its compressed size a stream may inflate to. Real data sets compress 2–20×;
/// deflate's own limit is about 1032×, which is what bombs use.
pub const MAX_INFLATE_RATIO: usize = 100;
/// Small files may always inflate this far (a tiny gzip of a constant column is legitimate).
const MIN_INFLATE_CAP: usize = 16 << 20;

/// The most bytes a compressed stream of `compressed` bytes may inflate to.
pub fn inflate_cap(compressed: usize) -> usize {
    compressed
        .saturating_mul(MAX_INFLATE_RATIO)
        .max(MIN_INFLATE_CAP)
}

/// Reads a decompressing `reader` to its end, refusing more than `cap` bytes of output (a
/// decompression bomb) and naming `path` and `what` in errors.
pub fn inflate_capped(
    reader: impl std::io::Read,
    cap: usize,
    path: &Path,
    what: &str,
) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    reader
        .take(cap as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| Error::format(path, format!("broken {what}: {e}")))?;
    if out.len() > cap {
        return Err(Error::format(
            path,
            format!(
                "the {what} inflates to more than {cap} bytes ({MAX_INFLATE_RATIO}× its size at most is accepted): \
                 a decompression bomb, or decompress it yourself first"
            ),
        ));
    }
    Ok(out)
}

/// Reads a whole file, naming it in the error.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(path, e))
}
