//! Store entries: one store's value inside a context frame.
//!
//! An entry is a single allocation holding a small header (reference count,
//! store key, the value's `TypeId`, a table of type-specific functions) and
//! then the value. Handles ([`EntryRef`]) are one thin pointer to the
//! header, so reading the key or the value of a known type needs no virtual
//! call and no alignment arithmetic (an `Arc<dyn Any>` computes the value's
//! offset from its vtable on every access).
//!
//! Two things make entries cheap to create and drop, which is what
//! `AsyncLocalStorage::run` does on every call:
//! - Dropping the only handle needs no atomic read-modify-write: a count of
//!   one, read with `Acquire`, proves no other handle exists, so none can be
//!   cloned concurrently.
//! - Freed blocks are kept in a few per-thread slots and reused by the next
//!   entry of the same layout, so a `run` that nobody captured costs no trip
//!   to the allocator.

use std::alloc::{self, Layout};
use std::any::{Any, TypeId};
use std::ptr::NonNull;
// A lookup hint is a cache, not synchronization: std's atomic, even under
// loom (any value is valid).
use std::sync::atomic::AtomicU8;

use crate::frame::StoreKey;
use crate::sync::{AtomicUsize, Ordering, fence};

/// The start of every entry's allocation.
#[repr(C)]
struct Header {
    refs: AtomicUsize,
    key: StoreKey,
    type_id: TypeId,
    vtable: &'static EntryVTable,
}

/// An entry holding a `V`: the header first (`repr(C)`), so a pointer to the
/// node is a pointer to its header.
#[repr(C)]
struct Node<V> {
    header: Header,
    value: V,
}

/// What an entry needs to know about its value's type.
struct EntryVTable {
    /// The layout of the node's allocation; `None` for list nodes, whose
    /// layout depends on their length.
    layout: Option<Layout>,
    /// Drops the node in place (the value, and the header's fields);
    /// `None` if that does nothing, which saves a call per release.
    drop_node: Option<unsafe fn(NonNull<Header>)>,
    /// The value as `dyn Any`.
    as_any: unsafe fn(NonNull<Header>) -> *const (dyn Any + Send + Sync),
}

/// The vtable of entries holding a `Self`, as a constant so that a
/// reference to it is promoted to a `'static`.
trait HasEntryVTable: Any + Send + Sync + Sized {
    const VTABLE: EntryVTable;
}

impl<V: Any + Send + Sync> HasEntryVTable for V {
    const VTABLE: EntryVTable = EntryVTable {
        layout: Some(Layout::new::<Node<V>>()),
        drop_node: if std::mem::needs_drop::<Node<V>>() { Some(drop_node::<V>) } else { None },
        as_any: as_any::<V>,
    };
}

/// # Safety
///
/// `header` must be the header of a live `Node<V>` that nothing uses again.
unsafe fn drop_node<V>(header: NonNull<Header>) {
    // SAFETY: guaranteed by the caller.
    unsafe { std::ptr::drop_in_place(header.cast::<Node<V>>().as_ptr()) }
}

/// # Safety
///
/// `header` must be the header of a live `Node<V>`.
unsafe fn as_any<V: Any + Send + Sync>(header: NonNull<Header>) -> *const (dyn Any + Send + Sync) {
    // SAFETY: guaranteed by the caller; no reference is created here.
    unsafe { &raw const (*header.cast::<Node<V>>().as_ptr()).value }
}

/// The key of list entries: a frame with two or more values is one entry
/// holding the entries of those values, sorted by key. Store keys start at
/// 1, so no store has this one.
const LIST_KEY: StoreKey = StoreKey::LIST;

/// The node of a list entry: the header, the length, then the `len` handles
/// (at a fixed offset, [`ENTRIES_OFFSET`], so a hinted lookup reaches one in
/// a single load), then their `len` keys in the same order (contiguous, so a
/// search scans one cache line instead of following each handle).
#[repr(C)]
struct ListNode {
    header: Header,
    len: usize,
}

