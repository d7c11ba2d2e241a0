//! Pool statistics: counters and log2 histograms kept per worker (so
//! workers never contend on them), summed into a [`PoolStats`] snapshot on
//! demand.

use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;

use crate::sync::lock;

/// Number of histogram buckets: bucket `i` holds durations in
/// `[2^(i-1), 2^i)` nanoseconds (bucket 0: zero), so 64 cover every `u64`.
const BUCKETS: usize = 64;

/// A histogram of durations with fixed power-of-two buckets, updated with
/// relaxed atomics.
pub(crate) struct Histogram {
    buckets: [AtomicU64; BUCKETS],
    sum_nanos: AtomicU64,
}

impl Histogram {
    fn new() -> Histogram {
        Histogram { buckets: std::array::from_fn(|_| AtomicU64::new(0)), sum_nanos: AtomicU64::new(0) }
    }

    /// Only the owning worker records, so a load and a store replace the
    /// (much dearer) atomic read-modify-write; readers see each value whole.
    #[inline]
    fn record(&self, duration: Duration) {
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        add_single_writer(&self.buckets[bucket_of(nanos)], 1);
        add_single_writer(&self.sum_nanos, nanos);
    }

    fn add_to(&self, snapshot: &mut HistogramSnapshot) {
        for (total, bucket) in snapshot.buckets.iter_mut().zip(&self.buckets) {
            *total += bucket.load(Ordering::Relaxed);
        }
        snapshot.sum_nanos = snapshot.sum_nanos.saturating_add(self.sum_nanos.load(Ordering::Relaxed));
    }
}

/// Adds to a counter that only one thread ever writes.
#[inline]
fn add_single_writer(counter: &AtomicU64, amount: u64) {
    counter.store(counter.load(Ordering::Relaxed).wrapping_add(amount), Ordering::Relaxed);
}

#[inline]
fn bucket_of(nanos: u64) -> usize {
    // 0 -> 0, 1 -> 1, 2..=3 -> 2, 4..=7 -> 3, ...
    (u64::BITS - nanos.leading_zeros()).min(BUCKETS as u32 - 1) as usize
}

/// The exclusive upper bound of bucket `index`, in nanoseconds.
fn upper_bound_of(index: usize) -> u64 {
    if index == 0 { 1 } else { 1_u64.checked_shl(index as u32).unwrap_or(u64::MAX) }
}

/// A snapshot of a duration histogram with power-of-two buckets.
///
/// Percentiles are bucket upper bounds: within a factor of two of the true
/// value, which is what a log2 histogram buys for its constant size.
///
/// # Examples
///
/// ```
/// use async_hooks_pool::WorkerPool;
///
/// let pool = WorkerPool::builder().num_threads(1).timing(true).build(|n: u32| n).unwrap();
/// for n in 0..10 {
///     pool.run_blocking(n).unwrap();
/// }
/// let run_time = pool.stats().run_time;
/// assert_eq!(run_time.count(), 10);
/// assert!(run_time.percentile(0.5) <= run_time.percentile(0.99));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct HistogramSnapshot {
    buckets: [u64; BUCKETS],
    sum_nanos: u64,
}

impl Default for HistogramSnapshot {
    fn default() -> Self {
        HistogramSnapshot { buckets: [0; BUCKETS], sum_nanos: 0 }
    }
}

impl HistogramSnapshot {
    fn subtract(&mut self, baseline: &HistogramSnapshot) {
        for (bucket, base) in self.buckets.iter_mut().zip(&baseline.buckets) {
            *bucket = bucket.saturating_sub(*base);
        }
        self.sum_nanos = self.sum_nanos.saturating_sub(baseline.sum_nanos);
    }

    /// How many durations were recorded.
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// The exact mean (from the exact sum), or zero if empty.
    pub fn mean(&self) -> Duration {
        self.sum_nanos.checked_div(self.count()).map_or(Duration::ZERO, Duration::from_nanos)
    }

