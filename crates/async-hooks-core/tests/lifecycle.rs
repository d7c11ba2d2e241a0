//! The lifecycle invariant of every resource: `init` first, paired
//! `before`/`after`, `destroy` exactly once and last (Node:
//! test-embedder.api.async-resource, test-async-hooks-prevent-double-destroy,
//! test-async-hooks-disable-gc-tracking, test-async-hooks-run-in-async-scope-caught-exception).

mod support;

use std::future::Future;
use std::task::{Context, Poll, Waker};

use async_hooks_core::{
    AsyncId, AsyncResource, AsyncResourceOptions, DestroyError, FutureExt, create_hook, execution_async_id,
    execution_async_resource, trigger_async_id,
};
use support::{Event, Recorder, assert_lifecycle, serial};

fn recording() -> (Recorder, async_hooks_core::AsyncHook<Recorder>) {
    let recorder = Recorder::new();
    let hook = create_hook(recorder.clone());
    hook.enable();
    (recorder, hook)
}

#[test]
fn manual_emit_destroy_ends_the_lifecycle() {
    let _serial = serial();
    let (recorder, _hook) = recording();
    let resource = AsyncResource::new("Manual");
    let id = resource.async_id();
    resource.run_in_async_scope(|| {});
    resource.run_in_async_scope(|| {});
    resource.emit_destroy().unwrap();
    // Scopes after destroy still run but dispatch nothing.
    assert_eq!(resource.run_in_async_scope(execution_async_id), id);
    drop(resource);
    assert_eq!(recorder.kinds_of(id), ["init", "before", "after", "before", "after", "destroy"]);
}

#[test]
fn drop_dispatches_destroy() {
    let _serial = serial();
    let (recorder, _hook) = recording();
    let resource = AsyncResource::new("Dropped");
    let id = resource.async_id();
    resource.run_in_async_scope(|| {});
    drop(resource);
    assert_eq!(recorder.kinds_of(id), ["init", "before", "after", "destroy"]);
    assert_eq!(recorder.events()[0], Event::Init { id, resource_type: "Dropped".into(), trigger: AsyncId::ROOT });
}

#[test]
fn require_manual_destroy_dispatches_destroy_only_when_asked() {
    let _serial = serial();
    let (recorder, _hook) = recording();
    let options = AsyncResourceOptions { trigger_async_id: None, require_manual_destroy: true };
    let never = AsyncResource::with_options("NeverDestroyed", options);
    let never_id = never.async_id();
    drop(never);
    assert_eq!(recorder.kinds_of(never_id), ["init"]);

    let manual = AsyncResource::with_options("ManuallyDestroyed", options);
    let manual_id = manual.async_id();
    manual.emit_destroy().unwrap();
    drop(manual);
    assert_eq!(recorder.kinds_of(manual_id), ["init", "destroy"]);
}

#[test]
fn a_second_emit_destroy_is_an_error_and_dispatches_nothing() {
    let _serial = serial();
    let (recorder, _hook) = recording();
    let resource = AsyncResource::new("Twice");
    let id = resource.async_id();
    assert_eq!(resource.emit_destroy(), Ok(()));
    let error = resource.emit_destroy().unwrap_err();
    assert_eq!(error, DestroyError::AlreadyDestroyed { id });
    assert_eq!(error.to_string(), format!("async resource {id} was already destroyed"));
    drop(resource);
    assert_eq!(recorder.kinds_of(id), ["init", "destroy"]);
}

#[test]
fn a_panic_inside_run_in_async_scope_still_runs_after_and_keeps_the_stack() {
    let _serial = serial();
    let (recorder, _hook) = recording();
    let outer = AsyncResource::new("Outer");
    let inner = AsyncResource::new("Inner");
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        outer.run_in_async_scope(|| inner.run_in_async_scope(|| panic!("inside the scope")))
    }));
    assert!(outcome.is_err());
    assert_eq!(execution_async_id(), AsyncId::ROOT);
    assert_eq!(trigger_async_id(), AsyncId::NONE);
    assert!(execution_async_resource().is_none());
    let (outer_id, inner_id) = (outer.async_id(), inner.async_id());
    drop((outer, inner));
    assert_lifecycle(&recorder.kinds_of(outer_id));
    assert_lifecycle(&recorder.kinds_of(inner_id));
    let scope_events: Vec<_> =
        recorder.events().into_iter().filter(|event| matches!(event, Event::Before(_) | Event::After(_))).collect();
    assert_eq!(
        scope_events,
        [Event::Before(outer_id), Event::Before(inner_id), Event::After(inner_id), Event::After(outer_id)]
    );
}

