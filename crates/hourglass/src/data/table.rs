//! Columnar tables: Parquet and Arrow IPC files, or a directory of them read in name order (the
//! part files a data lake or Spark writes). Numeric columns become features, with nulls as missing
//! values (NaN); the label column, when one is named, becomes the labels; any other column is
//! skipped unless `columns` names it, which then refuses it. Scores and codes are written back as
//! Parquet, with columns of the input carried along ([`read_columns`], [`write_parquet`]).

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Decimal128Type, Float16Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type,
    Int64Type, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::{Dataset, SampleKind, SampleShape};

#[path = "table_ipc_check.rs"]
mod ipc_check;
#[path = "table_parquet_check.rs"]
mod parquet_check;
use crate::error::{Error, Result};

/// File extensions read as tables.
pub const EXTENSIONS: [&str; 5] = ["parquet", "pq", "arrow", "feather", "ipc"];

/// Rows per decoded batch: small enough that a batch's arrays stay a few MiB.
const BATCH_ROWS: usize = 8192;

/// Whether a path is a table file, or a directory holding table files.
pub fn is_table(path: &Path) -> bool {
    if path.is_dir() {
        return files_in(path).map(|f| !f.is_empty()).unwrap_or(false);
    }
    EXTENSIONS.contains(&super::extension(path).as_str())
}

/// Which columns to read.
#[derive(Debug, Clone, Copy, Default)]
pub struct Selection<'a> {
    /// The feature columns, by name, in this order; `None`: every numeric column but the label's.
    pub columns: Option<&'a [String]>,
    /// The label column: a name or a 0-based index.
    pub label_column: Option<&'a str>,
}

/// Reads a table file, or every table file of a directory (in name order, one schema), into a
/// data set.
pub fn read(path: &Path, selection: Selection) -> Result<Dataset> {
    let mut out = Accumulator::default();
    for file in table_files(path)? {
        let bytes = crate::fsutil::read(&file)?;
        guarded(&file, || read_batches(&file, bytes, selection, &mut out))?;
    }
    out.finish(path)
}

/// Runs a decode of untrusted bytes, turning a panic inside the `parquet` or `arrow` crates into
/// an error naming the file. Why: parquet 60.1's page decoders still panic on some malformed
/// pages (an out-of-bounds bit range in the definition levels, found by
/// `fuzz/fuzz_targets/table.rs`), which no check of the footer can rule out. The framing and sizes
/// are checked before decoding (above, and `table_ipc_check.rs`), so what is caught is a decoder
/// failing on a page, not an allocation. Everything decoded so far is dropped with the panic.
fn guarded<T>(source: &Path, decode: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(decode)).unwrap_or_else(|panic| {
        let why = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("a malformed page");
        Err(Error::format(
            source,
            format!("unreadable table: the decoder failed ({why})"),
        ))
    })
}

/// Reads table bytes (a file's or a request's) into a data set; `source` names them in errors.
pub fn from_bytes(source: &Path, bytes: Vec<u8>, selection: Selection) -> Result<Dataset> {
    let mut out = Accumulator::default();
    guarded(source, || read_batches(source, bytes, selection, &mut out))?;
    out.finish(source)
}

/// Reads whole columns by name (any type), concatenated over the files, to carry into an output
/// beside the scores or codes (`--keep-columns`).
pub fn read_columns(path: &Path, names: &[String]) -> Result<Vec<Column>> {
    let mut parts: Vec<Vec<ArrayRef>> = vec![Vec::new(); names.len()];
    let mut fields: Vec<Option<Field>> = vec![None; names.len()];
    for file in table_files(path)? {
        let bytes = crate::fsutil::read(&file)?;
        guarded(&file, || {
            read_column_parts(&file, bytes, names, &mut parts, &mut fields)
        })?;
    }
    let mut columns = Vec::with_capacity(names.len());
    for ((name, part), field) in names.iter().zip(parts).zip(fields) {
        let refs: Vec<&dyn Array> = part.iter().map(|a| a.as_ref()).collect();
        let array = arrow_select::concat::concat(&refs).map_err(|e| arrow_error(path, e))?;
        let nullable = field.map(|f| f.is_nullable()).unwrap_or(true);
        columns.push(Column {
            name: name.clone(),
            array,
            nullable,
        });
    }
    Ok(columns)
}

