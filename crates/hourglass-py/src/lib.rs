//! hourglass for Python: the `hourglass._core` extension. It turns numpy arrays into the
//! library's rows and back, releases the GIL around the work, and turns the library's errors into
//! Python exceptions. Nothing else: the model, the defaults, the scores and the thresholds are the
//! library's, and the scikit-learn and PyOD conventions live in `python/hourglass/`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use hourglass::artifact::TrainedModel;
use hourglass::data::{Dataset, SampleKind, SampleShape};
use hourglass::device::{Backend, Device};
use hourglass::model::Activation;
use hourglass::tasks::anomaly::{self, ThresholdRule};
use hourglass::tasks::codec;
use hourglass::tasks::detector::ScoreKind;
use hourglass::train::plan::{Plan, Request, plan};
use hourglass::train::{self, RunSettings, ScalingKind, TrainOptions};
use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use serde::Deserialize;

/// What a Python array stands for in error messages, where the CLI names a file.
const ARRAY: &str = "<array>";

fn to_py(error: hourglass::error::Error) -> PyErr {
    match error {
        hourglass::error::Error::Io { .. } => PyOSError::new_err(error.to_string()),
        _ => PyValueError::new_err(error.to_string()),
    }
}

/// The process that first ran work on the library's thread pool. Rayon's pool does not survive
/// `fork()` (a child's first parallel operation would wait forever for threads it does not have),
/// so work in a forked child is refused with a clear message instead of hanging.
static WORKER_PID: AtomicU32 = AtomicU32::new(0);

/// Raises glibc malloc's mmap threshold to 32 MiB and its trim threshold to 128 MiB, unless the
/// user set them (`MALLOC_*` or `GLIBC_TUNABLES`). glibc raises them by itself after the first
/// large free, which the CLI's file loading does before training; in a Python process the data
/// arrive from numpy, nothing large is freed first, and every batch's tensors were mapped,
/// faulted in and unmapped again: the first `fit`'s training took 25 % longer than the CLI's
/// (BENCHMARKS.md, "The Python package"; mimalloc as the extension's allocator was slower still).
/// These are the values glibc's own rule would reach; memory stays in the heap for reuse rather
/// than going back to the system after each batch.
fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let user_set = std::env::vars_os().any(|(k, _)| {
            let k = k.to_string_lossy();
            k.starts_with("MALLOC_") || k == "GLIBC_TUNABLES"
        });
        if !user_set {
            // SAFETY: mallopt only sets allocator parameters; glibc serialises it with its own
            // lock, and any value is valid for these two.
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
                libc::mallopt(libc::M_TRIM_THRESHOLD, 128 << 20);
            }
        }
    }
}

fn check_not_forked() -> PyResult<()> {
    let me = std::process::id();
    match WORKER_PID.compare_exchange(0, me, Ordering::SeqCst, Ordering::SeqCst) {
        Ok(_) => Ok(()),
        Err(pid) if pid == me => Ok(()),
        Err(_) => Err(PyRuntimeError::new_err(
            "hourglass already ran in the parent of this forked process, and its thread pool does not \
             survive fork(); start worker processes with multiprocessing's 'spawn' or 'forkserver' \
             method (multiprocessing.get_context('spawn')), or load the model in each worker",
        )),
    }
}

/// Runs `work` without the GIL, on a pool of `threads` threads when given (pools are kept and
/// reused), after the fork check.
fn run<T: Send>(
    py: Python<'_>,
    threads: Option<usize>,
    work: impl FnOnce() -> T + Send,
) -> PyResult<T> {
    check_not_forked()?;
    match threads {
        None => Ok(py.detach(work)),
        Some(n) => {
            let pool = pool(n)?;
            Ok(py.detach(|| pool.install(work)))
        }
    }
}

fn pool(threads: usize) -> PyResult<&'static rayon::ThreadPool> {
    static POOLS: Mutex<Vec<(usize, &'static rayon::ThreadPool)>> = Mutex::new(Vec::new());
    if threads == 0 {
        return Err(PyValueError::new_err("n_threads must be at least 1"));
    }
    let mut pools = POOLS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, pool)) = pools.iter().find(|(n, _)| *n == threads) {
        return Ok(pool);
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| PyRuntimeError::new_err(format!("cannot start {threads} threads: {e}")))?;
    let pool: &'static rayon::ThreadPool = Box::leak(Box::new(pool));
    pools.push((threads, pool));
    Ok(pool)
}

