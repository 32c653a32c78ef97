//! 2-D convolution and transposed convolution on the CPU, forward and backward, as im2col + GEMM
//! over plain `f32` slices in NCHW order.
//!
//! Why not Burn's: flex 0.22 runs a 2-D convolution as a 3-D one and copies layouts on the way in
//! and out of its GEMM; on the conv benchmark model about half the training step was that
//! bookkeeping (profile in BENCHMARKS.md). Here the batch is cut into chunks, one per task on the
//! rayon pool; a chunk's image patches are unrolled once into a thread-local buffer laid out for
//! one large GEMM (`gemm` crate, the one flex uses), and the result is written straight into the
//! output with the bias added on the way. The backward pass reuses the same pieces.

use std::cell::RefCell;
use std::mem::MaybeUninit;
use std::rc::Rc;

use rayon::prelude::*;

use crate::device::kernel_threads;

/// Where the kernel windows of a convolution fall on its image. For a convolution the image is
/// the input; for a transposed convolution it is the output (the same windows, read backwards).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Windows {
    pub channels: usize,
    /// Height and width of the image.
    pub image: [usize; 2],
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    /// Padding before the first row / column (any padding after only shows in `out`).
    pub padding: [usize; 2],
    pub dilation: [usize; 2],
    /// Number of window positions down and across.
    pub out: [usize; 2],
}

impl Windows {
    /// Values in one window: a row of the unrolled (im2col) matrix per value.
    pub fn rows(&self) -> usize {
        self.channels * self.kernel[0] * self.kernel[1]
    }

    /// Window positions: a column of the unrolled matrix per position.
    pub fn positions(&self) -> usize {
        self.out[0] * self.out[1]
    }

    pub fn image_len(&self) -> usize {
        self.channels * self.image[0] * self.image[1]
    }
}

/// y = conv(x, weight) + bias, then max(y, 0) if `relu`. `x` is `[n, channels, h, w]`, `weight`
/// `[o, rows]`, the result `[n, o, positions]`.
pub fn conv2d(x: &[f32], weight: &[f32], bias: &[f32], win: &Windows, relu: bool) -> Vec<f32> {
    let (r, p, il) = (win.rows(), win.positions(), win.image_len());
    let o = bias.len();
    let n = x.len() / il;
    let chunk = chunk_samples(n, r * p);
    // Not zeroed first: every value is written below (`from_channel_major`).
    let mut out = Vec::with_capacity(n * o * p);
    let fresh = &mut out.spare_capacity_mut()[..n * o * p];
    for_each_chunk(fresh, chunk * o * p, x, chunk * il, |out, x| {
        let b = x.len() / il;
        with_scratch(r * b * p, o * b * p, |col, product| {
            unroll(x, win, col);
            // product [o, b·p] = weight [o, r] · col [r, b·p]
            gemm(
                (o, b * p, r),
                (product, [b * p, 1], false),
                (weight, [r, 1]),
                (col, [b * p, 1]),
            );
            from_channel_major(product, o, p, Some((bias, relu)), out);
        });
    });
    // SAFETY: each chunk's `from_channel_major` wrote all of its values.
    unsafe { out.set_len(n * o * p) };
    out
}

/// Gradients of `conv2d` given the gradient of its output: (input unless `need_x` is false,
/// weight, bias).
pub fn conv2d_backward(
    x: &[f32],
    weight: &[f32],
    grad: &[f32],
    win: &Windows,
    need_x: bool,
) -> (Option<Vec<f32>>, Vec<f32>, Vec<f32>) {
    let (r, p, il) = (win.rows(), win.positions(), win.image_len());
    let n = x.len() / il;
    let o = grad.len() / (n * p);
    let chunk = chunk_samples(n, r * p);
    // One chunk's share of the weight and bias gradients, and its input gradient if wanted.
    let work = |x: &[f32], grad: &[f32], gx: Option<&mut [f32]>, acc: &mut (Vec<f32>, Vec<f32>)| {
        let b = x.len() / il;
        with_scratch(o * b * p, r * b * p, |grad_cm, col| {
            to_channel_major(grad, o, p, grad_cm);
            for (sum, row) in acc.1.iter_mut().zip(grad_cm.chunks_exact(b * p)) {
                *sum += row.iter().sum::<f32>();
            }
            unroll(x, win, col);
            // weight grad [o, r] += grad [o, b·p] · colᵀ [b·p, r]
            gemm(
                (o, r, b * p),
                (&mut acc.0, [r, 1], true),
                (grad_cm, [b * p, 1]),
                (col, [1, b * p]),
            );
            if let Some(gx) = gx {
                // col grad [r, b·p] = weightᵀ [r, o] · grad [o, b·p], folded back onto the images
                gemm(
                    (r, b * p, o),
                    (col, [b * p, 1], false),
                    (weight, [1, r]),
                    (grad_cm, [b * p, 1]),
                );
                fold(col, win, gx); // gx is a fresh zeroed buffer (`each_chunk`)
            }
        });
    };
    let (x_chunk, grad_chunk) = (chunk * il, chunk * o * p);
    each_chunk(x, x_chunk, grad, grad_chunk, need_x, (o * r, o), work)
}

