//! The side table from `tokio::task::Id` to the task's [`AsyncResource`].
//!
//! tokio's task hooks carry only a task id, so the resource created in the
//! spawn hook must be found again in the poll hooks: in this table.
//!
//! # Layout: locality first
//!
//! tokio ids come from one global counter, and a runtime spawns and polls
//! tasks in roughly that order, so the ids alive at any moment form a
//! window of mostly consecutive numbers. The table turns that into memory
//! locality instead of hashing it away: it is a fixed array of shards, each
//! a spin lock over a direct-mapped slot array, and an id picks
//!
//! - its shard by bits above the lowest [`RUN_BITS`]: a run of consecutive
//!   ids shares a shard, and the next run goes to the next shard, so the
//!   spawner and the workers (which poll older ids) rarely meet on a lock;
//! - its slot in the shard by the remaining bits: consecutive ids of one
//!   shard sit in consecutive slots, four to a cache line, so a runtime
//!   sweeping through its tasks reads memory in order (a `HashMap`
//!   scatters them: with 10,000 live tasks its lookups missed the cache,
//!   and releasing the shard lock waited for those misses).
//!
//! An id whose slot is taken by another live task (one that lived while
//! more ids than the shard's slots span were handed out) goes to the
//! shard's overflow `HashMap`; when the overflow grows past an eighth of
//! the slots, the shard doubles its slots. Slots grow only when collisions
//! pile up, so memory follows the number of live tasks, not the span of
//! their ids; like a `HashMap`'s, a shard's slots never shrink. Every
//! operation is O(1) (amortized, counting the doubling).
//!
//! # Handles
//!
//! Entries are counted handles to task cells ([`TaskRef`]; `Arc`-like, but
//! the cells are allocated by the shards and recycled through their free
//! lists, see [`task_cell`](crate::task_cell)), and stay in the table for
//! the task's whole life
//! (until `terminate`), because on the multi-thread runtime two workers can
//! hold a task at once: tokio calls its after-poll hook only after the task
//! may already have been rescheduled, so worker B can start poll n+1 (and
//! even finish the task) before worker A has run the after-poll hook of
//! poll n. Each worker's polling slot holds its own handle, so A's `after`
//! always finds the right resource, whatever B did meanwhile. (Moving the
//! resource out of the table for the length of a poll would save the
//! reference count but lose B's poll.)
//!
//! Architecture invariant: no lock of this table is held while any other
//! code runs. Every method takes the shard lock, does one slot (or overflow
//! map) operation and releases it; resources are created before
//! [`TaskTable::insert`] and dropped (dispatching `destroy` to user hooks)
//! by [`TaskTable::release`] before it takes a lock to put the cell back,
//! so a hook that spawns a task, or a task table access from a user
//! callback, can never deadlock. The table itself has no `unsafe` and no
//! atomics (the cells' counts are in `task_cell.rs`): each shard is a
//! `spin::mutex::SpinMutex` (below; loom's `Mutex` in the loom models, see
//! `sync.rs`).
//!
//! # Why a spin lock
//!
//! Every table operation is one lock and one unlock, several per task
//! (insert, a lookup per poll, removal, and giving the task's cell back to
//! its free list), so the lock's own cost is paid on every task. `std`'s
//! futex mutex unlocks with a swap (to learn whether a waiter must be
//! woken): two atomic read-modify-writes per operation. A
//! spin lock unlocks with a plain release store: one. A shard is held for
//! one slot operation (no user code, no core call, no `destroy`), two
//! threads meet on one only when they work on neighbouring ids at the same
//! moment, and a waiter yields its time slice instead of spinning
//! (`spin::relax::Yield`), so a preempted holder costs it a yield. The
//! longest hold is a shard doubling its slots (`ShardMap::grow`), which is
//! rare and amortized. The same lock guards the tracing bridge's span table
//! (`async-hooks-tracing`'s `sync.rs`).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

use async_hooks_core::AsyncResource;
use tokio::task::Id;

use crate::sync::{ShardGuard, ShardLock};
use crate::task_cell::{FreeCells, TaskRef};

