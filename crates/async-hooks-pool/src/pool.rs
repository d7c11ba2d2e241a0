//! [`WorkerPool`]: submission, close and stats.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use async_hooks_core::{Attribute, AttributeSet, AttributeValue};

use crate::attributes::POOL_NAME;
use crate::builder::{PoolConfig, WorkerPoolBuilder};
use crate::future::{TaskFuture, task_future};
use crate::gate::SubmitGate;
use crate::queue::TaskQueue;
use crate::stats::{PoolMetrics, PoolStats};
use crate::sync::lock;
use crate::task::{Job, OwnedJob, TaskCore, TaskHandle, TaskOptions, cancellable_job};
use crate::worker::{is_worker_of, spawn_worker};
use crate::{BuildError, QueueMode, SubmitError, TaskError};

type Processor<T, R> = Box<dyn Fn(T) -> R + Send + Sync>;

/// What a pool's handle and its workers share.
pub(crate) struct Shared<T, R> {
    pub(crate) id: u64,
    pub(crate) config: PoolConfig,
    pub(crate) processor: Processor<T, R>,
    pub(crate) queue: TaskQueue<T, R>,
    pub(crate) gate: SubmitGate,
    /// Set by a forced shutdown: queued tasks get `Closed` instead of running.
    pub(crate) forced: AtomicBool,
    /// Set when a worker closed the pool and no helper thread could be
    /// started to finish the close: the workers finish it themselves
    /// ([`finish_close_on_worker`]).
    pub(crate) stops_owed: AtomicBool,
    pub(crate) metrics: Arc<PoolMetrics>,
    /// Join handles of the running workers (replacements add theirs).
    pub(crate) workers: Mutex<Vec<JoinHandle<()>>>,
    /// `pool.name`, built once and shared by every task's resource.
    attributes: AttributeSet,
}

/// A pool of worker threads whose tasks are async resources: Node's
/// "`AsyncResource` for a `Worker` thread pool", in Rust.
///
/// Each submission creates a [`WorkerPoolTask`](crate::attributes::TASK_RESOURCE_TYPE)
/// resource right away, in the submitter's execution: its trigger is the
/// submitter and it keeps the submitter's context (every
/// `AsyncLocalStorage` value). The processor and then the callback each run
/// in a scope of that resource on the worker thread, so both see the
/// submitter's context however long the task was queued. Then the resource
/// is destroyed: every task has `init`, two `before`/`after` pairs (one if
/// it never ran), and `destroy` last.
///
/// Every callback is called exactly once, on every path: with the result,
/// or with a [`TaskError`] if the processor panicked, the task was
/// cancelled, timed out in the queue, was refused (queue full, pool closed)
/// or dropped by a forced shutdown.
///
/// Where callbacks run: on the worker thread that ran the task, after the
/// processor (so keep them short; they delay that worker's next task). A
/// callback for a task that never reached a worker runs where that was
/// decided: on the submitting thread for a refusal (before `run_task`
/// returns), on the cancelling thread for a cancellation. A callback's panic
/// is contained and counted in [`PoolStats::callback_panics`].
///
/// Dropping the pool closes it gracefully ([`close`](Self::close)).
///
/// # Examples
///
/// ```
/// use std::sync::mpsc;
/// use async_hooks_context::AsyncLocalStorage;
/// use async_hooks_pool::WorkerPool;
///
/// static REQUEST: AsyncLocalStorage<u32> = AsyncLocalStorage::new();
///
/// let pool = WorkerPool::new(2, |(a, b): (u32, u32)| (a + b, REQUEST.get())).unwrap();
/// let (sender, results) = mpsc::channel();
/// for request in 0..4 {
///     let sender = sender.clone();
///     REQUEST.run(request, || {
///         pool.run_task((42, 100), move |result| {
///             // The callback, too, runs in the submitter's context.
///             sender.send((result, REQUEST.get())).unwrap();
///         })
///     })
///     .unwrap();
/// }
/// drop(sender);
/// for (result, seen_by_callback) in results {
///     let (sum, seen_by_processor) = result.unwrap();
///     assert_eq!(sum, 142);
///     assert_eq!(seen_by_processor, seen_by_callback);
/// }
/// pool.close();
/// ```
pub struct WorkerPool<T: Send + 'static, R: Send + 'static> {
    shared: Arc<Shared<T, R>>,
}