/// One file's share of [`read_columns`].
fn read_column_parts(
    file: &Path,
    bytes: Vec<u8>,
    names: &[String],
    parts: &mut [Vec<ArrayRef>],
    fields: &mut [Option<Field>],
) -> Result<()> {
    let (schema, picked, batches) = open(file, bytes, |schema| {
        let features = names
            .iter()
            .map(|name| index_of(file, schema, name))
            .collect::<Result<_>>()?;
        Ok(Picked {
            features,
            label: None,
        })
    })?;
    let positions = picked.features;
    for (field, &i) in fields.iter_mut().zip(&positions) {
        field.get_or_insert_with(|| schema.field(i).clone());
    }
    for batch in batches {
        let batch = batch.map_err(|e| arrow_error(file, e))?;
        for (part, &i) in parts.iter_mut().zip(&positions) {
            part.push(batch.column(i).clone());
        }
    }
    Ok(())
}

/// One named column of an output table.
#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub array: ArrayRef,
    pub nullable: bool,
}

impl Column {
    pub fn new(name: impl Into<String>, array: ArrayRef) -> Self {
        let nullable = array.null_count() > 0;
        Column {
            name: name.into(),
            array,
            nullable,
        }
    }
}

/// Writes columns of equal length as one Parquet file (Snappy-compressed, as pandas and Spark
/// write by default), through a temporary file and a rename.
pub fn write_parquet(path: &Path, columns: &[Column]) -> Result<()> {
    let rows = columns.first().map(|c| c.array.len()).unwrap_or(0);
    if let Some(c) = columns.iter().find(|c| c.array.len() != rows) {
        return Err(Error::invalid(format!(
            "column {:?} has {} rows where the others have {rows}",
            c.name,
            c.array.len()
        )));
    }
    check_unique_names(columns.iter().map(|c| c.name.as_str()))?;
    let schema: SchemaRef = Arc::new(Schema::new(
        columns
            .iter()
            .map(|c| Field::new(&c.name, c.array.data_type().clone(), c.nullable))
            .collect::<Vec<_>>(),
    ));
    let batch = RecordBatch::try_new(
        schema.clone(),
        columns.iter().map(|c| c.array.clone()).collect(),
    )
    .map_err(|e| arrow_error(path, e))?;
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::SNAPPY)
        .build();
    crate::fsutil::write_atomic_with(path, |w| {
        let mut writer = parquet::arrow::ArrowWriter::try_new(w, schema, Some(props))
            .map_err(std::io::Error::other)?;
        writer.write(&batch).map_err(std::io::Error::other)?;
        writer.close().map_err(std::io::Error::other)?;
        Ok(())
    })
}

/// Refuses an output whose columns repeat a name (a kept input column named like an output
/// column, `--keep-columns z0`): Parquet readers would see only one of the two.
pub fn check_unique_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    match names.into_iter().find(|name| !seen.insert(*name)) {
        Some(name) => Err(Error::invalid(format!(
            "two output columns are named {name:?} (rename the kept column)"
        ))),
        None => Ok(()),
    }
}

/// The files to read: the path itself, or a directory's table files in name order.
fn table_files(path: &Path) -> Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let files = files_in(path)?;
    if files.is_empty() {
        return Err(Error::format(
            path,
            format!(
                "no table files (.{}) in this directory",
                EXTENSIONS.join(", .")
            ),
        ));
    }
    Ok(files)
}

fn files_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = super::sorted_entries(dir)?;
    files.retain(|p| p.is_file() && EXTENSIONS.contains(&super::extension(p).as_str()));
    Ok(files)
}

type Batches = Box<dyn Iterator<Item = std::result::Result<RecordBatch, ArrowError>>>;

/// Opens Parquet or Arrow IPC bytes (told apart by their magic bytes) and hands out batches of
/// the columns `pick` chooses from the schema. Batches keep the schema's positions: the columns
/// not picked are read by IPC (a memory layout, cheap to skip) and never decoded by Parquet (a
/// projection; they come back as empty placeholders).
fn open(
    source: &Path,
    bytes: Vec<u8>,
    pick: impl FnOnce(&Schema) -> Result<Picked>,
) -> Result<(SchemaRef, Picked, Batches)> {
    if bytes.starts_with(b"PAR1") {
        open_parquet(source, bytes, pick)
    } else if bytes.starts_with(b"ARROW1") {
        ipc_check::file(&bytes).map_err(|e| Error::format(source, e))?;
        let reader = arrow_ipc::reader::FileReader::try_new(Cursor::new(bytes), None)
            .map_err(|e| arrow_error(source, e))?;
        let schema = reader.schema();
        let picked = pick(schema.as_ref())?;
        Ok((schema, picked, Box::new(reader)))
    } else if bytes.starts_with(&[0xff, 0xff, 0xff, 0xff]) {
        // The Arrow IPC stream format (what `pyarrow.ipc.new_stream` writes).
        ipc_check::stream(&bytes).map_err(|e| Error::format(source, e))?;
        let reader = arrow_ipc::reader::StreamReader::try_new(Cursor::new(bytes), None)
            .map_err(|e| arrow_error(source, e))?;
        let schema = reader.schema();
        let picked = pick(schema.as_ref())?;
        Ok((schema, picked, Box::new(reader)))
    } else {
        Err(Error::format(
            source,
            "neither a Parquet file (PAR1) nor an Arrow IPC file or stream",
        ))
    }
}

