//! The synchronization primitives of the span table, from `std` and `spin`
//! or, under `--cfg async_hooks_loom`, from [loom] so that the table can be
//! model-checked at the same paths.
//!
//! [`SlotLock`] guards one slot of the span table. It is a spin lock
//! (`spin::mutex::SpinMutex`) because an uncontended lock and unlock is then
//! one atomic read-modify-write, not two: `std`'s futex mutex unlocks with a
//! swap (to learn whether to wake a waiter), a spin lock with a plain release
//! store. A slot is only ever held to move a span handle in or out (no
//! allocation, no call into `tracing`), two threads contend for one only when
//! they work on the same resource at the same moment, and a waiter yields its
//! time slice rather than spin, so a preempted holder costs it a yield, not a
//! time slice of spinning.
//!
//! [loom]: https://docs.rs/loom

#[cfg(async_hooks_loom)]
pub(crate) use loom::sync::{
    Mutex, MutexGuard,
    atomic::{AtomicUsize, Ordering},
};

#[cfg(not(async_hooks_loom))]
pub(crate) use std::sync::{
    Mutex, MutexGuard,
    atomic::{AtomicUsize, Ordering},
};

/// A lock for data held for a few instructions at a time (see the module
/// docs); loom's `Mutex` under `--cfg async_hooks_loom`.
pub(crate) struct SlotLock<T> {
    #[cfg(not(async_hooks_loom))]
    inner: spin::mutex::SpinMutex<T, spin::relax::Yield>,
    #[cfg(async_hooks_loom)]
    inner: loom::sync::Mutex<T>,
}

/// What [`SlotLock::lock`] returns: the data, until it is dropped.
#[cfg(not(async_hooks_loom))]
pub(crate) type SlotGuard<'a, T> = spin::mutex::SpinMutexGuard<'a, T, spin::relax::Yield>;

/// What [`SlotLock::lock`] returns: the data, until it is dropped.
#[cfg(async_hooks_loom)]
pub(crate) type SlotGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

impl<T> SlotLock<T> {
    pub(crate) fn new(value: T) -> SlotLock<T> {
        #[cfg(not(async_hooks_loom))]
        let inner = spin::mutex::SpinMutex::new(value);
        #[cfg(async_hooks_loom)]
        let inner = loom::sync::Mutex::new(value);
        SlotLock { inner }
    }

    /// Waits for the lock (yielding while another thread holds it).
    #[inline(always)]
    pub(crate) fn lock(&self) -> SlotGuard<'_, T> {
        #[cfg(not(async_hooks_loom))]
        return self.inner.lock();
        #[cfg(async_hooks_loom)]
        return self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    }

    /// The data, through exclusive access (no locking).
    pub(crate) fn get_mut(&mut self) -> &mut T {
        #[cfg(not(async_hooks_loom))]
        return self.inner.get_mut();
        #[cfg(async_hooks_loom)]
        return self.inner.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner);
    }
}