    /// The exact sum of all recorded durations.
    pub fn sum(&self) -> Duration {
        Duration::from_nanos(self.sum_nanos)
    }

    /// An upper bound of the `quantile` (`0.0..=1.0`, clamped): the upper
    /// bound of the bucket holding it. Zero if empty.
    pub fn percentile(&self, quantile: f64) -> Duration {
        let count = self.count();
        if count == 0 {
            return Duration::ZERO;
        }
        let quantile = if quantile.is_nan() { 1.0 } else { quantile.clamp(0.0, 1.0) };
        // The rank of the wanted sample, 1-based, at least 1.
        let rank = ((quantile * count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (index, bucket) in self.buckets.iter().enumerate() {
            seen += bucket;
            if seen >= rank {
                return Duration::from_nanos(upper_bound_of(index));
            }
        }
        Duration::from_nanos(u64::MAX)
    }

    /// The upper bound of the largest recorded duration's bucket.
    pub fn max(&self) -> Duration {
        self.percentile(1.0)
    }

    /// The non-empty buckets as `(lower bound, upper bound, count)`.
    pub fn buckets(&self) -> impl Iterator<Item = (Duration, Duration, u64)> + '_ {
        self.buckets.iter().enumerate().filter(|(_, count)| **count > 0).map(|(index, count)| {
            let lower = if index == 0 { 0 } else { upper_bound_of(index - 1) };
            (Duration::from_nanos(lower), Duration::from_nanos(upper_bound_of(index)), *count)
        })
    }
}

impl fmt::Debug for HistogramSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HistogramSnapshot")
            .field("count", &self.count())
            .field("mean", &self.mean())
            .field("p50", &self.percentile(0.5))
            .field("p99", &self.percentile(0.99))
            .field("max", &self.max())
            .finish()
    }
}

/// The statistics one worker slot keeps. Only that slot's worker writes
/// them (a replacement starts after its predecessor's last write; thread
/// spawn orders the two). Resetting never writes them: it moves a baseline.
pub(crate) struct WorkerMetrics {
    completed: AtomicU64,
    panicked: AtomicU64,
    busy_nanos: AtomicU64,
    running: AtomicBool,
    wait_time: Histogram,
    run_time: Histogram,
}

impl WorkerMetrics {
    fn new() -> WorkerMetrics {
        WorkerMetrics {
            completed: AtomicU64::new(0),
            panicked: AtomicU64::new(0),
            busy_nanos: AtomicU64::new(0),
            running: AtomicBool::new(false),
            wait_time: Histogram::new(),
            run_time: Histogram::new(),
        }
    }

    /// A task's processor starts; `waited` is its queue wait if the pool
    /// measures time.
    #[inline]
    pub(crate) fn task_started(&self, waited: Option<Duration>) {
        if let Some(waited) = waited {
            self.wait_time.record(waited);
        }
        self.running.store(true, Ordering::Relaxed);
    }

    /// A task's processor returned or panicked; `run_time` is how long it
    /// ran if the pool measures time.
    #[inline]
    pub(crate) fn task_finished(&self, run_time: Option<Duration>, panicked: bool) {
        self.running.store(false, Ordering::Relaxed);
        if let Some(run_time) = run_time {
            self.run_time.record(run_time);
            let nanos = u64::try_from(run_time.as_nanos()).unwrap_or(u64::MAX);
            add_single_writer(&self.busy_nanos, nanos);
        }
        add_single_writer(if panicked { &self.panicked } else { &self.completed }, 1);
    }

    /// Records the queue wait of a task that never ran.
    #[inline]
    pub(crate) fn task_skipped(&self, waited: Option<Duration>) {
        if let Some(waited) = waited {
            self.wait_time.record(waited);
        }
    }
}

