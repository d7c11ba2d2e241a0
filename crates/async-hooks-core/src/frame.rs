//! Context frames: the slot through which context propagates.
//!
//! A [`ContextFrame`] is an immutable map from [`StoreKey`] to value, shared
//! by reference counting. Every thread has a *current* frame. Every async
//! resource captures the current frame when it is created (one pointer
//! clone, usually from the counts the thread's slot keeps in reserve, so no
//! atomic) and enters it for each of its scopes (a swap, undone when the
//! scope ends). This is the design of Node 24's `AsyncContextFrame`: the
//! cost of propagation does not depend on how many stores exist.
//!
//! Stores (see `async-hooks-context`) are built on this module; applications
//! rarely use it directly.

use std::any::Any;
use std::fmt;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::entry::EntryRef;
use crate::thread_state::{COLD_STATE, THREAD_STATE, Taken, ThreadState};

/// The key of one store in a [`ContextFrame`].
///
/// Keys are plain numbers, not references: a frame that outlives its store
/// does not keep the store alive, it only keeps the value.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct StoreKey(u64);

static NEXT_STORE_KEY: AtomicU64 = AtomicU64::new(1);

impl StoreKey {
    /// The key of the entry that holds a frame's entries when it has two or
    /// more; never a store's (allocated keys start at 1).
    pub(crate) const LIST: StoreKey = StoreKey(0);

    /// Allocates a key no other store has.
    pub fn allocate() -> StoreKey {
        StoreKey(NEXT_STORE_KEY.fetch_add(1, Ordering::Relaxed))
    }

    /// The key as a number; never 0, so 0 can stand for "not yet allocated".
    pub const fn as_u64(self) -> u64 {
        self.0
    }

    /// Rebuilds a key from [`StoreKey::as_u64`]. Returns `None` for 0.
    pub const fn from_u64(raw: u64) -> Option<StoreKey> {
        if raw == 0 { None } else { Some(StoreKey(raw)) }
    }
}

/// Where a store's value was last found in frames that hold several values,
/// so that the next lookup can skip the search.
///
/// Frames mostly keep one layout (the same stores set, in key order), and a
/// store that keeps a hint ([`ContextFrame::get_as_hinted`]) then finds its
/// value as fast in a frame of ten values as in a frame of one. Any hint is
/// valid: a wrong one costs the search, after which it is corrected.
///
/// # Examples
///
/// ```
/// use async_hooks_core::frame::{ContextFrame, LookupHint, StoreKey};
///
/// static HINT: LookupHint = LookupHint::new();
/// let (a, b) = (StoreKey::allocate(), StoreKey::allocate());
/// let frame = ContextFrame::empty().with_value(a, 1_u32).with_value(b, 2_u32);
/// assert_eq!(frame.get_as_hinted::<u32>(b, &HINT), Some(&2));
/// assert_eq!(frame.get_as_hinted::<u32>(b, &HINT), Some(&2)); // found at once
/// ```
#[derive(Debug, Default)]
pub struct LookupHint(std::sync::atomic::AtomicU8);

impl LookupHint {
    /// A hint that knows nothing yet.
    pub const fn new() -> LookupHint {
        LookupHint(std::sync::atomic::AtomicU8::new(0))
    }
}

/// An immutable map from store key to value, cheap to clone.
///
/// The empty frame holds no allocation, so code that uses no store pays
/// nothing to propagate it.
///
/// # Examples
///
/// ```
/// use async_hooks_core::frame::{ContextFrame, StoreKey};
///
/// let key = StoreKey::allocate();
/// let frame = ContextFrame::empty().with_value(key, 7_u32);
/// {
///     let _entered = frame.enter();
///     let seen = ContextFrame::with_current(|current| current.get_as::<u32>(key).copied());
///     assert_eq!(seen, Some(7));
/// }
/// // Leaving the scope restored the previous (empty) frame.
/// assert!(ContextFrame::current().is_empty());
/// ```
#[derive(Clone, Default)]
pub struct ContextFrame {
    /// `None` is the empty frame; a frame with one value is that value's
    /// entry; a frame with more is a list entry holding theirs, sorted by
    /// key. Either way the frame is one pointer.
    repr: Option<EntryRef>,
}

