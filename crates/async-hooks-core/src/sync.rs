//! The synchronization primitives the core uses, from `std` or, under
//! `--cfg async_hooks_loom`, from [loom] so that the concurrent parts can be
//! model-checked at the same paths.
//!
//! The cfg is prefixed with the crate family's name so that a user's own
//! `--cfg loom` never switches this crate into model-checking mode.

#[cfg(async_hooks_loom)]
pub(crate) use loom::sync::{
    Arc, Mutex, MutexGuard,
    atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering, fence},
};

#[cfg(not(async_hooks_loom))]
pub(crate) use std::sync::{
    Arc, Mutex, MutexGuard,
    atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering, fence},
};

/// Locks `mutex`, recovering the data if a previous holder panicked.
///
/// Every critical section in the core leaves its data consistent before it
/// can panic (the only code that can panic under a lock is allocation), so a
/// poisoned lock carries no broken invariant and recovering is sound.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
