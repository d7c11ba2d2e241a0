//! [`Snapshot`] and [`bind`]: capture all stores now, run code in them later.

use async_hooks_core::ContextFrame;

/// The values of every storage at one moment, to run code in later
/// (Node's `AsyncLocalStorage.snapshot()`).
///
/// Capturing takes one count of the current frame: inside a `run` or after
/// an `enter_with` on this thread, one of the count the thread's frame slot
/// keeps in reserve (no atomic operation; dropping the snapshot there gives
/// it back), inside a resource's scope an atomic increment. Running lends
/// the frame to the thread and restores the caller's after.
///
/// # Examples
///
/// ```
/// use async_hooks_context::{AsyncLocalStorage, Snapshot};
///
/// let storage = AsyncLocalStorage::new();
/// let snapshot = storage.run(123, Snapshot::capture);
/// let seen = storage.run(321, || snapshot.run(|| storage.get()));
/// assert_eq!(seen, Some(123));
/// ```
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    frame: ContextFrame,
}

impl Snapshot {
    /// Captures the current values of every storage.
    #[inline]
    pub fn capture() -> Snapshot {
        Snapshot { frame: ContextFrame::current() }
    }

    /// Runs `f` with the captured values, then restores the caller's.
    #[inline]
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        self.frame.run(f)
    }

    /// The captured frame.
    pub fn frame(&self) -> &ContextFrame {
        &self.frame
    }
}

/// Binds `f` to the current values of every storage: wherever it is called,
/// it runs with them (Node's `AsyncLocalStorage.bind`).
///
/// # Examples
///
/// ```
/// use async_hooks_context::{bind, AsyncLocalStorage};
///
/// let storage = AsyncLocalStorage::new();
/// let callback = storage.run("captured", || bind(|| storage.get()));
/// assert_eq!(callback(), Some("captured"));
/// ```
pub fn bind<R>(f: impl FnOnce() -> R) -> impl FnOnce() -> R {
    let snapshot = Snapshot::capture();
    move || snapshot.run(f)
}