fn open_parquet(
    source: &Path,
    bytes: Vec<u8>,
    pick: impl FnOnce(&Schema) -> Result<Picked>,
) -> Result<(SchemaRef, Picked, Batches)> {
    let size = bytes.len();
    // The footer's Thrift is walked before parquet decodes it (`table_parquet_check.rs`).
    if let Some(metadata) = footer_of(&bytes) {
        parquet_check::footer(metadata)
            .map_err(|problem| Error::format(source, format!("the Parquet footer: {problem}")))?;
    }
    let bytes = bytes::Bytes::from(bytes);
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes.clone())
        .map_err(|e| parquet_error(source, e))?;
    let schema = builder.schema().clone();
    let choice = pick(schema.as_ref())?;
    let picked = choice.positions();
    // Sizes come from the footer: check them against the file before anything is decoded.
    let mut rows: u64 = 0;
    let cap = (crate::fsutil::inflate_cap(size) as u64).max(MIN_DECODED_CAP);
    for group in builder.metadata().row_groups() {
        let (n, chunks) = row_group_chunks(source, group, size, cap)?;
        for chunk in &chunks {
            chunk.check(source, &bytes[chunk.range.clone()])?;
        }
        rows = rows.saturating_add(n);
    }
    let bytes_out = rows
        .saturating_mul(picked.len().max(1) as u64)
        .saturating_mul(4);
    if bytes_out > cap {
        return Err(Error::format(
            source,
            format!(
                "declares {rows} rows of {} columns ({bytes_out} bytes as f32) in a file of {size} bytes; \
                 more than {cap} bytes is refused",
                picked.len()
            ),
        ));
    }
    let mask = ProjectionMask::roots(builder.parquet_schema(), picked.iter().copied());
    let reader = builder
        .with_projection(mask)
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|e| parquet_error(source, e))?;
    let batches = with_placeholders(reader, schema.clone(), picked);
    Ok((schema, choice, batches))
}

/// One column chunk's place in a file, checked against it.
struct Chunk {
    range: std::ops::Range<usize>,
    inflated: u64,
    name: String,
}

impl Chunk {
    /// Walks the chunk's page headers (`table_parquet_check.rs`) over its `bytes`.
    fn check(&self, source: &Path, bytes: &[u8]) -> Result<()> {
        parquet_check::chunk(bytes, self.inflated).map_err(|problem| {
            Error::format(source, format!("column chunk {:?}: {problem}", self.name))
        })
    }
}

/// One row group's row count and column chunks, checked against the file (`size` bytes) before
/// anything in them is decoded. Sizes come from the footer: parquet 60.1 asserts that column
/// chunks have non-negative offsets and sizes (a panic on a hostile footer) and allocates what a
/// chunk or a page header declares (found by fuzz/fuzz_targets/table.rs), so each chunk must lie
/// in the file and the group's chunks must inflate to at most `cap` together; the caller walks
/// each chunk's page headers ([`Chunk::check`]).
fn row_group_chunks(
    source: &Path,
    group: &parquet::file::metadata::RowGroupMetaData,
    size: usize,
    cap: u64,
) -> Result<(u64, Vec<Chunk>)> {
    let rows = u64::try_from(group.num_rows())
        .map_err(|_| Error::format(source, "a row group declares a negative row count"))?;
    // A row group's chunks are decoded side by side: together they must fit the cap.
    let mut group_inflated: u64 = 0;
    let mut chunks = Vec::with_capacity(group.columns().len());
    for chunk in group.columns() {
        let start = chunk
            .dictionary_page_offset()
            .unwrap_or(chunk.data_page_offset());
        let range = usize::try_from(start)
            .ok()
            .zip(usize::try_from(chunk.compressed_size()).ok())
            .and_then(|(s, l)| Some(s..s.checked_add(l)?))
            .filter(|r| r.end <= size);
        let inflated = u64::try_from(chunk.uncompressed_size()).ok();
        group_inflated = group_inflated.saturating_add(inflated.unwrap_or(u64::MAX));
        let (Some(range), Some(inflated)) = (range, inflated.filter(|_| group_inflated <= cap))
        else {
            return Err(Error::format(
                source,
                format!(
                    "column chunk {:?} declares bytes {start}+{} (inflating to {}) in a file of {size} bytes",
                    chunk.column_path().string(),
                    chunk.compressed_size(),
                    chunk.uncompressed_size()
                ),
            ));
        };
        chunks.push(Chunk {
            range,
            inflated,
            name: chunk.column_path().string(),
        });
    }
    Ok((rows, chunks))
}