/// Rows from an array: (n, features) for tables, (n, h, w) or (n, c, h, w) for images. Any
/// memory order; copied once into the library's row-major buffer.
fn rows(array: &PyReadonlyArrayDyn<'_, f32>) -> PyResult<(Vec<f32>, Vec<usize>)> {
    let shape = array.shape().to_vec();
    if shape.len() < 2 || shape.len() > 4 {
        return Err(PyValueError::new_err(format!(
            "expected a 2-D array (samples × features) or images (n × h × w or n × c × h × w), got {} dimensions",
            shape.len()
        )));
    }
    let view = array.as_array();
    let values = match view.as_slice() {
        Some(slice) => slice.to_vec(),
        None => view.iter().copied().collect(),
    };
    Ok((values, shape))
}

fn sample_shape(shape: &[usize]) -> SampleShape {
    match shape {
        [_, c, h, w] => SampleShape::image(*c, *h, *w),
        [_, h, w] => SampleShape::image(1, *h, *w),
        [_, d] => SampleShape::tabular(*d),
        _ => unreachable!("checked by rows()"),
    }
}

/// What `Autoencoder`'s parameters say, as JSON from the Python side. `None`: choose from the data.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Params {
    model: Option<String>,
    latent: Option<usize>,
    hidden: Option<Vec<usize>>,
    channels: Option<Vec<usize>>,
    window: Option<usize>,
    activation: Option<Activation>,
    dropout: Option<f64>,
    beta: Option<f64>,
    epochs: Option<usize>,
    batch_size: Option<usize>,
    learning_rate: Option<f64>,
    ensemble: Option<usize>,
    scaling: Option<String>,
    val_split: Option<f64>,
    patience: Option<usize>,
    random_state: Option<u64>,
    n_threads: Option<usize>,
    verbose: Option<bool>,
}

impl Params {
    fn request(&self) -> PyResult<Request> {
        let defaults = TrainOptions::default();
        Ok(Request {
            model: self
                .model
                .as_deref()
                .unwrap_or("dense")
                .parse()
                .map_err(to_py)?,
            latent: self.latent,
            hidden: self.hidden.clone(),
            channels: self.channels.clone(),
            window: self.window,
            activation: self.activation,
            dropout: self.dropout,
            beta: self.beta,
            epochs: self.epochs,
            batch_size: self.batch_size,
            ensemble: self.ensemble,
            options: TrainOptions {
                learning_rate: self.learning_rate.unwrap_or(defaults.learning_rate),
                val_split: self.val_split.unwrap_or(defaults.val_split),
                patience: self.patience,
                seed: self.random_state.unwrap_or(defaults.seed),
                scaling: match self.scaling.as_deref() {
                    None | Some("standard") => ScalingKind::Standard,
                    Some("robust") => ScalingKind::Robust,
                    Some(other) => {
                        return Err(PyValueError::new_err(format!(
                            "scaling {other:?}: standard or robust"
                        )));
                    }
                },
                ..defaults
            },
            ..Request::default()
        })
    }
}

/// A trained model: the same object `hourglass train` writes to a `.safetensors` file.
#[pyclass(module = "hourglass._core", frozen)]
struct Model {
    inner: TrainedModel,
    threads: Option<usize>,
}

impl Model {
    /// The rows of `array` as a data set this model takes, checked against its input.
    fn dataset(&self, array: &PyReadonlyArrayDyn<'_, f32>) -> PyResult<Dataset> {
        let (values, shape) = rows(array)?;
        let features = self.inner.input.features();
        if values.len() != shape[0] * features || sample_shape(&shape).features() != features {
            return Err(PyValueError::new_err(format!(
                "samples of shape {:?} do not fit this model, which takes {} ({features} values per sample)",
                &shape[1..],
                self.inner.input
            )));
        }
        let data = Dataset {
            values,
            shape: self.inner.input,
            kind: self.inner.kind,
            labels: None,
            columns: None,
        };
        self.inner
            .check_data(&data, Path::new(ARRAY))
            .map_err(to_py)?;
        Ok(data)
    }