/// y = conv_transpose(x, weight) + bias, then max(y, 0) if `relu`. `x` is `[n, c_in, positions]`,
/// `weight` `[c_in, rows]` (Burn's `[c_in, c_out, kh, kw]`), the result `[n, c_out, image]` with
/// `win.channels = c_out`.
pub fn conv_transpose2d(
    x: &[f32],
    weight: &[f32],
    bias: &[f32],
    win: &Windows,
    relu: bool,
) -> Vec<f32> {
    let (r, p, il) = (win.rows(), win.positions(), win.image_len());
    let c_in = weight.len() / r;
    let n = x.len() / (c_in * p);
    let chunk = chunk_samples(n, r * p);
    // Not zeroed first: every image is filled with its bias below before anything reads it.
    let mut out = Vec::with_capacity(n * il);
    let fresh = &mut out.spare_capacity_mut()[..n * il];
    for_each_chunk(fresh, chunk * il, x, chunk * c_in * p, |out, x| {
        let b = x.len() / (c_in * p);
        with_scratch(c_in * b * p, r * b * p, |x_cm, col| {
            to_channel_major(x, c_in, p, x_cm);
            // col [r, b·p] = weightᵀ [r, c_in] · x [c_in, b·p]
            gemm(
                (r, b * p, c_in),
                (col, [b * p, 1], false),
                (weight, [1, r]),
                (x_cm, [b * p, 1]),
            );
            let plane = win.image[0] * win.image[1];
            let taps = taps(win);
            for (image, sample) in out.chunks_exact_mut(il).zip(0..b) {
                for (values, &bias) in image.chunks_exact_mut(plane).zip(bias) {
                    values.fill(MaybeUninit::new(bias));
                }
                // SAFETY: every plane of the image was just filled (one bias per channel).
                let image = unsafe { assume_written(image) };
                fold_one(&col[sample * p..], b * p, win, &taps, image);
                if relu {
                    clamp_negative(image);
                }
            }
        });
    });
    // SAFETY: each chunk wrote all of its images.
    unsafe { out.set_len(n * il) };
    out
}

/// Gradients of `conv_transpose2d`: (input unless `need_x` is false, weight, bias).
pub fn conv_transpose2d_backward(
    x: &[f32],
    weight: &[f32],
    grad: &[f32],
    win: &Windows,
    need_x: bool,
) -> (Option<Vec<f32>>, Vec<f32>, Vec<f32>) {
    let (r, p, il) = (win.rows(), win.positions(), win.image_len());
    let c_in = weight.len() / r;
    let n = x.len() / (c_in * p);
    let plane = win.image[0] * win.image[1];
    let chunk = chunk_samples(n, r * p);
    let work = |x: &[f32], grad: &[f32], gx: Option<&mut [f32]>, acc: &mut (Vec<f32>, Vec<f32>)| {
        let b = x.len() / (c_in * p);
        for (i, values) in grad.chunks_exact(plane).enumerate() {
            acc.1[i % win.channels] += values.iter().sum::<f32>();
        }
        with_scratch(c_in * b * p, r * b * p, |x_cm, col| {
            unroll(grad, win, col);
            to_channel_major(x, c_in, p, x_cm);
            // weight grad [c_in, r] += x [c_in, b·p] · colᵀ [b·p, r]
            gemm(
                (c_in, r, b * p),
                (&mut acc.0, [r, 1], true),
                (x_cm, [b * p, 1]),
                (col, [1, b * p]),
            );
            if let Some(gx) = gx {
                // input grad [c_in, b·p] = weight [c_in, r] · col [r, b·p]
                gemm(
                    (c_in, b * p, r),
                    (x_cm, [b * p, 1], false),
                    (weight, [r, 1]),
                    (col, [b * p, 1]),
                );
                // SAFETY: from_channel_major only writes floats.
                from_channel_major(x_cm, c_in, p, None, unsafe { as_fresh(gx) });
            }
        });
    };
    let (x_chunk, grad_chunk) = (chunk * c_in * p, chunk * il);
    each_chunk(
        x,
        x_chunk,
        grad,
        grad_chunk,
        need_x,
        (c_in * r, win.channels),
        work,
    )
}