/// Where a list node's handles start: right after its fixed part, which is
/// where `Layout::extend` puts them (the node's alignment is at least a
/// handle's, so its size is a multiple of that).
const ENTRIES_OFFSET: usize = size_of::<ListNode>();
const _: () = assert!(ENTRIES_OFFSET % align_of::<EntryRef>() == 0);

/// Where a list node of `len` handles has its keys: after the handles,
/// rounded up to a key's alignment as `Layout::extend` does (no padding
/// where handles and keys are both one word).
#[inline(always)]
const fn keys_offset(len: usize) -> usize {
    let end = ENTRIES_OFFSET + len * size_of::<EntryRef>();
    let align = align_of::<StoreKey>();
    (end + align - 1) & !(align - 1)
}

/// The `TypeId` list entries are tagged with; never a store value's type.
struct EntryList;

/// The layout of a list node of `len` entries, and the offsets of its
/// handles and of its keys.
fn list_layout(len: usize) -> (Layout, usize, usize) {
    let too_long = "a frame's length fits in memory";
    let entries = Layout::array::<EntryRef>(len).expect(too_long);
    let keys = Layout::array::<StoreKey>(len).expect(too_long);
    let (with_entries, entries_offset) = Layout::new::<ListNode>().extend(entries).expect(too_long);
    let (layout, keys_offset) = with_entries.extend(keys).expect(too_long);
    (layout.pad_to_align(), entries_offset, keys_offset)
}

/// The keys, the handles and the length of a list node.
///
/// # Safety
///
/// `header` must be the header of a live list node.
#[inline(always)]
unsafe fn list_parts(header: NonNull<Header>) -> (*mut StoreKey, *mut EntryRef, usize) {
    let node = header.cast::<ListNode>().as_ptr();
    // SAFETY: guaranteed by the caller; the offsets are those of the node's
    // layout (`list_layout`, checked against them in `new_list`), so the
    // pointers stay inside its allocation, and no reference is created here.
    unsafe {
        let len = (*node).len;
        let base = node.cast::<u8>();
        (base.add(keys_offset(len)).cast::<StoreKey>(), base.add(ENTRIES_OFFSET).cast::<EntryRef>(), len)
    }
}

fn list_layout_of(header: NonNull<Header>) -> Layout {
    // SAFETY: only list nodes have this vtable.
    list_layout(unsafe { list_parts(header) }.2).0
}

/// # Safety
///
/// As [`drop_node`], for a list node.
unsafe fn drop_list(header: NonNull<Header>) {
    // SAFETY: guaranteed by the caller: the handles are initialized and
    // nothing uses them again. The header's fields need no drop beyond the
    // count, dropped last.
    unsafe {
        let (_, entries, len) = list_parts(header);
        std::ptr::drop_in_place(std::ptr::slice_from_raw_parts_mut(entries, len));
        std::ptr::drop_in_place(&raw mut (*header.as_ptr()).refs);
    }
}

/// Lists are never read as values; this only keeps the vtable complete.
unsafe fn list_as_any(_header: NonNull<Header>) -> *const (dyn Any + Send + Sync) {
    &EntryList as *const EntryList as *const (dyn Any + Send + Sync)
}

static LIST_VTABLE: EntryVTable = EntryVTable { layout: None, drop_node: Some(drop_list), as_any: list_as_any };

/// A counted handle to one store entry (or to a list of entries).
pub(crate) struct EntryRef {
    header: NonNull<Header>,
}

// SAFETY: an entry is shared, immutable data (the count is atomic) whose
// value is `Send + Sync` (required by `EntryRef::new`), like `Arc<V>`.
unsafe impl Send for EntryRef {}
// SAFETY: as above.
unsafe impl Sync for EntryRef {}

/// Counts above this are treated as a leak of handles, as `Arc` does.
const MAX_REFS: usize = isize::MAX as usize;

impl EntryRef {
    /// A new entry for `key` holding `value`, with one handle (this one).
    #[inline]
    pub(crate) fn new<V: Any + Send + Sync>(key: StoreKey, value: V) -> EntryRef {
        let layout = Layout::new::<Node<V>>();
        let block = spare::take(layout).unwrap_or_else(|| allocate(layout));
        let node = block.cast::<Node<V>>();
        let header = Header { refs: AtomicUsize::new(1), key, type_id: TypeId::of::<V>(), vtable: &V::VTABLE };
        // SAFETY: `block` is a fresh (or recycled and vacated) allocation of
        // `Node<V>`'s layout, owned by nobody else.
        unsafe { node.as_ptr().write(Node { header, value }) };
        EntryRef { header: node.cast() }
    }

