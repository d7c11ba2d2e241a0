//! A mismatched `after` is stack corruption: reported with both ids, then
//! repaired (default) or fatal (Node: test-improper-order, test-improper-unwind).

mod support;

use async_hooks_core::{
    AsyncId, AsyncResource, Fault, FaultPolicy, create_hook, emit_after, emit_before, execution_async_id,
    execution_async_resource, reset_fault_handler, set_stack_corruption_policy,
};
use support::{Recorder, assert_lifecycle, collect_faults, is_child, run_child_test, serial};

#[test]
fn embedder_before_and_after_touch_only_the_stack_and_pass_ids_through() {
    let _serial = serial();
    let recorder = Recorder::new();
    let hook = create_hook(recorder.clone());
    let id = AsyncId::from_u64(9_000_001);
    emit_before(id);
    assert_eq!(execution_async_id(), id);
    assert_eq!(async_hooks_core::execution_async_resource().map(|resource| resource.id()), Some(id));
    // A guarded scope inside an embedder scope, and back.
    let inner = AsyncResource::new("Inner");
    inner.run_in_async_scope(|| {
        assert_eq!(async_hooks_core::execution_async_resource().map(|resource| resource.id()), Some(inner.async_id()));
    });
    assert_eq!(async_hooks_core::execution_async_resource().map(|resource| resource.id()), Some(id));
    emit_after(id);
    assert!(async_hooks_core::execution_async_resource().is_none());
    assert!(recorder.events().is_empty());
    hook.enable();
    emit_before(id);
    emit_after(id);
    assert_eq!(recorder.kinds_of(id), ["before", "after"]);
    assert_eq!(execution_async_id(), AsyncId::ROOT);
}

#[test]
fn an_after_with_no_matching_before_is_reported_and_ignored() {
    let _serial = serial();
    let faults = collect_faults();
    let stray = AsyncId::from_u64(9_000_002);
    emit_after(stray);
    assert_eq!(faults.lock().unwrap()[..], [Fault::StackCorrupted { actual: AsyncId::ROOT, expected: stray }]);
    assert_eq!(
        faults.lock().unwrap()[0].to_string(),
        format!("async hook stack has become corrupted (actual: 1, expected: {stray})")
    );
    assert!(execution_async_resource().is_none());
    reset_fault_handler();
}

#[test]
fn unwinding_the_outer_scope_while_an_inner_is_open_is_reported_and_repaired() {
    let _serial = serial();
    let faults = collect_faults();
    let recorder = Recorder::new();
    let hook = create_hook(recorder.clone());
    hook.enable();
    let outer = AsyncResource::new("Outer");
    let inner = AsyncResource::new("Inner");
    outer.emit_before();
    inner.emit_before();
    // Improper unwind: the outer scope ends first.
    outer.emit_after();
    assert_eq!(
        faults.lock().unwrap()[..],
        [Fault::StackCorrupted { actual: inner.async_id(), expected: outer.async_id() }]
    );
    // Repaired: both popped, the inner one got its `after` too.
    assert!(execution_async_resource().is_none());
    assert_eq!(execution_async_id(), AsyncId::ROOT);
    let (outer_id, inner_id) = (outer.async_id(), inner.async_id());
    drop((outer, inner));
    assert_lifecycle(&recorder.kinds_of(outer_id));
    assert_lifecycle(&recorder.kinds_of(inner_id));
    // The stack works normally afterwards.
    let next = AsyncResource::new("Next");
    assert_eq!(next.run_in_async_scope(execution_async_id), next.async_id());
    assert_eq!(faults.lock().unwrap().len(), 1);
    reset_fault_handler();
}

#[test]
fn a_scope_left_open_inside_run_in_async_scope_is_repaired_when_it_ends() {
    let _serial = serial();
    let faults = collect_faults();
    let resource = AsyncResource::new("Scope");
    let leaked = AsyncId::from_u64(9_000_003);
    resource.run_in_async_scope(|| emit_before(leaked));
    assert_eq!(faults.lock().unwrap()[..], [Fault::StackCorrupted { actual: leaked, expected: resource.async_id() }]);
    assert!(execution_async_resource().is_none());
    reset_fault_handler();
}

#[test]
fn the_abort_policy_ends_the_process_at_the_offending_call() {
    if is_child() {
        set_stack_corruption_policy(FaultPolicy::Abort);
        println!("heartbeat before the bad call");
        emit_after(AsyncId::from_u64(777));
        println!("unreachable: the process should have ended");
        return;
    }
    let output = run_child_test("the_abort_policy_ends_the_process_at_the_offending_call");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success());
    assert!(stdout.contains("heartbeat before the bad call"), "stdout: {stdout}");
    assert!(!stdout.contains("unreachable"), "stdout: {stdout}");
    assert!(stderr.contains("async hook stack has become corrupted (actual: 1, expected: 777)"), "stderr: {stderr}");
}
