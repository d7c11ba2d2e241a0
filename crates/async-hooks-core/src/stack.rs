//! The execution stack: which resource is running on this thread.
//!
//! Entering a resource's scope pushes it and enters the context frame it
//! captured; leaving pops it and restores the frame saved at the push. The
//! current ids are mirrored in a `Cell` so that [`execution_async_id`] is a
//! single thread-local read.

use std::cell::{Cell, RefCell};
use std::panic::Location;

use crate::dispatch;
use crate::fault::{self, Fault};
use crate::frame::{self, ContextFrame};
use crate::{AsyncId, HookEvent, Resource};

struct StackEntry {
    resource: Resource,
    /// The frame that was current before this entry was pushed.
    saved_frame: ContextFrame,
}

thread_local! {
    /// `(execution_async_id, trigger_async_id)` of the top of the stack.
    static CURRENT_IDS: Cell<(AsyncId, AsyncId)> = const { Cell::new((AsyncId::ROOT, AsyncId::NONE)) };
    static STACK: RefCell<Vec<StackEntry>> = const { RefCell::new(Vec::new()) };
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
    CURRENT_IDS.try_with(|ids| ids.get().0).unwrap_or(AsyncId::ROOT)
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
    CURRENT_IDS.try_with(|ids| ids.get().1).unwrap_or(AsyncId::NONE)
}

/// The resource running on this thread, or `None` at the root.
///
/// See [`Resource`] for an example.
pub fn execution_async_resource() -> Option<Resource> {
    STACK.try_with(|stack| stack.borrow().last().map(|entry| entry.resource.clone())).ok().flatten()
}

/// How many resource scopes are open on this thread.
pub fn execution_stack_depth() -> usize {
    STACK.try_with(|stack| stack.borrow().len()).unwrap_or(0)
}

/// Pushes `resource`, entering `frame` if given (the embedder API enters
/// none: the current frame stays).
#[inline]
pub(crate) fn push(resource: &Resource, frame: Option<&ContextFrame>) {
    let saved_frame = match frame {
        Some(frame) => frame::swap_current(frame.clone()),
        None => ContextFrame::current(),
    };
    let pushed = STACK.try_with(|stack| {
        stack.borrow_mut().push(StackEntry { resource: resource.clone(), saved_frame });
    });
    if pushed.is_ok() {
        let _ = CURRENT_IDS.try_with(|ids| ids.set((resource.id(), resource.trigger_async_id())));
    }
}

/// Pops the top entry, which must be `expected`, and restores its frame.
/// Returns whether `expected` was on top.
#[inline]
pub(crate) fn pop(expected: AsyncId) -> bool {
    let popped = STACK
        .try_with(|stack| {
            let mut stack = stack.borrow_mut();
            match stack.last() {
                Some(top) if top.resource.id() == expected => {
                    let entry = stack.pop().expect("the stack has a top entry");
                    set_current_ids(&stack);
                    Some(entry)
                }
                _ => None,
            }
        })
        .ok();
    match popped {
        Some(Some(entry)) => {
            frame::retire(frame::swap_current(entry.saved_frame));
            true
        }
        // Thread teardown: nothing left to restore.
        None => true,
        Some(None) => false,
    }
}

fn set_current_ids(stack: &[StackEntry]) {
    let ids =
        stack.last().map_or((AsyncId::ROOT, AsyncId::NONE), |top| (top.resource.id(), top.resource.trigger_async_id()));
    let _ = CURRENT_IDS.try_with(|current| current.set(ids));
}

/// Leaves the scope of `expected`: dispatches `after` (when `dispatch_after`)
/// and pops. An `expected` that is not on top is stack corruption: it is
/// reported and, under the default policy, repaired by unwinding the entries
/// above it (each gets its `after`), or ignored if it is not on the stack.
#[inline]
pub(crate) fn exit(expected: AsyncId, dispatch_after: bool) {
    if execution_async_id() == expected {
        if dispatch_after {
            dispatch::dispatch(HookEvent::After, expected);
        }
        pop(expected);
    } else {
        exit_corrupted(expected, dispatch_after);
    }
}

#[cold]
#[inline(never)]
fn exit_corrupted(expected: AsyncId, dispatch_after: bool) {
    let actual = execution_async_id();
    // Thread teardown leaves an empty stack that reads as the root.
    if actual == AsyncId::ROOT && STACK.try_with(|_| ()).is_err() {
        return;
    }
    fault::report(Fault::StackCorrupted { actual, expected });
    let depth_of_expected =
        STACK.try_with(|stack| stack.borrow().iter().rposition(|entry| entry.resource.id() == expected)).ok().flatten();
    let Some(depth) = depth_of_expected else {
        return;
    };
    // Unwind what was left open above `expected`, innermost first.
    while execution_stack_depth() > depth + 1 {
        let top = execution_async_id();
        dispatch::dispatch(HookEvent::After, top);
        pop(top);
    }
    if dispatch_after {
        dispatch::dispatch(HookEvent::After, expected);
    }
    pop(expected);
}

/// Embedder API: makes `id` the current execution id and dispatches
/// `before`, for runtimes that cannot use [`AsyncResource`] scopes.
///
/// The trigger of the pushed entry is unknown here and reads as
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
#[track_caller]
pub fn emit_before(id: AsyncId) {
    let resource = Resource::new(id, AsyncId::NONE, "Embedder", Location::caller(), None);
    push(&resource, None);
    dispatch::dispatch(HookEvent::Before, id);
}

/// Embedder API: dispatches `after` for `id` and pops it.
///
/// `id` must be the current execution id. Anything else is stack corruption:
/// reported as `async hook stack has become corrupted (actual: A, expected:
/// E)` and handled by the [stack corruption policy](crate::set_stack_corruption_policy).
pub fn emit_after(id: AsyncId) {
    exit(id, true);
}
