//! hourglass as an HTTP scoring service (`hourglass serve`): trained model files in, per-row
//! scores, codes and reconstructions out. axum routes the requests; the numbers come from the
//! `hourglass` library. See `api` for the endpoints, `batch` for micro-batching and load
//! shedding, `metrics` for `/metrics`.

pub mod api;
pub mod batch;
pub mod metrics;
pub mod models;
pub mod openapi;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};

use crate::api::{ApiError, Logged};
use crate::batch::{Batcher, Limits};
use crate::metrics::Metrics;
use crate::models::{ModelInfo, Served};

/// How the service batches, limits and times out.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Rows in one forward pass at most.
    pub max_batch_rows: usize,
    /// How long a request waits for others to share its forward pass.
    pub max_wait: Duration,
    /// Requests waiting per model at most; more are refused with 503.
    pub queue: usize,
    /// A request that waited longer than this in its model's queue is refused with 503 instead
    /// of computed; `None` is the timeout (nobody waits for the answer any more).
    pub max_queue_wait: Option<Duration>,
    /// Request bodies larger than this are refused with 413.
    pub body_limit: usize,
    /// Rows in one request at most (413 past it).
    pub max_request_rows: usize,
    /// A request not answered within this gets 503.
    pub timeout: Duration,
}

impl Settings {
    /// How long a request may wait in its model's queue.
    pub fn queue_wait(&self) -> Duration {
        self.max_queue_wait.unwrap_or(self.timeout)
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_batch_rows: 256,
            max_wait: Duration::ZERO,
            queue: 256,
            max_queue_wait: None,
            body_limit: 32 << 20,
            max_request_rows: 8192,
            timeout: Duration::from_secs(10),
        }
    }
}

/// One served model: its file, the model now loaded from it, and its queue.
pub struct Slot {
    pub path: PathBuf,
    pub current: Arc<ArcSwap<Served>>,
    pub batcher: Batcher,
}

/// The service's state, shared by every handler.
pub struct App {
    pub models: BTreeMap<String, Slot>,
    pub settings: Settings,
    pub metrics: Metrics,
    ready: AtomicBool,
}

impl App {
    /// Loads every model (`name`, file) and starts its batcher; the first bad file fails it.
    pub fn new(models: Vec<(String, PathBuf)>, settings: Settings) -> hourglass::Result<App> {
        let metrics = Metrics::default();
        let mut slots = BTreeMap::new();
        for (name, path) in models {
            if slots.contains_key(&name) {
                return Err(hourglass::Error::Invalid(format!(
                    "two models are named {name:?}; name them with --model NAME=PATH"
                )));
            }
            let served = Served::load(&path)?;
            metrics.loaded(&name, served.load_seconds);
            let current = Arc::new(ArcSwap::from_pointee(served));
            let limits = Limits {
                max_rows: settings.max_batch_rows,
                max_wait: settings.max_wait,
                queue: settings.queue,
                max_queue_wait: settings.queue_wait(),
            };
            let batcher = Batcher::start(&name, current.clone(), limits, metrics.clone());
            slots.insert(
                name,
                Slot {
                    path,
                    current,
                    batcher,
                },
            );
        }
        Ok(App {
            models: slots,
            settings,
            metrics,
            ready: AtomicBool::new(true),
        })
    }

    pub fn slot(&self, name: &str) -> Result<&Slot, ApiError> {
        self.models.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.models.keys().map(String::as_str).collect();
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!("no model named {name:?} (served: {})", known.join(", ")),
            )
        })
    }

    /// Reads the model's file again and swaps it in; requests in flight finish on the old one.
    /// A file that does not load is refused and the old model keeps serving.
    pub fn reload(&self, name: &str) -> hourglass::Result<ModelInfo> {
        let slot = self
            .models
            .get(name)
            .ok_or_else(|| hourglass::Error::Invalid(format!("no model named {name:?}")))?;
        let served = Served::load(&slot.path)?;
        self.metrics.loaded(name, served.load_seconds);
        let info = served.info(name);
        slot.current.store(Arc::new(served));
        tracing::info!(model = name, path = %slot.path.display(), "reloaded");
        Ok(info)
    }

    /// Reloads every model, logging (not failing on) the files that do not load.
    pub fn reload_all(&self) {
        for name in self.models.keys() {
            if let Err(e) = self.reload(name) {
                tracing::warn!(model = %name, "reload refused, the previous model keeps serving: {e}");
            }
        }
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }
}

/// The routes, with the body limit, the request metrics and the request log.
pub fn router(app: Arc<App>) -> Router {
    let limit = app.settings.body_limit;
    Router::new()
        .route("/v1/models", get(api::list))
        .route("/v1/models/{name}", get(api::describe))
        .route("/v1/models/{name}/score", post(api::score))
        .route("/v1/models/{name}/encode", post(api::encode))
        .route("/v1/models/{name}/reconstruct", post(api::reconstruct))
        .route("/v1/models/{name}/reload", post(api::reload))
        .route("/healthz", get(api::healthz))
        .route("/readyz", get(api::readyz))
        .route("/metrics", get(api::metrics))
        .route("/openapi.json", get(api::openapi))
        .route_layer(middleware::from_fn_with_state(app.clone(), track))
        .fallback(api::not_found)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(app)
}

/// Counts and logs each routed request: endpoint, status, milliseconds, and for model requests
/// the model and its rows.
async fn track(
    State(app): State<Arc<App>>,
    matched: Option<MatchedPath>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let endpoint = matched.map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    let response = next.run(request).await;
    let seconds = started.elapsed().as_secs_f64();
    let status = response.status().as_u16();
    app.metrics.request(&endpoint, status, seconds);
    let logged = response.extensions().get::<Logged>();
    tracing::info!(
        endpoint,
        model = logged.map(|l| l.model.as_str()),
        rows = logged.map(|l| l.rows),
        status,
        ms = seconds * 1e3,
        "request"
    );
    response
}

/// Serves on `listener` until `shutdown` completes, then stops accepting, reports not ready, and
/// returns once the requests in flight are answered.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let state = app.clone();
    axum::serve(listener, router(app))
        .with_graceful_shutdown(async move {
            shutdown.await;
            state.ready.store(false, Ordering::Relaxed);
            tracing::info!("shutting down: finishing the requests in flight");
        })
        .await
}

/// Completes on SIGTERM or SIGINT (Ctrl-C).
pub async fn termination() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => interrupt.await,
        }
    }
    #[cfg(not(unix))]
    interrupt.await;
}

/// Reloads every model on each SIGHUP (Unix), for as long as the service runs.
pub fn reload_on_hangup(app: Arc<App>) {
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hangup) = signal(SignalKind::hangup()) else {
            return;
        };
        while hangup.recv().await.is_some() {
            let app = app.clone();
            let _ = tokio::task::spawn_blocking(move || app.reload_all()).await;
        }
    });
    #[cfg(not(unix))]
    let _ = app;
}

/// `hourglass serve`: loads the models, listens on `addr` (`listening` is told the address and
/// the model names), reloads on SIGHUP and stops gracefully on SIGTERM/SIGINT.
pub fn run(
    models: Vec<(String, PathBuf)>,
    addr: SocketAddr,
    settings: Settings,
    listening: impl FnOnce(SocketAddr, Vec<String>),
) -> anyhow::Result<()> {
    let app = Arc::new(App::new(models, settings)?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
        listening(listener.local_addr()?, app.models.keys().cloned().collect());
        reload_on_hangup(app.clone());
        serve(listener, app, termination()).await?;
        Ok(())
    })
}
