//! Choosing where tensors live. Burn 0.22 picks the backend at run time through the device, so the
//! same model code serves the CPU and, with the `wgpu` feature, the GPU.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub use burn::tensor::Device;
use burn::tensor::{Tensor, TensorData};

use crate::error::{Error, Result};

/// Which backend to run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// Burn's `flex` CPU backend.
    #[default]
    Cpu,
    /// Burn's `wgpu` backend (Vulkan, Metal or DX12); needs the `wgpu` cargo feature.
    Gpu,
}

impl std::str::FromStr for Backend {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "cpu" => Ok(Backend::Cpu),
            "gpu" | "wgpu" => Ok(Backend::Gpu),
            _ => Err(Error::invalid(format!("unknown device {s:?} (cpu or gpu)"))),
        }
    }
}

impl Backend {
    /// The plain (inference) device.
    pub fn device(self) -> Result<Device> {
        match self {
            Backend::Cpu => Ok(Device::flex()),
            #[cfg(feature = "wgpu")]
            Backend::Gpu => Ok(Device::wgpu(Default::default())),
            #[cfg(not(feature = "wgpu"))]
            Backend::Gpu => Err(Error::invalid(
                "this hourglass was built without GPU support (rebuild with --features wgpu)",
            )),
        }
    }
}

/// Rows of a flat row-major buffer as a `[rows, features]` tensor.
pub fn rows_tensor(values: Vec<f32>, features: usize, device: &Device) -> Tensor<2> {
    let rows = values.len() / features;
    Tensor::from_data(TensorData::new(values, [rows, features]), device)
}

/// The values of a tensor, back on the host.
pub fn to_vec<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("a float tensor converts to f32")
}

/// Runs `f` on one of rayon's worker threads (inline when already on one). The CPU kernels split
/// their work with rayon; started from a thread outside the pool, each parallel section parks
/// that thread and wakes it again, where from inside it hands work to the other workers by a
/// queue push (a dense training step on 2 cores: 46k context switches per 200 steps → 7.5k).
///
/// While `f` runs, the pool's other workers wait for its parallel sections spinning rather than
/// asleep ([`keep_busy`]), as OpenMP's threads do under PyTorch: between two sections of a
/// training step (autodiff's bookkeeping, tens of microseconds) a sleeping worker would fall
/// asleep and need a wake-up through the kernel for each one (dense step on 2 cores, AVX-512:
/// 3.72 → 3.38 ms, BENCHMARKS.md, issue 12).
///
/// The first call in each pool also sets all its workers to flush subnormal floats to zero
/// ([`flush_subnormals`]): the Python package keeps a pool per thread count.
pub fn in_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    thread_local! {
        static FLUSHING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }
    let mut out = None;
    let done = AtomicBool::new(false);
    rayon::scope(|s| {
        // On a worker here: if it is not flushing yet, neither is the rest of its pool.
        if !FLUSHING.get() {
            rayon::broadcast(|_| {
                flush_subnormals();
                FLUSHING.set(true);
            });
        }
        if BUSY.get() {
            // Already inside `f` of an outer call, or a spinning worker: nothing to add.
            out = Some(f());
            return;
        }
        for _ in 1..rayon::current_num_threads() {
            s.spawn(|_| keep_busy(&done));
        }
        /// Marks this thread busy while `f` runs, and ends the spinning when it returns or
        /// unwinds.
        struct Running<'a>(&'a AtomicBool);
        impl Drop for Running<'_> {
            fn drop(&mut self) {
                BUSY.set(false);
                self.0.store(true, Ordering::Release);
            }
        }
        BUSY.set(true);
        let _running = Running(&done);
        out = Some(f());
    });
    out.expect("rayon::scope runs its closure before returning")
}

/// How long a spinning worker goes without work before it returns to rayon's sleep: longer
/// than the gaps between a step's parallel sections, short enough that an idle stretch (or a
/// spinner that found itself under another job) costs little.
const SPIN_IDLE: Duration = Duration::from_micros(500);

thread_local! {
    /// Whether this thread is running `f` of [`in_pool`] or is spinning for it.
    static BUSY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// One worker's wait for work while `in_pool`'s `f` runs: it runs what it can take from the
/// pool's queues (`rayon::yield_now`) and spins in between, until `done`, or until it has found
/// nothing for [`SPIN_IDLE`]. A thread already busy (the caller itself, or a spinner that picked
/// this job up while waiting inside another) returns at once: a spinner must never sit on top of
/// work that `f` waits for.
fn keep_busy(done: &AtomicBool) {
    if BUSY.replace(true) {
        return;
    }
    let mut last_work = Instant::now();
    while !done.load(Ordering::Acquire) {
        match rayon::yield_now() {
            Some(rayon::Yield::Executed) => last_work = Instant::now(),
            _ if last_work.elapsed() > SPIN_IDLE => break,
            _ => std::hint::spin_loop(),
        }
    }
    BUSY.set(false);
}

/// Runs `f` where work on `device` belongs: for the CPU inside rayon's pool ([`in_pool`]), for a
/// GPU on the calling thread. cubecl gives every thread its own stream on the device; a model
/// whose steps ran on whichever pool worker was free had its weights and optimizer state written
/// on one stream and read on another, and those raced: a seeded wgpu training on lavapipe came
/// out different on every run and often did not learn (final loss 0.045-0.175 over runs of one
/// seed; on one thread the same 0.0426 every run, flex 0.0423).
pub fn on_device_thread<R: Send>(device: &Device, f: impl FnOnce() -> R + Send) -> R {
    if is_cpu(device) { in_pool(f) } else { f() }
}

/// Runs `f` with the CPU kernels told to keep each operation on this thread: for callers that
/// already run one part of a batch per thread (batch inference, [`crate::tasks::codec`]), where a
/// second split per layer would only add hand-offs between the threads. A hint to the kernels'
/// work sizing ([`kernel_threads`]), never to their results.
pub fn on_one_thread<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            ONE_THREAD.set(self.0);
        }
    }
    let _restore = Restore(ONE_THREAD.replace(true));
    f()
}