/// How many shards; a power of two. Far more than the cores of any machine
/// this is likely to run on, so contention stays rare. Two under loom, to
/// keep the models small.
const N_SHARDS: usize = if cfg!(async_hooks_loom) { 2 } else { 64 };

/// Runs of `2^RUN_BITS` consecutive ids share a shard: four ids, one
/// cache line of slots.
const RUN_BITS: u32 = 2;

/// How many slots a shard starts with, once it sees its first task; a power
/// of two (a shard's slots span `N_SHARDS` times as many ids).
const INITIAL_SLOTS: usize = if cfg!(async_hooks_loom) { 2 } else { 64 };

/// The process-wide table of live tasks of every runtime with automatic
/// propagation installed. tokio task ids are unique across runtimes.
#[cfg(all(tokio_unstable, not(async_hooks_loom)))]
pub(crate) static TASK_TABLE: TaskTable = TaskTable::new();

/// The process-wide table (see above). loom's locks cannot be built in a
/// `static`, and loom objects live for one model execution, so under loom
/// it is built on first use, which no model makes: each builds its own.
#[cfg(all(tokio_unstable, async_hooks_loom))]
pub(crate) static TASK_TABLE: std::sync::LazyLock<TaskTable> = std::sync::LazyLock::new(TaskTable::new);

pub(crate) struct TaskTable {
    shards: [Shard; N_SHARDS],
}

/// A shard on a cache line of its own, so that two workers locking
/// neighbouring shards do not share one.
#[repr(align(64))]
struct Shard {
    map: ShardLock<ShardMap>,
}

/// One entry: a task id and the table's handle to its resource (`Id` is
/// non-zero, so a free slot costs no extra word).
type Slot = Option<(Id, TaskRef)>;

type OverflowMap = HashMap<Id, TaskRef, BuildHasherDefault<IdHasher>>;

/// The tasks of one shard: a direct-mapped slot array indexed by the id's
/// [`slot_key`], and an overflow map for ids whose slot another task holds.
struct ShardMap {
    /// Empty until the shard's first task (so the table can be built in a
    /// `static`), then a power of two long.
    slots: Vec<Slot>,
    /// Tasks whose slot was taken when they were spawned. `None` until the
    /// first collision.
    overflow: Option<OverflowMap>,
    /// How many tasks the shard holds, in slots and overflow.
    len: usize,
    /// The shard's free task cells (see [`task_cell`](crate::task_cell)).
    free: FreeCells,
}

impl ShardMap {
    const fn new() -> ShardMap {
        ShardMap { slots: Vec::new(), overflow: None, len: 0, free: FreeCells::new() }
    }

    #[inline]
    fn slot_index(&self, key: u64) -> usize {
        // The slot array is a power of two long, so this is `key % len`.
        (key as usize) & (self.slots.len().wrapping_sub(1))
    }

    fn overflow_len(&self) -> usize {
        self.overflow.as_ref().map_or(0, HashMap::len)
    }

    fn insert(&mut self, id: Id, resource: TaskRef) -> Option<TaskRef> {
        if self.slots.is_empty() {
            self.slots.resize_with(INITIAL_SLOTS, || None);
        }
        // An id is in its slot or in the overflow, never both: a reused id
        // that is still in the overflow is taken out of it first.
        let mut replaced = match &mut self.overflow {
            Some(overflow) if !overflow.is_empty() => overflow.remove(&id),
            _ => None,
        };
        let index = self.slot_index(slot_key(id));
        match &mut self.slots[index] {
            slot @ None => *slot = Some((id, resource)),
            Some((held, held_resource)) if *held == id => {
                replaced = Some(std::mem::replace(held_resource, resource));
            }
            Some(_) => {
                self.overflow.get_or_insert_with(OverflowMap::default).insert(id, resource);
                if self.overflow_len() > self.slots.len() / 8 {
                    self.grow();
                }
            }
        }
        if replaced.is_none() {
            self.len += 1;
        }
        replaced
    }

