//! The side table from async id to the resource's span.
//!
//! Hooks receive only an [`AsyncId`] in `before`/`after`/`destroy`, so the
//! span made at `init` is kept here until `destroy`. The table is sharded by
//! id; each shard is a plain `Mutex<HashMap>`, held only to copy a handle in
//! or out. Architecture invariant: no shard lock is ever held while calling
//! into `tracing` (a subscriber may take locks of its own, or create async
//! resources on another thread that need this table).

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_hooks_core::AsyncId;
use tracing_core::{Dispatch, span};

use crate::callsite::ResourceCallsite;
use crate::id_hasher::IdHasher;

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

type Shard = Mutex<HashMap<AsyncId, SpanEntry, BuildHasherDefault<IdHasher>>>;

const N_SHARDS: usize = 64;

/// Live spans by async id.
pub(crate) struct SpanTable {
    shards: Box<[CachePadded<Shard>]>,
}

/// Keeps each shard's lock on its own cache line, so threads working on
/// different shards do not share one.
#[repr(align(128))]
#[derive(Default)]
struct CachePadded<T>(T);

impl SpanTable {
    pub(crate) fn new() -> SpanTable {
        SpanTable { shards: (0..N_SHARDS).map(|_| CachePadded::default()).collect() }
    }

    #[inline]
    fn shard(&self, id: AsyncId) -> MutexGuard<'_, HashMap<AsyncId, SpanEntry, BuildHasherDefault<IdHasher>>> {
        // Ids are allocated in per-thread blocks: spread neighbours over shards.
        let index = (id.as_u64().wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58) as usize % N_SHARDS;
        self.shards[index].0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    #[inline]
    pub(crate) fn insert(&self, id: AsyncId, entry: SpanEntry) {
        let replaced = self.shard(id).insert(id, entry);
        // Ids are never reused, so nothing is replaced; if something were,
        // close it outside the lock rather than leak it.
        if let Some(replaced) = replaced {
            replaced.span.dispatch.try_close(replaced.span.id);
        }
    }

    /// A copy of the span handle of `id`.
    #[inline]
    pub(crate) fn handle(&self, id: AsyncId) -> Option<SpanHandle> {
        self.shard(id).get(&id).map(|entry| entry.span.clone())
    }

    /// Runs `f` on the entry of `id` under its shard lock. `f` must not call
    /// into `tracing`.
    #[inline]
    pub(crate) fn with_entry<R>(&self, id: AsyncId, f: impl FnOnce(&mut SpanEntry) -> R) -> Option<R> {
        self.shard(id).get_mut(&id).map(f)
    }

    #[inline]
    pub(crate) fn remove(&self, id: AsyncId) -> Option<SpanEntry> {
        self.shard(id).remove(&id)
    }

    /// How many spans are live.
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|shard| shard.0.lock().unwrap_or_else(PoisonError::into_inner).len()).sum()
    }
}

impl Drop for SpanTable {
    /// Closes the spans of resources never destroyed while the hook set was
    /// enabled (it was disabled first), so subscribers still export them.
    fn drop(&mut self) {
        let mut leftovers = Vec::new();
        for shard in self.shards.iter_mut() {
            let map = shard.0.get_mut().unwrap_or_else(PoisonError::into_inner);
            leftovers.extend(map.drain().map(|(_, entry)| entry.span));
        }
        for span in leftovers {
            span.dispatch.try_close(span.id);
        }
    }
}