/// Runs `f` on each (output chunk, input chunk) pair, shared over rayon's threads. A single
/// chunk (batch-1 inference) runs on the calling thread: handing it to the pool and waiting
/// costs more than the work; so do all chunks when the caller already runs one part of the batch
/// per thread ([`crate::device::on_one_thread`]).
fn for_each_chunk<T: Send>(
    out: &mut [T],
    out_chunk: usize,
    x: &[f32],
    x_chunk: usize,
    f: impl Fn(&mut [T], &[f32]) + Sync,
) {
    if out.len() <= out_chunk {
        f(out, x);
    } else if kernel_threads() == 1 {
        for (out, x) in out.chunks_mut(out_chunk).zip(x.chunks(x_chunk)) {
            f(out, x);
        }
    } else {
        out.par_chunks_mut(out_chunk)
            .zip(x.par_chunks(x_chunk))
            .for_each(|(out, x)| f(out, x));
    }
}

/// Runs a backward `work` on every chunk of the batch in parallel, each writing its share of
/// the input gradient (if wanted) and returning its share of the weight and bias gradients,
/// which are then summed in chunk order: the same numbers on every run, whatever the threads did.
fn each_chunk(
    x: &[f32],
    x_chunk: usize,
    grad: &[f32],
    grad_chunk: usize,
    need_x: bool,
    (weight_len, bias_len): (usize, usize),
    work: impl Fn(&[f32], &[f32], Option<&mut [f32]>, &mut (Vec<f32>, Vec<f32>)) + Sync,
) -> (Option<Vec<f32>>, Vec<f32>, Vec<f32>) {
    let zeros = || (vec![0.0; weight_len], vec![0.0; bias_len]);
    let chunks = x.par_chunks(x_chunk).zip(grad.par_chunks(grad_chunk));
    let (gx, parts): (_, Vec<_>) = if need_x {
        let mut gx = vec![0.0; x.len()];
        let parts = chunks
            .zip(gx.par_chunks_mut(x_chunk))
            .map(|((x, g), gx)| {
                let mut part = zeros();
                work(x, g, Some(gx), &mut part);
                part
            })
            .collect();
        (Some(gx), parts)
    } else {
        let parts = chunks
            .map(|(x, g)| {
                let mut part = zeros();
                work(x, g, None, &mut part);
                part
            })
            .collect();
        (None, parts)
    };
    let (mut gw, mut gb) = zeros();
    for (w, b) in parts {
        add_into(&mut gw, &w);
        add_into(&mut gb, &b);
    }
    (gx, gw, gb)
}

/// Samples per chunk: enough for one large GEMM, few enough that the unrolled patches stay in
/// cache (about 512 KiB) and that a batch makes at least 16 chunks for the threads to share.
/// It depends on the batch alone, not on the thread count, so that the gradient sums (and hence
/// a seeded training run) come out the same on any machine.
fn chunk_samples(n: usize, unrolled_per_sample: usize) -> usize {
    const TARGET: usize = 1 << 17;
    (TARGET / unrolled_per_sample.max(1)).clamp(1, n.div_ceil(16).max(1))
}

