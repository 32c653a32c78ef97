//! `hourglass serve`: the scoring service (crate `hourglass-serve`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, bail};

#[derive(clap::Args)]
pub struct Args {
    /// A model file to serve, as PATH (named after the file) or NAME=PATH; repeat for several.
    #[arg(long = "model", required = true, value_name = "[NAME=]PATH")]
    models: Vec<String>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Rows in one forward pass at most (concurrent requests are gathered up to it).
    #[arg(long, default_value_t = 256)]
    max_batch: usize,
    /// Milliseconds a request waits for others to share its forward pass (0: batch only what
    /// queued while the previous pass ran).
    #[arg(long, default_value_t = 0.0)]
    max_wait_ms: f64,
    /// Requests waiting per model at most; more are answered 503 at once.
    #[arg(long, default_value_t = 256)]
    queue: usize,
    /// Milliseconds a request may wait in its model's queue; one that waited longer is answered
    /// 503 instead of computed, a latency bound for the accepted requests [default: the
    /// timeout, so that no work is spent on answers nobody waits for].
    #[arg(long)]
    max_queue_ms: Option<f64>,
    /// Milliseconds before an unanswered request gets 503.
    #[arg(long, default_value_t = 10_000)]
    timeout_ms: u64,
    /// Largest request body, in MiB (413 past it).
    #[arg(long, default_value_t = 32)]
    body_limit_mb: usize,
}

pub fn run(args: Args) -> Result<()> {
    let models = args
        .models
        .iter()
        .map(|spec| named(spec))
        .collect::<Result<Vec<_>>>()?;
    if !(args.max_wait_ms.is_finite() && (0.0..=1000.0).contains(&args.max_wait_ms)) {
        bail!("--max-wait-ms must be between 0 and 1000");
    }
    if let Some(ms) = args.max_queue_ms
        && !(ms.is_finite() && (0.0..=600_000.0).contains(&ms))
    {
        bail!("--max-queue-ms must be between 0 and 600000");
    }
    if args.max_batch == 0 || args.queue == 0 || args.timeout_ms == 0 || args.body_limit_mb == 0 {
        bail!("--max-batch, --queue, --timeout-ms and --body-limit-mb must be at least 1");
    }
    let settings = hourglass_serve::Settings {
        max_batch_rows: args.max_batch,
        max_wait: Duration::from_secs_f64(args.max_wait_ms / 1e3),
        queue: args.queue,
        max_queue_wait: args
            .max_queue_ms
            .map(|ms| Duration::from_secs_f64(ms / 1e3)),
        timeout: Duration::from_millis(args.timeout_ms),
        body_limit: args.body_limit_mb.saturating_mul(1 << 20),
        ..hourglass_serve::Settings::default()
    };
    hourglass_serve::run(models, args.addr, settings, |addr, names| {
        eprintln!(
            "serving {} on http://{addr} (SIGHUP reloads the files, SIGTERM stops)",
            names.join(", ")
        );
    })
}

/// `NAME=PATH`, or `PATH` named after the file's stem.
fn named(spec: &str) -> Result<(String, PathBuf)> {
    if let Some((name, path)) = spec.split_once('=')
        && !name.is_empty()
        && !name.contains('/')
    {
        return Ok((name.to_string(), PathBuf::from(path)));
    }
    let path = PathBuf::from(spec);
    let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
        bail!("--model {spec}: give a file path, or NAME=PATH");
    };
    Ok((stem.to_string(), path))
}
