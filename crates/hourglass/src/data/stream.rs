//! Data sets read a block of rows at a time, for files larger than memory (`--stream`): an NPY
//! array is read by byte range (not a memory map: a map's pages count in the process's resident
//! memory as they are touched), a Parquet file or directory one row group at a time, a CSV file
//! from the record each block starts at (found by one pass when it is opened), a folder of images
//! 256 files at a time.
//! Training and scoring hold a block, a shuffle buffer and the model, whatever the file's size.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::{Dataset, LoadOptions, SampleKind, SampleShape, npy, table};
use crate::error::{Error, Result};

/// Bytes of f32 values a block of an NPY array holds (the last block may hold fewer).
const NPY_BLOCK_BYTES: usize = 4 << 20;

/// Rows of a data set, read one block at a time in any order.
pub trait RowSource {
    fn shape(&self) -> SampleShape;
    fn kind(&self) -> SampleKind;
    /// Column names, for tables with a header.
    fn columns(&self) -> Option<Vec<String>>;
    /// Rows in the whole data set.
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Blocks the rows are read in.
    fn blocks(&self) -> usize;
    /// The index of block `b`'s first row.
    fn block_start(&self, b: usize) -> usize;
    /// Block `b`'s rows (and labels, when the data has them).
    fn read_block(&mut self, b: usize) -> Result<Dataset>;
    /// The file or directory, for error messages.
    fn path(&self) -> &Path;
}

/// Opens a data set for reading by blocks: `.npy` arrays, plain CSV files, Parquet files or
/// directories of them, and folders of images. Other formats are read whole (without `--stream`).
pub fn open(path: &Path, options: &LoadOptions) -> Result<Box<dyn RowSource>> {
    if !path.exists() {
        return Err(Error::format(path, "no such file or directory"));
    }
    if table::is_table(path) {
        let selection = table::Selection {
            columns: options.columns.as_deref(),
            label_column: options.label_column.as_deref(),
        };
        return Ok(Box::new(table::ParquetBlocks::open(path, selection)?));
    }
    if options.columns.is_some() {
        return Err(Error::format(
            path,
            "columns are chosen by name in Parquet and Arrow tables only",
        ));
    }
    if super::images::is_image_file(path) || super::images::is_image_folder(path) {
        return Ok(Box::new(super::images::ImageBlocks::open(
            path,
            options.images,
        )?));
    }
    let extension = super::extension(path);
    if matches!(extension.as_str(), "csv" | "tsv" | "txt") && !path.is_dir() {
        if options.labels.is_some() {
            return Err(Error::invalid(
                "--stream reads labels from a label column only (--label-column)",
            ));
        }
        return Ok(Box::new(super::csv::CsvBlocks::open(
            path,
            options.label_column.as_deref(),
        )?));
    }
    if extension == "npy" && !path.is_dir() {
        if options.labels.is_some() {
            return Err(Error::invalid(
                "--stream reads labels from a label column only (Parquet, CSV); without \
                 --stream, --labels works with every format",
            ));
        }
        return Ok(Box::new(NpyBlocks::open(path)?));
    }
    Err(Error::format(
        path,
        "--stream reads .npy arrays, CSV files, Parquet files (or directories of them) and \
         folders of images; read this format without --stream, or convert it",
    ))
}

/// The element types an NPY block is converted from.
#[derive(Debug, Clone, Copy)]
enum Element {
    F32,
    F64,
    U8,
    I32,
    I64,
}

impl Element {
    fn parse(descr: &str) -> Option<Element> {
        Some(match descr {
            "<f4" => Element::F32,
            "<f8" => Element::F64,
            "|u1" | "<u1" => Element::U8,
            "<i4" => Element::I32,
            "<i8" => Element::I64,
            _ => return None,
        })
    }

    fn size(self) -> usize {
        match self {
            Element::U8 => 1,
            Element::F32 | Element::I32 => 4,
            Element::F64 | Element::I64 => 8,
        }
    }

