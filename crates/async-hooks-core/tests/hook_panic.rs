//! A panicking hook is contained (Node makes it fatal: test-async-hooks-fatal-error,
//! test-callback-error; our `Abort` policy gives that behaviour).

mod support;

use async_hooks_core::{
    AsyncResource, Fault, FaultPolicy, HookCallbacks, HookEvent, create_hook, reset_fault_handler, set_fault_handler,
    set_hook_panic_policy,
};
use support::{Recorder, collect_faults, is_child, run_child_test, serial};

#[test]
fn a_panicking_hook_is_disabled_and_reported_once_and_others_continue() {
    let _serial = serial();
    let faults = collect_faults();

    let before_it = Recorder::labelled("before-it");
    let after_it = Recorder::labelled("after-it");
    let first = create_hook(before_it.clone());
    let panicking = create_hook(HookCallbacks::new().named("exploding").on_before(|_| panic!("before hook exploded")));
    let last = create_hook(after_it.clone());
    first.enable();
    panicking.enable();
    last.enable();

    let resource = AsyncResource::new("Victim");
    let value = resource.run_in_async_scope(|| 42);
    assert_eq!(value, 42, "the application goes on");
    resource.run_in_async_scope(|| {});
    let id = resource.async_id();
    drop(resource);

    assert!(!panicking.is_enabled());
    assert!(first.is_enabled() && last.is_enabled());
    // Both neighbours saw everything, including the event that panicked.
    assert_eq!(before_it.kinds_of(id), ["init", "before", "after", "before", "after", "destroy"]);
    assert_eq!(after_it.kinds_of(id), ["init", "before", "after", "before", "after", "destroy"]);
    assert_eq!(
        *faults.lock().unwrap(),
        [Fault::HookPanicked {
            hook: "exploding".into(),
            event: HookEvent::Before,
            message: "before hook exploded".into()
        }]
    );
    assert_eq!(
        faults.lock().unwrap()[0].to_string(),
        "async hook `exploding` panicked in `before`: before hook exploded; the hook set was disabled"
    );
    reset_fault_handler();
}

#[test]
fn a_panicking_fault_handler_does_not_escape() {
    let _serial = serial();
    set_fault_handler(|_: &Fault| panic!("the handler itself panics"));
    let hook = create_hook(HookCallbacks::new().on_init(|_, _, _, _| panic!("init panics")));
    hook.enable();
    let resource = AsyncResource::new("StillFine");
    assert!(!hook.is_enabled());
    assert_eq!(resource.run_in_async_scope(|| "ok"), "ok");
    reset_fault_handler();
}

#[test]
fn the_abort_policy_ends_the_process_with_the_report_on_stderr() {
    if is_child() {
        set_hook_panic_policy(FaultPolicy::Abort);
        let hook = create_hook(HookCallbacks::new().named("fatal").on_init(|_, _, _, _| panic!("fatal init")));
        hook.enable();
        let _resource = AsyncResource::new("Doomed");
        println!("unreachable: the process should have ended");
        return;
    }
    let output = run_child_test("the_abort_policy_ends_the_process_with_the_report_on_stderr");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "the child must fail; stdout: {stdout}");
    assert!(stderr.contains("async-hooks: async hook `fatal` panicked in `init`: fatal init"), "stderr: {stderr}");
    assert!(!stdout.contains("unreachable"), "stdout: {stdout}");
}