    /// Doubles the slots and moves every task, overflow included, to its
    /// place in them (colliding ones back to the overflow).
    #[cold]
    #[inline(never)]
    fn grow(&mut self) {
        let n_slots = self.slots.len() * 2;
        let old_slots = std::mem::replace(&mut self.slots, Vec::with_capacity(n_slots));
        self.slots.resize_with(n_slots, || None);
        let old_overflow = self.overflow.take().unwrap_or_default();
        let mut overflow = OverflowMap::default();
        for (id, resource) in old_slots.into_iter().flatten().chain(old_overflow) {
            let index = self.slot_index(slot_key(id));
            match &mut self.slots[index] {
                slot @ None => *slot = Some((id, resource)),
                Some(_) => {
                    overflow.insert(id, resource);
                }
            }
        }
        self.overflow = (!overflow.is_empty()).then_some(overflow);
    }

    #[inline]
    fn get(&self, id: Id) -> Option<TaskRef> {
        if self.slots.is_empty() {
            return None;
        }
        match &self.slots[self.slot_index(slot_key(id))] {
            Some((held, resource)) if *held == id => Some(resource.acquire()),
            _ => self.overflow.as_ref().and_then(|overflow| overflow.get(&id).map(TaskRef::acquire)),
        }
    }

    fn remove(&mut self, id: Id) -> Option<TaskRef> {
        if self.slots.is_empty() {
            return None;
        }
        let index = self.slot_index(slot_key(id));
        let slot = &mut self.slots[index];
        let removed = match slot {
            Some((held, _)) if *held == id => slot.take().map(|(_, resource)| resource),
            _ => self.overflow.as_mut().and_then(|overflow| overflow.remove(&id)),
        };
        if removed.is_some() {
            self.len -= 1;
        }
        removed
    }
}

impl TaskTable {
    #[cfg(not(async_hooks_loom))]
    const fn new() -> TaskTable {
        TaskTable { shards: [const { Shard { map: ShardLock::new(ShardMap::new()) } }; N_SHARDS] }
    }

    #[cfg(async_hooks_loom)]
    fn new() -> TaskTable {
        TaskTable { shards: std::array::from_fn(|_| Shard { map: ShardLock::new(ShardMap::new()) }) }
    }

    #[inline]
    fn shard(&self, id: Id) -> ShardGuard<'_, ShardMap> {
        self.shards[shard_index(id)].map.lock()
    }

    /// Adds the resource of a task that was just spawned, in a cell of
    /// the task's shard. Returns the table's handle to an earlier task with
    /// the same id, if tokio reused an id whose task this table still
    /// tracks (the caller releases it, which destroys it).
    #[inline]
    pub(crate) fn insert(&self, id: Id, resource: AsyncResource) -> Option<TaskRef> {
        let index = shard_index(id);
        let mut shard = self.shards[index].map.lock();
        let handle = shard.free.occupy(resource, index);
        shard.insert(id, handle)
    }

    /// A handle to the resource of task `id`, if it is tracked.
    #[inline]
    pub(crate) fn get(&self, id: Id) -> Option<TaskRef> {
        self.shard(id).get(id)
    }

    /// Stops tracking task `id`, returning the table's handle to its
    /// resource (for [`release`](Self::release)).
    #[inline]
    pub(crate) fn remove(&self, id: Id) -> Option<TaskRef> {
        self.shard(id).remove(id)
    }

    /// Drops a handle this table gave out. If it was the last, the resource
    /// is dropped (dispatching `destroy`, with no lock held) and its cell
    /// goes back on its shard's free list.
    #[inline]
    pub(crate) fn release(&self, handle: TaskRef) {
        if let Some(free) = handle.release() {
            self.shards[free.home()].map.lock().free.put(free);
        }
    }

    /// How many tasks are tracked. Locks every shard in turn: a diagnostic,
    /// not for hot paths.
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|shard| shard.map.lock().len).sum()
    }
}

/// Which shard holds `id`.
#[inline]
fn shard_index(id: Id) -> usize {
    shard_index_of(raw_id(id))
}

/// Which shard holds the id numbered `raw`: the bits just above the lowest
/// [`RUN_BITS`].
#[inline]
fn shard_index_of(raw: u64) -> usize {
    ((raw >> RUN_BITS) as usize) & (N_SHARDS - 1)
}

/// Where `id` goes in its shard's slots.
#[inline]
fn slot_key(id: Id) -> u64 {
    slot_key_of(raw_id(id))
}