    /// A list entry holding `entries`, which must be two or more entries
    /// sorted by key.
    pub(crate) fn new_list(entries: impl ExactSizeIterator<Item = EntryRef>) -> EntryRef {
        let len = entries.len();
        let (layout, entries_offset, keys_at) = list_layout(len);
        assert!(entries_offset == ENTRIES_OFFSET && keys_at == keys_offset(len), "async-hooks bug: list layout");
        let block = spare::take(layout).unwrap_or_else(|| allocate(layout));
        let node = block.cast::<ListNode>().as_ptr();
        let header = Header {
            refs: AtomicUsize::new(1),
            key: LIST_KEY,
            type_id: TypeId::of::<EntryList>(),
            vtable: &LIST_VTABLE,
        };
        // SAFETY: `block` is a vacated allocation of the list's layout, owned
        // by nobody else; the writes stay inside it (`list_parts` finds the
        // same places from `len`). An iterator that yields fewer items than
        // its length would leave the node unusable, so that is checked.
        unsafe {
            (&raw mut (*node).header).write(header);
            (&raw mut (*node).len).write(len);
            let (keys, handles, _) = list_parts(block.cast());
            let mut written = 0;
            for entry in entries.take(len) {
                keys.add(written).write(entry.key());
                handles.add(written).write(entry);
                written += 1;
            }
            assert_eq!(written, len, "an ExactSizeIterator yielded fewer items than its length");
        }
        EntryRef { header: block.cast() }
    }

    /// The entries of a list entry; `None` for a value's entry.
    #[inline(always)]
    pub(crate) fn as_list(&self) -> Option<&[EntryRef]> {
        if self.header().key != LIST_KEY {
            return None;
        }
        // SAFETY: the key says this is a list node, whose `len` handles are
        // initialized and live as long as the node, which this handle keeps.
        Some(unsafe {
            let (_, entries, len) = list_parts(self.header);
            std::slice::from_raw_parts(entries, len)
        })
    }

    /// The entry of `key` in a list entry; `None` if there is none, or for
    /// a value's entry.
    #[inline(always)]
    pub(crate) fn find_in_list(&self, key: StoreKey) -> Option<&EntryRef> {
        if self.header().key != LIST_KEY {
            return None;
        }
        // SAFETY: as in `as_list`; the keys are initialized like the handles.
        unsafe {
            let (keys, entries, len) = list_parts(self.header);
            // Frames hold a handful of stores: a linear scan of the keys
            // beats a binary search at these sizes.
            let position = std::slice::from_raw_parts(keys, len).iter().position(|candidate| *candidate == key)?;
            Some(&*entries.add(position))
        }
    }

    /// [`find_in_list`](Self::find_in_list), trying the position in `hint`
    /// first and recording where the key was found.
    #[inline(always)]
    pub(crate) fn find_in_list_hinted(&self, key: StoreKey, hint: &AtomicU8) -> Option<&EntryRef> {
        if self.header().key != LIST_KEY {
            return None;
        }
        // SAFETY: as in `find_in_list`; `guess` is checked against `len`.
        unsafe {
            let (keys, entries, len) = list_parts(self.header);
            let guess = usize::from(hint.load(Ordering::Relaxed));
            // The handle is at a fixed offset and its header holds the key,
            // which the caller's type check reads next to it: a right hint
            // costs one load more than a frame of one value.
            if guess < len {
                let entry = &*entries.add(guess);
                if entry.key() == key {
                    return Some(entry);
                }
            }
            let position = std::slice::from_raw_parts(keys, len).iter().position(|candidate| *candidate == key)?;
            // Positions past 255 are not remembered. The store is `Relaxed`
            // and only happens when the hint was wrong, so threads that see
            // the same layout never write.
            if let Ok(position) = u8::try_from(position) {
                hint.store(position, Ordering::Relaxed);
            }
            Some(&*entries.add(position))
        }
    }