    fn matrix<'py>(
        py: Python<'py>,
        values: Vec<f32>,
        width: usize,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let n = values.len() / width.max(1);
        let array = numpy::ndarray::Array2::from_shape_vec((n, width), values)
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        Ok(array.into_pyarray(py))
    }
}

#[pymethods]
impl Model {
    /// Trains a model on `x` (float32 rows or images) with the parameters in `params_json`.
    #[staticmethod]
    #[pyo3(signature = (x, params_json))]
    fn fit(py: Python<'_>, x: PyReadonlyArrayDyn<'_, f32>, params_json: &str) -> PyResult<Model> {
        let params: Params = serde_json::from_str(params_json)
            .map_err(|e| PyValueError::new_err(format!("bad parameters: {e}")))?;
        let (values, shape) = rows(&x)?;
        if shape[0] == 0 {
            return Err(PyValueError::new_err("no samples to fit on (0 rows)"));
        }
        let kind = if shape.len() == 2 {
            SampleKind::Tabular
        } else {
            SampleKind::Image
        };
        let data = Dataset {
            values,
            shape: sample_shape(&shape),
            kind,
            labels: None,
            columns: None,
        };
        let request = params.request()?;
        let settings = RunSettings {
            backend: Backend::Cpu,
            progress: params.verbose.unwrap_or(false),
            ..RunSettings::default()
        };
        let threads = params.n_threads;
        let trained = run(
            py,
            threads,
            move || -> hourglass::error::Result<TrainedModel> {
                let Plan {
                    config,
                    options,
                    data,
                } = plan(&request, data)?;
                train::train(&data, &config, &options, &settings)
            },
        )?
        .map_err(to_py)?;
        Ok(Model {
            inner: trained,
            threads,
        })
    }

    /// Reads a model file written by `save` or by `hourglass train`.
    #[staticmethod]
    #[pyo3(signature = (path, n_threads=None))]
    fn load(py: Python<'_>, path: PathBuf, n_threads: Option<usize>) -> PyResult<Model> {
        let inner =
            run(py, n_threads, || TrainedModel::load(&path, &Device::flex()))?.map_err(to_py)?;
        Ok(Model {
            inner,
            threads: n_threads,
        })
    }

