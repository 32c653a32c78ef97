//! Micro-batching: requests for one model wait in a bounded queue; a thread of the model's own
//! takes the first, gathers whatever else is queued or arrives within `max_wait` (up to
//! `max_rows` rows), and runs each op once for all of them. One forward pass over 64 rows costs
//! little more than one over a single row, so under concurrency this multiplies throughput: the
//! requests that arrive during one pass make up the next. The thread keeps the model's compute
//! off the async runtime's threads.
//!
//! Overload is refused rather than queued (the caller answers 503): at once when the queue is
//! full, and when a request has waited longer than `max_queue_wait` by the time the thread takes
//! it, so the requests that are accepted keep their latency whatever the offered load.

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
    /// A request that waited longer than this for the thread is refused, not computed.
    pub max_queue_wait: Duration,
}

/// One request's rows and where its answer goes.
pub struct Job {
    pub op: Op,
    /// Raw values, `rows × features`.
    pub values: Vec<f32>,
    pub rows: usize,
    pub reply: oneshot::Sender<Result<Reply, Refused>>,
    /// When it was queued.
    pub queued: Instant,
}

/// Why a queued job got no output.
#[derive(Debug)]
pub enum Refused {
    /// It waited past `max_queue_wait`: the model is overloaded.
    Overloaded,
    /// The model could not compute it (the message says why).
    Failed(String),
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
        // Counted before it is sent, so the worker never takes a job it has not been told of.
        let depth = self.depth.fetch_add(1, Ordering::Relaxed) + 1;
        match self.sender.try_send(job) {
            Ok(()) => {
                self.metrics.queue_depth(&self.name, depth);
                Ok(())
            }
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.depth.fetch_sub(1, Ordering::Relaxed);
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
            let Some(first) = self.take(first) else {
                continue;
            };
            let mut rows = first.rows;
            let mut jobs = vec![first];
            let deadline = Instant::now() + self.limits.max_wait;
            while rows < self.limits.max_rows {
                let left = deadline.saturating_duration_since(Instant::now());
                match self.receiver.recv_timeout(left) {
                    Ok(job) => {
                        if let Some(job) = self.take(job) {
                            rows += job.rows;
                            jobs.push(job);
                        }
                    }
                    Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
                }
            }
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

    /// A job just taken from the queue, or `None` when it waited too long and was refused.
    fn take(&self, job: Job) -> Option<Job> {
        let depth = self.depth.fetch_sub(1, Ordering::Relaxed).saturating_sub(1);
        self.metrics.queue_depth(&self.name, depth);
        if job.queued.elapsed() <= self.limits.max_queue_wait {
            return Some(job);
        }
        self.metrics.shed(&self.name);
        let _ = job.reply.send(Err(Refused::Overloaded));
        None
    }

    /// One forward pass for all `jobs` (all of `op`), each answered with its own rows.
    fn run_batch(&self, op: Op, jobs: Vec<Job>, served: &Arc<Served>) {
        let features = served.features();
        // A reload may have changed the input width since these requests were checked.
        let (fit, misfit): (Vec<Job>, Vec<Job>) = jobs
            .into_iter()
            .partition(|j| j.values.len() == j.rows * features);
        for job in misfit {
            let _ = job.reply.send(Err(Refused::Failed(format!(
                "the model was reloaded and now takes rows of {features} values; send the request again"
            ))));
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
                    let _ = job.reply.send(Err(Refused::Failed(e.to_string())));
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
