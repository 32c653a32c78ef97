//! Compression to a real file: each sample becomes its latent code, quantised to 8 bits per
//! dimension (linear between that dimension's minimum and maximum over the file), then deflated
//! (Huffman + LZ77, the entropy coding gzip uses). The model is the codec: the file names the
//! model it needs by fingerprint, and a checksum catches damage on disk.
//!
//! Layout, little-endian:
//! ```text
//! magic "HGZ1" · version u16 · fingerprint [16] · samples u32 · latent u16 · channels, height,
//! width u32×3 · scheme u8 (1 = 8-bit linear per dimension) · per dimension: min f32, max f32 ·
//! deflated codes: length u32, bytes · crc32 of everything before it u32
//! ```

use std::io::Write;
use std::path::Path;

use burn::tensor::Device;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::artifact::TrainedModel;
use crate::data::SampleShape;
use crate::error::{Error, Result};
use crate::tasks::codec;

const MAGIC: &[u8; 4] = b"HGZ1";
const VERSION: u16 = 1;
const SCHEME_LINEAR_U8: u8 = 1;

/// A model's identity for compressed files: SHA-256 of its config and weights, first 16 bytes.
pub fn fingerprint(model: &TrainedModel) -> [u8; 16] {
    let mut hash = Sha256::new();
    hash.update(serde_json::to_vec(&model.config).expect("config serialises"));
    hash.update(serde_json::to_vec(&model.scaling).expect("scaling serialises"));
    for (name, _, bytes) in model.weights() {
        hash.update(name.as_bytes());
        hash.update(&bytes);
    }
    hash.finalize()[..16].try_into().expect("16 bytes")
}

/// Latent codes quantised to bytes, with the range each dimension was mapped from.
struct Quantised {
    codes: Vec<u8>,
    ranges: Vec<(f32, f32)>,
}

fn quantise(latents: &[f32], width: usize) -> Quantised {
    let mut ranges = vec![(f32::INFINITY, f32::NEG_INFINITY); width];
    for row in latents.chunks_exact(width) {
        for (r, &v) in ranges.iter_mut().zip(row) {
            *r = (r.0.min(v), r.1.max(v));
        }
    }
    let codes = latents
        .chunks_exact(width)
        .flat_map(|row| {
            row.iter().zip(&ranges).map(|(&v, &(lo, hi))| {
                let span = hi - lo;
                if span > 0.0 {
                    ((v - lo) / span * 255.0).round().clamp(0.0, 255.0) as u8
                } else {
                    0
                }
            })
        })
        .collect();
    Quantised { codes, ranges }
}

fn dequantise(codes: &[u8], ranges: &[(f32, f32)]) -> Vec<f32> {
    codes
        .chunks_exact(ranges.len())
        .flat_map(|row| {
            row.iter()
                .zip(ranges)
                .map(|(&c, &(lo, hi))| lo + (hi - lo) * c as f32 / 255.0)
        })
        .collect()
}

/// Compresses scaled rows with a model; returns the file's bytes.
pub fn compress(model: &TrainedModel, values: &[f32], device: &Device) -> Result<Vec<u8>> {
    // A conditional model's codes decode only with each sample's class, which the file lacks.
    model.require_unconditional("compression")?;
    let width = model.config.latent;
    let latents = codec::encode_scaled(model, values, None, device);
    let q = quantise(&latents, width);
    let n = latents.len() / width;

    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&fingerprint(model));
    out.extend_from_slice(&(n as u32).to_le_bytes());
    out.extend_from_slice(&(width as u16).to_le_bytes());
    let s = model.input;
    for d in [s.channels, s.height, s.width] {
        out.extend_from_slice(&(d as u32).to_le_bytes());
    }
    out.push(SCHEME_LINEAR_U8);
    for (lo, hi) in &q.ranges {
        out.extend_from_slice(&lo.to_le_bytes());
        out.extend_from_slice(&hi.to_le_bytes());
    }
    let mut deflater = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    deflater.write_all(&q.codes).expect("writing to memory");
    let packed = deflater.finish().expect("writing to memory");
    out.extend_from_slice(&(packed.len() as u32).to_le_bytes());
    out.extend_from_slice(&packed);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(out)
}

