//! The synchronization primitives of the pool's shutdown protocol, from
//! `std` or, under `--cfg async_hooks_loom`, from [loom] so that the
//! submit/close race can be model-checked at the same paths.
//!
//! Only the protocol that decides whether a submission gets in or is
//! refused, and when the closer may stop the workers
//! ([`SubmitGate`](crate::gate::SubmitGate)), goes through here;
//! statistics counters are plain `std` atomics because no decision depends
//! on them.

#[cfg(async_hooks_loom)]
pub(crate) use loom::sync::atomic::{AtomicUsize, Ordering};

/// Waits a little before a closer checks again whether the workers have
/// taken every admitted job: under loom, a yield.
#[cfg(async_hooks_loom)]
pub(crate) fn backoff(_step: u32) {
    loom::thread::yield_now();
}

#[cfg(not(async_hooks_loom))]
pub(crate) use std::sync::atomic::{AtomicUsize, Ordering};

/// Waits a little before a closer checks again whether the workers have
/// taken every admitted job: yields at first (a racing submitter is about
/// to queue its job), then sleeps (the workers are draining a queue, which
/// may take long; a closer spinning on a busy machine would slow them).
#[cfg(not(async_hooks_loom))]
pub(crate) fn backoff(step: u32) {
    if step < 32 {
        std::thread::yield_now();
    } else {
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
}

/// Locks `mutex`, recovering the data if a previous holder panicked.
///
/// Every critical section in this crate leaves its data consistent before
/// anything in it can panic (user code never runs under a lock), so a
/// poisoned lock carries no broken invariant.
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
