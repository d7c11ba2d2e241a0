//! [`WorkerPoolBuilder`]: everything about a pool but its processor.

use std::borrow::Cow;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

use crate::queue::QueueMode;
use crate::{BuildError, WorkerPool};

type WorkerFn = Arc<dyn Fn(usize) + Send + Sync>;
type ThreadNameFn = Arc<dyn Fn(usize) -> String + Send + Sync>;

/// A pool's settings, shared with its workers.
#[derive(Clone)]
pub(crate) struct PoolConfig {
    pub(crate) name: Cow<'static, str>,
    pub(crate) num_threads: usize,
    pub(crate) thread_name: Option<ThreadNameFn>,
    pub(crate) stack_size: Option<usize>,
    pub(crate) on_worker_start: Option<WorkerFn>,
    pub(crate) on_worker_stop: Option<WorkerFn>,
    pub(crate) queue: QueueMode,
    pub(crate) queue_timeout: Option<Duration>,
    /// Whether every task's queue wait and run time are measured for the
    /// statistics.
    pub(crate) timing: bool,
}

impl PoolConfig {
    pub(crate) fn thread_name(&self, index: usize) -> String {
        match &self.thread_name {
            Some(thread_name) => thread_name(index),
            None => format!("{}-{index}", self.name),
        }
    }

    /// Runs the per-worker initialisation. A panic in it is contained: the
    /// worker runs anyway (it is the application's initialisation to make
    /// robust; a pool that never starts would lose every task).
    pub(crate) fn start_worker(&self, index: usize) {
        if let Some(on_worker_start) = &self.on_worker_start {
            let _ = catch_unwind(AssertUnwindSafe(|| on_worker_start(index)));
        }
    }

    pub(crate) fn stop_worker(&self, index: usize) {
        if let Some(on_worker_stop) = &self.on_worker_stop {
            let _ = catch_unwind(AssertUnwindSafe(|| on_worker_stop(index)));
        }
    }
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            name: Cow::Borrowed("worker-pool"),
            num_threads: std::thread::available_parallelism().map_or(1, usize::from),
            thread_name: None,
            stack_size: None,
            on_worker_start: None,
            on_worker_stop: None,
            queue: QueueMode::Unbounded,
            queue_timeout: None,
            timing: false,
        }
    }
}

impl fmt::Debug for PoolConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolConfig")
            .field("name", &self.name)
            .field("num_threads", &self.num_threads)
            .field("stack_size", &self.stack_size)
            .field("queue", &self.queue)
            .field("queue_timeout", &self.queue_timeout)
            .field("timing", &self.timing)
            .finish_non_exhaustive()
    }
}

/// Configures and starts a [`WorkerPool`].
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
/// use async_hooks_pool::{QueueMode, WorkerPool};
///
/// let started = Arc::new(AtomicUsize::new(0));
/// let counted = started.clone();
/// let pool = WorkerPool::builder()
///     .name("thumbnails")
///     .num_threads(2)
///     .thread_name(|index| format!("thumb-{index}"))
///     .on_worker_start(move |_index| {
///         counted.fetch_add(1, Ordering::SeqCst);
///     })
///     .queue(QueueMode::Wait { capacity: 64 })
///     .queue_timeout(Duration::from_secs(30))
///     .timing(true)
///     .build(|size: u32| size / 2)
///     .unwrap();
/// assert_eq!(pool.run_blocking(512), Ok(256));
/// pool.close();
/// assert_eq!(started.load(Ordering::SeqCst), 2);
/// ```
#[derive(Debug, Default)]
#[must_use = "a builder does nothing until `build`"]
pub struct WorkerPoolBuilder {
    config: PoolConfig,
}

impl WorkerPoolBuilder {
    /// A builder with the defaults: one thread per available CPU, an
    /// unbounded queue, no deadline, name `worker-pool`, no
    /// [`timing`](Self::timing).
    pub fn new() -> WorkerPoolBuilder {
        WorkerPoolBuilder::default()
    }