thread_local! {
    /// Two reusable buffers per thread: the unrolled patches and a channel-major copy.
    static SCRATCH: RefCell<(Vec<f32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// Runs `f` with two scratch slices of the given lengths (contents unspecified).
fn with_scratch<R>(a: usize, b: usize, f: impl FnOnce(&mut [f32], &mut [f32]) -> R) -> R {
    SCRATCH.with_borrow_mut(|(first, second)| {
        for (buffer, len) in [(&mut *first, a), (&mut *second, b)] {
            if buffer.len() < len {
                buffer.resize(len, 0.0);
            }
        }
        f(&mut first[..a], &mut second[..b])
    })
}

/// im2col for a chunk of images: `col` is `[rows, b·positions]`, sample `s` in columns
/// `s·positions ..`.
fn unroll(images: &[f32], win: &Windows, col: &mut [f32]) {
    let (p, il) = (win.positions(), win.image_len());
    let ld = col.len() / win.rows();
    let taps = taps(win);
    for (s, image) in images.chunks_exact(il).enumerate() {
        for tap in &taps.list {
            let dst = &mut col[tap.row * ld + s * p..][..p];
            let plane = &image[tap.plane..][..win.image[0] * win.image[1]];
            if let Some(index) = taps.index(tap, p) {
                gather_by(dst, plane, index);
                continue;
            }
            let (ow, (lo, hi)) = (win.out[1], tap.cols);
            // Windows over the padding read zeros: clear the row once, not piece by piece.
            if tap.rows != (0, win.out[0]) || tap.cols != (0, ow) {
                dst.fill(0.0);
            }
            for oy in tap.rows.0..tap.rows.1 {
                let src = &plane[tap.image_row(win, oy) * win.image[1] + tap.first_col..];
                gather(&mut dst[oy * ow + lo..oy * ow + hi], src, win.stride[1]);
            }
        }
    }
}

/// col2im for a chunk: adds the columns of `col` (`[rows, b·positions]`) onto `images`
/// (`[b, image]`, zeroed by the caller) where `unroll` took them from.
fn fold(col: &[f32], win: &Windows, images: &mut [f32]) {
    let ld = col.len() / win.rows();
    let taps = taps(win);
    for (s, image) in images.chunks_exact_mut(win.image_len()).enumerate() {
        fold_one(&col[s * win.positions()..], ld, win, &taps, image);
    }
}

/// col2im for one image whose columns start at `col[0]`, rows `ld` apart; adds onto `image`.
fn fold_one(col: &[f32], ld: usize, win: &Windows, taps: &Taps, image: &mut [f32]) {
    let ow = win.out[1];
    for tap in &taps.list {
        let src = &col[tap.row * ld..][..win.positions()];
        let plane = &mut image[tap.plane..][..win.image[0] * win.image[1]];
        if let Some(index) = taps.index(tap, win.positions()) {
            scatter_add_by(src, plane, index);
            continue;
        }
        for oy in tap.rows.0..tap.rows.1 {
            let (lo, hi) = tap.cols;
            let dst = &mut plane[tap.image_row(win, oy) * win.image[1] + tap.first_col..];
            scatter_add(&src[oy * ow + lo..oy * ow + hi], dst, win.stride[1]);
        }
    }
}

/// Every tap of a window and, for strided windows, where each kernel position reads.
struct Taps {
    list: Vec<Tap>,
    /// For windows strided across with short rows (conv2d's layers on 28×28 images give rows of
    /// 14 and 7), per kernel position (`ki·kw + kj`), the plane offset each window position
    /// reads ([`PADDING`]: none): one loop over the plane instead of a loop set up per row, which
    /// was most of the copying's time (a quarter of conv2d's training step; BENCHMARKS.md, issue
    /// 12). Long rows (a conv1d series) copy faster row by row.
    positions: Option<Vec<u32>>,
}

/// Rows of at most this many window positions are unrolled through [`Taps::positions`].
const SHORT_ROW: usize = 16;

/// A window position whose value lies in the padding.
const PADDING: u32 = u32::MAX;

impl Taps {
    /// `tap`'s row of [`Taps::positions`], `p` positions long.
    fn index(&self, tap: &Tap, p: usize) -> Option<&[u32]> {
        self.positions.as_ref().map(|all| &all[tap.k * p..][..p])
    }
}

/// One kernel tap (channel, kernel row, kernel column): a row of the unrolled matrix.
struct Tap {
    row: usize,
    /// Kernel position, `ki·kw + kj`.
    k: usize,
    /// Offset of the tap's channel plane in the image.
    plane: usize,
    ki: usize,
    /// Output rows and columns whose window tap lands inside the image (not in the padding).
    rows: (usize, usize),
    cols: (usize, usize),
    /// Image column read by output column `cols.0`.
    first_col: usize,
}

impl Tap {
    /// Image row read by output row `oy` (one of `rows`).
    fn image_row(&self, win: &Windows, oy: usize) -> usize {
        image_row(win, self.ki, oy)
    }
}

/// Image row read by kernel row `ki` at output row `oy` (one whose window row is inside).
fn image_row(win: &Windows, ki: usize, oy: usize) -> usize {
    oy * win.stride[0] + ki * win.dilation[0] - win.padding[0]
}

/// Every tap of the window, in unrolled-row order: built once per thread and window shape (a
/// network has a few), as building the positions costs more than unrolling a few images.
fn taps(win: &Windows) -> Rc<Taps> {
    const KEPT: usize = 32;
    thread_local! {
        static BUILT: RefCell<Vec<(Windows, Rc<Taps>)>> = const { RefCell::new(Vec::new()) };
    }
    BUILT.with(|built| {
        if let Some((_, taps)) = built.borrow().iter().find(|(w, _)| w == win) {
            return taps.clone();
        }
        let taps = Rc::new(build_taps(win));
        let mut built = built.borrow_mut();
        if built.len() == KEPT {
            built.remove(0);
        }
        built.push((*win, taps.clone()));
        taps
    })
}

fn build_taps(win: &Windows) -> Taps {
    let [kh, kw] = win.kernel;
    let offset = |k: usize, i: usize| (k * win.dilation[i]) as isize - win.padding[i] as isize;
    // The ranges depend on the kernel row or column alone: a few divisions, not one per tap.
    let rows: Vec<_> = (0..kh)
        .map(|ki| inside(offset(ki, 0), win.stride[0], win.out[0], win.image[0]))
        .collect();
    let cols: Vec<_> = (0..kw)
        .map(|kj| {
            let cols = inside(offset(kj, 1), win.stride[1], win.out[1], win.image[1]);
            let first = cols.0 as isize * win.stride[1] as isize + offset(kj, 1);
            (cols, if cols.0 < cols.1 { first as usize } else { 0 })
        })
        .collect();
    let list = (0..win.channels * kh * kw)
        .map(|row| {
            let (c, ki, kj) = (row / (kh * kw), row / kw % kh, row % kw);
            Tap {
                row,
                k: ki * kw + kj,
                plane: c * win.image[0] * win.image[1],
                ki,
                rows: rows[ki],
                cols: cols[kj].0,
                first_col: cols[kj].1,
            }
        })
        .collect();
    // From the same in-image ranges as the taps' rows, so both paths read the same values.
    // u32 offsets: a plane (one channel of one image) never nears 4 G values, and the AVX-512
    // gathers take 16 of them at once.
    let short = win.stride[1] > 1 && win.out[1] <= SHORT_ROW;
    let positions = (short && win.image[0] * win.image[1] < PADDING as usize).then(|| {
        let p = win.positions();
        let mut all = vec![PADDING; kh * kw * p];
        for (k, table) in all.chunks_exact_mut(p).enumerate() {
            let (ki, ((lo, hi), first)) = (k / kw, cols[k % kw]);
            for oy in rows[ki].0..rows[ki].1 {
                let start = image_row(win, ki, oy) * win.image[1] + first;
                for ox in lo..hi {
                    table[oy * win.out[1] + ox] = (start + (ox - lo) * win.stride[1]) as u32;
                }
            }
        }
        all
    });
    Taps { list, positions }
}

/// dst[i] = plane[index[i]], 0 where the index is [`PADDING`]. The scalar loop is compiled as is
/// (an indexed load per value; LLVM does not turn it into vector gathers); with AVX-512 the CPU
/// gathers 16 values per instruction.
fn gather_by(dst: &mut [f32], plane: &[f32], index: &[u32]) {
    #[cfg(all(target_arch = "x86_64", feature = "x86-v4"))]
    if simd::usable(plane.len()) {
        // SAFETY: `usable` checked the CPU and the plane's length.
        return unsafe { simd::gather_by(dst, plane, index) };
    }
    gather_by_scalar(dst, plane, index);
}

fn gather_by_scalar(dst: &mut [f32], plane: &[f32], index: &[u32]) {
    for (d, &i) in dst.iter_mut().zip(index) {
        *d = plane.get(i as usize).copied().unwrap_or(0.0);
    }
}

/// plane[index[i]] += src[i], skipping [`PADDING`] (and any index past the plane). Within one
/// call the indices are distinct (one kernel position's windows read distinct pixels), which is
/// what lets the AVX-512 path scatter 16 sums at once.
fn scatter_add_by(src: &[f32], plane: &mut [f32], index: &[u32]) {
    #[cfg(all(target_arch = "x86_64", feature = "x86-v4"))]
    if simd::usable(plane.len()) {
        // SAFETY: `usable` checked the CPU and the plane's length; the indices are distinct
        // (the caller's table).
        return unsafe { simd::scatter_add_by(src, plane, index) };
    }
    scatter_add_by_scalar(src, plane, index);
}

fn scatter_add_by_scalar(src: &[f32], plane: &mut [f32], index: &[u32]) {
    for (&v, &i) in src.iter().zip(index) {
        if let Some(x) = plane.get_mut(i as usize) {
            *x += v;
        }
    }
}

/// The AVX-512 gathers and scatters of the positions table.
#[cfg(all(target_arch = "x86_64", feature = "x86-v4"))]
mod simd {
    use std::arch::x86_64::*;

    /// Whether the CPU has AVX-512F and a plane of `len` values can be addressed by the
    /// gathers' offsets, which they read as signed 32-bit numbers.
    pub fn usable(len: usize) -> bool {
        std::arch::is_x86_feature_detected!("avx512f") && len <= i32::MAX as usize
    }

    /// Lanes whose index lies inside a plane of `len` values.
    #[target_feature(enable = "avx512f")]
    fn inside(idx: __m512i, len: usize) -> __mmask16 {
        _mm512_cmplt_epu32_mask(idx, _mm512_set1_epi32(len as i32))
    }

    /// # Safety
    /// [`usable`]`(plane.len())`.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn gather_by(dst: &mut [f32], plane: &[f32], index: &[u32]) {
        let n = dst.len().min(index.len());
        let mut i = 0;
        while i + 16 <= n {
            // SAFETY: i + 16 <= n bounds both loads/stores; masked-off lanes are not read, and
            // every read lane's index is below plane.len().
            unsafe {
                let idx = _mm512_loadu_si512(index.as_ptr().add(i).cast());
                let v = _mm512_mask_i32gather_ps::<4>(
                    _mm512_setzero_ps(),
                    inside(idx, plane.len()),
                    idx,
                    plane.as_ptr(),
                );
                _mm512_storeu_ps(dst.as_mut_ptr().add(i), v);
            }
            i += 16;
        }
        super::gather_by_scalar(&mut dst[i..n], plane, &index[i..n]);
    }

    /// # Safety
    /// As [`gather_by`], and the indices inside the plane are distinct.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn scatter_add_by(src: &[f32], plane: &mut [f32], index: &[u32]) {
        let n = src.len().min(index.len());
        let mut i = 0;
        while i + 16 <= n {
            // SAFETY: as in `gather_by`; with distinct indices no two lanes write one value.
            unsafe {
                let idx = _mm512_loadu_si512(index.as_ptr().add(i).cast());
                let keep = inside(idx, plane.len());
                let old =
                    _mm512_mask_i32gather_ps::<4>(_mm512_setzero_ps(), keep, idx, plane.as_ptr());
                let sum = _mm512_add_ps(old, _mm512_loadu_ps(src.as_ptr().add(i)));
                _mm512_mask_i32scatter_ps::<4>(plane.as_mut_ptr(), keep, idx, sum);
            }
            i += 16;
        }
        super::scatter_add_by_scalar(&src[i..n], plane, &index[i..n]);
    }
}

