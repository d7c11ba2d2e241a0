//! One submitted task: its async resource, its callback, its timing, and
//! the [`TaskHandle`] that can cancel it while it is queued.

use std::fmt;
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, Location, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_hooks_core::{AsyncId, AsyncResource, Attribute, AttributeValue};

use crate::TaskError;
use crate::attributes::{POOL_NAME, POOL_OUTCOME, POOL_RUN_US, TASK_RESOURCE_TYPE, micros};
use crate::stats::PoolMetrics;
use crate::sync::lock;

/// How a task ended, as subscribers read it in [`POOL_OUTCOME`].
///
/// # Examples
///
/// ```
/// use async_hooks_pool::{Outcome, TaskError};
///
/// assert_eq!(Outcome::of(&Ok::<u32, TaskError>(1)).as_str(), "ok");
/// assert_eq!(Outcome::of(&Err::<u32, _>(TaskError::Cancelled)).as_str(), "cancelled");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// The processor returned a result: `"ok"`.
    Ok,
    /// The processor panicked: `"panicked"`.
    Panicked,
    /// Cancelled while queued: `"cancelled"`.
    Cancelled,
    /// Queue deadline passed: `"timed_out"`.
    TimedOut,
    /// The pool closed before the task ran: `"closed"`.
    Closed,
    /// Refused because the queue was full: `"queue_full"`.
    QueueFull,
}

impl Outcome {
    /// The outcome of a task that ended with `result`.
    pub fn of<R>(result: &Result<R, TaskError>) -> Outcome {
        match result {
            Ok(_) => Outcome::Ok,
            Err(TaskError::Panicked(_)) => Outcome::Panicked,
            Err(TaskError::Cancelled) => Outcome::Cancelled,
            Err(TaskError::TimedOut) => Outcome::TimedOut,
            Err(TaskError::Closed) => Outcome::Closed,
            Err(TaskError::QueueFull) => Outcome::QueueFull,
        }
    }

    /// The value of [`POOL_OUTCOME`] for this outcome.
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Panicked => "panicked",
            Outcome::Cancelled => "cancelled",
            Outcome::TimedOut => "timed_out",
            Outcome::Closed => "closed",
            Outcome::QueueFull => "queue_full",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Options for one task ([`WorkerPool::run_task_with`](crate::WorkerPool::run_task_with)).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use async_hooks_pool::TaskOptions;
///
/// let options = TaskOptions::new().queue_timeout(Duration::from_secs(5));
/// assert_eq!(options.queue_timeout_value(), Some(Duration::from_secs(5)));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TaskOptions {
    queue_timeout: Option<Duration>,
}

impl TaskOptions {
    /// The pool's defaults.
    pub fn new() -> TaskOptions {
        TaskOptions::default()
    }

    /// If the task is still queued `timeout` after submission when a worker
    /// reaches it, its callback gets [`TaskError::TimedOut`] instead of the
    /// task running. Overrides the pool's
    /// [`queue_timeout`](crate::WorkerPoolBuilder::queue_timeout).
    pub fn queue_timeout(mut self, timeout: Duration) -> TaskOptions {
        self.queue_timeout = Some(timeout);
        self
    }

    /// The queue timeout set with [`queue_timeout`](Self::queue_timeout).
    pub fn queue_timeout_value(&self) -> Option<Duration> {
        self.queue_timeout
    }
}

/// The shared state of one task, from submission to its callback, as the
/// queue, the workers and a [`TaskHandle`] see it (the callback's type
/// erased, so that the task and its callback share one allocation).
///
/// Whoever [`claim`](Self::claim)s the task — the worker that dequeues it,
/// a canceller, the submitter on refusal — is the one who delivers its
/// callback: that is what makes every callback run exactly once.
pub(crate) trait TaskSlot<R>: Send + Sync {
    /// True for exactly one caller.
    fn claim(&self) -> bool;
    /// Runs the callback with `result` in the task's scope, then dispatches
    /// `destroy`, the task's last event. Only the claimer calls it, once.
    /// `run_time` is the processor's, if it ran. Returns whether the
    /// callback panicked (the panic is contained).
    fn deliver(&self, result: Result<R, TaskError>, run_time: Option<Duration>) -> bool;
    fn resource(&self) -> &AsyncResource;
    fn submitted_at(&self) -> Instant;
    fn deadline(&self) -> Option<Instant>;
}

/// The [`TaskSlot`] of a task whose callback is an `F`.
pub(crate) struct TaskCell<R, F: FnOnce(Result<R, TaskError>) + Send> {
    claimed: AtomicBool,
    /// Only the claimer locks it, so the lock is never contended; it is
    /// there because the callback is taken out through a shared reference.
    callback: Mutex<Option<F>>,
    resource: AsyncResource,
    submitted_at: Instant,
    deadline: Option<Instant>,
    _result: PhantomData<fn(R)>,
}

impl<R, F> TaskCell<R, F>
where
    F: FnOnce(Result<R, TaskError>) + Send,
{
    /// Creates the task's resource (dispatching `init` in the submitter's
    /// execution, so its trigger is the submitter and it keeps the
    /// submitter's context).
    #[inline]
    pub(crate) fn new(
        pool_name: &AttributeValue,
        callback: F,
        queue_timeout: Option<Duration>,
        location: &'static Location<'static>,
    ) -> TaskCell<R, F> {
        let resource = AsyncResource::builder(TASK_RESOURCE_TYPE)
            .attribute(POOL_NAME, pool_name.clone())
            .location(location)
            .build();
        let submitted_at = Instant::now();
        TaskCell {
            claimed: AtomicBool::new(false),
            callback: Mutex::new(Some(callback)),
            resource,
            submitted_at,
            deadline: queue_timeout.and_then(|timeout| submitted_at.checked_add(timeout)),
            _result: PhantomData,
        }
    }
}

