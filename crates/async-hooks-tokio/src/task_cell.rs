//! Task cells: where the hook tier keeps each task's resource, and the
//! counted handles to it ([`TaskRef`]).
//!
//! A task's resource is shared by the task table (from spawn to terminate)
//! and by each of its open polls (see the [table](crate::task_table#handles)).
//! An `Arc<AsyncResource>` per task did that at the price of a heap
//! allocation and a free per task; in the usual burst (a runtime spawning
//! thousands of tasks, then finishing them) the allocator's fast per-size
//! caches are empty and those two calls cost more instructions than all the
//! hooks' other work together. So resources live in cells that are allocated
//! [`SLAB_CELLS`] at a time and never freed: each cell belongs to one table
//! shard (its *home*), which keeps the free ones in a list under its lock,
//! and a task's spawn takes a cell from the list of the shard it locks
//! anyway. Memory follows the peak number of live tasks, like the table's
//! slots, which never shrink either.
//!
//! # The protocol
//!
//! A cell's `refs` counts its handles, as an `Arc`'s strong count does:
//!
//! - **Free** (`refs == 0`, resource `None`): only its home shard's free
//!   list knows it, under the shard lock.
//! - **Occupied**: [`FreeCells::occupy`] (under the shard lock) writes the
//!   resource and sets `refs` to 1: the table's handle. A handle is counted
//!   only from another handle ([`TaskRef::acquire`]; the table does it under
//!   the shard lock, from the handle its slot holds), so the count never
//!   rises from 0 and the resource is not written while any handle lives.
//! - **Released**: a handle's drop decrements with `Release`; the one that
//!   brings the count to 0 fences with `Acquire` (so every other handle's
//!   reads happened before), takes the resource out and drops it (which
//!   dispatches `destroy`, with no lock held), and
//!   [`TaskTable::release`](crate::task_table::TaskTable::release) puts the
//!   empty cell back on its home shard's free list, under that lock, which
//!   orders the take before the next occupant's write.
//!
//! Cells are never freed, so a handle can never dangle; the protocol is
//! what keeps the resource slot free of data races. The loom models of the
//! table check it (`task_table.rs`), with loom's `UnsafeCell` reporting any
//! access that races with a write.

use std::mem::ManuallyDrop;
use std::sync::atomic::Ordering;

use async_hooks_core::AsyncResource;

use crate::sync::{AtomicUsize, ResourceSlot, fence};

/// How many cells a shard allocates at once when its free list is empty:
/// 64 cells of 80 bytes. One under loom, to keep the models small.
pub(crate) const SLAB_CELLS: usize = if cfg!(async_hooks_loom) { 1 } else { 64 };

/// A task's resource and the count of handles to it.
pub(crate) struct TaskCell {
    /// How many [`TaskRef`]s exist; 0 while the cell is free.
    refs: AtomicUsize,
    /// `Some` exactly while `refs > 0` (see the module docs).
    resource: ResourceSlot<Option<AsyncResource>>,
    /// The table shard whose free list the cell belongs to.
    home: usize,
}

// SAFETY: the resource slot is written only by the one thread that owns the
// cell (a free cell taken off a free list under its shard's lock, or the
// last handle after its count reached 0, fenced), and only read through
// handles while the count is above 0 (the module docs' protocol); an
// `AsyncResource` itself is `Send` and `Sync`.
unsafe impl Sync for TaskCell {}

/// A counted handle to an occupied cell: the table's, or an open poll's.
/// Dropping it decrements the count; the last one drops the resource
/// (dispatching `destroy`). [`TaskTable::release`] does the same and also
/// puts the empty cell back on its free list; a plain drop leaks the empty
/// cell instead.
///
/// [`TaskTable::release`]: crate::task_table::TaskTable::release
pub(crate) struct TaskRef {
    cell: &'static TaskCell,
}

impl TaskRef {
    /// The task's resource.
    #[inline]
    pub(crate) fn resource(&self) -> &AsyncResource {
        // SAFETY: this handle is counted, so the cell is occupied and its
        // resource is written again only after every handle, this one
        // included, was dropped (module docs).
        match unsafe { &*self.cell.resource.get() } {
            Some(resource) => resource,
            None => unreachable!("bug in async-hooks-tokio: a counted task cell has no resource"),
        }
    }