/// Reads fields in order, failing with the file's name when it runs short.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    path: &'a Path,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| Error::format(self.path, "truncated compressed file"))?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }
    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().unwrap()))
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn f32(&mut self) -> Result<f32> {
        Ok(f32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
}

/// The latent codes of a compressed file made by `model` (after checking it is one).
pub fn read_latents(model: &TrainedModel, bytes: &[u8], path: &Path) -> Result<Vec<f32>> {
    if bytes.len() < 8 || &bytes[..4] != MAGIC {
        return Err(Error::format(
            path,
            "not an hourglass compressed file (.hgz)",
        ));
    }
    let (body, tail) = bytes.split_at(bytes.len() - 4);
    if crc32fast::hash(body) != u32::from_le_bytes(tail.try_into().unwrap()) {
        return Err(Error::format(
            path,
            "checksum mismatch: the file is damaged or truncated",
        ));
    }
    let mut r = Reader {
        bytes: body,
        at: 4,
        path,
    };
    let version = r.u16()?;
    if version != VERSION {
        return Err(Error::format(
            path,
            format!("format version {version} is not supported"),
        ));
    }
    if r.take(16)? != fingerprint(model) {
        return Err(Error::format(
            path,
            "made by a different model (fingerprints differ); decompress it with the model that compressed it",
        ));
    }
    let n = r.u32()? as usize;
    let width = r.u16()? as usize;
    let shape = SampleShape::image(r.u32()? as usize, r.u32()? as usize, r.u32()? as usize);
    if width != model.config.latent || shape != model.input {
        return Err(Error::format(path, "header does not match the model"));
    }
    let scheme = r.take(1)?[0];
    if scheme != SCHEME_LINEAR_U8 {
        return Err(Error::format(
            path,
            format!("unknown quantisation scheme {scheme}"),
        ));
    }
    let ranges = (0..width)
        .map(|_| Ok((r.f32()?, r.f32()?)))
        .collect::<Result<Vec<_>>>()?;
    let packed_len = r.u32()? as usize;
    let packed = r.take(packed_len)?;
    // The header's count is checked against what the code stream could hold before anything
    // is allocated for it: deflate inflates at most ~1032×.
    let expected = n
        .checked_mul(width)
        .filter(|&len| len <= packed_len.saturating_mul(1032))
        .ok_or_else(|| {
            Error::format(
                path,
                format!("header declares {n} samples, more than its {packed_len}-byte code stream can hold"),
            )
        })?;
    let codes = crate::fsutil::inflate_capped(
        flate2::read::DeflateDecoder::new(packed),
        expected,
        path,
        "code stream",
    )?;
    if codes.len() != expected {
        return Err(Error::format(path, "code stream has the wrong length"));
    }
    Ok(dequantise(&codes, &ranges))
}

/// Restores scaled rows from a compressed file.
pub fn decompress(
    model: &TrainedModel,
    bytes: &[u8],
    path: &Path,
    device: &Device,
) -> Result<Vec<f32>> {
    model.require_unconditional("compression")?;
    let latents = read_latents(model, bytes, path)?;
    Ok(codec::decode_scaled(model, &latents, None, device))
}

/// Sizes and distortion of a compressed data set.
#[derive(Debug, Clone, Serialize)]
pub struct CompressionReport {
    pub samples: usize,
    pub compressed_bytes: usize,
    pub bytes_per_sample: f64,
    /// Raw size at one byte per value (8-bit pixels).
    pub raw_bytes: usize,
    pub ratio_vs_raw: f64,
    /// The same pixels, gzipped (best compression) as one stream.
    pub gzip_bytes: usize,
    pub ratio_vs_gzip: f64,
    /// Each image as its own PNG (8-bit grey), summed; `None` for tables.
    pub png_bytes: Option<usize>,
    pub ratio_vs_png: Option<f64>,
    /// Of the restored samples against the originals, pixels in [0, 1].
    pub mse: f64,
    pub psnr_db: f64,
}

/// Measures a compression: `values` are the scaled originals, `restored` what decompression gave.
pub fn report(
    model: &TrainedModel,
    values: &[f32],
    restored: &[f32],
    compressed: usize,
) -> CompressionReport {
    let n = values.len() / model.input.features();
    let bytes: Vec<u8> = values
        .iter()
        .map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
        .collect();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&bytes).expect("writing to memory");
    let gzip_bytes = gz.finish().expect("writing to memory").len();
    let s = model.input;
    let png_bytes = (s.channels == 1 && s.height > 1).then(|| {
        bytes
            .chunks_exact(s.features())
            .map(|img| {
                let mut out = std::io::Cursor::new(Vec::new());
                image::GrayImage::from_raw(s.width as u32, s.height as u32, img.to_vec())
                    .expect("sizes match")
                    .write_to(&mut out, image::ImageFormat::Png)
                    .expect("PNG encodes to memory");
                out.into_inner().len()
            })
            .sum::<usize>()
    });
    let mse = crate::tasks::pca::mse(values, restored);
    CompressionReport {
        samples: n,
        compressed_bytes: compressed,
        bytes_per_sample: compressed as f64 / n.max(1) as f64,
        raw_bytes: bytes.len(),
        ratio_vs_raw: bytes.len() as f64 / compressed as f64,
        gzip_bytes,
        ratio_vs_gzip: gzip_bytes as f64 / compressed as f64,
        png_bytes,
        ratio_vs_png: png_bytes.map(|p| p as f64 / compressed as f64),
        mse,
        psnr_db: crate::tasks::denoise::psnr(mse),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantisation_round_trips_within_half_a_step() {
        let latents = vec![-1.0, 10.0, 0.0, 20.0, 1.0, 15.0];
        let q = quantise(&latents, 2);
        let back = dequantise(&q.codes, &q.ranges);
        for (a, b) in latents.iter().zip(&back) {
            assert!((a - b).abs() <= 10.0 / 255.0, "{a} vs {b}");
        }
    }
}
