//! The execution stack: which resource is running on this thread.
//!
//! Entering a resource's scope makes it current (its ids, itself, the
//! context frame it captured) and saves what was current before; leaving
//! restores that. Scopes opened through guards (every `AsyncResource` scope,
//! every poll of a wrapped future) keep the saved state in the guard, on the
//! native stack, so a scope costs no allocation and no thread-local stack
//! operation. Scopes opened through the embedder API (`emit_before` /
//! `emit_after`) have no guard; they keep their saved state in the thread's
//! `embedder_scopes`.
//!
//! Architecture invariant: the current resource in the thread state is
//! always that of an open scope — a pointer to the resource a guard
//! borrows, or "the innermost embedder scope", whose resource is kept
//! inline in `embedder_scopes` — and each scope restores the previous one
//! before its resource can go away.

use std::panic::Location;
use std::ptr::NonNull;

use crate::dispatch;
use crate::fault::{self, Fault};
use crate::frame::{self, ContextFrame};
use crate::thread_state::{COLD_STATE, ColdState, THREAD_STATE, Taken, ThreadState};
use crate::{AsyncId, HookEvent, Resource};

/// What a scope must restore when it ends.
///
/// Only the execution id and the current resource: the trigger id is read
/// through the resource, and nothing counts the open scopes, so a scope
/// saves and restores two words and the frame slot.
pub(crate) struct SavedState {
    /// The execution id before the scope; never [`AsyncId::NONE`] once
    /// entered (the root's is [`AsyncId::ROOT`]).
    id: AsyncId,
    resource: CurrentResource,
    frame: SavedFrame,
}

impl SavedState {
    /// The state of a scope guard before it entered: nothing to restore.
    pub(crate) const fn detached() -> SavedState {
        SavedState { id: AsyncId::NONE, resource: CurrentResource::ROOT, frame: SavedFrame::Unchanged }
    }

    /// Whether the scope never entered. Only possible under loom, whose
    /// thread-locals can be gone; otherwise entering cannot fail.
    #[inline(always)]
    fn is_detached(&self) -> bool {
        cfg!(async_hooks_loom) && self.id == AsyncId::NONE
    }
}

enum SavedFrame {
    /// The frame that was current was already the resource's own: only
    /// restore it if something replaced it meanwhile.
    Unchanged,
    /// The frame that was current before the scope (owned by the slot, or
    /// lent to it by an enclosing scope).
    Saved(Taken),
}

/// Which resource is current on a thread, in one word: a null pointer at
/// the root, a pointer to a guarded scope's resource (borrowed by its
/// guard), or [`CurrentResource::EMBEDDER`] for the innermost embedder
/// scope's resource (the last of `embedder_scopes`), which is kept inline
/// there, so no pointer to it is held while the vector may grow.
///
/// One word rather than an enum of two: a scope saves and restores it with
/// one load and one store.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct CurrentResource(*const Resource);

/// What a [`CurrentResource`] designates.
pub(crate) enum CurrentKind {
    /// No scope is open.
    Root,
    /// A guarded scope's resource.
    Guarded(NonNull<Resource>),
    /// The innermost embedder scope's resource.
    Embedder,
}

impl CurrentResource {
    /// No scope is open.
    pub(crate) const ROOT: CurrentResource = CurrentResource(std::ptr::null());
    /// The innermost embedder scope's resource. An address no `Resource`
    /// can have: non-null, aligned, and inside the first page.
    pub(crate) const EMBEDDER: CurrentResource = CurrentResource(NonNull::<Resource>::dangling().as_ptr());

    /// A guarded scope's resource.
    #[inline(always)]
    pub(crate) fn guarded(resource: &Resource) -> CurrentResource {
        CurrentResource(resource)
    }

    pub(crate) fn kind(self) -> CurrentKind {
        match NonNull::new(self.0.cast_mut()) {
            None => CurrentKind::Root,
            Some(_) if self == CurrentResource::EMBEDDER => CurrentKind::Embedder,
            Some(resource) => CurrentKind::Guarded(resource),
        }
    }
}

/// A scope opened through the embedder API.
pub(crate) struct EmbedderScope {
    resource: Resource,
    saved: SavedState,
}

/// The id of the resource running on this thread, or [`AsyncId::ROOT`]
/// outside any resource.
///
/// # Examples
///
/// ```
/// use async_hooks_core::{AsyncId, AsyncResource, execution_async_id};
///
/// assert_eq!(execution_async_id(), AsyncId::ROOT);
/// let resource = AsyncResource::new("Example");
/// let inside = resource.run_in_async_scope(execution_async_id);
/// assert_eq!(inside, resource.async_id());
/// ```
#[inline]
pub fn execution_async_id() -> AsyncId {
    THREAD_STATE.with(|state| read_word(&state.id))
}

