//! The side table from `tokio::task::Id` to the task's [`AsyncResource`].
//!
//! tokio's task hooks carry only a task id, so the resource created in the
//! spawn hook must be found again in the poll hooks: in this table. It is a
//! fixed array of `Mutex<HashMap>` shards, each on its own cache line,
//! selected by a mix of the id's bits. tokio ids come from one global
//! counter, so consecutive spawns land on different shards and two workers
//! rarely meet on one lock.
//!
//! Entries are `Arc`s, and stay in the table for the task's whole life
//! (until `terminate`), because on the multi-thread runtime two workers can
//! hold a task at once: tokio calls its after-poll hook only after the task
//! may already have been rescheduled, so worker B can start poll n+1 (and
//! even finish the task) before worker A has run the after-poll hook of
//! poll n. Each worker's polling stack holds its own handle, so A's `after`
//! always finds the right resource, whatever B did meanwhile. (Moving the
//! resource out of the table for the length of a poll would save the
//! allocation but lose B's poll.)
//!
//! Architecture invariant: no lock of this table is held while any other
//! code runs. Every method takes the shard lock, does one map operation and
//! releases it; resources are created before [`TaskTable::insert`] and
//! dropped (dispatching `destroy` to user hooks) after
//! [`TaskTable::remove`] returned, so a hook that spawns a task, or a task
//! table access from a user callback, can never deadlock.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use async_hooks_core::AsyncResource;
use tokio::task::Id;

/// How many shards; a power of two. Far more than the cores of any machine
/// this is likely to run on, so contention stays rare, and small enough that
/// the table costs 4 KiB.
const N_SHARDS: usize = 64;

/// The process-wide table of live tasks of every runtime with automatic
/// propagation installed. tokio task ids are unique across runtimes.
pub(crate) static TASK_TABLE: TaskTable = TaskTable::new();

pub(crate) struct TaskTable {
    shards: [Shard; N_SHARDS],
    len: AtomicUsize,
}

/// One shard's map; `None` until its first task, so the table can be built
/// in a `static`.
type ShardMap = Option<HashMap<Id, Arc<AsyncResource>, BuildHasherDefault<IdHasher>>>;

/// A shard on a cache line of its own, so that two workers locking
/// neighbouring shards do not share one.
#[repr(align(64))]
struct Shard {
    map: Mutex<ShardMap>,
}

impl TaskTable {
    const fn new() -> TaskTable {
        TaskTable { shards: [const { Shard { map: Mutex::new(None) } }; N_SHARDS], len: AtomicUsize::new(0) }
    }

    fn shard(&self, id: Id) -> MutexGuard<'_, ShardMap> {
        let index = shard_index(id);
        // A poisoned shard only means some thread panicked elsewhere while
        // holding it; each map operation is atomic, so the map is intact.
        self.shards[index].map.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds the resource of a task that was just spawned. Returns the
    /// resource of an earlier task with the same id, if tokio reused an id
    /// whose task this table still tracks (the caller destroys it).
    pub(crate) fn insert(&self, id: Id, resource: Arc<AsyncResource>) -> Option<Arc<AsyncResource>> {
        let replaced = self.shard(id).get_or_insert_with(HashMap::default).insert(id, resource);
        if replaced.is_none() {
            self.len.fetch_add(1, Ordering::Relaxed);
        }
        replaced
    }

    /// A handle to the resource of task `id`, if it is tracked.
    #[inline]
    pub(crate) fn get(&self, id: Id) -> Option<Arc<AsyncResource>> {
        self.shard(id).as_ref().and_then(|map| map.get(&id).cloned())
    }

    /// Stops tracking task `id`, returning its resource.
    pub(crate) fn remove(&self, id: Id) -> Option<Arc<AsyncResource>> {
        let removed = self.shard(id).as_mut().and_then(|map| map.remove(&id));
        if removed.is_some() {
            self.len.fetch_sub(1, Ordering::Relaxed);
        }
        removed
    }

    /// How many tasks are tracked.
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }
}

/// An odd constant with well-spread bits (2^64 / golden ratio): multiplying
/// by it moves the entropy of consecutive ids into the high bits.
const SHARD_MIX: u64 = 0x9e37_79b9_7f4a_7c15;

/// Which shard holds `id`: the top bits of the id times [`SHARD_MIX`].
#[inline]
fn shard_index(id: Id) -> usize {
    (raw_id(id).wrapping_mul(SHARD_MIX) >> (64 - N_SHARDS.trailing_zeros())) as usize
}

/// The id as tokio hashes it: one `write_u64` of its number.
fn raw_id(id: Id) -> u64 {
    let mut capture = IdHasher(0);
    id.hash(&mut capture);
    capture.0
}

/// A hasher for task ids inside a shard. Ids are one `u64` from a counter;
/// mixing it with a different constant from the shard selection keeps the
/// map's bucket and tag bits independent of the shard bits.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    #[inline]
    fn write_u64(&mut self, raw: u64) {
        self.0 = raw;
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        // Not reached for `Id` (it hashes as one `u64`); kept correct for
        // any future representation.
        for byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*byte)).wrapping_mul(SHARD_MIX);
        }
    }

    #[inline]
    fn finish(&self) -> u64 {
        (self.0 ^ (self.0 >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real task ids: tokio hands them out only to spawned tasks.
    fn task_ids(n: usize) -> Vec<Id> {
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("the runtime builds");
        runtime.block_on(async {
            let mut ids = Vec::with_capacity(n);
            for _ in 0..n {
                ids.push(tokio::spawn(async { tokio::task::id() }).await.expect("the task completes"));
            }
            ids
        })
    }

    #[test]
    fn insert_get_remove_track_each_task_once() {
        let table = TaskTable::new();
        let ids = task_ids(200);
        for id in &ids {
            assert!(table.insert(*id, Arc::new(AsyncResource::new("Test"))).is_none());
        }
        assert_eq!(table.len(), 200);
        let first = table.get(ids[0]).expect("tracked");
        assert!(Arc::ptr_eq(&first, &table.get(ids[0]).expect("tracked")));
        for id in &ids {
            assert!(table.remove(*id).is_some());
            assert!(table.remove(*id).is_none(), "removed once");
            assert!(table.get(*id).is_none());
        }
        assert_eq!(table.len(), 0);
    }

    #[test]
    fn consecutive_ids_spread_over_the_shards() {
        let mut used = [false; N_SHARDS];
        for id in task_ids(256) {
            used[shard_index(id)] = true;
        }
        let n_used = used.iter().filter(|used| **used).count();
        assert!(n_used >= N_SHARDS * 3 / 4, "256 consecutive ids used only {n_used} of {N_SHARDS} shards");
    }
}
