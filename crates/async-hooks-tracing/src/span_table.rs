//! The side table from async id to the resource's span.
//!
//! Hooks receive only an [`AsyncId`] in `before`/`after`/`destroy`, so the
//! span made at `init` is kept here until `destroy`.
//!
//! Async ids are handed out in increasing order (per thread, in blocks of
//! consecutive ids) and most resources live briefly, so the live ids are
//! mostly a few narrow, moving windows. The table therefore keeps each span
//! in the slot its id indexes directly (`id % N_SLOTS`: no hashing, no
//! probing, no shared lock), each slot under a lock of its own
//! ([`SlotLock`], one atomic read-modify-write to lock and a plain store to
//! unlock). An id whose slot a longer-lived resource still holds goes to the
//! overflow map (a `Mutex<HashMap>`), which lookups consult only while it is
//! not empty. An entry never moves between its slot and the overflow.
//! Architecture invariant: no lock of the table is ever held while calling
//! into `tracing` (a subscriber may take locks of its own, or create async
//! resources on another thread that need this table), and a slot's lock is
//! held only to move or copy a handle in or out: never while allocating or
//! formatting.
//!
//! The `key=value` text of attributes without a declared field (rare) is
//! kept apart, in a `Mutex<HashMap>` of its own, so that slots stay small and
//! a slot's lock is never held while text is formatted.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::PoisonError;

use async_hooks_core::AsyncId;
use tracing_core::{Dispatch, span};

use crate::callsite::ResourceCallsite;
use crate::id_hasher::IdHasher;
use crate::sync::{AtomicUsize, Mutex, MutexGuard, Ordering, SlotLock};

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
    /// Whether the table holds `key=value` text for the catch-all field of
    /// this span (set under the text map's lock, so that the removal of the
    /// entry knows to take the text out too).
    has_undeclared: bool,
}

impl SpanEntry {
    pub(crate) fn new(span: SpanHandle, callsite: &'static ResourceCallsite) -> SpanEntry {
        SpanEntry { span, callsite, has_undeclared: false }
    }
}

type IdHashMap<V> = HashMap<AsyncId, V, BuildHasherDefault<IdHasher>>;

/// Few slots under loom, so that ids share one without being far apart.
const SLOT_BITS: u32 = if cfg!(async_hooks_loom) { 1 } else { 12 };

/// How many slots a table has: enough for the live short-lived resources of
/// a few threads at once (each thread's ids are consecutive, so they take
/// consecutive slots). Resources outliving 4096 of their thread's successors
/// send those successors that meet them to the overflow.
const N_SLOTS: usize = 1 << SLOT_BITS;

/// One slot: the entry of the id it indexes, if any.
type Slot = SlotLock<Option<(AsyncId, SpanEntry)>>;