/// Every statistic of one pool.
pub(crate) struct PoolMetrics {
    started: Instant,
    workers: Box<[CachePadded<WorkerMetrics>]>,
    /// Cancelled tasks still in the channel (a worker drops them when it
    /// reaches them): the queue size is the channel's length minus these,
    /// so that submitters and workers share no counter on the hot path.
    cancelled_in_queue: AtomicUsize,
    cancelled: AtomicU64,
    timed_out: AtomicU64,
    closed: AtomicU64,
    rejected: AtomicU64,
    workers_replaced: AtomicU64,
    callback_panics: AtomicU64,
    /// Wait and run time histograms at the last reset, subtracted from
    /// every snapshot (workers stay the only writers of their histograms).
    histogram_baseline: Mutex<Option<(HistogramSnapshot, HistogramSnapshot)>>,
}

impl PoolMetrics {
    pub(crate) fn new(num_threads: usize) -> PoolMetrics {
        PoolMetrics {
            started: Instant::now(),
            workers: (0..num_threads).map(|_| CachePadded::new(WorkerMetrics::new())).collect(),
            cancelled_in_queue: AtomicUsize::new(0),
            cancelled: AtomicU64::new(0),
            timed_out: AtomicU64::new(0),
            closed: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            workers_replaced: AtomicU64::new(0),
            callback_panics: AtomicU64::new(0),
            histogram_baseline: Mutex::new(None),
        }
    }

    pub(crate) fn worker(&self, index: usize) -> &WorkerMetrics {
        &self.workers[index]
    }

    pub(crate) fn task_cancelled(&self) {
        self.cancelled_in_queue.fetch_add(1, Ordering::Relaxed);
        self.cancelled.fetch_add(1, Ordering::Relaxed);
    }

    /// A worker reached a task that was cancelled while queued.
    pub(crate) fn cancelled_task_dequeued(&self) {
        self.cancelled_in_queue.fetch_sub(1, Ordering::Relaxed);
    }

