//! Hook registration and dispatch (Node: test-enable-in-init, test-disable-in-init,
//! test-async-hooks-enable-recursive, test-late-hook-enable).

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use async_hooks_core::{
    AsyncHook, AsyncId, AsyncResource, HookCallbacks, Hooks, Interest, Resource, create_hook, execution_async_id,
};
use support::{Recorder, serial};

#[test]
fn enable_and_disable_are_idempotent_and_report_state() {
    let _serial = serial();
    let recorder = Recorder::new();
    let hook = create_hook(recorder.clone());
    assert!(!hook.is_enabled());
    hook.enable().enable();
    assert!(hook.is_enabled());
    let resource = AsyncResource::new("Once");
    let id = resource.async_id();
    drop(resource);
    // Enabled twice, still called once per event.
    assert_eq!(recorder.kinds_of(id), ["init", "destroy"]);
    hook.disable().disable();
    assert!(!hook.is_enabled());
    drop(AsyncResource::new("Unseen"));
    assert_eq!(recorder.events().len(), 2);
}

#[test]
fn dispatch_order_is_enable_order() {
    let _serial = serial();
    let order = Arc::new(Mutex::new(Vec::new()));
    let hook_for = |label: &'static str| {
        let order = order.clone();
        create_hook(HookCallbacks::new().on_init(move |_, _, _, _| order.lock().unwrap().push(label)))
    };
    let (first, second, third) = (hook_for("first"), hook_for("second"), hook_for("third"));
    second.enable();
    third.enable();
    first.enable();
    drop(AsyncResource::new("Ordered"));
    assert_eq!(*order.lock().unwrap(), ["second", "third", "first"]);
    // Re-enabling a set after disabling it moves it to the end.
    order.lock().unwrap().clear();
    second.disable().enable();
    drop(AsyncResource::new("Ordered"));
    assert_eq!(*order.lock().unwrap(), ["third", "first", "second"]);
}

#[test]
fn a_hook_set_only_receives_the_events_it_implements() {
    let _serial = serial();
    #[derive(Default)]
    struct DestroyOnly {
        destroys: AtomicUsize,
        others: AtomicUsize,
    }
    impl Hooks for DestroyOnly {
        fn init(&self, _: AsyncId, _: &str, _: AsyncId, _: &Resource) {
            self.others.fetch_add(1, Ordering::Relaxed);
        }
        fn before(&self, _: AsyncId) {
            self.others.fetch_add(1, Ordering::Relaxed);
        }
        fn destroy(&self, _: AsyncId) {
            self.destroys.fetch_add(1, Ordering::Relaxed);
        }
        fn interest(&self) -> Interest {
            Interest::DESTROY
        }
    }
    let hook = create_hook(DestroyOnly::default());
    hook.enable();
    let resource = AsyncResource::new("Filtered");
    resource.run_in_async_scope(|| {});
    drop(resource);
    assert_eq!(hook.hooks().destroys.load(Ordering::Relaxed), 1);
    assert_eq!(hook.hooks().others.load(Ordering::Relaxed), 0, "init/before are not in its interest");

    // Closure sets: interest is what was given.
    let callbacks = HookCallbacks::new().on_init(|_, _, _, _| {}).on_after(|_| {});
    assert_eq!(callbacks.interest(), Interest::INIT | Interest::AFTER);
}

#[test]
fn dropping_the_async_hook_disables_it() {
    let _serial = serial();
    let recorder = Recorder::new();
    let hook = create_hook(recorder.clone());
    hook.enable();
    drop(hook);
    drop(AsyncResource::new("AfterDrop"));
    assert!(recorder.events().is_empty());
}

/// A hook enabled inside another hook's `init`; filled in by the test.
static LATE: OnceLock<AsyncHook<Recorder>> = OnceLock::new();