/// dst[i] = src[i·stride], with the common strides spelled out so they compile to tight loops.
#[inline(always)]
fn gather(dst: &mut [f32], src: &[f32], stride: usize) {
    let n = dst.len();
    if n == 0 {
        return;
    }
    let src = &src[..(n - 1) * stride + 1];
    match stride {
        1 => dst.copy_from_slice(src),
        2 => {
            // Pairs, so that no index needs a bounds check; the last element has no partner.
            let (last, body) = dst.split_last_mut().expect("n > 0");
            for (d, pair) in body.iter_mut().zip(src.chunks_exact(2)) {
                *d = pair[0];
            }
            *last = src[2 * (n - 1)];
        }
        _ => {
            for (i, d) in dst.iter_mut().enumerate() {
                *d = src[i * stride];
            }
        }
    }
}

/// dst[i·stride] += src[i].
#[inline(always)]
fn scatter_add(src: &[f32], dst: &mut [f32], stride: usize) {
    let n = src.len();
    if n == 0 {
        return;
    }
    let dst = &mut dst[..(n - 1) * stride + 1];
    match stride {
        1 => {
            for (d, &v) in dst.iter_mut().zip(src) {
                *d += v;
            }
        }
        2 => {
            let (last, body) = src.split_last().expect("n > 0");
            for (pair, &v) in dst.chunks_exact_mut(2).zip(body) {
                pair[0] += v;
            }
            dst[2 * (n - 1)] += last;
        }
        _ => {
            for (i, &v) in src.iter().enumerate() {
                dst[i * stride] += v;
            }
        }
    }
}