    /// Another counted handle to the same cell.
    #[inline]
    pub(crate) fn acquire(&self) -> TaskRef {
        // Relaxed, as `Arc::clone`: the new handle comes from this one, so
        // the count is above 0 and stays so.
        self.cell.refs.fetch_add(1, Ordering::Relaxed);
        TaskRef { cell: self.cell }
    }

    /// Whether two handles are handles to the same cell.
    #[cfg(test)]
    pub(crate) fn ptr_eq(&self, other: &TaskRef) -> bool {
        std::ptr::eq(self.cell, other.cell)
    }

    /// Drops this handle without leaking the cell: if it was the last, the
    /// resource is dropped and the empty cell returned, for the caller to
    /// put back on its home shard's free list.
    #[inline]
    #[must_use = "a returned cell is free, and lost unless put back on its free list"]
    pub(crate) fn release(self) -> Option<FreeCell> {
        let this = ManuallyDrop::new(self);
        this.unref().then_some(FreeCell { cell: this.cell })
    }

    /// Uncounts this handle; if it was the last, takes the resource out and
    /// drops it. Returns whether it was the last.
    #[inline]
    fn unref(&self) -> bool {
        if self.cell.refs.fetch_sub(1, Ordering::Release) != 1 {
            return false;
        }
        // Every other handle's accesses happen before what follows.
        fence(Ordering::Acquire);
        // SAFETY: the count reached 0, so this was the last handle: no
        // other handle exists and none can be made (counts are only raised
        // from a live handle), and the cell is on no free list yet.
        let resource = unsafe { self.cell.resource.with_mut(|slot| (*slot).take()) };
        // Dispatches `destroy`; no lock is held.
        drop(resource);
        true
    }
}

impl Drop for TaskRef {
    #[inline]
    fn drop(&mut self) {
        // The empty cell, if this was the last handle, is leaked: cells are
        // never freed, and no free list is known here.
        let _ = self.unref();
    }
}

/// An empty cell, no longer counted, on its way back to its free list.
pub(crate) struct FreeCell {
    cell: &'static TaskCell,
}

impl FreeCell {
    /// The table shard whose free list the cell belongs to.
    #[inline]
    pub(crate) fn home(&self) -> usize {
        self.cell.home
    }
}

/// The free cells of one table shard; kept under the shard's lock.
pub(crate) struct FreeCells {
    cells: Vec<&'static TaskCell>,
}

impl FreeCells {
    pub(crate) const fn new() -> FreeCells {
        FreeCells { cells: Vec::new() }
    }

    /// Occupies a free cell of shard `home` with `resource`, allocating
    /// [`SLAB_CELLS`] new ones if none is free. Returns the first handle
    /// (the table's).
    #[inline]
    pub(crate) fn occupy(&mut self, resource: AsyncResource, home: usize) -> TaskRef {
        let cell = match self.cells.pop() {
            Some(cell) => cell,
            None => self.allocate(home),
        };
        // SAFETY: the cell was free: its count is 0, so no handle to it
        // exists, and it was on no other list. The lock the caller holds
        // (this list's) orders this write after the take of the handle that
        // freed it.
        unsafe { cell.resource.with_mut(|slot| *slot = Some(resource)) };
        // Relaxed: the handle is published to other threads only through
        // the table's shard lock.
        cell.refs.store(1, Ordering::Relaxed);
        TaskRef { cell }
    }

    /// Puts an empty cell back.
    #[inline]
    pub(crate) fn put(&mut self, free: FreeCell) {
        self.cells.push(free.cell);
    }

    /// Allocates [`SLAB_CELLS`] free cells for shard `home`, which are
    /// never freed: keeps all but one, and returns that one.
    #[cold]
    #[inline(never)]
    fn allocate(&mut self, home: usize) -> &'static TaskCell {
        let slab: Vec<TaskCell> = (0..SLAB_CELLS)
            .map(|_| TaskCell { refs: AtomicUsize::new(0), resource: ResourceSlot::new(None), home })
            .collect();
        let slab: &'static [TaskCell] = Box::leak(slab.into_boxed_slice());
        let (first, rest) = slab.split_first().expect("bug in async-hooks-tokio: an empty slab of task cells");
        self.cells.extend(rest.iter().rev());
        first
    }

    /// How many cells are free.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.cells.len()
    }
}

// `TaskCell`'s `Sync` relies on the resource being `Send` and `Sync`.
const _: fn() = || {
    fn send_and_sync<T: Send + Sync>() {}
    send_and_sync::<AsyncResource>();
};