    fn decode(self, bytes: &[u8], out: &mut Vec<f32>) {
        let n = self.size();
        let chunks = bytes.chunks_exact(n);
        match self {
            Element::F32 => out.extend(chunks.map(|c| f32::from_le_bytes(c.try_into().unwrap()))),
            Element::F64 => {
                out.extend(chunks.map(|c| f64::from_le_bytes(c.try_into().unwrap()) as f32))
            }
            Element::U8 => out.extend(bytes.iter().map(|&b| f32::from(b))),
            Element::I32 => {
                out.extend(chunks.map(|c| i32::from_le_bytes(c.try_into().unwrap()) as f32))
            }
            Element::I64 => {
                out.extend(chunks.map(|c| i64::from_le_bytes(c.try_into().unwrap()) as f32))
            }
        }
    }
}

/// An `.npy` array read by row ranges.
pub struct NpyBlocks {
    path: PathBuf,
    file: File,
    element: Element,
    shape: SampleShape,
    kind: SampleKind,
    rows: usize,
    /// Where the values start.
    offset: u64,
    block_rows: usize,
}

impl NpyBlocks {
    pub fn open(path: &Path) -> Result<NpyBlocks> {
        let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
        let size = file.metadata().map_err(|e| Error::io(path, e))?.len();
        // The fixed preamble, then the header text (its length is in the preamble).
        let mut head = vec![0u8; 12.min(size as usize)];
        file.read_exact(&mut head).map_err(|e| Error::io(path, e))?;
        let (start, len) = npy::preamble(&head)
            .ok_or_else(|| Error::format(path, "not an .npy array (no NUMPY magic)"))?;
        if len > npy::MAX_HEADER_BYTES || (start + len) as u64 > size {
            return Err(Error::format(
                path,
                format!(
                    "the .npy header declares {len} bytes; it must fit the file and 10,000 bytes"
                ),
            ));
        }
        let mut text = vec![0u8; len];
        file.seek(SeekFrom::Start(start as u64))
            .and_then(|_| file.read_exact(&mut text))
            .map_err(|e| Error::io(path, e))?;
        npy::check_header_form(path, &text)?;
        let text = String::from_utf8_lossy(&text).into_owned();
        let descr = npy::descriptor_of(&text).unwrap_or_default();
        let element = Element::parse(&descr).ok_or_else(|| {
            Error::format(
                path,
                format!(
                    "--stream reads little-endian float32, float64, uint8, int32 and int64 .npy \
                     arrays, not {descr:?}"
                ),
            )
        })?;
        if text.contains("'fortran_order': True") {
            return Err(Error::format(
                path,
                "a Fortran-order .npy array is stored column by column; --stream reads rows \
                 (save it with np.ascontiguousarray)",
            ));
        }
        let dims = npy::shape(&text)
            .ok_or_else(|| Error::format(path, "the .npy header has no readable shape"))?;
        let (shape, kind) = npy::sample_shape(path, &dims)?;
        let rows = dims[0];
        let offset = (start + len) as u64;
        npy::check_declared_size(path, &text, size - offset)?;
        Ok(NpyBlocks {
            path: path.to_path_buf(),
            file,
            element,
            shape,
            kind,
            rows,
            offset,
            block_rows: (NPY_BLOCK_BYTES / (shape.features() * 4).max(1)).max(1),
        })
    }
}

impl RowSource for NpyBlocks {
    fn shape(&self) -> SampleShape {
        self.shape
    }
    fn kind(&self) -> SampleKind {
        self.kind
    }
    fn columns(&self) -> Option<Vec<String>> {
        None
    }
    fn len(&self) -> usize {
        self.rows
    }
    fn blocks(&self) -> usize {
        self.rows.div_ceil(self.block_rows)
    }
    fn block_start(&self, b: usize) -> usize {
        b * self.block_rows
    }
    fn read_block(&mut self, b: usize) -> Result<Dataset> {
        let first = b * self.block_rows;
        let rows = self.block_rows.min(self.rows.saturating_sub(first));
        let row_bytes = self.shape.features() * self.element.size();
        let mut bytes = vec![0u8; rows * row_bytes];
        let path = &self.path;
        self.file
            .seek(SeekFrom::Start(self.offset + (first * row_bytes) as u64))
            .and_then(|_| self.file.read_exact(&mut bytes))
            .map_err(|e| Error::io(path, e))?;
        let mut values = Vec::with_capacity(rows * self.shape.features());
        self.element.decode(&bytes, &mut values);
        Ok(Dataset {
            values,
            shape: self.shape,
            kind: self.kind,
            labels: None,
            columns: None,
        })
    }
    fn path(&self) -> &Path {
        &self.path
    }
}