/// Batches of the picked columns at their schema positions: the projection drops the columns not
/// picked, which come back as all-null placeholders.
fn with_placeholders(
    reader: parquet::arrow::arrow_reader::ParquetRecordBatchReader,
    full: SchemaRef,
    picked: Vec<usize>,
) -> Batches {
    Box::new(reader.map(move |batch| {
        let batch = batch?;
        let rows = batch.num_rows();
        let mut projected = batch.columns().iter();
        let columns = (0..full.fields().len())
            .map(|i| {
                if picked.binary_search(&i).is_ok() {
                    projected
                        .next()
                        .cloned()
                        .unwrap_or_else(|| null_column(rows))
                } else {
                    null_column(rows)
                }
            })
            .collect();
        let fields: Vec<Field> = full
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| {
                if picked.binary_search(&i).is_ok() {
                    f.as_ref().clone()
                } else {
                    Field::new(f.name(), DataType::Null, true)
                }
            })
            .collect();
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
    }))
}

/// A Parquet file, or a directory of them, read one row group at a time (`--stream`): memory
/// holds one row group's decoded rows, so files meant for streaming need row groups of a few
/// hundred MiB at most (pyarrow: `row_group_size=`; Spark writes 128 MiB groups).
pub struct ParquetBlocks {
    path: PathBuf,
    files: Vec<PathBuf>,
    /// Per block: the file, its row group, and the block's first row in the whole data set.
    groups: Vec<(usize, usize, usize)>,
    rows: usize,
    /// The feature columns' names and the label column, as chosen in the first file.
    columns: Vec<String>,
    label: Option<String>,
}

/// The most one row group may decode to under `--stream`.
const MAX_STREAMED_GROUP: u64 = 1 << 30;

impl ParquetBlocks {
    pub fn open(path: &Path, selection: Selection) -> Result<ParquetBlocks> {
        let files = table_files(path)?;
        let mut groups = Vec::new();
        let mut rows = 0usize;
        let mut chosen: Option<(Vec<String>, Option<String>)> = None;
        for (f, file) in files.iter().enumerate() {
            let (builder, ..) = open_parquet_file(file)?;
            let schema = builder.schema().clone();
            let picked = pick_columns(file, &schema, selection)?;
            let names = picked.names(&schema);
            let label = picked.label.map(|i| schema.field(i).name().clone());
            match &chosen {
                None => chosen = Some((names, label)),
                Some((first, _)) => check_same_columns(file, first, &names)?,
            }
            let width = picked.features.len() as u64 + u64::from(picked.label.is_some());
            for (g, group) in builder.metadata().row_groups().iter().enumerate() {
                let n = usize::try_from(group.num_rows()).map_err(|_| {
                    Error::format(file, "a row group declares a negative row count")
                })?;
                if (n as u64).saturating_mul(width * 4) > MAX_STREAMED_GROUP {
                    return Err(Error::format(
                        file,
                        format!(
                            "row group {g} holds {n} rows ({} MiB as f32): --stream reads a row \
                             group at a time and takes groups up to {} MiB; rewrite the file with \
                             smaller row groups (pyarrow: row_group_size=65536)",
                            (n as u64 * width * 4) >> 20,
                            MAX_STREAMED_GROUP >> 20
                        ),
                    ));
                }
                groups.push((f, g, rows));
                rows = rows.saturating_add(n);
            }
        }
        let (columns, label) = chosen.expect("a table path has at least one file");
        Ok(ParquetBlocks {
            path: path.to_path_buf(),
            files,
            groups,
            rows,
            columns,
            label,
        })
    }
}

/// Opens a Parquet file for reading by row group: its footer is checked
/// (`table_parquet_check.rs`) before parquet parses it. Arrow IPC files are refused: they are
/// read whole, without `--stream`. Also returns a handle on the same file, for reading column
/// chunks to check, and the file's size.
fn open_parquet_file(
    path: &Path,
) -> Result<(
    ParquetRecordBatchReaderBuilder<std::fs::File>,
    std::fs::File,
    usize,
)> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let size = file.metadata().map_err(|e| Error::io(path, e))?.len() as usize;
    let mut magic = [0u8; 4];
    let mut tail = [0u8; 8];
    let framed = size >= 12
        && file.read_exact(&mut magic).is_ok()
        && file.seek(SeekFrom::End(-8)).is_ok()
        && file.read_exact(&mut tail).is_ok()
        && &magic == b"PAR1"
        && &tail[4..] == b"PAR1";
    if !framed {
        return Err(Error::format(
            path,
            "--stream reads Parquet files (PAR1 at both ends); read Arrow IPC files without --stream",
        ));
    }
    let len = u32::from_le_bytes(tail[..4].try_into().expect("4 bytes")) as usize;
    if len > size - 12 {
        return Err(Error::format(
            path,
            format!("the Parquet footer declares {len} bytes in a file of {size}"),
        ));
    }
    let mut footer = vec![0u8; len];
    file.seek(SeekFrom::Start((size - 8 - len) as u64))
        .and_then(|_| file.read_exact(&mut footer))
        .map_err(|e| Error::io(path, e))?;
    parquet_check::footer(&footer)
        .map_err(|problem| Error::format(path, format!("the Parquet footer: {problem}")))?;
    drop(footer);
    file.seek(SeekFrom::Start(0))
        .map_err(|e| Error::io(path, e))?;
    let handle = file.try_clone().map_err(|e| Error::io(path, e))?;
    let builder = guarded(path, || {
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| parquet_error(path, e))
    })?;
    Ok((builder, handle, size))
}