/// The output columns `lo..hi` whose input column `o·stride + offset` lies in `0..width`.
fn inside(offset: isize, stride: usize, out: usize, width: usize) -> (usize, usize) {
    let s = stride as isize;
    let first = if offset >= 0 {
        0
    } else {
        (-offset + s - 1) / s
    };
    let end = (width as isize - offset + s - 1).div_euclid(s).max(0);
    let lo = (first as usize).min(out);
    let hi = (end as usize).clamp(lo, out);
    (lo, hi)
}

/// `[b, c, p]` to `[c, b·p]`.
fn to_channel_major(src: &[f32], c: usize, p: usize, dst: &mut [f32]) {
    let b = src.len() / (c * p);
    for (s, sample) in src.chunks_exact(c * p).enumerate() {
        for (ch, values) in sample.chunks_exact(p).enumerate() {
            dst[ch * b * p + s * p..][..p].copy_from_slice(values);
        }
    }
}

/// `[c, b·p]` to `[b, c, p]`, plus a per-channel bias (then a ReLU if asked) if given.
fn from_channel_major(
    src: &[f32],
    c: usize,
    p: usize,
    bias: Option<(&[f32], bool)>,
    dst: &mut [MaybeUninit<f32>],
) {
    let b = dst.len() / (c * p);
    for (s, sample) in dst.chunks_exact_mut(c * p).enumerate() {
        for (ch, values) in sample.chunks_exact_mut(p).enumerate() {
            let from = &src[ch * b * p + s * p..][..p];
            let pairs = values.iter_mut().zip(from);
            match bias {
                // The ReLU as `clamp_negative` computes it (NaN stays NaN).
                Some((bias, true)) => pairs.for_each(|(d, &v)| {
                    let y = v + bias[ch];
                    d.write(if y < 0.0 { 0.0 } else { y });
                }),
                Some((bias, false)) => pairs.for_each(|(d, &v)| {
                    d.write(v + bias[ch]);
                }),
                None => pairs.for_each(|(d, &v)| {
                    d.write(v);
                }),
            }
        }
    }
}