    /// Writes the model (atomically) where `hourglass score` and the other commands can read it.
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        py.detach(|| self.inner.save(&path)).map_err(to_py)
    }

    /// Latent codes: n × latent.
    fn encode<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArrayDyn<'py, f32>,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        self.inner.require_unconditional("encode").map_err(to_py)?;
        let data = self.dataset(&x)?;
        let codes = run(py, self.threads, || {
            codec::encode(&self.inner, &data, &Device::flex())
        })?
        .map_err(to_py)?;
        Model::matrix(py, codes, self.inner.config.latent)
    }

    /// Samples decoded from latent codes (n × latent), in the data's original units, one row each.
    fn decode<'py>(
        &self,
        py: Python<'py>,
        z: PyReadonlyArrayDyn<'py, f32>,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        self.inner.require_unconditional("decode").map_err(to_py)?;
        let (codes, shape) = rows(&z)?;
        let latent = self.inner.config.latent;
        if shape.len() != 2 || shape[1] != latent {
            return Err(PyValueError::new_err(format!(
                "codes must be an n × {latent} array, got shape {shape:?}"
            )));
        }
        if codes.iter().any(|v| !v.is_finite()) {
            return Err(PyValueError::new_err("codes must be finite"));
        }
        let mut out = run(py, self.threads, || {
            codec::decode_scaled(&self.inner, &codes, None, &Device::flex())
        })?;
        self.inner.scaling.invert(&mut out);
        Model::matrix(py, out, self.inner.input.features())
    }

    /// Reconstructions in the data's original units, one flattened row per sample.
    fn reconstruct<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArrayDyn<'py, f32>,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        self.inner
            .require_unconditional("reconstruct")
            .map_err(to_py)?;
        let data = self.dataset(&x)?;
        let mut out = run(py, self.threads, || {
            codec::reconstruct(&self.inner, &data, &Device::flex())
        })?
        .map_err(to_py)?;
        self.inner.scaling.invert(&mut out);
        Model::matrix(py, out, self.inner.input.features())
    }

    /// Anomaly scores (higher is more anomalous), by the model's default score or `kind`.
    #[pyo3(signature = (x, kind=None))]
    fn score<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArrayDyn<'py, f32>,
        kind: Option<&str>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        self.inner.require_unconditional("score").map_err(to_py)?;
        let kind: Option<ScoreKind> = kind.map(str::parse).transpose().map_err(to_py)?;
        let data = self.dataset(&x)?;
        let scores = run(py, self.threads, || {
            let scaled = self.inner.scaling.scaled(&data);
            anomaly::score(&self.inner, &scaled, None, kind, &Device::flex())
        })?
        .map_err(to_py)?;
        Ok(scores
            .per_sample
            .iter()
            .map(|&s| s as f64)
            .collect::<Vec<f64>>()
            .into_pyarray(py))
    }

    /// The flagging threshold for scores of `kind` by a rule: "auto", "pXX", a number, or
    /// `contamination` (PyOD's convention). Returns (value, how it was chosen, the fraction of
    /// the training data it flags or None).
    #[pyo3(signature = (rule="auto", contamination=None, kind=None))]
    fn threshold(
        &self,
        rule: &str,
        contamination: Option<f64>,
        kind: Option<&str>,
    ) -> PyResult<(f64, String, Option<f64>)> {
        let kind = match kind {
            Some(k) => k.parse().map_err(to_py)?,
            None => self.inner.detector.default,
        };
        let rule = match contamination {
            Some(f) if f > 0.0 && f < 0.5 => ThresholdRule::Contamination(f),
            Some(f) => {
                return Err(PyValueError::new_err(format!(
                    "contamination must be in (0, 0.5), not {f}"
                )));
            }
            None => rule.parse().map_err(to_py)?,
        };
        let t = rule.resolve(&self.inner, kind).map_err(to_py)?;
        Ok((t.value, t.rule, t.train_fraction_flagged))
    }

    /// The model as an ONNX graph (serialized bytes) from raw rows to `output` ("reconstruct",
    /// "encode" or "score"; a score of `kind`, or the model's default).
    #[pyo3(signature = (output="score", kind=None))]
    fn to_onnx<'py>(
        &self,
        py: Python<'py>,
        output: &str,
        kind: Option<&str>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let kind: Option<ScoreKind> = kind.map(str::parse).transpose().map_err(to_py)?;
        let bytes = py
            .detach(|| {
                let output = hourglass::onnx::Output::parse(output, kind, &self.inner)?;
                hourglass::onnx::export(&self.inner, output)
            })
            .map_err(to_py)?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// The sample shape the model takes: (channels, height, width); a table row is (1, 1, d).
    #[getter]
    fn input_shape(&self) -> (usize, usize, usize) {
        let s = self.inner.input;
        (s.channels, s.height, s.width)
    }

    #[getter]
    fn is_image(&self) -> bool {
        self.inner.kind == SampleKind::Image
    }

    #[getter]
    fn latent(&self) -> usize {
        self.inner.config.latent
    }

    /// The score `score` gives when no kind is asked for.
    #[getter]
    fn default_score(&self) -> String {
        self.inner.detector.default.to_string()
    }

    /// The model's config and training summary, as JSON.
    #[getter]
    fn summary_json(&self) -> String {
        serde_json::json!({
            "config": &self.inner.config,
            "training": &self.inner.summary,
            "ensemble": self.inner.members.len() + 1,
        })
        .to_string()
    }

    fn __repr__(&self) -> String {
        format!(
            "<hourglass model: {} {} → {}>",
            self.inner.config.kind(),
            self.inner.input,
            self.inner.config.latent
        )
    }
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // The library's warnings (and, with HOURGLASS_LOG=info, its progress) on stderr, filtered
    // as the CLI filters them; `try_init` leaves a subscriber the host process set up in place.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HOURGLASS_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
    tune_malloc();
    m.add_class::<Model>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