impl ContextFrame {
    /// The frame with no values.
    pub const fn empty() -> ContextFrame {
        ContextFrame { repr: None }
    }

    /// Whether the frame holds no values.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.repr.is_none()
    }

    /// How many stores have a value in this frame.
    #[inline]
    pub fn len(&self) -> usize {
        self.slice().len()
    }

    /// The value of `key`, if the frame holds one.
    #[inline]
    pub fn get(&self, key: StoreKey) -> Option<&(dyn Any + Send + Sync)> {
        self.entry(key).map(EntryRef::value)
    }

    #[inline(always)]
    fn entry(&self, key: StoreKey) -> Option<&EntryRef> {
        let entry = self.repr.as_ref()?;
        if entry.key() == key {
            return Some(entry);
        }
        entry.find_in_list(key)
    }

    #[inline(always)]
    fn slice(&self) -> &[EntryRef] {
        match &self.repr {
            None => &[],
            Some(entry) => entry.as_list().unwrap_or(std::slice::from_ref(entry)),
        }
    }

    fn from_entries(mut entries: Vec<EntryRef>) -> ContextFrame {
        let repr = match entries.len() {
            0 => None,
            1 => entries.pop(),
            _ => Some(EntryRef::new_list(entries.into_iter())),
        };
        ContextFrame { repr }
    }

    /// The keys this frame holds a value for, in increasing order.
    pub fn keys(&self) -> impl Iterator<Item = StoreKey> + '_ {
        self.slice().iter().map(EntryRef::key)
    }

    /// A new frame with `key` set to `value` (replacing any previous value).
    ///
    /// A frame with one value costs one allocation (the value's); with more,
    /// one more for the sorted list.
    #[inline]
    pub fn with_value<T: Any + Send + Sync>(&self, key: StoreKey, value: T) -> ContextFrame {
        self.with_new_entry(key, EntryRef::new(key, value))
    }

    /// A new frame with `entry`, the new entry of `key`.
    #[inline(always)]
    fn with_new_entry(&self, key: StoreKey, entry: EntryRef) -> ContextFrame {
        match &self.repr {
            None => ContextFrame { repr: Some(entry) },
            Some(only) if only.key() == key => ContextFrame { repr: Some(entry) },
            Some(_) => self.with_entry(key, entry),
        }
    }

    /// [`with_value`](Self::with_value) for a non-empty frame.
    #[inline(never)]
    fn with_entry(&self, key: StoreKey, entry: EntryRef) -> ContextFrame {
        let old = self.slice();
        let position = old.partition_point(|entry| entry.key() < key);
        let replaces = old.get(position).is_some_and(|entry| entry.key() == key);
        let after = if replaces { position + 1 } else { position };
        // Every part of the chain knows its exact length, so the list is
        // built in a single allocation.
        let entries = old[..position].iter().cloned().chain(std::iter::once(entry)).chain(old[after..].iter().cloned());
        ContextFrame { repr: Some(EntryRef::new_list(ExactLen::new(entries, old.len() + 1 - usize::from(replaces)))) }
    }

    /// A new frame without a value for `key`. Returns a clone of `self` if
    /// it had none.
    pub fn without(&self, key: StoreKey) -> ContextFrame {
        let old = self.slice();
        if !old.iter().any(|entry| entry.key() == key) {
            return self.clone();
        }
        ContextFrame::from_entries(old.iter().filter(|entry| entry.key() != key).cloned().collect())
    }

    /// Adds `spare` counts beside this handle (see `FrameSlot`); nothing for
    /// the empty frame, which has no count.
    #[inline]
    pub(crate) fn add_spare_counts(&self, spare: usize) {
        if let Some(entry) = &self.repr {
            entry.add_spare_counts(spare);
        }
    }

    /// Gives up `spare` counts held beside this handle.
    #[inline]
    pub(crate) fn drop_spare_counts(&self, spare: usize) {
        if let Some(entry) = &self.repr {
            entry.drop_spare_counts(spare);
        }
    }

    /// A new handle made of one spare count held beside `self`.
    ///
    /// # Safety
    ///
    /// As `EntryRef::handle_from_spare_count`; `self` must not be empty.
    #[inline(always)]
    pub(crate) unsafe fn handle_from_spare_count(&self) -> ContextFrame {
        // SAFETY: guaranteed by the caller.
        ContextFrame { repr: self.repr.as_ref().map(|entry| unsafe { entry.handle_from_spare_count() }) }
    }

    /// The frame's entry, without the slot check of `drop`.
    #[inline(always)]
    fn into_entry(self) -> Option<EntryRef> {
        let this = ManuallyDrop::new(self);
        // SAFETY: moved out once; `this` is never dropped.
        unsafe { std::ptr::read(&this.repr) }
    }

    /// Whether both frames are the same allocation (or both empty).
    #[inline(always)]
    pub fn ptr_eq(&self, other: &ContextFrame) -> bool {
        // One compare: the empty frame is the null pointer.
        self.repr.as_ref().map(EntryRef::as_ptr) == other.repr.as_ref().map(EntryRef::as_ptr)
    }

    /// A handle to this thread's current frame.
    ///
    /// When this thread installed the frame itself (`enter_with_value`,
    /// `set_current`, `enter`), the handle takes one of the counts the slot
    /// keeps in reserve and touches no atomic; dropped on this thread while
    /// the frame is still current, it gives the count back. Inside a scope
    /// that lent its frame to the thread (a resource's), it is a clone.
    #[inline]
    pub fn current() -> ContextFrame {
        THREAD_STATE.with(current_in)
    }

    /// Calls `f` with this thread's current frame, without cloning it.
    ///
    /// `f` may do anything, including changing the current frame: the frame
    /// it was handed stays valid until it returns.
    #[inline(always)]
    pub fn with_current<R>(f: impl FnOnce(&ContextFrame) -> R) -> R {
        THREAD_STATE.with(
            #[inline(always)]
            |state| {
                let _release = BorrowGuard { state, outermost: !state.frame_borrowed.replace(true) };
                // SAFETY: `Cell` never hands out references to its contents, so
                // no reference to the slot exists while we copy its bits. The
                // copy is a second handle to the same allocation that is never
                // dropped (`ManuallyDrop`) and so never touches the reference
                // count. The allocation outlives the copy because, while
                // `frame_borrowed`, every frame taken out of the slot is
                // parked in `retired_frames` instead of being dropped (see
                // `retire_with_spare_counts`), and `BorrowGuard` empties `retired_frames` only
                // after `f` has returned.
                let frame = ManuallyDrop::new(unsafe { std::ptr::read(state.frame.as_ptr()) });
                f(&frame)
            },
        )
    }

    /// The value of `key` as a `T`, if the frame holds one of that type.
    #[inline(always)]
    pub fn get_as<T: Any>(&self, key: StoreKey) -> Option<&T> {
        self.entry(key)?.value_as::<T>()
    }

    /// [`get_as`](Self::get_as), starting from where `hint` says the key
    /// was found last time, and remembering where it is.
    #[inline(always)]
    pub fn get_as_hinted<T: Any>(&self, key: StoreKey, hint: &LookupHint) -> Option<&T> {
        let entry = self.repr.as_ref()?;
        let entry = if entry.key() == key { entry } else { entry.find_in_list_hinted(key, &hint.0)? };
        entry.value_as::<T>()
    }

    /// Makes `self` this thread's current frame until the guard is dropped,
    /// which restores the previous frame (also when unwinding).
    #[inline]
    pub fn enter(&self) -> FrameGuard {
        FrameGuard::new(swap_current(self.clone()))
    }

    /// Like [`enter`](Self::enter), but takes the frame by value, saving a
    /// reference-count increment.
    #[inline]
    pub fn enter_owned(self) -> FrameGuard {
        FrameGuard::new(swap_current(self))
    }

    /// Enters the current frame with `key` set to `value` until the guard is
    /// dropped: `ContextFrame::current().with_value(key, value).enter_owned()`
    /// in one thread-local access, without touching a reference count. This
    /// is what `AsyncLocalStorage::run` does.
    ///
    /// # Examples
    ///
    /// ```
    /// use async_hooks_core::frame::{ContextFrame, StoreKey};
    ///
    /// let key = StoreKey::allocate();
    /// {
    ///     let _entered = ContextFrame::enter_with_value(key, "inside");
    ///     assert_eq!(ContextFrame::with_current(|frame| frame.get_as::<&str>(key).copied()), Some("inside"));
    /// }
    /// assert!(ContextFrame::current().is_empty());
    /// ```
    #[inline]
    pub fn enter_with_value<T: Any + Send + Sync>(key: StoreKey, value: T) -> FrameGuard {
        // The entry is made first, out here: a closure that captured the
        // value would store it word by word and reload it in one wide
        // load, a store-forwarding stall.
        let entry = EntryRef::new(key, value);
        let previous = THREAD_STATE.with(|state| {
            // SAFETY: `Cell` hands out no references to its contents, and
            // nothing replaces them while this one lives: `with_new_entry`
            // only clones handles and allocates, calling no user code.
            let frame = unsafe { &*state.frame.as_ptr() }.with_new_entry(key, entry);
            // The frame taken out is kept by the guard, not dropped, so a
            // `with_current` borrow of it stays valid. The guard may outlive
            // whatever lent a borrowed frame, so it keeps an owned one.
            state.frame.replace_owned(frame).into_owned()
        });
        FrameGuard::new(previous)
    }

    /// Replaces this thread's current frame, for the rest of the current
    /// scope: until the enclosing resource scope or [`FrameGuard`] ends and
    /// restores what it saved. At top level, it lasts on this thread.
    pub fn set_current(frame: ContextFrame) {
        if !frame.is_empty() {
            crate::thread_state::ensure_cold_state();
        }
        // The frame taken out is released if the slot owned it.
        THREAD_STATE.with(|state| drop(state.frame.replace_owned(frame)));
    }

    /// Runs `f` with `self` as this thread's current frame, then restores
    /// the previous one (also if `f` panics). Unlike [`enter`](Self::enter)
    /// this touches no reference count: the frame is lent to the thread for
    /// the length of the call.
    ///
    /// # Examples
    ///
    /// ```
    /// use async_hooks_core::frame::{ContextFrame, StoreKey};
    ///
    /// let key = StoreKey::allocate();
    /// let frame = ContextFrame::empty().with_value(key, 3_u8);
    /// let seen = frame.run(|| ContextFrame::with_current(|current| current.get_as::<u8>(key).copied()));
    /// assert_eq!(seen, Some(3));
    /// assert!(ContextFrame::current().is_empty());
    /// ```
    #[inline]
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        let _lent = LentFrame::enter(self);
        f()
    }
}

