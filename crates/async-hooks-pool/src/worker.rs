//! Worker threads: the loop that takes tasks from the queue, runs them in
//! their own scope, and replaces itself after a panic.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use std::{io, thread};

use async_hooks_core::{Attribute, any_hook_enabled};
use crossbeam_channel::RecvTimeoutError;

use crate::TaskError;
use crate::attributes::{POOL_QUEUE_WAIT_US, POOL_WORKER, micros};
use crate::pool::{Shared, finish_close_on_worker};
use crate::queue::Message;
use crate::sync::lock;
use crate::task::{Executed, Job, TaskCore};

thread_local! {
    /// `(pool id, worker index)` of the pool worker running on this thread.
    static CURRENT_WORKER: Cell<Option<(u64, usize)>> = const { Cell::new(None) };
}

/// The index of the pool worker running on this thread (`0..num_threads`),
/// or `None` if this is not a pool worker thread.
///
/// # Examples
///
/// ```
/// use async_hooks_pool::{WorkerPool, current_worker_index};
///
/// let pool = WorkerPool::new(1, |_: ()| current_worker_index()).unwrap();
/// assert_eq!(pool.run_blocking(()), Ok(Some(0)));
/// assert_eq!(current_worker_index(), None);
/// ```
pub fn current_worker_index() -> Option<usize> {
    CURRENT_WORKER.try_with(|current| current.get().map(|(_, index)| index)).ok().flatten()
}

/// Whether this thread is a worker of the pool `pool_id`.
pub(crate) fn is_worker_of(pool_id: u64) -> bool {
    CURRENT_WORKER.try_with(|current| current.get().is_some_and(|(id, _)| id == pool_id)).unwrap_or(false)
}

/// How long a worker finishing a close ([`finish_close_on_worker`]) waits
/// for a job before it checks again whether all are taken.
const STOPS_OWED_POLL: Duration = Duration::from_millis(1);

/// What the loop does after a job.
enum JobEnd {
    Continue,
    /// The processor panicked: this thread's state is suspect, replace it.
    Replace,
}

/// Starts worker `index` of `shared`'s pool.
pub(crate) fn spawn_worker<T, R>(shared: &Arc<Shared<T, R>>, index: usize) -> io::Result<thread::JoinHandle<()>>
where
    T: Send + 'static,
    R: Send + 'static,
{
    let mut builder = thread::Builder::new().name(shared.config.thread_name(index));
    if let Some(stack_size) = shared.config.stack_size {
        builder = builder.stack_size(stack_size);
    }
    let worker_shared = shared.clone();
    // A plain std thread, not an async-hooks one: workers belong to no
    // submitter, each task brings its own context.
    builder.spawn(move || worker_main(worker_shared, index))
}

fn worker_main<T, R>(shared: Arc<Shared<T, R>>, index: usize)
where
    T: Send + 'static,
    R: Send + 'static,
{
    let _ = CURRENT_WORKER.try_with(|current| current.set(Some((shared.id, index))));
    shared.config.start_worker(index);
    loop {
        let received = if shared.stops_owed.load(Ordering::Acquire) {
            // A worker closed the pool and no helper thread finishes the
            // close: the workers do, polling until every admitted job is
            // taken.
            if finish_close_on_worker(&shared) {
                break;
            }
            match shared.queue.receiver().recv_timeout(STOPS_OWED_POLL) {
                Err(RecvTimeoutError::Timeout) => continue,
                received => received.map_err(|_| ()),
            }
        } else {
            shared.queue.receiver().recv().map_err(|_| ())
        };
        let message = match received {
            Ok(message) => message,
            // The pool holds a sender while workers run; be defensive anyway.
            Err(()) => break,
        };
        let job = match message {
            Message::Run(job) => {
                shared.gate.job_received(index);
                job
            }
            Message::Stop => break,
        };
        match run_job(&shared, index, job) {
            JobEnd::Continue => {}
            JobEnd::Replace => {
                shared.metrics.worker_replaced();
                shared.config.stop_worker(index);
                match spawn_worker(&shared, index) {
                    Ok(replacement) => {
                        // Registered before this thread ends, so a closer that
                        // joins this thread finds the replacement afterwards.
                        lock(&shared.workers).push(replacement);
                        return;
                    }
                    // No new thread to be had: go on in this one, after
                    // running the per-worker initialisation again.
                    Err(_) => shared.config.start_worker(index),
                }
            }
        }
    }
    shared.config.stop_worker(index);
}

