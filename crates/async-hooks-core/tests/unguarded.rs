//! Unguarded scopes (`AsyncResource::enter_unguarded` / `exit_unguarded`):
//! the embedder API for runtimes that keep the resource alive between their
//! "before" and "after" callbacks. They must behave as a guarded scope does.

mod support;

use async_hooks_core::{
    AsyncId, AsyncResource, ContextFrame, Fault, StoreKey, create_hook, execution_async_id, execution_async_resource,
    reset_fault_handler, trigger_async_id,
};
use support::{Recorder, assert_lifecycle, collect_faults, serial};

fn value_of(key: StoreKey) -> Option<u32> {
    ContextFrame::with_current(|frame| frame.get_as::<u32>(key).copied())
}

/// The open scope: its execution id, and its resource's.
fn current_scope() -> (AsyncId, Option<AsyncId>) {
    (execution_async_id(), execution_async_resource().map(|resource| resource.id()))
}

#[test]
fn an_unguarded_scope_is_current_with_its_ids_and_frame_and_restores_both() {
    let _serial = serial();
    let key = StoreKey::allocate();
    let parent = AsyncResource::new("Parent");
    let with_seven = ContextFrame::empty().with_value(key, 7_u32);
    let resource = parent.run_in_async_scope(|| with_seven.run(|| AsyncResource::new("Task")));
    assert_eq!(resource.trigger_async_id(), parent.async_id());
    let outside = ContextFrame::empty().with_value(key, 1_u32);
    outside.run(|| {
        // SAFETY: `resource` outlives the scope, closed below with nothing
        // left open in between.
        let scope = unsafe { resource.enter_unguarded() };
        assert_eq!(current_scope(), (resource.async_id(), Some(resource.async_id())));
        assert_eq!(trigger_async_id(), parent.async_id());
        assert_eq!(value_of(key), Some(7), "the resource's creation frame");
        // A guarded scope inside it nests normally.
        let inner = AsyncResource::new("Inner");
        assert_eq!(inner.trigger_async_id(), resource.async_id());
        inner.run_in_async_scope(|| assert_eq!(current_scope(), (inner.async_id(), Some(inner.async_id()))));
        assert_eq!(current_scope(), (resource.async_id(), Some(resource.async_id())));
        // SAFETY: the scope `enter_unguarded` returned, on this thread.
        unsafe { resource.exit_unguarded(scope) };
        assert_eq!(current_scope(), (AsyncId::ROOT, None));
        assert_eq!(trigger_async_id(), AsyncId::NONE);
        assert_eq!(value_of(key), Some(1), "the frame from before the scope");
    });
}

#[test]
fn a_frame_set_inside_an_unguarded_scope_does_not_leak_out() {
    let _serial = serial();
    let key = StoreKey::allocate();
    let resource = AsyncResource::new("Task");
    // SAFETY: as above.
    let scope = unsafe { resource.enter_unguarded() };
    ContextFrame::set_current(ContextFrame::empty().with_value(key, 3_u32));
    assert_eq!(value_of(key), Some(3));
    // SAFETY: as above.
    unsafe { resource.exit_unguarded(scope) };
    assert_eq!(value_of(key), None);
    // The next scope of the same resource starts from its own frame again.
    resource.run_in_async_scope(|| assert_eq!(value_of(key), None));
}

#[test]
fn unguarded_scopes_dispatch_before_and_after_and_nothing_after_destroy() {
    let _serial = serial();
    let recorder = Recorder::new();
    let hook = create_hook(recorder.clone());
    hook.enable();
    let resource = AsyncResource::new("Task");
    let id = resource.async_id();
    for _ in 0..2 {
        // SAFETY: as above.
        let scope = unsafe { resource.enter_unguarded() };
        // SAFETY: as above.
        unsafe { resource.exit_unguarded(scope) };
    }
    resource.emit_destroy().unwrap();
    // SAFETY: as above.
    let scope = unsafe { resource.enter_unguarded() };
    assert_eq!(execution_async_id(), id, "a destroyed resource's scope still runs");
    // SAFETY: as above.
    unsafe { resource.exit_unguarded(scope) };
    drop(resource);
    assert_eq!(recorder.kinds_of(id), ["init", "before", "after", "before", "after", "destroy"]);
    assert_lifecycle(&recorder.kinds_of(id));
}

#[test]
fn an_embedder_scope_left_open_inside_is_reported_and_closed() {
    let _serial = serial();
    let faults = collect_faults();
    let resource = AsyncResource::new("Task");
    let leaked = AsyncResource::new("Leaked");
    // SAFETY: as above; the embedder scope opened inside is the corruption
    // under test, which `exit_unguarded` repairs.
    let scope = unsafe { resource.enter_unguarded() };
    leaked.emit_before();
    // SAFETY: as above.
    unsafe { resource.exit_unguarded(scope) };
    assert_eq!(
        faults.lock().unwrap()[..],
        [Fault::StackCorrupted { actual: leaked.async_id(), expected: resource.async_id() }]
    );
    assert_eq!(current_scope(), (AsyncId::ROOT, None));
    reset_fault_handler();
}