/// Tells tables apart in the per-thread stack of entered spans; a serial,
/// not an address, because a table dropped and a new one made at the same
/// address must not match.
static NEXT_TABLE_SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Live spans by async id.
pub(crate) struct SpanTable {
    serial: u64,
    /// An array, not a slice, so that indexing by `id % N_SLOTS` needs no
    /// bounds check.
    slots: Box<[Slot; N_SLOTS]>,
    /// Entries whose slot was taken when they were inserted.
    overflow: Mutex<IdHashMap<SpanEntry>>,
    /// How many entries `overflow` holds: changed under its lock, read
    /// without it so that lookups of slot entries never take it.
    n_overflow: AtomicUsize,
    /// Catch-all text by id, for entries with `has_undeclared`. Locked
    /// before a slot or the overflow when both are held.
    undeclared: Mutex<IdHashMap<String>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SpanTable {
    pub(crate) fn new() -> SpanTable {
        let serial = NEXT_TABLE_SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let slots: Box<[Slot]> = (0..N_SLOTS).map(|_| SlotLock::new(None)).collect();
        let Ok(slots) = slots.try_into() else {
            unreachable!("async-hooks-tracing bug: the span table was made with the wrong number of slots")
        };
        SpanTable {
            serial,
            slots,
            overflow: Mutex::default(),
            n_overflow: AtomicUsize::new(0),
            undeclared: Mutex::default(),
        }
    }

    /// Tells this table apart from every other one made in the process.
    pub(crate) fn serial(&self) -> u64 {
        self.serial
    }

    #[inline(always)]
    fn slot(&self, id: AsyncId) -> &Slot {
        &self.slots[id.as_u64() as usize % N_SLOTS]
    }

    #[inline(always)]
    fn overflow_is_empty(&self) -> bool {
        // Relaxed is enough: an insert into the overflow that happened
        // before this lookup is seen (coherence); one racing it may or may
        // not be, as under a lock.
        self.n_overflow.load(Ordering::Relaxed) == 0
    }

    /// Keeps `entry` for `id`, and `undeclared` as its catch-all text.
    #[inline(always)]
    pub(crate) fn insert(&self, id: AsyncId, entry: SpanEntry, undeclared: Option<String>) {
        // The common case, kept short: no text, and the slot is free.
        let entry = match undeclared {
            None => {
                let mut held = self.slot(id).lock();
                if held.is_none() {
                    *held = Some((id, entry));
                    drop(held);
                    if !self.overflow_is_empty() {
                        self.remove_older_copy(id);
                    }
                    return;
                }
                drop(held);
                entry
            }
            Some(_) => entry,
        };
        self.insert_slow(id, entry, undeclared);
    }

    /// After `id` was put in its slot: drops an older copy of it from the
    /// overflow (ids are not reused, so this is for robustness), as
    /// [`SpanTable::insert_slow`] does.
    #[cold]
    #[inline(never)]
    fn remove_older_copy(&self, id: AsyncId) {
        if let Some(replaced) = self.remove_overflow(id) {
            if replaced.has_undeclared {
                lock(&self.undeclared).remove(&id);
            }
            replaced.span.dispatch.try_close(replaced.span.id);
        }
    }

    /// [`SpanTable::insert`] with catch-all text, or when the slot is taken.
    #[cold]
    #[inline(never)]
    fn insert_slow(&self, id: AsyncId, mut entry: SpanEntry, undeclared: Option<String>) {
        let has_undeclared = undeclared.is_some();
        if let Some(text) = undeclared {
            entry.has_undeclared = true;
            lock(&self.undeclared).insert(id, text);
        }
        let mut held = self.slot(id).lock();
        let replaced = match &mut *held {
            free @ None => {
                *free = Some((id, entry));
                drop(held);
                // An id is in one place only: drop an older copy from the
                // overflow (ids are not reused, so this is for robustness).
                if self.overflow_is_empty() { None } else { self.remove_overflow(id) }
            }
            Some((held_id, held_entry)) if *held_id == id => {
                let replaced = std::mem::replace(held_entry, entry);
                drop(held);
                Some(replaced)
            }
            Some(_) => {
                drop(held);
                self.insert_overflow(id, entry)
            }
        };
        // Ids are never reused, so nothing is replaced; if something were,
        // close it outside the lock rather than leak it.
        if let Some(replaced) = replaced {
            if replaced.has_undeclared && !has_undeclared {
                lock(&self.undeclared).remove(&id);
            }
            replaced.span.dispatch.try_close(replaced.span.id);
        }
    }

    /// A copy of the span handle of `id`. Always inlined: returned through
    /// memory, the handle is written in words and read back in wider loads,
    /// which stalls store forwarding.
    #[inline(always)]
    pub(crate) fn handle(&self, id: AsyncId) -> Option<SpanHandle> {
        let overflow_is_empty = match &*self.slot(id).lock() {
            Some((held_id, entry)) if *held_id == id => return Some(entry.span.clone()),
            _ => self.overflow_is_empty(),
        };
        if overflow_is_empty {
            return None;
        }
        lock(&self.overflow).get(&id).map(|entry| entry.span.clone())
    }

    /// Runs `f` on the entry of `id` under its slot's (or the overflow's)
    /// lock. `f` must be short: no allocation, no call into `tracing`.
    #[inline]
    fn with_entry<R>(&self, id: AsyncId, f: impl FnOnce(&mut SpanEntry) -> R) -> Option<R> {
        let in_overflow = match &mut *self.slot(id).lock() {
            Some((held_id, entry)) if *held_id == id => return Some(f(entry)),
            _ => !self.overflow_is_empty(),
        };
        if !in_overflow {
            return None;
        }
        lock(&self.overflow).get_mut(&id).map(f)
    }

    /// The span and callsite of `id`.
    pub(crate) fn span_and_callsite(&self, id: AsyncId) -> Option<(SpanHandle, &'static ResourceCallsite)> {
        self.with_entry(id, |entry| (entry.span.clone(), entry.callsite))
    }

    /// Lets `append` add to the catch-all text of `id` and returns a copy of
    /// the text; `None` (and `append` is not called) if `id` has no entry.
    pub(crate) fn append_undeclared(&self, id: AsyncId, append: impl FnOnce(&mut String)) -> Option<String> {
        let mut texts = lock(&self.undeclared);
        // Marked under the text lock: a removal that takes the entry after
        // this sees the mark and waits for the lock to take the text out.
        self.with_entry(id, |entry| entry.has_undeclared = true)?;
        let text = texts.entry(id).or_default();
        append(text);
        Some(text.clone())
    }

    /// Takes the span of `id` out of the table and closes it (outside the
    /// lock).
    #[inline]
    pub(crate) fn close(&self, id: AsyncId) {
        self.remove_with(id, |span| span.dispatch.try_close(span.id.clone()));
    }

    /// Takes the span of `id` out of the table and lends it to `f` (outside
    /// the lock), then drops it. `f` gets it neither through an `Option`
    /// returned through memory nor moved into an argument: each copy writes
    /// the handle in words and reads it back in wider loads, which stalls
    /// store forwarding. It borrows the entry where it was taken to.
    #[inline(always)]
    fn remove_with<R>(&self, id: AsyncId, f: impl FnOnce(&SpanHandle) -> R) -> Option<R> {
        let mut held = self.slot(id).lock();
        match held.take() {
            Some((held_id, entry)) if held_id == id => {
                drop(held);
                if entry.has_undeclared {
                    self.remove_undeclared(id);
                }
                Some(f(&entry.span))
            }
            other => {
                *held = other;
                drop(held);
                self.remove_from_overflow(id).map(|span| f(&span))
            }
        }
    }

    /// Takes out the span of `id` if it is not in its slot.
    #[cold]
    #[inline(never)]
    fn remove_from_overflow(&self, id: AsyncId) -> Option<SpanHandle> {
        if self.overflow_is_empty() {
            return None;
        }
        let entry = self.remove_overflow(id)?;
        if entry.has_undeclared {
            self.remove_undeclared(id);
        }
        Some(entry.span)
    }

    #[cold]
    #[inline(never)]
    fn remove_undeclared(&self, id: AsyncId) {
        lock(&self.undeclared).remove(&id);
    }

    #[cold]
    fn insert_overflow(&self, id: AsyncId, entry: SpanEntry) -> Option<SpanEntry> {
        let mut overflow = lock(&self.overflow);
        let replaced = overflow.insert(id, entry);
        self.n_overflow.store(overflow.len(), Ordering::Relaxed);
        replaced
    }

    #[cold]
    fn remove_overflow(&self, id: AsyncId) -> Option<SpanEntry> {
        let mut overflow = lock(&self.overflow);
        let removed = overflow.remove(&id);
        self.n_overflow.store(overflow.len(), Ordering::Relaxed);
        removed
    }

    /// How many spans are live. Visits every slot: for diagnostics, not for
    /// hot paths.
    pub(crate) fn len(&self) -> usize {
        let in_slots = self.slots.iter().filter(|slot| slot.lock().is_some()).count();
        in_slots + lock(&self.overflow).len()
    }
}

impl Drop for SpanTable {
    /// Closes the spans of resources never destroyed while the hook set was
    /// enabled (it was disabled first), so subscribers still export them.
    fn drop(&mut self) {
        let mut leftovers: Vec<SpanHandle> =
            self.slots.iter_mut().filter_map(|slot| slot.get_mut().take()).map(|(_, entry)| entry.span).collect();
        let overflow = self.overflow.get_mut().unwrap_or_else(PoisonError::into_inner);
        leftovers.extend(overflow.drain().map(|(_, entry)| entry.span));
        for span in leftovers {
            span.dispatch.try_close(span.id);
        }
    }
}

#[cfg(all(test, not(async_hooks_loom)))]
mod tests {
    use std::panic::Location;

