//! Micro-batching: requests for one model wait in a bounded queue; a thread of the model's own
//! takes the first, gathers whatever else arrives within `max_wait` (up to `max_rows` rows), and
//! runs each op once for all of them. One forward pass over 64 rows costs little more than one
//! over a single row, so under concurrency this multiplies throughput; the wait bounds what it
//! adds to latency. The thread keeps the model's compute off the async runtime's threads, and a
//! full queue refuses at once (the caller answers 503) instead of letting latency grow.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use tokio::sync::oneshot;

use crate::metrics::Metrics;
use crate::models::{Op, Output, Served};

/// How requests are gathered.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Rows in one forward pass at most (a single larger request still runs, alone).
    pub max_rows: usize,
    /// How long the first request of a batch waits for others.
    pub max_wait: Duration,
    /// Requests waiting at most; past it, requests are refused.
    pub queue: usize,
}

/// One request's rows and where its answer goes.
pub struct Job {
    pub op: Op,
    /// Raw values, `rows × features`.
    pub values: Vec<f32>,
    pub rows: usize,
    pub reply: oneshot::Sender<Result<Reply, String>>,
}

/// A request's share of a batch's output.
pub struct Reply {
    pub values: Vec<f32>,
    pub per_feature: Vec<f32>,
    /// The model that computed it (a reload may have swapped it since the request was read).
    pub served: Arc<Served>,
}

/// The queue was full.
pub struct Overloaded;

/// The sending side of one model's queue.
pub struct Batcher {
    sender: SyncSender<Job>,
    depth: Arc<AtomicUsize>,
    name: String,
    metrics: Metrics,
}

impl Batcher {
    /// Starts the model's thread; it ends when the batcher is dropped.
    pub fn start(
        name: &str,
        model: Arc<ArcSwap<Served>>,
        limits: Limits,
        metrics: Metrics,
    ) -> Batcher {
        let (sender, receiver) = sync_channel(limits.queue.max(1));
        let depth = Arc::new(AtomicUsize::new(0));
        let worker = Worker {
            receiver,
            depth: depth.clone(),
            model,
            limits,
            name: name.to_string(),
            metrics: metrics.clone(),
        };
        std::thread::Builder::new()
            .name(format!("hourglass-model-{name}"))
            .spawn(move || worker.run())
            .expect("spawning a thread");
        Batcher {
            sender,
            depth,
            name: name.to_string(),
            metrics,
        }
    }

    /// Queues a job, or refuses it at once when the queue is full.
    pub fn submit(&self, job: Job) -> Result<(), Overloaded> {
        match self.sender.try_send(job) {
            Ok(()) => {
                let depth = self.depth.fetch_add(1, Ordering::Relaxed) + 1;
                self.metrics.queue_depth(&self.name, depth);
                Ok(())
            }
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.metrics.shed(&self.name);
                Err(Overloaded)
            }
        }
    }
}

struct Worker {
    receiver: Receiver<Job>,
    depth: Arc<AtomicUsize>,
    model: Arc<ArcSwap<Served>>,
    limits: Limits,
    name: String,
    metrics: Metrics,
}

impl Worker {
    fn run(self) {
        while let Ok(first) = self.receiver.recv() {
            let mut rows = first.rows;
            let mut jobs = vec![first];
            let deadline = Instant::now() + self.limits.max_wait;
            while rows < self.limits.max_rows {
                let left = deadline.saturating_duration_since(Instant::now());
                match self.receiver.recv_timeout(left) {
                    Ok(job) => {
                        rows += job.rows;
                        jobs.push(job);
                    }
                    Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
                }
            }
            let depth = self.depth.fetch_sub(jobs.len(), Ordering::Relaxed) - jobs.len();
            self.metrics.queue_depth(&self.name, depth);
            // Every job of the batch sees the same model, even if a reload lands meanwhile.
            let served = self.model.load_full();
            for op in [Op::Score, Op::Encode, Op::Reconstruct] {
                let (mine, rest): (Vec<Job>, Vec<Job>) = jobs.into_iter().partition(|j| j.op == op);
                jobs = rest;
                if !mine.is_empty() {
                    self.run_batch(op, mine, &served);
                }
            }
        }
    }

    /// One forward pass for all `jobs` (all of `op`), each answered with its own rows.
    fn run_batch(&self, op: Op, jobs: Vec<Job>, served: &Arc<Served>) {
        let features = served.features();
        // A reload may have changed the input width since these requests were checked.
        let (fit, misfit): (Vec<Job>, Vec<Job>) = jobs
            .into_iter()
            .partition(|j| j.values.len() == j.rows * features);
        for job in misfit {
            let _ = job.reply.send(Err(format!(
                "the model was reloaded and now takes rows of {features} values; send the request again"
            )));
        }
        if fit.is_empty() {
            return;
        }
        let rows: usize = fit.iter().map(|j| j.rows).sum();
        let mut values = Vec::with_capacity(rows * features);
        for job in &fit {
            values.extend_from_slice(&job.values);
        }
        let result = served.run(op, values);
        self.metrics.forward_pass(&self.name, rows);
        let output = match result {
            Ok(output) => output,
            Err(e) => {
                for job in fit {
                    let _ = job.reply.send(Err(e.to_string()));
                }
                return;
            }
        };
        let Output {
            values,
            per_feature,
        } = output;
        let width = served.width(op);
        let (mut at, mut at_feature) = (0, 0);
        for job in fit {
            let n = job.rows * width;
            let m = if per_feature.is_empty() {
                0
            } else {
                job.rows * features
            };
            // The client may have given up (timeout); its answer is dropped.
            let _ = job.reply.send(Ok(Reply {
                values: values[at..at + n].to_vec(),
                per_feature: per_feature[at_feature..at_feature + m].to_vec(),
                served: served.clone(),
            }));
            at += n;
            at_feature += m;
        }
    }
}