impl WorkerPool<(), ()> {
    /// A builder for a pool with more than a thread count.
    pub fn builder() -> WorkerPoolBuilder {
        WorkerPoolBuilder::new()
    }
}

impl<T, R> WorkerPool<T, R>
where
    T: Send + 'static,
    R: Send + 'static,
{
    /// A pool of `num_threads` workers running `processor`, with an
    /// unbounded queue. See [`WorkerPool::builder`] for the rest.
    ///
    /// # Errors
    ///
    /// [`BuildError::NoThreads`] if `num_threads` is 0, [`BuildError::Spawn`]
    /// if a thread could not be started.
    pub fn new(num_threads: usize, processor: impl Fn(T) -> R + Send + Sync + 'static) -> Result<Self, BuildError> {
        WorkerPoolBuilder::new().num_threads(num_threads).build(processor)
    }

    pub(crate) fn start(config: PoolConfig, processor: Processor<T, R>) -> Result<Self, BuildError> {
        static NEXT_POOL_ID: AtomicU64 = AtomicU64::new(1);
        if config.num_threads == 0 {
            return Err(BuildError::NoThreads);
        }
        let shared = Arc::new(Shared {
            id: NEXT_POOL_ID.fetch_add(1, Ordering::Relaxed),
            attributes: AttributeSet::new([Attribute::new(POOL_NAME, AttributeValue::Str(config.name.clone()))]),
            metrics: Arc::new(PoolMetrics::new(config.num_threads)),
            queue: TaskQueue::new(config.queue),
            gate: SubmitGate::new(config.num_threads),
            forced: AtomicBool::new(false),
            stops_owed: AtomicBool::new(false),
            workers: Mutex::new(Vec::with_capacity(config.num_threads)),
            processor,
            config,
        });
        let pool = WorkerPool { shared };
        for index in 0..pool.shared.config.num_threads {
            match spawn_worker(&pool.shared, index) {
                Ok(handle) => lock(&pool.shared.workers).push(handle),
                Err(error) => {
                    // Stop the ones that did start: send one stop per
                    // started worker, then join them.
                    pool.shared.gate.close();
                    for _ in 0..index {
                        pool.shared.queue.push_stop();
                    }
                    pool.join_workers();
                    return Err(BuildError::Spawn(error));
                }
            }
        }
        Ok(pool)
    }

    /// Submits `task`; `callback` gets the processor's result (or why there
    /// is none), in the task's scope.
    ///
    /// # Errors
    ///
    /// [`SubmitError::QueueFull`] (reject mode) or [`SubmitError::Closed`],
    /// with the task handed back. The callback has then already been called
    /// with [`TaskError::QueueFull`] or [`TaskError::Closed`], on this
    /// thread. In [`QueueMode::Wait`], a full queue blocks instead.
    #[track_caller]
    pub fn run_task(
        &self,
        task: T,
        callback: impl FnOnce(Result<R, TaskError>) + Send + 'static,
    ) -> Result<(), SubmitError<T>> {
        self.submit(task, None, callback, false).map(|_| ())
    }

    /// [`run_task`](Self::run_task) with per-task options, returning a
    /// [`TaskHandle`] that can cancel the task while it is queued.
    ///
    /// # Errors
    ///
    /// As [`run_task`](Self::run_task).
    #[track_caller]
    pub fn run_task_with(
        &self,
        task: T,
        options: TaskOptions,
        callback: impl FnOnce(Result<R, TaskError>) + Send + 'static,
    ) -> Result<TaskHandle, SubmitError<T>> {
        let handle = self.submit(task, options.queue_timeout_value(), callback, true)?;
        Ok(handle.expect("submit returns a handle when asked to (bug in async-hooks-pool)"))
    }

    /// Submits `task` and returns its result to `.await` (or to
    /// [`wait`](TaskFuture::wait) for). The task's resource is created now,
    /// in the caller's context. A refusal resolves the future with
    /// [`TaskError::QueueFull`] or [`TaskError::Closed`] (the task is
    /// dropped; use [`run_task`](Self::run_task) to get it back). In
    /// [`QueueMode::Wait`], a full queue blocks this call.
    #[track_caller]
    pub fn run(&self, task: T) -> TaskFuture<R> {
        let (future, promise) = task_future();
        // On refusal the callback has completed the future already.
        let _ = self.submit(task, None, move |result| promise.complete(result), false);
        future
    }

    /// Submits `task` and blocks until its result is there.
    ///
    /// # Errors
    ///
    /// The [`TaskError`] the task ended with.
    #[track_caller]
    pub fn run_blocking(&self, task: T) -> Result<R, TaskError> {
        self.run(task).wait()
    }

    /// Creates the task's resource at the caller's caller's location (the
    /// user's, through `#[track_caller]`), and queues or refuses it.
    #[track_caller]
    #[inline]
    fn submit<F>(
        &self,
        task: T,
        queue_timeout: Option<std::time::Duration>,
        callback: F,
        cancellable: bool,
    ) -> Result<Option<TaskHandle>, SubmitError<T>>
    where
        F: FnOnce(Result<R, TaskError>) + Send + 'static,
    {
        let shared = &*self.shared;
        let queue_timeout = queue_timeout.or(shared.config.queue_timeout);
        let core = TaskCore::new(&shared.attributes, queue_timeout, shared.config.timing);
        let (job, handle): (Box<dyn Job<T, R>>, _) = if cancellable {
            let (job, handle) = cancellable_job(task, core, callback, shared.metrics.clone());
            (job, Some(handle))
        } else {
            (Box::new(OwnedJob::new(task, core, callback)), None)
        };
        if !shared.gate.enter() {
            shared.metrics.task_closed();
            return Err(SubmitError::Closed(job.refuse(TaskError::Closed)));
        }
        match shared.queue.push(job) {
            Ok(()) => Ok(handle),
            Err(job) => {
                shared.gate.job_unqueued();
                shared.metrics.task_rejected();
                Err(SubmitError::QueueFull(job.refuse(TaskError::QueueFull)))
            }
        }
    }
}