impl super::stream::RowSource for ParquetBlocks {
    fn shape(&self) -> SampleShape {
        SampleShape::tabular(self.columns.len())
    }
    fn kind(&self) -> SampleKind {
        SampleKind::Tabular
    }
    fn columns(&self) -> Option<Vec<String>> {
        Some(self.columns.clone())
    }
    fn len(&self) -> usize {
        self.rows
    }
    fn blocks(&self) -> usize {
        self.groups.len()
    }
    fn block_start(&self, b: usize) -> usize {
        self.groups[b].2
    }
    fn read_block(&mut self, b: usize) -> Result<Dataset> {
        use std::io::{Read, Seek, SeekFrom};
        let (f, g, _) = self.groups[b];
        let file = &self.files[f];
        let selection = Selection {
            columns: Some(&self.columns),
            label_column: self.label.as_deref(),
        };
        let (builder, mut reader, size) = open_parquet_file(file)?;
        let schema = builder.schema().clone();
        let picked = pick_columns(file, &schema, selection)?;
        let Some(group) = builder.metadata().row_groups().get(g) else {
            return Err(Error::format(file, "the file changed while it was read"));
        };
        // The group's chunks are checked one at a time, read from the file, before decoding.
        let (_, chunks) = row_group_chunks(file, group, size, MAX_STREAMED_GROUP)?;
        for chunk in chunks {
            let mut bytes = vec![0u8; chunk.range.len()];
            reader
                .seek(SeekFrom::Start(chunk.range.start as u64))
                .and_then(|_| reader.read_exact(&mut bytes))
                .map_err(|e| Error::io(file, e))?;
            chunk.check(file, &bytes)?;
        }
        let wanted = picked.positions();
        let mask = ProjectionMask::roots(builder.parquet_schema(), wanted.iter().copied());
        let mut out = Accumulator::default();
        let group_rows = usize::try_from(group.num_rows()).unwrap_or(0);
        out.values.reserve_exact(group_rows * self.columns.len());
        guarded(file, || {
            let reader = builder
                .with_row_groups(vec![g])
                .with_projection(mask)
                .with_batch_size(BATCH_ROWS)
                .build()
                .map_err(|e| parquet_error(file, e))?;
            let batches = with_placeholders(reader, schema.clone(), wanted);
            decode(file, &schema, picked, batches, &mut out)
        })?;
        if out.rows == 0 {
            // An empty row group still gives a block: of no rows, with the data set's shape.
            return Ok(Dataset {
                values: Vec::new(),
                shape: self.shape(),
                kind: SampleKind::Tabular,
                labels: self.label.as_ref().map(|_| Vec::new()),
                columns: Some(self.columns.clone()),
            });
        }
        out.finish(file)
    }
    fn path(&self) -> &Path {
        &self.path
    }
}

/// The footer's `FileMetaData` bytes, when the length before the closing `PAR1` fits the file
/// (otherwise parquet's own reader reports the file as broken).
fn footer_of(bytes: &[u8]) -> Option<&[u8]> {
    let n = bytes.len();
    let tail = bytes.get(n.checked_sub(8)?..)?;
    let len = u32::from_le_bytes(tail[..4].try_into().ok()?) as usize;
    bytes.get(n.checked_sub(8)?.checked_sub(len)?..n - 8)
}

/// A small file may decode to this much whatever its compression ratio (a column of one repeated
/// value compresses far beyond 100×); past it, the ratio cap of `fsutil::inflate_cap` holds.
const MIN_DECODED_CAP: u64 = 256 << 20;

fn null_column(rows: usize) -> ArrayRef {
    Arc::new(arrow_array::NullArray::new(rows))
}

/// The rows read so far, over all files.
#[derive(Default)]
struct Accumulator {
    values: Vec<f32>,
    labels: Option<Vec<u32>>,
    columns: Option<Vec<String>>,
    rows: usize,
}