/// A slice of values to be written over, seen as not yet written: what `from_channel_major`
/// writes to.
///
/// # Safety
/// Only valid floats may be written through the result (no `MaybeUninit::uninit()`).
unsafe fn as_fresh(values: &mut [f32]) -> &mut [MaybeUninit<f32>] {
    // SAFETY: MaybeUninit<f32> has f32's layout; the caller writes only valid floats.
    unsafe { &mut *(values as *mut [f32] as *mut [MaybeUninit<f32>]) }
}

/// ReLU in place (NaN stays NaN, as in Burn and PyTorch). Written as a select with an
/// unconditional store: a branch on the sign mispredicts half the time and does not vectorise.
fn clamp_negative(values: &mut [f32]) {
    for v in values {
        *v = if *v < 0.0 { 0.0 } else { *v };
    }
}

/// The gradient through a ReLU whose output was `output`: zero where the output was not positive.
pub fn relu_backward(grad: &mut [f32], output: &[f32]) {
    for (g, &y) in grad.iter_mut().zip(output) {
        *g = if y > 0.0 { *g } else { 0.0 };
    }
}

pub(crate) fn add_into(acc: &mut [f32], values: &[f32]) {
    for (a, &v) in acc.iter_mut().zip(values) {
        *a += v;
    }
}

/// The floats [`gemm`] multiplies: f32 for the kernels, f64 where a fit needs the precision.
pub(crate) trait GemmFloat: Copy + 'static {
    const ONE: Self;
}

impl GemmFloat for f32 {
    const ONE: Self = 1.0;
}

impl GemmFloat for f64 {
    const ONE: Self = 1.0;
}

/// dst = lhs · rhs (+ dst when accumulating), single-threaded: the callers already run one
/// chunk per thread. Sizes are (m, n, k); each matrix comes with its [row, column] strides.
pub(crate) fn gemm<T: GemmFloat>(
    dims: (usize, usize, usize),
    (dst, dst_s, accumulate): (&mut [T], [usize; 2], bool),
    lhs: (&[T], [usize; 2]),
    rhs: (&[T], [usize; 2]),
) {
    // SAFETY: `dst` is an exclusive borrow of initialised values.
    unsafe {
        gemm_raw(
            dims,
            (dst.as_mut_ptr(), dst.len(), dst_s, accumulate),
            lhs,
            rhs,
        )
    }
}

