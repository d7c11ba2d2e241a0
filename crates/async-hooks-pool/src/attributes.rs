//! The attribute keys pool resources carry, for subscribers (the tracing
//! bridge exports them as span attributes).
//!
//! A [`WorkerPoolTask`](TASK_RESOURCE_TYPE) has [`POOL_NAME`] from `init`
//! on (in [`Resource::attributes`](async_hooks_core::Resource::attributes);
//! only for tasks submitted while a hook set is enabled, since only hooks
//! see `init`: without one, the task's resource carries no attributes);
//! the rest arrive by the `record` event
//! ([`Hooks::record`](async_hooks_core::Hooks::record)) as soon as they are
//! known: [`POOL_WORKER`] and [`POOL_QUEUE_WAIT_US`] when a worker takes the
//! task (the wait only if its submission time is known: a hook set was
//! enabled then, the pool has [`timing`](crate::WorkerPoolBuilder::timing)
//! or the task a queue deadline), [`POOL_RUN_US`] and [`POOL_OUTCOME`] just
//! before the callback runs.
//! A [`ResourcePoolLease`](LEASE_RESOURCE_TYPE) has [`POOL_NAME`] at `init`,
//! [`POOL_RESOURCE`] and [`POOL_QUEUE_WAIT_US`] at checkout, and
//! [`POOL_USE_US`] and [`POOL_OUTCOME`] at checkin.

/// The resource type of a worker pool task.
pub const TASK_RESOURCE_TYPE: &str = "WorkerPoolTask";
/// The resource type of a lease of a pooled resource.
pub const LEASE_RESOURCE_TYPE: &str = "ResourcePoolLease";

/// The pool's name (text).
pub const POOL_NAME: &str = "pool.name";
/// The index of the worker that took the task, `0..num_threads` (number).
/// A replacement worker keeps the index of the one it replaces.
pub const POOL_WORKER: &str = "pool.worker";
/// How long the task waited in the queue, or the lease waited for a
/// resource, in microseconds (number).
pub const POOL_QUEUE_WAIT_US: &str = "pool.queue_wait_us";
/// How long the processor ran, in microseconds (number).
pub const POOL_RUN_US: &str = "pool.run_us";
/// How the task or lease ended (text): for tasks one of
/// [`Outcome::as_str`](crate::Outcome::as_str); for leases `returned`,
/// `discarded`, `timed_out`, `closed` or `create_failed`.
pub const POOL_OUTCOME: &str = "pool.outcome";
/// The number of the pooled resource a lease got (number; unique per pool).
pub const POOL_RESOURCE: &str = "pool.resource";
/// How long a lease was held, in microseconds (number).
pub const POOL_USE_US: &str = "pool.use_us";

/// Microseconds of `duration`, saturating.
pub(crate) fn micros(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}