impl Accumulator {
    fn finish(self, path: &Path) -> Result<Dataset> {
        let columns = self.columns.unwrap_or_default();
        if self.rows == 0 || columns.is_empty() {
            return Err(Error::format(
                path,
                "no rows of numeric columns in this table",
            ));
        }
        Ok(Dataset {
            values: self.values,
            shape: SampleShape::tabular(columns.len()),
            kind: SampleKind::Tabular,
            labels: self.labels,
            columns: Some(columns),
        })
    }
}

/// The features' and the label's positions in a schema.
struct Picked {
    features: Vec<usize>,
    label: Option<usize>,
}

impl Picked {
    /// The feature columns' names.
    fn names(&self, schema: &Schema) -> Vec<String> {
        let name = |&i: &usize| schema.field(i).name().clone();
        self.features.iter().map(name).collect()
    }

    /// Every position to decode (features and label), sorted, once each: what a Parquet
    /// projection takes.
    fn positions(&self) -> Vec<usize> {
        let mut all = self.features.clone();
        all.extend(self.label);
        all.sort_unstable();
        all.dedup();
        all
    }
}

/// A file after the first must pick the first one's feature columns.
fn check_same_columns(source: &Path, first: &[String], names: &[String]) -> Result<()> {
    if first == names {
        return Ok(());
    }
    Err(Error::format(
        source,
        format!(
            "columns {names:?} differ from the first file's {first:?} (a directory's files share one schema)"
        ),
    ))
}

fn pick_columns(source: &Path, schema: &Schema, selection: Selection) -> Result<Picked> {
    let label = match selection.label_column {
        None => None,
        Some(name) => Some(match index_of(source, schema, name) {
            Ok(i) => i,
            Err(e) => match name.parse::<usize>() {
                Ok(i) if i < schema.fields().len() => i,
                _ => return Err(e),
            },
        }),
    };
    let features = match selection.columns {
        Some(names) => {
            let mut features = Vec::with_capacity(names.len());
            for name in names {
                let i = index_of(source, schema, name)?;
                let field = schema.field(i);
                if !is_numeric(field.data_type()) {
                    return Err(Error::format(
                        source,
                        format!("column {name:?} holds {}, not numbers", field.data_type()),
                    ));
                }
                features.push(i);
            }
            features
        }
        None => (0..schema.fields().len())
            .filter(|&i| Some(i) != label && is_numeric(schema.field(i).data_type()))
            .collect(),
    };
    if features.is_empty() {
        return Err(Error::format(source, "no numeric columns to read"));
    }
    Ok(Picked { features, label })
}

fn index_of(source: &Path, schema: &Schema, name: &str) -> Result<usize> {
    schema.index_of(name).map_err(|_| {
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        Error::format(
            source,
            format!("no column {name:?} (columns: {})", names.join(", ")),
        )
    })
}

/// Reads one file's batches into the accumulator.
fn read_batches(
    source: &Path,
    bytes: Vec<u8>,
    selection: Selection,
    out: &mut Accumulator,
) -> Result<()> {
    let (schema, picked, batches) = open(source, bytes, |schema| {
        pick_columns(source, schema, selection)
    })?;
    decode(source, &schema, picked, batches, out)
}

/// Decodes batches of the picked columns into the accumulator; a file after the first must have
/// the first one's feature columns.
fn decode(
    source: &Path,
    schema: &Schema,
    picked: Picked,
    batches: Batches,
    out: &mut Accumulator,
) -> Result<()> {
    let names = picked.names(schema);
    match &out.columns {
        None => out.columns = Some(names.clone()),
        Some(first) => check_same_columns(source, first, &names)?,
    }
    let Picked { features, label } = picked;
    if label.is_some() && out.labels.is_none() {
        out.labels = Some(Vec::new());
    }
    let width = features.len();
    for batch in batches {
        let batch = batch.map_err(|e| arrow_error(source, e))?;
        let rows = batch.num_rows();
        let start = out.values.len();
        out.values.resize(start + rows * width, 0.0);
        let block = &mut out.values[start..];
        for (j, &i) in features.iter().enumerate() {
            let column = numeric(batch.column(i).as_ref()).ok_or_else(|| {
                Error::format(
                    source,
                    format!("column {:?} is not numeric in every batch", names[j]),
                )
            })?;
            for (r, v) in column.into_iter().enumerate() {
                if v.is_infinite() {
                    return Err(Error::format(
                        source,
                        format!(
                            "row {}, column {:?}: infinite (or beyond f32's range)",
                            out.rows + r + 1,
                            names[j]
                        ),
                    ));
                }
                block[r * width + j] = v;
            }
        }
        if let (Some(i), Some(labels)) = (label, out.labels.as_mut()) {
            let column = batch.column(i);
            let values = numeric_f64(column.as_ref()).ok_or_else(|| {
                Error::format(
                    source,
                    format!(
                        "the label column holds {}, not integers",
                        column.data_type()
                    ),
                )
            })?;
            for (r, v) in values.into_iter().enumerate() {
                if !(v >= 0.0 && v.fract() == 0.0 && v < 4_294_967_296.0) {
                    return Err(Error::format(
                        source,
                        format!(
                            "row {}: label {} is not a non-negative integer",
                            out.rows + r + 1,
                            if v.is_nan() {
                                "null".into()
                            } else {
                                v.to_string()
                            }
                        ),
                    ));
                }
                labels.push(v as u32);
            }
        }
        out.rows += rows;
    }
    Ok(())
}

