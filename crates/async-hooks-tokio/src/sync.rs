//! The task table's shard lock and handles, from `spin` and `std` or, under
//! `--cfg async_hooks_loom`, from [loom] so that the table can be
//! model-checked at the same paths.
//!
//! [`ShardLock`] is a spin lock (`spin::mutex::SpinMutex`) because an
//! uncontended lock and unlock is then one atomic read-modify-write, not two:
//! `std`'s futex mutex unlocks with a swap (to learn whether to wake a
//! waiter), a spin lock with a plain release store. Why that is the right
//! trade for the task table is in its docs
//! ([Why a spin lock](crate::task_table#why-a-spin-lock)).
//!
//! [loom]: https://docs.rs/loom

/// The task handles' reference count: loom's under `--cfg async_hooks_loom`,
/// so that a model sees the order a handle's last drop gives.
#[cfg(async_hooks_loom)]
pub(crate) use loom::sync::Arc;
#[cfg(not(async_hooks_loom))]
pub(crate) use std::sync::Arc;

/// A lock held for a few instructions at a time; loom's `Mutex` under
/// `--cfg async_hooks_loom`.
pub(crate) struct ShardLock<T> {
    #[cfg(not(async_hooks_loom))]
    inner: spin::mutex::SpinMutex<T, spin::relax::Yield>,
    #[cfg(async_hooks_loom)]
    inner: loom::sync::Mutex<T>,
}

/// What [`ShardLock::lock`] returns: the data, until it is dropped.
#[cfg(not(async_hooks_loom))]
pub(crate) type ShardGuard<'a, T> = spin::mutex::SpinMutexGuard<'a, T, spin::relax::Yield>;

/// What [`ShardLock::lock`] returns: the data, until it is dropped.
#[cfg(async_hooks_loom)]
pub(crate) type ShardGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

impl<T> ShardLock<T> {
    /// A lock over `value`; `const`, so that the task table can be a
    /// `static`.
    #[cfg(not(async_hooks_loom))]
    pub(crate) const fn new(value: T) -> ShardLock<T> {
        ShardLock { inner: spin::mutex::SpinMutex::new(value) }
    }

    /// A lock over `value` (loom's locks cannot be built in a `const`).
    #[cfg(async_hooks_loom)]
    pub(crate) fn new(value: T) -> ShardLock<T> {
        ShardLock { inner: loom::sync::Mutex::new(value) }
    }

    /// Waits for the lock (yielding while another thread holds it).
    #[inline(always)]
    pub(crate) fn lock(&self) -> ShardGuard<'_, T> {
        #[cfg(not(async_hooks_loom))]
        return self.inner.lock();
        // Nothing panics while a shard is held (the table's operations
        // leave the shard consistent before anything that can panic), so a
        // poisoned lock carries no broken invariant.
        #[cfg(async_hooks_loom)]
        return self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    }
}
