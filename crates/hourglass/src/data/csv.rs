//! CSV tables: numeric columns, an optional header row, an optional label column. Empty and
//! `NaN` cells are read as missing (NaN); commands that cannot work with gaps refuse them.

use std::path::Path;

use super::{Dataset, SampleKind, SampleShape};
use crate::error::{Error, Result};

/// Reads a numeric CSV file. `label_column` is a header name or a 0-based column index.
pub fn read(path: &Path, label_column: Option<&str>) -> Result<Dataset> {
    let bytes = super::read_maybe_gzipped(path)?;
    let mut reader = reader_for(path).from_reader(&bytes[..]);
    let mut records = reader.records();
    let first = match records.next() {
        Some(record) => record.map_err(|e| csv_error(path, e))?,
        None => return Err(Error::format(path, "empty CSV file")),
    };
    let layout = Layout::of(path, &first, label_column)?;
    let first_data = if layout.header.is_some() {
        None
    } else {
        Some(Ok(first))
    };
    let mut rows = Rows::default();
    for record in first_data.into_iter().chain(records) {
        let record = record.map_err(|e| csv_error(path, e))?;
        layout.parse(path, &record, &mut rows)?;
    }
    layout.finish(path, rows)
}

/// How CSV records are read: delimited by tabs for `.tsv`, commas otherwise, cells trimmed.
fn reader_for(path: &Path) -> ::csv::ReaderBuilder {
    let delimiter = if super::extension(path) == "tsv" {
        b'\t'
    } else {
        b','
    };
    let mut builder = ::csv::ReaderBuilder::new();
    builder
        .has_headers(false)
        .delimiter(delimiter)
        .trim(::csv::Trim::All);
    builder
}

/// What the first record tells about a file: its header (when a cell is not a number), its
/// width and the label column.
struct Layout {
    header: Option<Vec<String>>,
    width: usize,
    label_index: Option<usize>,
}

/// Values and labels parsed so far, and the rows they make.
#[derive(Default)]
struct Rows {
    values: Vec<f32>,
    labels: Vec<u32>,
    count: usize,
}

impl Layout {
    fn of(path: &Path, first: &::csv::StringRecord, label_column: Option<&str>) -> Result<Layout> {
        let header = first
            .iter()
            .any(|cell| !cell.is_empty() && parse_cell(cell).is_none())
            .then(|| first.iter().map(str::to_string).collect::<Vec<_>>());
        let width = first.len();
        let label_index = match label_column {
            None => None,
            Some(name) => Some(find_column(path, header.as_deref(), width, name)?),
        };
        Ok(Layout {
            header,
            width,
            label_index,
        })
    }

    /// Parses one data record into `rows`; its line is counted from `rows` (so `rows` must hold
    /// every earlier data record's count).
    fn parse(&self, path: &Path, record: &::csv::StringRecord, rows: &mut Rows) -> Result<()> {
        // Line numbers as a person counts them in an editor.
        let line = rows.count + 1 + usize::from(self.header.is_some());
        let header = self.header.as_deref();
        if record.len() != self.width {
            return Err(Error::format(
                path,
                format!(
                    "line {line}: {} fields where earlier lines have {} (ragged rows)",
                    record.len(),
                    self.width
                ),
            ));
        }
        for (column, cell) in record.iter().enumerate() {
            let value = parse_cell(cell).ok_or_else(|| {
                Error::format(
                    path,
                    format!(
                        "line {line}, column {}: {cell:?} is not a number",
                        column_name(header, column)
                    ),
                )
            })?;
            // Infinity (typed, or a number past f32's range) is no measurement: say where it is.
            if value.is_infinite() {
                return Err(Error::format(
                    path,
                    format!(
                        "line {line}, column {}: {cell:?} is infinite (or beyond f32's range)",
                        column_name(header, column)
                    ),
                ));
            }
            if Some(column) == self.label_index {
                if !(value >= 0.0 && value.fract() == 0.0 && (value as f64) < 4_294_967_296.0) {
                    return Err(Error::format(
                        path,
                        format!("line {line}: label {cell:?} is not a non-negative integer"),
                    ));
                }
                rows.labels.push(value as u32);
            } else {
                rows.values.push(value);
            }
        }
        rows.count += 1;
        Ok(())
    }