#[test]
fn a_future_completed_gets_a_scope_per_poll_then_resolve_then_destroy() {
    let _serial = serial();
    let (recorder, _hook) = recording();
    let mut polls = 0;
    let future = std::future::poll_fn(|cx| {
        polls += 1;
        if polls < 3 {
            cx.waker().wake_by_ref();
            Poll::Pending
        } else {
            Poll::Ready(execution_async_id())
        }
    })
    .in_async_resource("Polled");
    let id = future.resource().async_id();
    let mut future = Box::pin(future);
    let mut cx = Context::from_waker(Waker::noop());
    let seen = loop {
        if let Poll::Ready(seen) = future.as_mut().poll(&mut cx) {
            break seen;
        }
    };
    assert_eq!(seen, id);
    assert_eq!(
        recorder.kinds_of(id),
        ["init", "before", "after", "before", "after", "before", "promise_resolve", "after", "destroy"]
    );
    // Dropping the completed future dispatches nothing more.
    drop(future);
    assert_eq!(recorder.kinds_of(id).len(), 9);
}

#[test]
fn a_future_dropped_early_is_destroyed_at_the_drop() {
    let _serial = serial();
    let (recorder, _hook) = recording();
    let future = std::future::pending::<()>().in_async_resource("Abandoned");
    let id = future.resource().async_id();
    let mut future = Box::pin(future);
    let mut cx = Context::from_waker(Waker::noop());
    assert!(future.as_mut().poll(&mut cx).is_pending());
    drop(future);
    assert_eq!(recorder.kinds_of(id), ["init", "before", "after", "destroy"]);

    // Never polled at all: init and destroy only.
    let never_polled = std::future::pending::<()>().in_async_resource("NeverPolled");
    let never_id = never_polled.resource().async_id();
    drop(never_polled);
    assert_eq!(recorder.kinds_of(never_id), ["init", "destroy"]);
}

#[test]
fn bind_runs_in_the_resource_and_bind_fn_in_a_fresh_one_created_at_bind_time() {
    let _serial = serial();
    let (recorder, _hook) = recording();
    let resource = AsyncResource::new("Bound");
    let id = resource.async_id();
    let bound = resource.bind(|| (execution_async_id(), trigger_async_id()));
    assert_eq!(bound(), (id, AsyncId::ROOT));
    assert_eq!(recorder.kinds_of(id), ["init", "before", "after", "destroy"]);

    recorder.clear();
    let caller = AsyncResource::new("Caller");
    let bound =
        caller.run_in_async_scope(|| AsyncResource::bind_fn(|| (execution_async_id(), trigger_async_id()), "Fresh"));
    // The resource exists (init was dispatched) before the call.
    let fresh_id = recorder
        .events()
        .iter()
        .find_map(|event| match event {
            Event::Init { id, resource_type, trigger } if resource_type == "Fresh" => {
                assert_eq!(*trigger, caller.async_id());
                Some(*id)
            }
            _ => None,
        })
        .expect("the fresh resource's init was dispatched at bind time");
    // Called from somewhere else entirely, it still runs in its own resource.
    let (exec, trigger) = std::thread::spawn(bound).join().unwrap();
    assert_eq!(exec, fresh_id);
    assert_ne!(exec, caller.async_id());
    assert_eq!(trigger, caller.async_id());
    assert_eq!(recorder.kinds_of(fresh_id), ["init", "before", "after", "destroy"]);
}

#[test]
fn record_reaches_hooks_with_the_attributes() {
    let _serial = serial();
    let (recorder, _hook) = recording();
    let resource = AsyncResource::builder("Job").attribute("pool.name", "images").build();
    assert_eq!(resource.resource().attribute("pool.name").map(ToString::to_string).as_deref(), Some("images"));
    resource.record(&[async_hooks_core::Attribute::new("pool.worker", 2_u64)]);
    let id = resource.async_id();
    drop(resource);
    assert!(recorder.events().contains(&Event::Record(id, vec!["pool.worker=2".into()])));
}