impl<T: Send + 'static, R: Send + 'static> WorkerPool<T, R> {
    /// Closes the pool gracefully: refuses new tasks, lets the workers run
    /// every queued task (each callback runs), then joins them. Idempotent.
    ///
    /// Called on a worker of this pool (from a processor or a callback), it
    /// only starts the close and returns: a thread cannot join itself. The
    /// workers then stop after the queue drains, and dropping the pool joins
    /// them.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use async_hooks_pool::WorkerPool;
    ///
    /// let pool = WorkerPool::new(2, |n: u64| n).unwrap();
    /// let called = Arc::new(AtomicUsize::new(0));
    /// for n in 0..1000 {
    ///     let called = called.clone();
    ///     pool.run_task(n, move |result| {
    ///         assert_eq!(result, Ok(n));
    ///         called.fetch_add(1, Ordering::SeqCst);
    ///     })
    ///     .unwrap();
    /// }
    /// pool.close();
    /// assert_eq!(called.load(Ordering::SeqCst), 1000);
    /// ```
    pub fn close(&self) {
        self.shutdown(false);
    }

    /// Shuts the pool down now: refuses new tasks; every task still queued
    /// gets [`TaskError::Closed`] instead of running; tasks already running
    /// finish (threads cannot be killed) and get their result; then the
    /// workers are joined. Also finishes a graceful [`close`](Self::close)
    /// in progress elsewhere this way. Idempotent. On a worker of this pool,
    /// it returns without joining, as `close` does.
    pub fn terminate(&self) {
        self.shutdown(true);
    }