/// The trigger id of the resource running on this thread, or
/// [`AsyncId::NONE`] outside any resource.
///
/// # Examples
///
/// ```
/// use async_hooks_core::{AsyncId, AsyncResource, trigger_async_id};
///
/// let resource = AsyncResource::new("Example");
/// assert_eq!(resource.trigger_async_id(), AsyncId::ROOT);
/// assert_eq!(resource.run_in_async_scope(trigger_async_id), AsyncId::ROOT);
/// assert_eq!(trigger_async_id(), AsyncId::NONE);
/// ```
#[inline]
pub fn trigger_async_id() -> AsyncId {
    with_current_resource(|resource| resource.map_or(AsyncId::NONE, Resource::trigger_async_id))
}

/// The resource running on this thread, or `None` at the root.
///
/// See [`Resource`] for an example.
pub fn execution_async_resource() -> Option<Resource> {
    with_current_resource(|resource| resource.cloned())
}

/// Calls `f` with the resource running on this thread (`None` at the root).
fn with_current_resource<R>(f: impl FnOnce(Option<&Resource>) -> R) -> R {
    THREAD_STATE.with(|state| match state.resource.get().kind() {
        CurrentKind::Root => f(None),
        // SAFETY: the pointer is to the resource of an open guarded scope,
        // which outlives the scope (the module's invariant), and we are on
        // the scope's own thread.
        CurrentKind::Guarded(resource) => f(Some(unsafe { resource.as_ref() })),
        // A copy, so that no borrow of the embedder scopes is held while `f`
        // runs; `None` during thread teardown, when they are gone.
        CurrentKind::Embedder => {
            let resource = COLD_STATE
                .try_with(|cold| cold.embedder_scopes.borrow().last().map(|scope| scope.resource.clone()))
                .ok()
                .flatten();
            f(resource.as_ref())
        }
    })
}

/// Makes `resource` current and enters `frame`, writing what to restore
/// into `saved` in place (a scope guard's own field) instead of returning
/// it: returning it made the compiler copy it through the stack with
/// mixed-width moves, which stall store forwarding and cost more than the
/// rest of the scope.
///
/// # Safety
///
/// `resource` must stay valid and unmoved until `saved` is passed to
/// [`exit`] on this thread.
#[inline(always)]
pub(crate) unsafe fn enter_into(
    state: &ThreadState,
    resource: &Resource,
    frame: &ContextFrame,
    saved: &mut SavedState,
) {
    saved.frame = if frame::is_current_in(state, frame) {
        SavedFrame::Unchanged
    } else {
        // SAFETY: `frame` is the resource's, which the caller keeps alive
        // until `exit` restores the slot; `saved` is restored there, on this
        // thread, and scopes nest, so what it holds (possibly lent by an
        // enclosing scope) stays valid until then.
        SavedFrame::Saved(unsafe { state.frame.replace_borrowed(frame) })
    };
    saved.id = replace_word(&state.id, resource.id());
    saved.resource = replace_word(&state.resource, CurrentResource::guarded(resource));
}

// The scope state is read and written one word at a time, volatile so that
// the compiler cannot merge neighbouring words into one wide access: a wide
// load of words stored one by one (or the reverse) stalls store forwarding,
// which measured as the largest single cost of a scope.

#[inline(always)]
fn read_word<T: Copy>(cell: &std::cell::Cell<T>) -> T {
    // SAFETY: `Cell::as_ptr` points to an initialized `T`; `Cell` is not
    // `Sync`, so no other thread accesses it, and no reference into it is
    // live (`Cell` hands none out).
    unsafe { std::ptr::read_volatile(cell.as_ptr()) }
}

#[inline(always)]
fn write_word<T: Copy>(cell: &std::cell::Cell<T>, value: T) {
    // SAFETY: as in `read_word`; `T: Copy`, so nothing is leaked or dropped.
    unsafe { std::ptr::write_volatile(cell.as_ptr(), value) }
}

#[inline(always)]
fn replace_word<T: Copy>(cell: &std::cell::Cell<T>, value: T) -> T {
    let previous = read_word(cell);
    write_word(cell, value);
    previous
}

/// Makes `resource` current as `current` and enters `frame` (or, with
/// `None`, keeps the current frame). Returns what to restore.
///
/// # Safety
///
/// When `current` is `Guarded`, as for [`enter_into`].
#[inline(always)]
unsafe fn enter_as(
    state: &ThreadState,
    resource: &Resource,
    current: CurrentResource,
    frame: Option<&ContextFrame>,
) -> SavedState {
    let saved_frame = match frame {
        Some(frame) if frame::is_current_in(state, frame) => SavedFrame::Unchanged,
        // Embedder scopes may be closed out of order or never, so they keep
        // owned frames only.
        Some(frame) => SavedFrame::Saved(Taken::owned(state.frame.replace_owned(frame.clone()).into_owned())),
        None => SavedFrame::Saved(Taken::owned(frame::current_in(state))),
    };
    SavedState { id: state.id.replace(resource.id()), resource: state.resource.replace(current), frame: saved_frame }
}

