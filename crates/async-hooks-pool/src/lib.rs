//! A worker pool whose tasks are async resources — Node's "Using
//! `AsyncResource` for a `Worker` thread pool", in Rust, without its bugs —
//! and the same model for pools of leased resources (database connections).
//!
//! Choose it over rayon or a hand-rolled channel pool when you want to see
//! and trace your work:
//!
//! - **Every task is an async resource** of type
//!   [`WorkerPoolTask`](attributes::TASK_RESOURCE_TYPE), created when it is
//!   submitted: its trigger is the submitter, and it keeps the submitter's
//!   context. The processor and the callback both run in its scope, so both
//!   see the submitter's `AsyncLocalStorage` values, however long the task
//!   waited (the seed creates the resource at dispatch, so queued tasks lose
//!   their context).
//! - **Subscribers see the pool's facts**: pool name, worker index, queue
//!   wait, run time and outcome ([`attributes`]), exported as span
//!   attributes by the tracing bridge.
//! - **Every callback is called exactly once** on every path — result,
//!   panic, cancellation, queue deadline, full queue, close — and `destroy`
//!   is each task's last event.
//! - **A panicking processor** gives its task [`TaskError::Panicked`] with
//!   the message; the worker is replaced (per-worker initialisation runs
//!   again) and the queue keeps flowing.
//! - Bounded queue that rejects or applies backpressure ([`QueueMode`]),
//!   queue deadlines, cancellation of queued tasks ([`TaskHandle`]),
//!   graceful [`close`](WorkerPool::close) and forced
//!   [`terminate`](WorkerPool::terminate), statistics ([`PoolStats`]), with
//!   wait and run time histograms if the pool is built with
//!   [`timing`](WorkerPoolBuilder::timing).
//! - [`ResourcePool`] and [`Lease`]: checkouts of pooled resources as async
//!   resources with the same lifecycle and context guarantees.
//!
//! # Examples
//!
//! The seed program: ten tasks `{a: 42, b: 100}`, each result printed.
//!
//! ```
//! use std::sync::mpsc;
//! use async_hooks_pool::WorkerPool;
//!
//! struct Task {
//!     a: u32,
//!     b: u32,
//! }
//!
//! let pool = WorkerPool::new(2, |task: Task| task.a + task.b)?;
//! let (done, finished) = mpsc::channel();
//! for i in 0..10 {
//!     let done = done.clone();
//!     pool.run_task(Task { a: 42, b: 100 }, move |result| {
//!         println!("{i} {result:?}");
//!         done.send(result).unwrap();
//!     })?;
//! }
//! drop(done);
//! assert_eq!(finished.iter().filter(|result| *result == Ok(142)).count(), 10);
//! pool.close();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Awaiting or blocking instead of a callback:
//!
//! ```
//! use async_hooks_pool::WorkerPool;
//!
//! let pool = WorkerPool::new(2, |n: u64| (1..=n).product::<u64>())?;
//! assert_eq!(pool.run_blocking(5), Ok(120));
//! let pending = pool.run(10); // a Future; `.await` it in async code
//! assert_eq!(pending.wait(), Ok(3_628_800));
//! # Ok::<(), async_hooks_pool::BuildError>(())
//! ```
//!
//! # Differences from Node's pool
//!
//! - Workers are threads of this process sharing memory: the processor is a
//!   Rust closure, tasks and results are moved, not serialized.
//! - The processor runs in the task's scope too (Node's workers cannot share
//!   context).
//! - Callbacks run on the worker thread (see [`WorkerPool`] for where each
//!   path's callback runs). Use [`WorkerPool::run`] to get the result on
//!   your own thread or task instead.
//! - A running task cannot be killed: a forced shutdown lets running tasks
//!   finish and gives every queued one [`TaskError::Closed`].
//! - The queue deadline is checked when a worker reaches the task, so the
//!   `TimedOut` callback comes then (or at shutdown), not at the deadline.
//!
//! # Correctness notes
//!
//! `#![forbid(unsafe_code)]`. The submit/close protocol is model-checked
//! with loom: `RUSTFLAGS="--cfg async_hooks_loom" cargo test -p
//! async-hooks-pool --release --lib loom`.

#![forbid(unsafe_code)]

pub mod attributes;
mod builder;
mod error;
mod future;
mod gate;
mod lease;
mod pool;
mod queue;
mod stats;
mod sync;
mod task;
mod worker;

#[cfg(all(test, async_hooks_loom))]
mod loom_models;

pub use builder::WorkerPoolBuilder;
pub use error::{BuildError, SubmitError, TaskError};
pub use future::TaskFuture;
pub use lease::{Lease, LeaseError, ResourcePool, ResourcePoolBuilder, ResourcePoolState};
pub use pool::WorkerPool;
pub use queue::QueueMode;
pub use stats::{HistogramSnapshot, PoolStats};
pub use task::{Outcome, TaskHandle, TaskOptions};
pub use worker::current_worker_index;