    fn shutdown(&self, forced: bool) {
        let shared = &*self.shared;
        if forced {
            shared.forced.store(true, Ordering::Release);
        }
        let closed_now = shared.gate.close();
        if is_worker_of(shared.id) {
            // A worker cannot wait here: a submitter blocked on a full queue
            // (wait mode) or the stop messages themselves may need this very
            // worker to drain the queue first. A helper thread does the rest;
            // it ends as soon as the stops are queued.
            if closed_now {
                let helper_shared = self.shared.clone();
                let helper = std::thread::Builder::new()
                    .name(format!("{}-closer", shared.config.name))
                    .spawn(move || finish_close(&helper_shared));
                if helper.is_err() {
                    // No thread to be had: the workers finish the close
                    // themselves, this one first when it is back in its loop.
                    shared.stops_owed.store(true, Ordering::Release);
                }
            }
            return;
        }
        if closed_now {
            finish_close(shared);
        } else {
            // Another closer queues the stops; return only once every
            // admitted task has reached a worker (the join below may find no
            // handle left, the other closer joining them).
            shared.gate.wait_until_all_received();
        }
        self.join_workers();
    }

    fn join_workers(&self) {
        loop {
            // Pop under the lock, join outside it: a worker that replaces
            // itself pushes its replacement's handle meanwhile.
            let handle = lock(&self.shared.workers).pop();
            match handle {
                // A worker thread only panics on a bug of ours (user code is
                // contained); it has delivered what it could.
                Some(handle) => drop(handle.join()),
                None => break,
            }
        }
    }

    /// Whether [`close`](Self::close) or [`terminate`](Self::terminate) was
    /// called.
    pub fn is_closed(&self) -> bool {
        self.shared.gate.is_closed()
    }

    /// The pool's name.
    pub fn name(&self) -> &str {
        &self.shared.config.name
    }

    /// The number of worker threads.
    pub fn num_threads(&self) -> usize {
        self.shared.config.num_threads
    }

    /// The queue's bound.
    pub fn queue_mode(&self) -> QueueMode {
        self.shared.queue.mode()
    }

    /// A snapshot of the pool's statistics.
    pub fn stats(&self) -> PoolStats {
        self.shared.metrics.snapshot(self.shared.queue.len())
    }

    /// Empties the wait and run time histograms (counters stay), for
    /// interval statistics.
    pub fn reset_histograms(&self) {
        self.shared.metrics.reset_histograms();
    }
}

/// After the gate closed, off the pool's workers: waits until the workers
/// have taken every admitted job off the queue, then queues one stop
/// message per worker, behind all of them.
fn finish_close<T, R>(shared: &Shared<T, R>) {
    shared.gate.wait_until_all_received();
    for _ in 0..shared.config.num_threads {
        shared.queue.push_stop();
    }
}

/// [`finish_close`] on a worker, when no helper thread could be started
/// (`stops_owed` is set): if the workers have taken every admitted job,
/// queues a stop for each other worker and returns true: the calling worker
/// then stops too. Otherwise returns false, and the worker takes another
/// job (without blocking for long, to check again).
pub(crate) fn finish_close_on_worker<T, R>(shared: &Shared<T, R>) -> bool {
    if !shared.gate.all_received() || !shared.stops_owed.swap(false, Ordering::AcqRel) {
        return false;
    }
    for _ in 1..shared.config.num_threads {
        shared.queue.push_stop();
    }
    true
}

impl<T: Send + 'static, R: Send + 'static> Drop for WorkerPool<T, R> {
    fn drop(&mut self) {
        self.shutdown(false);
    }
}

impl<T: Send + 'static, R: Send + 'static> fmt::Debug for WorkerPool<T, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerPool")
            .field("name", &self.shared.config.name)
            .field("num_threads", &self.shared.config.num_threads)
            .field("queue", &self.shared.config.queue)
            .field("closed", &self.shared.gate.is_closed())
            .finish()
    }
}
