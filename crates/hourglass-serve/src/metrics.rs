//! What `/metrics` reports, in the Prometheus/OpenMetrics text format: requests by endpoint and
//! status, their latency, the rows each forward pass took (how well requests are batched), queue
//! depth and model load time.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Request {
    endpoint: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Endpoint {
    endpoint: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Model {
    model: String,
}

/// Every metric of the service; cheap to clone (the families share their storage).
#[derive(Clone)]
pub struct Metrics {
    registry: std::sync::Arc<Registry>,
    requests: Family<Request, Counter>,
    latency: Family<Endpoint, Histogram>,
    batch_rows: Family<Model, Histogram>,
    forward_passes: Family<Model, Counter>,
    queue_depth: Family<Model, Gauge>,
    shed: Family<Model, Counter>,
    load_seconds: Family<Model, Gauge<f64, AtomicU64>>,
}

fn latency_buckets() -> Histogram {
    // 0.1 ms to ~3 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

fn row_buckets() -> Histogram {
    // 1 to 4096 rows.
    Histogram::new(exponential_buckets(1.0, 2.0, 13))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("hourglass");
        let requests = Family::<Request, Counter>::default();
        let latency = Family::<Endpoint, Histogram>::new_with_constructor(
            latency_buckets as fn() -> Histogram,
        );
        let batch_rows =
            Family::<Model, Histogram>::new_with_constructor(row_buckets as fn() -> Histogram);
        let forward_passes = Family::<Model, Counter>::default();
        let queue_depth = Family::<Model, Gauge>::default();
        let shed = Family::<Model, Counter>::default();
        let load_seconds = Family::<Model, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "requests",
            "HTTP requests by endpoint and status",
            requests.clone(),
        );
        registry.register(
            "request_seconds",
            "Request latency by endpoint",
            latency.clone(),
        );
        registry.register(
            "batch_rows",
            "Rows computed per forward pass (requests gathered by micro-batching)",
            batch_rows.clone(),
        );
        registry.register(
            "forward_passes",
            "Forward passes run per model",
            forward_passes.clone(),
        );
        registry.register(
            "queue_depth",
            "Requests waiting for a forward pass",
            queue_depth.clone(),
        );
        registry.register(
            "shed",
            "Requests refused with 503 because the queue was full",
            shed.clone(),
        );
        registry.register(
            "model_load_seconds",
            "Time the current model file took to load",
            load_seconds.clone(),
        );
        Metrics {
            registry: std::sync::Arc::new(registry),
            requests,
            latency,
            batch_rows,
            forward_passes,
            queue_depth,
            shed,
            load_seconds,
        }
    }
}

impl Metrics {
    pub fn request(&self, endpoint: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&Request {
                endpoint: endpoint.to_string(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&Endpoint {
                endpoint: endpoint.to_string(),
            })
            .observe(seconds);
    }

    pub fn forward_pass(&self, model: &str, rows: usize) {
        let label = Model {
            model: model.to_string(),
        };
        self.forward_passes.get_or_create(&label).inc();
        self.batch_rows.get_or_create(&label).observe(rows as f64);
    }

    pub fn queue_depth(&self, model: &str, depth: usize) {
        self.queue_depth
            .get_or_create(&Model {
                model: model.to_string(),
            })
            .set(depth as i64);
    }

    pub fn shed(&self, model: &str) {
        self.shed
            .get_or_create(&Model {
                model: model.to_string(),
            })
            .inc();
    }

    pub fn loaded(&self, model: &str, seconds: f64) {
        self.load_seconds
            .get_or_create(&Model {
                model: model.to_string(),
            })
            .set(seconds);
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String does not fail");
        text
    }
}
