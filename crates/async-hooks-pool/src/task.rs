//! One submitted task: its async resource, its callback, its timing, and
//! the [`TaskHandle`] that can cancel it while it is queued.

use std::fmt;
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, Location, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_hooks_core::{AsyncId, AsyncResource, Attribute, AttributeSet, any_hook_enabled};

use crate::TaskError;
use crate::attributes::{POOL_OUTCOME, POOL_RUN_US, TASK_RESOURCE_TYPE, micros};
use crate::stats::PoolMetrics;
use crate::sync::lock;
use crate::worker::WorkerRun;

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

/// What every task carries, whatever its callback: its resource and its
/// timing.
pub(crate) struct TaskCore {
    resource: AsyncResource,
    /// When the task was submitted; read only if something needs it (timing
    /// statistics, a queue deadline, or an enabled hook set).
    submitted_at: Option<Instant>,
    /// The queue deadline, in nanoseconds after `submitted_at`, or
    /// [`NO_QUEUE_TIMEOUT`] (a number, not an `Option<Instant>`, to keep a
    /// task in the allocator's smallest size classes).
    queue_timeout_nanos: u64,
}

/// `queue_timeout_nanos` of a task without a deadline (a timeout of 584
/// years or more is none).
const NO_QUEUE_TIMEOUT: u64 = u64::MAX;

impl TaskCore {
    /// Creates the task's resource (dispatching `init` in the submitter's
    /// execution, so its trigger is the submitter and it keeps the
    /// submitter's context), created at the caller's caller's location (the
    /// user's call of `run_task`, through `#[track_caller]`).
    #[track_caller]
    #[inline]
    pub(crate) fn new(pool_attributes: &AttributeSet, queue_timeout: Option<Duration>, timing: bool) -> TaskCore {
        let hooks_enabled = any_hook_enabled();
        // `pool.name` is for hooks (`init` carries it): with none enabled,
        // skip it, and with it the builder and a reference count that the
        // submitting and the worker thread would both write.
        let resource = if hooks_enabled {
            AsyncResource::builder(TASK_RESOURCE_TYPE)
                .attribute_set(pool_attributes.clone())
                .location(Location::caller())
                .build()
        } else {
            AsyncResource::new(TASK_RESOURCE_TYPE)
        };
        // A clock read costs tens of nanoseconds on some machines, as much as
        // the rest of a submission: only read it for someone who uses it.
        let submitted_at = if timing || queue_timeout.is_some() || hooks_enabled { Some(Instant::now()) } else { None };
        let queue_timeout_nanos = match queue_timeout {
            Some(timeout) => u64::try_from(timeout.as_nanos()).unwrap_or(NO_QUEUE_TIMEOUT),
            None => NO_QUEUE_TIMEOUT,
        };
        TaskCore { resource, submitted_at, queue_timeout_nanos }
    }

    pub(crate) fn resource(&self) -> &AsyncResource {
        &self.resource
    }

    /// When the task was submitted, if that was measured (always, if it has
    /// a queue deadline).
    #[inline]
    pub(crate) fn submitted_at(&self) -> Option<Instant> {
        self.submitted_at
    }

    /// Whether the task has a queue deadline.
    #[inline]
    pub(crate) fn has_queue_timeout(&self) -> bool {
        self.queue_timeout_nanos != NO_QUEUE_TIMEOUT
    }

    /// Whether a task that `waited` in the queue has passed its deadline.
    #[inline]
    pub(crate) fn timed_out(&self, waited: Duration) -> bool {
        self.has_queue_timeout() && waited.as_nanos() >= u128::from(self.queue_timeout_nanos)
    }

    /// Tells hooks how the task ended, then runs `callback` with `result` in
    /// the task's scope. Returns whether the callback panicked (contained).
    /// The caller dispatches `destroy` after it.
    #[inline]
    fn call_back<R>(
        &self,
        callback: impl FnOnce(Result<R, TaskError>),
        result: Result<R, TaskError>,
        run_time: Option<Duration>,
    ) -> bool {
        // Only hooks read `record`: with none enabled, skip building it.
        if any_hook_enabled() {
            let outcome = Outcome::of(&result).as_str();
            match run_time {
                Some(run_time) => self
                    .resource
                    .record(&[Attribute::new(POOL_RUN_US, micros(run_time)), Attribute::new(POOL_OUTCOME, outcome)]),
                None => self.resource.record(&[Attribute::new(POOL_OUTCOME, outcome)]),
            }
        }
        self.resource.run_in_async_scope(|| catch_unwind(AssertUnwindSafe(move || callback(result))).is_err())
    }
}