fn is_numeric(data_type: &DataType) -> bool {
    use DataType::*;
    matches!(
        data_type,
        Boolean
            | Int8
            | Int16
            | Int32
            | Int64
            | UInt8
            | UInt16
            | UInt32
            | UInt64
            | Float16
            | Float32
            | Float64
            | Decimal128(_, _)
    )
}

/// A numeric column as f32, nulls as NaN; `None` for any other type.
fn numeric(array: &dyn Array) -> Option<Vec<f32>> {
    Some(numeric_f64(array)?.into_iter().map(|v| v as f32).collect())
}

/// A numeric column as f64 (exact for every integer a label can be), nulls as NaN.
fn numeric_f64(array: &dyn Array) -> Option<Vec<f64>> {
    macro_rules! values {
        ($type:ty, $convert:expr) => {
            array
                .as_primitive::<$type>()
                .iter()
                .map(|v| v.map_or(f64::NAN, $convert))
                .collect()
        };
    }
    Some(match array.data_type() {
        DataType::Boolean => array
            .as_boolean()
            .iter()
            .map(|v| v.map_or(f64::NAN, |b| f64::from(u8::from(b))))
            .collect(),
        DataType::Int8 => values!(Int8Type, f64::from),
        DataType::Int16 => values!(Int16Type, f64::from),
        DataType::Int32 => values!(Int32Type, f64::from),
        DataType::Int64 => values!(Int64Type, |v| v as f64),
        DataType::UInt8 => values!(UInt8Type, f64::from),
        DataType::UInt16 => values!(UInt16Type, f64::from),
        DataType::UInt32 => values!(UInt32Type, f64::from),
        DataType::UInt64 => values!(UInt64Type, |v| v as f64),
        DataType::Float16 => values!(Float16Type, |v| f64::from(v.to_f32())),
        DataType::Float32 => values!(Float32Type, f64::from),
        DataType::Float64 => values!(Float64Type, |v| v),
        DataType::Decimal128(_, scale) => {
            let unit = 10f64.powi(i32::from(*scale));
            values!(Decimal128Type, |v| v as f64 / unit)
        }
        _ => return None,
    })
}

fn arrow_error(source: &Path, error: ArrowError) -> Error {
    Error::format(source, format!("unreadable table: {error}"))
}