impl<R, F> TaskSlot<R> for TaskCell<R, F>
where
    F: FnOnce(Result<R, TaskError>) + Send,
{
    #[inline]
    fn claim(&self) -> bool {
        !self.claimed.swap(true, Ordering::AcqRel)
    }

    fn deliver(&self, result: Result<R, TaskError>, run_time: Option<Duration>) -> bool {
        let outcome = Outcome::of(&result).as_str();
        match run_time {
            Some(run_time) => self
                .resource
                .record(&[Attribute::new(POOL_RUN_US, micros(run_time)), Attribute::new(POOL_OUTCOME, outcome)]),
            None => self.resource.record(&[Attribute::new(POOL_OUTCOME, outcome)]),
        }
        let callback = lock(&self.callback).take();
        let callback_panicked = match callback {
            Some(callback) => {
                self.resource.run_in_async_scope(|| catch_unwind(AssertUnwindSafe(move || callback(result))).is_err())
            }
            // Only the claimer delivers, once.
            None => unreachable!("a task's callback was delivered twice (bug in async-hooks-pool)"),
        };
        let _ = self.resource.emit_destroy();
        callback_panicked
    }

    fn resource(&self) -> &AsyncResource {
        &self.resource
    }

    fn submitted_at(&self) -> Instant {
        self.submitted_at
    }

    fn deadline(&self) -> Option<Instant> {
        self.deadline
    }
}

impl<R, F: FnOnce(Result<R, TaskError>) + Send> Drop for TaskCell<R, F> {
    fn drop(&mut self) {
        // A safety net: every path delivers explicitly, but a task dropped
        // unclaimed (its queue torn down) still gets its callback.
        if !*self.claimed.get_mut() {
            let callback = self.callback.get_mut().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
            if let Some(callback) = callback {
                let result = self
                    .resource
                    .run_in_async_scope(|| catch_unwind(AssertUnwindSafe(move || callback(Err(TaskError::Closed)))));
                drop(result);
                let _ = self.resource.emit_destroy();
            }
        }
    }
}

impl<R, F: FnOnce(Result<R, TaskError>) + Send> fmt::Debug for TaskCell<R, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskCell").field("resource", &self.resource).field("deadline", &self.deadline).finish()
    }
}

/// Cancels a queued task through a [`TaskHandle`].
fn cancel<R>(task: &dyn TaskSlot<R>) -> bool {
    if task.claim() {
        task.deliver(Err(TaskError::Cancelled), None);
        true
    } else {
        false
    }
}

/// The part of a task a [`TaskHandle`] needs, with the result type erased.
trait QueuedTask: Send + Sync {
    fn cancel(&self) -> bool;
    fn async_id(&self) -> AsyncId;
}

/// Erases the result type of a task for [`TaskHandle`].
struct ErasedTask<R>(Arc<dyn TaskSlot<R>>);

impl<R> QueuedTask for ErasedTask<R> {
    fn cancel(&self) -> bool {
        cancel(&*self.0)
    }

    fn async_id(&self) -> AsyncId {
        self.0.resource().async_id()
    }
}

/// A handle to a submitted task, to cancel it while it is queued.
///
/// Dropping the handle does nothing to the task.
///
/// # Examples
///
/// ```
/// use std::sync::mpsc;
/// use async_hooks_pool::{TaskError, TaskOptions, WorkerPool};
///
/// let (release, gate) = mpsc::channel::<()>();
/// let gate = std::sync::Mutex::new(gate);
/// let pool = WorkerPool::new(1, move |wait: bool| {
///     if wait {
///         gate.lock().unwrap().recv().unwrap();
///     }
/// })
/// .unwrap();
/// let (results, received) = mpsc::channel();
/// let busy = results.clone();
/// pool.run_task(true, move |r| busy.send(r).unwrap()).unwrap(); // occupies the only worker
/// let queued = pool.run_task_with(false, TaskOptions::new(), move |r| results.send(r).unwrap()).unwrap();
/// assert!(queued.cancel(), "it was still queued");
/// assert_eq!(received.recv().unwrap(), Err(TaskError::Cancelled));
/// release.send(()).unwrap();
/// assert_eq!(received.recv().unwrap(), Ok(()));
/// ```
pub struct TaskHandle {
    task: Arc<dyn QueuedTask>,
    metrics: Arc<PoolMetrics>,
}

impl TaskHandle {
    pub(crate) fn new<R: 'static>(task: Arc<dyn TaskSlot<R>>, metrics: Arc<PoolMetrics>) -> TaskHandle {
        TaskHandle { task: Arc::new(ErasedTask(task)), metrics }
    }

    /// Cancels the task if it is still queued: its callback gets
    /// [`TaskError::Cancelled`] on this thread, in the task's scope, before
    /// `cancel` returns. Returns false (and does nothing) if a worker has
    /// taken it or it has ended otherwise.
    pub fn cancel(&self) -> bool {
        if self.task.cancel() {
            self.metrics.task_cancelled();
            true
        } else {
            false
        }
    }

    /// The async id of the task's resource.
    pub fn async_id(&self) -> AsyncId {
        self.task.async_id()
    }
}

impl fmt::Debug for TaskHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskHandle").field("async_id", &self.async_id()).finish()
    }
}