/// The scope of [`ContextFrame::run`]: restores the slot when dropped.
/// Private, and dropped before `run` returns, so the lent frame outlives it.
///
/// It lends even when the frame is current already: what it restores must
/// be exactly what was there, also if `set_current` replaced the frame
/// inside (found by `tests/frame_properties.rs`).
struct LentFrame {
    previous: ManuallyDrop<Taken>,
}

impl LentFrame {
    #[inline(always)]
    fn enter(frame: &ContextFrame) -> LentFrame {
        THREAD_STATE.with(|state| {
            // SAFETY: `frame` is borrowed by `run` for longer than this
            // scope, which restores the slot in `drop` before `run` returns.
            let previous = unsafe { state.frame.replace_borrowed(frame) };
            LentFrame { previous: ManuallyDrop::new(previous) }
        })
    }
}

impl Drop for LentFrame {
    #[inline(always)]
    fn drop(&mut self) {
        // SAFETY: `previous` is taken exactly once, here.
        let previous = unsafe { ManuallyDrop::take(&mut self.previous) };
        // What is replaced is the lent copy (forgotten), or whatever
        // `set_current` put there meanwhile (released).
        THREAD_STATE.with(|state| drop(state.frame.restore(previous)));
    }
}

/// An iterator of a known length (`Chain` is not an `ExactSizeIterator`).
struct ExactLen<I> {
    inner: I,
    remaining: usize,
}