#[test]
fn a_hook_enabled_inside_init_sees_nothing_in_flight_but_sees_later_events() {
    let _serial = serial();
    let late = Recorder::labelled("late");
    let _ = LATE.set(create_hook(late.clone()));
    let enabler = create_hook(HookCallbacks::new().on_init(|_, resource_type, _, _| {
        if resource_type == "Trigger" {
            LATE.get().unwrap().enable();
            // Created inside the callback: not dispatched to anyone.
            drop(AsyncResource::new("Nested"));
        }
    }));
    enabler.enable();
    let trigger = AsyncResource::new("Trigger");
    assert!(late.events().is_empty(), "the in-flight init is not delivered: {:?}", late.events());
    // Later events of the same resource are delivered (Node: test-late-hook-enable).
    trigger.run_in_async_scope(|| {});
    let id = trigger.async_id();
    drop(trigger);
    assert_eq!(late.kinds_of(id), ["before", "after", "destroy"]);
    let later = AsyncResource::new("Later");
    assert_eq!(late.kinds_of(later.async_id()), ["init"]);
    LATE.get().unwrap().disable();
}

#[test]
fn a_hook_disabled_inside_init_still_receives_the_event_in_flight() {
    let _serial = serial();
    let victim = Recorder::labelled("victim");
    let victim_hook = Arc::new(create_hook(victim.clone()));
    let to_disable = victim_hook.clone();
    // The disabler runs first, so it disables the victim before the victim
    // is called for the same event.
    let disabler = create_hook(HookCallbacks::new().on_init(move |_, _, _, _| {
        to_disable.disable();
    }));
    disabler.enable();
    victim_hook.enable();
    let resource = AsyncResource::new("InFlight");
    assert_eq!(victim.kinds_of(resource.async_id()), ["init"]);
    assert!(!victim_hook.is_enabled());
    drop(resource);
    assert_eq!(victim.events().len(), 1, "later events are not delivered");
}

#[test]
fn a_hook_never_observes_resources_its_callbacks_create() {
    let _serial = serial();
    let created_inside = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (created, seen_by_init) = (created_inside.clone(), seen.clone());
    let (seen_by_before, seen_by_after, seen_by_destroy) = (seen.clone(), seen.clone(), seen.clone());
    let hook = create_hook(
        HookCallbacks::new()
            .on_init(move |id, resource_type, _, _| {
                seen_by_init.lock().unwrap().push(id);
                if resource_type == "Outer" {
                    // A logger that is itself instrumented: no recursion.
                    let inner = AsyncResource::new("Inner");
                    inner.run_in_async_scope(|| {});
                    created.lock().unwrap().push(inner);
                }
            })
            .on_before(move |id| seen_by_before.lock().unwrap().push(id))
            .on_after(move |id| seen_by_after.lock().unwrap().push(id))
            .on_destroy(move |id| seen_by_destroy.lock().unwrap().push(id)),
    );
    hook.enable();
    let outer = AsyncResource::new("Outer");
    // The resource created in the callback lives on, and is used outside it:
    // still never dispatched.
    let inner = created_inside.lock().unwrap().pop().unwrap();
    inner.run_in_async_scope(|| assert_eq!(execution_async_id(), inner.async_id()));
    let inner_id = inner.async_id();
    drop(inner);
    // Neither the inner resource's init, scopes nor destroy were seen, inside
    // the callback or after it: only the outer resource's init.
    assert_eq!(*seen.lock().unwrap(), [outer.async_id()]);
    assert!(!seen.lock().unwrap().contains(&inner_id));
}

#[test]
fn hooks_see_events_from_every_thread() {
    let _serial = serial();
    let recorder = Recorder::new();
    let hook = create_hook(recorder.clone());
    hook.enable();
    let ids: Vec<AsyncId> = (0..4)
        .map(|_| std::thread::spawn(|| AsyncResource::new("Elsewhere").async_id()))
        .map(|handle| handle.join().unwrap())
        .collect();
    for id in ids {
        assert_eq!(recorder.kinds_of(id), ["init", "destroy"]);
    }
}