/// Where the id numbered `raw` goes in its shard's slots (modulo their
/// number): the id with the shard bits taken out, so that consecutive ids
/// of one shard get consecutive keys.
#[inline]
fn slot_key_of(raw: u64) -> u64 {
    let run_mask = (1u64 << RUN_BITS) - 1;
    ((raw >> (RUN_BITS + N_SHARDS.trailing_zeros())) << RUN_BITS) | (raw & run_mask)
}

/// The id as tokio hashes it: one `write_u64` of its number.
#[inline]
fn raw_id(id: Id) -> u64 {
    let mut capture = IdHasher(0);
    id.hash(&mut capture);
    capture.0
}

/// An odd constant with well-spread bits (2^64 / golden ratio).
const ID_MIX: u64 = 0x9e37_79b9_7f4a_7c15;

/// A hasher for task ids in the overflow maps. Ids are one `u64` from a
/// counter; it is mixed so the map's bucket and tag bits both vary.
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
            self.0 = (self.0.rotate_left(8) ^ u64::from(*byte)).wrapping_mul(ID_MIX);
        }
    }

    #[inline]
    fn finish(&self) -> u64 {
        let mixed = self.0.wrapping_mul(ID_MIX);
        (mixed ^ (mixed >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9)
    }
}

/// Real task ids, for the tests of this crate: tokio hands them out only to
/// spawned tasks.
#[cfg(test)]
pub(crate) fn task_ids(n: usize) -> Vec<Id> {
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("the runtime builds");
    runtime.block_on(async {
        let mut ids = Vec::with_capacity(n);
        for _ in 0..n {
            ids.push(tokio::spawn(async { tokio::task::id() }).await.expect("the task completes"));
        }
        ids
    })
}

#[cfg(all(test, not(async_hooks_loom)))]
mod tests {
    use super::*;

    fn resource() -> AsyncResource {
        AsyncResource::new("Test")
    }

    #[test]
    fn insert_get_remove_track_each_task_once() {
        let table = TaskTable::new();
        let ids = task_ids(200);
        for id in &ids {
            assert!(table.insert(*id, resource()).is_none());
        }
        assert_eq!(table.len(), 200);
        let first = table.get(ids[0]).expect("tracked");
        let again = table.get(ids[0]).expect("tracked");
        assert!(first.ptr_eq(&again));
        table.release(first);
        table.release(again);
        for id in &ids {
            table.release(table.remove(*id).expect("tracked"));
            assert!(table.remove(*id).is_none(), "removed once");
            assert!(table.get(*id).is_none());
        }
        assert_eq!(table.len(), 0);
    }

    #[test]
    fn released_cells_are_reused_and_destroyed_after_the_last_handle() {
        use async_hooks_core::{HookCallbacks, create_hook};
        use std::sync::Mutex;
        static DESTROYED: Mutex<Vec<u64>> = Mutex::new(Vec::new());
        let hook = create_hook(HookCallbacks::new().on_destroy(|id| DESTROYED.lock().unwrap().push(id.as_u64())));
        hook.enable();
        let table = TaskTable::new();
        let ids = task_ids(2);
        assert!(table.insert(ids[0], resource()).is_none());
        let poll = table.get(ids[0]).expect("tracked");
        let async_id = poll.resource().async_id().as_u64();
        let shard = shard_index(ids[0]);
        let n_free = table.shards[shard].map.lock().free.len();
        table.release(table.remove(ids[0]).expect("tracked"));
        assert!(!DESTROYED.lock().unwrap().contains(&async_id), "a poll's handle is still alive");
        assert_eq!(table.shards[shard].map.lock().free.len(), n_free, "the cell is still in use");
        table.release(poll);
        assert!(DESTROYED.lock().unwrap().contains(&async_id), "the last handle destroys");
        assert_eq!(table.shards[shard].map.lock().free.len(), n_free + 1, "the cell is free again");
        // A handle dropped without `release` destroys too (its cell is leaked).
        assert!(table.insert(ids[1], resource()).is_none());
        let handle = table.remove(ids[1]).expect("tracked");
        let async_id = handle.resource().async_id().as_u64();
        drop(handle);
        assert!(DESTROYED.lock().unwrap().contains(&async_id));
    }