impl<I: Iterator> ExactLen<I> {
    fn new(inner: I, len: usize) -> ExactLen<I> {
        ExactLen { inner, remaining: len }
    }
}

impl<I: Iterator> Iterator for ExactLen<I> {
    type Item = I::Item;

    fn next(&mut self) -> Option<I::Item> {
        let item = self.inner.next()?;
        self.remaining = self.remaining.saturating_sub(1);
        Some(item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<I: Iterator> ExactSizeIterator for ExactLen<I> {}

/// Restores the frame that was current before [`ContextFrame::enter`].
#[must_use = "dropping the guard leaves the frame at once"]
pub struct FrameGuard {
    previous: ManuallyDrop<ContextFrame>,
    _not_send: PhantomData<*const ()>,
}

impl FrameGuard {
    #[inline(always)]
    fn new(previous: ContextFrame) -> FrameGuard {
        FrameGuard { previous: ManuallyDrop::new(previous), _not_send: PhantomData }
    }
}

impl Drop for FrameGuard {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: `previous` is taken exactly once, here.
        let previous = unsafe { ManuallyDrop::take(&mut self.previous) };
        THREAD_STATE.with(move |state| drop(state.frame.replace_owned(previous)));
    }
}

impl fmt::Debug for FrameGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameGuard").finish_non_exhaustive()
    }
}

