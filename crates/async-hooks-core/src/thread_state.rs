//! Everything the core keeps per thread.
//!
//! Split in two thread-locals by how often they are used:
//! - [`THREAD_STATE`], what every scope, `get` and `run` touches. Its type
//!   needs no destructor, so the standard library makes it a plain
//!   thread-local static: an access is one address computation, with no
//!   "registered / destroyed" state to check first.
//! - [`COLD_STATE`], what only rare paths use (embedder scopes, frames
//!   parked during a borrow, recycled entry blocks). It has a destructor,
//!   which also releases the thread's current frame at thread exit.

use std::cell::{Cell, RefCell};
use std::mem::ManuallyDrop;

use crate::AsyncId;
use crate::dispatch::DispatchState;
#[cfg(not(async_hooks_loom))]
use crate::entry::spare::SpareBlocks;
use crate::frame::ContextFrame;
use crate::stack::{CurrentResource, EmbedderScope};

pub(crate) struct ThreadState {
    /// `execution_async_id` of the innermost open scope.
    pub(crate) id: Cell<AsyncId>,
    /// The resource of the innermost open scope; `None` at the root. Valid
    /// while that scope is open (see `stack.rs`).
    pub(crate) resource: Cell<CurrentResource>,
    /// The current context frame.
    pub(crate) frame: FrameSlot,
    /// Whether a `ContextFrame::with_current` call is running here (the
    /// outermost one clears it). A flag, not a count: entering reads it and
    /// writes a constant, leaving writes a constant, so back-to-back calls
    /// form no chain of loads waiting on stores.
    pub(crate) frame_borrowed: Cell<bool>,
    /// Whether [`ColdState::retired_frames`] holds frames to free when the
    /// outermost borrow ends.
    pub(crate) frames_parked: Cell<bool>,
    /// Vacated store-entry blocks kept for reuse (freed by the cold state's
    /// destructor).
    #[cfg(not(async_hooks_loom))]
    pub(crate) spare_blocks: SpareBlocks,
    /// Dispatch's re-entrancy flag and cached hook list.
    pub(crate) dispatch: DispatchState,
}

impl ThreadState {
    const fn new() -> ThreadState {
        ThreadState {
            id: Cell::new(AsyncId::ROOT),
            resource: Cell::new(CurrentResource::ROOT),
            frame: FrameSlot::new(),
            frame_borrowed: Cell::new(false),
            frames_parked: Cell::new(false),
            #[cfg(not(async_hooks_loom))]
            spare_blocks: SpareBlocks::new(),
            dispatch: DispatchState::new(),
        }
    }
}

/// Under loom, thread-locals are torn down in an order of loom's choosing,
/// so the hot state releases its own hook list (loom checks every `Arc`).
#[cfg(async_hooks_loom)]
impl Drop for ThreadState {
    fn drop(&mut self) {
        self.dispatch.release();
    }
}

/// The current frame's slot.
///
/// The slot either owns its handle (counted) or holds a *lent* copy: the
/// bits of a handle owned by the code that installed it, which restores the
/// slot before that handle can go (a resource scope, `ContextFrame::run`).
/// Lending saves the two atomic read-modify-writes of a clone and its drop
/// on every scope that enters another frame. Whatever is taken out of the
/// slot comes as a [`Taken`], which knows which of the two it is.
///
/// An owned frame may also come with *spare counts*: counts of the frame
/// held by the slot beside its own handle. Capturing the current frame
/// (`ContextFrame::current`, so every resource and snapshot) takes one
/// instead of incrementing the count, and dropping a handle to the slot's
/// frame on this thread gives it back instead of decrementing: a snapshot
/// or resource made and dropped inside one `run` touches no atomic. The
/// spare counts leave with the frame, so they never keep its values alive
/// longer than the slot would.
///
/// `ManuallyDrop` keeps [`ThreadState`] free of destructors; [`ColdState`]'s
/// destructor releases the frame left in the slot when the thread ends (see
/// [`ensure_cold_state`]).
pub(crate) struct FrameSlot {
    frame: Cell<ManuallyDrop<ContextFrame>>,
    /// [`LENT`], or how many spare counts the slot holds beside its owned
    /// handle.
    spare: Cell<usize>,
}

/// [`FrameSlot::spare`] of a lent frame. Never a real number of spare
/// counts: those are real counts, at most `isize::MAX` in all.
const LENT: usize = usize::MAX;

/// How many spare counts the slot takes at once when its frame is first
/// captured.
const SPARE_COUNTS: usize = 1024;

impl FrameSlot {
    const fn new() -> FrameSlot {
        FrameSlot { frame: Cell::new(ManuallyDrop::new(ContextFrame::empty())), spare: Cell::new(0) }
    }

    #[inline(always)]
    fn swap(&self, frame: ManuallyDrop<ContextFrame>, spare: usize) -> Taken {
        Taken { frame: self.frame.replace(frame), spare: self.spare.replace(spare) }
    }