/// Block `b`, refused when a value is missing or infinite (naming the row in the whole data set):
/// what scoring and encoding need, which do not fill gaps.
pub fn read_complete_block(source: &mut dyn RowSource, b: usize) -> Result<Dataset> {
    let block = source.read_block(b)?;
    if let Some((row, column)) = block.first_non_finite() {
        return Err(Error::format(
            source.path(),
            format!(
                "sample {}, value {column} is missing or infinite; fill the gaps first with \
                 `hourglass impute`",
                source.block_start(b) + row
            ),
        ));
    }
    Ok(block)
}

/// SplitMix64: a well-mixed 64-bit hash of a row index and a seed, for choices that must not
/// depend on the order rows are read in (the validation split, the detector's sample).
pub fn mix(seed: u64, index: u64) -> u64 {
    let mut z = seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Whether row `index` is held out for validation: a seeded hash below `fraction`, so the split is
/// the same whichever order the blocks are read in.
pub fn is_validation(seed: u64, index: usize, fraction: f64) -> bool {
    fraction > 0.0
        && (mix(seed ^ 0x5A11_7000, index as u64) >> 11) as f64 / (1u64 << 53) as f64
            > 1.0 - fraction
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("hourglass-stream-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    #[test]
    fn npy_blocks_hold_the_same_rows_as_the_whole_array() {
        let path = scratch("rows.npy");
        let values: Vec<f32> = (0..2000 * 3).map(|v| v as f32 * 0.5).collect();
        npy::write(&path, &values, &[2000, 3]).unwrap();
        let mut source = NpyBlocks::open(&path).unwrap();
        source.block_rows = 300;
        assert_eq!((source.len(), source.blocks()), (2000, 7));
        let mut all = Vec::new();
        for b in 0..source.blocks() {
            assert_eq!(source.block_start(b), b * 300);
            all.extend(source.read_block(b).unwrap().values);
        }
        assert_eq!(all, values);
        assert_eq!(npy::read(&path).unwrap().values, all);
    }

    #[test]
    fn npy_blocks_convert_integer_images() {
        let path = scratch("pixels.npy");
        let pixels = ndarray::Array3::<u8>::from_shape_fn((5, 2, 2), |(i, y, x)| (i + y + x) as u8);
        ndarray_npy::write_npy(&path, &pixels).unwrap();
        let mut source = NpyBlocks::open(&path).unwrap();
        assert_eq!(source.shape(), SampleShape::image(1, 2, 2));
        assert_eq!(source.kind(), SampleKind::Image);
        assert_eq!(source.read_block(0).unwrap().row(4), &[4.0, 5.0, 5.0, 6.0]);
    }

    #[test]
    fn a_truncated_npy_is_refused_before_any_block_is_read() {
        let path = scratch("cut.npy");
        npy::write(&path, &[1.0; 40], &[10, 4]).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 4]).unwrap();
        let err = NpyBlocks::open(&path).err().unwrap().to_string();
        assert!(
            err.contains("cut.npy") && err.contains("declares shape"),
            "{err}"
        );
    }

    #[test]
    fn the_validation_split_takes_about_the_fraction_asked_for() {
        let held = (0..100_000).filter(|&i| is_validation(42, i, 0.1)).count();
        assert!((9_500..10_500).contains(&held), "{held}");
        assert_eq!((0..1000).filter(|&i| is_validation(42, i, 0.0)).count(), 0);
        let other: Vec<bool> = (0..100).map(|i| is_validation(43, i, 0.5)).collect();
        let this: Vec<bool> = (0..100).map(|i| is_validation(42, i, 0.5)).collect();
        assert_ne!(this, other);
    }
}
