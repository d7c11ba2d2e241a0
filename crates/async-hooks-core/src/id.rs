//! Async ids: the identity of every asynchronous operation.

use std::cell::Cell;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// The identity of an asynchronous operation (an *async resource*).
///
/// Ids are unique across the whole process and never reused: futures move
/// between threads, so Node's per-thread id spaces do not fit Rust. Within one
/// thread, ids increase.
///
/// Two ids are reserved: [`AsyncId::NONE`] (no resource, the trigger of the
/// root) and [`AsyncId::ROOT`] (the top level of every thread, outside any
/// resource).
///
/// # Examples
///
/// ```
/// use async_hooks_core::{AsyncId, execution_async_id, trigger_async_id};
///
/// // Outside any resource, every thread is at the root.
/// assert_eq!(execution_async_id(), AsyncId::ROOT);
/// assert_eq!(trigger_async_id(), AsyncId::NONE);
/// assert_eq!(AsyncId::ROOT.as_u64(), 1);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AsyncId(u64);

impl AsyncId {
    /// No resource: the trigger of the root, and of resources created with no
    /// known cause.
    pub const NONE: AsyncId = AsyncId(0);

    /// The top level of every thread, outside any resource.
    pub const ROOT: AsyncId = AsyncId(1);

    /// Wraps a raw id, for embedders that receive ids from elsewhere (for
    /// example from a log line or another process).
    pub const fn from_u64(raw: u64) -> AsyncId {
        AsyncId(raw)
    }

    /// The id as a number.
    pub const fn as_u64(self) -> u64 {
        self.0
    }

    /// Allocates a fresh, process-wide unique id.
    ///
    /// Each thread reserves ids in blocks of [`ID_BLOCK_SIZE`] from one
    /// global counter, so allocation touches shared memory once per block and
    /// never contends on the hot path.
    #[inline]
    pub(crate) fn allocate() -> AsyncId {
        THREAD_ID_BLOCK
            .try_with(|block| {
                let (next, end) = block.get();
                if next < end {
                    block.set((next + 1, end));
                    AsyncId(next)
                } else {
                    let start = reserve_block();
                    block.set((start + 1, start + ID_BLOCK_SIZE));
                    AsyncId(start)
                }
            })
            // During thread teardown the block is gone: take a block of one.
            .unwrap_or_else(|_| AsyncId(NEXT_BLOCK_START.fetch_add(1, Ordering::Relaxed)))
    }
}

/// How many ids a thread reserves from the global counter at a time.
pub(crate) const ID_BLOCK_SIZE: u64 = 1024;

/// The first id of the next unreserved block. Ids 0 and 1 are reserved.
static NEXT_BLOCK_START: AtomicU64 = AtomicU64::new(2);

thread_local! {
    /// This thread's reserved block of ids: `(next, end)`, empty at start.
    static THREAD_ID_BLOCK: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

#[cold]
fn reserve_block() -> u64 {
    let start = NEXT_BLOCK_START.fetch_add(ID_BLOCK_SIZE, Ordering::Relaxed);
    // 2^64 ids at one block per nanosecond last 584 years; wrapping would
    // reuse ids, which the contract forbids, so it is a bug worth a panic.
    assert!(start < u64::MAX - ID_BLOCK_SIZE, "async id space exhausted");
    start
}

impl fmt::Debug for AsyncId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AsyncId({})", self.0)
    }
}

impl fmt::Display for AsyncId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl From<AsyncId> for u64 {
    fn from(id: AsyncId) -> u64 {
        id.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_increase_within_a_thread_across_blocks() {
        let mut previous = AsyncId::allocate();
        for _ in 0..(3 * ID_BLOCK_SIZE) {
            let next = AsyncId::allocate();
            assert!(next > previous, "{next} after {previous}");
            previous = next;
        }
    }

    #[test]
    fn reserved_ids_are_never_allocated() {
        for _ in 0..10 {
            let id = AsyncId::allocate();
            assert!(id > AsyncId::ROOT);
        }
    }

    #[test]
    fn display_is_the_bare_number() {
        assert_eq!(AsyncId::from_u64(42).to_string(), "42");
        assert_eq!(format!("{:?}", AsyncId::ROOT), "AsyncId(1)");
    }
}