    #[test]
    fn reinserting_an_id_returns_the_earlier_resource() {
        let table = TaskTable::new();
        let id = task_ids(1)[0];
        assert!(table.insert(id, resource()).is_none());
        let earlier = table.get(id).expect("tracked");
        let replaced = table.insert(id, resource()).expect("the earlier resource");
        assert!(replaced.ptr_eq(&earlier));
        table.release(replaced);
        table.release(earlier);
        assert_eq!(table.len(), 1);
        table.release(table.remove(id).expect("tracked"));
        assert_eq!(table.len(), 0);
    }

    // Task ids come from a process-wide counter that other tests advance
    // concurrently, so the layout is checked on id numbers directly.

    #[test]
    fn consecutive_ids_spread_over_the_shards_in_runs() {
        let mut n_ids_per_shard = [0usize; N_SHARDS];
        for raw in 1_000..1_000 + (N_SHARDS << RUN_BITS) as u64 {
            n_ids_per_shard[shard_index_of(raw)] += 1;
        }
        assert!(n_ids_per_shard.iter().all(|n_ids| *n_ids == 1 << RUN_BITS), "{n_ids_per_shard:?}");
        let first_run: Vec<usize> = (0..1 << RUN_BITS).map(shard_index_of).collect();
        assert!(first_run.iter().all(|shard| *shard == first_run[0]), "a run shares its shard: {first_run:?}");
    }

    #[test]
    fn consecutive_ids_of_a_shard_get_consecutive_slot_keys() {
        let shard = shard_index_of(7_777);
        let keys: Vec<u64> = (7_000..7_000 + 64 * (N_SHARDS as u64))
            .filter(|raw| shard_index_of(*raw) == shard)
            .map(slot_key_of)
            .collect();
        assert_eq!(keys.len(), 64);
        assert!(keys.windows(2).all(|pair| pair[1] == pair[0] + 1), "keys: {keys:?}");
        // Ids of one shard that differ in their slot key differ as numbers.
        let mut seen = std::collections::HashSet::new();
        for raw in 1..100_000u64 {
            assert!(seen.insert((shard_index_of(raw), slot_key_of(raw))), "id {raw} shares its place");
        }
    }

    fn n_overflowing(table: &TaskTable) -> usize {
        table.shards.iter().map(|shard| shard.map.lock().overflow_len()).sum()
    }

    fn n_slots(table: &TaskTable) -> usize {
        table.shards.iter().map(|shard| shard.map.lock().slots.len()).sum()
    }

    #[test]
    fn long_lived_tasks_collide_into_the_overflow_and_stay_found() {
        // Keep a few tasks alive while far more come and go than the slots
        // span: later ids collide with the long-lived ones and go to the
        // overflow; every task stays found.
        let table = TaskTable::new();
        let ids = task_ids(40_000);
        let long_lived: Vec<Id> = ids.iter().step_by(997).copied().collect();
        for id in &long_lived {
            assert!(table.insert(*id, resource()).is_none());
        }
        let mut window = std::collections::VecDeque::new();
        let mut max_overflowing = 0;
        for (index, id) in ids.iter().filter(|id| !long_lived.contains(id)).enumerate() {
            assert!(table.insert(*id, resource()).is_none());
            window.push_back(*id);
            if window.len() > 1_000 {
                let oldest = window.pop_front().expect("not empty");
                assert!(table.remove(oldest).is_some());
            }
            if index % 512 == 0 {
                max_overflowing = max_overflowing.max(n_overflowing(&table));
                for live in long_lived.iter().chain(&window) {
                    assert!(table.get(*live).is_some(), "task {live} lost");
                }
            }
        }
        assert!(max_overflowing > 0, "no id collided");
        assert_eq!(table.len(), long_lived.len() + window.len());
        for id in long_lived.iter().chain(&window) {
            assert!(table.remove(*id).is_some());
        }
        assert_eq!(table.len(), 0);
        assert_eq!(n_overflowing(&table), 0);
    }

