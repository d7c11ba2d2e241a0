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
//! Each entry counts the holds on its span: scopes open on it (entered at
//! `before`, not yet exited at `after`, on any thread), and calls into
//! `tracing` that use its id after the table's lock is released (a child
//! made under it, attributes recorded on it). A scope is counted before its
//! span is entered and uncounted after it is exited (the per-thread stack of
//! `entered.rs` pairs each `after` with its own `before`). A `destroy` that
//! comes while the span is held only marks the entry, and the last release
//! closes the span: a span is never closed while it is entered or in use, so
//! the rest of a scope keeps it as the current span (and as the parent of
//! what is created there), as a span made by hand is kept alive by its
//! guard.
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
    /// How many holds keep the span from being closed: scopes open on it
    /// (on any thread), and calls into `tracing` that use its id (a child
    /// made under it, attributes recorded on it).
    holds: u32,
    /// Whether `destroy` came while the span was held: the last release
    /// closes it.
    destroyed: bool,
}

impl SpanEntry {
    pub(crate) fn new(span: SpanHandle, callsite: &'static ResourceCallsite) -> SpanEntry {
        SpanEntry { span, callsite, has_undeclared: false, holds: 0, destroyed: false }
    }

    /// Counts a hold on the span; returns a copy of its handle.
    #[inline(always)]
    fn hold(&mut self) -> SpanHandle {
        // A count past `u32::MAX` would need that many holds at once.
        self.holds = self.holds.saturating_add(1);
        self.span.clone()
    }

    /// Ends a hold on the span: what the caller does next.
    #[inline(always)]
    fn release(&mut self) -> Release {
        if self.holds == 0 {
            return Release::NotHeld;
        }
        self.holds -= 1;
        if self.holds == 0 && self.destroyed { Release::Close } else { Release::Released }
    }

    /// Whether `destroy` can close the span now; if not, marks it for the
    /// last release to close.
    #[inline(always)]
    fn destroy_now(&mut self) -> bool {
        if self.holds == 0 {
            return true;
        }
        self.destroyed = true;
        false
    }
}

/// What ending a hold leaves to do.
enum Release {
    /// Nothing: the span lives on.
    Released,
    /// It was the last hold on a destroyed span: take the entry out and
    /// close the span.
    Close,
    /// The span was not held.
    NotHeld,
}

type IdHashMap<V> = HashMap<AsyncId, V, BuildHasherDefault<IdHasher>>;

/// Tells tables apart in the per-thread stack of entered spans; a serial,
/// not an address, because a table dropped and a new one made at the same
/// address must not match.
static NEXT_TABLE_SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Few slots under loom, so that ids share one without being far apart.
const SLOT_BITS: u32 = if cfg!(async_hooks_loom) { 1 } else { 12 };

/// How many slots a table has: enough for the live short-lived resources of
/// a few threads at once (each thread's ids are consecutive, so they take
/// consecutive slots). Resources outliving 4096 of their thread's successors
/// send those successors that meet them to the overflow.
const N_SLOTS: usize = 1 << SLOT_BITS;

