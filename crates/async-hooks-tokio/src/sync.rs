//! The task table's shard lock and the task cells' count, fence and
//! resource slot, from `spin` and `std` or, under `--cfg async_hooks_loom`,
//! from [loom] so that the table and its cells can be model-checked at the
//! same paths.
//!
//! [`ShardLock`] is a spin lock (`spin::mutex::SpinMutex`) because an
//! uncontended lock and unlock is then one atomic read-modify-write, not two:
//! `std`'s futex mutex unlocks with a swap (to learn whether to wake a
//! waiter), a spin lock with a plain release store. Why that is the right
//! trade for the task table is in its docs
//! ([Why a spin lock](crate::task_table#why-a-spin-lock)).
//!
//! [loom]: https://docs.rs/loom

/// loom's `Arc` for the loom models' shared state.
#[cfg(async_hooks_loom)]
pub(crate) use loom::sync::Arc;

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

/// The task cells' reference count and its fence: loom's under
/// `--cfg async_hooks_loom`.
#[cfg(async_hooks_loom)]
pub(crate) use loom::sync::atomic::{AtomicUsize, fence};
#[cfg(not(async_hooks_loom))]
pub(crate) use std::sync::atomic::{AtomicUsize, fence};

/// A task cell's resource slot: `std`'s `UnsafeCell`, or loom's, which
/// checks that no access of the models races with a write.
pub(crate) struct ResourceSlot<T> {
    #[cfg(not(async_hooks_loom))]
    inner: std::cell::UnsafeCell<T>,
    #[cfg(async_hooks_loom)]
    inner: loom::cell::UnsafeCell<T>,
}

impl<T> ResourceSlot<T> {
    pub(crate) fn new(value: T) -> ResourceSlot<T> {
        #[cfg(not(async_hooks_loom))]
        return ResourceSlot { inner: std::cell::UnsafeCell::new(value) };
        #[cfg(async_hooks_loom)]
        return ResourceSlot { inner: loom::cell::UnsafeCell::new(value) };
    }

    /// A pointer to read the value through.
    ///
    /// # Safety
    ///
    /// No write may race with the reads made through it (under loom, only
    /// this call is checked, not the reads made later).
    #[inline(always)]
    pub(crate) unsafe fn get(&self) -> *const T {
        #[cfg(not(async_hooks_loom))]
        return self.inner.get();
        #[cfg(async_hooks_loom)]
        return self.inner.with(|pointer| pointer);
    }

    /// Calls `f` with a pointer to write the value through.
    ///
    /// # Safety
    ///
    /// No other access may race with the call.
    #[inline(always)]
    pub(crate) unsafe fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        #[cfg(not(async_hooks_loom))]
        return f(self.inner.get());
        #[cfg(async_hooks_loom)]
        return self.inner.with_mut(f);
    }
}