    use proptest::prelude::*;
    use tracing_core::Level;

    use super::*;
    use crate::callsite::callsite_for;

    fn entry(span: u64) -> SpanEntry {
        SpanEntry::new(
            SpanHandle { id: span::Id::from_u64(span), dispatch: Dispatch::none() },
            callsite_for(Level::INFO, "TableResource", Location::caller(), &[]),
        )
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u64),
        Remove(u64),
        Get(u64),
        Append(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        // Ids near each other, and ids a multiple of the slot count apart
        // (so that they share a slot and meet in the overflow).
        let id = prop_oneof![1_u64..64, (1_u64..8, 0_u64..4).prop_map(|(n, k)| n + k * N_SLOTS as u64)];
        prop_oneof![
            id.clone().prop_map(Op::Insert),
            id.clone().prop_map(Op::Remove),
            id.clone().prop_map(Op::Get),
            id.prop_map(Op::Append),
        ]
    }

    proptest! {
        #[test]
        fn the_table_agrees_with_a_hash_map(ops in proptest::collection::vec(op(), 0..300)) {
            let table = SpanTable::new();
            // id -> (span id, catch-all text)
            let mut model: HashMap<u64, (u64, String)> = HashMap::new();
            for (step, op) in ops.into_iter().enumerate() {
                let step = step as u64 + 1;
                match op {
                    Op::Insert(raw) => {
                        table.insert(AsyncId::from_u64(raw), entry(step), None);
                        model.insert(raw, (step, String::new()));
                    }
                    Op::Remove(raw) => {
                        let removed = table.remove_with(AsyncId::from_u64(raw), |span| span.id.into_u64());
                        prop_assert_eq!(removed, model.remove(&raw).map(|(span, _)| span));
                    }
                    Op::Get(raw) => {
                        let found = table.handle(AsyncId::from_u64(raw)).map(|span| span.id.into_u64());
                        prop_assert_eq!(found, model.get(&raw).map(|(span, _)| *span));
                    }
                    Op::Append(raw) => {
                        let text = table.append_undeclared(AsyncId::from_u64(raw), |text| text.push('x'));
                        let expected = model.get_mut(&raw).map(|(_, text)| {
                            text.push('x');
                            text.clone()
                        });
                        prop_assert_eq!(text, expected);
                    }
                }
            }
            prop_assert_eq!(table.len(), model.len());
            let texts = lock(&table.undeclared).len();
            prop_assert_eq!(texts, model.values().filter(|(_, text)| !text.is_empty()).count());
        }
    }

