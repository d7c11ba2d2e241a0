//! Event dispatch: the hot path from an event to the enabled hook sets.
//!
//! Architecture invariant: with no hook set interested in an event, the
//! event costs one relaxed atomic load and a branch, and allocates nothing.

use std::cell::Cell;
use std::mem::ManuallyDrop;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::Hooks;
use crate::fault::{self, Fault};
use crate::registry::{DispatchTarget, HookEntry, HookList, registry};
use crate::sync::{Arc, Ordering};
use crate::thread_state::THREAD_STATE;
use crate::{AsyncId, Attribute, HookEvent, Interest, Resource};

/// What dispatch keeps per thread, inside the hot thread state (so reaching
/// it needs no registration check).
pub(crate) struct DispatchState {
    /// Set while a hook callback (or the fault handler) runs on this thread.
    in_hook: Cell<bool>,
    /// The registry version `cache` was read at.
    cached_version: Cell<u64>,
    /// This thread's copy of the enabled hook sets. `ManuallyDrop` keeps
    /// the hot state free of destructors: the cold state's destructor
    /// releases it ([`DispatchState::release`]), and is registered before
    /// the first copy is cached.
    cache: Cell<ManuallyDrop<Option<Arc<HookList>>>>,
}

impl DispatchState {
    pub(crate) const fn new() -> DispatchState {
        DispatchState {
            in_hook: Cell::new(false),
            cached_version: Cell::new(u64::MAX),
            cache: Cell::new(ManuallyDrop::new(None)),
        }
    }

    /// Drops the cached list (at thread exit); the next dispatch reads the
    /// registry again.
    pub(crate) fn release(&self) {
        self.cached_version.set(u64::MAX);
        drop(ManuallyDrop::into_inner(self.cache.replace(ManuallyDrop::new(None))));
    }
}

#[inline(always)]
fn with_dispatch<R>(f: impl FnOnce(&DispatchState) -> R) -> R {
    THREAD_STATE.with(|state| f(&state.dispatch))
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
    with_dispatch(|state| state.in_hook.get())
}

/// Dispatches a `before`, `after`, `destroy` or `promise_resolve` event.
#[inline]
pub(crate) fn dispatch(kind: HookEvent, id: AsyncId) {
    if is_interested(kind) {
        match kind {
            HookEvent::Before => dispatch_to_hooks::<{ Interest::BEFORE.bits() }>(kind, |hooks| hooks.before(id)),
            HookEvent::After => dispatch_to_hooks::<{ Interest::AFTER.bits() }>(kind, |hooks| hooks.after(id)),
            HookEvent::Destroy => dispatch_to_hooks::<{ Interest::DESTROY.bits() }>(kind, |hooks| hooks.destroy(id)),
            HookEvent::PromiseResolve => {
                dispatch_to_hooks::<{ Interest::PROMISE_RESOLVE.bits() }>(kind, |hooks| hooks.promise_resolve(id))
            }
            HookEvent::Init | HookEvent::Record => unreachable!("init and record carry data"),
        }
    }
}

/// Dispatches `init` for `resource`.
#[inline]
pub(crate) fn dispatch_init(resource: &Resource) {
    if is_interested(HookEvent::Init) {
        dispatch_to_hooks::<{ Interest::INIT.bits() }>(HookEvent::Init, |hooks| {
            hooks.init(resource.id(), resource.resource_type(), resource.trigger_async_id(), resource)
        });
    }
}

/// Dispatches `record` for `id`.
#[inline]
pub(crate) fn dispatch_record(id: AsyncId, attributes: &[Attribute]) {
    if is_interested(HookEvent::Record) {
        dispatch_to_hooks::<{ Interest::RECORD.bits() }>(HookEvent::Record, |hooks| hooks.record(id, attributes));
    }
}

/// Calls `call` on every enabled hook set interested in `kind`, in enable
/// order, from the list this thread cached. One copy per event kind (the
/// closure is inlined), so no event data is matched at run time.
#[inline(never)]
fn dispatch_to_hooks<const MASK: u8>(kind: HookEvent, call: impl Fn(&dyn Hooks)) {
    with_dispatch(|state| {
        if state.in_hook.get() {
            return;
        }
        let version = registry().version();
        if state.cached_version.get() != version {
            refresh_cache(state);
        }
        // SAFETY: `Cell` hands out no references to its contents, and they
        // are replaced only by `refresh_cache` (reached from a dispatch on
        // this thread, which `in_hook`, set below, turns away) or `release`
        // (at thread exit, after every dispatch). So the list outlives this
        // borrow.
        let Some(list) = (unsafe { &**state.cache.as_ptr() }) else {
            return;
        };
        state.in_hook.set(true);
        let _reset = ResetInHook(&state.in_hook);
        match list.targets() {
            // The common case, without a loop's registers to keep.
            [only] => call_target::<MASK>(only, kind, &call),
            targets => call_targets::<MASK>(targets, kind, &call),
        }
        drop(_reset);
    });
}

/// Calls `call` on `target` if it wants the event and has not panicked
/// before, containing a panic.
#[inline(always)]
fn call_target<const MASK: u8>(target: &DispatchTarget, kind: HookEvent, call: &impl Fn(&dyn Hooks)) {
    if target.interest.bits() & MASK != 0 && !target.entry().poisoned.load(Ordering::Relaxed) {
        let outcome = catch_unwind(AssertUnwindSafe(|| call(target.hooks())));
        if let Err(payload) = outcome {
            contain_hook_panic(target.entry(), kind, &*payload);
        }
    }
}

/// [`call_target`] for each of several targets, in order.
#[inline(never)]
fn call_targets<const MASK: u8>(targets: &[DispatchTarget], kind: HookEvent, call: &impl Fn(&dyn Hooks)) {
    for target in targets {
        call_target::<MASK>(target, kind, call);
    }
}

#[cold]
#[inline(never)]
fn refresh_cache(state: &DispatchState) {
    let (snapshot_version, list) = registry().snapshot();
    if list.is_some() && !crate::thread_state::ensure_cold_state() {
        // The thread is being torn down: nothing would release a cached
        // copy, so cache none (this dispatch sees no hooks).
        return;
    }
    // Replace first, drop the old list after: it may hold the last
    // reference to a hook set whose drop runs code.
    let replaced = state.cache.replace(ManuallyDrop::new(list));
    state.cached_version.set(snapshot_version);
    drop(ManuallyDrop::into_inner(replaced));
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
        let was_in_hook = with_dispatch(|state| state.in_hook.replace(true));
        InHookGuard { was_in_hook }
    }
}

impl Drop for InHookGuard {
    fn drop(&mut self) {
        let was_in_hook = self.was_in_hook;
        with_dispatch(|state| state.in_hook.set(was_in_hook));
    }
}