    /// Installs `frame`, owned by the slot, and returns what was there.
    #[inline(always)]
    pub(crate) fn replace_owned(&self, frame: ContextFrame) -> Taken {
        self.swap(ManuallyDrop::new(frame), 0)
    }

    /// Installs a lent copy of `frame` and returns what was there.
    ///
    /// # Safety
    ///
    /// `frame` must stay alive and unchanged until the slot is restored
    /// (with [`restore`](Self::restore)) to what this returned, on this
    /// thread; the returned value must not outlive that restore.
    #[inline(always)]
    pub(crate) unsafe fn replace_borrowed(&self, frame: &ContextFrame) -> Taken {
        // SAFETY: a bitwise copy that is never dropped (`LENT` says so)
        // and, by the caller's guarantee, never outlives the original.
        let copy = ManuallyDrop::new(unsafe { std::ptr::read(frame) });
        self.swap(copy, LENT)
    }

    /// Puts back what an earlier replace returned, and returns what was in
    /// the slot.
    #[inline(always)]
    pub(crate) fn restore(&self, previous: Taken) -> Taken {
        let previous = ManuallyDrop::new(previous);
        // SAFETY: `previous` is moved out field by field and never dropped.
        let frame = unsafe { std::ptr::read(&previous.frame) };
        self.swap(frame, previous.spare)
    }

    /// The slot's contents, for reads in place (`ManuallyDrop` is
    /// `repr(transparent)`).
    #[inline(always)]
    pub(crate) fn as_ptr(&self) -> *mut ContextFrame {
        self.frame.as_ptr().cast::<ContextFrame>()
    }

    /// A counted handle to the current frame: one of the slot's spare
    /// counts when it has one, else a clone.
    #[inline(always)]
    pub(crate) fn capture(&self) -> ContextFrame {
        // SAFETY: `Cell` hands out no references to its contents, and
        // nothing replaces them while this one lives: it ends with this
        // call, which runs no other code.
        let frame = unsafe { &*self.as_ptr() };
        if frame.is_empty() {
            return ContextFrame::empty();
        }
        let spare = self.spare.get();
        // One compare for "owned, with a spare count" (1..LENT).
        if spare.wrapping_sub(1) < LENT - 1 {
            self.spare.set(spare - 1);
            // SAFETY: the slot owns its frame and holds `spare` counts
            // beside it; one of them goes to the new handle.
            return unsafe { frame.handle_from_spare_count() };
        }
        self.capture_slow(frame, spare)
    }

    /// [`capture`](Self::capture) without a spare count at hand: an owned
    /// frame takes a batch of them (one read-modify-write at most, a plain
    /// store if the slot's handle is the only one), a lent one is cloned.
    #[cold]
    #[inline(never)]
    fn capture_slow(&self, frame: &ContextFrame, spare: usize) -> ContextFrame {
        if spare == LENT {
            return frame.clone();
        }
        frame.add_spare_counts(SPARE_COUNTS);
        self.spare.set(SPARE_COUNTS - 1);
        // SAFETY: the slot now holds `SPARE_COUNTS` spare counts; one goes
        // to the new handle.
        unsafe { frame.handle_from_spare_count() }
    }

    /// Takes back the count of `frame`, a handle being dropped, as a spare
    /// count if it is a handle to the slot's own (owned) frame. False if
    /// not: the caller drops it as usual.
    #[inline(always)]
    pub(crate) fn take_back(&self, frame: &ContextFrame) -> bool {
        let spare = self.spare.get();
        // SAFETY: as in `capture`: the reference ends with the comparison.
        if spare == LENT || !unsafe { &*self.as_ptr() }.ptr_eq(frame) {
            return false;
        }
        // Counts are real, so the sum stays at most `isize::MAX`, below
        // `LENT`.
        self.spare.set(spare + 1);
        true
    }
}

/// A frame taken out of the [`FrameSlot`]: owned (with its spare counts),
/// or a lent copy. Dropping it releases an owned frame (through
/// `frame::retire_with_spare_counts`, which respects `with_current`
/// borrows) and forgets a lent one.
#[must_use = "a taken frame is usually put back with `FrameSlot::restore`"]
pub(crate) struct Taken {
    frame: ManuallyDrop<ContextFrame>,
    /// As [`FrameSlot::spare`].
    spare: usize,
}

impl Taken {
    /// An owned frame, as a `Taken`.
    pub(crate) fn owned(frame: ContextFrame) -> Taken {
        Taken { frame: ManuallyDrop::new(frame), spare: 0 }
    }

    /// The frame as an owned handle of one count: a lent copy is cloned,
    /// spare counts are given up.
    #[inline]
    pub(crate) fn into_owned(self) -> ContextFrame {
        let this = ManuallyDrop::new(self);
        match this.spare {
            LENT => (*this.frame).clone(),
            spare => {
                if spare != 0 {
                    this.frame.drop_spare_counts(spare);
                }
                // SAFETY: the owned handle is moved out once; `this` is
                // never dropped.
                unsafe { std::ptr::read(&*this.frame) }
            }
        }
    }
}