fn run_job<T, R>(shared: &Shared<T, R>, index: usize, job: Box<dyn Job<T, R>>) -> JobEnd {
    let worker = WorkerRun { shared, index, processor_panicked: Cell::new(false) };
    match job.run(&worker) {
        Some(callback_panicked) => {
            if callback_panicked {
                shared.metrics.callback_panicked();
            }
        }
        // Cancelled while queued: the canceller delivered and counted it.
        None => shared.metrics.cancelled_task_dequeued(),
    }
    if worker.processor_panicked.get() { JobEnd::Replace } else { JobEnd::Continue }
}

/// A worker running one job: what [`Job::run`] needs of it (a concrete
/// type, so that the job's code calls [`execute`](Self::execute) directly).
pub(crate) struct WorkerRun<'a, T, R> {
    shared: &'a Shared<T, R>,
    index: usize,
    processor_panicked: Cell<bool>,
}

impl<T, R> WorkerRun<'_, T, R> {
    /// A worker's part of a task it claimed: refuse it (forced shutdown,
    /// queue deadline) or run the processor in the task's scope; keep the
    /// stats.
    #[inline]
    pub(crate) fn execute(&self, core: &TaskCore, input: T) -> Executed<R> {
        let (shared, index) = (self.shared, self.index);
        let worker_metrics = shared.metrics.worker(index);
        let hooks_enabled = any_hook_enabled();
        let timing = shared.config.timing;
        // Clock reads are dear on some machines: read the clock only if the
        // statistics, a deadline or a hook set use it.
        let started = if timing || hooks_enabled || core.has_queue_timeout() { Some(Instant::now()) } else { None };
        let waited = match (started, core.submitted_at()) {
            (Some(started), Some(submitted_at)) => Some(started.saturating_duration_since(submitted_at)),
            _ => None,
        };
        if hooks_enabled {
            match waited {
                Some(waited) => core
                    .resource()
                    .record(&[Attribute::new(POOL_WORKER, index), Attribute::new(POOL_QUEUE_WAIT_US, micros(waited))]),
                // Submitted before any hook set was enabled, by a pool that
                // does not measure time: the wait is unknown.
                None => core.resource().record(&[Attribute::new(POOL_WORKER, index)]),
            }
        }

        let refusal = if shared.forced.load(Ordering::Acquire) {
            shared.metrics.task_closed();
            Some(TaskError::Closed)
        } else if waited.is_some_and(|waited| core.timed_out(waited)) {
            shared.metrics.task_timed_out();
            Some(TaskError::TimedOut)
        } else {
            None
        };
        let waited = waited.filter(|_| timing);
        if let Some(error) = refusal {
            worker_metrics.task_skipped(waited);
            drop(input);
            return (Err(error), None);
        }

        worker_metrics.task_started(waited);
        let processor = &shared.processor;
        let output = core.resource().run_in_async_scope(|| catch_unwind(AssertUnwindSafe(|| processor(input))));
        let run_time = started.filter(|_| timing || hooks_enabled).map(|started| started.elapsed());
        worker_metrics.task_finished(run_time.filter(|_| timing), output.is_err());
        match output {
            Ok(output) => (Ok(output), run_time),
            Err(payload) => {
                self.processor_panicked.set(true);
                (Err(TaskError::Panicked(panic_message(payload))), run_time)
            }
        }
    }
}

/// The message of a panic payload (`panic!` gives `&str` or `String`).
fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(message) => *message,
        Err(payload) => match payload.downcast::<&'static str>() {
            Ok(message) => (*message).to_owned(),
            Err(payload) => {
                // A payload of another type: its drop is user code too.
                let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
                String::from("Box<dyn Any>")
            }
        },
    }
}
