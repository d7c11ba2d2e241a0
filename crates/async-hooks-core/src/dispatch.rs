//! Event dispatch: the hot path from an event to the enabled hook sets.
//!
//! Architecture invariant: with no hook set interested in an event, the
//! event costs one relaxed atomic load and a branch, and allocates nothing.

use std::cell::Cell;
use std::mem::ManuallyDrop;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr::NonNull;

use crate::Hooks;
use crate::fault::{self, Fault};
use crate::registry::{DispatchTarget, HookEntry, HookList, RegistryState, registry};
use crate::sync::{Arc, Ordering};
use crate::thread_state::THREAD_STATE;
use crate::{AsyncId, Attribute, HookEvent, Interest, Resource};

/// What dispatch keeps per thread, inside the hot thread state (so reaching
/// it needs no registration check).
pub(crate) struct DispatchState {
    /// Set while a hook callback (or the fault handler) runs on this thread.
    in_hook: Cell<bool>,
    /// The registry state `cache` was taken at.
    cached_state: Cell<RegistryState>,
    /// The targets of `cache`'s list (empty with no list), kept here so that
    /// an event reaches them without going through the list.
    targets: Cell<NonNull<[DispatchTarget]>>,
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
            cached_state: Cell::new(RegistryState::UNCACHED),
            targets: Cell::new(NO_TARGETS),
            cache: Cell::new(ManuallyDrop::new(None)),
        }
    }

    /// Drops the cached list (at thread exit); the next dispatch reads the
    /// registry again.
    pub(crate) fn release(&self) {
        self.cached_state.set(RegistryState::UNCACHED);
        self.targets.set(NO_TARGETS);
        drop(ManuallyDrop::into_inner(self.cache.replace(ManuallyDrop::new(None))));
    }
}

/// The targets of no list.
const NO_TARGETS: NonNull<[DispatchTarget]> = NonNull::slice_from_raw_parts(NonNull::dangling(), 0);

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

/// The registry's published state, if some enabled hook set wants `event`:
/// the one load an event makes when none does.
#[inline(always)]
fn state_if_interested(event: HookEvent) -> Option<RegistryState> {
    let published = registry().state();
    published.interest().contains(event).then_some(published)
}

/// Dispatches a `before`, `after`, `destroy` or `promise_resolve` event.
#[inline]
pub(crate) fn dispatch(kind: HookEvent, id: AsyncId) {
    if let Some(published) = state_if_interested(kind) {
        match kind {
            HookEvent::Before => {
                dispatch_to_hooks::<{ Interest::BEFORE.bits() }>(published, move |hooks| hooks.before(id))
            }
            HookEvent::After => {
                dispatch_to_hooks::<{ Interest::AFTER.bits() }>(published, move |hooks| hooks.after(id))
            }
            HookEvent::Destroy => {
                dispatch_to_hooks::<{ Interest::DESTROY.bits() }>(published, move |hooks| hooks.destroy(id))
            }
            HookEvent::PromiseResolve => {
                dispatch_to_hooks::<{ Interest::PROMISE_RESOLVE.bits() }>(published, move |hooks| {
                    hooks.promise_resolve(id)
                })
            }
            HookEvent::Init | HookEvent::Record => unreachable!("init and record carry data"),
        }
    }
}

/// Dispatches `init` for `resource`.
#[inline]
pub(crate) fn dispatch_init(resource: &Resource) {
    if let Some(published) = state_if_interested(HookEvent::Init) {
        dispatch_to_hooks::<{ Interest::INIT.bits() }>(published, |hooks| {
            hooks.init(resource.id(), resource.resource_type(), resource.trigger_async_id(), resource)
        });
    }
}

/// Dispatches `record` for `id`.
#[inline]
pub(crate) fn dispatch_record(id: AsyncId, attributes: &[Attribute]) {
    if let Some(published) = state_if_interested(HookEvent::Record) {
        dispatch_to_hooks::<{ Interest::RECORD.bits() }>(published, |hooks| hooks.record(id, attributes));
    }
}

/// Calls `call` on every enabled hook set interested in the event `MASK`
/// names, in enable order, from the list this thread cached (refreshed
/// first if the registry has moved past `published`). One copy per event
/// kind (the closure is inlined), so no event data is matched at run time.
#[inline(never)]
fn dispatch_to_hooks<const MASK: u8>(published: RegistryState, call: impl Fn(&dyn Hooks)) {
    with_dispatch(|state| {
        if state.in_hook.get() {
            return;
        }
        if state.cached_state.get() != published {
            refresh_cache(state);
        }
        // SAFETY: `targets` points into the list `cache` holds (or is
        // empty), and both are replaced only by `refresh_cache` (reached
        // from a dispatch on this thread, which `in_hook`, set below, turns
        // away) or `release` (at thread exit, after every dispatch). So the
        // targets outlive this borrow.
        let targets = unsafe { state.targets.get().as_ref() };
        if targets.is_empty() {
            return;
        }
        state.in_hook.set(true);
        let _reset = ResetInHook(&state.in_hook);
        match targets {
            // The common case, without a loop's registers to keep.
            [only] => call_target::<MASK>(only, &call),
            targets => call_targets::<MASK>(targets, &call),
        }
        drop(_reset);
    });
}

/// Calls `call` on `target` if it wants the event and has not panicked
/// before, containing a panic.
#[inline(always)]
fn call_target<const MASK: u8>(target: &DispatchTarget, call: &impl Fn(&dyn Hooks)) {
    if target.interest.bits() & MASK != 0 && !target.entry().poisoned.load(Ordering::Relaxed) {
        let outcome = catch_unwind(AssertUnwindSafe(|| call(target.hooks())));
        if let Err(payload) = outcome {
            contain_hook_panic(target.entry(), HookEvent::from_interest_bit(MASK), &*payload);
        }
    }
}

/// [`call_target`] for each of several targets, in order.
#[inline(never)]
fn call_targets<const MASK: u8>(targets: &[DispatchTarget], call: &impl Fn(&dyn Hooks)) {
    for target in targets {
        call_target::<MASK>(target, call);
    }
}

#[cold]
#[inline(never)]
fn refresh_cache(state: &DispatchState) {
    let (snapshot_state, list) = registry().snapshot();
    if list.is_some() && !crate::thread_state::ensure_cold_state() {
        // The thread is being torn down: nothing would release a cached
        // copy, so cache none (this dispatch sees no hooks).
        return;
    }
    let targets = list.as_deref().map_or(NO_TARGETS, |list| NonNull::from(list.targets()));
    // Replace first, drop the old list after: it may hold the last
    // reference to a hook set whose drop runs code.
    let replaced = state.cache.replace(ManuallyDrop::new(list));
    state.targets.set(targets);
    state.cached_state.set(snapshot_state);
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
