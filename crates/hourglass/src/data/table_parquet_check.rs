//! Checks the Thrift-encoded parts of a Parquet file, the footer and the page headers, before
//! `parquet` reads them. Found by `fuzz/fuzz_targets/table.rs` in parquet 60.1:
//! - its page decoder allocates the uncompressed size a page header declares (zero-filling up to
//!   2 GiB for a 1.2 KB file), and page headers sit inside the column chunks, past what the
//!   footer tells: each chunk's pages are walked, and every page must fit its chunk (compressed
//!   bytes inside it, uncompressed size within the chunk's declared total, which the caller has
//!   checked against the file);
//! - its Thrift reader spins through a container's declared element count even when the elements
//!   take no bytes (39 s on a 2 KB footer): the footer is walked first, and a count larger than
//!   the bytes left is refused.
//!
//! The walk is Thrift's compact protocol, enough to find two fields of a page header and skip
//! everything else. Upstream, the same checks belong in `parquet`'s Thrift and page readers.

type Check = std::result::Result<(), String>;

/// Walks a file's footer (its `FileMetaData`, the bytes before the length and `PAR1`).
pub fn footer(bytes: &[u8]) -> Check {
    let mut reader = Compact {
        bytes,
        at: 0,
        depth: 0,
    };
    reader.skip(STRUCT)
}

/// Walks the pages of the chunk `bytes` (its compressed bytes, dictionary page first), whose
/// footer declares `uncompressed` bytes in all.
pub fn chunk(bytes: &[u8], uncompressed: u64) -> Check {
    let mut at = 0;
    while at < bytes.len() {
        let mut reader = Compact {
            bytes,
            at,
            depth: 0,
        };
        let header = reader.page_header()?;
        if header.uncompressed > uncompressed {
            return Err(format!(
                "a page declares {} bytes uncompressed in a column chunk of {uncompressed}",
                header.uncompressed
            ));
        }
        at = reader
            .at
            .checked_add(header.compressed)
            .filter(|&end| end <= bytes.len())
            .ok_or_else(|| {
                format!(
                    "a page declares {} compressed bytes past the end of its column chunk",
                    header.compressed
                )
            })?;
    }
    Ok(())
}

struct PageSizes {
    uncompressed: u64,
    compressed: usize,
}

/// Containers nested deeper than this are refused (a page header nests three deep, a footer
/// about ten).
const MAX_DEPTH: usize = 32;

/// A reader of Thrift's compact protocol, enough to find two fields and skip the rest.
struct Compact<'a> {
    bytes: &'a [u8],
    at: usize,
    depth: usize,
}

// Compact protocol type codes.
const STOP: u8 = 0;
const BOOL_TRUE: u8 = 1;
const BOOL_FALSE: u8 = 2;
const BYTE: u8 = 3;
const I16: u8 = 4;
const I32: u8 = 5;
const I64: u8 = 6;
const DOUBLE: u8 = 7;
const BINARY: u8 = 8;
const LIST: u8 = 9;
const SET: u8 = 10;
const MAP: u8 = 11;
const STRUCT: u8 = 12;

