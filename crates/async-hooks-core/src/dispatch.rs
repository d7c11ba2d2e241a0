//! Event dispatch: the hot path from an event to the enabled hook sets.
//!
//! Architecture invariant: with no hook set interested in an event, the
//! event costs one relaxed atomic load and a branch, and allocates nothing.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::Hooks;
use crate::fault::{self, Fault};
use crate::registry::{HookEntry, HookList, registry};
use crate::sync::{Arc, Ordering};
use crate::{AsyncId, Attribute, HookEvent, Resource};

struct DispatchState {
    /// Set while a hook callback (or the fault handler) runs on this thread.
    in_hook: Cell<bool>,
    /// The registry version `cache` was read at.
    cached_version: Cell<u64>,
    cache: Cell<Option<Arc<HookList>>>,
}

#[cfg(not(async_hooks_loom))]
thread_local! {
    static DISPATCH: DispatchState = const {
        DispatchState { in_hook: Cell::new(false), cached_version: Cell::new(u64::MAX), cache: Cell::new(None) }
    };
}

#[cfg(async_hooks_loom)]
loom::thread_local! {
    static DISPATCH: DispatchState =
        DispatchState { in_hook: Cell::new(false), cached_version: Cell::new(u64::MAX), cache: Cell::new(None) };
}

/// Whether some enabled hook set wants `event`.
#[inline]
pub(crate) fn is_interested(event: HookEvent) -> bool {
    registry().interest().contains(event)
}

/// Whether any enabled hook set wants any event.
#[inline]
pub(crate) fn any_interest() -> bool {
    !registry().interest().is_empty()
}

/// Whether this thread is running a hook callback.
#[inline]
pub(crate) fn in_hook() -> bool {
    DISPATCH.try_with(|state| state.in_hook.get()).unwrap_or(true)
}

/// Dispatches a `before`, `after`, `destroy` or `promise_resolve` event.
#[inline]
pub(crate) fn dispatch(kind: HookEvent, id: AsyncId) {
    if is_interested(kind) {
        match kind {
            HookEvent::Before => dispatch_to_hooks(kind, |hooks| hooks.before(id)),
            HookEvent::After => dispatch_to_hooks(kind, |hooks| hooks.after(id)),
            HookEvent::Destroy => dispatch_to_hooks(kind, |hooks| hooks.destroy(id)),
            HookEvent::PromiseResolve => dispatch_to_hooks(kind, |hooks| hooks.promise_resolve(id)),
            HookEvent::Init | HookEvent::Record => unreachable!("init and record carry data"),
        }
    }
}

/// Dispatches `init` for `resource`.
#[inline]
pub(crate) fn dispatch_init(resource: &Resource) {
    if is_interested(HookEvent::Init) {
        dispatch_to_hooks(HookEvent::Init, |hooks| {
            hooks.init(resource.id(), resource.resource_type(), resource.trigger_async_id(), resource)
        });
    }
}

/// Dispatches `record` for `id`.
#[inline]
pub(crate) fn dispatch_record(id: AsyncId, attributes: &[Attribute]) {
    if is_interested(HookEvent::Record) {
        dispatch_to_hooks(HookEvent::Record, |hooks| hooks.record(id, attributes));
    }
}

/// Calls `call` on every enabled hook set interested in `kind`, in enable
/// order, from the list this thread cached. One copy per event kind (the
/// closure is inlined), so no event data is matched at run time.
#[inline(never)]
fn dispatch_to_hooks(kind: HookEvent, call: impl Fn(&dyn Hooks)) {
    let _ = DISPATCH.try_with(|state| {
        if state.in_hook.get() {
            return;
        }
        let version = registry().version();
        if state.cached_version.get() != version {
            refresh_cache(state);
        }
        // Taken out for the dispatch and put back after: while it is out,
        // `in_hook` is set, so no nested dispatch on this thread reads it.
        let Some(list) = state.cache.take() else {
            return;
        };
        state.in_hook.set(true);
        let _reset = ResetInHook(&state.in_hook);
        for entry in &list.entries {
            if entry.interest.contains(kind) && !entry.poisoned.load(Ordering::Relaxed) {
                let outcome = catch_unwind(AssertUnwindSafe(|| call(&*entry.hooks)));
                if let Err(payload) = outcome {
                    contain_hook_panic(entry, kind, &*payload);
                }
            }
        }
        drop(_reset);
        // A refresh cannot have happened meanwhile (it needs a dispatch on
        // this thread), so the cache slot is still empty.
        state.cache.set(Some(list));
    });
}

#[cold]
#[inline(never)]
fn refresh_cache(state: &DispatchState) {
    let (snapshot_version, list) = registry().snapshot();
    // Replace first, drop the old list after: it may hold the last
    // reference to a hook set whose drop runs code.
    let replaced = state.cache.replace(list);
    state.cached_version.set(snapshot_version);
    drop(replaced);
}

#[cold]
#[inline(never)]
fn contain_hook_panic(entry: &HookEntry, event: HookEvent, payload: &(dyn std::any::Any + Send)) {
    if entry.poisoned.swap(true, Ordering::AcqRel) {
        // Another thread's dispatch already reported this set.
        return;
    }
    registry().disable(entry.serial());
    fault::report(Fault::HookPanicked {
        hook: entry.hooks.name().to_owned(),
        event,
        message: fault::panic_message(payload),
    });
}

struct ResetInHook<'a>(&'a Cell<bool>);

impl Drop for ResetInHook<'_> {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

/// Marks this thread as running hook code until dropped, so that the events
/// that code causes are not dispatched.
pub(crate) struct InHookGuard {
    was_in_hook: bool,
}

impl InHookGuard {
    pub(crate) fn enter() -> InHookGuard {
        let was_in_hook = DISPATCH.try_with(|state| state.in_hook.replace(true)).unwrap_or(true);
        InHookGuard { was_in_hook }
    }
}

impl Drop for InHookGuard {
    fn drop(&mut self) {
        let was_in_hook = self.was_in_hook;
        let _ = DISPATCH.try_with(|state| state.in_hook.set(was_in_hook));
    }
}