impl fmt::Debug for TaskCore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskCore")
            .field("resource", &self.resource)
            .field("submitted_at", &self.submitted_at)
            .field("queue_timeout_nanos", &self.queue_timeout_nanos)
            .finish()
    }
}

/// What the worker's part of a job produced: the callback's argument and
/// the processor's run time, if it ran and was timed.
pub(crate) type Executed<R> = (Result<R, TaskError>, Option<Duration>);

/// A queued task as the queue and the workers see it: its input, its
/// resource and its callback, in one allocation (the callback's type
/// erased).
///
/// Whoever ends the job — the worker that [`run`](Self::run)s it, the
/// submitter that [`refuse`](Self::refuse)s it, a canceller — delivers its
/// callback, exactly once.
pub(crate) trait Job<T, R>: Send {
    /// The worker's part: unless the task was cancelled while queued (then
    /// `None`, and the canceller delivered), the worker gets the input and
    /// decides the result, which goes to the callback in the task's scope,
    /// then `destroy`. Returns whether the callback panicked (contained).
    fn run(self: Box<Self>, worker: &WorkerRun<'_, T, R>) -> Option<bool>;
    /// A submission that was refused: delivers `error`, hands back the input.
    fn refuse(self: Box<Self>, error: TaskError) -> T;
}

/// A task with one owner at a time — the submitter, then the queue, then a
/// worker: no claim, no lock, no shared reference count, and `destroy` is
/// dispatched by dropping the resource.
pub(crate) struct OwnedJob<T, R, F: FnOnce(Result<R, TaskError>) + Send> {
    input: T,
    delivery: Delivery<R, F>,
}

impl<T, R, F: FnOnce(Result<R, TaskError>) + Send> OwnedJob<T, R, F> {
    #[inline]
    pub(crate) fn new(input: T, core: TaskCore, callback: F) -> OwnedJob<T, R, F> {
        OwnedJob { input, delivery: Delivery { core, callback: Some(callback), _result: PhantomData } }
    }
}

impl<T: Send, R, F: FnOnce(Result<R, TaskError>) + Send> Job<T, R> for OwnedJob<T, R, F> {
    #[inline]
    fn run(self: Box<Self>, worker: &WorkerRun<'_, T, R>) -> Option<bool> {
        let OwnedJob { input, delivery } = *self;
        let (result, run_time) = worker.execute(&delivery.core, input);
        Some(delivery.deliver(result, run_time))
    }

    fn refuse(self: Box<Self>, error: TaskError) -> T {
        let OwnedJob { input, delivery } = *self;
        // A panicking callback is contained; the caller learns of the
        // refusal through the returned error.
        let _ = delivery.deliver(Err(error), None);
        input
    }
}

/// The resource and the callback of an [`OwnedJob`].
struct Delivery<R, F: FnOnce(Result<R, TaskError>) + Send> {
    core: TaskCore,
    /// Taken by `deliver`; still there on drop only if the task was dropped
    /// undelivered.
    callback: Option<F>,
    _result: PhantomData<fn(R)>,
}

impl<R, F: FnOnce(Result<R, TaskError>) + Send> Delivery<R, F> {
    /// Runs the callback in the task's scope; dropping `self` then drops the
    /// resource: `destroy`, the task's last event.
    #[inline]
    fn deliver(mut self, result: Result<R, TaskError>, run_time: Option<Duration>) -> bool {
        match self.callback.take() {
            Some(callback) => self.core.call_back(callback, result, run_time),
            // `deliver` consumes the delivery.
            None => unreachable!("a task's callback was delivered twice (bug in async-hooks-pool)"),
        }
    }
}

impl<R, F: FnOnce(Result<R, TaskError>) + Send> Drop for Delivery<R, F> {
    fn drop(&mut self) {
        // A safety net: every path delivers explicitly, but a task dropped
        // undelivered (its queue torn down) still gets its callback.
        if let Some(callback) = self.callback.take() {
            let _ = self.core.call_back(callback, Err(TaskError::Closed), None);
        }
    }
}

/// A task with a [`TaskHandle`]: the queue holds its input and shares the
/// rest with the handle, which may cancel it.
struct SharedJob<T, R> {
    input: T,
    task: Arc<dyn TaskSlot<R>>,
}

impl<T: Send, R> Job<T, R> for SharedJob<T, R> {
    fn run(self: Box<Self>, worker: &WorkerRun<'_, T, R>) -> Option<bool> {
        let SharedJob { input, task } = *self;
        if !task.claim() {
            return None;
        }
        let (result, run_time) = worker.execute(task.core(), input);
        Some(task.deliver(result, run_time))
    }

