//! Checks the framing of Arrow IPC bytes before `arrow-ipc` reads them. Its reader trusts the
//! offsets and lengths it finds (arrow-ipc 60.1: a buffer offset past the message body, or a
//! negative block length, panics; a huge one is allocated): found by `fuzz/fuzz_targets/table.rs`
//! in 8 runs. Here every block and message of a file or stream, and every buffer of every record
//! or dictionary batch, must lie inside the bytes, before any of them is decoded. Upstream, the
//! same checks belong in `arrow_ipc::reader`.

const CONTINUATION: [u8; 4] = [0xff; 4];

type Check = std::result::Result<(), String>;

/// An IPC file: magic, messages, a footer listing the blocks, its length, magic.
pub fn file(bytes: &[u8]) -> Check {
    let n = bytes.len();
    if n < 6 + 8 + 10 || &bytes[n - 6..] != b"ARROW1" {
        return Err("an Arrow IPC file must end with its footer and ARROW1".into());
    }
    let footer_len = i32::from_le_bytes(bytes[n - 10..n - 6].try_into().unwrap());
    let footer_len = usize::try_from(footer_len)
        .ok()
        .filter(|&l| l <= n - 10 - 8)
        .ok_or("the Arrow footer's length does not fit the file")?;
    let footer = arrow_ipc::root_as_footer(&bytes[n - 10 - footer_len..n - 10])
        .map_err(|e| format!("the Arrow footer is malformed: {e}"))?;
    let blocks = footer
        .recordBatches()
        .into_iter()
        .flatten()
        .chain(footer.dictionaries().into_iter().flatten());
    for block in blocks {
        let (offset, meta, body) = (block.offset(), block.metaDataLength(), block.bodyLength());
        let span = usize::try_from(offset)
            .ok()
            .zip(usize::try_from(meta).ok())
            .zip(usize::try_from(body).ok())
            .and_then(|((o, m), b)| Some((o, m, o.checked_add(m)?.checked_add(b)?)));
        let Some((start, meta, _)) = span.filter(|&(_, m, end)| m >= 8 && end <= n) else {
            return Err(format!(
                "an Arrow block (offset {offset}, metadata {meta}, body {body}) lies outside the file"
            ));
        };
        message(&bytes[start..start + meta], body as u64)?;
    }
    Ok(())
}

/// An IPC stream: messages (continuation marker, metadata length, metadata, body) to the end
/// marker or the end of the bytes.
pub fn stream(bytes: &[u8]) -> Check {
    let mut at = 0usize;
    while at < bytes.len() {
        let rest = &bytes[at..];
        let (prefix, len) = match rest {
            [0xff, 0xff, 0xff, 0xff, a, b, c, d, ..] => (8, i32::from_le_bytes([*a, *b, *c, *d])),
            [a, b, c, d, ..] if [*a, *b, *c, *d] != CONTINUATION => {
                (4, i32::from_le_bytes([*a, *b, *c, *d]))
            }
            _ => return Err(format!("the Arrow stream is cut at byte {at}")),
        };
        if len == 0 {
            return Ok(());
        }
        let meta = usize::try_from(len)
            .ok()
            .filter(|&l| l <= rest.len() - prefix)
            .ok_or_else(|| format!("an Arrow message at byte {at} runs past the end"))?;
        let body = message(&rest[..prefix + meta], (rest.len() - prefix - meta) as u64)?;
        at += prefix + meta + body;
    }
    Ok(())
}

/// One message's metadata: its body must fit in `room` bytes, and every buffer of a batch in
/// its body. Returns the body's length.
fn message(meta: &[u8], room: u64) -> std::result::Result<usize, String> {
    let meta = match meta {
        [0xff, 0xff, 0xff, 0xff, _, _, _, _, rest @ ..] => rest,
        [_, _, _, _, rest @ ..] => rest,
        _ => return Err("an Arrow message is shorter than its prefix".into()),
    };
    let message = arrow_ipc::root_as_message(meta)
        .map_err(|e| format!("an Arrow message is malformed: {e}"))?;
    let body = u64::try_from(message.bodyLength())
        .ok()
        .filter(|&b| b <= room)
        .ok_or("an Arrow message's body runs past the end")?;
    let batch = message
        .header_as_record_batch()
        .or_else(|| message.header_as_dictionary_batch().and_then(|d| d.data()));
    if let Some(batch) = batch {
        if batch.length() < 0 {
            return Err("an Arrow batch declares a negative length".into());
        }
        // A column's values take at least a bit each (booleans, validity bits), so a length past
        // eight per body byte is a lie, and would be allocated before it is checked.
        let most = body.saturating_mul(8).saturating_add(1 << 16);
        let lengths = std::iter::once(batch.length()).chain(
            batch
                .nodes()
                .into_iter()
                .flatten()
                .flat_map(|n| [n.length(), n.null_count()]),
        );
        for length in lengths {
            if u64::try_from(length).map_or(true, |l| l > most) {
                return Err(format!(
                    "an Arrow batch declares {length} rows in a body of {body} bytes"
                ));
            }
        }
        for buffer in batch.buffers().into_iter().flatten() {
            let inside = u64::try_from(buffer.offset())
                .ok()
                .zip(u64::try_from(buffer.length()).ok())
                .and_then(|(o, l)| o.checked_add(l))
                .is_some_and(|end| end <= body);
            if !inside {
                return Err(format!(
                    "an Arrow buffer (offset {}, length {}) lies outside its message body of {body} bytes",
                    buffer.offset(),
                    buffer.length()
                ));
            }
        }
    }
    Ok(body as usize)
}