impl fmt::Debug for ContextFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.keys().map(|key| key.0)).finish()
    }
}

/// A handle to `state`'s current frame (one of the slot's spare counts
/// when it has one).
#[inline(always)]
pub(crate) fn current_in(state: &ThreadState) -> ContextFrame {
    state.frame.capture()
}

/// A handle to the current frame dropped on the thread whose slot owns that
/// frame gives its count back to the slot (see `FrameSlot`): no atomic.
impl Drop for ContextFrame {
    #[inline]
    fn drop(&mut self) {
        if self.repr.is_some() && give_back_to_slot(self) {
            // The slot holds the count now.
            std::mem::forget(self.repr.take());
        }
    }
}

/// Gives `frame`'s count to this thread's frame slot, as a spare count, if
/// `frame` is the slot's frame and the slot keeps spare counts; then the
/// caller must forget `frame` rather than drop it.
#[inline(always)]
pub(crate) fn give_back_to_slot(frame: &ContextFrame) -> bool {
    THREAD_STATE.try_with(|state| state.frame.take_back(frame)) == Some(true)
}

/// Whether `frame` is `state`'s current frame (the same allocation).
#[inline(always)]
pub(crate) fn is_current_in(state: &ThreadState, frame: &ContextFrame) -> bool {
    // SAFETY: `Cell` hands out no references to its contents, and nothing
    // can replace them while this shared reference lives: it ends with the
    // comparison, which calls no other code.
    let current = unsafe { &*state.frame.as_ptr() };
    current.ptr_eq(frame)
}

/// Installs `frame` as current and returns the frame it replaced.
#[inline]
pub(crate) fn swap_current(frame: ContextFrame) -> ContextFrame {
    THREAD_STATE.with(|state| state.frame.replace_owned(frame).into_owned())
}

/// Disposes of a frame taken out of the current slot with `spare` counts
/// beside it: dropped at once (with its spare counts, in one
/// read-modify-write at most), unless a `with_current` on this thread may
/// still be reading it.
#[inline]
pub(crate) fn retire_with_spare_counts(frame: ContextFrame, spare: usize) {
    let Some(entry) = frame.into_entry() else { return };
    THREAD_STATE.with(move |state| {
        if state.frame_borrowed.get() {
            if spare != 0 {
                entry.drop_spare_counts(spare);
            }
            park_retired_frame(state, ContextFrame { repr: Some(entry) });
        } else {
            // No borrow of the thread state is held here, so value
            // destructors may use the context themselves. Not given back to
            // the slot: it holds another frame now, as a rule.
            entry.release_with_spare_counts(spare);
        }
    });
}