/// One slot: the entry of the id it indexes, if any.
type Slot = SlotLock<Option<(AsyncId, SpanEntry)>>;

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

    /// Holds the span of `id` (see [`hold`](Self::hold)) and returns it
    /// with its callsite.
    pub(crate) fn hold_with_callsite(&self, id: AsyncId) -> Option<(SpanHandle, &'static ResourceCallsite)> {
        self.with_entry(id, |entry| (entry.hold(), entry.callsite))
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

    /// Holds the span of `id` and returns a copy of its handle, to use
    /// outside the lock: until [`release`](Self::release), `destroy` leaves
    /// the closing of the span to the last release. A scope holds its span
    /// from `before` (before entering it) to `after` (after exiting it); a
    /// call into `tracing` with its id holds it for the call. Always inlined,
    /// as [`handle`](Self::handle).
    #[inline(always)]
    pub(crate) fn hold(&self, id: AsyncId) -> Option<SpanHandle> {
        let overflow_is_empty = match &mut *self.slot(id).lock() {
            Some((held_id, entry)) if *held_id == id => return Some(entry.hold()),
            _ => self.overflow_is_empty(),
        };
        if overflow_is_empty {
            return None;
        }
        self.hold_in_overflow(id)
    }

    #[cold]
    #[inline(never)]
    fn hold_in_overflow(&self, id: AsyncId) -> Option<SpanHandle> {
        lock(&self.overflow).get_mut(&id).map(SpanEntry::hold)
    }

    /// Ends a hold taken with [`hold`](Self::hold), once its user is done
    /// with the span: if the span was destroyed while held and this was its
    /// last hold, takes it out of the table and closes it. Returns whether
    /// the span was held.
    #[inline(always)]
    pub(crate) fn release(&self, id: AsyncId) -> bool {
        let mut was_held = false;
        self.close_if(id, |entry| match entry.release() {
            Release::Released => {
                was_held = true;
                false
            }
            Release::Close => {
                was_held = true;
                true
            }
            Release::NotHeld => false,
        });
        was_held
    }

    /// Closes the span of `id` (at `destroy`) and takes it out of the
    /// table; if it is held, marks it instead, and the last release closes
    /// it. Returns whether it closed the span now.
    #[inline]
    pub(crate) fn close(&self, id: AsyncId) -> bool {
        self.close_if(id, SpanEntry::destroy_now)
    }

    /// Asks `decide`, under the lock of the entry of `id`, whether to close
    /// its span now; if so, takes the entry out and closes the span outside
    /// the lock. Returns whether it did.
    #[inline(always)]
    fn close_if(&self, id: AsyncId, decide: impl FnOnce(&mut SpanEntry) -> bool) -> bool {
        let mut held = self.slot(id).lock();
        let close = match &mut *held {
            Some((held_id, entry)) if *held_id == id => decide(entry),
            _ => {
                drop(held);
                return self.close_in_overflow_if(id, decide);
            }
        };
        if !close {
            return false;
        }
        let taken = held.take();
        drop(held);
        let Some((_, entry)) = taken else { return false };
        self.close_taken(id, entry);
        true
    }

    /// [`close_if`](Self::close_if) for an entry in the overflow.
    #[cold]
    #[inline(never)]
    fn close_in_overflow_if(&self, id: AsyncId, decide: impl FnOnce(&mut SpanEntry) -> bool) -> bool {
        if self.overflow_is_empty() {
            return false;
        }
        let mut overflow = lock(&self.overflow);
        let Some(entry) = overflow.get_mut(&id) else { return false };
        if !decide(entry) {
            return false;
        }
        let taken = overflow.remove(&id);
        self.n_overflow.store(overflow.len(), Ordering::Relaxed);
        drop(overflow);
        let Some(entry) = taken else { return false };
        self.close_taken(id, entry);
        true
    }

    /// Closes the span of an entry taken out of the table (outside any
    /// lock), and drops its catch-all text.
    #[inline(always)]
    fn close_taken(&self, id: AsyncId, entry: SpanEntry) {
        if entry.has_undeclared {
            self.remove_undeclared(id);
        }
        entry.span.dispatch.try_close(entry.span.id);
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
        /// `destroy`: close, or mark for the last open scope.
        Close(u64),
        Get(u64),
        Append(u64),
        /// `before`, or a call into `tracing` with the span.
        Hold(u64),
        /// `after`, or the end of that call.
        Release(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        // Ids near each other, and ids a multiple of the slot count apart
        // (so that they share a slot and meet in the overflow).
        let id = prop_oneof![1_u64..64, (1_u64..8, 0_u64..4).prop_map(|(n, k)| n + k * N_SLOTS as u64)];
        prop_oneof![
            id.clone().prop_map(Op::Insert),
            id.clone().prop_map(Op::Close),
            id.clone().prop_map(Op::Get),
            id.clone().prop_map(Op::Append),
            id.clone().prop_map(Op::Hold),
            id.prop_map(Op::Release),
        ]
    }

    proptest! {
        #[test]
        fn the_table_agrees_with_a_hash_map(ops in proptest::collection::vec(op(), 0..300)) {
            /// What the table should hold for an id.
            struct Modelled {
                span: u64,
                text: String,
                holds: u32,
                destroyed: bool,
            }
            let table = SpanTable::new();
            let mut model: HashMap<u64, Modelled> = HashMap::new();
            for (step, op) in ops.into_iter().enumerate() {
                let step = step as u64 + 1;
                match op {
                    Op::Insert(raw) => {
                        table.insert(AsyncId::from_u64(raw), entry(step), None);
                        model.insert(raw, Modelled { span: step, text: String::new(), holds: 0, destroyed: false });
                    }
                    Op::Close(raw) => {
                        let closed = table.close(AsyncId::from_u64(raw));
                        let expected = match model.get_mut(&raw) {
                            Some(entry) if entry.holds == 0 => {
                                model.remove(&raw);
                                true
                            }
                            Some(entry) => {
                                entry.destroyed = true;
                                false
                            }
                            None => false,
                        };
                        prop_assert_eq!(closed, expected);
                    }
                    Op::Get(raw) => {
                        let found = table.handle(AsyncId::from_u64(raw)).map(|span| span.id.into_u64());
                        prop_assert_eq!(found, model.get(&raw).map(|entry| entry.span));
                    }
                    Op::Append(raw) => {
                        let text = table.append_undeclared(AsyncId::from_u64(raw), |text| text.push('x'));
                        let expected = model.get_mut(&raw).map(|entry| {
                            entry.text.push('x');
                            entry.text.clone()
                        });
                        prop_assert_eq!(text, expected);
                    }
                    Op::Hold(raw) => {
                        let opened = table.hold(AsyncId::from_u64(raw)).map(|span| span.id.into_u64());
                        let expected = model.get_mut(&raw).map(|entry| {
                            entry.holds += 1;
                            entry.span
                        });
                        prop_assert_eq!(opened, expected);
                    }
                    Op::Release(raw) => {
                        let was_open = table.release(AsyncId::from_u64(raw));
                        let expected = match model.get_mut(&raw) {
                            Some(entry) if entry.holds > 0 => {
                                entry.holds -= 1;
                                if entry.holds == 0 && entry.destroyed {
                                    model.remove(&raw);
                                }
                                true
                            }
                            _ => false,
                        };
                        prop_assert_eq!(was_open, expected);
                    }
                }
            }
            prop_assert_eq!(table.len(), model.len());
            let texts = lock(&table.undeclared).len();
            prop_assert_eq!(texts, model.values().filter(|entry| !entry.text.is_empty()).count());
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
            assert!(table.close(*id));
            assert!(table.handle(*id).is_none());
        }
        assert_eq!(table.len(), 0);
        assert!(lock(&table.undeclared).is_empty(), "removals take the catch-all text out");
        assert!(table.overflow_is_empty());
    }
}

/// Models of lookups against a removal on another thread, of two ids meeting
/// in one slot, of a `destroy` racing a scope, and of catch-all text against
/// a removal. Run with
/// `RUSTFLAGS="--cfg async_hooks_loom" cargo test -p async-hooks-tracing --release --lib loom`.
#[cfg(all(test, async_hooks_loom))]
mod loom_models {
    use std::panic::Location;
    use std::sync::Arc;

    use async_hooks_core::AsyncId;
    use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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
                    assert!(table.close(id));
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
                thread::spawn(move || assert!(table.close(neighbour)))
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
            assert!(table.close(second));
            assert!(table.close(first));
            assert_eq!(table.len(), 0);
        });
    }

    /// Counts the spans closed through it, in loom's model.
    struct CountingSubscriber(AtomicUsize);

    impl tracing_core::Subscriber for CountingSubscriber {
        fn enabled(&self, _: &tracing_core::Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
            span::Id::from_u64(1)
        }
        fn record(&self, _: &span::Id, _: &span::Record<'_>) {}
        fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}
        fn event(&self, _: &tracing_core::Event<'_>) {}
        fn enter(&self, _: &span::Id) {
            assert_eq!(self.0.load(Ordering::SeqCst), 0, "a closed span was entered");
        }
        fn exit(&self, _: &span::Id) {
            assert_eq!(self.0.load(Ordering::SeqCst), 0, "a span was closed while it was entered");
        }
        fn try_close(&self, _: span::Id) -> bool {
            self.0.fetch_add(1, Ordering::SeqCst);
            true
        }
    }

    #[test]
    fn loom_a_destroy_during_a_scope_on_another_thread_closes_the_span_once_after_its_exit() {
        loom::model(|| {
            let id = AsyncId::from_u64(42);
            let dispatch = Dispatch::new(CountingSubscriber(AtomicUsize::new(0)));
            let table = Arc::new(SpanTable::new());
            let callsite = callsite_for(Level::INFO, "LoomResource", Location::caller(), &[]);
            let span = SpanHandle { id: span::Id::from_u64(7), dispatch: dispatch.clone() };
            table.insert(id, SpanEntry::new(span, callsite), None);
            let scope = {
                let table = Arc::clone(&table);
                thread::spawn(move || {
                    // A scope as `before` and `after` run it: counted, entered,
                    // exited, uncounted.
                    if let Some(span) = table.hold(id) {
                        span.dispatch.enter(&span.id);
                        span.dispatch.exit(&span.id);
                        assert!(table.release(id), "the scope was counted");
                    }
                })
            };
            // `destroy`: closes now, or leaves it to the scope.
            let closed_now = table.close(id);
            scope.join().expect("the scope does not panic");
            let closes = dispatch
                .downcast_ref::<CountingSubscriber>()
                .expect("the counting subscriber")
                .0
                .load(Ordering::SeqCst);
            assert_eq!(closes, 1, "closed exactly once, by `destroy` or by the scope (closed now: {closed_now})");
            assert!(table.handle(id).is_none(), "and taken out of the table");
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
            assert!(table.close(id));
            appender.join().expect("the appender does not panic");
            assert!(super::lock(&table.undeclared).is_empty(), "text of a removed entry stayed");
        });
    }
}
