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

/// The attribute set of the pools named `name`: `pool.name` only.
///
/// Sets are interned per name for the first [`MAX_INTERNED_NAMES`] names
/// of the process, so that attaching one to each task touches no reference
/// count (two atomic read-modify-writes per task otherwise, on the
/// submitting and on the worker thread); later names get a counted set, so
/// a program that makes pools with ever new names does not grow without
/// bound.
pub(crate) fn pool_attribute_set(name: &str) -> async_hooks_core::AttributeSet {
    use std::collections::HashMap;
    use std::sync::{Mutex, PoisonError};

    use async_hooks_core::{Attribute, AttributeSet, AttributeValue};

    static INTERNED: Mutex<Option<HashMap<String, &'static [Attribute]>>> = Mutex::new(None);
    let attribute = || Attribute::new(POOL_NAME, AttributeValue::Str(name.to_owned().into()));
    let mut interned = INTERNED.lock().unwrap_or_else(PoisonError::into_inner);
    let interned = interned.get_or_insert_with(HashMap::new);
    if let Some(attributes) = interned.get(name) {
        return AttributeSet::from_static(attributes);
    }
    if interned.len() >= MAX_INTERNED_NAMES {
        return AttributeSet::new([attribute()]);
    }
    let attributes: &'static [Attribute] = Box::leak(Box::new([attribute()]));
    interned.insert(name.to_owned(), attributes);
    AttributeSet::from_static(attributes)
}

/// How many pool names get an interned attribute set (a few hundred bytes
/// each, kept for the life of the process).
pub(crate) const MAX_INTERNED_NAMES: usize = 256;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_attribute_sets_carry_the_name_and_are_interned_up_to_the_bound() {
        let first = pool_attribute_set("interned-test");
        let again = pool_attribute_set("interned-test");
        assert_eq!(first.as_slice()[0].to_string(), "pool.name=interned-test");
        assert!(std::ptr::eq(first.as_slice(), again.as_slice()), "one interned set per name");
        // Past the bound, sets are still right, just counted.
        for index in 0..MAX_INTERNED_NAMES {
            let set = pool_attribute_set(&format!("bulk-{index}"));
            assert_eq!(set.as_slice()[0].to_string(), format!("pool.name=bulk-{index}"));
        }
        let late = pool_attribute_set("late-name");
        let late_again = pool_attribute_set("late-name");
        assert_eq!(late, late_again);
        assert!(!std::ptr::eq(late.as_slice(), late_again.as_slice()), "names past the bound are not interned");
    }
}