    /// The pool's name: the [`POOL_NAME`](crate::attributes::POOL_NAME)
    /// attribute of its tasks, and the prefix of its threads' names.
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.config.name = name.into();
        self
    }

    /// How many worker threads (at least one; default: available CPUs).
    pub fn num_threads(mut self, num_threads: usize) -> Self {
        self.config.num_threads = num_threads;
        self
    }

    /// Names worker threads: `thread_name(index)` (default:
    /// `"{pool name}-{index}"`).
    pub fn thread_name(mut self, thread_name: impl Fn(usize) -> String + Send + Sync + 'static) -> Self {
        self.config.thread_name = Some(Arc::new(thread_name));
        self
    }

    /// The stack size of worker threads, in bytes (default: std's).
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.config.stack_size = Some(bytes);
        self
    }

    /// Per-worker initialisation: runs on each worker thread with its index
    /// before it takes any task — again on a replacement worker after a
    /// panic. A panic in it is contained.
    pub fn on_worker_start(mut self, on_worker_start: impl Fn(usize) + Send + Sync + 'static) -> Self {
        self.config.on_worker_start = Some(Arc::new(on_worker_start));
        self
    }

    /// Runs on each worker thread with its index when it stops (at close,
    /// or when it is replaced after a panic).
    pub fn on_worker_stop(mut self, on_worker_stop: impl Fn(usize) + Send + Sync + 'static) -> Self {
        self.config.on_worker_stop = Some(Arc::new(on_worker_stop));
        self
    }

    /// How the queue is bounded (default: [`QueueMode::Unbounded`]).
    pub fn queue(mut self, queue: QueueMode) -> Self {
        self.config.queue = queue;
        self
    }

    /// A deadline for queued tasks: a task still queued `timeout` after its
    /// submission when a worker reaches it gets [`TaskError::TimedOut`](crate::TaskError::TimedOut)
    /// instead of running. Per task: [`TaskOptions::queue_timeout`](crate::TaskOptions::queue_timeout).
    pub fn queue_timeout(mut self, timeout: Duration) -> Self {
        self.config.queue_timeout = Some(timeout);
        self
    }

    /// Whether the pool times every task for its statistics: the
    /// [`wait_time`](crate::PoolStats::wait_time) and
    /// [`run_time`](crate::PoolStats::run_time) histograms and
    /// [`utilization`](crate::PoolStats::utilization). Default: off.
    ///
    /// Timing reads the clock three times per task (at submission, when a
    /// worker takes the task, when the processor returns). On some machines
    /// (virtual ones in particular) a clock read costs 25-60 ns, which is
    /// as much as the rest of a task's round trip through the pool, so it
    /// is opt-in. Without it the histograms stay empty and utilization is
    /// 0.0; every counter is kept either way. Independently of this
    /// setting, a task is timed whenever a hook set is enabled (so that
    /// subscribers get [`POOL_QUEUE_WAIT_US`](crate::attributes::POOL_QUEUE_WAIT_US)
    /// and [`POOL_RUN_US`](crate::attributes::POOL_RUN_US)) or it has a queue
    /// deadline, but only a pool with timing on records it in its stats.
    ///
    /// # Examples
    ///
    /// ```
    /// use async_hooks_pool::WorkerPool;
    ///
    /// let pool = WorkerPool::builder().num_threads(1).timing(true).build(|n: u64| n * 2).unwrap();
    /// assert_eq!(pool.run_blocking(21), Ok(42));
    /// let stats = pool.stats();
    /// assert_eq!((stats.wait_time.count(), stats.run_time.count()), (1, 1));
    ///
    /// let untimed = WorkerPool::new(1, |n: u64| n * 2).unwrap();
    /// assert_eq!(untimed.run_blocking(21), Ok(42));
    /// let stats = untimed.stats();
    /// assert_eq!((stats.completed, stats.run_time.count(), stats.utilization), (1, 0, 0.0));
    /// ```
    pub fn timing(mut self, enabled: bool) -> Self {
        self.config.timing = enabled;
        self
    }

    /// Starts the pool's threads; `processor` runs each task on one of them,
    /// inside the task's scope.
    ///
    /// # Errors
    ///
    /// [`BuildError::NoThreads`] for zero threads, [`BuildError::Spawn`] if
    /// a thread could not be started (those already started are stopped).
    pub fn build<T, R>(self, processor: impl Fn(T) -> R + Send + Sync + 'static) -> Result<WorkerPool<T, R>, BuildError>
    where
        T: Send + 'static,
        R: Send + 'static,
    {
        WorkerPool::start(self.config, Box::new(processor))
    }
}