    #[test]
    fn more_live_tasks_than_slots_grow_the_shards() {
        let table = TaskTable::new();
        let ids = task_ids(20_000);
        for id in &ids {
            assert!(table.insert(*id, resource()).is_none());
        }
        // 20,000 tasks do not fit in 64 shards of 64 slots: the shards grew,
        // each until at most an eighth of its slots' worth overflows.
        assert!(n_slots(&table) > N_SHARDS * INITIAL_SLOTS, "{} slots", n_slots(&table));
        assert!(n_overflowing(&table) <= n_slots(&table) / 8);
        for id in &ids {
            assert!(table.get(*id).is_some(), "task {id} lost");
        }
        assert_eq!(table.len(), ids.len());
        for id in &ids {
            assert!(table.remove(*id).is_some());
        }
        assert_eq!(table.len(), 0);
    }
}

/// Models of the poll hooks' use of the table on two workers: polls that
/// overlap (the multi-thread after-poll quirk), a termination racing with a
/// poll's end, and a poll's start racing with a termination. A poll is
/// [`TaskTable::get`] at its start and the drop of that handle at its end.
/// Each model checks that the resource is dropped exactly once, and only
/// after every poll of it ended. Run with
/// `RUSTFLAGS="--cfg async_hooks_loom" cargo test -p async-hooks-tokio --release --lib loom`.
#[cfg(all(test, async_hooks_loom))]
mod loom_models {
    use async_hooks_core::{AsyncHook, HookCallbacks, create_hook};
    use loom::sync::atomic::{AtomicUsize, Ordering};
    use loom::thread;

    use super::*;
    use crate::sync::Arc;

    /// What the threads of a model share: the table, and counts of the
    /// polls that began and ended, of the resource's drops (its `destroy`)
    /// and of the polls that had ended when it was dropped. The counts are
    /// relaxed: their order comes from the shard lock and the handles'
    /// reference count alone.
    #[derive(Clone)]
    struct Shared {
        table: Arc<TaskTable>,
        n_polls_begun: Arc<AtomicUsize>,
        n_polls_ended: Arc<AtomicUsize>,
        n_drops: Arc<AtomicUsize>,
        n_polls_ended_at_drop: Arc<AtomicUsize>,
        _hook: Arc<AsyncHook<HookCallbacks>>,
    }

    impl Shared {
        fn new(id: Id) -> Shared {
            let counter = || Arc::new(AtomicUsize::new(0));
            let (n_polls_ended, n_drops, n_polls_ended_at_drop) = (counter(), counter(), counter());
            // The core catches a hook's panics, so `destroy` records what it
            // saw, and the model checks it after the threads joined.
            let hook = {
                let (n_polls_ended, n_drops, at_drop) =
                    (n_polls_ended.clone(), n_drops.clone(), n_polls_ended_at_drop.clone());
                create_hook(HookCallbacks::new().on_destroy(move |_| {
                    at_drop.store(n_polls_ended.load(Ordering::Relaxed), Ordering::Relaxed);
                    n_drops.fetch_add(1, Ordering::Relaxed);
                }))
            };
            hook.enable();
            let table = Arc::new(TaskTable::new());
            assert!(table.insert(id, AsyncResource::new("LoomTask")).is_none());
            Shared {
                table,
                n_polls_begun: counter(),
                n_polls_ended,
                n_drops,
                n_polls_ended_at_drop,
                _hook: Arc::new(hook),
            }
        }

        /// `on_before_task_poll`: the poll's own handle.
        fn begin_poll(&self, id: Id) -> Option<TaskRef> {
            let handle = self.table.get(id)?;
            self.n_polls_begun.fetch_add(1, Ordering::Relaxed);
            Some(handle)
        }

        /// `on_after_task_poll`: reads the resource, as the scope's exit
        /// does, then releases the poll's handle.
        fn end_poll(&self, handle: TaskRef) {
            let _ = handle.resource().async_id();
            assert_eq!(self.n_drops.load(Ordering::Relaxed), 0, "dropped under an open poll");
            self.n_polls_ended.fetch_add(1, Ordering::Relaxed);
            self.table.release(handle);
        }

        /// `on_task_terminate`.
        fn remove(&self, id: Id) {
            if let Some(handle) = self.table.remove(id) {
                self.table.release(handle);
            }
        }

