//! The side table from async id to the resource's span.
//!
//! Hooks receive only an [`AsyncId`] in `before`/`after`/`destroy`, so the
//! span made at `init` is kept here until `destroy`. The table is sharded by
//! id; each shard is a plain `Mutex<IdMap>` (see [`IdMap`]), held only to
//! copy a handle in or out. Architecture invariant: no shard lock is ever
//! held while calling into `tracing` (a subscriber may take locks of its
//! own, or create async resources on another thread that need this table).
//!
//! A resource's first `before` normally runs on the thread that created it,
//! soon after `init` (`run_in_async_scope` on a fresh resource). Each thread
//! therefore remembers the span it put in a table last, and answers
//! [`SpanTable::handle`] for it without the shard lock. The memory is checked
//! against the shard's removal count, which every removal bumps under the
//! lock: once a removal of the id has happened (on any thread) before the
//! lookup, the count differs and the lookup falls back to the shard, as it
//! would find nothing there either. A lookup racing the removal may still
//! return the handle, exactly as a lookup under the lock that wins the race
//! does. The memory holds a [`WeakDispatch`], so it never keeps a
//! subscriber alive.

use std::cell::RefCell;
use std::sync::PoisonError;

use async_hooks_core::AsyncId;
use tracing_core::dispatcher::WeakDispatch;
use tracing_core::{Dispatch, span};

use crate::callsite::ResourceCallsite;
use crate::id_map::IdMap;
use crate::sync::{AtomicU64, Mutex, MutexGuard, Ordering};

/// What it takes to enter, exit, record and close a span: its id and the
/// dispatcher that made it.
#[derive(Clone)]
pub(crate) struct SpanHandle {
    pub(crate) id: span::Id,
    pub(crate) dispatch: Dispatch,
}

/// A live resource's span.
pub(crate) struct SpanEntry {
    pub(crate) span: SpanHandle,
    pub(crate) callsite: &'static ResourceCallsite,
    /// `key=value` text of attributes without a declared field, recorded
    /// into the catch-all field (`None` until there is one).
    pub(crate) undeclared: Option<String>,
}

type SpanMap = IdMap<SpanEntry>;

/// One shard: the map and how many removals it has seen.
struct Shard {
    map: Mutex<SpanMap>,
    /// Bumped under the lock by every removal; read without it by the
    /// per-thread memory of the last insert.
    removals: AtomicU64,
}

/// Few shards under loom, whose cost grows with every modelled lock.
const SHARD_BITS: u32 = if cfg!(async_hooks_loom) { 1 } else { 6 };
const N_SHARDS: usize = 1 << SHARD_BITS;

/// Tells tables apart in the per-thread memory; a serial, not an address,
/// because a table dropped and a new one made at the same address must not
/// match.
static NEXT_TABLE_SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Live spans by async id.
pub(crate) struct SpanTable {
    serial: u64,
    shards: Box<[CachePadded<Shard>]>,
}

/// Keeps each shard's lock on its own cache line, so threads working on
/// different shards do not share one.
#[repr(align(128))]
struct CachePadded<T>(T);

/// What a thread remembers of the span it put in a table last.
struct LastInsert {
    table: u64,
    id: AsyncId,
    shard: usize,
    /// The shard's removal count just after the insert.
    removals: u64,
    span: span::Id,
    dispatch: WeakDispatch,
}

#[cfg(not(async_hooks_loom))]
thread_local! {
    static LAST_INSERT: RefCell<Option<LastInsert>> = const { RefCell::new(None) };
}

#[cfg(async_hooks_loom)]
loom::thread_local! {
    static LAST_INSERT: RefCell<Option<LastInsert>> = RefCell::new(None);
}

impl SpanTable {
    pub(crate) fn new() -> SpanTable {
        let serial = NEXT_TABLE_SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let shards = (0..N_SHARDS)
            .map(|_| CachePadded(Shard { map: Mutex::new(IdMap::new(SHARD_BITS)), removals: AtomicU64::new(0) }))
            .collect();
        SpanTable { serial, shards }
    }

    /// Tells this table apart from every other one made in the process.
    pub(crate) fn serial(&self) -> u64 {
        self.serial
    }

    #[inline]
    fn shard_index(id: AsyncId) -> usize {
        // Ids are allocated in per-thread blocks: the low bits spread
        // neighbours over shards, and the rest index the shard's slots.
        id.as_u64() as usize % N_SHARDS
    }

    #[inline]
    fn lock(&self, index: usize) -> MutexGuard<'_, SpanMap> {
        self.shards[index].0.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    #[inline]
    pub(crate) fn insert(&self, id: AsyncId, entry: SpanEntry) {
        let index = SpanTable::shard_index(id);
        let (span, dispatch) = (entry.span.id.clone(), entry.span.dispatch.downgrade());
        let (replaced, removals) = {
            let mut map = self.lock(index);
            // Read under the lock: no removal from this shard can come
            // between the insert and this read.
            (map.insert(id, entry), self.shards[index].0.removals.load(Ordering::Relaxed))
        };
        let last = LastInsert { table: self.serial, id, shard: index, removals, span, dispatch };
        let _ = LAST_INSERT.try_with(|cell| *cell.borrow_mut() = Some(last));
        // Ids are never reused, so nothing is replaced; if something were,
        // close it outside the lock rather than leak it.
        if let Some(replaced) = replaced {
            replaced.span.dispatch.try_close(replaced.span.id);
        }
    }