/// Ends one `with_current` borrow; the outermost one frees the parked
/// frames.
struct BorrowGuard<'a> {
    state: &'a ThreadState,
    /// Whether no other borrow was running when this one began.
    outermost: bool,
}

impl Drop for BorrowGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        if self.outermost {
            self.state.frame_borrowed.set(false);
            if self.state.frames_parked.get() {
                free_retired_frames(self.state);
            }
        }
    }
}

/// Keeps `frame` alive until the running `with_current` calls end.
#[cold]
#[inline(never)]
fn park_retired_frame(state: &ThreadState, frame: ContextFrame) {
    let mut frame = Some(frame);
    let parked = COLD_STATE.try_with(|cold| {
        cold.retired_frames.borrow_mut().extend(frame.take());
        state.frames_parked.set(true);
    });
    if parked.is_err() {
        // The thread is being torn down and the cold state is gone, yet a
        // `with_current` (called from some other thread-local's destructor)
        // may still be reading this frame: leak it rather than free memory
        // that is in use.
        std::mem::forget(frame);
    }
}

#[cold]
fn free_retired_frames(state: &ThreadState) {
    state.frames_parked.set(false);
    let retired = COLD_STATE.try_with(|cold| std::mem::take(&mut *cold.retired_frames.borrow_mut()));
    // Dropped after the borrow ends: value destructors may use the context.
    drop(retired);
}

#[cfg(all(test, not(async_hooks_loom)))]
mod tests {
    use super::*;

    fn value_of(frame: &ContextFrame, key: StoreKey) -> Option<u32> {
        frame.get_as::<u32>(key).copied()
    }

    #[test]
    fn with_value_keeps_keys_sorted_and_replaces() {
        let (a, b, c) = (StoreKey::allocate(), StoreKey::allocate(), StoreKey::allocate());
        let frame =
            ContextFrame::empty().with_value(c, 3_u32).with_value(a, 1_u32).with_value(b, 2_u32).with_value(a, 10_u32);
        assert_eq!(frame.keys().collect::<Vec<_>>(), vec![a, b, c]);
        assert_eq!(value_of(&frame, a), Some(10));
        assert_eq!(value_of(&frame, b), Some(2));
        assert_eq!(frame.len(), 3);
    }

    #[test]
    fn hinted_lookups_find_every_value_whatever_the_hint() {
        let keys: Vec<StoreKey> = (0..5).map(|_| StoreKey::allocate()).collect();
        let full = keys.iter().enumerate().fold(ContextFrame::empty(), |frame, (i, key)| frame.with_value(*key, i));
        // Another layout: the first two keys missing, so positions shift.
        let partial = full.without(keys[0]).without(keys[1]);
        let hint = LookupHint::new();
        for round in 0..3 {
            for (i, key) in keys.iter().enumerate() {
                assert_eq!(full.get_as_hinted::<usize>(*key, &hint), Some(&i), "round {round}");
                let expected = (i >= 2).then_some(i);
                assert_eq!(partial.get_as_hinted::<usize>(*key, &hint).copied(), expected, "round {round}");
                // A frame of one value holds no list: the hint is not used.
                assert_eq!(ContextFrame::empty().with_value(*key, i).get_as_hinted::<usize>(*key, &hint), Some(&i));
            }
        }
        // The hint is remembered: after a hit at position 4, it says 4.
        assert_eq!(full.get_as_hinted::<usize>(keys[4], &hint), Some(&4));
        assert_eq!(hint.0.load(std::sync::atomic::Ordering::Relaxed), 4);
        assert_eq!(full.get_as_hinted::<u32>(keys[4], &hint), None, "the type is still checked");
    }