    #[test]
    fn ids_sharing_a_slot_are_all_found_and_removed() {
        let table = SpanTable::new();
        let ids: Vec<AsyncId> = (0..5).map(|k| AsyncId::from_u64(7 + k * N_SLOTS as u64)).collect();
        for (span, id) in ids.iter().enumerate() {
            table.insert(*id, entry(span as u64 + 1), Some(format!("text {span}")));
        }
        assert_eq!(table.len(), 5);
        for (span, id) in ids.iter().enumerate() {
            assert_eq!(table.handle(*id).map(|handle| handle.id.into_u64()), Some(span as u64 + 1));
        }
        for id in &ids {
            assert!(table.remove_with(*id, |_| ()).is_some());
            assert!(table.handle(*id).is_none());
        }
        assert_eq!(table.len(), 0);
        assert!(lock(&table.undeclared).is_empty(), "removals take the catch-all text out");
        assert!(table.overflow_is_empty());
    }
}

/// Models of lookups against a removal on another thread, of two ids meeting
/// in one slot, and of catch-all text against a removal. Run with
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

    fn entry(span: u64) -> SpanEntry {
        SpanEntry::new(
            SpanHandle { id: span::Id::from_u64(span), dispatch: Dispatch::none() },
            callsite_for(Level::INFO, "LoomResource", Location::caller(), &[]),
        )
    }