    fn columns(&self) -> usize {
        self.width - usize::from(self.label_index.is_some())
    }

    fn column_names(&self) -> Option<Vec<String>> {
        self.header.as_ref().map(|names| {
            names
                .iter()
                .enumerate()
                .filter(|(i, _)| Some(*i) != self.label_index)
                .map(|(_, name)| name.clone())
                .collect()
        })
    }

    fn finish(&self, path: &Path, rows: Rows) -> Result<Dataset> {
        if rows.count == 0 || self.columns() == 0 {
            return Err(Error::format(path, "no numeric data in this CSV file"));
        }
        Ok(self.dataset(rows))
    }

    fn dataset(&self, rows: Rows) -> Dataset {
        Dataset {
            values: rows.values,
            shape: SampleShape::tabular(self.columns()),
            kind: SampleKind::Tabular,
            labels: self.label_index.map(|_| rows.labels),
            columns: self.column_names(),
        }
    }
}

/// A CSV file read a block of rows at a time (`--stream`): one pass at opening finds where each
/// block starts, then a block is read from there.
pub struct CsvBlocks {
    path: std::path::PathBuf,
    reader: ::csv::Reader<std::fs::File>,
    layout: Layout,
    /// Where each block's first record starts, and the data rows before it.
    starts: Vec<(::csv::Position, usize)>,
    rows: usize,
}

/// Values a CSV block holds (4 MiB as f32).
const CSV_BLOCK_VALUES: usize = 1 << 20;

impl CsvBlocks {
    pub fn open(path: &Path, label_column: Option<&str>) -> Result<CsvBlocks> {
        Self::open_sized(path, label_column, None)
    }

    /// [`CsvBlocks::open`] with blocks of `block_rows` rows (default: 4 MiB of values).
    fn open_sized(
        path: &Path,
        label_column: Option<&str>,
        block_rows: Option<usize>,
    ) -> Result<CsvBlocks> {
        let open = || -> Result<::csv::Reader<std::fs::File>> {
            let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
            let mut magic = [0u8; 2];
            let gzipped = std::io::Read::read(&mut file, &mut magic).is_ok_and(|n| n == 2)
                && magic == [0x1f, 0x8b];
            if gzipped {
                return Err(Error::format(
                    path,
                    "--stream reads plain CSV (a gzip stream cannot be read from the middle); \
                     unpack it first",
                ));
            }
            std::io::Seek::rewind(&mut file).map_err(|e| Error::io(path, e))?;
            Ok(reader_for(path).from_reader(file))
        };
        let mut reader = open()?;
        let mut record = ::csv::StringRecord::new();
        let read = |reader: &mut ::csv::Reader<std::fs::File>, record: &mut _| {
            reader.read_record(record).map_err(|e| csv_error(path, e))
        };
        if !read(&mut reader, &mut record)? {
            return Err(Error::format(path, "empty CSV file"));
        }
        let layout = Layout::of(path, &record, label_column)?;
        if layout.columns() == 0 {
            return Err(Error::format(path, "no numeric data in this CSV file"));
        }
        let block_rows = block_rows.unwrap_or(CSV_BLOCK_VALUES / layout.width).max(1);
        // Without a header the first record is row 0, already read.
        let mut starts = Vec::new();
        let mut rows = 0usize;
        if layout.header.is_none() {
            starts.push((::csv::Position::new(), 0));
            rows = 1;
        }
        loop {
            // Seeking to where the reader stands now reads the next record again.
            let position = reader.position().clone();
            if !read(&mut reader, &mut record)? {
                break;
            }
            if rows.is_multiple_of(block_rows) {
                starts.push((position, rows));
            }
            rows += 1;
        }
        if rows == 0 {
            return Err(Error::format(path, "no numeric data in this CSV file"));
        }
        Ok(CsvBlocks {
            path: path.to_path_buf(),
            reader: open()?,
            layout,
            starts,
            rows,
        })
    }
}