    fn refuse(self: Box<Self>, error: TaskError) -> T {
        let SharedJob { input, task } = *self;
        if task.claim() {
            let _ = task.deliver(Err(error), None);
        }
        input
    }
}

/// The shared state of a task with a [`TaskHandle`], from submission to its
/// callback, as the queue, the workers and the handle see it (the callback's
/// type erased, so that the task and its callback share one allocation).
///
/// Whoever [`claim`](Self::claim)s the task — the worker that dequeues it,
/// a canceller, the submitter on refusal — is the one who delivers its
/// callback: that is what makes every callback run exactly once.
pub(crate) trait TaskSlot<R>: Send + Sync {
    /// True for exactly one caller.
    fn claim(&self) -> bool;
    /// [`TaskRef::deliver`]. Only the claimer calls it, once.
    fn deliver(&self, result: Result<R, TaskError>, run_time: Option<Duration>) -> bool;
    fn core(&self) -> &TaskCore;
}

/// The [`TaskSlot`] of a task whose callback is an `F`.
pub(crate) struct TaskCell<R, F: FnOnce(Result<R, TaskError>) + Send> {
    claimed: AtomicBool,
    /// Only the claimer locks it, so the lock is never contended; it is
    /// there because the callback is taken out through a shared reference.
    callback: Mutex<Option<F>>,
    core: TaskCore,
    _result: PhantomData<fn(R)>,
}

impl<R, F: FnOnce(Result<R, TaskError>) + Send> TaskCell<R, F> {
    pub(crate) fn new(core: TaskCore, callback: F) -> TaskCell<R, F> {
        TaskCell { claimed: AtomicBool::new(false), callback: Mutex::new(Some(callback)), core, _result: PhantomData }
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
        let callback = lock(&self.callback).take();
        let callback_panicked = match callback {
            Some(callback) => self.core.call_back(callback, result, run_time),
            // Only the claimer delivers, once.
            None => unreachable!("a task's callback was delivered twice (bug in async-hooks-pool)"),
        };
        // The handle may keep the cell alive: dispatch `destroy` now.
        let _ = self.core.resource.emit_destroy();
        callback_panicked
    }

    fn core(&self) -> &TaskCore {
        &self.core
    }
}

impl<R, F: FnOnce(Result<R, TaskError>) + Send> Drop for TaskCell<R, F> {
    fn drop(&mut self) {
        // A safety net: every path delivers explicitly, but a task dropped
        // unclaimed (its queue torn down) still gets its callback.
        if !*self.claimed.get_mut() {
            let callback = self.callback.get_mut().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
            if let Some(callback) = callback {
                let _ = self.core.call_back(callback, Err(TaskError::Closed), None);
                let _ = self.core.resource.emit_destroy();
            }
        }
    }
}

impl<R, F: FnOnce(Result<R, TaskError>) + Send> fmt::Debug for TaskCell<R, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskCell").field("core", &self.core).finish_non_exhaustive()
    }
}

/// The part of a task a [`TaskHandle`] needs, with the result type erased.
trait QueuedTask: Send + Sync {
    fn cancel(&self) -> bool;
    fn async_id(&self) -> AsyncId;
}

impl<R, F: FnOnce(Result<R, TaskError>) + Send> QueuedTask for TaskCell<R, F> {
    fn cancel(&self) -> bool {
        if self.claim() {
            self.deliver(Err(TaskError::Cancelled), None);
            true
        } else {
            false
        }
    }

    fn async_id(&self) -> AsyncId {
        self.core.resource.async_id()
    }
}

/// A job whose task a [`TaskHandle`] can cancel (two allocations: the
/// queued input, and the task shared with the handle).
pub(crate) fn cancellable_job<T, R, F>(
    input: T,
    core: TaskCore,
    callback: F,
    metrics: Arc<PoolMetrics>,
) -> (Box<dyn Job<T, R>>, TaskHandle)
where
    T: Send + 'static,
    R: 'static,
    F: FnOnce(Result<R, TaskError>) + Send + 'static,
{
    let cell = Arc::new(TaskCell::new(core, callback));
    let handle = TaskHandle { task: cell.clone(), metrics };
    (Box::new(SharedJob { input, task: cell }), handle)
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