/// Restores what `saved` recorded. `resource_frame` is the leaving
/// resource's own frame, restored if the scope was entered with its frame
/// already current and something replaced it inside.
#[inline(always)]
fn restore(state: &ThreadState, saved: &mut SavedState, resource_frame: Option<&ContextFrame>) {
    // Read the saved state in place: moving it around is a large part of a
    // scope's cost.
    // Word by word, as `enter_into` wrote them (see `read_word`).
    // SAFETY: plain reads of initialized `Copy` fields of a live value.
    let (id, resource) = unsafe { (std::ptr::read_volatile(&saved.id), std::ptr::read_volatile(&saved.resource)) };
    write_word(&state.id, id);
    write_word(&state.resource, resource);
    // What is replaced is released if the slot owned it.
    match std::mem::replace(&mut saved.frame, SavedFrame::Unchanged) {
        SavedFrame::Saved(previous) => drop(state.frame.restore(previous)),
        SavedFrame::Unchanged => match resource_frame {
            Some(resource_frame) if !frame::is_current_in(state, resource_frame) => {
                reinstall_resource_frame(state, resource_frame);
            }
            _ => {}
        },
    }
}

/// Something (`enter_with`, `set_current`) replaced the resource's own frame
/// inside a scope entered with it already current: put it back.
#[cold]
#[inline(never)]
fn reinstall_resource_frame(state: &ThreadState, resource_frame: &ContextFrame) {
    drop(state.frame.replace_owned(resource_frame.clone()));
}

/// Leaves the scope of `expected`, entered with `saved`: dispatches `after`
/// (when `dispatch_after`) and restores. If `expected` is not the innermost
/// open scope, embedder scopes were left open inside it: that is stack
/// corruption, reported, and repaired by closing them (each gets `after`).
#[inline(always)]
pub(crate) fn exit(expected: AsyncId, dispatch_after: bool, saved: &mut SavedState, resource_frame: &ContextFrame) {
    // One thread-local access for the whole exit: hooks called from here
    // may use the thread state too (shared access; no borrow is held).
    if saved.is_detached() {
        return;
    }
    THREAD_STATE.with(|state| {
        if state.id.get() != expected {
            close_embedder_scopes_above(expected);
        }
        if dispatch_after {
            dispatch::dispatch(HookEvent::After, expected);
        }
        restore(state, saved, Some(resource_frame));
    });
}

#[cold]
#[inline(never)]
fn close_embedder_scopes_above(expected: AsyncId) {
    let actual = execution_async_id();
    fault::report(Fault::StackCorrupted { actual, expected });
    // Close, innermost first, the embedder scopes opened inside this one:
    // guarded scopes nest, so all that can be open above a guarded scope
    // when it ends are embedder scopes, and closing them ends at it.
    loop {
        let top = with_states(|state, cold| {
            let scopes = cold.embedder_scopes.borrow();
            let innermost_is_embedder = state.resource.get() == CurrentResource::EMBEDDER;
            scopes.last().filter(|_| innermost_is_embedder).map(|scope| scope.resource.id())
        });
        let Some(Some(top)) = top else {
            break;
        };
        dispatch::dispatch(HookEvent::After, top);
        let _ = with_states(|state, cold| pop_embedder_scope(state, cold, None));
    }
}

/// Calls `f` with both parts of the thread state; `Err` during teardown.
fn with_states<R>(f: impl FnOnce(&ThreadState, &ColdState) -> R) -> Option<R> {
    COLD_STATE.try_with(|cold| THREAD_STATE.with(|state| f(state, cold))).ok()
}

/// Closes the innermost embedder scope, restoring what it saved.
fn pop_embedder_scope(state: &ThreadState, cold: &ColdState, resource_frame: Option<&ContextFrame>) {
    let popped = cold.embedder_scopes.borrow_mut().pop();
    if let Some(mut scope) = popped {
        restore(state, &mut scope.saved, resource_frame);
        // Dropped after the borrow of the scopes ended.
        drop(scope);
    }
}