    pub(crate) fn task_timed_out(&self) {
        self.timed_out.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn task_closed(&self) {
        self.closed.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn task_rejected(&self) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn worker_replaced(&self) {
        self.workers_replaced.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn callback_panicked(&self) {
        self.callback_panics.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn reset_histograms(&self) {
        let (wait_time, run_time) = self.raw_histograms();
        *lock(&self.histogram_baseline) = Some((wait_time, run_time));
    }

    fn raw_histograms(&self) -> (HistogramSnapshot, HistogramSnapshot) {
        let (mut wait_time, mut run_time) = (HistogramSnapshot::default(), HistogramSnapshot::default());
        for worker in self.workers.iter() {
            worker.wait_time.add_to(&mut wait_time);
            worker.run_time.add_to(&mut run_time);
        }
        (wait_time, run_time)
    }

    pub(crate) fn snapshot(&self, messages_in_queue: usize) -> PoolStats {
        let mut stats = PoolStats {
            threads: self.workers.len(),
            queued: messages_in_queue.saturating_sub(self.cancelled_in_queue.load(Ordering::Relaxed)),
            running: 0,
            completed: 0,
            panicked: 0,
            cancelled: self.cancelled.load(Ordering::Relaxed),
            timed_out: self.timed_out.load(Ordering::Relaxed),
            closed: self.closed.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            workers_replaced: self.workers_replaced.load(Ordering::Relaxed),
            callback_panics: self.callback_panics.load(Ordering::Relaxed),
            utilization: 0.0,
            uptime: self.started.elapsed(),
            wait_time: HistogramSnapshot::default(),
            run_time: HistogramSnapshot::default(),
        };
        let mut busy_nanos = 0_u64;
        for worker in self.workers.iter() {
            stats.running += usize::from(worker.running.load(Ordering::Relaxed));
            stats.completed += worker.completed.load(Ordering::Relaxed);
            stats.panicked += worker.panicked.load(Ordering::Relaxed);
            busy_nanos = busy_nanos.saturating_add(worker.busy_nanos.load(Ordering::Relaxed));
        }
        let (mut wait_time, mut run_time) = self.raw_histograms();
        if let Some((wait_baseline, run_baseline)) = &*lock(&self.histogram_baseline) {
            wait_time.subtract(wait_baseline);
            run_time.subtract(run_baseline);
        }
        stats.wait_time = wait_time;
        stats.run_time = run_time;
        let capacity_nanos = stats.uptime.as_nanos() as f64 * stats.threads as f64;
        if capacity_nanos > 0.0 {
            stats.utilization = (busy_nanos as f64 / capacity_nanos).clamp(0.0, 1.0);
        }
        stats
    }
}

/// A snapshot of a pool's statistics ([`WorkerPool::stats`](crate::WorkerPool::stats)).
///
/// Counters are cumulative since the pool started; histograms since start
/// or the last [`reset_histograms`](crate::WorkerPool::reset_histograms).
/// The histograms and `utilization` need
/// [`timing`](crate::WorkerPoolBuilder::timing) (off by default: it reads
/// the clock three times per task); without it they stay empty and 0.0.
///
/// # Examples
///
/// ```
/// use async_hooks_pool::WorkerPool;
///
/// let pool = WorkerPool::new(2, |n: u32| n).unwrap();
/// pool.run_blocking(1).unwrap();
/// let stats = pool.stats();
/// assert_eq!((stats.threads, stats.completed, stats.queued), (2, 1, 0));
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct PoolStats {
    /// Worker threads.
    pub threads: usize,
    /// Tasks waiting in the queue now (cancelled tasks leave it at once).
    pub queued: usize,
    /// Tasks whose processor is running now.
    pub running: usize,
    /// Tasks whose processor returned.
    pub completed: u64,
    /// Tasks whose processor panicked.
    pub panicked: u64,
    /// Tasks cancelled while queued.
    pub cancelled: u64,
    /// Tasks whose queue deadline passed.
    pub timed_out: u64,
    /// Tasks that got [`TaskError::Closed`](crate::TaskError::Closed):
    /// refused after close, or dropped from the queue by a forced shutdown.
    pub closed: u64,
    /// Tasks refused because the queue was full.
    pub rejected: u64,
    /// Workers replaced after a panic.
    pub workers_replaced: u64,
    /// Callbacks that panicked (contained; the worker carries on).
    pub callback_panics: u64,
    /// Fraction of the pool's thread time spent running processors since it
    /// started, `0.0..=1.0`; 0.0 without [`timing`](crate::WorkerPoolBuilder::timing).
    pub utilization: f64,
    /// How long the pool has existed.
    pub uptime: Duration,
    /// Time from submission until a worker took the task; empty without
    /// [`timing`](crate::WorkerPoolBuilder::timing).
    pub wait_time: HistogramSnapshot,
    /// Time the processor ran; empty without
    /// [`timing`](crate::WorkerPoolBuilder::timing).
    pub run_time: HistogramSnapshot,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_powers_of_two() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(1), 1);
        assert_eq!(bucket_of(3), 2);
        assert_eq!(bucket_of(4), 3);
        assert_eq!(bucket_of(u64::MAX), 63);
        assert_eq!(upper_bound_of(3), 8);
    }

    #[test]
    fn percentiles_are_bucket_upper_bounds() {
        let histogram = Histogram::new();
        for nanos in [100, 100, 100, 5_000] {
            histogram.record(Duration::from_nanos(nanos));
        }
        let mut snapshot = HistogramSnapshot::default();
        histogram.add_to(&mut snapshot);
        assert_eq!(snapshot.count(), 4);
        assert_eq!(snapshot.percentile(0.5), Duration::from_nanos(128));
        assert_eq!(snapshot.max(), Duration::from_nanos(8192));
        assert_eq!(snapshot.mean(), Duration::from_nanos(1325));
        assert_eq!(snapshot.buckets().count(), 2);
    }
}