    #[inline(always)]
    fn header(&self) -> &Header {
        // SAFETY: a handle keeps its entry alive.
        unsafe { self.header.as_ref() }
    }

    /// The store this entry belongs to.
    #[inline(always)]
    pub(crate) fn key(&self) -> StoreKey {
        self.header().key
    }

    /// The value, if it is a `T`.
    #[inline(always)]
    pub(crate) fn value_as<T: Any>(&self) -> Option<&T> {
        if self.header().type_id != TypeId::of::<T>() {
            return None;
        }
        // SAFETY: `type_id` is `TypeId::of` the value's own type, written
        // with the node in `new`, so the node is a `Node<T>`; the handle
        // keeps it alive for the returned borrow.
        Some(unsafe { &(*self.header.cast::<Node<T>>().as_ptr()).value })
    }

    /// The value, as `dyn Any`.
    #[inline]
    pub(crate) fn value(&self) -> &(dyn Any + Send + Sync) {
        // SAFETY: the vtable is the node's own; the handle keeps it alive.
        unsafe { &*(self.header().vtable.as_any)(self.header) }
    }

    /// The entry's address, for identity comparisons.
    #[inline(always)]
    pub(crate) fn as_ptr(&self) -> *const () {
        self.header.as_ptr().cast_const().cast()
    }
}

impl Clone for EntryRef {
    #[inline]
    fn clone(&self) -> EntryRef {
        // Relaxed, as `Arc`: a new handle can only be made from an existing
        // one, which already keeps the entry alive.
        if self.header().refs.fetch_add(1, Ordering::Relaxed) > MAX_REFS {
            std::process::abort();
        }
        EntryRef { header: self.header }
    }
}

/// Spare counts: counts held beside a handle by the same owner, each of
/// which can become a handle of its own without touching the count
/// ([`EntryRef::handle_from_spare_count`]), or be given back to the owner by
/// forgetting a handle. A context frame's thread slot keeps them, so that
/// capturing its frame and dropping the capture on that thread is free.
impl EntryRef {
    /// Adds `spare` counts beside this handle, owned by the caller.
    ///
    /// If this is the only handle, no other thread can touch the count, so
    /// it is a plain store; otherwise one read-modify-write.
    #[inline]
    pub(crate) fn add_spare_counts(&self, spare: usize) {
        let refs = &self.header().refs;
        // `Acquire`: as in `drop`, a count of one proves no other handle
        // exists, so none can be cloned or dropped concurrently.
        if refs.load(Ordering::Acquire) == 1 {
            refs.store(1 + spare, Ordering::Relaxed);
        } else if refs.fetch_add(spare, Ordering::Relaxed) > MAX_REFS {
            std::process::abort();
        }
    }

    /// Gives up `spare` counts held beside this handle (which keeps its
    /// own, so the entry stays alive).
    #[inline]
    pub(crate) fn drop_spare_counts(&self, spare: usize) {
        let refs = &self.header().refs;
        if refs.load(Ordering::Acquire) == 1 + spare {
            // Every count is the caller's: nobody else can touch it.
            refs.store(1, Ordering::Relaxed);
        } else {
            // `Release`, as any drop of a handle: this thread's use of the
            // entry happens before whoever frees it.
            refs.fetch_sub(spare, Ordering::Release);
        }
    }

    /// A new handle made of one of the spare counts held beside `self`.
    ///
    /// # Safety
    ///
    /// The caller must hold a spare count of this entry (see
    /// [`add_spare_counts`](Self::add_spare_counts)) and hand it over to the
    /// returned handle: it must not use or give up that count again.
    #[inline(always)]
    pub(crate) unsafe fn handle_from_spare_count(&self) -> EntryRef {
        EntryRef { header: self.header }
    }

    /// Drops this handle together with `spare` counts held beside it, in
    /// one read-modify-write at most.
    #[inline]
    pub(crate) fn release_with_spare_counts(self, spare: usize) {
        let mut this = std::mem::ManuallyDrop::new(self);
        this.release_counts(1 + spare);
    }