fn parquet_error(source: &Path, error: parquet::errors::ParquetError) -> Error {
    Error::format(source, format!("unreadable Parquet file: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Float64Array, Int32Array, Int64Array, StringArray};

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("hourglass-table-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// id (text), a (floats, one null), b (integers), class (integers).
    fn sample(first_id: usize) -> Vec<Column> {
        let ids: Vec<String> = (first_id..first_id + 3)
            .map(|i| format!("row-{i}"))
            .collect();
        vec![
            Column::new("id", Arc::new(StringArray::from(ids))),
            Column::new(
                "a",
                Arc::new(Float64Array::from(vec![Some(1.5), None, Some(-2.0)])),
            ),
            Column::new("b", Arc::new(Int32Array::from(vec![7, 8, 9]))),
            Column::new("class", Arc::new(Int64Array::from(vec![0, 1, 0]))),
        ]
    }

    #[test]
    fn parquet_round_trip_with_nulls_labels_and_a_key_column() {
        let path = scratch("round").join("t.parquet");
        write_parquet(&path, &sample(0)).unwrap();
        let selection = Selection {
            label_column: Some("class"),
            ..Default::default()
        };
        let data = read(&path, selection).unwrap();
        // The text column is skipped, the label column taken out of the features.
        assert_eq!(
            data.columns.as_deref(),
            Some(&["a".to_string(), "b".into()][..])
        );
        assert_eq!(data.len(), 3);
        assert_eq!(data.values[0..2], [1.5, 7.0]);
        assert!(data.values[2].is_nan(), "a null is a missing value");
        assert_eq!(data.values[3..6], [8.0, -2.0, 9.0]);
        assert_eq!(data.labels.as_deref(), Some(&[0, 1, 0][..]));

        let kept = read_columns(&path, &["id".into()]).unwrap();
        let ids = kept[0].array.as_string::<i32>();
        assert_eq!(ids.value(2), "row-2");

        // Named columns come in the order asked; a text column is refused by name.
        let only_b = ["b".to_string(), "a".into()];
        let data = read(
            &path,
            Selection {
                columns: Some(&only_b),
                label_column: None,
            },
        )
        .unwrap();
        assert_eq!(data.values[0..2], [7.0, 1.5]);
        let id = ["id".to_string()];
        let err = read(
            &path,
            Selection {
                columns: Some(&id),
                label_column: None,
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("\"id\" holds Utf8"), "{err}");
        let missing = ["nope".to_string()];
        let err = read(
            &path,
            Selection {
                columns: Some(&missing),
                label_column: None,
            },
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("no column \"nope\" (columns: id, a, b, class)"),
            "{err}"
        );
    }

    #[test]
    fn a_directory_of_part_files_reads_in_name_order_and_refuses_a_different_schema() {
        let dir = scratch("parts");
        write_parquet(&dir.join("part-1.parquet"), &sample(3)).unwrap();
        write_parquet(&dir.join("part-0.parquet"), &sample(0)).unwrap();
        let data = read(&dir, Selection::default()).unwrap();
        assert_eq!(data.len(), 6);
        let ids = read_columns(&dir, &["id".into()]).unwrap();
        let ids = ids[0].array.as_string::<i32>();
        assert_eq!((ids.value(0), ids.value(5)), ("row-0", "row-5"));

        let mut other = sample(6);
        other[2].name = "c".into();
        write_parquet(&dir.join("part-2.parquet"), &other).unwrap();
        let err = read(&dir, Selection::default()).unwrap_err();
        assert!(err.to_string().contains("part-2.parquet"), "{err}");
        assert!(
            err.to_string().contains("differ from the first file"),
            "{err}"
        );
    }

    #[test]
    fn arrow_ipc_files_and_streams_read_like_parquet() {
        let dir = scratch("ipc");
        let columns = sample(0);
        let schema = Arc::new(Schema::new(
            columns
                .iter()
                .map(|c| Field::new(&c.name, c.array.data_type().clone(), true))
                .collect::<Vec<_>>(),
        ));
        let batch = RecordBatch::try_new(
            schema.clone(),
            columns.iter().map(|c| c.array.clone()).collect(),
        )
        .unwrap();
        let mut file = Vec::new();
        let mut writer = arrow_ipc::writer::FileWriter::try_new(&mut file, &schema).unwrap();
        writer.write(&batch).unwrap();
        writer.finish().unwrap();
        drop(writer);
        let mut stream = Vec::new();
        let mut writer = arrow_ipc::writer::StreamWriter::try_new(&mut stream, &schema).unwrap();
        writer.write(&batch).unwrap();
        writer.finish().unwrap();
        drop(writer);
        for (name, bytes) in [("t.arrow", file), ("t.ipc", stream)] {
            let path = dir.join(name);
            std::fs::write(&path, bytes).unwrap();
            let data = read(&path, Selection::default()).unwrap();
            assert_eq!(
                data.columns.as_ref().unwrap(),
                &["a", "b", "class"],
                "{name}"
            );
            assert_eq!(data.values[0..3], [1.5, 7.0, 0.0], "{name}");
        }
    }

    #[test]
    fn broken_tables_are_refused_with_the_file_named() {
        let dir = scratch("broken");
        let path = dir.join("t.parquet");
        write_parquet(&path, &sample(0)).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        // Truncated: the footer is gone.
        let cut = dir.join("cut.parquet");
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        let err = read(&cut, Selection::default()).unwrap_err().to_string();
        assert!(err.contains("cut.parquet"), "{err}");
        // Not a table at all.
        let text = dir.join("text.parquet");
        std::fs::write(&text, "a,b\n1,2\n").unwrap();
        let err = read(&text, Selection::default()).unwrap_err().to_string();
        assert!(
            err.contains("text.parquet") && err.contains("neither a Parquet"),
            "{err}"
        );
        // Every byte flipped in turn: an error or a data set, never a panic.
        for i in (0..bytes.len()).step_by(7) {
            let mut broken = bytes.clone();
            broken[i] ^= 0x5a;
            let _ = from_bytes(&path, broken, Selection::default());
        }
        // An infinite value is refused with its row and column.
        let inf = dir.join("inf.parquet");
        let columns = [Column::new(
            "x",
            Arc::new(Float64Array::from(vec![1.0, f64::INFINITY])),
        )];
        write_parquet(&inf, &columns).unwrap();
        let err = read(&inf, Selection::default()).unwrap_err().to_string();
        assert!(err.contains("row 2, column \"x\": infinite"), "{err}");
    }
}