    fn span_of(table: &SpanTable, id: AsyncId) -> Option<u64> {
        table.handle(id).map(|handle| handle.id.into_u64())
    }

    #[test]
    fn loom_a_lookup_after_a_finished_removal_on_another_thread_finds_nothing() {
        loom::model(|| {
            let id = AsyncId::from_u64(42);
            let table = Arc::new(SpanTable::new());
            let removed = Arc::new(AtomicBool::new(false));
            table.insert(id, entry(7), None);
            let remover = {
                let (table, removed) = (Arc::clone(&table), Arc::clone(&removed));
                thread::spawn(move || {
                    assert!(table.remove_with(id, |_| ()).is_some());
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
    fn loom_a_removal_from_the_slot_leaves_the_overflow_entry_found() {
        loom::model(|| {
            // 42 and 44 share a slot under loom (two slots): 44 takes it,
            // 42 goes to the overflow.
            let (id, neighbour) = (AsyncId::from_u64(42), AsyncId::from_u64(44));
            let table = Arc::new(SpanTable::new());
            table.insert(neighbour, entry(1), None);
            table.insert(id, entry(2), None);
            let remover = {
                let table = Arc::clone(&table);
                thread::spawn(move || assert_eq!(table.remove_with(neighbour, |span| span.id.into_u64()), Some(1)))
            };
            // Whether or not the memory or the slot answers, the span of
            // `id` is found, and it is the right one.
            assert_eq!(span_of(&table, id), Some(2));
            remover.join().expect("the remover does not panic");
            assert_eq!(span_of(&table, id), Some(2));
            assert_eq!(span_of(&table, neighbour), None);
        });
    }

    #[test]
    fn loom_ids_inserted_into_one_slot_at_once_both_land() {
        loom::model(|| {
            let (first, second) = (AsyncId::from_u64(42), AsyncId::from_u64(44));
            let table = Arc::new(SpanTable::new());
            let inserter = {
                let table = Arc::clone(&table);
                thread::spawn(move || {
                    table.insert(second, entry(2), None);
                    assert_eq!(span_of(&table, second), Some(2));
                })
            };
            table.insert(first, entry(1), None);
            assert_eq!(span_of(&table, first), Some(1));
            inserter.join().expect("the inserter does not panic");
            assert_eq!(table.len(), 2);
            assert_eq!(table.remove_with(second, |span| span.id.into_u64()), Some(2));
            assert_eq!(table.remove_with(first, |span| span.id.into_u64()), Some(1));
            assert_eq!(table.len(), 0);
        });
    }

    #[test]
    fn loom_a_catch_all_text_appended_while_the_entry_is_removed_is_not_left_behind() {
        loom::model(|| {
            let id = AsyncId::from_u64(42);
            let table = Arc::new(SpanTable::new());
            table.insert(id, entry(1), None);
            let appender = {
                let table = Arc::clone(&table);
                thread::spawn(move || {
                    let _ = table.append_undeclared(id, |text| text.push_str("late.key=1"));
                })
            };
            assert!(table.remove_with(id, |_| ()).is_some());
            appender.join().expect("the appender does not panic");
            assert!(super::lock(&table.undeclared).is_empty(), "text of a removed entry stayed");
        });
    }
}