impl super::stream::RowSource for CsvBlocks {
    fn shape(&self) -> SampleShape {
        SampleShape::tabular(self.layout.columns())
    }
    fn kind(&self) -> SampleKind {
        SampleKind::Tabular
    }
    fn columns(&self) -> Option<Vec<String>> {
        self.layout.column_names()
    }
    fn len(&self) -> usize {
        self.rows
    }
    fn blocks(&self) -> usize {
        self.starts.len()
    }
    fn block_start(&self, b: usize) -> usize {
        self.starts[b].1
    }
    fn read_block(&mut self, b: usize) -> Result<Dataset> {
        let (position, first) = self.starts[b].clone();
        let end = self.starts.get(b + 1).map_or(self.rows, |s| s.1);
        let path = &self.path;
        self.reader.seek(position).map_err(|e| csv_error(path, e))?;
        let mut rows = Rows {
            count: first,
            ..Rows::default()
        };
        let mut record = ::csv::StringRecord::new();
        while rows.count < end {
            if !self
                .reader
                .read_record(&mut record)
                .map_err(|e| csv_error(path, e))?
            {
                return Err(Error::format(path, "the file changed while it was read"));
            }
            self.layout.parse(path, &record, &mut rows)?;
        }
        Ok(self.layout.dataset(rows))
    }
    fn path(&self) -> &Path {
        &self.path
    }
}

/// A number, or NaN for an empty or `NaN`/`NA` cell; `None` for anything else.
fn parse_cell(cell: &str) -> Option<f32> {
    match cell {
        "" | "NaN" | "nan" | "NA" => Some(f32::NAN),
        _ => cell.parse::<f32>().ok(),
    }
}

/// A column as a person would name it: its header, or its 1-based number.
fn column_name(header: Option<&[String]>, column: usize) -> String {
    match header.and_then(|h| h.get(column)) {
        Some(name) => format!("{name:?}"),
        None => (column + 1).to_string(),
    }
}

fn find_column(path: &Path, header: Option<&[String]>, width: usize, name: &str) -> Result<usize> {
    if let Some(index) = header.and_then(|h| h.iter().position(|c| c == name)) {
        return Ok(index);
    }
    match name.parse::<usize>() {
        Ok(index) if index < width => Ok(index),
        _ => Err(Error::format(
            path,
            format!(
                "no label column {name:?} (give a header name or a 0-based index below {width})"
            ),
        )),
    }
}

fn csv_error(path: &Path, error: ::csv::Error) -> Error {
    let message = match error.kind() {
        ::csv::ErrorKind::UnequalLengths {
            pos,
            expected_len,
            len,
        } => format!(
            "line {}: {len} fields where earlier lines have {expected_len} (ragged rows)",
            pos.as_ref().map(|p| p.line()).unwrap_or(0)
        ),
        _ => error.to_string(),
    };
    Error::format(path, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::stream::RowSource;

    #[test]
    fn csv_blocks_hold_the_same_rows_as_the_whole_file() {
        let dir = std::env::temp_dir().join(format!("hourglass-csv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for header in [true, false] {
            let path = dir.join(format!("t{header}.csv"));
            let mut text = String::new();
            if header {
                text.push_str("a,b,label\n");
            }
            for i in 0..1000 {
                let a = if i == 500 {
                    String::new()
                } else {
                    i.to_string()
                };
                text.push_str(&format!("{a},\"{}\",{}\n", i * 2, i % 3));
            }
            std::fs::write(&path, text).unwrap();
            let whole = read(&path, Some("2")).unwrap();
            let mut blocks = CsvBlocks::open_sized(&path, Some("2"), Some(64)).unwrap();
            assert_eq!(blocks.blocks(), 16);
            let mut values = Vec::new();
            let mut labels = Vec::new();
            // Blocks read out of order come back the same.
            for b in (0..blocks.blocks()).rev() {
                let block = blocks.read_block(b).unwrap();
                assert_eq!(blocks.block_start(b), b * 64);
                values.splice(0..0, block.values);
                labels.splice(0..0, block.labels.unwrap());
            }
            assert_eq!(blocks.len(), 1000);
            assert_eq!(values.len(), whole.values.len());
            assert!(
                values
                    .iter()
                    .zip(&whole.values)
                    .all(|(a, b)| a == b || a.is_nan() && b.is_nan())
            );
            assert_eq!(Some(labels), whole.labels);
            assert_eq!(blocks.columns(), whole.columns);
        }
    }
}