/// Opens an embedder scope of `resource`, entering `frame` (or, with `None`,
/// keeping the current frame), and dispatches `before` if asked.
pub(crate) fn emit_embedder_before(resource: Resource, frame: Option<&ContextFrame>, dispatch_before: bool) {
    let id = resource.id();
    let _ = with_states(|state, cold| {
        // SAFETY: `Embedder` holds no pointer: the resource is read from the
        // embedder scope pushed right after, which stays on top for as long
        // as `Embedder` is current.
        let saved = unsafe { enter_as(state, &resource, CurrentResource::EMBEDDER, frame) };
        cold.embedder_scopes.borrow_mut().push(EmbedderScope { resource, saved });
    });
    if dispatch_before {
        dispatch::dispatch(HookEvent::Before, id);
    }
}

/// Closes the embedder scope of `id`. If it is not the innermost scope, that
/// is stack corruption: reported, and repaired by closing the embedder
/// scopes above it too, if only embedder scopes are above it; otherwise
/// (guarded scopes are open inside it) the call is ignored.
pub(crate) fn emit_embedder_after(id: AsyncId, dispatch_after: bool, resource_frame: Option<&ContextFrame>) {
    // The common case: `id` is the innermost scope, and an embedder scope.
    let innermost = with_states(|state, cold| {
        state.id.get() == id
            && cold
                .embedder_scopes
                .borrow()
                .last()
                .is_some_and(|scope| scope.resource.id() == id && state.resource.get() == CurrentResource::EMBEDDER)
    });
    if innermost == Some(true) {
        if dispatch_after {
            dispatch::dispatch(HookEvent::After, id);
        }
        let _ = with_states(|state, cold| pop_embedder_scope(state, cold, resource_frame));
        return;
    }
    emit_embedder_after_out_of_order(id, dispatch_after, resource_frame);
}

/// [`emit_embedder_after`] when `id` is not the innermost open scope (or
/// not open at all): stack corruption, reported and repaired if it can be.
#[cold]
#[inline(never)]
fn emit_embedder_after_out_of_order(id: AsyncId, dispatch_after: bool, resource_frame: Option<&ContextFrame>) {
    let plan = with_states(|state, cold| {
        let scopes = cold.embedder_scopes.borrow();
        let position = scopes.iter().rposition(|scope| scope.resource.id() == id);
        // Only embedder scopes are above `id` if each scope opened after it
        // was opened with an embedder scope current, and one is current now
        // (a guarded scope in between would have been current instead).
        let only_embedder_scopes_above = position.is_some_and(|position| {
            state.resource.get() == CurrentResource::EMBEDDER
                && scopes[position + 1..].iter().all(|scope| scope.saved.resource == CurrentResource::EMBEDDER)
        });
        let scopes_above = position.map_or(0, |position| scopes.len() - position - 1);
        (state.id.get(), position.is_some(), only_embedder_scopes_above, scopes_above)
    });
    let Some((current, is_open, only_embedder_scopes_above, scopes_above)) = plan else {
        return;
    };
    if current != id || !is_open {
        fault::report(Fault::StackCorrupted { actual: current, expected: id });
        if !only_embedder_scopes_above {
            return;
        }
        for _ in 0..scopes_above {
            dispatch::dispatch(HookEvent::After, execution_async_id());
            let _ = with_states(|state, cold| pop_embedder_scope(state, cold, None));
        }
    }
    if dispatch_after {
        dispatch::dispatch(HookEvent::After, id);
    }
    let _ = with_states(|state, cold| pop_embedder_scope(state, cold, resource_frame));
}

/// Embedder API: makes `id` the current execution id and dispatches
/// `before`, for runtimes that cannot use [`AsyncResource`] scopes.
///
/// The trigger of the opened scope is unknown here and reads as
/// [`AsyncId::NONE`]; the context frame is left as it is. Prefer
/// [`AsyncResource::emit_before`](crate::AsyncResource::emit_before), which
/// knows both.
///
/// # Examples
///
/// ```
/// use async_hooks_core::{AsyncId, emit_after, emit_before, execution_async_id};
///
/// let id = AsyncId::from_u64(1_000_000);
/// emit_before(id);
/// assert_eq!(execution_async_id(), id);
/// emit_after(id);
/// assert_eq!(execution_async_id(), AsyncId::ROOT);
/// ```
///
/// [`AsyncResource`]: crate::AsyncResource
#[track_caller]
pub fn emit_before(id: AsyncId) {
    emit_embedder_before(Resource::new(id, AsyncId::NONE, "Embedder", Location::caller(), None), None, true);
}

/// Embedder API: dispatches `after` for `id` and closes its scope.
///
/// `id` must be the innermost open scope. Anything else is stack
/// corruption: reported as `async hook stack has become corrupted (actual:
/// A, expected: E)` and handled by the
/// [stack corruption policy](crate::set_stack_corruption_policy).
pub fn emit_after(id: AsyncId) {
    emit_embedder_after(id, true, None);
}