    /// Gives up `counts` counts (this handle's and `counts - 1` spare ones
    /// beside it) and frees the entry if they were the last. The handle
    /// must not be used or dropped afterwards.
    #[inline(always)]
    fn release_counts(&mut self, counts: usize) {
        let refs = &self.header().refs;
        // A count equal to ours means no other handle exists: none can be
        // cloned meanwhile, so the entry can go without a read-modify-write.
        // `Acquire` orders the drops of other handles (their `Release`
        // decrements) before the value is dropped here.
        if refs.load(Ordering::Acquire) != counts {
            if refs.fetch_sub(counts, Ordering::Release) != counts {
                return;
            }
            fence(Ordering::Acquire);
        }
        // The common case inline: a value with nothing to drop, whose block
        // goes back to this thread's spares.
        let vtable = self.header().vtable;
        if let (None, Some(layout)) = (vtable.drop_node, vtable.layout)
            && spare::give(layout, self.header.cast())
        {
            return;
        }
        // SAFETY: these were the last counts, and the block was not given
        // away above.
        unsafe { release(self.header) }
    }
}

impl Drop for EntryRef {
    #[inline]
    fn drop(&mut self) {
        self.release_counts(1);
    }
}

/// Drops the node behind `header` and frees (or keeps for reuse) its block.
///
/// # Safety
///
/// No handle to the entry may remain.
#[inline(never)]
unsafe fn release(header: NonNull<Header>) {
    // SAFETY: the entry is alive until dropped below.
    let vtable = unsafe { header.as_ref() }.vtable;
    let layout = vtable.layout.unwrap_or_else(|| list_layout_of(header));
    let block = FreeBlock { block: header.cast(), layout };
    match vtable.drop_node {
        // Nothing to drop: the block is vacated already.
        None => block.free(),
        Some(drop_node) => {
            // Frees the block even if the value's destructor panics.
            let _free = block;
            // SAFETY: no handle remains (the caller's guarantee), so
            // nothing uses the node after this.
            unsafe { drop_node(header) };
        }
    }
}

/// Returns a vacated block to the per-thread spares, or to the allocator.
struct FreeBlock {
    block: NonNull<u8>,
    layout: Layout,
}

impl FreeBlock {
    #[inline]
    fn free(self) {
        drop(self);
    }
}

impl Drop for FreeBlock {
    #[inline]
    fn drop(&mut self) {
        if !spare::give(self.layout, self.block) {
            // SAFETY: the block was allocated with this layout (`allocate`)
            // and its node was dropped.
            unsafe { alloc::dealloc(self.block.as_ptr(), self.layout) };
        }
    }
}

fn allocate(layout: Layout) -> NonNull<u8> {
    // SAFETY: `layout` is a node's, whose header makes its size non-zero.
    let block = unsafe { alloc::alloc(layout) };
    NonNull::new(block).unwrap_or_else(|| alloc::handle_alloc_error(layout))
}

/// A few vacated entry blocks per thread, for the next entries of the same
/// layout.
///
/// The slots live in the hot thread state (no destructor, so no
/// registration check on each use); the first block given to them registers
/// the cold state, whose destructor frees them when the thread ends.
#[cfg(not(async_hooks_loom))]
pub(crate) mod spare {
    use std::alloc::{self, Layout};
    use std::cell::Cell;
    use std::ptr::NonNull;

    use crate::thread_state::{THREAD_STATE, ensure_cold_state};

    /// How many blocks a thread keeps: enough for a few nested `run`s of
    /// different value types; the bound keeps the memory held per thread a
    /// few hundred bytes.
    const SLOTS: usize = 4;

    #[derive(Clone, Copy)]
    struct Spare {
        block: NonNull<u8>,
        layout: Layout,
    }

    pub(crate) struct SpareBlocks {
        slots: [Cell<Option<Spare>>; SLOTS],
        /// Whether the cold state, which frees the slots at thread exit, is
        /// registered on this thread.
        freed_at_exit: Cell<bool>,
    }

    impl SpareBlocks {
        pub(crate) const fn new() -> SpareBlocks {
            SpareBlocks { slots: [const { Cell::new(None) }; SLOTS], freed_at_exit: Cell::new(false) }
        }