/// How many threads the CPU kernels should split one operation across: rayon's, or 1 inside
/// [`on_one_thread`].
pub fn kernel_threads() -> usize {
    if ONE_THREAD.get() {
        1
    } else {
        rayon::current_num_threads().max(1)
    }
}

thread_local! {
    static ONE_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether tensors on `device` live in this process's memory and run on its CPU kernels (with or
/// without autodiff).
pub fn is_cpu(device: &Device) -> bool {
    matches!(
        device.clone().inner().as_dispatch(),
        burn::backend::DispatchDevice::Flex(_)
    )
}

/// Sets this thread's SSE/AVX control register to treat subnormal inputs as zero and to flush
/// subnormal results to zero (DAZ and FTZ), as TensorFlow does in its worker threads.
///
/// Why: training leaves some values shrinking geometrically towards zero (Adam's moments of a
/// weight whose gradient is 0, such as a blank border pixel's: ×0.9 a step), and past 1.2e-38 they
/// turn subnormal, which Intel CPUs handle in microcode at ~100 cycles an operation. On a 2-core
/// Xeon the dense model's epoch doubled from the fourth on (Adam's update 1.5 % → 16 % of the
/// profile); AMD's cores take subnormals at full speed. Values below 1.2e-38 are far under
/// anything that moves a weight, and a seeded run still repeats bit for bit.
/// Only rayon's workers are set, never the caller's thread (a Python process's main thread, say).
fn flush_subnormals() {
    #[cfg(target_arch = "x86_64")]
    {
        const FTZ: u32 = 1 << 15;
        const DAZ: u32 = 1 << 6;
        let mut csr: u32 = 0;
        // SAFETY: stmxcsr/ldmxcsr read and write this thread's MXCSR through a valid u32; SSE is
        // part of every x86-64 CPU, and only the two flush bits change.
        unsafe {
            std::arch::asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack, preserves_flags));
            csr |= FTZ | DAZ;
            std::arch::asm!("ldmxcsr [{}]", in(reg) &csr, options(nostack, preserves_flags));
        }
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;
    use std::hint::black_box;

    /// Work run through `in_pool` treats a subnormal as zero; the calling thread keeps IEEE
    /// subnormals.
    #[test]
    fn pool_workers_flush_subnormals_and_the_caller_does_not() {
        let tiny = black_box(1e-39f32);
        assert!(tiny > 0.0 && !tiny.is_normal());
        let on_worker = in_pool(|| black_box(tiny) * black_box(1.0f32));
        assert_eq!(on_worker, 0.0);
        // A second pool (as the Python package makes one per thread count) is set too.
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let on_other = pool.install(|| in_pool(|| black_box(tiny) * black_box(1.0f32)));
        assert_eq!(on_other, 0.0);
        assert_eq!(black_box(tiny) * black_box(1.0f32), tiny);
    }

    /// A training step's autodiff device counts as the CPU, so its work goes to the pool.
    #[test]
    fn the_cpu_with_autodiff_is_the_cpu() {
        assert!(is_cpu(&Device::flex()));
        assert!(is_cpu(&Device::flex().autodiff()));
    }
}

#[cfg(test)]
mod spinning_workers {
    use super::*;
    use rayon::prelude::*;

    /// Callers from several threads at once, each with nested parallel work and a nested call,
    /// all get their own results back, every time: the spinning workers lose no work and keep no
    /// caller waiting (concurrent and nested calls are where a spinner could land under a job
    /// that a caller waits for).
    #[test]
    fn concurrent_and_nested_calls_all_finish_with_their_results() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(4)
            .build()
            .unwrap();
        let work = |seed: u64| -> u64 {
            (0..64u64)
                .into_par_iter()
                .map(|i| {
                    let inner: u64 = (0..256u64).into_par_iter().map(|j| j ^ (i + seed)).sum();
                    inner + in_pool(|| (0..16u64).into_par_iter().map(|j| j * i).sum::<u64>())
                })
                .sum()
        };
        let expected: Vec<u64> = (0..6u64).map(|seed| pool.install(|| work(seed))).collect();
        let pool = &pool;
        for _ in 0..20 {
            let got: Vec<u64> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..6u64)
                    .map(|seed| s.spawn(move || pool.install(|| in_pool(|| work(seed)))))
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            assert_eq!(got, expected);
        }
    }
}