/// dst = lhs · rhs into values not written yet: gemm writes every one of the m × n results
/// without reading any (and zeros when k = 0), so a fresh buffer need not be zeroed first.
pub(crate) fn gemm_uninit(
    dims: (usize, usize, usize),
    (dst, dst_s): (&mut [MaybeUninit<f32>], [usize; 2]),
    lhs: (&[f32], [usize; 2]),
    rhs: (&[f32], [usize; 2]),
) {
    // SAFETY: `dst` is an exclusive borrow, and with `accumulate` false gemm never reads it.
    unsafe {
        gemm_raw(
            dims,
            (dst.as_mut_ptr().cast(), dst.len(), dst_s, false),
            lhs,
            rhs,
        )
    }
}

/// A vector of `len` values written by `fill`, with no zeroing first.
///
/// # Safety
/// `fill` must write every one of the `len` values (e.g. one [`gemm_uninit`] whose result
/// covers them all).
pub(crate) unsafe fn written(len: usize, fill: impl FnOnce(&mut [MaybeUninit<f32>])) -> Vec<f32> {
    let mut values = Vec::with_capacity(len);
    fill(&mut values.spare_capacity_mut()[..len]);
    // SAFETY: the caller's promise: all `len` values are written.
    unsafe { values.set_len(len) };
    values
}

/// The values of a slice once every one has been written.
///
/// # Safety
/// Every value of `values` must have been written.
pub(crate) unsafe fn assume_written(values: &mut [MaybeUninit<f32>]) -> &mut [f32] {
    // SAFETY: MaybeUninit<f32> has f32's layout, and the caller promises the values are set.
    unsafe { &mut *(values as *mut [MaybeUninit<f32>] as *mut [f32]) }
}

/// The shared body of [`gemm`] and [`gemm_uninit`], `dst` given as a pointer and a length.
///
/// # Safety
/// `dst` must point to `len` values this call may write (and read, if `accumulate`, in which
/// case they must be initialised), overlapping neither operand.
unsafe fn gemm_raw<T: GemmFloat>(
    (m, n, k): (usize, usize, usize),
    (dst, len, dst_s, accumulate): (*mut T, usize, [usize; 2], bool),
    (lhs, lhs_s): (&[T], [usize; 2]),
    (rhs, rhs_s): (&[T], [usize; 2]),
) {
    if m == 0 || n == 0 {
        return;
    }
    let last = |rows: usize, cols: usize, s: [usize; 2]| (rows - 1) * s[0] + (cols - 1) * s[1];
    assert!(last(m, n, dst_s) < len, "gemm: destination too short");
    if k > 0 {
        assert!(
            last(m, k, lhs_s) < lhs.len(),
            "gemm: left operand too short"
        );
        assert!(
            last(k, n, rhs_s) < rhs.len(),
            "gemm: right operand too short"
        );
    }
    // SAFETY: every index gemm reads or writes is below the bounds just checked, and the
    // caller vouches for `dst`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            dst_s[1] as isize,
            dst_s[0] as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_s[1] as isize,
            lhs_s[0] as isize,
            rhs.as_ptr(),
            rhs_s[1] as isize,
            rhs_s[0] as isize,
            T::ONE,
            T::ONE,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table's gathers and scatter-adds (AVX-512 where the CPU has it) give the scalar loops'
    /// values, padding included, for lengths around the 16-lane width.
    #[test]
    fn gathers_and_scatters_by_table_match_the_scalar_loops() {
        let plane: Vec<f32> = (0..200).map(|i| i as f32 * 0.5 - 7.0).collect();
        for n in [0, 1, 15, 16, 17, 33, 49, 196] {
            // Distinct offsets (as one kernel position's are), every third one padding.
            let index: Vec<u32> = (0..n as u32)
                .map(|i| if i % 3 == 2 { PADDING } else { (i * 37) % 199 })
                .collect();
            let (mut fast, mut slow) = (vec![1.0; n], vec![2.0; n]);
            gather_by(&mut fast, &plane, &index);
            gather_by_scalar(&mut slow, &plane, &index);
            assert_eq!(fast, slow, "gather, {n} positions");
            let src: Vec<f32> = (0..n).map(|i| i as f32 + 0.25).collect();
            let (mut fast, mut slow) = (plane.clone(), plane.clone());
            scatter_add_by(&src, &mut fast, &index);
            scatter_add_by_scalar(&src, &mut slow, &index);
            assert_eq!(fast, slow, "scatter-add, {n} positions");
        }
    }
}