    #[test]
    fn without_removes_only_that_key() {
        let (a, b) = (StoreKey::allocate(), StoreKey::allocate());
        let frame = ContextFrame::empty().with_value(a, 1_u32).with_value(b, 2_u32);
        let smaller = frame.without(a);
        assert_eq!(value_of(&smaller, a), None);
        assert_eq!(value_of(&smaller, b), Some(2));
        assert!(smaller.without(b).is_empty());
        assert!(frame.without(StoreKey::allocate()).ptr_eq(&frame));
    }

    #[test]
    fn borrowed_frame_survives_replacement_inside_with_current() {
        let key = StoreKey::allocate();
        ContextFrame::set_current(ContextFrame::empty().with_value(key, 5_u32));
        ContextFrame::with_current(|outer| {
            // Replacing the current frame drops the only other handle to it.
            ContextFrame::set_current(ContextFrame::empty());
            ContextFrame::with_current(|inner| assert!(inner.is_empty()));
            assert_eq!(value_of(outer, key), Some(5));
        });
        COLD_STATE.with(|cold| assert!(cold.retired_frames.borrow().is_empty()));
    }

    #[test]
    fn a_nested_borrow_ending_keeps_the_outer_borrow_alive() {
        let key = StoreKey::allocate();
        let (value, drops) = counted();
        ContextFrame::set_current(ContextFrame::empty().with_value(key, value));
        ContextFrame::with_current(|outer| {
            ContextFrame::with_current(|_inner| ContextFrame::set_current(ContextFrame::empty()));
            // The inner borrow has ended; the outer one still reads the frame
            // that was replaced (and parked) inside it.
            assert!(outer.get_as::<Counted>(key).is_some());
            assert_eq!(drops.load(Ordering::Relaxed), 0);
        });
        assert_eq!(drops.load(Ordering::Relaxed), 1, "freed when the outermost borrow ended");
        COLD_STATE.with(|cold| assert!(cold.retired_frames.borrow().is_empty()));
    }

    /// Counts the drops of its values.
    struct Counted(std::sync::Arc<std::sync::atomic::AtomicUsize>);

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn counted() -> (Counted, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        let drops = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        (Counted(drops.clone()), drops)
    }

    #[test]
    fn set_current_inside_run_replaces_the_lent_frame_without_releasing_it() {
        let key = StoreKey::allocate();
        let (value, drops) = counted();
        let lent = ContextFrame::empty().with_value(key, value);
        lent.run(|| {
            ContextFrame::set_current(ContextFrame::empty().with_value(key, 2_u32));
            assert_eq!(ContextFrame::with_current(|frame| value_of(frame, key)), Some(2));
        });
        assert!(ContextFrame::current().is_empty(), "run restored the frame before it");
        assert_eq!(drops.load(Ordering::Relaxed), 0, "the lent frame belongs to its owner");
        assert!(lent.get_as::<Counted>(key).is_some());
        drop(lent);
        assert_eq!(drops.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_guard_that_outlives_a_lent_frame_keeps_a_handle_of_its_own() {
        let key = StoreKey::allocate();
        let (value, drops) = counted();
        let lent = ContextFrame::empty().with_value(key, value);
        let mut escaped = None;
        lent.run(|| escaped = Some(ContextFrame::empty().enter()));
        drop(lent);
        assert_eq!(drops.load(Ordering::Relaxed), 0, "the escaped guard still holds the value");
        // Dropping the guard restores what it saved: the (formerly lent) frame.
        drop(escaped);
        assert!(ContextFrame::with_current(|frame| frame.get_as::<Counted>(key).is_some()));
        ContextFrame::set_current(ContextFrame::empty());
        assert_eq!(drops.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn guard_restores_on_unwind() {
        let key = StoreKey::allocate();
        let frame = ContextFrame::empty().with_value(key, 1_u32);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _entered = frame.enter();
            panic!("inside the frame");
        }));
        assert!(result.is_err());
        assert!(ContextFrame::current().is_empty());
    }
}