    /// A copy of the span handle of `id`. Always inlined: returned through
    /// memory, the handle is written in words and read back in wider loads,
    /// which stalls store forwarding.
    #[inline(always)]
    pub(crate) fn handle(&self, id: AsyncId) -> Option<SpanHandle> {
        if let Some(handle) = self.remembered(id) {
            return Some(handle);
        }
        self.lock(SpanTable::shard_index(id)).get(id).map(|entry| entry.span.clone())
    }

    /// The handle of `id` from this thread's memory of its last insert, if
    /// that was `id` in this table and nothing has been removed from its
    /// shard since.
    #[inline(always)]
    fn remembered(&self, id: AsyncId) -> Option<SpanHandle> {
        LAST_INSERT
            .try_with(|cell| {
                let last = cell.borrow();
                let last = last.as_ref().filter(|last| last.table == self.serial && last.id == id)?;
                // Relaxed is enough: a removal that happened before this
                // lookup is seen (coherence), and an old count only lets
                // this thread use its own memory.
                if self.shards[last.shard].0.removals.load(Ordering::Relaxed) != last.removals {
                    return None;
                }
                // Cannot fail while the entry is in the table (it holds the
                // dispatcher); if it does, the entry is gone.
                let dispatch = last.dispatch.upgrade()?;
                Some(SpanHandle { id: last.span.clone(), dispatch })
            })
            .ok()
            .flatten()
    }

    /// Runs `f` on the entry of `id` under its shard lock. `f` must not call
    /// into `tracing`.
    #[inline]
    pub(crate) fn with_entry<R>(&self, id: AsyncId, f: impl FnOnce(&mut SpanEntry) -> R) -> Option<R> {
        self.lock(SpanTable::shard_index(id)).get_mut(id).map(f)
    }

    #[inline]
    pub(crate) fn remove(&self, id: AsyncId) -> Option<SpanEntry> {
        let index = SpanTable::shard_index(id);
        let mut map = self.lock(index);
        let removed = map.remove(id);
        if removed.is_some() {
            // Any thread's memory of `id` misses from now on. Only written
            // under the lock, so load + store is a bump.
            let removals = &self.shards[index].0.removals;
            removals.store(removals.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
        }
        removed
    }

    /// How many spans are live.
    pub(crate) fn len(&self) -> usize {
        (0..N_SHARDS).map(|index| self.lock(index).len()).sum()
    }
}

impl Drop for SpanTable {
    /// Closes the spans of resources never destroyed while the hook set was
    /// enabled (it was disabled first), so subscribers still export them.
    fn drop(&mut self) {
        let mut leftovers = Vec::new();
        for shard in self.shards.iter_mut() {
            let map = shard.0.map.get_mut().unwrap_or_else(PoisonError::into_inner);
            leftovers.extend(map.drain().map(|entry| entry.span));
        }
        for span in leftovers {
            span.dispatch.try_close(span.id);
        }
    }
}

/// Model of the per-thread memory against a removal on another thread.
/// Run with
/// `RUSTFLAGS="--cfg async_hooks_loom" cargo test -p async-hooks-tracing --release --lib loom`.
#[cfg(all(test, async_hooks_loom))]
mod loom_models {
    use std::panic::Location;
    use std::sync::Arc;

    use async_hooks_core::AsyncId;
    use loom::sync::atomic::{AtomicBool, Ordering};
    use loom::thread;
    use tracing_core::{Dispatch, Level, span};

    use super::{SpanEntry, SpanHandle, SpanTable};
    use crate::callsite::callsite_for;

    fn entry() -> SpanEntry {
        SpanEntry {
            span: SpanHandle { id: span::Id::from_u64(7), dispatch: Dispatch::none() },
            callsite: callsite_for(Level::INFO, "LoomResource", Location::caller(), &[]),
            undeclared: None,
        }
    }

    #[test]
    fn loom_a_lookup_after_a_finished_removal_on_another_thread_finds_nothing() {
        loom::model(|| {
            let id = AsyncId::from_u64(42);
            let table = Arc::new(SpanTable::new());
            let removed = Arc::new(AtomicBool::new(false));
            // Inserted here: this thread remembers the span.
            table.insert(id, entry());
            let remover = {
                let (table, removed) = (Arc::clone(&table), Arc::clone(&removed));
                thread::spawn(move || {
                    assert!(table.remove(id).is_some());
                    removed.store(true, Ordering::Release);
                })
            };
            let saw_removal = removed.load(Ordering::Acquire);
            let found = table.handle(id);
            if saw_removal {
                assert!(found.is_none(), "the memory answered for a span removed before the lookup");
            }
            remover.join().expect("the remover does not panic");
            assert!(table.handle(id).is_none());
        });
    }

    #[test]
    fn loom_a_removal_of_a_neighbour_only_makes_the_memory_miss() {
        loom::model(|| {
            // 42 and 44 share a shard under loom (two shards).
            let (id, neighbour) = (AsyncId::from_u64(42), AsyncId::from_u64(44));
            let table = Arc::new(SpanTable::new());
            table.insert(neighbour, entry());
            table.insert(id, entry());
            let remover = {
                let table = Arc::clone(&table);
                thread::spawn(move || assert!(table.remove(neighbour).is_some()))
            };
            // Whether or not the memory misses, the span of `id` is found.
            assert!(table.handle(id).is_some());
            remover.join().expect("the remover does not panic");
            assert!(table.handle(id).is_some());
        });
    }
}