impl Compact<'_> {
    /// A `PageHeader`: field 2 is the uncompressed size, field 3 the compressed size (i32).
    fn page_header(&mut self) -> std::result::Result<PageSizes, String> {
        let (mut uncompressed, mut compressed) = (None, None);
        let mut field: i16 = 0;
        loop {
            let byte = self.byte()?;
            let kind = byte & 0x0f;
            if kind == STOP {
                break;
            }
            field = match byte >> 4 {
                0 => i16::try_from(zigzag(self.varint()?)).map_err(|_| "a bad field id")?,
                delta => field.wrapping_add(i16::from(delta)),
            };
            match (field, kind) {
                (2, I32) => uncompressed = Some(zigzag(self.varint()?)),
                (3, I32) => compressed = Some(zigzag(self.varint()?)),
                _ => self.skip(kind)?,
            }
        }
        let size = |v: Option<i64>, what: &str| {
            v.and_then(|v| u64::try_from(v).ok())
                .ok_or_else(|| format!("a page header without a valid {what} size"))
        };
        Ok(PageSizes {
            uncompressed: size(uncompressed, "uncompressed")?,
            compressed: usize::try_from(size(compressed, "compressed")?)
                .map_err(|_| "a page larger than memory")?,
        })
    }

    fn skip(&mut self, kind: u8) -> Check {
        match kind {
            BOOL_TRUE | BOOL_FALSE => Ok(()),
            BYTE => self.advance(1),
            I16 | I32 | I64 => self.varint().map(drop),
            DOUBLE => self.advance(8),
            BINARY => {
                let len = self.varint()?;
                self.advance(usize::try_from(len).map_err(|_| "a bad binary length")?)
            }
            LIST | SET => {
                let header = self.byte()?;
                let count = match header >> 4 {
                    15 => self.varint()?,
                    n => u64::from(n),
                };
                self.elements(count, &[header & 0x0f])
            }
            MAP => {
                let count = self.varint()?;
                if count == 0 {
                    return Ok(());
                }
                let types = self.byte()?;
                self.elements(count, &[types >> 4, types & 0x0f])
            }
            STRUCT => self.nested(|r| {
                loop {
                    let byte = r.byte()?;
                    if byte & 0x0f == STOP {
                        return Ok(());
                    }
                    if byte >> 4 == 0 {
                        r.varint()?;
                    }
                    r.skip(byte & 0x0f)?;
                }
            }),
            other => Err(format!(
                "a page header holds an unknown Thrift type {other}"
            )),
        }
    }

    /// Skips `count` container elements of the given types (a map's key and value, or a list's
    /// element). Every element takes at least a byte (booleans too, inside containers), so a
    /// count larger than the bytes left is refused before the loop rather than spun through.
    fn elements(&mut self, count: u64, kinds: &[u8]) -> Check {
        if count > (self.bytes.len() - self.at) as u64 {
            return Err(format!(
                "a page header declares {count} elements past its column chunk"
            ));
        }
        self.nested(|r| {
            for _ in 0..count {
                for &kind in kinds {
                    if matches!(kind, BOOL_TRUE | BOOL_FALSE) {
                        r.advance(1)?;
                    } else {
                        r.skip(kind)?;
                    }
                }
            }
            Ok(())
        })
    }

    /// Runs `f` one level deeper, refusing headers nested past [`MAX_DEPTH`].
    fn nested(&mut self, f: impl FnOnce(&mut Self) -> Check) -> Check {
        if self.depth >= MAX_DEPTH {
            return Err("a page header nested too deep".into());
        }
        self.depth += 1;
        let result = f(self);
        self.depth -= 1;
        result
    }

    fn byte(&mut self) -> std::result::Result<u8, String> {
        let b = *self
            .bytes
            .get(self.at)
            .ok_or("a page header runs past its column chunk")?;
        self.at += 1;
        Ok(b)
    }

    fn advance(&mut self, n: usize) -> Check {
        self.at = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or("a page header runs past its column chunk")?;
        Ok(())
    }

    /// An unsigned LEB128 varint of at most 10 bytes.
    fn varint(&mut self) -> std::result::Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..70).step_by(7) {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f) << shift.min(63);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("a page header holds an overlong varint".into())
    }
}

fn zigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A compact-protocol page header: type 0 (a data page), the two sizes, a CRC, and a nested
    /// data page header of four i32 fields.
    fn header(uncompressed: i64, compressed: i64) -> Vec<u8> {
        let zz = |v: i64| ((v << 1) ^ (v >> 63)) as u64;
        let varint = |mut v: u64, out: &mut Vec<u8>| loop {
            if v < 0x80 {
                out.push(v as u8);
                break;
            }
            out.push((v as u8 & 0x7f) | 0x80);
            v >>= 7;
        };
        let mut out = vec![0x15];
        varint(zz(0), &mut out);
        out.push(0x15);
        varint(zz(uncompressed), &mut out);
        out.push(0x15);
        varint(zz(compressed), &mut out);
        out.push(0x15); // field 4, crc
        varint(zz(12345), &mut out);
        out.push(0x1c); // field 5, a struct
        for v in [10, 0, 3, 3] {
            out.push(0x15);
            varint(zz(v), &mut out);
        }
        out.push(0); // end of the data page header
        out.push(0); // end of the page header
        out
    }

    #[test]
    fn pages_that_fit_their_chunk_pass() {
        let mut chunk = header(40, 20);
        chunk.extend([7u8; 20]);
        chunk.extend(header(10, 5));
        chunk.extend([7u8; 5]);
        assert_eq!(self::chunk(&chunk, 80), Ok(()));
    }

    #[test]
    fn a_page_claiming_more_than_its_chunk_is_refused() {
        let mut chunk = header(i32::MAX as i64, 4);
        chunk.extend([0u8; 4]);
        let error = self::chunk(&chunk, 100).unwrap_err();
        assert!(error.contains("2147483647 bytes uncompressed"), "{error}");
    }

    #[test]
    fn truncated_negative_and_runaway_headers_are_refused() {
        let mut past_end = header(10, 50);
        past_end.extend([0u8; 4]);
        assert!(
            self::chunk(&past_end, 100)
                .unwrap_err()
                .contains("past the end")
        );
        assert!(self::chunk(&header(-1, 0), 100).is_err());
        let full = header(10, 0);
        assert!(self::chunk(&full[..full.len() - 3], 100).is_err());
        // Structs in structs, deeper than any page header.
        let mut deep = vec![0x1c; 1000];
        deep.extend([0u8; 1000]);
        assert!(
            self::chunk(&deep, 100)
                .unwrap_err()
                .contains("nested too deep")
        );
        assert!(self::chunk(&[0xff; 64], 100).is_err());
        // A map of 2^62 booleans to booleans in a 6-byte header (found by fuzzing: it spun).
        let map = [
            0x1b, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40, 0x11,
        ];
        assert!(
            self::chunk(&map, 100)
                .unwrap_err()
                .contains("elements past")
        );
    }
}