        /// Frees every kept block (at thread exit); blocks vacated later go
        /// straight back to the allocator, as the cold state is gone.
        pub(crate) fn free_all(&self) {
            self.freed_at_exit.set(false);
            for slot in &self.slots {
                if let Some(spare) = slot.take() {
                    // SAFETY: spares are vacated blocks of their layout,
                    // owned by this set alone.
                    unsafe { alloc::dealloc(spare.block.as_ptr(), spare.layout) };
                }
            }
        }
    }

    /// A vacated block of `layout`, if this thread keeps one.
    #[inline(always)]
    pub(super) fn take(layout: Layout) -> Option<NonNull<u8>> {
        THREAD_STATE.with(|state| {
            state.spare_blocks.slots.iter().find_map(|slot| {
                let spare = slot.get().filter(|spare| spare.layout == layout)?;
                slot.set(None);
                Some(spare.block)
            })
        })
    }

    /// Keeps a vacated block for reuse; false if every slot is full (or the
    /// thread is being torn down) and the caller must free it.
    #[inline(always)]
    pub(super) fn give(layout: Layout, block: NonNull<u8>) -> bool {
        THREAD_STATE.with(|state| {
            let spares = &state.spare_blocks;
            if !spares.freed_at_exit.get() {
                if !ensure_cold_state() {
                    return false;
                }
                spares.freed_at_exit.set(true);
            }
            let slot = spares.slots.iter().find(|slot| slot.get().is_none());
            slot.map(|slot| slot.set(Some(Spare { block, layout }))).is_some()
        })
    }
}

/// Under loom every block goes back to the allocator: the model checks the
/// counting, not the recycling.
#[cfg(async_hooks_loom)]
mod spare {
    use std::alloc::Layout;
    use std::ptr::NonNull;

    pub(super) fn take(_layout: Layout) -> Option<NonNull<u8>> {
        None
    }

    pub(super) fn give(_layout: Layout, _block: NonNull<u8>) -> bool {
        false
    }
}

#[cfg(all(test, not(async_hooks_loom)))]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;

    use super::*;

    /// Counts its drops.
    struct Counted(Arc<AtomicUsize>);

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn the_value_is_dropped_once_with_the_last_handle() {
        let drops = Arc::new(AtomicUsize::new(0));
        let entry = EntryRef::new(StoreKey::allocate(), Counted(drops.clone()));
        let copies: Vec<EntryRef> = (0..3).map(|_| entry.clone()).collect();
        drop(entry);
        let moved = std::thread::spawn(move || drop(copies));
        moved.join().unwrap();
        assert_eq!(drops.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn values_are_read_by_type_and_key() {
        let key = StoreKey::allocate();
        let entry = EntryRef::new(key, String::from("seven"));
        assert_eq!(entry.key(), key);
        assert_eq!(entry.value_as::<String>().map(String::as_str), Some("seven"));
        assert_eq!(entry.value_as::<u64>(), None);
        assert_eq!(entry.value().downcast_ref::<String>().map(String::len), Some(5));
    }

    #[test]
    fn blocks_are_reused_by_entries_of_the_same_layout() {
        let first = EntryRef::new(StoreKey::allocate(), 1_u64);
        let address = first.header;
        drop(first);
        // `i64` has `u64`'s layout: the vacated block is reused.
        let second = EntryRef::new(StoreKey::allocate(), -2_i64);
        assert_eq!(second.header, address);
        assert_eq!(second.value_as::<i64>(), Some(&-2));
        assert_eq!(second.value_as::<u64>(), None);
    }

    #[test]
    fn a_panicking_value_destructor_still_frees_the_block() {
        struct Explodes;
        impl Drop for Explodes {
            fn drop(&mut self) {
                panic!("value destructor");
            }
        }
        let entry = EntryRef::new(StoreKey::allocate(), Explodes);
        let address = entry.header;
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(entry)));
        assert!(result.is_err());
        // The block went back to the spares: the next entry of that layout
        // (a zero-sized value, as `Explodes`) gets it.
        let next = EntryRef::new(StoreKey::allocate(), ());
        assert_eq!(next.header, address);
    }
}