        /// The resource was dropped once, after every poll of it ended.
        fn check_done(&self, n_polls: usize) {
            assert_eq!(self.n_polls_begun.load(Ordering::Relaxed), n_polls);
            assert_eq!(self.n_polls_ended.load(Ordering::Relaxed), n_polls);
            assert_eq!(self.n_drops.load(Ordering::Relaxed), 1, "dropped once");
            assert_eq!(self.n_polls_ended_at_drop.load(Ordering::Relaxed), n_polls, "dropped before a poll ended");
            assert_eq!(self.table.len(), 0);
        }
    }

    #[test]
    fn loom_a_late_after_poll_on_another_worker_drops_the_resource_after_both_polls() {
        let id = task_ids(1)[0];
        loom::model(move || {
            let shared = Shared::new(id);
            // Poll n begins on worker A (this thread); tokio reschedules the
            // task before A's after-poll, and poll n+1 begins on worker B,
            // where the task terminates.
            let on_a = shared.begin_poll(id).expect("tracked");
            let worker_b = {
                let shared = shared.clone();
                thread::spawn(move || {
                    let on_b = shared.begin_poll(id).expect("not terminated yet");
                    shared.remove(id);
                    shared.end_poll(on_b);
                })
            };
            shared.end_poll(on_a);
            worker_b.join().expect("worker B does not panic");
            shared.check_done(2);
        });
    }

    #[test]
    fn loom_a_termination_races_with_a_poll_ending_on_another_thread() {
        let id = task_ids(1)[0];
        loom::model(move || {
            let shared = Shared::new(id);
            let poll = shared.begin_poll(id).expect("tracked");
            let terminator = {
                let shared = shared.clone();
                thread::spawn(move || shared.remove(id))
            };
            shared.end_poll(poll);
            terminator.join().expect("the terminating thread does not panic");
            shared.check_done(1);
        });
    }

    #[test]
    fn loom_a_poll_beginning_races_with_a_termination() {
        let id = task_ids(1)[0];
        loom::model(move || {
            let shared = Shared::new(id);
            let terminator = {
                let shared = shared.clone();
                thread::spawn(move || shared.remove(id))
            };
            // Terminated first, the task is not polled.
            let n_polls = match shared.begin_poll(id) {
                Some(poll) => {
                    shared.end_poll(poll);
                    1
                }
                None => 0,
            };
            terminator.join().expect("the terminating thread does not panic");
            shared.check_done(n_polls);
        });
    }

    #[test]
    fn loom_a_cell_freed_on_one_worker_is_reused_by_a_spawn_on_another() {
        // Two ids of one shard: the second task takes the cell the first
        // one's last handle gave back, if that happened first.
        let ids = task_ids(16);
        let first = ids[0];
        let second =
            *ids[1..].iter().find(|id| shard_index(**id) == shard_index(first)).expect("a second id of the shard");
        loom::model(move || {
            let shared = Shared::new(first);
            let on_a = shared.begin_poll(first).expect("tracked");
            let worker_b = {
                let shared = shared.clone();
                thread::spawn(move || {
                    // The final poll, on B: terminates, then ends.
                    let on_b = shared.begin_poll(first).expect("not terminated yet");
                    shared.remove(first);
                    shared.end_poll(on_b);
                })
            };
            shared.end_poll(on_a);
            // A spawns the next task while B may be giving the cell back.
            assert!(shared.table.insert(second, AsyncResource::new("LoomTask")).is_none());
            let poll = shared.table.get(second).expect("tracked");
            let _ = poll.resource().async_id();
            shared.table.release(poll);
            worker_b.join().expect("worker B does not panic");
            let last = shared.table.remove(second).expect("tracked");
            assert_eq!(shared.n_drops.load(Ordering::Relaxed), 1, "the first task was dropped once");
            assert_eq!(shared.n_polls_ended.load(Ordering::Relaxed), 2);
            shared.table.release(last);
            assert_eq!(shared.n_drops.load(Ordering::Relaxed), 2, "the second task was dropped too");
            assert_eq!(shared.table.len(), 0);
        });
    }
}