impl Drop for Taken {
    #[inline(always)]
    fn drop(&mut self) {
        if self.spare != LENT {
            // SAFETY: taken once; the field is not used again.
            let frame = unsafe { ManuallyDrop::take(&mut self.frame) };
            if !frame.is_empty() {
                retire_taken(frame, self.spare);
            }
        }
    }
}

/// Releases an owned frame taken out of the slot, with its spare counts.
/// Out of line: scopes mostly get back the lent copy they lent, and
/// inlining the release made every scope's exit too large to inline.
#[inline(never)]
fn retire_taken(frame: ContextFrame, spare: usize) {
    crate::frame::retire_with_spare_counts(frame, spare);
}

pub(crate) struct ColdState {
    /// Frames taken out of the current slot while `frame_borrowed`, kept
    /// alive until it is 0 again.
    pub(crate) retired_frames: RefCell<Vec<ContextFrame>>,
    /// Scopes opened through the embedder API, which have no guard to keep
    /// their saved state in; innermost last.
    pub(crate) embedder_scopes: RefCell<Vec<EmbedderScope>>,
}

impl ColdState {
    const fn new() -> ColdState {
        ColdState { retired_frames: RefCell::new(Vec::new()), embedder_scopes: RefCell::new(Vec::new()) }
    }
}

impl Drop for ColdState {
    /// The thread is ending: release the frame still current on it (one set
    /// at top level with `set_current`), so its values are dropped.
    fn drop(&mut self) {
        let take = |state: &ThreadState| state.frame.replace_owned(ContextFrame::empty());
        #[cfg(not(async_hooks_loom))]
        let frame = Some(THREAD_STATE.with(take));
        // Dropping the frame may vacate blocks: freed below, after it.
        // Loom's thread-locals may be gone already, in any order.
        #[cfg(async_hooks_loom)]
        let frame = HOT_STATE.try_with(take).ok();
        drop(frame);
        #[cfg(not(async_hooks_loom))]
        THREAD_STATE.with(|state| {
            // No block is kept from now on: `give` finds no cold state.
            state.spare_blocks.free_all();
            state.dispatch.release();
        });
    }
}

/// Registers the cold state's destructor on this thread, so that what the
/// hot state holds (a frame installed for the rest of the thread by
/// `set_current` at top level, spare blocks, the cached hook list) is
/// released when the thread ends. Scopes need not call it: they restore
/// what they replaced before they end. False if the thread is being torn
/// down and the cold state is gone.
#[inline]
pub(crate) fn ensure_cold_state() -> bool {
    COLD_STATE.try_with(|_| ()).is_ok()
}

/// The way to this thread's [`ThreadState`]: `THREAD_STATE.with(|state| ..)`.
pub(crate) struct ThreadStateKey;

pub(crate) static THREAD_STATE: ThreadStateKey = ThreadStateKey;

impl ThreadStateKey {
    /// Calls `f` with this thread's state. Never fails: the state has no
    /// destructor, so it is usable until the thread's last instruction.
    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(&ThreadState) -> R) -> R {
        #[cfg(not(async_hooks_loom))]
        {
            // The pointer is taken in a closure of one type for all callers,
            // so `LocalKey::with` is instantiated once, small enough to be
            // inlined everywhere (generic closures made it an out-of-line
            // call through the key's accessor pointer).
            let state = HOT_STATE.with(|state| state as *const ThreadState);
            // SAFETY: a thread-local without a destructor lives, unchanged
            // in place, until its thread ends, and the reference does not
            // leave this call on this thread.
            f(unsafe { &*state })
        }
        #[cfg(async_hooks_loom)]
        {
            HOT_STATE.with(f)
        }
    }

    /// [`with`](Self::with) for code that may run while the thread is torn
    /// down (destructors): `None` if the state is gone, which happens only
    /// under loom, whose thread-locals have destructors.
    #[inline(always)]
    pub(crate) fn try_with<R>(&self, f: impl FnOnce(&ThreadState) -> R) -> Option<R> {
        #[cfg(not(async_hooks_loom))]
        {
            Some(self.with(f))
        }
        #[cfg(async_hooks_loom)]
        {
            HOT_STATE.try_with(f).ok()
        }
    }
}

#[cfg(not(async_hooks_loom))]
thread_local! {
    static HOT_STATE: ThreadState = const { ThreadState::new() };
    pub(crate) static COLD_STATE: ColdState = const { ColdState::new() };
}

#[cfg(async_hooks_loom)]
loom::thread_local! {
    static HOT_STATE: ThreadState = ThreadState::new();
    pub(crate) static COLD_STATE: ColdState = ColdState::new();
}
